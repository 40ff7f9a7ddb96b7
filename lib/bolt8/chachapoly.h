/* ChaCha20-Poly1305 (RFC 8439) for BOLT 8 frames, with our own vectorised
 * ChaCha20.
 *
 * A BOLT 8 frame is two AEAD encryptions under one key: the 2-byte length
 * at nonce n, the body at nonce n + 1. For a short message most of the cost
 * of doing that with two libsodium calls is fixed per call: each computes
 * its Poly1305 key block and its keystream one 64-byte block at a time. Here
 * one AVX2 pass computes eight blocks at once: the header's Poly1305 key and
 * keystream, the body's Poly1305 key and its first 320 bytes of keystream;
 * longer bodies take further passes of eight blocks. Poly1305 is libsodium's
 * (crypto_onetimeauth_poly1305), tags are compared in constant time
 * (crypto_verify_16).
 *
 * Implementations (chosen per call, so that tests can run both and a
 * transport can be pinned to one):
 *   PH_CHACHAPOLY_LIBSODIUM  libsodium's crypto_aead_chacha20poly1305_ietf
 *                            calls: any CPU, the reference;
 *   PH_CHACHAPOLY_AVX2       our eight-block ChaCha20 (x86-64 with AVX2).
 * ph_chachapoly_best() asks the CPU (and the OS, for the AVX state) at run
 * time; nothing is cached. Every implementation gives the same bytes: the
 * tests check the BOLT 8 vectors and random frames against libsodium.
 *
 * Nonces are BOLT 8's: 32 zero bits then the 64-bit counter, little-endian.
 * The caller keeps counting (and rotating keys); n + 1 wraps like any
 * uint64_t.
 *
 * Secrets: keys are borrowed for the call; keystream and Poly1305 keys live
 * on the stack or in a ph_chachapoly_ks, wiped with sodium_memzero.
 * sodium_init() must have been called (ph_noise_global_init does). */
#ifndef PH_CHACHAPOLY_H
#define PH_CHACHAPOLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define PH_CHACHAPOLY_HDR_LEN 18u /* encrypted 2-byte length + its 16-byte tag */
#define PH_CHACHAPOLY_TAG_LEN 16u
#define PH_CHACHAPOLY_MAX_MSG 65535u

typedef enum ph_chachapoly_impl {
    PH_CHACHAPOLY_LIBSODIUM,
    PH_CHACHAPOLY_AVX2,
    PH_CHACHAPOLY__COUNT
} ph_chachapoly_impl;

/* The fastest implementation this CPU runs (PH_CHACHAPOLY_LIBSODIUM when no
 * other one can run). */
ph_chachapoly_impl ph_chachapoly_best(void);
/* Whether this CPU runs `impl`. */
bool ph_chachapoly_supported(ph_chachapoly_impl impl);
/* "libsodium", "avx2"; "?" for anything else. */
const char *ph_chachapoly_impl_name(ph_chachapoly_impl impl);

/* Keystream a header open computed for its body, kept for the body's open
 * when the body is already at hand (scratch on the caller's stack; wiped by
 * ph_chachapoly_ks_wipe, which every path that filled it must call). */
typedef struct ph_chachapoly_ks {
    uint8_t pass[8 * 64];       /* the header's pass: the body's Poly1305 key and
                                   keystream (counters 1..5) are in its lanes 2..7 */
    uint64_t nonce;             /* the body's nonce */
    bool valid;
} ph_chachapoly_ks;

void ph_chachapoly_ks_wipe(ph_chachapoly_ks *ks);

/* Seal one frame: `hdr` gets the encrypted length and its tag (nonce n),
 * `body` (len bytes) is encrypted in place and its tag goes to `mac` (nonce
 * n + 1). Errors: PH_ERR_NOISE_TOO_LONG (len > 65,535), PH_ERR_ARG (an
 * unsupported impl, or body NULL with len > 0). */
PH_MUST_USE
ph_err ph_chachapoly_seal(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t n,
                          uint8_t hdr[PH_CHACHAPOLY_HDR_LEN], uint8_t *body, size_t len,
                          uint8_t mac[PH_CHACHAPOLY_TAG_LEN]);

/* Several frames under one key, each at its own header nonce (consecutive
 * frames: n, n + 2, ...): the same bytes as one seal per frame, with the
 * frames' keystream blocks packed into shared passes. Nothing is written
 * unless every job is valid (errors as ph_chachapoly_seal). */
typedef struct ph_chachapoly_job {
    uint64_t nonce;              /* the header's; the body's is nonce + 1 */
    uint8_t *hdr;                /* PH_CHACHAPOLY_HDR_LEN bytes out */
    uint8_t *body;               /* len bytes, encrypted in place */
    size_t len;
    uint8_t *mac;                /* PH_CHACHAPOLY_TAG_LEN bytes out */
} ph_chachapoly_job;

PH_MUST_USE
ph_err ph_chachapoly_seal_many(ph_chachapoly_impl impl, const uint8_t key[32],
                               const ph_chachapoly_job *jobs, size_t n);

/* Open a frame's header (nonce n): *len gets the body's length. `ks` may be
 * NULL; otherwise it receives the keystream of the body (nonce n + 1) when
 * the implementation computed it on the way (the AVX2 pass does), to be
 * passed to ph_chachapoly_open_body and wiped. Errors: PH_ERR_NOISE_BAD_MAC
 * (nothing written), PH_ERR_ARG. */
PH_MUST_USE
ph_err ph_chachapoly_open_header(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t n,
                                 const uint8_t hdr[PH_CHACHAPOLY_HDR_LEN], size_t *len,
                                 ph_chachapoly_ks *ks);

/* Open a frame's body (nonce n, i.e. the header's + 1): the tag is checked
 * first, in constant time, and only then `len` bytes of `ct` are decrypted
 * into `out` (which may be `ct`). `ks` may be NULL or what the header's open
 * left (used only if it is for this nonce). Errors: PH_ERR_NOISE_BAD_MAC
 * (`out` is zeroed, as libsodium does: never a byte of unauthenticated
 * plaintext), PH_ERR_NOISE_TOO_LONG, PH_ERR_ARG. */
PH_MUST_USE
ph_err ph_chachapoly_open_body(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t n,
                               const uint8_t *ct, size_t len,
                               const uint8_t mac[PH_CHACHAPOLY_TAG_LEN], uint8_t *out,
                               const ph_chachapoly_ks *ks);

#endif
