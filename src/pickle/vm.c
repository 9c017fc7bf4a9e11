/*
 * vm.c - decoder and symbolic machine for one pickle stream.
 *
 * Argument rules follow CPython's C unpickler (Modules/_pickle.c), which is
 * what pickle.load, torch.load and joblib.load run: text arguments are
 * lines ending in '\n' of at least one character; GLOBAL/INST names are
 * strict UTF-8; BINUNICODE is UTF-8 with surrogates allowed; STRING must be
 * quoted and is unescaped like a bytes literal; UNICODE is raw-unicode-
 * escape; INT tries strtol(base 0) then Python's int(); stack items below
 * the innermost MARK are out of reach of every opcode but POP.
 */
#include "pickle/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "io/ckd.h"
#include "io/reader.h"
#include "pickle/indicators.h"
#include "pickle/names.h"
#include "pickle/opcodes.h"

/* Internal return codes of the opcode handlers. */
enum rc {
    RC_OK = 0,
    RC_BREAK, /* CPython raises: stream ends, vm->why says why */
    RC_STOP,  /* STOP reached */
    RC_ERR    /* vm->err: NOMEM, LIMIT, IO or callback status */
};

#define HIGHEST_PROTOCOL 5
/* Longest text line (GLOBAL, INT, STRING...) held contiguously. */
#define MAX_LINE (64u << 20)

struct run {
    struct mg_pvm *vm;
    struct mg_stream *s;
    enum mg_status err;
    uint64_t op_off; /* offset of the opcode being run */
    uint8_t op;
    char arg[160]; /* disasm rendering of the argument */
};

static const struct mg_val v_none = {VK_NONE, {0}};

/* ------------------------------------------------------------------ */
/* errors */

__attribute__((format(printf, 2, 3))) static enum rc
brk(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->vm->why, sizeof(r->vm->why), fmt, ap);
    va_end(ap);
    return RC_BREAK;
}

static enum rc
fail(struct run *r, enum mg_status st, const char *limit_name)
{
    r->err = st;
    if (st == MG_E_LIMIT)
        r->vm->limit_name = limit_name;
    return RC_ERR;
}

static enum rc
emit(struct run *r, struct mg_pevent *ev)
{
    if (r->vm->cb == NULL)
        return RC_OK;
    enum mg_status st = r->vm->cb(r->vm->user, r->vm, ev);
    if (st != MG_OK)
        return fail(r, st, NULL);
    return RC_OK;
}

__attribute__((format(printf, 4, 5))) static enum rc
anomaly(
    struct run *r, const char *rule, enum mg_severity sev, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct mg_pevent ev = {.kind = PEV_ANOMALY,
                           .offset = r->op_off,
                           .opcode = r->op,
                           .rule = rule,
                           .sev = sev,
                           .msg = msg};
    return emit(r, &ev);
}

/* ------------------------------------------------------------------ */
/* allocation of values */

static void *
vm_alloc(struct run *r, size_t n)
{
    struct mg_pvm *vm = r->vm;
    if (++vm->nvalues > vm->lim->max_values) {
        fail(r, MG_E_LIMIT, "max-values");
        return NULL;
    }
    void *p = mg_arena_alloc(&vm->arena, n);
    if (p == NULL) {
        fail(r, vm->arena.capped ? MG_E_LIMIT : MG_E_NOMEM, "max-values");
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

static struct mg_str *
new_str(struct run *r,
        const void *p,
        size_t len,
        uint64_t full_len,
        uint64_t src_off)
{
    struct mg_pvm *vm = r->vm;
    if (++vm->nvalues > vm->lim->max_values) {
        fail(r, MG_E_LIMIT, "max-values");
        return NULL;
    }
    struct mg_str *s =
        mg_str_new(&vm->arena, p, len, full_len, src_off, MG_KEEP_STRING);
    if (s == NULL) {
        fail(r, vm->arena.capped ? MG_E_LIMIT : MG_E_NOMEM, "max-values");
        return NULL;
    }
    return s;
}

/* A static-lifetime string for names the machine makes up. */
static struct mg_str *
lit_str(struct run *r, const char *z)
{
    size_t n = strlen(z);
    return new_str(r, z, n, n, UINT64_MAX);
}

static struct mg_obj *
new_obj(struct run *r, enum mg_ok kind, size_t size)
{
    struct mg_obj *o = vm_alloc(r, size);
    if (o == NULL)
        return NULL;
    o->kind = (uint8_t)kind;
    o->offset = r->op_off;
    return o;
}

static enum rc
obj_add(struct run *r, struct mg_obj *o, const struct mg_val *v)
{
    if (o->count < UINT32_MAX)
        o->count++;
    /* Past half of the arena, containers stop keeping items: precision
       goes, memory stays bounded, and nothing is resolved from what was
       not kept. */
    if (o->nkept >= r->vm->keep_items ||
        (r->vm->arena.total > r->vm->arena.cap / 2 && o->nkept == o->cap)) {
        o->flags |= OBJ_TRUNC;
        return RC_OK;
    }
    if (o->nkept == o->cap) {
        uint32_t ncap = o->cap ? o->cap * 2 : 4;
        if (ncap > r->vm->keep_items)
            ncap = r->vm->keep_items;
        struct mg_val *ni =
            mg_arena_alloc(&r->vm->arena, (size_t)ncap * sizeof(*ni));
        if (ni == NULL)
            return fail(r, r->vm->arena.capped ? MG_E_LIMIT : MG_E_NOMEM,
                        "max-values");
        if (o->nkept)
            memcpy(ni, o->items, o->nkept * sizeof(*ni));
        o->items = ni;
        o->cap = ncap;
    }
    o->items[o->nkept++] = *v;
    return RC_OK;
}

/* Make room for n more kept items in one allocation (a container's size
   is known when its items are already on the stack). */
static enum rc
obj_reserve(struct run *r, struct mg_obj *o, size_t n)
{
    size_t want = (size_t)o->nkept + n;
    if (want > r->vm->keep_items)
        want = r->vm->keep_items;
    if (want <= o->cap || r->vm->arena.total > r->vm->arena.cap / 2)
        return RC_OK;
    struct mg_val *ni = mg_arena_alloc(&r->vm->arena, want * sizeof(*ni));
    if (ni == NULL)
        return fail(r, r->vm->arena.capped ? MG_E_LIMIT : MG_E_NOMEM,
                    "max-values");
    if (o->nkept)
        memcpy(ni, o->items, o->nkept * sizeof(*ni));
    o->items = ni;
    o->cap = (uint32_t)want;
    return RC_OK;
}

static struct mg_glob *
new_glob(struct run *r,
         const struct mg_str *module,
         const struct mg_str *name,
         enum mg_via via)
{
    struct mg_glob *g =
        (struct mg_glob *)new_obj(r, OK_GLOBAL, sizeof(struct mg_glob));
    if (g == NULL)
        return NULL;
    g->module = module;
    g->name = name;
    g->via = (uint8_t)via;
    if (name->len == 0)
        g->h.sem = SEM_MODULE;
    return g;
}

static inline struct mg_val
val_obj(void *o)
{
    struct mg_val v;
    v.kind = VK_OBJ;
    v.u.o = (struct mg_obj *)o;
    return v;
}

/* ------------------------------------------------------------------ */
/* stack, marks, memo */

static enum rc
push_slow(struct run *r, struct mg_val v)
{
    struct mg_pvm *vm = r->vm;
    if (vm->sp + vm->nmarks >= vm->lim->max_stack)
        return fail(r, MG_E_LIMIT, "max-stack");
    if (vm->sp == vm->scap) {
        size_t ncap = vm->scap ? vm->scap * 2 : 256;
        struct mg_val *ns = mg_reallocarray(vm->stack, ncap, sizeof(*ns));
        if (ns == NULL)
            return fail(r, MG_E_NOMEM, NULL);
        vm->stack = ns;
        vm->scap = ncap;
    }
    vm->stack[vm->sp++] = v;
    return RC_OK;
}

/* Room for one more value without growing or reaching max-stack? */
static inline int
push_room(const struct mg_pvm *vm)
{
    return vm->sp < vm->scap && vm->sp + vm->nmarks < vm->lim->max_stack;
}

static inline enum rc
push(struct run *r, struct mg_val v)
{
    struct mg_pvm *vm = r->vm;
    if (push_room(vm)) {
        vm->stack[vm->sp++] = v;
        return RC_OK;
    }
    return push_slow(r, v);
}

static inline size_t
fence(const struct mg_pvm *vm)
{
    return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
}

static enum rc
underflow(struct run *r)
{
    /* CPython's wording depends on whether a MARK is open. */
    return brk(r, r->vm->nmarks > 0 ? "unexpected MARK found"
                                    : "unpickling stack underflow");
}

static enum rc
pop(struct run *r, struct mg_val *out)
{
    struct mg_pvm *vm = r->vm;
    if (vm->sp <= fence(vm))
        return underflow(r);
    *out = vm->stack[--vm->sp];
    return RC_OK;
}

static enum rc
top(struct run *r, struct mg_val **out)
{
    struct mg_pvm *vm = r->vm;
    if (vm->sp <= fence(vm))
        return underflow(r);
    *out = &vm->stack[vm->sp - 1];
    return RC_OK;
}

static enum rc
push_mark(struct run *r)
{
    struct mg_pvm *vm = r->vm;
    if (vm->sp + vm->nmarks >= vm->lim->max_stack)
        return fail(r, MG_E_LIMIT, "max-stack");
    if (vm->nmarks == vm->mcap) {
        size_t ncap = vm->mcap ? vm->mcap * 2 : 64;
        size_t *nm = mg_reallocarray(vm->marks, ncap, sizeof(*nm));
        if (nm == NULL)
            return fail(r, MG_E_NOMEM, NULL);
        vm->marks = nm;
        vm->mcap = ncap;
    }
    vm->marks[vm->nmarks++] = vm->sp;
    return RC_OK;
}

static enum rc
marker(struct run *r, size_t *pos)
{
    struct mg_pvm *vm = r->vm;
    if (vm->nmarks == 0)
        return brk(r, "could not find MARK");
    *pos = vm->marks[--vm->nmarks];
    return RC_OK;
}

/* Items stack[from..sp) into a new container; pops them. */
static enum rc
pop_into(struct run *r, size_t from, enum mg_ok kind, struct mg_val *out)
{
    struct mg_pvm *vm = r->vm;
    struct mg_obj *o = new_obj(r, kind, sizeof(struct mg_obj));
    if (o == NULL)
        return RC_ERR;
    if (obj_reserve(r, o, vm->sp - from) != RC_OK)
        return RC_ERR;
    for (size_t i = from; i < vm->sp; i++)
        if (obj_add(r, o, &vm->stack[i]) != RC_OK)
            return RC_ERR;
    vm->sp = from;
    *out = val_obj(o);
    return RC_OK;
}

static inline uint64_t
memo_hash(uint64_t k)
{
    /* splitmix64's finaliser: every input bit reaches the low bits that
       index the table (keys chosen to collide would otherwise cluster). */
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebULL;
    k ^= k >> 31;
    return k;
}

static struct mg_memo_slot *
memo_find(struct mg_pvm *vm, uint64_t key)
{
    if (vm->memo_cap == 0)
        return NULL;
    size_t mask = vm->memo_cap - 1;
    size_t i = (size_t)memo_hash(key) & mask;
    for (;;) {
        struct mg_memo_slot *sl = &vm->memo[i];
        if (!sl->used)
            return NULL;
        if (sl->key == key)
            return sl;
        i = (i + 1) & mask;
    }
}

static const struct mg_val *
memo_lookup(struct mg_pvm *vm, uint64_t key)
{
    if (key < vm->dense_cap)
        return vm->dense[key].kind == VK_EMPTY ? NULL : &vm->dense[key];
    struct mg_memo_slot *sl = memo_find(vm, key);
    return sl ? &sl->val : NULL;
}

/* Grow the dense array to hold key when keys stay dense. */
static int
dense_fits(struct run *r, uint64_t key)
{
    struct mg_pvm *vm = r->vm;
    if (key < vm->dense_cap)
        return 1;
    /* Keys up to max_memo are dense when they arrive in order (MEMOIZE,
       BINPUT n+1); a jump past twice the current size goes to the hash. */
    uint64_t limit = vm->lim->max_memo < 1024 ? 1024 : vm->lim->max_memo;
    uint64_t want = vm->dense_cap ? vm->dense_cap * 2 : 1024;
    if (key >= want || key >= limit)
        return 0;
    if (want > limit)
        want = limit;
    struct mg_val *nd = mg_reallocarray(vm->dense, (size_t)want, sizeof(*nd));
    if (nd == NULL)
        return -1;
    for (size_t i = vm->dense_cap; i < want; i++)
        nd[i].kind = VK_EMPTY;
    vm->dense = nd;
    vm->dense_cap = (size_t)want;
    return 1;
}

static enum rc
memo_put(struct run *r, uint64_t key, const struct mg_val *v)
{
    struct mg_pvm *vm = r->vm;
    int fits = dense_fits(r, key);
    if (fits < 0)
        return fail(r, MG_E_NOMEM, NULL);
    if (fits) {
        if (vm->dense[key].kind == VK_EMPTY) {
            if (vm->memo_len >= vm->lim->max_memo)
                return fail(r, MG_E_LIMIT, "max-memo");
            vm->memo_len++;
        }
        vm->dense[key] = *v;
        return RC_OK;
    }
    struct mg_memo_slot *sl = memo_find(vm, key);
    if (sl != NULL) {
        sl->val = *v;
        return RC_OK;
    }
    if (vm->memo_len >= vm->lim->max_memo)
        return fail(r, MG_E_LIMIT, "max-memo");
    if ((vm->memo_hashed + 1) * 2 > vm->memo_cap) {
        size_t ncap = vm->memo_cap ? vm->memo_cap * 2 : 64;
        struct mg_memo_slot *nm = mg_calloc(ncap, sizeof(*nm));
        if (nm == NULL)
            return fail(r, MG_E_NOMEM, NULL);
        for (size_t i = 0; i < vm->memo_cap; i++) {
            if (!vm->memo[i].used)
                continue;
            size_t j = (size_t)memo_hash(vm->memo[i].key) & (ncap - 1);
            while (nm[j].used)
                j = (j + 1) & (ncap - 1);
            nm[j] = vm->memo[i];
        }
        mg_free(vm->memo);
        vm->memo = nm;
        vm->memo_cap = ncap;
    }
    size_t mask = vm->memo_cap - 1;
    size_t i = (size_t)memo_hash(key) & mask;
    while (vm->memo[i].used)
        i = (i + 1) & mask;
    vm->memo[i].used = 1;
    vm->memo[i].key = key;
    vm->memo[i].val = *v;
    vm->memo_hashed++;
    vm->memo_len++;
    return RC_OK;
}

static enum rc
memo_get(struct run *r, uint64_t key)
{
    const struct mg_val *v = memo_lookup(r->vm, key);
    if (v == NULL)
        return brk(r, "Memo value not found at index %" PRIu64, key);
    return push(r, *v);
}

/* ------------------------------------------------------------------ */
/* reading arguments */

static enum rc
need_slow(struct run *r, size_t n, const uint8_t **p)
{
    enum mg_status st = mg_stream_need(r->s, n, p, NULL);
    if (st == MG_OK)
        return RC_OK;
    if (st == MG_E_TRUNCATED)
        return brk(r, "pickle data was truncated");
    if (st == MG_E_LIMIT)
        return fail(r, MG_E_LIMIT, "max-string");
    return fail(r, st, NULL);
}

/* Make n bytes available and point *p at them; breaks on truncation. */
static inline enum rc
need(struct run *r, size_t n, const uint8_t **p)
{
    if (mg_stream_have(r->s, n)) {
        *p = mg_stream_ptr(r->s);
        return RC_OK;
    }
    return need_slow(r, n, p);
}

static enum rc
line_error(struct run *r, enum mg_status st)
{
    if (st == MG_E_TRUNCATED)
        return brk(r, "pickle data was truncated");
    if (st == MG_E_LIMIT)
        return fail(r, MG_E_LIMIT, "max-string");
    return fail(r, st, NULL);
}

/* One text line: *p, *len exclude the '\n'; advances past it. */
static enum rc
read_line(struct run *r, const uint8_t **p, size_t *len)
{
    size_t n;
    enum mg_status st = mg_stream_find(r->s, '\n', MAX_LINE, &n);
    if (st != MG_OK)
        return line_error(r, st);
    if (n == 0)
        return brk(r, "pickle data was truncated");
    *p = mg_stream_ptr(r->s);
    *len = n;
    mg_stream_advance(r->s, n + 1);
    return RC_OK;
}

/* Two text lines (GLOBAL, INST), both in the window at once: finding the
   second may refill it, which moves the first. */
static enum rc
read_two_lines(struct run *r,
               const uint8_t **a,
               size_t *alen,
               const uint8_t **b,
               size_t *blen)
{
    size_t n1, end;
    enum mg_status st = mg_stream_find(r->s, '\n', MAX_LINE, &n1);
    if (st == MG_OK && n1 > 0)
        st = mg_stream_find_from(r->s, n1 + 1, '\n', MAX_LINE, &end);
    if (st != MG_OK)
        return line_error(r, st);
    if (n1 == 0 || end == n1 + 1)
        return brk(r, "pickle data was truncated");
    *a = mg_stream_ptr(r->s);
    *alen = n1;
    *b = *a + n1 + 1;
    *blen = end - n1 - 1;
    mg_stream_advance(r->s, end + 1);
    return RC_OK;
}

static size_t
utf8_seq(const uint8_t *p, size_t n, int surrogates)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0) {
        return (n >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
    }
    if (c < 0xf0) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && p[1] < 0xa0)
            return 0;
        if (c == 0xed && p[1] >= 0xa0 && !surrogates)
            return 0;
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && p[1] < 0x90)
            return 0;
        if (c == 0xf4 && p[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

/* Valid UTF-8? *partial receives the length of an incomplete sequence at
   the very end (0 when the text ends on a boundary). */
static int
utf8_valid(const uint8_t *p, size_t n, int surrogates, size_t *partial)
{
    size_t i = 0;
    *partial = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i, surrogates);
        if (k == 0) {
            /* Incomplete at the end? Check what we have is a prefix. */
            size_t left = n - i;
            uint8_t c = p[i];
            size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            if (want > left && c < 0xf5) {
                int ok = 1;
                for (size_t j = 1; j < left; j++)
                    if ((p[i + j] & 0xc0) != 0x80)
                        ok = 0;
                if (ok) {
                    *partial = left;
                    return 1;
                }
            }
            return 0;
        }
        i += k;
    }
    return 1;
}

