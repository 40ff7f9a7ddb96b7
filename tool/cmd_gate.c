/* peerheap gate: replay (model transport) and judge the result against a
 * committed baseline, for CI: text lines, a one-line verdict, JUnit XML and
 * GitHub annotations. The judging is the library's (lib/replay/gate.h);
 * this file parses options, runs the replay (replaycli.h) and prints. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "cli.h"
#include "commands.h"
#include "gate.h"
#include "replaycli.h"
#include "report.h"

static const char gate_help[] =
    "usage: peerheap gate --baseline FILE [--tolerance PCT] [--junit FILE]\n"
    "                     [--allow-input-change] CAPTURE... [replay options]\n"
    "       peerheap gate --baseline FILE --write-baseline CAPTURE... [replay options]\n"
    "       peerheap gate --baseline FILE --report REPORT.json [--tolerance PCT] [--junit FILE]\n"
    "\n"
    "A regression gate for CI. Replays the captures the way 'peerheap replay' does,\n"
    "always over the model transport (in memory, virtual clock: deterministic),\n"
    "and compares each strategy with the baseline, a report written earlier by\n"
    "--write-baseline and committed. With --report, judges an existing report\n"
    "(replay --json, a baseline, peer --stats-json) instead of replaying.\n"
    "\n"
    "Gated, exactly by default: allocations and bytes allocated per write, peak\n"
    "live, end live, held per peer, the write-buffer counters, the set-up phase's\n"
    "allocations and bytes (connections coming up), each row's\n"
    "allocations, bytes and end live (write buffers, queue, decode, session,\n"
    "other) and each message type's allocations. Printed, never gated: times,\n"
    "rates, jemalloc's active and resident pages (they drift between runs and\n"
    "machines).\n"
    "\n"
    "Output: one line per strategy and figure (baseline, now, delta, result),\n"
    "then a one-line verdict naming the worst regression. A figure better than\n"
    "the baseline beyond the tolerance passes, and says the baseline can be\n"
    "tightened.\n"
    "\n"
    "options:\n"
    "  --baseline FILE        the baseline (required)\n"
    "  --write-baseline       write the result as the baseline instead of judging\n"
    "                         it (pretty JSON, keys in a fixed order; replaces FILE)\n"
    "  --report FILE          judge this report instead of replaying\n"
    "  --tolerance PCT        allowed change in percent (default 0: exact)\n"
    "  --junit FILE           also write JUnit XML: one test case per strategy and\n"
    "                         gated figure, failures carry baseline/now/delta\n"
    "  --allow-input-change   judge even when the inputs (SHA-256) or the options\n"
    "                         differ from the baseline's (default: exit 2)\n"
    "  --force                let --junit and the replay's --json/--csv/--svg\n"
    "                         replace existing files\n"
    "  replay options         as 'peerheap replay --help' lists them (--peers,\n"
    "                         --strategy, --types, ...); --transport is always model\n"
    "\n"
    "Every file is written to a temporary file and renamed when complete: an\n"
    "interrupted run leaves the old baseline intact.\n"
    "\n"
    "environment: GITHUB_ACTIONS=true adds ::error annotations for regressions\n"
    "and ::notice annotations for improvements (and for exit 2 its reason).\n"
    "\n"
    "exit status: 0 every gated figure passes (or the baseline was written),\n"
    "1 a regression, 2 unusable input: bad options, a missing, invalid or corrupt\n"
    "baseline or report, an unreadable capture, or inputs/options that differ\n"
    "from the baseline's.\n";

enum {
    OPT_BASELINE = PH_REPLAY_OPT_END, OPT_WRITE_BASELINE, OPT_REPORT, OPT_TOLERANCE, OPT_JUNIT,
    OPT_ALLOW_INPUT_CHANGE, OPT_END,
};

static const struct option gate_options[] = {
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"write-baseline", no_argument, NULL, OPT_WRITE_BASELINE},
    {"report", required_argument, NULL, OPT_REPORT},
    {"tolerance", required_argument, NULL, OPT_TOLERANCE},
    {"junit", required_argument, NULL, OPT_JUNIT},
    {"allow-input-change", no_argument, NULL, OPT_ALLOW_INPUT_CHANGE},
};
#define N_GATE_OPTIONS (sizeof gate_options / sizeof gate_options[0])

struct gate_opts {
    const char *baseline, *report, *junit;
    bool write_baseline, allow_input_change;
    double tolerance;
    bool github;              /* GITHUB_ACTIONS=true */
    struct ph_replay_cli replay;
    bool replay_options;      /* any replay option given (not allowed with --report) */
};

