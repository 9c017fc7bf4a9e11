/*
 * zip.h - ZIP archives read the way PyTorch's reader (miniz) reads them:
 * the central directory is the truth, member data starts after the local
 * header found at the central directory's offset, and what a careful
 * writer never produces but the loader tolerates (CRC mismatches, odd
 * flag bits, local/central name mismatches, duplicate names, bytes before,
 * between or after the members, overlapping members) is scanned anyway and
 * reported. PyTorch's ZIP layout (data.pkl, data/<key>, TorchScript) is
 * recognised on top of it.
 */
#ifndef MG_FORMATS_ZIP_H
#define MG_FORMATS_ZIP_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include "core/ctx.h"
#include "core/input.h"

/*
 * For inputs that another format claimed: when a ZIP end record sits at
 * the end of a random-access input that does not start with a local
 * header, the input is a polyglot (torch.load reads the front, zipfile
 * the back): report it and scan the ZIP's members.
 */
enum mg_status mg_zip_scan_appended(struct mg_ctx *ctx, struct mg_input *in);

/*
 * Inflate a raw deflate (window_bits -15) or zlib (15) stream read
 * sequentially from src: a pull source for a member input, with size,
 * ratio and total-budget checks. Used by ZIP members and zlib streams.
 */
struct mg_inflate;
enum mg_status mg_inflate_new(struct mg_ctx *ctx,
                              struct mg_input *src,
                              uint64_t src_off,
                              uint64_t src_len,
                              int window_bits,
                              uint64_t expect_size,
                              struct mg_inflate **out);
void mg_inflate_free(struct mg_inflate *z);
/* The member input reading from it (sequential, size may be UINT64_MAX). */
void mg_inflate_input(struct mg_inflate *z, struct mg_input *member);
/* After the scan: did a limit stop it (already reported)? bytes out and
   in, and the CRC-32 of everything produced so far. */
int mg_inflate_limited(const struct mg_inflate *z);
int mg_inflate_failed(const struct mg_inflate *z, const char **why);
uint64_t mg_inflate_out(const struct mg_inflate *z);
/* Read what the scan left, to the end (for the CRC); bounded by limits. */
enum mg_status mg_inflate_drain(struct mg_inflate *z);
uint32_t mg_inflate_crc(const struct mg_inflate *z);

/*
 * Reading members without scanning, for modelgate convert (which scans
 * first, then rebuilds tensors from the members). The same parser as the
 * scan; damaged() is 1 when the scan would have reported a differential.
 * Only random-access inputs.
 */
struct mg_zip_reader;
enum mg_status mg_zip_reader_open(struct mg_input *in,
                                  const struct mg_limits *lim,
                                  struct mg_zip_reader **out);
void mg_zip_reader_close(struct mg_zip_reader *r);
int mg_zip_reader_damaged(const struct mg_zip_reader *r);
size_t mg_zip_reader_count(const struct mg_zip_reader *r);
const char *mg_zip_reader_name(const struct mg_zip_reader *r, size_t i);
uint64_t mg_zip_reader_size(const struct mg_zip_reader *r, size_t i);
/* PyTorch's archive folder ("archive/"), "" when the first member has no
   folder. */
const char *mg_zip_reader_prefix(const struct mg_zip_reader *r);
/* Index of prefix + rel (without regard to case, as miniz), -1 when
   absent, -2 when several members have that name. */
long mg_zip_reader_find(const struct mg_zip_reader *r, const char *rel);
/* Read member i whole (n must be its uncompressed size); deflated members
   are inflated and their CRC checked. */
enum mg_status
mg_zip_reader_read(struct mg_zip_reader *r, size_t i, void *buf, size_t n);
/* Where the bytes of stored member i start in the input (for copies that
   bypass the reader); MG_E_UNSUPPORTED for other members. */
enum mg_status mg_zip_reader_data_offset(const struct mg_zip_reader *r,
                                         size_t i,
                                         uint64_t *off);

#endif
