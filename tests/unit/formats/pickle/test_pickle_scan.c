/* The pickle format end to end through mg_scan_buffer: each committed
   fixture gets its verdict and the finding that explains it. */
#include "mg_test.h"

struct expect {
    const char *file;
    enum mg_verdict verdict;
    const char *rule; /* a finding that must be there, or NULL */
    const char *module;
    const char *name;
};

static const struct expect table[] = {
    {"mal_os_system_p0.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os",
     "system"},
    {"mal_posix_system_p2.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "posix",
     "system"},
    {"mal_nt_system_p1.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "nt",
     "system"},
    {"mal_subprocess_popen_p3.pkl", MG_VERDICT_DANGEROUS, "pickle-call",
     "subprocess", "Popen"},
    {"mal_eval_p4.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "builtins",
     "eval"},
    {"mal_exec_p5.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "builtins",
     "exec"},
    {"mal_compile_exec.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "builtins",
     "compile"},
    {"mal_runpy.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "runpy",
     "_run_code"},
    {"mal_getattr_import.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os",
     "system"},
    {"mal_inst.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os", "system"},
    {"mal_obj.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os", "system"},
    {"mal_memo_stack_global.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os",
     "system"},
    {"mal_newobj.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "subprocess",
     "Popen"},
    {"mal_newobj_ex.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "subprocess",
     "Popen"},
    {"mal_attrgetter.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os", "system"},
    {"mal_methodcaller.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os",
     "system"},
    {"mal_dotted_carrier.pkl", MG_VERDICT_DANGEROUS, "pickle-global", "pathlib",
     "os.system"},
    {"mal_compat_builtin.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "builtins",
     "eval"},
    {"mal_compat_commands.pkl", MG_VERDICT_DANGEROUS, "pickle-call",
     "subprocess", "getoutput"},
    {"mal_broken_after_payload.pkl", MG_VERDICT_DANGEROUS, "pickle-broken",
     NULL, NULL},
    {"mal_truncated.pkl", MG_VERDICT_DANGEROUS, "pickle-broken", NULL, NULL},
    {"mal_second_stream.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os",
     "system"},
    {"mal_pip_main.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "pip", "main"},
    {"mal_cprofile.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "cProfile",
     "run"},
    {"mal_code_interp.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "code",
     "InteractiveInterpreter.runcode"},
    {"mal_build_global.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "os",
     "system"},
    {"mal_frame_mismatch.pkl", MG_VERDICT_DANGEROUS, "pickle-frame", NULL,
     NULL},
    {"mal_nested_loads.pkl", MG_VERDICT_DANGEROUS, "pickle-call", "pickle",
     "loads"},
    {"mal_reverse_shell.pkl", MG_VERDICT_DANGEROUS, "indicator-shell", NULL,
     NULL},
    {"mal_url_download.pkl", MG_VERDICT_DANGEROUS, "indicator-url", NULL, NULL},
    {"mal_dynamic_module_name.pkl", MG_VERDICT_DANGEROUS,
     "pickle-dynamic-global", NULL, NULL},
    {"sus_dynamic_stack_global.pkl", MG_VERDICT_SUSPICIOUS,
     "pickle-dynamic-global", NULL, NULL},
    {"sus_ext.pkl", MG_VERDICT_SUSPICIOUS, "pickle-ext", NULL, NULL},
    {"sus_getattr_only.pkl", MG_VERDICT_SUSPICIOUS, "pickle-global", "builtins",
     "getattr"},
    {"sus_broken_benign.pkl", MG_VERDICT_SUSPICIOUS, "pickle-broken", NULL,
     NULL},
    {"sus_trailing_garbage.pkl", MG_VERDICT_SUSPICIOUS, "pickle-trailing-data",
     NULL, NULL},
    {"unk_user_class.pkl", MG_VERDICT_UNKNOWN, "pickle-global", "__main__",
     "MyNet"},
    {"unk_sklearn.pkl", MG_VERDICT_UNKNOWN, "pickle-call",
     "sklearn.tree._classes", "DecisionTreeClassifier"},
    {"ok_plain_p0.pkl", MG_VERDICT_SAFE, NULL, NULL, NULL},
    {"ok_plain_p2.pkl", MG_VERDICT_SAFE, NULL, NULL, NULL},
    {"ok_plain_p4.pkl", MG_VERDICT_SAFE, NULL, NULL, NULL},
    {"ok_plain_p5.pkl", MG_VERDICT_SAFE, NULL, NULL, NULL},
    {"ok_ordereddict.pkl", MG_VERDICT_SAFE, "pickle-global", "collections",
     "OrderedDict"},
    {"ok_numpy_reconstruct.pkl", MG_VERDICT_SAFE, "pickle-global",
     "numpy.core.multiarray", "_reconstruct"},
    {"ok_torch_state_dict_data.pkl", MG_VERDICT_SAFE, "pickle-global",
     "torch._utils", "_rebuild_tensor_v2"},
    {"ok_datetime.pkl", MG_VERDICT_SAFE, NULL, NULL, NULL},
    {"ok_copyreg_reconstructor.pkl", MG_VERDICT_SAFE, NULL, NULL, NULL},
};

static void
test_fixture_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "pickle/%s", table[i].file);
        struct mg_report *r = mgt_scan_fixture(rel);
        if (mg_report_verdict(r) != table[i].verdict ||
            (table[i].rule &&
             !mgt_find(r, table[i].rule, table[i].module, table[i].name))) {
            print_error("fixture %s\n", table[i].file);
            mgt_dump(r);
        }
        assert_verdict(r, table[i].verdict);
        if (table[i].rule != NULL)
            assert_finding(r, table[i].rule, table[i].module, table[i].name);
        assert_true(mg_report_complete(r));
        assert_string_equal(mg_report_format(r), "pickle");
        mg_report_free(r);
    }
}

