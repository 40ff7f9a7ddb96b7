/* Write-buffer strategies: where the bytes of an outgoing message live
 * between "encode" and "the socket took the whole frame".
 *
 * The write path of every peer (live or replayed) is:
 *   acquire a frame (body capacity >= encoded length) from the strategy
 *   -> encode the message into frame.body
 *   -> ph_noise_encrypt_detached(hdr, body, len, mac)   (in place)
 *   -> writev(hdr 18, body len, mac 16), resuming partial writes
 *   -> release the frame once every byte is written.
 * The header and MAC are kept apart from the body so that a 65,535-byte
 * buffer holds the largest message: a contiguous frame would need 65,569
 * bytes, which jemalloc rounds up to its 80 KiB size class.
 *
 * One ph_wbuf (the strategy instance, possibly shared state such as a pool)
 * serves many ph_wbuf_peer (per-connection state). Implementations live in
 * lib/wbuf_<name>.c, each documenting the design it models.
 *
 * Time: strategies with expiry take `now_ns` from the caller (monotonic
 * nanoseconds, or virtual time in the deterministic model sink) so that runs
 * are reproducible; nothing here reads a clock.
 *
 * Ownership: ph_wbuf_create returns a strategy owned by the caller; every
 * ph_wbuf_peer must be detached before ph_wbuf_destroy. A frame's memory is
 * owned by the strategy; the caller must not move a ph_wbuf_frame between
 * acquire and release (hdr/mac may point into it, and the strategy links
 * outstanding frames through `priv`). A later acquire on the same peer may
 * move the bytes of outstanding frames (ring growth) and updates their
 * hdr/body/mac: read those from the frame after every acquire, never cache
 * them. Releasing a frame the peer does not have out is ignored; acquiring
 * into a frame still out is a caller bug (PH_ERR_STATE when it is the
 * peer's newest or oldest frame, undetected otherwise).
 *
 * Errors: PH_ERR_STRATEGY_UNKNOWN (name), PH_ERR_NOMEM, PH_ERR_ARG (len >
 * 65,535), PH_ERR_AGAIN from acquire when the strategy cannot hand out a
 * frame now (reuse: its one buffer is still being written; pool: worker
 * limit reached; ring: cap reached) - write out pending frames and retry. */
#ifndef PH_WBUF_H
#define PH_WBUF_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "noise.h"

typedef struct ph_wbuf ph_wbuf;
typedef struct ph_wbuf_peer ph_wbuf_peer;

typedef struct ph_wbuf_config {
    size_t pool_workers;       /* pool: most buffers out at once (0 = default 100) */
    size_t pool_idle_max;      /* pool: most idle buffers kept (0 = default = workers) */
    uint64_t pool_expiry_ns;   /* pool: free a buffer idle this long (0 = default 30 s) */
    size_t ring_initial;       /* ring: first allocation (0 = default 4096) */
    size_t ring_max;           /* ring: hard cap per peer (0 = default 16 MiB) */
    size_t tiered_per_class;   /* tiered: idle buffers kept per class (0 = default 64) */
} ph_wbuf_config;

typedef struct ph_wbuf_frame {
    uint8_t *hdr;   /* 18 bytes: encrypted length + its MAC */
    uint8_t *body;  /* capacity >= the len asked for */
    uint8_t *mac;   /* 16 bytes: body MAC */
    size_t len;     /* plaintext length; set by acquire from its argument */
    uint8_t hdr_space[PH_NOISE_HDR_LEN];
    uint8_t mac_space[PH_NOISE_MAC_LEN];
    void *priv;     /* strategy's handle for release */
} ph_wbuf_frame;

/* Counters kept by the strategy itself (independent of jemalloc), so tests
 * can check the allocator's figures against them. */
typedef struct ph_wbuf_stats {
    uint64_t acquires, releases, would_block;
    uint64_t buffers_allocated, buffers_freed; /* malloc/free calls made for buffers */
    uint64_t bytes_requested;                  /* sum of sizes passed to malloc/realloc */
    uint64_t held_bytes, peak_held_bytes;      /* buffer bytes currently owned */
} ph_wbuf_stats;

/* Names: "fresh", "exact", "reuse", "pool", "ring", "tiered". `cfg` may be NULL. */
PH_MUST_USE
ph_err ph_wbuf_create(ph_wbuf **out, const char *name, const ph_wbuf_config *cfg);
void ph_wbuf_destroy(ph_wbuf *w);
const char *ph_wbuf_name(const ph_wbuf *w);
/* Frames per write the strategy prefers (0 = no preference). */
size_t ph_wbuf_preferred_batch(const ph_wbuf_peer *p);

PH_MUST_USE
ph_err ph_wbuf_peer_attach(ph_wbuf *w, ph_wbuf_peer **out);
/* Frees what the peer holds. Frames not yet released are released first. */
void ph_wbuf_peer_detach(ph_wbuf_peer *p);

PH_MUST_USE
ph_err ph_wbuf_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns);
void ph_wbuf_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns);
/* Let time-based policies (pool expiry) run. Cheap; call on a timer. */
void ph_wbuf_tick(ph_wbuf *w, uint64_t now_ns);

void ph_wbuf_get_stats(const ph_wbuf *w, ph_wbuf_stats *out);
/* Buffer bytes this peer owns right now (what an idle peer costs). */
size_t ph_wbuf_peer_held(const ph_wbuf_peer *p);
/* Buffers this peer owns right now (a ring counts as one). */
size_t ph_wbuf_peer_buffers(const ph_wbuf_peer *p);

/* All strategy names, NULL-terminated, in the order reports use. */
const char *const *ph_wbuf_names(void);

#endif
