/* jemalloc statistics through cached MIBs (see memstat.h for the figures
 * and their cost). Names are translated with mallctlnametomib once, in
 * create; every later read is a mallctlbymib. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jemalloc/jemalloc.h>
#include "memstat.h"

#define MIB_MAX 8

struct mib {
    size_t v[MIB_MAX];
    size_t len;
};

struct ph_memstat {
    ph_memstat_probe probe;
    struct mib epoch, tcache_flush, thread_arena;
    struct mib small_nreq, large_nreq; /* v[2] is the arena index */
    struct mib allocated, active, resident, mapped;
};

static int name_to_mib(const char *name, struct mib *m)
{
    m->len = MIB_MAX;
    return mallctlnametomib(name, m->v, &m->len);
}

static int read_by_mib(const struct mib *m, void *val, size_t size)
{
    size_t len = size;
    int rc = mallctlbymib(m->v, m->len, val, &len, NULL, 0);
    return rc ? rc : (len == size ? 0 : EINVAL);
}

static int refresh_epoch(const ph_memstat *m)
{
    uint64_t epoch = 1;
    return mallctlbymib(m->epoch.v, m->epoch.len, NULL, NULL, &epoch, sizeof epoch);
}

static int resolve(ph_memstat *m)
{
    static const struct {
        const char *name;
        size_t off;
    } names[] = {
        {"epoch", offsetof(ph_memstat, epoch)},
        {"thread.tcache.flush", offsetof(ph_memstat, tcache_flush)},
        {"thread.arena", offsetof(ph_memstat, thread_arena)},
        {"stats.arenas.0.small.nrequests", offsetof(ph_memstat, small_nreq)},
        {"stats.arenas.0.large.nrequests", offsetof(ph_memstat, large_nreq)},
        {"stats.allocated", offsetof(ph_memstat, allocated)},
        {"stats.active", offsetof(ph_memstat, active)},
        {"stats.resident", offsetof(ph_memstat, resident)},
        {"stats.mapped", offsetof(ph_memstat, mapped)},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct mib *mib = (struct mib *)(void *)((char *)m + names[i].off);
        if (name_to_mib(names[i].name, mib))
            return -1;
    }
    return 0;
}

static int read_hot_pointers(ph_memstat_probe *p)
{
    uint64_t *ap = NULL, *dp = NULL;
    size_t len = sizeof ap;
    if (mallctl("thread.allocatedp", &ap, &len, NULL, 0) || !ap)
        return -1;
    len = sizeof dp;
    if (mallctl("thread.deallocatedp", &dp, &len, NULL, 0) || !dp)
        return -1;
    p->allocated = ap;
    p->deallocated = dp;
    return 0;
}

/* mallctl answers whenever jemalloc is linked, even when another allocator
 * (ASan's) serves malloc: make sure an allocation moves the counter. */
static int malloc_is_jemalloc(const ph_memstat_probe *p)
{
    uint64_t before = *p->allocated;
    void *x = malloc(4096);
    if (!x)
        return 0;
    __asm__ __volatile__("" : : "r"(x) : "memory");
    uint64_t after = *p->allocated;
    free(x);
    return after - before >= 4096;
}

ph_err ph_memstat_create(ph_memstat **out)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    ph_memstat *m = calloc(1, sizeof *m);
    if (!m)
        return PH_ERR_NOMEM;
    uint64_t calls;
    if (read_hot_pointers(&m->probe) || !malloc_is_jemalloc(&m->probe) || resolve(m) ||
        ph_memstat_alloc_calls(m, &calls)) {
        free(m);
        return PH_ERR_MEMSTAT;
    }
    ph_memstat_reset_peak(&m->probe);
    *out = m;
    return PH_OK;
}

void ph_memstat_destroy(ph_memstat *m)
{
    free(m);
}

ph_memstat_probe *ph_memstat_probe_of(ph_memstat *m)
{
    return m ? &m->probe : NULL;
}

ph_err ph_memstat_alloc_calls(ph_memstat *m, uint64_t *out)
{
    if (!m || !out)
        return PH_ERR_ARG;
    /* EFAULT: this thread has no tcache, so the arena already saw every
     * call. */
    int rc = mallctlbymib(m->tcache_flush.v, m->tcache_flush.len, NULL, NULL, NULL, 0);
    if (rc && rc != EFAULT)
        return PH_ERR_MEMSTAT;
    unsigned arena;
    if (read_by_mib(&m->thread_arena, &arena, sizeof arena))
        return PH_ERR_MEMSTAT;
    m->small_nreq.v[2] = arena;
    m->large_nreq.v[2] = arena;
    uint64_t small, large;
    if (refresh_epoch(m) || read_by_mib(&m->small_nreq, &small, sizeof small) ||
        read_by_mib(&m->large_nreq, &large, sizeof large))
        return PH_ERR_MEMSTAT;
    *out = small + large;
    return PH_OK;
}

ph_err ph_memstat_global_read(ph_memstat *m, ph_memstat_global *out)
{
    if (!m || !out)
        return PH_ERR_ARG;
    size_t allocated, active, resident, mapped;
    if (refresh_epoch(m) || read_by_mib(&m->allocated, &allocated, sizeof allocated) ||
        read_by_mib(&m->active, &active, sizeof active) ||
        read_by_mib(&m->resident, &resident, sizeof resident) ||
        read_by_mib(&m->mapped, &mapped, sizeof mapped))
        return PH_ERR_MEMSTAT;
    out->allocated = allocated;
    out->active = active;
    out->resident = resident;
    out->mapped = mapped;
    return PH_OK;
}

size_t ph_memstat_size_class(size_t size)
{
    return size ? nallocx(size, 0) : 0;
}
