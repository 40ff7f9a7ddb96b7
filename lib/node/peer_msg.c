/* What a peer does with the messages it receives and the gossip it
 * serves: the transport below only decrypts and hands each message over. */

#include "peer_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "featurebits.h"
#include "wire.h"
#include "wire_summary.h"
#include "wire_views.h"

#define PING_NUM_PONG_BYTES 16u
#define PONG_MAX_ASK 65531u       /* BOLT 1: ignore pings asking for more */

/* Our init: the odd bit of gossip_queries and of every ASSUMED pair. */
static const unsigned OUR_FEATURE_BITS[] = { 1, 7, 9, 13, 15, 45 };

/* BOLT #1: MUST send `init` as the first Lightning message for any connection.
 *   - MUST set feature bits as defined in [BOLT #9](09-features.md).
 *   - MUST set any undefined feature bits to 0.
 *
 * BOLT #1: SHOULD set `networks` to all chains it will gossip or open channels for. */
ph_err ph_peer__send_init(ph_peer *p)
{
    uint8_t fv[8];
    size_t flen = ph_feature_len_for(45);
    memset(fv, 0, sizeof fv);
    ph_err err;
    for (size_t i = 0; i < sizeof OUR_FEATURE_BITS / sizeof OUR_FEATURE_BITS[0]; i++)
        if ((err = ph_feature_set(fv, flen, OUR_FEATURE_BITS[i])))
            return err;
    /* init_tlvs: networks (type 1) with our one chain */
    ph_wire_tlv networks = {.type = 1, .value = ph_peer__cfg(p)->chain_hash, .len = 32};
    uint8_t tlvs[64];
    size_t tlvs_len = 0;
    err = ph_wire_tlv_encode(&networks, 1, tlvs, sizeof tlvs, &tlvs_len);
    if (err)
        return err;
    ph_wire_init init = {.features = fv, .features_len = flen, .tlvs = tlvs, .tlvs_len = tlvs_len};
    return ph_peer__push_own(p, PH_WIRE_INIT, &init);
}

ph_err ph_peer__push_text(ph_peer *p, bool as_error, const char *text)
{
    static const uint8_t connection[32]; /* channel_id 0: every channel */
    ph_wire_warning w = {.channel_id = connection, .data = (const uint8_t *)text,
                         .data_len = strlen(text)};
    /* error and warning share their layout */
    return ph_peer__push_own(p, as_error ? PH_WIRE_ERROR : PH_WIRE_WARNING, &w);
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
    uint32_t type = ph_memtag_type(tag, len >= 2 ? (uint32_t)ph_wire_type_of(bytes)
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
    if (ph_peer__cfg(p)->encode != PH_ENCODE_PER_WRITE)
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

ph_err ph_peer__push_own(ph_peer *p, uint16_t type, const void *view)
{
    const ph_wire_view_ops *ops = ph_wire_view_ops_find(type);
    if (!ops)
        return PH_ERR_ARG;
    ph_outq_msg *m = NULL;
    ph_err err;
    WITH_ROW(p, PH_MEMROW_QUEUE, err = ph_outq_msg_encode(&m, ops, view));
    if (err)
        return err;
    if (ph_peer__cfg(p)->encode == PH_ENCODE_PER_WRITE) {
        ph_outq_msg *d = NULL;
        err = ph_peer_decode_for_send(p->env->tag, ph_outq_msg_bytes(m), ph_outq_msg_len(m), &d);
        ph_outq_msg_unref(m);
        if (err)
            return err;
        m = d;
    }
    err = ph_outq_push(p->q, m, 0);
    ph_outq_msg_unref(m);
    return err;
}

/* BOLT #7: MUST not send gossip it did not generate itself, until it receives
 * `gossip_timestamp_filter`. */
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
        ph_peer__fail(p, err, err == PH_ERR_LIMIT ? "outgoing queue above its hard cap"
                                              : "cannot queue relayed gossip");
        return false;
    }
    if (ph_outq_relay_dropped(p->q) != dropped)
        return false;
    ph_peer__schedule_flush(p);
    return true;
}

