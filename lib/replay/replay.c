/* The replay engine: the real node (node.h) over a transport, fed the
 * captured messages, measured allocation by allocation. See replay.h. */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "heapprof.h"
#include "memstat.h"
#include "memtag.h"
#include "modelconn.h"
#include "node.h"
#include "nodemeter.h"
#include "noise.h"
#include "peer.h"
#include "remote.h"
#include "wire.h"

#define DEFAULT_SAMPLES 400u
#define MODEL_LINGER_NS (60ull * 1000000000ull)
/* Give up when nothing moves for this long: real time with sockets,
 * virtual time under the model (where the node's 1 s tick keeps the clock
 * running even when every remote has stopped reading). */
#define SOCKET_STUCK_NS (30ull * 1000000000ull)
#define VIRTUAL_STUCK_NS (3600ull * 1000000000ull)
#define READER_IDLE_NS (60ull * 1000000000ull)
#define LOOK_EVERY_NS 1000000000ull

/* Static keys of the node under study and of the remotes: fixed, so that
 * handshakes cost the same in every run. */
static const uint8_t node_key[32] = {
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
};
static const uint8_t remote_key[32] = {
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

struct engine;

struct rpeer {
    struct engine *e;
    size_t index;
    ph_peer *peer;          /* the node's side; NULL once the node closed it */
    uint32_t *plan;         /* input indices this peer is sent, in order */
    size_t plan_n, next;
    bool backlog_open, ended;
    char close_why[120];
    const uint8_t **expect;   /* verify: the plan's messages, lent to the remote */
    uint32_t *expect_len;
};

struct engine {
    ph_err timer_err;   /* a pacing timer could not be set: the run stops */
    const ph_replay_input *in;
    const ph_replay_config *cfg;
    ph_strategy_result *res;
    char *errbuf;
    size_t errlen;

    ph_nodemeter *meter;
    ph_memtag *tag;
    ph_memstat *ms;
    ph_ev *ev;
    ph_node *node;
    ph_remote_set *remotes;       /* model transport */
    struct rpeer *peers;
    size_t npeers;
    uint32_t sessions;
    size_t **subs;                /* per session: the peers replaying it */
    size_t *nsubs;

    bool running;
    uint64_t t_start;             /* loop clock at the start of the replay phase */
    uint64_t handed;              /* messages handed to the node */
    uint64_t planned;
    size_t ended, closed_running;
    size_t next_msg;              /* paced: next input index to relay */
    uint64_t pace_timer;
    bool relays_done;
    bool linger_over;

    ph_sample *samples;
    size_t nsamples, samples_cap;
    ph_peer_point *pp;            /* --timeline-peers: peer i's point k at [i * samples_cap + k] */
    ph_heapprof *prof;
    uint64_t sample_every, next_sample;
    uint64_t t0_wall, last_progress;

    /* the transport (see struct transport) */
    const struct transport *tx;
    int (*pairs)[2];              /* socket: [0] the node's end, [1] the remote's */
    pid_t reader_pid;
    int reader_pipe;
};

/* What differs between the transports, and nothing else: how the loop and
 * the remotes are made, how peer i is connected, how long the loop may wait
 * and stand still, when the remotes have it all, and how their verdict
 * comes back. */
struct transport {
    const char *name;
    ph_err (*open)(struct engine *e);
    ph_err (*connect)(struct engine *e, size_t i, ph_conn **node_end);
    int wait_ms;                  /* ph_ev_run_once: -1 = a virtual loop never waits */
    uint64_t stuck_ns;            /* no progress for this long on the loop's clock: failed */
    uint64_t default_linger_ns;
    bool (*remotes_have_all)(struct engine *e);
    ph_err (*collect)(struct engine *e);
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line: what failed and why (unless `what` already says why, as a
 * remote's own report does). */
static ph_err fail(struct engine *e, ph_err err, const char *what)
{
    if (!e->errbuf || !e->errlen || e->errbuf[0])
        return err;
    const char *why = ph_strerror(err);
    size_t wl = strlen(what), yl = strlen(why);
    if (wl >= yl && strcmp(what + wl - yl, why) == 0)
        snprintf(e->errbuf, e->errlen, "%s", what);
    else
        snprintf(e->errbuf, e->errlen, "%s: %s", what, why);
    return err;
}


/* The link messages every node makes itself: a replayed node sends its
 * own, so the captured ones are not sent again. */
static bool node_own_type(uint16_t type)
{
    return type == PH_WIRE_INIT || type == PH_WIRE_PING || type == PH_WIRE_PONG ||
           type == PH_WIRE_GOSSIP_TIMESTAMP_FILTER;
}


static void maybe_sample(struct engine *e);

/* ---- what the node sends ---- */

static int backlog_next(void *cur, const uint8_t **bytes, size_t *len, void (**unref)(void *),
                        void **obj)
{
    struct rpeer *rp = cur;
    struct engine *e = rp->e;
    if (!e->running)
        return PH_BACKLOG_LATER;
    if (rp->next >= rp->plan_n) {
        if (!rp->ended) {
            rp->ended = true;
            e->ended++;
        }
        return PH_BACKLOG_END;
    }
    const ph_replay_msg *m = ph_replay_input_at(e->in, rp->plan[rp->next++]);
    *bytes = m->bytes;
    *len = m->len;
    *unref = NULL;
    *obj = NULL;
    e->handed++;
    maybe_sample(e);
    return PH_BACKLOG_ITEM;
}

static void backlog_set_filter(void *cur, uint32_t first, uint32_t range)
{
    (void)cur;
    (void)first;
    (void)range;
}

static void backlog_destroy(void *cur)
{
    (void)cur; /* the engine owns the cursor */
}

static const ph_backlog_ops replay_backlog = {
    .next = backlog_next,
    .set_filter = backlog_set_filter,
    .destroy = backlog_destroy,
};

static struct rpeer *rpeer_of(struct engine *e, const ph_peer *p)
{
    uint32_t id = ph_peer_id(p);
    return id >= 1 && id <= e->npeers ? &e->peers[id - 1] : NULL;
}

static ph_err open_backlog(void *ctx, ph_peer *p, uint32_t first, uint32_t range,
                           const ph_backlog_ops **ops, void **cursor)
{
    (void)first;
    (void)range;
    struct engine *e = ctx;
    struct rpeer *rp = rpeer_of(e, p);
    *ops = NULL;
    /* Paced replays relay at captured times: the backlog is the (empty)
     * gossip store's, and the peer goes live at once. */
    if (!rp || e->cfg->pace != PH_PACE_ASAP)
        return PH_OK;
    rp->backlog_open = true;
    *ops = &replay_backlog;
    *cursor = rp;
    return PH_OK;
}

static void on_peer_closed(void *ctx, ph_peer *p, ph_err reason, const char *why)
{
    struct engine *e = ctx;
    struct rpeer *rp = rpeer_of(e, p);
    if (!rp)
        return;
    rp->peer = NULL;
    snprintf(rp->close_why, sizeof rp->close_why, "%s (%s)", why, ph_strerror(reason));
    if (e->running) {
        e->res->disconnected++;
        if (!rp->ended && rp->index >= e->cfg->stalled)
            e->closed_running++;
    }
}

static uint64_t arrival_ns(const struct engine *e, size_t i)
{
    uint64_t t0 = ph_replay_input_at(e->in, 0)->ts_ns;
    uint64_t t = ph_replay_input_at(e->in, i)->ts_ns;
    uint64_t d = t > t0 ? t - t0 : 0;
    if (e->cfg->pace == PH_PACE_SCALED && e->cfg->pace_factor > 0)
        d = (uint64_t)((double)d / e->cfg->pace_factor);
    return d;
}

/* One captured message relayed to the peers of its session, the way the
 * node relays new gossip: decoded once when the encoding says so. */
static void relay_one(struct engine *e, const ph_replay_msg *m)
{
    size_t ns = e->nsubs[m->session];
    if (!ns || node_own_type(m->type))
        return;
    ph_outq_msg *decoded = NULL;
    if (e->cfg->encode == PH_ENCODE_PER_WRITE &&
        ph_peer_decode_for_send(e->tag, m->bytes, m->len, &decoded) != PH_OK)
        return;
    for (size_t k = 0; k < ns; k++) {
        struct rpeer *rp = &e->peers[e->subs[m->session][k]];
        if (rp->peer)
            ph_peer_relay_bytes(rp->peer, m->bytes, m->len, NULL, NULL, decoded);
    }
    ph_outq_msg_unref(decoded);
    e->handed += ns;
    maybe_sample(e);
}

static void pace_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)id;
    struct engine *e = ctx;
    e->pace_timer = 0;
    size_t n = ph_replay_input_count(e->in);
    uint64_t now = ph_ev_now(ev) - e->t_start;
    while (e->next_msg < n && arrival_ns(e, e->next_msg) <= now)
        relay_one(e, ph_replay_input_at(e->in, e->next_msg++));
    if (e->next_msg < n) {
        ph_err err = ph_ev_timer_add(ev, arrival_ns(e, e->next_msg) - now, pace_cb, e,
                                     &e->pace_timer);
        if (err && !e->timer_err)
            e->timer_err = err; /* run_until ends the run with it */
    } else
        e->relays_done = true;
}

/* ---- samples and progress ---- */

static ph_peer_end peer_now(ph_peer *p)
{
    ph_peer_end pe = {0};
    if (!p)
        return pe;
    ph_peer_stats st;
    ph_peer_get_stats(p, &st);
    pe.held_bytes = ph_peer_heap_bytes(p);
    pe.wbuf_bytes = st.out.wbuf_held;
    pe.queued_bytes = st.out.queued_bytes;
    pe.buffers = st.out.wbuf_buffers;
    return pe;
}

/* Every peer's point k, into the table made before measuring. */
static void sample_peers(struct engine *e, size_t k)
{
    if (!e->pp)
        return;
    for (size_t i = 0; i < e->npeers; i++) {
        ph_peer_end pe = peer_now(e->peers[i].peer);
        e->pp[i * e->samples_cap + k] =
            (ph_peer_point){pe.held_bytes, pe.queued_bytes, pe.buffers};
    }
}

static void take_sample(struct engine *e)
{
    if (e->nsamples >= e->samples_cap)
        return;
    ph_sample s = {0};
    s.t = (double)(mono_ns() - e->t0_wall) / 1e9;
    int64_t live = ph_nodemeter_live(e->meter);
    s.live_bytes = live > 0 ? (uint64_t)live : 0;
    ph_memstat_global g;
    if (e->ms && ph_memstat_global_read(e->ms, &g) == PH_OK) {
        s.active_bytes = g.active;
        s.resident_bytes = g.resident;
        if (g.active > e->res->peak_active_bytes)
            e->res->peak_active_bytes = g.active;
        if (g.resident > e->res->peak_resident_bytes)
            e->res->peak_resident_bytes = g.resident;
    }
    ph_outq_stats qs;
    ph_node_write_totals(e->node, &qs);
    s.queued_bytes = qs.queued_bytes;
    if (s.queued_bytes > e->res->peak_queued_bytes)
        e->res->peak_queued_bytes = s.queued_bytes;
    sample_peers(e, e->nsamples);
    e->samples[e->nsamples++] = s;
}

/* Samples follow the messages handed to the node (~400 per run), taken
 * where they are handed out: one loop iteration can stream a whole slice. */
static void maybe_sample(struct engine *e)
{
    if (e->handed >= e->next_sample && e->running) {
        e->next_sample = e->handed + e->sample_every;
        take_sample(e);
    }
}

static void progress(struct engine *e, const char *name, bool force)
{
    maybe_sample(e);
    if (!e->cfg->progress)
        return;
    uint64_t t = mono_ns();
    if (!force && t - e->last_progress < 500000000u)
        return;
    e->last_progress = t;
    ph_replay_progress pr = {
        .strategy = name,
        .messages_done = e->handed,
        .messages_total = e->planned,
        .writes = 0,
    };
    e->cfg->progress(e->cfg->progress_ctx, &pr);
}

/* ---- set-up ---- */

static ph_err build_plans(struct engine *e)
{
    e->sessions = ph_replay_input_sessions(e->in);
    e->subs = calloc(e->sessions, sizeof *e->subs);
    e->nsubs = calloc(e->sessions, sizeof *e->nsubs);
    if (!e->subs || !e->nsubs)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < e->npeers; i++)
        e->nsubs[i % e->sessions]++;
    for (uint32_t s = 0; s < e->sessions; s++) {
        e->subs[s] = malloc((e->nsubs[s] ? e->nsubs[s] : 1) * sizeof **e->subs);
        if (!e->subs[s])
            return PH_ERR_NOMEM;
        e->nsubs[s] = 0;
    }
    for (size_t i = 0; i < e->npeers; i++) {
        uint32_t s = (uint32_t)(i % e->sessions);
        e->subs[s][e->nsubs[s]++] = i;
        struct rpeer *rp = &e->peers[i];
        rp->e = e;
        rp->index = i;
        uint32_t *idx = NULL;
        size_t n = 0;
        ph_err err = ph_replay_input_peer_plan(e->in, i, 3, &idx, &n);
        if (err)
            return err;
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (!node_own_type(ph_replay_input_at(e->in, idx[j])->type))
                idx[k++] = idx[j];
        rp->plan = idx;
        rp->plan_n = k;
        e->planned += k;
    }
    size_t n = ph_replay_input_count(e->in);
    for (size_t i = 0; i < n; i++) {
        const ph_replay_msg *m = ph_replay_input_at(e->in, i);
        if (!node_own_type(m->type) && e->nsubs[m->session] &&
            ph_wire_decode(m->bytes, m->len, PH_WIRE_BORROW, NULL, NULL) != PH_OK)
            e->res->decode_errors++;
    }
    return PH_OK;
}

