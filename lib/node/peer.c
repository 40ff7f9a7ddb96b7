#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "capture.h"
#include "conn.h"
#include "featurebits.h"
#include "gossip.h"
#include "gossip_query.h"
#include "hex.h"
#include "keylog.h"
#include "memtag.h"
#include "noise.h"
#include "pcapwrite.h"
#include "wbuf.h"
#include "wire.h"
#include "wire_build.h"
#include "wire_summary.h"

#define READ_CHUNK 16384u
#define READS_PER_EVENT 4         /* then let other peers run */
#define CLOSE_GRACE_NS (2ull * 1000000000ull)
#define STARVED_RETRY_NS 1000000ull
#define PING_NUM_PONG_BYTES 16u
#define PONG_MAX_ASK 65531u       /* BOLT 1: ignore pings asking for more */
#define MIN_IN_BURST 4096.0

/* Handshake steps, in the order each side goes through them. */
enum hs_step {
    HS_R_READ_ACT1, HS_R_WRITE_ACT2, HS_R_READ_ACT3,
    HS_I_WRITE_ACT1, HS_I_READ_ACT2, HS_I_WRITE_ACT3,
};

/* What ph_peer_stats holds apart from the queue's own counters (kept out
 * of the struct: a handshaking peer should stay small). */
struct counters {
    ph_msgcount in[PH_MSGTYPE__COUNT];
    uint64_t msgs_in, bytes_in, wire_bytes_in;
    uint64_t pings_answered, pings_ignored_large, pings_ignored_flood;
    uint64_t pongs_unsolicited, unknown_odd, gossip_streamed, read_pauses, rate_pauses;
};

struct ph_peer {
    const ph_peer_env *env;
    ph_conn *conn;         /* NULL once closed */
    uint32_t id;
    ph_peer_state state;
    bool outbound;
    bool have_remote;
    bool want_write;
    bool reading_paused;   /* backpressure */
    bool rate_paused;      /* inbound byte rate */
    bool awaiting_pong;
    bool filter_set, live;
    uint8_t remote[33];
    char addr[PH_ENDPOINT_STRLEN];
    void *user;

    /* handshake (freed when the transport starts) */
    ph_noise_hs *hs;
    uint8_t *act;          /* PH_NOISE_ACT3_LEN bytes, allocated with hs */
    uint8_t act_len;       /* bytes read, or bytes to write */
    uint8_t act_off;       /* bytes written */
    uint8_t hs_step;

    /* transport */
    ph_noise *noise;
    ph_wbuf_peer *wbp;
    ph_outq *q;
    uint8_t *stash;
    size_t stash_len, stash_off;
    uint8_t *features;
    size_t features_len;
    ph_err fatal;          /* set inside outq callbacks, acted on after flush */

    /* timers (0 = not armed) */
    uint64_t t_handshake, t_ping, t_pong, t_kick, t_rate, t_close, t_closed, t_frame;
    uint64_t frame_mark;   /* messages received when t_frame was armed */
    uint16_t pong_expect;
    double ping_tokens;
    uint64_t ping_tokens_at;
    double in_tokens;
    uint64_t in_tokens_at;

    /* gossip */
    const ph_backlog_ops *backlog_ops;  /* the filter's backlog, while it streams */
    void *backlog;
    ph_gossip_scid_answer *answer;      /* a query_short_channel_ids being answered */
    uint32_t filter_first, filter_range;

    ph_pcapw_conn *rec;

    ph_err close_reason;
    char *close_why;       /* allocated once the peer closes: an open peer holds none */
    struct counters st;
};

static void peer_fail(ph_peer *p, ph_err reason, const char *why);
static void peer_flush(ph_peer *p);
static void update_interest(ph_peer *p);
static void close_gracefully(ph_peer *p, ph_err reason, const char *why, bool as_error,
                             const char *text);

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

/* ---- small helpers ---- */

static const ph_peer_config *cfg_of(const ph_peer *p)
{
    return p->env->cfg;
}

