/* Replay reports: storage, table, JSON (write and read back), CSV and SVG. */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "json.h"
#include "svgplot.h"

ph_err ph_report_create(ph_report **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return PH_ERR_NOMEM;
    snprintf((*out)->version, sizeof (*out)->version, "%s", PH_VERSION);
    snprintf((*out)->options.sink, sizeof (*out)->options.sink, "model");
    snprintf((*out)->options.pace, sizeof (*out)->options.pace, "asap");
    return PH_OK;
}

void ph_strategy_result_clear(ph_strategy_result *s)
{
    free(s->types);
    free(s->samples);
    free(s->gc_events);
    for (size_t i = 0; i < s->n_peer_series; i++)
        free(s->peer_series[i].points);
    free(s->peer_series);
    free(s->peers_end);
    memset(s, 0, sizeof *s);
}

void ph_report_destroy(ph_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->input.n_captures; i++)
        free(r->input.captures[i]);
    free(r->input.captures);
    free(r->input.sides);
    free(r->input.files);
    free(r->options.types);
    free(r->options.filter);
    ph_report_clear_strategies(r);
    free(r->sweep);
    free(r);
}

void ph_report_clear_strategies(ph_report *r)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        ph_strategy_result_clear(&r->strategies[i]);
    free(r->strategies);
    r->strategies = NULL;
    r->n_strategies = 0;
}

ph_err ph_report_add_capture(ph_report *r, const char *path)
{
    char **c = realloc(r->input.captures, (r->input.n_captures + 1) * sizeof *c);
    if (!c)
        return PH_ERR_NOMEM;
    r->input.captures = c;
    if (!(c[r->input.n_captures] = strdup(path)))
        return PH_ERR_NOMEM;
    r->input.n_captures++;
    return PH_OK;
}

ph_err ph_report_add_side(ph_report *r, const ph_report_side *side)
{
    ph_report_side *s = realloc(r->input.sides, (r->input.n_sides + 1) * sizeof *s);
    if (!s)
        return PH_ERR_NOMEM;
    r->input.sides = s;
    s[r->input.n_sides++] = *side;
    return PH_OK;
}

ph_err ph_report_set_types(ph_report *r, const char *types)
{
    char *copy = NULL;
    if (types && !(copy = strdup(types)))
        return PH_ERR_NOMEM;
    free(r->options.types);
    r->options.types = copy;
    return PH_OK;
}

ph_err ph_report_set_filter(ph_report *r, const char *filter)
{
    char *copy = NULL;
    if (filter && !(copy = strdup(filter)))
        return PH_ERR_NOMEM;
    free(r->options.filter);
    r->options.filter = copy;
    return PH_OK;
}

ph_err ph_report_add_file(ph_report *r, const char *path, const char *sha256_hex)
{
    ph_report_file *f = realloc(r->input.files, (r->input.n_files + 1) * sizeof *f);
    if (!f)
        return PH_ERR_NOMEM;
    r->input.files = f;
    ph_report_file *d = &f[r->input.n_files++];
    ph_json_copy_text(d->path, sizeof d->path, path);
    snprintf(d->sha256, sizeof d->sha256, "%s", sha256_hex);
    return PH_OK;
}

static void *dup_array(const void *src, size_t n, size_t size)
{
    if (!n)
        return NULL;
    void *d = malloc(n * size);
    if (d)
        memcpy(d, src, n * size);
    return d;
}

ph_err ph_strategy_result_copy(ph_strategy_result *d, const ph_strategy_result *s)
{
    *d = *s;
    d->peer_series = NULL;
    d->n_peer_series = 0;
    d->types = dup_array(s->types, s->n_types, sizeof *s->types);
    d->samples = dup_array(s->samples, s->n_samples, sizeof *s->samples);
    d->gc_events = dup_array(s->gc_events, s->n_gc_events, sizeof *s->gc_events);
    d->peers_end = dup_array(s->peers_end, s->n_peers_end, sizeof *s->peers_end);
    bool ok = (!s->n_types || d->types) && (!s->n_samples || d->samples) &&
              (!s->n_gc_events || d->gc_events) && (!s->n_peers_end || d->peers_end);
    if (ok && s->n_peer_series) {
        d->peer_series = calloc(s->n_peer_series, sizeof *d->peer_series);
        ok = d->peer_series != NULL;
        for (size_t i = 0; ok && i < s->n_peer_series; i++) {
            d->peer_series[i].peer = s->peer_series[i].peer;
            d->peer_series[i].points =
                dup_array(s->peer_series[i].points, s->n_samples, sizeof(ph_peer_point));
            d->n_peer_series++;
            ok = !s->n_samples || d->peer_series[i].points;
        }
    }
    if (!ok) {
        ph_strategy_result_clear(d);
        return PH_ERR_NOMEM;
    }
    return PH_OK;
}

ph_err ph_report_add_strategy(ph_report *r, const ph_strategy_result *s)
{
    ph_strategy_result *a = realloc(r->strategies, (r->n_strategies + 1) * sizeof *a);
    if (!a)
        return PH_ERR_NOMEM;
    r->strategies = a;
    ph_err err = ph_strategy_result_copy(&a[r->n_strategies], s);
    if (!err)
        r->n_strategies++;
    return err;
}

ph_err ph_report_add_sweep(ph_report *r, uint64_t peers, const ph_strategy_result *s)
{
    ph_sweep_point *a = realloc(r->sweep, (r->n_sweep + 1) * sizeof *a);
    if (!a)
        return PH_ERR_NOMEM;
    r->sweep = a;
    ph_sweep_point *p = &a[r->n_sweep++];
    memset(p, 0, sizeof *p);
    p->peers = peers;
    snprintf(p->name, sizeof p->name, "%s", s->name);
    p->peak_live_bytes = s->peak_live_bytes;
    p->end_live_bytes = s->end_live_bytes;
    p->held_bytes_per_peer = s->held_bytes_per_peer;
    p->wbuf_at_peak_bytes = s->wbuf_at_peak_bytes;
    p->writes = s->writes;
    p->writes_per_second = s->writes_per_second;
    p->gc_collections = s->gc_collections;
    return PH_OK;
}

