/*
 * fmt.h — number formatting shared by every text output: counts with thousands separators and
 * byte sizes in binary units.
 */
#ifndef TTM_COMMON_FMT_H
#define TTM_COMMON_FMT_H

#include <stddef.h>
#include <stdint.h>

#define TTM_FMT_LEN 32

/* "1,062" into buf (TTM_FMT_LEN bytes); returns buf. */
char *ttm__fmt_count(char *buf, uint64_t v);
/* "512 B", "8.0 KiB", "4.00 MiB", "12.0 GiB" into buf (TTM_FMT_LEN bytes); returns buf. */
char *ttm__fmt_bytes(char *buf, uint64_t v);

#endif /* TTM_COMMON_FMT_H */
