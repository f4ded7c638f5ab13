/*
 * side.c — libttmem's side log writer (side_writer.h; the format and its ordering rules are in
 * common/side.h): the memfd, the append of records under one mutex, the string and Python frame
 * intern tables, the module list kept in step with dl_iterate_phdr, and the range table that
 * validates return addresses for the frame-pointer walk.
 *
 * The string table keeps its bytes in an arena of its own (TTM__SIDE_STRING_ARENA, allocated
 * at the first string), never in the shared log, whose mapping a rebuild replaces. Lookups of
 * a string or frame seen before take no lock (open addressing, the key published last with
 * release order, as in stack.c); inserts take the writer's mutex.
 *
 * Lock order: the stack table's mutex (stack.c) -> the writer's mutex -> the dynamic loader's
 * (inside dl_iterate_phdr). Nothing here calls back into the stack table.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/side_writer.h"
#include "client/stack.h"
#include "common/hash.h"
#include "common/bytes.h"
#include "common/side.h"
#include "ttmem/ttmem.h"

#define REC_HDR ((uint32_t)sizeof(ttm_side_rec))
#define PAD8(n) (((n) + 7u) & ~(uint64_t)7u)

/* ---- the log ----------------------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static ttm_side_hdr *side_map; /* NULL until made (or after a fork, until the child's copy) */
static size_t side_bytes;
static int side_fd = -1;
static uint64_t side_dev, side_ino; /* the memfd's identity, to tell it from a reused number */
static bool side_failed;            /* could not be made: refuse every record */
/* A forked child's view of its parent's log until it makes its own copy (under mu). */
static ttm_side_hdr *inherited;
static size_t inherited_bytes;
static uint64_t fork_committed; /* committed when the fork happened (set under mu) */

static _Atomic uint64_t n_strings, n_pyframes, n_modules, n_unmaps, n_stacks, n_table_full, n_syncs;

static size_t bytes_from_env(void)
{
    const char *v = getenv("TTMEM_SIDE_BYTES");
    if (v == NULL || v[0] == '\0')
        return TTM_SIDE_DEFAULT_BYTES;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 0);
    if (end == v || *end != '\0')
        return TTM_SIDE_DEFAULT_BYTES;
    if (n < TTM_SIDE_MIN_BYTES)
        n = TTM_SIDE_MIN_BYTES;
    if (n > TTM_SIDE_MAX_BYTES)
        n = TTM_SIDE_MAX_BYTES;
    return (size_t)(n & ~7ull);
}

