#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "memstat.h"
#include "ph_test.h"
#include "wbuf.h"

#define MAXB 65535u
#define SEC 1000000000ull
/* A ring chunk is a 16-byte record + 18 + len + 16, rounded to 16. */
#define RING_CHUNK(len) ((((len) + 50u) + 15u) & ~15u)

static ph_wbuf *make(const char *name, const ph_wbuf_config *cfg)
{
    ph_wbuf *w = NULL;
    assert_int_equal(ph_wbuf_create(&w, name, cfg), PH_OK);
    assert_non_null(w);
    assert_string_equal(ph_wbuf_name(w), name);
    return w;
}

static ph_wbuf_peer *attach(ph_wbuf *w)
{
    ph_wbuf_peer *p = NULL;
    assert_int_equal(ph_wbuf_peer_attach(w, &p), PH_OK);
    assert_non_null(p);
    return p;
}

static ph_wbuf_stats stats_of(const ph_wbuf *w)
{
    ph_wbuf_stats s;
    ph_wbuf_get_stats(w, &s);
    return s;
}

static void acquire_ok(ph_wbuf_peer *p, size_t len, ph_wbuf_frame *f, uint64_t now)
{
    assert_int_equal(ph_wbuf_acquire(p, len, f, now), PH_OK);
    assert_non_null(f->hdr);
    assert_non_null(f->body);
    assert_non_null(f->mac);
    assert_int_equal(f->len, len);
}

/* Write what encryption would: 18 header bytes, the body, 16 MAC bytes, each
 * byte derived from `seed` so that overlap or loss shows up in check(). */
static uint8_t pat(unsigned seed, size_t i)
{
    return (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

static void fill(ph_wbuf_frame *f, unsigned seed)
{
    for (size_t i = 0; i < 18; i++)
        f->hdr[i] = pat(seed, i);
    for (size_t i = 0; i < f->len; i++)
        f->body[i] = pat(seed, 100 + i);
    for (size_t i = 0; i < 16; i++)
        f->mac[i] = pat(seed, 70000 + i);
}

static void check(const ph_wbuf_frame *f, unsigned seed)
{
    for (size_t i = 0; i < 18; i++)
        assert_int_equal(f->hdr[i], pat(seed, i));
    for (size_t i = 0; i < f->len; i++)
        if (f->body[i] != pat(seed, 100 + i))
            fail_msg("body byte %zu of frame %u corrupted", i, seed);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(f->mac[i], pat(seed, 70000 + i));
}

static const size_t lengths[] = {0, 1, 2, 255, 256, 257, 1023, 1024, 1025, 4096, 4097,
                                 16384, 16385, 32768, 65534, 65535};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])

static void test_names_and_create(void **state)
{
    (void)state;
    static const char *const want[] = {"fresh", "exact", "reuse", "pool", "ring", "tiered"};
    const char *const *names = ph_wbuf_names();
    size_t n = 0;
    while (names[n])
        n++;
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i]);
        ph_wbuf_destroy(make(names[i], NULL));
    }
    ph_wbuf *w = (ph_wbuf *)&n;
    assert_int_equal(ph_wbuf_create(&w, "slab", NULL), PH_ERR_STRATEGY_UNKNOWN);
    assert_null(w);
    assert_int_equal(ph_wbuf_create(&w, "", NULL), PH_ERR_STRATEGY_UNKNOWN);
    assert_int_equal(ph_wbuf_create(NULL, "fresh", NULL), PH_ERR_ARG);
    assert_int_equal(ph_wbuf_create(&w, NULL, NULL), PH_ERR_ARG);
    assert_int_equal(ph_wbuf_peer_attach(NULL, NULL), PH_ERR_ARG);
    assert_null(ph_wbuf_name(NULL));
    assert_int_equal(ph_wbuf_peer_held(NULL), 0);
    ph_wbuf_destroy(NULL);
    ph_wbuf_peer_detach(NULL);
    ph_wbuf_tick(NULL, 0);
}

