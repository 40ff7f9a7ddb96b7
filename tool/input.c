#include "input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "keylog.h"
#include "lnsession.h"

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

/* Capture session ids become dense replay session numbers in order of
 * their first message, so sessions that deliver nothing (no key, or --from
 * filtered them out) leave no idle peers behind. */
struct capture_load {
    ph_replay_input *in;
    const struct ph_endpoint *from;
    uint64_t *map; /* lnsession id -> replay session + 1 (0 = none yet) */
    size_t map_cap;
    uint32_t next_session;
    ph_err err;
};

static void on_record(void *ctx, const struct ph_ln_record *rec)
{
    struct capture_load *cl = ctx;
    if (cl->err)
        return;
    if (cl->from && !ph_endpoint_equal(rec->src, cl->from))
        return;
    if (rec->session >= cl->map_cap) {
        size_t cap = cl->map_cap ? cl->map_cap : 64;
        while (cap <= rec->session)
            cap *= 2;
        uint64_t *m = realloc(cl->map, cap * sizeof *m);
        if (!m) {
            cl->err = PH_ERR_NOMEM;
            return;
        }
        memset(m + cl->map_cap, 0, (cap - cl->map_cap) * sizeof *m);
        cl->map = m;
        cl->map_cap = cap;
    }
    if (!cl->map[rec->session])
        cl->map[rec->session] = ++cl->next_session;
    cl->err = ph_replay_input_add(cl->in, rec->ts_ns, (uint32_t)(cl->map[rec->session] - 1),
                                  (uint8_t)rec->dir, rec->msg, rec->len);
}

static int open_keylog(const char *capture, const char *given, ph_keylog **kl)
{
    *kl = NULL;
    char *path = NULL;
    if (!given) {
        size_t n = strlen(capture) + 6;
        path = malloc(n);
        if (!path)
            return PH_EXIT_USAGE;
        snprintf(path, n, "%s.keys", capture);
        if (access(path, F_OK) != 0) {
            free(path);
            return PH_EXIT_OK; /* no key log: every session will say so */
        }
        given = path;
    }
    unsigned long bad_line = 0;
    ph_err err = ph_keylog_load(kl, given, &bad_line);
    if (err == PH_ERR_KEYLOG_FORMAT)
        ph_cli_error("%s: line %lu: not '<32 hex mac> <64 hex key>'", given, bad_line);
    else if (err)
        ph_cli_error("%s: cannot read key log: %s", given, ph_strerror(err));
    free(path);
    return err ? PH_EXIT_USAGE : PH_EXIT_OK;
}

static int report_problems(const ph_lnsessions *ls, const char *path, int rc)
{
    for (size_t i = 0; i < ph_lnsession_problem_count(ls); i++) {
        ph_cli_error("%s: %s", path, ph_lnsession_problem(ls, i)->text);
        if (rc == PH_EXIT_OK)
            rc = PH_EXIT_PARTIAL;
    }
    if (ph_lnsession_problems_dropped(ls))
        ph_cli_error("%s: %zu more problems not shown", path, ph_lnsession_problems_dropped(ls));
    if (!ph_lnsession_count(ls)) {
        ph_cli_error("%s: no Lightning session found (%llu TCP connections)", path,
                     (unsigned long long)ph_lnsession_connections(ls));
        if (rc == PH_EXIT_OK)
            rc = PH_EXIT_PARTIAL;
    }
    return rc;
}

static int load_capture(struct capture_load *cl, const char *path,
                        const struct ph_input_opts *opts, uint64_t *next_id)
{
    ph_keylog *kl;
    int rc = open_keylog(path, opts->keylog, &kl);
    if (rc)
        return rc;
    char why[PH_CAPTURE_ERRLEN] = "";
    ph_capture *cap;
    ph_err err = ph_capture_open(&cap, path, opts->filter, why);
    if (err) {
        ph_cli_error("%s: %s%s%s", path, ph_strerror(err), why[0] ? ": " : "", why);
        ph_keylog_destroy(kl);
        return PH_EXIT_USAGE;
    }
    struct ph_lnsession_opts lo = {.first_id = *next_id};
    ph_lnsessions *ls;
    if (ph_lnsession_create(&ls, kl, &lo, on_record, cl)) {
        ph_capture_close(cap);
        ph_keylog_destroy(kl);
        return PH_EXIT_USAGE;
    }
    err = ph_lnsession_run(ls, cap);
    rc = PH_EXIT_OK;
    if (err == PH_ERR_NOMEM || cl->err) {
        ph_cli_error("%s: out of memory", path);
        rc = PH_EXIT_USAGE;
    }
    rc = report_problems(ls, path, rc);
    *next_id = ph_lnsession_next_id(ls);
    ph_lnsession_destroy(ls);
    ph_capture_close(cap);
    ph_keylog_destroy(kl);
    return rc;
}

int ph_tool_load_input(const char *const *paths, size_t n, const struct ph_input_opts *opts,
                       ph_replay_input **out)
{
    *out = NULL;
    ph_replay_input *in;
    if (ph_replay_input_create(&in))
        return PH_EXIT_USAGE;
    struct ph_endpoint from;
    if (opts->from && ph_endpoint_parse(opts->from, &from)) {
        ph_cli_error("--from: '%s' is not HOST:PORT (e.g. 127.0.0.1:9735 or [::1]:9735)",
                     opts->from);
        ph_replay_input_destroy(in);
        return PH_EXIT_USAGE;
    }
    struct capture_load cl = {.in = in, .from = opts->from ? &from : NULL};
    uint64_t next_id = 1;
    int status = PH_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        int rc;
        cl.next_session = ph_replay_input_sessions(in);
        if (cl.map)
            memset(cl.map, 0, cl.map_cap * sizeof *cl.map);
        if (ends_with(paths[i], ".lnmsgs"))
            rc = load_lnmsgs(in, paths[i], ph_replay_input_sessions(in));
        else
            rc = load_capture(&cl, paths[i], opts, &next_id);
        if (rc == PH_EXIT_USAGE) {
            free(cl.map);
            ph_replay_input_destroy(in);
            return rc;
        }
        if (rc > status)
            status = rc;
    }
    free(cl.map);
    if (!ph_replay_input_count(in)) {
        ph_cli_error("no messages to replay in the input");
        ph_replay_input_destroy(in);
        return PH_EXIT_USAGE;
    }
    *out = in;
    return status;
}
