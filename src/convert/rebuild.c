/*
 * rebuild.c - what a checkpoint may contain to be converted, and how its
 * object becomes named tensors.
 *
 * The symbolic machine runs the pickle; this file sees every import, call
 * and implicit method call it makes (cv_on_event) and stops the run at
 * the first one outside the accepted set: the tensor rebuild functions of
 * torch._utils (and torch._tensor._rebuild_from_type_v2 for plain tensors
 * and parameters), storage classes by persistent id, torch dtypes,
 * torch.Size, collections.OrderedDict and _codecs.encode (how protocol 2
 * writes bytes). The object the pickle builds is then flattened: dicts,
 * OrderedDicts, lists and tuples give dotted names ("layers.0.weight"),
 * tensors become entries, plain values are left out with a note.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/limits.h"
#include "formats/torch/torch.h"
#include "io/ckd.h"
#include "io/utf8.h"
#include "pickle/opcodes.h"

enum role {
    R_NONE = 0,
    R_TENSOR,      /* _rebuild_tensor(storage, offset, size, stride) */
    R_TENSOR_V2,   /* ... requires_grad, hooks[, metadata] */
    R_TENSOR_V3,   /* ... requires_grad, hooks, dtype[, metadata] */
    R_PARAM,       /* _rebuild_parameter(data, requires_grad, hooks) */
    R_PARAM_STATE, /* _rebuild_parameter_with_state(..., state) */
    R_FROM_TYPE,   /* _rebuild_from_type_v2(func, type, args, state) */
    R_TYPE,        /* torch.Tensor, torch.nn.Parameter */
    R_ODICT,       /* collections.OrderedDict */
    R_SIZE,        /* torch.Size */
    R_ENCODE,      /* _codecs.encode: protocol 2 bytes */
    R_STORAGE,     /* a storage class (in a persistent id) */
    R_DTYPE,       /* a torch dtype (argument of _rebuild_tensor_v3) */
    R_UNSUPPORTED  /* a dtype or storage type safetensors does not have */
};

static const struct {
    const char *module;
    const char *name;
    enum role role;
} accepted[] = {
    {"torch._utils", "_rebuild_tensor", R_TENSOR},
    {"torch._utils", "_rebuild_tensor_v2", R_TENSOR_V2},
    {"torch._utils", "_rebuild_tensor_v3", R_TENSOR_V3},
    {"torch._utils", "_rebuild_parameter", R_PARAM},
    {"torch._utils", "_rebuild_parameter_with_state", R_PARAM_STATE},
    {"torch._tensor", "_rebuild_from_type_v2", R_FROM_TYPE},
    {"torch", "Tensor", R_TYPE},
    {"torch.nn.parameter", "Parameter", R_TYPE},
    {"collections", "OrderedDict", R_ODICT},
    {"torch", "Size", R_SIZE},
    {"_codecs", "encode", R_ENCODE},
};

/* torch dtypes by attribute name; -1: no safetensors dtype. */
static const struct {
    const char *name;
    int dt;
} torch_dtypes[] = {
    {"float64", DT_F64},
    {"double", DT_F64},
    {"float32", DT_F32},
    {"float", DT_F32},
    {"float16", DT_F16},
    {"half", DT_F16},
    {"bfloat16", DT_BF16},
    {"int64", DT_I64},
    {"long", DT_I64},
    {"int32", DT_I32},
    {"int", DT_I32},
    {"int16", DT_I16},
    {"short", DT_I16},
    {"int8", DT_I8},
    {"uint8", DT_U8},
    {"bool", DT_BOOL},
    {"complex64", DT_C64},
    {"cfloat", DT_C64},
    {"uint16", DT_U16},
    {"uint32", DT_U32},
    {"uint64", DT_U64},
    {"float8_e5m2", DT_F8_E5M2},
    {"float8_e4m3fn", DT_F8_E4M3},
    {"float8_e8m0fnu", DT_F8_E8M0},
    {"float8_e4m3fnuz", DT_F8_E4M3FNUZ},
    {"float8_e5m2fnuz", DT_F8_E5M2FNUZ},
    {"complex128", -1},
    {"cdouble", -1},
    {"complex32", -1},
    {"chalf", -1},
    {"qint8", -1},
    {"quint8", -1},
    {"qint32", -1},
    {"quint4x2", -1},
    {"quint2x4", -1},
    {"float4_e2m1fn_x2", DT_F4},
    {"bits8", -1},
    {"bits16", -1},
    {"bits1x8", -1},
    {"bits2x4", -1},
    {"bits4x2", -1},
};

static int
str_eq(const struct mg_str *s, const char *z)
{
    size_t n = strlen(z);
    return mg_str_exact(s) && s->len == n && memcmp(s->data, z, n) == 0;
}

