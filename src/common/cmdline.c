/*
 * cmdline.c — the text of a command line (cmdline.h).
 */
#include "common/cmdline.h"

#include "common/alloc.h"
#include "ttmem/ttmem.h"

int ttm__cmdline_text(const char *args, size_t len, char **out)
{
    *out = NULL;
    while (len > 0 && args[len - 1] == '\0')
        len--;
    if (len == 0)
        return TTM_OK;
    char *s = ttm__malloc(len + 1);
    if (s == NULL)
        return TTM_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)args[i];
        s[i] = c == '\0' ? ' ' : c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    s[len] = '\0';
    *out = s;
    return TTM_OK;
}
