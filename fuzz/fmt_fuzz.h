/*
 * fmt_fuzz.h - run one format's scan directly on a fuzz input (no
 * sniffing, no pickle fallback in the way), with a fresh context and
 * report and limits small enough to be reached.
 */
#ifndef MG_FMT_FUZZ_H
#define MG_FMT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/report.h"
#include "formats/format.h"
#include "modelgate/modelgate.h"
#include "pickle/policy.h"

static inline void
fmt_fuzz_limits(struct mg_options *o)
{
    mg_options_init(o);
    o->limits.max_seconds = 10; /* also bounds the HDF5 child */
    o->limits.max_json_depth = 32;
    o->limits.max_json_values = 20000;
    o->limits.max_header_bytes = 1 << 20;
    o->limits.max_tensors = 10000;
    o->limits.max_nesting = 16;
    o->limits.max_members = 1000;
}

/* Scan data with fmt; returns nothing (crashes and sanitizer reports are
   the result). */
static inline void
fmt_fuzz_scan(const struct mg_format *fmt, const uint8_t *data, size_t size)
{
    struct mg_options o;
    fmt_fuzz_limits(&o);
    struct mg_report *rep = mg_report_new("fuzz", 1000);
    if (rep == NULL)
        return;
    struct mg_ctx ctx = {0};
    ctx.lim = &o.limits;
    ctx.policy = mg_policy_builtin();
    ctx.rep = rep;
    ctx.report_info = 1;
    struct mg_input in;
    mg_input_mem(&in, data, size);
    if (mg_input_sniff(&in) == MG_OK) {
        (void)fmt->probe(in.head, in.head_len, in.size);
        (void)fmt->scan(&ctx, &in);
    }
    (void)mg_report_finish(rep);
    mg_report_free(rep);
}

#endif