/* The torch dtype called name: its safetensors dtype, -1 when it has
   none, -2 when name is not a dtype. */
static int
torch_dtype(const struct mg_str *name)
{
    for (size_t i = 0; i < sizeof(torch_dtypes) / sizeof(torch_dtypes[0]); i++)
        if (str_eq(name, torch_dtypes[i].name))
            return torch_dtypes[i].dt;
    return -2;
}

/* What a global is to the converter. Only globals the pickle names
   itself count (GLOBAL, STACK_GLOBAL, INST): an attribute of something,
   an import by a function or a name BUILD replaced is never accepted. */
static enum role
glob_role(const struct mg_glob *g)
{
    if (g == NULL || !mg_str_exact(g->module) || !mg_str_exact(g->name) ||
        (g->via != VIA_GLOBAL && g->via != VIA_STACK_GLOBAL &&
         g->via != VIA_INST))
        return R_NONE;
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
        if (str_eq(g->module, accepted[i].module) &&
            str_eq(g->name, accepted[i].name))
            return accepted[i].role;
    int storage_mod = str_eq(g->module, "torch") ||
                      str_eq(g->module, "torch.cuda") ||
                      (str_eq(g->module, "torch.storage") &&
                       str_eq(g->name, "UntypedStorage"));
    if (storage_mod && memchr(g->name->data, '.', g->name->len) == NULL) {
        const struct mg_torch_storage_type *t =
            mg_torch_storage_type(g->name->data);
        if (t != NULL)
            return t->dtype ? R_STORAGE : R_UNSUPPORTED;
    }
    if (str_eq(g->module, "torch")) {
        int dt = torch_dtype(g->name);
        if (dt >= 0)
            return R_DTYPE;
        if (dt == -1)
            return R_UNSUPPORTED;
    }
    return R_NONE;
}

static const char *
qualname(const struct mg_glob *g, char *buf, size_t size)
{
    if (g == NULL)
        return "an object that cannot be known statically";
    mg_glob_qualname(g, buf, size);
    return buf;
}

__attribute__((format(printf, 2, 3))) static enum mg_status
stop(struct cv_model *m, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m->stop = 1;
    return cv_refuse(m->res, MG_E_UNSUPPORTED, "%s", msg);
}

static enum role
val_role(const struct mg_val *v)
{
    const struct mg_obj *o = mg_val_obj(v, OK_GLOBAL);
    return o ? glob_role((const struct mg_glob *)o) : R_NONE;
}

/* The role of what a call object calls (NULL-safe). */
static enum role
call_role(const struct mg_call *c)
{
    return c ? val_role(&c->callee) : R_NONE;
}

static int
is_function(enum role r)
{
    return r == R_TENSOR || r == R_TENSOR_V2 || r == R_TENSOR_V3 ||
           r == R_PARAM || r == R_PARAM_STATE || r == R_FROM_TYPE ||
           r == R_ENCODE;
}

static int
empty_kwargs(const struct mg_val *v)
{
    if (v->kind == VK_NONE)
        return 1;
    const struct mg_obj *d = mg_val_obj(v, OK_DICT);
    return d != NULL && d->count == 0;
}

static enum mg_status
on_call(struct cv_model *m, const struct mg_pevent *ev)
{
    char q[300];
    const struct mg_call *c = ev->call;
    enum role r = glob_role(ev->glob);
    if (r == R_NONE || r == R_TYPE || r == R_STORAGE || r == R_DTYPE ||
        r == R_UNSUPPORTED || c->callee.kind != VK_OBJ ||
        c->callee.u.o->kind != OK_GLOBAL)
        return stop(m, "the pickle calls %s, which conversion does not accept",
                    qualname(ev->glob, q, sizeof(q)));
    /* NEWOBJ on a function raises in CPython: torch.load would fail. */
    if (is_function(r) && c->h.how != OP_REDUCE && c->h.how != OP_OBJ &&
        c->h.how != OP_INST)
        return stop(m, "the pickle calls %s with opcode 0x%02x",
                    qualname(ev->glob, q, sizeof(q)), c->h.how);
    if (!empty_kwargs(&c->kwargs))
        return stop(m, "the pickle calls %s with keyword arguments",
                    qualname(ev->glob, q, sizeof(q)));
    return MG_OK;
}

