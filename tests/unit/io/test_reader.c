/* Bounded reader: every read checks its bounds, advances only on success,
   and a sub-reader cannot see past its member. */
#include "io/ckd.h"
#include "io/reader.h"
#include "mg_test.h"

static void
test_ints_le_be(void **state)
{
    (void)state;
    const uint8_t d[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct mg_reader r;
    rd_init(&r, d, sizeof(d));
    uint16_t a;
    uint32_t b;
    uint64_t c;
    assert_int_equal(rd_u16le(&r, &a), MG_OK);
    assert_int_equal(a, 0x0201);
    assert_int_equal(rd_u32be(&r, &b), MG_OK);
    assert_int_equal(b, 0x03040506);
    assert_int_equal(rd_u64le(&r, &c), MG_E_TRUNCATED);
    assert_int_equal(r.pos, 6); /* unchanged on failure */
    assert_int_equal(rd_left(&r), 3);
}

static void
test_bytes_and_skip_bounds(void **state)
{
    (void)state;
    const uint8_t d[4] = {0};
    struct mg_reader r;
    rd_init(&r, d, sizeof(d));
    const uint8_t *p;
    assert_int_equal(rd_bytes(&r, SIZE_MAX, &p), MG_E_TRUNCATED);
    assert_int_equal(rd_skip(&r, 5), MG_E_TRUNCATED);
    assert_int_equal(rd_skip(&r, 4), MG_OK);
    assert_int_equal(rd_bytes(&r, 0, &p), MG_OK);
    assert_int_equal(rd_seek(&r, 5), MG_E_TRUNCATED);
    assert_int_equal(rd_seek(&r, 1), MG_OK);
    assert_int_equal(rd_peek(&r, 3, &p), MG_OK);
    assert_int_equal(r.pos, 1);
}

static void
test_sub_reader_is_confined(void **state)
{
    (void)state;
    const uint8_t d[] = {1, 2, 3, 4, 5};
    struct mg_reader r, c;
    rd_init(&r, d, sizeof(d));
    assert_int_equal(rd_skip(&r, 1), MG_OK);
    assert_int_equal(rd_sub(&r, 2, &c), MG_OK);
    uint32_t v;
    assert_int_equal(rd_u32le(&c, &v), MG_E_TRUNCATED);
    uint16_t w;
    assert_int_equal(rd_u16le(&c, &w), MG_OK);
    assert_int_equal(w, 0x0302);
    assert_int_equal(rd_sub(&r, 3, &c), MG_E_TRUNCATED);
}

static void
test_find(void **state)
{
    (void)state;
    const char *s = "abc\ndef";
    struct mg_reader r;
    rd_init(&r, s, strlen(s));
    size_t n;
    assert_int_equal(rd_find(&r, '\n', 100, &n), MG_OK);
    assert_int_equal(n, 3);
    assert_int_equal(rd_find(&r, '\n', 2, &n), MG_E_LIMIT);
    assert_int_equal(rd_find(&r, 'z', 100, &n), MG_E_TRUNCATED);
    /* max equal to what is left: not found is truncation, not a limit */
    assert_int_equal(rd_find(&r, 'z', strlen(s), &n), MG_E_TRUNCATED);
}

static void
test_ckd(void **state)
{
    (void)state;
    size_t r;
    uint64_t u;
    assert_true(ckd_add_size(&r, SIZE_MAX, 1));
    assert_false(ckd_add_size(&r, 1, 2));
    assert_int_equal(r, 3);
    assert_true(ckd_mul_size(&r, SIZE_MAX / 2 + 1, 2));
    assert_true(ckd_add_u64(&u, UINT64_MAX, 1));
    assert_true(ckd_mul_u64(&u, 1ULL << 32, 1ULL << 32));
    assert_false(ckd_u64_to_size(&r, 42));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ints_le_be),
        cmocka_unit_test(test_bytes_and_skip_bounds),
        cmocka_unit_test(test_sub_reader_is_confined),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_ckd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