/* A sealed memfd of bytes bytes, mapped. Under mu. Returns 0 or a ttm_err. */
static int memfd_make(size_t bytes, int *fd_out, ttm_side_hdr **map_out)
{
    int fd = memfd_create("ttmem-side", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        goto out_fail;
    if (ftruncate(fd, (off_t)bytes) != 0)
        goto out_close_fd;
    /* the daemon maps it only when it can never shrink under it */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        goto out_close_fd;
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        goto out_close_fd;
    *fd_out = fd;
    *map_out = m;
    return TTM_OK;
out_close_fd:
    close(fd);
out_fail:
    return errno == ENOMEM ? TTM_ENOMEM : TTM_EIO;
}

static void own_fd(int fd)
{
    struct stat st;
    side_fd = fd;
    side_dev = side_ino = 0;
    if (fstat(fd, &st) == 0) {
        side_dev = (uint64_t)st.st_dev;
        side_ino = (uint64_t)st.st_ino;
    }
}

/* Makes a new log holding a copy of src's first hdr + committed bytes (a fork's child, a lost
 * descriptor), or an empty one when src is NULL. Under mu. */
static int log_make(const ttm_side_hdr *src, uint64_t committed)
{
    size_t bytes = src != NULL ? (size_t)src->map_bytes : bytes_from_env();
    int fd;
    ttm_side_hdr *m;
    int err = memfd_make(bytes, &fd, &m);
    if (err != TTM_OK)
        return err;
    if (src != NULL) {
        memcpy((char *)m + sizeof *m, (const char *)src + sizeof *src, (size_t)committed);
        atomic_store_explicit(&m->full, atomic_load(&src->full), memory_order_relaxed);
    }
    m->magic = TTM_SIDE_MAGIC;
    m->version = TTM_SIDE_VERSION;
    m->hdr_size = sizeof *m;
    m->map_bytes = bytes;
    m->creator_pid = (uint32_t)getpid();
    atomic_store_explicit(&m->committed, committed, memory_order_release);
    ttm_side_hdr *old = side_map;
    size_t old_bytes = side_bytes;
    side_bytes = bytes;
    side_map = m;
    if (old != NULL)
        munmap(old, old_bytes);
    own_fd(fd);
    return TTM_OK;
}

/* The log, made at the first need. Under mu. NULL when it cannot be made. */
static ttm_side_hdr *log_locked(void)
{
    if (side_map != NULL || side_failed)
        return side_map;
    int err;
    if (inherited != NULL) {
        err = log_make(inherited, fork_committed);
        munmap(inherited, inherited_bytes);
        inherited = NULL;
    } else {
        err = log_make(NULL, 0);
    }
    if (err != TTM_OK)
        side_failed = true;
    return side_map;
}

int ttm__side_create(int *fd_out, ttm_side_hdr **map_out)
{
    pthread_mutex_lock(&mu);
    ttm_side_hdr *m = log_locked();
    int fd = side_fd;
    pthread_mutex_unlock(&mu);
    if (fd_out != NULL)
        *fd_out = m != NULL ? fd : -1;
    if (map_out != NULL)
        *map_out = m;
    return m != NULL ? TTM_OK : TTM_EIO;
}

/* Room for a record of len payload bytes: a pointer to its payload in the log, its header
 * written, or NULL (counted in the header's `full`). Under mu; commit() publishes it. */
static uint8_t *rec_begin(uint16_t type, uint32_t len)
{
    ttm_side_hdr *h = log_locked();
    if (h == NULL)
        return NULL;
    uint64_t at = atomic_load_explicit(&h->committed, memory_order_relaxed);
    uint64_t room = side_bytes - sizeof *h - at;
    if (REC_HDR + PAD8(len) > room) {
        atomic_fetch_add_explicit(&h->full, 1, memory_order_relaxed);
        return NULL;
    }
    uint8_t *p = (uint8_t *)h + sizeof *h + at;
    ttm__put_le16(p, type);
    ttm__put_le16(p + 2, 0);
    ttm__put_le32(p + 4, len);
    memset(p + REC_HDR + len, 0, (size_t)(PAD8(len) - len));
    return p + REC_HDR;
}

static void rec_commit(uint32_t len)
{
    ttm_side_hdr *h = side_map;
    uint64_t at = atomic_load_explicit(&h->committed, memory_order_relaxed);
    atomic_store_explicit(&h->committed, at + REC_HDR + PAD8(len), memory_order_release);
}

/* ---- intern tables ------------------------------------------------------------------------- */

/* One slot of a string or frame table: key (a hash, never 0) published last. For a string,
 * a = offset in the string arena, b = length, c = kind; for a frame, (a, b, c) = (file, func,
 * line). */
typedef struct islot {
    _Atomic uint64_t key;
    uint32_t id, a, b, c;
} islot;

typedef struct itable {
    islot *slots;
    uint32_t mask, max, count;
} itable;

static itable strings = {.max = TTM__SIDE_MAX_STRINGS};
static char *str_arena; /* TTM__SIDE_STRING_ARENA bytes; written under mu, before the key */
static uint32_t str_used;
static itable pyframes = {.max = TTM__SIDE_MAX_PYFRAMES};

static uint64_t hash_bytes(unsigned kind, const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ kind; /* FNV-1a, then the finalizer */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return ttm__mix64_nz(h);
}

/* Slots for twice the table's bound, at the first insert. Under mu. */
static bool itable_ready(itable *t)
{
    if (t->slots != NULL)
        return true;
    uint32_t n = 2;
    while (n < 2 * t->max)
        n <<= 1;
    islot *s = calloc(n, sizeof *s);
    if (s == NULL)
        return false;
    t->mask = n - 1;
    __atomic_store_n(&t->slots, s, __ATOMIC_RELEASE);
    return true;
}

typedef bool (*islot_eq)(const islot *s, const void *what);

/* The slot holding what, or the empty one where it goes (NULL: no table yet, or a full lap). */
static islot *iprobe(itable *t, uint64_t h, islot_eq eq, const void *what)
{
    islot *slots = __atomic_load_n(&t->slots, __ATOMIC_ACQUIRE);
    if (slots == NULL)
        return NULL;
    for (uint32_t i = 0, at = (uint32_t)h & t->mask; i <= t->mask; i++, at = (at + 1) & t->mask) {
        islot *s = &slots[at];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == 0)
            return s;
        if (k == h && eq(s, what))
            return s;
    }
    return NULL;
}

