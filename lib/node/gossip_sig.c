#include "gossip_sig.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>
#include <string.h>

enum { SIG_LEN = 64, POINT_LEN = 33, HASH_LEN = 32, MAX_SIGS = 4 };

/* A gossip message located through its generated view: the fields the
 * store needs, and each signature (in the message's order) with the key it
 * is made with (NULL when the message does not carry it: channel_update). */
struct located {
    ph_gossip_fields f;
    size_t n_sigs;
    const uint8_t *sig[MAX_SIGS];
    const uint8_t *key[MAX_SIGS];
};

static ph_err parse_chan_ann(const uint8_t *m, size_t len, struct located *l)
{
    ph_wire_channel_announcement v;
    ph_err err = ph_wire_channel_announcement_parse(m, len, &v, NULL);
    if (err)
        return err;
    l->f.chain_hash = v.chain_hash;
    l->f.scid = v.short_channel_id;
    l->f.node_id[0] = v.node_id_1;
    l->f.node_id[1] = v.node_id_2;
    l->f.bitcoin_key[0] = v.bitcoin_key_1;
    l->f.bitcoin_key[1] = v.bitcoin_key_2;
    l->n_sigs = 4;
    l->sig[0] = v.node_signature_1;
    l->sig[1] = v.node_signature_2;
    l->sig[2] = v.bitcoin_signature_1;
    l->sig[3] = v.bitcoin_signature_2;
    l->key[0] = v.node_id_1;
    l->key[1] = v.node_id_2;
    l->key[2] = v.bitcoin_key_1;
    l->key[3] = v.bitcoin_key_2;
    return PH_OK;
}

static ph_err parse_node_ann(const uint8_t *m, size_t len, struct located *l)
{
    ph_wire_node_announcement v;
    ph_err err = ph_wire_node_announcement_parse(m, len, &v, NULL);
    if (err)
        return err;
    l->f.timestamp = v.timestamp;
    l->f.node_id[0] = v.node_id;
    l->n_sigs = 1;
    l->sig[0] = v.signature;
    l->key[0] = v.node_id;
    return PH_OK;
}

static ph_err parse_chan_upd(const uint8_t *m, size_t len, struct located *l)
{
    ph_wire_channel_update v;
    ph_err err = ph_wire_channel_update_parse(m, len, &v, NULL);
    if (err)
        return err;
    l->f.chain_hash = v.chain_hash;
    l->f.scid = v.short_channel_id;
    l->f.timestamp = v.timestamp;
    l->f.message_flags = v.message_flags;
    l->f.channel_flags = v.channel_flags;
    l->n_sigs = 1;
    l->sig[0] = v.signature;
    return PH_OK;
}

static ph_err locate(const uint8_t *msg, size_t len, struct located *l)
{
    memset(l, 0, sizeof(*l));
    ph_err err = ph_wire_peek_type(msg, len, &l->f.type);
    if (err)
        return err;
    switch (l->f.type) {
    case PH_WIRE_CHANNEL_ANNOUNCEMENT: err = parse_chan_ann(msg, len, l); break;
    case PH_WIRE_NODE_ANNOUNCEMENT: err = parse_node_ann(msg, len, l); break;
    case PH_WIRE_CHANNEL_UPDATE: err = parse_chan_upd(msg, len, l); break;
    default: return PH_ERR_WIRE_UNKNOWN_TYPE;
    }
    l->f.signed_offset = ph_wire_signed_offset(l->f.type);
    return err;
}

ph_err ph_gossip_parse(const uint8_t *msg, size_t len, ph_gossip_fields *out)
{
    if (!msg || !out)
        return PH_ERR_ARG;
    struct located l;
    ph_err err = locate(msg, len, &l);
    *out = l.f;
    return err;
}

static void sha256d(const uint8_t *p, size_t n, uint8_t out[HASH_LEN])
{
    uint8_t h[HASH_LEN];
    crypto_hash_sha256(h, p, n);
    crypto_hash_sha256(out, h, sizeof(h));
}

bool ph_gossip_point_valid(const uint8_t *point)
{
    secp256k1_pubkey pk;
    return point && secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, point, POINT_LEN);
}

