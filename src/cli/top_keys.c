/*
 * top_keys.c — the keys of `ttmem top`: one table whose rows say, for each key, its bindings,
 * its action, the modes it works in, its help line and its section of the help screen, and the
 * state machine that dispatches through it.
 *
 * The help screen (top_help.c), the `ttmem top --help` text (cmd_top.c) and the key list of
 * docs/TOP.md (checked by tests/unit/test_top_layout.c) are rendered from the same rows, so a
 * key cannot exist without its help, nor help without its key. Pure: no I/O, no clock (the
 * caller passes its monotonic time, which joins digits typed in a row into one device number).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/top_layout.h"
#include "common/alloc.h"

/* ---- the actions --------------------------------------------------------------------------- */

static ttm_top_action act_help(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->help = true;
    return TTM_TOP_ACT_REDRAW;
}

/* Pausing redraws (PAUSED); resuming refreshes at once. */
static ttm_top_action act_pause(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->paused = !k->st->paused;
    return k->st->paused ? TTM_TOP_ACT_REDRAW : TTM_TOP_ACT_REFRESH;
}

static ttm_top_action act_quit(const ttm_top_keyctx *k, int arg)
{
    (void)k;
    (void)arg;
    return TTM_TOP_ACT_QUIT;
}

/* arg: +1 the next view, -1 the previous one. */
static ttm_top_action act_view(const ttm_top_keyctx *k, int arg)
{
    ttm_top_state *st = k->st;
    st->view = (ttm_top_view)((st->view + TTM_TOP_VIEW__COUNT + arg) % TTM_TOP_VIEW__COUNT);
    st->scroll = 0;
    return TTM_TOP_ACT_REDRAW;
}

/* The sites view (fetched at once: the call sites are asked for only while it is shown). */
static ttm_top_action act_sites(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->view = TTM_TOP_VIEW_SITES;
    k->st->scroll = 0;
    return TTM_TOP_ACT_REFRESH;
}

/* arg: +1 the next column, -1 the previous one, each with its natural direction. */
static ttm_top_action act_sort(const ttm_top_keyctx *k, int arg)
{
    ttm_top_state *st = k->st;
    ttm__top_state_sort(st,
                        (ttm_top_col)((st->sort + TTM_TOP_COL__COUNT + arg) % TTM_TOP_COL__COUNT));
    return TTM_TOP_ACT_REDRAW;
}

static ttm_top_action act_reverse(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->ascending = !k->st->ascending;
    return TTM_TOP_ACT_REDRAW;
}

/* The next device id after the filtered one among the model's rows (all: the first), or "all"
 * after the last. */
static ttm_top_action act_next_device(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    ttm_top_state *st = k->st;
    const ttm_top_model *m = k->m;
    bool found = false;
    uint32_t best = 0;
    for (size_t i = 0; i < m->ndevices; i++) {
        uint32_t id = m->devices[i].device;
        if (st->filter && id <= st->filter_device)
            continue;
        if (!found || id < best) {
            best = id;
            found = true;
        }
    }
    st->filter = found;
    st->filter_device = found ? best : 0;
    st->scroll = 0;
    return TTM_TOP_ACT_REDRAW;
}

/* A digit: that device, or, typed within TTM_TOP_TYPING_NS of the previous digit, the number
 * they form together (up to five digits). */
static ttm_top_action act_device_number(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    ttm_top_state *st = k->st;
    uint32_t dgt = (uint32_t)(k->key - '0');
    bool join = k->typing && k->now_ns >= st->typed_ns &&
                k->now_ns - st->typed_ns < TTM_TOP_TYPING_NS && st->typed < 10000;
    st->typed = join ? st->typed * 10 + dgt : dgt;
    st->typing = true;
    st->typed_ns = k->now_ns;
    st->filter = true;
    st->filter_device = st->typed;
    st->scroll = 0;
    return TTM_TOP_ACT_REDRAW;
}

static ttm_top_action act_all_devices(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->filter = false;
    k->st->scroll = 0;
    return TTM_TOP_ACT_REDRAW;
}

static ttm_top_action act_display(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    ttm_top_state *st = k->st;
    st->devmode = (ttm_top_devmode)((st->devmode + 1) % TTM_TOP_DEV__COUNT);
    return TTM_TOP_ACT_REDRAW;
}

/* Shows or hides the exited processes; a selection that is hidden falls to the first row. */
static ttm_top_action act_exited(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->show_exited = !k->st->show_exited;
    return TTM_TOP_ACT_REDRAW;
}

