#include "peer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_CHUNK 16384u
#define READS_PER_EVENT 4         /* then let other peers run */
#define CLOSE_GRACE_NS (2ull * 1000000000ull)
#define STARVED_RETRY_NS 1000000ull
#define MIN_IN_BURST 4096.0

static void update_interest(ph_peer *p);

const char *ph_encode_policy_name(ph_encode_policy e)
{
    return e == PH_ENCODE_PER_WRITE ? "per-write" : "stored";
}

bool ph_encode_policy_parse(const char *s, ph_encode_policy *out)
{
    if (strcmp(s, "stored") == 0)
        *out = PH_ENCODE_STORED;
    else if (strcmp(s, "per-write") == 0)
        *out = PH_ENCODE_PER_WRITE;
    else
        return false;
    return true;
}

void ph_peer_config_default(ph_peer_config *cfg)
{
    static const uint8_t mainnet[32] = {
        0x6f, 0xe2, 0x8c, 0x0a, 0xb6, 0xf1, 0xb3, 0x72, 0xc1, 0xa6, 0xa2, 0x46, 0xae, 0x63,
        0xf7, 0x4f, 0x93, 0x1e, 0x83, 0x65, 0xe1, 0x5a, 0x08, 0x9c, 0x68, 0xd6, 0x19, 0x00,
        0x00, 0x00, 0x00, 0x00,
    };
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->chain_hash, mainnet, 32);
    cfg->handshake_timeout_ns = PH_PEER_DEFAULT_HANDSHAKE_TIMEOUT_NS;
    cfg->ping_interval_ns = PH_PEER_DEFAULT_PING_INTERVAL_NS;
    cfg->pong_timeout_ns = PH_PEER_DEFAULT_PONG_TIMEOUT_NS;
    cfg->frame_timeout_ns = PH_PEER_DEFAULT_FRAME_TIMEOUT_NS;
    cfg->ping_burst = PH_PEER_DEFAULT_PING_BURST;
    cfg->ping_rate = PH_PEER_DEFAULT_PING_RATE;
    cfg->stream_low_water = PH_PEER_DEFAULT_STREAM_LOW_WATER;
    cfg->filter = PH_PEER_FILTER_ALL;
}

uint64_t ph_peer__wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The reason a peer closed, kept on the heap from then on. */
static char close_why_lost[] = "(the reason could not be kept: out of memory)";

static void free_close_why(ph_peer *p)
{
    if (p->close_why != close_why_lost)
        free(p->close_why);
    p->close_why = NULL;
}

static void set_close_why(ph_peer *p, const char *why)
{
    if (why == p->close_why)
        return;
    size_t n = strlen(why) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, why, n);
    free_close_why(p);
    p->close_why = copy ? copy : close_why_lost;
}

static const char *close_why(const ph_peer *p)
{
    return p->close_why ? p->close_why : "";
}

void ph_peer__cancel_timer(ph_peer *p, uint64_t *t)
{
    if (*t)
        ph_ev_timer_cancel(p->env->ev, *t);
    *t = 0;
}

void ph_peer__arm_timer(ph_peer *p, uint64_t *t, uint64_t delay_ns, ph_ev_timer_cb cb)
{
    ph_peer__cancel_timer(p, t);
    if (ph_ev_timer_add(p->env->ev, delay_ns, cb, p, t) != PH_OK)
        *t = 0;
}

void ph_peer__set_addr(ph_peer *p)
{
    struct ph_endpoint remote;
    if (ph_conn_endpoints(p->conn, NULL, &remote))
        ph_endpoint_format(&remote, p->addr);
}

/* ---- closing ---- */

static void closed_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_closed = 0;
    if (p->env->host.on_closed)
        p->env->host.on_closed(p->env->host.ctx, p, p->close_reason, close_why(p));
}

/* Close the fd now; the host hears about it from a zero-delay timer, so
 * that no caller up the stack touches a peer the host has freed. */
