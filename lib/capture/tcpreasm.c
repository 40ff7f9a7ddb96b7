#include "tcpreasm.h"

#include <stdlib.h>
#include <string.h>

#define DEF_MAX_BUFFER (8u << 20)
#define DEF_MAX_SEGMENTS 16384u
#define DEF_RETAIN (64u << 10)
#define DEF_MAX_CONNS 65536u

enum dir_state { DIR_NEW, DIR_OPEN, DIR_ENDED };

/* One buffered out-of-order piece; pieces never overlap each other. */
struct seg {
    struct seg *next;
    uint64_t off;
    size_t len;
    uint8_t data[];
};

struct dir {
    enum dir_state state;
    uint32_t isn;           /* valid when info.syn[dir] */
    uint32_t next_seq;      /* sequence number of stream offset next_off */
    uint64_t next_off;      /* bytes delivered so far */
    bool fin_known;
    uint64_t fin_off;
    bool acked_pending;     /* receiver acknowledged up to acked_seq > next_seq */
    uint32_t acked_seq;
    struct seg *ooo;        /* sorted by offset */
    size_t buffered, nsegs;
    uint8_t *ring;          /* last delivered bytes, indexed by offset % retain */
    size_t ring_len;
};

struct conn {
    struct ph_tcp_conn_info info;
    struct conn *hnext;           /* hash chain */
    struct conn *prev, *next;     /* live connections in id order */
    bool closed;                  /* kept only to absorb late packets */
    struct dir d[2];
};

struct ph_tcpreasm {
    struct ph_tcpreasm_cb cb;
    void *ctx;
    struct ph_tcpreasm_limits lim;
    struct ph_tcpreasm_stats stats;
    struct conn **buckets;
    size_t nbuckets, count;       /* count includes closed ones */
    struct conn *first, *last;    /* live list */
};

const char *ph_tcp_end_name(enum ph_tcp_end why)
{
    static const char *const names[] = {
        [PH_TCP_END_FIN] = "fin", [PH_TCP_END_RST] = "reset", [PH_TCP_END_GAP] = "gap",
        [PH_TCP_END_LIMIT] = "buffer limit", [PH_TCP_END_CAPTURE] = "end of capture",
        [PH_TCP_END_NEW_SYN] = "reused by a new connection",
    };
    if ((unsigned)why >= sizeof names / sizeof names[0])
        return "?";
    return names[why];
}

/* ---- sequence arithmetic ---- */

/* Signed distance from b to a, modulo 2^32. */
static int64_t seq_diff(uint32_t a, uint32_t b)
{
    uint32_t d = a - b;
    return d < 0x80000000u ? (int64_t)d : (int64_t)d - 0x100000000ll;
}

/* ---- connection table ---- */

static uint64_t hash_ep(const struct ph_endpoint *e)
{
    uint64_t h = 1469598103934665603ull;
    h = (h ^ e->family) * 1099511628211ull;
    for (int i = 0; i < (e->family == 4 ? 4 : 16); i++)
        h = (h ^ e->addr[i]) * 1099511628211ull;
    h = (h ^ (e->port & 0xff)) * 1099511628211ull;
    h = (h ^ (e->port >> 8)) * 1099511628211ull;
    return h;
}

/* Symmetric, so that both directions land in the same bucket. */
static size_t bucket_of(const ph_tcpreasm *r, const struct ph_endpoint *a,
                        const struct ph_endpoint *b)
{
    return (size_t)((hash_ep(a) + hash_ep(b)) & (r->nbuckets - 1));
}

static struct conn **find_slot(ph_tcpreasm *r, const struct ph_endpoint *src,
                               const struct ph_endpoint *dst, int *dir)
{
    struct conn **pp = &r->buckets[bucket_of(r, src, dst)];
    for (; *pp; pp = &(*pp)->hnext) {
        const struct ph_tcp_conn_info *i = &(*pp)->info;
        if (ph_endpoint_equal(&i->ep[0], src) && ph_endpoint_equal(&i->ep[1], dst)) {
            *dir = 0;
            return pp;
        }
        if (ph_endpoint_equal(&i->ep[1], src) && ph_endpoint_equal(&i->ep[0], dst)) {
            *dir = 1;
            return pp;
        }
    }
    return pp;
}

