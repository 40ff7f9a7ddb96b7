#include "lninput.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keylog.h"

struct ph_lninput {
    char *keylog_path;          /* opts.keylog, copied */
    char *filter;
    uint8_t *types;             /* 65,536 flags or NULL */
    ph_lninput_msg_cb on_msg;
    ph_lninput_file_cb on_file;
    void *ctx;
    bool stats_first, keep;
    ph_keylog *shared_kl;       /* the key log given to create */
    bool shared_bad;            /* ... and it could not be used */

    struct ph_lninput_file *files;
    size_t nfiles, cap_files;
    struct ph_lninput_session *sess;
    size_t nsess, cap_sess;
    struct ph_lninput_problem *probs;
    size_t nprobs, cap_probs;
    enum ph_lninput_severity worst;
    uint64_t next_id;           /* number of the next session */
    uint64_t messages;
    ph_replay_input *kept;      /* opts.keep: every message delivered; the
                                   session field is our session index */
};

/* ---- bookkeeping ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A zeroed problem appended to the list, or NULL when memory ran out (the
 * severity still counts, so the caller's exit status stays right). */
static struct ph_lninput_problem *add_problem(ph_lninput *in, enum ph_lninput_problem_kind kind,
                                              enum ph_lninput_severity sev, size_t file,
                                              const char *path)
{
    if (sev > in->worst)
        in->worst = sev;
    if (in->nprobs == in->cap_probs) {
        size_t n = in->cap_probs ? in->cap_probs * 2 : 16;
        struct ph_lninput_problem *p = realloc(in->probs, n * sizeof *p);
        if (!p)
            return NULL;
        in->probs = p;
        in->cap_probs = n;
    }
    struct ph_lninput_problem *p = &in->probs[in->nprobs++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->severity = sev;
    p->file = file;
    p->path = path;
    return p;
}

static void problem_nomem(ph_lninput *in, size_t file)
{
    add_problem(in, PH_LNINPUT_PROB_NOMEM, PH_LNINPUT_UNUSABLE, file,
                file == PH_LNINPUT_NO_FILE ? NULL : in->files[file].path);
}

/* Session `idx` exists (zeroed entries are made up to it). */
static struct ph_lninput_session *session_at(ph_lninput *in, size_t idx, size_t file,
                                             size_t base, uint64_t first_id)
{
    if (idx >= in->cap_sess) {
        size_t n = in->cap_sess ? in->cap_sess : 16;
        while (n <= idx)
            n *= 2;
        struct ph_lninput_session *p = realloc(in->sess, n * sizeof *p);
        if (!p)
            return NULL;
        in->sess = p;
        in->cap_sess = n;
    }
    while (in->nsess <= idx) {
        struct ph_lninput_session *s = &in->sess[in->nsess];
        memset(s, 0, sizeof *s);
        s->id = first_id + (in->nsess - base);
        s->ln.id = s->id;
        s->file = file;
        s->node_dir = -1;
        s->replay_session = -1;
        in->nsess++;
    }
    return &in->sess[idx];
}

/* ---- create / destroy ---- */

static void keylog_problem(ph_lninput *in, size_t file, const char *path, ph_err e,
                           unsigned long line)
{
    int saved = errno;
    struct ph_lninput_problem *p =
        add_problem(in, e == PH_ERR_KEYLOG_FORMAT ? PH_LNINPUT_PROB_KEYLOG_LINE
                                                  : PH_LNINPUT_PROB_KEYLOG,
                    PH_LNINPUT_UNUSABLE, file, path);
    if (!p)
        return;
    p->err = e;
    p->line = line;
    p->sys_errno = e == PH_ERR_IO ? saved : 0;
}

ph_err ph_lninput_create(ph_lninput **out, const struct ph_lninput_opts *opts)
{
    *out = NULL;
    ph_lninput *in = calloc(1, sizeof *in);
    if (!in)
        return PH_ERR_NOMEM;
    struct ph_lninput_opts none = {0};
    if (!opts)
        opts = &none;
    in->on_msg = opts->on_msg;
    in->on_file = opts->on_file;
    in->ctx = opts->ctx;
    in->stats_first = opts->stats_first;
    in->keep = opts->keep;
    in->next_id = 1;
    bool nomem = (opts->keylog && !(in->keylog_path = strdup(opts->keylog))) ||
                 (opts->filter && !(in->filter = strdup(opts->filter))) ||
                 (opts->types && !(in->types = malloc(65536))) ||
                 (opts->keep && ph_replay_input_create(&in->kept));
    if (nomem) {
        ph_lninput_destroy(in);
        return PH_ERR_NOMEM;
    }
    if (opts->types)
        memcpy(in->types, opts->types, 65536);
    if (in->keylog_path) {
        unsigned long line = 0;
        ph_err e = ph_keylog_load(&in->shared_kl, in->keylog_path, &line);
        if (e == PH_ERR_NOMEM) {
            ph_lninput_destroy(in);
            return e;
        }
        if (e) {
            in->shared_kl = NULL;
            in->shared_bad = true;
            keylog_problem(in, PH_LNINPUT_NO_FILE, in->keylog_path, e, line);
        }
    }
    *out = in;
    return PH_OK;
}

void ph_lninput_destroy(ph_lninput *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->nfiles; i++) {
        free((char *)in->files[i].path);
        if (in->files[i].keylog != in->keylog_path)
            free((char *)in->files[i].keylog);
    }
    free(in->files);
    free(in->sess);
    free(in->probs);
    ph_keylog_destroy(in->shared_kl);
    ph_replay_input_destroy(in->kept);
    free(in->keylog_path);
    free(in->filter);
    free(in->types);
    free(in);
}

