/* The replay engine: one strategy, P peers, the write path of lib/outq,
 * measured with lib/memstat. See replay.h for what it models. */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memstat.h"
#include "noise.h"
#include "outq.h"
#include "sinkreader.h"
#include "wire.h"

#define MODEL_DEFAULT_BUFFER (256u * 1024u)
#define DEFAULT_SAMPLES 400u
#define STUCK_TIMEOUT_NS (30ull * 1000000000ull)

/* Static keys of the simulated node (writer) and of the readers: fixed, so
 * that handshakes cost the same in every run. */
static const uint8_t writer_key[32] = {
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
};
static const uint8_t reader_key[32] = {
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};

struct rpeer {
    size_t index;
    ph_noise *tr;
    ph_wbuf_peer *wb;
    ph_outq *q;
    int fd;          /* socket sink: our end; -1 otherwise */
    bool stalled;
    bool dead;       /* disconnected at the hard cap, or failed */
    bool blocked;    /* the sink took no more bytes */
    bool starved;    /* the strategy had no frame to give */
    bool polled;     /* socket sink: EPOLLOUT registered */
    /* model sink */
    void *model_ctx;
    double inflight; /* bytes written and not yet read */
    double last_t;   /* virtual time of the last drain */
};

/* Per-type accumulation in flat arrays indexed by message type. */
struct type_acc {
    uint64_t writes[65536];
    uint64_t allocations[65536];
    uint64_t bytes[65536];
};

struct engine {
    const ph_replay_input *in;
    const ph_replay_config *cfg;
    ph_strategy_result *res;
    char *errbuf;
    size_t errlen;

    ph_memstat *ms;
    ph_memstat_probe *probe;
    ph_wbuf *wbuf;
    struct rpeer *peers;
    size_t npeers;
    size_t **subs;      /* per session: the peers replaying it */
    size_t *nsubs;
    uint32_t sessions;

    struct type_acc *acc;
    uint64_t mark_allocated;
    uint64_t mark_wbuf_buffers;

    int64_t live_base;   /* live bytes before the strategy and the peers existed */
    ph_memstat_probe still_probe;
    uint64_t still_counter;
    ph_sample *samples;  /* allocated before the phase: sampling must not allocate */
    size_t nsamples, samples_cap;
    uint64_t frames;     /* frames encoded */
    uint64_t sample_every;
    uint64_t next_sample;
    uint64_t t0_wall;
    uint64_t now_ns;     /* sink time: virtual (model) or monotonic (socket) */
    double vt;           /* model: virtual seconds */
    uint64_t decode_errors;
    uint64_t disconnected;
    uint64_t last_progress_ns;
    uint64_t last_global_ns;
    uint64_t messages_done;

