/* The replay's remote peers (lib/replay/remote.c) against a real node over
 * the model transport, with a backlog that sends something other than what
 * the remote expects: verification must see a changed frame, a missing
 * frame, a frame that was never captured, and name the first of them. Also
 * the remote set's argument checks, a failed handshake, a stalled remote and
 * the reader rate. Everything runs on a virtual clock: no waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "modelconn.h"
#include "node.h"
#include "noise.h"
#include "ph_test.h"
#include "remote.h"
#include "replayin.h"

#define SAMPLE "captures/mainnet-gossip.lnmsgs"
#define NMSG 12
#define SEC 1000000000ull

static const uint8_t node_priv[32] = {0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
                                      0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
                                      0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41,
                                      0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41};
static const uint8_t remote_priv[32] = {0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52,
                                        0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52,
                                        0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52,
                                        0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52, 0x52};

/* The first NMSG captured messages: what the remote expects. */
static ph_replay_input *captured;
static const uint8_t *cap_msg[NMSG];
static uint32_t cap_len[NMSG];

static int load_sample(void **state)
{
    (void)state;
    if (ph_noise_global_init() != PH_OK || ph_replay_input_create(&captured) != PH_OK ||
        ph_replay_input_load_lnmsgs(captured, SAMPLE, 0, NULL) != PH_OK ||
        ph_replay_input_count(captured) < NMSG)
        return -1;
    for (size_t i = 0; i < NMSG; i++) {
        cap_msg[i] = ph_replay_input_at(captured, i)->bytes;
        cap_len[i] = ph_replay_input_at(captured, i)->len;
    }
    return 0;
}

static int free_sample(void **state)
{
    (void)state;
    ph_replay_input_destroy(captured);
    return 0;
}

/* ---- the node's side: a backlog that sends a script ---- */

#define SCRIPT_MAX 128

struct script {
    const uint8_t *msg[SCRIPT_MAX];
    uint32_t len[SCRIPT_MAX];
    size_t n;
};

/* Each node-side peer streams the whole script from its own cursor. */
#define MAX_PEERS 4

struct cursor {
    const struct script *s;
    size_t next;
    bool ended;
};

static void script_add(struct script *s, const uint8_t *msg, uint32_t len)
{
    assert_true(s->n < SCRIPT_MAX);
    s->msg[s->n] = msg;
    s->len[s->n++] = len;
}

static int script_next(void *cur, const uint8_t **bytes, size_t *len, void (**unref)(void *),
                       void **obj)
{
    struct cursor *c = cur;
    if (c->next >= c->s->n) {
        c->ended = true;
        return PH_BACKLOG_END;
    }
    *bytes = c->s->msg[c->next];
    *len = c->s->len[c->next++];
    *unref = NULL;
    *obj = NULL;
    return PH_BACKLOG_ITEM;
}

static void script_filter(void *cur, uint32_t first, uint32_t range)
{
    (void)cur;
    (void)first;
    (void)range;
}

static void script_destroy(void *cur)
{
    (void)cur; /* the test owns the cursors */
}

static const ph_backlog_ops script_ops = {
    .next = script_next, .set_filter = script_filter, .destroy = script_destroy,
};

struct rig {
    ph_ev *ev;
    ph_node *node;
    ph_remote_set *set;
    struct script script;
    struct cursor cur[MAX_PEERS];
    size_t n;
};

static ph_err open_script(void *ctx, ph_peer *p, uint32_t first, uint32_t range,
                          const ph_backlog_ops **ops, void **cursor)
{
    (void)first;
    (void)range;
    struct rig *g = ctx;
    uint32_t id = ph_peer_id(p);
    assert_true(id >= 1 && id <= g->n);
    g->cur[id - 1].s = &g->script;
    *ops = &script_ops;
    *cursor = &g->cur[id - 1];
    return PH_OK;
}

/* ---- one node, n remotes, one virtual loop ---- */

