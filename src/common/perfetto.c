/*
 * perfetto.c — the Perfetto protobuf trace writer of perfetto.h.
 *
 * Protobuf's wire format: each field is a key varint (field number << 3 | wire type) then its
 * value: wire type 0 a varint, wire type 2 a varint length then that many bytes (a string or a
 * nested message). A nested message is built in its own buffer first, so its length is known.
 */
#include "common/perfetto.h"

#include <inttypes.h>
#include <string.h>

#include "common/alloc.h"
#include "common/event.h"
#include "ttmem/ttmem.h"

/* Field numbers, from Perfetto's protos/perfetto/trace/. */
enum {
    WIRE_VARINT = 0,
    WIRE_LEN = 2,

    TRACE_PACKET = 1, /* Trace.packet: repeated TracePacket */

    PKT_TIMESTAMP = 8,     /* TracePacket.timestamp (uint64, ns) */
    PKT_SEQ_ID = 10,       /* TracePacket.trusted_packet_sequence_id (uint32) */
    PKT_TRACK_EVENT = 11,  /* TracePacket.track_event (TrackEvent) */
    PKT_TRACK_DESC = 60,   /* TracePacket.track_descriptor (TrackDescriptor) */

    TD_UUID = 1,        /* TrackDescriptor.uuid (uint64) */
    TD_NAME = 2,        /* TrackDescriptor.name (string) */
    TD_PROCESS = 3,     /* TrackDescriptor.process (ProcessDescriptor) */
    TD_PARENT_UUID = 5, /* TrackDescriptor.parent_uuid (uint64) */
    TD_COUNTER = 8,     /* TrackDescriptor.counter (CounterDescriptor) */

    PD_PID = 1,          /* ProcessDescriptor.pid (int32) */
    PD_PROCESS_NAME = 6, /* ProcessDescriptor.process_name (string) */

    CD_UNIT = 3,            /* CounterDescriptor.unit (Unit) */
    CD_UNIT_SIZE_BYTES = 3, /* CounterDescriptor.Unit.UNIT_SIZE_BYTES */

    TE_TYPE = 9,           /* TrackEvent.type (Type) */
    TE_TRACK_UUID = 11,    /* TrackEvent.track_uuid (uint64) */
    TE_NAME = 23,          /* TrackEvent.name (string) */
    TE_COUNTER_VALUE = 30, /* TrackEvent.counter_value (int64) */
    TE_TYPE_INSTANT = 3,   /* TrackEvent.Type.TYPE_INSTANT */
    TE_TYPE_COUNTER = 4,   /* TrackEvent.Type.TYPE_COUNTER */

    SEQUENCE_ID = 1, /* the one writer sequence of the file */
};

/* What a track is, kept per uuid (pf->kinds): events go only where Perfetto shows them. */
enum { KIND_PROCESS = 1, KIND_DEVICE = 2, KIND_COUNTER = 3 };

static void put_key(ttm_bw *w, unsigned field, unsigned wire)
{
    ttm__bw_varint(w, (uint64_t)field << 3 | wire);
}

static void put_uint(ttm_bw *w, unsigned field, uint64_t v)
{
    put_key(w, field, WIRE_VARINT);
    ttm__bw_varint(w, v);
}

static void put_len(ttm_bw *w, unsigned field, const void *p, size_t n)
{
    put_key(w, field, WIRE_LEN);
    ttm__bw_varint(w, n);
    ttm__bw_bytes(w, p, n);
}

static void put_str(ttm_bw *w, unsigned field, const char *s)
{
    put_len(w, field, s, strlen(s));
}

/* A nested message built in m (its error, if any, passes into w). */
static void put_msg(ttm_bw *w, unsigned field, const ttm_bw *m)
{
    if (m->err != 0)
        ttm__bw_fail(w, m->err);
    put_len(w, field, m->b->data, m->b->len);
}

/* Fresh writers over the writer's buffers. */
static ttm_bw start(ttm_bytes *b)
{
    b->len = 0;
    return ttm__bw_over(b);
}

