/* Replay engine: determinism of the model sink, the analytic relations each
 * strategy must satisfy, stalled readers with and without caps, and the
 * socket sink's byte-exact verification. Every figure comes from a real
 * run measured by jemalloc; without jemalloc's statistics the measured tests
 * fail, except in sanitizer builds, where they are declared skips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "memstat.h"
#include "ph_test.h"
#include "replay.h"
#include "replayin.h"

#define SAMPLE "captures/mainnet-gossip.lnmsgs"

static ph_replay_input *sample_prefix(size_t n)
{
    ph_replay_input *all, *in;
    assert_int_equal(ph_replay_input_create(&all), PH_OK);
    assert_int_equal(ph_replay_input_load_lnmsgs(all, SAMPLE, 0, NULL), PH_OK);
    assert_int_equal(ph_replay_input_count(all), 28809);
    assert_int_equal(ph_replay_input_create(&in), PH_OK);
    for (size_t i = 0; i < n && i < ph_replay_input_count(all); i++) {
        const ph_replay_msg *m = ph_replay_input_at(all, i);
        /* spread over timestamps 1 ms apart for the paced tests */
        assert_int_equal(ph_replay_input_add(in, i * 1000000ull, 0, 0, m->bytes, m->len), PH_OK);
    }
    ph_replay_input_destroy(all);
    return in;
}

/* Fails without jemalloc's statistics; a declared skip in sanitizer builds. */
#define skip_without_jemalloc() ph_test_need_jemalloc()

static ph_replay_config model_cfg(size_t peers)
{
    ph_replay_config c;
    memset(&c, 0, sizeof c);
    c.peers = peers;
    c.sink = PH_SINK_MODEL;
    return c;
}

/* The model's paths under sanitizers: every strategy, stalled and capped. */
static void test_model_paths_run_unmeasured(void **state)
{
    (void)state;
    ph_replay_input *in = sample_prefix(1500);
    ph_replay_config cfg = model_cfg(3);
    cfg.allow_unmeasured = true;
    cfg.stalled = 1;
    cfg.reader_rate = 1000000;
    cfg.queue_soft = 64 * 1024;
    cfg.queue_hard = 96 * 1024;
    cfg.wbuf.pool_workers = 2;
    const char *const *names = ph_wbuf_names();
    for (size_t i = 0; names[i]; i++) {
        ph_strategy_result r;
        char err[256];
        ph_err e = ph_replay_run_strategy(in, &cfg, names[i], &r, err, sizeof err);
        if (e)
            fail_msg("%s: %s", names[i], err);
        assert_true(r.writes >= 2 * 1500 - 2);
        ph_strategy_result_clear(&r);
    }
    ph_replay_input_destroy(in);
}

static void run(const ph_replay_input *in, const ph_replay_config *cfg, const char *strategy,
                ph_strategy_result *out)
{
    char err[256];
    ph_err e = ph_replay_run_isolated(in, cfg, strategy, out, err, sizeof err);
    if (e)
        fail_msg("%s: %s (%s)", strategy, err, ph_strerror(e));
}

static uint64_t sum_type_allocations(const ph_strategy_result *r)
{
    uint64_t s = 0;
    for (size_t i = 0; i < r->n_types; i++)
        s += r->types[i].allocations;
    return s;
}

static void test_model_is_deterministic(void **state)
{
    (void)state;
    skip_without_jemalloc();
    ph_replay_input *in = sample_prefix(3000);
    ph_replay_config cfg = model_cfg(5);
    cfg.reader_rate = 2000000;
    cfg.stalled = 1;
    const char *const *names = ph_wbuf_names();
    for (size_t i = 0; names[i]; i++) {
        ph_strategy_result a, b;
        run(in, &cfg, names[i], &a);
        run(in, &cfg, names[i], &b);
        assert_int_equal(a.writes, b.writes);
        assert_int_equal(a.allocations, b.allocations);
        assert_int_equal(a.bytes_allocated, b.bytes_allocated);
        assert_int_equal(a.peak_live_bytes, b.peak_live_bytes);
        assert_int_equal(a.end_live_bytes, b.end_live_bytes);
        assert_int_equal(a.held_bytes_per_peer, b.held_bytes_per_peer);
        assert_int_equal(a.n_types, b.n_types);
        for (size_t k = 0; k < a.n_types; k++) {
            assert_string_equal(a.types[k].name, b.types[k].name);
            assert_int_equal(a.types[k].allocations, b.types[k].allocations);
            assert_int_equal(a.types[k].bytes_allocated, b.types[k].bytes_allocated);
        }
        ph_strategy_result_clear(&a);
        ph_strategy_result_clear(&b);
    }
    ph_replay_input_destroy(in);
}

