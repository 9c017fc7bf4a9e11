#include "core/scanner.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/ctx.h"
#include "core/limits.h"
#include "core/report.h"
#include "pickle/policy.h"

const char *
mg_strerror(enum mg_status st)
{
    switch (st) {
    case MG_OK:
        return "success";
    case MG_E_NOMEM:
        return "out of memory";
    case MG_E_IO:
        return "input/output error";
    case MG_E_MALFORMED:
        return "malformed input";
    case MG_E_TRUNCATED:
        return "truncated input";
    case MG_E_LIMIT:
        return "limit reached";
    case MG_E_UNSUPPORTED:
        return "unsupported";
    case MG_E_BAD_SIGNATURE:
        return "bad signature";
    case MG_E_SANDBOX:
        return "sandbox error";
    case MG_E_INVALID:
        return "invalid argument";
    case MG_E_INTERNAL:
        return "internal error";
    default:
        return "unknown status";
    }
}

void
mg_options_init(struct mg_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    struct mg_limits *l = &opt->limits;
    l->max_opcodes = MG_DEFAULT_MAX_OPCODES;
    l->max_stack = MG_DEFAULT_MAX_STACK;
    l->max_memo = MG_DEFAULT_MAX_MEMO;
    l->max_string = MG_DEFAULT_MAX_STRING;
    l->max_values = MG_DEFAULT_MAX_VALUES;
    l->max_value_depth = MG_DEFAULT_MAX_VALUE_DEPTH;
    l->max_findings = MG_DEFAULT_MAX_FINDINGS;
    l->max_streams = MG_DEFAULT_MAX_STREAMS;
    l->max_depth = MG_DEFAULT_MAX_DEPTH;
    l->max_members = MG_DEFAULT_MAX_MEMBERS;
    l->max_member_bytes = MG_DEFAULT_MAX_MEMBER_BYTES;
    l->max_total_bytes = MG_DEFAULT_MAX_TOTAL_BYTES;
    l->max_ratio = MG_DEFAULT_MAX_RATIO;
    l->max_spool_bytes = MG_DEFAULT_MAX_SPOOL_BYTES;
    l->max_header_bytes = MG_DEFAULT_MAX_HEADER_BYTES;
    l->max_json_depth = MG_DEFAULT_MAX_JSON_DEPTH;
    l->max_json_values = MG_DEFAULT_MAX_JSON_VALUES;
    l->max_tensors = MG_DEFAULT_MAX_TENSORS;
    l->max_nesting = MG_DEFAULT_MAX_NESTING;
    l->max_seconds = MG_DEFAULT_MAX_SECONDS;
}

enum mg_status
mg_set_error(struct mg_scanner *s, enum mg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    return st;
}

