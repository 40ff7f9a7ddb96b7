/* Report comparison: figure lines per strategy, and their text forms. */
#include "compare.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A strategy-level figure: a u64 or double field, or a u64 field per write. */
struct summary_metric {
    const char *name;
    ph_cmp_kind kind;
    ph_cmp_unit unit;
    size_t offset;
    bool is_double;
    bool per_write;
};

#define SM(name, kind, unit, field) \
    {name, kind, unit, offsetof(ph_strategy_result, field), false, false}
#define SMD(name, kind, unit, field) \
    {name, kind, unit, offsetof(ph_strategy_result, field), true, false}
#define SMW(name, field) \
    {name, PH_CMP_GATED, PH_CMP_PER_WRITE, offsetof(ph_strategy_result, field), false, true}

/* Gated first: the figures the gate's verdict is about lead each strategy. */
static const struct summary_metric summary[] = {
    SMW("allocations_per_write", allocations),
    SMW("bytes_allocated_per_write", bytes_allocated),
    SM("peak_live_bytes", PH_CMP_GATED, PH_CMP_BYTES, peak_live_bytes),
    SM("end_live_bytes", PH_CMP_GATED, PH_CMP_BYTES, end_live_bytes),
    SM("held_bytes_per_peer", PH_CMP_GATED, PH_CMP_BYTES, held_bytes_per_peer),
    SM("wbuf_buffers_allocated", PH_CMP_GATED, PH_CMP_COUNT, wbuf_buffers_allocated),
    SM("wbuf_bytes_requested", PH_CMP_GATED, PH_CMP_BYTES, wbuf_bytes_requested),
    /* connections coming up are measured apart from the replay phase: an
     * allocation added to the handshake would show nowhere else */
    SM("setup_allocations", PH_CMP_GATED, PH_CMP_COUNT, setup_allocations),
    SM("setup_bytes_allocated", PH_CMP_GATED, PH_CMP_BYTES, setup_bytes_allocated),
    SM("writes", PH_CMP_INFO, PH_CMP_COUNT, writes),
    SM("allocations", PH_CMP_INFO, PH_CMP_COUNT, allocations),
    SM("bytes_allocated", PH_CMP_INFO, PH_CMP_BYTES, bytes_allocated),
    SM("peak_queued_bytes", PH_CMP_INFO, PH_CMP_BYTES, peak_queued_bytes),
    SM("peak_active_bytes", PH_CMP_DRIFT, PH_CMP_BYTES, peak_active_bytes),
    SM("peak_resident_bytes", PH_CMP_DRIFT, PH_CMP_BYTES, peak_resident_bytes),
    SMD("cpu_seconds", PH_CMP_DRIFT, PH_CMP_SECONDS, cpu_seconds),
    SMD("wall_seconds", PH_CMP_DRIFT, PH_CMP_SECONDS, wall_seconds),
    SMD("writes_per_second", PH_CMP_DRIFT, PH_CMP_RATE, writes_per_second),
};

/* The figure itself is read by report.h, which owns the layout; per-write
 * figures are divided here. */
static double summary_value(const ph_strategy_result *s, const struct summary_metric *m)
{
    double v = ph_strategy_result_figure(s, m->offset, m->is_double);
    if (!m->per_write)
        return v;
    return s->writes ? v / (double)s->writes : 0;
}

struct builder {
    ph_comparison *c;
    size_t cap;
    bool oom;
};

static ph_cmp_line *add_line(struct builder *b, const char *strategy, ph_cmp_group group,
                             ph_cmp_kind kind, ph_cmp_unit unit)
{
    ph_comparison *c = b->c;
    if (c->n_lines == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        ph_cmp_line *l = realloc(c->lines, cap * sizeof *l);
        if (!l) {
            b->oom = true;
            return NULL;
        }
        c->lines = l;
        b->cap = cap;
    }
    ph_cmp_line *l = &c->lines[c->n_lines++];
    memset(l, 0, sizeof *l);
    snprintf(l->strategy, sizeof l->strategy, "%s", strategy);
    l->group = group;
    l->kind = kind;
    l->unit = unit;
    l->in_a = l->in_b = true;
    return l;
}

static void add_summary(struct builder *b, const ph_strategy_result *a,
                        const ph_strategy_result *bb)
{
    for (size_t i = 0; i < sizeof summary / sizeof summary[0]; i++) {
        const struct summary_metric *m = &summary[i];
        ph_cmp_line *l = add_line(b, a->name, PH_CMP_SUMMARY, m->kind, m->unit);
        if (!l)
            return;
        snprintf(l->metric, sizeof l->metric, "%s", m->name);
        l->a = summary_value(a, m);
        l->b = summary_value(bb, m);
    }
}

static void add_rows(struct builder *b, const ph_strategy_result *a, const ph_strategy_result *bb)
{
    static const char *const keys[3] = {"allocations", "bytes_allocated", "end_live_bytes"};
    for (unsigned r = 0; r < PH_REPORT_ROWS; r++) {
        const ph_row_figures *ra = &a->rows[r], *rb = &bb->rows[r];
        const uint64_t va[3] = {ra->allocations, ra->bytes_allocated, ra->end_live_bytes};
        const uint64_t vb[3] = {rb->allocations, rb->bytes_allocated, rb->end_live_bytes};
        for (size_t k = 0; k < 3; k++) {
            ph_cmp_line *l = add_line(b, a->name, PH_CMP_ROW, PH_CMP_GATED,
                                      k ? PH_CMP_BYTES : PH_CMP_COUNT);
            if (!l)
                return;
            snprintf(l->metric, sizeof l->metric, "by_row.%s.%s", ph_report_row_name(r), keys[k]);
            l->a = (double)va[k];
            l->b = (double)vb[k];
        }
    }
}

