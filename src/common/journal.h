/*
 * journal.h — the run journal: a versioned binary file of everything the daemon learned during
 * a run (classified events, device descriptions, process start and exit, marks, call-site
 * tables), written in self-contained zstd-compressed blocks with a CRC-32C each, so that a file
 * cut at any byte or with a damaged block is still read up to (and past) the damage.
 *
 * The byte layout is documented in docs/JOURNAL.md. This is library code for ttmemd and the CLI;
 * libttmem does not link it.
 */
#ifndef TTM_COMMON_JOURNAL_H
#define TTM_COMMON_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTM_JOURNAL_VERSION 1
#define TTM_JOURNAL_HOST_MAX 64       /* bytes of the host name field, NUL included */
#define TTM_JOURNAL_BLOCK_MAX (64u << 20) /* largest block payload a reader accepts */

/* One event as the daemon classified it. */
typedef struct ttm_journal_event {
    uint8_t kind;       /* ttm_event_kind: ALLOC or FREE */
    uint8_t memtype;    /* ttm_memtype, TTM_MEM_ANY allowed */
    uint16_t device;
    uint16_t flags;     /* the event's TTM_FLAG_* (TTM_FLAG_VIEW) */
    uint32_t classes;   /* the class mask the registry gave the event */
    uint32_t pid;
    uint32_t stack;     /* registry stack id, 0 = none */
    uint32_t scope;     /* registry scope id, 0 = none */
    uint64_t ts;        /* monotonic nanoseconds */
    uint64_t addr;
    uint64_t size;
    uint64_t obj;
} ttm_journal_event;

typedef struct ttm_journal_device {
    uint16_t device;
    uint32_t arch; /* ttm_arch */
    uint32_t worker_cores, l1_per_core, dram_channels;
    uint64_t dram_capacity, l1_capacity;
    uint64_t ts;
} ttm_journal_device;

/* What a process record says. START: the process is known (PROC_START applied); EXIT: it ended
 * (the registry's process exit; status as waitpid's, or -1 unknown); FORGET: the daemon dropped
 * it (ttm_registry_process_forget: its records and statistics are gone). */
enum { TTM_JOURNAL_PROC_START = 0, TTM_JOURNAL_PROC_EXIT = 1, TTM_JOURNAL_PROC_FORGET = 2 };
/* The status of a START or EXIT record that stands for a PROC_START / PROC_EXIT *event* the
 * registry applied (ttm_jtap_event: counted among its events); a replay applies such a record as
 * that event. Any other START record only names the process, any other EXIT record is a whole
 * ttm_registry_process_exit() (status: waitpid's, or -1 unknown). */
#define TTM_JOURNAL_STATUS_EVENT (-2)

typedef struct ttm_journal_proc {
    uint8_t state;       /* TTM_JOURNAL_PROC_* */
    uint32_t pid;
    int32_t status;
    uint64_t ts;
    const char *name;    /* NUL-terminated, may be "" */
    const char *cmdline; /* arguments separated by NUL bytes */
    size_t cmdline_len;
} ttm_journal_proc;

typedef struct ttm_journal_mark {
    uint32_t pid;
    uint64_t ts;
    const char *name; /* NUL-terminated */
} ttm_journal_mark;

