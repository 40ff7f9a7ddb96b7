#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "memtag.h"

/* ---- shared messages ---- */

struct ph_outq_msg {
    unsigned refs;
    uint16_t type;
    size_t len;
    ph_wire_msg *wire; /* NULL: the bytes follow in data[] */
    uint8_t data[];
};

ph_err ph_outq_msg_copy(ph_outq_msg **out, const uint8_t *bytes, size_t len)
{
    if (len < 2 || len > PH_NOISE_MAX_MSG)
        return PH_ERR_ARG;
    ph_outq_msg *m = malloc(sizeof *m + len);
    if (!m)
        return PH_ERR_NOMEM;
    m->refs = 1;
    m->type = ph_wire_type_of(bytes);
    m->len = len;
    m->wire = NULL;
    memcpy(m->data, bytes, len);
    *out = m;
    return PH_OK;
}

ph_err ph_outq_msg_encode(ph_outq_msg **out, const ph_wire_view_ops *ops, const void *view)
{
    size_t len = ops->len(view);
    if (len < 2 || len > PH_NOISE_MAX_MSG)
        return PH_ERR_ARG;
    ph_outq_msg *m = malloc(sizeof *m + len);
    if (!m)
        return PH_ERR_NOMEM;
    ph_err err = ops->encode(view, m->data, len, NULL);
    if (err) {
        free(m);
        return err;
    }
    m->refs = 1;
    m->type = ops->type;
    m->len = len;
    m->wire = NULL;
    *out = m;
    return PH_OK;
}

ph_err ph_outq_msg_wire(ph_outq_msg **out, ph_wire_msg *w)
{
    size_t len = ph_wire_encoded_len(w);
    if (len < 2 || len > PH_NOISE_MAX_MSG) {
        ph_wire_msg_free(w);
        return PH_ERR_ARG;
    }
    ph_outq_msg *m = malloc(sizeof *m);
    if (!m) {
        ph_wire_msg_free(w);
        return PH_ERR_NOMEM;
    }
    m->refs = 1;
    m->type = ph_wire_msg_type(w);
    m->len = len;
    m->wire = w;
    *out = m;
    return PH_OK;
}

ph_outq_msg *ph_outq_msg_ref(ph_outq_msg *m)
{
    m->refs++;
    return m;
}

void ph_outq_msg_unref(ph_outq_msg *m)
{
    if (!m || --m->refs)
        return;
    ph_wire_msg_free(m->wire);
    free(m);
}

static void msg_unref_cb(void *obj)
{
    ph_outq_msg_unref(obj);
}

size_t ph_outq_msg_len(const ph_outq_msg *m)
{
    return m->len;
}

uint16_t ph_outq_msg_type(const ph_outq_msg *m)
{
    return m->type;
}

const uint8_t *ph_outq_msg_bytes(const ph_outq_msg *m)
{
    return m->wire ? NULL : m->data;
}

/* ---- the queue ---- */

struct entry {
    const uint8_t *bytes;      /* NULL when `wire` is set */
    const ph_wire_msg *wire;
    void (*unref)(void *obj);
    void *obj;
    uint32_t len;
    uint16_t type;
    uint8_t flags;
};

struct inflight {
    ph_wbuf_frame f;
    size_t len;   /* plaintext */
    size_t done;  /* wire bytes of this frame already written */
    uint16_t type;
};

#define RING_INITIAL 8u         /* a power of two, as every size after it */
#define RING_SHRINK_ABOVE 256u

/* ph_outq_stats but the figures computed when asked (queued_msgs,
 * queued_bytes, inflight_frames, wbuf_held): kept small, it is in every
 * connected peer. */
struct counters {
    ph_msgcounts out;
    uint64_t msgs_out, bytes_out, wire_bytes_out, writes, partial_writes, would_block;
    uint64_t wbuf_starved, relay_dropped, relay_dropped_bytes, encode_errors;
    uint64_t peak_queued_bytes;
};

/* An idle queue holds only this struct: the entry ring and the in-flight
 * frame slots are allocated when a burst needs them and released by
 * ph_outq_trim once the queue has been idle. */
struct ph_outq {
    ph_noise *noise;
    ph_wbuf_peer *wb;
    ph_outq_sink sink;
    size_t soft_cap, hard_cap;
    size_t flush_budget;
    ph_memtag *tag;