static uint64_t now_ns(const ph_peer *p)
{
    return ph_ev_now(p->env->ev);
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define PLOG(p, lvl, fmt, ...)                                                          \
    ph_logf((p)->env->log, (lvl), "peer %u %s %s: " fmt, (p)->id, (p)->addr,            \
            (p)->outbound ? "out" : "in", __VA_ARGS__)

/* Run `stmt` with the memory tag's row set to `row`. */
#define WITH_ROW(p, row, stmt)                                                          \
    do {                                                                                \
        uint8_t saved_row_ = ph_memtag_row((p)->env->tag, (row));                       \
        stmt;                                                                           \
        ph_memtag_row((p)->env->tag, saved_row_);                                       \
    } while (0)

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

static void cancel_timer(ph_peer *p, uint64_t *t)
{
    if (*t)
        ph_ev_timer_cancel(p->env->ev, *t);
    *t = 0;
}

static void arm_timer(ph_peer *p, uint64_t *t, uint64_t delay_ns, ph_ev_timer_cb cb)
{
    cancel_timer(p, t);
    if (ph_ev_timer_add(p->env->ev, delay_ns, cb, p, t) != PH_OK)
        *t = 0;
}

static bool transport_up(const ph_peer *p)
{
    return p->q != NULL;
}

static bool backpressured(const ph_peer *p)
{
    return p->q && ph_outq_queued_bytes(p->q) >= ph_outq_soft_cap(p->q);
}

/* ---- recording (--record) ---- */

static void rec_data(ph_peer *p, bool outgoing, const uint8_t *data, size_t len)
{
    if (!p->rec || !len)
        return;
    /* The client is whoever connected: us for outbound peers. */
    int dir = outgoing == p->outbound ? PH_PCAPW_C2S : PH_PCAPW_S2C;
    if (ph_pcapw_data(p->rec, dir, data, len, wall_ns()) != PH_OK) {
        /* The recording already failed; closing only frees the connection,
         * and a second failure says nothing new (the writer latches it). */
        ph_ignore_err(ph_pcapw_conn_close(p->rec, dir, wall_ns()));
        p->rec = NULL;
    }
}

static void rec_tap(void *ctx, const struct iovec *iov, int iovcnt, size_t taken)
{
    ph_peer *p = ctx;
    for (int i = 0; i < iovcnt && taken; i++) {
        size_t n = iov[i].iov_len < taken ? iov[i].iov_len : taken;
        rec_data(p, true, iov[i].iov_base, n);
        taken -= n;
    }
}

static void rec_open(ph_peer *p)
{
    if (!p->env->record || p->rec)
        return;
    struct ph_endpoint local, remote;
    if (!ph_conn_endpoints(p->conn, &local, &remote))
        return;
    const struct ph_endpoint *client = p->outbound ? &local : &remote;
    const struct ph_endpoint *server = p->outbound ? &remote : &local;
    if (ph_pcapw_conn_open(p->env->record, client, server, wall_ns(), NULL, &p->rec) != PH_OK)
        p->rec = NULL;
}

static void rec_close(ph_peer *p, bool remote_closed)
{
    if (!p->rec)
        return;
    bool client_closed = remote_closed != p->outbound;
    ph_err e = ph_pcapw_conn_close(p->rec, client_closed ? PH_PCAPW_C2S : PH_PCAPW_S2C, wall_ns());
    if (e)
        PLOG(p, PH_LOG_WARN, "recording: closing the connection failed: %s", ph_strerror(e));
    p->rec = NULL;
}

static void set_addr(ph_peer *p)
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
static void peer_fail(ph_peer *p, ph_err reason, const char *why)
{
    if (p->state == PH_PEER_CLOSED)
        return;
    p->close_reason = reason;
    set_close_why(p, why);
    bool normal = reason == PH_OK || reason == PH_ERR_PEER_CLOSED;
    PLOG(p, normal ? PH_LOG_INFO : PH_LOG_WARN, "disconnect: %s%s%s", close_why(p),
         normal ? "" : " - ", normal ? "" : ph_strerror(reason));
    cancel_timer(p, &p->t_handshake);
    cancel_timer(p, &p->t_ping);
    cancel_timer(p, &p->t_pong);
    cancel_timer(p, &p->t_kick);
    cancel_timer(p, &p->t_rate);
    cancel_timer(p, &p->t_close);
    cancel_timer(p, &p->t_frame);
    rec_close(p, reason == PH_ERR_PEER_CLOSED);
    ph_conn_destroy(p->conn);
    p->conn = NULL;
    p->state = PH_PEER_CLOSED;
    arm_timer(p, &p->t_closed, 0, closed_cb);
}

/* An I/O error other than a reset: the line says which, errno kept. */
static void io_fail(ph_peer *p, const char *what)
{
    int e = errno;
    char why[160];
    snprintf(why, sizeof why, "%s: %s", what, e ? strerror(e) : "no bytes taken");
    errno = e;
    peer_fail(p, PH_ERR_IO, why);
}

static void close_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_close = 0;
    peer_fail(p, p->close_reason, close_why(p)[0] ? close_why(p) : "close timed out");
}

/* Queue a warning or error (channel_id all zero: about the connection) and
 * close once it is written. Before the transport is up: close at once. */
static void close_gracefully(ph_peer *p, ph_err reason, const char *why, bool as_error,
                             const char *text)
{
    if (p->state == PH_PEER_CLOSED || p->state == PH_PEER_CLOSING)
        return;
    if (!transport_up(p)) {
        peer_fail(p, reason, why);
        return;
    }
    if (text) {
        ph_wire_msg *m = NULL;
        ph_err err;
        WITH_ROW(p, PH_MEMROW_DECODE,
                 err = as_error ? ph_wire_error_new(&m, NULL, text)
                                : ph_wire_warning_new(&m, NULL, text));
        if (!err)
            err = ph_outq_push_wire(p->q, m, 0);
        if (err == PH_OK)
            PLOG(p, PH_LOG_INFO, "sent %s: %s", as_error ? "error" : "warning", text);
    }
    p->close_reason = reason;
    set_close_why(p, why);
    p->state = PH_PEER_CLOSING;
    cancel_timer(p, &p->t_handshake);
    cancel_timer(p, &p->t_ping);
    cancel_timer(p, &p->t_pong);
    cancel_timer(p, &p->t_frame);
    arm_timer(p, &p->t_close, CLOSE_GRACE_NS, close_timeout_cb);
    peer_flush(p);
}

void ph_peer_close(ph_peer *p, const char *warning_text)
{
    close_gracefully(p, PH_OK, "closed by us", false, warning_text);
}

static void protocol_fail(ph_peer *p, const char *text)
{
    close_gracefully(p, PH_ERR_PEER_PROTOCOL, text, false, text);
}

/* ---- writing ---- */

static void kick_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_kick = 0;
    peer_flush(p);
}

/* Write at the end of this loop iteration, so several relays batch. */
static void schedule_flush(ph_peer *p)
{
    if (!p->t_kick && p->state != PH_PEER_CLOSED)
        arm_timer(p, &p->t_kick, 0, kick_cb);
}

static void drain_stash(ph_peer *p);

