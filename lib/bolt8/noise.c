/* BOLT 8 transport (08-transport.md): Noise_XK handshake and the framed,
 * key-rotating message cipher. */
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_preallocated.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "chachapoly.h"
#include "noise.h"

#define KEY_LEN 32u
#define PUB_LEN 33u
#define NONCE_LEN 12u
#define ACT3_CT_LEN (PUB_LEN + PH_NOISE_MAC_LEN) /* encrypted static key in act 3 */

static const char protocol_name[] = "Noise_XK_secp256k1_ChaChaPoly_SHA256";
static const char prologue[] = "lightning";

/* ---- primitives --------------------------------------------------------- */

/* secp256k1's default callbacks abort(); the library must not, and every call
 * below checks its return value instead. */
static void secp_quiet_callback(const char *msg, void *data)
{
    (void)msg;
    (void)data;
}

struct secp {
    secp256k1_context *ctx;
    void *mem;
};

/* The preallocated API lets an allocation failure come back as an error
 * instead of secp256k1's aborting malloc wrapper. */
static ph_err secp_open(struct secp *s)
{
    size_t size = secp256k1_context_preallocated_size(SECP256K1_CONTEXT_NONE);
    s->mem = malloc(size);
    if (!s->mem)
        return PH_ERR_NOMEM;
    s->ctx = secp256k1_context_preallocated_create(s->mem, SECP256K1_CONTEXT_NONE);
    if (!s->ctx) {
        free(s->mem);
        s->mem = NULL;
        return PH_ERR_NOMEM;
    }
    secp256k1_context_set_illegal_callback(s->ctx, secp_quiet_callback, NULL);
    secp256k1_context_set_error_callback(s->ctx, secp_quiet_callback, NULL);
    /* Blinding protects key generation against side channels. */
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    int ok = secp256k1_context_randomize(s->ctx, seed);
    sodium_memzero(seed, sizeof seed);
    (void)ok; /* an unblinded context is still correct */
    return PH_OK;
}

static void secp_close(struct secp *s)
{
    if (s->ctx)
        secp256k1_context_preallocated_destroy(s->ctx);
    free(s->mem);
    s->ctx = NULL;
    s->mem = NULL;
}

static ph_err derive_pub(const secp256k1_context *ctx, const uint8_t priv[32], uint8_t pub[33])
{
    secp256k1_pubkey pk;
    size_t len = PUB_LEN;
    if (!secp256k1_ec_seckey_verify(ctx, priv) || !secp256k1_ec_pubkey_create(ctx, &pk, priv))
        return PH_ERR_NOISE_BAD_KEY;
    if (!secp256k1_ec_pubkey_serialize(ctx, pub, &len, &pk, SECP256K1_EC_COMPRESSED))
        return PH_ERR_NOISE_BAD_KEY;
    return PH_OK;
}

static bool pub_valid(const secp256k1_context *ctx, const uint8_t pub[33])
{
    secp256k1_pubkey pk;
    return secp256k1_ec_pubkey_parse(ctx, &pk, pub, PUB_LEN) == 1;
}

/* secp256k1's default ECDH hash is SHA-256 of the compressed shared point,
 * exactly BOLT 8's ECDH. */
static ph_err ecdh(const secp256k1_context *ctx, uint8_t out[32], const uint8_t pub[33],
                   const uint8_t priv[32])
{
    secp256k1_pubkey pk;
    if (!secp256k1_ec_pubkey_parse(ctx, &pk, pub, PUB_LEN))
        return PH_ERR_NOISE_BAD_PUBKEY;
    if (!secp256k1_ecdh(ctx, out, &pk, priv, NULL, NULL))
        return PH_ERR_NOISE_BAD_KEY;
    return PH_OK;
}

static void sha256_2(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, a, alen);
    crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

static void mix_hash(uint8_t h[32], const uint8_t *data, size_t len)
{
    sha256_2(h, h, KEY_LEN, data, len);
}

static void hmac(uint8_t out[32], const uint8_t key[32], const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, KEY_LEN);
    crypto_auth_hmacsha256_update(&st, a, alen);
    crypto_auth_hmacsha256_update(&st, b, blen);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* HKDF-SHA256 (RFC 5869) with empty info and 64 bytes of output, split in
 * two; the outputs may alias the inputs (ck, k = HKDF(ck, k)). */
