#include "lngen.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* ---- deterministic randomness ---- */

uint64_t lngen_rng = 0x2545f4914f6cdd1dull;
uint32_t rnd(void)
{
    lngen_rng ^= lngen_rng << 13;
    lngen_rng ^= lngen_rng >> 7;
    lngen_rng ^= lngen_rng << 17;
    return (uint32_t)(lngen_rng >> 20);
}

/* ---- key log collection ---- */







static void key_cb(void *ctx, const uint8_t mac[16], const uint8_t key[32])
{
    struct keyctx *kc = ctx;
    assert_true(kc->k->n < 64);
    struct keyent *e = &kc->k->e[kc->k->n++];
    memcpy(e->mac, mac, 16);
    memcpy(e->key, key, 32);
    e->side = kc->side;
}

/* Key log text of the entries for which keep(i) holds; caller frees. */
char *keylog_text(const struct keys *k, int skip_side, int skip_nth, bool corrupt)
{
    char *t = calloc((size_t)k->n + 1, PH_KEYLOG_LINE_LEN + 1);
    assert_non_null(t);
    int nth[2] = {0, 0};
    size_t len = 0;
    for (int i = 0; i < k->n; i++) {
        const struct keyent *e = &k->e[i];
        int idx = nth[e->side]++;
        if (e->side == skip_side && idx == skip_nth)
            continue;
        uint8_t key[32];
        memcpy(key, e->key, 32);
        if (corrupt && e->side == skip_side && idx == 0)
            key[5] ^= 0x40;
        char line[PH_KEYLOG_LINE_LEN + 1];
        ph_keylog_format(line, e->mac, key);
        memcpy(t + len, line, PH_KEYLOG_LINE_LEN);
        len += PH_KEYLOG_LINE_LEN;
    }
    t[len] = '\0';
    return t;
}

ph_keylog *keylog_of(const char *text)
{
    ph_keylog *kl = NULL;
    unsigned long bad = 0;
    assert_int_equal(ph_keylog_parse(&kl, text, strlen(text), &bad), PH_OK);
    return kl;
}

/* ---- session generator ---- */





/* One clock for every generated packet, so that captures holding several
 * sessions stay in time order. */
uint64_t lngen_clock = 1700000000000000000ull;



static const uint8_t PRIV_I[32] = {[0 ... 31] = 0x11};
static const uint8_t PRIV_R[32] = {[0 ... 31] = 0x21};
static const uint8_t EPH_I[32] = {[0 ... 31] = 0x12};
static const uint8_t EPH_R[32] = {[0 ... 31] = 0x22};

void expect_add(struct expect *e, int dir, const uint8_t *p, size_t len)
{
    if (!e)
        return;
    if (e->n[dir] == e->cap[dir]) {
        e->cap[dir] = e->cap[dir] ? e->cap[dir] * 2 : 256;
        e->m[dir] = realloc(e->m[dir], e->cap[dir] * sizeof *e->m[dir]);
        assert_non_null(e->m[dir]);
    }
    struct msg *m = &e->m[dir][e->n[dir]++];
    m->p = malloc(len ? len : 1);
    assert_non_null(m->p);
    memcpy(m->p, p, len);
    m->len = len;
}

void expect_free(struct expect *e)
{
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < e->n[d]; i++)
            free(e->m[d][i].p);
        free(e->m[d]);
    }
    memset(e, 0, sizeof *e);
}

static void put_chunk_raw(struct gen *g, int dir, const uint8_t *p, size_t len);

/* Write `len` stream bytes of direction `dir` as TCP segments: bytes
 * before skip_before[dir] are not captured, corrupt_at gets a flipped bit. */
void put_chunk(struct gen *g, int dir, const uint8_t *p, size_t len)
{
    /* the clock moves (and the random stream with it) whatever is captured,
     * so that a damaged capture carries the same messages as a clean one */
    lngen_clock += 1000 + rnd() % 5000;
    uint64_t off = g->off[dir];
    if (off < g->skip_before[dir]) {
        size_t n = g->skip_before[dir] - off < len ? (size_t)(g->skip_before[dir] - off) : len;
        ph_pcapw_set_next_seq(g->c, dir, ph_pcapw_next_seq(g->c, dir) + (uint32_t)n);
        if (!g->midstream) /* the receiver had them */
            assert_int_equal(ph_pcapw_segment(g->c, !dir, ph_pcapw_next_seq(g->c, !dir),
                                              PH_TCP_ACK, NULL, 0, lngen_clock), PH_OK);
        g->off[dir] += n;
        p += n;
        len -= n;
        if (!len)
            return;
    }
    if (g->corrupt_dir == dir && g->off[dir] <= g->corrupt_at &&
        g->corrupt_at < g->off[dir] + len) {
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, p, len);
        copy[g->corrupt_at - g->off[dir]] ^= 0x20;
        put_chunk_raw(g, dir, copy, len);
        free(copy);
        return;
    }
    put_chunk_raw(g, dir, p, len);
}

