/* Fuzz target: safetensors through the whole-scan entry point. Odd-sized
   inputs get their 8-byte header length rewritten to end at the last '}'
   so that mutations reach the header checks instead of the length check. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modelgate/modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    if (size > 9 && (size & 1)) {
        size_t end = size;
        while (end > 8 && copy[end - 1] != '}')
            end--;
        uint64_t n = end > 8 ? end - 8 : 0;
        for (int i = 0; i < 8; i++)
            copy[i] = (uint8_t)(n >> (8 * i));
    }
    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    o.limits.max_json_values = 100000;
    o.limits.max_seconds = 10;
    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) == MG_OK) {
        struct mg_report *r = NULL;
        if (mg_scan_buffer(sc, copy, size, "fuzz", &r) == MG_OK)
            (void)mg_report_verdict(r);
        mg_report_free(r);
    }
    mg_scanner_free(sc);
    free(copy);
    return 0;
}