    /* socket sink */
    int ep;
    pid_t reader_pid;
    int reader_pipe;
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

static ph_err fail(struct engine *e, ph_err err, const char *what)
{
    if (e->errbuf && e->errlen && !e->errbuf[0])
        snprintf(e->errbuf, e->errlen, "%s: %s", what, ph_strerror(err));
    return err;
}

static bool model(const struct engine *e)
{
    return e->cfg->sink == PH_SINK_MODEL;
}

/* ---- measurement hooks ---- */

static void alloc_calls(struct engine *e, uint64_t *out)
{
    *out = 0;
    if (e->ms)
        ph_memstat_alloc_calls(e->ms, out);
}

/* stats.active / stats.resident between the series points too, on a 10 ms
 * wall-clock timer checked every 256 frames (an epoch costs ~10 us). */
static void timer_global_sample(struct engine *e)
{
    if (!e->ms || (e->frames & 255) != 0)
        return;
    uint64_t t = mono_ns();
    if (t - e->last_global_ns < 10000000u)
        return;
    e->last_global_ns = t;
    ph_memstat_global g;
    if (ph_memstat_global_read(e->ms, &g) != PH_OK)
        return;
    if (g.active > e->res->peak_active_bytes)
        e->res->peak_active_bytes = g.active;
    if (g.resident > e->res->peak_resident_bytes)
        e->res->peak_resident_bytes = g.resident;
}

static void take_sample(struct engine *e)
{
    ph_sample s = {0};
    s.t = (double)(mono_ns() - e->t0_wall) / 1e9;
    int64_t live = ph_memstat_live(e->probe) - e->live_base;
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
    for (size_t i = 0; i < e->npeers; i++)
        if (!e->peers[i].dead)
            s.queued_bytes += ph_outq_queued_bytes(e->peers[i].q);
    if (s.queued_bytes > e->res->peak_queued_bytes)
        e->res->peak_queued_bytes = s.queued_bytes;
    if (e->nsamples < e->samples_cap)
        e->samples[e->nsamples++] = s;
}

static void mark(struct engine *e)
{
    e->mark_allocated = *e->probe->allocated;
    ph_wbuf_stats st;
    ph_wbuf_get_stats(e->wbuf, &st);
    e->mark_wbuf_buffers = st.buffers_allocated;
}

/* Every frame: what the write since the last mark allocated belongs to
 * this message's type; the peak is sampled while the buffer is held. */
static void on_frame(void *ctx, uint16_t type, size_t len)
{
    (void)len;
    struct engine *e = ctx;
    uint64_t allocated = *e->probe->allocated;
    ph_wbuf_stats st;
    ph_wbuf_get_stats(e->wbuf, &st);
    e->acc->writes[type]++;
    e->acc->bytes[type] += allocated - e->mark_allocated;
    e->acc->allocations[type] += st.buffers_allocated - e->mark_wbuf_buffers;
    e->mark_allocated = allocated;
    e->mark_wbuf_buffers = st.buffers_allocated;
    ph_memstat_sample(e->probe);
    if (++e->frames >= e->next_sample) {
        e->next_sample += e->sample_every;
        take_sample(e);
        mark(e); /* the sample's own allocations are not the write's */
    } else {
        timer_global_sample(e);
    }
}

/* ---- the model sink ---- */

static double model_capacity(const struct engine *e)
{
    return (double)(e->cfg->model_buffer ? e->cfg->model_buffer : MODEL_DEFAULT_BUFFER);
}

static void model_drain(const struct engine *e, struct rpeer *p)
{
    if (p->stalled) {
        p->last_t = e->vt;
        return;
    }
    if (!e->cfg->reader_rate) {
        p->inflight = 0;
    } else {
        p->inflight -= (e->vt - p->last_t) * (double)e->cfg->reader_rate;
        if (p->inflight < 0)
            p->inflight = 0;
    }
    p->last_t = e->vt;
}

struct model_ctx {
    struct engine *e;
    struct rpeer *p;
};

static ssize_t model_write(void *ctx, const struct iovec *iov, int iovcnt)
{
    struct model_ctx *mc = ctx;
    struct rpeer *p = mc->p;
    model_drain(mc->e, p);
    double offered = 0;
    for (int i = 0; i < iovcnt; i++)
        offered += (double)iov[i].iov_len;
    double room = model_capacity(mc->e) - p->inflight;
    if (!p->stalled && !mc->e->cfg->reader_rate)
        room = offered; /* an unlimited reader takes everything at once */
    if (room < 1) {
        errno = EAGAIN;
        return -1;
    }
    double take = offered < room ? offered : floor(room);
    p->inflight += take;
    return (ssize_t)take;
}

/* When a blocked model connection has a quarter of its buffer free again
 * (like a socket's writability threshold). INFINITY if never. */
static double model_wake_time(const struct engine *e, const struct rpeer *p)
{
    if (p->stalled || !e->cfg->reader_rate)
        return p->stalled ? INFINITY : e->vt;
    double target = model_capacity(e) * 0.75;
    double t = p->last_t + (p->inflight - target) / (double)e->cfg->reader_rate;
    return t > e->vt ? t : e->vt;
}

/* ---- peers ---- */

static void peer_kill(struct engine *e, struct rpeer *p)
{
    if (p->dead)
        return;
    p->dead = true;
    e->disconnected++;
    ph_outq_destroy(p->q);
    p->q = NULL;
    if (p->fd >= 0) {
        if (p->polled)
            epoll_ctl(e->ep, EPOLL_CTL_DEL, p->fd, NULL);
        close(p->fd);
        p->fd = -1;
    }
}

static void socket_poll(struct engine *e, struct rpeer *p, bool want)
{
    if (model(e) || p->polled == want || p->fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = p->index};
    epoll_ctl(e->ep, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, p->fd, want ? &ev : NULL);
    p->polled = want;
}

static void peer_flush(struct engine *e, struct rpeer *p)
{
    if (p->dead)
        return;
    mark(e);
    ph_err err = ph_outq_flush(p->q, e->now_ns);
    ph_memstat_sample(e->probe);
    p->blocked = p->starved = false;
    if (err == PH_ERR_AGAIN) {
        if (ph_outq_wbuf_starved(p->q))
            p->starved = true;
        else
            p->blocked = true;
    } else if (err) {
        peer_kill(e, p);
    }
    socket_poll(e, p, p->blocked);
}

static void retry_starved(struct engine *e)
{
    for (size_t i = 0; i < e->npeers; i++)
        if (e->peers[i].starved)
            peer_flush(e, &e->peers[i]);
}

static bool is_gossip(uint16_t type)
{
    return type >= 256 && type <= 258;
}

/* Decode once, queue to every peer replaying this session, flush them. */
static ph_err push_message(struct engine *e, const ph_replay_msg *m)
{
    size_t ns = e->nsubs[m->session];
    if (!ns)
        return PH_OK;
    uint64_t before = *e->probe->allocated;
    ph_wire_msg *wm = NULL;
    ph_outq_msg *om = NULL;
    uint64_t allocs = 2; /* the decoded message and its shared queue reference */
    ph_err err = ph_wire_decode(m->bytes, m->len, PH_WIRE_BORROW, &wm, NULL);
    if (err == PH_ERR_NOMEM)
        return err;
    if (err) {
        /* Malformed in the capture: it still travels, as opaque bytes. */
        e->decode_errors++;
        allocs = 1;
        err = ph_outq_msg_copy(&om, m->bytes, m->len);
    } else {
        err = ph_outq_msg_wire(&om, wm);
    }
    if (err)
        return err;
    /* Gossip is what a relay may drop for a slow peer, once a soft cap says so. */
    unsigned flags = e->cfg->queue_soft && is_gossip(m->type) ? PH_OUTQ_RELAY : 0;
    for (size_t k = 0; k < ns; k++) {
        struct rpeer *p = &e->peers[e->subs[m->session][k]];
        if (p->dead)
            continue;
        err = ph_outq_push(p->q, om, flags);
        if (err == PH_ERR_LIMIT)
            peer_kill(e, p);
        else if (err) {
            ph_outq_msg_unref(om);
            return err;
        }
    }
    ph_outq_msg_unref(om);
    e->acc->bytes[m->type] += *e->probe->allocated - before;
    e->acc->allocations[m->type] += allocs;
    ph_memstat_sample(e->probe);
    for (size_t k = 0; k < ns; k++) {
        struct rpeer *p = &e->peers[e->subs[m->session][k]];
        if (!p->blocked)
            peer_flush(e, p);
    }
    return PH_OK;
}

static void report_progress(struct engine *e, const char *name, bool force)
{
    if (!e->cfg->progress)
        return;
    uint64_t t = mono_ns();
    if (!force && t - e->last_progress_ns < 500000000u)
        return;
    e->last_progress_ns = t;
    ph_replay_progress pr = {
        .strategy = name,
        .messages_done = e->messages_done,
        .messages_total = ph_replay_input_count(e->in),
        .writes = e->frames,
    };
    e->cfg->progress(e->cfg->progress_ctx, &pr);
}

/* Arrival time of message i in sink nanoseconds from the replay start. */
static uint64_t arrival_ns(const struct engine *e, size_t i)
{
    if (e->cfg->pace == PH_PACE_ASAP)
        return 0;
    uint64_t t0 = ph_replay_input_at(e->in, 0)->ts_ns;
    uint64_t t = ph_replay_input_at(e->in, i)->ts_ns;
    uint64_t d = t > t0 ? t - t0 : 0;
    if (e->cfg->pace == PH_PACE_SCALED && e->cfg->pace_factor > 0)
        d = (uint64_t)((double)d / e->cfg->pace_factor);
    return d;
}

/* ---- model main loop ---- */

static bool pending(const struct rpeer *p)
{
    return !p->dead && ph_outq_pending(p->q);
}

/* Let virtual time run to `until`, waking blocked connections in order. */
static void model_advance(struct engine *e, double until)
{
    for (;;) {
        struct rpeer *next = NULL;
        double best = INFINITY;
        for (size_t i = 0; i < e->npeers; i++) {
            struct rpeer *p = &e->peers[i];
            if (!p->blocked || p->dead)
                continue;
            double w = model_wake_time(e, p);
            if (w < best) {
                best = w;
                next = p;
            }
        }
        if (!next || best > until)
            break;
        e->vt = best;
        e->now_ns = (uint64_t)(best * 1e9);
        peer_flush(e, next);
        retry_starved(e);
    }
    if (isfinite(until) && until > e->vt) {
        e->vt = until;
        e->now_ns = (uint64_t)(until * 1e9);
    }
}

static ph_err model_run(struct engine *e, const char *name)
{
    size_t n = ph_replay_input_count(e->in);
    for (size_t i = 0; i < n; i++) {
        double at = (double)arrival_ns(e, i) / 1e9;
        model_advance(e, at);
        ph_wbuf_tick(e->wbuf, e->now_ns);
        ph_err err = push_message(e, ph_replay_input_at(e->in, i));
        if (err)
            return fail(e, err, "replay");
        retry_starved(e);
        e->messages_done = i + 1;
        if ((i & 1023) == 0)
            report_progress(e, name, false);
    }
    /* Drain: run virtual time until every reader that reads has it all. */
    for (;;) {
        retry_starved(e);
        bool more = false;
        for (size_t i = 0; i < e->npeers; i++) {
            struct rpeer *p = &e->peers[i];
            if (p->stalled || !pending(p))
                continue;
            more = true;
            if (!p->blocked && !p->starved)
                peer_flush(e, p);
        }
        if (!more)
            break;
        double before = e->vt;
        uint64_t frames = e->frames;
        model_advance(e, INFINITY);
        if (e->vt == before && e->frames == frames)
            break; /* nothing can move: only stalled readers hold the rest */
    }
    return PH_OK;
}

/* ---- socket main loop ---- */

static void socket_service(struct engine *e, int timeout_ms)
{
    struct epoll_event evs[64];
    int n = epoll_wait(e->ep, evs, 64, timeout_ms);
    e->now_ns = mono_ns() - e->t0_wall;
    for (int i = 0; i < n; i++) {
        struct rpeer *p = &e->peers[evs[i].data.u64];
        if (!p->dead)
            peer_flush(e, p);
    }
    retry_starved(e);
}

static ph_err socket_run(struct engine *e, const char *name)
{
    size_t n = ph_replay_input_count(e->in);
    for (size_t i = 0; i < n; i++) {
        uint64_t at = arrival_ns(e, i);
        for (;;) {
            uint64_t now = mono_ns() - e->t0_wall;
            if (now >= at)
                break;
            uint64_t wait_ms = (at - now + 999999) / 1000000;
            socket_service(e, (int)(wait_ms > 100 ? 100 : wait_ms));
        }
        e->now_ns = mono_ns() - e->t0_wall;
        ph_wbuf_tick(e->wbuf, e->now_ns);
        ph_err err = push_message(e, ph_replay_input_at(e->in, i));
        if (err)
            return fail(e, err, "replay");
        if ((i & 63) == 0)
            socket_service(e, 0);
        e->messages_done = i + 1;
        if ((i & 1023) == 0)
            report_progress(e, name, false);
    }
    uint64_t last_move = mono_ns();
    uint64_t frames = e->frames;
    for (;;) {
        bool more = false;
        for (size_t i = 0; i < e->npeers; i++) {
            struct rpeer *p = &e->peers[i];
            if (p->stalled || !pending(p))
                continue;
            more = true;
            if (!p->blocked)
                peer_flush(e, p);
        }
        if (!more)
            break;
        socket_service(e, 50);
        if (e->frames != frames) {
            frames = e->frames;
            last_move = mono_ns();
        } else if (mono_ns() - last_move > STUCK_TIMEOUT_NS) {
            return fail(e, PH_ERR_TIMEOUT, "replay: readers stopped taking bytes for 30 s");
        }
    }
    return PH_OK;
}

/* ---- set-up ---- */

static void ephemeral_for(size_t peer, uint8_t out[32])
{
    memset(out, 0x33, 32);
    out[28] = (uint8_t)(peer >> 24);
    out[29] = (uint8_t)(peer >> 16);
    out[30] = (uint8_t)(peer >> 8);
    out[31] = (uint8_t)peer;
}

/* The writer's side of every handshake: fixed static key, an ephemeral key
 * derived from the peer index, so that set-up is the same in every run. */
static ph_err initiator_create(size_t peer, ph_noise_hs **ini)
{
    uint8_t rpub[33], eph[32];
    ephemeral_for(peer, eph);
    ph_err err = ph_noise_pubkey(reader_key, rpub);
    if (!err)
        err = ph_noise_hs_create(ini, writer_key, rpub, eph);
    return err;
}

/* In-process handshake for the model sink: both ends real, the responder
 * discarded afterwards. */
static ph_err handshake_local(size_t peer, ph_noise **out)
{
    uint8_t a1[PH_NOISE_ACT1_LEN], a2[PH_NOISE_ACT2_LEN], a3[PH_NOISE_ACT3_LEN];
    ph_noise_hs *ini = NULL, *rsp = NULL;
    ph_err err = initiator_create(peer, &ini);
    if (!err)
        err = ph_noise_hs_create(&rsp, reader_key, NULL, NULL);
    if (!err)
        err = ph_noise_act1_write(ini, a1);
    if (!err)
        err = ph_noise_act1_read(rsp, a1, sizeof a1);
    if (!err)
        err = ph_noise_act2_write(rsp, a2);
    if (!err)
        err = ph_noise_act2_read(ini, a2, sizeof a2);
    if (!err)
        err = ph_noise_act3_write(ini, a3);
    if (!err)
        err = ph_noise_act3_read(rsp, a3, sizeof a3);
    if (!err)
        err = ph_noise_hs_finish(ini, out);
    ph_noise_hs_destroy(ini);
    ph_noise_hs_destroy(rsp);
    return err;
}

static ph_err read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? PH_ERR_EOF : PH_ERR_IO;
        got += (size_t)r;
    }
    return PH_OK;
}

