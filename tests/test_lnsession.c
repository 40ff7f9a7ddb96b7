/* Lightning sessions in captures: real BOLT 8 sessions made in-process with
 * ph_noise, written with pcapwrite (segments split, coalesced, reordered,
 * duplicated, lost), read back and decrypted with a key log.
 *
 * `test_lnsession --write-fixtures DIR` writes the captures that
 * tests/e2e/dump.sh runs `peerheap dump` on (see write_fixtures()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "keylog.h"
#include "lnsession.h"
#include "noise.h"
#include "pcapwrite.h"

/* ---- deterministic randomness ---- */

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}

/* ---- key log collection ---- */

struct keyent {
    uint8_t mac[16], key[32];
    int side; /* 0 initiator's send keys, 1 responder's */
};

struct keys {
    struct keyent e[64];
    int n;
};

struct keyctx {
    struct keys *k;
    int side;
};

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
static char *keylog_text(const struct keys *k, int skip_side, int skip_nth, bool corrupt)
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

static ph_keylog *keylog_of(const char *text)
{
    ph_keylog *kl = NULL;
    unsigned long bad = 0;
    assert_int_equal(ph_keylog_parse(&kl, text, strlen(text), &bad), PH_OK);
    return kl;
}

/* ---- session generator ---- */

struct msg {
    uint8_t *p;
    size_t len;
};

struct expect {
    struct msg *m[2];
    size_t n[2], cap[2];
};

/* One clock for every generated packet, so that captures holding several
 * sessions stay in time order. */
static uint64_t gclock = 1700000000000000000ull;

struct gen {
    ph_pcapw *w;
    ph_pcapw_conn *c;
    ph_noise *n[2];          /* [0] initiator's transport, [1] responder's */
    struct keys keys;
    struct keyctx kc[2];
    uint8_t *pend[2];        /* encrypted bytes not yet written, per direction */
    size_t plen[2], pcap[2];
    uint64_t off[2];         /* stream bytes written per direction */
    struct expect *exp;
    /* behaviour */
    bool reorder;            /* split chunks into out-of-order segments, dups */
    bool coalesce;           /* hold frames and flush at random boundaries */
    int drop_dir;            /* lose bytes of this direction (-1: none) */
    uint64_t drop_at;        /* at this stream offset */
    size_t drop_len;
    bool dropped;
};

static const uint8_t PRIV_I[32] = {[0 ... 31] = 0x11};
static const uint8_t PRIV_R[32] = {[0 ... 31] = 0x21};
static const uint8_t EPH_I[32] = {[0 ... 31] = 0x12};
static const uint8_t EPH_R[32] = {[0 ... 31] = 0x22};

static void expect_add(struct expect *e, int dir, const uint8_t *p, size_t len)
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

static void expect_free(struct expect *e)
{
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; i < e->n[d]; i++)
            free(e->m[d][i].p);
        free(e->m[d]);
    }
    memset(e, 0, sizeof *e);
}