static void hkdf2(uint8_t out1[32], uint8_t out2[32], const uint8_t salt[32],
                  const uint8_t *ikm, size_t ikm_len)
{
    static const uint8_t one = 1, two = 2;
    uint8_t prk[32], t1[32], t2[32];
    hmac(prk, salt, ikm_len ? ikm : &one, ikm_len, &one, 0);
    hmac(t1, prk, &one, 1, &one, 0);
    hmac(t2, prk, t1, sizeof t1, &two, 1);
    memcpy(out1, t1, KEY_LEN);
    memcpy(out2, t2, KEY_LEN);
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(t1, sizeof t1);
    sodium_memzero(t2, sizeof t2);
}

/* BOLT #8: The nonce `sn` is encoded as a 96-bit little-endian number. As the decoded
 * nonce is 64 bits, the 96-bit nonce is encoded as: 32 bits of leading 0s followed by a
 * 64-bit value. */
static void make_nonce(uint8_t npub[NONCE_LEN], uint64_t counter)
{
    memset(npub, 0, 4);
    for (unsigned i = 0; i < 8; i++)
        npub[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* encryptWithAD: ciphertext then 16-byte MAC into `out` (len + 16 bytes). */
static void encrypt_ad(uint8_t *out, const uint8_t key[32], uint64_t n, const uint8_t *ad,
                       size_t ad_len, const uint8_t *pt, size_t len)
{
    static const uint8_t empty = 0;
    uint8_t npub[NONCE_LEN];
    make_nonce(npub, n);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, out + len, NULL, len ? pt : &empty,
                                                       len, ad, ad_len, NULL, npub, key);
}

/* decryptWithAD over `len` + 16 bytes of `in`; the MAC is verified by
 * libsodium in constant time before anything is written to `out`. */
static bool decrypt_ad(uint8_t *out, const uint8_t key[32], uint64_t n, const uint8_t *ad,
                       size_t ad_len, const uint8_t *in, size_t len)
{
    static const uint8_t empty = 0;
    uint8_t scratch;
    uint8_t npub[NONCE_LEN];
    make_nonce(npub, n);
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
               len ? out : &scratch, NULL, len ? in : &empty, len, in + len, ad, ad_len, npub,
               key) == 0;
}

ph_err ph_noise_global_init(void)
{
    return sodium_init() < 0 ? PH_ERR_IO : PH_OK;
}

ph_err ph_noise_pubkey(const uint8_t priv[32], uint8_t pub33[33])
{
    struct secp s;
    if (!priv || !pub33)
        return PH_ERR_ARG;
    ph_err err = secp_open(&s);
    if (err)
        return err;
    err = derive_pub(s.ctx, priv, pub33);
    secp_close(&s);
    return err;
}

/* ---- handshake ---------------------------------------------------------- */

/* Each act is legal for one role at one step; the step advances on success
 * and becomes STEP_FAILED on any error. */
enum hs_step { STEP_ACT1, STEP_ACT2, STEP_ACT3, STEP_DONE, STEP_FAILED };

struct ph_noise_hs {
    struct secp secp;
    bool initiator;
    bool have_rs;
    enum hs_step step;
    uint8_t ls_priv[32], ls_pub[33];
    uint8_t e_priv[32], e_pub[33];
    uint8_t rs_pub[33], re_pub[33];
    uint8_t h[32], ck[32], temp_k[32];
};

/* BOLT #8: For each session, a node MUST generate a new ephemeral key with strong
 * cryptographic randomness. */
static ph_err random_priv(const secp256k1_context *ctx, uint8_t priv[32])
{
    /* A random 32-byte string is a valid key except with probability ~2^-128. */
    for (int tries = 0; tries < 64; tries++) {
        randombytes_buf(priv, KEY_LEN);
        if (secp256k1_ec_seckey_verify(ctx, priv))
            return PH_OK;
    }
    return PH_ERR_NOISE_BAD_KEY;
}

static ph_err hs_init_keys(ph_noise_hs *hs, const uint8_t local_priv[32],
                           const uint8_t *remote_pub33, const uint8_t *ephemeral_priv)
{
    const secp256k1_context *ctx = hs->secp.ctx;
    ph_err err = derive_pub(ctx, local_priv, hs->ls_pub);
    if (err)
        return err;
    memcpy(hs->ls_priv, local_priv, KEY_LEN);
    if (remote_pub33) {
        if (!pub_valid(ctx, remote_pub33))
            return PH_ERR_NOISE_BAD_PUBKEY;
        memcpy(hs->rs_pub, remote_pub33, PUB_LEN);
        hs->have_rs = true;
    }
    if (ephemeral_priv)
        memcpy(hs->e_priv, ephemeral_priv, KEY_LEN);
    else if ((err = random_priv(ctx, hs->e_priv)))
        return err;
    return derive_pub(ctx, hs->e_priv, hs->e_pub);
}

