/*
 * simproc.c — ttmem-simproc: one process of a simulator scenario, reported through the public
 * libttmem API exactly as a runtime would (ttm_buffer_alloc, ttm_buffer_free,
 * ttm_device_describe, ttm_phase_mark). `ttmem demo` and the integration tests run several of
 * these next to a real ttmemd.
 *
 * The scenario is generated in memory first (it is deterministic for a seed), then the chosen
 * virtual process's events are replayed. --stop-after N replays N events, waits until the
 * daemon has consumed them, prints "stopped N" on stdout and waits to be killed: the demo's
 * process that dies by SIGKILL mid-run.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "sim/sim.h"
#include "ttmem/ttmem.h"

typedef struct vproc {
    uint32_t pid;
    size_t nevents;
} vproc;

typedef struct collect {
    ttm_event *ev;   /* every event of the scenario, in order */
    uint32_t *pid;   /* its virtual pid */
    size_t n, cap;
    vproc procs[64]; /* distinct virtual pids, in order of appearance */
    size_t nprocs;
} collect;

static void on_event(void *arg, uint32_t pid, const ttm_event *ev)
{
    collect *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->ev = ttm__xreallocarray(c->ev, c->cap, sizeof *c->ev);
        c->pid = ttm__xreallocarray(c->pid, c->cap, sizeof *c->pid);
    }
    c->ev[c->n] = *ev;
    c->pid[c->n] = pid;
    c->n++;
    if (ev->kind == TTM_EV_DEVICE_INFO)
        return; /* device descriptions are replayed by every process */
    size_t i = 0;
    while (i < c->nprocs && c->procs[i].pid != pid)
        i++;
    if (i == c->nprocs && c->nprocs < sizeof c->procs / sizeof c->procs[0])
        c->procs[c->nprocs++] = (vproc){.pid = pid};
    if (i < c->nprocs)
        c->procs[i].nevents++;
}

