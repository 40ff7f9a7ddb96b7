/* Gossip store: the real mainnet sample as a preloaded relay source and
 * through strict validation, our own signed gossip through every strict
 * path, serving windows, relay cursors, gossip queries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "byteorder.h"
#include "gossip.h"
#include "gossip_preload.h"
#include "gossip_query.h"
#include "hex.h"
#include "json.h"
#include "memstat.h"
#include "ph_test.h"
#include "vecjson.h"
#include "wire.h"

#define SAMPLE "captures/mainnet-gossip.lnmsgs"
#define VECTORS "tests/vectors/bolt7_extended_queries.json"

/* ---------- helpers ---------- */


struct sample {
    uint8_t *buf;
    size_t len, n;
    const uint8_t **msg;
    size_t *mlen;
    ph_gossip_fields *f;
};

static void load_sample(struct sample *s)
{
    FILE *fp = fopen(SAMPLE, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    s->len = (size_t)n;
    s->buf = malloc(s->len);
    assert_non_null(s->buf);
    assert_int_equal(fread(s->buf, 1, s->len, fp), s->len);
    fclose(fp);
    size_t cap = 30000;
    s->msg = malloc(cap * sizeof(*s->msg));
    s->mlen = malloc(cap * sizeof(*s->mlen));
    s->f = malloc(cap * sizeof(*s->f));
    assert_true(s->msg && s->mlen && s->f);
    s->n = 0;
    for (size_t off = 0; off < s->len; s->n++) {
        assert_true(s->n < cap);
        size_t l = ph_be16(s->buf + off);
        s->msg[s->n] = s->buf + off + 2;
        s->mlen[s->n] = l;
        assert_int_equal(ph_gossip_parse(s->msg[s->n], l, &s->f[s->n]), PH_OK);
        off += 2 + l;
    }
}

static void free_sample(struct sample *s)
{
    free(s->buf);
    free(s->msg);
    free(s->mlen);
    free(s->f);
}

static int dir_of(const ph_gossip_fields *f) { return f->channel_flags & 1; }

static bool is_announced(const struct sample *s, uint64_t scid)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->f[i].type == PH_WIRE_CHANNEL_ANNOUNCEMENT && s->f[i].scid == scid)
            return true;
    return false;
}

static ph_gossip_store *new_store(size_t pend_upd, size_t pend_node)
{
    ph_gossip_config cfg;
    ph_gossip_config_default(&cfg);
    cfg.max_pending_updates = pend_upd;
    cfg.max_pending_nodes = pend_node;
    ph_gossip_store *st = NULL;
    assert_int_equal(ph_gossip_store_create(&cfg, &st), PH_OK);
    return st;
}

/* Collects emitted messages. */
struct sink {
    ph_gossip_msg **m;
    size_t n, cap;
};

static ph_err collect(void *ctx, ph_gossip_msg *m)
{
    struct sink *k = ctx;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 64;
        k->m = realloc(k->m, k->cap * sizeof(*k->m));
        assert_non_null(k->m);
    }
    k->m[k->n++] = m;
    return PH_OK;
}

static void sink_clear(struct sink *k)
{
    for (size_t i = 0; i < k->n; i++)
        ph_gossip_msg_unref(k->m[i]);
    k->n = 0;
}

static void sink_free(struct sink *k)
{
    sink_clear(k);
    free(k->m);
    k->m = NULL;
    k->cap = 0;
}

static void drain(ph_gossip_cursor *c, struct sink *k)
{
    ph_gossip_msg *m;
    while ((m = ph_gossip_cursor_next(c)) != NULL)
        collect(k, m);
}

static void assert_msg(const ph_gossip_msg *m, const uint8_t *bytes, size_t len)
{
    assert_non_null(m);
    assert_int_equal(ph_gossip_msg_len(m), len);
    assert_memory_equal(ph_gossip_msg_data(m), bytes, len);
}

/* ---------- own signed gossip ---------- */

struct chanfix {
    uint8_t ns[2][32], bs[2][32]; /* in the announcement's node order */
    uint8_t id[2][33];
    uint64_t scid;
    uint8_t ann[PH_WIRE_CHANNEL_ANNOUNCEMENT_MIN_LEN];
    size_t ann_len;
};

static const uint8_t *mainnet_chain(void)
{
    static uint8_t h[32];
    assert_int_equal(ph_gossip_chain_hash("mainnet", h), PH_OK);
    return h;
}

static void make_channel(struct chanfix *c, uint8_t seed, uint64_t scid)
{
    uint8_t ns[2][32], bs[2][32];
    for (int i = 0; i < 2; i++) {
        memset(ns[i], seed + i, 32);
        memset(bs[i], seed + 2 + i, 32);
    }
    c->scid = scid;
    assert_int_equal(ph_gossip_build_channel_announcement(mainnet_chain(), scid,
                                                          (const uint8_t(*)[32])ns,
                                                          (const uint8_t(*)[32])bs, c->ann,
                                                          sizeof(c->ann), &c->ann_len),
                     PH_OK);
    ph_gossip_fields f;
    assert_int_equal(ph_gossip_parse(c->ann, c->ann_len, &f), PH_OK);
    uint8_t pk[33];
    assert_int_equal(ph_gossip_pubkey(ns[0], pk), PH_OK);
    int first = memcmp(pk, f.node_id[0], 33) == 0 ? 0 : 1;
    for (int i = 0; i < 2; i++) {
        memcpy(c->ns[i], ns[i ^ first], 32);
        memcpy(c->bs[i], bs[i ^ first], 32);
        memcpy(c->id[i], f.node_id[i], 33);
    }
}

static void make_update(const struct chanfix *c, int dir, uint32_t ts, uint32_t fee, uint8_t out[138])
{
    ph_gossip_update_fields uf = { .scid = c->scid, .timestamp = ts, .channel_flags = (uint8_t)dir,
                                   .cltv_expiry_delta = 144, .htlc_minimum_msat = 1,
                                   .fee_base_msat = fee, .fee_proportional_millionths = 10,
                                   .htlc_maximum_msat = 100000000 };
    memcpy(uf.chain_hash, mainnet_chain(), 32);
    size_t len;
    assert_int_equal(ph_gossip_build_channel_update(&uf, c->ns[dir], out, 138, &len), PH_OK);
    assert_int_equal(len, 138);
}

static size_t make_node(const struct chanfix *c, int i, uint32_t ts, uint8_t out[200])
{
    ph_gossip_node_fields nf = { .timestamp = ts, .rgb_color = { 9, 9, (uint8_t)i } };
    snprintf((char *)nf.alias, sizeof(nf.alias), "node-%d-%u", i, ts);
    size_t len;
    assert_int_equal(ph_gossip_build_node_announcement(&nf, c->ns[i], out, 200, &len), PH_OK);
    return len;
}

static ph_gossip_result add(ph_gossip_store *st, const uint8_t *m, size_t len, uint32_t origin)
{
    ph_gossip_result r;
    assert_int_equal(ph_gossip_add(st, m, len, origin, &r), PH_OK);
    return r;
}

/* ---------- preloaded sample ---------- */

static void test_preload_full_window(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(1000, 1000);
    ph_gossip_preload_stats ps;
    assert_int_equal(ph_gossip_preload_file(st, SAMPLE, &ps), PH_OK);
    assert_int_equal(ps.messages, 28809);
    assert_int_equal(ps.bytes, 4822263);
    assert_int_equal(ps.by_type[0], 27);
    assert_int_equal(ps.by_type[1], 2251);
    assert_int_equal(ps.by_type[2], 26531);
    /* strict-store verdicts: every message counted once */
    assert_int_equal(ps.strict_ok + ps.bad_signature + ps.unknown_channel + ps.unknown_node +
                         ps.stale,
                     28809);
    assert_int_equal(ps.bad_signature, 0);
    size_t unknown_ch = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.f[i].type == PH_WIRE_CHANNEL_UPDATE && !is_announced(&s, s.f[i].scid))
            unknown_ch++;
    assert_int_equal(ps.unknown_channel, unknown_ch);
    print_message("preload strict verdicts: ok %llu, unknown_channel %llu, unknown_node %llu, "
                  "stale %llu, bad_signature %llu\n",
                  (unsigned long long)ps.strict_ok, (unsigned long long)ps.unknown_channel,
                  (unsigned long long)ps.unknown_node, (unsigned long long)ps.stale,
                  (unsigned long long)ps.bad_signature);

    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.log_messages, 28809);
    assert_int_equal(gs.preloaded, 28809);
    assert_int_equal(gs.channels, 27);

    /* the whole window serves every message, byte-exact, in file order */
    ph_gossip_cursor *c;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 5, &c), PH_OK);
    size_t i = 0;
    ph_gossip_msg *m;
    while ((m = ph_gossip_cursor_next(c)) != NULL) {
        assert_true(i < s.n);
        assert_msg(m, s.msg[i], s.mlen[i]);
        ph_gossip_msg_unref(m);
        i++;
    }
    assert_int_equal(i, 28809);
    assert_true(ph_gossip_cursor_at_end(c));
    /* a second cursor shares the same bytes (no copy per peer) */
    ph_gossip_cursor *c2;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 6, &c2), PH_OK);
    ph_gossip_cursor_set_filter(c, 0, 0xFFFFFFFFu);
    ph_gossip_msg *a = ph_gossip_cursor_next(c), *b = ph_gossip_cursor_next(c2);
    assert_ptr_equal(ph_gossip_msg_data(a), ph_gossip_msg_data(b));
    ph_gossip_msg_unref(a);
    ph_gossip_msg_unref(b);
    ph_gossip_cursor_destroy(c2);
    ph_gossip_cursor_destroy(c);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

