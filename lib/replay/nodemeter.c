#include "nodemeter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloctrack.h"
#include "memstat.h"
#include "wbuf.h"
#include "wire.h"

#define NTYPES 65536u

struct ph_nodemeter {
    ph_memtag tag;
    ph_alloctrack *track;
    bool measuring;
    ph_alloctrack_totals t0, t1;  /* at start, at the phase mark */
    int64_t live_peers;
    uint64_t *type_writes;        /* by exact type, as frames complete */
    uint64_t *type_base;          /* per-type allocations, bytes at the mark */
    /* jemalloc's own per-thread counters at the mark: an independent count
     * of the same allocations, to check the tracker against */
    ph_memstat *ms;
    uint64_t je_allocated, je_deallocated;
    /* the GC model, when on */
    ph_gcmodel *gc;
    const ph_free_interposer *fi;
    bool filtering;               /* fi's filter is the model's */
    uint64_t gc_now;
};

ph_err ph_nodemeter_create(ph_nodemeter **out)
{
    ph_nodemeter *m = calloc(1, sizeof *m);
    if (!m)
        return PH_ERR_NOMEM;
    ph_memtag_init(&m->tag);
    m->type_writes = calloc(NTYPES, sizeof *m->type_writes);
    m->type_base = calloc(2 * (NTYPES + 1), sizeof *m->type_base);
    ph_err err = m->type_writes && m->type_base ? ph_alloctrack_create(&m->track, &m->tag)
                                                : PH_ERR_NOMEM;
    if (err) {
        ph_nodemeter_destroy(m);
        return err;
    }
    *out = m;
    return PH_OK;
}

static void gc_stop(ph_nodemeter *m)
{
    if (m->filtering) {
        m->fi->set_filter(NULL, NULL);
        ph_alloctrack_set_observer(m->track, NULL, NULL);
    }
    m->filtering = false;
}

void ph_nodemeter_destroy(ph_nodemeter *m)
{
    if (!m)
        return;
    gc_stop(m);
    ph_gcmodel_destroy(m->gc);
    ph_alloctrack_destroy(m->track);
    ph_memstat_destroy(m->ms);
    free(m->type_writes);
    free(m->type_base);
    free(m);
}

ph_memtag *ph_nodemeter_tag(ph_nodemeter *m)
{
    return &m->tag;
}

static void on_frame(void *ctx, ph_peer *p, uint16_t type, size_t len)
{
    (void)p;
    (void)len;
    ph_nodemeter *m = ctx;
    m->type_writes[type]++;
}

void ph_nodemeter_attach(ph_nodemeter *m, ph_node_config *cfg)
{
    cfg->tag = &m->tag;
    cfg->on_frame = on_frame;
    cfg->on_frame_ctx = m;
}

ph_err ph_nodemeter_start(ph_nodemeter *m)
{
    ph_err err = ph_alloctrack_start(m->track);
    if (err)
        return err;
    m->measuring = true;
    if (ph_memstat_create(&m->ms) != PH_OK)
        m->ms = NULL;
    ph_alloctrack_snapshot(m->track, &m->t0);
    m->t1 = m->t0;
    m->live_peers = m->t0.counted.live;
    return PH_OK;
}

/* The GC model's view of the heap: the tracker's counted work. */
static bool gc_classify(void *ctx, const void *ptr, uint64_t *usize, unsigned *row)
{
    ph_nodemeter *m = ctx;
    ph_alloctrack_block_info bi;
    if (!ph_alloctrack_block(m->track, ptr, &bi) || !bi.counted)
        return false;
    *usize = bi.usize;
    *row = bi.row;
    return true;
}

static uint64_t gc_heap(void *ctx)
{
    ph_nodemeter *m = ctx;
    int64_t live = ph_alloctrack_live(m->track);
    return live > 0 ? (uint64_t)live : 0;
}

static void gc_release(void *ctx, void *ptr)
{
    ph_alloctrack_release(((ph_nodemeter *)ctx)->track, ptr);
}

static void gc_alloc_point(void *ctx)
{
    ph_gcmodel_alloc_point(ctx);
}