static void rig_open(struct rig *g, size_t n, const ph_remote_config *over)
{
    assert_true(n <= MAX_PEERS);
    g->n = n;
    assert_int_equal(ph_ev_create_virtual(&g->ev, 0), PH_OK);
    ph_node_config nc;
    memset(&nc, 0, sizeof nc);
    memcpy(nc.priv, node_priv, 32);
    ph_peer_config_default(&nc.peer);
    nc.open_backlog = open_script;
    nc.backlog_ctx = g;
    char why[256] = "";
    assert_int_equal(ph_node_create(&g->node, g->ev, &nc, why, sizeof why), PH_OK);
    uint8_t pub[33];
    ph_node_id(g->node, pub);
    ph_remote_config rc = over ? *over : (ph_remote_config){.verify = true};
    rc.ev = g->ev;
    rc.remote_priv = remote_priv;
    if (!rc.node_pub33)
        rc.node_pub33 = pub;
    rc.npeers = n;
    assert_int_equal(ph_remote_set_create(&g->set, &rc), PH_OK);
    for (size_t i = 0; i < n; i++) {
        ph_conn *node_end, *remote_end;
        ph_modelconn_config mc;
        memset(&mc, 0, sizeof mc);
        assert_int_equal(ph_modelconn_pair(g->ev, &mc, &node_end, &remote_end), PH_OK);
        assert_int_equal(ph_node_add_conn(g->node, node_end, NULL, NULL, NULL), PH_OK);
        assert_int_equal(ph_remote_add(g->set, i, remote_end), PH_OK);
    }
}

/* Runs `virtual_s` seconds of the loop's clock (the node ticks every
 * second, so the clock always has somewhere to go). */
static void rig_run(struct rig *g, uint64_t virtual_s)
{
    uint64_t until = ph_ev_now(g->ev) + virtual_s * SEC;
    uint64_t deadline = ph_test_deadline();
    while (ph_ev_now(g->ev) < until) {
        ph_err err = ph_ev_run_once(g->ev, -1);
        if (err == PH_ERR_STATE)
            break; /* nothing left to happen */
        assert_int_equal(err, PH_OK);
        ph_test_check_deadline(deadline, "the virtual loop to reach its end time");
    }
}

static void rig_close(struct rig *g)
{
    ph_remote_set_destroy(g->set);
    ph_node_destroy(g->node);
    ph_ev_destroy(g->ev);
}

/* Expect the captured messages 0..k-1 on remote i. */
static void expect_first(struct rig *g, size_t i, size_t k)
{
    ph_remote_expect(g->set, i, cap_msg, cap_len, k);
}

static void print_result(const ph_remote_result *r)
{
    printf("  opened %llu messages %llu verified %llu mismatches %llu missing %llu failed %llu: %s\n",
           (unsigned long long)r->opened, (unsigned long long)r->messages,
           (unsigned long long)r->verified, (unsigned long long)r->mismatches,
           (unsigned long long)r->missing, (unsigned long long)r->failed, r->first_error);
}

/* ---- verification ---- */

/* Everything as captured: all verified, nothing else. */
static void test_verify_all_equal(void **state)
{
    (void)state;
    struct rig g = {0};
    for (size_t i = 0; i < NMSG; i++)
        script_add(&g.script, cap_msg[i], cap_len[i]);
    rig_open(&g, 2, NULL);
    expect_first(&g, 0, NMSG);
    expect_first(&g, 1, NMSG);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    print_result(&r);
    assert_true(g.cur[0].ended && g.cur[1].ended);
    assert_int_equal(r.opened, 2);
    assert_int_equal(r.verified, 2 * NMSG);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.missing, 0);
    assert_int_equal(r.failed, 0);
    assert_string_equal(r.first_error, "");
    /* the node's own init and filter came too, and were not counted */
    assert_int_equal(r.messages, 2 * (NMSG + 2));
    assert_int_equal(ph_remote_connected(g.set), 2);
    assert_int_equal(ph_remote_unread(g.set), 0);
    rig_close(&g);
}

/* Frame 1 changed (same length), frame 2 lost on the way, the last one
 * never sent: one mismatch, two missing, the rest verified, and the first
 * bad frame named. */