/* Expected serving of the sample under a window, computed from the file. */
static size_t expected_window(const struct sample *s, uint32_t first, uint32_t range, bool *want)
{
    uint64_t end = (uint64_t)first + range;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const ph_gossip_fields *f = &s->f[i];
        want[i] = false;
        if (f->type != PH_WIRE_CHANNEL_ANNOUNCEMENT) {
            want[i] = f->timestamp >= first && f->timestamp < end;
        } else {
            for (size_t j = 0; j < s->n && !want[i]; j++)
                want[i] = s->f[j].type == PH_WIRE_CHANNEL_UPDATE && s->f[j].scid == f->scid &&
                          s->f[j].timestamp >= first && s->f[j].timestamp < end;
        }
        n += want[i];
    }
    return n;
}

static void test_preload_windows(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(1000, 1000);
    assert_int_equal(ph_gossip_preload_file(st, SAMPLE, NULL), PH_OK);
    bool *want = calloc(s.n, sizeof(*want));
    assert_non_null(want);
    const struct { uint32_t first, range; } w[] = {
        { 1763397025u, 6 * 3600 },          /* around the median */
        { 1763452800u, 3600 },              /* one late hour */
        { 0, 1755482716u },                 /* only the earliest second */
        { 1755482715u, 86400 * 3 },         /* the August part */
        { 0xFFFFFFFFu, 0 },                 /* "send nothing" filter */
        { 1763400000u, 0xFFFFFFFFu },       /* range past 2^32: no overflow */
    };
    for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++) {
        size_t n = expected_window(&s, w[k].first, w[k].range, want);
        ph_gossip_cursor *c;
        assert_int_equal(ph_gossip_cursor_create(st, w[k].first, w[k].range, 1, &c), PH_OK);
        size_t got = 0;
        ph_gossip_msg *m;
        for (size_t i = 0; i < s.n; i++) {
            if (!want[i])
                continue;
            m = ph_gossip_cursor_next(c);
            assert_msg(m, s.msg[i], s.mlen[i]);
            assert_true(ph_gossip_msg_in_window(st, m, w[k].first, w[k].range));
            ph_gossip_msg_unref(m);
            got++;
        }
        assert_null(ph_gossip_cursor_next(c));
        assert_int_equal(got, n);
        print_message("window [%u, +%u): %zu of %zu messages\n", w[k].first, w[k].range, n, s.n);
        if (k == 0 || k == 1)
            assert_true(n > 0 && n < s.n);
        if (k == 4)
            assert_int_equal(n, 0);
        ph_gossip_cursor_destroy(c);
    }
    free(want);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

static void test_preload_recovery_audit(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(1000, 1000);
    assert_int_equal(ph_gossip_preload_buf(st, s.buf, s.len, NULL), PH_OK);
    ph_gossip_recovery_stats rs;
    assert_int_equal(ph_gossip_audit_recovery(st, &rs), PH_OK);
    size_t announced_upd = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.f[i].type == PH_WIRE_CHANNEL_UPDATE && is_announced(&s, s.f[i].scid))
            announced_upd++;
    assert_int_equal(rs.updates, 26531);
    assert_int_equal(rs.unrecoverable, 0);
    assert_int_equal(rs.mismatch_channel, 0);
    assert_int_equal(rs.match_channel, announced_upd);
    assert_int_equal(rs.match_channel + rs.mismatch_channel + rs.match_known_node + rs.consistent +
                         rs.unverifiable + rs.unrecoverable,
                     26531);
    print_message("recovery: match_channel %llu, match_known_node %llu, consistent %llu, "
                  "unverifiable %llu, mismatch %llu, unrecoverable %llu\n",
                  (unsigned long long)rs.match_channel, (unsigned long long)rs.match_known_node,
                  (unsigned long long)rs.consistent, (unsigned long long)rs.unverifiable,
                  (unsigned long long)rs.mismatch_channel, (unsigned long long)rs.unrecoverable);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

static void test_preload_errors(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(10, 10);
    ph_gossip_preload_stats ps;
    ph_gossip_stats gs;
    /* truncated inside the last record */
    assert_int_equal(ph_gossip_preload_buf(st, s.buf, s.len - 1, &ps), PH_ERR_GOSSIP_FORMAT);
    assert_int_equal(ps.bad_offset, (size_t)(s.msg[s.n - 1] - s.buf) - 2);
    /* a lone length byte */
    assert_int_equal(ph_gossip_preload_buf(st, s.buf, 1, &ps), PH_ERR_GOSSIP_FORMAT);
    assert_int_equal(ps.bad_offset, 0);
    /* a zero-length record, a non-gossip record, a short gossip record */
    uint8_t bad[300] = { 0 };
    assert_int_equal(ph_gossip_preload_buf(st, bad, 2, &ps), PH_ERR_GOSSIP_FORMAT);
    ph_put_be16(bad, 4);
    ph_put_be16(bad + 2, 18); /* ping */
    assert_int_equal(ph_gossip_preload_buf(st, bad, 6, &ps), PH_ERR_GOSSIP_FORMAT);
    ph_put_be16(bad, 100);
    ph_put_be16(bad + 2, 258);
    assert_int_equal(ph_gossip_preload_buf(st, bad, 102, &ps), PH_ERR_GOSSIP_FORMAT);
    /* another chain: refused whole */
    uint8_t *copy = malloc(s.len);
    assert_non_null(copy);
    memcpy(copy, s.buf, s.len);
    size_t off = (size_t)(s.msg[5] - s.buf);
    assert_int_equal(s.f[5].type, PH_WIRE_CHANNEL_UPDATE);
    copy[off + 66] ^= 1;
    assert_int_equal(ph_gossip_preload_buf(st, copy, s.len, &ps), PH_ERR_GOSSIP_CHAIN);
    assert_int_equal(ps.bad_offset, off - 2);
    free(copy);
    assert_int_equal(ph_gossip_preload_file(st, "tests/vectors/no-such-file.lnmsgs", NULL), PH_ERR_IO);
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.log_messages, 0);
    assert_int_equal(gs.channels, 0);
    /* an empty file is fine */
    assert_int_equal(ph_gossip_preload_buf(st, NULL, 0, &ps), PH_OK);
    assert_int_equal(ps.messages, 0);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

/* ---------- strict validation on the real sample ---------- */

struct last_ts {
    uint64_t key;
    uint32_t ts;
};

/* Index of key in a small open table of (key -> last timestamp). */
static struct last_ts *lookup_ts(struct last_ts *t, size_t cap, uint64_t key, bool *fresh)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 40) % cap;
    while (t[i].key && t[i].key != key)
        i = (i + 1) % cap;
    *fresh = t[i].key == 0;
    t[i].key = key;
    return &t[i];
}

static void test_strict_sample(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);

    /* expected update outcomes, computed from the file: announcements all
     * come before their updates in this sample */
    size_t cap = 65536;
    struct last_ts *t = calloc(cap, sizeof(*t));
    assert_non_null(t);
    size_t acc = 0, dup = 0, stale = 0, pend = 0, unknown = 0;
    for (size_t i = 0; i < s.n; i++) {
        const ph_gossip_fields *f = &s.f[i];
        if (f->type != PH_WIRE_CHANNEL_UPDATE)
            continue;
        bool fresh;
        struct last_ts *e = lookup_ts(t, cap, (f->scid << 1 | (uint64_t)dir_of(f)) + 1, &fresh);
        bool ann = is_announced(&s, f->scid);
        if (!ann)
            unknown++;
        if (fresh || f->timestamp > e->ts) {
            e->ts = f->timestamp;
            if (ann)
                acc++;
            else
                pend++;
        } else if (f->timestamp == e->ts) {
            dup++;
        } else {
            stale++;
        }
    }
    free(t);

    /* a pending set large enough to keep everything */
    ph_gossip_store *st = new_store(30000, 3000);
    for (size_t i = 0; i < s.n; i++)
        add(st, s.msg[i], s.mlen[i], 7);
    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    const uint64_t *ca = gs.outcome[PH_GOSSIP_KIND_CHAN_ANN];
    const uint64_t *na = gs.outcome[PH_GOSSIP_KIND_NODE_ANN];
    const uint64_t *cu = gs.outcome[PH_GOSSIP_KIND_CHAN_UPD];
    assert_int_equal(ca[PH_GOSSIP_ACCEPTED], 27);
    assert_int_equal(ca[PH_GOSSIP_BAD_SIGNATURE] + na[PH_GOSSIP_BAD_SIGNATURE] +
                         cu[PH_GOSSIP_BAD_SIGNATURE],
                     0);
    assert_int_equal(cu[PH_GOSSIP_ACCEPTED], acc);
    assert_int_equal(cu[PH_GOSSIP_PENDING], pend);
    assert_int_equal(cu[PH_GOSSIP_DUPLICATE], dup);
    assert_int_equal(cu[PH_GOSSIP_STALE], stale);
    assert_int_equal(gs.pending_updates, pend - gs.pending_updates_replaced);
    uint64_t nsum = 0;
    for (int o = 0; o < PH_GOSSIP__OUTCOMES; o++)
        nsum += na[o];
    assert_int_equal(nsum, 2251);
    assert_int_equal(na[PH_GOSSIP_ACCEPTED] + na[PH_GOSSIP_PENDING] + na[PH_GOSSIP_STALE] +
                         na[PH_GOSSIP_DUPLICATE],
                     2251);
    print_message("strict sample: updates accepted %zu pending %zu dup %zu stale %zu; node_ann "
                  "accepted %llu pending %llu stale %llu, released %llu\n",
                  acc, pend, dup, stale, (unsigned long long)na[PH_GOSSIP_ACCEPTED],
                  (unsigned long long)na[PH_GOSSIP_PENDING], (unsigned long long)na[PH_GOSSIP_STALE],
                  (unsigned long long)gs.pending_nodes_released);
    /* the store serves what it accepted: announcements first */
    ph_gossip_cursor *c;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 0, &c), PH_OK);
    struct sink k = { 0 };
    drain(c, &k);
    assert_int_equal(k.n, gs.log_messages);
    ph_gossip_cursor_destroy(c);
    sink_free(&k);
    ph_gossip_store_destroy(st);

    /* default bounds: the pending set overflows and evicts (counted) */
    st = new_store(1000, 1000);
    for (size_t i = 0; i < s.n; i++)
        add(st, s.msg[i], s.mlen[i], 7);
    ph_gossip_get_stats(st, &gs);
    assert_true(gs.pending_updates_evicted > 0);
    assert_true(gs.pending_updates <= 1000);
    assert_true(gs.pending_nodes <= 1000);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_ACCEPTED], acc);
    print_message("default bounds: pending updates held %zu, evicted %llu\n", gs.pending_updates,
                  (unsigned long long)gs.pending_updates_evicted);
    ph_gossip_store_destroy(st);

    /* no pending set: unknown channels are dropped and counted */
    st = new_store(0, 0);
    for (size_t i = 0; i < s.n; i++)
        add(st, s.msg[i], s.mlen[i], 7);
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_UNKNOWN_CHANNEL], unknown);
    assert_true(gs.outcome[PH_GOSSIP_KIND_NODE_ANN][PH_GOSSIP_UNKNOWN_NODE] > 0);
    assert_int_equal(gs.pending_updates, 0);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

