/* Lightning sessions in captures: real BOLT 8 sessions made in-process with
 * ph_noise, written with pcapwrite (segments split, coalesced, reordered,
 * duplicated, lost) by tests/support/lngen, read back and decrypted with a
 * key log.
 *
 * `test_lnsession --write-fixtures DIR` writes the captures that
 * tests/e2e/dump.sh and realworld.sh run `peerheap dump` on (see
 * write_fixtures() and write_realworld()). */
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

#include "capgen.h"
#include "capture.h"
#include "keylog.h"
#include "lngen.h"
#include "lnsession.h"
#include "noise.h"
#include "pcapwrite.h"

/* ---- decoding ---- */

struct check {
    struct expect *exp;
    size_t got[2];
    uint64_t last_ts;
    uint64_t session;
    bool multi;               /* several sessions: per-session checks off */
    int src_port[2];
    bool skips;               /* messages may be missing (resynchronised):
                                 each must equal a later expected one */
    size_t next_exp[2];       /* with skips: the next expected index */
    size_t first_exp[2];      /* with skips: index of the first one seen */
};

static void check_cb(void *ctx, const struct ph_ln_record *r)
{
    struct check *c = ctx;
    if (!c->skips) /* damaged captures may carry damaged timestamps */
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
    if (c->exp && c->skips) {
        size_t j = c->next_exp[d];
        while (j < c->exp->n[d] && (c->exp->m[d][j].len != r->len ||
                                    memcmp(c->exp->m[d][j].p, r->msg, r->len) != 0))
            j++;
        if (j == c->exp->n[d] && c->multi) /* another connection made of damaged packets */
            for (j = 0; j < c->exp->n[d]; j++)
                if (c->exp->m[d][j].len == r->len && !memcmp(c->exp->m[d][j].p, r->msg, r->len))
                    break;
        if (j == c->exp->n[d])
            fail_msg("message %zu of direction %d was never sent", c->got[d], d);
        if (!c->got[d])
            c->first_exp[d] = j;
        c->next_exp[d] = j + 1;
    } else if (c->exp) {
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

/* A key missing after a rotation: that key period is lost, decryption
 * resumes at the next logged key's first frame (message 1000). */
static void test_missing_rotation_key(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    const char *path = tmp_path("norot.pcap");
    make_capture(path, &g, &exp, 20, 1100, true, true, 1000, -1, 0, true);
    char *text = keylog_text(&g.keys, 1, 1, false); /* responder's 2nd key */
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp, .skips = true};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(chk.got[0], 20);
    assert_int_equal(chk.got[1], 600);
    assert_int_equal(chk.next_exp[1], 1100); /* 0..499, then 1000..1099 */
    assert_true(has_problem(s, PH_LN_PROB_NO_NEXT_KEY,
                            "no key for 127.0.0.1:9735 -> 127.0.0.1:40312 after rotation 1 "
                            "(message 500"));
    assert_true(has_problem(s, PH_LN_PROB_RESYNC,
                            "127.0.0.1:9735 -> 127.0.0.1:40312: decryption resumed at stream "
                            "offset"));
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_int_equal(st->resyncs[1], 1);
    assert_int_equal(st->keys[1], 2);
    assert_false(st->complete[1]);
    assert_true(st->undecrypted[1] > 0);
    assert_int_equal(st->handshake_bytes[1] + st->frame_bytes[1] + st->undecrypted[1],
                     st->stream_bytes[1]);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
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
                            "bad MAC on the length header of the first frame under key 1 in "
                            "127.0.0.1:40312 -> 127.0.0.1:9735 at stream offset 116: that "
                            "frame's MAC is in the key log but its key does not authenticate "
                            "it, whatever its two length bytes: the key log's key for it is "
                            "wrong"));
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
        struct check chk = {.exp = &exp, .multi = true, .skips = true};
        ph_lnsessions *s = NULL;
        assert_int_equal(ph_lnsession_create(&s, kl, NULL, check_cb, &chk), PH_OK);
        /* A damaged capture may end in an error; check_cb has seen
         * every message delivered before it, which is what is checked. */
        ph_ignore_err(ph_lnsession_run(s, c));
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

/* ---- damage: resynchronisation, blame, accounting ---- */

