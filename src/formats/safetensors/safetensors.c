/*
 * safetensors.c - the safetensors format: an 8-byte little-endian header
 * length, a JSON header, then the tensor bytes. The file cannot run code;
 * what matters is that its header is exactly what the reference loader
 * (huggingface/safetensors) accepts, because anything else is either a
 * parser differential (duplicate keys, extra fields), a way to hide bytes
 * (gaps, trailing data) or an attack on readers (offsets out of range,
 * overlapping tensors, sizes that overflow). Every deviation is reported;
 * the tensor bytes themselves are not examined.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "io/ckd.h"
#include "io/reader.h"
#include "json/json.h"

/* The reference loader refuses headers above this (MAX_HEADER_SIZE). */
#define ST_REF_MAX_HEADER 100000000ULL

static const struct {
    const char *name;
    unsigned bits;
} st_dtypes[] = {
    {"BOOL", 8},    {"F4", 4},          {"F6_E2M3", 6},     {"F6_E3M2", 6},
    {"U8", 8},      {"I8", 8},          {"F8_E5M2", 8},     {"F8_E4M3", 8},
    {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},
    {"U16", 16},    {"F16", 16},        {"BF16", 16},       {"I32", 32},
    {"U32", 32},    {"F32", 32},        {"C64", 64},        {"F64", 64},
    {"I64", 64},    {"U64", 64},
};

struct span {
    uint64_t begin, end;
    uint32_t key; /* key node of the tensor */
};

struct st {
    struct mg_ctx *ctx;
    struct mg_json_doc *doc;
    uint64_t data_off; /* offset of the byte buffer in the input */
    unsigned reports[8];
};

enum st_kind {
    K_TENSOR,
    K_DTYPE,
    K_LAYOUT,
    K_META,
    K_DUP,
    K_NKINDS
};

static const char *const st_rules[K_NKINDS] = {
    "safetensors-tensor", "safetensors-dtype", "safetensors-layout",
    "safetensors-metadata", "safetensors-duplicate"};

/* A tensor or key name, quoted for a message. */
static const char *
key_text(struct st *s, uint32_t key, char *buf, size_t cap)
{
    char raw[MG_QUOTE_BYTES + 1];
    size_t n = mg_json_str(s->doc, key, raw, sizeof(raw));
    return mg_quote(buf, cap, raw, n < sizeof(raw) ? n : sizeof(raw) - 1,
                    MG_QUOTE_BYTES);
}

__attribute__((format(printf, 4, 5))) static enum mg_status
report(struct st *s, enum st_kind kind, int64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum mg_status st =
        mg_fmt_vcapped(s->ctx, &s->reports[kind], MG_SEV_SUSPICIOUS,
                       st_rules[kind], off, fmt, ap);
    va_end(ap);
    return st;
}

/* Offset in the input of JSON node i (the header starts at byte 8). */
static int64_t
node_off(const struct st *s, uint32_t i)
{
    return (int64_t)(8 + s->doc->nodes[i].a);
}

static int
dtype_bits(struct st *s, uint32_t v, const char **name)
{
    for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
        if (mg_json_str_eq(s->doc, v, st_dtypes[i].name)) {
            *name = st_dtypes[i].name;
            return (int)st_dtypes[i].bits;
        }
    return 0;
}

static const char *
type_name(enum mg_json_type t)
{
    switch (t) {
    case MG_JSON_NULL:
        return "null";
    case MG_JSON_FALSE:
    case MG_JSON_TRUE:
        return "a boolean";
    case MG_JSON_NUMBER:
        return "a number";
    case MG_JSON_STRING:
        return "a string";
    case MG_JSON_ARRAY:
        return "an array";
    case MG_JSON_OBJECT:
        return "an object";
    default:
        return "?";
    }
}

