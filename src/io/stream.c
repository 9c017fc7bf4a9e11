#include "io/stream.h"

#include <string.h>

#include "core/alloc.h"

void
mg_stream_init_mem(struct mg_stream *s,
                   const void *buf,
                   size_t len,
                   uint64_t base)
{
    memset(s, 0, sizeof(*s));
    s->buf = (const uint8_t *)buf;
    s->len = len;
    s->base = base;
    s->eof = 1;
}

void
mg_stream_init_pull(struct mg_stream *s,
                    mg_pull_fn pull,
                    void *impl,
                    uint64_t base,
                    size_t max_cap)
{
    memset(s, 0, sizeof(*s));
    s->pull = pull;
    s->impl = impl;
    s->base = base;
    s->max_cap = max_cap < MG_STREAM_WINDOW ? MG_STREAM_WINDOW : max_cap;
    s->fit = UINT64_MAX;
}

void
mg_stream_fini(struct mg_stream *s)
{
    mg_free(s->window);
    s->window = NULL;
    s->buf = NULL;
    s->len = s->pos = 0;
}

/* Refill so that at least `want` bytes are buffered from pos, if the
   source has them. */
static enum mg_status
stream_fill(struct mg_stream *s, size_t want)
{
    if (s->pull == NULL || s->eof)
        return s->err;
    if (want > s->max_cap)
        return MG_E_LIMIT;
    /* Move the unread tail to the front. */
    size_t keep = s->len - s->pos;
    if (s->pos > 0) {
        if (keep > 0)
            memmove(s->window, s->window + s->pos, keep);
        s->base += s->pos;
        s->pos = 0;
        s->len = keep;
    }
    /* A source known to be small (one of 100,000 archive members) gets
       a window of its size, not a whole MG_STREAM_WINDOW. */
    size_t usual = MG_STREAM_WINDOW;
    if (s->fit < usual)
        usual = s->fit == 0 ? 1 : (size_t)s->fit;
    size_t need_cap = want < usual ? usual : want;
    if (need_cap > s->cap) {
        uint8_t *w = mg_realloc(s->window, need_cap);
        if (w == NULL)
            return MG_E_NOMEM;
        s->window = w;
        s->cap = need_cap;
    }
    s->buf = s->window;
    while (s->len < want && !s->eof) {
        size_t got = 0;
        enum mg_status st =
            s->pull(s->impl, s->window + s->len, s->cap - s->len, &got);
        if (st != MG_OK) {
            s->err = st;
            s->eof = 1;
            return st;
        }
        if (got == 0)
            s->eof = 1;
        s->len += got;
    }
    return MG_OK;
}

enum mg_status
mg_stream_need(struct mg_stream *s, size_t n, const uint8_t **p, size_t *avail)
{
    if (n > s->len - s->pos) {
        enum mg_status st = stream_fill(s, n);
        if (st != MG_OK && st != MG_E_LIMIT)
            return st;
        if (n > s->len - s->pos) {
            if (avail != NULL)
                *avail = s->len - s->pos;
            return st == MG_E_LIMIT ? MG_E_LIMIT : MG_E_TRUNCATED;
        }
    }
    *p = s->buf + s->pos;
    return MG_OK;
}

enum mg_status
mg_stream_skip(struct mg_stream *s, uint64_t n, uint64_t *skipped)
{
    uint64_t done = 0;
    for (;;) {
        size_t have = s->len - s->pos;
        if ((uint64_t)have >= n - done) {
            s->pos += (size_t)(n - done);
            done = n;
            break;
        }
        done += have;
        s->pos += have;
        if (s->pull == NULL || s->eof)
            break;
        if (s->skip != NULL && n - done > s->cap) {
            /* Past the window: let the source seek instead of reading. */
            uint64_t k = 0;
            enum mg_status st = s->skip(s->impl, n - done, &k);
            if (st != MG_OK) {
                s->err = st;
                s->eof = 1;
                break;
            }
            s->base += s->len + k;
            s->len = s->pos = 0;
            done += k;
            if (done < n) {
                s->eof = 1;
                break;
            }
            continue;
        }
        enum mg_status st = stream_fill(s, 1);
        if (st != MG_OK)
            break;
        if (s->len == s->pos)
            break;
    }
    if (skipped != NULL)
        *skipped = done;
    if (done < n)
        return s->err != MG_OK ? s->err : MG_E_TRUNCATED;
    return MG_OK;
}

enum mg_status
mg_stream_avail(struct mg_stream *s, const uint8_t **p, size_t *n)
{
    if (s->len == s->pos) {
        enum mg_status st = stream_fill(s, 1);
        if (st != MG_OK)
            return st;
    }
    *p = s->buf + s->pos;
    *n = s->len - s->pos;
    return MG_OK;
}

enum mg_status
mg_stream_find(struct mg_stream *s, uint8_t c, size_t max, size_t *len)
{
    return mg_stream_find_from(s, 0, c, max, len);
}

enum mg_status
mg_stream_find_from(
    struct mg_stream *s, size_t from, uint8_t c, size_t max, size_t *len)
{
    size_t scanned = from; /* bytes after pos searched or skipped */
    size_t end = from > SIZE_MAX - max ? SIZE_MAX : from + max;
    for (;;) {
        size_t have = s->len - s->pos;
        size_t lim = have < end ? have : end;
        if (lim > scanned) {
            const uint8_t *q =
                memchr(s->buf + s->pos + scanned, c, lim - scanned);
            if (q != NULL) {
                *len = (size_t)(q - (s->buf + s->pos));
                return MG_OK;
            }
            scanned = lim;
        }
        if (scanned >= end)
            return MG_E_LIMIT;
        if (s->pull == NULL || s->eof)
            return s->err != MG_OK ? s->err : MG_E_TRUNCATED;
        size_t want = have + MG_STREAM_WINDOW / 2;
        if (want > end + 1 || want < have)
            want = end == SIZE_MAX ? end : end + 1;
        if (want > s->max_cap)
            want = s->max_cap;
        if (want <= have)
            return MG_E_LIMIT;
        enum mg_status st = stream_fill(s, want);
        if (st != MG_OK)
            return st;
        if (s->len - s->pos == have)
            return MG_E_TRUNCATED;
    }
}

int
mg_stream_at_end(struct mg_stream *s)
{
    const uint8_t *p;
    size_t n = 0;
    if (mg_stream_avail(s, &p, &n) != MG_OK)
        return 1;
    return n == 0;
}
