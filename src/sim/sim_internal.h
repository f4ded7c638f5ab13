/*
 * sim_internal.h — the simulator's private model, shared by its files (not installed, not used
 * outside src/sim and its tests).
 *
 * A scenario drives a ttm__sim context. Every event goes out through a helper that takes the
 * class mask the scenario *expects* for it: the scenario states what the event is from its own
 * model of the objects it created ("the second free of this program buffer", "a per-device view
 * freed after its backing"), and the helper writes that into the ground truth and keeps the
 * model's byte counts (live and peak per device and memtype) and its records (for the leaks at
 * process exit). The helpers never decide a class on their own, with one exception that the
 * rules define by history alone: ttm__sim_legacy_stray() says whether an address-only free with
 * nothing behind it is an excess or an unknown free.
 *
 * The context owns everything it allocates; ttm__sim_fini() frees it. Nothing persists between
 * runs: the random generator, the clock and the object ids all live in the context.
 */
#ifndef TTM_SIM_SIM_INTERNAL_H
#define TTM_SIM_SIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stacks.h"
#include "sim/sim.h"

#define TTM__SIM_PID0        1000u /* the first simulated process */
#define TTM__SIM_MAX_DEVICES 32u   /* the largest mesh (Galaxy, 4 x 8) */
#define TTM__SIM_MAX_PROCS   16u
#define TTM__SIM_TS_START    1000000u
#define TTM__SIM_TS_STEP     1000u      /* synthetic nanoseconds between two events */
#define TTM__SIM_NONE        UINT32_MAX /* no record */

/* The bit of a class by its short name, for expected masks: X(FREE_OK) | X(SIZE_MISMATCH). */
#define TTM__SIM_X(c) TTM_CLASS_BIT(TTM_CLASS_##c)

#define KIB(n) ((uint64_t)(n) << 10)
#define MIB(n) ((uint64_t)(n) << 20)

/*
 * Receives each event with the class mask the scenario expects ttm_registry_apply() to return
 * for it (0 for control events). ttm_sim_run() wraps its emit callback in one of these; tests
 * use it directly to compare every single event.
 */
typedef void (*ttm__sim_expect_fn)(void *arg, uint32_t pid, const ttm_event *ev, uint32_t expect);

/* One buffer as the tracker should hold it (or, with refs 0 from the start, a buffer the
 * tracker never heard of: allocated before tracking, or a legacy per-device buffer). */
typedef struct ttm__sim_rec {
    uint64_t addr, size, obj;
    uint32_t pid;
    uint32_t refs;  /* the tracker's reference count; 0 = not live */
    uint32_t stack; /* the allocation's stack (with call sites), which the tracker keeps */
    uint16_t device;
    uint8_t memtype;
    bool view;
    /* the events (0-based, in emit order) at which its bytes entered and left the counts;
     * UINT64_MAX: not (yet): the live set at a peak is read from them */
    uint64_t born, died;
} ttm__sim_rec;

typedef struct ttm__sim_proc {
    uint32_t pid;
    uint32_t seq;
} ttm__sim_proc;

typedef struct ttm__sim_hkey {
    uint64_t addr;
    uint16_t device;
    uint8_t space;
    uint8_t used;
} ttm__sim_hkey;

/* A range of equally spaced addresses, handed out at random: a stand-in for an allocator that
 * reuses addresses. A pool shared by the devices of a mesh is lock-step: a slot taken is taken
 * on every device, as with TT-Metal's mesh allocator. */
typedef struct ttm__sim_pool {
    uint64_t base, stride;
    uint32_t nslots, nfree;
    uint8_t *used;
} ttm__sim_pool;

/* A MeshBuffer: one backing buffer and one per-device buffer on each device of the mesh, all at
 * the same address. Identity client: backing[i] are owning records (one object id on every
 * device), part[i] are VIEW records. Legacy client: backing[0] is the only record (on the first
 * device); part[i] are buffers the tracker never hears allocated but does hear freed. */
