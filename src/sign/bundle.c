/*
 * bundle.c - the OMS bundle as JSON (jansson): Sigstore bundle v0.3 ->
 * DSSE envelope -> in-toto Statement v1 with the model_signing v1.0
 * predicate. Parsing is strict where a lax reader would let two readers
 * disagree about what was signed: duplicate keys are refused
 * (JSON_REJECT_DUPLICATES), names are checked before anything touches the
 * disk, every list has a bound. Fields we do not use are ignored.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "io/ckd.h"
#include "sign/sign_int.h"

/* Record a reason; return st (or MG_E_NOMEM when recording failed). */
#define FAIL(r, code, st, ...)                                      \
    (sig_result_add((r), (code), NULL, __VA_ARGS__) == MG_OK ? (st) \
                                                             : MG_E_NOMEM)

static const char *
json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "?";
    }
}

/* Decode a base64 string member. */
static enum mg_status
get_b64(json_t *obj,
        const char *key,
        const char *where,
        uint8_t **out,
        size_t *len,
        struct mg_sig_result *r)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED, "%s has no %s",
                    where, key);
    if (!json_is_string(v))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "%s.%s is %s, not a string", where, key, json_type_name(v));
    enum mg_status st =
        sig_b64_decode(json_string_value(v), json_string_length(v), out, len);
    if (st == MG_E_MALFORMED)
        return FAIL(r, MG_SIG_R_MALFORMED, st, "%s.%s is not valid base64",
                    where, key);
    if (st == MG_OK && *len == 0) {
        mg_free(*out);
        *out = NULL;
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED, "%s.%s is empty",
                    where, key);
    }
    return st;
}

static enum mg_status
parse_key_material(json_t *root,
                   struct sig_envelope *env,
                   struct mg_sig_result *r)
{
    json_t *vm = json_object_get(root, "verificationMaterial");
    if (vm == NULL || !json_is_object(vm))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "bundle has no verificationMaterial object");
    json_t *tl = json_object_get(vm, "tlogEntries");
    if (tl != NULL && !json_is_array(tl))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "verificationMaterial.tlogEntries is not an array");
    json_t *pk = json_object_get(vm, "publicKey");
    if (pk == NULL) {
        if (json_object_get(vm, "certificate") != NULL ||
            json_object_get(vm, "x509CertificateChain") != NULL)
            return FAIL(r, MG_SIG_R_UNSUPPORTED, MG_E_UNSUPPORTED,
                        "bundle is signed with a certificate (Sigstore or "
                        "PKI method); only the key method is supported");
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "verificationMaterial has no publicKey");
    }
    if (!json_is_object(pk))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "verificationMaterial.publicKey is not an object");
    json_t *hint = json_object_get(pk, "hint");
    if (hint != NULL) {
        uint8_t raw[32];
        if (!json_is_string(hint) ||
            sig_hex_decode(json_string_value(hint), json_string_length(hint),
                           raw, sizeof(raw)) != 0)
            return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                        "publicKey.hint is not 64 hex digits");
        sig_hex_encode(raw, sizeof(raw), env->hint);
    }
    json_t *rawb = json_object_get(pk, "rawBytes");
    if (rawb != NULL) {
        if (!json_is_string(rawb))
            return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                        "publicKey.rawBytes is not a string");
        env->has_raw_key = 1;
    }
    return MG_OK;
}

static enum mg_status
parse_dsse(json_t *root, struct sig_envelope *env, struct mg_sig_result *r)
{
    json_t *d = json_object_get(root, "dsseEnvelope");
    if (d == NULL) {
        if (json_object_get(root, "messageSignature") != NULL)
            return FAIL(r, MG_SIG_R_UNSUPPORTED, MG_E_UNSUPPORTED,
                        "bundle holds a message signature, not a DSSE "
                        "envelope: not a model signature");
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "bundle has no dsseEnvelope");
    }
    if (!json_is_object(d))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "dsseEnvelope is not an object");
    json_t *pt = json_object_get(d, "payloadType");
    if (pt == NULL || !json_is_string(pt))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "dsseEnvelope has no payloadType string");
    if (strcmp(json_string_value(pt), SIG_PAYLOAD_TYPE) != 0 ||
        json_string_length(pt) != strlen(SIG_PAYLOAD_TYPE))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "payloadType is \"%.100s\", not \"%s\"",
                    json_string_value(pt), SIG_PAYLOAD_TYPE);
    enum mg_status st = get_b64(d, "payload", "dsseEnvelope", &env->payload,
                                &env->payload_len, r);
    if (st != MG_OK)
        return st;
    json_t *sigs = json_object_get(d, "signatures");
    if (sigs == NULL || !json_is_array(sigs) || json_array_size(sigs) == 0)
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "dsseEnvelope has no signatures");
    if (json_array_size(sigs) > MG_SIG_MAX_SIGNATURES)
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "dsseEnvelope has more than %u signatures",
                    MG_SIG_MAX_SIGNATURES);
    json_t *s0 = json_array_get(sigs, 0);
    if (!json_is_object(s0))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "dsseEnvelope.signatures[0] is not an object");
    json_t *kid = json_object_get(s0, "keyid");
    if (kid != NULL && !json_is_string(kid) && !json_is_null(kid))
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "signatures[0].keyid is %s", json_type_name(kid));
    return get_b64(s0, "sig", "signatures[0]", &env->sig, &env->sig_len, r);
}

