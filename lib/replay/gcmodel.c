/* Go's collector over explicit frees (see gcmodel.h). */
#include "gcmodel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "memtag.h"

struct garbage {
    void *ptr;
    uint64_t usize;
    unsigned row;
};

struct ph_gcmodel {
    int gogc;
    uint64_t heap_limit;
    ph_gc_host host;
    pthread_t owner;
    bool busy;               /* releasing: nothing re-enters */

    /* the garbage: an anonymous mapping, never the malloc heap, because
     * it grows inside free() */
    struct garbage *list;
    size_t n, cap;

    uint64_t goal;
    uint64_t now_ns, base_ns, last_gc_ns;
    ph_gc_stats st;

    ph_gc_collection *ev;    /* PH_GC_EVENTS_MAX */
    size_t nev;
    uint64_t stride;         /* one collection in `stride` is recorded */
};

#define LIST_INIT 4096u

static struct garbage *list_map(size_t cap)
{
    void *p = mmap(NULL, cap * sizeof(struct garbage), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static bool list_grow(ph_gcmodel *m)
{
    size_t cap = m->cap * 2;
    void *p = mremap(m->list, m->cap * sizeof *m->list, cap * sizeof *m->list, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return false;
    m->list = p;
    m->cap = cap;
    return true;
}

uint64_t ph_gcmodel_goal(int gogc, uint64_t live_after)
{
    if (gogc < 0)
        return 0;
    uint64_t g = (uint64_t)gogc;
    uint64_t minimum = PH_GC_HEAP_MINIMUM * g / 100;
    uint64_t goal = live_after + live_after / 100 * g + live_after % 100 * g / 100;
    return goal > minimum ? goal : minimum;
}

ph_err ph_gcmodel_create(ph_gcmodel **out, int gogc, uint64_t heap_limit,
                         const ph_gc_host *host)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    if (!host || !host->classify || !host->heap || !host->release ||
        gogc < PH_GC_OFF || gogc > PH_GC_GOGC_MAX)
        return PH_ERR_ARG;
    ph_gcmodel *m = calloc(1, sizeof *m);
    if (!m)
        return PH_ERR_NOMEM;
    m->ev = calloc(PH_GC_EVENTS_MAX, sizeof *m->ev);
    m->list = list_map(LIST_INIT);
    if (!m->ev || !m->list) {
        free(m->ev);
        if (m->list)
            munmap(m->list, LIST_INIT * sizeof *m->list);
        free(m);
        return PH_ERR_NOMEM;
    }
    m->cap = LIST_INIT;
    m->gogc = gogc;
    m->heap_limit = heap_limit;
    m->host = *host;
    m->owner = pthread_self();
    m->goal = ph_gcmodel_goal(gogc, 0);
    m->stride = 1;
    m->st.gogc = gogc;
    *out = m;
    return PH_OK;
}

static void release_all(ph_gcmodel *m, uint64_t *bytes, uint64_t *wbuf)
{
    m->busy = true;
    for (size_t i = 0; i < m->n; i++) {
        m->host.release(m->host.ctx, m->list[i].ptr);
        *bytes += m->list[i].usize;
        if (m->list[i].row == PH_MEMROW_WBUF)
            *wbuf += m->list[i].usize;
    }
    m->st.released += m->n;
    m->n = 0;
    m->st.garbage_bytes = m->st.garbage_wbuf_bytes = 0;
    m->busy = false;
}

void ph_gcmodel_destroy(ph_gcmodel *m)
{
    if (!m)
        return;
    uint64_t b = 0, w = 0;
    release_all(m, &b, &w);
    munmap(m->list, m->cap * sizeof *m->list);
    free(m->ev);
    free(m);
}

/* Keeps every other recorded collection once the table is full. */
static void record(ph_gcmodel *m, const ph_gc_collection *c)
{
    if ((c->index - 1) % m->stride)
        return;
    if (m->nev == PH_GC_EVENTS_MAX) {
        for (size_t i = 0; i < PH_GC_EVENTS_MAX / 2; i++)
            m->ev[i] = m->ev[2 * i];
        m->nev = PH_GC_EVENTS_MAX / 2;
        m->stride *= 2;
        if ((c->index - 1) % m->stride)
            return;
    }
    m->ev[m->nev++] = *c;
}

static void collect(ph_gcmodel *m, bool forced)
{
    ph_gc_collection c = {
        .at_ns = m->now_ns - m->base_ns,
        .goal = m->goal,
        .heap_before = m->host.heap(m->host.ctx),
        .forced = forced,
    };
    release_all(m, &c.released_bytes, &c.wbuf_bytes);
    c.heap_after = m->host.heap(m->host.ctx);
    m->st.released_bytes += c.released_bytes;
    m->st.collections++;
    m->st.forced += forced;
    m->st.live_after_last = c.heap_after;
    m->goal = ph_gcmodel_goal(m->gogc, c.heap_after);
    m->last_gc_ns = m->now_ns;
    c.index = m->st.collections;
    record(m, &c);
}

static void maybe_collect(ph_gcmodel *m)
{
    if (m->gogc == PH_GC_OFF || m->busy)
        return;
    if (m->host.heap(m->host.ctx) >= m->goal)
        collect(m, false);
}

static bool keep(ph_gcmodel *m, void *ptr, uint64_t usize, unsigned row)
{
    if (m->heap_limit && m->host.heap(m->host.ctx) > m->heap_limit)
        m->st.over_limit = true;
    if (m->st.over_limit)
        return false;
    if (m->n == m->cap && !list_grow(m)) {
        m->st.unkept++;
        return false;
    }
    m->list[m->n++] = (struct garbage){ptr, usize, row};
    m->st.deferred++;
    m->st.deferred_bytes += usize;
    m->st.garbage_bytes += usize;
    if (row == PH_MEMROW_WBUF)
        m->st.garbage_wbuf_bytes += usize;
    if (m->st.garbage_bytes > m->st.peak_garbage_bytes)
        m->st.peak_garbage_bytes = m->st.garbage_bytes;
    return true;
}

bool ph_gcmodel_free(ph_gcmodel *m, void *ptr)
{
    if (!m || !ptr || m->busy || !pthread_equal(pthread_self(), m->owner))
        return false;
    uint64_t usize = 0;
    unsigned row = PH_MEMROW_OTHER;
    return m->host.classify(m->host.ctx, ptr, &usize, &row) && keep(m, ptr, usize, row);
}

void ph_gcmodel_alloc_point(ph_gcmodel *m)
{
    if (m && pthread_equal(pthread_self(), m->owner))
        maybe_collect(m);
}

void ph_gcmodel_safepoint(ph_gcmodel *m, uint64_t now_ns)
{
    if (!m || m->busy || !pthread_equal(pthread_self(), m->owner))
        return;
    m->now_ns = now_ns;
    if (m->gogc != PH_GC_OFF && now_ns - m->last_gc_ns >= PH_GC_FORCE_NS) {
        collect(m, true);
        return;
    }
    maybe_collect(m);
}

void ph_gcmodel_collect(ph_gcmodel *m)
{
    if (m && !m->busy)
        collect(m, true);
}

void ph_gcmodel_mark_phase(ph_gcmodel *m, uint64_t now_ns)
{
    if (!m)
        return;
    m->now_ns = m->base_ns = now_ns;
    if (!m->st.collections)
        m->last_gc_ns = now_ns; /* the forced period counts from here */
    ph_gc_stats keep_st = m->st;
    memset(&m->st, 0, sizeof m->st);
    m->st.gogc = m->gogc;
    m->st.garbage_bytes = m->st.peak_garbage_bytes = keep_st.garbage_bytes;
    m->st.garbage_wbuf_bytes = keep_st.garbage_wbuf_bytes;
    m->st.live_after_last = keep_st.live_after_last;
    m->st.over_limit = keep_st.over_limit;
    m->st.unkept = keep_st.unkept;
    m->nev = 0;
    m->stride = 1;
}

void ph_gcmodel_stats(const ph_gcmodel *m, ph_gc_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!m)
        return;
    *out = m->st;
    out->goal = m->gogc == PH_GC_OFF ? 0 : m->goal;
}

size_t ph_gcmodel_events(const ph_gcmodel *m, const ph_gc_collection **out)
{
    *out = m ? m->ev : NULL;
    return m ? m->nev : 0;
}

bool ph_gcmodel_parse(const char *spec, int *gogc)
{
    if (!spec || strncmp(spec, "go", 2) != 0)
        return false;
    if (!spec[2]) {
        *gogc = 100;
        return true;
    }
    if (spec[2] != ':' || !spec[3])
        return false;
    const char *v = spec + 3;
    if (strcmp(v, "off") == 0) {
        *gogc = PH_GC_OFF;
        return true;
    }
    long n = 0;
    for (const char *c = v; *c; c++) {
        if (*c < '0' || *c > '9' || n > PH_GC_GOGC_MAX)
            return false;
        n = n * 10 + (*c - '0');
    }
    if (n > PH_GC_GOGC_MAX)
        return false;
    *gogc = (int)n;
    return true;
}
