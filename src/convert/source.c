/*
 * source.c - reading a checkpoint for conversion, the way torch.load
 * reads it (torch/serialization.py):
 *
 * - a file that starts with a ZIP local header is the ZIP format: the
 *   archive's data.pkl is unpickled, storage <key> is member
 *   data/<key> (looked up without regard to case, as PyTorch's miniz
 *   does), and an optional "byteorder" member says how the storages'
 *   elements are stored;
 * - otherwise a file that starts with the legacy magic number is the
 *   legacy format: five pickles (magic number, protocol version 1001,
 *   sys_info, the object, the storage keys), then each storage of the key
 *   list as an 8-byte count and count elements, always little-endian.
 *
 * Every storage must be present and hold at least the bytes its
 * persistent id declares; nothing is read from the storages here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/limits.h"
#include "formats/torch/torch.h"
#include "io/ckd.h"
#include "io/stream.h"

/* Run one pickle stream; the result stays valid until the next run. */
static enum mg_status
run_stream(struct cv_model *m,
           struct mg_pvm *vm,
           struct mg_stream *s,
           const char *what,
           struct mg_pvm_result *res)
{
    enum mg_status st = mg_pvm_run(vm, s, res);
    if (m->stop)
        return MG_E_UNSUPPORTED;
    if (st == MG_E_LIMIT)
        return cv_refuse(m->res, MG_E_LIMIT, "%s: limit %s reached", what,
                         vm->limit_name ? vm->limit_name : "?");
    if (st != MG_OK)
        return cv_refuse(m->res, st, "%s: %s", what, mg_strerror(st));
    if (res->end == PEND_EMPTY)
        return cv_refuse(m->res, MG_E_MALFORMED, "%s is missing", what);
    if (res->end == PEND_BREAK)
        return cv_refuse(m->res, MG_E_MALFORMED,
                         "%s is broken at offset %" PRIu64 ": %s", what,
                         res->end_off, res->why ? res->why : "?");
    return MG_OK;
}

static void
vm_setup(struct cv_model *m, struct mg_pvm *vm)
{
    mg_pvm_init(vm, m->lim, cv_on_event, m);
    /* Whole containers: a state dict has one entry per tensor. */
    vm->keep_items = (unsigned)(m->lim->max_values < UINT32_MAX / 2
                                    ? m->lim->max_values * 2 + 2
                                    : UINT32_MAX);
}

/* ------------------------------------------------------------------ */
/* ZIP */

static enum mg_status
zip_member(struct cv_model *m, const char *rel, const char *what, long *idx)
{
    *idx = mg_zip_reader_find(m->zip, rel);
    if (*idx == -2)
        return cv_refuse(m->res, MG_E_MALFORMED,
                         "the archive has several members named %s%s: "
                         "readers disagree on which one is %s",
                         mg_zip_reader_prefix(m->zip), rel, what);
    return MG_OK;
}

static enum mg_status
zip_byteorder(struct cv_model *m)
{
    long i;
    enum mg_status st = zip_member(m, "byteorder", "the byte order", &i);
    if (st != MG_OK || i < 0)
        return st; /* absent: what the machine wrote, little-endian here */
    char b[16];
    uint64_t n = mg_zip_reader_size(m->zip, (size_t)i);
    if (n >= sizeof(b) ||
        (st = mg_zip_reader_read(m->zip, (size_t)i, b, (size_t)n)) != MG_OK)
        return cv_refuse(m->res, st != MG_OK ? st : MG_E_MALFORMED,
                         "the byteorder record is unreadable");
    b[n] = '\0';
    if (strcmp(b, "little") == 0)
        return MG_OK;
    if (strcmp(b, "big") == 0) {
        m->big_endian = 1;
        return cv_note(m->res, "the checkpoint was saved big-endian: "
                               "elements converted to little-endian, as "
                               "torch.load does");
    }
    return cv_refuse(m->res, MG_E_MALFORMED,
                     "the byteorder record says '%s', neither 'little' nor "
                     "'big'",
                     b);
}