typedef struct ttm__sim_mesh {
    uint32_t pid;
    uint16_t first, ndev;
    uint8_t memtype;
    uint64_t addr, size; /* size per device */
    uint32_t backing[TTM__SIM_MAX_DEVICES];
    uint32_t part[TTM__SIM_MAX_DEVICES];
} ttm__sim_mesh;

/* A call stack already interned: the (kind, layer, site) it was made for. */
typedef struct ttm__sim_stack_memo {
    const char *path, *func, *layer;
    uint8_t kind;
    uint32_t id;
} ttm__sim_stack_memo;

typedef struct ttm__sim_scope_memo {
    const char *name;
    uint32_t id;
} ttm__sim_scope_memo;

#define TTM__SIM_MEMO 64

/* Where the events come from (only used with a stacks table). */
typedef struct ttm__sim_where {
    ttm_stacks *stacks;             /* NULL: no call sites, nothing below is used */
    const char *path, *func, *file; /* the site (ttm__sim_site) */
    const char *layer;              /* the MeshBuffer helper's frame, NULL outside */
    const char *scope;              /* the scope's name, NULL = none */
    ttm__sim_stack_memo stacks_memo[TTM__SIM_MEMO];
    size_t nstacks, last;
    ttm__sim_scope_memo scopes_memo[TTM__SIM_MEMO];
    size_t nscopes;
} ttm__sim_where;

/* A growable list of record indices. */
typedef struct ttm__sim_list {
    uint32_t *v;
    size_t n, cap;
} ttm__sim_list;

typedef struct ttm__sim {
    ttm_sim_client client;
    bool legacy;
    uint64_t rng;
    uint64_t ts;
    uint64_t next_obj;
    unsigned mesh_frees; /* cycles the free orders of mesh buffers */
    ttm__sim_expect_fn fn;
    void *arg;
    ttm_sim_truth *truth;
    /* the cause stated for the next event (ttm__sim_because()): TTM_CAUSE__COUNT = none */
    ttm_cause cause;
    bool cause_ambiguous;

    uint16_t ndev;
    uint64_t live[TTM__SIM_MAX_DEVICES][TTM_MEMTYPE_COUNT];
    uint64_t peak[TTM__SIM_MAX_DEVICES][TTM_MEMTYPE_COUNT];
    /* the first event that reached each peak, and its time */
    uint64_t peak_event[TTM__SIM_MAX_DEVICES][TTM_MEMTYPE_COUNT];
    uint64_t peak_ts[TTM__SIM_MAX_DEVICES][TTM_MEMTYPE_COUNT];
    ttm_sim_peak_fn peak_fn; /* told each peak's live set at the end (ttm_sim_run_peaks) */
    void *peak_arg;

    ttm__sim_proc procs[TTM__SIM_MAX_PROCS];
    size_t nprocs;

    ttm__sim_rec *recs;
    uint32_t nrecs, caprecs;

    ttm__sim_hkey *hist; /* keys ever allocated (owning allocations) */
    size_t hist_mask, hist_used;

    ttm__sim_pool **pools;
    size_t npools;

    ttm__sim_where where;
} ttm__sim;

/* ---- context ------------------------------------------------------------------------------- */

/* Prepares S for one run. truth must not be NULL; it is zeroed. stacks: where the events'
 * call stacks and scope names are interned, NULL for none (ttm_sim_run_stacks()). */
void ttm__sim_init(ttm__sim *S, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                   ttm__sim_expect_fn fn, void *arg, ttm_sim_truth *truth);
/* Writes the model's peaks into the truth (device-major, at most TTM_SIM_MAX_PEAKS pairs with
 * a non-zero peak), tells S->peak_fn each peak's live set, and frees everything S owns. */
void ttm__sim_fini(ttm__sim *S);

/* Runs scenario name; returns 0 or TTM_ENOENT. The private form of ttm_sim_run_stacks() that
 * also hands every event's expected class mask to fn. stacks and truth may be NULL. */
int ttm__sim_run_expect(const char *name, ttm_sim_client client, uint64_t seed, ttm_stacks *stacks,
                        ttm__sim_expect_fn fn, void *arg, ttm_sim_truth *truth);

/* ---- randomness ---------------------------------------------------------------------------- */

