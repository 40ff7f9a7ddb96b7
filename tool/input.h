/* Loading replay input from the command line's files: captures (pcap or
 * pcapng with a key log) and .lnmsgs files. Shared by replay and the
 * commands to come (gate). Problems are printed as one line each on stderr. */
#ifndef PH_TOOL_INPUT_H
#define PH_TOOL_INPUT_H

#include <stddef.h>

#include "replayin.h"

struct ph_input_opts {
    const char *keylog; /* NULL: CAPTURE.keys beside each capture */
    const char *filter; /* BPF expression or NULL */
    const char *from;   /* keep only what HOST:PORT sent, or NULL */
};

/* Returns PH_EXIT_OK, PH_EXIT_PARTIAL (loaded, but some sessions or frames
 * could not be decrypted) or PH_EXIT_USAGE (unusable input; *out NULL). */
int ph_tool_load_input(const char *const *paths, size_t n, const struct ph_input_opts *opts,
                       ph_replay_input **out);

#endif
