/* BOLT 8 transport: the official vectors (every intermediate value of the
 * traces, recomputed here with libsodium and libsecp256k1 directly), the
 * message-encryption vectors with both rotations, and a long session between
 * an in-process initiator and responder over a socketpair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hex.h"
#include "json.h"
#include "vecjson.h"
#include "noise.h"

#define VECTORS "tests/vectors/bolt8.json"

/* ---- small helpers ------------------------------------------------------ */

static const char *jstr(const ph_vjson *obj, const char *key)
{
    const char *s = ph_vjson_str(ph_vjson_get(obj, key), NULL);
    assert_non_null(s);
    return s;
}

static void hexget(const ph_vjson *obj, const char *key, uint8_t *out, size_t n)
{
    assert_int_equal(ph_hex_decode_fixed(jstr(obj, key), out, n), PH_OK);
}

static uint8_t *hexdup(const ph_vjson *obj, const char *key, size_t *len)
{
    const char *s = jstr(obj, key);
    uint8_t *b = NULL;
    assert_int_equal(ph_hex_decode(s, strlen(s), &b, len), PH_OK);
    return b;
}

static void assert_hex(const ph_vjson *obj, const char *key, const uint8_t *have, size_t n)
{
    uint8_t *want;
    size_t len;
    want = hexdup(obj, key, &len);
    assert_int_equal(len, n);
    assert_memory_equal(want, have, n);
    free(want);
}

/* Deterministic test randomness (splitmix64). */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s)
{
    *s += 1;
    return mix64(*s);
}

static int group_setup(void **state)
{
    if (ph_noise_global_init() != PH_OK)
        return -1;
    ph_vjson *j = NULL;
    if (ph_vjson_parse_file(&j, VECTORS, NULL) != PH_OK)
        return -1;
    *state = j;
    return 0;
}

static int group_teardown(void **state)
{
    ph_vjson_free(*state);
    return 0;
}

/* ---- reference computations for the traces ------------------------------ */

static void ref_hkdf(uint8_t o1[32], uint8_t o2[32], const uint8_t salt[32], const uint8_t *ikm,
                     size_t ikm_len)
{
    uint8_t prk[32], buf[33];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, salt, 32);
    crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    buf[0] = 1;
    crypto_auth_hmacsha256(o1, buf, 1, prk);
    memcpy(buf, o1, 32);
    buf[32] = 2;
    crypto_auth_hmacsha256(o2, buf, 33, prk);
}

static void ref_nonce(uint8_t n[12], uint64_t c)
{
    memset(n, 0, 12);
    for (int i = 0; i < 8; i++)
        n[4 + i] = (uint8_t)(c >> (8 * i));
}

static void ref_ecdh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[33])
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    secp256k1_pubkey pk;
    assert_true(secp256k1_ec_pubkey_parse(ctx, &pk, pub, 33));
    assert_true(secp256k1_ecdh(ctx, out, &pk, priv, NULL, NULL));
    secp256k1_context_destroy(ctx);
}

static void ref_sha2(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, a, alen);
    crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
}

/* What the reference knows while walking one handshake's trace. */
struct model {
    bool initiator;
    uint8_t ls_priv[32], e_priv[32], e_pub[33], rs_pub[33], re_pub[33];
    uint8_t h[32], ck[32], tk[32];
    uint8_t ss[32], hk1[32], hk2[32];
    uint8_t pending[64]; /* bytes the next 'h' mixes in */
    size_t pending_len;
    uint8_t last_ct[64], last_pt[64];
    size_t last_ct_len;
    int cipher_ops; /* encrypt/decrypt steps so far in this act */
    bool final_done;
};

static void model_init(struct model *m, const uint8_t responder_pub[33])
{
    static const char name[] = "Noise_XK_secp256k1_ChaChaPoly_SHA256";
    crypto_hash_sha256(m->h, (const uint8_t *)name, sizeof name - 1);
    memcpy(m->ck, m->h, 32);
    ref_sha2(m->h, m->h, 32, (const uint8_t *)"lightning", 9);
    ref_sha2(m->h, m->h, 32, responder_pub, 33);
}

/* The DH of each act, by role: BOLT 8 es, ee, se. */
static void model_ecdh(struct model *m, int act, uint8_t out[32])
{
    if (act == 1)
        ref_ecdh(out, m->initiator ? m->e_priv : m->ls_priv, m->initiator ? m->rs_pub : m->re_pub);
    else if (act == 2)
        ref_ecdh(out, m->e_priv, m->re_pub);
    else
        ref_ecdh(out, m->initiator ? m->ls_priv : m->e_priv, m->initiator ? m->re_pub : m->rs_pub);
}

/* Where an act's n-th cipher output sits in the act's bytes. */
static size_t act_ct_offset(int act, int op)
{
    return act < 3 ? 34 : (op == 0 ? 1 : 50);
}

static void walk_cipher(struct model *m, const ph_vjson *e, int act, const uint8_t *bytes,
                        bool encrypt)
{
    uint8_t nonce[12];
    /* Act three's first operation (the static key) is the only nonce 1. */
    ref_nonce(nonce, act == 3 && m->cipher_ops == 0 ? 1 : 0);
    assert_hex(e, "key", m->tk, 32);
    assert_hex(e, "nonce", nonce, 12);
    assert_hex(e, "ad", m->h, 32);
    size_t len;
    if (encrypt) {
        uint8_t *pt = hexdup(e, "plaintext", &len);
        assert_true(len <= 33);
        unsigned long long clen;
        crypto_aead_chacha20poly1305_ietf_encrypt(m->last_ct, &clen, pt, len, m->h, 32, NULL,
                                                  nonce, m->tk);
        m->last_ct_len = (size_t)clen;
        free(pt);
    } else {
        uint8_t *ct = hexdup(e, "ciphertext", &len);
        assert_true(len >= 16 && len <= 49);
        unsigned long long plen;
        assert_int_equal(crypto_aead_chacha20poly1305_ietf_decrypt(m->last_pt, &plen, NULL, ct,
                                                                   len, m->h, 32, nonce, m->tk),
                         0);
        memcpy(m->last_ct, ct, len);
        m->last_ct_len = len;
        free(ct);
    }
    assert_memory_equal(bytes + act_ct_offset(act, m->cipher_ops), m->last_ct, m->last_ct_len);
    memcpy(m->pending, m->last_ct, m->last_ct_len);
    m->pending_len = m->last_ct_len;
    m->cipher_ops++;
}

