/* The bounded JSON parser: RFC 8259 grammar in the strict dialect (what
   serde_json accepts), Python's extensions in the python dialect, limits,
   duplicate keys, string decoding, and json.loads(bytes) decoding. */
#include "core/alloc.h"
#include "json/json.h"
#include "mg_test.h"

static const struct mg_json_opts strict = {64, 100000, 0};
static const struct mg_json_opts python = {64, 100000, 1};

static enum mg_status
parse(struct mg_json_doc *d, const char *s, const struct mg_json_opts *o)
{
    return mg_json_parse(d, s, strlen(s), o);
}

static void
expect(const char *s, const struct mg_json_opts *o, enum mg_status want)
{
    struct mg_json_doc d;
    enum mg_status st = parse(&d, s, o);
    if (st != want)
        fail_msg("%s: got %d want %d (%s at %zu)", s, st, want,
                 d.err ? d.err : "-", d.err_off);
    mg_json_free(&d);
}

static void
test_valid(void **state)
{
    (void)state;
    const char *ok[] = {"{}",
                        "[]",
                        (" \t\r\n{ \"a\" : [1, -0, 0.5, 1e10, -2E-3, true, "
                         "false, null, \"x\"] } \n"),
                        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"",
                        "0",
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
                        "[[[[]]]]"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        expect(ok[i], &strict, MG_OK);
        expect(ok[i], &python, MG_OK);
    }
}

static void
test_invalid_both(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         " ",
                         "{",
                         "[1,]",
                         "{\"a\":1,}",
                         "{\"a\" 1}",
                         "{1:2}",
                         "01",
                         "1.",
                         ".5",
                         "1e",
                         "+1",
                         "-",
                         "tru",
                         "nul",
                         "\"abc",
                         "\"a\\x\"",
                         "\"a\\u12G4\"",
                         "\"tab\there\"",
                         "\"nul\x01\"",
                         "\"\xc0\x80\"",         /* overlong */
                         "\"\xf4\x90\x80\x80\"", /* > U+10FFFF */
                         "\"\xe2\x82\"",         /* truncated */
                         "{} {}",
                         "[1] x",
                         "[1 2]",
                         "'a'",
                         "\xef\xbb\xbf{}", /* BOM: json.loads(str) too */
                         "/* c */ {}",
                         "nan",
                         "[Infinity1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect(bad[i], &strict, MG_E_MALFORMED);
        expect(bad[i], &python, MG_E_MALFORMED);
    }
}

