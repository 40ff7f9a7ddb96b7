/* peerheap dump: list the Lightning messages in captures (decrypted with a
 * key log) and .lnmsgs files. The library does the work (lninput: capture,
 * tcpreasm, lnsession; wire); this file parses options and prints. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "commands.h"
#include "input.h"
#include "json.h"
#include "lninput.h"
#include "lnmsgs.h"
#include "wire.h"
#include "wire_summary.h"

struct opts {
    const char **captures;
    int ncaptures;
    const char *keylog;
    const char *filter;
    const char *export_path;
    const char *types;       /* --types LIST, or NULL for every type */
    bool json;
    bool force;              /* --force: --export may replace a file */
};

struct dump {
    const struct opts *o;
    FILE *out;
    bool out_err;            /* a JSON line could not be built or written */
    ph_atomicfile *exp_file; /* --export, renamed into place when complete */
    FILE *exp;
    bool exp_err;
    int exp_errno;           /* why the export failed */
    uint64_t *by_type;       /* 65,536 counters */
    uint64_t messages;
    uint8_t *wanted;         /* --types: 65,536 flags, NULL = every type */
    ph_lninput *in;
    size_t told;             /* problems already printed on stderr */
};

/* ---- small helpers ---- */

/* "2025-11-25 06:23:01.123456789" (UTC) or just the time of day. */
static void fmt_time(uint64_t ts_ns, bool with_date, char *out, size_t cap)
{
    time_t t = (time_t)(ts_ns / 1000000000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, cap, "%llu", (unsigned long long)ts_ns);
        return;
    }
    char base[24];
    strftime(base, sizeof base, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%09llu", base, (unsigned long long)(ts_ns % 1000000000u));
}

/* The codec's one-line summary without the leading name, or why it failed. */
static void summary(const uint8_t *msg, size_t len, const char *name, char *out, size_t cap)
{
    ph_wire_msg *m = NULL;
    size_t off = 0;
    ph_err e = ph_wire_decode(msg, len, PH_WIRE_BORROW, &m, &off);
    if (e) {
        snprintf(out, cap, "(does not decode: %s at offset %zu)", ph_strerror(e), off);
        return;
    }
    char line[512];
    ph_wire_summary(m, line, sizeof line);
    ph_wire_msg_free(m);
    size_t nl = strlen(name);
    const char *s = line;
    if (strncmp(s, name, nl) == 0 && (s[nl] == ' ' || s[nl] == '\0'))
        s += nl + (s[nl] == ' ');
    snprintf(out, cap, "%s", s);
}

/* ---- per message ---- */

/* One JSON Lines record on stdout; frees `o`. A failure is latched and
 * reported once at the end. */
static void json_line(struct dump *d, json_t *o, bool failed)
{
    if (failed || !o || ph_json_dump(o, d->out, false) != PH_OK)
        d->out_err = true;
    json_decref(o);
}

