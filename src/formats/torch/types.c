/*
 * types.c - facts of PyTorch's serialization (see torch.h).
 */
#include <string.h>

#include "core/alloc.h"
#include "formats/torch/torch.h"
#include "io/ckd.h"
#include "io/reader.h"

static const struct mg_torch_storage_type storage_types[] = {
    {"DoubleStorage", 8, "F64"},
    {"FloatStorage", 4, "F32"},
    {"HalfStorage", 2, "F16"},
    {"BFloat16Storage", 2, "BF16"},
    {"LongStorage", 8, "I64"},
    {"IntStorage", 4, "I32"},
    {"ShortStorage", 2, "I16"},
    {"CharStorage", 1, "I8"},
    {"ByteStorage", 1, "U8"},
    {"BoolStorage", 1, "BOOL"},
    {"ComplexFloatStorage", 8, "C64"},
    {"ComplexDoubleStorage", 16, NULL},
    {"QInt8Storage", 1, NULL},
    {"QUInt8Storage", 1, NULL},
    {"QInt32Storage", 4, NULL},
    {"QUInt4x2Storage", 1, NULL},
    {"QUInt2x4Storage", 1, NULL},
    /* torch.UntypedStorage: bytes (torch.load gives it dtype uint8) */
    {"UntypedStorage", 1, "U8"},
};

const struct mg_torch_storage_type *
mg_torch_storage_type(const char *name)
{
    for (size_t i = 0; i < sizeof(storage_types) / sizeof(storage_types[0]);
         i++)
        if (strcmp(name, storage_types[i].name) == 0)
            return &storage_types[i];
    return NULL;
}

/* The magic number 0x1950a86a20f9469cfc6c as LONG1 and as text LONG. */
static const uint8_t magic_long1[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                      0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
static const char magic_text[] = "L119547037146038801333356L\n";

size_t
mg_torch_legacy_magic_len(const uint8_t *h, size_t n)
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

int
mg_torch_pid_parse(const struct mg_val *pid, struct mg_torch_pid *out)
{
    const struct mg_obj *t = mg_val_obj(pid, OK_TUPLE);
    if (t == NULL || t->nkept < 3)
        return 0;
    const struct mg_val *kind = &t->items[0], *key = &t->items[2];
    if (kind->kind != VK_STR || !mg_str_exact(kind->u.s) ||
        kind->u.s->len != 7 || memcmp(kind->u.s->data, "storage", 7) != 0 ||
        key->kind != VK_STR || !mg_str_exact(key->u.s))
        return 0;
    const struct mg_obj *g = mg_val_obj(&t->items[1], OK_GLOBAL);
    out->items = t->items;
    out->n = t->nkept;
    out->key = key->u.s;
    out->type = (const struct mg_glob *)g;
    return 1;
}

int
mg_torch_pid_event(const struct mg_pevent *ev, struct mg_torch_pid *out)
{
    if (ev->kind != PEV_METHOD || strcmp(ev->method, "persistent_load") != 0)
        return 0;
    const struct mg_call *c = (const struct mg_call *)ev->target->u.o;
    return mg_torch_pid_parse(&c->args, out);
}

enum mg_status
mg_torch_storages_add(struct mg_torch_storages *s,
                      const char *key,
                      size_t n,
                      unsigned elsize,
                      uint64_t max)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->v[i].key) == n && memcmp(s->v[i].key, key, n) == 0)
            return MG_OK;
    if (s->n >= max)
        return MG_OK;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct mg_torch_storage *nv = mg_reallocarray(s->v, nc, sizeof(*nv));
        if (nv == NULL)
            return MG_E_NOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].key = mg_strndup(key, n);
    if (s->v[s->n].key == NULL)
        return MG_E_NOMEM;
    s->v[s->n].elsize = elsize;
    s->n++;
    return MG_OK;
}

void
mg_torch_storages_free(struct mg_torch_storages *s)
{
    for (size_t i = 0; i < s->n; i++)
        mg_free(s->v[i].key);
    mg_free(s->v);
    memset(s, 0, sizeof(*s));
}

enum mg_status
mg_torch_legacy_storage(struct mg_stream *s,
                        unsigned elsize,
                        uint64_t *count,
                        uint64_t *data_off)
{
    const uint8_t *p;
    enum mg_status st = mg_stream_need(s, 8, &p, NULL);
    if (st != MG_OK)
        return st == MG_E_LIMIT ? MG_E_TRUNCATED : st;
    uint64_t n = mg_le64(p), bytes;
    if (ckd_mul_u64(&bytes, n, elsize))
        return MG_E_LIMIT;
    mg_stream_advance(s, 8);
    *count = n;
    *data_off = mg_stream_tell(s);
    return mg_stream_skip(s, bytes, NULL);
}
