/* One Lightning connection, driven by the event loop (ev.h).
 *
 * Life of a peer:
 *   CONNECTING   (outbound only) non-blocking connect in progress
 *   HANDSHAKE    BOLT 8 acts; holds only the handshake state (noise.h) and
 *                one 66-byte act buffer inside this struct: no read buffer,
 *                no write queue. Act 2 goes out in one write.
 *   INIT         transport up, our init sent, waiting for theirs
 *   OPEN         init exchanged: ping/pong, gossip, queries
 *   CLOSING      a final warning/error (or shutdown) is being flushed
 *   CLOSED       fd closed; the host's on_closed callback has run
 * The handshake timeout runs from creation until their init arrives; after
 * that the frame timeout bounds how long one frame may take from its first
 * byte to its last (cfg.frame_timeout_ns; time we spend not reading does
 * not count), and the ping timer how long the peer may stay silent.
 *
 * Transport: all I/O goes through a ph_conn (conn.h): a socket for the
 * live node, the model transport (modelconn.h) for the replay; nothing else
 * differs. Reads go into a stack buffer and through ph_noise_decrypt_feed
 * (which holds a partial frame); writes go through the peer's outq (outq.h)
 * and its write-buffer strategy (wbuf.h).
 *
 * Encoding (cfg.encode): PH_ENCODE_STORED queues stored wire bytes and
 * copies them into the write buffer (how Core Lightning relays gossip);
 * PH_ENCODE_PER_WRITE decodes them and encodes the decoded message into the
 * write buffer (lnd's writeMessage). The policy applies to everything the
 * peer sends from storage: the filter's backlog, query answers, relays.
 *
 * Memory tags (env.tag, memtag.h): handshake and BOLT 8 state and receive
 * buffers are tagged SESSION, decoded messages DECODE, the queue QUEUE,
 * write buffers WBUF; received messages set the type while handled.
 *
 * Backpressure: while the outgoing queue is above its soft cap the peer
 * stops reading (unprocessed bytes of the last read are kept in a small
 * stash allocated only then) and does not answer pings; reading resumes
 * once the queue is below half the soft cap (what the stashed messages
 * queue is written at the end of that loop iteration). Inbound bytes per
 * second are limited by a token bucket (cfg.in_rate). A reset or hang-up
 * while the peer is not reading (paused, rate-limited, stalled) closes it
 * at once, with the unread stash in the log line.
 *
 * Protocol (BOLT 1/7/9): init with our features (the odd bit of
 * gossip_queries and of every pair BOLT 9 marks ASSUMED) and the networks
 * TLV; their unknown even feature bits or no common chain -> warning and
 * disconnect. ping -> pong of num_pong_bytes (ignored when >= 65,532, or
 * when the ping token bucket is empty); our pings every ping_interval, a
 * missing pong after pong_timeout disconnects. Unknown odd types are
 * ignored, unknown even types get a warning and a disconnect; a malformed
 * known message too (gossip included: a truncated channel_update never
 * reaches the host). error is logged and disconnects, warning is logged.
 * Gossip (256/257/258) goes to the host (on_gossip: validation, store,
 * relay); gossip_timestamp_filter starts a cursor over the store that
 * streams the stored gossip in the window as the queue drains (then the
 * peer is "live": the host relays new gossip with ph_peer_relay); gossip
 * queries are answered from the store: query_channel_range at once,
 * query_short_channel_ids a channel at a time as the queue drains (each
 * channel once however often it is named; a second query before the first
 * is answered gets a warning and a disconnect).
 *
 * Ownership: the host owns the peer and destroys it, typically from
 * on_closed (destroying a peer from inside its own callbacks is allowed
 * only there). Everything in ph_peer_env is borrowed and must outlive the
 * peer. The peer owns its fd from creation on.
 *
 * Errors: PH_ERR_NOMEM, PH_ERR_IO (errno kept), PH_ERR_ARG. Reasons passed
 * to on_closed: PH_OK (closed by us on request), PH_ERR_PEER_CLOSED (EOF or
 * reset), PH_ERR_TIMEOUT (handshake, pong or frame), PH_ERR_PEER_PROTOCOL,
 * PH_ERR_PEER_INCOMPATIBLE, PH_ERR_LIMIT (hard queue cap), noise errors
 * (handshake failure, bad MAC), PH_ERR_IO. */