/* Write `len` stream bytes of direction `dir` as TCP segments. */
static void put_chunk(struct gen *g, int dir, const uint8_t *p, size_t len)
{
    gclock += 1000 + rnd() % 5000;
    if (g->drop_dir == dir && !g->dropped && g->off[dir] <= g->drop_at &&
        g->drop_at < g->off[dir] + len) {
        size_t a = (size_t)(g->drop_at - g->off[dir]);
        size_t b = a + g->drop_len < len ? a + g->drop_len : len;
        assert_int_equal(ph_pcapw_data(g->c, dir, p, a, gclock), PH_OK);
        ph_pcapw_set_next_seq(g->c, dir, ph_pcapw_next_seq(g->c, dir) + (uint32_t)(b - a));
        g->dropped = true;
        if (b < len)
            assert_int_equal(ph_pcapw_data(g->c, dir, p + b, len - b, gclock), PH_OK);
        else
            assert_int_equal(ph_pcapw_segment(g->c, !dir, ph_pcapw_next_seq(g->c, !dir),
                                              PH_TCP_ACK, NULL, 0, gclock), PH_OK);
        g->off[dir] += len;
        return;
    }
    if (g->reorder && len >= 3 && len <= 3 * 60000 && rnd() % 3 == 0) {
        uint32_t s0 = ph_pcapw_next_seq(g->c, dir);
        size_t a = len / 3, b = 2 * len / 3;
        assert_int_equal(ph_pcapw_segment(g->c, dir, s0 + (uint32_t)b, PH_TCP_ACK, p + b, len - b, gclock), PH_OK);
        assert_int_equal(ph_pcapw_segment(g->c, dir, s0, PH_TCP_ACK, p, a, gclock), PH_OK);
        if (rnd() % 2)
            assert_int_equal(ph_pcapw_segment(g->c, dir, s0, PH_TCP_ACK, p, a, gclock), PH_OK);
        assert_int_equal(ph_pcapw_segment(g->c, dir, s0 + (uint32_t)a, PH_TCP_ACK, p + a, b - a, gclock), PH_OK);
        ph_pcapw_set_next_seq(g->c, dir, s0 + (uint32_t)len);
        assert_int_equal(ph_pcapw_segment(g->c, !dir, ph_pcapw_next_seq(g->c, !dir), PH_TCP_ACK,
                                          NULL, 0, gclock), PH_OK);
    } else {
        assert_int_equal(ph_pcapw_data(g->c, dir, p, len, gclock), PH_OK);
    }
    g->off[dir] += len;
}

static void flush_dir(struct gen *g, int dir, size_t upto)
{
    if (!upto)
        return;
    put_chunk(g, dir, g->pend[dir], upto);
    memmove(g->pend[dir], g->pend[dir] + upto, g->plen[dir] - upto);
    g->plen[dir] -= upto;
}

static void append(struct gen *g, int dir, const uint8_t *p, size_t len)
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
static void send_msg(struct gen *g, int dir, const uint8_t *m, size_t len)
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

