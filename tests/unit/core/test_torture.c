/* Allocation-failure (torture) tests, STYLE rule 17: every allocation a
   scan of each fixture makes is failed in turn; each run must end with
   MG_E_NOMEM (or a report, when the failure only cost precision), never a
   crash, and, under ASan, never a leak. Needs MG_ALLOC_HOOKS. */
#include "core/alloc.h"
#include "mg_test.h"

#ifdef MG_ALLOC_HOOKS
static const char *const fixtures[] = {
    "pickle/mal_getattr_import.pkl",
    "pickle/ok_torch_state_dict_data.pkl",
    "pickle/mal_nested_loads.pkl",
    "pickle/mal_broken_after_payload.pkl",
    "pickle/mal_build_global.pkl",
    "zip/torch_benign.pt",
    "zip/zip_prefix_pickle.pt",
    "zip/legacy_benign.pt",
    "zip/npz_malicious.npz",
    "zip/zlib_malicious.joblib",
    /* the other formats and libarchive containers */
    "safetensors/ok_no_metadata.safetensors",
    "gguf/ok_chatml_v3.gguf",
    "gguf/mal_template_concat.gguf",
    "keras/mal_lambda_keras2.json",
    "onnx/mal_external_parent.onnx",
    "tf/mal_eager_py_func.pb",
    "hf/mal_tokenizer_config_escapes.json",
    "archive/mal_nested.7z.xz",
    "archive/mal_model_bin.tar.gz",
};

static void
torture_one(const char *rel)
{
    size_t len = 0;
    unsigned char *buf = mgt_fixture(rel, &len);
    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    struct mg_scanner *s = NULL;
    assert_int_equal(mg_scanner_new(&o, &s), MG_OK);

    mg_alloc_fail_at(0);
    struct mg_report *r = NULL;
    assert_int_equal(mg_scan_buffer(s, buf, len, "t", &r), MG_OK);
    enum mg_verdict want = mg_report_verdict(r);
    mg_report_free(r);
    unsigned long total = mg_alloc_count();
    assert_true(total > 0);

    unsigned long nomem = 0;
    for (unsigned long k = 1; k <= total; k++) {
        mg_alloc_fail_at(k);
        r = NULL;
        enum mg_status st = mg_scan_buffer(s, buf, len, "t", &r);
        if (st == MG_E_NOMEM) {
            assert_null(r);
            nomem++;
        } else {
            /* Absorbed failures may cost precision, never safety: a
               dangerous file never comes back less than dangerous. */
            assert_int_equal(st, MG_OK);
            assert_non_null(r);
            if (want == MG_VERDICT_DANGEROUS)
                assert_int_equal(mg_report_verdict(r), MG_VERDICT_DANGEROUS);
            mg_report_free(r);
        }
    }
    mg_alloc_fail_at(0);
    print_message("%s: %lu allocations, %lu failed runs ended in "
                  "MG_E_NOMEM\n",
                  rel, total, nomem);
    assert_true(nomem > 0);
    mg_scanner_free(s);
    free(buf);
}

static void
test_every_allocation_fails_cleanly(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
        torture_one(fixtures[i]);
}
#else
static void
test_every_allocation_fails_cleanly(void **state)
{
    (void)state;
    skip();
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
