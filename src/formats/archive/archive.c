/*
 * archive.c - the libarchive-backed containers (the only file that sees
 * <archive.h>). One libarchive session per layer, with only what that
 * layer needs enabled: 7z; tar; or one compression filter with the raw
 * format: a compressed stream is a layer with one member, "data", which is
 * sniffed again by content like any other member (a .tar.gz is a gzip
 * layer whose data is a tar layer).
 *
 * libarchive reads the layer through callbacks over the mg_input, at most
 * MG_ARCHIVE_BLOCK bytes per call, so that the compressed bytes consumed
 * are known to that granularity. Every regular member is streamed into
 * mg_scan_input(); what it decompresses is charged against the limits as
 * it comes out (member bytes, total bytes, ratio, time). Nothing is
 * written to disk; a 7z, which libarchive can only read with random
 * access, is held in memory (mg_input_spool) when its source is a stream.
 */
#include "formats/archive/archive.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "core/report.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "io/ckd.h"

/* The torch tar member names whose duplicates or links matter. */
enum {
    TT_STORAGES,
    TT_TENSORS,
    TT_PICKLE,
    TT_SYS_INFO,
    TT_N
};
static const char *const tt_names[TT_N] = {"storages", "tensors", "pickle",
                                           "sys_info"};

/* Per kind: its name, the libarchive filter that decodes it (NONE for the
   archive formats) and the one reader it enables (none for streams: their
   filter is appended by code, see enable()). */
static const struct kind {
    const char *name;
    int filter;
    int (*support)(struct archive *);
} kinds[] = {
    [MG_ARC_7Z] = {"7z", ARCHIVE_FILTER_NONE, archive_read_support_format_7zip},
    [MG_ARC_TAR] = {"tar", ARCHIVE_FILTER_NONE,
                    archive_read_support_format_tar},
    [MG_ARC_GZIP] = {"gzip", ARCHIVE_FILTER_GZIP, NULL},
    [MG_ARC_BZIP2] = {"bzip2", ARCHIVE_FILTER_BZIP2, NULL},
    [MG_ARC_XZ] = {"xz", ARCHIVE_FILTER_XZ, NULL},
    [MG_ARC_LZMA] = {"lzma", ARCHIVE_FILTER_LZMA, NULL},
    [MG_ARC_ZSTD] = {"zstd", ARCHIVE_FILTER_ZSTD, NULL},
    [MG_ARC_LZ4] = {"lz4", ARCHIVE_FILTER_LZ4, NULL},
};

struct member;

/* One layer: a libarchive session over an mg_input. */
struct arc {
    struct mg_ctx *ctx;
    struct mg_input *in; /* what libarchive reads (maybe the spooled copy) */
    struct mg_input spooled;
    uint8_t *spool;
    enum mg_arc_kind kind;
    struct archive *a;
    int decompresses; /* members come out of a decompressor: charge them */
    int raw;          /* libarchive's raw format: one member, nothing after */
    /* the source */
    uint64_t pos; /* random access: next offset */
    struct mg_input_cursor cur;
    struct mg_stream s; /* sequential sources */
    int have_stream;
    uint8_t *blk;      /* random access, not in memory: read buffer */
    uint8_t *scratch;  /* draining members */
    uint64_t in_bytes; /* bytes handed to libarchive */
    enum mg_status src_err;
    struct member *outer; /* the source is a member of our outer layer */
    /* what came out */
    uint64_t out_bytes;
    uint64_t entries, scanned;
    int stop; /* a limit ended this layer (already reported) */
    int fatal;
    unsigned restarts;
    int opened;        /* libarchive has chosen its format */
    int reserved_bits; /* a gzip header had reserved flags (cleared) */
    char what[32];
    unsigned tt_seen[TT_N];
    char name[MG_ARCHIVE_NAME_MAX];
};

/* The member being scanned. */
struct member {
    struct arc *x;
    uint64_t out; /* bytes delivered */
    uint64_t in0; /* x->in_bytes when it started */
    int eof;
    int limited; /* a limit stopped it (already reported) */
    int err;     /* libarchive error code (ARCHIVE_WARN...), 0 when none */
    char errmsg[256];
    /* uncompressed tar over random access: a window of the source */
    struct mg_input *parent;
    uint64_t woff, wlen;
    /* bytes read through libarchive to check the window, replayed */
    uint8_t pre[64];
    size_t pre_len, pre_pos;
};