static ph_err write_full(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = write(fd, buf + done, len - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return PH_ERR_IO;
        done += (size_t)r;
    }
    return PH_OK;
}

/* Blocking initiator handshake with the reader process. */
static ph_err handshake_socket(size_t peer, int fd, ph_noise **out)
{
    uint8_t a1[PH_NOISE_ACT1_LEN], a2[PH_NOISE_ACT2_LEN], a3[PH_NOISE_ACT3_LEN];
    ph_noise_hs *ini = NULL;
    ph_err err = initiator_create(peer, &ini);
    if (!err)
        err = ph_noise_act1_write(ini, a1);
    if (!err)
        err = write_full(fd, a1, sizeof a1);
    if (!err)
        err = read_full(fd, a2, sizeof a2);
    if (!err)
        err = ph_noise_act2_read(ini, a2, sizeof a2);
    if (!err)
        err = ph_noise_act3_write(ini, a3);
    if (!err)
        err = write_full(fd, a3, sizeof a3);
    if (!err)
        err = ph_noise_hs_finish(ini, out);
    ph_noise_hs_destroy(ini);
    return err;
}

static ph_err build_subscriptions(struct engine *e)
{
    e->sessions = ph_replay_input_sessions(e->in);
    if (!e->sessions)
        return PH_ERR_ARG;
    e->subs = calloc(e->sessions, sizeof *e->subs);
    e->nsubs = calloc(e->sessions, sizeof *e->nsubs);
    if (!e->subs || !e->nsubs)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < e->npeers; i++)
        e->nsubs[i % e->sessions]++;
    for (uint32_t s = 0; s < e->sessions; s++) {
        if (!e->nsubs[s])
            continue;
        e->subs[s] = malloc(e->nsubs[s] * sizeof **e->subs);
        if (!e->subs[s])
            return PH_ERR_NOMEM;
        e->nsubs[s] = 0;
    }
    for (size_t i = 0; i < e->npeers; i++) {
        uint32_t s = (uint32_t)(i % e->sessions);
        e->subs[s][e->nsubs[s]++] = i;
    }
    return PH_OK;
}