/* ---- delivering one message ---- */

struct pass {
    ph_lninput *in;
    size_t file;
    size_t base;                /* our index of the file's first session */
    uint64_t first_id;
    ph_err err;                 /* PH_ERR_NOMEM once memory ran out */
};

static void deliver(struct pass *ps, size_t idx, struct ph_lninput_msg *m)
{
    ph_lninput *in = ps->in;
    if (ps->err)
        return;
    struct ph_lninput_session *s = session_at(in, idx, ps->file, ps->base, ps->first_id);
    if (!s || idx > UINT32_MAX - 1) {
        ps->err = PH_ERR_NOMEM;
        return;
    }
    if (in->types && (m->len < 2 || !in->types[m->msg[0] << 8 | m->msg[1]]))
        return;
    s->kept_messages[m->dir]++;
    s->kept_bytes[m->dir] += m->len;
    in->messages++;
    if (in->keep) {
        if (m->len < 2) {
            s->short_messages++;
        } else if (ph_replay_input_add(in->kept, m->ts_ns, (uint32_t)idx, (uint8_t)m->dir,
                                       m->msg, m->len)) {
            ps->err = PH_ERR_NOMEM;
            return;
        }
    }
    if (in->on_msg)
        in->on_msg(in->ctx, m);
}

static void on_record(void *ctx, const struct ph_ln_record *r)
{
    struct pass *ps = ctx;
    struct ph_lninput_msg m = {
        .file = ps->file,
        .session = r->session,
        .dir = r->dir,
        .src = r->src,
        .dst = r->dst,
        .timed = true,
        .ts_ns = r->ts_ns,
        .msg = r->msg,
        .len = r->len,
    };
    deliver(ps, ps->base + (size_t)(r->session - ps->first_id), &m);
}

/* ---- files ---- */

static ph_err add_file(ph_lninput *in, const char *path, size_t *idx)
{
    if (in->nfiles == in->cap_files) {
        size_t n = in->cap_files ? in->cap_files * 2 : 8;
        struct ph_lninput_file *p = realloc(in->files, n * sizeof *p);
        if (!p)
            return PH_ERR_NOMEM;
        in->files = p;
        in->cap_files = n;
    }
    char *copy = strdup(path);
    if (!copy)
        return PH_ERR_NOMEM;
    struct ph_lninput_file *f = &in->files[in->nfiles];
    memset(f, 0, sizeof *f);
    f->path = copy;
    f->kind = ends_with(path, ".lnmsgs") ? PH_LNINPUT_LNMSGS : PH_LNINPUT_CAPTURE;
    f->first_session = in->nsess;
    *idx = in->nfiles++;
    return PH_OK;
}

