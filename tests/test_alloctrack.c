/* The allocation tracker against jemalloc itself: its hooks really fire in
 * the Debian build, its byte counts equal jemalloc's thread counters, and
 * attribution follows the memory tag at allocation time.
 *
 * In a sanitizer build malloc is not jemalloc's: start must then fail with
 * PH_ERR_MEMSTAT and the tests that need the hooks skip. In a normal build
 * an unavailable tracker is a failure. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jemalloc/jemalloc.h>

#include "alloctrack.h"
#include "memstat.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define KIB 1024u
#define MIB (1024u * 1024u)

static void escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    escape(p);
    return p;
}

static size_t usz(size_t n)
{
    return nallocx(n, 0);
}

static int teardown(void **state)
{
    ph_alloctrack_destroy(*state);
    *state = NULL;
    return 0;
}

/* A started tracker, owned by *state (teardown destroys it). `olds`, the
 * blocks a test made before start, are freed if the test skips. */
#define started_or_free(state, tag, olds, n) started_or_free_(__func__, state, tag, olds, n)
static ph_alloctrack *started_or_free_(const char *test, void **state, ph_memtag *tag,
                                       void **olds, size_t n)
{
    ph_alloctrack *t = NULL;
    assert_int_equal(ph_alloctrack_create(&t, tag), PH_OK);
    *state = t;
    ph_err err = ph_alloctrack_start(t);
    if (err) {
#if SANITIZED
        for (size_t i = 0; i < n; i++)
            free(olds[i]);
        assert_int_equal(err, PH_ERR_MEMSTAT);
        /* a declared skip: tests/run.sh counts it by this line */
        print_message("SKIP: %s: jemalloc's allocation hooks unavailable in a sanitizer build\n",
                      test);
        skip();
#else
        (void)test;
        (void)olds;
        (void)n;
        fail_msg("allocation tracker unavailable in a normal build: %s", ph_strerror(err));
#endif
    }
    return t;
}

/* A macro, so that a declared skip names the test. */
#define started(state, tag) started_or_free(state, tag, NULL, 0)

/* jemalloc's own counters, to check the tracker against; called once the
 * tracker started, i.e. jemalloc serves malloc. */
static ph_memstat *memstat(void)
{
    ph_memstat *m = NULL;
    ph_err err = ph_memstat_create(&m);
    if (err)
        fail_msg("memstat unavailable although the hooks fire: %s", ph_strerror(err));
    return m;
}

static ph_alloctrack_totals snap(const ph_alloctrack *t)
{
    ph_alloctrack_totals s;
    ph_alloctrack_snapshot(t, &s);
    return s;
}

/* Rows sum to counted, types sum to counted's allocations: exactly. */
static void assert_sums(const ph_alloctrack *t)
{
    ph_alloctrack_totals s = snap(t);
    ph_alloctrack_counts sum = {0};
    for (unsigned r = 0; r < PH_MEMROW__COUNT; r++) {
        sum.allocs += s.rows[r].allocs;
        sum.bytes += s.rows[r].bytes;
        sum.frees += s.rows[r].frees;
        sum.bytes_freed += s.rows[r].bytes_freed;
        sum.live += s.rows[r].live;
        assert_int_equal(s.rows[r].untracked_frees, 0);
    }
    assert_int_equal(sum.allocs, s.counted.allocs);
    assert_int_equal(sum.bytes, s.counted.bytes);
    assert_int_equal(sum.frees, s.counted.frees);
    assert_int_equal(sum.bytes_freed, s.counted.bytes_freed);
    assert_int_equal(sum.live, s.counted.live + (int64_t)s.counted.untracked_bytes);

    uint64_t allocs = 0, bytes = 0, a, b;
    uint32_t cursor = 0, type, prev = 0;
    bool first = true;
    while (ph_alloctrack_next_type(t, &cursor, &type, &a, &b)) {
        assert_true(a > 0);
        assert_true(first || type > prev);
        first = false;
        prev = type;
        allocs += a;
        bytes += b;
    }
    assert_int_equal(allocs, s.counted.allocs);
    assert_int_equal(bytes, s.counted.bytes);
}

static void assert_type(const ph_alloctrack *t, uint32_t type, uint64_t allocs, uint64_t bytes)
{
    uint64_t a = 0, b = 0;
    assert_int_equal(ph_alloctrack_type(t, type, &a, &b), PH_OK);
    assert_int_equal(a, allocs);
    assert_int_equal(b, bytes);
}

