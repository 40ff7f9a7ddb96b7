/* A model of Go's garbage collector laid over C code that frees blocks
 * explicitly: `peerheap replay --gc-model go[:GOGC]`.
 *
 * In Go a buffer nobody references is garbage, and garbage stays allocated
 * until the next collection. The model gives C code the same heap: a free()
 * of a block the measured work allocated does not release it; the block
 * stays allocated, as garbage, until a collection releases every garbage
 * block at once. Because the blocks are really held, every figure taken
 * from the allocator (peak live, active, resident, the timeline) shows Go's
 * retention directly.
 *
 * When a collection runs (Go's pacer, simplified):
 *  - the heap goal is the live heap after the last collection times
 *    (1 + GOGC/100), and at least Go's heap minimum, 4 MiB x GOGC/100;
 *    before the first collection the goal is that minimum;
 *  - a collection runs at the allocation that brings the heap (live +
 *    garbage, from the host) to the goal (ph_gcmodel_alloc_point, called
 *    by the host after each allocation of the measured work), as Go starts
 *    a cycle from its allocator; the block just allocated is live, every
 *    garbage block is released. (Go marks concurrently and sweeps lazily,
 *    so its heap can pass the goal a little; this one stops at it);
 *  - a safepoint at least 2 minutes after the last collection forces one
 *    (Go's sysmon forces a collection every 2 minutes);
 *  - GOGC `off` (PH_GC_OFF) never collects. A heap above `heap_limit`
 *    stops the model deferring (so the process survives) and is reported
 *    in the stats: Go would have run out of memory there.
 * What it does not model: stacks and globals in the goal, the pacer's
 * trigger ratio, GOMEMLIMIT, fragmentation of Go's own allocator.
 *
 * Where frees come from. C code calls free() directly and jemalloc's hooks
 * observe frees but cannot stop them, so only the program can defer them:
 * it replaces free() (peerheap's executable does, tool/freeshim.c) and
 * passes every call through ph_gcmodel_free first, through the interposer
 * below. A library cannot replace free() for its host, so nothing in lib/
 * changes: the write path is the same code, and when no model is installed
 * the program's free() costs one load and one branch more.
 *
 * The host callbacks decide which blocks are garbage (the measured work's:
 * blocks allocated as counted work; the replay's model of the remote peers
 * is not the node and frees at once), what the heap is, and how a block is
 * released for real (around the filter, and possibly from inside the
 * allocator's hook: lib/replay/alloctrack.h, ph_alloctrack_release).
 *
 * Single-threaded: the model belongs to the thread that created it; free()
 * from any other thread passes through untouched. The model never calls
 * malloc (its list of garbage lives in anonymous mappings), so it may run
 * inside free().
 *
 * Ownership: create returns a model owned by the caller; destroy releases
 * every garbage block through the host first. Errors: PH_ERR_ARG (GOGC out
 * of range, host callbacks missing), PH_ERR_NOMEM. */
#ifndef PH_GCMODEL_H
#define PH_GCMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PH_GC_OFF (-1)
#define PH_GC_GOGC_MAX 1000000
/* Go's default heap minimum (runtime defaultHeapMinimum), scaled by GOGC/100. */
#define PH_GC_HEAP_MINIMUM (4ull << 20)
/* Go's forced collection period (runtime forcegcperiod). */
#define PH_GC_FORCE_NS (120ull * 1000000000ull)
/* Collections kept for reports; beyond it every other one is dropped. */
#define PH_GC_EVENTS_MAX 1024u

typedef struct ph_gc_host {
    /* Whether `ptr` is a block to keep as garbage; if so its size-class
     * bytes and memtag row (lib/util/memtag.h). Must not allocate. */
    bool (*classify)(void *ctx, const void *ptr, uint64_t *usize, unsigned *row);
    /* The heap the goal is compared with: live + garbage, bytes. */
    uint64_t (*heap)(void *ctx);
    /* Frees a block for real, bypassing the filter. */
    void (*release)(void *ctx, void *ptr);
    void *ctx;
} ph_gc_host;

