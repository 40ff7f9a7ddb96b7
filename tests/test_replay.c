/* Replay engine (the real node over the model and socket transports):
 * determinism, figures that add up, what each strategy must cost derived
 * from the input, the encode policies, the pool's expiry on the virtual
 * clock, paced timing, stalled readers, and byte-exact verification. Every
 * figure comes from a real measured run; only sanitizer builds (no
 * jemalloc) skip, and the runner counts those skips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "json.h"
#include "vecjson.h"
#include "memstat.h"
#include "peer.h"
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

/* Measurement is required in a normal build; only sanitizer builds, where
 * malloc is not jemalloc's, may skip (declared, and counted by the runner). */
#define require_measurement() ph_test_need_jemalloc()

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
        /* the two live peers got everything, plus each peer's init and filter */
        assert_true(r.writes >= 2 * 1500 + 3 * 2);
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

/* Every allocation is attributed once: to a row and to a message type. */
static void assert_figures_add_up(const ph_strategy_result *r)
{
    uint64_t ta = 0, tb = 0, ra = 0, rb = 0, tw = 0;
    for (size_t i = 0; i < r->n_types; i++) {
        ta += r->types[i].allocations;
        tb += r->types[i].bytes_allocated;
        tw += r->types[i].writes;
    }
    for (unsigned i = 0; i < PH_REPORT_ROWS; i++) {
        ra += r->rows[i].allocations;
        rb += r->rows[i].bytes_allocated;
    }
    assert_int_equal(ta, r->allocations);
    assert_int_equal(tb, r->bytes_allocated);
    assert_int_equal(ra, r->allocations);
    assert_int_equal(rb, r->bytes_allocated);
    assert_int_equal(tw, r->writes);
    assert_true(r->peak_live_bytes >= r->end_live_bytes);
    /* jemalloc's own thread counters saw the same bytes, the node's and
     * the model's remote peers' together: the hooks missed nothing */
    assert_int_equal(r->bytes_allocated + r->remote_bytes_allocated, r->jemalloc_bytes_allocated);
    assert_int_equal(r->bytes_freed + r->remote_bytes_freed, r->jemalloc_bytes_freed);
    for (size_t i = 0; i < r->n_samples; i++)
        assert_true(r->peak_live_bytes >= r->samples[i].live_bytes);
}

static void assert_same_figures(const ph_strategy_result *a, const ph_strategy_result *b)
{
    assert_int_equal(a->writes, b->writes);
    assert_int_equal(a->write_bytes, b->write_bytes);
    assert_int_equal(a->allocations, b->allocations);
    assert_int_equal(a->bytes_allocated, b->bytes_allocated);
    assert_int_equal(a->bytes_freed, b->bytes_freed);
    assert_int_equal(a->peak_live_bytes, b->peak_live_bytes);
    assert_int_equal(a->end_live_bytes, b->end_live_bytes);
    assert_int_equal(a->held_bytes_per_peer, b->held_bytes_per_peer);
    assert_int_equal(a->partial_writes, b->partial_writes);
    assert_int_equal(a->would_block, b->would_block);
    assert_int_equal(a->wbuf_buffers_allocated, b->wbuf_buffers_allocated);
    assert_int_equal(a->wbuf_bytes_requested, b->wbuf_bytes_requested);
    assert_true(a->virtual_seconds == b->virtual_seconds);
    for (unsigned i = 0; i < PH_REPORT_ROWS; i++) {
        assert_int_equal(a->rows[i].allocations, b->rows[i].allocations);
        assert_int_equal(a->rows[i].bytes_allocated, b->rows[i].bytes_allocated);
        assert_int_equal(a->rows[i].end_live_bytes, b->rows[i].end_live_bytes);
    }
    assert_int_equal(a->n_types, b->n_types);
    for (size_t k = 0; k < a->n_types; k++) {
        assert_string_equal(a->types[k].name, b->types[k].name);
        assert_int_equal(a->types[k].writes, b->types[k].writes);
        assert_int_equal(a->types[k].allocations, b->types[k].allocations);
        assert_int_equal(a->types[k].bytes_allocated, b->types[k].bytes_allocated);
    }
}

/* Slow and stalled readers over small socket buffers: partial writes and
 * EAGAIN happen, and every figure is bit-identical between runs. */
static void test_model_is_deterministic(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(3000);
    ph_replay_config cfg = model_cfg(5);
    cfg.reader_rate = 200000;
    cfg.stalled = 1;
    cfg.model_buffer = 16384;
    const char *const *names = ph_wbuf_names();
    for (size_t i = 0; names[i]; i++) {
        ph_strategy_result a, b;
        run(in, &cfg, names[i], &a);
        run(in, &cfg, names[i], &b);
        assert_same_figures(&a, &b);
        assert_figures_add_up(&a);
        assert_true(a.partial_writes > 0);
        assert_true(a.would_block > 0);
        /* the reader rate sets the virtual duration: each reader takes about
         * 500 KB at 200 KB/s after a one-second burst */
        assert_true(a.virtual_seconds > 1.0 && a.virtual_seconds < 3.0);
        ph_strategy_result_clear(&a);
        ph_strategy_result_clear(&b);
    }
    ph_replay_input_destroy(in);
}

