#include "formats/format.h"

#define FORMAT(n) &mg_format_##n,
const struct mg_format *const mg_formats[] = {
#include "formats/format_list.h"
};
#undef FORMAT

const size_t mg_nformats = sizeof(mg_formats) / sizeof(mg_formats[0]);

const struct mg_format *
mg_format_detect(const uint8_t *head, size_t len, uint64_t size)
{
    const struct mg_format *best = NULL;
    unsigned best_bits = 0;
    for (size_t i = 0; i < mg_nformats; i++) {
        unsigned b = mg_formats[i]->probe(head, len, size);
        if (b > best_bits) {
            best_bits = b;
            best = mg_formats[i];
        }
    }
    return best;
}
