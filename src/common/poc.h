/*
 * poc.h — the allocation-server prototype's socket protocol (docs/COMPAT.md, "The wire format"):
 * raw packed little-endian AllocMessage structs of 72 (v1), 112 (v2) or 144 (v3) bytes, with
 * no header, length, magic or version.
 *
 * One table (TTM_POC_TYPE_MAP) lists the message types: the decoder, the encoder, the debug
 * dump and docs/COMPAT.md all follow it. The decoder never trusts the bytes: it checks the size,
 * the type, and the zero pads, and returns TTM_EPROTO with a reason otherwise.
 */
#ifndef TTM_COMMON_POC_H
#define TTM_COMMON_POC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TTM_POC_V1_SIZE 72u
#define TTM_POC_V2_SIZE 112u
#define TTM_POC_V3_SIZE 144u
#define TTM_POC_MAX_SIZE TTM_POC_V3_SIZE
/* The first 40 bytes of every version: type, pads, device, size, buffer type, pid, buffer id,
 * timestamp. Enough of them tell whether a message can start here (the stream has no magic). */
#define TTM_POC_HEADER_SIZE 40u
#define TTM_POC_DEFAULT_SOCKET "/tmp/tt_allocation_server.sock"

/* X(name, value, since_version, reply_type (0 = none)) */
#define TTM_POC_TYPE_MAP(X)                                                                      \
    X(ALLOC, 1, 1, 0)                                                                            \
    X(FREE, 2, 1, 0)                                                                             \
    X(QUERY, 3, 1, 4)                                                                            \
    X(RESPONSE, 4, 1, 0)                                                                         \
    X(DUMP_REMAINING, 5, 1, 0)                                                                   \
    X(DEVICE_INFO_QUERY, 6, 2, 7)                                                                \
    X(DEVICE_INFO_RESPONSE, 7, 2, 0)                                                             \
    X(CB_ALLOC, 8, 3, 0)                                                                         \
    X(CB_FREE, 9, 3, 0)                                                                          \
    X(KERNEL_LOAD, 10, 3, 0)                                                                     \
    X(KERNEL_UNLOAD, 11, 3, 0)                                                                   \
    X(DUMP_KERNELS, 12, 3, 0)

typedef enum ttm_poc_type {
#define TTM__POC_ENUM(name, value, since, reply) TTM_POC_##name = (value),
    TTM_POC_TYPE_MAP(TTM__POC_ENUM)
#undef TTM__POC_ENUM
} ttm_poc_type;

/* The types are 1..12 without a gap: the first and last rows of TTM_POC_TYPE_MAP. */
#define TTM_POC_TYPE_MIN 1
#define TTM_POC_TYPE_MAX 12
#define TTM__POC_COUNT(name, value, since, reply) +1
_Static_assert(TTM_POC_TYPE_MIN == TTM_POC_ALLOC && TTM_POC_TYPE_MAX == TTM_POC_DUMP_KERNELS &&
                   TTM_POC_TYPE_MAX - TTM_POC_TYPE_MIN + 1 == 0 TTM_POC_TYPE_MAP(TTM__POC_COUNT),
               "TTM_POC_TYPE_MIN..MAX are the table's types");
#undef TTM__POC_COUNT

/* One message of any version, decoded. Fields a version does not carry are zero. */
typedef struct ttm_poc_msg {
    uint8_t type;
    int32_t device_id;
    uint64_t size;
    uint8_t buffer_type;
    int32_t process_id;
    uint64_t buffer_id;
    uint64_t timestamp;
    uint64_t dram_allocated, l1_allocated, l1_small_allocated, trace_allocated;
    uint64_t cb_allocated, kernel_allocated;             /* v3 */
    uint64_t total_dram_size, total_l1_size;             /* v2, v3 */
    uint32_t arch_type, num_dram_channels, dram_size_per_channel, l1_size_per_core;
    uint32_t is_available, num_devices;                  /* v2, v3 */
    uint32_t ringbuffer_total_size, ringbuffer_used_bytes, ringbuffer_num_programs; /* v3 */
} ttm_poc_msg;

/* "ALLOC"; "?" for a type outside the table. */
const char *ttm__poc_type_name(unsigned type);
/* The reply type a request gets (RESPONSE, DEVICE_INFO_RESPONSE), 0 when it gets none. */
unsigned ttm__poc_reply_type(unsigned type);
/* The protocol version that introduced a type (1..3), 0 for an unknown type. */
unsigned ttm__poc_type_since(unsigned type);
/* True for 72, 112 and 144. */
bool ttm__poc_size_valid(size_t size);

/* Decodes one message of `size` bytes (72, 112 or 144). Returns 0, or TTM_EPROTO with a
 * one-line reason in why (may be NULL): bad size, type out of 1..12, non-zero pad. */
int ttm__poc_decode(const uint8_t *buf, size_t size, ttm_poc_msg *out, const char **why);
/* Decodes the 40-byte prefix every version shares (type, device, size, buffer type, pid,
 * buffer id, timestamp) of a message whose header ttm__poc_header_plausible() accepted; every
 * other field of *out is zero. What a server needs of a request: no request carries meaning past
 * the prefix (the rest of the struct is the replies' room), so ttmemd decodes only that. */
void ttm__poc_decode_prefix(const uint8_t *buf, ttm_poc_msg *out);
/* Encodes m as a message of `size` bytes into buf (size bytes). Returns 0 or TTM_EINVAL. */
int ttm__poc_encode(const ttm_poc_msg *m, size_t size, uint8_t *buf);

/* True when the bytes at buf (at least TTM_POC_HEADER_SIZE) can start a message: type 1..12,
 * zero pads, device -1..65535. */
bool ttm__poc_header_plausible(const uint8_t *buf, size_t avail);

/* Works out a connection's message size from the first bytes it sent (avail of them).
 * Returns 72/112/144, 0 when more bytes are needed to tell, or -1 when no size fits (garbage).
 * Rules: the size whose next message also starts plausibly wins, smallest first; failing that,
 * a buffer that holds exactly one message's worth is taken as that message. The second rule is
 * a guess: the first 72 bytes of a 112- or 144-byte message still arriving look like one v1
 * message, so a caller should use it only once the stream has paused or closed (ttmemd waits
 * for a quiet tick). */
int ttm__poc_detect_size(const uint8_t *buf, size_t avail);

/* One-line description of a message for debug logs ("ALLOC dev=0 type=DRAM size=16384
 * id=0x1000"), into out (len bytes). */
void ttm__poc_describe(const ttm_poc_msg *m, char *out, size_t len);

#endif /* TTM_COMMON_POC_H */
