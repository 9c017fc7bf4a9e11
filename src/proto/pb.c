/*
 * pb.c - the protobuf wire decoder. Inputs in memory are read in place;
 * others through one window per source. Every length is checked against
 * the end of the enclosing reader with the subtraction form (n > end -
 * pos), varints stop at 10 bytes, tags must name a field in [1, 2^29).
 */
#include "proto/pb.h"

#include <string.h>

void
mg_pb_src_init(struct mg_pb_src *s, struct mg_input *in)
{
    s->in = in;
    s->win_off = 0;
    s->win_len = 0;
    s->err = MG_OK;
}

void
mg_pb_init(struct mg_pb *r, struct mg_pb_src *s, uint64_t off, uint64_t end)
{
    r->src = s;
    r->pos = off;
    r->end = end;
}

/*
 * Up to want bytes at off (fewer at the end of the input): a pointer that
 * stays valid until the next call on the source, and the count in *got.
 */
static const uint8_t *
src_bytes(struct mg_pb_src *s, uint64_t off, size_t want, size_t *got)
{
    struct mg_input *in = s->in;
    *got = 0;
    if (off >= in->size)
        return NULL;
    uint64_t left = in->size - off;
    if ((uint64_t)want > left)
        want = (size_t)left;
    if (in->mem != NULL) {
        *got = want;
        return in->mem + off;
    }
    if (want > MG_PB_WINDOW)
        want = MG_PB_WINDOW;
    if (off >= s->win_off && off - s->win_off <= s->win_len &&
        s->win_len - (size_t)(off - s->win_off) >= want) {
        *got = want;
        return s->win + (off - s->win_off);
    }
    size_t fill = MG_PB_WINDOW;
    if ((uint64_t)fill > left)
        fill = (size_t)left;
    enum mg_status st = mg_input_read(in, off, s->win, fill);
    if (st != MG_OK) {
        s->err = st;
        s->win_len = 0;
        return NULL;
    }
    s->win_off = off;
    s->win_len = fill;
    *got = want;
    return s->win;
}

/* A varint at *pos, not beyond end. */
static enum mg_status
read_varint(struct mg_pb_src *s, uint64_t *pos, uint64_t end, uint64_t *out)
{
    if (*pos >= end)
        return MG_E_TRUNCATED;
    uint64_t room = end - *pos;
    size_t got;
    const uint8_t *p = src_bytes(s, *pos, room < 10 ? (size_t)room : 10, &got);
    if (p == NULL)
        return s->err != MG_OK ? s->err : MG_E_TRUNCATED;
    uint64_t v = 0;
    for (size_t i = 0; i < got; i++) {
        v |= (uint64_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            *pos += i + 1;
            *out = v;
            return MG_OK;
        }
    }
    return got == 10 ? MG_E_MALFORMED : MG_E_TRUNCATED;
}

/* The tag at *pos: field number and wire type. */
static enum mg_status
read_tag(struct mg_pb_src *s,
         uint64_t *pos,
         uint64_t end,
         uint32_t *num,
         uint8_t *wire)
{
    uint64_t t;
    enum mg_status st = read_varint(s, pos, end, &t);
    if (st != MG_OK)
        return st;
    uint64_t n = t >> 3;
    uint8_t w = (uint8_t)(t & 7);
    if (n == 0 || n > 0x1FFFFFFFu || w > MG_PB_I32)
        return MG_E_MALFORMED;
    *num = (uint32_t)n;
    *wire = w;
    return MG_OK;
}

/* Skip one value of the given wire type at *pos (groups: up to and
   including the matching end-group tag). */