static void put_chunk_raw(struct gen *g, int dir, const uint8_t *p, size_t len)
{
    if (g->drop_dir == dir && !g->dropped && g->off[dir] <= g->drop_at &&
        g->drop_at < g->off[dir] + len) {
        size_t a = (size_t)(g->drop_at - g->off[dir]);
        size_t b = a + g->drop_len < len ? a + g->drop_len : len;
        assert_int_equal(ph_pcapw_data(g->c, dir, p, a, lngen_clock), PH_OK);
        ph_pcapw_set_next_seq(g->c, dir, ph_pcapw_next_seq(g->c, dir) + (uint32_t)(b - a));
        g->dropped = true;
        if (b < len)
            assert_int_equal(ph_pcapw_data(g->c, dir, p + b, len - b, lngen_clock), PH_OK);
        else
            assert_int_equal(ph_pcapw_segment(g->c, !dir, ph_pcapw_next_seq(g->c, !dir),
                                              PH_TCP_ACK, NULL, 0, lngen_clock), PH_OK);
        g->off[dir] += len;
        return;
    }
    if (g->reorder && len >= 3 && len <= 3 * 60000 && rnd() % 3 == 0) {
        uint32_t s0 = ph_pcapw_next_seq(g->c, dir);
        size_t a = len / 3, b = 2 * len / 3;
        assert_int_equal(ph_pcapw_segment(g->c, dir, s0 + (uint32_t)b, PH_TCP_ACK, p + b, len - b, lngen_clock), PH_OK);
        assert_int_equal(ph_pcapw_segment(g->c, dir, s0, PH_TCP_ACK, p, a, lngen_clock), PH_OK);
        if (rnd() % 2)
            assert_int_equal(ph_pcapw_segment(g->c, dir, s0, PH_TCP_ACK, p, a, lngen_clock), PH_OK);
        assert_int_equal(ph_pcapw_segment(g->c, dir, s0 + (uint32_t)a, PH_TCP_ACK, p + a, b - a, lngen_clock), PH_OK);
        ph_pcapw_set_next_seq(g->c, dir, s0 + (uint32_t)len);
        assert_int_equal(ph_pcapw_segment(g->c, !dir, ph_pcapw_next_seq(g->c, !dir), PH_TCP_ACK,
                                          NULL, 0, lngen_clock), PH_OK);
    } else {
        assert_int_equal(ph_pcapw_data(g->c, dir, p, len, lngen_clock), PH_OK);
    }
    g->off[dir] += len;
}

void flush_dir(struct gen *g, int dir, size_t upto)
{
    if (!upto)
        return;
    put_chunk(g, dir, g->pend[dir], upto);
    memmove(g->pend[dir], g->pend[dir] + upto, g->plen[dir] - upto);
    g->plen[dir] -= upto;
}

void append(struct gen *g, int dir, const uint8_t *p, size_t len)
{
    if (g->plen[dir] + len > g->pcap[dir]) {
        g->pcap[dir] = (g->plen[dir] + len) * 2;
        g->pend[dir] = realloc(g->pend[dir], g->pcap[dir]);
        assert_non_null(g->pend[dir]);
    }
    memcpy(g->pend[dir] + g->plen[dir], p, len);
    g->plen[dir] += len;
}

/* Encrypt and queue one message; records of either direction stay in
 * generation order because the other direction is flushed first. */
