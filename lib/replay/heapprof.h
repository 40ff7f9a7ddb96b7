/* jemalloc's heap profiler around one measured run: the pprof-style view
 * by allocating function (`jeprof --text PROGRAM FILE`, `jeprof --base`).
 *
 * jemalloc reads its options once, at start-up: profiling exists only in a
 * process started with MALLOC_CONF=prof:true (the program re-executes
 * itself for that; `peerheap replay --prof` does), and jemalloc must be
 * built with --enable-prof (Debian's is). Within such a process the
 * profiler is switched on for the measured run only (prof.reset, then
 * prof.active) and writes:
 *   DIR/NAME.peak.heap  at the highest live heap seen at an observe() call
 *                       (re-written each time the live heap passes the last
 *                       dump by 5%: the file left is within 5% of that high)
 *   DIR/NAME.heap       at the end
 * Each file is written whole under a temporary name and renamed. With
 * prof_accum:true the files also hold every sampled allocation since the
 * start (`jeprof --alloc_space`).
 *
 * Ownership: the profiler copies dir and name. Errors:
 * PH_ERR_PROF_UNAVAILABLE (profiling not on in this process), PH_ERR_IO (a
 * dump or rename failed; errno kept), PH_ERR_NOMEM, PH_ERR_ARG. */
#ifndef PH_HEAPPROF_H
#define PH_HEAPPROF_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

typedef struct ph_heapprof ph_heapprof;

/* Whether this process has jemalloc's profiler (opt.prof). */
bool ph_heapprof_available(void);

PH_MUST_USE
ph_err ph_heapprof_create(ph_heapprof **out, const char *dir, const char *name);
void ph_heapprof_destroy(ph_heapprof *p);
/* Resets the profile and switches sampling on. */
PH_MUST_USE
ph_err ph_heapprof_begin(ph_heapprof *p);
/* A point where the live heap is `live` bytes: dumps the peak file when it
 * passes the last peak dump by 5%. Cheap otherwise. */
PH_MUST_USE
ph_err ph_heapprof_observe(ph_heapprof *p, int64_t live);
/* Dumps the end file and switches sampling off. */
PH_MUST_USE
ph_err ph_heapprof_end(ph_heapprof *p);
/* The path of the last file written, for messages. */
const char *ph_heapprof_path(const ph_heapprof *p, bool peak);

#endif