ph_err ph_strategy_result_add_type(ph_strategy_result *s, const char *name, uint64_t writes,
                                   uint64_t allocations, uint64_t bytes_allocated)
{
    ph_type_figures *t = NULL;
    for (size_t i = 0; i < s->n_types; i++)
        if (strcmp(s->types[i].name, name) == 0)
            t = &s->types[i];
    if (!t) {
        ph_type_figures *a = realloc(s->types, (s->n_types + 1) * sizeof *a);
        if (!a)
            return PH_ERR_NOMEM;
        s->types = a;
        t = &a[s->n_types++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%s", name);
    }
    t->writes += writes;
    t->allocations += allocations;
    t->bytes_allocated += bytes_allocated;
    return PH_OK;
}

ph_err ph_strategy_result_add_gc_event(ph_strategy_result *s, const ph_gc_event *e)
{
    size_t n = s->n_gc_events;
    if (n == 0 || (n & (n - 1)) == 0) {
        ph_gc_event *a = realloc(s->gc_events, (n ? 2 * n : 16) * sizeof *a);
        if (!a)
            return PH_ERR_NOMEM;
        s->gc_events = a;
    }
    s->gc_events[s->n_gc_events++] = *e;
    return PH_OK;
}

ph_err ph_strategy_result_add_peer_series(ph_strategy_result *s, uint64_t peer,
                                          ph_peer_series **out)
{
    ph_peer_series *a = realloc(s->peer_series, (s->n_peer_series + 1) * sizeof *a);
    if (!a)
        return PH_ERR_NOMEM;
    s->peer_series = a;
    ph_peer_point *pts = calloc(s->n_samples ? s->n_samples : 1, sizeof *pts);
    if (!pts)
        return PH_ERR_NOMEM;
    ph_peer_series *ps = &a[s->n_peer_series++];
    ps->peer = peer;
    ps->points = pts;
    if (out)
        *out = ps;
    return PH_OK;
}

ph_err ph_strategy_result_set_peers_end(ph_strategy_result *s, const ph_peer_end *p, size_t n)
{
    ph_peer_end *a = dup_array(p, n, sizeof *p);
    if (n && !a)
        return PH_ERR_NOMEM;
    free(s->peers_end);
    s->peers_end = a;
    s->n_peers_end = n;
    return PH_OK;
}

ph_err ph_strategy_result_add_sample(ph_strategy_result *s, const ph_sample *sample)
{
    /* Grow by doubling: n_samples is a power of two exactly when full. */
    size_t n = s->n_samples;
    if (n == 0 || (n & (n - 1)) == 0) {
        ph_sample *a = realloc(s->samples, (n ? 2 * n : 64) * sizeof *a);
        if (!a)
            return PH_ERR_NOMEM;
        s->samples = a;
    }
    s->samples[s->n_samples++] = *sample;
    return PH_OK;
}

void ph_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", bytes);
        return;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* ---- table ---- */

enum row_kind { ROW_COUNT, ROW_BYTES, ROW_SECONDS, ROW_RATE };

struct row {
    const char *label;
    enum row_kind kind;
    size_t offset;     /* into ph_strategy_result */
    bool is_double;
    bool ratio;        /* show the ratio to the reference column */
};

#define U64ROW(label, kind, field, ratio) {label, kind, offsetof(ph_strategy_result, field), false, ratio}
#define DBLROW(label, kind, field, ratio) {label, kind, offsetof(ph_strategy_result, field), true, ratio}

static const struct row rows[] = {
    U64ROW("writes", ROW_COUNT, writes, false),
    U64ROW("allocations", ROW_COUNT, allocations, true),
    U64ROW("bytes allocated", ROW_BYTES, bytes_allocated, true),
    U64ROW("bytes freed", ROW_BYTES, bytes_freed, true),
    U64ROW("peak live", ROW_BYTES, peak_live_bytes, true),
    U64ROW("end live", ROW_BYTES, end_live_bytes, true),
    U64ROW("held per peer", ROW_BYTES, held_bytes_per_peer, true),
    U64ROW("wbuf allocations", ROW_COUNT, rows[1].allocations, true),
    U64ROW("wbuf bytes", ROW_BYTES, rows[1].bytes_allocated, true),
    U64ROW("queue allocations", ROW_COUNT, rows[2].allocations, false),
    U64ROW("decode allocations", ROW_COUNT, rows[3].allocations, false),
    U64ROW("conn allocations", ROW_COUNT, rows[4].allocations, false),
    U64ROW("other allocations", ROW_COUNT, rows[0].allocations, false),
    U64ROW("peak active", ROW_BYTES, peak_active_bytes, false),
    U64ROW("peak resident", ROW_BYTES, peak_resident_bytes, false),
    U64ROW("peak queued", ROW_BYTES, peak_queued_bytes, false),
    U64ROW("dropped (soft cap)", ROW_COUNT, dropped, false),
    U64ROW("partial writes", ROW_COUNT, partial_writes, false),
    U64ROW("EAGAIN", ROW_COUNT, would_block, false),
    U64ROW("setup allocations", ROW_COUNT, setup_allocations, false),
    U64ROW("setup bytes", ROW_BYTES, setup_bytes_allocated, false),
    U64ROW("wbuf buffers", ROW_COUNT, wbuf_buffers_allocated, true),
    DBLROW("cpu seconds", ROW_SECONDS, cpu_seconds, true),
    DBLROW("wall seconds", ROW_SECONDS, wall_seconds, false),
    DBLROW("writes/s", ROW_RATE, writes_per_second, true),
    DBLROW("MiB/s", ROW_RATE, mib_per_second, false),
};

double ph_strategy_result_figure(const ph_strategy_result *s, size_t offset, bool is_double)
{
    const char *base = (const char *)s + offset;
    if (is_double) {
        double d;
        memcpy(&d, base, sizeof d);
        return d;
    }
    uint64_t u;
    memcpy(&u, base, sizeof u);
    return (double)u;
}

static double field_value(const ph_strategy_result *s, const struct row *row)
{
    return ph_strategy_result_figure(s, row->offset, row->is_double);
}

static void format_cell(const ph_strategy_result *s, const struct row *row, char *buf, size_t len)
{
    double v = field_value(s, row);
    switch (row->kind) {
    case ROW_COUNT:
        snprintf(buf, len, "%.0f", v);
        break;
    case ROW_BYTES:
        ph_format_bytes((uint64_t)v, buf, len);
        break;
    case ROW_SECONDS:
        snprintf(buf, len, "%.3f", v);
        break;
    case ROW_RATE:
        snprintf(buf, len, v >= 100 ? "%.0f" : "%.1f", v);
        break;
    }
}

static void format_ratio(double v, double ref, char *buf, size_t len)
{
    if (ref == 0) {
        snprintf(buf, len, v == 0 ? "x1" : "-");
        return;
    }
    double x = v / ref;
    if (x == 0)
        snprintf(buf, len, "x0");
    else if (x < 0.001)
        snprintf(buf, len, "x%.1e", x);
    else if (x < 10)
        snprintf(buf, len, "x%.2g", x);
    else
        snprintf(buf, len, "x%.0f", x);
}

static size_t reference_column(const ph_report *r)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        if (strcmp(r->strategies[i].name, "fresh") == 0)
            return i;
    return 0;
}

#define COL_W 20

const char *ph_report_table_row(size_t k)
{
    return k < sizeof rows / sizeof rows[0] ? rows[k].label : NULL;
}

void ph_report_table_cell(const ph_report *r, size_t k, size_t i, char *cell, size_t len,
                          char *ratio, size_t rlen)
{
    cell[0] = ratio[0] = 0;
    if (k >= sizeof rows / sizeof rows[0] || i >= r->n_strategies)
        return;
    format_cell(&r->strategies[i], &rows[k], cell, len);
    size_t ref = reference_column(r);
    if (rows[k].ratio && i != ref && r->n_strategies > 1)
        format_ratio(field_value(&r->strategies[i], &rows[k]),
                     field_value(&r->strategies[ref], &rows[k]), ratio, rlen);
}

ph_err ph_report_print_table(const ph_report *r, FILE *f)
{
    char b[64];
    fprintf(f, "capture:");
    for (size_t i = 0; i < r->input.n_captures; i++)
        fprintf(f, " %s", r->input.captures[i]);
    ph_format_bytes(r->input.message_bytes, b, sizeof b);
    fprintf(f, " (%" PRIu64 " session%s, %" PRIu64 " messages, %s)\n", r->input.sessions,
            r->input.sessions == 1 ? "" : "s", r->input.messages, b);
    fprintf(f, "peers: %" PRIu64 "  transport: %s  pace: %s  encode: %s", r->options.peers,
            r->options.sink, r->options.pace, r->options.encode[0] ? r->options.encode : "stored");
    if (r->options.reader_rate)
        fprintf(f, "  reader-rate: %" PRIu64 " B/s", r->options.reader_rate);
    if (r->options.stalled)
        fprintf(f, "  stalled: %" PRIu64, r->options.stalled);
    if (r->options.from[0])
        fprintf(f, "  from: %s", r->options.from);
    if (r->options.types)
        fprintf(f, "  types: %s", r->options.types);
    fprintf(f, "\n\n");
    if (!r->n_strategies)
        return ferror(f) ? PH_ERR_IO : PH_OK;

    size_t ref = reference_column(r);
    fprintf(f, "%-20s", "");
    for (size_t i = 0; i < r->n_strategies; i++)
        fprintf(f, " %*s", COL_W - 1, r->strategies[i].name);
    fprintf(f, "\n");
    bool any_verify = false;
    for (size_t i = 0; i < r->n_strategies; i++)
        any_verify |= r->strategies[i].verify;
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        fprintf(f, "%-20s", rows[k].label);
        double refv = field_value(&r->strategies[ref], &rows[k]);
        for (size_t i = 0; i < r->n_strategies; i++) {
            char cell[48], ratio[24], both[80];
            format_cell(&r->strategies[i], &rows[k], cell, sizeof cell);
            if (rows[k].ratio && i != ref && r->n_strategies > 1) {
                format_ratio(field_value(&r->strategies[i], &rows[k]), refv, ratio, sizeof ratio);
                snprintf(both, sizeof both, "%s (%s)", cell, ratio);
            } else {
                snprintf(both, sizeof both, "%s", cell);
            }
            fprintf(f, " %*s", COL_W - 1, both);
        }
        fprintf(f, "\n");
    }
    if (any_verify) {
        fprintf(f, "%-20s", "verified/mismatches");
        for (size_t i = 0; i < r->n_strategies; i++) {
            char cell[48];
            snprintf(cell, sizeof cell, "%" PRIu64 "/%" PRIu64, r->strategies[i].verified,
                     r->strategies[i].mismatches);
            fprintf(f, " %*s", COL_W - 1, cell);
        }
        fprintf(f, "\n");
    }
    char verdict[512];
    ph_report_verdict(r, verdict, sizeof verdict);
    fprintf(f, "\n(ratios are to %s)\n", r->strategies[ref].name);
    uint64_t together = 0;
    for (size_t i = 0; i < r->n_strategies; i++)
        if (r->strategies[i].concurrent > together)
            together = r->strategies[i].concurrent;
    if (together > 1)
        fprintf(f, "(cpu and wall seconds: measured with up to %" PRIu64
                " strategies running at once)\n", together);
    fprintf(f, "%s\n", verdict);
    return ferror(f) ? PH_ERR_IO : PH_OK;
}

static const ph_strategy_result *find_strategy(const ph_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        if (strcmp(r->strategies[i].name, name) == 0)
            return &r->strategies[i];
    return NULL;
}

/* The verdict names the two facts the lnd history is about: what an idle
 * peer holds (per-peer buffers), and how much write-buffer churn per-message
 * buffers make. */