static void peer_flush(ph_peer *p)
{
    if (!p->q || p->state == PH_PEER_CLOSED)
        return;
    ph_err err = ph_outq_flush(p->q, now_ns(p));
    if (p->fatal) {
        peer_fail(p, p->fatal, "outgoing queue above its hard cap");
        return;
    }
    p->want_write = false;
    if (err == PH_ERR_AGAIN) {
        if (ph_outq_wbuf_starved(p->q))
            arm_timer(p, &p->t_kick, STARVED_RETRY_NS, kick_cb);
        else
            p->want_write = true;
    } else if (err == PH_ERR_PEER_CLOSED) {
        peer_fail(p, err, "connection reset while writing");
        return;
    } else if (err) {
        peer_fail(p, err, "write failed");
        return;
    }
    if (p->state == PH_PEER_CLOSING && !ph_outq_pending(p->q)) {
        ph_conn_shutdown_write(p->conn);
        peer_fail(p, p->close_reason, close_why(p));
        return;
    }
    if (p->reading_paused && ph_outq_queued_bytes(p->q) < ph_outq_soft_cap(p->q) / 2) {
        drain_stash(p);
        /* What the stashed messages queued (pongs, answers) was pushed
         * after this flush: write it too, or nothing would arm write
         * interest for it. */
        if (p->state != PH_PEER_CLOSED && ph_outq_pending(p->q))
            schedule_flush(p);
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
        peer_fail(p, PH_ERR_IO, "epoll_ctl failed");
}

void ph_peer_kick(ph_peer *p)
{
    if (transport_up(p))
        schedule_flush(p);
}

ph_err ph_peer_send(ph_peer *p, ph_outq_msg *m, unsigned flags)
{
    if (!transport_up(p) || p->state == PH_PEER_CLOSED || p->state == PH_PEER_CLOSING)
        return PH_ERR_STATE;
    ph_err err = ph_outq_push(p->q, m, flags);
    if (err == PH_ERR_LIMIT) {
        peer_fail(p, err, "outgoing queue above its hard cap");
        return err;
    }
    if (!err)
        schedule_flush(p);
    return err;
}

static void gossip_unref(void *obj)
{
    ph_gossip_msg_unref(obj);
}

/* A decoded copy of stored bytes, for the per-write encoding: what lnd's
 * writeMessage encodes from. Counted as decoding, under the message's type. */
ph_err ph_peer_decode_for_send(ph_memtag *tag, const uint8_t *bytes, size_t len,
                               ph_outq_msg **out)
{
    uint8_t row = ph_memtag_row(tag, PH_MEMROW_DECODE);
    uint32_t type = ph_memtag_type(tag, len >= 2 ? (uint32_t)ph_be16(bytes)
                                                 : PH_MEMTAG_NO_TYPE);
    ph_wire_msg *w = NULL;
    /* Copied, not borrowed: the decoded message outlives the stored bytes'
     * reference, which the caller drops now. */
    ph_err err = ph_wire_decode(bytes, len, 0, &w, NULL);
    if (!err)
        err = ph_outq_msg_wire(out, w);
    else if (err != PH_ERR_NOMEM)
        err = ph_outq_msg_copy(out, bytes, len); /* malformed: still travels, opaque */
    ph_memtag_type(tag, type);
    ph_memtag_row(tag, row);
    return err;
}

/* Queue stored bytes the way cfg.encode says: the bytes themselves
 * (copied into the write buffer at flush), or a decoded message encoded
 * into it. The reference (unref, obj) is consumed on every path. */
static ph_err push_stored(ph_peer *p, const uint8_t *bytes, size_t len,
                          void (*unref)(void *), void *obj, unsigned flags)
{
    if (cfg_of(p)->encode != PH_ENCODE_PER_WRITE)
        return ph_outq_push_external(p->q, bytes, len, unref, obj, flags);
    ph_outq_msg *m = NULL;
    ph_err err = ph_peer_decode_for_send(p->env->tag, bytes, len, &m);
    if (unref)
        unref(obj);
    if (err)
        return err;
    err = ph_outq_push(p->q, m, flags);
    ph_outq_msg_unref(m);
    return err;
}

bool ph_peer_relay_ready(const ph_peer *p)
{
    return p->state == PH_PEER_OPEN && p->filter_set && p->live;
}

/* Every relay ends here: queued as droppable, written at the end of the
 * loop iteration. Consumes the message reference or the external one. */
static bool relay_push(ph_peer *p, ph_outq_msg *m, const uint8_t *bytes, size_t len,
                       void (*unref)(void *), void *obj)
{
    uint64_t dropped = ph_outq_relay_dropped(p->q);
    ph_err err = m ? ph_outq_push(p->q, m, PH_OUTQ_RELAY)
                   : push_stored(p, bytes, len, unref, obj, PH_OUTQ_RELAY);
    if (err) {
        peer_fail(p, err, err == PH_ERR_LIMIT ? "outgoing queue above its hard cap"
                                              : "cannot queue relayed gossip");
        return false;
    }
    if (ph_outq_relay_dropped(p->q) != dropped)
        return false;
    schedule_flush(p);
    return true;
}

bool ph_peer_relay(ph_peer *p, ph_gossip_msg *m, ph_outq_msg *decoded)
{
    if (!ph_peer_relay_ready(p) || !p->env->gossip)
        return false;
    if (!ph_gossip_msg_in_window(p->env->gossip, m, p->filter_first, p->filter_range))
        return false;
    if (decoded)
        return relay_push(p, decoded, NULL, 0, NULL, NULL);
    return relay_push(p, NULL, ph_gossip_msg_data(m), ph_gossip_msg_len(m), gossip_unref,
                      ph_gossip_msg_ref(m));
}

bool ph_peer_relay_bytes(ph_peer *p, const uint8_t *bytes, size_t len, void (*unref)(void *),
                         void *obj, ph_outq_msg *decoded)
{
    if (!ph_peer_relay_ready(p)) {
        if (unref)
            unref(obj);
        return false;
    }
    if (decoded) {
        if (unref)
            unref(obj);
        return relay_push(p, decoded, NULL, 0, NULL, NULL);
    }
    return relay_push(p, NULL, bytes, len, unref, obj);
}

/* outq refill: stream the stored gossip of the filter's window, a slice at
 * a time, so the backlog never sits in the queue. */
static void backlog_close(ph_peer *p)
{
    if (p->backlog)
        p->backlog_ops->destroy(p->backlog);
    p->backlog = NULL;
    p->backlog_ops = NULL;
}

static ph_err query_emit(void *ctx, ph_gossip_msg *m);

/* A query answer first (it was asked for), a channel at a time. */
static bool refill_answer(ph_peer *p, ph_outq *q, size_t low)
{
    while (p->answer && ph_outq_waiting_bytes(q) < low) {
        bool done = false;
        ph_err err = ph_gossip_scid_answer_next(p->answer, query_emit, p, &done);
        if (err) {
            p->fatal = err;
            return false;
        }
        if (done) {
            ph_gossip_scid_answer_destroy(p->answer);
            p->answer = NULL;
        }
    }
    return !p->answer;
}

static void refill_backlog(ph_peer *p, ph_outq *q, size_t low)
{
    while (p->backlog && ph_outq_waiting_bytes(q) < low) {
        const uint8_t *bytes = NULL;
        size_t len = 0;
        void (*unref)(void *) = NULL;
        void *obj = NULL;
        int got = p->backlog_ops->next(p->backlog, &bytes, &len, &unref, &obj);
        if (got == PH_BACKLOG_LATER)
            return;
        if (got == PH_BACKLOG_END) {
            backlog_close(p);
            p->live = true;
            PLOG(p, PH_LOG_INFO, "gossip backlog sent (%llu messages); relaying new gossip",
                 (unsigned long long)p->st.gossip_streamed);
            return;
        }
        ph_err err = push_stored(p, bytes, len, unref, obj, 0);
        if (err) {
            p->fatal = err;
            return;
        }
        p->st.gossip_streamed++;
    }
}

static void stream_refill(void *ctx, ph_outq *q)
{
    ph_peer *p = ctx;
    if (p->state != PH_PEER_OPEN)
        return;
    size_t low = cfg_of(p)->stream_low_water ? cfg_of(p)->stream_low_water
                                             : PH_PEER_DEFAULT_STREAM_LOW_WATER;
    if (refill_answer(p, q, low))
        refill_backlog(p, q, low);
}

/* ---- timers ---- */

static void handshake_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_handshake = 0;
    peer_fail(p, PH_ERR_TIMEOUT,
              p->state == PH_PEER_INIT ? "no init before the handshake timeout"
                                       : "handshake timeout");
}