static enum mg_status
on_method(struct cv_model *m, const struct mg_pevent *ev)
{
    char q[300];
    if (strcmp(ev->method, "persistent_load") == 0)
        return MG_OK;
    const struct mg_call *c =
        (const struct mg_call *)mg_val_obj(ev->target, OK_CALL);
    enum role r = call_role(c);
    /* OrderedDict: SETITEMS fills it, BUILD sets _metadata; tensors and
       parameters: BUILD sets Python attributes, which are not data. */
    if (c != NULL && strcmp(ev->method, "__setitem__") == 0 && r == R_ODICT)
        return MG_OK;
    if (c != NULL && strcmp(ev->method, "__setstate__") == 0 &&
        (r == R_ODICT || r == R_TENSOR || r == R_TENSOR_V2 ||
         r == R_TENSOR_V3 || r == R_PARAM || r == R_PARAM_STATE ||
         r == R_FROM_TYPE))
        return MG_OK;
    return stop(m,
                "the pickle makes the unpickler call %s() of %s, which "
                "conversion does not accept",
                ev->method, qualname(ev->glob, q, sizeof(q)));
}

enum mg_status
cv_on_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)vm;
    struct cv_model *m = user;
    char q[300];
    switch (ev->kind) {
    case PEV_GLOBAL: {
        enum role r = glob_role(ev->glob);
        if (r == R_UNSUPPORTED)
            return stop(m,
                        "the checkpoint uses %s, which has no safetensors "
                        "dtype",
                        qualname(ev->glob, q, sizeof(q)));
        if (r == R_NONE)
            return stop(m,
                        "the pickle imports %s, which conversion does "
                        "not accept",
                        qualname(ev->glob, q, sizeof(q)));
        return MG_OK;
    }
    case PEV_CALL:
        return on_call(m, ev);
    case PEV_METHOD:
        return on_method(m, ev);
    case PEV_ANOMALY:
        if (ev->sev < MG_SEV_SUSPICIOUS)
            return MG_OK;
        return stop(m, "the pickle is not what torch.save writes (%s): %s",
                    ev->rule, ev->msg);
    case PEV_OPCODE:
    case PEV_STRING:
    default:
        return MG_OK;
    }
}

/* ------------------------------------------------------------------ */
/* values */

static const char *
kind_name(const struct mg_val *v)
{
    const char *n = mg_val_type_name(v);
    if (n != NULL)
        return n;
    if (v->kind != VK_OBJ)
        return "?";
    switch ((enum mg_ok)v->u.o->kind) {
    case OK_GLOBAL:
        return "class or function";
    case OK_PERSID:
        return "storage";
    case OK_BUFFER:
        return "buffer";
    case OK_CALL:
        return "object";
    case OK_TUPLE:
    case OK_LIST:
    case OK_DICT:
    case OK_SET:
    case OK_FROZENSET:
    case OK_UNKNOWN:
    default:
        return "unknown object";
    }
}

static int
get_int(const struct mg_val *v, uint64_t *out)
{
    if (v->kind != VK_INT || v->u.i < 0)
        return 0;
    *out = (uint64_t)v->u.i;
    return 1;
}

static const char *
int_problem(const struct mg_val *v)
{
    if (v->kind == VK_INT || v->kind == VK_BIGINT)
        return "a negative or too large integer";
    return kind_name(v);
}

/* The items of a dict or of an OrderedDict built by SETITEMS; NULL when v
   is neither. */
static const struct mg_obj *
mapping_of(const struct mg_val *v)
{
    const struct mg_obj *d = mg_val_obj(v, OK_DICT);
    if (d != NULL)
        return d;
    const struct mg_call *c = (const struct mg_call *)mg_val_obj(v, OK_CALL);
    if (c == NULL || call_role(c) != R_ODICT)
        return NULL;
    /* OrderedDict(): OrderedDict(pairs) would be filled from its
       argument, which a pickler never writes. */
    const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
    if (a == NULL || a->count != 0)
        return NULL;
    return &c->h;
}

static int
empty_mapping(const struct mg_val *v)
{
    const struct mg_obj *d = mapping_of(v);
    return d != NULL && d->count == 0;
}

/* Sizes or strides: a tuple of non-negative ints, or torch.Size(tuple). */
static enum mg_status
dims_of(struct cv_model *m,
        const struct mg_val *v,
        uint64_t *out,
        unsigned *n,
        const char *what)
{
    const struct mg_call *c = (const struct mg_call *)mg_val_obj(v, OK_CALL);
    if (c != NULL && call_role(c) == R_SIZE) {
        const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
        if (a != NULL && a->nkept == 1 && a->count == 1)
            v = &a->items[0];
    }
    const struct mg_obj *t = mg_val_obj(v, OK_TUPLE);
    if (t == NULL || (t->flags & OBJ_TRUNC))
        return stop(m, "a tensor's %s is not a tuple of integers", what);
    if (t->nkept > MG_CONVERT_MAX_DIMS)
        return stop(m, "a tensor has %u dimensions, more than %u", t->nkept,
                    MG_CONVERT_MAX_DIMS);
    for (uint32_t i = 0; i < t->nkept; i++)
        if (!get_int(&t->items[i], &out[i]))
            return stop(m, "a tensor's %s holds %s", what,
                        int_problem(&t->items[i]));
    *n = t->nkept;
    return MG_OK;
}