/* Report a decoded string that holds indicators; ev.msg is the scanned
   text (longer than the kept prefix for long strings), its length is in
   vm->ev_text_len. */
static enum rc
str_event(struct run *r, const struct mg_str *s, const char *text, size_t len)
{
    struct mg_pevent ev = {.kind = PEV_STRING,
                           .offset = r->op_off,
                           .opcode = r->op,
                           .str = s,
                           .msg = text};
    r->vm->ev_text_len = len;
    return emit(r, &ev);
}

/*
 * A length-prefixed string or bytes payload of n bytes: keeps a prefix,
 * checks UTF-8 when utf8 is set (the whole payload, in window-sized
 * steps), and skips the rest.
 */
static enum rc
read_payload(struct run *r,
             uint64_t n,
             enum mg_vk kind,
             int utf8,
             uint16_t extra_flags,
             struct mg_val *out)
{
    struct mg_pvm *vm = r->vm;
    if (n > vm->lim->max_string)
        return fail(r, MG_E_LIMIT, "max-string");
    uint64_t src = mg_stream_tell(r->s);
    const uint8_t *p;
    /* Text is searched for indicators over its first MiB; bytes (tensor
       data in-band) over their first 64 KiB. */
    size_t scan = kind == VK_BYTES ? MG_INDICATOR_SCAN_BYTES / 16
                                   : MG_INDICATOR_SCAN_BYTES;
    size_t first = n < scan ? (size_t)n : scan;
    /* Stream-backed input: at most one window at a time. */
    enum rc rc = need(r, first, &p);
    if (rc != RC_OK)
        return rc;
    size_t partial = 0;
    if (utf8 && !utf8_valid(p, first, 1, &partial))
        return brk(r, "'utf-8' codec can't decode the %s argument",
                   mg_opcodes[r->op].name);
    if (partial && first == n)
        return brk(r, "'utf-8' codec can't decode the %s argument",
                   mg_opcodes[r->op].name);
    uint16_t ind = mg_ind_classify((const char *)p, first);
    struct mg_str *s = new_str(r, p, first, n, src);
    if (s == NULL)
        return RC_ERR;
    s->ind = ind;
    s->flags |= extra_flags;
    if (vm->want_opcodes)
        mg_str_repr(s, kind == VK_BYTES, r->arg, sizeof(r->arg));
    if (ind != 0 && str_event(r, s, (const char *)p, first) != RC_OK)
        return RC_ERR;
    mg_stream_advance(r->s, first - partial);
    uint64_t left = n - (first - partial);
    while (left > 0) {
        size_t step = left < MG_INDICATOR_SCAN_BYTES ? (size_t)left
                                                     : MG_INDICATOR_SCAN_BYTES;
        if (!utf8) {
            uint64_t skipped = 0;
            enum mg_status st = mg_stream_skip(r->s, left, &skipped);
            if (st == MG_E_TRUNCATED)
                return brk(r, "pickle data was truncated");
            if (st != MG_OK)
                return fail(r, st, NULL);
            break;
        }
        rc = need(r, step, &p);
        if (rc != RC_OK)
            return rc;
        if (!utf8_valid(p, step, 1, &partial) || (partial && step == left))
            return brk(r, "'utf-8' codec can't decode the %s argument",
                       mg_opcodes[r->op].name);
        if (step == partial) /* cannot happen: a window > 4 bytes */
            return brk(r, "'utf-8' codec can't decode the %s argument",
                       mg_opcodes[r->op].name);
        mg_stream_advance(r->s, step - partial);
        left -= step - partial;
    }
    out->kind = (uint8_t)kind;
    out->u.s = s;
    return RC_OK;
}

/* --- numbers in text form --- */

static int
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int
digit_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

/*
 * Python's int(s, 0) (PyLong_FromString with base 0): optional
 * whitespace, sign, 0x/0o/0b prefixes, single underscores between digits,
 * no leading zeros in a non-zero decimal, trailing whitespace.
 * Returns 0 when invalid; 1 with *v for int64; 2 for a bigger int.
 */
static int
parse_pyint(const uint8_t *s, size_t n, int base_in, int64_t *v, int *neg)
{
    size_t i = 0;
    int base = base_in;
    while (i < n && is_space(s[i]))
        i++;
    *neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        *neg = s[i] == '-';
        i++;
    }
    size_t start = i;
    if (base == 0) {
        if (i + 1 < n && s[i] == '0' &&
            (s[i + 1] == 'x' || s[i + 1] == 'X' || s[i + 1] == 'o' ||
             s[i + 1] == 'O' || s[i + 1] == 'b' || s[i + 1] == 'B')) {
            uint8_t c = s[i + 1] | 0x20;
            base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
            i += 2;
            if (i < n && s[i] == '_')
                i++;
        } else {
            base = 10;
        }
    }
    size_t digits = 0;
    int big = 0;
    uint64_t acc = 0;
    int prev_us = 0;
    int nonzero = 0;
    size_t first_digit = i;
    while (i < n) {
        if (s[i] == '_') {
            if (prev_us || digits == 0)
                return 0;
            prev_us = 1;
            i++;
            continue;
        }
        int d = digit_val(s[i]);
        if (d >= base)
            break;
        prev_us = 0;
        if (d != 0)
            nonzero = 1;
        if (!big) {
            if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
                big = 1;
            else
                acc = acc * (uint64_t)base + (uint64_t)d;
        }
        digits++;
        i++;
    }
    if (digits == 0 || prev_us)
        return 0;
    /* "010" is not a Python literal; "00" is. */
    if (base_in == 0 && base == 10 && s[first_digit] == '0' && nonzero)
        return 0;
    (void)start;
    while (i < n && is_space(s[i]))
        i++;
    if (i != n)
        return 0;
    if (big || acc > (uint64_t)INT64_MAX + (*neg ? 1u : 0u))
        return 2;
    *v = *neg ? (int64_t)(0 - acc) : (int64_t)acc;
    return 1;
}

/*
 * C strtol(s, &end, 0) on the line: *end must land on the end of the
 * line. Returns 1 when it does without overflow.
 */
static int
parse_strtol(const uint8_t *s, size_t n, int64_t *v)
{
    char buf[64];
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 0);
    if (errno != 0 || (*end != '\n' && *end != '\0'))
        return 0;
    *v = (int64_t)x;
    return 1;
}

