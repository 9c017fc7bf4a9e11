/*
 * stream.h - a sequential byte stream with a bounded window. Parsers that
 * consume a stream (the pickle decoder) ask for n contiguous bytes with
 * mg_stream_need(), then advance. Memory-backed streams hand out pointers
 * into the buffer (no copy); pull-backed streams (files, decompressors,
 * archive members) refill a window that grows only up to a cap, so memory
 * stays bounded whatever the input says.
 */
#ifndef MG_IO_STREAM_H
#define MG_IO_STREAM_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

/* Pull up to n bytes into buf; *got = 0 means end of stream. */
typedef enum mg_status (*mg_pull_fn)(void *impl,
                                     void *buf,
                                     size_t n,
                                     size_t *got);

struct mg_stream {
    const uint8_t *buf; /* current data: the memory buffer or the window */
    size_t len;         /* bytes valid in buf */
    size_t pos;         /* read position in buf */
    uint64_t base;      /* absolute offset of buf[0] */
    uint8_t *window;    /* owned, NULL for memory streams */
    size_t cap;         /* window capacity */
    size_t max_cap;     /* the window never grows beyond this */
    uint64_t fit;       /* the source holds at most this many bytes
                           (UINT64_MAX: unknown): no larger window */
    mg_pull_fn pull;
    /* Optional: skip n bytes of the source without reading them (random-
       access sources); *done = bytes skipped, fewer at end of source. */
    enum mg_status (*skip)(void *impl, uint64_t n, uint64_t *done);
    void *impl;
    int eof;
    enum mg_status err; /* sticky source error */
};

void mg_stream_init_mem(struct mg_stream *s,
                        const void *buf,
                        size_t len,
                        uint64_t base);
/* max_cap bounds the contiguous bytes one mg_stream_need may ask for. */
void mg_stream_init_pull(struct mg_stream *s,
                         mg_pull_fn pull,
                         void *impl,
                         uint64_t base,
                         size_t max_cap);
void mg_stream_fini(struct mg_stream *s);

static inline uint64_t
mg_stream_tell(const struct mg_stream *s)
{
    return s->base + s->pos;
}

/*
 * Make n bytes available at the read position and point *p at them,
 * without advancing. MG_E_TRUNCATED when the stream ends first (*avail then
 * holds how many there are, if avail is not NULL), MG_E_LIMIT when n is
 * beyond the window cap, MG_E_NOMEM / MG_E_IO from the source.
 */
enum mg_status
mg_stream_need(struct mg_stream *s, size_t n, const uint8_t **p, size_t *avail);

/* Fast path of mg_stream_need for what is already buffered. */
static inline int
mg_stream_have(const struct mg_stream *s, size_t n)
{
    return n <= s->len - s->pos;
}

static inline const uint8_t *
mg_stream_ptr(const struct mg_stream *s)
{
    return s->buf + s->pos;
}

/* Advance over n bytes that mg_stream_need made available. */
static inline void
mg_stream_advance(struct mg_stream *s, size_t n)
{
    s->pos += n;
}

/* Skip n bytes (any size); MG_E_TRUNCATED if the stream ends first, with
 *skipped (if not NULL) telling how far it got. */
enum mg_status
mg_stream_skip(struct mg_stream *s, uint64_t n, uint64_t *skipped);

/* Buffered bytes at the read position, refilling when none; *n = 0 at end
   of stream. Does not advance. */
enum mg_status
mg_stream_avail(struct mg_stream *s, const uint8_t **p, size_t *n);

/* Locate byte c within the next max bytes; *len = bytes before it.
   MG_E_LIMIT when not within max, MG_E_TRUNCATED when the stream ends. */
enum mg_status
mg_stream_find(struct mg_stream *s, uint8_t c, size_t max, size_t *len);
/* The same, searching from `from` bytes after the read position (they stay
   in the window): *len counts from the read position. To hold two lines
   at once (pointers into the window move when it is refilled). */
enum mg_status mg_stream_find_from(
    struct mg_stream *s, size_t from, uint8_t c, size_t max, size_t *len);

/* 1 when no byte is left. */
int mg_stream_at_end(struct mg_stream *s);

#endif