static void
test_offsets(void **state)
{
    (void)state;
    struct mg_report *r = mgt_scan_fixture("pickle/mal_os_system_p0.pkl");
    const struct mg_finding *f = mgt_find(r, "pickle-global", "os", "system");
    assert_non_null(f);
    assert_true(f->has_offset);
    assert_int_equal(f->offset, 0); /* the GLOBAL opcode */
    mg_report_free(r);
    r = mgt_scan_fixture("pickle/mal_broken_after_payload.pkl");
    f = mgt_find(r, "pickle-broken", NULL, NULL);
    assert_non_null(f);
    assert_int_equal(f->offset, 62); /* the first garbage byte */
    assert_non_null(mgt_find(r, "pickle-call", "posix", "system"));
    mg_report_free(r);
}

static void
test_nested_layer(void **state)
{
    (void)state;
    struct mg_report *r = mgt_scan_fixture("pickle/mal_nested_loads.pkl");
    int nested = 0;
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (f->layer && strcmp(f->layer, "arg@47") == 0 && f->name &&
            strcmp(f->name, "system") == 0)
            nested = 1;
    }
    assert_true(nested);
    mg_report_free(r);
}

static void
test_not_a_pickle(void **state)
{
    (void)state;
    const char text[] = "hello, this is a README\n";
    struct mg_report *r = mgt_scan(text, sizeof(text) - 1);
    assert_verdict(r, MG_VERDICT_SAFE);
    assert_string_equal(mg_report_format(r), "text");
    mg_report_free(r);
    const unsigned char bin[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
    r = mgt_scan(bin, sizeof(bin));
    assert_verdict(r, MG_VERDICT_UNKNOWN);
    assert_finding(r, "format-unrecognised", NULL, NULL);
    mg_report_free(r);
    r = mgt_scan("", 0);
    assert_string_equal(mg_report_format(r), "empty");
    mg_report_free(r);
}

static void
test_resync_finds_hidden_stream(void **state)
{
    (void)state;
    /* junk, then a protocol 2 stream with a payload */
    const char data[] = "\xff\xfe junk junk "
                        "\x80\x02"
                        "cos\nsystem\nX\x04\x00\x00\x00true\x85R.";
    struct mg_report *r = mgt_scan(data, sizeof(data) - 1);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_finding(r, "pickle-call", "os", "system");
    mg_report_free(r);
}

static void
test_limit_makes_error(void **state)
{
    (void)state;
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_opcodes = 5;
    size_t len = 0;
    unsigned char *b = mgt_fixture("pickle/ok_plain_p2.pkl", &len);
    struct mg_report *r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_false(mg_report_complete(r));
    assert_finding(r, "limit", NULL, "max-opcodes");
    mg_report_free(r);
    /* limits never hide what was found before them */
    free(b);
    b = mgt_fixture("pickle/mal_posix_system_p2.pkl", &len);
    o.limits.max_opcodes = 7;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_false(mg_report_complete(r));
    mg_report_free(r);
    free(b);
    /* streams */
    mg_options_init(&o);
    o.limits.max_streams = 1;
    b = mgt_fixture("pickle/mal_second_stream.pkl", &len);
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_finding(r, "limit", NULL, "max-streams");
    mg_report_free(r);
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_table),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_nested_layer),
        cmocka_unit_test(test_not_a_pickle),
        cmocka_unit_test(test_resync_finds_hidden_stream),
        cmocka_unit_test(test_limit_makes_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
