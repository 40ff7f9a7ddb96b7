/* A Lightning node made of peers (peer.h) on one event loop (ev.h): our
 * key, listeners, outbound connections, the peer set, the gossip store and
 * the relay fan-out.
 *
 * Relay: gossip received from a peer is validated and stored by the gossip
 * store (gossip.h); every message that becomes newly servable is offered to
 * every other peer with ph_peer_relay (it is queued for peers whose
 * gossip_timestamp_filter covers it and whose backlog stream is finished;
 * peers still streaming their backlog get it from their own cursor). One
 * message relayed to N peers is one shared allocation.
 *
 * Stopping: the node stops its loop (ph_ev_stop) once ph_node_shutdown has
 * closed every peer, or when there is nothing left to do (no listener and
 * no peer). max_messages and exit_after_idle trigger ph_node_shutdown.
 *
 * Logging goes through cfg.log only; nothing is printed.
 *
 * Ownership: the caller owns the loop (it must outlive the node) and the
 * node; the node owns its sockets, peers, strategy, gossip store, key-log
 * writer, pcap writer and dump file. cfg is copied (strings included).
 * The private key is wiped on destroy.
 *
 * Errors: PH_ERR_NOMEM, PH_ERR_ARG / PH_ERR_PARSE (bad address or node id),
 * PH_ERR_IO (socket, bind, listen, open; errno kept),
 * PH_ERR_STRATEGY_UNKNOWN, gossip preload errors (PH_ERR_GOSSIP_FORMAT ...),
 * PH_ERR_LIMIT (max peers reached, for connect). */
#ifndef PH_NODE_H
#define PH_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "ev.h"
#include "gossip.h"
#include "gossip_preload.h"
#include "log.h"
#include "peer.h"
#include "wbuf.h"

#define PH_NODE_DEFAULT_MAX_PEERS 1024u
#define PH_NODE_DEFAULT_STRATEGY "exact"

typedef struct ph_node_config {
    uint8_t priv[32];
    const char *strategy;          /* NULL = PH_NODE_DEFAULT_STRATEGY */
    ph_wbuf_config wbuf;
    ph_peer_config peer;           /* chain_hash selects the network */
    size_t max_peers;              /* 0 = default */
    const char *gossip_file;       /* .lnmsgs to preload (trusted), or NULL */
    const char *keylog_path;       /* or NULL */
    const char *record_path;       /* pcap, or NULL: written to a temporary file
                                      beside it and renamed at ph_node_destroy
                                      (lib/util/atomicfile.h) */
    bool replace_record;           /* an existing record_path may be replaced;
                                      else ph_node_create fails, PH_ERR_EXISTS */
    const char *dump_path;         /* gossip received, as .lnmsgs, or NULL */
    const char *announce_alias;    /* announce ourselves (see ph_node_announce), or NULL */
    uint64_t max_messages;         /* shut down after this many received; 0 = no limit */
    uint64_t exit_after_idle_ns;   /* shut down after this long without traffic; 0 = never */
    ph_logger log;
    /* Allocation attribution (memtag.h) for everything the node and its
     * peers do, or NULL. Borrowed. */
    struct ph_memtag *tag;
    /* What a peer's gossip_timestamp_filter streams, instead of the gossip
     * store (see ph_peer_host.open_backlog); NULL = the store. The replay
     * streams the captured messages of the node under study this way. */
    ph_err (*open_backlog)(void *ctx, ph_peer *p, uint32_t first, uint32_t range,
                           const ph_backlog_ops **ops, void **cursor);
    void *backlog_ctx;
    /* Every frame any peer writes in full (see ph_peer_env.on_frame), or NULL. */
    void (*on_frame)(void *ctx, ph_peer *p, uint16_t type, size_t len);
    void *on_frame_ctx;
    /* A peer closed; called just before the node destroys it. May be NULL. */
    void (*on_peer_closed)(void *ctx, ph_peer *p, ph_err reason, const char *why);
    void *peer_closed_ctx;
} ph_node_config;

typedef struct ph_node ph_node;