/* Opens the file for reading, or records why it cannot be read: one clear
 * errno (a directory opens fine and only fails at the first read). */
static FILE *open_input(ph_lninput *in, size_t file)
{
    const char *path = in->files[file].path;
    FILE *fp = fopen(path, "rb");
    int err = fp ? 0 : errno;
    struct stat st;
    if (fp && fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        fp = NULL;
        err = EISDIR;
    }
    if (!fp) {
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_OPEN, PH_LNINPUT_UNUSABLE, file, path);
        if (p) {
            p->err = PH_ERR_IO;
            p->sys_errno = err;
        }
    }
    return fp;
}

/* ---- .lnmsgs ---- */

/* One pass over an .lnmsgs file: counts (deliver false) or delivers. On a
 * malformed record *bad_offset is its offset. */
static ph_err lnmsgs_pass(FILE *fp, uint8_t *buf, struct pass *ps, size_t idx, bool send,
                          uint64_t *n, uint64_t *bytes, uint64_t *bad_offset)
{
    uint64_t offset = 0;
    *n = *bytes = 0;
    for (;;) {
        uint8_t hdr[2];
        size_t got = fread(hdr, 1, 2, fp);
        if (got == 0 && !ferror(fp))
            return PH_OK;
        uint16_t len = (uint16_t)(hdr[0] << 8 | hdr[1]);
        if (got != 2 || len < 2 || fread(buf, 1, len, fp) != len) {
            *bad_offset = offset;
            return ferror(fp) ? PH_ERR_IO : PH_ERR_PARSE;
        }
        (*n)++;
        *bytes += len;
        if (send) {
            struct ph_lninput_msg m = {
                .file = ps->file,
                .session = ps->first_id,
                .dir = PH_LN_I2R,
                .offset = offset,
                .msg = buf,
                .len = len,
            };
            deliver(ps, idx, &m);
            if (ps->err)
                return ps->err;
        }
        offset += 2u + len;
    }
}

static ph_err read_lnmsgs(ph_lninput *in, size_t file)
{
    struct ph_lninput_file *f = &in->files[file];
    FILE *fp = open_input(in, file);
    if (!fp)
        return PH_ERR_IO;
    uint8_t *buf = malloc(65535);
    if (!buf) {
        fclose(fp);
        problem_nomem(in, file);
        return PH_ERR_NOMEM;
    }
    struct pass ps = {.in = in, .file = file, .base = in->nsess, .first_id = in->next_id};
    uint64_t n = 0, bytes = 0, bad = 0;
    /* Check the whole file first: a malformed one gives no message at all,
     * and the session's stats are known before its first message. */
    ph_err e = lnmsgs_pass(fp, buf, &ps, ps.base, false, &n, &bytes, &bad);
    struct ph_lninput_session *s = NULL;
    if (!e) {
        s = session_at(in, ps.base, file, ps.base, ps.first_id);
        e = s ? PH_OK : PH_ERR_NOMEM;
    }
    if (!e) {
        in->next_id++;
        s->ln.messages[0] = n;
        s->ln.bytes[0] = bytes;
        s->ln.complete[0] = s->ln.complete[1] = true;
        f->nsessions = 1;
        f->usable = true;
        if (in->on_file)
            in->on_file(in->ctx, in, file);
        rewind(fp);
        uint64_t n2, bytes2;
        e = lnmsgs_pass(fp, buf, &ps, ps.base, true, &n2, &bytes2, &bad);
        if (!e && (n2 != n || bytes2 != bytes))
            e = PH_ERR_PARSE; /* changed under us: as malformed */
    }
    int saved = errno;
    free(buf);
    fclose(fp);
    if (e == PH_ERR_NOMEM) {
        problem_nomem(in, file);
    } else if (e) {
        struct ph_lninput_problem *p =
            add_problem(in, e == PH_ERR_IO ? PH_LNINPUT_PROB_OPEN : PH_LNINPUT_PROB_LNMSGS_RECORD,
                        PH_LNINPUT_UNUSABLE, file, f->path);
        if (p) {
            p->err = e;
            p->offset = bad;
            p->sys_errno = e == PH_ERR_IO ? saved : 0;
        }
    }
    if (e && !f->usable && in->nsess > ps.base)
        in->nsess = ps.base; /* nothing of it was handed out */
    return e;
}