void ph_report_verdict(const ph_report *r, char *buf, size_t len)
{
    buf[0] = 0;
    if (!r->n_strategies)
        return;
    size_t used = 0;
    const ph_strategy_result *most_held = &r->strategies[0];
    const ph_strategy_result *least_bytes = &r->strategies[0];
    for (size_t i = 1; i < r->n_strategies; i++) {
        if (r->strategies[i].held_bytes_per_peer > most_held->held_bytes_per_peer)
            most_held = &r->strategies[i];
        if (r->strategies[i].wbuf_bytes_requested < least_bytes->wbuf_bytes_requested)
            least_bytes = &r->strategies[i];
    }
    char per[32], total[32];
    if (most_held->held_bytes_per_peer) {
        ph_format_bytes(most_held->held_bytes_per_peer, per, sizeof per);
        ph_format_bytes(most_held->held_bytes_per_peer * r->options.peers, total, sizeof total);
        used += (size_t)snprintf(buf + used, len - used, "%s holds %s x %" PRIu64 " peers = %s %s",
                                 most_held->name, per, r->options.peers, total,
                                 r->options.gc_model[0] ? "at the end, garbage included" : "idle");
    } else {
        used += (size_t)snprintf(buf + used, len - used, "no strategy holds buffers when idle");
    }
    const ph_strategy_result *fresh = find_strategy(r, "fresh");
    /* Write buffers only (decoding and queues cost every strategy the same),
     * over the whole session: reuse's buffers are made at set-up. */
    if (fresh && fresh != least_bytes && fresh->wbuf_bytes_requested && used < len) {
        double pct = 100.0 * (double)least_bytes->wbuf_bytes_requested /
                     (double)fresh->wbuf_bytes_requested;
        snprintf(buf + used, len - used, "; %s allocates %.3g%% of fresh's write-buffer bytes",
                 least_bytes->name, pct);
    }
}

/* ---- JSON ---- */

/* Field tables shared by the writer and the reader so the two never drift.
 * `gated` fields are the ones a gate compares: a report without them
 * cannot be gated, so the reader refuses it. */
struct num_field {
    const char *key;
    size_t offset;
    bool gated;
};
#define U64F(f) {#f, offsetof(ph_strategy_result, f), false}
#define U64G(f) {#f, offsetof(ph_strategy_result, f), true}
static const struct num_field u64_fields[] = {
    U64G(writes), U64F(write_bytes), U64G(allocations), U64G(bytes_allocated), U64F(bytes_freed),
    U64G(peak_live_bytes), U64G(end_live_bytes), U64G(held_bytes_per_peer),
    U64F(peak_active_bytes), U64F(peak_resident_bytes), U64F(peak_queued_bytes), U64F(dropped),
    U64F(disconnected), U64F(decode_errors), U64G(setup_allocations), U64G(setup_bytes_allocated),
    U64F(setup_live_bytes), U64G(wbuf_buffers_allocated), U64G(wbuf_bytes_requested),
    U64F(wbuf_peak_held_bytes), U64F(verified), U64F(mismatches), U64F(missing),
    U64F(partial_writes),
    U64F(would_block), U64F(remote_allocations), U64F(remote_bytes_allocated),
    U64F(remote_bytes_freed), U64F(jemalloc_bytes_allocated), U64F(jemalloc_bytes_freed),
    U64F(wbuf_at_peak_bytes),
    U64F(concurrent),
};
/* The GC model's figures: written only by a run with the model (all 0
 * without it), so reports without it keep their schema. */
static const struct num_field gc_fields[] = {
    U64F(gc_collections), U64F(gc_forced), U64F(gc_deferred_bytes), U64F(gc_released_bytes),
    U64F(gc_end_garbage_bytes), U64F(gc_peak_garbage_bytes), U64F(gc_live_after_last_bytes),
    U64F(gc_goal_bytes),
};
#define DBLF(f) {#f, offsetof(ph_strategy_result, f), false}
static const struct num_field double_fields[] = {
    DBLF(cpu_seconds), DBLF(wall_seconds), DBLF(writes_per_second), DBLF(mib_per_second),
    DBLF(virtual_seconds),
};
#define N_FIELDS(t) (sizeof t / sizeof t[0])

/* by_row and by_type members, in schema order. */
static const char *const row_keys[] = {"allocations", "bytes_allocated", "end_live_bytes"};
static const char *const type_keys[] = {"writes", "allocations", "bytes_allocated"};

const char *ph_report_row_name(unsigned row)
{
    static const char *const names[PH_REPORT_ROWS] = {
        "other", "write_buffers", "queue", "decode", "session",
    };
    return row < PH_REPORT_ROWS ? names[row] : "?";
}

static uint64_t get_u64_at(const void *base, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const char *)base + offset, sizeof v);
    return v;
}

static double get_double_at(const void *base, size_t offset)
{
    double v;
    memcpy(&v, (const char *)base + offset, sizeof v);
    return v;
}

static json_t *three(const char *const keys[3], uint64_t a, uint64_t b, uint64_t c, bool *failed)
{
    json_t *o = json_object();
    ph_json_put(o, keys[0], ph_json_u64(a), failed);
    ph_json_put(o, keys[1], ph_json_u64(b), failed);
    ph_json_put(o, keys[2], ph_json_u64(c), failed);
    return o;
}

static json_t *u64_row(const uint64_t *v, size_t n, bool *failed)
{
    json_t *row = json_array();
    for (size_t i = 0; i < n; i++)
        ph_json_append(row, ph_json_u64(v[i]), failed);
    return row;
}

/* Arrays of numbers per entry keep these compact:
 * gc_events: [index, t, goal, heap_before, heap_after, wbuf_bytes, forced 0/1]
 * peers_end: [held, wbuf, queued, buffers]
 * peer_series: {"peer", "points": [[held, queued, buffers], ...]} */
static json_t *gc_events_json(const ph_strategy_result *s, bool *failed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_gc_events; i++) {
        const ph_gc_event *e = &s->gc_events[i];
        json_t *row = json_array();
        ph_json_append(row, ph_json_u64(e->index), failed);
        ph_json_append(row, ph_json_real(e->t), failed);
        uint64_t rest[] = {e->goal, e->heap_before, e->heap_after, e->wbuf_bytes, e->forced};
        for (size_t k = 0; k < N_FIELDS(rest); k++)
            ph_json_append(row, ph_json_u64(rest[k]), failed);
        ph_json_append(a, row, failed);
    }
    return a;
}

static json_t *peers_end_json(const ph_strategy_result *s, bool *failed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_peers_end; i++) {
        const ph_peer_end *p = &s->peers_end[i];
        uint64_t v[] = {p->held_bytes, p->wbuf_bytes, p->queued_bytes, p->buffers};
        ph_json_append(a, u64_row(v, N_FIELDS(v), failed), failed);
    }
    return a;
}

static json_t *peer_series_json(const ph_strategy_result *s, bool *failed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_peer_series; i++) {
        const ph_peer_series *ps = &s->peer_series[i];
        json_t *o = json_object();
        ph_json_put(o, "peer", ph_json_u64(ps->peer), failed);
        json_t *pts = json_array();
        for (size_t k = 0; k < s->n_samples; k++) {
            uint64_t v[] = {ps->points[k].held_bytes, ps->points[k].queued_bytes,
                            ps->points[k].buffers};
            ph_json_append(pts, u64_row(v, N_FIELDS(v), failed), failed);
        }
        ph_json_put(o, "points", pts, failed);
        ph_json_append(a, o, failed);
    }
    return a;
}

/* `with_gc`: the GC model's figures and collections (a run with the model,
 * and the child -> parent transport, which always carries them). */
static json_t *strategy_json(const ph_strategy_result *s, bool with_samples, bool with_gc,
                             bool *failed)
{
    json_t *o = json_object();
    ph_json_put(o, "name", json_string(s->name), failed);
    for (size_t i = 0; i < N_FIELDS(u64_fields); i++)
        ph_json_put(o, u64_fields[i].key, ph_json_u64(get_u64_at(s, u64_fields[i].offset)),
                    failed);
    for (size_t i = 0; with_gc && i < N_FIELDS(gc_fields); i++)
        ph_json_put(o, gc_fields[i].key, ph_json_u64(get_u64_at(s, gc_fields[i].offset)),
                    failed);
    for (size_t i = 0; i < N_FIELDS(double_fields); i++)
        ph_json_put(o, double_fields[i].key,
                    ph_json_real(get_double_at(s, double_fields[i].offset)), failed);
    ph_json_put(o, "verify", json_boolean(s->verify), failed);
    ph_json_put(o, "verify_problem", ph_json_text(s->verify_problem), failed);
    json_t *byrow = json_object();
    for (unsigned i = 0; i < PH_REPORT_ROWS; i++)
        ph_json_put(byrow, ph_report_row_name(i),
                    three(row_keys, s->rows[i].allocations, s->rows[i].bytes_allocated,
                          s->rows[i].end_live_bytes, failed), failed);
    ph_json_put(o, "by_row", byrow, failed);
    json_t *types = json_object();
    for (size_t i = 0; i < s->n_types; i++)
        ph_json_put(types, s->types[i].name,
                    three(type_keys, s->types[i].writes, s->types[i].allocations,
                          s->types[i].bytes_allocated, failed), failed);
    ph_json_put(o, "by_type", types, failed);
    if (with_gc)
        ph_json_put(o, "gc_events", gc_events_json(s, failed), failed);
    ph_json_put(o, "peers_end", peers_end_json(s, failed), failed);
    if (with_samples && s->n_peer_series)
        ph_json_put(o, "peer_series", peer_series_json(s, failed), failed);
    if (with_samples) {
        /* [t, live, active, resident, queued] rows keep the file compact */
        json_t *samples = json_array();
        for (size_t i = 0; i < s->n_samples; i++) {
            const ph_sample *p = &s->samples[i];
            json_t *row = json_array();
            ph_json_append(row, ph_json_real(p->t), failed);
            ph_json_append(row, ph_json_u64(p->live_bytes), failed);
            ph_json_append(row, ph_json_u64(p->active_bytes), failed);
            ph_json_append(row, ph_json_u64(p->resident_bytes), failed);
            ph_json_append(row, ph_json_u64(p->queued_bytes), failed);
            ph_json_append(samples, row, failed);
        }
        ph_json_put(o, "samples", samples, failed);
    }
    return o;
}