static ph_err grow(ph_tcpreasm *r)
{
    size_t n = r->nbuckets * 2;
    struct conn **b = calloc(n, sizeof *b);
    if (!b)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct conn *c = r->buckets[i];
        while (c) {
            struct conn *next = c->hnext;
            size_t k = (size_t)((hash_ep(&c->info.ep[0]) + hash_ep(&c->info.ep[1])) & (n - 1));
            c->hnext = b[k];
            b[k] = c;
            c = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
    return PH_OK;
}

static void free_dir(struct dir *d)
{
    while (d->ooo) {
        struct seg *s = d->ooo;
        d->ooo = s->next;
        free(s);
    }
    d->buffered = d->nsegs = 0;
    free(d->ring);
    d->ring = NULL;
    d->ring_len = 0;
}

static void unhash(ph_tcpreasm *r, struct conn *c)
{
    struct conn **pp = &r->buckets[bucket_of(r, &c->info.ep[0], &c->info.ep[1])];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    r->count--;
}

/* Forget every closed connection (when the table is full). */
static void purge_closed(ph_tcpreasm *r)
{
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct conn **pp = &r->buckets[i];
        while (*pp) {
            struct conn *c = *pp;
            if (c->closed) {
                *pp = c->hnext;
                r->count--;
                free(c);
            } else {
                pp = &c->hnext;
            }
        }
    }
}

/* ---- delivery ---- */

/* Keep the last `retain` delivered bytes; `off` is the offset of p[0]. */
static void ring_add(ph_tcpreasm *r, struct dir *d, uint64_t off, const uint8_t *p, size_t len)
{
    size_t cap = r->lim.retain;
    if (!d->ring && !(d->ring = malloc(cap)))
        return; /* only costs the ability to check retransmissions */
    d->ring_len = d->ring_len + len > cap ? cap : d->ring_len + len;
    if (len > cap) {
        off += len - cap;
        p += len - cap;
        len = cap;
    }
    while (len) {
        size_t pos = (size_t)(off % cap), n = cap - pos < len ? cap - pos : len;
        memcpy(d->ring + pos, p, n);
        p += n;
        off += n;
        len -= n;
    }
}

/* Whether bytes already delivered at [off, off+len) differ from `p`, where
 * the retained window still holds them (older bytes cannot be checked). */
static bool differs_delivered(const ph_tcpreasm *r, const struct dir *d, uint64_t off,
                              const uint8_t *p, size_t len)
{
    size_t cap = r->lim.retain;
    if (!d->ring)
        return false;
    uint64_t lo = d->next_off - d->ring_len;
    if (off < lo) {
        uint64_t skip = lo - off;
        if (skip >= len)
            return false;
        p += skip;
        len -= (size_t)skip;
        off = lo;
    }
    while (len) {
        size_t pos = (size_t)(off % cap), n = cap - pos < len ? cap - pos : len;
        if (memcmp(d->ring + pos, p, n) != 0)
            return true;
        p += n;
        off += n;
        len -= n;
    }
    return false;
}

static void deliver(ph_tcpreasm *r, struct conn *c, int dir, const uint8_t *p, size_t len,
                    uint64_t ts)
{
    struct dir *d = &c->d[dir];
    if (!len)
        return;
    if (r->cb.on_data)
        r->cb.on_data(r->ctx, &c->info, dir, d->next_off, p, len, ts);
    ring_add(r, d, d->next_off, p, len);
    d->next_off += len;
    d->next_seq += (uint32_t)len;
    c->info.st[dir].bytes += len;
}

static void end_dir(ph_tcpreasm *r, struct conn *c, int dir, enum ph_tcp_end why, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    struct ph_tcp_dir_stats *st = &c->info.st[dir];
    if (d->state == DIR_ENDED)
        return;
    if ((why == PH_TCP_END_GAP || why == PH_TCP_END_LIMIT) && !st->gap_len) {
        if (d->ooo)
            st->gap_len = d->ooo->off - d->next_off;
        else if (d->acked_pending && seq_diff(d->acked_seq, d->next_seq) > 0)
            st->gap_len = (uint64_t)seq_diff(d->acked_seq, d->next_seq);
    }
    d->state = DIR_ENDED;
    st->ended = true;
    st->end = why;
    st->end_offset = d->next_off;
    free_dir(d);
    if (r->cb.on_end)
        r->cb.on_end(r->ctx, &c->info, dir, why, d->next_off, ts);
}

/* The reason a direction ends when it is cut off from outside (RST, end of
 * capture): a gap if bytes are known to be missing. */
