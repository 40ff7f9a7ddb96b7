/* jemalloc's figures checked against known allocation patterns and against
 * the write-buffer strategies' own counters. Without jemalloc's statistics
 * every test but test_errors fails with the reason; sanitizer builds (ASan
 * replaces malloc) declare those tests skipped instead (tests/support). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "memstat.h"
#include "ph_test.h"
#include "wbuf.h"

#define MAXB 65535u

static ph_err create_err; /* why setup has no ph_memstat */

static int setup(void **state)
{
    ph_memstat *m = NULL;
    create_err = ph_memstat_create(&m);
    if (create_err && create_err != PH_ERR_MEMSTAT)
        return -1;
    *state = m; /* NULL: every test but test_errors fails (skips under sanitizers) */
    return 0;
}

static int teardown(void **state)
{
    ph_memstat_destroy(*state);
    return 0;
}

#define need(state) need_((state), __func__)

static ph_memstat *need_(void **state, const char *test)
{
    if (!*state)
        ph_test_jemalloc_unavailable_(test, create_err);
    return *state;
}

static uint64_t calls(ph_memstat *m)
{
    uint64_t n = 0;
    assert_int_equal(ph_memstat_alloc_calls(m, &n), PH_OK);
    return n;
}

static void escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static void test_errors(void **state)
{
    (void)state;
    uint64_t n;
    ph_memstat_global g;
    assert_int_equal(ph_memstat_create(NULL), PH_ERR_ARG);
    assert_int_equal(ph_memstat_alloc_calls(NULL, &n), PH_ERR_ARG);
    assert_int_equal(ph_memstat_global_read(NULL, &g), PH_ERR_ARG);
    assert_null(ph_memstat_probe_of(NULL));
    ph_memstat_destroy(NULL);
}

static void test_size_classes(void **state)
{
    need(state);
    assert_int_equal(ph_memstat_size_class(1000), 1024);
    assert_int_equal(ph_memstat_size_class(256), 256);
    assert_int_equal(ph_memstat_size_class(16384), 16384);
    assert_int_equal(ph_memstat_size_class(65535), 65536);
    /* why the frame keeps header and MAC apart from the body */
    assert_int_equal(ph_memstat_size_class(65551), 81920);
    assert_int_equal(ph_memstat_size_class(65569), 81920);
    assert_int_equal(ph_memstat_size_class(0), 0);
}

/* N calls give a delta of exactly N, small (tcache-served) and large sizes
 * alike, and size-class bytes in the hot counters. */
static void test_alloc_calls_exact(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    static const size_t sizes[] = {24, 1000, 4096, 20000, 65535, 100000};
    static const size_t counts[] = {1, 7, 1000};
    void **ptrs = malloc(1000 * sizeof *ptrs);
    assert_non_null(ptrs);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            size_t n = counts[c], cls = ph_memstat_size_class(sizes[s]);
            uint64_t c0 = calls(m), a0 = *p->allocated, d0 = *p->deallocated;
            for (size_t i = 0; i < n; i++) {
                ptrs[i] = malloc(sizes[s]);
                escape(ptrs[i]);
            }
            uint64_t a1 = *p->allocated;
            for (size_t i = 0; i < n; i++)
                free(ptrs[i]);
            uint64_t d1 = *p->deallocated, c1 = calls(m);
            assert_int_equal(c1 - c0, n);
            assert_int_equal(a1 - a0, n * cls);
            assert_int_equal(d1 - d0, n * cls);
        }
    }
    free(ptrs);
}

static void test_malloc_1000_is_1024(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    int64_t base = ph_memstat_live(p);
    void *x = malloc(1000);
    escape(x);
    assert_int_equal(ph_memstat_live(p) - base, 1024);
    free(x);
    assert_int_equal(ph_memstat_live(p), base);
}

static void test_peak_sampling(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    int64_t base = ph_memstat_live(p);
    ph_memstat_reset_peak(p);
    assert_int_equal(p->peak, base);
    void *x = malloc(1u << 20);
    escape(x);
    assert_int_equal(ph_memstat_sample(p) - base, 1 << 20);
    free(x);
    assert_int_equal(ph_memstat_sample(p), base);
    assert_int_equal(p->peak - base, 1 << 20);
}

static void test_global(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_global g0, g1;
    assert_int_equal(ph_memstat_global_read(m, &g0), PH_OK);
    assert_true(g0.allocated > 0);
    assert_true(g0.active >= g0.allocated);
    assert_true(g0.resident > 0);
    assert_true(g0.mapped >= g0.active);
    void *x = malloc(8u << 20);
    escape(x);
    assert_int_equal(ph_memstat_global_read(m, &g1), PH_OK);
    assert_true(g1.allocated >= g0.allocated + (8u << 20));
    free(x);
}

