/* TCP reassembly: each case built from hand-made segments; plus agreement
 * with tshark's "follow tcp" on a written capture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "pcapwrite.h"
#include "tcpreasm.h"

/* ---- recording callbacks ---- */

#define MAXC 8
struct stream {
    uint8_t *buf;
    size_t len, cap;
    bool ended;
    enum ph_tcp_end why;
    uint64_t end_off;
    int ends;
};
struct rec {
    int opens, closes;
    struct stream s[MAXC + 1][2];
    struct ph_tcp_conn_info info[MAXC + 1]; /* copied at close */
    bool closed[MAXC + 1];
    uint64_t last_ts;
};

static void on_open(void *ctx, struct ph_tcp_conn_info *c)
{
    struct rec *r = ctx;
    assert_true(c->id >= 1 && c->id <= MAXC);
    r->opens++;
}

static void on_data(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off,
                    const uint8_t *p, size_t len, uint64_t ts)
{
    struct rec *r = ctx;
    struct stream *s = &r->s[c->id][dir];
    assert_false(s->ended);
    assert_true(len > 0);
    assert_int_equal(off, s->len); /* contiguous */
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, p, len);
    s->len += len;
    r->last_ts = ts;
}

static void on_end(void *ctx, struct ph_tcp_conn_info *c, int dir, enum ph_tcp_end why,
                   uint64_t off, uint64_t ts)
{
    (void)ts;
    struct rec *r = ctx;
    struct stream *s = &r->s[c->id][dir];
    s->ends++;
    s->ended = true;
    s->why = why;
    s->end_off = off;
    assert_int_equal(off, s->len);
}

static void on_close(void *ctx, struct ph_tcp_conn_info *c)
{
    struct rec *r = ctx;
    r->closes++;
    assert_true(r->s[c->id][0].ended && r->s[c->id][1].ended);
    r->info[c->id] = *c;
    r->closed[c->id] = true;
}

static const struct ph_tcpreasm_cb CB = {on_open, on_data, on_end, on_close, NULL};

static void rec_free(struct rec *r)
{
    for (int i = 0; i <= MAXC; i++)
        for (int d = 0; d < 2; d++)
            free(r->s[i][d].buf);
    memset(r, 0, sizeof *r);
}

/* ---- segment construction ---- */

static struct ph_endpoint CL, SV;
static uint64_t now;

static void seg_ep(ph_tcpreasm *t, const struct ph_endpoint *src, const struct ph_endpoint *dst,
                   uint32_t seq, uint32_t ack, uint8_t flags, const void *data, size_t len)
{
    struct ph_tcp_packet p;
    memset(&p, 0, sizeof p);
    p.ts_ns = ++now;
    p.src = *src;
    p.dst = *dst;
    p.seq = seq;
    p.ack = ack;
    p.flags = flags;
    p.payload = data;
    p.payload_len = len;
    assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
}

/* dir 0: client -> server */
static void seg(ph_tcpreasm *t, int dir, uint32_t seq, uint32_t ack, uint8_t flags,
                const void *data, size_t len)
{
    if (dir == 0)
        seg_ep(t, &CL, &SV, seq, ack, flags, data, len);
    else
        seg_ep(t, &SV, &CL, seq, ack, flags, data, len);
}

static ph_tcpreasm *mk(struct rec *r, const struct ph_tcpreasm_limits *lim)
{
    memset(r, 0, sizeof *r);
    ph_tcpreasm *t = NULL;
    assert_int_equal(ph_tcpreasm_create(&t, &CB, r, lim), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:40312", &CL), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:9735", &SV), PH_OK);
    return t;
}

static void handshake(ph_tcpreasm *t, uint32_t ic, uint32_t is)
{
    seg(t, 0, ic, 0, PH_TCP_SYN, NULL, 0);
    seg(t, 1, is, ic + 1, PH_TCP_SYN | PH_TCP_ACK, NULL, 0);
    seg(t, 0, ic + 1, is + 1, PH_TCP_ACK, NULL, 0);
}

static uint8_t pattern[200000];

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 31 + (i >> 8));
    return 0;
}

#define A PH_TCP_ACK

/* ---- cases ---- */

