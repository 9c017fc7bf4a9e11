/*
 * opt.h - command-line options from one table per command: the table
 * drives parsing and --help (and docs/cli.md lists the same). Long options
 * take "--name value" or "--name=value"; short ones "-x value".
 */
#ifndef MG_CLI_OPT_H
#define MG_CLI_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_kind {
    OPT_FLAG,    /* no argument: *(int *)dst = 1 */
    OPT_STRING,  /* *(const char **)dst = arg */
    OPT_MULTI,   /* appended to a struct opt_list */
    OPT_U64,     /* unsigned, with K/M/G/T suffixes */
    OPT_CUSTOM,  /* fn(arg, dst) */
    OPT_OPTIONAL /* value only as --name=VALUE: *(const char **)dst =
                    VALUE, or "" when given as --name */
};

struct opt_list {
    const char **v;
    size_t n, cap;
};

struct opt {
    const char *name; /* long name without "--" */
    char shortname;   /* 0 when none */
    enum opt_kind kind;
    const char *argname; /* for help, NULL for flags */
    const char *help;
    void *dst;
    int (*fn)(const char *arg, void *dst); /* OPT_CUSTOM: 0 on success */
};

/*
 * Parse argv[0..argc) (argv[0] is the first option, not the program).
 * Positional arguments are collected in pos (argv order); "--" ends
 * options. Returns 0, or 2 after printing a usage error to stderr.
 */
int opt_parse(const struct opt *table,
              size_t n,
              int argc,
              char **argv,
              struct opt_list *pos,
              const char *cmd);
void opt_help(FILE *f, const struct opt *table, size_t n);
void opt_list_free(struct opt_list *l);
int opt_list_add(struct opt_list *l, const char *s);
/* "12", "4K", "64M", "2G": 0 on success. */
int opt_parse_u64(const char *s, uint64_t *out);

#endif
