/* Preloading trusted gossip into a store (gossip.h), and the key-recovery
 * audit of what was preloaded. Preloaded gossip is a verbatim relay source:
 * its semantics in the store (file order, never replaced, the serving rule)
 * are described in gossip.h under PRELOADED GOSSIP.
 *
 * Threading and I/O: as the store. ph_gossip_preload_file reads the whole
 * file with blocking stdio, so call it before the event loop starts.
 *
 * OWNERSHIP. The caller owns the store and the stats structs; the store
 * takes its own references to the messages it keeps, and a failed preload
 * keeps nothing of that call. Nothing here hands out a reference.
 *
 * ERRORS. PH_ERR_ARG (NULL store, path or out; buf NULL with len > 0),
 * PH_ERR_IO (errno kept), PH_ERR_GOSSIP_FORMAT (bad record; its offset in
 * the stats), PH_ERR_GOSSIP_CHAIN, PH_ERR_NOMEM. */
#ifndef PH_GOSSIP_PRELOAD_H
#define PH_GOSSIP_PRELOAD_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "gossip.h"

/* ---- preload (trusted relay source) ---- */
typedef struct ph_gossip_preload_stats {
    uint64_t messages;          /* records loaded by this call */
    uint64_t bytes;             /* file bytes consumed */
    uint64_t by_type[3];        /* channel_announcement, node_announcement, channel_update */
    /* What a strict store would say, each message counted once, first
     * reason in this order (a file for another chain is refused whole): */
    uint64_t bad_signature;     /* a checkable signature fails (announcements;
                                   updates of channels announced in the file) */
    uint64_t unknown_channel;   /* channel_update of a scid with no channel_announcement
                                   in the file (or store) */
    uint64_t unknown_node;      /* node_announcement of a node in no channel_announcement */
    uint64_t stale;             /* not newer than an earlier one for the same key */
    uint64_t strict_ok;         /* would be accepted (updates before their announcement
                                   count as accepted: the pending set resolves them) */
    size_t bad_offset;          /* PH_ERR_GOSSIP_FORMAT: file offset of the bad record */
} ph_gossip_preload_stats;

/* Load a file of repeated [u16 BE length][message incl. type]. Every record
 * must be a parseable gossip message (256/257/258) for our chain; else
 * nothing of this call is kept. `st` may be NULL. */
PH_MUST_USE
ph_err ph_gossip_preload_file(ph_gossip_store *s, const char *path, ph_gossip_preload_stats *st);
PH_MUST_USE
ph_err ph_gossip_preload_buf(ph_gossip_store *s, const uint8_t *buf, size_t len,
                             ph_gossip_preload_stats *st);

/* Signature check by public-key recovery for preloaded channel_updates
 * (their channel_announcement is mostly absent). Slow (two recoveries per
 * update, ~60 us each): for tests and reports. Each update counted once: */
typedef struct ph_gossip_recovery_stats {
    uint64_t updates;
    uint64_t match_channel;     /* a recovered key is the node_id of its direction in
                                   the stored channel_announcement */
    uint64_t mismatch_channel;  /* scid announced, no recovered key matches: bad */
    uint64_t match_known_node;  /* no announcement; a recovered key is a node_id seen in
                                   some node_announcement/channel_announcement held */
    uint64_t consistent;        /* otherwise: one recovered key is shared by every
                                   update of that (scid, direction), 2 or more of them */
    uint64_t unverifiable;      /* otherwise (a lone update of an unknown node) */
    uint64_t unrecoverable;     /* no key recovers: the signature is malformed */
} ph_gossip_recovery_stats;
PH_MUST_USE
ph_err ph_gossip_audit_recovery(ph_gossip_store *s, ph_gossip_recovery_stats *out);

#endif
