/* GGUF v1-v3 end to end: every committed fixture with its verdict and the
   finding that explains it, limits, and damaged copies of a benign file. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE */
#include <sys/mman.h>

#include "formats/fmt_test.h"

static const struct fx_expect table[] = {
    {"ok_chatml_v3.gguf", MG_VERDICT_SAFE, "gguf-summary", "GGUF v3,"},
    {"ok_tools_template_v3.gguf", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_v2.gguf", MG_VERDICT_SAFE, "gguf-summary", "GGUF v2,"},
    {"ok_v1.gguf", MG_VERDICT_SAFE, "gguf-summary", "GGUF v1,"},
    {"ok_big_endian_v3.gguf", MG_VERDICT_SAFE, "gguf-summary", "big-endian"},
    {"ok_no_tensors.gguf", MG_VERDICT_SAFE, NULL, NULL},
    {"mal_template_subclasses.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "__subclasses__"},
    {"mal_template_subclasses.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "popen(\"true\")"},
    {"mal_template_cycler.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "cycler.__init__.__globals__.os.popen"},
    {"mal_template_cycler.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "sandbox escapes (cycler)"},
    {"mal_template_lipsum.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "(lipsum)"},
    {"mal_template_attr_escapes.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "spells names with string escapes"},
    {"mal_template_concat.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "assembles the names (__class__)"},
    {"mal_template_reverse.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "assembles the names (__class__)"},
    {"mal_template_joined.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "__globals__"},
    {"mal_template_selfref.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "_TemplateReference__context"},
    {"mal_template_format.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "'{0.__class__.__mro__}'.format"},
    {"mal_template_named_variant.gguf", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "tokenizer.chat_template.tool_use"},
    {"sus_template_include.gguf", MG_VERDICT_SUSPICIOUS,
     "chat-template-include", "include 'other.jinja'"},
    {"sus_template_computed_attr.gguf", MG_VERDICT_SUSPICIOUS,
     "chat-template-obfuscation", "computes an attribute name"},
    {"sus_kv_count_huge.gguf", MG_VERDICT_SUSPICIOUS, "gguf-header",
     "4611686018427387904 metadata keys"},
    {"sus_string_past_eof.gguf", MG_VERDICT_SUSPICIOUS, "gguf-header",
     "runs past the end of the file"},
    {"sus_array_count_huge.gguf", MG_VERDICT_SUSPICIOUS, "gguf-header",
     "more than the rest of the file holds"},
    {"sus_bad_value_type.gguf", MG_VERDICT_SUSPICIOUS, "gguf-header",
     "invalid value type 99"},
    {"sus_tensor_past_eof.gguf", MG_VERDICT_SUSPICIOUS, "gguf-layout",
     "\"token_embd.weight\" [1048576, +32) runs past the end"},
    {"sus_tensor_overlap.gguf", MG_VERDICT_SUSPICIOUS, "gguf-layout",
     "overlaps tensor \"token_embd.weight\""},
    {"sus_tensor_gap.gguf", MG_VERDICT_SUSPICIOUS, "gguf-layout",
     "belong to no tensor (before \"output_norm.weight\")"},
    {"sus_trailing_data.gguf", MG_VERDICT_SUSPICIOUS, "gguf-layout",
     "after the last tensor"},
    {"sus_duplicate_key.gguf", MG_VERDICT_SUSPICIOUS, "gguf-duplicate",
     "\"general.name\" appears twice"},
    {"sus_duplicate_tensor_name.gguf", MG_VERDICT_SUSPICIOUS, "gguf-duplicate",
     "two tensors are named \"token_embd.weight\""},
    {"sus_bad_version.gguf", MG_VERDICT_SUSPICIOUS, "gguf-header", "version 7"},
    {"sus_bad_alignment.gguf", MG_VERDICT_SUSPICIOUS, "gguf-metadata",
     "general.alignment"},
    {"sus_bad_ggml_type.gguf", MG_VERDICT_SUSPICIOUS, "gguf-tensor",
     "unknown ggml type 4"},
    {"sus_too_many_dims.gguf", MG_VERDICT_SUSPICIOUS, "gguf-tensor",
     "5 dimensions"},
    {"sus_bool_byte.gguf", MG_VERDICT_SUSPICIOUS, "gguf-metadata",
     "boolean byte 7"},
    {"sus_long_tensor_name.gguf", MG_VERDICT_SUSPICIOUS, "gguf-tensor",
     "80-byte name"},
    {"err_deep_arrays.gguf", MG_VERDICT_ERROR, "limit", "max-nesting"},
};

static void
test_fixtures(void **state)
{
    (void)state;
    fx_run("gguf", "gguf", table, sizeof(table) / sizeof(table[0]));
}

static void
test_limits(void **state)
{
    (void)state;
    FX_LIMIT("gguf/ok_chatml_v3.gguf", max_header_bytes, 200,
             "max-header-bytes");
    FX_LIMIT("gguf/ok_chatml_v3.gguf", max_tensors, 2, "max-tensors");
    /* test.nested is an array of arrays */
    FX_LIMIT("gguf/ok_chatml_v3.gguf", max_nesting, 1, "max-nesting");
}

/* The template is judged even when it is the last thing the header
   holds before the file is cut: findings made before damage are kept. */
static void
test_template_before_damage(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = mgt_fixture("gguf/mal_template_cycler.gguf", &len);
    /* cut inside the tensor infos, after the metadata */
    struct mg_report *r = mgt_scan(b, len - 200);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_non_null(fx_find(r, "chat-template-injection", "cycler"));
    assert_non_null(fx_find(r, "gguf-header", "truncated"));
    mg_report_free(r);
    free(b);
}

static void
test_damage(void **state)
{
    (void)state;
    /* the last 24 bytes are the alignment padding after the last tensor */
    fx_truncations("gguf/ok_chatml_v3.gguf", 8, 1, 24);
    fx_truncations("gguf/ok_v1.gguf", 8, 3, 24);
    fx_truncations("gguf/ok_big_endian_v3.gguf", 8, 5, 24);
    fx_flips("gguf/ok_chatml_v3.gguf", 3);
    fx_flips("gguf/ok_v1.gguf", 7);
}

/* A header that declares more keys than max-header-bytes can ever hold,
   in a file big enough to make them plausible (2 GiB of untouched
   zero pages): a limit, not an allocation sized by the file. */
static void
test_many_keys(void **state)
{
    (void)state;
    size_t len = (size_t)1 << 31;
    unsigned char *b = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (b == MAP_FAILED)
        skip();
    uint64_t nkv = (len - 24) / 14;
    memcpy(b, "GGUF\x03\0\0\0", 8);
    for (int i = 0; i < 8; i++)
        b[16 + i] = (unsigned char)(nkv >> (8 * i));
    /* keys "k" of type uint8, 14 bytes each, past a 4 KiB budget */
    for (size_t k = 0, o = 24; k < 400; k++, o += 14) {
        b[o] = 1;
        b[o + 8] = 'k';
    }
    struct mg_options opt;
    mg_options_init(&opt);
    opt.limits.max_header_bytes = 4096;
    struct mg_report *r = mgt_scan_opts(b, len, &opt);
    assert_non_null(fx_find(r, "limit", "max-header-bytes"));
    mg_report_free(r);
    munmap(b, len);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_template_before_damage),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
