#include "input.h"

#include <string.h>

#include "cli.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int load_lnmsgs(ph_replay_input *in, const char *path, uint32_t session)
{
    uint64_t off = 0;
    ph_err err = ph_replay_input_load_lnmsgs(in, path, session, &off);
    if (err == PH_ERR_IO) {
        ph_cli_error("%s: cannot read", path);
        return PH_EXIT_USAGE;
    }
    if (err) {
        ph_cli_error("%s: offset %llu: %s", path, (unsigned long long)off,
                     err == PH_ERR_PARSE ? "record truncated or shorter than a message type"
                                         : ph_strerror(err));
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

int ph_tool_load_input(const char *const *paths, size_t n, const struct ph_input_opts *opts,
                       ph_replay_input **out)
{
    *out = NULL;
    ph_replay_input *in;
    if (ph_replay_input_create(&in))
        return PH_EXIT_USAGE;
    int status = PH_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (ends_with(paths[i], ".lnmsgs")) {
            rc = load_lnmsgs(in, paths[i], ph_replay_input_sessions(in));
        } else {
            (void)opts;
            ph_cli_error("%s: reading captures needs the capture library (lib/lnsession)",
                         paths[i]);
            rc = PH_EXIT_USAGE;
        }
        if (rc == PH_EXIT_USAGE) {
            ph_replay_input_destroy(in);
            return rc;
        }
        if (rc > status)
            status = rc;
    }
    if (!ph_replay_input_count(in)) {
        ph_cli_error("no messages to replay in the input");
        ph_replay_input_destroy(in);
        return PH_EXIT_USAGE;
    }
    *out = in;
    return status;
}
