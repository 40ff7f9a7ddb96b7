/* Allocation tracker on jemalloc's experimental hooks (see alloctrack.h for
 * what is counted and how).
 *
 * Everything a hook touches was allocated before start (the tracker, the
 * per-type tables) or lives in anonymous mappings (the pointer map), so the
 * hooks never call malloc. jemalloc would not recurse into them if they did
 * (it guards hooks against reentrancy), but the allocation would go
 * unseen and disturb the figures being taken. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <jemalloc/jemalloc.h>
#include "alloctrack.h"

/* jemalloc does not publish the hooks' types: this mirrors 5.3.0's
 * include/jemalloc/internal/hook.h (hook_alloc_t, hook_dalloc_t,
 * hook_expand_t, the three function types and struct hooks_s, whose layout
 * is three function pointers then `void *extra`). src/ctl.c's
 * experimental_hooks_install_ctl copies exactly sizeof(hooks_t) from newp
 * and returns an opaque handle in oldp; experimental.hooks.remove takes the
 * handle. The enums are only partly used; their values follow hook.h. */
enum je_hook_alloc {
    JE_HOOK_ALLOC_MALLOC,
    JE_HOOK_ALLOC_POSIX_MEMALIGN, /* result_raw is the return code */
    JE_HOOK_ALLOC_ALIGNED_ALLOC,
    JE_HOOK_ALLOC_CALLOC,
    JE_HOOK_ALLOC_MEMALIGN,
    JE_HOOK_ALLOC_VALLOC,
    JE_HOOK_ALLOC_MALLOCX,
    JE_HOOK_ALLOC_REALLOC,
    JE_HOOK_ALLOC_RALLOCX,
};

enum je_hook_dalloc {
    JE_HOOK_DALLOC_FREE,
    JE_HOOK_DALLOC_DALLOCX,
    JE_HOOK_DALLOC_SDALLOCX,
    JE_HOOK_DALLOC_REALLOC,
    JE_HOOK_DALLOC_RALLOCX,
};

enum je_hook_expand {
    JE_HOOK_EXPAND_REALLOC,
    JE_HOOK_EXPAND_RALLOCX,
    JE_HOOK_EXPAND_XALLOCX, /* fires even when nothing was resized */
};

typedef void (*je_hook_alloc_fn)(void *extra, enum je_hook_alloc type, void *result,
                                 uintptr_t result_raw, uintptr_t args_raw[3]);
typedef void (*je_hook_dalloc_fn)(void *extra, enum je_hook_dalloc type, void *address,
                                  uintptr_t args_raw[3]);
typedef void (*je_hook_expand_fn)(void *extra, enum je_hook_expand type, void *address,
                                  size_t old_usize, size_t new_usize, uintptr_t result_raw,
                                  uintptr_t args_raw[4]);

struct je_hooks {
    je_hook_alloc_fn alloc_hook;
    je_hook_dalloc_fn dalloc_hook;
    je_hook_expand_fn expand_hook;
    void *extra;
};

/* Pointer map: open addressing, linear probing, deletion by backward shift
 * (no tombstones, so lookups stay short however many frees happen). Kept
 * at most half full; grown by rehashing into a mapping twice the size. */
/* A replay keeps a few thousand blocks live: 4,096 slots of 16 bytes
 * stay in the core's L2 cache, which decides what every allocation costs
 * the measured process. */
#define MAP_LG_INIT 12
#define NO_TYPE_IX 65536u

/* 16 bytes: the block's size in 40 bits (a terabyte), its type index in
 * 17 (0..65535 and NO_TYPE_IX), its row in 4, counted in 1. */
struct slot {
    uintptr_t key; /* 0: empty (jemalloc never returns NULL for a block) */
    uint64_t usize : 40;
    uint64_t type_ix : 17;
    uint64_t row : 4;
    uint64_t counted : 1;
};

struct map {
    struct slot *slots;
    unsigned lg;
    size_t count;
};

struct type_counts {
    uint64_t allocs, bytes;
};

struct foreign_counts {
    _Atomic uint64_t allocs, bytes, frees, bytes_freed;
};

enum state { ST_IDLE, ST_PROBING, ST_RUNNING, ST_STOPPED };

struct ph_alloctrack {
    ph_memtag *tag;
    struct map map;
    ph_alloctrack_counts rows[PH_MEMROW__COUNT];
    ph_alloctrack_counts counted, uncounted;
    struct foreign_counts foreign;
    uint64_t in_place, stale, lost;
    int64_t rows_at_peak[PH_MEMROW__COUNT];
    void (*observer)(void *ctx);  /* after each counted allocation, in the hook */
    void *observer_ctx;
    bool in_hook;                 /* the owner is inside one of our hooks */
    struct type_counts *types; /* PH_ALLOCTRACK_TYPES */
    enum state state;
    pthread_t owner;
    void *handle;                /* jemalloc's, for removal */
    void *probe_alloc, *probe_free;
};

