/* `pool`: a pool of 65,535-byte buffers shared by every peer, with a limit
 * on how many are out at once and idle expiry.
 *
 * Models lnd's 2019 write pool (lnd PRs 2385 and 2474: pool.WriteBuffer over
 * queue.GCQueue, driven by pool.Write's workers). In lnd a buffer.Write is a
 * [65,535]byte array (zeroed when new, as Go does); at most `workers` of
 * them serve writes at once; a buffer that is returned goes to the back of
 * a free list stamped with the time, the next taker gets the one at the
 * front (the longest idle, as GCQueue and Go's FIFO channel hand-off do),
 * and a periodic sweep frees buffers idle longer than the expiry. So under
 * a steady trickle every pooled buffer keeps getting touched and none
 * expires; only a quiet spell shrinks the pool.
 *
 * Mapping to the options in ph_wbuf_config:
 *   pool_workers    lnd's write worker count (lnd's default is 8 because
 *                   lnd holds a buffer only while encoding and copies the
 *                   ciphertext out; here the frame holds the buffer until
 *                   the socket has taken it, so the default is 100);
 *   pool_expiry_ns  GCQueue's expiry interval (30 s). lnd's worker also
 *                   keeps its buffer for a 90 s idle timeout before handing
 *                   it to the queue, and sweeps run every 15 s, so lnd frees
 *                   an idle buffer 120-135 s after its last use; set 120 s
 *                   to match it. Sweeps happen in ph_wbuf_tick, at the
 *                   caller's interval (lnd's gcInterval);
 *   pool_idle_max   how many idle buffers are kept at most; a buffer
 *                   returned to a full free list is freed at once (lnd
 *                   drops a return when its return queue is full). It can
 *                   never exceed pool_workers.
 * Not modelled: GCQueue eagerly makes one buffer whenever its free list is
 * empty (a goroutine-scheduling artefact that would put the pool one buffer
 * over its worker count).
 *
 * Growth policy: a new buffer only when none is idle and fewer than
 * `workers` are out; shrinks only by expiry. Acquire returns PH_ERR_AGAIN
 * when `workers` buffers are out (lnd would block the writer instead). */
#include "wbuf_impl.h"

struct pool_shared {
    struct ph_wbuf__idle idle;
    size_t out; /* buffers on frames not yet released */
};

static ph_err pool_create(ph_wbuf *w)
{
    struct pool_shared *ps = ph_wbuf__shared(w);
    return ph_wbuf__idle_init(&ps->idle, w->cfg.pool_idle_max);
}

static void pool_destroy(ph_wbuf *w)
{
    struct pool_shared *ps = ph_wbuf__shared(w);
    ph_wbuf__idle_fini(w, &ps->idle, PH_WBUF_MAX_BODY);
}

static ph_err pool_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    (void)len;
    (void)now_ns;
    ph_wbuf *w = p->w;
    struct pool_shared *ps = ph_wbuf__shared(w);
    if (ps->out >= w->cfg.pool_workers)
        return PH_ERR_AGAIN;
    uint8_t *buf = ph_wbuf__idle_take_oldest(&ps->idle);
    if (!buf)
        buf = ph_wbuf__alloc(w, PH_WBUF_MAX_BODY, 1);
    if (!buf)
        return PH_ERR_NOMEM;
    ps->out++;
    f->body = buf;
    ph_wbuf__hold(p, PH_WBUF_MAX_BODY);
    return PH_OK;
}

static void pool_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    ph_wbuf *w = p->w;
    struct pool_shared *ps = ph_wbuf__shared(w);
    ps->out--;
    ph_wbuf__unhold(p, PH_WBUF_MAX_BODY);
    if (!ph_wbuf__idle_push(&ps->idle, f->body, now_ns))
        ph_wbuf__free(w, f->body, PH_WBUF_MAX_BODY);
}

static void pool_tick(ph_wbuf *w, uint64_t now_ns)
{
    struct pool_shared *ps = ph_wbuf__shared(w);
    ph_wbuf__idle_expire(w, &ps->idle, PH_WBUF_MAX_BODY, now_ns, w->cfg.pool_expiry_ns);
}

const struct ph_wbuf_ops ph_wbuf_ops_pool = {
    .name = "pool",
    .shared_state_size = sizeof(struct pool_shared),
    .create = pool_create,
    .destroy = pool_destroy,
    .acquire = pool_acquire,
    .release = pool_release,
    .tick = pool_tick,
};