enum mg_status
sig_envelope_parse(const void *buf,
                   size_t len,
                   struct sig_envelope *env,
                   struct mg_sig_result *r)
{
    memset(env, 0, sizeof(*env));
    if (len > MG_SIG_MAX_BUNDLE_BYTES)
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_LIMIT,
                    "bundle larger than %u bytes", MG_SIG_MAX_BUNDLE_BYTES);
    if (len == 0)
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "signature file is empty");
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                    "bundle is not valid JSON: %s (line %d, column %d)",
                    je.text, je.line, je.column);
    enum mg_status st = MG_OK;
    if (!json_is_object(root)) {
        st = FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                  "bundle is %s, not an object", json_type_name(root));
        goto out;
    }
    json_t *mt = json_object_get(root, "mediaType");
    if (mt == NULL || !json_is_string(mt)) {
        st = FAIL(r, MG_SIG_R_MALFORMED, MG_E_MALFORMED,
                  "bundle has no mediaType string");
        goto out;
    }
    /* model_signing compares the whole string; so do we. */
    if (strcmp(json_string_value(mt), SIG_BUNDLE_MEDIA_TYPE) != 0 ||
        json_string_length(mt) != strlen(SIG_BUNDLE_MEDIA_TYPE)) {
        st = FAIL(r, MG_SIG_R_MEDIA_TYPE, MG_E_UNSUPPORTED,
                  "mediaType is \"%.100s\", not \"%s\"", json_string_value(mt),
                  SIG_BUNDLE_MEDIA_TYPE);
        goto out;
    }
    st = parse_key_material(root, env, r);
    if (st == MG_OK)
        st = parse_dsse(root, env, r);
out:
    json_decref(root);
    if (st != MG_OK)
        sig_envelope_free(env);
    return st;
}

void
sig_envelope_free(struct sig_envelope *env)
{
    mg_free(env->payload);
    mg_free(env->sig);
    memset(env, 0, sizeof(*env));
}

/* ---- the statement ---- */

static int
cmp_res_name(const void *a, const void *b)
{
    return strcmp((*(const struct sig_resource *const *)a)->name,
                  (*(const struct sig_resource *const *)b)->name);
}

static enum mg_status
parse_serialization(json_t *ser,
                    struct sig_manifest *man,
                    struct mg_sig_result *r)
{
    if (ser == NULL || !json_is_object(ser))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "predicate has no serialization object");
    json_t *method = json_object_get(ser, "method");
    if (method == NULL || !json_is_string(method))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "serialization has no method");
    if (strcmp(json_string_value(method), "shards") == 0)
        return FAIL(r, MG_SIG_R_UNSUPPORTED, MG_E_UNSUPPORTED,
                    "serialization method \"shards\" is not supported "
                    "(only \"files\", what model_signing's CLI writes)");
    if (strcmp(json_string_value(method), "files") != 0)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "unknown serialization method \"%.100s\"",
                    json_string_value(method));
    json_t *ht = json_object_get(ser, "hash_type");
    if (ht == NULL || !json_is_string(ht))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "serialization has no hash_type");
    if (sig_hash_size(json_string_value(ht)) == 0 ||
        json_string_length(ht) >= sizeof(man->hash_type))
        return FAIL(r, MG_SIG_R_UNSUPPORTED, MG_E_UNSUPPORTED,
                    "hash_type \"%.100s\" is not supported (sha256, "
                    "blake2b are)",
                    json_string_value(ht));
    memcpy(man->hash_type, json_string_value(ht), json_string_length(ht) + 1);
    json_t *as = json_object_get(ser, "allow_symlinks");
    if (as == NULL || !json_is_boolean(as))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "serialization.allow_symlinks is not a boolean");
    man->allow_symlinks = json_is_true(as);
    json_t *ig = json_object_get(ser, "ignore_paths");
    if (ig == NULL)
        return MG_OK;
    if (!json_is_array(ig))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "serialization.ignore_paths is not an array");
    size_t n = json_array_size(ig);
    if (n > MG_SIG_MAX_IGNORES)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_LIMIT,
                    "more than %u ignore_paths", MG_SIG_MAX_IGNORES);
    man->ignore = mg_calloc(n ? n : 1, sizeof(char *));
    if (man->ignore == NULL)
        return MG_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(ig, i);
        if (!json_is_string(v))
            return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                        "ignore_paths[%zu] is not a string", i);
        const char *why =
            sig_name_check(json_string_value(v), json_string_length(v), 0);
        if (why != NULL) {
            if (sig_result_add(r, MG_SIG_R_BAD_NAME, json_string_value(v),
                               "recorded ignore path refused: %s",
                               why) != MG_OK)
                return MG_E_NOMEM;
            return MG_E_MALFORMED;
        }
        man->ignore[i] = mg_strdup(json_string_value(v));
        if (man->ignore[i] == NULL)
            return MG_E_NOMEM;
        man->n_ignore++;
    }
    return MG_OK;
}