/* Every session's stream bytes add up: handshake + frames + undecrypted. */
static void check_accounting(const ph_lnsessions *s)
{
    for (size_t i = 0; i < ph_lnsession_count(s); i++) {
        const struct ph_ln_session_stats *st = ph_lnsession_stats(s, i);
        for (int d = 0; d < 2; d++)
            assert_int_equal(st->handshake_bytes[d] + st->frame_bytes[d] + st->undecrypted[d],
                             st->stream_bytes[d]);
    }
}

/* The same session clean (exp, keys) and damaged (path). */
static char *damaged_session(const char *path, struct expect *exp, size_t n0, size_t n1,
                             struct gen *damage, void (*place)(struct gen *, const struct expect *))
{
    uint64_t saved_rng = lngen_rng, saved_clock = lngen_clock;
    struct gen g;
    make_damaged(tmp_path("clean.pcap"), &g, exp, n0, n1, NULL);
    char *text = keylog_text(&g.keys, -1, -1, false);
    place(damage, exp);
    lngen_rng = saved_rng;
    lngen_clock = saved_clock;
    make_damaged(path, &g, NULL, n0, n1, damage);
    return text;
}

static void place_body(struct gen *d, const struct expect *e)
{
    d->corrupt_dir = 1;
    d->corrupt_at = msg_offset(e, 1, 0) + PH_NOISE_HDR_LEN + 2; /* message 0's body */
}

static void place_header(struct gen *d, const struct expect *e)
{
    d->corrupt_dir = 1;
    d->corrupt_at = msg_offset(e, 1, 5) + 1; /* message 5's length bytes */
}

/* A flipped bit in a body whose length header authenticated is blamed on
 * the capture (not the key log), and costs that message only. Before, it
 * read "the key log's key for this frame is wrong" and the direction
 * stopped. */
static void test_blame_body(void **state)
{
    (void)state;
    struct expect exp = {0};
    struct gen damage = {.corrupt_dir = -1};
    const char *path = tmp_path("body.pcap");
    char *text = damaged_session(path, &exp, 30, 40, &damage, place_body);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp, .skips = true, .next_exp = {0, 1}};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(chk.got[0], 30);
    assert_int_equal(chk.got[1], 39);
    assert_int_equal(chk.next_exp[1], 40);
    assert_true(has_problem(s, PH_LN_PROB_BAD_MAC,
                            "session 1: bad MAC on the body of message 0 in 127.0.0.1:9735 -> "
                            "127.0.0.1:40312 (frame at stream offset 50, "));
    assert_true(has_problem(s, PH_LN_PROB_BAD_MAC,
                            "its length header authenticated under key 1, so the key is right "
                            "and the frame's bytes are damaged in the capture; that message is "
                            "lost"));
    assert_false(has_problem(s, PH_LN_PROB_BAD_MAC, "key log's key"));
    assert_int_equal(ph_lnsession_problem_count(s), 1);
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_int_equal(st->lost_messages[1], 1);
    assert_int_equal(st->undecrypted[1], exp.m[1][0].len + PH_NOISE_OVERHEAD);
    assert_false(st->complete[1]);
    check_accounting(s);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

/* A damaged length header loses the frame boundary: named as such, then
 * the stream is searched and decryption resumes at the next key (message
 * 500 of the responder's 1300). */
static void test_blame_header_and_resync(void **state)
{
    (void)state;
    struct expect exp = {0};
    struct gen damage = {.corrupt_dir = -1};
    const char *path = tmp_path("header.pcap");
    char *text = damaged_session(path, &exp, 20, 1300, &damage, place_header);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp, .skips = true};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(chk.got[1], 5 + 800);
    char want[200];
    snprintf(want, sizeof want,
             "bad MAC on the length header of message 5 in 127.0.0.1:9735 -> 127.0.0.1:40312 "
             "at stream offset %llu (key 1 had authenticated 5 frames)",
             (unsigned long long)msg_offset(&exp, 1, 5));
    assert_true(has_problem(s, PH_LN_PROB_BAD_MAC, want));
    snprintf(want, sizeof want, "decryption resumed at stream offset %llu (the first frame "
             "under a logged key)", (unsigned long long)msg_offset(&exp, 1, 500));
    assert_true(has_problem(s, PH_LN_PROB_RESYNC, want));
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_int_equal(st->undecrypted[1], msg_offset(&exp, 1, 500) - msg_offset(&exp, 1, 5));
    check_accounting(s);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

