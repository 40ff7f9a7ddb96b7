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
#include "lninput.h"
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
    "Only the node under study's side of each session is replayed: by default\n"
    "the side that sent more message bytes, or the endpoint --from names. The\n"
    "side taken is printed per session before the table.\n"
    "\n"
    "options:\n"
    "  --keylog FILE        key log for the captures (default: CAPTURE.keys)\n"
    "  --filter EXPR        BPF filter applied to the captures\n"
    "  --from HOST:PORT     the node under study: replay what this endpoint sent\n"
    "                       (default: in each session, the side that sent more bytes)\n"
    "  --types LIST         only messages of these types (numbers or names, comma-\n"
    "                       separated, as in dump: e.g. 256,257,258 or channel_update)\n"
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
    "  --jobs N             strategies measured at once, each in its own process\n"
    "                       (default: the number of cores); every figure but the\n"
    "                       times is the same whatever N is\n"
    "  --quiet              no progress line\n"
    "\n"
    "exit status: 0 ok, 1 some input could not be decrypted or a check failed,\n"
    "2 bad options or unusable input.\n";

struct replay_opts {
    const char **captures;
    size_t ncaptures;
    const char *keylog, *filter, *from, *types;
    const char *strategies;
    const char *json, *csv, *svg;
    bool quiet;
    unsigned jobs;
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
    else if (strcmp(name, "--jobs") == 0 && v >= 1 && v <= 1024)
        o->jobs = (unsigned)v;
    else
        return false;
    return true;
}

static const char *const number_opts[] = {
    "--peers", "--reader-rate", "--stalled", "--queue-soft", "--queue-hard",
    "--pool-workers", "--pool-expiry", "--model-buffer", "--linger", "--jobs", NULL,
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
        } else if (strcmp(a, "--types") == 0) {
            o->types = v;
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
    ph_report_set_types(r, o->types);
    r->options.queue_soft = o->cfg.queue_soft;
    r->options.queue_hard = o->cfg.queue_hard;
    snprintf(r->options.encode, sizeof r->options.encode, "%s",
             ph_encode_policy_name((ph_encode_policy)o->cfg.encode));
    uint64_t linger = o->cfg.linger_ns;
    if (linger == UINT64_MAX)
        linger = o->cfg.sink == PH_SINK_MODEL ? 60000000000ull : 0;
    r->options.linger_seconds = (double)linger / 1e9;
}

/* ---- the node under study, per session ---- */

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char *buf, size_t cap)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
    return buf;
}

static const char *chosen_by(enum ph_lninput_side side)
{
    switch (side) {
    case PH_LNINPUT_SIDE_MORE_BYTES: return "bytes";
    case PH_LNINPUT_SIDE_TIE: return "tie";
    case PH_LNINPUT_SIDE_FROM: return "from";
    case PH_LNINPUT_SIDE_ONLY: return "only";
    default: return "";
    }
}

static uint64_t session_bytes(const struct ph_lninput_session *s)
{
    return s->ln.bytes[0] + s->ln.bytes[1];
}

/* The header's record of each replayed session, in replay order. */
static ph_err add_sides(ph_report *r, const ph_lninput *li)
{
    size_t n = ph_lninput_session_count(li), nrep = 0;
    for (size_t i = 0; i < n; i++)
        nrep += ph_lninput_session(li, i)->replay_session >= 0;
    for (int64_t want = 0; want < (int64_t)nrep; want++) {
        for (size_t i = 0; i < n; i++) {
            const struct ph_lninput_session *s = ph_lninput_session(li, i);
            if (s->replay_session != want)
                continue;
            ph_report_side sd;
            memset(&sd, 0, sizeof sd);
            sd.session = s->id;
            if (s->has_endpoints) {
                bool i2r = s->node_dir == PH_LN_I2R;
                ph_endpoint_format(i2r ? &s->ln.initiator : &s->ln.responder, sd.node);
                ph_endpoint_format(i2r ? &s->ln.responder : &s->ln.initiator, sd.peer);
            }
            snprintf(sd.role, sizeof sd.role, "%s",
                     !s->has_endpoints ? "sender"
                     : s->node_dir == PH_LN_I2R ? "initiator" : "responder");
            snprintf(sd.chosen_by, sizeof sd.chosen_by, "%s", chosen_by(s->side));
            sd.node_bytes = s->ln.bytes[s->node_dir];
            sd.session_bytes = session_bytes(s);
            sd.messages = s->kept_messages[s->node_dir];
            ph_err e = ph_report_add_side(r, &sd);
            if (e)
                return e;
            break;
        }
    }
    return PH_OK;
}

