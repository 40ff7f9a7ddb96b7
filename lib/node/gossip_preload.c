#include "gossip_preload.h"
#include "gossip_impl.h"
#include "lnmsgs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (f.chain_hash && !ph_gossip__our_chain(s, f.chain_hash))
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
    if (f->type != PH_WIRE_CHANNEL_ANNOUNCEMENT || ph_gossip__find_chan(s, f->scid))
        return PH_OK;
    struct chan *c;
    ph_err err = ph_gossip__new_chan(s, m, f, &c);
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
        if (f.type == PH_WIRE_CHANNEL_UPDATE) {
            struct chan *c = ph_gossip__find_chan(s, f.scid);
            int dir = f.channel_flags & PH_GOSSIP_CHANNEL_FLAG_DIRECTION;
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
        } else if (f.type == PH_WIRE_NODE_ANNOUNCEMENT) {
            struct node *nd = ph_gossip__find_node(s, f.node_id[0]);
            if (!nd) {
                st->unknown_node++;
                continue;
            }
            last = &nd->sim_ts;
        } else if (ph_gossip__find_chan(s, f.scid)->ann != m) {
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

/* The direction of a channel_update the store holds (so it parses). */
static bool update_dir(const ph_gossip_msg *m, int *dir)
{
    ph_wire_channel_update v;
    if (ph_wire_channel_update_parse(m->data, m->len, &v, NULL) != PH_OK)
        return false;
    *dir = v.channel_flags & PH_GOSSIP_CHANNEL_FLAG_DIRECTION;
    return true;
}

static ph_err preload_index_update(ph_gossip_store *s, ph_gossip_msg *m)
{
    struct chan *c = ph_gossip__find_chan(s, m->scid);
    int dir;
    if (!c || !update_dir(m, &dir))
        return PH_OK; /* relay-only: its channel is unknown (it parses:
                         preload_scan parsed every record) */
    ph_err err = ph_gossip__grow((void **)&c->pre_ts, &c->cap_pre_ts, c->n_pre_ts + 1, sizeof(*c->pre_ts));
    if (err)
        return err;
    c->pre_ts[c->n_pre_ts++] = m->timestamp;
    if (!c->upd[dir] || m->timestamp > c->upd[dir]->timestamp) {
        ph_gossip__retire(s, c->upd[dir]);
        c->upd[dir] = ph_gossip__hold(s, m);
    }
    return PH_OK;
}

static void preload_index_node(ph_gossip_store *s, ph_gossip_msg *m)
{
    ph_gossip_fields f;
    if (ph_gossip_parse(m->data, m->len, &f) != PH_OK)
        return; /* cannot happen: preload_scan parsed every record */
    struct node *n = ph_gossip__find_node(s, f.node_id[0]);
    if (n && (!n->ann || m->timestamp > n->ann->timestamp)) {
        ph_gossip__retire(s, n->ann);
        n->ann = ph_gossip__hold(s, m);
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
        msgs[i] = ph_gossip__msg_from_fields(msg, l, &f);
        if (!msgs[i])
            return PH_ERR_NOMEM;
        msgs[i]->flags = MSG_PRELOADED;
        st->by_type[f.type - PH_WIRE_CHANNEL_ANNOUNCEMENT]++; /* 256..258: preload_scan */
        ph_err err = preload_register(s, msgs[i], &f);
        if (err)
            return err;
    }
    preload_simulate(s, msgs, n, st);
    for (size_t i = 0; i < n; i++) {
        ph_err err = ph_gossip__log_append(s, msgs[i]);
        if (!err && msgs[i]->type == PH_WIRE_CHANNEL_UPDATE)
            err = preload_index_update(s, msgs[i]);
        if (!err && msgs[i]->type == PH_WIRE_NODE_ANNOUNCEMENT)
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
        err = ph_gossip__grow((void **)&buf, &cap, len + 65536, 1);
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
        uint64_t h = ph_gossip__hash_bytes(s, id, POINT_LEN);
        if (!ph_gossip__htab_get(t, h, id, id_eq) && ph_gossip__htab_put(t, h, (void *)id))
            return PH_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->log_n; i++) {
        const ph_gossip_msg *m = s->log[i].m;
        ph_gossip_fields f;
        if (!m || m->type != PH_WIRE_NODE_ANNOUNCEMENT || ph_gossip_parse(m->data, m->len, &f))
            continue;
        uint64_t h = ph_gossip__hash_bytes(s, f.node_id[0], POINT_LEN);
        if (!ph_gossip__htab_get(t, h, f.node_id[0], id_eq) && ph_gossip__htab_put(t, h, (void *)f.node_id[0]))
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
        int dir;
        if (!m || !(m->flags & MSG_PRELOADED) || m->type != PH_WIRE_CHANNEL_UPDATE ||
            !update_dir(m, &dir))
            continue;
        out->updates++;
        struct recov r = { .scid = m->scid, .dir = (uint8_t)dir };
        if (ph_gossip_recover_keys(m->data, m->len, r.keys, r.ok) != PH_OK) {
            out->unrecoverable++;
            continue;
        }
        const struct chan *c = ph_gossip__find_chan(s, m->scid);
        if (c) {
            if (recov_has(&r, c->node[r.dir]->id))
                out->match_channel++;
            else
                out->mismatch_channel++;
            continue;
        }
        bool known = false;
        for (int k = 0; k < 2 && !known; k++)
            known = r.ok[k] && ph_gossip__htab_get(&ids, ph_gossip__hash_bytes(s, r.keys[k], POINT_LEN), r.keys[k], id_eq);
        if (known) {
            out->match_known_node++;
            continue;
        }
        err = ph_gossip__grow((void **)&rest, &cap_rest, n_rest + 1, sizeof(*rest));
        if (!err)
            rest[n_rest++] = r;
    }
    if (!err)
        audit_groups(rest, n_rest, out);
    free(rest);
    free(ids.slots);
    return err;
}