static void test_ring_config_checked(void **state)
{
    (void)state;
    ph_wbuf *w = NULL;
    /* Too small for one largest frame: AGAIN could never clear. */
    ph_wbuf_config cfg = {.ring_max = RING_CHUNK(MAXB) - 16};
    assert_int_equal(ph_wbuf_create(&w, "ring", &cfg), PH_ERR_ARG);
    cfg.ring_max = RING_CHUNK(MAXB);
    assert_int_equal(ph_wbuf_create(&w, "ring", &cfg), PH_OK);
    ph_wbuf_destroy(w);
    cfg = (ph_wbuf_config){.ring_initial = 1 << 20, .ring_max = 1 << 19};
    assert_int_equal(ph_wbuf_create(&w, "ring", &cfg), PH_ERR_ARG);
}

/* Every strategy: every interesting length round-trips the bytes an
 * encrypted frame needs, too-long is refused, counters balance. */
static void test_frames_every_strategy(void **state)
{
    (void)state;
    for (const char *const *name = ph_wbuf_names(); *name; name++) {
        ph_wbuf *w = make(*name, NULL);
        ph_wbuf_peer *p = attach(w);
        ph_wbuf_frame f;
        assert_int_equal(ph_wbuf_acquire(p, MAXB + 1, &f, 0), PH_ERR_ARG);
        assert_int_equal(ph_wbuf_acquire(NULL, 1, &f, 0), PH_ERR_ARG);
        assert_int_equal(ph_wbuf_acquire(p, 1, NULL, 0), PH_ERR_ARG);
        for (size_t i = 0; i < N_LENGTHS; i++) {
            acquire_ok(p, lengths[i], &f, i);
            fill(&f, (unsigned)i);
            check(&f, (unsigned)i);
            if (strcmp(*name, "ring") == 0) {
                /* carved contiguously: one write can send the frame */
                assert_ptr_equal(f.hdr + 18, f.body);
                assert_ptr_equal(f.body + f.len, f.mac);
            } else {
                assert_ptr_equal(f.hdr, f.hdr_space);
                assert_ptr_equal(f.mac, f.mac_space);
            }
            ph_wbuf_release(p, &f, i);
        }
        ph_wbuf_stats s = stats_of(w);
        assert_int_equal(s.acquires, N_LENGTHS);
        assert_int_equal(s.releases, N_LENGTHS);
        assert_int_equal(s.would_block, 0);
        assert_true(s.buffers_allocated >= s.buffers_freed);
        assert_true(s.peak_held_bytes >= s.held_bytes);
        ph_wbuf_peer_detach(p);
        ph_wbuf_destroy(w);
    }
}

static void test_double_release_ignored(void **state)
{
    (void)state;
    for (const char *const *name = ph_wbuf_names(); *name; name++) {
        ph_wbuf *w = make(*name, NULL);
        ph_wbuf_peer *p = attach(w), *q = attach(w);
        ph_wbuf_frame f, g;
        acquire_ok(p, 100, &f, 0);
        ph_wbuf_release(q, &f, 0); /* wrong peer */
        assert_int_equal(stats_of(w).releases, 0);
        ph_wbuf_release(p, &f, 0);
        ph_wbuf_release(p, &f, 0); /* twice */
        ph_wbuf_release(p, NULL, 0);
        assert_int_equal(stats_of(w).releases, 1);
        acquire_ok(p, 10, &g, 0);
        /* the same frame again while it is out */
        assert_int_equal(ph_wbuf_acquire(p, 10, &g, 0), PH_ERR_STATE);
        ph_wbuf_release(p, &g, 0);
        assert_null(g.body);
        ph_wbuf_peer_detach(q);
        ph_wbuf_peer_detach(p);
        ph_wbuf_destroy(w);
    }
}

static void test_fresh(void **state)
{
    (void)state;
    ph_wbuf *w = make("fresh", NULL);
    ph_wbuf_peer *p = attach(w);
    assert_int_equal(ph_wbuf_peer_held(p), 0);
    ph_wbuf_frame f[3];
    for (unsigned i = 0; i < 100; i++) {
        acquire_ok(p, i * 10, &f[0], i);
        assert_int_equal(ph_wbuf_peer_held(p), MAXB);
        ph_wbuf_release(p, &f[0], i);
        assert_int_equal(ph_wbuf_peer_held(p), 0);
    }
    /* several in flight: one buffer each, never AGAIN */
    for (unsigned i = 0; i < 3; i++)
        acquire_ok(p, 1, &f[i], 0);
    assert_int_equal(ph_wbuf_peer_held(p), 3 * MAXB);
    for (unsigned i = 0; i < 3; i++)
        ph_wbuf_release(p, &f[i], 0);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.acquires, 103);
    assert_int_equal(s.buffers_allocated, s.acquires);
    assert_int_equal(s.buffers_freed, s.acquires);
    assert_int_equal(s.bytes_requested, (uint64_t)MAXB * s.acquires);
    assert_int_equal(s.held_bytes, 0);
    assert_int_equal(s.peak_held_bytes, 3 * MAXB);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

