/* peerheap replay: options, input loading, one isolated run per strategy,
 * then the table and the optional JSON / CSV / SVG files. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "commands.h"
#include "digest.h"
#include "input.h"
#include "lninput.h"
#include "peer.h"
#include "replay.h"
#include "replaycli.h"
#include "replay_view.h"
#include "report.h"
#include "reporthtml.h"
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
    "  --peers N|LIST       simulated peers; peer i replays session i mod S (default S);\n"
    "                       a list (1,10,100,1000) runs the replay at each count and\n"
    "                       prints held per peer, end and peak live, writes/s against peers\n"
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
    "  --svg FILE           plot live heap over time, one line per strategy (a sweep:\n"
    "                       memory against peers)\n"
    "  --html FILE          one self-contained page: table, plots, per-peer bars,\n"
    "                       breakdown by row and type, GC collections\n"
    "  --gc-model go[:GOGC] keep freed blocks allocated until Go's collector would run\n"
    "                       (heap goal: live after the last collection x (1 + GOGC/100),\n"
    "                       at least 4 MiB x GOGC/100; GOGC default 100, off: never)\n"
    "  --prof DIR           jemalloc heap profiles of each strategy's run, from the\n"
    "                       node's creation: DIR/STRATEGY.heap (end), DIR/STRATEGY.peak.heap\n"
    "                       (peak), for jeprof (peerheap restarts itself to turn them on)\n"
    "  --timeline-peers N   per-peer series (held, queued, buffers) for the N costliest\n"
    "                       peers in --csv, --svg and --html\n"
    "  --top N              print the N costliest message types and, where a strategy\n"
    "                       holds memory per peer, the N costliest peers\n"
    "  --jobs N             strategies measured at once, each in its own process\n"
    "                       (default: the number of cores); every figure but the\n"
    "                       times is the same whatever N is\n"
    "  --force              let --json, --csv, --svg, --html and --prof's profiles\n"
    "                       replace existing files (without it an existing file stops\n"
    "                       the replay, exit 2; each file is written to a temporary\n"
    "                       file and renamed)\n"
    "  --quiet              no progress line\n"
    "\n"
    "exit status: 0 ok, 1 some input could not be decrypted or a check failed,\n"
    "2 bad options or unusable input.\n";

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

enum {
    OPT_KEYLOG = PH_OPT_BASE, OPT_FILTER, OPT_FROM, OPT_TYPES, OPT_STRATEGY, OPT_PEERS,
    OPT_TRANSPORT, OPT_SINK, OPT_ENCODE, OPT_LINGER, OPT_PACE, OPT_READER_RATE, OPT_STALLED,
    OPT_QUEUE_SOFT, OPT_QUEUE_HARD, OPT_POOL_WORKERS, OPT_POOL_EXPIRY, OPT_MODEL_BUFFER,
    OPT_VERIFY, OPT_JSON, OPT_CSV, OPT_SVG, OPT_QUIET, OPT_FORCE, OPT_JOBS,
};

const struct option ph_replay_cli_options[] = {
    {"keylog", required_argument, NULL, OPT_KEYLOG},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"from", required_argument, NULL, OPT_FROM},
    {"types", required_argument, NULL, OPT_TYPES},
    {"strategy", required_argument, NULL, OPT_STRATEGY},
    {"peers", required_argument, NULL, OPT_PEERS},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"sink", required_argument, NULL, OPT_SINK},
    {"encode", required_argument, NULL, OPT_ENCODE},
    {"linger", required_argument, NULL, OPT_LINGER},
    {"pace", required_argument, NULL, OPT_PACE},
    {"reader-rate", required_argument, NULL, OPT_READER_RATE},
    {"stalled", required_argument, NULL, OPT_STALLED},
    {"queue-soft", required_argument, NULL, OPT_QUEUE_SOFT},
    {"queue-hard", required_argument, NULL, OPT_QUEUE_HARD},
    {"pool-workers", required_argument, NULL, OPT_POOL_WORKERS},
    {"pool-expiry", required_argument, NULL, OPT_POOL_EXPIRY},
    {"model-buffer", required_argument, NULL, OPT_MODEL_BUFFER},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"json", required_argument, NULL, OPT_JSON},
    {"csv", required_argument, NULL, OPT_CSV},
    {"svg", required_argument, NULL, OPT_SVG},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"force", no_argument, NULL, OPT_FORCE},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {NULL, 0, NULL, 0},
};

_Static_assert((int)OPT_JOBS < (int)PH_REPLAY_OPT_END, "replay option codes overflow their range");

/* Options that take a number; false when the value is refused. */
static bool parse_number_opt(int code, const char *val, struct ph_replay_cli *o)
{
    uint64_t v;
    double d;
    if (code == OPT_POOL_EXPIRY) {
        if (!ph_cli_parse_double(val, &d) || d <= 0)
            return false;
        o->cfg.wbuf.pool_expiry_ns = (uint64_t)(d * 1e9);
        return true;
    }
    if (code == OPT_LINGER) {
        if (!ph_cli_parse_double(val, &d) || d < 0 || d > 1e6)
            return false;
        o->cfg.linger_ns = (uint64_t)(d * 1e9);
        return true;
    }
    if (!ph_cli_parse_u64(val, &v))
        return false;
    switch (code) {
    case OPT_PEERS: o->cfg.peers = (size_t)v; return v > 0 && v <= 1000000;
    case OPT_READER_RATE: o->cfg.reader_rate = v; return v > 0;
    case OPT_STALLED: o->cfg.stalled = (size_t)v; return true;
    case OPT_QUEUE_SOFT: o->cfg.queue_soft = v; return true;
    case OPT_QUEUE_HARD: o->cfg.queue_hard = v; return true;
    case OPT_POOL_WORKERS: o->cfg.wbuf.pool_workers = (size_t)v; return v > 0;
    case OPT_MODEL_BUFFER: o->cfg.model_buffer = (size_t)v; return v >= 4096;
    case OPT_JOBS: o->jobs = (unsigned)v; return v >= 1 && v <= 1024;
    default: return false;
    }
}

