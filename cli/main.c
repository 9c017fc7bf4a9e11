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

static void
usage(FILE *f)
{
    fprintf(f, "usage: modelgate COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
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
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "modelgate: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_ERROR;
}
