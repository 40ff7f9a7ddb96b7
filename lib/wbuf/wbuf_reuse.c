/* `reuse`: one 65,535-byte buffer per peer, allocated when the peer
 * attaches and kept until it detaches.
 *
 * Models lnd's April 2018 fix: the peer struct embedded a fixed
 * [lnwire.MaxMessagePayload]byte array used to serialise every outgoing
 * message, so per-message allocations vanished but every connected peer,
 * busy or idle, costs 64 KiB (jemalloc's class for 65,535 bytes). Go zeroes
 * the array once, at peer creation, so it is calloc'ed at attach and not
 * cleared between messages.
 *
 * Growth policy: none; exactly one buffer per peer for its whole life. The
 * buffer serves one frame at a time: acquire returns PH_ERR_AGAIN while the
 * previous frame is still being written. */
#include "wbuf_impl.h"

struct reuse_peer {
    uint8_t *buf;
    int out; /* the buffer is on a frame not yet released */
};

static ph_err reuse_attach(ph_wbuf_peer *p)
{
    struct reuse_peer *rp = ph_wbuf__peer_state(p);
    rp->buf = ph_wbuf__alloc(p->w, PH_WBUF_MAX_BODY, 1);
    if (!rp->buf)
        return PH_ERR_NOMEM;
    ph_wbuf__hold(p, PH_WBUF_MAX_BODY);
    return PH_OK;
}

static void reuse_detach(ph_wbuf_peer *p)
{
    struct reuse_peer *rp = ph_wbuf__peer_state(p);
    ph_wbuf__free(p->w, rp->buf, PH_WBUF_MAX_BODY);
    ph_wbuf__unhold(p, PH_WBUF_MAX_BODY);
    rp->buf = NULL;
}

static ph_err reuse_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)len;
    (void)now_ns;
    struct reuse_peer *rp = ph_wbuf__peer_state(p);
    if (rp->out)
        return PH_ERR_AGAIN;
    rp->out = 1;
    f->body = rp->buf;
    return PH_OK;
}

static void reuse_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)f;
    (void)now_ns;
    struct reuse_peer *rp = ph_wbuf__peer_state(p);
    rp->out = 0;
}

const struct ph_wbuf_ops ph_wbuf_ops_reuse = {
    .name = "reuse",
    .peer_state_size = sizeof(struct reuse_peer),
    .attach = reuse_attach,
    .detach = reuse_detach,
    .acquire = reuse_acquire,
    .release = reuse_release,
};