/* The storage a persistent id names: index in m->st (added when new). */
static enum mg_status
storage_of(struct cv_model *m, const struct mg_val *v, size_t *idx)
{
    const struct mg_call *p = (const struct mg_call *)mg_val_obj(v, OK_PERSID);
    if (p == NULL)
        return stop(m, "a tensor's storage is %s, not a persistent id",
                    kind_name(v));
    struct mg_torch_pid pid;
    if (!mg_torch_pid_parse(&p->args, &pid) || pid.type == NULL)
        return stop(m, "a persistent id is not ('storage', type, key, ...)");
    if (pid.n != (uint32_t)m->pid_items)
        return stop(m, "a persistent id has %u items, torch.load expects %d",
                    pid.n, m->pid_items);
    if (glob_role(pid.type) != R_STORAGE)
        return stop(m, "a persistent id's storage type is not a storage "
                       "class");
    const struct mg_torch_storage_type *type =
        mg_torch_storage_type(pid.type->name->data);
    int dt = type ? cv_dtype_by_name(type->dtype) : -1;
    uint64_t numel = 0, nbytes = 0;
    if (dt < 0)
        return stop(m, "storage type %s has no safetensors dtype",
                    pid.type->name->data);
    if (memchr(pid.key->data, '\0', pid.key->len) != NULL)
        return stop(m, "a storage key holds a NUL byte");
    if (pid.items[3].kind != VK_STR)
        return stop(m, "storage '%s': the location is %s, not a string",
                    pid.key->data, kind_name(&pid.items[3]));
    if (!get_int(&pid.items[4], &numel))
        return stop(m, "storage '%s': the size is %s", pid.key->data,
                    int_problem(&pid.items[4]));
    if (ckd_mul_u64(&nbytes, numel, cv_dtype((enum cv_dt)dt)->size))
        return stop(m, "storage '%s': %" PRIu64 " elements overflow",
                    pid.key->data, numel);
    /* The legacy format's view of a storage (before PyTorch 0.4): the view
       and root keys share torch.load's table; not worth guessing. */
    if (pid.n == 6 && pid.items[5].kind != VK_NONE)
        return stop(m,
                    "storage '%s' is a storage view of the pre-0.4 "
                    "format, which conversion does not support",
                    pid.key->data);
    int untyped = strcmp(type->name, "UntypedStorage") == 0;
    size_t i;
    if (cv_map_get(&m->stmap, pid.key->data, pid.key->len, &i)) {
        /* torch.load keeps the first; a writer never disagrees. */
        if (m->st[i].dt != (enum cv_dt)dt || m->st[i].untyped != untyped ||
            m->st[i].nbytes != nbytes)
            return stop(m,
                        "storage '%s' is declared twice, with different "
                        "types or sizes",
                        pid.key->data);
        *idx = i;
        return MG_OK;
    }
    struct cv_storage *ns =
        cv_reserve(m->st, m->nst, &m->capst, sizeof(*ns), 16);
    if (ns == NULL)
        return MG_E_NOMEM;
    m->st = ns;
    struct cv_storage *s = &m->st[m->nst];
    memset(s, 0, sizeof(*s));
    s->key = mg_strndup(pid.key->data, pid.key->len);
    if (s->key == NULL)
        return MG_E_NOMEM;
    s->key_len = pid.key->len;
    s->dt = (enum cv_dt)dt;
    s->untyped = untyped;
    s->nbytes = nbytes;
    s->member = -1;
    m->nst++;
    enum mg_status st = cv_map_put(&m->stmap, s->key, s->key_len, m->nst - 1);
    if (st != MG_OK) {
        m->nst--;
        mg_free(s->key);
        return st;
    }
    *idx = m->nst - 1;
    return MG_OK;
}

