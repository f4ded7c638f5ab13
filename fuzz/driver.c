/*
 * driver.c — runs a fuzz target without libFuzzer (any compiler, any build): every input file
 * given, then seeded random inputs and mutations of the target's built-in seeds and of those
 * files, so every decoder's fuzz target runs under ctest, under ASan/UBSan in `make test`, and
 * over the checked-in corpus and regression inputs (fuzz/corpus/NAME, fuzz/regressions/NAME)
 * even where clang is missing. With clang, -DTTM_FUZZ=ON builds the same targets against
 * libFuzzer (fuzz/run.sh, `make fuzz`).
 *
 * The built-in seeds are made at run time by the target's ttm__fuzz_seeds() with the real
 * encoders; --write-corpus writes them out: that is how fuzz/corpus/ is generated
 * (fuzz/corpus.sh), so the corpus follows the formats when they change.
 *
 * usage: fuzz_NAME [ITERATIONS [SEED [PATH...]]]   PATH: an input file or a directory of them
 *        fuzz_NAME --write-corpus DIR                 writes DIR/seed-NN, one per built-in seed
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* A target may provide seeds: well-formed inputs the mutations start from. This weak
 * definition stands in for targets that provide none. */
size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes);

__attribute__((weak)) size_t ttm__fuzz_seeds(const uint8_t *const **seeds, const size_t **sizes)
{
    *seeds = NULL;
    *sizes = NULL;
    return 0;
}

#define MAX_FILE (1u << 20) /* a larger input file is an error, not silently truncated */

typedef struct input {
    uint8_t *data;
    size_t size;
} input;

/* The mutation base: built-in seeds, then the files read. */
static input *base;
static size_t nbase, base_cap;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "fuzz driver: out of memory\n");
        exit(2);
    }
    return p;
}

static void base_add(const uint8_t *data, size_t size)
{
    if (nbase == base_cap) {
        base_cap = base_cap ? 2 * base_cap : 16;
        input *nb = realloc(base, base_cap * sizeof *base);
        if (nb == NULL) {
            fprintf(stderr, "fuzz driver: out of memory\n");
            exit(2);
        }
        base = nb;
    }
    base[nbase].data = xmalloc(size);
    memcpy(base[nbase].data, data, size);
    base[nbase].size = size;
    nbase++;
}

/* Runs one input file and adds it to the mutation base. Returns 0 or -1 (message printed). */
static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz driver: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = xmalloc(MAX_FILE + 1);
    size_t n = fread(buf, 1, MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_FILE) {
        fprintf(stderr, "fuzz driver: %s: %s\n", path,
                bad ? "read error" : "larger than 1 MiB");
        free(buf);
        return -1;
    }
    /* an exact-size copy, so that ASan sees a read past the input's end */
    uint8_t *exact = xmalloc(n);
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    base_add(exact, n);
    free(exact);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs PATH (a file, or every file of a directory in name order, dot files skipped).
 * Returns the number of inputs run, or -1. */
static long run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fuzz driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path) == 0 ? 1 : -1;
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "fuzz driver: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (nn == NULL) {
                fprintf(stderr, "fuzz driver: out of memory\n");
                exit(2);
            }
            names = nn;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = xmalloc(len);
        snprintf(names[n], len, "%s/%s", path, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (ran >= 0 && run_file(names[i]) == 0)
            ran++;
        else
            ran = -1;
        free(names[i]);
    }
    free(names);
    return ran;
}

static int write_corpus(const char *dir, const uint8_t *const *seeds, const size_t *sizes,
                        size_t nseeds)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz driver: cannot create %s: %s\n", dir, strerror(errno));
        return 2;
    }
    for (size_t i = 0; i < nseeds; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%02zu", dir, i);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(seeds[i], 1, sizes[i], f) != sizes[i] || fclose(f) != 0) {
            fprintf(stderr, "fuzz driver: cannot write %s: %s\n", path, strerror(errno));
            return 2;
        }
    }
    printf("fuzz driver: %zu seeds written to %s\n", nseeds, dir);
    return 0;
}

int main(int argc, char **argv)
{
    const uint8_t *const *seeds;
    const size_t *sizes;
    size_t nseeds = ttm__fuzz_seeds(&seeds, &sizes);
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2], seeds, sizes, nseeds);
    unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    for (size_t i = 0; i < nseeds; i++) {
        LLVMFuzzerTestOneInput(seeds[i], sizes[i]);
        base_add(seeds[i], sizes[i]);
    }
    unsigned long files = 0;
    for (int a = 3; a < argc; a++) {
        long n = run_path(argv[a]);
        if (n < 0)
            return 2;
        files += (unsigned long)n;
    }
    static uint8_t buf[65536];
    for (unsigned long it = 0; it < iterations; it++) {
        size_t n;
        if (nbase > 0 && rnd() % 4 != 0) {
            /* mutate a seed: flip bytes, truncate or extend */
            size_t s = rnd() % nbase;
            n = base[s].size < sizeof buf ? base[s].size : sizeof buf;
            memcpy(buf, base[s].data, n);
            unsigned flips = 1 + (unsigned)(rnd() % 8);
            for (unsigned f = 0; f < flips && n > 0; f++)
                buf[rnd() % n] = (uint8_t)rnd();
            switch (rnd() % 4) {
            case 0:
                n = n ? rnd() % n : 0;
                break;
            case 1: {
                size_t extra = rnd() % 256;
                for (size_t k = 0; k < extra && n < sizeof buf; k++)
                    buf[n++] = (uint8_t)rnd();
                break;
            }
            default:
                break;
            }
        } else {
            n = rnd() % 1024;
            for (size_t k = 0; k < n; k++)
                buf[k] = (uint8_t)rnd();
        }
        uint8_t *exact = xmalloc(n); /* exact size: ASan sees a read past the end */
        memcpy(exact, buf, n);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    for (size_t i = 0; i < nbase; i++)
        free(base[i].data);
    free(base);
    printf("fuzz driver: %zu seeds, %lu input files and %lu generated inputs ran clean\n", nseeds,
           files, iterations);
    return 0;
}
