#ifndef MG_CLI_H
#define MG_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "modelgate/modelgate.h"

#define CMD(name, summary) int cmd_##name(int argc, char **argv);
#include "commands.h"
#undef CMD

/* Exit statuses (docs/cli.md). */
#define EXIT_CLEAN 0
#define EXIT_FOUND 1
#define EXIT_ERROR 2

/* JSON writing helpers (cli/jsonw.c). */
void json_str(FILE *f, const char *s);
void json_str_or_null(FILE *f, const char *s);

/* Read a whole file or stdin ("-") into memory, up to max bytes. */
int read_all(const char *path,
             uint64_t max,
             unsigned char **buf,
             size_t *len,
             char *err,
             size_t errlen);

/*
 * The bytes of FILE, FILE!MEMBER (a member of a container; the longest
 * prefix before a '!' that is an existing file is the file) or "-"
 * (standard input), read within the scanner's limits. 0, or EXIT_ERROR
 * after a message on stderr. Free with free_target(arg, buf).
 */
int load_target(struct mg_scanner *s,
                const char *arg,
                void **buf,
                size_t *len,
                const char *cmd);
void free_target(const char *arg, void *buf);
/* A scanner reading at most max_bytes, and load_target(arg) with it; on
   failure (EXIT_ERROR) nothing is left to free. */
int open_target(uint64_t max_bytes,
                const char *arg,
                const char *cmd,
                struct mg_scanner **s,
                void **buf,
                size_t *len);

/* Severity by name: "unknown", "suspicious", "dangerous"; -1 if bad. */
int parse_level(const char *s);

#endif