static enum mg_status
zip_storages(struct cv_model *m)
{
    for (size_t i = 0; i < m->nst; i++) {
        struct cv_storage *s = &m->st[i];
        char rel[MG_KEEP_STRING + 8];
        snprintf(rel, sizeof(rel), "data/%s", s->key);
        long idx;
        enum mg_status st = zip_member(m, rel, "the storage", &idx);
        if (st != MG_OK)
            return st;
        if (idx < 0)
            return cv_refuse(m->res, MG_E_MALFORMED,
                             "storage '%s' is missing: the archive has no "
                             "member %s%s",
                             s->key, mg_zip_reader_prefix(m->zip), rel);
        uint64_t have = mg_zip_reader_size(m->zip, (size_t)idx);
        if (have < s->nbytes)
            return cv_refuse(m->res, MG_E_TRUNCATED,
                             "storage '%s' is short: %" PRIu64
                             " bytes, the checkpoint declares %" PRIu64,
                             s->key, have, s->nbytes);
        s->member = idx;
        s->direct = mg_zip_reader_data_offset(m->zip, (size_t)idx,
                                              &s->file_off) == MG_OK;
    }
    return MG_OK;
}

static enum mg_status
load_zip(struct cv_model *m)
{
    enum mg_status st = mg_zip_reader_open(m->in, m->lim, &m->zip);
    if (st == MG_E_NOMEM || st == MG_E_IO)
        return cv_refuse(m->res, st, "reading the archive: %s",
                         mg_strerror(st));
    if (st != MG_OK)
        return cv_refuse(m->res, st, "the ZIP archive is unreadable: %s",
                         mg_strerror(st));
    if (mg_zip_reader_damaged(m->zip))
        return cv_refuse(m->res, MG_E_MALFORMED,
                         "the ZIP archive is damaged or ambiguous (readers "
                         "disagree on its members)");
    long pkl, ts;
    if ((st = zip_member(m, "data.pkl", "data.pkl", &pkl)) != MG_OK ||
        (st = zip_member(m, "constants.pkl", "constants.pkl", &ts)) != MG_OK)
        return st;
    if (ts >= 0)
        return cv_refuse(m->res, MG_E_UNSUPPORTED,
                         "a TorchScript archive (torch.jit.save): a program, "
                         "not a checkpoint");
    if (pkl < 0)
        return cv_refuse(m->res, MG_E_UNSUPPORTED,
                         "a ZIP archive without data.pkl: not a PyTorch "
                         "checkpoint");
    if ((st = zip_byteorder(m)) != MG_OK)
        return st;
    uint64_t n = mg_zip_reader_size(m->zip, (size_t)pkl);
    size_t len;
    if (n > m->lim->max_spool_bytes || ckd_u64_to_size(&len, n))
        return cv_refuse(
            m->res, MG_E_LIMIT,
            "data.pkl has %" PRIu64 " bytes (limit max-spool-bytes)", n);
    uint8_t *buf = mg_malloc(len);
    if (buf == NULL)
        return cv_refuse(m->res, MG_E_NOMEM, "out of memory");
    st = mg_zip_reader_read(m->zip, (size_t)pkl, buf, len);
    if (st != MG_OK) {
        mg_free(buf);
        return cv_refuse(m->res, st, "data.pkl is unreadable: %s",
                         mg_strerror(st));
    }
    m->pid_items = 5;
    struct mg_pvm vm;
    vm_setup(m, &vm);
    struct mg_stream s;
    mg_stream_init_mem(&s, buf, len, 0);
    struct mg_pvm_result res;
    st = run_stream(m, &vm, &s, "data.pkl", &res);
    if (st == MG_OK)
        st = cv_flatten(m, &res.value);
    mg_stream_fini(&s);
    mg_pvm_fini(&vm);
    mg_free(buf);
    return st == MG_OK ? zip_storages(m) : st;
}

/* ------------------------------------------------------------------ */
/* legacy */

