/* peerheap replay: the heap-growth options (see replay_view.h). */
#include "replay_view.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "freeshim.h"
#include "gcmodel.h"
#include "heapprof.h"

/* jemalloc's profiler, sampling about every 16 KiB allocated (a 65,535-byte
 * write buffer is sampled with probability 1 - e^-4 = 98%, and jeprof
 * scales each sample back), off until the node exists, with cumulative
 * counts for `jeprof --alloc_space`. A MALLOC_CONF already set comes after
 * ours and wins (lg_prof_sample:19 samples less, for long runs). */
#define PROF_CONF "prof:true,prof_active:false,prof_accum:true,lg_prof_sample:14"
#define PROF_EXEC_ENV "PEERHEAP_PROF_EXEC"

/* "1,10,100" -> counts; each 1..1,000,000, at most PH_VIEW_MAX_COUNTS. */
static bool parse_counts(const char *s, struct ph_replay_view *v)
{
    v->ncounts = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        char num[24];
        uint64_t n;
        if (!len || len >= sizeof num || v->ncounts == PH_VIEW_MAX_COUNTS)
            return false;
        memcpy(num, s, len);
        num[len] = 0;
        if (!ph_cli_parse_u64(num, &n) || n == 0 || n > 1000000)
            return false;
        v->counts[v->ncounts++] = n;
        s += len;
        if (*s == ',' && !*++s)
            return false;
    }
    return v->ncounts > 0;
}

static bool parse_small(const char *s, size_t max, size_t *out)
{
    uint64_t n;
    if (!ph_cli_parse_u64(s, &n) || n == 0 || n > max)
        return false;
    *out = (size_t)n;
    return true;
}

int ph_replay_view_option(const char *name, const char *val, struct ph_replay_view *v,
                          ph_replay_config *cfg)
{
    if (strcmp(name, "--peers") == 0) {
        if (parse_counts(val, v)) {
            cfg->peers = (size_t)v->counts[v->ncounts - 1];
            return 0;
        }
        ph_cli_error("replay: --peers is a count or a list of counts (1 to 1000000, e.g. "
                     "1,10,100,1000), not '%s'", val);
        return PH_EXIT_USAGE;
    }
    if (strcmp(name, "--gc-model") == 0) {
        int gogc;
        if (!ph_gcmodel_parse(val, &gogc)) {
            ph_cli_error("replay: --gc-model is go, go:GOGC (0 to %d) or go:off, not '%s'",
                         PH_GC_GOGC_MAX, val);
            return PH_EXIT_USAGE;
        }
        cfg->gc_model = true;
        cfg->gc_gogc = gogc;
        cfg->free_interposer = ph_tool_free_interposer();
        if (gogc == PH_GC_OFF)
            snprintf(v->gc_model, sizeof v->gc_model, "go:off");
        else
            snprintf(v->gc_model, sizeof v->gc_model, "go:%d", gogc);
        return 0;
    }
    if (strcmp(name, "--timeline-peers") == 0 || strcmp(name, "--top") == 0) {
        size_t n;
        if (!parse_small(val, 1000, &n)) {
            ph_cli_error("replay: %s is a number from 1 to 1000, not '%s'", name, val);
            return PH_EXIT_USAGE;
        }
        if (strcmp(name, "--top") == 0)
            v->top = n;
        else
            cfg->timeline_peers = n;
        return 0;
    }
    if (strcmp(name, "--prof") == 0) {
        v->prof = val;
        cfg->prof_dir = val;
        return 0;
    }
    if (strcmp(name, "--html") == 0) {
        v->html = val;
        return 0;
    }
    return -1;
}

bool ph_replay_view_sweep(const struct ph_replay_view *v)
{
    return v->ncounts > 1;
}

/* The directory exists (made if missing) and is writable. */
static int prof_dir(const char *dir)
{
    if (mkdir(dir, 0777) && errno != EEXIST) {
        ph_cli_error("replay: --prof %s: cannot create the directory: %s", dir, strerror(errno));
        return PH_EXIT_USAGE;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode) || access(dir, W_OK)) {
        ph_cli_error("replay: --prof %s: not a writable directory", dir);
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

/* jemalloc reads MALLOC_CONF once, at start-up: run this very command again
 * in a process started with the profiler on. Returns only on failure. */
static int prof_reexec(int argc, char **argv)
{
    if (getenv(PROF_EXEC_ENV)) {
        ph_cli_error("replay: --prof: jemalloc's heap profiler is still off after restarting "
                     "with MALLOC_CONF=%s (is jemalloc built with --enable-prof?)", PROF_CONF);
        return PH_EXIT_USAGE;
    }
    const char *old = getenv("MALLOC_CONF");
    size_t len = strlen(PROF_CONF) + (old ? strlen(old) + 1 : 0) + 1;
    char *conf = malloc(len);
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!conf || !args) {
        free(conf);
        free(args);
        ph_cli_error("replay: out of memory");
        return PH_EXIT_USAGE;
    }
    snprintf(conf, len, "%s%s%s", PROF_CONF, old ? "," : "", old ? old : "");
    args[0] = (char *)"peerheap";
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    if (setenv("MALLOC_CONF", conf, 1) || setenv(PROF_EXEC_ENV, "1", 1)) {
        ph_cli_error("replay: --prof: cannot set MALLOC_CONF: %s", strerror(errno));
    } else {
        fflush(NULL);
        execv("/proc/self/exe", args);
        ph_cli_error("replay: --prof: cannot restart peerheap with the profiler on: %s",
                     strerror(errno));
    }
    free(conf);
    free(args);
    return PH_EXIT_USAGE;
}

int ph_replay_view_prepare(struct ph_replay_view *v, ph_replay_config *cfg, int argc,
                           char **argv)
{
    if (cfg->gc_model && !cfg->free_interposer) {
        ph_cli_error("replay: --gc-model needs peerheap's own free(), which sanitizer builds "
                     "do not have");
        return PH_EXIT_USAGE;
    }
    if (!v->prof)
        return PH_EXIT_OK;
    int rc = prof_dir(v->prof);
    if (rc)
        return rc;
    if (ph_heapprof_available())
        return PH_EXIT_OK;
    return prof_reexec(argc, argv);
}

void ph_replay_view_header(const struct ph_replay_view *v, ph_report *r)
{
    snprintf(r->options.gc_model, sizeof r->options.gc_model, "%s", v->gc_model);
}

static void print_prof(const struct ph_replay_view *v, const ph_report *r, FILE *f)
{
    if (!v->prof || !r->n_strategies)
        return;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    fprintf(f, "\nheap profiles from the node's creation: %s/STRATEGY.heap (at the end), "
               "%s/STRATEGY.peak.heap (at the peak)\n", v->prof, v->prof);
    fprintf(f, "  jeprof --text %s %s/%s.heap   (--alloc_space: bytes allocated)\n",
            n > 0 ? exe : "peerheap", v->prof, r->strategies[0].name);
}

ph_err ph_replay_view_print(const struct ph_replay_view *v, const ph_report *r, FILE *f)
{
    ph_err err = ph_report_print_gc(r, f);
    if (!err)
        err = ph_report_print_sweep(r, f);
    if (!err)
        err = ph_report_print_top(r, v->top, f);
    if (!err)
        print_prof(v, r, f);
    return err;
}
