/* The Go GC model: heap goals and collection points on synthetic sequences
 * computed by hand (a fake host: the heap is a counter), the forced
 * 2-minute collection, GOGC=off and the heap limit, the thinning of the
 * recorded collections, GOGC parsing; then with peerheap's own free()
 * (tool/freeshim.c, compiled in here) and jemalloc: a freed block really
 * stays allocated until a collection, uncounted work frees at once. Only
 * the jemalloc part skips in sanitizer builds (the runner counts it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloctrack.h"
#include "gcmodel.h"
#include "memstat.h"
#include "memtag.h"

/* The executable's free(): this test binary gets it too. */
#include "../tool/freeshim.c"

#define KIB 1024ull
#define MIB (1024ull * 1024ull)
#define SEC 1000000000ull

/* ---- the fake host: blocks are slots of an array, the heap a counter ---- */

#define NBLOCKS 4096
struct fake {
    uint64_t heap;
    uint64_t size[NBLOCKS];
    unsigned row[NBLOCKS];
    bool counted[NBLOCKS];
    char slot[NBLOCKS];
    size_t released;
    uint64_t released_bytes;
    ph_gcmodel *m;     /* told of every allocation, as the tracker's observer does */
};

static size_t slot_of(struct fake *f, const void *p)
{
    return (size_t)((const char *)p - f->slot);
}

static bool fake_classify(void *ctx, const void *ptr, uint64_t *usize, unsigned *row)
{
    struct fake *f = ctx;
    size_t i = slot_of(f, ptr);
    *usize = f->size[i];
    *row = f->row[i];
    return f->counted[i];
}

static uint64_t fake_heap(void *ctx)
{
    return ((struct fake *)ctx)->heap;
}

static void fake_release(void *ctx, void *ptr)
{
    struct fake *f = ctx;
    size_t i = slot_of(f, ptr);
    f->heap -= f->size[i];
    f->released++;
    f->released_bytes += f->size[i];
}

/* "Allocates" block i: the heap grows by its size, then the model may
 * collect (the block itself is live). */
static void *fake_alloc(struct fake *f, size_t i, uint64_t size, unsigned row, bool counted)
{
    f->size[i] = size;
    f->row[i] = row;
    f->counted[i] = counted;
    f->heap += size;
    if (counted)
        ph_gcmodel_alloc_point(f->m);
    return &f->slot[i];
}

/* A free the way the executable's free() does it: the filter first, a
 * real release when it did not keep the block. */
static void fake_free(struct fake *f, ph_gcmodel *m, void *p)
{
    if (!ph_gcmodel_free(m, p))
        fake_release(f, p);
}

static ph_gcmodel *model(struct fake *f, int gogc, uint64_t limit)
{
    ph_gc_host h = {fake_classify, fake_heap, fake_release, f};
    ph_gcmodel *m = NULL;
    assert_int_equal(ph_gcmodel_create(&m, gogc, limit, &h), PH_OK);
    f->m = m;
    return m;
}

static ph_gc_stats stats(const ph_gcmodel *m)
{
    ph_gc_stats s;
    ph_gcmodel_stats(m, &s);
    return s;
}

static void test_goal(void **state)
{
    (void)state;
    /* live x (1 + GOGC/100), at least 4 MiB x GOGC/100 */
    assert_int_equal(ph_gcmodel_goal(100, 0), 4 * MIB);
    assert_int_equal(ph_gcmodel_goal(100, 1 * MIB), 4 * MIB);
    assert_int_equal(ph_gcmodel_goal(100, 3 * MIB), 6 * MIB);
    assert_int_equal(ph_gcmodel_goal(100, 3 * MIB + 1), 6 * MIB + 2);
    assert_int_equal(ph_gcmodel_goal(50, 1 * MIB), 2 * MIB);
    assert_int_equal(ph_gcmodel_goal(50, 10 * MIB), 15 * MIB);
    assert_int_equal(ph_gcmodel_goal(200, 3 * MIB), 9 * MIB);
    assert_int_equal(ph_gcmodel_goal(200, 1 * MIB), 8 * MIB);
    assert_int_equal(ph_gcmodel_goal(0, 5 * MIB), 5 * MIB);
    assert_int_equal(ph_gcmodel_goal(PH_GC_OFF, 5 * MIB), 0);
}