static void gen_open(struct gen *g, ph_pcapw *w, const char *client, const char *server,
                     struct expect *exp)
{
    memset(g, 0, sizeof *g);
    g->w = w;
    g->exp = exp;
    g->drop_dir = -1;
        struct ph_endpoint cl, sv;
    assert_int_equal(ph_endpoint_parse(client, &cl), PH_OK);
    assert_int_equal(ph_endpoint_parse(server, &sv), PH_OK);
    assert_int_equal(ph_pcapw_conn_open(w, &cl, &sv, gclock, NULL, &g->c), PH_OK);

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

static void gen_close(struct gen *g, bool fin)
{
    flush_dir(g, 0, g->plen[0]);
    flush_dir(g, 1, g->plen[1]);
    gclock += 1000;
    if (fin)
        assert_int_equal(ph_pcapw_conn_close(g->c, 0, gclock), PH_OK);
    for (int s = 0; s < 2; s++) {
        ph_noise_destroy(g->n[s]);
        free(g->pend[s]);
    }
}

/* Messages: init, then pings/pongs/gossip-like and unknown odd types, a few
 * of the largest size. */
static size_t make_msg(int dir, size_t i, uint8_t *m)
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

/* n0 messages initiator -> responder, n1 back, interleaved at random. */
static void gen_traffic(struct gen *g, size_t n0, size_t n1)
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

/* ---- decoding ---- */

struct check {
    struct expect *exp;
    size_t got[2];
    uint64_t last_ts;
    uint64_t session;
    bool multi;               /* several sessions: per-session checks off */
    int src_port[2];
};

static void check_cb(void *ctx, const struct ph_ln_record *r)
{
    struct check *c = ctx;
    assert_true(r->ts_ns >= c->last_ts);
    c->last_ts = r->ts_ns;
    if (c->session)
        assert_int_equal(r->session, c->session);
    int d = r->dir;
    assert_true(d == 0 || d == 1);
    if (!c->multi)
        assert_int_equal(r->index, c->got[d]);
    if (c->src_port[d])
        assert_int_equal(r->src->port, c->src_port[d]);
    if (c->exp) {
        assert_true(c->got[d] < c->exp->n[d]);
        const struct msg *m = &c->exp->m[d][c->got[d]];
        assert_int_equal(r->len, m->len);
        assert_memory_equal(r->msg, m->p, m->len);
    }
    c->got[d]++;
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char path[2][160];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static ph_lnsessions *decode(const char *path, const ph_keylog *kl, struct check *chk,
                             ph_err *run_err)
{
    ph_capture *c = NULL;
    assert_int_equal(ph_capture_open(&c, path, NULL, NULL), PH_OK);
    ph_lnsessions *s = NULL;
    assert_int_equal(ph_lnsession_create(&s, kl, NULL, check_cb, chk), PH_OK);
    ph_err e = ph_lnsession_run(s, c);
    if (run_err)
        *run_err = e;
    else
        assert_int_equal(e, PH_OK);
    ph_capture_close(c);
    return s;
}

static bool has_problem(const ph_lnsessions *s, enum ph_ln_problem_kind kind, const char *text)
{
    for (size_t i = 0; i < ph_lnsession_problem_count(s); i++) {
        const struct ph_ln_problem *p = ph_lnsession_problem(s, i);
        if (p->kind == kind && (!text || strstr(p->text, text)))
            return true;
    }
    return false;
}

static void print_problems(const ph_lnsessions *s)
{
    for (size_t i = 0; i < ph_lnsession_problem_count(s); i++)
        fprintf(stderr, "  problem: %s\n", ph_lnsession_problem(s, i)->text);
}

/* One session with the given behaviour written to `path`. */
static void make_capture(const char *path, struct gen *g, struct expect *exp, size_t n0,
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

/* ---- tests ---- */

static void test_full_session_with_rotations(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    const char *path = tmp_path("full.pcap");
    make_capture(path, &g, &exp, 700, 1300, true, true, 1400, -1, 0, true);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    assert_int_equal(ph_keylog_count(kl), 5); /* 2 + 3 keys */
    struct check chk = {.exp = &exp, .session = 1, .src_port = {40312, 9735}};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(ph_lnsession_problem_count(s), 0);
    assert_int_equal(chk.got[0], 700);
    assert_int_equal(chk.got[1], 1300);
    assert_int_equal(ph_lnsession_count(s), 1);
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_int_equal(st->id, 1);
    assert_int_equal(st->messages[0], 700);
    assert_int_equal(st->messages[1], 1300);
    assert_int_equal(st->keys[0], 2);
    assert_int_equal(st->keys[1], 3);
    assert_true(st->complete[0] && st->complete[1]);
    assert_true(st->closed);
    assert_int_equal(st->initiator.port, 40312);
    assert_int_equal(st->stream_bytes[0], g.off[0]);
    assert_int_equal(st->stream_bytes[1], g.off[1]);
    assert_int_equal(ph_lnsession_messages(s), 2000);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

static void test_loopback_sized_segments(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    const char *path = tmp_path("big.pcap");
    make_capture(path, &g, &exp, 50, 520, false, true, PH_PCAPW_MAX_MSS, -1, 0, true);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(ph_lnsession_problem_count(s), 0);
    assert_int_equal(chk.got[1], 520);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

static void test_missing_first_key(void **state)
{
    (void)state;
    struct gen g;
    const char *path = tmp_path("nokey.pcap");
    make_capture(path, &g, NULL, 30, 40, false, false, 1400, -1, 0, true);
    char *text = keylog_text(&g.keys, 1, 0, false);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {0};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    assert_int_equal(chk.got[0], 30);
    assert_int_equal(chk.got[1], 0);
    assert_true(has_problem(s, PH_LN_PROB_NO_KEY,
                            "session 1: no key for 127.0.0.1:9735 -> 127.0.0.1:40312"));
    assert_int_equal(ph_lnsession_problem_count(s), 1);
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_true(st->complete[0]);
    assert_false(st->complete[1]);
    assert_int_equal(st->problems, 1);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    /* No key log at all: both directions reported. */
    memset(&chk, 0, sizeof chk);
    s = decode(path, NULL, &chk, NULL);
    assert_int_equal(chk.got[0] + chk.got[1], 0);
    assert_true(has_problem(s, PH_LN_PROB_NO_KEY, "no key for 127.0.0.1:40312 -> 127.0.0.1:9735"));
    assert_true(has_problem(s, PH_LN_PROB_NO_KEY, "no key for 127.0.0.1:9735 -> 127.0.0.1:40312"));
    ph_lnsession_destroy(s);
    free(text);
}

static void test_missing_rotation_key(void **state)
{
    (void)state;
    struct gen g;
    const char *path = tmp_path("norot.pcap");
    make_capture(path, &g, NULL, 20, 1100, true, true, 1000, -1, 0, true);
    char *text = keylog_text(&g.keys, 1, 1, false); /* responder's 2nd key */
    ph_keylog *kl = keylog_of(text);
    struct check chk = {0};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    assert_int_equal(chk.got[0], 20);
    assert_int_equal(chk.got[1], 500);
    assert_true(has_problem(s, PH_LN_PROB_NO_NEXT_KEY,
                            "no key for 127.0.0.1:9735 -> 127.0.0.1:40312 after rotation 1 "
                            "(message 500"));
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
}

static void test_wrong_key(void **state)
{
    (void)state;
    struct gen g;
    const char *path = tmp_path("wrongkey.pcap");
    make_capture(path, &g, NULL, 20, 30, false, false, 1400, -1, 0, true);
    char *text = keylog_text(&g.keys, 0, -1, true); /* initiator's key corrupted */
    ph_keylog *kl = keylog_of(text);
    struct check chk = {0};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    assert_int_equal(chk.got[0], 0);
    assert_int_equal(chk.got[1], 30);
    assert_true(has_problem(s, PH_LN_PROB_BAD_MAC,
                            "bad MAC in 127.0.0.1:40312 -> 127.0.0.1:9735 at stream offset 116 "
                            "(message 0, key 1): the key log's key for this frame is wrong"));
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    /* Keys of another session entirely. */
    struct gen g2;
    make_capture(tmp_path("other.pcap"), &g2, NULL, 3, 3, false, false, 1400, -1, 0, true);
    /* same static and ephemeral keys give the same session keys: change
     * the MACs to simulate a foreign key log */
    for (int i = 0; i < g2.keys.n; i++)
        g2.keys.e[i].mac[0] ^= 0xff;
    text = keylog_text(&g2.keys, -1, -1, false);
    kl = keylog_of(text);
    memset(&chk, 0, sizeof chk);
    s = decode(path, kl, &chk, NULL);
    assert_int_equal(chk.got[0] + chk.got[1], 0);
    assert_int_equal(ph_lnsession_problem_count(s), 2);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
}

static void test_gap(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    const char *path = tmp_path("gap.pcap");
    make_capture(path, &g, &exp, 40, 300, false, true, 1400, 1, 20000, true);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    assert_int_equal(chk.got[0], 40);
    assert_true(chk.got[1] > 0 && chk.got[1] < 300);
    assert_true(has_problem(s, PH_LN_PROB_GAP,
                            "gap in 127.0.0.1:9735 -> 127.0.0.1:40312 at stream offset 20000, "
                            "100 bytes missing"));
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_false(st->complete[1]);
    assert_true(st->complete[0]);
    /* every message entirely before the gap was decoded */
    uint64_t off = 50;
    size_t before = 0;
    while (before < exp.n[1] && off + exp.m[1][before].len + PH_NOISE_OVERHEAD <= 20000)
        off += exp.m[1][before++].len + PH_NOISE_OVERHEAD;
    assert_int_equal(chk.got[1], before);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

static void test_trailing_and_truncated_file(void **state)
{
    (void)state;
    struct gen g;
    const char *path = tmp_path("trail.pcap");
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, path, NULL), PH_OK);
    gen_open(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", NULL);
    gen_traffic(&g, 5, 5);
    flush_dir(&g, 0, g.plen[0]);
    flush_dir(&g, 1, g.plen[1]);
    /* half a frame, then the capture stops */
    uint8_t m[100] = {0, 18, 0, 1, 0, 90}, frame[200];
    assert_int_equal(ph_noise_encrypt(g.n[1], m, 96, frame), PH_OK);
    put_chunk(&g, 1, frame, 60);
    gen_close(&g, false);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {0};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    assert_int_equal(chk.got[1], 5);
    assert_true(has_problem(s, PH_LN_PROB_TRAILING, "60 trailing bytes in 127.0.0.1:9735"));
    assert_false(ph_lnsession_stats(s, 0)->closed);
    ph_lnsession_destroy(s);

    /* The same file cut short: an error with the record number, data kept. */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 30), 0);
    memset(&chk, 0, sizeof chk);
    ph_err e;
    s = decode(path, kl, &chk, &e);
    assert_int_equal(e, PH_ERR_CAPTURE_TRUNCATED);
    assert_int_equal(chk.got[1], 5);
    assert_true(has_problem(s, PH_LN_PROB_CAPTURE, "capture truncated after record"));
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
}

static void test_not_lightning(void **state)
{
    (void)state;
    const char *path = tmp_path("http.pcap");
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, path, NULL), PH_OK);
    struct ph_endpoint a, b;
    ph_pcapw_conn *c;
    assert_int_equal(ph_endpoint_parse("127.0.0.1:50000", &a), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:80", &b), PH_OK);
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 1, NULL, &c), PH_OK);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(ph_pcapw_data(c, 0, (const uint8_t *)req, strlen(req), 2), PH_OK);
    assert_int_equal(ph_pcapw_data(c, 1, (const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n", 19, 3), PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, 1, 4), PH_OK);
    /* an act 1 that is never answered */
    b.port = 9735;
    a.port = 50001;
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 5, NULL, &c), PH_OK);
    uint8_t act1[50] = {0, 2};
    assert_int_equal(ph_pcapw_data(c, 0, act1, 50, 6), PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, 1, 7), PH_OK);
    /* a connection without data: not a problem */
    a.port = 50002;
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 8, NULL, &c), PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, 1, 9), PH_OK);
    /* a Lightning-looking stream seen mid-connection */
    a.port = 50003;
    struct ph_pcapw_conn_opts mid = {.no_handshake = true};
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 10, &mid, &c), PH_OK);
    uint8_t frame[60];
    memset(frame, 0xab, sizeof frame);
    assert_int_equal(ph_pcapw_data(c, 0, frame, sizeof frame, 11), PH_OK);
    assert_int_equal(ph_pcapw_close(w), PH_OK);

    struct check chk = {0};
    ph_lnsessions *s = decode(path, NULL, &chk, NULL);

    assert_int_equal(ph_lnsession_count(s), 0);
    assert_int_equal(ph_lnsession_connections(s), 4);
    assert_true(has_problem(s, PH_LN_PROB_NOT_LIGHTNING,
                            "127.0.0.1:50000 -> 127.0.0.1:80: not a Lightning session"));
    assert_true(has_problem(s, PH_LN_PROB_HANDSHAKE,
                            "127.0.0.1:50001 -> 127.0.0.1:9735: BOLT 8 handshake incomplete "
                            "(initiator sent 50 of 116 bytes, responder 0 of 50)"));
    assert_true(has_problem(s, PH_LN_PROB_NOT_LIGHTNING, "mid-connection"));
    assert_int_equal(ph_lnsession_problem_count(s), 3);
    ph_lnsession_destroy(s);
}

