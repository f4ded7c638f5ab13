/*
 * main.c — ttmemd: options, becoming a daemon, and the life of the process around the event
 * loop (listen, run, summarise, clean up).
 *
 * By default ttmemd detaches: the command returns once the daemon listens (or prints why it
 * could not), and the daemon logs to DIR/ttmemd.log next to its socket. --foreground keeps it
 * attached and logging to stderr (tests, systemd, `ttmem record`). The socket's directory is
 * created and checked before anything is created in it, the log file included. --system runs
 * the host-wide daemon: socket in --system-dir (root's, 0750) of --group (docs/DAEMON.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/arch.h"
#include "common/paths.h"
#include "common/poc.h"
#include "common/snapshot.h"
#include "daemon/daemon.h"
#include "daemon/history.h"
#include "daemon/loop.h"
#include "daemon/log.h"
#include "daemon/metrics_http.h"

#define USAGE                                                                                    \
    "usage: ttmemd [--foreground] [--socket PATH] [--query-socket PATH] [--log-level "          \
    "error|warn|info|debug]\n"                                                                   \
    "              [--log-file PATH] [--pid-file PATH] [--max-clients N] "                       \
    "[--max-live-per-client N] [--keep-exited N] [--ready-fd FD]\n"                           \
    "              [--arch grayskull|wormhole_b0|blackhole]\n"                                 \
    "              [--metrics-listen [ADDR:]PORT] [--shm-dir DIR] [--state-file PATH | "       \
    "--no-state]\n"                                                                          \
    "              [--checkpoint-interval MS] [--system [--system-dir DIR] [--group NAME|GID]]\n"

#define USAGE_POC                                                                                \
    "              [--poc-socket[=PATH]] [--poc-size 72|112|144] [--poc-log] [--devices N]\n"

#define USAGE_JOURNAL                                                                            \
    "              [--journal DIR|FILE.ttmem [--journal-title TEXT] [--journal-file-bytes N]\n" \
    "               [--journal-max-bytes N]]\n"

#define USAGE_HISTORY                                                                            \
    "              [--history-interval MS] [--history-len N]\n"

static int usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("ttmemd: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("; see 'ttmemd --help'\n", stderr);
    return 2;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-')
        return TTM_EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v < min || v > max)
        return TTM_EINVAL;
    *out = (uint32_t)v;
    return TTM_OK;
}

static int copy_path(char *dst, size_t cap, const char *src, const char *what)
{
    if (src[0] == '\0' || strlen(src) >= cap)
        return usage_fail("%s '%s' is empty or longer than %zu bytes", what, src, cap - 1);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* Long options without a letter of their own. */
enum { OPT_METRICS_LISTEN = 0x200, OPT_SHM_DIR, OPT_SYSTEM, OPT_SYSTEM_DIR, OPT_GROUP,
       OPT_KEEP_EXITED };

/* Persistence across restarts (state.c, docs/DAEMON.md "Restart"). */
enum { OPT_STATE_FILE = 0x400, OPT_NO_STATE, OPT_CHECKPOINT };

/* The run journal (journal_out.c, docs/DAEMON.md "The journal"). */
enum { OPT_JOURNAL = 0x500, OPT_JOURNAL_TITLE, OPT_JOURNAL_FILE_BYTES, OPT_JOURNAL_MAX_BYTES };
/* The usage history (history.h, docs/DAEMON.md "History"). */
enum { OPT_HISTORY_INTERVAL = 0x600, OPT_HISTORY_LEN };

/* The legacy allocation-server protocol's options (poc.c, docs/COMPAT.md). */
enum { OPT_POC_SOCKET = 0x300, OPT_POC_SIZE, OPT_POC_LOG, OPT_DEVICES };

/* The group named by s (a name or a number) into *gid. Returns 0 or TTM_ENOENT. */
static int resolve_group(const char *s, gid_t *gid)
{
    struct group gr, *found = NULL;
    char buf[4096];
    if (getgrnam_r(s, &gr, buf, sizeof buf, &found) == 0 && found != NULL) {
        *gid = found->gr_gid;
        return TTM_OK;
    }
    uint32_t v;
    if (parse_u32(s, 0, UINT32_MAX - 1, &v) == TTM_OK) {
        *gid = (gid_t)v;
        return TTM_OK;
    }
    return TTM_ENOENT;
}