    struct entry *ring;          /* NULL while idle */
    uint32_t cap, head, count;
    uint8_t batch;
    uint8_t fl_first, fl_n;      /* in-flight frames are fl[fl_first .. fl_n) */
    bool starved;
    bool in_refill;
    bool yielded;                /* the last flush stopped at its budget */
    size_t waiting_bytes;
    struct inflight *fl;         /* `batch` slots; NULL while idle */
    size_t inflight_left;        /* wire bytes of in-flight frames not written */

    size_t low_water;
    ph_outq_refill_fn refill;
    void *refill_ctx;
    ph_outq_frame_fn on_frame;
    void *on_frame_ctx;

    struct counters st;
};

ph_err ph_outq_create(ph_outq **out, ph_noise *noise, ph_wbuf_peer *wb,
                      const ph_outq_sink *sink, const ph_outq_config *cfg)
{
    if (!noise || !wb || !sink)
        return PH_ERR_ARG;
    /* What the strategy prefers, unless the owner says otherwise. */
    size_t batch = cfg && cfg->max_batch ? cfg->max_batch : ph_wbuf_preferred_batch(wb);
    if (!batch)
        batch = PH_OUTQ_DEFAULT_BATCH;
    if (batch > PH_OUTQ_MAX_BATCH)
        return PH_ERR_ARG;
    ph_memtag *tag = cfg ? cfg->tag : NULL;
    uint8_t row = ph_memtag_row(tag, PH_MEMROW_QUEUE);
    ph_outq *q = calloc(1, sizeof *q);
    ph_memtag_row(tag, row);
    if (!q)
        return PH_ERR_NOMEM;
    q->noise = noise;
    q->wb = wb;
    q->sink = *sink;
    q->batch = (uint8_t)batch;
    q->tag = tag;
    q->flush_budget = cfg && cfg->flush_budget ? cfg->flush_budget : PH_OUTQ_DEFAULT_FLUSH_BUDGET;
    q->soft_cap = cfg && cfg->soft_cap ? cfg->soft_cap : PH_OUTQ_DEFAULT_SOFT_CAP;
    q->hard_cap = cfg && cfg->hard_cap ? cfg->hard_cap : PH_OUTQ_DEFAULT_HARD_CAP;
    if (q->hard_cap < q->soft_cap)
        q->hard_cap = q->soft_cap;
    *out = q;
    return PH_OK;
}

static void entry_drop(struct entry *e)
{
    if (e->unref)
        e->unref(e->obj);
}

void ph_outq_destroy(ph_outq *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->count; i++)
        entry_drop(&q->ring[(q->head + i) & (q->cap - 1)]);
    for (size_t i = q->fl_first; i < q->fl_n; i++)
        ph_wbuf_release(q->wb, &q->fl[i].f, 0);
    free(q->fl);
    free(q->ring);
    ph_msgcounts_release(&q->st.out);
    free(q);
}

void ph_outq_trim(ph_outq *q)
{
    if (ph_outq_pending(q))
        return;
    free(q->fl);
    q->fl = NULL;
    q->fl_first = q->fl_n = 0;
    free(q->ring);
    q->ring = NULL;
    q->cap = q->head = 0;
}

void ph_outq_set_sink(ph_outq *q, const ph_outq_sink *sink)
{
    q->sink = *sink;
}

void ph_outq_set_frame_observer(ph_outq *q, ph_outq_frame_fn fn, void *ctx)
{
    q->on_frame = fn;
    q->on_frame_ctx = ctx;
}

void ph_outq_set_refill(ph_outq *q, size_t low_water, ph_outq_refill_fn fn, void *ctx)
{
    q->low_water = low_water;
    q->refill = fn;
    q->refill_ctx = ctx;
}

size_t ph_outq_queued_bytes(const ph_outq *q)
{
    return q->waiting_bytes + q->inflight_left;
}

size_t ph_outq_waiting_bytes(const ph_outq *q)
{
    return q->waiting_bytes;
}

size_t ph_outq_soft_cap(const ph_outq *q)
{
    return q->soft_cap;
}

uint64_t ph_outq_relay_dropped(const ph_outq *q)
{
    return q->st.relay_dropped;
}

bool ph_outq_pending(const ph_outq *q)
{
    return q->count > 0 || q->fl_first < q->fl_n;
}

bool ph_outq_wbuf_starved(const ph_outq *q)
{
    return q->starved;
}

bool ph_outq_yielded(const ph_outq *q)
{
    return q->yielded;
}

size_t ph_outq_self_bytes(const ph_outq *q)
{
    return sizeof *q + (q->fl ? q->batch * sizeof q->fl[0] : 0) + q->cap * sizeof *q->ring +
           ph_msgcounts_heap_bytes(&q->st.out);
}

