/*
 * poc.c — the prototype's AllocMessage: decode, encode, size detection, description.
 */
#include "common/poc.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "ttmem/ttmem.h"

#define TTM__POC_STR(x) #x
#define TTM__POC_XSTR(x) TTM__POC_STR(x) /* "12" for TTM_POC_TYPE_MAX */

static const struct {
    const char *name;
    unsigned since;
    unsigned reply;
} types[TTM_POC_TYPE_MAX + 1] = {
#define TTM__POC_ROW(tname, value, tsince, treply) [value] = {#tname, tsince, treply},
    TTM_POC_TYPE_MAP(TTM__POC_ROW)
#undef TTM__POC_ROW
};

const char *ttm__poc_type_name(unsigned type)
{
    return type >= TTM_POC_TYPE_MIN && type <= TTM_POC_TYPE_MAX ? types[type].name : "?";
}

unsigned ttm__poc_reply_type(unsigned type)
{
    return type >= TTM_POC_TYPE_MIN && type <= TTM_POC_TYPE_MAX ? types[type].reply : 0;
}

unsigned ttm__poc_type_since(unsigned type)
{
    return type >= TTM_POC_TYPE_MIN && type <= TTM_POC_TYPE_MAX ? types[type].since : 0;
}

bool ttm__poc_size_valid(size_t size)
{
    return size == TTM_POC_V1_SIZE || size == TTM_POC_V2_SIZE || size == TTM_POC_V3_SIZE;
}

/* The header's two 3-byte pads (after the type at 0 and the buffer type at 16) are zero: each
 * word's top three bytes, one load each (checked for every message a server reads). */
static bool pads_zero(const uint8_t *buf)
{
    return (ttm__le32(buf) >> 8) == 0 && (ttm__le32(buf + 16) >> 8) == 0;
}

bool ttm__poc_header_plausible(const uint8_t *buf, size_t avail)
{
    if (avail < TTM_POC_HEADER_SIZE)
        return false;
    int32_t dev = (int32_t)ttm__le32(buf + 4);
    return buf[0] >= TTM_POC_TYPE_MIN && buf[0] <= TTM_POC_TYPE_MAX && pads_zero(buf) &&
           dev >= -1 && dev <= 65535;
}

int ttm__poc_detect_size(const uint8_t *buf, size_t avail)
{
    static const unsigned sizes[] = {TTM_POC_V1_SIZE, TTM_POC_V2_SIZE, TTM_POC_V3_SIZE};
    if (avail < TTM_POC_HEADER_SIZE)
        return 0;
    if (!ttm__poc_header_plausible(buf, avail))
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (avail >= sizes[i] + TTM_POC_HEADER_SIZE &&
            ttm__poc_header_plausible(buf + sizes[i], avail - sizes[i]))
            return (int)sizes[i];
    for (size_t i = 0; i < 3; i++)
        if (avail == sizes[i])
            return (int)sizes[i];
    return avail >= TTM_POC_V3_SIZE + TTM_POC_HEADER_SIZE ? -1 : 0;
}

void ttm__poc_decode_prefix(const uint8_t *buf, ttm_poc_msg *out)
{
    memset(out, 0, sizeof *out);
    out->type = buf[0];
    out->device_id = (int32_t)ttm__le32(buf + 4);
    out->size = ttm__le64(buf + 8);
    out->buffer_type = buf[16];
    out->process_id = (int32_t)ttm__le32(buf + 20);
    out->buffer_id = ttm__le64(buf + 24);
    out->timestamp = ttm__le64(buf + 32);
}

