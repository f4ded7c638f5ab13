/*
 * timeline_page.c — `ttmem timeline`'s page (timeline.h, docs/TIMELINE.md "Data encoding"):
 * the model's series cut into levels of buckets, chosen to fit the byte budget, the lives and
 * markers encoded, and one HTML file written: the style, a JSON document of what is small
 * (lanes, processes, phases, scopes, sites, the level directory), base64 blobs of varints for
 * what is large, the script that draws them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/timeline.h"
#include "cli/timeline_parts.h"
#include "common/alloc.h"
#include "common/arch.h"
#include "common/event.h"
#include "common/json.h"
#include "core/registry.h"
#include "ttmem/ttmem.h"
#include "common/util.h"

#define BASE_BUCKETS 512u  /* buckets of the coarsest level over the whole span */
#define LEVELS_MAX 14      /* each level has 4x the buckets of the previous one */
#define RESERVE_BYTES 8192 /* the page's fixed text beside the assets and the JSON */

typedef struct tl_level {
    uint64_t width;   /* ns per bucket; 0: not built (not worth it: too close to exact) */
    uint64_t count;   /* buckets that hold a change */
    ttm_bytes enc;
    bool in;          /* chosen for the page */
    /* building state */
    uint64_t cur, prev_k, start, max, min, last;
    bool open, any;
} tl_level;

typedef struct tl_plan {
    tl_series *s;
    size_t lane;
    unsigned memtype;
    tl_level lv[LEVELS_MAX];
    size_t nlv;
    ttm_bytes exact;
    bool exact_in, active;
    int exact_blob;
    int blob[LEVELS_MAX];
} tl_plan;

static void put_zz(ttm_bw *w, int64_t d)
{
    ttm__bw_varint(w, ((uint64_t)d << 1) ^ (uint64_t)(d >> 63));
}

/* ---- levels -------------------------------------------------------------------------------- */

static void level_flush(tl_level *l, ttm_bw *w)
{
    if (!l->open)
        return;
    ttm__bw_varint(w, l->any ? l->cur - l->prev_k : l->cur);
    ttm__bw_varint(w, l->max - l->start);
    ttm__bw_varint(w, l->start - l->min);
    put_zz(w, (int64_t)(l->last - l->start));
    l->prev_k = l->cur;
    l->any = true;
    l->open = false;
    l->count++;
}

/* One change (relative time rel, value v after it; prev the value before it) into level l. */
static void level_add(tl_level *l, uint64_t rel, uint64_t v, uint64_t prev, uint64_t limit)
{
    if (l->width == 0)
        return;
    uint64_t k = rel / l->width;
    ttm_bw w = ttm__bw_over(&l->enc);
    if (!l->open || k != l->cur) {
        level_flush(l, &w);
        if (l->count > limit) { /* as many buckets as changes: exact serves better */
            ttm__bytes_free(&l->enc);
            l->width = 0;
            return;
        }
        l->open = true;
        l->cur = k;
        l->start = l->max = l->min = prev;
    }
    if (v > l->max)
        l->max = v;
    if (v < l->min)
        l->min = v;
    l->last = v;
}

/* Decodes s's changes once, building its exact encoding (times relative to t0) and its
 * levels. Returns 0 or TTM_ENOMEM. */
