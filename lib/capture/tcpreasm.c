#include "tcpreasm.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define DEF_MAX_BUFFER (8u << 20)
#define DEF_MAX_SEGMENTS 16384u
#define DEF_RETAIN (64u << 10)
#define DEF_MAX_CONNS 65536u
#define DEF_MAX_MEMORY (256u << 20)
#define RING_MIN 256u

/* Eviction classes, evicted in this order. */
enum { CL_CLOSED, CL_NO_PAYLOAD, CL_PAYLOAD, CL_KEEP, NCLASSES };

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
    struct seg *ooo_tail;   /* last piece: in-order arrivals after a hole append */
    size_t buffered, nsegs;
    uint8_t *ring;          /* last delivered bytes, indexed by offset % ring_cap */
    size_t ring_len, ring_cap;
};

struct conn {
    struct ph_tcp_conn_info info;
    struct conn *hnext;           /* hash chain */
    struct conn *prev, *next;     /* live connections in id order */
    struct conn *lprev, *lnext;   /* its class's list, most recent first */
    int cls;
    bool closed;                  /* kept only to absorb late packets */
    bool payload;                 /* carried payload */
    struct dir d[2];
};

struct lru {
    struct conn *head, *tail;
};

struct ph_tcpreasm {
    struct ph_tcpreasm_cb cb;
    void *ctx;
    struct ph_tcpreasm_limits lim;
    struct ph_tcpreasm_stats stats;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    struct conn **buckets;
    size_t nbuckets, count;       /* count includes closed ones */
    struct conn *first, *last;    /* live list */
    struct lru lru[NCLASSES];
    size_t mem;                   /* out-of-order bytes, all connections */
    size_t ring_mem;              /* windows, all connections (max_memory / 4) */
};

