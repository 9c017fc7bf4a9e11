/*
 * test_convert.c - the converter on checkpoints built byte by byte here
 * (legacy format: five pickles and the raw storages) and on the ZIP
 * fixtures: the safetensors bytes, the refusals and their reasons, the
 * helpers (names, map), and every allocation failing in turn.
 */
#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/input.h"
#include "mg_test.h"
#include "modelgate/mg_convert.h"

/* ------------------------------------------------------------------ */
/* building pickles */

struct buf {
    uint8_t b[8192];
    size_t n;
};

static void
put(struct buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void
op(struct buf *b, const char *ops)
{
    put(b, ops, strlen(ops));
}

static void
ustr(struct buf *b, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    uint8_t h[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 24)};
    put(b, h, 5);
    put(b, s, n);
}

static void
glob(struct buf *b, const char *mod, const char *name)
{
    op(b, "c");
    op(b, mod);
    op(b, "\n");
    op(b, name);
    op(b, "\n");
}

static void
num(struct buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        uint8_t h[2] = {'K', (uint8_t)v};
        put(b, h, 2);
    } else {
        assert_true(v >= INT32_MIN && v <= INT32_MAX);
        uint32_t u = (uint32_t)(int32_t)v;
        uint8_t h[5] = {'J', (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16),
                        (uint8_t)(u >> 24)};
        put(b, h, 5);
    }
}

static void
ints(struct buf *b, const int64_t *v, size_t n)
{
    op(b, "(");
    for (size_t i = 0; i < n; i++)
        num(b, v[i]);
    op(b, "t");
}

/* _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel, None),
   off, size, stride, False, OrderedDict()) */
static void
tensor(struct buf *b,
       const char *type,
       const char *key,
       int64_t numel,
       int64_t off,
       const int64_t *size,
       const int64_t *stride,
       size_t ndim)
{
    glob(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, "((");
    ustr(b, "storage");
    glob(b, "torch", type);
    ustr(b, key);
    ustr(b, "cpu");
    num(b, numel);
    op(b, "NtQ");
    num(b, off);
    ints(b, size, ndim);
    ints(b, stride, ndim);
    op(b, "\x89");
    glob(b, "collections", "OrderedDict");
    op(b, ")Rt");
    op(b, "R");
}

/* A legacy checkpoint: magic, 1001, {}, obj, [keys], then for each key
   its element count and bytes. */
static void
legacy(struct buf *out,
       const struct buf *obj,
       const char *const *keys,
       const uint64_t *counts,
       const void *const *data,
       const size_t *len,
       size_t n)
{
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c,
                                    0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                    0x6a, 0xa8, 0x50, 0x19, '.'};
    out->n = 0;
    put(out, magic, sizeof(magic));
    put(out, "\x80\x02M\xe9\x03.", 6);
    put(out, "\x80\x02}.", 4);
    put(out, obj->b, obj->n);
    op(out, "\x80\x02]");
    for (size_t i = 0; i < n; i++) {
        ustr(out, keys[i]);
        op(out, "a");
    }
    op(out, ".");
    for (size_t i = 0; i < n; i++) {
        uint8_t c[8];
        for (int k = 0; k < 8; k++)
            c[k] = (uint8_t)(counts[i] >> (8 * k));
        put(out, c, 8);
        put(out, data[i], len[i]);
    }
}

static const float F6[6] = {0, 1, 2, 3, 4, 5};

/* {name: 2x3 float tensor (with size/stride/offset)} in a legacy file
   whose storage "0" holds F6. */
static void
one_tensor(struct buf *out,
           const char *name,
           int64_t off,
           const int64_t *size,
           const int64_t *stride,
           size_t ndim)
{
    struct buf obj = {.n = 0};
    op(&obj, "\x80\x02}(");
    ustr(&obj, name);
    tensor(&obj, "FloatStorage", "0", 6, off, size, stride, ndim);
    op(&obj, "u.");
    const char *keys[] = {"0"};
    uint64_t counts[] = {6};
    const void *data[] = {F6};
    size_t len[] = {sizeof(F6)};
    legacy(out, &obj, keys, counts, data, len, 1);
}

/* ------------------------------------------------------------------ */
/* converting in memory */

struct out {
    struct mg_conversion *c;
    enum mg_status st;
    uint8_t *mem;
    size_t len;
};

