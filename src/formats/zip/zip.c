/*
 * zip.c - the ZIP reader (see zip.h for the rules it follows).
 *
 * Order of work: find the end record (and its zip64 twin), read the
 * central directory into entries, read each entry's local header, report
 * every differential, then scan: PyTorch's data.pkl first (its persistent
 * ids say which members are raw tensor storages), then every other member
 * in central-directory order, by content, whatever its name. Bytes no
 * entry accounts for (before the first local header, between members,
 * after the end record) are scanned as layers of their own.
 */
#include "formats/zip/zip.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/format.h"
#include "formats/pickle/pickle.h"
#include "formats/torch/torch.h"
#include "io/ckd.h"
#include "io/reader.h"

#define SIG_LOCAL    0x04034b50u
#define SIG_CENTRAL  0x02014b50u
#define SIG_EOCD     0x06054b50u
#define SIG_Z64_LOC  0x07064b50u
#define SIG_Z64_EOCD 0x06064b50u
#define EOCD_LEN     22u
#define EOCD_SEARCH  (65535u + EOCD_LEN)
/* Members up to this size get their CRC checked (it means reading them
   whole, which large tensor storages are spared). */
#define CRC_CHECK_MAX (64u << 20)
/* Central directory bytes per member allowed before it is a limit. */
#define CD_BYTES_PER_MEMBER 512u

/* Flag bits a careful writer sets: deflate options, data descriptor,
   UTF-8 names. Anything else (encryption 0x1, patch data 0x20, strong
   encryption 0x40, masked central directory 0x2000, reserved bits) is a
   differential: zipfile refuses some, miniz ignores some. */
#define FLAGS_BENIGN 0x080eu

struct zent {
    char *name; /* central name, NUL-terminated copy */
    uint16_t nlen;
    uint16_t flags;
    uint16_t method;
    uint32_t crc;
    uint64_t csize, usize, lho;
    uint64_t data_off; /* 0 when the local header is unusable */
    uint64_t end;      /* data_off + csize */
    int storage;       /* a tensor storage data.pkl refers to */
    int scanned;
};

struct zip {
    struct mg_ctx *ctx; /* NULL for mg_zip_reader: nothing is reported */
    const struct mg_limits *lim;
    int damaged; /* without ctx: something a scan would have reported */
    struct mg_input *in;
    uint64_t size;
    uint64_t eocd_off, eocd_end;
    uint64_t cd_off, cd_size;
    uint64_t n;
    struct zent *e;
    /* PyTorch layout */
    char prefix[256]; /* "archive/" */
    size_t prefix_len;
    int appended;    /* the ZIP follows other content (a polyglot) */
    int truncated;   /* max-members cut the member list */
    int torch;       /* data.pkl found */
    int torchscript; /* code/ or constants.pkl found */
    struct mg_torch_storages keys; /* from data.pkl persistent ids */
};

/* A suspicious finding, or (reader without a scan) a note that the
   archive is not clean. */