int ttm__poc_decode(const uint8_t *buf, size_t size, ttm_poc_msg *out, const char **why)
{
    const char *reason = NULL;
    if (!ttm__poc_size_valid(size))
        reason = "message size is not 72, 112 or 144 bytes";
    else if (buf[0] < TTM_POC_TYPE_MIN || buf[0] > TTM_POC_TYPE_MAX)
        reason = "message type is not 1.." TTM__POC_XSTR(TTM_POC_TYPE_MAX);
    else if (!pads_zero(buf))
        reason = "padding bytes are not zero";
    if (reason != NULL) {
        if (why != NULL)
            *why = reason;
        return TTM_EPROTO;
    }
    ttm__poc_decode_prefix(buf, out);
    out->dram_allocated = ttm__le64(buf + 40);
    out->l1_allocated = ttm__le64(buf + 48);
    out->l1_small_allocated = ttm__le64(buf + 56);
    out->trace_allocated = ttm__le64(buf + 64);
    if (size == TTM_POC_V2_SIZE) {
        out->total_dram_size = ttm__le64(buf + 72);
        out->total_l1_size = ttm__le64(buf + 80);
        out->arch_type = ttm__le32(buf + 88);
        out->num_dram_channels = ttm__le32(buf + 92);
        out->dram_size_per_channel = ttm__le32(buf + 96);
        out->l1_size_per_core = ttm__le32(buf + 100);
        out->is_available = ttm__le32(buf + 104);
        out->num_devices = ttm__le32(buf + 108);
    } else if (size == TTM_POC_V3_SIZE) {
        out->cb_allocated = ttm__le64(buf + 72);
        out->kernel_allocated = ttm__le64(buf + 80);
        out->total_dram_size = ttm__le64(buf + 88);
        out->total_l1_size = ttm__le64(buf + 96);
        out->arch_type = ttm__le32(buf + 104);
        out->num_dram_channels = ttm__le32(buf + 108);
        out->dram_size_per_channel = ttm__le32(buf + 112);
        out->l1_size_per_core = ttm__le32(buf + 116);
        out->is_available = ttm__le32(buf + 120);
        out->num_devices = ttm__le32(buf + 124);
        out->ringbuffer_total_size = ttm__le32(buf + 128);
        out->ringbuffer_used_bytes = ttm__le32(buf + 132);
        out->ringbuffer_num_programs = ttm__le32(buf + 136);
    }
    return TTM_OK;
}

int ttm__poc_encode(const ttm_poc_msg *m, size_t size, uint8_t *buf)
{
    if (!ttm__poc_size_valid(size))
        return TTM_EINVAL;
    memset(buf, 0, size);
    buf[0] = m->type;
    ttm__put_le32(buf + 4, (uint32_t)m->device_id);
    ttm__put_le64(buf + 8, m->size);
    buf[16] = m->buffer_type;
    ttm__put_le32(buf + 20, (uint32_t)m->process_id);
    ttm__put_le64(buf + 24, m->buffer_id);
    ttm__put_le64(buf + 32, m->timestamp);
    ttm__put_le64(buf + 40, m->dram_allocated);
    ttm__put_le64(buf + 48, m->l1_allocated);
    ttm__put_le64(buf + 56, m->l1_small_allocated);
    ttm__put_le64(buf + 64, m->trace_allocated);
    if (size == TTM_POC_V2_SIZE) {
        ttm__put_le64(buf + 72, m->total_dram_size);
        ttm__put_le64(buf + 80, m->total_l1_size);
        ttm__put_le32(buf + 88, m->arch_type);
        ttm__put_le32(buf + 92, m->num_dram_channels);
        ttm__put_le32(buf + 96, m->dram_size_per_channel);
        ttm__put_le32(buf + 100, m->l1_size_per_core);
        ttm__put_le32(buf + 104, m->is_available);
        ttm__put_le32(buf + 108, m->num_devices);
    } else if (size == TTM_POC_V3_SIZE) {
        ttm__put_le64(buf + 72, m->cb_allocated);
        ttm__put_le64(buf + 80, m->kernel_allocated);
        ttm__put_le64(buf + 88, m->total_dram_size);
        ttm__put_le64(buf + 96, m->total_l1_size);
        ttm__put_le32(buf + 104, m->arch_type);
        ttm__put_le32(buf + 108, m->num_dram_channels);
        ttm__put_le32(buf + 112, m->dram_size_per_channel);
        ttm__put_le32(buf + 116, m->l1_size_per_core);
        ttm__put_le32(buf + 120, m->is_available);
        ttm__put_le32(buf + 124, m->num_devices);
        ttm__put_le32(buf + 128, m->ringbuffer_total_size);
        ttm__put_le32(buf + 132, m->ringbuffer_used_bytes);
        ttm__put_le32(buf + 136, m->ringbuffer_num_programs);
    }
    return TTM_OK;
}

void ttm__poc_describe(const ttm_poc_msg *m, char *out, size_t len)
{
    snprintf(out, len,
             "%s dev=%" PRId32 " buffer_type=%u size=%" PRIu64 " id=0x%" PRIx64 " claimed_pid=%" PRId32,
             ttm__poc_type_name(m->type), m->device_id, m->buffer_type, m->size, m->buffer_id,
             m->process_id);
}
