/*
 * pickle.c - findings from the symbolic machine, and the loop over the
 * streams of an input: several pickles in a row are all scanned; after a
 * break the rest is searched for further streams, which count only when
 * they do something (import, call), so random bytes stay quiet.
 */
#include "formats/pickle/pickle.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/format.h"
#include "formats/numpy/numpy.h"
#include "io/ckd.h"
#include "pickle/indicators.h"
#include "pickle/opcodes.h"
#include "pickle/policy.h"

#define MAX_HELD 16 /* anomalies held back while a stream is tentative */

struct held {
    enum mg_severity sev;
    const char *rule;
    uint64_t offset;
    char msg[400];
};

struct pscan {
    struct mg_ctx *ctx;
    const struct mg_pickle_opts *o;
    const uint8_t *mem; /* the stream's bytes when in memory */
    uint64_t mem_base;
    size_t mem_len;
    int tentative;
    int relevant;
    unsigned nheld;
    struct held held[MAX_HELD];
    unsigned nested; /* nested pickles scanned */
};

static enum mg_status
add(struct pscan *ps,
    enum mg_severity sev,
    const char *rule,
    uint64_t off,
    const char *module,
    const char *name,
    const char *indicator,
    const char *msg)
{
    struct mg_finding_in f = {.sev = sev,
                              .rule = rule,
                              .message = msg,
                              .offset = off,
                              .has_offset = 1,
                              .module = module,
                              .name = name,
                              .indicator = indicator};
    return mg_ctx_add(ps->ctx, &f);
}

static enum mg_status
flush_held(struct pscan *ps)
{
    for (unsigned i = 0; i < ps->nheld; i++) {
        struct held *h = &ps->held[i];
        enum mg_status st =
            add(ps, h->sev, h->rule, h->offset, NULL, NULL, NULL, h->msg);
        if (st != MG_OK)
            return st;
    }
    ps->nheld = 0;
    return MG_OK;
}

static enum mg_status
make_relevant(struct pscan *ps)
{
    if (ps->relevant)
        return MG_OK;
    ps->relevant = 1;
    return flush_held(ps);
}

static const char *
via_text(uint8_t via)
{
    switch ((enum mg_via)via) {
    case VIA_GLOBAL:
        return "GLOBAL imports";
    case VIA_STACK_GLOBAL:
        return "STACK_GLOBAL imports";
    case VIA_INST:
        return "INST imports";
    case VIA_GETATTR:
        return "an attribute lookup (getattr) reaches";
    case VIA_IMPORT:
        return "an import by name reaches";
    case VIA_ITEM:
        return "a __dict__ lookup reaches";
    case VIA_INSTANCE:
        return "an attribute of an object reaches";
    case VIA_BUILD:
        return "BUILD reaches";
    case VIA_EXT:
        return "EXT imports";
    default:
        return "reaches";
    }
}

/* A dotted Python identifier (ASCII letters, digits, '_', '.'), as module
   names that can be imported are. Non-ASCII identifiers exist but do not
   occur in text that was never a pickle. */
static int
plausible_module(const struct mg_str *m)
{
    if (!mg_str_exact(m) || m->len == 0)
        return 0;
    if (m->data[0] == '<')
        return 1; /* made up by the machine: always counts */
    for (uint32_t i = 0; i < m->len; i++) {
        unsigned char c = (unsigned char)m->data[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c >= 0x80))
            return 0;
    }
    return 1;
}

static struct mg_class
classify(struct pscan *ps, const struct mg_glob *g)
{
    return mg_policy_class(ps->ctx->policy, g->module->data, g->module->len,
                           g->name->data, g->name->len);
}