/* Why a session gives nothing, or "" when it is replayed. */
static const char *not_replayed(const struct ph_lninput_session *s, const struct replay_opts *o)
{
    if (s->replay_session >= 0)
        return "";
    switch (s->side) {
    case PH_LNINPUT_SIDE_NOT_FROM: return "--from is not one of its endpoints";
    case PH_LNINPUT_SIDE_EMPTY: return "no message was decrypted";
    default: break;
    }
    return o->types ? "its node sent no message of the --types" : "its node sent no message";
}

static void print_session_side(const struct ph_lninput_session *s, const ph_lninput *li,
                               const struct replay_opts *o, FILE *f)
{
    const char *why = not_replayed(s, o);
    if (why[0]) {
        fprintf(f, "session %llu: not replayed: %s\n", (unsigned long long)s->id, why);
        return;
    }
    char m[32], a[32], b[32];
    grouped(s->kept_messages[s->node_dir], m, sizeof m);
    if (!s->has_endpoints) {
        fprintf(f, "session %llu: replaying %s, %s messages (the file's one sender)\n",
                (unsigned long long)s->id, ph_lninput_file(li, s->file)->path, m);
        return;
    }
    char node[PH_ENDPOINT_STRLEN], peer[PH_ENDPOINT_STRLEN];
    bool i2r = s->node_dir == PH_LN_I2R;
    ph_endpoint_format(i2r ? &s->ln.initiator : &s->ln.responder, node);
    ph_endpoint_format(i2r ? &s->ln.responder : &s->ln.initiator, peer);
    grouped(s->ln.bytes[s->node_dir], a, sizeof a);
    grouped(session_bytes(s), b, sizeof b);
    fprintf(f, "session %llu: replaying %s -> %s, %s messages (%ssent %s of %s bytes%s)\n",
            (unsigned long long)s->id, node, peer, m,
            s->side == PH_LNINPUT_SIDE_FROM ? "--from; " : "", a, b,
            s->side == PH_LNINPUT_SIDE_TIE ? ": a tie, the responder is taken" : "");
}

/* Many sessions: one line per node endpoint (the busiest few), then the
 * rest and the sessions not replayed, each counted. */
struct side_group {
    char node[PH_ENDPOINT_STRLEN + 8];
    uint64_t sessions, messages, node_bytes, bytes;
};

static int by_sessions(const void *pa, const void *pb)
{
    const struct side_group *a = pa, *b = pb;
    return a->sessions < b->sessions ? 1 : a->sessions > b->sessions ? -1 : 0;
}