static struct out
convert_mem(const void *in_buf, size_t in_len, size_t cap)
{
    struct out o = {0};
    o.c = mg_calloc(1, sizeof(*o.c));
    assert_non_null(o.c);
    o.mem = malloc(cap ? cap : 1);
    assert_non_null(o.mem);
    struct mg_options opt;
    mg_options_init(&opt);
    struct mg_input in;
    mg_input_mem(&in, in_buf, in_len);
    struct cv_model m;
    cv_model_init(&m, &opt.limits, o.c, &in);
    struct cv_sink sink = {.fd = -1, .mem = o.mem, .cap = cap};
    o.st = cv_convert_input(&m, &sink);
    o.len = sink.len;
    cv_model_fini(&m);
    return o;
}

static void
out_free(struct out *o)
{
    mg_conversion_free(o->c);
    free(o->mem);
}

/* The header's JSON text (without padding) and the data area. */
static void
split(const struct out *o,
      char *json,
      size_t jsize,
      const uint8_t **data,
      size_t *dlen)
{
    assert_true(o->len >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | o->mem[i];
    assert_int_equal(n % 8, 0);
    assert_true(8 + n <= o->len && n < jsize);
    memcpy(json, o->mem + 8, (size_t)n);
    size_t k = (size_t)n;
    while (k > 0 && json[k - 1] == ' ')
        k--;
    assert_true(n - k < 8);
    json[k] = '\0';
    *data = o->mem + 8 + n;
    *dlen = o->len - 8 - (size_t)n;
}

#define assert_reason(o, text)                                          \
    do {                                                                \
        if (strstr((o)->c->reason, (text)) == NULL)                     \
            fail_msg("reason '%s' lacks '%s'", (o)->c->reason, (text)); \
    } while (0)

static void
test_legacy_contiguous(void **state)
{
    (void)state;
    struct buf in;
    const int64_t size[] = {2, 3}, stride[] = {3, 1};
    one_tensor(&in, "w", 0, size, stride, 2);
    struct out o = convert_mem(in.b, in.n, 4096);
    assert_int_equal(o.st, MG_OK);
    char json[1024];
    const uint8_t *data;
    size_t dlen;
    split(&o, json, sizeof(json), &data, &dlen);
    assert_string_equal(json, "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{"
                              "\"dtype\":\"F32\",\"shape\":[2,3],"
                              "\"data_offsets\":[0,24]}}");
    assert_int_equal(dlen, sizeof(F6));
    assert_memory_equal(data, F6, sizeof(F6));
    out_free(&o);
}

static void
test_legacy_views_are_materialised(void **state)
{
    (void)state;
    struct {
        int64_t off, size[2], stride[2];
        float want[6];
        size_t n;
    } cases[] = {
        {0, {3, 2}, {1, 3}, {0, 3, 1, 4, 2, 5}, 6}, /* transposed */
        {2, {2, 2}, {1, 2}, {2, 4, 3, 5}, 4},       /* offset, strided */
        {1, {2, 1}, {0, 1}, {1, 1}, 2},             /* stride 0 */
        {4, {1, 2}, {2, 1}, {4, 5}, 2},             /* offset, contiguous */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf in;
        one_tensor(&in, "v", cases[i].off, cases[i].size, cases[i].stride, 2);
        struct out o = convert_mem(in.b, in.n, 4096);
        assert_int_equal(o.st, MG_OK);
        char json[1024];
        const uint8_t *data;
        size_t dlen;
        split(&o, json, sizeof(json), &data, &dlen);
        assert_int_equal(dlen, cases[i].n * 4);
        assert_memory_equal(data, cases[i].want, dlen);
        assert_non_null(strstr(o.c->notes[0], "view"));
        out_free(&o);
    }
}

static void
test_legacy_refusals(void **state)
{
    (void)state;
    const int64_t size[] = {2, 3}, stride[] = {3, 1};
    struct buf obj = {.n = 0};
    op(&obj, "\x80\x02}(");
    ustr(&obj, "w");
    tensor(&obj, "FloatStorage", "0", 6, 0, size, stride, 2);
    op(&obj, "u.");
    const char *keys[] = {"0"}, *other[] = {"1"};
    const void *data[] = {F6};
    size_t len[] = {sizeof(F6)}, short_len[] = {10};
    uint64_t six[] = {6}, five[] = {5};
    struct buf in;

    const struct {
        const char *const *keys;
        const uint64_t *counts;
        const size_t *len;
        size_t n, cap;
        enum mg_status st;
        const char *why;
    } cases[] = {
        {keys, five, len, 1, 4096, MG_E_MALFORMED, "holds 5 elements"},
        {keys, six, short_len, 1, 4096, MG_E_TRUNCATED, "short"},
        {other, six, len, 1, 4096, MG_E_MALFORMED, "not a storage of the"},
        {keys, six, len, 0, 4096, MG_E_MALFORMED, "missing"},
        /* too small a sink: a limit, never a partial success */
        {keys, six, len, 1, 100, MG_E_LIMIT, "too large"},
    };
    struct out o;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        legacy(&in, &obj, cases[i].keys, cases[i].counts, data, cases[i].len,
               cases[i].n);
        o = convert_mem(in.b, in.n, cases[i].cap);
        assert_int_equal(o.st, cases[i].st);
        assert_reason(&o, cases[i].why);
        out_free(&o);
    }

    /* protocol version */
    legacy(&in, &obj, keys, six, data, len, 1);
    in.b[18] = 0xea; /* 1002 */
    o = convert_mem(in.b, in.n, 4096);
    assert_int_not_equal(o.st, MG_OK);
    assert_reason(&o, "1001");
    out_free(&o);
}