/* GOGC=100 on 64 KiB buffers, each allocated then freed, over 1 MiB of
 * live heap; then a 2 MiB live block; later that block freed. A collection
 * runs at the allocation that brings the heap to the goal; the buffer just
 * allocated is live, the others are garbage (all sizes in KiB):
 *   #1 at buffer 48: heap 1024 + 48 x 64 = 4096 = the 4 MiB minimum;
 *      releases 47 buffers (3008); after 1024 + 64 = 1088; goal max(2176,
 *      4096) = 4096
 *   (before buffer 49: the 2 MiB block: heap 3072 + 64 = 3136 < 4096)
 *   #2 at buffer 63: 3136 + 15 x 64 = 4096; releases b48..b62 (960); after
 *      3072 + 64 = 3136; goal 6272
 *   #3 at buffer 112: 3136 + 49 x 64 = 6272; releases b63..b111 (3136);
 *      after 3072 + 64 = 3136; goal 6272
 *   (before buffer 113: the 2 MiB block freed: garbage with b112; the
 *      heap stays 3136)
 *   #4 at buffer 161: 3136 + 49 x 64 = 6272; releases b112..b160 (3136)
 *      and the 2048 block: 5184; after 1024 + 64 = 1088; goal 4096
 *   a safepoint 119 s after #4: nothing; at 120 s: #5, forced, releases
 *   b161. */
static void test_collection_points(void **state)
{
    (void)state;
    static struct fake f;
    memset(&f, 0, sizeof f);
    ph_gcmodel *m = model(&f, 100, 0);
    fake_alloc(&f, 0, 1 * MIB, PH_MEMROW_OTHER, true);
    ph_gcmodel_mark_phase(m, 0);
    assert_int_equal(stats(m).goal, 4 * MIB);

    size_t buf = 1; /* block index of the next buffer */
    uint64_t at[8] = {0};
    size_t nat = 0;
    for (int k = 1; k <= 161; k++) {
        if (k == 49) {
            fake_alloc(&f, 4000, 2 * MIB, PH_MEMROW_QUEUE, true);
            ph_gcmodel_safepoint(m, 0);
            assert_int_equal(stats(m).collections, 1); /* 3 MiB < 4 MiB */
        }
        if (k == 113) {
            uint64_t before = f.released;
            fake_free(&f, m, &f.slot[4000]);
            assert_int_equal(f.released, before); /* kept */
            assert_int_equal(f.heap, 3136 * KIB);
            assert_int_equal(stats(m).garbage_bytes, 2112 * KIB);
            assert_int_equal(stats(m).garbage_wbuf_bytes, 64 * KIB);
        }
        uint64_t before = stats(m).collections;
        void *b = fake_alloc(&f, buf++, 64 * KIB, PH_MEMROW_WBUF, true);
        fake_free(&f, m, b);
        if (stats(m).collections != before)
            at[nat++] = (uint64_t)k;
    }
    assert_int_equal(nat, 4);
    assert_int_equal(at[0], 48);
    assert_int_equal(at[1], 63);
    assert_int_equal(at[2], 112);
    assert_int_equal(at[3], 161);

    const ph_gc_collection *ev;
    assert_int_equal(ph_gcmodel_events(m, &ev), 4);
    static const uint64_t before_kib[] = {4096, 4096, 6272, 6272},
                          after_kib[] = {1088, 3136, 3136, 1088},
                          goal_kib[] = {4096, 4096, 6272, 6272},
                          released_kib[] = {3008, 960, 3136, 5184},
                          wbuf_kib[] = {3008, 960, 3136, 3136};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ev[i].index, i + 1);
        assert_int_equal(ev[i].heap_before, before_kib[i] * KIB);
        assert_int_equal(ev[i].heap_after, after_kib[i] * KIB);
        assert_int_equal(ev[i].goal, goal_kib[i] * KIB);
        assert_int_equal(ev[i].released_bytes, released_kib[i] * KIB);
        assert_int_equal(ev[i].wbuf_bytes, wbuf_kib[i] * KIB);
        assert_false(ev[i].forced);
    }
    ph_gc_stats s = stats(m);
    assert_int_equal(s.deferred, 162);
    assert_int_equal(s.deferred_bytes, 161 * 64 * KIB + 2 * MIB);
    assert_int_equal(s.released_bytes, 12288 * KIB);
    assert_int_equal(s.garbage_bytes, 64 * KIB); /* buffer 161 */
    assert_int_equal(s.live_after_last, 1088 * KIB);
    assert_int_equal(s.goal, 4 * MIB);
    assert_int_equal(s.peak_garbage_bytes, 5184 * KIB);

    /* the clock: forced 2 minutes after #4 */
    ph_gcmodel_safepoint(m, 119 * SEC);
    assert_int_equal(stats(m).collections, 4);
    ph_gcmodel_safepoint(m, 120 * SEC);
    s = stats(m);
    assert_int_equal(s.collections, 5);
    assert_int_equal(s.forced, 1);
    assert_int_equal(ph_gcmodel_events(m, &ev), 5);
    assert_true(ev[4].forced);
    assert_int_equal(ev[4].at_ns, 120 * SEC);
    assert_int_equal(ev[4].released_bytes, 64 * KIB);
    assert_int_equal(ev[4].heap_after, 1 * MIB);
    assert_int_equal(f.heap, 1 * MIB);

    /* a block of uncounted work is freed at once */
    void *u = fake_alloc(&f, 4001, 100 * KIB, PH_MEMROW_OTHER, false);
    size_t rel = f.released;
    fake_free(&f, m, u);
    assert_int_equal(f.released, rel + 1);
    assert_int_equal(stats(m).deferred, 162);
    ph_gcmodel_destroy(m);
}

