/* The subcommand table. To add a command: define
 * `const struct ph_command ph_cmd_<name>` in tool/cmd_<name>.c, declare it
 * here and add it to PH_COMMAND_LIST (NULL entries are skipped). */
#ifndef PH_TOOL_COMMANDS_H
#define PH_TOOL_COMMANDS_H

#include "cli.h"

extern const struct ph_command ph_cmd_decode;
extern const struct ph_command ph_cmd_diff;
extern const struct ph_command ph_cmd_dump;
extern const struct ph_command ph_cmd_gate;
extern const struct ph_command ph_cmd_peer;
extern const struct ph_command ph_cmd_replay;

#define PH_COMMAND_LIST &ph_cmd_peer, &ph_cmd_dump, &ph_cmd_replay, &ph_cmd_decode, \
    &ph_cmd_gate, &ph_cmd_diff

#endif