/* The moves of the move row's bindings. */
enum { SCROLL_UP = 1, SCROLL_DOWN, SCROLL_PGUP, SCROLL_PGDN, SCROLL_HOME, SCROLL_END };

/* The views with a process table, where the moves select a process. */
static bool table_view(const ttm_top_state *st)
{
    return !st->proc_open &&
           (st->view == TTM_TOP_VIEW_DEVICES || st->view == TTM_TOP_VIEW_PROCESSES);
}

/* The process table's rows as the frame shows them (rows: room for m->nprocs, freed by the
 * caller); returns how many (0 also when memory is short). */
static size_t table_rows(const ttm_top_keyctx *k, ttm_top_row **rows)
{
    *rows = NULL;
    if (k->m->nprocs == 0 || (*rows = ttm__calloc(k->m->nprocs, sizeof **rows)) == NULL)
        return 0;
    return ttm__top_proc_rows(k->m, k->st, *rows, NULL);
}

/* Moves the selection by a move of the move row; the selected row is kept by pid. */
static ttm_top_action select_move(const ttm_top_keyctx *k, int arg)
{
    ttm_top_state *st = k->st;
    ttm_top_row *rows;
    size_t n = table_rows(k, &rows);
    if (n == 0) {
        ttm__free(rows);
        return TTM_TOP_ACT_REDRAW;
    }
    size_t cur = ttm__top_sel_row(k->m, st, rows, n), page = (size_t)k->page, to = cur;
    switch (arg) {
    case SCROLL_UP:
        to = cur > 0 ? cur - 1 : 0;
        break;
    case SCROLL_DOWN:
        to = cur + 1 < n ? cur + 1 : n - 1;
        break;
    case SCROLL_PGUP:
        to = cur > page ? cur - page : 0;
        break;
    case SCROLL_PGDN:
        to = cur + page < n ? cur + page : n - 1;
        break;
    case SCROLL_HOME:
        to = 0;
        break;
    default:
        to = n - 1;
        break;
    }
    const ttm_top_proc *p = &k->m->procs[rows[to].proc];
    st->sel_set = true;
    st->sel_src = p->src;
    st->sel_pid = p->pid;
    ttm__free(rows);
    return TTM_TOP_ACT_REDRAW;
}

/* Moves the first row shown of the list that does not fit; the layout clamps it. */
static ttm_top_action act_scroll(const ttm_top_keyctx *k, int arg)
{
    ttm_top_state *st = k->st;
    int page = k->page;
    switch (arg) {
    case SCROLL_UP:
        st->scroll = st->scroll > 0 ? st->scroll - 1 : 0;
        break;
    case SCROLL_DOWN:
        st->scroll = st->scroll < INT_MAX - 1 ? st->scroll + 1 : st->scroll;
        break;
    case SCROLL_PGUP:
        st->scroll = st->scroll > page ? st->scroll - page : 0;
        break;
    case SCROLL_PGDN:
        st->scroll = st->scroll < INT_MAX - page ? st->scroll + page : st->scroll;
        break;
    case SCROLL_HOME:
        st->scroll = 0;
        break;
    default:
        st->scroll = INT_MAX / 2; /* the end: the layout clamps it */
        break;
    }
    return TTM_TOP_ACT_REDRAW;
}

/* In a process table the moves select a process; elsewhere they scroll. */
static ttm_top_action act_move(const ttm_top_keyctx *k, int arg)
{
    return table_view(k->st) ? select_move(k, arg) : act_scroll(k, arg);
}

/* Opens the process view of the selected process (fetched at once: its call sites are asked
 * for while the view is shown). */
static ttm_top_action act_open(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    ttm_top_state *st = k->st;
    ttm_top_row *rows;
    size_t n = table_rows(k, &rows);
    if (n == 0) {
        ttm__free(rows);
        return TTM_TOP_ACT_NONE;
    }
    const ttm_top_proc *p = &k->m->procs[rows[ttm__top_sel_row(k->m, st, rows, n)].proc];
    st->sel_set = st->proc_open = true;
    st->sel_src = st->proc_src = p->src;
    st->sel_pid = st->proc_pid = p->pid;
    st->scroll = 0;
    ttm__free(rows);
    return TTM_TOP_ACT_REFRESH;
}

static ttm_top_action act_back(const ttm_top_keyctx *k, int arg)
{
    (void)arg;
    k->st->proc_open = false;
    k->st->scroll = 0;
    return TTM_TOP_ACT_REDRAW;
}

/* ---- the table ----------------------------------------------------------------------------- */