static void test_errors(void **state)
{
    (void)state;
    ph_alloctrack *t = NULL;
    uint64_t a, b;
    uint32_t cursor = 0, type;
    assert_int_equal(ph_alloctrack_create(NULL, NULL), PH_ERR_ARG);
    assert_int_equal(ph_alloctrack_start(NULL), PH_ERR_ARG);
    assert_int_equal(ph_alloctrack_type(NULL, 1, &a, &b), PH_ERR_ARG);
    assert_int_equal(ph_alloctrack_create(&t, NULL), PH_OK);
    assert_int_equal(ph_alloctrack_type(t, 65536, &a, &b), PH_ERR_ARG);
    assert_int_equal(ph_alloctrack_type(t, 65535, &a, &b), PH_OK);
    assert_int_equal(ph_alloctrack_type(t, PH_MEMTAG_NO_TYPE, &a, &b), PH_OK);
    assert_false(ph_alloctrack_next_type(t, &cursor, &type, &a, &b));
    assert_int_equal(ph_alloctrack_live(t), 0);
    ph_alloctrack_stop(t); /* not started: no-op */
    ph_alloctrack_destroy(t);
    ph_alloctrack_stop(NULL);
    ph_alloctrack_reset_peak(NULL);
    ph_alloctrack_destroy(NULL);
}

/* Sanitizer builds: clean PH_ERR_MEMSTAT, and the process-wide slot is
 * released again. Normal builds: start works. */
static void test_start_matches_build(void **state)
{
    ph_alloctrack *t = NULL;
    assert_int_equal(ph_alloctrack_create(&t, NULL), PH_OK);
    *state = t;
    ph_err err = ph_alloctrack_start(t);
#if SANITIZED
    assert_int_equal(err, PH_ERR_MEMSTAT);
    assert_int_equal(ph_alloctrack_start(t), PH_ERR_MEMSTAT);
#else
    if (err)
        fail_msg("start failed in a normal build: %s", ph_strerror(err));
#endif
}

/* The Debian libjemalloc2 calls the hooks: a malloc of a known size shows
 * up as one allocation of its size class, its free as one free. */
static void test_hooks_fire(void **state)
{
    ph_alloctrack *t = started(state, NULL);
    ph_alloctrack_totals s0 = snap(t);
    void *p = xmalloc(1000);
    ph_alloctrack_totals s1 = snap(t);
    assert_int_equal(s1.counted.allocs - s0.counted.allocs, 1);
    assert_int_equal(s1.counted.bytes - s0.counted.bytes, 1024);
    assert_int_equal(s1.blocks - s0.blocks, 1);
    free(p);
    ph_alloctrack_totals s2 = snap(t);
    assert_int_equal(s2.counted.frees - s1.counted.frees, 1);
    assert_int_equal(s2.counted.bytes_freed - s1.counted.bytes_freed, 1024);
    assert_int_equal(s2.counted.untracked_frees, s1.counted.untracked_frees);
    assert_int_equal(s2.blocks, s0.blocks);
    assert_int_equal(s2.counted.live, s0.counted.live);
}

/* Over a mixed workload the tracker's bytes are jemalloc's thread.allocated
 * and thread.deallocated deltas, exactly, and its allocations are the calls
 * made. */