/* jemalloc's hooks are process-wide, so "started" is too. */
static _Atomic(ph_alloctrack *) started_tracker;

static void escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- map ---------------------------------------------------------------- */

static size_t map_cap(const struct map *m)
{
    return (size_t)1 << m->lg;
}

static size_t map_bytes_for(unsigned lg)
{
    return ((size_t)1 << lg) * sizeof(struct slot);
}

static struct slot *map_alloc(unsigned lg)
{
    void *p = mmap(NULL, map_bytes_for(lg), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t home(uintptr_t key, unsigned lg)
{
    /* Fibonacci hashing: block addresses share their low bits (alignment)
     * and their high bits (arena), the product's top bits mix all of them. */
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> (64 - lg));
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *map_probe(const struct map *m, uintptr_t key)
{
    size_t mask = map_cap(m) - 1;
    size_t i = home(key, m->lg);
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & mask;
    return &m->slots[i];
}

static int map_grow(struct map *m)
{
    unsigned lg = m->lg + 1;
    struct slot *fresh = map_alloc(lg);
    if (!fresh)
        return -1;
    struct map bigger = {fresh, lg, m->count};
    size_t cap = map_cap(m);
    for (size_t i = 0; i < cap; i++)
        if (m->slots[i].key)
            *map_probe(&bigger, m->slots[i].key) = m->slots[i];
    munmap(m->slots, map_bytes_for(m->lg));
    *m = bigger;
    return 0;
}

/* A slot for key: either the one already holding it or a fresh one (key
 * set, count raised). NULL when the map is full and cannot grow. */
static struct slot *map_claim(struct map *m, uintptr_t key, bool *existed)
{
    size_t cap = map_cap(m);
    if (m->count + 1 > cap / 2 && map_grow(m) && m->count + 1 > cap - cap / 8)
        return NULL;
    struct slot *s = map_probe(m, key);
    *existed = s->key != 0;
    if (!*existed) {
        s->key = key;
        m->count++;
    }
    return s;
}

static void map_remove(struct map *m, struct slot *s)
{
    size_t mask = map_cap(m) - 1;
    size_t hole = (size_t)(s - m->slots);
    size_t j = hole;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        /* Move slot j into the hole unless its home lies cyclically in
         * (hole, j]: then it is reachable without passing the hole. */
        size_t h = home(m->slots[j].key, m->lg);
        bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key = 0;
    m->count--;
}

/* ---- accounting --------------------------------------------------------- */

/* True when the allocation made a new peak. */
static bool count_alloc(ph_alloctrack_counts *c, uint64_t usize)
{
    c->allocs++;
    c->bytes += usize;
    c->live += (int64_t)usize;
    if (c->live <= c->peak)
        return false;
    c->peak = c->live;
    return true;
}

static void rows_at_peak_take(ph_alloctrack *t)
{
    for (unsigned r = 0; r < PH_MEMROW__COUNT; r++)
        t->rows_at_peak[r] = t->rows[r].live;
}

static void count_free(ph_alloctrack_counts *c, uint64_t usize)
{
    c->frees++;
    c->bytes_freed += usize;
    c->live -= (int64_t)usize;
}

static void charge_alloc(ph_alloctrack *t, bool counted, unsigned row, uint32_t type_ix,
                         uint64_t usize)
{
    if (!counted) {
        count_alloc(&t->uncounted, usize);
        return;
    }
    count_alloc(&t->rows[row], usize);
    if (count_alloc(&t->counted, usize))
        rows_at_peak_take(t);
    t->types[type_ix].allocs++;
    t->types[type_ix].bytes += usize;
}

static void charge_free(ph_alloctrack *t, const struct slot *s, uint64_t usize)
{
    if (!s->counted) {
        count_free(&t->uncounted, usize);
        return;
    }
    count_free(&t->rows[s->row], usize);
    count_free(&t->counted, usize);
}

static bool tag_counted(const ph_alloctrack *t)
{
    return !t->tag || !t->tag->uncounted;
}

static void charge_untracked(ph_alloctrack *t, uint64_t usize)
{
    ph_alloctrack_counts *c = tag_counted(t) ? &t->counted : &t->uncounted;
    c->untracked_frees++;
    c->untracked_bytes += usize;
    c->live -= (int64_t)usize;
}

static uint32_t type_index(uint32_t type)
{
    return type < NO_TYPE_IX ? type : NO_TYPE_IX;
}

static void track_alloc(ph_alloctrack *t, void *ptr, uint64_t usize)
{
    const ph_memtag *tag = t->tag;
    unsigned row = tag && tag->row < PH_MEMROW__COUNT ? tag->row : PH_MEMROW_OTHER;
    uint32_t type_ix = type_index(tag ? tag->type : PH_MEMTAG_NO_TYPE);
    bool counted = tag_counted(t);

    bool existed = false;
    struct slot *s = map_claim(&t->map, (uintptr_t)ptr, &existed);
    if (existed) {
        /* This address was freed where no hook of ours saw it. */
        t->stale++;
        charge_free(t, s, s->usize);
    }
    charge_alloc(t, counted, row, type_ix, usize);
    if (!s) {
        t->lost++;
        return;
    }
    s->usize = usize;
    s->type_ix = type_ix;
    s->row = row;
    s->counted = counted;
}

static bool is_owner(const ph_alloctrack *t)
{
    return pthread_equal(pthread_self(), t->owner);
}

/* ---- hooks -------------------------------------------------------------- */

/* The size class of a new block: from the size asked for when that alone
 * decides it (nallocx is arithmetic), else from jemalloc's map of the
 * block (sallocx: alignment, flags, zero-size requests). */
static size_t alloc_usize(enum je_hook_alloc type, void *result, const uintptr_t args_raw[3])
{
    size_t size = 0;
    switch (type) {
    case JE_HOOK_ALLOC_MALLOC:
        size = (size_t)args_raw[0];
        break;
    case JE_HOOK_ALLOC_CALLOC:
        size = (size_t)args_raw[0] * (size_t)args_raw[1]; /* jemalloc checked the product */
        break;
    case JE_HOOK_ALLOC_REALLOC:
        size = (size_t)args_raw[1];
        break;
    default:
        break;
    }
    return size ? nallocx(size, 0) : sallocx(result, 0);
}

static void on_alloc(void *extra, enum je_hook_alloc type, void *result, uintptr_t result_raw,
                     uintptr_t args_raw[3])
{
    ph_alloctrack *t = extra;
    bool ok = type == JE_HOOK_ALLOC_POSIX_MEMALIGN ? result_raw == 0 : result != NULL;
    if (!ok)
        return;
    if (!is_owner(t)) {
        atomic_fetch_add_explicit(&t->foreign.allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->foreign.bytes, sallocx(result, 0), memory_order_relaxed);
        return;
    }
    if (t->state == ST_PROBING) {
        t->probe_alloc = result;
        return;
    }
    track_alloc(t, result, alloc_usize(type, result, args_raw));
    if (t->observer && tag_counted(t)) {
        t->in_hook = true;
        t->observer(t->observer_ctx);
        t->in_hook = false;
    }
}

static void charge_dalloc(ph_alloctrack *t, void *address)
{
    struct slot *s = map_probe(&t->map, (uintptr_t)address);
    if (!s->key) {
        charge_untracked(t, sallocx(address, 0));
        return;
    }
    charge_free(t, s, s->usize);
    map_remove(&t->map, s);
}

static void on_dalloc(void *extra, enum je_hook_dalloc type, void *address,
                      uintptr_t args_raw[3])
{
    (void)type;
    (void)args_raw;
    ph_alloctrack *t = extra;
    if (!address)
        return;
    /* Called before the block is released, so sallocx still answers. */
    if (!is_owner(t)) {
        atomic_fetch_add_explicit(&t->foreign.frees, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->foreign.bytes_freed, sallocx(address, 0),
                                  memory_order_relaxed);
        return;
    }
    if (t->state == ST_PROBING) {
        t->probe_free = address;
        return;
    }
    charge_dalloc(t, address);
}

static void on_expand(void *extra, enum je_hook_expand type, void *address, size_t old_usize,
                      size_t new_usize, uintptr_t result_raw, uintptr_t args_raw[4])
{
    (void)result_raw;
    (void)args_raw;
    ph_alloctrack *t = extra;
    /* jemalloc counts nothing for an xallocx that did not resize. */
    if (type == JE_HOOK_EXPAND_XALLOCX && old_usize == new_usize)
        return;
    if (!is_owner(t)) {
        atomic_fetch_add_explicit(&t->foreign.allocs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->foreign.bytes, new_usize, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->foreign.frees, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->foreign.bytes_freed, old_usize, memory_order_relaxed);
        return;
    }
    if (t->state == ST_PROBING)
        return;
    t->in_place++;
    struct slot *s = map_probe(&t->map, (uintptr_t)address);
    if (!s->key) {
        charge_untracked(t, old_usize);
        track_alloc(t, address, new_usize);
        return;
    }
    /* Free before allocating: the block never holds both sizes, and the
     * peak must not see old + new. */
    charge_free(t, s, old_usize);
    charge_alloc(t, s->counted, s->row, s->type_ix, new_usize);
    s->usize = new_usize;
}

/* ---- API ---------------------------------------------------------------- */

ph_err ph_alloctrack_create(ph_alloctrack **out, ph_memtag *tag)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    ph_alloctrack *t = calloc(1, sizeof *t);
    if (!t)
        return PH_ERR_NOMEM;
    t->types = calloc(PH_ALLOCTRACK_TYPES, sizeof *t->types);
    t->map.lg = MAP_LG_INIT;
    t->map.slots = map_alloc(t->map.lg);
    if (!t->types || !t->map.slots) {
        if (t->map.slots)
            munmap(t->map.slots, map_bytes_for(t->map.lg));
        free(t->types);
        free(t);
        return PH_ERR_NOMEM;
    }
    t->tag = tag;
    atomic_init(&t->foreign.allocs, 0);
    atomic_init(&t->foreign.bytes, 0);
    atomic_init(&t->foreign.frees, 0);
    atomic_init(&t->foreign.bytes_freed, 0);
    t->state = ST_IDLE;
    *out = t;
    return PH_OK;
}

void ph_alloctrack_destroy(ph_alloctrack *t)
{
    if (!t)
        return;
    ph_alloctrack_stop(t);
    munmap(t->map.slots, map_bytes_for(t->map.lg));
    free(t->types);
    free(t);
}

static int hooks_remove(void *handle)
{
    return mallctl("experimental.hooks.remove", NULL, NULL, &handle, sizeof handle);
}

ph_err ph_alloctrack_start(ph_alloctrack *t)
{
    if (!t)
        return PH_ERR_ARG;
    if (t->state != ST_IDLE)
        return PH_ERR_STATE;
    ph_alloctrack *none = NULL;
    if (!atomic_compare_exchange_strong(&started_tracker, &none, t))
        return PH_ERR_STATE;

    t->owner = pthread_self();
    t->state = ST_PROBING;
    t->probe_alloc = t->probe_free = NULL;
    struct je_hooks hooks = {on_alloc, on_dalloc, on_expand, t};
    void *handle = NULL;
    size_t len = sizeof handle;
    if (mallctl("experimental.hooks.install", &handle, &len, &hooks, sizeof hooks) || !handle)
        goto unavailable;

    /* mallctl answers whenever jemalloc is linked, even when another
     * allocator (ASan's) serves malloc: make sure the hooks see a block. */
    void *probe = malloc(64);
    escape(probe);
    free(probe);
    if (!probe || t->probe_alloc != probe || t->probe_free != probe) {
        hooks_remove(handle);
        goto unavailable;
    }
    t->handle = handle;
    t->state = ST_RUNNING;
    return PH_OK;

unavailable:
    t->state = ST_IDLE;
    atomic_store(&started_tracker, NULL);
    return PH_ERR_MEMSTAT;
}

void ph_alloctrack_stop(ph_alloctrack *t)
{
    if (!t || t->state != ST_RUNNING)
        return;
    hooks_remove(t->handle);
    t->handle = NULL;
    t->state = ST_STOPPED;
    atomic_store(&started_tracker, NULL);
}

static void reset(ph_alloctrack_counts *c)
{
    c->peak = c->live;
}

void ph_alloctrack_reset_peak(ph_alloctrack *t)
{
    if (!t)
        return;
    for (unsigned r = 0; r < PH_MEMROW__COUNT; r++)
        reset(&t->rows[r]);
    reset(&t->counted);
    reset(&t->uncounted);
    rows_at_peak_take(t);
}

void ph_alloctrack_snapshot(const ph_alloctrack *t, ph_alloctrack_totals *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!t)
        return;
    memcpy(out->rows, t->rows, sizeof out->rows);
    out->counted = t->counted;
    out->uncounted = t->uncounted;
    ph_alloctrack_counts *f = &out->foreign;
    f->allocs = atomic_load_explicit(&t->foreign.allocs, memory_order_relaxed);
    f->bytes = atomic_load_explicit(&t->foreign.bytes, memory_order_relaxed);
    f->frees = atomic_load_explicit(&t->foreign.frees, memory_order_relaxed);
    f->bytes_freed = atomic_load_explicit(&t->foreign.bytes_freed, memory_order_relaxed);
    f->live = (int64_t)(f->bytes - f->bytes_freed);
    memcpy(out->rows_at_peak, t->rows_at_peak, sizeof out->rows_at_peak);
    out->in_place = t->in_place;
    out->stale = t->stale;
    out->lost = t->lost;
    out->blocks = t->map.count;
    out->map_bytes = map_bytes_for(t->map.lg);
}

