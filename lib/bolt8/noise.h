/* BOLT 8 transport: Noise_XK_secp256k1_ChaChaPoly_SHA256.
 *
 * Two objects:
 *   ph_noise_hs  - one handshake in progress (initiator or responder). Small
 *                  (a few hundred bytes): a connection that never finishes
 *                  act 1 costs only this.
 *   ph_noise     - an established transport: a send and a receive cipher
 *                  state, each with its own key, chaining key and nonce, each
 *                  rotated independently when its nonce reaches 1000.
 *
 * Ownership: every object returned through an out-pointer belongs to the
 * caller and is released with its destroy function, which wipes all secret
 * material with sodium_memzero. Input buffers are only read during the call.
 *
 * Errors: functions return PH_OK or a ph_err (see error.h); on error the
 * object is left in a state where only destroy is meaningful, except where
 * noted. Every handshake failure has its own code:
 *   PH_ERR_NOISE_SHORT_READ   act shorter than 50/50/66 bytes
 *   PH_ERR_NOISE_BAD_VERSION  version byte not 0
 *   PH_ERR_NOISE_BAD_PUBKEY   point not on the curve
 *   PH_ERR_NOISE_BAD_TAG      act MAC mismatch (checked in constant time)
 *
 * ph_noise_global_init() must be called once before anything else (it calls
 * sodium_init and is idempotent; PH_ERR_IO if libsodium cannot start); everything else is reentrant, with no hidden
 * global state (each object owns its secp256k1 context pointer or borrows the
 * one passed in). */
#ifndef PH_NOISE_H
#define PH_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "chachapoly.h"
#include "error.h"

#define PH_NOISE_ACT1_LEN 50
#define PH_NOISE_ACT2_LEN 50
#define PH_NOISE_ACT3_LEN 66
#define PH_NOISE_MAX_MSG 65535u   /* largest plaintext message */
#define PH_NOISE_HDR_LEN 18u      /* encrypted 2-byte length + 16-byte MAC */
#define PH_NOISE_MAC_LEN 16u
#define PH_NOISE_OVERHEAD 34u     /* per frame: header + body MAC */
#define PH_NOISE_ROTATE_AT 1000u  /* nonce value that triggers key rotation */

typedef struct ph_noise_hs ph_noise_hs;
typedef struct ph_noise ph_noise;

/* Called once per key, for each direction, when the first frame under that
 * key is encrypted (send) or its length header decrypted (receive): at the
 * handshake's first message and after every rotation. `mac` is the 16-byte
 * MAC of that first encrypted length header, `key` the 32-byte key. This is
 * what a key log line records. Secrets: `key` is only valid during the call. */
typedef void (*ph_noise_key_cb)(void *ctx, const uint8_t mac[16], const uint8_t key[32]);

PH_MUST_USE
ph_err ph_noise_global_init(void);

/* Derive the 33-byte compressed public key of a 32-byte private key. */
PH_MUST_USE
ph_err ph_noise_pubkey(const uint8_t priv[32], uint8_t pub33[33]);

/* Start a handshake. `local_priv` is our static key. `remote_pub33` is the
 * responder's static key for an initiator, NULL for a responder.
 * `ephemeral_priv` injects the ephemeral key (tests, vectors); NULL draws a
 * random one. Errors: PH_ERR_NOISE_BAD_KEY (a private key is invalid),
 * PH_ERR_NOISE_BAD_PUBKEY (remote_pub33 is not a point), PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_noise_hs_create(ph_noise_hs **out, const uint8_t local_priv[32],
                          const uint8_t *remote_pub33, const uint8_t *ephemeral_priv);
void ph_noise_hs_destroy(ph_noise_hs *hs);

/* Acts, in order: initiator act1_write, responder act1_read, responder
 * act2_write, initiator act2_read, initiator act3_write, responder act3_read.
 * `in_len` lets the reader report a short act as PH_ERR_NOISE_SHORT_READ;
 * only the act's first 50/50/66 bytes are read when more are passed (so a
 * buffer holding act 3 and the first frame can be handed over as is).
 * Calling an act out of order or for the wrong role gives PH_ERR_STATE. */
