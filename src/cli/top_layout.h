/*
 * top_layout.h — the pure layout of `ttmem top`: given a model, a view state and a size, the
 * lines of one frame, each with attribute spans.
 *
 * No ncurses types, no I/O, no clock: the layout is a function of its arguments, so it is
 * unit-tested without a terminal, rendered as plain text by `ttmem top --once`, and drawn by
 * the ncurses view (top_view.c). Text is ASCII, one byte per terminal cell; every line of a
 * frame is exactly `width` bytes (space-padded) plus a NUL. Cells of a history graph carry
 * TTM_TOP_A_GRAPH so a view may draw their level glyphs as block characters.
 *
 * Lifecycle: zero a ttm_top_frame; ttm__top_layout() fills it (reusing its memory from the
 * previous frame); ttm__top_frame_free() releases it (NULL is a no-op).
 *
 * Also here: the keys as a pure state transition (ttm__top_state_key) and the key table it
 * dispatches through (top_keys.c), and the terminal (top_view.c). The layout's own parts and
 * primitives are internal: top_parts.h, top_draw.h.
 */
#ifndef TTM_CLI_TOP_LAYOUT_H
#define TTM_CLI_TOP_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/top_model.h"

#define TTM_TOP_MIN_WIDTH 70  /* smallest terminal the interactive monitor draws in */
#define TTM_TOP_MIN_HEIGHT 16
#define TTM_TOP_WARN_PCT 75.0 /* a bar turns yellow at this share of capacity ... */
#define TTM_TOP_CRIT_PCT 90.0 /* ... and red at this one */
#define TTM_TOP_HIST_WINDOW_S 300u /* the history graph covers the last five minutes */

/* Views, X(name, text); v / Tab cycles through them in this order. */
#define TTM_TOP_VIEW_MAP(X)                                                                     \
    X(DEVICES, "devices")                                                                       \
    X(PROCESSES, "processes")                                                                   \
    X(DIAGNOSIS, "diagnosis")                                                                   \
    X(HISTORY, "history")                                                                       \
    X(SITES, "sites")

typedef enum ttm_top_view {
#define TTM__TOP_VIEW_ENUM(name, text) TTM_TOP_VIEW_##name,
    TTM_TOP_VIEW_MAP(TTM__TOP_VIEW_ENUM)
#undef TTM__TOP_VIEW_ENUM
        TTM_TOP_VIEW__COUNT
} ttm_top_view;

/* Process table columns, X(name, text); s / < / > move the sort through them in this order. */
#define TTM_TOP_COL_MAP(X)                                                                      \
    X(PID, "pid")                                                                               \
    X(NAME, "name")                                                                             \
    X(DEVS, "devices")                                                                          \
    X(DRAM, "dram")                                                                             \
    X(L1, "l1")                                                                                 \
    X(L1_SMALL, "l1_small")                                                                     \
    X(TRACE, "trace")                                                                           \
    X(CB, "cb")                                                                                 \
    X(KERNEL, "kernel")                                                                         \
    X(ANOM, "anomalies")

typedef enum ttm_top_col {
#define TTM__TOP_COL_ENUM(name, text) TTM_TOP_COL_##name,
    TTM_TOP_COL_MAP(TTM__TOP_COL_ENUM)
#undef TTM__TOP_COL_ENUM
        TTM_TOP_COL__COUNT
} ttm_top_col;

/* How devices are drawn: AUTO picks the richest that fits. FULL: three lines per device (bars
 * for DRAM and L1, breakdown); LINE: one line per device; GRID: a cell per device (a Galaxy's
 * 32 chips in a few lines). c cycles through them. */
typedef enum ttm_top_devmode {
    TTM_TOP_DEV_AUTO = 0,
    TTM_TOP_DEV_FULL,
    TTM_TOP_DEV_LINE,
    TTM_TOP_DEV_GRID,
    TTM_TOP_DEV__COUNT
} ttm_top_devmode;

