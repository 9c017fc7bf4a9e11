/*
 * input.h - what a format scanner reads: a random-access byte source with
 * a known size (file, memory, or a range of another input), or a
 * sequential one (decompressed data). Either way it can be turned into a
 * stream (io/stream.h) from any offset the source allows.
 */
#ifndef MG_CORE_INPUT_H
#define MG_CORE_INPUT_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdint.h>

#include "io/stream.h"
#include "modelgate/modelgate.h"

#define MG_SNIFF_BYTES 4096

struct mg_input {
    uint64_t size;      /* UINT64_MAX when unknown (sequential source) */
    const uint8_t *mem; /* the whole input in memory, or NULL */
    /* Random access; NULL for sequential sources. */
    enum mg_status (*read_at)(
        void *impl, uint64_t off, void *buf, size_t n, size_t *got);
    /* Sequential sources: pull from the start, once. */
    mg_pull_fn pull;
    void *impl;
    uint64_t *bytes_read; /* accounting, may be NULL */
    uint8_t head[MG_SNIFF_BYTES];
    size_t head_len;
};

/* Fill in->head (the sniffing prefix). For sequential sources the bytes
   are remembered and replayed by mg_input_stream. */
enum mg_status mg_input_sniff(struct mg_input *in);

/* Random-access read of exactly n bytes at off (MG_E_TRUNCATED if the
   input ends first). */
enum mg_status
mg_input_read(struct mg_input *in, uint64_t off, void *buf, size_t n);

/* State for streaming an input; lives as long as the stream. */
struct mg_input_cursor {
    struct mg_input *in;
    uint64_t off;
    uint64_t end;
    size_t replay; /* sequential: bytes of head still to replay */
};

/* A stream over [off, off+len) of the input (len UINT64_MAX: to the end).
   Sequential inputs only support off == 0, once. */
enum mg_status mg_input_stream(struct mg_input *in,
                               uint64_t off,
                               uint64_t len,
                               struct mg_input_cursor *cur,
                               struct mg_stream *s);

/*
 * Read a whole input into memory (formats that need random access, such as
 * ZIP, when the input is a decompressed stream). At most max bytes: more
 * is MG_E_LIMIT (*len is then what was read). *buf is mg_malloc'd, NULL
 * when the input was already in memory (then *mem points at it).
 */
enum mg_status mg_input_spool(struct mg_input *in,
                              uint64_t max,
                              uint8_t **buf,
                              const uint8_t **mem,
                              size_t *len);

/* A window [off, off+len) of a random-access input, as an input of its
   own (reads are forwarded; bytes_read accounting is shared). */
struct mg_input_window {
    struct mg_input *parent;
    uint64_t off;
    uint64_t len;
};
enum mg_status mg_input_sub(struct mg_input *parent,
                            uint64_t off,
                            uint64_t len,
                            struct mg_input_window *w,
                            struct mg_input *child);

/* Inputs over memory and files. */
void mg_input_mem(struct mg_input *in, const void *buf, size_t len);

struct mg_file_input {
    int fd;
    uint64_t size;
    uint8_t *data; /* whole file when small enough */
    uint64_t bytes_read;
};
/* Files up to MG_READ_WHOLE bytes are read into memory; larger ones are
   read where the formats need (a ZIP checkpoint: its directory and
   pickles). */
#define MG_READ_WHOLE (1u << 20)
enum mg_status mg_input_file(struct mg_input *in,
                             struct mg_file_input *f,
                             const char *path,
                             char *err,
                             size_t errlen);
void mg_input_file_close(struct mg_file_input *f);

#endif