void ph_peer__fail(ph_peer *p, ph_err reason, const char *why)
{
    if (p->state == PH_PEER_CLOSED)
        return;
    p->close_reason = reason;
    set_close_why(p, why);
    bool normal = reason == PH_OK || reason == PH_ERR_PEER_CLOSED;
    PLOG(p, normal ? PH_LOG_INFO : PH_LOG_WARN, "disconnect: %s%s%s", close_why(p),
         normal ? "" : " - ", normal ? "" : ph_strerror(reason));
    ph_peer__cancel_timer(p, &p->t_handshake);
    ph_peer__cancel_timer(p, &p->t_ping);
    ph_peer__cancel_timer(p, &p->t_pong);
    ph_peer__cancel_timer(p, &p->t_kick);
    ph_peer__cancel_timer(p, &p->t_rate);
    ph_peer__cancel_timer(p, &p->t_close);
    ph_peer__cancel_timer(p, &p->t_frame);
    ph_peer__rec_close(p, reason == PH_ERR_PEER_CLOSED);
    ph_conn_destroy(p->conn);
    p->conn = NULL;
    p->state = PH_PEER_CLOSED;
    ph_peer__arm_timer(p, &p->t_closed, 0, closed_cb);
}

/* An I/O error other than a reset: the line says which, errno kept. */
void ph_peer__io_fail(ph_peer *p, const char *what)
{
    int e = errno;
    char why[160];
    snprintf(why, sizeof why, "%s: %s", what, e ? strerror(e) : "no bytes taken");
    errno = e;
    ph_peer__fail(p, PH_ERR_IO, why);
}

static void close_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_close = 0;
    ph_peer__fail(p, p->close_reason, close_why(p)[0] ? close_why(p) : "close timed out");
}

/* Queue a warning or error (channel_id all zero: about the connection) and
 * close once it is written. Before the transport is up: close at once. */
void ph_peer__close_gracefully(ph_peer *p, ph_err reason, const char *why, bool as_error,
                      const char *text)
{
    if (p->state == PH_PEER_CLOSED || p->state == PH_PEER_CLOSING)
        return;
    if (!ph_peer__transport_up(p)) {
        ph_peer__fail(p, reason, why);
        return;
    }
    if (text) {
        ph_err err = ph_peer__push_text(p, as_error, text);
        if (err == PH_OK)
            PLOG(p, PH_LOG_INFO, "sent %s: %s", as_error ? "error" : "warning", text);
    }
    p->close_reason = reason;
    set_close_why(p, why);
    p->state = PH_PEER_CLOSING;
    ph_peer__cancel_timer(p, &p->t_handshake);
    ph_peer__cancel_timer(p, &p->t_ping);
    ph_peer__cancel_timer(p, &p->t_pong);
    ph_peer__cancel_timer(p, &p->t_frame);
    ph_peer__arm_timer(p, &p->t_close, CLOSE_GRACE_NS, close_timeout_cb);
    ph_peer__flush(p);
}

void ph_peer_close(ph_peer *p, const char *warning_text)
{
    ph_peer__close_gracefully(p, PH_OK, "closed by us", false, warning_text);
}

void ph_peer__protocol_fail(ph_peer *p, const char *text)
{
    ph_peer__close_gracefully(p, PH_ERR_PEER_PROTOCOL, text, false, text);
}

/* ---- writing ---- */

static void kick_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_kick = 0;
    ph_peer__flush(p);
}

/* Write at the end of this loop iteration, so several relays batch. */
void ph_peer__schedule_flush(ph_peer *p)
{
    if (!p->t_kick && p->state != PH_PEER_CLOSED)
        ph_peer__arm_timer(p, &p->t_kick, 0, kick_cb);
}

static void drain_stash(ph_peer *p);