/* Figures that depend on the machine: times, rates, jemalloc's
 * process-wide active and resident bytes, and how many ran at once. */
static bool machine_dependent(const char *key)
{
    static const char *const keys[] = {
        "cpu_seconds", "wall_seconds", "writes_per_second", "mib_per_second",
        "peak_active_bytes", "peak_resident_bytes", "concurrent", NULL,
    };
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], key) == 0)
            return true;
    return false;
}

static ph_vjson *result_json(const ph_strategy_result *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(ph_strategy_result_write_json(r, f), PH_OK);
    assert_int_equal(fclose(f), 0);
    ph_vjson *j = NULL;
    assert_int_equal(ph_vjson_parse(&j, text, len, NULL), PH_OK);
    free(text);
    return j;
}

/* Every field of two results' JSON, recursively, but the machine's. A
 * sample is [t, live, active, resident, queued]: t (wall time), active and
 * resident are the machine's. */
static void assert_same_json(const ph_vjson *a, const ph_vjson *b, const char *where)
{
    if (ph_vjson_type(a) != ph_vjson_type(b))
        fail_msg("%s: different kinds", where);
    switch (ph_vjson_type(a)) {
    case PH_VJSON_OBJECT:
        if (ph_vjson_len(a) != ph_vjson_len(b))
            fail_msg("%s: %zu keys and %zu", where, ph_vjson_len(a), ph_vjson_len(b));
        for (size_t i = 0; i < ph_vjson_len(a); i++) {
            const ph_vjson *va;
            const char *key = ph_vjson_key_at(a, i, &va);
            if (machine_dependent(key))
                continue;
            const ph_vjson *vb = ph_vjson_get(b, key);
            if (!vb)
                fail_msg("%s.%s: missing", where, key);
            if (strcmp(key, "samples") == 0) {
                assert_int_equal(ph_vjson_len(va), ph_vjson_len(vb));
                for (size_t k = 0; k < ph_vjson_len(va); k++) {
                    assert_same_json(ph_vjson_at(ph_vjson_at(va, k), 1),
                                     ph_vjson_at(ph_vjson_at(vb, k), 1), "sample live");
                    assert_same_json(ph_vjson_at(ph_vjson_at(va, k), 4),
                                     ph_vjson_at(ph_vjson_at(vb, k), 4), "sample queued");
                }
                continue;
            }
            char sub[200];
            snprintf(sub, sizeof sub, "%s.%s", where, key);
            assert_same_json(va, vb, sub);
        }
        return;
    case PH_VJSON_ARRAY:
        if (ph_vjson_len(a) != ph_vjson_len(b))
            fail_msg("%s: %zu elements and %zu", where, ph_vjson_len(a), ph_vjson_len(b));
        for (size_t i = 0; i < ph_vjson_len(a); i++)
            assert_same_json(ph_vjson_at(a, i), ph_vjson_at(b, i), where);
        return;
    case PH_VJSON_STRING:
        assert_string_equal(ph_vjson_str(a, NULL), ph_vjson_str(b, NULL));
        return;
    default: {
        double x = 0, y = 0;
        bool bx = false, by = false;
        if (ph_vjson_double(a, &x) && ph_vjson_double(b, &y)) {
            if (x != y)
                fail_msg("%s: %.17g and %.17g", where, x, y);
        } else if (ph_vjson_bool(a, &bx) && ph_vjson_bool(b, &by)) {
            assert_int_equal(bx, by);
        }
        return;
    }
    }
}

/* --jobs: strategies measured side by side give every figure but the
 * machine's exactly as one at a time, in the order named, and say how many
 * ran at once. */
static void test_jobs_same_figures(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(2000);
    ph_replay_config cfg = model_cfg(4);
    cfg.reader_rate = 300000;
    cfg.stalled = 1;
    cfg.model_buffer = 16384;
    const char *const *names = ph_wbuf_names();
    size_t n = 0;
    while (names[n])
        n++;
    ph_strategy_result one[8], many[8];
    ph_err e1[8], e2[8];
    char t1[8][PH_REPLAY_ERR_MAX], t2[8][PH_REPLAY_ERR_MAX];
    assert_true(n <= 8);
    assert_int_equal(ph_replay_run_jobs(in, &cfg, names, n, 1, one, e1, t1, NULL, NULL), PH_OK);
    assert_int_equal(ph_replay_run_jobs(in, &cfg, names, n, 3, many, e2, t2, NULL, NULL), PH_OK);
    bool overlapped = false;
    for (size_t i = 0; i < n; i++) {
        if (e1[i] || e2[i])
            fail_msg("%s: %s / %s", names[i], t1[i], t2[i]);
        assert_string_equal(one[i].name, names[i]);
        assert_string_equal(many[i].name, names[i]);
        assert_int_equal(one[i].concurrent, 1);
        assert_true(many[i].concurrent >= 1 && many[i].concurrent <= 3);
        overlapped |= many[i].concurrent > 1;
        ph_vjson *a = result_json(&one[i]), *b = result_json(&many[i]);
        assert_same_json(a, b, names[i]);
        ph_vjson_free(a);
        ph_vjson_free(b);
        assert_same_figures(&one[i], &many[i]);
        ph_strategy_result_clear(&one[i]);
        ph_strategy_result_clear(&many[i]);
    }
    /* three at a time from six: the first three started together */
    assert_true(overlapped);
    ph_replay_input_destroy(in);
}

