/*
 * explain.c - mg_explain_buffer: what loading a pickle would do, written
 * as pseudo-Python from the events of the symbolic machine (the same one
 * the scan runs, so the explanation shows what the scanner saw).
 *
 * Imports become "from M import N" lines, calls and implicit method calls
 * become statements in the order the unpickler makes them, and the value
 * load() returns is printed last. By default only the steps the allowlist
 * does not cover are statements; allowlisted calls are shown inline where
 * their result is used, tensors and arrays compactly
 * ("Tensor(float32, [768, 768])"). MG_EXPLAIN_FULL makes every call a
 * statement.
 *
 * A call result gets a name ("_3") only when something later uses it:
 * statements are held in a window until the stream ends, so a name is
 * printed only where it is needed; when the window is full, the oldest
 * statements are written with their names.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "core/scanner.h"
#include "io/stream.h"
#include "pickle/opcodes.h"
#include "pickle/policy.h"
#include "pickle/vm.h"

#define EX_WINDOW 4096u /* statements held before writing */
#define EX_KEEP_ITEMS                                                  \
    65536u                     /* items kept per container (vm default \
                                  is MG_KEEP_ITEMS) */
#define EX_LINE_MAX (1u << 20) /* longest rendered line */
#define EX_WIDTH    96u        /* wider values are split over lines */
#define EX_DEPTH    48u        /* nesting rendered */

/* A growing string; on allocation failure or past max it stops growing
   and ends in "...". */
struct dbuf {
    char *p;
    size_t n, cap, max;
    int full;
    int oom;
};

