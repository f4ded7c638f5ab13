/*
 * test_client.c — unit tests of libttmem (src/client) through its public API, against a small
 * in-test fake daemon: a thread that accepts HELLOs on a temporary socket, maps each client's
 * ring and drains it with ttm__ring_consume(). No real ttmemd is involved.
 *
 * The enable gate is read once per process, so every case runs in its own forked process with
 * its own environment (run_case); a failing check there prints the line and exits non-zero.
 *
 * Covered: disabled by default (no socket, no thread), the two enabling variables, no daemon
 * (one stderr line, then quiet; drops counted with TTM_EAGAIN once the ring fills), argument
 * checks, the session (HELLO fields, SO_PEERCRED pid, every field of every event kind, flush),
 * a daemon that refuses (its message reaches the log callback), a full ring with a daemon
 * attached (the producer waits, then gets room; bounded wait then drop), a lost daemon (the same
 * ring handed to the next one, drops reported in its HELLO), fork (the child's own session,
 * nothing written into the parent's ring) and the exit-time flush.
 *
 * Call sites (issue 11), the side log read back by a small reader here (side_read): every
 * stack and scope id an event carries was committed to the side log before the fake daemon
 * consumed the event; stacks start at the calling function, with its caller next, under every
 * walker (fp, unwind, auto) and honour the depth; modules (the program, libc, a dlopen()ed
 * object, its UNMAP after dlclose and a new id when it comes back); scopes nest per thread;
 * the environment's stack settings and ttm_stacks_set; a full side log (counted, events carry
 * 0); fork (the child's side log is a copy in a memfd of its own).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/proto.h"
#include "common/ring.h"
#include "common/side.h"
#include "ttmem/ttmem.h"

#define CHECK(c)                                                                                 \
    do {                                                                                         \
        if (!(c)) {                                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                \
            _exit(1);                                                                            \
        }                                                                                        \
    } while (0)

static void msleep(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}


/* Log callback collecting messages. */
typedef struct logbook {
    pthread_mutex_t mu;
    int n;
    int err[16];
    char msg[16][320];
} logbook;

static logbook book = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void collect_log(int err, const char *msg, void *arg)
{
    logbook *b = arg;
    pthread_mutex_lock(&b->mu);
    if (b->n < 16) {
        b->err[b->n] = err;
        snprintf(b->msg[b->n], sizeof b->msg[b->n], "%s", msg);
        b->n++;
    }
    pthread_mutex_unlock(&b->mu);
}

/* Runs fn in a fresh process with the tracking variables cleared, then env (NAME=VALUE...). */
static void run_case(void (*fn)(void), const char *const *env)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsetenv("TTMEM");
        unsetenv("TT_ALLOC_TRACKING_ENABLED");
        unsetenv("TTMEM_SOCKET");
        unsetenv("TTMEM_RING_SLOTS");
        unsetenv("TTMEM_STACKS");
        unsetenv("TTMEM_STACK_DEPTH");
        unsetenv("TTMEM_STACK_UNWINDER");
        unsetenv("TTMEM_SIDE_BYTES");
        for (; env != NULL && *env != NULL; env++)
            putenv((char *)*env);
        alarm(60);
        /* Diagnostics go to the logbook (the no-daemon case restores the stderr default). */
        ttm_client_set_log(collect_log, &book);
        fn();
        fflush(NULL);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("case process failed (status 0x%x)", status);
}

/* ---- the side log, read back ------------------------------------------------------------- */

#define SV_MODS 64
#define SV_STACKS 1024
#define SV_STRS 64

typedef struct sv_mod {
    uint32_t id, nbid;
    uint64_t bias, lo, hi;
    char path[256];
    bool unmapped;
} sv_mod;

typedef struct sv_stack {
    uint32_t id, depth;
    uint64_t pcs[TTM_SIDE_STACK_MAX];
} sv_stack;

typedef struct side_view {
    bool bad;         /* a record that breaks the format */
    uint64_t committed;
    uint32_t nmods, nstacks, nstrs, npyframes;
    struct {
        uint32_t file, func, line;
    } pyframes[SV_STRS];
    sv_mod mods[SV_MODS];
    sv_stack stacks[SV_STACKS];
    struct {
        uint32_t id, kind;
        char text[256];
    } strs[SV_STRS];
} side_view;

static side_view view; /* one case at a time; filled under the fake's mutex */

/* Parses the committed records of h into v, checking the format (common/side.h): magic,
 * lengths, 8-byte records, ids of each kind 1, 2, 3, ... in order. */
static void side_read(const ttm_side_hdr *h, side_view *v)
{
    memset(v, 0, sizeof *v);
    if (h->magic != TTM_SIDE_MAGIC || h->version != TTM_SIDE_VERSION ||
        h->hdr_size != sizeof *h) {
        v->bad = true;
        return;
    }
    uint64_t end = atomic_load_explicit(&h->committed, memory_order_acquire);
    v->committed = end;
    const uint8_t *base = (const uint8_t *)h + sizeof *h;
    uint32_t nmod_ids = 0;
    for (uint64_t at = 0; at < end;) {
        ttm_side_rec r;
        if (end - at < sizeof r) {
            v->bad = true;
            return;
        }
        memcpy(&r, base + at, sizeof r);
        const uint8_t *p = base + at + sizeof r;
        uint64_t padded = (r.len + 7u) & ~7ull;
        if (padded > end - at - sizeof r) {
            v->bad = true;
            return;
        }
        uint32_t id;
        memcpy(&id, p, 4);
        if (r.type == TTM_SIDE_MODULE && v->nmods < SV_MODS && r.len > TTM_SIDE_MODULE_FIXED) {
            sv_mod *m = &v->mods[v->nmods++];
            m->id = id;
            memcpy(&m->nbid, p + 4, 4);
            memcpy(&m->bias, p + 8, 8);
            memcpy(&m->lo, p + 16, 8);
            memcpy(&m->hi, p + 24, 8);
            size_t n = r.len - TTM_SIDE_MODULE_FIXED;
            n = n < sizeof m->path - 1 ? n : sizeof m->path - 1;
            memcpy(m->path, p + TTM_SIDE_MODULE_FIXED, n);
            v->bad |= id != ++nmod_ids || m->nbid > TTM_SIDE_BUILD_ID_MAX;
        } else if (r.type == TTM_SIDE_UNMAP) {
            bool found = false;
            for (uint32_t i = 0; i < v->nmods; i++)
                if (v->mods[i].id == id && !v->mods[i].unmapped)
                    found = v->mods[i].unmapped = true;
            v->bad |= !found || r.len != 4;
        } else if (r.type == TTM_SIDE_STACK && v->nstacks < SV_STACKS) {
            sv_stack *st = &v->stacks[v->nstacks++];
            st->id = id;
            memcpy(&st->depth, p + 4, 4);
            v->bad |= id != v->nstacks || st->depth == 0 || st->depth > TTM_SIDE_STACK_MAX ||
                      r.len != 8 + 8 * st->depth;
            if (!v->bad)
                memcpy(st->pcs, p + 8, 8 * (size_t)st->depth);
        } else if (r.type == TTM_SIDE_PYFRAME && v->npyframes < SV_STRS && r.len == 16) {
            memcpy(&v->pyframes[v->npyframes].file, p + 4, 4);
            memcpy(&v->pyframes[v->npyframes].func, p + 8, 4);
            memcpy(&v->pyframes[v->npyframes].line, p + 12, 4);
            v->npyframes++;
            v->bad |= id != v->npyframes;
        } else if (r.type == TTM_SIDE_STRING && v->nstrs < SV_STRS) {
            v->strs[v->nstrs].id = id;
            memcpy(&v->strs[v->nstrs].kind, p + 4, 4);
            size_t n = r.len - 8 < 255 ? r.len - 8 : 255;
            memcpy(v->strs[v->nstrs].text, p + 8, n);
            v->nstrs++;
            v->bad |= id != v->nstrs;
        }
        at += sizeof r + padded;
    }
}