static void test_concurrent_sessions(void **state)
{
    (void)state;
    const char *path = tmp_path("multi.pcap");
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, path, NULL), PH_OK);
    struct gen g[3];
    struct expect exp[3];
    memset(exp, 0, sizeof exp);
    gen_open(&g[0], w, "127.0.0.1:40000", "127.0.0.1:9735", &exp[0]);
    gen_open(&g[1], w, "[::1]:40001", "[::1]:19735", &exp[1]);
    gen_open(&g[2], w, "127.0.0.1:40002", "127.0.0.1:443", &exp[2]);
    static uint8_t m[PH_NOISE_MAX_MSG];
    size_t i[3][2] = {{0}};
    for (int k = 0; k < 900; k++) {
        int s = (int)(rnd() % 3), dir = i[s][0] == 0 ? 0 : (int)(rnd() % 2);
        size_t len = make_msg(dir, i[s][dir]++, m);
        /* finish other sessions' held bytes first to keep records in order */
        for (int o = 0; o < 3; o++)
            if (o != s) {
                flush_dir(&g[o], 0, g[o].plen[0]);
                flush_dir(&g[o], 1, g[o].plen[1]);
            }
        send_msg(&g[s], dir, m, len);
    }
    char *all = NULL;
    for (int s = 0; s < 3; s++)
        gen_close(&g[s], s != 1);
    /* one key log for all three */
    size_t total = 0;
    char *t[3];
    for (int s = 0; s < 3; s++) {
        t[s] = keylog_text(&g[s].keys, -1, -1, false);
        total += strlen(t[s]);
    }
    all = calloc(1, total + 1);
    assert_non_null(all);
    for (int s = 0; s < 3; s++) {
        strcat(all, t[s]);
        free(t[s]);
    }
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    ph_keylog *kl = keylog_of(all);
    /* The three sessions use the same keys (same static and ephemeral
     * keys): decode each connection alone through a filter instead. */
    const char *filters[3] = {"tcp port 40000", "tcp port 40001", "tcp port 40002"};
    for (int s = 0; s < 3; s++) {
        ph_capture *c = NULL;
        assert_int_equal(ph_capture_open(&c, path, filters[s], NULL), PH_OK);
        struct check chk = {.exp = &exp[s]};
        ph_lnsessions *ls = NULL;
        struct ph_lnsession_opts lo = {.first_id = 10};
        assert_int_equal(ph_lnsession_create(&ls, kl, &lo, check_cb, &chk), PH_OK);
        assert_int_equal(ph_lnsession_run(ls, c), PH_OK);
        print_problems(ls);
        assert_int_equal(ph_lnsession_problem_count(ls), 0);
        assert_int_equal(chk.got[0], exp[s].n[0]);
        assert_int_equal(chk.got[1], exp[s].n[1]);
        assert_int_equal(ph_lnsession_stats(ls, 0)->id, 10);
        assert_int_equal(ph_lnsession_next_id(ls), 11);
        ph_lnsession_destroy(ls);
        ph_capture_close(c);
    }
    /* All at once: three sessions, numbered in order of their handshakes. */
    struct check chk = {.multi = true};
    ph_lnsessions *ls = decode(path, kl, &chk, NULL);
    assert_int_equal(ph_lnsession_count(ls), 3);
    assert_int_equal(ph_lnsession_stats(ls, 1)->initiator.family, 6);
    assert_int_equal(ph_lnsession_stats(ls, 2)->responder.port, 443);
    assert_int_equal(chk.got[0] + chk.got[1], 900);
    ph_lnsession_destroy(ls);
    ph_keylog_destroy(kl);
    free(all);
    for (int s = 0; s < 3; s++)
        expect_free(&exp[s]);
}

