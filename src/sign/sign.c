/*
 * sign.c - mg_sign_model, and what sign and verify share: the ignore
 * lists and the result's file list.
 */
#include <string.h>

#include "core/alloc.h"
#include "sign/sign_int.h"

void
mg_sig_options_init(struct mg_sig_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->ignore_git_paths = 1;
    opt->jobs = 1;
}

enum mg_status
mg_sig_ignore_path(const char *model_path,
                   const char *path,
                   char *buf,
                   size_t len,
                   const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (model_path == NULL || path == NULL || buf == NULL || len == 0)
        return MG_E_INVALID;
    char *rel = NULL;
    if (path[0] == '/') {
        rel = sig_relative_inside(model_path, path);
        if (rel == NULL) {
            *why = "not inside the model folder";
            return MG_E_INVALID;
        }
    }
    char *p = sig_name_normalize(rel ? rel : path, why);
    mg_free(rel);
    if (p == NULL)
        return *why ? MG_E_INVALID : MG_E_NOMEM;
    size_t n = strlen(p);
    enum mg_status st = MG_OK;
    if (n >= len)
        st = MG_E_LIMIT;
    else
        memcpy(buf, p, n + 1);
    mg_free(p);
    return st;
}

static enum mg_status
list_add(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return MG_OK;
    if (*n >= MG_SIG_MAX_IGNORES)
        return MG_E_LIMIT;
    char **nv = mg_reallocarray(*v, *n + 1, sizeof(char *));
    if (nv == NULL)
        return MG_E_NOMEM;
    *v = nv;
    nv[*n] = mg_strdup(s);
    if (nv[*n] == NULL)
        return MG_E_NOMEM;
    (*n)++;
    return MG_OK;
}

enum mg_status
sig_lists_build(struct sig_lists *l,
                const char *model_path,
                const char *signature_path,
                const struct mg_sig_options *opt,
                char *const *extra,
                size_t n_extra,
                struct mg_sig_result *r)
{
    memset(l, 0, sizeof(*l));
    enum mg_status st = MG_OK;
    if (opt->ignore_git_paths)
        for (size_t i = 0; i < 4 && st == MG_OK; i++)
            st = list_add(&l->skip, &l->n_skip, sig_git_paths[i]);
    if (st == MG_OK && signature_path != NULL) {
        l->sig_rel = sig_relative_inside(model_path, signature_path);
        if (l->sig_rel != NULL)
            st = list_add(&l->skip, &l->n_skip, l->sig_rel);
    }
    for (size_t i = 0; i < opt->n_ignore && st == MG_OK; i++) {
        const char *why = NULL;
        char *p = sig_name_normalize(opt->ignore[i], &why);
        if (p == NULL) {
            if (why == NULL)
                return MG_E_NOMEM;
            if (sig_result_add(r, MG_SIG_R_REFUSED, opt->ignore[i],
                               "unusable ignore path: %s", why) != MG_OK)
                return MG_E_NOMEM;
            return MG_E_INVALID;
        }
        st = list_add(&l->ignore, &l->n_ignore, p);
        mg_free(p);
    }
    for (size_t i = 0; i < n_extra && st == MG_OK; i++)
        st = list_add(&l->ignore, &l->n_ignore, extra[i]);
    if (st == MG_E_LIMIT &&
        sig_result_add(r, MG_SIG_R_REFUSED, NULL, "more than %u ignore paths",
                       MG_SIG_MAX_IGNORES) != MG_OK)
        return MG_E_NOMEM;
    return st;
}

void
sig_lists_free(struct sig_lists *l)
{
    for (size_t i = 0; i < l->n_skip; i++)
        mg_free(l->skip[i]);
    for (size_t i = 0; i < l->n_ignore; i++)
        mg_free(l->ignore[i]);
    mg_free(l->skip);
    mg_free(l->ignore);
    mg_free(l->sig_rel);
    memset(l, 0, sizeof(*l));
}

enum mg_status
sig_result_files(struct mg_sig_result *r,
                 const struct sig_model *m,
                 const unsigned char *is_signed)
{
    if (m->n == 0)
        return MG_OK;
    r->files = mg_calloc(m->n, sizeof(*r->files));
    if (r->files == NULL)
        return MG_E_NOMEM;
    for (size_t i = 0; i < m->n; i++) {
        const struct sig_entry *e = &m->v[i];
        struct mg_sig_file *f = &r->files[r->n_files];
        char *name = mg_strdup(e->name);
        char *path = mg_strdup(e->path);
        if (name == NULL || path == NULL) {
            mg_free(name);
            mg_free(path);
            return MG_E_NOMEM;
        }
        f->name = name;
        f->path = path;
        f->size = e->size;
        if (e->kind == SIG_ENTRY_IGNORED)
            f->state = MG_SIG_FILE_IGNORED;
        else if (is_signed == NULL || is_signed[i])
            f->state = MG_SIG_FILE_SIGNED;
        else
            f->state = MG_SIG_FILE_UNSIGNED;
        r->n_files++;
    }
    return MG_OK;
}

