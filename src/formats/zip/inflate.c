/*
 * inflate.c - a bounded inflating pull source over zlib. Every byte it
 * produces is charged to the file's budget (max-total-bytes), counted
 * against the member's (max-member-bytes) and compared with what it
 * consumed (max-ratio); when a limit stops it, it reports the limit once
 * and then fails with MG_E_LIMIT, so that the consumer never mistakes a
 * cut for the end of the data.
 */
#include <string.h>

#include <zlib.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/zip/zip.h"
#include "io/stream.h"

/* Ratios are judged once this much has been produced. */
#define RATIO_GRACE (1u << 20)

struct mg_inflate {
    struct mg_ctx *ctx;
    struct mg_input_cursor cur;
    struct mg_stream src; /* compressed bytes */
    z_stream zs;
    int inited;
    uint64_t in, out, expect;
    uint32_t crc;
    int done, limited, failed;
    const char *why;
};

enum mg_status
mg_inflate_new(struct mg_ctx *ctx,
               struct mg_input *src,
               uint64_t src_off,
               uint64_t src_len,
               int window_bits,
               uint64_t expect_size,
               struct mg_inflate **out)
{
    struct mg_inflate *z = mg_calloc(1, sizeof(*z));
    if (z == NULL)
        return MG_E_NOMEM;
    z->ctx = ctx;
    z->expect = expect_size;
    z->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    enum mg_status st =
        mg_input_stream(src, src_off, src_len, &z->cur, &z->src);
    if (st != MG_OK) {
        mg_free(z);
        return st;
    }
    if (inflateInit2(&z->zs, window_bits) != Z_OK) {
        mg_stream_fini(&z->src);
        mg_free(z);
        return MG_E_NOMEM;
    }
    z->inited = 1;
    *out = z;
    return MG_OK;
}

void
mg_inflate_free(struct mg_inflate *z)
{
    if (z == NULL)
        return;
    if (z->inited)
        inflateEnd(&z->zs);
    mg_stream_fini(&z->src);
    mg_free(z);
}

static enum mg_status
limit(struct mg_inflate *z, const char *name)
{
    z->limited = 1;
    enum mg_status st = mg_ctx_incomplete(z->ctx, name, -1, NULL);
    return st != MG_OK ? st : MG_E_LIMIT;
}

static enum mg_status
inflate_pull(void *impl, void *buf, size_t n, size_t *got)
{
    struct mg_inflate *z = impl;
    *got = 0;
    if (z->limited)
        return MG_E_LIMIT;
    if (z->failed)
        return MG_E_MALFORMED;
    if (z->done || n == 0)
        return MG_OK;
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    for (;;) {
        if (z->zs.avail_in == 0) {
            const uint8_t *p;
            size_t k = 0;
            enum mg_status st = mg_stream_avail(&z->src, &p, &k);
            if (st != MG_OK) {
                z->failed = 1;
                z->why = "the compressed data cannot be read";
                return st;
            }
            if (k > (64u << 10))
                k = 64u << 10;
            z->zs.next_in = (Bytef *)(uintptr_t)p;
            z->zs.avail_in = (uInt)k;
            mg_stream_advance(&z->src, k);
            z->in += k;
        }
        int had_input = z->zs.avail_in != 0;
        z->zs.next_out = buf;
        z->zs.avail_out = (uInt)n;
        int rc = inflate(&z->zs, Z_NO_FLUSH);
        size_t produced = n - z->zs.avail_out;
        if (rc == Z_STREAM_END) {
            z->done = 1;
        } else if (rc == Z_BUF_ERROR && !had_input) {
            z->failed = 1;
            z->why = "the compressed data ends before its end marker";
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            z->failed = 1;
            z->why = "the compressed data is corrupt";
        }
        if (produced > 0) {
            z->crc = (uint32_t)crc32(z->crc, buf, (uInt)produced);
            z->out += produced;
            const struct mg_limits *l = z->ctx->lim;
            if (mg_ctx_charge(z->ctx, produced, -1) != MG_OK) {
                z->limited = 1;
                return MG_E_LIMIT;
            }
            if (z->out > l->max_member_bytes)
                return limit(z, "max-member-bytes");
            if (z->out > RATIO_GRACE && z->in > 0 &&
                z->out / z->in >= l->max_ratio)
                return limit(z, "max-ratio");
            *got = produced;
            return MG_OK;
        }
        if (z->done)
            return MG_OK;
        if (z->failed)
            return MG_E_MALFORMED;
    }
}

void
mg_inflate_input(struct mg_inflate *z, struct mg_input *member)
{
    memset(member, 0, sizeof(*member));
    member->size = UINT64_MAX;
    member->pull = inflate_pull;
    member->impl = z;
}

int
mg_inflate_limited(const struct mg_inflate *z)
{
    return z->limited;
}

int
mg_inflate_failed(const struct mg_inflate *z, const char **why)
{
    if (why != NULL)
        *why = z->why;
    return z->failed;
}

uint64_t
mg_inflate_out(const struct mg_inflate *z)
{
    return z->out;
}

uint32_t
mg_inflate_crc(const struct mg_inflate *z)
{
    return z->crc;
}

enum mg_status
mg_inflate_drain(struct mg_inflate *z)
{
    uint8_t buf[16384];
    for (;;) {
        size_t got = 0;
        enum mg_status st = inflate_pull(z, buf, sizeof(buf), &got);
        if (st != MG_OK)
            return st;
        if (got == 0)
            return MG_OK;
    }
}
