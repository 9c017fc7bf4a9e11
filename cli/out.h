/*
 * out.h - report writers for scan: text (one line per finding and a
 * verdict line per file, then a summary), json (one document), jsonl (one
 * object per file as it completes, then a summary object) and sarif
 * (SARIF 2.1.0). Schemas and examples: docs/cli.md.
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
    uint64_t cached;      /* reports answered by --cache */
    int oom;
    double seconds;
    int exit_code;
};

enum out_kind {
    OUT_TEXT = 0,
    OUT_JSON,
    OUT_JSONL,
    OUT_SARIF
};

struct out {
    enum out_kind kind;
    FILE *f;
    int verbose;
    int color;
    int summary;
    uint64_t nfiles;
    uint64_t nresults; /* sarif */
    /* sarif: rule ids met that docs/rules.md does not list */
    char **extra_rules;
    size_t nextra, capextra;
};

/* "text", "json", "jsonl", "sarif": 0, or -1 for an unknown name. */
int out_parse_format(const char *name, enum out_kind *kind);
void out_init(struct out *o,
              enum out_kind kind,
              FILE *f,
              int verbose,
              int color,
              int summary);
void out_begin(struct out *o);
void out_file(struct out *o, const struct mg_report *r);
/* Writes the end (summary, SARIF rules) and frees what out_* held. */
void out_end(struct out *o, const struct summary *s);

void summary_add(struct summary *s, const struct mg_report *r, int fail_on);
int summary_exit(const struct summary *s);

#endif