static enum mg_status
check_metadata(struct st *s, uint32_t v)
{
    struct mg_json_doc *d = s->doc;
    if (mg_json_type_of(d, v) != MG_JSON_OBJECT)
        return report(s, K_META, node_off(s, v),
                      "__metadata__ is %s, not an object of strings: the "
                      "reference loader refuses the file",
                      type_name(mg_json_type_of(d, v)));
    for (uint32_t k = mg_json_first(d, v); k != MG_JSON_NONE;
         k = mg_json_next_key(d, k)) {
        uint32_t val = mg_json_value(d, k);
        if (mg_json_type_of(d, val) == MG_JSON_STRING)
            continue;
        char kb[400];
        enum mg_status st = report(
            s, K_META, node_off(s, val),
            "__metadata__ entry \"%s\" is %s, not a string: the reference "
            "loader refuses the file",
            key_text(s, k, kb, sizeof(kb)), type_name(mg_json_type_of(d, val)));
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

/* Check one tensor entry; on success add its span. */
static enum mg_status
check_tensor(struct st *s, uint32_t key, struct span *spans, size_t *nspans)
{
    struct mg_json_doc *d = s->doc;
    uint32_t v = mg_json_value(d, key);
    char kb[400];
    key_text(s, key, kb, sizeof(kb));
    if (mg_json_type_of(d, v) != MG_JSON_OBJECT)
        return report(s, K_TENSOR, node_off(s, v),
                      "tensor \"%s\" is described by %s, not an object", kb,
                      type_name(mg_json_type_of(d, v)));
    uint32_t dt = MG_JSON_NONE, shape = MG_JSON_NONE, offs = MG_JSON_NONE;
    enum mg_status st;
    for (uint32_t k = mg_json_first(d, v); k != MG_JSON_NONE;
         k = mg_json_next_key(d, k)) {
        if (mg_json_str_eq(d, k, "dtype")) {
            dt = mg_json_value(d, k);
        } else if (mg_json_str_eq(d, k, "shape")) {
            shape = mg_json_value(d, k);
        } else if (mg_json_str_eq(d, k, "data_offsets")) {
            offs = mg_json_value(d, k);
        } else {
            char fb[400];
            st = report(s, K_TENSOR, node_off(s, k),
                        "tensor \"%s\" has an unknown field \"%s\": the "
                        "reference loader ignores it, other readers may not",
                        kb, key_text(s, k, fb, sizeof(fb)));
            if (st != MG_OK)
                return st;
        }
    }
    if (dt == MG_JSON_NONE || shape == MG_JSON_NONE || offs == MG_JSON_NONE)
        return report(s, K_TENSOR, node_off(s, v),
                      "tensor \"%s\" lacks %s: the reference loader refuses "
                      "the file",
                      kb,
                      dt == MG_JSON_NONE      ? "\"dtype\""
                      : shape == MG_JSON_NONE ? "\"shape\""
                                              : "\"data_offsets\"");
    /* The span first: the layout is checked even for entries with other
       faults, so that a bad entry cannot hide a gap. */
    uint64_t b = 0, e = 0;
    uint32_t o1 = mg_json_first(d, offs);
    uint32_t o2 = o1 != MG_JSON_NONE ? mg_json_next(d, o1) : MG_JSON_NONE;
    if (mg_json_type_of(d, offs) != MG_JSON_ARRAY ||
        mg_json_node(d, offs)->len != 2 || mg_json_u64(d, o1, &b) != 0 ||
        mg_json_u64(d, o2, &e) != 0)
        return report(s, K_TENSOR, node_off(s, offs),
                      "tensor \"%s\" has data_offsets that are not two "
                      "non-negative integers",
                      kb);
    if (e < b)
        return report(s, K_LAYOUT, node_off(s, offs),
                      "tensor \"%s\" ends (%" PRIu64 ") before it begins "
                      "(%" PRIu64 ")",
                      kb, e, b);
    spans[*nspans].begin = b;
    spans[*nspans].end = e;
    spans[*nspans].key = key;
    (*nspans)++;
    const char *dname = NULL;
    int bits = 0;
    if (mg_json_type_of(d, dt) == MG_JSON_STRING)
        bits = dtype_bits(s, dt, &dname);
    if (bits == 0) {
        char db[400] = "(not a string)";
        if (mg_json_type_of(d, dt) == MG_JSON_STRING)
            key_text(s, dt, db, sizeof(db));
        return report(s, K_DTYPE, node_off(s, dt),
                      "tensor \"%s\" has an unknown dtype \"%s\": the "
                      "reference loader refuses the file",
                      kb, db);
    }
    /* Elements: the product of the dimensions, checked for overflow. */
    if (mg_json_type_of(d, shape) != MG_JSON_ARRAY)
        return report(s, K_TENSOR, node_off(s, shape),
                      "tensor \"%s\" has a shape that is %s, not an array", kb,
                      type_name(mg_json_type_of(d, shape)));
    uint64_t nelem = 1;
    int overflow = 0;
    char shape_txt[200];
    size_t sl = 0;
    shape_txt[0] = '\0';
    for (uint32_t x = mg_json_first(d, shape); x != MG_JSON_NONE;
         x = mg_json_next(d, x)) {
        uint64_t dim;
        if (mg_json_u64(d, x, &dim) != 0)
            return report(s, K_TENSOR, node_off(s, x),
                          "tensor \"%s\" has a dimension that is not a "
                          "non-negative integer",
                          kb);
        if (ckd_mul_u64(&nelem, nelem, dim))
            overflow = 1;
        if (sl < sizeof(shape_txt) - 24) {
            int w = snprintf(shape_txt + sl, sizeof(shape_txt) - sl,
                             "%s%" PRIu64, sl ? ", " : "", dim);
            if (w > 0)
                sl += (size_t)w;
        }
    }
    uint64_t nbits = 0;
    if (overflow || ckd_mul_u64(&nbits, nelem, (uint64_t)bits))
        return report(s, K_TENSOR, node_off(s, shape),
                      "tensor \"%s\" has a shape [%s] whose size in bytes "
                      "overflows 64 bits",
                      kb, shape_txt);
    if (nbits % 8 != 0)
        return report(s, K_TENSOR, node_off(s, shape),
                      "tensor \"%s\" (%s [%s]) does not fill whole bytes", kb,
                      dname, shape_txt);
    if (e - b != nbits / 8)
        return report(s, K_TENSOR, node_off(s, offs),
                      "tensor \"%s\" (%s [%s]) needs %" PRIu64
                      " bytes but its data_offsets span %" PRIu64,
                      kb, dname, shape_txt, nbits / 8, e - b);
    return MG_OK;
}

static int
span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->key < y->key ? -1 : (x->key > y->key);
}

/* Offsets must tile the byte buffer exactly: no gap, no overlap, nothing
   past its end and nothing after the last tensor. */
static enum mg_status
check_layout(struct st *s, struct span *sp, size_t n, uint64_t data_len)
{
    qsort(sp, n, sizeof(*sp), span_cmp);
    uint64_t covered = 0; /* end of the data claimed so far */
    uint32_t prev = MG_JSON_NONE;
    enum mg_status st = MG_OK;
    char k1[400], k2[400];
    for (size_t i = 0; i < n && st == MG_OK; i++) {
        if (sp[i].begin > covered) {
            st = report(s, K_LAYOUT, (int64_t)(s->data_off + covered),
                        "%" PRIu64 " bytes at data offset %" PRIu64
                        " belong to no tensor (before \"%s\"): the "
                        "reference loader refuses the file",
                        sp[i].begin - covered, covered,
                        key_text(s, sp[i].key, k1, sizeof(k1)));
        } else if (sp[i].begin < covered && prev != MG_JSON_NONE) {
            st = report(s, K_LAYOUT, (int64_t)(s->data_off + sp[i].begin),
                        "tensor \"%s\" [%" PRIu64 ", %" PRIu64
                        ") overlaps tensor \"%s\"",
                        key_text(s, sp[i].key, k1, sizeof(k1)), sp[i].begin,
                        sp[i].end, key_text(s, prev, k2, sizeof(k2)));
        }
        if (st == MG_OK && sp[i].end > data_len &&
            (i == 0 || sp[i - 1].end <= data_len))
            st = report(
                s, K_LAYOUT, (int64_t)(s->data_off + sp[i].begin),
                "tensor \"%s\" ends at data offset %" PRIu64
                ", past the end of the file (%" PRIu64 " bytes of data)",
                key_text(s, sp[i].key, k1, sizeof(k1)), sp[i].end, data_len);
        if (sp[i].end >= covered) {
            covered = sp[i].end;
            prev = sp[i].key;
        }
    }
    if (st == MG_OK && covered < data_len)
        st = report(s, K_LAYOUT, (int64_t)(s->data_off + covered),
                    "%" PRIu64 " bytes after the last tensor belong to no "
                    "tensor: the reference loader refuses the file",
                    data_len - covered);
    return st;
}

static enum mg_status
scan_header(struct st *s, const char *hdr, size_t n, uint64_t data_len)
{
    struct mg_ctx *ctx = s->ctx;
    struct mg_json_opts o = {.max_depth = ctx->lim->max_json_depth,
                             .max_nodes = ctx->lim->max_json_values,
                             .python = 0};
    struct mg_json_doc doc;
    enum mg_status st = mg_json_parse(&doc, hdr, n, &o);
    s->doc = &doc;
    if (st == MG_E_LIMIT) {
        st = mg_ctx_incomplete(ctx, doc.limit, (int64_t)(8 + doc.err_off),
                               "in the safetensors header");
        goto out;
    }
    if (st == MG_E_MALFORMED) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "safetensors-header",
                          (int64_t)(8 + doc.err_off),
                          "the header is not valid JSON (%s at header byte "
                          "%zu): the reference loader refuses the file",
                          doc.err, doc.err_off);
        goto out;
    }
    if (st != MG_OK)
        goto out;
    if (mg_json_type_of(&doc, MG_JSON_ROOT) != MG_JSON_OBJECT) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "safetensors-header", 8,
                          "the header is %s, not an object",
                          type_name(mg_json_type_of(&doc, MG_JSON_ROOT)));
        goto out;
    }
    for (uint32_t i = 0; i < doc.ndup && i < MG_JSON_MAX_DUPS; i++) {
        char kb[400];
        st = report(s, K_DUP, node_off(s, doc.dups[i]),
                    "key \"%s\" appears twice in one object: readers "
                    "disagree on which entry wins",
                    key_text(s, doc.dups[i], kb, sizeof(kb)));
        if (st != MG_OK)
            goto out;
    }
    if (doc.ndup > MG_JSON_MAX_DUPS)
        s->reports[K_DUP] += doc.ndup - MG_JSON_MAX_DUPS;
    uint32_t ntensors = mg_json_node(&doc, MG_JSON_ROOT)->len;
    if ((uint64_t)ntensors > ctx->lim->max_tensors) {
        st = mg_ctx_incomplete(ctx, "max-tensors", 8,
                               "too many tensors in the safetensors header");
        goto out;
    }
    struct span *spans = mg_calloc(ntensors ? ntensors : 1, sizeof(*spans));
    if (spans == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    size_t nspans = 0;
    int have_meta = 0;
    for (uint32_t k = mg_json_first(&doc, MG_JSON_ROOT);
         k != MG_JSON_NONE && st == MG_OK; k = mg_json_next_key(&doc, k)) {
        if (mg_json_str_eq(&doc, k, "__metadata__")) {
            have_meta = 1;
            st = check_metadata(s, mg_json_value(&doc, k));
        } else {
            st = check_tensor(s, k, spans, &nspans);
        }
    }
    if (st == MG_OK)
        st = check_layout(s, spans, nspans, data_len);
    mg_free(spans);
    if (st == MG_OK)
        st = mg_fmt_capped_rest(ctx, s->reports, st_rules, K_NKINDS);
    if (st == MG_OK)
        st = mg_ctx_findf(
            ctx, MG_SEV_INFO, "safetensors-summary", -1,
            "%zu tensors%s, header %zu bytes, data %" PRIu64 " bytes", nspans,
            have_meta ? " and __metadata__" : "", n, data_len);
out:
    mg_json_free(&doc);
    return st;
}

