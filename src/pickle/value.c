#include "pickle/value.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "io/ckd.h"

struct mg_arena_chunk {
    struct mg_arena_chunk *next;
    size_t size;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK_MIN (64u * 1024u)

void
mg_arena_init(struct mg_arena *a, uint64_t cap, uint64_t str_budget)
{
    memset(a, 0, sizeof(*a));
    a->cap = cap;
    a->str_budget = str_budget;
}

void
mg_arena_fini(struct mg_arena *a)
{
    struct mg_arena_chunk *c = a->head;
    while (c != NULL) {
        struct mg_arena_chunk *n = c->next;
        mg_free(c);
        c = n;
    }
    memset(a, 0, sizeof(*a));
}

void *
mg_arena_alloc(struct mg_arena *a, size_t n)
{
    size_t rounded;
    if (ckd_add_size(&rounded, n, 15))
        return NULL;
    rounded &= ~(size_t)15;
    if (a->head == NULL || rounded > a->head_size - a->used_in_head) {
        size_t sz = rounded > ARENA_CHUNK_MIN ? rounded : ARENA_CHUNK_MIN;
        /* Grow chunks with the arena so that large pickles make few
           allocations, but never past 16 MiB a chunk. */
        if (a->head != NULL && a->head_size < (16u << 20) &&
            sz < a->head_size * 2)
            sz = a->head_size * 2;
        uint64_t total;
        if (ckd_add_u64(&total, a->total, sz) || total > a->cap) {
            a->capped = 1;
            return NULL;
        }
        struct mg_arena_chunk *c = mg_malloc(sizeof(*c) + sz);
        if (c == NULL) {
            a->capped = 0;
            return NULL;
        }
        c->next = a->head;
        c->size = sz;
        a->head = c;
        a->head_size = sz;
        a->used_in_head = 0;
        a->total = total;
    }
    void *p = a->head->data + a->used_in_head;
    a->used_in_head += rounded;
    return p;
}

struct mg_str *
mg_str_new(struct mg_arena *a,
           const void *p,
           size_t len,
           uint64_t full_len,
           uint64_t src_off,
           size_t keep)
{
    uint16_t flags = 0;
    if (len > keep) {
        len = keep;
        flags |= STR_TRUNC;
    }
    if (len < full_len)
        flags |= STR_TRUNC;
    if (a->str_bytes + len > a->str_budget) {
        len = 0;
        flags |= STR_FORGOTTEN;
    }
    struct mg_str *s = mg_arena_alloc(a, sizeof(*s) + len + 1);
    if (s == NULL)
        return NULL;
    s->full_len = full_len;
    s->src_off = src_off;
    s->len = (uint32_t)len;
    s->flags = flags;
    s->ind = 0;
    if (len > 0)
        memcpy(s->data, p, len);
    s->data[len] = '\0';
    a->str_bytes += len;
    return s;
}

/* Appends formatted text, keeping track of truncation. */
struct rbuf {
    char *p;
    size_t size;
    size_t len; /* would-be length */
};

static void
rb_put(struct rbuf *b, const char *s, size_t n)
{
    if (b->len < b->size) {
        size_t room = b->size - b->len - 1;
        size_t k = n < room ? n : room;
        memcpy(b->p + b->len, s, k);
        b->p[b->len + k] = '\0';
    }
    b->len += n;
}

static void
rb_str(struct rbuf *b, const char *s)
{
    rb_put(b, s, strlen(s));
}

static void
rb_repr(struct rbuf *b, const struct mg_str *s, int is_bytes)
{
    char tmp[8];
    if (s->flags & STR_FORGOTTEN) {
        rb_str(b, is_bytes ? "<bytes>" : "<str>");
        return;
    }
    if (is_bytes)
        rb_put(b, "b", 1);
    /* Python prefers single quotes unless the text has one and no double. */
    int has_sq = memchr(s->data, '\'', s->len) != NULL;
    int has_dq = memchr(s->data, '"', s->len) != NULL;
    char q = (has_sq && !has_dq) ? '"' : '\'';
    rb_put(b, &q, 1);
    for (uint32_t i = 0; i < s->len && b->len < b->size; i++) {
        unsigned char c = (unsigned char)s->data[i];
        if (c == (unsigned char)q || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            rb_put(b, tmp, 2);
        } else if (c == '\n') {
            rb_put(b, "\\n", 2);
        } else if (c == '\r') {
            rb_put(b, "\\r", 2);
        } else if (c == '\t') {
            rb_put(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80)) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
            rb_put(b, tmp, 4);
        } else {
            rb_put(b, (const char *)&c, 1);
        }
    }
    if (s->flags & STR_TRUNC)
        rb_put(b, "...", 3);
    rb_put(b, &q, 1);
}

static void render(struct rbuf *b, const struct mg_val *v, unsigned depth);

static void
render_items(struct rbuf *b,
             const struct mg_obj *o,
             const char *open,
             const char *close,
             int pairs,
             unsigned depth)
{
    rb_str(b, open);
    for (uint32_t i = 0; i < o->nkept && b->len < b->size; i++) {
        if (i > 0)
            rb_str(b, pairs && (i % 2) ? ": " : ", ");
        render(b, &o->items[i], depth - 1);
    }
    if (o->flags & OBJ_TRUNC)
        rb_str(b, o->nkept ? ", ..." : "...");
    if (o->kind == OK_TUPLE && o->count == 1)
        rb_str(b, ",");
    rb_str(b, close);
}

static void
render_glob(struct rbuf *b, const struct mg_glob *g)
{
    rb_put(b, g->module->data, g->module->len);
    if (g->name->len > 0) {
        rb_put(b, ".", 1);
        rb_put(b, g->name->data, g->name->len);
    }
}