static void test_in_order_fin(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 1000, 5000);
    seg(t, 0, 1001, 5001, A, pattern, 100);
    seg(t, 1, 5001, 1101, A, pattern + 7, 50);
    seg(t, 0, 1101, 5051, A | PH_TCP_FIN, pattern + 100, 20);
    seg(t, 1, 5051, 1122, A | PH_TCP_FIN, NULL, 0);
    seg(t, 0, 1122, 5052, A, NULL, 0);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.s[1][0].len, 120);
    assert_memory_equal(r.s[1][0].buf, pattern, 120);
    assert_int_equal(r.s[1][1].len, 50);
    assert_memory_equal(r.s[1][1].buf, pattern + 7, 50);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_FIN);
    assert_int_equal(r.s[1][1].why, PH_TCP_END_FIN);
    assert_true(r.info[1].syn[0] && r.info[1].syn[1]);
    assert_int_equal(r.info[1].ep[0].port, 40312);
    /* late packets after close create nothing */
    seg(t, 1, 5052, 1122, A, NULL, 0);
    ph_tcpreasm_finish(t, 99);
    assert_int_equal(r.opens, 1);
    assert_int_equal(ph_tcpreasm_stats(t)->conns, 1);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_out_of_order(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 201, 1, A, pattern + 200, 100);
    seg(t, 0, 301, 1, A, pattern + 300, 50);
    assert_int_equal(r.s[1][0].len, 0);
    seg(t, 0, 101, 1, A, pattern + 100, 100);
    assert_int_equal(r.s[1][0].len, 0);
    seg(t, 0, 1, 1, A, pattern, 100);
    assert_int_equal(r.s[1][0].len, 350);
    assert_memory_equal(r.s[1][0].buf, pattern, 350);
    ph_tcpreasm_finish(t, 99);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_CAPTURE);
    assert_int_equal(r.info[1].st[0].out_of_order, 3);
    assert_int_equal(r.info[1].st[0].max_buffered, 250);
    assert_int_equal(r.info[1].st[0].retransmitted, 0);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_retransmit_and_overlaps(void **state)
{
    (void)state;
    struct rec r;
    uint8_t bad[100];
    memcpy(bad, pattern + 50, 100);
    bad[60] ^= 1; /* pattern[110] differs */
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 100);
    seg(t, 0, 1, 1, A, pattern, 100);              /* exact retransmission */
    seg(t, 0, 51, 1, A, pattern + 50, 100);        /* overlap, agrees, extends */
    assert_int_equal(r.s[1][0].len, 150);
    seg(t, 0, 51, 1, A, bad, 100);                 /* already delivered, disagrees */
    const struct ph_tcp_dir_stats *st;
    /* Buffered overlaps: pieces at 300..400 and 500..600, then one
     * segment covering 250..650 that disagrees inside the first piece. */
    seg(t, 0, 301, 1, A, pattern + 300, 100);
    seg(t, 0, 501, 1, A, pattern + 500, 100);
    uint8_t wide[400];
    memcpy(wide, pattern + 250, 400);
    wide[100] ^= 0xff; /* offset 350 */
    seg(t, 0, 251, 1, A, wide, 400);
    seg(t, 0, 151, 1, A, pattern + 150, 100);      /* fills the hole */
    assert_int_equal(r.s[1][0].len, 650);
    /* first copies everywhere: offset 350 keeps pattern's byte */
    assert_memory_equal(r.s[1][0].buf, pattern, 650);
    seg(t, 0, 651, 1, A | PH_TCP_FIN, NULL, 0);
    seg(t, 1, 1, 652, A | PH_TCP_FIN, NULL, 0);
    assert_int_equal(r.closes, 1);
    st = &r.info[1].st[0];
    assert_int_equal(st->overlap_conflicts, 2);
    assert_int_equal(st->retransmitted, 100 + 50 + 100 + 200);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_mid_stream(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    /* First packet seen: the server talking. */
    seg(t, 1, 777777, 123456, A, pattern, 40);
    seg(t, 0, 123456, 777817, A, pattern + 1000, 30);
    seg(t, 1, 777777 + 40, 123486, A, pattern + 40, 10);
    /* a retransmission of bytes from before our first byte, partly new */
    seg(t, 0, 123456 - 10, 777827, A, pattern + 990, 50);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.opens, 1);
    /* ep[0] is the first sender: the server */
    assert_int_equal(r.info[1].ep[0].port, 9735);
    assert_false(r.info[1].syn[0]);
    assert_false(r.info[1].syn[1]);
    assert_int_equal(r.s[1][0].len, 50);
    assert_memory_equal(r.s[1][0].buf, pattern, 50);
    assert_int_equal(r.s[1][1].len, 40);
    assert_memory_equal(r.s[1][1].buf, pattern + 1000, 40);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_synack_without_syn(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    seg(t, 1, 500, 101, PH_TCP_SYN | A, NULL, 0);
    seg(t, 0, 101, 501, A, pattern, 10);
    seg(t, 1, 501, 111, A, pattern + 10, 10);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.info[1].ep[0].port, 40312); /* client despite sending second */
    assert_true(r.info[1].syn[0] && r.info[1].syn[1]);
    assert_int_equal(r.s[1][0].len, 10);
    assert_int_equal(r.s[1][1].len, 10);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_gap_acked(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 100);
    /* 101..200 lost by the capture */
    seg(t, 0, 201, 1, A, pattern + 200, 100);
    seg(t, 1, 1, 301, A, NULL, 0);   /* receiver had it all */
    assert_false(r.s[1][0].ended);   /* a late copy could still come */
    seg(t, 0, 301, 1, A, pattern + 300, 100);
    assert_true(r.s[1][0].ended);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_GAP);
    assert_int_equal(r.s[1][0].end_off, 100);
    assert_int_equal(r.s[1][0].len, 100);
    seg(t, 0, 401, 1, A, pattern + 400, 100);
    /* the other direction goes on */
    seg(t, 1, 1, 501, A, pattern, 60);
    assert_int_equal(r.s[1][1].len, 60);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.info[1].st[0].gap_len, 100);
    assert_int_equal(r.info[1].st[0].ignored, 100);
    assert_int_equal(r.s[1][1].why, PH_TCP_END_CAPTURE);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_gap_reordered_ack_is_not_a_gap(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 101, 1, A, pattern + 100, 100);
    seg(t, 1, 1, 201, A, NULL, 0);      /* ack captured before the data */
    seg(t, 0, 1, 1, A, pattern, 100);    /* the late copy fills the hole */
    seg(t, 0, 201, 1, A, pattern + 200, 100);
    assert_false(r.s[1][0].ended);
    assert_int_equal(r.s[1][0].len, 300);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_CAPTURE);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_gap_at_end_of_capture(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 100);
    seg(t, 0, 151, 1, A, pattern + 150, 100);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_GAP);
    assert_int_equal(r.s[1][0].end_off, 100);
    assert_int_equal(r.info[1].st[0].gap_len, 50);
    /* the last segment lost, only the ACK tells */
    rec_free(&r);
    ph_tcpreasm_destroy(t);
    t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 100);
    seg(t, 1, 1, 181, A, NULL, 0);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_GAP);
    assert_int_equal(r.info[1].st[0].gap_len, 80);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_buffer_limit(void **state)
{
    (void)state;
    struct rec r;
    struct ph_tcpreasm_limits lim = {.max_buffer = 1000};
    ph_tcpreasm *t = mk(&r, &lim);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 10);
    for (uint32_t i = 0; i < 20; i++)
        seg(t, 0, 101 + i * 100, 1, A, pattern + 100 + i * 100, 100);
    assert_true(r.s[1][0].ended);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_LIMIT);
    assert_int_equal(r.s[1][0].end_off, 10);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.info[1].st[0].gap_len, 90);
    assert_true(r.info[1].st[0].max_buffered <= 1100);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
    /* segment count limit */
    struct ph_tcpreasm_limits lim2 = {.max_segments = 4};
    t = mk(&r, &lim2);
    handshake(t, 0, 0);
    for (uint32_t i = 0; i < 6; i++)
        seg(t, 0, 11 + i * 10, 1, A, pattern, 1);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_LIMIT);
    ph_tcpreasm_finish(t, 5);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_wraparound(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    uint32_t isn = 0xffffff00u;
    handshake(t, isn, 0x7fffffffu);
    /* 1000 bytes crossing 2^32, sent out of order in 100-byte pieces */
    for (int i = 9; i >= 0; i--)
        seg(t, 0, isn + 1 + (uint32_t)i * 100, 0x80000000u, A, pattern + i * 100, 100);
    seg(t, 1, 0x80000000u, isn + 1001, A, pattern, 5);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.s[1][0].len, 1000);
    assert_memory_equal(r.s[1][0].buf, pattern, 1000);
    assert_int_equal(r.s[1][1].len, 5);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_CAPTURE);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

