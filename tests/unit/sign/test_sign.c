/*
 * test_sign.c - src/sign: name rules, base64, and the library API end to
 * end (sign, verify, each reason), the reference vectors, every
 * truncation of a bundle, and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/alloc.h"
#include "modelgate/mg_sign.h"
#include "sign/sign_int.h"

#define MT MG_FIXTURES "/oms/model-transparency"

/* ---- names ---- */

static void
test_name_check(void **state)
{
    (void)state;
    static const char *const good[] = {"a",         "a/b",      ".hidden",
                                       "a/.b/c..d", "日本.txt", "a b"};
    static const char *const bad[] = {"",    "/a", "a/",     "a//b", "./a",
                                      "a/.", "..", "a/../b", "../x"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_null(sig_name_check(good[i], strlen(good[i]), 0));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_non_null(sig_name_check(bad[i], strlen(bad[i]), 0));
    assert_null(sig_name_check(".", 1, 1));
    assert_non_null(sig_name_check(".", 1, 0));
    assert_non_null(sig_name_check("a\0b", 3, 0));
    assert_non_null(sig_name_check("\xff", 1, 0));
    assert_non_null(sig_name_check("\xc0\xaf", 2, 0));     /* overlong '/' */
    assert_non_null(sig_name_check("\xed\xa0\x80", 3, 0)); /* surrogate */
}

static void
test_name_order(void **state)
{
    (void)state;
    /* Python: sorted(PurePosixPath) gives B, a/a/z, a/b, a-b, a.b, a0, ä */
    static const char *const sorted[] = {"B",   "a/a/z", "a/b",     "a-b",
                                         "a.b", "a0",    "\xc3\xa4"};
    size_t n = sizeof(sorted) / sizeof(sorted[0]);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(sig_name_cmp(sorted[i], sorted[i + 1]) < 0);
        assert_true(sig_name_cmp(sorted[i + 1], sorted[i]) > 0);
    }
    assert_int_equal(sig_name_cmp("a/b", "a/b"), 0);
    assert_true(sig_name_cmp("a", "a/b") < 0);
    assert_true(sig_name_under("a/b", "a"));
    assert_true(sig_name_under("a", "a"));
    assert_false(sig_name_under("ab", "a"));
}

static void
test_name_normalize(void **state)
{
    (void)state;
    const char *why = NULL;
    char *p = sig_name_normalize("./a//b/", &why);
    assert_non_null(p);
    assert_string_equal(p, "a/b");
    mg_free(p);
    assert_null(sig_name_normalize("a/../b", &why));
    assert_non_null(why);
    assert_null(sig_name_normalize("/abs", &why));
    assert_null(sig_name_normalize("./", &why));
}

/* ---- base64 ---- */

static void
test_b64(void **state)
{
    (void)state;
    const uint8_t in[] = {0xfb, 0xff, 0x00, 'a', 'b'};
    for (size_t n = 0; n <= sizeof(in); n++) {
        char *s = sig_b64_encode(in, n);
        assert_non_null(s);
        uint8_t *out = NULL;
        size_t len = 0;
        assert_int_equal(sig_b64_decode(s, strlen(s), &out, &len), MG_OK);
        assert_int_equal(len, n);
        assert_memory_equal(out, in, n);
        mg_free(out);
        mg_free(s);
    }
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(sig_b64_decode("-_8", 3, &out, &len), MG_OK); /* url */
    assert_int_equal(len, 2);
    assert_int_equal(out[0], 0xfb);
    mg_free(out);
    assert_int_equal(sig_b64_decode("ab c", 4, &out, &len), MG_E_MALFORMED);
    assert_int_equal(sig_b64_decode("a", 1, &out, &len), MG_E_MALFORMED);
    assert_int_equal(sig_b64_decode("ab=", 3, &out, &len), MG_E_MALFORMED);
    assert_int_equal(sig_b64_decode("ab==", 4, &out, &len), MG_E_MALFORMED);
    assert_int_equal(sig_b64_decode("A===", 4, &out, &len), MG_E_MALFORMED);
}

/* ---- helpers for the API tests ---- */

struct fx {
    char dir[64];
    char model[96];
    char sig[128];
    struct mg_key *priv;
    struct mg_key *pub;
};

