#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "report.h"

static ph_report *sample_report(void)
{
    ph_report *r;
    assert_int_equal(ph_report_create(&r), PH_OK);
    assert_int_equal(ph_report_add_capture(r, "captures/x.pcap"), PH_OK);
    r->input.sessions = 1;
    r->input.messages = 100;
    r->input.message_bytes = 20000;
    r->options.peers = 500;
    const char *names[] = {"fresh", "exact", "reuse"};
    for (int i = 0; i < 3; i++) {
        ph_strategy_result s = {0};
        snprintf(s.name, sizeof s.name, "%s", names[i]);
        s.writes = 50000;
        s.allocations = i == 2 ? 500 : 50000;
        s.bytes_allocated = i == 0 ? 50000ull * 65536 : i == 1 ? 50000ull * 256 : 500ull * 65536;
        s.held_bytes_per_peer = i == 2 ? 65536 : 0;
        s.wbuf_bytes_requested = s.bytes_allocated;
        s.rows[1].allocations = s.allocations;
        s.rows[1].bytes_allocated = s.bytes_allocated;
        s.rows[1].end_live_bytes = i == 2 ? 500ull * 65536 : 0;
        s.rows[3].allocations = 7;
        s.peak_live_bytes = 1000000 + (uint64_t)i;
        s.cpu_seconds = 0.25;
        s.writes_per_second = 200000;
        assert_int_equal(ph_strategy_result_add_type(&s, "channel_update", 40000, 40000, 1234), PH_OK);
        assert_int_equal(ph_strategy_result_add_type(&s, "ping", 10, 10, 10), PH_OK);
        assert_int_equal(ph_strategy_result_add_type(&s, "ping", 1, 1, 1), PH_OK);
        for (int k = 0; k < 200; k++) {
            ph_sample p = {.t = k * 0.01, .live_bytes = (uint64_t)k * 1000 * (unsigned)(i + 1),
                           .queued_bytes = 7};
            assert_int_equal(ph_strategy_result_add_sample(&s, &p), PH_OK);
        }
        assert_int_equal(ph_report_add_strategy(r, &s), PH_OK);
        ph_strategy_result_clear(&s);
    }
    return r;
}

static char *render(ph_err (*fn)(const ph_report *, FILE *), const ph_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(r, f), PH_OK);
    fclose(f);
    return buf;
}

static void test_table_and_verdict(void **state)
{
    (void)state;
    ph_report *r = sample_report();
    char *t = render(ph_report_print_table, r);
    assert_non_null(strstr(t, "peers: 500"));
    assert_non_null(strstr(t, "fresh"));
    assert_non_null(strstr(t, "3.1 GiB")); /* fresh: 50,000 x 64 KiB */
    assert_non_null(strstr(t, "(x0.0039)")); /* exact: 256 B / 64 KiB of fresh */
    assert_non_null(strstr(t, "reuse holds 64.0 KiB x 500 peers = 31.2 MiB idle"));
    assert_non_null(strstr(t, "exact allocates 0.391% of fresh's write-buffer bytes"));
    free(t);
    ph_report_destroy(r);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    ph_report *r = sample_report();
    char *j = render(ph_report_write_json, r);
    ph_report *back;
    assert_int_equal(ph_report_read_json(&back, j, strlen(j)), PH_OK);
    assert_int_equal(back->n_strategies, 3);
    assert_int_equal(back->options.peers, 500);
    assert_string_equal(back->input.captures[0], "captures/x.pcap");
    assert_int_equal(back->strategies[0].bytes_allocated, 50000ull * 65536);
    assert_true(back->strategies[1].cpu_seconds == 0.25);
    assert_int_equal(back->strategies[2].n_types, 2);
    assert_int_equal(back->strategies[2].types[1].writes, 11);
    assert_int_equal(back->strategies[2].rows[1].end_live_bytes, 500ull * 65536);
    assert_int_equal(back->strategies[1].rows[1].bytes_allocated, 50000ull * 256);
    assert_int_equal(back->strategies[0].rows[3].allocations, 7);
    free(j);
    ph_report_destroy(back);

    /* the child -> parent form carries the samples too */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ph_strategy_result_write_json(&r->strategies[1], f), PH_OK);
    fclose(f);
    ph_strategy_result s;
    assert_int_equal(ph_strategy_result_read_json(&s, buf, len), PH_OK);
    assert_int_equal(s.n_samples, 200);
    assert_int_equal(s.samples[199].live_bytes, 199u * 2000);
    assert_true(s.samples[100].t == 1.0);
    ph_strategy_result_clear(&s);
    free(buf);
    assert_int_equal(ph_report_read_json(&back, "{\"a\":1}", 7), PH_ERR_JSON);
    ph_report_destroy(r);
}

