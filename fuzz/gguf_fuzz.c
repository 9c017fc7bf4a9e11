/* Fuzz target: GGUF through the whole-scan entry point (metadata, arrays,
   tensor infos, chat templates), with limits small enough to be reached;
   then the chat-template analyser alone on the raw input. */
#include <stddef.h>
#include <stdint.h>

#include "formats/common/chat_template.h"
#include "modelgate/modelgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum mg_status
ignore(void *user, const struct mg_tmpl_hit *h)
{
    (void)user;
    (void)h;
    return MG_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    o.limits.max_header_bytes = 1 << 20;
    o.limits.max_tensors = 10000;
    o.limits.max_seconds = 10;
    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) == MG_OK) {
        struct mg_report *r = NULL;
        if (mg_scan_buffer(sc, data, size, "fuzz", &r) == MG_OK)
            (void)mg_report_verdict(r);
        mg_report_free(r);
    }
    mg_scanner_free(sc);
    (void)mg_tmpl_scan((const char *)data, size, ignore, NULL);
    return 0;
}