static enum mg_status
parse_resource(json_t *v,
               size_t i,
               size_t dsize,
               const char *hash_type,
               struct sig_resource *res,
               struct mg_sig_result *r)
{
    if (!json_is_object(v))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "resources[%zu] is not an object", i);
    json_t *name = json_object_get(v, "name");
    json_t *alg = json_object_get(v, "algorithm");
    json_t *dig = json_object_get(v, "digest");
    if (name == NULL || !json_is_string(name) || alg == NULL ||
        !json_is_string(alg) || dig == NULL || !json_is_string(dig))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "resources[%zu] needs string name, algorithm, digest", i);
    const char *why =
        sig_name_check(json_string_value(name), json_string_length(name), 1);
    if (why != NULL) {
        /* Do not echo a name that could hold anything: its index says
           which one. */
        return FAIL(r, MG_SIG_R_BAD_NAME, MG_E_MALFORMED,
                    "resources[%zu]: unsafe file name: %s", i, why);
    }
    if (strcmp(json_string_value(alg), hash_type) != 0)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "resources[%zu].algorithm \"%.40s\" is not the "
                    "hash_type \"%s\"",
                    i, json_string_value(alg), hash_type);
    if (sig_hex_decode(json_string_value(dig), json_string_length(dig),
                       res->digest, dsize) != 0)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "resources[%zu].digest is not %zu hex digits", i,
                    2 * dsize);
    res->dlen = dsize;
    res->name = mg_strdup(json_string_value(name));
    return res->name ? MG_OK : MG_E_NOMEM;
}

static enum mg_status
parse_resources(json_t *arr,
                struct sig_manifest *man,
                const uint8_t root[32],
                struct mg_sig_result *r)
{
    if (arr == NULL || !json_is_array(arr))
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "predicate has no resources array");
    size_t n = json_array_size(arr);
    if (n == 0)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "the signature covers no file (empty resources)");
    if (n > MG_SIG_MAX_FILES)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_LIMIT,
                    "more than %u resources", MG_SIG_MAX_FILES);
    man->res = mg_calloc(n, sizeof(*man->res));
    if (man->res == NULL)
        return MG_E_NOMEM;
    size_t dsize = sig_hash_size(man->hash_type);
    /* Root digest: SHA-256 over the raw digests in listed order. */
    size_t cat_len;
    if (ckd_mul_size(&cat_len, n, dsize))
        return MG_E_LIMIT;
    uint8_t *cat = mg_malloc(cat_len);
    if (cat == NULL)
        return MG_E_NOMEM;
    enum mg_status st = MG_OK;
    for (size_t i = 0; i < n && st == MG_OK; i++) {
        st = parse_resource(json_array_get(arr, i), i, dsize, man->hash_type,
                            &man->res[i], r);
        if (st == MG_OK) {
            memcpy(cat + i * dsize, man->res[i].digest, dsize);
            man->n_res++;
        }
    }
    if (st == MG_OK) {
        uint8_t got[32];
        sig_sha256(cat, cat_len, got);
        if (memcmp(got, root, 32) != 0)
            st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                      "subject digest does not match the resources (root "
                      "digest mismatch)");
    }
    mg_free(cat);
    if (st != MG_OK)
        return st;
    /* Names must be unique; "." only alone (a single-file model). */
    struct sig_resource **idx = mg_calloc(n, sizeof(*idx));
    if (idx == NULL)
        return MG_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        idx[i] = &man->res[i];
    qsort(idx, n, sizeof(*idx), cmp_res_name);
    for (size_t i = 0; i < n && st == MG_OK; i++) {
        if (i > 0 && strcmp(idx[i]->name, idx[i - 1]->name) == 0)
            st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                      "a file is listed twice in the signature");
        else if (n > 1 && strcmp(idx[i]->name, ".") == 0)
            st = FAIL(r, MG_SIG_R_BAD_NAME, MG_E_MALFORMED,
                      "resource \".\" (a single-file model) among others");
    }
    mg_free(idx);
    return st;
}

