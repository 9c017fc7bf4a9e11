/*
 * verify.c - mg_verify_model: the bundle is parsed strictly, the key is
 * picked (given, or from the keyring by the bundle's hint), the DSSE
 * signature is checked before any signed content is trusted, then the
 * model is walked with the signed rules (hash type, symlink policy,
 * recorded ignore paths) and compared file by file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sign/sign_int.h"

/* Pick the key and check the signature over PAE(payload). */
static enum mg_status
check_signature(const struct sig_envelope *env,
                const struct mg_key *key,
                const struct mg_keyring *kr,
                struct mg_sig_result *r)
{
    uint8_t *pae = NULL;
    size_t pae_len = 0;
    enum mg_status st = sig_pae(env->payload, env->payload_len, &pae, &pae_len);
    if (st != MG_OK)
        return st;
    const struct mg_key *used = NULL;
    if (key != NULL) {
        if (env->hint[0] && strcmp(env->hint, mg_key_hint(key)) != 0) {
            st = sig_result_add(r, MG_SIG_R_KEY_MISMATCH, NULL,
                                "signed with key %s, not with the given key "
                                "%s",
                                env->hint, mg_key_hint(key));
            goto out;
        }
        int ok = sig_key_verify(key, pae, pae_len, env->sig, env->sig_len);
        if (ok < 0) {
            st = MG_E_NOMEM;
            goto out;
        }
        if (ok)
            used = key;
        else
            st = sig_result_add(r, MG_SIG_R_BAD_SIGNATURE, NULL,
                                "the signature does not verify with the "
                                "given %s key",
                                mg_key_curve(key));
    } else {
        size_t n = mg_keyring_count(kr);
        int candidates = 0;
        for (size_t i = 0; i < n && used == NULL; i++) {
            const struct mg_key *k = mg_keyring_get(kr, i);
            if (env->hint[0] && strcmp(env->hint, mg_key_hint(k)) != 0)
                continue;
            candidates++;
            int ok = sig_key_verify(k, pae, pae_len, env->sig, env->sig_len);
            if (ok < 0) {
                st = MG_E_NOMEM;
                goto out;
            }
            if (ok)
                used = k;
        }
        if (used == NULL && candidates == 0 && env->hint[0])
            st = sig_result_add(r, MG_SIG_R_UNTRUSTED, NULL,
                                "signed with key %s, which is not in the "
                                "keyring",
                                env->hint);
        else if (used == NULL && env->hint[0])
            st = sig_result_add(r, MG_SIG_R_BAD_SIGNATURE, NULL,
                                "the signature does not verify with the "
                                "keyring's key %s",
                                env->hint);
        else if (used == NULL)
            st = sig_result_add(r, MG_SIG_R_UNTRUSTED, NULL,
                                "no key of the keyring verifies the "
                                "signature");
    }
    if (used != NULL) {
        memcpy(r->key_hint, mg_key_hint(used), sizeof(r->key_hint));
        if (!env->hint[0])
            st = sig_result_add(
                r, MG_SIG_R_NOTE, NULL, "%s",
                env->has_raw_key
                    ? "older bundle format (publicKey.rawBytes, "
                      "model_signing < 1.1): its embedded key is not "
                      "used, only the trusted one"
                    : "bundle names no key (no publicKey.hint)");
    }
out:
    mg_free(pae);
    return st;
}

static int
cmp_name_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
cmp_entry_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct sig_entry *)elem)->name);
}

/* The entry a signed name stands for; NULL when absent. */
static struct sig_entry *
find_entry(struct sig_model *m, const char *name)
{
    if (m->single) {
        /* model_signing names it "."; the OMS spec and Go its basename */
        if (m->n == 1 && (strcmp(name, ".") == 0 || strcmp(name, m->name) == 0))
            return &m->v[0];
        return NULL;
    }
    return bsearch(name, m->v, m->n, sizeof(*m->v), cmp_entry_name);
}

/* Compare the walked, hashed model with the manifest. */
static enum mg_status
compare(struct sig_model *m,
        const struct sig_manifest *man,
        struct sig_entry **match,
        unsigned char *is_signed,
        int unsigned_ok,
        struct mg_sig_result *r)
{
    enum mg_status st = MG_OK;
    for (size_t i = 0; i < man->n_res && st == MG_OK; i++) {
        const struct sig_resource *res = &man->res[i];
        struct sig_entry *e = match[i];
        if (e == NULL) {
            st = sig_result_add(r, MG_SIG_R_MISSING, res->name,
                                "signed file is missing");
        } else if (e->kind == SIG_ENTRY_IGNORED) {
            st = sig_result_add(r, MG_SIG_R_MISSING, res->name,
                                "signed file is left out by an ignore "
                                "path");
        } else if (e->done &&
                   (e->dlen != res->dlen ||
                    memcmp(e->digest, res->digest, res->dlen) != 0)) {
            st = sig_result_add(r, MG_SIG_R_CHANGED, res->name,
                                "content differs from the signed digest");
        }
    }
    for (size_t i = 0; i < m->n && st == MG_OK; i++) {
        struct sig_entry *e = &m->v[i];
        if (e->kind != SIG_ENTRY_FILE || is_signed[i] || unsigned_ok)
            continue;
        st = sig_result_add(r, MG_SIG_R_ADDED, e->name,
                            "file is not in the signature");
    }
    return st;
}