/* More than 4 GiB of sequence space would take long; instead check that
 * offsets keep growing past 2^32 bytes of one stream with large segments
 * delivered in order (the stream's bytes are all the same buffer). */
static void test_huge_segments(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 1 + 65536, 1, A, pattern + 65536, 100000);  /* GSO-sized, early */
    seg(t, 0, 1, 1, A, pattern, 65536);
    seg(t, 0, 1 + 165536, 1, A, pattern + 165536, 30000);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.s[1][0].len, 195536);
    assert_memory_equal(r.s[1][0].buf, pattern, 195536);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_rst(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 10);
    seg(t, 1, 1, 11, A, pattern, 10);
    seg(t, 1, 21, 11, A, pattern, 10); /* hole in the server's stream */
    seg(t, 0, 11, 11, PH_TCP_RST | A, NULL, 0);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_RST);
    assert_int_equal(r.s[1][1].why, PH_TCP_END_GAP);
    /* An unknown RST or pure ACK opens nothing; late ones of a closed
     * connection are absorbed. */
    struct ph_endpoint other = CL;
    other.port = 1;
    seg_ep(t, &SV, &other, 5, 5, PH_TCP_RST, NULL, 0);
    seg_ep(t, &SV, &other, 5, 5, A, NULL, 0);
    seg(t, 1, 31, 11, PH_TCP_RST, NULL, 0);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.opens, 1);
    assert_int_equal(ph_tcpreasm_stats(t)->stray, 2);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

static void test_reuse_and_syn_retransmit(void **state)
{
    (void)state;
    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    seg(t, 0, 100, 0, PH_TCP_SYN, NULL, 0);
    seg(t, 0, 100, 0, PH_TCP_SYN, NULL, 0); /* retransmitted SYN */
    seg(t, 1, 900, 101, PH_TCP_SYN | A, NULL, 0);
    seg(t, 0, 101, 901, A, pattern, 10);
    assert_int_equal(r.opens, 1);
    /* a new SYN while open: old connection cut, new one starts */
    handshake(t, 5000, 6000);
    assert_int_equal(r.opens, 2);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_NEW_SYN);
    seg(t, 0, 5001, 6001, A | PH_TCP_FIN, pattern, 5);
    seg(t, 1, 6001, 5007, A | PH_TCP_FIN, NULL, 0);
    assert_int_equal(r.closes, 2);
    /* a SYN after a clean close: third connection */
    handshake(t, 7000, 8000);
    seg(t, 0, 7001, 8001, A, pattern, 3);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.opens, 3);
    assert_int_equal(r.s[2][0].len, 5);
    assert_int_equal(r.s[3][0].len, 3);
    assert_int_equal(r.s[1][0].len, 10);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

/* A full table evicts instead of refusing: finished connections first,
 * then the least recently active half-open one, then the least recently
 * active with payload; the consumer's marked ones last. */