#ifndef PH_PEER_H
#define PH_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "ev.h"
#include "log.h"
#include "outq.h"

struct ph_gossip_store;
struct ph_gossip_msg;
struct ph_keylog_writer;
struct ph_pcapw;

typedef struct ph_peer ph_peer;

#define PH_PEER_DEFAULT_HANDSHAKE_TIMEOUT_NS (10ull * 1000000000ull)
#define PH_PEER_DEFAULT_PING_INTERVAL_NS (60ull * 1000000000ull)
#define PH_PEER_DEFAULT_PONG_TIMEOUT_NS (30ull * 1000000000ull)
/* The largest frame is 65,569 bytes: 20 s is about 26 kbit/s. */
#define PH_PEER_DEFAULT_FRAME_TIMEOUT_NS (20ull * 1000000000ull)
/* A burst of 1,500 pings is answered (the interop tests send 1,200); then
 * 10 per second. */
#define PH_PEER_DEFAULT_PING_BURST 1500.0
#define PH_PEER_DEFAULT_PING_RATE 10.0
/* The gossip backlog is pulled from the store in slices of this many bytes. */
#define PH_PEER_DEFAULT_STREAM_LOW_WATER (64u * 1024u)

typedef enum ph_encode_policy {
    PH_ENCODE_STORED,     /* copy stored wire bytes into the write buffer */
    PH_ENCODE_PER_WRITE,  /* decode, then encode into each write buffer */
} ph_encode_policy;

/* "stored" / "per-write"; parse returns false for anything else. */
const char *ph_encode_policy_name(ph_encode_policy e);
bool ph_encode_policy_parse(const char *s, ph_encode_policy *out);

/* Which gossip we ask a peer for once init is exchanged. */
typedef enum ph_peer_gossip_filter {
    PH_PEER_FILTER_ALL,   /* gossip_timestamp_filter 0, 0xFFFFFFFF */
    PH_PEER_FILTER_NEW,   /* from now on */
    PH_PEER_FILTER_NONE,  /* send none */
} ph_peer_gossip_filter;

typedef struct ph_peer_config {
    uint8_t chain_hash[32];
    uint64_t handshake_timeout_ns;
    uint64_t ping_interval_ns;   /* 0 = never ping */
    uint64_t pong_timeout_ns;
    /* Once init is exchanged, a frame must be complete this long after its
     * first byte arrived (0 = no limit); time spent not reading (our
     * backpressure, the inbound rate) does not count against the peer. */
    uint64_t frame_timeout_ns;
    double ping_burst;           /* token bucket for answering pings */
    double ping_rate;            /* tokens per second */
    uint64_t in_rate;            /* inbound bytes per second, 0 = unlimited */
    ph_outq_config outq;
    size_t stream_low_water;
    ph_peer_gossip_filter filter;
    ph_encode_policy encode;
    /* Stop reading for good once init is exchanged: a peer that never
     * reads (the replay's stalled readers). */
    bool stall_reads;
} ph_peer_config;

/* Defaults as above, mainnet, filter ALL. */
void ph_peer_config_default(ph_peer_config *cfg);

/* A backlog the peer streams as its queue drains, a slice at a time. next
 * hands out stored bytes with the reference that keeps them alive (unref is
 * called once they are copied or dropped) and returns PH_BACKLOG_ITEM;
 * PH_BACKLOG_END when there is no more (the peer then relays live gossip);
 * PH_BACKLOG_LATER when there is nothing yet: the host calls ph_peer_kick
 * once there is. */
enum { PH_BACKLOG_END = 0, PH_BACKLOG_ITEM = 1, PH_BACKLOG_LATER = -1 };
typedef struct ph_backlog_ops {
    int (*next)(void *cursor, const uint8_t **bytes, size_t *len, void (**unref)(void *),
                void **obj);
    void (*set_filter)(void *cursor, uint32_t first, uint32_t range);
    void (*destroy)(void *cursor);
} ph_backlog_ops;