static enum mg_status
verify_model(const char *model_path,
             const struct sig_manifest *man,
             const char *signature_path,
             const struct mg_sig_options *opt,
             struct mg_sig_result *r)
{
    struct sig_lists l;
    struct sig_model m;
    memset(&m, 0, sizeof(m));
    struct sig_entry **match = NULL;
    unsigned char *is_signed = NULL;
    const char **names = NULL;
    enum mg_status st = sig_lists_build(&l, model_path, signature_path, opt,
                                        man->ignore, man->n_ignore, r);
    if (st != MG_OK)
        goto out;
    names = mg_calloc(man->n_res, sizeof(*names));
    match = mg_calloc(man->n_res, sizeof(*match));
    if (names == NULL || match == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < man->n_res; i++)
        names[i] = man->res[i].name;
    qsort(names, man->n_res, sizeof(*names), cmp_name_ptr);
    const struct sig_walk_cfg cfg = {(const char *const *)l.skip,
                                     l.n_skip,
                                     (const char *const *)l.ignore,
                                     l.n_ignore,
                                     man->allow_symlinks,
                                     opt->ignore_unsigned_files ? names : NULL,
                                     man->n_res};
    st = sig_walk(model_path, &cfg, &m, r);
    if (st == MG_E_LIMIT || st == MG_E_IO)
        st = MG_OK; /* recorded as a reason */
    if (st != MG_OK || (m.n == 0 && r->io))
        goto out;
    is_signed = mg_calloc(m.n ? m.n : 1, 1);
    if (is_signed == NULL) {
        st = MG_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < man->n_res; i++) {
        struct sig_entry *e = find_entry(&m, man->res[i].name);
        match[i] = e;
        if (e != NULL && e->kind == SIG_ENTRY_FILE) {
            e->want = 1;
            is_signed[e - m.v] = 1;
        }
    }
    st = sig_hash_model(r, &m, man->hash_type, opt->jobs);
    if (st == MG_OK)
        st = compare(&m, man, match, is_signed, opt->ignore_unsigned_files, r);
    if (st == MG_OK)
        st = sig_result_files(r, &m, is_signed);
out:
    mg_free(is_signed);
    mg_free(match);
    mg_free(names);
    sig_model_free(&m);
    sig_lists_free(&l);
    return st;
}

enum mg_status
mg_verify_model_buffer(const char *model_path,
                       const void *bundle,
                       size_t len,
                       const char *signature_path,
                       const struct mg_key *key,
                       const struct mg_keyring *keyring,
                       const struct mg_sig_options *opt,
                       struct mg_sig_result **out)
{
    if (out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    if (model_path == NULL || (bundle == NULL && len > 0) ||
        (key == NULL && keyring == NULL))
        return MG_E_INVALID;
    struct mg_sig_options defaults;
    if (opt == NULL) {
        mg_sig_options_init(&defaults);
        opt = &defaults;
    }
    struct mg_sig_result *r = sig_result_new();
    if (r == NULL)
        return MG_E_NOMEM;
    struct sig_envelope env;
    struct sig_manifest man;
    memset(&env, 0, sizeof(env));
    memset(&man, 0, sizeof(man));
    enum mg_status st = sig_envelope_parse(bundle, len, &env, r);
    if (st == MG_OK)
        st = check_signature(&env, key, keyring, r);
    /* Nothing signed is looked at before the signature holds. */
    if (st == MG_OK && !r->failed)
        st = sig_manifest_parse(env.payload, env.payload_len, &man, r);
    if (st == MG_OK && !r->failed)
        st = verify_model(model_path, &man, signature_path, opt, r);
    sig_manifest_free(&man);
    sig_envelope_free(&env);
    if (st != MG_OK && st != MG_E_NOMEM && r->failed)
        st = MG_OK; /* the reasons say it */
    if (st == MG_E_INVALID && r->n_reasons > 0)
        st = MG_OK;
    if (st != MG_OK) {
        mg_sig_result_free(r);
        return st;
    }
    *out = r;
    return MG_OK;
}

enum mg_status
mg_verify_model(const char *model_path,
                const char *signature_path,
                const struct mg_key *key,
                const struct mg_keyring *keyring,
                const struct mg_sig_options *opt,
                struct mg_sig_result **out)
{
    if (out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    if (model_path == NULL || signature_path == NULL ||
        (key == NULL && keyring == NULL))
        return MG_E_INVALID;
    char *buf = NULL;
    size_t len = 0;
    int eno = 0;
    enum mg_status st = sig_read_file(signature_path, MG_SIG_MAX_BUNDLE_BYTES,
                                      &buf, &len, &eno);
    if (st == MG_OK) {
        st = mg_verify_model_buffer(model_path, buf, len, signature_path, key,
                                    keyring, opt, out);
        mg_free(buf);
        return st;
    }
    if (st == MG_E_NOMEM)
        return st;
    struct mg_sig_result *r = sig_result_new();
    if (r == NULL)
        return MG_E_NOMEM;
    if (st == MG_E_IO && eno == ENOENT)
        st = sig_result_add(r, MG_SIG_R_UNSIGNED, NULL, "no signature file %s",
                            signature_path);
    else if (st == MG_E_LIMIT)
        st = sig_result_add(r, MG_SIG_R_MALFORMED, NULL,
                            "signature file larger than %u bytes",
                            MG_SIG_MAX_BUNDLE_BYTES);
    else
        st = sig_result_add(r, MG_SIG_R_IO, NULL, "cannot read %s: %s",
                            signature_path, strerror(eno));
    if (st != MG_OK) {
        mg_sig_result_free(r);
        return st;
    }
    *out = r;
    return MG_OK;
}
