/* peerheap diff: two reports side by side (replay --json, gate baselines,
 * peer --stats-json: one schema). The comparison is the library's
 * (lib/replay/compare.h); this file parses options and prints. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "compare.h"
#include "json.h"
#include "report.h"

static const char diff_help[] =
    "usage: peerheap diff A.json B.json [--json]\n"
    "\n"
    "Compares two reports: replay --json files, gate baselines and peer\n"
    "--stats-json files alike (one schema). For each strategy both have, and each\n"
    "figure: A, B, and the change (absolute, and relative to A); then each row\n"
    "(write buffers, queue, decode, session, other) and each message type\n"
    "('-' where one report lacks the type). Strategies only one report has are\n"
    "listed at the end. Every figure is shown, gated or not ('peerheap gate\n"
    "--help' says which a gate judges).\n"
    "\n"
    "  --json   one JSON document instead: {\"a\", \"b\", \"only_in_a\", \"only_in_b\",\n"
    "           \"figures\": [{strategy, metric, kind, a, b, delta, relative}]}\n"
    "           (a/b null where a report lacks the figure, relative null when A\n"
    "           is 0)\n"
    "\n"
    "exit status: 0 compared (whatever changed), 2 bad options or a file that is\n"
    "not a readable report.\n";

enum { OPT_JSON = PH_OPT_BASE };

static const struct option long_opts[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

static const char *kind_name(ph_cmp_kind k)
{
    return k == PH_CMP_GATED ? "gated" : k == PH_CMP_INFO ? "info" : "drift";
}

static void header(const char *label, const char *path, const ph_report *r)
{
    printf("%s = %s (peerheap %s, %zu strateg%s, peers %llu, transport %s", label, path,
           r->version[0] ? r->version : "?", r->n_strategies, r->n_strategies == 1 ? "y" : "ies",
           (unsigned long long)r->options.peers, r->options.sink[0] ? r->options.sink : "?");
    for (size_t i = 0; i < r->input.n_captures; i++)
        printf("%s%s", i ? " " : ", input ", r->input.captures[i]);
    printf(")\n");
}

static int print_text(const char *pa, const char *pb, const ph_report *a, const ph_report *b,
                      const ph_comparison *c)
{
    header("A", pa, a);
    header("B", pb, b);
    printf("\n%-9s %-44s %16s %16s  %s\n", "strategy", "metric", "A", "B", "change");
    for (size_t i = 0; i < c->n_lines; i++) {
        const ph_cmp_line *l = &c->lines[i];
        char va[48], vb[48], d[80];
        ph_cmp_format(l, l->a, va, sizeof va);
        ph_cmp_format(l, l->b, vb, sizeof vb);
        ph_cmp_format_delta(l, d, sizeof d);
        printf("%-9s %-44s %16s %16s  %s\n", l->strategy, l->metric, l->in_a ? va : "-",
               l->in_b ? vb : "-", d);
    }
    for (size_t i = 0; i < c->n_only_a; i++)
        printf("only in A: %s\n", c->only_a[i]);
    for (size_t i = 0; i < c->n_only_b; i++)
        printf("only in B: %s\n", c->only_b[i]);
    size_t changed = 0, gated_changed = 0;
    for (size_t i = 0; i < c->n_lines; i++) {
        bool ch = c->lines[i].a != c->lines[i].b || c->lines[i].in_a != c->lines[i].in_b;
        changed += ch;
        gated_changed += ch && c->lines[i].kind == PH_CMP_GATED;
    }
    printf("\n%zu of %zu figures differ (%zu of them gated)\n", changed, c->n_lines,
           gated_changed);
    return PH_EXIT_OK;
}

static json_t *side_json(const char *path, const ph_report *r, bool *failed)
{
    json_t *o = json_object();
    ph_json_put(o, "path", ph_json_text(path), failed);
    ph_json_put(o, "version", json_string(r->version), failed);
    return o;
}

static json_t *names_json(char (*names)[PH_REPORT_NAME_MAX], size_t n, bool *failed)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        ph_json_append(a, json_string(names[i]), failed);
    return a;
}

/* Counts and bytes stay integers in JSON; per-write figures, seconds and
 * rates are reals. */