/* BOLT #7: Otherwise (relayed gossip):
 *   - SHOULD restrict future gossip messages to those whose `timestamp` is greater or
 *     equal to `first_timestamp`, and less than `first_timestamp` plus `timestamp_range`.
 */
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
void ph_peer__backlog_close(ph_peer *p)
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
            ph_peer__backlog_close(p);
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

void ph_peer__stream_refill(void *ctx, ph_outq *q)
{
    ph_peer *p = ctx;
    if (p->state != PH_PEER_OPEN)
        return;
    size_t low = ph_peer__cfg(p)->stream_low_water ? ph_peer__cfg(p)->stream_low_water
                                             : PH_PEER_DEFAULT_STREAM_LOW_WATER;
    if (refill_answer(p, q, low))
        refill_backlog(p, q, low);
}

/* BOLT #1: if it doesn't receive a corresponding `pong`:
 *   - MAY close the network connection,
 *     - and MUST NOT fail the channels in this case. */
static void pong_timeout_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_pong = 0;
    ph_peer__fail(p, PH_ERR_TIMEOUT, "no pong to our ping");
}

static void ping_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    ph_peer *p = ctx;
    p->t_ping = 0;
    if (p->state != PH_PEER_OPEN)
        return;
    const ph_peer_config *c = ph_peer__cfg(p);
    if (!p->awaiting_pong) {
        ph_wire_ping ping = {.num_pong_bytes = PING_NUM_PONG_BYTES};
        if (ph_peer__push_own(p, PH_WIRE_PING, &ping) == PH_OK) {
            p->awaiting_pong = true;
            p->pong_expect = PING_NUM_PONG_BYTES;
            ph_peer__arm_timer(p, &p->t_pong, c->pong_timeout_ns, pong_timeout_cb);
            ph_peer__flush(p);
            if (p->state == PH_PEER_CLOSED)
                return;
        }
    }
    ph_peer__arm_timer(p, &p->t_ping, c->ping_interval_ns, ping_cb);
}

/* ---- received messages ---- */

/* BOLT #1: upon receiving `warning`:
 *   - SHOULD log the message for later diagnosis. */
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

/* BOLT #1: upon receiving unknown _odd_ feature bits that are non-zero:
 *   - MUST ignore the bit.
 * - upon receiving unknown _even_ feature bits that are non-zero:
 *   - MUST close the connection.
 * - upon receiving `networks` containing no common chains
 *   - MAY close the connection.
 *
 * Then our gossip_timestamp_filter (unless configured off), when the peer offers
 * gossip_queries: until it arrives, the peer sends us no gossip.
 *
 * BOLT #7: MUST not send gossip it did not generate itself, until it receives
 * `gossip_timestamp_filter`. */
