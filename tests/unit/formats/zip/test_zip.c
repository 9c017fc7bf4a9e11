/* The ZIP reader through the scan API: differentials reported, members
   scanned by content with their layer path, the sequential-input path
   (a ZIP inside a zlib stream is held in memory within max-spool-bytes),
   and the PyTorch storages that data.pkl refers to. */
#include <zlib.h>

#include "mg_test.h"

static void
test_fixtures(void **state)
{
    (void)state;
    struct mg_report *r = mgt_scan_fixture("zip/zip_name_mismatch.pt");
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_finding(r, "zip-name-mismatch", NULL, NULL);
    const struct mg_finding *f = mgt_find(r, "pickle-call", "os", "system");
    assert_non_null(f);
    assert_string_equal(f->layer, "archive/data.pkl");
    assert_string_equal(mg_report_format(r), "pytorch");
    mg_report_free(r);

    r = mgt_scan_fixture("zip/torch_benign.pt");
    assert_verdict(r, MG_VERDICT_SAFE);
    assert_true(mg_report_complete(r));
    mg_report_free(r);

    r = mgt_scan_fixture("zip/torch_missing_storage.pt");
    assert_verdict(r, MG_VERDICT_SUSPICIOUS);
    assert_finding(r, "torch-missing-storage", NULL, NULL);
    mg_report_free(r);
}

static unsigned char *
deflate_zlib(const unsigned char *in, size_t n, size_t *out_len)
{
    uLongf cap = compressBound((uLong)n);
    unsigned char *out = malloc(cap);
    assert_non_null(out);
    assert_int_equal(compress2(out, &cap, in, (uLong)n, 6), Z_OK);
    *out_len = cap;
    return out;
}

static void
test_zip_inside_a_stream_is_spooled(void **state)
{
    (void)state;
    size_t n, zn;
    unsigned char *zip = mgt_fixture("zip/torch_malicious.pt", &n);
    unsigned char *z = deflate_zlib(zip, n, &zn);
    struct mg_report *r = mgt_scan(z, zn);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    const struct mg_finding *f = mgt_find(r, "pickle-call", "os", "system");
    assert_non_null(f);
    assert_string_equal(f->layer, "<zlib>!archive/data.pkl");
    mg_report_free(r);

    /* the same, with too little room to hold it */
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_spool_bytes = 100;
    r = mgt_scan_opts(z, zn, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_finding(r, "limit", NULL, "max-spool-bytes");
    mg_report_free(r);
    free(z);
    free(zip);
}

static void
test_truncated_archives_never_look_clean(void **state)
{
    (void)state;
    size_t n;
    unsigned char *zip = mgt_fixture("zip/torch_benign.pt", &n);
    /* every cut of the file is incomplete or suspicious, never safe */
    for (size_t cut = 4; cut < n; cut += 7) {
        struct mg_report *r = mgt_scan(zip, cut);
        if (mg_report_verdict(r) == MG_VERDICT_SAFE) {
            mgt_dump(r);
            fail_msg("a %zu-byte cut of a %zu-byte archive scans safe", cut, n);
        }
        mg_report_free(r);
    }
    free(zip);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_zip_inside_a_stream_is_spooled),
        cmocka_unit_test(test_truncated_archives_never_look_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