/* Bytes flipped anywhere in a good capture: never a crash, and whatever is
 * reported as decrypted is authentic (it matches what was sent). */
static void test_random_damage(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    const char *path = tmp_path("fuzz-src.pcap");
    make_capture(path, &g, &exp, 40, 60, true, true, 900, -1, 0, true);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    size_t size = (size_t)sb.st_size;
    uint8_t *orig = malloc(size), *buf = malloc(size);
    assert_non_null(orig);
    assert_non_null(buf);
    assert_int_equal(fread(orig, 1, size, f), size);
    fclose(f);
    const char *dam = tmp_path("fuzz.pcap");
    for (int iter = 0; iter < 60; iter++) {
        memcpy(buf, orig, size);
        int flips = 1 + (int)(rnd() % 20);
        for (int k = 0; k < flips; k++)
            buf[24 + rnd() % (size - 24)] ^= (uint8_t)(1 + rnd() % 255);
        size_t len = rnd() % 5 ? size : 24 + rnd() % (size - 24);
        f = fopen(dam, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        fclose(f);
        ph_capture *c = NULL;
        if (ph_capture_open(&c, dam, NULL, NULL) != PH_OK)
            continue;
        struct check chk = {.exp = &exp};
        ph_lnsessions *s = NULL;
        assert_int_equal(ph_lnsession_create(&s, kl, NULL, check_cb, &chk), PH_OK);
        ph_lnsession_run(s, c);
        ph_capture_close(c);
        ph_lnsession_destroy(s);
    }
    free(orig);
    free(buf);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

/* Streams of random bytes that begin like a handshake. */
static void test_random_streams(void **state)
{
    (void)state;
    ph_lnsessions *s = NULL;
    struct check chk = {0};
    assert_int_equal(ph_lnsession_create(&s, NULL, NULL, check_cb, &chk), PH_OK);
    struct ph_tcp_packet p;
    memset(&p, 0, sizeof p);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:1", &p.src), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:2", &p.dst), PH_OK);
    static uint8_t data[3000];
    uint32_t seq[64][2];
    memset(seq, 0, sizeof seq);
    for (int k = 0; k < 20000; k++) {
        int conn = (int)(rnd() % 64), dir = (int)(rnd() % 2);
        p.src.port = (uint16_t)(dir ? 9735 : 1000 + conn);
        p.dst.port = (uint16_t)(dir ? 1000 + conn : 9735);
        size_t len = rnd() % sizeof data;
        for (size_t i = 0; i < len; i++)
            data[i] = (uint8_t)rnd();
        if (seq[conn][dir] == 0 && len > 2) {
            data[0] = 0;
            data[1] = 2;
        }
        p.seq = seq[conn][dir];
        p.flags = PH_TCP_ACK | (rnd() % 50 == 0 ? PH_TCP_FIN : 0);
        p.payload = data;
        p.payload_len = len;
        p.ts_ns = (uint64_t)k;
        seq[conn][dir] += (uint32_t)len;
        assert_int_equal(ph_lnsession_packet(s, &p), PH_OK);
    }
    ph_lnsession_finish(s);
    assert_int_equal(chk.got[0] + chk.got[1], 0);
    ph_lnsession_destroy(s);
}