/* ------------------------------------------------------------------ */
/* the source, as libarchive reads it */

/*
 * Headers that Python's readers (joblib) accept and libarchive refuses are
 * handed over in a form libarchive takes, so that it reads what the loader
 * would read: a gzip header's reserved flag bits are cleared (Python
 * ignores them; reported), and an lzma dictionary size outside the sizes
 * libarchive's bidder knows is raised to the next one it knows (a decoder
 * with a larger dictionary decodes the same stream; above 128 MiB the
 * stream fails as damaged if it reaches further back).
 */
static const void *
normalise(struct arc *x, const uint8_t *p, size_t k, uint64_t at)
{
    if (at != 0)
        return p;
    if (x->kind == MG_ARC_GZIP && k >= 4 && (p[3] & 0xE0) != 0) {
        if (p != x->blk)
            memcpy(x->blk, p, k);
        x->blk[3] &= 0x1F;
        x->reserved_bits = 1;
        return x->blk;
    }
    if (x->kind != MG_ARC_LZMA || k < 13)
        return p;
    uint32_t dict = (uint32_t)p[1] | (uint32_t)p[2] << 8 |
                    (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
    int unknown = 1;
    for (size_t i = 5; i < 13; i++)
        unknown &= p[i] == 0xFF;
    if (mg_lzma_dict_libarchive(dict, p[0], unknown))
        return p;
    uint32_t d = 0x1000;
    while (d < dict && d < 0x08000000)
        d <<= 1;
    if (p != x->blk)
        memcpy(x->blk, p, k);
    for (int i = 0; i < 4; i++)
        x->blk[1 + i] = (uint8_t)(d >> (8 * i));
    return x->blk;
}

static la_ssize_t
src_read(struct archive *a, void *ud, const void **buf)
{
    struct arc *x = ud;
    struct mg_input *in = x->in;
    if (in->read_at != NULL) {
        if (x->pos >= in->size)
            return 0;
        uint64_t left = in->size - x->pos;
        size_t k = left < MG_ARCHIVE_BLOCK ? (size_t)left : MG_ARCHIVE_BLOCK;
        if (in->mem != NULL) {
            *buf = in->mem + x->pos;
        } else {
            enum mg_status st = mg_input_read(in, x->pos, x->blk, k);
            if (st != MG_OK) {
                x->src_err = st;
                archive_set_error(a, EIO, "cannot read the input: %s",
                                  mg_strerror(st));
                return ARCHIVE_FATAL;
            }
            *buf = x->blk;
        }
        *buf = normalise(x, *buf, k, x->pos);
        x->pos += k;
        x->in_bytes += k;
        return (la_ssize_t)k;
    }
    const uint8_t *p = NULL;
    size_t n = 0;
    enum mg_status st = mg_stream_avail(&x->s, &p, &n);
    if (st != MG_OK) {
        x->src_err = st;
        archive_set_error(a, EIO, "cannot read the input: %s", mg_strerror(st));
        return ARCHIVE_FATAL;
    }
    if (n > MG_ARCHIVE_BLOCK)
        n = MG_ARCHIVE_BLOCK;
    *buf = normalise(x, p, n, x->in_bytes);
    mg_stream_advance(&x->s, n);
    x->in_bytes += n;
    return (la_ssize_t)n;
}

static la_int64_t
src_skip(struct archive *a, void *ud, la_int64_t request)
{
    struct arc *x = ud;
    if (request <= 0)
        return 0;
    uint64_t n = (uint64_t)request, done = 0;
    if (x->in->read_at != NULL) {
        uint64_t left = x->pos < x->in->size ? x->in->size - x->pos : 0;
        done = n < left ? n : left;
        x->pos += done;
        return (la_int64_t)done;
    }
    /* libarchive takes any value below the request as "skipped that
       much" (a negative one makes it loop for ever): on an error, say what
       was skipped; the next read returns the error. */
    (void)a;
    enum mg_status st = mg_stream_skip(&x->s, n, &done);
    if (st != MG_OK && st != MG_E_TRUNCATED)
        x->src_err = st;
    x->in_bytes += done;
    return (la_int64_t)done;
}

static la_int64_t
src_seek(struct archive *a, void *ud, la_int64_t off, int whence)
{
    struct arc *x = ud;
    uint64_t base = whence == SEEK_SET   ? 0
                    : whence == SEEK_CUR ? x->pos
                                         : x->in->size;
    uint64_t to;
    if (off < 0) {
        uint64_t back = (uint64_t)(-(off + 1)) + 1;
        if (back > base)
            goto bad;
        to = base - back;
    } else if (ckd_add_u64(&to, base, (uint64_t)off)) {
        goto bad;
    }
    if (to > x->in->size)
        goto bad;
    x->pos = to;
    return (la_int64_t)to;
bad:
    archive_set_error(a, EINVAL, "seek outside the input");
    return ARCHIVE_FATAL;
}

/* ------------------------------------------------------------------ */
/* limits */

/* out > max_ratio * (in + one read block): the block is how precisely
   compressed bytes are attributed (a member may start inside a block that
   was read for the one before). */
static int
ratio_exceeded(const struct mg_limits *lim, uint64_t out, uint64_t in)
{
    uint64_t den, cap;
    if (ckd_add_u64(&den, in, MG_ARCHIVE_BLOCK) ||
        ckd_mul_u64(&cap, den, lim->max_ratio))
        return 0;
    return out > cap;
}

static enum mg_status
stop_at(struct arc *x, const char *limit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A limit ends this layer: report it once, incomplete. */
static enum mg_status
stop_at(struct arc *x, const char *limit, const char *fmt, ...)
{
    char why[MG_ARCHIVE_NAME_MAX + 200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    x->stop = 1;
    return mg_ctx_incomplete(x->ctx, limit, -1, why);
}

/* Account for n bytes of the current member; MG_E_LIMIT once a limit is
   hit (reported), another status only for out-of-memory. */
static enum mg_status
charge(struct member *m, uint64_t n)
{
    struct arc *x = m->x;
    const struct mg_limits *lim = x->ctx->lim;
    enum mg_status st;
    m->out += n;
    if (mg_ctx_expired(x->ctx)) {
        st = stop_at(x, "max-seconds", "in member %s", x->name);
        return st != MG_OK ? st : MG_E_LIMIT;
    }
    if (!x->decompresses)
        return MG_OK;
    x->out_bytes += n;
    st = mg_ctx_charge(x->ctx, n, -1);
    if (st != MG_OK) {
        x->stop = 1;
        return st;
    }
    if (m->out > lim->max_member_bytes)
        st = stop_at(x, "max-member-bytes",
                     "member %s decompresses to more than %" PRIu64 " bytes",
                     x->name, lim->max_member_bytes);
    else if (ratio_exceeded(lim, m->out, x->in_bytes - m->in0))
        st = stop_at(x, "max-ratio",
                     "member %s: %" PRIu64 " bytes from at most %" PRIu64
                     " compressed bytes (a decompression bomb?)",
                     x->name, m->out, x->in_bytes - m->in0 + MG_ARCHIVE_BLOCK);
    else if (ratio_exceeded(lim, x->out_bytes, x->in_bytes))
        st = stop_at(x, "max-ratio",
                     "%s: %" PRIu64 " bytes from at most %" PRIu64
                     " compressed bytes (a decompression bomb?)",
                     kinds[x->kind].name, x->out_bytes,
                     x->in_bytes + MG_ARCHIVE_BLOCK);
    else
        return MG_OK;
    return st != MG_OK ? st : MG_E_LIMIT;
}

/* ------------------------------------------------------------------ */
/* members */

static void
member_error(struct member *m, la_ssize_t r)
{
    struct arc *x = m->x;
    m->err = (int)r;
    m->eof = 1;
    const char *e = archive_error_string(x->a);
    snprintf(m->errmsg, sizeof(m->errmsg), "%s", e ? e : "unknown error");
    if (r == ARCHIVE_FATAL)
        x->fatal = 1;
}

/* Next bytes of the member through libarchive. */
static enum mg_status
member_read(struct member *m, void *buf, size_t n, size_t *got)
{
    struct arc *x = m->x;
    *got = 0;
    if (m->limited)
        return MG_E_IO;
    if (m->eof)
        return MG_OK;
    la_ssize_t r = archive_read_data(x->a, buf, n);
    if (r == 0) {
        m->eof = 1;
        return MG_OK;
    }
    if (r < 0) {
        /* Corrupt data ends the member here: what came before was
           scanned, the consumer sees the end. */
        member_error(m, r);
        return MG_OK;
    }
    enum mg_status st = charge(m, (uint64_t)r);
    if (st == MG_E_LIMIT) {
        m->limited = 1;
        return MG_E_IO;
    }
    if (st != MG_OK)
        return st;
    *got = (size_t)r;
    return MG_OK;
}

static enum mg_status
member_pull(void *impl, void *buf, size_t n, size_t *got)
{
    struct member *m = impl;
    if (m->pre_pos < m->pre_len) {
        size_t k = m->pre_len - m->pre_pos;
        if (k > n)
            k = n;
        memcpy(buf, m->pre + m->pre_pos, k);
        m->pre_pos += k;
        *got = k;
        return MG_OK;
    }
    return member_read(m, buf, n, got);
}

/* Uncompressed tar over random access: the member is a window of the
   source. */
static enum mg_status
window_read_at(void *impl, uint64_t off, void *buf, size_t n, size_t *got)
{
    struct member *m = impl;
    *got = 0;
    if (off >= m->wlen)
        return MG_OK;
    if (n > m->wlen - off)
        n = (size_t)(m->wlen - off);
    if (mg_ctx_expired(m->x->ctx)) {
        if (!m->limited)
            (void)stop_at(m->x, "max-seconds", "in member %s", m->x->name);
        m->limited = 1;
        return MG_E_IO;
    }
    enum mg_status st = mg_input_read(m->parent, m->woff + off, buf, n);
    if (st != MG_OK)
        return st;
    *got = n;
    return MG_OK;
}

/*
 * Set up the member input. An uncompressed tar member over random access
 * becomes a window of the source (nested formats get random access, raw
 * tensor bytes are skipped by seeking); libarchive's idea of where the data
 * starts is checked against its first bytes.
 */
static enum mg_status
member_input(struct member *m, struct archive_entry *e, struct mg_input *mi)
{
    struct arc *x = m->x;
    memset(mi, 0, sizeof(*mi));
    mi->size = UINT64_MAX;
    mi->pull = member_pull;
    mi->impl = m;
    if (x->kind != MG_ARC_TAR || x->in->read_at == NULL ||
        !archive_entry_size_is_set(e) || archive_entry_size(e) < 0 ||
        archive_entry_sparse_count(e) != 0)
        return MG_OK;
    uint64_t size = (uint64_t)archive_entry_size(e);
    la_int64_t pos = archive_filter_bytes(x->a, 0);
    uint64_t end;
    if (pos < 0 || ckd_add_u64(&end, (uint64_t)pos, size) || end > x->in->size)
        return MG_OK;
    size_t k = size < sizeof(m->pre) ? (size_t)size : sizeof(m->pre);
    size_t got = 0;
    while (m->pre_len < k && !m->eof && !m->limited) {
        enum mg_status st =
            member_read(m, m->pre + m->pre_len, k - m->pre_len, &got);
        if (st != MG_OK)
            return st;
        m->pre_len += got;
    }
    uint8_t chk[sizeof(m->pre)];
    if (m->pre_len != k ||
        mg_input_read(x->in, (uint64_t)pos, chk, k) != MG_OK ||
        memcmp(chk, m->pre, k) != 0)
        return MG_OK; /* stream it (the prefix is replayed) */
    m->parent = x->in;
    m->woff = (uint64_t)pos;
    m->wlen = size;
    m->pre_len = m->pre_pos = 0;
    mi->size = size;
    mi->pull = NULL;
    mi->read_at = window_read_at;
    if (x->in->mem != NULL)
        mi->mem = x->in->mem + pos;
    return MG_OK;
}

/* Read the rest of a member that the scan did not need, charging it: the
   next member of a compressed stream is only reachable this way, and
   libarchive would otherwise do it unbounded. */
static enum mg_status
drain(struct member *m)
{
    struct arc *x = m->x;
    if (x->raw || !x->decompresses || m->parent != NULL)
        return MG_OK; /* nothing follows / libarchive skips by seeking */
    while (!m->eof && !m->limited && !x->stop) {
        size_t got = 0;
        enum mg_status st = member_read(m, x->scratch, MG_ARCHIVE_BLOCK, &got);
        if (st != MG_OK && st != MG_E_IO)
            return st;
    }
    return MG_OK;
}

/* ------------------------------------------------------------------ */
/* names and entry types */

/* Copy a member name for messages and layer paths: control characters
   and invalid UTF-8 become '?'. Returns 1 when the name had control
   characters. */
static int
copy_name(char *dst, size_t cap, const char *src)
{
    size_t i = 0, o = 0;
    int ctl = 0;
    const uint8_t *s = (const uint8_t *)src;
    while (s[i] != 0 && o + 4 < cap) {
        uint8_t c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        int ok = len > 0 && (len == 1 || c >= 0xC2);
        for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xC0) == 0x80;
        if (!ok) {
            dst[o++] = '?';
            i++;
            continue;
        }
        if (len == 1 && (c < 0x20 || c == 0x7F)) {
            ctl = 1;
            dst[o++] = '?';
            i++;
            continue;
        }
        memcpy(dst + o, s + i, len);
        o += len;
        i += len;
    }
    if (s[i] != 0 && cap >= 4) {
        o = o + 3 < cap ? o : cap - 4;
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return ctl;
}

/* An absolute path or one with a ".." component (either separator, and
   the Windows forms ".. " and "..." that it strips to ".."). */
static int
path_escapes(const char *p)
{
    enum mg_path_risk r = mg_path_risk(p, strlen(p), 0);
    return r == MG_PATH_ABSOLUTE || r == MG_PATH_PARENT;
}

static int
tt_index(const char *name)
{
    for (int i = 0; i < TT_N; i++)
        if (strcmp(name, tt_names[i]) == 0)
            return i;
    return -1;
}

static enum mg_status
check_name(struct arc *x, const char *raw, int ctl)
{
    if (raw[0] == '\0')
        return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-member-name",
                            -1, "a member of the %s has an empty name",
                            kinds[x->kind].name);
    if (path_escapes(raw))
        return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-member-name",
                            -1,
                            "member %s has an absolute path or a '..' "
                            "component: extracting it writes outside the "
                            "target folder",
                            x->name);
    if (ctl)
        return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-member-name",
                            -1,
                            "member name %s contains control characters "
                            "(shown as '?')",
                            x->name);
    return MG_OK;
}