void send_msg(struct gen *g, int dir, const uint8_t *m, size_t len)
{
    flush_dir(g, !dir, g->plen[!dir]);
    uint8_t *frame = malloc(len + PH_NOISE_OVERHEAD);
    assert_non_null(frame);
    assert_int_equal(ph_noise_encrypt(g->n[dir], m, len, frame), PH_OK);
    append(g, dir, frame, len + PH_NOISE_OVERHEAD);
    free(frame);
    expect_add(g->exp, dir, m, len);
    if (!g->coalesce)
        flush_dir(g, dir, g->plen[dir]);
    else if (rnd() % 4 == 0)
        flush_dir(g, dir, rnd() % (g->plen[dir] + 1));
}


void gen_open(struct gen *g, ph_pcapw *w, const char *client, const char *server,
                     struct expect *exp)
{
    gen_open_opts(g, w, client, server, exp, NULL);
}

/* The same with the capture's damage set before the first byte. */
void gen_open_opts(struct gen *g, ph_pcapw *w, const char *client, const char *server,
                          struct expect *exp, const struct gen *damage)
{
    memset(g, 0, sizeof *g);
    g->w = w;
    g->exp = exp;
    g->drop_dir = -1;
    g->corrupt_dir = -1;
    if (damage) {
        g->skip_before[0] = damage->skip_before[0];
        g->skip_before[1] = damage->skip_before[1];
        g->midstream = damage->midstream;
        g->corrupt_dir = damage->corrupt_dir;
        g->corrupt_at = damage->corrupt_at;
    }
    struct ph_endpoint cl, sv;
    assert_int_equal(ph_endpoint_parse(client, &cl), PH_OK);
    assert_int_equal(ph_endpoint_parse(server, &sv), PH_OK);
    struct ph_pcapw_conn_opts co = {.no_handshake = g->midstream};
    assert_int_equal(ph_pcapw_conn_open(w, &cl, &sv, lngen_clock, &co, &g->c), PH_OK);

    uint8_t pub_r[33], a1[50], a2[50], a3[66];
    ph_noise_hs *hi, *hr;
    assert_int_equal(ph_noise_pubkey(PRIV_R, pub_r), PH_OK);
    assert_int_equal(ph_noise_hs_create(&hi, PRIV_I, pub_r, EPH_I), PH_OK);
    assert_int_equal(ph_noise_hs_create(&hr, PRIV_R, NULL, EPH_R), PH_OK);
    assert_int_equal(ph_noise_act1_write(hi, a1), PH_OK);
    assert_int_equal(ph_noise_act1_read(hr, a1, 50), PH_OK);
    assert_int_equal(ph_noise_act2_write(hr, a2), PH_OK);
    assert_int_equal(ph_noise_act2_read(hi, a2, 50), PH_OK);
    assert_int_equal(ph_noise_act3_write(hi, a3), PH_OK);
    assert_int_equal(ph_noise_act3_read(hr, a3, 66), PH_OK);
    assert_int_equal(ph_noise_hs_finish(hi, &g->n[0]), PH_OK);
    assert_int_equal(ph_noise_hs_finish(hr, &g->n[1]), PH_OK);
    ph_noise_hs_destroy(hi);
    ph_noise_hs_destroy(hr);
    for (int s = 0; s < 2; s++) {
        g->kc[s].k = &g->keys;
        g->kc[s].side = s;
        ph_noise_set_key_cb(g->n[s], key_cb, &g->kc[s]);
    }
    put_chunk(g, 0, a1, 50);
    put_chunk(g, 1, a2, 50);
    append(g, 0, a3, 66); /* act 3 often shares a segment with init */
}

void gen_close(struct gen *g, bool fin)
{
    flush_dir(g, 0, g->plen[0]);
    flush_dir(g, 1, g->plen[1]);
    lngen_clock += 1000;
    if (fin)
        assert_int_equal(ph_pcapw_conn_close(g->c, 0, lngen_clock), PH_OK);
    for (int s = 0; s < 2; s++) {
        ph_noise_destroy(g->n[s]);
        free(g->pend[s]);
    }
}

/* Messages: init, then pings/pongs/gossip-like and unknown odd types, a few
 * of the largest size. */
