/* Write-buffer strategy dispatcher: name lookup, argument checks, the
 * bookkeeping every strategy shares, and the library's own counters. */
#include <stdlib.h>
#include <string.h>
#include "wbuf.h"
#include "wbuf_impl.h"

#define DEFAULT_POOL_WORKERS 100u
#define DEFAULT_POOL_EXPIRY_NS (30ull * 1000000000ull)
#define DEFAULT_RING_INITIAL 4096u
#define DEFAULT_RING_MAX (16u * 1024u * 1024u)
#define DEFAULT_TIERED_PER_CLASS 64u

/* Report order: the historical sequence, then the newer designs. */
static const struct ph_wbuf_ops *const strategies[] = {
    &ph_wbuf_ops_fresh, &ph_wbuf_ops_exact, &ph_wbuf_ops_reuse,
    &ph_wbuf_ops_pool,  &ph_wbuf_ops_ring,  &ph_wbuf_ops_tiered,
};
#define N_STRATEGIES (sizeof strategies / sizeof strategies[0])

static const char *const names[N_STRATEGIES + 1] = {
    "fresh", "exact", "reuse", "pool", "ring", "tiered", NULL,
};

const char *const *ph_wbuf_names(void)
{
    return names;
}

static void see_time(ph_wbuf *w, uint64_t now_ns)
{
    if (now_ns > w->now_ns)
        w->now_ns = now_ns;
}

static const struct ph_wbuf_ops *find_ops(const char *name)
{
    for (size_t i = 0; i < N_STRATEGIES; i++)
        if (strcmp(strategies[i]->name, name) == 0)
            return strategies[i];
    return NULL;
}

static void resolve_config(ph_wbuf_config *c, const ph_wbuf_config *in)
{
    if (in)
        *c = *in;
    else
        memset(c, 0, sizeof *c);
    if (!c->pool_workers)
        c->pool_workers = DEFAULT_POOL_WORKERS;
    /* More idle buffers than workers can never exist: buffers are only
     * made while fewer than `workers` are out and none is idle. */
    if (!c->pool_idle_max || c->pool_idle_max > c->pool_workers)
        c->pool_idle_max = c->pool_workers;
    if (!c->pool_expiry_ns)
        c->pool_expiry_ns = DEFAULT_POOL_EXPIRY_NS;
    if (!c->ring_initial)
        c->ring_initial = DEFAULT_RING_INITIAL;
    if (!c->ring_max)
        c->ring_max = DEFAULT_RING_MAX;
    if (!c->tiered_per_class)
        c->tiered_per_class = DEFAULT_TIERED_PER_CLASS;
}

ph_err ph_wbuf_create(ph_wbuf **out, const char *name, const ph_wbuf_config *cfg)
{
    if (!out || !name)
        return PH_ERR_ARG;
    *out = NULL;
    const struct ph_wbuf_ops *ops = find_ops(name);
    if (!ops)
        return PH_ERR_STRATEGY_UNKNOWN;
    ph_wbuf *w = calloc(1, sizeof *w + ops->shared_state_size);
    if (!w)
        return PH_ERR_NOMEM;
    w->ops = ops;
    resolve_config(&w->cfg, cfg);
    if (ops->create) {
        ph_err err = ops->create(w);
        if (err) {
            free(w);
            return err;
        }
    }
    *out = w;
    return PH_OK;
}

void ph_wbuf_destroy(ph_wbuf *w)
{
    if (!w)
        return;
    /* Contract breach by the caller, but leaking is worse than tidying. */
    while (w->peers)
        ph_wbuf_peer_detach(w->peers);
    if (w->ops->destroy)
        w->ops->destroy(w);
    free(w);
}

size_t ph_wbuf_preferred_batch(const ph_wbuf_peer *p)
{
    return p ? p->w->ops->preferred_batch : 0;
}

const char *ph_wbuf_name(const ph_wbuf *w)
{
    return w ? w->ops->name : NULL;
}

ph_err ph_wbuf_peer_attach(ph_wbuf *w, ph_wbuf_peer **out)
{
    if (!w || !out)
        return PH_ERR_ARG;
    *out = NULL;
    ph_wbuf_peer *p = calloc(1, sizeof *p + w->ops->peer_state_size);
    if (!p)
        return PH_ERR_NOMEM;
    p->w = w;
    if (w->ops->attach) {
        ph_err err = w->ops->attach(p);
        if (err) {
            free(p);
            return err;
        }
    }
    p->next = w->peers;
    if (w->peers)
        w->peers->prev = p;
    w->peers = p;
    *out = p;
    return PH_OK;
}

/* Unlink `f` from the outstanding list. Frames are nearly always released
 * in acquire order, so the walk almost always stops at the head. */
static int unlink_frame(ph_wbuf_peer *p, ph_wbuf_frame *f)
{
    ph_wbuf_frame *prev = NULL;
    for (ph_wbuf_frame *cur = p->out_head; cur; prev = cur, cur = cur->priv) {
        if (cur != f)
            continue;
        if (prev)
            prev->priv = cur->priv;
        else
            p->out_head = cur->priv;
        if (p->out_tail == cur)
            p->out_tail = prev;
        cur->priv = NULL;
        return 1;
    }
    return 0;
}

void ph_wbuf_peer_detach(ph_wbuf_peer *p)
{
    if (!p)
        return;
    ph_wbuf *w = p->w;
    /* The peer is going away: no caller will ever release these. They are
     * released "now", the latest time any caller told us. */
    while (p->out_head)
        ph_wbuf_release(p, p->out_head, w->now_ns);
    if (w->ops->detach)
        w->ops->detach(p);
    if (p->prev)
        p->prev->next = p->next;
    else
        w->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p);
}