/* What the user chose; the layout never changes it. */
typedef struct ttm_top_state {
    ttm_top_view view;
    ttm_top_col sort;
    bool ascending;          /* default descending for sizes, ascending for pid and name */
    bool filter;             /* show one device only ... */
    uint32_t filter_device;  /* ... this one */
    int scroll;              /* first row of the view's scrolling list (clamped by the layout) */
    bool paused;
    bool help;               /* the help screen instead of the view */
    bool plain;              /* --once: no key hints */
    ttm_top_devmode devmode;
    unsigned refresh_ms;     /* shown in the header; sets the history graph's resolution */
    bool typing;             /* digits typed for a device number ... */
    uint32_t typed;          /* ... their value so far */
    uint64_t typed_ns;       /* ... and when the last one came */
    bool show_exited;        /* exited (X) and ghost (G) processes in the table (key x) */
    bool sel_set;            /* a process is selected (else the table's first row is) ... */
    ttm_top_src sel_src;     /* ... this one: the selection follows it across refreshes */
    uint32_t sel_pid;
    bool proc_open;          /* the process view of (proc_src, proc_pid) is shown */
    ttm_top_src proc_src;
    uint32_t proc_pid;
} ttm_top_state;

/* Attributes of spans. Colours are the view's business; the layout says what a cell means. */
typedef enum ttm_top_attr {
    TTM_TOP_A_NORMAL = 0,
    TTM_TOP_A_HEADER,  /* the title bar */
    TTM_TOP_A_TITLE,   /* section titles, table headers */
    TTM_TOP_A_SORTED,  /* the sorted column's header */
    TTM_TOP_A_DIM,     /* exited processes, secondary text */
    TTM_TOP_A_NA,      /* a value the source does not have */
    TTM_TOP_A_OK,      /* below TTM_TOP_WARN_PCT */
    TTM_TOP_A_WARN,    /* from TTM_TOP_WARN_PCT */
    TTM_TOP_A_CRIT,    /* from TTM_TOP_CRIT_PCT; also findings that need attention */
    TTM_TOP_A_STALE,   /* the daemon was lost: the frame shows old data */
    TTM_TOP_A_KEY,     /* a key in the hints */
    TTM_TOP_A_SHM,     /* counters-only rows (TT-Metal shared memory) */
    TTM_TOP_A_SELECTED, /* the selected process's row */
    TTM_TOP_A__COUNT
} ttm_top_attr;
#define TTM_TOP_A_GRAPH 0x80u /* or'ed into an attribute: history graph level glyphs */
#define TTM_TOP_A_MASK 0x7fu

/* History graph glyphs, by level 0 (zero use) .. 8 (full); ' ' is "no sample". */
#define TTM_TOP_GRAPH_GLYPHS "_.:-=+*#@"

typedef struct ttm_top_span {
    uint32_t line;
    uint16_t col, len;
    uint8_t attr; /* ttm_top_attr, maybe | TTM_TOP_A_GRAPH */
} ttm_top_span;

/* One process row as the table shows it: values restricted to the filtered device. */
typedef struct ttm_top_row {
    size_t proc;                       /* index into model->procs */
    uint32_t valid;                    /* TTM_TOP_V_MEM bits, TTM_TOP_V_ANOM */
    uint64_t bytes[TTM_MEMTYPE_COUNT];
    uint32_t ndevs;                    /* devices shown */
} ttm_top_row;

typedef struct ttm_top_frame {
    int width, height;        /* as asked; height 0 = unbounded (every row of every section) */
    size_t nlines;
    char *text;               /* nlines lines of width + 1 bytes */
    size_t nspans;
    ttm_top_span *spans;      /* in line order; a later span wins where two overlap */
    bool too_small;           /* the frame is the one-line "too small" message */
    int scroll;               /* the scroll applied */
    int scroll_max;           /* the largest useful scroll of the view's list */
    size_t hidden;            /* exited processes the table does not show (st->show_exited) */
    /* owned storage */
    size_t cap_lines, cap_spans, cap_rows, cap_devs;
    ttm_top_row *rows;
    size_t *devs;             /* indexes of the devices shown (the filter applied) */
    int err;
} ttm_top_frame;

/*
 * Lays out one frame of m (may be empty, never NULL) in the state st, width x height cells
 * (height 0: unbounded, as --once prints). Returns 0 or TTM_ENOMEM (the frame is then empty).
 * A width or height below TTM_TOP_MIN_* (height bounded) gives the one-line too-small frame.
 */
int ttm__top_layout(const ttm_top_model *m, const ttm_top_state *st, int width, int height,
                    ttm_top_frame *f);

/* Frees a frame's storage and zeroes it; NULL is a no-op. */
void ttm__top_frame_free(ttm_top_frame *f);

/* Line i of a frame (width bytes, NUL-terminated). i must be < f->nlines. */
const char *ttm__top_frame_line(const ttm_top_frame *f, size_t i);

/* The process rows the table would show, sorted and filtered as st says (exited ones only
 * with st->show_exited), into rows (room for m->nprocs). Returns how many; *hidden (may be
 * NULL) gets how many exited processes were left out. */