static const ph_type_figures *find_type(const ph_strategy_result *s, const char *name)
{
    for (size_t i = 0; i < s->n_types; i++)
        if (strcmp(s->types[i].name, name) == 0)
            return &s->types[i];
    return NULL;
}

static void add_type(struct builder *b, const char *strategy, const char *name,
                     const ph_type_figures *ta, const ph_type_figures *tb)
{
    static const ph_type_figures none;
    const ph_type_figures *x = ta ? ta : &none, *y = tb ? tb : &none;
    const uint64_t va[3] = {x->allocations, x->writes, x->bytes_allocated};
    const uint64_t vb[3] = {y->allocations, y->writes, y->bytes_allocated};
    static const char *const keys[3] = {"allocations", "writes", "bytes_allocated"};
    for (size_t k = 0; k < 3; k++) {
        ph_cmp_line *l = add_line(b, strategy, PH_CMP_TYPE, k ? PH_CMP_INFO : PH_CMP_GATED,
                                  k == 2 ? PH_CMP_BYTES : PH_CMP_COUNT);
        if (!l)
            return;
        snprintf(l->metric, sizeof l->metric, "by_type.%s.%s", name, keys[k]);
        l->in_a = ta != NULL;
        l->in_b = tb != NULL;
        l->a = (double)va[k];
        l->b = (double)vb[k];
    }
}

/* A's types in A's order, then the types only B has. */
static void add_types(struct builder *b, const ph_strategy_result *a, const ph_strategy_result *bb)
{
    for (size_t i = 0; i < a->n_types; i++)
        add_type(b, a->name, a->types[i].name, &a->types[i], find_type(bb, a->types[i].name));
    for (size_t i = 0; i < bb->n_types; i++)
        if (!find_type(a, bb->types[i].name))
            add_type(b, a->name, bb->types[i].name, NULL, &bb->types[i]);
}

static const ph_strategy_result *find_strategy(const ph_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        if (strcmp(r->strategies[i].name, name) == 0)
            return &r->strategies[i];
    return NULL;
}

/* The strategies of `x` that `y` lacks. */
static bool list_missing(const ph_report *x, const ph_report *y, char (**out)[PH_REPORT_NAME_MAX],
                         size_t *n)
{
    *out = calloc(x->n_strategies ? x->n_strategies : 1, sizeof **out);
    if (!*out)
        return false;
    for (size_t i = 0; i < x->n_strategies; i++)
        if (!find_strategy(y, x->strategies[i].name))
            snprintf((*out)[(*n)++], PH_REPORT_NAME_MAX, "%s", x->strategies[i].name);
    return true;
}

ph_err ph_compare_reports(const ph_report *a, const ph_report *b, ph_comparison **out)
{
    *out = NULL;
    ph_comparison *c = calloc(1, sizeof *c);
    if (!c)
        return PH_ERR_NOMEM;
    struct builder bl = {.c = c};
    for (size_t i = 0; i < a->n_strategies && !bl.oom; i++) {
        const ph_strategy_result *sa = &a->strategies[i];
        const ph_strategy_result *sb = find_strategy(b, sa->name);
        if (!sb)
            continue;
        add_summary(&bl, sa, sb);
        add_rows(&bl, sa, sb);
        add_types(&bl, sa, sb);
    }
    if (bl.oom || !list_missing(a, b, &c->only_a, &c->n_only_a) ||
        !list_missing(b, a, &c->only_b, &c->n_only_b)) {
        ph_comparison_destroy(c);
        return PH_ERR_NOMEM;
    }
    *out = c;
    return PH_OK;
}

void ph_comparison_destroy(ph_comparison *c)
{
    if (!c)
        return;
    free(c->lines);
    free(c->only_a);
    free(c->only_b);
    free(c);
}

double ph_cmp_delta(const ph_cmp_line *l)
{
    return l->b - l->a;
}

double ph_cmp_relative(const ph_cmp_line *l)
{
    if (l->a == 0)
        return l->b == 0 ? 0 : l->b > 0 ? INFINITY : -INFINITY;
    return (l->b - l->a) / fabs(l->a);
}

void ph_cmp_format(const ph_cmp_line *l, double v, char *buf, size_t len)
{
    switch (l->unit) {
    case PH_CMP_PER_WRITE:
        snprintf(buf, len, "%.6f", v);
        break;
    case PH_CMP_SECONDS:
        snprintf(buf, len, "%.3f", v);
        break;
    default:
        snprintf(buf, len, "%.0f", v);
        break;
    }
}

void ph_cmp_format_delta(const ph_cmp_line *l, char *buf, size_t len)
{
    double d = ph_cmp_delta(l);
    if (d == 0) {
        snprintf(buf, len, "0");
        return;
    }
    char abs_text[48];
    ph_cmp_format(l, d, abs_text, sizeof abs_text);
    /* "%+" on the formatted text: -0.000 must not read as a change of sign */
    const char *sign = d > 0 ? "+" : "";
    double rel = ph_cmp_relative(l);
    if (isinf(rel))
        snprintf(buf, len, "%s%s (new)", sign, abs_text);
    else
        snprintf(buf, len, "%s%s (%+.3g%%)", sign, abs_text, 100 * rel);
}