/* Indicators in a string that is an argument of a call. */
static enum mg_status
arg_indicators(struct pscan *ps,
               const struct mg_val *v,
               uint64_t off,
               const char *callee,
               unsigned depth)
{
    if (depth == 0)
        return MG_OK;
    if ((v->kind == VK_STR || v->kind == VK_BYTES) && v->u.s->ind != 0) {
        const struct mg_str *s = v->u.s;
        for (uint16_t bit = 1; bit != 0 && bit <= IND_PICKLE; bit <<= 1) {
            if (!(s->ind & bit))
                continue;
            char ind[200], msg[600];
            if (mg_ind_extract(s->data, s->len, bit, ind, sizeof(ind)) == 0)
                snprintf(ind, sizeof(ind), "%s", mg_ind_label(bit));
            snprintf(msg, sizeof(msg), "%s passed to %s: %s", mg_ind_label(bit),
                     callee, ind);
            enum mg_status st = add(ps, MG_SEV_SUSPICIOUS, mg_ind_rule(bit),
                                    off, NULL, NULL, ind, msg);
            if (st != MG_OK)
                return st;
        }
        return MG_OK;
    }
    if (v->kind != VK_OBJ)
        return MG_OK;
    const struct mg_obj *o = v->u.o;
    if (o->kind > OK_FROZENSET)
        return MG_OK;
    for (uint32_t i = 0; i < o->nkept; i++) {
        enum mg_status st =
            arg_indicators(ps, &o->items[i], off, callee, depth - 1);
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

/* A bytes argument of a nested deserialiser that is itself a pickle:
   scan it as a layer of its own. */
static enum mg_status
nested_pickles(struct pscan *ps, const struct mg_call *c, uint64_t off)
{
    const struct mg_obj *t = mg_val_obj(&c->args, OK_TUPLE);
    for (uint32_t i = 0; t != NULL && i < t->nkept; i++) {
        const struct mg_val *a = &t->items[i];
        if (a->kind != VK_BYTES || !(a->u.s->ind & IND_PICKLE))
            continue;
        const struct mg_str *s = a->u.s;
        const uint8_t *p = NULL;
        size_t n = 0;
        if (mg_str_exact(s)) {
            p = (const uint8_t *)s->data;
            n = s->len;
        } else if (ps->mem != NULL && s->src_off != UINT64_MAX &&
                   s->src_off >= ps->mem_base && s->full_len <= ps->mem_len &&
                   s->src_off - ps->mem_base <= ps->mem_len - s->full_len) {
            p = ps->mem + (s->src_off - ps->mem_base);
            n = (size_t)s->full_len;
        }
        if (p == NULL) {
            enum mg_status st =
                add(ps, MG_SEV_INFO, "pickle-nested", off, NULL, NULL, NULL,
                    "an embedded pickle argument is too large to be scanned "
                    "here");
            if (st != MG_OK)
                return st;
            continue;
        }
        char name[64];
        snprintf(name, sizeof(name), "arg@%" PRIu64, off);
        struct mg_input in;
        mg_input_mem(&in, p, n);
        ps->nested++;
        enum mg_status st = mg_scan_input(ps->ctx, &in, name);
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

/* ------------------------------------------------------------------ */
/* joblib: arrays written into the pickle stream */

static const struct mg_val *
dict_get(const struct mg_val *d, const char *key)
{
    const struct mg_obj *o = d->kind == VK_OBJ ? d->u.o : NULL;
    if (o == NULL || (o->kind != OK_DICT && o->kind != OK_CALL))
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i + 1 < o->nkept; i += 2) {
        const struct mg_val *k = &o->items[i];
        if (k->kind == VK_STR && mg_str_exact(k->u.s) && k->u.s->len == kl &&
            memcmp(k->u.s->data, key, kl) == 0)
            return &o->items[i + 1];
    }
    return NULL;
}

static int
glob_named(const struct mg_val *v, const char *mod, const char *name)
{
    const struct mg_obj *o = v->kind == VK_OBJ ? v->u.o : NULL;
    if (o == NULL || o->kind != OK_GLOBAL)
        return 0;
    const struct mg_glob *g = (const struct mg_glob *)o;
    return strcmp(g->module->data, mod) == 0 &&
           strcmp(g->name->data, name) == 0;
}

/* numpy.dtype(descr, ...) [+ BUILD state]: element size and whether any
   part of it holds objects. */
static uint64_t
dtype_size(const struct mg_val *dt, int *object, unsigned depth)
{
    const struct mg_obj *o = dt->kind == VK_OBJ ? dt->u.o : NULL;
    if (o == NULL || o->kind != OK_CALL || depth == 0)
        return 0;
    const struct mg_call *c = (const struct mg_call *)o;
    if (!glob_named(&c->callee, "numpy", "dtype"))
        return 0;
    const struct mg_obj *a = mg_val_obj(&c->args, OK_TUPLE);
    if (a == NULL || a->nkept < 1 || a->items[0].kind != VK_STR)
        return 0;
    uint64_t sz =
        mg_numpy_type_size(a->items[0].u.s->data, a->items[0].u.s->len, object);
    /* Structured types: a field of object type makes the array hold
       objects; the fields live in the BUILD state. */
    if (c->has_state) {
        const struct mg_obj *t = mg_val_obj(&c->state, OK_TUPLE);
        for (uint32_t i = 0; t != NULL && i < t->nkept; i++) {
            const struct mg_obj *f = mg_val_obj(&t->items[i], OK_DICT);
            for (uint32_t j = 1; f != NULL && j < f->nkept; j += 2) {
                const struct mg_obj *ft = mg_val_obj(&f->items[j], OK_TUPLE);
                if (ft != NULL && ft->nkept > 0)
                    (void)dtype_size(&ft->items[0], object, depth - 1);
            }
        }
    }
    return sz;
}

/*
 * joblib's NumpyUnpickler: after BUILD of a NumpyArrayWrapper, the array
 * data follows in the stream (a padding byte and padding when the wrapper
 * has numpy_array_alignment_bytes), or, for object arrays, a whole pickle.
 * Consume it as joblib would, so that the opcodes after it are read from
 * the right place.
 */
static enum mg_status
joblib_array(struct pscan *ps, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    struct mg_ctx *ctx = ps->ctx;
    const struct mg_call *c = (const struct mg_call *)ev->target->u.o;
    const struct mg_val *shape = dict_get(&c->state, "shape");
    const struct mg_val *dtype = dict_get(&c->state, "dtype");
    const struct mg_val *align =
        dict_get(&c->state, "numpy_array_alignment_bytes");
    int object = 0;
    uint64_t itemsize = dtype ? dtype_size(dtype, &object, 4) : 0;
    const struct mg_obj *sh = shape ? mg_val_obj(shape, OK_TUPLE) : NULL;
    uint64_t count = 1;
    int bad = itemsize == 0 || sh == NULL || (sh->flags & OBJ_TRUNC);
    for (uint32_t i = 0; !bad && i < sh->nkept; i++) {
        const struct mg_val *d = &sh->items[i];
        if (d->kind != VK_INT || d->u.i < 0 ||
            ckd_mul_u64(&count, count, (uint64_t)d->u.i))
            bad = 1;
    }
    /* joblib flushes the current frame before writing array data: what
       follows is outside any frame. */
    mg_pvm_end_frame(vm);
    if (object) {
        /* A pickle of the array, inside this pickle's stream. */
        struct mg_pickle_opts o = {.single = 1};
        struct mg_pickle_summary sum;
        return mg_pickle_scan_stream(ctx, vm->s, &o, &sum);
    }
    if (bad)
        return add(ps, MG_SEV_SUSPICIOUS, "joblib-layout", ev->offset, NULL,
                   NULL, NULL,
                   "a joblib array wrapper whose shape or dtype cannot be "
                   "read: its data cannot be told from the pickle");
    const uint8_t *p;
    enum mg_status st;
    if (align != NULL && align->kind == VK_INT) {
        st = mg_stream_need(vm->s, 1, &p, NULL);
        if (st != MG_OK)
            return st == MG_E_NOMEM ? st : MG_OK; /* the machine reports
                                                     the truncation */
        uint8_t pad = p[0];
        mg_stream_advance(vm->s, 1);
        st = mg_stream_skip(vm->s, pad, NULL);
        if (st != MG_OK)
            return st == MG_E_NOMEM ? st : MG_OK;
    }
    uint64_t bytes, done = 0;
    if (ckd_mul_u64(&bytes, count, itemsize))
        st = MG_E_LIMIT;
    else
        st = mg_stream_skip(vm->s, bytes, &done);
    if (st == MG_E_NOMEM)
        return st;
    if (st != MG_OK)
        return add(ps, MG_SEV_SUSPICIOUS, "joblib-layout", ev->offset, NULL,
                   NULL, NULL,
                   "a joblib array declares more data than the file holds");
    return MG_OK;
}

static enum mg_status
on_call(struct pscan *ps, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    const struct mg_call *c = ev->call;
    char msg[700], callee[300];
    enum mg_severity sev = MG_SEV_UNKNOWN;
    struct mg_class cl = {MG_SEV_UNKNOWN, CAT_UNKNOWN, 0};
    const char *mod = NULL, *name = NULL;
    if (ev->glob != NULL) {
        cl = classify(ps, ev->glob);
        if (cl.safe)
            return MG_OK;
        sev = cl.sev < MG_SEV_UNKNOWN ? MG_SEV_UNKNOWN : cl.sev;
        mg_glob_qualname(ev->glob, callee, sizeof(callee));
        mod = ev->glob->module->data;
        name = ev->glob->name->data;
    } else {
        snprintf(callee, sizeof(callee), "an object of unknown type");
    }
    struct mg_val cv;
    cv.kind = VK_OBJ;
    cv.u.o = (struct mg_obj *)&c->h;
    const char *rendered = mg_pvm_render(vm, &cv);
    snprintf(msg, sizeof(msg), "%s calls %s%s%s%s",
             mg_opcodes[ev->opcode].name ? mg_opcodes[ev->opcode].name : "call",
             rendered, ev->glob ? " (" : "",
             ev->glob ? mg_cat_text(cl.cat) : "", ev->glob ? ")" : "");
    enum mg_status st =
        add(ps, sev, "pickle-call", ev->offset, mod, name, NULL, msg);
    if (st == MG_OK)
        st = arg_indicators(ps, &c->args, ev->offset, callee, 4);
    if (st == MG_OK)
        st = arg_indicators(ps, &c->kwargs, ev->offset, callee, 4);
    if (st == MG_OK && cl.cat == CAT_DESER)
        st = nested_pickles(ps, c, ev->offset);
    return st;
}

static enum mg_status
on_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    struct pscan *ps = user;
    enum mg_status st = MG_OK;
    char msg[600], q[400];
    switch (ev->kind) {
    case PEV_OPCODE:
        break;
    case PEV_GLOBAL: {
        /* In bytes that may not be a pickle at all (text, junk after a
           break), an import of a name no module can have does not make
           the stream count. */
        if (ps->tentative && !ps->relevant &&
            !plausible_module(ev->glob->module))
            break;
        st = make_relevant(ps);
        if (st != MG_OK)
            break;
        struct mg_class cl = classify(ps, ev->glob);
        mg_glob_qualname(ev->glob, q, sizeof(q));
        if (ev->glob->name->len == 0)
            snprintf(msg, sizeof(msg), "%s the module %s (%s)",
                     via_text(ev->glob->via), q, mg_cat_text(cl.cat));
        else
            snprintf(msg, sizeof(msg), "%s %s (%s)", via_text(ev->glob->via), q,
                     mg_cat_text(cl.cat));
        st = add(ps, cl.sev, "pickle-global", ev->offset,
                 ev->glob->module->data, ev->glob->name->data, NULL, msg);
        break;
    }
    case PEV_CALL:
        st = make_relevant(ps);
        if (st == MG_OK)
            st = on_call(ps, vm, ev);
        break;
    case PEV_METHOD: {
        if (strcmp(ev->method, "persistent_load") == 0)
            break;
        st = make_relevant(ps);
        if (st != MG_OK)
            break;
        const struct mg_val *t = ev->target;
        if (ev->glob != NULL && strcmp(ev->method, "__setstate__") == 0 &&
            t->kind == VK_OBJ && t->u.o->kind == OK_CALL &&
            strcmp(ev->glob->module->data, "joblib.numpy_pickle") == 0 &&
            strcmp(ev->glob->name->data, "NumpyArrayWrapper") == 0) {
            st = joblib_array(ps, vm, ev);
            break;
        }
        if (ev->glob != NULL) {
            struct mg_class cl = classify(ps, ev->glob);
            if (cl.safe)
                break;
            mg_glob_qualname(ev->glob, q, sizeof(q));
            snprintf(msg, sizeof(msg), "%s calls %s() of %s %s (%s)",
                     mg_opcodes[ev->opcode].name, ev->method,
                     t->kind == VK_OBJ && t->u.o->kind == OK_GLOBAL
                         ? "the global"
                         : "an instance of",
                     q, mg_cat_text(cl.cat));
            st = add(ps, cl.sev < MG_SEV_UNKNOWN ? MG_SEV_UNKNOWN : cl.sev,
                     "pickle-method", ev->offset, ev->glob->module->data,
                     ev->glob->name->data, NULL, msg);
        } else if (t->kind == VK_OBJ && t->u.o->kind != OK_PERSID) {
            snprintf(msg, sizeof(msg),
                     "%s calls %s() of an object of "
                     "unknown type",
                     mg_opcodes[ev->opcode].name, ev->method);
            st = add(ps, MG_SEV_UNKNOWN, "pickle-method", ev->offset, NULL,
                     NULL, NULL, msg);
        }
        break;
    }
    case PEV_ANOMALY:
        if (!ps->relevant && ps->tentative) {
            if (ps->nheld < MAX_HELD) {
                struct held *h = &ps->held[ps->nheld++];
                h->sev = ev->sev;
                h->rule = ev->rule;
                h->offset = ev->offset;
                snprintf(h->msg, sizeof(h->msg), "%s", ev->msg);
            }
            break;
        }
        st = add(ps, ev->sev, ev->rule, ev->offset, NULL, NULL, NULL, ev->msg);
        break;
    case PEV_STRING: {
        const struct mg_str *s = ev->str;
        size_t tlen = vm->ev_text_len;
        for (uint16_t bit = 1; bit != 0 && bit <= IND_PICKLE; bit <<= 1) {
            if (!(s->ind & bit))
                continue;
            char ind[200];
            if (mg_ind_extract(ev->msg, tlen, bit, ind, sizeof(ind)) == 0)
                continue;
            enum mg_severity sev =
                bit == IND_SHELL ? MG_SEV_SUSPICIOUS : MG_SEV_INFO;
            if (sev == MG_SEV_SUSPICIOUS && ps->tentative && !ps->relevant)
                continue; /* junk after a break stays quiet */
            snprintf(msg, sizeof(msg), "%s in a string: %s", mg_ind_label(bit),
                     ind);
            st = add(ps, sev, mg_ind_rule(bit), ev->offset, NULL, NULL, ind,
                     msg);
            if (st != MG_OK)
                break;
        }
        break;
    }
    default:
        break;
    }
    if (st == MG_OK && ps->o->on_event != NULL)
        st = ps->o->on_event(ps->o->user, vm, ev);
    return st;
}

/* Find the next plausible pickle start: PROTO 2-5, or a protocol 0/1
   GLOBAL line pair. Leaves the stream there; 0 when none. */
static int
resync(struct mg_stream *s, uint64_t *searched)
{
    while (*searched < MG_RESYNC_WINDOW) {
        const uint8_t *p;
        size_t n;
        if (mg_stream_avail(s, &p, &n) != MG_OK || n == 0)
            return 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] != 0x80 && p[i] != 'c')
                continue;
            mg_stream_advance(s, i);
            *searched += i;
            const uint8_t *q;
            size_t avail = 0;
            enum mg_status st = mg_stream_need(s, 256, &q, &avail);
            size_t have = st == MG_OK ? 256 : avail;
            if (st != MG_OK && st != MG_E_TRUNCATED)
                return 0;
            if (have >= 2)
                (void)mg_stream_need(s, have, &q, NULL);
            if (have >= 3 && q[0] == 0x80 && q[1] >= 2 && q[1] <= 5)
                return 1;
            if (have >= 5 && q[0] == 'c' &&
                mg_ind_classify((const char *)q, have) & IND_PICKLE)
                return 1;
            mg_stream_advance(s, 1);
            *searched += 1;
            goto next;
        }
        mg_stream_advance(s, n);
        *searched += n;
next:;
    }
    return 0;
}

