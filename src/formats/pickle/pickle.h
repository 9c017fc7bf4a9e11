/*
 * pickle.h - the pickle format: drives the symbolic machine over every
 * stream of an input and turns what it learns into findings. Other formats
 * (PyTorch, numpy, joblib) call mg_pickle_scan_stream on their parts.
 */
#ifndef MG_FORMATS_PICKLE_H
#define MG_FORMATS_PICKLE_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include "core/ctx.h"
#include "io/stream.h"
#include "pickle/vm.h"

struct mg_pickle_opts {
    int fallback; /* input not claimed by any format: a first stream that
                     breaks before anything relevant is not a pickle */
    int single;   /* one stream only: no trailing-data check, no resync */
    /* Called at each STOP with the machine still holding the values. */
    enum mg_status (*on_stop)(void *user,
                              struct mg_pvm *vm,
                              const struct mg_pvm_result *res);
    /* Called for every event after the scan layer has seen it. */
    mg_pvm_cb on_event;
    void *user;
    /* Items kept per container (0: MG_KEEP_ITEMS), for callers that need
       whole lists (a legacy PyTorch storage-key list). */
    unsigned keep_items;
};

struct mg_pickle_summary {
    unsigned streams; /* streams that reached STOP */
    unsigned broken;  /* streams reported broken */
    int relevant;     /* anything pickle-like was found */
    int empty;        /* no byte at all */
    uint64_t end_off; /* where the last stream ended */
    int last_proto;
    int complete; /* no limit or source error cut the scan */
};

enum mg_status mg_pickle_scan_stream(struct mg_ctx *ctx,
                                     struct mg_stream *s,
                                     const struct mg_pickle_opts *o,
                                     struct mg_pickle_summary *sum);

/* For inputs no format claims: scan as pickle, else classify as text or
   unrecognised data. */
enum mg_status mg_pickle_scan_fallback(struct mg_ctx *ctx, struct mg_input *in);

#endif