static void pong_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_pong = 0;
    peer_fail(p, PH_ERR_TIMEOUT, "no pong to our ping");
}

static void ping_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_ping = 0;
    if (p->state != PH_PEER_OPEN)
        return;
    const ph_peer_config *c = cfg_of(p);
    if (!p->awaiting_pong) {
        ph_wire_msg *m = NULL;
        ph_err built;
        WITH_ROW(p, PH_MEMROW_DECODE, built = ph_wire_ping_new(&m, PING_NUM_PONG_BYTES, 0));
        if (built == PH_OK &&
            ph_outq_push_wire(p->q, m, 0) == PH_OK) {
            p->awaiting_pong = true;
            p->pong_expect = PING_NUM_PONG_BYTES;
            arm_timer(p, &p->t_pong, c->pong_timeout_ns, pong_timeout_cb);
            peer_flush(p);
            if (p->state == PH_PEER_CLOSED)
                return;
        }
    }
    arm_timer(p, &p->t_ping, c->ping_interval_ns, ping_cb);
}

/* How long the current frame may take: the configured limit, plus the time
 * the inbound rate needs for the largest frame (the rate slows the frame
 * down, not the peer). */
static uint64_t frame_limit_ns(const ph_peer *p)
{
    uint64_t t = cfg_of(p)->frame_timeout_ns;
    uint64_t rate = cfg_of(p)->in_rate;
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
        arm_timer(p, &p->t_frame, frame_limit_ns(p), frame_timeout_cb);
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "a frame still incomplete %.1f s after its first byte",
             (double)frame_limit_ns(p) / 1e9);
    peer_fail(p, PH_ERR_TIMEOUT, why);
}

/* After input was consumed: time the frame in progress, if any. The timer
 * restarts when a frame completed since it was armed (a steady stream of
 * frames always has one in progress). */
static void frame_watch(ph_peer *p)
{
    if (!cfg_of(p)->frame_timeout_ns || p->state != PH_PEER_OPEN ||
        !ph_noise_rx_in_frame(p->noise)) {
        cancel_timer(p, &p->t_frame);
        return;
    }
    if (p->t_frame && p->frame_mark == p->st.msgs_in)
        return;
    p->frame_mark = p->st.msgs_in;
    arm_timer(p, &p->t_frame, frame_limit_ns(p), frame_timeout_cb);
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
    double r = (double)cfg_of(p)->in_rate;
    return r < MIN_IN_BURST ? MIN_IN_BURST : r;
}

static void refill_tokens(double *tokens, uint64_t *at, uint64_t now, double rate, double burst)
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
    uint64_t t = cfg_of(p)->handshake_timeout_ns ? cfg_of(p)->handshake_timeout_ns
                                                 : PH_PEER_DEFAULT_HANDSHAKE_TIMEOUT_NS;
    arm_timer(p, &p->t_handshake, t, handshake_timeout_cb);
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
    set_addr(p);
    rec_open(p);
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
    rec_close(p, false);
    ph_conn_destroy(p->conn);
    backlog_close(p);
    ph_gossip_scid_answer_destroy(p->answer);
    ph_outq_destroy(p->q);
    if (p->wbp)
        ph_wbuf_peer_detach(p->wbp);
    ph_noise_destroy(p->noise);
    ph_noise_hs_destroy(p->hs);
    free(p->act);
    free(p->stash);
    free(p->features);
    free_close_why(p);
    free(p);
}

/* ---- handshake ---- */

static void start_transport(ph_peer *p);

/* Write the rest of p->act; true when all of it is out. */
static bool act_write(ph_peer *p)
{
    while (p->act_off < p->act_len) {
        struct iovec iov = { p->act + p->act_off, (size_t)(p->act_len - p->act_off) };
        ssize_t n = ph_conn_sendv(p->conn, &iov, 1);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) {
            if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
                peer_fail(p, PH_ERR_PEER_CLOSED, "connection reset during the handshake");
            else
                io_fail(p, "handshake write failed");
            return false;
        }
        rec_data(p, true, p->act + p->act_off, (size_t)n);
        p->act_off = (uint8_t)(p->act_off + n);
    }
    return true;
}

static void begin_act_write(ph_peer *p, size_t len, uint8_t next_step)
{
    p->act_len = (uint8_t)len;
    p->act_off = 0;
    p->hs_step = next_step;
}

/* Read exactly the rest of an act: never past it, since the transport's
 * first bytes may follow in the same segment. */
static bool act_read(ph_peer *p, size_t need)
{
    while (p->act_len < need) {
        ssize_t n = ph_conn_recv(p->conn, p->act + p->act_len, need - p->act_len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n == 0) {
            peer_fail(p, PH_ERR_PEER_CLOSED, "connection closed during the handshake");
            return false;
        }
        if (n < 0) {
            if (errno == ECONNRESET)
                peer_fail(p, PH_ERR_PEER_CLOSED, "connection reset during the handshake");
            else
                io_fail(p, "handshake read failed");
            return false;
        }
        rec_data(p, false, p->act + p->act_len, (size_t)n);
        p->st.wire_bytes_in += (uint64_t)n;
        p->act_len = (uint8_t)(p->act_len + n);
    }
    return true;
}

static void hs_failed(ph_peer *p, ph_err err, const char *what)
{
    char why[96];
    snprintf(why, sizeof why, "handshake failed at %s", what);
    peer_fail(p, err, why);
}