static void test_conn_eviction(void **state)
{
    (void)state;
    struct rec r;
    struct ph_tcpreasm_limits lim = {.max_conns = 3};
    ph_tcpreasm *t = mk(&r, &lim);
    struct ph_endpoint c = CL;
    c.port = 1001; /* id 1: payload */
    seg_ep(t, &c, &SV, 1, 1, A, pattern, 5);
    c.port = 1002; /* id 2: a SYN only */
    seg_ep(t, &c, &SV, 1, 0, PH_TCP_SYN, NULL, 0);
    c.port = 1003; /* id 3: payload */
    seg_ep(t, &c, &SV, 1, 1, A, pattern, 5);
    c.port = 1004; /* id 4: the half-open id 2 goes, not the older id 1 */
    seg_ep(t, &c, &SV, 1, 1, A, pattern, 5);
    assert_int_equal(r.opens, 4);
    assert_true(r.closed[2]);
    assert_int_equal(r.s[2][0].why, PH_TCP_END_EVICTED);
    assert_false(r.closed[1]);
    c.port = 1001; /* id 1 is active again: id 3 is now the least recent */
    seg_ep(t, &c, &SV, 6, 1, A, pattern + 5, 5);
    c.port = 1005;
    seg_ep(t, &c, &SV, 1, 1, A, pattern, 5);
    assert_true(r.closed[3]);
    assert_int_equal(r.s[3][0].why, PH_TCP_END_EVICTED);
    assert_int_equal(r.s[3][0].len, 5); /* what it had was delivered */
    assert_false(r.closed[1]);
    assert_int_equal(r.s[1][0].len, 10);
    /* a finished connection is forgotten before any live one */
    c.port = 1004;
    seg_ep(t, &c, &SV, 6, 1, PH_TCP_RST, NULL, 0);
    assert_true(r.closed[4]);
    c.port = 1006;
    seg_ep(t, &c, &SV, 1, 1, A, pattern, 5);
    assert_false(r.closed[1]);
    assert_false(r.closed[5]);
    const struct ph_tcpreasm_stats *st = ph_tcpreasm_stats(t);
    assert_int_equal(st->evicted, 2);
    assert_int_equal(st->evicted_payload, 1);
    assert_int_equal(st->refused, 0);
    assert_true(st->max_tracked <= 3);
    ph_tcpreasm_finish(t, 5);
    assert_int_equal(r.closes, 6);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

/* Marked connections (a consumer's sessions) outlive any number of others. */
struct flood {
    uint64_t opened, delivered, target_bytes;
    uint64_t target_id;
    bool target_evicted;
    uint16_t target_port;
};

static void fl_open(void *ctx, struct ph_tcp_conn_info *c)
{
    struct flood *f = ctx;
    f->opened++;
    if (c->ep[0].port == f->target_port) {
        c->keep = true;
        f->target_id = c->id;
    }
}

static void fl_data(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off,
                    const uint8_t *p, size_t len, uint64_t ts)
{
    (void)dir;
    (void)off;
    (void)p;
    (void)ts;
    struct flood *f = ctx;
    f->delivered += len;
    if (c->id == f->target_id)
        f->target_bytes += len;
}

static void fl_end(void *ctx, struct ph_tcp_conn_info *c, int dir, enum ph_tcp_end why,
                   uint64_t off, uint64_t ts)
{
    (void)dir;
    (void)off;
    (void)ts;
    struct flood *f = ctx;
    if (c->id == f->target_id && why == PH_TCP_END_EVICTED)
        f->target_evicted = true;
}

/* 200,000 half-open connections (a SYN scan), then 70,000 that carry a
 * little data, with a marked connection open through all of it and one
 * that starts after the flood: the table never holds more than max_conns,
 * nothing is refused, both connections get every byte. Before eviction, a
 * full table refused every new connection and rescanned itself for every
 * packet (quadratic time). */
static void test_eviction_flood(void **state)
{
    (void)state;
    struct flood f = {.target_port = 7};
    struct ph_tcpreasm_cb cb = {fl_open, fl_data, fl_end, NULL, NULL};
    ph_tcpreasm *t = NULL;
    assert_int_equal(ph_tcpreasm_create(&t, &cb, &f, NULL), PH_OK);
    struct ph_endpoint a, b;
    assert_int_equal(ph_endpoint_parse("10.0.0.1:7", &a), PH_OK);
    assert_int_equal(ph_endpoint_parse("10.9.9.9:9735", &b), PH_OK);
    struct ph_tcp_packet p;
    memset(&p, 0, sizeof p);
    p.src = a;
    p.dst = b;
    p.seq = 100;
    p.flags = PH_TCP_SYN;
    assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
    uint32_t tseq = 101;
    for (uint32_t i = 0; i < 270000; i++) {
        memset(&p, 0, sizeof p);
        p.ts_ns = i;
        p.src.family = 4;
        p.src.addr[0] = 11;
        p.src.addr[1] = (uint8_t)(i >> 16);
        p.src.addr[2] = (uint8_t)(i >> 8);
        p.src.addr[3] = (uint8_t)i;
        p.src.port = 40000;
        p.dst = b;
        p.seq = i;
        if (i < 200000) {
            p.flags = PH_TCP_SYN;
        } else {
            p.flags = A;
            p.payload = pattern;
            p.payload_len = 10;
        }
        assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
        if (i % 1000 == 0) { /* the marked connection stays busy throughout */
            memset(&p, 0, sizeof p);
            p.src = a;
            p.dst = b;
            p.seq = tseq;
            p.flags = A;
            p.payload = pattern;
            p.payload_len = 3;
            tseq += 3;
            assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
        }
    }
    /* a session after the flood */
    struct ph_endpoint late = a;
    late.port = 8;
    memset(&p, 0, sizeof p);
    p.src = late;
    p.dst = b;
    p.seq = 5;
    p.flags = A;
    p.payload = pattern;
    p.payload_len = 1000;
    assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
    const struct ph_tcpreasm_stats *st = ph_tcpreasm_stats(t);
    assert_int_equal(st->refused, 0);
    assert_true(st->max_tracked <= 65536);
    assert_int_equal(st->evicted, 270002 - 65536);
    assert_int_equal(st->evicted_keep, 0);
    assert_true(st->evicted_payload > 0);
    assert_false(f.target_evicted);
    assert_int_equal(f.target_bytes, 270 * 3);
    assert_int_equal(f.delivered, 70000 * 10 + 270 * 3 + 1000);
    ph_tcpreasm_finish(t, 0);
    ph_tcpreasm_destroy(t);
}

/* ---- skip_gaps: delivery goes on after a hole ---- */

struct skiprec {
    uint8_t buf[16384];
    bool have[16384];
    uint64_t next;              /* next expected offset */
    uint64_t gaps, gap_bytes;
    uint64_t gap_off[8], gap_len[8];
    enum ph_tcp_end why;
    bool ended;
};

static void sk_data(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off,
                    const uint8_t *p, size_t len, uint64_t ts)
{
    (void)c;
    (void)ts;
    struct skiprec *k = &((struct skiprec *)ctx)[dir];
    assert_int_equal(off, k->next);
    assert_true(off + len <= sizeof k->buf);
    memcpy(k->buf + off, p, len);
    memset(k->have + off, 1, len);
    k->next = off + len;
}

static void sk_gap(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off, uint64_t len,
                   uint64_t ts)
{
    (void)c;
    (void)ts;
    struct skiprec *k = &((struct skiprec *)ctx)[dir];
    assert_int_equal(off, k->next);
    assert_true(len > 0);
    if (k->gaps < 8) {
        k->gap_off[k->gaps] = off;
        k->gap_len[k->gaps] = len;
    }
    k->gaps++;
    k->gap_bytes += len;
    k->next = off + len;
}

static void sk_end(void *ctx, struct ph_tcp_conn_info *c, int dir, enum ph_tcp_end why,
                   uint64_t off, uint64_t ts)
{
    (void)c;
    (void)ts;
    struct skiprec *k = &((struct skiprec *)ctx)[dir];
    assert_int_equal(off, k->next);
    k->ended = true;
    k->why = why;
}

static ph_tcpreasm *mk_skip(struct skiprec k[2], size_t max_memory)
{
    memset(k, 0, 2 * sizeof *k);
    struct ph_tcpreasm_cb cb = {NULL, sk_data, sk_end, NULL, sk_gap};
    struct ph_tcpreasm_limits lim = {.skip_gaps = true, .max_memory = max_memory};
    ph_tcpreasm *t = NULL;
    assert_int_equal(ph_tcpreasm_create(&t, &cb, k, &lim), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:40312", &CL), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:9735", &SV), PH_OK);
    return t;
}