static ph_err dump_and_free(json_t *j, bool failed, FILE *f, bool pretty)
{
    ph_err err = failed || !j ? PH_ERR_NOMEM : ph_json_dump(j, f, pretty);
    json_decref(j);
    if (!err && fflush(f))
        err = PH_ERR_IO;
    return err;
}

ph_err ph_strategy_result_write_json(const ph_strategy_result *s, FILE *f)
{
    bool failed = false;
    json_t *j = strategy_json(s, true, true, &failed);
    return dump_and_free(j, failed, f, false);
}

static json_t *input_json(const ph_report_input *in, bool *failed)
{
    json_t *o = json_object();
    json_t *caps = json_array();
    for (size_t i = 0; i < in->n_captures; i++)
        ph_json_append(caps, ph_json_text(in->captures[i]), failed);
    ph_json_put(o, "captures", caps, failed);
    json_t *files = json_array();
    for (size_t i = 0; i < in->n_files; i++) {
        json_t *e = json_object();
        ph_json_put(e, "path", ph_json_text(in->files[i].path), failed);
        ph_json_put(e, "sha256", json_string(in->files[i].sha256), failed);
        ph_json_append(files, e, failed);
    }
    ph_json_put(o, "files", files, failed);
    ph_json_put(o, "sessions", ph_json_u64(in->sessions), failed);
    ph_json_put(o, "messages", ph_json_u64(in->messages), failed);
    ph_json_put(o, "message_bytes", ph_json_u64(in->message_bytes), failed);
    json_t *sides = json_array();
    for (size_t i = 0; i < in->n_sides; i++) {
        const ph_report_side *sd = &in->sides[i];
        json_t *e = json_object();
        ph_json_put(e, "session", ph_json_u64(sd->session), failed);
        ph_json_put(e, "node", json_string(sd->node), failed);
        ph_json_put(e, "peer", json_string(sd->peer), failed);
        ph_json_put(e, "role", json_string(sd->role), failed);
        ph_json_put(e, "chosen_by", json_string(sd->chosen_by), failed);
        ph_json_put(e, "node_bytes", ph_json_u64(sd->node_bytes), failed);
        ph_json_put(e, "session_bytes", ph_json_u64(sd->session_bytes), failed);
        ph_json_put(e, "messages", ph_json_u64(sd->messages), failed);
        ph_json_append(sides, e, failed);
    }
    ph_json_put(o, "sides", sides, failed);
    return o;
}

static json_t *options_json(const ph_report_options *op, bool *failed)
{
    json_t *o = json_object();
    ph_json_put(o, "peers", ph_json_u64(op->peers), failed);
    ph_json_put(o, "sink", json_string(op->sink), failed);
    ph_json_put(o, "encode", json_string(op->encode), failed);
    ph_json_put(o, "linger_seconds", ph_json_real(op->linger_seconds), failed);
    ph_json_put(o, "pace", json_string(op->pace), failed);
    ph_json_put(o, "reader_rate", ph_json_u64(op->reader_rate), failed);
    ph_json_put(o, "stalled", ph_json_u64(op->stalled), failed);
    ph_json_put(o, "from", json_string(op->from), failed);
    ph_json_put(o, "queue_soft", ph_json_u64(op->queue_soft), failed);
    ph_json_put(o, "queue_hard", ph_json_u64(op->queue_hard), failed);
    ph_json_put(o, "types", json_string(op->types ? op->types : ""), failed);
    ph_json_put(o, "filter", json_string(op->filter ? op->filter : ""), failed);
    ph_json_put(o, "pool_workers", ph_json_u64(op->pool_workers), failed);
    ph_json_put(o, "pool_expiry_seconds", ph_json_real(op->pool_expiry_seconds), failed);
    ph_json_put(o, "model_buffer", ph_json_u64(op->model_buffer), failed);
    if (op->gc_model[0])
        ph_json_put(o, "gc_model", json_string(op->gc_model), failed);
    ph_json_put(o, "jobs", ph_json_u64(op->jobs), failed);
    return o;
}

static json_t *sweep_json(const ph_report *r, bool *failed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_sweep; i++) {
        const ph_sweep_point *p = &r->sweep[i];
        json_t *o = json_object();
        ph_json_put(o, "peers", ph_json_u64(p->peers), failed);
        ph_json_put(o, "name", json_string(p->name), failed);
        ph_json_put(o, "peak_live_bytes", ph_json_u64(p->peak_live_bytes), failed);
        ph_json_put(o, "end_live_bytes", ph_json_u64(p->end_live_bytes), failed);
        ph_json_put(o, "held_bytes_per_peer", ph_json_u64(p->held_bytes_per_peer), failed);
        ph_json_put(o, "wbuf_at_peak_bytes", ph_json_u64(p->wbuf_at_peak_bytes), failed);
        ph_json_put(o, "writes", ph_json_u64(p->writes), failed);
        ph_json_put(o, "writes_per_second", ph_json_real(p->writes_per_second), failed);
        ph_json_put(o, "gc_collections", ph_json_u64(p->gc_collections), failed);
        ph_json_append(a, o, failed);
    }
    return a;
}

ph_err ph_report_write_json(const ph_report *r, FILE *f)
{
    bool failed = false;
    json_t *j = json_object();
    json_t *ph = json_object();
    ph_json_put(ph, "version", json_string(r->version), &failed);
    ph_json_put(j, "peerheap", ph, &failed);
    ph_json_put(j, "input", input_json(&r->input, &failed), &failed);
    ph_json_put(j, "options", options_json(&r->options, &failed), &failed);
    json_t *st = json_array();
    for (size_t i = 0; i < r->n_strategies; i++)
        ph_json_append(st, strategy_json(&r->strategies[i], false, r->options.gc_model[0] != 0,
                                         &failed), &failed);
    ph_json_put(j, "strategies", st, &failed);
    /* only a sweep has one (a plain report keeps its four members) */
    if (r->n_sweep)
        ph_json_put(j, "sweep", sweep_json(r, &failed), &failed);
    return dump_and_free(j, failed, f, true);
}

/* Reading: `where` names the object being read for the one-line reason. */
struct reader {
    char *why;
    size_t why_len;
    char where[96];
};

static ph_err bad(struct reader *rd, const char *field, const char *what)
{
    if (rd->why && rd->why_len)
        snprintf(rd->why, rd->why_len, "%s%s%s: %s", rd->where, rd->where[0] ? ": " : "", field,
                 what);
    return PH_ERR_JSON;
}

/* An optional unsigned member: absent leaves *out alone, present must be a
 * non-negative integer. */
static ph_err opt_u64(struct reader *rd, const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (v && !ph_json_u64_value(v, out))
        return bad(rd, key, "not a non-negative integer");
    return PH_OK;
}

static ph_err need_u64(struct reader *rd, const json_t *o, const char *key, uint64_t *out)
{
    if (!json_object_get(o, key))
        return bad(rd, key, "missing");
    return opt_u64(rd, o, key, out);
}

static ph_err opt_double(struct reader *rd, const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_null(v) && !ph_json_double_value(v, out))
        return bad(rd, key, "not a number");
    return PH_OK;
}

static ph_err opt_str(struct reader *rd, const json_t *o, const char *key, char *buf, size_t len)
{
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_string(v))
        return bad(rd, key, "not a string");
    ph_json_copy_str(o, key, buf, len);
    return PH_OK;
}

static ph_err read_rows(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    const json_t *byrow = json_object_get(o, "by_row");
    if (!json_is_object(byrow))
        return bad(rd, "by_row", byrow ? "not an object" : "missing");
    for (unsigned i = 0; i < PH_REPORT_ROWS; i++) {
        const json_t *rj = json_object_get(byrow, ph_report_row_name(i));
        char field[64];
        snprintf(field, sizeof field, "by_row.%s", ph_report_row_name(i));
        if (!json_is_object(rj))
            return bad(rd, field, rj ? "not an object" : "missing");
        uint64_t *dst[3] = {&s->rows[i].allocations, &s->rows[i].bytes_allocated,
                            &s->rows[i].end_live_bytes};
        for (size_t k = 0; k < 3; k++) {
            const json_t *v = json_object_get(rj, row_keys[k]);
            if (!v || !ph_json_u64_value(v, dst[k])) {
                snprintf(field, sizeof field, "by_row.%s.%s", ph_report_row_name(i), row_keys[k]);
                return bad(rd, field, v ? "not a non-negative integer" : "missing");
            }
        }
    }
    return PH_OK;
}

static ph_err read_types(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    const json_t *types = json_object_get(o, "by_type");
    if (!json_is_object(types))
        return bad(rd, "by_type", types ? "not an object" : "missing");
    const char *name;
    const json_t *t;
    json_object_foreach((json_t *)types, name, t) {
        char field[96];
        snprintf(field, sizeof field, "by_type.%s", name);
        if (!json_is_object(t))
            return bad(rd, field, "not an object");
        if (strlen(name) >= PH_REPORT_NAME_MAX)
            return bad(rd, field, "type name too long");
        uint64_t v[3] = {0, 0, 0};
        for (size_t k = 0; k < 3; k++) {
            const json_t *x = json_object_get(t, type_keys[k]);
            bool required = k == 1; /* allocations: gated */
            if ((!x && required) || (x && !ph_json_u64_value(x, &v[k]))) {
                snprintf(field, sizeof field, "by_type.%s.%s", name, type_keys[k]);
                return bad(rd, field, x ? "not a non-negative integer" : "missing");
            }
        }
        if (ph_strategy_result_add_type(s, name, v[0], v[1], v[2]))
            return PH_ERR_NOMEM;
    }
    return PH_OK;
}