/* What the remotes expect (verify): each peer's plan, as byte arrays the
 * engine keeps until the end (the remote set borrows them). */
static ph_err expectations(struct engine *e, size_t i)
{
    struct rpeer *rp = &e->peers[i];
    rp->expect = malloc((rp->plan_n ? rp->plan_n : 1) * sizeof *rp->expect);
    rp->expect_len = malloc((rp->plan_n ? rp->plan_n : 1) * sizeof *rp->expect_len);
    if (!rp->expect || !rp->expect_len)
        return PH_ERR_NOMEM;
    for (size_t k = 0; k < rp->plan_n; k++) {
        const ph_replay_msg *m = ph_replay_input_at(e->in, rp->plan[k]);
        rp->expect[k] = m->bytes;
        rp->expect_len[k] = m->len;
    }
    return PH_OK;
}

static ph_err remotes_create(struct engine *e, ph_ev *ev, ph_remote_set **out)
{
    uint8_t node_pub[33];
    ph_err err = ph_noise_pubkey(node_key, node_pub);
    if (err)
        return err;
    ph_remote_config rc = {
        .ev = ev,
        .remote_priv = remote_key,
        .node_pub33 = node_pub,
        .reader_rate = e->cfg->reader_rate,
        .stalled = e->cfg->stalled,
        .verify = e->cfg->verify,
        .npeers = e->npeers,
    };
    err = ph_remote_set_create(out, &rc);
    for (size_t i = 0; !err && e->cfg->verify && i < e->npeers; i++) {
        if ((err = expectations(e, i)))
            break;
        ph_remote_expect(*out, i, e->peers[i].expect, e->peers[i].expect_len,
                         e->peers[i].plan_n);
    }
    return err;
}