static void hs_init_hash(ph_noise_hs *hs)
{
    crypto_hash_sha256(hs->h, (const uint8_t *)protocol_name, sizeof protocol_name - 1);
    memcpy(hs->ck, hs->h, KEY_LEN);
    mix_hash(hs->h, (const uint8_t *)prologue, sizeof prologue - 1);
    /* Both sides mix in the responder's static key. */
    mix_hash(hs->h, hs->initiator ? hs->rs_pub : hs->ls_pub, PUB_LEN);
}

ph_err ph_noise_hs_create(ph_noise_hs **out, const uint8_t local_priv[32],
                          const uint8_t *remote_pub33, const uint8_t *ephemeral_priv)
{
    if (!out || !local_priv)
        return PH_ERR_ARG;
    *out = NULL;
    ph_noise_hs *hs = calloc(1, sizeof *hs);
    if (!hs)
        return PH_ERR_NOMEM;
    hs->initiator = remote_pub33 != NULL;
    ph_err err = secp_open(&hs->secp);
    if (!err)
        err = hs_init_keys(hs, local_priv, remote_pub33, ephemeral_priv);
    if (err) {
        ph_noise_hs_destroy(hs);
        return err;
    }
    hs_init_hash(hs);
    hs->step = STEP_ACT1;
    *out = hs;
    return PH_OK;
}

void ph_noise_hs_destroy(ph_noise_hs *hs)
{
    if (!hs)
        return;
    secp_close(&hs->secp);
    sodium_memzero(hs, sizeof *hs);
    free(hs);
}

static ph_err hs_expect(const ph_noise_hs *hs, bool initiator, enum hs_step step)
{
    if (!hs)
        return PH_ERR_ARG;
    if (hs->initiator != initiator || hs->step != step)
        return PH_ERR_STATE;
    return PH_OK;
}

/* Once the handshake is over, the ephemeral key and the temporary key have
 * no further use; forgetting them early keeps forward secrecy. */
static void hs_forget(ph_noise_hs *hs)
{
    sodium_memzero(hs->temp_k, sizeof hs->temp_k);
    sodium_memzero(hs->e_priv, sizeof hs->e_priv);
}

static ph_err hs_fail(ph_noise_hs *hs, ph_err err)
{
    hs->step = STEP_FAILED;
    hs_forget(hs);
    return err;
}

/* One DH step: ck, temp_k = HKDF(ck, ECDH(priv, pub)). */
static ph_err mix_dh(ph_noise_hs *hs, const uint8_t priv[32], const uint8_t pub[33])
{
    uint8_t ss[32];
    ph_err err = ecdh(hs->secp.ctx, ss, pub, priv);
    if (!err)
        hkdf2(hs->ck, hs->temp_k, hs->ck, ss, sizeof ss);
    sodium_memzero(ss, sizeof ss);
    return err;
}

/* Acts one and two have the same shape: 0 || e.pub || MAC(empty), with the
 * DH of our ephemeral key and `remote` (rs for act 1, re for act 2). */
static ph_err write_ephemeral_act(ph_noise_hs *hs, uint8_t out[50], const uint8_t remote[33])
{
    mix_hash(hs->h, hs->e_pub, PUB_LEN);
    ph_err err = mix_dh(hs, hs->e_priv, remote);
    if (err)
        return hs_fail(hs, err);
    out[0] = 0;
    memcpy(out + 1, hs->e_pub, PUB_LEN);
    encrypt_ad(out + 1 + PUB_LEN, hs->temp_k, 0, hs->h, KEY_LEN, NULL, 0);
    mix_hash(hs->h, out + 1 + PUB_LEN, PH_NOISE_MAC_LEN);
    hs->step++;
    return PH_OK;
}