static void test_matches_memstat(void **state)
{
    enum { N = 400 };
    ph_alloctrack *t = started(state, NULL);
    ph_memstat *m = memstat();
    const ph_memstat_probe *probe = ph_memstat_probe_of(m);
    void **blocks = calloc(N + 16, sizeof *blocks);
    assert_non_null(blocks);
    ph_alloctrack_totals s0 = snap(t);
    uint64_t a0 = *probe->allocated, d0 = *probe->deallocated;

    uint64_t calls = 0, frees = 0, grew_in_place = 0, moved = 0;
    size_t n = 0;
    /* sizes 1 B .. 200 KiB: every small and many large classes */
    uint32_t x = 12345;
    for (size_t i = 0; i < N - 16; i++) {
        x = x * 1103515245u + 12345u;
        size_t size = i < 64 ? i + 1 : 1 + (x >> 8) % (200 * KIB);
        blocks[n++] = xmalloc(size);
        calls++;
    }
    blocks[n++] = xmalloc(10 * MIB); /* huge */
    calls++;
    blocks[n++] = calloc(100, 37);
    blocks[n++] = calloc(1, 150000);
    calls += 2;
    void *pm = NULL;
    assert_int_equal(posix_memalign(&pm, 64, 1000), 0);
    blocks[n++] = pm;
    assert_int_equal(posix_memalign(&pm, 4096, 70000), 0);
    blocks[n++] = pm;
    blocks[n++] = aligned_alloc(256, 512);
    calls += 3;

    /* realloc: grow across classes (moves), within a class (in place),
     * grow and shrink large extents where they lie */
    static const size_t grow[][2] = {
        {100, 5000}, {100, 110}, {20000, 24000}, {100000, 200000}, {150000, 100000},
        {3000, 40}, {64 * KIB, 96 * KIB},
    };
    for (size_t i = 0; i < sizeof grow / sizeof grow[0]; i++) {
        void *p = xmalloc(grow[i][0]);
        void *q = realloc(p, grow[i][1]);
        escape(q);
        calls += 2;
        frees++; /* the realloc frees the old size, moved or not */
        if (q == p && usz(grow[i][1]) > usz(grow[i][0]))
            grew_in_place++;
        if (q != p)
            moved++;
        blocks[n++] = q;
    }
    /* free every other block, keep the rest live */
    for (size_t i = 0; i < n; i += 2) {
        free(blocks[i]);
        frees++;
    }

    uint64_t a1 = *probe->allocated, d1 = *probe->deallocated;
    ph_alloctrack_totals s1 = snap(t);
    ph_alloctrack_totals d;
    ph_alloctrack_delta(&s1, &s0, &d);

    assert_true(grew_in_place > 0);
    assert_true(moved > 0);
    assert_true(d.in_place > 0);
    assert_int_equal(d.counted.allocs, calls);
    assert_int_equal(d.counted.frees, frees);
    assert_int_equal(d.counted.bytes, a1 - a0);
    assert_int_equal(d.counted.bytes_freed + d.counted.untracked_bytes, d1 - d0);
    assert_int_equal(d.counted.live, (int64_t)((a1 - a0) - (d1 - d0)));
    assert_int_equal(d.uncounted.allocs, 0);
    assert_int_equal(d.foreign.allocs, 0);
    assert_sums(t);

    for (size_t i = 1; i < n; i += 2)
        free(blocks[i]);
    ph_alloctrack_stop(t);
    free(blocks);
    ph_memstat_destroy(m);
}

/* Rows and types come from the tag at allocation time. */
static void test_rows_and_types(void **state)
{
    ph_memtag tag;
    ph_memtag_init(&tag);
    ph_alloctrack *t = started(state, &tag);

    ph_memtag_row(&tag, PH_MEMROW_WBUF);
    ph_memtag_type(&tag, 258);
    void *w1 = xmalloc(1000), *w2 = xmalloc(1000);
    ph_memtag_row(&tag, PH_MEMROW_QUEUE);
    ph_memtag_type(&tag, 256);
    void *q = xmalloc(100);
    ph_memtag_row(&tag, PH_MEMROW_DECODE);
    ph_memtag_type(&tag, 65535);
    void *dec = xmalloc(5000);
    ph_memtag_row(&tag, PH_MEMROW_SESSION);
    ph_memtag_type(&tag, PH_MEMTAG_NO_TYPE);
    void *ses = xmalloc(40000);
    ph_memtag_row(&tag, PH_MEMROW_OTHER);
    ph_alloctrack_totals s = snap(t);

    assert_int_equal(s.rows[PH_MEMROW_WBUF].allocs, 2);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].bytes, 2048);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].live, 2048);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].bytes, usz(100));
    assert_int_equal(s.rows[PH_MEMROW_DECODE].bytes, usz(5000));
    assert_int_equal(s.rows[PH_MEMROW_SESSION].bytes, usz(40000));
    assert_type(t, 258, 2, 2048);
    assert_type(t, 256, 1, usz(100));
    assert_type(t, 65535, 1, usz(5000));
    assert_type(t, 257, 0, 0);
    uint64_t a, b;
    assert_int_equal(ph_alloctrack_type(t, PH_MEMTAG_NO_TYPE, &a, &b), PH_OK);
    assert_true(a >= 1 && b >= usz(40000));

    /* a row out of range counts as OTHER, a type above 65535 as no type */
    uint64_t other = s.rows[PH_MEMROW_OTHER].allocs;
    ph_memtag_row(&tag, 200);
    ph_memtag_type(&tag, 70000);
    void *odd = xmalloc(64);
    ph_memtag_row(&tag, PH_MEMROW_OTHER);
    ph_memtag_type(&tag, PH_MEMTAG_NO_TYPE);
    s = snap(t);
    assert_int_equal(s.rows[PH_MEMROW_OTHER].allocs, other + 1);
    uint64_t a2, b2;
    assert_int_equal(ph_alloctrack_type(t, PH_MEMTAG_NO_TYPE, &a2, &b2), PH_OK);
    assert_int_equal(a2, a + 1);
    assert_int_equal(b2, b + usz(64));

    free(w1);
    free(w2);
    free(q);
    free(dec);
    free(ses);
    free(odd);
    assert_sums(t);
}