/* Move a memory stream back to an absolute offset (junk that a tentative
   stream swallowed may hide the next start). */
static void
rewind_mem(struct mg_stream *s, uint64_t off)
{
    if (s->pull == NULL && off >= s->base && off - s->base <= s->len)
        s->pos = (size_t)(off - s->base);
}

enum mg_status
mg_pickle_scan_stream(struct mg_ctx *ctx,
                      struct mg_stream *s,
                      const struct mg_pickle_opts *o,
                      struct mg_pickle_summary *sum)
{
    static const struct mg_pickle_opts defaults;
    if (o == NULL)
        o = &defaults;
    memset(sum, 0, sizeof(*sum));
    sum->last_proto = -1;
    sum->complete = 1;
    struct pscan *ps = mg_calloc(1, sizeof(*ps));
    if (ps == NULL)
        return MG_E_NOMEM;
    ps->ctx = ctx;
    ps->o = o;
    if (s->pull == NULL) {
        ps->mem = s->buf;
        ps->mem_base = s->base;
        ps->mem_len = s->len;
    }
    struct mg_pvm vm;
    mg_pvm_init(&vm, ctx->lim, on_event, ps);
    if (o->keep_items > vm.keep_items)
        vm.keep_items = o->keep_items;
    vm.deadline_ns = ctx->deadline_ns;
    enum mg_status st = MG_OK;
    unsigned idx = 0;
    int after_stop = 0;
    int tentative = o->fallback;
    int trailing_reported = 0;
    uint64_t searched = 0;
    for (;;) {
        if (idx >= ctx->lim->max_streams) {
            st = mg_ctx_incomplete(ctx, "max-streams",
                                   (int64_t)mg_stream_tell(s), NULL);
            break;
        }
        if (mg_ctx_expired(ctx)) {
            st = mg_ctx_incomplete(ctx, "max-seconds",
                                   (int64_t)mg_stream_tell(s), NULL);
            break;
        }
        ps->tentative = tentative;
        ps->relevant = !tentative;
        ps->nheld = 0;
        struct mg_pvm_result res;
        st = mg_pvm_run(&vm, s, &res);
        sum->end_off = res.end_off;
        if (st != MG_OK)
            sum->complete = 0;
        if (st == MG_E_LIMIT) {
            st = make_relevant(ps);
            if (st == MG_OK)
                st = mg_ctx_incomplete(ctx, vm.limit_name, (int64_t)res.end_off,
                                       NULL);
            sum->relevant = 1;
            break;
        }
        if (st == MG_E_IO) {
            st = mg_ctx_incomplete(ctx, NULL, (int64_t)res.end_off,
                                   "read error");
            break;
        }
        if (st != MG_OK)
            break;
        if (res.end == PEND_EMPTY) {
            if (idx == 0)
                sum->empty = 1;
            break;
        }
        if (res.end == PEND_STOP) {
            st = make_relevant(ps);
            if (st != MG_OK)
                break;
            sum->relevant = 1;
            sum->streams++;
            sum->last_proto = res.proto;
            if (o->on_stop != NULL) {
                st = o->on_stop(o->user, &vm, &res);
                if (st != MG_OK)
                    break;
            }
            if (o->single)
                break;
            after_stop = 1;
            tentative = 1;
            idx++;
            continue;
        }
        /* PEND_BREAK */
        if (ps->relevant) {
            sum->relevant = 1;
            sum->broken++;
            char msg[600];
            snprintf(msg, sizeof(msg),
                     "pickle stream %u is broken at offset %" PRIu64
                     " (%s); everything before the break was analysed, as "
                     "an unpickler would have run it",
                     idx, res.end_off, res.why);
            st = add(ps, MG_SEV_SUSPICIOUS, "pickle-broken", res.end_off, NULL,
                     NULL, NULL, msg);
            if (st != MG_OK)
                break;
        } else if (after_stop && !trailing_reported) {
            trailing_reported = 1;
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "bytes after the end of the pickle (STOP) at offset "
                     "%" PRIu64 " are not a pickle",
                     res.start);
            st = add(ps, MG_SEV_SUSPICIOUS, "pickle-trailing-data", res.start,
                     NULL, NULL, NULL, msg);
            if (st != MG_OK)
                break;
        }
        if (o->single)
            break;
        if (!ps->relevant)
            rewind_mem(s, res.start + 1);
        else if (mg_stream_tell(s) <= res.end_off)
            rewind_mem(s, res.end_off + 1);
        if (!resync(s, &searched))
            break;
        after_stop = 0;
        tentative = 1;
        idx++;
    }
    mg_pvm_fini(&vm);
    mg_free(ps);
    return st;
}