static uint64_t mid_cut[2];

static void place_midstream(struct gen *d, const struct expect *e)
{
    d->midstream = true;
    d->skip_before[0] = msg_offset(e, 0, 3) + 7;   /* inside the initiator's 4th frame */
    d->skip_before[1] = msg_offset(e, 1, 260) + 9; /* inside the responder's 261st */
    mid_cut[0] = d->skip_before[0];
    mid_cut[1] = d->skip_before[1];
}

/* A capture that begins mid-connection (no SYN, no acts) decrypts from the
 * first logged key's frame on: the responder from message 500, and the
 * problem says from which offset and how much before could not be. The
 * initiator (one key, its first frame not captured) is reported whole.
 * Before: "not a Lightning session ... began mid-connection", nothing. */
static void test_midstream_resync(void **state)
{
    (void)state;
    struct expect exp = {0};
    struct gen damage = {.corrupt_dir = -1};
    const char *path = tmp_path("midstream.pcap");
    char *text = damaged_session(path, &exp, 20, 1300, &damage, place_midstream);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp, .skips = true, .next_exp = {0, 500}};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(ph_lnsession_count(s), 1);
    assert_int_equal(chk.got[0], 0);
    assert_int_equal(chk.got[1], 800);
    assert_int_equal(chk.next_exp[1], 1300); /* 500..1299, each authentic */
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_false(st->handshake_seen);
    assert_true(st->roles_guessed);
    assert_int_equal(st->initiator.port, 40312);
    /* stream offsets count from the first byte captured */
    uint64_t at = msg_offset(&exp, 1, 500) - mid_cut[1];
    assert_int_equal(st->first_frame[1], at);
    char want[240];
    snprintf(want, sizeof want,
             "session 1: 127.0.0.1:9735 -> 127.0.0.1:40312: the handshake was not captured: "
             "decrypted from stream offset %llu on (the first frame under a logged key); the "
             "%llu bytes before could not be decrypted",
             (unsigned long long)at, (unsigned long long)at);
    assert_true(has_problem(s, PH_LN_PROB_MIDSTREAM, want));
    assert_true(has_problem(s, PH_LN_PROB_UNDECRYPTED,
                            "127.0.0.1:40312 -> 127.0.0.1:9735: the handshake was not captured "
                            "and no frame of a logged key is in its"));
    assert_false(has_problem(s, PH_LN_PROB_NOT_LIGHTNING, NULL));
    check_accounting(s);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

static void place_acts_lost(struct gen *d, const struct expect *e)
{
    (void)e;
    d->skip_before[0] = 50; /* act 1 */
    d->skip_before[1] = 50; /* act 2 */
}

/* Acts 1 and 2 lost, the SYN seen: every message still decrypts (found by
 * its key's MAC), the roles come from the SYN; without a key log every
 * byte is accounted for. Before: "no Lightning session found (TCP
 * connections seen: 1)" and nothing about the bytes. */