/* One signature against one key: the unit every check is made of. */
static ph_err verify_one(const uint8_t *sig64, const uint8_t *point, const uint8_t hash[HASH_LEN])
{
    const secp256k1_context *ctx = secp256k1_context_static;
    secp256k1_pubkey pk;
    secp256k1_ecdsa_signature sig;
    if (!secp256k1_ec_pubkey_parse(ctx, &pk, point, POINT_LEN))
        return PH_ERR_WIRE_FIELD;
    if (!secp256k1_ecdsa_signature_parse_compact(ctx, &sig, sig64))
        return PH_ERR_GOSSIP_SIGNATURE;
    /* No normalising: a high-S signature fails here, as it does for every
     * implementation that verifies with libsecp256k1, so we never relay
     * what our peers would refuse. */
    return secp256k1_ecdsa_verify(ctx, &sig, hash, &pk) ? PH_OK : PH_ERR_GOSSIP_SIGNATURE;
}

/* What each message's signatures cover (signed_offset):
 *
 * BOLT #7: MUST compute the double-SHA256 hash `h` of the message, beginning at offset
 * 256, up to the end of the message.
 *   - Note: the hash skips the 4 signatures but hashes the rest of the message,
 *     including any future fields appended to the end.
 *
 * BOLT #7: MUST set `signature` to the signature of the double-SHA256 of the entire
 * remaining packet after `signature`, using its own `node_id`. */
ph_err ph_gossip_verify(const uint8_t *msg, size_t len, const uint8_t *update_node_id)
{
    if (!msg)
        return PH_ERR_ARG;
    struct located l;
    ph_err err = locate(msg, len, &l);
    if (err)
        return err;
    if (l.f.type == PH_WIRE_CHANNEL_UPDATE) {
        if (!update_node_id)
            return PH_ERR_ARG;
        l.key[0] = update_node_id;
    }
    /* a bad key is a malformed message, whatever the signatures say
     * (channel_announcement: node 1, node 2, bitcoin 1, bitcoin 2) */
    if (l.f.type == PH_WIRE_CHANNEL_ANNOUNCEMENT)
        for (size_t i = 0; i < l.n_sigs; i++)
            if (!ph_gossip_point_valid(l.key[i]))
                return PH_ERR_WIRE_FIELD;
    uint8_t h[HASH_LEN];
    sha256d(msg + l.f.signed_offset, len - l.f.signed_offset, h);
    for (size_t i = 0; i < l.n_sigs; i++) {
        err = verify_one(l.sig[i], l.key[i], h);
        if (err)
            return err;
    }
    return PH_OK;
}

ph_err ph_gossip_recover_keys(const uint8_t *msg, size_t len, uint8_t keys[2][33], bool ok[2])
{
    if (!msg || !keys || !ok)
        return PH_ERR_ARG;
    struct located l;
    ph_err err = locate(msg, len, &l);
    if (err)
        return err;
    if (l.f.type == PH_WIRE_CHANNEL_ANNOUNCEMENT) /* four signatures: not this */
        return PH_ERR_ARG;
    uint8_t h[HASH_LEN];
    sha256d(msg + l.f.signed_offset, len - l.f.signed_offset, h);
    const secp256k1_context *ctx = secp256k1_context_static;
    bool any = false;
    for (int recid = 0; recid < 2; recid++) {
        secp256k1_ecdsa_recoverable_signature rs;
        secp256k1_pubkey pk;
        size_t outlen = POINT_LEN;
        ok[recid] = secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, l.sig[0], recid) &&
                    secp256k1_ecdsa_recover(ctx, &pk, &rs, h) &&
                    secp256k1_ec_pubkey_serialize(ctx, keys[recid], &outlen, &pk,
                                                  SECP256K1_EC_COMPRESSED);
        any = any || ok[recid];
    }
    return any ? PH_OK : PH_ERR_WIRE_FIELD;
}

/* A randomised signing context (blinding against side channels). */
static secp256k1_context *sign_ctx(void)
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (!ctx)
        return NULL;
    uint8_t seed[32];
    randombytes_buf(seed, sizeof(seed));
    if (!secp256k1_context_randomize(ctx, seed)) {
        secp256k1_context_destroy(ctx);
        ctx = NULL;
    }
    sodium_memzero(seed, sizeof(seed));
    return ctx;
}

static ph_err pubkey_of(const secp256k1_context *ctx, const uint8_t secret[32], uint8_t out[POINT_LEN])
{
    secp256k1_pubkey pk;
    size_t outlen = POINT_LEN;
    if (!secp256k1_ec_pubkey_create(ctx, &pk, secret))
        return PH_ERR_ARG;
    secp256k1_ec_pubkey_serialize(ctx, out, &outlen, &pk, SECP256K1_EC_COMPRESSED);
    return PH_OK;
}

