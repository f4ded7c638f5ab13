/*
 * session.c — ttmemd's clients: the HELLO handshake, the ring each client hands over, draining
 * rings into the core registry, and deciding when a process has exited.
 *
 * A client's identity is the kernel's (SO_PEERCRED), never a field of its messages. Everything
 * a client sends is checked: the HELLO by proto.c, then here the descriptors (a memfd of at
 * least the ring's size, an eventfd) and the ring's header (ring.c). A refused client gets a
 * reply with a negative status and one line, the daemon logs one line and counts it.
 *
 * Exit: each session's process is watched by the process table (proc.h: a pidfd in its exit
 * epoll set, else /proc), so an exit is known the moment it happens. A
 * session whose process is gone SETTLES: its ring is drained (the slots a killed producer
 * reserved but never committed skipped), its live buffers are reported leaked_at_exit and
 * reclaimed. The ordering rule: an exit that happened before an event is settled before that
 * event is applied. So after copying a batch out of any ring and before applying it, the
 * daemon looks at the exit epoll set (one epoll_wait with no timeout); when some exit is
 * pending the batch is not applied (nor released: it stays in the ring) and the settling comes
 * first. And a new session of a pid is never drained while an older one of the same pid still
 * has events. A process that closed its connection but still runs lingers for
 * TTM_DAEMON_LINGER_MS (it may be reconnecting with the same ring), then counts as exited.
 *
 * Budgets: the daemon keeps its own consumer position (the ring's tail is only published), so
 * a peer that rewinds tail or moves head out of range is detected, counted and closed, and no
 * event is read twice. Every drain, of a live ring, a lingering one, a settling one or at a
 * clean stop, is bounded per loop turn; a ring that had more goes on in the next turn. The
 * doorbell eventfd is never read (edge-triggered in epoll: each wake-up is a hint), so a
 * client that makes it blocking cannot block the daemon. The ring's counters are checked
 * (never backwards, never more than the producer could have produced) before they are summed.
 *
 * The ring lives in memory the client controls. The daemon accepts only a memfd sealed against
 * shrinking, so its mapping cannot be cut short; as defence in depth it still drains rings
 * under a SIGBUS guard, so a fault would break only that client's session.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/proto.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/log.h"

/* ---- the SIGBUS guard ----------------------------------------------------------------------- */

