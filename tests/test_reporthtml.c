/* The HTML report's structure: one self-contained page (a CSP that loads
 * nothing, no script, the viewport for phones), every name escaped, the
 * sections that apply and only those, one bar chart per strategy with
 * per-peer figures, one GC chart per strategy that collected. The
 * browser test (tests/e2e/html_report.sh) looks at the rendered page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "reporthtml.h"

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *c = s; (c = strstr(c, what)); c++)
        n++;
    return n;
}

static ph_report *report(bool gc, bool sweep)
{
    ph_report *r;
    assert_int_equal(ph_report_create(&r), PH_OK);
    assert_int_equal(ph_report_add_capture(r, "cap<&>\".pcap"), PH_OK);
    r->options.peers = 4;
    if (gc)
        snprintf(r->options.gc_model, sizeof r->options.gc_model, "go:50");
    const char *names[] = {"fresh", "reuse", "ring"};
    for (int i = 0; i < 3; i++) {
        ph_strategy_result s = {0};
        snprintf(s.name, sizeof s.name, "%s", names[i]);
        s.writes = 100;
        s.allocations = 10;
        s.bytes_allocated = 1000000;
        s.rows[1].bytes_allocated = 900000;
        s.peak_live_bytes = 4u << 20;
        s.wbuf_at_peak_bytes = 3u << 20;
        assert_int_equal(ph_strategy_result_add_type(&s, "channel_update", 50, 5, 800000), PH_OK);
        assert_int_equal(ph_strategy_result_add_type(&s, "<weird>", 1, 1, 10), PH_OK);
        for (int k = 0; k < 20; k++) {
            ph_sample p = {.t = k * 0.1, .live_bytes = (uint64_t)k << 16};
            assert_int_equal(ph_strategy_result_add_sample(&s, &p), PH_OK);
        }
        if (i < 2) { /* ring: no per-peer figures */
            ph_peer_end pe[4] = {{70000, 65535, 0, 1}, {3000, 0, 0, 0}, {70001, 65535, 0, 1},
                                 {3001, 0, 9, 0}};
            assert_int_equal(ph_strategy_result_set_peers_end(&s, pe, 4), PH_OK);
        }
        if (gc && i == 0) {
            s.gc_collections = 2;
            for (uint64_t k = 1; k <= 2; k++) {
                ph_gc_event e = {.index = k, .goal = 4u << 20, .heap_before = 4u << 20,
                                 .heap_after = 1u << 20, .wbuf_bytes = 3u << 20};
                assert_int_equal(ph_strategy_result_add_gc_event(&s, &e), PH_OK);
            }
        }
        assert_int_equal(ph_report_add_strategy(r, &s), PH_OK);
        if (sweep)
            for (uint64_t n = 1; n <= 100; n *= 10)
                assert_int_equal(ph_report_add_sweep(r, n, &s), PH_OK);
        ph_strategy_result_clear(&s);
    }
    return r;
}

static char *html(const ph_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(ph_report_write_html(r, f), PH_OK);
    fclose(f);
    return buf;
}

static void test_self_contained_and_escaped(void **state)
{
    (void)state;
    ph_report *r = report(false, false);
    char *h = html(r);
    assert_true(strncmp(h, "<!DOCTYPE html>\n<html lang=\"en\">", 32) == 0);
    assert_non_null(strstr(h, "content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    assert_non_null(strstr(h, "name=\"viewport\" content=\"width=device-width, initial-scale=1\""));
    assert_non_null(strstr(h, "@media print"));
    assert_non_null(strstr(h, "@media (max-width:600px)"));
    assert_null(strstr(h, "<script"));
    assert_null(strstr(h, "<link"));
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "https://"));
    assert_non_null(strstr(h, "cap&lt;&amp;&gt;&quot;.pcap"));
    assert_null(strstr(h, "cap<&"));
    assert_non_null(strstr(h, "&lt;weird&gt;"));
    assert_true(strstr(h, "</html>\n") == h + strlen(h) - 8);
    free(h);
    ph_report_destroy(r);
}

static void test_sections(void **state)
{
    (void)state;
    ph_report *r = report(false, false);
    char *h = html(r);
    for (const char *const *id = (const char *const[]){"summary", "table", "timeline", "peers",
                                                        "breakdown", NULL};
         *id; id++) {
        char want[64];
        snprintf(want, sizeof want, "id=\"%s\"", *id);
        if (!strstr(h, want))
            fail_msg("no section %s", *id);
    }
    assert_null(strstr(h, "id=\"sweep\""));
    assert_null(strstr(h, "id=\"gc\""));
    /* the timeline and a bar chart for each strategy with per-peer figures */
    assert_int_equal(count(h, "<svg"), 1 + 2);
    assert_non_null(strstr(h, "fresh: heap held per peer at the end"));
    assert_null(strstr(h, "ring: heap held per peer"));
    /* the table: a header cell per strategy, a row per figure */
    assert_non_null(strstr(h, "<th>fresh</th><th>reuse</th><th>ring</th>"));
    assert_non_null(strstr(h, "<tr><td>peak live</td><td>4.0 MiB</td>"));
    free(h);
    ph_report_destroy(r);

    r = report(true, true);
    h = html(r);
    assert_non_null(strstr(h, "id=\"sweep\""));
    assert_non_null(strstr(h, "id=\"gc\""));
    assert_non_null(strstr(h, "The Go GC model: go:50"));
    assert_non_null(strstr(h, "fresh: 2 collections"));
    assert_null(strstr(h, "reuse: 0 collections"));
    /* timeline, sweep, two bar charts, one GC chart */
    assert_int_equal(count(h, "<svg"), 1 + 1 + 2 + 1);
    assert_non_null(strstr(h, "<td>reuse</td><td>100</td>"));
    free(h);
    ph_report_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_contained_and_escaped),
        cmocka_unit_test(test_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
