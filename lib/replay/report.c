/* Replay reports: storage, table, JSON (write and read back), CSV and SVG. */
#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

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
    free(r->options.types);
    for (size_t i = 0; i < r->n_strategies; i++)
        ph_strategy_result_clear(&r->strategies[i]);
    free(r->strategies);
    free(r);
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

static void *dup_array(const void *src, size_t n, size_t size)
{
    if (!n)
        return NULL;
    void *d = malloc(n * size);
    if (d)
        memcpy(d, src, n * size);
    return d;
}

ph_err ph_report_add_strategy(ph_report *r, const ph_strategy_result *s)
{
    ph_strategy_result *a = realloc(r->strategies, (r->n_strategies + 1) * sizeof *a);
    if (!a)
        return PH_ERR_NOMEM;
    r->strategies = a;
    ph_strategy_result *d = &a[r->n_strategies];
    *d = *s;
    d->types = dup_array(s->types, s->n_types, sizeof *s->types);
    d->samples = dup_array(s->samples, s->n_samples, sizeof *s->samples);
    if ((s->n_types && !d->types) || (s->n_samples && !d->samples)) {
        free(d->types);
        free(d->samples);
        return PH_ERR_NOMEM;
    }
    r->n_strategies++;
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

static double field_value(const ph_strategy_result *s, const struct row *row)
{
    const char *base = (const char *)s + row->offset;
    if (row->is_double) {
        double d;
        memcpy(&d, base, sizeof d);
        return d;
    }
    uint64_t u;
    memcpy(&u, base, sizeof u);
    return (double)u;
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
        used += (size_t)snprintf(buf + used, len - used, "%s holds %s x %" PRIu64 " peers = %s idle",
                                 most_held->name, per, r->options.peers, total);
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

static void write_u64_field(ph_json_writer *w, const char *key, uint64_t v)
{
    ph_jw_key(w, key);
    ph_jw_u64(w, v);
}

static void write_double_field(ph_json_writer *w, const char *key, double v)
{
    ph_jw_key(w, key);
    ph_jw_double(w, v);
}

/* Field tables shared by the writer and the reader so the two never drift. */
struct u64_field {
    const char *key;
    size_t offset;
};
#define U64F(f) {#f, offsetof(ph_strategy_result, f)}
static const struct u64_field u64_fields[] = {
    U64F(writes), U64F(write_bytes), U64F(allocations), U64F(bytes_allocated), U64F(bytes_freed),
    U64F(peak_live_bytes), U64F(end_live_bytes), U64F(held_bytes_per_peer),
    U64F(peak_active_bytes), U64F(peak_resident_bytes), U64F(peak_queued_bytes), U64F(dropped),
    U64F(disconnected), U64F(decode_errors), U64F(setup_allocations), U64F(setup_bytes_allocated),
    U64F(setup_live_bytes), U64F(wbuf_buffers_allocated), U64F(wbuf_bytes_requested),
    U64F(wbuf_peak_held_bytes), U64F(verified), U64F(mismatches), U64F(partial_writes),
    U64F(would_block), U64F(remote_allocations), U64F(remote_bytes_allocated),
    U64F(remote_bytes_freed), U64F(jemalloc_bytes_allocated), U64F(jemalloc_bytes_freed),
    U64F(concurrent),
};
#define DBLF(f) {#f, offsetof(ph_strategy_result, f)}
static const struct u64_field double_fields[] = {
    DBLF(cpu_seconds), DBLF(wall_seconds), DBLF(writes_per_second), DBLF(mib_per_second),
    DBLF(virtual_seconds),
};

const char *ph_report_row_name(unsigned row)
{
    static const char *const names[PH_REPORT_ROWS] = {
        "other", "write_buffers", "queue", "decode", "session",
    };
    return row < PH_REPORT_ROWS ? names[row] : "?";
}

static void write_strategy(ph_json_writer *w, const ph_strategy_result *s, bool with_samples)
{
    ph_jw_object_begin(w);
    ph_jw_key(w, "name");
    ph_jw_string(w, s->name);
    for (size_t i = 0; i < sizeof u64_fields / sizeof u64_fields[0]; i++) {
        uint64_t v;
        memcpy(&v, (const char *)s + u64_fields[i].offset, sizeof v);
        write_u64_field(w, u64_fields[i].key, v);
    }
    for (size_t i = 0; i < sizeof double_fields / sizeof double_fields[0]; i++) {
        double v;
        memcpy(&v, (const char *)s + double_fields[i].offset, sizeof v);
        write_double_field(w, double_fields[i].key, v);
    }
    ph_jw_key(w, "verify");
    ph_jw_bool(w, s->verify);
    ph_jw_key(w, "by_row");
    ph_jw_object_begin(w);
    for (unsigned i = 0; i < PH_REPORT_ROWS; i++) {
        ph_jw_key(w, ph_report_row_name(i));
        ph_jw_object_begin(w);
        write_u64_field(w, "allocations", s->rows[i].allocations);
        write_u64_field(w, "bytes_allocated", s->rows[i].bytes_allocated);
        write_u64_field(w, "end_live_bytes", s->rows[i].end_live_bytes);
        ph_jw_object_end(w);
    }
    ph_jw_object_end(w);
    ph_jw_key(w, "by_type");
    ph_jw_object_begin(w);
    for (size_t i = 0; i < s->n_types; i++) {
        ph_jw_key(w, s->types[i].name);
        ph_jw_object_begin(w);
        write_u64_field(w, "writes", s->types[i].writes);
        write_u64_field(w, "allocations", s->types[i].allocations);
        write_u64_field(w, "bytes_allocated", s->types[i].bytes_allocated);
        ph_jw_object_end(w);
    }
    ph_jw_object_end(w);
    if (with_samples) {
        /* [t, live, active, resident, queued] rows keep the file compact */
        ph_jw_key(w, "samples");
        ph_jw_array_begin(w);
        for (size_t i = 0; i < s->n_samples; i++) {
            const ph_sample *p = &s->samples[i];
            ph_jw_array_begin(w);
            ph_jw_double(w, p->t);
            ph_jw_u64(w, p->live_bytes);
            ph_jw_u64(w, p->active_bytes);
            ph_jw_u64(w, p->resident_bytes);
            ph_jw_u64(w, p->queued_bytes);
            ph_jw_array_end(w);
        }
        ph_jw_array_end(w);
    }
    ph_jw_object_end(w);
}

static ph_err finish_writer(ph_json_writer *w, FILE *f)
{
    ph_jw_newline(w);
    ph_err err = ph_json_writer_error(w);
    ph_json_writer_destroy(w);
    if (!err && fflush(f))
        err = PH_ERR_IO;
    return err;
}

ph_err ph_strategy_result_write_json(const ph_strategy_result *s, FILE *f)
{
    ph_json_writer *w;
    ph_err err = ph_json_writer_create(&w, f, false);
    if (err)
        return err;
    write_strategy(w, s, true);
    return finish_writer(w, f);
}

ph_err ph_report_write_json(const ph_report *r, FILE *f)
{
    ph_json_writer *w;
    ph_err err = ph_json_writer_create(&w, f, true);
    if (err)
        return err;
    ph_jw_object_begin(w);
    ph_jw_key(w, "peerheap");
    ph_jw_object_begin(w);
    ph_jw_key(w, "version");
    ph_jw_string(w, r->version);
    ph_jw_object_end(w);

    ph_jw_key(w, "input");
    ph_jw_object_begin(w);
    ph_jw_key(w, "captures");
    ph_jw_array_begin(w);
    for (size_t i = 0; i < r->input.n_captures; i++)
        ph_jw_string(w, r->input.captures[i]);
    ph_jw_array_end(w);
    write_u64_field(w, "sessions", r->input.sessions);
    write_u64_field(w, "messages", r->input.messages);
    write_u64_field(w, "message_bytes", r->input.message_bytes);
    ph_jw_key(w, "sides");
    ph_jw_array_begin(w);
    for (size_t i = 0; i < r->input.n_sides; i++) {
        const ph_report_side *sd = &r->input.sides[i];
        ph_jw_object_begin(w);
        write_u64_field(w, "session", sd->session);
        ph_jw_key(w, "node");
        ph_jw_string(w, sd->node);
        ph_jw_key(w, "peer");
        ph_jw_string(w, sd->peer);
        ph_jw_key(w, "role");
        ph_jw_string(w, sd->role);
        ph_jw_key(w, "chosen_by");
        ph_jw_string(w, sd->chosen_by);
        write_u64_field(w, "node_bytes", sd->node_bytes);
        write_u64_field(w, "session_bytes", sd->session_bytes);
        write_u64_field(w, "messages", sd->messages);
        ph_jw_object_end(w);
    }
    ph_jw_array_end(w);
    ph_jw_object_end(w);

    ph_jw_key(w, "options");
    ph_jw_object_begin(w);
    write_u64_field(w, "peers", r->options.peers);
    ph_jw_key(w, "sink");
    ph_jw_string(w, r->options.sink);
    ph_jw_key(w, "encode");
    ph_jw_string(w, r->options.encode);
    write_double_field(w, "linger_seconds", r->options.linger_seconds);
    ph_jw_key(w, "pace");
    ph_jw_string(w, r->options.pace);
    write_u64_field(w, "reader_rate", r->options.reader_rate);
    write_u64_field(w, "stalled", r->options.stalled);
    ph_jw_key(w, "from");
    ph_jw_string(w, r->options.from);
    write_u64_field(w, "queue_soft", r->options.queue_soft);
    write_u64_field(w, "queue_hard", r->options.queue_hard);
    ph_jw_key(w, "types");
    ph_jw_string(w, r->options.types ? r->options.types : "");
    write_u64_field(w, "jobs", r->options.jobs);
    ph_jw_object_end(w);

    ph_jw_key(w, "strategies");
    ph_jw_array_begin(w);
    for (size_t i = 0; i < r->n_strategies; i++)
        write_strategy(w, &r->strategies[i], false);
    ph_jw_array_end(w);
    ph_jw_object_end(w);
    return finish_writer(w, f);
}

static void copy_str(char *dst, size_t cap, const ph_json *v)
{
    const char *s = ph_json_str(v, NULL);
    snprintf(dst, cap, "%s", s ? s : "");
}

static ph_err read_strategy(ph_strategy_result *s, const ph_json *o)
{
    memset(s, 0, sizeof *s);
    if (ph_json_type(o) != PH_JSON_OBJECT || !ph_json_str(ph_json_get(o, "name"), NULL))
        return PH_ERR_JSON;
    copy_str(s->name, sizeof s->name, ph_json_get(o, "name"));
    for (size_t i = 0; i < sizeof u64_fields / sizeof u64_fields[0]; i++) {
        uint64_t v = 0;
        const ph_json *j = ph_json_get(o, u64_fields[i].key);
        if (j && !ph_json_u64(j, &v))
            return PH_ERR_JSON;
        memcpy((char *)s + u64_fields[i].offset, &v, sizeof v);
    }
    for (size_t i = 0; i < sizeof double_fields / sizeof double_fields[0]; i++) {
        double v = 0;
        const ph_json *j = ph_json_get(o, double_fields[i].key);
        if (j && !ph_json_is_null(j) && !ph_json_double(j, &v))
            return PH_ERR_JSON;
        memcpy((char *)s + double_fields[i].offset, &v, sizeof v);
    }
    ph_json_bool(ph_json_get(o, "verify"), &s->verify);
    const ph_json *rowsj = ph_json_get(o, "by_row");
    for (unsigned i = 0; i < PH_REPORT_ROWS; i++) {
        const ph_json *rj = ph_json_get(rowsj, ph_report_row_name(i));
        ph_json_u64(ph_json_get(rj, "allocations"), &s->rows[i].allocations);
        ph_json_u64(ph_json_get(rj, "bytes_allocated"), &s->rows[i].bytes_allocated);
        ph_json_u64(ph_json_get(rj, "end_live_bytes"), &s->rows[i].end_live_bytes);
    }
    const ph_json *types = ph_json_get(o, "by_type");
    for (size_t i = 0; i < ph_json_len(types); i++) {
        const ph_json *t;
        const char *name = ph_json_key_at(types, i, &t);
        uint64_t wr = 0, al = 0, by = 0;
        ph_json_u64(ph_json_get(t, "writes"), &wr);
        ph_json_u64(ph_json_get(t, "allocations"), &al);
        ph_json_u64(ph_json_get(t, "bytes_allocated"), &by);
        if (ph_strategy_result_add_type(s, name, wr, al, by))
            return PH_ERR_NOMEM;
    }
    const ph_json *samples = ph_json_get(o, "samples");
    for (size_t i = 0; i < ph_json_len(samples); i++) {
        const ph_json *row = ph_json_at(samples, i);
        ph_sample p = {0};
        if (ph_json_len(row) != 5 || !ph_json_double(ph_json_at(row, 0), &p.t) ||
            !ph_json_u64(ph_json_at(row, 1), &p.live_bytes) ||
            !ph_json_u64(ph_json_at(row, 2), &p.active_bytes) ||
            !ph_json_u64(ph_json_at(row, 3), &p.resident_bytes) ||
            !ph_json_u64(ph_json_at(row, 4), &p.queued_bytes))
            return PH_ERR_JSON;
        if (ph_strategy_result_add_sample(s, &p))
            return PH_ERR_NOMEM;
    }
    return PH_OK;
}

ph_err ph_strategy_result_read_json(ph_strategy_result *out, const char *text, size_t len)
{
    ph_json *j;
    ph_err err = ph_json_parse(&j, text, len, NULL);
    if (err)
        return err;
    err = read_strategy(out, j);
    if (err)
        ph_strategy_result_clear(out);
    ph_json_free(j);
    return err;
}

static ph_err read_report(ph_report *r, const ph_json *j)
{
    if (!ph_json_get(j, "peerheap") || !ph_json_get(j, "strategies"))
        return PH_ERR_JSON;
    copy_str(r->version, sizeof r->version, ph_json_path(j, "peerheap.version"));
    const ph_json *in = ph_json_get(j, "input");
    const ph_json *caps = ph_json_get(in, "captures");
    for (size_t i = 0; i < ph_json_len(caps); i++) {
        const char *c = ph_json_str(ph_json_at(caps, i), NULL);
        if (c && ph_report_add_capture(r, c))
            return PH_ERR_NOMEM;
    }
    ph_json_u64(ph_json_get(in, "sessions"), &r->input.sessions);
    ph_json_u64(ph_json_get(in, "messages"), &r->input.messages);
    ph_json_u64(ph_json_get(in, "message_bytes"), &r->input.message_bytes);
    const ph_json *sides = ph_json_get(in, "sides");
    for (size_t i = 0; i < ph_json_len(sides); i++) {
        const ph_json *e = ph_json_at(sides, i);
        ph_report_side sd;
        memset(&sd, 0, sizeof sd);
        ph_json_u64(ph_json_get(e, "session"), &sd.session);
        copy_str(sd.node, sizeof sd.node, ph_json_get(e, "node"));
        copy_str(sd.peer, sizeof sd.peer, ph_json_get(e, "peer"));
        copy_str(sd.role, sizeof sd.role, ph_json_get(e, "role"));
        copy_str(sd.chosen_by, sizeof sd.chosen_by, ph_json_get(e, "chosen_by"));
        ph_json_u64(ph_json_get(e, "node_bytes"), &sd.node_bytes);
        ph_json_u64(ph_json_get(e, "session_bytes"), &sd.session_bytes);
        ph_json_u64(ph_json_get(e, "messages"), &sd.messages);
        if (ph_report_add_side(r, &sd))
            return PH_ERR_NOMEM;
    }
    const ph_json *o = ph_json_get(j, "options");
    ph_json_u64(ph_json_get(o, "peers"), &r->options.peers);
    copy_str(r->options.sink, sizeof r->options.sink, ph_json_get(o, "sink"));
    copy_str(r->options.encode, sizeof r->options.encode, ph_json_get(o, "encode"));
    {
        const ph_json *lj = ph_json_get(o, "linger_seconds");
        if (lj && !ph_json_double(lj, &r->options.linger_seconds))
            return PH_ERR_JSON;
    }
    copy_str(r->options.pace, sizeof r->options.pace, ph_json_get(o, "pace"));
    ph_json_u64(ph_json_get(o, "reader_rate"), &r->options.reader_rate);
    ph_json_u64(ph_json_get(o, "stalled"), &r->options.stalled);
    copy_str(r->options.from, sizeof r->options.from, ph_json_get(o, "from"));
    ph_json_u64(ph_json_get(o, "queue_soft"), &r->options.queue_soft);
    ph_json_u64(ph_json_get(o, "queue_hard"), &r->options.queue_hard);
    ph_json_u64(ph_json_get(o, "jobs"), &r->options.jobs);
    const char *types = ph_json_str(ph_json_get(o, "types"), NULL);
    if (types && types[0] && ph_report_set_types(r, types))
        return PH_ERR_NOMEM;
    const ph_json *st = ph_json_get(j, "strategies");
    for (size_t i = 0; i < ph_json_len(st); i++) {
        ph_strategy_result s;
        ph_err err = read_strategy(&s, ph_json_at(st, i));
        if (!err)
            err = ph_report_add_strategy(r, &s);
        ph_strategy_result_clear(&s);
        if (err)
            return err;
    }
    return PH_OK;
}

ph_err ph_report_read_json(ph_report **out, const char *text, size_t len)
{
    *out = NULL;
    ph_json *j;
    ph_err err = ph_json_parse(&j, text, len, NULL);
    if (err)
        return err;
    ph_report *r;
    if ((err = ph_report_create(&r))) {
        ph_json_free(j);
        return err;
    }
    err = read_report(r, j);
    ph_json_free(j);
    if (err) {
        ph_report_destroy(r);
        return err;
    }
    *out = r;
    return PH_OK;
}

/* ---- CSV ---- */

ph_err ph_report_write_csv(const ph_report *r, FILE *f)
{
    fprintf(f, "time_s,strategy,live_bytes,active_bytes,resident_bytes,queued_bytes\n");
    for (size_t i = 0; i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        for (size_t k = 0; k < s->n_samples; k++) {
            const ph_sample *p = &s->samples[k];
            fprintf(f, "%.6f,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", p->t, s->name,
                    p->live_bytes, p->active_bytes, p->resident_bytes, p->queued_bytes);
        }
    }
    return fflush(f) || ferror(f) ? PH_ERR_IO : PH_OK;
}

/* ---- SVG ---- */

static const char *const palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

/* A "nice" axis step: 1, 2 or 5 times a power of ten, giving about 5 ticks. */
static double nice_step(double range)
{
    if (range <= 0)
        return 1;
    double raw = range / 5;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double step = norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10;
    return step * mag;
}

static void svg_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

ph_err ph_report_write_svg(const ph_report *r, FILE *f)
{
    const double W = 980, H = 520, L = 90, R = 250, T = 50, B = 60;
    const double pw = W - L - R, ph = H - T - B;
    double tmax = 0, ymax = 0;
    for (size_t i = 0; i < r->n_strategies; i++)
        for (size_t k = 0; k < r->strategies[i].n_samples; k++) {
            const ph_sample *p = &r->strategies[i].samples[k];
            tmax = fmax(tmax, p->t);
            ymax = fmax(ymax, (double)p->live_bytes);
        }
    /* Pick the unit from the data so tick labels stay short. */
    const char *unit = "KiB";
    double div = 1024;
    if (ymax >= 1024.0 * 1024 * 1024) {
        unit = "GiB";
        div = 1024.0 * 1024 * 1024;
    } else if (ymax >= 1024.0 * 1024) {
        unit = "MiB";
        div = 1024.0 * 1024;
    }
    double ystep = nice_step(ymax / div);
    double ytop = ceil(ymax / div / ystep) * ystep;
    if (ytop <= 0)
        ytop = ystep;
    double tstep = nice_step(tmax);
    double ttop = ceil(tmax / tstep) * tstep;
    if (ttop <= 0)
        ttop = tstep;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">Live heap "
               "during replay (peers: %" PRIu64 ", sink: %s, pace: %s)</text>\n",
            L + pw / 2, r->options.peers, r->options.sink, r->options.pace);
    for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
        double py = T + ph - y / ytop * ph;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L,
                py, L + pw, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, py + 4, y);
    }
    for (double t = 0; t <= ttop + tstep / 2; t += tstep) {
        double px = L + t / ttop * pw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", px,
                T + ph, px, T + ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px,
                T + ph + 20, t);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"black\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">wall time since the "
               "replay phase began (s)</text>\n", L + pw / 2, H - 15);
    fprintf(f, "<text transform=\"translate(22,%.1f) rotate(-90)\" text-anchor=\"middle\">"
               "live heap (%s)</text>\n", T + ph / 2, unit);

    for (size_t i = 0; i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        const char *color = palette[i % (sizeof palette / sizeof palette[0])];
        if (s->n_samples) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
            for (size_t k = 0; k < s->n_samples; k++)
                fprintf(f, "%.1f,%.1f ", L + s->samples[k].t / ttop * pw,
                        T + ph - (double)s->samples[k].live_bytes / div / ytop * ph);
            fprintf(f, "\"/>\n");
        }
        double ly = T + 10 + 22.0 * (double)i;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"/>\n", L + pw + 15, ly, L + pw + 40, ly, color);
        char peak[32];
        ph_format_bytes(s->peak_live_bytes, peak, sizeof peak);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">", L + pw + 46, ly + 4);
        svg_escape(f, s->name);
        fprintf(f, " (peak %s)</text>\n", peak);
    }
    fprintf(f, "</svg>\n");
    return fflush(f) || ferror(f) ? PH_ERR_IO : PH_OK;
}