static void counts_delta(const ph_alloctrack_counts *a, const ph_alloctrack_counts *b,
                         ph_alloctrack_counts *out)
{
    ph_alloctrack_counts d = {
        .allocs = a->allocs - b->allocs,
        .bytes = a->bytes - b->bytes,
        .frees = a->frees - b->frees,
        .bytes_freed = a->bytes_freed - b->bytes_freed,
        .untracked_frees = a->untracked_frees - b->untracked_frees,
        .untracked_bytes = a->untracked_bytes - b->untracked_bytes,
        .live = a->live - b->live,
        .peak = a->peak - b->live,
    };
    *out = d;
}

void ph_alloctrack_delta(const ph_alloctrack_totals *after, const ph_alloctrack_totals *before,
                         ph_alloctrack_totals *out)
{
    if (!after || !before || !out)
        return;
    ph_alloctrack_totals d;
    for (unsigned r = 0; r < PH_MEMROW__COUNT; r++)
        counts_delta(&after->rows[r], &before->rows[r], &d.rows[r]);
    counts_delta(&after->counted, &before->counted, &d.counted);
    counts_delta(&after->uncounted, &before->uncounted, &d.uncounted);
    counts_delta(&after->foreign, &before->foreign, &d.foreign);
    d.foreign.peak = 0;
    for (unsigned r = 0; r < PH_MEMROW__COUNT; r++)
        d.rows_at_peak[r] = after->rows_at_peak[r] - before->rows[r].live;
    d.in_place = after->in_place - before->in_place;
    d.stale = after->stale - before->stale;
    d.lost = after->lost - before->lost;
    d.blocks = after->blocks;
    d.map_bytes = after->map_bytes;
    *out = d;
}

