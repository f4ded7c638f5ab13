/*
 * error.c — ttm_strerror() and ttm_err_name(), generated from the one list in ttmem.h.
 */
#include "ttmem/ttmem.h"

const char *ttm_strerror(int err)
{
    switch (err) {
#define TTM__ERR_TEXT(name, value, text)                                                         \
    case value:                                                                                  \
        return text;
        TTM_ERRNO_MAP(TTM__ERR_TEXT)
#undef TTM__ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *ttm_err_name(int err)
{
    switch (err) {
#define TTM__ERR_NAME(name, value, text)                                                         \
    case value:                                                                                  \
        return "TTM_" #name;
        TTM_ERRNO_MAP(TTM__ERR_NAME)
#undef TTM__ERR_NAME
    default:
        return "TTM_E?";
    }
}
