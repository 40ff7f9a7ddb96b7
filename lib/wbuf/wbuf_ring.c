/* `ring`: a per-peer, grow-only byte ring holding encrypted output.
 *
 * Models Core Lightning's 2026 connectd (commit "connectd: use membuf for
 * more efficient output queue"): each peer has one growable output buffer
 * (`encrypted_peer_out`, a ccan membuf) into which every encrypted frame is
 * appended and from which the socket writes; it is realloc'ed to at least
 * double its size when a frame does not fit and is never shrunk, so a peer
 * keeps the largest backlog it ever had. Here the frame is carved straight
 * from the ring (record, 18-byte header, body, 16-byte MAC, contiguous, so
 * frame.hdr and frame.mac point into the ring and the three pieces can go
 * out in one write) and encrypted in place; CLN instead encrypts into a
 * temporary and copies it in, an extra allocation per message not modelled
 * here. Frames may be outstanding in any number; their space is reclaimed in
 * FIFO order (a frame released early waits for those before it).
 *
 * Differences from membuf, chosen on purpose: a free region at the front is
 * reused by wrapping around (membuf memmoves the data down instead when it
 * is at most half full), and the first allocation is `ring_initial` bytes,
 * made at the first acquire (membuf starts empty and first grows to the
 * first frame's size). Growth is malloc + copy + free rather than realloc so
 * that every allocation the allocator sees is also in the library's counts.
 *
 * Growth moves outstanding frames: the ring rewrites hdr/body/mac of every
 * outstanding ph_wbuf_frame (that is why frames must not be moved), so a
 * caller must reload those pointers after any acquire on the same peer.
 *
 * Growth policy: capacity doubles (repeatedly if needed) when a frame finds
 * no contiguous free space, up to `ring_max`; never shrinks; freed at
 * detach. Acquire returns PH_ERR_AGAIN when the frame does not fit even at
 * `ring_max`; ph_wbuf_create refuses a `ring_max` that could not hold one
 * largest frame, so an empty ring always accepts a frame. */
#include <string.h>
#include "wbuf_impl.h"

/* Precedes each frame in the ring, so that FIFO reclaim needs no side
 * allocation. */
struct ring_rec {
    size_t size;          /* whole chunk, record included */
    ph_wbuf_frame *frame; /* NULL once released */
};

#define ALIGN (sizeof(struct ring_rec) >= 16 ? 16u : 8u)
#define REC_SIZE ((sizeof(struct ring_rec) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

struct ring_peer {
    uint8_t *buf;
    size_t cap;
    size_t head, tail; /* oldest chunk; where the next one goes */
    size_t wrap;       /* when wrapped, end of the older data; else 0 */
    size_t used;       /* bytes in chunks */
    size_t nrec;       /* chunks, released-but-unreclaimed included */
};

static size_t chunk_size(size_t len)
{
    size_t n = REC_SIZE + PH_NOISE_HDR_LEN + len + PH_NOISE_MAC_LEN;
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

static ph_err ring_create(ph_wbuf *w)
{
    if (w->cfg.ring_max < chunk_size(PH_WBUF_MAX_BODY))
        return PH_ERR_ARG;
    if (w->cfg.ring_initial > w->cfg.ring_max)
        return PH_ERR_ARG;
    return PH_OK;
}

static struct ring_rec *rec_at(struct ring_peer *r, size_t off)
{
    return (struct ring_rec *)(void *)(r->buf + off);
}

static void point_frame(struct ring_peer *r, size_t off, ph_wbuf_frame *f)
{
    f->hdr = r->buf + off + REC_SIZE;
    f->body = f->hdr + PH_NOISE_HDR_LEN;
    f->mac = f->body + f->len;
}

/* Offset for `need` contiguous bytes, or (size_t)-1. */
static size_t reserve(struct ring_peer *r, size_t need)
{
    size_t off;
    if (!r->nrec)
        r->head = r->tail = r->wrap = 0;
    if (!r->wrap && r->cap - r->tail >= need) {
        off = r->tail;
    } else if (!r->wrap && r->head >= need) {
        r->wrap = r->tail;
        off = 0;
    } else if (r->wrap && r->head - r->tail >= need) {
        off = r->tail;
    } else {
        return (size_t)-1;
    }
    r->tail = off + need;
    r->used += need;
    r->nrec++;
    return off;
}

/* Copies the chunks, oldest first, to the start of a bigger ring and
 * repoints the outstanding frames. */
static ph_err grow(ph_wbuf_peer *p, struct ring_peer *r, size_t need)
{
    size_t max = p->w->cfg.ring_max;
    size_t cap = r->cap ? r->cap * 2 : p->w->cfg.ring_initial;
    while (cap < r->used + need && cap < max)
        cap *= 2;
    if (cap > max)
        cap = max;
    if (cap < r->used + need)
        return PH_ERR_AGAIN;
    uint8_t *nb = ph_wbuf__alloc(p->w, cap, 0);
    if (!nb)
        return PH_ERR_NOMEM;
    size_t n = 0;
    if (r->nrec) {
        size_t top = r->wrap ? r->wrap : r->tail;
        memcpy(nb, r->buf + r->head, top - r->head);
        n = top - r->head;
        if (r->wrap) {
            memcpy(nb + n, r->buf, r->tail);
            n += r->tail;
        }
    }
    ph_wbuf__free(p->w, r->buf, r->cap);
    ph_wbuf__unhold(p, r->cap);
    ph_wbuf__hold(p, cap);
    r->buf = nb;
    r->cap = cap;
    r->head = r->wrap = 0;
    r->tail = n;
    for (size_t off = 0; off < n; off += rec_at(r, off)->size) {
        struct ring_rec *rec = rec_at(r, off);
        if (rec->frame)
            point_frame(r, off, rec->frame);
    }
    return PH_OK;
}

static ph_err ring_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)now_ns;
    struct ring_peer *r = ph_wbuf__peer_state(p);
    size_t need = chunk_size(len);
    size_t off = reserve(r, need);
    if (off == (size_t)-1) {
        ph_err err = grow(p, r, need);
        if (err)
            return err;
        off = reserve(r, need);
    }
    struct ring_rec *rec = rec_at(r, off);
    rec->size = need;
    rec->frame = f;
    point_frame(r, off, f);
    return PH_OK;
}

static void reclaim(struct ring_peer *r)
{
    while (r->nrec && !rec_at(r, r->head)->frame) {
        size_t size = rec_at(r, r->head)->size;
        r->head += size;
        r->used -= size;
        r->nrec--;
        if (r->wrap && r->head == r->wrap)
            r->head = r->wrap = 0;
    }
    if (!r->nrec)
        r->head = r->tail = r->wrap = 0;
}

static void ring_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)now_ns;
    struct ring_peer *r = ph_wbuf__peer_state(p);
    rec_at(r, (size_t)(f->hdr - REC_SIZE - r->buf))->frame = NULL;
    reclaim(r);
}

static void ring_detach(ph_wbuf_peer *p)
{
    struct ring_peer *r = ph_wbuf__peer_state(p);
    ph_wbuf__free(p->w, r->buf, r->cap);
    ph_wbuf__unhold(p, r->cap);
    r->buf = NULL;
    r->cap = 0;
}

const struct ph_wbuf_ops ph_wbuf_ops_ring = {
    .name = "ring",
    /* A ring exists to hold many frames: as many as the queue allows. */
    .preferred_batch = 64,
    .peer_state_size = sizeof(struct ring_peer),
    .create = ring_create,
    .detach = ring_detach,
    .acquire = ring_acquire,
    .release = ring_release,
};