static ph_err read_ephemeral_act(ph_noise_hs *hs, const uint8_t *in, size_t in_len,
                                 const uint8_t priv[32])
{
    if (!in || in_len < PH_NOISE_ACT1_LEN)
        return hs_fail(hs, PH_ERR_NOISE_SHORT_READ);
    /* BOLT #8: If `v` is an unrecognized handshake version, then the responder MUST
     * abort the connection attempt. */
    if (in[0] != 0)
        return hs_fail(hs, PH_ERR_NOISE_BAD_VERSION);
    const uint8_t *re = in + 1, *c = in + 1 + PUB_LEN;
    if (!pub_valid(hs->secp.ctx, re))
        return hs_fail(hs, PH_ERR_NOISE_BAD_PUBKEY);
    mix_hash(hs->h, re, PUB_LEN);
    ph_err err = mix_dh(hs, priv, re);
    if (err)
        return hs_fail(hs, err);
    /* Act one (we are the responder), then act two (the initiator):
     *
     * BOLT #8: If the MAC check in this operation fails, then the initiator does _not_
     * know the responder's static public key. If this is the case, then the responder
     * MUST terminate the connection without any further messages.
     *
     * BOLT #8: If the MAC check in this operation fails, then the initiator MUST
     * terminate the connection without any further messages. */
    if (!decrypt_ad(NULL, hs->temp_k, 0, hs->h, KEY_LEN, c, 0))
        return hs_fail(hs, PH_ERR_NOISE_BAD_TAG);
    mix_hash(hs->h, c, PH_NOISE_MAC_LEN);
    memcpy(hs->re_pub, re, PUB_LEN);
    hs->step++;
    return PH_OK;
}

ph_err ph_noise_act1_write(ph_noise_hs *hs, uint8_t out[PH_NOISE_ACT1_LEN])
{
    ph_err err = out ? hs_expect(hs, true, STEP_ACT1) : PH_ERR_ARG;
    return err ? err : write_ephemeral_act(hs, out, hs->rs_pub);
}

ph_err ph_noise_act1_read(ph_noise_hs *hs, const uint8_t *in, size_t in_len)
{
    ph_err err = hs_expect(hs, false, STEP_ACT1);
    return err ? err : read_ephemeral_act(hs, in, in_len, hs->ls_priv);
}

ph_err ph_noise_act2_write(ph_noise_hs *hs, uint8_t out[PH_NOISE_ACT2_LEN])
{
    ph_err err = out ? hs_expect(hs, false, STEP_ACT2) : PH_ERR_ARG;
    return err ? err : write_ephemeral_act(hs, out, hs->re_pub);
}

ph_err ph_noise_act2_read(ph_noise_hs *hs, const uint8_t *in, size_t in_len)
{
    ph_err err = hs_expect(hs, true, STEP_ACT2);
    return err ? err : read_ephemeral_act(hs, in, in_len, hs->e_priv);
}

ph_err ph_noise_act3_write(ph_noise_hs *hs, uint8_t out[PH_NOISE_ACT3_LEN])
{
    ph_err err = out ? hs_expect(hs, true, STEP_ACT3) : PH_ERR_ARG;
    if (err)
        return err;
    uint8_t *c = out + 1, *t = out + 1 + ACT3_CT_LEN;
    out[0] = 0;
    encrypt_ad(c, hs->temp_k, 1, hs->h, KEY_LEN, hs->ls_pub, PUB_LEN);
    mix_hash(hs->h, c, ACT3_CT_LEN);
    if ((err = mix_dh(hs, hs->ls_priv, hs->re_pub)))
        return hs_fail(hs, err);
    encrypt_ad(t, hs->temp_k, 0, hs->h, KEY_LEN, NULL, 0);
    hs_forget(hs);
    hs->step = STEP_DONE;
    return PH_OK;
}

ph_err ph_noise_act3_read(ph_noise_hs *hs, const uint8_t *in, size_t in_len)
{
    ph_err err = hs_expect(hs, false, STEP_ACT3);
    if (err)
        return err;
    if (!in || in_len < PH_NOISE_ACT3_LEN)
        return hs_fail(hs, PH_ERR_NOISE_SHORT_READ);
    /* BOLT #8: If `v` is an unrecognized handshake version, then the responder MUST
     * abort the connection attempt. */
    if (in[0] != 0)
        return hs_fail(hs, PH_ERR_NOISE_BAD_VERSION);
    const uint8_t *c = in + 1, *t = in + 1 + ACT3_CT_LEN;
    uint8_t rs[PUB_LEN];
    /* BOLT #8: At this point, the responder has recovered the static public key of the
     * initiator.
     *
     * BOLT #8: If the MAC check in this operation fails, then the responder MUST
     * terminate the connection without any further messages. */
    if (!decrypt_ad(rs, hs->temp_k, 1, hs->h, KEY_LEN, c, PUB_LEN))
        return hs_fail(hs, PH_ERR_NOISE_BAD_TAG);
    mix_hash(hs->h, c, ACT3_CT_LEN);
    if (!pub_valid(hs->secp.ctx, rs))
        return hs_fail(hs, PH_ERR_NOISE_BAD_PUBKEY);
    if ((err = mix_dh(hs, hs->e_priv, rs)))
        return hs_fail(hs, err);
    /* BOLT #8: If the MAC check in this operation fails, then the responder MUST
     * terminate the connection without any further messages. */
    if (!decrypt_ad(NULL, hs->temp_k, 0, hs->h, KEY_LEN, t, 0))
        return hs_fail(hs, PH_ERR_NOISE_BAD_TAG);
    hs_forget(hs);
    memcpy(hs->rs_pub, rs, PUB_LEN);
    hs->have_rs = true;
    hs->step = STEP_DONE;
    return PH_OK;
}

