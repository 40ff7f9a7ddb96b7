/* peerheap replay: options, input loading, one isolated run per strategy,
 * then the table and the optional JSON / CSV / SVG files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "input.h"
#include "peer.h"
#include "replay.h"
#include "report.h"
#include "wbuf.h"

static const char replay_help[] =
    "usage: peerheap replay CAPTURE... [options]\n"
    "\n"
    "Run the real node (the one 'peerheap peer' runs) on the messages of captured\n"
    "Lightning sessions, once per write-buffer strategy, each in a fresh process,\n"
    "and compare their heap use, every allocation seen as it happens.\n"
    "\n"
    "CAPTURE is a pcap/pcapng file (decrypted with its key log) or an .lnmsgs\n"
    "file ([u16 length][message]..., replayed as one session).\n"
    "\n"
    "options:\n"
    "  --keylog FILE        key log for the captures (default: CAPTURE.keys)\n"
    "  --filter EXPR        BPF filter applied to the captures\n"
    "  --from HOST:PORT     replay only what this endpoint sent (default: both sides)\n"
    "  --strategy LIST|all  comma-separated: fresh,exact,reuse,pool,ring,tiered (default all)\n"
    "  --peers N            simulated peers; peer i replays session i mod S (default S)\n"
    "  --transport socket|model  socket pairs to remote peers in a reader process\n"
    "                       (default), or the in-memory model transport on a\n"
    "                       virtual clock (deterministic); --sink is the same\n"
    "  --encode stored|per-write  copy stored bytes into the write buffer (default),\n"
    "                       or decode once and encode into each write buffer\n"
    "  --linger S           idle seconds after the last write before the end figures\n"
    "                       (default 60 with the model transport, 0 with sockets)\n"
    "  --pace asap|capture|xK   as fast as possible (default), captured timing,\n"
    "                       or K times faster than captured\n"
    "  --reader-rate BYTES/S  each reader reads at most this fast\n"
    "  --stalled K          the first K readers never read after the handshake\n"
    "  --queue-soft BYTES   per-peer queue above which relayed gossip is dropped\n"
    "                       (default: the peer's, 1 MiB)\n"
    "  --queue-hard BYTES   per-peer queue above which the peer is disconnected\n"
    "                       (default: the peer's, 16 MiB)\n"
    "  --pool-workers N     pool: most buffers out at once (default 100)\n"
    "  --pool-expiry S      pool/tiered: free buffers idle this long (default 30)\n"
    "  --model-buffer BYTES model transport: socket buffer per direction (default 262144)\n"
    "  --verify             check that every frame arrives byte-exact\n"
    "  --json FILE          write the report as JSON (schema in README.md)\n"
    "  --csv FILE           write the live-heap time series as CSV\n"
    "  --svg FILE           plot live heap over time, one line per strategy\n"
    "  --quiet              no progress line\n"
    "\n"
    "exit status: 0 ok, 1 some input could not be decrypted or a check failed,\n"
    "2 bad options or unusable input.\n";

struct replay_opts {
    const char **captures;
    size_t ncaptures;
    const char *keylog, *filter, *from;
    const char *strategies;
    const char *json, *csv, *svg;
    bool quiet;
    ph_replay_config cfg;
};

static bool parse_pace(const char *s, ph_replay_config *cfg)
{
    if (strcmp(s, "asap") == 0) {
        cfg->pace = PH_PACE_ASAP;
        return true;
    }
    if (strcmp(s, "capture") == 0) {
        cfg->pace = PH_PACE_CAPTURE;
        return true;
    }
    double k;
    if ((s[0] == 'x' || s[0] == 'X') && ph_cli_parse_double(s + 1, &k) && k > 0) {
        cfg->pace = PH_PACE_SCALED;
        cfg->pace_factor = k;
        return true;
    }
    return false;
}

/* Options that take a number: name, where it goes. */
static bool parse_number_opt(const char *name, const char *val, struct replay_opts *o)
{
    uint64_t v;
    double d;
    if (strcmp(name, "--pool-expiry") == 0) {
        if (!ph_cli_parse_double(val, &d) || d <= 0)
            return false;
        o->cfg.wbuf.pool_expiry_ns = (uint64_t)(d * 1e9);
        return true;
    }
    if (strcmp(name, "--linger") == 0) {
        if (!ph_cli_parse_double(val, &d) || d < 0 || d > 1e6)
            return false;
        o->cfg.linger_ns = (uint64_t)(d * 1e9);
        return true;
    }
    if (!ph_cli_parse_u64(val, &v))
        return false;
    if (strcmp(name, "--peers") == 0 && v > 0 && v <= 1000000)
        o->cfg.peers = (size_t)v;
    else if (strcmp(name, "--reader-rate") == 0 && v > 0)
        o->cfg.reader_rate = v;
    else if (strcmp(name, "--stalled") == 0)
        o->cfg.stalled = (size_t)v;
    else if (strcmp(name, "--queue-soft") == 0)
        o->cfg.queue_soft = v;
    else if (strcmp(name, "--queue-hard") == 0)
        o->cfg.queue_hard = v;
    else if (strcmp(name, "--pool-workers") == 0 && v > 0)
        o->cfg.wbuf.pool_workers = (size_t)v;
    else if (strcmp(name, "--model-buffer") == 0 && v >= 4096)
        o->cfg.model_buffer = (size_t)v;
    else
        return false;
    return true;
}

