#include "gossip.h"
#include "byteorder.h"
#include "lnmsgs.h"
#include "wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    POINT_LEN = 33,
    HASH_LEN = 32,
    MSG_PRELOADED = 1,
    MSG_LOCAL = 2,
    /* reply_channel_range: type, chain, first, num, sync_complete, len, encoding */
    REPLY_RANGE_FIXED = 2 + 32 + 4 + 4 + 1 + 2 + 1,
    MAX_REPLY_SCIDS = (65535 - REPLY_RANGE_FIXED) / 8, /* 8,186 */
    LOG_COMPACT_MIN_DEAD = 1024,
};

static bool in_window(uint32_t ts, uint32_t first, uint32_t range)
{
    return ts >= first && (uint64_t)ts < (uint64_t)first + range;
}

static int kind_of(uint16_t type)
{
    switch (type) {
    case PH_GOSSIP_CHANNEL_ANNOUNCEMENT: return PH_GOSSIP_KIND_CHAN_ANN;
    case PH_GOSSIP_NODE_ANNOUNCEMENT: return PH_GOSSIP_KIND_NODE_ANN;
    case PH_GOSSIP_CHANNEL_UPDATE: return PH_GOSSIP_KIND_CHAN_UPD;
    default: return PH_GOSSIP_KIND_OTHER;
    }
}

/* ---------- messages ---------- */

struct ph_gossip_msg {
    uint32_t refs;        /* all references, the store's included */
    uint32_t store_refs;  /* references held by the store (for bytes_held) */
    uint16_t type;
    uint16_t flags;       /* MSG_PRELOADED, MSG_LOCAL */
    uint32_t len;
    uint32_t timestamp;
    uint32_t origin;
    uint64_t scid;
    uint64_t seq;         /* position in the log; 0 = not in the log */
    uint8_t data[];
};

static ph_gossip_msg *msg_new(const uint8_t *bytes, size_t len)
{
    ph_gossip_msg *m = malloc(sizeof(*m) + len);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    m->len = (uint32_t)len;
    if (bytes)
        memcpy(m->data, bytes, len);
    /* Without bytes the caller fills the message and sets its type: the
     * data is not written yet, so it must not be read. */
    if (bytes && len >= 2)
        m->type = ph_be16(bytes);
    return m;
}

static ph_gossip_msg *msg_from_fields(const uint8_t *bytes, size_t len, const ph_gossip_fields *f)
{
    ph_gossip_msg *m = msg_new(bytes, len);
    if (!m)
        return NULL;
    m->type = f->type;
    m->timestamp = f->timestamp;
    m->scid = f->scid;
    return m;
}

const uint8_t *ph_gossip_msg_data(const ph_gossip_msg *m) { return m->data; }
size_t ph_gossip_msg_len(const ph_gossip_msg *m) { return m->len; }
uint16_t ph_gossip_msg_type(const ph_gossip_msg *m) { return m->type; }
uint32_t ph_gossip_msg_timestamp(const ph_gossip_msg *m) { return m->timestamp; }

ph_gossip_msg *ph_gossip_msg_ref(ph_gossip_msg *m)
{
    m->refs++;
    return m;
}

void ph_gossip_msg_unref(ph_gossip_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* ---------- hash table (insert + lookup; entries are never removed) ---------- */

struct slot {
    uint64_t h;
    void *item;
};

struct htab {
    struct slot *slots;
    size_t cap, n; /* cap is a power of two */
};

typedef bool (*htab_eq)(const void *item, const void *key);

static void *htab_get(const struct htab *t, uint64_t h, const void *key, htab_eq eq)
{
    if (!t->cap)
        return NULL;
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        const struct slot *sl = &t->slots[i];
        if (!sl->item)
            return NULL;
        if (sl->h == h && eq(sl->item, key))
            return sl->item;
    }
}

static void htab_place(struct slot *slots, size_t cap, uint64_t h, void *item)
{
    size_t i = h & (cap - 1);
    while (slots[i].item)
        i = (i + 1) & (cap - 1);
    slots[i].h = h;
    slots[i].item = item;
}

static ph_err htab_put(struct htab *t, uint64_t h, void *item)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        struct slot *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
            return PH_ERR_NOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].item)
                htab_place(ns, ncap, t->slots[i].h, t->slots[i].item);
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    htab_place(t->slots, t->cap, h, item);
    t->n++;
    return PH_OK;
}

/* ---------- store state ---------- */

struct node {
    uint8_t id[POINT_LEN];
    ph_gossip_msg *ann;     /* current node_announcement or NULL */
    uint32_t n_chans;       /* channel_announcements naming this node */
    uint32_t n_logged;      /* of which in the log */
    uint64_t query_mark;    /* last query that sent its announcement */
    int64_t sim_ts;         /* preload simulation: last accepted timestamp, -1 none */
};

struct chan {
    uint64_t scid;
    ph_gossip_msg *ann;
    ph_gossip_msg *upd[2];
    struct node *node[2];
    uint32_t *pre_ts;       /* timestamps of preloaded updates of this scid */
    size_t n_pre_ts, cap_pre_ts;
    bool logged;
    int64_t sim_ts[2];
};

struct pend {
    ph_gossip_msg *m;       /* NULL = hole (released) */
    uint64_t scid;
    uint8_t dir;
    uint8_t id[POINT_LEN];
};

/* FIFO with holes: an entry survives `cap` later insertions. */
struct ring {
    struct pend *e;
    size_t cap, head, count, live;
};

struct log_ent {
    uint64_t seq;
    ph_gossip_msg *m; /* NULL once replaced */
};

struct ph_gossip_store {
    ph_gossip_config cfg;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct htab chan_tab, node_tab;
    struct chan **chans;
    size_t n_chans, cap_chans;
    struct node **nodes;
    size_t n_nodes, cap_nodes;
    struct ring pend_upd, pend_node;
    struct log_ent *log;
    size_t log_n, log_cap, log_dead;
    uint64_t log_next_seq, log_gen;
    uint64_t query_serial;
    ph_gossip_stats st;
};

struct ph_gossip_cursor {
    ph_gossip_store *s;
    uint64_t next_seq;
    size_t idx;
    uint64_t gen;
    uint32_t first, range, exclude;
};

static uint64_t hash_bytes(const ph_gossip_store *s, const uint8_t *p, size_t n)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, n, s->hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

static uint64_t hash_scid(const ph_gossip_store *s, uint64_t scid)
{
    uint8_t b[8];
    ph_put_be64(b, scid);
    return hash_bytes(s, b, sizeof(b));
}

static bool chan_eq(const void *item, const void *key)
{
    return ((const struct chan *)item)->scid == *(const uint64_t *)key;
}

static bool node_eq(const void *item, const void *key)
{
    return memcmp(((const struct node *)item)->id, key, POINT_LEN) == 0;
}

static struct chan *find_chan(const ph_gossip_store *s, uint64_t scid)
{
    return htab_get(&s->chan_tab, hash_scid(s, scid), &scid, chan_eq);
}

static struct node *find_node(const ph_gossip_store *s, const uint8_t *id)
{
    return htab_get(&s->node_tab, hash_bytes(s, id, POINT_LEN), id, node_eq);
}

static ph_err grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return PH_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return PH_ERR_NOMEM;
    *arr = p;
    *cap = ncap;
    return PH_OK;
}

/* The store's own references, counted for bytes_held. */
static ph_gossip_msg *hold(ph_gossip_store *s, ph_gossip_msg *m)
{
    if (m->store_refs++ == 0)
        s->st.bytes_held += m->len;
    m->refs++;
    return m;
}

static void drop(ph_gossip_store *s, ph_gossip_msg *m)
{
    if (!m)
        return;
    if (--m->store_refs == 0)
        s->st.bytes_held -= m->len;
    ph_gossip_msg_unref(m);
}

