/*
 * model.c - the pieces of a checkpoint being converted: dtypes, the
 * string map, the model's lifetime, and the result's reasons and notes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/limits.h"
#include "io/ckd.h"

/* Element sizes and byte-order units (a complex64 is two floats). */
static const struct cv_dtype dtypes[DT_COUNT] = {
    [DT_BOOL] = {"BOOL", 1, 1, 0},
    [DT_F4] = {"F4", 1, 1, 1},
    [DT_U8] = {"U8", 1, 1, 0},
    [DT_I8] = {"I8", 1, 1, 0},
    [DT_F8_E5M2] = {"F8_E5M2", 1, 1, 0},
    [DT_F8_E4M3] = {"F8_E4M3", 1, 1, 0},
    [DT_F8_E8M0] = {"F8_E8M0", 1, 1, 0},
    [DT_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 1, 1, 0},
    [DT_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 1, 1, 0},
    [DT_I16] = {"I16", 2, 2, 0},
    [DT_U16] = {"U16", 2, 2, 0},
    [DT_F16] = {"F16", 2, 2, 0},
    [DT_BF16] = {"BF16", 2, 2, 0},
    [DT_I32] = {"I32", 4, 4, 0},
    [DT_U32] = {"U32", 4, 4, 0},
    [DT_F32] = {"F32", 4, 4, 0},
    [DT_C64] = {"C64", 8, 4, 0},
    [DT_F64] = {"F64", 8, 8, 0},
    [DT_I64] = {"I64", 8, 8, 0},
    [DT_U64] = {"U64", 8, 8, 0},
};

const struct cv_dtype *
cv_dtype(enum cv_dt dt)
{
    return &dtypes[dt < DT_COUNT ? dt : DT_U8];
}

int
cv_dtype_by_name(const char *name)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return i;
    return -1;
}

void *
cv_reserve(void *v, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? *cap * 2 : first;
    if (nc <= *cap)
        return NULL;
    void *nv = mg_reallocarray(v, nc, size);
    if (nv != NULL)
        *cap = nc;
    return nv;
}

/* ------------------------------------------------------------------ */
/* map */

static uint64_t
hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

int
cv_map_get(const struct cv_map *m, const char *key, size_t len, size_t *val)
{
    if (m->cap == 0)
        return 0;
    uint64_t h = hash_bytes(key, len);
    for (size_t i = (size_t)h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct cv_map_ent *e = &m->e[i];
        if (e->key == NULL)
            return 0;
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
            *val = e->val;
            return 1;
        }
    }
}

static void
map_insert(struct cv_map_ent *tab, size_t cap, const struct cv_map_ent *n)
{
    size_t i = (size_t)n->hash & (cap - 1);
    while (tab[i].key != NULL)
        i = (i + 1) & (cap - 1);
    tab[i] = *n;
}

enum mg_status
cv_map_put(struct cv_map *m, const char *key, size_t len, size_t val)
{
    /* Grow at half load: probes stay short and a free slot always ends
       them. */
    if (m->n + 1 > m->cap / 2) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        if (nc < m->cap)
            return MG_E_NOMEM;
        struct cv_map_ent *ne = mg_calloc(nc, sizeof(*ne));
        if (ne == NULL)
            return MG_E_NOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key != NULL)
                map_insert(ne, nc, &m->e[i]);
        mg_free(m->e);
        m->e = ne;
        m->cap = nc;
    }
    struct cv_map_ent n = {key, len, hash_bytes(key, len), val};
    map_insert(m->e, m->cap, &n);
    m->n++;
    return MG_OK;
}

void
cv_map_fini(struct cv_map *m)
{
    mg_free(m->e);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* model */

void
cv_model_init(struct cv_model *m,
              const struct mg_limits *lim,
              struct mg_conversion *res,
              struct mg_input *in)
{
    memset(m, 0, sizeof(*m));
    m->lim = lim;
    m->res = res;
    m->in = in;
    m->fd = -1;
}

void
cv_model_fini(struct cv_model *m)
{
    for (size_t i = 0; i < m->nst; i++) {
        mg_free(m->st[i].key);
        mg_free(m->st[i].mem);
    }
    mg_free(m->st);
    for (size_t i = 0; i < m->nt; i++) {
        mg_free(m->t[i].name);
        mg_free(m->t[i].shape);
    }
    mg_free(m->t);
    cv_map_fini(&m->stmap);
    cv_map_fini(&m->tmap);
    mg_free(m->name);
    mg_free(m->order);
    mg_free(m->header);
    mg_zip_reader_close(m->zip);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* reasons and notes */

enum mg_status
cv_refuse(struct mg_conversion *c, enum mg_status st, const char *fmt, ...)
{
    if (c->reason[0] == '\0') {
        int k = c->prefix
                    ? snprintf(c->reason, sizeof(c->reason), "%s: ", c->prefix)
                    : 0;
        size_t off = k > 0 && (size_t)k < sizeof(c->reason) ? (size_t)k : 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->reason + off, sizeof(c->reason) - off, fmt, ap);
        va_end(ap);
    }
    return st;
}

enum mg_status
cv_note(struct mg_conversion *c, const char *fmt, ...)
{
    if (c->nnotes >= MG_CONVERT_MAX_NOTES) {
        c->notes_dropped++;
        return MG_OK;
    }
    char **nn = cv_reserve(c->notes, c->nnotes, &c->capnotes, sizeof(*nn), 8);
    if (nn == NULL)
        return MG_E_NOMEM;
    c->notes = nn;
    char buf[1024];
    int k = c->prefix ? snprintf(buf, sizeof(buf), "%s: ", c->prefix) : 0;
    size_t off = k > 0 && (size_t)k < sizeof(buf) ? (size_t)k : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + off, sizeof(buf) - off, fmt, ap);
    va_end(ap);
    c->notes[c->nnotes] = mg_strdup(buf);
    if (c->notes[c->nnotes] == NULL)
        return MG_E_NOMEM;
    c->nnotes++;
    return MG_OK;
}