static uint64_t size_class_sum(const ph_replay_input *in)
{
    uint64_t s = 0;
    for (size_t i = 0; i < ph_replay_input_count(in); i++)
        s += ph_memstat_size_class(ph_replay_input_at(in, i)->len);
    return s;
}

/* What each strategy must cost, derived from the input and the strategy's
 * rule, not from the code under test. The replay phase writes exactly the
 * P x M replayed frames; each peer's init and filter were written during
 * set-up (and count in the session's write totals). */
static void test_analytic_relations(void **state)
{
    (void)state;
    require_measurement();
    const size_t peers = 6, msgs = 4000;
    ph_replay_input *in = sample_prefix(msgs);
    uint64_t classes = size_class_sum(in);
    ph_replay_config cfg = model_cfg(peers);
    const char *names[] = {"fresh", "exact", "reuse"};
    for (size_t i = 0; i < 3; i++) {
        ph_strategy_result r;
        run(in, &cfg, names[i], &r);
        assert_figures_add_up(&r);
        assert_int_equal(r.writes, peers * (msgs + 2));
        assert_int_equal(r.mismatches, 0);
        /* stored bytes: nothing is decoded on the way out */
        assert_int_equal(r.rows[3].allocations, 0);
        const ph_row_figures *wb = &r.rows[1];
        if (i == 0) {
            assert_int_equal(wb->allocations, peers * msgs);
            assert_int_equal(wb->bytes_allocated, 65536ull * peers * msgs);
            assert_int_equal(r.wbuf_buffers_allocated, r.writes);
            assert_int_equal(r.wbuf_bytes_requested, 65535ull * r.writes);
            /* up to 8 frames (the queue's batch) in flight per peer */
            assert_true(r.peak_live_bytes >= 65536);
        } else if (i == 1) {
            assert_int_equal(wb->allocations, peers * msgs);
            assert_int_equal(wb->bytes_allocated, peers * classes);
        } else {
            /* one buffer per peer, made when its transport started */
            assert_int_equal(wb->allocations, 0);
            assert_int_equal(r.wbuf_buffers_allocated, peers);
            assert_true(r.held_bytes_per_peer >= 65536);
            /* the buffers, plus each peer's small strategy state */
            assert_true(wb->end_live_bytes >= 65536ull * peers);
            assert_true(wb->end_live_bytes < 65536ull * peers + 256 * peers);
        }
        ph_strategy_result_clear(&r);
    }
    ph_replay_input_destroy(in);
}

/* ---- exact figures of pool, ring and tiered, derived from the input ----
 *
 * The input is built so that the node's write path is simple enough to
 * follow by hand: each peer's whole plan is under the backlog's 64 KiB
 * refill slice (so it is queued at once) and under the model's 256 KiB
 * socket buffer (so every write is taken whole: no partial write, no
 * EAGAIN, checked). Then, by the rules the README and lib/wbuf/wbuf_*.c
 * document:
 *   - the queue turns a peer's waiting messages into batches of the
 *     strategy's preferred size (8 frames; ring 64), in order; a batch is
 *     written whole and its buffers released before the next one is made,
 *     and no other peer writes in between;
 *   - set-up writes each peer's init, then its gossip_timestamp_filter,
 *     each alone (the filter waits for the remote's init); both are under
 *     256 bytes;
 *   - pool: a new 65,535-byte buffer only when none is idle: the pool ends
 *     up with as many as the largest batch, one of them made in set-up;
 *   - tiered: per class (256, 1,024, 4,096, 16,384, 65,535 bytes of
 *     plaintext) a new buffer only when the class has none idle: as many as
 *     the most frames of that class in one batch (nothing expires: the
 *     phase lasts no virtual time at all, and with no linger);
 *   - ring: per peer, 4 KiB at the first frame, then doubling (repeatedly,
 *     one allocation) when a frame's chunk - a 16-byte record, the 18-byte
 *     header, the body and the 16-byte MAC, rounded up to 16 - does not fit
 *     after the chunks of its batch (a ring whose frames are all released
 *     starts again at offset 0).
 * jemalloc serves each of these sizes from the size class of the same
 * bytes, but 65,535 from 64 KiB. */