/* Text: valid UTF-8 with few control characters. */
static int
looks_like_text(const uint8_t *p, size_t n)
{
    size_t ctl = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == 0)
            return 0;
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f')
            ctl++;
    }
    return ctl * 100 <= n;
}

enum mg_status
mg_pickle_scan_fallback(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input_cursor cur;
    struct mg_stream s;
    enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &s);
    if (st != MG_OK)
        return mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    struct mg_pickle_opts o = {.fallback = 1};
    struct mg_pickle_summary sum;
    st = mg_pickle_scan_stream(ctx, &s, &o, &sum);
    mg_stream_fini(&s);
    if (st != MG_OK)
        return st;
    if (sum.relevant) {
        mg_ctx_set_format(ctx, "pickle");
        return MG_OK;
    }
    if (in->head_len == 0) {
        mg_ctx_set_format(ctx, "empty");
        return MG_OK;
    }
    if (looks_like_text(in->head, in->head_len)) {
        mg_ctx_set_format(ctx, "text");
        return MG_OK;
    }
    mg_ctx_set_format(ctx, "data");
    return mg_ctx_findf(ctx, MG_SEV_UNKNOWN, "format-unrecognised", -1,
                        "content is not a format modelgate knows, and not a "
                        "pickle (unpickling stops at offset %" PRIu64
                        " before any import)",
                        sum.end_off);
}

static unsigned
pickle_probe(const uint8_t *h, size_t n, uint64_t size)
{
    (void)size;
    if (n >= 2 && h[0] == 0x80 && h[1] <= 5)
        return h[1] >= 2 ? 16 : 8;
    if (n >= 5 && h[0] == 'c' &&
        (mg_ind_classify((const char *)h, n < 512 ? n : 512) & IND_PICKLE))
        return 12;
    return 0;
}

static enum mg_status
pickle_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input_cursor cur;
    struct mg_stream s;
    enum mg_status st = mg_input_stream(in, 0, UINT64_MAX, &cur, &s);
    if (st != MG_OK)
        return mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
    struct mg_pickle_summary sum;
    st = mg_pickle_scan_stream(ctx, &s, NULL, &sum);
    mg_stream_fini(&s);
    return st;
}

const struct mg_format mg_format_pickle = {"pickle", pickle_probe, pickle_scan};
