/*
 * it_poc_replay.c — replays a simulator scenario as the prototype's client sent it: the
 * scenario runs with the LEGACY client behaviour (addresses only, typeless frees) and each
 * ALLOC and FREE goes to ttmemd's legacy socket as one 72-byte message, over one connection,
 * as a TT-Metal process instrumented for the prototype would send them. Circular buffers and
 * kernel code go as CB_ALLOC / CB_FREE and KERNEL_LOAD / KERNEL_UNLOAD.
 *
 *   it_poc_replay SCENARIO SOCKET [SEED [-- CMD...]]
 *
 * CMD (e.g. `ttmem status --json`) runs once the daemon applied every message, while the
 * senders are still connected and alive: what the daemon says then has no exit in it (an exit
 * settles the process's provisional causes, and a log has no exits).
 * The daemon knows a process by its connection's (kernel's) pid, so a scenario of several
 * processes is sent by as many processes: one forked sender per simulated pid, each with its own
 * connection, and the stream cut into runs of consecutive messages of one pid, sent in order,
 * each run ended by a QUERY whose reply says the daemon applied it before the next run goes.
 * The daemon thus applies the messages in the scenario's order. Process exits are not sent
 * (the protocol has none; the senders exit at the end), so only scenarios whose exits change
 * no class can be compared with their truth (poc.sh says which).
 *
 * Once every message is sent, the scenario's ground truth is printed as one JSON object: class
 * counts and, per cause of unmatched frees (issue 13), the frees and the ambiguous ones, for the
 * test to compare with what `ttmem analyze-log` finds in the daemon's --poc-log output.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/registry.h"
#include "sim/sim.h"

#define MAX_PROCS 64 /* simulated processes (scenarios have a handful) */

/* A run: consecutive messages of one simulated process. */
typedef struct run {
    size_t off, len;
    unsigned proc;
} run;

typedef struct replay {
    uint8_t *buf; /* the messages, in order */
    size_t len, cap;
    uint32_t pids[MAX_PROCS]; /* the simulated processes, by their first message */
    unsigned nprocs;
    run *runs;
    size_t nruns, runcap;
    uint64_t messages, skipped;
} replay;

static void *grow(void *p, size_t *cap, size_t elem)
{
    size_t n = *cap ? *cap * 2 : 4096;
    void *q = realloc(p, n * elem);
    if (q == NULL) {
        fputs("it_poc_replay: out of memory\n", stderr);
        exit(1);
    }
    *cap = n;
    return q;
}

/* The run the next message of pid belongs to (a new one when the pid changes). */
static void note_run(replay *r, uint32_t pid)
{
    unsigned proc = 0;
    while (proc < r->nprocs && r->pids[proc] != pid)
        proc++;
    if (proc == r->nprocs) {
        if (r->nprocs == MAX_PROCS) {
            fprintf(stderr, "it_poc_replay: more than %d processes\n", MAX_PROCS);
            exit(2);
        }
        r->pids[r->nprocs++] = pid;
    }
    if (r->nruns > 0 && r->runs[r->nruns - 1].proc == proc) {
        r->runs[r->nruns - 1].len += 72;
        return;
    }
    if (r->nruns == r->runcap)
        r->runs = grow(r->runs, &r->runcap, sizeof *r->runs);
    r->runs[r->nruns++] = (run){.off = r->len, .len = 72, .proc = proc};
}

static void le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static void on_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    replay *r = arg;
    if (ev->kind != TTM_EV_ALLOC && ev->kind != TTM_EV_FREE) {
        r->skipped++; /* device info, marks, process start/exit: the protocol has none */
        return;
    }
    note_run(r, pid);
    while (r->len + 72 > r->cap)
        r->buf = grow(r->buf, &r->cap, 1);
    uint8_t *m = r->buf + r->len;
    memset(m, 0, 72);
    bool alloc = ev->kind == TTM_EV_ALLOC;
    uint8_t type;
    if (ev->memtype == TTM_MEM_CB)
        type = alloc ? 8 : 9;
    else if (ev->memtype == TTM_MEM_KERNEL)
        type = alloc ? 10 : 11;
    else
        type = alloc ? 1 : 2;
    m[0] = type;
    le(m + 4, ev->device, 4);
    le(m + 8, alloc || type != 2 ? ev->size : 0, 8);
    m[16] = type == 1 ? ev->memtype : 0;
    le(m + 20, pid, 4); /* the simulated pid: the daemon must use the kernel's */
    le(m + 24, ev->addr, 8);
    le(m + 32, alloc ? ev->ts : 0, 8);
    r->len += 72;
    r->messages++;
}

static int send_all(int fd, const uint8_t *b, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int poc_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "it_poc_replay: cannot connect to %s: %s\n", path, strerror(errno));
        return -1;
    }
    return fd;
}

/* Sends len bytes of messages, then a QUERY, and waits for its RESPONSE: the daemon has
 * applied every message before it. 0, or -1 with one line said. */
static int send_run(int fd, const uint8_t *b, size_t len)
{
    uint8_t q[72] = {3}; /* QUERY device 0 */
    if (send_all(fd, b, len) != 0 || send_all(fd, q, sizeof q) != 0) {
        fprintf(stderr, "it_poc_replay: send failed: %s\n", strerror(errno));
        return -1;
    }
    uint8_t reply[72];
    size_t got = 0;
    while (got < sizeof reply) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 30000) <= 0)
            break;
        ssize_t n = read(fd, reply + got, sizeof reply - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got != sizeof reply || reply[0] != 4) {
        fprintf(stderr, "it_poc_replay: no RESPONSE to a QUERY (%zu bytes)\n", got);
        return -1;
    }
    return 0;
}