#define VIEW TTM_TOP_MODE_VIEW
#define HELP TTM_TOP_MODE_HELP
#define PROC TTM_TOP_MODE_PROC

/* In help-screen order; a section's rows share one line of it, which fits the smallest
 * terminal (TTM_TOP_MIN_WIDTH columns): tests/unit/test_top_layout.c checks it. A row is its
 * name, section, modes and action, then its bindings and help on the lines under them. */
/* clang-format off */
const ttm_top_key ttm__top_keys[] = {
    {"help", TTM_TOP_KEYSEC_GENERAL, VIEW | PROC, act_help,
     {{'h'}, {'?'}}, "help (any key closes it)"},
    {"pause", TTM_TOP_KEYSEC_GENERAL, VIEW | PROC, act_pause,
     {{'p'}, {' '}}, "pause/resume"},
    {"quit", TTM_TOP_KEYSEC_GENERAL, VIEW | HELP | PROC, act_quit,
     {{'q'}, {'Q'}}, "quit"},
    {"view", TTM_TOP_KEYSEC_VIEW, VIEW, act_view,
     {{'v', 0, 1}, {'\t', 0, 1}, {TTM_TOP_KEY_BTAB, 0, -1, true}},
     "cycle the views"},
    {"sites", TTM_TOP_KEYSEC_VIEW, VIEW, act_sites,
     {{'l'}}, "live allocation sites"},
    {"sort", TTM_TOP_KEYSEC_SORT, VIEW, act_sort,
     {{'s', 0, 1}, {'>', 0, 1}, {'<', 0, -1, true}}, "sort by the next / previous column"},
    {"reverse", TTM_TOP_KEYSEC_SORT, VIEW, act_reverse,
     {{'r'}}, "reverse the sort"},
    {"next device", TTM_TOP_KEYSEC_FILTER, VIEW, act_next_device,
     {{'d'}}, "device filter: next, then all"},
    {"device number", TTM_TOP_KEYSEC_FILTER, VIEW, act_device_number,
     {{'0', '9'}}, "device number"},
    {"all devices", TTM_TOP_KEYSEC_FILTER, VIEW, act_all_devices,
     {{'a'}}, "all devices"},
    {"display", TTM_TOP_KEYSEC_DISPLAY, VIEW, act_display,
     {{'c'}}, "device display: auto, full, line (1 per device), grid"},
    {"open", TTM_TOP_KEYSEC_PROCESS, VIEW, act_open,
     {{TTM_TOP_KEY_ENTER}}, "open process"},
    {"back", TTM_TOP_KEYSEC_PROCESS, PROC, act_back,
     {{TTM_TOP_KEY_ESC}, {TTM_TOP_KEY_BACKSPACE}, {TTM_TOP_KEY_LEFT}}, "back"},
    {"exited", TTM_TOP_KEYSEC_PROCESS, VIEW, act_exited,
     {{'x'}}, "show/hide exited"},
    {"move", TTM_TOP_KEYSEC_SCROLL, VIEW | PROC, act_move,
     {{TTM_TOP_KEY_UP, 0, SCROLL_UP}, {TTM_TOP_KEY_DOWN, 0, SCROLL_DOWN},
      {'k', 0, SCROLL_UP}, {'j', 0, SCROLL_DOWN},
      {TTM_TOP_KEY_PGUP, 0, SCROLL_PGUP}, {TTM_TOP_KEY_PGDN, 0, SCROLL_PGDN},
      {TTM_TOP_KEY_HOME, 0, SCROLL_HOME}, {TTM_TOP_KEY_END, 0, SCROLL_END}},
     "select a process, else scroll"},
};
/* clang-format on */
const size_t ttm__top_nkeys = sizeof ttm__top_keys / sizeof ttm__top_keys[0];

#undef VIEW
#undef HELP
#undef PROC

/* ---- lookup and dispatch ------------------------------------------------------------------- */

const ttm_top_key *ttm__top_key_find(int key, unsigned mode, int *arg)
{
    for (size_t i = 0; i < ttm__top_nkeys; i++) {
        const ttm_top_key *k = &ttm__top_keys[i];
        if (!(k->modes & mode))
            continue;
        for (const ttm_top_keybind *b = k->keys; b->key != 0; b++) {
            if (key == b->key || (b->last != 0 && key >= b->key && key <= b->last)) {
                if (arg != NULL)
                    *arg = b->arg;
                return k;
            }
        }
    }
    return NULL;
}

