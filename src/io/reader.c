#include "io/reader.h"

#include <string.h>

enum mg_status
rd_bytes(struct mg_reader *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->pos)
        return MG_E_TRUNCATED;
    *out = r->base + r->pos;
    r->pos += n;
    return MG_OK;
}

enum mg_status
rd_peek(const struct mg_reader *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->pos)
        return MG_E_TRUNCATED;
    *out = r->base + r->pos;
    return MG_OK;
}

enum mg_status
rd_skip(struct mg_reader *r, size_t n)
{
    if (n > r->len - r->pos)
        return MG_E_TRUNCATED;
    r->pos += n;
    return MG_OK;
}

enum mg_status
rd_seek(struct mg_reader *r, size_t pos)
{
    if (pos > r->len)
        return MG_E_TRUNCATED;
    r->pos = pos;
    return MG_OK;
}

enum mg_status
rd_sub(struct mg_reader *r, size_t n, struct mg_reader *child)
{
    const uint8_t *p;
    enum mg_status st = rd_bytes(r, n, &p);
    if (st != MG_OK)
        return st;
    rd_init(child, p, n);
    return MG_OK;
}

enum mg_status
rd_find(const struct mg_reader *r, uint8_t c, size_t max, size_t *out)
{
    size_t left = r->len - r->pos;
    int clipped = 0;
    if (max < left) {
        left = max;
        clipped = 1;
    }
    const uint8_t *p = memchr(r->base + r->pos, c, left);
    if (p == NULL)
        return clipped ? MG_E_LIMIT : MG_E_TRUNCATED;
    *out = (size_t)(p - (r->base + r->pos));
    return MG_OK;
}

enum mg_status
rd_u8(struct mg_reader *r, uint8_t *out)
{
    const uint8_t *p;
    enum mg_status st = rd_bytes(r, 1, &p);
    if (st == MG_OK)
        *out = p[0];
    return st;
}

#define RD_INT(fn, type, n, dec)                      \
    enum mg_status fn(struct mg_reader *r, type *out) \
    {                                                 \
        const uint8_t *p;                             \
        enum mg_status st = rd_bytes(r, n, &p);       \
        if (st == MG_OK)                              \
            *out = dec(p);                            \
        return st;                                    \
    }

RD_INT(rd_u16le, uint16_t, 2, mg_le16)
RD_INT(rd_u32le, uint32_t, 4, mg_le32)
RD_INT(rd_u64le, uint64_t, 8, mg_le64)
RD_INT(rd_u16be, uint16_t, 2, mg_be16)
RD_INT(rd_u32be, uint32_t, 4, mg_be32)
RD_INT(rd_u64be, uint64_t, 8, mg_be64)