/* The reader process (socket transport): the remotes on their own loop,
 * until the node closes every connection. Never returns. */
static void reader_main(struct engine *e, int (*pairs)[2], int pipe_w)
{
    ph_remote_result res;
    memset(&res, 0, sizeof res);
    ph_ev *ev = NULL;
    ph_remote_set *rs = NULL;
    ph_err err = ph_ev_create(&ev);
    if (!err)
        err = remotes_create(e, ev, &rs);
    for (size_t i = 0; i < e->npeers; i++)
        close(pairs[i][0]);
    for (size_t i = 0; !err && i < e->npeers; i++) {
        ph_conn *c = NULL;
        err = ph_conn_socket_create(&c, ev, pairs[i][1]);
        if (!err)
            err = ph_remote_add(rs, i, c);
    }
    uint64_t last = mono_ns(), seen = 0;
    while (!err && ph_remote_connected(rs)) {
        err = ph_ev_run_once(ev, 100);
        ph_remote_result now;
        ph_remote_get_result(rs, false, &now);
        if (now.messages + now.bytes != seen) {
            seen = now.messages + now.bytes;
            last = mono_ns();
        } else if (mono_ns() - last > READER_IDLE_NS) {
            snprintf(res.first_error, sizeof res.first_error,
                     "reader: nothing received for 60 s (%zu connections open)",
                     ph_remote_connected(rs));
            res.failed++;
            break;
        }
    }
    if (rs) {
        ph_remote_result fin;
        ph_remote_get_result(rs, true, &fin);
        if (res.first_error[0]) {
            memcpy(fin.first_error, res.first_error, sizeof fin.first_error);
            fin.failed += res.failed;
        }
        res = fin;
    }
    if (err && !res.first_error[0])
        snprintf(res.first_error, sizeof res.first_error, "reader: %s", ph_strerror(err));
    if (err)
        res.failed++;
    ssize_t w = write(pipe_w, &res, sizeof res);
    _exit(w == (ssize_t)sizeof res ? 0 : 3);
}

/* The remotes' verification, into the result. */
static void verdict(struct engine *e, const ph_remote_result *rr)
{
    e->res->verified = rr->verified;
    e->res->mismatches = rr->mismatches + rr->missing;
    e->res->missing = rr->missing;
    if (e->res->mismatches)
        snprintf(e->res->verify_problem, sizeof e->res->verify_problem, "%s", rr->first_error);
}