static ph_wbuf *make(const char *name, const ph_wbuf_config *cfg)
{
    ph_wbuf *w = NULL;
    assert_int_equal(ph_wbuf_create(&w, name, cfg), PH_OK);
    return w;
}

static ph_wbuf_stats stats_of(const ph_wbuf *w)
{
    ph_wbuf_stats s;
    ph_wbuf_get_stats(w, &s);
    return s;
}

static void send_one(ph_wbuf_peer *p, size_t len)
{
    ph_wbuf_frame f;
    assert_int_equal(ph_wbuf_acquire(p, len, &f, 0), PH_OK);
    f.body[0] = 1;
    if (len)
        f.body[len - 1] = 2;
    ph_wbuf_release(p, &f, 0);
}

static void test_fresh_1000(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    ph_wbuf *w = make("fresh", NULL);
    ph_wbuf_peer *peer = NULL;
    assert_int_equal(ph_wbuf_peer_attach(w, &peer), PH_OK);
    uint64_t c0 = calls(m), a0 = *p->allocated;
    int64_t live0 = ph_memstat_live(p);
    ph_memstat_reset_peak(p);
    for (int i = 0; i < 1000; i++) {
        send_one(peer, (size_t)(i % 300) + 2);
        ph_memstat_sample(p);
    }
    uint64_t a1 = *p->allocated, c1 = calls(m);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated, 1000);
    assert_int_equal(c1 - c0, s.buffers_allocated);
    assert_true(a1 - a0 >= 65536ull * 1000);
    assert_int_equal(a1 - a0, 65536ull * s.buffers_allocated);
    assert_int_equal(ph_memstat_live(p), live0);
    ph_wbuf_peer_detach(peer);
    ph_wbuf_destroy(w);
}

static void test_exact_matches_size_classes(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    ph_wbuf *w = make("exact", NULL);
    ph_wbuf_peer *peer = NULL;
    assert_int_equal(ph_wbuf_peer_attach(w, &peer), PH_OK);
    uint64_t want = 0;
    uint64_t c0 = calls(m), a0 = *p->allocated;
    for (size_t len = 2; len < 65535; len = len * 3 + 1) {
        send_one(peer, len);
        want += ph_memstat_size_class(len);
    }
    uint64_t a1 = *p->allocated, c1 = calls(m);
    assert_int_equal(c1 - c0, stats_of(w).buffers_allocated);
    assert_int_equal(a1 - a0, want);
    ph_wbuf_peer_detach(peer);
    ph_wbuf_destroy(w);
}

/* Attaching P peers costs P peer structs (one small allocation each, as
 * for `fresh`) plus exactly P buffers of 65,536 size-class bytes; then any
 * number of messages allocates nothing. */
static void test_reuse_p_buffers(void **state)
{
    enum { P = 16, M = 300 };
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    ph_wbuf *wf = make("fresh", NULL), *wr = make("reuse", NULL);
    ph_wbuf_peer *pf[P], *pr[P];

    uint64_t c0 = calls(m), a0 = *p->allocated;
    for (int i = 0; i < P; i++)
        assert_int_equal(ph_wbuf_peer_attach(wf, &pf[i]), PH_OK);
    uint64_t c1 = calls(m), a1 = *p->allocated;
    for (int i = 0; i < P; i++)
        assert_int_equal(ph_wbuf_peer_attach(wr, &pr[i]), PH_OK);
    uint64_t c2 = calls(m), a2 = *p->allocated;
    assert_int_equal(c1 - c0, P);
    assert_int_equal(c2 - c1, 2 * P);
    /* fresh's bookkeeping is smaller than reuse's (no buffer pointer) */
    uint64_t fresh_peer = (a1 - a0) / P;
    assert_int_equal(a1 - a0, fresh_peer * P);
    uint64_t reuse_rest = (a2 - a1) - 65536ull * P;
    assert_int_equal(reuse_rest % P, 0);
    assert_true(reuse_rest / P >= fresh_peer && reuse_rest / P < 1024);
    assert_int_equal(ph_memstat_size_class(reuse_rest / P), reuse_rest / P);
    ph_wbuf_stats s = stats_of(wr);
    assert_int_equal(s.buffers_allocated, P);
    assert_int_equal(s.bytes_requested, (uint64_t)MAXB * P);

    int64_t live = ph_memstat_live(p);
    for (int k = 0; k < M; k++)
        for (int i = 0; i < P; i++)
            send_one(pr[i], (size_t)(k * 200 + i) % 65535);
    uint64_t c3 = calls(m);
    assert_int_equal(c3 - c2, 0);
    assert_int_equal(*p->allocated, a2);
    assert_int_equal(ph_memstat_live(p), live);
    assert_int_equal(stats_of(wr).buffers_allocated, P);

    for (int i = 0; i < P; i++) {
        ph_wbuf_peer_detach(pf[i]);
        ph_wbuf_peer_detach(pr[i]);
    }
    ph_wbuf_destroy(wf);
    ph_wbuf_destroy(wr);
}