/* ---------- the log ---------- */

static ph_err log_append(ph_gossip_store *s, ph_gossip_msg *m)
{
    ph_err err = grow((void **)&s->log, &s->log_cap, s->log_n + 1, sizeof(*s->log));
    if (err)
        return err;
    m->seq = s->log_next_seq++;
    s->log[s->log_n].seq = m->seq;
    s->log[s->log_n].m = hold(s, m);
    s->log_n++;
    s->st.log_messages++;
    return PH_OK;
}

/* Index of the first entry with seq >= `seq`. */
static size_t log_lower_bound(const ph_gossip_store *s, uint64_t seq)
{
    size_t lo = 0, hi = s->log_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->log[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void log_compact(ph_gossip_store *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->log_n; i++)
        if (s->log[i].m)
            s->log[j++] = s->log[i];
    s->log_n = j;
    s->log_dead = 0;
    s->log_gen++; /* cursors re-find their place by seq */
}

/* Take `m` out of the log. The caller still holds another store
 * reference (the message is current somewhere), so this one never frees. */
static void log_remove(ph_gossip_store *s, ph_gossip_msg *m)
{
    if (!m->seq)
        return;
    size_t i = log_lower_bound(s, m->seq);
    if (i < s->log_n && s->log[i].m == m) {
        s->log[i].m = NULL;
        s->log_dead++;
        s->st.log_messages--;
        m->store_refs--;
        m->refs--;
    }
    m->seq = 0;
    if (s->log_dead >= LOG_COMPACT_MIN_DEAD && s->log_dead * 2 > s->log_n)
        log_compact(s);
}

/* ---------- tables ---------- */

static ph_err get_node(ph_gossip_store *s, const uint8_t *id, struct node **out)
{
    struct node *n = find_node(s, id);
    if (!n) {
        ph_err err = grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof(*s->nodes));
        if (err)
            return err;
        n = calloc(1, sizeof(*n));
        if (!n)
            return PH_ERR_NOMEM;
        memcpy(n->id, id, POINT_LEN);
        n->sim_ts = -1;
        err = htab_put(&s->node_tab, hash_bytes(s, id, POINT_LEN), n);
        if (err) {
            free(n);
            return err;
        }
        s->nodes[s->n_nodes++] = n;
        s->st.nodes = s->n_nodes;
    }
    *out = n;
    return PH_OK;
}

/* Register a channel for announcement `m` (held by the store). */
static ph_err new_chan(ph_gossip_store *s, ph_gossip_msg *m, const ph_gossip_fields *f,
                       struct chan **out)
{
    struct node *nodes[2];
    for (int i = 0; i < 2; i++) {
        ph_err err = get_node(s, f->node_id[i], &nodes[i]);
        if (err)
            return err;
    }
    ph_err err = grow((void **)&s->chans, &s->cap_chans, s->n_chans + 1, sizeof(*s->chans));
    if (err)
        return err;
    struct chan *c = calloc(1, sizeof(*c));
    if (!c)
        return PH_ERR_NOMEM;
    c->scid = f->scid;
    c->sim_ts[0] = c->sim_ts[1] = -1;
    err = htab_put(&s->chan_tab, hash_scid(s, f->scid), c);
    if (err) {
        free(c);
        return err;
    }
    c->ann = hold(s, m);
    for (int i = 0; i < 2; i++) {
        c->node[i] = nodes[i];
        nodes[i]->n_chans++;
    }
    s->chans[s->n_chans++] = c;
    s->st.channels = s->n_chans;
    *out = c;
    return PH_OK;
}

/* ---------- pending sets ---------- */

static ph_err ring_init(struct ring *r, size_t cap)
{
    r->cap = cap;
    if (!cap)
        return PH_OK;
    r->e = calloc(cap, sizeof(*r->e));
    return r->e ? PH_OK : PH_ERR_NOMEM;
}

static void ring_free(ph_gossip_store *s, struct ring *r)
{
    for (size_t i = 0; i < r->cap; i++)
        drop(s, r->e[i].m);
    free(r->e);
}

/* Append; returns whether a live entry was evicted to make room. */
static bool ring_push(ph_gossip_store *s, struct ring *r, const struct pend *p)
{
    bool evicted = false;
    if (r->count == r->cap) {
        struct pend *old = &r->e[r->head];
        if (old->m) {
            drop(s, old->m);
            r->live--;
            evicted = true;
        }
        old->m = NULL;
        r->head = (r->head + 1) % r->cap;
        r->count--;
    }
    r->e[(r->head + r->count) % r->cap] = *p;
    r->count++;
    r->live++;
    return evicted;
}

static struct pend *ring_at(struct ring *r, size_t i) { return &r->e[(r->head + i) % r->cap]; }

static struct pend *pending_update_find(struct ring *r, uint64_t scid, uint8_t dir)
{
    for (size_t i = 0; i < r->count; i++) {
        struct pend *p = ring_at(r, i);
        if (p->m && p->scid == scid && p->dir == dir)
            return p;
    }
    return NULL;
}

static struct pend *pending_node_find(struct ring *r, const uint8_t *id)
{
    for (size_t i = 0; i < r->count; i++) {
        struct pend *p = ring_at(r, i);
        if (p->m && memcmp(p->id, id, POINT_LEN) == 0)
            return p;
    }
    return NULL;
}

/* Take a message out of the ring, leaving a hole; the caller gets the
 * store's reference. */
static ph_gossip_msg *ring_take(struct ring *r, struct pend *p)
{
    ph_gossip_msg *m = p->m;
    p->m = NULL;
    r->live--;
    return m;
}

static ph_gossip_outcome compare_ts(uint32_t incoming, uint32_t stored)
{
    if (incoming == stored)
        return PH_GOSSIP_DUPLICATE;
    return incoming < stored ? PH_GOSSIP_STALE : PH_GOSSIP_ACCEPTED;
}

/* ---------- config / lifecycle ---------- */

static const struct {
    const char *name;
    const char *hex;
} chains[] = {
    { "mainnet", "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000" },
    { "testnet", "43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000" },
    { "signet", "f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000" },
    { "regtest", "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f" },
};

ph_err ph_gossip_chain_hash(const char *network, uint8_t out[32])
{
    if (!network || !out)
        return PH_ERR_ARG;
    for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++) {
        if (strcmp(network, chains[i].name) != 0)
            continue;
        size_t bin_len = 0;
        if (sodium_hex2bin(out, 32, chains[i].hex, 64, NULL, &bin_len, NULL) != 0 || bin_len != 32)
            return PH_ERR_PARSE;
        return PH_OK;
    }
    return PH_ERR_ARG;
}

void ph_gossip_config_default(ph_gossip_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    /* "mainnet" is one of the names ph_gossip_chain_hash knows: no error. */
    ph_ignore_err(ph_gossip_chain_hash("mainnet", cfg->chain_hash));
    cfg->max_pending_updates = 1000;
    cfg->max_pending_nodes = 1000;
}

ph_err ph_gossip_store_create(const ph_gossip_config *cfg, ph_gossip_store **out)
{
    if (!cfg || !out)
        return PH_ERR_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return PH_ERR_STATE;
    ph_gossip_store *s = calloc(1, sizeof(*s));
    if (!s)
        return PH_ERR_NOMEM;
    s->cfg = *cfg;
    crypto_shorthash_keygen(s->hash_key);
    s->log_next_seq = 1;
    if (ring_init(&s->pend_upd, cfg->max_pending_updates) ||
        ring_init(&s->pend_node, cfg->max_pending_nodes)) {
        ph_gossip_store_destroy(s);
        return PH_ERR_NOMEM;
    }
    *out = s;
    return PH_OK;
}