static void handle_init(ph_peer *p, const ph_wire_init *m)
{
    const uint8_t *gf = m->globalfeatures, *lf = m->features;
    size_t gl = m->globalfeatures_len, ll = m->features_len;
    size_t flen = gl > ll ? gl : ll;
    free(p->features);
    p->features = calloc(1, flen ? flen : 1);
    if (!p->features) {
        ph_peer__fail(p, PH_ERR_NOMEM, "out of memory");
        return;
    }
    /* BOLT #1: MUST combine (bitwise OR) the two feature bitmaps into one logical
     * `features` map. */
    if (ph_feature_or(gf, gl, lf, ll, p->features, flen, &p->features_len) != PH_OK) {
        ph_peer__fail(p, PH_ERR_ARG, "cannot combine the init feature vectors");
        return;
    }

    char desc[512];
    ph_feature_describe(p->features, flen, desc, sizeof desc);
    PLOG(p, PH_LOG_INFO, "init: features [%s]", desc);

    unsigned bit;
    if (ph_feature_unknown_even(p->features, flen, NULL, 0, &bit)) {
        char text[96];
        snprintf(text, sizeof text, "unknown required feature bit %u", bit);
        ph_peer__close_gracefully(p, PH_ERR_PEER_INCOMPATIBLE, text, false, text);
        return;
    }
    const char *dep;
    if (ph_feature_missing_dependency(p->features, flen, &bit, &dep)) {
        char text[128];
        snprintf(text, sizeof text, "feature bit %u set without its dependency %s", bit, dep);
        ph_peer__close_gracefully(p, PH_ERR_PEER_INCOMPATIBLE, text, false, text);
        return;
    }
    const uint8_t *nets;
    size_t nets_len;
    /* networks (record 1) of the stream the view validated: whole chains */
    if (ph_wire_tlv_lookup(m->tlvs, m->tlvs_len, 1, &nets, &nets_len) == PH_OK) {
        bool common = false;
        for (size_t i = 0; i + 32 <= nets_len; i += 32)
            if (memcmp(nets + i, ph_peer__cfg(p)->chain_hash, 32) == 0)
                common = true;
        if (!common) {
            ph_peer__close_gracefully(p, PH_ERR_PEER_INCOMPATIBLE, "no common chain", false,
                             "no common chain in networks");
            return;
        }
    }

    p->state = PH_PEER_OPEN;
    ph_peer__cancel_timer(p, &p->t_handshake);
    if (ph_peer__cfg(p)->ping_interval_ns)
        ph_peer__arm_timer(p, &p->t_ping, ph_peer__cfg(p)->ping_interval_ns, ping_cb);
    if (p->env->host.on_ready)
        p->env->host.on_ready(p->env->host.ctx, p);
    if (p->state != PH_PEER_OPEN)
        return;
    /* BOLT 7: only ask for gossip when both sides offer gossip_queries. */
    if (ph_peer__cfg(p)->filter != PH_PEER_FILTER_NONE && ph_feature_offered(p->features, flen, 6)) {
        ph_wire_gossip_timestamp_filter f = {
            .chain_hash = ph_peer__cfg(p)->chain_hash,
            .first_timestamp = 0,
            .timestamp_range = UINT32_MAX,
        };
        if (ph_peer__cfg(p)->filter == PH_PEER_FILTER_NEW)
            f.first_timestamp = (uint32_t)(ph_peer__wall_ns() / 1000000000u);
        ph_err err = ph_peer__push_own(p, PH_WIRE_GOSSIP_TIMESTAMP_FILTER, &f);
        if (err != PH_OK)
            PLOG(p, PH_LOG_WARN, "gossip_timestamp_filter not queued: %s", ph_strerror(err));
    }
}

/* BOLT #1: A node receiving a `ping` message:
 *   - if `num_pong_bytes` is less than 65532:
 *     - MUST respond by sending a `pong` message, with `byteslen` equal to
 *       `num_pong_bytes`.
 *   - otherwise (`num_pong_bytes` is **not** less than 65532):
 *     - MUST ignore the `ping`.
 *
 * A flood of pings goes unanswered too (rate limit, back pressure): the peer's problem,
 * not ours. */
static void handle_ping(ph_peer *p, const ph_wire_ping *ping)
{
    uint16_t ask = ping->num_pong_bytes;
    if (ask > PONG_MAX_ASK) {
        p->st.pings_ignored_large++;
        if (p->st.pings_ignored_large == 1 || p->st.pings_ignored_large % 1000 == 0)
            PLOG(p, PH_LOG_INFO, "ping asking for %u pong bytes not answered (BOLT 1: 65,532 or "
                 "more means no pong; %llu so far)", ask,
                 (unsigned long long)p->st.pings_ignored_large);
        return;
    }
    const ph_peer_config *c = ph_peer__cfg(p);
    ph_peer__refill_tokens(&p->ping_tokens, &p->ping_tokens_at, ph_peer__now_ns(p), c->ping_rate, c->ping_burst);
    if (p->ping_tokens < 1.0 || ph_peer__backpressured(p)) {
        p->st.pings_ignored_flood++;
        if (p->st.pings_ignored_flood == 1 || p->st.pings_ignored_flood % 1000 == 0)
            PLOG(p, PH_LOG_WARN, "ping flood: %llu pings not answered",
                 (unsigned long long)p->st.pings_ignored_flood);
        return;
    }
    p->ping_tokens -= 1.0;
    /* BOLT 1 leaves the ignored bytes' content open; ours are zeros */
    static const uint8_t zeros[PONG_MAX_ASK];
    ph_wire_pong pong = {.ignored = zeros, .ignored_len = ask};
    ph_err err = ph_peer__push_own(p, PH_WIRE_PONG, &pong);
    if (err == PH_ERR_LIMIT) {
        ph_peer__fail(p, err, "outgoing queue above its hard cap");
        return;
    }
    if (!err)
        p->st.pings_answered++;
}

