/*
 * gguf.c - GGUF v1 to v3 (ggml-org/ggml docs/gguf.md), little- or
 * big-endian. The header (metadata key/values, tensor infos) is parsed
 * with every count and length checked against what is left of the file
 * and against the named limits; tensor infos are checked as ggml's loader
 * checks them (name length, dimensions, type, alignment, contiguous
 * offsets) and against the file size. Chat templates
 * (tokenizer.chat_template and tokenizer.chat_template.<name>) go to the
 * Jinja analyser. Tensor data is not examined.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/chat_template.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "io/ckd.h"
#include "io/reader.h"

enum gguf_type {
    GT_U8 = 0,
    GT_I8,
    GT_U16,
    GT_I16,
    GT_U32,
    GT_I32,
    GT_F32,
    GT_BOOL,
    GT_STRING,
    GT_ARRAY,
    GT_U64,
    GT_I64,
    GT_F64,
    GT_COUNT
};

static const uint8_t gt_size[GT_COUNT] = {1, 1, 2, 2, 4, 4, 4,
                                          1, 0, 0, 8, 8, 8};
static const char *const gt_name[GT_COUNT] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64"};

/* ggml tensor types: elements per block and bytes per block
   (ggml/src/ggml-common.h); 0 marks removed or unknown ids. */
static const struct {
    const char *name;
    uint16_t blck;
    uint16_t size;
} ggml_types[] = {
    {"F32", 1, 4},        {"F16", 1, 2},        {"Q4_0", 32, 18},
    {"Q4_1", 32, 20},     {NULL, 0, 0},         {NULL, 0, 0},
    {"Q5_0", 32, 22},     {"Q5_1", 32, 24},     {"Q8_0", 32, 34},
    {"Q8_1", 32, 36},     {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},   {"Q5_K", 256, 176},   {"Q6_K", 256, 210},
    {"Q8_K", 256, 292},   {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74},
    {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},   {"IQ4_NL", 32, 18},
    {"IQ3_S", 256, 110},  {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},         {"I16", 1, 2},        {"I32", 1, 4},
    {"I64", 1, 8},        {"F64", 1, 8},        {"IQ1_M", 256, 56},
    {"BF16", 1, 2},       {NULL, 0, 0},         {NULL, 0, 0},
    {NULL, 0, 0},         {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {NULL, 0, 0},         {NULL, 0, 0},         {NULL, 0, 0},
    {"MXFP4", 32, 17},    {"NVFP4", 64, 36},    {"Q1_0", 128, 18},
    {"Q2_0", 64, 18},
};
#define N_GGML_TYPES (sizeof(ggml_types) / sizeof(ggml_types[0]))

#define GGML_MAX_DIMS          4
#define GGML_MAX_NAME          64
#define GGUF_DEFAULT_ALIGNMENT 32
/* Recursion of array values is bounded by max-nesting, and by this. */
#define GGUF_HARD_NESTING 1024u

struct tensor {
    uint64_t off, size;
    uint64_t name_hash;
    uint64_t info_off; /* where its info starts, for messages */
    uint64_t name_off; /* its name, reread for messages */
    uint32_t name_len;
};

struct key {
    uint64_t hash;
    uint64_t off;
};

struct gg {
    struct mg_ctx *ctx;
    struct mg_input *in;
    struct mg_stream s;
    int v1; /* 32-bit counts and lengths */
    int be; /* big-endian file */
    unsigned version;
    uint64_t header_budget; /* bytes of header left under max-header-bytes */
    uint32_t alignment;
    int alignment_bad;
    unsigned reports[6];
    struct key *keys;
    size_t nkeys, keys_cap;
    char curkey[MG_QUOTE_BYTES * 4 + 8]; /* key being read, quoted */
};

enum gg_kind {
    K_HEADER,
    K_META,
    K_TENSOR,
    K_LAYOUT,
    K_DUP,
    K_NKINDS
};
static const char *const gg_rules[K_NKINDS] = {"gguf-header", "gguf-metadata",
                                               "gguf-tensor", "gguf-layout",
                                               "gguf-duplicate"};

/* Stop reasons: the header could not be read any further. */
enum {
    STOP_NONE = 0,
    STOP_FINDING,
    STOP_STATUS
};

__attribute__((format(printf, 4, 5))) static enum mg_status
report(struct gg *g, enum gg_kind kind, int64_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum mg_status st =
        mg_fmt_vcapped(g->ctx, &g->reports[kind], MG_SEV_SUSPICIOUS,
                       gg_rules[kind], off, fmt, ap);
    va_end(ap);
    return st;
}

static uint64_t
tell(const struct gg *g)
{
    return mg_stream_tell(&g->s);
}

/*
 * n header bytes: accounted against max-header-bytes, then made
 * available. Returns MG_OK, MG_E_TRUNCATED (file ends), MG_E_LIMIT.
 */
static enum mg_status
need(struct gg *g, size_t n, const uint8_t **p)
{
    if ((uint64_t)n > g->header_budget)
        return MG_E_LIMIT;
    enum mg_status st = mg_stream_need(&g->s, n, p, NULL);
    if (st == MG_OK) {
        mg_stream_advance(&g->s, n);
        g->header_budget -= n;
    }
    return st;
}

static uint64_t
get_uint(const struct gg *g, const uint8_t *p, unsigned w)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < w; i++) {
        unsigned k = g->be ? i : w - 1 - i;
        v = (v << 8) | p[k];
    }
    return v;
}