ph_err ph_wbuf_acquire(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now_ns)
{
    if (!p || !f)
        return PH_ERR_ARG;
    if (len > PH_WBUF_MAX_BODY)
        return PH_ERR_ARG;
    /* Re-using a frame that is still out would corrupt the list; the
     * usual slip (the frame just acquired, or the oldest) costs nothing to
     * catch. */
    if (f == p->out_head || f == p->out_tail)
        return PH_ERR_STATE;
    ph_wbuf *w = p->w;
    see_time(w, now_ns);
    f->len = len;
    f->hdr = f->hdr_space;
    f->mac = f->mac_space;
    f->body = NULL;
    f->priv = NULL;
    ph_err err = w->ops->acquire(p, len, f, now_ns);
    if (err == PH_ERR_AGAIN)
        w->stats.would_block++;
    if (err)
        return err;
    w->stats.acquires++;
    if (p->out_tail)
        p->out_tail->priv = f;
    else
        p->out_head = f;
    p->out_tail = f;
    return PH_OK;
}

void ph_wbuf_release(ph_wbuf_peer *p, ph_wbuf_frame *f, uint64_t now_ns)
{
    if (!p || !f)
        return;
    /* A frame this peer does not have out (double release, wrong peer) is
     * ignored rather than freed twice. */
    if (!unlink_frame(p, f))
        return;
    see_time(p->w, now_ns);
    p->w->ops->release(p, f, now_ns);
    p->w->stats.releases++;
    f->hdr = f->body = f->mac = NULL;
}

void ph_wbuf_tick(ph_wbuf *w, uint64_t now_ns)
{
    if (!w)
        return;
    see_time(w, now_ns);
    if (w->ops->tick)
        w->ops->tick(w, now_ns);
}

void ph_wbuf_get_stats(const ph_wbuf *w, ph_wbuf_stats *out)
{
    if (!out)
        return;
    if (!w) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = w->stats;
}

size_t ph_wbuf_peer_held(const ph_wbuf_peer *p)
{
    return p ? p->held : 0;
}

size_t ph_wbuf_peer_buffers(const ph_wbuf_peer *p)
{
    return p ? p->buffers : 0;
}

/* Zeroed buffers are cleared with memset, not calloc: jemalloc zeroes a
 * large recycled block by madvise(MADV_DONTNEED) and the page faults that
 * follow (about 5 us per 64 KiB buffer here), where the runtimes modelled
 * (Go's make) clear reused memory in user space. The barrier keeps the
 * compiler from turning malloc + memset back into calloc. */
void *ph_wbuf__alloc(ph_wbuf *w, size_t size, int zeroed)
{
    void *buf = malloc(size);
    if (!buf)
        return NULL;
    __asm__ __volatile__("" : : "r"(buf) : "memory");
    if (zeroed)
        memset(buf, 0, size);
    w->stats.buffers_allocated++;
    w->stats.bytes_requested += size;
    w->stats.held_bytes += size;
    if (w->stats.held_bytes > w->stats.peak_held_bytes)
        w->stats.peak_held_bytes = w->stats.held_bytes;
    return buf;
}

void ph_wbuf__free(ph_wbuf *w, void *buf, size_t size)
{
    if (!buf)
        return;
    __asm__ __volatile__("" : : "r"(buf) : "memory");
    free(buf);
    w->stats.buffers_freed++;
    w->stats.held_bytes -= size;
}

void ph_wbuf__hold(ph_wbuf_peer *p, size_t n)
{
    p->held += n;
    p->buffers += n > 0; /* the ring's first growth undoes a hold of nothing */
}

void ph_wbuf__unhold(ph_wbuf_peer *p, size_t n)
{
    p->held -= n;
    p->buffers -= n > 0;
}

ph_err ph_wbuf__idle_init(struct ph_wbuf__idle *q, size_t cap)
{
    q->head = q->count = 0;
    q->cap = cap;
    q->e = calloc(cap ? cap : 1, sizeof *q->e);
    return q->e ? PH_OK : PH_ERR_NOMEM;
}

void ph_wbuf__idle_fini(ph_wbuf *w, struct ph_wbuf__idle *q, size_t bufsize)
{
    uint8_t *buf;
    while ((buf = ph_wbuf__idle_take_oldest(q)))
        ph_wbuf__free(w, buf, bufsize);
    free(q->e);
    q->e = NULL;
}

int ph_wbuf__idle_push(struct ph_wbuf__idle *q, uint8_t *buf, uint64_t now_ns)
{
    if (q->count >= q->cap)
        return 0;
    struct ph_wbuf__idle_entry *e = &q->e[(q->head + q->count) % q->cap];
    e->buf = buf;
    e->since = now_ns;
    q->count++;
    return 1;
}

uint8_t *ph_wbuf__idle_take_oldest(struct ph_wbuf__idle *q)
{
    if (!q->count)
        return NULL;
    uint8_t *buf = q->e[q->head].buf;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return buf;
}

uint8_t *ph_wbuf__idle_take_newest(struct ph_wbuf__idle *q)
{
    if (!q->count)
        return NULL;
    q->count--;
    return q->e[(q->head + q->count) % q->cap].buf;
}

size_t ph_wbuf__idle_expire(ph_wbuf *w, struct ph_wbuf__idle *q, size_t bufsize,
                            uint64_t now_ns, uint64_t expiry_ns)
{
    size_t n = 0;
    /* Stamps only grow from head to tail, so the first young entry ends the
     * sweep. A clock that went backwards expires nothing. */
    while (q->count) {
        uint64_t since = q->e[q->head].since;
        if (now_ns <= since || now_ns - since <= expiry_ns)
            break;
        ph_wbuf__free(w, ph_wbuf__idle_take_oldest(q), bufsize);
        n++;
    }
    return n;
}