/* The phase mark restarts the counters, not the goal or the garbage. */
static void test_mark_phase(void **state)
{
    (void)state;
    static struct fake f;
    memset(&f, 0, sizeof f);
    ph_gcmodel *m = model(&f, 100, 0);
    for (size_t i = 0; i < 70; i++)
        fake_free(&f, m, fake_alloc(&f, i, 64 * KIB, PH_MEMROW_WBUF, true));
    /* #1 at the 64th allocation (4 MiB): 63 released; b63..b69 garbage */
    assert_int_equal(stats(m).collections, 1);
    ph_gcmodel_mark_phase(m, 5 * SEC);
    ph_gc_stats s = stats(m);
    assert_int_equal(s.collections, 0);
    assert_int_equal(s.deferred, 0);
    assert_int_equal(s.garbage_bytes, 7 * 64 * KIB);
    assert_int_equal(s.goal, 4 * MIB);
    const ph_gc_collection *ev;
    assert_int_equal(ph_gcmodel_events(m, &ev), 0);
    for (size_t i = 70; i < 128; i++)
        fake_free(&f, m, fake_alloc(&f, i, 64 * KIB, PH_MEMROW_WBUF, true));
    /* #1 of the phase at allocation 126: b63..b125 released */
    assert_int_equal(ph_gcmodel_events(m, &ev), 1);
    assert_int_equal(ev[0].index, 1);
    assert_int_equal(ev[0].released_bytes, 63 * 64 * KIB);
    ph_gcmodel_destroy(m);
    assert_int_equal(f.heap, 0);
}

/* off: never collects, not even after minutes; the limit stops keeping. */
static void test_off_and_limit(void **state)
{
    (void)state;
    static struct fake f;
    memset(&f, 0, sizeof f);
    ph_gcmodel *m = model(&f, PH_GC_OFF, 10 * MIB);
    assert_int_equal(stats(m).goal, 0);
    for (size_t i = 0; i < 160; i++)
        fake_free(&f, m, fake_alloc(&f, i, 64 * KIB, PH_MEMROW_WBUF, true));
    ph_gcmodel_safepoint(m, 1000 * SEC);
    ph_gc_stats s = stats(m);
    assert_int_equal(s.collections, 0);
    assert_int_equal(s.garbage_bytes, 10 * MIB);
    assert_false(s.over_limit);
    assert_int_equal(f.released, 0);
    /* heap 10 MiB + 64 KiB > the limit: freed at once from now on */
    fake_free(&f, m, fake_alloc(&f, 160, 64 * KIB, PH_MEMROW_WBUF, true));
    s = stats(m);
    assert_true(s.over_limit);
    assert_int_equal(f.released, 1);
    assert_int_equal(s.garbage_bytes, 10 * MIB);
    ph_gcmodel_destroy(m);
    assert_int_equal(f.heap, 0);
    assert_int_equal(f.released, 161);
}