static enum mg_status
report_link(struct arc *x, const char *kind, const char *target)
{
    char t[MG_ARCHIVE_NAME_MAX];
    (void)copy_name(t, sizeof(t), target ? target : "");
    int tt = x->kind == MG_ARC_7Z ? -1 : tt_index(x->name);
    if (tt == TT_STORAGES || tt == TT_TENSORS || tt == TT_PICKLE)
        return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-link", -1,
                            "%s %s -> %s: torch.load of this tar reads '%s' "
                            "through the link, from outside the archive or "
                            "from another member",
                            kind, x->name, t, x->name);
    int esc = target == NULL || target[0] == '\0' || path_escapes(target);
    return mg_ctx_findf(
        x->ctx, esc ? MG_SEV_SUSPICIOUS : MG_SEV_INFO, "archive-link", -1,
        "%s %s -> %s (not followed)%s", kind, x->name, t,
        esc ? ": the target is outside the archive's folder" : "");
}

static const char *
special_kind(unsigned type)
{
    switch (type) {
    case AE_IFCHR:
        return "a character device";
    case AE_IFBLK:
        return "a block device";
    case AE_IFIFO:
        return "a FIFO";
    case AE_IFSOCK:
        return "a socket";
    default:
        return "an entry of unknown type";
    }
}

