/*
 * top_diag.c — the diagnosis of `ttmem top`: the live counters (unknown, double and excess
 * frees, leaks at exit, dropped events) as the one-line summary of the devices view and as the
 * diagnosis view's table with what each one means (the class's definition from the core, see
 * docs/CLASSIFICATION.md), the other findings that happened, the causes of the unmatched
 * frees of address-only events (legacy clients), the daemon's transport counters and the
 * counters per device. TT-Metal's counters carry no buffer identity: without ttmemd
 * there is no diagnosis, and the section says so.
 */
#include <stdio.h>
#include <string.h>

#include "cli/top_parts.h"

static const char *const diag_labels[] = {
#define TTM__TOP_DIAG_LABEL(name, label) label,
    TTM_TOP_DIAG_MAP(TTM__TOP_DIAG_LABEL)
#undef TTM__TOP_DIAG_LABEL
};

/* The class behind each diagnosis counter (DROPPED has none). */
static const int diag_class[TTM_TOP_DIAG__COUNT] = {TTM_CLASS_UNKNOWN_FREE, TTM_CLASS_DOUBLE_FREE,
                                                    TTM_CLASS_EXCESS_FREE, TTM_CLASS_LEAKED_AT_EXIT,
                                                    -1};

#define DROPPED_HELP                                                                               \
    "events a client could not hand over: its ring filled while no daemon was running"

typedef struct diag_val {
    bool valid;
    uint64_t count, bytes;
    bool delta_valid;
    uint64_t delta;
} diag_val;

static const ttm_top_device *daemon_device(const ttm_top_model *m, uint32_t id)
{
    for (size_t i = 0; i < m->ndevices; i++)
        if (m->devices[i].src == TTM_TOP_SRC_DAEMON && m->devices[i].device == id)
            return &m->devices[i];
    return NULL;
}

static diag_val diag_get(const ttm_top_lay *L, ttm_top_diag k)
{
    const ttm_top_model *m = L->m;
    diag_val v = {0};
    if (!m->diag_valid)
        return v;
    int cls = diag_class[k];
    if (cls < 0) { /* dropped: a transport counter of the daemon, not per device */
        v.valid = true;
        v.count = m->dropped;
        v.delta_valid =
            m->prev_valid && m->dstate == TTM_TOP_DAEMON_OK && m->dropped >= m->prev_dropped;
        v.delta = v.delta_valid ? m->dropped - m->prev_dropped : 0;
        return v;
    }
    if (L->st->filter) {
        const ttm_top_device *d = daemon_device(m, L->st->filter_device);
        if (d == NULL || !(d->valid & TTM_TOP_V_CLASSES) || (unsigned)cls >= d->nclasses)
            return v;
        v.valid = true;
        v.count = d->class_count[cls];
        v.bytes = d->class_bytes[cls];
        return v;
    }
    if ((unsigned)cls >= m->nclasses)
        return v;
    v.valid = true;
    v.count = m->class_count[cls];
    v.bytes = m->class_bytes[cls];
    v.delta_valid =
        m->prev_valid && m->dstate == TTM_TOP_DAEMON_OK && v.count >= m->prev_class_count[cls];
    v.delta = v.delta_valid ? v.count - m->prev_class_count[cls] : 0;
    return v;
}

static const char *diag_help(ttm_top_diag k)
{
    return diag_class[k] < 0 ? DROPPED_HELP : ttm_class_help((unsigned)diag_class[k]);
}