void ph_gossip_store_destroy(ph_gossip_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->log_n; i++)
        drop(s, s->log[i].m);
    free(s->log);
    for (size_t i = 0; i < s->n_chans; i++) {
        struct chan *c = s->chans[i];
        drop(s, c->ann);
        drop(s, c->upd[0]);
        drop(s, c->upd[1]);
        free(c->pre_ts);
        free(c);
    }
    free(s->chans);
    for (size_t i = 0; i < s->n_nodes; i++) {
        drop(s, s->nodes[i]->ann);
        free(s->nodes[i]);
    }
    free(s->nodes);
    ring_free(s, &s->pend_upd);
    ring_free(s, &s->pend_node);
    free(s->chan_tab.slots);
    free(s->node_tab.slots);
    free(s);
}

const uint8_t *ph_gossip_store_chain(const ph_gossip_store *s) { return s->cfg.chain_hash; }

void ph_gossip_get_stats(const ph_gossip_store *s, ph_gossip_stats *out)
{
    *out = s->st;
    out->pending_updates = s->pend_upd.live;
    out->pending_nodes = s->pend_node.live;
}

static const char *const outcome_names[PH_GOSSIP__OUTCOMES] = {
    [PH_GOSSIP_ACCEPTED] = "accepted",
    [PH_GOSSIP_PENDING] = "pending",
    [PH_GOSSIP_DUPLICATE] = "duplicate",
    [PH_GOSSIP_STALE] = "stale",
    [PH_GOSSIP_BAD_SIGNATURE] = "bad_signature",
    [PH_GOSSIP_WRONG_CHAIN] = "wrong_chain",
    [PH_GOSSIP_MALFORMED] = "malformed",
    [PH_GOSSIP_UNKNOWN_CHANNEL] = "unknown_channel",
    [PH_GOSSIP_UNKNOWN_NODE] = "unknown_node",
    [PH_GOSSIP_PRIVATE] = "private",
    [PH_GOSSIP_CONFLICT] = "conflict",
    [PH_GOSSIP_NOT_GOSSIP] = "not_gossip",
};

const char *ph_gossip_outcome_name(ph_gossip_outcome o)
{
    if ((unsigned)o >= PH_GOSSIP__OUTCOMES)
        return "unknown";
    return outcome_names[o];
}

/* ---------- applying accepted messages ---------- */

/* Replace a current message: a strict one also leaves the log; preloaded
 * ones stay (they are the verbatim relay source). */
static void retire(ph_gossip_store *s, ph_gossip_msg *old)
{
    if (!old)
        return;
    if (!(old->flags & MSG_PRELOADED))
        log_remove(s, old);
    drop(s, old);
}

/* The channel becomes servable: its announcement goes to the log, followed
 * (by the caller) by the update, then by node_announcements that were
 * waiting for a logged channel (collected in `later`). */
static ph_err log_channel(ph_gossip_store *s, struct chan *c, struct node *later[2])
{
    ph_err err = log_append(s, c->ann);
    if (err)
        return err;
    c->logged = true;
    for (int i = 0; i < 2; i++) {
        struct node *n = c->node[i];
        later[i] = NULL;
        if (n->n_logged++ == 0 && n->ann && !n->ann->seq)
            later[i] = n;
    }
    return PH_OK;
}

/* Make `m` (new, newer than the current one) the current update. */
static ph_err apply_update(ph_gossip_store *s, struct chan *c, ph_gossip_msg *m, int dir)
{
    struct node *later[2] = { NULL, NULL };
    if (!c->logged) {
        ph_err err = log_channel(s, c, later);
        if (err)
            return err;
    }
    retire(s, c->upd[dir]);
    c->upd[dir] = hold(s, m);
    ph_err err = log_append(s, m);
    for (int i = 0; i < 2 && !err; i++)
        if (later[i])
            err = log_append(s, later[i]->ann);
    return err;
}

static ph_err apply_node_ann(ph_gossip_store *s, struct node *n, ph_gossip_msg *m)
{
    retire(s, n->ann);
    n->ann = hold(s, m);
    return n->n_logged ? log_append(s, m) : PH_OK;
}

/* ---------- strict add ---------- */

static ph_gossip_outcome verify_outcome(ph_err e)
{
    if (e == PH_OK)
        return PH_GOSSIP_ACCEPTED;
    return e == PH_ERR_GOSSIP_SIGNATURE ? PH_GOSSIP_BAD_SIGNATURE : PH_GOSSIP_MALFORMED;
}

static bool our_chain(const ph_gossip_store *s, const uint8_t *chain)
{
    return memcmp(chain, s->cfg.chain_hash, HASH_LEN) == 0;
}

static ph_gossip_msg *new_received(const uint8_t *msg, size_t len, const ph_gossip_fields *f,
                                   uint32_t origin)
{
    ph_gossip_msg *m = msg_from_fields(msg, len, f);
    if (m) {
        m->origin = origin;
        if (origin == PH_GOSSIP_ORIGIN_LOCAL)
            m->flags |= MSG_LOCAL;
    }
    return m;
}

/* Updates that waited for channel `c`: verified now that the keys are known. */
static ph_err release_pending_updates(ph_gossip_store *s, struct chan *c)
{
    struct ring *r = &s->pend_upd;
    for (size_t i = 0; i < r->count && r->live; i++) {
        struct pend *p = ring_at(r, i);
        if (!p->m || p->scid != c->scid)
            continue;
        int dir = p->dir;
        ph_gossip_msg *m = ring_take(r, p);
        ph_err err = PH_OK;
        bool newer = !c->upd[dir] || m->timestamp > c->upd[dir]->timestamp;
        if (newer && ph_gossip_verify(m->data, m->len, c->node[dir]->id) == PH_OK) {
            err = apply_update(s, c, m, dir);
            s->st.pending_updates_released++;
        } else {
            s->st.pending_updates_rejected++;
        }
        drop(s, m);
        if (err)
            return err;
    }
    return PH_OK;
}

static ph_err release_pending_node(ph_gossip_store *s, struct node *n)
{
    struct pend *p = s->pend_node.cap ? pending_node_find(&s->pend_node, n->id) : NULL;
    if (!p)
        return PH_OK;
    ph_gossip_msg *m = ring_take(&s->pend_node, p);
    ph_err err = PH_OK;
    if (!n->ann || m->timestamp > n->ann->timestamp) {
        err = apply_node_ann(s, n, m); /* its signature was checked on arrival */
        s->st.pending_nodes_released++;
    } else {
        s->st.pending_nodes_rejected++;
    }
    drop(s, m);
    return err;
}

static ph_err add_chan_ann(ph_gossip_store *s, const uint8_t *msg, size_t len,
                           const ph_gossip_fields *f, uint32_t origin, ph_gossip_result *res)
{
    if (!our_chain(s, f->chain_hash)) {
        res->outcome = PH_GOSSIP_WRONG_CHAIN;
        return PH_OK;
    }
    struct chan *c = find_chan(s, f->scid);
    if (c) {
        bool same = c->ann->len == len && memcmp(c->ann->data, msg, len) == 0;
        res->outcome = same ? PH_GOSSIP_DUPLICATE : PH_GOSSIP_CONFLICT;
        return PH_OK;
    }
    res->outcome = verify_outcome(ph_gossip_verify(msg, len, NULL));
    if (res->outcome != PH_GOSSIP_ACCEPTED)
        return PH_OK;
    ph_gossip_msg *m = new_received(msg, len, f, origin);
    if (!m)
        return PH_ERR_NOMEM;
    ph_err err = new_chan(s, m, f, &c);
    ph_gossip_msg_unref(m);
    if (err)
        return err;
    res->msg = m;
    err = release_pending_updates(s, c);
    for (int i = 0; i < 2 && !err; i++)
        err = release_pending_node(s, c->node[i]);
    return err;
}