/* The reader process: gets the other ends of the socket pairs and reports
 * what it saw over a pipe. It never returns. */
static void reader_main(struct engine *e, int (*pairs)[2], int pipe_w)
{
    ph_sinkreader_peer *rp = calloc(e->npeers, sizeof *rp);
    ph_sinkreader_result res;
    memset(&res, 0, sizeof res);
    if (!rp)
        _exit(3);
    for (size_t i = 0; i < e->npeers; i++) {
        close(pairs[i][0]);
        rp[i].fd = pairs[i][1];
        rp[i].stalled = i < e->cfg->stalled;
        if (!e->cfg->verify)
            continue;
        uint32_t *idx;
        size_t n;
        if (ph_replay_input_peer_plan(e->in, i, 3, &idx, &n))
            _exit(3);
        const uint8_t **ex = malloc((n ? n : 1) * sizeof *ex);
        uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
        if (!ex || !lens)
            _exit(3);
        for (size_t k = 0; k < n; k++) {
            const ph_replay_msg *m = ph_replay_input_at(e->in, idx[k]);
            ex[k] = m->bytes;
            lens[k] = m->len;
        }
        free(idx);
        rp[i].expect = ex;
        rp[i].expect_len = lens;
        rp[i].expect_n = n;
    }
    ph_sinkreader_config rc = {
        .local_priv = reader_key,
        .peers = rp,
        .npeers = e->npeers,
        .rate = e->cfg->reader_rate,
        .verify = e->cfg->verify,
    };
    ph_err err = ph_sinkreader_run(&rc, &res);
    if (err && !res.first_error[0])
        snprintf(res.first_error, sizeof res.first_error, "reader: %s", ph_strerror(err));
    ssize_t w = write(pipe_w, &res, sizeof res);
    _exit(w == (ssize_t)sizeof res ? 0 : 3);
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

static ph_err setup_peers(struct engine *e)
{
    int (*pairs)[2] = NULL;
    ph_err err = PH_OK;
    if (!model(e)) {
        pairs = calloc(e->npeers, sizeof *pairs);
        if (!pairs)
            return PH_ERR_NOMEM;
        for (size_t i = 0; i < e->npeers; i++)
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i])) {
                free(pairs);
                return fail(e, PH_ERR_IO, "socketpair (raise the open-files limit?)");
            }
        e->ep = epoll_create1(EPOLL_CLOEXEC);
        if (e->ep < 0 || (err = start_reader(e, pairs))) {
            free(pairs);
            return err ? err : fail(e, PH_ERR_IO, "epoll");
        }
    }
    for (size_t i = 0; i < e->npeers && !err; i++) {
        struct rpeer *p = &e->peers[i];
        p->index = i;
        p->fd = -1;
        p->stalled = i < e->cfg->stalled;
        if (model(e)) {
            err = handshake_local(i, &p->tr);
        } else {
            p->fd = pairs[i][0];
            err = handshake_socket(i, p->fd, &p->tr);
            if (!err)
                fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
        }
        if (err) {
            fail(e, err, "handshake");
            break;
        }
        if ((err = ph_wbuf_peer_attach(e->wbuf, &p->wb)))
            break;
        ph_outq_config oc = {
            /* Without a soft cap nothing is droppable (see push_message), so
             * the soft cap only has to sit at or below the hard one. */
            .soft_cap = e->cfg->queue_soft   ? e->cfg->queue_soft
                        : e->cfg->queue_hard ? e->cfg->queue_hard
                                             : SIZE_MAX,
            .hard_cap = e->cfg->queue_hard ? e->cfg->queue_hard : SIZE_MAX,
            /* A ring holds many frames by design; the others write one
             * message at a time, as the implementations they model do. */
            .max_batch = strcmp(ph_wbuf_name(e->wbuf), "ring") == 0 ? PH_OUTQ_MAX_BATCH : 1,
        };
        struct model_ctx *mc = NULL;
        ph_outq_sink sink = {.fd = p->fd};
        if (model(e)) {
            mc = malloc(sizeof *mc);
            if (!mc) {
                err = PH_ERR_NOMEM;
                break;
            }
            *mc = (struct model_ctx){e, p};
            p->model_ctx = mc;
            sink = (ph_outq_sink){.fd = -1, .write = model_write, .ctx = mc};
        }
        if ((err = ph_outq_create(&p->q, p->tr, p->wb, &sink, &oc)))
            break;
        ph_outq_set_frame_observer(p->q, on_frame, e);
    }
    free(pairs);
    return err;
}