static void
write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static struct mg_key *
gen_key(const char *curve, int private_part)
{
    EVP_PKEY *pk = EVP_EC_gen(curve);
    assert_non_null(pk);
    BIO *b = BIO_new(BIO_s_mem());
    if (private_part)
        assert_int_equal(
            PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PUBKEY(b, pk), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    struct mg_key *k = NULL;
    char err[200];
    assert_int_equal(
        mg_key_from_pem(data, (size_t)n, NULL, &k, err, sizeof(err)), MG_OK);
    BIO_free(b);
    EVP_PKEY_free(pk);
    return k;
}

/* The public half of a private mg_key, through its PEM. */
static struct mg_key *
public_of(const struct mg_key *k)
{
    const char *pem = mg_key_public_pem(k);
    struct mg_key *p = NULL;
    assert_int_equal(mg_key_from_pem(pem, strlen(pem), NULL, &p, NULL, 0),
                     MG_OK);
    assert_false(mg_key_is_private(p));
    assert_string_equal(mg_key_hint(p), mg_key_hint(k));
    return p;
}

static void
fx_model(struct fx *f)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/w.bin", f->model);
    uint8_t big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    write_file(p, big, sizeof(big));
    snprintf(p, sizeof(p), "%s/sub", f->model);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sub/c.json", f->model);
    write_file(p, "{}", 2);
    snprintf(p, sizeof(p), "%s/empty", f->model);
    write_file(p, "", 0);
}

static int
fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mg-sign-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->model, sizeof(f->model), "%s/model", f->dir);
    snprintf(f->sig, sizeof(f->sig), "%s/model/model.sig", f->dir);
    mkdir(f->model, 0755);
    *state = f;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    mg_key_free(f->priv);
    mg_key_free(f->pub);
    free(f);
    return 0;
}

static struct mg_sig_result *
do_sign(struct fx *f, const struct mg_sig_options *opt)
{
    struct mg_sig_result *r = NULL;
    assert_int_equal(mg_sign_model(f->model, f->sig, f->priv, opt, &r), MG_OK);
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_VERIFIED);
    size_t len = 0;
    const char *b = mg_sig_result_bundle(r, &len);
    assert_non_null(b);
    write_file(f->sig, b, len);
    return r;
}

static struct mg_sig_result *
do_verify(struct fx *f, const struct mg_key *key)
{
    struct mg_sig_options opt;
    mg_sig_options_init(&opt);
    opt.jobs = 3;
    struct mg_sig_result *r = NULL;
    assert_int_equal(mg_verify_model(f->model, f->sig, key, NULL, &opt, &r),
                     MG_OK);
    return r;
}

/* Exactly one failure reason, with this code and path. */
static void
assert_one_reason(const struct mg_sig_result *r,
                  enum mg_sig_code code,
                  const char *path)
{
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_FAILED);
    size_t n = 0;
    for (size_t i = 0; i < mg_sig_result_count(r); i++) {
        const struct mg_sig_reason *x = mg_sig_result_get(r, i);
        if (x->code == MG_SIG_R_NOTE)
            continue;
        n++;
        assert_int_equal(x->code, code);
        if (path != NULL)
            assert_string_equal(x->path, path);
    }
    assert_int_equal(n, 1);
}

static void
roundtrip_curve(void **state, const char *curve, const char *name)
{
    struct fx *f = *state;
    f->priv = gen_key(curve, 1);
    f->pub = public_of(f->priv);
    assert_string_equal(mg_key_curve(f->priv), name);
    /* the hint is SHA-256 of the public PEM text */
    uint8_t h[32];
    char hex[65];
    sig_sha256(mg_key_public_pem(f->pub), strlen(mg_key_public_pem(f->pub)), h);
    sig_hex_encode(h, 32, hex);
    assert_string_equal(hex, mg_key_hint(f->pub));
    fx_model(f);
    struct mg_sig_options opt;
    mg_sig_options_init(&opt);
    opt.jobs = 2;
    struct mg_sig_result *s = do_sign(f, &opt);
    assert_int_equal(mg_sig_result_file_count(s), 3);
    assert_int_equal(mg_sig_result_bytes_hashed(s), 300002);
    mg_sig_result_free(s);
    struct mg_sig_result *r = do_verify(f, f->pub);
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_VERIFIED);
    assert_string_equal(mg_sig_result_key_hint(r), mg_key_hint(f->pub));
    mg_sig_result_free(r);
}

