/*
 * fuzz_snapshot.c — the query protocol's decoders (src/common/snapshot.c) on arbitrary bytes:
 * frame header, QUERY, ERROR and SNAPSHOT payloads never crash nor read out of bounds, and a
 * snapshot that decodes re-encodes to a canonical form that decodes to the same bytes again.
 * The seeds are frames made by the real encoders (ttm__fuzz_seeds).
 */
#include <stdlib.h>
#include <string.h>

#include "core/report.h"
#include "ttmem/ttmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

static void round_trip(const uint8_t *payload, size_t len)
{
    ttm_report s;
    if (ttm_report_decode(payload, len, &s, NULL, 0) != TTM_OK)
        return;
    ttm_bytes a = {0}, b = {0};
    if (ttm_report_encode(&s, &a) != TTM_OK)
        abort();
    ttm_report again;
    if (ttm_report_decode(a.data + TTM_SNAP_HDR_SIZE, a.len - TTM_SNAP_HDR_SIZE, &again,
                                  NULL, 0) != TTM_OK)
        abort();
    if (ttm_report_encode(&again, &b) != TTM_OK || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0)
        abort();
    ttm_report_clear(&again);
    ttm_report_clear(&s);
    ttm__bytes_free(&a);
    ttm__bytes_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ttm_snap_frame fr;
    char msg[160];
    if (size >= TTM_SNAP_HDR_SIZE &&
        ttm__snap_decode_frame(data, size, &fr, msg, sizeof msg) == TTM_OK) {
        const uint8_t *payload = data + TTM_SNAP_HDR_SIZE;
        size_t len = size - TTM_SNAP_HDR_SIZE < fr.length ? size - TTM_SNAP_HDR_SIZE : fr.length;
        ttm_snap_query q;
        (void)ttm__snap_decode_query(payload, len, &q);
        (void)ttm__snap_decode_error(payload, len, msg, sizeof msg);
        round_trip(payload, len);
    }
    /* the payload decoders on the raw bytes too */
    round_trip(data, size);
    ttm_snap_query q;
    (void)ttm__snap_decode_query(data, size, &q);
    (void)ttm__snap_decode_error(data, size, msg, sizeof msg);
    return 0;
}

/* ---- seeds: frames from the real encoders: a snapshot with every section, a status-only
 * snapshot, QUERY frames, an ERROR frame, and the first snapshot with call sites (the STACKS
 * section: its lists, a stack of each frame kind, and the sites it packs) ---- */

#define NSEEDS 6
static ttm_bytes seed_buf[NSEEDS];
static const uint8_t *seed_list[NSEEDS];
static size_t seed_sizes[NSEEDS];