static const sv_stack *sv_stack_of(const side_view *v, uint32_t id)
{
    return id >= 1 && id <= v->nstacks ? &v->stacks[id - 1] : NULL;
}

static const char *sv_string(const side_view *v, uint32_t id)
{
    return id >= 1 && id <= v->nstrs ? v->strs[id - 1].text : NULL;
}

/* The module (mapped at the time, or not) whose range holds pc, NULL if none. */
static const sv_mod *sv_module_at(const side_view *v, uint64_t pc, bool mapped_only)
{
    for (uint32_t i = 0; i < v->nmods; i++)
        if (pc >= v->mods[i].lo && pc < v->mods[i].hi && !(mapped_only && v->mods[i].unmapped))
            return &v->mods[i];
    return NULL;
}

/* ---- the fake daemon ----------------------------------------------------------------------- */

#define FAKE_SESSIONS 4
#define FAKE_EVENTS 4096

typedef struct fsess {
    int sock, memfd, efd, sidefd;
    ttm_ring_hdr *h;
    size_t bytes;
    ttm_side_hdr *side; /* mapped read-only; NULL without TTM_HELLO_SIDE */
    size_t side_bytes;
    uint64_t unknown_ids; /* events whose stack or scope the side log did not hold yet */
    pid_t pid;
    ttm_hello hello;
    bool eof;
    uint64_t head_at_eof, tail_at_eof;
    ttm_event ev[FAKE_EVENTS];
    size_t nev;
} fsess;

typedef struct fake {
    char dir[64], path[108];
    int lfd;
    int reply_status;
    char reply_msg[120];
    _Atomic int drain;    /* consume events */
    _Atomic int stop;
    int drain_after_ms;   /* wait this long after a session starts before draining */
    pthread_mutex_t mu;
    fsess s[FAKE_SESSIONS];
    int ns;
    _Atomic int accepted; /* sessions accepted, refused ones included */
    pthread_t thr;
} fake;

static void fake_listen(fake *f)
{
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK(f->lfd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
    unlink(f->path);
    CHECK(bind(f->lfd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(f->lfd, 8) == 0);
}

/* Accepts one pending session, if any; called under f->mu. */
static void fake_accept(fake *f, uint64_t now)
{
    int s = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
        return;
    atomic_fetch_add(&f->accepted, 1);
    fsess tmp;
    memset(&tmp, 0, sizeof tmp);
    char msg[128];
    int err = ttm__proto_recv_hello(s, &tmp.hello, &tmp.memfd, &tmp.efd, &tmp.sidefd, msg,
                                    sizeof msg);
    CHECK(err == TTM_OK);
    struct ucred cred;
    socklen_t len = sizeof cred;
    CHECK(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0);
    if (f->reply_status != 0) {
        CHECK(ttm__proto_send_reply(s, f->reply_status, f->reply_msg) == TTM_OK);
        close(tmp.memfd);
        close(tmp.efd);
        if (tmp.sidefd >= 0)
            close(tmp.sidefd);
        close(s);
        return;
    }
    CHECK(f->ns < FAKE_SESSIONS);
    tmp.bytes = (size_t)tmp.hello.ring_bytes;
    tmp.h = mmap(NULL, tmp.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, tmp.memfd, 0);
    CHECK(tmp.h != MAP_FAILED);
    if (tmp.sidefd >= 0) {
        /* sealed as the daemon demands: it can never shrink under the mapping */
        int seals = fcntl(tmp.sidefd, F_GET_SEALS);
        CHECK(seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
                                (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
        struct stat st;
        CHECK(fstat(tmp.sidefd, &st) == 0 && st.st_size >= (off_t)TTM_SIDE_MIN_BYTES);
        tmp.side_bytes = (size_t)st.st_size;
        tmp.side = mmap(NULL, tmp.side_bytes, PROT_READ, MAP_SHARED, tmp.sidefd, 0);
        CHECK(tmp.side != MAP_FAILED);
        CHECK(tmp.side->map_bytes == tmp.side_bytes);
    }
    CHECK(ttm__ring_validate(tmp.h, tmp.bytes, msg, sizeof msg) == TTM_OK);
    CHECK(ttm__proto_send_reply(s, 0, NULL) == TTM_OK);
    tmp.sock = s;
    tmp.pid = cred.pid;
    tmp.head_at_eof = now; /* until EOF: the session's start time, for drain_after_ms */
    memcpy(&f->s[f->ns], &tmp, sizeof tmp);
    f->ns++;
}

static void fake_drain_one(fsess *s, bool dead)
{
    for (;;) {
        size_t room = FAKE_EVENTS - s->nev;
        CHECK(room > 0);
        size_t n = ttm__ring_consume(s->h, s->bytes, s->ev + s->nev, room, dead);
        /* Every id an event carries must be in the side log by the time the event is read
         * (as the daemon reads: the ring first, then the side log up to `committed`). */
        bool ids = false;
        for (size_t i = s->nev; i < s->nev + n; i++)
            ids |= (s->ev[i].kind == TTM_EV_ALLOC || s->ev[i].kind == TTM_EV_FREE) &&
                   (s->ev[i].stack != 0 || s->ev[i].scope != 0);
        if (ids && s->side != NULL) {
            side_read(s->side, &view);
            for (size_t i = s->nev; i < s->nev + n; i++) {
                const ttm_event *e = &s->ev[i];
                if (e->kind != TTM_EV_ALLOC && e->kind != TTM_EV_FREE)
                    continue;
                if ((e->stack != 0 && sv_stack_of(&view, e->stack) == NULL) ||
                    (e->scope != 0 && sv_string(&view, e->scope) == NULL))
                    s->unknown_ids++;
            }
        } else if (ids) {
            s->unknown_ids++;
        }
        s->nev += n;
        if (n == 0)
            return;
    }
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    while (!atomic_load(&f->stop)) {
        uint64_t now = ttm__mono_ns();
        pthread_mutex_lock(&f->mu);
        if (f->lfd >= 0)
            fake_accept(f, now);
        for (int i = 0; i < f->ns; i++) {
            fsess *s = &f->s[i];
            if (s->eof)
                continue;
            bool started = now - s->head_at_eof >= (uint64_t)f->drain_after_ms * 1000000u;
            if (atomic_load(&f->drain) && started)
                fake_drain_one(s, false);
            char c;
            ssize_t r = recv(s->sock, &c, 1, MSG_DONTWAIT);
            if (r == 0) { /* the client is gone: record what it left, then drain it all */
                s->eof = true;
                s->head_at_eof = atomic_load(&s->h->head);
                s->tail_at_eof = atomic_load(&s->h->tail);
                fake_drain_one(s, true);
                close(s->sock);
                s->sock = -1;
            }
        }
        pthread_mutex_unlock(&f->mu);
        msleep(1);
    }
    return NULL;
}

static void fake_start(fake *f, int reply_status, const char *reply_msg)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ttm-test-client-XXXXXX");
    CHECK(mkdtemp(f->dir) != NULL);
    snprintf(f->path, sizeof f->path, "%s/d.sock", f->dir);
    f->reply_status = reply_status;
    if (reply_msg != NULL)
        snprintf(f->reply_msg, sizeof f->reply_msg, "%s", reply_msg);
    atomic_store(&f->drain, 1);
    pthread_mutex_init(&f->mu, NULL);
    fake_listen(f);
    setenv("TTMEM_SOCKET", f->path, 1);
    CHECK(pthread_create(&f->thr, NULL, fake_main, f) == 0);
}

/* The daemon dies: every session socket and the listener close. */
static void fake_crash(fake *f)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->ns; i++) {
        if (f->s[i].sock >= 0 && !f->s[i].eof) {
            close(f->s[i].sock);
            f->s[i].sock = -1;
            f->s[i].eof = true;
        }
    }
    close(f->lfd);
    f->lfd = -1;
    unlink(f->path);
    pthread_mutex_unlock(&f->mu);
}

static void fake_restart(fake *f)
{
    pthread_mutex_lock(&f->mu);
    fake_listen(f);
    pthread_mutex_unlock(&f->mu);
}

static void fake_stop(fake *f)
{
    atomic_store(&f->stop, 1);
    pthread_join(f->thr, NULL);
    for (int i = 0; i < f->ns; i++) {
        if (f->s[i].sock >= 0)
            close(f->s[i].sock);
        munmap(f->s[i].h, f->s[i].bytes);
        if (f->s[i].side != NULL)
            munmap(f->s[i].side, f->s[i].side_bytes);
        close(f->s[i].memfd);
        close(f->s[i].efd);
        if (f->s[i].sidefd >= 0)
            close(f->s[i].sidefd);
    }
    if (f->lfd >= 0)
        close(f->lfd);
    unlink(f->path);
    rmdir(f->dir);
}

/* Waits up to ms for cond (a statement-expression over the fake or the client). */
#define WAIT_FOR(cond, ms)                                                                       \
    do {                                                                                         \
        int waited_ = 0;                                                                         \
        while (!(cond) && waited_ < (ms)) {                                                      \
            msleep(2);                                                                           \
            waited_ += 2;                                                                        \
        }                                                                                        \
        CHECK(cond);                                                                             \
    } while (0)

static int sessions(fake *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->ns;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static bool session_ended(fake *f, int i)
{
    pthread_mutex_lock(&f->mu);
    bool eof = f->s[i].eof;
    pthread_mutex_unlock(&f->mu);
    return eof;
}

static ttm_client_stats stats(void)
{
    ttm_client_stats st;
    ttm_client_stats_get(&st);
    return st;
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static bool logged(int err, const char *needle)
{
    pthread_mutex_lock(&book.mu);
    bool found = false;
    for (int i = 0; i < book.n; i++)
        found |= book.err[i] == err && strstr(book.msg[i], needle) != NULL;
    pthread_mutex_unlock(&book.mu);
    return found;
}

/* ---- cases ------------------------------------------------------------------------------- */

static void case_disabled(void)
{
    /* A daemon socket exists, but tracking is off: nothing may touch it. */
    fake f;
    fake_start(&f, 0, NULL);
    int threads = count_threads();
    CHECK(ttm_client_enabled() == 0);
    CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 0x1000, 4096, 1, 0) == TTM_EDISABLED);
    CHECK(ttm_buffer_free(0, TTM_MEM_DRAM, 0x1000, 4096, 1, 0) == TTM_EDISABLED);
    CHECK(ttm_buffer_alloc(0, TTM_MEM_ANY, 0, 0, 0, 0xffff) == TTM_EDISABLED);
    CHECK(ttm_device_describe(0, TTM_ARCH_WORMHOLE_B0, 0, 0) == TTM_EDISABLED);
    CHECK(ttm_phase_mark("x") == TTM_EDISABLED);
    CHECK(ttm_client_flush(100) == TTM_EDISABLED);
    ttm_client_stats st = stats();
    CHECK(st.enabled == 0 && st.events == 0 && st.connected == 0);
    /* No thread exists that could connect later: the checks below are final, not early. */
    CHECK(atomic_load(&f.accepted) == 0);
    CHECK(count_threads() == threads); /* no watcher thread was started */
    fake_stop(&f);
}

static void case_enabled_by_tt_variable(void)
{
    CHECK(ttm_client_enabled() == 1);
}

static void case_disabled_by_zero(void)
{
    CHECK(ttm_client_enabled() == 0);
    CHECK(ttm_phase_mark("x") == TTM_EDISABLED);
}

static void case_bad_arguments(void)
{
    CHECK(ttm_buffer_alloc(0, TTM_MEM_ANY, 0x1000, 1, 0, 0) == TTM_EINVAL);
    CHECK(ttm_buffer_alloc(0, (ttm_memtype)7, 0x1000, 1, 0, 0) == TTM_EINVAL);
    CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 0x1000, 1, 0, 0x2) == TTM_EINVAL);
    CHECK(ttm_buffer_free(0, (ttm_memtype)9, 0x1000, 1, 0, 0) == TTM_EINVAL);
    CHECK(ttm_buffer_free(0, TTM_MEM_DRAM, 0x1000, 1, 0, 0x8000) == TTM_EINVAL);
    CHECK(ttm_device_describe(0, (ttm_arch)17, 0, 0) == TTM_EINVAL);
    CHECK(ttm_phase_mark(NULL) == TTM_EINVAL);
    CHECK(ttm_client_flush(0) == TTM_OK); /* nothing committed, no session needed */
    ttm_client_stats_get(NULL);
    CHECK(stats().events == 0);
}