__attribute__((format(printf, 4, 5))) static enum mg_status
zfind(struct zip *z, const char *rule, int64_t off, const char *fmt, ...)
{
    if (z->ctx == NULL) {
        z->damaged = 1;
        return MG_OK;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct mg_finding_in f = {.sev = MG_SEV_SUSPICIOUS,
                              .rule = rule,
                              .message = msg,
                              .offset = off < 0 ? 0 : (uint64_t)off,
                              .has_offset = off >= 0};
    return mg_ctx_add(z->ctx, &f);
}

static enum mg_status
zinc(struct zip *z, const char *limit, int64_t off, const char *why)
{
    if (z->ctx == NULL) {
        z->damaged = 1;
        return MG_OK;
    }
    return mg_ctx_incomplete(z->ctx, limit, off, why);
}

static uint16_t
le16(const uint8_t *p)
{
    return mg_le16(p);
}

static uint32_t
le32(const uint8_t *p)
{
    return mg_le32(p);
}

/* ------------------------------------------------------------------ */
/* end record */

static enum mg_status
find_eocd(struct zip *z, int *found)
{
    *found = 0;
    if (z->size < EOCD_LEN)
        return MG_OK;
    uint64_t span = z->size < EOCD_SEARCH ? z->size : EOCD_SEARCH;
    uint64_t start = z->size - span;
    uint8_t *buf = mg_malloc((size_t)span);
    if (buf == NULL)
        return MG_E_NOMEM;
    enum mg_status st = mg_input_read(z->in, start, buf, (size_t)span);
    if (st != MG_OK) {
        mg_free(buf);
        return st;
    }
    /* The last signature whose comment fits, as miniz searches backwards.
     */
    for (uint64_t i = span - EOCD_LEN + 1; i-- > 0;) {
        if (le32(buf + i) != SIG_EOCD)
            continue;
        uint16_t clen = le16(buf + i + 20);
        if (i + EOCD_LEN + clen > span)
            continue;
        const uint8_t *p = buf + i;
        z->eocd_off = start + i;
        z->eocd_end = z->eocd_off + EOCD_LEN + clen;
        z->n = le16(p + 10);
        z->cd_size = le32(p + 12);
        z->cd_off = le32(p + 16);
        *found = 1;
        break;
    }
    mg_free(buf);
    return MG_OK;
}

static enum mg_status
read_zip64(struct zip *z)
{
    if (z->eocd_off < 20)
        return MG_OK;
    uint8_t loc[20];
    if (mg_input_read(z->in, z->eocd_off - 20, loc, 20) != MG_OK ||
        le32(loc) != SIG_Z64_LOC)
        return MG_OK;
    uint64_t z64 = mg_le64(loc + 8);
    uint8_t rec[56];
    if (z64 > z->size || mg_input_read(z->in, z64, rec, 56) != MG_OK ||
        le32(rec) != SIG_Z64_EOCD)
        return zfind(z, "zip-header", (int64_t)(z->eocd_off - 20),
                     "zip64 locator points at no zip64 end record");
    z->n = mg_le64(rec + 32);
    z->cd_size = mg_le64(rec + 40);
    z->cd_off = mg_le64(rec + 48);
    return MG_OK;
}

/* ------------------------------------------------------------------ */
/* central directory and local headers */

static void
zip64_extra(const uint8_t *x,
            size_t xlen,
            struct zent *e,
            int want_u,
            int want_c,
            int want_o)
{
    struct mg_reader r;
    rd_init(&r, x, xlen);
    while (rd_left(&r) >= 4) {
        uint16_t id, len;
        struct mg_reader f;
        if (rd_u16le(&r, &id) != MG_OK || rd_u16le(&r, &len) != MG_OK ||
            rd_sub(&r, len, &f) != MG_OK)
            return;
        if (id != 0x0001)
            continue;
        uint64_t v;
        if (want_u && rd_u64le(&f, &v) == MG_OK)
            e->usize = v;
        if (want_c && rd_u64le(&f, &v) == MG_OK)
            e->csize = v;
        if (want_o && rd_u64le(&f, &v) == MG_OK)
            e->lho = v;
        return;
    }
}

static enum mg_status
read_central(struct zip *z)
{
    const struct mg_limits *l = z->lim;
    /* z->n is what the end record lists until the entries are read; it
       becomes the number of entries actually read. */
    uint64_t listed = z->n;
    z->n = 0;
    if (listed > l->max_members) {
        enum mg_status st = zinc(z, "max-members", (int64_t)z->eocd_off,
                                 "the central directory lists more members");
        if (st != MG_OK)
            return st;
        listed = l->max_members;
        z->truncated = 1;
    }
    uint64_t cd_end;
    if (ckd_add_u64(&cd_end, z->cd_off, z->cd_size) || cd_end > z->size) {
        enum mg_status st = zfind(z, "zip-header", (int64_t)z->eocd_off,
                                  "the central directory (offset %" PRIu64
                                  ", %" PRIu64 " bytes) lies outside the file",
                                  z->cd_off, z->cd_size);
        if (st != MG_OK)
            return st;
        return zinc(z, NULL, (int64_t)z->eocd_off,
                    "no usable central directory");
    }
    uint64_t cap = (listed + 1) * (uint64_t)CD_BYTES_PER_MEMBER + (1u << 20);
    if (z->cd_size > cap || z->cd_size > MG_MAX_ALLOCATION)
        return zinc(z, "max-members", (int64_t)z->cd_off,
                    "the central directory is too large for "
                    "its member count");
    uint8_t *cd = mg_malloc((size_t)z->cd_size);
    if (cd == NULL)
        return MG_E_NOMEM;
    enum mg_status st = mg_input_read(z->in, z->cd_off, cd, (size_t)z->cd_size);
    if (st != MG_OK) {
        mg_free(cd);
        return zinc(z, NULL, (int64_t)z->cd_off,
                    "the central directory cannot be read");
    }
    size_t cap_e = listed < 1024 ? (size_t)listed + 1 : 1024;
    z->e = mg_calloc(cap_e, sizeof(*z->e));
    if (z->e == NULL) {
        mg_free(cd);
        return MG_E_NOMEM;
    }
    struct mg_reader r;
    rd_init(&r, cd, (size_t)z->cd_size);
    uint64_t i = 0;
    for (; i < listed; i++) {
        const uint8_t *h;
        if (rd_bytes(&r, 46, &h) != MG_OK || le32(h) != SIG_CENTRAL) {
            st = zfind(z, "zip-header", (int64_t)(z->cd_off + r.pos),
                       "central directory entry %" PRIu64
                       " is missing or damaged (%" PRIu64 " listed)",
                       i, listed);
            break;
        }
        if (i == cap_e) {
            size_t nc = cap_e * 2;
            struct zent *ne = mg_reallocarray(z->e, nc, sizeof(*ne));
            if (ne == NULL) {
                st = MG_E_NOMEM;
                break;
            }
            memset(ne + cap_e, 0, (nc - cap_e) * sizeof(*ne));
            z->e = ne;
            cap_e = nc;
        }
        struct zent *e = &z->e[i];
        e->flags = le16(h + 8);
        e->method = le16(h + 10);
        e->crc = le32(h + 16);
        e->csize = le32(h + 20);
        e->usize = le32(h + 24);
        uint16_t nlen = le16(h + 28), xlen = le16(h + 30), clen = le16(h + 32);
        e->lho = le32(h + 42);
        const uint8_t *name, *extra;
        if (rd_bytes(&r, nlen, &name) != MG_OK ||
            rd_bytes(&r, xlen, &extra) != MG_OK || rd_skip(&r, clen) != MG_OK) {
            st = zfind(z, "zip-header", (int64_t)(z->cd_off + r.pos),
                       "central directory entry %" PRIu64
                       " runs past the directory",
                       i);
            break;
        }
        e->name = mg_strndup((const char *)name, nlen);
        if (e->name == NULL) {
            st = MG_E_NOMEM;
            break;
        }
        e->nlen = nlen;
        zip64_extra(extra, xlen, e, e->usize == 0xffffffffu,
                    e->csize == 0xffffffffu, e->lho == 0xffffffffu);
    }
    mg_free(cd);
    z->n = i;
    return st;
}

static int
name_has_nul(const struct zent *e)
{
    return strlen(e->name) != e->nlen;
}

/* Bit 3: sizes and CRC follow the data in a descriptor, with or without
   its signature, 32- or 64-bit. Its length is what matches e. */
static uint64_t
descriptor_len(struct zip *z, const struct zent *e)
{
    uint8_t d[24];
    uint64_t at = e->data_off + e->csize;
    size_t k = z->size - at < sizeof(d) ? (size_t)(z->size - at) : sizeof(d);
    if (mg_input_read(z->in, at, d, k) != MG_OK)
        return 0;
    size_t sig = (k >= 4 && le32(d) == 0x08074b50u) ? 4 : 0;
    if (k >= sig + 12 && le32(d + sig) == e->crc &&
        le32(d + sig + 4) == (uint32_t)e->csize)
        return sig + 12;
    if (k >= sig + 20 && le32(d + sig) == e->crc &&
        mg_le64(d + sig + 4) == e->csize)
        return sig + 20;
    return 0;
}

/* Read the local header of e; report how it differs from the central
   entry. */
static enum mg_status
read_local(struct zip *z, struct zent *e, uint64_t idx)
{
    uint8_t h[30];
    if (e->lho > z->size || mg_input_read(z->in, e->lho, h, 30) != MG_OK ||
        le32(h) != SIG_LOCAL)
        return zfind(z, "zip-header", (int64_t)e->lho,
                     "member %s: no local header at offset %" PRIu64, e->name,
                     e->lho);
    uint16_t lflags = le16(h + 6), lmethod = le16(h + 8);
    uint16_t nlen = le16(h + 26), xlen = le16(h + 28);
    enum mg_status st = MG_OK;
    char *lname = mg_malloc((size_t)nlen + 1);
    if (lname == NULL)
        return MG_E_NOMEM;
    if (mg_input_read(z->in, e->lho + 30, lname, nlen) != MG_OK) {
        mg_free(lname);
        return zfind(z, "zip-header", (int64_t)e->lho,
                     "member %s: local header runs past the file", e->name);
    }
    lname[nlen] = '\0';
    if (nlen != e->nlen || memcmp(lname, e->name, nlen) != 0)
        st = zfind(z, "zip-name-mismatch", (int64_t)e->lho,
                   "member %" PRIu64
                   ": central directory says '%s', local header says "
                   "'%s' (PyTorch uses the central name, other readers "
                   "the local one)",
                   idx, e->name, lname);
    mg_free(lname);
    if (st == MG_OK && (lflags != e->flags || lmethod != e->method))
        st = zfind(z, "zip-header", (int64_t)e->lho,
                   "member %s: local header flags/method (%#x/%u) "
                   "differ from the central directory (%#x/%u)",
                   e->name, lflags, lmethod, e->flags, e->method);
    uint64_t off = e->lho + 30 + nlen + xlen;
    if (st == MG_OK && (off > z->size || e->csize > z->size - off)) {
        return zfind(z, "zip-header", (int64_t)e->lho,
                     "member %s: data (%" PRIu64 " bytes at %" PRIu64
                     ") runs past the file",
                     e->name, e->csize, off);
    }
    if (st != MG_OK)
        return st;
    e->data_off = off;
    e->end = off + e->csize;
    if (e->flags & 0x08)
        e->end += descriptor_len(z, e);
    return MG_OK;
}

static int
cmp_lho(const void *a, const void *b)
{
    const struct zent *x = *(const struct zent *const *)a;
    const struct zent *y = *(const struct zent *const *)b;
    return x->lho < y->lho ? -1 : x->lho > y->lho ? 1 : 0;
}

static int
cmp_name_ci(const void *a, const void *b)
{
    const struct zent *x = *(const struct zent *const *)a;
    const struct zent *y = *(const struct zent *const *)b;
    return strcasecmp(x->name, y->name);
}

/* Scan bytes [off, end) that no member accounts for. */
static enum mg_status
scan_region(struct zip *z, uint64_t off, uint64_t end, const char *what)
{
    char name[64];
    snprintf(name, sizeof(name), "<%s@%" PRIu64 ">", what, off);
    struct mg_input_window w;
    struct mg_input sub;
    if (mg_input_sub(z->in, off, end - off, &w, &sub) != MG_OK)
        return MG_OK;
    return mg_scan_input(z->ctx, &sub, name);
}

/* Duplicates, overlaps and bytes no member accounts for. */
static enum mg_status
check_layout(struct zip *z)
{
    struct mg_ctx *ctx = z->ctx;
    enum mg_status st = MG_OK;
    if (z->n == 0)
        return MG_OK;
    struct zent **v = mg_calloc((size_t)z->n, sizeof(*v));
    if (v == NULL)
        return MG_E_NOMEM;
    for (uint64_t i = 0; i < z->n; i++)
        v[i] = &z->e[i];
    /* miniz looks names up without regard to case. */
    qsort(v, (size_t)z->n, sizeof(*v), cmp_name_ci);
    for (uint64_t i = 1; i < z->n && st == MG_OK; i++)
        if (strcasecmp(v[i - 1]->name, v[i]->name) == 0)
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-duplicate",
                              (int64_t)v[i]->lho,
                              "two members are named '%s': readers disagree "
                              "on which one a name means",
                              v[i]->name);
    qsort(v, (size_t)z->n, sizeof(*v), cmp_lho);
    uint64_t covered = 0;
    int first = 1;
    struct zent *prev = NULL;
    for (uint64_t i = 0; i < z->n && st == MG_OK; i++) {
        struct zent *e = v[i];
        if (e->data_off == 0)
            continue;
        if (first) {
            first = 0;
            if (e->lho > 0 && !z->appended) {
                st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-prefix", 0,
                                  "%" PRIu64 " bytes before the first local "
                                  "header: torch.load does not read this "
                                  "file as a ZIP but unpickles its start",
                                  e->lho);
                if (st == MG_OK)
                    st = scan_region(z, 0, e->lho, "prefix");
            }
        } else if (e->lho < covered) {
            /* Members that share one byte range hold the same content:
               scanning it once is enough, and keeps an overlapping-member
               bomb from being inflated n times. */
            if (prev != NULL && prev->data_off == e->data_off &&
                prev->csize == e->csize && prev->method == e->method)
                e->scanned = 1;
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-overlap",
                              (int64_t)e->lho,
                              "member %s starts inside the previous member "
                              "(overlapping members: one byte range read as "
                              "several files)",
                              e->name);
        } else if (e->lho > covered) {
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-gap",
                              (int64_t)covered,
                              "%" PRIu64 " bytes between members that no "
                              "entry accounts for",
                              e->lho - covered);
            if (st == MG_OK)
                st = scan_region(z, covered, e->lho, "gap");
        }
        if (e->end > covered)
            covered = e->end;
        prev = e;
    }
    /* Members past max-members are not looked at: neither are the bytes
       they cover. */
    if (z->truncated)
        first = 1;
    if (st == MG_OK && !first && covered < z->cd_off && z->cd_off <= z->size)
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-gap", (int64_t)covered,
                          "%" PRIu64 " bytes between the last member and the "
                          "central directory",
                          z->cd_off - covered);
    if (st == MG_OK && !first && covered < z->cd_off && z->cd_off <= z->size)
        st = scan_region(z, covered, z->cd_off, "gap");
    mg_free(v);
    if (st == MG_OK && z->eocd_end < z->size) {
        st = mg_ctx_findf(
            ctx, MG_SEV_SUSPICIOUS, "zip-trailing", (int64_t)z->eocd_end,
            "%" PRIu64 " bytes after the end record", z->size - z->eocd_end);
        if (st == MG_OK)
            st = scan_region(z, z->eocd_end, z->size, "trailing");
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* PyTorch layout */

static int
name_is(const struct zip *z, const struct zent *e, const char *rel)
{
    size_t rl = strlen(rel);
    return e->nlen == z->prefix_len + rl &&
           strncasecmp(e->name, z->prefix, z->prefix_len) == 0 &&
           strcasecmp(e->name + z->prefix_len, rel) == 0;
}

/* Members sorted by name without case, as miniz looks names up (NULL: no
   memory). Lookups are then binary searches: a checkpoint has a member
   per storage. */
static struct zent **
sort_by_name(struct zip *z)
{
    struct zent **v = mg_calloc(z->n ? (size_t)z->n : 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    for (uint64_t i = 0; i < z->n; i++)
        v[i] = &z->e[i];
    qsort(v, (size_t)z->n, sizeof(*v), cmp_name_ci);
    return v;
}

/* name against prefix + rel, in the order of cmp_name_ci. */
static int
cmp_prefixed(const char *name, const char *prefix, size_t plen, const char *rel)
{
    int c = strncasecmp(name, prefix, plen);
    return c != 0 ? c : strcasecmp(name + plen, rel);
}

/* The first position in v (sorted) whose name is not below prefix + rel;
   the members named prefix + rel (name_is) follow it. */
static size_t
lower_bound(const struct zip *z, struct zent *const *v, const char *rel)
{
    size_t lo = 0, hi = (size_t)z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_prefixed(v[mid]->name, z->prefix, z->prefix_len, rel) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
at_name(const struct zip *z, struct zent *const *v, size_t i, const char *rel)
{
    return i < z->n &&
           cmp_prefixed(v[i]->name, z->prefix, z->prefix_len, rel) == 0;
}

static void
find_layout(struct zip *z)
{
    if (z->n == 0)
        return;
    /* PyTorch's reader takes the folder of the first member as the
       archive name. */
    const char *slash = strchr(z->e[0].name, '/');
    if (slash == NULL ||
        (size_t)(slash - z->e[0].name) + 1 >= sizeof(z->prefix))
        return;
    z->prefix_len = (size_t)(slash - z->e[0].name) + 1;
    memcpy(z->prefix, z->e[0].name, z->prefix_len);
    z->prefix[z->prefix_len] = '\0';
    for (uint64_t i = 0; i < z->n; i++) {
        const struct zent *e = &z->e[i];
        if (name_is(z, e, "data.pkl"))
            z->torch = 1;
        if (name_is(z, e, "constants.pkl") ||
            (e->nlen > z->prefix_len + 5 &&
             strncasecmp(e->name, z->prefix, z->prefix_len) == 0 &&
             strncmp(e->name + z->prefix_len, "code/", 5) == 0))
            z->torchscript = 1;
    }
}

/* Persistent ids of data.pkl: ('storage', type, key, location, numel). */
static enum mg_status
on_pickle_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)vm;
    struct zip *z = user;
    struct mg_torch_pid pid;
    if (!mg_torch_pid_event(ev, &pid))
        return MG_OK;
    return mg_torch_storages_add(&z->keys, pid.key->data, pid.key->len, 0,
                                 z->ctx->lim->max_members);
}

static enum mg_status
mark_storages(struct zip *z)
{
    struct zent **v = sort_by_name(z);
    if (v == NULL)
        return MG_E_NOMEM;
    enum mg_status st = MG_OK;
    for (size_t k = 0; k < z->keys.n && st == MG_OK; k++) {
        size_t n = strlen(z->keys.v[k].key) + 6;
        char *rel = mg_malloc(n);
        if (rel == NULL) {
            st = MG_E_NOMEM;
            break;
        }
        snprintf(rel, n, "data/%s", z->keys.v[k].key);
        int found = 0;
        for (size_t i = lower_bound(z, v, rel); at_name(z, v, i, rel); i++)
            if (name_is(z, v[i], rel)) {
                v[i]->storage = 1;
                found = 1;
            }
        if (!found)
            st = mg_ctx_findf(z->ctx, MG_SEV_SUSPICIOUS,
                              "torch-missing-storage", -1,
                              "data.pkl refers to storage '%s' but the archive "
                              "has no member %s%s",
                              z->keys.v[k].key, z->prefix, rel);
        mg_free(rel);
    }
    mg_free(v);
    return st;
}

/* ------------------------------------------------------------------ */
/* members */

static enum mg_status
check_crc_stored(struct zip *z, struct zent *e)
{
    uint8_t buf[16384];
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    for (uint64_t off = 0; off < e->csize;) {
        size_t k = e->csize - off < sizeof(buf) ? (size_t)(e->csize - off)
                                                : sizeof(buf);
        if (mg_input_read(z->in, e->data_off + off, buf, k) != MG_OK)
            return MG_OK;
        crc = (uint32_t)crc32(crc, buf, (uInt)k);
        off += k;
    }
    if (crc == e->crc)
        return MG_OK;
    return mg_ctx_findf(z->ctx, MG_SEV_SUSPICIOUS, "zip-crc", (int64_t)e->lho,
                        "member %s: CRC-32 is %08x, the directory says %08x "
                        "(PyTorch does not check it; zipfile refuses)",
                        e->name, crc, e->crc);
}

/* data.pkl is unpickled whatever its content: scan it as a pickle, in a
   layer of its own, noting its persistent ids. */
static enum mg_status
scan_data_pkl(struct zip *z, struct mg_stream *s, const char *name)
{
    enum mg_status st = mg_ctx_push(z->ctx, name);
    if (st != MG_OK)
        return st == MG_E_LIMIT ? MG_OK : st;
    struct mg_pickle_opts o = {.on_event = on_pickle_event, .user = z};
    struct mg_pickle_summary sum;
    st = mg_pickle_scan_stream(z->ctx, s, &o, &sum);
    mg_ctx_pop(z->ctx);
    mg_stream_fini(s);
    return st;
}

/* A member's content: data.pkl read for its storage keys (with_keys;
   extraction, ctx->want, takes it the common way), or scanned itself. */
static enum mg_status
scan_content(struct zip *z,
             const struct zent *e,
             struct mg_input *in,
             int with_keys,
             const char *name)
{
    if (with_keys && z->ctx->want == NULL) {
        struct mg_input_cursor cur;
        struct mg_stream s;
        enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &s);
        if (st == MG_OK)
            st = scan_data_pkl(z, &s, name);
        return st;
    }
    return mg_scan_input_hint(z->ctx, in, name,
                              e->storage ? MG_HINT_TENSOR_DATA : MG_HINT_NONE);
}

