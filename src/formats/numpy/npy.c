/*
 * npy.c - numpy's .npy files (and the members of .npz archives, which the
 * ZIP reader hands over): magic, version, a header that is a Python
 * literal dict {'descr': ..., 'fortran_order': ..., 'shape': ...}, then
 * the data. Object arrays store their data as a pickle (numpy.load with
 * allow_pickle=True unpickles it): that pickle is scanned. For other
 * dtypes the header is validated against the data that follows.
 *
 * numpy reads the header with ast.literal_eval; this parser accepts the
 * literals numpy writes (strings, ints, booleans, None, tuples, lists,
 * dicts) and treats anything else as a malformed header.
 */
#include <inttypes.h>
#include <string.h>

#include "core/limits.h"
#include "formats/format.h"
#include "formats/numpy/numpy.h"
#include "formats/pickle/pickle.h"
#include "io/ckd.h"
#include "io/reader.h"

/* numpy.lib.format refuses headers longer than this (max_header_size). */
#define NPY_MAX_HEADER 10000u

struct lit {
    const char *p;
    size_t n, i;
    unsigned depth, max_depth;
    /* what the dict says */
    int have_descr, have_shape, have_fortran;
    int object;        /* any 'O' type code in descr */
    uint64_t itemsize; /* 0: not computable */
    uint64_t count;    /* product of shape */
    int count_overflow;
    const char *err;
};

static void
ws(struct lit *l)
{
    while (l->i < l->n &&
           (l->p[l->i] == ' ' || l->p[l->i] == '\n' || l->p[l->i] == '\t'))
        l->i++;
}

static int
eat(struct lit *l, char c)
{
    ws(l);
    if (l->i < l->n && l->p[l->i] == c) {
        l->i++;
        return 1;
    }
    return 0;
}

/* A quoted string; *s, *len point into the header. */
static int
str(struct lit *l, const char **s, size_t *len)
{
    ws(l);
    if (l->i >= l->n || (l->p[l->i] != '\'' && l->p[l->i] != '"'))
        return 0;
    char q = l->p[l->i++];
    size_t start = l->i;
    while (l->i < l->n && l->p[l->i] != q) {
        if (l->p[l->i] == '\\')
            return 0; /* numpy never writes escapes */
        l->i++;
    }
    if (l->i >= l->n)
        return 0;
    *s = l->p + start;
    *len = l->i - start;
    l->i++;
    return 1;
}

static int
integer(struct lit *l, uint64_t *v)
{
    ws(l);
    size_t start = l->i;
    uint64_t x = 0;
    int big = 0;
    while (l->i < l->n && l->p[l->i] >= '0' && l->p[l->i] <= '9') {
        if (ckd_mul_u64(&x, x, 10) ||
            ckd_add_u64(&x, x, (uint64_t)(l->p[l->i] - '0')))
            big = 1;
        l->i++;
    }
    if (l->i == start)
        return 0;
    /* numpy may write Python 2 longs: 3L */
    if (l->i < l->n && l->p[l->i] == 'L')
        l->i++;
    *v = big ? UINT64_MAX : x;
    return 1;
}

static int
word(struct lit *l, const char *w)
{
    ws(l);
    size_t k = strlen(w);
    if (l->n - l->i >= k && memcmp(l->p + l->i, w, k) == 0) {
        l->i += k;
        return 1;
    }
    return 0;
}

uint64_t
mg_numpy_type_size(const char *s, size_t n, int *object)
{
    size_t i = 0;
    if (i < n && (s[i] == '<' || s[i] == '>' || s[i] == '|' || s[i] == '='))
        i++;
    if (i >= n)
        return 0;
    char code = s[i++];
    uint64_t num = 0;
    int have = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (num > UINT32_MAX)
            return 0;
        num = num * 10 + (uint64_t)(s[i] - '0');
        have = 1;
        i++;
    }
    switch (code) {
    case 'O':
        *object = 1;
        return 8;
    case 'U':
        return have ? num * 4 : 0;
    case 'b':
    case 'i':
    case 'u':
    case 'f':
    case 'c':
    case 'S':
    case 'a':
    case 'V':
    case 'M':
    case 'm':
        return have ? num : (code == 'b' ? 1 : 0);
    case '?':
        return 1;
    default:
        return 0;
    }
}