/* Writes the packet in pf->pkt (built by w) as one Trace.packet; returns pf->err. */
static int emit(ttm_perfetto *pf, ttm_bw *w)
{
    put_uint(w, PKT_SEQ_ID, SEQUENCE_ID);
    if (w->err != 0) {
        pf->err = w->err;
        return pf->err;
    }
    ttm_bw h = start(&pf->head);
    put_key(&h, TRACE_PACKET, WIRE_LEN);
    ttm__bw_varint(&h, pf->pkt.len);
    if (h.err != 0) {
        pf->err = h.err;
        return pf->err;
    }
    if (fwrite(pf->head.data, 1, pf->head.len, pf->f) != pf->head.len ||
        fwrite(pf->pkt.data, 1, pf->pkt.len, pf->f) != pf->pkt.len)
        pf->err = TTM_EIO;
    return pf->err;
}

/* A packet of the TrackDescriptor in td. */
static int emit_track(ttm_perfetto *pf, const ttm_bw *td)
{
    ttm_bw w = start(&pf->pkt);
    put_msg(&w, PKT_TRACK_DESC, td);
    return emit(pf, &w);
}

/* A packet of the TrackEvent in te at ts_ns. */
static int emit_event(ttm_perfetto *pf, uint64_t ts_ns, const ttm_bw *te)
{
    ttm_bw w = start(&pf->pkt);
    put_uint(&w, PKT_TIMESTAMP, ts_ns);
    put_msg(&w, PKT_TRACK_EVENT, te);
    return emit(pf, &w);
}

/* A new track's uuid, its kind recorded; 0 (and pf->err) when memory ran out. */
static uint64_t new_track(ttm_perfetto *pf, uint8_t kind)
{
    ttm_bw k = ttm__bw_over(&pf->kinds);
    ttm__bw_u8(&k, kind);
    if (k.err != 0) {
        pf->err = k.err;
        return 0;
    }
    return pf->kinds.len; /* uuids 1, 2, 3, ...: kinds.data[uuid - 1] */
}

/* The kind of track uuid, 0 when this writer made no such track. */
static uint8_t track_kind(const ttm_perfetto *pf, uint64_t uuid)
{
    return uuid >= 1 && uuid <= pf->kinds.len ? pf->kinds.data[uuid - 1] : 0;
}

int ttm__perfetto_open(ttm_perfetto *pf, FILE *f)
{
    if (pf == NULL || f == NULL)
        return TTM_EINVAL;
    memset(pf, 0, sizeof *pf);
    pf->f = f;
    return 0;
}

int ttm__perfetto_process(ttm_perfetto *pf, uint32_t pid, const char *name, uint64_t *uuid)
{
    if (pf == NULL || uuid == NULL)
        return TTM_EINVAL;
    if (pf->err != 0)
        return pf->err;
    char fallback[32];
    if (name == NULL || name[0] == '\0') {
        snprintf(fallback, sizeof fallback, "pid %" PRIu32, pid);
        name = fallback;
    }
    uint64_t id = new_track(pf, KIND_PROCESS);
    if (id == 0)
        return pf->err;
    ttm_bw pd = start(&pf->sub2);
    put_uint(&pd, PD_PID, pid);
    put_str(&pd, PD_PROCESS_NAME, name);
    ttm_bw td = start(&pf->sub);
    put_uint(&td, TD_UUID, id);
    put_msg(&td, TD_PROCESS, &pd);
    if (emit_track(pf, &td) != 0)
        return pf->err;
    *uuid = id;
    return 0;
}

/* The uuid of (group, device)'s track, writing the track the first time; 0 after a failure. */
static uint64_t device_track(ttm_perfetto *pf, uint32_t group, const char *host, uint32_t device)
{
    for (size_t i = 0; i < pf->ndevs; i++)
        if (pf->devs[i].group == group && pf->devs[i].device == device)
            return pf->devs[i].uuid;
    ttm_perfetto_dev *d = ttm__grow(pf->devs, &pf->capdevs, pf->ndevs, sizeof *d, 8);
    if (d == NULL) {
        pf->err = TTM_ENOMEM;
        return 0;
    }
    pf->devs = d;
    char name[TTM_PERFETTO_NAME_MAX];
    if (host != NULL)
        snprintf(name, sizeof name, "%s device %" PRIu32, host, device);
    else
        snprintf(name, sizeof name, "device %" PRIu32, device);
    uint64_t id = new_track(pf, KIND_DEVICE);
    if (id == 0)
        return 0;
    ttm_bw td = start(&pf->sub);
    put_uint(&td, TD_UUID, id);
    put_str(&td, TD_NAME, name);
    if (emit_track(pf, &td) != 0)
        return 0;
    pf->devs[pf->ndevs++] = (ttm_perfetto_dev){.group = group, .device = device, .uuid = id};
    return id;
}

