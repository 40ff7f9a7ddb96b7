#include "gossip.h"
#include "gossip_impl.h"
#include "byteorder.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum {
    LOG_COMPACT_MIN_DEAD = 1024,
};

static int kind_of(uint16_t type)
{
    switch (type) {
    case PH_WIRE_CHANNEL_ANNOUNCEMENT: return PH_GOSSIP_KIND_CHAN_ANN;
    case PH_WIRE_NODE_ANNOUNCEMENT: return PH_GOSSIP_KIND_NODE_ANN;
    case PH_WIRE_CHANNEL_UPDATE: return PH_GOSSIP_KIND_CHAN_UPD;
    default: return PH_GOSSIP_KIND_OTHER;
    }
}

/* ---------- messages ---------- */

ph_gossip_msg *ph_gossip__msg_new(const uint8_t *bytes, size_t len)
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
    if (bytes && ph_wire_peek_type(bytes, len, &m->type) != PH_OK)
        m->type = 0;
    return m;
}

ph_gossip_msg *ph_gossip__msg_from_fields(const uint8_t *bytes, size_t len, const ph_gossip_fields *f)
{
    ph_gossip_msg *m = ph_gossip__msg_new(bytes, len);
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

void *ph_gossip__htab_get(const struct htab *t, uint64_t h, const void *key, htab_eq eq)
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

ph_err ph_gossip__htab_put(struct htab *t, uint64_t h, void *item)
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

uint64_t ph_gossip__hash_bytes(const ph_gossip_store *s, const uint8_t *p, size_t n)
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
    return ph_gossip__hash_bytes(s, b, sizeof(b));
}

static bool chan_eq(const void *item, const void *key)
{
    return ((const struct chan *)item)->scid == *(const uint64_t *)key;
}

static bool node_eq(const void *item, const void *key)
{
    return memcmp(((const struct node *)item)->id, key, POINT_LEN) == 0;
}

struct chan *ph_gossip__find_chan(const ph_gossip_store *s, uint64_t scid)
{
    return ph_gossip__htab_get(&s->chan_tab, hash_scid(s, scid), &scid, chan_eq);
}

struct node *ph_gossip__find_node(const ph_gossip_store *s, const uint8_t *id)
{
    return ph_gossip__htab_get(&s->node_tab, ph_gossip__hash_bytes(s, id, POINT_LEN), id, node_eq);
}

ph_err ph_gossip__grow(void **arr, size_t *cap, size_t need, size_t elem)
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
ph_gossip_msg *ph_gossip__hold(ph_gossip_store *s, ph_gossip_msg *m)
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

ph_err ph_gossip__log_append(ph_gossip_store *s, ph_gossip_msg *m)
{
    ph_err err = ph_gossip__grow((void **)&s->log, &s->log_cap, s->log_n + 1, sizeof(*s->log));
    if (err)
        return err;
    m->seq = s->log_next_seq++;
    s->log[s->log_n].seq = m->seq;
    s->log[s->log_n].m = ph_gossip__hold(s, m);
    s->log_n++;
    s->st.log_messages++;
    return PH_OK;
}

