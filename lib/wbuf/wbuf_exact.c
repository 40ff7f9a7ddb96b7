/* `exact`: a new buffer of exactly the encoded size for every message,
 * freed once the message is written.
 *
 * Models Core Lightning before 2026 and LDK: both serialise each message
 * into a freshly allocated array of its own length (CLN's towire_* into a
 * tal array, LDK's encode into a Vec), then encrypt into another buffer of
 * len + 34 (CLN) or encrypt in a len + 34 Vec (LDK). Only the plaintext
 * buffer is modelled here, because the BOLT 8 header and MAC live in the
 * frame (see wbuf.h), so these figures are a lower bound for both: they
 * isolate what sizing a buffer to its message saves. C and Rust do not zero
 * new memory, so the buffer is malloc'ed. jemalloc rounds each request up
 * to its size class: a 138-byte channel_update costs 160 bytes.
 *
 * Growth policy: none; one exact-size buffer per message in flight, nothing
 * kept between messages. Never returns PH_ERR_AGAIN. */
#include "wbuf_impl.h"

/* malloc(0) may return NULL on success; an empty body still needs a
 * distinct pointer, so ask for one byte. */
static size_t exact_size(size_t len)
{
    return len ? len : 1;
}

static ph_err exact_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)now_ns;
    size_t size = exact_size(len);
    f->body = ph_wbuf__alloc(p->w, size, 0);
    if (!f->body)
        return PH_ERR_NOMEM;
    ph_wbuf__hold(p, size);
    return PH_OK;
}

static void exact_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)now_ns;
    size_t size = exact_size(f->len);
    ph_wbuf__free(p->w, f->body, size);
    ph_wbuf__unhold(p, size);
}

const struct ph_wbuf_ops ph_wbuf_ops_exact = {
    .name = "exact",
    .acquire = exact_acquire,
    .release = exact_release,
};
