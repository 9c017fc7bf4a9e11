/* Helpers shared by the formats: path judgement, Python-compatible
   base64, quoting of hostile strings. */
#include "formats/common/common.h"
#include "mg_test.h"

static void
test_path_risk(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        int bare;
        enum mg_path_risk want;
    } t[] = {
        {"weights.bin", 0, MG_PATH_OK},
        {"data/weights.bin", 0, MG_PATH_OK},
        {"a..b/c", 0, MG_PATH_OK},
        {"...", 0, MG_PATH_PARENT}, /* Windows drops trailing dots */
        {"", 0, MG_PATH_EMPTY},
        {"/etc/passwd", 0, MG_PATH_ABSOLUTE},
        {"\\\\server\\share\\x", 0, MG_PATH_ABSOLUTE},
        {"C:\\Windows\\win.ini", 0, MG_PATH_ABSOLUTE},
        {"c:x", 0, MG_PATH_ABSOLUTE},
        {"../x", 0, MG_PATH_PARENT},
        {"a/../../x", 0, MG_PATH_PARENT},
        {"a\\..\\x", 0, MG_PATH_PARENT},
        {"..", 0, MG_PATH_PARENT},
        {"a/.. /b", 0, MG_PATH_PARENT},
        {"a/.../b", 0, MG_PATH_PARENT},
        {"~/x", 0, MG_PATH_HOME},
        {"~root/x", 0, MG_PATH_HOME},
        {"http://192.0.2.1/w", 0, MG_PATH_URL},
        {"gs://bucket/w", 0, MG_PATH_URL},
        {"file:///etc/passwd", 0, MG_PATH_URL},
        {"vocab.txt", 1, MG_PATH_OK},
        {"sub/vocab.txt", 1, MG_PATH_SEPARATOR},
        {"sub\\vocab.txt", 1, MG_PATH_SEPARATOR},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        enum mg_path_risk r = mg_path_risk(t[i].p, strlen(t[i].p), t[i].bare);
        if (r != t[i].want)
            fail_msg("%s: %d, expected %d", t[i].p, r, t[i].want);
    }
    assert_int_equal(mg_path_risk("a\0/etc", 6, 0), MG_PATH_NUL);
}

static void
b64(const char *in, const char *want, size_t want_len)
{
    uint8_t out[64];
    size_t n = mg_b64_decode(in, strlen(in), out, sizeof(out));
    if (want == NULL) {
        assert_true(n == (size_t)-1);
        return;
    }
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, want_len);
}

/* Expected values are what Python 3.11's binascii.a2b_base64 returns. */
static void
test_base64(void **state)
{
    (void)state;
    b64("aGVsbG8=", "hello", 5);
    b64("aGVs\nbG8=\n", "hello", 5);
    b64("aGVsbG8", NULL, 0); /* Incorrect padding */
    b64("aGVsbA==", "hell", 4);
    b64("aGVsbA==trailing", "hell", 4);
    b64("a", NULL, 0);
    b64("", "", 0);
    b64("!!aG*Vs-bG8=", "hello", 5); /* non-alphabet skipped */
    b64("aG=Vs", "hel", 3);          /* a lone '=' too early is skipped */
    uint8_t small[2];
    assert_int_equal(mg_b64_decode("aGVsbG8=", 8, small, 2), 5);
    assert_memory_equal(small, "he", 2);
    assert_true(mg_b64_looks("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", 32, 16));
    assert_false(mg_b64_looks("hello world, not base64!", 24, 16));
}

static void
test_quote(void **state)
{
    (void)state;
    char q[64];
    mg_quote(q, sizeof(q), "a\nb\x01\\c\xc3\xa9\xff", 9, 100);
    assert_string_equal(q, "a\\nb\\x01\\\\c\xc3\xa9\\xff");
    mg_quote(q, sizeof(q), "abcdefghij", 10, 4);
    assert_string_equal(q, "abcd...");
    char tiny[8];
    mg_quote(tiny, sizeof(tiny), "abcdefghijklmnop", 16, 100);
    assert_true(strlen(tiny) < sizeof(tiny));
}

static void
test_has(void **state)
{
    (void)state;
    const uint8_t h[] = {'{', 0, '"', 'a', 'b', '"', 0xff};
    assert_true(mg_has(h, sizeof(h), "\"ab\""));
    assert_true(mg_has(h, sizeof(h), "\xff"));      /* at the very end */
    assert_false(mg_has(h, sizeof(h) - 1, "\xff")); /* past n */
    assert_false(mg_has(h, 3, "\"ab\""));
    assert_false(mg_has(h, 0, "a"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_risk),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
