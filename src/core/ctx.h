/*
 * ctx.h - the per-scan context: options, policy, the report being built,
 * the layer stack of nested members and the budget of one input file.
 */
#ifndef MG_CORE_CTX_H
#define MG_CORE_CTX_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdint.h>

#include "core/input.h"
#include "modelgate/modelgate.h"

#define MG_MAX_LAYERS 64 /* hard cap above any settable max_depth */

struct mg_report;
struct mg_scanner;

struct mg_ctx {
    struct mg_scanner *sc;
    const struct mg_limits *lim;
    const struct mg_policy *policy;
    struct mg_report *rep;
    const char *layers[MG_MAX_LAYERS]; /* member names; [0] unused */
    unsigned depth;                    /* 0: the file itself */
    uint64_t total_bytes;              /* decompressed bytes so far */
    uint64_t deadline_ns;              /* 0: none */
    int report_info;
    /* mg_extract_member: the layer wanted ("a!b", as in findings), NULL
       for a scan. Layers off the way to it are skipped; its bytes land in
       got (mg_malloc'd), or got_st says why they could not be read. */
    const char *want;
    uint8_t *got;
    size_t got_len;
    enum mg_status got_st;
    int found;
};

/* A finding as the scanners produce it (strings are copied). */
struct mg_finding_in {
    enum mg_severity sev;
    const char *rule;
    const char *message;
    uint64_t offset;
    int has_offset;
    const char *module;
    const char *name;
    const char *indicator;
};

/* Add a finding at the current layer. MG_E_NOMEM only. */
enum mg_status mg_ctx_add(struct mg_ctx *ctx, const struct mg_finding_in *f);

/* printf-style shorthand. */
__attribute__((format(printf, 5, 6))) enum mg_status
mg_ctx_findf(struct mg_ctx *ctx,
             enum mg_severity sev,
             const char *rule,
             int64_t offset,
             const char *fmt,
             ...);

/*
 * The scan of this input could not finish: a limit (limit_name, e.g.
 * "max-opcodes") or an error. Adds the finding and marks the report
 * incomplete (verdict error unless something worse was found).
 */
enum mg_status mg_ctx_incomplete(struct mg_ctx *ctx,
                                 const char *limit_name,
                                 int64_t offset,
                                 const char *why);

/* Record the format of the current layer (outermost only is kept). */
void mg_ctx_set_format(struct mg_ctx *ctx, const char *format);
/* Replace it with something more precise ("pytorch" for a "zip"). */
void mg_ctx_refine_format(struct mg_ctx *ctx, const char *format);

/* Enter a layer by hand (for a member scanned without sniffing): checks
   the depth limit (reporting it, MG_E_LIMIT) like mg_scan_input does. */
enum mg_status mg_ctx_push(struct mg_ctx *ctx, const char *name);
void mg_ctx_pop(struct mg_ctx *ctx);

/* The one entry point for scanning an input at the current depth: pushes
   a layer (name), checks depth and budget, sniffs, dispatches, pops. For
   the file itself pass name NULL. */
enum mg_status
mg_scan_input(struct mg_ctx *ctx, struct mg_input *in, const char *name);

/* What the container knows of a member (it never replaces sniffing). */
enum mg_hint {
    MG_HINT_NONE = 0,
    /* Raw tensor bytes a loader reads as data (a storage that data.pkl
       references): scanned when a format claims the content, otherwise
       not searched for hidden pickles. */
    MG_HINT_TENSOR_DATA = 1
};
enum mg_status mg_scan_input_hint(struct mg_ctx *ctx,
                                  struct mg_input *in,
                                  const char *name,
                                  enum mg_hint hint);

/* A scanner that a container chooses for one member because the loader
   reads that member with a structure of its own (PyTorch's old tar layout),
   not by what its bytes look like. */
typedef enum mg_status (*mg_member_scan_fn)(struct mg_ctx *ctx,
                                            struct mg_input *in);

/* mg_scan_input, with the member scanned by `scan` instead of the format
   its content sniffs as (scan NULL: exactly mg_scan_input). Layer, depth
   and time are handled the same way. */
enum mg_status mg_scan_input_with(struct mg_ctx *ctx,
                                  struct mg_input *in,
                                  const char *name,
                                  mg_member_scan_fn scan);

/* Count n more decompressed bytes against max-total-bytes: MG_E_LIMIT
   (after reporting it as incomplete) when the budget is spent. */
enum mg_status mg_ctx_charge(struct mg_ctx *ctx, uint64_t n, int64_t offset);

/* Has the time budget run out? */
int mg_ctx_expired(const struct mg_ctx *ctx);

#endif
