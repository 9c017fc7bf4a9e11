/*
 * pb.h - a bounded protobuf wire-format decoder over an input (memory or
 * random-access file, through a small window). It knows no schema: it
 * yields (field number, wire type, value or payload range) one field at a
 * time, and a child reader over a length-delimited payload cannot see past
 * it. Nothing is allocated; big payloads (tensor bytes) are skipped, not
 * read. Schemas live in the format modules (onnx, savedmodel).
 *
 *     struct mg_pb_src src; mg_pb_src_init(&src, in);
 *     struct mg_pb r; mg_pb_init(&r, &src, 0, in->size);
 *     struct mg_pb_field f;
 *     while (!mg_pb_done(&r)) {
 *         if ((st = mg_pb_next(&r, &f)) != MG_OK) break;   // malformed
 *         if (f.num == 7 && f.wire == MG_PB_LEN) { mg_pb_sub(&r, &f, &g); ...}
 *     }
 */
#ifndef MG_PROTO_PB_H
#define MG_PROTO_PB_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "core/input.h"

enum mg_pb_wire {
    MG_PB_VARINT = 0,
    MG_PB_I64 = 1,
    MG_PB_LEN = 2,
    MG_PB_SGROUP = 3,
    MG_PB_EGROUP = 4,
    MG_PB_I32 = 5
};

#define MG_PB_WINDOW 8192u
/* Groups nested inside a skipped group (the wire format has no length for
   them, so skipping one means parsing it). */
#define MG_PB_MAX_GROUP_DEPTH 64u

/* The byte source, shared by a reader and all its children. */
struct mg_pb_src {
    struct mg_input *in;
    uint64_t win_off;
    size_t win_len;
    enum mg_status err; /* sticky I/O error */
    uint8_t win[MG_PB_WINDOW];
};

struct mg_pb {
    struct mg_pb_src *src;
    uint64_t pos;
    uint64_t end;
};

struct mg_pb_field {
    uint32_t num;
    uint8_t wire;
    uint64_t tag_off; /* offset of the tag in the input */
    uint64_t v;       /* VARINT, I64, I32: the value */
    uint64_t off;     /* LEN, SGROUP: where the payload starts */
    uint64_t len;     /* LEN, SGROUP: its length (a group's without its
                         end-group tag) */
};

void mg_pb_src_init(struct mg_pb_src *s, struct mg_input *in);
/* A reader over [off, end) of the source (end <= input size). */
void
mg_pb_init(struct mg_pb *r, struct mg_pb_src *s, uint64_t off, uint64_t end);

static inline int
mg_pb_done(const struct mg_pb *r)
{
    return r->pos >= r->end;
}

/*
 * Decode the next field and advance past it (payloads and groups are
 * skipped). MG_E_MALFORMED for an invalid tag, wire type or varint,
 * MG_E_TRUNCATED when a length runs past the reader's end, or the source's
 * I/O status. On error the reader does not move.
 */
enum mg_status mg_pb_next(struct mg_pb *r, struct mg_pb_field *f);

/* A child reader over a LEN field's payload. */
void mg_pb_sub(const struct mg_pb *r,
               const struct mg_pb_field *f,
               struct mg_pb *child);

/*
 * Copy a LEN payload (at most cap bytes) into buf; returns the number of
 * bytes copied (the full length is f->len), or 0 with *st set on an I/O
 * error.
 */
size_t mg_pb_copy(struct mg_pb_src *s,
                  const struct mg_pb_field *f,
                  void *buf,
                  size_t cap,
                  enum mg_status *st);

/* A LEN field as a NUL-terminated string (truncated to cap-1 bytes);
   returns the bytes copied (0 on I/O error, with the source's err set). */
size_t mg_pbx_str(struct mg_pb_src *s,
                  const struct mg_pb_field *f,
                  char *buf,
                  size_t cap);

/* A field mg_pbx_pick() keeps: a LEN field as a NUL-terminated string
   (str, cap bytes), a LEN field itself (raw: its payload range), or a
   VARINT's value (v); set one of the three. */
struct mg_pbx_pick {
    uint32_t num;
    char *str;
    size_t cap;
    struct mg_pb_field *raw;
    uint64_t *v;
};

/*
 * Read the LEN field f of r as a message and keep its fields named in
 * want (n of them, of the wire type each expects; the last occurrence
 * wins, one that is absent leaves its target as it was). MG_OK, or the
 * status of the first field that cannot be read (malformed, truncated,
 * I/O), *bad then its offset; fields before it are kept.
 */
enum mg_status mg_pbx_pick(const struct mg_pb *r,
                           const struct mg_pb_field *f,
                           const struct mg_pbx_pick *want,
                           size_t n,
                           uint64_t *bad);

/* Probing: the top-level fields of a message prefix held in memory. */
#define MG_PBX_SNIFF_MAX 16
struct mg_pbx_sniff {
    unsigned n;
    uint32_t num[MG_PBX_SNIFF_MAX];
    uint8_t wire[MG_PBX_SNIFF_MAX];
    uint64_t val[MG_PBX_SNIFF_MAX];  /* VARINT value, LEN length */
    size_t off[MG_PBX_SNIFF_MAX];    /* LEN payload offset in h */
    uint8_t whole[MG_PBX_SNIFF_MAX]; /* LEN payload entirely in h */
    uint8_t text[MG_PBX_SNIFF_MAX];  /* ...and printable text */
};
/* 0 when every field in h[0..len) is well formed (the last one may be cut
   by the end of h), -1 otherwise. At most MG_PBX_SNIFF_MAX are kept. */
int mg_pbx_sniff(const uint8_t *h, size_t len, struct mg_pbx_sniff *s);

#endif