/* The next value of the context's splitmix64 generator. */
uint64_t ttm__sim_rand(ttm__sim *S);
/* A value in [0, n); 0 when n is 0. */
uint64_t ttm__sim_below(ttm__sim *S, uint64_t n);
/* True with the given percentage. */
bool ttm__sim_chance(ttm__sim *S, unsigned percent);
/* One element of a non-empty array, at random. */
uint64_t ttm__sim_pick(ttm__sim *S, const uint64_t *v, size_t n);
/* Shuffles v[0..n) in place. */
void ttm__sim_shuffle(ttm__sim *S, uint32_t *v, size_t n);

/* ---- events -------------------------------------------------------------------------------- */

/* Emits one DEVICE_INFO per device 0..ndev-1 (Wormhole B0: 12 GiB DRAM, 64 x 1,499,136 B L1),
 * on behalf of the first process. Call it first; ndev <= TTM__SIM_MAX_DEVICES. */
void ttm__sim_devices(ttm__sim *S, uint16_t ndev);
/* Moves the clock on to ts when it is behind (a step of a loop that starts on a fixed
 * cadence, e.g. one decode step every so many microseconds). */
void ttm__sim_clock_at_least(ttm__sim *S, uint64_t ts);
/* Emits PROC_START for pid. */
void ttm__sim_proc_start(ttm__sim *S, uint32_t pid);
/* Emits PROC_EXIT for pid; every owning record of pid still live is expected as
 * leaked_at_exit (count and bytes) and closed; its views are dropped. */
void ttm__sim_proc_exit(ttm__sim *S, uint32_t pid);
/* Emits a MARK with a phase name (cut to fit). */
void ttm__sim_mark(ttm__sim *S, uint32_t pid, const char *name);

/* A fresh non-zero object id. */
uint64_t ttm__sim_new_obj(ttm__sim *S);

/*
 * Emits an ALLOC for a new record and returns its index. obj 0 gives a fresh object id (sent
 * only by the identity client; the legacy client sends 0 and never a VIEW flag). expect is the
 * expected class mask: X(ALLOC_OK) or X(OVERLAP) open an owning record and add its bytes;
 * X(ALLOC_VIEW) opens a view. For an overlap of the process's own live record, call
 * ttm__sim_missed() on that record first.
 */
uint32_t ttm__sim_alloc_obj(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype,
                            uint64_t addr, uint64_t size, uint64_t obj, bool view, uint32_t expect);
/* ttm__sim_alloc_obj() with a fresh object id and no VIEW flag. */
uint32_t ttm__sim_alloc(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype, uint64_t addr,
                        uint64_t size, uint32_t expect);
/* Emits an ALLOC of size bytes at live record rec's key with its object id (a cached buffer
 * re-reported, or in the legacy client an address handed out again); expect is
 * X(DUPLICATE_ALLOC): the reference count goes up, no bytes, the record keeps its size. */
void ttm__sim_realloc(ttm__sim *S, uint32_t rec, uint64_t size, uint32_t expect);
/* Record rec's memory was handed out again without its free being reported: expects one
 * missed_free and releases its bytes. Emits nothing; the overlapping ALLOC must follow. */
void ttm__sim_missed(ttm__sim *S, uint32_t rec);
/* A record the tracker never hears allocated (refs 0, fresh object id); free it with
 * ttm__sim_free() to emit a free of something the tracker never saw. */
uint32_t ttm__sim_untracked(ttm__sim *S, uint32_t pid, uint16_t device, unsigned memtype,
                            uint64_t addr, uint64_t size);

/*
 * Emits, on behalf of pid, the FREE that the client reports for record rec: identity = the
 * record's memtype, size and object id, VIEW flag for a view; legacy = memtype ANY, size 0,
 * object 0. expect is the expected mask; its primary class says what happens in the model:
 * free_ok drops a reference (the last one releases the bytes), free_view and view_after_owner
 * close the view, every other class changes nothing.
 */