/* ---- captures ---- */

bool ph_lninput_default_keylog(const char *capture, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s.keys", capture);
    if (n < 0 || (size_t)n >= cap)
        return false;
    if (access(out, F_OK) == 0)
        return true;
    const char *slash = strrchr(capture, '/'), *dot = strrchr(capture, '.');
    if (dot && (!slash || dot > slash)) {
        char alt[4096];
        n = snprintf(alt, sizeof alt, "%.*s.keys", (int)(dot - capture), capture);
        if (n > 0 && (size_t)n < sizeof alt && (size_t)n < cap && access(alt, F_OK) == 0) {
            memcpy(out, alt, (size_t)n + 1);
            return true;
        }
    }
    return false;
}

/* The key log for capture `file`: the shared one, the default one beside
 * it, or none (a note). False when the capture is unusable. */
static bool capture_keylog(ph_lninput *in, size_t file, const ph_keylog **kl, ph_keylog **own,
                           ph_err *err)
{
    struct ph_lninput_file *f = &in->files[file];
    *kl = NULL;
    *own = NULL;
    if (in->keylog_path) {
        if (in->shared_bad) {
            *err = PH_ERR_KEYLOG_FORMAT;
            return false; /* already said, once, for every capture */
        }
        *kl = in->shared_kl;
        f->keylog = in->keylog_path;
        return true;
    }
    size_t cap = strlen(f->path) + 6;
    char *path = malloc(cap);
    if (!path) {
        *err = PH_ERR_NOMEM;
        problem_nomem(in, file);
        return false;
    }
    if (!ph_lninput_default_keylog(f->path, path, cap)) {
        free(path);
        add_problem(in, PH_LNINPUT_PROB_NO_KEYLOG, PH_LNINPUT_NOTE, file, f->path);
        return true;
    }
    f->keylog = path;
    unsigned long line = 0;
    ph_err e = ph_keylog_load(own, path, &line);
    if (e) {
        *own = NULL;
        *err = e;
        if (e == PH_ERR_NOMEM)
            problem_nomem(in, file);
        else
            keylog_problem(in, file, path, e, line);
        return false;
    }
    *kl = *own;
    return true;
}

static ph_err open_capture(ph_lninput *in, size_t file, ph_capture **cap)
{
    char why[PH_CAPTURE_ERRLEN] = "";
    ph_err e = ph_capture_open(cap, in->files[file].path, in->filter, why);
    if (e) {
        struct ph_lninput_problem *p = add_problem(
            in, e == PH_ERR_NOMEM ? PH_LNINPUT_PROB_NOMEM : PH_LNINPUT_PROB_CAPTURE_OPEN,
            PH_LNINPUT_UNUSABLE, file, in->files[file].path);
        if (p) {
            p->err = e;
            snprintf(p->detail, sizeof p->detail, "%s", why);
        }
    }
    return e;
}

/* One pass of lnsession over the capture (`cap` is consumed; NULL: open
 * it again). With `announce` the file is usable once it opens, and on_file
 * hears it before the first message. */
static ph_err capture_pass(ph_lninput *in, struct pass *ps, ph_capture *cap, const ph_keylog *kl,
                           bool send, bool announce, ph_lnsessions **out)
{
    struct ph_lninput_file *f = &in->files[ps->file];
    *out = NULL;
    ph_err e = cap ? PH_OK : open_capture(in, ps->file, &cap);
    if (e)
        return e;
    struct ph_lnsession_opts lo = {.first_id = ps->first_id};
    e = ph_lnsession_create(out, kl, &lo, send ? on_record : NULL, ps);
    if (e) {
        ph_capture_close(cap);
        problem_nomem(in, ps->file);
        return e;
    }
    if (announce) {
        f->usable = true;
        if (in->on_file)
            in->on_file(in->ctx, in, ps->file);
    }
    e = ph_lnsession_run(*out, cap);
    ph_capture_close(cap);
    if (e == PH_ERR_NOMEM || ps->err) {
        problem_nomem(in, ps->file);
        return PH_ERR_NOMEM;
    }
    return PH_OK; /* capture-level trouble is among lnsession's problems */
}