ph_err ph_noise_hs_remote_pubkey(const ph_noise_hs *hs, uint8_t pub33[33])
{
    if (!hs || !pub33)
        return PH_ERR_ARG;
    if (!hs->have_rs)
        return PH_ERR_STATE;
    memcpy(pub33, hs->rs_pub, PUB_LEN);
    return PH_OK;
}

void ph_noise_hs_debug_state(const ph_noise_hs *hs, uint8_t h[32], uint8_t ck[32])
{
    memcpy(h, hs->h, KEY_LEN);
    memcpy(ck, hs->ck, KEY_LEN);
}

ph_err ph_noise_hs_finish(ph_noise_hs *hs, ph_noise **out)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    if (!hs || hs->step != STEP_DONE)
        return PH_ERR_STATE;
    uint8_t k1[32], k2[32];
    hkdf2(k1, k2, hs->ck, NULL, 0);
    /* The initiator sends with the first key, the responder with the second;
     * both directions start from the handshake's final ck.
     *
     * BOLT #8: The sending and receiving chaining keys are initialized the
     * same. */
    ph_err err = hs->initiator ? ph_noise_create_from_keys(out, k1, hs->ck, k2, hs->ck)
                               : ph_noise_create_from_keys(out, k2, hs->ck, k1, hs->ck);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    return err;
}

/* ---- transport ---------------------------------------------------------- */

/* Sizes are tight: every connected peer holds one of these. A nonce never
 * passes 1000 (rotation), a frame's body is at most 65,535 + 16 bytes. */
struct cipher {
    uint8_t key[32];
    uint8_t ck[32];
    uint16_t nonce;
    bool have_key;
    bool have_ck;
    bool announced; /* key callback already fired for this key */
};

struct ph_noise {
    struct cipher tx, rx;
    ph_noise_key_cb key_cb;
    void *key_cb_ctx;
    uint8_t *body;     /* body + MAC of the current frame, or the last message;
                          reused frame after frame until ph_noise_rx_release */
    uint32_t body_cap;
    uint32_t body_len; /* plaintext length of that frame */
    uint32_t body_have;
    /* receive side: a frame being assembled */
    uint8_t hdr[PH_NOISE_HDR_LEN];
    uint8_t hdr_have;
    bool in_body;      /* header decrypted, collecting body + MAC */
    bool failed;       /* a MAC failed: the stream is unusable */
    uint8_t impl;      /* ph_chachapoly_impl: the frames' cipher code */
};

static void cipher_set(struct cipher *c, const uint8_t *key, const uint8_t *ck)
{
    sodium_memzero(c, sizeof *c);
    if (!key)
        return;
    memcpy(c->key, key, KEY_LEN);
    c->have_key = true;
    if (ck) {
        memcpy(c->ck, ck, KEY_LEN);
        c->have_ck = true;
    }
}

/* Called after each use of the key. Nonces advance by two per frame and
 * rotation happens at an even value, so it always falls between frames. */
static void cipher_advance(struct cipher *c)
{
    c->nonce++;
    /* BOLT #8: This can be properly accounted for by rotating the key once the nonce
     * dedicated to it reaches 1000. */
    if (c->nonce < PH_NOISE_ROTATE_AT)
        return;
    if (!c->have_ck) {
        /* Decrypt-only: the caller supplies the next key from a key log. */
        sodium_memzero(c->key, sizeof c->key);
        c->have_key = false;
        return;
    }
    hkdf2(c->ck, c->key, c->ck, c->key, KEY_LEN);
    /* BOLT #8: Reset the nonce for the key to `n = 0`. */
    c->nonce = 0;
    c->announced = false;
}

static void announce(ph_noise *n, struct cipher *c, const uint8_t mac[16])
{
    if (c->announced)
        return;
    c->announced = true;
    if (n->key_cb)
        n->key_cb(n->key_cb_ctx, mac, c->key);
}

