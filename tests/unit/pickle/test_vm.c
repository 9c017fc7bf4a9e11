/* The symbolic pickle machine: argument rules as CPython's C unpickler
   applies them, where it breaks and why, memo and mark semantics, name
   resolution, and every limit. */
#include "mg_test.h"
#include "pickle/opcodes.h"
#include "pickle/vm.h"

struct rec {
    int nglobals;
    char globals[16][128];
    int ncalls;
    char calls[16][256];
    int nanom;
    char anomalies[8][64];
};

static enum mg_status
record(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    struct rec *r = user;
    switch (ev->kind) {
    case PEV_GLOBAL:
        if (r->nglobals < 16)
            mg_glob_qualname(ev->glob, r->globals[r->nglobals++], 128);
        break;
    case PEV_CALL:
        if (r->ncalls < 16) {
            struct mg_val v = {VK_OBJ, {.o = (struct mg_obj *)&ev->call->h}};
            snprintf(r->calls[r->ncalls++], 256, "%s", mg_pvm_render(vm, &v));
        }
        break;
    case PEV_ANOMALY:
        if (r->nanom < 8)
            snprintf(r->anomalies[r->nanom++], 64, "%s", ev->rule);
        break;
    case PEV_OPCODE:
    case PEV_METHOD:
    case PEV_STRING:
    default:
        break;
    }
    return MG_OK;
}

/* Run one stream; returns the result, fills rec, renders the value. */
static enum mg_status
run(const char *data,
    size_t len,
    struct mg_limits *lim,
    struct mg_pvm_result *res,
    struct rec *rec,
    char *value,
    size_t vsize)
{
    struct mg_options o;
    mg_options_init(&o);
    if (lim == NULL)
        lim = &o.limits;
    struct mg_pvm vm;
    memset(rec, 0, sizeof(*rec));
    mg_pvm_init(&vm, lim, record, rec);
    struct mg_stream s;
    mg_stream_init_mem(&s, data, len, 0);
    enum mg_status st = mg_pvm_run(&vm, &s, res);
    if (value != NULL) {
        value[0] = '\0';
        if (st == MG_OK && res->end == PEND_STOP)
            mg_val_render(&res->value, value, vsize, 16);
        else if (st == MG_OK && res->end == PEND_BREAK)
            snprintf(value, vsize, "BREAK: %s", res->why);
    }
    mg_pvm_fini(&vm);
    return st;
}

#define RUN(lit, out)                                                        \
    do {                                                                     \
        struct mg_pvm_result res_;                                           \
        struct rec rec_;                                                     \
        assert_int_equal(                                                    \
            run(lit, sizeof(lit) - 1, NULL, &res_, &rec_, out, sizeof(out)), \
            MG_OK);                                                          \
    } while (0)

#define EXPECT(lit, want)              \
    do {                               \
        char v_[512];                  \
        RUN(lit, v_);                  \
        assert_string_equal(v_, want); \
    } while (0)

static void
test_text_ints(void **state)
{
    (void)state;
    /* strtol base 0: hex and octal; then Python int(); bools from 00/01 */
    EXPECT("I42\n.", "42");
    EXPECT("I-7\n.", "-7");
    EXPECT("I0x10\n.", "16");
    EXPECT("I010\n.", "8");
    EXPECT("I01\n.", "True");
    EXPECT("I00\n.", "False");
    EXPECT("I1_000\n.", "1000");
    EXPECT("I99999999999999999999\n.", "<bigint>");
    EXPECT("I 5\n.", "5");
    EXPECT("I5x\n.", "BREAK: invalid literal for int() with base 0");
    EXPECT("I\n.", "BREAK: pickle data was truncated");
    EXPECT("L123L\n.", "123");
    EXPECT("L-0x20\n.", "-32");
    EXPECT("L012\n.", "BREAK: invalid literal for int() with base 0");
    EXPECT("L1__0\n.", "BREAK: invalid literal for int() with base 0");
}