/* The file's sessions as lnsession counted them. */
static ph_err take_sessions(ph_lninput *in, struct pass *ps, const ph_lnsessions *ls)
{
    size_t n = ph_lnsession_count(ls);
    for (size_t i = 0; i < n; i++) {
        const struct ph_ln_session_stats *st = ph_lnsession_stats(ls, i);
        size_t idx = ps->base + (size_t)(st->id - ps->first_id);
        struct ph_lninput_session *s = session_at(in, idx, ps->file, ps->base, ps->first_id);
        if (!s) {
            problem_nomem(in, ps->file);
            return PH_ERR_NOMEM;
        }
        s->ln = *st;
        s->has_endpoints = true;
    }
    in->nsess = ps->base + n;
    in->files[ps->file].nsessions = n;
    return PH_OK;
}

static void take_problems(ph_lninput *in, size_t file, const ph_lnsessions *ls)
{
    const char *path = in->files[file].path;
    for (size_t i = 0; i < ph_lnsession_problem_count(ls); i++) {
        const struct ph_ln_problem *lp = ph_lnsession_problem(ls, i);
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_SESSION, PH_LNINPUT_PARTIAL, file, path);
        if (p) {
            p->session = lp->session;
            p->offset = lp->offset;
            p->ln = *lp;
        }
    }
    size_t dropped = ph_lnsession_problems_dropped(ls);
    if (dropped) {
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_MORE, PH_LNINPUT_PARTIAL, file, path);
        if (p)
            p->count = dropped;
    }
    if (!ph_lnsession_count(ls)) {
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_NO_SESSION, PH_LNINPUT_PARTIAL, file, path);
        if (p)
            p->count = ph_lnsession_connections(ls);
    }
    const struct ph_lninput_file *f = &in->files[file];
    for (size_t i = 0; i < f->nsessions; i++) {
        const struct ph_lninput_session *s = &in->sess[f->first_session + i];
        if (!s->short_messages)
            continue;
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_SHORT, PH_LNINPUT_NOTE, file, path);
        if (p) {
            p->session = s->id;
            p->count = s->short_messages;
        }
    }
}

static ph_err read_capture(ph_lninput *in, size_t file)
{
    FILE *fp = open_input(in, file);
    if (!fp)
        return PH_ERR_IO;
    fclose(fp);
    /* A file that is no capture at all is said so before anything about
     * its key log. */
    ph_capture *cap;
    ph_err e = open_capture(in, file, &cap);
    if (e)
        return e;
    const ph_keylog *kl;
    ph_keylog *own;
    if (!capture_keylog(in, file, &kl, &own, &e)) {
        ph_capture_close(cap);
        return e;
    }
    struct pass ps = {.in = in, .file = file, .base = in->nsess, .first_id = in->next_id};
    ph_lnsessions *ls = NULL;
    if (in->stats_first) {
        /* Reading twice costs time, not memory: a capture may be larger
         * than what we want to hold to print its headers first. */
        e = capture_pass(in, &ps, cap, kl, false, false, &ls);
        cap = NULL;
        if (!e)
            e = take_sessions(in, &ps, ls);
        ph_lnsession_destroy(ls);
        ls = NULL;
        if (e) {
            in->nsess = ps.base;
            in->files[file].nsessions = 0;
            ph_keylog_destroy(own);
            return e;
        }
    }
    e = capture_pass(in, &ps, cap, kl, true, true, &ls);
    if (!e)
        e = take_sessions(in, &ps, ls);
    if (ls) {
        in->files[file].connections = ph_lnsession_connections(ls);
        in->next_id = ph_lnsession_next_id(ls);
        take_problems(in, file, ls);
        ph_lnsession_destroy(ls);
    }
    if (e && !in->files[file].usable) {
        in->nsess = ps.base; /* only the first pass saw them */
        in->files[file].nsessions = 0;
    }
    ph_keylog_destroy(own);
    return e;
}