static enum mg_status
rd_uint(struct gg *g, unsigned w, uint64_t *out)
{
    const uint8_t *p;
    enum mg_status st = need(g, w, &p);
    if (st == MG_OK)
        *out = get_uint(g, p, w);
    return st;
}

/* A count or length: 32 bits in v1, 64 after. */
static enum mg_status
rd_len(struct gg *g, uint64_t *out)
{
    return rd_uint(g, g->v1 ? 4 : 8, out);
}

static uint64_t
left(const struct gg *g)
{
    uint64_t t = tell(g);
    return g->in->size > t ? g->in->size - t : 0;
}

static uint64_t
fnv(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Status of a failed read, as a finding or a limit. */
static enum mg_status
read_failed(struct gg *g, enum mg_status st, const char *what, int *stop)
{
    *stop = STOP_FINDING;
    if (st == MG_E_LIMIT)
        return mg_ctx_incomplete(g->ctx, "max-header-bytes", (int64_t)tell(g),
                                 "GGUF metadata and tensor infos");
    if (st == MG_E_TRUNCATED)
        return report(g, K_HEADER, (int64_t)tell(g),
                      "the file ends inside %s: the header is truncated", what);
    *stop = STOP_STATUS;
    return st;
}

struct tmpl_user {
    struct gg *g;
    const char *text;
    uint64_t base; /* offset of the template in the input */
    const char *key;
};

static enum mg_status
on_template_hit(void *user, const struct mg_tmpl_hit *h)
{
    struct tmpl_user *u = user;
    char q[MG_QUOTE_BYTES * 4 + 8];
    mg_quote(q, sizeof(q), u->text + h->quote_off, h->quote_len,
             MG_QUOTE_BYTES);
    return mg_ctx_findf(u->g->ctx, h->sev, h->rule, (int64_t)(u->base + h->off),
                        "chat template \"%s\" at template byte %zu: `%s` %s",
                        u->key, h->off, q, h->reason);
}

/* A string value: examined when it is a chat template, else skipped. */
static enum mg_status
string_value(struct gg *g, int is_template, int *stop)
{
    uint64_t n;
    enum mg_status st = rd_len(g, &n);
    if (st != MG_OK)
        return read_failed(g, st, "a string length", stop);
    if (n > left(g)) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)tell(g),
                      "a string of %" PRIu64 " bytes (key \"%s\") runs past "
                      "the end of the file",
                      n, g->curkey);
    }
    if (n > g->header_budget)
        return read_failed(g, MG_E_LIMIT, "", stop);
    if (!is_template) {
        uint64_t skipped = 0;
        st = mg_stream_skip(&g->s, n, &skipped);
        if (st != MG_OK)
            return read_failed(g, st, "a string", stop);
        g->header_budget -= n;
        return MG_OK;
    }
    uint64_t base = tell(g);
    size_t take = n > MG_TEMPLATE_MAX_BYTES ? MG_TEMPLATE_MAX_BYTES : (size_t)n;
    const uint8_t *p;
    st = need(g, take, &p);
    if (st != MG_OK)
        return read_failed(g, st, "a chat template", stop);
    /* The stream window may move on the next read: analyse now. */
    struct tmpl_user u = {g, (const char *)p, base, g->curkey};
    st = mg_tmpl_scan((const char *)p, take, on_template_hit, &u);
    if (st != MG_OK) {
        *stop = STOP_STATUS;
        return st;
    }
    if (take < n) {
        st = mg_ctx_incomplete(g->ctx, NULL, (int64_t)base,
                               "chat template longer than 16 MiB: only its "
                               "start was examined");
        if (st != MG_OK) {
            *stop = STOP_STATUS;
            return st;
        }
        uint64_t skipped;
        st = mg_stream_skip(&g->s, n - take, &skipped);
        if (st != MG_OK)
            return read_failed(g, st, "a string", stop);
        g->header_budget -= n - take;
    }
    return MG_OK;
}