static ph_err pend_update(ph_gossip_store *s, ph_gossip_msg *m, int dir, ph_gossip_result *res)
{
    struct ring *r = &s->pend_upd;
    if (!r->cap) {
        res->outcome = PH_GOSSIP_UNKNOWN_CHANNEL;
        return PH_OK;
    }
    struct pend *p = pending_update_find(r, m->scid, (uint8_t)dir);
    if (p) {
        res->outcome = compare_ts(m->timestamp, p->m->timestamp);
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
        drop(s, p->m);
        p->m = hold(s, m);
        s->st.pending_updates_replaced++;
    } else {
        struct pend np = { .m = hold(s, m), .scid = m->scid, .dir = (uint8_t)dir };
        if (ring_push(s, r, &np))
            s->st.pending_updates_evicted++;
    }
    res->outcome = PH_GOSSIP_PENDING;
    return PH_OK;
}

static ph_err add_chan_upd(ph_gossip_store *s, const uint8_t *msg, size_t len,
                           const ph_gossip_fields *f, uint32_t origin, ph_gossip_result *res)
{
    if (!our_chain(s, f->chain_hash)) {
        res->outcome = PH_GOSSIP_WRONG_CHAIN;
        return PH_OK;
    }
    if (f->message_flags & PH_GOSSIP_MESSAGE_FLAG_DONT_FORWARD) {
        res->outcome = PH_GOSSIP_PRIVATE;
        return PH_OK;
    }
    int dir = f->channel_flags & PH_GOSSIP_CHANNEL_FLAG_DIRECTION;
    struct chan *c = find_chan(s, f->scid);
    if (c && c->upd[dir]) {
        /* timestamps first: cheaper than a signature */
        res->outcome = compare_ts(f->timestamp, c->upd[dir]->timestamp);
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
    }
    if (c) {
        res->outcome = verify_outcome(ph_gossip_verify(msg, len, c->node[dir]->id));
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
    }
    ph_gossip_msg *m = new_received(msg, len, f, origin);
    if (!m)
        return PH_ERR_NOMEM;
    ph_err err = c ? apply_update(s, c, m, dir) : pend_update(s, m, dir, res);
    if (c && !err)
        res->msg = m;
    ph_gossip_msg_unref(m);
    return err;
}

static ph_err pend_node(ph_gossip_store *s, ph_gossip_msg *m, const uint8_t *id,
                        ph_gossip_result *res)
{
    struct ring *r = &s->pend_node;
    if (!r->cap) {
        res->outcome = PH_GOSSIP_UNKNOWN_NODE;
        return PH_OK;
    }
    struct pend *p = pending_node_find(r, id);
    if (p) {
        res->outcome = compare_ts(m->timestamp, p->m->timestamp);
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
        drop(s, p->m);
        p->m = hold(s, m);
        s->st.pending_nodes_replaced++;
    } else {
        struct pend np = { .m = hold(s, m) };
        memcpy(np.id, id, POINT_LEN);
        if (ring_push(s, r, &np))
            s->st.pending_nodes_evicted++;
    }
    res->outcome = PH_GOSSIP_PENDING;
    return PH_OK;
}

static ph_err add_node_ann(ph_gossip_store *s, const uint8_t *msg, size_t len,
                           const ph_gossip_fields *f, uint32_t origin, ph_gossip_result *res)
{
    struct node *n = find_node(s, f->node_id[0]);
    if (n && n->ann) {
        res->outcome = compare_ts(f->timestamp, n->ann->timestamp);
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
    }
    /* checked before pending too, so the pending set holds no forgeries */
    res->outcome = verify_outcome(ph_gossip_verify(msg, len, NULL));
    if (res->outcome != PH_GOSSIP_ACCEPTED)
        return PH_OK;
    ph_gossip_msg *m = new_received(msg, len, f, origin);
    if (!m)
        return PH_ERR_NOMEM;
    ph_err err = n ? apply_node_ann(s, n, m) : pend_node(s, m, f->node_id[0], res);
    if (n && !err)
        res->msg = m;
    ph_gossip_msg_unref(m);
    return err;
}

ph_err ph_gossip_add(ph_gossip_store *s, const uint8_t *msg, size_t len, uint32_t origin,
                     ph_gossip_result *res)
{
    if (!s || !msg || !res || len > 65535)
        return PH_ERR_ARG;
    memset(res, 0, sizeof(*res));
    uint64_t seq0 = s->log_next_seq;
    ph_gossip_fields f;
    ph_err perr = ph_gossip_parse(msg, len, &f);
    ph_err err = PH_OK;
    if (perr == PH_ERR_WIRE_UNKNOWN_TYPE || len < 2)
        res->outcome = PH_GOSSIP_NOT_GOSSIP;
    else if (perr)
        res->outcome = PH_GOSSIP_MALFORMED;
    else if (f.type == PH_GOSSIP_CHANNEL_ANNOUNCEMENT)
        err = add_chan_ann(s, msg, len, &f, origin, res);
    else if (f.type == PH_GOSSIP_CHANNEL_UPDATE)
        err = add_chan_upd(s, msg, len, &f, origin, res);
    else
        err = add_node_ann(s, msg, len, &f, origin, res);
    res->n_new = (size_t)(s->log_next_seq - seq0);
    if (err)
        return err;
    s->st.outcome[kind_of(len >= 2 ? ph_be16(msg) : 0)][res->outcome]++;
    return PH_OK;
}

/* ---------- serving ---------- */

static bool chan_update_in_window(const ph_gossip_store *s, uint64_t scid, uint32_t first,
                                  uint32_t range)
{
    const struct chan *c = find_chan(s, scid);
    if (!c)
        return false;
    for (int d = 0; d < 2; d++)
        if (c->upd[d] && in_window(c->upd[d]->timestamp, first, range))
            return true;
    for (size_t i = 0; i < c->n_pre_ts; i++)
        if (in_window(c->pre_ts[i], first, range))
            return true;
    return false;
}

bool ph_gossip_msg_in_window(const ph_gossip_store *s, const ph_gossip_msg *m,
                             uint32_t first_timestamp, uint32_t timestamp_range)
{
    if (m->flags & MSG_LOCAL)
        return true;
    if (m->type == PH_GOSSIP_CHANNEL_ANNOUNCEMENT)
        return chan_update_in_window(s, m->scid, first_timestamp, timestamp_range);
    return in_window(m->timestamp, first_timestamp, timestamp_range);
}

ph_err ph_gossip_cursor_create(ph_gossip_store *s, uint32_t first_timestamp,
                               uint32_t timestamp_range, uint32_t exclude_origin,
                               ph_gossip_cursor **out)
{
    if (!s || !out)
        return PH_ERR_ARG;
    ph_gossip_cursor *c = calloc(1, sizeof(*c));
    if (!c)
        return PH_ERR_NOMEM;
    c->s = s;
    c->exclude = exclude_origin;
    ph_gossip_cursor_set_filter(c, first_timestamp, timestamp_range);
    *out = c;
    return PH_OK;
}

void ph_gossip_cursor_destroy(ph_gossip_cursor *c) { free(c); }

void ph_gossip_cursor_set_filter(ph_gossip_cursor *c, uint32_t first_timestamp,
                                 uint32_t timestamp_range)
{
    c->first = first_timestamp;
    c->range = timestamp_range;
    c->next_seq = 1;
    c->idx = 0;
    c->gen = c->s->log_gen;
}

static size_t cursor_pos(const ph_gossip_cursor *c)
{
    if (c->gen == c->s->log_gen)
        return c->idx;
    return log_lower_bound(c->s, c->next_seq);
}