size_t ttm__top_proc_rows(const ttm_top_model *m, const ttm_top_state *st, ttm_top_row *rows,
                          size_t *hidden);

/* The index in rows of the selected process: the row of (st->sel_src, st->sel_pid), else 0
 * (the first row: nothing selected yet, or the selected process is no longer shown). */
size_t ttm__top_sel_row(const ttm_top_model *m, const ttm_top_state *st, const ttm_top_row *rows,
                        size_t nrows);

/* The model's process (st->proc_src, st->proc_pid) of the process view, or NULL when it is no
 * longer reported. */
const ttm_top_proc *ttm__top_proc_find(const ttm_top_model *m, ttm_top_src src, uint32_t pid);

/* The attribute of a use level: OK below 75% of capacity, WARN from 75%, CRIT from 90%; NA when
 * the capacity is unknown (0). */
ttm_top_attr ttm__top_level_attr(uint64_t used, uint64_t capacity);

/* The default state: devices view, sorted by DRAM descending, all devices, refresh_ms. */
void ttm__top_state_init(ttm_top_state *st, unsigned refresh_ms);

/* Names ("devices", "dram") and parsing (case-insensitive; returns 0 or TTM_EINVAL). */
const char *ttm__top_view_name(ttm_top_view v);
const char *ttm__top_col_name(ttm_top_col c);
int ttm__top_view_parse(const char *s, ttm_top_view *out);
int ttm__top_col_parse(const char *s, ttm_top_col *out);
/* Sets the sort column with its natural direction (names and pids ascending, sizes descending). */
void ttm__top_state_sort(ttm_top_state *st, ttm_top_col c);

/* ---- keys ---------------------------------------------------------------------------------- */

/* Keys as the view reports them: printable ASCII, Tab (9) and Esc (27) as themselves, these for
 * the rest. */
enum {
    TTM_TOP_KEY_UP = 0x101,
    TTM_TOP_KEY_DOWN,
    TTM_TOP_KEY_PGUP,
    TTM_TOP_KEY_PGDN,
    TTM_TOP_KEY_HOME,
    TTM_TOP_KEY_END,
    TTM_TOP_KEY_BTAB,
    TTM_TOP_KEY_LEFT,
    TTM_TOP_KEY_RESIZE
};
#define TTM_TOP_KEY_ENTER '\r'   /* Enter (the view maps the keypad's Enter to it) */
#define TTM_TOP_KEY_ESC 27
#define TTM_TOP_KEY_BACKSPACE 127 /* the view maps the terminal's Backspace to it */

/* What the loop must do after a key. */
typedef enum ttm_top_action {
    TTM_TOP_ACT_NONE = 0, /* nothing changed */
    TTM_TOP_ACT_REDRAW,   /* lay the frame out again */
    TTM_TOP_ACT_REFRESH,  /* fetch now, then redraw (resumed from pause) */
    TTM_TOP_ACT_QUIT
} ttm_top_action;

#define TTM_TOP_TYPING_NS 1000000000ull /* digits within this form one device number */

/* Applies a key to the state (pure: now_ns is the caller's monotonic clock, used to join
 * digits into one device number; page is the rows a PgUp/PgDn moves). The device key d cycles
 * through the model's device ids. Dispatches through the key table (ttm__top_keys): the row
 * that binds the key in the current mode acts; on the help screen any other key closes it.
 * TTM_TOP_KEY_RESIZE is the terminal's event, not a key: it redraws in every mode. Returns
 * what to do next. */
ttm_top_action ttm__top_state_key(ttm_top_state *st, const ttm_top_model *m, int key,
                                  uint64_t now_ns, int page);

/* ---- the key table -------------------------------------------------------------------------- */

/* The modes a key works in, as bits. */
#define TTM_TOP_MODE_VIEW 0x1u /* a view is shown */
#define TTM_TOP_MODE_HELP 0x2u /* the help screen is shown (a key bound in no row closes it) */
#define TTM_TOP_MODE_PROC 0x4u /* the process view is shown */
#define TTM_TOP_MODE_ALL 0x7u

/* The sections of the help screen in their order, X(name, title): each is one line of it. */
#define TTM_TOP_KEYSEC_MAP(X)                                                                   \
    X(GENERAL, "general")                                                                       \
    X(VIEW, "views")                                                                            \
    X(SORT, "sorting")                                                                          \
    X(FILTER, "device filter")                                                                  \
    X(DISPLAY, "device display")                                                                \
    X(PROCESS, "processes")                                                                     \
    X(SCROLL, "selection and scrolling")