static uint64_t
type_size(struct lit *l, const char *s, size_t n)
{
    return mg_numpy_type_size(s, n, &l->object);
}

static int value(struct lit *l, int role);

enum {
    ROLE_NONE,
    ROLE_DESCR,
    ROLE_SHAPE,
    ROLE_FIELDS
};

/* [('name', 'type'[, shape]), ...]: a structured dtype. */
static int
fields(struct lit *l)
{
    uint64_t total = 0;
    int known = 1;
    if (!eat(l, '['))
        return 0;
    while (!eat(l, ']')) {
        if (!eat(l, '('))
            return 0;
        const char *s;
        size_t n;
        if (!str(l, &s, &n) && !value(l, ROLE_NONE))
            return 0;
        if (!eat(l, ','))
            return 0;
        ws(l);
        uint64_t sz = 0;
        if (l->i < l->n && l->p[l->i] == '[') {
            uint64_t save = l->itemsize;
            if (!fields(l))
                return 0;
            sz = l->itemsize;
            l->itemsize = save;
        } else if (str(l, &s, &n)) {
            sz = type_size(l, s, n);
        } else {
            return 0;
        }
        if (eat(l, ',')) {
            ws(l);
            if (l->i < l->n && l->p[l->i] != ')') {
                /* subarray shape */
                uint64_t save = l->count;
                int sov = l->count_overflow;
                l->count = 1;
                if (!value(l, ROLE_SHAPE))
                    return 0;
                if (l->count_overflow || ckd_mul_u64(&sz, sz, l->count))
                    known = 0;
                l->count = save;
                l->count_overflow = sov;
            }
        }
        if (!eat(l, ')'))
            return 0;
        if (sz == 0 || ckd_add_u64(&total, total, sz))
            known = 0;
        eat(l, ',');
    }
    l->itemsize = known ? total : 0;
    return 1;
}

static int
value(struct lit *l, int role)
{
    if (++l->depth > l->max_depth) {
        l->err = "nested too deeply";
        return 0;
    }
    ws(l);
    int ok = 0;
    const char *s;
    size_t n;
    uint64_t v;
    if (l->i >= l->n) {
        ok = 0;
    } else if (role == ROLE_DESCR && l->p[l->i] == '[') {
        ok = fields(l);
    } else if (str(l, &s, &n)) {
        if (role == ROLE_DESCR)
            l->itemsize = type_size(l, s, n);
        ok = 1;
    } else if (integer(l, &v)) {
        if (role == ROLE_SHAPE && !l->count_overflow &&
            ckd_mul_u64(&l->count, l->count, v))
            l->count_overflow = 1;
        ok = 1;
    } else if (word(l, "True") || word(l, "False") || word(l, "None")) {
        ok = 1;
    } else if (eat(l, '(') || eat(l, '[')) {
        char close = l->p[l->i - 1] == '(' ? ')' : ']';
        ok = 1;
        while (ok && !eat(l, close)) {
            ok = value(l, role == ROLE_SHAPE ? ROLE_SHAPE : ROLE_NONE);
            if (ok && !eat(l, ',')) {
                ok = eat(l, close);
                break;
            }
        }
    } else if (eat(l, '{')) {
        ok = 1;
        while (ok && !eat(l, '}')) {
            const char *k = NULL;
            size_t kn = 0;
            ok = str(l, &k, &kn) && eat(l, ':');
            int r = ROLE_NONE;
            if (ok && l->depth == 1) {
                if (kn == 5 && memcmp(k, "descr", 5) == 0) {
                    r = ROLE_DESCR;
                    l->have_descr = 1;
                } else if (kn == 5 && memcmp(k, "shape", 5) == 0) {
                    r = ROLE_SHAPE;
                    l->have_shape = 1;
                    l->count = 1;
                } else if (kn == 13 && memcmp(k, "fortran_order", 13) == 0) {
                    l->have_fortran = 1;
                }
            }
            if (ok)
                ok = value(l, r);
            if (ok && !eat(l, ',')) {
                ok = eat(l, '}');
                break;
            }
        }
    }
    l->depth--;
    return ok;
}

