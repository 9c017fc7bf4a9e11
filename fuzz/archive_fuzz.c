/* Fuzz target: the container readers (7z, tar, gzip, bzip2, xz, lzma,
   zstd, lz4) through the whole-scan entry point. The checksums that guard
   7z and tar headers are recomputed first, so that mutations reach the
   parsers behind them. Limits are lowered to keep each run small. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/archive/archive.h"
#include "modelgate/modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* 7z: the next header's CRC (when it lies inside the input), then the
   start header's. tar: the first header's checksum. */
static void
fix_checksums(uint8_t *b, size_t n)
{
    static const uint8_t sz[6] = {0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C};
    if (n >= 32 && memcmp(b, sz, 6) == 0) {
        uint64_t off = get64(b + 12), len = get64(b + 20);
        if (off <= n - 32 && len <= n - 32 - off)
            put32(b + 28, mg_arc_crc32(b + 32 + off, (size_t)len));
        put32(b + 8, mg_arc_crc32(b + 12, 20));
        return;
    }
    if (n >= 512 && memcmp(b + 257, "ustar", 5) == 0) {
        unsigned sum = 0;
        for (size_t i = 0; i < 512; i++)
            sum += (i >= 148 && i < 156) ? ' ' : b[i];
        for (int i = 6; i >= 0; i--, sum >>= 3)
            b[148 + i] = (uint8_t)('0' + (sum & 7));
        b[155] = ' ';
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    if (b == NULL)
        return 0;
    memcpy(b, data, size);
    fix_checksums(b, size);
    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    o.limits.max_seconds = 10;
    /* small: the bytes a bomb expands to are not what is being fuzzed */
    o.limits.max_member_bytes = 4u << 20;
    o.limits.max_total_bytes = 16u << 20;
    o.limits.max_spool_bytes = 4u << 20;
    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) == MG_OK) {
        struct mg_report *r = NULL;
        if (mg_scan_buffer(sc, b, size, "fuzz", &r) == MG_OK)
            (void)mg_report_verdict(r);
        mg_report_free(r);
        mg_scanner_free(sc);
    }
    free(b);
    return 0;
}