static void
test_roundtrip_p256(void **state)
{
    roundtrip_curve(state, "P-256", "P-256");
}

static void
test_roundtrip_p384(void **state)
{
    roundtrip_curve(state, "P-384", "P-384");
}

static void
test_roundtrip_p521(void **state)
{
    roundtrip_curve(state, "P-521", "P-521");
}

static void
test_tampering_reasons(void **state)
{
    struct fx *f = *state;
    f->priv = gen_key("P-256", 1);
    f->pub = public_of(f->priv);
    fx_model(f);
    mg_sig_result_free(do_sign(f, NULL));
    char p[160], q[160];

    snprintf(p, sizeof(p), "%s/sub/c.json", f->model);
    write_file(p, "{ }", 3);
    struct mg_sig_result *r = do_verify(f, f->pub);
    assert_one_reason(r, MG_SIG_R_CHANGED, "sub/c.json");
    mg_sig_result_free(r);
    write_file(p, "{}", 2);

    snprintf(p, sizeof(p), "%s/new", f->model);
    write_file(p, "n", 1);
    r = do_verify(f, f->pub);
    assert_one_reason(r, MG_SIG_R_ADDED, "new");
    mg_sig_result_free(r);
    unlink(p);

    snprintf(p, sizeof(p), "%s/empty", f->model);
    snprintf(q, sizeof(q), "%s/sub/empty", f->model);
    assert_int_equal(rename(p, q), 0);
    r = do_verify(f, f->pub);
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_FAILED);
    assert_int_equal(mg_sig_result_count(r), 2);
    assert_int_equal(mg_sig_result_get(r, 0)->code, MG_SIG_R_MISSING);
    assert_string_equal(mg_sig_result_get(r, 0)->path, "empty");
    assert_int_equal(mg_sig_result_get(r, 1)->code, MG_SIG_R_ADDED);
    assert_string_equal(mg_sig_result_get(r, 1)->path, "sub/empty");
    mg_sig_result_free(r);
    assert_int_equal(rename(q, p), 0);

    struct mg_key *other = gen_key("P-256", 0);
    r = do_verify(f, other);
    assert_one_reason(r, MG_SIG_R_KEY_MISMATCH, NULL);
    mg_sig_result_free(r);
    mg_key_free(other);

    r = do_verify(f, f->pub); /* back to the original: verifies */
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_VERIFIED);
    mg_sig_result_free(r);
}

static void
test_empty_model_and_public_key(void **state)
{
    struct fx *f = *state;
    f->priv = gen_key("P-384", 1);
    f->pub = public_of(f->priv);
    struct mg_sig_result *r = NULL;
    assert_int_equal(mg_sign_model(f->model, f->sig, f->pub, NULL, &r),
                     MG_E_INVALID);
    assert_null(r);
    assert_int_equal(mg_sign_model(f->model, f->sig, f->priv, NULL, &r), MG_OK);
    assert_one_reason(r, MG_SIG_R_REFUSED, NULL);
    assert_null(mg_sig_result_bundle(r, NULL));
    mg_sig_result_free(r);
}

/* Every prefix of a valid bundle is refused as malformed, never a crash
   (this is also what ASan checks). */
static void
test_every_truncation(void **state)
{
    struct fx *f = *state;
    f->priv = gen_key("P-256", 1);
    f->pub = public_of(f->priv);
    fx_model(f);
    struct mg_sig_result *s = do_sign(f, NULL);
    size_t len = 0;
    const char *b = mg_sig_result_bundle(s, &len);
    for (size_t cut = 0; cut + 1 < len; cut += 7) {
        struct mg_sig_result *r = NULL;
        assert_int_equal(mg_verify_model_buffer(f->model, b, cut, f->sig,
                                                f->pub, NULL, NULL, &r),
                         MG_OK);
        assert_one_reason(r, MG_SIG_R_MALFORMED, NULL);
        mg_sig_result_free(r);
    }
    mg_sig_result_free(s);
}