/* ---------- strict validation on our own signed gossip ---------- */

static void test_strict_pending_release_and_replace(void **state)
{
    (void)state;
    struct chanfix c;
    make_channel(&c, 0x31, ph_wire_scid_make(800001, 7, 0));
    ph_gossip_store *st = new_store(100, 100);
    uint8_t u0[138], u1[138], u0b[138], u0c[138], na1[200], na1b[200];
    make_update(&c, 0, 1000, 1, u0);
    make_update(&c, 1, 1001, 1, u1);
    make_update(&c, 0, 2000, 2, u0b);
    make_update(&c, 0, 2000, 3, u0c); /* same timestamp, other content */
    size_t na1_len = make_node(&c, 0, 500, na1);
    size_t na1b_len = make_node(&c, 0, 600, na1b);

    ph_gossip_result r = add(st, u0, 138, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_PENDING);
    assert_int_equal(r.n_new, 0);
    assert_null(r.msg);
    r = add(st, na1, na1_len, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_PENDING);
    r = add(st, c.ann, c.ann_len, 2);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 3); /* announcement, released update, released node */
    assert_non_null(r.msg);
    assert_msg(r.msg, c.ann, c.ann_len);
    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.pending_updates_released, 1);
    assert_int_equal(gs.pending_nodes_released, 1);
    assert_int_equal(gs.pending_updates, 0);
    assert_int_equal(gs.pending_nodes, 0);

    ph_gossip_cursor *cur;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 0, &cur), PH_OK);
    struct sink k = { 0 };
    drain(cur, &k);
    assert_int_equal(k.n, 3);
    assert_msg(k.m[0], c.ann, c.ann_len);
    assert_msg(k.m[1], u0, 138);
    assert_msg(k.m[2], na1, na1_len);
    sink_clear(&k);

    r = add(st, u1, 138, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 1);
    r = add(st, u0b, 138, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(add(st, u0, 138, 1).outcome, PH_GOSSIP_STALE);
    assert_int_equal(add(st, u0b, 138, 1).outcome, PH_GOSSIP_DUPLICATE);
    assert_int_equal(add(st, u0c, 138, 1).outcome, PH_GOSSIP_DUPLICATE);
    assert_int_equal(add(st, c.ann, c.ann_len, 1).outcome, PH_GOSSIP_DUPLICATE);
    assert_int_equal(add(st, na1, na1_len, 1).outcome, PH_GOSSIP_DUPLICATE);
    r = add(st, na1b, na1b_len, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 1);
    assert_int_equal(add(st, na1, na1_len, 1).outcome, PH_GOSSIP_STALE);

    /* the old cursor continues with the new messages only */
    drain(cur, &k);
    assert_int_equal(k.n, 3);
    assert_msg(k.m[0], u1, 138);
    assert_msg(k.m[1], u0b, 138);
    assert_msg(k.m[2], na1b, na1b_len);
    sink_clear(&k);
    /* a fresh cursor sees the newest of each only, announcement first */
    ph_gossip_cursor_set_filter(cur, 0, 0xFFFFFFFFu);
    drain(cur, &k);
    assert_int_equal(k.n, 4);
    assert_msg(k.m[0], c.ann, c.ann_len);
    assert_msg(k.m[1], u1, 138);
    assert_msg(k.m[2], u0b, 138);
    assert_msg(k.m[3], na1b, na1b_len);
    sink_clear(&k);

    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.log_messages, 4);
    assert_int_equal(gs.bytes_held, c.ann_len + 138 * 2 + na1b_len);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_ACCEPTED], 2);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_PENDING], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_DUPLICATE], 2);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_STALE], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_NODE_ANN][PH_GOSSIP_STALE], 1);
    ph_gossip_cursor_destroy(cur);
    sink_free(&k);
    ph_gossip_store_destroy(st);
}

/* An announcement without updates is not served; its first update brings
 * it into the log, followed by node_announcements that were waiting. */
static void test_strict_announcement_waits_for_update(void **state)
{
    (void)state;
    struct chanfix c;
    make_channel(&c, 0x61, ph_wire_scid_make(800002, 1, 1));
    ph_gossip_store *st = new_store(10, 10);
    ph_gossip_cursor *cur;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 0, &cur), PH_OK);
    ph_gossip_result r = add(st, c.ann, c.ann_len, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 0);
    assert_false(ph_gossip_msg_in_window(st, r.msg, 0, 0xFFFFFFFFu));
    uint8_t na2[200], u1[138];
    size_t na2_len = make_node(&c, 1, 77, na2);
    r = add(st, na2, na2_len, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 0);
    assert_null(ph_gossip_cursor_next(cur));
    make_update(&c, 1, 5000, 9, u1);
    r = add(st, u1, 138, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 3);
    struct sink k = { 0 };
    drain(cur, &k);
    assert_int_equal(k.n, 3);
    assert_msg(k.m[0], c.ann, c.ann_len);
    assert_msg(k.m[1], u1, 138);
    assert_msg(k.m[2], na2, na2_len);
    sink_free(&k);
    /* the announcement's window follows its updates */
    ph_gossip_cursor_set_filter(cur, 5000, 1);
    drain(cur, &k);
    assert_int_equal(k.n, 2); /* announcement + update; node_announcement ts 77 is out */
    sink_free(&k);
    ph_gossip_cursor_set_filter(cur, 5001, 100);
    assert_null(ph_gossip_cursor_next(cur));
    ph_gossip_cursor_destroy(cur);
    ph_gossip_store_destroy(st);
}