/* A free is charged to the row the block was allocated under. */
static void test_free_charged_to_allocating_row(void **state)
{
    ph_memtag tag;
    ph_memtag_init(&tag);
    ph_alloctrack *t = started(state, &tag);

    ph_memtag_row(&tag, PH_MEMROW_WBUF);
    ph_memtag_type(&tag, 259);
    void *p = xmalloc(3000);
    ph_memtag_row(&tag, PH_MEMROW_QUEUE);
    ph_memtag_type(&tag, 1);
    free(p);
    ph_alloctrack_totals s = snap(t);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].frees, 1);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].bytes_freed, usz(3000));
    assert_int_equal(s.rows[PH_MEMROW_WBUF].live, 0);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].peak, usz(3000));
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].frees, 0);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].live, 0);

    /* counted block freed while the tag says uncounted: still counted */
    ph_memtag_row(&tag, PH_MEMROW_DECODE);
    p = xmalloc(700);
    ph_memtag_uncounted(&tag, true);
    free(p);
    ph_memtag_uncounted(&tag, false);
    s = snap(t);
    assert_int_equal(s.rows[PH_MEMROW_DECODE].frees, 1);
    assert_int_equal(s.rows[PH_MEMROW_DECODE].live, 0);
    assert_int_equal(s.uncounted.frees, 0);
    assert_int_equal(s.uncounted.untracked_frees, 0);
    assert_sums(t);
}

/* realloc: moved = free of the old block under its tag + allocation under
 * the current one; in place = resize under the block's own row and type. */
static void test_realloc_attribution(void **state)
{
    ph_memtag tag;
    ph_memtag_init(&tag);
    ph_alloctrack *t = started(state, &tag);

    ph_memtag_row(&tag, PH_MEMROW_WBUF);
    ph_memtag_type(&tag, 11);
    void *p = xmalloc(100);
    ph_memtag_row(&tag, PH_MEMROW_QUEUE);
    ph_memtag_type(&tag, 12);
    void *q = realloc(p, 5000); /* small to another class: moves */
    escape(q);
    assert_ptr_not_equal(q, p);
    ph_alloctrack_totals s = snap(t);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].frees, 1);
    assert_int_equal(s.rows[PH_MEMROW_WBUF].live, 0);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].allocs, 1);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].live, usz(5000));
    assert_type(t, 12, 1, usz(5000));
    assert_int_equal(s.in_place, 0);

    ph_memtag_row(&tag, PH_MEMROW_DECODE);
    ph_memtag_type(&tag, 13);
    void *r = realloc(q, 5100); /* same size class: in place */
    escape(r);
    assert_ptr_equal(r, q);
    s = snap(t);
    assert_int_equal(s.in_place, 1);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].allocs, 2);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].frees, 1);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].live, usz(5100));
    assert_int_equal(s.rows[PH_MEMROW_DECODE].allocs, 0);
    assert_type(t, 12, 2, 2 * usz(5000));
    assert_type(t, 13, 0, 0);

    /* a large block grown where it lies keeps its row, and the peak sees
     * the new size, not old + new */
    ph_memtag_row(&tag, PH_MEMROW_SESSION);
    void *big = xmalloc(20000);
    ph_memtag_row(&tag, PH_MEMROW_OTHER);
    ph_alloctrack_reset_peak(t);
    void *bigger = realloc(big, 24000);
    escape(bigger);
    s = snap(t);
    if (bigger == big) {
        assert_int_equal(s.in_place, 2);
        assert_int_equal(s.rows[PH_MEMROW_SESSION].live, usz(24000));
        assert_int_equal(s.rows[PH_MEMROW_SESSION].peak, usz(24000));
        assert_int_equal(s.rows[PH_MEMROW_OTHER].allocs, 0);
    } else {
        print_message("note: 20000 -> 24000 moved; large in-place growth not exercised\n");
    }
    /* realloc(p, 0) frees (jemalloc 5.3's default zero_realloc:free) */
    uint64_t frees = s.counted.frees;
    void *z = realloc(r, 0);
    escape(z);
    s = snap(t);
    if (!z)
        assert_int_equal(s.counted.frees, frees + 1);
    else
        free(z);
    free(bigger);
    assert_sums(t);
}

