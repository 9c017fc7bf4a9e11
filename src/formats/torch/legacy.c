/*
 * legacy.c - PyTorch's pre-1.6 serialization (torch.save with
 * _use_new_zipfile_serialization=False): five pickles in a row (magic
 * number, protocol version, sys_info, the object, the list of storage
 * keys) followed by each storage's raw bytes, as an 8-byte element count
 * and count x element-size bytes, in the order of the key list. Every
 * pickle is scanned; the raw bytes are skipped, using the storage types
 * that the object pickle's persistent ids give. Whatever does not fit the
 * layout is reported and the rest scanned as pickle streams.
 */
#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/format.h"
#include "formats/pickle/pickle.h"
#include "io/ckd.h"
#include "io/reader.h"

/* The magic number 0x1950a86a20f9469cfc6c as LONG1 and as text LONG. */
static const uint8_t magic_long1[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                      0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
static const char magic_text[] = "L119547037146038801333356L\n";

struct storage {
    char *key;
    unsigned elsize; /* 0: unknown type */
};

struct legacy {
    struct mg_ctx *ctx;
    struct storage *st;
    size_t n, cap;
    char **keys; /* from the last pickle, in order */
    size_t nkeys;
    int keys_ok;
};

static unsigned
element_size(const char *type)
{
    static const struct {
        const char *name;
        unsigned size;
    } t[] = {{"DoubleStorage", 8},       {"FloatStorage", 4},
             {"HalfStorage", 2},         {"BFloat16Storage", 2},
             {"LongStorage", 8},         {"IntStorage", 4},
             {"ShortStorage", 2},        {"CharStorage", 1},
             {"ByteStorage", 1},         {"BoolStorage", 1},
             {"ComplexFloatStorage", 8}, {"ComplexDoubleStorage", 16},
             {"QInt8Storage", 1},        {"QUInt8Storage", 1},
             {"QInt32Storage", 4},       {"QUInt4x2Storage", 1},
             {"QUInt2x4Storage", 1}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(type, t[i].name) == 0)
            return t[i].size;
    return 0;
}

/* PROTO n? FRAME? <magic long> (BINPUT x | MEMOIZE)? STOP: the literal
   magic-number pickle, and its length. */
static size_t
magic_len(const uint8_t *h, size_t n)
{
    size_t i = 0;
    if (n >= 2 && h[0] == 0x80 && h[1] <= 5)
        i = 2;
    if (i + 9 <= n && h[i] == 0x95)
        i += 9;
    if (i + sizeof(magic_long1) <= n &&
        memcmp(h + i, magic_long1, sizeof(magic_long1)) == 0)
        i += sizeof(magic_long1);
    else if (i + sizeof(magic_text) - 1 <= n &&
             memcmp(h + i, magic_text, sizeof(magic_text) - 1) == 0)
        i += sizeof(magic_text) - 1;
    else
        return 0;
    if (i < n && h[i] == 0x94)
        i++;
    else if (i + 1 < n && h[i] == 'q')
        i += 2;
    return i < n && h[i] == '.' ? i + 1 : 0;
}

static unsigned
legacy_probe(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    return magic_len(h, n) ? 40 : 0;
}

static enum mg_status
add_storage(struct legacy *L, const char *key, size_t klen, unsigned elsize)
{
    for (size_t i = 0; i < L->n; i++)
        if (strlen(L->st[i].key) == klen &&
            memcmp(L->st[i].key, key, klen) == 0)
            return MG_OK;
    if (L->n >= L->ctx->lim->max_members)
        return MG_OK;
    if (L->n == L->cap) {
        size_t nc = L->cap ? L->cap * 2 : 16;
        struct storage *ns = mg_reallocarray(L->st, nc, sizeof(*ns));
        if (ns == NULL)
            return MG_E_NOMEM;
        L->st = ns;
        L->cap = nc;
    }
    L->st[L->n].key = mg_strndup(key, klen);
    if (L->st[L->n].key == NULL)
        return MG_E_NOMEM;
    L->st[L->n].elsize = elsize;
    L->n++;
    return MG_OK;
}

/* ('storage', storage_type, root_key, location, numel, view_metadata) */
static enum mg_status
on_object_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)vm;
    struct legacy *L = user;
    if (ev->kind != PEV_METHOD || strcmp(ev->method, "persistent_load") != 0)
        return MG_OK;
    const struct mg_call *c = (const struct mg_call *)ev->target->u.o;
    const struct mg_obj *t = mg_val_obj(&c->args, OK_TUPLE);
    if (t == NULL || t->nkept < 3)
        return MG_OK;
    const struct mg_val *kind = &t->items[0], *type = &t->items[1],
                        *key = &t->items[2];
    if (kind->kind != VK_STR || strcmp(kind->u.s->data, "storage") != 0 ||
        key->kind != VK_STR || !mg_str_exact(key->u.s))
        return MG_OK;
    const struct mg_obj *g = mg_val_obj(type, OK_GLOBAL);
    unsigned elsize = 0;
    if (g != NULL)
        elsize = element_size(((const struct mg_glob *)g)->name->data);
    return add_storage(L, key->u.s->data, key->u.s->len, elsize);
}