static ph_err read_samples(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    const json_t *samples = json_object_get(o, "samples");
    if (samples && !json_is_array(samples))
        return bad(rd, "samples", "not an array");
    for (size_t i = 0; i < json_array_size(samples); i++) {
        const json_t *row = json_array_get(samples, i);
        ph_sample p = {0};
        if (json_array_size(row) != 5 || !ph_json_double_value(json_array_get(row, 0), &p.t) ||
            !ph_json_u64_value(json_array_get(row, 1), &p.live_bytes) ||
            !ph_json_u64_value(json_array_get(row, 2), &p.active_bytes) ||
            !ph_json_u64_value(json_array_get(row, 3), &p.resident_bytes) ||
            !ph_json_u64_value(json_array_get(row, 4), &p.queued_bytes))
            return bad(rd, "samples", "a row is not [t, live, active, resident, queued]");
        if (ph_strategy_result_add_sample(s, &p))
            return PH_ERR_NOMEM;
    }
    return PH_OK;
}

/* An optional member that must be an array when present. */
static ph_err opt_array(struct reader *rd, const json_t *o, const char *key, const json_t **out)
{
    *out = json_object_get(o, key);
    if (*out && !json_is_array(*out))
        return bad(rd, key, "not an array");
    return PH_OK;
}

/* An array of n unsigned numbers into v. */
static bool read_u64_row(const json_t *row, uint64_t *v, size_t n)
{
    if (!json_is_array(row) || json_array_size(row) != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (!ph_json_u64_value(json_array_get(row, k), &v[k]))
            return false;
    return true;
}

static ph_err read_gc_events(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    const json_t *a;
    ph_err err = opt_array(rd, o, "gc_events", &a);
    for (size_t i = 0; !err && i < json_array_size(a); i++) {
        const json_t *row = json_array_get(a, i);
        uint64_t v[7] = {0};
        ph_gc_event e;
        memset(&e, 0, sizeof e);
        bool ok = json_is_array(row) && json_array_size(row) == 7 &&
                  ph_json_double_value(json_array_get(row, 1), &e.t);
        for (size_t k = 0; ok && k < 7; k++)
            ok = k == 1 || ph_json_u64_value(json_array_get(row, k), &v[k]);
        if (!ok)
            return bad(rd, "gc_events", "a row is not [index, t, goal, heap_before, heap_after, "
                                        "wbuf_bytes, forced]");
        e.index = v[0];
        e.goal = v[2];
        e.heap_before = v[3];
        e.heap_after = v[4];
        e.wbuf_bytes = v[5];
        e.forced = v[6] != 0;
        if (ph_strategy_result_add_gc_event(s, &e))
            return PH_ERR_NOMEM;
    }
    return err;
}

static ph_err read_peers_end(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    const json_t *a;
    ph_err err = opt_array(rd, o, "peers_end", &a);
    size_t n = json_array_size(a);
    if (err || !n)
        return err;
    ph_peer_end *p = calloc(n, sizeof *p);
    if (!p)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t v[4];
        if (!read_u64_row(json_array_get(a, i), v, 4)) {
            free(p);
            return bad(rd, "peers_end", "a row is not [held, wbuf, queued, buffers]");
        }
        p[i] = (ph_peer_end){v[0], v[1], v[2], v[3]};
    }
    free(s->peers_end);
    s->peers_end = p;
    s->n_peers_end = n;
    return PH_OK;
}

/* After the samples: each series has one point per sample. */
static ph_err read_peer_series(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    const json_t *a;
    ph_err err = opt_array(rd, o, "peer_series", &a);
    for (size_t i = 0; !err && i < json_array_size(a); i++) {
        const json_t *e = json_array_get(a, i);
        const json_t *pts = json_object_get(e, "points");
        uint64_t peer;
        if (!ph_json_u64_value(json_object_get(e, "peer"), &peer) || !json_is_array(pts))
            return bad(rd, "peer_series", "an entry is not {\"peer\", \"points\"}");
        if (json_array_size(pts) != s->n_samples)
            return bad(rd, "peer_series", "not one point per sample");
        ph_peer_series *ps;
        if (ph_strategy_result_add_peer_series(s, peer, &ps))
            return PH_ERR_NOMEM;
        for (size_t k = 0; k < s->n_samples; k++) {
            uint64_t v[3];
            if (!read_u64_row(json_array_get(pts, k), v, 3))
                return bad(rd, "peer_series", "a point is not [held, queued, buffers]");
            ps->points[k] = (ph_peer_point){v[0], v[1], v[2]};
        }
    }
    return err;
}

static ph_err read_strategy(struct reader *rd, ph_strategy_result *s, const json_t *o)
{
    memset(s, 0, sizeof *s);
    if (!json_is_object(o))
        return bad(rd, "strategy", "not an object");
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!name || !name[0] || strlen(name) >= PH_REPORT_NAME_MAX)
        return bad(rd, "name", "missing, empty or too long");
    snprintf(s->name, sizeof s->name, "%s", name);
    size_t at = strlen(rd->where);
    snprintf(rd->where + at, sizeof rd->where - at, " (%s)", name);
    ph_err err = PH_OK;
    for (size_t i = 0; !err && i < N_FIELDS(u64_fields); i++) {
        uint64_t v = 0;
        err = u64_fields[i].gated ? need_u64(rd, o, u64_fields[i].key, &v)
                                  : opt_u64(rd, o, u64_fields[i].key, &v);
        memcpy((char *)s + u64_fields[i].offset, &v, sizeof v);
    }
    for (size_t i = 0; !err && i < N_FIELDS(double_fields); i++) {
        double v = 0;
        err = opt_double(rd, o, double_fields[i].key, &v);
        memcpy((char *)s + double_fields[i].offset, &v, sizeof v);
    }
    for (size_t i = 0; !err && i < N_FIELDS(gc_fields); i++) {
        uint64_t v = 0;
        err = opt_u64(rd, o, gc_fields[i].key, &v);
        memcpy((char *)s + gc_fields[i].offset, &v, sizeof v);
    }
    if (!err) {
        const json_t *v = json_object_get(o, "verify");
        s->verify = json_is_true(v);
        if (v && !json_is_boolean(v))
            err = bad(rd, "verify", "not true or false");
    }
    if (!err)
        err = opt_str(rd, o, "verify_problem", s->verify_problem, sizeof s->verify_problem);
    if (!err)
        err = read_rows(rd, s, o);
    if (!err)
        err = read_types(rd, s, o);
    if (!err)
        err = read_gc_events(rd, s, o);
    if (!err)
        err = read_peers_end(rd, s, o);
    if (!err)
        err = read_samples(rd, s, o);
    if (!err)
        err = read_peer_series(rd, s, o);
    return err;
}

ph_err ph_strategy_result_read_json(ph_strategy_result *out, const char *text, size_t len)
{
    memset(out, 0, sizeof *out);
    json_t *j;
    ph_err err = ph_json_parse(text, len, &j, NULL, 0);
    if (err)
        return err;
    struct reader rd = {0};
    err = read_strategy(&rd, out, j);
    if (err)
        ph_strategy_result_clear(out);
    json_decref(j);
    return err;
}


static ph_err read_sides(struct reader *rd, ph_report *r, const json_t *sides)
{
    if (sides && !json_is_array(sides))
        return bad(rd, "sides", "not an array");
    for (size_t i = 0; i < json_array_size(sides); i++) {
        const json_t *e = json_array_get(sides, i);
        ph_report_side sd;
        memset(&sd, 0, sizeof sd);
        snprintf(rd->where, sizeof rd->where, "input.sides[%zu]", i);
        ph_err err = json_is_object(e) ? PH_OK : bad(rd, "side", "not an object");
        if (!err)
            err = opt_u64(rd, e, "session", &sd.session);
        if (!err)
            err = opt_str(rd, e, "node", sd.node, sizeof sd.node);
        if (!err)
            err = opt_str(rd, e, "peer", sd.peer, sizeof sd.peer);
        if (!err)
            err = opt_str(rd, e, "role", sd.role, sizeof sd.role);
        if (!err)
            err = opt_str(rd, e, "chosen_by", sd.chosen_by, sizeof sd.chosen_by);
        if (!err)
            err = opt_u64(rd, e, "node_bytes", &sd.node_bytes);
        if (!err)
            err = opt_u64(rd, e, "session_bytes", &sd.session_bytes);
        if (!err)
            err = opt_u64(rd, e, "messages", &sd.messages);
        if (err)
            return err;
        if (ph_report_add_side(r, &sd))
            return PH_ERR_NOMEM;
    }
    return PH_OK;
}

