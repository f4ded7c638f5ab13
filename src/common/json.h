/*
 * json.h — a small streaming JSON writer for reports, snapshots and metrics side files.
 *
 * The writer tracks nesting and commas; the caller says what comes next. Output goes to a FILE.
 * Strings are escaped (control characters, quotes, backslashes; invalid UTF-8 bytes become
 * U+FFFD) so any bytes, e.g. a process name, are safe to write.
 */
#ifndef TTM_COMMON_JSON_H
#define TTM_COMMON_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TTM_JSON_MAX_DEPTH 32

typedef struct ttm_json {
    FILE *out;
    int depth;
    bool first[TTM_JSON_MAX_DEPTH]; /* nothing written yet at this level */
    bool pretty;
} ttm_json;

void ttm__json_init(ttm_json *j, FILE *out, bool pretty);
void ttm__json_obj_begin(ttm_json *j, const char *key); /* key NULL inside arrays / at top */
void ttm__json_obj_end(ttm_json *j);
void ttm__json_arr_begin(ttm_json *j, const char *key);
void ttm__json_arr_end(ttm_json *j);
void ttm__json_str(ttm_json *j, const char *key, const char *value); /* NULL value -> null */
void ttm__json_u64(ttm_json *j, const char *key, uint64_t value);
void ttm__json_i64(ttm_json *j, const char *key, int64_t value);
void ttm__json_f64(ttm_json *j, const char *key, double value);
void ttm__json_bool(ttm_json *j, const char *key, bool value);
/* Ends the document with a newline. */
void ttm__json_finish(ttm_json *j);

#endif /* TTM_COMMON_JSON_H */