static void test_strict_rejections(void **state)
{
    (void)state;
    struct chanfix c, other;
    make_channel(&c, 0x11, ph_wire_scid_make(800003, 2, 0));
    make_channel(&other, 0x71, ph_wire_scid_make(800003, 2, 0)); /* same scid, other nodes */
    ph_gossip_store *st = new_store(10, 10);

    /* corrupted signatures: announcement (each of the 4), update, node */
    for (int i = 0; i < 4; i++) {
        uint8_t bad[PH_WIRE_CHANNEL_ANNOUNCEMENT_MIN_LEN];
        memcpy(bad, c.ann, c.ann_len);
        bad[2 + 64 * i + 5] ^= 0x40;
        assert_int_equal(add(st, bad, c.ann_len, 1).outcome, PH_GOSSIP_BAD_SIGNATURE);
    }
    uint8_t bad_key[PH_WIRE_CHANNEL_ANNOUNCEMENT_MIN_LEN];
    memcpy(bad_key, c.ann, c.ann_len);
    bad_key[2 + 256 + 2 + 32 + 8 + 33] = 0x07; /* node_id_2 not a point */
    assert_int_equal(add(st, bad_key, c.ann_len, 1).outcome, PH_GOSSIP_MALFORMED);
    uint8_t other_chain[PH_WIRE_CHANNEL_ANNOUNCEMENT_MIN_LEN];
    memcpy(other_chain, c.ann, c.ann_len);
    other_chain[2 + 256 + 2] ^= 1;
    assert_int_equal(add(st, other_chain, c.ann_len, 1).outcome, PH_GOSSIP_WRONG_CHAIN);
    assert_int_equal(add(st, c.ann, c.ann_len, 1).outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(add(st, other.ann, other.ann_len, 1).outcome, PH_GOSSIP_CONFLICT);

    uint8_t u[138], wrong_dir[138];
    make_update(&c, 0, 100, 1, u);
    /* signed by node 1 but claiming direction 1: verified against node 2 */
    ph_gossip_update_fields uf = { .scid = c.scid, .timestamp = 100, .channel_flags = 1 };
    memcpy(uf.chain_hash, mainnet_chain(), 32);
    size_t len;
    assert_int_equal(ph_gossip_build_channel_update(&uf, c.ns[0], wrong_dir, 138, &len), PH_OK);
    assert_int_equal(add(st, wrong_dir, 138, 1).outcome, PH_GOSSIP_BAD_SIGNATURE);
    uint8_t bad[138];
    memcpy(bad, u, 138);
    bad[2 + 3] ^= 0x01;
    assert_int_equal(add(st, bad, 138, 1).outcome, PH_GOSSIP_BAD_SIGNATURE);
    memcpy(bad, u, 138);
    bad[137] ^= 0x01; /* signed field */
    assert_int_equal(add(st, bad, 138, 1).outcome, PH_GOSSIP_BAD_SIGNATURE);
    memcpy(bad, u, 138);
    bad[2 + 64] ^= 0x01;
    assert_int_equal(add(st, bad, 138, 1).outcome, PH_GOSSIP_WRONG_CHAIN);
    uf.channel_flags = 0;
    uf.message_flags = PH_GOSSIP_MESSAGE_FLAG_DONT_FORWARD;
    uint8_t priv[138];
    assert_int_equal(ph_gossip_build_channel_update(&uf, c.ns[0], priv, 138, &len), PH_OK);
    assert_int_equal(add(st, priv, 138, 1).outcome, PH_GOSSIP_PRIVATE);
    assert_int_equal(add(st, u, 137, 1).outcome, PH_GOSSIP_MALFORMED);
    assert_int_equal(add(st, u, 1, 1).outcome, PH_GOSSIP_NOT_GOSSIP);
    uint8_t ping[6] = { 0, 18, 0, 0, 0, 0 };
    assert_int_equal(add(st, ping, sizeof(ping), 1).outcome, PH_GOSSIP_NOT_GOSSIP);
    ph_gossip_result r;
    assert_int_equal(ph_gossip_add(st, u, 70000, 1, &r), PH_ERR_ARG);
    assert_int_equal(add(st, u, 138, 1).outcome, PH_GOSSIP_ACCEPTED);

    uint8_t na[200];
    size_t na_len = make_node(&c, 1, 10, na);
    na[2 + 64 + 2 + 4 + 33 + 3] ^= 1; /* alias byte: signed */
    assert_int_equal(add(st, na, na_len, 1).outcome, PH_GOSSIP_BAD_SIGNATURE);
    na_len = make_node(&other, 0, 10, na); /* a node with no channel */
    assert_int_equal(add(st, na, na_len, 1).outcome, PH_GOSSIP_PENDING);

    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_ANN][PH_GOSSIP_BAD_SIGNATURE], 4);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_ANN][PH_GOSSIP_MALFORMED], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_ANN][PH_GOSSIP_WRONG_CHAIN], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_ANN][PH_GOSSIP_CONFLICT], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_BAD_SIGNATURE], 3);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_WRONG_CHAIN], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_PRIVATE], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_CHAN_UPD][PH_GOSSIP_MALFORMED], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_OTHER][PH_GOSSIP_NOT_GOSSIP], 2);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_NODE_ANN][PH_GOSSIP_BAD_SIGNATURE], 1);
    assert_int_equal(gs.outcome[PH_GOSSIP_KIND_NODE_ANN][PH_GOSSIP_PENDING], 1);
    assert_string_equal(ph_gossip_outcome_name(PH_GOSSIP_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(ph_gossip_outcome_name(PH_GOSSIP__OUTCOMES), "unknown");
    ph_gossip_store_destroy(st);
}

static void test_pending_bounds(void **state)
{
    (void)state;
    struct chanfix c[3];
    for (int i = 0; i < 3; i++)
        make_channel(&c[i], (uint8_t)(0x20 + 4 * i), ph_wire_scid_make(810000 + (uint32_t)i, 0, 0));
    ph_gossip_store *st = new_store(2, 1);
    uint8_t u[3][138], newer[138];
    for (int i = 0; i < 3; i++) {
        make_update(&c[i], 0, 100, 1, u[i]);
        assert_int_equal(add(st, u[i], 138, 1).outcome, PH_GOSSIP_PENDING);
    }
    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.pending_updates_evicted, 1); /* the first one */
    assert_int_equal(gs.pending_updates, 2);
    /* same key again: older/equal ignored, newer replaces in place */
    assert_int_equal(add(st, u[2], 138, 1).outcome, PH_GOSSIP_DUPLICATE);
    make_update(&c[2], 0, 200, 1, newer);
    assert_int_equal(add(st, newer, 138, 1).outcome, PH_GOSSIP_PENDING);
    assert_int_equal(add(st, u[2], 138, 1).outcome, PH_GOSSIP_STALE);
    /* a forged pending update is caught when its announcement arrives */
    uint8_t forged[138];
    make_update(&c[1], 1, 100, 1, forged);
    forged[10] ^= 1;
    assert_int_equal(add(st, forged, 138, 1).outcome, PH_GOSSIP_PENDING); /* evicts u[1]? no: u[1] dir 0 */
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.pending_updates_replaced, 1);
    assert_int_equal(gs.pending_updates_evicted, 2);
    assert_int_equal(gs.pending_updates, 2); /* newer (c2) and forged (c1 dir 1) */

    ph_gossip_result r = add(st, c[0].ann, c[0].ann_len, 1);
    assert_int_equal(r.n_new, 0); /* its update was evicted */
    r = add(st, c[1].ann, c[1].ann_len, 1);
    assert_int_equal(r.n_new, 0); /* the forged one is rejected */
    r = add(st, c[2].ann, c[2].ann_len, 1);
    assert_int_equal(r.n_new, 2);
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.pending_updates_released, 1);
    assert_int_equal(gs.pending_updates_rejected, 1);
    assert_int_equal(gs.pending_updates, 0);

    /* node pending set of 1: the second evicts the first */
    struct chanfix d;
    make_channel(&d, 0x50, ph_wire_scid_make(820000, 0, 0));
    uint8_t n0[200], n1[200];
    size_t l0 = make_node(&d, 0, 5, n0), l1 = make_node(&d, 1, 5, n1);
    assert_int_equal(add(st, n0, l0, 1).outcome, PH_GOSSIP_PENDING);
    assert_int_equal(add(st, n1, l1, 1).outcome, PH_GOSSIP_PENDING);
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.pending_nodes_evicted, 1);
    assert_int_equal(gs.pending_nodes, 1);
    r = add(st, d.ann, d.ann_len, 1);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.pending_nodes_released, 1);
    assert_int_equal(gs.pending_nodes, 0);
    ph_gossip_store_destroy(st);

    /* no pending sets at all */
    st = new_store(0, 0);
    assert_int_equal(add(st, u[0], 138, 1).outcome, PH_GOSSIP_UNKNOWN_CHANNEL);
    assert_int_equal(add(st, n0, l0, 1).outcome, PH_GOSSIP_UNKNOWN_NODE);
    ph_gossip_store_destroy(st);
}

/* ---------- relay ---------- */

static void test_relay_cursors(void **state)
{
    (void)state;
    struct chanfix c;
    make_channel(&c, 0x44, ph_wire_scid_make(830000, 3, 3));
    ph_gossip_store *st = new_store(10, 10);
    uint8_t u0[138], u1[138], own[138];
    make_update(&c, 0, 1000, 1, u0);
    make_update(&c, 1, 1500, 1, u1);
    make_update(&c, 0, 10, 1, own); /* too old for any filter below, but ours */
    add(st, c.ann, c.ann_len, 1);
    add(st, u0, 138, 1);

    ph_gossip_cursor *p1, *p2, *p3;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 1, &p1), PH_OK);
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 2, &p2), PH_OK);
    assert_int_equal(ph_gossip_cursor_create(st, 5000, 1000, 3, &p3), PH_OK);
    struct sink k1 = { 0 }, k2 = { 0 }, k3 = { 0 };
    drain(p1, &k1);
    drain(p2, &k2);
    drain(p3, &k3);
    assert_int_equal(k1.n, 0); /* everything came from peer 1 */
    assert_int_equal(k2.n, 2);
    assert_int_equal(k3.n, 0);
    assert_true(ph_gossip_cursor_at_end(p1) && ph_gossip_cursor_at_end(p2));
    sink_clear(&k2);

    ph_gossip_result r = add(st, u1, 138, 2); /* from peer 2 */
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    assert_int_equal(r.n_new, 1);
    assert_false(ph_gossip_cursor_at_end(p1));
    assert_true(ph_gossip_msg_in_window(st, r.msg, 1500, 1));
    assert_false(ph_gossip_msg_in_window(st, r.msg, 1501, 10));
    drain(p1, &k1);
    drain(p2, &k2);
    drain(p3, &k3);
    assert_int_equal(k1.n, 1);
    assert_ptr_equal(k1.m[0], r.msg); /* the stored message itself: no copy */
    assert_int_equal(k2.n, 0);        /* not back to its sender */
    assert_int_equal(k3.n, 0);        /* outside peer 3's window */

    /* our own gossip ignores filters (BOLT 7) */
    ph_gossip_store *st2 = new_store(10, 10);
    add(st2, c.ann, c.ann_len, 1);
    ph_gossip_cursor *q;
    assert_int_equal(ph_gossip_cursor_create(st2, 5000, 1000, 3, &q), PH_OK);
    r = add(st2, own, 138, PH_GOSSIP_ORIGIN_LOCAL);
    assert_int_equal(r.outcome, PH_GOSSIP_ACCEPTED);
    struct sink kq = { 0 };
    drain(q, &kq);
    assert_int_equal(kq.n, 1); /* the update; its announcement (from peer 1) is out of window */
    assert_msg(kq.m[0], own, 138);
    ph_gossip_cursor_destroy(q);
    ph_gossip_store_destroy(st2);
    /* references outlive the store */
    assert_msg(kq.m[0], own, 138);
    sink_free(&kq);

    ph_gossip_cursor_destroy(p1);
    ph_gossip_cursor_destroy(p2);
    ph_gossip_cursor_destroy(p3);
    ph_gossip_store_destroy(st);
    assert_msg(k1.m[0], u1, 138);
    sink_free(&k1);
    sink_free(&k2);
    sink_free(&k3);
}