void ph_peer__flush(ph_peer *p)
{
    if (!p->q || p->state == PH_PEER_CLOSED)
        return;
    ph_err err = ph_outq_flush(p->q, ph_peer__now_ns(p));
    if (p->fatal) {
        ph_peer__fail(p, p->fatal, "outgoing queue above its hard cap");
        return;
    }
    p->want_write = false;
    if (err == PH_ERR_AGAIN) {
        if (ph_outq_wbuf_starved(p->q))
            ph_peer__arm_timer(p, &p->t_kick, STARVED_RETRY_NS, kick_cb);
        else
            p->want_write = true;
    } else if (err == PH_ERR_PEER_CLOSED) {
        ph_peer__fail(p, err, "connection reset while writing");
        return;
    } else if (err) {
        ph_peer__fail(p, err, "write failed");
        return;
    }
    if (p->state == PH_PEER_CLOSING && !ph_outq_pending(p->q)) {
        ph_conn_shutdown_write(p->conn);
        ph_peer__fail(p, p->close_reason, close_why(p));
        return;
    }
    if (p->reading_paused && ph_outq_queued_bytes(p->q) < ph_outq_soft_cap(p->q) / 2) {
        drain_stash(p);
        /* What the stashed messages queued (pongs, answers) was pushed
         * after this flush: write it too, or nothing would arm write
         * interest for it. */
        if (p->state != PH_PEER_CLOSED && ph_outq_pending(p->q))
            ph_peer__schedule_flush(p);
    }
    if (p->state != PH_PEER_CLOSED)
        update_interest(p);
}

static void conn_ready(ph_conn *c, unsigned events, void *ctx);
static bool reading(const ph_peer *p);

static void update_interest(ph_peer *p)
{
    if (!p->conn)
        return;
    unsigned mask = 0;
    switch (p->state) {
    case PH_PEER_CONNECTING:
        mask = PH_EV_WRITE;
        break;
    case PH_PEER_HANDSHAKE:
        mask = (p->hs_step == HS_R_WRITE_ACT2 || p->hs_step == HS_I_WRITE_ACT1 ||
                p->hs_step == HS_I_WRITE_ACT3) ? PH_EV_WRITE : PH_EV_READ;
        break;
    case PH_PEER_INIT:
    case PH_PEER_OPEN:
        if (reading(p) && !p->reading_paused && !p->rate_paused)
            mask |= PH_EV_READ;
        if (p->want_write)
            mask |= PH_EV_WRITE;
        break;
    case PH_PEER_CLOSING:
        if (p->want_write)
            mask |= PH_EV_WRITE;
        break;
    case PH_PEER_CLOSED:
        return;
    }
    if (ph_conn_watch(p->conn, mask, conn_ready, p) != PH_OK)
        ph_peer__fail(p, PH_ERR_IO, "epoll_ctl failed");
}

void ph_peer_kick(ph_peer *p)
{
    if (ph_peer__transport_up(p))
        ph_peer__schedule_flush(p);
}

ph_err ph_peer_send_warning(ph_peer *p, const char *text)
{
    if (!ph_peer__transport_up(p) || p->state == PH_PEER_CLOSED || p->state == PH_PEER_CLOSING)
        return PH_ERR_STATE;
    ph_err err = ph_peer__push_text(p, false, text);
    if (err == PH_ERR_LIMIT) {
        ph_peer__fail(p, err, "outgoing queue above its hard cap");
        return err;
    }
    if (!err)
        ph_peer__schedule_flush(p);
    return err;
}

ph_err ph_peer_send(ph_peer *p, ph_outq_msg *m, unsigned flags)
{
    if (!ph_peer__transport_up(p) || p->state == PH_PEER_CLOSED || p->state == PH_PEER_CLOSING)
        return PH_ERR_STATE;
    ph_err err = ph_outq_push(p->q, m, flags);
    if (err == PH_ERR_LIMIT) {
        ph_peer__fail(p, err, "outgoing queue above its hard cap");
        return err;
    }
    if (!err)
        ph_peer__schedule_flush(p);
    return err;
}

/* ---- timers ---- */

static void handshake_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_handshake = 0;
    ph_peer__fail(p, PH_ERR_TIMEOUT,
              p->state == PH_PEER_INIT ? "no init before the handshake timeout"
                                       : "handshake timeout");
}

/* How long the current frame may take: the configured limit, plus the time
 * the inbound rate needs for the largest frame (the rate slows the frame
 * down, not the peer). */
static uint64_t frame_limit_ns(const ph_peer *p)
{
    uint64_t t = ph_peer__cfg(p)->frame_timeout_ns;
    uint64_t rate = ph_peer__cfg(p)->in_rate;
    if (rate)
        t += (uint64_t)((double)(PH_NOISE_MAX_MSG + PH_NOISE_OVERHEAD) * 1e9 / (double)rate);
    return t;
}

