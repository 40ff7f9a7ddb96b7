#include "modelconn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memtag.h"

struct end {
    ph_conn base;
    struct pair *pair;
    int idx;
    bool alive;
    bool shut_wr;          /* we sent FIN */
    bool uncounted;
    unsigned mask;
    ph_conn_ready_fn fn;
    void *ctx;
    uint64_t timer;
    /* receive buffer: a ring of what the other end sent us */
    uint8_t *buf;
    size_t cap, head, used;
    ph_modelconn_stats st;
};

struct pair {
    ph_ev *ev;
    struct end e[2];
    struct ph_endpoint addr[2];
    int dispatching;       /* callbacks on the stack: free later */
};

static const ph_conn_ops model_ops;

static struct end *end_of(ph_conn *c)
{
    return (struct end *)c;
}

static struct end *other(struct end *e)
{
    return &e->pair->e[1 - e->idx];
}

static void pair_maybe_free(struct pair *p)
{
    if (p->e[0].alive || p->e[1].alive || p->dispatching)
        return;
    free(p->e[0].buf);
    free(p->e[1].buf);
    free(p);
}

static bool eof_for(struct end *e)
{
    struct end *o = other(e);
    return !o->alive || o->shut_wr;
}

static size_t room_in(const struct end *e)
{
    return e->cap - e->used;
}

static unsigned readiness(struct end *e)
{
    unsigned r = 0;
    struct end *o = other(e);
    if (e->used || eof_for(e))
        r |= PH_EV_READ;
    if (!o->alive || room_in(o) >= o->cap / 3)
        r |= PH_EV_WRITE;
    return r;
}

static void dispatch_cb(ph_ev *ev, uint64_t id, void *ctx);

static void schedule(struct end *e)
{
    if (!e->alive || !e->fn || e->timer || !(readiness(e) & e->mask))
        return;
    ph_memtag *tag = ph_ev_memtag(e->pair->ev);
    bool saved = ph_memtag_uncounted(tag, e->uncounted);
    if (ph_ev_timer_add(e->pair->ev, 0, dispatch_cb, e, &e->timer) != PH_OK)
        e->timer = 0;
    ph_memtag_uncounted(tag, saved);
}

static void dispatch_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    struct end *e = ctx;
    struct pair *p = e->pair;
    e->timer = 0;
    unsigned ready = readiness(e) & e->mask;
    if (!ready || !e->fn)
        return;
    p->dispatching++;
    e->fn(&e->base, ready, e->ctx);
    p->dispatching--;
    if (e->alive)
        schedule(e); /* level-triggered: still ready, called again next iteration */
    pair_maybe_free(p);
}

static ssize_t m_recv(ph_conn *c, void *buf, size_t len)
{
    struct end *e = end_of(c);
    if (!e->used) {
        if (eof_for(e))
            return 0;
        errno = EAGAIN;
        return -1;
    }
    size_t n = len < e->used ? len : e->used;
    size_t first = e->cap - e->head;
    if (first > n)
        first = n;
    memcpy(buf, e->buf + e->head, first);
    memcpy((uint8_t *)buf + first, e->buf, n - first);
    e->head = (e->head + n) % e->cap;
    e->used -= n;
    schedule(other(e)); /* room for the writer */
    return (ssize_t)n;
}

static ssize_t m_sendv(ph_conn *c, const struct iovec *iov, int iovcnt)
{
    struct end *e = end_of(c);
    struct end *o = other(e);
    if (!o->alive || e->shut_wr) {
        errno = EPIPE;
        return -1;
    }
    size_t offered = 0;
    for (int i = 0; i < iovcnt; i++)
        offered += iov[i].iov_len;
    size_t room = room_in(o);
    if (!room) {
        e->st.would_block++;
        errno = EAGAIN;
        return -1;
    }
    size_t take = offered < room ? offered : room;
    size_t left = take;
    for (int i = 0; i < iovcnt && left; i++) {
        const uint8_t *src = iov[i].iov_base;
        size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
        size_t tail = (o->head + o->used) % o->cap;
        size_t first = o->cap - tail;
        if (first > n)
            first = n;
        memcpy(o->buf + tail, src, first);
        memcpy(o->buf, src + first, n - first);
        o->used += n;
        left -= n;
    }
    e->st.sends++;
    e->st.bytes_sent += take;
    if (take < offered)
        e->st.partial_sends++;
    if (o->used > e->st.peak_unread)
        e->st.peak_unread = o->used;
    schedule(o);
    return (ssize_t)take;
}

static ph_err m_watch(ph_conn *c, unsigned mask, ph_conn_ready_fn fn, void *ctx)
{
    struct end *e = end_of(c);
    e->mask = mask;
    e->fn = fn;
    e->ctx = ctx;
    schedule(e);
    return PH_OK;
}

static int m_connect_error(ph_conn *c)
{
    (void)c;
    return 0;
}

static void m_shutdown_write(ph_conn *c)
{
    struct end *e = end_of(c);
    e->shut_wr = true;
    schedule(other(e));
}

static bool m_endpoints(const ph_conn *c, struct ph_endpoint *local, struct ph_endpoint *remote)
{
    const struct end *e = (const struct end *)c;
    if (local)
        *local = e->pair->addr[e->idx];
    if (remote)
        *remote = e->pair->addr[1 - e->idx];
    return e->pair->addr[0].family != 0;
}

static void m_destroy(ph_conn *c)
{
    struct end *e = end_of(c);
    if (e->timer)
        ph_ev_timer_cancel(e->pair->ev, e->timer);
    e->timer = 0;
    e->alive = false;
    e->fn = NULL;
    struct pair *p = e->pair;
    schedule(other(e)); /* it reads end of stream */
    pair_maybe_free(p);
}

static const ph_conn_ops model_ops = {
    .kind = "model",
    .recv = m_recv,
    .sendv = m_sendv,
    .watch = m_watch,
    .connect_error = m_connect_error,
    .shutdown_write = m_shutdown_write,
    .endpoints = m_endpoints,
    .destroy = m_destroy,
};

ph_err ph_modelconn_pair(ph_ev *ev, const ph_modelconn_config *cfg, ph_conn **end0,
                         ph_conn **end1)
{
    if (!ev || !cfg || !end0 || !end1)
        return PH_ERR_ARG;
    struct pair *p = calloc(1, sizeof *p);
    if (!p)
        return PH_ERR_NOMEM;
    p->ev = ev;
    for (int i = 0; i < 2; i++) {
        struct end *e = &p->e[i];
        e->base.ops = &model_ops;
        e->pair = p;
        e->idx = i;
        e->alive = true;
        e->uncounted = cfg->uncounted[i];
        e->cap = cfg->capacity[i] ? cfg->capacity[i] : PH_MODELCONN_DEFAULT_CAPACITY;
        e->buf = malloc(e->cap);
        p->addr[i] = cfg->addr[i];
    }
    if (!p->e[0].buf || !p->e[1].buf) {
        free(p->e[0].buf);
        free(p->e[1].buf);
        free(p);
        return PH_ERR_NOMEM;
    }
    *end0 = &p->e[0].base;
    *end1 = &p->e[1].base;
    return PH_OK;
}

bool ph_conn_is_model(const ph_conn *c)
{
    return c && c->ops == &model_ops;
}

void ph_modelconn_get_stats(const ph_conn *end, ph_modelconn_stats *out)
{
    memset(out, 0, sizeof *out);
    if (ph_conn_is_model(end))
        *out = ((const struct end *)end)->st;
}

size_t ph_modelconn_unread(const ph_conn *end)
{
    return ph_conn_is_model(end) ? ((const struct end *)end)->used : 0;
}