static enum mg_status
skip_value(struct mg_pb_src *s,
           uint64_t *pos,
           uint64_t end,
           uint8_t wire,
           uint32_t num,
           uint64_t *content_end)
{
    uint64_t v, tagpos = *pos;
    uint32_t stack[MG_PB_MAX_GROUP_DEPTH];
    unsigned depth = 0;
    for (;;) {
        enum mg_status st = MG_OK;
        switch ((enum mg_pb_wire)wire) {
        case MG_PB_VARINT:
            st = read_varint(s, pos, end, &v);
            break;
        case MG_PB_I64:
            if (end - *pos < 8)
                return MG_E_TRUNCATED;
            *pos += 8;
            break;
        case MG_PB_I32:
            if (end - *pos < 4)
                return MG_E_TRUNCATED;
            *pos += 4;
            break;
        case MG_PB_LEN:
            st = read_varint(s, pos, end, &v);
            if (st == MG_OK && v > end - *pos)
                st = MG_E_TRUNCATED;
            if (st == MG_OK)
                *pos += v;
            break;
        case MG_PB_SGROUP:
            if (depth == MG_PB_MAX_GROUP_DEPTH)
                return MG_E_MALFORMED;
            stack[depth++] = num;
            break;
        case MG_PB_EGROUP:
            if (depth == 0 || stack[depth - 1] != num)
                return MG_E_MALFORMED;
            depth--;
            if (depth == 0)
                *content_end = tagpos;
            break;
        default:
            return MG_E_MALFORMED;
        }
        if (st != MG_OK)
            return st;
        if (depth == 0)
            return MG_OK;
        tagpos = *pos;
        st = read_tag(s, pos, end, &num, &wire);
        if (st != MG_OK)
            return st;
    }
}

enum mg_status
mg_pb_next(struct mg_pb *r, struct mg_pb_field *f)
{
    uint64_t pos = r->pos;
    memset(f, 0, sizeof(*f));
    f->tag_off = pos;
    uint32_t num;
    uint8_t wire;
    enum mg_status st = read_tag(r->src, &pos, r->end, &num, &wire);
    if (st != MG_OK)
        return st;
    f->num = num;
    f->wire = wire;
    switch ((enum mg_pb_wire)wire) {
    case MG_PB_VARINT:
        st = read_varint(r->src, &pos, r->end, &f->v);
        break;
    case MG_PB_I64:
    case MG_PB_I32: {
        size_t w = wire == MG_PB_I64 ? 8 : 4, got;
        if (r->end - pos < w)
            return MG_E_TRUNCATED;
        const uint8_t *p = src_bytes(r->src, pos, w, &got);
        if (p == NULL || got != w)
            return r->src->err != MG_OK ? r->src->err : MG_E_TRUNCATED;
        for (size_t i = 0; i < w; i++)
            f->v |= (uint64_t)p[i] << (8 * i);
        pos += w;
        break;
    }
    case MG_PB_LEN:
        st = read_varint(r->src, &pos, r->end, &f->len);
        if (st == MG_OK && f->len > r->end - pos)
            st = MG_E_TRUNCATED;
        if (st == MG_OK) {
            f->off = pos;
            pos += f->len;
        }
        break;
    case MG_PB_SGROUP: {
        f->off = pos;
        uint64_t cend = pos;
        st = skip_value(r->src, &pos, r->end, wire, num, &cend);
        if (st == MG_OK)
            f->len = cend - f->off; /* the end-group tag excluded */
        break;
    }
    case MG_PB_EGROUP:
        /* An end-group outside any group. */
        return MG_E_MALFORMED;
    default:
        return MG_E_MALFORMED;
    }
    if (st != MG_OK)
        return st;
    r->pos = pos;
    return MG_OK;
}

void
mg_pb_sub(const struct mg_pb *r,
          const struct mg_pb_field *f,
          struct mg_pb *child)
{
    child->src = r->src;
    child->pos = f->off;
    child->end = f->off + f->len;
}