ph_err ph_noise_create_from_keys(ph_noise **out, const uint8_t *send_key, const uint8_t *send_ck,
                                 const uint8_t *recv_key, const uint8_t *recv_ck)
{
    if (!out)
        return PH_ERR_ARG;
    ph_noise *n = calloc(1, sizeof *n);
    *out = n;
    if (!n)
        return PH_ERR_NOMEM;
    cipher_set(&n->tx, send_key, send_ck);
    cipher_set(&n->rx, recv_key, recv_ck);
    n->impl = (uint8_t)ph_chachapoly_best();
    return PH_OK;
}

ph_err ph_noise_set_impl(ph_noise *n, ph_chachapoly_impl impl)
{
    if (!n || !ph_chachapoly_supported(impl))
        return PH_ERR_ARG;
    n->impl = (uint8_t)impl;
    return PH_OK;
}

ph_chachapoly_impl ph_noise_impl(const ph_noise *n)
{
    return (ph_chachapoly_impl)n->impl;
}

void ph_noise_destroy(ph_noise *n)
{
    if (!n)
        return;
    free(n->body);
    sodium_memzero(n, sizeof *n);
    free(n);
}

void ph_noise_set_key_cb(ph_noise *n, ph_noise_key_cb cb, void *ctx)
{
    n->key_cb = cb;
    n->key_cb_ctx = ctx;
}

ph_err ph_noise_set_recv_key(ph_noise *n, const uint8_t key[32])
{
    if (!n || !key)
        return PH_ERR_ARG;
    cipher_set(&n->rx, key, NULL);
    return PH_OK;
}

ph_err ph_noise_set_send_key(ph_noise *n, const uint8_t key[32])
{
    if (!n || !key)
        return PH_ERR_ARG;
    cipher_set(&n->tx, key, NULL);
    return PH_OK;
}

uint64_t ph_noise_send_nonce(const ph_noise *n)
{
    return n->tx.nonce;
}

uint64_t ph_noise_recv_nonce(const ph_noise *n)
{
    return n->rx.nonce;
}

/* Encrypt `len` bytes of `msg` into `body` (which may be `msg`). The
 * header's nonce is even and rotation happens at an even value, so both
 * halves of a frame are under one key. */
static ph_err seal(ph_noise *n, uint8_t hdr[PH_NOISE_HDR_LEN], const uint8_t *msg, uint8_t *body,
                   size_t len, uint8_t mac[PH_NOISE_MAC_LEN])
{
    if (!n || !hdr || !mac || (len && (!msg || !body)))
        return PH_ERR_ARG;
    /* BOLT #8: The *maximum* size of _any_ Lightning message MUST NOT exceed `65535`
     * bytes. */
    if (len > PH_NOISE_MAX_MSG)
        return PH_ERR_NOISE_TOO_LONG;
    struct cipher *c = &n->tx;
    if (!c->have_key)
        return PH_ERR_NOISE_NEED_KEY;
    if (len && body != msg)
        memcpy(body, msg, len);
    ph_err err = ph_chachapoly_seal((ph_chachapoly_impl)n->impl, c->key, c->nonce, hdr, body, len, mac);
    if (err)
        return err;
    announce(n, c, hdr + 2);
    /* BOLT #8: The nonce `sn` MUST be incremented after this step. */
    cipher_advance(c);
    cipher_advance(c);
    return PH_OK;
}

/* Frames sealed per call of ph_chachapoly_seal_many (a queue's batch). */
#define MANY_CHUNK 64u

/* Frames left under the current key: rotation comes at nonce 1000. */
static size_t frames_before_rotation(const struct cipher *c)
{
    return c->nonce >= PH_NOISE_ROTATE_AT ? 1 : (PH_NOISE_ROTATE_AT - c->nonce + 1) / 2;
}