/* A value of type t (arrays recurse, depth-bounded). */
static enum mg_status
value(struct gg *g, uint32_t t, unsigned depth, int is_template, int *stop)
{
    if (t >= GT_COUNT) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)tell(g),
                      "key \"%s\" has an invalid value type %" PRIu32
                      ": ggml refuses the file",
                      g->curkey, t);
    }
    if (t == GT_STRING)
        return string_value(g, is_template, stop);
    if (t != GT_ARRAY) {
        const uint8_t *p;
        enum mg_status st = need(g, gt_size[t], &p);
        if (st != MG_OK)
            return read_failed(g, st, "a metadata value", stop);
        if (t == GT_BOOL && p[0] > 1)
            return report(g, K_META, (int64_t)tell(g) - 1,
                          "key \"%s\" holds the boolean byte %u (only 0 and "
                          "1 are valid)",
                          g->curkey, p[0]);
        return MG_OK;
    }
    uint64_t limit = g->ctx->lim->max_nesting;
    if (limit > GGUF_HARD_NESTING)
        limit = GGUF_HARD_NESTING;
    if (depth >= limit) {
        *stop = STOP_FINDING;
        return mg_ctx_incomplete(g->ctx, "max-nesting", (int64_t)tell(g),
                                 "GGUF arrays nested too deeply");
    }
    uint64_t et, count;
    enum mg_status st = rd_uint(g, 4, &et);
    if (st == MG_OK)
        st = rd_len(g, &count);
    if (st != MG_OK)
        return read_failed(g, st, "an array header", stop);
    if (et >= GT_COUNT) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)tell(g),
                      "key \"%s\" is an array of invalid type %" PRIu64
                      ": ggml refuses the file",
                      g->curkey, et);
    }
    /* Every element takes at least one byte (strings: their length). */
    uint64_t min = et == GT_STRING  ? (g->v1 ? 4 : 8)
                   : et == GT_ARRAY ? (g->v1 ? 8 : 12)
                                    : gt_size[et];
    uint64_t need_bytes;
    if (ckd_mul_u64(&need_bytes, count, min) || need_bytes > left(g)) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)tell(g),
                      "key \"%s\" declares an array of %" PRIu64
                      " %s elements, more than the rest of the file holds",
                      g->curkey, count, gt_name[et]);
    }
    if (et != GT_STRING && et != GT_ARRAY) {
        if (need_bytes > g->header_budget)
            return read_failed(g, MG_E_LIMIT, "", stop);
        uint64_t skipped;
        st = mg_stream_skip(&g->s, need_bytes, &skipped);
        if (st != MG_OK)
            return read_failed(g, st, "an array", stop);
        g->header_budget -= need_bytes;
        return MG_OK;
    }
    for (uint64_t i = 0; i < count; i++) {
        st = value(g, (uint32_t)et, depth + 1, 0, stop);
        if (st != MG_OK || *stop)
            return st;
        if ((i & 0xFFFF) == 0xFFFF && mg_ctx_expired(g->ctx)) {
            *stop = STOP_FINDING;
            return mg_ctx_incomplete(g->ctx, "max-seconds", (int64_t)tell(g),
                                     NULL);
        }
    }
    return MG_OK;
}