/* The node under study per session and the type list: written in the
 * header, read back, the types on the table's options line. */
static void test_sides_and_types(void **state)
{
    (void)state;
    ph_report *r = sample_report();
    ph_report_side a = {.session = 3, .node = "127.0.0.1:9735", .peer = "127.0.0.1:50412",
                        .role = "responder", .chosen_by = "bytes", .node_bytes = 1234567,
                        .session_bytes = 1240000, .messages = 5002};
    ph_report_side b = {.session = 9, .role = "sender", .chosen_by = "only", .node_bytes = 7,
                        .session_bytes = 7, .messages = 1};
    assert_int_equal(ph_report_add_side(r, &a), PH_OK);
    assert_int_equal(ph_report_add_side(r, &b), PH_OK);
    assert_int_equal(ph_report_set_types(r, "256,channel_update"), PH_OK);
    char *t = render(ph_report_print_table, r);
    assert_non_null(strstr(t, "  types: 256,channel_update\n"));
    free(t);
    char *j = render(ph_report_write_json, r);
    ph_report *back;
    assert_int_equal(ph_report_read_json(&back, j, strlen(j)), PH_OK);
    assert_int_equal(back->input.n_sides, 2);
    const ph_report_side *x = &back->input.sides[0], *y = &back->input.sides[1];
    assert_int_equal(x->session, 3);
    assert_string_equal(x->node, "127.0.0.1:9735");
    assert_string_equal(x->peer, "127.0.0.1:50412");
    assert_string_equal(x->role, "responder");
    assert_string_equal(x->chosen_by, "bytes");
    assert_int_equal(x->node_bytes, 1234567);
    assert_int_equal(x->session_bytes, 1240000);
    assert_int_equal(x->messages, 5002);
    assert_int_equal(y->session, 9);
    assert_string_equal(y->node, "");
    assert_string_equal(y->chosen_by, "only");
    assert_string_equal(back->options.types, "256,channel_update");
    ph_report_destroy(back);
    free(j);
    /* every type: no types line, "" in JSON, NULL read back */
    assert_int_equal(ph_report_set_types(r, NULL), PH_OK);
    t = render(ph_report_print_table, r);
    assert_null(strstr(t, "types:"));
    free(t);
    j = render(ph_report_write_json, r);
    assert_non_null(strstr(j, "\"types\": \"\""));
    assert_int_equal(ph_report_read_json(&back, j, strlen(j)), PH_OK);
    assert_null(back->options.types);
    ph_report_destroy(back);
    free(j);
    ph_report_destroy(r);
}

/* What a gate needs from a report read back: the input digests and every
 * replay option; and a report that cannot be gated is refused with a
 * reason naming where. */
