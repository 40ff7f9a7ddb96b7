/* jemalloc heap profiles of a measured run (see heapprof.h). */
#include "heapprof.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jemalloc/jemalloc.h>

struct ph_heapprof {
    char peak_path[PATH_MAX];
    char end_path[PATH_MAX];
    char tmp_path[PATH_MAX];
    int64_t dumped;     /* live bytes at the last peak dump */
    bool active;
};

bool ph_heapprof_available(void)
{
    bool on = false;
    size_t len = sizeof on;
    return mallctl("opt.prof", &on, &len, NULL, 0) == 0 && on;
}

ph_err ph_heapprof_create(ph_heapprof **out, const char *dir, const char *name)
{
    if (!out || !dir || !name)
        return PH_ERR_ARG;
    *out = NULL;
    if (!ph_heapprof_available())
        return PH_ERR_PROF_UNAVAILABLE;
    ph_heapprof *p = calloc(1, sizeof *p);
    if (!p)
        return PH_ERR_NOMEM;
    int a = snprintf(p->peak_path, sizeof p->peak_path, "%s/%s.peak.heap", dir, name);
    int b = snprintf(p->end_path, sizeof p->end_path, "%s/%s.heap", dir, name);
    int c = snprintf(p->tmp_path, sizeof p->tmp_path, "%s/.%s.heap.tmp", dir, name);
    if (a < 0 || b < 0 || c < 0 || (size_t)c >= sizeof p->tmp_path ||
        (size_t)a >= sizeof p->peak_path) {
        free(p);
        return PH_ERR_ARG;
    }
    *out = p;
    return PH_OK;
}

void ph_heapprof_destroy(ph_heapprof *p)
{
    if (!p)
        return;
    if (p->active) {
        bool off = false;
        mallctl("prof.active", NULL, NULL, &off, sizeof off);
    }
    remove(p->tmp_path);
    free(p);
}

ph_err ph_heapprof_begin(ph_heapprof *p)
{
    if (!p)
        return PH_ERR_ARG;
    bool on = true;
    if (mallctl("prof.reset", NULL, NULL, NULL, 0) ||
        mallctl("prof.active", NULL, NULL, &on, sizeof on))
        return PH_ERR_PROF_UNAVAILABLE;
    p->active = true;
    p->dumped = 0;
    return PH_OK;
}

/* jemalloc writes the whole profile to the file it is given; the rename
 * makes the new file appear at once, never half written. */
static ph_err dump_to(ph_heapprof *p, const char *path)
{
    const char *tmp = p->tmp_path;
    if (mallctl("prof.dump", NULL, NULL, &tmp, sizeof tmp))
        return PH_ERR_IO;
    if (rename(tmp, path)) {
        int saved = errno;
        remove(tmp);
        errno = saved;
        return PH_ERR_IO;
    }
    return PH_OK;
}

ph_err ph_heapprof_observe(ph_heapprof *p, int64_t live)
{
    if (!p || !p->active || live <= 0 || live <= p->dumped + p->dumped / 20)
        return PH_OK;
    p->dumped = live;
    return dump_to(p, p->peak_path);
}

ph_err ph_heapprof_end(ph_heapprof *p)
{
    if (!p || !p->active)
        return PH_ERR_ARG;
    ph_err err = dump_to(p, p->end_path);
    bool off = false;
    mallctl("prof.active", NULL, NULL, &off, sizeof off);
    p->active = false;
    return err;
}

const char *ph_heapprof_path(const ph_heapprof *p, bool peak)
{
    return p ? (peak ? p->peak_path : p->end_path) : "";
}