static void walk_hkdf(struct model *m, const ph_vjson *e, const ph_vjson *test)
{
    assert_hex(e, "salt", m->ck, 32);
    bool zero = false;
    (void)ph_vjson_bool(ph_vjson_get(e, "ikm_is_zero_length"), &zero);
    if (!zero) {
        assert_hex(e, "ikm", m->ss, 32);
        ref_hkdf(m->hk1, m->hk2, m->ck, m->ss, 32);
        return;
    }
    /* The split: sk, rk for the initiator; rk, sk for the responder. */
    assert_string_equal(jstr(e, "ikm"), "");
    ref_hkdf(m->hk1, m->hk2, m->ck, m->ss, 0);
    const ph_vjson *fk = ph_vjson_get(test, "final_keys");
    assert_hex(fk, m->initiator ? "sk" : "rk", m->hk1, 32);
    assert_hex(fk, m->initiator ? "rk" : "sk", m->hk2, 32);
    m->final_done = true;
}

/* Check every trace line of one act against the reference, then the
 * library's h and ck against the reference's. */
static void walk_act(struct model *m, const ph_vjson *test, int act, const uint8_t *bytes,
                     const ph_noise_hs *hs)
{
    char name[8];
    snprintf(name, sizeof name, "act%d", act);
    const ph_vjson *trace = ph_vjson_get(ph_vjson_get(ph_vjson_get(test, "acts"), name), "trace");
    assert_non_null(trace);
    if (act < 3) { /* acts one and two start by mixing in the sender's ephemeral key */
        memcpy(m->pending, bytes + 1, 33);
        m->pending_len = 33;
        bool we_read = m->initiator ? act == 2 : act == 1;
        if (we_read) /* the remote's ephemeral key */
            memcpy(m->re_pub, bytes + 1, 33);
    }
    m->cipher_ops = 0;
    size_t checked = 0;
    for (size_t i = 0; i < ph_vjson_len(trace); i++) {
        const ph_vjson *e = ph_vjson_at(trace, i);
        const char *op = jstr(e, "op");
        if (!strcmp(op, "h")) {
            assert_true(m->pending_len > 0);
            ref_sha2(m->h, m->h, 32, m->pending, m->pending_len);
            m->pending_len = 0;
            assert_hex(e, "value", m->h, 32);
        } else if (!strcmp(op, "e")) {
            assert_hex(e, "e.priv", m->e_priv, 32);
            assert_hex(e, "e.pub", m->e_pub, 33);
        } else if (!strcmp(op, "re")) {
            assert_hex(e, "value", m->re_pub, 33);
        } else if (!strcmp(op, "rs")) {
            memcpy(m->rs_pub, m->last_pt, 33);
            assert_hex(e, "value", m->rs_pub, 33);
        } else if (!strcmp(op, "ss")) {
            model_ecdh(m, act, m->ss);
            assert_hex(e, "value", m->ss, 32);
        } else if (!strcmp(op, "HKDF")) {
            walk_hkdf(m, e, test);
        } else if (!strncmp(op, "ck,temp_k", 9)) {
            assert_hex(e, "ck", m->hk1, 32);
            assert_hex(e, strchr(op, ',') + 1, m->hk2, 32);
            memcpy(m->ck, m->hk1, 32);
            memcpy(m->tk, m->hk2, 32);
        } else if (!strcmp(op, "encryptWithAD") || !strcmp(op, "decryptWithAD")) {
            walk_cipher(m, e, act, bytes, op[0] == 'e');
        } else if (!strcmp(op, "c") || !strcmp(op, "t")) {
            assert_hex(e, "value", m->last_ct, m->last_ct_len);
        } else {
            fail_msg("unknown trace op %s", op);
        }
        checked++;
    }
    assert_true(checked > 0);
    uint8_t h[32], ck[32];
    ph_noise_hs_debug_state(hs, h, ck);
    assert_memory_equal(h, m->h, 32);
    assert_memory_equal(ck, m->ck, 32);
}

/* ---- handshake vectors -------------------------------------------------- */

static ph_err map_error(const char *name)
{
    static const struct {
        const char *suffix;
        ph_err err;
    } map[] = {
        {"READ_FAILED", PH_ERR_NOISE_SHORT_READ},   {"BAD_VERSION", PH_ERR_NOISE_BAD_VERSION},
        {"BAD_PUBKEY", PH_ERR_NOISE_BAD_PUBKEY},    {"BAD_TAG", PH_ERR_NOISE_BAD_TAG},
        {"BAD_CIPHERTEXT", PH_ERR_NOISE_BAD_TAG},
    };
    assert_true(strlen(name) > 5 && !strncmp(name, "ACT", 3) && name[4] == '_');
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(name + 5, map[i].suffix))
            return map[i].err;
    fail_msg("unmapped error %s", name);
    return PH_OK;
}

/* The act (1..3) at which the test expects an error, and the error. */
static int expected_failure(const ph_vjson *t, ph_err *err)
{
    const ph_vjson *e = ph_vjson_get(t, "expected_error");
    if (ph_vjson_is_null(e))
        return 0;
    const char *name = ph_vjson_str(e, NULL);
    assert_non_null(name);
    *err = map_error(name);
    const char *act = jstr(t, "failing_act");
    assert_true(!strncmp(act, "act", 3) && act[3] >= '1' && act[3] <= '3');
    assert_int_equal(act[3] - '0', name[3] - '0');
    return act[3] - '0';
}

static const uint8_t *act_bytes(const ph_vjson *t, int act, const char *key, size_t *len,
                                uint8_t **owned)
{
    char name[8];
    snprintf(name, sizeof name, "act%d", act);
    *owned = hexdup(ph_vjson_get(ph_vjson_get(t, "acts"), name), key, len);
    return *owned;
}

static void key_capture(void *ctx, const uint8_t mac[16], const uint8_t key[32])
{
    uint8_t *slot = ctx; /* [0]: count, then mac + key of the last call */
    slot[0]++;
    memcpy(slot + 1, mac, 16);
    memcpy(slot + 17, key, 32);
}

/* The transport's keys are only observable through the key callback: encrypt
 * one message (send key) and decrypt one made with the vector's receive key. */
