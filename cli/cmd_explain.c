/*
 * cmd_explain.c - modelgate explain FILE[!MEMBER]: what loading a pickle
 * would do, as pseudo-Python with the opcode offsets as comments. The
 * library writes the lines (src/pickle/explain.c); this lays them out.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opt.h"

#define CODE_COLUMN 44

struct ex_out {
    FILE *f;
    int worst; /* worst severity of a step */
};

static void
upper_sev(char *dst, size_t n, enum mg_severity s)
{
    snprintf(dst, n, "%s", mg_severity_name(s));
    for (char *p = dst; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
}

/* "# @58 REDUCE DANGEROUS: starts processes" */
static void
tail(FILE *f, const struct mg_explain_line *l)
{
    fputs("# ", f);
    if (l->has_offset)
        fprintf(f, "@%" PRIu64 "%s%s", l->offset, l->opcode[0] ? " " : "",
                l->opcode);
    if (l->severity >= MG_SEV_UNKNOWN) {
        char sev[16];
        upper_sev(sev, sizeof(sev), l->severity);
        fprintf(f, "%s%s", l->has_offset ? " " : "", sev);
    }
    if (l->comment[0])
        fprintf(f, "%s%s",
                l->has_offset || l->severity >= MG_SEV_UNKNOWN ? ": " : "",
                l->comment);
    fputc('\n', f);
}

static int
print_line(void *user, const struct mg_explain_line *l)
{
    struct ex_out *o = user;
    FILE *f = o->f;
    if ((int)l->severity > o->worst)
        o->worst = (int)l->severity;
    switch (l->kind) {
    case MG_EXPLAIN_STREAM:
        fprintf(f, "\n# --- %s ---\n", l->comment);
        return 0;
    case MG_EXPLAIN_RESULT:
        fprintf(f, "# @%" PRIu64 " STOP: %s\n%s\n", l->offset, l->comment,
                l->code);
        return 0;
    case MG_EXPLAIN_BREAK:
    case MG_EXPLAIN_END:
    case MG_EXPLAIN_NOTE:
        if (l->kind != MG_EXPLAIN_NOTE)
            fputs(l->severity >= MG_SEV_SUSPICIOUS ? "# !! " : "# ", f);
        if (l->kind == MG_EXPLAIN_NOTE) {
            tail(f, l);
        } else {
            if (l->has_offset)
                fprintf(f, "@%" PRIu64 ": ", l->offset);
            fprintf(f, "%s\n", l->comment);
        }
        return 0;
    case MG_EXPLAIN_IMPORT:
    case MG_EXPLAIN_CALL:
    case MG_EXPLAIN_METHOD:
    default: {
        size_t n = strlen(l->code);
        if (strchr(l->code, '\n') != NULL) {
            /* a statement over several lines: its comment first */
            tail(f, l);
            fprintf(f, "%s\n", l->code);
            return 0;
        }
        fputs(l->code, f);
        fprintf(f, "%*s  ", n < CODE_COLUMN ? (int)(CODE_COLUMN - n) : 0, "");
        tail(f, l);
        return 0;
    }
    }
}

int
cmd_explain(int argc, char **argv)
{
    int help = 0, full = 0;
    uint64_t max_bytes = 1ULL << 32;
    const struct opt table[] = {
        {"full", 0, OPT_FLAG, NULL,
         "every call as a statement, also allowlisted ones; values as built",
         &full, NULL},
        {"max-bytes", 0, OPT_U64, "BYTES", "largest file read (default 4G)",
         &max_bytes, NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    const size_t ntable = sizeof(table) / sizeof(table[0]);
    struct opt_list pos = {0};
    int rc = opt_parse(table, ntable, argc, argv, &pos, "explain");
    if (rc != 0)
        goto out;
    if (help || pos.n != 1) {
        FILE *f = help ? stdout : stderr;
        fprintf(f, "usage: modelgate explain [OPTIONS] FILE[!MEMBER]\n\n"
                   "What loading FILE would do, as pseudo-Python, with the "
                   "offsets of the opcodes\nresponsible; nothing in FILE is "
                   "run. Exit status: 0 explained, 2 error or limit.\n\n"
                   "options:\n");
        opt_help(f, table, ntable);
        rc = help ? EXIT_CLEAN : EXIT_ERROR;
        goto out;
    }
    struct mg_scanner *s = NULL;
    void *buf = NULL;
    size_t len = 0;
    rc = open_target(max_bytes, pos.v[0], "explain", &s, &buf, &len);
    if (rc == EXIT_CLEAN) {
        struct ex_out o = {stdout, 0};
        printf("# modelgate explain %s\n"
               "# What loading it would do, as pseudo-Python (nothing was "
               "run). @N is the byte\n# offset of the opcode responsible; "
               "names like _1 are values loading makes.\n",
               pos.v[0]);
        enum mg_status st = mg_explain_buffer(
            s, buf, len, full ? MG_EXPLAIN_FULL : 0, print_line, &o);
        if (st != MG_OK && st != MG_E_LIMIT)
            fprintf(stderr, "modelgate explain: %s: %s\n", pos.v[0],
                    mg_strerror(st));
        rc = st == MG_OK ? EXIT_CLEAN : EXIT_ERROR;
        free_target(pos.v[0], buf);
    }
    mg_scanner_free(s);
out:
    opt_list_free(&pos);
    return rc;
}
