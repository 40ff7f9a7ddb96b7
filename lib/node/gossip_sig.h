/* BOLT 7 gossip messages on their own: field access, signature checks,
 * signing and building (channel_announcement 256, node_announcement 257,
 * channel_update 258). Pure functions: no store, no allocation that outlives
 * a call, no I/O. The store (gossip.h) is built on these.
 *
 * Every message argument is the whole wire message INCLUDING its 2-byte type.
 *
 * Fields are reached through the generated views and encoders
 * (wire_views.h); message types are PH_WIRE_CHANNEL_ANNOUNCEMENT & co.
 * (wire_types.h), minimum lengths PH_WIRE_<MSG>_MIN_LEN, scid parts
 * ph_wire_scid_make / ph_wire_scid_block (wire.h).
 *
 * What is signed (BOLT 7): the double-SHA256 of
 *   channel_announcement: everything after the 4 signatures;
 *   node_announcement, channel_update: everything after the signature,
 *   unknown trailing fields included (ph_wire_signed_offset, wire.h).
 * Signatures are 64-byte compact ECDSA in lower-S form: a high-S signature
 * does not verify (libsecp256k1's verify refuses it, and so do the
 * implementations built on it, which would refuse a message we relayed
 * with one). Signing always produces lower-S.
 *
 * Secrets: private keys are only read, never copied; the signing context is
 * randomised and destroyed inside each call.
 *
 * Errors: PH_ERR_WIRE_SHORT (message too short for its layout),
 * PH_ERR_WIRE_TOO_LONG (over 65,535 bytes),
 * PH_ERR_WIRE_UNKNOWN_TYPE (not 256/257/258), PH_ERR_WIRE_FIELD (a point is
 * not a valid compressed public key, or a signature does not parse),
 * PH_ERR_GOSSIP_SIGNATURE (a signature does not verify), PH_ERR_ARG (bad
 * argument, e.g. a private key that does not match the message), PH_ERR_NOMEM. */
#ifndef PH_GOSSIP_SIG_H
#define PH_GOSSIP_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "wire.h"
#include "wire_views.h"

/* channel_update flags (BOLT 7). */
#define PH_GOSSIP_CHANNEL_FLAG_DIRECTION 0x01
#define PH_GOSSIP_CHANNEL_FLAG_DISABLE 0x02
#define PH_GOSSIP_MESSAGE_FLAG_MUST_BE_ONE 0x01
#define PH_GOSSIP_MESSAGE_FLAG_DONT_FORWARD 0x02

/* The fields the store needs, taken from the message's view (a thin
 * adapter over ph_wire_<msg>_parse for the three types). Pointers borrow
 * from the message passed to ph_gossip_parse; fields that a type lacks are
 * NULL / 0. */
typedef struct ph_gossip_fields {
    uint16_t type;
    const uint8_t *chain_hash;   /* 32 bytes: channel_announcement, channel_update */
    uint64_t scid;               /* channel_announcement, channel_update */
    uint32_t timestamp;          /* node_announcement, channel_update */
    const uint8_t *node_id[2];   /* channel_announcement: node_id_1/2;
                                    node_announcement: node_id[0] */
    const uint8_t *bitcoin_key[2]; /* channel_announcement */
    uint8_t message_flags;       /* channel_update */
    uint8_t channel_flags;       /* channel_update */
    size_t signed_offset;        /* where the double-SHA256'd part begins
                                    (ph_wire_signed_offset) */
} ph_gossip_fields;

/* Locate the fields of a gossip message (no signature or point checks). */
PH_MUST_USE
ph_err ph_gossip_parse(const uint8_t *msg, size_t len, ph_gossip_fields *out);

/* Verify every signature of `msg`. channel_announcement: its 4 signatures
 * against its own keys; node_announcement: against its node_id;
 * channel_update: against `update_node_id` (33 bytes: the node_id of the
 * update's direction taken from its channel_announcement; required for
 * channel_update, ignored otherwise). */
PH_MUST_USE
ph_err ph_gossip_verify(const uint8_t *msg, size_t len, const uint8_t *update_node_id);

