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
#include "formats/torch/torch.h"
#include "io/ckd.h"
#include "io/reader.h"

struct legacy {
    struct mg_ctx *ctx;
    struct mg_torch_storages st;
    char **keys; /* from the last pickle, in order */
    size_t nkeys;
    int keys_ok;
};

static unsigned
legacy_probe(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    return mg_torch_legacy_magic_len(h, n) ? 40 : 0;
}

/* ('storage', storage_type, root_key, location, numel, view_metadata) */
static enum mg_status
on_object_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)vm;
    struct legacy *L = user;
    struct mg_torch_pid pid;
    if (!mg_torch_pid_event(ev, &pid))
        return MG_OK;
    const struct mg_torch_storage_type *t =
        pid.type ? mg_torch_storage_type(pid.type->name->data) : NULL;
    unsigned elsize = t ? t->elsize : 0;
    return mg_torch_storages_add(&L->st, pid.key->data, pid.key->len, elsize,
                                 L->ctx->lim->max_members);
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

static const struct mg_torch_storage *
find_storage(const struct legacy *L, const char *key)
{
    for (size_t i = 0; i < L->st.n; i++)
        if (strcmp(L->st.v[i].key, key) == 0)
            return &L->st.v[i];
    return NULL;
}

/* Skip the raw storages; 0 when they fit exactly. */
static enum mg_status
skip_storages(struct legacy *L, struct mg_stream *s, int *ok)
{
    struct mg_ctx *ctx = L->ctx;
    *ok = 0;
    for (size_t i = 0; i < L->nkeys; i++) {
        const struct mg_torch_storage *sto = find_storage(L, L->keys[i]);
        if (sto == NULL || sto->elsize == 0)
            return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                                (int64_t)mg_stream_tell(s),
                                "storage key '%s' has no known storage type "
                                "in the object pickle",
                                L->keys[i]);
        uint64_t count = 0, data_off = 0;
        enum mg_status st =
            mg_torch_legacy_storage(s, sto->elsize, &count, &data_off);
        if (st == MG_E_TRUNCATED && data_off == 0)
            return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                                (int64_t)mg_stream_tell(s),
                                "storage '%s' is truncated", L->keys[i]);
        if (st == MG_E_TRUNCATED || st == MG_E_LIMIT)
            return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "torch-layout",
                                (int64_t)mg_stream_tell(s),
                                "storage '%s' declares %" PRIu64
                                " elements of %u bytes, more than the file "
                                "holds",
                                L->keys[i], count, sto->elsize);
        if (st != MG_OK)
            return st;
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
    mg_torch_storages_free(&L.st);
    for (size_t i = 0; i < L.nkeys; i++)
        mg_free(L.keys[i]);
    mg_free(L.keys);
    return st;
}

const struct mg_format mg_format_torch_legacy = {"pytorch-legacy", legacy_probe,
                                                 legacy_scan};
