/*
 * zlibfmt.c - a bare zlib stream (RFC 1950), as joblib writes with
 * compress=('zlib', n) or compress=n: inflated with the same bounded
 * source as ZIP members, and the result scanned as the layer "<zlib>".
 */
#include <string.h>

#include <zlib.h>

#include "formats/format.h"
#include "formats/zip/zip.h"

static unsigned
zlib_probe(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    if (n < 2)
        return 0;
    /* CM 8 (deflate), window <= 32K, FDICT clear, check bits. */
    if ((h[0] & 0x0f) != 8 || (h[0] >> 4) > 7 || (h[1] & 0x20) ||
        ((h[0] << 8) | h[1]) % 31 != 0)
        return 0;
    /* Two header bytes match one input in 31 (protocol 0 pickles that
       start with "(S" do): the head must also inflate without error. */
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15) != Z_OK)
        return 0;
    uint8_t out[4096];
    zs.next_in = (Bytef *)(uintptr_t)h;
    zs.avail_in = (uInt)n;
    int rc = Z_OK;
    uLong produced = 0;
    while (rc == Z_OK && zs.avail_in > 0) {
        zs.next_out = out;
        zs.avail_out = sizeof(out);
        rc = inflate(&zs, Z_NO_FLUSH);
        produced += sizeof(out) - zs.avail_out;
        if (rc == Z_BUF_ERROR && zs.avail_out != 0)
            break;
        if (rc == Z_BUF_ERROR)
            rc = Z_OK;
    }
    inflateEnd(&zs);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        return 0;
    return produced > 0 || rc == Z_STREAM_END ? 16 : 0;
}

static enum mg_status
zlib_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_inflate *z = NULL;
    enum mg_status st =
        mg_inflate_new(ctx, in, 0, UINT64_MAX, 15, UINT64_MAX, &z);
    if (st != MG_OK)
        return st == MG_E_NOMEM
                   ? st
                   : mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    struct mg_input member;
    mg_inflate_input(z, &member);
    st = mg_scan_input(ctx, &member, "<zlib>");
    const char *why = NULL;
    if (st == MG_OK && mg_inflate_failed(z, &why))
        st = mg_ctx_incomplete(ctx, NULL, -1, why);
    mg_inflate_free(z);
    return st;
}

const struct mg_format mg_format_zlib = {"zlib", zlib_probe, zlib_scan};