static json_t *value_json(const ph_cmp_line *l, double v)
{
    bool whole = l->unit == PH_CMP_COUNT || l->unit == PH_CMP_BYTES;
    if (whole && v >= 0 && v <= 9007199254740992.0 && v == floor(v))
        return ph_json_u64((uint64_t)v);
    if (whole && v < 0 && v >= -9007199254740992.0 && v == floor(v))
        return json_integer((json_int_t)v);
    return ph_json_real(v);
}

static int print_json(const char *pa, const char *pb, const ph_report *a, const ph_report *b,
                      const ph_comparison *c)
{
    bool failed = false;
    json_t *j = json_object();
    ph_json_put(j, "a", side_json(pa, a, &failed), &failed);
    ph_json_put(j, "b", side_json(pb, b, &failed), &failed);
    ph_json_put(j, "only_in_a", names_json(c->only_a, c->n_only_a, &failed), &failed);
    ph_json_put(j, "only_in_b", names_json(c->only_b, c->n_only_b, &failed), &failed);
    json_t *figs = json_array();
    for (size_t i = 0; i < c->n_lines; i++) {
        const ph_cmp_line *l = &c->lines[i];
        json_t *f = json_object();
        ph_json_put(f, "strategy", json_string(l->strategy), &failed);
        ph_json_put(f, "metric", json_string(l->metric), &failed);
        ph_json_put(f, "kind", json_string(kind_name(l->kind)), &failed);
        ph_json_put(f, "a", l->in_a ? value_json(l, l->a) : json_null(), &failed);
        ph_json_put(f, "b", l->in_b ? value_json(l, l->b) : json_null(), &failed);
        ph_json_put(f, "delta", value_json(l, ph_cmp_delta(l)), &failed);
        double rel = ph_cmp_relative(l);
        ph_json_put(f, "relative", l->a == 0 ? json_null() : ph_json_real(rel), &failed);
        ph_json_append(figs, f, &failed);
    }
    ph_json_put(j, "figures", figs, &failed);
    ph_err err = failed ? PH_ERR_NOMEM : ph_json_dump(j, stdout, true);
    json_decref(j);
    if (err) {
        ph_cli_error("diff: %s", err == PH_ERR_NOMEM ? "out of memory" : "write error");
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

static ph_report *load(const char *path)
{
    ph_report *r;
    char why[512];
    ph_err err = ph_report_load(&r, path, why, sizeof why);
    if (!err)
        return r;
    ph_cli_error("diff: %s: %s%s", path,
                 err == PH_ERR_JSON ? "not a valid report: " : "",
                 err == PH_ERR_NOMEM ? "out of memory" : why);
    return NULL;
}

static int cmd_diff(int argc, char **argv)
{
    const char *paths[2] = {NULL, NULL};
    size_t n = 0;
    bool json = false;
    ph_cli_getopt_reset();
    int c;
    char name[64];
    while ((c = getopt_long(argc, argv, "-:", long_opts, NULL)) != -1) {
        if (c == OPT_JSON) {
            json = true;
        } else if (c == 1 && n < 2) {
            paths[n++] = optarg;
        } else if (c == 1) {
            ph_cli_error("diff: compares two reports, got a third: '%s'", optarg);
            return PH_EXIT_USAGE;
        } else {
            ph_cli_error("diff: unknown option '%s' (see 'peerheap diff --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        }
    }
    for (; optind < argc && n < 2; optind++)
        paths[n++] = argv[optind];
    if (n != 2 || optind < argc) {
        ph_cli_error("diff: give two reports, A.json B.json (see 'peerheap diff --help')");
        return PH_EXIT_USAGE;
    }
    ph_report *a = load(paths[0]);
    ph_report *b = a ? load(paths[1]) : NULL;
    ph_comparison *cmp = NULL;
    int rc = PH_EXIT_USAGE;
    if (b && ph_compare_reports(a, b, &cmp) != PH_OK)
        ph_cli_error("diff: out of memory");
    if (cmp)
        rc = json ? print_json(paths[0], paths[1], a, b, cmp)
                  : print_text(paths[0], paths[1], a, b, cmp);
    if (!rc && (fflush(stdout) || ferror(stdout))) {
        ph_cli_error("diff: write error on the standard output");
        rc = PH_EXIT_USAGE;
    }
    ph_comparison_destroy(cmp);
    ph_report_destroy(a);
    ph_report_destroy(b);
    return rc;
}

const struct ph_command ph_cmd_diff = {
    .name = "diff",
    .summary = "compare two reports (replay --json, baselines, peer --stats-json) side by side",
    .run = cmd_diff,
    .help = diff_help,
};
