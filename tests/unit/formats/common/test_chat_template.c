/* The Jinja chat-template analyser on its own: templates in the styles
   models ship (ChatML, Llama 3, Mistral, Gemma, tool calling) stay quiet;
   the template-injection payloads known from SSTI write-ups and the
   llama-cpp-python advisory are reported with the right rule, and the
   quoted region is the offending block. */
#include "formats/common/chat_template.h"
#include "mg_test.h"

struct hits {
    unsigned n;
    enum mg_severity worst;
    char rules[8][40];
    char quotes[8][200];
    char reasons[8][400];
};

static enum mg_status
collect(void *user, const struct mg_tmpl_hit *h)
{
    struct hits *x = user;
    if (h->sev > x->worst || x->n == 0)
        x->worst = h->sev;
    if (x->n < 8) {
        snprintf(x->rules[x->n], sizeof(x->rules[0]), "%s", h->rule);
        snprintf(x->reasons[x->n], sizeof(x->reasons[0]), "%s", h->reason);
        x->quotes[x->n][0] = '\0';
    }
    x->n++;
    return MG_OK;
}

static struct hits
scan(const char *t)
{
    struct hits x;
    memset(&x, 0, sizeof(x));
    assert_int_equal(mg_tmpl_scan(t, strlen(t), collect, &x), MG_OK);
    return x;
}

static const char *const benign[] = {
    /* ChatML */
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + "
    "'\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}",
    /* Llama 3 style */
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
    /* Mistral style, with raise_exception and modulo */
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
    "' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}",
    /* Gemma style, with a namespace and string methods */
    "{% if messages[0]['role'] == 'system' %}{% set ns = namespace(sys="
    "messages[0]['content']) %}{% endif %}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else "
    "message['role'] %}{{ '<start_of_turn>' + role + '\\n' + "
    "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{%- if add_generation_prompt -%}{{'<start_of_turn>model\\n'}}"
    "{%- endif -%}",
    /* tool calling with tojson, map(attribute=), a macro, dict literals */
    "{%- macro render(t) -%}{{ t.function.name }}: {{ t.function.parameters "
    "| tojson(indent=2) }}{%- endmacro -%}"
    "{%- if tools %}{{- '# Tools\\n' }}{%- for t in tools %}"
    "{{- render(t) }}{%- endfor %}{%- endif %}"
    "{%- for m in messages %}{%- if m.role == 'tool' %}"
    "{{- {'name': m.name, 'content': m.content} | tojson }}"
    "{%- elif m.tool_calls is defined %}{{- m.tool_calls | "
    "map(attribute='function') | list | tojson }}{%- else %}"
    "{{- m.content | replace('_', ' ') }}{%- endif %}{%- endfor %}",
    /* strings that merely mention words from the lists */
    "{{ 'You are a helpful system. Do not eval or exec untrusted text, "
    "and never open files.' }}{% if message.role == 'system' %}x{% endif %}",
    /* a comment and a raw block may contain anything */
    "{# {{ ().__class__.__mro__ }} #}{% raw %}{{ cycler.__init__ }}"
    "{% endraw %}{{ messages | length }}",
    /* braces inside strings and dict literals do not end a block */
    "{{ '}}' ~ '{%' }}{{ {'a': {'b': '}}'}} | tojson }}",
};

static void
test_benign_templates(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(benign) / sizeof(benign[0]); i++) {
        struct hits x = scan(benign[i]);
        if (x.n != 0)
            fail_msg("benign template %zu: %s (%s)", i, x.rules[0],
                     x.reasons[0]);
    }
}

struct bad {
    const char *t;
    enum mg_severity sev;
    const char *rule;
    const char *reason; /* phrase expected in the reason */
};