/* One line: "DIAG unknown frees 3  double frees 0 ...". */
void ttm__top_diag_summary(ttm_top_lay *L)
{
    static const char *const short_labels[] = {"unknown", "double", "excess", "leaked", "dropped"};
    char buf[TTM_FMT_LEN], b2[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    int col = ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "DIAG");
    if (!L->m->diag_valid) {
        ttm__top_put(L, line, col + 2, TTM_TOP_A_NA,
                     "N/A: TT-Metal's counters carry no buffer identity; ttmemd diagnoses");
        return;
    }
    for (int k = 0; k < TTM_TOP_DIAG__COUNT; k++) {
        diag_val v = diag_get(L, (ttm_top_diag)k);
        col = ttm__top_put(L, line, col + 2, TTM_TOP_A_DIM, short_labels[k]) + 1;
        if (!v.valid) {
            col = ttm__top_put(L, line, col, TTM_TOP_A_NA, "N/A");
            continue;
        }
        col = ttm__top_put(L, line, col, v.count ? TTM_TOP_A_CRIT : TTM_TOP_A_OK,
                           L->wide ? ttm__fmt_count(buf, v.count) : ttm__top_fmt_num(buf, v.count));
        if (k == TTM_TOP_DIAG_LEAKED && v.count)
            col = ttm__top_putf(L, line, col, TTM_TOP_A_DIM, " (%s)",
                                ttm__top_fmt_size(L, b2, v.bytes));
        if (v.delta_valid && v.delta)
            col =
                ttm__top_putf(L, line, col, TTM_TOP_A_WARN, " +%s", ttm__top_fmt_num(b2, v.delta));
    }
    /* the causes of the unmatched frees, as many as fit: "causes mesh 76% storm 24%" */
    const ttm_report *s = &L->m->snap;
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES)) || s->ncauses == 0)
        return;
    /* short labels, as the counters' above (the diagnosis view words them in full) */
    static const char *const short_causes[TTM_CAUSE__COUNT] = {
        [TTM_CAUSE_MESH_MULTIPLICITY] = "mesh", [TTM_CAUSE_DOUBLE_RELEASE] = "double-release",
        [TTM_CAUSE_EXCESS_STORM] = "storm",     [TTM_CAUSE_PRE_TRACKING] = "pre-tracking",
        [TTM_CAUSE_UNEXPLAINED] = "unexplained",
    };
    for (size_t i = 0; i < s->ncauses; i++) {
        const ttm_cause_stats *c = &s->causes[i].stats;
        const char *label = (unsigned)c->cause < TTM_CAUSE__COUNT ? short_causes[c->cause] : "?";
        char text[80];
        if (c->frees > 0)
            snprintf(text, sizeof text, "%s%s %.0f%%", i == 0 ? "causes " : "", label,
                     s->causes[i].share_pct);
        else
            snprintf(text, sizeof text, "%s%s %s dup", i == 0 ? "causes " : "", label,
                     ttm__top_fmt_num(buf, c->allocs));
        int at = ttm__top_put_fit(L, line, col + (i == 0 ? 2 : 1), TTM_TOP_A_WARN, text);
        if (at == col + (i == 0 ? 2 : 1))
            return; /* no room for it: the diagnosis view lists them all */
        col = at;
    }
}