void ph_outq_get_stats(const ph_outq *q, ph_outq_stats *out)
{
    const struct counters *c = &q->st;
    memset(out, 0, sizeof *out);
    ph_msgcounts_get(&c->out, out->out);
    out->msgs_out = c->msgs_out;
    out->bytes_out = c->bytes_out;
    out->wire_bytes_out = c->wire_bytes_out;
    out->writes = c->writes;
    out->partial_writes = c->partial_writes;
    out->would_block = c->would_block;
    out->wbuf_starved = c->wbuf_starved;
    out->relay_dropped = c->relay_dropped;
    out->relay_dropped_bytes = c->relay_dropped_bytes;
    out->encode_errors = c->encode_errors;
    out->peak_queued_bytes = c->peak_queued_bytes;
    out->queued_msgs = q->count;
    out->queued_bytes = ph_outq_queued_bytes(q);
    out->inflight_frames = q->fl_n - q->fl_first;
    out->wbuf_held = ph_wbuf_peer_held(q->wb);
    out->wbuf_buffers = ph_wbuf_peer_buffers(q->wb);
}

static ph_err ring_grow(ph_outq *q)
{
    size_t ncap = q->cap ? (size_t)q->cap * 2 : RING_INITIAL;
    if (ncap > UINT32_MAX)
        return PH_ERR_NOMEM;
    uint8_t row = ph_memtag_row(q->tag, PH_MEMROW_QUEUE);
    struct entry *r = malloc(ncap * sizeof *r);
    ph_memtag_row(q->tag, row);
    if (!r)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < q->count; i++)
        r[i] = q->ring[(q->head + i) & (q->cap - 1)];
    free(q->ring);
    q->ring = r;
    q->cap = (uint32_t)ncap;
    q->head = 0;
    return PH_OK;
}

/* After a burst the ring goes back to its small size, so an idle peer does
 * not keep the burst's high-water mark. */
static void ring_maybe_shrink(ph_outq *q)
{
    if (q->count || q->cap <= RING_SHRINK_ABOVE)
        return;
    uint8_t row = ph_memtag_row(q->tag, PH_MEMROW_QUEUE);
    struct entry *r = malloc(RING_INITIAL * sizeof *r);
    ph_memtag_row(q->tag, row);
    if (!r)
        return;
    free(q->ring);
    q->ring = r;
    q->cap = RING_INITIAL;
    q->head = 0;
}

static ph_err push_entry(ph_outq *q, struct entry *e)
{
    if (e->len < 2 || e->len > PH_NOISE_MAX_MSG) {
        entry_drop(e);
        return PH_ERR_ARG;
    }
    size_t queued = ph_outq_queued_bytes(q);
    if ((e->flags & PH_OUTQ_RELAY) && queued + e->len > q->soft_cap) {
        q->st.relay_dropped++;
        q->st.relay_dropped_bytes += e->len;
        entry_drop(e);
        return PH_OK;
    }
    if (queued + e->len > q->hard_cap) {
        entry_drop(e);
        return PH_ERR_LIMIT;
    }
    if (q->count == q->cap) {
        ph_err err = ring_grow(q);
        if (err) {
            entry_drop(e);
            return err;
        }
    }
    q->ring[(q->head + q->count) & (q->cap - 1)] = *e;
    q->count++;
    q->waiting_bytes += e->len;
    if (queued + e->len > q->st.peak_queued_bytes)
        q->st.peak_queued_bytes = queued + e->len;
    return PH_OK;
}

ph_err ph_outq_push(ph_outq *q, ph_outq_msg *m, unsigned flags)
{
    struct entry e = {
        .bytes = m->wire ? NULL : m->data,
        .wire = m->wire,
        .unref = msg_unref_cb,
        .obj = ph_outq_msg_ref(m),
        .len = (uint32_t)m->len,
        .type = m->type,
        .flags = (uint8_t)flags,
    };
    return push_entry(q, &e);
}

ph_err ph_outq_push_external(ph_outq *q, const uint8_t *bytes, size_t len,
                             void (*unref)(void *obj), void *obj, unsigned flags)
{
    struct entry e = {
        .bytes = bytes,
        .unref = unref,
        .obj = obj,
        .len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len,
        .type = len >= 2 ? ph_wire_type_of(bytes) : 0,
        .flags = (uint8_t)flags,
    };
    return push_entry(q, &e);
}

