/* `tiered`: pools by size class, 256 B / 1 KiB / 4 KiB / 16 KiB / 64 KiB;
 * each message takes a buffer from the smallest class that holds it.
 *
 * Models lnd's proposed tiered pools (lnd issue 10246, PRs 10457 and 10949):
 * brontide's single pool of maximum-size body buffers replaced by one
 * sync.Pool per class, the class chosen from the plaintext length, buffers
 * returned to the pool of their class. lnd's tiers hold the body plus its
 * 16-byte MAC (its top tier, 65,551 bytes, would fall into jemalloc's
 * 80 KiB class); here header and MAC live in the frame (see wbuf.h), so the
 * classes are exactly 256, 1,024, 4,096, 16,384 and 65,535 bytes, each
 * exactly one jemalloc size class (65,535 is served from 64 KiB).
 *
 * sync.Pool keeps no fixed number of buffers and Go's garbage collector
 * empties it over two collection cycles; here each class keeps at most
 * `tiered_per_class` idle buffers (a return beyond that frees the buffer)
 * and ph_wbuf_tick frees buffers idle longer than `pool_expiry_ns`, standing
 * in for the collector. A class hands out its most recently returned buffer
 * first, as sync.Pool's per-P cache does. New buffers are calloc'ed (Go's
 * make zeroes); returned ones are not cleared.
 *
 * Growth policy: a new buffer whenever the class has none idle; no limit on
 * buffers out, so acquire never returns PH_ERR_AGAIN; shrinks by the
 * per-class cap and by expiry. */
#include "wbuf_impl.h"

static const size_t class_size[] = {256, 1024, 4096, 16384, PH_WBUF_MAX_BODY};
#define N_CLASSES (sizeof class_size / sizeof class_size[0])

struct tiered_shared {
    struct ph_wbuf__idle idle[N_CLASSES];
};

static size_t class_of(size_t len)
{
    size_t c = 0;
    while (c + 1 < N_CLASSES && len > class_size[c])
        c++;
    return c;
}

static void tiered_destroy(ph_wbuf *w)
{
    struct tiered_shared *ts = ph_wbuf__shared(w);
    for (size_t c = 0; c < N_CLASSES; c++)
        if (ts->idle[c].e)
            ph_wbuf__idle_fini(w, &ts->idle[c], class_size[c]);
}

static ph_err tiered_create(ph_wbuf *w)
{
    struct tiered_shared *ts = ph_wbuf__shared(w);
    for (size_t c = 0; c < N_CLASSES; c++) {
        ph_err err = ph_wbuf__idle_init(&ts->idle[c], w->cfg.tiered_per_class);
        if (err) {
            tiered_destroy(w);
            return err;
        }
    }
    return PH_OK;
}

static ph_err tiered_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)now_ns;
    struct tiered_shared *ts = ph_wbuf__shared(p->w);
    size_t c = class_of(len);
    uint8_t *buf = ph_wbuf__idle_take_newest(&ts->idle[c]);
    if (!buf)
        buf = ph_wbuf__alloc(p->w, class_size[c], 1);
    if (!buf)
        return PH_ERR_NOMEM;
    f->body = buf;
    ph_wbuf__hold(p, class_size[c]);
    return PH_OK;
}

static void tiered_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    struct tiered_shared *ts = ph_wbuf__shared(p->w);
    size_t c = class_of(f->len);
    ph_wbuf__unhold(p, class_size[c]);
    if (!ph_wbuf__idle_push(&ts->idle[c], f->body, now_ns))
        ph_wbuf__free(p->w, f->body, class_size[c]);
}

static void tiered_tick(ph_wbuf *w, uint64_t now_ns)
{
    struct tiered_shared *ts = ph_wbuf__shared(w);
    for (size_t c = 0; c < N_CLASSES; c++)
        ph_wbuf__idle_expire(w, &ts->idle[c], class_size[c], now_ns, w->cfg.pool_expiry_ns);
}

const struct ph_wbuf_ops ph_wbuf_ops_tiered = {
    .name = "tiered",
    .shared_state_size = sizeof(struct tiered_shared),
    .create = tiered_create,
    .destroy = tiered_destroy,
    .acquire = tiered_acquire,
    .release = tiered_release,
    .tick = tiered_tick,
};