static int
is_template_key(const char *k, size_t n)
{
    static const char base[] = "tokenizer.chat_template";
    size_t b = sizeof(base) - 1;
    return n >= b && memcmp(k, base, b) == 0 && (n == b || k[b] == '.');
}

static int
key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->off < y->off ? -1 : (x->off > y->off);
}

static enum mg_status
one_kv(struct gg *g, uint64_t index, int *stop)
{
    uint64_t key_off = tell(g);
    uint64_t klen;
    enum mg_status st = rd_len(g, &klen);
    if (st != MG_OK)
        return read_failed(g, st, "a metadata key", stop);
    if (klen > left(g)) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)key_off,
                      "metadata key %" PRIu64 " has a length of %" PRIu64
                      " bytes, past the end of the file",
                      index, klen);
    }
    if (klen > 65535 || klen == 0) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)key_off,
                      "metadata key %" PRIu64 " is %" PRIu64
                      " bytes long (keys are 1 to 65535 bytes)",
                      index, klen);
    }
    const uint8_t *kp;
    st = need(g, (size_t)klen, &kp);
    if (st != MG_OK)
        return read_failed(g, st, "a metadata key", stop);
    mg_quote(g->curkey, sizeof(g->curkey), kp, (size_t)klen, 80);
    int ascii = 1;
    for (size_t i = 0; i < klen; i++)
        ascii &= kp[i] >= 0x20 && kp[i] < 0x7F;
    int tmpl = is_template_key((const char *)kp, (size_t)klen);
    int is_align = klen == 17 && memcmp(kp, "general.alignment", 17) == 0;
    if (g->nkeys == g->keys_cap)
        return read_failed(g, MG_E_LIMIT, "", stop);
    g->keys[g->nkeys].hash = fnv(kp, (size_t)klen);
    g->keys[g->nkeys].off = key_off;
    g->nkeys++;
    if (!ascii) {
        st = report(g, K_META, (int64_t)key_off,
                    "metadata key \"%s\" is not printable ASCII", g->curkey);
        if (st != MG_OK)
            return st;
    }
    uint64_t t;
    st = rd_uint(g, 4, &t);
    if (st != MG_OK)
        return read_failed(g, st, "a value type", stop);
    if (is_align) {
        uint64_t a = 0;
        if (t != GT_U32) {
            g->alignment_bad = 1;
        } else {
            st = rd_uint(g, 4, &a);
            if (st != MG_OK)
                return read_failed(g, st, "general.alignment", stop);
            if (a == 0 || (a & (a - 1)) != 0)
                g->alignment_bad = 1;
            else
                g->alignment = (uint32_t)a;
            return MG_OK;
        }
    }
    return value(g, t > UINT32_MAX ? GT_COUNT : (uint32_t)t, 0,
                 tmpl && t == GT_STRING, stop);
}