static enum mg_status
scan_member(struct zip *z, struct zent *e, int with_keys)
{
    struct mg_ctx *ctx = z->ctx;
    enum mg_status st = MG_OK;
    e->scanned = 1;
    if (e->data_off == 0)
        return MG_OK;
    if (e->nlen > 0 && e->name[e->nlen - 1] == '/' && e->csize == 0)
        return MG_OK; /* a folder */
    if (name_has_nul(e))
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-header", (int64_t)e->lho,
                          "member name holds a NUL byte: '%s...'", e->name);
    if (st == MG_OK && (e->flags & ~FLAGS_BENIGN))
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-flags", (int64_t)e->lho,
                          "member %s has flag bits %#x set (%s): zipfile "
                          "refuses such members, PyTorch's reader reads them",
                          e->name, e->flags & ~FLAGS_BENIGN,
                          (e->flags & 0x41) ? "encryption" : "unusual");
    if (st != MG_OK)
        return st;
    const char *name = e->name[0] ? e->name : "<unnamed>";
    if (e->method == 0) {
        if (e->usize != e->csize)
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-header",
                              (int64_t)e->lho,
                              "stored member %s: sizes differ (%" PRIu64
                              " stored, %" PRIu64 " declared)",
                              e->name, e->csize, e->usize);
        struct mg_input_window w;
        struct mg_input sub;
        if (st == MG_OK &&
            mg_input_sub(z->in, e->data_off, e->csize, &w, &sub) == MG_OK) {
            st = scan_content(z, e, &sub, with_keys, name);
        }
        /* Tensor storages are data: their CRC is not worth reading them. */
        if (st == MG_OK && !e->storage && e->csize <= CRC_CHECK_MAX)
            st = check_crc_stored(z, e);
        return st;
    }
    if (e->method != 8)
        return mg_ctx_incomplete(ctx, NULL, (int64_t)e->lho,
                                 e->method == 12   ? "bzip2 ZIP member"
                                 : e->method == 14 ? "LZMA ZIP member"
                                 : e->method == 93 ? "zstd ZIP member"
                                                   : "ZIP member compressed "
                                                     "with an unknown method");
    struct mg_inflate *zf = NULL;
    st = mg_inflate_new(ctx, z->in, e->data_off, e->csize, -15, e->usize, &zf);
    if (st != MG_OK)
        return st == MG_E_NOMEM ? st : MG_OK;
    struct mg_input member;
    mg_inflate_input(zf, &member);
    st = scan_content(z, e, &member, with_keys, name);
    const char *why = NULL;
    if (st == MG_OK && !e->storage && !mg_inflate_limited(zf) &&
        e->usize <= CRC_CHECK_MAX && !mg_inflate_failed(zf, NULL)) {
        enum mg_status d = mg_inflate_drain(zf);
        if (d == MG_OK && mg_inflate_crc(zf) != e->crc)
            st =
                mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-crc", (int64_t)e->lho,
                             "member %s: CRC-32 is %08x, the directory says "
                             "%08x (PyTorch does not check it; zipfile "
                             "refuses)",
                             e->name, mg_inflate_crc(zf), e->crc);
        else if (d == MG_OK && mg_inflate_out(zf) != e->usize)
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-header",
                              (int64_t)e->lho,
                              "member %s inflates to %" PRIu64
                              " bytes, the directory says %" PRIu64,
                              e->name, mg_inflate_out(zf), e->usize);
    }
    if (st == MG_OK && mg_inflate_failed(zf, &why))
        st = mg_ctx_incomplete(ctx, NULL, (int64_t)e->lho, why);
    mg_inflate_free(zf);
    return st;
}