ph_err ph_outq_push_copy(ph_outq *q, const uint8_t *bytes, size_t len, unsigned flags)
{
    ph_outq_msg *m;
    uint8_t row = ph_memtag_row(q->tag, PH_MEMROW_QUEUE);
    ph_err err = ph_outq_msg_copy(&m, bytes, len);
    ph_memtag_row(q->tag, row);
    if (err)
        return err;
    err = ph_outq_push(q, m, flags);
    ph_outq_msg_unref(m);
    return err;
}

ph_err ph_outq_push_wire(ph_outq *q, ph_wire_msg *w, unsigned flags)
{
    ph_outq_msg *m;
    ph_err err = ph_outq_msg_wire(&m, w);
    if (err)
        return err;
    err = ph_outq_push(q, m, flags);
    ph_outq_msg_unref(m);
    return err;
}

/* ---- flush ---- */

static void pop_entry(ph_outq *q)
{
    struct entry *e = &q->ring[q->head];
    q->waiting_bytes -= e->len;
    entry_drop(e);
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    ring_maybe_shrink(q);
}

static void maybe_refill(ph_outq *q)
{
    if (!q->refill || q->in_refill || q->waiting_bytes >= q->low_water)
        return;
    q->in_refill = true; /* pushes from inside the callback must not recurse */
    q->refill(q->refill_ctx, q);
    q->in_refill = false;
}

static ph_err encode_into(const struct entry *e, uint8_t *body)
{
    if (!e->wire) {
        memcpy(body, e->bytes, e->len);
        return PH_OK;
    }
    size_t written = 0;
    ph_err err = ph_wire_encode(e->wire, body, e->len, &written);
    if (!err && written != e->len)
        err = PH_ERR_STATE;
    return err;
}

/* Encrypt the frames fill() encoded, all at once (ph_noise_encrypt_many
 * packs their keystream). The frames' pointers are read only now: a later
 * acquire may have moved earlier frames' bytes (ring growth). On failure
 * every one of them is released and counted. */
static ph_err seal_filled(ph_outq *q, uint64_t now_ns)
{
    ph_noise_frame nf[PH_OUTQ_MAX_BATCH];
    for (size_t i = 0; i < q->fl_n; i++) {
        ph_wbuf_frame *f = &q->fl[i].f;
        nf[i] = (ph_noise_frame){.hdr = f->hdr, .body = f->body, .len = q->fl[i].len,
                                 .mac = f->mac};
    }
    ph_err err = ph_noise_encrypt_many(q->noise, nf, q->fl_n);
    if (!err)
        return PH_OK;
    for (size_t i = 0; i < q->fl_n; i++) {
        q->inflight_left -= q->fl[i].len + PH_NOISE_OVERHEAD;
        ph_wbuf_release(q->wb, &q->fl[i].f, now_ns);
        q->st.encode_errors++;
    }
    q->fl_n = 0;
    return err;
}

/* Encode up to `batch` waiting messages into fresh frames, then encrypt
 * them together. Stops early when the strategy says PH_ERR_AGAIN. */
static ph_err fill(ph_outq *q, uint64_t now_ns)
{
    q->fl_first = q->fl_n = 0;
    if (!q->fl) {
        uint8_t row = ph_memtag_row(q->tag, PH_MEMROW_QUEUE);
        q->fl = malloc(q->batch * sizeof *q->fl);
        ph_memtag_row(q->tag, row);
        if (!q->fl)
            return PH_ERR_NOMEM;
    }
    ph_err err = PH_OK;
    while (q->fl_n < q->batch && q->count) {
        struct entry *e = &q->ring[q->head];
        struct inflight *fl = &q->fl[q->fl_n];
        uint32_t type = ph_memtag_type(q->tag, e->type);
        uint8_t row = ph_memtag_row(q->tag, PH_MEMROW_WBUF);
        err = ph_wbuf_acquire(q->wb, e->len, &fl->f, now_ns);
        ph_memtag_row(q->tag, row);
        ph_memtag_type(q->tag, type);
        if (err == PH_ERR_AGAIN) {
            err = PH_OK;
            break;
        }
        if (err)
            break;
        err = encode_into(e, fl->f.body);
        if (err) {
            ph_wbuf_release(q->wb, &fl->f, now_ns);
            q->st.encode_errors++;
            pop_entry(q);
            break;
        }
        fl->len = e->len;
        fl->done = 0;
        fl->type = e->type;
        q->inflight_left += e->len + PH_NOISE_OVERHEAD;
        q->fl_n++;
        pop_entry(q);
    }
    ph_err sealed = q->fl_n ? seal_filled(q, now_ns) : PH_OK;
    return err ? err : sealed;
}

