/*
 * report_util.h — helpers shared by the report's unit tests (test_schema.c, test_report.c):
 * a record written as JSON text, a SNAPSHOT frame decoded. Static inline, as registry_util.h;
 * include cmocka (and its prerequisites) before this file.
 */
#ifndef TTM_TESTS_REPORT_UTIL_H
#define TTM_TESTS_REPORT_UTIL_H

#include <stdbool.h>
#include <stdio.h>

#include "common/json.h"
#include "common/schema.h"
#include "common/snapshot.h"
#include "core/report.h"

/* The rows of rec at obj as one JSON object (malloc'ed text: free() it). */
static inline char *json_text(const ttm_record *rec, const void *obj, bool pretty)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    ttm_json j;
    ttm__json_init(&j, out, pretty);
    ttm__json_obj_begin(&j, NULL);
    ttm__schema_json(&j, rec, obj, 0);
    ttm__json_obj_end(&j);
    ttm__json_finish(&j);
    fclose(out);
    return text;
}

/* ttm_report_decode() of the payload of the whole frame b. */
static inline int decode_frame(const ttm_bytes *b, ttm_report *out, char *msg, size_t msg_len)
{
    return ttm_report_decode(b->data + TTM_SNAP_HDR_SIZE, b->len - TTM_SNAP_HDR_SIZE, out, msg,
                             msg_len);
}

#endif /* TTM_TESTS_REPORT_UTIL_H */
