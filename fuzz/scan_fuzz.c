/* Fuzz target: the whole-scan entry point (format sniffing, every format,
   nested layers) with default limits. */
#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    o.limits.max_seconds = 10;
    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) != MG_OK)
        return 0;
    struct mg_report *r = NULL;
    if (mg_scan_buffer(sc, data, size, "fuzz", &r) == MG_OK)
        (void)mg_report_verdict(r);
    mg_report_free(r);
    mg_scanner_free(sc);
    return 0;
}