ph_err ph_noise_encrypt_many(ph_noise *n, const ph_noise_frame *frames, size_t count)
{
    if (!n || (count && !frames))
        return PH_ERR_ARG;
    for (size_t i = 0; i < count; i++) {
        const ph_noise_frame *f = &frames[i];
        if (!f->hdr || !f->mac || (f->len && !f->body))
            return PH_ERR_ARG;
        if (f->len > PH_NOISE_MAX_MSG)
            return PH_ERR_NOISE_TOO_LONG;
    }
    struct cipher *c = &n->tx;
    for (size_t i = 0; i < count;) {
        if (!c->have_key)
            return PH_ERR_NOISE_NEED_KEY;
        ph_chachapoly_job jobs[MANY_CHUNK];
        size_t k = 0, left = frames_before_rotation(c);
        for (; k < MANY_CHUNK && k < left && i + k < count; k++) {
            const ph_noise_frame *f = &frames[i + k];
            jobs[k] = (ph_chachapoly_job){.nonce = (uint64_t)c->nonce + 2 * k, .hdr = f->hdr,
                                          .body = f->body, .len = f->len, .mac = f->mac};
        }
        ph_err err = ph_chachapoly_seal_many((ph_chachapoly_impl)n->impl, c->key, jobs, k);
        if (err)
            return err;
        announce(n, c, frames[i].hdr + 2);
        for (size_t j = 0; j < 2 * k; j++)
            cipher_advance(c);
        i += k;
    }
    return PH_OK;
}

ph_err ph_noise_encrypt_detached(ph_noise *n, uint8_t hdr[PH_NOISE_HDR_LEN], uint8_t *body,
                                 size_t len, uint8_t mac[PH_NOISE_MAC_LEN])
{
    return seal(n, hdr, body, body, len, mac);
}

ph_err ph_noise_encrypt(ph_noise *n, const uint8_t *msg, size_t len, uint8_t *out)
{
    if (!out)
        return PH_ERR_ARG;
    if (len > PH_NOISE_MAX_MSG)
        return PH_ERR_NOISE_TOO_LONG;
    return seal(n, out, msg, out + PH_NOISE_HDR_LEN, len, out + PH_NOISE_HDR_LEN + len);
}

static size_t take(uint8_t *dst, size_t want, const uint8_t *in, size_t in_len, size_t *used)
{
    size_t avail = in_len - *used;
    size_t k = want < avail ? want : avail;
    if (k)
        memcpy(dst, in + *used, k);
    *used += k;
    return k;
}

static ph_err rx_fail(ph_noise *n)
{
    n->failed = true;
    free(n->body);
    n->body = NULL;
    n->body_cap = 0;
    return PH_ERR_NOISE_BAD_MAC;
}

#define RX_STEP 256u

/* A complete header is in n->hdr: check it and make room for the body. An
 * allocation failure leaves the header buffered and the nonce untouched, so
 * the next call retries. `ks` gets the body's keystream when the cipher
 * computed it on the way. */
static ph_err open_header(ph_noise *n, ph_chachapoly_ks *ks)
{
    struct cipher *c = &n->rx;
    size_t len = 0;
    ph_err err = ph_chachapoly_open_header((ph_chachapoly_impl)n->impl, c->key, c->nonce, n->hdr, &len, ks);
    if (err == PH_ERR_NOISE_BAD_MAC)
        return rx_fail(n);
    if (err)
        return err;
    if (len + PH_NOISE_MAC_LEN > n->body_cap) {
        /* Grown in steps, so that a stream of slightly longer messages
         * does not reallocate each time. */
        size_t cap = (len + PH_NOISE_MAC_LEN + RX_STEP - 1) / RX_STEP * RX_STEP;
        uint8_t *b = malloc(cap);
        if (!b)
            return PH_ERR_NOMEM;
        free(n->body);
        n->body = b;
        n->body_cap = (uint32_t)cap;
    }
    announce(n, c, n->hdr + 2);
    /* BOLT #8: The nonce `rn` MUST be incremented after this step. */
    cipher_advance(c);
    n->body_len = (uint32_t)len;
    n->body_have = 0;
    n->in_body = true;
    return PH_OK;
}

/* The body and MAC of the current frame are `ct`: check and decrypt them
 * into n->body and hand the message out. */
static ph_err open_body(ph_noise *n, const uint8_t *ct, const ph_chachapoly_ks *ks,
                        const uint8_t **msg, size_t *msg_len)
{
    struct cipher *c = &n->rx;
    ph_err err = ph_chachapoly_open_body((ph_chachapoly_impl)n->impl, c->key, c->nonce, ct, n->body_len,
                                         ct + n->body_len, n->body, ks);
    if (err == PH_ERR_NOISE_BAD_MAC)
        return rx_fail(n);
    if (err)
        return err;
    cipher_advance(c);
    n->in_body = false;
    n->hdr_have = 0;
    *msg = n->body;
    *msg_len = n->body_len;
    return PH_OK;
}

/* Start of a frame: the header, and when the whole frame is already in
 * `in`, its body too, straight from `in` (no copy, and the keystream the
 * header's open computed for the body is used). */
