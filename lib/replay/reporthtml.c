/* The HTML report (see reporthtml.h). */
#include "reporthtml.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "svgplot.h"

static const char style[] =
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;"
    "max-width:1120px;padding:12px 16px;color:#111;background:#fff;line-height:1.4}"
    "h1{font-size:1.5em;margin:.3em 0}h2{font-size:1.2em;margin:1.2em 0 .4em;"
    "border-bottom:2px solid #1f77b4;padding-bottom:2px}h3{font-size:1em;margin:.8em 0 .3em}"
    "p.meta{color:#333;margin:.2em 0}p.verdict{font-weight:600;background:#fff6d5;"
    "padding:6px 10px;border-left:4px solid #ff7f0e}"
    ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}"
    "table{border-collapse:collapse;font-size:.85em;font-variant-numeric:tabular-nums}"
    "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    "th:first-child,td:first-child{text-align:left;position:sticky;left:0;background:#fff}"
    "thead th{background:#dbe6f4;border-bottom:2px solid #1f77b4}"
    "thead th:first-child{background:#dbe6f4}"
    "td .ratio{color:#666;font-size:.9em}"
    ".bar{display:inline-block;height:.7em;background:#1f77b4;vertical-align:middle;"
    "margin-left:4px;-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "figure{margin:.5em 0}figure svg{width:100%;height:auto;display:block}"
    ".wide svg{min-width:620px}"
    "figcaption{font-size:.85em;color:#444}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}"
    "section{break-inside:avoid-page}"
    "footer{margin-top:2em;font-size:.8em;color:#555}"
    "@media (max-width:600px){body{padding:8px}h1{font-size:1.2em}table{font-size:.75em}"
    "th,td{padding:2px 5px}}"
    "@media print{body{max-width:none;padding:0}h2{break-after:avoid}"
    "figure,table{break-inside:avoid}.scroll{overflow:visible}"
    "th:first-child,td:first-child{position:static}}";

static void esc(FILE *f, const char *s)
{
    ph_svg_escape(f, s);
}

static void bytes(FILE *f, uint64_t v)
{
    char b[32];
    ph_format_bytes(v, b, sizeof b);
    fputs(b, f);
}

static void head(const ph_report *r, FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>peerheap replay", f);
    for (size_t i = 0; i < r->input.n_captures; i++) {
        fputs(i ? ", " : ": ", f);
        esc(f, r->input.captures[i]);
    }
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", style);
}

static void summary(const ph_report *r, FILE *f)
{
    fputs("<header id=\"summary\">\n<h1>peerheap replay: write buffers and the heap</h1>\n"
          "<p class=\"meta\">input:", f);
    for (size_t i = 0; i < r->input.n_captures; i++) {
        fputc(' ', f);
        esc(f, r->input.captures[i]);
    }
    fprintf(f, " &mdash; %" PRIu64 " session%s, %" PRIu64 " messages, ", r->input.sessions,
            r->input.sessions == 1 ? "" : "s", r->input.messages);
    bytes(f, r->input.message_bytes);
    fprintf(f, "</p>\n<p class=\"meta\">peers: %" PRIu64 " &middot; transport: ", r->options.peers);
    esc(f, r->options.sink);
    fputs(" &middot; pace: ", f);
    esc(f, r->options.pace);
    fputs(" &middot; encode: ", f);
    esc(f, r->options.encode[0] ? r->options.encode : "stored");
    if (r->options.types) {
        fputs(" &middot; types: ", f);
        esc(f, r->options.types);
    }
    if (r->options.gc_model[0]) {
        fputs(" &middot; GC model: ", f);
        esc(f, r->options.gc_model);
    }
    fputs("</p>\n", f);
    char verdict[512];
    ph_report_verdict(r, verdict, sizeof verdict);
    if (verdict[0]) {
        fputs("<p class=\"verdict\">", f);
        esc(f, verdict);
        fputs("</p>\n", f);
    }
    fputs("</header>\n", f);
}

static void strategy_header(const ph_report *r, FILE *f, const char *first)
{
    fputs("<thead><tr><th>", f);
    esc(f, first);
    fputs("</th>", f);
    for (size_t i = 0; i < r->n_strategies; i++) {
        fputs("<th>", f);
        esc(f, r->strategies[i].name);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n", f);
}

static void main_table(const ph_report *r, FILE *f)
{
    fputs("<section id=\"table\">\n<h2>Side by side</h2>\n<div class=\"scroll\"><table>\n", f);
    strategy_header(r, f, r->n_sweep ? "figure (the sweep's last peer count)" : "figure");
    fputs("<tbody>\n", f);
    for (size_t k = 0; ph_report_table_row(k); k++) {
        fputs("<tr><td>", f);
        esc(f, ph_report_table_row(k));
        fputs("</td>", f);
        for (size_t i = 0; i < r->n_strategies; i++) {
            char cell[48], ratio[24];
            ph_report_table_cell(r, k, i, cell, sizeof cell, ratio, sizeof ratio);
            fputs("<td>", f);
            esc(f, cell);
            if (ratio[0]) {
                fputs(" <span class=\"ratio\">(", f);
                esc(f, ratio);
                fputs(")</span>", f);
            }
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n<p class=\"meta\">Ratios are to fresh. Live, peak and end "
          "figures are jemalloc size-class bytes of the node, every allocation seen as it "
          "happened; README.md explains each row.</p>\n</section>\n", f);
}

static ph_err timeline(const ph_report *r, FILE *f)
{
    fputs("<section id=\"timeline\">\n<h2>Live heap over time</h2>\n<figure>\n"
          "<div class=\"scroll wide\">\n", f);
    ph_err err = ph_report_write_timeline_svg(r, f, true);
    bool peers = false;
    for (size_t i = 0; i < r->n_strategies; i++)
        peers |= r->strategies[i].n_peer_series > 0;
    fprintf(f, "</div>\n<figcaption>One line per strategy%s.</figcaption>\n</figure>\n"
               "</section>\n",
            peers ? "; dashed: the heap each chosen peer holds (the costliest peers), in its "
                    "strategy's colour" : "");
    return err;
}

static ph_err sweep(const ph_report *r, FILE *f)
{
    if (!r->n_sweep)
        return PH_OK;
    fputs("<section id=\"sweep\">\n<h2>Memory against peers</h2>\n<figure>\n"
          "<div class=\"scroll wide\">\n", f);
    ph_err err = ph_report_write_sweep_svg(r, f, true);
    fputs("</div>\n<figcaption>Each peer count is its own replay. Solid: peak live heap; dashed: live "
          "heap at the end (what the connected peers hold).</figcaption>\n</figure>\n"
          "<div class=\"scroll\"><table>\n<thead><tr><th>strategy</th><th>peers</th>"
          "<th>held per peer</th><th>end live</th><th>peak live</th><th>writes/s</th></tr>"
          "</thead><tbody>\n", f);
    for (size_t i = 0; i < r->n_sweep; i++) {
        const ph_sweep_point *p = &r->sweep[i];
        fputs("<tr><td>", f);
        esc(f, p->name);
        fprintf(f, "</td><td>%" PRIu64 "</td><td>", p->peers);
        bytes(f, p->held_bytes_per_peer);
        fputs("</td><td>", f);
        bytes(f, p->end_live_bytes);
        fputs("</td><td>", f);
        bytes(f, p->peak_live_bytes);
        fprintf(f, "</td><td>%.0f</td></tr>\n", p->writes_per_second);
    }
    fputs("</tbody></table></div>\n</section>\n", f);
    return err;
}

static int by_held_desc(const void *a, const void *b)
{
    const ph_svg_bar *x = a, *y = b;
    return x->value < y->value ? 1 : x->value > y->value ? -1 : 0;
}

static ph_err peer_bars(const ph_report *r, FILE *f)
{
    fputs("<section id=\"peers\">\n<h2>Held memory per peer</h2>\n<div class=\"grid\">\n", f);
    ph_err err = PH_OK;
    for (size_t i = 0; !err && i < r->n_strategies; i++) {
        const ph_strategy_result *s = &r->strategies[i];
        if (!s->n_peers_end)
            continue;
        ph_svg_bar *b = calloc(s->n_peers_end, sizeof *b);
        if (!b)
            return PH_ERR_NOMEM;
        for (size_t k = 0; k < s->n_peers_end; k++)
            b[k] = (ph_svg_bar){(double)s->peers_end[k].held_bytes, ph_svg_color(i)};
        qsort(b, s->n_peers_end, sizeof *b, by_held_desc);
        char title[96];
        snprintf(title, sizeof title, "%s: heap held per peer at the end", s->name);
        ph_svg_chart c = {.title = title, .x_label = "peers, costliest first",
                          .y_label = "held", .y_bytes = true, .responsive = true,
                          .width = 560, .height = 320, .font_size = 18};
        fputs("<figure>\n", f);
        err = ph_svg_bars(f, &c, b, s->n_peers_end);
        fputs("</figure>\n", f);
        free(b);
    }
    fputs("</div>\n<p class=\"meta\">Each peer's own accounting at the end of the run: its "
          "state, queue, BOLT 8 buffers and the write buffers its strategy keeps for "
          "it.</p>\n</section>\n", f);
    return err;
}

static void share_cell(FILE *f, uint64_t part, uint64_t whole)
{
    double p = whole ? 100.0 * (double)part / (double)whole : 0;
    fputs("<td>", f);
    bytes(f, part);
    fprintf(f, "<br><span class=\"ratio\">%.1f%%</span><span class=\"bar\" style=\"width:%.0fpx\">"
               "</span></td>", p, p * 0.5);
}

static uint64_t type_bytes(const ph_strategy_result *s, const char *name)
{
    for (size_t t = 0; t < s->n_types; t++)
        if (strcmp(s->types[t].name, name) == 0)
            return s->types[t].bytes_allocated;
    return 0;
}

/* Up to `cap` type names, by the most bytes any strategy allocated for them. */
static size_t top_types(const ph_report *r, const char **out, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        const char *best = NULL;
        uint64_t bb = 0;
        for (size_t i = 0; i < r->n_strategies; i++)
            for (size_t t = 0; t < r->strategies[i].n_types; t++) {
                const ph_type_figures *ty = &r->strategies[i].types[t];
                bool taken = false;
                for (size_t k = 0; k < n; k++)
                    taken |= strcmp(out[k], ty->name) == 0;
                if (!taken && ty->bytes_allocated > bb) {
                    best = ty->name;
                    bb = ty->bytes_allocated;
                }
            }
        if (!best)
            break;
        out[n++] = best;
    }
    return n;
}

static void breakdown(const ph_report *r, FILE *f)
{
    fputs("<section id=\"breakdown\">\n<h2>Where the bytes went</h2>\n<h3>Bytes allocated in "
          "the replay phase, by row</h3>\n<div class=\"scroll\"><table>\n", f);
    strategy_header(r, f, "row");
    fputs("<tbody>\n", f);
    for (unsigned row = 0; row < PH_REPORT_ROWS; row++) {
        fputs("<tr><td>", f);
        esc(f, ph_report_row_name(row));
        fputs("</td>", f);
        for (size_t i = 0; i < r->n_strategies; i++)
            share_cell(f, r->strategies[i].rows[row].bytes_allocated,
                       r->strategies[i].bytes_allocated);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n<h3>By message type (the most bytes first)</h3>\n"
          "<div class=\"scroll\"><table>\n", f);
    strategy_header(r, f, "message type");
    fputs("<tbody>\n", f);
    const char *names[10];
    size_t nt = top_types(r, names, 10);
    for (size_t t = 0; t < nt; t++) {
        fputs("<tr><td>", f);
        esc(f, names[t]);
        fputs("</td>", f);
        for (size_t i = 0; i < r->n_strategies; i++)
            share_cell(f, type_bytes(&r->strategies[i], names[t]),
                       r->strategies[i].bytes_allocated);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n</section>\n", f);
}

static void gc_row(const ph_report *r, FILE *f, const char *label, size_t offset)
{
    fputs("<tr><td>", f);
    esc(f, label);
    fputs("</td>", f);
    for (size_t i = 0; i < r->n_strategies; i++) {
        uint64_t v;
        memcpy(&v, (const char *)&r->strategies[i] + offset, sizeof v);
        fputs("<td>", f);
        bytes(f, v);
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
}

static ph_err gc_chart(const ph_strategy_result *s, size_t color, FILE *f)
{
    size_t n = s->n_gc_events;
    double *v = calloc(3 * n, sizeof *v);
    if (!v)
        return PH_ERR_NOMEM;
    for (size_t k = 0; k < n; k++) {
        v[k] = (double)s->gc_events[k].index;
        v[n + k] = (double)s->gc_events[k].heap_before;
        v[2 * n + k] = (double)s->gc_events[k].heap_after;
    }
    ph_svg_series se[2] = {
        {.name = "at it", .n = n, .x = v, .y = v + n,
         .color = ph_svg_color(color), .markers = n <= 40},
        {.name = "after", .n = n, .x = v, .y = v + 2 * n, .color = ph_svg_color(color),
         .dashed = true, .markers = n <= 40},
    };
    char title[96];
    snprintf(title, sizeof title, "%s: %" PRIu64 " collection%s", s->name, s->gc_collections,
             s->gc_collections == 1 ? "" : "s");
    ph_svg_chart c = {.title = title, .x_label = "collection", .y_label = "heap",
                      .y_bytes = true, .responsive = true, .width = 560, .height = 320,
                      .font_size = 18};
    fputs("<figure>\n", f);
    ph_err err = ph_svg_lines(f, &c, se, 2);
    fputs("</figure>\n", f);
    free(v);
    return err;
}

static ph_err gc(const ph_report *r, FILE *f)
{
    if (!r->options.gc_model[0])
        return PH_OK;
    fputs("<section id=\"gc\">\n<h2>The Go GC model: ", f);
    esc(f, r->options.gc_model);
    fputs("</h2>\n<p class=\"meta\">A freed block stays allocated, as garbage, until a "
          "collection; a collection runs when the heap reaches the goal: the live heap after "
          "the last collection &times; (1 + GOGC/100), at least 4 MiB &times; GOGC/100, and "
          "every 2 minutes at least.</p>\n<div class=\"scroll\"><table>\n", f);
    strategy_header(r, f, "");
    fputs("<tbody>\n<tr><td>collections</td>", f);
    for (size_t i = 0; i < r->n_strategies; i++)
        fprintf(f, "<td>%" PRIu64 "</td>", r->strategies[i].gc_collections);
    fputs("</tr>\n", f);
    gc_row(r, f, "peak heap (live + garbage)", offsetof(ph_strategy_result, peak_live_bytes));
    fputs("<tr><td>write buffers at the peak</td>", f);
    for (size_t i = 0; i < r->n_strategies; i++)
        share_cell(f, r->strategies[i].wbuf_at_peak_bytes, r->strategies[i].peak_live_bytes);
    fputs("</tr>\n", f);
    fputs("<tr><td>heap after the last collection</td>", f);
    for (size_t i = 0; i < r->n_strategies; i++) {
        fputs("<td>", f);
        if (r->strategies[i].gc_collections)
            bytes(f, r->strategies[i].gc_live_after_last_bytes);
        else
            fputs("-", f);
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
    gc_row(r, f, "most garbage at once", offsetof(ph_strategy_result, gc_peak_garbage_bytes));
    gc_row(r, f, "garbage collected", offsetof(ph_strategy_result, gc_released_bytes));
    gc_row(r, f, "garbage left at the end", offsetof(ph_strategy_result, gc_end_garbage_bytes));
    fputs("</tbody></table></div>\n<div class=\"grid\">\n", f);
    ph_err err = PH_OK;
    for (size_t i = 0; !err && i < r->n_strategies; i++)
        if (r->strategies[i].n_gc_events)
            err = gc_chart(&r->strategies[i], i, f);
    fputs("</div>\n<p class=\"meta\">Per collection: the heap when it ran (solid) and the live "
          "heap it left (dashed), which sets the next goal. Beyond 1,024 collections they are "
          "thinned evenly.</p>\n</section>\n", f);
    return err;
}

ph_err ph_report_write_html(const ph_report *r, FILE *f)
{
    head(r, f);
    summary(r, f);
    main_table(r, f);
    ph_err err = timeline(r, f);
    if (!err)
        err = sweep(r, f);
    if (!err)
        err = peer_bars(r, f);
    if (!err) {
        breakdown(r, f);
        err = gc(r, f);
    }
    fprintf(f, "<footer>peerheap %s &mdash; one self-contained page: no script, nothing "
               "loaded from anywhere.</footer>\n</body>\n</html>\n", r->version);
    if (!err && (fflush(f) || ferror(f)))
        err = PH_ERR_IO;
    return err;
}
