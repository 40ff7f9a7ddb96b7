/* Gate: comparability of a report with its baseline, and the judgement of
 * every gated figure. */
#include "gate.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct why {
    char *buf;
    size_t len, used;
    size_t count;
};

static void add_why(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_why(struct why *w, const char *fmt, ...)
{
    w->count++;
    if (!w->buf || !w->len || w->used + 1 >= w->len)
        return;
    if (w->count > 1)
        w->used += (size_t)snprintf(w->buf + w->used, w->len - w->used, "; ");
    if (w->used + 1 >= w->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->used, w->len - w->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->used += (size_t)n;
    if (w->used >= w->len)
        w->used = w->len - 1;
}

static void compare_inputs(const ph_report *base, const ph_report *now, struct why *w)
{
    const ph_report_input *a = &base->input, *b = &now->input;
    if (!a->n_files || !b->n_files) {
        add_why(w, "%s records no input digests, so its inputs cannot be checked",
                !a->n_files ? "the baseline" : "the report");
        return;
    }
    if (a->n_files != b->n_files) {
        add_why(w, "inputs: %zu files in the baseline, %zu now", a->n_files, b->n_files);
        return;
    }
    for (size_t i = 0; i < a->n_files; i++)
        if (strcmp(a->files[i].sha256, b->files[i].sha256) != 0)
            add_why(w, "input %zu: sha256 %.12s in the baseline (%s), %.12s now (%s)", i + 1,
                    a->files[i].sha256, a->files[i].path, b->files[i].sha256, b->files[i].path);
}

static void differ_u64(struct why *w, const char *key, uint64_t a, uint64_t b)
{
    if (a != b)
        add_why(w, "options.%s: %llu in the baseline, %llu now", key, (unsigned long long)a,
                (unsigned long long)b);
}

static void differ_double(struct why *w, const char *key, double a, double b)
{
    if (a != b)
        add_why(w, "options.%s: %g in the baseline, %g now", key, a, b);
}

static void differ_str(struct why *w, const char *key, const char *a, const char *b)
{
    a = a ? a : "";
    b = b ? b : "";
    if (strcmp(a, b) != 0)
        add_why(w, "options.%s: '%s' in the baseline, '%s' now", key, a, b);
}

static void compare_options(const ph_report *base, const ph_report *now, struct why *w)
{
    const ph_report_options *a = &base->options, *b = &now->options;
    differ_u64(w, "peers", a->peers, b->peers);
    differ_str(w, "sink", a->sink, b->sink);
    differ_str(w, "encode", a->encode, b->encode);
    differ_double(w, "linger_seconds", a->linger_seconds, b->linger_seconds);
    differ_str(w, "pace", a->pace, b->pace);
    differ_u64(w, "reader_rate", a->reader_rate, b->reader_rate);
    differ_u64(w, "stalled", a->stalled, b->stalled);
    differ_str(w, "from", a->from, b->from);
    differ_u64(w, "queue_soft", a->queue_soft, b->queue_soft);
    differ_u64(w, "queue_hard", a->queue_hard, b->queue_hard);
    differ_str(w, "types", a->types, b->types);
    differ_str(w, "filter", a->filter, b->filter);
    differ_u64(w, "pool_workers", a->pool_workers, b->pool_workers);
    differ_double(w, "pool_expiry_seconds", a->pool_expiry_seconds, b->pool_expiry_seconds);
    differ_u64(w, "model_buffer", a->model_buffer, b->model_buffer);
}

static bool has_strategy(const ph_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        if (strcmp(r->strategies[i].name, name) == 0)
            return true;
    return false;
}

static void list_strategies(const ph_report *r, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < r->n_strategies && used + 1 < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                                 r->strategies[i].name);
    if (!r->n_strategies)
        snprintf(buf, len, "none");
}

/* The same set of strategies; their order does not matter (each runs in a
 * fresh process). */
static void compare_strategies(const ph_report *base, const ph_report *now, struct why *w)
{
    bool same = base->n_strategies == now->n_strategies;
    for (size_t i = 0; same && i < base->n_strategies; i++)
        same = has_strategy(now, base->strategies[i].name);
    if (same)
        return;
    char a[256], b[256];
    list_strategies(base, a, sizeof a);
    list_strategies(now, b, sizeof b);
    add_why(w, "strategies: %s in the baseline, %s now", a, b);
}

size_t ph_gate_differences(const ph_report *baseline, const ph_report *now, char *why,
                           size_t why_len)
{
    struct why w = {.buf = why, .len = why_len};
    if (why && why_len)
        why[0] = 0;
    compare_inputs(baseline, now, &w);
    compare_options(baseline, now, &w);
    compare_strategies(baseline, now, &w);
    return w.count;
}

static ph_gate_result judge_line(const ph_cmp_line *l, double tol)
{
    if (l->kind != PH_CMP_GATED)
        return PH_GATE_UNGATED;
    /* Exact comparisons at 0%: the same integers give the same doubles. */
    if (l->b > l->a * (1 + tol))
        return PH_GATE_FAIL;
    if (l->b < l->a * (1 - tol))
        return PH_GATE_IMPROVED;
    return PH_GATE_PASS;
}

/* Which of two regressions is worse: the larger relative change (a figure
 * that was 0 counts as infinite), then the larger absolute one. */
static bool worse(const ph_cmp_line *x, const ph_cmp_line *y)
{
    double rx = fabs(ph_cmp_relative(x)), ry = fabs(ph_cmp_relative(y));
    if (rx != ry)
        return rx > ry;
    return fabs(ph_cmp_delta(x)) > fabs(ph_cmp_delta(y));
}

ph_err ph_gate_judge(const ph_report *baseline, const ph_report *now, double tolerance_pct,
                     ph_gate **out)
{
    *out = NULL;
    if (!isfinite(tolerance_pct) || tolerance_pct < 0)
        return PH_ERR_ARG;
    ph_gate *g = calloc(1, sizeof *g);
    if (!g)
        return PH_ERR_NOMEM;
    ph_err err = ph_compare_reports(baseline, now, &g->cmp);
    if (!err && !(g->result = calloc(g->cmp->n_lines ? g->cmp->n_lines : 1, sizeof *g->result)))
        err = PH_ERR_NOMEM;
    if (err) {
        ph_gate_destroy(g);
        return err;
    }
    g->tolerance_pct = tolerance_pct;
    g->worst = g->best = SIZE_MAX;
    double tol = tolerance_pct / 100;
    for (size_t i = 0; i < g->cmp->n_lines; i++) {
        const ph_cmp_line *l = &g->cmp->lines[i];
        ph_gate_result r = g->result[i] = judge_line(l, tol);
        g->gated += r != PH_GATE_UNGATED;
        if (r == PH_GATE_FAIL) {
            g->failed++;
            if (g->worst == SIZE_MAX || worse(l, &g->cmp->lines[g->worst]))
                g->worst = i;
        } else if (r == PH_GATE_IMPROVED) {
            g->improved++;
            if (g->best == SIZE_MAX || worse(l, &g->cmp->lines[g->best]))
                g->best = i;
        }
    }
    *out = g;
    return PH_OK;
}

void ph_gate_destroy(ph_gate *g)
{
    if (!g)
        return;
    ph_comparison_destroy(g->cmp);
    free(g->result);
    free(g);
}
