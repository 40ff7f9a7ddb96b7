/* Allocation tracker: sees every allocation and free of the process as it
 * happens, through jemalloc's experimental hooks, and attributes each one to
 * the row and message type of a ph_memtag (lib/util/memtag.h) at the moment
 * of the allocation.
 *
 * What jemalloc 5.3 reports (src/jemalloc.c, src/arena.c, src/large.c):
 *  - malloc, calloc, posix_memalign, aligned_alloc, memalign, valloc,
 *    mallocx, realloc(NULL, n): the alloc hook, after the allocation.
 *  - free, sdallocx, dallocx, realloc(p, 0): the dalloc hook, *before* the
 *    block is released (its usable size can still be read).
 *  - realloc/rallocx that moves: the alloc hook for the new block, then the
 *    dalloc hook for the old one, both before the copy and the release.
 *  - realloc/rallocx that stays in place (same small size class, or a large
 *    extent grown or shrunk where it lies), xallocx: the expand hook with
 *    the old and new usable sizes.
 *
 * Counting follows jemalloc's own per-thread counters (thread.allocated /
 * thread.deallocated) so that, for single-threaded work, the tracker's
 * bytes equal those counters' deltas exactly:
 *  - sizes are size-class bytes (sallocx of the block): malloc(1000) = 1,024;
 *  - a realloc is one allocation and one free, whether it moves or not.
 *    Moved: the old block's bytes are freed under the tag it was allocated
 *    with and the new block is allocated under the current tag. In place:
 *    the new size is allocated and the old size freed under the block's
 *    original row and type, which keep it. (xallocx that does not resize
 *    counts nothing, as in jemalloc.)
 *  - a free is charged to the row, type and counted flag the block was
 *    allocated with, never to the current tag.
 *  - peaks are checked at every allocation; a moving realloc's peak holds
 *    both blocks, which do coexist during the copy.
 *
 * Blocks are remembered in a pointer map (ptr -> usable size, row, type,
 * counted) that lives in anonymous mappings, never in the malloc heap:
 * the hooks do not allocate through malloc. A free of a block the map does
 * not hold (allocated before start) is an "untracked free": counted apart
 * with its usable size, under the counted or uncounted work according to
 * the current tag, and it lowers that work's live bytes, as it lowers
 * jemalloc's. An in-place resize of such a block counts as an untracked
 * free of the old size plus an allocation, under the current tag, of the
 * new one, which is tracked from then on.
 *
 * Threads: jemalloc's hooks are process-wide and fire on every thread.
 * The figures are meant for single-threaded measured work: the tracker
 * belongs to the thread that calls ph_alloctrack_start, and only that
 * thread's allocations are attributed and entered in the map. Allocations
 * and frees by other threads (told apart by pthread_self()) are only
 * counted, with atomic adds, in `foreign`. A block allocated by the owner
 * and freed by another thread stays in the map until its address is
 * allocated again; it is then counted as freed under its row and in
 * `stale`.
 *
 * Only one tracker may be started in the process at a time (the module
 * keeps one process-wide pointer to the started tracker, mirroring
 * jemalloc's process-wide hooks). A tracker starts once: after stop, its
 * figures stay readable but it cannot be started again (frees missed while
 * stopped would leave its map wrong); create another.
 *
 * Cost: with the hooks installed every thread takes jemalloc's slow paths
 * and each call does a map insert or delete; `make bench` prints the
 * figures (tests/bench/bench_alloctrack.c).
 *
 * Errors: PH_ERR_ARG for NULL arguments; PH_ERR_NOMEM when create cannot
 * allocate; PH_ERR_MEMSTAT when jemalloc's hooks cannot be installed or do
 * not fire (malloc is not jemalloc's, e.g. under ASan); PH_ERR_STATE when a
 * tracker is already started in the process or this one was started
 * before. */
#ifndef PH_ALLOCTRACK_H
#define PH_ALLOCTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "memtag.h"

typedef struct ph_alloctrack ph_alloctrack;

/* Number of per-type buckets: types 0..65535, then the "no type" bucket
 * (PH_MEMTAG_NO_TYPE, and any tag type above 65535). */
#define PH_ALLOCTRACK_TYPES 65537u

/* Figures for one heading (a row, counted work, uncounted work, other
 * threads). Bytes are size-class bytes. */
typedef struct ph_alloctrack_counts {
    uint64_t allocs;          /* allocation calls (a realloc is one) */
    uint64_t bytes;           /* bytes allocated */
    uint64_t frees;           /* frees of blocks allocated under this heading */
    uint64_t bytes_freed;     /* their bytes */
    uint64_t untracked_frees; /* frees of blocks allocated before start
                                 (counted/uncounted only; 0 in rows) */
    uint64_t untracked_bytes; /* their bytes */
    int64_t live;             /* bytes - bytes_freed - untracked_bytes; below
                                 zero when more old blocks were freed */
    int64_t peak;             /* highest live since start or the last
                                 ph_alloctrack_reset_peak, checked at every
                                 allocation (0 in foreign: not followed) */
} ph_alloctrack_counts;

