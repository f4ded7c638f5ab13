/*
 * bench/snapshot.c — what the snapshot codec costs in process for a Galaxy's status reply:
 * 32 devices x 64 processes, every process on every device and every memtype in use (the
 * snapshot ttm_bench_galaxy_snapshot makes, the one ttmem status and ttmem top receive).
 *
 * Per round: encode the SNAPSHOT frame (into a buffer kept from round to round, as the daemon's
 * connection keeps its own), decode its payload into a report and free it. Baseline, same run,
 * same rounds: a memcpy of the frame's bytes (the least any codec must do: touch each byte
 * once). The figures are medians over the rounds; the claim is the ratio to the baseline, the
 * machine being shared.
 *
 * Then the call sites: a registry holding 10,000 distinct stacks of 16 native frames in 8
 * modules (one buffer allocated at each, under 4 scopes and a phase mark, all leaked at the
 * process's exit: one leak group per stack, the groups' bound raised to hold them), reported
 * with the STACKS section, so that the report refers to all 10,000 stacks. Per round: build the
 * report (ttm_report_fill: the lists, then every stack, module and name resolved), encode it,
 * decode it; baseline, same run: a memcpy of its frame. Medians over ROUNDS / 50 rounds (at least
 * 11).
 *
 * Usage: bench_snapshot [ROUNDS]   (default 2001)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "common/snapshot.h"
#include "core/registry.h"
#include "core/report.h"
#include "ttmem/ttmem.h"

#define NDEV  32
#define NPROC 64
#define WARM  20

static double median_us(uint64_t *ns, size_t n)
{
    qsort(ns, n, sizeof *ns, ttm_bench_cmp_u64);
    return (double)ns[n / 2] / 1e3;
}

#define NSTACKS  10000u
#define DEPTH    16u
#define NMODULES 8u

/* The registry of the call-site rounds (see the header). */
static ttm_registry *sites_registry(void)
{
    ttm_registry *reg = NULL;
    ttm_registry_config cfg = {.max_leak_groups = 2 * NSTACKS};
    if (ttm_registry_open(&reg, &cfg) != TTM_OK)
        return NULL;
    ttm_stacks *s = ttm_registry_stacks(reg);
    uint32_t mods[NMODULES], scopes[4];
    for (unsigned m = 0; m < NMODULES; m++) {
        char path[64];
        uint8_t bid[20] = {(uint8_t)m, 0xb1, 0xd0};
        int n = snprintf(path, sizeof path, "/usr/lib/x86_64-linux-gnu/libmodule%u.so", m);
        mods[m] = ttm_stacks_module(s, bid, sizeof bid, path, (size_t)n);
    }
    for (unsigned k = 0; k < 4; k++) {
        char name[32];
        int n = snprintf(name, sizeof name, "op_%u", k);
        scopes[k] = ttm_stacks_string(s, name, (size_t)n);
    }
    ttm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TTM_EV_MARK;
    ev.ts = 1;
    snprintf(ev.mark, sizeof ev.mark, "inference");
    ttm_registry_apply(reg, 2, &ev);
    for (uint32_t i = 0; i < NSTACKS; i++) {
        uint32_t fr[DEPTH];
        for (unsigned d = 0; d < DEPTH; d++) {
            /* the outer frames shared (main, the loop), the inner ones distinct */
            uint64_t off = d < DEPTH / 2 ? 0x10000u + 64u * i + d : 0x900000u + d;
            ttm_frame f = {
                .kind = TTM_FRAME_NATIVE, .module = mods[(i + d) % NMODULES], .offset = off};
            fr[d] = ttm_stacks_frame(s, &f);
        }
        memset(&ev, 0, sizeof ev);
        ev.kind = TTM_EV_ALLOC;
        ev.memtype = TTM_MEM_DRAM;
        ev.addr = 0x1000000ull + 0x10000ull * i;
        ev.size = 4096 + i;
        ev.ts = 2 + i;
        ev.stack = ttm_stacks_stack(s, fr, DEPTH);
        ev.scope = scopes[i % 4];
        ttm_registry_apply(reg, 2, &ev);
    }
    ttm_registry_process_exit(reg, 2, 2 + NSTACKS);
    return reg;
}

/* One round of the codec on r: encode into frame (kept from round to round), decode the
 * payload and free it, copy the frame (the baseline). t[0..2]: encode, decode + free, copy ns.
 * Returns 0, or 1 with a message. */
static int codec_round(const ttm_report *r, ttm_bytes *frame, uint8_t **dst, uint64_t t[3])
{
    frame->len = 0;
    uint64_t t0 = ttm_bench_now_ns();
    if (ttm_report_encode(r, frame) != TTM_OK)
        return fprintf(stderr, "bench_snapshot: encode failed\n"), 1;
    uint64_t t1 = ttm_bench_now_ns();
    ttm_report got;
    char msg[200];
    if (ttm_report_decode(frame->data + TTM_SNAP_HDR_SIZE, frame->len - TTM_SNAP_HDR_SIZE, &got,
                          msg, sizeof msg) != TTM_OK)
        return fprintf(stderr, "bench_snapshot: decode failed: %s\n", msg), 1;
    ttm_report_clear(&got);
    uint64_t t2 = ttm_bench_now_ns();
    t[0] = t1 - t0;
    t[1] = t2 - t1;
    t[2] = ttm_bench_copy_ns(dst, frame->data, frame->len);
    return 0;
}