static void frame_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_frame = 0;
    if (p->state != PH_PEER_OPEN)
        return;
    /* Not reading is our doing, not the peer's: wait again. */
    if (p->reading_paused || p->rate_paused || !reading(p)) {
        ph_peer__arm_timer(p, &p->t_frame, frame_limit_ns(p), frame_timeout_cb);
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "a frame still incomplete %.1f s after its first byte",
             (double)frame_limit_ns(p) / 1e9);
    ph_peer__fail(p, PH_ERR_TIMEOUT, why);
}

/* After input was consumed: time the frame in progress, if any. The timer
 * restarts when a frame completed since it was armed (a steady stream of
 * frames always has one in progress). */
static void frame_watch(ph_peer *p)
{
    if (!ph_peer__cfg(p)->frame_timeout_ns || p->state != PH_PEER_OPEN ||
        !ph_noise_rx_in_frame(p->noise)) {
        ph_peer__cancel_timer(p, &p->t_frame);
        return;
    }
    if (p->t_frame && p->frame_mark == p->st.msgs_in)
        return;
    p->frame_mark = p->st.msgs_in;
    ph_peer__arm_timer(p, &p->t_frame, frame_limit_ns(p), frame_timeout_cb);
}

static void rate_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_rate = 0;
    p->rate_paused = false;
    update_interest(p);
}

static double in_burst(const ph_peer *p)
{
    double r = (double)ph_peer__cfg(p)->in_rate;
    return r < MIN_IN_BURST ? MIN_IN_BURST : r;
}

void ph_peer__refill_tokens(double *tokens, uint64_t *at, uint64_t now, double rate,
                            double burst)
{
    if (now > *at)
        *tokens += (double)(now - *at) * 1e-9 * rate;
    if (*tokens > burst)
        *tokens = burst;
    *at = now;
}

/* ---- creation ---- */

static ph_err peer_new(ph_peer **out, const ph_peer_env *env, ph_conn *conn, uint32_t id,
                       bool outbound)
{
    if (!env || !env->ev || !env->cfg || !env->local_priv || !env->wbuf || !conn)
        return PH_ERR_ARG;
    ph_peer *p = calloc(1, sizeof *p);
    if (!p)
        return PH_ERR_NOMEM;
    p->env = env;
    p->conn = conn;
    p->id = id;
    p->outbound = outbound;
    strcpy(p->addr, "?");
    p->ping_tokens = env->cfg->ping_burst;
    p->ping_tokens_at = ph_ev_now(env->ev);
    p->in_tokens = in_burst(p);
    p->in_tokens_at = ph_ev_now(env->ev);
    *out = p;
    return PH_OK;
}

static ph_err peer_register(ph_peer *p, unsigned mask)
{
    ph_err err = ph_conn_watch(p->conn, mask, conn_ready, p);
    if (err)
        return err;
    uint64_t t = ph_peer__cfg(p)->handshake_timeout_ns ? ph_peer__cfg(p)->handshake_timeout_ns
                                                 : PH_PEER_DEFAULT_HANDSHAKE_TIMEOUT_NS;
    ph_peer__arm_timer(p, &p->t_handshake, t, handshake_timeout_cb);
    return PH_OK;
}

ph_err ph_peer_create_inbound_conn(ph_peer **out, const ph_peer_env *env, ph_conn *conn,
                                   uint32_t id)
{
    ph_peer *p;
    ph_err err = peer_new(&p, env, conn, id, false);
    if (err)
        return err;
    uint8_t row = ph_memtag_row(env->tag, PH_MEMROW_SESSION);
    err = ph_noise_hs_create(&p->hs, env->local_priv, NULL, NULL);
    if (!err && !(p->act = malloc(PH_NOISE_ACT3_LEN)))
        err = PH_ERR_NOMEM;
    ph_memtag_row(env->tag, row);
    if (!err)
        err = peer_register(p, PH_EV_READ);
    if (err) {
        p->conn = NULL; /* the caller still owns the conn on failure */
        ph_peer_destroy(p);
        return err;
    }
    p->state = PH_PEER_HANDSHAKE;
    p->hs_step = HS_R_READ_ACT1;
    ph_peer__set_addr(p);
    ph_peer__rec_open(p);
    PLOG(p, PH_LOG_INFO, "%s", "connected");
    *out = p;
    return PH_OK;
}