static void on_msg(void *ctx, const struct ph_lninput_msg *m)
{
    struct dump *d = ctx;
    uint16_t type = m->len >= 2 ? ph_wire_type_of(m->msg) : 0;
    char nbuf[PH_WIRE_TYPE_STRLEN];
    const char *name = m->len >= 2 ? ph_wire_type_str(type, nbuf) : "(empty)";
    d->messages++;
    if (m->len >= 2)
        d->by_type[type]++;
    if (d->exp && !d->exp_err) {
        if (ph_lnmsgs_write(d->exp, m->msg, m->len) != PH_OK) {
            d->exp_err = true;
            d->exp_errno = errno;
        }
    }
    char src[PH_ENDPOINT_STRLEN], dst[PH_ENDPOINT_STRLEN];
    if (d->o->json) {
        /* .lnmsgs records have no time, direction or endpoints: null, and
         * their file offset instead. */
        bool failed = false;
        json_t *o = json_object();
        ph_json_put(o, "ts", m->timed ? ph_json_real((double)m->ts_ns / 1e9) : json_null(),
                    &failed);
        ph_json_put(o, "ts_ns", m->timed ? ph_json_u64(m->ts_ns) : json_null(), &failed);
        ph_json_put(o, "session", ph_json_u64(m->session), &failed);
        ph_json_put(o, "dir", m->src ? json_string(m->dir == PH_LN_I2R ? "i2r" : "r2i")
                                     : json_null(), &failed);
        if (m->src)
            ph_endpoint_format(m->src, src);
        if (m->dst)
            ph_endpoint_format(m->dst, dst);
        ph_json_put(o, "src", m->src ? json_string(src) : json_null(), &failed);
        ph_json_put(o, "dst", m->dst ? json_string(dst) : json_null(), &failed);
        if (!m->timed)
            ph_json_put(o, "offset", ph_json_u64(m->offset), &failed);
        ph_json_put(o, "type", ph_json_u64(type), &failed);
        ph_json_put(o, "name", json_string(name), &failed);
        ph_json_put(o, "len", ph_json_u64(m->len), &failed);
        json_line(d, o, failed);
        return;
    }
    char when[64], sum[600];
    if (m->timed)
        fmt_time(m->ts_ns, false, when, sizeof when);
    else
        snprintf(when, sizeof when, "@%llu", (unsigned long long)m->offset);
    if (m->len >= 2)
        summary(m->msg, m->len, name, sum, sizeof sum);
    else
        snprintf(sum, sizeof sum, "(message shorter than its type)");
    fprintf(d->out, "%-18s  #%-3llu %s %-26s %6zu  %s\n", when, (unsigned long long)m->session,
            m->dir == PH_LN_I2R ? "->" : "<-", name, m->len, sum);
}

/* ---- per file ---- */

static void print_session_header(struct dump *d, const struct ph_lninput_session *s)
{
    const struct ph_ln_session_stats *st = &s->ln;
    if (!s->has_endpoints) {
        fprintf(d->out, "session %llu: .lnmsgs file: one sender, no endpoints or times "
                "(@ is a record's file offset)\n", (unsigned long long)s->id);
        fprintf(d->out, "  -> sender   : %llu messages, %llu bytes\n",
                (unsigned long long)st->messages[0], (unsigned long long)st->bytes[0]);
        fprintf(d->out, "  problems: 0\n");
        return;
    }
    char a[PH_ENDPOINT_STRLEN], b[PH_ENDPOINT_STRLEN], t0[64], t1[64];
    ph_endpoint_format(&st->initiator, a);
    ph_endpoint_format(&st->responder, b);
    fmt_time(st->start_ns, true, t0, sizeof t0);
    fmt_time(st->end_ns, true, t1, sizeof t1);
    fprintf(d->out, "session %llu: %s -> %s (TCP connection %llu)\n",
            (unsigned long long)st->id, a, b, (unsigned long long)st->conn);
    fprintf(d->out, "  start %s UTC, end %s UTC%s\n", t0, t1,
            st->closed ? "" : " (still open)");
    if (!st->handshake_seen)
        fprintf(d->out, "  handshake %s: found by a logged key's frame%s\n",
                st->handshake_bytes[0] || st->handshake_bytes[1] ? "partly captured"
                                                                  : "not captured",
                st->roles_guessed ? "; roles guessed (the higher port initiated)" : "");
    for (int dir = 0; dir < 2; dir++) {
        /* every stream byte: decrypted, not decrypted, or never captured */
        char lost[160] = "";
        int n = 0;
        if (st->undecrypted[dir])
            n += snprintf(lost + n, sizeof lost - (size_t)n, "; %llu not decrypted",
                          (unsigned long long)st->undecrypted[dir]);
        if (st->missing[dir] && n >= 0 && (size_t)n < sizeof lost)
            snprintf(lost + n, sizeof lost - (size_t)n, "; %llu missing from the capture",
                     (unsigned long long)st->missing[dir]);
        fprintf(d->out, "  %s %-9s: %llu messages, %llu bytes (%llu on the wire, %llu key%s%s)%s\n",
                dir == PH_LN_I2R ? "->" : "<-", dir == PH_LN_I2R ? "initiator" : "responder",
                (unsigned long long)st->messages[dir], (unsigned long long)st->bytes[dir],
                (unsigned long long)st->stream_bytes[dir], (unsigned long long)st->keys[dir],
                st->keys[dir] == 1 ? "" : "s", lost, st->complete[dir] ? "" : ", INCOMPLETE");
    }
    if (st->overlap_conflicts[0] || st->overlap_conflicts[1])
        fprintf(d->out, "  retransmissions that disagreed with the first copy: %llu / %llu\n",
                (unsigned long long)st->overlap_conflicts[0],
                (unsigned long long)st->overlap_conflicts[1]);
    fprintf(d->out, "  problems: %u\n", st->problems);
}

