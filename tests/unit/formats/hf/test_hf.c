/* Hugging Face chat templates: tokenizer_config.json (a string or a list
   of named templates), chat_template.json, bare .jinja files. */
#include "formats/fmt_test.h"

static const struct fx_expect json_table[] = {
    {"ok_tokenizer_config.json", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_tokenizer_config_no_template.json", MG_VERDICT_SAFE, NULL, NULL},
    {"ok_chat_template_list.json", MG_VERDICT_SAFE, NULL, NULL},
    {"mal_tokenizer_config_cycler.json", MG_VERDICT_DANGEROUS,
     "chat-template-injection",
     "`{{ cycler.__init__.__globals__.os.popen('true').read() }}`"},
    {"mal_tokenizer_config_escapes.json", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "spells names with string escapes"},
    {"mal_chat_template_list_tool_use.json", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "\"chat_template\" \"tool_use\""},
};

static const struct fx_expect jinja_table[] = {
    {"ok_chat_template.jinja", MG_VERDICT_SAFE, NULL, NULL},
    {"mal_chat_template_subclasses.jinja", MG_VERDICT_DANGEROUS,
     "chat-template-injection", "__subclasses__"},
    {"sus_chat_template_include.jinja", MG_VERDICT_SUSPICIOUS,
     "chat-template-include", "include 'common.jinja'"},
};

static void
test_fixtures(void **state)
{
    (void)state;
    fx_run("hf", "hf-tokenizer-config", json_table,
           sizeof(json_table) / sizeof(json_table[0]));
    fx_run("hf", "jinja-template", jinja_table,
           sizeof(jinja_table) / sizeof(jinja_table[0]));
}

static void
test_damage(void **state)
{
    (void)state;
    fx_flips("hf/mal_tokenizer_config_cycler.json", 5);
    fx_flips("hf/mal_chat_template_subclasses.jinja", 1);
    FX_LIMIT("hf/ok_tokenizer_config.json", max_json_values, 5,
             "max-json-values");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
