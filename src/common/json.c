/*
 * json.c — the streaming JSON writer.
 */
#include "common/json.h"

#include <math.h>
#include <string.h>

void ttm__json_init(ttm_json *j, FILE *out, bool pretty)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    j->pretty = pretty;
    j->first[0] = true;
}

static void put_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
            p++;
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            fputc((int)c, out);
            p++;
        } else {
            /* copy a well-formed UTF-8 sequence, replace anything else */
            int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            bool ok = len > 0 && !(c == 0xC0 || c == 0xC1 || c > 0xF4);
            for (int k = 1; ok && k < len; k++)
                ok = (p[k] & 0xC0) == 0x80;
            if (ok) {
                fwrite(p, 1, (size_t)len, out);
                p += len;
            } else {
                fputs("\\ufffd", out);
                p++;
            }
        }
    }
    fputc('"', out);
}

static void indent(ttm_json *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->out);
}

static void item(ttm_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->out);
    j->first[j->depth] = false;
    if (j->depth > 0)
        indent(j);
    if (key != NULL) {
        put_string(j->out, key);
        fputs(j->pretty ? ": " : ":", j->out);
    }
}

static void open_level(ttm_json *j, const char *key, char c)
{
    item(j, key);
    fputc(c, j->out);
    if (j->depth + 1 < TTM_JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

static void close_level(ttm_json *j, char c)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (!empty)
        indent(j);
    fputc(c, j->out);
}

void ttm__json_obj_begin(ttm_json *j, const char *key)
{
    open_level(j, key, '{');
}

void ttm__json_obj_end(ttm_json *j)
{
    close_level(j, '}');
}

void ttm__json_arr_begin(ttm_json *j, const char *key)
{
    open_level(j, key, '[');
}

void ttm__json_arr_end(ttm_json *j)
{
    close_level(j, ']');
}

void ttm__json_str(ttm_json *j, const char *key, const char *value)
{
    item(j, key);
    if (value == NULL)
        fputs("null", j->out);
    else
        put_string(j->out, value);
}

void ttm__json_u64(ttm_json *j, const char *key, uint64_t value)
{
    item(j, key);
    fprintf(j->out, "%llu", (unsigned long long)value);
}

void ttm__json_i64(ttm_json *j, const char *key, int64_t value)
{
    item(j, key);
    fprintf(j->out, "%lld", (long long)value);
}

void ttm__json_f64(ttm_json *j, const char *key, double value)
{
    item(j, key);
    if (isfinite(value))
        fprintf(j->out, "%.6g", value);
    else
        fputs("null", j->out);
}

void ttm__json_bool(ttm_json *j, const char *key, bool value)
{
    item(j, key);
    fputs(value ? "true" : "false", j->out);
}

void ttm__json_finish(ttm_json *j)
{
    fputc('\n', j->out);
}
