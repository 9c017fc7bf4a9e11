/* safetensors end to end through mg_scan_buffer: each committed fixture
   gets its verdict and the finding that explains it; crafted headers probe
   the bounds (lengths near 2^64, limits, truncation). */
#include "mg_test.h"

struct expect {
    const char *file;
    enum mg_verdict verdict;
    const char *rule;   /* a finding that must be there, or NULL */
    const char *needle; /* text its message must contain, or NULL */
};

static const struct expect table[] = {
    {"ok_small.safetensors", MG_VERDICT_SAFE, "safetensors-summary",
     "4 tensors and __metadata__"},
    {"ok_no_metadata.safetensors", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_empty_tensor.safetensors", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_no_tensors.safetensors", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_escaped_name.safetensors", MG_VERDICT_SAFE, NULL, NULL},
    {"sus_header_past_eof.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-header", "runs past the end"},
    {"sus_not_json.safetensors", MG_VERDICT_SUSPICIOUS, "safetensors-header",
     "not valid JSON"},
    {"sus_header_not_object_start.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-header", "does not start with '{'"},
    {"sus_duplicate_key.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-duplicate", "key \"a\" appears twice"},
    {"sus_unknown_dtype.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-dtype", "\"F128\""},
    {"sus_size_mismatch.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-tensor", "needs 16 bytes but its data_offsets span 12"},
    {"sus_overlap.safetensors", MG_VERDICT_SUSPICIOUS, "safetensors-layout",
     "overlaps tensor \"a\""},
    {"sus_gap.safetensors", MG_VERDICT_SUSPICIOUS, "safetensors-layout",
     "4 bytes at data offset 4 belong to no tensor"},
    {"sus_trailing_data.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-layout", "19 bytes after the last tensor"},
    {"sus_offset_past_end.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-layout", "past the end of the file"},
    {"sus_metadata_not_string.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-metadata", "\"epoch\" is a number"},
    {"sus_shape_overflow.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-tensor", "overflows 64 bits"},
    {"sus_extra_field.safetensors", MG_VERDICT_SUSPICIOUS, "safetensors-tensor",
     "unknown field \"loader\""},
    {"sus_bad_utf8.safetensors", MG_VERDICT_SUSPICIOUS, "safetensors-header",
     "invalid UTF-8"},
    {"sus_lone_surrogate.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-header", "unpaired surrogate"},
    {"sus_negative_offset.safetensors", MG_VERDICT_SUSPICIOUS,
     "safetensors-tensor", "not two non-negative integers"},
    {"sus_float_shape.safetensors", MG_VERDICT_SUSPICIOUS, "safetensors-tensor",
     "not a non-negative integer"},
    {"err_deep_nesting.safetensors", MG_VERDICT_ERROR, "limit",
     "max-json-depth"},
};

static const struct mg_finding *
find_msg(const struct mg_report *r, const char *rule, const char *needle)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (strcmp(f->rule, rule) == 0 &&
            (needle == NULL || strstr(f->message, needle) != NULL))
            return f;
    }
    return NULL;
}

static void
test_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "safetensors/%s", table[i].file);
        struct mg_report *r = mgt_scan_fixture(rel);
        if (strcmp(mg_report_format(r), "safetensors") != 0)
            fail_msg("%s: format %s", table[i].file, mg_report_format(r));
        if (mg_report_verdict(r) != table[i].verdict) {
            mgt_dump(r);
            fail_msg("%s: verdict %s", table[i].file,
                     mg_verdict_name(mg_report_verdict(r)));
        }
        if (table[i].rule != NULL &&
            find_msg(r, table[i].rule, table[i].needle) == NULL) {
            mgt_dump(r);
            fail_msg("%s: no %s finding with \"%s\"", table[i].file,
                     table[i].rule, table[i].needle ? table[i].needle : "");
        }
        mg_report_free(r);
    }
}

/* A file: 8-byte length n, then the header text, then data. */
static unsigned char *
build(uint64_t n, const char *hdr, size_t datalen, size_t *len)
{
    size_t h = strlen(hdr);
    *len = 8 + h + datalen;
    unsigned char *b = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, hdr, h);
    return b;
}

static void
test_length_bounds(void **state)
{
    (void)state;
    const char *hdr = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],"
                      "\"data_offsets\":[0,1]}}";
    uint64_t ns[] = {UINT64_MAX, UINT64_MAX - 7, (uint64_t)1 << 63,
                     strlen(hdr) + 2};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        size_t len;
        unsigned char *b = build(ns[i], hdr, 1, &len);
        struct mg_report *r = mgt_scan(b, len);
        assert_string_equal(mg_report_format(r), "safetensors");
        assert_verdict(r, MG_VERDICT_SUSPICIOUS);
        assert_non_null(find_msg(r, "safetensors-header", "runs past"));
        mg_report_free(r);
        free(b);
    }
}

static void
test_limits(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = build(
        55, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}  ",
        1, &len);
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_header_bytes = 54;
    struct mg_report *r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_non_null(find_msg(r, "limit", "max-header-bytes"));
    mg_report_free(r);
    mg_options_init(&o);
    o.limits.max_json_values = 3;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_non_null(find_msg(r, "limit", "max-json-values"));
    mg_report_free(r);
    mg_options_init(&o);
    o.limits.max_tensors = 0;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_non_null(find_msg(r, "limit", "max-tensors"));
    mg_report_free(r);
    /* default limits: the same file is fine */
    r = mgt_scan(b, len);
    assert_verdict(r, MG_VERDICT_SAFE);
    mg_report_free(r);
    free(b);
}

static void
test_many_gaps_are_capped(void **state)
{
    (void)state;
    /* 200 one-byte tensors, each followed by a one-byte gap. */
    char *hdr = malloc(200 * 64 + 16);
    size_t k = 0;
    hdr[k++] = '{';
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(hdr + k, 64,
                              "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[1],"
                              "\"data_offsets\":[%d,%d]}",
                              i ? "," : "", i, 2 * i, 2 * i + 1);
    hdr[k++] = '}';
    hdr[k] = '\0';
    size_t len;
    unsigned char *b = build(k, hdr, 400, &len);
    struct mg_report *r = mgt_scan(b, len);
    assert_verdict(r, MG_VERDICT_SUSPICIOUS);
    assert_non_null(find_msg(r, "safetensors-layout", "more findings"));
    assert_true(mg_report_count(r) < 60);
    mg_report_free(r);
    free(b);
    free(hdr);
}

static void
test_truncations_never_crash(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *b = mgt_fixture("safetensors/ok_small.safetensors", &len);
    for (size_t cut = 0; cut < len; cut++) {
        struct mg_report *r = mgt_scan(b, cut);
        assert_true(mg_report_verdict(r) != MG_VERDICT_SAFE || cut == 0);
        mg_report_free(r);
    }
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_length_bounds),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_many_gaps_are_capped),
        cmocka_unit_test(test_truncations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