size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    if (seed_buf[0].len == 0) {
        static ttm_proc_mem pm[2] = {{.device = 0, .mem = {{4096, 1, 8192, 5, 2, 1}}},
                                     {.device = 3, .mem = {[1] = {64, 1, 64, 9, 1, 0}}}};
        static ttm_device_stats dev[2] = {
            {.device = 0, .arch = 2, .capacity = {12ull << 30, 96 << 20, 0},
             .mem = {{4096, 1, 8192, 5, 2, 1}}, .class_count = {2, 0, 0, 0, 0, 1}},
            {.device = 3, .arch = 3, .mem = {[1] = {64, 1, 64, 9, 1, 0}}},
        };
        static ttm_report_proc proc[2] = {
            {.stats = {.pid = 100, .alive = true, .ndevices = 2, .devices = pm},
             .registered = true, .uid = 1000, .name = "python3", .connected = true, .events = 7},
            {.stats = {.pid = 101, .exit_ts = 99, .leaked_count = 1}, .registered = true,
             .name = "gone", .dropped = 3},
        };
        static ttm_live live[2] = {{100, 0, 0, 0, 1, 0x1000, 4096, 7, 5},
                                   {100, 3, 1, 1, 1, 0x20, 64, 0, 9}};
        static ttm_offender off[1] = {
            {.cls = 8, .memtype = 0, .device = 0, .addr = 0x1000, .count = 2, .npids = 2,
             .pids = {100, 101}}};
        static ttm_report_unmatched un[1] = {{.device = 0, .addr = 0x1000, .dbl = 2, .total = 2,
                                            .npids = 1, .pids = {100}}};
        static ttm_leak lk[1] = {{.pid = 101, .device = 3, .memtype = 1, .addr = 0x20,
                                       .size = 64, .alloc_ts = 1, .exit_ts = 99}};
        static ttm_report s = {
            .sections = TTM_SNAP_WANT_REPORT | TTM_SNAP_WANT_DUMP,
            .daemon = {.version = "0.1.0", .pid = 42, .max_clients = 256, .events = 7},
            .totals = {.events = 9, .allocs = 3, .frees = 2, .class_count = {2, 0, 0, 0, 0, 1}},
            .ndevices = 2, .devices = dev, .nprocs = 2, .procs = proc,
            .live_total = 2, .nlive = 2, .live = live,
            .excess_free_pct = 12.5, .unmatched_frees = 2, .unmatched_addrs = 1,
            .nunmatched = 1, .unmatched = un,
            .leaked_count = 1, .leaked_bytes = 64, .nleaks = 1, .leaks = lk,
            .legacy = {.path = "/tmp/tt_allocation_server.sock", .connected = 1,
                       .connections = 3, .bad = 2, .ntypes = 13, .messages = {0, 5, 4, 1}},
        };
        s.classes[8] = (ttm_report_class){.cls = 8, .count = 2, .bytes = 8192, .distinct_addrs = 1,
                                                 .noffenders = 1, .offenders = off};
        if (ttm_report_encode(&s, &seed_buf[0]) != TTM_OK)
            abort();
        s.sections = TTM_SNAP_WANT_STATUS;
        if (ttm_report_encode(&s, &seed_buf[1]) != TTM_OK)
            abort();
        ttm_snap_query all = {.sections = TTM_SNAP_WANT_REPORT | TTM_SNAP_WANT_DUMP,
                              .top = 5, .max_leaks = 20, .max_live = 100};
        ttm_snap_query dflt = {.sections = TTM_SNAP_WANT_STATUS};
        if (ttm__snap_encode_query(&all, &seed_buf[2]) != TTM_OK ||
            ttm__snap_encode_query(&dflt, &seed_buf[3]) != TTM_OK ||
            ttm__snap_encode_error(TTM_EPROTO, "query: unknown section bit 0x40", &seed_buf[4]))
            abort();
        static char path[] = "/tmp/t", bid[] = "ab12", fn[] = "main", file[] = "t.py",
                    scope[] = "matmul";
        static ttm_report_frame frames[3] = {
            {.kind = 1, .module = 1, .offset = 0x1139},
            {.kind = 2, .function = fn, .file = file, .line = 7},
            {.kind = 3, .function = fn},
        };
        static ttm_report_stack stacks[1] = {{.id = 1, .nframes = 3, .frames = frames}};
        static ttm_report_module mods[1] = {{.id = 1, .path = path, .build_id = bid}};
        static ttm_report_string strs[1] = {{.id = 2, .text = scope}};
        static ttm_leak_group groups[1] = {{.stack = 1, .count = 1, .bytes = 64, .npids = 1,
                                            .pids = {101}}};
        static ttm_live_site sites[1] = {{.stack = 1, .count = 1, .bytes = 4096}};
        static ttm_phase phases[1] = {{.pid = 100, .name = 2, .ts = 3}};
        static ttm_breakdown bd[1] = {{.kind = 2, .name = 2, .allocs = 3, .anomalies = 2}};
        off[0].nsites = 1;
        off[0].sites[0] = (ttm_site){.stack = 1, .scope = 2, .release_stack = 1, .count = 2};
        lk[0].stack = live[0].stack = 1;
        live[1].scope = 2;
        s.sections =
            TTM_SNAP_WANT_REPORT | TTM_SNAP_WANT_DUMP | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS);
        s.nstacks = 1;
        s.stacks = stacks;
        s.nmodules = 1;
        s.modules = mods;
        s.nstrings = 1;
        s.strings = strs;
        s.nleak_groups = 1;
        s.leak_groups = groups;
        s.nlive_sites = 1;
        s.live_sites = sites;
        s.nphases = 1;
        s.phases = phases;
        s.nbreakdown = 1;
        s.breakdown = bd;
        s.stack_stats = (ttm_stacks_stats){.strings = 3, .modules = 1, .frames = 3, .stacks = 1};
        if (ttm_report_encode(&s, &seed_buf[5]) != TTM_OK)
            abort();
        for (size_t i = 0; i < NSEEDS; i++) {
            seed_list[i] = seed_buf[i].data;
            seed_sizes[i] = seed_buf[i].len;
        }
    }
    *seeds = seed_list;
    *sizes = seed_sizes;
    return NSEEDS;
}