static void test_verify_sees_changed_and_missing(void **state)
{
    (void)state;
    struct rig g = {0};
    uint8_t changed[65535];
    memcpy(changed, cap_msg[1], cap_len[1]);
    changed[cap_len[1] - 1] ^= 0x01;
    script_add(&g.script, cap_msg[0], cap_len[0]);
    script_add(&g.script, changed, cap_len[1]);
    for (size_t i = 3; i < NMSG - 1; i++)
        script_add(&g.script, cap_msg[i], cap_len[i]);
    rig_open(&g, 1, NULL);
    expect_first(&g, 0, NMSG);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, false, &r);
    print_result(&r);
    /* still connected: the tail is not missing until the end */
    assert_int_equal(r.missing, 1);
    ph_remote_get_result(g.set, true, &r);
    assert_int_equal(r.verified, NMSG - 3);
    assert_int_equal(r.mismatches, 1);
    assert_int_equal(r.missing, 2);
    assert_int_equal(r.failed, 0);
    assert_string_equal(r.first_error,
                        "reader 0: frame 1 differs from the captured message (same length)");
    rig_close(&g);
}

/* Several lost in a row, then in step again; the first problem is the
 * first lost frame. */
static void test_verify_resyncs_after_a_gap(void **state)
{
    (void)state;
    struct rig g = {0};
    script_add(&g.script, cap_msg[0], cap_len[0]);
    for (size_t i = 4; i < NMSG; i++)
        script_add(&g.script, cap_msg[i], cap_len[i]);
    rig_open(&g, 1, NULL);
    expect_first(&g, 0, NMSG);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    print_result(&r);
    assert_int_equal(r.verified, NMSG - 3);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.missing, 3);
    assert_string_equal(r.first_error, "reader 0: frame 1 never arrived (nor the ones after it up "
                                       "to the next that did)");
    rig_close(&g);
}

/* The last frame never sent: missing once the remote is done, not before. */
static void test_verify_last_frame_missing(void **state)
{
    (void)state;
    struct rig g = {0};
    for (size_t i = 0; i < NMSG - 1; i++)
        script_add(&g.script, cap_msg[i], cap_len[i]);
    rig_open(&g, 1, NULL);
    expect_first(&g, 0, NMSG);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, false, &r);
    assert_int_equal(r.missing, 0);
    assert_string_equal(r.first_error, "");
    ph_remote_get_result(g.set, true, &r);
    assert_int_equal(r.verified, NMSG - 1);
    assert_int_equal(r.missing, 1);
    assert_string_equal(r.first_error, "reader 0: frame 11 never arrived");
    rig_close(&g);
}

/* A shorter frame in place of frame 1, and one more frame than captured. */
static void test_verify_different_length_and_extra(void **state)
{
    (void)state;
    struct rig g = {0};
    /* an unknown odd message type: the remote ignores it, verification not */
    static const uint8_t odd[] = {0x80, 0x01, 0xde, 0xad};
    script_add(&g.script, cap_msg[0], cap_len[0]);
    script_add(&g.script, odd, sizeof odd);
    script_add(&g.script, cap_msg[2], cap_len[2]);
    script_add(&g.script, odd, sizeof odd);
    rig_open(&g, 2, NULL);
    expect_first(&g, 0, 3);
    expect_first(&g, 1, 3);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    print_result(&r);
    assert_int_equal(r.verified, 2 * 2);
    assert_int_equal(r.mismatches, 2 * 2);
    assert_int_equal(r.missing, 0);
    assert_string_equal(r.first_error,
                        "reader 0: frame 1 differs from the captured message (different length)");
    rig_close(&g);
}

/* A stream wrong throughout: each frame that matches nothing costs one
 * search of what is still expected, and once RESYNC_SEARCHES (64) are
 * spent frames are compared in place: a later gap is then no longer
 * recognised, and every frame after it is a mismatch. */
static void test_verify_bounds_its_searches(void **state)
{
    (void)state;
    struct rig g = {0};
    static const uint8_t odd[] = {0x80, 0x03, 0x00};
    enum { N = 80 };
    static const uint8_t *want[N];
    static uint32_t want_len[N];
    for (size_t i = 0; i < N; i++) {
        want[i] = cap_msg[i % NMSG];
        want_len[i] = cap_len[i % NMSG];
    }
    /* 64 frames that are nothing expected, then expected 65..79 (64 lost) */
    for (size_t i = 0; i < 64; i++)
        script_add(&g.script, odd, sizeof odd);
    for (size_t i = 65; i < N; i++)
        script_add(&g.script, want[i], want_len[i]);
    rig_open(&g, 1, NULL);
    ph_remote_expect(g.set, 0, want, want_len, N);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    print_result(&r);
    assert_int_equal(r.verified, 0);
    assert_int_equal(r.mismatches, N - 1);
    assert_int_equal(r.missing, 1);
    rig_close(&g);
}