/* Run the handshake as far as the socket allows. */
static void handshake_step(ph_peer *p)
{
    ph_err err;
    for (;;) {
        switch (p->hs_step) {
        case HS_R_READ_ACT1:
            if (!act_read(p, PH_NOISE_ACT1_LEN))
                return;
            if ((err = ph_noise_act1_read(p->hs, p->act, p->act_len)) != PH_OK)
                { hs_failed(p, err, "act 1"); return; }
            if ((err = ph_noise_act2_write(p->hs, p->act)) != PH_OK)
                { hs_failed(p, err, "act 2"); return; }
            begin_act_write(p, PH_NOISE_ACT2_LEN, HS_R_WRITE_ACT2);
            break;
        case HS_R_WRITE_ACT2:
            if (!act_write(p))
                return;
            p->act_len = 0;
            p->hs_step = HS_R_READ_ACT3;
            break;
        case HS_R_READ_ACT3:
            if (!act_read(p, PH_NOISE_ACT3_LEN))
                return;
            if ((err = ph_noise_act3_read(p->hs, p->act, p->act_len)) != PH_OK)
                { hs_failed(p, err, "act 3"); return; }
            if (ph_noise_hs_remote_pubkey(p->hs, p->remote) == PH_OK)
                p->have_remote = true;
            start_transport(p);
            return;
        case HS_I_WRITE_ACT1:
            if (!act_write(p))
                return;
            p->act_len = 0;
            p->hs_step = HS_I_READ_ACT2;
            break;
        case HS_I_READ_ACT2:
            if (!act_read(p, PH_NOISE_ACT2_LEN))
                return;
            if ((err = ph_noise_act2_read(p->hs, p->act, p->act_len)) != PH_OK)
                { hs_failed(p, err, "act 2"); return; }
            if ((err = ph_noise_act3_write(p->hs, p->act)) != PH_OK)
                { hs_failed(p, err, "act 3"); return; }
            begin_act_write(p, PH_NOISE_ACT3_LEN, HS_I_WRITE_ACT3);
            break;
        case HS_I_WRITE_ACT3:
            if (!act_write(p))
                return;
            start_transport(p);
            return;
        default:
            return;
        }
    }
}

static void connect_done(ph_peer *p)
{
    int soerr = ph_conn_connect_error(p->conn);
    if (soerr) {
        char why[128];
        snprintf(why, sizeof why, "connect failed: %s", strerror(soerr));
        peer_fail(p, PH_ERR_IO, why);
        return;
    }
    set_addr(p);
    rec_open(p);
    PLOG(p, PH_LOG_INFO, "%s", "connected");
    ph_err err = ph_noise_act1_write(p->hs, p->act);
    if (err)
        { hs_failed(p, err, "act 1"); return; }
    p->state = PH_PEER_HANDSHAKE;
    begin_act_write(p, PH_NOISE_ACT1_LEN, HS_I_WRITE_ACT1);
    handshake_step(p);
}

/* Our init: the odd bit of gossip_queries and of every ASSUMED pair. */
static const unsigned OUR_FEATURE_BITS[] = { 1, 7, 9, 13, 15, 45 };

static ph_err send_init(ph_peer *p)
{
    uint8_t fv[8];
    size_t flen = ph_feature_len_for(45);
    memset(fv, 0, sizeof fv);
    ph_err err;
    for (size_t i = 0; i < sizeof OUR_FEATURE_BITS / sizeof OUR_FEATURE_BITS[0]; i++)
        if ((err = ph_feature_set(fv, flen, OUR_FEATURE_BITS[i])))
            return err;
    const uint8_t(*chains)[32] = (const uint8_t(*)[32])cfg_of(p)->chain_hash;
    ph_wire_msg *m = NULL;
    WITH_ROW(p, PH_MEMROW_DECODE, err = ph_wire_init_new(&m, fv, flen, chains, 1));
    if (err)
        return err;
    return ph_outq_push_wire(p->q, m, 0);
}

static ssize_t conn_write(void *ctx, const struct iovec *iov, int iovcnt)
{
    ph_peer *p = ctx;
    if (!p->conn) {
        errno = EPIPE;
        return -1;
    }
    return ph_conn_sendv(p->conn, iov, iovcnt);
}

static void frame_observed(void *ctx, uint16_t type, size_t len)
{
    ph_peer *p = ctx;
    p->env->on_frame(p->env->on_frame_ctx, p, type, len);
}

static void start_transport(ph_peer *p)
{
    ph_err err;
    WITH_ROW(p, PH_MEMROW_SESSION, err = ph_noise_hs_finish(p->hs, &p->noise));
    ph_noise_hs_destroy(p->hs);
    p->hs = NULL;
    free(p->act);
    p->act = NULL;
    if (err)
        { hs_failed(p, err, "finish"); return; }
    if (p->env->keylog)
        ph_noise_set_key_cb(p->noise, ph_keylog_writer_cb, p->env->keylog);
    WITH_ROW(p, PH_MEMROW_WBUF, err = ph_wbuf_peer_attach(p->env->wbuf, &p->wbp));
    ph_outq_sink sink = { .fd = -1, .write = conn_write, .ctx = p };
    if (p->rec) {
        sink.tap = rec_tap;
        sink.tap_ctx = p;
    }
    ph_outq_config oc = cfg_of(p)->outq;
    oc.tag = p->env->tag;
    if (!err)
        err = ph_outq_create(&p->q, p->noise, p->wbp, &sink, &oc);
    if (!err && p->env->on_frame)
        ph_outq_set_frame_observer(p->q, frame_observed, p);
    if (!err) {
        size_t low = cfg_of(p)->stream_low_water ? cfg_of(p)->stream_low_water
                                                 : PH_PEER_DEFAULT_STREAM_LOW_WATER;
        ph_outq_set_refill(p->q, low, stream_refill, p);
    }
    if (!err)
        err = send_init(p);
    if (err) {
        peer_fail(p, err, "cannot start the transport");
        return;
    }
    p->state = PH_PEER_INIT;
    char hex[67];
    ph_hex_encode(p->remote, 33, hex);
    PLOG(p, PH_LOG_INFO, "handshake done, node %s", hex);
    peer_flush(p);
}

/* ---- received messages ---- */

static void log_text_msg(ph_peer *p, const char *kind, const uint8_t *msg, size_t len)
{
    ph_wire_msg *m = NULL;
    char line[600];
    ph_err err;
    WITH_ROW(p, PH_MEMROW_DECODE, err = ph_wire_decode(msg, len, PH_WIRE_BORROW, &m, NULL));
    if (err == PH_OK) {
        ph_wire_summary(m, line, sizeof line);
        ph_wire_msg_free(m);
    } else {
        snprintf(line, sizeof line, "%s (malformed, %zu bytes)", kind, len);
    }
    PLOG(p, PH_LOG_WARN, "received %s", line);
}

static void or_features(uint8_t *dst, size_t dlen, const uint8_t *src, size_t slen)
{
    /* Right-aligned: bit 0 is the last byte of each vector. */
    for (size_t i = 0; i < slen; i++)
        dst[dlen - 1 - i] |= src[slen - 1 - i];
}