/* ---- GitHub workflow commands ---- */

/* Escaping of a workflow command's message (and, with `property`, of a
 * property value), as the runner decodes it. */
static void gh_escaped(FILE *f, const char *s, bool property)
{
    for (; *s; s++) {
        if (*s == '%')
            fputs("%25", f);
        else if (*s == '\r')
            fputs("%0D", f);
        else if (*s == '\n')
            fputs("%0A", f);
        else if (property && *s == ':')
            fputs("%3A", f);
        else if (property && *s == ',')
            fputs("%2C", f);
        else
            fputc(*s, f);
    }
}

static void gh_command(const struct gate_opts *o, const char *cmd, const char *title,
                       const char *msg)
{
    if (!o->github)
        return;
    printf("::%s file=", cmd);
    gh_escaped(stdout, o->baseline, true);
    printf(",title=");
    gh_escaped(stdout, title, true);
    printf("::");
    gh_escaped(stdout, msg, false);
    printf("\n");
}

/* An unusable-input exit: one line on stderr, and an annotation in CI. */
static int unusable(const struct gate_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int unusable(const struct gate_opts *o, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ph_cli_error("gate: %s", msg);
    fflush(stdout);
    gh_command(o, "error", "peerheap gate: unusable input", msg);
    return PH_EXIT_USAGE;
}

/* ---- options ---- */

static struct option *all_options(void)
{
    size_t nr = 0;
    while (ph_replay_cli_options[nr].name)
        nr++;
    struct option *all = calloc(nr + N_GATE_OPTIONS + 1, sizeof *all);
    if (!all)
        return NULL;
    memcpy(all, gate_options, sizeof gate_options);
    memcpy(all + N_GATE_OPTIONS, ph_replay_cli_options, nr * sizeof *all);
    return all;
}

static bool output_option(int c)
{
    static const char *const outputs[] = {"force", "json", "csv", "svg", "quiet"};
    for (const struct option *lo = ph_replay_cli_options; lo->name; lo++)
        if (lo->val == c)
            for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
                if (strcmp(lo->name, outputs[i]) == 0)
                    return true;
    return false;
}

static int gate_option(struct gate_opts *o, int c, const char *arg)
{
    switch (c) {
    case OPT_BASELINE: o->baseline = arg; return PH_EXIT_OK;
    case OPT_WRITE_BASELINE: o->write_baseline = true; return PH_EXIT_OK;
    case OPT_REPORT: o->report = arg; return PH_EXIT_OK;
    case OPT_JUNIT: o->junit = arg; return PH_EXIT_OK;
    case OPT_ALLOW_INPUT_CHANGE: o->allow_input_change = true; return PH_EXIT_OK;
    case OPT_TOLERANCE:
        if (!ph_cli_parse_double(arg, &o->tolerance) || !isfinite(o->tolerance) ||
            o->tolerance < 0 || o->tolerance > 1e6) {
            ph_cli_error("gate: invalid value '%s' for --tolerance (a percentage, e.g. 0 or 2.5)",
                         arg);
            return PH_EXIT_USAGE;
        }
        return PH_EXIT_OK;
    default:
        break;
    }
    /* a capture (code 1) or a replay option; those that shape the replay
     * make no sense with --report, the output ones do */
    if (c != 1 && !output_option(c))
        o->replay_options = true;
    return ph_replay_cli_option(&o->replay, "gate", c, arg);
}

static int check_args(struct gate_opts *o)
{
    if (!o->baseline) {
        ph_cli_error("gate: --baseline FILE is required (see 'peerheap gate --help')");
        return PH_EXIT_USAGE;
    }
    if (o->report && (o->replay.ncaptures || o->replay_options)) {
        ph_cli_error("gate: --report judges an existing report: no captures or replay options "
                     "with it");
        return PH_EXIT_USAGE;
    }
    if (!o->report && !o->replay.ncaptures) {
        ph_cli_error("gate: no capture given, and no --report (see 'peerheap gate --help')");
        return PH_EXIT_USAGE;
    }
    if (o->replay.transport_given && o->replay.cfg.sink != PH_SINK_MODEL) {
        ph_cli_error("gate: the gate replays over the model transport (deterministic); "
                     "socket figures vary from run to run and cannot be gated");
        return PH_EXIT_USAGE;
    }
    o->replay.cfg.sink = PH_SINK_MODEL;
    o->replay.quiet = true;
    return PH_EXIT_OK;
}

static int parse_args(int argc, char **argv, struct gate_opts *o)
{
    const char *gh = getenv("GITHUB_ACTIONS");
    o->github = gh && strcmp(gh, "true") == 0;
    int rc = ph_replay_cli_init(&o->replay, argc, "gate");
    if (rc)
        return rc;
    struct option *opts = all_options();
    if (!opts) {
        ph_cli_error("gate: out of memory");
        return PH_EXIT_USAGE;
    }
    ph_cli_getopt_reset();
    int c;
    char name[64];
    while (!rc && (c = getopt_long(argc, argv, "-:", opts, NULL)) != -1) {
        if (c == ':')
            ph_cli_error("gate: option '%s' needs a value (see 'peerheap gate --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
        else if (c == '?')
            ph_cli_error("gate: unknown option '%s' (see 'peerheap gate --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
        rc = c == ':' || c == '?' ? PH_EXIT_USAGE : gate_option(o, c, optarg);
    }
    free(opts);
    for (; !rc && optind < argc; optind++) /* after "--" */
        rc = gate_option(o, 1, argv[optind]);
    return rc ? rc : check_args(o);
}

/* ---- text ---- */

static const char *result_word(ph_gate_result r)
{
    switch (r) {
    case PH_GATE_PASS: return "PASS";
    case PH_GATE_FAIL: return "FAIL";
    case PH_GATE_IMPROVED: return "PASS (improved)";
    default: return "not gated";
    }
}

/* "exact allocations_per_write: baseline 1.000278, now 1.000286, delta
 * +0.000009 (+0.000868%)" */
static void describe(const ph_cmp_line *l, char *buf, size_t len)
{
    char a[48], b[48], d[80];
    ph_cmp_format(l, l->a, a, sizeof a);
    ph_cmp_format(l, l->b, b, sizeof b);
    ph_cmp_format_delta(l, d, sizeof d);
    snprintf(buf, len, "%s %s: baseline %s%s, now %s%s, delta %s", l->strategy, l->metric, a,
             l->in_a ? "" : " (absent)", b, l->in_b ? "" : " (absent)", d);
}

/* Per-type writes and bytes are shown by diff; the gate's lines are its
 * judged figures and the strategy-level context. */
static bool shown(const ph_cmp_line *l)
{
    return !(l->group == PH_CMP_TYPE && l->kind != PH_CMP_GATED);
}

static void print_lines(const ph_gate *g)
{
    printf("%-9s %-44s %16s %16s  %-24s %s\n", "strategy", "metric", "baseline", "now", "delta",
           "result");
    for (size_t i = 0; i < g->cmp->n_lines; i++) {
        const ph_cmp_line *l = &g->cmp->lines[i];
        if (!shown(l))
            continue;
        char a[48], b[48], d[80];
        ph_cmp_format(l, l->a, a, sizeof a);
        ph_cmp_format(l, l->b, b, sizeof b);
        ph_cmp_format_delta(l, d, sizeof d);
        printf("%-9s %-44s %16s %16s  %-24s %s\n", l->strategy, l->metric, l->in_a ? a : "-",
               l->in_b ? b : "-", d, result_word(g->result[i]));
    }
}

static void print_verdict(const struct gate_opts *o, const ph_gate *g)
{
    char worst[400], best[400];
    if (g->improved) {
        describe(&g->cmp->lines[g->best], best, sizeof best);
        if (g->failed)
            printf("note: %zu gated figure%s improved beyond the tolerance (best: %s)\n",
                   g->improved, g->improved == 1 ? "" : "s", best);
    }
    if (g->failed) {
        describe(&g->cmp->lines[g->worst], worst, sizeof worst);
        printf("gate: FAIL: %zu of %zu gated figures regressed beyond %g%% of %s; worst: %s\n",
               g->failed, g->gated, o->tolerance, o->baseline, worst);
        return;
    }
    printf("gate: PASS: %zu gated figures within %g%% of %s", g->gated, o->tolerance,
           o->baseline);
    if (g->improved)
        printf("; %zu improved (best: %s): baseline can be tightened: --write-baseline",
               g->improved, best);
    printf("\n");
}

static void annotate(const struct gate_opts *o, const ph_gate *g)
{
    for (size_t i = 0; i < g->cmp->n_lines; i++) {
        const ph_cmp_line *l = &g->cmp->lines[i];
        char title[200], msg[600];
        snprintf(title, sizeof title, "peerheap gate: %s %s", l->strategy, l->metric);
        describe(l, msg, sizeof msg);
        size_t n = strlen(msg);
        if (g->result[i] == PH_GATE_FAIL) {
            snprintf(msg + n, sizeof msg - n, " (regression beyond %g%%)", o->tolerance);
            gh_command(o, "error", title, msg);
        } else if (g->result[i] == PH_GATE_IMPROVED) {
            snprintf(msg + n, sizeof msg - n,
                     " (improved beyond %g%%): baseline can be tightened: --write-baseline",
                     o->tolerance);
            gh_command(o, "notice", title, msg);
        }
    }
}

/* ---- JUnit ---- */

static void xml_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"')
            fputs("&quot;", f);
        else if (c == '\'')
            fputs("&apos;", f);
        else if (c < 0x20 && c != '\n' && c != '\t')
            fputc('?', f); /* not allowed in XML 1.0 */
        else
            fputc(c, f);
    }
}

static void junit_attr(FILE *f, const char *name, const char *value)
{
    fprintf(f, " %s=\"", name);
    xml_escaped(f, value);
    fputc('"', f);
}

static void junit_case(FILE *f, const struct gate_opts *o, const ph_gate *g, size_t i)
{
    const ph_cmp_line *l = &g->cmp->lines[i];
    char cls[96], msg[600];
    snprintf(cls, sizeof cls, "peerheap.gate.%s", l->strategy);
    fprintf(f, "    <testcase");
    junit_attr(f, "classname", cls);
    junit_attr(f, "name", l->metric);
    fprintf(f, " time=\"0\"");
    describe(l, msg, sizeof msg);
    if (g->result[i] == PH_GATE_PASS) {
        fprintf(f, "/>\n");
        return;
    }
    fprintf(f, ">\n");
    if (g->result[i] == PH_GATE_FAIL) {
        size_t n = strlen(msg);
        snprintf(msg + n, sizeof msg - n, " (tolerance %g%%)", o->tolerance);
        fprintf(f, "      <failure type=\"regression\"");
        junit_attr(f, "message", msg);
        fprintf(f, ">");
        xml_escaped(f, msg);
        fprintf(f, "</failure>\n");
    } else {
        fprintf(f, "      <system-out>");
        xml_escaped(f, msg);
        fprintf(f, ": improved beyond the tolerance; the baseline can be tightened</system-out>\n");
    }
    fprintf(f, "    </testcase>\n");
}

static void junit_suite_open(FILE *f, const struct gate_opts *o, size_t tests, size_t failures,
                             size_t errors)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"peerheap gate\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\">\n",
            tests, failures, errors);
    char name[600];
    snprintf(name, sizeof name, "peerheap gate: %s", o->baseline);
    fprintf(f, "  <testsuite");
    junit_attr(f, "name", name);
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"0\" time=\"0\">\n",
            tests, failures, errors);
    fprintf(f, "    <properties>\n      <property name=\"baseline\"");
    junit_attr(f, "value", o->baseline);
    fprintf(f, "/>\n      <property name=\"tolerance_pct\" value=\"%g\"/>\n", o->tolerance);
    fprintf(f, "      <property name=\"peerheap_version\" value=\"%s\"/>\n    </properties>\n",
            PH_VERSION);
}