static int plan_build(tl_plan *p, uint64_t t0, const uint64_t *widths, size_t nw)
{
    tl_series *s = p->s;
    p->nlv = nw;
    for (size_t j = 0; j < nw; j++)
        p->lv[j].width = widths[j];
    ttm_bw ex = ttm__bw_over(&p->exact);
    ttm__bw_varint(&ex, s->first_ts - t0);
    put_zz(&ex, (int64_t)s->first_val);
    ttm__bw_bytes(&ex, s->enc.data, s->enc.len);
    if (ex.err != 0)
        return ex.err;
    uint64_t limit = s->n / 2;
    ttm_br r = ttm__br_over(s->enc.data, s->enc.len);
    uint64_t ts = s->first_ts, v = s->first_val, prev = 0;
    for (uint64_t i = 0; i < s->n; i++) {
        if (i > 0) {
            ts += ttm__br_varint(&r, "dt");
            uint64_t z = ttm__br_varint(&r, "dv");
            v += (uint64_t)((int64_t)(z >> 1) ^ -(int64_t)(z & 1));
        }
        for (size_t j = 0; j < nw; j++)
            level_add(&p->lv[j], ts - t0, v, prev, limit);
        prev = v;
    }
    for (size_t j = 0; j < nw; j++) {
        ttm_bw w = ttm__bw_over(&p->lv[j].enc);
        level_flush(&p->lv[j], &w);
        if (w.err != 0)
            return w.err;
        if (p->lv[j].width != 0 && p->lv[j].count > limit) {
            ttm__bytes_free(&p->lv[j].enc);
            p->lv[j].width = 0;
        }
    }
    return r.bad ? TTM_EPROTO : TTM_OK;
}