#define EX_SESSIONS 2
#define EX_PEERS 4

struct wbuf_expect {
    uint64_t buffers, bytes_requested;          /* whole session */
    uint64_t phase_allocations, phase_bytes;    /* the wbuf row, replay phase */
};

/* Odd (unknown, ignorable) message types of a chosen length, for the
 * larger classes the captured gossip does not reach. */
static void add_opaque(ph_replay_input *in, uint32_t session, size_t len)
{
    static uint8_t buf[65535];
    memset(buf, 0xa5, len);
    buf[0] = 0x80;
    buf[1] = (uint8_t)(1 + 2 * (len % 7)); /* odd */
    assert_int_equal(ph_replay_input_add(in, 0, session, 0, buf, len), PH_OK);
}

static ph_replay_input *exact_input(void)
{
    ph_replay_input *all, *in;
    assert_int_equal(ph_replay_input_create(&all), PH_OK);
    assert_int_equal(ph_replay_input_load_lnmsgs(all, SAMPLE, 0, NULL), PH_OK);
    assert_int_equal(ph_replay_input_create(&in), PH_OK);
    /* session 0: 40 captured messages with a 3,000-, a 10,000- and two
     * 20,000-byte message among them; session 1: 100 captured messages
     * with a 1,100- and two 5,000-byte ones (two batches of a ring) */
    size_t k = 0;
    for (size_t i = 0; i < 40; i++) {
        const ph_replay_msg *m = ph_replay_input_at(all, k++);
        assert_int_equal(ph_replay_input_add(in, 0, 0, 0, m->bytes, m->len), PH_OK);
        if (i == 5)
            add_opaque(in, 0, 3000);
        if (i == 6 || i == 7)
            add_opaque(in, 0, 20000);
        if (i == 30)
            add_opaque(in, 0, 10000);
    }
    for (size_t i = 0; i < 100; i++) {
        const ph_replay_msg *m = ph_replay_input_at(all, k++);
        assert_int_equal(ph_replay_input_add(in, 0, 1, 0, m->bytes, m->len), PH_OK);
        if (i == 10)
            add_opaque(in, 1, 1100);
        if (i == 60 || i == 62)
            add_opaque(in, 1, 5000);
    }
    ph_replay_input_destroy(all);
    return in;
}

/* The lengths of the messages peer `peer` is sent, in order. */
static size_t plan_lengths(const ph_replay_input *in, size_t peer, uint32_t *len, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < ph_replay_input_count(in); i++) {
        const ph_replay_msg *m = ph_replay_input_at(in, i);
        if (m->session == peer % EX_SESSIONS) {
            assert_true(n < cap);
            len[n++] = m->len;
        }
    }
    return n;
}

static const uint64_t tier_size[5] = {256, 1024, 4096, 16384, 65535};

static unsigned tier_of(uint32_t len)
{
    unsigned c = 0;
    while (c < 4 && len > tier_size[c])
        c++;
    return c;
}

static uint64_t jemalloc_class(uint64_t n)
{
    return n == 65535 ? 65536 : n;
}

static struct wbuf_expect expect_pool(const ph_replay_input *in)
{
    uint32_t len[256];
    size_t most = 1; /* set-up's single frames */
    for (size_t p = 0; p < EX_PEERS; p++) {
        size_t n = plan_lengths(in, p, len, 256);
        for (size_t b = 0; b < n; b += 8) {
            size_t batch = n - b < 8 ? n - b : 8;
            if (batch > most)
                most = batch;
        }
    }
    struct wbuf_expect x = {most, most * 65535, most - 1, (most - 1) * 65536};
    return x;
}

static struct wbuf_expect expect_tiered(const ph_replay_input *in)
{
    uint64_t need[5] = {1, 0, 0, 0, 0}; /* set-up: init, filter */
    uint32_t len[256];
    for (size_t p = 0; p < EX_PEERS; p++) {
        size_t n = plan_lengths(in, p, len, 256);
        for (size_t b = 0; b < n; b += 8) {
            uint64_t in_batch[5] = {0};
            for (size_t i = b; i < n && i < b + 8; i++)
                in_batch[tier_of(len[i])]++;
            for (unsigned c = 0; c < 5; c++)
                if (in_batch[c] > need[c])
                    need[c] = in_batch[c];
        }
    }
    struct wbuf_expect x = {0};
    for (unsigned c = 0; c < 5; c++) {
        x.buffers += need[c];
        x.bytes_requested += need[c] * tier_size[c];
        x.phase_bytes += need[c] * jemalloc_class(tier_size[c]);
    }
    x.phase_allocations = x.buffers - 1;
    x.phase_bytes -= 256;
    return x;
}

static uint64_t ring_chunk(uint32_t len)
{
    return (16 + 18 + (uint64_t)len + 16 + 15) & ~(uint64_t)15;
}