/* --journal PATH, made absolute (a detached daemon works in /). */
static int journal_path(ttm_daemon_config *cfg, const char *path)
{
    char cwd[PATH_MAX] = "";
    if (path[0] == '\0')
        return usage_fail("--journal needs a directory or a file ending in .ttmem");
    if (path[0] != '/' && getcwd(cwd, sizeof cwd) == NULL)
        return usage_fail("--journal '%s': cannot tell the current directory: %s", path,
                          strerror(errno));
    int n = snprintf(cfg->journal_path, sizeof cfg->journal_path, "%s%s%s", cwd,
                     cwd[0] != '\0' ? "/" : "", path);
    if (n < 0 || (size_t)n > 3900) /* room for a rotated name (journal_out.c) */
        return usage_fail("--journal '%s' is too long", path);
    return 0;
}

/* Parses the command line into cfg. Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, ttm_daemon_config *cfg)
{
    static const struct option longopts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"socket", required_argument, NULL, 's'},
        {"query-socket", required_argument, NULL, 'q'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-file", required_argument, NULL, 'L'},
        {"pid-file", required_argument, NULL, 'p'},
        {"max-clients", required_argument, NULL, 'c'},
        {"max-live-per-client", required_argument, NULL, 'm'},
        {"ready-fd", required_argument, NULL, 'r'},
        {"arch", required_argument, NULL, 'a'},
        {"poc-socket", optional_argument, NULL, OPT_POC_SOCKET},
        {"poc-size", required_argument, NULL, OPT_POC_SIZE},
        {"poc-log", no_argument, NULL, OPT_POC_LOG},
        {"devices", required_argument, NULL, OPT_DEVICES},
        {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
        {"shm-dir", required_argument, NULL, OPT_SHM_DIR},
        {"state-file", required_argument, NULL, OPT_STATE_FILE},
        {"no-state", no_argument, NULL, OPT_NO_STATE},
        {"checkpoint-interval", required_argument, NULL, OPT_CHECKPOINT},
        {"system", no_argument, NULL, OPT_SYSTEM},
        {"system-dir", required_argument, NULL, OPT_SYSTEM_DIR},
        {"group", required_argument, NULL, OPT_GROUP},
        {"keep-exited", required_argument, NULL, OPT_KEEP_EXITED},
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"journal-title", required_argument, NULL, OPT_JOURNAL_TITLE},
        {"journal-file-bytes", required_argument, NULL, OPT_JOURNAL_FILE_BYTES},
        {"journal-max-bytes", required_argument, NULL, OPT_JOURNAL_MAX_BYTES},
        {"history-interval", required_argument, NULL, OPT_HISTORY_INTERVAL},
        {"history-len", required_argument, NULL, OPT_HISTORY_LEN},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool have_socket = false, have_query = false, have_state = false, no_state = false;
    bool journal_opts = false; /* a --journal-* option: needs --journal */
    char system_dir[TTM_SOCK_PATH_MAX] = "";
    uint32_t v;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            cfg->foreground = true;
            break;
        case 's':
            if (copy_path(cfg->socket_path, sizeof cfg->socket_path, optarg, "--socket") != 0)
                return 2;
            have_socket = true;
            break;
        case 'q':
            if (copy_path(cfg->query_path, sizeof cfg->query_path, optarg, "--query-socket") != 0)
                return 2;
            have_query = true;
            break;
        case 'l':
            if (ttm__log_parse_level(optarg, &ttm__log_level) != TTM_OK)
                return usage_fail("--log-level must be error, warn, info or debug, not '%s'",
                                  optarg);
            break;
        case 'L':
            if (copy_path(cfg->log_file, sizeof cfg->log_file, optarg, "--log-file") != 0)
                return 2;
            break;
        case 'p':
            if (copy_path(cfg->pid_file, sizeof cfg->pid_file, optarg, "--pid-file") != 0)
                return 2;
            break;
        case 'c':
            if (parse_u32(optarg, 1, 65536, &v) != TTM_OK)
                return usage_fail("--max-clients must be a number from 1 to 65536, not '%s'",
                                  optarg);
            cfg->max_clients = v;
            break;
        case 'm':
            if (parse_u32(optarg, 0, UINT32_MAX, &v) != TTM_OK)
                return usage_fail("--max-live-per-client must be a number (0 = unlimited), "
                                  "not '%s'",
                                  optarg);
            cfg->max_live_per_client = v;
            break;
        case 'r':
            if (parse_u32(optarg, 3, 65535, &v) != TTM_OK || fcntl((int)v, F_GETFD) < 0)
                return usage_fail("--ready-fd '%s' is not an open descriptor above 2", optarg);
            cfg->ready_fd = (int)v;
            break;
        case 'a': {
            ttm_arch arch;
            if (ttm__arch_parse(optarg, &arch) != TTM_OK)
                return usage_fail("--arch must be grayskull, wormhole_b0 or blackhole, not '%s'",
                                  optarg);
            cfg->default_arch = (uint32_t)arch;
            break;
        }
        case OPT_METRICS_LISTEN: {
            ttm_metrics_addr addr;
            char why[200];
            if (ttm__metrics_addr_parse(optarg, &addr, why, sizeof why) != TTM_OK)
                return usage_fail("%s", why);
            if (copy_path(cfg->metrics_listen, sizeof cfg->metrics_listen, optarg,
                          "--metrics-listen") != 0)
                return 2;
            break;
        }
        case OPT_KEEP_EXITED: /* session.c: exited processes kept, most recent first */
            if (parse_u32(optarg, 1, 1024, &v) != TTM_OK)
                return usage_fail("--keep-exited must be a number from 1 to 1024, not '%s'",
                                  optarg);
            cfg->keep_exited = v;
            break;
        case OPT_SHM_DIR:
            if (copy_path(cfg->shm_dir, sizeof cfg->shm_dir, optarg, "--shm-dir") != 0)
                return 2;
            break;
        case OPT_STATE_FILE:
            if (copy_path(cfg->state_file, sizeof cfg->state_file, optarg, "--state-file") != 0)
                return 2;
            have_state = true;
            break;
        case OPT_NO_STATE:
            no_state = true;
            break;
        case OPT_CHECKPOINT:
            if (parse_u32(optarg, 0, 86400000, &v) != TTM_OK)
                return usage_fail("--checkpoint-interval must be milliseconds from 0 (only at a "
                                  "clean stop) to 86400000, not '%s'",
                                  optarg);
            cfg->checkpoint_ms = v;
            break;
        case OPT_SYSTEM:
            cfg->system = true;
            break;
        case OPT_SYSTEM_DIR:
            if (optarg[0] != '/')
                return usage_fail("--system-dir must be an absolute path, not '%s'", optarg);
            if (copy_path(system_dir, sizeof system_dir - sizeof "/" TTM_SOCKET_NAME, optarg,
                          "--system-dir") != 0)
                return 2;
            break;
        case OPT_GROUP:
            if (copy_path(cfg->group, sizeof cfg->group, optarg, "--group") != 0)
                return 2;
            break;
        case OPT_POC_SOCKET: {
            /* --poc-socket, --poc-socket=PATH, or --poc-socket PATH (a word not starting
             * with '-') */
            const char *path = optarg;
            if (path == NULL && optind < argc && argv[optind][0] != '-')
                path = argv[optind++];
            if (copy_path(cfg->poc_path, sizeof cfg->poc_path,
                          path != NULL ? path : TTM_POC_DEFAULT_SOCKET, "--poc-socket") != 0)
                return 2;
            break;
        }
        case OPT_POC_SIZE:
            if (parse_u32(optarg, 72, 144, &v) != TTM_OK || (v != 72 && v != 112 && v != 144))
                return usage_fail("--poc-size must be 72, 112 or 144, not '%s'", optarg);
            cfg->poc_size = v;
            break;
        case OPT_POC_LOG:
            cfg->poc_log = true;
            break;
        case OPT_DEVICES:
            if (parse_u32(optarg, 1, 1024, &v) != TTM_OK)
                return usage_fail("--devices must be a number from 1 to 1024, not '%s'", optarg);
            cfg->devices = v;
            break;
        case OPT_JOURNAL:
            if (journal_path(cfg, optarg) != 0)
                return 2;
            break;
        case OPT_JOURNAL_TITLE:
            if (strlen(optarg) >= sizeof cfg->journal_title)
                return usage_fail("--journal-title is longer than %zu bytes",
                                  sizeof cfg->journal_title - 1);
            snprintf(cfg->journal_title, sizeof cfg->journal_title, "%s", optarg);
            journal_opts = true;
            break;
        case OPT_JOURNAL_FILE_BYTES:
        case OPT_JOURNAL_MAX_BYTES: {
            bool file = c == OPT_JOURNAL_FILE_BYTES;
            uint64_t n;
            if (ttm__journal_parse_size(optarg, &n) != TTM_OK || n < 4096)
                return usage_fail("%s must be a size of at least 4096 bytes (K, M or G "
                                  "suffix allowed), not '%s'",
                                  file ? "--journal-file-bytes" : "--journal-max-bytes", optarg);
            *(file ? &cfg->journal_file_bytes : &cfg->journal_max_bytes) = n;
            journal_opts = true;
            break;
        }
        case OPT_HISTORY_INTERVAL:
            if (parse_u32(optarg, TTM_HISTORY_INTERVAL_MS_MIN, TTM_HISTORY_INTERVAL_MS_MAX, &v) !=
                TTM_OK)
                return usage_fail("--history-interval must be milliseconds from %u (the "
                                  "daemon's tick) to %u, not '%s'",
                                  TTM_HISTORY_INTERVAL_MS_MIN, TTM_HISTORY_INTERVAL_MS_MAX,
                                  optarg);
            cfg->history_interval_ms = v;
            break;
        case OPT_HISTORY_LEN:
            if (parse_u32(optarg, 0, TTM_HISTORY_LEN_MAX, &v) != TTM_OK)
                return usage_fail("--history-len must be a number of samples from 0 (no "
                                  "history) to %u, not '%s'",
                                  TTM_HISTORY_LEN_MAX, optarg);
            cfg->history_len = v;
            break;
        case 'h':
            fputs(USAGE, stdout);
            fputs(USAGE_POC, stdout);
            fputs(USAGE_JOURNAL, stdout);
            fputs(USAGE_HISTORY, stdout);
            printf("\nThe socket defaults to $TTMEM_SOCKET, else $XDG_RUNTIME_DIR/ttmem/ttmemd.sock, "
                   "else /tmp/ttmem-$UID/ttmemd.sock;\nthe query socket to SOCKET.query. "
                   "--system: the host-wide daemon (as root), socket\n"
                   "DIR/ttmemd.sock (DIR: --system-dir, else $TTMEM_SYSTEM_DIR, else "
                   TTM_SYSTEM_DIR_DEFAULT ") of group\n--group (default "
                   TTM_SYSTEM_GROUP_DEFAULT "). See docs/DAEMON.md.\n"
                   "--journal writes every event to a run journal: a directory gets files\n"
                   "ttmem-HOST-RUNID-SEQ.ttmem rotated at --journal-file-bytes (default 256M), the "
                   "oldest\ndeleted beyond --journal-max-bytes (default 4G); a path ending in "
                   ".ttmem is one file\ncapped at --journal-max-bytes. See docs/JOURNAL.md.\n"
                   "--history-interval (default 1000 ms) and --history-len (default 720 samples, "
                   "0 = off):\nevery device's DRAM and L1 use kept for `ttmem top`'s first "
                   "frame.\n");
            return 0;
        case 'V':
            printf("ttmemd %s\n", TTM_VERSION);
            return 0;
        default:
            if (optopt != 0)
                return usage_fail("option '%s' is missing its value or is unknown",
                                  argv[optind - 1]);
            return usage_fail("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_fail("unexpected argument '%s'", argv[optind]);
    if (journal_opts && cfg->journal_path[0] == '\0')
        return usage_fail("--journal-title, --journal-file-bytes and --journal-max-bytes go "
                          "with --journal");
    if (cfg->journal_file_bytes == 0)
        cfg->journal_file_bytes = TTM_JOURNAL_FILE_BYTES_DEFAULT;
    if (cfg->journal_max_bytes == 0)
        cfg->journal_max_bytes = cfg->journal_file_bytes > TTM_JOURNAL_MAX_BYTES_DEFAULT
                                     ? cfg->journal_file_bytes
                                     : TTM_JOURNAL_MAX_BYTES_DEFAULT;
    if (cfg->journal_max_bytes < cfg->journal_file_bytes && !ttm_journal_is_file_name(cfg->journal_path))
        return usage_fail("--journal-max-bytes (%llu) must be at least --journal-file-bytes "
                          "(%llu)",
                          (unsigned long long)cfg->journal_max_bytes,
                          (unsigned long long)cfg->journal_file_bytes);
    if (cfg->devices > 0 && cfg->default_arch == 0)
        return usage_fail("--devices needs --arch to say what the devices are");
    if ((system_dir[0] != '\0' || cfg->group[0] != '\0') && !cfg->system)
        return usage_fail("--system-dir and --group go with --system");
    if (cfg->system) {
        if (have_socket)
            return usage_fail("--system puts the socket in --system-dir DIR; --socket does not "
                              "go with it");
        if (system_dir[0] == '\0' && ttm__system_dir(system_dir, sizeof system_dir) != TTM_OK)
            return usage_fail("$TTMEM_SYSTEM_DIR is too long; use --system-dir DIR");
        if ((size_t)snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s/" TTM_SOCKET_NAME,
                             system_dir) >= sizeof cfg->socket_path)
            return usage_fail("--system-dir '%s' is too long for a socket in it", system_dir);
        if (cfg->group[0] == '\0')
            snprintf(cfg->group, sizeof cfg->group, "%s", TTM_SYSTEM_GROUP_DEFAULT);
        if (resolve_group(cfg->group, &cfg->gid) != TTM_OK)
            return usage_fail("group '%s' does not exist: create it (groupadd --system %s) or "
                              "name another with --group",
                              cfg->group, cfg->group);
    } else if (!have_socket) {
        if (ttm__default_socket_path(cfg->socket_path, sizeof cfg->socket_path) != TTM_OK)
            return usage_fail("the default socket path is too long; use --socket PATH");
        const char *env = getenv("TTMEM_SOCKET");
        cfg->default_socket = env == NULL || env[0] == '\0';
    }
    if (!have_query &&
        ttm__snap_query_path(cfg->socket_path, cfg->query_path, sizeof cfg->query_path) != TTM_OK)
        return usage_fail("the query socket path '%s.query' is too long; use --query-socket",
                          cfg->socket_path);
    if (strcmp(cfg->query_path, cfg->socket_path) == 0)
        return usage_fail("the query socket must differ from the socket");
    if ((size_t)snprintf(cfg->lock_path, sizeof cfg->lock_path, "%s.lock", cfg->socket_path) >=
        sizeof cfg->lock_path)
        return usage_fail("socket path too long");
    if (have_state && no_state)
        return usage_fail("--state-file and --no-state exclude each other");
    if (no_state)
        cfg->state_file[0] = '\0';
    else if (!have_state && (size_t)snprintf(cfg->state_file, sizeof cfg->state_file, "%s.state",
                                             cfg->socket_path) >= sizeof cfg->state_file)
        return usage_fail("socket path too long");
    if (!cfg->foreground && cfg->log_file[0] == '\0') {
        char copy[TTM_SOCK_PATH_MAX];
        snprintf(copy, sizeof copy, "%s", cfg->socket_path);
        snprintf(cfg->log_file, sizeof cfg->log_file, "%s/ttmemd.log", dirname(copy));
    }
    return -1;
}

