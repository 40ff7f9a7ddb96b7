/* Serving the store: which stored gossip falls in a peer's
 * gossip_timestamp_filter window, and the cursors that stream it in log
 * order (gossip.h). The store itself is gossip.c. */
#include "gossip.h"
#include "gossip_impl.h"

#include <stdlib.h>

struct ph_gossip_cursor {
    ph_gossip_store *s;
    uint64_t next_seq;
    size_t idx;
    uint64_t gen;
    uint32_t first, range, exclude;
};

/* BOLT #7: SHOULD send all gossip messages whose `timestamp` is greater or equal to
 * `first_timestamp`, and less than `first_timestamp` plus `timestamp_range`. */
static bool in_window(uint32_t ts, uint32_t first, uint32_t range)
{
    return ts >= first && (uint64_t)ts < (uint64_t)first + range;
}

static bool chan_update_in_window(const ph_gossip_store *s, uint64_t scid, uint32_t first,
                                  uint32_t range)
{
    const struct chan *c = ph_gossip__find_chan(s, scid);
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
    /* BOLT #7: SHOULD send gossip messages as it generates them regardless of
     * `timestamp`. */
    if (m->flags & MSG_LOCAL)
        return true;
    /* BOLT #7: MUST consider the `timestamp` of the `channel_announcement` to
     * be the `timestamp` of a corresponding `channel_update`. */
    if (m->type == PH_WIRE_CHANNEL_ANNOUNCEMENT)
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
    return ph_gossip__log_lower_bound(c->s, c->next_seq);
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