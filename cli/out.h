/*
 * out.h - report writers for scan: text (one line per finding and a
 * verdict line per file, then a summary) and json (one document, schema in
 * docs/json-schema.md).
 */
#ifndef MG_CLI_OUT_H
#define MG_CLI_OUT_H

#include <stdint.h>
#include <stdio.h>

#include "modelgate/modelgate.h"

struct summary {
    uint64_t files;
    uint64_t by_verdict[5];
    uint64_t bytes;
    uint64_t failed;      /* files with no report at all */
    uint64_t errors_walk; /* paths that could not be walked */
    uint64_t reached;     /* files at or above --fail-on */
    int oom;
    double seconds;
    int exit_code;
};

struct out {
    const char *format;
    FILE *f;
    int verbose;
    int color;
    int summary;
    uint64_t nfiles;
};

void out_init(struct out *o,
              const char *format,
              FILE *f,
              int verbose,
              int color,
              int summary);
void out_begin(struct out *o);
void out_file(struct out *o, const struct mg_report *r);
void out_end(struct out *o, const struct summary *s);

void summary_add(struct summary *s, const struct mg_report *r, int fail_on);
int summary_exit(const struct summary *s);

#endif