/* The words' dashes (U+2014, U+2026) as ASCII: the frame holds one byte per cell. */
static void ascii_dashes(char *s)
{
    char *o = s;
    for (const char *p = s; *p != '\0';) {
        if (strncmp(p, "\xE2\x80\x94", 3) == 0) {
            *o++ = '-';
            p += 3;
        } else if (strncmp(p, "\xE2\x80\xA6", 3) == 0) {
            memcpy(o, "...", 3);
            o += 3;
            p += 3;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
}

/* The causes of the unmatched frees (address-only events: legacy clients, the prototype's
 * logs), one wrapped line each as the text report words them (core/cause_text.c). */
static void diag_causes(ttm_top_lay *L)
{
    const ttm_report *s = &L->m->snap;
    if (!(s->sections & TTM_SNAP_BIT(TTM_SNAP_SEC_CAUSES)) || s->ncauses == 0)
        return;
    int line = ttm__top_line(L);
    int col = ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "CAUSES");
    ttm__top_put_fit(L, line, col + 2, TTM_TOP_A_DIM,
                     L->st->filter ? "of the unmatched frees without object ids, all devices"
                                   : "of the unmatched frees without object ids");
    for (size_t i = 0; i < s->ncauses; i++) {
        char text[700];
        ttm_cause_line(s, i, text, sizeof text);
        ascii_dashes(text);
        ttm__top_wrap(L, 2, TTM_TOP_A_NORMAL, text);
    }
}

/* The counters with count, +new, bytes and an explanation each. */
void ttm__top_diag_table(ttm_top_lay *L)
{
    const ttm_top_model *m = L->m;
    char buf[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    int col = ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "DIAGNOSIS");
    if (L->st->filter)
        col = ttm__top_putf(L, line, col + 2, TTM_TOP_A_WARN, "device %u", L->st->filter_device);
    bool deltas = m->refreshes > 1; /* a single frame has no "previous refresh" */
    ttm__top_put_fit(L, line, col + 2, TTM_TOP_A_DIM,
                     deltas ? "counts since ttmemd started; +NEW: since the previous refresh"
                            : "counts since ttmemd started");
    if (!m->diag_valid) {
        ttm__top_wrap(L, 2, TTM_TOP_A_NA,
                      "N/A: TT-Metal's shared-memory counters carry no buffer identity, so "
                      "frees cannot be matched to allocations. Start 'ttmemd' and run programs "
                      "with TTMEM=1 (or under 'ttmem record -- CMD') for a diagnosis.");
        return;
    }
    bool inline_help = L->w >= 110;
    line = ttm__top_line(L);
    ttm__top_span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    ttm__top_put(L, line, 2, TTM_TOP_A_TITLE, "COUNTER");
    ttm__top_putr(L, line, 18, 12, TTM_TOP_A_TITLE, "COUNT");
    if (deltas)
        ttm__top_putr(L, line, 31, 8, TTM_TOP_A_TITLE, "+NEW");
    ttm__top_putr(L, line, 40, 10, TTM_TOP_A_TITLE, "BYTES");
    ttm__top_put(L, line, inline_help ? 52 : 51, TTM_TOP_A_TITLE,
                 inline_help ? "WHAT IT MEANS" : "");
    for (int k = 0; k < TTM_TOP_DIAG__COUNT; k++) {
        diag_val v = diag_get(L, (ttm_top_diag)k);
        line = ttm__top_line(L);
        ttm__top_put(L, line, 2, TTM_TOP_A_NORMAL, diag_labels[k]);
        if (!v.valid) {
            ttm__top_putr(L, line, 18, 12, TTM_TOP_A_NA, "N/A");
        } else {
            ttm__top_putr(L, line, 18, 12, v.count ? TTM_TOP_A_CRIT : TTM_TOP_A_OK,
                          ttm__fmt_count(buf, v.count));
            if (deltas && v.delta_valid)
                ttm__top_putr(
                    L, line, 31, 8, v.delta ? TTM_TOP_A_WARN : TTM_TOP_A_DIM,
                    (snprintf(buf, sizeof buf, "+%llu", (unsigned long long)v.delta), buf));
            else if (deltas)
                ttm__top_putr(L, line, 31, 8, TTM_TOP_A_NA, "N/A");
            if (diag_class[k] >= 0)
                ttm__top_putr(L, line, 40, 10, TTM_TOP_A_NORMAL, ttm__fmt_bytes(buf, v.bytes));
        }
        if (inline_help)
            ttm__top_wrap_at(L, line, 52, TTM_TOP_A_DIM, diag_help((ttm_top_diag)k));
        else
            ttm__top_wrap(L, 4, TTM_TOP_A_DIM, diag_help((ttm_top_diag)k));
    }
    /* the other findings, when any happened */
    bool titled = false;
    for (unsigned c = 0; c < m->nclasses && c < TTM_CLASS__COUNT; c++) {
        bool main_one = false;
        for (int k = 0; k < TTM_TOP_DIAG__COUNT; k++)
            main_one |= diag_class[k] == (int)c;
        uint64_t count = m->class_count[c];
        if (L->st->filter) {
            const ttm_top_device *d = daemon_device(m, L->st->filter_device);
            count = d != NULL && c < d->nclasses ? d->class_count[c] : 0;
        }
        if (main_one || !ttm_class_is_anomaly(c) || count == 0)
            continue;
        if (!titled) {
            line = ttm__top_line(L);
            ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "OTHER FINDINGS");
            titled = true;
        }
        line = ttm__top_line(L);
        ttm__top_put(L, line, 2, TTM_TOP_A_NORMAL, ttm_class_name(c));
        ttm__top_putr(L, line, 18, 12, TTM_TOP_A_WARN, ttm__fmt_count(buf, count));
        if (inline_help)
            ttm__top_wrap_at(L, line, 52, TTM_TOP_A_DIM, ttm_class_help(c));
        else
            ttm__top_wrap(L, 4, TTM_TOP_A_DIM, ttm_class_help(c));
    }
    diag_causes(L);
}