static uint32_t ifound(islot *s)
{
    return s != NULL && atomic_load_explicit(&s->key, memory_order_relaxed) != 0 ? s->id : 0;
}

typedef struct str_key {
    unsigned kind;
    const char *s;
    uint32_t n;
} str_key;

static bool str_eq(const islot *s, const void *what)
{
    const str_key *k = what;
    return s->c == k->kind && s->b == k->n && memcmp(str_arena + s->a, k->s, k->n) == 0;
}

/* Under mu, for what (hash h) not found without the lock: the empty slot a new entry goes
 * in, or NULL with *id = the entry's id when another thread inserted it meanwhile, or 0 when
 * there is no room (a full table: counted). */
static islot *insert_begin(itable *t, uint64_t h, islot_eq eq, const void *what, uint32_t *id)
{
    *id = 0;
    islot *slot = itable_ready(t) ? iprobe(t, h, eq, what) : NULL;
    *id = ifound(slot);
    if (*id != 0 || slot == NULL)
        return NULL;
    if (t->count >= t->max) {
        atomic_fetch_add(&n_table_full, 1);
        return NULL;
    }
    return slot;
}

/* Under mu, once the entry's record is committed: publishes it as the next id. */
static uint32_t insert_end(itable *t, islot *slot, uint64_t h, uint32_t a, uint32_t b, uint32_t c)
{
    uint32_t id = ++t->count;
    slot->id = id;
    slot->a = a;
    slot->b = b;
    slot->c = c;
    atomic_store_explicit(&slot->key, h, memory_order_release);
    return id;
}

uint32_t ttm__side_string(unsigned kind, const char *s, size_t n)
{
    if (s == NULL || n == 0 || kind < TTM_SIDE_STR_SCOPE || kind > TTM_SIDE_STR_PYFUNC)
        return 0;
    if (n > TTM_SIDE_STRING_MAX)
        n = TTM_SIDE_STRING_MAX;
    str_key k = {.kind = kind, .s = s, .n = (uint32_t)n};
    uint64_t h = hash_bytes(kind, s, n);
    uint32_t id = ifound(iprobe(&strings, h, str_eq, &k));
    if (id != 0)
        return id;
    pthread_mutex_lock(&mu);
    islot *slot = insert_begin(&strings, h, str_eq, &k, &id);
    if (slot == NULL)
        goto out_unlock;
    if (str_arena == NULL)
        str_arena = malloc(TTM__SIDE_STRING_ARENA);
    if (str_arena == NULL || TTM__SIDE_STRING_ARENA - str_used < n) {
        atomic_fetch_add(&n_table_full, 1);
        goto out_unlock;
    }
    uint32_t len = 8 + (uint32_t)n;
    uint8_t *p = rec_begin(TTM_SIDE_STRING, len);
    if (p == NULL)
        goto out_unlock;
    ttm__put_le32(p, strings.count + 1);
    ttm__put_le32(p + 4, kind);
    memcpy(p + 8, s, n);
    rec_commit(len);
    memcpy(str_arena + str_used, s, n);
    id = insert_end(&strings, slot, h, str_used, (uint32_t)n, kind);
    str_used += (uint32_t)n;
    atomic_fetch_add(&n_strings, 1);
out_unlock:
    pthread_mutex_unlock(&mu);
    return id;
}

static bool frame_eq(const islot *s, const void *what)
{
    const uint32_t *k = what;
    return s->a == k[0] && s->b == k[1] && s->c == k[2];
}

