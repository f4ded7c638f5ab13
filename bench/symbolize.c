/*
 * bench/symbolize.c — what symbolizing a report costs the CLI (issue 11's budget: a report of
 * 10,000 distinct stacks in ≤ 1 s): STACKS stacks of DEPTH native frames over real modules of
 * this machine (libc, libdw, libelf and this bench, built with -g), each frame a code address
 * inside a function of one of them, symbolized with src/sym as the CLI does it
 * (ttm_sym_lookup_inline: the function, file and line and the inline chain) cold (a fresh
 * handle: every module opened, its DWARF and symbol tables read, every address resolved) and warm
 * (the same frames again on the same handle), beside the same-run baseline of dladdr() on the same
 * addresses (the loaded objects' exported names only, no file or line: the least any symbolizer
 * does; timed on every 8th frame and scaled to all of them, as it costs ~15 µs a frame). Each pass
 * gives its wall time and this process's CPU time (the machine may be shared).
 *
 * The frames: every function of the modules' symbol tables (.symtab when the file has one,
 * else .dynsym) with a size gives addresses inside it (one per 4 bytes, at most 256); a stack is
 * DEPTH of them picked at random. With the default pool (POOL addresses) stacks share frames as a
 * real report's do;
 * `--distinct` makes every frame of every stack its own address (STACKS × DEPTH addresses, or
 * as many as the modules have: the worst case for the address cache).
 *
 * Usage: bench_symbolize [--distinct] [stacks]   (default 10,000)
 */
#include <dlfcn.h>
#include <time.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "common/alloc.h"
#include "sym/sym.h"

#define DEPTH      32
#define POOL       20000u
#define MAX_MODS   8
#define INLINE_CAP 16 /* the CLI's room for one address's inline chain */

typedef struct mod {
    char path[4096];
    uintptr_t base; /* load bias */
    uint8_t bid[64];
    size_t bid_len;
} mod;

typedef struct frame {
    uint16_t mod;
    uint64_t offset; /* a return address in the module's numbering */
} frame;

static mod mods[MAX_MODS];
static unsigned nmods;

/* Keeps the loaded objects whose file name contains one of the wanted names, and the main
 * program. */
static int mods_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    static const char *const wanted[] = {"/libc.so", "/libdw.so", "/libelf.so"};
    bool keep = info->dlpi_name[0] == '\0';
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]) && !keep; i++)
        keep = strstr(info->dlpi_name, wanted[i]) != NULL;
    if (!keep || nmods == MAX_MODS)
        return 0;
    mod *m = &mods[nmods];
    if (info->dlpi_name[0] != '\0') {
        snprintf(m->path, sizeof(m->path), "%s", info->dlpi_name);
    } else {
        ssize_t n = readlink("/proc/self/exe", m->path, sizeof(m->path) - 1);
        if (n <= 0)
            return 0;
        m->path[n] = '\0';
    }
    m->base = info->dlpi_addr;
    nmods++;
    return 0;
}

/* Appends to *pool addresses inside the functions of module mi (one per 4 bytes of a function,
 * at most 256, spread over it) and reads its build-id. */
static void mod_addresses(unsigned mi, frame **pool, size_t *n, size_t *cap)
{
    mod *m = &mods[mi];
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *bid = NULL;
    ssize_t bl = elf != NULL ? dwelf_elf_gnu_build_id(elf, &bid) : -1;
    if (bl > 0 && (size_t)bl <= sizeof(m->bid)) {
        memcpy(m->bid, bid, (size_t)bl);
        m->bid_len = (size_t)bl;
    }
    Elf_Scn *symtab = NULL, *dynsym = NULL;
    for (Elf_Scn *scn = elf != NULL ? elf_nextscn(elf, NULL) : NULL; scn != NULL;
         scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL)
            continue;
        if (sh.sh_type == SHT_SYMTAB)
            symtab = scn;
        if (sh.sh_type == SHT_DYNSYM)
            dynsym = scn;
    }
    Elf_Scn *scn = symtab != NULL ? symtab : dynsym;
    GElf_Shdr sh;
    Elf_Data *data = scn != NULL ? elf_getdata(scn, NULL) : NULL;
    if (data != NULL && gelf_getshdr(scn, &sh) != NULL && sh.sh_entsize != 0) {
        size_t count = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < count; i++) {
            GElf_Sym sym;
            if (gelf_getsym(data, (int)i, &sym) == NULL || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
                sym.st_size < 2 || sym.st_shndx == SHN_UNDEF)
                continue;
            size_t k = sym.st_size / 4 < 256 ? sym.st_size / 4 : 256;
            for (size_t j = 0; j < k; j++) {
                if (*n == *cap) {
                    *cap = *cap * 2 + 1024;
                    *pool = ttm__xreallocarray(*pool, *cap, sizeof(**pool));
                }
                (*pool)[(*n)++] = (frame){(uint16_t)mi, sym.st_value + 1 + sym.st_size * j / k};
            }
        }
    }
    if (elf != NULL)
        elf_end(elf);
    close(fd);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The CPU time of this process in seconds: what a pass cost it, whatever else ran on the
 * machine meanwhile. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double last_cpu; /* CPU seconds of the last pass */

/* One pass of the symbolizer over every frame, as the CLI asks (the inline chain, at most
 * INLINE_CAP functions); counts the answers into *named, *lined and *inlined (functions of
 * the chains beyond the innermost).
 * Returns the wall seconds (last_cpu: the CPU seconds). */