void ttm__sim_free(ttm__sim *S, uint32_t pid, uint32_t rec, uint32_t expect);
/* ttm__sim_free() with the size the identity client reports (to make a size mismatch). */
void ttm__sim_free_size(ttm__sim *S, uint32_t pid, uint32_t rec, uint64_t size, uint32_t expect);
/* Emits an event with every field given (malformed events); no effect on the model. */
void ttm__sim_raw(ttm__sim *S, uint32_t pid, uint8_t kind, uint16_t device, unsigned memtype,
                  unsigned flags, uint64_t addr, uint64_t size, uint64_t obj, uint32_t expect);
/*
 * States why the next event is emitted unmatched, for the ground truth's causes: when it goes
 * out address-only (the legacy client: no object id) as an unmatched free (excess, unknown or
 * double free) or a duplicate_alloc, it counts into truth->cause_count[cause] (or
 * cause_allocs), and into cause_ambiguous[cause] too when ambiguous (the stream itself cannot
 * tell it from another cause). Events with an object id (the identity client) have no cause:
 * the statement is dropped. Applies to the next ALLOC or FREE only; an unmatched address-only
 * event without a statement counts in truth->cause_unstated.
 */
void ttm__sim_because(ttm__sim *S, ttm_cause cause, bool ambiguous);
/* A free of a buffer already released, with its cause stated (ttm__sim_because()): returns
 * its class, X(DOUBLE_FREE) for the identity client (its object id tells), X(EXCESS_FREE) for
 * the legacy one (an address allocated before). */
uint32_t ttm__sim_free_again(ttm__sim *S, ttm_cause cause, bool ambiguous);
/* ttm__sim_free_again() of a double release: ambiguous, since an address-only stream cannot
 * tell it from the frees of a MeshBuffer on one device (docs/SIMULATOR.md). */
uint32_t ttm__sim_second_free(ttm__sim *S);
/* The class of an address-only free (memtype ANY, no object) that matches no live record:
 * X(EXCESS_FREE) when any space of (device, addr) was ever allocated, else X(UNKNOWN_FREE). */
uint32_t ttm__sim_legacy_stray(const ttm__sim *S, uint16_t device, uint64_t addr);

/* The record at index i; valid until the next record is created. */
ttm__sim_rec *ttm__sim_rec_at(ttm__sim *S, uint32_t i);
/* True when record i is live in the tracker. */
bool ttm__sim_live(const ttm__sim *S, uint32_t i);

/* ---- call sites (sites.c) ------------------------------------------------------------------ */

/*
 * With a stacks table, every ALLOC and FREE carries a stack of TEXT frames, innermost first:
 *   1. the buffer call: "tt::tt_metal::Buffer::allocate_impl" or "...::deallocate_impl"
 *      (module libtt_metal.so, file tt_metal/impl/buffers/buffer.cpp);
 *   2. inside the MeshBuffer helpers, the mesh layer ("...distributed::MeshBuffer::create",
 *      "... (per-device view)", "...::deallocate", "... (per-device buffer)");
 *   3. the site's frames: the code path the scenario names, '|'-separated, innermost first
 *      ("tt::tt_metal::ProgramCache::clear|ttnn::close_device");
 *   4. the scenario's own function (__func__) with its source file;
 * and the innermost scope's name (a ttnn op, as the runtime's op hooks would push it). Without
 * a table, stack and scope stay 0 and nothing is interned.
 */
/* Sites more than one scenario uses */
#define TTM__SIM_SITE_DEALLOC    "ttnn::deallocate|ttnn::Tensor::deallocate"
#define TTM__SIM_SITE_TENSOR(op) "ttnn::allocate_tensor_on_device|" op
#define TTM__SIM_SITE_PROG_ALLOC                                                                   \
    "tt::tt_metal::detail::ProgramImpl::allocate_kernel_bin_buf_on_device|"                        \
    "tt::tt_metal::EnqueueProgram"
#define TTM__SIM_SITE_PROG_FREE                                                                    \
    "tt::tt_metal::detail::ProgramImpl::deallocate_kernel_buffers|"                                \
    "tt::tt_metal::detail::ProgramImpl::~ProgramImpl"
/* the program buffer pool's own free of a buffer its program already freed */
#define TTM__SIM_SITE_POOL_FREE                                                                    \
    "tt::tt_metal::ProgramBufferPool::release|tt::tt_metal::ProgramCache::clear"