static enum rc
push_int_text(struct run *r, const uint8_t *p, size_t len, int is_long)
{
    struct mg_val v = v_none;
    int64_t x;
    int neg;
    if (is_long) {
        /* A trailing 'L' is dropped (Python 2 longs); so is the newline. */
        if (len >= 2 && p[len - 2] == 'L')
            len -= 2;
        int k = parse_pyint(p, len, 0, &x, &neg);
        if (k == 0)
            return brk(r, "invalid literal for int() with base 0");
        v.kind = k == 1 ? VK_INT : VK_BIGINT;
        v.u.i = k == 1 ? x : (neg ? -1 : 1);
        mg_val_render(&v, r->arg, sizeof(r->arg), 1);
        return push(r, v);
    }
    if (parse_strtol(p, len, &x)) {
        if (len == 3 && (x == 0 || x == 1)) {
            v.kind = VK_BOOL;
            v.u.i = x;
            snprintf(r->arg, sizeof(r->arg), "%s", x ? "True" : "False");
            return push(r, v);
        }
        v.kind = VK_INT;
        v.u.i = x;
        snprintf(r->arg, sizeof(r->arg), "%" PRId64, x);
        return push(r, v);
    }
    int k = parse_pyint(p, len, 0, &x, &neg);
    if (k == 0)
        return brk(r, "invalid literal for int() with base 0");
    v.kind = k == 1 ? VK_INT : VK_BIGINT;
    v.u.i = k == 1 ? x : (neg ? -1 : 1);
    mg_val_render(&v, r->arg, sizeof(r->arg), 1);
    return push(r, v);
}

/* Python float(repr) as PyOS_string_to_double: no surrounding spaces, no
   hex, overflow is an error. */
static enum rc
push_float_text(struct run *r, const uint8_t *p, size_t len)
{
    char buf[400];
    if (len == 0 || len >= sizeof(buf) || is_space(p[0]))
        return brk(r, "could not convert string to float");
    memcpy(buf, p, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)buf[i];
        if (c == 'x' || c == 'X' || c == 'p' || c == 'P' || c == '(' ||
            c == '\0')
            return brk(r, "could not convert string to float");
    }
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end != '\0')
        return brk(r, "could not convert string to float");
    if (errno == ERANGE && isinf(d))
        return brk(r, "float too large to pack");
    struct mg_val v;
    v.kind = VK_FLOAT;
    v.u.f = d;
    snprintf(r->arg, sizeof(r->arg), "%.17g", d);
    return push(r, v);
}

static uint64_t
long_le(const uint8_t *p, size_t n, int *big, int *neg)
{
    *big = 0;
    *neg = n > 0 && (p[n - 1] & 0x80);
    if (n > 8) {
        /* Fits when the high bytes are pure sign extension. */
        uint8_t ext = *neg ? 0xff : 0x00;
        for (size_t i = 8; i < n; i++)
            if (p[i] != ext)
                *big = 1;
        if (!*big && (((p[7] & 0x80) != 0) != *neg))
            *big = 1;
        n = 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    if (*neg && n < 8)
        v |= ~(uint64_t)0 << (8 * n);
    return v;
}

static enum rc
push_long_bin(struct run *r, uint64_t n)
{
    const uint8_t *p;
    if (n > r->vm->lim->max_string)
        return fail(r, MG_E_LIMIT, "max-string");
    if (n > 64) {
        /* Value is far beyond int64: only its sign matters to us. */
        uint64_t skipped;
        if (n <= MG_STREAM_WINDOW) {
            enum rc rc = need(r, (size_t)n, &p);
            if (rc != RC_OK)
                return rc;
            int neg = (p[n - 1] & 0x80) != 0;
            mg_stream_advance(r->s, (size_t)n);
            struct mg_val v = {VK_BIGINT, {.i = neg ? -1 : 1}};
            snprintf(r->arg, sizeof(r->arg), "<%" PRIu64 "-byte int>", n);
            return push(r, v);
        }
        enum mg_status st = mg_stream_skip(r->s, n, &skipped);
        if (st == MG_E_TRUNCATED)
            return brk(r, "pickle data was truncated");
        if (st != MG_OK)
            return fail(r, st, NULL);
        struct mg_val v = {VK_BIGINT, {.i = 1}};
        snprintf(r->arg, sizeof(r->arg), "<%" PRIu64 "-byte int>", n);
        return push(r, v);
    }
    enum rc rc = need(r, (size_t)n, &p);
    if (rc != RC_OK)
        return rc;
    int big, neg;
    uint64_t x = long_le(p, (size_t)n, &big, &neg);
    mg_stream_advance(r->s, (size_t)n);
    struct mg_val v;
    if (big) {
        v.kind = VK_BIGINT;
        v.u.i = neg ? -1 : 1;
        snprintf(r->arg, sizeof(r->arg), "<big int>");
    } else {
        v.kind = VK_INT;
        v.u.i = (int64_t)x;
        snprintf(r->arg, sizeof(r->arg), "%" PRId64, (int64_t)x);
    }
    return push(r, v);
}

/* --- escaped text --- */

static int
hexval(uint8_t c)
{
    int d = digit_val(c);
    return d < 16 ? d : -1;
}

/* Append code point cp as UTF-8 (surrogates allowed, as Python str). */
static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * Decodes into a scratch buffer that the caller sized: STRING (bytes
 * escapes, PyBytes_DecodeEscape) into at most len bytes; UNICODE
 * (raw-unicode-escape: only \uXXXX and \UXXXXXXXX; other bytes are
 * Latin-1) into at most 2*len bytes. Returns decoded length or -1.
 */
static long
decode_string_escapes(const uint8_t *s, size_t n, uint8_t *o)
{
    size_t i = 0, k = 0;
    while (i < n) {
        uint8_t c = s[i++];
        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        if (i >= n)
            return -1; /* "Trailing \ in string" */
        c = s[i++];
        switch (c) {
        case '\n':
            break;
        case '\\':
        case '\'':
        case '"':
            o[k++] = c;
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\014';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 'v':
            o[k++] = '\013';
            break;
        case 'a':
            o[k++] = '\007';
            break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
            unsigned v = (unsigned)(c - '0');
            if (i < n && s[i] >= '0' && s[i] <= '7') {
                v = v * 8 + (unsigned)(s[i++] - '0');
                if (i < n && s[i] >= '0' && s[i] <= '7')
                    v = v * 8 + (unsigned)(s[i++] - '0');
            }
            o[k++] = (uint8_t)(v & 0xff);
            break;
        }
        case 'x': {
            if (i + 2 > n)
                return -1;
            int h1 = hexval(s[i]), h2 = hexval(s[i + 1]);
            if (h1 < 0 || h2 < 0)
                return -1; /* "invalid \x escape" */
            o[k++] = (uint8_t)(h1 * 16 + h2);
            i += 2;
            break;
        }
        default:
            /* Unknown escapes are kept as they are. */
            o[k++] = '\\';
            o[k++] = c;
            break;
        }
    }
    return (long)k;
}

static long
decode_raw_unicode_escape(const uint8_t *s, size_t n, uint8_t *o)
{
    size_t i = 0, k = 0;
    while (i < n) {
        uint8_t c = s[i++];
        if (c != '\\') {
            k += put_utf8(o + k, c); /* Latin-1 byte -> code point */
            continue;
        }
        if (i >= n) {
            o[k++] = '\\';
            break;
        }
        c = s[i++];
        int count = c == 'u' ? 4 : c == 'U' ? 8 : 0;
        if (count == 0) {
            o[k++] = '\\';
            k += put_utf8(o + k, c);
            continue;
        }
        uint32_t cp = 0;
        for (int j = 0; j < count; j++) {
            if (i >= n)
                return -1; /* truncated \uXXXX */
            int h = hexval(s[i++]);
            if (h < 0)
                return -1;
            cp = cp * 16 + (uint32_t)h;
        }
        if (cp > 0x10ffff)
            return -1; /* \Uxxxxxxxx out of range */
        k += put_utf8(o + k, cp);
    }
    return (long)k;
}

