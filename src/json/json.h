/*
 * json.h - a bounded, strict JSON parser for hostile headers (safetensors,
 * Keras configs). It builds a compact tree of 16-byte nodes that point
 * into the source text; strings are validated when parsed and decoded on
 * demand. Depth and node count are bounded by the caller's limits, the
 * text by 4 GiB. Duplicate keys are not an error: they are recorded, as
 * loaders disagree on which value wins.
 *
 * Two dialects: strict RFC 8259 (what serde_json accepts: safetensors)
 * and "python" (what Python's json.loads accepts: NaN, Infinity,
 * -Infinity and unpaired surrogate escapes; Keras configs).
 *
 *     struct mg_json_doc d;
 *     struct mg_json_opts o = {.max_depth = 64, .max_nodes = 1000000};
 *     if (mg_json_parse(&d, text, len, &o) != MG_OK) ... d.err, d.err_off
 *     uint32_t v = mg_json_get(&d, MG_JSON_ROOT, "dtype");
 *     mg_json_free(&d);
 */
#ifndef MG_JSON_JSON_H
#define MG_JSON_JSON_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

enum mg_json_type {
    MG_JSON_NULL = 0,
    MG_JSON_FALSE,
    MG_JSON_TRUE,
    MG_JSON_NUMBER,
    MG_JSON_STRING,
    MG_JSON_ARRAY,
    MG_JSON_OBJECT
};

/* Node flags. */
#define MG_JSON_F_ESCAPES 0x01u /* string holds backslash escapes */
#define MG_JSON_F_INTEGER 0x02u /* number: digits only, maybe a '-' */
#define MG_JSON_F_NEG     0x04u /* number starts with '-' */
#define MG_JSON_F_SPECIAL 0x08u /* number is NaN/Infinity (python) */
#define MG_JSON_F_KEY     0x10u /* string is an object key */
#define MG_JSON_F_SURR    0x20u /* string holds an unpaired surrogate */

/* Node 0 is the root value; 0 also means "none" for links, which is
   unambiguous because the root is never a child or a sibling. */
#define MG_JSON_ROOT 0u
#define MG_JSON_NONE 0u

struct mg_json_node {
    uint8_t type;
    uint8_t flags;
    uint16_t pad;
    uint32_t next; /* next sibling; for a key: its value */
    uint32_t a;    /* scalar: offset in text; container: first child */
    uint32_t len;  /* scalar: raw length (string: without quotes);
                      container: member or element count */
};

#define MG_JSON_MAX_DUPS 16

struct mg_json_opts {
    uint64_t max_depth; /* containers open at once */
    uint64_t max_nodes; /* values and keys */
    int python;         /* accept Python json.loads extensions */
};

struct mg_json_doc {
    const char *text;
    size_t len;
    struct mg_json_node *nodes;
    uint32_t n;
    uint32_t cap;
    /* Duplicate keys: total count, and the key nodes of the first ones
       (the later occurrence). */
    uint32_t ndup;
    uint32_t dups[MG_JSON_MAX_DUPS];
    /* On failure: what and where (offset in text). limit is the limit's
       name when a limit stopped the parse (status MG_E_LIMIT). */
    const char *err;
    const char *limit;
    size_t err_off;
};

/*
 * Parse text (not NUL-terminated; must outlive the doc). Returns MG_OK,
 * MG_E_MALFORMED (d->err, d->err_off), MG_E_LIMIT (d->limit) or
 * MG_E_NOMEM. The doc must be freed with mg_json_free() in every case.
 */
enum mg_status mg_json_parse(struct mg_json_doc *d,
                             const char *text,
                             size_t len,
                             const struct mg_json_opts *o);
void mg_json_free(struct mg_json_doc *d);

static inline const struct mg_json_node *
mg_json_node(const struct mg_json_doc *d, uint32_t i)
{
    return &d->nodes[i];
}

/* Type of node i. */
static inline enum mg_json_type
mg_json_type_of(const struct mg_json_doc *d, uint32_t i)
{
    return (enum mg_json_type)d->nodes[i].type;
}

/* First member key of an object / first element of an array (NONE if
   empty), and the next one. For objects iterate keys:
   for (k = mg_json_first(d, o); k; k = mg_json_next_key(d, k)). */
uint32_t mg_json_first(const struct mg_json_doc *d, uint32_t container);
static inline uint32_t
mg_json_next(const struct mg_json_doc *d, uint32_t i)
{
    return d->nodes[i].next;
}
/* The value of key node k, and the key after it. */
static inline uint32_t
mg_json_value(const struct mg_json_doc *d, uint32_t k)
{
    return d->nodes[k].next;
}
uint32_t mg_json_next_key(const struct mg_json_doc *d, uint32_t k);

/* The value of the (last, as Python and serde_json keep) member named key
   of object obj; NONE when absent or obj is not an object. */
uint32_t
mg_json_get(const struct mg_json_doc *d, uint32_t obj, const char *key);

/* Does string node i equal s (decoded)? */
int mg_json_str_eq(const struct mg_json_doc *d, uint32_t i, const char *s);
/* Does string node i start with prefix (decoded)? */
int
mg_json_str_prefix(const struct mg_json_doc *d, uint32_t i, const char *prefix);

/*
 * Decode string node i into buf (UTF-8; unpaired surrogates as their
 * 3-byte form). Writes at most cap-1 bytes plus a NUL; returns the full
 * decoded length (so a result >= cap means truncated).
 */
size_t
mg_json_str(const struct mg_json_doc *d, uint32_t i, char *buf, size_t cap);
/* Decoded length of string node i. */
size_t mg_json_str_len(const struct mg_json_doc *d, uint32_t i);

/* Integer value of a number node written as digits only (no fraction,
   exponent or sign) that fits in 64 bits; 0 = ok, -1 otherwise. */
int mg_json_u64(const struct mg_json_doc *d, uint32_t i, uint64_t *out);

/*
 * Python's json.loads(bytes): detect UTF-8 (with or without BOM), UTF-16
 * or UTF-32 exactly as json.detect_encoding does, and decode with
 * 'surrogatepass' into UTF-8. *out is text itself when no conversion was
 * needed (then *owned is 0), else an mg_malloc'd buffer (*owned 1).
 * MG_E_MALFORMED when the bytes do not decode, MG_E_NOMEM, MG_E_LIMIT
 * when the result would exceed max_out bytes.
 */
enum mg_status mg_json_py_bytes(const uint8_t *b,
                                size_t n,
                                size_t max_out,
                                const char **out,
                                size_t *outlen,
                                int *owned);

#endif