static void
test_imports_outside_the_set(void **state)
{
    (void)state;
    static const struct {
        const char *mod, *name, *why;
    } bad[] = {
        {"os", "system", "imports os.system"},
        {"builtins", "getattr", "imports builtins.getattr"},
        {"torch", "ComplexDoubleStorage", "no safetensors dtype"},
        {"torch", "device", "imports torch.device"},
        {"__main__", "Net", "imports __main__.Net"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf obj = {.n = 0};
        op(&obj, "\x80\x02}(");
        ustr(&obj, "x");
        glob(&obj, bad[i].mod, bad[i].name);
        op(&obj, "u.");
        struct buf in;
        legacy(&in, &obj, NULL, NULL, NULL, NULL, 0);
        struct out o = convert_mem(in.b, in.n, 4096);
        assert_int_equal(o.st, MG_E_UNSUPPORTED);
        assert_reason(&o, bad[i].why);
        out_free(&o);
    }
}

static void
test_names_and_sharing(void **state)
{
    (void)state;
    const int64_t size[] = {6}, stride[] = {1}, s2[] = {3}, st2[] = {1};
    struct buf obj = {.n = 0};
    op(&obj, "\x80\x02}(");
    ustr(&obj, "b\"q\n");
    tensor(&obj, "FloatStorage", "0", 6, 0, size, stride, 1);
    ustr(&obj, "a");
    tensor(&obj, "FloatStorage", "0", 6, 0, size, stride, 1);
    ustr(&obj, "half");
    tensor(&obj, "FloatStorage", "0", 6, 3, s2, st2, 1);
    ustr(&obj, "list");
    op(&obj, "](");
    tensor(&obj, "FloatStorage", "0", 6, 3, s2, st2, 1);
    op(&obj, "e");
    ustr(&obj, "epoch");
    num(&obj, 3);
    op(&obj, "u.");
    const char *keys[] = {"0"};
    uint64_t six[] = {6};
    const void *data[] = {F6};
    size_t len[] = {sizeof(F6)};
    struct buf in;
    legacy(&in, &obj, keys, six, data, len, 1);
    struct out o = convert_mem(in.b, in.n, 4096);
    assert_int_equal(o.st, MG_OK);
    char json[2048];
    const uint8_t *d;
    size_t dlen;
    split(&o, json, sizeof(json), &d, &dlen);
    /* identical tensors once, under the smallest name; escapes as
       serde_json writes them */
    assert_string_equal(
        json, "{\"__metadata__\":{\"format\":\"pt\",\"b\\\"q\\n\":\"a\","
              "\"list.0\":\"half\"},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
              "\"half\":{\"dtype\":\"F32\",\"shape\":[3],"
              "\"data_offsets\":[24,36]}}");
    assert_int_equal(dlen, 36);
    assert_memory_equal(d, F6, 24);
    assert_memory_equal(d + 24, F6 + 3, 12);
    int epoch = 0;
    for (size_t i = 0; i < o.c->nnotes; i++)
        epoch |= strstr(o.c->notes[i], "'epoch' (int) left out") != NULL;
    assert_true(epoch);
    out_free(&o);

    /* the same name from two paths */
    struct buf dup = {.n = 0};
    op(&dup, "\x80\x02}(");
    ustr(&dup, "a.b");
    tensor(&dup, "FloatStorage", "0", 6, 0, size, stride, 1);
    ustr(&dup, "a");
    op(&dup, "}");
    ustr(&dup, "b");
    tensor(&dup, "FloatStorage", "0", 6, 0, size, stride, 1);
    op(&dup, "su.");
    legacy(&in, &dup, keys, six, data, len, 1);
    o = convert_mem(in.b, in.n, 4096);
    assert_int_equal(o.st, MG_E_UNSUPPORTED);
    assert_reason(&o, "both named 'a.b'");
    out_free(&o);
}

/* A list referenced twice at each of 30 levels (memo): 2^30 paths from
   a pickle of 300 bytes. Walking them all would take hours; the
   flattening stops at max-values, under a name, an unnameable key and
   in a set alike. */
static void
test_shared_references_bounded(void **state)
{
    (void)state;
    for (int w = 0; w < 3; w++) {
        struct buf obj = {.n = 0};
        op(&obj, "\x80\x04}(");
        if (w == 1)
            op(&obj, "N"); /* a key that is no name */
        else
            ustr(&obj, "a");
        if (w == 2)
            op(&obj, "\x8f("); /* a set */
        op(&obj, "]q\x01"
                 "0");
        for (uint8_t i = 1; i <= 30; i++) {
            uint8_t lv[] = {']', 'q', (uint8_t)(i + 1), '(', 'h', i, 'h', i,
                            'e', '0'};
            put(&obj, lv, sizeof(lv));
        }
        uint8_t top[] = {'h', 31};
        put(&obj, top, sizeof(top));
        op(&obj, w == 2 ? "\x90u." : "u.");
        struct buf in;
        legacy(&in, &obj, NULL, NULL, NULL, NULL, 0);
        struct out o = convert_mem(in.b, in.n, 4096);
        assert_int_equal(o.st, MG_E_LIMIT);
        assert_reason(&o, "shared references (limit max-values)");
        out_free(&o);
    }
}

static void
test_zip_fixtures(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = mgt_fixture("zip/torch_benign.pt", &len);
    struct out o = convert_mem(b, len, 1 << 16);
    assert_int_equal(o.st, MG_OK);
    char json[4096];
    const uint8_t *d;
    size_t dlen;
    split(&o, json, sizeof(json), &d, &dlen);
    assert_non_null(strstr(json, "\"dtype\":\"F32\""));
    out_free(&o);
    free(b);

    b = mgt_fixture("zip/torch_missing_storage.pt", &len);
    o = convert_mem(b, len, 1 << 16);
    assert_int_equal(o.st, MG_E_MALFORMED);
    assert_reason(&o, "missing");
    out_free(&o);
    free(b);

    b = mgt_fixture("zip/zip_duplicate.pt", &len);
    o = convert_mem(b, len, 1 << 16);
    assert_int_not_equal(o.st, MG_OK);
    out_free(&o);
    free(b);

    b = mgt_fixture("zip/legacy_benign.pt", &len);
    o = convert_mem(b, len, 1 << 16);
    assert_int_equal(o.st, MG_E_UNSUPPORTED);
    assert_reason(&o, "single tensor");
    out_free(&o);
    free(b);
}

static void
test_rename_and_map(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"pytorch_model.bin", "model.safetensors"},
        {"pytorch_model-00001-of-00002.bin",
         "model-00001-of-00002.safetensors"},
        {"ckpt.pt", "ckpt.safetensors"},
        {"noext", "noext.safetensors"},
        {".hidden", ".hidden.safetensors"},
        {"a.b.c", "a.b.safetensors"},
        {"pytorch_modelpytorch_model.x", "modelmodel.safetensors"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = cv_rename(cases[i][0]);
        assert_string_equal(r, cases[i][1]);
        mg_free(r);
    }
    struct cv_map m = {0};
    char keys[3000][8];
    for (size_t i = 0; i < 3000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
        assert_int_equal(cv_map_put(&m, keys[i], strlen(keys[i]), i), MG_OK);
    }
    for (size_t i = 0; i < 3000; i++) {
        size_t v = SIZE_MAX;
        assert_true(cv_map_get(&m, keys[i], strlen(keys[i]), &v));
        assert_int_equal(v, i);
    }
    size_t v;
    assert_false(cv_map_get(&m, "k3000", 5, &v));
    assert_false(cv_map_get(&m, "k1", 1, &v));
    cv_map_fini(&m);
}