/* Without verification nothing is compared, only counted. */
static void test_no_verify_counts_only(void **state)
{
    (void)state;
    struct rig g = {0};
    script_add(&g.script, cap_msg[0], cap_len[0]);
    script_add(&g.script, cap_msg[5], cap_len[5]);
    ph_remote_config rc = {.verify = false};
    rig_open(&g, 1, &rc);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    assert_int_equal(r.messages, 2 + 2);
    assert_int_equal(r.verified + r.mismatches + r.missing, 0);
    assert_true(r.bytes > cap_len[0] + cap_len[5]);
    rig_close(&g);
}

/* ---- the remotes' own behaviour ---- */

/* A stalled remote reads nothing once init is done: what the node sent
 * waits in its buffer, and its expected messages are not counted missing. */
static void test_stalled_remote_reads_nothing(void **state)
{
    (void)state;
    struct rig g = {0};
    for (size_t i = 0; i < NMSG; i++)
        script_add(&g.script, cap_msg[i], cap_len[i]);
    ph_remote_config rc = {.verify = true, .stalled = 1};
    rig_open(&g, 2, &rc);
    expect_first(&g, 0, NMSG);
    expect_first(&g, 1, NMSG);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    print_result(&r);
    assert_int_equal(r.opened, 2);
    assert_int_equal(r.verified, NMSG);
    assert_int_equal(r.missing, 0);
    /* the stalled one is not counted among the unread */
    assert_int_equal(ph_remote_unread(g.set), 0);
    rig_close(&g);
}

/* The reader rate is the remote's inbound token bucket: a burst of one
 * second's worth (at least 4 KiB), then `rate` bytes per second, on the
 * virtual clock. */
static void test_reader_rate_paces_reading(void **state)
{
    (void)state;
    struct rig g = {0};
    enum { N = 100, RATE = 1024 };
    uint64_t total = 0;
    for (size_t i = 0; i < N; i++) {
        script_add(&g.script, cap_msg[i % NMSG], cap_len[i % NMSG]);
        total += cap_len[i % NMSG] + 34; /* a frame's header and MAC */
    }
    static const uint8_t *want[N];
    static uint32_t want_len[N];
    for (size_t i = 0; i < N; i++) {
        want[i] = cap_msg[i % NMSG];
        want_len[i] = cap_len[i % NMSG];
    }
    ph_remote_config rc = {.verify = true, .reader_rate = RATE};
    rig_open(&g, 1, &rc);
    ph_remote_expect(g.set, 0, want, want_len, N);
    rig_run(&g, 2);
    ph_remote_result early;
    ph_remote_get_result(g.set, false, &early);
    print_result(&early);
    /* two seconds in: the burst and about two seconds' worth, not the rest */
    assert_true(early.bytes >= 4096 + RATE);
    assert_true(early.bytes <= 4096 + 3 * RATE);
    assert_true(early.verified < N);
    assert_true(ph_remote_unread(g.set) > 0);
    rig_run(&g, total / RATE + 2);
    ph_remote_result r;
    ph_remote_get_result(g.set, true, &r);
    print_result(&r);
    assert_int_equal(r.verified, N);
    assert_int_equal(r.mismatches + r.missing, 0);
    assert_int_equal(ph_remote_unread(g.set), 0);
    rig_close(&g);
}

/* A node that sends an unknown even message: the remote fails the
 * connection (BOLT 1), and that is counted and named. */
