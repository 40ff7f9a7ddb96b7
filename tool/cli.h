/* Shared helpers for the peerheap subcommands (tool/ only, not the library). */
#ifndef PH_TOOL_CLI_H
#define PH_TOOL_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes used by every subcommand. */
enum {
    PH_EXIT_OK = 0,
    PH_EXIT_PARTIAL = 1, /* ran, but some input could not be processed */
    PH_EXIT_USAGE = 2,   /* bad options or unusable input */
};

/* One subcommand: name, one-line summary, entry point (argv[0] is the
 * subcommand name), and its --help text. */
struct ph_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    const char *help;
};

/* Print "peerheap: <fmt>\n" to stderr. */
void ph_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse helpers: false on garbage or overflow. */
bool ph_cli_parse_u64(const char *s, uint64_t *out);
bool ph_cli_parse_double(const char *s, double *out);
/* True when argv[i] is -h or --help. */
bool ph_cli_is_help(const char *arg);

#endif