static void test_exact(void **state)
{
    (void)state;
    ph_wbuf *w = make("exact", NULL);
    ph_wbuf_peer *p = attach(w);
    uint64_t sum = 0;
    ph_wbuf_frame f;
    for (size_t i = 1; i < N_LENGTHS; i++) { /* lengths[0] == 0 */
        acquire_ok(p, lengths[i], &f, 0);
        assert_int_equal(ph_wbuf_peer_held(p), lengths[i]);
        fill(&f, 1);
        ph_wbuf_release(p, &f, 0);
        sum += lengths[i];
    }
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.bytes_requested, sum);
    assert_int_equal(s.buffers_allocated, N_LENGTHS - 1);
    assert_int_equal(s.buffers_freed, N_LENGTHS - 1);
    assert_int_equal(s.peak_held_bytes, MAXB);
    assert_int_equal(s.held_bytes, 0);
    assert_int_equal(ph_wbuf_peer_held(p), 0);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

static void test_reuse(void **state)
{
    (void)state;
    enum { P = 7, M = 50 };
    ph_wbuf *w = make("reuse", NULL);
    ph_wbuf_peer *p[P];
    for (int i = 0; i < P; i++) {
        p[i] = attach(w);
        assert_int_equal(ph_wbuf_peer_held(p[i]), MAXB);
    }
    assert_int_equal(stats_of(w).buffers_allocated, P);
    uint8_t *body[P];
    for (int m = 0; m < M; m++) {
        for (int i = 0; i < P; i++) {
            ph_wbuf_frame f, g;
            acquire_ok(p[i], (size_t)m * 1000, &f, 0);
            if (m == 0)
                body[i] = f.body;
            assert_ptr_equal(f.body, body[i]); /* the same buffer every time */
            fill(&f, (unsigned)m);
            /* its one buffer is out: a second frame must wait */
            assert_int_equal(ph_wbuf_acquire(p[i], 10, &g, 0), PH_ERR_AGAIN);
            check(&f, (unsigned)m);
            ph_wbuf_release(p[i], &f, 0);
            assert_int_equal(ph_wbuf_peer_held(p[i]), MAXB);
        }
    }
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated, P);
    assert_int_equal(s.buffers_freed, 0);
    assert_int_equal(s.bytes_requested, (uint64_t)P * MAXB);
    assert_int_equal(s.acquires, P * M);
    assert_int_equal(s.would_block, P * M);
    assert_int_equal(s.held_bytes, (uint64_t)P * MAXB);
    for (int i = 0; i < P; i++)
        ph_wbuf_peer_detach(p[i]);
    s = stats_of(w);
    assert_int_equal(s.buffers_freed, P);
    assert_int_equal(s.held_bytes, 0);
    ph_wbuf_destroy(w);
}

