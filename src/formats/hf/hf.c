/*
 * hf.c - chat templates outside GGUF: Hugging Face tokenizers keep theirs
 * in tokenizer_config.json ("chat_template": a string, or a list of
 * {"name", "template"}), in chat_template.json, or as a bare
 * chat_template.jinja file. transformers renders them with Jinja, like
 * llama.cpp-based runtimes render GGUF templates, so they get the same
 * analysis (src/formats/common/chat_template.c). The JSON is read as
 * Python's json.loads reads it.
 */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/chat_template.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "json/json.h"

struct hit_user {
    struct mg_ctx *ctx;
    const char *text;
    const char *where;
    int64_t base; /* offset of the template text in the input, or -1 */
};

static enum mg_status
on_hit(void *user, const struct mg_tmpl_hit *h)
{
    struct hit_user *u = user;
    char q[MG_QUOTE_BYTES * 4 + 8];
    mg_quote(q, sizeof(q), u->text + h->quote_off, h->quote_len,
             MG_QUOTE_BYTES);
    return mg_ctx_findf(u->ctx, h->sev, h->rule,
                        u->base >= 0 ? u->base + (int64_t)h->off : -1,
                        "chat template %s at template byte %zu: `%s` %s",
                        u->where, h->off, q, h->reason);
}

/* A template held by a JSON string node (decoded first). */
static enum mg_status
json_template(struct mg_ctx *ctx,
              const struct mg_json_doc *d,
              uint32_t node,
              const char *where)
{
    size_t n = mg_json_str_len(d, node);
    size_t take = n > MG_TEMPLATE_MAX_BYTES ? MG_TEMPLATE_MAX_BYTES : n;
    char *t = mg_malloc(take + 1);
    if (t == NULL)
        return MG_E_NOMEM;
    mg_json_str(d, node, t, take + 1);
    struct hit_user u = {ctx, t, where, -1};
    enum mg_status st = mg_tmpl_scan(t, take, on_hit, &u);
    mg_free(t);
    if (st == MG_OK && take < n)
        st = mg_ctx_incomplete(ctx, NULL, -1,
                               "chat template longer than 16 MiB: only its "
                               "start was examined");
    return st;
}

static enum mg_status
scan_config(struct mg_ctx *ctx, const uint8_t *b, size_t len)
{
    const char *text;
    size_t tl;
    int owned;
    enum mg_status st = mg_json_py_bytes(b, len, ctx->lim->max_header_bytes,
                                         &text, &tl, &owned);
    if (st == MG_E_LIMIT)
        return mg_ctx_incomplete(ctx, "max-header-bytes", 0,
                                 "tokenizer configuration");
    if (st == MG_E_MALFORMED)
        return MG_OK; /* not text Python reads: nothing renders from it */
    if (st != MG_OK)
        return st;
    struct mg_json_opts o = {.max_depth = ctx->lim->max_json_depth,
                             .max_nodes = ctx->lim->max_json_values,
                             .python = 1};
    struct mg_json_doc d;
    st = mg_json_parse(&d, text, tl, &o);
    if (st == MG_E_LIMIT) {
        st = mg_ctx_incomplete(ctx, d.limit, -1, "tokenizer configuration");
    } else if (st == MG_E_MALFORMED) {
        st = MG_OK; /* transformers cannot load it either */
    } else if (st == MG_OK) {
        uint32_t ct = mg_json_get(&d, MG_JSON_ROOT, "chat_template");
        if (ct != MG_JSON_NONE && mg_json_type_of(&d, ct) == MG_JSON_STRING) {
            st = json_template(ctx, &d, ct, "\"chat_template\"");
        } else if (ct != MG_JSON_NONE &&
                   mg_json_type_of(&d, ct) == MG_JSON_ARRAY) {
            /* [{"name": ..., "template": ...}, ...] */
            for (uint32_t e = mg_json_first(&d, ct);
                 e != MG_JSON_NONE && st == MG_OK; e = mg_json_next(&d, e)) {
                uint32_t t = mg_json_get(&d, e, "template");
                uint32_t nm = mg_json_get(&d, e, "name");
                if (t == MG_JSON_NONE ||
                    mg_json_type_of(&d, t) != MG_JSON_STRING)
                    continue;
                char raw[81] = "", q[400], where[500];
                if (nm != MG_JSON_NONE &&
                    mg_json_type_of(&d, nm) == MG_JSON_STRING)
                    mg_json_str(&d, nm, raw, sizeof(raw));
                mg_quote(q, sizeof(q), raw, strlen(raw), 80);
                snprintf(where, sizeof(where), "\"chat_template\" \"%s\"", q);
                st = json_template(ctx, &d, t, where);
            }
        }
    }
    mg_json_free(&d);
    if (owned)
        mg_free((void *)text);
    return st;
}

