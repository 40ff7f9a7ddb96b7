/* peerheap peer: run a Lightning peer (the library's node.h) until a
 * signal, --exit-after-idle or --max-messages. Only options, key file,
 * signals and printing live here. */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "atomicfile.h"
#include "cli.h"
#include "commands.h"
#include "ev.h"
#include "gossip.h"
#include "hex.h"
#include "json.h"
#include "log.h"
#include "node.h"
#include "nodemeter.h"
#include "noise.h"
#include "outq.h"
#include "peer.h"
#include "report.h"
#include "wbuf.h"

#define MAX_ADDRS 64

struct opts {
    const char *key_path;
    const char *listen[MAX_ADDRS];
    size_t nlisten;
    const char *connect[MAX_ADDRS];
    size_t nconnect;
    const char *network;
    const char *stats_json;
    bool force;                /* --force: --record and --stats-json may replace files */
    ph_node_config node;
    ph_log_level level;
};

static void log_line(void *ctx, ph_log_level level, const char *line)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %-5s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, ph_log_level_name(level), line);
}

/* ---- key file ---- */

/* A new key appears whole or not at all, mode 0600, and never over a file
 * that appeared meanwhile. */
static int create_key(const char *path, uint8_t priv[32])
{
    uint8_t pub[33];
    do {
        randombytes_buf(priv, 32);
    } while (ph_noise_pubkey(priv, pub) != PH_OK);
    ph_atomicfile *af;
    ph_err err = ph_atomicfile_open(&af, path, PH_ATOMICFILE_PRIVATE);
    if (err) {
        ph_cli_error("%s: cannot create key file: %s", path,
                     err == PH_ERR_IO ? strerror(errno) : ph_strerror(err));
        return PH_EXIT_USAGE;
    }
    char hex[66];
    ph_hex_encode(priv, 32, hex);
    hex[64] = '\n';
    bool ok = fwrite(hex, 1, 65, ph_atomicfile_stream(af)) == 65;
    sodium_memzero(hex, sizeof hex);
    if (!ok) {
        ph_atomicfile_abort(af);
        ph_cli_error("%s: cannot write key file", path);
        return PH_EXIT_USAGE;
    }
    if ((err = ph_atomicfile_commit(af)) != PH_OK) {
        ph_cli_error("%s: cannot write key file: %s", path,
                     err == PH_ERR_IO ? strerror(errno) : ph_strerror(err));
        return PH_EXIT_USAGE;
    }
    fprintf(stderr, "peerheap: created a new node key in %s (mode 0600)\n", path);
    return PH_EXIT_OK;
}

