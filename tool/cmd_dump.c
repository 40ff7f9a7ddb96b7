/* peerheap dump: list the Lightning messages in captures, decrypted with a
 * key log. The library does the work (capture, tcpreasm, lnsession, wire);
 * this file parses options and prints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "cli.h"
#include "input.h"
#include "commands.h"
#include "json.h"
#include "keylog.h"
#include "lnsession.h"
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
    uint64_t messages, sessions;
    char **problems;         /* "CAPTURE: text" for the summary */
    size_t nproblems, cap_problems;
    bool partial;            /* some frame or session not decrypted */
    uint8_t *wanted;         /* --types: 65,536 flags, NULL = every type */
    bool unusable;           /* some input could not be used at all */
};

/* ---- small helpers ---- */

static void add_problem(struct dump *d, const char *capture, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_problem(struct dump *d, const char *capture, const char *fmt, ...)
{
    char text[512];
    int n = snprintf(text, sizeof text, "%s: ", capture);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    d->partial = true;
    if (d->nproblems == d->cap_problems) {
        size_t c = d->cap_problems ? d->cap_problems * 2 : 16;
        char **p = realloc(d->problems, c * sizeof *p);
        if (!p)
            return;
        d->problems = p;
        d->cap_problems = c;
    }
    char *copy = strdup(text);
    if (copy)
        d->problems[d->nproblems++] = copy;
}

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

static void on_record(void *ctx, const struct ph_ln_record *r)
{
    struct dump *d = ctx;
    uint16_t type = r->len >= 2 ? (uint16_t)(r->msg[0] << 8 | r->msg[1]) : 0;
    char nbuf[24];
    const char *name = r->len >= 2 ? type_name(type, nbuf, sizeof nbuf) : "(empty)";
    if (d->wanted && (r->len < 2 || !d->wanted[type]))
        return;
    d->messages++;
    if (r->len >= 2)
        d->by_type[type]++;
    if (d->exp && !d->exp_err) {
        uint8_t hdr[2] = {(uint8_t)(r->len >> 8), (uint8_t)r->len};
        if (fwrite(hdr, 1, 2, d->exp) != 2 || fwrite(r->msg, 1, r->len, d->exp) != r->len)
            d->exp_err = true;
    }
    char src[PH_ENDPOINT_STRLEN], dst[PH_ENDPOINT_STRLEN];
    if (d->jw) {
        ph_endpoint_format(r->src, src);
        ph_endpoint_format(r->dst, dst);
        ph_jw_object_begin(d->jw);
        ph_jw_key(d->jw, "ts");
        ph_jw_double(d->jw, (double)r->ts_ns / 1e9);
        ph_jw_key(d->jw, "ts_ns");
        ph_jw_u64(d->jw, r->ts_ns);
        ph_jw_key(d->jw, "session");
        ph_jw_u64(d->jw, r->session);
        ph_jw_key(d->jw, "dir");
        ph_jw_string(d->jw, r->dir == PH_LN_I2R ? "i2r" : "r2i");
        ph_jw_key(d->jw, "src");
        ph_jw_string(d->jw, src);
        ph_jw_key(d->jw, "dst");
        ph_jw_string(d->jw, dst);
        ph_jw_key(d->jw, "type");
        ph_jw_u64(d->jw, type);
        ph_jw_key(d->jw, "name");
        ph_jw_string(d->jw, name);
        ph_jw_key(d->jw, "len");
        ph_jw_u64(d->jw, r->len);
        ph_jw_object_end(d->jw);
        ph_jw_newline(d->jw);
        return;
    }
    char when[64], sum[600];
    fmt_time(r->ts_ns, false, when, sizeof when);
    if (r->len >= 2)
        summary(r->msg, r->len, name, sum, sizeof sum);
    else
        snprintf(sum, sizeof sum, "(message shorter than its type)");
    fprintf(d->out, "%s  #%-3llu %s %-26s %6zu  %s\n", when, (unsigned long long)r->session,
            r->dir == PH_LN_I2R ? "->" : "<-", name, r->len, sum);
}

/* ---- per capture ---- */

static void print_session_header(struct dump *d, const struct ph_ln_session_stats *st)
{
    char a[PH_ENDPOINT_STRLEN], b[PH_ENDPOINT_STRLEN], t0[64], t1[64];
    ph_endpoint_format(&st->initiator, a);
    ph_endpoint_format(&st->responder, b);
    fmt_time(st->start_ns, true, t0, sizeof t0);
    fmt_time(st->end_ns, true, t1, sizeof t1);
    fprintf(d->out, "session %llu: %s -> %s (TCP connection %llu)\n",
            (unsigned long long)st->id, a, b, (unsigned long long)st->conn);
    fprintf(d->out, "  start %s UTC, end %s UTC%s\n", t0, t1,
            st->closed ? "" : " (still open)");
    for (int dir = 0; dir < 2; dir++)
        fprintf(d->out, "  %s %-9s: %llu messages, %llu bytes (%llu on the wire, %llu key%s)%s\n",
                dir == PH_LN_I2R ? "->" : "<-", dir == PH_LN_I2R ? "initiator" : "responder",
                (unsigned long long)st->messages[dir], (unsigned long long)st->bytes[dir],
                (unsigned long long)st->stream_bytes[dir], (unsigned long long)st->keys[dir],
                st->keys[dir] == 1 ? "" : "s", st->complete[dir] ? "" : ", INCOMPLETE");
    if (st->overlap_conflicts[0] || st->overlap_conflicts[1])
        fprintf(d->out, "  retransmissions that disagreed with the first copy: %llu / %llu\n",
                (unsigned long long)st->overlap_conflicts[0],
                (unsigned long long)st->overlap_conflicts[1]);
    fprintf(d->out, "  problems: %u\n", st->problems);
}

static ph_keylog *load_keylog(const char *path, bool *bad)
{
    ph_keylog *kl = NULL;
    unsigned long line = 0;
    ph_err e = ph_keylog_load(&kl, path, &line);
    if (e == PH_ERR_KEYLOG_FORMAT) {
        ph_cli_error("%s:%lu: not a key log line (want '<32 hex mac> <64 hex key>')", path, line);
        *bad = true;
    } else if (e) {
        ph_cli_error("%s: cannot read key log: %s%s%s", path, ph_strerror(e),
                     e == PH_ERR_IO ? ": " : "", e == PH_ERR_IO ? strerror(errno) : "");
        *bad = true;
    }
    return e ? NULL : kl;
}

/* One pass over a capture. Returns false when the file is unusable. */
static bool pass(struct dump *d, const char *path, const ph_keylog *kl, uint64_t first_id,
                 bool with_records, ph_lnsessions **out)
{
    ph_capture *c = NULL;
    char err[PH_CAPTURE_ERRLEN];
    ph_err e = ph_capture_open(&c, path, d->o->filter, err);
    if (e) {
        ph_cli_error("%s: %s: %s", path, ph_strerror(e), err);
        return false;
    }
    struct ph_lnsession_opts lo = {.first_id = first_id};
    ph_lnsessions *s = NULL;
    e = ph_lnsession_create(&s, kl, &lo, with_records ? on_record : NULL, d);
    if (e) {
        ph_cli_error("%s: %s", path, ph_strerror(e));
        ph_capture_close(c);
        return false;
    }
    ph_lnsession_run(s, c);
    ph_capture_close(c);
    *out = s;
    return true;
}

static void collect(struct dump *d, const char *path, ph_lnsessions *s, bool print)
{
    size_t n = ph_lnsession_problem_count(s);
    for (size_t i = 0; i < n; i++) {
        const char *t = ph_lnsession_problem(s, i)->text;
        add_problem(d, path, "%s", t);
        if (print)
            ph_cli_error("%s: %s", path, t);
    }
    if (ph_lnsession_problems_dropped(s))
        add_problem(d, path, "%zu more problems not listed", ph_lnsession_problems_dropped(s));
    if (!ph_lnsession_count(s))
        add_problem(d, path, "no Lightning session found (TCP connections seen: %llu)",
                    (unsigned long long)ph_lnsession_connections(s));
    d->sessions += ph_lnsession_count(s);
}

static void unusable(struct dump *d, const char *path)
{
    d->unusable = true;
    add_problem(d, path, "unusable input (see the error above)");
}

static void dump_capture(struct dump *d, const char *path, const ph_keylog *given,
                         uint64_t *next_id)
{
    char kpath[4096];
    ph_keylog *own = NULL;
    const ph_keylog *kl = given;
    bool no_keylog = false;
    if (!d->o->keylog) {
        if (ph_tool_default_keylog(path, kpath, sizeof kpath)) {
            bool bad = false;
            own = load_keylog(kpath, &bad);
            if (bad) {
                unusable(d, path);
                return;
            }
            kl = own;
        } else {
            no_keylog = true;
        }
    }
    ph_lnsessions *s = NULL;
    if (!pass(d, path, kl, *next_id, d->jw != NULL, &s)) {
        unusable(d, path);
        ph_keylog_destroy(own);
        return;
    }
    if (no_keylog && d->jw)
        ph_cli_error("%s: note: no key log (neither --keylog nor %s.keys)", path, path);
    if (!d->jw) {
        /* Headers first: they need the whole capture, so read it twice. */
        fprintf(d->out, "== %s\n", path);
        if (no_keylog)
            fprintf(d->out, "# no key log (neither --keylog nor %s.keys)\n", path);
        for (size_t i = 0; i < ph_lnsession_count(s); i++)
            print_session_header(d, ph_lnsession_stats(s, i));
        ph_lnsession_destroy(s);
        s = NULL;
        fputc('\n', d->out);
        if (!pass(d, path, kl, *next_id, true, &s)) {
            unusable(d, path);
            ph_keylog_destroy(own);
            return;
        }
    }
    collect(d, path, s, d->jw != NULL);
    *next_id = ph_lnsession_next_id(s);
    ph_lnsession_destroy(s);
    ph_keylog_destroy(own);
}

/* ---- totals ---- */

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
    fprintf(d->out, "%llu sessions, %llu messages, %zu problems\n",
            (unsigned long long)d->sessions, (unsigned long long)d->messages, d->nproblems);
    if (d->nproblems) {
        fprintf(d->out, "problems:\n");
        for (size_t i = 0; i < d->nproblems; i++)
            fprintf(d->out, "  %s\n", d->problems[i]);
    }
}