/* Detaches: returns in the daemon (with *notify_fd set to the pipe that tells the waiting
 * parent how startup went); the parent waits for that word and exits with it. */
static int detach(int *notify_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        fprintf(stderr, "ttmemd: cannot create a pipe: %s\n", strerror(errno));
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ttmemd: cannot fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid > 0) { /* the command the user ran: wait for the verdict */
        close(p[1]);
        char buf[512];
        size_t off = 0;
        ssize_t n;
        while (off < sizeof buf - 1 && (n = read(p[0], buf + off, sizeof buf - 1 - off)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            off += (size_t)n;
        }
        buf[off] = '\0';
        waitpid(pid, NULL, 0);
        if (strncmp(buf, "ready\n", 6) == 0)
            return 0;
        if (off == 0)
            fputs("ttmemd: the daemon died while starting; see its log\n", stderr);
        else
            fputs(buf, stderr);
        return 1;
    }
    close(p[0]);
    if (setsid() < 0)
        _exit(1);
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0); /* the session leader goes: the daemon can never regain a terminal */
    if (chdir("/") != 0)
        _exit(1);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    *notify_fd = p[1];
    return -1;
}

/* Tells whoever waits how startup went: "ready\n", or the error line. */
static void notify(int *fd, const char *line)
{
    if (*fd < 0)
        return;
    size_t len = strlen(line);
    while (len > 0) {
        ssize_t n = write(*fd, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        line += n;
        len -= (size_t)n;
    }
    close(*fd);
    *fd = -1;
}

/* --devices N: device-info events for devices 0..N-1 with the --arch profile, for clients
 * that never describe their devices (the legacy protocol has no such message). */
static void announce_devices(ttm_daemon *d)
{
    const ttm_arch_profile *p = ttm__arch_profile(d->cfg.default_arch);
    for (uint32_t i = 0; i < d->cfg.devices && p != NULL; i++) {
        ttm_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_DEVICE_INFO;
        ev.device = (uint16_t)i;
        ev.ts = ttm__mono_ns();
        ev.dram_capacity = ttm__arch_dram_bytes(p);
        ev.l1_capacity = ttm__arch_l1_bytes(p);
        ev.arch = (uint32_t)p->arch;
        ev.worker_cores = p->worker_cores;
        ev.l1_per_core = p->l1_per_core;
        ev.dram_channels = p->dram_channels;
        uint32_t mask = ttm_registry_apply(d->reg, 0, &ev);
        ttm__journal_events(d, 0, &ev, &mask, 1);
    }
}

/* ---- the event loop and its modules ------------------------------------------------------- */

/* SIGINT and SIGTERM stop the loop at the end of the turn that reads them, SIGHUP reopens the
 * log file (read from the loop's signalfd: no work in signal handlers). */
static void on_signal(ttm_loop *l, void *arg, int signo, uint32_t from_pid)
{
    ttm_daemon *d = arg;
    if (signo == SIGHUP) {
        if (d->cfg.log_file[0] != '\0' && ttm__log_open(d->cfg.log_file) != TTM_OK)
            TTM_LOG(ERROR, "cannot reopen log file %s: %s", d->cfg.log_file, strerror(errno));
        TTM_LOG(INFO, "SIGHUP: log reopened");
        return;
    }
    TTM_LOG(INFO, "%s from pid %u: stopping", strsignal(signo), from_pid);
    ttm__loop_stop(l);
}

/* The daemon's own tick, before the modules': the rate limits' "N similar lines suppressed"
 * lines once a second. */
static void daemon_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    (void)arg;
    if (ticks % (1000 / TTM_DAEMON_TICK_MS) == 0)
        ttm__log_tick();
}