/* Many replacements compact the log; cursors keep their place. */
static void test_log_compaction(void **state)
{
    (void)state;
    struct chanfix c;
    make_channel(&c, 0x66, ph_wire_scid_make(840000, 0, 1));
    ph_gossip_store *st = new_store(10, 10);
    add(st, c.ann, c.ann_len, 1);
    ph_gossip_cursor *lag, *mid;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 0, &lag), PH_OK);
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 0, &mid), PH_OK);
    uint8_t u[138];
    uint32_t last_seen[2] = { 0, 0 };
    size_t got_mid = 0;
    for (uint32_t i = 1; i <= 2600; i++) {
        make_update(&c, (int)(i & 1), 1000 + i, i, u);
        assert_int_equal(add(st, u, 138, 1).outcome, PH_GOSSIP_ACCEPTED);
        if (i % 500 == 0) { /* `mid` reads now and then: never a duplicate or step back */
            ph_gossip_msg *m;
            while ((m = ph_gossip_cursor_next(mid)) != NULL) {
                if (ph_gossip_msg_type(m) == PH_WIRE_CHANNEL_UPDATE) {
                    int d = ph_gossip_msg_data(m)[2 + 64 + 32 + 8 + 4 + 1] & 1;
                    assert_true(ph_gossip_msg_timestamp(m) > last_seen[d]);
                    last_seen[d] = ph_gossip_msg_timestamp(m);
                }
                got_mid++;
                ph_gossip_msg_unref(m);
            }
        }
    }
    ph_gossip_msg *m;
    while ((m = ph_gossip_cursor_next(mid)) != NULL) {
        int d = ph_gossip_msg_data(m)[2 + 64 + 32 + 8 + 4 + 1] & 1;
        assert_true(ph_gossip_msg_timestamp(m) > last_seen[d]);
        last_seen[d] = ph_gossip_msg_timestamp(m);
        got_mid++;
        ph_gossip_msg_unref(m);
    }
    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.log_messages, 3);
    assert_int_equal(gs.bytes_held, c.ann_len + 2 * 138);
    assert_int_equal(last_seen[0], 1000 + 2600);
    assert_int_equal(last_seen[1], 1000 + 2599);
    assert_true(got_mid >= 5 && got_mid <= 1 + 2 * 6);
    struct sink k = { 0 };
    drain(lag, &k);
    assert_int_equal(k.n, 3);
    assert_int_equal(ph_gossip_msg_type(k.m[0]), PH_WIRE_CHANNEL_ANNOUNCEMENT);
    assert_int_equal(ph_gossip_msg_timestamp(k.m[1]), 1000 + 2599);
    assert_int_equal(ph_gossip_msg_timestamp(k.m[2]), 1000 + 2600);
    sink_free(&k);
    ph_gossip_cursor_destroy(lag);
    ph_gossip_cursor_destroy(mid);
    ph_gossip_store_destroy(st);
}

/* ---------- queries ---------- */

struct range_reply {
    uint32_t first, num;
    uint8_t complete;
    size_t n;
    const uint8_t *scids;
};

static void parse_range_reply(const ph_gossip_msg *m, const uint8_t *chain, struct range_reply *rr)
{
    const uint8_t *p = ph_gossip_msg_data(m);
    size_t len = ph_gossip_msg_len(m);
    assert_int_equal(ph_gossip_msg_type(m), 264);
    assert_true(len >= 46 && len <= 65535);
    assert_int_equal(ph_be16(p), 264);
    assert_memory_equal(p + 2, chain, 32);
    rr->first = ph_be32(p + 34);
    rr->num = ph_be32(p + 38);
    rr->complete = p[42];
    size_t elen = ph_be16(p + 43);
    assert_int_equal(len, 45 + elen); /* no TLVs */
    assert_true(elen >= 1);
    assert_int_equal(p[45], 0);
    assert_int_equal((elen - 1) % 8, 0);
    rr->n = (elen - 1) / 8;
    rr->scids = p + 46;
    /* and the wire codec reads the same */
    ph_wire_msg *wm = NULL;
    assert_int_equal(ph_wire_decode(p, len, 0, &wm, NULL), PH_OK);
    uint64_t v;
    assert_int_equal(ph_wire_get_u64(wm, "first_blocknum", &v), PH_OK);
    assert_true(v == rr->first);
    assert_int_equal(ph_wire_get_u64(wm, "number_of_blocks", &v), PH_OK);
    assert_true(v == rr->num);
    assert_int_equal(ph_wire_get_u64(wm, "sync_complete", &v), PH_OK);
    assert_true(v == rr->complete);
    const uint8_t *enc;
    size_t enc_len, n;
    assert_int_equal(ph_wire_get_bytes(wm, "encoded_short_ids", &enc, &enc_len), PH_OK);
    assert_int_equal(ph_wire_short_ids_decode(enc, enc_len, NULL, 0, &n), PH_OK);
    assert_int_equal(n, rr->n);
    assert_int_equal(ph_wire_tlv_count(wm), 0);
    ph_wire_msg_free(wm);
}