/* One frame's three pieces, minus what is already written. */
static int frame_iov(const struct inflight *fl, struct iovec *iov)
{
    const struct { const uint8_t *p; size_t n; } part[3] = {
        { fl->f.hdr, PH_NOISE_HDR_LEN }, { fl->f.body, fl->len }, { fl->f.mac, PH_NOISE_MAC_LEN },
    };
    size_t skip = fl->done;
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (skip >= part[i].n) {
            skip -= part[i].n;
            continue;
        }
        iov[n].iov_base = (void *)(part[i].p + skip);
        iov[n].iov_len = part[i].n - skip;
        skip = 0;
        n++;
    }
    return n;
}

static ph_err sink_write(ph_outq *q, const struct iovec *iov, int iovcnt, size_t *taken)
{
    ssize_t r;
    for (;;) {
        if (q->sink.fd >= 0) {
            struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
            r = sendmsg(q->sink.fd, &mh, MSG_NOSIGNAL);
            if (r < 0 && errno == ENOTSOCK)
                r = writev(q->sink.fd, iov, iovcnt);
        } else {
            r = q->sink.write(q->sink.ctx, iov, iovcnt);
        }
        if (r >= 0 || errno != EINTR)
            break;
    }
    if (r > 0) {
        *taken = (size_t)r;
        return PH_OK;
    }
    if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
        return PH_ERR_AGAIN;
    if (errno == EPIPE || errno == ECONNRESET)
        return PH_ERR_PEER_CLOSED;
    return PH_ERR_IO;
}

static void frame_done(ph_outq *q, struct inflight *fl, uint64_t now_ns)
{
    ph_wbuf_release(q->wb, &fl->f, now_ns);
    if (q->on_frame)
        q->on_frame(q->on_frame_ctx, fl->type, fl->len);
    uint8_t row = ph_memtag_row(q->tag, PH_MEMROW_QUEUE);
    ph_msgcounts_add(&q->st.out, fl->type, fl->len);
    ph_memtag_row(q->tag, row);
    q->st.msgs_out++;
    q->st.bytes_out += fl->len;
}

/* Account `taken` bytes against the in-flight frames, in order. */
static void advance(ph_outq *q, size_t taken, uint64_t now_ns)
{
    q->inflight_left -= taken;
    while (taken && q->fl_first < q->fl_n) {
        struct inflight *fl = &q->fl[q->fl_first];
        size_t left = fl->len + PH_NOISE_OVERHEAD - fl->done;
        size_t step = taken < left ? taken : left;
        fl->done += step;
        taken -= step;
        if (fl->done == fl->len + PH_NOISE_OVERHEAD) {
            frame_done(q, fl, now_ns);
            q->fl_first++;
        }
    }
}

ph_err ph_outq_flush(ph_outq *q, uint64_t now_ns)
{
    struct iovec iov[3 * PH_OUTQ_MAX_BATCH];
    q->starved = false;
    q->yielded = false;
    size_t written = 0;
    for (;;) {
        if (q->fl_first == q->fl_n) {
            /* Between batches: one peer's long backlog must not keep the
             * loop from every other connection. */
            if (written >= q->flush_budget) {
                q->yielded = true;
                return PH_ERR_AGAIN;
            }
            maybe_refill(q);
            if (!q->count)
                return PH_OK;
            ph_err err = fill(q, now_ns);
            if (err)
                return err;
            if (q->fl_n == 0) {
                q->starved = true;
                q->st.wbuf_starved++;
                return PH_ERR_AGAIN;
            }
            maybe_refill(q);
        }
        int n = 0;
        size_t offered = 0;
        for (size_t i = q->fl_first; i < q->fl_n; i++)
            n += frame_iov(&q->fl[i], iov + n);
        for (int i = 0; i < n; i++)
            offered += iov[i].iov_len;
        size_t taken = 0;
        ph_err err = sink_write(q, iov, n, &taken);
        if (err == PH_ERR_AGAIN)
            q->st.would_block++;
        if (err)
            return err;
        if (taken > offered)
            taken = offered; /* a misbehaving callback sink */
        if (q->sink.tap)
            q->sink.tap(q->sink.tap_ctx, iov, n, taken);
        q->st.writes++;
        q->st.wire_bytes_out += taken;
        written += taken;
        if (taken < offered)
            q->st.partial_writes++;
        advance(q, taken, now_ns);
    }
}