static enum mg_status
safetensors_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    uint8_t lenb[8];
    if (in->size == UINT64_MAX || in->read_at == NULL) {
        /* A stream: the header is at the front, the rest only counted. */
        struct mg_input tmp, *use;
        uint8_t *buf = NULL;
        enum mg_status st;
        if (!mg_fmt_random(ctx, in, ctx->lim->max_member_bytes, &tmp, &buf,
                           &use, &st))
            return st;
        st = safetensors_scan(ctx, use);
        mg_free(buf);
        return st;
    }
    if (mg_input_read(in, 0, lenb, 8) != MG_OK)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "safetensors-header", 0,
                            "the file is shorter than the 8-byte header "
                            "length");
    uint64_t n = mg_le64(lenb);
    uint64_t avail = in->size - 8;
    if (n > avail)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "safetensors-header", 0,
                            "the header length %" PRIu64
                            " runs past the end of the file (%" PRIu64
                            " bytes follow): the reference loader refuses "
                            "the file",
                            n, avail);
    enum mg_status st;
    if (n > ST_REF_MAX_HEADER) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "safetensors-header", 0,
                          "the header length %" PRIu64
                          " exceeds the 100000000 bytes the reference loader "
                          "accepts",
                          n);
        if (st != MG_OK)
            return st;
    }
    if (n > ctx->lim->max_header_bytes)
        return mg_ctx_incomplete(ctx, "max-header-bytes", 0,
                                 "safetensors header length");
    size_t hn = (size_t)n;
    uint8_t *copy = NULL;
    const char *hdr;
    if (in->mem != NULL) {
        hdr = (const char *)in->mem + 8;
    } else {
        st = mg_input_dup(in, 8, hn, &copy);
        if (st != MG_OK)
            return st == MG_E_NOMEM
                       ? st
                       : mg_ctx_incomplete(ctx, NULL, 8, mg_strerror(st));
        hdr = (const char *)copy;
    }
    struct st s = {.ctx = ctx, .data_off = 8 + n};
    st = MG_OK;
    if (hn > 0 && hdr[0] != '{')
        /* serde_json skips leading whitespace; older loaders (and the
           format's description) require '{' first. */
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "safetensors-header", 8,
                          "the header does not start with '{': loaders "
                          "disagree on whether the file is valid");
    if (st == MG_OK)
        st = scan_header(&s, hdr, hn, avail - n);
    mg_free(copy);
    return st;
}

static int
is_ws(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* An 8-byte length then '{' and a key or '}': 72 bits checked when the
   length fits the input, fewer when it does not (still reported). */
static unsigned
safetensors_probe(const uint8_t *h, size_t len, uint64_t size)
{
    if (len < 10)
        return 0;
    uint64_t n = mg_le64(h);
    if (n < 2)
        return 0;
    size_t i = 8;
    while (i < len && is_ws(h[i]))
        i++;
    if (i >= len || h[i] != '{')
        return 0;
    i++;
    while (i < len && is_ws(h[i]))
        i++;
    if (i < len && h[i] != '"' && h[i] != '}')
        return 0;
    if (size != UINT64_MAX && n > size - 8)
        return 8;
    /* A plausible length has its top bytes clear. */
    return h[7] == 0 && h[6] == 0 ? 40 : 12;
}

const struct mg_format mg_format_safetensors = {
    "safetensors", safetensors_probe, safetensors_scan};
