/*
 * top_view.c — the ncurses view of `ttmem top`: draws a laid-out frame and reads keys.
 *
 * The only file of ttmem that includes curses.h. It knows nothing of devices or processes:
 * it maps the layout's attributes to colours, and, when the locale speaks UTF-8, the history
 * graph's ASCII level glyphs to block characters. SIGWINCH is ncurses's own (it turns into
 * KEY_RESIZE); everything else about signals is the caller's.
 */
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/top_layout.h"
#include "common/alloc.h"

struct ttm_top_term {
    SCREEN *screen;
    bool colors;
    bool utf8;
    chtype attr[TTM_TOP_A__COUNT];
};

enum { PAIR_OK = 1, PAIR_WARN, PAIR_CRIT, PAIR_SHM, PAIR_HEADER, PAIR_STALE, PAIR_KEY };

static void set_attrs(ttm_top_term *t)
{
    chtype *a = t->attr;
    for (int i = 0; i < TTM_TOP_A__COUNT; i++)
        a[i] = A_NORMAL;
    a[TTM_TOP_A_TITLE] = A_BOLD;
    a[TTM_TOP_A_SORTED] = A_BOLD | A_REVERSE;
    a[TTM_TOP_A_DIM] = A_DIM;
    a[TTM_TOP_A_NA] = A_DIM;
    a[TTM_TOP_A_SELECTED] = A_REVERSE;
    if (!t->colors) {
        a[TTM_TOP_A_HEADER] = A_REVERSE;
        a[TTM_TOP_A_WARN] = A_BOLD;
        a[TTM_TOP_A_CRIT] = A_BOLD | A_UNDERLINE;
        a[TTM_TOP_A_STALE] = A_REVERSE | A_BOLD;
        a[TTM_TOP_A_KEY] = A_REVERSE;
        return;
    }
    a[TTM_TOP_A_HEADER] = COLOR_PAIR(PAIR_HEADER) | A_BOLD;
    a[TTM_TOP_A_OK] = COLOR_PAIR(PAIR_OK);
    a[TTM_TOP_A_WARN] = COLOR_PAIR(PAIR_WARN) | A_BOLD;
    a[TTM_TOP_A_CRIT] = COLOR_PAIR(PAIR_CRIT) | A_BOLD;
    a[TTM_TOP_A_STALE] = COLOR_PAIR(PAIR_STALE) | A_BOLD;
    a[TTM_TOP_A_KEY] = COLOR_PAIR(PAIR_KEY) | A_BOLD;
    a[TTM_TOP_A_SHM] = COLOR_PAIR(PAIR_SHM);
}

int ttm__top_term_open(ttm_top_term **out, char *err, size_t len)
{
    *out = NULL;
    ttm_top_term *t = ttm__xcalloc(1, sizeof *t);
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    t->utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;
    t->screen = newterm(NULL, stdout, stdin);
    if (t->screen == NULL) {
        snprintf(err, len, "cannot use the terminal (TERM=%s)",
                 getenv("TERM") ? getenv("TERM") : "unset");
        ttm__free(t);
        return TTM_EIO;
    }
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    /* Home and End as the terminals and multiplexers send them whatever TERM's terminfo says
     * (tmux and screen send ESC [ 1 ~ / ESC [ 4 ~ under an xterm TERM, rxvt ESC [ 7 ~ / 8 ~,
     * xterm in cursor mode ESC [ H / F): unknown, they would arrive as Esc, '[', a digit (a
     * device filter) and '~'. */
    static const struct { const char *seq; int key; } alt_keys[] = {
        {"\033[1~", KEY_HOME}, {"\033[4~", KEY_END}, {"\033[7~", KEY_HOME},
        {"\033[8~", KEY_END},  {"\033[H", KEY_HOME}, {"\033[F", KEY_END},
        {"\033OH", KEY_HOME},  {"\033OF", KEY_END},
    };
    for (size_t i = 0; i < sizeof alt_keys / sizeof alt_keys[0]; i++)
        if (key_defined(alt_keys[i].seq) == 0) /* not bound yet (a terminfo key stays) */
            (void)define_key(alt_keys[i].seq, alt_keys[i].key);
    set_escdelay(25); /* Esc is a key of its own (back from the process view) */
    intrflush(stdscr, FALSE);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        t->colors = true;
        init_pair(PAIR_OK, COLOR_GREEN, -1);
        init_pair(PAIR_WARN, COLOR_YELLOW, -1);
        init_pair(PAIR_CRIT, COLOR_RED, -1);
        init_pair(PAIR_SHM, COLOR_CYAN, -1);
        init_pair(PAIR_HEADER, COLOR_BLACK, COLOR_CYAN);
        init_pair(PAIR_STALE, COLOR_WHITE, COLOR_RED);
        init_pair(PAIR_KEY, COLOR_BLACK, COLOR_WHITE);
    }
    set_attrs(t);
    *out = t;
    return TTM_OK;
}

