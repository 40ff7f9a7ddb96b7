/* lib/replay/gate: what makes a report incomparable with its baseline, and
 * the judgement: one allocation over is a failure at 0%, a tolerance lets
 * it pass, an improvement beyond it is flagged, drift is never judged, the
 * worst regression is the largest relative one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gate.h"

static const char SHA_A[] = "9879ae8b0539044423013e0a6e608614cd84839c90569b777f1252cae916c22f";
static const char SHA_B[] = "ed1d95233d1624078df536bf0d808f4cf5e9bc7bd6c66148bb8cd10acaf1bcb4";

static ph_report *report(void)
{
    ph_report *r;
    assert_int_equal(ph_report_create(&r), PH_OK);
    assert_int_equal(ph_report_add_file(r, "captures/a.pcap", SHA_A), PH_OK);
    r->options.peers = 4;
    snprintf(r->options.encode, sizeof r->options.encode, "stored");
    const char *names[] = {"fresh", "exact"};
    for (int i = 0; i < 2; i++) {
        ph_strategy_result s = {0};
        snprintf(s.name, sizeof s.name, "%s", names[i]);
        s.writes = 1000;
        s.allocations = 1000;
        s.bytes_allocated = 100000;
        s.peak_live_bytes = 50000;
        s.end_live_bytes = 3000;
        s.cpu_seconds = 1.0;
        s.rows[1].allocations = 1000;
        assert_int_equal(ph_strategy_result_add_type(&s, "channel_update", 990, 990, 99000),
                         PH_OK);
        assert_int_equal(ph_report_add_strategy(r, &s), PH_OK);
        ph_strategy_result_clear(&s);
    }
    return r;
}

static ph_strategy_result *strat(ph_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_strategies; i++)
        if (!strcmp(r->strategies[i].name, name))
            return &r->strategies[i];
    fail();
    return NULL;
}

static void test_differences(void **state)
{
    (void)state;
    ph_report *base = report(), *now = report();
    char why[1024];
    assert_int_equal(ph_gate_differences(base, now, why, sizeof why), 0);
    assert_string_equal(why, "");

    /* another capture: named by its digest and path */
    snprintf(now->input.files[0].sha256, sizeof now->input.files[0].sha256, "%s", SHA_B);
    snprintf(now->input.files[0].path, sizeof now->input.files[0].path, "captures/b.pcap");
    now->options.peers = 8;
    assert_int_equal(ph_gate_differences(base, now, why, sizeof why), 2);
    assert_non_null(strstr(why, "input 1: sha256 9879ae8b0539 in the baseline (captures/a.pcap), "
                                "ed1d95233d16 now (captures/b.pcap)"));
    assert_non_null(strstr(why, "options.peers: 4 in the baseline, 8 now"));

    /* the same file under another path is the same input */
    ph_report_destroy(now);
    now = report();
    snprintf(now->input.files[0].path, sizeof now->input.files[0].path, "/ci/a.pcap");
    assert_int_equal(ph_gate_differences(base, now, why, sizeof why), 0);

    /* strategies: a set, order free */
    ph_report *swapped;
    assert_int_equal(ph_report_create(&swapped), PH_OK);
    assert_int_equal(ph_report_add_file(swapped, "captures/a.pcap", SHA_A), PH_OK);
    swapped->options = base->options;
    swapped->options.types = NULL;
    swapped->options.filter = NULL;
    assert_int_equal(ph_report_add_strategy(swapped, &base->strategies[1]), PH_OK);
    assert_int_equal(ph_gate_differences(base, swapped, why, sizeof why), 1);
    assert_non_null(strstr(why, "strategies: fresh,exact in the baseline, exact now"));
    assert_int_equal(ph_report_add_strategy(swapped, &base->strategies[0]), PH_OK);
    assert_int_equal(ph_gate_differences(base, swapped, why, sizeof why), 0);
    ph_report_destroy(swapped);

    /* no digests (peer --stats-json): cannot be checked */
    now->input.n_files = 0;
    assert_int_equal(ph_gate_differences(base, now, why, sizeof why), 1);
    assert_non_null(strstr(why, "the report records no input digests"));
    /* a short buffer truncates, never overflows */
    char tiny[8];
    assert_int_equal(ph_gate_differences(base, now, tiny, sizeof tiny), 1);
    assert_int_equal(strlen(tiny), 7);
    ph_report_destroy(base);
    ph_report_destroy(now);
}

