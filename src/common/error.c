/*
 * error.c — ttm_strerror(), ttm_err_name() and ttm_err_valid(), generated from the one list in
 * ttmem.h.
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

int ttm_err_valid(int err)
{
    switch (err) {
#define TTM__ERR_CASE(name, value, text) case value:
        TTM_ERRNO_MAP(TTM__ERR_CASE)
#undef TTM__ERR_CASE
        return 1;
    default:
        return 0;
    }
}