static void test_pool_worker_limit_and_recycling(void **state)
{
    (void)state;
    ph_wbuf_config cfg = {.pool_workers = 4, .pool_expiry_ns = 30 * SEC};
    ph_wbuf *w = make("pool", &cfg);
    ph_wbuf_peer *p[6];
    for (int i = 0; i < 6; i++)
        p[i] = attach(w);
    ph_wbuf_frame f[6];
    for (int i = 0; i < 4; i++) {
        acquire_ok(p[i], 500, &f[i], 0);
        assert_int_equal(ph_wbuf_peer_held(p[i]), MAXB);
    }
    assert_int_equal(ph_wbuf_acquire(p[4], 10, &f[4], 0), PH_ERR_AGAIN);
    assert_int_equal(ph_wbuf_acquire(p[0], 10, &f[5], 0), PH_ERR_AGAIN);
    assert_int_equal(stats_of(w).would_block, 2);
    /* returned at t=1 and t=2: the longest idle is handed out first */
    uint8_t *first = f[2].body, *second = f[0].body;
    ph_wbuf_release(p[2], &f[2], 1 * SEC);
    ph_wbuf_release(p[0], &f[0], 2 * SEC);
    assert_int_equal(ph_wbuf_peer_held(p[0]), 0);
    acquire_ok(p[4], 10, &f[4], 3 * SEC);
    assert_ptr_equal(f[4].body, first);
    acquire_ok(p[5], 10, &f[5], 3 * SEC);
    assert_ptr_equal(f[5].body, second);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated, 4);
    assert_int_equal(s.buffers_freed, 0);

    /* many messages from many peers: never more buffers than workers */
    int idx[] = {1, 3, 4, 5};
    for (int k = 0; k < 4; k++)
        ph_wbuf_release(p[idx[k]], &f[idx[k]], 4 * SEC);
    for (unsigned m = 0; m < 200; m++) {
        ph_wbuf_frame a, b, c;
        acquire_ok(p[m % 6], m * 300, &a, 5 * SEC);
        acquire_ok(p[(m + 1) % 6], 7, &b, 5 * SEC);
        acquire_ok(p[(m + 2) % 6], 65535, &c, 5 * SEC);
        fill(&a, 1);
        fill(&c, 3);
        check(&a, 1);
        ph_wbuf_release(p[(m + 1) % 6], &b, 5 * SEC);
        ph_wbuf_release(p[m % 6], &a, 5 * SEC);
        ph_wbuf_release(p[(m + 2) % 6], &c, 5 * SEC);
    }
    s = stats_of(w);
    assert_int_equal(s.buffers_allocated, 4);
    assert_true(s.peak_held_bytes <= 4ull * MAXB);
    assert_int_equal(s.held_bytes, 4ull * MAXB); /* all idle in the pool */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(ph_wbuf_peer_held(p[i]), 0);
        ph_wbuf_peer_detach(p[i]);
    }
    ph_wbuf_destroy(w);
}

static void test_pool_expiry(void **state)
{
    (void)state;
    ph_wbuf_config cfg = {.pool_workers = 3, .pool_expiry_ns = 30 * SEC};
    ph_wbuf *w = make("pool", &cfg);
    ph_wbuf_peer *p = attach(w);
    ph_wbuf_frame f[3];
    for (int i = 0; i < 3; i++)
        acquire_ok(p, 1, &f[i], 0);
    ph_wbuf_release(p, &f[0], 10 * SEC);
    ph_wbuf_release(p, &f[1], 20 * SEC);
    ph_wbuf_release(p, &f[2], 30 * SEC);
    ph_wbuf_tick(w, 40 * SEC); /* 30 s idle is not yet "more than 30 s" */
    assert_int_equal(stats_of(w).buffers_freed, 0);
    ph_wbuf_tick(w, 40 * SEC + 1);
    assert_int_equal(stats_of(w).buffers_freed, 1);
    assert_int_equal(stats_of(w).held_bytes, 2ull * MAXB);
    ph_wbuf_tick(w, 5 * SEC); /* a clock going backwards frees nothing */
    assert_int_equal(stats_of(w).buffers_freed, 1);
    /* taking and returning refreshes a buffer's idle time */
    acquire_ok(p, 1, &f[0], 55 * SEC);
    ph_wbuf_release(p, &f[0], 55 * SEC);
    ph_wbuf_tick(w, 61 * SEC);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_freed, 2);
    assert_int_equal(s.held_bytes, MAXB);
    ph_wbuf_tick(w, 100 * SEC);
    s = stats_of(w);
    assert_int_equal(s.buffers_freed, 3);
    assert_int_equal(s.held_bytes, 0);
    /* an empty pool makes a new buffer on demand */
    acquire_ok(p, 1, &f[0], 101 * SEC);
    assert_int_equal(stats_of(w).buffers_allocated, 4);
    ph_wbuf_release(p, &f[0], 101 * SEC);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