static void teardown(struct engine *e)
{
    for (size_t i = 0; e->peers && i < e->npeers; i++) {
        struct rpeer *p = &e->peers[i];
        ph_outq_destroy(p->q);
        ph_wbuf_peer_detach(p->wb);
        ph_noise_destroy(p->tr);
        free(p->model_ctx);
        if (p->fd >= 0)
            close(p->fd);
    }
    free(e->peers);
    for (uint32_t s = 0; e->subs && s < e->sessions; s++)
        free(e->subs[s]);
    free(e->subs);
    free(e->nsubs);
    if (e->ep >= 0)
        close(e->ep);
    ph_wbuf_destroy(e->wbuf);
    free(e->acc);
    free(e->samples);
    ph_memstat_destroy(e->ms);
}

static ph_err collect_reader(struct engine *e)
{
    ph_sinkreader_result rr;
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
    int status = 0;
    waitpid(e->reader_pid, &status, 0);
    e->reader_pid = 0;
    if (got != (ssize_t)sizeof rr)
        return fail(e, PH_ERR_IO, "reader process ended without a result");
    e->res->verified = rr.verified;
    e->res->mismatches = rr.mismatches + rr.missing;
    if (rr.failed || rr.timed_out)
        return fail(e, PH_ERR_PEER_PROTOCOL, rr.first_error[0] ? rr.first_error : "reader failed");
    return PH_OK;
}

