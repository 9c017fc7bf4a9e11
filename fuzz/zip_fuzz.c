/* Fuzz target: the ZIP reader (and the PyTorch, numpy and joblib layouts
   behind it). Inputs are kept inside the ZIP path by forcing a local
   header signature at the start. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modelgate/modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size + 4);
    if (buf == NULL)
        return 0;
    memcpy(buf, "PK\x03\x04", 4);
    size_t n = 4;
    if (size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) {
        memcpy(buf, data, size);
        n = size;
    } else {
        memcpy(buf + 4, data, size);
        n = size + 4;
    }
    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    o.limits.max_seconds = 10; /* also bounds the HDF5 child */
    o.limits.max_total_bytes = 64u << 20;
    o.limits.max_member_bytes = 16u << 20;
    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) == MG_OK) {
        struct mg_report *r = NULL;
        if (mg_scan_buffer(sc, buf, n, "fuzz", &r) == MG_OK)
            (void)mg_report_verdict(r);
        mg_report_free(r);
        mg_scanner_free(sc);
    }
    free(buf);
    return 0;
}