/* GOGC=0 collects at every allocation: 3,000 collections; the table keeps
 * 1..1024, then odd ones, then one in four: 750 entries, 1 mod 4. */
static void test_events_thinned(void **state)
{
    (void)state;
    static struct fake f;
    memset(&f, 0, sizeof f);
    ph_gcmodel *m = model(&f, 0, 0);
    for (size_t i = 0; i < 3000; i++)
        fake_free(&f, m, fake_alloc(&f, i, 1 * KIB, PH_MEMROW_WBUF, true));
    assert_int_equal(stats(m).collections, 3000);
    const ph_gc_collection *ev;
    size_t n = ph_gcmodel_events(m, &ev);
    assert_int_equal(n, 750);
    assert_int_equal(ev[0].index, 1);
    assert_int_equal(ev[n - 1].index, 2997);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ev[i].index, 1 + 4 * i);
    ph_gcmodel_destroy(m);
}

static void test_parse_and_errors(void **state)
{
    (void)state;
    int g = -5;
    assert_true(ph_gcmodel_parse("go", &g));
    assert_int_equal(g, 100);
    assert_true(ph_gcmodel_parse("go:50", &g));
    assert_int_equal(g, 50);
    assert_true(ph_gcmodel_parse("go:0", &g));
    assert_int_equal(g, 0);
    assert_true(ph_gcmodel_parse("go:off", &g));
    assert_int_equal(g, PH_GC_OFF);
    assert_true(ph_gcmodel_parse("go:1000000", &g));
    const char *bad[] = {"", "g", "java", "go:", "go:-1", "go:1000001", "go:10x", "gogo",
                         "go:99999999999999999999", NULL};
    for (size_t i = 0; bad[i]; i++)
        if (ph_gcmodel_parse(bad[i], &g))
            fail_msg("'%s' parsed", bad[i]);
    ph_gcmodel *m;
    ph_gc_host h = {fake_classify, fake_heap, fake_release, NULL};
    ph_gcmodel_alloc_point(NULL);
    ph_gcmodel_safepoint(NULL, 0);
    assert_int_equal(ph_gcmodel_create(&m, -2, 0, &h), PH_ERR_ARG);
    assert_int_equal(ph_gcmodel_create(&m, PH_GC_GOGC_MAX + 1, 0, &h), PH_ERR_ARG);
    h.release = NULL;
    assert_int_equal(ph_gcmodel_create(&m, 100, 0, &h), PH_ERR_ARG);
    assert_null(m);
    assert_false(ph_gcmodel_free(NULL, &g));
}

/* ---- with the executable's free() and jemalloc ---- */

struct real {
    ph_alloctrack *t;
};

static bool real_classify(void *ctx, const void *ptr, uint64_t *usize, unsigned *row)
{
    struct real *r = ctx;
    ph_alloctrack_block_info bi;
    if (!ph_alloctrack_block(r->t, ptr, &bi) || !bi.counted)
        return false;
    *usize = bi.usize;
    *row = bi.row;
    return true;
}

static uint64_t real_heap(void *ctx)
{
    int64_t live = ph_alloctrack_live(((struct real *)ctx)->t);
    return live > 0 ? (uint64_t)live : 0;
}

static void real_release(void *ctx, void *ptr)
{
    ph_alloctrack_release(((struct real *)ctx)->t, ptr);
}

static void observer(void *ctx)
{
    ph_gcmodel_alloc_point(ctx);
}

static bool filter(void *ctx, void *ptr)
{
    return ph_gcmodel_free(ctx, ptr);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
    return p;
}

/* free() called where gcc cannot see it: a kept block is still ours to use,
 * which gcc's use-after-free check cannot know. */
static void (*volatile free_call)(void *) = free;

