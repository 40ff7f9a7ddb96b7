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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
