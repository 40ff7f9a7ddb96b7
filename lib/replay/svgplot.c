/* SVG line and bar charts (see svgplot.h). */
#include "svgplot.h"

#include <math.h>
#include <string.h>

static const char *const palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};

const char *ph_svg_color(size_t i)
{
    return palette[i % (sizeof palette / sizeof palette[0])];
}

void ph_svg_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A "nice" axis step: 1, 2 or 5 times a power of ten, about 5 ticks. */
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

struct frame {
    double W, H, L, R, T, B, pw, ph;
    double fs;              /* font size */
    double xmin, xmax;      /* data (log10 of it on a log axis) */
    double ytop, ystep, ydiv;
    const char *unit;
    bool xlog;
};

static void pick_unit(struct frame *fr, double ymax, bool bytes)
{
    fr->unit = "";
    fr->ydiv = 1;
    if (!bytes)
        return;
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (u < 4 && ymax >= 1024.0 * fr->ydiv) {
        fr->ydiv *= 1024;
        u++;
    }
    fr->unit = units[u];
}

static void frame_init(struct frame *fr, const ph_svg_chart *c, double right, double xmin,
                       double xmax, double ymax)
{
    fr->W = c->width > 0 ? c->width : 980;
    fr->H = c->height > 0 ? c->height : 520;
    fr->fs = c->font_size > 0 ? c->font_size : 12;
    double k = fr->fs / 12;
    fr->L = 68 * k + 12;
    fr->R = right < 0 ? -right : right * k;
    fr->T = 40 * k + 6;
    fr->B = 48 * k + 10;
    fr->pw = fr->W - fr->L - fr->R;
    fr->ph = fr->H - fr->T - fr->B;
    fr->xlog = c->x_log;
    pick_unit(fr, ymax, c->y_bytes);
    fr->ystep = nice_step(ymax / fr->ydiv);
    fr->ytop = ceil(ymax / fr->ydiv / fr->ystep) * fr->ystep;
    if (fr->ytop <= 0)
        fr->ytop = fr->ystep;
    if (fr->xlog) {
        fr->xmin = floor(log10(xmin > 0 ? xmin : 1));
        fr->xmax = ceil(log10(xmax > 0 ? xmax : 1));
        if (fr->xmax <= fr->xmin)
            fr->xmax = fr->xmin + 1;
    } else {
        double step = nice_step(xmax - xmin);
        fr->xmin = xmin;
        fr->xmax = xmin + ceil((xmax - xmin) / step) * step;
        if (fr->xmax <= fr->xmin)
            fr->xmax = fr->xmin + step;
    }
}

static double px(const struct frame *fr, double x)
{
    double v = fr->xlog ? log10(x > 0 ? x : 1) : x;
    return fr->L + (v - fr->xmin) / (fr->xmax - fr->xmin) * fr->pw;
}

static double py(const struct frame *fr, double y)
{
    return fr->T + fr->ph - y / fr->ydiv / fr->ytop * fr->ph;
}

static void open_svg(FILE *f, const ph_svg_chart *c, const struct frame *fr)
{
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" ");
    if (!c->responsive)
        fprintf(f, "width=\"%.0f\" height=\"%.0f\" ", fr->W, fr->H);
    fprintf(f, "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"%g\" "
               "role=\"img\">\n", fr->W, fr->H, fr->fs);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"%g\" text-anchor=\"middle\">",
            fr->W / 2, 2 * fr->fs, fr->fs * 4 / 3);
    ph_svg_escape(f, c->title);
    fprintf(f, "</text>\n");
}

static void y_axis(FILE *f, const ph_svg_chart *c, const struct frame *fr)
{
    for (double y = 0; y <= fr->ytop + fr->ystep / 2; y += fr->ystep) {
        double yy = py(fr, y * fr->ydiv);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                fr->L, yy, fr->L + fr->pw, yy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", fr->L - 6,
                yy + fr->fs / 3, y);
    }
    fprintf(f, "<text transform=\"translate(%.0f,%.1f) rotate(-90)\" text-anchor=\"middle\">",
            fr->fs * 1.5, fr->T + fr->ph / 2);
    ph_svg_escape(f, c->y_label);
    if (c->y_bytes)
        fprintf(f, " (%s)", fr->unit);
    fprintf(f, "</text>\n");
}

static void x_tick(FILE *f, const struct frame *fr, double x, double label)
{
    double xx = px(fr, x);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\"/>\n", xx,
            fr->T + fr->ph, xx, fr->T + fr->ph + 5);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", xx,
            fr->T + fr->ph + 1.6 * fr->fs, label);
}