/* The source is a member of an outer layer that a limit stopped or that
   could not be decoded to its end (reported there). */
static int
source_failed(const struct arc *x)
{
    return x->outer != NULL && (x->outer->limited || x->outer->err != 0);
}

/* A libarchive error: the layer's data is damaged (suspicious), unless it
   comes from the source below, which reported it already or is a plain
   read error. */
static enum mg_status
report_error(struct arc *x, const char *what, const char *msg, int cut)
{
    if (x->src_err == MG_E_NOMEM)
        return MG_E_NOMEM;
    if (source_failed(x))
        return MG_OK; /* a consequence of what the outer layer reports */
    if (x->src_err != MG_OK) {
        return mg_ctx_incomplete(x->ctx, NULL, -1, "the source cannot be read");
    }
    /* Only 7z can say, and only once open: after a failed open,
       libarchive 3.6 leaves its format pointer past its table. */
    if (x->kind == MG_ARC_7Z && x->opened &&
        archive_read_has_encrypted_entries(x->a) > 0) {
        mg_report_set_incomplete(x->ctx->rep);
        return mg_ctx_findf(x->ctx, MG_SEV_UNKNOWN, "archive-encrypted", -1,
                            "%s: encrypted content cannot be read without "
                            "the password (%s); it was not scanned",
                            what, msg);
    }
    if (cut)
        mg_report_set_incomplete(x->ctx->rep);
    return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-corrupt", -1,
                        "%s: %s%s", what, msg,
                        cut ? "; the rest could not be read" : "");
}