ph_gossip_msg *ph_gossip_cursor_next(ph_gossip_cursor *c)
{
    ph_gossip_store *s = c->s;
    size_t i = cursor_pos(c);
    c->gen = s->log_gen;
    for (; i < s->log_n; i++) {
        ph_gossip_msg *m = s->log[i].m;
        if (!m)
            continue;
        if (c->exclude != PH_GOSSIP_ORIGIN_LOCAL && m->origin == c->exclude)
            continue;
        if (!ph_gossip_msg_in_window(s, m, c->first, c->range))
            continue;
        c->idx = i + 1;
        c->next_seq = s->log[i].seq + 1;
        return ph_gossip_msg_ref(m);
    }
    c->idx = s->log_n;
    c->next_seq = s->log_next_seq;
    return NULL;
}

bool ph_gossip_cursor_at_end(const ph_gossip_cursor *c)
{
    return cursor_pos(c) >= c->s->log_n;
}

ph_err ph_gossip_parse_timestamp_filter(const ph_gossip_store *s, const uint8_t *msg, size_t len,
                                        uint32_t *first_timestamp, uint32_t *timestamp_range)
{
    if (!s || !msg || !first_timestamp || !timestamp_range)
        return PH_ERR_ARG;
    if (len < 2 + HASH_LEN + 8)
        return PH_ERR_WIRE_SHORT;
    if (ph_be16(msg) != PH_WIRE_GOSSIP_TIMESTAMP_FILTER)
        return PH_ERR_ARG;
    if (!our_chain(s, msg + 2))
        return PH_ERR_GOSSIP_CHAIN;
    *first_timestamp = ph_be32(msg + 2 + HASH_LEN);
    *timestamp_range = ph_be32(msg + 2 + HASH_LEN + 4);
    return PH_OK;
}

/* ---------- preload ---------- */

/* Every record must frame and parse, and carry our chain: a trusted relay
 * source for another chain or with garbage in it is refused whole. */
static ph_err preload_scan(const ph_gossip_store *s, const uint8_t *buf, size_t len, size_t *count,
                           ph_gossip_preload_stats *st)
{
    size_t off = 0, n = 0;
    while (off < len) {
        st->bad_offset = off;
        const uint8_t *msg;
        size_t l;
        if (ph_lnmsgs_next(buf, len, &off, &msg, &l) != PH_OK)
            return PH_ERR_GOSSIP_FORMAT;
        ph_gossip_fields f;
        if (ph_gossip_parse(msg, l, &f) != PH_OK)
            return PH_ERR_GOSSIP_FORMAT;
        if (f.chain_hash && !our_chain(s, f.chain_hash))
            return PH_ERR_GOSSIP_CHAIN;
        n++;
    }
    st->bad_offset = 0;
    *count = n;
    return PH_OK;
}

/* Announcements register their channel (trusted: no signature needed). */
static ph_err preload_register(ph_gossip_store *s, ph_gossip_msg *m, const ph_gossip_fields *f)
{
    if (f->type != PH_GOSSIP_CHANNEL_ANNOUNCEMENT || find_chan(s, f->scid))
        return PH_OK;
    struct chan *c;
    ph_err err = new_chan(s, m, f, &c);
    if (err)
        return err;
    c->logged = true; /* it is in the log at its file position */
    c->node[0]->n_logged++;
    if (c->node[1] != c->node[0])
        c->node[1]->n_logged++;
    return PH_OK;
}

/* What a strict store would have said, in file order; before the preloaded
 * messages become current, so that sim_ts starts from the store's state. */
static void preload_simulate(ph_gossip_store *s, ph_gossip_msg **msgs, size_t n,
                             ph_gossip_preload_stats *st)
{
    for (size_t i = 0; i < s->n_chans; i++)
        for (int d = 0; d < 2; d++)
            s->chans[i]->sim_ts[d] = s->chans[i]->upd[d] ? (int64_t)s->chans[i]->upd[d]->timestamp : -1;
    for (size_t i = 0; i < s->n_nodes; i++)
        s->nodes[i]->sim_ts = s->nodes[i]->ann ? (int64_t)s->nodes[i]->ann->timestamp : -1;
    for (size_t i = 0; i < n; i++) {
        ph_gossip_msg *m = msgs[i];
        ph_gossip_fields f;
        if (ph_gossip_parse(m->data, m->len, &f) != PH_OK)
            continue; /* cannot happen: preload_scan parsed every record */
        int64_t *last = NULL;
        if (f.type == PH_GOSSIP_CHANNEL_UPDATE) {
            struct chan *c = find_chan(s, f.scid);
            int dir = f.channel_flags & 1;
            if (!c) {
                st->unknown_channel++;
                continue;
            }
            if (ph_gossip_verify(m->data, m->len, c->node[dir]->id) != PH_OK) {
                st->bad_signature++;
                continue;
            }
            last = &c->sim_ts[dir];
        } else if (ph_gossip_verify(m->data, m->len, NULL) != PH_OK) {
            st->bad_signature++;
            continue;
        } else if (f.type == PH_GOSSIP_NODE_ANNOUNCEMENT) {
            struct node *nd = find_node(s, f.node_id[0]);
            if (!nd) {
                st->unknown_node++;
                continue;
            }
            last = &nd->sim_ts;
        } else if (find_chan(s, f.scid)->ann != m) {
            st->stale++; /* a second announcement of the scid */
            continue;
        }
        if (last && (int64_t)f.timestamp <= *last) {
            st->stale++;
            continue;
        }
        if (last)
            *last = f.timestamp;
        st->strict_ok++;
    }
}

static ph_err preload_index_update(ph_gossip_store *s, ph_gossip_msg *m)
{
    struct chan *c = find_chan(s, m->scid);
    if (!c)
        return PH_OK; /* relay-only: its channel is unknown */
    ph_err err = grow((void **)&c->pre_ts, &c->cap_pre_ts, c->n_pre_ts + 1, sizeof(*c->pre_ts));
    if (err)
        return err;
    c->pre_ts[c->n_pre_ts++] = m->timestamp;
    int dir = m->data[2 + 64 + 32 + 8 + 4 + 1] & 1;
    if (!c->upd[dir] || m->timestamp > c->upd[dir]->timestamp) {
        retire(s, c->upd[dir]);
        c->upd[dir] = hold(s, m);
    }
    return PH_OK;
}

static void preload_index_node(ph_gossip_store *s, ph_gossip_msg *m)
{
    ph_gossip_fields f;
    if (ph_gossip_parse(m->data, m->len, &f) != PH_OK)
        return; /* cannot happen: preload_scan parsed every record */
    struct node *n = find_node(s, f.node_id[0]);
    if (n && (!n->ann || m->timestamp > n->ann->timestamp)) {
        retire(s, n->ann);
        n->ann = hold(s, m);
    }
}

static ph_err preload_msgs(ph_gossip_store *s, const uint8_t *buf, size_t len,
                           ph_gossip_msg **msgs, size_t n, ph_gossip_preload_stats *st)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *msg;
        size_t l;
        ph_gossip_fields f;
        /* preload_scan framed and parsed every record already. */
        if (ph_lnmsgs_next(buf, len, &off, &msg, &l) || ph_gossip_parse(msg, l, &f))
            return PH_ERR_GOSSIP_FORMAT;
        msgs[i] = msg_from_fields(msg, l, &f);
        if (!msgs[i])
            return PH_ERR_NOMEM;
        msgs[i]->flags = MSG_PRELOADED;
        st->by_type[f.type - PH_GOSSIP_CHANNEL_ANNOUNCEMENT]++; /* 256..258: preload_scan */
        ph_err err = preload_register(s, msgs[i], &f);
        if (err)
            return err;
    }
    preload_simulate(s, msgs, n, st);
    for (size_t i = 0; i < n; i++) {
        ph_err err = log_append(s, msgs[i]);
        if (!err && msgs[i]->type == PH_GOSSIP_CHANNEL_UPDATE)
            err = preload_index_update(s, msgs[i]);
        if (!err && msgs[i]->type == PH_GOSSIP_NODE_ANNOUNCEMENT)
            preload_index_node(s, msgs[i]);
        if (err)
            return err;
        s->st.preloaded++;
    }
    return PH_OK;
}

