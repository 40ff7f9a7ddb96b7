#include "gossip_query.h"
#include "gossip_impl.h"
#include "wire.h"
#include "wire_views.h"

#include <stdlib.h>
#include <string.h>

enum {
    SCID_LEN = 8,
    /* scids in a reply_channel_range with no TLVs that fits 65,535 bytes: 8,186 */
    MAX_REPLY_SCIDS = (PH_WIRE_MAX_MSG - PH_WIRE_REPLY_CHANNEL_RANGE_MIN_LEN - 1) / SCID_LEN,
};

/* The builders' contract (gossip_query.h): the encoders say PH_ERR_ARG for
 * a small buffer, the builders PH_ERR_LIMIT. */
static ph_err room_for(size_t need, size_t cap)
{
    if (need > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    return cap < need ? PH_ERR_LIMIT : PH_OK;
}

/* ---------- gossip_timestamp_filter ---------- */

ph_err ph_gossip_parse_timestamp_filter(const ph_gossip_store *s, const uint8_t *msg, size_t len,
                                        uint32_t *first_timestamp, uint32_t *timestamp_range)
{
    if (!s || !msg || !first_timestamp || !timestamp_range)
        return PH_ERR_ARG;
    ph_wire_gossip_timestamp_filter v;
    ph_err err = ph_wire_gossip_timestamp_filter_parse(msg, len, &v, NULL);
    if (err)
        return err;
    if (!ph_gossip__our_chain(s, v.chain_hash))
        return PH_ERR_GOSSIP_CHAIN;
    *first_timestamp = v.first_timestamp;
    *timestamp_range = v.timestamp_range;
    return PH_OK;
}

/* ---------- queries ---------- */

static ph_err emit_ref(ph_gossip_emit_fn emit, void *ctx, ph_gossip_msg *m)
{
    return emit(ctx, ph_gossip_msg_ref(m));
}

/* Emits m, which an encoder has just filled (`encoded`: its result), as a
 * message of `type`; an encoder error drops it instead. */
static ph_err emit_encoded(ph_gossip_emit_fn emit, void *ctx, ph_gossip_msg *m, uint16_t type,
                           ph_err encoded)
{
    if (encoded) {
        ph_gossip_msg_unref(m);
        return encoded;
    }
    m->type = type;
    return emit(ctx, m);
}

/* `enc`: the encoded_short_ids, encoding byte included. */
static ph_err emit_reply_range(ph_gossip_emit_fn emit, void *ctx, const uint8_t *chain,
                               uint32_t first, uint32_t num, bool complete,
                               const uint8_t *enc, size_t enc_len)
{
    const ph_wire_reply_channel_range v = {
        .chain_hash = chain,
        .first_blocknum = first,
        .number_of_blocks = num,
        .sync_complete = complete,
        .encoded_short_ids = enc,
        .encoded_short_ids_len = enc_len,
    };
    size_t len = ph_wire_reply_channel_range_len(&v);
    ph_gossip_msg *m = ph_gossip__msg_new(NULL, len);
    if (!m)
        return PH_ERR_NOMEM;
    return emit_encoded(emit, ctx, m, PH_WIRE_REPLY_CHANNEL_RANGE,
                        ph_wire_reply_channel_range_encode(&v, m->data, len, NULL));
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
        uint64_t b = ph_wire_scid_block(s->chans[i]->scid);
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
    uint32_t nb = ph_wire_scid_block(v[i + take]);
    size_t j = i + take;
    while (j > i && ph_wire_scid_block(v[j - 1]) == nb)
        j--;
    *next_start = nb;
    if (j == i) {            /* the whole chunk is block nb: continue it next time */
        *reply_end = (uint64_t)nb + 1;
        return take;
    }
    *reply_end = nb;
    return j - i;
}

/* One pass over the store's channels, cut into replies at block boundaries
 * (reply_chunk):
 *
 * BOLT #7: MUST respond with one or more `reply_channel_range`:
 *   - MUST set with `chain_hash` equal to that of `query_channel_range`,
 *   - MUST limit `number_of_blocks` to the maximum number of blocks whose results could
 *     fit in `encoded_short_ids`
 *   - MAY split block contents across multiple `reply_channel_range`.
 *   - the first `reply_channel_range` message:
 *     - MUST set `first_blocknum` less than or equal to the `first_blocknum` in
 *       `query_channel_range`
 *     - MUST set `first_blocknum` plus `number_of_blocks` greater than `first_blocknum`
 *       in `query_channel_range`.
 *   - successive `reply_channel_range` message:
 *     - MUST have `first_blocknum` equal or greater than the previous `first_blocknum`.
 *   - MUST set `sync_complete` to `false` if this is not the final
 *     `reply_channel_range`.
 *   - the final `reply_channel_range` message:
 *     - MUST have `first_blocknum` plus `number_of_blocks` equal or greater than the
 *       `query_channel_range` `first_blocknum` plus `number_of_blocks`.
 *   - MUST set `sync_complete` to `true`.
 *
 * Extended queries are not answered with timestamps or checksums, which the receiver
 * may leave out:
 *
 * BOLT #7: If the incoming message includes `query_option`, the receiver MAY append
 * additional information to its reply: */
ph_err ph_gossip_answer_channel_range(ph_gossip_store *s, const uint8_t *query, size_t len,
                                      ph_gossip_emit_fn emit, void *ctx)
{
    if (!s || !query || !emit)
        return PH_ERR_ARG;
    /* the view checks the layout and the query_option TLV; options are
     * then ignored (MAY in BOLT 7) */
    ph_wire_query_channel_range q;
    ph_err err = ph_wire_query_channel_range_parse(query, len, &q, NULL);
    if (err)
        return err;
    s->st.channel_range_queries++;
    /* The replies cover [first, first + number_of_blocks) in full, past
     * 2^32 too (each reply's number_of_blocks still fits its u32), and at
     * least one block:
     *
     * BOLT #7: MUST set `first_blocknum` plus `number_of_blocks` greater than `first_blocknum`
     * in `query_channel_range`. */
    uint32_t num = q.number_of_blocks ? q.number_of_blocks : 1;
    uint64_t end_all = (uint64_t)q.first_blocknum + num;
    if (!ph_gossip__our_chain(s, q.chain_hash)) {
        /* no channels, but still the final reply: sync_complete = 1 */
        static const uint8_t no_scids[1] = { PH_WIRE_ENCODING_UNCOMPRESSED };
        s->st.channel_range_replies++;
        return emit_reply_range(emit, ctx, q.chain_hash, q.first_blocknum, num, true, no_scids,
                                sizeof no_scids);
    }
    uint64_t *v = NULL;
    size_t n = 0;
    err = scids_in_range(s, q.first_blocknum, end_all, &v, &n);
    /* one buffer for every reply's encoded_short_ids, which the encoder
     * copies into the reply */
    uint8_t *enc = NULL;
    size_t enc_cap = ph_wire_short_ids_len(n < MAX_REPLY_SCIDS ? n : MAX_REPLY_SCIDS);
    if (!err && !(enc = malloc(enc_cap)))
        err = PH_ERR_NOMEM;
    uint64_t start = q.first_blocknum;
    for (size_t i = 0; !err;) {
        uint64_t reply_end = end_all, next_start = end_all;
        size_t take = reply_chunk(v, n, i, &reply_end, &next_start);
        bool last = i + take == n;
        if (last)
            reply_end = end_all;
        size_t enc_len = 0;
        err = ph_wire_short_ids_encode(v + i, take, enc, enc_cap, &enc_len);
        if (err)
            break;
        s->st.channel_range_replies++;
        err = emit_reply_range(emit, ctx, q.chain_hash, (uint32_t)start,
                               (uint32_t)(reply_end - start), last, enc, enc_len);
        if (last)
            break;
        i += take;
        start = next_start;
    }
    free(enc);
    free(v);
    return err;
}

/* query_flags TLV value: encoding byte + one bigsize per scid. */
/* BOLT #7: Each query flag is a minimally-encoded bigsize.
 *   - MUST encode one query flag per `short_channel_id`.
 *
 * and a receiver may refuse a query that does not:
 *
 * BOLT #7: if `encoded_query_flags` does not decode to exactly one flag per
 * `short_channel_id`:
 *   - MAY send a `warning`.
 *   - MAY close the connection. */
static ph_err parse_query_flags(const uint8_t *rec, size_t rec_len, size_t want, uint64_t **out)
{
    ph_wire_encoded e;
    ph_err err = ph_wire_encoded_split(rec, rec_len, &e);
    if (err)
        return err;
    if (e.encoding != PH_WIRE_ENCODING_UNCOMPRESSED)
        return PH_ERR_GOSSIP_ENCODING;
    const uint8_t *p = e.data;
    size_t n = e.len;
    uint64_t *f = malloc((want ? want : 1) * sizeof(*f));
    if (!f)
        return PH_ERR_NOMEM;
    size_t o = 0, k = 0;
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

/* The parts of a query_short_channel_ids we use, checked by its view
 * (layout, TLV stream rules) and here (encodings, counts). Borrows from the
 * query. */
struct scid_query {
    const uint8_t *chain;
    const uint8_t *scids;  /* n x 8 bytes */
    size_t n;
    uint64_t *flags;       /* NULL when absent; caller frees */
};

/* BOLT #7: `1`: Previously used for zlib compression, this encoding MUST NOT be used.
 *
 * so only 0 is known; what the receiver does about the rest:
 *
 * BOLT #7: if the first byte of `encoded_short_ids` is not a known encoding type:
 *   - MAY send a `warning`.
 *   - MAY close the connection.
 * - if `encoded_short_ids` does not decode into a whole number of `short_channel_id`:
 *   - MAY send a `warning`.
 *   - MAY close the connection.
 *
 * The peer (peer_msg.c) warns and ignores the query for an unknown encoding, and closes
 * the connection for a broken one. */
static ph_err parse_scid_query(const uint8_t *query, size_t len, struct scid_query *q)
{
    ph_wire_query_short_channel_ids v;
    ph_err err = ph_wire_query_short_channel_ids_parse(query, len, &v, NULL);
    if (err)
        return err;
    q->chain = v.chain_hash;
    ph_wire_encoded enc;
    if (ph_wire_encoded_split(v.encoded_short_ids, v.encoded_short_ids_len, &enc))
        return PH_ERR_WIRE_FIELD;
    if (enc.encoding != PH_WIRE_ENCODING_UNCOMPRESSED) /* 1 was zlib: BOLT 7 now forbids it */
        return PH_ERR_GOSSIP_ENCODING;
    if (enc.len % SCID_LEN != 0)
        return PH_ERR_WIRE_FIELD;
    q->scids = enc.data;
    q->n = enc.len / SCID_LEN;
    q->flags = NULL;
    /* encoded_query_flags: record 1 of the validated stream */
    const uint8_t *flags;
    size_t flen;
    err = ph_wire_tlv_lookup(v.tlvs, v.tlvs_len, 1, &flags, &flen);
    if (err == PH_ERR_WIRE_ABSENT)
        return PH_OK;
    return err ? err : parse_query_flags(flags, flen, q->n, &q->flags);
}

static ph_err emit_scid_end(ph_gossip_emit_fn emit, void *ctx, const uint8_t *chain, bool full)
{
    const ph_wire_reply_short_channel_ids_end v = { .chain_hash = chain, .full_information = full };
    size_t len = ph_wire_reply_short_channel_ids_end_len(&v);
    ph_gossip_msg *m = ph_gossip__msg_new(NULL, len);
    if (!m)
        return PH_ERR_NOMEM;
    return emit_encoded(emit, ctx, m, PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END,
                        ph_wire_reply_short_channel_ids_end_encode(&v, m->data, len, NULL));
}

enum {
    QF_ANN = 1, QF_UPD1 = 2, QF_UPD2 = 4, QF_NODE1 = 8, QF_NODE2 = 16,
    QF_ALL = QF_ANN | QF_UPD1 | QF_UPD2 | QF_NODE1 | QF_NODE2,
};

/* The messages of one channel, as the planned flags say (node duplicates
 * already removed by the plan). */
/* BOLT #7: if bit 0 of `query_flag` is set:
 *   - MUST reply with a `channel_announcement`
 * - if bit 1 of `query_flag` is set and it has received a `channel_update` from
 *   `node_id_1`:
 *   - MUST reply with the latest `channel_update` for `node_id_1`
 * - if bit 2 of `query_flag` is set and it has received a `channel_update` from
 *   `node_id_2`:
 *   - MUST reply with the latest `channel_update` for `node_id_2`
 * - if bit 3 of `query_flag` is set and it has received a `node_announcement` from
 *   `node_id_1`:
 *   - MUST reply with the latest `node_announcement` for `node_id_1`
 * - if bit 4 of `query_flag` is set and it has received a `node_announcement` from
 *   `node_id_2`:
 *   - MUST reply with the latest `node_announcement` for `node_id_2` */
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
 * merged into its first occurrence), in query order; without query flags,
 * everything:
 *
 * BOLT #7: if the incoming message does not include `encoded_query_flags`:
 *   - with a `channel_announcement` and the latest `channel_update` for each end
 *   - MUST follow with any `node_announcement`s for each `channel_announcement`
 *
 * then each node's announcement only where the node first appears:
 *
 * BOLT #7: SHOULD avoid sending duplicate `node_announcements` in response to
 * a single `query_short_channel_ids`. */
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
        uint64_t scid = ph_wire_short_id_at(q->scids, i);
        if (ph_gossip__find_chan(s, scid))
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
        const struct chan *c = ph_gossip__find_chan(s, e->scid);
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
    struct scid_query q = { 0 };
    ph_err err = parse_scid_query(query, len, &q);
    ph_gossip_scid_answer *a = NULL;
    if (!err && !(a = calloc(1, sizeof *a)))
        err = PH_ERR_NOMEM;
    if (!err) {
        a->s = s;
        memcpy(a->chain, q.chain, HASH_LEN);
        a->ours = ph_gossip__our_chain(s, q.chain);
        if (a->ours)
            err = plan_answer(s, &q, a);
    }
    free(q.flags);
    if (err) {
        ph_gossip_scid_answer_destroy(a);
        return err;
    }
    s->st.scid_queries++;
    *out = a;
    return PH_OK;
}