uint32_t ttm__side_pyframe(uint32_t file, uint32_t func, uint32_t line)
{
    if (file == 0 || func == 0)
        return 0;
    uint32_t k[3] = {file, func, line};
    uint64_t h = ttm__mix64_nz(((uint64_t)file << 40) ^ ((uint64_t)func << 20) ^ line ^
                                  ((uint64_t)line << 52));
    uint32_t id = ifound(iprobe(&pyframes, h, frame_eq, k));
    if (id != 0)
        return id;
    pthread_mutex_lock(&mu);
    islot *slot = insert_begin(&pyframes, h, frame_eq, k, &id);
    uint8_t *p = slot != NULL ? rec_begin(TTM_SIDE_PYFRAME, 16) : NULL;
    if (p != NULL) {
        ttm__put_le32(p, pyframes.count + 1);
        ttm__put_le32(p + 4, file);
        ttm__put_le32(p + 8, func);
        ttm__put_le32(p + 12, line);
        rec_commit(16);
        id = insert_end(&pyframes, slot, h, file, func, line);
        atomic_fetch_add(&n_pyframes, 1);
    }
    pthread_mutex_unlock(&mu);
    return id;
}

/* ---- modules ------------------------------------------------------------------------------- */

typedef struct module {
    uint32_t id;
    bool seen; /* in the scan in progress */
    uint64_t bias, lo, hi, name_hash;
} module;

static module mods[TTM__SIDE_MAX_MODULES]; /* under mu */
static uint32_t nmods, next_mod_id;
static bool synced;
static unsigned long long seen_adds, seen_subs;

/* The range table the frame-pointer walk validates against: the live modules' executable
 * ranges sorted by lo, behind a sequence count (odd while the writer changes it). */
typedef struct range {
    uintptr_t lo, hi;
} range;
static range ranges[TTM__SIDE_MAX_MODULES];
static _Atomic uint32_t nranges;
static _Atomic uint32_t ranges_seq;

static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void ranges_publish(void)
{
    range tmp[TTM__SIDE_MAX_MODULES];
    uint32_t n = 0;
    for (uint32_t i = 0; i < nmods; i++)
        if (mods[i].hi > mods[i].lo)
            tmp[n++] = (range){(uintptr_t)mods[i].lo, (uintptr_t)mods[i].hi};
    qsort(tmp, n, sizeof tmp[0], range_cmp);
    atomic_fetch_add_explicit(&ranges_seq, 1, memory_order_acq_rel); /* odd: changing */
    for (uint32_t i = 0; i < n; i++) {
        __atomic_store_n(&ranges[i].lo, tmp[i].lo, __ATOMIC_RELAXED);
        __atomic_store_n(&ranges[i].hi, tmp[i].hi, __ATOMIC_RELAXED);
    }
    atomic_store_explicit(&nranges, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&ranges_seq, 1, memory_order_release); /* even: stable */
}

/* Where pc lies in the range table: true when inside [ranges[i].lo, hi). */
static bool range_find(uintptr_t pc, uint32_t n, uint32_t *hint)
{
    uint32_t h = *hint;
    if (h < n && pc >= __atomic_load_n(&ranges[h].lo, __ATOMIC_RELAXED) &&
        pc < __atomic_load_n(&ranges[h].hi, __ATOMIC_RELAXED))
        return true; /* the previous address's module: the common case */
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (pc < __atomic_load_n(&ranges[mid].lo, __ATOMIC_RELAXED)) {
            hi = mid;
        } else if (pc >= __atomic_load_n(&ranges[mid].hi, __ATOMIC_RELAXED)) {
            lo = mid + 1;
        } else {
            *hint = mid;
            return true;
        }
    }
    return false;
}

bool ttm__side_pcs_known(const uintptr_t *pcs, unsigned n)
{
    /* A writer preempted in the middle of its few stores must not hold readers for long:
     * after a bounded number of tries the answer is "not known" (the caller then unwinds). */
    for (int tries = 0; tries < 64; tries++) {
        uint32_t s1 = atomic_load_explicit(&ranges_seq, memory_order_acquire);
        if (s1 & 1u)
            continue;
        uint32_t nr = atomic_load_explicit(&nranges, memory_order_relaxed);
        if (nr > TTM__SIDE_MAX_MODULES)
            nr = TTM__SIDE_MAX_MODULES;
        uint32_t hint = 0;
        bool known = true;
        for (unsigned i = 0; i < n && known; i++)
            known = range_find(pcs[i], nr, &hint);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&ranges_seq, memory_order_relaxed) == s1)
            return known;
    }
    return false;
}

static int counts_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *c = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        c[0] = info->dlpi_adds;
        c[1] = info->dlpi_subs;
    }
    return 1;
}