/* The pattern measured code uses: set the tag, make one call, restore it.
 * Compilers take malloc and free for functions that read none of our
 * memory, and would drop the first store as dead without memtag.h's
 * barrier; the hooks would then see the restored tag. */
static void *tagged_malloc(ph_memtag *tag, uint8_t row, size_t n)
{
    uint8_t old = ph_memtag_row(tag, row);
    void *p = malloc(n);
    ph_memtag_row(tag, old);
    return p;
}

static void uncounted_free(ph_memtag *tag, void *p)
{
    bool old = ph_memtag_uncounted(tag, true);
    free(p);
    ph_memtag_uncounted(tag, old);
}

static void test_tag_around_one_call(void **state)
{
    ph_memtag tag;
    ph_memtag_init(&tag);
    void *old = xmalloc(300);
    ph_alloctrack *t = started_or_free(state, &tag, &old, 1);

    void *p = tagged_malloc(&tag, PH_MEMROW_QUEUE, 900);
    escape(p);
    uncounted_free(&tag, old);
    ph_alloctrack_totals s = snap(t);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].allocs, 1);
    assert_int_equal(s.rows[PH_MEMROW_QUEUE].bytes, usz(900));
    assert_int_equal(s.uncounted.untracked_frees, 1);
    assert_int_equal(s.uncounted.untracked_bytes, usz(300));
    assert_int_equal(tag.row, PH_MEMROW_OTHER);
    assert_false(tag.uncounted);
    free(p);
}

/* Uncounted work goes to its own heading, never to rows or types. */
static void test_uncounted_apart(void **state)
{
    ph_memtag tag;
    ph_memtag_init(&tag);
    ph_alloctrack *t = started(state, &tag);
    ph_alloctrack_totals s0 = snap(t);

    ph_memtag_row(&tag, PH_MEMROW_WBUF);
    ph_memtag_type(&tag, 258);
    ph_memtag_uncounted(&tag, true);
    void *p = xmalloc(2000);
    void *q = xmalloc(64 * KIB);
    ph_memtag_uncounted(&tag, false);
    ph_alloctrack_totals s1 = snap(t);
    assert_int_equal(s1.uncounted.allocs - s0.uncounted.allocs, 2);
    assert_int_equal(s1.uncounted.bytes - s0.uncounted.bytes, usz(2000) + usz(64 * KIB));
    assert_int_equal(s1.uncounted.live - s0.uncounted.live, usz(2000) + usz(64 * KIB));
    assert_int_equal(s1.counted.allocs, s0.counted.allocs);
    assert_int_equal(s1.rows[PH_MEMROW_WBUF].allocs, 0);
    assert_type(t, 258, 0, 0);

    free(p); /* counted tag now: still the uncounted block's free */
    free(q);
    ph_alloctrack_totals s2 = snap(t);
    assert_int_equal(s2.uncounted.frees - s1.uncounted.frees, 2);
    assert_int_equal(s2.uncounted.live, s0.uncounted.live);
    assert_int_equal(s2.counted.frees, s0.counted.frees);
    assert_int_equal(s2.counted.live, s0.counted.live);
    assert_sums(t);
}

/* A 1 MiB spike inside one region: sampling before and after sees nothing,
 * the tracker's peak holds it. */