static ph_err start_reader(struct engine *e, int (*pairs)[2])
{
    int pp[2];
    if (pipe2(pp, O_CLOEXEC))
        return fail(e, PH_ERR_IO, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pp[0]);
        close(pp[1]);
        return fail(e, PH_ERR_IO, "fork reader");
    }
    if (pid == 0) {
        close(pp[0]);
        reader_main(e, pairs, pp[1]);
    }
    close(pp[1]);
    e->reader_pid = pid;
    e->reader_pipe = pp[0];
    for (size_t i = 0; i < e->npeers; i++)
        close(pairs[i][1]);
    return PH_OK;
}

static ph_err collect_reader(struct engine *e)
{
    ph_remote_result rr;
    memset(&rr, 0, sizeof rr);
    ssize_t got = 0;
    while (got < (ssize_t)sizeof rr) {
        ssize_t r = read(e->reader_pipe, (char *)&rr + got, sizeof rr - (size_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += r;
    }
    close(e->reader_pipe);
    e->reader_pipe = -1;
    waitpid(e->reader_pid, NULL, 0);
    e->reader_pid = 0;
    if (got != (ssize_t)sizeof rr)
        return fail(e, PH_ERR_IO, "reader process ended without a result");
    verdict(e, &rr);
    if (rr.failed)
        return fail(e, PH_ERR_PEER_PROTOCOL, rr.first_error[0] ? rr.first_error : "reader failed");
    return PH_OK;
}

static ph_err node_create(struct engine *e)
{
    ph_node_config nc;
    memset(&nc, 0, sizeof nc);
    memcpy(nc.priv, node_key, 32);
    nc.strategy = e->res->name;
    nc.wbuf = e->cfg->wbuf;
    ph_peer_config_default(&nc.peer);
    nc.peer.encode = (ph_encode_policy)e->cfg->encode;
    nc.peer.outq.soft_cap = e->cfg->queue_soft;
    nc.peer.outq.hard_cap = e->cfg->queue_hard;
    nc.max_peers = e->npeers;
    ph_nodemeter_attach(e->meter, &nc);
    nc.open_backlog = open_backlog;
    nc.backlog_ctx = e;
    nc.on_peer_closed = on_peer_closed;
    nc.peer_closed_ctx = e;
    char why[256] = "";
    ph_err err = ph_node_create(&e->node, e->ev, &nc, why, sizeof why);
    if (err)
        return fail(e, err, why[0] ? why : e->res->name);
    return PH_OK;
}

static ph_err connect_peers(struct engine *e)
{
    for (size_t i = 0; i < e->npeers; i++) {
        ph_conn *node_end = NULL;
        ph_err err = e->tx->connect(e, i, &node_end);
        if (err)
            return err;
        err = ph_node_add_conn(e->node, node_end, NULL, NULL, &e->peers[i].peer);
        if (err) {
            ph_conn_destroy(node_end);
            return fail(e, err, "node");
        }
    }
    return PH_OK;
}

static bool peer_idle(ph_peer *p)
{
    ph_peer_stats st;
    ph_peer_get_stats(p, &st);
    return st.out.queued_bytes == 0;
}

static bool setup_done(struct engine *e)
{
    for (size_t i = 0; i < e->npeers; i++) {
        struct rpeer *rp = &e->peers[i];
        if (!rp->peer || ph_peer_get_state(rp->peer) != PH_PEER_OPEN)
            return false;
        bool ready = e->cfg->pace == PH_PACE_ASAP ? rp->backlog_open
                                                  : ph_peer_relay_ready(rp->peer);
        if (!ready || !peer_idle(rp->peer))
            return false;
    }
    return true;
}

/* Run the loop until `done` says so. Fails when nothing moves for too long
 * (or, on a virtual clock, when nothing is left to happen at all). */
static ph_err run_until(struct engine *e, bool (*done)(struct engine *), const char *what,
                        const char *name)
{
    uint64_t last_move = ph_ev_now(e->ev), last_look = last_move;
    uint64_t seen = UINT64_MAX;
    while (!done(e)) {
        ph_err err = ph_ev_run_once(e->ev, e->tx->wait_ms);
        if (err == PH_ERR_STATE)
            return fail(e, PH_ERR_TIMEOUT, what);
        if (err)
            return fail(e, err, "event loop");
        if (e->timer_err)
            return fail(e, e->timer_err, "pacing timer");
        ph_nodemeter_gc_safepoint(e->meter, ph_ev_now(e->ev));
        if ((err = ph_heapprof_observe(e->prof, ph_nodemeter_live(e->meter))))
            return fail(e, err, ph_heapprof_path(e->prof, true));
        progress(e, name, false);
        /* Asking every peer what it wrote costs O(peers): once per second
         * of the loop's clock is plenty against limits of 30 s and 1 h. */
        uint64_t now = ph_ev_now(e->ev);
        if (seen != UINT64_MAX && now - last_look < LOOK_EVERY_NS)
            continue;
        last_look = now;
        ph_outq_stats qs;
        ph_node_write_totals(e->node, &qs);
        uint64_t moved = qs.wire_bytes_out + e->handed;
        if (moved != seen) {
            seen = moved;
            last_move = ph_ev_now(e->ev);
        } else if (ph_ev_now(e->ev) - last_move > e->tx->stuck_ns) {
            char why[200];
            snprintf(why, sizeof why, "%s (nothing moved for %.0f s of the %s transport's clock)",
                     what, (double)e->tx->stuck_ns / 1e9, e->tx->name);
            return fail(e, PH_ERR_TIMEOUT, why);
        }
        for (size_t i = 0; !e->running && i < e->npeers; i++)
            if (!e->peers[i].peer) {
                char why[200];
                snprintf(why, sizeof why, "set-up: the node closed peer %zu: %s", i,
                         e->peers[i].close_why);
                return fail(e, PH_ERR_PEER_PROTOCOL, why);
            }
    }
    return PH_OK;
}

static bool replay_done(struct engine *e)
{
    if (e->cfg->pace == PH_PACE_ASAP) {
        size_t live = e->npeers - e->cfg->stalled;
        if (e->ended + e->closed_running < live)
            return false;
    } else if (!e->relays_done) {
        return false;
    }
    for (size_t i = e->cfg->stalled; i < e->npeers; i++) {
        struct rpeer *rp = &e->peers[i];
        if (rp->peer && (!peer_idle(rp->peer) ||
                         (e->cfg->pace == PH_PACE_ASAP && !rp->ended)))
            return false;
    }
    /* What the remotes have not read yet is not the node's memory, but
     * verification needs every byte. */
    return !e->cfg->verify || e->tx->remotes_have_all(e);
}

static void linger_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ((struct engine *)ctx)->linger_over = true;
}

static bool linger_done(struct engine *e)
{
    return e->linger_over;
}

static uint64_t linger_ns(const struct engine *e)
{
    if (e->cfg->linger_ns != UINT64_MAX)
        return e->cfg->linger_ns;
    return e->tx->default_linger_ns;
}

/* ---- figures ---- */

static ph_err engine_init(struct engine *e, const char *strategy)
{
    const ph_replay_config *cfg = e->cfg;
    snprintf(e->res->name, sizeof e->res->name, "%s", strategy);
    if (!ph_replay_input_count(e->in))
        return fail(e, PH_ERR_ARG, "the input has no messages");
    e->npeers = cfg->peers ? cfg->peers : ph_replay_input_sessions(e->in);
    if (cfg->stalled > e->npeers)
        return fail(e, PH_ERR_ARG, "more stalled readers than peers");
    ph_err err = ph_noise_global_init();
    if (err)
        return fail(e, err, "libsodium");
    unsigned target = cfg->samples ? cfg->samples : DEFAULT_SAMPLES;
    e->samples_cap = 2 * (size_t)target + 8;
    e->samples = calloc(e->samples_cap, sizeof *e->samples);
    e->peers = calloc(e->npeers, sizeof *e->peers);
    if (!e->samples || !e->peers)
        return PH_ERR_NOMEM;
    if ((err = build_plans(e)))
        return fail(e, err, "sessions");
    e->sample_every = e->planned / target ? e->planned / target : 1;
    e->next_sample = e->sample_every;
    err = ph_nodemeter_create(&e->meter);
    if (err)
        return fail(e, err, "allocation tracker");
    e->tag = ph_nodemeter_tag(e->meter);
    err = ph_memstat_create(&e->ms);
    if (err && !cfg->allow_unmeasured)
        return fail(e, err, "jemalloc statistics (is peerheap linked with jemalloc?)");
    /* Tables the measured phase fills are made before it, uncounted. */
    if (cfg->timeline_peers && !(e->pp = calloc(e->npeers * e->samples_cap, sizeof *e->pp)))
        return PH_ERR_NOMEM;
    if (cfg->prof_dir && (err = ph_heapprof_create(&e->prof, cfg->prof_dir, strategy)))
        return fail(e, err, "heap profile");
    return PH_OK;
}

static void engine_free(struct engine *e)
{
    ph_node_destroy(e->node);
    ph_remote_set_destroy(e->remotes);
    ph_ev_destroy(e->ev);
    for (size_t i = 0; e->peers && i < e->npeers; i++) {
        free(e->peers[i].plan);
        free(e->peers[i].expect);
        free(e->peers[i].expect_len);
    }
    free(e->peers);
    for (uint32_t s = 0; e->subs && s < e->sessions; s++)
        free(e->subs[s]);
    free(e->subs);
    free(e->nsubs);
    free(e->samples);
    free(e->pp);
    ph_heapprof_destroy(e->prof);
    ph_nodemeter_destroy(e->meter);
    ph_memstat_destroy(e->ms);
}

/* Connected TCP pairs over loopback: the live node's transport, kernel
 * buffers and all ([0] the node's end, [1] the remote's). Made here, before
 * the reader process is forked, so that pair i is peer i on both sides. */
static ph_err tcp_pairs(int (*pairs)[2], size_t n)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 64) ||
        getsockname(l, (struct sockaddr *)&a, &al)) {
        if (l >= 0)
            close(l);
        return PH_ERR_IO;
    }
    size_t made = 0;
    for (; made < n; made++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0)
            break;
        if (connect(c, (struct sockaddr *)&a, sizeof a)) {
            close(c);
            break;
        }
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (s < 0) {
            close(c);
            break;
        }
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
        pairs[made][0] = s;
        pairs[made][1] = c;
    }
    close(l);
    if (made == n)
        return PH_OK;
    for (size_t k = 0; k < made; k++) {
        close(pairs[k][0]);
        close(pairs[k][1]);
    }
    return PH_ERR_IO;
}

