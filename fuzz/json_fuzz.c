/* Fuzz target: the JSON parser in both dialects with small limits, then
   every node walked and every string decoded, and Python's bytes decoding
   in front of it (as the Keras config scanner uses it). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct mg_json_doc *d)
{
    char buf[64];
    for (uint32_t i = 0; i < d->n; i++) {
        const struct mg_json_node *nd = mg_json_node(d, i);
        if (nd->type == MG_JSON_STRING) {
            size_t n = mg_json_str(d, i, buf, sizeof(buf));
            if (n != mg_json_str_len(d, i))
                abort();
            (void)mg_json_str_eq(d, i, "dtype");
        } else if (nd->type == MG_JSON_NUMBER) {
            uint64_t v;
            (void)mg_json_u64(d, i, &v);
        } else if (nd->type == MG_JSON_OBJECT) {
            uint32_t count = 0;
            for (uint32_t k = mg_json_first(d, i); k != MG_JSON_NONE;
                 k = mg_json_next_key(d, k))
                count++;
            if (count != nd->len)
                abort();
            (void)mg_json_get(d, i, "__metadata__");
        } else if (nd->type == MG_JSON_ARRAY) {
            uint32_t count = 0;
            for (uint32_t k = mg_json_first(d, i); k != MG_JSON_NONE;
                 k = mg_json_next(d, k))
                count++;
            if (count != nd->len)
                abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int python = 0; python <= 1; python++) {
        struct mg_json_opts o = {
            .max_depth = 32, .max_nodes = 4096, .python = python};
        struct mg_json_doc d;
        if (mg_json_parse(&d, (const char *)data, size, &o) == MG_OK)
            walk(&d);
        mg_json_free(&d);
    }
    const char *text;
    size_t n;
    int owned;
    if (mg_json_py_bytes(data, size, 1 << 20, &text, &n, &owned) == MG_OK) {
        struct mg_json_opts o = {
            .max_depth = 32, .max_nodes = 4096, .python = 1};
        struct mg_json_doc d;
        if (mg_json_parse(&d, text, n, &o) == MG_OK)
            walk(&d);
        mg_json_free(&d);
        if (owned)
            mg_free((void *)text);
    }
    return 0;
}