size_t
mg_pb_copy(struct mg_pb_src *s,
           const struct mg_pb_field *f,
           void *buf,
           size_t cap,
           enum mg_status *st)
{
    *st = MG_OK;
    size_t n = f->len < (uint64_t)cap ? (size_t)f->len : cap;
    if (n == 0)
        return 0;
    if (s->in->mem != NULL) {
        memcpy(buf, s->in->mem + f->off, n);
        return n;
    }
    *st = mg_input_read(s->in, f->off, buf, n);
    return *st == MG_OK ? n : 0;
}

size_t
mg_pbx_str(struct mg_pb_src *s,
           const struct mg_pb_field *f,
           char *buf,
           size_t cap)
{
    enum mg_status st;
    size_t n = mg_pb_copy(s, f, buf, cap - 1, &st);
    if (st != MG_OK)
        s->err = st;
    buf[n] = '\0';
    return n;
}

enum mg_status
mg_pbx_pick(const struct mg_pb *r,
            const struct mg_pb_field *f,
            const struct mg_pbx_pick *want,
            size_t n,
            uint64_t *bad)
{
    struct mg_pb m;
    struct mg_pb_field g;
    mg_pb_sub(r, f, &m);
    while (!mg_pb_done(&m)) {
        enum mg_status st = mg_pb_next(&m, &g);
        if (st != MG_OK) {
            *bad = m.pos;
            return st;
        }
        for (size_t i = 0; i < n; i++) {
            const struct mg_pbx_pick *w = &want[i];
            if (w->num != g.num)
                continue;
            if (w->v != NULL && g.wire == MG_PB_VARINT)
                *w->v = g.v;
            else if (w->str != NULL && g.wire == MG_PB_LEN)
                mg_pbx_str(r->src, &g, w->str, w->cap);
            else if (w->raw != NULL && g.wire == MG_PB_LEN)
                *w->raw = g;
        }
    }
    return MG_OK;
}

/* A varint in h[*i..len): 1 ok, 0 cut by the end, -1 invalid. */
static int
mem_varint(const uint8_t *h, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < 10; k++) {
        if (*i >= len)
            return 0;
        uint8_t b = h[(*i)++];
        v |= (uint64_t)(b & 0x7F) << (7 * k);
        if (!(b & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return -1;
}

int
mg_pbx_sniff(const uint8_t *h, size_t len, struct mg_pbx_sniff *s)
{
    memset(s, 0, sizeof(*s));
    size_t i = 0;
    while (i < len && s->n < MG_PBX_SNIFF_MAX) {
        uint64_t tag, v = 0;
        int r = mem_varint(h, len, &i, &tag);
        if (r <= 0)
            return r < 0 ? -1 : 0;
        uint64_t num = tag >> 3;
        unsigned w = (unsigned)(tag & 7);
        if (num == 0 || num > 0x1FFFFFFFu ||
            (w != MG_PB_VARINT && w != MG_PB_I64 && w != MG_PB_LEN &&
             w != MG_PB_I32))
            return -1;
        unsigned k = s->n++;
        s->num[k] = (uint32_t)num;
        s->wire[k] = (uint8_t)w;
        if (w == MG_PB_VARINT) {
            r = mem_varint(h, len, &i, &v);
            if (r < 0)
                return -1;
            s->val[k] = v;
            if (r == 0)
                return 0;
        } else if (w == MG_PB_I64 || w == MG_PB_I32) {
            size_t sz = w == MG_PB_I64 ? 8 : 4;
            if (len - i < sz)
                return 0;
            i += sz;
        } else {
            r = mem_varint(h, len, &i, &v);
            if (r < 0)
                return -1;
            if (r == 0)
                return 0;
            s->val[k] = v;
            s->off[k] = i;
            if (v > len - i)
                return 0; /* runs past the head: fine */
            s->whole[k] = 1;
            int text = 1;
            for (size_t j = 0; j < v && text; j++)
                text = h[i + j] >= 0x20 && h[i + j] != 0x7F;
            s->text[k] = (uint8_t)text;
            i += (size_t)v;
        }
    }
    return 0;
}
