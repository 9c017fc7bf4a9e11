/*
 * write.c - the safetensors file (huggingface/safetensors README, format
 * section): an 8-byte little-endian header length, the JSON header
 * {"__metadata__": {...}, "name": {"dtype", "shape", "data_offsets"}...}
 * padded with spaces to a multiple of 8, then the tensors' bytes back to
 * back, little-endian, row-major, without gaps.
 *
 * Layout as the reference writer (safetensors/src/tensor.rs, prepare):
 * tensors in decreasing dtype order (which keeps every tensor aligned to
 * its element size), then by name; compact JSON with "__metadata__" first.
 * Tensors that are identical (same storage, offset, dtype, shape and
 * strides) are written once, under the smallest name; the others are
 * recorded in "__metadata__" as "other": "kept", as the Hugging Face
 * converter records the names it removes. Views that are not contiguous
 * or do not start their storage are materialised, as .contiguous() does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/limits.h"
#include "io/ckd.h"

/* ------------------------------------------------------------------ */
/* a bounded text buffer for the header */

struct tbuf {
    char *p;
    size_t len, cap;
    int full; /* the header would pass MG_CONVERT_MAX_HEADER */
    int nomem;
};

static void
tb_put(struct tbuf *b, const char *s, size_t n)
{
    if (b->full || b->nomem)
        return;
    if (n > MG_CONVERT_MAX_HEADER - b->len) {
        b->full = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        char *np = mg_realloc(b->p, nc);
        if (np == NULL) {
            b->nomem = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void
tb_lit(struct tbuf *b, const char *s)
{
    tb_put(b, s, strlen(s));
}

static void
tb_u64(struct tbuf *b, uint64_t v)
{
    char d[24];
    int n = snprintf(d, sizeof(d), "%" PRIu64, v);
    tb_put(b, d, (size_t)n);
}

/* A JSON string as serde_json writes it: quotes, backslashes and control
   characters escaped, everything else (UTF-8) as is. */
static void
tb_str(struct tbuf *b, const char *s)
{
    tb_put(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        tb_put(b, run, (size_t)(s - run));
        char e[8];
        switch (c) {
        case '"':
            tb_lit(b, "\\\"");
            break;
        case '\\':
            tb_lit(b, "\\\\");
            break;
        case '\b':
            tb_lit(b, "\\b");
            break;
        case '\f':
            tb_lit(b, "\\f");
            break;
        case '\n':
            tb_lit(b, "\\n");
            break;
        case '\r':
            tb_lit(b, "\\r");
            break;
        case '\t':
            tb_lit(b, "\\t");
            break;
        default:
            snprintf(e, sizeof(e), "\\u%04x", c);
            tb_lit(b, e);
            break;
        }
        run = s + 1;
    }
    tb_put(b, run, (size_t)(s - run));
    tb_put(b, "\"", 1);
}

/* ------------------------------------------------------------------ */
/* plan */

static int
cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/* Identity of a tensor's bytes, then name. */
static int
cmp_identity(const void *pa, const void *pb)
{
    const struct cv_tensor *a = *(const struct cv_tensor *const *)pa;
    const struct cv_tensor *b = *(const struct cv_tensor *const *)pb;
    int c = cmp_u64(a->storage, b->storage);
    if (c == 0)
        c = cmp_u64(a->off, b->off);
    if (c == 0)
        c = cmp_u64(a->dt, b->dt);
    if (c == 0)
        c = cmp_u64(a->ndim, b->ndim);
    for (unsigned i = 0; c == 0 && i < 2 * a->ndim; i++)
        c = cmp_u64(a->shape[i], b->shape[i]);
    return c != 0 ? c : strcmp(a->name, b->name);
}

static int
same_bytes(const struct cv_tensor *a, const struct cv_tensor *b)
{
    return a->storage == b->storage && a->off == b->off && a->dt == b->dt &&
           a->ndim == b->ndim &&
           memcmp(a->shape, b->shape, 2 * a->ndim * sizeof(uint64_t)) == 0;
}

/* File order: decreasing dtype, then name. */
static int
cmp_layout(const void *pa, const void *pb)
{
    const struct cv_tensor *a = *(const struct cv_tensor *const *)pa;
    const struct cv_tensor *b = *(const struct cv_tensor *const *)pb;
    if (a->dt != b->dt)
        return a->dt > b->dt ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int
cmp_name(const void *pa, const void *pb)
{
    const struct cv_tensor *a = *(const struct cv_tensor *const *)pa;
    const struct cv_tensor *b = *(const struct cv_tensor *const *)pb;
    return strcmp(a->name, b->name);
}

static enum mg_status
build_header(struct cv_model *m, struct cv_tensor **p)
{
    struct tbuf b = {0};
    tb_lit(&b, "{\"__metadata__\":{\"format\":\"pt\"");
    /* aliases, by name */
    size_t na = 0;
    for (size_t i = 0; i < m->nt; i++)
        if (m->t[i].alias != SIZE_MAX)
            p[na++] = &m->t[i];
    qsort(p, na, sizeof(*p), cmp_name);
    for (size_t i = 0; i < na; i++) {
        tb_put(&b, ",", 1);
        tb_str(&b, p[i]->name);
        tb_put(&b, ":", 1);
        tb_str(&b, m->t[p[i]->alias].name);
    }
    tb_put(&b, "}", 1);
    for (size_t k = 0; k < m->nwritten; k++) {
        const struct cv_tensor *t = &m->t[m->order[k]];
        tb_put(&b, ",", 1);
        tb_str(&b, t->name);
        tb_lit(&b, ":{\"dtype\":\"");
        tb_lit(&b, cv_dtype(t->dt)->name);
        tb_lit(&b, "\",\"shape\":[");
        for (unsigned i = 0; i < t->ndim; i++) {
            if (i)
                tb_put(&b, ",", 1);
            /* F4: two elements per byte along the last dimension
               (checked not to overflow when the tensor was rebuilt) */
            tb_u64(&b, cv_dtype(t->dt)->packed && i == t->ndim - 1
                           ? 2 * t->shape[i]
                           : t->shape[i]);
        }
        tb_lit(&b, "],\"data_offsets\":[");
        tb_u64(&b, t->begin);
        tb_put(&b, ",", 1);
        tb_u64(&b, t->begin + t->nbytes);
        tb_lit(&b, "]}");
    }
    tb_put(&b, "}", 1);
    while (!b.full && !b.nomem && b.len % 8 != 0)
        tb_put(&b, " ", 1);
    if (b.nomem || b.full) {
        mg_free(b.p);
        if (b.nomem)
            return MG_E_NOMEM;
        return cv_refuse(m->res, MG_E_LIMIT,
                         "the safetensors header would pass %u bytes, more "
                         "than safetensors readers accept",
                         MG_CONVERT_MAX_HEADER);
    }
    m->header = b.p;
    m->header_len = b.len;
    return MG_OK;
}

enum mg_status
cv_plan(struct cv_model *m)
{
    struct cv_tensor **p = mg_calloc(m->nt ? m->nt : 1, sizeof(*p));
    m->order = mg_calloc(m->nt ? m->nt : 1, sizeof(*m->order));
    if (p == NULL || m->order == NULL) {
        mg_free(p);
        return MG_E_NOMEM;
    }
    for (size_t i = 0; i < m->nt; i++)
        p[i] = &m->t[i];
    qsort(p, m->nt, sizeof(*p), cmp_identity);
    for (size_t i = 0; i < m->nt; i++) {
        size_t first = i;
        while (i + 1 < m->nt && same_bytes(p[first], p[i + 1])) {
            p[i + 1]->alias = (size_t)(p[first] - m->t);
            m->naliases++;
            i++;
        }
    }
    size_t nw = 0;
    for (size_t i = 0; i < m->nt; i++)
        if (m->t[i].alias == SIZE_MAX)
            p[nw++] = &m->t[i];
    qsort(p, nw, sizeof(*p), cmp_layout);
    uint64_t off = 0;
    enum mg_status st = MG_OK;
    for (size_t k = 0; k < nw && st == MG_OK; k++) {
        p[k]->begin = off;
        m->order[k] = (size_t)(p[k] - m->t);
        if (ckd_add_u64(&off, off, p[k]->nbytes))
            st = cv_refuse(m->res, MG_E_LIMIT,
                           "the tensors' sizes overflow 64 bits");
        if (st == MG_OK && (p[k]->off != 0 || !p[k]->contiguous ||
                            p[k]->nbytes != m->st[p[k]->storage].nbytes))
            st = cv_note(m->res,
                         "'%s' is a view of a storage (%s): its elements "
                         "are copied out, as .contiguous() does",
                         p[k]->name,
                         p[k]->contiguous ? "part of it" : "not contiguous");
    }
    m->nwritten = nw;
    m->data_bytes = off;
    /* A view with stride 0 repeats its bytes: a small file could ask for
       terabytes. Bounded as decompression is. */
    if (st == MG_OK && off > m->lim->max_total_bytes)
        st = cv_refuse(
            m->res, MG_E_LIMIT,
            "the tensors hold %" PRIu64 " bytes (limit max-total-bytes)", off);
    for (size_t k = 0; k < nw && st == MG_OK; k++) {
        const struct cv_tensor *t = p[k];
        if (!t->contiguous && t->nbytes > MG_CONVERT_RATIO_FLOOR &&
            t->nbytes / (t->span ? t->span : 1) > m->lim->max_ratio)
            st = cv_refuse(m->res, MG_E_LIMIT,
                           "'%s' repeats %" PRIu64 " bytes of its storage "
                           "into %" PRIu64 " (limit max-ratio)",
                           t->name, t->span, t->nbytes);
    }
    for (size_t i = 0; st == MG_OK && i < m->nt; i++)
        if (m->t[i].alias != SIZE_MAX)
            st = cv_note(m->res,
                         "'%s' is the same tensor as '%s': stored once, "
                         "the name kept in __metadata__",
                         m->t[i].name, m->t[m->t[i].alias].name);
    if (st == MG_OK)
        st = build_header(m, p);
    mg_free(p);
    return st;
}

/* ------------------------------------------------------------------ */
/* write */

static enum mg_status
sink_put(struct cv_model *m, struct cv_sink *o, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    if (o->fd < 0) {
        if (n > o->cap - o->len)
            return cv_refuse(m->res, MG_E_LIMIT, "the output is too large");
        memcpy(o->mem + o->len, p, n);
        o->len += n;
        return MG_OK;
    }
    while (n > 0) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            char e[128] = "no space left";
            if (w < 0 && strerror_r(errno, e, sizeof(e)) != 0)
                snprintf(e, sizeof(e), "error %d", errno);
            return cv_refuse(m->res, MG_E_IO, "writing the output: %s", e);
        }
        p += w;
        n -= (size_t)w;
    }
    return MG_OK;
}

static enum mg_status
read_storage(
    struct cv_model *m, struct cv_storage *s, uint64_t off, void *buf, size_t n)
{
    enum mg_status st = cv_storage_read(m, s, off, buf, n);
    if (st != MG_OK)
        return cv_refuse(m->res, st, "reading storage '%s': %s", s->key,
                         mg_strerror(st));
    return MG_OK;
}

static void
swap_units(uint8_t *p, size_t n, unsigned unit)
{
    for (size_t i = 0; i + unit <= n; i += unit)
        for (unsigned a = 0, b = unit - 1; a < b; a++, b--) {
            uint8_t x = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = x;
        }
}

struct wctx {
    struct cv_model *m;
    struct cv_sink *out;
    uint8_t *buf; /* cap bytes: a multiple of every element size */
    size_t cap;
    size_t fill;
    unsigned swap; /* 0: none */
};

static enum mg_status
flush(struct wctx *w)
{
    if (w->swap > 1)
        swap_units(w->buf, w->fill, w->swap);
    enum mg_status st = sink_put(w->m, w->out, w->buf, w->fill);
    w->fill = 0;
    return st;
}

/* Contiguous bytes of a file to the output file in the kernel (no copy
   through user space, as cp does). 0 when the kernel cannot do it here:
   then nothing was written. */
static enum mg_status
copy_in_kernel(struct wctx *w, const struct cv_tensor *t, int *done_it)
{
    *done_it = 0;
#ifdef __linux__
    struct cv_model *m = w->m;
    struct cv_storage *s = &m->st[t->storage];
    if (m->fd < 0 || w->out->fd < 0 || !s->direct || w->swap > 1)
        return MG_OK;
    off_t pos;
    uint64_t start;
    if (ckd_add_u64(&start, s->file_off, t->off) || start > INT64_MAX ||
        t->nbytes > INT64_MAX - start)
        return MG_OK;
    pos = (off_t)start;
    for (uint64_t left = t->nbytes; left > 0;) {
        size_t k = left < (1u << 30) ? (size_t)left : (1u << 30);
        ssize_t r = sendfile(w->out->fd, m->fd, &pos, k);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && left == t->nbytes &&
            (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
            return MG_OK; /* not here: the caller copies */
        if (r < 0) {
            char e[128];
            if (strerror_r(errno, e, sizeof(e)) != 0)
                snprintf(e, sizeof(e), "error %d", errno);
            return cv_refuse(m->res, MG_E_IO,
                             "copying storage '%s' to the output: %s", s->key,
                             e);
        }
        if (r == 0)
            return cv_refuse(m->res, MG_E_TRUNCATED,
                             "storage '%s' ends early: the file shrank",
                             s->key);
        left -= (uint64_t)r;
    }
    *done_it = 1;
#else
    (void)w;
    (void)t;
#endif
    return MG_OK;
}

static enum mg_status
copy_contiguous(struct wctx *w, const struct cv_tensor *t)
{
    struct cv_storage *s = &w->m->st[t->storage];
    int done_it = 0;
    enum mg_status kst = copy_in_kernel(w, t, &done_it);
    if (kst != MG_OK || done_it)
        return kst;
    for (uint64_t done = 0; done < t->nbytes;) {
        /* The chunk is a multiple of every element size. */
        size_t k =
            t->nbytes - done < w->cap ? (size_t)(t->nbytes - done) : w->cap;
        enum mg_status st = read_storage(w->m, s, t->off + done, w->buf, k);
        if (st != MG_OK)
            return st;
        w->fill = k;
        if ((st = flush(w)) != MG_OK)
            return st;
        done += k;
    }
    return MG_OK;
}

/* Gather a strided view from the bytes it spans (read whole). */
static enum mg_status
copy_strided(struct wctx *w, const struct cv_tensor *t)
{
    struct cv_storage *s = &w->m->st[t->storage];
    size_t span, es = cv_dtype(t->dt)->size;
    if (t->span > MG_CONVERT_MAX_VIEW_BYTES || ckd_u64_to_size(&span, t->span))
        return cv_refuse(w->m->res, MG_E_LIMIT,
                         "'%s' is a non-contiguous view spanning %" PRIu64
                         " bytes of its storage, more than %u",
                         t->name, t->span, MG_CONVERT_MAX_VIEW_BYTES);
    uint8_t *src = mg_malloc(span);
    if (src == NULL)
        return MG_E_NOMEM;
    enum mg_status st = read_storage(w->m, s, t->off, src, span);
    const uint64_t *size = t->shape, *stride = t->shape + t->ndim;
    unsigned last = t->ndim - 1;
    uint64_t pos[MG_CONVERT_MAX_DIMS] = {0}, base = 0;
    /* Rows along the last dimension, in row-major order; geometry was
       checked: every offset is below span. */
    while (st == MG_OK) {
        uint64_t o = base * es;
        for (uint64_t j = 0; j < size[last] && st == MG_OK; j++) {
            if (w->fill + es > w->cap && (st = flush(w)) != MG_OK)
                break;
            memcpy(w->buf + w->fill, src + o, es);
            w->fill += es;
            o += stride[last] * es;
        }
        int d = (int)last - 1;
        for (; d >= 0; d--) {
            pos[d]++;
            base += stride[d];
            if (pos[d] < size[d])
                break;
            base -= stride[d] * size[d];
            pos[d] = 0;
        }
        if (d < 0)
            break;
    }
    if (st == MG_OK && w->fill > 0)
        st = flush(w);
    mg_free(src);
    return st;
}

enum mg_status
cv_write(struct cv_model *m, struct cv_sink *out)
{
    uint8_t len[8];
    uint64_t n = m->header_len;
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(n >> (8 * i));
    enum mg_status st = sink_put(m, out, len, sizeof(len));
    if (st == MG_OK)
        st = sink_put(m, out, m->header, m->header_len);
    struct wctx w = {m, out, NULL, 0, 0, 0};
    /* The buffer: a chunk, or less when every tensor is smaller (16 is a
       multiple of every element size). */
    uint64_t most = 0;
    for (size_t k = 0; k < m->nwritten; k++)
        if (m->t[m->order[k]].nbytes > most)
            most = m->t[m->order[k]].nbytes;
    if (st == MG_OK && most > 0) {
        w.cap = most < MG_CONVERT_CHUNK ? (size_t)(most + 15) / 16 * 16
                                        : MG_CONVERT_CHUNK;
        w.buf = mg_malloc(w.cap);
        if (w.buf == NULL)
            st = MG_E_NOMEM;
    }
    for (size_t k = 0; k < m->nwritten && st == MG_OK; k++) {
        const struct cv_tensor *t = &m->t[m->order[k]];
        if (t->nbytes == 0)
            continue;
        w.swap = m->big_endian ? cv_dtype(t->dt)->swap : 0;
        st = t->contiguous ? copy_contiguous(&w, t) : copy_strided(&w, t);
    }
    mg_free(w.buf);
    return st;
}