/* The medians of the stages (ns[s][0..rounds)), the last one the baseline, as a table. */
static void print_stages(const char *const *names, uint64_t **ns, size_t nstages, size_t rounds)
{
    double base = median_us(ns[nstages - 1], rounds);
    printf("  %-34s %10s %10s\n", "stage", "median us", "x memcpy");
    for (size_t k = 0; k < nstages; k++) {
        double m = k + 1 < nstages ? median_us(ns[k], rounds) : base;
        printf("  %-34s %10.1f %10.1f\n", names[k], m, m / base);
    }
}

/* The call-site rounds. Returns 0, or 1 with a message. */
static int bench_sites(size_t rounds)
{
    ttm_registry *reg = sites_registry();
    if (reg == NULL)
        return fprintf(stderr, "bench_snapshot: registry\n"), 1;
    uint64_t *ns[4];
    for (size_t k = 0; k < 4; k++)
        ns[k] = ttm__xcalloc(rounds, sizeof *ns[k]);
    ttm_report_options opt = {.sections = TTM_REPORT_SECTIONS | TTM_SNAP_BIT(TTM_SNAP_SEC_STACKS)};
    ttm_bytes frame = {0};
    uint8_t *dst = NULL;
    size_t nstacks = 0, nframes = 0;
    for (size_t i = 0; i < rounds + 2; i++) { /* two rounds to warm up */
        ttm_report r;
        uint64_t t0 = ttm_bench_now_ns(), t[3];
        if (ttm_report_fill(reg, &opt, &r) != TTM_OK)
            return fprintf(stderr, "bench_snapshot: build failed\n"), 1;
        uint64_t t1 = ttm_bench_now_ns();
        if (codec_round(&r, &frame, &dst, t) != 0)
            return 1;
        nstacks = r.nstacks;
        nframes = 0;
        for (size_t k = 0; k < r.nstacks; k++)
            nframes += r.stacks[k].nframes;
        ttm_report_clear(&r);
        if (i >= 2) {
            ns[0][i - 2] = t1 - t0;
            for (size_t k = 0; k < 3; k++)
                ns[k + 1][i - 2] = t[k];
        }
    }
    if (nstacks != NSTACKS)
        return fprintf(stderr, "bench_snapshot: %zu stacks reported\n", nstacks), 1;
    printf("call sites: a report referring to %zu distinct stacks (%zu frames), a %zu-byte frame; "
           "medians of %zu rounds\n",
           nstacks, nframes, frame.len, rounds);
    static const char *const names[] = {"build (fill + resolve)", "encode (frame)",
                                        "decode + free (payload)", "baseline: memcpy of the frame"};
    print_stages(names, ns, 4, rounds);
    ttm__bytes_free(&frame);
    ttm__free(dst);
    for (size_t k = 0; k < 4; k++)
        free(ns[k]);
    ttm_registry_close(reg);
    return 0;
}

int main(int argc, char **argv)
{
    size_t rounds = 2001;
    if (argc > 1) {
        char *end;
        rounds = strtoul(argv[1], &end, 10);
        if (*end != '\0' || rounds < 11) {
            fprintf(stderr, "usage: bench_snapshot [rounds >= 11]\n");
            return 2;
        }
    }
    ttm_report src;
    ttm_bench_galaxy_snapshot(&src, NDEV, NPROC);
    uint64_t *ns[3];
    for (size_t k = 0; k < 3; k++)
        ns[k] = ttm__xcalloc(rounds, sizeof *ns[k]);
    ttm_bytes frame = {0};
    uint8_t *dst = NULL;
    for (size_t i = 0; i < rounds + WARM; i++) {
        uint64_t t[3];
        if (codec_round(&src, &frame, &dst, t) != 0)
            return 1;
        if (i >= WARM) /* the first rounds warm the heap and the caches */
            for (size_t k = 0; k < 3; k++)
                ns[k][i - WARM] = t[k];
    }
    ttm_bench_machine();
    printf("snapshot codec in process: %d devices x %d processes (status sections), a %zu-byte "
           "frame; medians of %zu rounds\n",
           NDEV, NPROC, frame.len, rounds);
    static const char *const names[] = {"encode (frame)", "decode + free (payload)",
                                        "baseline: memcpy of the frame"};
    print_stages(names, ns, 3, rounds);
    ttm__bytes_free(&frame);
    ttm__free(dst);
    for (size_t k = 0; k < 3; k++)
        free(ns[k]);
    ttm_report_clear(&src);
    return bench_sites(rounds / 50 > 11 ? rounds / 50 : 11);
}