ph_err ph_gossip_pubkey(const uint8_t secret[32], uint8_t pubkey[33])
{
    if (!secret || !pubkey)
        return PH_ERR_ARG;
    secp256k1_context *ctx = sign_ctx();
    if (!ctx)
        return PH_ERR_NOMEM;
    ph_err err = pubkey_of(ctx, secret, pubkey);
    secp256k1_context_destroy(ctx);
    return err;
}

static ph_err sign_one(const secp256k1_context *ctx, const uint8_t secret[32],
                       const uint8_t hash[HASH_LEN], uint8_t *sig64)
{
    secp256k1_ecdsa_signature sig;
    if (!secp256k1_ecdsa_sign(ctx, &sig, hash, secret, NULL, NULL))
        return PH_ERR_ARG;
    secp256k1_ecdsa_signature_serialize_compact(ctx, sig64, &sig);
    return PH_OK;
}

/* Sign the message (of type want_type) in its signature slots, which its
 * view locates, with one secret per slot in the message's order; each
 * secret must match the key the message carries for its slot. */
static ph_err sign_slots(uint8_t *msg, size_t len, uint16_t want_type,
                         const uint8_t *const secrets[])
{
    struct located l;
    ph_err err = locate(msg, len, &l);
    if (err)
        return err;
    if (l.f.type != want_type)
        return PH_ERR_ARG;
    secp256k1_context *ctx = sign_ctx();
    if (!ctx)
        return PH_ERR_NOMEM;
    uint8_t h[HASH_LEN];
    sha256d(msg + l.f.signed_offset, len - l.f.signed_offset, h);
    for (size_t i = 0; i < l.n_sigs && !err; i++) {
        if (!secrets[i]) {
            err = PH_ERR_ARG;
            break;
        }
        uint8_t pk[POINT_LEN];
        err = pubkey_of(ctx, secrets[i], pk);
        if (!err && l.key[i] && memcmp(pk, l.key[i], POINT_LEN) != 0)
            err = PH_ERR_ARG;
        if (!err) /* the slot the view found, written through msg */
            err = sign_one(ctx, secrets[i], h, msg + (l.sig[i] - msg));
    }
    secp256k1_context_destroy(ctx);
    return err;
}

ph_err ph_gossip_sign_channel_announcement(uint8_t *msg, size_t len,
                                           const uint8_t node_secret[2][32],
                                           const uint8_t bitcoin_secret[2][32])
{
    if (!msg || !node_secret || !bitcoin_secret)
        return PH_ERR_ARG;
    const uint8_t *const secrets[4] = { node_secret[0], node_secret[1],
                                        bitcoin_secret[0], bitcoin_secret[1] };
    return sign_slots(msg, len, PH_WIRE_CHANNEL_ANNOUNCEMENT, secrets);
}

ph_err ph_gossip_sign_node_announcement(uint8_t *msg, size_t len, const uint8_t secret[32])
{
    if (!msg)
        return PH_ERR_ARG;
    const uint8_t *const secrets[1] = { secret };
    return sign_slots(msg, len, PH_WIRE_NODE_ANNOUNCEMENT, secrets);
}

/* The key is not in the message: not checked. */
ph_err ph_gossip_sign_channel_update(uint8_t *msg, size_t len, const uint8_t secret[32])
{
    if (!msg)
        return PH_ERR_ARG;
    const uint8_t *const secrets[1] = { secret };
    return sign_slots(msg, len, PH_WIRE_CHANNEL_UPDATE, secrets);
}

/* Signature slots are encoded as zeros, then signed in place. */
static const uint8_t unsigned_slot[SIG_LEN];

/* The builders' contract (gossip_sig.h): the encoders say PH_ERR_ARG for a
 * small buffer, the builders PH_ERR_LIMIT. */