static sigjmp_buf ring_jmp;
static volatile sig_atomic_t ring_guarded;
static bool guard_installed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (ring_guarded) {
        ring_guarded = 0;
        siglongjmp(ring_jmp, 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void guard_install(void)
{
    if (guard_installed)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* NODEFER: leaving by siglongjmp needs no mask restore */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    guard_installed = true;
}

/* What runs under the guard: reads and writes of s's mapped ring, nothing else. */
typedef void (*guarded_fn)(ttm_daemon *d, ttm_session *s, void *arg);

/* Calls fn(d, s, arg) under the SIGBUS guard. Returns true when it ran to its end, false when
 * the ring faulted (fn left where the fault hit it; the caller says what that means). */
static bool guarded(ttm_daemon *d, ttm_session *s, guarded_fn fn, void *arg)
{
    guard_install();
    if (sigsetjmp(ring_jmp, 0) != 0)
        return false; /* on_sigbus cleared ring_guarded */
    ring_guarded = 1;
    fn(d, s, arg);
    ring_guarded = 0;
    return true;
}

/* Marks a session whose ring faulted: it is drained no more and closes as if disconnected. */
static void ring_fault(ttm_daemon *d, ttm_session *s)
{
    s->broken = true;
    d->ring_errors++;
    TTM_LOG(WARN, "pid %u: its ring became unreadable (memfd truncated?); closing the session",
            s->pid);
}

/* Marks a session whose client moved the ring's tail or head where no producer can. */
static void ring_corrupt(ttm_daemon *d, ttm_session *s)
{
    s->broken = true;
    d->ring_errors++;
    TTM_LOG(WARN, "pid %u: its ring's tail or head was moved by the client (the daemon's "
                  "position is %llu); closing the session",
            s->pid, (unsigned long long)s->pos);
}

/* ---- session list --------------------------------------------------------------------------- */

static void list_remove(ttm_daemon *d, ttm_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        d->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    d->nsessions--;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Unmaps the ring and closes every descriptor, detaches the session from its process; frees
 * it after the loop's batch. */
static void session_free(ttm_daemon *d, ttm_session *s)
{
    ttm__loop_del(d->loop, &s->sock_w);
    ttm__loop_del(d->loop, &s->bell_w);
    if (s->ring != NULL) {
        munmap(s->ring, s->map_bytes);
        s->ring = NULL;
    }
    ttm__side_in_close(s->side);
    s->side = NULL;
    close_fd(&s->fd);
    close_fd(&s->memfd);
    close_fd(&s->efd);
    if (s->state == TTM_SESSION_ACTIVE)
        d->nactive--;
    else if (s->state == TTM_SESSION_HANDSHAKE)
        d->npending--;
    else if (s->state == TTM_SESSION_SETTLING)
        d->nsettling--;
    ttm__proc_detach(d, &s->pc);
    list_remove(d, s);
    s->dead = true;
    s->hot = false;
    ttm__loop_defer(d->loop, &s->dead_node, ttm__free, s);
}

/* ---- the side log ---------------------------------------------------------------------------- */

/* Adds what one call counted to s's process and to the daemon. */
static void side_count(ttm_daemon *d, ttm_session *s, const ttm_side_counts *c)
{
    if (s->pc.proc != NULL)
        ttm__side_counts_add(&s->pc.proc->side, c);
    ttm__side_counts_add(&d->side, c);
}

typedef struct side_args {
    size_t budget;
    int err;
    ttm_side_counts c;
    char msg[160];
} side_args;

static void do_side_read(ttm_daemon *d, ttm_session *s, void *arg)
{
    side_args *a = arg;
    a->err = ttm__side_in_read(s->side, ttm_registry_stacks(d->reg), a->budget, &a->c, a->msg,
                               sizeof a->msg);
}

/* Reads s's side log as far as its client has committed, at most *left bytes of it (SIZE_MAX:
 * all of it; *left goes down by what was read), under the SIGBUS guard (the log is sealed, so
 * a fault is not expected: one would break the side log, not the session). Returns false when
 * the budget stopped it: the events copied from the ring may name records not read yet, so
 * they wait for the next turn. Cheap when nothing is new (one acquire load and a compare). */
static bool side_sync(ttm_daemon *d, ttm_session *s, size_t *left)
{
    if (!ttm__side_in_pending(s->side))
        return true;
    if (*left == 0)
        return false;
    side_args a = {.budget = *left};
    bool ok = guarded(d, s, do_side_read, &a);
    if (!ok) {
        ttm__side_in_break(s->side, &a.c);
        snprintf(a.msg, sizeof a.msg, "its memfd became unreadable (truncated?)");
        a.err = TTM_EPROTO;
    }
    side_count(d, s, &a.c);
    if (*left != SIZE_MAX)
        *left = a.c.bytes < *left ? *left - (size_t)a.c.bytes : 0;
    if (a.err == TTM_EPROTO)
        TTM_LOG(WARN, "pid %u (%s): %s; its later call stacks and scopes are 0 (counted)",
                s->pid, s->pc.proc ? s->pc.proc->name : "?", a.msg);
    return a.err != TTM_EAGAIN;
}

void ttm__session_side_rewrite(ttm_daemon *d, ttm_session *s, ttm_event *ev, size_t n)
{
    ttm_side_counts c = {0};
    ttm__side_in_rewrite(s->side, ev, n, &c);
    if (c.stack_unknown != 0 || c.scope_unknown != 0)
        side_count(d, s, &c);
}

/* The side log handed over with s's HELLO (sidefd, -1 for none; closed here): checked and
 * mapped (side_ingest.h). A refused one costs the session its call stacks, nothing else: one
 * line; counted in *c, which the handshake adds once the process is known. */
static void side_open(ttm_session *s, int sidefd, ttm_side_counts *c)
{
    if (sidefd < 0)
        return;
    char msg[160];
    if (ttm__side_in_open(&s->side, sidefd, msg, sizeof msg) == TTM_OK) {
        c->logs++;
    } else {
        c->refused++;
        TTM_LOG(WARN, "pid %u: side log refused: %s; the session goes on without call stacks "
                      "and scopes (counted)",
                s->pid, msg);
    }
    close(sidefd);
}

/* ---- draining -------------------------------------------------------------------------------- */

/* Applies a run of events to the registry with the batch interface, then logs the classes that
 * appear for the first time. */
static void apply_run(ttm_daemon *d, ttm_session *s, size_t from, size_t to)
{
    if (to <= from)
        return;
    ttm_registry_apply_batch(d->reg, s->pid, &d->batch[from], to - from, &d->masks[from]);
    ttm__journal_events(d, s->pid, &d->batch[from], &d->masks[from], to - from);
    uint32_t seen = d->classes_seen;
    for (size_t i = from; i < to; i++)
        if (d->masks[i] & ~seen) {
            ttm__proc_note_classes(d, s->pid, s->pc.proc, "", &d->batch[i], d->masks[i]);
            seen = d->classes_seen;
        }
}

static void apply_batch(ttm_daemon *d, ttm_session *s, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const ttm_event *ev = &d->batch[i];
        if (ev->kind != TTM_EV_PROC_START && ev->kind != TTM_EV_PROC_EXIT)
            continue;
        /* The daemon alone says when a process starts and ends. */
        apply_run(d, s, from, i);
        from = i + 1;
        d->events_rejected++;
        s->pc.proc->rejected++;
        if (!d->control_logged) {
            d->control_logged = true;
            TTM_LOG(WARN, "pid %u (%s) sent a %s event: clients may not send process start/exit, "
                          "ignored (counted, not logged again)",
                    s->pid, s->pc.proc->name, ttm__event_kind_name(ev->kind));
        }
    }
    apply_run(d, s, from, n);
    d->events += n;
    s->pc.proc->events += n;
}

/* A counter the client reported that cannot be true: counted, logged (rate-limited), not
 * summed. */
static void counter_bad(ttm_daemon *d, ttm_session *s, const char *what, uint64_t was,
                        uint64_t now)
{
    d->ring_errors++;
    d->counters_rejected++;
    TTM_LOG(WARN, "pid %u (%s): its ring's %s counter went from %llu to %llu, which no "
                  "producer can do; not counted (a ring error)",
            s->pid, s->pc.proc ? s->pc.proc->name : "?", what, (unsigned long long)was,
            (unsigned long long)now);
}

/* Reads the ring's producer-side counters: waits for room and drops while no daemon existed,
 * each checked against what the producer could have done since the last check: waits at most
 * the events consumed since plus a ring and the threads that may be waiting; drops at most one
 * per nanosecond (every reservation is a compare-and-swap on one cache line) plus a ring.
 * Called under the guard. */
static void account_counters(ttm_daemon *d, ttm_session *s)
{
    ttm_ring_hdr *h = s->ring;
    uint64_t now = ttm__mono_ns();
    uint64_t waited = atomic_load_explicit(&h->waited, memory_order_relaxed);
    if (waited != s->waited_base) {
        uint64_t limit = (s->pos - s->acct_pos) + s->nslots + TTM_DAEMON_WAIT_SLACK;
        if (waited < s->waited_base || waited - s->waited_base > limit)
            counter_bad(d, s, "waited", s->waited_base, waited);
        else
            s->pc.proc->waited = ttm__sat_add(s->pc.proc->waited, waited - s->waited_base);
        s->waited_base = waited;
    }
    uint64_t dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    if (dropped != s->dropped_seen) {
        uint64_t limit = (now - s->acct_ns) + s->nslots;
        if (dropped < s->dropped_seen || dropped - s->dropped_seen > limit) {
            counter_bad(d, s, "dropped", s->dropped_seen, dropped);
            s->dropped_base = dropped;
        } else if (dropped > s->dropped_base) {
            uint64_t add = dropped - s->dropped_base;
            s->pc.proc->dropped = ttm__sat_add(s->pc.proc->dropped, add);
            d->dropped = ttm__sat_add(d->dropped, add);
            s->dropped_base = dropped;
            TTM_LOG(WARN, "pid %u (%s) dropped %llu events while no daemon held its ring",
                    s->pid, s->pc.proc->name, (unsigned long long)add);
        }
        s->dropped_seen = dropped;
    }
    s->acct_pos = s->pos;
    s->acct_ns = now;
    /* Tell the client (and any next daemon) what has been accounted for. */
    if (atomic_load_explicit(&h->dropped_reported, memory_order_relaxed) != s->dropped_base)
        atomic_store_explicit(&h->dropped_reported, s->dropped_base, memory_order_relaxed);
}

typedef struct peek_args {
    bool peer_dead, ok;
    uint64_t *next;
    size_t n;
} peek_args;

static void do_peek(ttm_daemon *d, ttm_session *s, void *arg)
{
    peek_args *a = arg;
    a->ok = ttm__ring_check_at(s->ring, s->map_bytes, s->pos);
    if (a->ok)
        a->n = ttm__ring_peek_at(s->ring, s->map_bytes, s->pos, d->batch, TTM_DAEMON_BATCH,
                                 a->peer_dead, a->next);
}

/* One peek under the SIGBUS guard, after checking that tail and head are where they can be.
 * Returns the events copied into d->batch and their end in *next; on a fault or a moved tail
 * marks the session broken and returns 0. */
static size_t guarded_peek(ttm_daemon *d, ttm_session *s, bool peer_dead, uint64_t *next)
{
    *next = s->pos;
    peek_args a = {.peer_dead = peer_dead, .next = next};
    if (!guarded(d, s, do_peek, &a)) {
        ring_fault(d, s);
        return 0;
    }
    if (!a.ok)
        ring_corrupt(d, s);
    return a.n;
}

static void do_release(ttm_daemon *d, ttm_session *s, void *arg)
{
    (void)d;
    (void)arg;
    ttm__ring_release_at(s->ring, s->pos);
}

/* Publishes the daemon's position as the ring's tail, under the guard. */
static void guarded_release(ttm_daemon *d, ttm_session *s)
{
    if (!guarded(d, s, do_release, NULL))
        ring_fault(d, s);
}

static void do_beat(ttm_daemon *d, ttm_session *s, void *arg)
{
    (void)d;
    (void)arg;
    atomic_fetch_add_explicit(&s->ring->consumer_beat, 1, memory_order_release);
}

/* Tells the ring's producers, under the guard, that the daemon is alive and holds the ring
 * back on purpose (ring.h, consumer_beat). */
static void guarded_beat(ttm_daemon *d, ttm_session *s)
{
    if (!guarded(d, s, do_beat, NULL))
        ring_fault(d, s);
}

typedef struct ready_args {
    bool account, ready;
} ready_args;

static void do_ready(ttm_daemon *d, ttm_session *s, void *arg)
{
    ready_args *a = arg;
    if (a->account)
        account_counters(d, s);
    a->ready = ttm__ring_ready_at(s->ring, s->map_bytes, s->pos);
}

/* Reads the ring's counters (when account) and whether more is ready, under the guard. */
static bool guarded_ready(ttm_daemon *d, ttm_session *s, bool account)
{
    if (s->ring == NULL || s->broken)
        return false;
    ready_args a = {.account = account};
    if (!guarded(d, s, do_ready, &a)) {
        ring_fault(d, s);
        return false;
    }
    return a.ready;
}

/* The process of s is gone (or counts as gone): s settles from the next drain on. */
static void session_gone(ttm_daemon *d, ttm_session *s, const char *why)
{
    if (s->state == TTM_SESSION_SETTLING || s->state == TTM_SESSION_HANDSHAKE)
        return;
    ttm__proc_unwatch(d, &s->pc);
    ttm__loop_del(d->loop, &s->sock_w);
    close_fd(&s->fd);
    if (s->state == TTM_SESSION_ACTIVE)
        d->nactive--;
    s->state = TTM_SESSION_SETTLING;
    s->pc.settling = true;
    s->exit_why = why;
    s->napping = false;
    s->hot = true;
    d->nsettling++;
}

/* The process table found s's process gone (proc.h): s settles. */
static void on_gone(ttm_daemon *d, ttm_pconn *c, ttm_gone_how how)
{
    ttm_session *s = c->owner;
    if (how == TTM_GONE_PIDFD)
        session_gone(d, s, "exited");
    else if (how == TTM_GONE_POLLED)
        session_gone(d, s, s->state == TTM_SESSION_LINGER ? "connection closed" : "exited");
    else if (s->state == TTM_SESSION_ACTIVE)
        session_gone(d, s, "process gone, connection still open");
}

/* True when an older session of the same process still has events: those come first. */
static bool older_pending(ttm_daemon *d, const ttm_session *s)
{
    if (s->pc.proc == NULL || s->pc.proc->sessions_open < 2)
        return false;
    for (ttm_session *o = d->sessions; o != NULL; o = o->next)
        if (o != s && o->pid == s->pid && o->seq < s->seq && o->ring != NULL &&
            (o->state == TTM_SESSION_SETTLING || guarded_ready(d, o, false)))
            return true;
    return false;
}

/* Drains up to budget slots of s's ring into the registry. Returns the slots gone through;
 * sets s->hot when it stopped with more to do (the budget, or another session had to come
 * first: a pending exit, an older session of the same pid). */
static size_t session_drain(ttm_daemon *d, ttm_session *s, size_t budget)
{
    s->hot = false;
    if (s->ring == NULL || s->broken)
        return 0;
    bool dead = s->state == TTM_SESSION_SETTLING;
    if (!dead && !d->stopping && (d->nsettling > 0 || older_pending(d, s))) {
        s->hot = true;
        return 0;
    }
    size_t total = 0;
    /* the side log's bytes this drain may read: a client cannot buy a longer turn by writing
     * records as fast as they are read (all of them at a clean stop) */
    size_t side_left = d->stopping ? SIZE_MAX : TTM_SIDE_IN_BUDGET;
    while (total < budget) {
        uint64_t next;
        size_t n = guarded_peek(d, s, dead, &next);
        if (s->broken || next == s->pos)
            break;
        if (!dead && !d->stopping) {
            /* the ordering rule: exits that have happened are settled before these events */
            ttm__proc_note_exits(d);
            if (d->nsettling > (s->state == TTM_SESSION_SETTLING ? 1u : 0u)) {
                s->hot = true; /* not applied, not released: they wait in the ring */
                return total;
            }
        }
        /* what the events name was committed to the side log before them (side.h): read it
         * that far (within a budget; the whole of it at a clean stop), then translate */
        if (!side_sync(d, s, &side_left)) {
            s->hot = true; /* not applied, not released: they wait in the ring */
            return total;
        }
        ttm__session_side_rewrite(d, s, d->batch, n);
        apply_batch(d, s, n);
        total += (size_t)(next - s->pos);
        s->pos = next;
        guarded_release(d, s);
    }
    if (s->broken)
        return total;
    bool ready = guarded_ready(d, s, true);
    if (total >= budget && (dead || ready))
        s->hot = true;
    return total;
}

static void do_prepare_sleep(ttm_daemon *d, ttm_session *s, void *arg)
{
    (void)d;
    *(bool *)arg = ttm__ring_prepare_sleep_at(s->ring, s->map_bytes, s->pos);
}

/* Announces sleep under the guard; true when the consumer may block (see ring.h). */
static bool guarded_prepare_sleep(ttm_daemon *d, ttm_session *s)
{
    bool may_sleep = true;
    if (!guarded(d, s, do_prepare_sleep, &may_sleep)) {
        ring_fault(d, s);
        return true;
    }
    return may_sleep;
}

/* Drains one budget; then either naps (events came: more are likely, and a producer that finds
 * the consumer awake does not pay for a doorbell) or, when the ring was already empty, arms
 * the doorbell. So under a steady stream the daemon polls every TTM_DAEMON_NAP_US and
 * producers almost never ring; an idle ring costs nothing (docs/CLIENT.md, "arm the doorbell
 * late"). */
static void session_drain_and_sleep(ttm_daemon *d, ttm_session *s, size_t budget)
{
    s->napping = false;
    if (s->ring == NULL || s->broken)
        return;
    /* awake now: producers need not ring (ring.h) */
    atomic_store_explicit(&s->ring->consumer_sleeping, 0, memory_order_relaxed);
    for (int tries = 0; tries < 4; tries++) {
        size_t n = session_drain(d, s, budget);
        if (s->hot || s->broken || s->ring == NULL)
            return;
        if (n > 0)
            break;
        if (guarded_prepare_sleep(d, s))
            return;
    }
    s->napping = true; /* events came (or a producer is finishing one): look again soon */
    s->nap_until_ns = ttm__mono_ns() + TTM_DAEMON_NAP_US * 1000u;
}

/* ---- exit ------------------------------------------------------------------------------------ */

/* One step of the exit of s's process, whose ring needs no more draining: at most budget of
 * its records are reclaimed (ttm__proc_exit_step: true when done, or when another connection
 * of the process remains and the last one applies it). An exit once begun is carried to its
 * end whatever sessions appear meanwhile (the pid may be reused: the new session waits for
 * it, see session_drain). */
static bool session_exit_step(ttm_daemon *d, ttm_session *s, size_t budget, const char *why)
{
    if (s->pc.proc == NULL)
        return true;
    return ttm__proc_exit_step(d, &s->pc, s->pid, budget, why, false);
}

/* Ends a session whose ring needs no more draining. exited: the process is gone (or counts as
 * gone) and session_exit_step() has applied its exit. Otherwise the ring is only detached. */
static void session_finish(ttm_daemon *d, ttm_session *s, bool exited, const char *why)
{
    if (s->ring != NULL && !exited && !s->broken)
        atomic_store_explicit(&s->ring->consumer_attached, 0, memory_order_release);
    if (s->pc.proc != NULL && !exited)
        TTM_LOG(DEBUG, "pid %u (%s): session closed (%s)", s->pid, s->pc.proc->name, why);
    session_free(d, s);
    if (exited)
        ttm__proc_trim(d);
}

/* The settling step of a loop turn: every settling session drains its share of the turn's
 * budget; those drained (ring empty or broken) apply their share of the turn's records of
 * their exit, and end when it is done. */
static void settle_step(ttm_daemon *d)
{
    ttm__proc_note_exits(d);
    if (d->nsettling == 0)
        return;
    size_t budget = TTM_DAEMON_TURN_EVENTS / d->nsettling;
    if (budget < TTM_DAEMON_BUDGET)
        budget = TTM_DAEMON_BUDGET;
    size_t records = ttm__proc_exit_records(d->nsettling);
    bool step = ttm__proc_exit_may_step(d);
    ttm_session *s = d->sessions;
    while (d->nsettling > 0 && s != NULL) {
        ttm_session *next = s->next;
        if (s->state == TTM_SESSION_SETTLING) {
            session_drain(d, s, budget);
            const char *why = s->exit_why ? s->exit_why : "exited";
            if (step && !s->hot && session_exit_step(d, s, records, why))
                session_finish(d, s, true, why);
        }
        s = next;
    }
}

/* The connection closed: the process may be exiting (settled at once when it is gone, else
 * when its pidfd says so) or only have closed its descriptors (it lingers). */
static void session_hangup(ttm_daemon *d, ttm_session *s)
{
    if (s->state == TTM_SESSION_HANDSHAKE) {
        TTM_LOG(DEBUG, "pid %u: connection closed before its hello", s->pid);
        session_free(d, s);
        return;
    }
    if (s->state != TTM_SESSION_ACTIVE)
        return;
    ttm__loop_del(d->loop, &s->sock_w);
    close_fd(&s->fd);
    if (s->broken || ttm__proc_conn_gone(&s->pc)) {
        session_gone(d, s, s->broken ? "ring unreadable" : "connection closed");
        return;
    }
    d->nactive--;
    s->state = TTM_SESSION_LINGER;
    s->linger_ns = ttm__mono_ns();
    s->hot = true;
}

/* ---- handshake ------------------------------------------------------------------------------- */

static void reject(ttm_daemon *d, ttm_session *s, int status, const char *msg)
{
    d->clients_rejected++;
    TTM_LOG(WARN, "refused client pid %u uid %u: %s", s->pid, s->uid, msg);
    ttm__proto_send_reply(s->fd, status, msg);
    session_free(d, s);
}

/* Refuses a connection at --max-clients: counted, told, logged (rate-limited). */
static void refuse_limit(ttm_daemon *d, int fd, uint32_t pid)
{
    char msg[120];
    snprintf(msg, sizeof msg, "ttmemd serves at most %u clients (--max-clients)",
             d->cfg.max_clients);
    d->clients_refused++;
    TTM_LOG(WARN, "refused client pid %u: %s (counted)", pid, msg);
    ttm__proto_send_reply(fd, TTM_ELIMIT, msg);
}

static bool is_eventfd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

typedef struct check_args {
    const ttm_hello *hello;
    char *msg;
    size_t msg_len;
    int err;
} check_args;

/* The checks of a freshly mapped ring's header; the daemon's position starts at its tail. */
static void do_check(ttm_daemon *d, ttm_session *s, void *arg)
{
    (void)d;
    check_args *a = arg;
    const ttm_hello *hello = a->hello;
    a->err = ttm__ring_validate(s->ring, s->map_bytes, a->msg, a->msg_len);
    if (a->err == TTM_OK && ((volatile ttm_ring_hdr *)s->ring)->nslots != hello->nslots) {
        snprintf(a->msg, a->msg_len, "ring header says %u slots, hello says %u",
                 ((volatile ttm_ring_hdr *)s->ring)->nslots, hello->nslots);
        a->err = TTM_EPROTO;
    }
    if (a->err != TTM_OK)
        return;
    /* it must be where a consumer left it */
    uint64_t tail = atomic_load_explicit(&s->ring->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&s->ring->head, memory_order_acquire);
    if (tail > head || head - tail > hello->nslots) {
        snprintf(a->msg, a->msg_len, "ring header has tail %llu and head %llu: not a ring of %u "
                                     "slots",
                 (unsigned long long)tail, (unsigned long long)head, hello->nslots);
        a->err = TTM_EPROTO;
    }
    s->pos = tail;
}

/* Checks the descriptors and maps the ring. Returns 0 or an error with msg filled. Only
 * operations that cannot block are made on the client's descriptors: fcntl first (it fails at
 * once on anything that is not a memfd), then fstat and mmap of a memfd. */
static int map_ring(ttm_daemon *d, ttm_session *s, const ttm_hello *hello, char *msg,
                    size_t msg_len)
{
    /* A ring that can shrink under the daemon's mapping could fault it: the memfd must be
     * sealed against shrinking (libttmem seals it; a client that allowed sealing but did not
     * seal gets it done here). */
    (void)fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK);
    int seals = fcntl(s->memfd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
        snprintf(msg, msg_len, "the ring must be a memfd sealed against shrinking "
                               "(F_SEAL_SHRINK)");
        return TTM_EPROTO;
    }
    struct stat st;
    if (fstat(s->memfd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msg_len, "descriptor 1 is not a memfd or regular file holding the ring");
        return TTM_EPROTO;
    }
    if ((uint64_t)st.st_size < hello->ring_bytes) {
        snprintf(msg, msg_len, "ring memfd has %lld bytes but a ring of %u slots needs %llu",
                 (long long)st.st_size, hello->nslots, (unsigned long long)hello->ring_bytes);
        return TTM_EPROTO;
    }
    if (!is_eventfd(s->efd)) {
        snprintf(msg, msg_len, "descriptor 2 is not an eventfd (the ring's doorbell)");
        return TTM_EPROTO;
    }
    void *map = mmap(NULL, (size_t)hello->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                     s->memfd, 0);
    if (map == MAP_FAILED) {
        snprintf(msg, msg_len, "cannot map the ring memfd read-write: %s", strerror(errno));
        return TTM_EPROTO;
    }
    s->ring = map;
    s->map_bytes = (size_t)hello->ring_bytes;
    s->ring_dev = st.st_dev;
    s->ring_ino = st.st_ino;
    check_args a = {.hello = hello, .msg = msg, .msg_len = msg_len};
    if (!guarded(d, s, do_check, &a)) {
        snprintf(msg, msg_len, "the ring memfd shrank while it was being checked");
        d->ring_errors++;
        return TTM_EPROTO;
    }
    int err = a.err;
    s->nslots = hello->nslots;
    return err;
}

/* Hands the ring over when an older session of the same process holds the same ring (a
 * reconnect to this daemon): the new session goes on from the old one's position and
 * counters, nothing is drained here. Returns true when that happened. */
static bool take_over_same_ring(ttm_daemon *d, ttm_session *s)
{
    bool found = false;
    ttm_session *o = d->sessions;
    while (o != NULL) {
        ttm_session *next = o->next;
        if (o != s && o->pid == s->pid && o->ring != NULL && o->ring_dev == s->ring_dev &&
            o->ring_ino == s->ring_ino && o->state != TTM_SESSION_SETTLING && !o->broken) {
            TTM_LOG(DEBUG, "pid %u: ring handed from an older session to a new one", s->pid);
            s->pos = o->pos;
            s->waited_base = o->waited_base;
            s->dropped_base = o->dropped_base;
            s->dropped_seen = o->dropped_seen;
            s->seq = o->seq; /* it takes the older one's place in the per-pid order */
            found = true;
            session_free(d, o);
        }
        o = next;
    }
    return found;
}

/* How long pid has existed, from /proc/PID/stat's start time; UINT64_MAX when unknown. Bounds
 * the drops a client can claim to have had. */
static uint64_t process_age_ns(uint32_t pid)
{
    char buf[1024];
    const char *field = ttm__proc_stat_field(pid, 22, buf, sizeof buf);
    if (field == NULL)
        return UINT64_MAX;
    unsigned long long ticks = strtoull(field, NULL, 10);
    long hz = sysconf(_SC_CLK_TCK);
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t start = hz > 0 ? ticks * (1000000000ull / (uint64_t)hz) : 0;
    return now > start ? now - start + 1000000000ull : 1000000000ull;
}

static void handshake(ttm_daemon *d, ttm_session *s, uint32_t events)
{
    int avail = 0;
    if (ioctl(s->fd, FIONREAD, &avail) == 0 && avail < (int)sizeof(ttm_hello) &&
        !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
        return; /* the rest of the HELLO is on its way; the handshake timeout bounds the wait */
    ttm_hello hello;
    char msg[120];
    int sidefd = -1;
    int err = ttm__proto_recv_hello(s->fd, &hello, &s->memfd, &s->efd, &sidefd, msg, sizeof msg);
    ttm_side_counts side_c = {0};
    side_open(s, sidefd, &side_c); /* before any refusal: it closes sidefd */
    if (err == TTM_EAGAIN)
        return;
    if (err == TTM_ECLOSED) {
        session_hangup(d, s);
        return;
    }
    if (err != TTM_OK) {
        reject(d, s, err, msg);
        return;
    }
    if (s->pid == 0) { /* SO_PEERCRED could not map the peer into our pid namespace */
        reject(d, s, TTM_EPERM, "the daemon cannot see this process's pid (another pid "
                                "namespace?): run ttmemd in the same pid namespace");
        return;
    }
    if (d->nsessions - d->npending >= d->cfg.max_clients) {
        refuse_limit(d, s->fd, s->pid);
        session_free(d, s);
        return;
    }
    err = map_ring(d, s, &hello, msg, sizeof msg);
    if (err != TTM_OK) {
        reject(d, s, err, msg);
        return;
    }
    /* exits that happened before this process started are settled first */
    ttm__proc_note_exits(d);
    if (ttm__proc_attach(d, &s->pc, s->pid, s->uid, hello.comm) == NULL) {
        reject(d, s, TTM_ELIMIT, "the daemon's process table is full");
        return;
    }
    side_count(d, s, &side_c);
    ttm_ring_hdr *h = s->ring;
    bool other = ttm__proc_held(d, s->pid, &s->pc, false);
    bool same_ring = other && take_over_same_ring(d, s);
    /* Counters already in the ring belong to earlier daemons or sessions, except the drops the
     * client says no daemon has heard of. */
    uint64_t reported = atomic_load_explicit(&h->dropped_reported, memory_order_relaxed);
    uint64_t ring_dropped = atomic_load_explicit(&h->dropped, memory_order_relaxed);
    if (!same_ring) {
        s->waited_base = atomic_load_explicit(&h->waited, memory_order_relaxed);
        s->dropped_seen = ring_dropped;
    }
    uint64_t tail = s->pos;
    /* The client reports what it dropped; the ring's own counter may say more (drops after the
     * HELLO was written): the larger is accounted, once, if the process could have produced
     * that many events in its life (one a nanosecond at most). */
    uint64_t add = hello.dropped;
    if (ring_dropped > reported && ring_dropped - reported > add)
        add = ring_dropped - reported;
    if (add > process_age_ns(s->pid)) {
        counter_bad(d, s, "dropped (at its hello)", reported, reported + add);
        add = 0;
    }

    err = ttm__proto_send_reply(s->fd, TTM_OK, NULL);
    if (err != TTM_OK) { /* nothing is counted for a session that never began */
        TTM_LOG(DEBUG, "pid %u: gone before the reply: %s", s->pid, ttm_strerror(err));
        ttm_dproc *p = s->pc.proc;
        p->sessions--;
        ttm__proc_detach(d, &s->pc);
        if (p->sessions_open == 0)
            p->exited = true;
        session_free(d, s);
        return;
    }
    if (add > 0) {
        s->pc.proc->dropped = ttm__sat_add(s->pc.proc->dropped, add);
        d->dropped = ttm__sat_add(d->dropped, add);
        TTM_LOG(WARN, "pid %u (%s) dropped %llu events while no daemon held its ring", s->pid,
                s->pc.proc->name, (unsigned long long)add);
    }
    if (!same_ring)
        s->dropped_base = ttm__sat_add(reported, add);
    atomic_store_explicit(&h->dropped_reported, s->dropped_base, memory_order_relaxed);
    if (!same_ring && tail > 0) {
        /* a previous daemon consumed these; this registry never saw them, except what a state
         * reloaded at start holds or replays from the ring (state.c; the replay translates the
         * events' ids, so the side log is read first) */
        size_t all = SIZE_MAX;
        if (s->pc.proc->restored)
            side_sync(d, s, &all);
        uint64_t unseen = ttm__state_reattach(d, s, tail);
        s->pc.proc->prior_events = ttm__sat_add(s->pc.proc->prior_events, unseen);
        d->prior_events = ttm__sat_add(d->prior_events, unseen);
    }
    s->pc.proc->restored = false;
    if (hello.flags & TTM_HELLO_REATTACH) {
        s->pc.proc->reattached = true;
        d->reattached++;
    }
    s->acct_pos = s->pos;
    s->acct_ns = ttm__mono_ns();
    atomic_store_explicit(&h->consumer_attached, 1, memory_order_release);
    d->npending--;
    s->state = TTM_SESSION_ACTIVE;
    d->nactive++;
    d->clients_total++;
    ttm__proc_watch(d, &s->pc, s->fd, on_gone);
    /* edge-triggered and never read: a client that makes its eventfd blocking, or reads it
     * itself, can only lose its own wake-ups (the tick drains every ring anyway) */
    if (ttm__loop_add(d->loop, &s->bell_w, s->efd, EPOLLIN | EPOLLET) != TTM_OK) {
        TTM_LOG(ERROR, "pid %u: cannot watch its doorbell (%s); its ring is drained by the "
                       "timer only",
                s->pid, strerror(errno));
        close_fd(&s->efd);
    }
    if (!other) {
        ttm_event start;
        memset(&start, 0, sizeof start);
        start.kind = TTM_EV_PROC_START;
        start.ts = ttm__mono_ns();
        uint32_t mask = ttm_registry_apply(d->reg, s->pid, &start);
        ttm__journal_events(d, s->pid, &start, &mask, 1);
    }
    ttm__journal_proc(d, TTM_JOURNAL_PROC_START, s->pid, ttm__mono_ns()); /* its name */
    if (hello.flags & TTM_HELLO_REATTACH)
        TTM_LOG(INFO, "pid %u (%s) uid %u reattached its ring of %u slots: %llu earlier events "
                      "went to a previous daemon, %llu dropped while none existed",
                s->pid, s->pc.proc->name, s->uid, hello.nslots, (unsigned long long)tail,
                (unsigned long long)add);
    else
        TTM_LOG(INFO, "pid %u (%s) uid %u connected, ring of %u slots", s->pid, s->pc.proc->name,
                s->uid, hello.nslots);
    s->hot = true; /* drained in this loop turn, in its turn */
}

/* ---- entry points ---------------------------------------------------------------------------- */

static void on_socket(ttm_loop *l, ttm_watch *w, uint32_t events);
static void on_doorbell(ttm_loop *l, ttm_watch *w, uint32_t events);

/* Makes room for a connection of uid that has not said HELLO yet: when the pending budget (or
 * uid's share of it) is used up, the pending connections whose HELLO has arrived are served
 * first, then the oldest still pending (of uid, when uid's share is the one used up) is
 * closed: honest clients send their HELLO right after connecting, so the oldest silent one is
 * the likeliest to be idle. Counted as refused. */
static void pending_make_room(ttm_daemon *d, uint32_t uid)
{
    if (d->npending < TTM_DAEMON_MAX_PENDING_UID)
        return;
    /* first the pending connections whose HELLO is there: they are served, not evicted */
    ttm_session *s = d->sessions;
    while (s != NULL) {
        ttm_session *next = s->next;
        int avail = 0;
        if (!s->dead && s->state == TTM_SESSION_HANDSHAKE &&
            ioctl(s->fd, FIONREAD, &avail) == 0 && avail >= (int)sizeof(ttm_hello))
            handshake(d, s, 0);
        s = next;
    }
    uint32_t of_uid = 0;
    ttm_session *oldest = NULL, *oldest_uid = NULL;
    for (s = d->sessions; s != NULL; s = s->next) {
        if (s->state != TTM_SESSION_HANDSHAKE)
            continue;
        if (oldest == NULL || s->seq < oldest->seq)
            oldest = s;
        if (s->uid == uid) {
            of_uid++;
            if (oldest_uid == NULL || s->seq < oldest_uid->seq)
                oldest_uid = s;
        }
    }
    ttm_session *victim = NULL;
    if (of_uid >= TTM_DAEMON_MAX_PENDING_UID)
        victim = oldest_uid;
    else if (d->npending >= TTM_DAEMON_MAX_PENDING)
        victim = oldest;
    if (victim == NULL)
        return;
    d->clients_refused++;
    d->pending_evicted++;
    char msg[120];
    snprintf(msg, sizeof msg, "too many connections without a hello (at most %u, %u per "
                              "user): the oldest is closed",
             TTM_DAEMON_MAX_PENDING, TTM_DAEMON_MAX_PENDING_UID);
    TTM_LOG(WARN, "closed a connection of pid %u uid %u that sent no hello: %s (counted)",
            victim->pid, victim->uid, msg);
    ttm__proto_send_reply(victim->fd, TTM_ELIMIT, msg);
    session_free(d, victim);
}

/* Accepts every pending connection on the main socket. */
static void session_accept(ttm_daemon *d)
{
    for (int k = 0; k < TTM_DAEMON_ACCEPTS_PER_TURN; k++) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                TTM_LOG(WARN, "accept on %s failed: %s", d->cfg.socket_path, strerror(errno));
            return;
        }
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
            TTM_LOG(WARN, "cannot read the credentials of a client: %s", strerror(errno));
            close(fd);
            continue;
        }
        if (d->nsessions - d->npending >= d->cfg.max_clients) {
            refuse_limit(d, fd, (uint32_t)cred.pid);
            close(fd);
            continue;
        }
        pending_make_room(d, (uint32_t)cred.uid);
        ttm_session *s = ttm__calloc(1, sizeof *s);
        if (s == NULL) {
            TTM_LOG(ERROR, "out of memory accepting a client");
            close(fd);
            continue;
        }
        ttm__watch_init(&s->sock_w, on_socket, s);
        ttm__watch_init(&s->bell_w, on_doorbell, s);
        s->fd = fd;
        s->memfd = s->efd = -1;
        ttm__pconn_init(&s->pc, s);
        s->pid = (uint32_t)cred.pid;
        s->uid = (uint32_t)cred.uid;
        s->state = TTM_SESSION_HANDSHAKE;
        s->opened_ns = ttm__mono_ns();
        s->seq = ++d->session_seq;
        s->next = d->sessions;
        if (d->sessions)
            d->sessions->prev = s;
        d->sessions = s;
        d->nsessions++;
        d->npending++;
        if (ttm__loop_add(d->loop, &s->sock_w, fd, EPOLLIN | EPOLLRDHUP) != TTM_OK) {
            TTM_LOG(ERROR, "cannot watch a client socket: %s", strerror(errno));
            session_free(d, s);
            continue;
        }
        handshake(d, s, 0); /* an honest client's HELLO is usually there already */
    }
}