/* The usage history's sample, when due (history.h: it reads the registry's counters). */
static void history_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    (void)ticks;
    ttm_daemon *d = arg;
    (void)ttm__history_tick(d->history, d->reg, ttm__mono_ns());
}

/* The HISTORY section of a snapshot: the samples the ring holds (none when out of memory). */
static void history_fill(const ttm_daemon *d, const void *owner, ttm_report *out)
{
    (void)owner;
    ttm__schema_free(&ttm_rec_report_history, &out->history);
    (void)ttm__history_fill(d->history, &out->history);
}

/* Wires every module into the loop: signals, the daemon's tick, the native sessions, the
 * query socket, the Prometheus endpoint, the legacy socket, the process table's
 * once-a-second check, the state's checkpoints and the usage history. The
 * order is the order of their ticks and before-sleep hooks: rings are drained before queries
 * are answered. Returns 0, TTM_EIO (errno says why) or TTM_ENOMEM (the history's rings). */
static int wire(ttm_daemon *d)
{
    static const int signos[] = {SIGINT, SIGTERM, SIGHUP};
    int err = ttm__loop_open(&d->loop, TTM_DAEMON_TICK_MS, d);
    if (err != TTM_OK)
        return err;
    if (ttm__loop_signals(d->loop, signos, 3, on_signal, d) != TTM_OK)
        return TTM_EIO;
    ttm__loop_on_tick(d->loop, &d->daemon_tick, daemon_tick, d);
    if (ttm__session_register(d) != TTM_OK || ttm__query_register(d) != TTM_OK ||
        ttm__metrics_http_register(d) != TTM_OK || ttm__poc_register(d) != TTM_OK)
        return TTM_EIO;
    ttm__proc_register(d);
    ttm__state_register(d);
    if (d->cfg.history_len > 0) {
        uint32_t iv = d->cfg.history_interval_ms ? d->cfg.history_interval_ms
                                                 : TTM_HISTORY_INTERVAL_MS_DEFAULT;
        if ((err = ttm__history_open(&d->history, iv, d->cfg.history_len)) != TTM_OK)
            return err;
        ttm__loop_on_tick(d->loop, &d->history_tick, history_tick, d);
    }
    /* a disabled history answers too: interval 0, no samples */
    d->history_part = (ttm_report_part){.sections = TTM_SNAP_BIT(TTM_SNAP_SEC_HISTORY),
                                        .fill = history_fill};
    ttm__report_part_add(d, &d->history_part);
    return TTM_OK;
}

