/* `fresh`: a new 65,535-byte buffer for every message, freed once the
 * message is written.
 *
 * Models lnd before April 2018: the peer's writeMessage made a new
 * lnwire.MaxMessagePayload (65,535-byte) slice for each outgoing message,
 * however small, and left it to the garbage collector. Go zeroes what make()
 * returns, so the buffer is calloc'ed. The body is exactly 65,535 bytes
 * because the BOLT 8 header and MAC live in the frame (see wbuf.h): jemalloc
 * serves 65,535 from its 64 KiB size class, whereas a contiguous 65,569-byte
 * frame would fall into the 80 KiB class.
 *
 * Growth policy: none; one maximal buffer per message in flight, nothing
 * kept between messages. Never returns PH_ERR_AGAIN. */
#include "wbuf_impl.h"

static ph_err fresh_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)len;
    (void)now_ns;
    f->body = ph_wbuf__alloc(p->w, PH_WBUF_MAX_BODY, 1);
    if (!f->body)
        return PH_ERR_NOMEM;
    ph_wbuf__hold(p, PH_WBUF_MAX_BODY);
    return PH_OK;
}

static void fresh_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)now_ns;
    ph_wbuf__free(p->w, f->body, PH_WBUF_MAX_BODY);
    ph_wbuf__unhold(p, PH_WBUF_MAX_BODY);
}

const struct ph_wbuf_ops ph_wbuf_ops_fresh = {
    .name = "fresh",
    .acquire = fresh_acquire,
    .release = fresh_release,
};