static void junit_suite_close(FILE *f)
{
    fprintf(f, "  </testsuite>\n</testsuites>\n");
}

static ph_err write_junit(FILE *f, const struct gate_opts *o, const ph_gate *g)
{
    junit_suite_open(f, o, g->gated, g->failed, 0);
    for (size_t i = 0; i < g->cmp->n_lines; i++)
        if (g->result[i] != PH_GATE_UNGATED)
            junit_case(f, o, g, i);
    junit_suite_close(f);
    return ferror(f) ? PH_ERR_IO : PH_OK;
}

/* A run that could not judge anything still leaves a JUnit file saying why,
 * so a CI page shows the reason next to the job. */
static void write_junit_error(ph_atomicfile *af, const struct gate_opts *o, const char *why)
{
    FILE *f = ph_atomicfile_stream(af);
    junit_suite_open(f, o, 1, 0, 1);
    fprintf(f, "    <testcase classname=\"peerheap.gate\" name=\"baseline\" time=\"0\">\n"
               "      <error type=\"unusable input\"");
    junit_attr(f, "message", why);
    fprintf(f, "/>\n    </testcase>\n");
    junit_suite_close(f);
    ph_cli_output_finish("gate", af, o->junit, ferror(f) ? PH_ERR_IO : PH_OK);
}