static ph_err feed_header(ph_noise *n, const uint8_t *in, size_t in_len, size_t *used,
                          const uint8_t **msg, size_t *msg_len, size_t *need)
{
    n->hdr_have = (uint8_t)(n->hdr_have +
                            take(n->hdr + n->hdr_have, PH_NOISE_HDR_LEN - n->hdr_have, in, in_len,
                                 used));
    if (n->hdr_have < PH_NOISE_HDR_LEN) {
        *need = PH_NOISE_HDR_LEN - n->hdr_have;
        return PH_OK;
    }
    ph_chachapoly_ks ks;
    ph_err err = open_header(n, &ks);
    if (!err && in_len - *used >= n->body_len + PH_NOISE_MAC_LEN) {
        const uint8_t *ct = in + *used;
        *used += n->body_len + PH_NOISE_MAC_LEN;
        err = open_body(n, ct, &ks, msg, msg_len);
    }
    ph_chachapoly_ks_wipe(&ks);
    return err;
}

ph_err ph_noise_decrypt_feed(ph_noise *n, const uint8_t *in, size_t in_len, size_t *used,
                             const uint8_t **msg, size_t *msg_len, size_t *need)
{
    if (!n || !used || !msg || !msg_len || !need || (in_len && !in))
        return PH_ERR_ARG;
    *used = 0;
    *msg = NULL;
    *msg_len = 0;
    *need = 0;
    if (n->failed)
        return PH_ERR_NOISE_BAD_MAC;
    if (!n->in_body) {
        if (!n->rx.have_key)
            return PH_ERR_NOISE_NEED_KEY;
        ph_err err = feed_header(n, in, in_len, used, msg, msg_len, need);
        if (err || *msg || *need)
            return err;
    }
    size_t frame = n->body_len + PH_NOISE_MAC_LEN;
    n->body_have += (uint32_t)take(n->body + n->body_have, frame - n->body_have, in, in_len, used);
    if (n->body_have < frame) {
        *need = frame - n->body_have;
        return PH_OK;
    }
    return open_body(n, n->body, NULL, msg, msg_len);
}

void ph_noise_rx_release(ph_noise *n)
{
    if (!n || n->in_body)
        return;
    free(n->body);
    n->body = NULL;
    n->body_cap = 0;
}

bool ph_noise_recv_body_failed(const ph_noise *n, size_t *body_len)
{
    if (!n || !n->failed || !n->in_body)
        return false;
    if (body_len)
        *body_len = n->body_len;
    return true;
}

ph_err ph_noise_recv_skip_frame(ph_noise *n)
{
    if (!ph_noise_recv_body_failed(n, NULL))
        return PH_ERR_STATE;
    cipher_advance(&n->rx);
    n->failed = false;
    n->in_body = false;
    n->hdr_have = 0;
    return PH_OK;
}

bool ph_noise_header_repairable(const uint8_t key[32], uint64_t nonce,
                                const uint8_t hdr[PH_NOISE_HDR_LEN], size_t *len)
{
    if (!key || !hdr)
        return false;
    uint8_t npub[NONCE_LEN], polykey[32];
    make_nonce(npub, nonce);
    /* The AEAD's one-time Poly1305 key is the same for every candidate;
     * only the padded ciphertext block changes. */
    crypto_stream_chacha20_ietf(polykey, sizeof polykey, npub, key);
    uint8_t msg[32] = {0}, tag[16];
    msg[24] = 2; /* ciphertext length, little-endian, after an empty AD */
    bool found = false;
    for (unsigned v = 0; v < 65536 && !found; v++) {
        msg[0] = (uint8_t)(v >> 8);
        msg[1] = (uint8_t)v;
        if ((v >> 8) == hdr[0] && (v & 0xff) == hdr[1])
            continue; /* the value that failed */
        crypto_onetimeauth_poly1305(tag, msg, sizeof msg, polykey);
        found = sodium_memcmp(tag, hdr + 2, sizeof tag) == 0;
    }
    if (found && len) {
        uint8_t l[2];
        crypto_stream_chacha20_ietf_xor_ic(l, msg, 2, npub, 1, key);
        *len = ph_be16(l);
    }
    sodium_memzero(polykey, sizeof polykey);
    return found;
}

size_t ph_noise_rx_buffered(const ph_noise *n)
{
    if (!n)
        return 0;
    return n->hdr_have + (n->body ? n->body_cap : 0);
}

bool ph_noise_rx_in_frame(const ph_noise *n)
{
    return n && (n->in_body || n->hdr_have > 0);
}