static void
db_put(struct dbuf *b, const char *s, size_t n)
{
    if (b->full)
        return;
    if (n > b->max - b->n) {
        n = b->max - b->n;
        b->full = 1;
    }
    if (b->n + n + 4 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 4)
            nc *= 2;
        char *np = mg_realloc(b->p, nc);
        if (np == NULL) {
            b->oom = 1;
            b->full = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    if (b->full) {
        memcpy(b->p + b->n, "...", 3);
        b->n += 3;
    }
    b->p[b->n] = '\0';
}

static void
db_str(struct dbuf *b, const char *s)
{
    db_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
db_fmt(struct dbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (k > 0)
        db_put(b, tmp, (size_t)k < sizeof(tmp) ? (size_t)k : sizeof(tmp) - 1);
}

static void
db_reset(struct dbuf *b)
{
    b->n = 0;
    b->full = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

static const char *
db_cstr(const struct dbuf *b)
{
    return b->p != NULL ? b->p : "";
}

/* What explain knows about an object of the machine (by address). */
struct ex_slot {
    const void *key;
    uint32_t var; /* statement value name (_N), 0 when none */
    char items;   /* 'a' append, 's' setitem, 'S' add: how items came */
};

struct ex_import {
    char *module; /* owned */
    char *first;  /* first component of the name, "" for a module */
    char *alias;
};

struct ex_stmt {
    enum mg_explain_kind kind;
    uint64_t offset;
    uint8_t op;
    uint32_t var; /* value this statement makes, 0 when none */
    enum mg_severity sev;
    char *code;
    char *comment;
};

struct ex {
    struct mg_scanner *sc;
    unsigned flags;
    mg_explain_cb cb;
    void *user;
    int stop; /* the callback asked to stop */
    int oom;
    unsigned stream;
    int header_sent;
    uint64_t stream_start;

    struct ex_slot *map;
    size_t mcap, mn;
    struct ex_import *imp;
    size_t nimp, capimp;
    struct ex_stmt *win;
    size_t nwin;
    uint8_t *used; /* by var */
    size_t capused;
    uint32_t nvars;
    /* the call statement just made, for globals it resolves to */
    const void *last_call;
    size_t last_stmt;
    uint64_t last_off;

    struct dbuf code, com, tmp;
    char scratch[20000];
};

/* ------------------------------------------------------------------ */
/* the object map */

static size_t
ptr_hash(const void *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 17) & (cap - 1);
}

static struct ex_slot *
slot_find(const struct ex *x, const void *key)
{
    if (x->mcap == 0)
        return NULL;
    size_t i = ptr_hash(key, x->mcap);
    while (x->map[i].key != NULL) {
        if (x->map[i].key == key)
            return &x->map[i];
        i = (i + 1) & (x->mcap - 1);
    }
    return NULL;
}

static struct ex_slot *
slot_get(struct ex *x, const void *key)
{
    struct ex_slot *s = slot_find(x, key);
    if (s != NULL)
        return s;
    if ((x->mn + 1) * 2 > x->mcap) {
        size_t nc = x->mcap ? x->mcap * 2 : 256;
        struct ex_slot *nm = mg_calloc(nc, sizeof(*nm));
        if (nm == NULL) {
            x->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < x->mcap; i++) {
            if (x->map[i].key == NULL)
                continue;
            size_t j = ptr_hash(x->map[i].key, nc);
            while (nm[j].key != NULL)
                j = (j + 1) & (nc - 1);
            nm[j] = x->map[i];
        }
        mg_free(x->map);
        x->map = nm;
        x->mcap = nc;
    }
    size_t i = ptr_hash(key, x->mcap);
    while (x->map[i].key != NULL)
        i = (i + 1) & (x->mcap - 1);
    x->map[i].key = key;
    x->mn++;
    return &x->map[i];
}

static void
mark_used(struct ex *x, uint32_t var)
{
    if (var < x->capused)
        x->used[var] = 1;
}

/* ------------------------------------------------------------------ */
/* names */

static int
is_ident(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static int
is_dotted(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!is_ident(s + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

static const struct ex_import *
import_find(const struct ex *x, const char *module, const char *first)
{
    for (size_t i = 0; i < x->nimp; i++)
        if (strcmp(x->imp[i].module, module) == 0 &&
            strcmp(x->imp[i].first, first) == 0)
            return &x->imp[i];
    return NULL;
}

static int
alias_taken(const struct ex *x, const char *alias)
{
    for (size_t i = 0; i < x->nimp; i++)
        if (strcmp(x->imp[i].alias, alias) == 0)
            return 1;
    return 0;
}

/* Record an import; returns it, or NULL when out of memory. *fresh is
   set when it was not known. */
static const struct ex_import *
import_add(struct ex *x, const char *module, const char *first, int *fresh)
{
    *fresh = 0;
    const struct ex_import *known = import_find(x, module, first);
    if (known != NULL)
        return known;
    if (x->nimp == x->capimp) {
        size_t nc = x->capimp ? x->capimp * 2 : 16;
        struct ex_import *ni = mg_reallocarray(x->imp, nc, sizeof(*ni));
        if (ni == NULL)
            return NULL;
        x->imp = ni;
        x->capimp = nc;
    }
    char alias[200];
    const char *base = first;
    char modbase[160];
    if (first[0] == '\0') {
        /* a module: its last component */
        const char *dot = strrchr(module, '.');
        snprintf(modbase, sizeof(modbase), "%s", dot ? dot + 1 : module);
        base = modbase;
    }
    int ok = is_dotted(module, strlen(module)) &&
             (first[0] == '\0' || is_ident(first, strlen(first)));
    if (!ok) {
        snprintf(alias, sizeof(alias), "_g%zu", x->nimp + 1);
    } else {
        snprintf(alias, sizeof(alias), "%s", base);
        for (unsigned k = 2; alias_taken(x, alias) && k < 10000; k++)
            snprintf(alias, sizeof(alias), "%s_%u", base, k);
    }
    struct ex_import *e = &x->imp[x->nimp];
    e->module = mg_strdup(module);
    e->first = mg_strdup(first);
    e->alias = mg_strdup(alias);
    if (e->module == NULL || e->first == NULL || e->alias == NULL) {
        mg_free(e->module);
        mg_free(e->first);
        mg_free(e->alias);
        return NULL;
    }
    x->nimp++;
    *fresh = 1;
    return e;
}

/* ------------------------------------------------------------------ */
/* rendering values as Python */

static void
render(struct ex *x, struct dbuf *b, const struct mg_val *v, unsigned depth);

static int
glob_is(const struct mg_glob *g, const char *mod, const char *name)
{
    return strcmp(g->module->data, mod) == 0 &&
           strcmp(g->name->data, name) == 0;
}

static const struct mg_glob *
val_glob(const struct mg_val *v)
{
    const struct mg_obj *o = mg_val_obj(v, OK_GLOBAL);
    return (const struct mg_glob *)o;
}

/* Globals that an opcode imports by name (GLOBAL, STACK_GLOBAL, INST, or
   EXT through the copyreg registry). */
static int
imported(const struct mg_glob *g)
{
    return g->via == VIA_GLOBAL || g->via == VIA_STACK_GLOBAL ||
           g->via == VIA_INST || g->via == VIA_EXT;
}

static void
render_glob(struct ex *x, struct dbuf *b, const struct mg_glob *g)
{
    const struct ex_slot *s = slot_find(x, g);
    if (s != NULL && s->var != 0) {
        db_fmt(b, "_%" PRIu32, s->var);
        mark_used(x, s->var);
        return;
    }
    if (imported(g)) {
        const char *name = g->name->data;
        const char *dot = strchr(name, '.');
        char first[200];
        size_t fl = dot ? (size_t)(dot - name) : strlen(name);
        snprintf(first, sizeof(first), "%.*s", (int)fl, name);
        const struct ex_import *im = import_find(x, g->module->data, first);
        if (im != NULL) {
            db_str(b, im->alias);
            if (dot != NULL)
                db_str(b, dot);
            return;
        }
    }
    mg_glob_qualname(g, x->scratch, sizeof(x->scratch));
    db_str(b, x->scratch);
}

static void
render_scalar(struct ex *x, struct dbuf *b, const struct mg_val *v)
{
    mg_val_render(v, x->scratch, sizeof(x->scratch), 2);
    db_str(b, x->scratch);
}

static void
render_seq(struct ex *x,
           struct dbuf *b,
           const struct mg_obj *o,
           const char *open,
           const char *close,
           int pairs,
           unsigned depth)
{
    db_str(b, open);
    for (uint32_t i = 0; i < o->nkept && !b->full; i++) {
        if (i > 0)
            db_str(b, pairs && (i % 2) ? ": " : ", ");
        render(x, b, &o->items[i], depth - 1);
    }
    if (o->flags & OBJ_TRUNC)
        db_str(b, o->nkept ? ", ..." : "...");
    if (o->kind == OK_TUPLE && o->count == 1)
        db_str(b, ",");
    db_str(b, close);
}

static const char *const storage_dtypes[][2] = {
    {"FloatStorage", "float32"},
    {"DoubleStorage", "float64"},
    {"HalfStorage", "float16"},
    {"BFloat16Storage", "bfloat16"},
    {"LongStorage", "int64"},
    {"IntStorage", "int32"},
    {"ShortStorage", "int16"},
    {"CharStorage", "int8"},
    {"ByteStorage", "uint8"},
    {"BoolStorage", "bool"},
    {"ComplexFloatStorage", "complex64"},
    {"ComplexDoubleStorage", "complex128"},
    {"QInt8Storage", "qint8"},
    {"QUInt8Storage", "quint8"},
    {"QInt32Storage", "qint32"},
};

static const char *const numpy_dtypes[][2] = {
    {"f8", "float64"},     {"f4", "float32"},   {"f2", "float16"},
    {"i8", "int64"},       {"i4", "int32"},     {"i2", "int16"},
    {"i1", "int8"},        {"u8", "uint64"},    {"u4", "uint32"},
    {"u2", "uint16"},      {"u1", "uint8"},     {"b1", "bool"},
    {"c16", "complex128"}, {"c8", "complex64"}, {"O8", "object"},
    {"O4", "object"},      {"O", "object"},
};

/* The second column of the row whose first is key, else key. */
static const char *
lookup(const char *const (*table)[2], size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, table[i][0]) == 0)
            return table[i][1];
    return key;
}

static int render_shape(struct dbuf *b, const struct mg_val *v);

/* "Kind(dtype, [shape]" (the caller closes it), or nothing and 0 when
   shape is not a tuple of ints. */
static int
render_typed(struct dbuf *b,
             const char *kind,
             const char *dtype,
             const struct mg_val *shape)
{
    size_t mark = b->n;
    db_fmt(b, "%s(%.60s, ", kind, dtype);
    if (!render_shape(b, shape)) {
        b->n = mark;
        if (b->p != NULL)
            b->p[mark] = '\0';
        return 0;
    }
    return 1;
}

/* "[768, 768]" from a tuple of ints; 0 when it is not one. */
static int
render_shape(struct dbuf *b, const struct mg_val *v)
{
    const struct mg_obj *t = mg_val_obj(v, OK_TUPLE);
    if (t == NULL || (t->flags & OBJ_TRUNC))
        return 0;
    for (uint32_t i = 0; i < t->nkept; i++)
        if (t->items[i].kind != VK_INT)
            return 0;
    db_str(b, "[");
    for (uint32_t i = 0; i < t->nkept; i++)
        db_fmt(b, "%s%" PRId64, i ? ", " : "", t->items[i].u.i);
    db_str(b, "]");
    return 1;
}

static const struct mg_val *
tuple_at(const struct mg_val *v, uint32_t i)
{
    const struct mg_obj *t = mg_val_obj(v, OK_TUPLE);
    return t != NULL && i < t->nkept ? &t->items[i] : NULL;
}

/* Tensor(float32, [768, 768]) from torch's rebuild functions and the
   storage's persistent id ('storage', torch.FloatStorage, key, ...). */
static int
render_tensor(struct ex *x, struct dbuf *b, const struct mg_call *c)
{
    const struct mg_glob *g = val_glob(&c->callee);
    if (g == NULL || strcmp(g->module->data, "torch._utils") != 0)
        return 0;
    if (strcmp(g->name->data, "_rebuild_parameter") == 0) {
        const struct mg_val *data = tuple_at(&c->args, 0);
        const struct mg_val *rg = tuple_at(&c->args, 1);
        if (data == NULL)
            return 0;
        db_str(b, "Parameter(");
        render(x, b, data, EX_DEPTH);
        if (rg != NULL && rg->kind == VK_BOOL && !rg->u.i)
            db_str(b, ", requires_grad=False");
        db_str(b, ")");
        return 1;
    }
    if (strcmp(g->name->data, "_rebuild_tensor_v2") != 0 &&
        strcmp(g->name->data, "_rebuild_tensor") != 0)
        return 0;
    const struct mg_val *st = tuple_at(&c->args, 0);
    const struct mg_val *size = tuple_at(&c->args, 2);
    if (st == NULL || size == NULL)
        return 0;
    const char *dtype = "?";
    const struct mg_obj *pid = mg_val_obj(st, OK_PERSID);
    const struct mg_val *stype =
        pid ? tuple_at(&((const struct mg_call *)pid)->args, 1) : NULL;
    const struct mg_glob *sg = stype ? val_glob(stype) : NULL;
    if (sg != NULL)
        dtype = lookup(storage_dtypes,
                       sizeof(storage_dtypes) / sizeof(*storage_dtypes),
                       sg->name->data);
    if (!render_typed(b, "Tensor", dtype, size))
        return 0;
    db_str(b, ")");
    return 1;
}

/* ndarray(float64, [2, 3]) from numpy's _reconstruct and its BUILD state
   (version, shape, dtype, is_fortran, data); object arrays show their
   items, which are unpickled objects. */
static int
render_ndarray(struct ex *x, struct dbuf *b, const struct mg_call *c)
{
    const struct mg_glob *g = val_glob(&c->callee);
    if (g == NULL || !c->has_state ||
        !(glob_is(g, "numpy.core.multiarray", "_reconstruct") ||
          glob_is(g, "numpy._core.multiarray", "_reconstruct")))
        return 0;
    const struct mg_val *shape = tuple_at(&c->state, 1);
    const struct mg_val *dt = tuple_at(&c->state, 2);
    const struct mg_val *data = tuple_at(&c->state, 4);
    if (shape == NULL || dt == NULL || data == NULL)
        return 0;
    const struct mg_obj *dc = mg_val_obj(dt, OK_CALL);
    const struct mg_val *code =
        dc ? tuple_at(&((const struct mg_call *)dc)->args, 0) : NULL;
    if (code == NULL || code->kind != VK_STR)
        return 0;
    const char *t = code->u.s->data;
    while (*t == '<' || *t == '>' || *t == '|' || *t == '=')
        t++;
    const char *name =
        lookup(numpy_dtypes, sizeof(numpy_dtypes) / sizeof(*numpy_dtypes), t);
    if (!render_typed(b, "ndarray", name, shape))
        return 0;
    if (data->kind != VK_BYTES) {
        db_str(b, ", ");
        render(x, b, data, EX_DEPTH);
    }
    db_str(b, ")");
    return 1;
}

static void
render_args(struct ex *x,
            struct dbuf *b,
            const struct mg_call *c,
            unsigned depth)
{
    const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
    size_t n = 0;
    if (a != NULL) {
        for (uint32_t i = 0; i < a->nkept && !b->full; i++, n++) {
            if (i > 0)
                db_str(b, ", ");
            render(x, b, &a->items[i], depth - 1);
        }
        if (a->flags & OBJ_TRUNC)
            db_str(b, ", ...");
    } else if (c->args.kind != VK_NONE) {
        db_str(b, "*");
        render(x, b, &c->args, depth - 1);
        n++;
    }
    const struct mg_obj *kw = mg_val_obj(&c->kwargs, OK_DICT);
    for (uint32_t i = 0; kw != NULL && i + 1 < kw->nkept && !b->full;
         i += 2, n++) {
        if (n > 0)
            db_str(b, ", ");
        const struct mg_val *k = &kw->items[i];
        if (k->kind == VK_STR && is_ident(k->u.s->data, k->u.s->len) &&
            mg_str_exact(k->u.s)) {
            db_str(b, k->u.s->data);
            db_str(b, "=");
        } else {
            db_str(b, "**{");
            render(x, b, k, depth - 1);
            db_str(b, ": ");
        }
        render(x, b, &kw->items[i + 1], depth - 1);
        if (!(k->kind == VK_STR && is_ident(k->u.s->data, k->u.s->len) &&
              mg_str_exact(k->u.s)))
            db_str(b, "}");
    }
}

/* callee(args) */
static void
render_call_expr(struct ex *x,
                 struct dbuf *b,
                 const struct mg_call *c,
                 unsigned depth)
{
    render(x, b, &c->callee, depth - 1);
    db_str(b, "(");
    render_args(x, b, c, depth);
    db_str(b, ")");
}

static void
render_items_of(struct ex *x,
                struct dbuf *b,
                const struct mg_obj *o,
                char how,
                unsigned depth)
{
    const char *open = how == 's' ? "{" : how == 'S' ? "{" : "[";
    const char *close = how == 's' ? "}" : how == 'S' ? "}" : "]";
    render_seq(x, b, o, open, close, how == 's', depth);
}

/* torch's state dicts carry their modules' versions as a "_metadata"
   attribute: the compact view leaves it out. */
static int
boring_state(const struct ex *x, const struct mg_call *c)
{
    if (x->flags & MG_EXPLAIN_FULL)
        return 0;
    const struct mg_obj *d = mg_val_obj(&c->state, OK_DICT);
    if (d == NULL || d->nkept != 2 || d->items[0].kind != VK_STR)
        return 0;
    return strcmp(d->items[0].u.s->data, "_metadata") == 0;
}

/* A call shown where its value is used (no statement of its own). */
static void
render_call_inline(struct ex *x,
                   struct dbuf *b,
                   const struct mg_call *c,
                   unsigned depth)
{
    if (!(x->flags & MG_EXPLAIN_FULL) &&
        (render_tensor(x, b, c) || render_ndarray(x, b, c)))
        return;
    const struct ex_slot *s = slot_find(x, c);
    char how = s ? s->items : 0;
    const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
    int noargs = a != NULL && a->nkept == 0 && c->kwargs.kind == VK_NONE;
    int items = c->h.nkept > 0 || (c->h.flags & OBJ_TRUNC);
    int state = c->has_state && !boring_state(x, c);
    if (state)
        db_str(b, "setstate(");
    if (items && how != 0 && noargs) {
        /* OrderedDict({...}), deque([...]) */
        render(x, b, &c->callee, depth - 1);
        db_str(b, "(");
        render_items_of(x, b, &c->h, how, depth);
        db_str(b, ")");
    } else if (items && how != 0) {
        db_str(b, how == 's' ? "update(" : "extend(");
        render_call_expr(x, b, c, depth);
        db_str(b, ", ");
        render_items_of(x, b, &c->h, how, depth);
        db_str(b, ")");
    } else {
        render_call_expr(x, b, c, depth);
    }
    if (state) {
        db_str(b, ", ");
        render(x, b, &c->state, depth - 1);
        db_str(b, ")");
    }
}

static void
render(struct ex *x, struct dbuf *b, const struct mg_val *v, unsigned depth)
{
    if (b->full)
        return;
    if (depth == 0) {
        db_str(b, "...");
        return;
    }
    if (v->kind != VK_OBJ) {
        render_scalar(x, b, v);
        return;
    }
    const struct mg_obj *o = v->u.o;
    switch ((enum mg_ok)o->kind) {
    case OK_TUPLE:
        render_seq(x, b, o, "(", ")", 0, depth);
        return;
    case OK_LIST:
        render_seq(x, b, o, "[", "]", 0, depth);
        return;
    case OK_DICT:
        render_seq(x, b, o, "{", "}", 1, depth);
        return;
    case OK_SET:
        if (o->nkept == 0 && !(o->flags & OBJ_TRUNC))
            db_str(b, "set()");
        else
            render_seq(x, b, o, "{", "}", 0, depth);
        return;
    case OK_FROZENSET:
        render_seq(x, b, o, "frozenset({", "})", 0, depth);
        return;
    case OK_GLOBAL:
        render_glob(x, b, (const struct mg_glob *)o);
        return;
    case OK_CALL: {
        const struct ex_slot *s = slot_find(x, o);
        if (s != NULL && s->var != 0) {
            db_fmt(b, "_%" PRIu32, s->var);
            mark_used(x, s->var);
            return;
        }
        render_call_inline(x, b, (const struct mg_call *)o, depth);
        return;
    }
    case OK_PERSID:
        db_str(b, "persistent_load(");
        render(x, b, &((const struct mg_call *)o)->args, depth - 1);
        db_str(b, ")");
        return;
    case OK_BUFFER:
    case OK_UNKNOWN:
    default:
        render_scalar(x, b, v);
        return;
    }
}

/* A value over several lines when it is wide: one item per line. */
static void
render_pretty(struct ex *x,
              struct dbuf *b,
              const struct mg_val *v,
              unsigned indent,
              unsigned depth)
{
    struct dbuf t = {.max = EX_LINE_MAX};
    render(x, &t, v, depth);
    int fits = t.n + indent <= EX_WIDTH || depth <= 1;
    const struct mg_obj *o = v->kind == VK_OBJ ? v->u.o : NULL;
    const char *open = NULL, *close = NULL;
    int pairs = 0;
    const struct mg_obj *seq = NULL;
    const struct mg_val *state = NULL;
    char head[256] = "";
    if (!fits && o != NULL) {
        switch ((enum mg_ok)o->kind) {
        case OK_DICT:
            seq = o, open = "{", close = "}", pairs = 1;
            break;
        case OK_LIST:
            seq = o, open = "[", close = "]";
            break;
        case OK_TUPLE:
            seq = o, open = "(", close = ")";
            break;
        case OK_CALL: {
            /* OrderedDict({...}) shown inline: split its items */
            const struct ex_slot *s = slot_find(x, o);
            const struct mg_call *c = (const struct mg_call *)o;
            const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
            if (s != NULL && s->var == 0 && s->items != 0 && a != NULL &&
                a->nkept == 0 && c->kwargs.kind == VK_NONE) {
                int st = c->has_state && !boring_state(x, c);
                struct dbuf h = {.max = sizeof(head) - 8};
                render(x, &h, &c->callee, depth - 1);
                snprintf(head, sizeof(head), "%s%s(", st ? "setstate(" : "",
                         db_cstr(&h));
                mg_free(h.p);
                seq = o;
                pairs = s->items == 's';
                open = s->items == 'a' ? "[" : "{";
                close = s->items == 'a' ? "])" : "})";
                if (st)
                    state = &c->state;
            }
            break;
        }
        case OK_SET:
        case OK_FROZENSET:
        case OK_GLOBAL:
        case OK_PERSID:
        case OK_BUFFER:
        case OK_UNKNOWN:
        default:
            break;
        }
    }
    if (seq == NULL || seq->nkept == 0) {
        db_put(b, db_cstr(&t), t.n);
        if (t.oom)
            b->oom = 1;
        mg_free(t.p);
        return;
    }
    mg_free(t.p);
    db_str(b, head);
    db_str(b, open);
    db_str(b, "\n");
    for (uint32_t i = 0; i < seq->nkept && !b->full; i += pairs ? 2 : 1) {
        for (unsigned k = 0; k < indent + 4; k++)
            db_str(b, " ");
        if (pairs) {
            render(x, b, &seq->items[i], depth - 1);
            db_str(b, ": ");
            if (i + 1 < seq->nkept)
                render_pretty(x, b, &seq->items[i + 1], indent + 4, depth - 1);
        } else {
            render_pretty(x, b, &seq->items[i], indent + 4, depth - 1);
        }
        db_str(b, ",\n");
    }
    if (seq->flags & OBJ_TRUNC) {
        for (unsigned k = 0; k < indent + 4; k++)
            db_str(b, " ");
        db_fmt(b, "...  # %" PRIu32 " items in all\n",
               pairs ? seq->count / 2 : seq->count);
    }
    for (unsigned k = 0; k < indent; k++)
        db_str(b, " ");
    db_str(b, close);
    if (state != NULL) {
        db_str(b, ", ");
        render(x, b, state, depth - 1);
        db_str(b, ")");
    }
}

/* ------------------------------------------------------------------ */
/* lines and statements */

static void
emit(struct ex *x,
     enum mg_explain_kind kind,
     uint64_t off,
     int has_off,
     uint8_t op,
     const char *code,
     const char *comment,
     enum mg_severity sev)
{
    if (x->stop)
        return;
    struct mg_explain_line l = {
        .kind = kind,
        .stream = x->stream,
        .offset = off,
        .has_offset = has_off,
        .opcode = has_off && mg_opcodes[op].name ? mg_opcodes[op].name : "",
        .code = code ? code : "",
        .comment = comment ? comment : "",
        .severity = sev};
    if (x->cb(x->user, &l) != 0)
        x->stop = 1;
}

static void
stream_header(struct ex *x)
{
    if (x->header_sent)
        return;
    x->header_sent = 1;
    char c[120];
    snprintf(c, sizeof(c), "pickle stream %u, from offset %" PRIu64, x->stream,
             x->stream_start);
    emit(x, MG_EXPLAIN_STREAM, x->stream_start, 0, 0, "", c, MG_SEV_INFO);
}

static void
stmt_write(struct ex *x, struct ex_stmt *s, int force_name)
{
    stream_header(x);
    const char *code = s->code ? s->code : "";
    char *named = NULL;
    if (s->var != 0 &&
        (force_name || (s->var < x->capused && x->used[s->var]))) {
        size_t n = strlen(code) + 24;
        named = mg_malloc(n);
        if (named != NULL) {
            snprintf(named, n, "_%" PRIu32 " = %s", s->var, code);
            code = named;
        }
    }
    emit(x, s->kind, s->offset, 1, s->op, code, s->comment, s->sev);
    mg_free(named);
    mg_free(s->code);
    mg_free(s->comment);
    s->code = s->comment = NULL;
}

/* Write the oldest n statements (all of them at the end of a stream). */
static void
flush(struct ex *x, size_t n, int force_names)
{
    if (n > x->nwin)
        n = x->nwin;
    for (size_t i = 0; i < n; i++)
        stmt_write(x, &x->win[i], force_names);
    if (n > 0 && n < x->nwin)
        memmove(x->win, x->win + n, (x->nwin - n) * sizeof(*x->win));
    x->nwin -= n;
    x->last_call = NULL;
}

/* Hold a statement; its code and comment come from x->code / x->com.
   Returns its index in the window, or SIZE_MAX when out of memory. */
static size_t
stmt_add(struct ex *x,
         enum mg_explain_kind kind,
         uint64_t off,
         uint8_t op,
         uint32_t var,
         enum mg_severity sev)
{
    if (x->win == NULL) {
        x->win = mg_calloc(EX_WINDOW, sizeof(*x->win));
        if (x->win == NULL) {
            x->oom = 1;
            return SIZE_MAX;
        }
    }
    if (x->nwin == EX_WINDOW)
        flush(x, EX_WINDOW / 2, 1);
    struct ex_stmt *s = &x->win[x->nwin];
    s->kind = kind;
    s->offset = off;
    s->op = op;
    s->var = var;
    s->sev = sev;
    s->code = mg_strdup(db_cstr(&x->code));
    s->comment = mg_strdup(db_cstr(&x->com));
    if (s->code == NULL || s->comment == NULL || x->code.oom || x->com.oom) {
        mg_free(s->code);
        mg_free(s->comment);
        x->oom = 1;
        return SIZE_MAX;
    }
    return x->nwin++;
}

static uint32_t
new_var(struct ex *x)
{
    uint32_t v = ++x->nvars;
    if (v >= x->capused) {
        size_t nc = x->capused ? x->capused * 2 : 1024;
        uint8_t *nu = mg_realloc(x->used, nc);
        if (nu == NULL) {
            x->oom = 1;
            return 0;
        }
        memset(nu + x->capused, 0, nc - x->capused);
        x->used = nu;
        x->capused = nc;
    }
    return v;
}

static struct mg_class
classify(const struct ex *x, const struct mg_glob *g)
{
    return mg_policy_class(x->sc->policy, g->module->data, g->module->len,
                           g->name->data, g->name->len);
}

static void
class_comment(struct dbuf *b, struct mg_class cl)
{
    if (!cl.safe)
        db_str(b, mg_cat_text(cl.cat));
}

/* The comment of a call or method step, and its severity: a step that is
   not allowlisted is at least unknown. */
static enum mg_severity
step_comment(struct ex *x, int known, struct mg_class cl, const char *unknown)
{
    if (!known)
        db_str(&x->com, unknown);
    else
        class_comment(&x->com, cl);
    if (cl.safe)
        return MG_SEV_INFO;
    return cl.sev < MG_SEV_UNKNOWN ? MG_SEV_UNKNOWN : cl.sev;
}

/* ------------------------------------------------------------------ */
/* events */

static void
on_global(struct ex *x, const struct mg_pevent *ev)
{
    const struct mg_glob *g = ev->glob;
    struct mg_class cl = classify(x, g);
    db_reset(&x->code);
    db_reset(&x->com);
    if (imported(g)) {
        const char *name = g->name->data;
        const char *dot = strchr(name, '.');
        char first[256];
        snprintf(first, sizeof(first), "%.*s",
                 (int)(dot ? (size_t)(dot - name) : strlen(name)), name);
        int fresh = 0;
        const struct ex_import *im =
            import_add(x, g->module->data, first, &fresh);
        if (im == NULL) {
            x->oom = 1;
            return;
        }
        if (!fresh)
            return; /* imported already: nothing new happens */
        if (g->via == VIA_EXT) {
            db_fmt(&x->code,
                   "%s = find_class(*copyreg._extension_registry[%s])",
                   im->alias, first + (strncmp(first, "code ", 5) ? 0 : 5));
        } else if (im->alias[0] == '_' && im->alias[1] == 'g') {
            char mr[300], nr[300];
            struct mg_str *ms = (struct mg_str *)g->module;
            mg_str_repr(ms, 0, mr, sizeof(mr));
            struct mg_val nv = {.kind = VK_STR,
                                .u.s = (struct mg_str *)g->name};
            mg_val_render(&nv, nr, sizeof(nr), 2);
            db_fmt(&x->code, "%s = find_class(%s, %s)", im->alias, mr, nr);
        } else if (first[0] == '\0') {
            if (strcmp(im->alias, g->module->data) == 0)
                db_fmt(&x->code, "import %s", g->module->data);
            else
                db_fmt(&x->code, "import %s as %s", g->module->data, im->alias);
        } else if (strcmp(im->alias, first) == 0) {
            db_fmt(&x->code, "from %s import %s", g->module->data, first);
        } else {
            db_fmt(&x->code, "from %s import %s as %s", g->module->data, first,
                   im->alias);
        }
        class_comment(&x->com, cl);
        if (dot != NULL && !cl.safe)
            db_fmt(&x->com, " (uses %.200s)", name);
        stmt_add(x, MG_EXPLAIN_IMPORT, ev->offset, ev->opcode, 0, cl.sev);
        return;
    }
    /* Reached at load time (getattr, __import__, ...): name what the call
       just made, or say what was reached. */
    mg_glob_qualname(g, x->scratch, sizeof(x->scratch));
    if (x->last_call != NULL && x->last_off == ev->offset &&
        x->last_stmt < x->nwin) {
        struct ex_stmt *s = &x->win[x->last_stmt];
        struct ex_slot *sl = slot_get(x, g);
        if (sl == NULL)
            return;
        sl->var = s->var;
        db_str(&x->com, s->comment);
        db_fmt(&x->com, "%s-> %s", s->comment[0] ? "; " : "", x->scratch);
        if (!cl.safe)
            db_fmt(&x->com, " (%s)", mg_cat_text(cl.cat));
        char *nc = mg_strdup(db_cstr(&x->com));
        if (nc == NULL) {
            x->oom = 1;
            return;
        }
        mg_free(s->comment);
        s->comment = nc;
        if (cl.sev > s->sev)
            s->sev = cl.sev;
        return;
    }
    db_fmt(&x->com, "reaches %s", x->scratch);
    if (!cl.safe)
        db_fmt(&x->com, " (%s)", mg_cat_text(cl.cat));
    stmt_add(x, MG_EXPLAIN_NOTE, ev->offset, ev->opcode, 0, cl.sev);
}

static void
on_call(struct ex *x, const struct mg_pevent *ev)
{
    const struct mg_call *c = ev->call;
    struct mg_class cl = {MG_SEV_UNKNOWN, CAT_UNKNOWN, 0};
    if (ev->glob != NULL)
        cl = classify(x, ev->glob);
    if (cl.safe && !(x->flags & MG_EXPLAIN_FULL))
        return; /* shown where its value is used */
    uint32_t var = new_var(x);
    struct ex_slot *sl = slot_get(x, c);
    if (sl == NULL || var == 0)
        return;
    sl->var = var;
    db_reset(&x->code);
    db_reset(&x->com);
    /* the call itself, not its value */
    sl->var = 0;
    render_call_inline(x, &x->code, c, EX_DEPTH);
    sl->var = var;
    enum mg_severity sev = step_comment(x, ev->glob != NULL, cl,
                                        "calls an object of unknown type");
    size_t i = stmt_add(x, MG_EXPLAIN_CALL, ev->offset, ev->opcode, var, sev);
    if (i != SIZE_MAX) {
        x->last_call = c;
        x->last_stmt = i;
        x->last_off = ev->offset;
    }
}

static void
on_method(struct ex *x, const struct mg_pevent *ev)
{
    if (strcmp(ev->method, "persistent_load") == 0)
        return;
    const struct mg_val *t = ev->target;
    char how = strcmp(ev->method, "append") == 0        ? 'a'
               : strcmp(ev->method, "__setitem__") == 0 ? 's'
               : strcmp(ev->method, "add") == 0         ? 'S'
                                                        : 0;
    if (how != 0 && t->kind == VK_OBJ) {
        struct ex_slot *sl = slot_get(x, t->u.o);
        if (sl == NULL)
            return;
        sl->items = how;
    }
    struct mg_class cl = {MG_SEV_UNKNOWN, CAT_UNKNOWN, 0};
    if (ev->glob != NULL)
        cl = classify(x, ev->glob);
    else if (t->kind == VK_OBJ && t->u.o->kind == OK_PERSID)
        return;
    if (cl.safe && !(x->flags & MG_EXPLAIN_FULL))
        return;
    db_reset(&x->code);
    db_reset(&x->com);
    render(x, &x->code, t, EX_DEPTH);
    size_t n = ev->nmargs;
    const struct mg_val *a = ev->margs;
    if (how == 0) {
        db_fmt(&x->code, ".%s(", ev->method);
        if (n > 0)
            render_pretty(x, &x->code, &a[0], 0, EX_DEPTH);
        db_str(&x->code, ")");
    } else if (how == 's' && n == 2) {
        db_str(&x->code, "[");
        render(x, &x->code, &a[0], EX_DEPTH);
        db_str(&x->code, "] = ");
        render(x, &x->code, &a[1], EX_DEPTH);
    } else {
        db_str(&x->code, how == 's'   ? ".update({"
                         : n == 1     ? (how == 'a' ? ".append(" : ".add(")
                         : how == 'a' ? ".extend(["
                                      : ".update({");
        for (size_t i = 0; i < n && !x->code.full; i++) {
            if (i > 0)
                db_str(&x->code, how == 's' && (i % 2) ? ": " : ", ");
            render(x, &x->code, &a[i], EX_DEPTH);
        }
        db_str(&x->code, how == 's'   ? "})"
                         : n == 1     ? ")"
                         : how == 'a' ? "])"
                                      : "})");
    }
    enum mg_severity sev = step_comment(x, ev->glob != NULL, cl,
                                        "method of an object of unknown type");
    stmt_add(x, MG_EXPLAIN_METHOD, ev->offset, ev->opcode, 0, sev);
}

static enum mg_status
on_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)vm;
    struct ex *x = user;
    if (x->stop || x->oom)
        return x->oom ? MG_E_NOMEM : MG_OK;
    switch (ev->kind) {
    case PEV_GLOBAL:
        on_global(x, ev);
        break;
    case PEV_CALL:
        on_call(x, ev);
        break;
    case PEV_METHOD:
        on_method(x, ev);
        break;
    case PEV_ANOMALY:
        db_reset(&x->code);
        db_reset(&x->com);
        db_fmt(&x->com, "%s: %s", ev->rule, ev->msg);
        stmt_add(x, MG_EXPLAIN_NOTE, ev->offset, ev->opcode, 0, ev->sev);
        break;
    case PEV_OPCODE:
    case PEV_STRING:
    default:
        break;
    }
    return x->oom ? MG_E_NOMEM : MG_OK;
}

static void
stream_reset(struct ex *x)
{
    for (size_t i = 0; i < x->nwin; i++) {
        mg_free(x->win[i].code);
        mg_free(x->win[i].comment);
    }
    x->nwin = 0;
    for (size_t i = 0; i < x->nimp; i++) {
        mg_free(x->imp[i].module);
        mg_free(x->imp[i].first);
        mg_free(x->imp[i].alias);
    }
    x->nimp = 0;
    if (x->map != NULL)
        memset(x->map, 0, x->mcap * sizeof(*x->map));
    x->mn = 0;
    if (x->used != NULL)
        memset(x->used, 0, x->capused);
    x->nvars = 0;
    x->last_call = NULL;
    x->header_sent = 0;
}

static void
ex_fini(struct ex *x)
{
    stream_reset(x);
    mg_free(x->win);
    mg_free(x->imp);
    mg_free(x->map);
    mg_free(x->used);
    mg_free(x->code.p);
    mg_free(x->com.p);
    mg_free(x->tmp.p);
}

enum mg_status
mg_explain_buffer(struct mg_scanner *s,
                  const void *buf,
                  size_t len,
                  unsigned flags,
                  mg_explain_cb cb,
                  void *user)
{
    if (s == NULL || cb == NULL || (buf == NULL && len > 0))
        return MG_E_INVALID;
    struct ex *x = mg_calloc(1, sizeof(*x));
    if (x == NULL)
        return MG_E_NOMEM;
    x->sc = s;
    x->flags = flags;
    x->cb = cb;
    x->user = user;
    x->code.max = x->com.max = x->tmp.max = EX_LINE_MAX;
    struct mg_pvm vm;
    mg_pvm_init(&vm, &s->opt.limits, on_event, x);
    vm.keep_items = EX_KEEP_ITEMS;
    struct mg_stream st;
    mg_stream_init_mem(&st, buf, len, 0);
    enum mg_status rc = MG_OK;
    char msg[600];
    for (;;) {
        struct mg_pvm_result res;
        x->stream_start = mg_stream_tell(&st);
        rc = mg_pvm_run(&vm, &st, &res);
        if (rc == MG_E_NOMEM || x->oom) {
            rc = MG_E_NOMEM;
            break;
        }
        if (rc != MG_OK) {
            flush(x, x->nwin, 0);
            snprintf(msg, sizeof(msg),
                     "limit %s reached: the explanation stops here",
                     vm.limit_name ? vm.limit_name : mg_strerror(rc));
            emit(x, MG_EXPLAIN_BREAK, res.end_off, 1, 0, "", msg, MG_SEV_INFO);
            break;
        }
        if (res.end == PEND_EMPTY) {
            if (x->stream == 0)
                emit(x, MG_EXPLAIN_END, 0, 0, 0, "", "the input is empty",
                     MG_SEV_INFO);
            break;
        }
        if (res.end == PEND_STOP) {
            /* Render the value first: it decides which names are used. */
            db_reset(&x->tmp);
            db_str(&x->tmp, "result = ");
            render_pretty(x, &x->tmp, &res.value, 0, EX_DEPTH);
            if (x->tmp.oom) {
                rc = MG_E_NOMEM;
                break;
            }
            flush(x, x->nwin, 0);
            stream_header(x);
            snprintf(msg, sizeof(msg),
                     "what load() returns (STOP at %" PRIu64 ")",
                     res.end_off - 1);
            emit(x, MG_EXPLAIN_RESULT, res.end_off - 1, 1, '.',
                 db_cstr(&x->tmp), msg, MG_SEV_INFO);
            stream_reset(x);
            x->stream++;
            if (x->stop || x->stream >= s->opt.limits.max_streams)
                break;
            continue;
        }
        /* PEND_BREAK */
        if (x->stream > 0 && res.end_off == res.start && x->nwin == 0) {
            snprintf(msg, sizeof(msg),
                     "%zu bytes after the last STOP are not a pickle (%s); "
                     "a loader reading further would fail here",
                     len - (size_t)res.start, res.why);
            emit(x, MG_EXPLAIN_END, res.start, 1, 0, "", msg,
                 MG_SEV_SUSPICIOUS);
            break;
        }
        flush(x, x->nwin, 0);
        stream_header(x);
        snprintf(msg, sizeof(msg),
                 "the stream breaks here: %s; load() raises, after "
                 "everything above has run",
                 res.why);
        emit(x, MG_EXPLAIN_BREAK, res.end_off, 1, 0, "", msg,
             MG_SEV_SUSPICIOUS);
        if (res.end_off < len) {
            snprintf(msg, sizeof(msg),
                     "%zu bytes follow the break: no loader reading from "
                     "the start runs them ('modelgate scan' still searches "
                     "them for hidden pickles)",
                     len - (size_t)res.end_off);
            emit(x, MG_EXPLAIN_END, res.end_off, 0, 0, "", msg, MG_SEV_INFO);
        }
        break;
    }
    mg_pvm_fini(&vm);
    if (rc == MG_E_NOMEM)
        mg_set_error(s, rc, "out of memory");
    ex_fini(x);
    mg_free(x);
    return rc;
}
