/* Differential check of lib/bolt8/chachapoly against libsodium, shared by
 * the libFuzzer target (tests/fuzz/fuzz_chachapoly.c, `make fuzz`) and the
 * unit test (tests/test_chachapoly.c, random inputs from a fixed seed).
 *
 * One input decides a key, a header nonce, a message length 0..65,535, a
 * plaintext (the input's bytes, stretched by a PRNG seeded from them), a
 * bit to flip and a batch size. For every implementation this CPU runs:
 *   - sealing gives exactly libsodium's two AEAD encryptions (header at
 *     nonce n, body at n + 1): same 18 + len + 16 bytes;
 *   - sealing the same frame among others (ph_chachapoly_seal_many, frames
 *     at n, n + 2, ...) gives the same bytes again;
 *   - opening the sealed frame gives back the length and the plaintext,
 *     with and without the keystream the header's open keeps;
 *   - with one bit flipped in the header, the body or the tag, the open
 *     fails and no plaintext comes out (a failed body open zeroes its
 *     output, as libsodium's does).
 * Returns 0, or a line number of this file naming the check that failed. */
#ifndef PH_CHACHAPOLY_DIFF_H
#define PH_CHACHAPOLY_DIFF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "chachapoly.h"

#define DIFF_MAX_BATCH 9

struct diff_input {
    uint8_t key[32];
    uint64_t nonce;
    size_t len;
    size_t flip;       /* bit index in the frame */
    size_t batch;      /* 1..DIFF_MAX_BATCH frames for seal_many */
    uint64_t seed;
};

static uint64_t diff_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t diff_take(const uint8_t *d, size_t n, size_t *at, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | (*at < n ? d[(*at)++] : 0);
    return v;
}

static void diff_parse(const uint8_t *d, size_t n, struct diff_input *in)
{
    size_t at = 0;
    for (int i = 0; i < 32; i++)
        in->key[i] = (uint8_t)diff_take(d, n, &at, 1);
    in->nonce = diff_take(d, n, &at, 8);
    in->len = (size_t)diff_take(d, n, &at, 2);
    in->flip = (size_t)diff_take(d, n, &at, 4);
    in->batch = 1 + (size_t)diff_take(d, n, &at, 1) % DIFF_MAX_BATCH;
    uint64_t seed = 0;
    for (size_t i = 0; i < n; i++)
        seed = diff_mix(seed ^ d[i]);
    in->seed = seed;
}

static void diff_fill(uint8_t *p, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = diff_mix(seed + i);
        for (size_t k = 0; k < 8 && i + k < len; k++)
            p[i + k] = (uint8_t)(v >> (8 * k));
    }
}

/* The reference: libsodium's AEAD, exactly as BOLT 8 writes it. */
static void diff_reference(const struct diff_input *in, const uint8_t *pt, uint8_t *frame)
{
    uint8_t npub[12] = {0};
    uint8_t l[2] = {(uint8_t)(in->len >> 8), (uint8_t)in->len};
    for (int i = 0; i < 8; i++)
        npub[4 + i] = (uint8_t)(in->nonce >> (8 * i));
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(frame, frame + 2, NULL, l, 2, NULL, 0,
                                                       NULL, npub, in->key);
    uint64_t n1 = in->nonce + 1;
    for (int i = 0; i < 8; i++)
        npub[4 + i] = (uint8_t)(n1 >> (8 * i));
    uint8_t *body = frame + PH_CHACHAPOLY_HDR_LEN;
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(body, body + in->len, NULL, pt, in->len,
                                                       NULL, 0, NULL, npub, in->key);
}

static int diff_open(ph_chachapoly_impl impl, const struct diff_input *in, const uint8_t *frame,
                     const uint8_t *pt, uint8_t *out, int keep)
{
    ph_chachapoly_ks ks;
    size_t len = 0;
    if (ph_chachapoly_open_header(impl, in->key, in->nonce, frame, &len, keep ? &ks : NULL))
        return __LINE__;
    if (len != in->len) {
        ph_chachapoly_ks_wipe(&ks);
        return __LINE__;
    }
    const uint8_t *ct = frame + PH_CHACHAPOLY_HDR_LEN;
    ph_err err = ph_chachapoly_open_body(impl, in->key, in->nonce + 1, ct, len, ct + len, out,
                                         keep ? &ks : NULL);
    if (keep)
        ph_chachapoly_ks_wipe(&ks);
    if (err || (len && memcmp(out, pt, len)))
        return __LINE__;
    return 0;
}

/* A flipped bit: the header's open or the body's must fail, and the
 * body's output must be zeroes. */