PH_MUST_USE
ph_err ph_noise_act1_write(ph_noise_hs *hs, uint8_t out[PH_NOISE_ACT1_LEN]);
PH_MUST_USE
ph_err ph_noise_act1_read(ph_noise_hs *hs, const uint8_t *in, size_t in_len);
PH_MUST_USE
ph_err ph_noise_act2_write(ph_noise_hs *hs, uint8_t out[PH_NOISE_ACT2_LEN]);
PH_MUST_USE
ph_err ph_noise_act2_read(ph_noise_hs *hs, const uint8_t *in, size_t in_len);
PH_MUST_USE
ph_err ph_noise_act3_write(ph_noise_hs *hs, uint8_t out[PH_NOISE_ACT3_LEN]);
PH_MUST_USE
ph_err ph_noise_act3_read(ph_noise_hs *hs, const uint8_t *in, size_t in_len);

/* The remote static key: known to an initiator from the start, to a
 * responder after act3_read. PH_ERR_STATE before that. */
PH_MUST_USE
ph_err ph_noise_hs_remote_pubkey(const ph_noise_hs *hs, uint8_t pub33[33]);

/* For tests against the vectors: the current h and ck (32 bytes each). */
PH_NONNULL(1, 2, 3)
void ph_noise_hs_debug_state(const ph_noise_hs *hs, uint8_t h[32], uint8_t ck[32]);

/* After the last act, turn the handshake into a transport. The handshake
 * object is not consumed (destroy it separately). */
PH_MUST_USE
ph_err ph_noise_hs_finish(ph_noise_hs *hs, ph_noise **out);

/* A transport from known keys. Passing NULL for a chaining key makes that
 * direction unable to rotate by itself: when its nonce reaches 1000 the next
 * operation returns PH_ERR_NOISE_NEED_KEY until ph_noise_set_*_key() supplies
 * the next key (this is how a capture is decrypted from a key log). Either
 * direction's key may be NULL when that direction is never used. */
PH_MUST_USE
ph_err ph_noise_create_from_keys(ph_noise **out,
                                 const uint8_t *send_key, const uint8_t *send_ck,
                                 const uint8_t *recv_key, const uint8_t *recv_ck);
void ph_noise_destroy(ph_noise *n);

/* The frames' cipher code (chachapoly.h): a new transport takes
 * ph_chachapoly_best(); set_impl pins another one (tests, benchmarks);
 * PH_ERR_ARG when this CPU cannot run it. Both ends of a session may use
 * different ones: the bytes are the same. */
PH_MUST_USE
ph_err ph_noise_set_impl(ph_noise *n, ph_chachapoly_impl impl);
PH_NONNULL(1)
ph_chachapoly_impl ph_noise_impl(const ph_noise *n);

/* Install a key-log callback (NULL to remove). */
PH_NONNULL(1)
void ph_noise_set_key_cb(ph_noise *n, ph_noise_key_cb cb, void *ctx);

/* Replace a direction's key after PH_ERR_NOISE_NEED_KEY; resets its nonce.
 * The direction keeps no chaining key afterwards (it will stop again at its
 * next rotation). A direction created with a NULL key starts in the
 * NEED_KEY state, so a decoder can start with no keys at all and supply
 * each key, first one included, as it is asked for. */
PH_MUST_USE
ph_err ph_noise_set_recv_key(ph_noise *n, const uint8_t key[32]);
PH_MUST_USE
ph_err ph_noise_set_send_key(ph_noise *n, const uint8_t key[32]);

/* Current nonce of each direction (0..999; a direction without chaining
 * key stays at 1000 after its last message under a key, until its next key
 * is set). */
PH_NONNULL(1)
uint64_t ph_noise_send_nonce(const ph_noise *n);
PH_NONNULL(1)
uint64_t ph_noise_recv_nonce(const ph_noise *n);

/* Encrypt one message, detached: the body is encrypted in place so that a
 * write buffer of exactly 65,535 bytes can hold the largest message (the
 * 18-byte header and 16-byte MAC live in the caller's small arrays; write
 * them with writev as hdr, body, mac). `len` <= 65,535 or PH_ERR_NOISE_TOO_LONG. */
PH_MUST_USE
ph_err ph_noise_encrypt_detached(ph_noise *n, uint8_t hdr[PH_NOISE_HDR_LEN],
                                 uint8_t *body, size_t len, uint8_t mac[PH_NOISE_MAC_LEN]);