/* ------------------------------------------------------------------ */
/* one member */

static enum mg_status
scan_member(struct arc *x, struct archive_entry *e)
{
    enum mg_status st;
    struct member m;
    memset(&m, 0, sizeof(m));
    m.x = x;
    m.in0 = x->in_bytes;
    if (archive_entry_is_data_encrypted(e)) {
        mg_report_set_incomplete(x->ctx->rep);
        return mg_ctx_findf(x->ctx, MG_SEV_UNKNOWN, "archive-encrypted", -1,
                            "member %s is encrypted: it cannot be read "
                            "without the password and was not scanned",
                            x->name);
    }
    struct mg_input mi;
    st = member_input(&m, e, &mi);
    if (st != MG_OK && st != MG_E_IO)
        return st;
    mg_member_scan_fn fn = NULL;
    if ((archive_format(x->a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR)
        fn = mg_torch_tar_member(x->name);
    x->scanned++;
    if (!m.limited)
        st = mg_scan_input_with(x->ctx, &mi, x->name, fn);
    if (st != MG_OK && !(m.limited && st == MG_E_IO))
        return st;
    if (!m.limited) {
        st = drain(&m);
        if (st != MG_OK)
            return st;
    }
    if (m.err != 0) {
        char what[MG_ARCHIVE_NAME_MAX + 20];
        snprintf(what, sizeof(what), "member %s", x->name);
        st = report_error(x, what, m.errmsg, m.err != ARCHIVE_WARN);
    }
    if (m.limited && m.parent == NULL)
        x->stop = 1; /* the rest of a stream cannot be reached */
    return st;
}

static enum mg_status
entry(struct arc *x, struct archive_entry *e)
{
    /* A compressed stream's one member is "data": the file name a gzip
       header may carry is not a path anything extracts to. */
    int stream = x->kind != MG_ARC_7Z && x->kind != MG_ARC_TAR;
    const char *raw = stream ? "data" : archive_entry_pathname_utf8(e);
    if (raw == NULL)
        raw = archive_entry_pathname(e);
    enum mg_status st;
    if (raw == NULL) {
        /* 7z names are UTF-16: one that does not convert (a lone
           surrogate...) has no name at all */
        raw = "?";
        st = mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-member-name", -1,
                          "the name of a member of the %s cannot be "
                          "decoded (shown as '?')",
                          kinds[x->kind].name);
        if (st != MG_OK)
            return st;
    }
    int ctl = copy_name(x->name, sizeof(x->name), raw);
    st = check_name(x, raw, ctl);
    if (st != MG_OK)
        return st;
    int tt = x->kind == MG_ARC_7Z ? -1 : tt_index(raw);
    if (tt >= 0 && x->tt_seen[tt]++ == 1) {
        st = mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-duplicate", -1,
                          "the tar has more than one member named %s: "
                          "torch.load uses the last one",
                          tt_names[tt]);
        if (st != MG_OK)
            return st;
    }
    const char *hard = archive_entry_hardlink(e);
    unsigned type = archive_entry_filetype(e);
    if (hard != NULL)
        return report_link(x, "hard link", hard);
    if (type == AE_IFLNK)
        return report_link(x, "symbolic link", archive_entry_symlink(e));
    if (type == AE_IFDIR)
        return MG_OK;
    if (type != AE_IFREG)
        return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-special", -1,
                            "member %s is %s, not a file", x->name,
                            special_kind(type));
    if (archive_entry_size_is_set(e) && archive_entry_size(e) == 0 &&
        !archive_entry_is_data_encrypted(e))
        return MG_OK; /* no data: nothing a loader could run */
    return scan_member(x, e);
}