static void test_true_peak(void **state)
{
    ph_alloctrack *t = started(state, NULL);
    ph_memstat *m = memstat();
    ph_memstat_probe *probe = ph_memstat_probe_of(m);
    void *keep = xmalloc(4000);

    ph_alloctrack_reset_peak(t);
    ph_alloctrack_totals before = snap(t);
    ph_memstat_reset_peak(probe);
    ph_memstat_sample(probe);
    {
        void *spike = xmalloc(MIB);
        free(spike);
    }
    int64_t sampled = ph_memstat_sample(probe);
    ph_alloctrack_totals after = snap(t);

    assert_int_equal(after.counted.live, before.counted.live);
    assert_int_equal(after.counted.peak, before.counted.live + (int64_t)MIB);
    assert_int_equal(ph_alloctrack_peak(t), after.counted.peak);
    assert_int_equal(ph_alloctrack_live(t), after.counted.live);
    assert_int_equal(probe->peak, sampled); /* the sampler missed it */
    ph_alloctrack_totals d;
    ph_alloctrack_delta(&after, &before, &d);
    assert_int_equal(d.counted.peak, MIB);
    assert_int_equal(d.counted.live, 0);

    ph_alloctrack_reset_peak(t);
    assert_int_equal(ph_alloctrack_peak(t), ph_alloctrack_live(t));
    free(keep);
    ph_alloctrack_stop(t);
    ph_memstat_destroy(m);
}

/* Blocks from before start: their frees are counted apart, with their
 * size, and lower live; an in-place resize brings one into the map. */
static void test_untracked_frees(void **state)
{
    ph_memtag tag;
    ph_memtag_init(&tag);
    void *old1 = xmalloc(3000), *old2 = xmalloc(500), *old3 = xmalloc(100);
    void *olds[] = {old1, old2, old3};
    ph_alloctrack *t = started_or_free(state, &tag, olds, 3);
    ph_alloctrack_totals s0 = snap(t);

    free(old1);
    ph_alloctrack_totals s1 = snap(t);
    assert_int_equal(s1.counted.untracked_frees - s0.counted.untracked_frees, 1);
    assert_int_equal(s1.counted.untracked_bytes - s0.counted.untracked_bytes, usz(3000));
    assert_int_equal(s1.counted.live - s0.counted.live, -(int64_t)usz(3000));
    assert_int_equal(s1.counted.frees, s0.counted.frees);
    for (unsigned r = 0; r < PH_MEMROW__COUNT; r++)
        assert_int_equal(s1.rows[r].frees, s0.rows[r].frees);

    ph_memtag_uncounted(&tag, true);
    free(old2);
    ph_memtag_uncounted(&tag, false);
    ph_alloctrack_totals s2 = snap(t);
    assert_int_equal(s2.uncounted.untracked_frees, 1);
    assert_int_equal(s2.uncounted.untracked_bytes, usz(500));
    assert_int_equal(s2.uncounted.live, -(int64_t)usz(500));
    assert_int_equal(s2.counted.untracked_frees, s1.counted.untracked_frees);

    ph_memtag_row(&tag, PH_MEMROW_DECODE);
    void *grown = realloc(old3, 110); /* same class: in place */
    escape(grown);
    assert_ptr_equal(grown, old3);
    ph_memtag_row(&tag, PH_MEMROW_OTHER);
    ph_alloctrack_totals s3 = snap(t);
    assert_int_equal(s3.counted.untracked_frees - s2.counted.untracked_frees, 1);
    assert_int_equal(s3.rows[PH_MEMROW_DECODE].allocs, 1);
    assert_int_equal(s3.blocks, s2.blocks + 1);
    free(grown);
    ph_alloctrack_totals s4 = snap(t);
    assert_int_equal(s4.rows[PH_MEMROW_DECODE].frees, 1);
    assert_int_equal(s4.counted.untracked_frees, s3.counted.untracked_frees);
    assert_sums(t);
}