/* An opaque chunk. The kinds (docs/JOURNAL.md says what each holds and when it is written):
 *   STACKS  the bytes of ttm_stacks_save_since(): what the call-site table gained since the
 *           previous STACKS chunk of the file (the first one: since the table was empty, or
 *           since the STATE chunk). Written before the first event that uses a new id.
 *   DAEMON  a snapshot frame (ttm_report_encode) with the sections DAEMON, PROCS, LEGACY and
 *           SERVICE: the daemon's own records as of ts (each process's transport counters),
 *           written when the daemon answers a full report and when the journal closes. A
 *           report made from the journal takes them from the last one.
 *   STATE   the bytes of ttm_registry_save(): the registry as it was when this file began
 *           (a daemon that restored its state, a file opened by rotation). Replaying a file
 *           starts from it.
 *   CONFIG  the registry's configuration (core/jtap.h, ttm_jtap_config_encode), first in
 *           every file.
 *   RUN     what the run was, as its report's title/source (UTF-8 text, no NUL; e.g. "record
 *           ./app --x", given to ttmemd by `ttmem record`), written after CONFIG.
 *   MADE    how the recorded command ran (ttm_journal_made_encode: its arguments, exit status,
 *           start and end wall time, host, ttmem version), appended by `ttmem record` after its
 *           private ttmemd closed the file (ttm_journal_append_chunk): the last block. */
#define TTM_JOURNAL_CHUNK_STACKS 1u
#define TTM_JOURNAL_CHUNK_DAEMON 2u
#define TTM_JOURNAL_CHUNK_STATE 3u
#define TTM_JOURNAL_CHUNK_CONFIG 4u
#define TTM_JOURNAL_CHUNK_RUN 5u
#define TTM_JOURNAL_CHUNK_MADE 6u
typedef struct ttm_journal_chunk {
    uint32_t kind;
    uint64_t ts;
    const uint8_t *data;
    size_t len;
} ttm_journal_chunk;

/* ---- writer -------------------------------------------------------------------------------- */

typedef struct ttm_journal_opts {
    size_t block_size; /* uncompressed bytes per block before it is flushed; 0 = 1 MiB */
    uint64_t size_cap; /* bytes the file may reach; 0 = no cap */
    const char *host;  /* NULL = gethostname() */
    uint64_t created_ns; /* the header's creation time (CLOCK_REALTIME ns); 0 = now */
    uint64_t run_id;   /* the run this file belongs to (one daemon's life); 0 = random */
    uint32_t seq;      /* the file's place in its run: 0 first, +1 per rotation */
    unsigned threads;  /* 0: blocks are compressed and written by the caller; 1: by a thread
                        * of the writer's own, fed filled blocks through a queue of 3 (the
                        * caller only encodes records, and waits only when 3 blocks wait).
                        * Errors stay sticky; the caller sees the thread's at its next call;
                        * flush and close wait for every block handed over. */
} ttm_journal_opts;

typedef struct ttm_journal_writer ttm_journal_writer;

/* Creates (truncates) path, or takes fd (path NULL; the writer closes it), and writes the file
 * header. Returns 0 and *out, TTM_EINVAL, TTM_ENOMEM, TTM_EIO (errno kept: see _errno) or
 * TTM_ELIMIT (the cap cannot hold the header). */
int ttm_journal_writer_open(const char *path, int fd, const ttm_journal_opts *opts,
                            ttm_journal_writer **out);
/* Append one record to the current block (flushed once it reaches the block size). Return 0,
 * TTM_EINVAL (name/chunk too long), TTM_ENOMEM, TTM_EIO or TTM_ELIMIT. A failure is sticky:
 * every later call returns it and the file ends at its last complete block. */
int ttm_journal_writer_event(ttm_journal_writer *w, const ttm_journal_event *e);
int ttm_journal_writer_device(ttm_journal_writer *w, const ttm_journal_device *d);
int ttm_journal_writer_proc(ttm_journal_writer *w, const ttm_journal_proc *p);
int ttm_journal_writer_mark(ttm_journal_writer *w, const ttm_journal_mark *m);
int ttm_journal_writer_chunk(ttm_journal_writer *w, const ttm_journal_chunk *c);
/* Compresses and writes the current block (nothing when it is empty). Same returns. */
int ttm_journal_writer_flush(ttm_journal_writer *w);
/* Flushes, closes and frees (NULL is fine). Returns the flush's or close's error, or 0. */
int ttm_journal_writer_close(ttm_journal_writer *w);
/* Bytes written to the file so far (complete blocks and header). */
uint64_t ttm_journal_writer_bytes(const ttm_journal_writer *w);
/* errno of the last TTM_EIO (ENOSPC, EIO, EFBIG, ...), 0 when none. */
int ttm_journal_writer_errno(const ttm_journal_writer *w);

