/*
 * json.c - the bounded JSON parser. Iterative (an explicit stack bounded
 * by max_depth, never the C stack), one pass over the text, nodes in one
 * growing array bounded by max_nodes. Strings are validated in place
 * (escapes, UTF-8, control characters) and decoded only when asked.
 */
#include "json/json.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "io/ckd.h"

struct frame {
    uint32_t node;
    uint32_t last; /* last element (array) or last value (object) */
    uint32_t key;  /* object: key waiting for its value */
};

struct parser {
    struct mg_json_doc *d;
    const struct mg_json_opts *o;
    const uint8_t *t;
    size_t len;
    size_t pos;
    struct frame *stack;
    size_t depth;
    size_t stack_cap;
};

static enum mg_status
fail(struct parser *p, const char *why, size_t off)
{
    p->d->err = why;
    p->d->err_off = off;
    return MG_E_MALFORMED;
}

static void
skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        uint8_t c = p->t[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->pos++;
    }
}

static enum mg_status
new_node(struct parser *p, enum mg_json_type type, uint32_t *out)
{
    struct mg_json_doc *d = p->d;
    if ((uint64_t)d->n >= p->o->max_nodes || d->n == UINT32_MAX) {
        d->limit = "max-json-values";
        d->err = "too many JSON values";
        d->err_off = p->pos;
        return MG_E_LIMIT;
    }
    if (d->n == d->cap) {
        uint64_t ncap = d->cap ? (uint64_t)d->cap * 2 : 64;
        if (ncap > p->o->max_nodes)
            ncap = p->o->max_nodes;
        if (ncap > UINT32_MAX)
            ncap = UINT32_MAX;
        struct mg_json_node *nn =
            mg_reallocarray(d->nodes, (size_t)ncap, sizeof(*nn));
        if (nn == NULL)
            return MG_E_NOMEM;
        d->nodes = nn;
        d->cap = (uint32_t)ncap;
    }
    uint32_t i = d->n++;
    memset(&d->nodes[i], 0, sizeof(d->nodes[i]));
    d->nodes[i].type = (uint8_t)type;
    *out = i;
    return MG_OK;
}

/* Link a new value into its parent. */
static void
attach(struct parser *p, uint32_t node)
{
    if (p->depth == 0)
        return; /* the root is node 0 */
    struct frame *f = &p->stack[p->depth - 1];
    struct mg_json_node *parent = &p->d->nodes[f->node];
    if (parent->type == MG_JSON_ARRAY) {
        if (parent->len == 0)
            parent->a = node;
        else
            p->d->nodes[f->last].next = node;
        parent->len++;
    } else {
        p->d->nodes[f->key].next = node;
    }
    f->last = node;
}