/* ------------------------------------------------------------------ */
/* the session */

/* Enable what this kind needs, nothing else. ARCHIVE_WARN means "through
   an external program": never. A compressed stream is read with the raw
   format as one member that is sniffed again by content (a tar in it is a
   layer of its own): libarchive's own format bidding would take any stream
   that starts with a zero block for an empty tar. Its filter is appended,
   not bid for: bidding runs again on the decoded bytes and stacks a second
   decoder on any that pass a bid, and the lzma bid passes by chance (one
   byte and a dictionary size: a safetensors header of 1 MiB) and then
   fails the stream as corrupt. */
static int
enable(struct arc *x)
{
    const struct kind *k = &kinds[x->kind];
    if (k->filter == ARCHIVE_FILTER_NONE)
        return k->support(x->a) == ARCHIVE_OK;
    return archive_read_append_filter(x->a, k->filter) == ARCHIVE_OK &&
           archive_read_support_format_raw(x->a) == ARCHIVE_OK;
}

static enum mg_status
open_source(struct arc *x, struct mg_input *in)
{
    enum mg_status st;
    x->in = in;
    if (x->kind == MG_ARC_7Z && in->read_at == NULL) {
        const uint8_t *mem = NULL;
        size_t len = 0;
        st = mg_input_spool(in, x->ctx->lim->max_spool_bytes, &x->spool, &mem,
                            &len);
        if (st == MG_E_LIMIT)
            return stop_at(x, "max-spool-bytes",
                           "a 7z archive is read with random access; inside "
                           "a stream it is held in memory, up to this size");
        if (st == MG_E_NOMEM)
            return st;
        if (st != MG_OK) {
            x->stop = 1;
            if (source_failed(x))
                return MG_OK;
            return mg_ctx_incomplete(x->ctx, NULL, -1,
                                     "the 7z archive cannot be read");
        }
        mg_input_mem(&x->spooled, mem, len);
        x->in = &x->spooled;
    }
    if (x->in->read_at == NULL) {
        st = mg_input_stream(x->in, 0, UINT64_MAX, &x->cur, &x->s);
        if (st != MG_OK)
            return st;
        x->have_stream = 1;
    }
    /* read buffer of files, and of a gzip header to normalise */
    x->blk = mg_malloc(MG_ARCHIVE_BLOCK);
    x->scratch = mg_malloc(MG_ARCHIVE_BLOCK);
    return x->blk == NULL || x->scratch == NULL ? MG_E_NOMEM : MG_OK;
}