/* ---- reader -------------------------------------------------------------------------------- */

typedef struct ttm_journal_header {
    uint32_t version;
    uint64_t created_ns; /* CLOCK_REALTIME nanoseconds */
    char host[TTM_JOURNAL_HOST_MAX];
    uint64_t run_id;     /* files of one run share it */
    uint32_t seq;        /* 0 first, +1 per rotation */
} ttm_journal_header;

/* Callbacks; any may be NULL. Pointers in the records are valid during the call only. A nonzero
 * return stops the reading and is returned by ttm_journal_read_block. */
typedef struct ttm_journal_sink {
    void *ctx;
    int (*event)(void *ctx, const ttm_journal_event *e);
    int (*device)(void *ctx, const ttm_journal_device *d);
    int (*proc)(void *ctx, const ttm_journal_proc *p);
    int (*mark)(void *ctx, const ttm_journal_mark *m);
    int (*chunk)(void *ctx, const ttm_journal_chunk *c);
    /* A damaged block at file offset off, skipped; what names the first check that failed. */
    void (*damage)(void *ctx, uint64_t off, const char *what);
} ttm_journal_sink;

typedef struct ttm_journal_stats {
    uint64_t blocks, records;  /* delivered */
    uint64_t bad_blocks;       /* damaged, skipped */
    uint64_t skipped_bytes;    /* bytes not delivered: damaged blocks, garbage, a cut tail */
    bool truncated;            /* the file ends inside a block (killed writer, full disk) */
} ttm_journal_stats;

typedef struct ttm_journal_reader ttm_journal_reader;

/* Opens path, or reads fd (path NULL; must be seekable; the reader closes it), and checks the
 * file header. Returns 0, TTM_ENOENT, TTM_EIO, TTM_EPROTO (not a journal), TTM_EVERSION or
 * TTM_ENOMEM. Memory stays bounded by one block. */
int ttm_journal_reader_open(const char *path, int fd, ttm_journal_reader **out);
const ttm_journal_header *ttm_journal_reader_header(const ttm_journal_reader *r);
/* Delivers the next good block's records to sink. Returns 1 (a block was delivered), 0 (end of
 * file), a sink's nonzero return, TTM_EIO or TTM_ENOMEM. Damaged blocks are skipped on the way
 * (counted, reported to sink->damage). */
int ttm_journal_read_block(ttm_journal_reader *r, const ttm_journal_sink *sink);
/* Every remaining block; returns 0 at end, or what read_block returned on failure. */
int ttm_journal_read_all(ttm_journal_reader *r, const ttm_journal_sink *sink);
const ttm_journal_stats *ttm_journal_reader_stats(const ttm_journal_reader *r);
/* One line saying what was lost ("" when nothing) into buf. */
void ttm_journal_reader_summary(const ttm_journal_reader *r, char *buf, size_t n);
void ttm_journal_reader_close(ttm_journal_reader *r);

/* Whether path names one journal file (it ends in ".ttmem"), not a directory of rotated ones
 * (`ttmemd --journal`, `ttmem record -o`). */
bool ttm_journal_is_file_name(const char *path);

/* ---- appending to a closed journal -------------------------------------------------------- */

/* What an append found and did. */
typedef struct ttm_journal_append_info {
    uint64_t cut_bytes; /* bytes of a torn tail (a partial last block) cut off before writing */
    uint64_t bytes;     /* the file's size after the append (or where it was left on failure) */
    int sys_errno;      /* errno of a TTM_EIO (EACCES, EROFS, ENOSPC, EFBIG, ...), else 0 */
} ttm_journal_append_info;