/* No daemon: one line on stderr, then quiet; the ring takes 64 events, then drops. Every drop
 * after the socket path changed (a file appears at it, then another) first makes the watcher
 * attempt again at once and waits for it: so by the end several attempts have failed, and
 * still only one line was printed. */
static void case_no_daemon(void)
{
    ttm_client_set_log(NULL, NULL);
    char dir[] = "/tmp/ttm-test-nodaemon-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/ttmemd.sock", dir);
    setenv("TTMEM_SOCKET", path, 1);
    char tmpl[] = "/tmp/ttm-test-stderr-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    unlink(tmpl);
    CHECK(dup2(fd, 2) == 2);
    for (int i = 0; i < 64; i++)
        CHECK(ttm_buffer_alloc(1, TTM_MEM_L1, 0x1000u * (unsigned)i, 64, 0, 0) == TTM_OK);
    for (int i = 0; i < 10; i++) {
        if (i >= 5) { /* not a socket: the attempt it causes fails too */
            unlink(path);
            int pf = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
            CHECK(pf >= 0);
            close(pf);
        }
        CHECK(ttm_buffer_free(1, TTM_MEM_L1, 0x1000u * (unsigned)i, 64, 0, 0) == TTM_EAGAIN);
    }
    ttm_client_stats st = stats();
    CHECK(st.enabled == 1);
    CHECK(st.connected == 0);
    CHECK(st.events == 64);
    CHECK(st.dropped == 10);
    CHECK(st.waited == 0);
    CHECK(ttm_client_flush(100) == TTM_ECONN);
    CHECK(ttm_phase_mark("still quiet") == TTM_EAGAIN);
    unlink(path);
    rmdir(dir);
    char buf[2048] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(n > 0);
    int lines = 0;
    for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    if (lines != 1)
        fprintf(stdout, "stderr was:\n%s", buf);
    CHECK(lines == 1);
    char want[200];
    snprintf(want, sizeof want, "ttmem: no daemon at %s", path);
    CHECK(strstr(buf, want) != NULL);
}

