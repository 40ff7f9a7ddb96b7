#include "input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keylog.h"
#include "wire.h"

static const char *warning_text(int kind)
{
    switch ((enum ph_keylog_warning_kind)kind) {
    case PH_KEYLOG_WARN_MALFORMED:
        return "looks like a key line but is not '<32 hex mac> <64 hex key>'";
    case PH_KEYLOG_WARN_PARTIAL:
        return "incomplete last line (no newline at the end: a log still being written?)";
    case PH_KEYLOG_WARN_NO_KEY:
        break;
    }
    return "no '<32 hex mac> <64 hex key>' on it";
}

void ph_tool_problem_text(const struct ph_lninput_problem *p, char *out, size_t cap)
{
    const char *path = !p->path ? "input" : strcmp(p->path, "-") == 0 ? "stdin" : p->path;
    switch (p->kind) {
    case PH_LNINPUT_PROB_OPEN:
        snprintf(out, cap, "%s: cannot read: %s", path, strerror(p->sys_errno));
        return;
    case PH_LNINPUT_PROB_CAPTURE_OPEN:
        if (p->err == PH_ERR_CAPTURE_FILTER)
            snprintf(out, cap, "%s: --filter does not compile: %s", path, p->detail);
        else if (p->err == PH_ERR_CAPTURE_LINKTYPE)
            snprintf(out, cap, "%s: %s", path, p->detail);
        else
            snprintf(out, cap, "%s: not a pcap or pcapng capture (%s)", path,
                     p->detail[0] ? p->detail : ph_strerror(p->err));
        return;
    case PH_LNINPUT_PROB_KEYLOG:
        snprintf(out, cap, "%s: cannot read key log: %s", path,
                 p->err == PH_ERR_IO ? strerror(p->sys_errno) : ph_strerror(p->err));
        return;
    case PH_LNINPUT_PROB_KEYLOG_LINE:
        snprintf(out, cap, "%s: line %llu: warning: %s; line skipped", path,
                 (unsigned long long)p->line, warning_text(p->warning));
        return;
    case PH_LNINPUT_PROB_KEYLOG_MORE:
        snprintf(out, cap, "%s: warning: %llu more lines without a key skipped", path,
                 (unsigned long long)p->count);
        return;
    case PH_LNINPUT_PROB_KEYLOG_EMPTY:
        snprintf(out, cap, "%s: warning: no key in its %llu line%s%s%s%s", path,
                 (unsigned long long)p->count, p->count == 1 ? "" : "s",
                 p->detail[0] ? " (read as " : "", p->detail,
                 p->detail[0] ? ": not a key log?)" : "");
        return;
    case PH_LNINPUT_PROB_KEYLOG_ENCODING:
        snprintf(out, cap, "%s: note: key log read as %s", path, p->detail);
        return;
    case PH_LNINPUT_PROB_NO_KEYLOG:
        if (p->detail[0])
            snprintf(out, cap, "%s: note: no key log (no --keylog, no %s, %s): nothing can be "
                     "decrypted", path, p->detail,
                     p->count ? "LIGHTNINGKEYLOGFILE names no file"
                              : "LIGHTNINGKEYLOGFILE not set");
        else
            snprintf(out, cap, "%s: note: no key log (no --keylog, %s): nothing can be "
                     "decrypted", path,
                     p->count ? "LIGHTNINGKEYLOGFILE names no file"
                              : "LIGHTNINGKEYLOGFILE not set");
        return;
    case PH_LNINPUT_PROB_LNMSGS_RECORD:
        snprintf(out, cap, "%s: offset %llu: record truncated or shorter than a message type",
                 path, (unsigned long long)p->offset);
        return;
    case PH_LNINPUT_PROB_SESSION:
        snprintf(out, cap, "%s: %s", path, p->ln.text);
        return;
    case PH_LNINPUT_PROB_MORE:
        snprintf(out, cap, "%s: %llu more problems not shown", path,
                 (unsigned long long)p->count);
        return;
    case PH_LNINPUT_PROB_NO_SESSION:
        snprintf(out, cap, "%s: no Lightning session found (%llu TCP connection%s, %llu bytes "
                 "of TCP payload)", path, (unsigned long long)p->count,
                 p->count == 1 ? "" : "s", (unsigned long long)p->offset);
        return;
    case PH_LNINPUT_PROB_SHORT:
        snprintf(out, cap, "%s: note: session %llu: %llu message%s shorter than a message type "
                 "(not replayed)", path, (unsigned long long)p->session,
                 (unsigned long long)p->count, p->count == 1 ? "" : "s");
        return;
    case PH_LNINPUT_PROB_NOMEM:
        snprintf(out, cap, "%s: out of memory", path);
        return;
    case PH_LNINPUT_PROB_TEMP:
        snprintf(out, cap, "%s: cannot make a temporary file for its messages: %s", path,
                 strerror(p->sys_errno));
        return;
    }
    snprintf(out, cap, "%s: %s", path, ph_strerror(p->err));
}

void ph_tool_print_problems(const ph_lninput *in, size_t *from, bool unusable_only)
{
    size_t n = ph_lninput_problem_count(in);
    for (size_t i = *from; i < n; i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(in, i);
        if (unusable_only && p->severity != PH_LNINPUT_UNUSABLE)
            continue;
        char text[640];
        ph_tool_problem_text(p, text, sizeof text);
        ph_cli_error("%s", text);
    }
    *from = n;
}

int ph_tool_input_status(const ph_lninput *in)
{
    switch (ph_lninput_worst(in)) {
    case PH_LNINPUT_UNUSABLE:
        return PH_EXIT_USAGE;
    case PH_LNINPUT_PARTIAL:
        return PH_EXIT_PARTIAL;
    case PH_LNINPUT_NOTE:
        break;
    }
    return PH_EXIT_OK;
}

uint8_t *ph_tool_parse_types(const char *cmd, const char *list)
{
    uint8_t *wanted = calloc(65536, 1);
    if (!wanted) {
        ph_cli_error("%s: out of memory", cmd);
        return NULL;
    }
    const char *p = list;
    bool ok = *p != '\0';
    while (ok && *p) {
        size_t len = strcspn(p, ",");
        char item[64];
        uint64_t v;
        if (len == 0 || len >= sizeof item) {
            ok = false;
            break;
        }
        memcpy(item, p, len);
        item[len] = 0;
        const ph_wire_msg_desc *desc = ph_wire_msg_desc_by_name(item);
        if (desc)
            wanted[desc->type] = 1;
        else if (ph_cli_parse_u64(item, &v) && v <= 65535)
            wanted[v] = 1;
        else
            ok = false;
        p += len + (p[len] == ',');
    }
    if (!ok) {
        ph_cli_error("%s: --types '%s': not a list of message types (numbers 0-65535 or names "
                     "such as channel_update, comma-separated)", cmd, list);
        free(wanted);
        return NULL;
    }
    return wanted;
}
