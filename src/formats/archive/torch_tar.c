/*
 * torch_tar.c - the members of PyTorch's old tar layout that torch.load
 * (legacy_load in torch/serialization.py) reads with a structure of its
 * own, pickles interleaved with raw bytes:
 *
 *   storages: pickle(n), n x [pickle((key, location, storage_type)),
 *             int64 count, count x element_size bytes], pickle(views)
 *   tensors:  pickle(n), n x [pickle((key, storage_id, tensor_type)),
 *             int32 ndim, 4 bytes, 8*ndim sizes, 8*ndim strides,
 *             int64 storage offset]
 *
 * Every pickle is scanned; the raw bytes are skipped with bounds checks.
 * Where the member leaves this structure, torch.load would fail: that is
 * reported (torch-tar-layout, suspicious) and the rest of the member is
 * still scanned for pickles.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/archive/archive.h"
#include "formats/format.h"
#include "formats/pickle/pickle.h"
#include "io/ckd.h"

/* Element sizes of the storage types legacy_load accepts
   (torch._utils._element_size of storage_type.dtype). */
static const struct {
    const char *name;
    unsigned size;
} storage_types[] = {
    {"FloatStorage", 4},        {"DoubleStorage", 8},
    {"HalfStorage", 2},         {"BFloat16Storage", 2},
    {"LongStorage", 8},         {"IntStorage", 4},
    {"ShortStorage", 2},        {"CharStorage", 1},
    {"ByteStorage", 1},         {"BoolStorage", 1},
    {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16},
    {"QInt8Storage", 1},        {"QUInt8Storage", 1},
    {"QUInt4x2Storage", 1},     {"QUInt2x4Storage", 1},
    {"QInt32Storage", 4},
};

enum want {
    WANT_COUNT,
    WANT_STORAGE,
    WANT_TENSOR,
    WANT_ANY
};

struct tt {
    struct mg_ctx *ctx;
    struct mg_stream s;
    const char *member;
    unsigned pickles;
    enum want want;
    /* what the last pickle unpickled to */
    int ok;
    int64_t count;
    unsigned elsize;
    int complete; /* the whole structure was read */
    char why[160];
};

static int
str_is(const struct mg_str *s, const char *lit)
{
    size_t n = strlen(lit);
    return mg_str_exact(s) && s->len == n && memcmp(s->data, lit, n) == 0;
}

/* A tuple or list of exactly n kept items (torch unpacks any iterable). */
static const struct mg_obj *
seq_of(const struct mg_val *v, uint32_t n)
{
    const struct mg_obj *o = mg_val_obj(v, OK_TUPLE);
    if (o == NULL)
        o = mg_val_obj(v, OK_LIST);
    if (o == NULL || o->count != n || o->nkept != n)
        return NULL;
    return o;
}

static void
judge_storage(struct tt *t, const struct mg_val *v)
{
    const struct mg_obj *o = seq_of(v, 3);
    if (o == NULL) {
        snprintf(t->why, sizeof(t->why),
                 "a storage record is not (key, location, storage_type)");
        return;
    }
    const struct mg_obj *g = mg_val_obj(&o->items[2], OK_GLOBAL);
    if (g == NULL) {
        snprintf(t->why, sizeof(t->why),
                 "the storage type of a record is not a class");
        return;
    }
    const struct mg_glob *gl = (const struct mg_glob *)g;
    if (!str_is(gl->module, "torch") && !str_is(gl->module, "torch.cuda")) {
        snprintf(t->why, sizeof(t->why),
                 "the storage type of a record is not a torch storage class");
        return;
    }
    for (size_t i = 0; i < sizeof(storage_types) / sizeof(storage_types[0]);
         i++) {
        if (str_is(gl->name, storage_types[i].name)) {
            t->elsize = storage_types[i].size;
            t->ok = 1;
            return;
        }
    }
    snprintf(t->why, sizeof(t->why),
             "the storage type of a record is not a known storage class, so "
             "its element size is unknown");
}

static enum mg_status
on_stop(void *user, struct mg_pvm *vm, const struct mg_pvm_result *res)
{
    (void)vm;
    struct tt *t = user;
    const struct mg_val *v = &res->value;
    t->ok = 0;
    t->why[0] = '\0';
    switch (t->want) {
    case WANT_COUNT:
        if (v->kind == VK_INT || v->kind == VK_BOOL) {
            t->count = v->u.i;
            t->ok = 1;
        } else {
            snprintf(t->why, sizeof(t->why), "a count is not an integer");
        }
        break;
    case WANT_STORAGE:
        judge_storage(t, v);
        break;
    case WANT_TENSOR:
        t->ok = seq_of(v, 3) != NULL;
        if (!t->ok)
            snprintf(t->why, sizeof(t->why),
                     "a tensor record is not (key, storage_id, tensor_type)");
        break;
    case WANT_ANY:
    default:
        t->ok = 1;
        break;
    }
    return MG_OK;
}

