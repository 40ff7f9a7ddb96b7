/* Internal contract between the modules of a peer: lifecycle and transport
 * (peer.c), the BOLT 8 handshake (peer_handshake.c), the message handlers
 * (peer_msg.c) and session recording (peer_record.c). Not part of the
 * public API: callers use peer.h. */
#ifndef PH_PEER_IMPL_H
#define PH_PEER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "conn.h"
#include "gossip.h"
#include "gossip_query.h"
#include "memtag.h"
#include "noise.h"
#include "pcapwrite.h"
#include "peer.h"
#include "wbuf.h"

/* Handshake steps, in the order each side goes through them. */
enum hs_step {
    HS_R_READ_ACT1, HS_R_WRITE_ACT2, HS_R_READ_ACT3,
    HS_I_WRITE_ACT1, HS_I_READ_ACT2, HS_I_WRITE_ACT3,
};

/* What ph_peer_stats holds apart from the queue's own counters (kept out
 * of the struct: a handshaking peer should stay small). */
struct counters {
    ph_msgcounts in;
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

/* ---- helpers every module uses ---- */

static inline const ph_peer_config *ph_peer__cfg(const ph_peer *p)
{
    return p->env->cfg;
}

static inline uint64_t ph_peer__now_ns(const ph_peer *p)
{
    return ph_ev_now(p->env->ev);
}

static inline bool ph_peer__transport_up(const ph_peer *p)
{
    return p->q != NULL;
}

static inline bool ph_peer__backpressured(const ph_peer *p)
{
    return p->q && ph_outq_queued_bytes(p->q) >= ph_outq_soft_cap(p->q);
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

/* peer_msg.c: the node's own messages (init, ping, pong, warning, error),
 * written by the generated encoder of `type` from `view` and queued the way
 * cfg.encode says, like stored gossip: the bytes, or a decoded copy encoded
 * at write time. Errors: the encoder's, PH_ERR_NOMEM, PH_ERR_LIMIT (queue
 * above its hard cap). */
PH_MUST_USE
ph_err ph_peer__push_own(ph_peer *p, uint16_t type, const void *view);
/* A warning or error for the whole connection (channel_id zero) saying
 * `text`, through ph_peer__push_own. */
PH_MUST_USE
ph_err ph_peer__push_text(ph_peer *p, bool as_error, const char *text);

/* peer.c: lifecycle, closing, writing, timers. */
uint64_t ph_peer__wall_ns(void);
void ph_peer__cancel_timer(ph_peer *p, uint64_t *t);
void ph_peer__arm_timer(ph_peer *p, uint64_t *t, uint64_t delay_ns, ph_ev_timer_cb cb);
void ph_peer__refill_tokens(double *tokens, uint64_t *at, uint64_t now, double rate,
                            double burst);
void ph_peer__set_addr(ph_peer *p);
void ph_peer__fail(ph_peer *p, ph_err reason, const char *why);
void ph_peer__io_fail(ph_peer *p, const char *what);
void ph_peer__close_gracefully(ph_peer *p, ph_err reason, const char *why, bool as_error,
                               const char *text);
void ph_peer__protocol_fail(ph_peer *p, const char *text);
void ph_peer__flush(ph_peer *p);
void ph_peer__schedule_flush(ph_peer *p);

/* peer_handshake.c: driven by the connection's readiness. */
void ph_peer__connect_done(ph_peer *p);
void ph_peer__handshake_step(ph_peer *p);

/* peer_msg.c: what the transport hands over, and what it asks for. */
void ph_peer__handle_msg(ph_peer *p, const uint8_t *msg, size_t len);
PH_MUST_USE
ph_err ph_peer__send_init(ph_peer *p);
void ph_peer__stream_refill(void *ctx, ph_outq *q);
void ph_peer__backlog_close(ph_peer *p);

/* peer_record.c: --record, a no-op for peers without a recording. */
void ph_peer__rec_open(ph_peer *p);
void ph_peer__rec_close(ph_peer *p, bool remote_closed);
void ph_peer__rec_data(ph_peer *p, bool outgoing, const uint8_t *data, size_t len);
void ph_peer__rec_tap(void *ctx, const struct iovec *iov, int iovcnt, size_t taken);

#endif