static ph_err room_for(size_t need, size_t cap)
{
    if (need > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    return cap < need ? PH_ERR_LIMIT : PH_OK;
}

ph_err ph_gossip_build_channel_announcement(const uint8_t chain_hash[32], uint64_t scid,
                                            const uint8_t node_secret[2][32],
                                            const uint8_t bitcoin_secret[2][32],
                                            uint8_t *out, size_t cap, size_t *out_len)
{
    if (!chain_hash || !node_secret || !bitcoin_secret || !out || !out_len)
        return PH_ERR_ARG;
    uint8_t node_pk[2][POINT_LEN], btc_pk[2][POINT_LEN];
    ph_wire_channel_announcement v = {
        .node_signature_1 = unsigned_slot, .node_signature_2 = unsigned_slot,
        .bitcoin_signature_1 = unsigned_slot, .bitcoin_signature_2 = unsigned_slot,
        .chain_hash = chain_hash, .short_channel_id = scid, /* features: empty */
    };
    ph_err err = room_for(ph_wire_channel_announcement_len(&v), cap);
    if (err)
        return err;
    for (int i = 0; i < 2 && !err; i++) {
        err = ph_gossip_pubkey(node_secret[i], node_pk[i]);
        if (!err)
            err = ph_gossip_pubkey(bitcoin_secret[i], btc_pk[i]);
    }
    if (err)
        return err;
    /* BOLT 7: node_id_1 is the lexicographically lesser key. */
    int first = memcmp(node_pk[0], node_pk[1], POINT_LEN) <= 0 ? 0 : 1;
    int second = 1 - first;
    v.node_id_1 = node_pk[first];
    v.node_id_2 = node_pk[second];
    v.bitcoin_key_1 = btc_pk[first];
    v.bitcoin_key_2 = btc_pk[second];
    size_t len;
    err = ph_wire_channel_announcement_encode(&v, out, cap, &len);
    if (err)
        return err;
    uint8_t ns[2][32], bs[2][32];
    memcpy(ns[0], node_secret[first], 32);
    memcpy(ns[1], node_secret[second], 32);
    memcpy(bs[0], bitcoin_secret[first], 32);
    memcpy(bs[1], bitcoin_secret[second], 32);
    err = ph_gossip_sign_channel_announcement(out, len, (const uint8_t(*)[32])ns,
                                              (const uint8_t(*)[32])bs);
    sodium_memzero(ns, sizeof(ns));
    sodium_memzero(bs, sizeof(bs));
    if (err)
        return err;
    *out_len = len;
    return PH_OK;
}

ph_err ph_gossip_build_channel_update(const ph_gossip_update_fields *f, const uint8_t secret[32],
                                      uint8_t *out, size_t cap, size_t *out_len)
{
    if (!f || !secret || !out || !out_len)
        return PH_ERR_ARG;
    const ph_wire_channel_update v = {
        .signature = unsigned_slot,
        .chain_hash = f->chain_hash,
        .short_channel_id = f->scid,
        .timestamp = f->timestamp,
        .message_flags = f->message_flags | PH_GOSSIP_MESSAGE_FLAG_MUST_BE_ONE,
        .channel_flags = f->channel_flags,
        .cltv_expiry_delta = f->cltv_expiry_delta,
        .htlc_minimum_msat = f->htlc_minimum_msat,
        .fee_base_msat = f->fee_base_msat,
        .fee_proportional_millionths = f->fee_proportional_millionths,
        .htlc_maximum_msat = f->htlc_maximum_msat,
    };
    size_t len;
    ph_err err = room_for(ph_wire_channel_update_len(&v), cap);
    if (!err)
        err = ph_wire_channel_update_encode(&v, out, cap, &len);
    if (!err)
        err = ph_gossip_sign_channel_update(out, len, secret);
    if (err)
        return err;
    *out_len = len;
    return PH_OK;
}

ph_err ph_gossip_build_node_announcement(const ph_gossip_node_fields *f, const uint8_t secret[32],
                                         uint8_t *out, size_t cap, size_t *out_len)
{
    if (!f || !secret || !out || !out_len || (f->features_len && !f->features) ||
        (f->addresses_len && !f->addresses))
        return PH_ERR_ARG;
    uint8_t node_id[POINT_LEN];
    const ph_wire_node_announcement v = {
        .signature = unsigned_slot,
        .features = f->features, .features_len = f->features_len,
        .timestamp = f->timestamp,
        .node_id = node_id,
        .rgb_color = f->rgb_color,
        .alias = f->alias,
        .addresses = f->addresses, .addresses_len = f->addresses_len,
    };
    size_t len;
    ph_err err = room_for(ph_wire_node_announcement_len(&v), cap);
    if (!err)
        err = ph_gossip_pubkey(secret, node_id);
    if (!err)
        err = ph_wire_node_announcement_encode(&v, out, cap, &len);
    if (!err)
        err = ph_gossip_sign_node_announcement(out, len, secret);
    if (err)
        return err;
    *out_len = len;
    return PH_OK;
}
