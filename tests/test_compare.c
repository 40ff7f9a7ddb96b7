/* lib/replay/compare: figure lines per strategy both reports have, their
 * kinds, per-write values, types present in one report only, and the text
 * forms that must show a one-allocation change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "compare.h"

static void add(ph_report *r, const char *name, uint64_t writes, uint64_t allocs)
{
    ph_strategy_result s = {0};
    snprintf(s.name, sizeof s.name, "%s", name);
    s.writes = writes;
    s.allocations = allocs;
    s.bytes_allocated = allocs * 100;
    s.peak_live_bytes = 5000;
    s.cpu_seconds = 0.5;
    s.rows[1].allocations = allocs;
    assert_int_equal(ph_strategy_result_add_type(&s, "ping", 1, 1, 64), PH_OK);
    assert_int_equal(ph_report_add_strategy(r, &s), PH_OK);
    ph_strategy_result_clear(&s);
}

static const ph_cmp_line *find(const ph_comparison *c, const char *strategy, const char *metric)
{
    for (size_t i = 0; i < c->n_lines; i++)
        if (!strcmp(c->lines[i].strategy, strategy) && !strcmp(c->lines[i].metric, metric))
            return &c->lines[i];
    return NULL;
}

static void test_lines(void **state)
{
    (void)state;
    ph_report *a, *b;
    assert_int_equal(ph_report_create(&a), PH_OK);
    assert_int_equal(ph_report_create(&b), PH_OK);
    add(a, "fresh", 115248, 115280);
    add(a, "reuse", 100, 4);
    add(b, "exact", 1, 1);
    add(b, "fresh", 115248, 115281);
    /* a type only B has */
    assert_int_equal(ph_strategy_result_add_type(&b->strategies[1], "pong", 2, 2, 128), PH_OK);
    ph_comparison *c;
    assert_int_equal(ph_compare_reports(a, b, &c), PH_OK);

    /* only the strategy both have is compared; the others are listed */
    for (size_t i = 0; i < c->n_lines; i++)
        assert_string_equal(c->lines[i].strategy, "fresh");
    assert_int_equal(c->n_only_a, 1);
    assert_string_equal(c->only_a[0], "reuse");
    assert_int_equal(c->n_only_b, 1);
    assert_string_equal(c->only_b[0], "exact");

    const ph_cmp_line *l = find(c, "fresh", "allocations_per_write");
    assert_non_null(l);
    assert_int_equal(l->kind, PH_CMP_GATED);
    assert_true(l->a == 115280.0 / 115248 && l->b == 115281.0 / 115248);
    /* one allocation in 115,248 writes must be visible in the text */
    char a_text[48], b_text[48], d[80];
    ph_cmp_format(l, l->a, a_text, sizeof a_text);
    ph_cmp_format(l, l->b, b_text, sizeof b_text);
    assert_string_not_equal(a_text, b_text);
    ph_cmp_format_delta(l, d, sizeof d);
    assert_string_equal(d, "+0.000009 (+0.000867%)");

    l = find(c, "fresh", "by_row.write_buffers.allocations");
    assert_non_null(l);
    assert_int_equal(l->kind, PH_CMP_GATED);
    ph_cmp_format_delta(l, d, sizeof d);
    assert_string_equal(d, "+1 (+0.000867%)");
    assert_int_equal(find(c, "fresh", "cpu_seconds")->kind, PH_CMP_DRIFT);
    assert_int_equal(find(c, "fresh", "peak_resident_bytes")->kind, PH_CMP_DRIFT);
    assert_int_equal(find(c, "fresh", "writes")->kind, PH_CMP_INFO);
    assert_int_equal(find(c, "fresh", "setup_allocations")->kind, PH_CMP_GATED);
    assert_int_equal(find(c, "fresh", "by_type.ping.allocations")->kind, PH_CMP_GATED);
    assert_int_equal(find(c, "fresh", "by_type.ping.bytes_allocated")->kind, PH_CMP_INFO);

    /* pong: absent in A, its value there 0; growth from 0 reads "new" */
    l = find(c, "fresh", "by_type.pong.allocations");
    assert_non_null(l);
    assert_false(l->in_a);
    assert_true(l->in_b);
    assert_true(l->a == 0 && l->b == 2);
    assert_true(isinf(ph_cmp_relative(l)));
    ph_cmp_format_delta(l, d, sizeof d);
    assert_string_equal(d, "+2 (new)");

    /* unchanged figures read "0" */
    ph_cmp_format_delta(find(c, "fresh", "peak_live_bytes"), d, sizeof d);
    assert_string_equal(d, "0");
    ph_comparison_destroy(c);

    /* a report against itself: nothing differs */
    assert_int_equal(ph_compare_reports(a, a, &c), PH_OK);
    assert_true(c->n_lines > 0);
    for (size_t i = 0; i < c->n_lines; i++)
        assert_true(c->lines[i].a == c->lines[i].b);
    ph_comparison_destroy(c);
    ph_report_destroy(a);
    ph_report_destroy(b);
}

static void test_relative(void **state)
{
    (void)state;
    ph_cmp_line l = {.unit = PH_CMP_BYTES, .a = 200, .b = 100};
    assert_true(ph_cmp_delta(&l) == -100);
    assert_true(ph_cmp_relative(&l) == -0.5);
    char d[80];
    ph_cmp_format_delta(&l, d, sizeof d);
    assert_string_equal(d, "-100 (-50%)");
    l.a = l.b = 0;
    assert_true(ph_cmp_relative(&l) == 0);
    l.unit = PH_CMP_SECONDS;
    l.a = 1.25;
    l.b = 1.0;
    ph_cmp_format(&l, l.a, d, sizeof d);
    assert_string_equal(d, "1.250");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_relative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