static void print_side_groups(const ph_lninput *li, const struct replay_opts *o, FILE *f)
{
    size_t n = ph_lninput_session_count(li), ng = 0;
    struct side_group *g = calloc(n ? n : 1, sizeof *g);
    if (!g)
        return;
    uint64_t skipped = 0, replayed = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ph_lninput_session *s = ph_lninput_session(li, i);
        if (s->replay_session < 0) {
            skipped++;
            continue;
        }
        replayed++;
        char key[sizeof g->node];
        if (s->has_endpoints)
            ph_endpoint_format(s->node_dir == PH_LN_I2R ? &s->ln.initiator : &s->ln.responder,
                               key);
        else
            snprintf(key, sizeof key, ".lnmsgs");
        size_t k = 0;
        while (k < ng && strcmp(g[k].node, key) != 0)
            k++;
        if (k == ng)
            snprintf(g[ng++].node, sizeof g->node, "%s", key);
        g[k].sessions++;
        g[k].messages += s->kept_messages[s->node_dir];
        g[k].node_bytes += s->ln.bytes[s->node_dir];
        g[k].bytes += session_bytes(s);
    }
    qsort(g, ng, sizeof *g, by_sessions);
    fprintf(f, "%zu sessions, %llu replayed: in each, %s\n", n, (unsigned long long)replayed,
            o->from ? "what --from sent" : "the side that sent more bytes");
    struct side_group rest = {.node = ""};
    for (size_t k = 0; k < ng; k++) {
        if (k >= 4) {
            rest.sessions += g[k].sessions;
            rest.messages += g[k].messages;
            rest.node_bytes += g[k].node_bytes;
            rest.bytes += g[k].bytes;
            continue;
        }
        char ss[32], m[32], a[32], b[32];
        fprintf(f, "  %s in %s session%s, %s messages (sent %s of %s bytes)\n", g[k].node,
                grouped(g[k].sessions, ss, sizeof ss), g[k].sessions == 1 ? "" : "s",
                grouped(g[k].messages, m, sizeof m), grouped(g[k].node_bytes, a, sizeof a),
                grouped(g[k].bytes, b, sizeof b));
    }
    if (ng > 4) {
        char ss[32], m[32], a[32], b[32];
        fprintf(f, "  %zu other endpoints in %s sessions, %s messages (sent %s of %s bytes)\n",
                ng - 4, grouped(rest.sessions, ss, sizeof ss), grouped(rest.messages, m, sizeof m),
                grouped(rest.node_bytes, a, sizeof a), grouped(rest.bytes, b, sizeof b));
    }
    if (skipped) {
        fprintf(f, "  not replayed: %llu session%s (", (unsigned long long)skipped,
                skipped == 1 ? "" : "s");
        /* The reasons, each with its count. */
        const char *reasons[4] = {0};
        uint64_t counts[4] = {0};
        size_t nr = 0;
        for (size_t i = 0; i < n; i++) {
            const char *why = not_replayed(ph_lninput_session(li, i), o);
            if (!why[0])
                continue;
            size_t k = 0;
            while (k < nr && strcmp(reasons[k], why) != 0)
                k++;
            if (k == nr && nr < 4)
                reasons[nr++] = why;
            if (k < nr)
                counts[k]++;
        }
        for (size_t k = 0; k < nr; k++)
            fprintf(f, "%s%s: %llu", k ? "; " : "", reasons[k], (unsigned long long)counts[k]);
        fprintf(f, ")\n");
    }
    free(g);
}

/* More than this many sessions get the grouped summary. */
#define SIDE_LINES_MAX 8

static void print_sides(const ph_lninput *li, const struct replay_opts *o, FILE *f)
{
    size_t n = ph_lninput_session_count(li);
    if (n > SIDE_LINES_MAX) {
        print_side_groups(li, o, f);
    } else {
        for (size_t i = 0; i < n; i++)
            print_session_side(ph_lninput_session(li, i), li, o, f);
    }
    fputc('\n', f);
}

static void job_done(void *ctx, size_t index, size_t finished)
{
    const size_t *n = ctx;
    (void)index;
    fprintf(stderr, "\rreplay: %zu of %zu strategies measured   ", finished, *n);
    fflush(stderr);
}

/* Each strategy in its own process, --jobs at a time; results in the
 * order named. */