static void finish_types(struct engine *e)
{
    for (uint32_t t = 0; t < 65536; t++) {
        if (!e->acc->writes[t] && !e->acc->allocations[t] && !e->acc->bytes[t])
            continue;
        const char *name = ph_wire_type_name((uint16_t)t);
        char buf[PH_REPORT_NAME_MAX];
        if (!name) {
            snprintf(buf, sizeof buf, "unknown_type_%u", t);
            name = buf;
        }
        ph_strategy_result_add_type(e->res, name, e->acc->writes[t], e->acc->allocations[t],
                                    e->acc->bytes[t]);
    }
}

static ph_err engine_init(struct engine *e, const char *strategy)
{
    const ph_replay_config *cfg = e->cfg;
    if (!ph_replay_input_count(e->in))
        return fail(e, PH_ERR_ARG, "the input has no messages");
    if (cfg->verify && cfg->sink != PH_SINK_SOCKET)
        return fail(e, PH_ERR_ARG, "--verify needs the socket sink");
    e->npeers = cfg->peers ? cfg->peers : ph_replay_input_sessions(e->in);
    if (cfg->stalled > e->npeers)
        return fail(e, PH_ERR_ARG, "more stalled readers than peers");
    ph_err err = ph_memstat_create(&e->ms);
    if (err && !cfg->allow_unmeasured)
        return fail(e, err, "jemalloc statistics (is peerheap linked with jemalloc?)");
    /* Unmeasured runs (sanitizers) read counters that never move. */
    e->probe = e->ms ? ph_memstat_probe_of(e->ms) : &e->still_probe;
    e->still_probe.allocated = &e->still_counter;
    e->still_probe.deallocated = &e->still_counter;
    if ((err = ph_noise_global_init()))
        return fail(e, err, "libsodium");
    e->acc = calloc(1, sizeof *e->acc);
    unsigned target = cfg->samples ? cfg->samples : DEFAULT_SAMPLES;
    e->samples_cap = 2 * (size_t)target + 8;
    e->samples = calloc(e->samples_cap, sizeof *e->samples);
    if (!e->samples)
        return PH_ERR_NOMEM;
    e->peers = calloc(e->npeers, sizeof *e->peers);
    if (!e->acc || !e->peers)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < e->npeers; i++)
        e->peers[i].fd = -1;
    if ((err = build_subscriptions(e)))
        return fail(e, err, "sessions");
    snprintf(e->res->name, sizeof e->res->name, "%s", strategy);
    return PH_OK;
}

