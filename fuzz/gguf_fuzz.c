/* Fuzz target: the GGUF scanner called directly (metadata, arrays, tensor
   infos, chat templates), then the chat-template analyser alone on the
   raw input. */
#include "fmt_fuzz.h"
#include "formats/common/chat_template.h"

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
    fmt_fuzz_scan(&mg_format_gguf, data, size);
    (void)mg_tmpl_scan((const char *)data, size, ignore, NULL);
    return 0;
}