static void test_analytic_relations(void **state)
{
    (void)state;
    skip_without_jemalloc();
    const size_t peers = 6, msgs = 4000;
    ph_replay_input *in = sample_prefix(msgs);
    uint64_t plain = ph_replay_input_bytes(in);
    ph_replay_config cfg = model_cfg(peers);
    cfg.wbuf.pool_workers = 3;
    const char *const *names = ph_wbuf_names();
    uint64_t fresh_setup_calls = 0, fresh_setup_bytes = 0;
    for (size_t i = 0; names[i]; i++) {
        ph_strategy_result r;
        run(in, &cfg, names[i], &r);
        const char *n = names[i];
        if (strcmp(n, "fresh") == 0) {
            fresh_setup_calls = r.setup_allocations;
            fresh_setup_bytes = r.setup_bytes_allocated;
        }
        assert_int_equal(r.writes, peers * msgs);
        assert_int_equal(r.mismatches, 0);
        /* every allocation jemalloc counted is one the path accounts for */
        assert_int_equal(r.allocations, sum_type_allocations(&r));
        uint64_t writes_by_type = 0;
        for (size_t k = 0; k < r.n_types; k++)
            writes_by_type += r.types[k].writes;
        assert_int_equal(writes_by_type, r.writes);
        /* decoding: one allocation for the message, one for its queue reference */
        assert_int_equal(r.allocations - r.wbuf_buffers_allocated, 2 * msgs);
        if (strcmp(n, "fresh") == 0) {
            assert_int_equal(r.wbuf_buffers_allocated, r.writes);
            assert_true(r.bytes_allocated >= 65536ull * r.writes);
            assert_int_equal(r.wbuf_bytes_requested, 65535ull * r.writes);
            assert_true(r.peak_live_bytes >= 65536);
        } else if (strcmp(n, "exact") == 0) {
            assert_int_equal(r.wbuf_buffers_allocated, r.writes);
            assert_int_equal(r.wbuf_bytes_requested, plain * peers);
            assert_true(r.bytes_allocated < 65536ull * r.writes / 20);
        } else if (strcmp(n, "reuse") == 0) {
            /* the P buffers were made at set-up; the replay makes none */
            assert_int_equal(r.wbuf_buffers_allocated, 0);
            assert_non_null(strstr(names[0], "fresh")); /* fresh ran first */
            assert_int_equal(r.setup_allocations - fresh_setup_calls, peers);
            uint64_t extra = r.setup_bytes_allocated - fresh_setup_bytes;
            assert_true(extra >= 65536ull * peers && extra <= 65536ull * peers + 64 * peers);
            assert_true(r.setup_bytes_allocated >= 65536ull * peers);
            assert_true(r.held_bytes_per_peer >= 65536);
        } else if (strcmp(n, "pool") == 0) {
            assert_true(r.wbuf_buffers_allocated <= 3);
            assert_true(r.wbuf_peak_held_bytes <= 3ull * 65535);
        } else if (strcmp(n, "ring") == 0) {
            assert_true(r.wbuf_buffers_allocated <= 16ull * peers);
        } else if (strcmp(n, "tiered") == 0) {
            assert_true(r.wbuf_buffers_allocated <= 5ull * 64);
        }
        ph_strategy_result_clear(&r);
    }
    ph_replay_input_destroy(in);
}

/* A reader that never reads: per-message strategies keep the backlog
 * queued (live heap grows with it); a hard cap cuts the peer and bounds it;
 * a soft cap drops relayed gossip and bounds it too. */
static void test_stalled_reader(void **state)
{
    (void)state;
    skip_without_jemalloc();
    ph_replay_input *in = sample_prefix(8000);
    uint64_t backlog = ph_replay_input_bytes(in);
    const char *names[] = {"fresh", "exact"};
    for (size_t i = 0; i < 2; i++) {
        ph_replay_config cfg = model_cfg(2);
        ph_strategy_result free_run, stalled, hard, soft;
        run(in, &cfg, names[i], &free_run);
        cfg.stalled = 1;
        run(in, &cfg, names[i], &stalled);
        /* the stalled peer's queue holds all it could not send */
        assert_true(stalled.peak_live_bytes > free_run.peak_live_bytes + backlog / 2);
        assert_true(stalled.end_live_bytes > backlog / 2);
        assert_int_equal(stalled.disconnected, 0);

        cfg.queue_hard = 256 * 1024;
        cfg.queue_soft = 256 * 1024;
        run(in, &cfg, names[i], &hard);
        assert_true(hard.peak_live_bytes < 2 * 1024 * 1024);
        assert_true(hard.dropped > 0); /* gossip dropped at the soft cap first */

        cfg.queue_soft = 128 * 1024;
        cfg.queue_hard = 0;
        run(in, &cfg, names[i], &soft);
        assert_true(soft.peak_live_bytes < 2 * 1024 * 1024);
        assert_true(soft.dropped > 0);
        assert_int_equal(soft.disconnected, 0);

        cfg.queue_soft = 0;
        cfg.queue_hard = 128 * 1024;
        ph_strategy_result cut;
        run(in, &cfg, names[i], &cut);
        assert_int_equal(cut.disconnected, 1);
        assert_true(cut.peak_live_bytes < 2 * 1024 * 1024);

        ph_strategy_result_clear(&free_run);
        ph_strategy_result_clear(&stalled);
        ph_strategy_result_clear(&hard);
        ph_strategy_result_clear(&soft);
        ph_strategy_result_clear(&cut);
    }
    ph_replay_input_destroy(in);
}