static void test_skip_gaps(void **state)
{
    (void)state;
    struct skiprec k[2];
    ph_tcpreasm *t = mk_skip(k, 0);
    handshake(t, 0, 0);
    /* the first 50 bytes lost (acts of a handshake, say) */
    seg(t, 0, 51, 1, A, pattern + 50, 100);
    seg(t, 1, 1, 151, A, NULL, 0);     /* the receiver had them */
    assert_int_equal(k[0].next, 0);    /* a late copy could still come */
    seg(t, 0, 151, 1, A, pattern + 150, 100);
    assert_int_equal(k[0].gaps, 1);
    assert_int_equal(k[0].gap_off[0], 0);
    assert_int_equal(k[0].gap_len[0], 50);
    assert_int_equal(k[0].next, 250);
    assert_memory_equal(k[0].buf + 50, pattern + 50, 200);
    /* a hole in the middle, never acknowledged: given up at the end */
    seg(t, 0, 301, 1, A, pattern + 300, 100);
    seg(t, 0, 451, 1, A, pattern + 450, 50);
    assert_int_equal(k[0].next, 250);
    ph_tcpreasm_finish(t, 9);
    assert_int_equal(k[0].gaps, 3);
    assert_int_equal(k[0].gap_off[1], 250);
    assert_int_equal(k[0].gap_len[1], 50);
    assert_int_equal(k[0].gap_off[2], 400);
    assert_int_equal(k[0].gap_len[2], 50);
    assert_int_equal(k[0].next, 500);
    assert_memory_equal(k[0].buf + 450, pattern + 450, 50);
    assert_int_equal(k[0].why, PH_TCP_END_CAPTURE);
    ph_tcpreasm_destroy(t);

    /* RST: what waits behind a hole is delivered before the end */
    t = mk_skip(k, 0);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 10);
    seg(t, 0, 21, 1, A, pattern + 20, 10);
    seg(t, 1, 1, 31, PH_TCP_RST | A, NULL, 0);
    assert_true(k[0].ended);
    assert_int_equal(k[0].next, 30);
    assert_int_equal(k[0].gap_bytes, 10);
    assert_int_equal(k[0].why, PH_TCP_END_RST);
    ph_tcpreasm_finish(t, 9);
    ph_tcpreasm_destroy(t);
}

/* The shared budget: out-of-order data beyond it is a hole given up (or,
 * without skip_gaps, the direction ends); the budget is never exceeded. */
static void test_memory_budget(void **state)
{
    (void)state;
    struct skiprec k[2];
    ph_tcpreasm *t = mk_skip(k, 10000);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 10);
    for (uint32_t i = 0; i < 120; i++) /* 12000 bytes after a 90-byte hole */
        seg(t, 0, 101 + i * 100, 1, A, pattern + 100 + i * 100, 100);
    const struct ph_tcpreasm_stats *st = ph_tcpreasm_stats(t);
    assert_true(st->budget_hits > 0);
    assert_true(st->max_memory_used <= 10000);
    assert_int_equal(k[0].gaps, 1);
    assert_int_equal(k[0].gap_len[0], 90);
    assert_int_equal(k[0].next, 12100);
    assert_true(st->max_window_used <= 10000 / 4);
    ph_tcpreasm_finish(t, 9);
    ph_tcpreasm_destroy(t);
    /* without skip_gaps: the direction ends at its hole */
    struct rec r;
    struct ph_tcpreasm_limits lim = {.max_memory = 10000};
    t = mk(&r, &lim);
    handshake(t, 0, 0);
    seg(t, 0, 1, 1, A, pattern, 10);
    for (uint32_t i = 0; i < 120; i++)
        seg(t, 0, 101 + i * 100, 1, A, pattern + 100 + i * 100, 100);
    assert_int_equal(r.s[1][0].why, PH_TCP_END_LIMIT);
    assert_true(ph_tcpreasm_stats(t)->max_memory_used <= 10000);
    ph_tcpreasm_finish(t, 9);
    assert_true(r.info[1].st[0].discarded > 0);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