static const char *const number_opts[] = {
    "--peers", "--reader-rate", "--stalled", "--queue-soft", "--queue-hard",
    "--pool-workers", "--pool-expiry", "--model-buffer", "--linger", NULL,
};

static bool is_number_opt(const char *a)
{
    for (size_t i = 0; number_opts[i]; i++)
        if (strcmp(a, number_opts[i]) == 0)
            return true;
    return false;
}

static int parse_args(int argc, char **argv, struct replay_opts *o)
{
    o->captures = calloc((size_t)argc, sizeof *o->captures);
    if (!o->captures)
        return PH_EXIT_USAGE;
    o->strategies = "all";
    o->cfg.sink = PH_SINK_SOCKET;
    o->cfg.linger_ns = UINT64_MAX;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            o->captures[o->ncaptures++] = a;
            continue;
        }
        bool flag = strcmp(a, "--verify") == 0 || strcmp(a, "--quiet") == 0;
        if (flag) {
            if (a[2] == 'v')
                o->cfg.verify = true;
            else
                o->quiet = true;
            continue;
        }
        if (i + 1 >= argc) {
            ph_cli_error("replay: option '%s' needs a value (see 'peerheap replay --help')", a);
            return PH_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (is_number_opt(a)) {
            if (!parse_number_opt(a, v, o)) {
                ph_cli_error("replay: invalid value '%s' for %s", v, a);
                return PH_EXIT_USAGE;
            }
        } else if (strcmp(a, "--keylog") == 0) {
            o->keylog = v;
        } else if (strcmp(a, "--filter") == 0) {
            o->filter = v;
        } else if (strcmp(a, "--from") == 0) {
            o->from = v;
        } else if (strcmp(a, "--strategy") == 0) {
            o->strategies = v;
        } else if (strcmp(a, "--json") == 0) {
            o->json = v;
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = v;
        } else if (strcmp(a, "--svg") == 0) {
            o->svg = v;
        } else if (strcmp(a, "--sink") == 0 || strcmp(a, "--transport") == 0) {
            if (strcmp(v, "socket") == 0)
                o->cfg.sink = PH_SINK_SOCKET;
            else if (strcmp(v, "model") == 0)
                o->cfg.sink = PH_SINK_MODEL;
            else {
                ph_cli_error("replay: %s is 'socket' or 'model', not '%s'", a, v);
                return PH_EXIT_USAGE;
            }
        } else if (strcmp(a, "--encode") == 0) {
            ph_encode_policy ep;
            if (!ph_encode_policy_parse(v, &ep)) {
                ph_cli_error("replay: --encode is 'stored' or 'per-write', not '%s'", v);
                return PH_EXIT_USAGE;
            }
            o->cfg.encode = (int)ep;
        } else if (strcmp(a, "--pace") == 0) {
            if (!parse_pace(v, &o->cfg)) {
                ph_cli_error("replay: --pace is asap, capture or xK (e.g. x10), not '%s'", v);
                return PH_EXIT_USAGE;
            }
        } else {
            ph_cli_error("replay: unknown option '%s' (see 'peerheap replay --help')", a);
            return PH_EXIT_USAGE;
        }
    }
    if (!o->ncaptures) {
        ph_cli_error("replay: no capture given (see 'peerheap replay --help')");
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

/* Expands "all" and checks every name before anything runs. */
static int split_strategies(const char *list, char names[][PH_REPORT_NAME_MAX], size_t *n)
{
    const char *const *known = ph_wbuf_names();
    *n = 0;
    if (strcmp(list, "all") == 0) {
        for (size_t i = 0; known[i]; i++)
            snprintf(names[(*n)++], PH_REPORT_NAME_MAX, "%s", known[i]);
        return PH_EXIT_OK;
    }
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= strlen(known[i]) == len && strncmp(known[i], p, len) == 0;
        if (!ok || *n >= 16) {
            ph_cli_error("replay: unknown strategy '%.*s' (known: fresh, exact, reuse, pool, "
                         "ring, tiered)", (int)len, p);
            return PH_EXIT_USAGE;
        }
        snprintf(names[(*n)++], PH_REPORT_NAME_MAX, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    if (!*n) {
        ph_cli_error("replay: --strategy names no strategy");
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

static void progress_line(void *ctx, const ph_replay_progress *p)
{
    (void)ctx;
    fprintf(stderr, "\r%-8s %llu/%llu messages   ", p->strategy,
            (unsigned long long)p->messages_done, (unsigned long long)p->messages_total);
    fflush(stderr);
}

/* Each peer needs a socket pair: two descriptors, one in each process. */
static void raise_nofile(size_t peers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    rlim_t want = (rlim_t)(2 * peers + 64);
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static int write_output(const char *path, ph_err (*fn)(const ph_report *, FILE *),
                        const ph_report *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        ph_cli_error("replay: cannot write %s: %s", path, strerror(errno));
        return PH_EXIT_USAGE;
    }
    ph_err err = fn(r, f);
    if (fclose(f) || err) {
        ph_cli_error("replay: writing %s failed", path);
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

static void fill_report_header(ph_report *r, const struct replay_opts *o,
                               const ph_replay_input *in, size_t peers)
{
    for (size_t i = 0; i < o->ncaptures; i++)
        ph_report_add_capture(r, o->captures[i]);
    r->input.sessions = ph_replay_input_sessions(in);
    r->input.messages = ph_replay_input_count(in);
    r->input.message_bytes = ph_replay_input_bytes(in);
    r->options.peers = peers;
    snprintf(r->options.sink, sizeof r->options.sink, "%s",
             o->cfg.sink == PH_SINK_MODEL ? "model" : "socket");
    if (o->cfg.pace == PH_PACE_SCALED)
        snprintf(r->options.pace, sizeof r->options.pace, "x%g", o->cfg.pace_factor);
    else
        snprintf(r->options.pace, sizeof r->options.pace, "%s",
                 o->cfg.pace == PH_PACE_CAPTURE ? "capture" : "asap");
    r->options.reader_rate = o->cfg.reader_rate;
    r->options.stalled = o->cfg.stalled;
    snprintf(r->options.from, sizeof r->options.from, "%s", o->from ? o->from : "");
    r->options.queue_soft = o->cfg.queue_soft;
    r->options.queue_hard = o->cfg.queue_hard;
    snprintf(r->options.encode, sizeof r->options.encode, "%s",
             ph_encode_policy_name((ph_encode_policy)o->cfg.encode));
    uint64_t linger = o->cfg.linger_ns;
    if (linger == UINT64_MAX)
        linger = o->cfg.sink == PH_SINK_MODEL ? 60000000000ull : 0;
    r->options.linger_seconds = (double)linger / 1e9;
}

static int run_all(struct replay_opts *o, ph_replay_input *in, int input_status)
{
    char names[16][PH_REPORT_NAME_MAX];
    size_t nnames;
    int rc = split_strategies(o->strategies, names, &nnames);
    if (rc)
        return rc;
    size_t peers = o->cfg.peers ? o->cfg.peers : ph_replay_input_sessions(in);
    if (o->cfg.stalled > peers) {
        ph_cli_error("replay: --stalled %zu is more than the %zu peers", o->cfg.stalled, peers);
        return PH_EXIT_USAGE;
    }
    if (o->cfg.sink == PH_SINK_SOCKET)
        raise_nofile(peers);
    if (!o->quiet && isatty(STDERR_FILENO))
        o->cfg.progress = progress_line;
    ph_report *r;
    if (ph_report_create(&r))
        return PH_EXIT_USAGE;
    fill_report_header(r, o, in, peers);
    int status = input_status;
    for (size_t i = 0; i < nnames; i++) {
        ph_strategy_result res;
        char err[320];
        ph_err e = ph_replay_run_isolated(in, &o->cfg, names[i], &res, err, sizeof err);
        if (o->cfg.progress)
            fprintf(stderr, "\r%60s\r", "");
        if (e) {
            ph_cli_error("replay: %s", err[0] ? err : ph_strerror(e));
            ph_report_destroy(r);
            return e == PH_ERR_ARG ? PH_EXIT_USAGE : PH_EXIT_PARTIAL;
        }
        if (res.mismatches)
            status = PH_EXIT_PARTIAL;
        ph_report_add_strategy(r, &res);
        ph_strategy_result_clear(&res);
    }
    ph_report_print_table(r, stdout);
    fflush(stdout);
    if (o->json && (rc = write_output(o->json, ph_report_write_json, r)))
        status = rc;
    if (o->csv && (rc = write_output(o->csv, ph_report_write_csv, r)))
        status = rc;
    if (o->svg && (rc = write_output(o->svg, ph_report_write_svg, r)))
        status = rc;
    for (size_t i = 0; i < r->n_strategies; i++)
        if (r->strategies[i].mismatches)
            ph_cli_error("replay: %s: %llu frames did not arrive as captured", r->strategies[i].name,
                         (unsigned long long)r->strategies[i].mismatches);
    ph_report_destroy(r);
    return status;
}

static int cmd_replay(int argc, char **argv)
{
    struct replay_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.captures);
        return rc;
    }
    ph_replay_input *in = NULL;
    struct ph_input_opts io = {.keylog = o.keylog, .filter = o.filter, .from = o.from};
    int input_status = ph_tool_load_input(o.captures, o.ncaptures, &io, &in);
    if (input_status == PH_EXIT_USAGE || !in) {
        free(o.captures);
        ph_replay_input_destroy(in);
        return PH_EXIT_USAGE;
    }
    rc = run_all(&o, in, input_status);
    ph_replay_input_destroy(in);
    free(o.captures);
    return rc;
}

const struct ph_command ph_cmd_replay = {
    .name = "replay",
    .summary = "replay captures through each write-buffer strategy and compare heap use",
    .run = cmd_replay,
    .help = replay_help,
};
