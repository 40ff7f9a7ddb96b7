/* In-memory gossip store (BOLT 7) of the peer: validates and keeps
 * channel_announcement / node_announcement / channel_update, serves them to
 * peers that sent gossip_timestamp_filter, answers gossip queries, and tells
 * the caller what is new so that it can be relayed.
 *
 * Threading and I/O: single-threaded, built to be driven from one event loop.
 * Nothing here blocks or touches a socket; only ph_gossip_preload_file reads
 * a file (call it before the loop starts). Reference counts are plain
 * integers: never share a store or its messages between threads.
 *
 * KEYS. Channels by short_channel_id; channel_updates by (scid, direction =
 * channel_flags bit 0); nodes by node_id (33 bytes).
 *
 * STRICT VALIDATION (ph_gossip_add, for gossip received from peers):
 *   - chain_hash must equal the configured chain (else WRONG_CHAIN);
 *   - channel_announcement: all 4 signatures over double-SHA256 of everything
 *     after them; a second, different announcement for a known scid is
 *     ignored (CONFLICT); the same bytes again are DUPLICATE. No on-chain
 *     check (the store has no chain view): documented gap.
 *   - channel_update: verified against node_id_1 or node_id_2 (by direction)
 *     of the stored channel_announcement. For an unknown scid it is kept in
 *     a bounded pending set (PENDING) and checked when the announcement
 *     arrives; with no room the oldest pending entry is evicted (counted).
 *     dont_forward updates are PRIVATE: not stored, never relayed.
 *   - node_announcement: verified against its node_id at once; if no stored
 *     channel_announcement names the node it goes to its own bounded pending
 *     set (released when such an announcement arrives).
 *   - newer timestamp replaces older; equal is DUPLICATE, older is STALE.
 *   Every outcome is counted (ph_gossip_get_stats).
 *
 * PRELOADED GOSSIP (ph_gossip_preload_file / _buf) is TRUSTED: a relay source
 * kept verbatim and served in file order, never replaced nor removed, its
 * signatures not required to verify. While loading, the store counts how
 * many messages a strict store would have refused and why
 * (ph_gossip_preload_stats). Preloaded channel_announcements also enter the
 * channel table (queries, checking updates received later), and the newest
 * preloaded update per direction / node_announcement per node of those
 * channels become their current ones.
 *
 * THE LOG AND STORE ORDER. Every servable message sits in one append-only
 * log: preloaded messages in file order, then accepted messages in the order
 * they became servable. A strictly accepted message that is replaced by a
 * newer one leaves the log (preloaded ones never do). A strict
 * channel_announcement enters the log only with its first channel_update
 * (BOLT 7: no announcement without an update) and right before it; a strict
 * node_announcement enters it only once one of the node's channels is in the
 * log, right after that channel. So an announcement always precedes its
 * updates and node_announcements in store order.
 *
 * SERVING RULE for a gossip_timestamp_filter (first_timestamp F, range R;
 * "in window" = F <= t < F + R, computed without overflow):
 *   - channel_update, node_announcement: its own timestamp in window;
 *   - channel_announcement: at least one channel_update of the same scid held
 *     by the store is in window: the current update of either direction, or
 *     (for preloaded announcements) any preloaded update of that scid in the
 *     same file, wherever it sits in the file;
 *   - messages added with origin PH_GOSSIP_ORIGIN_LOCAL (our own gossip):
 *     always (BOLT 7: own gossip ignores filters);
 *   - the cursor skips messages whose origin is the cursor's own peer.
 * With F = 0, R = 0xFFFFFFFF every message of the sample file is served,
 * byte-exact, in file order.
 *
 * RELAY. ph_gossip_add reports how many messages became newly servable
 * (result.n_new; e.g. an announcement, its released pending updates and
 * node_announcements). Recommended: each peer that sent a filter holds a
 * cursor; cursors that reached the end of the log see the new messages on
 * their next ph_gossip_cursor_next, so after an add the event loop only has
 * to wake the other peers' writers; a slow peer's cursor simply lags
 * (memory: one cursor per peer, never a copy of the store) and messages that
 * were replaced meanwhile are skipped. Alternatively result.msg is the
 * accepted message itself for an explicit fan-out with
 * ph_gossip_msg_in_window. Either way message bytes are shared: a queued
 * message is one reference, not a copy.
 *
 * OWNERSHIP. The caller owns the store (create/destroy) and each cursor
 * (create/destroy; destroy cursors before the store). ph_gossip_msg values
 * handed out with "a new reference" must be released with
 * ph_gossip_msg_unref; they stay valid after the store is destroyed.
 * Borrowed pointers are valid until the next call that changes the store.
 *
 * ERRORS. ph_gossip_add returns PH_OK for every protocol outcome (the outcome
 * says what happened); errors are PH_ERR_NOMEM, PH_ERR_ARG.
 *
 * Preloading and its audit live in gossip_preload.h, query answers and
 * builders in gossip_query.h; both work on a store made here. */