static int diff_tampered(ph_chachapoly_impl impl, const struct diff_input *in, uint8_t *frame,
                         size_t frame_len, uint8_t *out)
{
    size_t bit = in->flip % (frame_len * 8);
    frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int failed = 0;
    size_t len = 0;
    if (bit / 8 < PH_CHACHAPOLY_HDR_LEN) {
        failed = ph_chachapoly_open_header(impl, in->key, in->nonce, frame, &len, NULL) ==
                 PH_ERR_NOISE_BAD_MAC;
    } else {
        memset(out, 0xA5, in->len);
        const uint8_t *ct = frame + PH_CHACHAPOLY_HDR_LEN;
        failed = ph_chachapoly_open_body(impl, in->key, in->nonce + 1, ct, in->len, ct + in->len,
                                         out, NULL) == PH_ERR_NOISE_BAD_MAC;
        for (size_t i = 0; failed && i < in->len; i++)
            failed = out[i] == 0;
    }
    frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    return failed ? 0 : __LINE__;
}

/* seal_many with the input's frame in the middle of `batch` frames of
 * other lengths (consecutive nonces, as a queue's batch). */
static int diff_batch(ph_chachapoly_impl impl, const struct diff_input *in, const uint8_t *pt,
                      const uint8_t *want)
{
    ph_chachapoly_job jobs[DIFF_MAX_BATCH];
    uint8_t hdr[DIFF_MAX_BATCH][PH_CHACHAPOLY_HDR_LEN], mac[DIFF_MAX_BATCH][PH_CHACHAPOLY_TAG_LEN];
    uint8_t *bodies[DIFF_MAX_BATCH] = {0};
    size_t mine = in->batch / 2;
    int rc = 0;
    for (size_t j = 0; j < in->batch; j++) {
        size_t len = j == mine ? in->len : (size_t)(diff_mix(in->seed + j) % 700);
        bodies[j] = malloc(len ? len : 1);
        if (!bodies[j]) {
            rc = __LINE__;
            goto out;
        }
        if (j == mine)
            memcpy(bodies[j], pt, len);
        else
            diff_fill(bodies[j], len, in->seed ^ j);
        /* Frame j sits 2 (j - mine) nonces from the input's (mod 2^64). */
        jobs[j] = (ph_chachapoly_job){.nonce = in->nonce + 2 * (uint64_t)j - 2 * (uint64_t)mine,
                                      .hdr = hdr[j], .body = bodies[j], .len = len,
                                      .mac = mac[j]};
    }
    if (ph_chachapoly_seal_many(impl, in->key, jobs, in->batch)) {
        rc = __LINE__;
        goto out;
    }
    if (memcmp(hdr[mine], want, PH_CHACHAPOLY_HDR_LEN) ||
        (in->len && memcmp(bodies[mine], want + PH_CHACHAPOLY_HDR_LEN, in->len)) ||
        memcmp(mac[mine], want + PH_CHACHAPOLY_HDR_LEN + in->len, PH_CHACHAPOLY_TAG_LEN))
        rc = __LINE__;
out:
    for (size_t j = 0; j < in->batch; j++)
        free(bodies[j]);
    return rc;
}

static int diff_impl(ph_chachapoly_impl impl, const struct diff_input *in, const uint8_t *pt,
                     uint8_t *want, uint8_t *frame, uint8_t *out)
{
    size_t frame_len = PH_CHACHAPOLY_HDR_LEN + in->len + PH_CHACHAPOLY_TAG_LEN;
    uint8_t *body = frame + PH_CHACHAPOLY_HDR_LEN;
    if (in->len)
        memcpy(body, pt, in->len);
    if (ph_chachapoly_seal(impl, in->key, in->nonce, frame, body, in->len, body + in->len))
        return __LINE__;
    if (memcmp(frame, want, frame_len))
        return __LINE__;
    int rc = diff_batch(impl, in, pt, want);
    if (!rc)
        rc = diff_open(impl, in, want, pt, out, 1);
    if (!rc)
        rc = diff_open(impl, in, want, pt, out, 0);
    if (!rc)
        rc = diff_tampered(impl, in, want, frame_len, out);
    return rc;
}

/* One input through every implementation. */
static int ph_chachapoly_diff_one(const uint8_t *data, size_t size)
{
    struct diff_input in;
    diff_parse(data, size, &in);
    size_t frame_len = PH_CHACHAPOLY_HDR_LEN + in.len + PH_CHACHAPOLY_TAG_LEN;
    uint8_t *pt = malloc(in.len ? in.len : 1);
    uint8_t *want = malloc(frame_len), *frame = malloc(frame_len);
    uint8_t *out = malloc(in.len ? in.len : 1);
    int rc = 0;
    if (!pt || !want || !frame || !out) {
        rc = __LINE__;
        goto done;
    }
    diff_fill(pt, in.len, in.seed);
    diff_reference(&in, pt, want);
    for (int i = 0; i < PH_CHACHAPOLY__COUNT && !rc; i++)
        if (ph_chachapoly_supported((ph_chachapoly_impl)i))
            rc = diff_impl((ph_chachapoly_impl)i, &in, pt, want, frame, out);
done:
    free(pt);
    free(want);
    free(frame);
    free(out);
    return rc;
}

#endif
