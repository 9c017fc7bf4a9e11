/* Library additions for reports and daily use: rebuilding a report from
   saved results (round trip with a real scan), reading a file or member,
   the explanation callback (order, stop early, arguments), SHA-256. */
#include "mg_test.h"
#include "modelgate/mg_sign.h"

static void
test_restore_round_trip(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf =
        mgt_fixture("pickle/mal_broken_after_payload.pkl", &len);
    struct mg_scanner *s = NULL;
    assert_int_equal(mg_scanner_new(NULL, &s), MG_OK);
    struct mg_report *r = NULL;
    assert_int_equal(mg_scan_buffer(s, buf, len, "a.pkl", &r), MG_OK);
    size_t n = mg_report_count(r);
    assert_true(n > 2);
    struct mg_finding *f = calloc(n, sizeof(*f));
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        f[i] = *mg_report_get(r, i);
    struct mg_report *c = NULL;
    assert_int_equal(
        mg_report_restore("b.pkl", mg_report_format(r), mg_report_complete(r),
                          mg_report_max_severity(r), 77, 66, f, n, &c),
        MG_OK);
    assert_string_equal(mg_report_path(c), "b.pkl");
    assert_int_equal(mg_report_verdict(c), mg_report_verdict(r));
    assert_string_equal(mg_report_format(c), "pickle");
    assert_int_equal(mg_report_file_size(c), 77);
    assert_int_equal(mg_report_bytes_read(c), 66);
    assert_int_equal(mg_report_count(c), n);
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *a = mg_report_get(r, i);
        const struct mg_finding *b = mg_report_get(c, i);
        assert_string_equal(a->rule, b->rule);
        assert_string_equal(a->message, b->message);
        assert_int_equal(a->offset, b->offset);
        assert_int_equal(a->count, b->count);
        assert_int_equal(a->severity, b->severity);
    }
    mg_report_free(c);
    /* the worst severity can exceed the findings' (dropped ones) */
    assert_int_equal(mg_report_restore("x", "pickle", 1, MG_SEV_DANGEROUS, 0, 0,
                                       NULL, 0, &c),
                     MG_OK);
    assert_int_equal(mg_report_verdict(c), MG_VERDICT_DANGEROUS);
    mg_report_free(c);
    /* incomplete and nothing worse: error */
    assert_int_equal(
        mg_report_restore("x", NULL, 0, MG_SEV_INFO, 0, 0, NULL, 0, &c), MG_OK);
    assert_int_equal(mg_report_verdict(c), MG_VERDICT_ERROR);
    mg_report_free(c);
    f[0].severity = (enum mg_severity)9;
    assert_int_equal(
        mg_report_restore("x", "p", 1, MG_SEV_INFO, 0, 0, f, n, &c),
        MG_E_INVALID);
    assert_null(c);
    free(f);
    mg_report_free(r);
    mg_scanner_free(s);
    free(buf);
}

static void
test_extract_member(void **state)
{
    (void)state;
    struct mg_scanner *s = NULL;
    assert_int_equal(mg_scanner_new(NULL, &s), MG_OK);
    char path[1024];
    snprintf(path, sizeof(path), "%s/pickle/mal_inst.pkl", MG_FIXTURES);
    size_t flen;
    unsigned char *want = mgt_fixture("pickle/mal_inst.pkl", &flen);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(mg_extract_member(s, path, NULL, &buf, &len), MG_OK);
    assert_int_equal(len, flen);
    assert_memory_equal(buf, want, flen);
    mg_buffer_free(buf);
    assert_int_equal(mg_extract_member(s, path, "data.pkl", &buf, &len),
                     MG_E_UNSUPPORTED);
    assert_null(buf);
    assert_non_null(
        strstr(mg_scanner_errmsg(s), "cannot read member 'data.pkl'"));
    assert_int_equal(mg_extract_member(s, "/nonexistent", NULL, &buf, &len),
                     MG_E_IO);
    mg_buffer_free(NULL);
    mg_scanner_free(s);
    /* within max-member-bytes */
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_member_bytes = flen - 1;
    assert_int_equal(mg_scanner_new(&o, &s), MG_OK);
    assert_int_equal(mg_extract_member(s, path, NULL, &buf, &len), MG_E_LIMIT);
    mg_scanner_free(s);
    free(want);
}

struct lines {
    int n;
    int stop_after;
    enum mg_explain_kind kinds[64];
    char code[64][128];
};

static int
collect(void *user, const struct mg_explain_line *l)
{
    struct lines *x = user;
    if (x->n < 64) {
        x->kinds[x->n] = l->kind;
        snprintf(x->code[x->n], sizeof(x->code[0]), "%s", l->code);
    }
    x->n++;
    return x->stop_after > 0 && x->n >= x->stop_after;
}