static enum mg_status
check_dup_keys(struct gg *g)
{
    qsort(g->keys, g->nkeys, sizeof(*g->keys), key_cmp);
    uint8_t *ka = NULL, *kb = NULL;
    enum mg_status st = MG_OK;
    for (size_t i = 1; i < g->nkeys && st == MG_OK; i++) {
        if (g->keys[i].hash != g->keys[i - 1].hash)
            continue;
        /* Confirm with the bytes (the hash only sorts). */
        uint8_t a[8], b[8];
        uint64_t la, lb;
        unsigned w = g->v1 ? 4 : 8;
        if (mg_input_read(g->in, g->keys[i - 1].off, a, w) != MG_OK ||
            mg_input_read(g->in, g->keys[i].off, b, w) != MG_OK)
            continue;
        la = get_uint(g, a, w);
        lb = get_uint(g, b, w);
        if (la != lb || la > 65535)
            continue;
        if (ka == NULL) {
            ka = mg_malloc(65535);
            kb = mg_malloc(65535);
            if (ka == NULL || kb == NULL) {
                st = MG_E_NOMEM;
                break;
            }
        }
        if (mg_input_read(g->in, g->keys[i - 1].off + w, ka, (size_t)la) !=
                MG_OK ||
            mg_input_read(g->in, g->keys[i].off + w, kb, (size_t)lb) != MG_OK ||
            memcmp(ka, kb, (size_t)la) != 0)
            continue;
        char q[MG_QUOTE_BYTES * 4 + 8];
        mg_quote(q, sizeof(q), ka, (size_t)la, 80);
        st = report(g, K_DUP, (int64_t)g->keys[i].off,
                    "metadata key \"%s\" appears twice: ggml refuses the "
                    "file, other readers keep one of the values",
                    q);
    }
    mg_free(ka);
    mg_free(kb);
    return st;
}

static int
tensor_cmp(const void *a, const void *b)
{
    const struct tensor *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->info_off < y->info_off ? -1 : (x->info_off > y->info_off);
}

static int
tensor_name_cmp(const void *a, const void *b)
{
    const struct tensor *x = a, *y = b;
    if (x->name_hash != y->name_hash)
        return x->name_hash < y->name_hash ? -1 : 1;
    return x->info_off < y->info_off ? -1 : (x->info_off > y->info_off);
}

/* One tensor info; fills *t and sets *ok when it is usable for layout. */
static enum mg_status
one_tensor(struct gg *g, uint64_t index, struct tensor *t, int *ok, int *stop)
{
    *ok = 0;
    t->info_off = tell(g);
    uint64_t nlen;
    enum mg_status st = rd_len(g, &nlen);
    if (st != MG_OK)
        return read_failed(g, st, "a tensor info", stop);
    if (nlen > left(g) || nlen > 65535) {
        *stop = STOP_FINDING;
        return report(g, K_HEADER, (int64_t)t->info_off,
                      "tensor %" PRIu64 " has a %" PRIu64
                      "-byte name, past the end of the file or absurd",
                      index, nlen);
    }
    const uint8_t *np;
    t->name_off = tell(g);
    t->name_len = (uint32_t)nlen;
    st = need(g, (size_t)nlen, &np);
    if (st != MG_OK)
        return read_failed(g, st, "a tensor name", stop);
    char name[MG_QUOTE_BYTES * 4 + 8];
    mg_quote(name, sizeof(name), np, (size_t)nlen, 80);
    t->name_hash = fnv(np, (size_t)nlen);
    if (nlen >= GGML_MAX_NAME) {
        st = report(g, K_TENSOR, (int64_t)t->info_off,
                    "tensor \"%s\" has a %" PRIu64
                    "-byte name: ggml refuses names of %d bytes or more",
                    name, nlen, GGML_MAX_NAME);
        if (st != MG_OK)
            return st;
    }
    uint64_t ndims;
    st = rd_uint(g, 4, &ndims);
    if (st != MG_OK)
        return read_failed(g, st, "a tensor info", stop);
    if (ndims > GGML_MAX_DIMS) {
        *stop = STOP_FINDING;
        return report(g, K_TENSOR, (int64_t)t->info_off,
                      "tensor \"%s\" has %" PRIu64
                      " dimensions (ggml allows %d): the rest of the header "
                      "cannot be read reliably",
                      name, ndims, GGML_MAX_DIMS);
    }
    uint64_t dims[GGML_MAX_DIMS] = {1, 1, 1, 1};
    int bad_dim = 0, overflow = 0;
    uint64_t nelem = 1;
    for (uint64_t i = 0; i < ndims; i++) {
        st = rd_len(g, &dims[i]);
        if (st != MG_OK)
            return read_failed(g, st, "tensor dimensions", stop);
        if (dims[i] > (uint64_t)INT64_MAX)
            bad_dim = 1;
        if (ckd_mul_u64(&nelem, nelem, dims[i]) || nelem > (uint64_t)INT64_MAX)
            overflow = 1;
    }
    uint64_t type, off;
    st = rd_uint(g, 4, &type);
    if (st == MG_OK)
        st = rd_uint(g, 8, &off);
    if (st != MG_OK)
        return read_failed(g, st, "a tensor info", stop);
    t->off = off;
    if (bad_dim || overflow)
        return report(g, K_TENSOR, (int64_t)t->info_off,
                      "tensor \"%s\" has dimensions whose element count "
                      "overflows 63 bits: ggml refuses the file",
                      name);
    if (type >= N_GGML_TYPES || ggml_types[type].blck == 0)
        return report(g, K_TENSOR, (int64_t)t->info_off,
                      "tensor \"%s\" has an unknown ggml type %" PRIu64
                      ": ggml refuses the file",
                      name, type);
    uint64_t blck = ggml_types[type].blck;
    if (dims[0] % blck != 0)
        return report(g, K_TENSOR, (int64_t)t->info_off,
                      "tensor \"%s\" of type %s has rows of %" PRIu64
                      " elements, not a multiple of its block size %" PRIu64,
                      name, ggml_types[type].name, dims[0], blck);
    if (ckd_mul_u64(&t->size, nelem / blck, ggml_types[type].size))
        return report(g, K_TENSOR, (int64_t)t->info_off,
                      "tensor \"%s\" has a size in bytes that overflows", name);
    *ok = 1;
    return MG_OK;
}