static void test_digests_options_and_reasons(void **state)
{
    (void)state;
    ph_report *r = sample_report();
    const char *sha = "9879ae8b0539044423013e0a6e608614cd84839c90569b777f1252cae916c22f";
    assert_int_equal(ph_report_add_file(r, "captures/x.pcap", sha), PH_OK);
    assert_int_equal(ph_report_set_filter(r, "tcp port 9735"), PH_OK);
    r->options.pool_workers = 7;
    r->options.pool_expiry_seconds = 2.5;
    r->options.model_buffer = 8192;
    char *j = render(ph_report_write_json, r);
    /* pretty, keys in schema order: a baseline diff reads well */
    assert_non_null(strstr(j, "{\n  \"peerheap\": {\n    \"version\""));
    assert_true(strstr(j, "\"input\"") < strstr(j, "\"options\""));
    assert_true(strstr(j, "\"options\"") < strstr(j, "\"strategies\""));
    assert_null(strstr(j, "\"samples\"")); /* the time series is the CSV's */
    ph_report *back;
    char why[256];
    assert_int_equal(ph_report_parse(&back, j, strlen(j), why, sizeof why), PH_OK);
    assert_int_equal(back->input.n_files, 1);
    assert_string_equal(back->input.files[0].path, "captures/x.pcap");
    assert_string_equal(back->input.files[0].sha256, sha);
    assert_string_equal(back->options.filter, "tcp port 9735");
    assert_int_equal(back->options.pool_workers, 7);
    assert_true(back->options.pool_expiry_seconds == 2.5);
    assert_int_equal(back->options.model_buffer, 8192);
    ph_report_destroy(back);

    /* truncated: jansson's reason, one line */
    size_t cut = strlen(j) / 2;
    assert_int_equal(ph_report_parse(&back, j, cut, why, sizeof why), PH_ERR_JSON);
    assert_null(back);
    assert_non_null(strstr(why, "line "));
    assert_null(strchr(why, '\n'));

    /* a gated figure missing: named with its strategy */
    char *p = strstr(j, "\"peak_live_bytes\"");
    assert_non_null(p);
    memcpy(p + 1, "peak_live_bytez", 15);
    assert_int_equal(ph_report_parse(&back, j, strlen(j), why, sizeof why), PH_ERR_JSON);
    assert_string_equal(why, "strategies[0] (fresh): peak_live_bytes: missing");
    memcpy(p + 1, "peak_live_bytes", 15);

    /* a figure of the wrong kind */
    p = strstr(j, "\"writes\": 50000");
    assert_non_null(p);
    p += strlen("\"writes\": ");
    memcpy(p, "-1", 2); /* -1000 */
    assert_int_equal(ph_report_parse(&back, j, strlen(j), why, sizeof why), PH_ERR_JSON);
    assert_string_equal(why, "strategies[0] (fresh): writes: not a non-negative integer");
    memcpy(p, "50", 2);

    /* a bad digest */
    p = strstr(j, sha);
    p[3] = 'x';
    assert_int_equal(ph_report_parse(&back, j, strlen(j), why, sizeof why), PH_ERR_JSON);
    assert_string_equal(why, "input.files[0]: sha256: not 64 hex digits");
    p[3] = 'a';
    /* not a report at all */
    assert_int_equal(ph_report_parse(&back, "[1]", 3, why, sizeof why), PH_ERR_JSON);
    assert_non_null(strstr(why, "not a JSON object"));
    assert_int_equal(ph_report_parse(&back, j, strlen(j), why, sizeof why), PH_OK);
    ph_report_destroy(back);
    assert_int_equal(ph_report_load(&back, "/nonexistent/r.json", why, sizeof why), PH_ERR_IO);
    assert_string_equal(why, "No such file or directory");
    free(j);
    ph_report_destroy(r);
}

/* Every figure a gate compares must be there: a report without one is
 * refused naming it, whichever it is. */