ph_err ph_peer_create_outbound_conn(ph_peer **out, const ph_peer_env *env, ph_conn *conn,
                                    uint32_t id, const uint8_t remote_pub33[33],
                                    const uint8_t *ephemeral32)
{
    ph_peer *p;
    ph_err err = peer_new(&p, env, conn, id, true);
    if (err)
        return err;
    memcpy(p->remote, remote_pub33, 33);
    p->have_remote = true;
    uint8_t row = ph_memtag_row(env->tag, PH_MEMROW_SESSION);
    err = ph_noise_hs_create(&p->hs, env->local_priv, remote_pub33, ephemeral32);
    if (!err && !(p->act = malloc(PH_NOISE_ACT3_LEN)))
        err = PH_ERR_NOMEM;
    ph_memtag_row(env->tag, row);
    if (!err)
        err = peer_register(p, PH_EV_WRITE);
    if (err) {
        p->conn = NULL;
        ph_peer_destroy(p);
        return err;
    }
    p->state = PH_PEER_CONNECTING;
    *out = p;
    return PH_OK;
}

/* The fd versions: the peer owns the fd on success, the caller on error. */
ph_err ph_peer_create_inbound(ph_peer **out, const ph_peer_env *env, int fd, uint32_t id)
{
    ph_conn *c = NULL;
    ph_err err = env && env->ev ? ph_conn_socket_create(&c, env->ev, fd) : PH_ERR_ARG;
    if (!err && (err = ph_peer_create_inbound_conn(out, env, c, id)))
        ph_conn_socket_disown(c);
    return err;
}

ph_err ph_peer_create_outbound(ph_peer **out, const ph_peer_env *env, int fd, uint32_t id,
                               const uint8_t remote_pub33[33])
{
    ph_conn *c = NULL;
    ph_err err = env && env->ev ? ph_conn_socket_create(&c, env->ev, fd) : PH_ERR_ARG;
    if (!err && (err = ph_peer_create_outbound_conn(out, env, c, id, remote_pub33, NULL)))
        ph_conn_socket_disown(c);
    return err;
}

void ph_peer_destroy(ph_peer *p)
{
    if (!p)
        return;
    ph_ev *ev = p->env->ev;
    uint64_t *timers[] = { &p->t_handshake, &p->t_ping, &p->t_pong, &p->t_kick,
                           &p->t_rate, &p->t_close, &p->t_closed, &p->t_frame };
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++)
        if (*timers[i])
            ph_ev_timer_cancel(ev, *timers[i]);
    ph_peer__rec_close(p, false);
    ph_conn_destroy(p->conn);
    ph_peer__backlog_close(p);
    ph_gossip_scid_answer_destroy(p->answer);
    ph_outq_destroy(p->q);
    if (p->wbp)
        ph_wbuf_peer_detach(p->wbp);
    ph_noise_destroy(p->noise);
    ph_noise_hs_destroy(p->hs);
    free(p->act);
    free(p->stash);
    free(p->features);
    ph_msgcounts_release(&p->st.in);
    free_close_why(p);
    free(p);
}

static bool reading(const ph_peer *p)
{
    if (p->state == PH_PEER_OPEN && ph_peer__cfg(p)->stall_reads)
        return false;
    return p->state == PH_PEER_INIT || p->state == PH_PEER_OPEN;
}

static void pause_reading(ph_peer *p)
{
    if (!p->reading_paused)
        p->st.read_pauses++;
    p->reading_paused = true;
}

/* Decrypt and handle messages from `data`; keep what is left when the
 * queue goes over its soft cap. */
