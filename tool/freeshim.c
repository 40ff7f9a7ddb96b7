/* The executable's free(): every free() call of the executable's own code
 * - the library (linked in statically) and the tool - binds to this
 * definition at link time, ahead of jemalloc's. libc's internal frees still
 * go to jemalloc directly (the executable does not export free), and they
 * are not the node's work. With no filter installed it is jemalloc's free
 * plus one load and one branch; with the GC model's filter installed
 * (replay --gc-model), blocks the filter keeps stay allocated.
 *
 * Blocks go back to jemalloc through dallocx: calling free() here would
 * come back here (the GC model releases its garbage the same way,
 * ph_alloctrack_release). Sanitizer builds leave free() to the sanitizer, which
 * owns malloc there: no interposer, and --gc-model is refused. */
#include "freeshim.h"

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define PH_SHIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PH_SHIM_SANITIZED 1
#endif
#endif

#ifndef PH_SHIM_SANITIZED
#include <jemalloc/jemalloc.h>

/* Process-wide, like free() itself; set only from the measuring thread. */
static bool (*filter_fn)(void *ctx, void *ptr);
static void *filter_ctx;

void free(void *ptr)
{
    if (!ptr)
        return;
    if (filter_fn && filter_fn(filter_ctx, ptr))
        return;
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