/* Text output: the file's headers before its messages (lninput reads a
 * capture twice for it: stats_first). */
static void on_file(void *ctx, const ph_lninput *in, size_t file)
{
    struct dump *d = ctx;
    const struct ph_lninput_file *f = ph_lninput_file(in, file);
    fprintf(d->out, "== %s\n", f->path);
    for (size_t i = 0; i < ph_lninput_problem_count(in); i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(in, i);
        if (p->file == file && p->severity == PH_LNINPUT_NOTE) {
            char text[640];
            ph_tool_problem_text(p, text, sizeof text);
            fprintf(d->out, "# %s\n", text);
        }
    }
    for (size_t i = 0; i < f->nsessions; i++)
        print_session_header(d, ph_lninput_session(in, f->first_session + i));
    fputc('\n', d->out);
}

/* ---- totals ---- */

static size_t count_problems(const ph_lninput *in)
{
    size_t n = 0;
    for (size_t i = 0; i < ph_lninput_problem_count(in); i++)
        n += ph_lninput_problem(in, i)->severity != PH_LNINPUT_NOTE;
    return n;
}

static void print_totals(struct dump *d)
{
    fprintf(d->out, "\ntotals by type:\n");
    for (unsigned t = 0; t < 65536; t++) {
        if (!d->by_type[t])
            continue;
        char nbuf[PH_WIRE_TYPE_STRLEN];
        fprintf(d->out, "  %-28s %5u  %llu\n", ph_wire_type_str((uint16_t)t, nbuf), t,
                (unsigned long long)d->by_type[t]);
    }
    size_t nproblems = count_problems(d->in);
    /* worded as replay words its counts */
    size_t ns = ph_lninput_session_count(d->in);
    fprintf(d->out, "%zu session%s, %llu message%s, %zu problem%s\n", ns, ns == 1 ? "" : "s",
            (unsigned long long)d->messages, d->messages == 1 ? "" : "s", nproblems,
            nproblems == 1 ? "" : "s");
    if (nproblems)
        fprintf(d->out, "problems:\n");
    for (size_t i = 0; i < ph_lninput_problem_count(d->in); i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(d->in, i);
        if (p->severity == PH_LNINPUT_NOTE)
            continue;
        char text[640];
        ph_tool_problem_text(p, text, sizeof text);
        fprintf(d->out, "  %s\n", text);
    }
}

static void json_summary(struct dump *d)
{
    bool failed = false;
    json_t *sum = json_object();
    ph_json_put(sum, "sessions", ph_json_u64(ph_lninput_session_count(d->in)), &failed);
    ph_json_put(sum, "messages", ph_json_u64(d->messages), &failed);
    json_t *types = json_object();
    for (unsigned t = 0; t < 65536; t++) {
        if (!d->by_type[t])
            continue;
        char nbuf[PH_WIRE_TYPE_STRLEN];
        ph_json_put(types, ph_wire_type_str((uint16_t)t, nbuf), ph_json_u64(d->by_type[t]),
                    &failed);
    }
    ph_json_put(sum, "by_type", types, &failed);
    json_t *problems = json_array();
    for (size_t i = 0; i < ph_lninput_problem_count(d->in); i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(d->in, i);
        if (p->severity == PH_LNINPUT_NOTE)
            continue;
        char text[640];
        ph_tool_problem_text(p, text, sizeof text);
        ph_json_append(problems, ph_json_text(text), &failed);
    }
    ph_json_put(sum, "problems", problems, &failed);
    json_t *o = json_object();
    ph_json_put(o, "summary", sum, &failed);
    json_line(d, o, failed);
}

