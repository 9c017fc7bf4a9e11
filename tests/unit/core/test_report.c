/* Reports: duplicates merge with a count, verdicts follow severities and
   completeness, the finding cap never hides the worst severity. */
#include "core/report.h"
#include "mg_test.h"

static struct mg_finding_in
fin(enum mg_severity s, const char *rule, const char *msg)
{
    struct mg_finding_in f = {.sev = s, .rule = rule, .message = msg};
    return f;
}

static void
test_merge_and_verdict(void **state)
{
    (void)state;
    struct mg_report *r = mg_report_new("x", 100);
    assert_non_null(r);
    assert_int_equal(mg_report_verdict(r), MG_VERDICT_SAFE);
    struct mg_finding_in a = fin(MG_SEV_UNKNOWN, "r1", "m");
    assert_int_equal(mg_report_add(r, NULL, &a), MG_OK);
    assert_int_equal(mg_report_add(r, NULL, &a), MG_OK);
    assert_int_equal(mg_report_count(r), 1);
    assert_int_equal(mg_report_get(r, 0)->count, 2);
    assert_int_equal(mg_report_verdict(r), MG_VERDICT_UNKNOWN);
    /* same finding in another layer is another finding */
    assert_int_equal(mg_report_add(r, "inner.pkl", &a), MG_OK);
    assert_int_equal(mg_report_count(r), 2);
    assert_string_equal(mg_report_get(r, 1)->layer, "inner.pkl");
    mg_report_set_incomplete(r);
    assert_int_equal(mg_report_verdict(r), MG_VERDICT_ERROR);
    struct mg_finding_in d = fin(MG_SEV_DANGEROUS, "r2", "m");
    assert_int_equal(mg_report_add(r, NULL, &d), MG_OK);
    /* something dangerous wins over an incomplete scan */
    assert_int_equal(mg_report_verdict(r), MG_VERDICT_DANGEROUS);
    assert_null(mg_report_get(r, 99));
    mg_report_free(r);
    mg_report_free(NULL);
}

static void
test_cap_keeps_severity(void **state)
{
    (void)state;
    struct mg_report *r = mg_report_new("x", 3);
    char msg[32];
    for (int i = 0; i < 10; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        struct mg_finding_in f = fin(MG_SEV_INFO, "r", msg);
        assert_int_equal(mg_report_add(r, NULL, &f), MG_OK);
    }
    struct mg_finding_in d = fin(MG_SEV_DANGEROUS, "late", "m");
    assert_int_equal(mg_report_add(r, NULL, &d), MG_OK);
    assert_int_equal(mg_report_count(r), 3);
    assert_int_equal(mg_report_verdict(r), MG_VERDICT_DANGEROUS);
    assert_int_equal(mg_report_finish(r), MG_OK);
    assert_int_equal(mg_report_count(r), 4);
    assert_string_equal(mg_report_get(r, 3)->rule, "findings-truncated");
    mg_report_free(r);
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(mg_verdict_name(MG_VERDICT_ERROR), "error");
    assert_string_equal(mg_severity_name(MG_SEV_SUSPICIOUS), "suspicious");
    assert_string_equal(mg_strerror(MG_E_LIMIT), "limit reached");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_and_verdict),
        cmocka_unit_test(test_cap_keeps_severity),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