static ph_err read_files(struct reader *rd, ph_report *r, const json_t *files)
{
    if (files && !json_is_array(files))
        return bad(rd, "files", "not an array");
    for (size_t i = 0; i < json_array_size(files); i++) {
        const json_t *e = json_array_get(files, i);
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        snprintf(rd->where, sizeof rd->where, "input.files[%zu]", i);
        if (!path)
            return bad(rd, "path", "missing or not a string");
        uint8_t digest[32];
        if (!sha || ph_hex_decode_fixed(sha, digest, sizeof digest))
            return bad(rd, "sha256", "not 64 hex digits");
        char hex[65];
        ph_hex_encode(digest, sizeof digest, hex);
        if (ph_report_add_file(r, path, hex))
            return PH_ERR_NOMEM;
    }
    return PH_OK;
}

static ph_err read_input(struct reader *rd, ph_report *r, const json_t *in)
{
    snprintf(rd->where, sizeof rd->where, "input");
    if (in && !json_is_object(in))
        return bad(rd, "input", "not an object");
    const json_t *caps = json_object_get(in, "captures");
    if (caps && !json_is_array(caps))
        return bad(rd, "captures", "not an array");
    for (size_t i = 0; i < json_array_size(caps); i++) {
        const char *c = json_string_value(json_array_get(caps, i));
        if (!c)
            return bad(rd, "captures", "not a list of strings");
        if (ph_report_add_capture(r, c))
            return PH_ERR_NOMEM;
    }
    ph_err err = opt_u64(rd, in, "sessions", &r->input.sessions);
    if (!err)
        err = opt_u64(rd, in, "messages", &r->input.messages);
    if (!err)
        err = opt_u64(rd, in, "message_bytes", &r->input.message_bytes);
    if (!err)
        err = read_files(rd, r, json_object_get(in, "files"));
    if (!err)
        err = read_sides(rd, r, json_object_get(in, "sides"));
    return err;
}

static ph_err read_options(struct reader *rd, ph_report *r, const json_t *o)
{
    ph_report_options *op = &r->options;
    snprintf(rd->where, sizeof rd->where, "options");
    if (o && !json_is_object(o))
        return bad(rd, "options", "not an object");
    ph_err err = opt_u64(rd, o, "peers", &op->peers);
    if (!err)
        err = opt_str(rd, o, "sink", op->sink, sizeof op->sink);
    if (!err)
        err = opt_str(rd, o, "encode", op->encode, sizeof op->encode);
    if (!err)
        err = opt_double(rd, o, "linger_seconds", &op->linger_seconds);
    if (!err)
        err = opt_str(rd, o, "pace", op->pace, sizeof op->pace);
    if (!err)
        err = opt_u64(rd, o, "reader_rate", &op->reader_rate);
    if (!err)
        err = opt_u64(rd, o, "stalled", &op->stalled);
    if (!err)
        err = opt_str(rd, o, "from", op->from, sizeof op->from);
    if (!err)
        err = opt_u64(rd, o, "queue_soft", &op->queue_soft);
    if (!err)
        err = opt_u64(rd, o, "queue_hard", &op->queue_hard);
    if (!err)
        err = opt_u64(rd, o, "pool_workers", &op->pool_workers);
    if (!err)
        err = opt_double(rd, o, "pool_expiry_seconds", &op->pool_expiry_seconds);
    if (!err)
        err = opt_u64(rd, o, "model_buffer", &op->model_buffer);
    if (!err)
        err = opt_str(rd, o, "gc_model", op->gc_model, sizeof op->gc_model);
    if (!err)
        err = opt_u64(rd, o, "jobs", &op->jobs);
    const char *keys[2] = {"types", "filter"};
    for (size_t i = 0; !err && i < 2; i++) {
        const json_t *v = json_object_get(o, keys[i]);
        const char *s = json_string_value(v);
        if (v && !s)
            return bad(rd, keys[i], "not a string");
        if (s && s[0] && (i ? ph_report_set_filter(r, s) : ph_report_set_types(r, s)))
            return PH_ERR_NOMEM;
    }
    return err;
}

static ph_err read_sweep(struct reader *rd, ph_report *r, const json_t *j)
{
    const json_t *a;
    snprintf(rd->where, sizeof rd->where, "sweep");
    ph_err err = opt_array(rd, j, "sweep", &a);
    for (size_t i = 0; !err && i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        ph_strategy_result s;
        memset(&s, 0, sizeof s);
        uint64_t peers = 0;
        snprintf(rd->where, sizeof rd->where, "sweep[%zu]", i);
        if (!json_is_object(o))
            return bad(rd, "point", "not an object");
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!name || !name[0] || strlen(name) >= PH_REPORT_NAME_MAX)
            return bad(rd, "name", "missing, empty or too long");
        snprintf(s.name, sizeof s.name, "%s", name);
        err = need_u64(rd, o, "peers", &peers);
        if (!err)
            err = opt_u64(rd, o, "peak_live_bytes", &s.peak_live_bytes);
        if (!err)
            err = opt_u64(rd, o, "end_live_bytes", &s.end_live_bytes);
        if (!err)
            err = opt_u64(rd, o, "held_bytes_per_peer", &s.held_bytes_per_peer);
        if (!err)
            err = opt_u64(rd, o, "wbuf_at_peak_bytes", &s.wbuf_at_peak_bytes);
        if (!err)
            err = opt_u64(rd, o, "writes", &s.writes);
        if (!err)
            err = opt_double(rd, o, "writes_per_second", &s.writes_per_second);
        if (!err)
            err = opt_u64(rd, o, "gc_collections", &s.gc_collections);
        if (!err && ph_report_add_sweep(r, peers, &s))
            return PH_ERR_NOMEM;
    }
    return err;
}

static ph_err read_report(struct reader *rd, ph_report *r, const json_t *j)
{
    if (!json_is_object(j))
        return bad(rd, "document", "not a JSON object");
    const json_t *ph = json_object_get(j, "peerheap");
    const json_t *st = json_object_get(j, "strategies");
    if (!json_is_object(ph) || !json_is_array(st))
        return bad(rd, "document", "not a peerheap report (no \"peerheap\" and \"strategies\")");
    ph_json_copy_str(ph, "version", r->version, sizeof r->version);
    ph_err err = read_input(rd, r, json_object_get(j, "input"));
    if (!err)
        err = read_options(rd, r, json_object_get(j, "options"));
    if (!err)
        err = read_sweep(rd, r, j);
    for (size_t i = 0; !err && i < json_array_size(st); i++) {
        ph_strategy_result s;
        snprintf(rd->where, sizeof rd->where, "strategies[%zu]", i);
        err = read_strategy(rd, &s, json_array_get(st, i));
        if (!err)
            err = ph_report_add_strategy(r, &s);
        ph_strategy_result_clear(&s);
    }
    return err;
}

static ph_err report_from_json(ph_report **out, const json_t *j, char *why, size_t why_len)
{
    ph_report *r;
    ph_err err = ph_report_create(&r);
    if (err)
        return err;
    struct reader rd = {.why = why, .why_len = why_len};
    if ((err = read_report(&rd, r, j))) {
        ph_report_destroy(r);
        return err;
    }
    *out = r;
    return PH_OK;
}

ph_err ph_report_parse(ph_report **out, const char *text, size_t len, char *why, size_t why_len)
{
    *out = NULL;
    json_t *j;
    ph_err err = ph_json_parse(text, len, &j, why, why_len);
    if (err)
        return err;
    err = report_from_json(out, j, why, why_len);
    json_decref(j);
    return err;
}

ph_err ph_report_load(ph_report **out, const char *path, char *why, size_t why_len)
{
    *out = NULL;
    json_t *j;
    ph_err err = ph_json_load_file(path, &j, why, why_len);
    if (err)
        return err;
    err = report_from_json(out, j, why, why_len);
    json_decref(j);
    return err;
}

ph_err ph_report_read_json(ph_report **out, const char *text, size_t len)
{
    return ph_report_parse(out, text, len, NULL, 0);
}

/* ---- CSV ---- */

static bool has_peer_series(const ph_report *r)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        if (r->strategies[i].n_peer_series)
            return true;
    return false;
}

ph_err ph_report_write_csv(const ph_report *r, FILE *f)
{
    bool peers = has_peer_series(r);
    fprintf(f, "time_s,strategy,live_bytes,active_bytes,resident_bytes,queued_bytes%s\n",
            peers ? ",peer,buffers" : "");
    for (size_t i = 0; i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        for (size_t k = 0; k < s->n_samples; k++) {
            const ph_sample *p = &s->samples[k];
            fprintf(f, "%.6f,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "%s\n", p->t,
                    s->name, p->live_bytes, p->active_bytes, p->resident_bytes, p->queued_bytes,
                    peers ? ",," : "");
        }
        for (size_t j = 0; j < s->n_peer_series; j++) {
            const ph_peer_series *ps = &s->peer_series[j];
            for (size_t k = 0; k < s->n_samples; k++)
                fprintf(f, "%.6f,%s,%" PRIu64 ",,,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
                        s->samples[k].t, s->name, ps->points[k].held_bytes,
                        ps->points[k].queued_bytes, ps->peer, ps->points[k].buffers);
        }
    }
    return fflush(f) || ferror(f) ? PH_ERR_IO : PH_OK;
}

/* ---- SVG ---- */

/* Series of one strategy's timeline: x and y arrays owned by the caller's
 * buffer (freed with ph_report_plot_free). */
struct plot_buf {
    ph_svg_series *s;
    size_t n;
    double *vals;
    char (*names)[64];
    char (*notes)[48];
};