/* Also the most bytes held at once: a growth holds the old ring and the new
 * one together for the copy, and the peers' backlogs are written one peer
 * after the other, in the order they connected. */
static struct wbuf_expect expect_ring(const ph_replay_input *in, uint64_t *peak_held)
{
    struct wbuf_expect x = {0};
    uint32_t len[256];
    uint64_t cap[EX_PEERS], held = 0;
    /* set-up made each peer's first 4 KiB ring (init and filter fit in it) */
    for (size_t p = 0; p < EX_PEERS; p++) {
        cap[p] = 4096;
        held += cap[p];
        x.buffers++;
        x.bytes_requested += cap[p];
    }
    *peak_held = held;
    for (size_t p = 0; p < EX_PEERS; p++) {
        size_t n = plan_lengths(in, p, len, 256);
        for (size_t b = 0; b < n; b += 64) {
            uint64_t used = 0;
            for (size_t i = b; i < n && i < b + 64; i++) {
                uint64_t need = ring_chunk(len[i]);
                if (used + need > cap[p]) {
                    uint64_t old = cap[p];
                    while (cap[p] < used + need)
                        cap[p] *= 2;
                    x.buffers++;
                    x.bytes_requested += cap[p];
                    x.phase_allocations++;
                    x.phase_bytes += cap[p];
                    if (held + cap[p] > *peak_held)
                        *peak_held = held + cap[p];
                    held += cap[p] - old;
                }
                used += need;
            }
        }
    }
    return x;
}

static void assert_wbuf_figures(const ph_strategy_result *r, const struct wbuf_expect *x)
{
    printf("  %s: buffers %llu (want %llu), bytes %llu (want %llu), phase %llu/%llu (want "
           "%llu/%llu)\n", r->name, (unsigned long long)r->wbuf_buffers_allocated,
           (unsigned long long)x->buffers, (unsigned long long)r->wbuf_bytes_requested,
           (unsigned long long)x->bytes_requested, (unsigned long long)r->rows[1].allocations,
           (unsigned long long)r->rows[1].bytes_allocated,
           (unsigned long long)x->phase_allocations, (unsigned long long)x->phase_bytes);
    assert_int_equal(r->wbuf_buffers_allocated, x->buffers);
    assert_int_equal(r->wbuf_bytes_requested, x->bytes_requested);
    assert_int_equal(r->rows[1].allocations, x->phase_allocations);
    assert_int_equal(r->rows[1].bytes_allocated, x->phase_bytes);
}

static void test_pool_ring_tiered_exact(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = exact_input();
    uint32_t len[256];
    size_t total = 0;
    for (size_t p = 0; p < EX_PEERS; p++) {
        uint64_t bytes = 0;
        size_t n = plan_lengths(in, p, len, 256);
        for (size_t i = 0; i < n; i++)
            bytes += len[i];
        /* the premises: one refill slice, one socket buffer */
        assert_true(bytes < 64 * 1024);
        total += n;
    }
    ph_replay_config cfg = model_cfg(EX_PEERS);
    cfg.linger_ns = 0;
    uint64_t ring_peak;
    struct wbuf_expect want[3] = {expect_pool(in), expect_ring(in, &ring_peak),
                                  expect_tiered(in)};
    const char *names[3] = {"pool", "ring", "tiered"};
    for (size_t i = 0; i < 3; i++) {
        ph_strategy_result r;
        run(in, &cfg, names[i], &r);
        assert_figures_add_up(&r);
        assert_int_equal(r.partial_writes, 0);
        assert_int_equal(r.would_block, 0);
        assert_int_equal(r.writes, total + 2 * EX_PEERS);
        assert_wbuf_figures(&r, &want[i]);
        if (i == 1)
            assert_int_equal(r.wbuf_peak_held_bytes, ring_peak);
        ph_strategy_result_clear(&r);
    }
    ph_replay_input_destroy(in);
}

/* A captured message the codec refuses (a channel_update cut short) is
 * sent as captured, as opaque bytes, on both paths and with either
 * encoding; the remote peers refuse it, and the replay fails naming the
 * reader and the message. The progress callback is called on the way. */
struct progress_seen {
    unsigned calls;
    uint64_t done, total;
};

static void on_progress(void *ctx, const ph_replay_progress *p)
{
    struct progress_seen *ps = ctx;
    ps->calls++;
    ps->done = p->messages_done;
    ps->total = p->messages_total;
}