/* The storage key list: storages in file order. */
static enum mg_status
legacy_keys(struct cv_model *m, const struct mg_val *v, struct mg_stream *s)
{
    const struct mg_obj *l = mg_val_obj(v, OK_LIST);
    if (l == NULL || (l->flags & OBJ_TRUNC))
        return cv_refuse(m->res, MG_E_MALFORMED,
                         "the fifth pickle is not the list of storage keys");
    for (uint32_t i = 0; i < l->nkept; i++) {
        const struct mg_val *k = &l->items[i];
        size_t idx;
        if (k->kind != VK_STR || !mg_str_exact(k->u.s) ||
            !cv_map_get(&m->stmap, k->u.s->data, k->u.s->len, &idx))
            return cv_refuse(m->res, MG_E_MALFORMED,
                             "storage key %u of the key list is not a "
                             "storage of the checkpoint",
                             i);
        struct cv_storage *sto = &m->st[idx];
        if (sto->located)
            return cv_refuse(m->res, MG_E_MALFORMED,
                             "storage '%s' is listed twice", sto->key);
        unsigned es = cv_dtype(sto->dt)->size;
        uint64_t count = 0, off = 0;
        enum mg_status st = mg_torch_legacy_storage(s, es, &count, &off);
        if (st == MG_E_TRUNCATED || st == MG_E_LIMIT)
            return cv_refuse(m->res, MG_E_TRUNCATED,
                             "storage '%s' is short: the file ends before "
                             "its bytes",
                             sto->key);
        if (st != MG_OK)
            return cv_refuse(m->res, st, "storage '%s': %s", sto->key,
                             mg_strerror(st));
        /* torch.load: "storage has wrong byte size" */
        if (count != sto->nbytes / es)
            return cv_refuse(m->res, MG_E_MALFORMED,
                             "storage '%s' holds %" PRIu64
                             " elements, the checkpoint declares %" PRIu64,
                             sto->key, count, sto->nbytes / es);
        sto->file_off = off;
        sto->direct = 1;
        sto->located = 1;
    }
    for (size_t i = 0; i < m->nst; i++)
        if (!m->st[i].located)
            return cv_refuse(m->res, MG_E_MALFORMED,
                             "storage '%s' is missing: the key list does not "
                             "name it",
                             m->st[i].key);
    return MG_OK;
}

static enum mg_status
load_legacy(struct cv_model *m)
{
    static const char *const what[] = {"the magic number", "the version",
                                       "sys_info", "the object",
                                       "the storage key list"};
    struct mg_input_cursor cur;
    struct mg_stream s;
    enum mg_status st = mg_input_stream(m->in, 0, UINT64_MAX, &cur, &s);
    if (st != MG_OK)
        return cv_refuse(m->res, st, "%s", mg_strerror(st));
    m->pid_items = 6;
    struct mg_pvm vm;
    vm_setup(m, &vm);
    struct mg_pvm_result res;
    for (int i = 0; i < 5 && st == MG_OK; i++) {
        st = run_stream(m, &vm, &s, what[i], &res);
        if (st != MG_OK)
            break;
        if (i == 1 && (res.value.kind != VK_INT || res.value.u.i != 1001))
            st = cv_refuse(m->res, MG_E_UNSUPPORTED,
                           "legacy protocol version is not 1001");
        else if (i == 3)
            st = cv_flatten(m, &res.value);
        else if (i == 4)
            st = legacy_keys(m, &res.value, &s);
    }
    mg_pvm_fini(&vm);
    mg_stream_fini(&s);
    return st;
}

/* ------------------------------------------------------------------ */

enum mg_status
cv_load(struct cv_model *m)
{
    uint8_t head[64];
    size_t n = m->in->size < sizeof(head) ? (size_t)m->in->size : sizeof(head);
    enum mg_status st = mg_input_read(m->in, 0, head, n);
    if (st != MG_OK)
        return cv_refuse(m->res, st, "reading the checkpoint: %s",
                         mg_strerror(st));
    /* torch.load's own test (_is_zipfile): the first four bytes. */
    if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
        return load_zip(m);
    if (mg_torch_legacy_magic_len(head, n) > 0)
        return load_legacy(m);
    return cv_refuse(m->res, MG_E_UNSUPPORTED,
                     "not a PyTorch checkpoint (neither the ZIP format nor "
                     "the legacy format)");
}

enum mg_status
cv_storage_read(
    struct cv_model *m, struct cv_storage *s, uint64_t off, void *buf, size_t n)
{
    if (off > s->nbytes || n > s->nbytes - off)
        return MG_E_INTERNAL;
    if (s->direct)
        return mg_input_read(m->in, s->file_off + off, buf, n);
    if (s->mem == NULL) {
        /* A compressed member (torch.save never writes one): inflate it
           whole, once. */
        uint64_t size = mg_zip_reader_size(m->zip, (size_t)s->member);
        size_t len;
        if (size > m->lim->max_spool_bytes || ckd_u64_to_size(&len, size))
            return cv_refuse(m->res, MG_E_LIMIT,
                             "storage '%s' is compressed and has %" PRIu64
                             " bytes (limit max-spool-bytes)",
                             s->key, size);
        s->mem = mg_malloc(len);
        if (s->mem == NULL)
            return MG_E_NOMEM;
        enum mg_status st =
            mg_zip_reader_read(m->zip, (size_t)s->member, s->mem, len);
        if (st != MG_OK) {
            mg_free(s->mem);
            s->mem = NULL;
            return cv_refuse(m->res, st, "storage '%s' is unreadable: %s",
                             s->key, mg_strerror(st));
        }
    }
    memcpy(buf, s->mem + off, n);
    return MG_OK;
}
