/* BOLT 7 gossip queries against a store (gossip.h): the window of a
 * gossip_timestamp_filter, answers to query_channel_range (as
 * reply_channel_range) and query_short_channel_ids (the gossip, then
 * reply_short_channel_ids_end), and builders for the requesting side.
 *
 * Threading and I/O: as the store; nothing here blocks. Messages go out
 * through the caller's emit callback, so the caller decides how they are
 * queued.
 *
 * OWNERSHIP. The caller owns the store, each ph_gossip_scid_answer
 * (create/destroy; destroy it before the store) and the builders' output
 * buffers. Every message passed to emit is a new reference the callee owns.
 *
 * ERRORS. PH_ERR_ARG for NULL arguments or a message of another type.
 * Queries are parsed with their generated views (wire_views.h), so a
 * truncated or malformed query or TLV stream gives its PH_ERR_WIRE_* code; PH_ERR_WIRE_FIELD also for
 * encoded_short_ids that are not whole scids or query_flags not one per
 * scid; PH_ERR_GOSSIP_ENCODING for zlib or an unknown encoding; PH_ERR_NOMEM;
 * or whatever the emit callback returned. Nothing is emitted on a decode
 * error. */
#ifndef PH_GOSSIP_QUERY_H
#define PH_GOSSIP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "gossip.h"

/* gossip_timestamp_filter (type 265, with its type): the window, after
 * checking the chain (PH_ERR_GOSSIP_CHAIN if not ours). */
PH_MUST_USE
ph_err ph_gossip_parse_timestamp_filter(const ph_gossip_store *s, const uint8_t *msg, size_t len,
                                        uint32_t *first_timestamp, uint32_t *timestamp_range);

/* ---- queries ---- */
/* Receives one message (a new reference, which the callee owns from then on)
 * to send to the querying peer. A non-zero return stops the answer. */
typedef ph_err (*ph_gossip_emit_fn)(void *ctx, ph_gossip_msg *msg);

/* query_channel_range (type 263, with its type) -> one or more
 * reply_channel_range, encoding 0, scids ascending, the last with
 * sync_complete = 1. Covered scids: channels whose announcement the store
 * holds. Replies hold at most 8,186 scids (65,535-byte limit), are cut at
 * block boundaries when a block fits, and tile the queried blocks:
 * first reply starts at first_blocknum, each next one where the previous
 * ended (or in the same block when one block's scids need two replies), the
 * last ends at first_blocknum + number_of_blocks (capped at 2^32 - 1). A
 * query for another chain gets one empty reply, which is the final one, so
 * with sync_complete = 1 too (BOLT 7 MUST).
 * query_option (timestamps/checksums) is ignored: MAY in BOLT 7. */
PH_MUST_USE
ph_err ph_gossip_answer_channel_range(ph_gossip_store *s, const uint8_t *query, size_t len,
                                      ph_gossip_emit_fn emit, void *ctx);

/* query_short_channel_ids (type 261, with its type) -> for each known scid,
 * in query order and once however often it is asked (the flags of its
 * repeats merged): channel_announcement, channel_update of node 1 then
 * node 2, then node_announcements of node 1 and node 2 (each node at most
 * once per query), restricted by query_flags when present; then
 * reply_short_channel_ids_end (full_information = 1; 0 for another chain).
 * Known means known when the query arrives. Encoding 1 (zlib, forbidden by
 * BOLT 7) and unknown encodings: PH_ERR_GOSSIP_ENCODING and nothing
 * emitted (send a warning). All at once: */
PH_MUST_USE
ph_err ph_gossip_answer_short_channel_ids(ph_gossip_store *s, const uint8_t *query, size_t len,
                                          ph_gossip_emit_fn emit, void *ctx);

/* ... or a channel at a time, so that a peer streams the answer as its
 * queue drains: create decodes and plans the answer (errors as above; the
 * plan holds 9 bytes per distinct known scid, at most ~74 KB for the
 * largest query); each next emits one channel's messages, the last one the
 * end marker, after which *done is true. The store must outlive the
 * answer; messages replaced meanwhile are answered with their current
 * version. */
typedef struct ph_gossip_scid_answer ph_gossip_scid_answer;
PH_MUST_USE
ph_err ph_gossip_scid_answer_create(ph_gossip_store *s, const uint8_t *query, size_t len,
                                    ph_gossip_scid_answer **out);
PH_MUST_USE
ph_err ph_gossip_scid_answer_next(ph_gossip_scid_answer *a, ph_gossip_emit_fn emit, void *ctx,
                                  bool *done);
/* Steps left (channels, then the end marker); 0 once done. */
size_t ph_gossip_scid_answer_left(const ph_gossip_scid_answer *a);
/* Heap bytes the plan holds (NULL: 0). */
size_t ph_gossip_scid_answer_heap_bytes(const ph_gossip_scid_answer *a);
void ph_gossip_scid_answer_destroy(ph_gossip_scid_answer *a);

/* Query builders (for the requesting side and tests): write into `out`
 * (capacity `cap`), length into *out_len. PH_ERR_LIMIT if too small,
 * PH_ERR_WIRE_TOO_LONG above 65,535 bytes. Written by the generated
 * encoders; query_short_channel_ids builds its encoded_short_ids in a
 * temporary buffer first (PH_ERR_NOMEM). */
PH_MUST_USE
ph_err ph_gossip_build_timestamp_filter(const uint8_t chain_hash[32], uint32_t first_timestamp,
                                        uint32_t timestamp_range, uint8_t *out, size_t cap,
                                        size_t *out_len);
PH_MUST_USE
ph_err ph_gossip_build_query_channel_range(const uint8_t chain_hash[32], uint32_t first_blocknum,
                                           uint32_t number_of_blocks, uint8_t *out, size_t cap,
                                           size_t *out_len);
PH_MUST_USE
ph_err ph_gossip_build_query_short_channel_ids(const uint8_t chain_hash[32], const uint64_t *scids,
                                               size_t n, uint8_t *out, size_t cap, size_t *out_len);

#endif