ph_err ph_gossip_preload_buf(ph_gossip_store *s, const uint8_t *buf, size_t len,
                             ph_gossip_preload_stats *st)
{
    ph_gossip_preload_stats local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    if (!s || (!buf && len))
        return PH_ERR_ARG;
    size_t n = 0;
    ph_err err = preload_scan(s, buf, len, &n, st);
    if (err || n == 0)
        return err;
    ph_gossip_msg **msgs = calloc(n, sizeof(*msgs));
    if (!msgs)
        return PH_ERR_NOMEM;
    err = preload_msgs(s, buf, len, msgs, n, st);
    for (size_t i = 0; i < n; i++)
        ph_gossip_msg_unref(msgs[i]); /* the store holds what it keeps */
    free(msgs);
    if (!err) {
        st->messages = n;
        st->bytes = len;
    }
    return err;
}

ph_err ph_gossip_preload_file(ph_gossip_store *s, const char *path, ph_gossip_preload_stats *st)
{
    if (!s || !path)
        return PH_ERR_ARG;
    FILE *f = fopen(path, "rb");
    if (!f)
        return PH_ERR_IO;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    ph_err err = PH_OK;
    for (;;) {
        err = grow((void **)&buf, &cap, len + 65536, 1);
        if (err)
            break;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                err = PH_ERR_IO;
            break;
        }
    }
    int saved = errno;
    fclose(f);
    if (!err)
        err = ph_gossip_preload_buf(s, buf, len, st);
    free(buf);
    if (err == PH_ERR_IO)
        errno = saved;
    return err;
}

/* ---------- key-recovery audit ---------- */

struct recov {
    uint64_t scid;
    uint8_t dir;
    bool ok[2];
    uint8_t keys[2][POINT_LEN];
};

static int recov_cmp(const void *a, const void *b)
{
    const struct recov *x = a, *y = b;
    if (x->scid != y->scid)
        return x->scid < y->scid ? -1 : 1;
    return (int)x->dir - (int)y->dir;
}

static bool recov_has(const struct recov *r, const uint8_t *key)
{
    for (int i = 0; i < 2; i++)
        if (r->ok[i] && memcmp(r->keys[i], key, POINT_LEN) == 0)
            return true;
    return false;
}

static bool id_eq(const void *item, const void *key) { return memcmp(item, key, POINT_LEN) == 0; }

/* Node ids the store has seen anywhere: channel_announcement endpoints and
 * node_announcements in the log (relay-only ones included). Items borrow. */
static ph_err known_ids(const ph_gossip_store *s, struct htab *t)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        const uint8_t *id = s->nodes[i]->id;
        uint64_t h = hash_bytes(s, id, POINT_LEN);
        if (!htab_get(t, h, id, id_eq) && htab_put(t, h, (void *)id))
            return PH_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->log_n; i++) {
        const ph_gossip_msg *m = s->log[i].m;
        ph_gossip_fields f;
        if (!m || m->type != PH_GOSSIP_NODE_ANNOUNCEMENT || ph_gossip_parse(m->data, m->len, &f))
            continue;
        uint64_t h = hash_bytes(s, f.node_id[0], POINT_LEN);
        if (!htab_get(t, h, f.node_id[0], id_eq) && htab_put(t, h, (void *)f.node_id[0]))
            return PH_ERR_NOMEM;
    }
    return PH_OK;
}

/* Updates matched by nothing else: consistent if one key signs them all. */
static void audit_groups(struct recov *r, size_t n, ph_gossip_recovery_stats *out)
{
    qsort(r, n, sizeof(*r), recov_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && r[j].scid == r[i].scid && r[j].dir == r[i].dir)
            j++;
        bool shared = false;
        for (int k = 0; k < 2 && j - i >= 2 && !shared; k++) {
            if (!r[i].ok[k])
                continue;
            shared = true;
            for (size_t x = i + 1; x < j && shared; x++)
                shared = recov_has(&r[x], r[i].keys[k]);
        }
        if (shared)
            out->consistent += j - i;
        else
            out->unverifiable += j - i;
        i = j;
    }
}

ph_err ph_gossip_audit_recovery(ph_gossip_store *s, ph_gossip_recovery_stats *out)
{
    if (!s || !out)
        return PH_ERR_ARG;
    memset(out, 0, sizeof(*out));
    struct htab ids = { 0 };
    struct recov *rest = NULL;
    size_t n_rest = 0, cap_rest = 0;
    ph_err err = known_ids(s, &ids);
    for (size_t i = 0; i < s->log_n && !err; i++) {
        const ph_gossip_msg *m = s->log[i].m;
        if (!m || !(m->flags & MSG_PRELOADED) || m->type != PH_GOSSIP_CHANNEL_UPDATE)
            continue;
        out->updates++;
        struct recov r = { .scid = m->scid, .dir = m->data[2 + 64 + 32 + 8 + 4 + 1] & 1 };
        if (ph_gossip_recover_keys(m->data, m->len, r.keys, r.ok) != PH_OK) {
            out->unrecoverable++;
            continue;
        }
        const struct chan *c = find_chan(s, m->scid);
        if (c) {
            if (recov_has(&r, c->node[r.dir]->id))
                out->match_channel++;
            else
                out->mismatch_channel++;
            continue;
        }
        bool known = false;
        for (int k = 0; k < 2 && !known; k++)
            known = r.ok[k] && htab_get(&ids, hash_bytes(s, r.keys[k], POINT_LEN), r.keys[k], id_eq);
        if (known) {
            out->match_known_node++;
            continue;
        }
        err = grow((void **)&rest, &cap_rest, n_rest + 1, sizeof(*rest));
        if (!err)
            rest[n_rest++] = r;
    }
    if (!err)
        audit_groups(rest, n_rest, out);
    free(rest);
    free(ids.slots);
    return err;
}

/* ---------- queries ---------- */

static ph_err emit_ref(ph_gossip_emit_fn emit, void *ctx, ph_gossip_msg *m)
{
    return emit(ctx, ph_gossip_msg_ref(m));
}

static ph_err emit_reply_range(ph_gossip_emit_fn emit, void *ctx, const uint8_t *chain,
                               uint32_t first, uint32_t num, bool complete,
                               const uint64_t *scids, size_t n)
{
    size_t len = REPLY_RANGE_FIXED + 8 * n;
    ph_gossip_msg *m = msg_new(NULL, len);
    if (!m)
        return PH_ERR_NOMEM;
    uint8_t *p = m->data;
    ph_put_be16(p, PH_WIRE_REPLY_CHANNEL_RANGE);
    memcpy(p + 2, chain, HASH_LEN);
    ph_put_be32(p + 34, first);
    ph_put_be32(p + 38, num);
    p[42] = complete;
    ph_put_be16(p + 43, (uint16_t)(1 + 8 * n));
    p[45] = 0; /* encoding: uncompressed */
    for (size_t i = 0; i < n; i++)
        ph_put_be64(p + REPLY_RANGE_FIXED + 8 * i, scids[i]);
    m->type = PH_WIRE_REPLY_CHANNEL_RANGE;
    return emit(ctx, m);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Announced scids with blocks in [first, end), ascending. */
static ph_err scids_in_range(const ph_gossip_store *s, uint64_t first, uint64_t end,
                             uint64_t **out, size_t *n_out)
{
    uint64_t *v = malloc((s->n_chans ? s->n_chans : 1) * sizeof(*v));
    if (!v)
        return PH_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n_chans; i++) {
        uint64_t b = ph_gossip_scid_block(s->chans[i]->scid);
        if (b >= first && b < end)
            v[n++] = s->chans[i]->scid;
    }
    qsort(v, n, sizeof(*v), u64_cmp);
    *out = v;
    *n_out = n;
    return PH_OK;
}