enum mg_status
sig_manifest_parse(const uint8_t *payload,
                   size_t len,
                   struct sig_manifest *man,
                   struct mg_sig_result *r)
{
    memset(man, 0, sizeof(*man));
    json_error_t je;
    json_t *root =
        json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                    "signed payload is not valid JSON: %s", je.text);
    enum mg_status st = MG_OK;
    json_t *t = json_object_get(root, "_type");
    json_t *pt = json_object_get(root, "predicateType");
    if (!json_is_object(root) || t == NULL || !json_is_string(t) ||
        strcmp(json_string_value(t), SIG_STATEMENT_TYPE) != 0) {
        st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                  "payload is not an in-toto Statement v1 (_type)");
        goto out;
    }
    if (pt == NULL || !json_is_string(pt)) {
        st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                  "statement has no predicateType");
        goto out;
    }
    if (strcmp(json_string_value(pt), SIG_PREDICATE_TYPE_V01) == 0) {
        st = FAIL(r, MG_SIG_R_UNSUPPORTED, MG_E_UNSUPPORTED,
                  "model_signing v0.2 predicate (%s) is not supported",
                  SIG_PREDICATE_TYPE_V01);
        goto out;
    }
    if (strcmp(json_string_value(pt), SIG_PREDICATE_TYPE) != 0) {
        st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                  "predicateType \"%.100s\" is not a model signature (%s)",
                  json_string_value(pt), SIG_PREDICATE_TYPE);
        goto out;
    }
    json_t *subj = json_object_get(root, "subject");
    if (subj == NULL || !json_is_array(subj) || json_array_size(subj) != 1) {
        st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                  "statement must have exactly one subject");
        goto out;
    }
    json_t *dg = json_object_get(json_array_get(subj, 0), "digest");
    json_t *sha = dg ? json_object_get(dg, "sha256") : NULL;
    uint8_t rootd[32];
    if (sha == NULL || !json_is_string(sha) ||
        sig_hex_decode(json_string_value(sha), json_string_length(sha), rootd,
                       sizeof(rootd)) != 0) {
        st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                  "subject has no sha256 digest");
        goto out;
    }
    json_t *pred = json_object_get(root, "predicate");
    if (pred == NULL || !json_is_object(pred)) {
        st = FAIL(r, MG_SIG_R_BAD_PAYLOAD, MG_E_MALFORMED,
                  "statement has no predicate object");
        goto out;
    }
    st = parse_serialization(json_object_get(pred, "serialization"), man, r);
    if (st == MG_OK)
        st = parse_resources(json_object_get(pred, "resources"), man, rootd, r);
out:
    json_decref(root);
    if (st != MG_OK)
        sig_manifest_free(man);
    return st;
}

void
sig_manifest_free(struct sig_manifest *man)
{
    for (size_t i = 0; i < man->n_ignore; i++)
        mg_free(man->ignore[i]);
    mg_free(man->ignore);
    for (size_t i = 0; i < man->n_res; i++)
        mg_free(man->res[i].name);
    mg_free(man->res);
    memset(man, 0, sizeof(*man));
}

/* ---- building ---- */

static int
cmp_entry_ptr(const void *a, const void *b)
{
    return sig_name_cmp((*(const struct sig_entry *const *)a)->name,
                        (*(const struct sig_entry *const *)b)->name);
}

