/*
 * sites_dl.c — the module-map test program (tests/cli/stacks_dl.sh): loads libttm_dl_a.so
 * (from its own directory), leaks a buffer from it, unloads it; does the same with
 * libttm_dl_b.so; then execs itself as "ttm_sites_dl exec", whose new image leaks one buffer
 * from exec_leak. Every leak must come out symbolized in a report made after the process has
 * exited. Nothing waits for the daemon in between: the module records of the side log, not
 * timing, must make it right. Exits 0 when every step worked.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sites.h"

static SITES_NOINLINE int exec_leak(void)
{
    int rc = ttm_buffer_alloc(0, TTM_MEM_DRAM, SITES_EXEC_BASE + SITES_LEAK, SITES_LEAK_SIZE, 0, 0); /* SITE:exec_leak */
    return rc != 0;
}

/* Loads DIR/libttm_dl_<name>.so, calls its dl_leak_<name>(base), unloads it. Returns 0 or 1
 * (said on stderr). */
static int leak_from(const char *dir, const char *name, uint64_t base)
{
    char path[PATH_MAX], fn[32];
    snprintf(path, sizeof path, "%s/libttm_dl_%s.so", dir, name);
    snprintf(fn, sizeof fn, "dl_leak_%s", name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "ttm_sites_dl: %s\n", dlerror());
        return 1;
    }
    int (*leak)(uint64_t) = (int (*)(uint64_t))dlsym(h, fn);
    int bad = leak == NULL || leak(base) != 0;
    if (bad)
        fprintf(stderr, "ttm_sites_dl: %s in %s failed\n", fn, path);
    if (dlclose(h) != 0) {
        fprintf(stderr, "ttm_sites_dl: dlclose %s: %s\n", path, dlerror());
        bad++;
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec") == 0)
        return exec_leak();
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    char dir[PATH_MAX];
    memcpy(dir, self, (size_t)n + 1);
    *strrchr(dir, '/') = '\0';
    int bad = leak_from(dir, "a", SITES_DL_A_BASE) + leak_from(dir, "b", SITES_DL_B_BASE);
    if (bad)
        return 1;
    char *args[] = {self, "exec", NULL};
    execv(self, args);
    perror("ttm_sites_dl: execv");
    return 1;
}