/* Why the structure ends at off; the rest is scanned as pickles. */
__attribute__((format(printf, 4, 5))) static enum mg_status
deviate_how(struct tt *t, uint64_t off, int fails, const char *fmt, ...)
{
    char why[300];
    if (t->s.err != MG_OK)
        return MG_OK; /* the source failed and reported why */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    enum mg_status st = mg_ctx_findf(
        t->ctx, MG_SEV_SUSPICIOUS, "torch-tar-layout", (int64_t)off,
        "member '%s' of a PyTorch tar does not have the layout torch.load "
        "reads: %s; torch.load %s (a writer never produces this); the rest "
        "of the member is scanned for pickles",
        t->member, why, fails ? "would fail here" : "ignores them");
    if (st != MG_OK)
        return st;
    struct mg_pickle_opts o = {.fallback = 1};
    struct mg_pickle_summary sum;
    return mg_pickle_scan_stream(t->ctx, &t->s, &o, &sum);
}

#define deviate(t, off, ...) deviate_how(t, off, 1, __VA_ARGS__)

/* One pickle of the structure. *ok = 0 when it is not what torch.load
   expects (already reported, the rest scanned). */
static enum mg_status
one_pickle(struct tt *t, enum want w, const char *what, int *ok)
{
    *ok = 0;
    uint64_t off = mg_stream_tell(&t->s);
    if (++t->pickles > t->ctx->lim->max_streams)
        return mg_ctx_incomplete(t->ctx, "max-streams", (int64_t)off, NULL);
    if (mg_ctx_expired(t->ctx))
        return mg_ctx_incomplete(t->ctx, "max-seconds", (int64_t)off, NULL);
    t->want = w;
    t->ok = 0;
    snprintf(t->why, sizeof(t->why), "it is not a complete pickle");
    struct mg_pickle_opts o = {.single = 1, .on_stop = on_stop, .user = t};
    struct mg_pickle_summary sum;
    enum mg_status st = mg_pickle_scan_stream(t->ctx, &t->s, &o, &sum);
    if (st != MG_OK)
        return st;
    if (sum.empty)
        return deviate(t, off, "the member ends where %s should be", what);
    if (sum.streams != 1 || !t->ok)
        return deviate(t, off, "%s: %s", what, t->why);
    *ok = 1;
    return MG_OK;
}

/* Skip n raw bytes; *ok = 0 when the member ends first (reported). */
static enum mg_status
raw_skip(struct tt *t, uint64_t n, const char *what, int *ok)
{
    uint64_t off = mg_stream_tell(&t->s), done = 0;
    *ok = 0;
    enum mg_status st = mg_stream_skip(&t->s, n, &done);
    if (st == MG_E_TRUNCATED)
        return deviate(t, off + done,
                       "%s declares %" PRIu64
                       " bytes, the member ends after %" PRIu64,
                       what, n, done);
    if (st != MG_OK)
        return st == MG_E_IO ? MG_OK : st; /* the source reported it */
    *ok = 1;
    return MG_OK;
}

/* A little-endian integer of n bytes (n <= 8); *ok = 0 when truncated. */
static enum mg_status
raw_int(struct tt *t, size_t n, const char *what, uint64_t *v, int *ok)
{
    const uint8_t *p;
    uint64_t off = mg_stream_tell(&t->s);
    *ok = 0;
    enum mg_status st = mg_stream_need(&t->s, n, &p, NULL);
    if (st == MG_E_TRUNCATED)
        return deviate(t, off, "the member ends inside %s", what);
    if (st != MG_OK)
        return st == MG_E_IO ? MG_OK : st;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v |= (uint64_t)p[i] << (8 * i);
    mg_stream_advance(&t->s, n);
    *ok = 1;
    return MG_OK;
}

/* The count pickle that opens both members. */
static enum mg_status
read_count(struct tt *t, const char *what, uint64_t *n, int *ok)
{
    uint64_t off = mg_stream_tell(&t->s);
    enum mg_status st = one_pickle(t, WANT_COUNT, what, ok);
    if (st != MG_OK || !*ok)
        return st;
    if (t->count < 0) {
        *ok = 0;
        return deviate(t, off, "%s is negative (%" PRId64 ")", what, t->count);
    }
    *n = (uint64_t)t->count;
    return MG_OK;
}

