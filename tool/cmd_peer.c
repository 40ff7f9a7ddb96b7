/* peerheap peer: run a Lightning peer (the library's node.h) until a
 * signal, --exit-after-idle or --max-messages. Only options, key file,
 * signals and printing live here. */
#include <errno.h>
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

#include "cli.h"
#include "commands.h"
#include "ev.h"
#include "gossip.h"
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

static int create_key(const char *path, uint8_t priv[32])
{
    uint8_t pub[33];
    do {
        randombytes_buf(priv, 32);
    } while (ph_noise_pubkey(priv, pub) != PH_OK);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        ph_cli_error("%s: cannot create key file: %s", path, strerror(errno));
        return PH_EXIT_USAGE;
    }
    char hex[66];
    ph_hex_encode(priv, 32, hex);
    hex[64] = '\n';
    bool ok = write(fd, hex, 65) == 65;
    sodium_memzero(hex, sizeof hex);
    if (close(fd) < 0 || !ok) {
        ph_cli_error("%s: cannot write key file: %s", path, strerror(errno));
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

static int parse_args(int argc, char **argv, struct opts *o)
{
    ph_peer_config_default(&o->node.peer);
    o->network = "mainnet";
    o->level = PH_LOG_INFO;
    o->node.strategy = PH_NODE_DEFAULT_STRATEGY;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (ph_cli_is_help(a)) {
            fputs(ph_cmd_peer.help, stdout);
            return -1;
        }
        if (i + 1 >= argc) {
            ph_cli_error("peer: %s needs a value (try 'peerheap peer --help')", a);
            return PH_EXIT_USAGE;
        }
        const char *v = argv[++i];
        ph_peer_config *pc = &o->node.peer;
        if (!strcmp(a, "--key")) {
            o->key_path = v;
        } else if (!strcmp(a, "--listen")) {
            if (o->nlisten == MAX_ADDRS)
                return bad_value(a, v);
            o->listen[o->nlisten++] = v;
        } else if (!strcmp(a, "--connect")) {
            if (o->nconnect == MAX_ADDRS)
                return bad_value(a, v);
            o->connect[o->nconnect++] = v;
        } else if (!strcmp(a, "--strategy")) {
            o->node.strategy = v;
        } else if (!strcmp(a, "--network")) {
            o->network = v;
            if (ph_gossip_chain_hash(v, pc->chain_hash) != PH_OK)
                return bad_value(a, v);
        } else if (!strcmp(a, "--gossip")) {
            o->node.gossip_file = v;
        } else if (!strcmp(a, "--keylog")) {
            o->node.keylog_path = v;
        } else if (!strcmp(a, "--record")) {
            o->node.record_path = v;
        } else if (!strcmp(a, "--dump-received")) {
            o->node.dump_path = v;
        } else if (!strcmp(a, "--announce")) {
            if (strlen(v) > 32) {
                ph_cli_error("peer: --announce: the alias is at most 32 bytes");
                return PH_EXIT_USAGE;
            }
            o->node.announce_alias = v;
        } else if (!strcmp(a, "--gossip-filter")) {
            if (!strcmp(v, "all"))
                pc->filter = PH_PEER_FILTER_ALL;
            else if (!strcmp(v, "new"))
                pc->filter = PH_PEER_FILTER_NEW;
            else if (!strcmp(v, "none"))
                pc->filter = PH_PEER_FILTER_NONE;
            else
                return bad_value(a, v);
        } else if (!strcmp(a, "--max-peers")) {
            if (!parse_size(v, &o->node.max_peers) || !o->node.max_peers)
                return bad_value(a, v);
        } else if (!strcmp(a, "--queue-soft")) {
            if (!parse_size(v, &pc->outq.soft_cap) || !pc->outq.soft_cap)
                return bad_value(a, v);
        } else if (!strcmp(a, "--queue-hard")) {
            if (!parse_size(v, &pc->outq.hard_cap) || !pc->outq.hard_cap)
                return bad_value(a, v);
        } else if (!strcmp(a, "--in-rate")) {
            if (!ph_cli_parse_u64(v, &pc->in_rate))
                return bad_value(a, v);
        } else if (!strcmp(a, "--ping-interval")) {
            if (!parse_seconds(v, &pc->ping_interval_ns))
                return bad_value(a, v);
        } else if (!strcmp(a, "--pong-timeout")) {
            if (!parse_seconds(v, &pc->pong_timeout_ns) || !pc->pong_timeout_ns)
                return bad_value(a, v);
        } else if (!strcmp(a, "--frame-timeout")) {
            if (!parse_seconds(v, &pc->frame_timeout_ns))
                return bad_value(a, v);
        } else if (!strcmp(a, "--handshake-timeout")) {
            if (!parse_seconds(v, &pc->handshake_timeout_ns) || !pc->handshake_timeout_ns)
                return bad_value(a, v);
        } else if (!strcmp(a, "--ping-burst")) {
            if (!ph_cli_parse_double(v, &pc->ping_burst) || pc->ping_burst < 0)
                return bad_value(a, v);
        } else if (!strcmp(a, "--ping-rate")) {
            if (!ph_cli_parse_double(v, &pc->ping_rate) || pc->ping_rate < 0)
                return bad_value(a, v);
        } else if (!strcmp(a, "--log-level")) {
            if (ph_log_level_parse(v, &o->level) != PH_OK)
                return bad_value(a, v);
        } else if (!strcmp(a, "--exit-after-idle")) {
            if (!parse_seconds(v, &o->node.exit_after_idle_ns) || !o->node.exit_after_idle_ns)
                return bad_value(a, v);
        } else if (!strcmp(a, "--stats-json")) {
            o->stats_json = v;
        } else if (!strcmp(a, "--encode")) {
            if (!ph_encode_policy_parse(v, &pc->encode))
                return bad_value(a, v);
        } else if (!strcmp(a, "--max-messages")) {
            if (!ph_cli_parse_u64(v, &o->node.max_messages) || !o->node.max_messages)
                return bad_value(a, v);
        } else {
            ph_cli_error("peer: unknown option '%s' (try 'peerheap peer --help')", a);
            return PH_EXIT_USAGE;
        }
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
 * `peerheap replay --json`, so diff and gate read it too. Written to a
 * temporary file and renamed, so a reader never sees half a file. */
static int write_stats(const char *path, ph_nodemeter *meter, ph_node *node,
                       const struct opts *o, double wall_s, double cpu_s)
{
    ph_node_stats ns;
    ph_node_get_stats(node, &ns);
    size_t peers = (size_t)(ns.accepted + ns.connects);
    ph_strategy_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.name, sizeof res.name, "%s", o->node.strategy);
    ph_nodemeter_finish(meter, node, peers, &res);
    res.wall_seconds = wall_s;
    res.cpu_seconds = cpu_s;
    res.writes_per_second = wall_s > 0 ? (double)res.writes / wall_s : 0;
    res.mib_per_second = wall_s > 0 ? (double)res.write_bytes / wall_s / 1048576.0 : 0;
    ph_report *r = NULL;
    int rc = PH_EXIT_USAGE;
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
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        ph_cli_error("peer: --stats-json %s: %s", tmp, strerror(errno));
        goto out;
    }
    ph_err err = ph_report_write_json(r, f);
    if (fclose(f) || err || rename(tmp, path)) {
        ph_cli_error("peer: --stats-json %s: write failed", path);
        unlink(tmp);
        goto out;
    }
    rc = PH_EXIT_OK;
out:
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
    if (ph_noise_global_init() != PH_OK) {
        ph_cli_error("peer: cannot initialise libsodium");
        return PH_EXIT_USAGE;
    }
    if ((rc = load_key(o.key_path, o.node.priv)) != PH_EXIT_OK)
        return rc;
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
    if (o.stats_json) {
        if (ph_nodemeter_create(&meter) != PH_OK) {
            ph_cli_error("peer: out of memory");
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
        return PH_EXIT_USAGE;
    }
    char why[400];
    err = ph_node_create(&r.node, r.ev, &o.node, why, sizeof why);
    sodium_memzero(o.node.priv, sizeof o.node.priv);
    if (err) {
        ph_cli_error("peer: %s", why);
        ph_ev_destroy(r.ev);
        ph_nodemeter_destroy(meter);
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
        int src = write_stats(o.stats_json, meter, r.node, &o, now_s(CLOCK_MONOTONIC) - wall0,
                              now_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0);
        if (src && rc == PH_EXIT_OK)
            rc = src;
    }
out:
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
        "  --announce ALIAS       sign and serve our own gossip: a node_announcement\n"
        "                         and a synthetic channel 1x0x0 to a key derived from\n"
        "                         ours (announcement + both updates; no funding\n"
        "                         output exists), so peers can verify our signatures\n"
        "  --keylog FILE          append session keys (key-log format; also enabled by the\n"
        "                         LIGHTNINGKEYLOGFILE environment variable). Holds secrets\n"
        "  --record FILE.pcap     record every session as a pcap file\n"
        "  --stats-json FILE      at exit, write the write-path figures (writes, write\n"
        "                         buffers, allocations by row and type, peak live) in\n"
        "                         the schema of 'peerheap replay --json'; set-up (the\n"
        "                         preload) is measured apart from serving\n"
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
