/*
 * harness.h — what the integration test programs (it_daemon, it_poc, ...) share: one case per
 * run, picked from the command line, in its own temporary directory under a timeout, child processes that never outlive the case,
 * checks that name the case and line, clocks, and a ttmemd started and awaited until ready.
 */
#ifndef TTM_TESTS_HARNESS_H
#define TTM_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/report.h"

extern const char *it_prog; /* "it_daemon": prefixes every failure */
extern const char *it_case; /* the case being run */
extern char it_dir[64];     /* the case's temporary directory ("" until it_begin) */

/* The cases a program runs, by name. */
typedef struct it_case_entry {
    const char *name;
    void (*fn)(void);
} it_case_entry;

/* The function of case `name` in cases[0..n), or NULL (after printing the known names). */
void (*it_find_case(const it_case_entry *cases, size_t n, const char *name))(void);

/* A program that runs one case per invocation: `PROG CASE ARG...`. */
typedef struct it_program {
    const char *name;           /* "it_daemon": prefixes every failure */
    const char *usage;          /* the words after CASE, for the usage line: "TTMEMD TTMEM" */
    const char **args[8];       /* where the words after CASE go, in order; NULL ends the list */
    const it_case_entry *cases; /* the cases, by name */
    size_t ncases;
    const char *tmpl;           /* the case directory's template, for it_begin */
    unsigned timeout_s;         /* the case's timeout, for it_begin */
} it_program;

/* What such a main() does first: checks that argv is PROG CASE and one word for each of
 * p->args (otherwise prints "usage: NAME CASE USAGE"), stores those words through p->args,
 * finds the case and begins it (it_begin). Returns the case's function, or NULL with *status
 * set to main()'s exit status: 2 for a wrong command line or an unknown case, 1 when the case
 * cannot begin. */
void (*it_main_begin(const it_program *p, int argc, char **argv, int *status))(void);

/* Prints "PROG: CASE passed" and returns 0: what main() returns when its case passed. */
int it_passed(void);

/* Starts a case: makes a directory from tmpl ("/tmp/ttmem-it.XXXXXX"), registers the clean-up
 * (kill every tracked process, remove the directory; only in this process, not in forked
 * helpers) and a timeout of timeout_s seconds. Returns 0, or prints why and returns 1. */
int it_begin(const char *prog, const char *case_name, const char *tmpl, unsigned timeout_s);

/* Prints "PROG: CASE: line N: message" and ends the case (a forked helper exits at once). */
void it_fail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (!(cond))                                                                            \
            it_fail(__LINE__, "check failed: " #cond ": " __VA_ARGS__);                         \
    } while (0)

#define CHECK_EQ(a, b)                                                                          \
    do {                                                                                        \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                   \
        if (va_ != vb_)                                                                         \
            it_fail(__LINE__, "%s == %lld, expected %s == %lld", #a, va_, #b, vb_);             \
    } while (0)

/* Processes killed (SIGCONT, then SIGKILL) and reaped when the case ends. */
void it_track(pid_t pid);
void it_untrack(pid_t pid);

int64_t it_now_ms(void);
void it_sleep_us(long us);
void it_sleep_ms(long ms);

/* Reads one line from fd within timeout_ms into buf, without its newline. Returns 0, or -1
 * (time out, end of file, or a line longer than buf) with what was read in buf. */
int it_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* Waits for pid to end (it_fail after timeout_ms); untracks it and returns its wait status. */
int it_wait_exit(pid_t pid, int timeout_ms);

/* Starts `ttmemd --foreground --socket SOCK --ready-fd 3 --log-level debug EXTRA...` with its
 * stderr appended to errfile, tracks it, and waits until it says "ready" (it_fail otherwise). */
pid_t it_start_ttmemd(const char *ttmemd, const char *sock, const char *errfile,
                      const char *const *extra);
/* The same, with no --socket when sock is NULL, and run as uid and gid (no supplementary
 * groups) unless they are -1. */
pid_t it_start_ttmemd_as(const char *ttmemd, const char *sock, const char *errfile,
                         const char *const *extra, uid_t uid, gid_t gid);

/* Starts argv[0] with argv (NULL-terminated) and its environment changed by env (NULL-terminated,
 * or NULL): a NAME=VALUE string sets NAME, a bare NAME removes it. Its stdin and stdout are pipes
 * whose other ends go to *in (we write) and *out (we read), or /dev/null when in or out is NULL;
 * its stderr goes to the file err (created or truncated), or stays ours when err is NULL.
 * Tracked. */
pid_t it_spawn_err(const char *const *argv, const char *const *env, int *in, int *out,
                   const char *err);
/* it_spawn_err() with our stderr. */
pid_t it_spawn(const char *const *argv, const char *const *env, int *in, int *out);

/* A line of /proc/PID/status ("VmHWM", "VmRSS") in KiB, or -1. */
long it_proc_kib(pid_t pid, const char *field);

/* The lines of the file at path that contain needle; -1 when it cannot be read. */
int it_count_lines(const char *path, const char *needle);

/* Removes a directory and the files in it. */
void it_remove_dir(const char *dir);

/* Asks the daemon at query for sections (top 10 offenders, 100 leaks) into *s, waiting at most
 * timeout_ms; a failed query ends the case with the daemon's one line. Free with
 * ttm_report_clear(). */
void it_snap(const char *query, uint32_t sections, int timeout_ms, ttm_report *s);
/* The process pid in s, or NULL. */
const ttm_report_proc *it_proc_of(const ttm_report *s, uint32_t pid);
/* Polls the daemon at query (status sections) until pred holds for process pid (p NULL while
 * the daemon does not know it), at most timeout_ms; the case fails naming `what` when it never
 * does. out (may be NULL) keeps the snapshot in which it held: free it with ttm_report_clear(). */
void it_wait_proc(const char *query, pid_t pid, bool (*pred)(const ttm_report_proc *p, void *arg),
                  void *arg, int timeout_ms, const char *what, ttm_report *out);
/* it_wait_proc() until pid holds an open session. */
void it_wait_connected(const char *query, pid_t pid, int timeout_ms);
/* How many events of class c (a ttm_class) the daemon counted (0 for a class it does not
 * know). */
uint64_t it_class(const ttm_report *s, unsigned c);

#endif /* TTM_TESTS_HARNESS_H */