static void test_remote_failure_is_reported(void **state)
{
    (void)state;
    struct rig g = {0};
    static const uint8_t even[] = {0x00, 0x64, 0x01};
    script_add(&g.script, cap_msg[0], cap_len[0]);
    script_add(&g.script, even, sizeof even);
    ph_remote_config rc = {.verify = false};
    rig_open(&g, 1, &rc);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, false, &r);
    print_result(&r);
    assert_int_equal(r.opened, 1);
    assert_int_equal(r.failed, 1);
    assert_string_equal(r.first_error,
                        "reader 0: unknown even message type 100: peer: protocol violation");
    assert_int_equal(ph_remote_connected(g.set), 0);
    rig_close(&g);
}

/* A remote that expects another node never gets through the handshake. */
static void test_wrong_node_key_never_opens(void **state)
{
    (void)state;
    struct rig g = {0};
    uint8_t other[33];
    static const uint8_t other_priv[32] = {7};
    assert_int_equal(ph_noise_pubkey(other_priv, other), PH_OK);
    ph_remote_config rc = {.verify = true, .node_pub33 = other};
    rig_open(&g, 1, &rc);
    expect_first(&g, 0, 2);
    rig_run(&g, 5);
    ph_remote_result r;
    ph_remote_get_result(g.set, false, &r);
    print_result(&r);
    assert_int_equal(r.opened, 0);
    assert_int_equal(ph_remote_connected(g.set), 0);
    /* closed before anything came: all of it is missing */
    assert_int_equal(r.missing, 2);
    assert_string_equal(r.first_error, "reader 0: frame 0 never arrived (nor the 1 after it)");
    rig_close(&g);
}

static void test_rejects_bad_arguments(void **state)
{
    (void)state;
    ph_remote_set *s = NULL;
    uint8_t pub[33];
    assert_int_equal(ph_noise_pubkey(node_priv, pub), PH_OK);
    assert_int_equal(ph_remote_set_create(&s, NULL), PH_ERR_ARG);
    ph_ev *ev;
    assert_int_equal(ph_ev_create_virtual(&ev, 0), PH_OK);
    ph_remote_config rc = {.ev = ev, .remote_priv = remote_priv, .node_pub33 = pub, .npeers = 0};
    assert_int_equal(ph_remote_set_create(&s, &rc), PH_ERR_ARG);
    rc.npeers = 1;
    assert_int_equal(ph_remote_set_create(&s, &rc), PH_OK);
    ph_conn *a, *b;
    ph_modelconn_config mc;
    memset(&mc, 0, sizeof mc);
    assert_int_equal(ph_modelconn_pair(ev, &mc, &a, &b), PH_OK);
    /* out of range: the conn is destroyed all the same */
    assert_int_equal(ph_remote_add(s, 1, b), PH_ERR_ARG);
    assert_int_equal(ph_remote_connected(s), 0);
    ph_remote_expect(s, 5, cap_msg, cap_len, 1); /* ignored */
    ph_conn_destroy(a);
    /* a second conn for the same remote is refused */
    assert_int_equal(ph_modelconn_pair(ev, &mc, &a, &b), PH_OK);
    assert_int_equal(ph_remote_add(s, 0, b), PH_OK);
    ph_conn *c, *d;
    assert_int_equal(ph_modelconn_pair(ev, &mc, &c, &d), PH_OK);
    assert_int_equal(ph_remote_add(s, 0, d), PH_ERR_ARG);
    assert_int_equal(ph_remote_connected(s), 1);
    ph_conn_destroy(c);
    ph_remote_set_destroy(s);
    ph_conn_destroy(a);
    ph_remote_set_destroy(NULL);
    ph_ev_destroy(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_all_equal),
        cmocka_unit_test(test_verify_sees_changed_and_missing),
        cmocka_unit_test(test_verify_resyncs_after_a_gap),
        cmocka_unit_test(test_verify_last_frame_missing),
        cmocka_unit_test(test_verify_different_length_and_extra),
        cmocka_unit_test(test_verify_bounds_its_searches),
        cmocka_unit_test(test_no_verify_counts_only),
        cmocka_unit_test(test_stalled_remote_reads_nothing),
        cmocka_unit_test(test_reader_rate_paces_reading),
        cmocka_unit_test(test_remote_failure_is_reported),
        cmocka_unit_test(test_wrong_node_key_never_opens),
        cmocka_unit_test(test_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, load_sample, free_sample);
}