typedef struct ph_peer_host {
    void *ctx;
    /* init exchanged */
    void (*on_ready)(void *ctx, ph_peer *p);
    /* every decrypted message, before the peer acts on it */
    void (*on_message)(void *ctx, ph_peer *p, const uint8_t *msg, size_t len);
    /* channel_announcement / node_announcement / channel_update received */
    void (*on_gossip)(void *ctx, ph_peer *p, const uint8_t *msg, size_t len);
    /* the fd is closed; `why` is a short text. The host may destroy p here. */
    void (*on_closed)(void *ctx, ph_peer *p, ph_err reason, const char *why);
    /* A gossip_timestamp_filter arrived: the host may stream its own backlog
     * (*ops and *cursor set) or leave *ops NULL for the gossip store's.
     * May be NULL. */
    ph_err (*open_backlog)(void *ctx, ph_peer *p, uint32_t first, uint32_t range,
                           const struct ph_backlog_ops **ops, void **cursor);
} ph_peer_host;

typedef struct ph_peer_env {
    ph_ev *ev;
    const ph_peer_config *cfg;
    const uint8_t *local_priv;            /* 32 bytes */
    struct ph_wbuf *wbuf;                 /* write-buffer strategy */
    struct ph_gossip_store *gossip;       /* may be NULL: no gossip at all */
    struct ph_keylog_writer *keylog;      /* may be NULL */
    struct ph_pcapw *record;              /* may be NULL */
    const ph_logger *log;                 /* may be NULL */
    struct ph_memtag *tag;                /* allocation attribution, may be NULL */
    /* Called as each frame is fully written (outq.h's frame observer), with
     * the peer: counts writes by exact type. May be NULL. */
    void (*on_frame)(void *ctx, ph_peer *p, uint16_t type, size_t len);
    void *on_frame_ctx;
    ph_peer_host host;
} ph_peer_env;

struct ph_conn;
/* Over any transport (conn.h), which the peer owns on success (on error the
 * caller still does). Outbound: `ephemeral32` fixes the handshake's
 * ephemeral key (replay determinism; NULL = random). */
PH_MUST_USE
ph_err ph_peer_create_inbound_conn(ph_peer **out, const ph_peer_env *env, struct ph_conn *conn,
                                   uint32_t id);
PH_MUST_USE
ph_err ph_peer_create_outbound_conn(ph_peer **out, const ph_peer_env *env,
                                    struct ph_conn *conn, uint32_t id,
                                    const uint8_t remote_pub33[33], const uint8_t *ephemeral32);
/* Take over a connected (accepted) non-blocking socket as responder. */
PH_MUST_USE
ph_err ph_peer_create_inbound(ph_peer **out, const ph_peer_env *env, int fd, uint32_t id);
/* Take over a socket whose non-blocking connect() is in progress (or done),
 * as initiator towards `remote_pub33`. */
PH_MUST_USE
ph_err ph_peer_create_outbound(ph_peer **out, const ph_peer_env *env, int fd, uint32_t id,
                               const uint8_t remote_pub33[33]);
/* Close the fd at once (no callback) and free everything. */
void ph_peer_destroy(ph_peer *p);

/* Graceful close: stop reading, send `warning_text` as a warning first
 * when not NULL, flush what is queued (at most 2 s), then close; on_closed
 * follows with PH_OK. */
void ph_peer_close(ph_peer *p, const char *warning_text);

/* Relay one new gossip message (host fan-out): queued as PH_OUTQ_RELAY if
 * the peer is OPEN, live (its filter backlog done) and its filter covers
 * the message; dropped above the soft cap. Returns true if queued. The
 * write happens at the end of the loop iteration. `decoded` (may be NULL):
 * the message already decoded once for every peer (per-write encoding);
 * the peer takes its own reference. */