/* ---- fixtures for tests/e2e/dump.sh ---- */

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_lnmsgs(const char *dir, const char *name, const struct expect *e,
                         const uint8_t *order, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t i[2] = {0, 0};
    for (size_t k = 0; k < n; k++) {
        const struct msg *m = &e->m[order[k]][i[order[k]]++];
        uint8_t h[2] = {(uint8_t)(m->len >> 8), (uint8_t)m->len};
        fwrite(h, 1, 2, f);
        fwrite(m->p, 1, m->len, f);
    }
    fclose(f);
}

/* Directions of the records in capture order, to write the expected export. */
struct order_rec {
    uint8_t *dirs;
    size_t n;
};

static void order_cb(void *ctx, const struct ph_ln_record *r)
{
    struct order_rec *o = ctx;
    o->dirs[o->n++] = (uint8_t)r->dir;
}

static int write_fixtures(const char *dir)
{
    char path[512];
    struct gen g;
    struct expect exp = {0};

    /* good: 1,100 + 600 messages, reordered, coalesced, rotations */
    snprintf(path, sizeof path, "%s/good.pcap", dir);
    make_capture(path, &g, &exp, 600, 1100, true, true, 1400, -1, 0, true);
    char *keys = keylog_text(&g.keys, -1, -1, false);
    write_text(dir, "good.pcap.keys", keys);
    /* expected export: the records in capture order */
    ph_keylog *kl = keylog_of(keys);
    struct order_rec o = {calloc(exp.n[0] + exp.n[1], 1), 0};
    ph_capture *c = NULL;
    if (ph_capture_open(&c, path, NULL, NULL) != PH_OK)
        return 1;
    ph_lnsessions *s = NULL;
    if (ph_lnsession_create(&s, kl, NULL, order_cb, &o) != PH_OK || ph_lnsession_run(s, c) != PH_OK ||
        o.n != exp.n[0] + exp.n[1] || ph_lnsession_problem_count(s) != 0)
        return 1;
    ph_lnsession_destroy(s);
    ph_capture_close(c);
    write_lnmsgs(dir, "good.lnmsgs", &exp, o.dirs, o.n);
    char counts[256];
    snprintf(counts, sizeof counts, "%zu %zu\n", exp.n[0], exp.n[1]);
    write_text(dir, "good.counts", counts);
    free(o.dirs);
    /* the initiator's key corrupted; and a key log with a bad third line */
    char *wrong = keylog_text(&g.keys, 0, -1, true);
    write_text(dir, "wrong.keys", wrong);
    free(wrong);
    char *bad = strdup(keys);
    bad[PH_KEYLOG_LINE_LEN * 2 + 5] = 'x'; /* line 3 */
    write_text(dir, "badline.keys", bad);
    free(bad);
    ph_keylog_destroy(kl);
    expect_free(&exp);

    /* gap: 100 bytes lost in the responder's stream */
    snprintf(path, sizeof path, "%s/gap.pcap", dir);
    make_capture(path, &g, NULL, 20, 200, false, true, 1400, 1, 15000, true);
    free(keys);
    keys = keylog_text(&g.keys, -1, -1, false);
    write_text(dir, "gap.pcap.keys", keys);
    free(keys);

    /* not Lightning */
    snprintf(path, sizeof path, "%s/http.pcap", dir);
    ph_pcapw *w;
    if (ph_pcapw_open(&w, path, NULL) != PH_OK)
        return 1;
    struct ph_endpoint a, b;
    ph_endpoint_parse("127.0.0.1:50000", &a);
    ph_endpoint_parse("127.0.0.1:8080", &b);
    ph_pcapw_conn *pc;
    if (ph_pcapw_conn_open(w, &a, &b, 1700000000000000000ull, NULL, &pc) != PH_OK)
        return 1;
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ph_pcapw_data(pc, 0, (const uint8_t *)req, strlen(req), 1700000000000000001ull);
    ph_pcapw_conn_close(pc, 0, 1700000000000000002ull);
    if (ph_pcapw_close(w) != PH_OK)
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (ph_noise_global_init() != PH_OK)
        return 1;
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
        return write_fixtures(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ph_lnsession_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_session_with_rotations),
        cmocka_unit_test(test_loopback_sized_segments),
        cmocka_unit_test(test_missing_first_key),
        cmocka_unit_test(test_missing_rotation_key),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_trailing_and_truncated_file),
        cmocka_unit_test(test_not_lightning),
        cmocka_unit_test(test_concurrent_sessions),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_random_streams),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