static void
test_binary_ints(void **state)
{
    (void)state;
    EXPECT("J\xff\xff\xff\xff.", "-1");
    EXPECT("K\xff.", "255");
    EXPECT("M\x01\x01.", "257");
    EXPECT("\x8a\x00.", "0");
    EXPECT("\x8a\x02\xff\x7f.", "32767");
    EXPECT("\x8a\x01\xff.", "-1");
    EXPECT("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00.", "<bigint>");
    EXPECT("\x8b\x02\x00\x00\x00\x00\x01.", "256");
    EXPECT("\x8b\xff\xff\xff\xff.",
           "BREAK: LONG pickle has negative byte count");
}

static void
test_floats(void **state)
{
    (void)state;
    EXPECT("F2.5\n.", "2.5");
    EXPECT("F-inf\n.", "-inf");
    EXPECT("F1e400\n.", "BREAK: float too large to pack");
    EXPECT("F 1.0\n.", "BREAK: could not convert string to float");
    EXPECT("F0x1p3\n.", "BREAK: could not convert string to float");
    EXPECT("G?\xf8\x00\x00\x00\x00\x00\x00.", "1.5");
}

static void
test_strings(void **state)
{
    (void)state;
    EXPECT("S'abc'\n.", "'abc'");
    EXPECT("S\"a'b\"\n.", "\"a'b\"");
    EXPECT("S'a\\x41\\n\\101'\n.", "'aA\\nA'");
    EXPECT("S'a\\q'\n.", "'a\\\\q'");
    EXPECT("Sabc\n.", "BREAK: the STRING opcode argument must be quoted");
    EXPECT("S'abc\"\n.", "BREAK: the STRING opcode argument must be quoted");
    EXPECT("S'\\x4'\n.", "BREAK: invalid escape in STRING argument");
    EXPECT("Vab\\u0041\\\\u0041\n.", "'abA\\\\\\\\u0041'");
    EXPECT("V\\u004\n.", "BREAK: 'rawunicodeescape' codec can't decode bytes");
    EXPECT("X\x02\x00\x00\x00\xc3\xa9.", "'\xc3\xa9'");
    /* surrogates pass in BINUNICODE (surrogatepass), not invalid bytes */
    EXPECT("X\x03\x00\x00\x00\xed\xa0\x80.", "'\xed\xa0\x80'");
    EXPECT("X\x01\x00\x00\x00\xff.",
           "BREAK: 'utf-8' codec can't decode the BINUNICODE argument");
    EXPECT("\x8c\x02\xc3(.",
           "BREAK: 'utf-8' codec can't decode the SHORT_BINUNICODE argument");
    EXPECT("T\x02\x00\x00\x00hi.", "'hi'");
    EXPECT("T\xfe\xff\xff\xff.",
           "BREAK: BINSTRING pickle has negative byte count");
    EXPECT("C\x02\x00\x01.", "b'\\x00\\x01'");
    EXPECT("\x96\x01\x00\x00\x00\x00\x00\x00\x00z.", "bytearray(b'z')");
    EXPECT("B\x05\x00\x00\x00"
           "ab.",
           "BREAK: pickle data was truncated");
}

