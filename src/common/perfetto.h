/*
 * perfetto.h — a streaming writer of a Perfetto protobuf trace (the format ui.perfetto.dev and
 * trace_processor open), written field by field without a protobuf library.
 *
 * The file is a Perfetto Trace message: a sequence of Trace.packet (field 1) TracePackets, each
 * written as soon as it is complete, so a trace of any length needs memory for one packet only.
 * What it holds (docs/EXPORT.md tells how ttmem's runs map onto it):
 *   - a TrackDescriptor per process (a process track, with its pid and name), per device (a
 *     plain track named "device D") and per (device, memtype) (a counter track in bytes, child
 *     of its device's track);
 *   - TrackEvents: COUNTER events (a counter track's value from that time on) and INSTANT events
 *     (a named marker on a process or device track: an anomaly, a process's exit).
 * Every packet carries trusted_packet_sequence_id 1; nothing is interned; timestamps are in ns
 * on Perfetto's default clock. Field numbers are those of Perfetto's protos/perfetto/trace/
 * (trace_packet.proto, track_event/track_descriptor.proto, track_event.proto,
 * counter_descriptor.proto, process_descriptor.proto), listed in perfetto.c.
 */
#ifndef TTM_COMMON_PERFETTO_H
#define TTM_COMMON_PERFETTO_H

#include <stdint.h>
#include <stdio.h>

#include "common/bytes.h"

#define TTM_PERFETTO_NAME_MAX 128 /* bytes of a device track's name, NUL included (longer: cut) */

typedef struct ttm_perfetto_dev {
    uint32_t group; /* which host's device (0 when the trace has one host) */
    uint32_t device;
    uint64_t uuid;
} ttm_perfetto_dev;

/* Zero-initialise it, then ttm__perfetto_open(). Fields are private to perfetto.c. */
typedef struct ttm_perfetto {
    FILE *f;
    int err;            /* the first failure; every later call returns it and writes nothing */
    ttm_bytes kinds;    /* each track's kind, by uuid (1, 2, 3, ...) */
    ttm_bytes head, pkt, sub, sub2; /* a packet's key and length, the packet being built and
                                     * its nested messages */
    ttm_perfetto_dev *devs; /* device tracks made so far */
    size_t ndevs, capdevs;
} ttm_perfetto;

/* Starts a trace on f (opened for writing by the caller, who closes it after
 * ttm__perfetto_close()). Returns 0 or TTM_EINVAL (NULL argument). */
int ttm__perfetto_open(ttm_perfetto *pf, FILE *f);

/* Writes a process track for pid named name (NULL or "": "pid P") and stores its uuid in
 * *uuid. Returns 0, TTM_EINVAL, TTM_ENOMEM or TTM_EIO (the write failed). */
int ttm__perfetto_process(ttm_perfetto *pf, uint32_t pid, const char *name, uint64_t *uuid);

/* The uuid of device's track (a plain track named "device D", parent of its counter tracks),
 * writing the track the first time the device is seen, in *uuid. Returns 0, TTM_EINVAL,
 * TTM_ENOMEM or TTM_EIO. */
int ttm__perfetto_device_track(ttm_perfetto *pf, uint32_t device, uint64_t *uuid);

/* Writes a counter track in bytes for (device, memtype) named name (NULL or "": "MEMTYPE" by
 * ttm__memtype_name), under the track of its device (written the first time a device is seen),
 * and stores its uuid in *uuid. Returns 0, TTM_EINVAL, TTM_ENOMEM or TTM_EIO. */
int ttm__perfetto_counter_track(ttm_perfetto *pf, uint32_t device, unsigned memtype,
                                const char *name, uint64_t *uuid);

/* The same two for a trace of several hosts, whose device numbers repeat: devices are told
 * apart by (group, device), and a device track of a group with host not NULL is named "HOST
 * device D". Group 0 with host NULL is what the two calls above do. */
int ttm__perfetto_device_track_in(ttm_perfetto *pf, uint32_t group, const char *host,
                                  uint32_t device, uint64_t *uuid);
int ttm__perfetto_counter_track_in(ttm_perfetto *pf, uint32_t group, const char *host,
                                   uint32_t device, unsigned memtype, const char *name,
                                   uint64_t *uuid);

/* A counter track's value (bytes) from ts_ns on. track is a counter track's uuid from this
 * writer. Returns 0, TTM_EINVAL (not such a track), TTM_ENOMEM or TTM_EIO. */
int ttm__perfetto_counter(ttm_perfetto *pf, uint64_t track, uint64_t ts_ns, int64_t value);

/* An instant event named name (not NULL) at ts_ns on track: a process track's uuid (a
 * process's exit, an anomaly of its) or a device track's (an anomaly of the device's), not a
 * counter track's (Perfetto draws no markers there). Returns 0, TTM_EINVAL, TTM_ENOMEM or
 * TTM_EIO. */
int ttm__perfetto_instant(ttm_perfetto *pf, uint64_t track, uint64_t ts_ns, const char *name);

/* Flushes the trace, releases the writer (not the FILE) and returns the first failure of any
 * call on it (0, TTM_ENOMEM or TTM_EIO): a trace is complete only when this returns 0.
 * close(NULL) does nothing and returns 0. */
int ttm__perfetto_close(ttm_perfetto *pf);

#endif /* TTM_COMMON_PERFETTO_H */