/* ---- the two transports ---- */

static ph_err model_open(struct engine *e)
{
    ph_err err = ph_ev_create_virtual(&e->ev, 0);
    if (!err)
        ph_ev_set_memtag(e->ev, e->tag);
    bool saved = ph_memtag_uncounted(e->tag, true);
    if (!err)
        err = remotes_create(e, e->ev, &e->remotes);
    ph_memtag_uncounted(e->tag, saved);
    return err ? fail(e, err, "model transport") : PH_OK;
}

/* A connection is two ends of the model; the remote's end, and the buffers
 * that stand for the kernel's, are not the node's memory. */
static ph_err model_connect(struct engine *e, size_t i, ph_conn **node_end)
{
    ph_modelconn_config mc = {
        .capacity = { e->cfg->model_buffer, e->cfg->model_buffer },
        .uncounted = { false, true },
    };
    ph_conn *remote_end = NULL;
    bool saved = ph_memtag_uncounted(e->tag, true);
    ph_err err = ph_modelconn_pair(e->ev, &mc, node_end, &remote_end);
    if (!err && (err = ph_remote_add(e->remotes, i, remote_end)) != PH_OK) {
        ph_conn_destroy(*node_end);
        *node_end = NULL;
    }
    ph_memtag_uncounted(e->tag, saved);
    return err ? fail(e, err, "model transport") : PH_OK;
}

static bool model_remotes_have_all(struct engine *e)
{
    return ph_remote_unread(e->remotes) == 0;
}

/* The figures are taken; the remotes still read what is left and act on
 * it (a remote that refuses the last message must be heard, with or
 * without verification), on the loop's clock: until nothing is unread,
 * then one more second for the closes that follow. */
