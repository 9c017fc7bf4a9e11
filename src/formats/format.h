/*
 * format.h - the format table. Each format is a module with a pure probe
 * over a bounded prefix (returns confidence in bits checked, 0 = no) and a
 * scan. Formats are chosen by content only. Adding one: a directory under
 * src/formats, one line in format_list.h, tests, a fuzz target, fixtures.
 */
#ifndef MG_FORMATS_FORMAT_H
#define MG_FORMATS_FORMAT_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/input.h"

struct mg_format {
    const char *name;
    /* head: first bytes (<= MG_SNIFF_BYTES); size: whole input size or
       UINT64_MAX. */
    unsigned (*probe)(const uint8_t *head, size_t len, uint64_t size);
    enum mg_status (*scan)(struct mg_ctx *ctx, struct mg_input *in);
};

#define FORMAT(n) extern const struct mg_format mg_format_##n;
#include "formats/format_list.h"
#undef FORMAT

extern const struct mg_format *const mg_formats[];
extern const size_t mg_nformats;

/* Best format for an input, NULL when none claims it. */
const struct mg_format *
mg_format_detect(const uint8_t *head, size_t len, uint64_t size);

#endif