static void test_malformed_message_replayed(void **state)
{
    (void)state;
    ph_replay_input *src = sample_prefix(50), *in;
    assert_int_equal(ph_replay_input_create(&in), PH_OK);
    size_t bad_at = 20;
    for (size_t i = 0; i < 50; i++) {
        const ph_replay_msg *m = ph_replay_input_at(src, i);
        size_t len = m->len;
        if (i == bad_at) {
            assert_int_equal(m->type, 258);
            len = 40; /* the signature and part of the chain hash */
        }
        assert_int_equal(ph_replay_input_add(in, m->ts_ns, 0, 0, m->bytes, len), PH_OK);
    }
    ph_replay_input_destroy(src);
    for (int k = 0; k < 4; k++) {
        ph_replay_config cfg = model_cfg(2);
        cfg.allow_unmeasured = true;
        cfg.verify = true;
        cfg.pace = k & 1 ? PH_PACE_SCALED : PH_PACE_ASAP;
        cfg.pace_factor = 100;
        cfg.encode = k & 2 ? PH_ENCODE_PER_WRITE : PH_ENCODE_STORED;
        struct progress_seen ps = {0};
        cfg.progress = on_progress;
        cfg.progress_ctx = &ps;
        ph_strategy_result r;
        char err[256];
        /* The node sends what it was given; the remote, a real peer, refuses
         * the truncated channel_update as BOLT 1 requires (warning, close),
         * and the replay says which reader and which message. */
        ph_err e = ph_replay_run_strategy(in, &cfg, "exact", &r, err, sizeof err);
        assert_int_equal(e, PH_ERR_PEER_PROTOCOL);
        assert_non_null(strstr(err, "malformed channel_update"));
        assert_non_null(strstr(err, "reader "));
        assert_true(ps.calls >= 1);
        ph_strategy_result_clear(&r);
    }
    ph_replay_input_destroy(in);
}

/* per-write decodes each message for each peer (the backlog path), stored
 * copies bytes: the decode row shows it, and only it. */
static void test_encode_policies(void **state)
{
    (void)state;
    require_measurement();
    const size_t peers = 3, msgs = 2000;
    ph_replay_input *in = sample_prefix(msgs);
    ph_replay_config cfg = model_cfg(peers);
    ph_strategy_result stored, per_write;
    run(in, &cfg, "exact", &stored);
    cfg.encode = PH_ENCODE_PER_WRITE;
    run(in, &cfg, "exact", &per_write);
    assert_figures_add_up(&per_write);
    assert_int_equal(stored.rows[3].allocations, 0);
    /* two allocations each: the decoded message and its shareable handle */
    assert_int_equal(per_write.rows[3].allocations, 2 * peers * msgs);
    /* The node's own messages follow the policy too: its init and its
     * gossip_timestamp_filter to each peer are decoded (message and
     * handle) at setup, where stored queues their bytes. */
    assert_int_equal(per_write.setup_allocations, stored.setup_allocations + 2 * 2 * peers);
    /* the same frames either way */
    assert_int_equal(stored.writes, per_write.writes);
    assert_int_equal(stored.write_bytes, per_write.write_bytes);
    assert_int_equal(stored.rows[1].bytes_allocated, per_write.rows[1].bytes_allocated);
    ph_strategy_result_clear(&stored);
    ph_strategy_result_clear(&per_write);
    ph_replay_input_destroy(in);
}

/* The pool's idle expiry is the node's 1 s strategy tick on the virtual
 * clock: with 45 s of linger every idle buffer is gone (the default expiry
 * is 30 s; the node's first ping, at 60 s, is not reached). */
static void test_pool_expires_at_asap(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(2000);
    ph_replay_config cfg = model_cfg(4);
    ph_strategy_result none, lingered;
    run(in, &cfg, "pool", &none);
    cfg.linger_ns = 45ull * 1000000000ull;
    run(in, &cfg, "pool", &lingered);
    /* what is left of the write-buffer row is each peer's strategy state */
    assert_true(lingered.rows[1].end_live_bytes < 4 * 256);
    uint64_t idle = none.rows[1].end_live_bytes - lingered.rows[1].end_live_bytes;
    assert_true(idle >= 65536);
    assert_int_equal(idle % 65536, 0);
    /* The node's tick also trimmed the idle peers (ph_peer_trim): their
     * queues' rings and in-flight slots, the last received message. The
     * other rows are as they were. */
    uint64_t queue = none.rows[2].end_live_bytes - lingered.rows[2].end_live_bytes;
    uint64_t session = none.rows[4].end_live_bytes - lingered.rows[4].end_live_bytes;
    assert_true(queue > 0);
    assert_true(lingered.rows[2].end_live_bytes <= 4 * 512); /* each queue's struct */
    assert_int_equal(none.rows[0].end_live_bytes, lingered.rows[0].end_live_bytes);
    assert_int_equal(none.rows[3].end_live_bytes, lingered.rows[3].end_live_bytes);
    assert_int_equal(none.end_live_bytes - lingered.end_live_bytes, idle + queue + session);
    assert_true(lingered.virtual_seconds >= 45.0 && lingered.virtual_seconds < 46.0);
    ph_strategy_result_clear(&none);
    ph_strategy_result_clear(&lingered);
    ph_replay_input_destroy(in);
}

/* Paced replays run on the capture's clock: on the virtual clock the
 * phase lasts exactly from the first message to the last (1 ms apart). */