enum mg_status
mg_scanner_new(const struct mg_options *opt, struct mg_scanner **out)
{
    if (out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    struct mg_scanner *s = mg_calloc(1, sizeof(*s));
    if (s == NULL)
        return MG_E_NOMEM;
    if (opt != NULL)
        s->opt = *opt;
    else
        mg_options_init(&s->opt);
    struct mg_limits *l = &s->opt.limits;
    /* Limits that would make the machine meaningless are clamped. */
    if (l->max_value_depth < 2)
        l->max_value_depth = 2;
    if (l->max_depth >= MG_MAX_LAYERS)
        l->max_depth = MG_MAX_LAYERS - 1;
    if (l->max_findings < 1)
        l->max_findings = 1;
    s->policy = s->opt.policy ? s->opt.policy : mg_policy_builtin();
    *out = s;
    return MG_OK;
}

void
mg_scanner_free(struct mg_scanner *s)
{
    mg_free(s);
}

const char *
mg_scanner_errmsg(const struct mg_scanner *s)
{
    return s ? s->errmsg : "no scanner";
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
ctx_init(struct mg_ctx *ctx, struct mg_scanner *s, struct mg_report *r)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->sc = s;
    ctx->lim = &s->opt.limits;
    ctx->policy = s->policy;
    ctx->rep = r;
    ctx->report_info = s->opt.report_info;
    if (s->opt.limits.max_seconds > 0)
        ctx->deadline_ns = now_ns() + s->opt.limits.max_seconds * 1000000000ull;
}

int
mg_ctx_expired(const struct mg_ctx *ctx)
{
    return ctx->deadline_ns != 0 && now_ns() > ctx->deadline_ns;
}

static enum mg_status
scan_common(struct mg_scanner *s,
            struct mg_input *in,
            const char *path,
            struct mg_report *r)
{
    struct mg_ctx ctx;
    ctx_init(&ctx, s, r);
    enum mg_status st = mg_scan_input(&ctx, in, NULL);
    if (st == MG_OK)
        st = mg_report_finish(r);
    if (st != MG_OK)
        mg_set_error(s, st, "%s: %s", path, mg_strerror(st));
    return st;
}

enum mg_status
mg_scan_opened(struct mg_scanner *s,
               struct mg_input *in,
               const char *path,
               struct mg_report **out)
{
    *out = NULL;
    struct mg_report *r = mg_report_new(path, s->opt.limits.max_findings);
    if (r == NULL)
        return mg_set_error(s, MG_E_NOMEM, "out of memory");
    enum mg_status st = scan_common(s, in, path, r);
    mg_report_set_sizes(r, in->size,
                        in->bytes_read ? *in->bytes_read : in->size);
    if (st == MG_E_NOMEM) {
        mg_report_free(r);
        return st;
    }
    *out = r;
    return st;
}

enum mg_status
mg_scan_file(struct mg_scanner *s, const char *path, struct mg_report **out)
{
    if (s == NULL || path == NULL || out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    struct mg_input in;
    struct mg_file_input f;
    char err[200];
    enum mg_status st = mg_input_file(&in, &f, path, err, sizeof(err));
    if (st == MG_OK) {
        st = mg_scan_opened(s, &in, path, out);
        mg_input_file_close(&f);
        return st;
    }
    /* A file that cannot be opened still gets a report (verdict error). */
    struct mg_report *r = mg_report_new(path, s->opt.limits.max_findings);
    struct mg_ctx ctx;
    if (r != NULL)
        ctx_init(&ctx, s, r);
    if (r == NULL || mg_ctx_incomplete(&ctx, NULL, -1, err) != MG_OK ||
        st == MG_E_NOMEM) {
        mg_report_free(r);
        return mg_set_error(s, MG_E_NOMEM, "out of memory");
    }
    mg_set_error(s, st, "%s: %s", path, err);
    *out = r;
    return st;
}

enum mg_status
mg_scan_buffer(struct mg_scanner *s,
               const void *buf,
               size_t len,
               const char *name,
               struct mg_report **out)
{
    if (s == NULL || (buf == NULL && len > 0) || out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    struct mg_input in;
    mg_input_mem(&in, buf, len);
    return mg_scan_opened(s, &in, name ? name : "-", out);
}

uint64_t
mg_policy_fingerprint(const struct mg_policy *p)
{
    return mg_policy_hash(p != NULL ? p : mg_policy_builtin());
}

void
mg_buffer_free(void *buf)
{
    mg_free(buf);
}

/* Why the member was not found: the first limit or error on its way. */
static const char *
why_not_found(const struct mg_report *r, const char *member)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *x = mg_report_get(r, i);
        if (strcmp(x->rule, "limit") != 0 && strcmp(x->rule, "io-error") != 0)
            continue;
        size_t n = x->layer ? strlen(x->layer) : 0;
        if (x->layer == NULL || (strncmp(x->layer, member, n) == 0 &&
                                 (member[n] == '\0' || member[n] == '!')))
            return x->message;
    }
    return NULL;
}

/* A member of a container, found by scanning the file with every layer
   off the way to it skipped: the names are those of findings' layers,
   whatever the container (ZIP, 7z, tar, compressed streams, nested). */
static enum mg_status
extract_nested(struct mg_scanner *s,
               struct mg_input *in,
               const char *path,
               const char *member,
               void **buf,
               size_t *len)
{
    struct mg_report *r = mg_report_new(path, s->opt.limits.max_findings);
    if (r == NULL)
        return mg_set_error(s, MG_E_NOMEM, "out of memory");
    struct mg_ctx ctx;
    ctx_init(&ctx, s, r);
    ctx.want = member;
    enum mg_status st = mg_scan_input(&ctx, in, NULL);
    if (st == MG_OK && !ctx.found) {
        const char *why = why_not_found(r, member);
        st = mg_set_error(s, why ? MG_E_LIMIT : MG_E_UNSUPPORTED,
                          "%s: cannot read member '%s': %s", path, member,
                          why ? why
                              : "no such member (members are named as in "
                                "the layers of scan's findings)");
    } else if (st == MG_OK && ctx.got == NULL) {
        st = ctx.got_st;
        if (st == MG_E_LIMIT)
            mg_set_error(s, st,
                         "%s: cannot read member '%s': larger than "
                         "max-member-bytes (%llu)",
                         path, member,
                         (unsigned long long)s->opt.limits.max_member_bytes);
        else
            mg_set_error(s, st, "%s: cannot read member '%s': %s", path, member,
                         mg_strerror(st));
    } else if (st != MG_OK) {
        mg_set_error(s, st, "%s: %s", path, mg_strerror(st));
    }
    mg_report_free(r);
    if (st != MG_OK) {
        mg_free(ctx.got);
        return st;
    }
    *buf = ctx.got;
    *len = ctx.got_len;
    return MG_OK;
}

enum mg_status
mg_extract_member(struct mg_scanner *s,
                  const char *path,
                  const char *member,
                  void **buf,
                  size_t *len)
{
    if (s == NULL || path == NULL || buf == NULL || len == NULL)
        return MG_E_INVALID;
    *buf = NULL;
    *len = 0;
    struct mg_input in;
    struct mg_file_input f;
    char err[200];
    enum mg_status st = mg_input_file(&in, &f, path, err, sizeof(err));
    if (st != MG_OK)
        return mg_set_error(s, st, "%s: %s", path, err);
    if (member != NULL) {
        st = extract_nested(s, &in, path, member, buf, len);
        mg_input_file_close(&f);
        return st;
    }
    if (f.size > s->opt.limits.max_member_bytes ||
        f.size > (uint64_t)SIZE_MAX - 1) {
        mg_input_file_close(&f);
        return mg_set_error(s, MG_E_LIMIT,
                            "%s: larger than max-member-bytes (%llu)", path,
                            (unsigned long long)s->opt.limits.max_member_bytes);
    }
    uint8_t *b = mg_malloc(f.size > 0 ? (size_t)f.size : 1);
    if (b == NULL) {
        mg_input_file_close(&f);
        return mg_set_error(s, MG_E_NOMEM, "out of memory");
    }
    st = f.size > 0 ? mg_input_read(&in, 0, b, (size_t)f.size) : MG_OK;
    mg_input_file_close(&f);
    if (st != MG_OK) {
        mg_free(b);
        return mg_set_error(s, st, "%s: %s", path, mg_strerror(st));
    }
    *buf = b;
    *len = (size_t)f.size;
    return MG_OK;
}