static void plot_free(struct plot_buf *b)
{
    free(b->s);
    free(b->vals);
    free(b->names);
    free(b->notes);
}

static ph_err plot_alloc(struct plot_buf *b, size_t nseries, size_t nvals)
{
    memset(b, 0, sizeof *b);
    b->s = calloc(nseries ? nseries : 1, sizeof *b->s);
    b->vals = calloc(nvals ? nvals : 1, sizeof *b->vals);
    b->names = calloc(nseries ? nseries : 1, sizeof *b->names);
    b->notes = calloc(nseries ? nseries : 1, sizeof *b->notes);
    if (!b->s || !b->vals || !b->names || !b->notes) {
        plot_free(b);
        return PH_ERR_NOMEM;
    }
    return PH_OK;
}

/* Live heap over time per strategy; per-peer held bytes dashed, in the
 * strategy's colour, when chosen peers were followed. */
static ph_err timeline_series(const ph_report *r, bool with_peers, struct plot_buf *b)
{
    size_t ns = r->n_strategies + 1, nv = 0;
    for (size_t i = 0; i < r->n_strategies; i++) {
        size_t np = with_peers ? r->strategies[i].n_peer_series : 0;
        ns += np;
        nv += 2 * r->strategies[i].n_samples * (1 + np);
    }
    ph_err err = plot_alloc(b, ns, nv);
    if (err)
        return err;
    double *v = b->vals;
    for (size_t i = 0; i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        size_t np = with_peers ? s->n_peer_series : 0;
        for (size_t j = 0; j <= np; j++) {
            ph_svg_series *se = &b->s[b->n];
            se->n = s->n_samples;
            se->x = v;
            se->y = v + s->n_samples;
            for (size_t k = 0; k < s->n_samples; k++) {
                v[k] = s->samples[k].t;
                v[s->n_samples + k] = j == 0 ? (double)s->samples[k].live_bytes
                                             : (double)s->peer_series[j - 1].points[k].held_bytes;
            }
            v += 2 * s->n_samples;
            se->color = ph_svg_color(i);
            se->dashed = j > 0;
            if (j == 0) {
                char peak[32];
                ph_format_bytes(s->peak_live_bytes, peak, sizeof peak);
                snprintf(b->names[b->n], sizeof b->names[0], "%s", s->name);
                snprintf(b->notes[b->n], sizeof b->notes[0], "(peak %s)", peak);
                se->note = b->notes[b->n];
            } else {
                snprintf(b->names[b->n], sizeof b->names[0], "%s peer %" PRIu64, s->name,
                         s->peer_series[j - 1].peer);
                se->no_legend = true;
            }
            se->name = b->names[b->n];
            b->n++;
        }
    }
    /* one legend entry for every followed peer's line */
    if (b->n > r->n_strategies)
        b->s[b->n++] = (ph_svg_series){.name = "its costliest peers (dashed)",
                                       .color = "#555", .dashed = true};
    return PH_OK;
}

ph_err ph_report_write_timeline_svg(const ph_report *r, FILE *f, bool responsive)
{
    struct plot_buf b;
    ph_err err = timeline_series(r, true, &b);
    if (err)
        return err;
    char title[160];
    snprintf(title, sizeof title, "Live heap during replay (peers: %" PRIu64 ", sink: %s, pace: %s%s%s)",
             r->options.peers, r->options.sink, r->options.pace,
             r->options.gc_model[0] ? ", GC model: " : "", r->options.gc_model);
    ph_svg_chart c = {
        .title = title,
        .x_label = "wall time since the replay phase began (s)",
        .y_label = "live heap",
        .y_bytes = true,
        .responsive = responsive,
        .font_size = responsive ? 15 : 0,
    };
    err = ph_svg_lines(f, &c, b.s, b.n);
    plot_free(&b);
    return err;
}

/* Memory against peers: each strategy's peak live (solid) and end live
 * (dashed) at each peer count of the sweep. */
ph_err ph_report_write_sweep_svg(const ph_report *r, FILE *f, bool responsive)
{
    size_t nnames = 0;
    const char *names[16];
    for (size_t i = 0; i < r->n_sweep && nnames < 16; i++) {
        size_t k = 0;
        while (k < nnames && strcmp(names[k], r->sweep[i].name) != 0)
            k++;
        if (k == nnames)
            names[nnames++] = r->sweep[i].name;
    }
    struct plot_buf b;
    ph_err err = plot_alloc(&b, 2 * nnames, 4 * r->n_sweep);
    if (err)
        return err;
    double *v = b.vals;
    for (size_t k = 0; k < nnames; k++) {
        for (int end = 0; end < 2; end++) {
            ph_svg_series *se = &b.s[b.n];
            double *x = v, *y;
            size_t n = 0;
            for (size_t i = 0; i < r->n_sweep; i++)
                if (strcmp(r->sweep[i].name, names[k]) == 0)
                    x[n++] = (double)r->sweep[i].peers;
            y = x + n;
            n = 0;
            for (size_t i = 0; i < r->n_sweep; i++)
                if (strcmp(r->sweep[i].name, names[k]) == 0)
                    y[n++] = (double)(end ? r->sweep[i].end_live_bytes
                                          : r->sweep[i].peak_live_bytes);
            v += 2 * n;
            snprintf(b.names[b.n], sizeof b.names[0], "%s %s", names[k], end ? "end" : "peak");
            *se = (ph_svg_series){.name = b.names[b.n], .n = n, .x = x, .y = y,
                                  .color = ph_svg_color(k), .markers = true, .dashed = end};
            b.n++;
        }
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < r->n_sweep; i++) {
        lo = r->sweep[i].peers < lo ? r->sweep[i].peers : lo;
        hi = r->sweep[i].peers > hi ? r->sweep[i].peers : hi;
    }
    ph_svg_chart c = {
        .title = "Memory against peers (each peer count its own replay)",
        .x_label = "peers",
        .y_label = "live heap",
        .y_bytes = true,
        .x_log = lo > 0 && hi >= 10 * lo,
        .responsive = responsive,
        .font_size = responsive ? 15 : 0,
    };
    err = ph_svg_lines(f, &c, b.s, b.n);
    plot_free(&b);
    return err;
}

ph_err ph_report_write_svg(const ph_report *r, FILE *f)
{
    ph_err err = r->n_sweep ? ph_report_write_sweep_svg(r, f, false)
                            : ph_report_write_timeline_svg(r, f, false);
    if (!err && fflush(f))
        err = PH_ERR_IO;
    return err;
}

/* ---- the GC model, sweeps, top N (text) ---- */

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void print_label(FILE *f, const char *label)
{
    fprintf(f, "%-28s", label);
}

static void print_bytes_cells(const ph_report *r, FILE *f, const char *label, size_t offset)
{
    print_label(f, label);
    for (size_t i = 0; i < r->n_strategies; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&r->strategies[i] + offset, sizeof v);
        char b[32];
        ph_format_bytes(v, b, sizeof b);
        fprintf(f, " %*s", COL_W - 1, b);
    }
    fputc('\n', f);
}

/* The types with the most bytes allocated in any strategy, most first. */
static size_t top_type_names(const ph_report *r, size_t n, char (*out)[PH_REPORT_NAME_MAX])
{
    size_t k = 0;
    for (size_t round = 0; round < n; round++) {
        const char *best = NULL;
        uint64_t best_b = 0;
        for (size_t i = 0; i < r->n_strategies; i++) {
            const ph_strategy_result *s = &r->strategies[i];
            for (size_t t = 0; t < s->n_types; t++) {
                bool taken = false;
                for (size_t j = 0; j < k; j++)
                    taken |= strcmp(out[j], s->types[t].name) == 0;
                if (!taken && s->types[t].bytes_allocated > best_b) {
                    best = s->types[t].name;
                    best_b = s->types[t].bytes_allocated;
                }
            }
        }
        if (!best)
            break;
        snprintf(out[k++], PH_REPORT_NAME_MAX, "%s", best);
    }
    return k;
}

static uint64_t type_bytes(const ph_strategy_result *s, const char *name)
{
    for (size_t t = 0; t < s->n_types; t++)
        if (strcmp(s->types[t].name, name) == 0)
            return s->types[t].bytes_allocated;
    return 0;
}

static void print_share_row(FILE *f, const char *label, const ph_report *r,
                            uint64_t (*part)(const ph_strategy_result *, const void *),
                            const void *arg)
{
    char l[64];
    snprintf(l, sizeof l, "  %s", label);
    print_label(f, l);
    for (size_t i = 0; i < r->n_strategies; i++) {
        char cell[32];
        snprintf(cell, sizeof cell, "%.1f%%",
                 pct(part(&r->strategies[i], arg), r->strategies[i].bytes_allocated));
        fprintf(f, " %*s", COL_W - 1, cell);
    }
    fputc('\n', f);
}

static uint64_t row_part(const ph_strategy_result *s, const void *arg)
{
    return s->rows[*(const unsigned *)arg].bytes_allocated;
}

static uint64_t type_part(const ph_strategy_result *s, const void *arg)
{
    return type_bytes(s, arg);
}

static void print_header_row(const ph_report *r, FILE *f)
{
    print_label(f, "");
    for (size_t i = 0; i < r->n_strategies; i++)
        fprintf(f, " %*s", COL_W - 1, r->strategies[i].name);
    fputc('\n', f);
}