/* Checks a full answer to a query and returns the scids in order. */
static size_t check_range_answer(const struct sink *k, const uint8_t *chain, uint32_t qfirst,
                                 uint32_t qnum, uint64_t *scids, size_t cap)
{
    uint64_t qend = (uint64_t)qfirst + qnum;
    size_t total = 0;
    uint64_t prev_first = 0, prev_end = qfirst, prev_scid = 0;
    assert_true(k->n >= 1);
    for (size_t i = 0; i < k->n; i++) {
        struct range_reply rr;
        parse_range_reply(k->m[i], chain, &rr);
        uint64_t end = (uint64_t)rr.first + rr.num;
        if (i == 0) {
            assert_true(rr.first <= qfirst);
            assert_true(end > qfirst); /* at least one block, even for 0 asked */
        } else {
            assert_true(rr.first >= prev_first);
            assert_true(rr.first <= prev_end); /* no gap */
        }
        assert_int_equal(rr.complete, i + 1 == k->n);
        for (size_t j = 0; j < rr.n; j++) {
            uint64_t scid = ph_be64(rr.scids + 8 * j);
            assert_true(ph_wire_scid_block(scid) >= rr.first);
            assert_true(ph_wire_scid_block(scid) < end);
            assert_true(total == 0 || scid > prev_scid);
            prev_scid = scid;
            assert_true(total < cap);
            scids[total++] = scid;
        }
        prev_first = rr.first;
        prev_end = end;
    }
    assert_true(prev_end >= qend);
    return total;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_query_channel_range_sample(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(10, 10);
    assert_int_equal(ph_gossip_preload_buf(st, s.buf, s.len, NULL), PH_OK);
    const uint8_t *chain = mainnet_chain();
    uint64_t ann_scids[27];
    size_t na = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.f[i].type == PH_WIRE_CHANNEL_ANNOUNCEMENT)
            ann_scids[na++] = s.f[i].scid;
    assert_int_equal(na, 27);
    qsort(ann_scids, na, sizeof(uint64_t), cmp_u64);

    const struct { uint32_t first, num; } q[] = {
        { 0, 0xFFFFFFFFu }, { 900000, 30000 }, { 924024, 3 }, { 924042, 1 }, { 1, 5 }, { 924130, 10 },
        /* past 2^32 (the replies must reach first + number_of_blocks), and 0 blocks */
        { 10, 0xFFFFFFFFu }, { 924042, 0 },
    };
    for (size_t t = 0; t < sizeof(q) / sizeof(q[0]); t++) {
        uint8_t query[64];
        size_t qlen;
        assert_int_equal(ph_gossip_build_query_channel_range(chain, q[t].first, q[t].num, query,
                                                             sizeof(query), &qlen),
                         PH_OK);
        struct sink k = { 0 };
        assert_int_equal(ph_gossip_answer_channel_range(st, query, qlen, collect, &k), PH_OK);
        uint64_t got[64];
        size_t n = check_range_answer(&k, chain, q[t].first, q[t].num, got, 64);
        uint64_t want[27];
        size_t nw = 0;
        /* 0 blocks asked: the one block the reply must cover */
        uint64_t qend = (uint64_t)q[t].first + (q[t].num ? q[t].num : 1);
        for (size_t i = 0; i < na; i++)
            if (ph_wire_scid_block(ann_scids[i]) >= q[t].first &&
                ph_wire_scid_block(ann_scids[i]) < qend)
                want[nw++] = ann_scids[i];
        assert_int_equal(n, nw);
        if (n)
            assert_memory_equal(got, want, n * sizeof(uint64_t));
        assert_int_equal(k.n, 1);
        sink_free(&k);
    }
    /* another chain: one empty reply with that chain; it is the final
     * reply, so sync_complete = 1 (BOLT 7: "the final `reply_channel_range`
     * message: ... MUST set `sync_complete` to `true`") */
    uint8_t other[32], query[64];
    size_t qlen;
    assert_int_equal(ph_gossip_chain_hash("testnet", other), PH_OK);
    assert_int_equal(ph_gossip_build_query_channel_range(other, 0, 1000000, query, sizeof(query), &qlen),
                     PH_OK);
    struct sink k = { 0 };
    assert_int_equal(ph_gossip_answer_channel_range(st, query, qlen, collect, &k), PH_OK);
    assert_int_equal(k.n, 1);
    struct range_reply rr;
    parse_range_reply(k.m[0], other, &rr);
    assert_int_equal(rr.n, 0);
    assert_int_equal(rr.complete, 1);
    assert_int_equal(rr.first, 0);
    assert_int_equal(rr.num, 1000000);
    sink_free(&k);
    assert_int_equal(ph_gossip_answer_channel_range(st, query, 41, collect, &k), PH_ERR_WIRE_SHORT);
    /* query_option is accepted (and ignored); a broken TLV stream is not */
    uint8_t opt[64];
    assert_int_equal(ph_gossip_build_query_channel_range(chain, 900000, 30000, opt, sizeof(opt), &qlen),
                     PH_OK);
    const uint8_t want_ts[] = { 1, 1, 3 }, even[] = { 2, 0 };
    memcpy(opt + qlen, want_ts, 3);
    assert_int_equal(ph_gossip_answer_channel_range(st, opt, qlen + 3, collect, &k), PH_OK);
    assert_int_equal(k.n, 1);
    uint64_t got[27];
    assert_int_equal(check_range_answer(&k, chain, 900000, 30000, got, 27), 27);
    sink_free(&k);
    memcpy(opt + qlen, even, 2);
    assert_int_equal(ph_gossip_answer_channel_range(st, opt, qlen + 2, collect, &k),
                     PH_ERR_WIRE_TLV_UNKNOWN_EVEN);
    assert_int_equal(k.n, 0);
    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(gs.channel_range_queries, 10);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

/* Trusted synthetic announcements (unsigned: preload does not need it). */
static void synth_ann(uint8_t *rec, uint64_t scid, uint32_t k)
{
    memset(rec, 0, 2 + 432);
    ph_put_be16(rec, 432);
    uint8_t *m = rec + 2;
    ph_put_be16(m, 256);
    memcpy(m + 260, mainnet_chain(), 32);
    ph_put_be64(m + 292, scid);
    for (int i = 0; i < 4; i++) {
        uint8_t *pt = m + 300 + 33 * i;
        pt[0] = 2;
        ph_put_be64(pt + 1, k);
        pt[9] = (uint8_t)i;
    }
}

static void test_query_channel_range_split(void **state)
{
    (void)state;
    /* 20,000 channels, 3 per block, plus 9,000 in one block */
    size_t n1 = 20000, n2 = 9000, n = n1 + n2;
    uint8_t *buf = malloc(n * 434);
    uint64_t *want = malloc(n * sizeof(uint64_t));
    uint64_t *got = malloc(n * sizeof(uint64_t));
    assert_true(buf && want && got);
    for (size_t i = 0; i < n; i++) {
        uint64_t scid = i < n1 ? ph_wire_scid_make(100000 + (uint32_t)(i / 3), (uint32_t)(i % 3), 0)
                               : ph_wire_scid_make(200000, (uint32_t)(i - n1), 1);
        /* file order differs from scid order: reversed */
        synth_ann(buf + (n - 1 - i) * 434, scid, (uint32_t)i);
        want[i] = scid;
    }
    ph_gossip_store *st = new_store(10, 10);
    assert_int_equal(ph_gossip_preload_buf(st, buf, n * 434, NULL), PH_OK);
    const uint8_t *chain = mainnet_chain();
    uint8_t query[64];
    size_t qlen;
    assert_int_equal(ph_gossip_build_query_channel_range(chain, 50000, 200000, query, sizeof(query), &qlen),
                     PH_OK);
    struct sink k = { 0 };
    assert_int_equal(ph_gossip_answer_channel_range(st, query, qlen, collect, &k), PH_OK);
    size_t total = check_range_answer(&k, chain, 50000, 200000, got, n);
    assert_int_equal(total, n);
    assert_memory_equal(got, want, n * sizeof(uint64_t));
    /* 20,000 in 3-per-block chunks: 8,184 + 8,184 + 3,632 (cut at block
     * boundaries), then the 9,000 of one block split 8,186 + 814 */
    assert_int_equal(k.n, 5);
    const size_t sizes[] = { 8184, 8184, 3632, 8186, 814 };
    for (size_t i = 0; i < k.n; i++) {
        struct range_reply rr;
        parse_range_reply(k.m[i], chain, &rr);
        assert_int_equal(rr.n, sizes[i]);
        if (i == 3)
            assert_int_equal(ph_gossip_msg_len(k.m[i]), 65534); /* near the limit */
        if (i == 3 || i == 4)
            assert_true(rr.first <= 200000 && (uint64_t)rr.first + rr.num > 200000);
    }
    sink_free(&k);
    /* a query inside the big block */
    assert_int_equal(ph_gossip_build_query_channel_range(chain, 200000, 1, query, sizeof(query), &qlen),
                     PH_OK);
    assert_int_equal(ph_gossip_answer_channel_range(st, query, qlen, collect, &k), PH_OK);
    total = check_range_answer(&k, chain, 200000, 1, got, n);
    assert_int_equal(total, n2);
    assert_int_equal(k.n, 2);
    sink_free(&k);
    ph_gossip_store_destroy(st);
    free(buf);
    free(want);
    free(got);
}

/* Latest (by timestamp, first in file order on ties) preloaded message. */
static const uint8_t *latest(const struct sample *s, uint16_t type, uint64_t scid, int dir,
                             const uint8_t *node, size_t *len)
{
    const uint8_t *best = NULL;
    uint32_t best_ts = 0;
    for (size_t i = 0; i < s->n; i++) {
        const ph_gossip_fields *f = &s->f[i];
        if (f->type != type)
            continue;
        if (type == PH_WIRE_CHANNEL_UPDATE && (f->scid != scid || dir_of(f) != dir))
            continue;
        if (type == PH_WIRE_NODE_ANNOUNCEMENT && memcmp(f->node_id[0], node, 33) != 0)
            continue;
        if (!best || f->timestamp > best_ts) {
            best = s->msg[i];
            best_ts = f->timestamp;
            *len = s->mlen[i];
        }
    }
    return best;
}

static void test_query_short_channel_ids_sample(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(10, 10);
    assert_int_equal(ph_gossip_preload_buf(st, s.buf, s.len, NULL), PH_OK);
    const uint8_t *chain = mainnet_chain();

    /* three announced channels (two of them sharing a node, if any) + one unknown */
    size_t ann_idx[27], na = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.f[i].type == PH_WIRE_CHANNEL_ANNOUNCEMENT)
            ann_idx[na++] = i;
    size_t pick[3] = { ann_idx[1], ann_idx[2], ann_idx[20] };
    uint64_t scids[4] = { s.f[pick[0]].scid, ph_wire_scid_make(1, 2, 3), s.f[pick[1]].scid,
                          s.f[pick[2]].scid };

    /* expected: per known scid: announcement, update node 1, update node 2,
     * node_announcement node 1, node 2 (each node once per query) */
    const uint8_t *exp[32];
    size_t exp_len[32], ne = 0;
    const uint8_t *sent_nodes[8];
    size_t ns = 0;
    for (int q = 0; q < 3; q++) {
        const ph_gossip_fields *f = &s.f[pick[q]];
        exp[ne] = s.msg[pick[q]];
        exp_len[ne++] = s.mlen[pick[q]];
        for (int d = 0; d < 2; d++) {
            size_t l;
            const uint8_t *m = latest(&s, PH_WIRE_CHANNEL_UPDATE, f->scid, d, NULL, &l);
            if (m) {
                exp[ne] = m;
                exp_len[ne++] = l;
            }
        }
        for (int i = 0; i < 2; i++) {
            bool dup = false;
            for (size_t j = 0; j < ns; j++)
                dup = dup || memcmp(sent_nodes[j], f->node_id[i], 33) == 0;
            size_t l;
            const uint8_t *m = latest(&s, PH_WIRE_NODE_ANNOUNCEMENT, 0, 0, f->node_id[i], &l);
            if (m && !dup) {
                exp[ne] = m;
                exp_len[ne++] = l;
                sent_nodes[ns++] = f->node_id[i];
            }
        }
    }
    uint8_t query[128];
    size_t qlen;
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, scids, 4, query, sizeof(query), &qlen),
                     PH_OK);
    struct sink k = { 0 };
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, query, qlen, collect, &k), PH_OK);
    assert_int_equal(k.n, ne + 1);
    for (size_t i = 0; i < ne; i++)
        assert_msg(k.m[i], exp[i], exp_len[i]);
    const uint8_t *end = ph_gossip_msg_data(k.m[ne]);
    assert_int_equal(ph_gossip_msg_len(k.m[ne]), 35);
    assert_int_equal(ph_be16(end), 262);
    assert_memory_equal(end + 2, chain, 32);
    assert_int_equal(end[34], 1);
    ph_wire_msg *wm = NULL;
    assert_int_equal(ph_wire_decode(end, 35, 0, &wm, NULL), PH_OK);
    uint64_t full;
    assert_int_equal(ph_wire_get_u64(wm, "full_information", &full), PH_OK);
    assert_true(full == 1);
    ph_wire_msg_free(wm);
    print_message("query_short_channel_ids: %zu messages for 3 known scids\n", ne);
    sink_free(&k);

    /* The same 4 scids 2,000 times over (a 64 KB query): the same answer,
     * each channel once; a channel at a time, the end marker last. */
    uint64_t *many = malloc(8000 * sizeof *many);
    for (size_t i = 0; i < 8000; i++)
        many[i] = scids[i % 4];
    uint8_t *big = malloc(65535);
    size_t blen;
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, many, 8000, big, 65535, &blen),
                     PH_OK);
    ph_gossip_scid_answer *ans = NULL;
    assert_int_equal(ph_gossip_scid_answer_create(st, big, blen, &ans), PH_OK);
    assert_int_equal(ph_gossip_scid_answer_left(ans), 3 + 1); /* 3 known channels, the end */
    bool done = false;
    size_t steps = 0;
    while (!done) {
        assert_int_equal(ph_gossip_scid_answer_next(ans, collect, &k, &done), PH_OK);
        steps++;
    }
    assert_int_equal(steps, 3 + 1);
    assert_int_equal(ph_gossip_scid_answer_left(ans), 0);
    ph_gossip_scid_answer_destroy(ans);
    assert_int_equal(k.n, ne + 1);
    for (size_t i = 0; i < ne; i++)
        assert_msg(k.m[i], exp[i], exp_len[i]);
    assert_int_equal(ph_gossip_msg_type(k.m[ne]), 262);
    sink_free(&k);
    free(big);
    free(many);

    /* query_flags: [ann only, none (unknown scid), update node 1 + node_announcement
     * node 1, update node 2] */
    uint8_t fq[160];
    memcpy(fq, query, qlen);
    size_t fl = qlen;
    const uint8_t tlv[] = { 1, 5, 0, 0x01, 0x00, 0x0a, 0x04 };
    memcpy(fq + fl, tlv, sizeof(tlv));
    fl += sizeof(tlv);
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, fq, fl, collect, &k), PH_OK);
    const ph_gossip_fields *f0 = &s.f[pick[0]];
    const ph_gossip_fields *f2 = &s.f[pick[2]];
    size_t l;
    size_t at = 0;
    assert_msg(k.m[at++], s.msg[pick[0]], s.mlen[pick[0]]);
    (void)f0;
    /* pick[1], flags 0x0a: update node 1 and node_announcement node 1 */
    const ph_gossip_fields *f1 = &s.f[pick[1]];
    const uint8_t *m = latest(&s, PH_WIRE_CHANNEL_UPDATE, f1->scid, 0, NULL, &l);
    if (m)
        assert_msg(k.m[at++], m, l);
    m = latest(&s, PH_WIRE_NODE_ANNOUNCEMENT, 0, 0, f1->node_id[0], &l);
    if (m)
        assert_msg(k.m[at++], m, l);
    m = latest(&s, PH_WIRE_CHANNEL_UPDATE, f2->scid, 1, NULL, &l);
    if (m)
        assert_msg(k.m[at++], m, l);
    assert_int_equal(k.n, at + 1);
    assert_int_equal(ph_gossip_msg_type(k.m[at]), 262);
    sink_free(&k);

    /* malformed queries */
    fq[qlen + 1] = 4; /* query_flags with too few flags */
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, fq, qlen + 6, collect, &k), PH_ERR_WIRE_FIELD);
    const uint8_t even_tlv[] = { 2, 0 };
    memcpy(fq + qlen, even_tlv, 2);
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, fq, qlen + 2, collect, &k),
                     PH_ERR_WIRE_TLV_UNKNOWN_EVEN);
    const uint8_t zlib_flags[] = { 1, 2, 1, 0x78 };
    memcpy(fq + qlen, zlib_flags, 4);
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, fq, qlen + 4, collect, &k),
                     PH_ERR_GOSSIP_ENCODING);
    memcpy(fq, query, qlen);
    ph_put_be16(fq + 34, (uint16_t)(ph_be16(fq + 34) - 1)); /* not a whole number of scids */
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, fq, qlen - 1, collect, &k), PH_ERR_WIRE_FIELD);
    memcpy(fq, query, qlen);
    fq[36] = 1; /* zlib */
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, fq, qlen, collect, &k), PH_ERR_GOSSIP_ENCODING);
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, query, qlen - 1, collect, &k), PH_ERR_WIRE_SHORT);
    assert_int_equal(k.n, 0);

    /* another chain: only the end marker, full_information = 0 */
    uint8_t other[32];
    assert_int_equal(ph_gossip_chain_hash("signet", other), PH_OK);
    assert_int_equal(ph_gossip_build_query_short_channel_ids(other, scids, 4, query, sizeof(query), &qlen),
                     PH_OK);
    assert_int_equal(ph_gossip_answer_short_channel_ids(st, query, qlen, collect, &k), PH_OK);
    assert_int_equal(k.n, 1);
    assert_int_equal(ph_gossip_msg_data(k.m[0])[34], 0);
    sink_free(&k);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