static int cmp_size(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Chooses what of every series goes in within budget bytes: the everything-exact page when it
 * fits; otherwise rounds from the coarsest level, each round taking the next level of the
 * series still active, cheapest first, while it fits (a series whose level did not fit stops
 * there), then every change of the series whose exact encoding still fits, smallest first.
 * Returns the bytes used. */
static uint64_t plan_choose(tl_plan *p, size_t n, uint64_t budget)
{
    uint64_t used = 0, all = 0;
    /* a level is worth having beside the exact encoding when it has a quarter of its points */
    for (size_t i = 0; i < n; i++) {
        all += p[i].exact.len;
        for (size_t j = 0; j < p[i].nlv; j++)
            if (p[i].lv[j].width != 0 && p[i].lv[j].count * 4 <= p[i].s->n)
                all += p[i].lv[j].enc.len;
    }
    if (all <= budget) {
        for (size_t i = 0; i < n; i++) {
            p[i].exact_in = true;
            for (size_t j = 0; j < p[i].nlv; j++)
                p[i].lv[j].in = p[i].lv[j].width != 0 && p[i].lv[j].count * 4 <= p[i].s->n;
        }
        return all;
    }
    uint64_t(*cand)[2] = ttm__xcalloc(n + 1, sizeof *cand);
    for (size_t i = 0; i < n; i++)
        p[i].active = true;
    for (size_t j = 0; j < LEVELS_MAX; j++) {
        size_t nc = 0;
        for (size_t i = 0; i < n; i++)
            if (p[i].active && j < p[i].nlv && p[i].lv[j].width != 0)
                cand[nc][0] = p[i].lv[j].enc.len, cand[nc++][1] = i;
            else
                p[i].active = false;
        if (nc == 0)
            break;
        ttm__qsort(cand, nc, sizeof *cand, cmp_size);
        for (size_t c = 0; c < nc; c++) {
            tl_plan *q = &p[cand[c][1]];
            if (used + cand[c][0] <= budget) {
                q->lv[j].in = true;
                used += cand[c][0];
            } else {
                q->active = false;
            }
        }
    }
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        cand[nc][0] = p[i].exact.len, cand[nc++][1] = i;
    ttm__qsort(cand, nc, sizeof *cand, cmp_size);
    for (size_t c = 0; c < nc; c++)
        if (used + cand[c][0] <= budget) {
            p[cand[c][1]].exact_in = true;
            used += cand[c][0];
        }
    ttm__free(cand);
    return used;
}

/* ---- buffers and markers ------------------------------------------------------------------- */

static int cmp_alloc_ts(const void *pa, const void *pb)
{
    const tl_buf *a = *(tl_buf *const *)pa, *b = *(tl_buf *const *)pb;
    if (a->alloc_ts != b->alloc_ts)
        return a->alloc_ts < b->alloc_ts ? -1 : 1;
    return tl_buf_key_cmp(a, b);
}

/* Lives at a peak first, then by size descending. */
static int cmp_priority(const void *pa, const void *pb)
{
    const tl_buf *a = *(tl_buf *const *)pa, *b = *(tl_buf *const *)pb;
    if (a->at_peak != b->at_peak)
        return a->at_peak ? -1 : 1;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    return cmp_alloc_ts(pa, pb);
}


typedef struct tl_encoded {
    ttm_bytes bufs, marks;
    uint64_t nbufs, nmarks;
} tl_encoded;

static uint32_t lane_index(ttm_timeline *t, uint32_t run, uint16_t device)
{
    size_t i = tl_map_get(&t->lane_map, (uint64_t)run << 16 | device);
    return i == SIZE_MAX ? 0 : (uint32_t)i;
}

static uint32_t scope_index(ttm_timeline *t, uint32_t run, uint32_t scope)
{
    if (scope == 0)
        return 0;
    size_t i = tl_map_get(&t->scope_map, (uint64_t)run << 32 | scope);
    return i == SIZE_MAX ? 0 : (uint32_t)i + 1;
}

static uint32_t site_of(ttm_timeline *t, uint32_t run, uint32_t stack)
{
    size_t i = stack ? tl_map_get(&t->stack_site, (uint64_t)run << 32 | stack) : SIZE_MAX;
    return i == SIZE_MAX ? 0 : (uint32_t)i;
}

static void buf_fields(ttm_timeline *t, const tl_buf *b, uint64_t t0, uint64_t prev_alloc,
                       ttm_bw *w)
{
    ttm__bw_varint(w, b->alloc_ts - t0 - prev_alloc);
    ttm__bw_varint(w, b->free_ts ? b->free_ts - b->alloc_ts + 1 : 0);
    ttm__bw_varint(w, lane_index(t, b->run, b->device));
    ttm__bw_varint(w, (uint64_t)b->memtype | (uint64_t)(b->view | b->leaked << 1 |
                                                          b->at_peak << 2) << 3);
    ttm__bw_varint(w, b->size);
    ttm__bw_varint(w, b->addr);
    ttm__bw_varint(w, b->reuse);
    ttm__bw_varint(w, b->pid);
    ttm__bw_varint(w, site_of(t, b->run, b->stack));
    ttm__bw_varint(w, scope_index(t, b->run, b->scope));
}

/* The lives that go in (within budget bytes: those at a peak, then the largest), by alloc
 * time. */
static int encode_buffers(ttm_timeline *t, uint64_t t0, uint64_t budget, tl_encoded *e)
{
    size_t n = t->nbufs + t->nextra;
    const tl_buf **v = ttm__xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = i < t->nbufs ? &t->bufs[i] : &t->extra[i - t->nbufs];
    ttm__qsort(v, n, sizeof *v, cmp_priority);
    /* a life's bytes alone bound its bytes after a neighbour (its time as a delta) */
    uint64_t used = 0;
    size_t k = 0;
    for (; k < n; k++) {
        ttm_bytes one = {0};
        ttm_bw w = ttm__bw_over(&one);
        buf_fields(t, v[k], t0, 0, &w);
        size_t len = one.len;
        ttm__bytes_free(&one);
        if (used + len > budget)
            break;
        used += len;
    }
    ttm__qsort(v, k, sizeof *v, cmp_alloc_ts);
    ttm_bw w = ttm__bw_over(&e->bufs);
    uint64_t prev = 0;
    for (size_t i = 0; i < k; i++) {
        buf_fields(t, v[i], t0, prev, &w);
        prev = v[i]->alloc_ts - t0;
    }
    e->nbufs = k;
    ttm__free(v);
    return w.err;
}

static int cmp_marker(const void *pa, const void *pb)
{
    const tl_marker *a = pa, *b = pb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->lane < b->lane ? -1 : a->lane > b->lane;
}

/* The markers kept (thinned further, evenly per class, to fit budget), by time. */
static int encode_markers(ttm_timeline *t, uint64_t t0, uint64_t budget, tl_encoded *e)
{
    size_t n = 0;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        n += t->markers[c].n;
    tl_marker *all = ttm__xcalloc(n + 1, sizeof *all);
    uint64_t step = 1, per = 40; /* a marker's bytes, about */
    while (n / step * per > budget)
        step *= 2;
    size_t k = 0;
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        tl_markers *m = &t->markers[c];
        for (size_t i = 0; i < m->n; i += step)
            all[k++] = m->v[i];
        m->stride *= step; /* what the page says was kept */
    }
    ttm__qsort(all, k, sizeof *all, cmp_marker);
    ttm_bw w = ttm__bw_over(&e->marks);
    uint64_t prev = 0;
    for (size_t i = 0; i < k; i++) {
        const tl_marker *m = &all[i];
        uint64_t rel = m->ts >= t0 ? m->ts - t0 : 0;
        ttm__bw_varint(&w, rel - prev);
        prev = rel;
        ttm__bw_varint(&w, m->lane);
        ttm__bw_varint(&w, (uint64_t)__builtin_ctz(m->mask));
        ttm__bw_varint(&w, m->mask);
        ttm__bw_varint(&w, m->kind);
        ttm__bw_varint(&w, m->pid);
        ttm__bw_varint(&w, m->addr);
        ttm__bw_varint(&w, m->size);
    }
    e->nmarks = k;
    ttm__free(all);
    return w.err;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* Base64 (RFC 4648, with padding) of n bytes to out. */
static void put_base64(FILE *out, const uint8_t *p, size_t n)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char line[4096];
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        line[o++] = al[v >> 18 & 63];
        line[o++] = al[v >> 12 & 63];
        line[o++] = i + 1 < n ? al[v >> 6 & 63] : '=';
        line[o++] = i + 2 < n ? al[v & 63] : '=';
        if (o + 4 > sizeof line) {
            fwrite(line, 1, o, out);
            o = 0;
        }
    }
    fwrite(line, 1, o, out);
}