static const char *option_name(int code)
{
    for (const struct option *lo = ph_replay_cli_options; lo->name; lo++)
        if (lo->val == code)
            return lo->name;
    return "?";
}

/* Options with a word or a path for a value. */
static int set_word_opt(struct ph_replay_cli *o, const char *cmd, int code, const char *v)
{
    switch (code) {
    case OPT_KEYLOG: o->keylog = v; break;
    case OPT_FILTER: o->filter = v; break;
    case OPT_FROM: o->from = v; break;
    case OPT_TYPES: o->types = v; break;
    case OPT_STRATEGY: o->strategies = v; break;
    case OPT_JSON: o->json = v; break;
    case OPT_CSV: o->csv = v; break;
    case OPT_SVG: o->svg = v; break;
    case OPT_SINK:
    case OPT_TRANSPORT:
        if (strcmp(v, "socket") != 0 && strcmp(v, "model") != 0) {
            ph_cli_error("%s: --%s is 'socket' or 'model', not '%s'", cmd, option_name(code), v);
            return PH_EXIT_USAGE;
        }
        o->cfg.sink = v[0] == 'm' ? PH_SINK_MODEL : PH_SINK_SOCKET;
        o->transport_given = true;
        break;
    case OPT_ENCODE: {
        ph_encode_policy ep;
        if (!ph_encode_policy_parse(v, &ep)) {
            ph_cli_error("%s: --encode is 'stored' or 'per-write', not '%s'", cmd, v);
            return PH_EXIT_USAGE;
        }
        o->cfg.encode = (int)ep;
        break;
    }
    case OPT_PACE:
        if (!parse_pace(v, &o->cfg)) {
            ph_cli_error("%s: --pace is asap, capture or xK (e.g. x10), not '%s'", cmd, v);
            return PH_EXIT_USAGE;
        }
        break;
    default:
        return -1;
    }
    return PH_EXIT_OK;
}