typedef struct ph_node_stats {
    uint64_t accepted, refused, connects, connect_failures;
    uint64_t opened;               /* peers that completed init */
    uint64_t closed;
    uint64_t messages_in;          /* every decrypted message, all peers */
    uint64_t gossip_in;
    uint64_t gossip_refused;       /* bad or unparseable signatures: warned, dropped */
    uint64_t relayed;              /* (message, peer) pairs queued for relay */
    size_t peers;                  /* now */
    ph_gossip_preload_stats preload;
} ph_node_stats;

/* Creates the strategy and the gossip store, preloads cfg.gossip_file,
 * opens the key log, pcap and dump files. On failure `why` (may be NULL)
 * receives one line naming the file and the problem (and the offset of a
 * bad gossip record). */
PH_MUST_USE
ph_err ph_node_create(ph_node **out, ph_ev *ev, const ph_node_config *cfg, char *why,
                      size_t why_len);
/* Closes everything at once (no goodbye); use ph_node_shutdown first for a
 * clean close. */
void ph_node_destroy(ph_node *n);

void ph_node_id(const ph_node *n, uint8_t pub33[33]);

/* Our own signed gossip, so that peers can check our signatures: a
 * node_announcement (alias, timestamp `now_s`, no features, no addresses)
 * and, because BOLT 7 relays a node_announcement only for a node with a
 * channel, a synthetic channel 1x0x0 between our node and a second key
 * derived from ours (SHA-256 of our key and a label; the two bitcoin keys
 * likewise): its channel_announcement, with all four signatures real, and
 * one channel_update per direction, each signed by its node. No such
 * channel exists on any chain: peers that check funding outputs will drop
 * it. All four messages enter the store as our own gossip, which is served
 * to every peer whatever its filter. Called by ph_node_create when
 * cfg.announce_alias is set. Errors: PH_ERR_ARG (alias over 32 bytes),
 * PH_ERR_NOMEM, or the store's refusal. */
PH_MUST_USE
ph_err ph_node_announce(ph_node *n, const char *alias, uint32_t now_s);

/* Listen on "HOST:PORT", "[V6]:PORT" or "PORT" (host 127.0.0.1). `bound`
 * (may be NULL) receives the address actually bound, e.g. with port 0. */
PH_MUST_USE
ph_err ph_node_listen(ph_node *n, const char *hostport, char *bound, size_t bound_len);
/* Connect to "PUBKEY@HOST:PORT" (PUBKEY: 66 hex digits). Non-blocking: the
 * result shows up in the log and the stats. */
PH_MUST_USE
ph_err ph_node_connect(ph_node *n, const char *target);

struct ph_conn;
/* A peer over an already connected transport (conn.h): outbound towards
 * remote_pub33 (with a fixed handshake ephemeral key if ephemeral32 is not
 * NULL), or inbound when remote_pub33 is NULL. The node owns the conn on
 * success; on error the caller still does. PH_ERR_LIMIT at max_peers. */
PH_MUST_USE
ph_err ph_node_add_conn(ph_node *n, struct ph_conn *conn, const uint8_t *remote_pub33,
                        const uint8_t *ephemeral32, ph_peer **out);

/* Close every peer cleanly; the loop stops when all are closed. */
void ph_node_shutdown(ph_node *n);
bool ph_node_shutting_down(const ph_node *n);

size_t ph_node_peer_count(const ph_node *n);
ph_peer *ph_node_peer_at(const ph_node *n, size_t i);
void ph_node_get_stats(const ph_node *n, ph_node_stats *out);
/* The write-path counters (outq.h) of every peer the node ever had, closed
 * ones included, summed. Point-in-time fields (queued, in flight, held)
 * cover the peers connected now. */
void ph_node_write_totals(const ph_node *n, ph_outq_stats *out);
ph_gossip_store *ph_node_gossip(ph_node *n);
ph_wbuf *ph_node_wbuf(ph_node *n);

/* Parse "PUBKEY@HOST:PORT" / "HOST:PORT" helpers, shared with the tool. */
PH_MUST_USE
ph_err ph_node_parse_target(const char *target, uint8_t pub33[33], char *hostport,
                            size_t hostport_len);

#endif