/* Decode text through a temporary buffer and push it. */
static enum rc
push_text(
    struct run *r, const uint8_t *p, size_t len, int unicode, uint64_t src)
{
    struct mg_pvm *vm = r->vm;
    /* Only the kept prefix needs decoding for the value, but validity of
       the whole line decides whether CPython raises. */
    size_t cap = unicode ? len * 2 + 8 : len + 8;
    uint8_t small[1024];
    uint8_t *buf = cap <= sizeof(small) ? small : mg_malloc(cap);
    if (buf == NULL)
        return fail(r, MG_E_NOMEM, NULL);
    long k = unicode ? decode_raw_unicode_escape(p, len, buf)
                     : decode_string_escapes(p, len, buf);
    enum rc rc = RC_OK;
    if (k < 0) {
        rc = brk(r, unicode ? "'rawunicodeescape' codec can't decode bytes"
                            : "invalid escape in STRING argument");
        goto out;
    }
    struct mg_str *s = new_str(r, buf, (size_t)k, (uint64_t)k, src);
    if (s == NULL) {
        rc = RC_ERR;
        goto out;
    }
    s->ind =
        mg_ind_classify((const char *)buf, (size_t)k < MG_INDICATOR_SCAN_BYTES
                                               ? (size_t)k
                                               : MG_INDICATOR_SCAN_BYTES);
    if (vm->want_opcodes)
        mg_str_repr(s, 0, r->arg, sizeof(r->arg));
    if (s->ind != 0 && str_event(r, s, (const char *)buf,
                                 (size_t)k < MG_INDICATOR_SCAN_BYTES
                                     ? (size_t)k
                                     : MG_INDICATOR_SCAN_BYTES) != RC_OK) {
        rc = RC_ERR;
        goto out;
    }
    struct mg_val v;
    v.kind = VK_STR;
    v.u.s = s;
    rc = push(r, v);
out:
    if (buf != small)
        mg_free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* globals and calls */

static int
str_is(const struct mg_str *s, const char *z)
{
    size_t n = strlen(z);
    return mg_str_exact(s) && s->len == n && memcmp(s->data, z, n) == 0;
}

static int
glob_is(const struct mg_glob *g, const char *mod, const char *name)
{
    return str_is(g->module, mod) && str_is(g->name, name);
}

static const struct mg_override *
find_override(const struct mg_pvm *vm,
              const struct mg_str *mod,
              const char *qual,
              size_t qlen)
{
    for (const struct mg_override *o = vm->overrides; o != NULL; o = o->next) {
        size_t ml = mod->len;
        if (strlen(o->qualname) == ml + 1 + qlen &&
            memcmp(o->qualname, mod->data, ml) == 0 && o->qualname[ml] == '.' &&
            memcmp(o->qualname + ml + 1, qual, qlen) == 0)
            return o;
    }
    return NULL;
}

/* Emit the event for a global and push it (or what BUILD put there). */
static enum rc
global_event(struct run *r, struct mg_glob *g)
{
    r->vm->globals++;
    struct mg_pevent ev = {
        .kind = PEV_GLOBAL, .offset = r->op_off, .opcode = r->op, .glob = g};
    return emit(r, &ev);
}

static enum rc
make_global(struct run *r,
            const char *mod,
            size_t modlen,
            const char *name,
            size_t namelen,
            enum mg_via via,
            struct mg_val *out)
{
    struct mg_pvm *vm = r->vm;
    const char *m2, *n2;
    if (vm->proto < 3) {
        int k = mg_compat_map(mod, modlen, name, namelen, &m2, &n2);
        if (k >= 1) {
            mod = m2;
            modlen = strlen(m2);
        }
        if (k == 2) {
            name = n2;
            namelen = strlen(n2);
        }
    }
    struct mg_str *ms = new_str(r, mod, modlen, modlen, UINT64_MAX);
    struct mg_str *ns =
        ms ? new_str(r, name, namelen, namelen, UINT64_MAX) : NULL;
    if (ns == NULL)
        return RC_ERR;
    struct mg_glob *g = new_glob(r, ms, ns, via);
    if (g == NULL)
        return RC_ERR;
    enum rc rc = global_event(r, g);
    if (rc != RC_OK)
        return rc;
    /* An attribute that BUILD set earlier replaces the real one. */
    const struct mg_override *ov = find_override(vm, ms, name, namelen);
    if (ov != NULL && ov->str != NULL) {
        size_t n = strlen(ov->str);
        struct mg_str *s = new_str(r, ov->str, n, n, UINT64_MAX);
        if (s == NULL)
            return RC_ERR;
        out->kind = VK_STR;
        out->u.s = s;
        return anomaly(r, "pickle-build-global", MG_SEV_SUSPICIOUS,
                       "%.*s.%.*s resolves to a string set earlier by BUILD",
                       (int)modlen, mod, (int)namelen, name);
    }
    *out = val_obj(g);
    return RC_OK;
}

/* A derived global: `base` (module or global) + "." + attr. */
static enum rc
derive_glob(struct run *r,
            const struct mg_str *module,
            const char *prefix,
            size_t plen,
            const char *attr,
            size_t alen,
            enum mg_via via,
            struct mg_val *out)
{
    size_t qlen = plen ? plen + 1 + alen : alen;
    char small[512];
    char *q = qlen < sizeof(small) ? small : mg_malloc(qlen + 1);
    if (q == NULL)
        return fail(r, MG_E_NOMEM, NULL);
    if (plen) {
        memcpy(q, prefix, plen);
        q[plen] = '.';
        memcpy(q + plen + 1, attr, alen);
    } else {
        memcpy(q, attr, alen);
    }
    q[qlen] = '\0';
    enum rc rc = RC_OK;
    const struct mg_override *ov = find_override(r->vm, module, q, qlen);
    if (ov != NULL && ov->str != NULL) {
        size_t n = strlen(ov->str);
        struct mg_str *s = new_str(r, ov->str, n, n, UINT64_MAX);
        if (s == NULL) {
            rc = RC_ERR;
            goto out;
        }
        out->kind = VK_STR;
        out->u.s = s;
        goto out;
    }
    struct mg_str *ns = new_str(r, q, qlen, qlen, UINT64_MAX);
    struct mg_glob *g = ns ? new_glob(r, module, ns, via) : NULL;
    if (g == NULL) {
        rc = RC_ERR;
        goto out;
    }
    rc = global_event(r, g);
    *out = val_obj(g);
out:
    if (q != small)
        mg_free(q);
    return rc;
}

/* The global a value is an instance or result of, if known. */
static struct mg_glob *
origin_glob(const struct mg_val *v, unsigned depth)
{
    if (v->kind != VK_OBJ || depth == 0)
        return NULL;
    struct mg_obj *o = v->u.o;
    if (o->kind == OK_GLOBAL)
        return (struct mg_glob *)o;
    if (o->kind == OK_CALL)
        return origin_glob(&((struct mg_call *)o)->callee, depth - 1);
    return NULL;
}

/* Is v certainly not a str at runtime? */
static int
certainly_not_str(const struct mg_val *v)
{
    if (v->kind == VK_STR)
        return 0;
    if (v->kind != VK_OBJ)
        return 1;
    return mg_val_type_name(v) != NULL || v->u.o->kind == OK_BUFFER;
}

static int
certainly_not_tuple(const struct mg_val *v)
{
    if (v->kind != VK_OBJ)
        return 1;
    if (v->u.o->kind == OK_TUPLE)
        return 0;
    return mg_val_type_name(v) != NULL || v->u.o->kind == OK_BUFFER;
}

static int
certainly_not_callable(const struct mg_val *v)
{
    if (v->kind != VK_OBJ)
        return 1;
    return mg_val_type_name(v) != NULL || v->u.o->kind == OK_BUFFER;
}

static enum rc
unknown_value(struct run *r, struct mg_val *out)
{
    struct mg_obj *o = new_obj(r, OK_UNKNOWN, sizeof(struct mg_obj));
    if (o == NULL)
        return RC_ERR;
    *out = val_obj(o);
    return RC_OK;
}

/* getattr(obj, attr) */
static enum rc
get_attr(struct run *r,
         const struct mg_val *obj,
         const struct mg_str *attr,
         struct mg_val *out)
{
    if (!mg_str_exact(attr)) {
        enum rc rc = anomaly(r, "pickle-dynamic-global", MG_SEV_SUSPICIOUS,
                             "attribute name is not a constant string");
        return rc != RC_OK ? rc : unknown_value(r, out);
    }
    struct mg_glob *g = NULL;
    if (obj->kind == VK_OBJ && obj->u.o->kind == OK_GLOBAL) {
        g = (struct mg_glob *)obj->u.o;
        return derive_glob(r, g->module, g->name->data, g->name->len,
                           attr->data, attr->len, VIA_GETATTR, out);
    }
    if (obj->kind == VK_OBJ && obj->u.o->kind == OK_CALL &&
        (g = origin_glob(obj, 32)) != NULL) {
        return derive_glob(r, g->module, g->name->data, g->name->len,
                           attr->data, attr->len, VIA_INSTANCE, out);
    }
    const char *tn = mg_val_type_name(obj);
    if (tn != NULL) {
        struct mg_str *b = lit_str(r, "builtins");
        if (b == NULL)
            return RC_ERR;
        return derive_glob(r, b, tn, strlen(tn), attr->data, attr->len,
                           VIA_INSTANCE, out);
    }
    /* Unknown object: keep the attribute name visible to the policy. */
    struct mg_str *u = lit_str(r, "<unknown>");
    if (u == NULL)
        return RC_ERR;
    return derive_glob(r, u, "", 0, attr->data, attr->len, VIA_INSTANCE, out);
}

/* Attribute path "a.b.c" (attrgetter) applied to obj. */
static enum rc
get_attr_path(struct run *r,
              const struct mg_val *obj,
              const struct mg_str *path,
              struct mg_val *out)
{
    if (!mg_str_exact(path))
        return get_attr(r, obj, path, out);
    struct mg_val cur = *obj;
    const char *p = path->data;
    size_t left = path->len;
    for (;;) {
        const char *dot = memchr(p, '.', left);
        size_t n = dot ? (size_t)(dot - p) : left;
        struct mg_str *part = new_str(r, p, n, n, UINT64_MAX);
        if (part == NULL)
            return RC_ERR;
        struct mg_val next;
        enum rc rc = get_attr(r, &cur, part, &next);
        if (rc != RC_OK)
            return rc;
        cur = next;
        if (dot == NULL)
            break;
        p = dot + 1;
        left -= n + 1;
    }
    *out = cur;
    return RC_OK;
}

static const struct mg_val *
arg_at(const struct mg_val *args, uint32_t i)
{
    const struct mg_obj *t = mg_val_obj(args, OK_TUPLE);
    if (t == NULL || i >= t->nkept)
        return NULL;
    return &t->items[i];
}

static uint64_t
arg_count(const struct mg_val *args)
{
    const struct mg_obj *t = mg_val_obj(args, OK_TUPLE);
    return t ? t->count : 0;
}

static int
const_equal(const struct mg_val *a, const struct mg_val *b)
{
    if (a->kind != b->kind)
        return 0;
    switch ((enum mg_vk)a->kind) {
    case VK_NONE:
        return 1;
    case VK_BOOL:
    case VK_INT:
        return a->u.i == b->u.i;
    case VK_STR:
    case VK_BYTES:
        return mg_str_exact(a->u.s) && mg_str_exact(b->u.s) &&
               a->u.s->len == b->u.s->len &&
               memcmp(a->u.s->data, b->u.s->data, a->u.s->len) == 0;
    case VK_BIGINT:
    case VK_FLOAT:
    case VK_OBJ:
    case VK_EMPTY:
    default:
        return 0;
    }
}

/* obj[key] */
static enum rc
get_item(struct run *r,
         const struct mg_val *obj,
         const struct mg_val *key,
         struct mg_val *out)
{
    struct mg_glob *g = NULL;
    if (obj->kind == VK_OBJ) {
        struct mg_obj *o = obj->u.o;
        if (o->kind == OK_DICT ||
            (o->kind == OK_CALL && o->sem == SEM_INSTANCE)) {
            for (uint32_t i = 0; i + 1 < o->nkept; i += 2)
                if (const_equal(&o->items[i], key)) {
                    *out = o->items[i + 1];
                    return RC_OK;
                }
        }
        if ((o->kind == OK_LIST || o->kind == OK_TUPLE) &&
            key->kind == VK_INT && key->u.i >= 0 &&
            (uint64_t)key->u.i < o->nkept) {
            *out = o->items[key->u.i];
            return RC_OK;
        }
        if (o->kind == OK_GLOBAL)
            g = (struct mg_glob *)o;
        if (g != NULL && key->kind == VK_STR && mg_str_exact(key->u.s)) {
            /* module.__dict__['x'] and Class.__dict__['x'] */
            const struct mg_str *n = g->name;
            size_t pl = 0;
            if (str_is(n, "__dict__"))
                pl = 0;
            else if (n->len > 9 &&
                     memcmp(n->data + n->len - 9, ".__dict__", 9) == 0)
                pl = n->len - 9;
            else
                goto generic;
            return derive_glob(r, g->module, n->data, pl, key->u.s->data,
                               key->u.s->len, VIA_ITEM, out);
        }
        if (o->sem == SEM_GLOBALS_DICT && key->kind == VK_STR &&
            mg_str_exact(key->u.s)) {
            struct mg_str *u = lit_str(r, "<globals>");
            if (u == NULL)
                return RC_ERR;
            return derive_glob(r, u, "", 0, key->u.s->data, key->u.s->len,
                               VIA_ITEM, out);
        }
    }
generic:
    return unknown_value(r, out);
}

static enum rc do_call(struct run *r,
                       uint8_t how,
                       const struct mg_val *callee,
                       const struct mg_val *args,
                       const struct mg_val *kwargs,
                       unsigned depth,
                       struct mg_val *out);

/* A tuple of items[from..] of another tuple followed by more. */
static enum rc
concat_args(struct run *r,
            const struct mg_val *a,
            uint32_t from,
            const struct mg_val *b,
            struct mg_val *out)
{
    struct mg_obj *t = new_obj(r, OK_TUPLE, sizeof(struct mg_obj));
    if (t == NULL)
        return RC_ERR;
    const struct mg_obj *ta = mg_val_obj(a, OK_TUPLE);
    const struct mg_obj *tb = b != NULL ? mg_val_obj(b, OK_TUPLE) : NULL;
    for (uint32_t i = from; ta != NULL && i < ta->nkept; i++)
        if (obj_add(r, t, &ta->items[i]) != RC_OK)
            return RC_ERR;
    for (uint32_t i = 0; tb != NULL && i < tb->nkept; i++)
        if (obj_add(r, t, &tb->items[i]) != RC_OK)
            return RC_ERR;
    if ((ta && (ta->flags & OBJ_TRUNC)) || (tb && (tb->flags & OBJ_TRUNC)))
        t->flags |= OBJ_TRUNC;
    *out = val_obj(t);
    return RC_OK;
}

/* What calling a known function yields (getattr, __import__, ...).
 *done = 0 when the function has no special meaning. */
static enum rc
call_semantics(struct run *r,
               struct mg_glob *g,
               struct mg_call *c,
               unsigned depth,
               int *done,
               struct mg_val *out)
{
    const struct mg_val *a0 = arg_at(&c->args, 0);
    const struct mg_val *a1 = arg_at(&c->args, 1);
    uint64_t nargs = arg_count(&c->args);
    *done = 1;
    if (glob_is(g, "builtins", "getattr") && a0 && a1) {
        if (a1->kind == VK_STR)
            return get_attr(r, a0, a1->u.s, out);
        if (certainly_not_str(a1))
            return brk(r, "attribute name must be string");
        enum rc rc = anomaly(r, "pickle-dynamic-global", MG_SEV_SUSPICIOUS,
                             "getattr() with an attribute name computed at "
                             "load time: %s",
                             mg_pvm_render(r->vm, a1));
        return rc != RC_OK ? rc : unknown_value(r, out);
    }
    if ((glob_is(g, "builtins", "__import__") ||
         glob_is(g, "importlib", "__import__") ||
         glob_is(g, "importlib", "import_module")) &&
        a0 && a0->kind == VK_STR && mg_str_exact(a0->u.s)) {
        const struct mg_str *m = a0->u.s;
        struct mg_str *empty = lit_str(r, "");
        if (empty == NULL)
            return RC_ERR;
        /* Every module of the dotted path is imported (and runs). */
        struct mg_glob *full = new_glob(r, m, empty, VIA_IMPORT);
        if (full == NULL)
            return RC_ERR;
        enum rc rc = global_event(r, full);
        if (rc != RC_OK)
            return rc;
        const struct mg_val *fromlist = arg_at(&c->args, 3);
        int top_only = glob_is(g, "builtins", "__import__") ||
                       glob_is(g, "importlib", "__import__");
        if (top_only && fromlist != NULL) {
            const struct mg_obj *fl =
                fromlist->kind == VK_OBJ ? fromlist->u.o : NULL;
            if (fl != NULL && fl->count > 0)
                top_only = 0;
            if (fl == NULL && fromlist->kind != VK_NONE)
                top_only = 0;
        }
        const char *dot = memchr(m->data, '.', m->len);
        if (top_only && dot != NULL) {
            size_t n = (size_t)(dot - m->data);
            struct mg_str *tm = new_str(r, m->data, n, n, UINT64_MAX);
            struct mg_glob *tg = tm ? new_glob(r, tm, empty, VIA_IMPORT) : NULL;
            if (tg == NULL)
                return RC_ERR;
            *out = val_obj(tg);
            return RC_OK;
        }
        *out = val_obj(full);
        return RC_OK;
    }
    if ((glob_is(g, "pkgutil", "resolve_name") ||
         glob_is(g, "pydoc", "locate")) &&
        a0 && a0->kind == VK_STR && mg_str_exact(a0->u.s)) {
        const struct mg_str *s = a0->u.s;
        const char *colon = memchr(s->data, ':', s->len);
        const char *split = colon;
        if (split == NULL) {
            /* "pkg.mod.attr": the importable prefix is unknown; take the
               first component as the module, the rest as attributes. */
            split = memchr(s->data, '.', s->len);
        }
        if (split == NULL)
            return make_global(r, s->data, s->len, "", 0, VIA_IMPORT, out);
        size_t ml = (size_t)(split - s->data);
        return make_global(r, s->data, ml, split + 1, s->len - ml - 1,
                           VIA_IMPORT, out);
    }
    if ((glob_is(g, "operator", "attrgetter") ||
         glob_is(g, "_operator", "attrgetter")) &&
        nargs == 1 && a0) {
        c->h.sem = SEM_ATTRGETTER;
        *out = val_obj(c);
        return RC_OK;
    }
    if ((glob_is(g, "operator", "itemgetter") ||
         glob_is(g, "_operator", "itemgetter")) &&
        nargs == 1 && a0) {
        c->h.sem = SEM_ITEMGETTER;
        *out = val_obj(c);
        return RC_OK;
    }
    if ((glob_is(g, "operator", "methodcaller") ||
         glob_is(g, "_operator", "methodcaller")) &&
        a0) {
        c->h.sem = SEM_METHODCALLER;
        *out = val_obj(c);
        return RC_OK;
    }
    if ((glob_is(g, "functools", "partial") ||
         glob_is(g, "_functools", "partial")) &&
        a0) {
        c->h.sem = SEM_PARTIAL;
        *out = val_obj(c);
        return RC_OK;
    }
    if ((glob_is(g, "operator", "getitem") ||
         glob_is(g, "_operator", "getitem")) &&
        a0 && a1)
        return get_item(r, a0, a1, out);
    if (glob_is(g, "builtins", "vars") && a0) {
        struct mg_str *d = lit_str(r, "__dict__");
        if (d == NULL)
            return RC_ERR;
        return get_attr(r, a0, d, out);
    }
    if ((glob_is(g, "builtins", "globals") ||
         glob_is(g, "builtins", "locals") ||
         (glob_is(g, "builtins", "vars") && nargs == 0))) {
        c->h.sem = SEM_GLOBALS_DICT;
        *out = val_obj(c);
        return RC_OK;
    }
    if (glob_is(g, "copyreg", "_reconstructor") && a0) {
        /* _reconstructor(cls, base, state): base.__new__(cls, state) and
           base.__init__(obj, state): both classes count. */
        if (a1 != NULL && a1->kind == VK_OBJ && a1->u.o->kind == OK_GLOBAL &&
            a1->u.o != a0->u.o) {
            struct mg_val ignored;
            const struct mg_val *st = arg_at(&c->args, 2);
            struct mg_obj *t = new_obj(r, OK_TUPLE, sizeof(struct mg_obj));
            if (t == NULL)
                return RC_ERR;
            if (st && obj_add(r, t, st) != RC_OK)
                return RC_ERR;
            struct mg_val tv = val_obj(t);
            enum rc rc =
                do_call(r, OP_REDUCE, a1, &tv, &v_none, depth - 1, &ignored);
            if (rc != RC_OK)
                return rc;
        }
        struct mg_val rest;
        if (concat_args(r, &c->args, 2, NULL, &rest) != RC_OK)
            return RC_ERR;
        return do_call(r, OP_REDUCE, a0, &rest, &v_none, depth - 1, out);
    }
    if (glob_is(g, "copyreg", "__newobj__") && a0) {
        struct mg_val rest;
        if (concat_args(r, &c->args, 1, NULL, &rest) != RC_OK)
            return RC_ERR;
        return do_call(r, OP_NEWOBJ, a0, &rest, &v_none, depth - 1, out);
    }
    if (glob_is(g, "copyreg", "__newobj_ex__") && a0 && a1) {
        const struct mg_val *kw = arg_at(&c->args, 2);
        return do_call(r, OP_NEWOBJ_EX, a0, a1, kw ? kw : &v_none, depth - 1,
                       out);
    }
    if ((glob_is(g, "_codecs", "encode") || glob_is(g, "codecs", "encode")) &&
        a0 && a0->kind == VK_STR && a1 && a1->kind == VK_STR &&
        (str_is(a1->u.s, "latin1") || str_is(a1->u.s, "latin-1") ||
         str_is(a1->u.s, "iso-8859-1"))) {
        /* Protocol 2 writes bytes as _codecs.encode(str, 'latin1'). */
        const struct mg_str *s = a0->u.s;
        uint8_t *tmp = mg_malloc(s->len + 1);
        if (tmp == NULL)
            return fail(r, MG_E_NOMEM, NULL);
        size_t k = 0;
        for (uint32_t i = 0; i < s->len; i++) {
            uint8_t ch = (uint8_t)s->data[i];
            if (ch >= 0xc2 && ch <= 0xc3 && i + 1 < s->len) {
                tmp[k++] = (uint8_t)(((ch & 0x03) << 6) |
                                     ((uint8_t)s->data[i + 1] & 0x3f));
                i++;
            } else {
                tmp[k++] = ch;
            }
        }
        struct mg_str *b = new_str(r, tmp, k, s->full_len, s->src_off);
        mg_free(tmp);
        if (b == NULL)
            return RC_ERR;
        b->flags |= (uint16_t)(s->flags & (STR_TRUNC | STR_FORGOTTEN));
        b->ind = s->ind;
        out->kind = VK_BYTES;
        out->u.s = b;
        return RC_OK;
    }
    *done = 0;
    return RC_OK;
}

/*
 * Call callee(*args, **kwargs) symbolically. Emits PEV_CALL, then works
 * out the result: special functions resolve (getattr chains, imports,
 * operator and functools wrappers), everything else is an instance or
 * result of its callee.
 */
static enum rc
do_call(struct run *r,
        uint8_t how,
        const struct mg_val *callee,
        const struct mg_val *args,
        const struct mg_val *kwargs,
        unsigned depth,
        struct mg_val *out)
{
    if (depth == 0)
        return fail(r, MG_E_LIMIT, "max-value-depth");
    if (certainly_not_callable(callee)) {
        const char *tn = mg_val_type_name(callee);
        return brk(r, "'%s' object is not callable", tn ? tn : "?");
    }
    struct mg_call *c =
        (struct mg_call *)new_obj(r, OK_CALL, sizeof(struct mg_call));
    if (c == NULL)
        return RC_ERR;
    c->h.how = how;
    c->callee = *callee;
    c->args = *args;
    c->kwargs = *kwargs;
    r->vm->calls++;