static void
zip_free(struct zip *z)
{
    for (uint64_t i = 0; z->e != NULL && i < z->n; i++)
        mg_free(z->e[i].name);
    mg_free(z->e);
    mg_torch_storages_free(&z->keys);
}

/* Everything after finding the end record. */
static enum mg_status
scan_archive(struct zip *z)
{
    struct mg_ctx *ctx = z->ctx;
    enum mg_status st = read_zip64(z);
    if (st == MG_OK)
        st = read_central(z);
    for (uint64_t i = 0; st == MG_OK && i < z->n; i++)
        st = read_local(z, &z->e[i], i);
    if (st == MG_OK)
        st = check_layout(z);
    if (st != MG_OK)
        return st;
    find_layout(z);
    if (z->torch)
        mg_ctx_refine_format(ctx, z->torchscript ? "torchscript" : "pytorch");
    else if (z->torchscript)
        mg_ctx_refine_format(ctx, "torchscript");
    if (z->torch) {
        for (uint64_t i = 0; i < z->n && st == MG_OK; i++)
            if (name_is(z, &z->e[i], "data.pkl") && !z->e[i].scanned)
                st = scan_member(z, &z->e[i], 1);
        if (st == MG_OK)
            st = mark_storages(z);
    }
    for (uint64_t i = 0; i < z->n && st == MG_OK; i++) {
        if (z->e[i].scanned)
            continue;
        if (mg_ctx_expired(ctx))
            return mg_ctx_incomplete(ctx, "max-seconds", -1, NULL);
        st = scan_member(z, &z->e[i], 0);
    }
    return st;
}