static void handle_init(ph_peer *p, const uint8_t *msg, size_t len)
{
    ph_wire_msg *m = NULL;
    size_t off = 0;
    ph_err err;
    WITH_ROW(p, PH_MEMROW_DECODE, err = ph_wire_decode(msg, len, PH_WIRE_BORROW, &m, &off));
    if (err) {
        char why[128];
        snprintf(why, sizeof why, "malformed init at offset %zu: %s", off, ph_strerror(err));
        protocol_fail(p, why);
        return;
    }
    const uint8_t *gf = NULL, *lf = NULL;
    size_t gl = 0, ll = 0;
    /* Both are fields of init's layout, so a decoded init has them. */
    if (ph_wire_get_bytes(m, "globalfeatures", &gf, &gl) ||
        ph_wire_get_bytes(m, "features", &lf, &ll)) {
        ph_wire_msg_free(m);
        protocol_fail(p, "malformed init: no features");
        return;
    }
    size_t flen = gl > ll ? gl : ll;
    free(p->features);
    p->features = calloc(1, flen ? flen : 1);
    if (!p->features) {
        ph_wire_msg_free(m);
        peer_fail(p, PH_ERR_NOMEM, "out of memory");
        return;
    }
    p->features_len = flen;
    or_features(p->features, flen, gf, gl);
    or_features(p->features, flen, lf, ll);

    char desc[512];
    ph_feature_describe(p->features, flen, desc, sizeof desc);
    PLOG(p, PH_LOG_INFO, "init: features [%s]", desc);

    unsigned bit;
    if (ph_feature_unknown_even(p->features, flen, NULL, 0, &bit)) {
        ph_wire_msg_free(m);
        char text[96];
        snprintf(text, sizeof text, "unknown required feature bit %u", bit);
        close_gracefully(p, PH_ERR_PEER_INCOMPATIBLE, text, false, text);
        return;
    }
    const ph_wire_tlv *nets = ph_wire_tlv_find(m, 1);
    if (nets) {
        bool common = false;
        for (size_t i = 0; i + 32 <= nets->len; i += 32)
            if (memcmp(nets->value + i, cfg_of(p)->chain_hash, 32) == 0)
                common = true;
        if (!common) {
            ph_wire_msg_free(m);
            close_gracefully(p, PH_ERR_PEER_INCOMPATIBLE, "no common chain", false,
                             "no common chain in networks");
            return;
        }
    }
    ph_wire_msg_free(m);

    p->state = PH_PEER_OPEN;
    cancel_timer(p, &p->t_handshake);
    if (cfg_of(p)->ping_interval_ns)
        arm_timer(p, &p->t_ping, cfg_of(p)->ping_interval_ns, ping_cb);
    if (p->env->host.on_ready)
        p->env->host.on_ready(p->env->host.ctx, p);
    if (p->state != PH_PEER_OPEN)
        return;
    /* BOLT 7: only ask for gossip when both sides offer gossip_queries. */
    if (cfg_of(p)->filter != PH_PEER_FILTER_NONE && ph_feature_offered(p->features, flen, 6)) {
        uint8_t buf[64];
        size_t n = 0;
        uint32_t first = 0, range = UINT32_MAX;
        if (cfg_of(p)->filter == PH_PEER_FILTER_NEW)
            first = (uint32_t)(wall_ns() / 1000000000u);
        if (ph_gossip_build_timestamp_filter(cfg_of(p)->chain_hash, first, range, buf,
                                             sizeof buf, &n) == PH_OK &&
            (err = ph_outq_push_copy(p->q, buf, n, 0)) != PH_OK)
            PLOG(p, PH_LOG_WARN, "gossip_timestamp_filter not queued: %s", ph_strerror(err));
    }
}

static void handle_ping(ph_peer *p, const uint8_t *msg, size_t len)
{
    if (len < 6 || 6u + ph_be16(msg + 4) > len) {
        protocol_fail(p, "malformed ping");
        return;
    }
    uint16_t ask = ph_be16(msg + 2);
    if (ask > PONG_MAX_ASK) {
        p->st.pings_ignored_large++;
        if (p->st.pings_ignored_large == 1 || p->st.pings_ignored_large % 1000 == 0)
            PLOG(p, PH_LOG_INFO, "ping asking for %u pong bytes not answered (BOLT 1: 65,532 or "
                 "more means no pong; %llu so far)", ask,
                 (unsigned long long)p->st.pings_ignored_large);
        return;
    }
    const ph_peer_config *c = cfg_of(p);
    refill_tokens(&p->ping_tokens, &p->ping_tokens_at, now_ns(p), c->ping_rate, c->ping_burst);
    if (p->ping_tokens < 1.0 || backpressured(p)) {
        p->st.pings_ignored_flood++;
        if (p->st.pings_ignored_flood == 1 || p->st.pings_ignored_flood % 1000 == 0)
            PLOG(p, PH_LOG_WARN, "ping flood: %llu pings not answered",
                 (unsigned long long)p->st.pings_ignored_flood);
        return;
    }
    p->ping_tokens -= 1.0;
    ph_wire_msg *m = NULL;
    ph_err err;
    WITH_ROW(p, PH_MEMROW_DECODE, err = ph_wire_pong_new(&m, ask));
    if (!err)
        err = ph_outq_push_wire(p->q, m, 0);
    if (err == PH_ERR_LIMIT) {
        peer_fail(p, err, "outgoing queue above its hard cap");
        return;
    }
    if (!err)
        p->st.pings_answered++;
}

static void handle_pong(ph_peer *p, const uint8_t *msg, size_t len)
{
    if (len < 4 || 4u + ph_be16(msg + 2) > len) {
        protocol_fail(p, "malformed pong");
        return;
    }
    if (p->awaiting_pong && ph_be16(msg + 2) == p->pong_expect) {
        p->awaiting_pong = false;
        cancel_timer(p, &p->t_pong);
        return;
    }
    p->st.pongs_unsolicited++;
}

/* The store's own cursor, unless the host streams something else (the
 * replay: the captured messages of the node under study). */
static int cursor_next(void *cur, const uint8_t **bytes, size_t *len, void (**unref)(void *),
                       void **obj)
{
    ph_gossip_msg *m = ph_gossip_cursor_next(cur);
    if (!m)
        return PH_BACKLOG_END;
    *bytes = ph_gossip_msg_data(m);
    *len = ph_gossip_msg_len(m);
    *unref = gossip_unref;
    *obj = m;
    return PH_BACKLOG_ITEM;
}