static void test_pool_idle_cap(void **state)
{
    (void)state;
    ph_wbuf_config cfg = {.pool_workers = 4, .pool_idle_max = 2};
    ph_wbuf *w = make("pool", &cfg);
    ph_wbuf_peer *p = attach(w);
    ph_wbuf_frame f[4];
    for (int i = 0; i < 4; i++)
        acquire_ok(p, 1, &f[i], 0);
    for (int i = 0; i < 4; i++)
        ph_wbuf_release(p, &f[i], 0);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_freed, 2);
    assert_int_equal(s.held_bytes, 2ull * MAXB);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

/* Ring scenario with 1,024-byte chunks in a 4 KiB ring. */
#define L1K (1024u - 50u)

static void test_ring_fifo_wrap_and_growth(void **state)
{
    (void)state;
    ph_wbuf_config cfg = {.ring_initial = 4096, .ring_max = 1u << 20};
    ph_wbuf *w = make("ring", &cfg);
    ph_wbuf_peer *p = attach(w);
    assert_int_equal(ph_wbuf_peer_held(p), 0); /* allocated at first use */
    ph_wbuf_frame f[8];
    for (unsigned i = 0; i < 4; i++) {
        acquire_ok(p, L1K, &f[i], 0);
        fill(&f[i], i);
    }
    assert_int_equal(ph_wbuf_peer_held(p), 4096);
    assert_int_equal(stats_of(w).buffers_allocated, 1);
    uint8_t *a_hdr = f[0].hdr;

    /* out of order: C's space waits for A and B */
    ph_wbuf_release(p, &f[2], 0);
    /* FIFO: releasing A frees the front, the next frame wraps into it */
    ph_wbuf_release(p, &f[0], 0);
    acquire_ok(p, L1K, &f[4], 0);
    fill(&f[4], 4);
    assert_ptr_equal(f[4].hdr, a_hdr);
    assert_int_equal(ph_wbuf_peer_held(p), 4096);
    /* B's and C's slots are still taken (B is out): no room, so it doubles
     * and the outstanding frames move with their bytes */
    acquire_ok(p, L1K, &f[5], 0);
    fill(&f[5], 5);
    assert_int_equal(ph_wbuf_peer_held(p), 8192);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated, 2);
    assert_int_equal(s.buffers_freed, 1);
    assert_int_equal(s.bytes_requested, 4096 + 8192);
    check(&f[1], 1);
    check(&f[3], 3);
    check(&f[4], 4);
    check(&f[5], 5);
    for (unsigned i = 1; i < 6; i++) {
        if (i == 2)
            continue;
        assert_ptr_equal(f[i].hdr + 18, f[i].body);
        assert_ptr_equal(f[i].body + f[i].len, f[i].mac);
    }
    /* a big frame: one doubling is not enough, it doubles again */
    acquire_ok(p, 20000, &f[6], 0);
    fill(&f[6], 6);
    assert_int_equal(ph_wbuf_peer_held(p), 32768);
    check(&f[1], 1);
    check(&f[5], 5);
    unsigned order[] = {1, 3, 4, 5, 6};
    for (unsigned i = 0; i < 5; i++)
        ph_wbuf_release(p, &f[order[i]], 0);
    /* grow-only: an empty ring keeps its size */
    assert_int_equal(ph_wbuf_peer_held(p), 32768);
    s = stats_of(w);
    assert_int_equal(s.held_bytes, 32768);
    assert_int_equal(s.acquires, s.releases);
    ph_wbuf_peer_detach(p);
    assert_int_equal(stats_of(w).held_bytes, 0);
    ph_wbuf_destroy(w);
}