const char *ph_tcp_end_name(enum ph_tcp_end why)
{
    static const char *const names[] = {
        [PH_TCP_END_FIN] = "fin", [PH_TCP_END_RST] = "reset", [PH_TCP_END_GAP] = "gap",
        [PH_TCP_END_LIMIT] = "buffer limit", [PH_TCP_END_CAPTURE] = "end of capture",
        [PH_TCP_END_NEW_SYN] = "reused by a new connection",
        [PH_TCP_END_EVICTED] = "evicted from the connection table",
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

/* SipHash of the endpoint under the table's random key: a capture cannot
 * be crafted to put its connections in one chain. */
static uint64_t hash_ep(const ph_tcpreasm *r, const struct ph_endpoint *e)
{
    uint8_t b[19];
    size_t n = e->family == 4 ? 4 : 16;
    b[0] = e->family;
    memcpy(b + 1, e->addr, n);
    b[1 + n] = (uint8_t)(e->port >> 8);
    b[2 + n] = (uint8_t)e->port;
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, b, 3 + n, r->hkey);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

/* Symmetric, so that both directions land in the same bucket. */
static size_t bucket_of(const ph_tcpreasm *r, const struct ph_endpoint *a,
                        const struct ph_endpoint *b)
{
    return (size_t)((hash_ep(r, a) + hash_ep(r, b)) & (r->nbuckets - 1));
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
            size_t k = (size_t)((hash_ep(r, &c->info.ep[0]) + hash_ep(r, &c->info.ep[1])) &
                                (n - 1));
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

static void free_dir(ph_tcpreasm *r, struct dir *d)
{
    while (d->ooo) {
        struct seg *s = d->ooo;
        d->ooo = s->next;
        free(s);
    }
    d->ooo_tail = NULL;
    r->mem -= d->buffered;
    r->ring_mem -= d->ring_cap;
    d->buffered = d->nsegs = 0;
    free(d->ring);
    d->ring = NULL;
    d->ring_len = d->ring_cap = 0;
}

static void unhash(ph_tcpreasm *r, struct conn *c)
{
    struct conn **pp = &r->buckets[bucket_of(r, &c->info.ep[0], &c->info.ep[1])];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    r->count--;
}

/* ---- eviction order ---- */

static void lru_unlink(ph_tcpreasm *r, struct conn *c)
{
    struct lru *l = &r->lru[c->cls];
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        l->head = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    else
        l->tail = c->lprev;
    c->lprev = c->lnext = NULL;
}

static void lru_push(ph_tcpreasm *r, struct conn *c, int cls)
{
    struct lru *l = &r->lru[cls];
    c->cls = cls;
    c->lprev = NULL;
    c->lnext = l->head;
    if (l->head)
        l->head->lprev = c;
    else
        l->tail = c;
    l->head = c;
}

/* The connection was just active: the front of its class. */
static void touch(ph_tcpreasm *r, struct conn *c)
{
    int cls = c->closed ? CL_CLOSED : c->info.keep ? CL_KEEP
              : c->payload ? CL_PAYLOAD : CL_NO_PAYLOAD;
    lru_unlink(r, c);
    lru_push(r, c, cls);
}

static void forget(ph_tcpreasm *r, struct conn *c)
{
    lru_unlink(r, c);
    unhash(r, c);
    free_dir(r, &c->d[0]);
    free_dir(r, &c->d[1]);
    free(c);
}

/* ---- delivery ---- */

/* Whether `more` bytes fit the shared budget; counts the refusals. */
static bool budget(ph_tcpreasm *r, size_t more)
{
    if (more <= r->lim.max_memory && r->mem <= r->lim.max_memory - more)
        return true;
    r->stats.budget_hits++;
    return false;
}

static void budget_add(ph_tcpreasm *r, size_t n)
{
    r->mem += n;
    if (r->mem > r->stats.max_memory_used)
        r->stats.max_memory_used = r->mem;
}

/* Grow the window towards `retain` as data comes (a connection that
 * carries 100 bytes costs 256 bytes, not 64 KiB), within the windows'
 * budget, apart from the out-of-order data's so that the windows of many
 * idle connections never cost a live one its holes. The bytes it holds move
 * to their place in the larger ring. */
static void ring_grow(ph_tcpreasm *r, struct dir *d, size_t want)
{
    size_t cap = d->ring_cap ? d->ring_cap : RING_MIN;
    while (cap < want && cap < r->lim.retain)
        cap *= 2;
    if (cap > r->lim.retain)
        cap = r->lim.retain;
    size_t more = cap - d->ring_cap, ring_budget = r->lim.max_memory / 4;
    if (cap <= d->ring_cap || r->ring_mem + more > ring_budget)
        return; /* only costs the ability to check retransmissions */
    uint8_t *n = malloc(cap);
    if (!n)
        return;
    for (uint64_t o = d->next_off - d->ring_len; o < d->next_off; o++)
        n[o % cap] = d->ring[o % d->ring_cap];
    r->ring_mem += more;
    if (r->ring_mem > r->stats.max_window_used)
        r->stats.max_window_used = r->ring_mem;
    free(d->ring);
    d->ring = n;
    d->ring_cap = cap;
}

/* Keep the last delivered bytes; `off` is the offset of p[0]. */
static void ring_add(ph_tcpreasm *r, struct dir *d, uint64_t off, const uint8_t *p, size_t len)
{
    if (d->ring_cap < r->lim.retain)
        ring_grow(r, d, d->ring_len + len);
    size_t cap = d->ring_cap;
    if (!cap)
        return;
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
static bool differs_delivered(const struct dir *d, uint64_t off, const uint8_t *p, size_t len)
{
    size_t cap = d->ring_cap;
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

/* Bytes acknowledged by the receiver beyond what was delivered: known to
 * exist, never seen. */
static uint64_t acked_beyond(const struct dir *d)
{
    if (!d->acked_pending)
        return 0;
    int64_t k = seq_diff(d->acked_seq, d->next_seq);
    return k > 0 ? (uint64_t)k : 0;
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
        else
            st->gap_len = acked_beyond(d);
    }
    st->discarded += d->buffered;
    d->state = DIR_ENDED;
    st->ended = true;
    st->end = why;
    st->end_offset = d->next_off;
    free_dir(r, d);
    if (r->cb.on_end)
        r->cb.on_end(r->ctx, &c->info, dir, why, d->next_off, ts);
}

/* ---- holes ---- */

/* skip_gaps: give up the hole before the first buffered piece (or, with
 * nothing buffered, before stream offset `to`): report it and move past. */
static void skip_hole(ph_tcpreasm *r, struct conn *c, int dir, uint64_t to, uint64_t ts);
static void drain(ph_tcpreasm *r, struct conn *c, int dir, uint64_t ts);

static void skip_hole(ph_tcpreasm *r, struct conn *c, int dir, uint64_t to, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    struct ph_tcp_dir_stats *st = &c->info.st[dir];
    if (d->ooo && d->ooo->off < to)
        to = d->ooo->off;
    if (to <= d->next_off)
        return;
    uint64_t len = to - d->next_off;
    st->missing += len;
    st->holes++;
    if (r->cb.on_gap)
        r->cb.on_gap(r->ctx, &c->info, dir, d->next_off, len, ts);
    d->next_off = to;
    d->next_seq += (uint32_t)len;
    drain(r, c, dir, ts);
}

/* skip_gaps: deliver everything buffered, skipping every hole. */
static void flush_holes(ph_tcpreasm *r, struct conn *c, int dir, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    while (d->state == DIR_OPEN && d->ooo)
        skip_hole(r, c, dir, d->ooo->off, ts);
}

/* The reason a direction ends when it is cut off from outside (RST, end of
 * capture): a gap if bytes are known to be missing. */
static enum ph_tcp_end cut_reason(const struct dir *d, enum ph_tcp_end otherwise)
{
    if (d->ooo || acked_beyond(d))
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
    free_dir(r, &c->d[0]);
    free_dir(r, &c->d[1]);
    touch(r, c);
}

static void cut_conn(ph_tcpreasm *r, struct conn *c, enum ph_tcp_end why, uint64_t ts)
{
    for (int i = 0; i < 2; i++) {
        if (r->lim.skip_gaps)
            flush_holes(r, c, i, ts);
        end_dir(r, c, i, cut_reason(&c->d[i], why), ts);
    }
    close_conn(r, c);
}

/* ---- out-of-order buffer ---- */

static ph_err insert_piece(ph_tcpreasm *r, struct dir *d, struct seg **at, uint64_t off,
                           const uint8_t *p, size_t len)
{
    struct seg *s = malloc(sizeof *s + len);
    if (!s)
        return PH_ERR_NOMEM;
    s->off = off;
    s->len = len;
    memcpy(s->data, p, len);
    s->next = *at;
    *at = s;
    if (!s->next)
        d->ooo_tail = s;
    d->buffered += len;
    d->nsegs++;
    budget_add(r, len);
    return PH_OK;
}

/* Buffer [off, off+len) keeping the first copy of every byte already
 * buffered; overlapping bytes are compared. */
static ph_err buffer_segment(ph_tcpreasm *r, struct conn *c, int dir, uint64_t off,
                             const uint8_t *p, size_t len)
{
    struct dir *d = &c->d[dir];
    struct ph_tcp_dir_stats *st = &c->info.st[dir];
    struct seg **at = &d->ooo;
    uint64_t end = off + len;
    /* After a hole, segments mostly come in order: append in O(1). */
    if (d->ooo_tail && d->ooo_tail->off + d->ooo_tail->len <= off)
        at = &d->ooo_tail->next;
    bool conflict = false;
    while (off < end) {
        while (*at && (*at)->off + (*at)->len <= off)
            at = &(*at)->next;
        struct seg *s = *at;
        if (!s || s->off >= end)
            return insert_piece(r, d, at, off, p + (len - (size_t)(end - off)),
                                (size_t)(end - off));
        if (s->off > off) {
            size_t n = (size_t)(s->off - off);
            ph_err e = insert_piece(r, d, at, off, p + (len - (size_t)(end - off)), n);
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
        if (!d->ooo)
            d->ooo_tail = NULL;
        d->buffered -= s->len;
        r->mem -= s->len;
        d->nsegs--;
        if (s->off + s->len > d->next_off) {
            size_t skip = (size_t)(d->next_off - s->off);
            c->info.st[dir].retransmitted += skip;
            deliver(r, c, dir, s->data + skip, s->len - skip, ts);
        } else {
            c->info.st[dir].retransmitted += s->len;
        }
        free(s);
    }
}

/* ---- per-packet processing ---- */

/* Whether `len` more out-of-order bytes may be buffered for `d`. */
static bool may_buffer(ph_tcpreasm *r, const struct dir *d, size_t len)
{
    return d->buffered + len <= r->lim.max_buffer && d->nsegs < r->lim.max_segments &&
           budget(r, len);
}

/* Out-of-order bytes at `off` (> next_off) that do not fit: without
 * skip_gaps the direction ends at its hole; with it, holes are given up
 * (first the one before the oldest buffered data) until they fit or are
 * delivered. Returns false when the direction ended. */
static bool make_room(ph_tcpreasm *r, struct conn *c, int dir, uint64_t *off,
                      const uint8_t **p, size_t *len, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    while (d->state == DIR_OPEN && *off > d->next_off && !may_buffer(r, d, *len)) {
        if (!r->lim.skip_gaps) {
            end_dir(r, c, dir, PH_TCP_END_LIMIT, ts);
            return false;
        }
        skip_hole(r, c, dir, *off, ts);
    }
    if (d->state != DIR_OPEN)
        return false;
    if (*off < d->next_off) { /* the skip delivered part of it already */
        size_t old = d->next_off - *off < *len ? (size_t)(d->next_off - *off) : *len;
        c->info.st[dir].retransmitted += old;
        *p += old;
        *len -= old;
        *off += old;
    }
    return true;
}

static ph_err take_payload(ph_tcpreasm *r, struct conn *c, int dir, int64_t off64,
                           const uint8_t *p, size_t len, uint64_t ts)
{
    struct dir *d = &c->d[dir];
    struct ph_tcp_dir_stats *st = &c->info.st[dir];
    st->segments++;
    if (off64 < 0) { /* starts before the first byte we track */
        uint64_t skip = (uint64_t)-off64;
        if (skip >= len) {
            st->retransmitted += len;
            return PH_OK;
        }
        st->retransmitted += skip;
        p += skip;
        len -= (size_t)skip;
        off64 = 0;
    }
    uint64_t off = (uint64_t)off64;
    if (off > d->next_off)
        st->out_of_order++;
    /* In-order bytes are delivered, never buffered (buffering them would
     * cost memory outside the budget until the drain); the part past the
     * first buffered segment becomes in-order again once the drain has
     * delivered that segment. */
    bool conflict = false;
    while (len && d->state == DIR_OPEN) {
        if (off < d->next_off) {
            size_t old = d->next_off - off < len ? (size_t)(d->next_off - off) : len;
            st->retransmitted += old;
            if (!conflict && differs_delivered(d, off, p, old)) {
                conflict = true;
                st->overlap_conflicts++;
            }
            p += old;
            len -= old;
            off += old;
            continue;
        }
        if (off == d->next_off) {
            size_t n = len;
            if (d->ooo && d->ooo->off - off < n)
                n = (size_t)(d->ooo->off - off);
            deliver(r, c, dir, p, n, ts);
            p += n;
            len -= n;
            off += n;
            drain(r, c, dir, ts);
            continue;
        }
        if (!make_room(r, c, dir, &off, &p, &len, ts)) {
            st->ignored += len; /* its direction ended at the hole before it */
            return PH_OK;
        }
        if (off > d->next_off) {
            ph_err e = buffer_segment(r, c, dir, off, p, len);
            if (e)
                return e;
            len = 0;
        }
    }
    st->ignored += len; /* the direction ended while it was delivered */
    drain(r, c, dir, ts);
    if (d->buffered > st->max_buffered)
        st->max_buffered = d->buffered;
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

/* Room for one more connection: the first of the eviction order goes. */
static void evict_one(ph_tcpreasm *r, uint64_t ts)
{
    for (int cls = 0; cls < NCLASSES; cls++) {
        struct conn *v = r->lru[cls].tail;
        if (!v)
            continue;
        if (!v->closed) {
            r->stats.evicted++;
            r->stats.evicted_payload += v->payload;
            r->stats.evicted_keep += v->info.keep;
            cut_conn(r, v, PH_TCP_END_EVICTED, ts);
        }
        forget(r, v);
        return;
    }
}

static struct conn *new_conn(ph_tcpreasm *r, const struct ph_tcp_packet *p, ph_err *err)
{
    *err = PH_OK;
    while (r->count >= r->lim.max_conns && r->count)
        evict_one(r, p->ts_ns);
    if (r->count >= r->nbuckets / 2 && (*err = grow(r)) != PH_OK) {
        r->stats.refused++;
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        *err = PH_ERR_NOMEM;
        r->stats.refused++;
        return NULL;
    }
    bool synack = (p->flags & (PH_TCP_SYN | PH_TCP_ACK)) == (PH_TCP_SYN | PH_TCP_ACK);
    c->info.ep[0] = synack ? p->dst : p->src;
    c->info.ep[1] = synack ? p->src : p->dst;
    c->info.id = ++r->stats.conns;
    c->info.first_ts = c->info.last_ts = p->ts_ns;
    struct conn **slot = &r->buckets[bucket_of(r, &p->src, &p->dst)];
    c->hnext = *slot;
    *slot = c;
    r->count++;
    if (r->count > r->stats.max_tracked)
        r->stats.max_tracked = r->count;
    c->prev = r->last;
    if (r->last)
        r->last->next = c;
    else
        r->first = c;
    r->last = c;
    lru_push(r, c, CL_NO_PAYLOAD);
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
    if (!was_pending)
        return;
    if (!r->lim.skip_gaps) {
        end_dir(r, c, dir, PH_TCP_END_GAP, ts);
        return;
    }
    /* Only a hole with data after it can be skipped; an acknowledged tail
     * that was never seen stays pending (it may still come, or it is the
     * gap the direction ends at). */
    if (d->ooo) {
        skip_hole(r, c, dir, d->ooo->off, ts);
        if (d->state == DIR_OPEN && seq_diff(d->acked_seq, d->next_seq) <= 0)
            d->acked_pending = false;
    }
}

/* The connection of `p`, made when `p` may start one; NULL to ignore `p`. */
static struct conn *conn_for(ph_tcpreasm *r, const struct ph_tcp_packet *p, int *dir,
                             ph_err *err)
{
    *err = PH_OK;
    struct conn *c = *find_slot(r, &p->src, &p->dst, dir);
    if (c && is_new_syn(c, *dir, p)) {
        if (!c->closed)
            cut_conn(r, c, PH_TCP_END_NEW_SYN, p->ts_ns);
        forget(r, c);
        c = NULL;
    }
    if (c && c->closed) {
        touch(r, c);
        r->stats.late_bytes += p->payload_len;
        return NULL; /* late ACKs and retransmissions of a finished connection */
    }
    if (c)
        return c;
    if ((!(p->flags & PH_TCP_SYN) && !p->payload_len && !(p->flags & PH_TCP_FIN)) ||
        (p->flags & PH_TCP_RST)) {
        r->stats.stray++;
        r->stats.late_bytes += p->payload_len;
        return NULL;
    }
    c = new_conn(r, p, err);
    if (c)
        *dir = ph_endpoint_equal(&p->src, &c->info.ep[0]) ? 0 : 1;
    return c;
}

ph_err ph_tcpreasm_packet(ph_tcpreasm *r, const struct ph_tcp_packet *p)
{
    if (!r || !p || (p->payload_len && !p->payload))
        return PH_ERR_ARG;
    int dir = 0;
    ph_err err;
    struct conn *c = conn_for(r, p, &dir, &err);
    if (!c)
        return err;
    c->info.last_ts = p->ts_ns;
    c->payload |= p->payload_len > 0;
    struct dir *d = &c->d[dir];
    bool was_pending = d->acked_pending;

    if ((p->flags & PH_TCP_SYN) && !take_syn(c, dir, p)) {
        c->info.st[dir].retransmitted += p->payload_len;
        touch(r, c);
        return PH_OK;
    }
    note_ack(c, dir, p);
    if (p->flags & PH_TCP_RST) {
        c->info.st[dir].ignored += p->payload_len; /* data on a reset is not taken */
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
    else
        touch(r, c);
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
    if (sodium_init() < 0)
        return PH_ERR_IO;
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
    if (!r->lim.max_memory)
        r->lim.max_memory = DEF_MAX_MEMORY;
    randombytes_buf(r->hkey, sizeof r->hkey);
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
            free_dir(r, &c->d[0]);
            free_dir(r, &c->d[1]);
            free(c);
            c = next;
        }
    }
    free(r->buckets);
    free(r);
}

const struct ph_tcpreasm_stats *ph_tcpreasm_stats(const ph_tcpreasm *r) { return &r->stats; }