/* Index of the first entry with seq >= `seq`. */
size_t ph_gossip__log_lower_bound(const ph_gossip_store *s, uint64_t seq)
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
    size_t i = ph_gossip__log_lower_bound(s, m->seq);
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
    struct node *n = ph_gossip__find_node(s, id);
    if (!n) {
        ph_err err = ph_gossip__grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof(*s->nodes));
        if (err)
            return err;
        n = calloc(1, sizeof(*n));
        if (!n)
            return PH_ERR_NOMEM;
        memcpy(n->id, id, POINT_LEN);
        n->sim_ts = -1;
        err = ph_gossip__htab_put(&s->node_tab, ph_gossip__hash_bytes(s, id, POINT_LEN), n);
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
ph_err ph_gossip__new_chan(ph_gossip_store *s, ph_gossip_msg *m, const ph_gossip_fields *f,
                       struct chan **out)
{
    struct node *nodes[2];
    for (int i = 0; i < 2; i++) {
        ph_err err = get_node(s, f->node_id[i], &nodes[i]);
        if (err)
            return err;
    }
    ph_err err = ph_gossip__grow((void **)&s->chans, &s->cap_chans, s->n_chans + 1, sizeof(*s->chans));
    if (err)
        return err;
    struct chan *c = calloc(1, sizeof(*c));
    if (!c)
        return PH_ERR_NOMEM;
    c->scid = f->scid;
    c->sim_ts[0] = c->sim_ts[1] = -1;
    err = ph_gossip__htab_put(&s->chan_tab, hash_scid(s, f->scid), c);
    if (err) {
        free(c);
        return err;
    }
    c->ann = ph_gossip__hold(s, m);
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
void ph_gossip__retire(ph_gossip_store *s, ph_gossip_msg *old)
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
    ph_err err = ph_gossip__log_append(s, c->ann);
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
    /* BOLT #7: If a `channel_announcement` has no corresponding `channel_update`s:
     *   - MUST NOT send the `channel_announcement`.
     *
     * so a channel enters the log with its first update, and before it:
     *
     * BOLT #7: If a `channel_announcement` is sent:
     *   - MUST send the `channel_announcement` prior to any corresponding
     *     `channel_update`s and `node_announcement`s. */
    if (!c->logged) {
        ph_err err = log_channel(s, c, later);
        if (err)
            return err;
    }
    ph_gossip__retire(s, c->upd[dir]);
    c->upd[dir] = ph_gossip__hold(s, m);
    ph_err err = ph_gossip__log_append(s, m);
    for (int i = 0; i < 2 && !err; i++)
        if (later[i])
            err = ph_gossip__log_append(s, later[i]->ann);
    return err;
}

static ph_err apply_node_ann(ph_gossip_store *s, struct node *n, ph_gossip_msg *m)
{
    ph_gossip__retire(s, n->ann);
    n->ann = ph_gossip__hold(s, m);
    return n->n_logged ? ph_gossip__log_append(s, m) : PH_OK;
}

/* ---------- strict add ---------- */

static ph_gossip_outcome verify_outcome(ph_err e)
{
    if (e == PH_OK)
        return PH_GOSSIP_ACCEPTED;
    return e == PH_ERR_GOSSIP_SIGNATURE ? PH_GOSSIP_BAD_SIGNATURE : PH_GOSSIP_MALFORMED;
}

bool ph_gossip__our_chain(const ph_gossip_store *s, const uint8_t *chain)
{
    return memcmp(chain, s->cfg.chain_hash, HASH_LEN) == 0;
}

static ph_gossip_msg *new_received(const uint8_t *msg, size_t len, const ph_gossip_fields *f,
                                   uint32_t origin)
{
    ph_gossip_msg *m = ph_gossip__msg_from_fields(msg, len, f);
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
    /* BOLT #7: if the specified `chain_hash` is unknown to the receiver:
     *   - MUST ignore the message. */
    if (!ph_gossip__our_chain(s, f->chain_hash)) {
        res->outcome = PH_GOSSIP_WRONG_CHAIN;
        return PH_OK;
    }
    struct chan *c = ph_gossip__find_chan(s, f->scid);
    if (c) {
        bool same = c->ann->len == len && memcmp(c->ann->data, msg, len) == 0;
        res->outcome = same ? PH_GOSSIP_DUPLICATE : PH_GOSSIP_CONFLICT;
        return PH_OK;
    }
    /* BOLT #7: MUST verify the integrity AND authenticity of the message by verifying
     * the signatures. */
    res->outcome = verify_outcome(ph_gossip_verify(msg, len, NULL));
    if (res->outcome != PH_GOSSIP_ACCEPTED)
        return PH_OK;
    ph_gossip_msg *m = new_received(msg, len, f, origin);
    if (!m)
        return PH_ERR_NOMEM;
    ph_err err = ph_gossip__new_chan(s, m, f, &c);
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
        p->m = ph_gossip__hold(s, m);
        s->st.pending_updates_replaced++;
    } else {
        struct pend np = { .m = ph_gossip__hold(s, m), .scid = m->scid, .dir = (uint8_t)dir };
        if (ring_push(s, r, &np))
            s->st.pending_updates_evicted++;
    }
    res->outcome = PH_GOSSIP_PENDING;
    return PH_OK;
}