static void consume(ph_peer *p, const uint8_t *data, size_t n)
{
    size_t off = 0;
    while (off < n && reading(p)) {
        if (ph_peer__backpressured(p)) {
            WITH_ROW(p, PH_MEMROW_SESSION, p->stash = malloc(n - off));
            if (!p->stash) {
                ph_peer__fail(p, PH_ERR_NOMEM, "out of memory");
                return;
            }
            memcpy(p->stash, data + off, n - off);
            p->stash_len = n - off;
            p->stash_off = 0;
            pause_reading(p);
            return;
        }
        size_t used = 0, mlen = 0, need = 0;
        const uint8_t *msg = NULL;
        ph_err err;
        WITH_ROW(p, PH_MEMROW_SESSION,
                 err = ph_noise_decrypt_feed(p->noise, data + off, n - off, &used, &msg, &mlen,
                                             &need));
        if (err) {
            ph_peer__fail(p, err, "decryption failed");
            return;
        }
        off += used;
        if (msg)
            ph_peer__handle_msg(p, msg, mlen);
    }
}

static void drain_stash(ph_peer *p)
{
    while (p->stash && p->stash_off < p->stash_len && reading(p)) {
        if (ph_peer__backpressured(p))
            return;
        size_t used = 0, mlen = 0, need = 0;
        const uint8_t *msg = NULL;
        ph_err err;
        WITH_ROW(p, PH_MEMROW_SESSION,
                 err = ph_noise_decrypt_feed(p->noise, p->stash + p->stash_off,
                                             p->stash_len - p->stash_off, &used, &msg, &mlen,
                                             &need));
        if (err) {
            ph_peer__fail(p, err, "decryption failed");
            return;
        }
        p->stash_off += used;
        if (msg)
            ph_peer__handle_msg(p, msg, mlen);
    }
    free(p->stash);
    p->stash = NULL;
    p->stash_len = p->stash_off = 0;
    p->reading_paused = false;
    if (p->state != PH_PEER_CLOSED)
        frame_watch(p);
}

static void transport_read(ph_peer *p)
{
    uint8_t buf[READ_CHUNK];
    const ph_peer_config *c = ph_peer__cfg(p);
    for (int round = 0; round < READS_PER_EVENT && reading(p) && !p->reading_paused; round++) {
        size_t want = sizeof buf;
        if (c->in_rate) {
            ph_peer__refill_tokens(&p->in_tokens, &p->in_tokens_at, ph_peer__now_ns(p), (double)c->in_rate,
                          in_burst(p));
            if (p->in_tokens < 1.0) {
                p->rate_paused = true;
                p->st.rate_pauses++;
                double wait_s = (MIN_IN_BURST / 4) / (double)c->in_rate;
                ph_peer__arm_timer(p, &p->t_rate, (uint64_t)(wait_s * 1e9) + 1, rate_cb);
                break;
            }
            if ((double)want > p->in_tokens)
                want = (size_t)p->in_tokens;
        }
        ssize_t n = ph_conn_recv(p->conn, buf, want);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n == 0) {
            ph_peer__fail(p, PH_ERR_PEER_CLOSED, "connection closed by the peer");
            return;
        }
        if (n < 0) {
            if (errno == ECONNRESET)
                ph_peer__fail(p, PH_ERR_PEER_CLOSED, "connection reset by the peer");
            else
                ph_peer__io_fail(p, "read failed");
            return;
        }
        if (c->in_rate)
            p->in_tokens -= (double)n;
        p->st.wire_bytes_in += (uint64_t)n;
        ph_peer__rec_data(p, false, buf, (size_t)n);
        consume(p, buf, (size_t)n);
        if ((size_t)n < want)
            break;
    }
    if (p->state == PH_PEER_CLOSED)
        return;
    frame_watch(p);
    ph_peer__flush(p);
}

/* Read readiness without read interest: the transport reports an error or
 * a hang-up (ev.h hands those over even with no interest). Ignoring it
 * would make the loop call us again at once, for as long as reading stays
 * paused; nothing can be written to the peer any more either. */
static void hangup_while_not_reading(ph_peer *p)
{
    int soerr = ph_conn_connect_error(p->conn);
    size_t unread = p->stash ? p->stash_len - p->stash_off : 0;
    char why[160];
    snprintf(why, sizeof why, "connection %s while we were not reading (%s; %zu bytes unread)",
             soerr == ECONNRESET || soerr == EPIPE ? "reset" : soerr ? strerror(soerr) : "closed",
             p->rate_paused ? "inbound rate limit" : p->reading_paused ? "queue above its soft cap"
                                                                        : "reading stopped",
             unread);
    ph_peer__fail(p, PH_ERR_PEER_CLOSED, why);
}