static void test_acts_lost(void **state)
{
    (void)state;
    struct expect exp = {0};
    struct gen damage = {.corrupt_dir = -1};
    const char *path = tmp_path("actslost.pcap");
    char *text = damaged_session(path, &exp, 30, 40, &damage, place_acts_lost);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(chk.got[0], 30);
    assert_int_equal(chk.got[1], 40);
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    assert_false(st->handshake_seen);
    assert_false(st->roles_guessed);
    assert_int_equal(st->missing[0], 50);
    assert_int_equal(st->missing[1], 50);
    assert_int_equal(st->undecrypted[0], 66); /* act 3 */
    assert_int_equal(st->undecrypted[1], 0);
    check_accounting(s);
    ph_lnsession_destroy(s);
    /* no key log: the connection's bytes each way, and what is missing */
    memset(&chk, 0, sizeof chk);
    s = decode(path, NULL, &chk, NULL);
    print_problems(s);
    assert_int_equal(ph_lnsession_count(s), 0);
    uint64_t sent = msg_offset(&exp, 0, 30) - 50, recvd = msg_offset(&exp, 1, 40) - 50;
    char want[200];
    snprintf(want, sizeof want, "%llu bytes (and 50 missing from the capture) sent, %llu bytes "
             "(and 50 missing from the capture) received",
             (unsigned long long)sent, (unsigned long long)recvd);
    assert_true(has_problem(s, PH_LN_PROB_NOT_LIGHTNING, want));
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

/* A gap early in a long direction: reported, then decryption resumes at
 * the next key's first frame. */
static void test_gap_resync(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    const char *path = tmp_path("gapresync.pcap");
    make_capture(path, &g, &exp, 20, 1300, false, true, 1400, 1, 5000, true);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp, .skips = true};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    print_problems(s);
    assert_int_equal(chk.next_exp[1], 1300);
    size_t before = 0;
    while (msg_offset(&exp, 1, before + 1) <= 5000)
        before++;
    assert_int_equal(chk.got[1], before + 800);
    const struct ph_ln_session_stats *st = ph_lnsession_stats(s, 0);
    char want[160];
    snprintf(want, sizeof want, "gap in 127.0.0.1:9735 -> 127.0.0.1:40312 at stream offset "
             "5000, %llu bytes missing", (unsigned long long)st->missing[1]);
    assert_true(has_problem(s, PH_LN_PROB_GAP, want));
    assert_true(st->missing[1] > 0 && st->missing[1] <= 100);
    snprintf(want, sizeof want, "decryption resumed at stream offset %llu",
             (unsigned long long)msg_offset(&exp, 1, 500));
    assert_true(has_problem(s, PH_LN_PROB_RESYNC, want));
    check_accounting(s);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

/* The session spread over three interfaces of three link types (as
 * `dumpcap -i any -i eth0` or mergecap write), in both byte orders:
 * every message decrypts. Before: zero packets read ("capture corrupt
 * after record 0"). */
static void test_multi_interface_session(void **state)
{
    (void)state;
    struct gen g;
    struct expect exp = {0};
    char src[200];
    snprintf(src, sizeof src, "%s", tmp_path("mi-src.pcap"));
    make_capture(src, &g, &exp, 60, 90, true, true, 1400, -1, 0, true);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    enum capgen_wrap kinds[3] = {CW_SLL2, CW_ETH, CW_RAW};
    uint32_t snaplens[3] = {262144, 262144, 262144};
    for (int be = 0; be < 2; be++) {
        char path[200];
        snprintf(path, sizeof path, "%s", tmp_path("multi.pcapng"));
        capgen_pcap_to_ng(src, path, kinds, snaplens, 3, be);
        struct check chk = {.exp = &exp};
        ph_lnsessions *s = decode(path, kl, &chk, NULL);
        print_problems(s);
        assert_int_equal(ph_lnsession_problem_count(s), 0);
        assert_int_equal(chk.got[0], 60);
        assert_int_equal(chk.got[1], 90);
        ph_lnsession_destroy(s);
    }
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

/* 70,000 connections (more than the table holds), then a session: the
 * session is found and decrypted; the eviction is said first. With data
 * on the flood's connections, the "not a Lightning session" lines are
 * capped but the eviction line stays first. Before: "0 sessions". */
static void flood_then_session(bool with_data)
{
    const char *path = tmp_path("flood.pcap");
    ph_pcapw *w;
    struct ph_pcapw_opts o = {.no_acks = true};
    assert_int_equal(ph_pcapw_open(&w, path, &o), PH_OK);
    struct ph_endpoint a, b;
    assert_int_equal(ph_endpoint_parse("10.1.0.0:40000", &a), PH_OK);
    assert_int_equal(ph_endpoint_parse("10.2.0.1:80", &b), PH_OK);
    for (uint32_t i = 0; i < 70000; i++) {
        a.addr[2] = (uint8_t)(i >> 8);
        a.addr[3] = (uint8_t)i;
        a.addr[1] = (uint8_t)(1 + (i >> 16));
        ph_pcapw_conn *c;
        assert_int_equal(ph_pcapw_conn_open(w, &a, &b, lngen_clock++, NULL, &c), PH_OK);
        if (with_data)
            assert_int_equal(ph_pcapw_data(c, 0, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18,
                                           lngen_clock++), PH_OK);
    }
    struct gen g;
    struct expect exp = {0};
    gen_open(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", &exp);
    gen_traffic(&g, 10, 20);
    gen_close(&g, true);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    char *text = keylog_text(&g.keys, -1, -1, false);
    ph_keylog *kl = keylog_of(text);
    struct check chk = {.exp = &exp};
    ph_lnsessions *s = decode(path, kl, &chk, NULL);
    assert_int_equal(ph_lnsession_count(s), 1);
    assert_int_equal(chk.got[0], 10);
    assert_int_equal(chk.got[1], 20);
    const struct ph_ln_problem *p0 = ph_lnsession_problem(s, 0);
    assert_non_null(p0);
    fprintf(stderr, "  first problem: %s\n", p0->text);
    if (with_data) {
        assert_int_equal(p0->kind, PH_LN_PROB_CAPTURE);
        assert_non_null(strstr(p0->text, "TCP connections evicted from the connection table"));
        assert_true(ph_lnsession_problems_dropped(s) > 0);
    } else {
        assert_int_equal(p0->kind, PH_LN_PROB_NOTE);
        assert_non_null(strstr(p0->text, "TCP connections that carried no data"));
        assert_int_equal(ph_lnsession_problem_count(s), 1);
    }
    assert_true(ph_lnsession_reasm_stats(s)->max_tracked <= 65536);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(kl);
    free(text);
    expect_free(&exp);
}

static void test_flood_then_session(void **state)
{
    (void)state;
    flood_then_session(false);
    flood_then_session(true);
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

/* An Ethernet/IPv4 TCP SYN from 10.a.b.c:40000 to 10.9.9.9:9735. */
static size_t syn_frame(uint8_t *f, uint32_t i)
{
    memset(f, 0, 54);
    f[0] = 2;
    f[6] = 2;
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 10;
    ip[13] = (uint8_t)(1 + (i >> 16));
    ip[14] = (uint8_t)(i >> 8);
    ip[15] = (uint8_t)i;
    ip[16] = 10;
    ip[17] = ip[18] = ip[19] = 9;
    uint8_t *t = ip + 20;
    t[0] = 40000 >> 8;
    t[1] = 40000 & 0xff;
    t[2] = 9735 >> 8;
    t[3] = 9735 & 0xff;
    t[7] = 1;
    t[12] = 0x50;
    t[13] = PH_TCP_SYN;
    return 54;
}

/* `n` half-open connections (a SYN scan), or connections that carry a few
 * bytes each, then the session of `session_pcap`: a capture larger than
 * the connection table. */
static void write_flood(const char *out, const char *session_pcap, uint32_t n, bool with_data)
{
    struct capgen_rec *r;
    size_t nr = capgen_read_pcap(session_pcap, &r);
    capgen_pcap *w = capgen_pcap_open(out, 1, 262144, 0);
    uint8_t f[80];
    uint64_t ts = r[0].ts_ns - 1000000000ull;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = syn_frame(f, i);
        if (with_data) { /* an ACK with 10 bytes of payload instead */
            f[14 + 20 + 13] = PH_TCP_ACK | PH_TCP_PSH;
            memcpy(f + 54, "GET / HTTP", 10);
            f[14 + 3] = 50;
            len = 64;
        }
        capgen_pcap_rec(w, ts + i, f, (uint32_t)len, (uint32_t)len);
    }
    for (size_t k = 0; k < nr; k++)
        capgen_pcap_rec(w, r[k].ts_ns, r[k].data, r[k].len, r[k].len);
    capgen_pcap_close(w);
    capgen_free_recs(r, nr);
}

/* Fixtures for tests/e2e/realworld.sh (issue 12): one session in every
 * form a user meets it. */
static int write_realworld(const char *dir)
{
    char path[512], src[512], keyname[600];
    struct gen g;
    struct expect exp = {0};
    snprintf(src, sizeof src, "%s/rw.pcap", dir);
    make_capture(src, &g, &exp, 30, 700, true, true, 1400, -1, 0, true);
    char *keys = keylog_text(&g.keys, -1, -1, false);
    write_text(dir, "rw.pcap.keys", keys);
    char counts[64];
    snprintf(counts, sizeof counts, "%zu %zu\n", exp.n[0], exp.n[1]);
    write_text(dir, "rw.counts", counts);
    expect_free(&exp);
    /* several interfaces of different link types and snapshot lengths */
    enum capgen_wrap kinds[3] = {CW_SLL2, CW_ETH, CW_RAW};
    uint32_t snaps[3] = {262144, 65535, 262144};
    snprintf(path, sizeof path, "%s/multi.pcapng", dir);
    capgen_pcap_to_ng(src, path, kinds, snaps, 3, false);
    snprintf(path, sizeof path, "%s/multi-be.pcapng", dir);
    capgen_pcap_to_ng(src, path, kinds, snaps, 3, true);
    /* link types and tunnels, and VLAN tags */
    static const struct {
        enum capgen_wrap w;
        const char *name;
    } wraps[] = {{CW_NFLOG, "nflog"}, {CW_PKTAP, "pktap"}, {CW_PPP, "ppp"},
                 {CW_PPPOE, "pppoe"}, {CW_GRE_ETH, "gre"}, {CW_ERSPAN2, "erspan"},
                 {CW_VXLAN, "vxlan"}, {CW_GENEVE, "geneve"}, {CW_IPIP, "ipip"},
                 {CW_VLAN, "vlan"}};
    for (size_t i = 0; i < sizeof wraps / sizeof wraps[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.pcap", dir, wraps[i].name);
        capgen_pcap_rewrap(src, path, wraps[i].w, 0);
    }
    /* 200,000 half-open connections, then the session; 70,000 that carry
     * data, then the session */
    snprintf(path, sizeof path, "%s/flood.pcap", dir);
    write_flood(path, src, 200000, false);
    snprintf(path, sizeof path, "%s/flooddata.pcap", dir);
    write_flood(path, src, 70000, true);
    free(keys);

    /* the same session captured from the middle, with its acts lost, with
     * a flipped bit in a body */
    struct {
        const char *name;
        struct gen damage;
    } dmg[] = {
        {"midstream.pcap", {.corrupt_dir = -1, .midstream = true, .skip_before = {300, 9000}}},
        {"actslost.pcap", {.corrupt_dir = -1, .skip_before = {50, 50}}},
        {"body.pcap", {.corrupt_dir = 1, .corrupt_at = 50 + 18 + 3}},
    };
    for (size_t i = 0; i < sizeof dmg / sizeof dmg[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, dmg[i].name);
        lngen_rng = 0x5eed;
        ph_pcapw *w;
        if (ph_pcapw_open(&w, path, NULL) != PH_OK)
            return 1;
        gen_open_opts(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", NULL, &dmg[i].damage);
        gen_traffic_small(&g, 20, 1100);
        gen_close(&g, true);
        if (ph_pcapw_close(w) != PH_OK)
            return 1;
        keys = keylog_text(&g.keys, -1, -1, false);
        snprintf(keyname, sizeof keyname, "%s.keys", dmg[i].name);
        write_text(dir, keyname, keys);
        free(keys);
    }
    return 0;
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
    ph_pcapw_conn *pc;
    if (ph_endpoint_parse("127.0.0.1:50000", &a) != PH_OK ||
        ph_endpoint_parse("127.0.0.1:8080", &b) != PH_OK ||
        ph_pcapw_conn_open(w, &a, &b, 1700000000000000000ull, NULL, &pc) != PH_OK)
        return 1;
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ph_err de = ph_pcapw_data(pc, 0, (const uint8_t *)req, strlen(req), 1700000000000000001ull);
    ph_err ce = ph_pcapw_conn_close(pc, 0, 1700000000000000002ull); /* frees pc either way */
    if (ph_pcapw_close(w) != PH_OK || de || ce)
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (ph_noise_global_init() != PH_OK)
        return 1;
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
        return write_fixtures(argv[2]) || write_realworld(argv[2]);
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
        cmocka_unit_test(test_blame_body),
        cmocka_unit_test(test_blame_header_and_resync),
        cmocka_unit_test(test_midstream_resync),
        cmocka_unit_test(test_acts_lost),
        cmocka_unit_test(test_gap_resync),
        cmocka_unit_test(test_multi_interface_session),
        cmocka_unit_test(test_flood_then_session),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
