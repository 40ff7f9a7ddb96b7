/* peerheap command-line front end: a table of subcommands. Each subcommand
 * lives in tool/cmd_<name>.c and only parses options and prints; the work is
 * done by the library in lib/. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct ph_command *const commands[] = {
    PH_COMMAND_LIST
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f,
            "usage: peerheap <command> [options]\n"
            "       peerheap --help | --version\n\n"
            "Measure how Lightning write-buffer strategies use the heap on real\n"
            "BOLT 8 traffic.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i])
            fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n'peerheap <command> --help' or 'peerheap help <command>' describes each\n"
               "command; 'man peerheap' has them all.\n");
}

static const struct ph_command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i] && strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* "peerheap help COMMAND": the same text as "peerheap COMMAND --help" (and
 * as the command's section of the man page, which is made from it). */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        usage(stdout);
        return PH_EXIT_OK;
    }
    const struct ph_command *c = find(argv[2]);
    if (!c) {
        ph_cli_error("help: no command '%s' (try 'peerheap --help')", argv[2]);
        return PH_EXIT_USAGE;
    }
    if (argc > 3) {
        ph_cli_error("help: one command at a time");
        return PH_EXIT_USAGE;
    }
    fputs(c->help, stdout);
    return PH_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PH_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (ph_cli_is_help(cmd)) {
        usage(stdout);
        return PH_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0)
        return help(argc, argv);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("peerheap %s\n", PH_VERSION);
        return PH_EXIT_OK;
    }
    const struct ph_command *c = find(cmd);
    if (c) {
        if (argc >= 3 && ph_cli_is_help(argv[2])) {
            fputs(c->help, stdout);
            return PH_EXIT_OK;
        }
        return c->run(argc - 1, argv + 1);
    }
    if (cmd[0] == '-')
        ph_cli_error("unknown option '%s' (try 'peerheap --help')", cmd);
    else
        ph_cli_error("unknown command '%s' (try 'peerheap --help')", cmd);
    return PH_EXIT_USAGE;
}