void ttm__top_term_close(ttm_top_term *t)
{
    if (t == NULL)
        return;
    curs_set(1);
    endwin();
    /* newterm()'s screen: release what ncurses can, so leak checkers see a clean exit */
    delscreen(t->screen);
    ttm__free(t);
}

void ttm__top_term_size(ttm_top_term *t, int *width, int *height)
{
    (void)t;
    int h, w;
    getmaxyx(stdscr, h, w);
    *width = w;
    *height = h;
}

/* The block character for a graph level glyph. */
static const char *block_of(char c)
{
    static const char *const blocks[] = {"_",      "\u2581", "\u2582", "\u2583", "\u2584",
                                         "\u2585", "\u2586", "\u2587", "\u2588"};
    const char *p = strchr(TTM_TOP_GRAPH_GLYPHS, c);
    return p != NULL && c != '\0' ? blocks[p - TTM_TOP_GRAPH_GLYPHS] : NULL;
}

void ttm__top_term_draw(ttm_top_term *t, const ttm_top_frame *f)
{
    int h, w;
    getmaxyx(stdscr, h, w);
    erase();
    int cols = f->width < w ? f->width : w;
    for (size_t i = 0; i < f->nlines && (int)i < h; i++)
        mvaddnstr((int)i, 0, ttm__top_frame_line(f, i), cols);
    for (size_t i = 0; i < f->nspans; i++) {
        const ttm_top_span *s = &f->spans[i];
        if ((int)s->line >= h || s->col >= cols)
            continue;
        int len = s->col + s->len <= cols ? s->len : cols - s->col;
        const char *text = ttm__top_frame_line(f, s->line) + s->col;
        attrset(t->attr[(s->attr & TTM_TOP_A_MASK) % TTM_TOP_A__COUNT]);
        if ((s->attr & TTM_TOP_A_GRAPH) && t->utf8) {
            for (int c = 0; c < len; c++) {
                const char *b = block_of(text[c]);
                if (b != NULL)
                    mvaddstr((int)s->line, s->col + c, b);
                else
                    mvaddnstr((int)s->line, s->col + c, text + c, 1);
            }
        } else {
            mvaddnstr((int)s->line, s->col, text, len);
        }
    }
    attrset(A_NORMAL);
    wnoutrefresh(stdscr);
    doupdate();
}

int ttm__top_term_key(ttm_top_term *t, int timeout_ms)
{
    (void)t;
    timeout(timeout_ms);
    int c = getch();
    switch (c) {
    case ERR:
        return -1;
    case KEY_UP:
        return TTM_TOP_KEY_UP;
    case KEY_DOWN:
        return TTM_TOP_KEY_DOWN;
    case KEY_PPAGE:
        return TTM_TOP_KEY_PGUP;
    case KEY_NPAGE:
        return TTM_TOP_KEY_PGDN;
    case KEY_HOME:
        return TTM_TOP_KEY_HOME;
    case KEY_END:
        return TTM_TOP_KEY_END;
    case KEY_BTAB:
        return TTM_TOP_KEY_BTAB;
    case KEY_LEFT:
        return TTM_TOP_KEY_LEFT;
    case KEY_ENTER:
    case '\n':
        return TTM_TOP_KEY_ENTER;
    case KEY_BACKSPACE:
    case 8:
        return TTM_TOP_KEY_BACKSPACE;
    case KEY_RESIZE:
        return TTM_TOP_KEY_RESIZE;
    default:
        return c >= 0 && c < 0x100 ? c : -1;
    }
}