static void conn_ready(ph_conn *c, unsigned events, void *ctx)
{
    (void)c;
    ph_peer *p = ctx;
    switch (p->state) {
    case PH_PEER_CONNECTING:
        ph_peer__connect_done(p);
        break;
    case PH_PEER_HANDSHAKE:
        ph_peer__handshake_step(p);
        break;
    case PH_PEER_INIT:
    case PH_PEER_OPEN:
        if (events & PH_EV_WRITE)
            ph_peer__flush(p);
        if (!(events & PH_EV_READ) || p->state == PH_PEER_CLOSED)
            break;
        if (reading(p) && !p->reading_paused && !p->rate_paused)
            transport_read(p);
        else
            hangup_while_not_reading(p);
        break;
    case PH_PEER_CLOSING:
        if (events & PH_EV_WRITE)
            ph_peer__flush(p);
        else if (events & PH_EV_READ) {
            /* Hang-up while closing: nothing more will be written. */
            char b[256];
            ssize_t n = ph_conn_recv(p->conn, b, sizeof b);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                ph_peer__fail(p, p->close_reason, close_why(p));
        }
        break;
    case PH_PEER_CLOSED:
        break;
    }
    if (p->state != PH_PEER_CLOSED)
        update_interest(p);
}

/* ---- accessors ---- */

ph_peer_state ph_peer_get_state(const ph_peer *p)
{
    return p->state;
}

const char *ph_peer_state_name(ph_peer_state s)
{
    static const char *const names[] = { "connecting", "handshake", "init",
                                          "open", "closing", "closed" };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

uint32_t ph_peer_id(const ph_peer *p)
{
    return p->id;
}

bool ph_peer_outbound(const ph_peer *p)
{
    return p->outbound;
}

bool ph_peer_remote_id(const ph_peer *p, uint8_t pub33[33])
{
    if (!p->have_remote)
        return false;
    memcpy(pub33, p->remote, 33);
    return true;
}

const char *ph_peer_addr(const ph_peer *p)
{
    return p->addr;
}

const uint8_t *ph_peer_features(const ph_peer *p, size_t *len)
{
    if (p->state < PH_PEER_OPEN || !p->features)
        return NULL;
    *len = p->features_len;
    return p->features;
}

bool ph_peer_gossip_live(const ph_peer *p)
{
    return !p->backlog;
}

void ph_peer_get_stats(const ph_peer *p, ph_peer_stats *out)
{
    const struct counters *c = &p->st;
    ph_msgcounts_get(&c->in, out->in);
    out->msgs_in = c->msgs_in;
    out->bytes_in = c->bytes_in;
    out->wire_bytes_in = c->wire_bytes_in;
    out->pings_answered = c->pings_answered;
    out->pings_ignored_large = c->pings_ignored_large;
    out->pings_ignored_flood = c->pings_ignored_flood;
    out->pongs_unsolicited = c->pongs_unsolicited;
    out->unknown_odd = c->unknown_odd;
    out->gossip_streamed = c->gossip_streamed;
    out->read_pauses = c->read_pauses;
    out->rate_pauses = c->rate_pauses;
    if (p->q)
        ph_outq_get_stats(p->q, &out->out);
    else
        memset(&out->out, 0, sizeof out->out);
}

void ph_peer_trim(ph_peer *p)
{
    if (p->q)
        ph_outq_trim(p->q);
    if (p->noise)
        ph_noise_rx_release(p->noise);
}

size_t ph_peer_heap_bytes(const ph_peer *p)
{
    size_t n = sizeof *p + p->stash_len + p->features_len + ph_msgcounts_heap_bytes(&p->st.in);
    if (p->q)
        n += ph_outq_self_bytes(p->q);
    if (p->wbp)
        n += ph_wbuf_peer_held(p->wbp);
    if (p->noise)
        n += ph_noise_rx_buffered(p->noise);
    return n + ph_gossip_scid_answer_heap_bytes(p->answer);
}

void ph_peer_set_user(ph_peer *p, void *user)
{
    p->user = user;
}

void *ph_peer_get_user(const ph_peer *p)
{
    return p->user;
}