static unsigned
zip_probe(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    if (n >= 4 && mg_le32(h) == SIG_LOCAL)
        return 32;
    /* An empty archive is just an end record. */
    if (n >= 4 && n == EOCD_LEN && mg_le32(h) == SIG_EOCD)
        return 32;
    return 0;
}

static enum mg_status
zip_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    uint8_t *spooled = NULL;
    struct mg_input mem_in;
    enum mg_status st = MG_OK;
    if (in->read_at == NULL) {
        /* Random access is needed: hold the member in memory (bounded). */
        const uint8_t *mem;
        size_t len;
        st =
            mg_input_spool(in, ctx->lim->max_spool_bytes, &spooled, &mem, &len);
        if (st == MG_E_LIMIT) {
            mg_free(spooled);
            return mg_ctx_incomplete(ctx, "max-spool-bytes", -1,
                                     "a ZIP inside a stream");
        }
        if (st != MG_OK)
            return st == MG_E_NOMEM
                       ? st
                       : mg_ctx_incomplete(ctx, NULL, -1, mg_strerror(st));
        mg_input_mem(&mem_in, mem, len);
        in = &mem_in;
    }
    struct zip z;
    memset(&z, 0, sizeof(z));
    z.ctx = ctx;
    z.lim = ctx->lim;
    z.in = in;
    z.size = in->size;
    int found = 0;
    st = find_eocd(&z, &found);
    if (st == MG_OK && !found)
        st = mg_ctx_incomplete(ctx, NULL, 0,
                               "ZIP without an end-of-central-directory "
                               "record");
    else if (st == MG_OK)
        st = scan_archive(&z);
    else if (st != MG_E_NOMEM)
        st = mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    zip_free(&z);
    mg_free(spooled);
    return st;
}

