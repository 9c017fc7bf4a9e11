/*
 * scan.c - the nested-scan entry point and the context helpers. This is
 * the only recursion path: containers call mg_scan_input() for each
 * member, which pushes a layer, checks depth and time, sniffs the content
 * and dispatches to the format that claims it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/ctx.h"
#include "core/report.h"
#include "formats/format.h"
#include "formats/pickle/pickle.h"
#include "formats/zip/zip.h"

/* "a!b!c" from the layer stack, into buf. */
static const char *
layer_path(const struct mg_ctx *ctx, char *buf, size_t size)
{
    if (ctx->depth == 0)
        return NULL;
    size_t k = 0;
    buf[0] = '\0';
    for (unsigned i = 1; i <= ctx->depth; i++) {
        const char *n = ctx->layers[i] ? ctx->layers[i] : "?";
        int w = snprintf(buf + k, size - k, "%s%s", i > 1 ? "!" : "", n);
        if (w < 0 || (size_t)w >= size - k)
            break;
        k += (size_t)w;
    }
    return buf;
}

enum mg_status
mg_ctx_add(struct mg_ctx *ctx, const struct mg_finding_in *f)
{
    if (f->sev == MG_SEV_INFO && !ctx->report_info &&
        strcmp(f->rule, "limit") != 0 && strcmp(f->rule, "io-error") != 0 &&
        strncmp(f->rule, "format", 6) != 0)
        return MG_OK;
    char buf[2048];
    return mg_report_add(ctx->rep, layer_path(ctx, buf, sizeof(buf)), f);
}

enum mg_status
mg_ctx_findf(struct mg_ctx *ctx,
             enum mg_severity sev,
             const char *rule,
             int64_t offset,
             const char *fmt,
             ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct mg_finding_in f = {.sev = sev,
                              .rule = rule,
                              .message = msg,
                              .offset = offset < 0 ? 0 : (uint64_t)offset,
                              .has_offset = offset >= 0};
    return mg_ctx_add(ctx, &f);
}

enum mg_status
mg_ctx_incomplete(struct mg_ctx *ctx,
                  const char *limit_name,
                  int64_t offset,
                  const char *why)
{
    mg_report_set_incomplete(ctx->rep);
    char msg[1024];
    if (limit_name != NULL)
        snprintf(msg, sizeof(msg), "scan incomplete: limit %s reached%s%s",
                 limit_name, why ? ": " : "", why ? why : "");
    else
        snprintf(msg, sizeof(msg), "scan incomplete: %s", why ? why : "error");
    struct mg_finding_in f = {.sev = MG_SEV_INFO,
                              .rule = limit_name ? "limit" : "io-error",
                              .message = msg,
                              .offset = offset < 0 ? 0 : (uint64_t)offset,
                              .has_offset = offset >= 0,
                              .name = limit_name};
    char buf[2048];
    return mg_report_add(ctx->rep, layer_path(ctx, buf, sizeof(buf)), &f);
}

enum mg_status
mg_ctx_charge(struct mg_ctx *ctx, uint64_t n, int64_t offset)
{
    if (n > ctx->lim->max_total_bytes - ctx->total_bytes ||
        ctx->total_bytes > ctx->lim->max_total_bytes) {
        ctx->total_bytes = ctx->lim->max_total_bytes;
        enum mg_status st =
            mg_ctx_incomplete(ctx, "max-total-bytes", offset, NULL);
        return st != MG_OK ? st : MG_E_LIMIT;
    }
    ctx->total_bytes += n;
    return MG_OK;
}

void
mg_ctx_set_format(struct mg_ctx *ctx, const char *format)
{
    if (ctx->depth == 0)
        mg_report_set_format(ctx->rep, format);
}

void
mg_ctx_refine_format(struct mg_ctx *ctx, const char *format)
{
    if (ctx->depth == 0)
        mg_report_replace_format(ctx->rep, format);
}

enum mg_status
mg_ctx_push(struct mg_ctx *ctx, const char *name)
{
    if (ctx->depth + 1 > ctx->lim->max_depth ||
        ctx->depth + 1 >= MG_MAX_LAYERS) {
        enum mg_status st = mg_ctx_incomplete(ctx, "max-depth", -1, name);
        return st != MG_OK ? st : MG_E_LIMIT;
    }
    ctx->layers[++ctx->depth] = name;
    return MG_OK;
}

void
mg_ctx_pop(struct mg_ctx *ctx)
{
    ctx->depth--;
}