/* Epoll events of a session's socket (HELLO, hang-up). */
static void on_socket(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    ttm_daemon *d = ttm__loop_ctx(l);
    ttm_session *s = w->owner;
    if (s->dead)
        return;
    if (s->state == TTM_SESSION_HANDSHAKE) {
        handshake(d, s, events);
        return;
    }
    if (s->state != TTM_SESSION_ACTIVE)
        return;
    if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
        session_hangup(d, s);
        return;
    }
    if (events & EPOLLIN) {
        /* Nothing is expected after the HELLO: discard (a bounded amount per turn), and
         * notice an EOF. The socket is the daemon's own non-blocking file description. */
        char buf[256];
        ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            session_hangup(d, s);
    }
}

/* The doorbell of a session's ring (edge-triggered, never read): marks it due. */
static void on_doorbell(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    ttm_session *s = w->owner;
    if (!s->dead && s->state != TTM_SESSION_HANDSHAKE)
        s->hot = true;
}

/* One loop turn's draining (the before-sleep hook): first the sessions of exited processes
 * are settled (each within a budget; no other ring's events are applied until they are done),
 * then every due ring (its doorbell rang, its last drain stopped at its budget, or its nap is
 * over) gets one budget. Returns how long the loop may wait before the next one is due: 0, a
 * number of nanoseconds, or -1 (nothing due; wait for events). */