enum mg_status
mg_zip_scan_appended(struct mg_ctx *ctx, struct mg_input *in)
{
    if (in->read_at == NULL || in->size < EOCD_LEN ||
        (in->head_len >= 4 && mg_le32(in->head) == SIG_LOCAL))
        return MG_OK;
    struct zip z;
    memset(&z, 0, sizeof(z));
    z.ctx = ctx;
    z.lim = ctx->lim;
    z.in = in;
    z.size = in->size;
    int found = 0;
    enum mg_status st = find_eocd(&z, &found);
    if (st != MG_OK || !found) {
        zip_free(&z);
        return st == MG_E_NOMEM ? st : MG_OK;
    }
    /* Only a directory that really points at local headers counts. */
    uint8_t h[4];
    uint64_t cd_end;
    if (z.n == 0 || ckd_add_u64(&cd_end, z.cd_off, z.cd_size) ||
        cd_end > z.size || mg_input_read(in, z.cd_off, h, 4) != MG_OK ||
        le32(h) != SIG_CENTRAL) {
        zip_free(&z);
        return MG_OK;
    }
    st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "zip-appended", (int64_t)z.cd_off,
                      "a ZIP archive is appended to this file: zipfile-based "
                      "loaders read the archive, others read the start");
    if (st == MG_OK && (st = mg_ctx_push(ctx, "<appended-zip>")) == MG_OK) {
        z.appended = 1;
        st = scan_archive(&z);
        mg_ctx_pop(ctx);
    } else if (st == MG_E_LIMIT) {
        st = MG_OK;
    }
    zip_free(&z);
    return st;
}