ph_err ph_report_print_gc(const ph_report *r, FILE *f)
{
    if (!r->options.gc_model[0] || !r->n_strategies)
        return PH_OK;
    fprintf(f, "\nGC model %s: a freed block stays allocated until a collection, at the heap "
               "goal\n(live after the last collection x (1 + GOGC/100), at least 4 MiB x "
               "GOGC/100; every 2 min at least)\n\n", r->options.gc_model);
    print_header_row(r, f);
    print_label(f, "collections");
    for (size_t i = 0; i < r->n_strategies; i++)
        fprintf(f, " %*" PRIu64, COL_W - 1, r->strategies[i].gc_collections);
    fputc('\n', f);
    print_bytes_cells(r, f, "peak heap (live + garbage)",
                      offsetof(ph_strategy_result, peak_live_bytes));
    print_label(f, "write buffers at the peak");
    for (size_t i = 0; i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        char b[32], cell[48];
        ph_format_bytes(s->wbuf_at_peak_bytes, b, sizeof b);
        snprintf(cell, sizeof cell, "%s (%.0f%%)", b, pct(s->wbuf_at_peak_bytes, s->peak_live_bytes));
        fprintf(f, " %*s", COL_W - 1, cell);
    }
    fputc('\n', f);
    print_label(f, "heap after last collection");
    for (size_t i = 0; i < r->n_strategies; i++) {
        char b[32] = "-";
        if (r->strategies[i].gc_collections)
            ph_format_bytes(r->strategies[i].gc_live_after_last_bytes, b, sizeof b);
        fprintf(f, " %*s", COL_W - 1, b);
    }
    fputc('\n', f);
    print_bytes_cells(r, f, "most garbage at once",
                      offsetof(ph_strategy_result, gc_peak_garbage_bytes));
    print_bytes_cells(r, f, "garbage collected",
                      offsetof(ph_strategy_result, gc_released_bytes));
    print_bytes_cells(r, f, "garbage left at the end",
                      offsetof(ph_strategy_result, gc_end_garbage_bytes));
    fprintf(f, "bytes allocated by row (alloc_space)\n");
    for (unsigned row = 0; row < PH_REPORT_ROWS; row++)
        print_share_row(f, ph_report_row_name(row), r, row_part, &row);
    char names[6][PH_REPORT_NAME_MAX];
    size_t nt = top_type_names(r, 6, names);
    fprintf(f, "bytes allocated by message type (alloc_space)\n");
    for (size_t t = 0; t < nt; t++)
        print_share_row(f, names[t], r, type_part, names[t]);
    return ferror(f) ? PH_ERR_IO : PH_OK;
}

/* Peer counts of the sweep in increasing order of first appearance. */
static size_t sweep_counts(const ph_report *r, uint64_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_sweep; i++) {
        size_t k = 0;
        while (k < n && out[k] != r->sweep[i].peers)
            k++;
        if (k == n && n < cap)
            out[n++] = r->sweep[i].peers;
    }
    return n;
}

static const ph_sweep_point *sweep_at(const ph_report *r, const char *name, uint64_t peers)
{
    for (size_t i = 0; i < r->n_sweep; i++)
        if (r->sweep[i].peers == peers && strcmp(r->sweep[i].name, name) == 0)
            return &r->sweep[i];
    return NULL;
}

enum sweep_fig { SW_HELD, SW_END, SW_PEAK, SW_RATE };

static void sweep_cell(const ph_sweep_point *p, enum sweep_fig fig, char *buf, size_t len)
{
    if (!p) {
        snprintf(buf, len, "-");
        return;
    }
    switch (fig) {
    case SW_HELD: ph_format_bytes(p->held_bytes_per_peer, buf, len); break;
    case SW_END: ph_format_bytes(p->end_live_bytes, buf, len); break;
    case SW_PEAK: ph_format_bytes(p->peak_live_bytes, buf, len); break;
    case SW_RATE: snprintf(buf, len, "%.0f", p->writes_per_second); break;
    }
}

ph_err ph_report_print_sweep(const ph_report *r, FILE *f)
{
    if (!r->n_sweep)
        return PH_OK;
    uint64_t counts[64];
    size_t nc = sweep_counts(r, counts, 64);
    char names[16][PH_REPORT_NAME_MAX];
    size_t nn = 0;
    for (size_t i = 0; i < r->n_sweep && nn < 16; i++) {
        size_t k = 0;
        while (k < nn && strcmp(names[k], r->sweep[i].name) != 0)
            k++;
        if (k == nn)
            snprintf(names[nn++], PH_REPORT_NAME_MAX, "%s", r->sweep[i].name);
    }
    static const struct {
        enum sweep_fig fig;
        const char *label;
    } figs[] = {
        {SW_HELD, "held per peer"},
        {SW_END, "end live"},
        {SW_PEAK, "peak live"},
        {SW_RATE, "writes/s"},
    };
    fprintf(f, "\nsweep: each peer count is its own replay\n");
    for (size_t g = 0; g < sizeof figs / sizeof figs[0]; g++) {
        fprintf(f, "%-20s", figs[g].label);
        for (size_t c = 0; c < nc; c++) {
            char h[32];
            snprintf(h, sizeof h, "%" PRIu64 " peer%s", counts[c], counts[c] == 1 ? "" : "s");
            fprintf(f, " %12s", h);
        }
        fputc('\n', f);
        for (size_t k = 0; k < nn; k++) {
            fprintf(f, "  %-18s", names[k]);
            for (size_t c = 0; c < nc; c++) {
                char cell[32];
                sweep_cell(sweep_at(r, names[k], counts[c]), figs[g].fig, cell, sizeof cell);
                fprintf(f, " %12s", cell);
            }
            fputc('\n', f);
        }
    }
    return ferror(f) ? PH_ERR_IO : PH_OK;
}

static bool holds_per_peer(const ph_strategy_result *s)
{
    for (size_t i = 0; i < s->n_peers_end; i++)
        if (s->peers_end[i].wbuf_bytes)
            return true;
    return false;
}

/* Index of the costliest peer not yet in `taken` (n entries). */
static size_t next_costliest(const ph_strategy_result *s, const size_t *taken, size_t n)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < s->n_peers_end; i++) {
        bool t = false;
        for (size_t j = 0; j < n; j++)
            t |= taken[j] == i;
        if (!t && (best == SIZE_MAX || s->peers_end[i].held_bytes > s->peers_end[best].held_bytes))
            best = i;
    }
    return best;
}

static void print_top_types(const ph_strategy_result *s, size_t n, FILE *f)
{
    fprintf(f, "  %-8s", s->name);
    size_t *taken = calloc(n ? n : 1, sizeof *taken);
    if (!taken)
        return;
    for (size_t k = 0; k < n; k++) {
        size_t best = SIZE_MAX;
        for (size_t t = 0; t < s->n_types; t++) {
            bool used = false;
            for (size_t j = 0; j < k; j++)
                used |= taken[j] == t;
            if (!used && (best == SIZE_MAX ||
                          s->types[t].bytes_allocated > s->types[best].bytes_allocated))
                best = t;
        }
        if (best == SIZE_MAX || !s->types[best].bytes_allocated)
            break;
        taken[k] = best;
        char b[32];
        ph_format_bytes(s->types[best].bytes_allocated, b, sizeof b);
        fprintf(f, "%s %s %s (%.1f%%, %" PRIu64 " allocations)", k ? ";" : "",
                s->types[best].name, b, pct(s->types[best].bytes_allocated, s->bytes_allocated),
                s->types[best].allocations);
    }
    fputc('\n', f);
    free(taken);
}

static void print_top_peers(const ph_strategy_result *s, size_t n, FILE *f)
{
    fprintf(f, "  %-8s", s->name);
    size_t *taken = calloc(n ? n : 1, sizeof *taken);
    if (!taken)
        return;
    for (size_t k = 0; k < n && k < s->n_peers_end; k++) {
        size_t i = next_costliest(s, taken, k);
        taken[k] = i;
        const ph_peer_end *p = &s->peers_end[i];
        char h[32], w[32];
        ph_format_bytes(p->held_bytes, h, sizeof h);
        ph_format_bytes(p->wbuf_bytes, w, sizeof w);
        fprintf(f, "%s peer %zu %s (%s in %" PRIu64 " buffer%s)", k ? ";" : "", i, h, w,
                p->buffers, p->buffers == 1 ? "" : "s");
    }
    fputc('\n', f);
    free(taken);
}

ph_err ph_report_print_top(const ph_report *r, size_t n, FILE *f)
{
    if (!n || !r->n_strategies)
        return PH_OK;
    fprintf(f, "\ntop %zu message types by bytes allocated in the replay phase:\n", n);
    for (size_t i = 0; i < r->n_strategies; i++)
        print_top_types(&r->strategies[i], n, f);
    bool any = false;
    for (size_t i = 0; i < r->n_strategies; i++)
        any |= holds_per_peer(&r->strategies[i]);
    if (any) {
        fprintf(f, "top %zu peers by heap held at the end (strategies holding write buffers "
                   "per peer):\n", n);
        for (size_t i = 0; i < r->n_strategies; i++)
            if (holds_per_peer(&r->strategies[i]))
                print_top_peers(&r->strategies[i], n, f);
    } else {
        fprintf(f, "no strategy holds write buffers per peer at the end\n");
    }
    return ferror(f) ? PH_ERR_IO : PH_OK;
}