static int load_key(const char *path, uint8_t priv[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return create_key(path, priv);
    if (fd < 0) {
        ph_cli_error("%s: %s", path, strerror(errno));
        return PH_EXIT_USAGE;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ph_cli_error("%s: not a regular file", path);
        close(fd);
        return PH_EXIT_USAGE;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH)) {
        ph_cli_error("%s: key file is readable by group or others (mode %03o); "
                     "run: chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return PH_EXIT_USAGE;
    }
    char buf[200];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        ph_cli_error("%s: %s", path, strerror(errno));
        return PH_EXIT_USAGE;
    }
    size_t len = (size_t)n;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    buf[len] = 0;
    uint8_t pub[33];
    bool ok = len == 64 && ph_hex_decode_fixed(buf, priv, 32) == PH_OK &&
              ph_noise_pubkey(priv, pub) == PH_OK;
    sodium_memzero(buf, sizeof buf);
    if (!ok) {
        ph_cli_error("%s: expected 64 hex digits (a valid secp256k1 private key)", path);
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

/* ---- options ---- */

static bool parse_seconds(const char *s, uint64_t *ns)
{
    double d;
    if (!ph_cli_parse_double(s, &d) || d < 0 || d > 1e9)
        return false;
    *ns = (uint64_t)(d * 1e9);
    return true;
}

static bool parse_size(const char *s, size_t *out)
{
    uint64_t v;
    if (!ph_cli_parse_u64(s, &v) || v > SIZE_MAX)
        return false;
    *out = (size_t)v;
    return true;
}

static int bad_value(const char *opt, const char *val)
{
    ph_cli_error("peer: invalid value '%s' for %s", val, opt);
    return PH_EXIT_USAGE;
}

enum {
    OPT_KEY = PH_OPT_BASE, OPT_LISTEN, OPT_CONNECT, OPT_STRATEGY, OPT_NETWORK, OPT_GOSSIP,
    OPT_KEYLOG, OPT_RECORD, OPT_DUMP_RECEIVED, OPT_ANNOUNCE, OPT_GOSSIP_FILTER, OPT_MAX_PEERS,
    OPT_QUEUE_SOFT, OPT_QUEUE_HARD, OPT_IN_RATE, OPT_PING_INTERVAL, OPT_PONG_TIMEOUT,
    OPT_HANDSHAKE_TIMEOUT, OPT_FRAME_TIMEOUT, OPT_PING_BURST, OPT_PING_RATE, OPT_LOG_LEVEL,
    OPT_EXIT_AFTER_IDLE, OPT_STATS_JSON, OPT_ENCODE, OPT_MAX_MESSAGES, OPT_FORCE, OPT_HELP,
};

static const struct option long_opts[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"strategy", required_argument, NULL, OPT_STRATEGY},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"gossip", required_argument, NULL, OPT_GOSSIP},
    {"keylog", required_argument, NULL, OPT_KEYLOG},
    {"record", required_argument, NULL, OPT_RECORD},
    {"dump-received", required_argument, NULL, OPT_DUMP_RECEIVED},
    {"announce", required_argument, NULL, OPT_ANNOUNCE},
    {"gossip-filter", required_argument, NULL, OPT_GOSSIP_FILTER},
    {"max-peers", required_argument, NULL, OPT_MAX_PEERS},
    {"queue-soft", required_argument, NULL, OPT_QUEUE_SOFT},
    {"queue-hard", required_argument, NULL, OPT_QUEUE_HARD},
    {"in-rate", required_argument, NULL, OPT_IN_RATE},
    {"ping-interval", required_argument, NULL, OPT_PING_INTERVAL},
    {"pong-timeout", required_argument, NULL, OPT_PONG_TIMEOUT},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
    {"ping-burst", required_argument, NULL, OPT_PING_BURST},
    {"ping-rate", required_argument, NULL, OPT_PING_RATE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"exit-after-idle", required_argument, NULL, OPT_EXIT_AFTER_IDLE},
    {"stats-json", required_argument, NULL, OPT_STATS_JSON},
    {"encode", required_argument, NULL, OPT_ENCODE},
    {"max-messages", required_argument, NULL, OPT_MAX_MESSAGES},
    {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int add_addr(const char **list, size_t *n, const char *opt, const char *v)
{
    if (*n == MAX_ADDRS)
        return bad_value(opt, v);
    list[(*n)++] = v;
    return PH_EXIT_OK;
}

/* Options that only store their value, and the gossip filter. */
static int set_plain(struct opts *o, int c, const char *v)
{
    ph_peer_config *pc = &o->node.peer;
    switch (c) {
    case OPT_KEY: o->key_path = v; break;
    case OPT_STRATEGY: o->node.strategy = v; break;
    case OPT_GOSSIP: o->node.gossip_file = v; break;
    case OPT_KEYLOG: o->node.keylog_path = v; break;
    case OPT_RECORD: o->node.record_path = v; break;
    case OPT_DUMP_RECEIVED: o->node.dump_path = v; break;
    case OPT_STATS_JSON: o->stats_json = v; break;
    case OPT_LISTEN: return add_addr(o->listen, &o->nlisten, "--listen", v);
    case OPT_CONNECT: return add_addr(o->connect, &o->nconnect, "--connect", v);
    case OPT_NETWORK:
        o->network = v;
        return ph_gossip_chain_hash(v, pc->chain_hash) == PH_OK ? 0 : bad_value("--network", v);
    case OPT_ANNOUNCE:
        if (strlen(v) > 32) {
            ph_cli_error("peer: --announce: the alias is at most 32 bytes");
            return PH_EXIT_USAGE;
        }
        o->node.announce_alias = v;
        break;
    case OPT_GOSSIP_FILTER:
        if (!strcmp(v, "all"))
            pc->filter = PH_PEER_FILTER_ALL;
        else if (!strcmp(v, "new"))
            pc->filter = PH_PEER_FILTER_NEW;
        else if (!strcmp(v, "none"))
            pc->filter = PH_PEER_FILTER_NONE;
        else
            return bad_value("--gossip-filter", v);
        break;
    default: return -1;
    }
    return PH_EXIT_OK;
}

/* Options with a number (or a level or policy); false when it is refused. */
static bool set_number(struct opts *o, int c, const char *v)
{
    ph_peer_config *pc = &o->node.peer;
    switch (c) {
    case OPT_MAX_PEERS: return parse_size(v, &o->node.max_peers) && o->node.max_peers;
    case OPT_QUEUE_SOFT: return parse_size(v, &pc->outq.soft_cap) && pc->outq.soft_cap;
    case OPT_QUEUE_HARD: return parse_size(v, &pc->outq.hard_cap) && pc->outq.hard_cap;
    case OPT_IN_RATE: return ph_cli_parse_u64(v, &pc->in_rate);
    case OPT_PING_INTERVAL: return parse_seconds(v, &pc->ping_interval_ns);
    case OPT_PONG_TIMEOUT: return parse_seconds(v, &pc->pong_timeout_ns) && pc->pong_timeout_ns;
    case OPT_HANDSHAKE_TIMEOUT:
        return parse_seconds(v, &pc->handshake_timeout_ns) && pc->handshake_timeout_ns;
    case OPT_FRAME_TIMEOUT: return parse_seconds(v, &pc->frame_timeout_ns);
    case OPT_PING_BURST: return ph_cli_parse_double(v, &pc->ping_burst) && pc->ping_burst >= 0;
    case OPT_PING_RATE: return ph_cli_parse_double(v, &pc->ping_rate) && pc->ping_rate >= 0;
    case OPT_LOG_LEVEL: return ph_log_level_parse(v, &o->level) == PH_OK;
    case OPT_EXIT_AFTER_IDLE:
        return parse_seconds(v, &o->node.exit_after_idle_ns) && o->node.exit_after_idle_ns;
    case OPT_ENCODE: return ph_encode_policy_parse(v, &pc->encode);
    case OPT_MAX_MESSAGES:
        return ph_cli_parse_u64(v, &o->node.max_messages) && o->node.max_messages;
    default: return false;
    }
}

static const char *long_name(int c)
{
    for (const struct option *lo = long_opts; lo->name; lo++)
        if (lo->val == c)
            return lo->name;
    return "?";
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    ph_peer_config_default(&o->node.peer);
    o->network = "mainnet";
    o->level = PH_LOG_INFO;
    o->node.strategy = PH_NODE_DEFAULT_STRATEGY;
    ph_cli_getopt_reset();
    int c;
    char name[64];
    while ((c = getopt_long(argc, argv, "-:h", long_opts, NULL)) != -1) {
        if (c == 'h' || c == OPT_HELP) {
            fputs(ph_cmd_peer.help, stdout);
            return -1;
        }
        if (c == OPT_FORCE) {
            o->force = true;
            continue;
        }
        if (c == ':') {
            ph_cli_error("peer: %s needs a value (try 'peerheap peer --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        }
        if (c == 1) {
            ph_cli_error("peer: unexpected argument '%s' (try 'peerheap peer --help')", optarg);
            return PH_EXIT_USAGE;
        }
        if (c == '?') {
            ph_cli_error("peer: unknown option '%s' (try 'peerheap peer --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        }
        int rc = set_plain(o, c, optarg);
        if (rc > 0)
            return rc;
        if (rc < 0 && !set_number(o, c, optarg)) {
            snprintf(name, sizeof name, "--%s", long_name(c));
            return bad_value(name, optarg);
        }
    }
    if (optind < argc) {
        ph_cli_error("peer: unexpected argument '%s' (try 'peerheap peer --help')", argv[optind]);
        return PH_EXIT_USAGE;
    }
    if (!o->key_path) {
        ph_cli_error("peer: --key FILE is required");
        return PH_EXIT_USAGE;
    }
    if (!o->nlisten && !o->nconnect) {
        ph_cli_error("peer: give at least one --listen or --connect");
        return PH_EXIT_USAGE;
    }
    bool known = false;
    for (const char *const *n = ph_wbuf_names(); *n; n++)
        known = known || !strcmp(*n, o->node.strategy);
    if (!known)
        return bad_value("--strategy", o->node.strategy);
    for (size_t i = 0; i < o->nconnect; i++) {
        uint8_t pub[33];
        char hp[300];
        if (ph_node_parse_target(o->connect[i], pub, hp, sizeof hp) != PH_OK) {
            ph_cli_error("peer: --connect wants PUBKEY@HOST:PORT (66 hex digits), got '%s'",
                         o->connect[i]);
            return PH_EXIT_USAGE;
        }
    }
    return PH_EXIT_OK;
}

/* ---- signals and counters ---- */

struct run {
    ph_ev *ev;
    ph_node *node;
    int sigfd;
};

static void print_counts(const char *dir, const ph_msgcount *c)
{
    for (unsigned t = 0; t < PH_MSGTYPE__COUNT; t++)
        if (c[t].msgs)
            fprintf(stderr, "    %s %-28s %10llu msgs %12llu bytes\n", dir,
                    ph_msgtype_slot_name(t), (unsigned long long)c[t].msgs,
                    (unsigned long long)c[t].bytes);
}

static void print_stats(ph_node *n)
{
    ph_node_stats ns;
    ph_node_get_stats(n, &ns);
    fprintf(stderr,
            "peerheap: %zu peers (accepted %llu, refused %llu, connects %llu, failed %llu, "
            "closed %llu), messages in %llu, gossip in %llu, relayed %llu\n",
            ns.peers, (unsigned long long)ns.accepted, (unsigned long long)ns.refused,
            (unsigned long long)ns.connects, (unsigned long long)ns.connect_failures,
            (unsigned long long)ns.closed, (unsigned long long)ns.messages_in,
            (unsigned long long)ns.gossip_in, (unsigned long long)ns.relayed);
    for (size_t i = 0; i < ph_node_peer_count(n); i++) {
        ph_peer *p = ph_node_peer_at(n, i);
        ph_peer_stats st;
        ph_peer_get_stats(p, &st);
        fprintf(stderr,
                "  peer %u %s %s %s: in %llu msgs %llu bytes, out %llu msgs %llu bytes, "
                "queue %llu msgs %llu bytes, write buffers held %zu bytes, relay dropped %llu, "
                "pings answered %llu ignored %llu\n",
                ph_peer_id(p), ph_peer_addr(p), ph_peer_outbound(p) ? "out" : "in",
                ph_peer_state_name(ph_peer_get_state(p)), (unsigned long long)st.msgs_in,
                (unsigned long long)st.bytes_in, (unsigned long long)st.out.msgs_out,
                (unsigned long long)st.out.bytes_out, (unsigned long long)st.out.queued_msgs,
                (unsigned long long)st.out.queued_bytes, st.out.wbuf_held,
                (unsigned long long)st.out.relay_dropped,
                (unsigned long long)st.pings_answered,
                (unsigned long long)(st.pings_ignored_flood + st.pings_ignored_large));
        print_counts("in ", st.in);
        print_counts("out", st.out.out);
    }
}

static void signal_cb(ph_ev *ev, int fd, unsigned events, void *ctx)
{
    (void)ev;
    (void)events;
    struct run *r = ctx;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGUSR1) {
            print_stats(r->node);
            continue;
        }
        if (!ph_node_shutting_down(r->node)) {
            fprintf(stderr, "peerheap: %s: closing every session\n", strsignal((int)si.ssi_signo));
            ph_node_shutdown(r->node);
        } else {
            ph_ev_stop(r->ev); /* a second signal: stop waiting for goodbyes */
        }
    }
}

static int setup_signals(struct run *r)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    r->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r->sigfd < 0)
        return -1;
    return ph_ev_add_fd(r->ev, r->sigfd, PH_EV_READ, signal_cb, r) == PH_OK ? 0 : -1;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- --stats-json ---- */

/* The node's write-path figures as a one-strategy report: the schema of
 * `peerheap replay --json`, so diff and gate read it too. Written to the
 * atomic file opened at start (it refused an existing file then, unless
 * --force), renamed into place here. */
static int write_stats(ph_atomicfile *af, ph_nodemeter *meter, ph_node *node,
                       const struct opts *o, double wall_s, double cpu_s)
{
    ph_node_stats ns;
    ph_node_get_stats(node, &ns);
    size_t peers = (size_t)(ns.accepted + ns.connects);
    ph_strategy_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.name, sizeof res.name, "%s", o->node.strategy);
    ph_report *r = NULL;
    int rc = PH_EXIT_USAGE;
    /* Only out of memory fails here: reported below like the others. */
    if (ph_nodemeter_finish(meter, node, peers, &res) != PH_OK)
        goto out;
    res.wall_seconds = wall_s;
    res.cpu_seconds = cpu_s;
    res.writes_per_second = wall_s > 0 ? (double)res.writes / wall_s : 0;
    res.mib_per_second = wall_s > 0 ? (double)res.write_bytes / wall_s / 1048576.0 : 0;
    if (ph_report_create(&r) != PH_OK)
        goto out;
    snprintf(r->version, sizeof r->version, "%s", PH_VERSION);
    r->options.peers = peers;
    snprintf(r->options.sink, sizeof r->options.sink, "socket");
    snprintf(r->options.pace, sizeof r->options.pace, "live");
    snprintf(r->options.encode, sizeof r->options.encode, "%s",
             ph_encode_policy_name(o->node.peer.encode));
    r->options.queue_soft = o->node.peer.outq.soft_cap;
    r->options.queue_hard = o->node.peer.outq.hard_cap;
    if (ph_report_add_strategy(r, &res) != PH_OK)
        goto out;
    rc = ph_cli_output_finish("peer", af, o->stats_json,
                              ph_report_write_json(r, ph_atomicfile_stream(af)));
    af = NULL;
out:
    if (af) {
        ph_atomicfile_abort(af);
        ph_cli_error("peer: --stats-json %s: not written (out of memory or write error)",
                     o->stats_json);
    }
    ph_report_destroy(r);
    ph_strategy_result_clear(&res);
    return rc;
}

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- main ---- */

static int run_peer(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_args(argc, argv, &o);
    if (rc < 0)
        return PH_EXIT_OK;
    if (rc)
        return rc;
    /* Outputs that may not be replaced stop the peer before anything is
     * created (the node checks --record again when it opens it). */
    struct stat st;
    if (o.node.record_path && !o.force && stat(o.node.record_path, &st) == 0) {
        ph_cli_error("peer: %s exists (--force replaces it)", o.node.record_path);
        return PH_EXIT_USAGE;
    }
    ph_atomicfile *stats_file = NULL;
    if (o.stats_json && !(stats_file = ph_cli_output_open("peer", o.stats_json, o.force, false)))
        return PH_EXIT_USAGE;
    if (ph_noise_global_init() != PH_OK) {
        ph_cli_error("peer: cannot initialise libsodium");
        ph_atomicfile_abort(stats_file);
        return PH_EXIT_USAGE;
    }
    if ((rc = load_key(o.key_path, o.node.priv)) != PH_EXIT_OK) {
        ph_atomicfile_abort(stats_file);
        return rc;
    }
    const char *env_keylog = getenv("LIGHTNINGKEYLOGFILE");
    if (!o.node.keylog_path && env_keylog && *env_keylog)
        o.node.keylog_path = env_keylog;
    if (o.node.keylog_path)
        fprintf(stderr, "peerheap: warning: the key log %s holds session secrets: anyone "
                "who has it can decrypt these sessions\n", o.node.keylog_path);
    o.node.log = (ph_logger){ .fn = log_line, .level = o.level };
    raise_nofile();

    struct run r = { .sigfd = -1 };
    ph_nodemeter *meter = NULL;
    o.node.replace_record = o.force;
    if (o.stats_json) {
        if (ph_nodemeter_create(&meter) != PH_OK) {
            ph_cli_error("peer: out of memory");
            ph_atomicfile_abort(stats_file);
            return PH_EXIT_USAGE;
        }
        ph_nodemeter_attach(meter, &o.node);
        if (ph_nodemeter_start(meter) != PH_OK)
            fprintf(stderr, "peerheap: warning: --stats-json: jemalloc's allocation hooks are "
                    "unavailable (sanitizer build?): write counters only\n");
    }
    double wall0 = now_s(CLOCK_MONOTONIC), cpu0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    ph_err err = ph_ev_create(&r.ev);
    if (err) {
        ph_cli_error("peer: event loop: %s", ph_strerror(err));
        ph_nodemeter_destroy(meter);
        ph_atomicfile_abort(stats_file);
        return PH_EXIT_USAGE;
    }
    char why[400];
    err = ph_node_create(&r.node, r.ev, &o.node, why, sizeof why);
    sodium_memzero(o.node.priv, sizeof o.node.priv);
    if (err) {
        if (err == PH_ERR_EXISTS)
            ph_cli_error("peer: %s exists (--force replaces it)", o.node.record_path);
        else
            ph_cli_error("peer: %s", why);
        ph_ev_destroy(r.ev);
        ph_nodemeter_destroy(meter);
        ph_atomicfile_abort(stats_file);
        return PH_EXIT_USAGE;
    }
    rc = PH_EXIT_OK;
    if (setup_signals(&r) < 0) {
        ph_cli_error("peer: cannot set up signal handling: %s", strerror(errno));
        rc = PH_EXIT_USAGE;
        goto out;
    }
    uint8_t pub[33];
    char hex[67];
    ph_node_id(r.node, pub);
    ph_hex_encode(pub, 33, hex);
    printf("node_id %s\n", hex);
    for (size_t i = 0; i < o.nlisten; i++) {
        char bound[80];
        err = ph_node_listen(r.node, o.listen[i], bound, sizeof bound);
        if (err) {
            ph_cli_error("peer: --listen %s: %s%s%s", o.listen[i], ph_strerror(err),
                         err == PH_ERR_IO ? ": " : "", err == PH_ERR_IO ? strerror(errno) : "");
            rc = PH_EXIT_USAGE;
            goto out;
        }
        printf("listening %s\n", bound);
    }
    fflush(stdout);
    /* Set-up (preload, our own gossip, listeners) is measured apart: the
     * figures and the peak are those of serving. */
    if (meter) {
        ph_nodemeter_mark_peers(meter);
        ph_nodemeter_mark_phase(meter);
    }
    for (size_t i = 0; i < o.nconnect; i++) {
        err = ph_node_connect(r.node, o.connect[i]);
        if (err) {
            ph_cli_error("peer: --connect %s: %s%s%s", o.connect[i], ph_strerror(err),
                         err == PH_ERR_IO ? ": " : "", err == PH_ERR_IO ? strerror(errno) : "");
            rc = PH_EXIT_PARTIAL;
        }
    }
    if (ph_node_peer_count(r.node) == 0 && o.nlisten == 0)
        goto out;
    err = ph_ev_run(r.ev);
    if (err) {
        ph_cli_error("peer: event loop failed: %s", strerror(errno));
        rc = PH_EXIT_PARTIAL;
    }
    ph_node_stats ns;
    ph_node_get_stats(r.node, &ns);
    if (ns.connect_failures && rc == PH_EXIT_OK)
        rc = PH_EXIT_PARTIAL;
    if (o.level >= PH_LOG_INFO)
        print_stats(r.node);
    if (meter) {
        int src = write_stats(stats_file, meter, r.node, &o, now_s(CLOCK_MONOTONIC) - wall0,
                              now_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
        stats_file = NULL;
        if (src && rc == PH_EXIT_OK)
            rc = src;
    }
out:
    ph_atomicfile_abort(stats_file); /* NULL once written */
    ph_node_destroy(r.node);
    if (r.sigfd >= 0) {
        ph_ev_del_fd(r.ev, r.sigfd);
        close(r.sigfd);
    }
    ph_ev_destroy(r.ev);
    ph_nodemeter_destroy(meter);
    return rc;
}

const struct ph_command ph_cmd_peer = {
    .name = "peer",
    .summary = "run a Lightning peer (BOLT 8 transport, init, ping, gossip relay)",
    .run = run_peer,
    .help =
        "usage: peerheap peer --key FILE [--listen HOST:PORT]... [--connect PUBKEY@HOST:PORT]...\n"
        "                     [options]\n"
        "\n"
        "Run a Lightning peer on one event loop: BOLT 8 handshake and transport, init\n"
        "(features: gossip_queries and the bits BOLT 9 marks ASSUMED, all optional),\n"
        "ping/pong, and a gossip store that validates, stores and relays BOLT 7 gossip\n"
        "and answers gossip_timestamp_filter, query_channel_range and\n"
        "query_short_channel_ids. Every outgoing message goes through the write-buffer\n"
        "strategy chosen with --strategy.\n"
        "\n"
        "Prints 'node_id <66 hex>' and one 'listening HOST:PORT' line per listener on\n"
        "stdout at start; logs one line per event on stderr. SIGINT/SIGTERM close every\n"
        "session cleanly (exit 0); SIGUSR1 prints per-peer counters on stderr.\n"
        "\n"
        "  --key FILE             node private key, 64 hex digits; created (mode 0600)\n"
        "                         when missing; refused if readable by group or others\n"
        "  --listen HOST:PORT     listen (repeatable); a bare PORT means 127.0.0.1:PORT;\n"
        "                         port 0 picks a free port (see the 'listening' line)\n"
        "  --connect ID@HOST:PORT connect to a node (repeatable)\n"
        "  --strategy NAME        write-buffer strategy: fresh, exact, reuse, pool, ring,\n"
        "                         tiered (default exact)\n"
        "  --network NAME         mainnet, testnet, signet or regtest (default mainnet)\n"
        "  --gossip FILE.lnmsgs   preload gossip ([u16 length][message] records). Preloaded\n"
        "                         gossip is TRUSTED: served verbatim, in file order, never\n"
        "                         checked against the strict rules; the log says how many\n"
        "                         messages a strict store would have refused and why\n"
        "  --gossip-filter MODE   gossip_timestamp_filter we send to peers that offer\n"
        "                         gossip_queries: all (default), new, none\n"
        "  --dump-received FILE   append every gossip message received, as .lnmsgs\n"
        "                         (append-only: flushed per message, never replaced)\n"
        "  --announce ALIAS       sign and serve our own gossip: a node_announcement\n"
        "                         and a synthetic channel 1x0x0 to a key derived from\n"
        "                         ours (announcement + both updates; no funding\n"
        "                         output exists), so peers can verify our signatures\n"
        "  --keylog FILE          append session keys (key-log format; also enabled by the\n"
        "                         LIGHTNINGKEYLOGFILE environment variable). Holds secrets\n"
        "  --record FILE.pcap     record every session as a pcap file (written to a\n"
        "                         temporary file, renamed into place at exit)\n"
        "  --stats-json FILE      at exit, write the write-path figures (writes, write\n"
        "                         buffers, allocations by row and type, peak live) in\n"
        "                         the schema of 'peerheap replay --json'; set-up (the\n"
        "                         preload) is measured apart from serving\n"
        "  --force                let --record and --stats-json replace existing files\n"
        "                         (without it an existing file is an error, exit 2)\n"
        "  --encode POLICY        stored (default): copy stored wire bytes into the\n"
        "                         write buffer; per-write: decode, then encode into\n"
        "                         each write buffer (lnd's writeMessage)\n"
        "  --max-peers N          most peers at once (default 1024)\n"
        "  --queue-soft BYTES     per-peer queued bytes above which relayed gossip is\n"
        "                         dropped (default 1048576)\n"
        "  --queue-hard BYTES     per-peer queued bytes above which the peer is\n"
        "                         disconnected (default 16777216)\n"
        "  --in-rate BYTES/S      inbound bytes per second per peer (default unlimited)\n"
        "  --ping-interval S      send a ping this often, 0 = never (default 60)\n"
        "  --pong-timeout S       disconnect when a pong is this late (default 30)\n"
        "  --handshake-timeout S  limit for handshake + init (default 10)\n"
        "  --frame-timeout S      after init, limit for one frame from its first byte\n"
        "                         to its last, 0 = none (default 20)\n"
        "  --ping-burst N         pings answered in a burst (default 1500)\n"
        "  --ping-rate N/S        pings answered per second after a burst (default 10)\n"
        "  --log-level LEVEL      error, warn, info (default) or debug\n"
        "  --exit-after-idle S    shut down after S seconds without traffic\n"
        "  --max-messages N       shut down after receiving N messages (every message\n"
        "                         counts, init and pings included)\n"
        "\n"
        "Exit status: 0 after a clean shutdown, 1 when a --connect never got as far as\n"
        "init, 2 on bad options or an unusable key file.\n",
};
