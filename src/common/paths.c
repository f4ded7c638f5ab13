/*
 * paths.c — the daemon socket's default path (paths.h).
 */
#include "common/paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "ttmem/ttmem.h"

int ttm__default_socket_path(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return TTM_EINVAL;
    const char *env = getenv("TTMEM_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env != NULL && env[0] != '\0')
        n = snprintf(buf, len, "%s", env);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(buf, len, "%s/ttmem/ttmemd.sock", xdg);
    else
        n = snprintf(buf, len, "/tmp/ttmem-%lu/ttmemd.sock", (unsigned long)getuid());
    if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        buf[0] = '\0';
        return TTM_ERANGE;
    }
    return TTM_OK;
}