/* A pong that answers nothing is counted, and the connection kept:
 *
 * BOLT #1: A node receiving a `pong` message:
 *   - if `byteslen` does not correspond to any `ping`'s `num_pong_bytes` value it has
 *     sent:
 *     - MAY close the connection. */
static void handle_pong(ph_peer *p, const ph_wire_pong *pong)
{
    if (p->awaiting_pong && pong->ignored_len == p->pong_expect) {
        p->awaiting_pong = false;
        ph_peer__cancel_timer(p, &p->t_pong);
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
        ph_peer__protocol_fail(p, "malformed gossip_timestamp_filter");
        return;
    }
    p->filter_set = true;
    p->filter_first = first;
    p->filter_range = range;
    p->live = false;
    if (p->backlog) {
        p->backlog_ops->set_filter(p->backlog, first, range);
    } else if (open_backlog(p, first, range) != PH_OK) {
        ph_peer__fail(p, PH_ERR_NOMEM, "cannot create a gossip cursor");
        return;
    }
    PLOG(p, PH_LOG_INFO, "gossip_timestamp_filter first=%u range=%u", first, range);
    ph_peer__schedule_flush(p);
}

static ph_err query_emit(void *ctx, ph_gossip_msg *m)
{
    ph_peer *p = ctx;
    return push_stored(p, ph_gossip_msg_data(m), ph_gossip_msg_len(m), gossip_unref, m, 0);
}

static void query_failed(ph_peer *p, uint16_t type, ph_err err)
{
    if (err == PH_ERR_LIMIT) {
        ph_peer__fail(p, err, "outgoing queue above its hard cap");
        return;
    }
    if (err == PH_ERR_GOSSIP_ENCODING) {
        /* A courtesy before ignoring the query: if it cannot be queued
         * (out of memory), the query is ignored anyway. */
        ph_err built = ph_peer__push_text(p, false, "unsupported short_channel_id encoding");
        if (built != PH_OK)
            PLOG(p, PH_LOG_DEBUG, "warning not queued: %s", ph_strerror(built));
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "malformed %s: %s", ph_wire_type_name(type), ph_strerror(err));
    ph_peer__protocol_fail(p, why);
}

/* query_short_channel_ids: planned now, streamed by ph_peer__stream_refill as the
 * queue drains, so that a 64 KB query never sits in the queue whole. One
 * at a time, as the sender must:
 *
 * BOLT #7: MUST NOT send `query_short_channel_ids` if it has sent a previous
 * `query_short_channel_ids` to this peer and not received
 * `reply_short_channel_ids_end`.
 *
 * and the receiver may enforce:
 *
 * BOLT #7: if it has not sent `reply_short_channel_ids_end` to a previously
 * received `query_short_channel_ids` from this sender:
 *   - MAY send a `warning`.
 *   - MAY close the connection. */