size_t make_msg(int dir, size_t i, uint8_t *m)
{
    if (i == 0) { /* init, no features */
        m[0] = 0; m[1] = 16;
        memset(m + 2, 0, 4);
        return 6;
    }
    uint32_t r = rnd() % 100;
    if (r < 2 || (dir == 1 && i == 700)) { /* pong of the largest size */
        m[0] = 0; m[1] = 19;
        size_t n = PH_NOISE_MAX_MSG - 4;
        m[2] = (uint8_t)(n >> 8); m[3] = (uint8_t)n;
        memset(m + 4, 0, n);
        return PH_NOISE_MAX_MSG;
    }
    if (r < 40) { /* ping */
        m[0] = 0; m[1] = 18;
        m[2] = 0; m[3] = (uint8_t)(rnd() % 8);
        size_t n = rnd() % 40;
        m[4] = 0; m[5] = (uint8_t)n;
        memset(m + 6, 0, n);
        return 6 + n;
    }
    if (r < 70) { /* gossip_timestamp_filter */
        m[0] = 1; m[1] = 9;
        for (int k = 0; k < 40; k++)
            m[2 + k] = (uint8_t)rnd();
        return 42;
    }
    m[0] = 0x80; m[1] = 0x01; /* unknown odd type 32769, random payload */
    size_t n = rnd() % 3000;
    for (size_t k = 0; k < n; k++)
        m[2 + k] = (uint8_t)rnd();
    return 2 + n;
}

void gen_traffic(struct gen *g, size_t n0, size_t n1)
{
    static uint8_t m[PH_NOISE_MAX_MSG];
    size_t i[2] = {0, 0}, n[2] = {n0, n1};
    while (i[0] < n[0] || i[1] < n[1]) {
        int dir = i[0] >= n[0] ? 1 : i[1] >= n[1] ? 0 : (int)(rnd() % 2);
        if (i[dir] == 0 && dir == 1 && i[0] == 0)
            dir = 0; /* the initiator's init goes first */
        size_t len = make_msg(dir, i[dir], m);
        send_msg(g, dir, m, len);
        i[dir]++;
    }
}

/* One session with the given behaviour written to `path`. */
void make_capture(const char *path, struct gen *g, struct expect *exp, size_t n0,
                         size_t n1, bool reorder, bool coalesce, size_t mss, int drop_dir,
                         uint64_t drop_at, bool fin)
{
    ph_pcapw *w;
    struct ph_pcapw_opts o = {.mss = mss};
    assert_int_equal(ph_pcapw_open(&w, path, &o), PH_OK);
    gen_open(g, w, "127.0.0.1:40312", "127.0.0.1:9735", exp);
    g->reorder = reorder;
    g->coalesce = coalesce;
    g->drop_dir = drop_dir;
    g->drop_at = drop_at;
    g->drop_len = 100;
    gen_traffic(g, n0, n1);
    gen_close(g, fin);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
}

/* One session of n0 / n1 messages with `damage` applied (NULL: none). The
 * random stream is saved by the caller to make the same session twice. */
void make_damaged(const char *path, struct gen *g, struct expect *exp, size_t n0,
                         size_t n1, const struct gen *damage)
{
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, path, NULL), PH_OK);
    gen_open_opts(g, w, "127.0.0.1:40312", "127.0.0.1:9735", exp, damage);
    gen_traffic(g, n0, n1);
    gen_close(g, true);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
}

/* Stream offset of message i of direction dir (frames follow the acts). */
uint64_t msg_offset(const struct expect *e, int dir, size_t i)
{
    uint64_t off = dir == 0 ? 116 : 50;
    for (size_t k = 0; k < i; k++)
        off += e->m[dir][k].len + PH_NOISE_OVERHEAD;
    return off;
}


void gen_traffic_small(struct gen *g, size_t n0, size_t n1)
{
    uint8_t m[64];
    size_t i[2] = {0, 0}, n[2] = {n0, n1};
    while (i[0] < n[0] || i[1] < n[1]) {
        int dir = i[0] >= n[0] ? 1 : i[1] >= n[1] ? 0 : (int)(rnd() % 2);
        if (i[dir] == 0 && dir == 1 && i[0] == 0)
            dir = 0;
        size_t len;
        if (i[dir] == 0) {
            m[0] = 0; m[1] = 16;
            memset(m + 2, 0, 4);
            len = 6;
        } else {
            size_t k = rnd() % 40;
            m[0] = 0; m[1] = 18;
            m[2] = 0; m[3] = (uint8_t)(rnd() % 8);
            m[4] = 0; m[5] = (uint8_t)k;
            for (size_t b = 0; b < k; b++)
                m[6 + b] = (uint8_t)rnd();
            len = 6 + k;
        }
        send_msg(g, dir, m, len);
        i[dir]++;
    }
}
