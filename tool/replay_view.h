/* `peerheap replay` options for chasing heap growth: --gc-model, --peers
 * LIST (sweeps), --prof, --timeline-peers, --top, --html; their checks,
 * the re-execution that turns jemalloc's profiler on, and the tables
 * printed after the main one. tool/cmd_replay.c calls in (and writes
 * --html with the other output files: atomically, --force to replace). */
#ifndef PH_TOOL_REPLAY_VIEW_H
#define PH_TOOL_REPLAY_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay.h"
#include "report.h"

#define PH_VIEW_MAX_COUNTS 32

struct ph_replay_view {
    uint64_t counts[PH_VIEW_MAX_COUNTS]; /* --peers N[,N...]; none: the default */
    size_t ncounts;
    char gc_model[32];                   /* normalised: "go:100", "go:off" */
    const char *prof;                    /* --prof DIR */
    const char *html;                    /* --html FILE */
    size_t top;                          /* --top N */
};

/* One option and its value: -1 when it is not one of these, 0 when taken,
 * PH_EXIT_USAGE after printing why the value is bad. */
int ph_replay_view_option(const char *name, const char *val, struct ph_replay_view *v,
                          ph_replay_config *cfg);
/* After parsing: the checks that need every option, the profile directory,
 * and (--prof) re-executing peerheap with jemalloc's profiler on, which
 * only returns on failure. argv as the command got it (argv[0] "replay").
 * 0 or an exit status. */
int ph_replay_view_prepare(struct ph_replay_view *v, ph_replay_config *cfg, int argc,
                           char **argv);
/* Whether peer counts make a sweep (more than one). */
bool ph_replay_view_sweep(const struct ph_replay_view *v);
/* Records the view's options in the report header. */
void ph_replay_view_header(const struct ph_replay_view *v, ph_report *r);
/* After the table: the GC model's table, the sweep's, the top N, where the
 * profiles went. PH_ERR_IO when writing to `f` failed (the first failure
 * stops the rest). */
PH_MUST_USE
ph_err ph_replay_view_print(const struct ph_replay_view *v, const ph_report *r, FILE *f);

#endif
