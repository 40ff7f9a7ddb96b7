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
    free(r->input.files);
    free(r->options.types);
    free(r->options.filter);
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
    U64F(concurrent),
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

static json_t *strategy_json(const ph_strategy_result *s, bool with_samples, bool *failed)
{
    json_t *o = json_object();
    ph_json_put(o, "name", json_string(s->name), failed);
    for (size_t i = 0; i < N_FIELDS(u64_fields); i++)
        ph_json_put(o, u64_fields[i].key, ph_json_u64(get_u64_at(s, u64_fields[i].offset)),
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
    json_t *j = strategy_json(s, true, &failed);
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
    ph_json_put(o, "jobs", ph_json_u64(op->jobs), failed);
    return o;
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
        ph_json_append(st, strategy_json(&r->strategies[i], false, &failed), &failed);
    ph_json_put(j, "strategies", st, &failed);
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
        err = read_samples(rd, s, o);
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