static void
test_python_dialect(void **state)
{
    (void)state;
    const char *py_only[] = {"NaN",
                             "[Infinity, -Infinity]",
                             "{\"a\": NaN}",
                             "\"\\ud800\"",
                             "\"\\udc00x\"",
                             "\"\\ud800\\u0041\"",
                             "\"\xed\xa0\x80\""};
    for (size_t i = 0; i < sizeof(py_only) / sizeof(py_only[0]); i++) {
        expect(py_only[i], &strict, MG_E_MALFORMED);
        expect(py_only[i], &python, MG_OK);
    }
    struct mg_json_doc d;
    assert_int_equal(parse(&d, "\"\\ud800\"", &python), MG_OK);
    char buf[8];
    assert_int_equal(mg_json_str(&d, 0, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "\xed\xa0\x80", 3);
    assert_true(mg_json_node(&d, 0)->flags & MG_JSON_F_SURR);
    mg_json_free(&d);
}

static void
test_depth_limit(void **state)
{
    (void)state;
    struct mg_json_opts o = {4, 1000, 0};
    struct mg_json_doc d;
    assert_int_equal(parse(&d, "[[[[1]]]]", &o), MG_OK);
    mg_json_free(&d);
    assert_int_equal(parse(&d, "[[[[[1]]]]]", &o), MG_E_LIMIT);
    assert_string_equal(d.limit, "max-json-depth");
    mg_json_free(&d);
    assert_int_equal(parse(&d, "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", &o),
                     MG_E_LIMIT);
    mg_json_free(&d);
    /* Deep input never recurses on the C stack. */
    size_t n = 200000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    struct mg_json_opts big = {n, 2 * n, 0};
    assert_int_equal(parse(&d, deep, &big), MG_OK);
    mg_json_free(&d);
    free(deep);
}

static void
test_node_limit(void **state)
{
    (void)state;
    struct mg_json_opts o = {8, 5, 0};
    struct mg_json_doc d;
    assert_int_equal(parse(&d, "[1,2,3,4]", &o), MG_OK);
    assert_int_equal(d.n, 5);
    mg_json_free(&d);
    assert_int_equal(parse(&d, "[1,2,3,4,5]", &o), MG_E_LIMIT);
    assert_string_equal(d.limit, "max-json-values");
    mg_json_free(&d);
    /* keys count too */
    assert_int_equal(parse(&d, "{\"a\":1,\"b\":2,\"c\":3}", &o), MG_E_LIMIT);
    mg_json_free(&d);
}

static void
test_navigation(void **state)
{
    (void)state;
    struct mg_json_doc d;
    const char *s = "{\"dtype\":\"F32\",\"shape\":[2,3],\"k\\u0065y\":\"v\","
                    "\"n\":18446744073709551615}";
    assert_int_equal(parse(&d, s, &strict), MG_OK);
    assert_int_equal(mg_json_type_of(&d, MG_JSON_ROOT), MG_JSON_OBJECT);
    assert_int_equal(mg_json_node(&d, MG_JSON_ROOT)->len, 4);
    uint32_t dt = mg_json_get(&d, MG_JSON_ROOT, "dtype");
    assert_true(mg_json_str_eq(&d, dt, "F32"));
    assert_false(mg_json_str_eq(&d, dt, "F3"));
    assert_true(mg_json_str_prefix(&d, dt, "F3"));
    uint32_t sh = mg_json_get(&d, MG_JSON_ROOT, "shape");
    assert_int_equal(mg_json_type_of(&d, sh), MG_JSON_ARRAY);
    uint32_t e = mg_json_first(&d, sh);
    uint64_t v;
    assert_int_equal(mg_json_u64(&d, e, &v), 0);
    assert_int_equal(v, 2);
    e = mg_json_next(&d, e);
    assert_int_equal(mg_json_u64(&d, e, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(mg_json_next(&d, e), MG_JSON_NONE);
    /* escaped key found by its decoded name */
    uint32_t kv = mg_json_get(&d, MG_JSON_ROOT, "key");
    assert_true(mg_json_str_eq(&d, kv, "v"));
    uint32_t nv = mg_json_get(&d, MG_JSON_ROOT, "n");
    assert_int_equal(mg_json_u64(&d, nv, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(mg_json_get(&d, MG_JSON_ROOT, "missing"), MG_JSON_NONE);
    assert_int_equal(mg_json_get(&d, sh, "x"), MG_JSON_NONE);
    mg_json_free(&d);
}

static void
test_u64(void **state)
{
    (void)state;
    const char *no[] = {
        "18446744073709551616", "-1", "1.0", "1e3", "-0", "true", "\"1\""};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct mg_json_doc d;
        assert_int_equal(parse(&d, no[i], &strict), MG_OK);
        uint64_t v;
        assert_int_equal(mg_json_u64(&d, 0, &v), -1);
        mg_json_free(&d);
    }
}

static void
test_duplicates(void **state)
{
    (void)state;
    struct mg_json_doc d;
    assert_int_equal(parse(&d, "{\"a\":1,\"b\":2}", &strict), MG_OK);
    assert_int_equal(d.ndup, 0);
    mg_json_free(&d);
    assert_int_equal(parse(&d, "{\"a\":1,\"\\u0061\":2}", &strict), MG_OK);
    assert_int_equal(d.ndup, 1);
    /* the later key is the one recorded; get() returns the last value */
    assert_true(mg_json_node(&d, d.dups[0])->flags & MG_JSON_F_ESCAPES);
    uint64_t v;
    assert_int_equal(mg_json_u64(&d, mg_json_get(&d, 0, "a"), &v), 0);
    assert_int_equal(v, 2);
    mg_json_free(&d);
    /* many keys, duplicates found across the sort, nested objects too */
    char buf[20000];
    size_t k = 0;
    buf[k++] = '{';
    for (int i = 0; i < 1000; i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "\"k%d\":%d,", i % 997,
                              i);
    k += (size_t)snprintf(buf + k, sizeof(buf) - k, "\"o\":{\"x\":1,\"x\":2}}");
    assert_int_equal(parse(&d, buf, &strict), MG_OK);
    assert_int_equal(d.ndup, 4);
    mg_json_free(&d);
}

static void
test_string_decode(void **state)
{
    (void)state;
    struct mg_json_doc d;
    assert_int_equal(parse(&d, "\"a\\n\\u00e9\\ud83d\\ude00\\\"\"", &strict),
                     MG_OK);
    char buf[32];
    size_t n = mg_json_str(&d, 0, buf, sizeof(buf));
    assert_int_equal(n, 1 + 1 + 2 + 4 + 1);
    assert_memory_equal(buf, "a\n\xc3\xa9\xf0\x9f\x98\x80\"", n);
    assert_int_equal(mg_json_str_len(&d, 0), n);
    /* truncation: returns the full length, writes cap-1 and a NUL */
    char small[4];
    assert_int_equal(mg_json_str(&d, 0, small, sizeof(small)), n);
    assert_int_equal(strlen(small), 3);
    mg_json_free(&d);
}

static void
py(const char *in, size_t n, const char *want, enum mg_status st_want)
{
    const char *out = NULL;
    size_t outlen = 0;
    int owned = 0;
    enum mg_status st = mg_json_py_bytes((const uint8_t *)in, n, 1 << 20, &out,
                                         &outlen, &owned);
    assert_int_equal(st, st_want);
    if (st == MG_OK) {
        assert_int_equal(outlen, strlen(want));
        assert_memory_equal(out, want, outlen);
        if (owned)
            mg_free((void *)out);
    }
}

static void
test_py_bytes(void **state)
{
    (void)state;
    py("{}", 2, "{}", MG_OK);
    py("\xef\xbb\xbf{}", 5, "{}", MG_OK);
    py("\xff\xfe{\0}\0", 6, "{}", MG_OK);          /* utf-16 with BOM */
    py("\xfe\xff\0{\0}", 6, "{}", MG_OK);          /* utf-16-be BOM */
    py("{\0\"\0a\0\"\0}\0", 10, "{\"a\"}", MG_OK); /* utf-16-le */
    py("\0{\0\"\0a\0\"\0}", 10, "{\"a\"}", MG_OK); /* utf-16-be */
    py("{\0\0\0}\0\0\0", 8, "{}", MG_OK);          /* utf-32-le */
    py("\0\0\0{\0\0\0}", 8, "{}", MG_OK);          /* utf-32-be */
    py("{\0=\xd8}\0", 6, "{\xed\xa0\xbd}", MG_OK); /* lone surrogate */
    py("{\0}\0}", 5, NULL, MG_E_MALFORMED);        /* odd utf-16 */
    py("{\xff}", 3, NULL, MG_E_MALFORMED);
    py("\xed\xa0\x80", 3, "\xed\xa0\x80", MG_OK);     /* surrogatepass */
    py("{\0\0\0\0\0\x11\0", 8, NULL, MG_E_MALFORMED); /* > U+10FFFF */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid_both),
        cmocka_unit_test(test_python_dialect),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_navigation),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_string_decode),
        cmocka_unit_test(test_py_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