static int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \uXXXX at t[i] (pointing at the backslash); -1 if malformed. */
static long
read_u_escape(const uint8_t *t, size_t len, size_t i)
{
    if (len - i < 6 || t[i] != '\\' || t[i + 1] != 'u')
        return -1;
    long v = 0;
    for (size_t k = 2; k < 6; k++) {
        int h = hexval(t[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * Length of the UTF-8 sequence at t[i] (1..4), or 0 if invalid. With
 * surrogates, encoded UTF-16 surrogates (ED A0..BF xx) are accepted, as
 * Python's 'surrogatepass' produces them.
 */
static size_t
utf8_len(const uint8_t *t, size_t len, size_t i, int surrogates)
{
    uint8_t c = t[i];
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED && !surrogates)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (len - i < n)
        return 0;
    if (t[i + 1] < lo || t[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (t[i + k] < 0x80 || t[i + k] > 0xBF)
            return 0;
    return n;
}

/* A string starting at the opening quote p->pos. */
static enum mg_status
parse_string(struct parser *p, uint32_t *out, int key)
{
    size_t start = p->pos + 1, i = start;
    uint8_t flags = key ? MG_JSON_F_KEY : 0;
    const uint8_t *t = p->t;
    for (;;) {
        if (i >= p->len)
            return fail(p, "unterminated string", p->pos);
        uint8_t c = t[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail(p, "control character in string", i);
        if (c == '\\') {
            flags |= MG_JSON_F_ESCAPES;
            if (i + 1 >= p->len)
                return fail(p, "unterminated string", p->pos);
            uint8_t e = t[i + 1];
            if (e == 'u') {
                long u = read_u_escape(t, p->len, i);
                if (u < 0)
                    return fail(p, "bad \\u escape", i);
                if (u >= 0xD800 && u <= 0xDBFF) {
                    long lo = read_u_escape(t, p->len, i + 6);
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        i += 12;
                        continue;
                    }
                    if (!p->o->python)
                        return fail(p, "unpaired surrogate escape", i);
                    flags |= MG_JSON_F_SURR;
                } else if (u >= 0xDC00 && u <= 0xDFFF) {
                    if (!p->o->python)
                        return fail(p, "unpaired surrogate escape", i);
                    flags |= MG_JSON_F_SURR;
                }
                i += 6;
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' &&
                e != 'n' && e != 'r' && e != 't')
                return fail(p, "bad escape", i);
            i += 2;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(t, p->len, i, p->o->python);
            if (n == 0)
                return fail(p, "invalid UTF-8 in string", i);
            if (n == 3 && c == 0xED && t[i + 1] >= 0xA0)
                flags |= MG_JSON_F_SURR;
            i += n;
            continue;
        }
        i++;
    }
    size_t n = i - start;
    if (start > UINT32_MAX || n > UINT32_MAX)
        return fail(p, "string too long", p->pos);
    enum mg_status st = new_node(p, MG_JSON_STRING, out);
    if (st != MG_OK)
        return st;
    struct mg_json_node *nd = &p->d->nodes[*out];
    nd->flags = flags;
    nd->a = (uint32_t)start;
    nd->len = (uint32_t)n;
    p->pos = i + 1;
    return MG_OK;
}

static int
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int
match_word(const struct parser *p, size_t at, const char *w)
{
    size_t n = strlen(w);
    return p->len - at >= n && memcmp(p->t + at, w, n) == 0;
}

static enum mg_status
parse_number(struct parser *p, uint32_t *out)
{
    size_t s = p->pos, i = s;
    const uint8_t *t = p->t;
    uint8_t flags = MG_JSON_F_INTEGER;
    if (i < p->len && t[i] == '-') {
        flags |= MG_JSON_F_NEG;
        i++;
    }
    if (p->o->python && match_word(p, i, "Infinity")) {
        i += 8;
        flags = (uint8_t)((flags & MG_JSON_F_NEG) | MG_JSON_F_SPECIAL);
    } else {
        if (i >= p->len || !is_digit(t[i]))
            return fail(p, "bad number", s);
        if (t[i] == '0') {
            i++;
        } else {
            while (i < p->len && is_digit(t[i]))
                i++;
        }
        if (i < p->len && t[i] == '.') {
            flags &= (uint8_t)~MG_JSON_F_INTEGER;
            i++;
            if (i >= p->len || !is_digit(t[i]))
                return fail(p, "bad number", s);
            while (i < p->len && is_digit(t[i]))
                i++;
        }
        if (i < p->len && (t[i] == 'e' || t[i] == 'E')) {
            flags &= (uint8_t)~MG_JSON_F_INTEGER;
            i++;
            if (i < p->len && (t[i] == '+' || t[i] == '-'))
                i++;
            if (i >= p->len || !is_digit(t[i]))
                return fail(p, "bad number", s);
            while (i < p->len && is_digit(t[i]))
                i++;
        }
    }
    if (s > UINT32_MAX || i - s > UINT32_MAX)
        return fail(p, "number too long", s);
    enum mg_status st = new_node(p, MG_JSON_NUMBER, out);
    if (st != MG_OK)
        return st;
    struct mg_json_node *nd = &p->d->nodes[*out];
    nd->flags = flags;
    nd->a = (uint32_t)s;
    nd->len = (uint32_t)(i - s);
    p->pos = i;
    return MG_OK;
}

static enum mg_status
push(struct parser *p, uint32_t node)
{
    if ((uint64_t)p->depth >= p->o->max_depth) {
        p->d->limit = "max-json-depth";
        p->d->err = "JSON nested too deeply";
        p->d->err_off = p->pos;
        return MG_E_LIMIT;
    }
    if (p->depth == p->stack_cap) {
        size_t ncap = p->stack_cap ? p->stack_cap * 2 : 16;
        struct frame *ns = mg_reallocarray(p->stack, ncap, sizeof(*ns));
        if (ns == NULL)
            return MG_E_NOMEM;
        p->stack = ns;
        p->stack_cap = ncap;
    }
    struct frame *f = &p->stack[p->depth++];
    f->node = node;
    f->last = 0;
    f->key = 0;
    return MG_OK;
}

/* Decoding, byte by byte: the iterator yields the UTF-8 of the decoded
   string. */
struct siter {
    const uint8_t *t;
    size_t i, end;
    uint8_t pend[4];
    unsigned npend, ipend;
};

static void
si_init(struct siter *s, const struct mg_json_doc *d, uint32_t node)
{
    const struct mg_json_node *nd = &d->nodes[node];
    s->t = (const uint8_t *)d->text;
    s->i = nd->a;
    s->end = (size_t)nd->a + nd->len;
    s->npend = s->ipend = 0;
}

static unsigned
put_utf8(uint8_t *b, unsigned long cp)
{
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (uint8_t)(0xC0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (uint8_t)(0xF0 | (cp >> 18));
    b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Next decoded byte, or -1 at the end. The text was validated. */
static int
si_next(struct siter *s)
{
    if (s->ipend < s->npend)
        return s->pend[s->ipend++];
    if (s->i >= s->end)
        return -1;
    uint8_t c = s->t[s->i];
    if (c != '\\') {
        s->i++;
        return c;
    }
    uint8_t e = s->t[s->i + 1];
    s->i += 2;
    switch (e) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default:
        return e;
    }
    long u = read_u_escape(s->t, s->end, s->i - 2);
    s->i += 4;
    unsigned long cp = (unsigned long)u;
    if (u >= 0xD800 && u <= 0xDBFF) {
        long lo = read_u_escape(s->t, s->end, s->i);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + (((unsigned long)u - 0xD800) << 10) +
                 ((unsigned long)lo - 0xDC00);
            s->i += 6;
        }
    }
    s->npend = put_utf8(s->pend, cp);
    s->ipend = 1;
    return s->pend[0];
}

size_t
mg_json_str(const struct mg_json_doc *d, uint32_t i, char *buf, size_t cap)
{
    struct siter s;
    si_init(&s, d, i);
    size_t n = 0;
    int c;
    while ((c = si_next(&s)) >= 0) {
        if (cap > 0 && n < cap - 1)
            buf[n] = (char)c;
        n++;
    }
    if (cap > 0)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

size_t
mg_json_str_len(const struct mg_json_doc *d, uint32_t i)
{
    if (!(d->nodes[i].flags & MG_JSON_F_ESCAPES))
        return d->nodes[i].len;
    return mg_json_str(d, i, NULL, 0);
}

static int
str_cmp_prefix(const struct mg_json_doc *d,
               uint32_t i,
               const char *s,
               int whole)
{
    const struct mg_json_node *nd = &d->nodes[i];
    if (nd->type != MG_JSON_STRING)
        return 0;
    size_t n = strlen(s);
    if (!(nd->flags & MG_JSON_F_ESCAPES)) {
        if (whole ? nd->len != n : nd->len < n)
            return 0;
        return memcmp(d->text + nd->a, s, n) == 0;
    }
    struct siter it;
    si_init(&it, d, i);
    for (size_t k = 0; k < n; k++)
        if (si_next(&it) != (uint8_t)s[k])
            return 0;
    return whole ? si_next(&it) < 0 : 1;
}

int
mg_json_str_eq(const struct mg_json_doc *d, uint32_t i, const char *s)
{
    return str_cmp_prefix(d, i, s, 1);
}

int
mg_json_str_prefix(const struct mg_json_doc *d, uint32_t i, const char *prefix)
{
    return str_cmp_prefix(d, i, prefix, 0);
}

static uint64_t
str_hash(const struct mg_json_doc *d, uint32_t i)
{
    struct siter s;
    si_init(&s, d, i);
    uint64_t h = 0xcbf29ce484222325ULL;
    int c;
    while ((c = si_next(&s)) >= 0) {
        h ^= (uint8_t)c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int
str_equal_nodes(const struct mg_json_doc *d, uint32_t a, uint32_t b)
{
    struct siter x, y;
    si_init(&x, d, a);
    si_init(&y, d, b);
    for (;;) {
        int c1 = si_next(&x), c2 = si_next(&y);
        if (c1 != c2)
            return 0;
        if (c1 < 0)
            return 1;
    }
}

struct keyref {
    uint64_t hash;
    uint32_t node;
};

static int
keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    /* Source order among equal hashes: the later key is the duplicate. */
    return x->node < y->node ? -1 : (x->node > y->node);
}

static void
note_dup(struct mg_json_doc *d, uint32_t key)
{
    if (d->ndup < MG_JSON_MAX_DUPS)
        d->dups[d->ndup] = key;
    if (d->ndup < UINT32_MAX)
        d->ndup++;
}

/* An object was closed: find its duplicate keys. */
static enum mg_status
check_dups(struct parser *p, uint32_t obj)
{
    struct mg_json_doc *d = p->d;
    uint32_t count = d->nodes[obj].len;
    if (count < 2)
        return MG_OK;
    if (count == 2) {
        uint32_t k1 = d->nodes[obj].a;
        uint32_t k2 = mg_json_next_key(d, k1);
        if (str_equal_nodes(d, k1, k2))
            note_dup(d, k2);
        return MG_OK;
    }
    struct keyref *refs = mg_calloc(count, sizeof(*refs));
    if (refs == NULL)
        return MG_E_NOMEM;
    uint32_t k = d->nodes[obj].a;
    for (uint32_t j = 0; j < count && k != MG_JSON_NONE; j++) {
        refs[j].hash = str_hash(d, k);
        refs[j].node = k;
        k = mg_json_next_key(d, k);
    }
    qsort(refs, count, sizeof(*refs), keyref_cmp);
    for (uint32_t j = 1; j < count; j++) {
        /* Compare with every earlier key of the same hash run. */
        for (uint32_t m = j; m > 0 && refs[m - 1].hash == refs[j].hash; m--) {
            if (str_equal_nodes(d, refs[m - 1].node, refs[j].node)) {
                note_dup(d, refs[j].node);
                break;
            }
        }
    }
    mg_free(refs);
    return MG_OK;
}

static enum mg_status
parse_literal(struct parser *p, uint32_t *out)
{
    static const struct {
        const char *word;
        enum mg_json_type type;
        int python;
    } lits[] = {{"true", MG_JSON_TRUE, 0},
                {"false", MG_JSON_FALSE, 0},
                {"null", MG_JSON_NULL, 0},
                {"NaN", MG_JSON_NUMBER, 1},
                {"Infinity", MG_JSON_NUMBER, 1}};
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        if (lits[i].python && !p->o->python)
            continue;
        if (!match_word(p, p->pos, lits[i].word))
            continue;
        size_t n = strlen(lits[i].word);
        enum mg_status st = new_node(p, lits[i].type, out);
        if (st != MG_OK)
            return st;
        struct mg_json_node *nd = &p->d->nodes[*out];
        nd->a = (uint32_t)p->pos;
        nd->len = (uint32_t)n;
        if (lits[i].type == MG_JSON_NUMBER)
            nd->flags = MG_JSON_F_SPECIAL;
        p->pos += n;
        return MG_OK;
    }
    return fail(p, "unexpected character", p->pos);
}

/* Expect a key string then ':' for the object on top of the stack. */
static enum mg_status
parse_key(struct parser *p)
{
    skip_ws(p);
    if (p->pos >= p->len || p->t[p->pos] != '"')
        return fail(p, "expected a string key", p->pos);
    uint32_t key;
    enum mg_status st = parse_string(p, &key, 1);
    if (st != MG_OK)
        return st;
    struct frame *f = &p->stack[p->depth - 1];
    struct mg_json_node *obj = &p->d->nodes[f->node];
    if (obj->len == 0)
        obj->a = key;
    else
        p->d->nodes[f->last].next = key;
    obj->len++;
    f->key = key;
    skip_ws(p);
    if (p->pos >= p->len || p->t[p->pos] != ':')
        return fail(p, "expected ':'", p->pos);
    p->pos++;
    return MG_OK;
}

/* After a complete value: close containers or move to the next item.
   Sets *more to 1 when another value is expected. */
static enum mg_status
after_value(struct parser *p, int *more)
{
    for (;;) {
        *more = 0;
        if (p->depth == 0)
            return MG_OK;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, "unexpected end of JSON", p->pos);
        struct frame *f = &p->stack[p->depth - 1];
        int is_obj = p->d->nodes[f->node].type == MG_JSON_OBJECT;
        uint8_t c = p->t[p->pos];
        if (c == ',') {
            p->pos++;
            if (is_obj) {
                enum mg_status st = parse_key(p);
                if (st != MG_OK)
                    return st;
            }
            *more = 1;
            return MG_OK;
        }
        if (c == (is_obj ? '}' : ']')) {
            p->pos++;
            uint32_t node = f->node;
            p->depth--;
            if (is_obj) {
                enum mg_status st = check_dups(p, node);
                if (st != MG_OK)
                    return st;
            }
            continue;
        }
        return fail(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'",
                    p->pos);
    }
}

static enum mg_status
parse_value(struct parser *p, int *more)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of JSON", p->pos);
    uint8_t c = p->t[p->pos];
    uint32_t node;
    enum mg_status st;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        st = new_node(p, obj ? MG_JSON_OBJECT : MG_JSON_ARRAY, &node);
        if (st != MG_OK)
            return st;
        attach(p, node);
        st = push(p, node);
        if (st != MG_OK)
            return st;
        p->pos++;
        skip_ws(p);
        if (p->pos < p->len && p->t[p->pos] == (obj ? '}' : ']')) {
            p->pos++;
            p->depth--;
            return after_value(p, more);
        }
        if (obj) {
            st = parse_key(p);
            if (st != MG_OK)
                return st;
        }
        *more = 1;
        return MG_OK;
    }
    if (c == '"')
        st = parse_string(p, &node, 0);
    else if (c == '-' || is_digit(c))
        st = parse_number(p, &node);
    else
        st = parse_literal(p, &node);
    if (st != MG_OK)
        return st;
    attach(p, node);
    return after_value(p, more);
}

enum mg_status
mg_json_parse(struct mg_json_doc *d,
              const char *text,
              size_t len,
              const struct mg_json_opts *o)
{
    memset(d, 0, sizeof(*d));
    d->text = text;
    d->len = len;
    if (len > UINT32_MAX) {
        d->limit = "max-header-bytes";
        d->err = "JSON text larger than 4 GiB";
        return MG_E_LIMIT;
    }
    struct parser p = {.d = d, .o = o, .t = (const uint8_t *)text, .len = len};
    enum mg_status st;
    int more = 1;
    while (more) {
        st = parse_value(&p, &more);
        if (st != MG_OK)
            goto out;
    }
    skip_ws(&p);
    if (p.pos != p.len)
        st = fail(&p, "data after the JSON value", p.pos);
out:
    mg_free(p.stack);
    return st;
}

void
mg_json_free(struct mg_json_doc *d)
{
    mg_free(d->nodes);
    d->nodes = NULL;
    d->n = d->cap = 0;
}

uint32_t
mg_json_first(const struct mg_json_doc *d, uint32_t container)
{
    const struct mg_json_node *nd = &d->nodes[container];
    if ((nd->type != MG_JSON_ARRAY && nd->type != MG_JSON_OBJECT) ||
        nd->len == 0)
        return MG_JSON_NONE;
    return nd->a;
}

uint32_t
mg_json_next_key(const struct mg_json_doc *d, uint32_t k)
{
    uint32_t v = d->nodes[k].next;
    return v == MG_JSON_NONE ? MG_JSON_NONE : d->nodes[v].next;
}

uint32_t
mg_json_get(const struct mg_json_doc *d, uint32_t obj, const char *key)
{
    if (d->nodes[obj].type != MG_JSON_OBJECT)
        return MG_JSON_NONE;
    uint32_t found = MG_JSON_NONE;
    for (uint32_t k = mg_json_first(d, obj); k != MG_JSON_NONE;
         k = mg_json_next_key(d, k))
        if (mg_json_str_eq(d, k, key))
            found = mg_json_value(d, k);
    return found;
}

int
mg_json_u64(const struct mg_json_doc *d, uint32_t i, uint64_t *out)
{
    const struct mg_json_node *nd = &d->nodes[i];
    if (nd->type != MG_JSON_NUMBER || !(nd->flags & MG_JSON_F_INTEGER) ||
        (nd->flags & MG_JSON_F_NEG))
        return -1;
    uint64_t v = 0;
    for (uint32_t k = 0; k < nd->len; k++) {
        uint8_t c = (uint8_t)d->text[nd->a + k];
        if (ckd_mul_u64(&v, v, 10) || ckd_add_u64(&v, v, (uint64_t)(c - '0')))
            return -1;
    }
    *out = v;
    return 0;
}

/* --- Python's json.loads(bytes) decoding */

enum py_enc {
    ENC_UTF8,
    ENC_UTF16LE,
    ENC_UTF16BE,
    ENC_UTF32LE,
    ENC_UTF32BE
};

static enum mg_status
emit(uint8_t *o, size_t cap, size_t *n, unsigned long cp)
{
    uint8_t b[4];
    unsigned k = put_utf8(b, cp);
    if (cap - *n < k)
        return MG_E_LIMIT;
    memcpy(o + *n, b, k);
    *n += k;
    return MG_OK;
}

static enum mg_status
decode_wide(const uint8_t *b,
            size_t n,
            enum py_enc enc,
            size_t max_out,
            const char **out,
            size_t *outlen)
{
    unsigned w = (enc == ENC_UTF16LE || enc == ENC_UTF16BE) ? 2 : 4;
    int le = enc == ENC_UTF16LE || enc == ENC_UTF32LE;
    if (n % w != 0)
        return MG_E_MALFORMED;
    /* Each unit becomes at most 3 bytes (UTF-16) or 4 (UTF-32). */
    size_t cap;
    if (ckd_mul_size(&cap, n / w, w == 2 ? 3 : 4))
        return MG_E_LIMIT;
    if (cap > max_out)
        cap = max_out;
    uint8_t *o = mg_malloc(cap ? cap : 1);
    if (o == NULL)
        return MG_E_NOMEM;
    size_t k = 0;
    enum mg_status st = MG_OK;
    for (size_t i = 0; i < n && st == MG_OK; i += w) {
        unsigned long u;
        if (w == 2)
            u = le ? (unsigned long)(b[i] | (b[i + 1] << 8))
                   : (unsigned long)((b[i] << 8) | b[i + 1]);
        else
            u = le ? ((unsigned long)b[i] | ((unsigned long)b[i + 1] << 8) |
                      ((unsigned long)b[i + 2] << 16) |
                      ((unsigned long)b[i + 3] << 24))
                   : (((unsigned long)b[i] << 24) |
                      ((unsigned long)b[i + 1] << 16) |
                      ((unsigned long)b[i + 2] << 8) | (unsigned long)b[i + 3]);
        if (w == 2 && u >= 0xD800 && u <= 0xDBFF && n - i >= 4) {
            unsigned long lo = le ? (unsigned long)(b[i + 2] | (b[i + 3] << 8))
                                  : (unsigned long)((b[i + 2] << 8) | b[i + 3]);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            }
        }
        if (u > 0x10FFFF) {
            st = MG_E_MALFORMED;
            break;
        }
        st = emit(o, cap, &k, u);
    }
    if (st != MG_OK) {
        mg_free(o);
        return st;
    }
    *out = (const char *)o;
    *outlen = k;
    return MG_OK;
}

enum mg_status
mg_json_py_bytes(const uint8_t *b,
                 size_t n,
                 size_t max_out,
                 const char **out,
                 size_t *outlen,
                 int *owned)
{
    *owned = 0;
    enum py_enc enc = ENC_UTF8;
    size_t skip = 0;
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xFE && b[2] == 0 && b[3] == 0) {
        enc = ENC_UTF32LE;
        skip = 4;
    } else if (n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xFE &&
               b[3] == 0xFF) {
        enc = ENC_UTF32BE;
        skip = 4;
    } else if (n >= 2 && b[0] == 0xFF && b[1] == 0xFE) {
        enc = ENC_UTF16LE;
        skip = 2;
    } else if (n >= 2 && b[0] == 0xFE && b[1] == 0xFF) {
        enc = ENC_UTF16BE;
        skip = 2;
    } else if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
        skip = 3;
    } else if (n >= 4) {
        if (b[0] == 0)
            enc = b[1] ? ENC_UTF16BE : ENC_UTF32BE;
        else if (b[1] == 0)
            enc = (b[2] || b[3]) ? ENC_UTF16LE : ENC_UTF32LE;
    } else if (n == 2) {
        if (b[0] == 0)
            enc = ENC_UTF16BE;
        else if (b[1] == 0)
            enc = ENC_UTF16LE;
    }
    if (enc != ENC_UTF8) {
        enum mg_status st =
            decode_wide(b + skip, n - skip, enc, max_out, out, outlen);
        if (st == MG_OK)
            *owned = 1;
        return st;
    }
    b += skip;
    n -= skip;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(b, n, i, 1);
        if (k == 0)
            return MG_E_MALFORMED;
        i += k;
    }
    if (n > max_out)
        return MG_E_LIMIT;
    *out = (const char *)b;
    *outlen = n;
    return MG_OK;
}