const struct mg_format mg_format_zip = {"zip", zip_probe, zip_scan};

/* ------------------------------------------------------------------ */
/* reading members without scanning (modelgate convert) */

struct mg_zip_reader {
    struct zip z;
    struct zent **byname; /* members sorted by name, without case */
};

enum mg_status
mg_zip_reader_open(struct mg_input *in,
                   const struct mg_limits *lim,
                   struct mg_zip_reader **out)
{
    *out = NULL;
    if (in->read_at == NULL)
        return MG_E_UNSUPPORTED;
    struct mg_zip_reader *r = mg_calloc(1, sizeof(*r));
    if (r == NULL)
        return MG_E_NOMEM;
    struct zip *z = &r->z;
    z->lim = lim;
    z->in = in;
    z->size = in->size;
    int found = 0;
    enum mg_status st = find_eocd(z, &found);
    if (st == MG_OK && !found)
        st = MG_E_MALFORMED;
    if (st == MG_OK)
        st = read_zip64(z);
    if (st == MG_OK)
        st = read_central(z);
    for (uint64_t i = 0; st == MG_OK && i < z->n; i++)
        st = read_local(z, &z->e[i], i);
    if (st == MG_OK && z->e == NULL)
        st = MG_E_MALFORMED;
    if (st == MG_OK)
        find_layout(z);
    if (st == MG_OK && (r->byname = sort_by_name(z)) == NULL)
        st = MG_E_NOMEM;
    if (st != MG_OK) {
        mg_zip_reader_close(r);
        return st;
    }
    *out = r;
    return MG_OK;
}

