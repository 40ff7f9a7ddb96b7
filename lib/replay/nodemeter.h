/* The figures of one node's write path, the same for a replay and for a
 * live `peerheap peer`: an allocation tracker (alloctrack.h) with its
 * memory tag, writes counted by exact type as frames complete, and the
 * node's own counters, gathered into a ph_strategy_result (report.h) so
 * that both produce the same schema and `diff`/`gate` read either.
 *
 * Life: create; attach to the node's configuration (before ph_node_create:
 * it sets the tag and the frame observer); start (hooks installed, the
 * baseline taken); optionally mark_peers (live bytes before the peers, for
 * held-per-peer) and mark_phase (set-up ends: set-up figures are what came
 * before, the phase figures what comes after, and the peak restarts);
 * finish fills the result; destroy.
 *
 * Without jemalloc's hooks (sanitizer builds) start fails with
 * PH_ERR_MEMSTAT; a caller that accepts that gets write counters only.
 *
 * Ownership: the meter owns its tracker and tables; the node is borrowed.
 * One started meter per process (jemalloc's hooks are process-wide).
 * Errors: PH_ERR_NOMEM, PH_ERR_MEMSTAT, PH_ERR_STATE. */
#ifndef PH_NODEMETER_H
#define PH_NODEMETER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "gcmodel.h"
#include "memtag.h"
#include "node.h"
#include "report.h"

typedef struct ph_nodemeter ph_nodemeter;

PH_MUST_USE
ph_err ph_nodemeter_create(ph_nodemeter **out);
void ph_nodemeter_destroy(ph_nodemeter *m);
ph_memtag *ph_nodemeter_tag(ph_nodemeter *m);
void ph_nodemeter_attach(ph_nodemeter *m, ph_node_config *cfg);
PH_MUST_USE
ph_err ph_nodemeter_start(ph_nodemeter *m);
bool ph_nodemeter_measuring(const ph_nodemeter *m);
void ph_nodemeter_mark_peers(ph_nodemeter *m);
void ph_nodemeter_mark_phase(ph_nodemeter *m);
/* The GC model (gcmodel.h) over the meter's tracker, after start: a free()
 * of a block the node allocated as counted work is kept as garbage
 * through the program's interposer `fi` until a collection. GOGC as in
 * ph_gcmodel_create; heap_limit 0 = none. PH_ERR_GC_UNAVAILABLE without
 * an interposer, PH_ERR_STATE when not measuring. The filter is removed
 * by finish and destroy; the garbage is released by destroy. */
PH_MUST_USE
ph_err ph_nodemeter_gc_start(ph_nodemeter *m, int gogc, uint64_t heap_limit,
                             const ph_free_interposer *fi);
/* Where a collection may run (the loop, between iterations). */
void ph_nodemeter_gc_safepoint(ph_nodemeter *m, uint64_t now_ns);
/* The model's figures (all 0 without it): over_limit or unkept mean the
 * model stopped keeping some frees, and the run's figures are not Go's. */
void ph_nodemeter_gc_stats(const ph_nodemeter *m, ph_gc_stats *out);
/* Counted live bytes since start (0 when not measuring). */
int64_t ph_nodemeter_live(const ph_nodemeter *m);
/* Fills the write-path and memory figures of `out` (name, times and
 * samples are the caller's); `npeers` divides the held bytes. Stops the
 * tracker. PH_ERR_NOMEM when a per-type or GC-event entry could not be
 * added (the figures before it are filled; `out` is then incomplete). */
PH_MUST_USE
ph_err ph_nodemeter_finish(ph_nodemeter *m, ph_node *node, size_t npeers,
                           ph_strategy_result *out);

#endif
