/* Fuzz target: the Keras config scanner called directly (whatever the
   input looks like: no sniffing in the way), with the policy, nested
   pickle scans and every finding path; small JSON limits. */
#include "fmt_fuzz.h"
#include "formats/keras/keras.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mg_options o;
    fmt_fuzz_limits(&o);
    struct mg_report *rep = mg_report_new("fuzz", 1000);
    if (rep == NULL)
        return 0;
    struct mg_ctx ctx = {0};
    ctx.lim = &o.limits;
    ctx.policy = mg_policy_builtin();
    ctx.rep = rep;
    ctx.report_info = 1;
    (void)mg_keras_scan_json(&ctx, data, size, 0, "fuzz");
    (void)mg_keras_json_probe(data, size < 4096 ? size : 4096);
    (void)mg_report_finish(rep);
    mg_report_free(rep);
    return 0;
}