static void
test_explain_callback(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = mgt_fixture("pickle/mal_os_system_p0.pkl", &len);
    struct mg_scanner *s = NULL;
    assert_int_equal(mg_scanner_new(NULL, &s), MG_OK);
    struct lines x = {0};
    assert_int_equal(mg_explain_buffer(s, buf, len, 0, collect, &x), MG_OK);
    assert_int_equal(x.n, 4);
    assert_int_equal(x.kinds[0], MG_EXPLAIN_STREAM);
    assert_int_equal(x.kinds[1], MG_EXPLAIN_IMPORT);
    assert_string_equal(x.code[1], "from os import system");
    assert_int_equal(x.kinds[2], MG_EXPLAIN_CALL);
    assert_string_equal(x.code[2], "_1 = system('echo modelgate-test')");
    assert_int_equal(x.kinds[3], MG_EXPLAIN_RESULT);
    assert_string_equal(x.code[3], "result = _1");
    /* a non-zero return stops the lines */
    struct lines y = {.stop_after = 2};
    assert_int_equal(mg_explain_buffer(s, buf, len, 0, collect, &y), MG_OK);
    assert_int_equal(y.n, 2);
    assert_int_equal(mg_explain_buffer(s, NULL, 3, 0, collect, &y),
                     MG_E_INVALID);
    assert_int_equal(mg_explain_buffer(s, buf, len, 0, NULL, &y), MG_E_INVALID);
    /* a limit ends the explanation with a line saying so */
    mg_scanner_free(s);
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_opcodes = 3;
    assert_int_equal(mg_scanner_new(&o, &s), MG_OK);
    struct lines z = {0};
    assert_int_equal(mg_explain_buffer(s, buf, len, 0, collect, &z),
                     MG_E_LIMIT);
    assert_int_equal(z.kinds[z.n - 1], MG_EXPLAIN_BREAK);
    mg_scanner_free(s);
    free(buf);
}

static int
count_lines(void *user, const struct mg_explain_line *l)
{
    (void)l;
    ++*(unsigned long *)user;
    return 0;
}

/* Every prefix of every pickle fixture, and random bytes: the explanation
   always ends (MG_OK, or MG_E_LIMIT), under ASan and UBSan in CI. */
static void
test_explain_prefixes_and_noise(void **state)
{
    (void)state;
    static const char *const names[] = {"all_opcodes.pkl",
                                        "mal_attrgetter.pkl",
                                        "mal_broken_after_payload.pkl",
                                        "mal_build_global.pkl",
                                        "mal_code_interp.pkl",
                                        "mal_dynamic_module_name.pkl",
                                        "mal_frame_mismatch.pkl",
                                        "mal_getattr_import.pkl",
                                        "mal_memo_stack_global.pkl",
                                        "mal_methodcaller.pkl",
                                        "mal_nested_loads.pkl",
                                        "mal_newobj_ex.pkl",
                                        "mal_obj.pkl",
                                        "mal_second_stream.pkl",
                                        "ok_copyreg_reconstructor.pkl",
                                        "ok_datetime.pkl",
                                        "ok_numpy_reconstruct.pkl",
                                        "ok_ordereddict.pkl",
                                        "ok_plain_p0.pkl",
                                        "ok_plain_p5.pkl",
                                        "ok_torch_state_dict_data.pkl",
                                        "sus_dynamic_stack_global.pkl",
                                        "sus_ext.pkl",
                                        "sus_trailing_garbage.pkl",
                                        "unk_sklearn.pkl",
                                        "unk_user_class.pkl"};
    struct mg_scanner *s = NULL;
    assert_int_equal(mg_scanner_new(NULL, &s), MG_OK);
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "pickle/%s", names[k]);
        size_t len;
        unsigned char *buf = mgt_fixture(rel, &len);
        for (unsigned flags = 0; flags <= MG_EXPLAIN_FULL; flags++)
            for (size_t cut = 0; cut <= len; cut++) {
                unsigned long n = 0;
                enum mg_status st =
                    mg_explain_buffer(s, buf, cut, flags, count_lines, &n);
                assert_true(st == MG_OK || st == MG_E_LIMIT);
                assert_true(n > 0);
            }
        free(buf);
    }
    uint64_t seed = 12345;
    unsigned char noise[512];
    for (int i = 0; i < 3000; i++) {
        size_t len = 1 + (size_t)(seed % sizeof(noise));
        for (size_t j = 0; j < len; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            noise[j] = (unsigned char)(seed >> 56);
        }
        unsigned long n = 0;
        enum mg_status st =
            mg_explain_buffer(s, noise, len, 0, count_lines, &n);
        assert_true(st == MG_OK || st == MG_E_LIMIT);
    }
    mg_scanner_free(s);
}

static void
test_sha256(void **state)
{
    (void)state;
    uint8_t d[32];
    mg_sha256_buffer("abc", 3, d);
    static const uint8_t abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    assert_memory_equal(d, abc, 32);
    char path[1024];
    snprintf(path, sizeof(path), "%s/pickle/mal_inst.pkl", MG_FIXTURES);
    size_t len;
    unsigned char *buf = mgt_fixture("pickle/mal_inst.pkl", &len);
    uint8_t f[32];
    uint64_t size = 0;
    assert_int_equal(mg_sha256_file(path, f, &size), MG_OK);
    assert_int_equal(size, len);
    mg_sha256_buffer(buf, len, d);
    assert_memory_equal(d, f, 32);
    assert_int_equal(mg_sha256_file("/nonexistent", f, NULL), MG_E_IO);
    assert_true(mg_policy_fingerprint(NULL) != 0);
    struct mg_policy *p = NULL;
    assert_int_equal(mg_policy_new(&p), MG_OK);
    assert_true(mg_policy_fingerprint(p) == mg_policy_fingerprint(NULL));
    assert_int_equal(mg_policy_set(p, "__main__.MyNet", MG_SEV_INFO), MG_OK);
    assert_true(mg_policy_fingerprint(p) != mg_policy_fingerprint(NULL));
    mg_policy_free(p);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_round_trip),
        cmocka_unit_test(test_extract_member),
        cmocka_unit_test(test_explain_callback),
        cmocka_unit_test(test_explain_prefixes_and_noise),
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