/* The spec's extended-queries vectors: zlib ones are refused. */
static void test_query_vectors(void **state)
{
    (void)state;
    ph_vjson *root = NULL;
    assert_int_equal(ph_vjson_parse_file(&root, VECTORS, NULL), PH_OK);
    const ph_vjson *vs = ph_vjson_get(root, "vectors");
    assert_non_null(vs);
    ph_gossip_config cfg;
    ph_gossip_config_default(&cfg);
    assert_int_equal(ph_hex_decode_fixed(
                         ph_vjson_str(ph_vjson_path(vs, "0.decoded_by_extractor.chain_hash"), NULL),
                         cfg.chain_hash, 32),
                     PH_OK);
    ph_gossip_store *st;
    assert_int_equal(ph_gossip_store_create(&cfg, &st), PH_OK);
    size_t tested = 0, refused = 0;
    for (size_t i = 0; i < ph_vjson_len(vs); i++) {
        const ph_vjson *v = ph_vjson_at(vs, i);
        const char *hex = ph_vjson_str(ph_vjson_get(v, "hex"), NULL);
        bool zlib = false;
        assert_true(ph_vjson_bool(ph_vjson_get(v, "uses_zlib_encoding"), &zlib));
        uint8_t *msg;
        size_t len;
        assert_int_equal(ph_hex_decode(hex, strlen(hex), &msg, &len), PH_OK);
        struct sink k = { 0 };
        uint16_t type = ph_be16(msg);
        if (type == 261) {
            ph_err e = ph_gossip_answer_short_channel_ids(st, msg, len, collect, &k);
            if (zlib) {
                assert_int_equal(e, PH_ERR_GOSSIP_ENCODING);
                assert_int_equal(k.n, 0);
                refused++;
            } else {
                assert_int_equal(e, PH_OK);
                assert_int_equal(k.n, 1); /* nothing known: end marker only */
                assert_int_equal(ph_gossip_msg_type(k.m[0]), 262);
            }
            tested++;
        } else if (type == 263) {
            assert_int_equal(ph_gossip_answer_channel_range(st, msg, len, collect, &k), PH_OK);
            uint64_t none[1];
            assert_int_equal(check_range_answer(&k, cfg.chain_hash, ph_be32(msg + 34), ph_be32(msg + 38),
                                                none, 1),
                             0);
            tested++;
        }
        sink_free(&k);
        free(msg);
    }
    assert_int_equal(tested, 6);
    assert_int_equal(refused, 3);
    ph_gossip_store_destroy(st);
    ph_vjson_free(root);
}

/* The query builders write the views' encoders' bytes: checked against the
 * BOLT 7 layouts laid out by hand. A buffer one byte short is PH_ERR_LIMIT,
 * more scids than 65,535 bytes hold PH_ERR_WIRE_TOO_LONG. */