/* Also runs under sanitizers (unmeasured): it checks bytes, not heap. */
static void test_socket_sink_verifies(void **state)
{
    (void)state;
    ph_replay_input *in = sample_prefix(3000);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 512 && rl.rlim_max >= 512) {
        rl.rlim_cur = 512;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    size_t peer_counts[] = {8, 64};
    for (size_t k = 0; k < 2; k++) {
        ph_replay_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.peers = peer_counts[k];
        cfg.sink = PH_SINK_SOCKET;
        cfg.verify = true;
        cfg.allow_unmeasured = true;
        ph_strategy_result r;
        run(in, &cfg, k ? "pool" : "reuse", &r);
        assert_int_equal(r.verified, 3000 * peer_counts[k]);
        assert_int_equal(r.mismatches, 0);
        assert_int_equal(r.writes, 3000 * peer_counts[k]);
        ph_strategy_result_clear(&r);
    }
    /* a slow reader: same bytes, paced by the reader */
    ph_replay_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.peers = 2;
    cfg.sink = PH_SINK_SOCKET;
    cfg.verify = true;
    cfg.allow_unmeasured = true;
    cfg.reader_rate = 4 * 1024 * 1024;
    ph_strategy_result r;
    run(in, &cfg, "ring", &r);
    assert_int_equal(r.verified, 6000);
    assert_int_equal(r.mismatches, 0);
    ph_strategy_result_clear(&r);
    ph_replay_input_destroy(in);
}

static void test_rejects_bad_config(void **state)
{
    (void)state;
    ph_replay_input *in = sample_prefix(10);
    ph_replay_config cfg = model_cfg(2);
    ph_strategy_result r;
    char err[256];
    cfg.verify = true;
    assert_int_equal(ph_replay_run_strategy(in, &cfg, "fresh", &r, err, sizeof err), PH_ERR_ARG);
    assert_non_null(strstr(err, "socket"));
    cfg.verify = false;
    cfg.stalled = 3;
    assert_int_equal(ph_replay_run_strategy(in, &cfg, "fresh", &r, err, sizeof err), PH_ERR_ARG);
    cfg.stalled = 0;
    ph_err e = ph_replay_run_strategy(in, &cfg, "nonesuch", &r, err, sizeof err);
    if (ph_test_sanitizer_build()) /* no statistics: refused before the name is looked up */
        assert_true(e == PH_ERR_STRATEGY_UNKNOWN || e == PH_ERR_MEMSTAT);
    else
        assert_int_equal(e, PH_ERR_STRATEGY_UNKNOWN);
    ph_replay_input *empty;
    assert_int_equal(ph_replay_input_create(&empty), PH_OK);
    assert_int_equal(ph_replay_run_strategy(empty, &cfg, "fresh", &r, err, sizeof err), PH_ERR_ARG);
    ph_replay_input_destroy(empty);
    ph_replay_input_destroy(in);
}

static void test_input_plans(void **state)
{
    (void)state;
    ph_replay_input *in;
    assert_int_equal(ph_replay_input_create(&in), PH_OK);
    const uint8_t ping[] = {0x00, 0x12, 0x00, 0x04, 0x00, 0x00};
    for (uint32_t i = 0; i < 9; i++)
        assert_int_equal(ph_replay_input_add(in, i, i % 3, (uint8_t)(i % 2), ping, sizeof ping), PH_OK);
    assert_int_equal(ph_replay_input_sessions(in), 3);
    assert_int_equal(ph_replay_input_add(in, 0, 0, 0, ping, 1), PH_ERR_ARG);
    uint32_t *idx;
    size_t n;
    /* peer 4 replays session 1: messages 1, 4, 7 */
    assert_int_equal(ph_replay_input_peer_plan(in, 4, 3, &idx, &n), PH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[2], 7);
    free(idx);
    /* direction 0 only: 4 */
    assert_int_equal(ph_replay_input_peer_plan(in, 1, 1, &idx, &n), PH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(idx[0], 4);
    free(idx);
    ph_replay_input_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_plans),
        cmocka_unit_test(test_rejects_bad_config),
        cmocka_unit_test(test_model_paths_run_unmeasured),
        cmocka_unit_test(test_model_is_deterministic),
        cmocka_unit_test(test_analytic_relations),
        cmocka_unit_test(test_stalled_reader),
        cmocka_unit_test(test_socket_sink_verifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