/* The raw bytes after a storage record: an 8-byte element count, then
   that many elements of the record's storage type. */
static enum mg_status
storage_bytes(struct tt *t, int *ok)
{
    uint64_t off = mg_stream_tell(&t->s), count = 0, bytes;
    unsigned elsize = t->elsize;
    enum mg_status st = raw_int(t, 8, "a storage's element count", &count, ok);
    if (st != MG_OK || !*ok)
        return st;
    if (count > INT64_MAX || ckd_mul_u64(&bytes, count, elsize)) {
        *ok = 0;
        return deviate(t, off, "a storage of %" PRIu64 " elements is too large",
                       count);
    }
    return raw_skip(t, bytes, "a storage", ok);
}

/* The raw bytes after a tensor record: a 4-byte dimension count, 4 bytes,
   sizes and strides (8 bytes per dimension each), an 8-byte offset. */
static enum mg_status
tensor_bytes(struct tt *t, int *ok)
{
    uint64_t off = mg_stream_tell(&t->s), ndim = 0;
    enum mg_status st = raw_int(t, 4, "a tensor's dimension count", &ndim, ok);
    if (st != MG_OK || !*ok)
        return st;
    if (ndim & 0x80000000u) {
        *ok = 0;
        return deviate(t, off, "a tensor has a negative dimension count");
    }
    return raw_skip(t, 4 + 16 * ndim + 8, "a tensor's shape", ok);
}

/* A count pickle, then that many records: a pickle and raw bytes each. */
static enum mg_status
records(struct tt *t,
        const char *count_what,
        enum want w,
        const char *what,
        enum mg_status (*bytes)(struct tt *, int *),
        int *ok)
{
    uint64_t n = 0;
    enum mg_status st = read_count(t, count_what, &n, ok);
    for (uint64_t i = 0; st == MG_OK && *ok && i < n; i++) {
        st = one_pickle(t, w, what, ok);
        if (st == MG_OK && *ok)
            st = bytes(t, ok);
    }
    return st;
}

static enum mg_status
storages(struct tt *t)
{
    int ok;
    enum mg_status st = records(t, "the number of storages", WANT_STORAGE,
                                "a storage record", storage_bytes, &ok);
    if (st == MG_OK && ok)
        st = one_pickle(t, WANT_ANY, "the storage views", &ok);
    t->complete = st == MG_OK && ok;
    return st;
}

static enum mg_status
tensors(struct tt *t)
{
    int ok;
    enum mg_status st = records(t, "the number of tensors", WANT_TENSOR,
                                "a tensor record", tensor_bytes, &ok);
    t->complete = st == MG_OK && ok;
    return st;
}

static enum mg_status
scan_member(struct mg_ctx *ctx,
            struct mg_input *in,
            const char *member,
            enum mg_status (*body)(struct tt *))
{
    /* Not a pickle at all: torch.load would fail at once; scan it for what
       it is. */
    const struct mg_format *f =
        mg_format_detect(in->head, in->head_len, in->size);
    if (f != NULL && strcmp(f->name, "pickle") != 0) {
        enum mg_status st = mg_ctx_findf(
            ctx, MG_SEV_SUSPICIOUS, "torch-tar-layout", 0,
            "member '%s' of a PyTorch tar is a %s, not pickles: torch.load "
            "would fail",
            member, f->name);
        return st != MG_OK ? st : f->scan(ctx, in);
    }
    struct tt *t = mg_calloc(1, sizeof(*t));
    if (t == NULL)
        return MG_E_NOMEM;
    t->ctx = ctx;
    t->member = member;
    struct mg_input_cursor cur;
    enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &t->s);
    if (st == MG_OK) {
        st = body(t);
        if (st == MG_OK && t->complete && !mg_stream_at_end(&t->s))
            st = deviate_how(t, mg_stream_tell(&t->s), 0,
                             "there are bytes after the last record");
        mg_stream_fini(&t->s);
    } else {
        st = mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    }
    mg_free(t);
    return st;
}

static enum mg_status
scan_storages(struct mg_ctx *ctx, struct mg_input *in)
{
    return scan_member(ctx, in, "storages", storages);
}

static enum mg_status
scan_tensors(struct mg_ctx *ctx, struct mg_input *in)
{
    return scan_member(ctx, in, "tensors", tensors);
}

mg_member_scan_fn
mg_torch_tar_member(const char *name)
{
    if (strcmp(name, "storages") == 0)
        return scan_storages;
    if (strcmp(name, "tensors") == 0)
        return scan_tensors;
    return NULL;
}
