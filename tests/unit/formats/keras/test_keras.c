/* Keras: config.json / metadata.json members (JSON, any encoding Python's
   json.loads(bytes) accepts) and legacy .h5 models (libhdf5), each fixture
   with its verdict and explaining finding; damaged copies. */
#include "formats/fmt_test.h"

static const struct fx_expect json_table[] = {
    {"ok_config_keras3.json", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_metadata.json", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_model_config_keras2.json", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_nan_value.json", MG_VERDICT_SAFE, NULL, NULL},
    {"mal_lambda_keras3.json", MG_VERDICT_DANGEROUS, "keras-lambda",
     "218 bytes of marshalled Python bytecode (names and strings: os, true, "
     "__import__, system)"},
    {"mal_lambda_keras2.json", MG_VERDICT_DANGEROUS, "keras-lambda",
     "layer \"lambda\" at config.layers[2].config.function[0]"},
    {"mal_lambda_keras2_function.json", MG_VERDICT_DANGEROUS, "keras-module",
     "function os.system from outside Keras"},
    {"mal_lambda_harmless_code.json", MG_VERDICT_DANGEROUS, "keras-lambda",
     "112 bytes"},
    {"mal_lambda_utf16.json", MG_VERDICT_DANGEROUS, "keras-lambda", NULL},
    {"mal_module_builtins_exec.json", MG_VERDICT_DANGEROUS, "keras-module",
     "builtins.exec"},
    {"mal_module_os_system.json", MG_VERDICT_DANGEROUS, "keras-module",
     "os.system"},
    {"mal_keras_get_file.json", MG_VERDICT_DANGEROUS, "keras-function",
     "keras.utils.get_file, which downloads"},
    {"mal_lookup_vocabulary_path.json", MG_VERDICT_DANGEROUS, "keras-file",
     "\"/etc/passwd\" (a path that is absolute)"},
    {"sus_lookup_vocabulary_relative.json", MG_VERDICT_SUSPICIOUS, "keras-file",
     "\"vocab.txt\""},
    {"mal_layer_name_traversal.json", MG_VERDICT_DANGEROUS, "keras-path",
     "climbs out of the model folder"},
    {"mal_embedded_pickle_base64.json", MG_VERDICT_DANGEROUS, "pickle-call",
     "os.system('true')"},
    {"mal_embedded_pickle_latin1.json", MG_VERDICT_DANGEROUS, "pickle-call",
     "os.system('true')"},
    {"mal_bytecode_outside_lambda.json", MG_VERDICT_DANGEROUS, "keras-bytecode",
     "outside any Lambda layer"},
    {"unk_custom_layer.json", MG_VERDICT_UNKNOWN, "keras-module",
     "class my_package.layers.MyLayer from outside Keras"},
    {"unk_registered_custom_object.json", MG_VERDICT_UNKNOWN,
     "keras-custom-object", "\"Custom>Scaler\""},
    {"sus_duplicate_key.json", MG_VERDICT_SUSPICIOUS, "keras-json",
     "key \"layers\" appears twice"},
    {"sus_not_json.json", MG_VERDICT_SUSPICIOUS, "keras-json",
     "not valid JSON"},
    {"err_deep_nesting.json", MG_VERDICT_ERROR, "limit", "max-json-depth"},
};

static const struct fx_expect h5_table[] = {
    {"ok_keras2_model.h5", MG_VERDICT_SAFE, "h5-summary", "(Keras model)"},
    {"ok_keras2_model_vlen.h5", MG_VERDICT_SAFE, "h5-summary", "(Keras model)"},
    {"ok_weights_only.h5", MG_VERDICT_SAFE, "h5-summary", "6 groups"},
    {"mal_keras2_lambda.h5", MG_VERDICT_DANGEROUS, "keras-lambda",
     "HDF5 attribute /model_config: layer \"lambda\""},
    {"mal_keras2_lambda_vlen.h5", MG_VERDICT_DANGEROUS, "keras-lambda", NULL},
    {"mal_keras2_module_os_system.h5", MG_VERDICT_DANGEROUS, "keras-module",
     "os.system"},
    {"mal_attr_pickle.h5", MG_VERDICT_DANGEROUS, "pickle-call",
     "os.system('true')"},
    {"mal_external_link_parent.h5", MG_VERDICT_DANGEROUS, "h5-external-link",
     "\"../../outside/weights.h5\""},
    {"sus_external_link.h5", MG_VERDICT_SUSPICIOUS, "h5-external-link",
     "\"extra_weights.h5\""},
    {"sus_truncated.h5", MG_VERDICT_SUSPICIOUS, "h5-malformed", NULL},
};

static void
test_json_fixtures(void **state)
{
    (void)state;
    fx_run("keras", "keras-json", json_table,
           sizeof(json_table) / sizeof(json_table[0]));
}

static void
test_h5_fixtures(void **state)
{
    (void)state;
    fx_run("h5", "hdf5", h5_table, sizeof(h5_table) / sizeof(h5_table[0]));
}

/* The pickle inside a config is its own layer, named by its JSON path. */
static void
test_nested_layer_name(void **state)
{
    (void)state;
    struct mg_report *r =
        mgt_scan_fixture("keras/mal_embedded_pickle_base64.json");
    const struct mg_finding *f = fx_find(r, "pickle-call", NULL);
    assert_non_null(f);
    assert_non_null(f->layer);
    assert_string_equal(f->layer, "Keras config:config.layers[1].config.note");
    mg_report_free(r);
}

/* UTF-32 and UTF-8 with a BOM decode like json.loads(bytes). */
static void
test_encodings(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = mgt_fixture("keras/mal_lambda_keras3.json", &len);
    /* UTF-32-LE without BOM */
    unsigned char *w = calloc(len, 4);
    for (size_t i = 0; i < len; i++)
        w[4 * i] = b[i];
    struct mg_report *r = mgt_scan(w, 4 * len);
    assert_string_equal(mg_report_format(r), "keras-json");
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    mg_report_free(r);
    /* UTF-8 with BOM */
    unsigned char *s = malloc(len + 3);
    memcpy(s, "\xef\xbb\xbf", 3);
    memcpy(s + 3, b, len);
    r = mgt_scan(s, len + 3);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    mg_report_free(r);
    free(s);
    free(w);
    free(b);
}

static void
test_limits(void **state)
{
    (void)state;
    FX_LIMIT("keras/mal_lambda_keras3.json", max_json_values, 10,
             "max-json-values");
    FX_LIMIT("keras/mal_lambda_keras3.json", max_header_bytes, 100,
             "max-header-bytes");
    /* groups of an HDF5 file count against max-members */
    FX_LIMIT("h5/ok_weights_only.h5", max_members, 2, "max-members");
}

/* libhdf5 1.10 crashes on one of these files and loops on the other
   (a byte of a Keras .h5 changed, found by the flips below): the reader
   runs in a child process, so the scan survives both and says so. */
static void
test_libhdf5_crash_and_loop(void **state)
{
    (void)state;
    struct mg_report *r = mgt_scan_fixture("h5/sus_libhdf5_crash.h5");
    assert_verdict(r, MG_VERDICT_SUSPICIOUS);
    assert_non_null(fx_find(r, "h5-malformed", "libhdf5 crashed"));
    mg_report_free(r);
    size_t len;
    unsigned char *b = mgt_fixture("h5/err_libhdf5_loop.h5", &len);
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_seconds = 2;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_non_null(fx_find(r, "limit", "max-seconds"));
    mg_report_free(r);
    free(b);
}

/* Each HDF5 scan forks the libhdf5 reader; under ASan a fork of the test
   process (with its quarantine) costs much more: sample less there. */
#if defined(__SANITIZE_ADDRESS__)
#define H5_SAMPLE 16
#else
#define H5_SAMPLE 1
#endif

static void
test_damage(void **state)
{
    (void)state;
    fx_truncations("keras/mal_lambda_keras3.json", 80, 7, 0);
    fx_flips("keras/mal_lambda_keras2.json", 11);
    /* libhdf5 on damaged files (it crashes on some, and loops on one of
       these flips until the time limit): every 211th prefix, every 389th
       byte, with a 2-second budget; each scan forks a reader) */
    fx_truncations("h5/ok_keras2_model.h5", 8, 211 * H5_SAMPLE, 0);
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_seconds = 2;
    fx_flips_opts("h5/mal_keras2_lambda.h5", 389 * H5_SAMPLE, &o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_fixtures),
        cmocka_unit_test(test_h5_fixtures),
        cmocka_unit_test(test_nested_layer_name),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_libhdf5_crash_and_loop),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