/* ---- the run ---- */

static int load_report(const struct gate_opts *o, const char *what, const char *path,
                       ph_report **out, char *why, size_t len)
{
    char reason[512];
    ph_err err = ph_report_load(out, path, reason, sizeof reason);
    if (!err)
        return PH_EXIT_OK;
    if (err == PH_ERR_IO && errno == ENOENT && !strcmp(what, "baseline"))
        snprintf(why, len, "baseline %s: %s (write one with --write-baseline)", path, reason);
    else if (err == PH_ERR_NOMEM)
        snprintf(why, len, "%s %s: out of memory", what, path);
    else
        snprintf(why, len, "%s %s: %s%s", what, path, err == PH_ERR_JSON ? "not a valid report: " : "",
                 reason);
    return unusable(o, "%s", why);
}

static int write_baseline(const struct gate_opts *o, const ph_report *r)
{
    ph_atomicfile *af = ph_cli_output_open("gate", o->baseline, true, false);
    if (!af)
        return PH_EXIT_USAGE;
    int rc = ph_cli_output_finish("gate", af, o->baseline,
                                  ph_report_write_json(r, ph_atomicfile_stream(af)));
    if (!rc)
        printf("gate: wrote baseline %s (%zu strateg%s, %zu input file%s)\n", o->baseline,
               r->n_strategies, r->n_strategies == 1 ? "y" : "ies", r->input.n_files,
               r->input.n_files == 1 ? "" : "s");
    return rc;
}

