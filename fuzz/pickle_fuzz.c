/* Fuzz target: the pickle machine alone, with small limits so that every
   limit path is reached too, then the full pickle scan of the input. */
#include <stddef.h>
#include <stdint.h>

#include "io/stream.h"
#include "modelgate/modelgate.h"
#include "pickle/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum mg_status
ignore(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)user;
    /* render what the scanner would render, to exercise it */
    if (ev->kind == PEV_CALL) {
        struct mg_val v = {VK_OBJ, {.o = (struct mg_obj *)&ev->call->h}};
        (void)mg_pvm_render(vm, &v);
    }
    return MG_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_seconds = 10; /* also bounds the HDF5 child */
    o.limits.max_opcodes = 100000;
    o.limits.max_stack = 10000;
    o.limits.max_memo = 10000;
    o.limits.max_values = 100000;
    struct mg_pvm vm;
    mg_pvm_init(&vm, &o.limits, ignore, NULL);
    vm.want_opcodes = size & 1;
    struct mg_stream s;
    mg_stream_init_mem(&s, data, size, 0);
    for (int i = 0; i < 8; i++) {
        struct mg_pvm_result res;
        if (mg_pvm_run(&vm, &s, &res) != MG_OK || res.end != PEND_STOP)
            break;
    }
    mg_pvm_fini(&vm);

    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) != MG_OK)
        return 0;
    struct mg_report *r = NULL;
    if (mg_scan_buffer(sc, data, size, "fuzz", &r) == MG_OK) {
        for (size_t i = 0; i < mg_report_count(r); i++)
            (void)mg_report_get(r, i)->message;
        (void)mg_report_verdict(r);
    }
    mg_report_free(r);
    mg_scanner_free(sc);
    return 0;
}
