/*
 * poc_xlate.h — the legacy allocation-server protocol's translation (docs/COMPAT.md): what a
 * decoded AllocMessage means to ttmemd. Buffer messages become events of the core, for the
 * process the kernel named (the pid a message claims is never used); QUERY and
 * DEVICE_INFO_QUERY get their reply from the registry; DUMP_REMAINING and DUMP_KERNELS print
 * the prototype's boxed report on the daemon's output (at most one of each kind a second).
 *
 * The framing (poc.c) decodes the stream and sends the replies; it knows nothing of what a
 * message means. Nothing here is thread-safe (the loop's thread only).
 */
#ifndef TTM_DAEMON_POC_XLATE_H
#define TTM_DAEMON_POC_XLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/poc.h"
#include "daemon/daemon.h"

#define TTM_POC_LOG_CAP 65536 /* --poc-log lines gathered before one write */

/* The translation's state of one legacy listener: counters (docs/COMPAT.md) and the --poc-log
 * lines gathered but not yet written. Zero-initialise it. */
typedef struct ttm_poc_xlate {
    uint64_t rejected;        /* well-formed messages that cannot apply (device -1, ...) */
    uint64_t dumps_skipped;   /* DUMP requests within a second of the previous one */
    uint64_t last_dump_ns[2]; /* DUMP_REMAINING, DUMP_KERNELS */
    bool rejected_logged, response_logged;
    uint64_t now_ns;          /* set by the framing (poc.c): the time the messages being
                               * translated were read, their events' ts; 0: the clock's now */
    size_t loglen;
    char logbuf[TTM_POC_LOG_CAP];
} ttm_poc_xlate;

/* Translates one decoded message m of pid (proc: its process-table entry, may be NULL).
 * Returns true when *reply was filled and is to be sent back (QUERY, DEVICE_INFO_QUERY). */
bool ttm__poc_translate(ttm_daemon *d, ttm_poc_xlate *x, uint32_t pid, ttm_dproc *proc,
                        const ttm_poc_msg *m, ttm_poc_msg *reply);
/* Writes the --poc-log lines gathered so far (before any other log line, to keep the order). */
void ttm__poc_log_flush(ttm_poc_xlate *x);

#endif /* TTM_DAEMON_POC_XLATE_H */