/* Open a libarchive session on the source (from its start). Returns MG_OK
   with x->a ready, or with x->stop set when it cannot be read (reported). */
static enum mg_status
open_session(struct arc *x)
{
    x->a = archive_read_new();
    if (x->a == NULL)
        return MG_E_NOMEM;
    x->pos = 0;
    x->fatal = 0;
    if (!enable(x)) {
        x->stop = 1;
        return mg_ctx_incomplete(x->ctx, NULL, -1,
                                 "this build of libarchive cannot read it");
    }
    archive_read_set_callback_data(x->a, x);
    archive_read_set_read_callback(x->a, src_read);
    archive_read_set_skip_callback(x->a, src_skip);
    if (x->in->read_at != NULL)
        archive_read_set_seek_callback(x->a, src_seek);
    x->opened = 0;
    if (archive_read_open1(x->a) != ARCHIVE_OK) {
        const char *e = archive_error_string(x->a);
        x->stop = 1;
        return report_error(x, x->what, e ? e : "not readable", 1);
    }
    x->opened = 1;
    if (x->reserved_bits)
        return mg_ctx_findf(x->ctx, MG_SEV_SUSPICIOUS, "archive-header", -1,
                            "the gzip header sets reserved flag bits: "
                            "Python's gzip (joblib) ignores them, gzip and "
                            "libarchive refuse the file; it is read as "
                            "Python reads it");
    if (kinds[x->kind].filter != ARCHIVE_FILTER_NONE &&
        (archive_filter_count(x->a) < 2 ||
         archive_filter_code(x->a, 0) != kinds[x->kind].filter)) {
        x->stop = 1;
        return report_error(x, x->what, "not a valid stream", 1);
    }
    return MG_OK;
}

/*
 * libarchive gives up on a 7z at the first member it cannot decode
 * (ARCHIVE_FATAL), though members in other folders are still readable.
 * Start a new session and pass over the entries already seen without
 * reading them (libarchive then skips whole folders by seeking).
 */
static enum mg_status
restart(struct arc *x)
{
    archive_read_free(x->a);
    x->a = NULL;
    x->restarts++;
    enum mg_status st = open_session(x);
    if (st != MG_OK || x->stop)
        return st;
    for (uint64_t i = 0; i < x->entries; i++) {
        struct archive_entry *e = NULL;
        int r = archive_read_next_header(x->a, &e);
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            x->stop = 1; /* what follows stays unread (already reported) */
            return MG_OK;
        }
    }
    return MG_OK;
}

