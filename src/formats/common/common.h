/*
 * common.h - helpers shared by the non-pickle format modules: rendering
 * hostile strings inside messages, judging paths a loader will open,
 * lenient base64 (as Python's codecs decode it), and random access to an
 * input whatever its source.
 */
#ifndef MG_FORMATS_COMMON_H
#define MG_FORMATS_COMMON_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/input.h"

/*
 * Render n bytes of untrusted text for a message: printable ASCII and
 * valid UTF-8 stay, everything else becomes \n, \t, \xNN; at most max
 * source bytes are shown, then "...". Always NUL-terminates dst (cap > 0).
 * Returns dst.
 */
char *mg_quote(char *dst, size_t cap, const void *s, size_t n, size_t max);

/* What a path read from a model would make a loader do. */
enum mg_path_risk {
    MG_PATH_OK = 0,   /* relative, inside the model folder */
    MG_PATH_EMPTY,    /* empty */
    MG_PATH_ABSOLUTE, /* /x, \x, C:\x, C:/x, \\server\share */
    MG_PATH_PARENT,   /* a ".." component: leaves the folder */
    MG_PATH_URL,      /* scheme://... (http, gs, s3, hdfs, file...) */
    MG_PATH_HOME,     /* ~ or ~user: expanded by some loaders */
    MG_PATH_NUL,      /* holds a NUL byte (truncated by C loaders) */
    MG_PATH_SEPARATOR /* a bare file name was expected: holds / or \ */
};

/* Classify a path. bare: the field holds a file name, not a path. */
enum mg_path_risk mg_path_risk(const char *p, size_t n, int bare);
/* English for a risk ("is absolute", "climbs out with '..'"...). */
const char *mg_path_risk_text(enum mg_path_risk r);

/*
 * Decode base64 as Python's binascii.a2b_base64 does in its default
 * (non-strict) mode: characters outside the alphabet are skipped, enough
 * '=' after 2 or 3 characters ends the data. Writes at most cap bytes;
 * returns the decoded length (may exceed cap: only cap were written), or
 * (size_t)-1 where Python raises (a quantum left incomplete).
 */
size_t mg_b64_decode(const char *s, size_t n, uint8_t *dst, size_t cap);

/* Is s (n bytes) plausibly a base64 blob: at least min characters of the
   alphabet, with only whitespace or padding besides? */
int mg_b64_looks(const char *s, size_t n, size_t min);

/*
 * Random access to an input. Sequential inputs (decompressed streams) are
 * read into memory, at most max bytes; *buf then owns the copy (free with
 * mg_free) and *use points to tmp. Otherwise *use is in itself and *buf
 * NULL. MG_E_LIMIT when the input is larger than max, MG_E_NOMEM, or an
 * I/O status.
 */
enum mg_status mg_input_random(struct mg_input *in,
                               uint64_t max,
                               struct mg_input *tmp,
                               uint8_t **buf,
                               struct mg_input **use);

/*
 * mg_input_random() for a format scan: 1 when *use is ready (free *buf
 * afterwards); 0 when not, the problem already reported (a limit, an I/O
 * error) and *st what the scan returns.
 */
int mg_fmt_random(struct mg_ctx *ctx,
                  struct mg_input *in,
                  uint64_t max,
                  struct mg_input *tmp,
                  uint8_t **buf,
                  struct mg_input **use,
                  enum mg_status *st);

/*
 * A finding of one kind, listed while *count (incremented here) stays
 * within MG_FORMAT_MAX_REPORTS, counted after that; mg_fmt_capped_rest()
 * reports how many of each kind were only counted.
 */
__attribute__((format(printf, 6, 7))) enum mg_status
mg_fmt_capped(struct mg_ctx *ctx,
              unsigned *count,
              enum mg_severity sev,
              const char *rule,
              int64_t off,
              const char *fmt,
              ...);
enum mg_status mg_fmt_vcapped(struct mg_ctx *ctx,
                              unsigned *count,
                              enum mg_severity sev,
                              const char *rule,
                              int64_t off,
                              const char *fmt,
                              va_list ap) __attribute__((format(printf, 6, 0)));
enum mg_status mg_fmt_capped_rest(struct mg_ctx *ctx,
                                  const unsigned *counts,
                                  const char *const *rules,
                                  size_t n);

/*
 * A protobuf that cannot be read any further (why: MG_E_MALFORMED or
 * MG_E_TRUNCATED: a finding of rule, saying who refuses it; other
 * statuses: incomplete). Sets *stop; reports only the first time.
 */
enum mg_status mg_fmt_pb_damage(struct mg_ctx *ctx,
                                int *stop,
                                const char *rule,
                                enum mg_status why,
                                uint64_t off,
                                const char *where,
                                const char *refusers);

/* Call in long loops: every 16384th call checks the time budget; 1 when
   it ran out (reported as a max-seconds limit, *st the status). */
int
mg_fmt_tick(struct mg_ctx *ctx, uint64_t *n, uint64_t off, enum mg_status *st);

/* Read [off, off+n) into a new buffer (n <= cap); MG_E_TRUNCATED when the
   input is shorter. *out is mg_free'd by the caller. */
enum mg_status
mg_input_dup(struct mg_input *in, uint64_t off, size_t n, uint8_t **out);

/* The first bytes at off without advancing anything (for probing inside
   scans): reads min(n, size-off) bytes into buf, returns the count. */
size_t mg_input_peek(struct mg_input *in, uint64_t off, void *buf, size_t n);

/* Does h (n bytes) hold needle anywhere (for probes over a head)? */
int mg_has(const void *h, size_t n, const char *needle);

/* Is the printable character c allowed in a Python identifier (ASCII)? */
static inline int
mg_is_ident(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

#endif