static int64_t session_poll(ttm_loop *l, void *arg)
{
    (void)l;
    ttm_daemon *d = arg;
    settle_step(d);
    if (d->nsettling > 0)
        return 0; /* more to settle next turn; the others wait */
    uint32_t busy = 0;
    for (ttm_session *s = d->sessions; s != NULL; s = s->next)
        busy += s->hot || s->napping;
    size_t budget = busy > 0 ? TTM_DAEMON_TURN_EVENTS / busy : TTM_DAEMON_TURN_EVENTS;
    if (budget < TTM_DAEMON_BUDGET)
        budget = TTM_DAEMON_BUDGET;
    int64_t wait = -1;
    uint64_t now = ttm__mono_ns();
    ttm_session *s = d->sessions;
    while (s != NULL) {
        ttm_session *next = s->next;
        bool live = s->state == TTM_SESSION_ACTIVE || s->state == TTM_SESSION_LINGER;
        if (live && (s->hot || (s->napping && s->nap_until_ns <= now))) {
            session_drain_and_sleep(d, s, budget);
            if (s->broken)
                session_gone(d, s, "ring unreadable");
            now = ttm__mono_ns();
        }
        if (!s->dead) {
            if (s->hot)
                wait = 0;
            else if (s->napping) {
                int64_t left = s->nap_until_ns > now ? (int64_t)(s->nap_until_ns - now) : 0;
                if (wait < 0 || left < wait)
                    wait = left;
            }
        }
        s = next;
    }
    if (d->nsettling > 0)
        wait = 0;
    return wait;
}

