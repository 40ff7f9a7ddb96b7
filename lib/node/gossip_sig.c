#include "gossip_sig.h"

#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <sodium.h>
#include <string.h>

#include "byteorder.h"

enum { SIG_LEN = 64, POINT_LEN = 33, HASH_LEN = 32 };

static ph_err parse_chan_ann(const uint8_t *m, size_t len, ph_gossip_fields *f)
{
    if (len < PH_GOSSIP_CHAN_ANN_MIN_LEN)
        return PH_ERR_WIRE_SHORT;
    size_t o = 2 + 4 * SIG_LEN;
    size_t flen = ph_be16(m + o);
    o += 2 + flen;
    if (o > len || len - o < HASH_LEN + 8 + 4 * POINT_LEN)
        return PH_ERR_WIRE_SHORT;
    f->chain_hash = m + o;
    f->scid = ph_be64(m + o + HASH_LEN);
    o += HASH_LEN + 8;
    for (int i = 0; i < 2; i++)
        f->node_id[i] = m + o + (size_t)i * POINT_LEN;
    for (int i = 0; i < 2; i++)
        f->bitcoin_key[i] = m + o + (size_t)(2 + i) * POINT_LEN;
    f->signed_offset = 2 + 4 * SIG_LEN;
    return PH_OK;
}

static ph_err parse_node_ann(const uint8_t *m, size_t len, ph_gossip_fields *f)
{
    if (len < PH_GOSSIP_NODE_ANN_MIN_LEN)
        return PH_ERR_WIRE_SHORT;
    size_t o = 2 + SIG_LEN;
    size_t flen = ph_be16(m + o);
    o += 2 + flen;
    /* timestamp, node_id, rgb_color, alias, addrlen */
    const size_t fixed = 4 + POINT_LEN + 3 + 32 + 2;
    if (o > len || len - o < fixed)
        return PH_ERR_WIRE_SHORT;
    f->timestamp = ph_be32(m + o);
    f->node_id[0] = m + o + 4;
    size_t alen = ph_be16(m + o + fixed - 2);
    if (len - o - fixed < alen)
        return PH_ERR_WIRE_SHORT;
    f->signed_offset = 2 + SIG_LEN;
    return PH_OK;
}

static ph_err parse_chan_upd(const uint8_t *m, size_t len, ph_gossip_fields *f)
{
    if (len < PH_GOSSIP_CHAN_UPD_LEN)
        return PH_ERR_WIRE_SHORT;
    size_t o = 2 + SIG_LEN;
    f->chain_hash = m + o;
    f->scid = ph_be64(m + o + HASH_LEN);
    f->timestamp = ph_be32(m + o + HASH_LEN + 8);
    f->message_flags = m[o + HASH_LEN + 12];
    f->channel_flags = m[o + HASH_LEN + 13];
    f->signed_offset = 2 + SIG_LEN;
    return PH_OK;
}

ph_err ph_gossip_parse(const uint8_t *msg, size_t len, ph_gossip_fields *out)
{
    if (!msg || !out)
        return PH_ERR_ARG;
    memset(out, 0, sizeof(*out));
    if (len < 2)
        return PH_ERR_WIRE_SHORT;
    out->type = ph_be16(msg);
    switch (out->type) {
    case PH_GOSSIP_CHANNEL_ANNOUNCEMENT: return parse_chan_ann(msg, len, out);
    case PH_GOSSIP_NODE_ANNOUNCEMENT: return parse_node_ann(msg, len, out);
    case PH_GOSSIP_CHANNEL_UPDATE: return parse_chan_upd(msg, len, out);
    default: return PH_ERR_WIRE_UNKNOWN_TYPE;
    }
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
    ph_gossip_fields f;
    ph_err err = ph_gossip_parse(msg, len, &f);
    if (err)
        return err;
    uint8_t h[HASH_LEN];
    sha256d(msg + f.signed_offset, len - f.signed_offset, h);
    const uint8_t *sigs = msg + 2;
    switch (f.type) {
    case PH_GOSSIP_CHANNEL_ANNOUNCEMENT: {
        /* signature order in the message: node 1, node 2, bitcoin 1, bitcoin 2 */
        const uint8_t *keys[4] = { f.node_id[0], f.node_id[1], f.bitcoin_key[0], f.bitcoin_key[1] };
        /* a bad key is a malformed message, whatever the signatures say */
        for (int i = 0; i < 4; i++)
            if (!ph_gossip_point_valid(keys[i]))
                return PH_ERR_WIRE_FIELD;
        for (int i = 0; i < 4; i++) {
            err = verify_one(sigs + (size_t)i * SIG_LEN, keys[i], h);
            if (err)
                return err;
        }
        return PH_OK;
    }
    case PH_GOSSIP_NODE_ANNOUNCEMENT:
        return verify_one(sigs, f.node_id[0], h);
    default:
        if (!update_node_id)
            return PH_ERR_ARG;
        return verify_one(sigs, update_node_id, h);
    }
}