/* Appends one block holding chunk c to the closed journal at path: checks the file header (not
 * a journal: TTM_EPROTO; another format version: TTM_EVERSION), finds the end of the last
 * complete block by walking the block headers (a block whose header checks but whose payload
 * the file does not hold whole is a torn tail, cut off as a reader would stop there; bytes
 * that are no block are searched past for the next block magic as the reader does), and writes
 * the block there. Returns 0, TTM_ENOENT, TTM_EIO (info->sys_errno), TTM_EPROTO, TTM_EVERSION,
 * TTM_EINVAL or TTM_ENOMEM. A failed write cuts the file back to where the block began, so the
 * journal reads as it did (less a torn tail). info may be NULL. No writer may have the file
 * open. */
int ttm_journal_append_chunk(const char *path, const ttm_journal_chunk *c,
                             ttm_journal_append_info *info);

/* ---- the MADE chunk: how the recorded command ran -------------------------------------------- */

enum {
    TTM_JOURNAL_MADE_EXITED = 0,   /* code is the exit code */
    TTM_JOURNAL_MADE_SIGNALED = 1, /* code is the signal that ended it */
};
#define TTM_JOURNAL_MADE_VERSION 1u
#define TTM_JOURNAL_MADE_ARGS_MAX (1u << 20) /* bytes of the arguments, NULs included */
#define TTM_JOURNAL_MADE_TEXT_MAX 256        /* bytes of host and version, NUL included */

/* The decoded chunk. args holds argc NUL-terminated strings back to back (args_len bytes);
 * owned by the struct when it was decoded (ttm_journal_made_clear frees it). */
typedef struct ttm_journal_made {
    uint64_t start_ns, end_ns; /* CLOCK_REALTIME nanoseconds: the command started, ended */
    uint64_t run_ns;           /* how long it ran, on CLOCK_MONOTONIC */
    uint8_t how;               /* TTM_JOURNAL_MADE_EXITED or _SIGNALED */
    bool core_dumped;
    uint32_t code;             /* the exit code (0..255), or the signal number */
    char host[TTM_JOURNAL_MADE_TEXT_MAX];    /* where it ran */
    char version[TTM_JOURNAL_MADE_TEXT_MAX]; /* the ttmem that recorded it */
    uint32_t argc;
    char *args;
    size_t args_len;
} ttm_journal_made;

struct ttm_bytes;
/* The chunk's bytes for m (appended to out). Returns 0, TTM_EINVAL (args that are not argc
 * NUL-terminated strings, too long) or TTM_ENOMEM. */
int ttm_journal_made_encode(const ttm_journal_made *m, struct ttm_bytes *out);
/* Decodes a MADE chunk's bytes into *out (its args allocated). Returns 0, TTM_EPROTO (bytes
 * that do not check; *out is then cleared), TTM_EVERSION or TTM_ENOMEM. Bytes after the fields
 * this version knows are ignored (later versions add fields at the end). */
int ttm_journal_made_decode(const uint8_t *p, size_t n, ttm_journal_made *out);
/* Frees what decode allocated and zeroes m (NULL is fine). */
void ttm_journal_made_clear(ttm_journal_made *m);
/* The shell's exit status of m: code when it exited, 128 + signal when a signal ended it. */
int ttm_journal_made_status(const ttm_journal_made *m);

/* ---- between the registry's events and the journal's records ------------------------------- */

struct ttm_event;

/* The journal record of an ALLOC or FREE event ev applied for pid and given class mask. */
void ttm_journal_event_from(ttm_journal_event *out, uint32_t pid, const struct ttm_event *ev,
                            uint32_t mask);
/* The ALLOC or FREE event a record holds (tid, seq zero), to apply again for e->pid. */
void ttm_journal_event_to(const ttm_journal_event *e, struct ttm_event *out);


#endif /* TTM_COMMON_JOURNAL_H */