static void model_drain(struct engine *e)
{
    uint64_t deadline = ph_ev_now(e->ev) + VIRTUAL_STUCK_NS, until = 0;
    while (ph_ev_now(e->ev) < deadline) {
        if (!until && !ph_remote_unread(e->remotes))
            until = ph_ev_now(e->ev) + 1000000000ull;
        if (until && ph_ev_now(e->ev) >= until)
            return;
        if (ph_ev_run_once(e->ev, -1) != PH_OK)
            return;
    }
}

static ph_err model_collect(struct engine *e)
{
    model_drain(e);
    ph_remote_result rr;
    ph_remote_get_result(e->remotes, true, &rr);
    verdict(e, &rr);
    if (rr.failed)
        return fail(e, PH_ERR_PEER_PROTOCOL, rr.first_error);
    return PH_OK;
}

static ph_err socket_open(struct engine *e)
{
    e->pairs = calloc(e->npeers, sizeof *e->pairs);
    if (!e->pairs)
        return PH_ERR_NOMEM;
    ph_err err = tcp_pairs(e->pairs, e->npeers);
    if (err) {
        free(e->pairs);
        e->pairs = NULL;
        return fail(e, err, "loopback TCP connections (raise the open-files limit?)");
    }
    err = start_reader(e, e->pairs);
    if (!err)
        err = ph_ev_create(&e->ev);
    if (!err)
        ph_ev_set_memtag(e->ev, e->tag);
    return err;
}

static ph_err socket_connect(struct engine *e, size_t i, ph_conn **node_end)
{
    ph_err err = ph_conn_socket_create(node_end, e->ev, e->pairs[i][0]);
    if (err)
        return fail(e, err, "transport");
    e->pairs[i][0] = -1; /* the conn owns it */
    return PH_OK;
}

static bool socket_remotes_have_all(struct engine *e)
{
    (void)e;
    return true; /* the reader reads to end of stream once the node closes */
}

/* Closing the node's ends tells the reader it has everything. */
static ph_err socket_collect(struct engine *e)
{
    ph_node_destroy(e->node);
    e->node = NULL;
    return collect_reader(e);
}

static const struct transport model_transport = {
    .name = "model",
    .open = model_open,
    .connect = model_connect,
    .wait_ms = -1,
    .stuck_ns = VIRTUAL_STUCK_NS,
    .default_linger_ns = MODEL_LINGER_NS,
    .remotes_have_all = model_remotes_have_all,
    .collect = model_collect,
};

static const struct transport socket_transport = {
    .name = "socket",
    .open = socket_open,
    .connect = socket_connect,
    .wait_ms = 20,
    .stuck_ns = SOCKET_STUCK_NS,
    .default_linger_ns = 0,
    .remotes_have_all = socket_remotes_have_all,
    .collect = socket_collect,
};

static void begin_phase(struct engine *e)
{
    ph_nodemeter_gc_safepoint(e->meter, ph_ev_now(e->ev));
    ph_nodemeter_mark_phase(e->meter);
    e->running = true;
    e->t_start = ph_ev_now(e->ev);
    e->t0_wall = mono_ns();
    take_sample(e);
    if (e->cfg->pace == PH_PACE_ASAP) {
        for (size_t i = 0; i < e->npeers; i++)
            if (e->peers[i].peer)
                ph_peer_kick(e->peers[i].peer);
    } else {
        ph_err err = ph_ev_timer_add(e->ev, 0, pace_cb, e, &e->pace_timer);
        if (err && !e->timer_err)
            e->timer_err = err; /* run_until ends the run with it */
    }
}

/* The GC model's limit: half the machine's memory. */
static uint64_t gc_heap_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2 : 0;
}

static ph_err start_measuring(struct engine *e)
{
    const ph_replay_config *cfg = e->cfg;
    ph_err err = cfg->unmeasured ? PH_ERR_MEMSTAT : ph_nodemeter_start(e->meter);
    if (err && (cfg->gc_model || (!cfg->allow_unmeasured && !cfg->unmeasured)))
        return fail(e, err, "allocation hooks (is peerheap linked with jemalloc 5.3?)");
    if (cfg->gc_model &&
        (err = ph_nodemeter_gc_start(e->meter, cfg->gc_gogc, gc_heap_limit(),
                                     cfg->free_interposer)))
        return fail(e, err, "GC model");
    /* The profile starts with the node, so that buffers made at set-up
     * (reuse's) are in it, and without the input the parent loaded. */
    if (e->prof && (err = ph_heapprof_begin(e->prof)))
        return fail(e, err, "heap profile");
    return PH_OK;
}

/* The end of the phase, before the figures: the end profile, and the GC
 * model's verdict on its heap. */
static ph_err end_phase(struct engine *e)
{
    if (e->prof) {
        ph_err err = ph_heapprof_end(e->prof);
        if (err)
            return fail(e, err, ph_heapprof_path(e->prof, false));
    }
    ph_gc_stats st;
    ph_nodemeter_gc_stats(e->meter, &st);
    char why[160], lim[32];
    if (st.over_limit) {
        ph_format_bytes(gc_heap_limit(), lim, sizeof lim);
        snprintf(why, sizeof why, "GC model: the heap passed %s, half of this machine's memory "
                 "(Go would run out of memory here)", lim);
        return fail(e, PH_ERR_LIMIT, why);
    }
    if (st.unkept) {
        snprintf(why, sizeof why, "GC model: %llu frees could not be kept (no memory for the "
                 "list of garbage)", (unsigned long long)st.unkept);
        return fail(e, PH_ERR_NOMEM, why);
    }
    return PH_OK;
}

/* The costliest peers' series (highest held + queued at a sample), and
 * every peer at the end. */