static void case_session_events(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    uint64_t t0 = ttm__mono_ns();
    CHECK(ttm_buffer_alloc(3, TTM_MEM_L1, 0x1000, 4096, 77, TTM_FLAG_VIEW) == TTM_OK);
    /* The first call waited for the first attempt: attached already. */
    CHECK(stats().connected == 1);
    CHECK(ttm_buffer_free(3, TTM_MEM_ANY, 0x1000, 0, 77, 0) == TTM_OK);
    CHECK(ttm_device_describe(3, TTM_ARCH_WORMHOLE_B0, 12ull << 30, 1464ull << 10) == TTM_OK);
    CHECK(ttm_phase_mark("a phase name that is longer than thirty-nine bytes") == TTM_OK);
    for (int i = 0; i < 1000; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    uint64_t t1 = ttm__mono_ns();

    pthread_mutex_lock(&f.mu);
    CHECK(f.ns == 1);
    fsess *s = &f.s[0];
    CHECK(s->pid == getpid());
    CHECK(s->hello.magic == TTM_PROTO_MAGIC && s->hello.version == TTM_PROTO_VERSION);
    CHECK(s->hello.nslots == 128); /* TTMEM_RING_SLOTS=100, rounded up */
    /* the side log rides along (TTM_HELLO_SIDE), its own memfd */
    CHECK(s->hello.flags == TTM_HELLO_SIDE && s->hello.dropped == 0);
    CHECK(s->sidefd >= 0);
    CHECK(s->h->creator_pid == (uint32_t)getpid());
    CHECK(s->nev == 1004);
    uint32_t tid = (uint32_t)gettid();
    for (size_t i = 0; i < s->nev; i++) {
        CHECK(s->ev[i].seq == i + 1);
        CHECK(s->ev[i].tid == tid);
        CHECK(s->ev[i].ts + 1000000 >= t0 && s->ev[i].ts <= t1 + 1000000);
        if (i > 0)
            CHECK(s->ev[i].ts >= s->ev[i - 1].ts);
    }
    ttm_event *e = s->ev;
    CHECK(e[0].kind == TTM_EV_ALLOC && e[0].device == 3 && e[0].memtype == TTM_MEM_L1);
    CHECK(e[0].addr == 0x1000 && e[0].size == 4096 && e[0].obj == 77);
    CHECK(e[0].flags == TTM_FLAG_VIEW);
    CHECK(e[1].kind == TTM_EV_FREE && e[1].memtype == TTM_MEM_ANY && e[1].size == 0);
    CHECK(e[1].obj == 77 && e[1].flags == 0);
    CHECK(e[2].kind == TTM_EV_DEVICE_INFO && e[2].device == 3);
    CHECK(e[2].arch == TTM_ARCH_WORMHOLE_B0);
    CHECK(e[2].dram_capacity == 12ull << 30 && e[2].l1_capacity == 1464ull << 10);
    CHECK(e[3].kind == TTM_EV_MARK);
    CHECK(strcmp(e[3].mark, "a phase name that is longer than thirty") == 0);
    CHECK(e[1003].addr == 999);
    pthread_mutex_unlock(&f.mu);

    ttm_client_stats st = stats();
    CHECK(st.events == 1004 && st.dropped == 0 && st.reconnects == 0);
    fake_stop(&f);
}

static void case_refused(void)
{
    fake f;
    fake_start(&f, TTM_EVERSION, "protocol version 1 not supported: this daemon speaks 2");
    CHECK(ttm_phase_mark("start") == TTM_OK); /* kept in the ring */
    CHECK(stats().connected == 0);
    CHECK(logged(TTM_EVERSION, "refused this process: protocol version 1 not supported: this "
                               "daemon speaks 2"));
    WAIT_FOR(atomic_load(&f.accepted) >= 3, 10000); /* retries do not repeat the line */
    pthread_mutex_lock(&book.mu);
    int n = book.n;
    pthread_mutex_unlock(&book.mu);
    CHECK(n == 1);
    fake_stop(&f);
}

typedef struct waiter {
    int rc;
    _Atomic int done;
} waiter;

static void *produce_one(void *arg)
{
    waiter *w = arg;
    w->rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, 0xdead, 1, 0, 0);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Full ring, daemon attached: the producer waits for room (counted), nothing is dropped; a
 * daemon that never drains costs a bounded wait, then a counted drop. */
static void case_full_ring_waits(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    atomic_store(&f.drain, 0);
    for (int i = 0; i < 64; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    CHECK(stats().connected == 1);
    waiter w = {0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, produce_one, &w) == 0);
    WAIT_FOR(stats().waited == 1, 5000);
    CHECK(atomic_load(&w.done) == 0); /* waiting, not dropped: nothing drains */
    atomic_store(&f.drain, 1);
    pthread_join(t, NULL);
    CHECK(w.rc == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    CHECK(stats().dropped == 0);

    atomic_store(&f.drain, 0);
    for (int i = 0; i < 64; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    uint64_t t0 = ttm__mono_ns();
    CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 0xbad, 1, 0, 0) == TTM_EAGAIN);
    CHECK(ttm__mono_ns() - t0 < 10ull * 1000000000ull); /* bounded (about 5 s), never forever */
    ttm_client_stats st = stats();
    CHECK(st.waited == 2 && st.dropped == 1);
    /* The daemon is now known to be stalled: no second wait until it consumes again. */
    t0 = ttm__mono_ns();
    CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 0xbad, 1, 0, 0) == TTM_EAGAIN);
    CHECK(ttm__mono_ns() - t0 < 1000000000ull);
    st = stats();
    CHECK(st.waited == 2 && st.dropped == 2);
    CHECK(ttm_client_flush(50) == TTM_ETIMEDOUT);
    atomic_store(&f.drain, 1);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    /* It consumes again: waiting resumes. */
    atomic_store(&f.drain, 0);
    for (int i = 0; i < 64; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    CHECK(pthread_create(&t, NULL, produce_one, &w) == 0);
    WAIT_FOR(stats().waited == 3, 5000);
    atomic_store(&f.drain, 1);
    pthread_join(t, NULL);
    CHECK(w.rc == TTM_OK);
    CHECK(stats().waited == 3 && stats().dropped == 2);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    pthread_mutex_lock(&f.mu);
    CHECK(f.s[0].nev == 64 + 1 + 64 + 64 + 1);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* The daemon dies with events undrained; while none exists the ring fills and drops are
 * counted; the next daemon gets the same ring (flags 1, the drop count) and drains it all, and
 * events that find the ring full once it listens again are not dropped. */
static void case_reconnect_same_ring(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    atomic_store(&f.drain, 0);
    for (int i = 0; i < 10; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    CHECK(stats().connected == 1);
    fake_crash(&f);
    WAIT_FOR(stats().connected == 0, 5000);
    for (int i = 10; i < 64; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    for (int i = 0; i < 6; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 0xd0, 1, 0, 0) == TTM_EAGAIN);
    CHECK(stats().dropped == 6);
    WAIT_FOR(logged(TTM_ECLOSED, "lost the connection"), 2000);

    /* The daemon comes back while the client backs off: the next events find the ring full
     * and are not dropped: the producer has the watcher attempt at once and waits for it. */
    atomic_store(&f.drain, 1);
    fake_restart(&f);
    for (int i = 64; i < 164; i++)
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
    CHECK(stats().connected == 1);
    CHECK(stats().reconnects == 1);
    CHECK(stats().dropped == 6);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    pthread_mutex_lock(&f.mu);
    CHECK(f.ns == 2);
    fsess *s = &f.s[1];
    CHECK(s->hello.flags == (TTM_HELLO_REATTACH | TTM_HELLO_SIDE));
    CHECK(s->hello.dropped == 6);
    CHECK(s->nev == 164);
    for (size_t i = 0; i < s->nev; i++)
        CHECK(s->ev[i].addr == i);
    CHECK(f.s[0].nev == 0);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* A forked child opens its own session with its own ring and never writes into the parent's. */
static void case_fork(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 1, 1, 0, 0) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        CHECK(stats().connected == 0 && stats().events == 0);
        CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 2, 1, 0, 0) == TTM_OK);
        CHECK(stats().connected == 1 && stats().events == 1);
        CHECK(ttm_client_flush(5000) == TTM_OK);
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, 3, 1, 0, 0) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    CHECK(stats().events == 2 && stats().connected == 1 && stats().reconnects == 0);
    WAIT_FOR(sessions(&f) == 2, 2000);
    pthread_mutex_lock(&f.mu);
    CHECK(f.s[0].pid == getpid() && f.s[1].pid == child);
    CHECK(f.s[0].nev == 2 && f.s[0].ev[0].addr == 1 && f.s[0].ev[1].addr == 3);
    CHECK(f.s[1].nev == 1 && f.s[1].ev[0].addr == 2);
    CHECK(f.s[1].h->creator_pid == (uint32_t)child);
    CHECK(f.s[0].ev[1].seq == 2); /* the parent's ring saw no write from the child */
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* exit() waits (bounded) until the daemon has drained everything committed, so the daemon
 * never sees the connection close with events still in the ring. */