ttm_top_action ttm__top_state_key(ttm_top_state *st, const ttm_top_model *m, int key,
                                  uint64_t now_ns, int page)
{
    if (key < 0)
        return TTM_TOP_ACT_NONE;
    if (key == TTM_TOP_KEY_RESIZE)
        return TTM_TOP_ACT_REDRAW;
    unsigned mode = st->help        ? TTM_TOP_MODE_HELP
                    : st->proc_open ? TTM_TOP_MODE_PROC
                                    : TTM_TOP_MODE_VIEW;
    int arg = 0;
    const ttm_top_key *k = ttm__top_key_find(key, mode, &arg);
    ttm_top_keyctx c = {st, m, key, now_ns, page < 1 ? 1 : page, st->typing};
    st->typing = false; /* only the next digit continues a device number */
    if (k != NULL)
        return k->act(&c, arg);
    if (mode == TTM_TOP_MODE_HELP) { /* any other key closes the help */
        st->help = false;
        return TTM_TOP_ACT_REDRAW;
    }
    return TTM_TOP_ACT_NONE;
}

/* ---- names and help text ------------------------------------------------------------------- */

const char *ttm__top_key_name(int key, char *buf, size_t len)
{
    static const char *const special[] = {"Up",   "Down", "PgUp",  "PgDn",
                                          "Home", "End",  "S-Tab", "Left"};
    if (key >= TTM_TOP_KEY_UP && key <= TTM_TOP_KEY_LEFT)
        snprintf(buf, len, "%s", special[key - TTM_TOP_KEY_UP]);
    else if (key == TTM_TOP_KEY_ENTER)
        snprintf(buf, len, "Enter");
    else if (key == TTM_TOP_KEY_ESC)
        snprintf(buf, len, "Esc");
    else if (key == TTM_TOP_KEY_BACKSPACE)
        snprintf(buf, len, "BS");
    else if (key == ' ')
        snprintf(buf, len, "space");
    else if (key == '\t')
        snprintf(buf, len, "Tab");
    else if (key > ' ' && key < 0x7f)
        snprintf(buf, len, "%c", key);
    else
        snprintf(buf, len, "0x%x", (unsigned)key);
    return buf;
}

/* Appends s to buf (o bytes used of len, cut at the end). */
static size_t cat(char *buf, size_t len, size_t o, const char *s)
{
    int n = snprintf(buf + o, len - o, "%s", s);
    return n < 0 ? o : o + (size_t)n < len ? o + (size_t)n : len - 1;
}

const char *ttm__top_key_label(const ttm_top_key *k, bool markdown, char *buf, size_t len)
{
    const char *q = markdown ? "`" : "";
    char name[16];
    size_t o = 0;
    buf[0] = '\0';
    for (const ttm_top_keybind *b = k->keys; b->key != 0; b++) {
        if (b != k->keys)
            o = cat(buf, len, o, b->alt ? " / " : " ");
        o = cat(buf, len, o, q);
        o = cat(buf, len, o, ttm__top_key_name(b->key, name, sizeof name));
        o = cat(buf, len, o, q);
        if (b->last != 0) {
            o = cat(buf, len, o, "-");
            o = cat(buf, len, o, q);
            o = cat(buf, len, o, ttm__top_key_name(b->last, name, sizeof name));
            o = cat(buf, len, o, q);
        }
    }
    return buf;
}

const char *ttm__top_key_works(const ttm_top_key *k, char *buf, size_t len)
{
    static const struct {
        unsigned mode;
        const char *where;
    } where[] = {{TTM_TOP_MODE_VIEW, "in a view"},
                 {TTM_TOP_MODE_PROC, "the process view"},
                 {TTM_TOP_MODE_HELP, "the help screen"}};
    size_t o = 0, n = 0, total = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++)
        total += (k->modes & where[i].mode) != 0;
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        if (!(k->modes & where[i].mode))
            continue;
        if (n > 0)
            o = cat(buf, len, o, n + 1 == total ? " and " : ", ");
        o = cat(buf, len, o, n == 0 && where[i].mode != TTM_TOP_MODE_VIEW ? "in " : "");
        o = cat(buf, len, o, where[i].where);
        n++;
    }
    return buf;
}

const char *ttm__top_keys_line(ttm_top_keysec sec, char *buf, size_t len)
{
    char label[64];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ttm__top_nkeys; i++) {
        const ttm_top_key *k = &ttm__top_keys[i];
        if (k->section != sec)
            continue;
        if (o > 0)
            o = cat(buf, len, o, "   ");
        o = cat(buf, len, o, ttm__top_key_label(k, false, label, sizeof label));
        o = cat(buf, len, o, " ");
        o = cat(buf, len, o, k->help);
    }
    return buf;
}
