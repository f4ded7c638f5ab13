/*
 * driver.c — runs a fuzz target without libFuzzer: seeded random inputs and mutations of the
 * seed corpus built into each target, so every decoder's fuzz target also runs under ctest
 * (and under ASan/UBSan in `make test`). With clang, -DTTM_FUZZ=ON builds the same targets
 * against libFuzzer for open-ended runs.
 *
 * usage: fuzz_NAME [ITERATIONS [SEED]]
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    const uint8_t *const *seeds;
    const size_t *sizes;
    size_t nseeds = ttm__fuzz_seeds(&seeds, &sizes);
    static uint8_t buf[65536];
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput(seeds[i], sizes[i]);
    for (unsigned long it = 0; it < iterations; it++) {
        size_t n;
        if (nseeds > 0 && rnd() % 4 != 0) {
            /* mutate a seed: flip bytes, truncate or extend */
            size_t s = rnd() % nseeds;
            n = sizes[s] < sizeof buf ? sizes[s] : sizeof buf;
            memcpy(buf, seeds[s], n);
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
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz driver: %zu seeds and %lu generated inputs ran clean\n", nseeds, iterations);
    return 0;
}