static void test_gated_figures_required(void **state)
{
    (void)state;
    static const char *const gated[] = {
        "writes", "allocations", "bytes_allocated", "peak_live_bytes", "end_live_bytes",
        "held_bytes_per_peer", "wbuf_buffers_allocated", "wbuf_bytes_requested",
        "setup_allocations", "setup_bytes_allocated", "by_row", "by_type",
    };
    ph_report *r = sample_report();
    char *text = render(ph_report_write_json, r);
    for (size_t i = 0; i < sizeof gated / sizeof gated[0]; i++) {
        json_t *j;
        assert_int_equal(ph_json_parse(text, strlen(text), &j, NULL, 0), PH_OK);
        json_t *s1 = json_array_get(json_object_get(j, "strategies"), 1);
        assert_int_equal(json_object_del(s1, gated[i]), 0);
        char *cut = json_dumps(j, 0);
        ph_report *back;
        char why[200], want[200];
        assert_int_equal(ph_report_parse(&back, cut, strlen(cut), why, sizeof why), PH_ERR_JSON);
        snprintf(want, sizeof want, "strategies[1] (exact): %s: missing", gated[i]);
        assert_string_equal(why, want);
        free(cut);
        json_decref(j);
    }
    /* and a type's allocations */
    json_t *j;
    assert_int_equal(ph_json_parse(text, strlen(text), &j, NULL, 0), PH_OK);
    json_t *t = json_object_get(json_object_get(json_array_get(json_object_get(j, "strategies"), 0),
                                                "by_type"), "ping");
    assert_int_equal(json_object_del(t, "allocations"), 0);
    char *cut = json_dumps(j, 0), why[200];
    ph_report *back;
    assert_int_equal(ph_report_parse(&back, cut, strlen(cut), why, sizeof why), PH_ERR_JSON);
    assert_string_equal(why, "strategies[0] (fresh): by_type.ping.allocations: missing");
    free(cut);
    json_decref(j);
    free(text);
    ph_report_destroy(r);
}

static void test_csv_and_svg(void **state)
{
    (void)state;
    ph_report *r = sample_report();
    char *csv = render(ph_report_write_csv, r);
    size_t lines = 0;
    for (char *c = csv; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1 + 3 * 200);
    assert_non_null(strstr(csv, "time_s,strategy,live_bytes"));
    assert_non_null(strstr(csv, "\n1.990000,reuse,597000,0,0,7\n"));
    free(csv);
    char *svg = render(ph_report_write_svg, r);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "live heap (KiB)"));
    assert_non_null(strstr(svg, "wall time since the replay phase began"));
    size_t polylines = 0;
    for (char *c = svg; (c = strstr(c, "<polyline")); c++)
        polylines++;
    assert_int_equal(polylines, 3);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    ph_report_destroy(r);
}

static void test_format_bytes(void **state)
{
    (void)state;
    char b[32];
    ph_format_bytes(1023, b, sizeof b);
    assert_string_equal(b, "1023 B");
    ph_format_bytes(65536, b, sizeof b);
    assert_string_equal(b, "64.0 KiB");
    ph_format_bytes(3ull << 30, b, sizeof b);
    assert_string_equal(b, "3.0 GiB");
}

/* A GC-model sweep: the last count's strategies with GC figures, every
 * peer at the end, chosen peers' series, and the sweep's points. */
