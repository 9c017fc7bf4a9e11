/*
 * cmd_disasm.c - modelgate disasm FILE[!MEMBER]: the opcodes of every pickle
 * stream in FILE, like pickletools.dis, but it never gives up silently: the
 * line where a stream breaks says why.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opt.h"

static int
print_line(void *user, const struct mg_disasm_line *l)
{
    (void)user;
    if (l->error != NULL) {
        printf("%8" PRIu64 ": *** stream %u breaks here: %s\n", l->offset,
               l->stream, l->error);
        return 0;
    }
    char code[8];
    if (l->code >= 0x20 && l->code < 0x7f)
        snprintf(code, sizeof(code), "%c", l->code);
    else
        snprintf(code, sizeof(code), "\\x%02x", l->code);
    printf("%8" PRIu64 ": %-4s %*s%s%*s%s\n", l->offset, code,
           (int)(l->depth * 4), "", l->opcode,
           l->arg[0] ? (int)(17 - strlen(l->opcode)) : 0, "", l->arg);
    if (strcmp(l->opcode, "STOP") == 0)
        printf("          --- end of stream %u ---\n", l->stream);
    return 0;
}

int
cmd_disasm(int argc, char **argv)
{
    int help = 0;
    uint64_t max_bytes = 1ULL << 32;
    const struct opt table[] = {
        {"max-bytes", 0, OPT_U64, "BYTES", "largest file read (default 4G)",
         &max_bytes, NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    struct opt_list pos = {0};
    int rc = opt_parse(table, 2, argc, argv, &pos, "disasm");
    if (rc != 0)
        goto out;
    if (help || pos.n != 1) {
        FILE *f = help ? stdout : stderr;
        fprintf(f, "usage: modelgate disasm [OPTIONS] FILE[!MEMBER]\n\n"
                   "options:\n");
        opt_help(f, table, 2);
        rc = help ? EXIT_CLEAN : EXIT_ERROR;
        goto out;
    }
    struct mg_scanner *s = NULL;
    void *buf = NULL;
    size_t len = 0;
    rc = open_target(max_bytes, pos.v[0], "disasm", &s, &buf, &len);
    if (rc == EXIT_CLEAN) {
        enum mg_status st = mg_disasm_buffer(s, buf, len, print_line, NULL);
        rc = st == MG_OK ? EXIT_CLEAN : EXIT_ERROR;
        free_target(pos.v[0], buf);
    }
    mg_scanner_free(s);
out:
    opt_list_free(&pos);
    return rc;
}