void ttm__top_transport(ttm_top_lay *L)
{
    const ttm_top_model *m = L->m;
    if (m->dstate == TTM_TOP_DAEMON_NONE || !(m->snap.sections & TTM_SNAP_BIT(TTM_SNAP_SEC_DAEMON)))
        return;
    const ttm_report_daemon *d = &m->snap.daemon;
    char a[TTM_FMT_LEN], b[TTM_FMT_LEN], c[TTM_FMT_LEN];
    int line = ttm__top_line(L);
    ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, "TRANSPORT");
    char text[512];
    snprintf(text, sizeof text,
             "clients %u connected, %llu since start (%llu refused at the limit, %llu rejected); "
             "events %s; producer waits %s; ring errors %llu; reattached %llu; queries %s",
             d->clients_connected, (unsigned long long)d->clients_total,
             (unsigned long long)d->clients_refused, (unsigned long long)d->clients_rejected,
             ttm__fmt_count(a, d->events), ttm__fmt_count(b, d->waited),
             (unsigned long long)d->ring_errors, (unsigned long long)d->reattached,
             ttm__fmt_count(c, d->queries));
    ttm__top_wrap(L, 2, TTM_TOP_A_NORMAL, text);
}

/* Daemon rows come first in the model: the shown ones are a prefix of L->dev. */
size_t ttm__top_diag_ndev(const ttm_top_lay *L)
{
    size_t n = 0;
    while (n < L->ndev && L->m->devices[L->dev[n]].src == TTM_TOP_SRC_DAEMON)
        n++;
    return n;
}

/* Per-device counters: one row per daemon device. Returns the number of entries. */
int ttm__top_diag_devices(ttm_top_lay *L, int rows, int first)
{
    const ttm_top_model *m = L->m;
    char buf[TTM_FMT_LEN];
    const size_t *idx = L->dev;
    size_t n = ttm__top_diag_ndev(L);
    if (n == 0 || rows == 0)
        return 0;
    int line = ttm__top_line(L);
    ttm__top_span(L, line, 0, L->w, TTM_TOP_A_TITLE);
    ttm__top_put(L, line, 0, TTM_TOP_A_TITLE, " DEV");
    static const char *const heads[] = {"UNKNOWN", "DOUBLE", "EXCESS", "LEAKED"};
    for (int k = 0; k < 4; k++)
        ttm__top_putr(L, line, 6 + k * 12, 11, TTM_TOP_A_TITLE, heads[k]);
    ttm__top_put(L, line, 6 + 4 * 12 + 2, TTM_TOP_A_TITLE, "(per device)");
    int room = rows < 0 ? (int)n : rows - 1;
    for (size_t e = (size_t)(first > 0 ? first : 0); e < n && room > 0; e++, room--) {
        const ttm_top_device *d = &m->devices[idx[e]];
        line = ttm__top_line(L);
        ttm__top_putr(L, line, 0, 4, TTM_TOP_A_TITLE,
                      (snprintf(buf, sizeof buf, "%u", d->device), buf));
        for (int k = 0; k < 4; k++) {
            unsigned cls = (unsigned)diag_class[k];
            if (!(d->valid & TTM_TOP_V_CLASSES) || cls >= d->nclasses) {
                ttm__top_putr(L, line, 6 + k * 12, 11, TTM_TOP_A_NA, "N/A");
                continue;
            }
            uint64_t v = d->class_count[cls];
            ttm__top_putr(L, line, 6 + k * 12, 11, v ? TTM_TOP_A_CRIT : TTM_TOP_A_DIM,
                          ttm__fmt_count(buf, v));
        }
    }
    return (int)n;
}