static void test_ring_cap_again(void **state)
{
    (void)state;
    ph_wbuf_config cfg = {.ring_initial = 4096, .ring_max = 131072};
    ph_wbuf *w = make("ring", &cfg);
    ph_wbuf_peer *p = attach(w);
    ph_wbuf_frame a, b, c;
    acquire_ok(p, MAXB, &a, 0);
    assert_int_equal(ph_wbuf_peer_held(p), 131072);
    /* two largest frames (2 x 65,600) exceed the 128 KiB cap */
    assert_int_equal(ph_wbuf_acquire(p, MAXB, &b, 0), PH_ERR_AGAIN);
    assert_int_equal(stats_of(w).would_block, 1);
    acquire_ok(p, 60000, &c, 0);
    assert_int_equal(ph_wbuf_acquire(p, 10000, &b, 0), PH_ERR_AGAIN);
    ph_wbuf_release(p, &a, 0);
    acquire_ok(p, MAXB - 5000, &b, 0); /* wraps into a's space */
    assert_int_equal(ph_wbuf_peer_held(p), 131072);
    assert_int_equal(stats_of(w).buffers_allocated, 1);
    ph_wbuf_release(p, &c, 0);
    ph_wbuf_release(p, &b, 0);
    /* not a power-of-two multiple: the last doubling stops at the cap */
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
    cfg.ring_max = 100000;
    w = make("ring", &cfg);
    p = attach(w);
    acquire_ok(p, MAXB, &a, 0);
    assert_int_equal(ph_wbuf_peer_held(p), 100000);
    ph_wbuf_release(p, &a, 0);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

/* Up to 64 frames in flight, of varied sizes, released in random order: every outstanding frame keeps its bytes across
 * wraps and growth, and the capacity only ever grows in doublings. */
static void test_ring_stress(void **state)
{
    (void)state;
    enum { N = 64 };
    ph_wbuf_config cfg = {.ring_initial = 4096, .ring_max = 1u << 22};
    ph_wbuf *w = make("ring", &cfg);
    ph_wbuf_peer *p = attach(w);
    ph_wbuf_frame f[N];
    int out[N] = {0};
    unsigned seed[N] = {0};
    uint32_t rng = 12345;
    size_t held = 0;
    for (unsigned step = 0; step < 4000; step++) {
        rng = rng * 1103515245u + 12345u;
        unsigned k = (rng >> 8) % N;
        if (!out[k]) {
            size_t len = ((rng >> 16) % 8 == 0) ? (rng >> 4) % 20000 : (rng >> 4) % 600;
            acquire_ok(p, len, &f[k], step);
            seed[k] = step;
            fill(&f[k], seed[k]);
            out[k] = 1;
        } else {
            check(&f[k], seed[k]);
            ph_wbuf_release(p, &f[k], step);
            out[k] = 0;
        }
        size_t h = ph_wbuf_peer_held(p);
        assert_true(h >= held);
        if (h != held) {
            assert_true(h % 4096 == 0);
            assert_true(((h / 4096) & (h / 4096 - 1)) == 0); /* 4 KiB x 2^k */
        }
        held = h;
    }
    for (unsigned k = 0; k < N; k++)
        if (out[k])
            check(&f[k], seed[k]);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated - s.buffers_freed, 1);
    assert_int_equal(s.held_bytes, held);
    ph_wbuf_peer_detach(p); /* releases what is still out */
    s = stats_of(w);
    assert_int_equal(s.held_bytes, 0);
    assert_int_equal(s.acquires, s.releases);
    ph_wbuf_destroy(w);
}

static void test_tiered_classes(void **state)
{
    (void)state;
    static const struct {
        size_t len, cls;
    } cases[] = {
        {0, 256},       {1, 256},         {256, 256},     {257, 1024},     {1024, 1024},
        {1025, 4096},   {4096, 4096},     {4097, 16384},  {16384, 16384},  {16385, MAXB},
        {65535, MAXB},
    };
    ph_wbuf *w = make("tiered", NULL);
    ph_wbuf_peer *p = attach(w);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ph_wbuf_stats before = stats_of(w);
        ph_wbuf_frame f;
        acquire_ok(p, cases[i].len, &f, 0);
        assert_int_equal(ph_wbuf_peer_held(p), cases[i].cls);
        ph_wbuf_stats after = stats_of(w);
        /* a class's first buffer is new and of the class's size; a second
         * frame of the same class reuses the idle one */
        if (after.buffers_allocated != before.buffers_allocated)
            assert_int_equal(after.bytes_requested - before.bytes_requested, cases[i].cls);
        else
            assert_true(i > 0 && cases[i - 1].cls == cases[i].cls);
        fill(&f, (unsigned)i);
        check(&f, (unsigned)i);
        ph_wbuf_release(p, &f, 0);
        assert_int_equal(ph_wbuf_peer_held(p), 0);
    }
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated, 5);
    assert_int_equal(s.bytes_requested, 256 + 1024 + 4096 + 16384 + MAXB);
    assert_int_equal(s.held_bytes, 256 + 1024 + 4096 + 16384 + MAXB);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

