/*
 * probe.c - pure probes of the libarchive-backed containers: magic numbers
 * and the header checks that make them specific (7z and xz header CRCs,
 * the tar header checksum). Each returns the number of bits it checked.
 */
#include <stdint.h>
#include <string.h>

#include "formats/archive/archive.h"
#include "io/reader.h"

uint32_t
mg_arc_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* The first n bytes of the head, or NULL when it is shorter. */
static const uint8_t *
head(const uint8_t *h, size_t len, size_t n)
{
    struct mg_reader r;
    const uint8_t *p = NULL;
    rd_init(&r, h, len);
    return rd_peek(&r, n, &p) == MG_OK ? p : NULL;
}

unsigned
mg_probe_7z(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    static const uint8_t magic[7] = {0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C, 0};
    const uint8_t *p = head(h, n, 8);
    if (p == NULL || memcmp(p, magic, sizeof(magic)) != 0) /* + major 0 */
        return 0;
    /* The start header (next-header offset, size, CRC) has its own CRC. */
    const uint8_t *s = head(h, n, 32);
    if (s == NULL)
        return 56;
    return mg_arc_crc32(s + 12, 20) == le32(s + 8) ? 88 : 0;
}

/* An octal tar number field: leading spaces, digits, then space or NUL up
   to the end. Returns 0 when it is not one. */
static int
tar_octal(const uint8_t *f, size_t n, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    int digits = 0;
    while (i < n && f[i] == ' ')
        i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return 0;
        v = v << 3 | (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != 0)
            return 0;
    *out = v;
    return digits > 0;
}

/* A numeric field that may also use the GNU base-256 form. */
static int
tar_number(const uint8_t *f, size_t n)
{
    uint64_t v;
    if (f[0] == 0x80 || f[0] == 0xFF)
        return 1;
    if (tar_octal(f, n, &v))
        return 1;
    for (size_t i = 0; i < n; i++) /* an empty field */
        if (f[i] != 0 && f[i] != ' ')
            return 0;
    return 1;
}

unsigned
mg_probe_tar(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    const uint8_t *p = head(h, n, 512);
    if (p == NULL)
        return 0;
    uint64_t want;
    if (!tar_octal(p + 148, 8, &want))
        return 0;
    /* tar (and Python's tarfile) accept the unsigned or the signed sum of
       the header, the checksum field counted as spaces. */
    uint64_t usum = 0;
    int64_t ssum = 0;
    for (size_t i = 0; i < 512; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : p[i];
        usum += c;
        ssum += (int8_t)c;
    }
    if (want != usum && (ssum < 0 || want != (uint64_t)ssum))
        return 0;
    if (memcmp(p + 257, "ustar", 6) == 0 || memcmp(p + 257, "ustar  ", 8) == 0)
        return 96; /* POSIX or GNU magic */
    /* Old (v7) header: no magic, so the other fields must look right. */
    if (p[0] == 0 || !tar_number(p + 100, 8) || !tar_number(p + 108, 8) ||
        !tar_number(p + 116, 8) || !tar_number(p + 124, 12) ||
        !tar_number(p + 136, 12))
        return 0;
    return 40;
}

unsigned
mg_probe_gzip(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    const uint8_t *p = head(h, n, 4);
    if (p == NULL || p[0] != 0x1F || p[1] != 0x8B || p[2] != 8)
        return 0;
    /* Python's gzip ignores the reserved flag bits: so do we (reported) */
    return (p[3] & 0xE0) == 0 ? 27 : 24;
}

unsigned
mg_probe_bzip2(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    static const uint8_t block[6] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
    static const uint8_t end[6] = {0x17, 0x72, 0x45, 0x38, 0x50, 0x90};
    const uint8_t *p = head(h, n, 10);
    if (p == NULL || p[0] != 'B' || p[1] != 'Z' || p[2] != 'h' || p[3] < '1' ||
        p[3] > '9')
        return 0;
    int is_block = 1, is_end = 1;
    for (size_t i = 0; i < 6; i++) {
        is_block &= p[4 + i] == block[i];
        is_end &= p[4 + i] == end[i];
    }
    return is_block || is_end ? 76 : 0;
}

unsigned
mg_probe_xz(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    static const uint8_t magic[7] = {0xFD, '7', 'z', 'X', 'Z', 0, 0};
    const uint8_t *p = head(h, n, 12);
    if (p == NULL || memcmp(p, magic, sizeof(magic)) != 0 ||
        (p[7] & 0xF0) != 0) /* + stream flags */
        return 0;
    return mg_arc_crc32(p + 6, 2) == le32(p + 8) ? 92 : 0;
}

/* A dictionary size that libarchive's lzma bidder accepts: what real
   encoders write (2^12..2^27, or xz's lzma lowered in 1 MiB steps). */
int
mg_lzma_dict_libarchive(uint32_t dict, uint8_t props, int size_unknown)
{
    if (dict >= 0x1000 && dict <= 0x08000000 && (dict & (dict - 1)) == 0)
        return 1;
    return dict >= 0x00300000 && dict <= 0x03F00000 && (dict & 0xFFFFF) == 0 &&
           size_unknown && (props == 0x5D || props == 0x5E);
}

/* The .lzma ("alone") header as Python's lzma module (joblib) reads it:
   properties with lc + lp <= 4, a dictionary of 2^n or 2^n + 2^(n-1)
   bytes (liblzma's check), an uncompressed size that is unknown, or below
   2^38 with the default properties, then the range coder's first byte,
   always 0. */
unsigned
mg_probe_lzma(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    const uint8_t *p = head(h, n, 14);
    if (p == NULL || p[0] > (4 * 5 + 4) * 9 + 8 || p[13] != 0)
        return 0;
    unsigned rem = p[0] % 45u;
    if (rem / 9u + rem % 9u > 4u) /* lp + lc */
        return 0;
    uint32_t dict = le32(p + 1);
    uint32_t low = dict & (0u - dict); /* lowest bit set */
    if (dict == 0 || (dict != UINT32_MAX && dict != low && dict != low * 3u))
        return 0;
    uint64_t usize = (uint64_t)le32(p + 5) | (uint64_t)le32(p + 9) << 32;
    if (usize == UINT64_MAX)
        return 96;
    /* A known size is what LZMA SDK writes, with its default properties
       (joblib's 5D 00 prefix); other properties with a size would take
       too much random data (tensors) for lzma. */
    if (usize >> 38 || (p[0] != 0x5D && p[0] != 0x5E))
        return 0;
    return 64;
}

unsigned
mg_probe_zstd(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    const uint8_t *p = head(h, n, 5);
    if (p == NULL || le32(p) != 0xFD2FB528u)
        return 0;
    return (p[4] & 0x08) == 0 ? 33 : 0; /* reserved descriptor bit */
}

unsigned
mg_probe_lz4(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    const uint8_t *p = head(h, n, 6);
    if (p == NULL)
        return 0;
    if (le32(p) == 0x184C2102u) /* legacy frame */
        return 32;
    if (le32(p) != 0x184D2204u)
        return 0;
    /* version 01, reserved bit 0, block size code 4..7 */
    if ((p[4] & 0xC2) != 0x40 || ((p[5] >> 4) & 7) < 4 || (p[5] & 0x8F) != 0)
        return 0;
    return 44;
}
