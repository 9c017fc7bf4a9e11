/*
 * archive.h - containers opened through libarchive: 7z, tar and the
 * compressed streams gzip, bzip2, xz, lzma, zstd and lz4. Each is a format
 * of its own in the table (its probe reads magic numbers only); all share
 * one reader (archive.c, the only file that includes <archive.h>), which
 * streams every member into mg_scan_input() and charges the limits as it
 * decompresses. torch_tar.c reads the members of PyTorch's old tar layout
 * the way torch.load does.
 */
#ifndef MG_FORMATS_ARCHIVE_H
#define MG_FORMATS_ARCHIVE_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/input.h"

enum mg_arc_kind {
    MG_ARC_7Z = 0,
    MG_ARC_TAR,
    MG_ARC_GZIP,
    MG_ARC_BZIP2,
    MG_ARC_XZ,
    MG_ARC_LZMA,
    MG_ARC_ZSTD,
    MG_ARC_LZ4
};

/* CRC-32 (IEEE), bitwise: for the few header bytes probes check. */
uint32_t mg_arc_crc32(const uint8_t *p, size_t n);

/* Whether libarchive's lzma bidder takes this dictionary size (Python's
   lzma takes more: such headers are normalised for it, archive.c). */
int mg_lzma_dict_libarchive(uint32_t dict, uint8_t props, int size_unknown);

/* Pure probes (probe.c): confidence in bits checked, 0 when not this. */
unsigned mg_probe_7z(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_tar(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_gzip(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_bzip2(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_xz(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_lzma(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_zstd(const uint8_t *h, size_t n, uint64_t size);
unsigned mg_probe_lz4(const uint8_t *h, size_t n, uint64_t size);

/* Scan an input known (by its probe) to be of this kind. */
enum mg_status
mg_archive_scan(struct mg_ctx *ctx, struct mg_input *in, enum mg_arc_kind k);

/*
 * PyTorch's old tar layout (torch_tar.c). torch.load reads the tar members
 * named exactly "storages" and "tensors" as pickles interleaved with raw
 * bytes; a generic scan would see data after a pickle. Returns the member
 * scanner for such a name, NULL for any other name.
 */
mg_member_scan_fn mg_torch_tar_member(const char *name);

#endif