/* Element count, byte size, reach and contiguity of t, all checked. */
static enum mg_status
tensor_geometry(struct cv_model *m, struct cv_tensor *t, uint64_t offset)
{
    unsigned es = cv_dtype(t->dt)->size;
    const uint64_t *size = t->shape, *stride = t->shape + t->ndim;
    uint64_t numel = 1, reach = 0, expect = 1;
    int contiguous = 1, overflow = 0;
    for (unsigned i = 0; i < t->ndim; i++)
        overflow |= ckd_mul_u64(&numel, numel, size[i]);
    for (unsigned i = t->ndim; numel != 0 && i-- > 0;) {
        uint64_t step;
        overflow |= ckd_mul_u64(&step, size[i] - 1, stride[i]);
        overflow |= ckd_add_u64(&reach, reach, step);
        if (size[i] != 1 && stride[i] != expect)
            contiguous = 0;
        overflow |= ckd_mul_u64(&expect, expect, size[i]);
    }
    uint64_t span = 0, end = 0;
    if (numel != 0)
        overflow |=
            ckd_add_u64(&span, reach, 1) || ckd_mul_u64(&span, span, es);
    overflow |= ckd_mul_u64(&t->nbytes, numel, es) ||
                ckd_mul_u64(&t->off, offset, es) ||
                ckd_add_u64(&end, t->off, span);
    if (overflow)
        return stop(m, "a tensor's sizes, strides and offset overflow");
    const struct cv_storage *s = &m->st[t->storage];
    if (numel != 0 && end > s->nbytes)
        return stop(m,
                    "a tensor reads bytes %" PRIu64 "..%" PRIu64
                    " of storage '%s', which has %" PRIu64,
                    t->off, end, s->key, s->nbytes);
    t->span = span;
    t->contiguous = contiguous;
    return MG_OK;
}

/* Arguments of _rebuild_tensor(_v2, _v3). */
static enum mg_status
rebuild_args(struct cv_model *m,
             enum role r,
             const struct mg_obj *a,
             struct cv_tensor *t)
{
    uint32_t n = a->nkept;
    if ((a->flags & OBJ_TRUNC) || (r == R_TENSOR && n != 4) ||
        (r == R_TENSOR_V2 && n != 6 && n != 7) ||
        (r == R_TENSOR_V3 && n != 7 && n != 8))
        return stop(m, "a tensor rebuild call has %u arguments", n);
    const struct mg_val *x = a->items;
    uint64_t offset = 0, dims[2 * MG_CONVERT_MAX_DIMS];
    unsigned nsize = 0, nstride = 0;
    enum mg_status st = storage_of(m, &x[0], &t->storage);
    if (st != MG_OK)
        return st;
    if (!get_int(&x[1], &offset))
        return stop(m,
                    "a tensor's storage offset is %s, not a "
                    "non-negative int",
                    kind_name(&x[1]));
    if ((st = dims_of(m, &x[2], dims, &nsize, "size")) != MG_OK ||
        (st = dims_of(m, &x[3], dims + nsize, &nstride, "stride")) != MG_OK)
        return st;
    if (nsize != nstride)
        return stop(m, "a tensor has %u sizes and %u strides", nsize, nstride);
    const struct cv_storage *s = &m->st[t->storage];
    t->dt = s->dt;
    if (r != R_TENSOR) {
        if (x[4].kind != VK_BOOL)
            return stop(m, "a tensor's requires_grad is %s", kind_name(&x[4]));
        /* Hooks are functions, which would have been refused; an empty
           OrderedDict is what torch.save writes. */
        if (!empty_mapping(&x[5]))
            return stop(m, "a tensor has backward hooks");
    }
    unsigned meta = r == R_TENSOR_V2 ? 6 : 7;
    if (r == R_TENSOR_V3) {
        const struct mg_obj *g = mg_val_obj(&x[6], OK_GLOBAL);
        if (g == NULL || glob_role((const struct mg_glob *)g) != R_DTYPE)
            return stop(m, "_rebuild_tensor_v3's dtype is %s",
                        kind_name(&x[6]));
        t->dt = (enum cv_dt)torch_dtype(((const struct mg_glob *)g)->name);
    }
    /* Tensor metadata (conjugate and negative bits) changes the values. */
    if (r != R_TENSOR && n > meta && x[meta].kind != VK_NONE &&
        !empty_mapping(&x[meta]))
        return stop(m,
                    "a tensor carries metadata (%s), which conversion "
                    "does not support",
                    kind_name(&x[meta]));
    if (m->big_endian && cv_dtype(t->dt)->swap > 1 &&
        (s->untyped || s->dt != t->dt))
        return stop(m,
                    "a big-endian checkpoint holds a %s tensor in a %s "
                    "storage: its byte order is ambiguous",
                    cv_dtype(t->dt)->name,
                    s->untyped ? "untyped" : cv_dtype(s->dt)->name);
    /* safetensors counts F4 elements: the last dimension doubles, and a
       tensor without one (4 bits) has no safetensors shape. */
    if (cv_dtype(t->dt)->packed &&
        (nsize == 0 || dims[nsize - 1] > UINT64_MAX / 2))
        return stop(m,
                    "a float4_e2m1fn_x2 tensor has %s: safetensors' F4 "
                    "counts elements, two per byte, along the last one",
                    nsize == 0 ? "no dimensions"
                               : "a last dimension that "
                                 "overflows when doubled");
    t->ndim = nsize;
    t->shape = mg_calloc(nsize ? 2 * nsize : 1, sizeof(uint64_t));
    if (t->shape == NULL)
        return MG_E_NOMEM;
    memcpy(t->shape, dims, 2 * nsize * sizeof(uint64_t));
    return tensor_geometry(m, t, offset);
}