static enum ph_tcp_end cut_reason(const struct dir *d, enum ph_tcp_end otherwise)
{
    if (d->ooo || (d->acked_pending && seq_diff(d->acked_seq, d->next_seq) > 0))
        return PH_TCP_END_GAP;
    return otherwise;
}

static void close_conn(ph_tcpreasm *r, struct conn *c)
{
    if (r->cb.on_close)
        r->cb.on_close(r->ctx, &c->info);
    c->closed = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        r->last = c->prev;
    c->prev = c->next = NULL;
    free_dir(&c->d[0]);
    free_dir(&c->d[1]);
}

static void cut_conn(ph_tcpreasm *r, struct conn *c, enum ph_tcp_end why, uint64_t ts)
{
    for (int i = 0; i < 2; i++)
        end_dir(r, c, i, cut_reason(&c->d[i], why), ts);
    close_conn(r, c);
}

/* ---- out-of-order buffer ---- */

static ph_err insert_piece(struct dir *d, struct seg **at, uint64_t off, const uint8_t *p,
                           size_t len)
{
    struct seg *s = malloc(sizeof *s + len);
    if (!s)
        return PH_ERR_NOMEM;
    s->off = off;
    s->len = len;
    memcpy(s->data, p, len);
    s->next = *at;
    *at = s;
    d->buffered += len;
    d->nsegs++;
    return PH_OK;
}

/* Buffer [off, off+len) keeping the first copy of every byte already
 * buffered; overlapping bytes are compared. */
static ph_err buffer_segment(struct conn *c, int dir, uint64_t off, const uint8_t *p,
                             size_t len)
{
    struct dir *d = &c->d[dir];
    struct ph_tcp_dir_stats *st = &c->info.st[dir];
    struct seg **at = &d->ooo;
    uint64_t end = off + len;
    bool conflict = false;
    while (off < end) {
        while (*at && (*at)->off + (*at)->len <= off)
            at = &(*at)->next;
        struct seg *s = *at;
        if (!s || s->off >= end)
            return insert_piece(d, at, off, p + (len - (size_t)(end - off)), (size_t)(end - off));
        if (s->off > off) {
            size_t n = (size_t)(s->off - off);
            ph_err e = insert_piece(d, at, off, p + (len - (size_t)(end - off)), n);
            if (e)
                return e;
            at = &(*at)->next;
            off = s->off;
        }
        uint64_t ov_end = s->off + s->len < end ? s->off + s->len : end;
        size_t n = (size_t)(ov_end - off);
        if (memcmp(s->data + (off - s->off), p + (len - (size_t)(end - off)), n) != 0 &&
            !conflict) {
            conflict = true;
            st->overlap_conflicts++;
        }
        st->retransmitted += n;
        off = ov_end;
    }
    return PH_OK;
}

static void drain(ph_tcpreasm *r, struct conn *c, int dir, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    while (d->ooo && d->ooo->off <= d->next_off && d->state == DIR_OPEN) {
        struct seg *s = d->ooo;
        d->ooo = s->next;
        d->buffered -= s->len;
        d->nsegs--;
        if (s->off + s->len > d->next_off) {
            size_t skip = (size_t)(d->next_off - s->off);
            deliver(r, c, dir, s->data + skip, s->len - skip, ts);
        }
        free(s);
    }
}

/* ---- per-packet processing ---- */

static ph_err take_payload(ph_tcpreasm *r, struct conn *c, int dir, int64_t off64,
                           const uint8_t *p, size_t len, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    struct ph_tcp_dir_stats *st = &c->info.st[dir];
    st->segments++;
    if (off64 < 0) { /* starts before the first byte we track */
        uint64_t skip = (uint64_t)-off64;
        if (skip >= len)
            return PH_OK;
        p += skip;
        len -= (size_t)skip;
        off64 = 0;
    }
    uint64_t off = (uint64_t)off64;
    if (off < d->next_off) {
        size_t old = d->next_off - off < len ? (size_t)(d->next_off - off) : len;
        st->retransmitted += old;
        if (differs_delivered(r, d, off, p, old))
            st->overlap_conflicts++;
        p += old;
        len -= old;
        off += old;
        if (!len)
            return PH_OK;
    }
    if (off == d->next_off) {
        size_t n = len;
        if (d->ooo && d->ooo->off - off < n)
            n = (size_t)(d->ooo->off - off);
        deliver(r, c, dir, p, n, ts);
        p += n;
        len -= n;
        off += n;
    } else {
        st->out_of_order++;
    }
    if (len) {
        ph_err e = buffer_segment(c, dir, off, p, len);
        if (e)
            return e;
    }
    drain(r, c, dir, ts);
    if (d->buffered > st->max_buffered)
        st->max_buffered = d->buffered;
    if (d->buffered > r->lim.max_buffer || d->nsegs > r->lim.max_segments)
        end_dir(r, c, dir, PH_TCP_END_LIMIT, ts);
    return PH_OK;
}