/* 32 peers with up to 8 frames in flight share at most 8 buffers. */
static void test_pool_bounded(void **state)
{
    enum { P = 32, W = 8 };
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    ph_wbuf_config cfg = {.pool_workers = W};
    ph_wbuf *w = make("pool", &cfg);
    ph_wbuf_peer *peer[P];
    for (int i = 0; i < P; i++)
        assert_int_equal(ph_wbuf_peer_attach(w, &peer[i]), PH_OK);
    ph_wbuf_frame f[W];
    uint64_t c0 = calls(m), a0 = *p->allocated;
    for (int round = 0; round < 100; round++) {
        for (int k = 0; k < W; k++)
            assert_int_equal(ph_wbuf_acquire(peer[(round + k) % P], 100, &f[k], 0), PH_OK);
        ph_wbuf_frame extra;
        assert_int_equal(ph_wbuf_acquire(peer[0], 100, &extra, 0), PH_ERR_AGAIN);
        for (int k = W - 1; k >= 0; k--)
            ph_wbuf_release(peer[(round + k) % P], &f[k], 0);
    }
    uint64_t a1 = *p->allocated, c1 = calls(m);
    ph_wbuf_stats s = stats_of(w);
    assert_int_equal(s.buffers_allocated, W);
    assert_int_equal(c1 - c0, W);
    assert_int_equal(a1 - a0, 65536ull * W);
    for (int i = 0; i < P; i++)
        ph_wbuf_peer_detach(peer[i]);
    ph_wbuf_destroy(w);
}

/* ring: one allocation per growth, sized 4 KiB x 2^k (exact size classes);
 * tiered: one allocation per class first used. */
static void test_ring_and_tiered(void **state)
{
    ph_memstat *m = need(state);
    ph_memstat_probe *p = ph_memstat_probe_of(m);
    ph_wbuf *w = make("ring", NULL);
    ph_wbuf_peer *peer = NULL;
    assert_int_equal(ph_wbuf_peer_attach(w, &peer), PH_OK);
    ph_wbuf_frame f[40];
    uint64_t c0 = calls(m), a0 = *p->allocated;
    for (int i = 0; i < 40; i++)
        assert_int_equal(ph_wbuf_acquire(peer, (size_t)i * 1500, &f[i], 0), PH_OK);
    for (int i = 0; i < 40; i++)
        ph_wbuf_release(peer, &f[i], 0);
    uint64_t a1 = *p->allocated, c1 = calls(m);
    ph_wbuf_stats s = stats_of(w);
    assert_true(s.buffers_allocated > 3);
    assert_int_equal(c1 - c0, s.buffers_allocated);
    assert_int_equal(a1 - a0, s.bytes_requested);
    ph_wbuf_peer_detach(peer);
    ph_wbuf_destroy(w);

    w = make("tiered", NULL);
    assert_int_equal(ph_wbuf_peer_attach(w, &peer), PH_OK);
    c0 = calls(m);
    a0 = *p->allocated;
    for (int k = 0; k < 50; k++)
        for (size_t len = 3; len <= 65535; len *= 4)
            send_one(peer, len);
    a1 = *p->allocated;
    c1 = calls(m);
    assert_int_equal(c1 - c0, 5);
    assert_int_equal(c1 - c0, stats_of(w).buffers_allocated);
    assert_int_equal(a1 - a0, 256 + 1024 + 4096 + 16384 + 65536);
    ph_wbuf_peer_detach(peer);
    ph_wbuf_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_size_classes),
        cmocka_unit_test(test_alloc_calls_exact),
        cmocka_unit_test(test_malloc_1000_is_1024),
        cmocka_unit_test(test_peak_sampling),
        cmocka_unit_test(test_global),
        cmocka_unit_test(test_fresh_1000),
        cmocka_unit_test(test_exact_matches_size_classes),
        cmocka_unit_test(test_reuse_p_buffers),
        cmocka_unit_test(test_pool_bounded),
        cmocka_unit_test(test_ring_and_tiered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