/* v is a tensor (or parameter) expression: fill t. */
static enum mg_status
tensor_of(struct cv_model *m,
          const struct mg_call *c,
          unsigned depth,
          struct cv_tensor *t)
{
    enum role r = call_role(c);
    const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
    if (a == NULL || (a->flags & OBJ_TRUNC))
        return stop(m, "a tensor rebuild call's arguments are not a tuple");
    if (depth == 0)
        return stop(m, "tensors nested in parameters too deeply");
    switch (r) {
    case R_TENSOR:
    case R_TENSOR_V2:
    case R_TENSOR_V3:
        return rebuild_args(m, r, a, t);
    case R_PARAM:
    case R_PARAM_STATE: {
        if (a->nkept != (r == R_PARAM ? 3u : 4u))
            return stop(m, "a parameter rebuild call has %u arguments",
                        a->nkept);
        const struct mg_call *d =
            (const struct mg_call *)mg_val_obj(&a->items[0], OK_CALL);
        enum role dr = call_role(d);
        if (dr != R_TENSOR && dr != R_TENSOR_V2 && dr != R_TENSOR_V3 &&
            dr != R_FROM_TYPE)
            return stop(m, "a parameter's data is %s, not a tensor",
                        kind_name(&a->items[0]));
        return tensor_of(m, d, depth - 1, t);
    }
    case R_FROM_TYPE: {
        /* _rebuild_from_type_v2(func, new_type, args, state): func(*args)
           as new_type; state holds Python attributes. */
        if (a->nkept != 4)
            return stop(m, "_rebuild_from_type_v2 has %u arguments", a->nkept);
        enum role fr = val_role(&a->items[0]);
        const struct mg_obj *inner = mg_val_obj(&a->items[2], OK_TUPLE);
        if ((fr != R_TENSOR && fr != R_TENSOR_V2 && fr != R_TENSOR_V3) ||
            val_role(&a->items[1]) != R_TYPE || inner == NULL)
            return stop(m, "_rebuild_from_type_v2 rebuilds something other "
                           "than a tensor");
        return rebuild_args(m, fr, inner, t);
    }
    case R_NONE:
    case R_TYPE:
    case R_ODICT:
    case R_SIZE:
    case R_ENCODE:
    case R_STORAGE:
    case R_DTYPE:
    case R_UNSUPPORTED:
    default:
        return stop(m, "an object that is not a tensor");
    }
}

/* ------------------------------------------------------------------ */
/* names */

static int
is_tensor_call(const struct mg_val *v)
{
    enum role r = call_role((const struct mg_call *)mg_val_obj(v, OK_CALL));
    return r == R_TENSOR || r == R_TENSOR_V2 || r == R_TENSOR_V3 ||
           r == R_PARAM || r == R_PARAM_STATE || r == R_FROM_TYPE;
}

static enum mg_status
name_push(struct cv_model *m, const char *part, size_t n, size_t *saved)
{
    *saved = m->name_len;
    size_t need = m->name_len + 1 + n + 1;
    if (need > MG_CONVERT_MAX_NAME)
        return stop(m, "a tensor name would be longer than %u bytes",
                    MG_CONVERT_MAX_NAME);
    if (need > m->name_cap) {
        size_t nc = m->name_cap ? m->name_cap : 256;
        while (nc < need)
            nc *= 2;
        char *nb = mg_realloc(m->name, nc);
        if (nb == NULL)
            return MG_E_NOMEM;
        m->name = nb;
        m->name_cap = nc;
    }
    if (m->name_len > 0)
        m->name[m->name_len++] = '.';
    memcpy(m->name + m->name_len, part, n);
    m->name_len += n;
    m->name[m->name_len] = '\0';
    return MG_OK;
}

static void
name_pop(struct cv_model *m, size_t saved)
{
    m->name_len = saved;
    if (m->name != NULL)
        m->name[saved] = '\0';
}

static const char *
cur_name(const struct cv_model *m)
{
    return m->name_len ? m->name : "(the checkpoint itself)";
}