/* Owned by jansson's allocator (plain malloc: we never change it). */
static json_t *
make_statement(const struct sig_model *m,
               const char *const *ignores,
               size_t n_ignores,
               int allow_symlinks)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].kind == SIG_ENTRY_FILE)
            n++;
    const struct sig_entry **v = mg_calloc(n ? n : 1, sizeof(*v));
    uint8_t *cat = mg_calloc(n ? n : 1, 32);
    json_t *res = json_array();
    json_t *ign = json_array();
    json_t *stmt = NULL;
    if (v == NULL || cat == NULL || res == NULL || ign == NULL)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].kind == SIG_ENTRY_FILE)
            v[k++] = &m->v[i];
    qsort(v, n, sizeof(*v), cmp_entry_ptr);
    for (size_t i = 0; i < n; i++) {
        char hex[2 * SIG_MAX_DIGEST + 1];
        sig_hex_encode(v[i]->digest, 32, hex);
        memcpy(cat + 32 * i, v[i]->digest, 32);
        if (json_array_append_new(res, json_pack("{s:s, s:s, s:s}", "name",
                                                 v[i]->name, "algorithm",
                                                 "sha256", "digest", hex)) != 0)
            goto out;
    }
    for (size_t i = 0; i < n_ignores; i++)
        if (json_array_append_new(ign, json_string(ignores[i])) != 0)
            goto out;
    uint8_t root[32];
    char roothex[65];
    sig_sha256(cat, 32 * n, root);
    sig_hex_encode(root, 32, roothex);
    json_t *ser = json_pack("{s:s, s:s, s:b}", "method", "files", "hash_type",
                            "sha256", "allow_symlinks", allow_symlinks);
    if (ser == NULL)
        goto out;
    if (n_ignores > 0 && json_object_set(ser, "ignore_paths", ign) != 0) {
        json_decref(ser);
        goto out;
    }
    stmt = json_pack("{s:s, s:[{s:s, s:{s:s}}], s:s, s:{s:O, s:o}}", "_type",
                     SIG_STATEMENT_TYPE, "subject", "name", m->name, "digest",
                     "sha256", roothex, "predicateType", SIG_PREDICATE_TYPE,
                     "predicate", "resources", res, "serialization", ser);
out:
    json_decref(res);
    json_decref(ign);
    mg_free(cat);
    mg_free(v);
    return stmt;
}

enum mg_status
sig_bundle_make(const struct sig_model *m,
                const char *const *ignores,
                size_t n_ignores,
                int allow_symlinks,
                const struct mg_key *key,
                struct mg_sig_result *r)
{
    enum mg_status st = MG_E_NOMEM;
    char *payload = NULL, *text = NULL, *payload64 = NULL, *sig64 = NULL;
    uint8_t *pae = NULL, *sig = NULL;
    size_t pae_len = 0, sig_len = 0;
    json_t *bundle = NULL;
    json_t *stmt = make_statement(m, ignores, n_ignores, allow_symlinks);
    if (stmt == NULL)
        goto out;
    /* Two-space indent, as model_signing writes it (any layout verifies:
       the signature covers these exact bytes). */
    payload = json_dumps(stmt, JSON_INDENT(2));
    if (payload == NULL)
        goto out;
    size_t plen = strlen(payload);
    st = sig_pae((const uint8_t *)payload, plen, &pae, &pae_len);
    if (st != MG_OK)
        goto out;
    st = sig_key_sign(key, pae, pae_len, &sig, &sig_len);
    if (st != MG_OK)
        goto out;
    st = MG_E_NOMEM;
    payload64 = sig_b64_encode((const uint8_t *)payload, plen);
    sig64 = sig_b64_encode(sig, sig_len);
    if (payload64 == NULL || sig64 == NULL)
        goto out;
    bundle =
        json_pack("{s:s, s:{s:{s:s}, s:[]}, s:{s:s, s:s, s:[{s:s, s:s}]}}",
                  "mediaType", SIG_BUNDLE_MEDIA_TYPE, "verificationMaterial",
                  "publicKey", "hint", mg_key_hint(key), "tlogEntries",
                  "dsseEnvelope", "payload", payload64, "payloadType",
                  SIG_PAYLOAD_TYPE, "signatures", "sig", sig64, "keyid", "");
    if (bundle == NULL)
        goto out;
    text = json_dumps(bundle, JSON_COMPACT);
    if (text == NULL)
        goto out;
    size_t tlen = strlen(text);
    r->bundle = mg_malloc(tlen + 2);
    if (r->bundle == NULL)
        goto out;
    memcpy(r->bundle, text, tlen);
    r->bundle[tlen] = '\n';
    r->bundle[tlen + 1] = '\0';
    r->bundle_len = tlen + 1;
    st = MG_OK;
out:
    free(text);    /* libc-owned: jansson's json_dumps memory: plain malloc */
    free(payload); /* libc-owned */
    json_decref(bundle);
    json_decref(stmt);
    mg_free(payload64);
    mg_free(sig64);
    mg_free(pae);
    mg_free(sig);
    return st;
}