    struct mg_obj *co = callee->u.o; /* callee is an object here */
    /* Wrappers resolve to the call they stand for. */
    if (co->kind == OK_CALL && co->sem != SEM_NONE && co->sem != SEM_INSTANCE &&
        co->sem != SEM_GLOBALS_DICT) {
        struct mg_call *w = (struct mg_call *)co;
        const struct mg_val *w0 = arg_at(&w->args, 0);
        const struct mg_val *x = arg_at(args, 0);
        switch ((enum mg_sem)co->sem) {
        case SEM_ATTRGETTER:
            if (x && w0 && w0->kind == VK_STR)
                return get_attr_path(r, x, w0->u.s, out);
            break;
        case SEM_ITEMGETTER:
            if (x && w0)
                return get_item(r, x, w0, out);
            break;
        case SEM_METHODCALLER:
            if (x && w0 && w0->kind == VK_STR) {
                struct mg_val m, rest;
                enum rc rc = get_attr(r, x, w0->u.s, &m);
                if (rc != RC_OK)
                    return rc;
                if (concat_args(r, &w->args, 1, NULL, &rest) != RC_OK)
                    return RC_ERR;
                rc = do_call(r, how, &m, &rest, &w->kwargs, depth - 1, out);
                if (rc != RC_BREAK)
                    return rc;
                r->vm->why[0] = '\0';
            }
            break;
        case SEM_PARTIAL:
            if (w0) {
                struct mg_val all;
                if (concat_args(r, &w->args, 1, args, &all) != RC_OK)
                    return RC_ERR;
                enum rc rc = do_call(r, how, w0, &all, kwargs, depth - 1, out);
                if (rc != RC_BREAK)
                    return rc;
                r->vm->why[0] = '\0';
            }
            break;
        case SEM_NONE:
        case SEM_MODULE:
        case SEM_INSTANCE:
        case SEM_GLOBALS_DICT:
        default:
            break;
        }
    }