static int run_strategies(struct replay_opts *o, const ph_replay_input *in,
                          char names[][PH_REPORT_NAME_MAX], size_t n, ph_report *r, int *status)
{
    unsigned jobs = o->jobs ? o->jobs : (unsigned)(sysconf(_SC_NPROCESSORS_ONLN) > 0
                                                       ? sysconf(_SC_NPROCESSORS_ONLN) : 1);
    if (jobs > n)
        jobs = (unsigned)n;
    r->options.jobs = jobs;
    /* Several children's progress lines would overwrite each other: the
     * parent counts finished strategies instead. */
    bool counting = jobs > 1 && o->cfg.progress;
    if (counting)
        o->cfg.progress = NULL;
    const char *list[16];
    ph_strategy_result *res = calloc(n, sizeof *res);
    ph_err *errs = calloc(n, sizeof *errs);
    char (*texts)[PH_REPLAY_ERR_MAX] = calloc(n, sizeof *texts);
    if (!res || !errs || !texts) {
        free(res);
        free(errs);
        free(texts);
        ph_cli_error("replay: out of memory");
        return PH_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = names[i];
    /* A failure to run children at all is in errs too. */
    (void)ph_replay_run_jobs(in, &o->cfg, list, n, jobs, res, errs, texts,
                             counting ? job_done : NULL, &n);
    if (counting || o->cfg.progress)
        fprintf(stderr, "\r%60s\r", "");
    int rc = PH_EXIT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (errs[i]) {
            ph_cli_error("replay: %s", texts[i][0] ? texts[i] : ph_strerror(errs[i]));
            rc = errs[i] == PH_ERR_ARG ? PH_EXIT_USAGE : PH_EXIT_PARTIAL;
            break;
        }
        if (res[i].mismatches)
            *status = PH_EXIT_PARTIAL;
        ph_report_add_strategy(r, &res[i]);
    }
    for (size_t i = 0; i < n; i++)
        ph_strategy_result_clear(&res[i]);
    free(res);
    free(errs);
    free(texts);
    return rc;
}

static int run_all(struct replay_opts *o, ph_replay_input *in, ph_lninput **li,
                   int input_status)
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
    if (add_sides(r, *li)) {
        ph_cli_error("replay: out of memory");
        ph_report_destroy(r);
        return PH_EXIT_USAGE;
    }
    /* Each strategy's child forks from here: it need not carry every
     * captured message a second time. */
    ph_lninput_destroy(*li);
    *li = NULL;
    int status = input_status;
    rc = run_strategies(o, in, names, nnames, r, &status);
    if (rc) {
        ph_report_destroy(r);
        return rc;
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

/* Captures and .lnmsgs files -> the replay input (the node under study's
 * side of each session), problems on stderr as each file is read. */
static int load_input(const struct replay_opts *o, ph_lninput **li, ph_replay_input **in)
{
    *li = NULL;
    *in = NULL;
    struct ph_endpoint from;
    if (o->from && ph_endpoint_parse(o->from, &from)) {
        ph_cli_error("replay: --from '%s' is not HOST:PORT (e.g. 127.0.0.1:9735 or [::1]:9735)",
                     o->from);
        return PH_EXIT_USAGE;
    }
    uint8_t *wanted = NULL;
    if (o->types && !(wanted = ph_tool_parse_types("replay", o->types)))
        return PH_EXIT_USAGE;
    struct ph_lninput_opts lo = {
        .keylog = o->keylog,
        .filter = o->filter,
        .types = wanted,
        .keep = true,
    };
    ph_err e = ph_lninput_create(li, &lo);
    free(wanted);
    if (e) {
        ph_cli_error("replay: out of memory");
        return PH_EXIT_USAGE;
    }
    size_t told = 0;
    ph_tool_print_problems(*li, &told, false);
    for (size_t i = 0; i < o->ncaptures && ph_tool_input_status(*li) != PH_EXIT_USAGE; i++) {
        ph_lninput_read(*li, o->captures[i]);
        ph_tool_print_problems(*li, &told, false);
    }
    int status = ph_tool_input_status(*li);
    if (status == PH_EXIT_USAGE)
        return status;
    if (ph_lninput_replay_input(*li, o->from ? &from : NULL, in)) {
        ph_cli_error("replay: out of memory");
        return PH_EXIT_USAGE;
    }
    print_sides(*li, o, stdout);
    fflush(stdout);
    if (!ph_replay_input_count(*in)) {
        ph_cli_error("replay: no messages to replay in the input");
        return PH_EXIT_USAGE;
    }
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
    ph_lninput *li = NULL;
    ph_replay_input *in = NULL;
    int input_status = load_input(&o, &li, &in);
    if (input_status != PH_EXIT_USAGE)
        rc = run_all(&o, in, &li, input_status);
    else
        rc = input_status;
    ph_lninput_destroy(li);
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
