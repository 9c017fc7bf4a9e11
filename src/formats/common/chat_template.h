/*
 * chat_template.h - static analysis of Jinja chat templates (GGUF
 * tokenizer.chat_template, Hugging Face tokenizer configs). Runtimes render
 * these with Jinja, some without the sandbox (llama-cpp-python before
 * 0.2.72, CVE-2024-34359), and the sandbox itself has had escapes. The
 * analyser lexes the template as Jinja does (delimiters, strings with
 * Python escapes, raw blocks, comments) and reports each {{ }} / {% %}
 * block that reaches Python internals, names code-execution primitives,
 * assembles such names from pieces or escapes, or loads other templates.
 * Nothing is rendered.
 */
#ifndef MG_FORMATS_CHAT_TEMPLATE_H
#define MG_FORMATS_CHAT_TEMPLATE_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>

#include "modelgate/modelgate.h"

struct mg_tmpl_hit {
    enum mg_severity sev;
    const char *rule; /* chat-template-injection / -obfuscation / -include */
    size_t off;       /* where the block starts in the template */
    size_t quote_off; /* what to quote: [quote_off, quote_off+quote_len) */
    size_t quote_len;
    const char *reason; /* English: what the block does */
};

typedef enum mg_status (*mg_tmpl_cb)(void *user, const struct mg_tmpl_hit *h);

/* Analyse n bytes of template text; cb is called once per offending block.
   Returns the first non-OK status of cb, else MG_OK. */
enum mg_status mg_tmpl_scan(const char *t, size_t n, mg_tmpl_cb cb, void *user);

#endif