static void cursor_set_filter(void *cur, uint32_t first, uint32_t range)
{
    ph_gossip_cursor_set_filter(cur, first, range);
}

static void cursor_destroy(void *cur)
{
    ph_gossip_cursor_destroy(cur);
}

static const ph_backlog_ops store_backlog = {
    .next = cursor_next,
    .set_filter = cursor_set_filter,
    .destroy = cursor_destroy,
};

static ph_err open_backlog(ph_peer *p, uint32_t first, uint32_t range)
{
    const ph_peer_host *h = &p->env->host;
    if (h->open_backlog) {
        const ph_backlog_ops *ops = NULL;
        void *cur = NULL;
        ph_err err = h->open_backlog(h->ctx, p, first, range, &ops, &cur);
        if (err)
            return err;
        if (ops) {
            p->backlog_ops = ops;
            p->backlog = cur;
            return PH_OK;
        }
    }
    ph_gossip_cursor *c = NULL;
    ph_err err = ph_gossip_cursor_create(p->env->gossip, first, range, p->id, &c);
    if (err)
        return err;
    p->backlog_ops = &store_backlog;
    p->backlog = c;
    return PH_OK;
}

static void handle_filter(ph_peer *p, const uint8_t *msg, size_t len)
{
    ph_gossip_store *gs = p->env->gossip;
    if (!gs)
        return;
    uint32_t first, range;
    ph_err err = ph_gossip_parse_timestamp_filter(gs, msg, len, &first, &range);
    if (err == PH_ERR_GOSSIP_CHAIN) {
        PLOG(p, PH_LOG_DEBUG, "%s", "gossip_timestamp_filter for another chain ignored");
        return;
    }
    if (err) {
        protocol_fail(p, "malformed gossip_timestamp_filter");
        return;
    }
    p->filter_set = true;
    p->filter_first = first;
    p->filter_range = range;
    p->live = false;
    if (p->backlog) {
        p->backlog_ops->set_filter(p->backlog, first, range);
    } else if (open_backlog(p, first, range) != PH_OK) {
        peer_fail(p, PH_ERR_NOMEM, "cannot create a gossip cursor");
        return;
    }
    PLOG(p, PH_LOG_INFO, "gossip_timestamp_filter first=%u range=%u", first, range);
    schedule_flush(p);
}

static ph_err query_emit(void *ctx, ph_gossip_msg *m)
{
    ph_peer *p = ctx;
    return push_stored(p, ph_gossip_msg_data(m), ph_gossip_msg_len(m), gossip_unref, m, 0);
}

static void query_failed(ph_peer *p, uint16_t type, ph_err err)
{
    if (err == PH_ERR_LIMIT) {
        peer_fail(p, err, "outgoing queue above its hard cap");
        return;
    }
    if (err == PH_ERR_GOSSIP_ENCODING) {
        ph_wire_msg *w = NULL;
        ph_err built;
        WITH_ROW(p, PH_MEMROW_DECODE,
                 built = ph_wire_warning_new(&w, NULL, "unsupported short_channel_id encoding"));
        /* A courtesy before ignoring the query: if it cannot be queued
         * (out of memory; push_wire frees `w`), the query is ignored anyway. */
        if (built == PH_OK && (built = ph_outq_push_wire(p->q, w, 0)) != PH_OK)
            PLOG(p, PH_LOG_DEBUG, "warning not queued: %s", ph_strerror(built));
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "malformed %s: %s", ph_wire_type_name(type), ph_strerror(err));
    protocol_fail(p, why);
}

/* query_short_channel_ids: planned now, streamed by stream_refill as the
 * queue drains, so that a 64 KB query never sits in the queue whole. One
 * at a time (BOLT 7: the sender waits for reply_short_channel_ids_end; the
 * receiver MAY close otherwise). */
static void handle_scid_query(ph_peer *p, const uint8_t *msg, size_t len)
{
    if (p->answer) {
        protocol_fail(p, "query_short_channel_ids before the previous one was answered");
        return;
    }
    ph_err err;
    WITH_ROW(p, PH_MEMROW_QUEUE,
             err = ph_gossip_scid_answer_create(p->env->gossip, msg, len, &p->answer));
    if (err) {
        query_failed(p, PH_WIRE_QUERY_SHORT_CHANNEL_IDS, err);
        return;
    }
    schedule_flush(p);
}

static void handle_query(ph_peer *p, uint16_t type, const uint8_t *msg, size_t len)
{
    ph_gossip_store *gs = p->env->gossip;
    if (!gs)
        return;
    if (type == PH_WIRE_QUERY_SHORT_CHANNEL_IDS) {
        handle_scid_query(p, msg, len);
        return;
    }
    ph_err err = ph_gossip_answer_channel_range(gs, msg, len, query_emit, p);
    if (err)
        query_failed(p, type, err);
}

/* BOLT 1: a known message that does not parse closes the connection (a
 * warning first). Validation only: nothing is allocated. */
static bool parses(ph_peer *p, uint16_t type, const uint8_t *msg, size_t len)
{
    size_t off = 0;
    ph_err err = ph_wire_decode(msg, len, 0, NULL, &off);
    if (!err)
        return true;
    char text[160];
    snprintf(text, sizeof text, "malformed %s at offset %zu: %s", ph_wire_type_name(type), off,
             ph_strerror(err));
    protocol_fail(p, text);
    return false;
}

static void handle_unknown_or_other(ph_peer *p, uint16_t type, const uint8_t *msg, size_t len)
{
    if (!ph_wire_msg_desc_find(type)) {
        if (type & 1) {
            p->st.unknown_odd++;
            PLOG(p, PH_LOG_DEBUG, "ignored unknown odd message type %u", type);
            return;
        }
        char text[96];
        snprintf(text, sizeof text, "unknown even message type %u", type);
        protocol_fail(p, text);
        return;
    }
    if (parses(p, type, msg, len))
        PLOG(p, PH_LOG_DEBUG, "ignored %s (no channels here)", ph_wire_type_name(type));
}