/* Runs the daemon's loop until a stop signal. Returns 0 or TTM_EIO. */
static int run(ttm_daemon *d)
{
    int err = wire(d);
    if (err == TTM_ENOMEM) {
        TTM_LOG(ERROR, "cannot set up the event loop: out of memory for the usage history "
                       "(--history-len)");
        return TTM_EIO;
    }
    if (err != TTM_OK) {
        TTM_LOG(ERROR, "cannot set up the event loop: %s", strerror(errno));
        return TTM_EIO;
    }
    d->start_ns = ttm__mono_ns();
    if (ttm__loop_run(d->loop) != TTM_OK) {
        TTM_LOG(ERROR, "epoll_wait failed: %s", strerror(errno));
        return TTM_EIO;
    }
    return TTM_OK;
}

void ttm__daemon_summary(ttm_daemon *d)
{
    ttm__log_tick();
    if (TTM_LOG_INFO > ttm__log_level)
        return;
    ttm_totals t;
    ttm_registry_totals(d->reg, &t);
    uint64_t waited = 0;
    for (size_t i = 0; i < d->nprocs; i++)
        waited = ttm__sat_add(waited, d->procs[i]->waited);
    ttm__log_write(TTM_LOG_INFO,
            "summary: %llu events from %llu sessions (%llu refused, %llu rejected), %llu "
            "allocations, %llu frees, %llu live buffers; %llu waited for room, %llu dropped "
            "while no daemon existed, %llu handled by a previous daemon",
            (unsigned long long)d->events, (unsigned long long)d->clients_total,
            (unsigned long long)d->clients_refused, (unsigned long long)d->clients_rejected,
            (unsigned long long)t.allocs, (unsigned long long)t.frees,
            (unsigned long long)t.live_records, (unsigned long long)waited, (unsigned long long)d->dropped,
            (unsigned long long)d->prior_events);
    ttm__log_write(TTM_LOG_INFO,
                   "summary: %llu ring errors (%llu implausible counters), %llu connections "
                   "closed without a hello to make room, %llu exited processes not kept, %llu "
                   "log lines suppressed by the rate limits",
                   (unsigned long long)d->ring_errors, (unsigned long long)d->counters_rejected,
                   (unsigned long long)d->pending_evicted, (unsigned long long)d->procs_dropped,
                   (unsigned long long)ttm__log_suppressed_total());
    for (unsigned c = 0; c < TTM_CLASS__COUNT; c++)
        if (t.class_count[c] > 0)
            ttm__log_write(TTM_LOG_INFO, "summary: %-16s %llu (%llu bytes): %s", ttm_class_name(c),
                    (unsigned long long)t.class_count[c], (unsigned long long)t.class_bytes[c],
                    ttm_class_help(c));
}