/* An in-order segment that runs past the first buffered segment: its tail
 * is delivered after the drain, never buffered outside the budget (found
 * by fuzz_reasm: memory used went past max_memory). */
static void test_in_order_tail_within_budget(void **state)
{
    (void)state;
    struct rec r;
    struct ph_tcpreasm_limits lim = {.max_memory = 1000};
    ph_tcpreasm *t = mk(&r, &lim);
    handshake(t, 0, 0);
    seg(t, 0, 501, 1, A, pattern + 500, 100); /* buffered: 100 of 1000 */
    seg(t, 0, 1, 1, A, pattern, 1500);         /* in order, covers it, 900 past it */
    const struct ph_tcpreasm_stats *st = ph_tcpreasm_stats(t);
    assert_int_equal(st->max_memory_used, 100);
    assert_int_equal(st->budget_hits, 0);
    assert_int_equal(r.s[1][0].len, 1500);
    assert_memory_equal(r.s[1][0].buf, pattern, 1500);
    assert_false(r.s[1][0].ended);
    ph_tcpreasm_finish(t, 9);
    assert_int_equal(r.info[1].st[0].retransmitted, 100);
    assert_int_equal(r.info[1].st[0].out_of_order, 1);
    assert_int_equal(r.info[1].st[0].overlap_conflicts, 0);
    assert_int_equal(r.info[1].st[0].ignored, 0);
    ph_tcpreasm_destroy(t);
    rec_free(&r);
}

/* ---- robustness: random segments must never break the invariants ---- */

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}

struct fuzzrec {
    uint64_t next[1000][2];
    int ended[1000][2];
    uint64_t accounted;       /* bytes + retransmitted + ignored + discarded, at close */
};

static void fz_data(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off,
                    const uint8_t *p, size_t len, uint64_t ts)
{
    (void)ts;
    struct fuzzrec *f = ctx;
    assert_true(c->id < 1000);
    assert_int_equal(f->ended[c->id][dir], 0);
    assert_int_equal(off, f->next[c->id][dir]);
    /* data is the pattern at its sequence offset: check it is some slice */
    assert_non_null(p);
    f->next[c->id][dir] += len;
}

static void fz_gap(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off, uint64_t len,
                   uint64_t ts)
{
    (void)ts;
    struct fuzzrec *f = ctx;
    assert_int_equal(f->ended[c->id][dir], 0);
    assert_int_equal(off, f->next[c->id][dir]);
    f->next[c->id][dir] += len;
}

static void fz_end(void *ctx, struct ph_tcp_conn_info *c, int dir, enum ph_tcp_end why,
                   uint64_t off, uint64_t ts)
{
    (void)why;
    (void)ts;
    struct fuzzrec *f = ctx;
    assert_int_equal(f->ended[c->id][dir], 0);
    f->ended[c->id][dir] = 1;
    assert_int_equal(off, f->next[c->id][dir]);
}

static void fz_close(void *ctx, struct ph_tcp_conn_info *c)
{
    struct fuzzrec *f = ctx;
    for (int d = 0; d < 2; d++) {
        const struct ph_tcp_dir_stats *st = &c->st[d];
        f->accounted += st->bytes + st->retransmitted + st->ignored + st->discarded;
        assert_int_equal(st->bytes + st->missing, c->st[d].end_offset);
    }
}

/* Random segments on a few 4-tuples, in both gap modes: the invariants
 * hold (contiguous offsets, one end per direction) and every payload byte
 * fed is accounted for once the capture is finished. */
static void random_segments(bool skip)
{
    static struct fuzzrec f;
    memset(&f, 0, sizeof f);
    struct ph_tcpreasm_cb cb = {NULL, fz_data, fz_end, fz_close, fz_gap};
    struct ph_tcpreasm_limits lim = {.max_buffer = 20000, .max_conns = 50, .retain = 1000,
                                     .skip_gaps = skip, .max_memory = 300000};
    ph_tcpreasm *t = NULL;
    assert_int_equal(ph_tcpreasm_create(&t, &cb, &f, &lim), PH_OK);
    struct ph_endpoint e[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ph_endpoint_parse("127.0.0.1:1", &e[i]), PH_OK);
        e[i].port = (uint16_t)(1 + i % 2);
        e[i].addr[3] = (uint8_t)(1 + i / 2);
    }
    uint32_t base = rnd();
    uint64_t fed = 0;
    for (int i = 0; i < 200000 && ph_tcpreasm_stats(t)->conns < 990; i++) {
        int a = (int)(rnd() % 4), b = (int)(rnd() % 4);
        struct ph_tcp_packet p;
        memset(&p, 0, sizeof p);
        p.src = e[a];
        p.dst = e[b];
        uint32_t r = rnd();
        p.seq = (r & 1) ? rnd() : base + rnd() % 5000;
        p.ack = (r & 2) ? rnd() : base + rnd() % 5000;
        p.flags = (uint8_t)(rnd() % 4 == 0 ? rnd() : PH_TCP_ACK);
        p.payload_len = rnd() % 3 ? rnd() % 1500 : 0;
        p.payload = pattern + rnd() % 1000;
        p.ts_ns = (uint64_t)i;
        fed += p.payload_len;
        assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
    }
    ph_tcpreasm_finish(t, 0);
    const struct ph_tcpreasm_stats *st = ph_tcpreasm_stats(t);
    assert_int_equal(fed, f.accounted + st->late_bytes);
    assert_true(st->max_memory_used <= 300000);
    assert_true(st->max_window_used <= 300000 / 4);
    ph_tcpreasm_destroy(t);
}