static unsigned
npy_probe(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    return n >= 8 && memcmp(h, "\x93NUMPY", 6) == 0 ? 48 : 0;
}

static enum mg_status
npy_body(struct mg_ctx *ctx, struct mg_input *in, struct mg_stream *s)
{
    const uint8_t *h = in->head;
    uint8_t major = h[6];
    size_t pre = major == 1 ? 10 : 12;
    if ((major != 1 && major != 2 && major != 3) || in->head_len < pre)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "npy-header", 6,
                            "unknown .npy format version %u.%u", major, h[7]);
    uint64_t hlen = major == 1 ? mg_le16(h + 8) : mg_le32(h + 8);
    if (hlen > NPY_MAX_HEADER || hlen > ctx->lim->max_header_bytes)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "npy-header", 8,
                            "header of %" PRIu64 " bytes: numpy refuses "
                            "headers over %u bytes",
                            hlen, NPY_MAX_HEADER);
    const uint8_t *p;
    enum mg_status st0 = mg_stream_need(s, pre + (size_t)hlen, &p, NULL);
    if (st0 == MG_E_NOMEM)
        return st0;
    if (st0 != MG_OK)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "npy-header", 8,
                            "the header runs past the end of the file");
    struct lit l;
    memset(&l, 0, sizeof(l));
    l.p = (const char *)p + pre;
    l.n = (size_t)hlen;
    l.max_depth =
        (unsigned)(ctx->lim->max_json_depth < 64 ? ctx->lim->max_json_depth
                                                 : 64);
    int ok = value(&l, ROLE_NONE);
    ws(&l);
    if (!ok || l.i != l.n || !l.have_descr || !l.have_shape || !l.have_fortran)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "npy-header", (int64_t)pre,
                            "the header is not the dictionary numpy writes "
                            "(descr, fortran_order, shape)%s%s",
                            l.err ? ": " : "", l.err ? l.err : "");
    uint64_t data = pre + hlen;
    mg_stream_advance(s, pre + (size_t)hlen);
    struct mg_pickle_summary sum;
    if (l.object) {
        /* numpy.load(allow_pickle=True) unpickles the rest. */
        mg_ctx_refine_format(ctx, "numpy-object");
        return mg_pickle_scan_stream(ctx, s, NULL, &sum);
    }
    if (l.itemsize == 0 || l.count_overflow)
        return MG_OK; /* nothing to compare the data with */
    uint64_t want, got = 0;
    enum mg_status sk = MG_OK;
    if (!ckd_mul_u64(&want, l.count, l.itemsize))
        sk = mg_stream_skip(s, want, &got);
    if (sk == MG_E_NOMEM)
        return sk;
    if (ckd_mul_u64(&want, l.count, l.itemsize) || sk != MG_OK)
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "npy-header", (int64_t)pre,
                            "the header describes %" PRIu64
                            " elements of %" PRIu64
                            " bytes, more than the %" PRIu64 " bytes of data",
                            l.count, l.itemsize, got);
    if (mg_stream_at_end(s))
        return MG_OK;
    enum mg_status st = mg_ctx_findf(
        ctx, MG_SEV_SUSPICIOUS, "npy-trailing", (int64_t)(data + want),
        "bytes after the array data, which numpy ignores");
    if (st != MG_OK)
        return st;
    /* Quiet unless a pickle is hidden there. */
    struct mg_pickle_opts o = {.fallback = 1};
    return mg_pickle_scan_stream(ctx, s, &o, &sum);
}

static enum mg_status
npy_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input_cursor cur;
    struct mg_stream s;
    enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &s);
    if (st != MG_OK)
        return mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    st = npy_body(ctx, in, &s);
    mg_stream_fini(&s);
    return st;
}

const struct mg_format mg_format_npy = {"numpy", npy_probe, npy_scan};