static bool gc_filter(void *ctx, void *ptr)
{
    return ph_gcmodel_free(ctx, ptr);
}

ph_err ph_nodemeter_gc_start(ph_nodemeter *m, int gogc, uint64_t heap_limit,
                             const ph_free_interposer *fi)
{
    if (!fi)
        return PH_ERR_GC_UNAVAILABLE;
    if (!m->measuring || m->gc)
        return PH_ERR_STATE;
    ph_gc_host host = {gc_classify, gc_heap, gc_release, m};
    m->fi = fi;
    /* The model's own tables are not the node's memory. */
    bool saved = ph_memtag_uncounted(&m->tag, true);
    ph_err err = ph_gcmodel_create(&m->gc, gogc, heap_limit, &host);
    ph_memtag_uncounted(&m->tag, saved);
    if (err) {
        m->fi = NULL;
        return err;
    }
    fi->set_filter(gc_filter, m->gc);
    ph_alloctrack_set_observer(m->track, gc_alloc_point, m->gc);
    m->filtering = true;
    return PH_OK;
}

void ph_nodemeter_gc_safepoint(ph_nodemeter *m, uint64_t now_ns)
{
    m->gc_now = now_ns;
    if (m->filtering)
        ph_gcmodel_safepoint(m->gc, now_ns);
}

void ph_nodemeter_gc_stats(const ph_nodemeter *m, ph_gc_stats *out)
{
    ph_gcmodel_stats(m->gc, out);
}

bool ph_nodemeter_measuring(const ph_nodemeter *m)
{
    return m->measuring;
}

int64_t ph_nodemeter_live(const ph_nodemeter *m)
{
    return m->measuring ? ph_alloctrack_live(m->track) - m->t0.counted.live : 0;
}

void ph_nodemeter_mark_peers(ph_nodemeter *m)
{
    if (m->measuring)
        m->live_peers = ph_alloctrack_live(m->track);
}

void ph_nodemeter_mark_phase(ph_nodemeter *m)
{
    if (!m->measuring)
        return;
    if (m->ms) {
        ph_memstat_probe *p = ph_memstat_probe_of(m->ms);
        m->je_allocated = *p->allocated;
        m->je_deallocated = *p->deallocated;
    }
    ph_gcmodel_mark_phase(m->gc, m->gc_now);
    ph_alloctrack_snapshot(m->track, &m->t1);
    ph_alloctrack_reset_peak(m->track);
    for (uint32_t t = 0; t <= NTYPES; t++) {
        uint32_t type = t < NTYPES ? t : PH_MEMTAG_NO_TYPE;
        /* Every type asked is 0..65535 or NO_TYPE, the only PH_ERR_ARG
         * there is; the base is left at 0 were it ever to happen. */
        ph_ignore_err(ph_alloctrack_type(m->track, type, &m->type_base[2 * t],
                                         &m->type_base[2 * t + 1]));
    }
}