static size_t find(const ph_gate *g, const char *strategy, const char *metric)
{
    for (size_t i = 0; i < g->cmp->n_lines; i++)
        if (!strcmp(g->cmp->lines[i].strategy, strategy) &&
            !strcmp(g->cmp->lines[i].metric, metric))
            return i;
    fail();
    return 0;
}

static void test_judge(void **state)
{
    (void)state;
    ph_report *base = report(), *now = report();
    ph_gate *g;
    assert_int_equal(ph_gate_judge(base, now, 0, &g), PH_OK);
    assert_true(g->gated > 0);
    assert_int_equal(g->failed, 0);
    assert_int_equal(g->improved, 0);
    assert_true(g->worst == SIZE_MAX);
    ph_gate_destroy(g);

    /* one allocation more in exact's write buffers; fresh's times drift */
    ph_strategy_result *e = strat(now, "exact");
    e->allocations++;
    e->rows[1].allocations++;
    e->peak_live_bytes += 64;
    strat(now, "fresh")->cpu_seconds = 9.0;
    assert_int_equal(ph_gate_judge(base, now, 0, &g), PH_OK);
    assert_int_equal(g->failed, 3);
    assert_int_equal(g->result[find(g, "exact", "allocations_per_write")], PH_GATE_FAIL);
    assert_int_equal(g->result[find(g, "exact", "by_row.write_buffers.allocations")],
                     PH_GATE_FAIL);
    assert_int_equal(g->result[find(g, "exact", "peak_live_bytes")], PH_GATE_FAIL);
    assert_int_equal(g->result[find(g, "fresh", "cpu_seconds")], PH_GATE_UNGATED);
    assert_int_equal(g->result[find(g, "fresh", "allocations_per_write")], PH_GATE_PASS);
    /* +1 in 1000 is 0.1%, +64 in 50000 is 0.128%: the latter is the worst */
    assert_int_equal(g->worst, find(g, "exact", "peak_live_bytes"));
    ph_gate_destroy(g);

    /* within a tolerance of 0.2% all pass */
    assert_int_equal(ph_gate_judge(base, now, 0.2, &g), PH_OK);
    assert_int_equal(g->failed, 0);
    ph_gate_destroy(g);

    /* a figure that was 0 and grew is the worst, whatever its size */
    strat(now, "fresh")->rows[2].allocations = 1;
    assert_int_equal(ph_gate_judge(base, now, 0.2, &g), PH_OK);
    assert_int_equal(g->failed, 1);
    assert_int_equal(g->worst, find(g, "fresh", "by_row.queue.allocations"));
    ph_gate_destroy(g);

    /* a new message type with allocations is a regression from 0 */
    ph_report_destroy(now);
    now = report();
    assert_int_equal(ph_strategy_result_add_type(strat(now, "fresh"), "pong", 5, 5, 320), PH_OK);
    assert_int_equal(ph_gate_judge(base, now, 0, &g), PH_OK);
    assert_int_equal(g->failed, 1);
    assert_int_equal(g->result[find(g, "fresh", "by_type.pong.allocations")], PH_GATE_FAIL);
    ph_gate_destroy(g);

    /* fewer bytes: an improvement, which passes and is flagged */
    ph_report_destroy(now);
    now = report();
    strat(now, "fresh")->end_live_bytes = 2000;
    assert_int_equal(ph_gate_judge(base, now, 5, &g), PH_OK);
    assert_int_equal(g->failed, 0);
    assert_int_equal(g->improved, 1);
    assert_int_equal(g->best, find(g, "fresh", "end_live_bytes"));
    assert_int_equal(g->result[g->best], PH_GATE_IMPROVED);
    ph_gate_destroy(g);

    assert_int_equal(ph_gate_judge(base, now, -1, &g), PH_ERR_ARG);
    ph_report_destroy(base);
    ph_report_destroy(now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differences),
        cmocka_unit_test(test_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