static void open_dir(struct conn *c, int dir, uint32_t next_seq, bool syn)
{
    struct dir *d = &c->d[dir];
    d->state = DIR_OPEN;
    d->next_seq = next_seq;
    d->next_off = 0;
    if (syn) {
        d->isn = next_seq - 1;
        c->info.syn[dir] = true;
    }
}

static struct conn *new_conn(ph_tcpreasm *r, struct conn **slot, const struct ph_tcp_packet *p,
                             ph_err *err)
{
    *err = PH_OK;
    if (r->count >= r->lim.max_conns) {
        purge_closed(r);
        if (r->count >= r->lim.max_conns) {
            r->stats.refused++;
            return NULL;
        }
        slot = NULL; /* the chain changed */
    }
    if (r->count >= r->nbuckets) {
        if ((*err = grow(r)))
            return NULL;
        slot = NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        *err = PH_ERR_NOMEM;
        return NULL;
    }
    bool synack = (p->flags & (PH_TCP_SYN | PH_TCP_ACK)) == (PH_TCP_SYN | PH_TCP_ACK);
    c->info.ep[0] = synack ? p->dst : p->src;
    c->info.ep[1] = synack ? p->src : p->dst;
    c->info.id = ++r->stats.conns;
    c->info.first_ts = c->info.last_ts = p->ts_ns;
    if (!slot)
        slot = &r->buckets[bucket_of(r, &p->src, &p->dst)];
    c->hnext = *slot;
    *slot = c;
    r->count++;
    c->prev = r->last;
    if (r->last)
        r->last->next = c;
    else
        r->first = c;
    r->last = c;
    if (r->cb.on_open)
        r->cb.on_open(r->ctx, &c->info);
    return c;
}

/* SYN handling; returns false when the packet is a duplicate to drop. */
static bool take_syn(struct conn *c, int dir, const struct ph_tcp_packet *p)
{
    struct dir *d = &c->d[dir];
    if (c->info.syn[dir])
        return p->seq != d->isn; /* a retransmitted SYN is dropped */
    if (d->state == DIR_NEW)
        open_dir(c, dir, p->seq + 1, true);
    /* A SYN-ACK also fixes the start of the client's stream. */
    struct dir *o = &c->d[!dir];
    if ((p->flags & PH_TCP_ACK) && o->state == DIR_NEW)
        open_dir(c, !dir, p->ack, true);
    return true;
}

static bool is_new_syn(const struct conn *c, int dir, const struct ph_tcp_packet *p)
{
    if (!(p->flags & PH_TCP_SYN) || (p->flags & PH_TCP_ACK))
        return false;
    if (c->closed)
        return true;
    const struct dir *d = &c->d[dir];
    if (c->info.syn[dir])
        return p->seq != d->isn;
    return d->state != DIR_NEW; /* a SYN after data: the tuple was reused */
}

static void note_ack(struct conn *c, int dir, const struct ph_tcp_packet *p)
{
    /* p travels in `dir`; its ACK speaks about the other direction. */
    struct dir *o = &c->d[!dir];
    if (!(p->flags & PH_TCP_ACK) || o->state != DIR_OPEN)
        return;
    if (seq_diff(p->ack, o->next_seq) <= 0)
        return;
    if (!o->acked_pending || seq_diff(p->ack, o->acked_seq) > 0)
        o->acked_seq = p->ack;
    o->acked_pending = true;
}

static void check_acked_hole(ph_tcpreasm *r, struct conn *c, int dir, bool was_pending,
                             uint64_t ts)
{
    struct dir *d = &c->d[dir];
    if (d->state != DIR_OPEN || !d->acked_pending)
        return;
    if (seq_diff(d->acked_seq, d->next_seq) <= 0) {
        d->acked_pending = false;
        return;
    }
    if (was_pending)
        end_dir(r, c, dir, PH_TCP_END_GAP, ts);
}