static void test_random_segments(void **state)
{
    (void)state;
    random_segments(false);
    random_segments(true);
}

/* ---- agreement with tshark ---- */

static char tmpdir[64];

/* tshark is a test dependency (make deps installs it): without it the
 * comparisons fail, they are not skipped. */
static void need_tshark(void)
{
    int rc = system("tshark --version >/dev/null 2>&1");
    if (rc != 0)
        fail_msg("tshark does not run (`tshark --version`: status %d): install it (make deps)", rc);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Parse `tshark -q -z follow,tcp,raw,N`: node-1 lines start with a tab.
 * nodes (may be NULL) receives "Node 0" and "Node 1" as host:port. */
static void tshark_follow(const char *path, int stream, struct stream out[2],
                          char nodes[2][PH_ENDPOINT_STRLEN])
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "tshark -r '%s' -q -z follow,tcp,raw,%d 2>/dev/null", path, stream);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int seps = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[0] == '=') {
            seps++;
            continue;
        }
        if (seps == 1 && nodes && (strncmp(line, "Node 0: ", 8) == 0 ||
                                   strncmp(line, "Node 1: ", 8) == 0)) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            snprintf(nodes[line[5] - '0'], PH_ENDPOINT_STRLEN, "%s", line + 8);
            continue;
        }
        if (seps != 1 || strncmp(line, "Follow:", 7) == 0 || strncmp(line, "Filter:", 7) == 0 ||
            strncmp(line, "Node ", 5) == 0)
            continue;
        int dir = line[0] == '\t';
        struct stream *s = &out[dir];
        for (char *p = line + dir; hexval(p[0]) >= 0 && hexval(p[1]) >= 0; p += 2) {
            if (s->len == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->buf = realloc(s->buf, s->cap);
                assert_non_null(s->buf);
            }
            s->buf[s->len++] = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
        }
    }
    free(line);
    assert_int_equal(pclose(f), 0);
}