static double sym_pass(ttm_sym *s, const frame *fr, size_t n, size_t *named, size_t *lined,
                       size_t *inlined)
{
    *named = *lined = *inlined = 0;
    double c0 = cpu_s();
    uint64_t t0 = ttm_bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        const mod *m = &mods[fr[i].mod];
        ttm_sym_frame chain[INLINE_CAP];
        size_t k;
        if (ttm_sym_lookup_inline(s, m->path, m->bid, m->bid_len, fr[i].offset, chain, INLINE_CAP,
                                  &k) == 0) {
            *named += chain[0].function != NULL;
            *lined += chain[0].line != 0;
            *inlined += k - 1;
        }
    }
    double wall = (double)(ttm_bench_now_ns() - t0) / 1e9;
    last_cpu = cpu_s() - c0;
    return wall;
}

/* dladdr on every BASE_STEP-th frame (glibc's dladdr scans an object's whole dynamic symbol
 * table per call: ~15 µs a frame for libc, a minute for every frame of a loaded machine);
 * returns the wall seconds it would take for all n frames at that rate. */
#define BASE_STEP 8
static double dladdr_pass(const frame *fr, size_t n, size_t *named)
{
    *named = 0;
    double c0 = cpu_s();
    uint64_t t0 = ttm_bench_now_ns();
    for (size_t i = 0; i < n; i += BASE_STEP) {
        Dl_info info;
        void *pc = (void *)(mods[fr[i].mod].base + fr[i].offset - 1);
        if (dladdr(pc, &info) != 0 && info.dli_sname != NULL)
            (*named)++;
    }
    double wall = (double)(ttm_bench_now_ns() - t0) / 1e9 * BASE_STEP;
    last_cpu = (cpu_s() - c0) * BASE_STEP;
    *named *= BASE_STEP;
    return wall;
}

int main(int argc, char **argv)
{
    bool distinct = false;
    size_t stacks = 10000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--distinct") == 0)
            distinct = true;
        else
            stacks = strtoul(argv[i], NULL, 10);
    }
    if (stacks == 0) {
        fprintf(stderr, "usage: bench_symbolize [--distinct] [stacks]\n");
        return 2;
    }
    unsetenv("DEBUGINFOD_URLS"); /* local files only: the figure is the symbolizer's */
    elf_version(EV_CURRENT);
    dl_iterate_phdr(mods_cb, NULL);
    frame *all = NULL;
    size_t nall = 0, cap = 0;
    for (unsigned i = 0; i < nmods; i++)
        mod_addresses(i, &all, &nall, &cap);
    size_t nframes = stacks * DEPTH;
    size_t npool = distinct ? (nall < nframes ? nall : nframes) : POOL;
    if (nall < npool) {
        fprintf(stderr, "bench_symbolize: only %zu code addresses in the modules, %zu needed\n",
                nall, npool);
        return 1;
    }
    /* The pool: npool addresses drawn without repetition (a partial shuffle). */
    for (size_t i = 0; i < npool; i++) {
        size_t j = i + next_rand() % (nall - i);
        frame t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    frame *fr = ttm__xcalloc(nframes, sizeof(*fr));
    for (size_t i = 0; i < nframes; i++)
        fr[i] = distinct ? all[i % npool] : all[next_rand() % npool];

    ttm_bench_machine();
    printf("bench_symbolize: %zu stacks x %d frames = %zu frames, %zu distinct addresses in %u "
           "modules:\n",
           stacks, DEPTH, nframes, npool, nmods);
    for (unsigned i = 0; i < nmods; i++)
        printf("  %s (build-id %s)\n", mods[i].path, mods[i].bid_len ? "yes" : "none");

    size_t named_base, named_cold, lined_cold, named_warm, lined_warm, inl_cold, inl_warm;
    double base = dladdr_pass(fr, nframes, &named_base), base_cpu = last_cpu;
    ttm_sym *s = NULL;
    if (ttm_sym_open(&s) != 0) {
        fprintf(stderr, "bench_symbolize: ttm_sym_open failed\n");
        return 1;
    }
    double cold = sym_pass(s, fr, nframes, &named_cold, &lined_cold, &inl_cold),
           cold_cpu = last_cpu;
    double warm = sym_pass(s, fr, nframes, &named_warm, &lined_warm, &inl_warm),
           warm_cpu = last_cpu;
    ttm_sym_stats st;
    ttm_sym_stats_get(s, &st);
    ttm_sym_close(s);

    double per = 1e9 / (double)nframes;
    printf("  %-34s %7.3f s (cpu %7.3f s) %8.1f ns/frame  %zu named\n",
           "baseline: dladdr (1 frame in 8)", base, base_cpu, base * per, named_base);
    printf("  %-34s %7.3f s (cpu %7.3f s) %8.1f ns/frame  %zu named, %zu with a line, %zu "
           "inlined callers; %.3fx the baseline's time\n",
           "ttm_sym cold (fresh handle)", cold, cold_cpu, cold * per, named_cold, lined_cold,
           inl_cold, cold / base);
    printf("  %-34s %7.3f s (cpu %7.3f s) %8.1f ns/frame  %zu named, %zu with a line, %zu "
           "inlined callers; %.3fx the baseline's time\n",
           "ttm_sym warm (same handle again)", warm, warm_cpu, warm * per, named_warm, lined_warm,
           inl_warm, warm / base);
    printf("  modules opened %llu, failed %llu; address cache hits %llu of %llu lookups\n",
           (unsigned long long)st.modules_opened, (unsigned long long)st.modules_failed,
           (unsigned long long)st.addr_hits, (unsigned long long)st.lookups);
    printf("  budget: a report of %zu stacks symbolized cold in %.3f s, cpu %.3f s (budget 1 s): "
           "%s\n",
           stacks, cold, cold_cpu,
           cold <= 1.0       ? "within"
           : cold_cpu <= 1.0 ? "cpu within"
                             : "OVER");
    ttm__free(fr);
    ttm__free(all);
    return 0;
}