bool ph_alloctrack_block(const ph_alloctrack *t, const void *ptr, ph_alloctrack_block_info *out)
{
    if (!t || !ptr || !out || t->state != ST_RUNNING || !is_owner(t))
        return false;
    const struct slot *s = map_probe(&t->map, (uintptr_t)ptr);
    if (!s->key)
        return false;
    out->usize = s->usize;
    out->row = s->row;
    out->type = s->type_ix == NO_TYPE_IX ? PH_MEMTAG_NO_TYPE : s->type_ix;
    out->counted = s->counted;
    return true;
}

void ph_alloctrack_set_observer(ph_alloctrack *t, void (*fn)(void *ctx), void *ctx)
{
    if (!t)
        return;
    t->observer = NULL;
    t->observer_ctx = ctx;
    t->observer = fn;
}

void ph_alloctrack_release(ph_alloctrack *t, void *ptr)
{
    if (!ptr)
        return;
    /* Inside our hook jemalloc calls no hook again: count the free here. */
    if (t && t->in_hook && t->state == ST_RUNNING && is_owner(t))
        charge_dalloc(t, ptr);
    dallocx(ptr, 0);
}

int64_t ph_alloctrack_live(const ph_alloctrack *t)
{
    return t ? t->counted.live : 0;
}

int64_t ph_alloctrack_peak(const ph_alloctrack *t)
{
    return t ? t->counted.peak : 0;
}

ph_err ph_alloctrack_type(const ph_alloctrack *t, uint32_t type, uint64_t *allocs,
                          uint64_t *bytes)
{
    if (!t || !allocs || !bytes)
        return PH_ERR_ARG;
    if (type >= NO_TYPE_IX && type != PH_MEMTAG_NO_TYPE)
        return PH_ERR_ARG;
    const struct type_counts *c = &t->types[type_index(type)];
    *allocs = c->allocs;
    *bytes = c->bytes;
    return PH_OK;
}

bool ph_alloctrack_next_type(const ph_alloctrack *t, uint32_t *cursor, uint32_t *type,
                             uint64_t *allocs, uint64_t *bytes)
{
    if (!t || !cursor || !type || !allocs || !bytes)
        return false;
    for (uint32_t i = *cursor; i < PH_ALLOCTRACK_TYPES; i++) {
        if (!t->types[i].allocs)
            continue;
        *cursor = i + 1;
        *type = i == NO_TYPE_IX ? PH_MEMTAG_NO_TYPE : i;
        *allocs = t->types[i].allocs;
        *bytes = t->types[i].bytes;
        return true;
    }
    *cursor = PH_ALLOCTRACK_TYPES;
    return false;
}