/* ---- options ---- */

enum { OPT_JSON = PH_OPT_BASE, OPT_KEYLOG, OPT_FILTER, OPT_EXPORT, OPT_TYPES, OPT_FORCE };

static const struct option long_opts[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"keylog", required_argument, NULL, OPT_KEYLOG},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"export", required_argument, NULL, OPT_EXPORT},
    {"types", required_argument, NULL, OPT_TYPES},
    {"force", no_argument, NULL, OPT_FORCE},
    {NULL, 0, NULL, 0},
};

static int parse(int argc, char **argv, struct opts *o)
{
    o->captures = calloc((size_t)argc, sizeof *o->captures);
    if (!o->captures)
        return PH_EXIT_USAGE;
    ph_cli_getopt_reset();
    int c;
    char name[64];
    while ((c = getopt_long(argc, argv, "-:", long_opts, NULL)) != -1) {
        switch (c) {
        case 1: o->captures[o->ncaptures++] = optarg; break;
        case OPT_JSON: o->json = true; break;
        case OPT_KEYLOG: o->keylog = optarg; break;
        case OPT_FILTER: o->filter = optarg; break;
        case OPT_EXPORT: o->export_path = optarg; break;
        case OPT_TYPES: o->types = optarg; break;
        case OPT_FORCE: o->force = true; break;
        case ':':
            ph_cli_error("dump: %s needs a value", ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        default:
            ph_cli_error("dump: unknown option '%s' (try 'peerheap dump --help')",
                         ph_cli_bad_option(argv, name, sizeof name));
            return PH_EXIT_USAGE;
        }
    }
    for (; optind < argc; optind++) /* after "--" */
        o->captures[o->ncaptures++] = argv[optind];
    if (!o->ncaptures) {
        ph_cli_error("dump: no capture given (try 'peerheap dump --help')");
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

static int finish(struct dump *d, int rc)
{
    ph_atomicfile_abort(d->exp_file); /* NULL once committed */
    ph_lninput_destroy(d->in);
    free(d->by_type);
    free(d->wanted);
    free((void *)d->o->captures);
    return rc;
}

/* The export is renamed into place only when every input was usable. */
static int finish_export(struct dump *d, int status)
{
    const char *path = d->o->export_path;
    if (status == PH_EXIT_USAGE && !d->exp_err) {
        ph_cli_error("dump: %s not written (unusable input)", path);
        return PH_EXIT_USAGE;
    }
    ph_atomicfile *af = d->exp_file;
    d->exp_file = NULL;
    errno = d->exp_errno;
    return ph_cli_output_finish("dump", af, path, d->exp_err ? PH_ERR_IO : PH_OK);
}

static int run(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    struct dump d;
    memset(&d, 0, sizeof d);
    d.o = &o;
    d.out = stdout;
    int rc = parse(argc, argv, &o);
    if (rc)
        return finish(&d, rc);
    if (o.types && !(d.wanted = ph_tool_parse_types("dump", o.types)))
        return finish(&d, PH_EXIT_USAGE);
    if (!(d.by_type = calloc(65536, sizeof *d.by_type))) {
        ph_cli_error("dump: out of memory");
        return finish(&d, PH_EXIT_USAGE);
    }
    struct ph_lninput_opts lo = {
        .keylog = o.keylog,
        .keylog_fallback = getenv("LIGHTNINGKEYLOGFILE"),
        .filter = o.filter,
        .types = d.wanted,
        .on_msg = on_msg,
        .on_file = o.json ? NULL : on_file,
        .ctx = &d,
        .stats_first = !o.json,
    };
    if (ph_lninput_create(&d.in, &lo)) {
        ph_cli_error("dump: out of memory");
        return finish(&d, PH_EXIT_USAGE);
    }
    ph_tool_print_problems(d.in, &d.told, false); /* what the --keylog file said */
    if (ph_tool_input_status(d.in) == PH_EXIT_USAGE)
        return finish(&d, PH_EXIT_USAGE);
    if (o.export_path) {
        if (!(d.exp_file = ph_cli_output_open("dump", o.export_path, o.force, false)))
            return finish(&d, PH_EXIT_USAGE);
        d.exp = ph_atomicfile_stream(d.exp_file);
    }
    /* Problems go to stderr as each file is done: every one with --json
     * (stdout is data), else only what made a file unusable (the text
     * output lists the rest at the end). */
    for (int i = 0; i < o.ncaptures; i++) {
        /* A file's error is also recorded as a problem: printed here and
         * counted in the exit status, as every problem is. */
        ph_ignore_err(ph_lninput_read(d.in, o.captures[i]));
        ph_tool_print_problems(d.in, &d.told, !o.json);
    }
    if (o.json)
        json_summary(&d);
    else
        print_totals(&d);
    bool out_err = d.out_err || fflush(stdout) != 0 || ferror(stdout);
    int status = ph_tool_input_status(d.in);
    if (out_err) {
        ph_cli_error("dump: write error on the standard output");
        status = PH_EXIT_USAGE;
    }
    if (o.export_path && (rc = finish_export(&d, status)))
        status = rc;
    return finish(&d, status);
}

const struct ph_command ph_cmd_dump = {
    "dump",
    "list the Lightning messages in captures (decrypted with a key log)",
    run,
    "usage: peerheap dump CAPTURE... [--keylog FILE] [--filter EXPR] [--json]\n"
    "                    [--export FILE.lnmsgs] [--force] [--types LIST]\n"
    "\n"
    "Reads pcap/pcapng captures, reassembles TCP, finds BOLT 8 sessions by their\n"
    "handshake (any port) and decrypts them with a key log ('<mac> <key>' lines).\n"
    "A CAPTURE ending in .lnmsgs is a message file ([u16 length][message]...):\n"
    "listed as one session with one sender, no endpoints or times.\n"
    "\n"
    "  --keylog FILE   key log for every capture (default: CAPTURE.keys, or the\n"
    "                  capture's name with its extension replaced by .keys)\n"
    "  --filter EXPR   BPF filter applied to the capture's packets\n"
    "  --json          JSON Lines: one object per message (ts, ts_ns, session, dir\n"
    "                  \"i2r\" initiator to responder or \"r2i\", src, dst, type, name,\n"
    "                  len; for .lnmsgs ts, ts_ns, dir, src and dst are null and\n"
    "                  offset is the record's file offset), then {\"summary\":\n"
    "                  {sessions, messages, by_type, problems}}\n"
    "  --export FILE   write the plaintext messages as [u16 BE length][message]\n"
    "                  (written to a temporary file, renamed when complete; an\n"
    "                  existing FILE is kept unless --force)\n"
    "  --force         let --export replace an existing file\n"
    "  --types LIST    only messages of these types (numbers or names, comma-\n"
    "                  separated, e.g. 256,257,258 or channel_update) in every\n"
    "                  output: lines, JSON, export and totals\n"
    "\n"
    "Default output: a header per session, one line per message (time UTC, or\n"
    "@offset for .lnmsgs; session; -> initiator to responder or <- back; type,\n"
    "length, summary), then totals per type and the problems found.\n"
    "\n"
    "Exit status: 0 every frame decrypted; 1 some sessions or frames could not be\n"
    "(reasons printed); 2 unusable input (not a capture, unreadable, bad key log,\n"
    "malformed .lnmsgs).\n",
};
