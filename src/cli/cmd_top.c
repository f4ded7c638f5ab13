/*
 * cmd_top.c — `ttmem top`: the live monitor, and its non-interactive forms.
 *
 * Interactive (a terminal): every refresh fetches a snapshot from ttmemd and scans TT-Metal's
 * shared-memory regions into the model, lays a frame out for the terminal's size and lets the
 * ncurses view draw it; keys change the view state between refreshes. --once / --loop print the
 * same layout as plain text (unbounded height unless --height), --json prints the data as the
 * "ttmem.status" document plus the shared-memory regions. Signal handlers only set flags.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/sites.h"
#include "cli/top_layout.h"
#include "cli/top_model.h"
#include "common/alloc.h"
#include "common/arch.h"
#include "common/clock.h"
#include "common/json.h"

static volatile sig_atomic_t quit_signal;

static void on_signal(int sig)
{
    quit_signal = sig;
}

/* Sleeps ms, cut short by a signal. */
static void nap(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (!quit_signal && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a wait returns at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

typedef struct top_opts {
    bool once, json;
    bool stacks;       /* --json --stacks: the findings and call sites too, symbolized */
    double loop_s;     /* 0: not looping */
    double delay_s;    /* interactive refresh */
    uint64_t iterations; /* 0: unlimited */
    const char *socket, *shm_dir;
    int width, height; /* -1: not given */
    ttm_top_state st;
} top_opts;

/* A positive number of seconds, at most a day. */
static int parse_seconds(const char *opt, const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = s != NULL ? strtod(s, &end) : 0;
    if (s == NULL || *s == '\0' || end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
        v < 0.1 || v > 86400)
        return ttm_cli_fail("top: %s wants seconds between 0.1 and 86400, not '%s'", opt,
                            s ? s : "");
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (ttm_cli_parse_u64(s, &v) != TTM_OK || v < min || v > max)
        return ttm_cli_fail("top: %s wants a whole number from %llu to %llu, not '%s'", opt,
                            (unsigned long long)min, (unsigned long long)max, s ? s : "");
    *out = v;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ttmem top [-d SECONDS] [--iterations N] [--socket PATH] [--shm-dir DIR]\n"
            "                 [--view VIEW] [--sort COLUMN] [--device N] [--exited] [--pid PID]\n"
            "       ttmem top --once | -l SECONDS [--iterations N] [--width N] [--height N]\n"
            "       ttmem top --json [--stacks] [-l SECONDS [--iterations N]]\n"
            "\n"
            "The live monitor of ttmemd and of TT-Metal's shared-memory counters.\n"
            "  -d, --delay SECONDS   refresh interval of the interactive monitor (1)\n"
            "  -1, --once            print one plain-text frame and exit (no terminal needed)\n"
            "  -l, --loop SECONDS    print a plain-text frame every SECONDS\n"
            "  -n, --iterations N    stop after N frames (interactive or --loop)\n"
            "      --json            the data as JSON (ttmem.status, plus \"shm\"); with --loop,\n"
            "                        one document per line\n"
            "      --stacks          with --json: the findings and call sites as `ttmem status\n"
            "                        --json --stacks` has them (frames symbolized)\n"
            "      --socket PATH     ttmemd's socket ($TTMEM_SOCKET, else the default)\n"
            "      --shm-dir DIR     where TT-Metal's regions are ($TTMEM_SHM_DIR, else /dev/shm)\n"
            "      --width N, --height N   size of a --once/--loop frame (terminal width, or\n"
            "                        $COLUMNS, or 100; unbounded height)\n"
            "      --view VIEW       devices, processes, diagnosis, history or sites (the live\n"
            "                        allocation sites of processes run with TTMEM_STACKS=1)\n"
            "      --sort COLUMN     pid, name, devices, dram, l1, l1_small, trace, cb, kernel,\n"
            "                        anomalies\n"
            "      --device N        show device N only\n"
            "      --exited          show the exited processes too (key x; hidden by default)\n"
            "      --pid PID         open the process view of PID (its devices and allocation\n"
            "                        sites; Esc goes back in the monitor)\n"
            "keys of the monitor (h shows them there):\n");
    char line[256];
    for (unsigned s = 0; s < TTM_TOP_KEYSEC__COUNT; s++)
        fprintf(out, "  %s\n", ttm__top_keys_line((ttm_top_keysec)s, line, sizeof line));
}

static int parse_opts(int argc, char **argv, top_opts *o)
{
    static const struct option longopts[] = {
        {"once", no_argument, NULL, '1'},
        {"loop", required_argument, NULL, 'l'},
        {"delay", required_argument, NULL, 'd'},
        {"iterations", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"stacks", no_argument, NULL, 'k'},
        {"socket", required_argument, NULL, 's'},
        {"shm-dir", required_argument, NULL, 'D'},
        {"width", required_argument, NULL, 'W'},
        {"height", required_argument, NULL, 'H'},
        {"view", required_argument, NULL, 'V'},
        {"sort", required_argument, NULL, 'S'},
        {"device", required_argument, NULL, 'F'},
        {"exited", no_argument, NULL, 'X'},
        {"pid", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->delay_s = 1.0;
    o->width = o->height = -1;
    o->shm_dir = getenv("TTMEM_SHM_DIR");
    ttm_top_view view = TTM_TOP_VIEW_DEVICES;
    ttm_top_col sort = TTM_TOP_COL_DRAM;
    bool filter = false, exited = false, pid_given = false;
    uint64_t device = 0, v = 0, pid = 0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":1l:d:n:h", longopts, NULL)) != -1) {
        switch (c) {
        case '1':
            o->once = true;
            break;
        case 'l':
            if (parse_seconds("--loop", optarg, &o->loop_s))
                return 2;
            break;
        case 'd':
            if (parse_seconds("--delay", optarg, &o->delay_s))
                return 2;
            break;
        case 'n':
            if (parse_int("--iterations", optarg, 1, UINT32_MAX, &o->iterations))
                return 2;
            break;
        case 'j':
            o->json = true;
            break;
        case 'k':
            o->stacks = true;
            break;
        case 's':
            o->socket = optarg;
            break;
        case 'D':
            o->shm_dir = optarg;
            break;
        case 'W':
            if (parse_int("--width", optarg, 20, 1000, &v))
                return 2;
            o->width = (int)v;
            break;
        case 'H':
            if (parse_int("--height", optarg, 1, 10000, &v))
                return 2;
            o->height = (int)v;
            break;
        case 'V':
            if (ttm__top_view_parse(optarg, &view) != TTM_OK)
                return ttm_cli_fail("top: unknown view '%s'; the views are devices, processes, "
                                    "diagnosis, history, sites",
                                    optarg);
            break;
        case 'S':
            if (ttm__top_col_parse(optarg, &sort) != TTM_OK)
                return ttm_cli_fail("top: unknown column '%s'; see 'ttmem top --help'", optarg);
            break;
        case 'F':
            if (parse_int("--device", optarg, 0, 65535, &device))
                return 2;
            filter = true;
            break;
        case 'X':
            exited = true;
            break;
        case 'P':
            if (parse_int("--pid", optarg, 1, INT32_MAX, &pid))
                return 2;
            pid_given = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case ':':
            return ttm_cli_fail("top: option '%s' is missing its value", argv[optind - 1]);
        default:
            return ttm_cli_fail("top: unknown option '%s'; see 'ttmem top --help'",
                                argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ttm_cli_fail("top: unexpected argument '%s'; see 'ttmem top --help'",
                            argv[optind]);
    if (o->once && o->loop_s > 0)
        return ttm_cli_fail("top: --once and --loop exclude each other");
    if ((o->width > 0 || o->height > 0) && !o->once && o->loop_s == 0)
        return ttm_cli_fail("top: --width and --height are for --once and --loop; the "
                            "monitor uses the terminal's size");
    if (o->once && o->iterations > 0)
        return ttm_cli_fail("top: --iterations does not go with --once (one frame)");
    if (o->stacks && !o->json)
        return ttm_cli_fail("top: --stacks is for --json; the monitor shows call sites in its "
                            "sites view (key l, or --view sites)");
    if (pid_given && o->json)
        return ttm_cli_fail("top: --pid opens the process view, which --json does not draw; "
                            "the JSON document has every process");
    unsigned refresh_ms = (unsigned)((o->loop_s > 0 ? o->loop_s : o->delay_s) * 1000.0 + 0.5);
    ttm__top_state_init(&o->st, refresh_ms);
    o->st.view = view;
    ttm__top_state_sort(&o->st, sort);
    o->st.filter = filter;
    o->st.filter_device = (uint32_t)device;
    o->st.show_exited = exited;
    if (pid_given) { /* the daemon's process; a TT-Metal one once the first refresh shows it */
        o->st.proc_open = o->st.sel_set = true;
        o->st.proc_src = o->st.sel_src = TTM_TOP_SRC_DAEMON;
        o->st.proc_pid = o->st.sel_pid = (uint32_t)pid;
    }
    return 0;
}

/* What the next refresh asks for: the call sites of the view shown. --pid names a pid, not a
 * source: a pid only TT-Metal's regions report is theirs. */
static void top_wants(ttm_top_model *m, ttm_top_state *st)
{
    m->want_sites = !st->proc_open && st->view == TTM_TOP_VIEW_SITES;
    m->want_procsites = st->proc_open && st->proc_src == TTM_TOP_SRC_DAEMON;
}

static void top_pid_source(ttm_top_model *m, ttm_top_state *st)
{
    if (st->proc_open && ttm__top_proc_find(m, st->proc_src, st->proc_pid) == NULL &&
        ttm__top_proc_find(m, TTM_TOP_SRC_SHM, st->proc_pid) != NULL)
        st->proc_src = st->sel_src = TTM_TOP_SRC_SHM;
}

/* ---- plain text ---------------------------------------------------------------------------- */

static int text_width(const top_opts *o)
{
    if (o->width > 0)
        return o->width;
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    uint64_t v;
    if (cols != NULL && ttm_cli_parse_u64(cols, &v) == TTM_OK && v >= 20 && v <= 1000)
        return (int)v;
    return 100;
}

/* Prints a frame's lines without their trailing blanks. Returns 0 or 1 (write error). */
static int print_frame(const ttm_top_frame *f)
{
    for (size_t i = 0; i < f->nlines; i++) {
        const char *s = ttm__top_frame_line(f, i);
        size_t n = strlen(s);
        while (n > 0 && s[n - 1] == ' ')
            n--;
        fwrite(s, 1, n, stdout);
        fputc('\n', stdout);
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int nothing_error(const ttm_top_model *m)
{
    fprintf(stderr,
            "ttmem: top: nothing to monitor: ttmemd %s at %s (%s) and there are no TT-Metal "
            "regions in %s; start 'ttmemd', or run your program under 'ttmem record -- CMD'\n",
            m->daemon_code == TTM_OK || m->daemon_code == TTM_ECONN ? "is not running"
                                                                    : "does not answer",
            m->socket_path, m->daemon_err[0] ? m->daemon_err : "no answer", m->shm_dir);
    return 1;
}

static int run_text(top_opts *o, ttm_top_model *m)
{
    ttm_top_frame f;
    memset(&f, 0, sizeof f);
    uint64_t frames = o->once ? 1 : o->iterations;
    uint64_t interval_ms = (uint64_t)(o->loop_s * 1000.0 + 0.5);
    int rc = 0;
    o->st.plain = true;
    for (uint64_t i = 0; !quit_signal && (frames == 0 || i < frames); i++) {
        uint64_t start = ttm__mono_ns();
        top_wants(m, &o->st);
        if (ttm__top_model_refresh(m, 2000, start) != TTM_OK) {
            ttm_cli_fail("top: out of memory");
            rc = 1;
            break;
        }
        top_pid_source(m, &o->st);
        if (i == 0 && ttm__top_model_empty(m)) {
            rc = nothing_error(m);
            break;
        }
        if (ttm__top_layout(m, &o->st, text_width(o), o->height > 0 ? o->height : 0, &f) !=
            TTM_OK) {
            ttm_cli_fail("top: out of memory");
            rc = 1;
            break;
        }
        if (i > 0)
            fputc('\n', stdout);
        if (print_frame(&f) != 0) {
            rc = 1; /* the reader went away */
            break;
        }
        if (frames == 0 || i + 1 < frames) {
            uint64_t spent = (ttm__mono_ns() - start) / 1000000u;
            nap(spent < interval_ms ? interval_ms - spent : 0);
        }
    }
    ttm__top_frame_free(&f);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static int run_json(top_opts *o, ttm_top_model *m)
{
    uint64_t frames = o->loop_s > 0 ? o->iterations : 1;
    uint64_t interval_ms = (uint64_t)(o->loop_s * 1000.0 + 0.5);
    char qpath[TTM_CLI_PATH_MAX + 8];
    if (ttm__snap_query_path(m->socket_path, qpath, sizeof qpath) != TTM_OK)
        return ttm_cli_fail("top: the query socket path '%s.query' is too long",
                            m->socket_path);
    /* one symbolizer for every frame of a loop: its caches carry over */
    ttm_sym *sym = NULL;
    if (o->stacks && ttm_sym_open(&sym) != TTM_OK)
        return ttm_cli_fail("top: out of memory opening the symbolizer");
    int rc = 0;
    for (uint64_t i = 0; !quit_signal && (frames == 0 || i < frames); i++) {
        uint64_t start = ttm__mono_ns();
        ttm_report s;
        memset(&s, 0, sizeof s);
        char msg[200] = "";
        ttm_snap_query q = {.sections = TTM_SNAP_WANT_STATUS};
        if (o->stacks)
            q.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS) | TTM_SNAP_BIT(TTM_SNAP_SEC_FINDINGS);
        if (i == 0) /* the daemon's history: the first document shows the last minutes */
            q.sections |= TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY);
        int err = ttm_report_fetch(qpath, &q, 2000, &s, msg, sizeof msg);
        if (err == TTM_OK && o->stacks)
            ttm_cli_symbolize(&s, sym);
        ttm_ttshm_region *regions = NULL;
        size_t nregions = 0;
        (void)ttm__ttshm_scan(m->shm_dir, &regions, &nregions);
        if (err != TTM_OK && nregions == 0 && i == 0) {
            snprintf(m->daemon_err, sizeof m->daemon_err, "%s", msg[0] ? msg : ttm_strerror(err));
            m->daemon_code = err;
            ttm__free(regions);
            rc = nothing_error(m);
            break;
        }
        ttm_json j;
        /* one document per line when looping, so that a reader can split them */
        ttm__json_init(&j, stdout, o->loop_s == 0);
        ttm__json_obj_begin(&j, NULL);
        ttm__json_str(&j, "schema", "ttmem.status");
        ttm__json_u64(&j, "schema_version", TTM_CLI_STATUS_SCHEMA_VERSION);
        ttm__json_str(&j, "source", "ttmem top");
        ttm__json_str(&j, "host", m->host);
        /* the same document as `ttmem status --json`, from the one writer of it */
        ttm_cli_shm shm = {.dir = m->shm_dir, .regions = regions, .n = nregions};
        ttm_cli_json_status(&j, err == TTM_OK ? &s : NULL, m->socket_path,
                            msg[0] ? msg : ttm_strerror(err), &shm);
        ttm__json_obj_end(&j);
        ttm__json_finish(&j);
        ttm_report_clear(&s);
        ttm__free(regions);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            rc = 1;
            break;
        }
        if (frames == 0 || i + 1 < frames) {
            uint64_t spent = (ttm__mono_ns() - start) / 1000000u;
            nap(spent < interval_ms ? interval_ms - spent : 0);
        }
    }
    ttm_sym_close(sym);
    return rc;
}

/* ---- interactive --------------------------------------------------------------------------- */

static int run_interactive(top_opts *o, ttm_top_model *m)
{
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
        return ttm_cli_fail("top: not a terminal; use 'ttmem top --once' (or --loop SECONDS, "
                            "--json) for plain output");
    char err[200];
    ttm_top_term *term = NULL;
    if (ttm__top_term_open(&term, err, sizeof err) != TTM_OK)
        return ttm_cli_fail("top: %s; use 'ttmem top --once' for plain output", err);
    ttm_top_frame f;
    memset(&f, 0, sizeof f);
    ttm_top_state *st = &o->st;
    uint64_t interval_ns = (uint64_t)(o->delay_s * 1e9 + 0.5);
    int timeout_ms = o->delay_s < 1.0 ? (int)(o->delay_s * 1000) : 1000;
    uint64_t refreshes = 0, next = 0;
    int rc = 0;
    bool relayout = true;
    while (!quit_signal) {
        uint64_t now = ttm__mono_ns();
        if (!st->paused && now >= next) {
            if (o->iterations > 0 && refreshes >= o->iterations)
                break; /* the last frame has been shown for one interval */
            top_wants(m, st);
            if (ttm__top_model_refresh(m, timeout_ms, now) != TTM_OK) {
                rc = 1;
                break;
            }
            top_pid_source(m, st);
            refreshes++;
            now = ttm__mono_ns();
            next = now + interval_ns;
            relayout = true;
        }
        if (relayout) {
            int w, h;
            ttm__top_term_size(term, &w, &h);
            if (ttm__top_layout(m, st, w, h, &f) != TTM_OK) {
                rc = 1;
                break;
            }
            st->scroll = f.scroll; /* keep the scroll where the layout clamped it */
            ttm__top_term_draw(term, &f);
            relayout = false;
        }
        /* wait for a key until the next refresh (or a second when paused) */
        uint64_t wait_ns = st->paused ? 1000000000ull : next > now ? next - now : 0;
        int wait_ms = (int)((wait_ns + 999999) / 1000000);
        int key = ttm__top_term_key(term, wait_ms > 1000 ? 1000 : wait_ms);
        if (key < 0)
            continue;
        int w, h;
        ttm__top_term_size(term, &w, &h);
        ttm_top_action act = ttm__top_state_key(st, m, key, ttm__mono_ns(), h > 8 ? h - 8 : 1);
        if (act == TTM_TOP_ACT_QUIT)
            break;
        if (act == TTM_TOP_ACT_REFRESH)
            next = 0;
        if (act != TTM_TOP_ACT_NONE)
            relayout = true;
    }
    ttm__top_frame_free(&f);
    ttm__top_term_close(term);
    if (rc != 0)
        ttm_cli_fail("top: out of memory");
    return rc;
}

/* ---- the command --------------------------------------------------------------------------- */

int ttm_cli_top(int argc, char **argv)
{
    top_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    char sock[TTM_CLI_PATH_MAX], qpath[TTM_CLI_PATH_MAX];
    rc = ttm_cli_socket_paths(o.socket, NULL, sock, qpath, sizeof sock);
    if (rc != 0)
        return rc;
    char host[64] = "";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';

    ttm_top_model *m = ttm__xcalloc(1, sizeof *m);
    ttm__top_model_init(m, host, sock, o.shm_dir);
    m->hist_step_ms = o.st.refresh_ms; /* the daemon's history is seeded in cells of this */
    quit_signal = 0;
    install_signals();
    if (o.json)
        rc = run_json(&o, m);
    else if (o.once || o.loop_s > 0)
        rc = run_text(&o, m);
    else
        rc = run_interactive(&o, m);
    ttm__top_model_free(m);
    ttm__free(m);
    return rc;
}