static int put_blob(FILE *out, int *next, const ttm_bytes *b)
{
    int id = (*next)++;
    fprintf(out, "<script type=\"application/octet-stream\" id=\"ttm-b%d\">", id);
    put_base64(out, b->data, b->len);
    fputs("</script>\n", out);
    return id;
}

/* Text into HTML (title): the five characters that matter escaped. */
static void put_html(FILE *out, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
}

static uint64_t rel_ts(uint64_t ts, uint64_t t0)
{
    return ts >= t0 ? ts - t0 : 0;
}

/* The JSON document of what is small; with plans NULL, without the level directory (to
 * measure it). */
static void write_meta(ttm_timeline *t, FILE *f, const tl_plan *plans, size_t nplans,
                       const tl_encoded *e, int bufs_blob, int marks_blob)
{
    uint64_t t0 = t->first_ts;
    ttm_json j;
    ttm__json_init(&j, f, false);
    ttm__json_obj_begin(&j, NULL);
    ttm__json_u64(&j, "schema", 1);
    ttm__json_str(&j, "title", t->title ? t->title : "");
    ttm__json_str(&j, "damage", t->damage ? t->damage : "");
    ttm__json_u64(&j, "t0", t0);
    ttm__json_u64(&j, "span", t->last_ts > t0 ? t->last_ts - t0 : 0);
    ttm__json_u64(&j, "events", t->events);
    ttm__json_u64(&j, "changes", t->changes);
    ttm__json_u64(&j, "html_budget", t->opts.html_bytes);
    ttm__json_arr_begin(&j, "memtypes");
    for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
        ttm__json_obj_begin(&j, NULL);
        ttm__json_str(&j, "name", ttm__memtype_name(m));
        ttm__json_u64(&j, "space", ttm__memtype_space(m));
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_arr_begin(&j, "runs");
    for (size_t r = 0; r < t->nruns; r++) {
        const tl_run *rr = &t->runs[r];
        ttm__json_obj_begin(&j, NULL);
        ttm__json_str(&j, "host", rr->host ? rr->host : "");
        ttm__json_str(&j, "title", rr->title ? rr->title : "");
        ttm__json_bool(&j, "has_peak", rr->has_peak);
        ttm__json_u64(&j, "peak_ts", rel_ts(rr->peak_ts, t0));
        ttm__json_u64(&j, "peak_bytes", rr->peak_bytes);
        ttm__json_u64(&j, "live_count", rr->live_count);
        ttm__json_u64(&j, "live_bytes", rr->live_bytes);
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_arr_begin(&j, "lanes");
    for (size_t i = 0; i < t->nlanes; i++) {
        const tl_lane *l = &t->lanes[i];
        const ttm_arch_profile *ap = ttm__arch_profile(l->arch);
        ttm__json_obj_begin(&j, NULL);
        ttm__json_u64(&j, "run", l->run);
        ttm__json_u64(&j, "device", l->device);
        ttm__json_str(&j, "arch", l->arch && ap ? ap->name : "");
        ttm__json_arr_begin(&j, "cap");
        for (unsigned sp = 0; sp < TTM_SPACE_COUNT; sp++)
            ttm__json_u64(&j, NULL, l->cap[sp]);
        ttm__json_arr_end(&j);
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_arr_begin(&j, "series");
    for (size_t i = 0; plans != NULL && i < nplans; i++) {
        const tl_plan *p = &plans[i];
        ttm__json_obj_begin(&j, NULL);
        ttm__json_u64(&j, "lane", p->lane);
        ttm__json_u64(&j, "memtype", p->memtype);
        ttm__json_u64(&j, "changes", p->s->n);
        ttm__json_i64(&j, "exact", p->exact_in ? p->exact_blob : -1);
        ttm__json_arr_begin(&j, "levels");
        for (size_t k = 0; k < p->nlv; k++) {
            if (!p->lv[k].in)
                continue;
            ttm__json_arr_begin(&j, NULL);
            ttm__json_u64(&j, NULL, p->lv[k].width);
            ttm__json_u64(&j, NULL, p->lv[k].count);
            ttm__json_u64(&j, NULL, (uint64_t)p->blob[k]);
            ttm__json_arr_end(&j);
        }
        ttm__json_arr_end(&j);
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_arr_begin(&j, "procs");
    for (size_t i = 0; i < t->nprocs; i++) {
        const tl_proc *p = &t->procs[i];
        ttm__json_arr_begin(&j, NULL);
        ttm__json_u64(&j, NULL, p->run);
        ttm__json_u64(&j, NULL, p->pid);
        ttm__json_str(&j, NULL, p->name ? p->name : "");
        ttm__json_i64(&j, NULL, p->start_ts ? (int64_t)rel_ts(p->start_ts, t0) : -1);
        ttm__json_i64(&j, NULL, p->exited ? (int64_t)rel_ts(p->exit_ts, t0) : -1);
        ttm__json_i64(&j, NULL, p->status);
        ttm__json_arr_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_u64(&j, "procs_dropped", t->procs_dropped);
    ttm__json_arr_begin(&j, "marks");
    for (size_t i = 0; i < t->nmarks; i++) {
        ttm__json_arr_begin(&j, NULL);
        ttm__json_u64(&j, NULL, t->marks[i].run);
        ttm__json_u64(&j, NULL, t->marks[i].pid);
        ttm__json_u64(&j, NULL, rel_ts(t->marks[i].ts, t0));
        ttm__json_str(&j, NULL, t->marks[i].name);
        ttm__json_arr_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_u64(&j, "marks_dropped", t->marks_dropped);
    ttm__json_arr_begin(&j, "scopes");
    for (size_t i = 0; i < t->nscopes; i++) {
        const tl_scope *s = &t->scopes[i];
        ttm__json_arr_begin(&j, NULL);
        ttm__json_u64(&j, NULL, s->run);
        ttm__json_u64(&j, NULL, s->id);
        ttm__json_str(&j, NULL, s->name ? s->name : "");
        ttm__json_u64(&j, NULL, rel_ts(s->first, t0));
        ttm__json_u64(&j, NULL, rel_ts(s->last, t0));
        ttm__json_u64(&j, NULL, s->events);
        ttm__json_arr_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_u64(&j, "scopes_dropped", t->scopes_dropped);
    ttm__json_arr_begin(&j, "sites");
    ttm__json_str(&j, NULL, "");
    for (size_t i = 0; i < t->nsites; i++)
        ttm__json_str(&j, NULL, t->sites[i]);
    ttm__json_arr_end(&j);
    ttm__json_arr_begin(&j, "classes");
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++) {
        ttm__json_obj_begin(&j, NULL);
        ttm__json_str(&j, "name", ttm_class_name(c));
        ttm__json_bool(&j, "anomaly", ttm_class_is_anomaly(c));
        ttm__json_u64(&j, "events", t->class_events[c]);
        ttm__json_u64(&j, "markers_seen", t->markers[c].seen);
        ttm__json_u64(&j, "markers_stride", t->markers[c].stride ? t->markers[c].stride : 1);
        ttm__json_obj_end(&j);
    }
    ttm__json_arr_end(&j);
    ttm__json_obj_begin(&j, "buffers");
    ttm__json_i64(&j, "blob", bufs_blob);
    ttm__json_u64(&j, "n", e ? e->nbufs : 0);
    ttm__json_u64(&j, "total", t->buffers);
    ttm__json_obj_end(&j);
    ttm__json_obj_begin(&j, "markers");
    ttm__json_i64(&j, "blob", marks_blob);
    ttm__json_u64(&j, "n", e ? e->nmarks : 0);
    ttm__json_obj_end(&j);
    ttm__json_obj_end(&j);
    fputc('\n', f);
}

/* The JSON text into out inside a <script>: "</" written "<\/" so no string ends the
 * element. */
static void put_script_json(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '<' && i + 1 < n && s[i + 1] == '/') {
            fputs("<\\", out);
            continue;
        }
        fputc(s[i], out);
    }
}

static char *meta_text(ttm_timeline *t, const tl_plan *plans, size_t nplans,
                       const tl_encoded *e, int bb, int mb, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        return NULL;
    write_meta(t, f, plans, nplans, e, bb, mb);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The bucket widths of the levels: the span in BASE_BUCKETS, then 4x finer each. */
static size_t level_widths(uint64_t span, uint64_t *w)
{
    size_t n = 0;
    uint64_t buckets = BASE_BUCKETS;
    while (n < LEVELS_MAX && span / buckets >= 1) {
        w[n++] = (span + buckets - 1) / buckets;
        buckets *= 4;
    }
    return n;
}

static void plans_free(tl_plan *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ttm__bytes_free(&p[i].exact);
        for (size_t j = 0; j < LEVELS_MAX; j++)
            ttm__bytes_free(&p[i].lv[j].enc);
    }
    ttm__free(p);
}

int ttm_timeline_write(ttm_timeline *t, FILE *out, ttm_timeline_stats *stats)
{
    if (t->err != 0)
        return t->err;
    if (!t->bufs_sorted)
        ttm_timeline_peak_missing(t); /* sorts the lives, marks those at a peak */
    uint64_t t0 = t->first_ts, span = t->last_ts > t0 ? t->last_ts - t0 : 0;
    size_t nplans = 0;
    for (size_t i = 0; i < t->nlanes; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++)
            nplans += t->lanes[i].series[m].n > 0;
    tl_plan *plans = ttm__xcalloc(nplans + 1, sizeof *plans);
    uint64_t widths[LEVELS_MAX];
    size_t nw = level_widths(span, widths);
    size_t k = 0;
    int err = TTM_OK;
    for (size_t i = 0; i < t->nlanes; i++)
        for (unsigned m = 0; m < TTM_MEMTYPE_COUNT; m++) {
            if (t->lanes[i].series[m].n == 0)
                continue;
            plans[k] = (tl_plan){.s = &t->lanes[i].series[m], .lane = i, .memtype = m};
            if (err == TTM_OK)
                err = plan_build(&plans[k], t0, widths, nw);
            k++;
        }
    tl_encoded e = {0};
    char *meta = NULL;
    size_t meta_len = 0;
    if (err != TTM_OK)
        goto out_free;

    /* the budget: what the assets and the small document leave, in raw bytes (base64 is
     * 4/3); a directory entry of ~40 bytes per level of every series */
    meta = meta_text(t, NULL, 0, NULL, -1, -1, &meta_len);
    if (meta == NULL) {
        err = TTM_ENOMEM;
        goto out_free;
    }
    uint64_t fixed = strlen(ttm_timeline_css) + strlen(ttm_timeline_js) + meta_len +
                     RESERVE_BYTES + (uint64_t)nplans * (LEVELS_MAX + 1) * 48;
    free(meta);
    meta = NULL;
    uint64_t raw = t->opts.html_bytes > fixed ? (t->opts.html_bytes - fixed) / 4 * 3 : 0;
    /* lives and markers may take up to 30% and 10%, the series the rest */
    if ((err = encode_buffers(t, t0, raw * 3 / 10, &e)) != TTM_OK ||
        (err = encode_markers(t, t0, raw / 10, &e)) != TTM_OK)
        goto out_free;
    uint64_t left = raw - e.bufs.len - e.marks.len;
    plan_choose(plans, nplans, left);

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>",
          out);
    put_html(out, t->title && t->title[0] ? t->title : "ttmem timeline");
    fprintf(out, "</title>\n<style>\n%s</style>\n</head><body>\n", ttm_timeline_css);
    /* errors of the page's own script land in the DOM, where a test reads them */
    fputs("<pre id=\"ttm-error\" hidden></pre><pre id=\"ttm-drawn\" hidden></pre>\n"
          "<script>window.addEventListener('error',function(e){var x=document.getElementById("
          "'ttm-error');x.hidden=false;x.textContent+=(e.message||'error')+' at '+(e.lineno||0)"
          "+'\\n';});</script>\n",
          out);
    int next = 0;
    for (size_t i = 0; i < nplans; i++) {
        tl_plan *p = &plans[i];
        p->exact_blob = p->exact_in ? put_blob(out, &next, &p->exact) : -1;
        for (size_t j = 0; j < p->nlv; j++)
            p->blob[j] = p->lv[j].in ? put_blob(out, &next, &p->lv[j].enc) : -1;
    }
    int bb = put_blob(out, &next, &e.bufs), mb = put_blob(out, &next, &e.marks);
    meta = meta_text(t, plans, nplans, &e, bb, mb, &meta_len);
    if (meta == NULL) {
        err = TTM_ENOMEM;
        goto out_free;
    }
    fputs("<script id=\"ttm-meta\" type=\"application/json\">", out);
    put_script_json(out, meta, meta_len);
    fprintf(out, "</script>\n<script>\n%s</script>\n</body></html>\n", ttm_timeline_js);
    if (fflush(out) != 0 || ferror(out))
        err = TTM_EIO;

    if (stats != NULL) {
        *stats = (ttm_timeline_stats){.changes = t->changes, .series = nplans,
                                      .lanes = t->nlanes, .buffers = t->buffers,
                                      .buffers_kept = e.nbufs, .markers_kept = e.nmarks};
        long pos = ftell(out);
        stats->html_bytes = pos > 0 ? (uint64_t)pos : 0;
        for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
            stats->markers += t->markers[c].seen;
        for (size_t i = 0; i < nplans; i++) {
            if (plans[i].exact_in) {
                stats->series_exact++;
                continue;
            }
            for (size_t j = plans[i].nlv; j-- > 0;)
                if (plans[i].lv[j].in) {
                    if (stats->finest_ns == 0 || plans[i].lv[j].width > stats->finest_ns)
                        stats->finest_ns = plans[i].lv[j].width;
                    break;
                }
        }
    }
out_free:
    free(meta);
    ttm__bytes_free(&e.bufs);
    ttm__bytes_free(&e.marks);
    plans_free(plans, nplans);
    return err;
}