static enum mg_status
add_tensor(struct cv_model *m, const struct mg_call *c)
{
    if (m->name_len == 0)
        return stop(m, "the checkpoint is a single tensor, not a dict of "
                       "named tensors");
    if (strcmp(m->name, "__metadata__") == 0)
        return stop(m, "a tensor is named __metadata__, the name safetensors "
                       "reserves");
    size_t dup;
    if (cv_map_get(&m->tmap, m->name, m->name_len, &dup))
        return stop(m, "two entries of the checkpoint are both named '%s'",
                    m->name);
    struct cv_tensor *nt = cv_reserve(m->t, m->nt, &m->capt, sizeof(*nt), 64);
    if (nt == NULL)
        return MG_E_NOMEM;
    m->t = nt;
    struct cv_tensor *t = &m->t[m->nt];
    memset(t, 0, sizeof(*t));
    t->alias = SIZE_MAX;
    enum mg_status st = tensor_of(m, c, (unsigned)m->lim->max_value_depth, t);
    if (st == MG_OK) {
        t->name = mg_strndup(m->name, m->name_len);
        if (t->name == NULL)
            st = MG_E_NOMEM;
    }
    if (st == MG_OK)
        st = cv_map_put(&m->tmap, t->name, m->name_len, m->nt);
    if (st != MG_OK) {
        mg_free(t->name);
        mg_free(t->shape);
        return st;
    }
    m->nt++;
    return MG_OK;
}

/* One more value looked at; 1 when that is more than max-values (the
   memo lets a small pickle reference a container from many places: a
   chain of [x, x] lists is a tree of 2^depth paths). */
static int
visit(struct cv_model *m)
{
    return ++m->visits > m->lim->max_values;
}

static enum mg_status
too_many_visits(struct cv_model *m)
{
    return cv_refuse(m->res, MG_E_LIMIT,
                     "the checkpoint's containers reach more than %" PRIu64
                     " values through shared references (limit max-values)",
                     m->lim->max_values);
}

static int
holds_tensor(struct cv_model *m, const struct mg_val *v, unsigned depth);

static int
items_hold_tensor(struct cv_model *m, const struct mg_obj *o, unsigned depth)
{
    for (uint32_t i = 0; i < o->nkept; i++)
        if (holds_tensor(m, &o->items[i], depth))
            return 1;
    return (o->flags & OBJ_TRUNC) != 0; /* cannot tell: assume so */
}

/* Whether anything under v is a tensor (too deep or too many values:
   assume so; the caller tells the two apart by m->visits). */
static int
holds_tensor(struct cv_model *m, const struct mg_val *v, unsigned depth)
{
    if (v->kind != VK_OBJ)
        return 0;
    if (depth == 0 || visit(m) || is_tensor_call(v))
        return 1;
    const struct mg_obj *o = v->u.o;
    const struct mg_obj *d = mapping_of(v);
    if (d != NULL)
        return items_hold_tensor(m, d, depth - 1);
    if (o->kind == OK_LIST || o->kind == OK_TUPLE || o->kind == OK_SET ||
        o->kind == OK_FROZENSET)
        return items_hold_tensor(m, o, depth - 1);
    return 0;
}

/* holds_tensor, refusing at the limit: 1 holds, 0 not, -1 refused. */
static int
check_holds_tensor(struct cv_model *m,
                   const struct mg_val *v,
                   unsigned depth,
                   enum mg_status *st)
{
    int h = holds_tensor(m, v, depth);
    if (m->visits > m->lim->max_values) {
        *st = too_many_visits(m);
        return -1;
    }
    return h;
}

static enum mg_status
walk(struct cv_model *m, const struct mg_val *v, unsigned depth);

static enum mg_status
skip(struct cv_model *m, const struct mg_val *v, const char *why)
{
    return cv_note(m->res, "'%s' (%s) left out: %s", cur_name(m), kind_name(v),
                   why);
}

/* A dict key as a name part: str as is, int in decimal. 0 when it has no
   name. */
static int
key_part(
    const struct mg_val *k, const char **p, size_t *n, char *buf, size_t size)
{
    if (k->kind == VK_STR && mg_str_exact(k->u.s) &&
        !(k->u.s->flags & STR_SURROGATE) &&
        memchr(k->u.s->data, '\0', k->u.s->len) == NULL &&
        mg_utf8_valid(k->u.s->data, k->u.s->len)) {
        *p = k->u.s->data;
        *n = k->u.s->len;
        return 1;
    }
    if (k->kind == VK_INT) {
        int w = snprintf(buf, size, "%" PRId64, k->u.i);
        *p = buf;
        *n = (size_t)w;
        return 1;
    }
    return 0;
}