static void test_paced_virtual_duration(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(1000);
    ph_replay_config cfg = model_cfg(2);
    cfg.pace = PH_PACE_CAPTURE;
    ph_strategy_result r;
    run(in, &cfg, "exact", &r);
    assert_true(r.virtual_seconds == 0.999);
    assert_int_equal(r.writes, 2 * (1000 + 2));
    assert_figures_add_up(&r);
    ph_strategy_result_clear(&r);
    cfg.pace = PH_PACE_SCALED;
    cfg.pace_factor = 10;
    run(in, &cfg, "exact", &r);
    assert_true(r.virtual_seconds == 0.0999);
    assert_int_equal(r.writes, 2 * (1000 + 2));
    ph_strategy_result_clear(&r);
    ph_replay_input_destroy(in);
}

/* Readers that never read: the node's queue for them stops growing where
 * the live node's would (the backlog is pulled 64 KiB at a time, relays
 * drop at the soft cap), and the peak is the true one. */
static void test_stalled_reader(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(8000);
    ph_replay_config cfg = model_cfg(4);
    cfg.stalled = 2;
    cfg.model_buffer = 4096;
    ph_strategy_result backlog, relayed;
    run(in, &cfg, "fresh", &backlog);
    assert_figures_add_up(&backlog);
    /* the two readers that read got everything */
    assert_true(backlog.writes >= 2 * (8000 + 2));
    assert_int_equal(backlog.disconnected, 0);
    /* what a stalled peer pins is bounded by the refill slice, not the capture */
    assert_true(backlog.end_live_bytes < 2 * 1024 * 1024);
    cfg.pace = PH_PACE_SCALED;
    cfg.pace_factor = 1000;
    cfg.queue_soft = 64 * 1024;
    run(in, &cfg, "fresh", &relayed);
    assert_figures_add_up(&relayed);
    assert_true(relayed.dropped > 0);
    assert_true(relayed.peak_queued_bytes <= 2 * (64 * 1024 + 65535 + 34) + 2 * 65536);
    ph_strategy_result_clear(&backlog);
    ph_strategy_result_clear(&relayed);
    ph_replay_input_destroy(in);
}

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
        assert_int_equal(r.writes, (3000 + 2) * peer_counts[k]);
        ph_strategy_result_clear(&r);
    }
    /* a slow reader over sockets, and the model's remotes verify too */
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
    cfg.sink = PH_SINK_MODEL;
    run(in, &cfg, "tiered", &r);
    assert_int_equal(r.verified, 6000);
    assert_int_equal(r.mismatches, 0);
    ph_strategy_result_clear(&r);
    ph_replay_input_destroy(in);
}

/* A captured message a peer must refuse (an unknown even type, BOLT 1):
 * the remotes close on it, and the replay fails naming the reader and the
 * reason, over either transport. */
static void test_remote_refusal_fails_the_replay(void **state)
{
    (void)state;
    ph_replay_input *in = sample_prefix(30);
    static const uint8_t even[] = {0x00, 0x64, 0x00};
    assert_int_equal(ph_replay_input_add(in, 30000000, 0, 0, even, sizeof even), PH_OK);
    for (int k = 0; k < 2; k++) {
        ph_replay_config cfg = model_cfg(2);
        cfg.sink = k ? PH_SINK_SOCKET : PH_SINK_MODEL;
        cfg.allow_unmeasured = true;
        cfg.linger_ns = 0;
        ph_strategy_result r;
        char err[256] = "";
        ph_err e = ph_replay_run_isolated(in, &cfg, "exact", &r, err, sizeof err);
        assert_int_equal(e, PH_ERR_PEER_PROTOCOL);
        assert_non_null(strstr(err, "unknown even message type 100"));
        assert_non_null(strstr(err, "reader "));
    }
    ph_replay_input_destroy(in);
}

/* Out of file descriptors for the socket transport's connections: the
 * replay fails at once, saying which limit to raise. */
static void test_socket_transport_out_of_descriptors(void **state)
{
    (void)state;
    ph_replay_input *in = sample_prefix(10);
    ph_replay_config cfg = model_cfg(64);
    cfg.sink = PH_SINK_SOCKET;
    cfg.allow_unmeasured = true;
    int probe = open("/dev/null", O_RDONLY);
    assert_true(probe >= 0);
    close(probe);
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)probe + 20; /* room for a few pairs, not 64 */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    ph_strategy_result r;
    char err[256] = "";
    ph_err e = ph_replay_run_strategy(in, &cfg, "exact", &r, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(e, PH_ERR_IO);
    assert_non_null(strstr(err, "open-files limit"));
    /* every descriptor it opened was closed again */
    int after = open("/dev/null", O_RDONLY);
    assert_int_equal(after, probe);
    close(after);
    ph_replay_input_destroy(in);
}