/* A tensor's name, quoted, reread from the input (80 bytes shown). */
static const char *
tname(struct gg *g, const struct tensor *t, char *buf, size_t cap)
{
    uint8_t raw[81];
    size_t n = t->name_len < sizeof(raw) ? t->name_len : sizeof(raw);
    if (mg_input_read(g->in, t->name_off, raw, n) != MG_OK)
        n = 0;
    return mg_quote(buf, cap, raw, n, 80);
}

static enum mg_status
check_tensors(struct gg *g, struct tensor *t, size_t n, uint64_t data_start)
{
    enum mg_status st;
    char n1[400], n2[400];
    /* duplicate names (hash equal: confirmed by the bytes) */
    qsort(t, n, sizeof(*t), tensor_name_cmp);
    for (size_t i = 1; i < n; i++)
        if (t[i].name_hash == t[i - 1].name_hash &&
            t[i].name_len == t[i - 1].name_len &&
            strcmp(tname(g, &t[i], n1, sizeof(n1)),
                   tname(g, &t[i - 1], n2, sizeof(n2))) == 0) {
            st = report(g, K_DUP, (int64_t)t[i].info_off,
                        "two tensors are named \"%s\" (infos at %" PRIu64
                        " and %" PRIu64 "): ggml refuses the file",
                        n1, t[i - 1].info_off, t[i].info_off);
            if (st != MG_OK)
                return st;
        }
    /* ggml wants each tensor right after the previous one (padded to the
       alignment), in info order; anything else is a gap, an overlap or a
       tensor past the end of the file. */
    qsort(t, n, sizeof(*t), tensor_cmp);
    uint64_t data_len = g->in->size > data_start ? g->in->size - data_start : 0;
    uint64_t covered = 0;
    size_t last = 0; /* the tensor that ends at covered */
    int past = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].off % g->alignment != 0) {
            st =
                report(g, K_LAYOUT, (int64_t)t[i].info_off,
                       "tensor \"%s\" at data offset %" PRIu64
                       " is not aligned to %" PRIu32 " bytes",
                       tname(g, &t[i], n1, sizeof(n1)), t[i].off, g->alignment);
            if (st != MG_OK)
                return st;
        }
        uint64_t end;
        if (ckd_add_u64(&end, t[i].off, t[i].size) || end > data_len) {
            if (!past) {
                st = report(g, K_LAYOUT, (int64_t)t[i].info_off,
                            "tensor \"%s\" [%" PRIu64 ", +%" PRIu64
                            ") runs past the end of the file (%" PRIu64
                            " bytes of tensor data)",
                            tname(g, &t[i], n1, sizeof(n1)), t[i].off,
                            t[i].size, data_len);
                if (st != MG_OK)
                    return st;
            }
            past = 1;
            continue;
        }
        uint64_t pad = (g->alignment - covered % g->alignment) % g->alignment;
        if (i > 0 && t[i].off < covered) {
            st = report(g, K_LAYOUT, (int64_t)t[i].info_off,
                        "tensor \"%s\" at data offset %" PRIu64
                        " overlaps tensor \"%s\" (which ends at %" PRIu64 ")",
                        tname(g, &t[i], n1, sizeof(n1)), t[i].off,
                        tname(g, &t[last], n2, sizeof(n2)), covered);
        } else if (t[i].off > covered + pad) {
            st = report(g, K_LAYOUT, (int64_t)(data_start + covered),
                        "%" PRIu64 " bytes of tensor data at offset %" PRIu64
                        " belong to no tensor (before \"%s\")",
                        t[i].off - covered, covered,
                        tname(g, &t[i], n1, sizeof(n1)));
        } else {
            st = MG_OK;
        }
        if (st != MG_OK)
            return st;
        if (end > covered) {
            covered = end;
            last = i;
        }
    }
    uint64_t pad = (g->alignment - covered % g->alignment) % g->alignment;
    if (!past && n > 0 && data_len > covered + pad)
        return report(g, K_LAYOUT, (int64_t)(data_start + covered),
                      "%" PRIu64 " bytes after the last tensor belong to no "
                      "tensor",
                      data_len - covered);
    return MG_OK;
}