/* The GNU build-id of a loaded object, from its PT_NOTE segments (in memory). */
static uint32_t build_id(const struct dl_phdr_info *info, uint8_t out[TTM_SIDE_BUILD_ID_MAX])
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        size_t align = ph->p_align == 8 ? 8 : 4;
        while (left >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) nh;
            memcpy(&nh, p, sizeof nh);
            size_t name = (nh.n_namesz + align - 1) & ~(align - 1);
            size_t desc = (nh.n_descsz + align - 1) & ~(align - 1);
            size_t total = sizeof nh + name + desc;
            if (name > left || desc > left || total > left)
                break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp(p + sizeof nh, "GNU", 4) == 0) {
                uint32_t n =
                    nh.n_descsz < TTM_SIDE_BUILD_ID_MAX ? nh.n_descsz : TTM_SIDE_BUILD_ID_MAX;
                memcpy(out, p + sizeof nh + name, n);
                return n;
            }
            p += total;
            left -= total;
        }
    }
    return 0;
}

/* The program's own path: /proc/self/exe resolved, read once per image. */
static char exe_path[TTM_SIDE_PATH_MAX + 1];
static size_t exe_len;

static const char *module_path(const struct dl_phdr_info *info, bool first, size_t *len)
{
    uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    for (int i = 0; vdso != 0 && i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && ph->p_offset == 0 && info->dlpi_addr + ph->p_vaddr == vdso) {
            *len = strlen("[vdso]");
            return "[vdso]";
        }
    }
    if (first && (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')) {
        if (exe_len == 0) {
            ssize_t n = readlink("/proc/self/exe", exe_path, TTM_SIDE_PATH_MAX);
            exe_len = n > 0 ? (size_t)n : 0;
        }
        *len = exe_len;
        return exe_len > 0 ? exe_path : NULL;
    }
    if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
        return NULL;
    *len = strnlen(info->dlpi_name, TTM_SIDE_PATH_MAX);
    return info->dlpi_name;
}

typedef struct scan {
    int index;
} scan;

/* One loaded object of a rescan: marks it seen, or writes its MODULE record. Under mu (and the
 * loader's lock: the object cannot go away meanwhile). */
static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    scan *sc = arg;
    bool first = sc->index++ == 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uint64_t l = info->dlpi_addr + ph->p_vaddr, h = l + ph->p_memsz;
        lo = l < lo ? l : lo;
        hi = h > hi ? h : hi;
    }
    if (hi == 0)
        return 0; /* no code */
    size_t plen = 0;
    const char *path = module_path(info, first, &plen);
    if (path == NULL || plen == 0)
        return 0;
    uint64_t nh = hash_bytes(0, path, plen);
    for (uint32_t i = 0; i < nmods; i++) {
        module *m = &mods[i];
        if (m->bias == info->dlpi_addr && m->lo == lo && m->hi == hi && m->name_hash == nh) {
            m->seen = true;
            return 0;
        }
    }
    if (nmods >= TTM__SIDE_MAX_MODULES) {
        atomic_fetch_add(&n_table_full, 1);
        return 0;
    }
    uint32_t len = TTM_SIDE_MODULE_FIXED + (uint32_t)plen;
    uint8_t *p = rec_begin(TTM_SIDE_MODULE, len);
    if (p == NULL)
        return 0;
    uint8_t bid[TTM_SIDE_BUILD_ID_MAX] = {0};
    uint32_t nbid = build_id(info, bid);
    uint32_t id = ++next_mod_id;
    ttm__put_le32(p, id);
    ttm__put_le32(p + 4, nbid);
    ttm__put_le64(p + 8, info->dlpi_addr);
    ttm__put_le64(p + 16, lo);
    ttm__put_le64(p + 24, hi);
    memcpy(p + 32, bid, sizeof bid);
    memcpy(p + TTM_SIDE_MODULE_FIXED, path, plen);
    rec_commit(len);
    mods[nmods++] = (module){
        .id = id, .seen = true, .bias = info->dlpi_addr, .lo = lo, .hi = hi, .name_hash = nh};
    atomic_fetch_add(&n_modules, 1);
    return 0;
}