int ph_replay_cli_option(struct ph_replay_cli *o, const char *cmd, int code, const char *arg)
{
    switch (code) {
    case 1: o->captures[o->ncaptures++] = arg; return PH_EXIT_OK;
    case OPT_VERIFY: o->cfg.verify = true; return PH_EXIT_OK;
    case OPT_QUIET: o->quiet = true; return PH_EXIT_OK;
    case OPT_FORCE: o->force = true; return PH_EXIT_OK;
    default: break;
    }
    int rc = set_word_opt(o, cmd, code, arg);
    if (rc >= 0)
        return rc;
    if (!parse_number_opt(code, arg, o)) {
        ph_cli_error("%s: invalid value '%s' for --%s", cmd, arg, option_name(code));
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

int ph_replay_cli_init(struct ph_replay_cli *o, int argc, const char *cmd)
{
    memset(o, 0, sizeof *o);
    o->captures = calloc((size_t)argc + 1, sizeof *o->captures);
    if (!o->captures) {
        ph_cli_error("%s: out of memory", cmd);
        return PH_EXIT_USAGE;
    }
    o->strategies = "all";
    o->cfg.sink = PH_SINK_SOCKET;
    o->cfg.linger_ns = UINT64_MAX;
    return PH_EXIT_OK;
}

void ph_replay_cli_free(struct ph_replay_cli *o)
{
    free(o->captures);
    o->captures = NULL;
}

/* replay's own options, not gate's: the heap-growth views (replay_view.h).
 * --peers is shared, but replay also takes a list (a sweep). */
enum {
    OPT_GC_MODEL = PH_REPLAY_OPT_END, OPT_PROF, OPT_TIMELINE_PEERS, OPT_TOP, OPT_HTML,
};

static const struct option view_options[] = {
    {"gc-model", required_argument, NULL, OPT_GC_MODEL},
    {"prof", required_argument, NULL, OPT_PROF},
    {"timeline-peers", required_argument, NULL, OPT_TIMELINE_PEERS},
    {"top", required_argument, NULL, OPT_TOP},
    {"html", required_argument, NULL, OPT_HTML},
};

#define N_SHARED_OPTIONS (sizeof ph_replay_cli_options / sizeof ph_replay_cli_options[0] - 1)
#define N_VIEW_OPTIONS (sizeof view_options / sizeof view_options[0])

/* The shared options, then replay's own, then the zero entry. */
static struct option replay_options[N_SHARED_OPTIONS + N_VIEW_OPTIONS + 1];

static void build_options(void)
{
    memcpy(replay_options, ph_replay_cli_options, N_SHARED_OPTIONS * sizeof *replay_options);
    memcpy(replay_options + N_SHARED_OPTIONS, view_options, sizeof view_options);
    memset(&replay_options[N_SHARED_OPTIONS + N_VIEW_OPTIONS], 0, sizeof *replay_options);
}

static int replay_option(struct ph_replay_cli *o, int c, const char *arg)
{
    if (c != OPT_PEERS && c < (int)PH_REPLAY_OPT_END)
        return ph_replay_cli_option(o, "replay", c, arg);
    char name[32] = "--peers";
    for (size_t i = 0; i < N_VIEW_OPTIONS; i++)
        if (view_options[i].val == c)
            snprintf(name, sizeof name, "--%s", view_options[i].name);
    int rc = ph_replay_view_option(name, arg, o->view, &o->cfg);
    return rc < 0 ? PH_EXIT_USAGE : rc;
}

static int parse_args(int argc, char **argv, struct ph_replay_cli *o, struct ph_replay_view *view)
{
    int rc = ph_replay_cli_init(o, argc, "replay");
    if (rc)
        return rc;
    memset(view, 0, sizeof *view);
    o->view = view;
    build_options();
    ph_cli_getopt_reset();
    int c;
    char name[64];
    while ((c = getopt_long(argc, argv, "-:", replay_options, NULL)) != -1) {
        if (c == ':') {
            ph_cli_error("replay: option '%s' needs a value (see 'peerheap replay --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        }
        if (c == '?') {
            ph_cli_error("replay: unknown option '%s' (see 'peerheap replay --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        }
        if ((rc = replay_option(o, c, optarg)))
            return rc;
    }
    for (; optind < argc; optind++) /* after "--" */
        o->captures[o->ncaptures++] = argv[optind];
    if (!o->ncaptures) {
        ph_cli_error("replay: no capture given (see 'peerheap replay --help')");
        return PH_EXIT_USAGE;
    }
    return ph_replay_view_prepare(view, &o->cfg, argc, argv);
}

/* Expands "all" and checks every name before anything runs. */
static int split_strategies(const char *cmd, const char *list, char names[][PH_REPORT_NAME_MAX],
                            size_t *n)
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
            ph_cli_error("%s: unknown strategy '%.*s' (known: fresh, exact, reuse, pool, "
                         "ring, tiered)", cmd, (int)len, p);
            return PH_EXIT_USAGE;
        }
        snprintf(names[(*n)++], PH_REPORT_NAME_MAX, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
    }
    if (!*n) {
        ph_cli_error("%s: --strategy names no strategy", cmd);
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

/* PH_ERR_NOMEM when a copied string could not be kept. */
static ph_err fill_report_header(ph_report *r, const struct ph_replay_cli *o,
                                 const ph_replay_input *in, size_t peers)
{
    ph_err err = PH_OK;
    for (size_t i = 0; i < o->ncaptures && !err; i++)
        err = ph_report_add_capture(r, o->captures[i]);
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
    if (!err)
        err = ph_report_set_types(r, o->types);
    r->options.queue_soft = o->cfg.queue_soft;
    r->options.queue_hard = o->cfg.queue_hard;
    if (!err)
        err = ph_report_set_filter(r, o->filter);
    r->options.pool_workers = o->cfg.wbuf.pool_workers;
    r->options.pool_expiry_seconds = (double)o->cfg.wbuf.pool_expiry_ns / 1e9;
    r->options.model_buffer = o->cfg.model_buffer;
    snprintf(r->options.encode, sizeof r->options.encode, "%s",
             ph_encode_policy_name((ph_encode_policy)o->cfg.encode));
    uint64_t linger = o->cfg.linger_ns;
    if (linger == UINT64_MAX)
        linger = o->cfg.sink == PH_SINK_MODEL ? 60000000000ull : 0;
    r->options.linger_seconds = (double)linger / 1e9;
    return err;
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
static const char *not_replayed(const struct ph_lninput_session *s, const struct ph_replay_cli *o)
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
                               const struct ph_replay_cli *o, FILE *f)
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

static void print_side_groups(const ph_lninput *li, const struct ph_replay_cli *o, FILE *f)
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

static void print_sides(const ph_lninput *li, const struct ph_replay_cli *o, FILE *f)
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

/* What the report was measured on: each input file and key log, once,
 * with its SHA-256 (a gate compares them with its baseline's). */
static ph_err add_digests(ph_report *r, const ph_lninput *li)
{
    size_t n = ph_lninput_file_count(li);
    for (size_t i = 0; i < n; i++) {
        const struct ph_lninput_file *f = ph_lninput_file(li, i);
        const char *paths[2] = {f->path, f->keylog};
        for (size_t k = 0; k < 2; k++) {
            if (!paths[k])
                continue;
            bool seen = false;
            for (size_t j = 0; j < r->input.n_files; j++)
                seen |= strcmp(r->input.files[j].path, paths[k]) == 0;
            char hex[65];
            /* an input that cannot be read again (a pipe) has no digest */
            if (seen || ph_sha256_file(paths[k], hex) != PH_OK)
                continue;
            ph_err e = ph_report_add_file(r, paths[k], hex);
            if (e)
                return e;
        }
    }
    return PH_OK;
}

static void job_done(void *ctx, size_t index, size_t finished)
{
    const size_t *n = ctx;
    (void)index;
    fprintf(stderr, "\rreplay: %zu of %zu strategies measured   ", finished, *n);
    fflush(stderr);
}

/* Each strategy in its own process at the configured peer count, --jobs
 * at a time, into the report (and its sweep) in the order named. 0, or the
 * exit status after printing one line. */
static int measure_strategies(struct ph_replay_cli *o, const char *cmd, const ph_replay_input *in,
                              char names[][PH_REPORT_NAME_MAX], size_t n, ph_report *r,
                              bool sweep, int *status)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = o->jobs ? o->jobs : (unsigned)(cores > 0 ? cores : 1);
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
    int rc = PH_EXIT_OK;
    if (!res || !errs || !texts) {
        ph_cli_error("%s: out of memory", cmd);
        rc = PH_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        list[i] = names[i];
    /* A failure to run children at all is in errs too, read below. */
    ph_ignore_err(ph_replay_run_jobs(in, &o->cfg, list, n, jobs, res, errs, texts,
                             counting ? job_done : NULL, &n));
    if (counting || o->cfg.progress)
        fprintf(stderr, "\r%60s\r", "");
    for (size_t i = 0; i < n && !rc; i++) {
        if (errs[i]) {
            ph_cli_error("%s: %s", cmd, texts[i][0] ? texts[i] : ph_strerror(errs[i]));
            rc = errs[i] == PH_ERR_ARG ? PH_EXIT_USAGE : PH_EXIT_PARTIAL;
            break;
        }
        if (res[i].mismatches)
            *status = PH_EXIT_PARTIAL;
        ph_err e = ph_report_add_strategy(r, &res[i]);
        if (!e && sweep)
            e = ph_report_add_sweep(r, o->cfg.peers, &res[i]);
        if (e) {
            ph_cli_error("%s: out of memory", cmd);
            rc = PH_EXIT_USAGE;
        }
    }
out:
    for (size_t i = 0; res && i < n; i++)
        ph_strategy_result_clear(&res[i]);
    free(res);
    free(errs);
    free(texts);
    return rc;
}

static int run_strategies(struct ph_replay_cli *o, const char *cmd, ph_replay_input *in,
                          ph_lninput **li, int input_status, ph_report **out)
{
    char names[16][PH_REPORT_NAME_MAX];
    size_t nnames;
    int rc = split_strategies(cmd, o->strategies, names, &nnames);
    if (rc)
        return rc;
    size_t peers = o->cfg.peers ? o->cfg.peers : ph_replay_input_sessions(in);
    /* a sweep (replay --peers LIST) runs at each count */
    size_t ncounts = o->view ? o->view->ncounts : 0;
    bool sweep = o->view && ph_replay_view_sweep(o->view);
    size_t fewest = peers, most = peers;
    for (size_t c = 0; c < ncounts; c++) {
        fewest = o->view->counts[c] < fewest ? (size_t)o->view->counts[c] : fewest;
        most = o->view->counts[c] > most ? (size_t)o->view->counts[c] : most;
    }
    if (o->cfg.stalled > fewest) {
        ph_cli_error("%s: --stalled %zu is more than the %zu peers", cmd, o->cfg.stalled, fewest);
        return PH_EXIT_USAGE;
    }
    if (o->cfg.sink == PH_SINK_SOCKET)
        raise_nofile(most);
    if (!o->quiet && isatty(STDERR_FILENO))
        o->cfg.progress = progress_line;
    ph_report *r;
    if (ph_report_create(&r))
        return PH_EXIT_USAGE;
    ph_err hdr_err = fill_report_header(r, o, in, peers);
    if (o->view)
        ph_replay_view_header(o->view, r);
    if (hdr_err || add_sides(r, *li) || add_digests(r, *li)) {
        ph_cli_error("%s: out of memory", cmd);
        ph_report_destroy(r);
        return PH_EXIT_USAGE;
    }
    /* Each strategy's child forks from here: it need not carry every
     * captured message a second time. */
    ph_lninput_destroy(*li);
    *li = NULL;
    int status = input_status;
    for (size_t c = 0; c < (sweep ? ncounts : 1); c++) {
        if (sweep) {
            /* each count its own replay; the table shows the last */
            o->cfg.peers = (size_t)o->view->counts[c];
            r->options.peers = o->view->counts[c];
            ph_report_clear_strategies(r);
        }
        if ((rc = measure_strategies(o, cmd, in, names, nnames, r, sweep, &status))) {
            ph_report_destroy(r);
            return rc;
        }
    }
    for (size_t i = 0; i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        if (s->mismatches)
            ph_cli_error("%s: %s: %llu frames did not arrive as captured (%llu different, "
                         "%llu missing); first: %s", cmd, s->name,
                         (unsigned long long)s->mismatches,
                         (unsigned long long)(s->mismatches - s->missing),
                         (unsigned long long)s->missing, s->verify_problem);
    }
    *out = r;
    return status;
}

/* Captures and .lnmsgs files -> the replay input (the node under study's
 * side of each session), problems on stderr as each file is read. */
static int load_input(const struct ph_replay_cli *o, const char *cmd, FILE *sides, ph_lninput **li,
                      ph_replay_input **in)
{
    *li = NULL;
    *in = NULL;
    struct ph_endpoint from;
    if (o->from && ph_endpoint_parse(o->from, &from)) {
        ph_cli_error("%s: --from '%s' is not HOST:PORT (e.g. 127.0.0.1:9735 or [::1]:9735)",
                     cmd, o->from);
        return PH_EXIT_USAGE;
    }
    uint8_t *wanted = NULL;
    if (o->types && !(wanted = ph_tool_parse_types(cmd, o->types)))
        return PH_EXIT_USAGE;
    struct ph_lninput_opts lo = {
        .keylog = o->keylog,
        .keylog_fallback = getenv("LIGHTNINGKEYLOGFILE"),
        .filter = o->filter,
        .types = wanted,
        .keep = true,
    };
    ph_err e = ph_lninput_create(li, &lo);
    free(wanted);
    if (e) {
        ph_cli_error("%s: out of memory", cmd);
        return PH_EXIT_USAGE;
    }
    size_t told = 0;
    ph_tool_print_problems(*li, &told, false);
    for (size_t i = 0; i < o->ncaptures && ph_tool_input_status(*li) != PH_EXIT_USAGE; i++) {
        /* A file's error is also recorded as a problem: printed here and
         * judged by ph_tool_input_status, as every problem is. */
        ph_ignore_err(ph_lninput_read(*li, o->captures[i]));
        ph_tool_print_problems(*li, &told, false);
    }
    int status = ph_tool_input_status(*li);
    if (status == PH_EXIT_USAGE)
        return status;
    if (ph_lninput_replay_input(*li, o->from ? &from : NULL, in)) {
        ph_cli_error("%s: out of memory", cmd);
        return PH_EXIT_USAGE;
    }
    if (sides) {
        print_sides(*li, o, sides);
        fflush(sides);
    }
    if (!ph_replay_input_count(*in)) {
        ph_cli_error("%s: no messages to replay in the input", cmd);
        return PH_EXIT_USAGE;
    }
    return status;
}

int ph_replay_cli_run(struct ph_replay_cli *o, const char *cmd, FILE *sides, ph_report **out)
{
    *out = NULL;
    ph_lninput *li = NULL;
    ph_replay_input *in = NULL;
    int rc = load_input(o, cmd, sides, &li, &in);
    if (rc != PH_EXIT_USAGE)
        rc = run_strategies(o, cmd, in, &li, rc, out);
    ph_lninput_destroy(li);
    ph_replay_input_destroy(in);
    return rc;
}

/* The output files, opened before the run (an existing file stops it
 * before any work), renamed into place after it. */
#define N_OUTPUTS 4

struct outputs {
    const char *path[N_OUTPUTS];
    ph_err (*write[N_OUTPUTS])(const ph_report *, FILE *);
    ph_atomicfile *file[N_OUTPUTS];
};

/* --prof: the profiles each strategy's run renames into DIR. */
static int check_profiles(const struct ph_replay_cli *o)
{
    if (!o->view || !o->view->prof || o->force)
        return PH_EXIT_OK;
    char names[16][PH_REPORT_NAME_MAX];
    size_t n;
    int rc = split_strategies("replay", o->strategies, names, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        for (int peak = 0; peak < 2; peak++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s%s.heap", o->view->prof, names[i],
                     peak ? ".peak" : "");
            if (access(path, F_OK) == 0) {
                ph_cli_error("replay: %s exists (--force replaces it)", path);
                return PH_EXIT_USAGE;
            }
        }
    }
    return rc;
}

static int open_outputs(struct outputs *out, const struct ph_replay_cli *o)
{
    *out = (struct outputs){
        .path = {o->json, o->csv, o->svg, o->view ? o->view->html : NULL},
        .write = {ph_report_write_json, ph_report_write_csv, ph_report_write_svg,
                  ph_report_write_html},
    };
    int rc = check_profiles(o);
    if (rc)
        return rc;
    for (size_t i = 0; i < N_OUTPUTS; i++)
        if (out->path[i] && !(out->file[i] = ph_cli_output_open("replay", out->path[i],
                                                                o->force, false)))
            return PH_EXIT_USAGE;
    return PH_EXIT_OK;
}

static int commit_outputs(struct outputs *out, const ph_report *r)
{
    int status = PH_EXIT_OK;
    for (size_t i = 0; i < N_OUTPUTS; i++) {
        ph_atomicfile *af = out->file[i];
        out->file[i] = NULL;
        if (!af)
            continue;
        if (!r) { /* the run failed and said why: nothing to write */
            ph_atomicfile_abort(af);
            continue;
        }
        int rc = ph_cli_output_finish("replay", af, out->path[i],
                                      out->write[i](r, ph_atomicfile_stream(af)));
        if (rc)
            status = rc;
    }
    return status;
}

static int cmd_replay(int argc, char **argv)
{
    struct ph_replay_cli o;
    struct ph_replay_view view;
    int rc = parse_args(argc, argv, &o, &view);
    struct outputs outs = {0};
    if (!rc)
        rc = open_outputs(&outs, &o);
    ph_report *r = NULL;
    if (!rc)
        rc = ph_replay_cli_run(&o, "replay", stdout, &r);
    if (r) {
        ph_err pe = ph_report_print_table(r, stdout);
        if (!pe)
            pe = ph_replay_view_print(&view, r, stdout);
        if (pe || fflush(stdout) != 0 || ferror(stdout)) {
            ph_cli_error("replay: write error on the standard output");
            if (!rc)
                rc = PH_EXIT_USAGE;
        }
    }
    int wrc = commit_outputs(&outs, rc == PH_EXIT_USAGE ? NULL : r);
    if (wrc)
        rc = wrc;
    ph_report_destroy(r);
    ph_replay_cli_free(&o);
    return rc;
}

const struct ph_command ph_cmd_replay = {
    .name = "replay",
    .summary = "replay captures through each write-buffer strategy and compare heap use",
    .run = cmd_replay,
    .help = replay_help,
};
