/*
 * result.c - the outcome of a sign or verify: a verdict and the reasons
 * for it (data, never the return code), the file list and throughput.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "sign/sign_int.h"

struct mg_sig_result *
sig_result_new(void)
{
    return mg_calloc(1, sizeof(struct mg_sig_result));
}

static int
code_is_failure(enum mg_sig_code c)
{
    switch (c) {
    case MG_SIG_R_NOTE:
    case MG_SIG_R_IO:
        return 0;
    case MG_SIG_R_UNSIGNED:
    case MG_SIG_R_MALFORMED:
    case MG_SIG_R_MEDIA_TYPE:
    case MG_SIG_R_UNSUPPORTED:
    case MG_SIG_R_KEY_MISMATCH:
    case MG_SIG_R_UNTRUSTED:
    case MG_SIG_R_BAD_SIGNATURE:
    case MG_SIG_R_BAD_PAYLOAD:
    case MG_SIG_R_BAD_NAME:
    case MG_SIG_R_CHANGED:
    case MG_SIG_R_ADDED:
    case MG_SIG_R_MISSING:
    case MG_SIG_R_REFUSED:
        return 1;
    default:
        return 1;
    }
}

enum mg_status
sig_result_add(struct mg_sig_result *r,
               enum mg_sig_code code,
               const char *path,
               const char *fmt,
               ...)
{
    if (code_is_failure(code))
        r->failed = 1;
    else if (code == MG_SIG_R_IO)
        r->io = 1;
    if (r->n_reasons >= MG_SIG_MAX_REASONS) {
        r->dropped++;
        return MG_OK;
    }
    if (r->n_reasons == r->cap_reasons) {
        size_t nc = r->cap_reasons ? r->cap_reasons * 2 : 16;
        struct mg_sig_reason *nv = mg_reallocarray(r->reasons, nc, sizeof(*nv));
        if (nv == NULL) {
            r->nomem = 1;
            return MG_E_NOMEM;
        }
        r->reasons = nv;
        r->cap_reasons = nc;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *m = mg_strdup(msg);
    char *p = path ? mg_strdup(path) : NULL;
    if (m == NULL || (path != NULL && p == NULL)) {
        mg_free(m);
        mg_free(p);
        r->nomem = 1;
        return MG_E_NOMEM;
    }
    struct mg_sig_reason *x = &r->reasons[r->n_reasons++];
    x->code = code;
    x->path = p;
    x->message = m;
    return MG_OK;
}

void
mg_sig_result_free(struct mg_sig_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_reasons; i++) {
        mg_free((char *)r->reasons[i].path);
        mg_free((char *)r->reasons[i].message);
    }
    mg_free(r->reasons);
    for (size_t i = 0; i < r->n_files; i++) {
        mg_free((char *)r->files[i].name);
        mg_free((char *)r->files[i].path);
    }
    mg_free(r->files);
    mg_free(r->bundle);
    mg_free(r);
}

enum mg_sig_verdict
mg_sig_result_verdict(const struct mg_sig_result *r)
{
    if (r == NULL)
        return MG_SIG_ERROR;
    if (r->failed)
        return MG_SIG_FAILED;
    if (r->io || r->nomem)
        return MG_SIG_ERROR;
    return MG_SIG_VERIFIED;
}

const char *
mg_sig_verdict_name(enum mg_sig_verdict v)
{
    switch (v) {
    case MG_SIG_VERIFIED:
        return "verified";
    case MG_SIG_FAILED:
        return "failed";
    case MG_SIG_ERROR:
        return "error";
    default:
        return "?";
    }
}

const char *
mg_sig_code_name(enum mg_sig_code c)
{
    switch (c) {
    case MG_SIG_R_UNSIGNED:
        return "unsigned";
    case MG_SIG_R_MALFORMED:
        return "malformed-bundle";
    case MG_SIG_R_MEDIA_TYPE:
        return "media-type";
    case MG_SIG_R_UNSUPPORTED:
        return "unsupported";
    case MG_SIG_R_KEY_MISMATCH:
        return "key-mismatch";
    case MG_SIG_R_UNTRUSTED:
        return "untrusted-key";
    case MG_SIG_R_BAD_SIGNATURE:
        return "bad-signature";
    case MG_SIG_R_BAD_PAYLOAD:
        return "bad-payload";
    case MG_SIG_R_BAD_NAME:
        return "bad-name";
    case MG_SIG_R_CHANGED:
        return "changed";
    case MG_SIG_R_ADDED:
        return "added";
    case MG_SIG_R_MISSING:
        return "missing";
    case MG_SIG_R_REFUSED:
        return "refused";
    case MG_SIG_R_IO:
        return "io";
    case MG_SIG_R_NOTE:
        return "note";
    default:
        return "?";
    }
}

size_t
mg_sig_result_count(const struct mg_sig_result *r)
{
    return r ? r->n_reasons : 0;
}

const struct mg_sig_reason *
mg_sig_result_get(const struct mg_sig_result *r, size_t i)
{
    return r && i < r->n_reasons ? &r->reasons[i] : NULL;
}

uint64_t
mg_sig_result_dropped(const struct mg_sig_result *r)
{
    return r ? r->dropped : 0;
}

size_t
mg_sig_result_file_count(const struct mg_sig_result *r)
{
    return r ? r->n_files : 0;
}

const struct mg_sig_file *
mg_sig_result_file(const struct mg_sig_result *r, size_t i)
{
    return r && i < r->n_files ? &r->files[i] : NULL;
}

uint64_t
mg_sig_result_bytes_hashed(const struct mg_sig_result *r)
{
    return r ? r->bytes_hashed : 0;
}

double
mg_sig_result_hash_seconds(const struct mg_sig_result *r)
{
    return r ? r->hash_seconds : 0.0;
}

const char *
mg_sig_result_key_hint(const struct mg_sig_result *r)
{
    return r && r->key_hint[0] ? r->key_hint : NULL;
}

const char *
mg_sig_result_bundle(const struct mg_sig_result *r, size_t *len)
{
    if (r == NULL || r->bundle == NULL || r->failed) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->bundle_len;
    return r->bundle;
}