ph_err ph_tcpreasm_packet(ph_tcpreasm *r, const struct ph_tcp_packet *p)
{
    if (!r || !p || (p->payload_len && !p->payload))
        return PH_ERR_ARG;
    int dir = 0;
    struct conn **slot = find_slot(r, &p->src, &p->dst, &dir);
    struct conn *c = *slot;
    ph_err err = PH_OK;
    if (c && is_new_syn(c, dir, p)) {
        if (!c->closed)
            cut_conn(r, c, PH_TCP_END_NEW_SYN, p->ts_ns);
        unhash(r, c);
        free(c);
        c = NULL;
        slot = find_slot(r, &p->src, &p->dst, &dir);
    }
    if (c && c->closed)
        return PH_OK; /* late ACKs and retransmissions of a finished connection */
    if (!c) {
        if (!(p->flags & PH_TCP_SYN) && !p->payload_len && !(p->flags & PH_TCP_FIN)) {
            r->stats.stray++;
            return PH_OK;
        }
        if (p->flags & PH_TCP_RST) {
            r->stats.stray++;
            return PH_OK;
        }
        c = new_conn(r, slot, p, &err);
        if (!c)
            return err;
        dir = ph_endpoint_equal(&p->src, &c->info.ep[0]) ? 0 : 1;
    }
    c->info.last_ts = p->ts_ns;
    struct dir *d = &c->d[dir];
    bool was_pending = d->acked_pending;

    if ((p->flags & PH_TCP_SYN) && !take_syn(c, dir, p))
        return PH_OK;
    note_ack(c, dir, p);
    if (p->flags & PH_TCP_RST) {
        cut_conn(r, c, PH_TCP_END_RST, p->ts_ns);
        return PH_OK;
    }
    uint32_t data_seq = p->seq + ((p->flags & PH_TCP_SYN) ? 1u : 0u);
    if (d->state == DIR_NEW && (p->payload_len || (p->flags & PH_TCP_FIN)))
        open_dir(c, dir, data_seq, false);
    if (d->state == DIR_ENDED) {
        c->info.st[dir].ignored += p->payload_len;
    } else if (d->state == DIR_OPEN) {
        int64_t off = (int64_t)d->next_off + seq_diff(data_seq, d->next_seq);
        if (p->flags & PH_TCP_FIN) {
            int64_t fin = off + (int64_t)p->payload_len;
            d->fin_known = true;
            d->fin_off = fin > 0 ? (uint64_t)fin : 0;
        }
        if (p->payload_len)
            err = take_payload(r, c, dir, off, p->payload, p->payload_len, p->ts_ns);
        if (d->state == DIR_OPEN && d->fin_known && d->next_off >= d->fin_off)
            end_dir(r, c, dir, PH_TCP_END_FIN, p->ts_ns);
        check_acked_hole(r, c, dir, was_pending, p->ts_ns);
    }
    if (c->d[0].state == DIR_ENDED && c->d[1].state == DIR_ENDED)
        close_conn(r, c);
    return err;
}

void ph_tcpreasm_finish(ph_tcpreasm *r, uint64_t ts_ns)
{
    if (!r)
        return;
    while (r->first)
        cut_conn(r, r->first, PH_TCP_END_CAPTURE, ts_ns);
}

ph_err ph_tcpreasm_create(ph_tcpreasm **out, const struct ph_tcpreasm_cb *cb, void *ctx,
                          const struct ph_tcpreasm_limits *lim)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    ph_tcpreasm *r = calloc(1, sizeof *r);
    if (!r)
        return PH_ERR_NOMEM;
    if (cb)
        r->cb = *cb;
    r->ctx = ctx;
    if (lim)
        r->lim = *lim;
    if (!r->lim.max_buffer)
        r->lim.max_buffer = DEF_MAX_BUFFER;
    if (!r->lim.max_segments)
        r->lim.max_segments = DEF_MAX_SEGMENTS;
    if (!r->lim.retain)
        r->lim.retain = DEF_RETAIN;
    if (!r->lim.max_conns)
        r->lim.max_conns = DEF_MAX_CONNS;
    r->nbuckets = 64;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    if (!r->buckets) {
        free(r);
        return PH_ERR_NOMEM;
    }
    *out = r;
    return PH_OK;
}

void ph_tcpreasm_destroy(ph_tcpreasm *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct conn *c = r->buckets[i];
        while (c) {
            struct conn *next = c->hnext;
            free_dir(&c->d[0]);
            free_dir(&c->d[1]);
            free(c);
            c = next;
        }
    }
    free(r->buckets);
    free(r);
}

const struct ph_tcpreasm_stats *ph_tcpreasm_stats(const ph_tcpreasm *r) { return &r->stats; }