    struct mg_glob *g = NULL;
    struct mg_val callee_g = *callee;
    if (co->kind == OK_GLOBAL) {
        g = (struct mg_glob *)co;
    } else if (co->kind == OK_CALL) {
        /* Calling an instance: Class.__call__. */
        struct mg_glob *og = origin_glob(callee, 32);
        if (og != NULL) {
            enum rc rc =
                derive_glob(r, og->module, og->name->data, og->name->len,
                            "__call__", 8, VIA_INSTANCE, &callee_g);
            if (rc != RC_OK)
                return rc;
            if (callee_g.kind == VK_OBJ && callee_g.u.o->kind == OK_GLOBAL)
                g = (struct mg_glob *)callee_g.u.o;
        }
    }
    struct mg_pevent ev = {.kind = PEV_CALL,
                           .offset = r->op_off,
                           .opcode = how,
                           .glob = g,
                           .call = c};
    enum rc rc = emit(r, &ev);
    if (rc != RC_OK)
        return rc;
    if (g != NULL) {
        /* What a known function would return. If that fails (bad
           arguments), the real function would raise, but a loader with its
           own find_class might not: the result is then just unknown. */
        int done = 0;
        rc = call_semantics(r, g, c, depth, &done, out);
        if (rc == RC_BREAK) {
            r->vm->why[0] = '\0';
            done = 0;
        } else if (rc != RC_OK || done) {
            return rc;
        }
    }
    c->h.sem = SEM_INSTANCE;
    *out = val_obj(c);
    return RC_OK;
}

/* An implicit method call (BUILD, APPEND, SETITEM...) on a non-builtin
   object. */
static enum rc
method_event(struct run *r,
             const struct mg_val *target,
             const char *method,
             const struct mg_val *margs,
             size_t nmargs)
{
    struct mg_glob *g = origin_glob(target, 32);
    struct mg_pevent ev = {.kind = PEV_METHOD,
                           .offset = r->op_off,
                           .opcode = r->op,
                           .glob = g,
                           .target = target,
                           .method = method,
                           .margs = margs,
                           .nmargs = nmargs};
    return emit(r, &ev);
}

static enum rc
add_override(struct run *r,
             const struct mg_glob *g,
             const struct mg_val *k,
             const struct mg_val *v)
{
    if (k->kind != VK_STR || !mg_str_exact(k->u.s))
        return RC_OK;
    size_t ml = g->module->len, nl = g->name->len, kl = k->u.s->len;
    size_t total = ml + 1 + nl + 1 + kl + 1;
    struct mg_override *o = mg_calloc(1, sizeof(*o));
    char *q = o ? mg_malloc(total) : NULL;
    if (q == NULL) {
        mg_free(o);
        return fail(r, MG_E_NOMEM, NULL);
    }
    char *p = q;
    memcpy(p, g->module->data, ml);
    p += ml;
    *p++ = '.';
    if (nl) {
        memcpy(p, g->name->data, nl);
        p += nl;
        *p++ = '.';
    }
    memcpy(p, k->u.s->data, kl);
    p[kl] = '\0';
    o->qualname = q;
    if (v->kind == VK_STR && mg_str_exact(v->u.s)) {
        o->str = mg_strndup(v->u.s->data, v->u.s->len);
        if (o->str == NULL) {
            mg_free(q);
            mg_free(o);
            return fail(r, MG_E_NOMEM, NULL);
        }
    }
    o->next = r->vm->overrides;
    r->vm->overrides = o;
    return RC_OK;
}

/* ------------------------------------------------------------------ */
/* opcodes with stack effects beyond push */

static enum rc
op_build(struct run *r)
{
    struct mg_val state, *inst = NULL;
    enum rc rc = pop(r, &state);
    if (rc == RC_OK)
        rc = top(r, &inst);
    if (rc != RC_OK)
        return rc;
    if (inst->kind != VK_OBJ || mg_val_type_name(inst) != NULL) {
        if (state.kind == VK_NONE)
            return RC_OK;
        const char *tn = mg_val_type_name(inst);
        return brk(r, "'%s' object has no attribute '__dict__'", tn ? tn : "?");
    }
    struct mg_obj *o = inst->u.o;
    if (o->kind == OK_GLOBAL) {
        /* BUILD on a class, function or module sets its attributes. */
        struct mg_glob *g = (struct mg_glob *)o;
        const struct mg_obj *d = mg_val_obj(&state, OK_DICT);
        const struct mg_obj *t = mg_val_obj(&state, OK_TUPLE);
        const struct mg_obj *slots = NULL;
        if (t != NULL && t->nkept == 2) {
            d = mg_val_obj(&t->items[0], OK_DICT);
            slots = mg_val_obj(&t->items[1], OK_DICT);
        }
        for (int pass = 0; pass < 2; pass++) {
            const struct mg_obj *x = pass ? slots : d;
            for (uint32_t i = 0; x != NULL && i + 1 < x->nkept; i += 2)
                if (add_override(r, g, &x->items[i], &x->items[i + 1]) != RC_OK)
                    return RC_ERR;
        }
        char q[200];
        mg_glob_qualname(g, q, sizeof(q));
        rc = anomaly(r, "pickle-build-global", MG_SEV_SUSPICIOUS,
                     "BUILD sets attributes of the global %s to %s", q,
                     mg_pvm_render(r->vm, &state));
        if (rc != RC_OK)
            return rc;
        return method_event(r, inst, "__setstate__", &state, 1);
    }
    if (o->kind == OK_CALL) {
        struct mg_call *c = (struct mg_call *)o;
        c->state = state;
        c->has_state = 1;
    }
    return method_event(r, inst, "__setstate__", &state, 1);
}

/* APPEND / APPENDS / SETITEM(S) / ADDITEMS: add stack[from..sp) to the
   object at stack[from-1]. */
static enum rc
add_items(struct run *r, size_t from, int kind)
{
    struct mg_pvm *vm = r->vm;
    /* kind: 'a' list-like, 's' dict-like, 'S' set-like */
    if (from > vm->sp || from <= fence(vm))
        return underflow(r);
    if (from == vm->sp)
        return RC_OK;
    if (kind == 's' && (vm->sp - from) % 2 != 0)
        return brk(r, "odd number of items for SETITEMS");
    struct mg_val *target = &vm->stack[from - 1];
    enum rc rc = RC_OK;
    const char *method = kind == 'a'   ? "append"
                         : kind == 's' ? "__setitem__"
                                       : "add";
    if (target->kind == VK_BYTES && (target->u.s->flags & STR_BYTEARRAY) &&
        kind != 'S') {
        /* bytearray has append, extend and __setitem__; its contents are
           not tracked. */
        vm->sp = from;
        return RC_OK;
    }
    if (target->kind != VK_OBJ) {
        const char *tn = mg_val_type_name(target);
        rc = brk(r, "'%s' object has no attribute '%s'", tn ? tn : "?", method);
        return rc;
    }
    struct mg_obj *o = target->u.o;
    switch ((enum mg_ok)o->kind) {
    case OK_LIST:
        if (kind != 'a' && !(kind == 's'))
            return brk(r, "'list' object has no attribute 'add'");
        break;
    case OK_DICT:
        if (kind != 's')
            return brk(r, "'dict' object has no attribute '%s'", method);
        break;
    case OK_SET:
        if (kind != 'S')
            return brk(r, "'set' object has no attribute '%s'", method);
        break;
    case OK_TUPLE:
    case OK_FROZENSET:
    case OK_BUFFER:
        return brk(r, "'%s' object has no attribute '%s'",
                   mg_val_type_name(target) ? mg_val_type_name(target)
                                            : "object",
                   method);
    case OK_GLOBAL:
    case OK_CALL:
    case OK_PERSID:
    case OK_UNKNOWN:
    default:
        rc = method_event(r, target, method, &vm->stack[from], vm->sp - from);
        if (rc != RC_OK)
            return rc;
        break;
    }
    /* Items past what the container keeps are only counted. */
    if (obj_reserve(r, o, vm->sp - from) != RC_OK)
        return RC_ERR;
    size_t i = from;
    for (; i < vm->sp && !(o->flags & OBJ_TRUNC); i++)
        if (obj_add(r, o, &vm->stack[i]) != RC_OK)
            return RC_ERR;
    if (i < vm->sp) {
        uint64_t c = (uint64_t)o->count + (vm->sp - i);
        o->count = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    }
    vm->sp = from;
    return RC_OK;
}

static enum rc
op_stack_global(struct run *r)
{
    struct mg_val name, module;
    enum rc rc = pop(r, &name);
    if (rc == RC_OK)
        rc = pop(r, &module);
    if (rc != RC_OK)
        return rc;
    if (module.kind == VK_STR && name.kind == VK_STR &&
        mg_str_exact(module.u.s) && mg_str_exact(name.u.s)) {
        struct mg_val g;
        snprintf(r->arg, sizeof(r->arg), "%.70s %.70s", module.u.s->data,
                 name.u.s->data);
        rc = make_global(r, module.u.s->data, module.u.s->len, name.u.s->data,
                         name.u.s->len, VIA_STACK_GLOBAL, &g);
        return rc != RC_OK ? rc : push(r, g);
    }
    if (certainly_not_str(&module) || certainly_not_str(&name))
        return brk(r, "STACK_GLOBAL requires str");
    /* Operands computed at load time: the import cannot be known. Keep
       whichever part is a constant, so the policy still sees it. */
    char mbuf[160], nbuf[160];
    mg_val_render(&module, mbuf, sizeof(mbuf), 4);
    mg_val_render(&name, nbuf, sizeof(nbuf), 4);
    rc = anomaly(r, "pickle-dynamic-global", MG_SEV_SUSPICIOUS,
                 "STACK_GLOBAL operands are not constant strings: module=%s "
                 "name=%s",
                 mbuf, nbuf);
    if (rc != RC_OK)
        return rc;
    int mconst = module.kind == VK_STR && mg_str_exact(module.u.s);
    int nconst = name.kind == VK_STR && mg_str_exact(name.u.s);
    struct mg_str *m = mconst ? module.u.s : lit_str(r, "<dynamic>");
    struct mg_str *n = m == NULL ? NULL
                       : nconst  ? name.u.s
                                 : lit_str(r, "<dynamic>");
    struct mg_glob *g = n ? new_glob(r, m, n, VIA_STACK_GLOBAL) : NULL;
    if (g == NULL)
        return RC_ERR;
    rc = global_event(r, g);
    return rc != RC_OK ? rc : push(r, val_obj(g));
}

/* Name pair of GLOBAL and INST: two strict-UTF-8 lines. */
static enum rc
read_name_pair(
    struct run *r, const uint8_t **m, size_t *ml, const uint8_t **n, size_t *nl)
{
    enum rc rc = read_two_lines(r, m, ml, n, nl);
    if (rc != RC_OK)
        return rc;
    size_t partial;
    if (!utf8_valid(*m, *ml, 0, &partial) || partial ||
        !utf8_valid(*n, *nl, 0, &partial) || partial)
        return brk(r, "'utf-8' codec can't decode the %s argument",
                   mg_opcodes[r->op].name);
    snprintf(r->arg, sizeof(r->arg), "'%.*s %.*s'", (int)(*ml > 70 ? 70 : *ml),
             (const char *)*m, (int)(*nl > 70 ? 70 : *nl), (const char *)*n);
    return RC_OK;
}

static enum rc
op_newobj(struct run *r, int ex)
{
    struct mg_val kwargs = v_none, args, cls, res;
    enum rc rc = RC_OK;
    if (ex)
        rc = pop(r, &kwargs);
    if (rc == RC_OK)
        rc = pop(r, &args);
    if (rc == RC_OK)
        rc = pop(r, &cls);
    if (rc != RC_OK)
        return rc;
    if (certainly_not_tuple(&args))
        return brk(r, "%s expected an arg tuple.", ex ? "NEWOBJ_EX" : "NEWOBJ");
    if (certainly_not_callable(&cls))
        return brk(r, "%s class argument isn't a type object",
                   ex ? "NEWOBJ_EX" : "NEWOBJ");
    if (ex && kwargs.kind != VK_OBJ)
        return brk(r, "NEWOBJ_EX kwargs must be a dict");
    rc = do_call(r, r->op, &cls, &args, &kwargs,
                 (unsigned)r->vm->lim->max_value_depth, &res);
    return rc != RC_OK ? rc : push(r, res);
}

static enum rc
op_reduce(struct run *r)
{
    struct mg_val args, *callee = NULL, res;
    enum rc rc = pop(r, &args);
    if (rc == RC_OK)
        rc = top(r, &callee);
    if (rc != RC_OK)
        return rc;
    if (certainly_not_tuple(&args))
        return brk(r, "argument list must be a tuple");
    struct mg_val cv = *callee;
    rc = do_call(r, OP_REDUCE, &cv, &args, &v_none,
                 (unsigned)r->vm->lim->max_value_depth, &res);
    if (rc != RC_OK)
        return rc;
    r->vm->stack[r->vm->sp - 1] = res;
    return RC_OK;
}

static enum rc
op_obj(struct run *r)
{
    size_t pos = 0;
    struct mg_pvm *vm = r->vm;
    enum rc rc = marker(r, &pos);
    if (rc != RC_OK)
        return rc;
    if (vm->sp - pos < 1)
        return underflow(r);
    struct mg_val cls = vm->stack[pos], args, res;
    rc = pop_into(r, pos + 1, OK_TUPLE, &args);
    if (rc != RC_OK)
        return rc;
    vm->sp = pos;
    rc = do_call(r, OP_OBJ, &cls, &args, &v_none,
                 (unsigned)vm->lim->max_value_depth, &res);
    return rc != RC_OK ? rc : push(r, res);
}

static enum rc
op_inst(struct run *r)
{
    size_t pos = 0;
    const uint8_t *m = NULL, *n = NULL;
    size_t ml = 0, nl = 0;
    enum rc rc = marker(r, &pos);
    if (rc == RC_OK)
        rc = read_name_pair(r, &m, &ml, &n, &nl);
    if (rc != RC_OK)
        return rc;
    struct mg_val cls, args, res;
    rc = make_global(r, (const char *)m, ml, (const char *)n, nl, VIA_INST,
                     &cls);
    if (rc == RC_OK)
        rc = pop_into(r, pos, OK_TUPLE, &args);
    if (rc == RC_OK)
        rc = do_call(r, OP_INST, &cls, &args, &v_none,
                     (unsigned)r->vm->lim->max_value_depth, &res);
    return rc != RC_OK ? rc : push(r, res);
}

static enum rc
op_ext(struct run *r, int64_t code)
{
    if (code <= 0)
        return brk(r, "EXT specifies code <= 0");
    char name[40];
    snprintf(name, sizeof(name), "code %" PRId64, code);
    snprintf(r->arg, sizeof(r->arg), "%" PRId64, code);
    struct mg_str *m = lit_str(r, "<copyreg extension>");
    struct mg_str *n = m ? lit_str(r, name) : NULL;
    struct mg_glob *g = n ? new_glob(r, m, n, VIA_EXT) : NULL;
    if (g == NULL)
        return RC_ERR;
    enum rc rc = anomaly(r, "pickle-ext", MG_SEV_SUSPICIOUS,
                         "EXT opcode imports the global registered as "
                         "extension code %" PRId64
                         " (copyreg), which cannot be known statically",
                         code);
    if (rc == RC_OK)
        rc = global_event(r, g);
    return rc != RC_OK ? rc : push(r, val_obj(g));
}

static enum rc
op_persid(struct run *r, struct mg_val pid)
{
    struct mg_call *c =
        (struct mg_call *)new_obj(r, OK_PERSID, sizeof(struct mg_call));
    if (c == NULL)
        return RC_ERR;
    c->args = pid;
    struct mg_val v = val_obj(c);
    struct mg_pevent ev = {.kind = PEV_METHOD,
                           .offset = r->op_off,
                           .opcode = r->op,
                           .target = &v,
                           .method = "persistent_load"};
    enum rc rc = emit(r, &ev);
    return rc != RC_OK ? rc : push(r, v);
}

/* ------------------------------------------------------------------ */
/* the loop */

static enum rc
check_frame(struct run *r)
{
    struct mg_pvm *vm = r->vm;
    uint64_t pos = mg_stream_tell(r->s);
    if (vm->frame_end == 0)
        return RC_OK;
    if (pos < vm->frame_end)
        return RC_OK;
    enum rc rc = RC_OK;
    if (pos > vm->frame_end && !vm->frame_reported) {
        vm->frame_reported = 1;
        rc = anomaly(r, "pickle-frame", MG_SEV_SUSPICIOUS,
                     "%s at offset %" PRIu64
                     " runs past the end of its FRAME (frame ends at %" PRIu64
                     "): unpicklers that enforce frames and those that do not "
                     "read different opcodes",
                     mg_opcodes[r->op].name, r->op_off, vm->frame_end);
    }
    vm->frame_end = 0;
    return rc;
}

static enum rc
step(struct run *r)
{
    struct mg_pvm *vm = r->vm;
    struct mg_stream *s = r->s;
    const uint8_t *p;
    struct mg_val v = v_none;
    enum rc rc;
    uint8_t op = r->op;

    mg_stream_advance(s, 1);
    r->arg[0] = '\0';
    switch (op) {
    case OP_MARK:
        rc = push_mark(r);
        break;
    case OP_STOP: {
        struct mg_val res;
        rc = pop(r, &res);
        if (rc == RC_OK) {
            vm->stack[vm->sp++] = res; /* keep it reachable for the caller */
            rc = RC_STOP;
        }
        break;
    }
    case OP_POP:
        if (vm->nmarks > 0 && vm->marks[vm->nmarks - 1] == vm->sp) {
            vm->nmarks--;
            rc = RC_OK;
        } else {
            rc = pop(r, &v);
        }
        break;
    case OP_POP_MARK: {
        size_t pos = 0;
        rc = marker(r, &pos);
        if (rc == RC_OK)
            vm->sp = pos;
        break;
    }
    case OP_DUP: {
        struct mg_val *t = NULL;
        rc = top(r, &t);
        if (rc == RC_OK)
            rc = push(r, *t);
        break;
    }
    case OP_FLOAT: {
        size_t len;
        rc = read_line(r, &p, &len);
        if (rc == RC_OK)
            rc = push_float_text(r, p, len);
        break;
    }
    case OP_INT:
    case OP_LONG: {
        size_t len;
        rc = read_line(r, &p, &len);
        if (rc == RC_OK)
            rc = push_int_text(r, p, len + 1, op == OP_LONG);
        break;
    }
    case OP_BININT:
        rc = need(r, 4, &p);
        if (rc == RC_OK) {
            v.kind = VK_INT;
            v.u.i = (int32_t)mg_le32(p);
            mg_stream_advance(s, 4);
            if (vm->want_opcodes)
                snprintf(r->arg, sizeof(r->arg), "%" PRId64, v.u.i);
            rc = push(r, v);
        }
        break;
    case OP_BININT1:
        rc = need(r, 1, &p);
        if (rc == RC_OK) {
            v.kind = VK_INT;
            v.u.i = p[0];
            mg_stream_advance(s, 1);
            if (vm->want_opcodes)
                snprintf(r->arg, sizeof(r->arg), "%" PRId64, v.u.i);
            rc = push(r, v);
        }
        break;
    case OP_BININT2:
        rc = need(r, 2, &p);
        if (rc == RC_OK) {
            v.kind = VK_INT;
            v.u.i = mg_le16(p);
            mg_stream_advance(s, 2);
            if (vm->want_opcodes)
                snprintf(r->arg, sizeof(r->arg), "%" PRId64, v.u.i);
            rc = push(r, v);
        }
        break;
    case OP_LONG1:
        rc = need(r, 1, &p);
        if (rc == RC_OK) {
            uint64_t n = p[0];
            mg_stream_advance(s, 1);
            rc = push_long_bin(r, n);
        }
        break;
    case OP_LONG4:
        rc = need(r, 4, &p);
        if (rc == RC_OK) {
            int32_t n = (int32_t)mg_le32(p);
            mg_stream_advance(s, 4);
            if (n < 0)
                rc = brk(r, "LONG pickle has negative byte count");
            else
                rc = push_long_bin(r, (uint64_t)n);
        }
        break;
    case OP_NONE:
        rc = push(r, v_none);
        break;
    case OP_NEWTRUE:
    case OP_NEWFALSE:
        v.kind = VK_BOOL;
        v.u.i = op == OP_NEWTRUE;
        rc = push(r, v);
        break;
    case OP_PERSID: {
        size_t len;
        rc = read_line(r, &p, &len);
        if (rc != RC_OK)
            break;
        for (size_t i = 0; i < len; i++)
            if (p[i] >= 0x80)
                return brk(r, "persistent IDs in protocol 0 must be ASCII "
                              "strings");
        struct mg_str *sv = new_str(r, p, len, len, UINT64_MAX);
        if (sv == NULL)
            return RC_ERR;
        if (vm->want_opcodes)
            mg_str_repr(sv, 0, r->arg, sizeof(r->arg));
        v.kind = VK_STR;
        v.u.s = sv;
        rc = op_persid(r, v);
        break;
    }
    case OP_BINPERSID:
        rc = pop(r, &v);
        if (rc == RC_OK)
            rc = op_persid(r, v);
        break;
    case OP_REDUCE:
        rc = op_reduce(r);
        break;
    case OP_STRING: {
        size_t len;
        uint64_t src = mg_stream_tell(s);
        rc = read_line(r, &p, &len);
        if (rc != RC_OK)
            break;
        if (len >= 2 && p[0] == p[len - 1] && (p[0] == '\'' || p[0] == '"'))
            rc = push_text(r, p + 1, len - 2, 0, src + 1);
        else
            rc = brk(r, "the STRING opcode argument must be quoted");
        break;
    }
    case OP_UNICODE: {
        size_t len;
        uint64_t src = mg_stream_tell(s);
        rc = read_line(r, &p, &len);
        if (rc == RC_OK)
            rc = push_text(r, p, len, 1, src);
        break;
    }
    case OP_BINSTRING:
    case OP_BINUNICODE:
    case OP_BINBYTES:
        rc = need(r, 4, &p);
        if (rc == RC_OK) {
            uint32_t n = mg_le32(p);
            mg_stream_advance(s, 4);
            if (op == OP_BINSTRING && (int32_t)n < 0)
                return brk(r, "BINSTRING pickle has negative byte count");
            rc = read_payload(r, n, op == OP_BINBYTES ? VK_BYTES : VK_STR,
                              op == OP_BINUNICODE, 0, &v);
            if (rc == RC_OK)
                rc = push(r, v);
        }
        break;
    case OP_SHORT_BINSTRING:
    case OP_SHORT_BINBYTES:
    case OP_SHORT_BINUNICODE:
        rc = need(r, 1, &p);
        if (rc == RC_OK) {
            uint8_t n = p[0];
            mg_stream_advance(s, 1);
            rc = read_payload(r, n, op == OP_SHORT_BINBYTES ? VK_BYTES : VK_STR,
                              op == OP_SHORT_BINUNICODE, 0, &v);
            if (rc == RC_OK)
                rc = push(r, v);
        }
        break;
    case OP_BINUNICODE8:
    case OP_BINBYTES8:
    case OP_BYTEARRAY8:
        rc = need(r, 8, &p);
        if (rc == RC_OK) {
            uint64_t n = mg_le64(p);
            mg_stream_advance(s, 8);
            if (n > (uint64_t)INT64_MAX)
                return brk(r, "%s exceeds system's maximum size",
                           mg_opcodes[op].name);
            rc = read_payload(r, n, op == OP_BINUNICODE8 ? VK_STR : VK_BYTES,
                              op == OP_BINUNICODE8,
                              op == OP_BYTEARRAY8 ? STR_BYTEARRAY : 0, &v);
            if (rc == RC_OK)
                rc = push(r, v);
        }
        break;
    case OP_APPEND:
        rc = vm->sp == 0 ? underflow(r) : add_items(r, vm->sp - 1, 'a');
        break;
    case OP_APPENDS:
    case OP_SETITEMS:
    case OP_ADDITEMS: {
        size_t pos = 0;
        rc = marker(r, &pos);
        if (rc == RC_OK)
            rc = add_items(r, pos,
                           op == OP_APPENDS    ? 'a'
                           : op == OP_SETITEMS ? 's'
                                               : 'S');
        break;
    }
    case OP_SETITEM:
        if (vm->sp < 2)
            rc = underflow(r);
        else
            rc = add_items(r, vm->sp - 2, 's');
        break;
    case OP_BUILD:
        rc = op_build(r);
        break;
    case OP_GLOBAL: {
        const uint8_t *m = NULL, *n = NULL;
        size_t ml = 0, nl = 0;
        rc = read_name_pair(r, &m, &ml, &n, &nl);
        if (rc == RC_OK)
            rc = make_global(r, (const char *)m, ml, (const char *)n, nl,
                             VIA_GLOBAL, &v);
        if (rc == RC_OK)
            rc = push(r, v);
        break;
    }
    case OP_STACK_GLOBAL:
        rc = op_stack_global(r);
        break;
    case OP_DICT:
    case OP_LIST:
    case OP_TUPLE:
    case OP_FROZENSET: {
        size_t pos = 0;
        rc = marker(r, &pos);
        if (rc != RC_OK)
            break;
        if (op == OP_DICT && (vm->sp - pos) % 2 != 0) {
            rc = brk(r, "odd number of items for DICT");
            break;
        }
        rc = pop_into(r, pos,
                      op == OP_DICT    ? OK_DICT
                      : op == OP_LIST  ? OK_LIST
                      : op == OP_TUPLE ? OK_TUPLE
                                       : OK_FROZENSET,
                      &v);
        if (rc == RC_OK)
            rc = push(r, v);
        break;
    }
    case OP_EMPTY_DICT:
    case OP_EMPTY_LIST:
    case OP_EMPTY_TUPLE:
    case OP_EMPTY_SET:
        rc = pop_into(r, vm->sp,
                      op == OP_EMPTY_DICT    ? OK_DICT
                      : op == OP_EMPTY_LIST  ? OK_LIST
                      : op == OP_EMPTY_TUPLE ? OK_TUPLE
                                             : OK_SET,
                      &v);
        if (rc == RC_OK)
            rc = push(r, v);
        break;
    case OP_TUPLE1:
    case OP_TUPLE2:
    case OP_TUPLE3: {
        size_t n = (size_t)(op - OP_TUPLE1 + 1);
        if (vm->sp < n || vm->sp - n < fence(vm)) {
            rc = underflow(r);
            break;
        }
        rc = pop_into(r, vm->sp - n, OK_TUPLE, &v);
        if (rc == RC_OK)
            rc = push(r, v);
        break;
    }
    case OP_GET:
    case OP_PUT: {
        size_t len;
        rc = read_line(r, &p, &len);
        if (rc != RC_OK)
            break;
        int64_t key;
        int neg;
        int k = parse_pyint(p, len + 1, 10, &key, &neg);
        if (k == 0) {
            rc = brk(r, "invalid literal for int() with base 10");
            break;
        }
        if (k == 2) {
            rc = brk(r, "Python int too large to convert to C ssize_t");
            break;
        }
        snprintf(r->arg, sizeof(r->arg), "%" PRId64, key);
        if (op == OP_GET) {
            rc = key < 0 ? brk(r, "Memo value not found at index %" PRId64, key)
                         : memo_get(r, (uint64_t)key);
            break;
        }
        if (key < 0) {
            rc = brk(r, "negative PUT argument");
            break;
        }
        struct mg_val *t = NULL;
        rc = top(r, &t);
        if (rc == RC_OK)
            rc = memo_put(r, (uint64_t)key, t);
        break;
    }
    case OP_BINGET:
    case OP_BINPUT:
    case OP_LONG_BINGET:
    case OP_LONG_BINPUT: {
        int wide = op == OP_LONG_BINGET || op == OP_LONG_BINPUT;
        rc = need(r, wide ? 4 : 1, &p);
        if (rc != RC_OK)
            break;
        uint64_t key = wide ? mg_le32(p) : p[0];
        mg_stream_advance(s, wide ? 4 : 1);
        if (vm->want_opcodes)
            snprintf(r->arg, sizeof(r->arg), "%" PRIu64, key);
        if (op == OP_BINGET || op == OP_LONG_BINGET) {
            rc = memo_get(r, key);
        } else {
            struct mg_val *t = NULL;
            rc = top(r, &t);
            if (rc == RC_OK)
                rc = memo_put(r, key, t);
        }
        break;
    }
    case OP_MEMOIZE: {
        struct mg_val *t = NULL;
        rc = top(r, &t);
        if (rc == RC_OK)
            rc = memo_put(r, vm->memo_len, t);
        break;
    }
    case OP_INST:
        rc = op_inst(r);
        break;
    case OP_OBJ:
        rc = op_obj(r);
        break;
    case OP_NEWOBJ:
    case OP_NEWOBJ_EX:
        rc = op_newobj(r, op == OP_NEWOBJ_EX);
        break;
    case OP_BINFLOAT:
        rc = need(r, 8, &p);
        if (rc == RC_OK) {
            uint64_t bits = mg_be64(p);
            double d;
            memcpy(&d, &bits, sizeof(d));
            mg_stream_advance(s, 8);
            v.kind = VK_FLOAT;
            v.u.f = d;
            if (vm->want_opcodes)
                snprintf(r->arg, sizeof(r->arg), "%.17g", d);
            rc = push(r, v);
        }
        break;
    case OP_PROTO:
        rc = need(r, 1, &p);
        if (rc != RC_OK)
            break;
        mg_stream_advance(s, 1);
        snprintf(r->arg, sizeof(r->arg), "%u", p[0]);
        if (p[0] > HIGHEST_PROTOCOL) {
            rc = brk(r, "unsupported pickle protocol: %u", p[0]);
            break;
        }
        if (vm->saw_proto) {
            rc = anomaly(r, "pickle-proto", MG_SEV_SUSPICIOUS,
                         "second PROTO opcode (protocol %u after %d): it "
                         "changes how later names are resolved",
                         p[0], vm->proto);
            if (rc != RC_OK)
                break;
        }
        vm->proto = p[0];
        vm->saw_proto = 1;
        rc = RC_OK;
        break;
    case OP_EXT1:
    case OP_EXT2:
    case OP_EXT4: {
        size_t n = op == OP_EXT1 ? 1 : op == OP_EXT2 ? 2 : 4;
        rc = need(r, n, &p);
        if (rc != RC_OK)
            break;
        int64_t code = n == 1   ? p[0]
                       : n == 2 ? mg_le16(p)
                                : (int32_t)mg_le32(p);
        mg_stream_advance(s, n);
        rc = op_ext(r, code);
        break;
    }
    case OP_FRAME: {
        rc = need(r, 8, &p);
        if (rc != RC_OK)
            break;
        uint64_t n = mg_le64(p);
        mg_stream_advance(s, 8);
        snprintf(r->arg, sizeof(r->arg), "%" PRIu64, n);
        if (n > (uint64_t)INT64_MAX) {
            rc = brk(r, "FRAME length exceeds system's maximum size");
            break;
        }
        uint64_t here = mg_stream_tell(s);
        if (vm->frame_end != 0 && here < vm->frame_end) {
            rc = anomaly(r, "pickle-frame", MG_SEV_SUSPICIOUS,
                         "FRAME at offset %" PRIu64
                         " begins before the previous frame ends (%" PRIu64 ")",
                         r->op_off, vm->frame_end);
            if (rc != RC_OK)
                break;
        }
        uint64_t end;
        if (ckd_add_u64(&end, here, n))
            end = UINT64_MAX;
        vm->frame_end = n ? end : 0;
        vm->frame_reported = 0;
        /* A frame longer than the data left makes CPython stop here,
           before running the opcodes inside; other unpicklers go on. */
        if (n > 0 && s->pull == NULL && n > (uint64_t)(s->len - s->pos)) {
            rc = anomaly(r, "pickle-frame", MG_SEV_SUSPICIOUS,
                         "FRAME at offset %" PRIu64 " declares %" PRIu64
                         " bytes but only %zu remain",
                         r->op_off, n, s->len - s->pos);
            vm->frame_reported = 1;
        }
        break;
    }
    case OP_NEXT_BUFFER: {
        struct mg_obj *o = new_obj(r, OK_BUFFER, sizeof(struct mg_obj));
        rc = o ? push(r, val_obj(o)) : RC_ERR;
        break;
    }
    case OP_READONLY_BUFFER: {
        struct mg_val *t = NULL;
        rc = top(r, &t);
        break;
    }
    default:
        rc = brk(r, "invalid load key, '\\x%02x'.", op);
        break;
    }
    return rc;
}

static int
past_deadline(uint64_t deadline_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec >
           deadline_ns;
}

enum mg_status
mg_pvm_run(struct mg_pvm *vm, struct mg_stream *s, struct mg_pvm_result *res)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.vm = vm;
    r.s = s;
    vm->s = s;
    r.err = MG_OK;