static void
test_containers_and_marks(void **state)
{
    (void)state;
    EXPECT("(I1\nI2\nl.", "[1, 2]");
    EXPECT("(I1\nI2\nt.", "(1, 2)");
    EXPECT("(K\x01K\x02"
           "d.",
           "{1: 2}");
    EXPECT("(K\x01"
           "d.",
           "BREAK: odd number of items for DICT");
    EXPECT("}(K\x01K\x02u.", "{1: 2}");
    EXPECT("](K\x01"
           "e.",
           "[1]");
    EXPECT("\x8f(K\x01\x90.", "{1}");
    EXPECT("(K\x01\x91.", "frozenset({1})");
    EXPECT("K\x01\x85.", "(1,)");
    EXPECT(").", "()");
    /* items below the innermost MARK are out of reach */
    EXPECT("K\x01(\x85.", "BREAK: unexpected MARK found");
    EXPECT("K\x01(R.", "BREAK: unexpected MARK found");
    EXPECT("t.", "BREAK: could not find MARK");
    EXPECT("1.", "BREAK: could not find MARK");
    /* POP takes a mark when the mark is on top */
    EXPECT("K\x01(0.", "1");
    EXPECT("0.", "BREAK: unpickling stack underflow");
    EXPECT(".", "BREAK: unpickling stack underflow");
    EXPECT("(K\x01K\x02"
           "1K\x03.",
           "3");
    EXPECT("K\x01"
           "2\x86.",
           "(1, 1)");
    /* APPEND on a dict breaks as in CPython */
    EXPECT("}K\x01"
           "a.",
           "BREAK: 'dict' object has no attribute 'append'");
}

static void
test_memo(void **state)
{
    (void)state;
    EXPECT("K\x07q\x05h\x05\x86.", "(7, 7)");
    EXPECT("K\x07p12\ng12\n\x86.", "(7, 7)");
    EXPECT("K\x07r\x00\x00\x01\x00j\x00\x00\x01\x00\x86.", "(7, 7)");
    EXPECT("h\x01.", "BREAK: Memo value not found at index 1");
    EXPECT("K\x07p-1\n.", "BREAK: negative PUT argument");
    EXPECT("q\x00.", "BREAK: unpickling stack underflow");
    /* MEMOIZE stores at len(memo): keys 3 and 1 exist, so the next is 2,
       then 2 again after an overwrite keeps the length */
    EXPECT("K\x01q\x03K\x02q\x01K\x09\x94h\x02.", "9");
    EXPECT("K\x01q\x01K\x09\x94h\x01.", "9");
}

static void
test_proto_frame_and_ext(void **state)
{
    (void)state;
    EXPECT("\x80\x06K\x01.", "BREAK: unsupported pickle protocol: 6");
    EXPECT("\x80\x05\x95\x02\x00\x00\x00\x00\x00\x00\x00K\x01.", "1");
    EXPECT("\x82\x00.", "BREAK: EXT specifies code <= 0");
    EXPECT("\x84\xff\xff\xff\xff.", "BREAK: EXT specifies code <= 0");
    struct mg_pvm_result res;
    struct rec rec;
    const char two_protos[] = "\x80\x04\x80\x02K\x01.";
    assert_int_equal(
        run(two_protos, sizeof(two_protos) - 1, NULL, &res, &rec, NULL, 0),
        MG_OK);
    assert_int_equal(rec.nanom, 1);
    assert_string_equal(rec.anomalies[0], "pickle-proto");
    const char frame_short[] =
        "\x80\x04\x95\x01\x00\x00\x00\x00\x00\x00\x00K\x01.";
    assert_int_equal(
        run(frame_short, sizeof(frame_short) - 1, NULL, &res, &rec, NULL, 0),
        MG_OK);
    assert_int_equal(res.end, PEND_STOP);
    assert_int_equal(rec.nanom, 1);
    assert_string_equal(rec.anomalies[0], "pickle-frame");
}