static uint64_t planned_writes(const struct engine *e)
{
    uint64_t total = 0;
    size_t n = ph_replay_input_count(e->in);
    for (size_t i = 0; i < n; i++)
        total += e->nsubs[ph_replay_input_at(e->in, i)->session];
    return total;
}

ph_err ph_replay_run_strategy(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errbuf && errlen)
        errbuf[0] = 0;
    struct engine e = {.in = in, .cfg = cfg, .res = out, .errbuf = errbuf, .errlen = errlen,
                       .ep = -1, .reader_pipe = -1};
    ph_err err = engine_init(&e, strategy);
    if (err)
        goto done;

    /* Set-up: the strategy, the peers, their handshakes. */
    uint64_t calls0 = 0, calls1 = 0, calls2 = 0;
    alloc_calls(&e, &calls0);
    int64_t live0 = ph_memstat_live(e.probe);
    uint64_t alloc0 = *e.probe->allocated;
    if ((err = ph_wbuf_create(&e.wbuf, strategy, &cfg->wbuf))) {
        fail(&e, err, strategy);
        goto done;
    }
    if ((err = setup_peers(&e)))
        goto done;
    alloc_calls(&e, &calls1);
    out->setup_allocations = calls1 - calls0;
    out->setup_bytes_allocated = *e.probe->allocated - alloc0;
    out->setup_live_bytes = (uint64_t)(ph_memstat_live(e.probe) - live0);

    /* Replay phase. */
    uint64_t total = planned_writes(&e);
    unsigned target = cfg->samples ? cfg->samples : DEFAULT_SAMPLES;
    e.sample_every = total / target ? total / target : 1;
    e.next_sample = e.sample_every;
    ph_wbuf_stats wb0;
    ph_wbuf_get_stats(e.wbuf, &wb0);
    alloc_calls(&e, &calls1);
    /* Live figures count from before set-up: what the peers hold (reuse's
     * buffers, rings) is part of the heap the replay runs in. */
    e.live_base = live0;
    uint64_t allocated0 = *e.probe->allocated, deallocated0 = *e.probe->deallocated;
    ph_memstat_reset_peak(e.probe);
    double cpu0 = cpu_seconds();
    e.t0_wall = mono_ns();
    take_sample(&e);
    err = model(&e) ? model_run(&e, strategy) : socket_run(&e, strategy);
    double wall = (double)(mono_ns() - e.t0_wall) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    uint64_t allocated1 = *e.probe->allocated, deallocated1 = *e.probe->deallocated;
    ph_memstat_sample(e.probe);
    int64_t live_end = ph_memstat_live(e.probe);
    take_sample(&e);
    alloc_calls(&e, &calls2);
    report_progress(&e, strategy, true);
    if (err)
        goto done;

    ph_wbuf_stats wb1;
    ph_wbuf_get_stats(e.wbuf, &wb1);
    for (size_t i = 0; i < e.npeers; i++) {
        if (e.peers[i].dead)
            continue;
        ph_outq_stats qs;
        ph_outq_get_stats(e.peers[i].q, &qs);
        out->writes += qs.msgs_out;
        out->write_bytes += qs.wire_bytes_out;
        out->dropped += qs.relay_dropped;
    }
    out->allocations = calls2 - calls1;
    out->bytes_allocated = allocated1 - allocated0;
    out->bytes_freed = deallocated1 - deallocated0;
    out->peak_live_bytes = (uint64_t)(e.probe->peak - e.live_base);
    out->end_live_bytes = live_end > e.live_base ? (uint64_t)(live_end - e.live_base) : 0;
    int64_t held = live_end - live0;
    out->held_bytes_per_peer = held > 0 ? (uint64_t)held / e.npeers : 0;
    out->cpu_seconds = cpu;
    out->wall_seconds = wall;
    out->writes_per_second = wall > 0 ? (double)out->writes / wall : 0;
    out->mib_per_second = wall > 0 ? (double)out->write_bytes / wall / 1048576.0 : 0;
    out->wbuf_buffers_allocated = wb1.buffers_allocated - wb0.buffers_allocated;
    out->wbuf_bytes_requested = wb1.bytes_requested - wb0.bytes_requested;
    out->wbuf_peak_held_bytes = wb1.peak_held_bytes;
    out->disconnected = e.disconnected;
    out->decode_errors = e.decode_errors;
    out->verify = cfg->verify;
    finish_types(&e);
    for (size_t i = 0; i < e.nsamples; i++)
        ph_strategy_result_add_sample(out, &e.samples[i]);

    if (!model(&e)) {
        /* Closing our ends tells the reader it has everything. */
        for (size_t i = 0; i < e.npeers; i++)
            if (e.peers[i].fd >= 0) {
                close(e.peers[i].fd);
                e.peers[i].fd = -1;
            }
        err = collect_reader(&e);
    }