typedef enum ttm_top_keysec {
#define TTM__TOP_KEYSEC_ENUM(name, title) TTM_TOP_KEYSEC_##name,
    TTM_TOP_KEYSEC_MAP(TTM__TOP_KEYSEC_ENUM)
#undef TTM__TOP_KEYSEC_ENUM
        TTM_TOP_KEYSEC__COUNT
} ttm_top_keysec;

/* One binding of a row: a key, or the range key..last, and the argument its action gets. */
typedef struct ttm_top_keybind {
    int key;  /* printable ASCII, Tab, or TTM_TOP_KEY_*; 0 ends a row's bindings */
    int last; /* 0: the one key; else the last key of the range key..last */
    int arg;  /* passed to the action: a direction, a step */
    bool alt; /* the other direction of the action: shown after " / " */
} ttm_top_keybind;

/* What an action sees: the state it changes and what the key came with. */
typedef struct ttm_top_keyctx {
    ttm_top_state *st;
    const ttm_top_model *m;
    int key;         /* the key pressed (the digit of a range) */
    uint64_t now_ns; /* the caller's monotonic clock */
    int page;        /* rows a page moves (>= 1) */
    bool typing;     /* a device number was being typed before this key */
} ttm_top_keyctx;

#define TTM_TOP_KEY_BINDS 9 /* bindings of a row, with the ending 0 */

/* One row of the key table: a key (its bindings), what it does, the modes it works in, its
 * help line and its section of the help screen. The state machine, the help screen, the
 * usage text and docs/TOP.md's key list all come from these rows. */
typedef struct ttm_top_key {
    const char *name;                 /* the action, as tests and messages call it */
    ttm_top_keysec section;
    unsigned modes;                   /* TTM_TOP_MODE_* bits */
    ttm_top_action (*act)(const ttm_top_keyctx *k, int arg);
    ttm_top_keybind keys[TTM_TOP_KEY_BINDS];
    const char *help;                 /* one line, shown after the row's keys */
} ttm_top_key;

/* The key table, in help-screen order. */
extern const ttm_top_key ttm__top_keys[];
extern const size_t ttm__top_nkeys;

/* The row that binds key in mode (a TTM_TOP_MODE_* bit), with the binding's argument in *arg
 * (may be NULL); NULL when no row does. */
const ttm_top_key *ttm__top_key_find(int key, unsigned mode, int *arg);

/* A key's name as the help shows it: "v", "Tab", "S-Tab", "space", "PgUp" (at least 8 bytes;
 * returns buf). */
const char *ttm__top_key_name(int key, char *buf, size_t len);

/* Where a row's keys work, as docs/TOP.md's key list says it: "in a view", "in a view and
 * the process view", ... Returns buf (cut to len). */
const char *ttm__top_key_works(const ttm_top_key *k, char *buf, size_t len);

/* A row's keys as the help shows them, "v Tab / S-Tab", "0-9"; with backticks around each
 * name (markdown), "`v` `Tab` / `S-Tab`". Returns buf (cut to len). */
const char *ttm__top_key_label(const ttm_top_key *k, bool markdown, char *buf, size_t len);

/* The help screen's line for a section: its rows' "keys help" items, three spaces apart
 * (without the line's indent). Returns buf (cut to len). */
const char *ttm__top_keys_line(ttm_top_keysec sec, char *buf, size_t len);

/* ---- the terminal (top_view.c, the only file that includes curses.h) ------------------------ */

typedef struct ttm_top_term ttm_top_term;

/* Takes over the terminal (ncurses: raw keys, no echo, colours when it has them, UTF-8 graph
 * glyphs when the locale is UTF-8). Returns 0, or TTM_EIO with a line in err (len bytes).
 * ttm__top_term_close() gives the terminal back; NULL is a no-op. */
int ttm__top_term_open(ttm_top_term **out, char *err, size_t len);
void ttm__top_term_close(ttm_top_term *t);
/* The terminal's size in cells. */
void ttm__top_term_size(ttm_top_term *t, int *width, int *height);
/* Draws a frame (its lines, then its spans' attributes) and updates the screen. */
void ttm__top_term_draw(ttm_top_term *t, const ttm_top_frame *f);
/* Waits up to timeout_ms for a key; returns it (TTM_TOP_KEY_* for special keys), or -1. */
int ttm__top_term_key(ttm_top_term *t, int timeout_ms);

#endif /* TTM_CLI_TOP_LAYOUT_H */