static void x_axis(FILE *f, const ph_svg_chart *c, const struct frame *fr)
{
    if (fr->xlog) {
        for (double e = fr->xmin; e <= fr->xmax + 0.5; e += 1)
            x_tick(f, fr, pow(10, e), pow(10, e));
    } else {
        double step = nice_step(fr->xmax - fr->xmin);
        for (double x = fr->xmin; x <= fr->xmax + step / 2; x += step)
            x_tick(f, fr, x, x);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"black\"/>\n", fr->L, fr->T, fr->pw, fr->ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", fr->L + fr->pw / 2,
            fr->H - fr->fs);
    ph_svg_escape(f, c->x_label);
    fprintf(f, "</text>\n");
}

static void series_line(FILE *f, const struct frame *fr, const ph_svg_series *s,
                        const char *color)
{
    if (!s->n)
        return;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s points=\"", color,
            s->dashed ? " stroke-dasharray=\"6 4\"" : "");
    for (size_t k = 0; k < s->n; k++)
        fprintf(f, "%.1f,%.1f ", px(fr, s->x[k]), py(fr, s->y[k]));
    fprintf(f, "\"/>\n");
    for (size_t k = 0; s->markers && k < s->n; k++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", px(fr, s->x[k]),
                py(fr, s->y[k]), color);
}

static void legend_entry(FILE *f, const struct frame *fr, size_t i, size_t n,
                         const ph_svg_series *s, const char *color)
{
    double step = 1.8 * fr->fs;
    if (n > 1 && step * (double)(n - 1) > fr->ph - 10)
        step = (fr->ph - 10) / (double)(n - 1);
    double ly = fr->T + 10 + step * (double)i;
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"3\"%s/>\n", fr->L + fr->pw + 15, ly, fr->L + fr->pw + 40, ly,
            color, s->dashed ? " stroke-dasharray=\"6 4\"" : "");
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">", fr->L + fr->pw + 46, ly + fr->fs / 3);
    ph_svg_escape(f, s->name);
    if (s->note) {
        fputc(' ', f);
        ph_svg_escape(f, s->note);
    }
    fprintf(f, "</text>\n");
}

ph_err ph_svg_lines(FILE *f, const ph_svg_chart *c, const ph_svg_series *s, size_t n)
{
    double xmin = INFINITY, xmax = -INFINITY, ymax = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < s[i].n; k++) {
            xmin = fmin(xmin, s[i].x[k]);
            xmax = fmax(xmax, s[i].x[k]);
            ymax = fmax(ymax, s[i].y[k]);
        }
    if (xmin > xmax)
        xmin = xmax = 0;
    if (!c->x_log)
        xmin = fmin(xmin, 0);
    /* the legend's width follows its longest entry */
    size_t longest = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].no_legend)
            continue;
        size_t len = strlen(s[i].name ? s[i].name : "") + (s[i].note ? strlen(s[i].note) + 1 : 0);
        longest = len > longest ? len : longest;
    }
    double fs = c->font_size > 0 ? c->font_size : 12;
    struct frame fr;
    frame_init(&fr, c, -(56 + 0.62 * fs * (double)longest), xmin, xmax, ymax);
    open_svg(f, c, &fr);
    y_axis(f, c, &fr);
    x_axis(f, c, &fr);
    size_t listed = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        listed += !s[i].no_legend;
    for (size_t i = 0; i < n; i++) {
        const char *color = s[i].color ? s[i].color : ph_svg_color(i);
        series_line(f, &fr, &s[i], color);
        if (!s[i].no_legend)
            legend_entry(f, &fr, k++, listed, &s[i], color);
    }
    fprintf(f, "</svg>\n");
    return ferror(f) ? PH_ERR_IO : PH_OK;
}

ph_err ph_svg_bars(FILE *f, const ph_svg_chart *c, const ph_svg_bar *b, size_t n)
{
    double ymax = 0;
    for (size_t i = 0; i < n; i++)
        ymax = fmax(ymax, b[i].value);
    struct frame fr;
    frame_init(&fr, c, 30, 0.5, (double)n + 0.5, ymax);
    fr.xmin = 0.5;
    fr.xmax = (double)n + 0.5;
    open_svg(f, c, &fr);
    y_axis(f, c, &fr);
    double w = fr.pw / (double)(n ? n : 1);
    double gap = w > 4 ? w * 0.15 : 0;
    for (size_t i = 0; i < n; i++) {
        double top = py(&fr, b[i].value);
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n",
                fr.L + w * (double)i + gap / 2, top, w - gap, fr.T + fr.ph - top,
                b[i].color ? b[i].color : ph_svg_color(0));
    }
    /* rank ticks: first, last and a few between */
    size_t step = n > 10 ? (size_t)nice_step((double)n) : 1;
    for (size_t r = 1; r <= n; r += (r == 1 && step > 1) ? step - 1 : step)
        x_tick(f, &fr, (double)r, (double)r);
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"black\"/>\n", fr.L, fr.T, fr.pw, fr.ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", fr.L + fr.pw / 2,
            fr.H - fr.fs);
    ph_svg_escape(f, c->x_label);
    fprintf(f, "</text>\n</svg>\n");
    return ferror(f) ? PH_ERR_IO : PH_OK;
}