/* How many scids from `i` go in one reply, and the block where the next
 * reply starts. Cut at a block boundary unless one block alone overflows. */
static size_t reply_chunk(const uint64_t *v, size_t n, size_t i, uint64_t *reply_end,
                          uint64_t *next_start)
{
    size_t take = n - i < MAX_REPLY_SCIDS ? n - i : MAX_REPLY_SCIDS;
    if (i + take == n)
        return take;
    uint32_t nb = ph_gossip_scid_block(v[i + take]);
    size_t j = i + take;
    while (j > i && ph_gossip_scid_block(v[j - 1]) == nb)
        j--;
    *next_start = nb;
    if (j == i) {            /* the whole chunk is block nb: continue it next time */
        *reply_end = (uint64_t)nb + 1;
        return take;
    }
    *reply_end = nb;
    return j - i;
}

ph_err ph_gossip_answer_channel_range(ph_gossip_store *s, const uint8_t *query, size_t len,
                                      ph_gossip_emit_fn emit, void *ctx)
{
    if (!s || !query || !emit)
        return PH_ERR_ARG;
    if (len >= 2 && ph_be16(query) != PH_WIRE_QUERY_CHANNEL_RANGE)
        return PH_ERR_ARG;
    /* the codec checks the layout and the query_option TLV; options are
     * then ignored (MAY in BOLT 7) */
    ph_err err = ph_wire_decode(query, len, 0, NULL, NULL);
    if (err)
        return err;
    s->st.channel_range_queries++;
    const uint8_t *chain = query + 2;
    uint32_t first = ph_be32(query + 34), num = ph_be32(query + 38);
    uint64_t end_all = (uint64_t)first + num;
    if (end_all > UINT32_MAX)
        end_all = UINT32_MAX;
    if (!our_chain(s, chain)) {
        s->st.channel_range_replies++;
        return emit_reply_range(emit, ctx, chain, first, num, false, NULL, 0);
    }
    uint64_t *v = NULL;
    size_t n = 0;
    err = scids_in_range(s, first, end_all, &v, &n);
    uint64_t start = first;
    for (size_t i = 0; !err;) {
        uint64_t reply_end = end_all, next_start = end_all;
        size_t take = reply_chunk(v, n, i, &reply_end, &next_start);
        bool last = i + take == n;
        if (last)
            reply_end = end_all;
        s->st.channel_range_replies++;
        err = emit_reply_range(emit, ctx, chain, (uint32_t)start, (uint32_t)(reply_end - start),
                               last, v + i, take);
        if (last)
            break;
        i += take;
        start = next_start;
    }
    free(v);
    return err;
}

/* query_flags TLV value: encoding byte + one bigsize per scid. */
static ph_err parse_query_flags(const uint8_t *p, size_t n, size_t want, uint64_t **out)
{
    if (n < 1)
        return PH_ERR_WIRE_SHORT;
    if (p[0] != 0)
        return PH_ERR_GOSSIP_ENCODING;
    uint64_t *f = malloc((want ? want : 1) * sizeof(*f));
    if (!f)
        return PH_ERR_NOMEM;
    size_t o = 1, k = 0;
    ph_err err = PH_OK;
    while (o < n && !err) {
        size_t used;
        uint64_t v;
        err = ph_wire_bigsize_decode(p + o, n - o, &v, &used);
        if (!err && k == want)
            err = PH_ERR_WIRE_FIELD;
        if (!err) {
            f[k++] = v;
            o += used;
        }
    }
    if (!err && k != want)
        err = PH_ERR_WIRE_FIELD;
    if (err) {
        free(f);
        return err;
    }
    *out = f;
    return PH_OK;
}

/* The parts of a query_short_channel_ids we use, checked by the wire codec
 * (layout, TLV stream rules) and here (encodings, counts). Borrows from
 * `wm`. */
struct scid_query {
    const uint8_t *chain;
    const uint8_t *scids;  /* n x 8 bytes */
    size_t n;
    uint64_t *flags;       /* NULL when absent; caller frees */
};

static ph_err parse_scid_query(const ph_wire_msg *wm, struct scid_query *q)
{
    size_t clen, elen;
    const uint8_t *enc;
    ph_err err = ph_wire_get_bytes(wm, "chain_hash", &q->chain, &clen);
    if (!err)
        err = ph_wire_get_bytes(wm, "encoded_short_ids", &enc, &elen);
    if (err)
        return err;
    if (elen < 1)
        return PH_ERR_WIRE_FIELD;
    if (enc[0] != 0) /* 1 was zlib: BOLT 7 now forbids it */
        return PH_ERR_GOSSIP_ENCODING;
    if ((elen - 1) % 8 != 0)
        return PH_ERR_WIRE_FIELD;
    q->scids = enc + 1;
    q->n = (elen - 1) / 8;
    q->flags = NULL;
    const ph_wire_tlv *t = ph_wire_tlv_find(wm, 1);
    return t ? parse_query_flags(t->value, t->len, q->n, &q->flags) : PH_OK;
}

static ph_err emit_scid_end(ph_gossip_emit_fn emit, void *ctx, const uint8_t *chain, bool full)
{
    ph_gossip_msg *m = msg_new(NULL, 2 + HASH_LEN + 1);
    if (!m)
        return PH_ERR_NOMEM;
    ph_put_be16(m->data, PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END);
    memcpy(m->data + 2, chain, HASH_LEN);
    m->data[34] = full;
    m->type = PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END;
    return emit(ctx, m);
}

enum {
    QF_ANN = 1, QF_UPD1 = 2, QF_UPD2 = 4, QF_NODE1 = 8, QF_NODE2 = 16,
    QF_ALL = QF_ANN | QF_UPD1 | QF_UPD2 | QF_NODE1 | QF_NODE2,
};

/* The messages of one channel, as the planned flags say (node duplicates
 * already removed by the plan). */
static ph_err answer_one_scid(ph_gossip_store *s, const struct chan *c, unsigned flags,
                              ph_gossip_emit_fn emit, void *ctx)
{
    ph_gossip_msg *out[5];
    size_t n = 0;
    if (flags & QF_ANN)
        out[n++] = c->ann;
    for (int d = 0; d < 2; d++)
        if ((flags & (unsigned)(QF_UPD1 << d)) && c->upd[d])
            out[n++] = c->upd[d];
    for (int i = 0; i < 2; i++)
        if ((flags & (unsigned)(QF_NODE1 << i)) && c->node[i]->ann)
            out[n++] = c->node[i]->ann;
    for (size_t i = 0; i < n; i++) {
        s->st.scid_query_messages++;
        ph_err err = emit_ref(emit, ctx, out[i]);
        if (err)
            return err;
    }
    return PH_OK;
}

struct ph_gossip_scid_answer {
    ph_gossip_store *s;
    uint8_t chain[HASH_LEN];
    bool ours, ended;
    size_t n, next;
    uint64_t *scids;   /* known channels, each once, in first-asked order */
    uint8_t *flags;    /* QF_* per channel, node duplicates removed */
};

struct asked {
    uint64_t scid;
    uint32_t pos;      /* position in the query */
    uint32_t flags;
};

static bool asked_before(const struct asked *x, const struct asked *y)
{
    return x->scid != y->scid ? x->scid < y->scid : x->pos < y->pos;
}

/* In place, no allocation: the largest query sorts in its own 131 KB. */
static void sift_down(struct asked *v, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && asked_before(&v[child], &v[child + 1]))
            child++;
        if (!asked_before(&v[root], &v[child]))
            return;
        struct asked t = v[root];
        v[root] = v[child];
        v[child] = t;
    }
}