static ph_err add_chan_upd(ph_gossip_store *s, const uint8_t *msg, size_t len,
                           const ph_gossip_fields *f, uint32_t origin, ph_gossip_result *res)
{
    /* BOLT #7: if the specified `chain_hash` value is unknown (meaning it isn't active
     * on the specified chain):
     *   - MUST ignore the channel update. */
    if (!ph_gossip__our_chain(s, f->chain_hash)) {
        res->outcome = PH_GOSSIP_WRONG_CHAIN;
        return PH_OK;
    }
    /* BOLT #7: MUST NOT forward such a `channel_update` to other peers, for privacy
     * reasons. */
    if (f->message_flags & PH_GOSSIP_MESSAGE_FLAG_DONT_FORWARD) {
        res->outcome = PH_GOSSIP_PRIVATE;
        return PH_OK;
    }
    /* BOLT #7: if the origin node is `node_id_1` in the message:
     *   - MUST set the `direction` bit of `channel_flags` to 0.
     * - otherwise:
     *   - MUST set the `direction` bit of `channel_flags` to 1. */
    int dir = f->channel_flags & PH_GOSSIP_CHANNEL_FLAG_DIRECTION;
    struct chan *c = ph_gossip__find_chan(s, f->scid);
    if (c && c->upd[dir]) {
        /* Timestamps first: cheaper than a signature. An equal timestamp is
         * a duplicate whatever the fields below it (we blacklist no one).
         *
         * BOLT #7: if `timestamp` is lower than that of the last-received
         * `channel_update` for this `short_channel_id` AND for `node_id`:
         *   - SHOULD ignore the message. */
        res->outcome = compare_ts(f->timestamp, c->upd[dir]->timestamp);
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
    }
    if (c) {
        /* BOLT #7: if `signature` is not a valid signature, using `node_id` of the
         * double-SHA256 of the entire message following the `signature` field
         * (including unknown fields following `fee_proportional_millionths`):
         *   - SHOULD send a `warning` and close the connection.
         *   - MUST NOT process the message further.
         *
         * node.c sends the warning (refuse_gossip) but keeps the connection. */
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
        p->m = ph_gossip__hold(s, m);
        s->st.pending_nodes_replaced++;
    } else {
        struct pend np = { .m = ph_gossip__hold(s, m) };
        memcpy(np.id, id, POINT_LEN);
        if (ring_push(s, r, &np))
            s->st.pending_nodes_evicted++;
    }
    res->outcome = PH_GOSSIP_PENDING;
    return PH_OK;
}

/* Stale and duplicate announcements are dropped. One of a node no channel
 * announced yet is dropped too, unless the store keeps a pending set: there it
 * waits for its channel_announcement.
 *
 * BOLT #7: if `node_id` is NOT previously known from a `channel_announcement` message,
 * OR if `timestamp` is NOT greater than the last-received `node_announcement` from this
 * `node_id`:
 *   - SHOULD ignore the message. */
static ph_err add_node_ann(ph_gossip_store *s, const uint8_t *msg, size_t len,
                           const ph_gossip_fields *f, uint32_t origin, ph_gossip_result *res)
{
    struct node *n = ph_gossip__find_node(s, f->node_id[0]);
    if (n && n->ann) {
        res->outcome = compare_ts(f->timestamp, n->ann->timestamp);
        if (res->outcome != PH_GOSSIP_ACCEPTED)
            return PH_OK;
    }
    /* Checked before pending too, so the pending set holds no forgeries.
     *
     * BOLT #7: if `signature` is NOT a valid signature (using `node_id` of the
     * double-SHA256 of the entire message following the `signature` field,
     * including any future fields appended to the end):
     *   - SHOULD send a `warning`.
     *   - MAY close the connection.
     *   - MUST NOT process the message further. */
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
    else if (f.type == PH_WIRE_CHANNEL_ANNOUNCEMENT)
        err = add_chan_ann(s, msg, len, &f, origin, res);
    else if (f.type == PH_WIRE_CHANNEL_UPDATE)
        err = add_chan_upd(s, msg, len, &f, origin, res);
    else
        err = add_node_ann(s, msg, len, &f, origin, res);
    res->n_new = (size_t)(s->log_next_seq - seq0);
    if (err)
        return err;
    uint16_t type;
    if (ph_wire_peek_type(msg, len, &type) != PH_OK)
        type = 0;
    s->st.outcome[kind_of(type)][res->outcome]++;
    return PH_OK;
}