static int judge(const struct gate_opts *o, const ph_report *base, const ph_report *now,
                 ph_atomicfile **junit, char *why, size_t len)
{
    char diff[2048];
    if (ph_gate_differences(base, now, diff, sizeof diff)) {
        if (!o->allow_input_change) {
            snprintf(why, len, "not comparable with baseline %s: %s", o->baseline, diff);
            return unusable(o, "%s (--allow-input-change judges anyway)", why);
        }
        printf("gate: warning: judging despite differences from the baseline "
               "(--allow-input-change): %s\n", diff);
    }
    ph_gate *g;
    if (ph_gate_judge(base, now, o->tolerance, &g) != PH_OK) {
        snprintf(why, len, "out of memory");
        return unusable(o, "%s", why);
    }
    if (!g->gated) {
        ph_gate_destroy(g);
        snprintf(why, len, "no strategy of the baseline was measured: nothing to judge");
        return unusable(o, "%s", why);
    }
    print_lines(g);
    annotate(o, g);
    print_verdict(o, g);
    fflush(stdout);
    int rc = g->failed ? PH_EXIT_PARTIAL : PH_EXIT_OK;
    if (*junit) {
        ph_atomicfile *af = *junit;
        *junit = NULL;
        if (ph_cli_output_finish("gate", af, o->junit, write_junit(ph_atomicfile_stream(af), o, g)))
            rc = PH_EXIT_USAGE;
    }
    ph_gate_destroy(g);
    return rc;
}