static void
render(struct rbuf *b, const struct mg_val *v, unsigned depth)
{
    char tmp[64];
    if (depth == 0) {
        rb_str(b, "...");
        return;
    }
    switch ((enum mg_vk)v->kind) {
    case VK_NONE:
        rb_str(b, "None");
        return;
    case VK_BOOL:
        rb_str(b, v->u.i ? "True" : "False");
        return;
    case VK_INT:
        snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
        rb_str(b, tmp);
        return;
    case VK_BIGINT:
        rb_str(b, v->u.i < 0 ? "-<bigint>" : "<bigint>");
        return;
    case VK_FLOAT:
        snprintf(tmp, sizeof(tmp), "%.17g", v->u.f);
        rb_str(b, tmp);
        return;
    case VK_STR:
        rb_repr(b, v->u.s, 0);
        return;
    case VK_BYTES:
        if (v->u.s->flags & STR_BYTEARRAY)
            rb_str(b, "bytearray(");
        rb_repr(b, v->u.s, 1);
        if (v->u.s->flags & STR_BYTEARRAY)
            rb_str(b, ")");
        return;
    case VK_OBJ:
        break;
    case VK_EMPTY:
    default:
        rb_str(b, "?");
        return;
    }
    const struct mg_obj *o = v->u.o;
    switch ((enum mg_ok)o->kind) {
    case OK_TUPLE:
        render_items(b, o, "(", ")", 0, depth);
        return;
    case OK_LIST:
        render_items(b, o, "[", "]", 0, depth);
        return;
    case OK_DICT:
        render_items(b, o, "{", "}", 1, depth);
        return;
    case OK_SET:
        render_items(b, o, o->nkept ? "{" : "set(", o->nkept ? "}" : ")", 0,
                     depth);
        return;
    case OK_FROZENSET:
        render_items(b, o, "frozenset({", "})", 0, depth);
        return;
    case OK_GLOBAL:
        render_glob(b, (const struct mg_glob *)o);
        return;
    case OK_CALL: {
        const struct mg_call *c = (const struct mg_call *)o;
        render(b, &c->callee, depth - 1);
        const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
        if (a != NULL) {
            rb_str(b, "(");
            for (uint32_t i = 0; i < a->nkept && b->len < b->size; i++) {
                if (i > 0)
                    rb_str(b, ", ");
                render(b, &a->items[i], depth - 1);
            }
            if (a->flags & OBJ_TRUNC)
                rb_str(b, ", ...");
        } else {
            rb_str(b, "(*");
            render(b, &c->args, depth - 1);
        }
        const struct mg_obj *kw = mg_val_obj(&c->kwargs, OK_DICT);
        if (kw != NULL) {
            for (uint32_t i = 0; i + 1 < kw->nkept && b->len < b->size;
                 i += 2) {
                if (i > 0 || (a != NULL && a->nkept > 0))
                    rb_str(b, ", ");
                if (kw->items[i].kind == VK_STR && kw->items[i].u.s->len)
                    rb_put(b, kw->items[i].u.s->data, kw->items[i].u.s->len);
                else
                    render(b, &kw->items[i], depth - 1);
                rb_str(b, "=");
                render(b, &kw->items[i + 1], depth - 1);
            }
        }
        rb_str(b, ")");
        return;
    }
    case OK_PERSID: {
        const struct mg_call *c = (const struct mg_call *)o;
        rb_str(b, "persistent_load(");
        render(b, &c->args, depth - 1);
        rb_str(b, ")");
        return;
    }
    case OK_BUFFER:
        rb_str(b, "<out-of-band buffer>");
        return;
    case OK_UNKNOWN:
    default:
        rb_str(b, "<unknown>");
        return;
    }
}

size_t
mg_val_render(const struct mg_val *v, char *buf, size_t size, unsigned depth)
{
    struct rbuf b = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    render(&b, v, depth);
    if (b.len >= size && size >= 4)
        memcpy(buf + size - 4, "...", 4);
    return b.len;
}

size_t
mg_str_repr(const struct mg_str *s, int is_bytes, char *buf, size_t size)
{
    struct rbuf b = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    rb_repr(&b, s, is_bytes);
    if (b.len >= size && size >= 4)
        memcpy(buf + size - 4, "...", 4);
    return b.len;
}

size_t
mg_glob_qualname(const struct mg_glob *g, char *buf, size_t size)
{
    struct rbuf b = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    render_glob(&b, g);
    return b.len;
}

const char *
mg_val_type_name(const struct mg_val *v)
{
    switch ((enum mg_vk)v->kind) {
    case VK_NONE:
        return "NoneType";
    case VK_BOOL:
        return "bool";
    case VK_INT:
    case VK_BIGINT:
        return "int";
    case VK_FLOAT:
        return "float";
    case VK_STR:
        return "str";
    case VK_BYTES:
        return (v->u.s->flags & STR_BYTEARRAY) ? "bytearray" : "bytes";
    case VK_OBJ:
        switch ((enum mg_ok)v->u.o->kind) {
        case OK_TUPLE:
            return "tuple";
        case OK_LIST:
            return "list";
        case OK_DICT:
            return "dict";
        case OK_SET:
            return "set";
        case OK_FROZENSET:
            return "frozenset";
        case OK_GLOBAL:
        case OK_CALL:
        case OK_PERSID:
        case OK_BUFFER:
        case OK_UNKNOWN:
        default:
            return NULL;
        }
    case VK_EMPTY:
    default:
        return NULL;
    }
}