enum mg_status
mg_scan_input(struct mg_ctx *ctx, struct mg_input *in, const char *name)
{
    return mg_scan_input_with(ctx, in, name, NULL);
}

/* Extraction: 2 when the layer just pushed is the one wanted, 1 when it
   leads to it, 0 when it is off the way (or the member was found). */
static int
on_the_way(const struct mg_ctx *ctx)
{
    if (ctx->found)
        return 0;
    char buf[2048];
    const char *path = layer_path(ctx, buf, sizeof(buf));
    size_t n = strlen(path);
    if (strcmp(path, ctx->want) == 0)
        return 2;
    return strncmp(path, ctx->want, n) == 0 && ctx->want[n] == '!';
}

/* Extraction: keep the whole of the wanted member, within
   max-member-bytes (one byte more is asked for, so that a member of
   exactly the limit is not taken for a longer one). */
static enum mg_status
capture(struct mg_ctx *ctx, struct mg_input *in)
{
    uint64_t max = ctx->lim->max_member_bytes;
    uint8_t *buf = NULL;
    const uint8_t *mem = NULL;
    size_t len = 0;
    ctx->found = 1;
    enum mg_status st =
        mg_input_spool(in, max < UINT64_MAX ? max + 1 : max, &buf, &mem, &len);
    if (st == MG_OK && (uint64_t)len > max)
        st = MG_E_LIMIT;
    if (st == MG_OK && buf == NULL) {
        buf = mg_malloc(len > 0 ? len : 1);
        if (buf == NULL)
            st = MG_E_NOMEM;
        else if (len > 0)
            memcpy(buf, mem, len);
    }
    if (st != MG_OK) {
        mg_free(buf);
        ctx->got_st = st;
        return st == MG_E_NOMEM ? st : MG_OK;
    }
    ctx->got = buf;
    ctx->got_len = len;
    return MG_OK;
}

static enum mg_status scan_input(struct mg_ctx *ctx,
                                 struct mg_input *in,
                                 const char *name,
                                 enum mg_hint hint,
                                 mg_member_scan_fn scan);

enum mg_status
mg_scan_input_hint(struct mg_ctx *ctx,
                   struct mg_input *in,
                   const char *name,
                   enum mg_hint hint)
{
    return scan_input(ctx, in, name, hint, NULL);
}

enum mg_status
mg_scan_input_with(struct mg_ctx *ctx,
                   struct mg_input *in,
                   const char *name,
                   mg_member_scan_fn scan)
{
    return scan_input(ctx, in, name, MG_HINT_NONE, scan);
}

static enum mg_status
scan_input(struct mg_ctx *ctx,
           struct mg_input *in,
           const char *name,
           enum mg_hint hint,
           mg_member_scan_fn scan)
{
    enum mg_status st = MG_OK;
    int pushed = 0, way = 0;
    if (name != NULL) {
        st = mg_ctx_push(ctx, name);
        if (st != MG_OK)
            return st == MG_E_LIMIT ? MG_OK : st;
        pushed = 1;
        if (ctx->want != NULL && (way = on_the_way(ctx)) == 0)
            goto out;
    }
    if (mg_ctx_expired(ctx)) {
        st = mg_ctx_incomplete(ctx, "max-seconds", -1, NULL);
        goto out;
    }
    st = mg_input_sniff(in);
    if (st != MG_OK) {
        st = mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(st));
        goto out;
    }
    if (way == 2) {
        st = capture(ctx, in);
        goto out;
    }
    if (scan != NULL) {
        st = scan(ctx, in);
        goto out;
    }
    const struct mg_format *fmt =
        mg_format_detect(in->head, in->head_len, in->size);
    if (fmt != NULL) {
        mg_ctx_set_format(ctx, fmt->name);
        st = fmt->scan(ctx, in);
    } else if (hint == MG_HINT_TENSOR_DATA) {
        mg_ctx_set_format(ctx, "tensor-data");
    } else {
        st = mg_pickle_scan_fallback(ctx, in);
    }
    /* A ZIP appended to something else is what zipfile-based loaders
       (numpy, Keras) open, while torch.load reads the front. */
    if (st == MG_OK && ctx->depth == 0 &&
        (fmt == NULL || strcmp(fmt->name, "zip") != 0))
        st = mg_zip_scan_appended(ctx, in);
out:
    if (pushed)
        ctx->depth--;
    return st;
}
