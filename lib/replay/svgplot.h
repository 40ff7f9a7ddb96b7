/* Small SVG charts for the reports: lines (time series, sweeps) and bars,
 * with axes, units and a legend, written as plain SVG text with no
 * dependencies, for a .svg file or inline in the HTML report.
 *
 * Ownership: everything is borrowed for the call. Errors: PH_ERR_IO when
 * writing failed (checked with ferror at the end). */
#ifndef PH_SVGPLOT_H
#define PH_SVGPLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

typedef struct ph_svg_series {
    const char *name;    /* legend text (escaped here) */
    const char *note;    /* appended to the legend, may be NULL */
    size_t n;
    const double *x, *y;
    const char *color;   /* NULL: ph_svg_color(index) */
    bool markers;        /* a dot at every point (few points: sweeps) */
    bool dashed;
    bool no_legend;      /* drawn, not listed (many similar lines) */
} ph_svg_series;

typedef struct ph_svg_chart {
    const char *title;
    const char *x_label;
    const char *y_label; /* the unit is appended in parentheses for bytes */
    bool y_bytes;        /* y in bytes: the axis picks KiB, MiB or GiB */
    bool x_log;          /* x on a log10 axis (x > 0) */
    bool responsive;     /* viewBox only, scales to its container (HTML) */
    double width, height;/* 0: 980 x 520 */
    double font_size;    /* 0: 12 (small charts shown scaled down want more) */
} ph_svg_chart;

typedef struct ph_svg_bar {
    double value;        /* bytes when y_bytes */
    const char *color;   /* NULL: the first colour */
} ph_svg_bar;

/* One polyline per series (none for a series of no points), legend on the
 * right, its entries closer together when many. */
PH_MUST_USE
ph_err ph_svg_lines(FILE *f, const ph_svg_chart *c, const ph_svg_series *s, size_t n);
/* Vertical bars in the given order, x = rank (1..n); no legend. */
PH_MUST_USE
ph_err ph_svg_bars(FILE *f, const ph_svg_chart *c, const ph_svg_bar *b, size_t n);

/* The palette, by index (wraps). */
const char *ph_svg_color(size_t i);
/* Writes `s` with <, >, & and " escaped. */
void ph_svg_escape(FILE *f, const char *s);

#endif