/* Per-file hashing failures become reasons; returns MG_E_NOMEM only. */
static enum mg_status
report_hash_failures(struct mg_sig_result *r, const struct sig_model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct sig_entry *e = &m->v[i];
        if (!e->want)
            continue;
        enum mg_status st = MG_OK;
        if (e->swapped)
            st = sig_result_add(r, MG_SIG_R_CHANGED, e->name,
                                "replaced while being hashed");
        else if (e->err != 0)
            st = sig_result_add(r, MG_SIG_R_IO, e->name, "cannot read: %s",
                                strerror(e->err));
        if (st != MG_OK)
            return st;
    }
    return MG_OK;
}

enum mg_status
sig_hash_model(struct mg_sig_result *r,
               struct sig_model *m,
               const char *algorithm,
               unsigned jobs)
{
    double secs = 0;
    enum mg_status st = sig_hash_entries(m, algorithm, jobs, &secs);
    if (st != MG_OK)
        return st;
    r->hash_seconds += secs;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].want && m->v[i].done)
            r->bytes_hashed += m->v[i].bytes;
    return report_hash_failures(r, m);
}

enum mg_status
mg_sign_model(const char *model_path,
              const char *signature_path,
              const struct mg_key *key,
              const struct mg_sig_options *opt,
              struct mg_sig_result **out)
{
    if (out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    if (model_path == NULL || key == NULL || !mg_key_is_private(key))
        return MG_E_INVALID;
    struct mg_sig_options defaults;
    if (opt == NULL) {
        mg_sig_options_init(&defaults);
        opt = &defaults;
    }
    struct mg_sig_result *r = sig_result_new();
    if (r == NULL)
        return MG_E_NOMEM;
    struct sig_lists l;
    struct sig_model m;
    memset(&m, 0, sizeof(m));
    enum mg_status st =
        sig_lists_build(&l, model_path, signature_path, opt, NULL, 0, r);
    if (st != MG_OK)
        goto out;
    const struct sig_walk_cfg cfg = {(const char *const *)l.skip,
                                     l.n_skip,
                                     (const char *const *)l.ignore,
                                     l.n_ignore,
                                     opt->allow_symlinks,
                                     NULL,
                                     0};
    st = sig_walk(model_path, &cfg, &m, r);
    if (st == MG_E_LIMIT || st == MG_E_IO)
        st = MG_OK; /* recorded as a reason */
    if (st != MG_OK || r->failed || r->io)
        goto out;
    size_t nfiles = 0;
    for (size_t i = 0; i < m.n; i++)
        if (m.v[i].kind == SIG_ENTRY_FILE) {
            m.v[i].want = 1;
            nfiles++;
        }
    if (nfiles == 0) {
        st = sig_result_add(r, MG_SIG_R_REFUSED, NULL,
                            "empty model: no file to sign");
        goto out;
    }
    st = sig_hash_model(r, &m, "sha256", opt->jobs);
    if (st != MG_OK || r->failed || r->io)
        goto out;
    /* Record every path left out, as model_signing does: its verifier
       then leaves them out too without being told. */
    char **rec = NULL;
    size_t nrec = 0;
    for (size_t i = 0; i < l.n_skip && st == MG_OK; i++)
        st = list_add(&rec, &nrec, l.skip[i]);
    for (size_t i = 0; i < l.n_ignore && st == MG_OK; i++)
        st = list_add(&rec, &nrec, l.ignore[i]);
    if (st == MG_OK)
        st = sig_bundle_make(&m, (const char *const *)rec, nrec,
                             opt->allow_symlinks, key, r);
    for (size_t i = 0; i < nrec; i++)
        mg_free(rec[i]);
    mg_free(rec);
    if (st == MG_OK) {
        memcpy(r->key_hint, mg_key_hint(key), sizeof(r->key_hint));
        st = sig_result_files(r, &m, NULL);
    }
out:
    sig_model_free(&m);
    sig_lists_free(&l);
    if (st == MG_E_INVALID && r->n_reasons > 0)
        st = MG_OK; /* an unusable ignore path: the result says which */
    if (st != MG_OK) {
        mg_sig_result_free(r);
        return st;
    }
    *out = r;
    return MG_OK;
}