static ph_report *gc_sweep_report(void)
{
    ph_report *r = sample_report();
    snprintf(r->options.gc_model, sizeof r->options.gc_model, "go:100");
    for (size_t i = 0; i < r->n_strategies; i++) {
        ph_strategy_result *s = &r->strategies[i];
        s->peak_live_bytes = 8u << 20;
        s->wbuf_at_peak_bytes = i == 0 ? 6u << 20 : 512u << 10;
        s->gc_collections = i == 0 ? 3 : 0;
        s->gc_live_after_last_bytes = 1u << 20;
        s->gc_released_bytes = i == 0 ? 9u << 20 : 0;
        for (uint64_t k = 1; k <= s->gc_collections; k++) {
            ph_gc_event e = {.index = k, .t = 0.5 * (double)k, .goal = 4u << 20,
                             .heap_before = (4u << 20) + k, .heap_after = 1u << 20,
                             .wbuf_bytes = 3u << 20, .forced = k == 3};
            assert_int_equal(ph_strategy_result_add_gc_event(s, &e), PH_OK);
        }
        ph_peer_end pe[4];
        for (int k = 0; k < 4; k++)
            pe[k] = (ph_peer_end){.held_bytes = 3000u + (i == 2 ? 65536u : 0) + (unsigned)k,
                                  .wbuf_bytes = i == 2 ? 65535u : 0, .queued_bytes = 5,
                                  .buffers = i == 2 ? 1 : 0};
        assert_int_equal(ph_strategy_result_set_peers_end(s, pe, 4), PH_OK);
        ph_peer_series *ps;
        assert_int_equal(ph_strategy_result_add_peer_series(s, 3, &ps), PH_OK);
        for (size_t k = 0; k < s->n_samples; k++)
            ps->points[k] = (ph_peer_point){.held_bytes = 100 + k, .queued_bytes = k,
                                            .buffers = i == 2 ? 1 : 0};
    }
    static const uint64_t counts[] = {1, 10, 100, 1000};
    for (size_t c = 0; c < 4; c++)
        for (size_t i = 0; i < r->n_strategies; i++) {
            ph_strategy_result s = r->strategies[i];
            s.held_bytes_per_peer = i == 2 ? 68000 : 3300;
            s.end_live_bytes = s.held_bytes_per_peer * counts[c];
            s.peak_live_bytes = 2 * s.end_live_bytes;
            s.writes_per_second = 1000.0 * (double)(c + 1);
            assert_int_equal(ph_report_add_sweep(r, counts[c], &s), PH_OK);
        }
    return r;
}

/* Without the GC model and a sweep a report keeps its schema: no gc_model,
 * no gc_ figures or collections, no sweep; every peer's end figures are
 * there (measured every run). */
static void test_plain_report_schema(void **state)
{
    (void)state;
    ph_report *r = sample_report();
    ph_peer_end pe[2] = {{.held_bytes = 7}, {.held_bytes = 9, .buffers = 1}};
    assert_int_equal(ph_strategy_result_set_peers_end(&r->strategies[0], pe, 2), PH_OK);
    char *j = render(ph_report_write_json, r);
    assert_null(strstr(j, "gc_"));
    assert_null(strstr(j, "\"sweep\""));
    assert_non_null(strstr(j, "\"wbuf_at_peak_bytes\""));
    assert_non_null(strstr(j, "\"peers_end\""));
    ph_report *back;
    assert_int_equal(ph_report_read_json(&back, j, strlen(j)), PH_OK);
    free(j);
    assert_string_equal(back->options.gc_model, "");
    assert_int_equal(back->n_sweep, 0);
    assert_int_equal(back->strategies[0].n_peers_end, 2);
    assert_int_equal(back->strategies[0].peers_end[1].buffers, 1);
    ph_report_destroy(back);
    ph_report_destroy(r);
}