#define TTM__SIM_SITE_OPEN                                                                         \
    "tt::tt_metal::Device::initialize_allocator|tt::tt_metal::distributed::MeshDevice::create"
#define TTM__SIM_SITE_CLOSE                                                                        \
    "tt::tt_metal::Device::close|tt::tt_metal::distributed::MeshDevice::close"

/* Sets the site of the events that follow; path is a string constant (kept by pointer). */
void ttm__sim_site(ttm__sim *S, const char *path, const char *func, const char *file);
#define TTM__SIM_AT(S, path) ttm__sim_site((S), (path), __func__, TTM__SIM_FILE)
/* Sets the scope of the events that follow (a string constant; NULL = none). */
void ttm__sim_scope(ttm__sim *S, const char *name);
/* Sets the mesh layer frame (a string constant; NULL outside the MeshBuffer helpers). */
void ttm__sim_layer(ttm__sim *S, const char *frame);
/* Fills ev->stack and ev->scope for an ALLOC or FREE from the site, layer and scope (both 0
 * without a table, or when the table is full). */
void ttm__sim_context(ttm__sim *S, ttm_event *ev);

/* ---- address pools, lists ------------------------------------------------------------------ */

/* A pool of nslots addresses base + k * stride, owned by S. */
ttm__sim_pool *ttm__sim_pool_new(ttm__sim *S, uint64_t base, uint64_t stride, uint32_t nslots);
/* A free address of the pool, at random; the pool must not be full. */
uint64_t ttm__sim_pool_take(ttm__sim *S, ttm__sim_pool *p);
/* Returns an address taken from the pool. */
void ttm__sim_pool_give(ttm__sim_pool *p, uint64_t addr);

void ttm__sim_list_push(ttm__sim_list *l, uint32_t x);
/* Removes and returns an element of a non-empty list, at random. */
uint32_t ttm__sim_list_take(ttm__sim *S, ttm__sim_list *l);
/* Frees the list's storage; the list becomes empty. */
void ttm__sim_list_free(ttm__sim_list *l);

/* ---- mesh buffers -------------------------------------------------------------------------- */

/* Allocates a MeshBuffer of size bytes per device on devices first..first+ndev-1 at addr, as
 * the client reports it (identity: an owning ALLOC of the backing object on every device, then
 * a VIEW ALLOC per device; legacy: the backing ALLOC on the first device only). Nothing may be
 * live at those keys. */
void ttm__sim_mesh_alloc(ttm__sim *S, ttm__sim_mesh *m, uint32_t pid, uint16_t first, uint16_t ndev,
                         unsigned memtype, uint64_t addr, uint64_t size);
/* Frees a MeshBuffer: every per-device buffer and the backing buffer, in one of three orders
 * taken in turn (backing first, per-device buffers first, shuffled). Identity: a view freed
 * after its device's backing is view_after_owner, before it free_view. Legacy: on the first
 * device the earlier of the two frees is free_ok and the later excess_free; on the others each
 * free is an excess or unknown free (ttm__sim_legacy_stray()). */
void ttm__sim_mesh_free(ttm__sim *S, ttm__sim_mesh *m);

/* A MeshBuffer's frees one at a time (ttm__sim_mesh_free() in steps), so that other processes'
 * events can come between them: begin picks the order, each step emits the next free and
 * returns false when there is none left. m must stay valid until then. */
typedef struct ttm__sim_mesh_freeing {
    ttm__sim_mesh *m;
    uint32_t ops[2 * TTM__SIM_MAX_DEVICES];
    size_t n, k;
    bool released[TTM__SIM_MAX_DEVICES];
} ttm__sim_mesh_freeing;

void ttm__sim_mesh_free_begin(ttm__sim *S, ttm__sim_mesh *m, ttm__sim_mesh_freeing *f);
bool ttm__sim_mesh_free_step(ttm__sim *S, ttm__sim_mesh_freeing *f);

/* ---- program buffers (scenarios.c) --------------------------------------------------------- */