static int fail(const char *fmt, const char *arg)
{
    fputs("ttmem-simproc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("; see 'ttmem-simproc --help'\n", stderr);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0' || errno != 0)
        return -1;
    *out = v;
    return 0;
}

/* Replays one event through libttmem. Returns the library's verdict. */
static int replay(const ttm_event *ev, uint16_t device_base)
{
    uint16_t dev = (uint16_t)(ev->device + device_base);
    switch (ev->kind) {
    case TTM_EV_ALLOC:
        return ttm_buffer_alloc(dev, (ttm_memtype)ev->memtype, ev->addr, ev->size, ev->obj,
                                ev->flags);
    case TTM_EV_FREE:
        return ttm_buffer_free(dev, (ttm_memtype)ev->memtype, ev->addr, ev->size, ev->obj,
                               ev->flags);
    case TTM_EV_DEVICE_INFO:
        return ttm_device_describe(dev, (ttm_arch)ev->arch, ev->dram_capacity, ev->l1_capacity);
    case TTM_EV_MARK: {
        char name[TTM_MARK_NAME_MAX];
        memcpy(name, ev->mark, sizeof name);
        name[sizeof name - 1] = '\0';
        return ttm_phase_mark(name);
    }
    default: /* process start and exit are the daemon's to say */
        return TTM_OK;
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ttmem-simproc --scenario NAME [--client identity|legacy] [--seed N]\n"
            "                     [--process K] [--device-base N] [--stop-after N] "
            "[--pace-us N] [--list]\n"
            "Replays virtual process K (0 = the first) of a simulator scenario through "
            "libttmem.\nTracking needs TTMEM=1 (and TTMEM_SOCKET for a private daemon).\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, 's'}, {"client", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 'S'},     {"process", required_argument, NULL, 'p'},
        {"device-base", required_argument, NULL, 'd'},
        {"stop-after", required_argument, NULL, 'k'},
        {"pace-us", required_argument, NULL, 'u'},  {"list", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *scenario = NULL;
    ttm_sim_client client = TTM_SIM_IDENTITY;
    uint64_t seed = 1, process = 0, device_base = 0, stop_after = 0, pace_us = 0, v;
    bool list = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            scenario = optarg;
            break;
        case 'c':
            if (strcmp(optarg, "identity") == 0)
                client = TTM_SIM_IDENTITY;
            else if (strcmp(optarg, "legacy") == 0)
                client = TTM_SIM_LEGACY;
            else
                return fail("--client must be identity or legacy, not '%s'", optarg);
            break;
        case 'S':
            if (parse_u64(optarg, &seed) != 0)
                return fail("--seed '%s' is not a number", optarg);
            break;
        case 'p':
            if (parse_u64(optarg, &process) != 0 || process > 63)
                return fail("--process '%s' must be a number from 0 to 63", optarg);
            break;
        case 'd':
            if (parse_u64(optarg, &device_base) != 0 || device_base > 60000)
                return fail("--device-base '%s' must be a number from 0 to 60000", optarg);
            break;
        case 'k':
            if (parse_u64(optarg, &v) != 0 || v == 0)
                return fail("--stop-after '%s' must be a positive number", optarg);
            stop_after = v;
            break;
        case 'u':
            if (parse_u64(optarg, &pace_us) != 0 || pace_us > 1000000)
                return fail("--pace-us '%s' must be a number up to 1000000", optarg);
            break;
        case 'l':
            list = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            return fail("unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail("unexpected argument '%s'", argv[optind]);
    if (scenario == NULL)
        return fail("%s", "--scenario is required");

    collect col = {0};
    int err = ttm_sim_run(scenario, client, seed, on_event, &col, NULL);
    if (err == TTM_ENOENT)
        return fail("unknown scenario '%s' ('ttmem simulate --scenario list' lists them)",
                    scenario);
    if (err != TTM_OK) {
        fprintf(stderr, "ttmem-simproc: scenario '%s' failed: %s\n", scenario,
                ttm_strerror(err));
        return 1;
    }
    if (list) {
        for (size_t i = 0; i < col.nprocs; i++)
            printf("%zu %u %zu\n", i, col.procs[i].pid, col.procs[i].nevents);
        goto out_free;
    }
    if (process >= col.nprocs) {
        fprintf(stderr, "ttmem-simproc: scenario '%s' has %zu processes; --process %llu does "
                        "not exist\n",
                scenario, col.nprocs, (unsigned long long)process);
        err = 1;
        goto out_free;
    }
    uint32_t vpid = col.procs[process].pid;
    uint64_t done = 0, refused = 0;
    for (size_t i = 0; i < col.n; i++) {
        const ttm_event *ev = &col.ev[i];
        if (ev->kind != TTM_EV_DEVICE_INFO && col.pid[i] != vpid)
            continue;
        if (ev->kind == TTM_EV_PROC_EXIT)
            break;
        if (ev->kind == TTM_EV_PROC_START)
            continue; /* the daemon says when a process starts */
        int r = replay(ev, (uint16_t)device_base);
        if (r == TTM_EDISABLED) {
            fprintf(stderr, "ttmem-simproc: tracking is disabled: set TTMEM=1\n");
            err = 1;
            goto out_free;
        }
        if (r != TTM_OK)
            refused++; /* malformed on purpose, or dropped: the library counted it */
        done++;
        if (pace_us > 0 && done % 256 == 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)pace_us * 1000};
            nanosleep(&ts, NULL);
        }
        if (stop_after > 0 && done == stop_after) {
            int f = ttm_client_flush(10000);
            printf("stopped %llu%s\n", (unsigned long long)done,
                   f == TTM_OK ? "" : " (not flushed)");
            fflush(stdout);
            for (;;)
                pause(); /* until killed */
        }
    }
    int f = ttm_client_flush(10000);
    if (f != TTM_OK && f != TTM_EDISABLED)
        fprintf(stderr, "ttmem-simproc: the daemon did not take every event: %s\n",
                ttm_strerror(f));
    (void)refused;
    err = 0;

out_free:
    ttm__free(col.ev);
    ttm__free(col.pid);
    return err;
}
