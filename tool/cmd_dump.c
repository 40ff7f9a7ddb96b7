/* peerheap dump: list the Lightning messages in captures (decrypted with a
 * key log) and .lnmsgs files. The library does the work (lninput: capture,
 * tcpreasm, lnsession; wire); this file parses options and prints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "input.h"
#include "json.h"
#include "lninput.h"
#include "wire.h"

struct opts {
    const char **captures;
    int ncaptures;
    const char *keylog;
    const char *filter;
    const char *export_path;
    const char *types;       /* --types LIST, or NULL for every type */
    bool json;
};

struct dump {
    const struct opts *o;
    FILE *out;
    ph_json_writer *jw;
    FILE *exp;
    bool exp_err;
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

static const char *type_name(uint16_t type, char *buf, size_t cap)
{
    const char *n = ph_wire_type_name(type);
    if (n)
        return n;
    snprintf(buf, cap, "unknown_type_%u", type);
    return buf;
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

static void on_msg(void *ctx, const struct ph_lninput_msg *m)
{
    struct dump *d = ctx;
    uint16_t type = m->len >= 2 ? (uint16_t)(m->msg[0] << 8 | m->msg[1]) : 0;
    char nbuf[24];
    const char *name = m->len >= 2 ? type_name(type, nbuf, sizeof nbuf) : "(empty)";
    d->messages++;
    if (m->len >= 2)
        d->by_type[type]++;
    if (d->exp && !d->exp_err) {
        uint8_t hdr[2] = {(uint8_t)(m->len >> 8), (uint8_t)m->len};
        if (fwrite(hdr, 1, 2, d->exp) != 2 || fwrite(m->msg, 1, m->len, d->exp) != m->len)
            d->exp_err = true;
    }
    char src[PH_ENDPOINT_STRLEN], dst[PH_ENDPOINT_STRLEN];
    if (d->jw) {
        ph_json_writer *w = d->jw;
        ph_jw_object_begin(w);
        /* .lnmsgs records have no time, direction or endpoints: null, and
         * their file offset instead. */
        ph_jw_key(w, "ts");
        if (m->timed)
            ph_jw_double(w, (double)m->ts_ns / 1e9);
        else
            ph_jw_null(w);
        ph_jw_key(w, "ts_ns");
        if (m->timed)
            ph_jw_u64(w, m->ts_ns);
        else
            ph_jw_null(w);
        ph_jw_key(w, "session");
        ph_jw_u64(w, m->session);
        ph_jw_key(w, "dir");
        if (m->src)
            ph_jw_string(w, m->dir == PH_LN_I2R ? "i2r" : "r2i");
        else
            ph_jw_null(w);
        ph_jw_key(w, "src");
        if (m->src) {
            ph_endpoint_format(m->src, src);
            ph_jw_string(w, src);
        } else {
            ph_jw_null(w);
        }
        ph_jw_key(w, "dst");
        if (m->dst) {
            ph_endpoint_format(m->dst, dst);
            ph_jw_string(w, dst);
        } else {
            ph_jw_null(w);
        }
        if (!m->timed) {
            ph_jw_key(w, "offset");
            ph_jw_u64(w, m->offset);
        }
        ph_jw_key(w, "type");
        ph_jw_u64(w, type);
        ph_jw_key(w, "name");
        ph_jw_string(w, name);
        ph_jw_key(w, "len");
        ph_jw_u64(w, m->len);
        ph_jw_object_end(w);
        ph_jw_newline(w);
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
        char nbuf[24];
        fprintf(d->out, "  %-28s %5u  %llu\n", type_name((uint16_t)t, nbuf, sizeof nbuf), t,
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
    ph_json_writer *w = d->jw;
    ph_jw_object_begin(w);
    ph_jw_key(w, "summary");
    ph_jw_object_begin(w);
    ph_jw_key(w, "sessions");
    ph_jw_u64(w, ph_lninput_session_count(d->in));
    ph_jw_key(w, "messages");
    ph_jw_u64(w, d->messages);
    ph_jw_key(w, "by_type");
    ph_jw_object_begin(w);
    for (unsigned t = 0; t < 65536; t++) {
        if (!d->by_type[t])
            continue;
        char nbuf[24];
        ph_jw_key(w, type_name((uint16_t)t, nbuf, sizeof nbuf));
        ph_jw_u64(w, d->by_type[t]);
    }
    ph_jw_object_end(w);
    ph_jw_key(w, "problems");
    ph_jw_array_begin(w);
    for (size_t i = 0; i < ph_lninput_problem_count(d->in); i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(d->in, i);
        if (p->severity == PH_LNINPUT_NOTE)
            continue;
        char text[640];
        ph_tool_problem_text(p, text, sizeof text);
        ph_jw_string(w, text);
    }
    ph_jw_array_end(w);
    ph_jw_object_end(w);
    ph_jw_object_end(w);
    ph_jw_newline(w);
}

/* ---- options ---- */

static int parse(int argc, char **argv, struct opts *o)
{
    o->captures = calloc((size_t)argc, sizeof *o->captures);
    if (!o->captures)
        return PH_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--keylog") == 0)
            slot = &o->keylog;
        else if (strcmp(a, "--filter") == 0)
            slot = &o->filter;
        else if (strcmp(a, "--export") == 0)
            slot = &o->export_path;
        else if (strcmp(a, "--types") == 0)
            slot = &o->types;
        if (slot) {
            if (i + 1 >= argc) {
                ph_cli_error("dump: %s needs a value", a);
                return PH_EXIT_USAGE;
            }
            *slot = argv[++i];
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            ph_cli_error("dump: unknown option '%s' (try 'peerheap dump --help')", a);
            return PH_EXIT_USAGE;
        }
        o->captures[o->ncaptures++] = a;
    }
    if (!o->ncaptures) {
        ph_cli_error("dump: no capture given (try 'peerheap dump --help')");
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

static int finish(struct dump *d, int rc)
{
    if (d->jw)
        ph_json_writer_destroy(d->jw);
    if (d->exp && fclose(d->exp) != 0)
        d->exp_err = true;
    ph_lninput_destroy(d->in);
    free(d->by_type);
    free(d->wanted);
    free((void *)d->o->captures);
    return rc;
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
    if (o.json && ph_json_writer_create(&d.jw, stdout, false) != PH_OK)
        return finish(&d, PH_EXIT_USAGE);
    if (o.export_path && !(d.exp = fopen(o.export_path, "wb"))) {
        ph_cli_error("%s: cannot write: %s", o.export_path, strerror(errno));
        return finish(&d, PH_EXIT_USAGE);
    }
    /* Problems go to stderr as each file is done: every one with --json
     * (stdout is data), else only what made a file unusable (the text
     * output lists the rest at the end). */
    for (int i = 0; i < o.ncaptures; i++) {
        ph_lninput_read(d.in, o.captures[i]);
        ph_tool_print_problems(d.in, &d.told, !o.json);
    }
    if (d.jw)
        json_summary(&d);
    else
        print_totals(&d);
    if (d.jw && ph_json_writer_error(d.jw))
        d.exp_err = true;
    bool out_err = fflush(stdout) != 0 || ferror(stdout);
    int status = ph_tool_input_status(d.in);
    rc = finish(&d, PH_EXIT_OK);
    if (d.exp_err || out_err) {
        ph_cli_error("dump: write error%s%s", o.export_path ? " on " : "",
                     o.export_path ? o.export_path : "");
        return PH_EXIT_USAGE;
    }
    return status;
}

const struct ph_command ph_cmd_dump = {
    "dump",
    "list the Lightning messages in captures (decrypted with a key log)",
    run,
    "usage: peerheap dump CAPTURE... [--keylog FILE] [--filter EXPR] [--json]\n"
    "                    [--export FILE.lnmsgs] [--types LIST]\n"
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
