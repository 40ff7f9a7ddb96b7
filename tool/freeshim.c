/* The executable's free(): every free() call of the executable's own code
 * - the library (linked in statically) and the tool - binds to this
 * definition at link time, ahead of jemalloc's. libc's internal frees still
 * go to jemalloc directly (the executable does not export free), and they
 * are not the node's work. With no filter installed it is jemalloc's free
 * plus one load and one branch; with the GC model's filter installed
 * (replay --gc-model), blocks the filter keeps stay allocated.
 *
 * Blocks go back to the free() this one hides, found with dlsym(RTLD_NEXT):
 * jemalloc's, or whatever replaced it - under valgrind, memcheck owns
 * malloc and redirects jemalloc's free() to its own, so a block must never
 * reach jemalloc directly (dallocx on a block of memcheck's crashed `dump`
 * under tests/e2e/valgrind.sh). Until that lookup has been made (the first
 * free), and for a free() made by the lookup itself, blocks go to dallocx;
 * the GC model releases its garbage with dallocx too (ph_alloctrack_release:
 * the model runs only measured, under jemalloc). Sanitizer builds leave
 * free() to the sanitizer, which owns malloc there: no interposer, and
 * --gc-model is refused. */
#include "freeshim.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define PH_SHIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PH_SHIM_SANITIZED 1
#endif
#endif

#ifndef PH_SHIM_SANITIZED
#include <dlfcn.h>
#include <jemalloc/jemalloc.h>

/* Process-wide, like free() itself; set only from the measuring thread. */
static bool (*filter_fn)(void *ctx, void *ptr);
static void *filter_ctx;

typedef void free_fn(void *);
static _Atomic(free_fn *) next_free;
static _Thread_local bool looking_up;

/* The free() after this one in the lookup order, or NULL while it is not
 * known yet (a free() that dlsym itself makes lands here again). */
static free_fn *find_next_free(void)
{
    free_fn *fn = atomic_load_explicit(&next_free, memory_order_relaxed);
    if (fn || looking_up)
        return fn;
    looking_up = true;
    void *sym = dlsym(RTLD_NEXT, "free");
    looking_up = false;
    memcpy(&fn, &sym, sizeof fn); /* object pointer -> function pointer */
    if (fn == free)
        fn = NULL;
    atomic_store_explicit(&next_free, fn, memory_order_relaxed);
    return fn;
}

void free(void *ptr)
{
    if (!ptr)
        return;
    if (filter_fn && filter_fn(filter_ctx, ptr))
        return;
    free_fn *next = find_next_free();
    if (next)
        next(ptr);
    else
        dallocx(ptr, 0);
}

static void set_filter(bool (*fn)(void *ctx, void *ptr), void *ctx)
{
    filter_fn = NULL;
    filter_ctx = ctx;
    filter_fn = fn;
}

const ph_free_interposer *ph_tool_free_interposer(void)
{
    static const ph_free_interposer shim = {set_filter};
    return &shim;
}
#else
const ph_free_interposer *ph_tool_free_interposer(void)
{
    return NULL;
}
#endif