void
mg_zip_reader_close(struct mg_zip_reader *r)
{
    if (r == NULL)
        return;
    zip_free(&r->z);
    mg_free(r->byname);
    mg_free(r);
}

int
mg_zip_reader_damaged(const struct mg_zip_reader *r)
{
    return r->z.damaged;
}

size_t
mg_zip_reader_count(const struct mg_zip_reader *r)
{
    return (size_t)r->z.n;
}

const char *
mg_zip_reader_name(const struct mg_zip_reader *r, size_t i)
{
    return i < r->z.n ? r->z.e[i].name : NULL;
}

uint64_t
mg_zip_reader_size(const struct mg_zip_reader *r, size_t i)
{
    return i < r->z.n ? r->z.e[i].usize : 0;
}

const char *
mg_zip_reader_prefix(const struct mg_zip_reader *r)
{
    return r->z.prefix;
}

long
mg_zip_reader_find(const struct mg_zip_reader *r, const char *rel)
{
    const struct zip *z = &r->z;
    long found = -1;
    for (size_t i = lower_bound(z, r->byname, rel);
         at_name(z, r->byname, i, rel); i++) {
        if (!name_is(z, r->byname[i], rel))
            continue; /* a NUL inside the name: not this one */
        if (found >= 0)
            return -2; /* ambiguous: duplicate names */
        found = (long)(r->byname[i] - z->e);
    }
    return found;
}

enum mg_status
mg_zip_reader_read(struct mg_zip_reader *r, size_t i, void *buf, size_t n)
{
    const struct zent *e = i < r->z.n ? &r->z.e[i] : NULL;
    if (e == NULL || e->data_off == 0 || e->usize != n)
        return MG_E_INVALID;
    if (e->method == 0)
        return e->csize == n ? mg_input_read(r->z.in, e->data_off, buf, n)
                             : MG_E_MALFORMED;
    if (e->method != 8)
        return MG_E_UNSUPPORTED;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -15) != Z_OK)
        return MG_E_NOMEM;
    uint8_t in[65536];
    uint64_t off = 0;
    enum mg_status st = MG_OK;
    zs.next_out = buf;
    zs.avail_out = (uInt)n;
    int rc = Z_OK;
    while (rc == Z_OK && n <= UINT32_MAX) {
        if (zs.avail_in == 0) {
            size_t k = e->csize - off < sizeof(in) ? (size_t)(e->csize - off)
                                                   : sizeof(in);
            if (k == 0) {
                st = MG_E_TRUNCATED;
                break;
            }
            st = mg_input_read(r->z.in, e->data_off + off, in, k);
            if (st != MG_OK)
                break;
            off += k;
            zs.next_in = in;
            zs.avail_in = (uInt)k;
        }
        rc = inflate(&zs, Z_NO_FLUSH);
    }
    if (st == MG_OK &&
        (n > UINT32_MAX || rc != Z_STREAM_END || zs.avail_out != 0 ||
         (uint32_t)crc32(0L, buf, (uInt)n) != e->crc))
        st = MG_E_MALFORMED;
    inflateEnd(&zs);
    return st;
}

enum mg_status
mg_zip_reader_data_offset(const struct mg_zip_reader *r,
                          size_t i,
                          uint64_t *off)
{
    const struct zent *e = i < r->z.n ? &r->z.e[i] : NULL;
    if (e == NULL || e->data_off == 0)
        return MG_E_INVALID;
    /* Stored sizes that disagree are a header the scan reports; which one
       a reader believes is not worth guessing. */
    if (e->method != 0 || e->usize != e->csize)
        return MG_E_UNSUPPORTED;
    *off = e->data_off;
    return MG_OK;
}