static void handle_scid_query(ph_peer *p, const uint8_t *msg, size_t len)
{
    if (p->answer) {
        ph_peer__protocol_fail(p, "query_short_channel_ids before the previous one was answered");
        return;
    }
    ph_err err;
    WITH_ROW(p, PH_MEMROW_QUEUE,
             err = ph_gossip_scid_answer_create(p->env->gossip, msg, len, &p->answer));
    if (err) {
        query_failed(p, PH_WIRE_QUERY_SHORT_CHANNEL_IDS, err);
        return;
    }
    ph_peer__schedule_flush(p);
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

/* Every known message is parsed here, once, by its generated view; one that
 * does not parse (cut short, a count past its end, a bad TLV stream) closes
 * the connection after a warning. Nothing is allocated.
 *
 * BOLT #1: upon receiving a known message with insufficient length for the
 * contents:
 *   - MUST close the connection. */
static bool parse_known(ph_peer *p, const uint8_t *msg, size_t len, ph_wire_view *v)
{
    size_t off = 0;
    ph_err err = ph_wire_view_parse(msg, len, v, &off);
    if (!err)
        return true;
    char name[PH_WIRE_TYPE_STRLEN], text[160];
    snprintf(text, sizeof text, "malformed %s at offset %zu: %s",
             ph_wire_type_str(ph_wire_type_of(msg), name), off, ph_strerror(err));
    ph_peer__protocol_fail(p, text);
    return false;
}

/* BOLT #1: upon receiving a message of _odd_, unknown type:
 *   - MUST ignore the received message.
 * - upon receiving a message of _even_, unknown type:
 *   - MUST close the connection. */
static void handle_unknown(ph_peer *p, uint16_t type)
{
    if (type & 1) {
        p->st.unknown_odd++;
        PLOG(p, PH_LOG_DEBUG, "ignored unknown odd message type %u", type);
        return;
    }
    char text[96];
    snprintf(text, sizeof text, "unknown even message type %u", type);
    ph_peer__protocol_fail(p, text);
}

static void count_in(ph_peer *p, uint16_t type, size_t len)
{
    uint8_t row = ph_memtag_row(p->env->tag, PH_MEMROW_SESSION);
    ph_msgcounts_add(&p->st.in, type, len);
    ph_memtag_row(p->env->tag, row);
    p->st.msgs_in++;
    p->st.bytes_in += len;
}

/* The first message must be init, the peer's duty; anything else closes the
 * connection.
 *
 * BOLT #1: MUST send `init` as the first Lightning message for any connection. */
static void dispatch_msg(ph_peer *p, const uint8_t *msg, size_t len)
{
    if (len < 2) {
        ph_peer__protocol_fail(p, "message shorter than its type");
        return;
    }
    uint16_t type = ph_wire_type_of(msg);
    count_in(p, type, len);
    if (p->env->host.on_message)
        p->env->host.on_message(p->env->host.ctx, p, msg, len);
    if (p->state != PH_PEER_INIT && p->state != PH_PEER_OPEN)
        return;
    if (p->state == PH_PEER_INIT && type != PH_WIRE_INIT) {
        ph_peer__protocol_fail(p, "first message is not init");
        return;
    }
    ph_wire_view v;
    if (!parse_known(p, msg, len, &v))
        return;
    if (!v.known) {
        handle_unknown(p, type);
        return;
    }
    if (p->state == PH_PEER_INIT) {
        handle_init(p, &v.u.init);
        return;
    }
    switch (type) {
    case PH_WIRE_INIT:
        PLOG(p, PH_LOG_DEBUG, "%s", "second init ignored");
        return;
    case PH_WIRE_PING:
        handle_ping(p, &v.u.ping);
        return;
    case PH_WIRE_PONG:
        handle_pong(p, &v.u.pong);
        return;
    case PH_WIRE_WARNING:
        log_text_msg(p, "warning", msg, len);
        return;
    case PH_WIRE_ERROR:
        log_text_msg(p, "error", msg, len);
        ph_peer__fail(p, PH_ERR_PEER_PROTOCOL, "error received");
        return;
    case PH_WIRE_CHANNEL_ANNOUNCEMENT:
    case PH_WIRE_NODE_ANNOUNCEMENT:
    case PH_WIRE_CHANNEL_UPDATE:
        if (p->env->host.on_gossip)
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
        PLOG(p, PH_LOG_DEBUG, "ignored %s (no channels here)", ph_wire_type_name(type));
        return;
    }
}

/* What handling a message allocates (a pong, a decoded init, gossip in the
 * store) is charged to its type. */
void ph_peer__handle_msg(ph_peer *p, const uint8_t *msg, size_t len)
{
    uint32_t type = ph_memtag_type(p->env->tag, len >= 2 ? ph_wire_type_of(msg) : PH_MEMTAG_NO_TYPE);
    dispatch_msg(p, msg, len);
    ph_memtag_type(p->env->tag, type);
}