/* The periodic tick: marks every ring due (the safety net for a missed doorbell), times out
 * handshakes, ends lingering sessions. */
static void session_tick(ttm_loop *l, void *arg, uint64_t ticks)
{
    (void)l;
    (void)ticks;
    ttm_daemon *d = arg;
    uint64_t now = ttm__mono_ns();
    ttm_session *s = d->sessions;
    while (s != NULL) {
        ttm_session *next = s->next;
        switch (s->state) {
        case TTM_SESSION_HANDSHAKE:
            if (now - s->opened_ns > (uint64_t)TTM_DAEMON_HANDSHAKE_MS * 1000000u) {
                char msg[120];
                snprintf(msg, sizeof msg, "no hello within %d ms of connecting",
                         TTM_DAEMON_HANDSHAKE_MS);
                reject(d, s, TTM_ETIMEDOUT, msg);
            }
            break;
        case TTM_SESSION_ACTIVE:
            s->hot = true; /* the safety net for a missed doorbell */
            if (d->nsettling > 0 && s->ring != NULL && !s->broken)
                guarded_beat(d, s); /* held back behind an exit: not stalled */
            if (s->broken)
                session_gone(d, s, "ring unreadable");
            break;
        case TTM_SESSION_LINGER:
            s->hot = true;
            if (s->broken)
                session_gone(d, s, "ring unreadable");
            else if (now - s->linger_ns > (uint64_t)TTM_DAEMON_LINGER_MS * 1000000u)
                session_gone(d, s, "connection closed, process still running");
            break;
        case TTM_SESSION_SETTLING:
            break;
        }
        s = next;
    }
}

