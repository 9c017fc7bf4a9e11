/* Sequential stream: memory and pull sources give the same bytes; the
   window never grows past its cap; reads past the end are truncation. */
#include "core/limits.h"
#include "io/stream.h"
#include "mg_test.h"

struct src {
    const uint8_t *p;
    size_t len, pos;
    size_t chunk; /* bytes handed out per pull, to cross boundaries */
    int fail_at;  /* pull number that fails, 0 never */
    int pulls;
};

static enum mg_status
pull(void *impl, void *buf, size_t n, size_t *got)
{
    struct src *s = impl;
    if (++s->pulls == s->fail_at)
        return MG_E_IO;
    size_t k = s->len - s->pos;
    if (k > n)
        k = n;
    if (k > s->chunk)
        k = s->chunk;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    *got = k;
    return MG_OK;
}

static uint8_t *
pattern(size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + i / 251);
    return b;
}

static void
test_pull_matches_memory(void **state)
{
    (void)state;
    size_t n = 3 * MG_STREAM_WINDOW + 123;
    uint8_t *b = pattern(n);
    struct src src = {b, n, 0, 4099, 0, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 100, MG_STREAM_WINDOW * 4);
    size_t off = 0;
    while (off < n) {
        size_t want = (off % 5000) + 1;
        if (want > n - off)
            want = n - off;
        const uint8_t *p;
        assert_int_equal(mg_stream_need(&s, want, &p, NULL), MG_OK);
        assert_memory_equal(p, b + off, want);
        assert_int_equal(mg_stream_tell(&s), 100 + off);
        mg_stream_advance(&s, want);
        off += want;
    }
    assert_true(mg_stream_at_end(&s));
    mg_stream_fini(&s);
    free(b);
}

static void
test_need_past_end_is_truncated(void **state)
{
    (void)state;
    const uint8_t d[] = "abcdef";
    struct mg_stream s;
    mg_stream_init_mem(&s, d, 6, 0);
    const uint8_t *p;
    size_t avail = 0;
    assert_int_equal(mg_stream_need(&s, 7, &p, &avail), MG_E_TRUNCATED);
    assert_int_equal(avail, 6);
    uint64_t skipped = 0;
    assert_int_equal(mg_stream_skip(&s, 10, &skipped), MG_E_TRUNCATED);
    assert_int_equal(skipped, 6);
}

static void
test_window_cap_is_a_limit(void **state)
{
    (void)state;
    size_t n = 4 * MG_STREAM_WINDOW;
    uint8_t *b = pattern(n);
    struct src src = {b, n, 0, n, 0, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 0, MG_STREAM_WINDOW);
    const uint8_t *p;
    assert_int_equal(mg_stream_need(&s, MG_STREAM_WINDOW + 1, &p, NULL),
                     MG_E_LIMIT);
    assert_true(s.cap <= MG_STREAM_WINDOW);
    /* skipping any distance works without growing the window */
    assert_int_equal(mg_stream_skip(&s, n - 1, NULL), MG_OK);
    assert_int_equal(mg_stream_need(&s, 1, &p, NULL), MG_OK);
    assert_int_equal(*p, b[n - 1]);
    mg_stream_fini(&s);
    free(b);
}

static void
test_find_across_refills(void **state)
{
    (void)state;
    size_t n = MG_STREAM_WINDOW + 10;
    uint8_t *b = calloc(1, n);
    b[n - 3] = '\n';
    struct src src = {b, n, 0, 1000, 0, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 0, 64u << 20);
    size_t len;
    assert_int_equal(mg_stream_find(&s, '\n', 64u << 20, &len), MG_OK);
    assert_int_equal(len, n - 3);
    assert_int_equal(mg_stream_find(&s, 'x', 64u << 20, &len), MG_E_TRUNCATED);
    assert_int_equal(mg_stream_find(&s, '\n', 10, &len), MG_E_LIMIT);
    mg_stream_fini(&s);
    free(b);
}

/* Two lines held at once across a refill (GLOBAL's module and name): the
   first stays in the window while the second is found. */