static void
test_public_api_arguments(void **state)
{
    (void)state;
    struct mg_convert_options o;
    mg_convert_options_init(&o);
    assert_int_equal(o.force, 0);
    struct mg_conversion *c = (struct mg_conversion *)1;
    assert_int_equal(mg_convert_file(NULL, "a", "b", &c), MG_E_INVALID);
    assert_null(c);
    assert_int_equal(mg_convert_file(&o, "a", "b", NULL), MG_E_INVALID);
    assert_int_equal(mg_convert_sharded(&o, NULL, "b", &c), MG_E_INVALID);
    mg_conversion_free(NULL);
    assert_int_equal(mg_conversion_result(NULL), MG_CONVERT_FAILED);
    assert_null(mg_conversion_note(NULL, 0));
    assert_null(mg_conversion_report(NULL, 0));
    /* a file that does not exist: a failure, with a reason */
    assert_int_equal(mg_convert_file(&o, "/nonexistent/x.pt",
                                     "/nonexistent/y.safetensors", &c),
                     MG_E_IO);
    assert_int_equal(mg_conversion_result(c), MG_CONVERT_FAILED);
    assert_non_null(strstr(mg_conversion_reason(c), "cannot open"));
    assert_int_equal(mg_conversion_output_count(c), 0);
    mg_conversion_free(c);
}