/* The storage key list: a list of strings. */
static enum mg_status
on_keys_stop(void *user, struct mg_pvm *vm, const struct mg_pvm_result *res)
{
    (void)vm;
    struct legacy *L = user;
    const struct mg_obj *l = mg_val_obj(&res->value, OK_LIST);
    if (l == NULL || (l->flags & OBJ_TRUNC))
        return MG_OK;
    L->keys = mg_calloc(l->nkept ? l->nkept : 1, sizeof(*L->keys));
    if (L->keys == NULL)
        return MG_E_NOMEM;
    for (uint32_t i = 0; i < l->nkept; i++) {
        const struct mg_val *k = &l->items[i];
        if (k->kind != VK_STR || !mg_str_exact(k->u.s))
            return MG_OK;
        L->keys[i] = mg_strndup(k->u.s->data, k->u.s->len);
        if (L->keys[i] == NULL)
            return MG_E_NOMEM;
        L->nkeys = i + 1;
    }
    L->keys_ok = 1;
    return MG_OK;
}

static const struct storage *
find_storage(const struct legacy *L, const char *key)
{
    for (size_t i = 0; i < L->n; i++)
        if (strcmp(L->st[i].key, key) == 0)
            return &L->st[i];
    return NULL;
}

/* Skip the raw storages; 0 when they fit exactly. */
static enum mg_status
skip_storages(struct legacy *L, struct mg_stream *s, int *ok)
{
    struct mg_ctx *ctx = L->ctx;
    *ok = 0;
    for (size_t i = 0; i < L->nkeys; i++) {
        const struct storage *st = find_storage(L, L->keys[i]);
        if (st == NULL || st->elsize == 0)
            return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                                (int64_t)mg_stream_tell(s),
                                "storage key '%s' has no known storage type "
                                "in the object pickle",
                                L->keys[i]);
        const uint8_t *p;
        enum mg_status sn = mg_stream_need(s, 8, &p, NULL);
        if (sn == MG_E_NOMEM)
            return sn;
        if (sn != MG_OK)
            return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                                (int64_t)mg_stream_tell(s),
                                "storage '%s' is truncated", L->keys[i]);
        uint64_t count = mg_le64(p), bytes;
        mg_stream_advance(s, 8);
        enum mg_status sk = MG_OK;
        if (!ckd_mul_u64(&bytes, count, st->elsize))
            sk = mg_stream_skip(s, bytes, NULL);
        if (sk == MG_E_NOMEM)
            return sk;
        if (ckd_mul_u64(&bytes, count, st->elsize) || sk != MG_OK)
            return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                                (int64_t)mg_stream_tell(s),
                                "storage '%s' declares %" PRIu64
                                " elements of %u bytes, more than the file "
                                "holds",
                                L->keys[i], count, st->elsize);
    }
    *ok = 1;
    return MG_OK;
}

static enum mg_status
legacy_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct legacy L;
    memset(&L, 0, sizeof(L));
    L.ctx = ctx;
    struct mg_input_cursor cur;
    struct mg_stream s;
    enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &s);
    if (st != MG_OK)
        return mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    struct mg_pickle_summary sum;
    int layout = 1;
    /* magic number, protocol version, sys_info, object, storage keys */
    for (int i = 0; i < 5 && layout && st == MG_OK; i++) {
        struct mg_pickle_opts o = {.single = 1};
        if (i == 3) {
            o.on_event = on_object_event;
            o.user = &L;
        } else if (i == 4) {
            o.on_stop = on_keys_stop;
            o.user = &L;
            o.keep_items = (unsigned)(ctx->lim->max_members < 1000000
                                          ? ctx->lim->max_members
                                          : 1000000);
        }
        st = mg_pickle_scan_stream(ctx, &s, &o, &sum);
        if (st == MG_OK &&
            (sum.streams != 1 || sum.broken != 0 || !sum.complete))
            layout = 0; /* reported by the pickle scan */
    }
    if (st == MG_OK && layout && !L.keys_ok) {
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                          (int64_t)mg_stream_tell(&s),
                          "the fifth pickle of a legacy PyTorch file is not "
                          "a list of storage keys");
        layout = 0;
    }
    if (st == MG_OK && layout) {
        int ok = 0;
        st = skip_storages(&L, &s, &ok);
        layout = ok;
    }
    /* Anything left is not part of the layout: scan it as pickles. */
    if (st == MG_OK && (!layout || !mg_stream_at_end(&s))) {
        if (layout)
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                              (int64_t)mg_stream_tell(&s),
                              "bytes after the last storage of a legacy "
                              "PyTorch file");
        if (st == MG_OK && !mg_stream_at_end(&s))
            st = mg_pickle_scan_stream(ctx, &s, NULL, &sum);
    }
    mg_stream_fini(&s);
    for (size_t i = 0; i < L.n; i++)
        mg_free(L.st[i].key);
    mg_free(L.st);
    for (size_t i = 0; i < L.nkeys; i++)
        mg_free(L.keys[i]);
    mg_free(L.keys);
    return st;
}

const struct mg_format mg_format_torch_legacy = {"pytorch-legacy", legacy_probe,
                                                 legacy_scan};