static enum mg_status
run(struct arc *x)
{
    struct mg_ctx *ctx = x->ctx;
    snprintf(x->what, sizeof(x->what), "the %s data", kinds[x->kind].name);
    x->decompresses = x->kind != MG_ARC_TAR;
    enum mg_status st = open_session(x);
    unsigned retries = 0;
    while (st == MG_OK && !x->stop) {
        if (x->fatal) {
            if (x->kind != MG_ARC_7Z || x->restarts >= MG_ARCHIVE_RESTARTS)
                break;
            st = restart(x);
            continue;
        }
        if (mg_ctx_expired(ctx))
            return stop_at(x, "max-seconds", "in the %s", kinds[x->kind].name);
        struct archive_entry *e = NULL;
        int r = archive_read_next_header(x->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_RETRY && ++retries < 3)
            continue;
        retries = 0;
        /* an entry that fails counts too: it bounds the loop */
        if (++x->entries > ctx->lim->max_members) {
            st = stop_at(x, "max-members",
                         "the %s has more than %" PRIu64 " members",
                         kinds[x->kind].name, ctx->lim->max_members);
            break;
        }
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            const char *msg = archive_error_string(x->a);
            st = report_error(x, x->what, msg ? msg : "unreadable entry", 1);
            if (r == ARCHIVE_FATAL || e == NULL)
                break;
            continue;
        }
        x->raw = archive_format(x->a) == ARCHIVE_FORMAT_RAW;
        st = entry(x, e);
    }
    if (st == MG_OK && !x->stop && !x->fatal)
        st = mg_ctx_findf(ctx, MG_SEV_INFO, "archive-info", -1,
                          "%s: %" PRIu64 " entries, %" PRIu64
                          " scanned, %" PRIu64 " bytes decompressed",
                          kinds[x->kind].name, x->entries, x->scanned,
                          x->out_bytes);
    return st;
}

enum mg_status
mg_archive_scan(struct mg_ctx *ctx, struct mg_input *in, enum mg_arc_kind k)
{
    struct arc *x = mg_calloc(1, sizeof(*x));
    if (x == NULL)
        return MG_E_NOMEM;
    x->ctx = ctx;
    x->kind = k;
    /* A source that is a member of one of our layers tells us when it was
       stopped by a limit (already reported there). */
    if (in->pull == member_pull || in->read_at == window_read_at)
        x->outer = in->impl;
    /* libarchive converts member names to the locale's character set; in
       the C locale every non-ASCII 7z name would be lost. UTF-8 for this
       thread, for the time of the scan. */
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    locale_t old = utf8 != (locale_t)0 ? uselocale(utf8) : (locale_t)0;
    enum mg_status st = open_source(x, in);
    if (st == MG_OK && !x->stop)
        st = run(x);
    if (x->a != NULL)
        archive_read_free(x->a);
    if (x->have_stream)
        mg_stream_fini(&x->s);
    mg_free(x->blk);
    mg_free(x->scratch);
    mg_free(x->spool);
    mg_free(x);
    if (utf8 != (locale_t)0) {
        uselocale(old);
        freelocale(utf8);
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* the format table entries */

#define ARCHIVE_FORMAT(id, label, kind)                                      \
    static enum mg_status scan_##id(struct mg_ctx *ctx, struct mg_input *in) \
    {                                                                        \
        return mg_archive_scan(ctx, in, kind);                               \
    }                                                                        \
    const struct mg_format mg_format_##id = {label, mg_probe_##id, scan_##id};

ARCHIVE_FORMAT(7z, "7z", MG_ARC_7Z)
ARCHIVE_FORMAT(tar, "tar", MG_ARC_TAR)
ARCHIVE_FORMAT(gzip, "gzip", MG_ARC_GZIP)
ARCHIVE_FORMAT(bzip2, "bzip2", MG_ARC_BZIP2)
ARCHIVE_FORMAT(xz, "xz", MG_ARC_XZ)
ARCHIVE_FORMAT(lzma, "lzma", MG_ARC_LZMA)
ARCHIVE_FORMAT(zstd, "zstd", MG_ARC_ZSTD)
ARCHIVE_FORMAT(lz4, "lz4", MG_ARC_LZ4)