    /* Fresh machine for each stream (overrides persist). */
    mg_arena_fini(&vm->arena);
    mg_arena_init(&vm->arena, MG_ARENA_CAP, MG_STRING_BUDGET);
    vm->sp = 0;
    vm->nmarks = 0;
    if (vm->memo != NULL)
        memset(vm->memo, 0, vm->memo_cap * sizeof(*vm->memo));
    for (size_t i = 0; i < vm->dense_cap; i++)
        vm->dense[i].kind = VK_EMPTY;
    vm->memo_len = 0;
    vm->memo_hashed = 0;
    vm->nvalues = 0;
    vm->proto = 0;
    vm->saw_proto = 0;
    vm->frame_end = 0;
    vm->frame_reported = 0;
    vm->globals = 0;
    vm->calls = 0;
    vm->limit_name = NULL;
    vm->why[0] = '\0';

    memset(res, 0, sizeof(*res));
    res->start = mg_stream_tell(s);
    res->proto = -1;
    uint64_t nops = 0;
    enum rc rc = RC_OK;
    for (;;) {
        const uint8_t *p;
        r.op_off = mg_stream_tell(s);
        if (!mg_stream_have(s, 1)) {
            enum mg_status st = mg_stream_need(s, 1, &p, NULL);
            if (st == MG_E_TRUNCATED) {
                if (nops == 0) {
                    res->end = PEND_EMPTY;
                    res->end_off = r.op_off;
                    return MG_OK;
                }
                rc = brk(&r, "pickle data was truncated (no STOP)");
                break;
            }
            if (st != MG_OK) {
                rc = fail(&r, st, NULL);
                break;
            }
        }
        if (++nops > vm->lim->max_opcodes) {
            rc = fail(&r, MG_E_LIMIT, "max-opcodes");
            break;
        }
        if ((nops & 0xffff) == 0 && vm->deadline_ns != 0 &&
            past_deadline(vm->deadline_ns)) {
            rc = fail(&r, MG_E_LIMIT, "max-seconds");
            break;
        }
        r.op = *mg_stream_ptr(s);
        /* Fast path for the scalar opcodes that dominate large pickles:
           no allocation, no event, arguments already buffered. */
        if (!vm->want_opcodes && mg_stream_have(s, 9) && push_room(vm)) {
            const uint8_t *q = mg_stream_ptr(s);
            struct mg_val fv;
            size_t adv = 0;
            switch (r.op) {
            case OP_BINFLOAT: {
                uint64_t bits = mg_be64(q + 1);
                fv.kind = VK_FLOAT;
                memcpy(&fv.u.f, &bits, sizeof(fv.u.f));
                adv = 9;
                break;
            }
            case OP_BININT:
                fv.kind = VK_INT;
                fv.u.i = (int32_t)mg_le32(q + 1);
                adv = 5;
                break;
            case OP_BININT1:
                fv.kind = VK_INT;
                fv.u.i = q[1];
                adv = 2;
                break;
            case OP_BININT2:
                fv.kind = VK_INT;
                fv.u.i = mg_le16(q + 1);
                adv = 3;
                break;
            case OP_NONE:
                fv = v_none;
                adv = 1;
                break;
            case OP_NEWTRUE:
            case OP_NEWFALSE:
                fv.kind = VK_BOOL;
                fv.u.i = r.op == OP_NEWTRUE;
                adv = 1;
                break;
            case OP_BINGET:
                if (q[1] < vm->dense_cap && vm->dense[q[1]].kind != VK_EMPTY) {
                    fv = vm->dense[q[1]];
                    adv = 2;
                }
                break;
            default:
                break;
            }
            if (adv != 0) {
                vm->stack[vm->sp++] = fv;
                mg_stream_advance(s, adv);
                if (vm->frame_end != 0 && mg_stream_tell(s) >= vm->frame_end &&
                    (rc = check_frame(&r)) != RC_OK)
                    break;
                continue;
            }
        }
        if (vm->want_opcodes && mg_opcodes[r.op].name == NULL) {
            rc = brk(&r, "invalid load key, '\\x%02x'.", r.op);
            break;
        }
        if (vm->want_opcodes) {
            /* Decode first, report the line, then the outcome. */
            size_t marks_before = vm->nmarks;
            rc = step(&r);
            if (rc == RC_OK || rc == RC_STOP || rc == RC_BREAK) {
                size_t d =
                    vm->nmarks < marks_before ? vm->nmarks : marks_before;
                struct mg_pevent ev = {.kind = PEV_OPCODE,
                                       .offset = r.op_off,
                                       .opcode = r.op,
                                       .arg = r.arg,
                                       .depth = (unsigned)d};
                enum rc rc2 = emit(&r, &ev);
                if (rc2 != RC_OK)
                    rc = rc2;
            }
        } else {
            rc = step(&r);
        }
        if (rc == RC_OK && vm->frame_end != 0 &&
            mg_stream_tell(s) >= vm->frame_end)
            rc = check_frame(&r);
        if (rc != RC_OK)
            break;
    }
    res->nops = nops;
    res->proto = vm->saw_proto ? vm->proto : -1;
    res->globals = vm->globals;
    res->calls = vm->calls;
    if (rc == RC_STOP) {
        res->end = PEND_STOP;
        res->end_off = mg_stream_tell(s);
        res->value = vm->stack[vm->sp - 1];
        if (vm->frame_end != 0 && res->end_off < vm->frame_end &&
            s->pull == NULL) {
            /* STOP inside a frame whose declared end is further: fine for
               CPython, but not what a pickler writes. */
            vm->frame_end = 0;
        }
        return MG_OK;
    }
    res->end_off = r.op_off;
    if (rc == RC_BREAK) {
        res->end = PEND_BREAK;
        res->why = vm->why;
        return MG_OK;
    }
    return r.err == MG_OK ? MG_E_INTERNAL : r.err;
}