/* One sender: connects, then sends each run the parent names (its index on *cmd), and answers
 * with one byte on *ack once the daemon applied it; ends at EOF. */
static void sender(const replay *r, const char *path, int cmd, int ack)
{
    int fd = poc_connect(path);
    if (fd < 0)
        _exit(1);
    size_t i;
    while (read(cmd, &i, sizeof i) == (ssize_t)sizeof i) {
        if (i >= r->nruns || send_run(fd, r->buf + r->runs[i].off, r->runs[i].len) != 0)
            _exit(1);
        if (write(ack, "k", 1) != 1)
            _exit(1);
    }
    close(fd);
    _exit(0);
}

/* Runs cmd (NULL: nothing) and waits for it. 0 when it ran and exited 0, or 1 said. */
static int run_cmd(char **cmd)
{
    if (cmd == NULL)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("it_poc_replay: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(cmd[0], cmd);
        fprintf(stderr, "it_poc_replay: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "it_poc_replay: %s failed (0x%x)\n", cmd[0], status);
        return 1;
    }
    return 0;
}

/* Several processes: one sender each, the runs handed out in order, then cmd while they are
 * still connected. 0, or 1 said. */
static int replay_procs(const replay *r, const char *path, char **then)
{
    pid_t kids[MAX_PROCS];
    int cmd[MAX_PROCS], ack[MAX_PROCS];
    for (unsigned k = 0; k < r->nprocs; k++) {
        int c[2], a[2];
        if (pipe(c) != 0 || pipe(a) != 0) {
            perror("it_poc_replay: pipe");
            return 1;
        }
        fflush(NULL);
        kids[k] = fork();
        if (kids[k] < 0) {
            perror("it_poc_replay: fork");
            return 1;
        }
        if (kids[k] == 0) {
            for (unsigned j = 0; j < k; j++) { /* the other senders' ends */
                close(cmd[j]);
                close(ack[j]);
            }
            close(c[1]);
            close(a[0]);
            sender(r, path, c[0], a[1]);
        }
        close(c[0]);
        close(a[1]);
        cmd[k] = c[1];
        ack[k] = a[0];
    }
    int rc = 0;
    for (size_t i = 0; i < r->nruns && rc == 0; i++) {
        unsigned k = r->runs[i].proc;
        char x;
        if (write(cmd[k], &i, sizeof i) != (ssize_t)sizeof i || read(ack[k], &x, 1) != 1) {
            fprintf(stderr, "it_poc_replay: the sender of run %zu failed\n", i);
            rc = 1;
        }
    }
    if (rc == 0)
        rc = run_cmd(then);
    for (unsigned k = 0; k < r->nprocs; k++) {
        close(cmd[k]);
        close(ack[k]);
    }
    for (unsigned k = 0; k < r->nprocs; k++) {
        int status = 0;
        if (waitpid(kids[k], &status, 0) != kids[k] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            rc = 1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    char **then = argc > 5 && strcmp(argv[4], "--") == 0 ? argv + 5 : NULL;
    if (argc != 3 && argc != 4 && then == NULL) {
        fputs("usage: it_poc_replay SCENARIO SOCKET [SEED [-- CMD...]]\n", stderr);
        return 2;
    }
    struct sockaddr_un sa;
    if (strlen(argv[2]) >= sizeof sa.sun_path) {
        fprintf(stderr, "it_poc_replay: socket path too long\n");
        return 2;
    }
    uint64_t seed = argc >= 4 ? strtoull(argv[3], NULL, 10) : 1;
    replay r = {0};
    ttm_sim_truth truth;
    int err = ttm_sim_run(argv[1], TTM_SIM_LEGACY, seed, on_event, &r, &truth);
    if (err != TTM_OK) {
        fprintf(stderr, "it_poc_replay: cannot run scenario '%s': %s\n", argv[1],
                ttm_strerror(err));
        return 2;
    }
    int rc;
    if (r.nprocs <= 1) { /* one process: one connection of this one */
        int fd = poc_connect(argv[2]);
        rc = fd < 0 || send_run(fd, r.buf, r.len) != 0 || run_cmd(then) != 0;
        if (fd >= 0)
            close(fd);
    } else {
        rc = replay_procs(&r, argv[2], then);
    }
    free(r.buf);
    free(r.runs);
    if (rc != 0)
        return 1;
    static const ttm_class shown[] = {TTM_CLASS_ALLOC_OK, TTM_CLASS_DUPLICATE_ALLOC,
                                      TTM_CLASS_FREE_OK, TTM_CLASS_EXCESS_FREE,
                                      TTM_CLASS_UNKNOWN_FREE, TTM_CLASS_FOREIGN_FREE,
                                      TTM_CLASS_OVERLAP};
    printf("{\"scenario\": \"%s\", \"seed\": %llu, \"messages\": %llu, \"processes\": %u",
           argv[1], (unsigned long long)seed, (unsigned long long)r.messages, r.nprocs);
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        printf(", \"%s\": %llu", ttm_class_name(shown[i]),
               (unsigned long long)truth.class_count[shown[i]]);
    printf(", \"causes\": {");
    for (unsigned c = 0; c < TTM_CAUSE__COUNT; c++)
        printf("%s\"%s\": {\"frees\": %llu, \"allocs\": %llu, \"ambiguous\": %llu}",
               c ? ", " : "", ttm_cause_name(c), (unsigned long long)truth.cause_count[c],
               (unsigned long long)truth.cause_allocs[c],
               (unsigned long long)truth.cause_ambiguous[c]);
    printf("}}\n");
    return 0;
}