static void test_agrees_with_tshark(void **state)
{
    (void)state;
    need_tshark();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ph_reasm_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof path, "%s/follow.pcap", tmpdir);
    struct ph_pcapw_opts o = {.mss = 700};
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, path, &o), PH_OK);
    struct ph_endpoint cl, sv;
    assert_int_equal(ph_endpoint_parse("127.0.0.1:40312", &cl), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:9735", &sv), PH_OK);
    ph_pcapw_conn *c;
    struct ph_pcapw_conn_opts co = {.set_isn = true, .isn_client = 0xfffff000u, .isn_server = 42};
    uint64_t ts = 1700000000000000000ull;
    assert_int_equal(ph_pcapw_conn_open(w, &cl, &sv, ts, &co, &c), PH_OK);
    size_t sent[2] = {0, 0};
    for (int round = 0; round < 40; round++) {
        int dir = round % 3 == 2;
        size_t len = 100 + (size_t)round * 97;
        if (round % 5 == 4) {
            /* three segments written out of order, one of them twice and
             * one overlapping (same bytes) */
            uint32_t s0 = ph_pcapw_next_seq(c, dir);
            const uint8_t *d = pattern + sent[dir];
            assert_int_equal(ph_pcapw_segment(c, dir, s0 + 600, A, d + 600, 400, ++ts), PH_OK);
            assert_int_equal(ph_pcapw_segment(c, dir, s0, A, d, 300, ++ts), PH_OK);
            assert_int_equal(ph_pcapw_segment(c, dir, s0, A, d, 300, ++ts), PH_OK);
            assert_int_equal(ph_pcapw_segment(c, dir, s0 + 200, A, d + 200, 400, ++ts), PH_OK);
            ph_pcapw_set_next_seq(c, dir, s0 + 1000);
            sent[dir] += 1000;
        } else {
            assert_int_equal(ph_pcapw_data(c, dir, pattern + sent[dir], len, ++ts), PH_OK);
            sent[dir] += len;
        }
    }
    assert_int_equal(ph_pcapw_conn_close(c, 0, ++ts), PH_OK);
    assert_int_equal(ph_pcapw_close(w), PH_OK);

    struct stream ts_out[2];
    memset(ts_out, 0, sizeof ts_out);
    tshark_follow(path, 0, ts_out, NULL);

    struct rec r;
    ph_tcpreasm *t = mk(&r, NULL);
    ph_capture *cap = NULL;
    assert_int_equal(ph_capture_open(&cap, path, NULL, NULL), PH_OK);
    struct ph_tcp_packet p;
    while (ph_capture_next(cap, &p) == PH_OK)
        assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
    ph_capture_close(cap);
    ph_tcpreasm_finish(t, 0);
    for (int d = 0; d < 2; d++) {
        assert_int_equal(r.s[1][d].len, sent[d]);
        assert_memory_equal(r.s[1][d].buf, pattern, sent[d]);
        assert_int_equal(ts_out[d].len, r.s[1][d].len);
        assert_memory_equal(ts_out[d].buf, r.s[1][d].buf, sent[d]);
        assert_int_equal(r.s[1][d].why, PH_TCP_END_FIN);
        free(ts_out[d].buf);
    }
    ph_tcpreasm_destroy(t);
    rec_free(&r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* Every capture bundled under captures/ (there must be some): each TCP
 * stream as tshark follows it equals ours; where ours stopped at a gap, ours
 * is a prefix of tshark's. */
#define MAX_STREAMS 64
struct bundled {
    struct stream s[MAX_STREAMS + 1][2];
    struct ph_tcp_conn_info info[MAX_STREAMS + 1];
};

static void b_data(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off,
                   const uint8_t *p, size_t len, uint64_t ts)
{
    (void)off;
    (void)ts;
    struct bundled *b = ctx;
    if (c->id > MAX_STREAMS)
        return;
    struct stream *s = &b->s[c->id][dir];
    if (s->len + len > s->cap) {
        s->cap = (s->len + len) * 2;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, p, len);
    s->len += len;
}

static void b_close(void *ctx, struct ph_tcp_conn_info *c)
{
    struct bundled *b = ctx;
    if (c->id <= MAX_STREAMS)
        b->info[c->id] = *c;
}

static void compare_with_tshark(const char *path)
{
    static struct bundled b;
    memset(&b, 0, sizeof b);
    struct ph_tcpreasm_cb cb = {NULL, b_data, NULL, b_close, NULL};
    ph_tcpreasm *t = NULL;
    assert_int_equal(ph_tcpreasm_create(&t, &cb, &b, NULL), PH_OK);
    ph_capture *cap = NULL;
    assert_int_equal(ph_capture_open(&cap, path, NULL, NULL), PH_OK);
    struct ph_tcp_packet p;
    while (ph_capture_next(cap, &p) == PH_OK)
        assert_int_equal(ph_tcpreasm_packet(t, &p), PH_OK);
    ph_capture_close(cap);
    ph_tcpreasm_finish(t, 0);
    uint64_t conns = ph_tcpreasm_stats(t)->conns;
    ph_tcpreasm_destroy(t);
    bool used[MAX_STREAMS + 1] = {false};
    int compared = 0;
    for (int k = 0; k < MAX_STREAMS; k++) {
        struct stream ts_out[2];
        char nodes[2][PH_ENDPOINT_STRLEN] = {"", ""};
        memset(ts_out, 0, sizeof ts_out);
        tshark_follow(path, k, ts_out, nodes);
        if (strcmp(nodes[0], ":0") == 0 || !nodes[0][0])
            break;
        /* our connection with these endpoints, first not yet matched */
        uint64_t id = 0;
        int flip = 0;
        for (uint64_t i = 1; i <= conns && i <= MAX_STREAMS && !id; i++) {
            char a[PH_ENDPOINT_STRLEN], z[PH_ENDPOINT_STRLEN];
            ph_endpoint_format(&b.info[i].ep[0], a);
            ph_endpoint_format(&b.info[i].ep[1], z);
            if (used[i])
                continue;
            if (!strcmp(a, nodes[0]) && !strcmp(z, nodes[1]))
                id = i;
            else if (!strcmp(a, nodes[1]) && !strcmp(z, nodes[0]))
                id = i, flip = 1;
        }
        if (id) {
            used[id] = true;
            for (int d = 0; d < 2; d++) {
                const struct stream *ours = &b.s[id][d ^ flip];
                const struct ph_tcp_dir_stats *st = &b.info[id].st[d ^ flip];
                bool cut = st->end == PH_TCP_END_GAP || st->end == PH_TCP_END_LIMIT;
                if (!cut)
                    assert_int_equal(ours->len, ts_out[d].len);
                assert_true(ours->len <= ts_out[d].len);
                if (ours->len)
                    assert_memory_equal(ours->buf, ts_out[d].buf, ours->len);
            }
            compared++;
        } else {
            /* tshark counts streams we ignore (no data, no SYN) */
            assert_int_equal(ts_out[0].len + ts_out[1].len, 0);
        }
        free(ts_out[0].buf);
        free(ts_out[1].buf);
    }
    for (int i = 0; i <= MAX_STREAMS; i++) {
        free(b.s[i][0].buf);
        free(b.s[i][1].buf);
    }
    if (compared == 0)
        fail_msg("%s: tshark followed no TCP stream to compare with ours", path);
    fprintf(stderr, "  %s: %d TCP streams equal to tshark's\n", path, compared);
}

static void test_bundled_captures_agree_with_tshark(void **state)
{
    (void)state;
    glob_t g;
    need_tshark();
    int rc = glob("captures/*.pcap", 0, NULL, &g);
    if (rc != 0)
        fail_msg("no captures/*.pcap (glob status %d): run the tests from the repository root", rc);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        /* tshark stops with an error at a file cut inside a record: it
         * has no stream to compare with there. */
        if (strstr(g.gl_pathv[i], "truncated"))
            continue;
        compare_with_tshark(g.gl_pathv[i]);
    }
    globfree(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_fin),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_retransmit_and_overlaps),
        cmocka_unit_test(test_mid_stream),
        cmocka_unit_test(test_synack_without_syn),
        cmocka_unit_test(test_gap_acked),
        cmocka_unit_test(test_gap_reordered_ack_is_not_a_gap),
        cmocka_unit_test(test_gap_at_end_of_capture),
        cmocka_unit_test(test_buffer_limit),
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_huge_segments),
        cmocka_unit_test(test_rst),
        cmocka_unit_test(test_reuse_and_syn_retransmit),
        cmocka_unit_test(test_conn_eviction),
        cmocka_unit_test(test_eviction_flood),
        cmocka_unit_test(test_skip_gaps),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_in_order_tail_within_budget),
        cmocka_unit_test(test_random_segments),
        cmocka_unit_test(test_agrees_with_tshark),
        cmocka_unit_test(test_bundled_captures_agree_with_tshark),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