static void case_exit_flush(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    pthread_mutex_lock(&f.mu);
    f.drain_after_ms = 300; /* a slow daemon */
    pthread_mutex_unlock(&f.mu);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        for (int i = 0; i < 100; i++)
            CHECK(ttm_buffer_alloc(0, TTM_MEM_DRAM, (uint64_t)i, 1, 0, 0) == TTM_OK);
        exit(0); /* atexit handlers run */
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    WAIT_FOR(sessions(&f) == 1, 2000);
    WAIT_FOR(session_ended(&f, 0), 2000);
    fsess *s = &f.s[0];
    pthread_mutex_lock(&f.mu);
    CHECK(s->head_at_eof == 100);
    CHECK(s->tail_at_eof == 100);
    CHECK(s->nev == 100);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}


/* ---- call sites ---------------------------------------------------------------------------- */

/* Call sites with names (exported, with default visibility: the program is linked with
 * -rdynamic, so dladdr names them). Not tail calls: each frame stays on the stack while
 * libttmem walks it. */
#define SITE __attribute__((noinline, visibility("default")))
int ttmtest_site_alloc(uint64_t addr);
int ttmtest_site_free(uint64_t addr);
int ttmtest_site_caller(uint64_t addr);
int ttmtest_deep(int k, int leaf, uint64_t addr);

SITE int ttmtest_site_alloc(uint64_t addr)
{
    int r = ttm_buffer_alloc(0, TTM_MEM_DRAM, addr, 64, 0, 0);
    __asm__ volatile("" ::: "memory");
    return r;
}

SITE int ttmtest_site_free(uint64_t addr)
{
    int r = ttm_buffer_free(0, TTM_MEM_DRAM, addr, 64, 0, 0);
    __asm__ volatile("" ::: "memory");
    return r;
}

SITE int ttmtest_site_caller(uint64_t addr)
{
    int r = ttmtest_site_alloc(addr);
    r |= ttmtest_site_free(addr);
    __asm__ volatile("" ::: "memory");
    return r;
}

/* k frames of recursion, then leaf 0 (an allocation), 1 (a free) or 2 (both, through
 * ttmtest_site_caller): a chain deeper than any depth. */
SITE int ttmtest_deep(int k, int leaf, uint64_t addr)
{
    int r = k > 0       ? ttmtest_deep(k - 1, leaf, addr)
            : leaf == 0 ? ttmtest_site_alloc(addr)
            : leaf == 1 ? ttmtest_site_free(addr)
                        : ttmtest_site_caller(addr);
    __asm__ volatile("" ::: "memory");
    return r;
}

/* The exported function whose code holds pc (a return address: pc - 1 is the call). */
static const char *fn_at(uint64_t pc)
{
    Dl_info di;
    if (pc == 0 || dladdr((void *)(uintptr_t)(pc - 1), &di) == 0 || di.dli_sname == NULL)
        return "?";
    return di.dli_sname;
}

/* Snapshot of session i's side log into view (under the fake's mutex). */
static void view_of(fake *f, int i)
{
    pthread_mutex_lock(&f->mu);
    CHECK(f->s[i].side != NULL);
    side_read(f->s[i].side, &view);
    CHECK(!view.bad);
    pthread_mutex_unlock(&f->mu);
}

static void *sites_thread(void *arg)
{
    for (int i = 0; i < 100; i++)
        CHECK(ttmtest_site_caller((uint64_t)(uintptr_t)arg + (uint64_t)i) == TTM_OK);
    return NULL;
}

/* Stacks start at the calling function, its caller next; the same site gives the same id;
 * every id was in the side log before its event was read; the modules hold the frames. Run
 * under each walker (TTMEM_STACK_UNWINDER) in a thread of its own (whose chain is all frame
 * pointers up to the C library's thread start). */