#ifndef PH_GOSSIP_H
#define PH_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "gossip_sig.h"

typedef struct ph_gossip_store ph_gossip_store;
typedef struct ph_gossip_msg ph_gossip_msg;
typedef struct ph_gossip_cursor ph_gossip_cursor;

/* Origin 0 marks our own gossip; peers use any other number (their id). */
#define PH_GOSSIP_ORIGIN_LOCAL 0u

typedef struct ph_gossip_config {
    uint8_t chain_hash[32];
    size_t max_pending_updates; /* channel_updates waiting for their channel; 0 = none kept */
    size_t max_pending_nodes;   /* node_announcements waiting for a channel; 0 = none kept */
} ph_gossip_config;

/* Defaults: mainnet, 1,000 pending updates, 1,000 pending node_announcements. */
void ph_gossip_config_default(ph_gossip_config *cfg);

/* chain_hash of "mainnet", "testnet", "signet", "regtest" (BOLT 0 byte order,
 * as carried on the wire). PH_ERR_ARG for other names. */
PH_MUST_USE
ph_err ph_gossip_chain_hash(const char *network, uint8_t out[32]);

PH_MUST_USE
ph_err ph_gossip_store_create(const ph_gossip_config *cfg, ph_gossip_store **out);
/* Releases the store's references; messages still referenced elsewhere live on. */
void ph_gossip_store_destroy(ph_gossip_store *s);
const uint8_t *ph_gossip_store_chain(const ph_gossip_store *s);

/* ---- messages (shared, reference-counted, immutable bytes) ---- */
const uint8_t *ph_gossip_msg_data(const ph_gossip_msg *m);  /* incl. the 2-byte type */
size_t ph_gossip_msg_len(const ph_gossip_msg *m);
uint16_t ph_gossip_msg_type(const ph_gossip_msg *m);
/* Own timestamp (node_announcement, channel_update); 0 for others. */
uint32_t ph_gossip_msg_timestamp(const ph_gossip_msg *m);
ph_gossip_msg *ph_gossip_msg_ref(ph_gossip_msg *m);   /* returns m */
void ph_gossip_msg_unref(ph_gossip_msg *m);           /* NULL is fine */

/* ---- strict add ---- */
typedef enum ph_gossip_outcome {
    PH_GOSSIP_ACCEPTED,        /* new and valid: stored (and servable once BOLT 7 allows) */
    PH_GOSSIP_PENDING,         /* kept until its channel is announced */
    PH_GOSSIP_DUPLICATE,       /* same timestamp as the stored one, or same announcement */
    PH_GOSSIP_STALE,           /* older than the stored one */
    PH_GOSSIP_BAD_SIGNATURE,   /* BOLT 7: SHOULD send a warning (for updates also close: the
                                  node warns and keeps the connection, see node.c) */
    PH_GOSSIP_WRONG_CHAIN,     /* chain_hash is not ours: ignored */
    PH_GOSSIP_MALFORMED,       /* too short for its layout or a key is not a valid point */
    PH_GOSSIP_UNKNOWN_CHANNEL, /* channel_update for an unknown scid, not kept */
    PH_GOSSIP_UNKNOWN_NODE,    /* node_announcement for a node with no channel, not kept */
    PH_GOSSIP_PRIVATE,         /* channel_update with dont_forward: not stored, not relayed */
    PH_GOSSIP_CONFLICT,        /* another channel_announcement for a stored scid */
    PH_GOSSIP_NOT_GOSSIP,      /* type is not 256/257/258 */
    PH_GOSSIP__OUTCOMES
} ph_gossip_outcome;