static void test_query_builders_match_hand_layout(void **state)
{
    (void)state;
    const uint8_t *chain = mainnet_chain();
    uint8_t got[128], want[128];
    size_t len;

    /* gossip_timestamp_filter / query_channel_range: type, chain, u32, u32 */
    const uint16_t types[2] = { 265, 263 };
    for (int t = 0; t < 2; t++) {
        ph_err e = t == 0 ? ph_gossip_build_timestamp_filter(chain, 0x01020304, 0xa0b0c0d0, got,
                                                             sizeof got, &len)
                          : ph_gossip_build_query_channel_range(chain, 0x01020304, 0xa0b0c0d0, got,
                                                                sizeof got, &len);
        assert_int_equal(e, PH_OK);
        assert_int_equal(len, 42);
        memset(want, 0, sizeof want);
        ph_put_be16(want, types[t]);
        memcpy(want + 2, chain, 32);
        ph_put_be32(want + 34, 0x01020304);
        ph_put_be32(want + 38, 0xa0b0c0d0);
        assert_memory_equal(got, want, 42);
    }
    assert_int_equal(ph_gossip_build_query_channel_range(chain, 1, 2, got, 41, &len), PH_ERR_LIMIT);
    assert_int_equal(ph_gossip_build_query_channel_range(NULL, 1, 2, got, 42, &len), PH_ERR_ARG);

    /* query_short_channel_ids: type, chain, len, encoding 0, scids */
    const uint64_t scids[3] = { ph_wire_scid_make(700000, 1, 2), ph_wire_scid_make(1, 0, 0),
                                0xffffffffffffffffull };
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, scids, 3, got, sizeof got, &len),
                     PH_OK);
    assert_int_equal(len, 2 + 32 + 2 + 1 + 24);
    memset(want, 0, sizeof want);
    ph_put_be16(want, 261);
    memcpy(want + 2, chain, 32);
    ph_put_be16(want + 34, 25);
    want[36] = 0;
    for (int i = 0; i < 3; i++)
        ph_put_be64(want + 37 + 8 * i, scids[i]);
    assert_memory_equal(got, want, len);
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, scids, 3, got, len - 1, &len),
                     PH_ERR_LIMIT);
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, NULL, 0, got, sizeof got, &len),
                     PH_OK);
    assert_int_equal(len, 37);
    assert_int_equal(got[36], 0);
    /* 8,187 scids: 65,533 bytes, fits; 8,188: 65,541, does not */
    uint64_t *many = calloc(8188, sizeof *many);
    uint8_t *big = malloc(65535);
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, many, 8187, big, 65535, &len),
                     PH_OK);
    assert_int_equal(len, 37 + 8 * 8187);
    assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, many, 8188, big, 65535, &len),
                     PH_ERR_WIRE_TOO_LONG);
    free(many);
    free(big);
}

/* Answering a query_short_channel_ids parses it through its view: the
 * answer for another chain (no plan) allocates the answer itself and
 * nothing else, whatever the query's size (the wire codec's decoded
 * message used to come on top). */
static void test_scid_query_allocates_no_message(void **state)
{
    (void)state;
    ph_memstat *ms = ph_test_require_jemalloc();
    if (!ms)
        return;
    ph_memstat_probe *pr = ph_memstat_probe_of(ms);
    ph_gossip_store *st = new_store(1, 1);
    uint8_t other[32];
    assert_int_equal(ph_gossip_chain_hash("signet", other), PH_OK);
    uint64_t scids[16];
    for (int i = 0; i < 16; i++)
        scids[i] = ph_wire_scid_make(800000 + (uint32_t)i, 0, 0);
    uint8_t query[256];
    size_t qlen;
    assert_int_equal(ph_gossip_build_query_short_channel_ids(other, scids, 16, query, sizeof query, &qlen),
                     PH_OK);
    /* with an odd TLV record the view keeps and we ignore */
    const uint8_t odd[] = { 5, 2, 0xaa, 0xbb };
    memcpy(query + qlen, odd, sizeof odd);
    qlen += sizeof odd;
    ph_gossip_scid_answer *a = NULL;
    uint64_t before = *pr->allocated;
    assert_int_equal(ph_gossip_scid_answer_create(st, query, qlen, &a), PH_OK);
    uint64_t used = *pr->allocated - before;
    assert_int_equal(used, ph_memstat_size_class(ph_gossip_scid_answer_heap_bytes(a)));
    struct sink k = { 0 };
    bool done = false;
    assert_int_equal(ph_gossip_scid_answer_next(a, collect, &k, &done), PH_OK);
    assert_true(done);
    assert_int_equal(k.n, 1);
    uint8_t want[35];
    ph_put_be16(want, 262);
    memcpy(want + 2, other, 32);
    want[34] = 0;
    assert_msg(k.m[0], want, sizeof want);
    sink_free(&k);
    ph_gossip_scid_answer_destroy(a);
    /* truncated anywhere: refused with an error, nothing planned */
    for (size_t l = 0; l < qlen - sizeof odd; l++) {
        a = NULL;
        ph_err e = ph_gossip_scid_answer_create(st, query, l, &a);
        assert_true(e == PH_ERR_WIRE_SHORT || e == PH_ERR_WIRE_FIELD);
        assert_null(a);
    }
    ph_gossip_store_destroy(st);
    ph_memstat_destroy(ms);
}

static void test_timestamp_filter_and_chains(void **state)
{
    (void)state;
    ph_gossip_store *st = new_store(1, 1);
    uint8_t msg[64];
    size_t len;
    assert_int_equal(ph_gossip_build_timestamp_filter(mainnet_chain(), 1700000000u, 3600, msg,
                                                      sizeof(msg), &len),
                     PH_OK);
    assert_int_equal(len, 42);
    uint32_t first = 0, range = 0;
    assert_int_equal(ph_gossip_parse_timestamp_filter(st, msg, len, &first, &range), PH_OK);
    assert_int_equal(first, 1700000000u);
    assert_int_equal(range, 3600);
    assert_int_equal(ph_gossip_parse_timestamp_filter(st, msg, 41, &first, &range), PH_ERR_WIRE_SHORT);
    msg[10] ^= 1;
    assert_int_equal(ph_gossip_parse_timestamp_filter(st, msg, len, &first, &range), PH_ERR_GOSSIP_CHAIN);
    assert_int_equal(ph_gossip_build_timestamp_filter(mainnet_chain(), 0, 0, msg, 41, &len), PH_ERR_LIMIT);
    uint8_t h[32];
    assert_int_equal(ph_gossip_chain_hash("regtest", h), PH_OK);
    assert_int_equal(h[0], 0x06);
    assert_int_equal(h[31], 0x0f);
    assert_int_equal(ph_gossip_chain_hash("litecoin", h), PH_ERR_ARG);
    assert_memory_equal(ph_gossip_store_chain(st), mainnet_chain(), 32);
    ph_gossip_store_destroy(st);
}

/* Mutated gossip and queries: never a crash, a hang or a leak (ASan). */
static uint32_t lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*x >> 33);
}

static void test_fuzz_mutations(void **state)
{
    (void)state;
    struct sample s;
    load_sample(&s);
    ph_gossip_store *st = new_store(50, 50);
    uint64_t seed = 42;
    uint8_t buf[2048];
    /* the announcements first, so that updates reach signature checks */
    for (size_t i = 0; i < s.n; i++)
        if (s.f[i].type == PH_WIRE_CHANNEL_ANNOUNCEMENT)
            add(st, s.msg[i], s.mlen[i], 1);
    for (int it = 0; it < 3000; it++) {
        size_t i = lcg(&seed) % s.n;
        size_t len = s.mlen[i] < sizeof(buf) ? s.mlen[i] : sizeof(buf);
        memcpy(buf, s.msg[i], len);
        int flips = (int)(lcg(&seed) % 4);
        for (int k = 0; k < flips; k++)
            buf[2 + lcg(&seed) % (len - 2)] ^= (uint8_t)(1u << (lcg(&seed) % 8));
        if (lcg(&seed) % 4 == 0)
            len = lcg(&seed) % (len + 1);
        ph_gossip_result r;
        assert_int_equal(ph_gossip_add(st, buf, len, 1 + it % 3, &r), PH_OK);
        assert_true(r.outcome < PH_GOSSIP__OUTCOMES);
    }
    static const uint16_t qtypes[] = { 261, 263 };
    struct sink k = { 0 };
    for (int it = 0; it < 3000; it++) {
        size_t len = 2 + lcg(&seed) % 120;
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)lcg(&seed);
        ph_put_be16(buf, qtypes[it % 2]);
        if (len >= 37 && it % 3 == 0) { /* mostly well-formed encoded_short_ids */
            memcpy(buf + 2, mainnet_chain(), 32);
            ph_put_be16(buf + 34, (uint16_t)(lcg(&seed) % (len - 35)));
            buf[36] = (uint8_t)(lcg(&seed) % 3 == 0);
        }
        /* Random queries: any answer is right, only a crash is not. */
        if (it % 2)
            ph_ignore_err(ph_gossip_answer_channel_range(st, buf, len, collect, &k));
        else
            ph_ignore_err(ph_gossip_answer_short_channel_ids(st, buf, len, collect, &k));
        sink_clear(&k);
    }
    sink_free(&k);
    ph_gossip_cursor *c;
    assert_int_equal(ph_gossip_cursor_create(st, 0, 0xFFFFFFFFu, 0, &c), PH_OK);
    drain(c, &k);
    ph_gossip_stats gs;
    ph_gossip_get_stats(st, &gs);
    assert_int_equal(k.n, gs.log_messages);
    sink_free(&k);
    ph_gossip_cursor_destroy(c);
    ph_gossip_store_destroy(st);
    free_sample(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preload_full_window),
        cmocka_unit_test(test_preload_windows),
        cmocka_unit_test(test_preload_recovery_audit),
        cmocka_unit_test(test_preload_errors),
        cmocka_unit_test(test_strict_sample),
        cmocka_unit_test(test_strict_pending_release_and_replace),
        cmocka_unit_test(test_strict_announcement_waits_for_update),
        cmocka_unit_test(test_strict_rejections),
        cmocka_unit_test(test_pending_bounds),
        cmocka_unit_test(test_relay_cursors),
        cmocka_unit_test(test_log_compaction),
        cmocka_unit_test(test_query_channel_range_sample),
        cmocka_unit_test(test_query_channel_range_split),
        cmocka_unit_test(test_query_short_channel_ids_sample),
        cmocka_unit_test(test_query_vectors),
        cmocka_unit_test(test_timestamp_filter_and_chains),
        cmocka_unit_test(test_query_builders_match_hand_layout),
        cmocka_unit_test(test_scid_query_allocates_no_message),
        cmocka_unit_test(test_fuzz_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