static void test_gc_sweep_peers_json(void **state)
{
    (void)state;
    ph_report *r = gc_sweep_report();
    char *j = render(ph_report_write_json, r);
    ph_report *back;
    assert_int_equal(ph_report_read_json(&back, j, strlen(j)), PH_OK);
    free(j);
    assert_string_equal(back->options.gc_model, "go:100");
    const ph_strategy_result *f = &back->strategies[0], *u = &back->strategies[2];
    assert_int_equal(f->wbuf_at_peak_bytes, 6u << 20);
    assert_int_equal(f->gc_collections, 3);
    assert_int_equal(f->gc_released_bytes, 9u << 20);
    assert_int_equal(f->n_gc_events, 3);
    assert_int_equal(f->gc_events[1].index, 2);
    assert_true(f->gc_events[1].t == 1.0);
    assert_int_equal(f->gc_events[2].heap_before, (4u << 20) + 3);
    assert_true(f->gc_events[2].forced && !f->gc_events[1].forced);
    assert_int_equal(u->n_peers_end, 4);
    assert_int_equal(u->peers_end[3].held_bytes, 3000u + 65536u + 3u);
    assert_int_equal(u->peers_end[3].wbuf_bytes, 65535);
    assert_int_equal(u->peers_end[3].buffers, 1);
    assert_int_equal(u->n_peer_series, 0); /* the report leaves series out */
    assert_int_equal(back->n_sweep, 12);
    assert_int_equal(back->sweep[11].peers, 1000);
    assert_string_equal(back->sweep[11].name, "reuse");
    assert_int_equal(back->sweep[11].end_live_bytes, 68000ull * 1000);
    assert_true(back->sweep[4].writes_per_second == 2000.0);
    ph_report_destroy(back);

    /* the child -> parent form carries the series */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_int_equal(ph_strategy_result_write_json(&r->strategies[2], fp), PH_OK);
    fclose(fp);
    ph_strategy_result s;
    assert_int_equal(ph_strategy_result_read_json(&s, buf, len), PH_OK);
    assert_int_equal(s.n_peer_series, 1);
    assert_int_equal(s.peer_series[0].peer, 3);
    assert_int_equal(s.peer_series[0].points[199].held_bytes, 299);
    assert_int_equal(s.peer_series[0].points[199].buffers, 1);
    ph_strategy_result copy;
    assert_int_equal(ph_strategy_result_copy(&copy, &s), PH_OK);
    assert_int_equal(copy.peer_series[0].points[5].queued_bytes, 5);
    assert_int_equal(copy.n_peers_end, 4);
    ph_strategy_result_clear(&copy);
    ph_strategy_result_clear(&s);
    /* the same result spoilt one member at a time is refused: a series whose
     * points do not match the samples, a short collection, a short peer row */
    static const char *const spoil[][2] = {
        {"peer_series", "[{\"peer\":1,\"points\":[]}]"},
        {"gc_events", "[[1,0.5,2,3]]"},
        {"peers_end", "[[1,2,3]]"},
        {"peers_end", "{}"},
    };
    for (size_t k = 0; k < sizeof spoil / sizeof spoil[0]; k++) {
        json_t *doc = json_loadb(buf, len, 0, NULL);
        assert_non_null(doc);
        assert_int_equal(json_object_set_new(doc, spoil[k][0], json_loads(spoil[k][1], 0, NULL)),
                         0);
        char *text = json_dumps(doc, JSON_COMPACT);
        assert_non_null(text);
        assert_int_equal(ph_strategy_result_read_json(&s, text, strlen(text)), PH_ERR_JSON);
        free(text);
        json_decref(doc);
    }
    free(buf);
    ph_report_destroy(r);
}

static void test_gc_sweep_top_tables(void **state)
{
    (void)state;
    ph_report *plain = sample_report();
    char *t = render(ph_report_print_gc, plain);
    assert_string_equal(t, ""); /* no GC model, no table */
    free(t);
    t = render(ph_report_print_sweep, plain);
    assert_string_equal(t, "");
    free(t);
    ph_report_destroy(plain);

    ph_report *r = gc_sweep_report();
    t = render(ph_report_print_gc, r);
    assert_non_null(strstr(t, "GC model go:100"));
    assert_non_null(strstr(t, "collections                                    3"));
    assert_non_null(strstr(t, "6.0 MiB (75%)"));  /* fresh: 6 of 8 MiB */
    assert_non_null(strstr(t, "512.0 KiB (6%)"));
    /* "-" where no collection ran */
    char l1[32], l2[32], l3[32], a1[32], a2[32], a3[32];
    const char *line = strstr(t, "heap after last collection ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "%31s %31s %31s %31s %31s %31s %31s", l1, l2, l3, a1, a2, a3, a3),
                     7);
    assert_string_equal(a1, "collection");
    assert_string_equal(a2, "1.0");
    assert_string_equal(a3, "-");
    assert_non_null(strstr(t, "  write_buffers                           100.0%"));
    assert_non_null(strstr(t, "  channel_update"));
    free(t);
    t = render(ph_report_print_sweep, r);
    assert_non_null(strstr(t, "held per peer              1 peer     10 peers    100 peers   1000 peers\n"));
    assert_non_null(strstr(t, "  reuse                  66.4 KiB     66.4 KiB     66.4 KiB     66.4 KiB\n"));
    assert_non_null(strstr(t, "  reuse                  66.4 KiB    664.1 KiB      6.5 MiB     64.8 MiB\n"));
    assert_non_null(strstr(t, "  fresh                      1000         2000         3000         4000\n"));
    free(t);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ph_report_print_top(r, 2, f), PH_OK);
    fclose(f);
    assert_non_null(strstr(buf, "top 2 message types by bytes allocated"));
    assert_non_null(strstr(buf, "  fresh    channel_update 1.2 KiB"));
    /* only reuse holds write buffers per peer: its costliest first */
    assert_non_null(strstr(buf, "  reuse    peer 3 66.9 KiB (64.0 KiB in 1 buffer); peer 2"));
    assert_null(strstr(buf, "  exact    peer"));
    free(buf);
    ph_report_destroy(r);
}

