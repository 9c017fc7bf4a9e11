/*
 * disasm.c - mg_disasm_buffer: every opcode of every pickle stream in a
 * buffer, decoded by the same machine as the scan (so the listing shows
 * exactly what the scanner saw), stopping at the first break.
 */
#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "core/scanner.h"
#include "io/stream.h"
#include "pickle/opcodes.h"
#include "pickle/vm.h"

struct dis {
    mg_disasm_cb cb;
    void *user;
    unsigned stream;
    int stop;
};

static enum mg_status
dis_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev)
{
    (void)vm;
    struct dis *d = user;
    if (ev->kind != PEV_OPCODE || d->stop)
        return MG_OK;
    struct mg_disasm_line line = {.offset = ev->offset,
                                  .opcode = mg_opcodes[ev->opcode].name,
                                  .code = ev->opcode,
                                  .arg = ev->arg ? ev->arg : "",
                                  .stream = d->stream,
                                  .depth = ev->depth,
                                  .error = NULL};
    if (d->cb(d->user, &line) != 0)
        d->stop = 1;
    return MG_OK;
}

enum mg_status
mg_disasm_buffer(struct mg_scanner *s,
                 const void *buf,
                 size_t len,
                 mg_disasm_cb cb,
                 void *user)
{
    if (s == NULL || cb == NULL || (buf == NULL && len > 0))
        return MG_E_INVALID;
    struct dis d = {cb, user, 0, 0};
    struct mg_pvm vm;
    mg_pvm_init(&vm, &s->opt.limits, dis_event, &d);
    vm.want_opcodes = 1;
    struct mg_stream st;
    mg_stream_init_mem(&st, buf, len, 0);
    enum mg_status rc = MG_OK;
    for (;;) {
        struct mg_pvm_result res;
        rc = mg_pvm_run(&vm, &st, &res);
        if (rc != MG_OK) {
            char why[160];
            snprintf(why, sizeof(why), "limit %s reached",
                     vm.limit_name ? vm.limit_name : mg_strerror(rc));
            struct mg_disasm_line l = {.offset = res.end_off,
                                       .opcode = "",
                                       .arg = "",
                                       .stream = d.stream,
                                       .error = why};
            cb(user, &l);
            break;
        }
        if (res.end == PEND_EMPTY || d.stop)
            break;
        if (res.end == PEND_BREAK) {
            struct mg_disasm_line l = {.offset = res.end_off,
                                       .opcode = "",
                                       .arg = "",
                                       .stream = d.stream,
                                       .error = res.why};
            cb(user, &l);
            break;
        }
        if (++d.stream >= s->opt.limits.max_streams)
            break;
    }
    mg_pvm_fini(&vm);
    return rc;
}