int ttm__perfetto_device_track_in(ttm_perfetto *pf, uint32_t group, const char *host,
                                  uint32_t device, uint64_t *uuid)
{
    if (pf == NULL || uuid == NULL)
        return TTM_EINVAL;
    if (pf->err != 0)
        return pf->err;
    uint64_t id = device_track(pf, group, host, device);
    if (id == 0)
        return pf->err;
    *uuid = id;
    return 0;
}

int ttm__perfetto_device_track(ttm_perfetto *pf, uint32_t device, uint64_t *uuid)
{
    return ttm__perfetto_device_track_in(pf, 0, NULL, device, uuid);
}

int ttm__perfetto_counter_track_in(ttm_perfetto *pf, uint32_t group, const char *host,
                                   uint32_t device, unsigned memtype, const char *name,
                                   uint64_t *uuid)
{
    if (pf == NULL || uuid == NULL || !ttm__memtype_valid(memtype))
        return TTM_EINVAL;
    if (pf->err != 0)
        return pf->err;
    if (name == NULL || name[0] == '\0')
        name = ttm__memtype_name(memtype);
    uint64_t parent = device_track(pf, group, host, device);
    if (parent == 0)
        return pf->err;
    uint64_t id = new_track(pf, KIND_COUNTER);
    if (id == 0)
        return pf->err;
    ttm_bw cd = start(&pf->sub2);
    put_uint(&cd, CD_UNIT, CD_UNIT_SIZE_BYTES);
    ttm_bw td = start(&pf->sub);
    put_uint(&td, TD_UUID, id);
    put_str(&td, TD_NAME, name);
    put_uint(&td, TD_PARENT_UUID, parent);
    put_msg(&td, TD_COUNTER, &cd);
    if (emit_track(pf, &td) != 0)
        return pf->err;
    *uuid = id;
    return 0;
}

int ttm__perfetto_counter_track(ttm_perfetto *pf, uint32_t device, unsigned memtype,
                                const char *name, uint64_t *uuid)
{
    return ttm__perfetto_counter_track_in(pf, 0, NULL, device, memtype, name, uuid);
}

int ttm__perfetto_counter(ttm_perfetto *pf, uint64_t track, uint64_t ts_ns, int64_t value)
{
    if (pf == NULL || track_kind(pf, track) != KIND_COUNTER)
        return TTM_EINVAL;
    if (pf->err != 0)
        return pf->err;
    ttm_bw te = start(&pf->sub);
    put_uint(&te, TE_TYPE, TE_TYPE_COUNTER);
    put_uint(&te, TE_TRACK_UUID, track);
    put_uint(&te, TE_COUNTER_VALUE, (uint64_t)value); /* int64: two's complement, 10 bytes */
    return emit_event(pf, ts_ns, &te);
}

int ttm__perfetto_instant(ttm_perfetto *pf, uint64_t track, uint64_t ts_ns, const char *name)
{
    uint8_t kind = pf == NULL ? 0 : track_kind(pf, track);
    if (name == NULL || (kind != KIND_PROCESS && kind != KIND_DEVICE))
        return TTM_EINVAL;
    if (pf->err != 0)
        return pf->err;
    ttm_bw te = start(&pf->sub);
    put_uint(&te, TE_TYPE, TE_TYPE_INSTANT);
    put_uint(&te, TE_TRACK_UUID, track);
    put_str(&te, TE_NAME, name);
    return emit_event(pf, ts_ns, &te);
}

int ttm__perfetto_close(ttm_perfetto *pf)
{
    if (pf == NULL)
        return 0;
    int err = pf->err;
    if (pf->f != NULL && (fflush(pf->f) != 0 || ferror(pf->f)) && err == 0)
        err = TTM_EIO;
    ttm__bytes_free(&pf->head);
    ttm__bytes_free(&pf->pkt);
    ttm__bytes_free(&pf->sub);
    ttm__bytes_free(&pf->sub2);
    ttm__bytes_free(&pf->kinds);
    ttm__free(pf->devs);
    memset(pf, 0, sizeof *pf);
    return err;
}