static void
test_find_from_keeps_the_first_line(void **state)
{
    (void)state;
    size_t n = MG_STREAM_WINDOW + 100, l1 = MG_STREAM_WINDOW - 20;
    uint8_t *b = pattern(n);
    for (size_t i = 0; i < n; i++)
        if (b[i] == '\n')
            b[i] = 'x';
    b[l1] = '\n';
    b[l1 + 50] = '\n';
    struct src src = {b, n, 0, 4096, 0, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 0, 64u << 20);
    const uint8_t *p;
    assert_int_equal(mg_stream_need(&s, 10, &p, NULL), MG_OK);
    size_t n1, end;
    assert_int_equal(mg_stream_find(&s, '\n', 64u << 20, &n1), MG_OK);
    assert_int_equal(n1, l1);
    assert_int_equal(mg_stream_find_from(&s, n1 + 1, '\n', 64u << 20, &end),
                     MG_OK);
    assert_int_equal(end, l1 + 50);
    assert_memory_equal(mg_stream_ptr(&s), b, end + 1);
    assert_int_equal(mg_stream_find_from(&s, end + 1, '\n', 10, &end),
                     MG_E_LIMIT);
    assert_int_equal(mg_stream_find_from(&s, l1 + 51, '\n', 64u << 20, &end),
                     MG_E_TRUNCATED);
    mg_stream_fini(&s);
    free(b);
}

static enum mg_status
skip_src(void *impl, uint64_t n, uint64_t *done)
{
    struct src *s = impl;
    size_t left = s->len - s->pos;
    *done = n < left ? n : left;
    s->pos += (size_t)*done;
    return MG_OK;
}

static void
test_skip_seeks_past_the_window(void **state)
{
    (void)state;
    size_t n = 8 * MG_STREAM_WINDOW;
    uint8_t *b = pattern(n);
    struct src src = {b, n, 0, n, 0, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 0, MG_STREAM_WINDOW);
    s.skip = skip_src;
    const uint8_t *p;
    assert_int_equal(mg_stream_need(&s, 10, &p, NULL), MG_OK);
    int pulls = src.pulls;
    assert_int_equal(mg_stream_skip(&s, 6 * MG_STREAM_WINDOW, NULL), MG_OK);
    assert_int_equal(src.pulls, pulls); /* skipped, not read */
    assert_int_equal(mg_stream_tell(&s), 6 * MG_STREAM_WINDOW);
    assert_int_equal(mg_stream_need(&s, 4, &p, NULL), MG_OK);
    assert_memory_equal(p, b + 6 * MG_STREAM_WINDOW, 4);
    uint64_t k = 0;
    assert_int_equal(mg_stream_skip(&s, 3 * MG_STREAM_WINDOW, &k),
                     MG_E_TRUNCATED);
    assert_int_equal(k, 2 * MG_STREAM_WINDOW);
    mg_stream_fini(&s);
    free(b);
}

/* A source known to hold 10 bytes gets a window of 10, not
   MG_STREAM_WINDOW (100,000 small archive members each had 1 MiB); asking
   for more than it holds still grows the window and ends in truncation. */
static void
test_window_fits_a_small_source(void **state)
{
    (void)state;
    uint8_t *b = pattern(10);
    struct src src = {b, 10, 0, 10, 0, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 0, MG_STREAM_WINDOW);
    s.fit = 10;
    const uint8_t *p;
    assert_int_equal(mg_stream_need(&s, 4, &p, NULL), MG_OK);
    assert_memory_equal(p, b, 4);
    assert_true(s.cap <= 10);
    mg_stream_advance(&s, 4);
    size_t avail = 0;
    assert_int_equal(mg_stream_need(&s, 20, &p, &avail), MG_E_TRUNCATED);
    assert_int_equal(avail, 6);
    mg_stream_fini(&s);
    free(b);
}

static void
test_source_error_is_sticky(void **state)
{
    (void)state;
    uint8_t b[100] = {0};
    struct src src = {b, sizeof(b), 0, 10, 2, 0};
    struct mg_stream s;
    mg_stream_init_pull(&s, pull, &src, 0, MG_STREAM_WINDOW);
    const uint8_t *p;
    assert_int_equal(mg_stream_need(&s, 50, &p, NULL), MG_E_IO);
    assert_int_equal(mg_stream_need(&s, 5, &p, NULL), MG_OK);
    assert_int_equal(mg_stream_skip(&s, 50, NULL), MG_E_IO);
    mg_stream_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_matches_memory),
        cmocka_unit_test(test_find_from_keeps_the_first_line),
        cmocka_unit_test(test_need_past_end_is_truncated),
        cmocka_unit_test(test_window_cap_is_a_limit),
        cmocka_unit_test(test_find_across_refills),
        cmocka_unit_test(test_window_fits_a_small_source),
        cmocka_unit_test(test_skip_seeks_past_the_window),
        cmocka_unit_test(test_source_error_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