/* Whether `point` (33 bytes) is a valid compressed secp256k1 public key. */
bool ph_gossip_point_valid(const uint8_t *point);

/* Public-key recovery for a message with one signature (channel_update or
 * node_announcement): the keys (33-byte compressed) for which its signature
 * verifies, trying recovery ids 0 and 1. ok[i] tells whether keys[i] is set.
 * PH_ERR_WIRE_FIELD if neither recovery id yields a key. Used to check
 * channel_updates whose channel_announcement is not at hand. */
PH_MUST_USE
ph_err ph_gossip_recover_keys(const uint8_t *msg, size_t len, uint8_t keys[2][33], bool ok[2]);

/* Sign in place. The message must already hold every other field.
 * channel_announcement: secrets in the message's order (node_secret[0] for
 * node_id_1 ...); each must match the public key in the message, else
 * PH_ERR_ARG. node_announcement: `secret` must match node_id. channel_update:
 * `secret` is the key of the direction's node (not checked: the update does
 * not carry the key). */
PH_MUST_USE
ph_err ph_gossip_sign_channel_announcement(uint8_t *msg, size_t len,
                                           const uint8_t node_secret[2][32],
                                           const uint8_t bitcoin_secret[2][32]);
PH_MUST_USE
ph_err ph_gossip_sign_node_announcement(uint8_t *msg, size_t len, const uint8_t secret[32]);
PH_MUST_USE
ph_err ph_gossip_sign_channel_update(uint8_t *msg, size_t len, const uint8_t secret[32]);

/* The compressed public key of a private key. PH_ERR_ARG if invalid. */
PH_MUST_USE
ph_err ph_gossip_pubkey(const uint8_t secret[32], uint8_t pubkey[33]);

/* Builders: write a complete signed message into `out` (capacity `cap`),
 * its length into *out_len. PH_ERR_LIMIT if `cap` is too small. */

/* channel_announcement with empty features. The two sides may be given in
 * any order: the builder puts the lesser node id first (BOLT 7) and keeps
 * each node with its bitcoin key. PH_WIRE_CHANNEL_ANNOUNCEMENT_MIN_LEN
 * (432) bytes. */
PH_MUST_USE
ph_err ph_gossip_build_channel_announcement(const uint8_t chain_hash[32], uint64_t scid,
                                            const uint8_t node_secret[2][32],
                                            const uint8_t bitcoin_secret[2][32],
                                            uint8_t *out, size_t cap, size_t *out_len);

typedef struct ph_gossip_update_fields {
    uint8_t chain_hash[32];
    uint64_t scid;
    uint32_t timestamp;
    uint8_t message_flags;        /* must_be_one is set by the builder */
    uint8_t channel_flags;        /* bit 0 = direction */
    uint16_t cltv_expiry_delta;
    uint64_t htlc_minimum_msat;
    uint32_t fee_base_msat;
    uint32_t fee_proportional_millionths;
    uint64_t htlc_maximum_msat;
} ph_gossip_update_fields;

/* channel_update signed with `secret` (the node of the direction).
 * PH_WIRE_CHANNEL_UPDATE_MIN_LEN (138) bytes. */
PH_MUST_USE
ph_err ph_gossip_build_channel_update(const ph_gossip_update_fields *f, const uint8_t secret[32],
                                      uint8_t *out, size_t cap, size_t *out_len);

typedef struct ph_gossip_node_fields {
    uint32_t timestamp;
    uint8_t rgb_color[3];
    uint8_t alias[32];
    const uint8_t *features;      /* may be NULL when features_len is 0 */
    uint16_t features_len;
    const uint8_t *addresses;     /* address descriptors, already encoded */
    uint16_t addresses_len;
} ph_gossip_node_fields;

/* node_announcement for the node of `secret`. PH_ERR_WIRE_TOO_LONG above
 * 65,535 bytes. */
PH_MUST_USE
ph_err ph_gossip_build_node_announcement(const ph_gossip_node_fields *f, const uint8_t secret[32],
                                         uint8_t *out, size_t cap, size_t *out_len);

#endif