static enum mg_status
walk_mapping(struct cv_model *m, const struct mg_obj *d, unsigned depth)
{
    if (d->flags & OBJ_TRUNC)
        return cv_refuse(m->res, MG_E_LIMIT,
                         "a dict of the checkpoint has more entries than the "
                         "pickle machine keeps (limit max-values)");
    enum mg_status st = MG_OK;
    for (uint32_t i = 0; i + 1 < d->nkept && st == MG_OK; i += 2) {
        const char *p;
        size_t n, saved;
        char buf[32];
        if (!key_part(&d->items[i], &p, &n, buf, sizeof(buf))) {
            int h = check_holds_tensor(m, &d->items[i + 1], depth, &st);
            if (h < 0)
                return st;
            if (h)
                return stop(m,
                            "an entry of '%s' with a %s key holds "
                            "tensors: it cannot be named",
                            cur_name(m), kind_name(&d->items[i]));
            st = skip(m, &d->items[i + 1], "its key is not a string");
            continue;
        }
        st = name_push(m, p, n, &saved);
        if (st == MG_OK)
            st = walk(m, &d->items[i + 1], depth - 1);
        name_pop(m, saved);
    }
    return st;
}

static enum mg_status
walk_sequence(struct cv_model *m, const struct mg_obj *o, unsigned depth)
{
    if (o->flags & OBJ_TRUNC)
        return cv_refuse(m->res, MG_E_LIMIT,
                         "a list of the checkpoint has more items than the "
                         "pickle machine keeps (limit max-values)");
    enum mg_status st = MG_OK;
    for (uint32_t i = 0; i < o->nkept && st == MG_OK; i++) {
        char buf[16];
        size_t saved;
        int w = snprintf(buf, sizeof(buf), "%" PRIu32, i);
        st = name_push(m, buf, (size_t)w, &saved);
        if (st == MG_OK)
            st = walk(m, &o->items[i], depth - 1);
        name_pop(m, saved);
    }
    return st;
}

static enum mg_status
walk(struct cv_model *m, const struct mg_val *v, unsigned depth)
{
    if (depth == 0)
        return stop(m,
                    "the checkpoint nests containers more than %" PRIu64
                    " deep (limit max-value-depth)",
                    m->lim->max_value_depth);
    if (visit(m))
        return too_many_visits(m);
    if (v->kind != VK_OBJ)
        return skip(m, v, "not a tensor");
    const struct mg_obj *o = v->u.o;
    if (is_tensor_call(v))
        return add_tensor(m, (const struct mg_call *)o);
    const struct mg_obj *d = mapping_of(v);
    if (d != NULL)
        return walk_mapping(m, d, depth);
    switch ((enum mg_ok)o->kind) {
    case OK_LIST:
    case OK_TUPLE:
        return walk_sequence(m, o, depth);
    case OK_SET:
    case OK_FROZENSET: {
        enum mg_status st = MG_OK;
        int h = check_holds_tensor(m, v, depth, &st);
        if (h < 0)
            return st;
        if (h)
            return stop(m,
                        "'%s' is a set holding tensors: they cannot be "
                        "named",
                        cur_name(m));
        return skip(m, v, "not a tensor");
    }
    case OK_PERSID:
        return skip(m, v, "a storage outside a tensor");
    case OK_GLOBAL:
        return skip(m, v, "not a tensor");
    case OK_CALL:
        if (call_role((const struct mg_call *)o) == R_SIZE)
            return skip(m, v, "a torch.Size, not a tensor");
        return stop(m, "'%s' is an object conversion does not accept",
                    cur_name(m));
    case OK_DICT:
    case OK_BUFFER:
    case OK_UNKNOWN:
    default:
        return stop(m, "'%s' is %s, which conversion does not accept",
                    cur_name(m), kind_name(v));
    }
}

enum mg_status
cv_flatten(struct cv_model *m, const struct mg_val *root)
{
    unsigned depth =
        (unsigned)(m->lim->max_value_depth < 4096 ? m->lim->max_value_depth
                                                  : 4096);
    /* As the Hugging Face converter: a checkpoint with a "state_dict"
       entry is converted from that entry (Lightning and friends). */
    const struct mg_obj *d = mapping_of(root);
    for (uint32_t i = 0; d != NULL && i + 1 < d->nkept; i += 2) {
        const struct mg_val *k = &d->items[i];
        if (k->kind != VK_STR || !str_eq(k->u.s, "state_dict"))
            continue;
        for (uint32_t j = 0; j + 1 < d->nkept; j += 2) {
            if (j == i)
                continue;
            const char *p = "?";
            size_t n = 1;
            char buf[32];
            key_part(&d->items[j], &p, &n, buf, sizeof(buf));
            enum mg_status st = cv_note(
                m->res,
                "'%.*s' left out: only 'state_dict' is converted, as the "
                "Hugging Face converter does",
                (int)(n < 200 ? n : 200), p);
            if (st != MG_OK)
                return st;
        }
        root = &d->items[i + 1];
        break;
    }
    enum mg_status st = walk(m, root, depth);
    if (st == MG_OK && m->nt == 0)
        st = cv_refuse(m->res, MG_E_UNSUPPORTED,
                       "the checkpoint holds no tensor");
    return st;
}
