/* ONNX end to end: external data paths, custom domains, local functions,
   subgraphs; damaged copies of a model written by the onnx package. */
#include "formats/fmt_test.h"

static const struct fx_expect table[] = {
    {"ok_mlp.onnx", MG_VERDICT_SAFE, "onnx-summary",
     "producer \"modelgate-tests\", opsets [ai.onnx 13], 3 nodes"},
    {"ok_external_data.onnx", MG_VERDICT_SAFE, "onnx-external-data",
     "\"weights.bin\" in the model folder"},
    {"ok_external_data_subdir.onnx", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_onnxruntime_contrib.onnx", MG_VERDICT_SAFE, "onnx-custom-domain",
     "built into onnxruntime"},
    {"ok_local_function.onnx", MG_VERDICT_SAFE, "onnx-function",
     "local:MyRelu"},
    {"mal_external_absolute.onnx", MG_VERDICT_DANGEROUS, "onnx-external-data",
     "\"/etc/passwd\", a path that is absolute"},
    {"mal_external_parent.onnx", MG_VERDICT_DANGEROUS, "onnx-external-data",
     "climbs out of the model folder"},
    {"mal_external_windows.onnx", MG_VERDICT_DANGEROUS, "onnx-external-data",
     "climbs out of the model folder"},
    {"mal_external_in_subgraph.onnx", MG_VERDICT_DANGEROUS,
     "onnx-external-data",
     "attribute tensor \"C\" reads its data from "
     "\"/proc/self/environ\""},
    {"sus_external_not_marked.onnx", MG_VERDICT_SUSPICIOUS,
     "onnx-external-data", "data_location is not EXTERNAL"},
    {"unk_custom_domain.onnx", MG_VERDICT_UNKNOWN, "onnx-custom-domain",
     "domain \"com.example.custom\" (MyOp)"},
    {"unk_onnxruntime_extensions_op.onnx", MG_VERDICT_UNKNOWN,
     "onnx-custom-domain", "\"ai.onnx.contrib\" (PyReverse)"},
    {"sus_truncated.onnx", MG_VERDICT_SUSPICIOUS, "onnx-malformed",
     "truncated"},
    {"err_deep_subgraphs.onnx", MG_VERDICT_ERROR, "limit", "max-nesting"},
};

static void
test_fixtures(void **state)
{
    (void)state;
    fx_run("onnx", "onnx", table, sizeof(table) / sizeof(table[0]));
}

static void
test_nesting_limit_is_settable(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = mgt_fixture("onnx/err_deep_subgraphs.onnx", &len);
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_nesting = 100;
    struct mg_report *r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_SAFE);
    mg_report_free(r);
    free(b);
}

static void
test_damage(void **state)
{
    (void)state;
    fx_truncations("onnx/mal_external_in_subgraph.onnx", 8, 1, 0);
    fx_flips("onnx/mal_external_in_subgraph.onnx", 1);
    fx_flips("onnx/ok_local_function.onnx", 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_nesting_limit_is_settable),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