static enum mg_status
gguf_body(struct gg *g)
{
    struct mg_ctx *ctx = g->ctx;
    int stop = STOP_NONE;
    uint64_t ntensors, nkv;
    enum mg_status st = rd_len(g, &ntensors);
    if (st == MG_OK)
        st = rd_len(g, &nkv);
    if (st != MG_OK)
        return read_failed(g, st, "the header counts", &stop);
    /* Minimum sizes: a key/value is a key length, a key byte, a type and
       a one-byte value; a tensor info a name length, a dimension count, a
       type and an offset. */
    uint64_t kv_min = (g->v1 ? 4u : 8u) + 1 + 4 + 1;
    uint64_t ti_min = (g->v1 ? 4u : 8u) + 4 + 4 + 8;
    uint64_t a, b;
    if (ckd_mul_u64(&a, nkv, kv_min) || ckd_mul_u64(&b, ntensors, ti_min) ||
        ckd_add_u64(&a, a, b) || a > left(g))
        return report(g, K_HEADER, 8,
                      "the header declares %" PRIu64 " tensors and %" PRIu64
                      " metadata keys, more than the %" PRIu64
                      " remaining bytes can hold",
                      ntensors, nkv, left(g));
    if (ntensors > ctx->lim->max_tensors)
        return mg_ctx_incomplete(ctx, "max-tensors", 8,
                                 "tensors declared by the GGUF header");
    /* Every key read spends at least kv_min bytes of max-header-bytes:
       the file's size alone would allow an allocation far larger than
       the keys that can ever be read. */
    uint64_t kcap = g->header_budget / kv_min + 1;
    if (kcap > nkv)
        kcap = nkv;
    g->keys_cap = (size_t)kcap;
    g->keys = mg_calloc(kcap ? (size_t)kcap : 1, sizeof(*g->keys));
    if (g->keys == NULL)
        return MG_E_NOMEM;
    for (uint64_t i = 0; i < nkv && !stop; i++) {
        st = one_kv(g, i, &stop);
        if (st != MG_OK)
            return st;
    }
    if (stop)
        return check_dup_keys(g);
    st = check_dup_keys(g);
    if (st != MG_OK)
        return st;
    if (g->alignment_bad) {
        st = report(g, K_META, -1,
                    "general.alignment is not a uint32 power of two: ggml "
                    "refuses the file; tensor offsets checked against %d",
                    GGUF_DEFAULT_ALIGNMENT);
        if (st != MG_OK)
            return st;
    }
    struct tensor *t = mg_calloc(ntensors ? (size_t)ntensors : 1, sizeof(*t));
    if (t == NULL)
        return MG_E_NOMEM;
    size_t nt = 0;
    for (uint64_t i = 0; i < ntensors && !stop; i++) {
        int ok;
        st = one_tensor(g, i, &t[nt], &ok, &stop);
        if (st != MG_OK) {
            mg_free(t);
            return st;
        }
        if (ok)
            nt++;
    }
    if (!stop) {
        uint64_t pos = tell(g);
        uint64_t data_start =
            pos + (g->alignment - pos % g->alignment) % g->alignment;
        st = check_tensors(g, t, nt, data_start);
        if (st == MG_OK)
            st = mg_ctx_findf(ctx, MG_SEV_INFO, "gguf-summary", -1,
                              "GGUF v%u%s, %" PRIu64 " metadata keys, %" PRIu64
                              " tensors, header %" PRIu64
                              " bytes, tensor data from %" PRIu64,
                              g->version, g->be ? " (big-endian)" : "", nkv,
                              ntensors, pos, data_start);
    }
    mg_free(t);
    return st;
}