typedef struct ph_alloctrack_totals {
    /* counted work by the row it was allocated under; the rows sum exactly
     * to `counted` in allocs, bytes, frees, bytes_freed, and in live once
     * counted.untracked_bytes is added back */
    ph_alloctrack_counts rows[PH_MEMROW__COUNT];
    ph_alloctrack_counts counted;   /* all counted work */
    ph_alloctrack_counts uncounted; /* work tagged uncounted */
    ph_alloctrack_counts foreign;   /* other threads, counted apart */
    /* each row's live bytes when counted.peak was reached (after a delta:
     * less the row's live bytes at the phase's start, like peak) */
    int64_t rows_at_peak[PH_MEMROW__COUNT];
    uint64_t in_place;   /* resizes in place (expand hook) by the owner */
    uint64_t stale;      /* map entries found still present when their address
                            was allocated again (freed unseen, e.g. by
                            another thread) */
    uint64_t lost;       /* allocations counted but not entered in the map
                            because it could not grow (mmap failed) */
    uint64_t blocks;     /* blocks in the map now */
    uint64_t map_bytes;  /* bytes mapped for the map now (not heap) */
} ph_alloctrack_totals;

/* A stopped tracker. `tag` is read at every allocation of the owning thread
 * and must outlive the tracker; NULL: everything is counted, row OTHER, no
 * type. A tag row beyond the known rows counts as OTHER. Allocates the
 * per-type tables (about 1 MiB) and the map's first mapping here, never
 * in the hooks. *out is NULL on error. */
PH_MUST_USE
ph_err ph_alloctrack_create(ph_alloctrack **out, ph_memtag *tag);

/* Stops the tracker if started and frees it. jemalloc does not wait for
 * other threads already inside a hook when it is removed: if other threads
 * allocate while this runs, they may touch freed memory; stop the tracker
 * at a quiet point first. NULL is a no-op. */
void ph_alloctrack_destroy(ph_alloctrack *t);

/* Installs the hooks; the calling thread becomes the owner. Checks that the
 * hooks fire (a probe malloc/free, not counted). PH_ERR_MEMSTAT, PH_ERR_STATE
 * (see the top). */
PH_MUST_USE
ph_err ph_alloctrack_start(ph_alloctrack *t);

/* Removes the hooks; allocations are no longer seen. No-op when not
 * started. Call from the owning thread. */
void ph_alloctrack_stop(ph_alloctrack *t);

/* A new peak window for counted, uncounted and every row, starting at the
 * current live bytes. */
void ph_alloctrack_reset_peak(ph_alloctrack *t);

/* Copies the figures (without the per-type tables). Read from the owning
 * thread, or after stop. */
void ph_alloctrack_snapshot(const ph_alloctrack *t, ph_alloctrack_totals *out);

/* out = after - before for a phase: counters and live are subtracted; peak
 * becomes after.peak - before.live, the phase's rise above its starting
 * live when the peak window was reset as `before` was taken; blocks and
 * map_bytes are after's. out may alias either input. */
void ph_alloctrack_delta(const ph_alloctrack_totals *after, const ph_alloctrack_totals *before,
                         ph_alloctrack_totals *out);

/* What the map holds for a block allocated since start: size-class bytes,
 * row, type and counted flag as they were at its allocation. False when
 * the block is not in the map (allocated before start, by another thread,
 * or not a block), when the tracker is not running, or when called from a
 * thread other than the owner (the map is the owner's). Allocates nothing,
 * so it may run inside free(). */
typedef struct ph_alloctrack_block_info {
    uint64_t usize;
    uint8_t row;
    uint32_t type;    /* PH_MEMTAG_NO_TYPE when none */
    bool counted;
} ph_alloctrack_block_info;
bool ph_alloctrack_block(const ph_alloctrack *t, const void *ptr, ph_alloctrack_block_info *out);

/* fn(ctx) runs after every counted allocation of the owning thread, from
 * inside jemalloc's allocation hook (where jemalloc calls no hook again):
 * it must not allocate, and may free blocks only with
 * ph_alloctrack_release. NULL removes it. The GC model collects there,
 * when an allocation brings the heap to its goal, as Go does. */
void ph_alloctrack_set_observer(ph_alloctrack *t, void (*fn)(void *ctx), void *ctx);
/* Frees a block for real (jemalloc's dallocx, not free()), counted as a
 * free whether or not it runs inside the observer. */
void ph_alloctrack_release(ph_alloctrack *t, void *ptr);

/* Counted live bytes now and their peak (counted.live, counted.peak). */
int64_t ph_alloctrack_live(const ph_alloctrack *t);
int64_t ph_alloctrack_peak(const ph_alloctrack *t);

/* Counted allocations and bytes allocated under message type `type`
 * (0..65535 or PH_MEMTAG_NO_TYPE). PH_ERR_ARG for other types. */
PH_MUST_USE
ph_err ph_alloctrack_type(const ph_alloctrack *t, uint32_t type, uint64_t *allocs,
                          uint64_t *bytes);

/* Iterates the types with at least one counted allocation, in increasing
 * order, PH_MEMTAG_NO_TYPE last. Start with *cursor = 0; returns false when
 * done. */
bool ph_alloctrack_next_type(const ph_alloctrack *t, uint32_t *cursor, uint32_t *type,
                             uint64_t *allocs, uint64_t *bytes);

#endif