static void test_csv_peers_and_sweep_svg(void **state)
{
    (void)state;
    ph_report *r = gc_sweep_report();
    char *csv = render(ph_report_write_csv, r);
    size_t lines = 0;
    for (char *c = csv; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1 + 3 * 200 * 2); /* each strategy: aggregate + one peer */
    assert_non_null(strstr(csv, "queued_bytes,peer,buffers\n"));
    assert_non_null(strstr(csv, "\n1.990000,reuse,597000,0,0,7,,\n"));
    assert_non_null(strstr(csv, "\n1.990000,reuse,299,,,199,3,1\n"));
    free(csv);
    char *svg = render(ph_report_write_svg, r);
    assert_non_null(strstr(svg, "Memory against peers"));
    size_t polylines = 0, dashed = 0;
    for (char *c = svg; (c = strstr(c, "<polyline")); c++) {
        polylines++;
        char *end = strchr(c, '>'), *dash = strstr(c, "stroke-dasharray");
        dashed += dash && dash < end;
    }
    assert_int_equal(polylines, 6); /* peak and end, per strategy */
    assert_int_equal(dashed, 3);
    /* a log axis: a tick per decade */
    assert_non_null(strstr(svg, ">1</text>"));
    assert_non_null(strstr(svg, ">10</text>"));
    assert_non_null(strstr(svg, ">1000</text>"));
    assert_non_null(strstr(svg, ">100</text>"));
    assert_non_null(strstr(svg, "reuse end"));
    assert_non_null(strstr(svg, "live heap (MiB)"));
    free(svg);
    ph_report_destroy(r);
}

/* The one reader of figures by offset (the table and compare use it). */
static void test_strategy_result_figure(void **state)
{
    (void)state;
    ph_strategy_result s = {0};
    s.writes = 4;
    s.bytes_allocated = (uint64_t)1 << 53;
    s.rows[1].allocations = 7;
    s.cpu_seconds = 0.25;
    assert_true(ph_strategy_result_figure(&s, offsetof(ph_strategy_result, writes), false) == 4.0);
    assert_true(ph_strategy_result_figure(&s, offsetof(ph_strategy_result, bytes_allocated), false) ==
                9007199254740992.0);
    assert_true(ph_strategy_result_figure(&s, offsetof(ph_strategy_result, rows[1].allocations),
                                          false) == 7.0);
    assert_true(ph_strategy_result_figure(&s, offsetof(ph_strategy_result, cpu_seconds), true) == 0.25);
    assert_true(ph_strategy_result_figure(&s, offsetof(ph_strategy_result, end_live_bytes), false) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_and_verdict),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_sides_and_types),
        cmocka_unit_test(test_digests_options_and_reasons),
        cmocka_unit_test(test_gated_figures_required),
        cmocka_unit_test(test_csv_and_svg),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_plain_report_schema),
        cmocka_unit_test(test_gc_sweep_peers_json),
        cmocka_unit_test(test_gc_sweep_top_tables),
        cmocka_unit_test(test_csv_peers_and_sweep_svg),
        cmocka_unit_test(test_strategy_result_figure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