void ttm__session_close_all(ttm_daemon *d)
{
    d->stopping = true;
    ttm__proc_note_exits(d);
    for (ttm_session *s = d->sessions; s != NULL; s = s->next)
        if (s->state == TTM_SESSION_LINGER && ttm__proc_conn_gone(&s->pc))
            session_gone(d, s, "connection closed");
    /* the processes already gone first, each drained of what its ring holds */
    bool exits_left = false;
    while (d->nsettling > 0) {
        ttm_session *s = d->sessions;
        while (s != NULL && s->state != TTM_SESSION_SETTLING)
            s = s->next;
        if (s == NULL)
            break;
        session_drain(d, s, (size_t)s->nslots + TTM_DAEMON_BATCH);
        /* one turn's share of its exit, no more: the stop is not held up by a process that
         * held millions of buffers. An exit left half applied is consistent in the state
         * saved next (every step is), where the process still counts as alive with the
         * records not reclaimed yet; the next daemon, finding it gone, settles the rest at
         * load (state.c) */
        const char *why = s->exit_why ? s->exit_why : "exited";
        if (!session_exit_step(d, s, ttm__proc_exit_records(1), why)) {
            exits_left = true;
            TTM_LOG(INFO, "pid %u (%s) exited (%s): daemon stopping with its exit half "
                          "settled; the rest is settled when the next daemon loads the state",
                    s->pid, s->pc.proc->name, why);
        }
        session_finish(d, s, true, why);
    }
    /* then every other ring: at most what it can hold, so a producer that keeps writing
     * cannot hold the stop up; what is left stays in the ring for the next daemon. None when
     * an exit was left half settled: the ordering rule holds across the restart too (the next
     * daemon settles the exit at load, before it replays what the rings hold) */
    while (d->sessions != NULL) {
        ttm_session *s = d->sessions;
        if (s->state != TTM_SESSION_HANDSHAKE && !exits_left)
            session_drain(d, s, s->nslots);
        session_finish(d, s, false, "daemon stopping");
    }
    ttm__proc_trim(d);
}

static void on_listen(ttm_loop *l, ttm_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
    session_accept(ttm__loop_ctx(l));
}

int ttm__session_register(ttm_daemon *d)
{
    ttm__watch_init(&d->listen_w, on_listen, d);
    ttm__loop_on_tick(d->loop, &d->session_tick, session_tick, d);
    ttm__loop_before_sleep(d->loop, &d->session_sleep, session_poll, d);
    return ttm__loop_add(d->loop, &d->listen_w, d->listen_fd, EPOLLIN);
}
