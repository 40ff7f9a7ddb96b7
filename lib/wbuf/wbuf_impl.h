/* Internal contract between the dispatcher (lib/wbuf.c) and the strategies
 * (lib/wbuf_<name>.c). Not part of the public API: callers use lib/wbuf.h.
 *
 * The dispatcher owns what every strategy shares: argument checks, the
 * list of attached peers, each peer's list of outstanding frames (so that
 * detach can release them), and the statistics. A strategy only decides
 * where a frame's bytes live. It must allocate and free buffer memory
 * through ph_wbuf__alloc/ph_wbuf__free so that the library's own counters
 * stay exact, and report what a peer owns through ph_wbuf__hold/unhold.
 *
 * Outstanding frames are linked through ph_wbuf_frame.priv, so strategies
 * must find their buffer from hdr/body/len, never from priv. */
#ifndef PH_WBUF_IMPL_H
#define PH_WBUF_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include "wbuf.h"

/* Largest BOLT 8 plaintext, i.e. the largest body a frame must hold. */
#define PH_WBUF_MAX_BODY 65535u

struct ph_wbuf_ops {
    const char *name;
    /* Frames the strategy wants the queue to fill per write (0: the queue's
     * default). The ring holds many frames by design; the others are
     * indifferent. Every user of the strategy - the live peer and the
     * replay alike - takes it from here. */
    size_t preferred_batch;
    size_t peer_state_size;   /* per-peer bytes allocated with the peer */
    size_t shared_state_size; /* per-strategy bytes allocated with the ph_wbuf */
    /* All hooks may be NULL except acquire and release. */
    ph_err (*create)(ph_wbuf *w);
    void (*destroy)(ph_wbuf *w);      /* every peer already detached */
    ph_err (*attach)(ph_wbuf_peer *p);
    void (*detach)(ph_wbuf_peer *p);  /* every frame already released */
    /* len <= PH_WBUF_MAX_BODY; f->len, hdr and mac already point at the
     * frame's own hdr_space/mac_space; set body (and hdr/mac if the
     * strategy places them elsewhere). */
    ph_err (*acquire)(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns);
    void (*release)(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns);
    void (*tick)(ph_wbuf *w, uint64_t now_ns);
};

struct ph_wbuf {
    const struct ph_wbuf_ops *ops;
    ph_wbuf_config cfg;   /* defaults resolved */
    ph_wbuf_stats stats;
    ph_wbuf_peer *peers;  /* attached peers, so destroy can detach stragglers */
    uint64_t now_ns;      /* latest time a caller passed in */
    max_align_t shared[]; /* ops->shared_state_size bytes */
};

struct ph_wbuf_peer {
    ph_wbuf *w;
    ph_wbuf_peer *prev, *next;
    ph_wbuf_frame *out_head, *out_tail; /* acquire order */
    size_t held;
    size_t buffers;       /* ph_wbuf__hold calls not yet undone */
    max_align_t state[];  /* ops->peer_state_size bytes */
};

extern const struct ph_wbuf_ops ph_wbuf_ops_fresh;
extern const struct ph_wbuf_ops ph_wbuf_ops_exact;
extern const struct ph_wbuf_ops ph_wbuf_ops_reuse;
extern const struct ph_wbuf_ops ph_wbuf_ops_pool;
extern const struct ph_wbuf_ops ph_wbuf_ops_ring;
extern const struct ph_wbuf_ops ph_wbuf_ops_tiered;

/* Buffer memory, counted in ph_wbuf_stats. `zeroed` asks for calloc: the
 * strategies that model Go code use it because Go's make() zeroes. The
 * pointer is passed through an empty asm so that no compiler can prove the
 * buffer unused and delete a malloc/free pair. */
void *ph_wbuf__alloc(ph_wbuf *w, size_t size, int zeroed);
void ph_wbuf__free(ph_wbuf *w, void *buf, size_t size);

/* Bytes a peer owns (ph_wbuf_peer_held): one hold per buffer the peer
 * owns, undone by one unhold, so that the holds outstanding are the peer's
 * buffers (ph_wbuf_peer_buffers); a hold or unhold of 0 bytes is no buffer. */
void ph_wbuf__hold(ph_wbuf_peer *p, size_t n);
void ph_wbuf__unhold(ph_wbuf_peer *p, size_t n);

/* Idle buffers of one size, oldest first, each stamped with the time it
 * went idle: the free list of `pool` and of each `tiered` class. The entry
 * array is sized once, so keeping and expiring buffers never allocates. */
struct ph_wbuf__idle_entry {
    uint8_t *buf;
    uint64_t since;
};
struct ph_wbuf__idle {
    struct ph_wbuf__idle_entry *e;
    size_t cap, head, count;
};
PH_MUST_USE
ph_err ph_wbuf__idle_init(struct ph_wbuf__idle *q, size_t cap);
/* Frees every idle buffer (each `bufsize` bytes) and the entry array. */
void ph_wbuf__idle_fini(ph_wbuf *w, struct ph_wbuf__idle *q, size_t bufsize);
/* 0 when full: the caller then frees the buffer itself. */
int ph_wbuf__idle_push(struct ph_wbuf__idle *q, uint8_t *buf, uint64_t now_ns);
uint8_t *ph_wbuf__idle_take_oldest(struct ph_wbuf__idle *q);
uint8_t *ph_wbuf__idle_take_newest(struct ph_wbuf__idle *q);
/* Frees buffers idle for more than expiry_ns; returns how many. */
size_t ph_wbuf__idle_expire(ph_wbuf *w, struct ph_wbuf__idle *q, size_t bufsize,
                            uint64_t now_ns, uint64_t expiry_ns);

static inline void *ph_wbuf__peer_state(ph_wbuf_peer *p) { return p->state; }
static inline void *ph_wbuf__shared(ph_wbuf *w) { return w->shared; }

#endif