bool ph_peer_relay(ph_peer *p, struct ph_gossip_msg *m, ph_outq_msg *decoded);
/* The same for bytes that are not in the gossip store (the replay's
 * captured messages), without the filter-window check. The reference
 * (unref, obj) is consumed on every path. */
bool ph_peer_relay_bytes(ph_peer *p, const uint8_t *bytes, size_t len, void (*unref)(void *),
                         void *obj, ph_outq_msg *decoded);
/* Write (and pull from the backlog) at the end of this loop iteration. */
void ph_peer_kick(ph_peer *p);
/* OPEN, filter received and its backlog streamed: relays are queued. */
bool ph_peer_relay_ready(const ph_peer *p);
/* Decode stored bytes into a shareable message for the per-write
 * encoding, tagged DECODE (a malformed message is kept as opaque bytes). */
PH_MUST_USE
ph_err ph_peer_decode_for_send(struct ph_memtag *tag, const uint8_t *bytes, size_t len,
                               ph_outq_msg **out);
/* Queue any message for this peer (e.g. our own gossip); flags as outq. */
PH_MUST_USE
ph_err ph_peer_send(ph_peer *p, ph_outq_msg *m, unsigned flags);
/* A warning for the whole connection saying `text` (no NUL sent), encoded
 * the way the peer's config says. Errors as ph_peer_send. */
PH_MUST_USE
ph_err ph_peer_send_warning(ph_peer *p, const char *text);

typedef enum ph_peer_state {
    PH_PEER_CONNECTING, PH_PEER_HANDSHAKE, PH_PEER_INIT, PH_PEER_OPEN, PH_PEER_CLOSING,
    PH_PEER_CLOSED
} ph_peer_state;

typedef struct ph_peer_stats {
    ph_msgcount in[PH_MSGTYPE__COUNT];
    uint64_t msgs_in, bytes_in;      /* plaintext */
    uint64_t wire_bytes_in;          /* ciphertext read */
    ph_outq_stats out;               /* zero before the transport is up */
    uint64_t pings_answered, pings_ignored_large, pings_ignored_flood;
    uint64_t pongs_unsolicited;
    uint64_t unknown_odd;
    uint64_t gossip_streamed;        /* backlog messages queued from the store */
    uint64_t read_pauses;            /* times reading stopped for backpressure */
    uint64_t rate_pauses;            /* times reading waited for the inbound rate */
} ph_peer_stats;

ph_peer_state ph_peer_get_state(const ph_peer *p);
const char *ph_peer_state_name(ph_peer_state s);
uint32_t ph_peer_id(const ph_peer *p);
bool ph_peer_outbound(const ph_peer *p);
/* The remote node id; false before it is known (responder, before act 3). */
bool ph_peer_remote_id(const ph_peer *p, uint8_t pub33[33]);
/* "127.0.0.1:9735" of the remote end ("?" if unknown). */
const char *ph_peer_addr(const ph_peer *p);
/* Their init features (globalfeatures | features), once OPEN; NULL before. */
const uint8_t *ph_peer_features(const ph_peer *p, size_t *len);
/* Whether the peer's gossip backlog stream is finished (or never started). */
bool ph_peer_gossip_live(const ph_peer *p);
void ph_peer_get_stats(const ph_peer *p, ph_peer_stats *out);
/* Release what an idle connection does not need: the queue's entry ring
 * and in-flight slots when nothing is queued, the last received message's
 * buffer. Cheap when there is nothing to release; the node calls it for
 * every peer on its one-second tick, so busy peers keep their buffers and
 * idle ones hold only their structs. */
void ph_peer_trim(ph_peer *p);
/* Heap bytes owned by the peer: its struct, handshake or transport state,
 * outq, stash, a query answer's plan, and its strategy's held buffers
 * (estimate: excludes
 * allocator overhead and the noise receive buffer's slack). */
size_t ph_peer_heap_bytes(const ph_peer *p);
/* The host's arbitrary pointer (e.g. its own per-peer record). */
void ph_peer_set_user(ph_peer *p, void *user);
void *ph_peer_get_user(const ph_peer *p);

#endif