static void json_summary(struct dump *d)
{
    ph_json_writer *w = d->jw;
    ph_jw_object_begin(w);
    ph_jw_key(w, "summary");
    ph_jw_object_begin(w);
    ph_jw_key(w, "sessions");
    ph_jw_u64(w, d->sessions);
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
    for (size_t i = 0; i < d->nproblems; i++)
        ph_jw_string(w, d->problems[i]);
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

/* "256,channel_update,node_announcement": numbers or the codec's names. */
static bool parse_types(const char *list, uint8_t *wanted)
{
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[64];
        if (len == 0 || len >= sizeof item)
            return false;
        memcpy(item, p, len);
        item[len] = 0;
        uint64_t v;
        const ph_wire_msg_desc *desc = ph_wire_msg_desc_by_name(item);
        if (desc)
            wanted[desc->type] = 1;
        else if (ph_cli_parse_u64(item, &v) && v <= 65535)
            wanted[v] = 1;
        else
            return false;
        p += len + (p[len] == ',');
    }
    return true;
}

static int finish(struct dump *d, int rc)
{
    if (d->jw)
        ph_json_writer_destroy(d->jw);
    if (d->exp && fclose(d->exp) != 0)
        d->exp_err = true;
    for (size_t i = 0; i < d->nproblems; i++)
        free(d->problems[i]);
    free(d->problems);
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
    d.by_type = calloc(65536, sizeof *d.by_type);
    if (!d.by_type || (o.types && !(d.wanted = calloc(65536, 1)))) {
        ph_cli_error("dump: out of memory");
        return finish(&d, PH_EXIT_USAGE);
    }
    if (o.types && !parse_types(o.types, d.wanted)) {
        ph_cli_error("dump: --types '%s': not a list of message types (numbers 0-65535 or "
                     "names such as channel_update)", o.types);
        return finish(&d, PH_EXIT_USAGE);
    }
    ph_keylog *kl = NULL;
    if (o.keylog) {
        bool bad = false;
        kl = load_keylog(o.keylog, &bad);
        if (bad)
            return finish(&d, PH_EXIT_USAGE);
    }
    if (o.json && ph_json_writer_create(&d.jw, stdout, false) != PH_OK) {
        ph_keylog_destroy(kl);
        return finish(&d, PH_EXIT_USAGE);
    }
    if (o.export_path && !(d.exp = fopen(o.export_path, "wb"))) {
        ph_cli_error("%s: cannot write: %s", o.export_path, strerror(errno));
        ph_keylog_destroy(kl);
        return finish(&d, PH_EXIT_USAGE);
    }
    uint64_t next_id = 1;
    for (int i = 0; i < o.ncaptures; i++)
        dump_capture(&d, o.captures[i], kl, &next_id);
    ph_keylog_destroy(kl);
    if (d.jw)
        json_summary(&d);
    else
        print_totals(&d);
    if (d.jw && ph_json_writer_error(d.jw))
        d.exp_err = true;
    bool out_err = fflush(stdout) != 0 || ferror(stdout);
    rc = finish(&d, PH_EXIT_OK);
    if (d.exp_err || out_err) {
        ph_cli_error("dump: write error%s%s", o.export_path ? " on " : "",
                     o.export_path ? o.export_path : "");
        return PH_EXIT_USAGE;
    }
    if (d.unusable)
        return PH_EXIT_USAGE;
    return d.partial ? PH_EXIT_PARTIAL : PH_EXIT_OK;
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
    "\n"
    "  --keylog FILE   key log for every capture (default: CAPTURE.keys, or the\n"
    "                  capture's name with its extension replaced by .keys)\n"
    "  --filter EXPR   BPF filter applied to the capture's packets\n"
    "  --json          JSON Lines: one object per message (ts, ts_ns, session, dir\n"
    "                  \"i2r\" initiator to responder or \"r2i\", src, dst, type, name,\n"
    "                  len), then {\"summary\": {sessions, messages, by_type, problems}}\n"
    "  --export FILE   write the plaintext messages as [u16 BE length][message]\n"
    "  --types LIST    only messages of these types (numbers or names, comma-\n"
    "                  separated, e.g. 256,257,258 or channel_update) in every\n"
    "                  output: lines, JSON, export and totals\n"
    "\n"
    "Default output: a header per session, one line per message (time UTC,\n"
    "session, -> initiator to responder or <- back, type, length, summary), then\n"
    "totals per type and the problems found.\n"
    "\n"
    "Exit status: 0 every frame decrypted; 1 some sessions or frames could not be\n"
    "(reasons printed); 2 unusable input (not a capture, unreadable, bad key log).\n",
};
