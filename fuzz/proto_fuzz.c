/* Fuzz target: the protobuf wire decoder on its own (every length-
   delimited field tried as a nested message, depth-bounded), then the
   whole scan (ONNX, SavedModel, GraphDef, keras_metadata.pb probes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/input.h"
#include "modelgate/modelgate.h"
#include "proto/pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(struct mg_pb_src *s, struct mg_pb *r, int depth)
{
    struct mg_pb_field f;
    while (!mg_pb_done(r)) {
        if (mg_pb_next(r, &f) != MG_OK)
            return;
        if (f.wire == MG_PB_LEN) {
            char buf[64];
            (void)mg_pbx_str(s, &f, buf, sizeof(buf));
            if (depth < 32) {
                struct mg_pb c;
                mg_pb_sub(r, &f, &c);
                if (c.end > s->in->size)
                    abort();
                walk(s, &c, depth + 1);
            }
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mg_input in;
    mg_input_mem(&in, data, size);
    struct mg_pb_src s;
    mg_pb_src_init(&s, &in);
    struct mg_pb r;
    mg_pb_init(&r, &s, 0, size);
    walk(&s, &r, 0);
    struct mg_pbx_sniff sn;
    (void)mg_pbx_sniff(data, size < 4096 ? size : 4096, &sn);

    struct mg_options o;
    mg_options_init(&o);
    o.report_info = 1;
    o.limits.max_seconds = 10;
    struct mg_scanner *sc = NULL;
    if (mg_scanner_new(&o, &sc) == MG_OK) {
        struct mg_report *rep = NULL;
        if (mg_scan_buffer(sc, data, size, "fuzz", &rep) == MG_OK)
            (void)mg_report_verdict(rep);
        mg_report_free(rep);
    }
    mg_scanner_free(sc);
    return 0;
}