static void
test_globals_and_name_mapping(void **state)
{
    (void)state;
    struct mg_pvm_result res;
    struct rec rec;
    /* protocol < 3 maps Python 2 names; protocol 3+ does not */
    const char p2[] = "\x80\x02"
                      "c__builtin__\neval\n.";
    assert_int_equal(run(p2, sizeof(p2) - 1, NULL, &res, &rec, NULL, 0), MG_OK);
    assert_string_equal(rec.globals[0], "builtins.eval");
    const char p3[] = "\x80\x03"
                      "c__builtin__\neval\n.";
    assert_int_equal(run(p3, sizeof(p3) - 1, NULL, &res, &rec, NULL, 0), MG_OK);
    assert_string_equal(rec.globals[0], "__builtin__.eval");
    const char pair[] = "c__builtin__\nxrange\ncUserDict\nUserDict\n.";
    assert_int_equal(run(pair, sizeof(pair) - 1, NULL, &res, &rec, NULL, 0),
                     MG_OK);
    assert_string_equal(rec.globals[0], "builtins.range");
    assert_string_equal(rec.globals[1], "collections.UserDict");
    /* a PROTO in the middle changes the mapping from there on */
    const char mid[] = "\x80\x04\x80\x02"
                       "ccopy_reg\n_reconstructor\n.";
    assert_int_equal(run(mid, sizeof(mid) - 1, NULL, &res, &rec, NULL, 0),
                     MG_OK);
    assert_string_equal(rec.globals[0], "copyreg._reconstructor");
    /* names must be strict UTF-8 */
    const char bad[] = "cos\xff\nsystem\n.";
    char v[256];
    assert_int_equal(run(bad, sizeof(bad) - 1, NULL, &res, &rec, v, sizeof(v)),
                     MG_OK);
    assert_int_equal(res.end, PEND_BREAK);
    assert_int_equal(rec.nglobals, 0);
}

static void
test_stack_global_operands(void **state)
{
    (void)state;
    char v[256];
    /* memo-sourced operands resolve like constants */
    struct mg_pvm_result res;
    struct rec rec;
    const char memo[] =
        "\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93.";
    assert_int_equal(
        run(memo, sizeof(memo) - 1, NULL, &res, &rec, v, sizeof(v)), MG_OK);
    assert_string_equal(rec.globals[0], "os.system");
    /* an int operand makes CPython raise */
    EXPECT("\x80\x04K\x01\x8c\x01x\x93.", "BREAK: STACK_GLOBAL requires str");
}

static void
test_calls_resolve(void **state)
{
    (void)state;
    struct mg_pvm_result res;
    struct rec rec;
    char v[512];
    /* getattr(__import__('os.path'), 'sep'): __import__ returns 'os' */
    const char imp[] = "\x80\x02"
                       "cbuiltins\ngetattr\ncbuiltins\n__import__\n"
                       "X\x07\x00\x00\x00os.path\x85RX\x06\x00\x00\x00system"
                       "\x86"
                       "R.";
    assert_int_equal(run(imp, sizeof(imp) - 1, NULL, &res, &rec, v, sizeof(v)),
                     MG_OK);
    assert_int_equal(res.end, PEND_STOP);
    assert_string_equal(v, "os.system");
    /* functools.partial(os.system, 'x')() calls os.system('x') */
    const char part[] = "\x80\x02"
                        "cfunctools\npartial\ncos\nsystem\n"
                        "X\x01\x00\x00\x00"
                        "x\x86R)R.";
    assert_int_equal(
        run(part, sizeof(part) - 1, NULL, &res, &rec, v, sizeof(v)), MG_OK);
    assert_string_equal(rec.calls[rec.ncalls - 1], "os.system('x')");
    /* calling a constant breaks */
    EXPECT("K\x01)R.", "BREAK: 'int' object is not callable");
    EXPECT("cos\nsystem\nK\x01R.", "BREAK: argument list must be a tuple");
    /* OBJ and INST call with the items after the MARK */
    const char inst[] = "(S'x'\nios\nsystem\n.";
    assert_int_equal(
        run(inst, sizeof(inst) - 1, NULL, &res, &rec, v, sizeof(v)), MG_OK);
    assert_string_equal(rec.calls[0], "os.system('x')");
    const char obj[] = "(cos\nsystem\nS'y'\no.";
    assert_int_equal(run(obj, sizeof(obj) - 1, NULL, &res, &rec, v, sizeof(v)),
                     MG_OK);
    assert_string_equal(rec.calls[0], "os.system('y')");
}