static void
test_reference_vectors(void **state)
{
    (void)state;
    struct mg_key *k = NULL;
    char err[200];
    assert_int_equal(
        mg_key_load(MT "/keys/signing-key-pub.pem", NULL, &k, err, sizeof(err)),
        MG_OK);
    assert_string_equal(mg_key_curve(k), "P-384");
    assert_string_equal(
        mg_key_hint(k),
        "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e");
    struct mg_sig_result *r = NULL;
    assert_int_equal(mg_verify_model(MT "/v1.1.0-elliptic-key",
                                     MT "/v1.1.0-elliptic-key/model.sig", k,
                                     NULL, NULL, &r),
                     MG_OK);
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_VERIFIED);
    /* ignore-me is listed (check scans it), as ignored */
    int seen = 0;
    for (size_t i = 0; i < mg_sig_result_file_count(r); i++) {
        const struct mg_sig_file *x = mg_sig_result_file(r, i);
        if (strcmp(x->name, "ignore-me") == 0) {
            assert_int_equal(x->state, MG_SIG_FILE_IGNORED);
            seen = 1;
        }
    }
    assert_true(seen);
    mg_sig_result_free(r);

    const char *ign[] = {"ignore-me"};
    struct mg_sig_options opt;
    mg_sig_options_init(&opt);
    opt.ignore = ign;
    opt.n_ignore = 1;
    assert_int_equal(mg_verify_model(MT "/v1.0.1-elliptic-key",
                                     MT "/v1.0.1-elliptic-key/model.sig", k,
                                     NULL, &opt, &r),
                     MG_OK);
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_VERIFIED);
    mg_sig_result_free(r);

    assert_int_equal(mg_verify_model(MT "/v0.3.1-elliptic-key/signme-1",
                                     MT "/v0.3.1-elliptic-key/model.sig", k,
                                     NULL, NULL, &r),
                     MG_OK);
    assert_int_equal(mg_sig_result_verdict(r), MG_SIG_VERIFIED);
    mg_sig_result_free(r);

    assert_int_equal(mg_verify_model(MT "/v1.1.0-elliptic-key",
                                     MT "/no-such.sig", k, NULL, NULL, &r),
                     MG_OK);
    assert_one_reason(r, MG_SIG_R_UNSIGNED, NULL);
    mg_sig_result_free(r);
    mg_key_free(k);
}

#ifdef MG_ALLOC_HOOKS
/* Fail each allocation of a verify in turn: MG_E_NOMEM or a result,
   never a crash or a leak (ASan). */
static void
test_alloc_failures(void **state)
{
    (void)state;
    struct mg_key *k = NULL;
    assert_int_equal(
        mg_key_load(MT "/keys/signing-key-pub.pem", NULL, &k, NULL, 0), MG_OK);
    mg_alloc_fail_at(0);
    struct mg_sig_result *r = NULL;
    assert_int_equal(mg_verify_model(MT "/v1.1.0-elliptic-key",
                                     MT "/v1.1.0-elliptic-key/model.sig", k,
                                     NULL, NULL, &r),
                     MG_OK);
    unsigned long total = mg_alloc_count();
    mg_sig_result_free(r);
    assert_true(total > 10);
    for (unsigned long n = 1; n <= total; n++) {
        mg_alloc_fail_at(n);
        r = NULL;
        enum mg_status st = mg_verify_model(MT "/v1.1.0-elliptic-key",
                                            MT "/v1.1.0-elliptic-key/model.sig",
                                            k, NULL, NULL, &r);
        mg_alloc_fail_at(0);
        if (st == MG_OK) {
            /* a failed allocation must never look like a verification */
            assert_non_null(r);
            if (mg_sig_result_verdict(r) == MG_SIG_VERIFIED)
                assert_true(mg_sig_result_count(r) == 0);
        } else {
            assert_int_equal(st, MG_E_NOMEM);
            assert_null(r);
        }
        mg_sig_result_free(r);
    }
    mg_key_free(k);
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_check),
        cmocka_unit_test(test_name_order),
        cmocka_unit_test(test_name_normalize),
        cmocka_unit_test(test_b64),
        cmocka_unit_test_setup_teardown(test_roundtrip_p256, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_p384, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_p521, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_tampering_reasons, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_model_and_public_key,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_reference_vectors),
#ifdef MG_ALLOC_HOOKS
        cmocka_unit_test(test_alloc_failures),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