/* Under mu. */
static void modules_sync_locked(void)
{
    if (log_locked() == NULL)
        return;
    unsigned long long c[2] = {0, 0};
    dl_iterate_phdr(counts_cb, c);
    if (synced && c[0] == seen_adds && c[1] == seen_subs)
        return;
    atomic_fetch_add(&n_syncs, 1);
    for (uint32_t i = 0; i < nmods; i++)
        mods[i].seen = false;
    scan sc = {.index = 0};
    dl_iterate_phdr(scan_cb, &sc);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < nmods; i++) {
        if (mods[i].seen) {
            mods[kept++] = mods[i];
            continue;
        }
        uint8_t *p = rec_begin(TTM_SIDE_UNMAP, 4);
        if (p == NULL) {
            mods[kept++] = mods[i]; /* not said: keep it, say it at a later sync */
            continue;
        }
        ttm__put_le32(p, mods[i].id);
        rec_commit(4);
        atomic_fetch_add(&n_unmaps, 1);
    }
    nmods = kept;
    ranges_publish();
    synced = true;
    seen_adds = c[0];
    seen_subs = c[1];
}

void ttm__side_modules_sync(void)
{
    pthread_mutex_lock(&mu);
    modules_sync_locked();
    pthread_mutex_unlock(&mu);
}

/* ---- stacks -------------------------------------------------------------------------------- */

bool ttm__side_stack(uint32_t id, const uintptr_t *pcs, unsigned n)
{
    if (id == 0 || n == 0 || n > TTM_SIDE_STACK_MAX)
        return false;
    bool ok = false;
    pthread_mutex_lock(&mu);
    modules_sync_locked();
    uint32_t len = 8 + 8 * n;
    uint8_t *p = rec_begin(TTM_SIDE_STACK, len);
    if (p != NULL) {
        ttm__put_le32(p, id);
        ttm__put_le32(p + 4, n);
        for (unsigned i = 0; i < n; i++)
            ttm__put_le64(p + 8 + 8 * i, (uint64_t)pcs[i]);
        rec_commit(len);
        atomic_fetch_add(&n_stacks, 1);
        ok = true;
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

/* ---- the rest ------------------------------------------------------------------------------ */

void ttm__side_stats_get(ttm__side_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&mu);
    if (side_map != NULL) {
        st->bytes = atomic_load(&side_map->committed);
        st->full = atomic_load(&side_map->full);
    }
    pthread_mutex_unlock(&mu);
    st->strings = atomic_load(&n_strings);
    st->pyframes = atomic_load(&n_pyframes);
    st->modules = atomic_load(&n_modules);
    st->unmaps = atomic_load(&n_unmaps);
    st->stacks = atomic_load(&n_stacks);
    st->table_full = atomic_load(&n_table_full);
    st->syncs = atomic_load(&n_syncs);
}

bool ttm__side_fd_ours(void)
{
    pthread_mutex_lock(&mu);
    struct stat st;
    bool ours = side_fd >= 0 && fstat(side_fd, &st) == 0 && (uint64_t)st.st_dev == side_dev &&
                (uint64_t)st.st_ino == side_ino;
    pthread_mutex_unlock(&mu);
    return ours;
}

int ttm__side_rebuild(void)
{
    pthread_mutex_lock(&mu);
    int err = TTM_EIO;
    if (side_map != NULL)
        err = log_make(side_map, atomic_load(&side_map->committed));
    pthread_mutex_unlock(&mu);
    return err;
}

void ttm__side_atfork_prepare(void)
{
    pthread_mutex_lock(&mu);
    fork_committed = side_map != NULL ? atomic_load(&side_map->committed) : 0;
}

void ttm__side_atfork_parent(void)
{
    pthread_mutex_unlock(&mu);
}

void ttm__side_atfork_child(void)
{
    /* The parent's mapping is shared with it: never write there. Keep it to copy from; the
     * descriptor is the parent's session's (not ours to hand on, and closing it is harmless:
     * the parent keeps its own). */
    if (side_map != NULL) {
        inherited = side_map;
        inherited_bytes = side_bytes;
    }
    side_map = NULL;
    side_bytes = 0;
    struct stat st;
    if (side_fd >= 0 && fstat(side_fd, &st) == 0 && (uint64_t)st.st_dev == side_dev &&
        (uint64_t)st.st_ino == side_ino)
        close(side_fd); /* never a descriptor the application reused */
    side_fd = -1;
    side_dev = side_ino = 0;
    side_failed = false;
    pthread_mutex_unlock(&mu);
}
