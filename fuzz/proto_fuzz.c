/* Fuzz target: the protobuf wire decoder on its own (every length-
   delimited field tried as a nested message, depth-bounded), then each
   protobuf format's scanner called directly: ONNX, SavedModel, GraphDef,
   keras_metadata.pb. */
#include <stdlib.h>

#include "fmt_fuzz.h"
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
    fmt_fuzz_scan(&mg_format_onnx, data, size);
    fmt_fuzz_scan(&mg_format_tf_savedmodel, data, size);
    fmt_fuzz_scan(&mg_format_tf_graphdef, data, size);
    fmt_fuzz_scan(&mg_format_keras_metadata, data, size);
    return 0;
}