static void test_rejects_bad_config(void **state)
{
    (void)state;
    ph_replay_input *in = sample_prefix(10);
    ph_replay_config cfg = model_cfg(2);
    cfg.allow_unmeasured = true;
    ph_strategy_result r;
    char err[256];
    cfg.stalled = 3;
    assert_int_equal(ph_replay_run_strategy(in, &cfg, "fresh", &r, err, sizeof err), PH_ERR_ARG);
    assert_non_null(strstr(err, "stalled"));
    cfg.stalled = 0;
    ph_err e = ph_replay_run_strategy(in, &cfg, "nonesuch", &r, err, sizeof err);
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

/* Every peer at the end, and the chosen peers over time: relayed gossip
 * piles up in a stalled reader's queue (up to the soft cap), which makes
 * peer 0 the costliest, followed first; reuse's peers each own their one
 * buffer; the series follow the samples. */
static void test_per_peer_figures(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(3000);
    ph_replay_config cfg = model_cfg(4);
    cfg.stalled = 1;
    cfg.timeline_peers = 2;
    cfg.model_buffer = 8192;
    cfg.pace = PH_PACE_SCALED;
    cfg.pace_factor = 1000;
    ph_strategy_result r;
    run(in, &cfg, "reuse", &r);
    assert_int_equal(r.n_peers_end, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r.peers_end[i].wbuf_bytes, 65535);
        assert_int_equal(r.peers_end[i].buffers, 1);
        assert_true(r.peers_end[i].held_bytes > 65535);
    }
    assert_true(r.peers_end[0].queued_bytes > 256 * 1024); /* the stalled one */
    assert_int_equal(r.peers_end[1].queued_bytes, 0);
    assert_int_equal(r.n_peer_series, 2);
    assert_int_equal(r.peer_series[0].peer, 0);
    assert_true(r.n_samples > 10);
    uint64_t most = 0;
    for (size_t k = 0; k < r.n_samples; k++) {
        const ph_peer_point *pt = &r.peer_series[0].points[k];
        most = pt->queued_bytes > most ? pt->queued_bytes : most;
        assert_true(pt->buffers <= 1);
    }
    assert_true(most > 0);
    /* the end point is the end figure */
    assert_int_equal(r.peer_series[0].points[r.n_samples - 1].held_bytes, r.peers_end[0].held_bytes);
    ph_strategy_result_clear(&r);
    /* none asked: none followed; every peer's end figures all the same */
    cfg.timeline_peers = 0;
    run(in, &cfg, "fresh", &r);
    assert_int_equal(r.n_peer_series, 0);
    assert_int_equal(r.n_peers_end, 4);
    assert_int_equal(r.peers_end[2].buffers, 0);
    ph_strategy_result_clear(&r);
    ph_replay_input_destroy(in);
}

/* The GC model needs the program's free(); profiles need a profiled
 * process: each refused with its own error and one line. */
static void test_gc_and_prof_unavailable(void **state)
{
    (void)state;
    require_measurement();
    ph_replay_input *in = sample_prefix(10);
    ph_replay_config cfg = model_cfg(2);
    cfg.gc_model = true;
    cfg.gc_gogc = 100;
    ph_strategy_result r;
    char err[256];
    assert_int_equal(ph_replay_run_strategy(in, &cfg, "fresh", &r, err, sizeof err),
                     PH_ERR_GC_UNAVAILABLE);
    assert_non_null(strstr(err, "GC model"));
    assert_null(strchr(err, '\n'));
    cfg.gc_model = false;
    cfg.prof_dir = "/tmp";
    assert_int_equal(ph_replay_run_strategy(in, &cfg, "fresh", &r, err, sizeof err),
                     PH_ERR_PROF_UNAVAILABLE);
    assert_non_null(strstr(err, "heap profile"));
    ph_replay_input_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_plans),
        cmocka_unit_test(test_rejects_bad_config),
        cmocka_unit_test(test_remote_refusal_fails_the_replay),
        cmocka_unit_test(test_socket_transport_out_of_descriptors),
        cmocka_unit_test(test_model_paths_run_unmeasured),
        cmocka_unit_test(test_model_is_deterministic),
        cmocka_unit_test(test_jobs_same_figures),
        cmocka_unit_test(test_encode_policies),
        cmocka_unit_test(test_pool_expires_at_asap),
        cmocka_unit_test(test_paced_virtual_duration),
        cmocka_unit_test(test_analytic_relations),
        cmocka_unit_test(test_pool_ring_tiered_exact),
        cmocka_unit_test(test_malformed_message_replayed),
        cmocka_unit_test(test_stalled_reader),
        cmocka_unit_test(test_socket_sink_verifies),
        cmocka_unit_test(test_per_peer_figures),
        cmocka_unit_test(test_gc_and_prof_unavailable),
    };
    /* PH_TEST_FILTER=pattern: only the matching tests (tests/e2e/valgrind.sh
     * runs the unmeasured model path alone). */
    if (getenv("PH_TEST_FILTER"))
        cmocka_set_test_filter(getenv("PH_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
