/* Heap statistics from jemalloc, read through MIBs resolved once.
 *
 * Three kinds of figure, by cost:
 *  - hot (two loads, no call): jemalloc's per-thread cumulative counters
 *    thread.allocatedp / thread.deallocatedp, in size-class bytes (malloc(1000)
 *    counts 1,024; 65,535 counts 65,536). live = allocated - deallocated is
 *    the calling thread's net heap; ph_memstat_sample() also keeps its peak,
 *    cheap enough to call at every write. (thread.peak is no substitute: it
 *    is only updated every 64 KiB of allocation and misses short peaks.)
 *  - allocation calls (ph_memstat_alloc_calls, ~5 us measured here, and it
 *    empties the thread's cache): an exact count of allocation calls
 *    (malloc, calloc, realloc: one each) served by the thread's arena.
 *    Arena nmalloc counts tcache refills, not calls, so this flushes the
 *    tcache (which merges its per-call request counts into the arena), then
 *    reads the arena's small.nrequests + large.nrequests after an epoch
 *    refresh; tests/test_memstat.c checks N calls give exactly N. Call it
 *    only at phase boundaries: the flush changes what later calls cost. It
 *    counts every thread bound to that arena, so measure single-threaded.
 *  - process-wide (ph_memstat_global_read, an epoch refresh that merges
 *    every arena: ~4 us measured here with 8 arenas, budget 10 us):
 *    stats.allocated / active / resident / mapped, for sampling on a timer;
 *    active and resident drift with purging.
 *
 * A ph_memstat belongs to the thread that created it: the hot pointers and
 * the arena are that thread's. Live bytes are relative to the thread's start,
 * so callers subtract a baseline taken before the phase they measure.
 *
 * Errors: PH_ERR_MEMSTAT when a mallctl fails or when malloc is not jemalloc's
 * (e.g. under ASan, which replaces malloc while jemalloc's mallctl still
 * answers: create checks that an allocation actually moves the counters).
 * PH_ERR_NOMEM, PH_ERR_ARG. */
#ifndef PH_MEMSTAT_H
#define PH_MEMSTAT_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef struct ph_memstat ph_memstat;

/* The hot part, public so that sampling inlines to two loads and a compare.
 * Owned by the ph_memstat; valid until ph_memstat_destroy. */
typedef struct ph_memstat_probe {
    const uint64_t *allocated;   /* jemalloc's thread.allocated, live */
    const uint64_t *deallocated; /* jemalloc's thread.deallocated, live */
    int64_t peak;                /* highest live value seen by sample */
} ph_memstat_probe;

typedef struct ph_memstat_global {
    uint64_t allocated; /* bytes in live allocations, size-class bytes */
    uint64_t active;    /* bytes in active pages */
    uint64_t resident;  /* bytes in physically resident pages (incl. metadata) */
    uint64_t mapped;    /* bytes in extents mapped by the allocator */
} ph_memstat_global;

PH_MUST_USE
ph_err ph_memstat_create(ph_memstat **out);
void ph_memstat_destroy(ph_memstat *m);

ph_memstat_probe *ph_memstat_probe_of(ph_memstat *m);

static inline int64_t ph_memstat_live(const ph_memstat_probe *p)
{
    return (int64_t)(*p->allocated - *p->deallocated);
}

/* Live bytes now, remembered in p->peak if highest so far. */
static inline int64_t ph_memstat_sample(ph_memstat_probe *p)
{
    int64_t live = ph_memstat_live(p);
    if (live > p->peak)
        p->peak = live;
    return live;
}

/* Start a new peak window at the current live value. */
static inline void ph_memstat_reset_peak(ph_memstat_probe *p)
{
    p->peak = ph_memstat_live(p);
}

/* Cumulative allocation calls of this thread's arena (see above). */
PH_MUST_USE
ph_err ph_memstat_alloc_calls(ph_memstat *m, uint64_t *out);

/* Process-wide figures after an epoch refresh (see above). */
PH_MUST_USE
ph_err ph_memstat_global_read(ph_memstat *m, ph_memstat_global *out);

/* The size class jemalloc serves `size` from (nallocx); 0 on error. */
size_t ph_memstat_size_class(size_t size);

#endif