static void case_stack_sites(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    CHECK(ttm_stacks_get(NULL) == TTM_STACKS_NATIVE);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sites_thread, (void *)(uintptr_t)0x10000) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    ttm_client_stats st = stats();
    CHECK(st.events == 200 && st.stacks == 2 && st.stacks_dropped == 0);
    const char *w = getenv("TTMEM_STACK_UNWINDER");
    if (strcmp(w, "fp") == 0)
        CHECK(st.unwinds == 0);
    else if (strcmp(w, "unwind") == 0)
        CHECK(st.unwinds == 200);
    else /* auto: the walk through frame pointers is trusted after the first check */
        CHECK(st.unwinds >= 1 && st.unwinds <= 4);
    view_of(&f, 0);
    pthread_mutex_lock(&f.mu);
    fsess *s = &f.s[0];
    CHECK(s->nev == 200 && s->unknown_ids == 0);
    uint32_t alloc_id = s->ev[0].stack, free_id = s->ev[1].stack;
    CHECK(alloc_id != 0 && free_id != 0 && alloc_id != free_id);
    for (size_t i = 0; i < s->nev; i++)
        CHECK(s->ev[i].stack == (s->ev[i].kind == TTM_EV_ALLOC ? alloc_id : free_id));
    pthread_mutex_unlock(&f.mu);
    CHECK(view.nstacks == 2);
    const sv_stack *a = sv_stack_of(&view, alloc_id), *b = sv_stack_of(&view, free_id);
    CHECK(a != NULL && b != NULL && a->depth >= 3 && b->depth >= 3);
    CHECK(strcmp(fn_at(a->pcs[0]), "ttmtest_site_alloc") == 0);
    CHECK(strcmp(fn_at(a->pcs[1]), "ttmtest_site_caller") == 0);
    CHECK(strcmp(fn_at(b->pcs[0]), "ttmtest_site_free") == 0);
    CHECK(strcmp(fn_at(b->pcs[1]), "ttmtest_site_caller") == 0);
    CHECK(a->pcs[1] != b->pcs[1]); /* two calls in the caller, two return addresses */
    /* The frames lie in modules recorded before the stack: the program, then libc. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    const sv_mod *m = sv_module_at(&view, a->pcs[0], true);
    CHECK(m != NULL && strcmp(m->path, exe) == 0 && m->nbid > 0);
    CHECK(m->lo <= (uint64_t)(uintptr_t)ttmtest_site_alloc &&
          (uint64_t)(uintptr_t)ttmtest_site_alloc < m->hi);
    bool libc = false, vdso_or_more = view.nmods >= 3;
    for (uint32_t i = 0; i < view.nmods; i++)
        libc |= strstr(view.mods[i].path, "/libc.so") != NULL && view.mods[i].nbid > 0;
    CHECK(libc && vdso_or_more);
    fake_stop(&f);
}

/* TTMEM_STACK_DEPTH: every stack is cut there; ttm_stacks_set changes it at run time. */
static void case_stack_depth(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    unsigned depth = 0;
    CHECK(ttm_stacks_get(&depth) == TTM_STACKS_NATIVE && depth == 2);
    CHECK(ttmtest_deep(40, 0, 1) == TTM_OK);
    CHECK(ttm_stacks_set(TTM_STACKS_NATIVE, 0) == TTM_OK); /* 0: the default */
    CHECK(ttm_stacks_get(&depth) == TTM_STACKS_NATIVE && depth == 32);
    CHECK(ttmtest_deep(40, 0, 2) == TTM_OK);
    CHECK(ttm_stacks_set(0, 0) == TTM_OK); /* off */
    CHECK(ttm_stacks_get(NULL) == 0);
    CHECK(ttmtest_deep(40, 0, 3) == TTM_OK);
    CHECK(ttm_stacks_set(4, 0) == TTM_EINVAL && ttm_stacks_set(1, 65) == TTM_EINVAL);
    CHECK(ttm_stacks_set(TTM_STACKS_PYTHON, 64) == TTM_OK); /* implies native */
    CHECK(ttm_stacks_get(&depth) == (TTM_STACKS_NATIVE | TTM_STACKS_PYTHON) && depth == 64);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    view_of(&f, 0);
    pthread_mutex_lock(&f.mu);
    fsess *s = &f.s[0];
    CHECK(s->nev == 3 && s->unknown_ids == 0);
    const sv_stack *a = sv_stack_of(&view, s->ev[0].stack);
    const sv_stack *b = sv_stack_of(&view, s->ev[1].stack);
    CHECK(a != NULL && a->depth == 2);
    CHECK(strcmp(fn_at(a->pcs[0]), "ttmtest_site_alloc") == 0);
    CHECK(strcmp(fn_at(a->pcs[1]), "ttmtest_deep") == 0);
    CHECK(b != NULL && b->depth == 32 && memcmp(a->pcs, b->pcs, 2 * sizeof a->pcs[0]) == 0);
    CHECK(s->ev[2].stack == 0);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* The environment's stack settings, read with the gate: EXPECT_WHAT / EXPECT_DEPTH are what
 * ttm_stacks_get must say, EXPECT_LOG a text the log callback must have received ("" none). */
static void case_stack_env(void)
{
    unsigned depth = 0;
    unsigned what = ttm_stacks_get(&depth);
    CHECK(what == (unsigned)atoi(getenv("EXPECT_WHAT")));
    CHECK(depth == (unsigned)atoi(getenv("EXPECT_DEPTH")));
    const char *log = getenv("EXPECT_LOG");
    pthread_mutex_lock(&book.mu);
    int n = book.n;
    pthread_mutex_unlock(&book.mu);
    if (log[0] == '\0')
        CHECK(n == 0);
    else
        CHECK(n == 1 && logged(n == 1 ? book.err[0] : 0, log));
}

static void *scope_worker(void *arg)
{
    (void)arg;
    CHECK(ttm_scope_push("worker") == TTM_OK);
    CHECK(ttmtest_site_alloc(100) == TTM_OK);
    CHECK(ttm_scope_pop() == TTM_OK);
    return NULL;
}

/* Scopes nest per thread; every event carries the innermost one of its thread. */
static void case_scopes(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    CHECK(ttm_scope_pop() == TTM_EINVAL);
    CHECK(ttm_scope_push(NULL) == TTM_EINVAL && ttm_scope_push("") == TTM_EINVAL);
    CHECK(ttmtest_site_alloc(1) == TTM_OK); /* no scope */
    CHECK(ttm_scope_push("outer") == TTM_OK);
    CHECK(ttmtest_site_alloc(2) == TTM_OK);
    CHECK(ttm_scope_push("inner") == TTM_OK);
    CHECK(ttmtest_site_alloc(3) == TTM_OK);
    pthread_t t; /* another thread's scopes are its own */
    CHECK(pthread_create(&t, NULL, scope_worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(ttmtest_site_alloc(4) == TTM_OK);
    CHECK(ttm_scope_pop() == TTM_OK);
    CHECK(ttmtest_site_alloc(5) == TTM_OK);
    CHECK(ttm_scope_push("outer") == TTM_OK); /* the same name, the same id */
    CHECK(ttmtest_site_alloc(6) == TTM_OK);
    CHECK(ttm_scope_pop() == TTM_OK && ttm_scope_pop() == TTM_OK);
    CHECK(ttmtest_site_alloc(7) == TTM_OK);
    CHECK(ttm_scope_pop() == TTM_EINVAL);
    char longname[400];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(ttm_scope_push(longname) == TTM_OK); /* cut at 255 bytes */
    CHECK(ttmtest_site_alloc(8) == TTM_OK);
    int pushed = 1;
    while (ttm_scope_push("deep") == TTM_OK)
        pushed++;
    CHECK(pushed == 64 && ttm_scope_push("deep") == TTM_ELIMIT);
    while (pushed-- > 0)
        CHECK(ttm_scope_pop() == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    view_of(&f, 0);
    pthread_mutex_lock(&f.mu);
    fsess *s = &f.s[0];
    CHECK(s->nev == 9 && s->unknown_ids == 0);
    const char *want[9] = {NULL, "outer", "inner", "worker", "inner", "outer", "outer", NULL,
                           NULL};
    for (int i = 0; i < 9; i++) {
        const ttm_event *e = &s->ev[i];
        uint64_t addr = (uint64_t)(i < 3 ? i + 1 : i == 3 ? 100 : i);
        CHECK(e->addr == addr);
        if (i == 8) {
            CHECK(e->scope != 0 && strlen(sv_string(&view, e->scope)) == 255);
        } else if (want[i] == NULL) {
            CHECK(e->scope == 0);
        } else {
            CHECK(e->scope != 0 && strcmp(sv_string(&view, e->scope), want[i]) == 0);
        }
    }
    CHECK(s->ev[1].scope == s->ev[5].scope); /* interned once */
    pthread_mutex_unlock(&f.mu);
    for (uint32_t i = 0; i < view.nstrs; i++)
        CHECK(view.strs[i].kind == TTM_SIDE_STR_SCOPE);
    CHECK(view.nstrs == 5); /* outer, inner, worker, the long one, deep */
    fake_stop(&f);
}

typedef int (*dso_alloc_fn)(uint64_t addr);

/* Loads the test object; returns its allocation function. */
static dso_alloc_fn dso_open(void **h)
{
    *h = dlopen(TTM_SIDE_DSO, RTLD_NOW | RTLD_LOCAL);
    CHECK(*h != NULL);
    dso_alloc_fn fn = (dso_alloc_fn)(uintptr_t)dlsym(*h, "side_dso_alloc");
    CHECK(fn != NULL);
    return fn;
}

/* The module of the stack of session 0's event i (innermost frame). */
static const sv_mod *module_of_event(fake *f, size_t i)
{
    pthread_mutex_lock(&f->mu);
    CHECK(f->s[0].nev > i);
    uint32_t id = f->s[0].ev[i].stack;
    pthread_mutex_unlock(&f->mu);
    const sv_stack *st = sv_stack_of(&view, id);
    CHECK(st != NULL);
    return sv_module_at(&view, st->pcs[0], false);
}

/* A dlopen()ed object: a MODULE (its path, build-id and range) before the first stack through
 * it, an UNMAP once it is gone, a new id when it comes back. */
static void case_dlopen_modules(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    char dso[4096];
    CHECK(realpath(TTM_SIDE_DSO, dso) != NULL);
    void *h;
    dso_alloc_fn fn = dso_open(&h);
    CHECK(fn(1) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    view_of(&f, 0);
    const sv_mod *m = module_of_event(&f, 0);
    CHECK(m != NULL && strcmp(m->path, dso) == 0 && !m->unmapped && m->nbid > 0);
    uint32_t first = m->id;
    const sv_stack *st = sv_stack_of(&view, 1);
    CHECK(st != NULL && st->depth >= 2 && strcmp(fn_at(st->pcs[1]), "case_dlopen_modules") != 0);
    CHECK(dlclose(h) == 0);
    /* a new stack makes the writer look at the modules again */
    CHECK(ttmtest_site_alloc(2) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    view_of(&f, 0);
    CHECK(view.mods[first - 1].id == first && view.mods[first - 1].unmapped);
    fn = dso_open(&h);
    CHECK(ttmtest_deep(1, 0, 3) == TTM_OK); /* another new stack: the object is back */
    CHECK(fn(4) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    view_of(&f, 0);
    uint32_t again = 0;
    for (uint32_t i = 0; i < view.nmods; i++)
        if (strcmp(view.mods[i].path, dso) == 0 && !view.mods[i].unmapped)
            again = view.mods[i].id;
    CHECK(again != 0 && again != first);
    m = module_of_event(&f, 3);
    CHECK(m != NULL && strcmp(m->path, dso) == 0);
    pthread_mutex_lock(&f.mu);
    CHECK(f.s[0].unknown_ids == 0);
    pthread_mutex_unlock(&f.mu);
    CHECK(dlclose(h) == 0);
    fake_stop(&f);
}

/* A side log too small for every stack: records refused and counted, their events carry 0,
 * the log never overflows, and every id that was handed out is in it. */
static void case_side_full(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    int events = 0;
    for (unsigned d = 1; d <= 64; d++) { /* 4 chains x 64 depths: about 250 stacks, 70 KB */
        CHECK(ttm_stacks_set(TTM_STACKS_NATIVE, d) == TTM_OK);
        for (int leaf = 0; leaf < 3; leaf++) {
            CHECK(ttmtest_deep(70, leaf, (uint64_t)events) == TTM_OK);
            events += leaf == 2 ? 2 : 1;
        }
    }
    CHECK(ttm_client_flush(5000) == TTM_OK);
    ttm_client_stats st = stats();
    CHECK(st.side_full > 0 && st.stacks_dropped > 0 && st.stacks > 0);
    view_of(&f, 0);
    CHECK(view.nstacks == st.stacks);
    pthread_mutex_lock(&f.mu);
    fsess *s = &f.s[0];
    CHECK(view.committed <= s->side_bytes - sizeof(ttm_side_hdr));
    CHECK(s->side->full == st.side_full);
    CHECK(s->nev == (size_t)events && s->unknown_ids == 0);
    size_t zero = 0;
    for (size_t i = 0; i < s->nev; i++)
        zero += s->ev[i].stack == 0;
    CHECK(zero == st.stacks_dropped);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* A forked child's side log is its own memfd, starting with everything its parent had
 * committed (the ids the child inherited stay valid), and the parent's never sees the
 * child's records. */
static void case_fork_side(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    CHECK(ttm_scope_push("before-fork") == TTM_OK);
    CHECK(ttmtest_site_alloc(1) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        CHECK(ttmtest_site_alloc(2) == TTM_OK); /* the parent's stack and scope ids */
        CHECK(ttmtest_site_free(2) == TTM_OK);  /* a new stack */
        CHECK(ttm_client_flush(5000) == TTM_OK);
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    WAIT_FOR(sessions(&f) == 2, 2000);
    WAIT_FOR(session_ended(&f, 1), 2000);
    pthread_mutex_lock(&f.mu);
    fsess *p = &f.s[0], *c = &f.s[1];
    CHECK(c->pid == child && c->nev == 2 && p->nev == 1);
    CHECK(p->unknown_ids == 0 && c->unknown_ids == 0);
    CHECK(c->ev[0].stack == p->ev[0].stack && c->ev[0].scope == p->ev[0].scope);
    CHECK(c->ev[1].stack != c->ev[0].stack);
    struct stat ps, cs;
    CHECK(fstat(p->sidefd, &ps) == 0 && fstat(c->sidefd, &cs) == 0 && ps.st_ino != cs.st_ino);
    CHECK(c->side->creator_pid == (uint32_t)child && p->side->creator_pid == (uint32_t)getpid());
    side_read(c->side, &view);
    CHECK(!view.bad && view.nstacks == 2 && view.nstrs == 1);
    CHECK(strcmp(view.strs[0].text, "before-fork") == 0);
    side_read(p->side, &view);
    CHECK(!view.bad && view.nstacks == 1);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* The descriptor number of the side log (its memfd's name), -1 when none is open. */
static int side_fd_number(void)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int found = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strstr(target, "memfd:ttmem-side") != NULL)
                found = atoi(e->d_name);
        }
    }
    closedir(d);
    return found;
}

/* The application closes the side log's descriptor and reuses its number for a file of its
 * own: the next daemon gets a new memfd holding the same records (the ids the events carry
 * stay valid), and the application's file is never touched. */
static void case_side_fd_lost(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    CHECK(ttm_scope_push("kept") == TTM_OK);
    CHECK(ttmtest_site_alloc(1) == TTM_OK);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    int fd = side_fd_number();
    CHECK(fd >= 0);
    int mine = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(mine >= 0 && dup2(mine, fd) == fd); /* closes the side log's, reuses the number */
    close(mine);
    fake_crash(&f);
    WAIT_FOR(stats().connected == 0, 5000);
    fake_restart(&f);
    CHECK(ttmtest_site_alloc(2) == TTM_OK);
    WAIT_FOR(sessions(&f) == 2, 5000);
    CHECK(ttm_client_flush(5000) == TTM_OK);
    char target[64];
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    CHECK(n > 0);
    target[n] = '\0';
    CHECK(strcmp(target, "/dev/null") == 0); /* still the application's */
    pthread_mutex_lock(&f.mu);
    fsess *a = &f.s[0], *b = &f.s[1];
    CHECK(b->side != NULL && b->unknown_ids == 0 && a->unknown_ids == 0);
    struct stat sa, sb;
    CHECK(fstat(a->sidefd, &sa) == 0 && fstat(b->sidefd, &sb) == 0 && sa.st_ino != sb.st_ino);
    CHECK(b->nev >= 1 && b->ev[b->nev - 1].addr == 2);
    uint32_t stack = b->ev[b->nev - 1].stack, scope = b->ev[b->nev - 1].scope;
    CHECK(stack != 0 && scope != 0);
    side_read(b->side, &view);
    CHECK(!view.bad && sv_stack_of(&view, stack) != NULL);
    CHECK(strcmp(sv_string(&view, scope), "kept") == 0);
    pthread_mutex_unlock(&f.mu);
    fake_stop(&f);
}

/* A new image (exec) is a new session with a side log of its own; a Python program calling
 * libttmem through ctypes with TTMEM_STACKS=python gets its own file, function and line in its
 * stacks, beside the native frames. */
static void case_exec_python(void)
{
    fake f;
    fake_start(&f, 0, NULL);
    static const char script[] =
        "import ctypes, sys\n"
        "lib = ctypes.CDLL(sys.argv[1])\n"
        "def leak_here():\n"
        "    return lib.ttm_buffer_alloc(0, 0, 0x5000, 64, 0, 0)\n"
        "assert leak_here() == 0\n"
        "assert lib.ttm_client_flush(5000) == 0\n";
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
#ifdef TTM_PY_PRELOAD /* a sanitized libttmem.so in an uninstrumented interpreter */
        setenv("LD_PRELOAD", TTM_PY_PRELOAD, 1);
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
#endif
        execlp("python3", "python3", "-c", script, TTM_LIBTTMEM_SO, (char *)NULL);
        _exit(127);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* 127: no python3 in PATH */
    WAIT_FOR(sessions(&f) == 1, 2000);
    WAIT_FOR(session_ended(&f, 0), 2000);
    view_of(&f, 0);
    pthread_mutex_lock(&f.mu);
    fsess *s = &f.s[0];
    CHECK(s->pid == child && s->side->creator_pid == (uint32_t)child);
    CHECK(s->nev == 1 && s->ev[0].addr == 0x5000 && s->unknown_ids == 0);
    const sv_stack *st = sv_stack_of(&view, s->ev[0].stack);
    pthread_mutex_unlock(&f.mu);
    CHECK(st != NULL);
    bool native = false, here = false, module = false;
    for (unsigned i = 0; i < st->depth; i++) {
        uint64_t e = st->pcs[i];
        if (!(e & TTM_SIDE_PYFRAME_BIT)) {
            native = true;
            continue;
        }
        uint32_t id = (uint32_t)e;
        CHECK(id >= 1 && id <= view.npyframes);
        const char *file = sv_string(&view, view.pyframes[id - 1].file);
        const char *func = sv_string(&view, view.pyframes[id - 1].func);
        CHECK(file != NULL && func != NULL);
        if (strcmp(func, "leak_here") == 0) {
            CHECK(!here && !module); /* innermost first */
            here = strcmp(file, "<string>") == 0 && view.pyframes[id - 1].line == 4;
        }
        module |= strcmp(func, "<module>") == 0 && view.pyframes[id - 1].line == 5;
    }
    CHECK(native && here && module);
    fake_stop(&f);
}

/* ---- cmocka wrappers ---------------------------------------------------------------------- */

static void test_disabled_by_default(void **state)
{
    (void)state;
    run_case(case_disabled, NULL);
    static const char *const zero[] = {"TTMEM=0", NULL};
    run_case(case_disabled_by_zero, zero);
}

static void test_enabling_variables(void **state)
{
    (void)state;
    static const char *const tt[] = {"TT_ALLOC_TRACKING_ENABLED=1",
                                     "TTMEM_SOCKET=/nonexistent/ttmemd.sock", NULL};
    run_case(case_enabled_by_tt_variable, tt);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_SOCKET=/nonexistent/ttmemd.sock", NULL};
    run_case(case_bad_arguments, env);
}

static void test_no_daemon(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_SOCKET=/nonexistent/ttmemd.sock",
                                      "TTMEM_RING_SLOTS=64", NULL};
    run_case(case_no_daemon, env);
}

static void test_session_events(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_RING_SLOTS=100", NULL};
    run_case(case_session_events, env);
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", NULL};
    run_case(case_refused, env);
}

static void test_full_ring_waits(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_RING_SLOTS=64", NULL};
    run_case(case_full_ring_waits, env);
}

static void test_reconnect_same_ring(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_RING_SLOTS=64", NULL};
    run_case(case_reconnect_same_ring, env);
}

static void test_fork(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", NULL};
    run_case(case_fork, env);
}

static void test_exit_flush(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", NULL};
    run_case(case_exit_flush, env);
}

static void test_stack_sites(void **state)
{
    (void)state;
    static const char *const fp[] = {"TTMEM=1", "TTMEM_STACKS=1", "TTMEM_STACK_UNWINDER=fp",
                                     NULL};
    static const char *const unw[] = {"TTMEM=1", "TTMEM_STACKS=native",
                                      "TTMEM_STACK_UNWINDER=unwind", NULL};
    static const char *const aut[] = {"TTMEM=1", "TTMEM_STACKS=on", "TTMEM_STACK_UNWINDER=auto",
                                      NULL};
    run_case(case_stack_sites, fp);
    run_case(case_stack_sites, unw);
    run_case(case_stack_sites, aut);
}

static void test_stack_depth(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_STACKS=1", "TTMEM_STACK_DEPTH=2", NULL};
    run_case(case_stack_depth, env);
}

static void test_stack_env(void **state)
{
    (void)state;
    static const char *const cases[][7] = {
        {"TTMEM_STACKS=1", "TTMEM_STACK_DEPTH=", "EXPECT_WHAT=1", "EXPECT_DEPTH=32",
         "EXPECT_LOG="},
        {"TTMEM_STACKS=python", "TTMEM_STACK_DEPTH=10", "EXPECT_WHAT=3", "EXPECT_DEPTH=10",
         "EXPECT_LOG="},
        {"TTMEM_STACKS=off", "TTMEM_STACK_DEPTH=0", "EXPECT_WHAT=0", "EXPECT_DEPTH=32",
         "EXPECT_LOG="},
        {"TTMEM_STACKS=0", "TTMEM_STACK_DEPTH=64", "EXPECT_WHAT=0", "EXPECT_DEPTH=64",
         "EXPECT_LOG="},
        {"TTMEM_STACKS=sometimes", "TTMEM_STACK_DEPTH=8", "EXPECT_WHAT=0", "EXPECT_DEPTH=8",
         "EXPECT_LOG=TTMEM_STACKS=sometimes is not"},
        {"TTMEM_STACKS=NATIVE", "TTMEM_STACK_DEPTH=100", "EXPECT_WHAT=1", "EXPECT_DEPTH=64",
         "EXPECT_LOG=TTMEM_STACK_DEPTH=100 is over 64"},
        {"TTMEM_STACKS=yes", "TTMEM_STACK_DEPTH=-3", "EXPECT_WHAT=1", "EXPECT_DEPTH=32",
         "EXPECT_LOG=TTMEM_STACK_DEPTH=-3 is not a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[9] = {"TTMEM=1", "TTMEM_SOCKET=/nonexistent/ttmemd.sock"};
        for (int k = 0; k < 5; k++)
            env[2 + k] = cases[i][k];
        run_case(case_stack_env, env);
    }
    /* tracking off: stacks are off whatever TTMEM_STACKS says */
    static const char *const off[] = {"TTMEM_STACKS=1", "EXPECT_WHAT=0", "EXPECT_DEPTH=32",
                                      "EXPECT_LOG=", NULL};
    run_case(case_stack_env, off);
}

static void test_scopes(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", NULL}; /* scopes without stacks */
    run_case(case_scopes, env);
}

static void test_dlopen_modules(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_STACKS=1", NULL};
    run_case(case_dlopen_modules, env);
}

static void test_side_full(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_STACKS=1", "TTMEM_SIDE_BYTES=65536",
                                      NULL};
    run_case(case_side_full, env);
}

static void test_fork_side(void **state)
{
    (void)state;
    /* depth 1: the same call site gives the same stack in the parent and the child */
    static const char *const env[] = {"TTMEM=1", "TTMEM_STACKS=1", "TTMEM_STACK_DEPTH=1", NULL};
    run_case(case_fork_side, env);
}

static void test_side_fd_lost(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_STACKS=1", NULL};
    run_case(case_side_fd_lost, env);
}

static void test_exec_python(void **state)
{
    (void)state;
    static const char *const env[] = {"TTMEM=1", "TTMEM_STACKS=python", NULL};
    run_case(case_exec_python, env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_by_default),
        cmocka_unit_test(test_enabling_variables),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_no_daemon),
        cmocka_unit_test(test_session_events),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_full_ring_waits),
        cmocka_unit_test(test_reconnect_same_ring),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_exit_flush),
        cmocka_unit_test(test_stack_sites),
        cmocka_unit_test(test_stack_depth),
        cmocka_unit_test(test_stack_env),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_dlopen_modules),
        cmocka_unit_test(test_side_full),
        cmocka_unit_test(test_fork_side),
        cmocka_unit_test(test_side_fd_lost),
        cmocka_unit_test(test_exec_python),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