/* How a program's buffer is released (TT-Metal's program and its buffer pool both free it). */
enum {
    TTM__SIM_PROG_TWICE,  /* freed by the program, then again by the pool: a double release */
    TTM__SIM_PROG_CACHED, /* a cached program's buffer re-reported (duplicate_alloc), freed
                           * twice to no reference, then once more by the pool */
    TTM__SIM_PROG_ONCE,   /* freed once */
    TTM__SIM_PROG_STALE,  /* freed, its address handed to a new program (a size from sizes),
                           * then the pool's stale free and the new program's own */
    TTM__SIM_PROG__COUNT
};

/* Releases live program buffer record r of pid by path (above), with the call sites of the
 * program's and the pool's frees under the caller's function. */
void ttm__sim_program_release(ttm__sim *S, uint32_t pid, uint32_t r, unsigned path,
                              const uint64_t *sizes, size_t nsizes);

/* A DRAM program buffer of size bytes allocated at (device, addr) (the allocation's site is the
 * caller's, set before), freed by its program and once more by the program cache: the extra
 * free's cause is stated (not ambiguous: an address freed so every step is a storm). */
void ttm__sim_program_freed_again(ttm__sim *S, uint32_t pid, uint16_t device, uint64_t addr,
                                  uint64_t size, ttm_cause cause);

/* ---- scenarios ----------------------------------------------------------------------------- */

/* The scenario table: X(identifier, name, summary). */
#define TTM__SIM_SCENARIO_MAP(X)                                                                   \
    X(mesh2, "mesh2",                                                                              \
      "2-device mesh (N300): 32 MiB MeshBuffers as 16 MiB per device, varied free orders")         \
    X(mesh8, "mesh8",                                                                              \
      "8-device mesh (T3K): 32 MiB MeshBuffers as 4 MiB per device, varied free orders")           \
    X(mesh32, "mesh32",                                                                            \
      "32-device mesh (Galaxy): 32 MiB MeshBuffers as 1 MiB per device, varied free orders")       \
    X(program_pool, "program-pool",                                                                \
      "program buffers freed twice, cached ones re-reported, a second free after reuse")           \
    X(pre_tracking, "pre-tracking",                                                                \
      "buffers allocated before tracking began, freed while tracked (unknown frees)")              \
    X(reuse, "reuse",                                                                              \
      "one address reused at 512 B, 8 KiB and 256 KiB; size mismatches; a missed free")            \
    X(leaks, "leaks", "processes that exit holding DRAM, L1, L1_SMALL, SYSTEM and mesh buffers")   \
    X(multi_process, "multi-process",                                                              \
      "three processes on two devices: a foreign free, a cross-process overlap, leaks")            \
    X(cb_kernel, "cb-kernel",                                                                      \
      "program launches with circular buffers and kernel code in L1, persistent kernels")          \
    X(trace, "trace", "trace regions of 32-256 MiB captured, replayed and released")               \
    X(ambiguous, "ambiguous",                                                                      \
      "a DRAM and an L1 buffer at one address: typeless frees are ambiguous")                      \
    X(invalid, "invalid", "malformed events among valid ones: bad memtypes, flags and kinds")      \
    X(llama, "llama",                                                                              \
      "llama on an 8-device mesh: ~100k events, weights, KV cache, traces, 1,100 decode steps")   \
    X(mix2, "mix2",                                                                                \
      "every cause of unmatched frees on a 2-device mesh: four processes, addresses reused")       \
    X(mix8, "mix8",                                                                                \
      "every cause of unmatched frees on an 8-device mesh and a 4-device sub-mesh, 4 processes")   \
    X(mix32, "mix32",                                                                              \
      "every cause of unmatched frees on a 32-device mesh and a 16-device sub-mesh, 4 processes")

/* Each scenario emits its whole run into S (DEVICE_INFO first, every process ending with
 * PROC_EXIT). Defined in scenarios.c, llama.c and mix.c. */
#define TTM__SIM_DECLARE(id, name, summary) void ttm__sim_scenario_##id(ttm__sim *S);
TTM__SIM_SCENARIO_MAP(TTM__SIM_DECLARE)
#undef TTM__SIM_DECLARE

#endif /* TTM_SIM_SIM_INTERNAL_H */