static void heapsort_asked(struct asked *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(v, i, n);
    for (size_t end = n; end-- > 1;) {
        struct asked t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down(v, 0, end);
    }
}

/* Known channels of the query, each once (a repeated scid's flags are
 * merged into its first occurrence), in query order; then each node's
 * announcement only where the node first appears (BOLT 7: SHOULD avoid
 * duplicate node_announcements in one answer). */
static ph_err plan_answer(ph_gossip_store *s, const struct scid_query *q,
                          ph_gossip_scid_answer *a)
{
    struct asked *v = malloc((q->n ? q->n : 1) * sizeof *v);
    uint32_t *first = calloc(q->n ? q->n : 1, sizeof *first); /* pos -> entry + 1 */
    if (!v || !first) {
        free(v);
        free(first);
        return PH_ERR_NOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < q->n; i++) {
        uint64_t scid = ph_be64(q->scids + 8 * i);
        if (find_chan(s, scid))
            v[m++] = (struct asked){ scid, (uint32_t)i,
                                     (uint32_t)((q->flags ? q->flags[i] : QF_ALL) & QF_ALL) };
    }
    heapsort_asked(v, m);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
        if (u && v[u - 1].scid == v[i].scid) {
            v[u - 1].flags |= v[i].flags;
            continue;
        }
        v[u] = v[i];
        first[v[u].pos] = (uint32_t)u + 1;
        u++;
    }
    a->scids = malloc((u ? u : 1) * sizeof *a->scids);
    a->flags = malloc(u ? u : 1);
    if (!a->scids || !a->flags) {
        free(v);
        free(first);
        return PH_ERR_NOMEM;
    }
    s->query_serial++;
    size_t k = 0;
    for (size_t pos = 0; pos < q->n; pos++) {
        if (!first[pos])
            continue;
        struct asked *e = &v[first[pos] - 1];
        const struct chan *c = find_chan(s, e->scid);
        for (int i = 0; i < 2; i++) {
            struct node *nd = c->node[i];
            if (!(e->flags & (uint32_t)(QF_NODE1 << i)))
                continue;
            if (nd->query_mark == s->query_serial)
                e->flags &= ~(uint32_t)(QF_NODE1 << i);
            nd->query_mark = s->query_serial;
        }
        a->scids[k] = e->scid;
        a->flags[k] = (uint8_t)e->flags;
        k++;
    }
    a->n = k;
    free(v);
    free(first);
    return PH_OK;
}

void ph_gossip_scid_answer_destroy(ph_gossip_scid_answer *a)
{
    if (!a)
        return;
    free(a->scids);
    free(a->flags);
    free(a);
}

ph_err ph_gossip_scid_answer_create(ph_gossip_store *s, const uint8_t *query, size_t len,
                                    ph_gossip_scid_answer **out)
{
    if (!s || !query || !out)
        return PH_ERR_ARG;
    if (len >= 2 && ph_be16(query) != PH_WIRE_QUERY_SHORT_CHANNEL_IDS)
        return PH_ERR_ARG;
    ph_wire_msg *wm = NULL;
    ph_err err = ph_wire_decode(query, len, PH_WIRE_BORROW, &wm, NULL);
    struct scid_query q = { 0 };
    if (!err)
        err = parse_scid_query(wm, &q);
    ph_gossip_scid_answer *a = NULL;
    if (!err && !(a = calloc(1, sizeof *a)))
        err = PH_ERR_NOMEM;
    if (!err) {
        a->s = s;
        memcpy(a->chain, q.chain, HASH_LEN);
        a->ours = our_chain(s, q.chain);
        if (a->ours)
            err = plan_answer(s, &q, a);
    }
    free(q.flags);
    ph_wire_msg_free(wm);
    if (err) {
        ph_gossip_scid_answer_destroy(a);
        return err;
    }
    s->st.scid_queries++;
    *out = a;
    return PH_OK;
}

ph_err ph_gossip_scid_answer_next(ph_gossip_scid_answer *a, ph_gossip_emit_fn emit, void *ctx,
                                  bool *done)
{
    if (!a || !emit || !done)
        return PH_ERR_ARG;
    *done = a->ended;
    if (a->ended)
        return PH_OK;
    if (a->next < a->n) {
        const struct chan *c = find_chan(a->s, a->scids[a->next]);
        unsigned flags = a->flags[a->next];
        a->next++;
        return c ? answer_one_scid(a->s, c, flags, emit, ctx) : PH_OK;
    }
    a->ended = true;
    *done = true;
    return emit_scid_end(emit, ctx, a->chain, a->ours);
}

size_t ph_gossip_scid_answer_heap_bytes(const ph_gossip_scid_answer *a)
{
    return a ? sizeof *a + a->n * (sizeof *a->scids + sizeof *a->flags) : 0;
}

size_t ph_gossip_scid_answer_left(const ph_gossip_scid_answer *a)
{
    return a && !a->ended ? a->n - a->next + 1 : 0;
}

ph_err ph_gossip_answer_short_channel_ids(ph_gossip_store *s, const uint8_t *query, size_t len,
                                          ph_gossip_emit_fn emit, void *ctx)
{
    if (!emit)
        return PH_ERR_ARG;
    ph_gossip_scid_answer *a = NULL;
    ph_err err = ph_gossip_scid_answer_create(s, query, len, &a);
    bool done = false;
    while (!err && !done)
        err = ph_gossip_scid_answer_next(a, emit, ctx, &done);
    ph_gossip_scid_answer_destroy(a);
    return err;
}

/* ---------- query builders ---------- */

static ph_err build_window_msg(uint16_t type, const uint8_t chain_hash[32], uint32_t a, uint32_t b,
                               uint8_t *out, size_t cap, size_t *out_len)
{
    if (!chain_hash || !out || !out_len)
        return PH_ERR_ARG;
    if (cap < 2 + HASH_LEN + 8)
        return PH_ERR_LIMIT;
    ph_put_be16(out, type);
    memcpy(out + 2, chain_hash, HASH_LEN);
    ph_put_be32(out + 34, a);
    ph_put_be32(out + 38, b);
    *out_len = 2 + HASH_LEN + 8;
    return PH_OK;
}

ph_err ph_gossip_build_timestamp_filter(const uint8_t chain_hash[32], uint32_t first_timestamp,
                                        uint32_t timestamp_range, uint8_t *out, size_t cap,
                                        size_t *out_len)
{
    return build_window_msg(PH_WIRE_GOSSIP_TIMESTAMP_FILTER, chain_hash, first_timestamp, timestamp_range, out, cap, out_len);
}

ph_err ph_gossip_build_query_channel_range(const uint8_t chain_hash[32], uint32_t first_blocknum,
                                           uint32_t number_of_blocks, uint8_t *out, size_t cap,
                                           size_t *out_len)
{
    return build_window_msg(PH_WIRE_QUERY_CHANNEL_RANGE, chain_hash, first_blocknum, number_of_blocks, out, cap, out_len);
}

ph_err ph_gossip_build_query_short_channel_ids(const uint8_t chain_hash[32], const uint64_t *scids,
                                               size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!chain_hash || (!scids && n) || !out || !out_len)
        return PH_ERR_ARG;
    size_t len = 2 + HASH_LEN + 2 + 1 + 8 * n;
    if (len > 65535)
        return PH_ERR_WIRE_TOO_LONG;
    if (cap < len)
        return PH_ERR_LIMIT;
    ph_put_be16(out, PH_WIRE_QUERY_SHORT_CHANNEL_IDS);
    memcpy(out + 2, chain_hash, HASH_LEN);
    ph_put_be16(out + 34, (uint16_t)(1 + 8 * n));
    out[36] = 0;
    for (size_t i = 0; i < n; i++)
        ph_put_be64(out + 37 + 8 * i, scids[i]);
    *out_len = len;
    return PH_OK;
}