/* The map grows far past its first mapping: a million live blocks. */
static void test_map_growth(void **state)
{
    enum { COUNT = 1000000 };
    ph_alloctrack *t = started(state, NULL);
    void **ptrs = malloc(COUNT * sizeof *ptrs);
    assert_non_null(ptrs);
    ph_alloctrack_totals s0 = snap(t);

    for (size_t i = 0; i < COUNT; i++)
        ptrs[i] = xmalloc(16);
    ph_alloctrack_totals s1 = snap(t);
    assert_int_equal(s1.counted.allocs - s0.counted.allocs, COUNT);
    assert_int_equal(s1.counted.bytes - s0.counted.bytes, 16ull * COUNT);
    assert_int_equal(s1.blocks - s0.blocks, COUNT);
    assert_true(s1.map_bytes >= 2 * COUNT * 16ull); /* grew past the first 64 Ki slots */
    assert_int_equal(s1.lost, 0);
    assert_int_equal(s1.stale, 0);

    for (size_t i = 0; i < COUNT; i++)
        free(ptrs[i]);
    ph_alloctrack_totals s2 = snap(t);
    assert_int_equal(s2.counted.frees - s1.counted.frees, COUNT);
    assert_int_equal(s2.counted.untracked_frees, s0.counted.untracked_frees);
    assert_int_equal(s2.blocks, s0.blocks);
    assert_int_equal(s2.counted.live, s0.counted.live);
    ph_alloctrack_stop(t);
    free(ptrs);
}

/* After stop nothing more is counted, and a tracker starts only once. */
static void test_stop(void **state)
{
    ph_alloctrack *t = started(state, NULL);
    void *p = xmalloc(800);
    ph_alloctrack_stop(t);
    ph_alloctrack_totals s0 = snap(t);
    void *q = xmalloc(900);
    free(q);
    free(p);
    ph_alloctrack_totals s1 = snap(t);
    assert_memory_equal(&s0, &s1, sizeof s0);
    assert_int_equal(ph_alloctrack_start(t), PH_ERR_STATE);
    ph_alloctrack_stop(t);
}

/* One started tracker per process. */
static void test_start_twice(void **state)
{
    ph_alloctrack *t = started(state, NULL);
    assert_int_equal(ph_alloctrack_start(t), PH_ERR_STATE);
    ph_alloctrack *other = NULL;
    assert_int_equal(ph_alloctrack_create(&other, NULL), PH_OK);
    assert_int_equal(ph_alloctrack_start(other), PH_ERR_STATE);
    ph_alloctrack_stop(t);
    assert_int_equal(ph_alloctrack_start(other), PH_OK);
    void *p = xmalloc(200);
    free(p);
    ph_alloctrack_totals s = snap(other);
    assert_int_equal(s.counted.allocs, 1);
    ph_alloctrack_destroy(other);
}

struct worker {
    size_t size;
    int count;
};

static void *work(void *arg)
{
    const struct worker *w = arg;
    for (int i = 0; i < w->count; i++) {
        void *p = xmalloc(w->size);
        free(p);
    }
    return NULL;
}

/* Another thread's allocations are counted apart, not attributed. */
static void test_other_thread(void **state)
{
    ph_alloctrack *t = started(state, NULL);
    struct worker w = {700 * KIB, 5};
    ph_alloctrack_totals s0 = snap(t);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, work, &w), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    ph_alloctrack_totals s1 = snap(t);
    uint64_t theirs = (uint64_t)w.count * usz(w.size);
    assert_true(s1.foreign.allocs - s0.foreign.allocs >= (uint64_t)w.count);
    assert_true(s1.foreign.bytes - s0.foreign.bytes >= theirs);
    assert_true(s1.foreign.bytes_freed - s0.foreign.bytes_freed >= theirs);
    /* what the owner allocated for pthread_create is far less */
    assert_true(s1.counted.bytes - s0.counted.bytes < usz(w.size));
    assert_sums(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test_teardown(test_start_matches_build, teardown),
        cmocka_unit_test_teardown(test_hooks_fire, teardown),
        cmocka_unit_test_teardown(test_matches_memstat, teardown),
        cmocka_unit_test_teardown(test_rows_and_types, teardown),
        cmocka_unit_test_teardown(test_free_charged_to_allocating_row, teardown),
        cmocka_unit_test_teardown(test_realloc_attribution, teardown),
        cmocka_unit_test_teardown(test_tag_around_one_call, teardown),
        cmocka_unit_test_teardown(test_uncounted_apart, teardown),
        cmocka_unit_test_teardown(test_true_peak, teardown),
        cmocka_unit_test_teardown(test_untracked_frees, teardown),
        cmocka_unit_test_teardown(test_map_growth, teardown),
        cmocka_unit_test_teardown(test_stop, teardown),
        cmocka_unit_test_teardown(test_start_twice, teardown),
        cmocka_unit_test_teardown(test_other_thread, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