void
mg_pvm_init(struct mg_pvm *vm,
            const struct mg_limits *lim,
            mg_pvm_cb cb,
            void *user)
{
    memset(vm, 0, sizeof(*vm));
    vm->lim = lim;
    vm->cb = cb;
    vm->user = user;
    vm->keep_items = MG_KEEP_ITEMS;
    mg_arena_init(&vm->arena, MG_ARENA_CAP, MG_STRING_BUDGET);
}

void
mg_pvm_fini(struct mg_pvm *vm)
{
    mg_arena_fini(&vm->arena);
    mg_free(vm->stack);
    mg_free(vm->marks);
    mg_free(vm->memo);
    mg_free(vm->dense);
    struct mg_override *o = vm->overrides;
    while (o != NULL) {
        struct mg_override *n = o->next;
        mg_free(o->qualname);
        mg_free(o->str);
        mg_free(o);
        o = n;
    }
    memset(vm, 0, sizeof(*vm));
}

void
mg_pvm_end_frame(struct mg_pvm *vm)
{
    vm->frame_end = 0;
}

const char *
mg_pvm_render(struct mg_pvm *vm, const struct mg_val *v)
{
    mg_val_render(v, vm->scratch, sizeof(vm->scratch),
                  (unsigned)(vm->lim->max_value_depth < 8
                                 ? vm->lim->max_value_depth
                                 : 8));
    return vm->scratch;
}
