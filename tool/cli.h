/* Shared helpers for the peerheap subcommands (tool/ only, not the library). */
#ifndef PH_TOOL_CLI_H
#define PH_TOOL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

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

/* Option parsing is getopt_long's, with optstring "-:" + short options:
 * positional arguments come back in order as code 1, a missing value as ':'
 * and an unknown option as '?'. Long options take codes from PH_OPT_BASE up
 * (short options are their own character). Call ph_cli_getopt_reset()
 * before parsing.
 * After ':' or '?', the option as the user wrote it ("--peers", "-x";
 * "--verify=1" for a flag given a value): */
enum { PH_OPT_BASE = 256 };
const char *ph_cli_bad_option(char *const argv[], char *buf, size_t len);
void ph_cli_getopt_reset(void);

/* Output files: written to a temporary file beside PATH and renamed when
 * complete (lib/util/atomicfile.h). An existing PATH is replaced only when
 * `replace`. On failure these print one line naming `cmd` and the file
 * ("peerheap: replay: out.json exists (--force replaces it)") and return
 * NULL / PH_EXIT_USAGE. Commit frees `af` in every case. */
struct ph_atomicfile;
struct ph_atomicfile *ph_cli_output_open(const char *cmd, const char *path, bool replace,
                                         bool private_mode);
int ph_cli_output_commit(const char *cmd, struct ph_atomicfile *af, const char *path);
/* Commit after writing the content, or, when writing it failed (`write_err`;
 * errno says why for PH_ERR_IO), abort with one line saying so. */
int ph_cli_output_finish(const char *cmd, struct ph_atomicfile *af, const char *path,
                         ph_err write_err);

#endif