done:
    if (e.reader_pid > 0) {
        kill(e.reader_pid, SIGKILL);
        waitpid(e.reader_pid, NULL, 0);
    }
    if (e.reader_pipe >= 0)
        close(e.reader_pipe);
    teardown(&e);
    if (err && errbuf && errlen && !errbuf[0])
        snprintf(errbuf, errlen, "%s: %s", strategy, ph_strerror(err));
    return err;
}

/* ---- isolation ---- */

static ph_err read_all(int fd, char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return PH_ERR_NOMEM;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return PH_ERR_NOMEM;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return PH_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = buf;
    *len = n;
    return PH_OK;
}

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

ph_err ph_replay_run_isolated(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errbuf && errlen)
        errbuf[0] = 0;
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
    char *text = NULL;
    size_t len = 0;
    ph_err err = read_all(pp[0], &text, &len);
    close(pp[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (err)
        return err;
    if (len > 1 && text[0] == '!') {
        int code = 0;
        int skip = 0;
        sscanf(text + 1, "%d %n", &code, &skip);
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%.*s", (int)strcspn(text + 1 + skip, "\n"), text + 1 + skip);
        free(text);
        return code > 0 && code < PH_ERR__COUNT ? (ph_err)code : PH_ERR_STATE;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: measuring process %s %d", strategy,
                     WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        free(text);
        return PH_ERR_STATE;
    }
    err = ph_strategy_result_read_json(out, text, len);
    free(text);
    return err;
}
