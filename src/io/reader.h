/*
 * reader.h - the bounded reader. Format code never does pointer arithmetic
 * on input: it asks the reader, which checks `n > len - pos` (a test that
 * cannot overflow) and advances only on success.
 */
#ifndef MG_IO_READER_H
#define MG_IO_READER_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

struct mg_reader {
    const uint8_t *base;
    size_t len;
    size_t pos;
};

static inline void
rd_init(struct mg_reader *r, const void *base, size_t len)
{
    r->base = (const uint8_t *)base;
    r->len = len;
    r->pos = 0;
}

static inline size_t
rd_left(const struct mg_reader *r)
{
    return r->len - r->pos;
}

enum mg_status rd_u8(struct mg_reader *r, uint8_t *out);
enum mg_status rd_u16le(struct mg_reader *r, uint16_t *out);
enum mg_status rd_u32le(struct mg_reader *r, uint32_t *out);
enum mg_status rd_u64le(struct mg_reader *r, uint64_t *out);
enum mg_status rd_u16be(struct mg_reader *r, uint16_t *out);
enum mg_status rd_u32be(struct mg_reader *r, uint32_t *out);
enum mg_status rd_u64be(struct mg_reader *r, uint64_t *out);
/** Point *out at the next n bytes and advance. */
enum mg_status rd_bytes(struct mg_reader *r, size_t n, const uint8_t **out);
/** Point *out at the next n bytes without advancing. */
enum mg_status
rd_peek(const struct mg_reader *r, size_t n, const uint8_t **out);
enum mg_status rd_skip(struct mg_reader *r, size_t n);
/** Move to absolute position pos (<= len). */
enum mg_status rd_seek(struct mg_reader *r, size_t pos);
/** A child reader over the next n bytes, which cannot see beyond them. */
enum mg_status rd_sub(struct mg_reader *r, size_t n, struct mg_reader *child);
/**
 * Find the next byte equal to c at or after pos; *out receives the length
 * up to it (excluding c). Does not advance.
 */
enum mg_status
rd_find(const struct mg_reader *r, uint8_t c, size_t max, size_t *out);

/* Decoding helpers for bytes already bounds-checked. */
static inline uint16_t
mg_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t
mg_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t
mg_le64(const uint8_t *p)
{
    return (uint64_t)mg_le32(p) | ((uint64_t)mg_le32(p + 4) << 32);
}
static inline uint16_t
mg_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
mg_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t
mg_be64(const uint8_t *p)
{
    return ((uint64_t)mg_be32(p) << 32) | (uint64_t)mg_be32(p + 4);
}

#endif