ph_err ph_lninput_read(ph_lninput *in, const char *path)
{
    size_t file;
    if (add_file(in, path, &file)) {
        problem_nomem(in, PH_LNINPUT_NO_FILE);
        return PH_ERR_NOMEM;
    }
    if (in->files[file].kind == PH_LNINPUT_LNMSGS)
        return read_lnmsgs(in, file);
    return read_capture(in, file);
}

/* ---- reading back ---- */

size_t ph_lninput_file_count(const ph_lninput *in) { return in->nfiles; }

const struct ph_lninput_file *ph_lninput_file(const ph_lninput *in, size_t i)
{
    return i < in->nfiles ? &in->files[i] : NULL;
}

size_t ph_lninput_session_count(const ph_lninput *in) { return in->nsess; }

const struct ph_lninput_session *ph_lninput_session(const ph_lninput *in, size_t i)
{
    return i < in->nsess ? &in->sess[i] : NULL;
}

size_t ph_lninput_problem_count(const ph_lninput *in) { return in->nprobs; }

const struct ph_lninput_problem *ph_lninput_problem(const ph_lninput *in, size_t i)
{
    return i < in->nprobs ? &in->probs[i] : NULL;
}

enum ph_lninput_severity ph_lninput_worst(const ph_lninput *in) { return in->worst; }

uint64_t ph_lninput_messages(const ph_lninput *in) { return in->messages; }

/* ---- the node under study ---- */

static void choose_side(struct ph_lninput_session *s, const struct ph_endpoint *from)
{
    s->replay_session = -1;
    if (!s->has_endpoints) {
        s->node_dir = PH_LN_I2R;
        s->side = PH_LNINPUT_SIDE_ONLY;
        return;
    }
    if (from) {
        bool i = ph_endpoint_equal(&s->ln.initiator, from);
        bool r = ph_endpoint_equal(&s->ln.responder, from);
        s->node_dir = i ? PH_LN_I2R : r ? PH_LN_R2I : -1;
        s->side = i || r ? PH_LNINPUT_SIDE_FROM : PH_LNINPUT_SIDE_NOT_FROM;
        return;
    }
    uint64_t a = s->ln.bytes[PH_LN_I2R], b = s->ln.bytes[PH_LN_R2I];
    if (!a && !b) {
        s->node_dir = -1;
        s->side = PH_LNINPUT_SIDE_EMPTY;
    } else if (a == b) {
        /* The side that accepted the connection is the usual node under
         * study (a node serving its peers). */
        s->node_dir = PH_LN_R2I;
        s->side = PH_LNINPUT_SIDE_TIE;
    } else {
        s->node_dir = a > b ? PH_LN_I2R : PH_LN_R2I;
        s->side = PH_LNINPUT_SIDE_MORE_BYTES;
    }
}

ph_err ph_lninput_replay_input(ph_lninput *in, const struct ph_endpoint *from,
                               ph_replay_input **out)
{
    *out = NULL;
    for (size_t i = 0; i < in->nsess; i++)
        choose_side(&in->sess[i], from);
    ph_replay_input *ri;
    if (ph_replay_input_create(&ri))
        return PH_ERR_NOMEM;
    size_t n = in->kept ? ph_replay_input_count(in->kept) : 0;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        const ph_replay_msg *m = ph_replay_input_at(in->kept, i);
        struct ph_lninput_session *s = &in->sess[m->session];
        if (s->node_dir != m->dir)
            continue;
        if (s->replay_session < 0) {
            ph_replay_session info = {.node_dir = m->dir, .input_id = s->id};
            if (s->has_endpoints) {
                info.node = m->dir == PH_LN_I2R ? s->ln.initiator : s->ln.responder;
                info.peer = m->dir == PH_LN_I2R ? s->ln.responder : s->ln.initiator;
            }
            if (ph_replay_input_set_session(ri, next, &info)) {
                ph_replay_input_destroy(ri);
                return PH_ERR_NOMEM;
            }
            s->replay_session = next++;
        }
        if (ph_replay_input_add(ri, m->ts_ns, (uint32_t)s->replay_session, m->dir, m->bytes,
                                m->len)) {
            ph_replay_input_destroy(ri);
            return PH_ERR_NOMEM;
        }
    }
    *out = ri;
    return PH_OK;
}