/* The report to judge: replayed now, or read from --report. */
static int measure(struct gate_opts *o, ph_report **now, char *why, size_t len)
{
    if (o->report)
        return load_report(o, "report", o->report, now, why, len);
    printf("gate: replaying %zu capture%s over the model transport\n", o->replay.ncaptures,
           o->replay.ncaptures == 1 ? "" : "s");
    fflush(stdout);
    int rc = ph_replay_cli_run(&o->replay, "gate", stdout, now);
    if (!*now) {
        /* 2, whatever the replay's own status: 1 from a gate means a regression */
        snprintf(why, len, "the replay failed (see above)");
        gh_command(o, "error", "peerheap gate: unusable input", why);
        return PH_EXIT_USAGE;
    }
    if (rc) {
        /* exit 1 from the replay: some input could not be decrypted, or
         * frames did not arrive as captured: not a measurement to trust */
        snprintf(why, len, "the replay lost input or failed verification (see above)");
        return unusable(o, "%s", why);
    }
    return PH_EXIT_OK;
}

static int run_gate(struct gate_opts *o)
{
    /* Files that may not be replaced stop the run before any work. */
    ph_atomicfile *junit = NULL;
    if (o->junit && !(junit = ph_cli_output_open("gate", o->junit, o->replay.force, false)))
        return PH_EXIT_USAGE;
    const char *extra[3] = {o->replay.json, o->replay.csv, o->replay.svg};
    ph_err (*writer[3])(const ph_report *, FILE *) = {ph_report_write_json, ph_report_write_csv,
                                                        ph_report_write_svg};
    ph_atomicfile *extra_file[3] = {NULL, NULL, NULL};
    int rc = PH_EXIT_OK;
    for (size_t i = 0; !rc && i < 3; i++)
        if (extra[i] && !(extra_file[i] = ph_cli_output_open("gate", extra[i], o->replay.force,
                                                              false)))
            rc = PH_EXIT_USAGE;
    ph_report *now = NULL, *base = NULL;
    char why[2600] = "";
    if (!rc)
        rc = measure(o, &now, why, sizeof why);
    for (size_t i = 0; i < 3; i++) {
        if (!extra_file[i])
            continue;
        if (rc)
            ph_atomicfile_abort(extra_file[i]);
        else if (ph_cli_output_finish("gate", extra_file[i], extra[i],
                                      writer[i](now, ph_atomicfile_stream(extra_file[i]))))
            rc = PH_EXIT_USAGE;
    }
    if (!rc && o->write_baseline)
        rc = write_baseline(o, now);
    else if (!rc && !(rc = load_report(o, "baseline", o->baseline, &base, why, sizeof why)))
        rc = judge(o, base, now, &junit, why, sizeof why);
    if (junit && rc == PH_EXIT_USAGE && why[0])
        write_junit_error(junit, o, why);
    else
        ph_atomicfile_abort(junit);
    ph_report_destroy(now);
    ph_report_destroy(base);
    return rc;
}

static int cmd_gate(int argc, char **argv)
{
    struct gate_opts o;
    memset(&o, 0, sizeof o);
    int rc = parse_args(argc, argv, &o);
    if (!rc)
        rc = run_gate(&o);
    ph_replay_cli_free(&o.replay);
    return rc;
}

const struct ph_command ph_cmd_gate = {
    .name = "gate",
    .summary = "replay and fail on a heap regression against a committed baseline (CI)",
    .run = cmd_gate,
    .help = gate_help,
};
