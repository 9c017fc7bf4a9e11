/* TensorFlow SavedModel, frozen GraphDef and keras_metadata.pb: ops that
   touch files, run Python or reach the network, with their constant
   arguments; asset paths; Keras metadata; damaged copies. */
#include "formats/fmt_test.h"

static const struct fx_expect table[] = {
    {"ok_saved_model.pb", MG_VERDICT_SAFE, "tf-summary",
     "3 functions, 3 ops of interest (3 checkpoint ops)"},
    {"ok_print_to_stderr.pb", MG_VERDICT_SAFE, NULL, NULL},
    {"mal_eager_py_func.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "op EagerPyFunc (node \"EagerPyFunc\" in function "
     "\"__inference_serve_5\") runs a Python function of the loading "
     "process: token = \"pyfunc_0\""},
    {"mal_py_func_graph.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "op PyFunc (node \"PyFunc\" in the graph)"},
    {"mal_write_file.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "writes files: input path:output:0 = \"/tmp/modelgate-test.sh\"; input "
     "content:output:0 = \"echo hi\""},
    {"mal_read_file_const.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "= \"/etc/passwd\""},
    {"sus_read_file_input.pb", MG_VERDICT_SUSPICIOUS, "tf-op", "op ReadFile"},
    {"sus_matching_files.pb", MG_VERDICT_SUSPICIOUS, "tf-op",
     "op MatchingFiles (node \"MatchingFiles\" in the graph) reads or lists "
     "files: input pattern = \"data/*.txt\""},
    {"mal_debug_identity_grpc.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "debug_urls = \"grpc://192.0.2.7:6064\""},
    {"mal_data_service.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "connects to other hosts: input address:output:0 = \"192.0.2.9:5000\""},
    {"mal_restore_fixed_path.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "op RestoreV2"},
    {"mal_print_to_file.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "writes to a file: output_stream = \"file:///tmp/modelgate-log\""},
    {"mal_asset_traversal.pb", MG_VERDICT_DANGEROUS, "tf-asset-path",
     "\"../../../../etc/passwd\" climbs out"},
    {"mal_object_graph_keras_lambda.pb", MG_VERDICT_DANGEROUS, "keras-lambda",
     "object metadata (_tf_keras_layer)"},
    {"sus_truncated_saved_model.pb", MG_VERDICT_SUSPICIOUS, "tf-malformed",
     "truncated"},
};

static const struct fx_expect graphdef_table[] = {
    {"ok_frozen_graph.pb", MG_VERDICT_SAFE, "tf-summary", "4 nodes"},
    {"mal_frozen_graph_py_func.pb", MG_VERDICT_DANGEROUS, "tf-op",
     "op PyFunc (node \"py\" in the graph)"},
};

static const struct fx_expect keras_table[] = {
    {"ok_keras_metadata.pb", MG_VERDICT_SAFE, "tf-summary", "2 objects"},
    {"mal_keras_metadata_lambda.pb", MG_VERDICT_DANGEROUS, "keras-lambda",
     "keras_metadata object root.layer-1"},
};

static const struct fx_expect fingerprint_table[] = {
    {"ok_fingerprint.pb", MG_VERDICT_SAFE, "tf-summary", "fingerprint"},
};

static void
test_fixtures(void **state)
{
    (void)state;
    fx_run("tf", "tf-savedmodel", table, sizeof(table) / sizeof(table[0]));
    fx_run("tf", "tf-graphdef", graphdef_table,
           sizeof(graphdef_table) / sizeof(graphdef_table[0]));
    fx_run("tf", "keras-metadata-pb", keras_table,
           sizeof(keras_table) / sizeof(keras_table[0]));
    fx_run("tf", "tf-fingerprint", fingerprint_table, 1);
}

static void
test_damage(void **state)
{
    (void)state;
    fx_truncations("tf/mal_write_file.pb", 8, 3, 0);
    fx_flips("tf/mal_write_file.pb", 2);
    fx_flips("tf/mal_keras_metadata_lambda.pb", 13);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