ph_err ph_gossip_recover_keys(const uint8_t *msg, size_t len, uint8_t keys[2][33], bool ok[2])
{
    ph_gossip_fields f;
    ph_err err = ph_gossip_parse(msg, len, &f);
    if (err)
        return err;
    if (f.type == PH_GOSSIP_CHANNEL_ANNOUNCEMENT)
        return PH_ERR_ARG;
    uint8_t h[HASH_LEN];
    sha256d(msg + f.signed_offset, len - f.signed_offset, h);
    const secp256k1_context *ctx = secp256k1_context_static;
    bool any = false;
    for (int recid = 0; recid < 2; recid++) {
        secp256k1_ecdsa_recoverable_signature rs;
        secp256k1_pubkey pk;
        size_t outlen = POINT_LEN;
        ok[recid] = secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, msg + 2, recid) &&
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

/* Sign the message with `n` secrets into its leading signature slots;
 * `expect[i]`, when set, is the key that secret i must match. */
static ph_err sign_slots(uint8_t *msg, size_t len, uint16_t want_type, size_t n,
                         const uint8_t *const secrets[], const uint8_t *const expect[])
{
    ph_gossip_fields f;
    ph_err err = ph_gossip_parse(msg, len, &f);
    if (err)
        return err;
    if (f.type != want_type)
        return PH_ERR_ARG;
    secp256k1_context *ctx = sign_ctx();
    if (!ctx)
        return PH_ERR_NOMEM;
    uint8_t h[HASH_LEN];
    sha256d(msg + f.signed_offset, len - f.signed_offset, h);
    for (size_t i = 0; i < n && !err; i++) {
        if (!secrets[i]) {
            err = PH_ERR_ARG;
            break;
        }
        uint8_t pk[POINT_LEN];
        err = pubkey_of(ctx, secrets[i], pk);
        if (!err && expect[i] && memcmp(pk, expect[i], POINT_LEN) != 0)
            err = PH_ERR_ARG;
        if (!err)
            err = sign_one(ctx, secrets[i], h, msg + 2 + i * SIG_LEN);
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
    ph_gossip_fields f;
    ph_err err = ph_gossip_parse(msg, len, &f);
    if (err)
        return err;
    const uint8_t *const secrets[4] = { node_secret[0], node_secret[1],
                                        bitcoin_secret[0], bitcoin_secret[1] };
    const uint8_t *const expect[4] = { f.node_id[0], f.node_id[1], f.bitcoin_key[0], f.bitcoin_key[1] };
    return sign_slots(msg, len, PH_GOSSIP_CHANNEL_ANNOUNCEMENT, 4, secrets, expect);
}

ph_err ph_gossip_sign_node_announcement(uint8_t *msg, size_t len, const uint8_t secret[32])
{
    if (!msg)
        return PH_ERR_ARG;
    ph_gossip_fields f;
    ph_err err = ph_gossip_parse(msg, len, &f);
    if (err)
        return err;
    const uint8_t *const secrets[1] = { secret };
    const uint8_t *const expect[1] = { f.node_id[0] };
    return sign_slots(msg, len, PH_GOSSIP_NODE_ANNOUNCEMENT, 1, secrets, expect);
}

ph_err ph_gossip_sign_channel_update(uint8_t *msg, size_t len, const uint8_t secret[32])
{
    if (!msg)
        return PH_ERR_ARG;
    const uint8_t *const secrets[1] = { secret };
    const uint8_t *const expect[1] = { NULL };
    return sign_slots(msg, len, PH_GOSSIP_CHANNEL_UPDATE, 1, secrets, expect);
}

ph_err ph_gossip_build_channel_announcement(const uint8_t chain_hash[32], uint64_t scid,
                                            const uint8_t node_secret[2][32],
                                            const uint8_t bitcoin_secret[2][32],
                                            uint8_t *out, size_t cap, size_t *out_len)
{
    if (!chain_hash || !node_secret || !bitcoin_secret || !out || !out_len)
        return PH_ERR_ARG;
    if (cap < PH_GOSSIP_CHAN_ANN_MIN_LEN)
        return PH_ERR_LIMIT;
    uint8_t node_pk[2][POINT_LEN], btc_pk[2][POINT_LEN];
    for (int i = 0; i < 2; i++) {
        ph_err err = ph_gossip_pubkey(node_secret[i], node_pk[i]);
        if (!err)
            err = ph_gossip_pubkey(bitcoin_secret[i], btc_pk[i]);
        if (err)
            return err;
    }
    /* BOLT 7: node_id_1 is the lexicographically lesser key. */
    int first = memcmp(node_pk[0], node_pk[1], POINT_LEN) <= 0 ? 0 : 1;
    int second = 1 - first;
    uint8_t *p = out;
    memset(p, 0, PH_GOSSIP_CHAN_ANN_MIN_LEN);
    ph_put_be16(p, PH_GOSSIP_CHANNEL_ANNOUNCEMENT);
    p += 2 + 4 * SIG_LEN + 2; /* signatures filled below; features len 0 */
    memcpy(p, chain_hash, HASH_LEN);
    p += HASH_LEN;
    ph_put_be64(p, scid);
    p += 8;
    memcpy(p, node_pk[first], POINT_LEN);
    memcpy(p + POINT_LEN, node_pk[second], POINT_LEN);
    memcpy(p + 2 * POINT_LEN, btc_pk[first], POINT_LEN);
    memcpy(p + 3 * POINT_LEN, btc_pk[second], POINT_LEN);
    uint8_t ns[2][32], bs[2][32];
    memcpy(ns[0], node_secret[first], 32);
    memcpy(ns[1], node_secret[second], 32);
    memcpy(bs[0], bitcoin_secret[first], 32);
    memcpy(bs[1], bitcoin_secret[second], 32);
    ph_err err = ph_gossip_sign_channel_announcement(out, PH_GOSSIP_CHAN_ANN_MIN_LEN,
                                                     (const uint8_t(*)[32])ns,
                                                     (const uint8_t(*)[32])bs);
    sodium_memzero(ns, sizeof(ns));
    sodium_memzero(bs, sizeof(bs));
    if (err)
        return err;
    *out_len = PH_GOSSIP_CHAN_ANN_MIN_LEN;
    return PH_OK;
}

ph_err ph_gossip_build_channel_update(const ph_gossip_update_fields *f, const uint8_t secret[32],
                                      uint8_t *out, size_t cap, size_t *out_len)
{
    if (!f || !secret || !out || !out_len)
        return PH_ERR_ARG;
    if (cap < PH_GOSSIP_CHAN_UPD_LEN)
        return PH_ERR_LIMIT;
    uint8_t *p = out;
    memset(p, 0, PH_GOSSIP_CHAN_UPD_LEN);
    ph_put_be16(p, PH_GOSSIP_CHANNEL_UPDATE);
    p += 2 + SIG_LEN;
    memcpy(p, f->chain_hash, HASH_LEN);
    p += HASH_LEN;
    ph_put_be64(p, f->scid);
    ph_put_be32(p + 8, f->timestamp);
    p[12] = f->message_flags | PH_GOSSIP_MESSAGE_FLAG_MUST_BE_ONE;
    p[13] = f->channel_flags;
    ph_put_be16(p + 14, f->cltv_expiry_delta);
    ph_put_be64(p + 16, f->htlc_minimum_msat);
    ph_put_be32(p + 24, f->fee_base_msat);
    ph_put_be32(p + 28, f->fee_proportional_millionths);
    ph_put_be64(p + 32, f->htlc_maximum_msat);
    ph_err err = ph_gossip_sign_channel_update(out, PH_GOSSIP_CHAN_UPD_LEN, secret);
    if (err)
        return err;
    *out_len = PH_GOSSIP_CHAN_UPD_LEN;
    return PH_OK;
}

ph_err ph_gossip_build_node_announcement(const ph_gossip_node_fields *f, const uint8_t secret[32],
                                         uint8_t *out, size_t cap, size_t *out_len)
{
    if (!f || !secret || !out || !out_len || (f->features_len && !f->features) ||
        (f->addresses_len && !f->addresses))
        return PH_ERR_ARG;
    size_t len = PH_GOSSIP_NODE_ANN_MIN_LEN + (size_t)f->features_len + f->addresses_len;
    if (len > 65535)
        return PH_ERR_WIRE_TOO_LONG;
    if (cap < len)
        return PH_ERR_LIMIT;
    uint8_t *p = out;
    memset(p, 0, 2 + SIG_LEN);
    ph_put_be16(p, PH_GOSSIP_NODE_ANNOUNCEMENT);
    p += 2 + SIG_LEN;
    ph_put_be16(p, f->features_len);
    p += 2;
    if (f->features_len)
        memcpy(p, f->features, f->features_len);
    p += f->features_len;
    ph_put_be32(p, f->timestamp);
    p += 4;
    ph_err err = ph_gossip_pubkey(secret, p);
    if (err)
        return err;
    p += POINT_LEN;
    memcpy(p, f->rgb_color, 3);
    memcpy(p + 3, f->alias, 32);
    p += 35;
    ph_put_be16(p, f->addresses_len);
    p += 2;
    if (f->addresses_len)
        memcpy(p, f->addresses, f->addresses_len);
    err = ph_gossip_sign_node_announcement(out, len, secret);
    if (err)
        return err;
    *out_len = len;
    return PH_OK;
}