static void
test_no_stop_and_empty(void **state)
{
    (void)state;
    char v[256];
    EXPECT("K\x01", "BREAK: pickle data was truncated (no STOP)");
    struct mg_pvm_result res;
    struct rec rec;
    assert_int_equal(run("", 0, NULL, &res, &rec, v, sizeof(v)), MG_OK);
    assert_int_equal(res.end, PEND_EMPTY);
    EXPECT("\xfe", "BREAK: invalid load key, '\\xfe'.");
}

/* Each limit stops the machine with MG_E_LIMIT and names itself. */
static void
check_limit(const char *data,
            size_t len,
            struct mg_limits *lim,
            const char *name)
{
    struct mg_options o;
    mg_options_init(&o);
    struct mg_pvm vm;
    struct rec rec;
    memset(&rec, 0, sizeof(rec));
    mg_pvm_init(&vm, lim, record, &rec);
    struct mg_stream s;
    mg_stream_init_mem(&s, data, len, 0);
    struct mg_pvm_result res;
    assert_int_equal(mg_pvm_run(&vm, &s, &res), MG_E_LIMIT);
    assert_non_null(vm.limit_name);
    assert_string_equal(vm.limit_name, name);
    mg_pvm_fini(&vm);
}

static void
test_limits(void **state)
{
    (void)state;
    struct mg_options o;
    char buf[4096];
    mg_options_init(&o);
    o.limits.max_opcodes = 10;
    memset(buf, 'N', 20);
    buf[20] = '.';
    check_limit(buf, 21, &o.limits, "max-opcodes");

    mg_options_init(&o);
    o.limits.max_stack = 5;
    check_limit(buf, 21, &o.limits, "max-stack");

    mg_options_init(&o);
    o.limits.max_memo = 3;
    size_t k = 0;
    buf[k++] = 'N';
    for (int i = 0; i < 10; i++) {
        buf[k++] = 'q';
        buf[k++] = (char)i;
    }
    buf[k++] = '.';
    check_limit(buf, k, &o.limits, "max-memo");

    mg_options_init(&o);
    o.limits.max_string = 4;
    const char big[] = "X\x05\x00\x00\x00hello.";
    check_limit(big, sizeof(big) - 1, &o.limits, "max-string");

    mg_options_init(&o);
    o.limits.max_values = 5;
    memset(buf, ']', 20);
    buf[20] = '.';
    check_limit(buf, 21, &o.limits, "max-values");

    /* partial(partial(partial(...))) deeper than max-value-depth */
    mg_options_init(&o);
    o.limits.max_value_depth = 3;
    const char deep[] = "cfunctools\npartial\ncfunctools\npartial\n"
                        "cfunctools\npartial\ncos\nsystem\n\x85R\x85R\x85R)R.";
    check_limit(deep, sizeof(deep) - 1, &o.limits, "max-value-depth");
}

static void
test_dup_growth_is_shared(void **state)
{
    (void)state;
    /* DUP+TUPLE2 doubling builds a 2^40-leaf value in 40 steps: values are
       shared, so memory stays tiny and rendering stays bounded. */
    char buf[256];
    size_t k = 0;
    buf[k++] = 'K';
    buf[k++] = 1;
    for (int i = 0; i < 40; i++) {
        buf[k++] = '2';
        buf[k++] = '\x86';
    }
    buf[k++] = '.';
    struct mg_pvm_result res;
    struct rec rec;
    char v[512];
    assert_int_equal(run(buf, k, NULL, &res, &rec, v, sizeof(v)), MG_OK);
    assert_int_equal(res.end, PEND_STOP);
    assert_true(strlen(v) < sizeof(v));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_ints),
        cmocka_unit_test(test_binary_ints),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_containers_and_marks),
        cmocka_unit_test(test_memo),
        cmocka_unit_test(test_proto_frame_and_ext),
        cmocka_unit_test(test_globals_and_name_mapping),
        cmocka_unit_test(test_stack_global_operands),
        cmocka_unit_test(test_calls_resolve),
        cmocka_unit_test(test_no_stop_and_empty),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_dup_growth_is_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