static enum mg_status
gguf_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_member_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    struct gg g;
    memset(&g, 0, sizeof(g));
    g.ctx = ctx;
    g.in = use;
    g.alignment = GGUF_DEFAULT_ALIGNMENT;
    g.header_budget = ctx->lim->max_header_bytes;
    struct mg_input_cursor cur;
    st = mg_input_stream(use, 0, UINT64_MAX, &cur, &g.s);
    if (st != MG_OK) {
        mg_free(buf);
        return mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    }
    uint8_t h[8];
    if (mg_input_read(use, 0, h, 8) != MG_OK) {
        st = report(&g, K_HEADER, 0, "the file ends inside the GGUF header");
        goto out;
    }
    uint32_t v = mg_le32(h + 4);
    if (v >= 1 && v <= 3) {
        g.version = v;
    } else if (mg_be32(h + 4) >= 1 && mg_be32(h + 4) <= 3) {
        g.version = mg_be32(h + 4);
        g.be = 1;
    } else {
        st = report(&g, K_HEADER, 4,
                    "GGUF version %" PRIu32 " is not one of 1, 2, 3", v);
        goto out;
    }
    g.v1 = g.version == 1;
    uint64_t skipped;
    st = mg_stream_skip(&g.s, 8, &skipped);
    if (st == MG_OK) {
        g.header_budget = g.header_budget > 8 ? g.header_budget - 8 : 0;
        st = gguf_body(&g);
    }
    if (st == MG_OK)
        st = mg_fmt_capped_rest(ctx, g.reports, gg_rules, K_NKINDS);
out:
    mg_stream_fini(&g.s);
    mg_free(g.keys);
    mg_free(buf);
    return st;
}

static unsigned
gguf_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    if (len < 8 || memcmp(h, "GGUF", 4) != 0)
        return 0;
    uint32_t v = mg_le32(h + 4), vb = mg_be32(h + 4);
    if ((v >= 1 && v <= 3) || (vb >= 1 && vb <= 3))
        return 48;
    return 32; /* a GGUF of an unknown version: still ours to report */
}

const struct mg_format mg_format_gguf = {"gguf", gguf_probe, gguf_scan};