static void test_tiered_recycle_cap_expiry(void **state)
{
    (void)state;
    ph_wbuf_config cfg = {.tiered_per_class = 2, .pool_expiry_ns = 30 * SEC};
    ph_wbuf *w = make("tiered", &cfg);
    ph_wbuf_peer *p = attach(w);
    ph_wbuf_frame f[3];
    for (int i = 0; i < 3; i++)
        acquire_ok(p, 100, &f[i], 0); /* never AGAIN */
    uint8_t *newest_idle = f[1].body;
    ph_wbuf_release(p, &f[0], 1 * SEC);
    ph_wbuf_release(p, &f[1], 2 * SEC);
    ph_wbuf_release(p, &f[2], 3 * SEC); /* class full: freed */
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_freed, 1);
    assert_int_equal(s.held_bytes, 2 * 256);
    /* the most recently returned buffer comes back first */
    acquire_ok(p, 200, &f[0], 4 * SEC);
    assert_ptr_equal(f[0].body, newest_idle);
    ph_wbuf_release(p, &f[0], 4 * SEC);
    acquire_ok(p, 50, &f[0], 5 * SEC);
    assert_ptr_equal(f[0].body, newest_idle);
    ph_wbuf_release(p, &f[0], 5 * SEC);
    assert_int_equal(stats_of(w).buffers_allocated, 3);
    ph_wbuf_tick(w, 33 * SEC); /* the one idle since 1 s */
    assert_int_equal(stats_of(w).buffers_freed, 2);
    ph_wbuf_tick(w, 36 * SEC);
    s = stats_of(w);
    assert_int_equal(s.buffers_freed, 3);
    assert_int_equal(s.held_bytes, 0);
    ph_wbuf_peer_detach(p);
    ph_wbuf_destroy(w);
}

/* Detach with frames still out, destroy with peers still attached: all the
 * memory comes back (jemalloc's live bytes; in sanitizer builds, which have
 * no jemalloc statistics, ASan's leak checker instead). */
static void test_detach_frees_everything(void **state)
{
    (void)state;
    ph_memstat *ms = ph_test_memstat_or_sanitizer();
    ph_memstat_probe *probe = ms ? ph_memstat_probe_of(ms) : NULL;
    for (const char *const *name = ph_wbuf_names(); *name; name++) {
        int64_t base = probe ? ph_memstat_live(probe) : 0;
        ph_wbuf *w = make(*name, NULL);
        ph_wbuf_peer *p[5];
        ph_wbuf_frame f[5][3];
        for (int i = 0; i < 5; i++) {
            p[i] = attach(w);
            int n = strcmp(*name, "reuse") == 0 ? 1 : 3;
            for (int k = 0; k < n; k++)
                acquire_ok(p[i], (size_t)(k * 20000 + i), &f[i][k], 0);
            if (n > 1)
                ph_wbuf_release(p[i], &f[i][1], 0);
        }
        if (probe)
            assert_true(ph_memstat_live(probe) - base >= 5 * 256);
        for (int i = 0; i < 4; i++)
            ph_wbuf_peer_detach(p[i]);
        ph_wbuf_stats s = stats_of(w);
        if (strcmp(*name, "pool") && strcmp(*name, "tiered"))
            assert_int_equal(s.held_bytes, ph_wbuf_peer_held(p[4]));
        ph_wbuf_destroy(w); /* p[4] still attached */
        if (probe)
            assert_int_equal(ph_memstat_live(probe), base);
    }
    ph_memstat_destroy(ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_create),
        cmocka_unit_test(test_ring_config_checked),
        cmocka_unit_test(test_frames_every_strategy),
        cmocka_unit_test(test_double_release_ignored),
        cmocka_unit_test(test_fresh),
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_pool_worker_limit_and_recycling),
        cmocka_unit_test(test_pool_expiry),
        cmocka_unit_test(test_pool_idle_cap),
        cmocka_unit_test(test_ring_fifo_wrap_and_growth),
        cmocka_unit_test(test_ring_cap_again),
        cmocka_unit_test(test_ring_stress),
        cmocka_unit_test(test_tiered_classes),
        cmocka_unit_test(test_tiered_recycle_cap_expiry),
        cmocka_unit_test(test_detach_frees_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