static ph_err peer_figures(struct engine *e, ph_strategy_result *out)
{
    ph_peer_end *end = calloc(e->npeers ? e->npeers : 1, sizeof *end);
    if (!end)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < e->npeers; i++)
        end[i] = peer_now(e->peers[i].peer);
    ph_err err = ph_strategy_result_set_peers_end(out, end, e->npeers);
    free(end);
    size_t want = e->cfg->timeline_peers < e->npeers ? e->cfg->timeline_peers : e->npeers;
    uint64_t *cost = e->pp && want ? calloc(e->npeers, sizeof *cost) : NULL;
    if (!cost)
        return err ? err : (e->pp && want ? PH_ERR_NOMEM : PH_OK);
    for (size_t i = 0; i < e->npeers; i++)
        for (size_t k = 0; k < out->n_samples; k++) {
            const ph_peer_point *pt = &e->pp[i * e->samples_cap + k];
            if (pt->held_bytes + pt->queued_bytes + 1 > cost[i])
                cost[i] = pt->held_bytes + pt->queued_bytes + 1;
        }
    for (size_t n = 0; !err && n < want; n++) {
        size_t best = 0;
        for (size_t i = 1; i < e->npeers; i++)
            if (cost[i] > cost[best])
                best = i;
        if (!cost[best])
            break; /* no samples: nothing to follow */
        cost[best] = 0;
        ph_peer_series *ps;
        if ((err = ph_strategy_result_add_peer_series(out, best, &ps)))
            break;
        memcpy(ps->points, &e->pp[best * e->samples_cap], out->n_samples * sizeof *ps->points);
    }
    free(cost);
    return err;
}

ph_err ph_replay_run_strategy(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errbuf && errlen)
        errbuf[0] = 0;
    struct engine e = {.in = in, .cfg = cfg, .res = out, .errbuf = errbuf, .errlen = errlen,
                       .reader_pipe = -1};
    e.tx = cfg->sink == PH_SINK_MODEL ? &model_transport : &socket_transport;
    ph_err err = engine_init(&e, strategy);
    if (!err)
        err = e.tx->open(&e); /* forks the socket reader before measuring */
    if (err)
        goto done;
    if ((err = start_measuring(&e)))
        goto done;

    /* Set-up: the node, the connections, handshakes, init, filters. */
    if ((err = node_create(&e)))
        goto done;
    ph_nodemeter_mark_peers(e.meter);
    if ((err = connect_peers(&e)))
        goto done;
    if ((err = run_until(&e, setup_done, "set-up did not finish", strategy)))
        goto done;

    /* The replay phase. */
    begin_phase(&e);
    double cpu0 = cpu_seconds();
    err = run_until(&e, replay_done, "the replay did not finish", strategy);
    if (!err && linger_ns(&e)) {
        err = ph_ev_timer_add(e.ev, linger_ns(&e), linger_cb, &e, NULL);
        err = err ? fail(&e, err, "linger timer") : run_until(&e, linger_done, "linger", strategy);
    }
    out->wall_seconds = (double)(mono_ns() - e.t0_wall) / 1e9;
    out->cpu_seconds = cpu_seconds() - cpu0;
    out->virtual_seconds = (double)(ph_ev_now(e.ev) - e.t_start) / 1e9;
    if (!err)
        err = end_phase(&e);
    if (err)
        goto done;
    take_sample(&e);
    if ((err = ph_nodemeter_finish(e.meter, e.node, e.npeers, out))) {
        err = fail(&e, err, "measurement figures");
        goto done;
    }
    progress(&e, strategy, true);
    out->writes_per_second = out->wall_seconds > 0 ? (double)out->writes / out->wall_seconds : 0;
    out->mib_per_second =
        out->wall_seconds > 0 ? (double)out->write_bytes / out->wall_seconds / 1048576.0 : 0;
    out->verify = cfg->verify;
    for (size_t i = 0; i < e.nsamples; i++)
        if ((err = ph_strategy_result_add_sample(out, &e.samples[i]))) {
            err = fail(&e, err, "samples");
            goto done;
        }
    if ((err = peer_figures(&e, out)))
        goto done;

    err = e.tx->collect(&e);
done:
    for (size_t i = 0; e.pairs && i < e.npeers; i++)
        if (e.pairs[i][0] >= 0)
            close(e.pairs[i][0]);
    free(e.pairs);
    if (e.reader_pid > 0) {
        kill(e.reader_pid, SIGKILL);
        waitpid(e.reader_pid, NULL, 0);
    }
    if (e.reader_pipe >= 0)
        close(e.reader_pipe);
    engine_free(&e);
    if (err && errbuf && errlen && !errbuf[0])
        snprintf(errbuf, errlen, "%s: %s", strategy, ph_strerror(err));
    return err;
}
/* ---- isolation ---- */

static void child_main(const ph_replay_input *in, const ph_replay_config *cfg,
                       const char *strategy, int fd)
{
    ph_strategy_result res;
    char err_text[256];
    ph_err err = ph_replay_run_strategy(in, cfg, strategy, &res, err_text, sizeof err_text);
    FILE *f = fdopen(fd, "w");
    if (!f)
        _exit(3);
    if (err) {
        /* "!" marks an error line instead of a result. */
        fprintf(f, "!%d %s\n", (int)err, err_text);
        fclose(f);
        _exit(1);
    }
    err = ph_strategy_result_write_json(&res, f);
    ph_strategy_result_clear(&res);
    _exit(fclose(f) || err ? 3 : 0);
}

/* A measuring child: its pid and the read end of its result pipe. */
struct child {
    pid_t pid;
    int fd;
    char *text;
    size_t len, cap;
};

static ph_err child_start(const ph_replay_input *in, const ph_replay_config *cfg,
                          const char *strategy, struct child *c)
{
    memset(c, 0, sizeof *c);
    int pp[2];
    if (pipe2(pp, O_CLOEXEC))
        return PH_ERR_IO;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pp[0]);
        close(pp[1]);
        return PH_ERR_IO;
    }
    if (pid == 0) {
        close(pp[0]);
        child_main(in, cfg, strategy, pp[1]);
    }
    close(pp[1]);
    c->pid = pid;
    c->fd = pp[0];
    return PH_OK;
}

/* Read what the child has written: PH_OK and *eof once it is all in,
 * PH_ERR_AGAIN when the pipe is empty for now (a non-blocking fd). */