/* BOLT #7: MUST follow these responses with `reply_short_channel_ids_end`.
 * - if does not maintain up-to-date channel information for `chain_hash`:
 *   - MUST set `full_information` to 0.
 * - otherwise:
 *   - SHOULD set `full_information` to 1.
 *
 * (Another chain's query gets no channels and full_information 0.) */
ph_err ph_gossip_scid_answer_next(ph_gossip_scid_answer *a, ph_gossip_emit_fn emit, void *ctx,
                                  bool *done)
{
    if (!a || !emit || !done)
        return PH_ERR_ARG;
    *done = a->ended;
    if (a->ended)
        return PH_OK;
    if (a->next < a->n) {
        const struct chan *c = ph_gossip__find_chan(a->s, a->scids[a->next]);
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

ph_err ph_gossip_build_timestamp_filter(const uint8_t chain_hash[32], uint32_t first_timestamp,
                                        uint32_t timestamp_range, uint8_t *out, size_t cap,
                                        size_t *out_len)
{
    if (!chain_hash || !out || !out_len)
        return PH_ERR_ARG;
    const ph_wire_gossip_timestamp_filter v = {
        .chain_hash = chain_hash,
        .first_timestamp = first_timestamp,
        .timestamp_range = timestamp_range,
    };
    ph_err err = room_for(ph_wire_gossip_timestamp_filter_len(&v), cap);
    return err ? err : ph_wire_gossip_timestamp_filter_encode(&v, out, cap, out_len);
}

ph_err ph_gossip_build_query_channel_range(const uint8_t chain_hash[32], uint32_t first_blocknum,
                                           uint32_t number_of_blocks, uint8_t *out, size_t cap,
                                           size_t *out_len)
{
    if (!chain_hash || !out || !out_len)
        return PH_ERR_ARG;
    const ph_wire_query_channel_range v = {
        .chain_hash = chain_hash,
        .first_blocknum = first_blocknum,
        .number_of_blocks = number_of_blocks,
    };
    ph_err err = room_for(ph_wire_query_channel_range_len(&v), cap);
    return err ? err : ph_wire_query_channel_range_encode(&v, out, cap, out_len);
}

/* BOLT #7: MUST set the first byte of `encoded_short_ids` to the encoding type.
 * - MUST encode a whole number of `short_channel_id`s to `encoded_short_ids` */
ph_err ph_gossip_build_query_short_channel_ids(const uint8_t chain_hash[32], const uint64_t *scids,
                                               size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!chain_hash || (!scids && n) || !out || !out_len)
        return PH_ERR_ARG;
    if (n > (PH_WIRE_MAX_MSG - PH_WIRE_QUERY_SHORT_CHANNEL_IDS_MIN_LEN - 1) / SCID_LEN)
        return PH_ERR_WIRE_TOO_LONG;
    ph_wire_query_short_channel_ids v = {
        .chain_hash = chain_hash,
        .encoded_short_ids_len = ph_wire_short_ids_len(n),
    };
    ph_err err = room_for(ph_wire_query_short_channel_ids_len(&v), cap);
    if (err)
        return err;
    /* The array goes where the encoder will copy it from: a buffer of its
     * own, as `out` cannot be both the source and the destination. */
    uint8_t *enc = malloc(v.encoded_short_ids_len);
    if (!enc)
        return PH_ERR_NOMEM;
    err = ph_wire_short_ids_encode(scids, n, enc, v.encoded_short_ids_len, NULL);
    v.encoded_short_ids = enc;
    if (!err)
        err = ph_wire_query_short_channel_ids_encode(&v, out, cap, out_len);
    free(enc);
    return err;
}
