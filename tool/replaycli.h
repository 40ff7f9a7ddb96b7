/* The replay's options and run (tool/cmd_replay.c), shared by `replay` and
 * `gate` so that a gate runs exactly what `peerheap replay` runs and both
 * read the same options the same way. */
#ifndef PH_TOOL_REPLAYCLI_H
#define PH_TOOL_REPLAYCLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "replay.h"
#include "report.h"

struct ph_replay_view;

struct ph_replay_cli {
    const char **captures;
    size_t ncaptures;
    const char *keylog, *filter, *from, *types;
    const char *strategies;
    const char *json, *csv, *svg;
    bool quiet;
    bool force;               /* --force: output files may replace existing ones */
    bool transport_given;     /* --transport / --sink was on the command line */
    unsigned jobs;            /* --jobs: strategies measured at once, 0 = the cores */
    ph_replay_config cfg;
    struct ph_replay_view *view; /* replay's heap-growth options (sweeps, GC model,
                                    profiles, --html); NULL in gate */
};

/* getopt_long entries of every replay option, codes PH_OPT_BASE up to
 * PH_REPLAY_OPT_END (exclusive), terminated by a zero entry. */
extern const struct option ph_replay_cli_options[];
enum { PH_REPLAY_OPT_END = 256 + 100 };

/* Defaults; room for argc captures. PH_EXIT_USAGE (printed) when out of
 * memory. */
int ph_replay_cli_init(struct ph_replay_cli *o, int argc, const char *cmd);
void ph_replay_cli_free(struct ph_replay_cli *o);

/* Applies one replay option (a code from ph_replay_cli_options; 1 for a
 * capture). PH_EXIT_USAGE after printing one line naming `cmd` when the
 * value is refused. */
int ph_replay_cli_option(struct ph_replay_cli *o, const char *cmd, int code, const char *arg);

/* Reads the captures, prints which side of each session is replayed on
 * `sides` (NULL: not printed), and runs every strategy in its own process.
 * *out gets the report (header, input digests, options, one result per
 * strategy) or NULL. Returns the exit status: 0, 1 (some input lost or a
 * verification failed: *out is still set), 2 (bad options or unusable
 * input: printed). */
int ph_replay_cli_run(struct ph_replay_cli *o, const char *cmd, FILE *sides, ph_report **out);

#endif