static ph_err child_read(struct child *c, bool *eof)
{
    *eof = false;
    for (;;) {
        /* one byte kept for the NUL: the error line is parsed as text */
        if (c->len + 1 >= c->cap) {
            size_t ncap = c->cap ? 2 * c->cap : 65536;
            char *nb = realloc(c->text, ncap);
            if (!nb)
                return PH_ERR_NOMEM;
            c->text = nb;
            c->cap = ncap;
        }
        ssize_t r = read(c->fd, c->text + c->len, c->cap - 1 - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return PH_ERR_AGAIN;
        if (r < 0)
            return PH_ERR_IO;
        if (r == 0) {
            c->text[c->len] = 0;
            *eof = true;
            return PH_OK;
        }
        c->len += (size_t)r;
    }
}

/* The child has closed its pipe (or reading failed with `read_err`):
 * reap it and turn what it wrote into a result or an error. */
static ph_err child_finish(struct child *c, ph_err read_err, const char *strategy,
                           ph_strategy_result *out, char *errbuf, size_t errlen)
{
    if (read_err)
        kill(c->pid, SIGKILL); /* it may be blocked writing to us */
    close(c->fd);
    c->fd = -1;
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    char *text = c->text;
    size_t len = c->len;
    c->text = NULL;
    ph_err err = read_err;
    if (!err && len > 1 && text[0] == '!') {
        int code = 0;
        int skip = 0;
        sscanf(text + 1, "%d %n", &code, &skip);
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%.*s", (int)strcspn(text + 1 + skip, "\n"), text + 1 + skip);
        err = code > 0 && code < PH_ERR__COUNT ? (ph_err)code : PH_ERR_STATE;
    } else if (!err && (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: measuring process %s %d", strategy,
                     WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        err = PH_ERR_STATE;
    } else if (!err) {
        err = ph_strategy_result_read_json(out, text, len);
    }
    free(text);
    return err;
}

ph_err ph_replay_run_isolated(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errbuf && errlen)
        errbuf[0] = 0;
    struct child c;
    ph_err err = child_start(in, cfg, strategy, &c);
    if (err)
        return err;
    bool eof = false;
    while (!err && !eof)
        err = child_read(&c, &eof);
    ph_err res = child_finish(&c, err, strategy, out, errbuf, errlen);
    out->concurrent = 1;
    return res;
}

/* ---- several strategies, up to `jobs` at a time ---- */

struct slot {
    struct child c;
    size_t index;      /* into names */
    uint64_t peers;    /* the most children measuring at once during its life */
    bool busy;
};

static void note_running(struct slot *slots, unsigned jobs)
{
    uint64_t running = 0;
    for (unsigned k = 0; k < jobs; k++)
        running += slots[k].busy;
    for (unsigned k = 0; k < jobs; k++)
        if (slots[k].busy && slots[k].peers < running)
            slots[k].peers = running;
}

ph_err ph_replay_run_jobs(const ph_replay_input *in, const ph_replay_config *cfg,
                          const char *const *names, size_t n, unsigned jobs,
                          ph_strategy_result *out, ph_err *errs, char (*errtext)[PH_REPLAY_ERR_MAX],
                          void (*done)(void *ctx, size_t index, size_t finished), void *ctx)
{
    if (!names || !out || !errs || !errtext || !jobs)
        return PH_ERR_ARG;
    if (jobs > n)
        jobs = n ? (unsigned)n : 1;
    struct slot *slots = calloc(jobs, sizeof *slots);
    struct pollfd *pfd = calloc(jobs, sizeof *pfd);
    if (!slots || !pfd) {
        free(slots);
        free(pfd);
        return PH_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        errs[i] = PH_OK;
        errtext[i][0] = 0;
    }
    size_t next = 0, finished = 0;
    ph_err fatal = PH_OK;
    while (finished < n) {
        /* Fill the free slots (only after a fork failure does this stop). */
        for (unsigned k = 0; k < jobs && next < n && !fatal; k++) {
            if (slots[k].busy)
                continue;
            struct slot *sl = &slots[k];
            sl->index = next++;
            sl->peers = 0;
            fatal = child_start(in, cfg, names[sl->index], &sl->c);
            if (fatal) {
                errs[sl->index] = fatal;
                snprintf(errtext[sl->index], PH_REPLAY_ERR_MAX, "%s: fork: %s",
                         names[sl->index], ph_strerror(fatal));
                finished++;
                continue;
            }
            fcntl(sl->c.fd, F_SETFL, fcntl(sl->c.fd, F_GETFL) | O_NONBLOCK);
            sl->busy = true;
            note_running(slots, jobs);
        }
        if (fatal && next < n) {
            /* Nothing more can start: the rest fail with the same error. */
            for (; next < n; next++, finished++) {
                errs[next] = fatal;
                snprintf(errtext[next], PH_REPLAY_ERR_MAX, "%s: not run: %s", names[next],
                         ph_strerror(fatal));
            }
        }
        unsigned np = 0;
        for (unsigned k = 0; k < jobs; k++)
            if (slots[k].busy)
                pfd[np++] = (struct pollfd){.fd = slots[k].c.fd, .events = POLLIN};
        if (!np)
            break;
        if (poll(pfd, np, -1) < 0 && errno != EINTR) {
            fatal = PH_ERR_IO;
            break;
        }
        for (unsigned k = 0; k < jobs; k++) {
            struct slot *sl = &slots[k];
            if (!sl->busy)
                continue;
            bool eof = false;
            ph_err rerr = child_read(&sl->c, &eof);
            if (rerr == PH_ERR_AGAIN)
                continue;
            size_t i = sl->index;
            errs[i] = child_finish(&sl->c, rerr, names[i], &out[i], errtext[i],
                                   PH_REPLAY_ERR_MAX);
            out[i].concurrent = sl->peers;
            sl->busy = false;
            finished++;
            if (done)
                done(ctx, i, finished);
        }
    }
    /* Only a failed poll leaves children behind: stop them. */
    for (unsigned k = 0; k < jobs; k++) {
        if (!slots[k].busy)
            continue;
        child_finish(&slots[k].c, PH_ERR_IO, names[slots[k].index], &out[slots[k].index],
                     NULL, 0);
        errs[slots[k].index] = PH_ERR_IO;
    }
    free(slots);
    free(pfd);
    return fatal;
}
