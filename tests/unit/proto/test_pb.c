/* The protobuf wire decoder: varints (10 bytes at most), tags, every wire
   type, lengths checked against the enclosing reader, groups, child
   readers, the windowed file source, the probing helper and field
   picking. */
#include <unistd.h>

#include "core/input.h"
#include "mg_test.h"
#include "proto/pb.h"

static enum mg_status
one(const uint8_t *b, size_t n, struct mg_pb_field *f, uint64_t *pos)
{
    struct mg_input in;
    mg_input_mem(&in, b, n);
    struct mg_pb_src s;
    mg_pb_src_init(&s, &in);
    struct mg_pb r;
    mg_pb_init(&r, &s, 0, n);
    enum mg_status st = mg_pb_next(&r, f);
    *pos = r.pos;
    return st;
}

static void
test_scalars(void **state)
{
    (void)state;
    struct mg_pb_field f;
    uint64_t pos;
    const uint8_t v[] = {0x08, 0x96, 0x01};
    assert_int_equal(one(v, sizeof(v), &f, &pos), MG_OK);
    assert_int_equal(f.num, 1);
    assert_int_equal(f.wire, MG_PB_VARINT);
    assert_int_equal(f.v, 150);
    assert_int_equal(pos, 3);
    const uint8_t max[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(one(max, sizeof(max), &f, &pos), MG_OK);
    assert_true(f.v == UINT64_MAX);
    const uint8_t eleven[] = {0x10, 0x80, 0x80, 0x80, 0x80, 0x80,
                              0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    assert_int_equal(one(eleven, sizeof(eleven), &f, &pos), MG_E_MALFORMED);
    assert_int_equal(pos, 0); /* does not move on error */
    const uint8_t cut[] = {0x10, 0x80};
    assert_int_equal(one(cut, sizeof(cut), &f, &pos), MG_E_TRUNCATED);
    const uint8_t i64[] = {0x19, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(one(i64, sizeof(i64), &f, &pos), MG_OK);
    assert_true(f.v == 0x0807060504030201ULL);
    assert_int_equal(one(i64, 8, &f, &pos), MG_E_TRUNCATED);
    const uint8_t i32[] = {0x25, 1, 2, 3, 4};
    assert_int_equal(one(i32, sizeof(i32), &f, &pos), MG_OK);
    assert_int_equal(f.v, 0x04030201);
}

static void
test_tags(void **state)
{
    (void)state;
    struct mg_pb_field f;
    uint64_t pos;
    const uint8_t zero[] = {0x00, 0x01}; /* field 0 */
    const uint8_t w6[] = {0x0e, 0x01};   /* wire type 6 */
    const uint8_t w7[] = {0x0f, 0x01};   /* wire type 7 */
    const uint8_t egroup[] = {0x0c};     /* end group, no start */
    const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x10, 0x00}; /* 2^29 */
    assert_int_equal(one(zero, 2, &f, &pos), MG_E_MALFORMED);
    assert_int_equal(one(w6, 2, &f, &pos), MG_E_MALFORMED);
    assert_int_equal(one(w7, 2, &f, &pos), MG_E_MALFORMED);
    assert_int_equal(one(egroup, 1, &f, &pos), MG_E_MALFORMED);
    assert_int_equal(one(big, sizeof(big), &f, &pos), MG_E_MALFORMED);
    const uint8_t maxnum[] = {0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00};
    assert_int_equal(one(maxnum, sizeof(maxnum), &f, &pos), MG_OK);
    assert_int_equal(f.num, 0x1FFFFFFF);
}

static void
test_len_and_children(void **state)
{
    (void)state;
    /* field 2 {field 1 = 5, field 3 "ab"}, then field 4 = 1 */
    const uint8_t b[] = {0x12, 0x06, 0x08, 0x05, 0x1a,
                         0x02, 'a',  'b',  0x20, 0x01};
    struct mg_input in;
    mg_input_mem(&in, b, sizeof(b));
    struct mg_pb_src s;
    mg_pb_src_init(&s, &in);
    struct mg_pb r, c;
    struct mg_pb_field f, g;
    mg_pb_init(&r, &s, 0, sizeof(b));
    assert_int_equal(mg_pb_next(&r, &f), MG_OK);
    assert_int_equal(f.wire, MG_PB_LEN);
    assert_int_equal(f.off, 2);
    assert_int_equal(f.len, 6);
    mg_pb_sub(&r, &f, &c);
    assert_int_equal(mg_pb_next(&c, &g), MG_OK);
    assert_int_equal(g.v, 5);
    assert_int_equal(mg_pb_next(&c, &g), MG_OK);
    char str[8];
    assert_int_equal(mg_pbx_str(&s, &g, str, sizeof(str)), 2);
    assert_string_equal(str, "ab");
    assert_true(mg_pb_done(&c));
    assert_int_equal(mg_pb_next(&r, &f), MG_OK);
    assert_int_equal(f.num, 4);
    assert_true(mg_pb_done(&r));
    /* a child cannot read past its payload even if a length says so */
    const uint8_t lie[] = {0x12, 0x02, 0x1a, 0x05, 'x', 'y', 'z', 'w', 'v'};
    mg_input_mem(&in, lie, sizeof(lie));
    mg_pb_src_init(&s, &in);
    mg_pb_init(&r, &s, 0, sizeof(lie));
    assert_int_equal(mg_pb_next(&r, &f), MG_OK);
    mg_pb_sub(&r, &f, &c);
    assert_int_equal(mg_pb_next(&c, &g), MG_E_TRUNCATED);
    /* length near 2^64 */
    const uint8_t huge[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0xff, 0xff, 0xff, 0xff, 0x01};
    mg_input_mem(&in, huge, sizeof(huge));
    mg_pb_src_init(&s, &in);
    mg_pb_init(&r, &s, 0, sizeof(huge));
    assert_int_equal(mg_pb_next(&r, &f), MG_E_TRUNCATED);
}

static void
test_groups(void **state)
{
    (void)state;
    struct mg_pb_field f;
    uint64_t pos;
    /* group 1 { field 2 = 1, group 3 { } } end 1, then field 4 */
    const uint8_t g[] = {0x0b, 0x10, 0x01, 0x1b, 0x1c, 0x0c, 0x20, 0x01};
    assert_int_equal(one(g, sizeof(g), &f, &pos), MG_OK);
    assert_int_equal(f.wire, MG_PB_SGROUP);
    assert_int_equal(f.len, 4);
    assert_int_equal(pos, 6);
    const uint8_t wrong_end[] = {0x0b, 0x14};
    assert_int_equal(one(wrong_end, 2, &f, &pos), MG_E_MALFORMED);
    const uint8_t unterminated[] = {0x0b, 0x10, 0x01};
    assert_int_equal(one(unterminated, 3, &f, &pos), MG_E_TRUNCATED);
    /* groups nested deeper than the bound are refused, not recursed */
    uint8_t deep[2 * (MG_PB_MAX_GROUP_DEPTH + 2)];
    for (size_t i = 0; i < MG_PB_MAX_GROUP_DEPTH + 2; i++)
        deep[i] = 0x0b;
    for (size_t i = 0; i < MG_PB_MAX_GROUP_DEPTH + 2; i++)
        deep[MG_PB_MAX_GROUP_DEPTH + 2 + i] = 0x0c;
    assert_int_equal(one(deep, sizeof(deep), &f, &pos), MG_E_MALFORMED);
}

/* A file larger than the window: fields straddling window edges. */
static void
test_file_window(void **state)
{
    (void)state;
    char path[] = "/tmp/mg_pb_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* 70 MiB would be needed to leave memory mode (files up to 64 MiB are
       read whole); write 3 windows of LEN fields and force file mode by
       building the input by hand. */
    size_t n = 3 * MG_PB_WINDOW + 100;
    uint8_t *b = malloc(n);
    size_t k = 0, count = 0;
    while (k + 130 < n) {
        b[k++] = 0x0a;
        b[k++] = 125;
        memset(b + k, 'x', 125);
        k += 125;
        count++;
    }
    assert_int_equal(write(fd, b, k), (ssize_t)k);
    struct mg_input in;
    struct mg_file_input fi;
    char err[100];
    assert_int_equal(mg_input_file(&in, &fi, path, err, sizeof(err)), MG_OK);
    in.mem = NULL; /* read through read_at and the window */
    struct mg_pb_src s;
    mg_pb_src_init(&s, &in);
    struct mg_pb r;
    struct mg_pb_field f;
    mg_pb_init(&r, &s, 0, in.size);
    size_t seen = 0;
    while (!mg_pb_done(&r)) {
        assert_int_equal(mg_pb_next(&r, &f), MG_OK);
        char str[200];
        assert_int_equal(mg_pbx_str(&s, &f, str, sizeof(str)), 125);
        assert_int_equal(str[0], 'x');
        seen++;
    }
    assert_int_equal(seen, count);
    mg_input_file_close(&fi);
    unlink(path);
    free(b);
}

static void
test_sniff(void **state)
{
    (void)state;
    struct mg_pbx_sniff s;
    const uint8_t model[] = {
        0x08, 0x08, 0x12, 0x04, 't', 'e',
        's',  't',  0x3a, 0x40, 0x0a}; /* graph cut by the head */
    assert_int_equal(mg_pbx_sniff(model, sizeof(model), &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.val[0], 8);
    assert_true(s.text[1]);
    assert_false(s.whole[2]);
    const uint8_t text[] = "hello world";
    assert_int_equal(mg_pbx_sniff(text, sizeof(text) - 1, &s), -1);
}

static void
test_pick(void **state)
{
    (void)state;
    const uint8_t b[] = {0x0a, 20,  0x0a, 2, 'a', 'b', 0x10, 5, 0x1a, 3,    'x',
                         'y',  'z', 0x0a, 2, 'c', 'd', 0x12, 1, 'q',  0x20, 7};
    struct mg_input in;
    mg_input_mem(&in, b, sizeof(b));
    struct mg_pb_src s;
    mg_pb_src_init(&s, &in);
    struct mg_pb r;
    struct mg_pb_field f, raw = {0}, none = {0};
    mg_pb_init(&r, &s, 0, sizeof(b));
    assert_int_equal(mg_pb_next(&r, &f), MG_OK);
    char str[8] = "";
    uint64_t v = 0, bad = 0;
    const struct mg_pbx_pick want[] = {{.num = 1, .str = str, .cap = 8},
                                       {.num = 2, .v = &v},
                                       {.num = 3, .raw = &raw},
                                       {.num = 5, .raw = &none}};
    assert_int_equal(mg_pbx_pick(&r, &f, want, 4, &bad), MG_OK);
    assert_string_equal(str, "cd"); /* the last one */
    assert_int_equal(v, 5);         /* the LEN field 2 is not a VARINT */
    assert_int_equal(raw.num, 3);
    assert_int_equal(raw.off, 10);
    assert_int_equal(raw.len, 3);
    assert_int_equal(none.num, 0); /* absent: left as it was */

    const uint8_t m[] = {0x0a, 4, 0x10, 1, 0x07, 0};
    mg_input_mem(&in, m, sizeof(m));
    mg_pb_src_init(&s, &in);
    mg_pb_init(&r, &s, 0, sizeof(m));
    assert_int_equal(mg_pb_next(&r, &f), MG_OK);
    v = 0;
    assert_int_equal(mg_pbx_pick(&r, &f, want, 4, &bad), MG_E_MALFORMED);
    assert_int_equal(bad, 4);
    assert_int_equal(v, 1); /* fields before the damage are kept */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_len_and_children),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_file_window),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
