/* CLI wording for the input pipeline (lib/lninput), shared by dump and
 * replay so that the same failure reads the same in both: one line per
 * problem, the exit status it implies, and --types parsing. */
#ifndef PH_TOOL_INPUT_H
#define PH_TOOL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lninput.h"

/* The one line for a problem, without "peerheap: ", e.g.
 * "captures/x.pcap: session 1: bad MAC in ..." or
 * "x.pcap.keys: line 3: not a key log line (want '<32 hex mac> <64 hex key>')". */
void ph_tool_problem_text(const struct ph_lninput_problem *p, char *out, size_t cap);

/* Prints problems [*from, count) on stderr, one line each ("peerheap:
 * TEXT"), all of them or only those that made a file unusable; advances
 * *from to the count. */
void ph_tool_print_problems(const ph_lninput *in, size_t *from, bool unusable_only);

/* PH_EXIT_OK, PH_EXIT_PARTIAL (some input lost) or PH_EXIT_USAGE (a file or
 * the key log was unusable), from the worst problem. */
int ph_tool_input_status(const ph_lninput *in);

/* Parses "256,channel_update,node_announcement" (numbers 0-65535 or the
 * codec's names) into 65,536 flags (free()). On a bad list prints one line
 * naming `cmd` and the list, and returns NULL. */
uint8_t *ph_tool_parse_types(const char *cmd, const char *list);

#endif