#ifdef MG_ALLOC_HOOKS
/* Each allocation failing in turn: an error, or exactly the bytes of the
   run without failures; never a crash or a leak (ASan). */
static void
alloc_loop(const void *in, size_t len)
{
    mg_alloc_fail_at(0);
    struct out ref = convert_mem(in, len, 1 << 16);
    unsigned long total = mg_alloc_count();
    assert_int_equal(ref.st, MG_OK);
    assert_true(total > 5);
    for (unsigned long n = 1; n <= total + 1; n++) {
        struct mg_conversion *c = mg_calloc(1, sizeof(*c));
        uint8_t *mem = malloc(1 << 16);
        assert_true(c && mem);
        struct mg_options opt;
        mg_options_init(&opt);
        struct mg_input inp;
        mg_input_mem(&inp, in, len);
        struct cv_model m;
        cv_model_init(&m, &opt.limits, c, &inp);
        struct cv_sink sink = {.fd = -1, .mem = mem, .cap = 1 << 16};
        mg_alloc_fail_at(n);
        enum mg_status st = cv_convert_input(&m, &sink);
        mg_alloc_fail_at(0);
        cv_model_fini(&m);
        if (st == MG_OK) {
            assert_int_equal(sink.len, ref.len);
            assert_memory_equal(mem, ref.mem, ref.len);
        }
        mg_conversion_free(c);
        free(mem);
    }
    out_free(&ref);
}

static void
test_alloc_failures(void **state)
{
    (void)state;
    struct buf in;
    const int64_t size[] = {3, 2}, stride[] = {1, 3};
    one_tensor(&in, "t", 0, size, stride, 2);
    alloc_loop(in.b, in.n);
    size_t len;
    unsigned char *b = mgt_fixture("zip/torch_benign.pt", &len);
    alloc_loop(b, len);
    free(b);
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_contiguous),
        cmocka_unit_test(test_legacy_views_are_materialised),
        cmocka_unit_test(test_legacy_refusals),
        cmocka_unit_test(test_imports_outside_the_set),
        cmocka_unit_test(test_names_and_sharing),
        cmocka_unit_test(test_shared_references_bounded),
        cmocka_unit_test(test_zip_fixtures),
        cmocka_unit_test(test_rename_and_map),
        cmocka_unit_test(test_public_api_arguments),
#ifdef MG_ALLOC_HOOKS
        cmocka_unit_test(test_alloc_failures),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