int main(int argc, char **argv)
{
    ttm_daemon *d = calloc(1, sizeof *d);
    if (d == NULL) {
        fputs("ttmemd: out of memory\n", stderr);
        return 70;
    }
    d->listen_fd = d->query_fd = d->lock_fd = -1;
    d->cfg.ready_fd = -1;
    d->cfg.max_clients = 256;
    d->cfg.checkpoint_ms = TTM_STATE_CHECKPOINT_MS;
    d->cfg.history_len = TTM_HISTORY_LEN_DEFAULT;
    int rc = parse_options(argc, argv, &d->cfg);
    if (rc >= 0) {
        free(d);
        return rc;
    }
    int notify_fd = d->cfg.ready_fd;
    if (!d->cfg.foreground) {
        rc = detach(&notify_fd);
        if (rc >= 0) {
            free(d);
            return rc;
        }
    }
    char msg[600], why[400];
    /* The directory first: the default log file lives in it, and nothing is created in a
     * directory that has not passed its check. */
    int err = ttm__listen_dir(d, why, sizeof why);
    if (err == TTM_OK && d->cfg.log_file[0] != '\0' && ttm__log_open(d->cfg.log_file) != TTM_OK) {
        int e = errno;
        snprintf(why, sizeof why, "cannot open log file %.300s: %s", d->cfg.log_file,
                 e == ELOOP ? "it is a symbolic link; remove it"
                 : e == EPERM ? "it is not a plain file of ours; remove it"
                              : strerror(e));
        err = TTM_EIO;
    }
    if (err != TTM_OK) { /* one line: on stderr in the foreground, else through the parent */
        snprintf(msg, sizeof msg, "ttmemd: %.500s\n", why);
        if (d->cfg.foreground || notify_fd < 0)
            fputs(msg, stderr);
        notify(&notify_fd, msg);
        free(d);
        return 1;
    }
    if (!d->cfg.foreground) { /* stderr follows the log from now on */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* Block the stop signals before anyone can learn we are ready: one sent right after
     * "ready" then waits for the loop's signalfd and gets the clean stop, not a default death. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop_set, NULL);
    /* Snapshots allocate and free the same few hundred KiB per query: keep such blocks in the
     * heap instead of mapping fresh (page-faulting) memory every time. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);

    ttm_registry_config rcfg = {.max_live_per_pid = d->cfg.max_live_per_client};
    err = ttm_registry_open(&d->reg, &rcfg);
    if (err != TTM_OK) {
        snprintf(msg, sizeof msg, "ttmemd: cannot create the registry: %s\n", ttm_strerror(err));
        goto out_fail;
    }
    if (d->cfg.default_arch != 0)
        ttm_registry_set_default_arch(d->reg, (ttm_arch)d->cfg.default_arch);
    err = ttm__listen_open(d, why, sizeof why);
    if (err != TTM_OK) {
        snprintf(msg, sizeof msg, "ttmemd: %.500s\n", why);
        goto out_close_registry;
    }
    (void)ttm__state_load(d); /* under the daemon lock, before anyone is served */
    err = ttm__journal_open(d, why, sizeof why); /* after the state: it begins the file */
    if (err != TTM_OK) {
        snprintf(msg, sizeof msg, "ttmemd: %.500s\n", why);
        goto out_close_listen;
    }
    err = ttm__metrics_http_open(d, why, sizeof why);
    if (err != TTM_OK) {
        snprintf(msg, sizeof msg, "ttmemd: %.500s\n", why);
        goto out_close_listen;
    }
    announce_devices(d);
    err = ttm__poc_open(d, why, sizeof why);
    if (err != TTM_OK) {
        snprintf(msg, sizeof msg, "ttmemd: %.500s\n", why);
        goto out_close_metrics;
    }
    err = ttm__pidfile_write(d, why, sizeof why);
    if (err != TTM_OK) {
        snprintf(msg, sizeof msg, "ttmemd: %.500s\n", why);
        goto out_close_poc;
    }
    TTM_LOG(INFO, "ttmemd %s listening on %s (queries on %s); at most %u clients and %u live "
                  "records per client (0 = unlimited)",
            TTM_VERSION, d->cfg.socket_path, d->cfg.query_path, d->cfg.max_clients,
            d->cfg.max_live_per_client);
    notify(&notify_fd, "ready\n");

    rc = run(d) == TTM_OK ? 0 : 1;
    ttm__metrics_http_close(d);
    ttm__query_close_all(d);
    ttm__poc_close(d);
    ttm__session_close_all(d);
    if (d->loop != NULL)
        ttm__loop_reap(d->loop);
    ttm__journal_close(d); /* after the final drains: every event is in it */
    (void)ttm__state_save(d, "stopping");
    ttm__daemon_summary(d);
    ttm__pidfile_remove(d);
    ttm__listen_close(d);
    ttm__proc_table_free(d);
    ttm__loop_close(d->loop);
    ttm__history_close(d->history);
    ttm_registry_close(d->reg);
    TTM_LOG(INFO, "stopped");
    ttm__log_open(NULL);
    free(d);
    return rc;

out_close_poc:
    ttm__poc_close(d);
out_close_metrics:
    ttm__metrics_http_close(d);
out_close_listen:
    ttm__journal_close(d);
    ttm__listen_close(d);
out_close_registry:
    ttm_registry_close(d->reg);
out_fail:
    if (d->cfg.log_file[0] != '\0') /* the log file keeps it; stderr gets the plain line */
        TTM_LOG(ERROR, "%.*s", (int)strcspn(msg + 8, "\n"), msg + 8);
    if (d->cfg.foreground)
        fputs(msg, stderr);
    notify(&notify_fd, msg);
    ttm__log_open(NULL);
    free(d);
    return 1;
}
