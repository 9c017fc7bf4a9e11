/*
 * main.c - modelgate: one binary, one subcommand per job.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
#define CMD(name, summary) {#name, cmd_##name, summary},
#include "commands.h"
#undef CMD
};

/* Command names are C identifiers: '_' in the table is '-' when typed. */
static int
name_is(const char *typed, const char *name)
{
    for (; *typed && *name; typed++, name++)
        if (*typed != (*name == '_' ? '-' : *name))
            return 0;
    return *typed == *name;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: modelgate COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        char name[32];
        size_t k = 0;
        for (const char *c = commands[i].name; *c && k + 1 < sizeof(name); c++)
            name[k++] = *c == '_' ? '-' : *c;
        name[k] = '\0';
        fprintf(f, "  %-13s %s\n", name, commands[i].summary);
    }
    fprintf(f, "\n'modelgate COMMAND --help' shows a command's options; "
               "man modelgate has the details.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_ERROR;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_CLEAN;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("modelgate %s (JSON schema %d)\n", MG_VERSION_STRING,
               MG_JSON_SCHEMA_VERSION);
        return EXIT_CLEAN;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (name_is(cmd, commands[i].name))
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "modelgate: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_ERROR;
}