static void test_free_really_deferred(void **state)
{
    (void)state;
    const ph_free_interposer *fi = ph_tool_free_interposer();
    ph_memstat *ms = NULL;
    if (!fi || ph_memstat_create(&ms) != PH_OK) {
#ifdef PH_SHIM_SANITIZED
        /* a declared skip: tests/run.sh counts it by this line */
        print_message("SKIP: %s: no free() interposer in a sanitizer build (the sanitizer "
                      "owns malloc)\n", __func__);
        skip();
#endif
        fail_msg("no free() interposer or jemalloc statistics in a normal build");
    }
    ph_memtag tag;
    ph_memtag_init(&tag);
    struct real r = {NULL};
    assert_int_equal(ph_alloctrack_create(&r.t, &tag), PH_OK);
    assert_int_equal(ph_alloctrack_start(r.t), PH_OK);
    ph_gc_host h = {real_classify, real_heap, real_release, &r};
    ph_gcmodel *m = NULL;
    assert_int_equal(ph_gcmodel_create(&m, 100, 0, &h), PH_OK);
    ph_memstat_probe *probe = ph_memstat_probe_of(ms);
    fi->set_filter(filter, m);

    ph_memtag_row(&tag, PH_MEMROW_WBUF);
    void *b = xmalloc(64 * KIB);
    ph_memtag_row(&tag, PH_MEMROW_OTHER);
    ph_memtag_uncounted(&tag, true);
    void *u = xmalloc(64 * KIB);
    ph_memtag_uncounted(&tag, false);
    int64_t live = ph_alloctrack_live(r.t);
    uint64_t dealloc0 = *probe->deallocated;

    free_call(b); /* kept: jemalloc saw no free, the block is still in the map */
    assert_int_equal(*probe->deallocated, dealloc0);
    assert_int_equal(ph_alloctrack_live(r.t), live);
    ph_alloctrack_block_info bi;
    assert_true(ph_alloctrack_block(r.t, b, &bi));
    memset(b, 0x5a, 64 * KIB); /* still ours to touch: really allocated */
    assert_int_equal(stats(m).garbage_wbuf_bytes, 64 * KIB);

    free_call(u); /* uncounted work: released now */
    assert_int_equal(*probe->deallocated, dealloc0 + 64 * KIB);

    ph_gcmodel_collect(m); /* the garbage goes back to jemalloc */
    assert_int_equal(*probe->deallocated, dealloc0 + 128 * KIB);
    assert_int_equal(ph_alloctrack_live(r.t), live - (int64_t)(64 * KIB));
    assert_int_equal(stats(m).collections, 1);

    /* 64 KiB buffers freed until an allocation brings the heap to the
     * 4 MiB goal: the collection runs inside malloc, from the tracker's
     * observer, and the tracker still counts every release */
    fi->set_filter(NULL, NULL);
    ph_gcmodel_mark_phase(m, 0);
    fi->set_filter(filter, m);
    ph_alloctrack_set_observer(r.t, observer, m);
    int64_t base = ph_alloctrack_live(r.t);
    uint64_t dealloc1 = *probe->deallocated;
    uint64_t n = 0;
    while (n < 80 && !stats(m).collections) {
        ph_memtag_row(&tag, PH_MEMROW_WBUF);
        void *p = xmalloc(64 * KIB);
        ph_memtag_row(&tag, PH_MEMROW_OTHER);
        n++;
        free_call(p);
    }
    fi->set_filter(NULL, NULL);
    ph_alloctrack_set_observer(r.t, NULL, NULL);
    ph_gc_stats s = stats(m);
    assert_int_equal(s.collections, 1);
    const ph_gc_collection *ev;
    assert_int_equal(ph_gcmodel_events(m, &ev), 1);
    assert_true(ev[0].heap_before >= 4 * MIB);
    assert_true(ev[0].heap_before < 4 * MIB + 64 * KIB);
    /* the buffer that reached the goal was live; the n - 1 before it went */
    assert_int_equal(ev[0].released_bytes, (n - 1) * 64 * KIB);
    assert_int_equal(ev[0].wbuf_bytes, ev[0].released_bytes);
    assert_int_equal(ev[0].released_bytes, ev[0].heap_before - ev[0].heap_after);
    /* jemalloc saw exactly those bytes go back, and the tracker agrees */
    assert_int_equal(*probe->deallocated - dealloc1, ev[0].released_bytes);
    assert_int_equal(ph_alloctrack_live(r.t), base + (int64_t)(64 * KIB));
    ph_gcmodel_destroy(m);
    ph_alloctrack_destroy(r.t);
    ph_memstat_destroy(ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goal),
        cmocka_unit_test(test_collection_points),
        cmocka_unit_test(test_mark_phase),
        cmocka_unit_test(test_off_and_limit),
        cmocka_unit_test(test_events_thinned),
        cmocka_unit_test(test_parse_and_errors),
        cmocka_unit_test(test_free_really_deferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