static void dispatch_msg(ph_peer *p, const uint8_t *msg, size_t len)
{
    if (len < 2) {
        protocol_fail(p, "message shorter than its type");
        return;
    }
    uint16_t type = ph_be16(msg);
    ph_msgcount *c = &p->st.in[ph_msgtype_slot(type)];
    c->msgs++;
    c->bytes += len;
    p->st.msgs_in++;
    p->st.bytes_in += len;
    if (p->env->host.on_message)
        p->env->host.on_message(p->env->host.ctx, p, msg, len);
    if (p->state != PH_PEER_INIT && p->state != PH_PEER_OPEN)
        return;
    if (p->state == PH_PEER_INIT) {
        if (type != PH_WIRE_INIT) {
            protocol_fail(p, "first message is not init");
            return;
        }
        handle_init(p, msg, len);
        return;
    }
    switch (type) {
    case PH_WIRE_INIT:
        PLOG(p, PH_LOG_DEBUG, "%s", "second init ignored");
        return;
    case PH_WIRE_PING:
        handle_ping(p, msg, len);
        return;
    case PH_WIRE_PONG:
        handle_pong(p, msg, len);
        return;
    case PH_WIRE_WARNING:
        log_text_msg(p, "warning", msg, len);
        return;
    case PH_WIRE_ERROR:
        log_text_msg(p, "error", msg, len);
        peer_fail(p, PH_ERR_PEER_PROTOCOL, "error received");
        return;
    case PH_WIRE_CHANNEL_ANNOUNCEMENT:
    case PH_WIRE_NODE_ANNOUNCEMENT:
    case PH_WIRE_CHANNEL_UPDATE:
        if (parses(p, type, msg, len) && p->env->host.on_gossip)
            p->env->host.on_gossip(p->env->host.ctx, p, msg, len);
        return;
    case PH_WIRE_GOSSIP_TIMESTAMP_FILTER:
        handle_filter(p, msg, len);
        return;
    case PH_WIRE_QUERY_CHANNEL_RANGE:
    case PH_WIRE_QUERY_SHORT_CHANNEL_IDS:
        handle_query(p, type, msg, len);
        return;
    default:
        handle_unknown_or_other(p, type, msg, len);
        return;
    }
}

/* What handling a message allocates (a pong, a decoded init, gossip in the
 * store) is charged to its type. */
static void handle_msg(ph_peer *p, const uint8_t *msg, size_t len)
{
    uint32_t type = ph_memtag_type(p->env->tag, len >= 2 ? ph_be16(msg) : PH_MEMTAG_NO_TYPE);
    dispatch_msg(p, msg, len);
    ph_memtag_type(p->env->tag, type);
}

static bool reading(const ph_peer *p)
{
    if (p->state == PH_PEER_OPEN && cfg_of(p)->stall_reads)
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
        if (backpressured(p)) {
            WITH_ROW(p, PH_MEMROW_SESSION, p->stash = malloc(n - off));
            if (!p->stash) {
                peer_fail(p, PH_ERR_NOMEM, "out of memory");
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
            peer_fail(p, err, "decryption failed");
            return;
        }
        off += used;
        if (msg)
            handle_msg(p, msg, mlen);
    }
}

static void drain_stash(ph_peer *p)
{
    while (p->stash && p->stash_off < p->stash_len && reading(p)) {
        if (backpressured(p))
            return;
        size_t used = 0, mlen = 0, need = 0;
        const uint8_t *msg = NULL;
        ph_err err;
        WITH_ROW(p, PH_MEMROW_SESSION,
                 err = ph_noise_decrypt_feed(p->noise, p->stash + p->stash_off,
                                             p->stash_len - p->stash_off, &used, &msg, &mlen,
                                             &need));
        if (err) {
            peer_fail(p, err, "decryption failed");
            return;
        }
        p->stash_off += used;
        if (msg)
            handle_msg(p, msg, mlen);
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
    const ph_peer_config *c = cfg_of(p);
    for (int round = 0; round < READS_PER_EVENT && reading(p) && !p->reading_paused; round++) {
        size_t want = sizeof buf;
        if (c->in_rate) {
            refill_tokens(&p->in_tokens, &p->in_tokens_at, now_ns(p), (double)c->in_rate,
                          in_burst(p));
            if (p->in_tokens < 1.0) {
                p->rate_paused = true;
                p->st.rate_pauses++;
                double wait_s = (MIN_IN_BURST / 4) / (double)c->in_rate;
                arm_timer(p, &p->t_rate, (uint64_t)(wait_s * 1e9) + 1, rate_cb);
                break;
            }
            if ((double)want > p->in_tokens)
                want = (size_t)p->in_tokens;
        }
        ssize_t n = ph_conn_recv(p->conn, buf, want);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n == 0) {
            peer_fail(p, PH_ERR_PEER_CLOSED, "connection closed by the peer");
            return;
        }
        if (n < 0) {
            if (errno == ECONNRESET)
                peer_fail(p, PH_ERR_PEER_CLOSED, "connection reset by the peer");
            else
                io_fail(p, "read failed");
            return;
        }
        if (c->in_rate)
            p->in_tokens -= (double)n;
        p->st.wire_bytes_in += (uint64_t)n;
        rec_data(p, false, buf, (size_t)n);
        consume(p, buf, (size_t)n);
        if ((size_t)n < want)
            break;
    }
    if (p->state == PH_PEER_CLOSED)
        return;
    frame_watch(p);
    peer_flush(p);
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
    peer_fail(p, PH_ERR_PEER_CLOSED, why);
}

static void conn_ready(ph_conn *c, unsigned events, void *ctx)
{
    (void)c;
    ph_peer *p = ctx;
    switch (p->state) {
    case PH_PEER_CONNECTING:
        connect_done(p);
        break;
    case PH_PEER_HANDSHAKE:
        handshake_step(p);
        break;
    case PH_PEER_INIT:
    case PH_PEER_OPEN:
        if (events & PH_EV_WRITE)
            peer_flush(p);
        if (!(events & PH_EV_READ) || p->state == PH_PEER_CLOSED)
            break;
        if (reading(p) && !p->reading_paused && !p->rate_paused)
            transport_read(p);
        else
            hangup_while_not_reading(p);
        break;
    case PH_PEER_CLOSING:
        if (events & PH_EV_WRITE)
            peer_flush(p);
        else if (events & PH_EV_READ) {
            /* Hang-up while closing: nothing more will be written. */
            char b[256];
            ssize_t n = ph_conn_recv(p->conn, b, sizeof b);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                peer_fail(p, p->close_reason, close_why(p));
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
    memcpy(out->in, c->in, sizeof out->in);
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
    size_t n = sizeof *p + p->stash_len + p->features_len;
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