/* A program that can defer free() (peerheap's executable) provides this. */
typedef struct ph_free_interposer {
    /* Routes every free() of the process through filter(ctx, ptr) first;
     * a filter that returns true has kept the block. NULL: plain free(). */
    void (*set_filter)(bool (*filter)(void *ctx, void *ptr), void *ctx);
} ph_free_interposer;

typedef struct ph_gc_collection {
    uint64_t index;          /* 1 for the first collection since the mark */
    uint64_t at_ns;          /* the last safepoint's clock, less the mark's */
    uint64_t goal;           /* the goal it was due at (0 when forced under off) */
    uint64_t heap_before;    /* live + garbage when it ran */
    uint64_t heap_after;     /* live when it was done: the next goal's base */
    uint64_t released_bytes; /* garbage given back */
    uint64_t wbuf_bytes;     /* ... of it write buffers (memtag row WBUF) */
    bool forced;             /* the 2-minute collection, not the goal */
} ph_gc_collection;

typedef struct ph_gc_stats {
    int gogc;                    /* PH_GC_OFF or the percentage */
    uint64_t collections, forced;
    uint64_t deferred, deferred_bytes;   /* frees kept as garbage */
    uint64_t released, released_bytes;   /* garbage given back by collections */
    uint64_t garbage_bytes;              /* held as garbage now */
    uint64_t garbage_wbuf_bytes;         /* ... of it write buffers */
    uint64_t peak_garbage_bytes;
    uint64_t goal;                       /* the next goal (0: off) */
    uint64_t live_after_last;            /* heap after the last collection */
    bool over_limit;                     /* the heap passed heap_limit */
    uint64_t unkept;                     /* frees that could not be kept: the list
                                            of garbage could not grow (no memory) */
} ph_gc_stats;

typedef struct ph_gcmodel ph_gcmodel;

/* gogc: PH_GC_OFF or 0..PH_GC_GOGC_MAX. heap_limit: 0 = none. */
PH_MUST_USE
ph_err ph_gcmodel_create(ph_gcmodel **out, int gogc, uint64_t heap_limit,
                         const ph_gc_host *host);
void ph_gcmodel_destroy(ph_gcmodel *m);

/* Go's heap goal after a collection that left `live_after` bytes. */
uint64_t ph_gcmodel_goal(int gogc, uint64_t live_after);

/* The filter: true when `ptr` was kept as garbage (the caller must not free
 * it); false when the caller frees it now. Never collects: a free does not
 * raise the heap. */
bool ph_gcmodel_free(ph_gcmodel *m, void *ptr);
/* After an allocation of the measured work: collects when the heap has
 * reached the goal. */
void ph_gcmodel_alloc_point(ph_gcmodel *m);
/* A point where the program may collect (between loop iterations): the
 * heap is checked against the goal, and `now_ns` (the loop clock) against
 * the forced period. */
void ph_gcmodel_safepoint(ph_gcmodel *m, uint64_t now_ns);
/* Releases every garbage block now (a forced collection, recorded). */
void ph_gcmodel_collect(ph_gcmodel *m);

/* Counters and recorded collections restart here (the replay phase
 * begins); the goal, the garbage held and the clock go on. */
void ph_gcmodel_mark_phase(ph_gcmodel *m, uint64_t now_ns);
void ph_gcmodel_stats(const ph_gcmodel *m, ph_gc_stats *out);
/* Collections since the mark, oldest first: all of them up to
 * PH_GC_EVENTS_MAX, then every 2nd, 4th ... (evenly thinned). */
size_t ph_gcmodel_events(const ph_gcmodel *m, const ph_gc_collection **out);

/* "go", "go:100", "go:off" -> GOGC. False for anything else. */
bool ph_gcmodel_parse(const char *spec, int *gogc);

#endif