static size_t
skip_ws(const uint8_t *h, size_t n)
{
    size_t i = 0;
    if (n >= 3 && h[0] == 0xEF && h[1] == 0xBB && h[2] == 0xBF)
        i = 3;
    while (i < n &&
           (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t'))
        i++;
    return i;
}

/* The first n bytes of a random-access input in memory: in place, or
   copied into *copy (mg_free it). 1 when *b is ready; 0 when not, buf
   freed, the problem reported and *st what the scan returns. */
static int
in_memory(struct mg_ctx *ctx,
          struct mg_input *use,
          size_t n,
          uint8_t *buf,
          uint8_t **copy,
          const uint8_t **b,
          enum mg_status *st)
{
    *copy = NULL;
    *b = use->mem;
    if (*b != NULL)
        return 1;
    *st = mg_input_dup(use, 0, n, copy);
    if (*st != MG_OK) {
        mg_free(buf);
        if (*st != MG_E_NOMEM)
            *st = mg_ctx_incomplete(ctx, NULL, 0, mg_strerror(*st));
        return 0;
    }
    *b = *copy;
    return 1;
}

/* A JSON object with the keys of a tokenizer configuration. */
static unsigned
hf_json_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    size_t i = skip_ws(h, len);
    if (i >= len || h[i] != '{')
        return 0;
    if (mg_has(h, len, "\"chat_template\""))
        return 20;
    if (mg_has(h, len, "\"tokenizer_class\"") ||
        mg_has(h, len, "\"added_tokens_decoder\"") ||
        (mg_has(h, len, "\"model_max_length\"") && mg_has(h, len, "_token\"")))
        return 16;
    return 0;
}

static enum mg_status
hf_json_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_header_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    if (use->size > ctx->lim->max_header_bytes) {
        mg_free(buf);
        return mg_ctx_incomplete(ctx, "max-header-bytes", 0,
                                 "tokenizer configuration");
    }
    uint8_t *copy;
    const uint8_t *b;
    if (!in_memory(ctx, use, (size_t)use->size, buf, &copy, &b, &st))
        return st;
    st = scan_config(ctx, b, (size_t)use->size);
    mg_free(copy);
    mg_free(buf);
    return st;
}

/* A bare Jinja chat template (chat_template.jinja): it opens with a Jinja
   delimiter and talks about messages. */
static unsigned
jinja_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    size_t i = skip_ws(h, len);
    if (len - i < 2 || h[i] != '{' ||
        (h[i + 1] != '%' && h[i + 1] != '{' && h[i + 1] != '#'))
        return 0;
    if (memchr(h, 0, len) != NULL || !mg_has(h, len, "message"))
        return 0;
    return 12;
}

static enum mg_status
jinja_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_member_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    size_t n = use->size > MG_TEMPLATE_MAX_BYTES ? MG_TEMPLATE_MAX_BYTES
                                                 : (size_t)use->size;
    uint8_t *copy;
    const uint8_t *b;
    if (!in_memory(ctx, use, n, buf, &copy, &b, &st))
        return st;
    struct hit_user u = {ctx, (const char *)b, "file", 0};
    st = mg_tmpl_scan((const char *)b, n, on_hit, &u);
    if (st == MG_OK && n < use->size)
        st = mg_ctx_incomplete(ctx, NULL, -1,
                               "chat template longer than 16 MiB: only its "
                               "start was examined");
    mg_free(copy);
    mg_free(buf);
    return st;
}

const struct mg_format mg_format_hf_tokenizer = {"hf-tokenizer-config",
                                                 hf_json_probe, hf_json_scan};
const struct mg_format mg_format_jinja = {"jinja-template", jinja_probe,
                                          jinja_scan};