const char *ph_gossip_outcome_name(ph_gossip_outcome o);

typedef struct ph_gossip_result {
    ph_gossip_outcome outcome;
    size_t n_new;        /* messages this call appended to the log (servable now) */
    ph_gossip_msg *msg;  /* ACCEPTED: the stored message (borrowed), else NULL */
} ph_gossip_result;

/* Validate and store one message received from peer `origin` (or our own
 * with PH_GOSSIP_ORIGIN_LOCAL). The bytes are copied. */
PH_MUST_USE
ph_err ph_gossip_add(ph_gossip_store *s, const uint8_t *msg, size_t len, uint32_t origin,
                     ph_gossip_result *res);

/* Whether `m` would be served under a filter (serving rule above, origin
 * exclusion aside). */
bool ph_gossip_msg_in_window(const ph_gossip_store *s, const ph_gossip_msg *m,
                             uint32_t first_timestamp, uint32_t timestamp_range);

/* ---- serving: cursors over the log ---- */
/* A cursor at the start of the log with window [first, first + range);
 * messages from `exclude_origin` are skipped (PH_GOSSIP_ORIGIN_LOCAL = skip
 * none). The store must outlive the cursor. */
PH_MUST_USE
ph_err ph_gossip_cursor_create(ph_gossip_store *s, uint32_t first_timestamp,
                               uint32_t timestamp_range, uint32_t exclude_origin,
                               ph_gossip_cursor **out);
void ph_gossip_cursor_destroy(ph_gossip_cursor *c);
/* A new gossip_timestamp_filter replaces the old one (BOLT 7): new window,
 * back to the start of the log so the stored gossip in it is sent. */
void ph_gossip_cursor_set_filter(ph_gossip_cursor *c, uint32_t first_timestamp,
                                 uint32_t timestamp_range);
/* Next message to send (a new reference), or NULL when the cursor is at the
 * end of the log; later adds make it return more. */
ph_gossip_msg *ph_gossip_cursor_next(ph_gossip_cursor *c);
/* True when the cursor has looked at every message of the log (the peer's
 * backlog is done; only new gossip will follow). */
bool ph_gossip_cursor_at_end(const ph_gossip_cursor *c);

/* ---- counters ---- */
enum { PH_GOSSIP_KIND_CHAN_ANN, PH_GOSSIP_KIND_NODE_ANN, PH_GOSSIP_KIND_CHAN_UPD,
       PH_GOSSIP_KIND_OTHER, PH_GOSSIP__KINDS };

typedef struct ph_gossip_stats {
    /* what ph_gossip_add returned, by message kind */
    uint64_t outcome[PH_GOSSIP__KINDS][PH_GOSSIP__OUTCOMES];
    /* how pending entries ended */
    uint64_t pending_updates_released;  /* accepted when their announcement came */
    uint64_t pending_updates_rejected;  /* bad signature / stale at release */
    uint64_t pending_updates_evicted;   /* pushed out of the full pending set */
    uint64_t pending_updates_replaced;  /* a newer pending update of the same key came */
    uint64_t pending_nodes_released;
    uint64_t pending_nodes_rejected;    /* an as new announcement came meanwhile */
    uint64_t pending_nodes_evicted;
    uint64_t pending_nodes_replaced;
    size_t pending_updates;             /* held now */
    size_t pending_nodes;
    size_t channels;                    /* channel_announcements held */
    size_t nodes;                       /* nodes named by them */
    size_t log_messages;                /* servable messages in the log */
    size_t preloaded;                   /* of which preloaded */
    uint64_t bytes_held;                /* bytes of message bodies the store references */
    /* queries answered */
    uint64_t channel_range_queries;
    uint64_t channel_range_replies;
    uint64_t scid_queries;
    uint64_t scid_query_messages;       /* gossip messages sent in answers */
} ph_gossip_stats;

void ph_gossip_get_stats(const ph_gossip_store *s, ph_gossip_stats *out);

#endif