/* Encrypt several messages, in order: the same bytes, nonces, rotations
 * and key-callback calls as one ph_noise_encrypt_detached per frame, with
 * the frames' keystream computed together (chachapoly.h). Nothing is
 * encrypted unless every frame is valid (errors as above). */
typedef struct ph_noise_frame {
    uint8_t *hdr;   /* PH_NOISE_HDR_LEN bytes out */
    uint8_t *body;  /* len bytes, encrypted in place */
    size_t len;
    uint8_t *mac;   /* PH_NOISE_MAC_LEN bytes out */
} ph_noise_frame;

PH_MUST_USE
ph_err ph_noise_encrypt_many(ph_noise *n, const ph_noise_frame *frames, size_t count);

/* Encrypt one message into a contiguous frame: out must hold len + 34 bytes.
 * `msg` and `out` must not overlap. */
PH_MUST_USE
ph_err ph_noise_encrypt(ph_noise *n, const uint8_t *msg, size_t len, uint8_t *out);

/* Streaming decrypt over arbitrary chunks (TCP has no message boundaries).
 * Consumes bytes from `in` (sets *used, possibly less than in_len: stop at
 * one message) and buffers partial frames internally. When a whole message
 * is decrypted, *msg points at its plaintext (valid until the next call on
 * `n`; the buffer is reused frame after frame, grown as needed, until
 * ph_noise_rx_release) and *msg_len is set; otherwise *msg is NULL and *need says how many
 * more bytes complete the current header or body. Errors: PH_ERR_NOISE_BAD_MAC
 * (fatal for the session), PH_ERR_NOISE_NEED_KEY (recoverable: set the key,
 * call again with the same bytes; nothing was consumed; it is only returned
 * between frames, so the next frame's header, whose bytes 2..17 are the MAC
 * a key log is searched by, starts at `in`), PH_ERR_NOMEM (recoverable: the
 * bytes reported in *used are kept; call again). The key callback fires
 * only after the header's MAC has verified. */
PH_MUST_USE
ph_err ph_noise_decrypt_feed(ph_noise *n, const uint8_t *in, size_t in_len, size_t *used,
                             const uint8_t **msg, size_t *msg_len, size_t *need);

/* The caller is done with the last message decrypt_feed handed out: the
 * receive buffer is freed, so a connection that has gone quiet holds none
 * (the next frame allocates it again). Does nothing in the middle of a
 * frame. */
void ph_noise_rx_release(ph_noise *n);

/* After PH_ERR_NOISE_BAD_MAC from ph_noise_decrypt_feed: true when the
 * frame's length header had authenticated and its body's MAC failed
 * (*body_len, may be NULL, is that body's length): the key was right and
 * the body's bytes are damaged. False when the header failed. */
bool ph_noise_recv_body_failed(const ph_noise *n, size_t *body_len);
/* After a body MAC failure: drop that frame and go on with the next one
 * (the nonce moves past the failed body, rotating as it would have).
 * PH_ERR_STATE when the last failure was not a body's. */
PH_MUST_USE
ph_err ph_noise_recv_skip_frame(ph_noise *n);

/* A length header that failed to authenticate under `key` at receive nonce
 * `nonce`: whether another value of its two ciphertext length bytes
 * authenticates with the header's MAC, i.e. the key is right and those
 * bytes were damaged; *len (may be NULL) gets the length that value
 * decrypts to. 65,536 Poly1305 evaluations (milliseconds): for telling
 * what went wrong, not for the data path. */
bool ph_noise_header_repairable(const uint8_t key[32], uint64_t nonce,
                                const uint8_t hdr[PH_NOISE_HDR_LEN], size_t *len);

/* Bytes held by the transport's receive buffer (for memory accounting): the
 * partial header plus the heap buffer frames are received into (kept
 * between frames until ph_noise_rx_release). */
size_t ph_noise_rx_buffered(const ph_noise *n);

/* Whether part of a frame (some of its header or body) has been fed and the
 * frame is not complete yet: how a reader bounds the time a frame may take. */
bool ph_noise_rx_in_frame(const ph_noise *n);

#endif