static uint64_t positive(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

static ph_err add_types(ph_nodemeter *m, ph_strategy_result *out)
{
    for (uint32_t t = 0; t <= NTYPES; t++) {
        uint64_t a = 0, b = 0, w = t < NTYPES ? m->type_writes[t] : 0;
        if (m->measuring) {
            ph_err e = ph_alloctrack_type(m->track, t < NTYPES ? t : PH_MEMTAG_NO_TYPE, &a, &b);
            if (e)
                return e;
            a -= m->type_base[2 * t];
            b -= m->type_base[2 * t + 1];
        }
        if (!w && !a && !b)
            continue;
        char buf[PH_WIRE_TYPE_STRLEN];
        const char *name = t < NTYPES ? ph_wire_type_str((uint16_t)t, buf) : "(no message)";
        ph_err e = ph_strategy_result_add_type(out, name, w, a, b);
        if (e)
            return e;
    }
    return PH_OK;
}

static void write_figures(ph_node *node, ph_strategy_result *out)
{
    ph_outq_stats qs;
    ph_node_write_totals(node, &qs);
    out->writes = qs.msgs_out;
    out->write_bytes = qs.wire_bytes_out;
    out->dropped = qs.relay_dropped;
    out->partial_writes = qs.partial_writes;
    out->would_block = qs.would_block;
    ph_wbuf_stats wb;
    ph_wbuf_get_stats(ph_node_wbuf(node), &wb);
    out->wbuf_buffers_allocated = wb.buffers_allocated;
    out->wbuf_bytes_requested = wb.bytes_requested;
    out->wbuf_peak_held_bytes = wb.peak_held_bytes;
}

static ph_err gc_figures(const ph_nodemeter *m, ph_strategy_result *out)
{
    if (!m->gc)
        return PH_OK;
    ph_gc_stats st;
    ph_gcmodel_stats(m->gc, &st);
    out->gc_collections = st.collections;
    out->gc_forced = st.forced;
    out->gc_deferred_bytes = st.deferred_bytes;
    out->gc_released_bytes = st.released_bytes;
    out->gc_end_garbage_bytes = st.garbage_bytes;
    out->gc_peak_garbage_bytes = st.peak_garbage_bytes;
    out->gc_live_after_last_bytes = st.live_after_last;
    out->gc_goal_bytes = st.goal;
    const ph_gc_collection *ev;
    size_t n = ph_gcmodel_events(m->gc, &ev);
    for (size_t i = 0; i < n; i++) {
        ph_gc_event e = {
            .index = ev[i].index,
            .t = (double)ev[i].at_ns / 1e9,
            .goal = ev[i].goal,
            .heap_before = ev[i].heap_before,
            .heap_after = ev[i].heap_after,
            .wbuf_bytes = ev[i].wbuf_bytes,
            .forced = ev[i].forced,
        };
        ph_err err = ph_strategy_result_add_gc_event(out, &e);
        if (err)
            return err;
    }
    return PH_OK;
}

ph_err ph_nodemeter_finish(ph_nodemeter *m, ph_node *node, size_t npeers, ph_strategy_result *out)
{
    /* The figures are taken with the garbage still held (Go's picture);
     * from here on frees are plain frees again. */
    gc_stop(m);
    write_figures(node, out);
    if (m->measuring) {
        ph_alloctrack_totals t2, setup, phase;
        ph_alloctrack_snapshot(m->track, &t2);
        if (m->ms) {
            ph_memstat_probe *p = ph_memstat_probe_of(m->ms);
            out->jemalloc_bytes_allocated = *p->allocated - m->je_allocated;
            out->jemalloc_bytes_freed = *p->deallocated - m->je_deallocated;
        }
        ph_alloctrack_delta(&m->t1, &m->t0, &setup);
        ph_alloctrack_delta(&t2, &m->t1, &phase);
        int64_t base = m->t0.counted.live;
        out->setup_allocations = setup.counted.allocs;
        out->setup_bytes_allocated = setup.counted.bytes;
        out->setup_live_bytes = positive(m->t1.counted.live - base);
        out->allocations = phase.counted.allocs;
        out->bytes_allocated = phase.counted.bytes;
        out->bytes_freed = phase.counted.bytes_freed + phase.counted.untracked_bytes;
        out->peak_live_bytes = positive(t2.counted.peak - base);
        out->wbuf_at_peak_bytes =
            positive(t2.rows_at_peak[PH_MEMROW_WBUF] - m->t0.rows[PH_MEMROW_WBUF].live);
        out->end_live_bytes = positive(t2.counted.live - base);
        int64_t held = t2.counted.live - m->live_peers;
        out->held_bytes_per_peer = npeers ? positive(held) / npeers : 0;
        for (unsigned r = 0; r < PH_REPORT_ROWS && r < PH_MEMROW__COUNT; r++) {
            out->rows[r].allocations = phase.rows[r].allocs;
            out->rows[r].bytes_allocated = phase.rows[r].bytes;
            out->rows[r].end_live_bytes = positive(t2.rows[r].live);
        }
        out->remote_allocations = phase.uncounted.allocs;
        out->remote_bytes_allocated = phase.uncounted.bytes;
        out->remote_bytes_freed = phase.uncounted.bytes_freed + phase.uncounted.untracked_bytes;
        ph_alloctrack_stop(m->track);
    }
    ph_err err = add_types(m, out);
    if (!err)
        err = gc_figures(m, out);
    return err;
}
