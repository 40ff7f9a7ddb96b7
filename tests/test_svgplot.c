/* SVG charts: the byte unit follows the data, a log axis has a tick per
 * decade, legends escape their text, responsive charts carry only a
 * viewBox, markers and dashes where asked, bars in order and to scale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "svgplot.h"

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *c = s; (c = strstr(c, what)); c++)
        n++;
    return n;
}

static char *lines(const ph_svg_chart *c, const ph_svg_series *s, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(ph_svg_lines(f, c, s, n), PH_OK);
    fclose(f);
    return buf;
}

static void test_lines(void **state)
{
    (void)state;
    static const double x[] = {1, 10, 100, 1000}, y1[] = {1 << 20, 2 << 20, 3 << 20, 3 << 20},
                        y2[] = {0, 1024, 2048, 4096};
    ph_svg_series s[2] = {
        {.name = "a<b&c", .note = "(peak \"3\")", .n = 4, .x = x, .y = y1, .markers = true},
        {.name = "second", .n = 4, .x = x, .y = y2, .dashed = true, .color = "#123456"},
    };
    ph_svg_chart c = {.title = "T & <t>", .x_label = "peers", .y_label = "live heap",
                      .y_bytes = true, .x_log = true};
    char *svg = lines(&c, s, 2);
    assert_non_null(strstr(svg, "width=\"980\" height=\"520\""));
    assert_non_null(strstr(svg, "live heap (MiB)"));
    assert_non_null(strstr(svg, "T &amp; &lt;t&gt;"));
    assert_non_null(strstr(svg, "a&lt;b&amp;c (peak &quot;3&quot;)"));
    assert_null(strstr(svg, "a<b"));
    for (const char *const *t = (const char *const[]){">1</text>", ">10</text>", ">100</text>",
                                                       ">1000</text>", NULL}; *t; t++)
        if (!strstr(svg, *t))
            fail_msg("no tick %s", *t);
    assert_int_equal(count(svg, "<polyline"), 2);
    assert_int_equal(count(svg, "<circle"), 4);       /* markers on the first only */
    assert_int_equal(count(svg, "stroke-dasharray"), 2); /* its line and its legend */
    assert_non_null(strstr(svg, "stroke=\"#123456\""));
    assert_non_null(strstr(svg, ph_svg_color(0)));
    free(svg);

    /* responsive, a linear axis, small values in KiB, no series at all */
    c = (ph_svg_chart){.title = "t", .x_label = "s", .y_label = "y", .y_bytes = true,
                       .responsive = true, .font_size = 18};
    s[0].y = y2;
    svg = lines(&c, s, 1);
    assert_null(strstr(svg, "width=\"980\""));
    assert_non_null(strstr(svg, "viewBox=\"0 0 980 520\""));
    assert_non_null(strstr(svg, "font-size=\"18\""));
    assert_non_null(strstr(svg, "y (KiB)"));
    free(svg);
    svg = lines(&c, NULL, 0);
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    assert_string_equal(ph_svg_color(8), ph_svg_color(0));
}

static void test_bars(void **state)
{
    (void)state;
    ph_svg_bar b[5] = {{65536, NULL}, {32768, "#00ff00"}, {16384, NULL}, {0, NULL}, {65536, NULL}};
    ph_svg_chart c = {.title = "held", .x_label = "peers", .y_label = "held", .y_bytes = true,
                      .width = 500, .height = 300};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ph_svg_bars(f, &c, b, 5), PH_OK);
    fclose(f);
    /* background, five bars, the frame */
    assert_int_equal(count(buf, "<rect"), 7);
    assert_non_null(strstr(buf, "fill=\"#00ff00\""));
    assert_non_null(strstr(buf, "held (KiB)"));
    /* to scale: heights of bars 1..3 halve */
    double h[3];
    const char *p = buf;
    for (int i = 0; i < 3; i++) {
        p = strstr(p + 1, "<rect x=");
        assert_non_null(p);
        assert_int_equal(sscanf(strstr(p, "height=\"") + 8, "%lf", &h[i]), 1);
    }
    assert_true(h[0] > 0);
    assert_true(h[1] > h[0] / 2 - 0.1 && h[1] < h[0] / 2 + 0.1);
    assert_true(h[2] > h[0] / 4 - 0.1 && h[2] < h[0] / 4 + 0.1);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_bars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
