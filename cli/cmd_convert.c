/*
 * cmd_convert.c - modelgate convert [--force] IN OUT: a PyTorch checkpoint
 * to safetensors without running its pickle. IN is a checkpoint (OUT: a
 * .safetensors file, or a folder) or a shard index
 * pytorch_model.bin.index.json (OUT: a folder). Exit 0 when converted, 1
 * when refused (unsafe or not convertible), 2 on usage or I/O errors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "modelgate/mg_convert.h"
#include "opt.h"
#include "out.h"

/* A shard index is JSON: its first non-blank byte is '{', which no
   checkpoint starts with (ZIP: "PK", pickle: PROTO or an opcode). */
static int
is_index(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    int c;
    do
        c = fgetc(f);
    while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
    fclose(f);
    return c == '{';
}

int
cmd_convert(int argc, char **argv)
{
    int force = 0, quiet = 0, help = 0;
    const struct opt table[] = {
        {"force", 0, OPT_FLAG, NULL,
         "convert despite unknown or suspicious findings (never dangerous "
         "ones)",
         &force, NULL},
        {"quiet", 'q', OPT_FLAG, NULL, "no notes on standard error", &quiet,
         NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &help, NULL},
    };
    const size_t ntable = sizeof(table) / sizeof(table[0]);
    struct opt_list pos = {0};
    int rc = opt_parse(table, ntable, argc, argv, &pos, "convert");
    if (rc != 0)
        goto out;
    if (help || pos.n != 2) {
        FILE *f = help ? stdout : stderr;
        fprintf(f,
                "usage: modelgate convert [OPTIONS] IN OUT\n\n"
                "Convert a PyTorch checkpoint (ZIP or legacy format) to "
                "safetensors without\nrunning its pickle. IN is a checkpoint "
                "(OUT: a .safetensors file or a folder)\nor a shard index "
                "pytorch_model.bin.index.json (OUT: a folder). The input is\n"
                "scanned first: dangerous content is never converted.\n\n"
                "options:\n");
        opt_help(f, table, ntable);
        rc = help ? EXIT_CLEAN : EXIT_ERROR;
        goto out;
    }
    const char *in = pos.v[0], *dst = pos.v[1];
    struct mg_convert_options o;
    mg_convert_options_init(&o);
    o.force = force;
    struct mg_conversion *c = NULL;
    enum mg_status st = is_index(in) ? mg_convert_sharded(&o, in, dst, &c)
                                     : mg_convert_file(&o, in, dst, &c);
    if (c == NULL) {
        fprintf(stderr, "modelgate convert: %s: %s\n", in, mg_strerror(st));
        rc = EXIT_ERROR;
        goto out;
    }
    if (!quiet)
        for (size_t i = 0; i < mg_conversion_note_count(c); i++)
            fprintf(stderr, "modelgate convert: note: %s\n",
                    mg_conversion_note(c, i));
    switch (mg_conversion_result(c)) {
    case MG_CONVERTED:
        for (size_t i = 0; i < mg_conversion_output_count(c); i++)
            printf("%s\n", mg_conversion_output(c, i));
        if (!quiet)
            fprintf(stderr,
                    "modelgate convert: %s: %zu tensors (%zu more names "
                    "as aliases), %" PRIu64 " bytes of tensor data\n",
                    in, mg_conversion_tensors(c), mg_conversion_aliases(c),
                    mg_conversion_data_bytes(c));
        rc = EXIT_CLEAN;
        break;
    case MG_REFUSED_UNSAFE: {
        /* The findings that decided, as modelgate scan prints them. */
        struct out so;
        out_init(&so, OUT_TEXT, stderr, 0, 0, 0);
        for (size_t i = 0; i < mg_conversion_report_count(c); i++)
            out_file(&so, mg_conversion_report(c, i));
        fprintf(stderr, "modelgate convert: %s: refused: %s\n", in,
                mg_conversion_reason(c));
        rc = EXIT_FOUND;
        break;
    }
    case MG_REFUSED_UNSUPPORTED:
        fprintf(stderr, "modelgate convert: %s: refused: %s\n", in,
                mg_conversion_reason(c));
        rc = EXIT_FOUND;
        break;
    case MG_CONVERT_FAILED:
    default:
        fprintf(stderr, "modelgate convert: %s: %s\n", in,
                mg_conversion_reason(c));
        rc = EXIT_ERROR;
        break;
    }
    mg_conversion_free(c);
out:
    opt_list_free(&pos);
    return rc;
}