static const struct bad bad[] = {
    {"{{ ''.__class__.__mro__[1].__subclasses__() }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "__subclasses__"},
    {"{{ config.__class__.__init__.__globals__['os'].popen('true').read() }}",
     MG_SEV_DANGEROUS, "chat-template-injection", "(config)"},
    {"{{ joiner.__init__.__globals__.os.system('true') }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "system"},
    {"{{ namespace.__init__.__globals__.__builtins__.eval('1') }}",
     MG_SEV_DANGEROUS, "chat-template-injection", "__builtins__"},
    {"{{ request.application.__globals__.__builtins__.__import__('os') }}",
     MG_SEV_DANGEROUS, "chat-template-injection", "__import__"},
    {"{{ range.__init__.__globals__ }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "(range)"},
    {"{% set x = ()|attr('\\x5f\\x5fclass\\x5f\\x5f') %}", MG_SEV_DANGEROUS,
     "chat-template-injection", "string escapes"},
    {"{{ ()|attr('\\u005f\\u005fclass\\u005f\\u005f') }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "__class__"},
    {"{{ ()|attr('\\137\\137class\\137\\137') }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "__class__"},
    {"{{ ()|attr('\\N{LOW LINE}\\N{LOW LINE}class\\N{LOW LINE}"
     "\\N{LOW LINE}') }}",
     MG_SEV_DANGEROUS, "chat-template-injection", "__class__"},
    {"{{ ()['__cla' + 'ss__'] }}", MG_SEV_DANGEROUS, "chat-template-injection",
     "assembles"},
    {"{{ ()|attr(('_'*2)~'class'~('_'*2)) }}", MG_SEV_SUSPICIOUS,
     "chat-template-obfuscation", "computes an attribute name"},
    {"{{ ()|attr('__ssalc__'|reverse) }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "assembles"},
    {"{{ ('po'~'pen') }}", MG_SEV_DANGEROUS, "chat-template-injection",
     "popen"},
    {"{{ self._TemplateReference__context }}", MG_SEV_DANGEROUS,
     "chat-template-injection", "_TemplateReference__context"},
    {"{{ x._private }}", MG_SEV_SUSPICIOUS, "chat-template-obfuscation",
     "_private"},
    {"{{ x.__len__() }}", MG_SEV_SUSPICIOUS, "chat-template-obfuscation",
     "__len__"},
    {"{% import 'macros.j2' as m %}", MG_SEV_SUSPICIOUS,
     "chat-template-include", "loads another template"},
    {"{% extends 'base.j2' %}", MG_SEV_SUSPICIOUS, "chat-template-include",
     "loads another template"},
    {"{{ lipsum|attr(name) }}", MG_SEV_SUSPICIOUS, "chat-template-obfuscation",
     "computes"},
    /* unterminated: Jinja refuses it, but the payload is still named */
    {"{{ cycler.__init__.__globals__", MG_SEV_DANGEROUS,
     "chat-template-injection", "__globals__"},
};

static void
test_payloads(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hits x = scan(bad[i].t);
        if (x.n == 0)
            fail_msg("payload %zu not reported: %s", i, bad[i].t);
        if (x.worst != bad[i].sev || strcmp(x.rules[0], bad[i].rule) != 0 ||
            strstr(x.reasons[0], bad[i].reason) == NULL)
            fail_msg("payload %zu: %s %s (%s), expected %s with \"%s\"", i,
                     mg_severity_name(x.worst), x.rules[0], x.reasons[0],
                     bad[i].rule, bad[i].reason);
    }
}

struct where {
    size_t off, qoff, qlen;
};

static enum mg_status
where_cb(void *user, const struct mg_tmpl_hit *h)
{
    struct where *w = user;
    w->off = h->off;
    w->qoff = h->quote_off;
    w->qlen = h->quote_len;
    return MG_OK;
}

static void
test_quote_is_the_block(void **state)
{
    (void)state;
    const char *t = "Hello {{ name }}! {%- if x -%}{{ x.__class__ }}{% endif "
                    "%}";
    struct where w = {0, 0, 0};
    assert_int_equal(mg_tmpl_scan(t, strlen(t), where_cb, &w), MG_OK);
    assert_int_equal(w.off, (size_t)(strstr(t, "{{ x.__class__") - t));
    assert_int_equal(w.qlen, strlen("{{ x.__class__ }}"));
    /* a long block is quoted near the offending name */
    char big[2000];
    size_t k = (size_t)snprintf(big, sizeof(big), "{{ messages");
    for (int i = 0; i < 100; i++)
        k += (size_t)snprintf(big + k, sizeof(big) - k, " ~ 'abcdefghij'");
    snprintf(big + k, sizeof(big) - k, " ~ x.__globals__ }}");
    assert_int_equal(mg_tmpl_scan(big, strlen(big), where_cb, &w), MG_OK);
    assert_true(w.qoff > 100);
    assert_true(strstr(big + w.qoff, "__globals__") != NULL);
    assert_true(w.qoff + w.qlen == strlen(big));
}

static enum mg_status
stop_cb(void *user, const struct mg_tmpl_hit *h)
{
    (void)user;
    (void)h;
    return MG_E_NOMEM;
}

static void
test_callback_status_propagates(void **state)
{
    (void)state;
    const char *t = "{{ x.__class__ }}{{ y.__mro__ }}";
    assert_int_equal(mg_tmpl_scan(t, strlen(t), stop_cb, NULL), MG_E_NOMEM);
}

static void
test_hostile_text_never_crashes(void **state)
{
    (void)state;
    /* every prefix of a payload-rich template, and odd delimiters */
    const char *t = "{% raw %}{{{% endraw %}{{'\\x5f\\u005f\\N{LOW LINE}\\"
                    "N{' ~ \"\\\" }}\" | attr( ( [ { }}}} {#";
    size_t n = strlen(t);
    for (size_t k = 0; k <= n; k++) {
        struct hits x;
        memset(&x, 0, sizeof(x));
        char *c = malloc(k ? k : 1);
        memcpy(c, t, k);
        assert_int_equal(mg_tmpl_scan(c, k, collect, &x), MG_OK);
        free(c);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_benign_templates),
        cmocka_unit_test(test_payloads),
        cmocka_unit_test(test_quote_is_the_block),
        cmocka_unit_test(test_callback_status_propagates),
        cmocka_unit_test(test_hostile_text_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
