/*
 * cause_text.c — the causes of the unmatched frees in words (report.h, "causes"): the one
 * wording the text report (src/cli/render.c), `ttmem status` and `ttmem top` print and the
 * JSON's `evidence` carries, so the same figures always read the same.
 *
 * A line is its count and share ("3,504 of 4,604 unmatched frees (76%)") then the evidence:
 * what the attributor saw (docs/CLASSIFICATION.md, "Causes of unmatched frees"), then what it
 * is unsure of: the frees the stream cannot tell from another cause, and those still
 * provisional.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/event.h"
#include "common/fmt.h"
#include "core/report.h"

/* A bounded string builder: appends never overrun, the result stays NUL-terminated. */
typedef struct sbuf {
    char *p;
    size_t len, at;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sbuf *b, const char *fmt, ...)
{
    if (b->at + 1 >= b->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->at, b->len - b->at, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->at = (size_t)n < b->len - b->at ? b->at + (size_t)n : b->len - 1;
}

char *ttm_cause_addr_text(uint64_t addr, bool dec, char *buf, size_t len)
{
    if (dec)
        snprintf(buf, len, "0x%" PRIX64 " (%" PRIu64 ")", addr, addr);
    else
        snprintf(buf, len, "0x%" PRIX64, addr);
    return buf;
}

/* "~850 ns", "~12 us", "~2.1 ms", "~1.3 s": a mean spacing, two significant digits. */
static void put_period(sbuf *b, uint64_t ns)
{
    static const struct {
        double div;
        const char *unit;
    } units[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        double v = (double)ns / units[i].div;
        if (v >= 1.0) {
            put(b, v < 10.0 ? "~%.1f %s" : "~%.0f %s", v, units[i].unit);
            return;
        }
    }
    put(b, "~%" PRIu64 " ns", ns);
}

/* ", pid 2604" / ", pids 2604,2605,…". */
static void put_pids(sbuf *b, const uint32_t *pids, unsigned n, bool more)
{
    if (n == 0)
        return;
    put(b, ", pid%s ", n > 1 || more ? "s" : "");
    for (unsigned i = 0; i < n; i++)
        put(b, "%s%" PRIu32, i ? "," : "", pids[i]);
    if (more)
        put(b, ",…");
}

/* "device 1 DRAM 0x2000000 (33554432)": where an instance is (its memtype when known). */
static void put_where(sbuf *b, const ttm_cause_instance *in)
{
    char a[64];
    put(b, "device %u ", (unsigned)in->device);
    if (in->memtype != TTM_MEM_ANY)
        put(b, "%s ", ttm__memtype_name(in->memtype));
    put(b, "%s", ttm_cause_addr_text(in->addr, in->addr_dec, a, sizeof a));
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void mesh(sbuf *b, const ttm_cause_stats *s)
{
    char a[TTM_FMT_LEN];
    put(b, "mesh multiplicity — ");
    if (s->groups > 0) {
        put(b, "%s %s", ttm__fmt_count(a, s->groups),
            plural(s->groups, "MeshBuffer", "MeshBuffers"));
        if (s->mesh_devices > 0)
            put(b, " on %u devices", (unsigned)s->mesh_devices);
        if (s->frees_per_group > 0)
            put(b, ", %u %s each", (unsigned)s->frees_per_group,
                plural(s->frees_per_group, "free", "frees"));
    } else if (s->frees > 0) {
        put(b, "frees of one address on several devices around its release");
    }
    if (s->allocs > 0)
        put(b, "%s%s duplicate %s in mesh allocation bursts", s->groups || s->frees ? "; " : "",
            ttm__fmt_count(a, s->allocs), plural(s->allocs, "allocation", "allocations"));
}

static void double_release(sbuf *b, const ttm_cause_stats *s)
{
    char a[TTM_FMT_LEN];
    uint64_t n = s->groups > 0 ? s->groups : s->frees;
    put(b,
        "double release — %s %s freed again by the same process right after, before "
        "anything was allocated there",
        ttm__fmt_count(a, n), plural(n, "release", "releases"));
    put_pids(b, s->pids, s->npids, s->more_pids);
}

static void storm(sbuf *b, const ttm_cause_stats *s)
{
    char a[TTM_FMT_LEN];
    if (s->ninstances == 0) {
        put(b, "excess storm on %s %s", ttm__fmt_count(a, s->addrs),
            plural(s->addrs, "address", "addresses"));
        return;
    }
    const ttm_cause_instance *w = &s->instances[0];
    uint64_t nstorms = s->groups > 0 ? s->groups : s->addrs;
    put(b, "excess storm on ");
    if (nstorms > 1)
        put(b, "%s addresses, the worst ", ttm__fmt_count(a, nstorms));
    put_where(b, w);
    if (w->regular && w->period_ns > 0) {
        put(b, ", one extra free every ");
        put_period(b, w->period_ns);
    } else if (w->regular && w->period_events > 0) { /* a stream without times */
        put(b, ", one extra free every ~%" PRIu64 " events", w->period_events);
    } else if (w->period_ns > 0) {
        put(b, ", extra frees at irregular intervals (");
        put_period(b, w->period_ns);
        put(b, " apart on average)");
    } else {
        put(b, ", extra frees at irregular intervals");
    }
    put(b, " over %s %s", ttm__fmt_count(a, w->frees), plural(w->frees, "free", "frees"));
    if (w->allocs == 1)
        put(b, " (allocated once)");
    else if (w->allocs > 1)
        put(b, " (allocated %s times)", ttm__fmt_count(a, w->allocs));
    put_pids(b, w->pids, w->npids, w->more_pids);
}

static void pre_tracking(sbuf *b, const ttm_cause_stats *s)
{
    char a[TTM_FMT_LEN];
    put(b,
        "pre-tracking — frees of %s %s never allocated since tracking began, in no mesh "
        "burst",
        ttm__fmt_count(a, s->addrs), plural(s->addrs, "address", "addresses"));
    put_pids(b, s->pids, s->npids, s->more_pids);
}

static void unexplained(sbuf *b, const ttm_cause_stats *s)
{
    char a[TTM_FMT_LEN];
    if (s->frees == 0) { /* duplicate allocations only: the count says how many */
        put(b, "unexplained — duplicate allocations on %s %s outside any mesh burst",
            ttm__fmt_count(a, s->addrs), plural(s->addrs, "address", "addresses"));
    } else {
        put(b, "unexplained — on %s %s, none of the causes fits", ttm__fmt_count(a, s->addrs),
            plural(s->addrs, "address", "addresses"));
        if (s->allocs > 0)
            put(b, "; %s duplicate %s outside any mesh burst", ttm__fmt_count(a, s->allocs),
                plural(s->allocs, "allocation", "allocations"));
    }
    put_pids(b, s->pids, s->npids, s->more_pids);
}

char *ttm_cause_describe(const ttm_cause_stats *s, char *buf, size_t len)
{
    sbuf b = {.p = buf, .len = len};
    if (len == 0)
        return buf;
    buf[0] = '\0';
    static void (*const words[TTM_CAUSE__COUNT])(sbuf *, const ttm_cause_stats *) = {
        [TTM_CAUSE_MESH_MULTIPLICITY] = mesh,  [TTM_CAUSE_DOUBLE_RELEASE] = double_release,
        [TTM_CAUSE_EXCESS_STORM] = storm,      [TTM_CAUSE_PRE_TRACKING] = pre_tracking,
        [TTM_CAUSE_UNEXPLAINED] = unexplained,
    };
    char a[TTM_FMT_LEN];
    if ((unsigned)s->cause < TTM_CAUSE__COUNT)
        words[s->cause](&b, s);
    else
        put(&b, "cause %u", (unsigned)s->cause); /* a newer peer's: its name is not known */
    if (s->ambiguous > 0)
        put(&b, "; %s of them could also be %s", ttm__fmt_count(a, s->ambiguous),
            s->cause == TTM_CAUSE_DOUBLE_RELEASE ? "mesh multiplicity (a one-device mesh)"
                                                 : "another cause");
    if (s->pending > 0)
        put(&b, "; %s still provisional", ttm__fmt_count(a, s->pending));
    return buf;
}

/* "76%", "<1%" for a share that rounds to 0 but is not. */
static void put_share(sbuf *b, double pct)
{
    if (pct > 0 && pct < 0.5)
        put(b, "<1%%");
    else
        put(b, "%.0f%%", pct);
}

char *ttm_cause_count_text(const ttm_report_cause *c, uint64_t total, bool first, char *buf,
                           size_t len)
{
    sbuf b = {.p = buf, .len = len};
    if (len == 0)
        return buf;
    buf[0] = '\0';
    char a[TTM_FMT_LEN], t[TTM_FMT_LEN];
    const ttm_cause_stats *s = &c->stats;
    if (s->frees == 0) {
        put(&b, "%s duplicate %s", ttm__fmt_count(a, s->allocs),
            plural(s->allocs, "allocation", "allocations"));
        return buf;
    }
    if (first)
        put(&b, "%s of %s unmatched %s (", ttm__fmt_count(a, s->frees), ttm__fmt_count(t, total),
            plural(total, "free", "frees"));
    else
        put(&b, "%s (", ttm__fmt_count(a, s->frees));
    put_share(&b, c->share_pct);
    put(&b, ")");
    return buf;
}

char *ttm_cause_line(const ttm_report *r, size_t i, char *buf, size_t len)
{
    const ttm_report_cause *c = &r->causes[i];
    char count[128], words[512];
    /* frees descending: the first cause listed is the one with the most */
    ttm_cause_count_text(c, ttm__report_causes_frees(r), i == 0, count, sizeof count);
    snprintf(buf, len, "%s: %s", count,
             c->evidence != NULL ? c->evidence
                                 : ttm_cause_describe(&c->stats, words, sizeof words));
    return buf;
}