static void check_transport_keys(ph_noise *n, const ph_vjson *fk, const uint8_t ck[32])
{
    uint8_t sk[32], rk[32], slot[49] = {0}, frame[5 + 34];
    hexget(fk, "sk", sk, 32);
    hexget(fk, "rk", rk, 32);
    ph_noise_set_key_cb(n, key_capture, slot);
    assert_int_equal(ph_noise_encrypt(n, (const uint8_t *)"hello", 5, frame), PH_OK);
    assert_int_equal(slot[0], 1);
    assert_memory_equal(slot + 17, sk, 32);
    assert_memory_equal(slot + 1, frame + 2, 16);

    ph_noise *peer;
    assert_int_equal(ph_noise_create_from_keys(&peer, rk, ck, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_encrypt(peer, (const uint8_t *)"hello", 5, frame), PH_OK);
    size_t used, mlen, need;
    const uint8_t *msg;
    assert_int_equal(ph_noise_decrypt_feed(n, frame, sizeof frame, &used, &msg, &mlen, &need),
                     PH_OK);
    assert_int_equal(used, sizeof frame);
    assert_non_null(msg);
    assert_int_equal(mlen, 5);
    assert_memory_equal(msg, "hello", 5);
    assert_int_equal(slot[0], 2);
    assert_memory_equal(slot + 17, rk, 32);
    ph_noise_destroy(peer);
}

/* Runs one handshake vector test: outputs, errors and (where given) the trace. */
static void run_handshake_vector(const ph_vjson *t, bool initiator)
{
    const ph_vjson *keys = ph_vjson_get(t, "keys");
    const char *tname = jstr(t, "name");
    ph_err want_err = PH_OK;
    int fail_act = expected_failure(t, &want_err);
    /* "act3 bad rs": its trace does not match its input (see the README). */
    bool trace = strstr(tname, "bad rs") == NULL;

    struct model m;
    memset(&m, 0, sizeof m);
    m.initiator = initiator;
    uint8_t ls_pub[33], pub[33];
    hexget(keys, "ls.priv", m.ls_priv, 32);
    hexget(keys, "ls.pub", ls_pub, 33);
    hexget(keys, "e.priv", m.e_priv, 32);
    hexget(keys, "e.pub", m.e_pub, 33);
    assert_int_equal(ph_noise_pubkey(m.ls_priv, pub), PH_OK);
    assert_memory_equal(pub, ls_pub, 33);
    assert_int_equal(ph_noise_pubkey(m.e_priv, pub), PH_OK);
    assert_memory_equal(pub, m.e_pub, 33);
    if (initiator)
        hexget(keys, "rs.pub", m.rs_pub, 33);
    model_init(&m, initiator ? m.rs_pub : ls_pub);

    ph_noise_hs *hs;
    assert_int_equal(ph_noise_hs_create(&hs, m.ls_priv, initiator ? m.rs_pub : NULL, m.e_priv),
                     PH_OK);
    uint8_t h[32], ck[32];
    ph_noise_hs_debug_state(hs, h, ck);
    assert_memory_equal(h, m.h, 32);
    assert_memory_equal(ck, m.ck, 32);

    for (int act = 1; act <= 3; act++) {
        bool we_write = (act == 2) != initiator;
        size_t len;
        uint8_t *owned;
        const uint8_t *bytes = act_bytes(t, act, we_write ? "output" : "input", &len, &owned);
        ph_err err;
        if (we_write) {
            uint8_t out[PH_NOISE_ACT3_LEN];
            err = act == 1 ? ph_noise_act1_write(hs, out)
                : act == 2 ? ph_noise_act2_write(hs, out)
                           : ph_noise_act3_write(hs, out);
            assert_int_equal(err, PH_OK);
            assert_int_equal(len, act == 3 ? PH_NOISE_ACT3_LEN : PH_NOISE_ACT1_LEN);
            assert_memory_equal(out, bytes, len);
        } else {
            err = act == 1 ? ph_noise_act1_read(hs, bytes, len)
                : act == 2 ? ph_noise_act2_read(hs, bytes, len)
                           : ph_noise_act3_read(hs, bytes, len);
            if (act == fail_act) {
                assert_int_equal(err, want_err);
                free(owned);
                /* A failed handshake accepts nothing more. */
                assert_int_not_equal(ph_noise_hs_finish(hs, &(ph_noise *){NULL}), PH_OK);
                ph_noise_hs_destroy(hs);
                return;
            }
            assert_int_equal(err, PH_OK);
        }
        if (trace && ph_vjson_len(ph_vjson_path(t, act == 1   ? "acts.act1.trace"
                                                 : act == 2 ? "acts.act2.trace"
                                                            : "acts.act3.trace")) > 0)
            walk_act(&m, t, act, bytes, hs);
        free(owned);
    }
    assert_int_equal(fail_act, 0);
    assert_true(m.final_done);

    uint8_t rpub[33];
    assert_int_equal(ph_noise_hs_remote_pubkey(hs, rpub), PH_OK);
    /* the responder's m.rs_pub came from act three's trace */
    assert_memory_equal(rpub, m.rs_pub, 33);

    ph_noise *n;
    assert_int_equal(ph_noise_hs_finish(hs, &n), PH_OK);
    ph_noise_hs_debug_state(hs, h, ck);
    check_transport_keys(n, ph_vjson_get(t, "final_keys"), ck);
    ph_noise_destroy(n);
    ph_noise_hs_destroy(hs);
}

static void test_initiator_vectors(void **state)
{
    const ph_vjson *tests = ph_vjson_get(*state, "initiator_tests");
    assert_int_equal(ph_vjson_len(tests), 5);
    for (size_t i = 0; i < ph_vjson_len(tests); i++)
        run_handshake_vector(ph_vjson_at(tests, i), true);
}

static void test_responder_vectors(void **state)
{
    const ph_vjson *tests = ph_vjson_get(*state, "responder_tests");
    assert_int_equal(ph_vjson_len(tests), 10);
    for (size_t i = 0; i < ph_vjson_len(tests); i++)
        run_handshake_vector(ph_vjson_at(tests, i), false);
}

/* ---- message encryption vectors ------------------------------------------ */

struct keyrec {
    int count;
    uint8_t mac[16][16];
    uint8_t key[16][32];
};

static void key_record(void *ctx, const uint8_t mac[16], const uint8_t key[32])
{
    struct keyrec *r = ctx;
    assert_true(r->count < 16);
    memcpy(r->mac[r->count], mac, 16);
    memcpy(r->key[r->count], key, 32);
    r->count++;
}

/* A transport established from the vectors' successful handshake. */
static ph_noise *vector_session(const ph_vjson *root, bool initiator)
{
    const ph_vjson *t = ph_vjson_at(ph_vjson_get(root, initiator ? "initiator_tests"
                                                              : "responder_tests"), 0);
    const ph_vjson *keys = ph_vjson_get(t, "keys");
    uint8_t ls[32], e[32], rs[33], act[PH_NOISE_ACT3_LEN];
    hexget(keys, "ls.priv", ls, 32);
    hexget(keys, "e.priv", e, 32);
    if (initiator)
        hexget(keys, "rs.pub", rs, 33);
    ph_noise_hs *hs;
    assert_int_equal(ph_noise_hs_create(&hs, ls, initiator ? rs : NULL, e), PH_OK);
    if (initiator) {
        assert_int_equal(ph_noise_act1_write(hs, act), PH_OK);
        hexget(ph_vjson_path(t, "acts.act2"), "input", act, PH_NOISE_ACT2_LEN);
        assert_int_equal(ph_noise_act2_read(hs, act, PH_NOISE_ACT2_LEN), PH_OK);
        assert_int_equal(ph_noise_act3_write(hs, act), PH_OK);
    } else {
        hexget(ph_vjson_path(t, "acts.act1"), "input", act, PH_NOISE_ACT1_LEN);
        assert_int_equal(ph_noise_act1_read(hs, act, PH_NOISE_ACT1_LEN), PH_OK);
        assert_int_equal(ph_noise_act2_write(hs, act), PH_OK);
        hexget(ph_vjson_path(t, "acts.act3"), "input", act, PH_NOISE_ACT3_LEN);
        assert_int_equal(ph_noise_act3_read(hs, act, PH_NOISE_ACT3_LEN), PH_OK);
    }
    ph_noise *n;
    assert_int_equal(ph_noise_hs_finish(hs, &n), PH_OK);
    ph_noise_hs_destroy(hs);
    return n;
}

#define HELLO_FRAME (5 + PH_NOISE_OVERHEAD)

static void check_message_vectors(const ph_vjson *mt, ph_noise *tx, ph_noise *rx)
{
    const ph_vjson *outs = ph_vjson_get(mt, "outputs");
    const ph_vjson *rots = ph_vjson_get(mt, "key_rotations");
    uint64_t count;
    assert_true(ph_vjson_u64(ph_vjson_get(mt, "message_count"), &count));
    uint8_t pt[5];
    hexget(mt, "message_plaintext_hex", pt, 5);
    struct keyrec sent = {0}, recvd = {0};
    ph_noise_set_key_cb(tx, key_record, &sent);
    ph_noise_set_key_cb(rx, key_record, &recvd);
    size_t matched = 0;
    for (uint64_t i = 0; i <= count; i++) {
        uint8_t frame[HELLO_FRAME];
        assert_int_equal(ph_noise_encrypt(tx, pt, 5, frame), PH_OK);
        char idx[24];
        snprintf(idx, sizeof idx, "%llu", (unsigned long long)i);
        if (ph_vjson_get(outs, idx)) {
            assert_hex(outs, idx, frame, sizeof frame);
            matched++;
        }
        if (i < 2) { /* the printed length and body encryptions of messages 0 and 1 */
            const ph_vjson *parts = ph_vjson_get(mt, "length_and_message_encryptions");
            assert_hex(ph_vjson_at(parts, 2 * i), "ciphertext", frame, PH_NOISE_HDR_LEN);
            assert_hex(ph_vjson_at(parts, 2 * i + 1), "ciphertext", frame + PH_NOISE_HDR_LEN,
                       sizeof frame - PH_NOISE_HDR_LEN);
        }
        size_t used, mlen, need;
        const uint8_t *msg;
        assert_int_equal(ph_noise_decrypt_feed(rx, frame, sizeof frame, &used, &msg, &mlen,
                                               &need),
                         PH_OK);
        assert_int_equal(used, sizeof frame);
        assert_int_equal(mlen, 5);
        assert_memory_equal(msg, pt, 5);
    }
    assert_int_equal(matched, ph_vjson_len(outs));
    assert_int_equal(matched, 6);
    /* Three keys were used: the handshake's, then one per rotation. */
    assert_int_equal(sent.count, 1 + (int)ph_vjson_len(rots));
    assert_hex(ph_vjson_get(mt, "initial"), "sk", sent.key[0], 32);
    for (size_t r = 0; r < ph_vjson_len(rots); r++) {
        const ph_vjson *rot = ph_vjson_at(rots, r);
        uint64_t at;
        assert_true(ph_vjson_u64(ph_vjson_get(rot, "applies_before_output"), &at));
        assert_int_equal(at, 500 * (r + 1));
        assert_hex(rot, "new_k", sent.key[r + 1], 32);
    }
    assert_int_equal(recvd.count, sent.count);
    assert_memory_equal(recvd.mac, sent.mac, sizeof sent.mac[0] * (size_t)sent.count);
    assert_memory_equal(recvd.key, sent.key, sizeof sent.key[0] * (size_t)sent.count);
    /* 1002 messages: 2 left on the third key. */
    assert_int_equal(ph_noise_send_nonce(tx), 4);
    assert_int_equal(ph_noise_recv_nonce(rx), 4);
}

/* Every pair of cipher implementations (chachapoly.h) this CPU runs, one
 * sending and one receiving: the same vector bytes. */
static void test_message_vectors_from_keys(void **state)
{
    const ph_vjson *mt = ph_vjson_get(*state, "message_encryption_test");
    const ph_vjson *init = ph_vjson_get(mt, "initial");
    uint8_t sk[32], ck[32];
    hexget(init, "sk", sk, 32);
    hexget(init, "ck", ck, 32);
    int pairs = 0;
    for (int a = 0; a < PH_CHACHAPOLY__COUNT; a++) {
        for (int b = 0; b < PH_CHACHAPOLY__COUNT; b++) {
            if (!ph_chachapoly_supported((ph_chachapoly_impl)a) ||
                !ph_chachapoly_supported((ph_chachapoly_impl)b))
                continue;
            ph_noise *tx, *rx;
            assert_int_equal(ph_noise_create_from_keys(&tx, sk, ck, NULL, NULL), PH_OK);
            assert_int_equal(ph_noise_create_from_keys(&rx, NULL, NULL, sk, ck), PH_OK);
            assert_int_equal(ph_noise_impl(tx), ph_chachapoly_best());
            assert_int_equal(ph_noise_set_impl(tx, (ph_chachapoly_impl)a), PH_OK);
            assert_int_equal(ph_noise_set_impl(rx, (ph_chachapoly_impl)b), PH_OK);
            check_message_vectors(mt, tx, rx);
            ph_noise_destroy(tx);
            ph_noise_destroy(rx);
            pairs++;
        }
    }
    assert_true(pairs >= 1);
    ph_noise *n;
    assert_int_equal(ph_noise_create_from_keys(&n, sk, ck, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_set_impl(n, PH_CHACHAPOLY__COUNT), PH_ERR_ARG);
    ph_noise_destroy(n);
}

/* ph_noise_encrypt_many, in batches of random sizes that straddle the key
 * rotations: the same bytes and key-log calls as one frame at a time. */
static void test_encrypt_many_equals_single(void **state)
{
    const ph_vjson *mt = ph_vjson_get(*state, "message_encryption_test");
    const ph_vjson *init = ph_vjson_get(mt, "initial");
    uint8_t sk[32], ck[32];
    hexget(init, "sk", sk, 32);
    hexget(init, "ck", ck, 32);
    enum { MSGS = 2300, BATCH_MAX = 70 };
    ph_noise *one, *many;
    assert_int_equal(ph_noise_create_from_keys(&one, sk, ck, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_create_from_keys(&many, sk, ck, NULL, NULL), PH_OK);
    struct keyrec k1 = {0}, k2 = {0};
    ph_noise_set_key_cb(one, key_record, &k1);
    ph_noise_set_key_cb(many, key_record, &k2);
    uint64_t rng = 77;
    uint8_t *a[BATCH_MAX], *b[BATCH_MAX];
    uint8_t ha[BATCH_MAX][PH_NOISE_HDR_LEN], hb[BATCH_MAX][PH_NOISE_HDR_LEN];
    uint8_t ma[BATCH_MAX][PH_NOISE_MAC_LEN], mb[BATCH_MAX][PH_NOISE_MAC_LEN];
    for (size_t done = 0; done < MSGS;) {
        size_t k = 1 + rnd(&rng) % BATCH_MAX;
        if (k > MSGS - done)
            k = MSGS - done;
        ph_noise_frame frames[BATCH_MAX];
        for (size_t j = 0; j < k; j++) {
            size_t len = rnd(&rng) % 1500;
            a[j] = malloc(len + 1);
            b[j] = malloc(len + 1);
            assert_non_null(a[j]);
            assert_non_null(b[j]);
            for (size_t i = 0; i < len; i++)
                a[j][i] = b[j][i] = (uint8_t)rnd(&rng);
            assert_int_equal(ph_noise_encrypt_detached(one, ha[j], a[j], len, ma[j]), PH_OK);
            frames[j] = (ph_noise_frame){.hdr = hb[j], .body = b[j], .len = len, .mac = mb[j]};
        }
        assert_int_equal(ph_noise_encrypt_many(many, frames, k), PH_OK);
        for (size_t j = 0; j < k; j++) {
            assert_memory_equal(ha[j], hb[j], PH_NOISE_HDR_LEN);
            assert_memory_equal(ma[j], mb[j], PH_NOISE_MAC_LEN);
            if (frames[j].len)
                assert_memory_equal(a[j], b[j], frames[j].len);
            free(a[j]);
            free(b[j]);
        }
        done += k;
    }
    assert_int_equal(ph_noise_send_nonce(one), ph_noise_send_nonce(many));
    assert_int_equal(k1.count, 5); /* 2,300 frames: four rotations */
    assert_int_equal(k2.count, k1.count);
    assert_memory_equal(k1.mac, k2.mac, sizeof k1.mac[0] * (size_t)k1.count);
    assert_memory_equal(k1.key, k2.key, sizeof k1.key[0] * (size_t)k1.count);
    /* An invalid frame: nothing is encrypted, no nonce is used. */
    uint8_t h[PH_NOISE_HDR_LEN], m[PH_NOISE_MAC_LEN], body[4] = {1, 2, 3, 4};
    ph_noise_frame bad[2] = {{.hdr = h, .body = body, .len = 4, .mac = m},
                             {.hdr = h, .body = body, .len = 70000, .mac = m}};
    uint64_t nonce = ph_noise_send_nonce(many);
    assert_int_equal(ph_noise_encrypt_many(many, bad, 2), PH_ERR_NOISE_TOO_LONG);
    assert_int_equal(ph_noise_send_nonce(many), nonce);
    assert_int_equal(body[0], 1);
    ph_noise_destroy(one);
    ph_noise_destroy(many);
}

static void test_message_vectors_from_handshake(void **state)
{
    ph_noise *tx = vector_session(*state, true), *rx = vector_session(*state, false);
    check_message_vectors(ph_vjson_get(*state, "message_encryption_test"), tx, rx);
    ph_noise_destroy(tx);
    ph_noise_destroy(rx);
}

/* ---- API behaviour ------------------------------------------------------ */

static const uint8_t key_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t ck_a[32] = {0xc0, 0xff, 0xee};

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(mix64(seed * 0x10001 + i / 8) >> (8 * (i % 8)));
}

static void test_detached_equals_contiguous(void **state)
{
    (void)state;
    ph_noise *a, *b;
    assert_int_equal(ph_noise_create_from_keys(&a, key_a, ck_a, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_create_from_keys(&b, key_a, ck_a, NULL, NULL), PH_OK);
    uint8_t *msg = malloc(PH_NOISE_MAX_MSG), *body = malloc(PH_NOISE_MAX_MSG);
    uint8_t *frame = malloc(PH_NOISE_MAX_MSG + PH_NOISE_OVERHEAD);
    assert_non_null(msg);
    assert_non_null(body);
    assert_non_null(frame);
    static const size_t special[] = {0, 1, 2, 100, PH_NOISE_MAX_MSG};
    /* 1,100 messages: both rotate twice on the way. */
    for (uint64_t i = 0; i < 1100; i++) {
        size_t len = i < 5 ? special[i] : (size_t)(mix64(i) % 300);
        fill(msg, len, i);
        memcpy(body, msg, len);
        uint8_t hdr[PH_NOISE_HDR_LEN], mac[PH_NOISE_MAC_LEN];
        assert_int_equal(ph_noise_encrypt(a, msg, len, frame), PH_OK);
        assert_int_equal(ph_noise_encrypt_detached(b, hdr, body, len, mac), PH_OK);
        assert_memory_equal(frame, hdr, PH_NOISE_HDR_LEN);
        if (len)
            assert_memory_equal(frame + PH_NOISE_HDR_LEN, body, len);
        assert_memory_equal(frame + PH_NOISE_HDR_LEN + len, mac, PH_NOISE_MAC_LEN);
        if (len > 16)
            assert_memory_not_equal(body, msg, len); /* encrypted in place */
        assert_int_equal(ph_noise_send_nonce(a), ph_noise_send_nonce(b));
    }
    assert_int_equal(ph_noise_send_nonce(a), (1100 * 2) % 1000);
    free(msg);
    free(body);
    free(frame);
    ph_noise_destroy(a);
    ph_noise_destroy(b);
}

static void test_streaming_byte_by_byte(void **state)
{
    (void)state;
    ph_noise *tx, *rx;
    assert_int_equal(ph_noise_create_from_keys(&tx, key_a, ck_a, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_create_from_keys(&rx, NULL, NULL, key_a, ck_a), PH_OK);
    static const size_t lens[] = {11, 0, 300};
    for (size_t k = 0; k < 3; k++) {
        uint8_t msg[300], frame[300 + PH_NOISE_OVERHEAD];
        size_t len = lens[k], flen = len + PH_NOISE_OVERHEAD;
        fill(msg, len, 77 + k);
        assert_int_equal(ph_noise_encrypt(tx, msg, len, frame), PH_OK);
        size_t used, mlen, need;
        const uint8_t *out;
        /* an empty feed only reports what is needed */
        assert_int_equal(ph_noise_decrypt_feed(rx, NULL, 0, &used, &out, &mlen, &need), PH_OK);
        assert_int_equal(used, 0);
        assert_null(out);
        assert_int_equal(need, PH_NOISE_HDR_LEN);
        assert_false(ph_noise_rx_in_frame(rx));
        for (size_t i = 0; i < flen; i++) {
            assert_int_equal(ph_noise_decrypt_feed(rx, frame + i, 1, &used, &out, &mlen, &need),
                             PH_OK);
            assert_int_equal(used, 1);
            size_t have = i + 1;
            if (have == flen) {
                assert_non_null(out);
                assert_int_equal(mlen, len);
                assert_memory_equal(out, msg, len);
                assert_int_equal(need, 0);
                assert_false(ph_noise_rx_in_frame(rx)); /* between frames again */
            } else {
                assert_true(ph_noise_rx_in_frame(rx));
                assert_null(out);
                size_t want = have < PH_NOISE_HDR_LEN ? PH_NOISE_HDR_LEN - have : flen - have;
                assert_int_equal(need, want);
                assert_true(ph_noise_rx_buffered(rx) >= (have < PH_NOISE_HDR_LEN ? have : want));
            }
        }
    }
    /* Two frames in one buffer: one message per call. */
    uint8_t two[2 * (3 + PH_NOISE_OVERHEAD)];
    assert_int_equal(ph_noise_encrypt(tx, (const uint8_t *)"abc", 3, two), PH_OK);
    assert_int_equal(ph_noise_encrypt(tx, (const uint8_t *)"def", 3, two + 37), PH_OK);
    size_t used, mlen, need;
    const uint8_t *out;
    assert_int_equal(ph_noise_decrypt_feed(rx, two, sizeof two, &used, &out, &mlen, &need), PH_OK);
    assert_int_equal(used, 37);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(ph_noise_decrypt_feed(rx, two + 37, 37, &used, &out, &mlen, &need), PH_OK);
    assert_int_equal(used, 37);
    assert_memory_equal(out, "def", 3);
    ph_noise_destroy(tx);
    ph_noise_destroy(rx);
}

/* Flip one bit at `pos` of a 40-byte message's frame: the receiver fails and
 * stays failed. */
static void corrupt_case(size_t pos, size_t expect_ok_calls)
{
    ph_noise *tx, *rx;
    assert_int_equal(ph_noise_create_from_keys(&tx, key_a, ck_a, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_create_from_keys(&rx, NULL, NULL, key_a, ck_a), PH_OK);
    uint8_t msg[40], frame[40 + PH_NOISE_OVERHEAD];
    fill(msg, sizeof msg, 5);
    assert_int_equal(ph_noise_encrypt(tx, msg, sizeof msg, frame), PH_OK);
    frame[pos] ^= 0x10;
    size_t used, mlen, need;
    const uint8_t *out;
    /* header and body fed separately: a header fault shows on the first call */
    assert_int_equal(ph_noise_decrypt_feed(rx, frame, PH_NOISE_HDR_LEN, &used, &out, &mlen, &need),
                     expect_ok_calls ? PH_OK : PH_ERR_NOISE_BAD_MAC);
    if (expect_ok_calls)
        assert_int_equal(ph_noise_decrypt_feed(rx, frame + PH_NOISE_HDR_LEN,
                                               sizeof frame - PH_NOISE_HDR_LEN, &used, &out,
                                               &mlen, &need),
                         PH_ERR_NOISE_BAD_MAC);
    assert_null(out);
    assert_int_equal(ph_noise_decrypt_feed(rx, frame, sizeof frame, &used, &out, &mlen, &need),
                     PH_ERR_NOISE_BAD_MAC);
    assert_int_equal(used, 0);
    ph_noise_destroy(tx);
    ph_noise_destroy(rx);
}

static void test_bad_mac(void **state)
{
    (void)state;
    corrupt_case(0, 0);                      /* encrypted length */
    corrupt_case(PH_NOISE_HDR_LEN - 1, 0);   /* length MAC */
    corrupt_case(PH_NOISE_HDR_LEN + 3, 1);   /* body */
    corrupt_case(PH_NOISE_HDR_LEN + 40 + 15, 1); /* body MAC */
}

static void test_too_long(void **state)
{
    (void)state;
    ph_noise *tx;
    assert_int_equal(ph_noise_create_from_keys(&tx, key_a, ck_a, NULL, NULL), PH_OK);
    uint8_t *big = calloc(1, PH_NOISE_MAX_MSG + 1 + PH_NOISE_OVERHEAD);
    uint8_t *out = malloc(PH_NOISE_MAX_MSG + 1 + PH_NOISE_OVERHEAD);
    assert_non_null(big);
    assert_non_null(out);
    uint8_t hdr[PH_NOISE_HDR_LEN], mac[PH_NOISE_MAC_LEN];
    assert_int_equal(ph_noise_encrypt(tx, big, PH_NOISE_MAX_MSG + 1, out), PH_ERR_NOISE_TOO_LONG);
    assert_int_equal(ph_noise_encrypt_detached(tx, hdr, big, PH_NOISE_MAX_MSG + 1, mac),
                     PH_ERR_NOISE_TOO_LONG);
    assert_int_equal(ph_noise_send_nonce(tx), 0); /* nothing was used up */
    assert_int_equal(ph_noise_encrypt(tx, big, PH_NOISE_MAX_MSG, out), PH_OK);
    assert_int_equal(ph_noise_send_nonce(tx), 2);
    free(big);
    free(out);
    ph_noise_destroy(tx);
}

/* Without a chaining key a direction stops at its rotation until the next
 * key is supplied; nothing is consumed meanwhile. */
static void test_need_key(void **state)
{
    (void)state;
    ph_noise *tx, *rx, *none;
    assert_int_equal(ph_noise_create_from_keys(&none, NULL, NULL, NULL, NULL), PH_OK);
    uint8_t frame[1 + PH_NOISE_OVERHEAD];
    size_t used = 99, mlen, need;
    const uint8_t *out;
    assert_int_equal(ph_noise_encrypt(none, (const uint8_t *)"x", 1, frame), PH_ERR_NOISE_NEED_KEY);
    assert_int_equal(ph_noise_decrypt_feed(none, frame, sizeof frame, &used, &out, &mlen, &need),
                     PH_ERR_NOISE_NEED_KEY);
    assert_int_equal(used, 0);
    ph_noise_destroy(none);

    assert_int_equal(ph_noise_create_from_keys(&tx, key_a, ck_a, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_create_from_keys(&rx, NULL, NULL, key_a, NULL), PH_OK);
    struct keyrec keys = {0};
    ph_noise_set_key_cb(tx, key_record, &keys);
    for (int i = 0; i < 501; i++) {
        assert_int_equal(ph_noise_encrypt(tx, (const uint8_t *)"x", 1, frame), PH_OK);
        ph_err err = ph_noise_decrypt_feed(rx, frame, sizeof frame, &used, &out, &mlen, &need);
        if (i == 500) {
            assert_int_equal(err, PH_ERR_NOISE_NEED_KEY);
            assert_int_equal(used, 0);
            assert_int_equal(ph_noise_recv_nonce(rx), PH_NOISE_ROTATE_AT);
            assert_int_equal(keys.count, 2);
            assert_memory_equal(keys.mac[1], frame + 2, 16);
            assert_int_equal(ph_noise_set_recv_key(rx, keys.key[1]), PH_OK);
            err = ph_noise_decrypt_feed(rx, frame, sizeof frame, &used, &out, &mlen, &need);
        }
        assert_int_equal(err, PH_OK);
        assert_int_equal(used, sizeof frame);
        assert_memory_equal(out, "x", 1);
    }
    assert_int_equal(ph_noise_recv_nonce(rx), 2);
    ph_noise_destroy(tx);
    ph_noise_destroy(rx);
}

static void test_handshake_misuse(void **state)
{
    (void)state;
    uint8_t zero[32] = {0}, order[32], pub[33], act[PH_NOISE_ACT3_LEN];
    /* the group order n is not a valid private key */
    static const char n_hex[] = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    assert_int_equal(ph_hex_decode_fixed(n_hex, order, 32), PH_OK);
    ph_noise_hs *hs;
    assert_int_equal(ph_noise_pubkey(zero, pub), PH_ERR_NOISE_BAD_KEY);
    assert_int_equal(ph_noise_pubkey(order, pub), PH_ERR_NOISE_BAD_KEY);
    assert_int_equal(ph_noise_hs_create(&hs, zero, NULL, NULL), PH_ERR_NOISE_BAD_KEY);
    assert_int_equal(ph_noise_hs_create(&hs, key_a, NULL, order), PH_ERR_NOISE_BAD_KEY);
    memset(pub, 0x11, sizeof pub);
    pub[0] = 5; /* no such compressed-point prefix */
    assert_int_equal(ph_noise_hs_create(&hs, key_a, pub, NULL), PH_ERR_NOISE_BAD_PUBKEY);

    /* responder: wrong-role and out-of-order calls are state errors */
    assert_int_equal(ph_noise_hs_create(&hs, key_a, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_ERR_STATE);
    assert_int_equal(ph_noise_act2_write(hs, act), PH_ERR_STATE);
    assert_int_equal(ph_noise_hs_remote_pubkey(hs, pub), PH_ERR_STATE);
    ph_noise *n;
    assert_int_equal(ph_noise_hs_finish(hs, &n), PH_ERR_STATE);
    assert_null(n);
    ph_noise_hs_destroy(hs);

    /* initiator: remote key known from the start */
    uint8_t rpub[33];
    assert_int_equal(ph_noise_pubkey(key_a, rpub), PH_OK);
    assert_int_equal(ph_noise_hs_create(&hs, ck_a, rpub, NULL), PH_OK);
    assert_int_equal(ph_noise_hs_remote_pubkey(hs, pub), PH_OK);
    assert_memory_equal(pub, rpub, 33);
    assert_int_equal(ph_noise_act1_read(hs, act, PH_NOISE_ACT1_LEN), PH_ERR_STATE);
    assert_int_equal(ph_noise_act3_write(hs, act), PH_ERR_STATE);
    assert_int_equal(ph_noise_act1_write(hs, NULL), PH_ERR_ARG);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_OK);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_ERR_STATE);
    ph_noise_hs_destroy(hs);

    /* bytes after the act (the next act or frame) are left alone */
    ph_noise_hs *hr;
    assert_int_equal(ph_noise_hs_create(&hr, key_a, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_read(hr, act, sizeof act), PH_OK);
    ph_noise_hs_destroy(hr);
}

/* ---- a long session over a socketpair -------------------------------------- */

#define SESSION_MSGS 2000u

/* Message i of direction d, reproducible on both ends. Sizes cover 0 and
 * 65,535 several times. */
static size_t session_len(int d, uint64_t i)
{
    uint64_t r = mix64((uint64_t)d << 32 | i);
    if (i % 97 == 3)
        return PH_NOISE_MAX_MSG;
    if (i % 89 == 5)
        return 0;
    return (size_t)(r % 1200);
}

static void session_fill(uint8_t *p, int d, uint64_t i, size_t len)
{
    fill(p, len, (uint64_t)d << 40 | i);
}

struct side {
    int d;           /* direction this side sends: 0 initiator->responder */
    int fd;
    ph_noise *n;
    uint8_t *frame;  /* the frame being written */
    size_t frame_len, frame_off;
    uint64_t sent, received;
    uint8_t *inbuf, *expect;
    struct keyrec keys; /* both directions, in the order they were announced */
};

static void side_next_frame(struct side *s, uint64_t *rng)
{
    size_t len = session_len(s->d, s->sent);
    uint8_t *body = s->frame + PH_NOISE_HDR_LEN;
    /* Alternate encryption APIs at random: the wire bytes must not care. */
    if (rnd(rng) & 1) {
        uint8_t *msg = s->expect;
        session_fill(msg, s->d, s->sent, len);
        assert_int_equal(ph_noise_encrypt(s->n, msg, len, s->frame), PH_OK);
    } else {
        uint8_t hdr[PH_NOISE_HDR_LEN], mac[PH_NOISE_MAC_LEN];
        session_fill(body, s->d, s->sent, len);
        assert_int_equal(ph_noise_encrypt_detached(s->n, hdr, body, len, mac), PH_OK);
        memcpy(s->frame, hdr, sizeof hdr);
        memcpy(body + len, mac, sizeof mac);
    }
    s->frame_len = len + PH_NOISE_OVERHEAD;
    s->frame_off = 0;
    s->sent++;
}

static bool side_write(struct side *s, uint64_t *rng)
{
    if (s->frame_off == s->frame_len) {
        if (s->sent == SESSION_MSGS)
            return false;
        side_next_frame(s, rng);
    }
    size_t left = s->frame_len - s->frame_off;
    size_t chunk = 1 + (size_t)(rnd(rng) % (rnd(rng) & 1 ? 64 : 70000));
    if (chunk > left)
        chunk = left;
    ssize_t k = write(s->fd, s->frame + s->frame_off, chunk);
    if (k < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return false;
    }
    s->frame_off += (size_t)k;
    return k > 0;
}

/* `peer` is the sending side: its direction tells us what to expect. */
static bool side_read(struct side *s, int peer_d, uint64_t *rng)
{
    size_t chunk = 1 + (size_t)(rnd(rng) % (rnd(rng) & 1 ? 100 : 80000));
    ssize_t k = read(s->fd, s->inbuf, chunk);
    if (k < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return false;
    }
    assert_true(k > 0);
    size_t off = 0;
    while (off < (size_t)k) {
        /* feed the chunk in random pieces, sometimes byte by byte */
        size_t piece = 1 + (size_t)(rnd(rng) % (rnd(rng) % 4 ? 40000 : 3));
        if (piece > (size_t)k - off)
            piece = (size_t)k - off;
        size_t used, mlen, need;
        const uint8_t *msg;
        assert_int_equal(ph_noise_decrypt_feed(s->n, s->inbuf + off, piece, &used, &msg, &mlen,
                                               &need),
                         PH_OK);
        assert_true(used <= piece);
        off += used;
        if (!msg) {
            assert_int_equal(used, piece);
            assert_true(need > 0);
            continue;
        }
        size_t want = session_len(peer_d, s->received);
        assert_int_equal(mlen, want);
        session_fill(s->expect, peer_d, s->received, want);
        assert_memory_equal(msg, s->expect, want);
        s->received++;
    }
    return true;
}

static void read_exact(int fd, uint8_t *buf, size_t n, uint64_t *rng)
{
    size_t got = 0;
    while (got < n) {
        size_t chunk = 1 + (size_t)(rnd(rng) % 20);
        if (chunk > n - got)
            chunk = n - got;
        ssize_t k = read(fd, buf + got, chunk);
        assert_true(k > 0);
        got += (size_t)k;
    }
}

static void write_all(int fd, const uint8_t *buf, size_t n)
{
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
}

static void socket_handshake(int fds[2], ph_noise **ni, ph_noise **nr, uint64_t *rng)
{
    uint8_t ipriv[32], rpriv[32], rpub[33], ipub[33], act[PH_NOISE_ACT3_LEN], got[33];
    memset(ipriv, 0x21, 32);
    memset(rpriv, 0x42, 32);
    assert_int_equal(ph_noise_pubkey(rpriv, rpub), PH_OK);
    assert_int_equal(ph_noise_pubkey(ipriv, ipub), PH_OK);
    ph_noise_hs *hi, *hr;
    assert_int_equal(ph_noise_hs_create(&hi, ipriv, rpub, NULL), PH_OK);
    assert_int_equal(ph_noise_hs_create(&hr, rpriv, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hi, act), PH_OK);
    write_all(fds[0], act, PH_NOISE_ACT1_LEN);
    read_exact(fds[1], act, PH_NOISE_ACT1_LEN, rng);
    assert_int_equal(ph_noise_act1_read(hr, act, PH_NOISE_ACT1_LEN), PH_OK);
    assert_int_equal(ph_noise_act2_write(hr, act), PH_OK);
    write_all(fds[1], act, PH_NOISE_ACT2_LEN);
    read_exact(fds[0], act, PH_NOISE_ACT2_LEN, rng);
    assert_int_equal(ph_noise_act2_read(hi, act, PH_NOISE_ACT2_LEN), PH_OK);
    assert_int_equal(ph_noise_act3_write(hi, act), PH_OK);
    write_all(fds[0], act, PH_NOISE_ACT3_LEN);
    read_exact(fds[1], act, PH_NOISE_ACT3_LEN, rng);
    assert_int_equal(ph_noise_act3_read(hr, act, PH_NOISE_ACT3_LEN), PH_OK);
    assert_int_equal(ph_noise_hs_remote_pubkey(hr, got), PH_OK);
    assert_memory_equal(got, ipub, 33);
    /* both ends agree on the transcript */
    uint8_t h1[32], c1[32], h2[32], c2[32];
    ph_noise_hs_debug_state(hi, h1, c1);
    ph_noise_hs_debug_state(hr, h2, c2);
    assert_memory_equal(h1, h2, 32);
    assert_memory_equal(c1, c2, 32);
    assert_int_equal(ph_noise_hs_finish(hi, ni), PH_OK);
    assert_int_equal(ph_noise_hs_finish(hr, nr), PH_OK);
    ph_noise_hs_destroy(hi);
    ph_noise_hs_destroy(hr);
}

static void side_init(struct side *s, int d, int fd, ph_noise *n)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->fd = fd;
    s->n = n;
    s->frame = malloc(PH_NOISE_MAX_MSG + PH_NOISE_OVERHEAD);
    s->inbuf = malloc(80000);
    s->expect = malloc(PH_NOISE_MAX_MSG);
    assert_non_null(s->frame);
    assert_non_null(s->inbuf);
    assert_non_null(s->expect);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static void side_free(struct side *s)
{
    free(s->frame);
    free(s->inbuf);
    free(s->expect);
    ph_noise_destroy(s->n);
    close(s->fd);
}

static void test_socketpair_session(void **state)
{
    (void)state;
    uint64_t rng = 12345;
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ph_noise *ni, *nr;
    socket_handshake(fds, &ni, &nr, &rng);
    struct side s[2];
    side_init(&s[0], 0, fds[0], ni);
    side_init(&s[1], 1, fds[1], nr);
    for (int i = 0; i < 2; i++)
        ph_noise_set_key_cb(s[i].n, key_record, &s[i].keys);
    unsigned long rounds = 0;
    while (s[0].received < SESSION_MSGS || s[1].received < SESSION_MSGS) {
        assert_true(++rounds < 5000000ul); /* no livelock */
        for (int i = 0; i < 2; i++) {
            int writes = (int)(rnd(&rng) % 4);
            for (int w = 0; w < writes; w++)
                (void)side_write(&s[i], &rng);
            (void)side_read(&s[1 - i], s[i].d, &rng);
        }
    }
    assert_int_equal(s[0].sent, SESSION_MSGS);
    assert_int_equal(s[1].sent, SESSION_MSGS);
    /* 2,000 messages = 4 keys per direction (rotations after 500, 1000,
     * 1500 and 2000; the last new key is never used). Each side's callback
     * saw its 4 send keys and the peer's 4. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s[i].keys.count, 8);
        assert_int_equal(ph_noise_send_nonce(s[i].n), 0);
        assert_int_equal(ph_noise_recv_nonce(s[i].n), 0);
    }
    /* Every key either side logged, the other logged too (with the same MAC). */
    for (int a = 0; a < 8; a++) {
        bool found = false;
        for (int b = 0; b < 8 && !found; b++)
            found = !memcmp(s[0].keys.mac[a], s[1].keys.mac[b], 16) &&
                    !memcmp(s[0].keys.key[a], s[1].keys.key[b], 32);
        assert_true(found);
        for (int b = 0; b < a; b++)
            assert_memory_not_equal(s[0].keys.key[a], s[0].keys.key[b], 32);
    }
    side_free(&s[0]);
    side_free(&s[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initiator_vectors),
        cmocka_unit_test(test_responder_vectors),
        cmocka_unit_test(test_message_vectors_from_keys),
        cmocka_unit_test(test_message_vectors_from_handshake),
        cmocka_unit_test(test_encrypt_many_equals_single),
        cmocka_unit_test(test_detached_equals_contiguous),
        cmocka_unit_test(test_streaming_byte_by_byte),
        cmocka_unit_test(test_bad_mac),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_need_key),
        cmocka_unit_test(test_handshake_misuse),
        cmocka_unit_test(test_socketpair_session),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
