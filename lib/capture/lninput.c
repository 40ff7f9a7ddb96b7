#include "lninput.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "keylog.h"
#include "lnmsgs.h"
#include "wire.h"

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
    char *fallback_path;        /* opts.keylog_fallback, copied */
    ph_keylog *fallback_kl;     /* loaded on first use */
    bool fallback_tried, fallback_bad;

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

/* A key log that cannot be read at all. */
static void keylog_problem(ph_lninput *in, size_t file, const char *path, ph_err e)
{
    int saved = errno;
    struct ph_lninput_problem *p =
        add_problem(in, PH_LNINPUT_PROB_KEYLOG, PH_LNINPUT_UNUSABLE, file, path);
    if (!p)
        return;
    p->err = e;
    p->sys_errno = e == PH_ERR_IO ? saved : 0;
}

/* Notes on a key log that was read: its lines without a key (numbered),
 * its encoding, or that it holds no key at all. Nothing here is lost: the
 * sessions say what could not be decrypted. */
static void keylog_notes(ph_lninput *in, size_t file, const char *path, const ph_keylog *kl)
{
    enum ph_keylog_encoding enc = ph_keylog_encoding(kl);
    struct ph_lninput_problem *p;
    if (!ph_keylog_count(kl)) {
        p = add_problem(in, PH_LNINPUT_PROB_KEYLOG_EMPTY, PH_LNINPUT_NOTE, file, path);
        if (p) {
            p->count = ph_keylog_lines(kl);
            snprintf(p->detail, sizeof p->detail, "%s", ph_keylog_encoding_name(enc));
        }
        return;
    }
    if (enc != PH_KEYLOG_TEXT && enc != PH_KEYLOG_UTF8_BOM &&
        (p = add_problem(in, PH_LNINPUT_PROB_KEYLOG_ENCODING, PH_LNINPUT_NOTE, file, path)))
        snprintf(p->detail, sizeof p->detail, "%s", ph_keylog_encoding_name(enc));
    size_t n = ph_keylog_warning_count(kl), shown = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ph_keylog_warning *w = ph_keylog_warning(kl, i);
        if (!w)
            break;
        p = add_problem(in, PH_LNINPUT_PROB_KEYLOG_LINE, PH_LNINPUT_NOTE, file, path);
        if (p) {
            p->line = w->line;
            p->warning = (int)w->kind;
        }
        shown++;
    }
    if (n > shown && (p = add_problem(in, PH_LNINPUT_PROB_KEYLOG_MORE, PH_LNINPUT_NOTE, file,
                                      path)))
        p->count = n - shown;
}

/* Loads a key log: PH_OK with the notes recorded, else the error with the
 * problem recorded (the caller decides what it makes unusable). */
static ph_err load_keylog(ph_lninput *in, size_t file, const char *path, ph_keylog **out)
{
    ph_err e = ph_keylog_load(out, path, NULL);
    if (e == PH_ERR_NOMEM) {
        add_problem(in, PH_LNINPUT_PROB_NOMEM, PH_LNINPUT_UNUSABLE, file, path);
        return e;
    }
    if (e) {
        *out = NULL;
        keylog_problem(in, file, path, e);
        return e;
    }
    keylog_notes(in, file, path, *out);
    return PH_OK;
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
                 (opts->keylog_fallback && *opts->keylog_fallback &&
                  !(in->fallback_path = strdup(opts->keylog_fallback))) ||
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
        ph_err e = load_keylog(in, PH_LNINPUT_NO_FILE, in->keylog_path, &in->shared_kl);
        if (e == PH_ERR_NOMEM) {
            ph_lninput_destroy(in);
            return e;
        }
        in->shared_bad = e != PH_OK;
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
        if (in->files[i].keylog != in->keylog_path && in->files[i].keylog != in->fallback_path)
            free((char *)in->files[i].keylog);
    }
    free(in->files);
    free(in->sess);
    free(in->probs);
    ph_keylog_destroy(in->shared_kl);
    ph_keylog_destroy(in->fallback_kl);
    free(in->fallback_path);
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
    if (in->types && (m->len < 2 || !in->types[ph_wire_type_of(m->msg)]))
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
    if (strcmp(path, "-") == 0)
        return stdin;
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

static void close_input(FILE *fp)
{
    if (fp && fp != stdin)
        fclose(fp);
}

/* ---- the spool: messages waiting for their file to be read whole ---- */

/* One record: ts, offset, session index, direction, timed, length, bytes. */
#define SPOOL_HDR 24u

static FILE *spool_open(ph_lninput *in, size_t file)
{
    FILE *sp = tmpfile();
    if (!sp) {
        int err = errno;
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_TEMP, PH_LNINPUT_UNUSABLE, file, in->files[file].path);
        if (p) {
            p->err = PH_ERR_IO;
            p->sys_errno = err;
        }
    }
    return sp;
}

static bool spool_put(FILE *sp, size_t idx, const struct ph_lninput_msg *m)
{
    uint8_t h[SPOOL_HDR];
    ph_put_le64(h, m->ts_ns);
    ph_put_le64(h + 8, m->offset);
    ph_put_le32(h + 16, (uint32_t)idx);
    h[20] = (uint8_t)m->dir;
    h[21] = m->timed;
    ph_put_be16(h + 22, (uint16_t)m->len);
    return fwrite(h, 1, SPOOL_HDR, sp) == SPOOL_HDR && fwrite(m->msg, 1, m->len, sp) == m->len;
}

static void deliver(struct pass *ps, size_t idx, struct ph_lninput_msg *m);

/* Hands out everything spooled, in order; endpoints from the sessions. */
static ph_err spool_replay(struct pass *ps, FILE *sp)
{
    ph_lninput *in = ps->in;
    if (fflush(sp) != 0 || fseek(sp, 0, SEEK_SET) != 0)
        return PH_ERR_IO;
    uint8_t *buf = malloc(65536);
    if (!buf)
        return PH_ERR_NOMEM;
    uint8_t h[SPOOL_HDR];
    ph_err e = PH_OK;
    while (!ps->err && fread(h, 1, SPOOL_HDR, sp) == SPOOL_HDR) {
        size_t idx = ph_le32(h + 16);
        size_t len = ph_be16(h + 22);
        if (fread(buf, 1, len, sp) != len || idx >= in->nsess) {
            e = PH_ERR_IO;
            break;
        }
        const struct ph_lninput_session *s = &in->sess[idx];
        struct ph_lninput_msg m = {
            .file = ps->file,
            .session = s->id,
            .dir = h[20],
            .timed = h[21],
            .ts_ns = ph_le64(h),
            .offset = ph_le64(h + 8),
            .msg = buf,
            .len = len,
        };
        if (s->has_endpoints) {
            m.src = m.dir == PH_LN_I2R ? &s->ln.initiator : &s->ln.responder;
            m.dst = m.dir == PH_LN_I2R ? &s->ln.responder : &s->ln.initiator;
        }
        deliver(ps, idx, &m);
    }
    if (!e && ferror(sp))
        e = PH_ERR_IO;
    free(buf);
    return e ? e : ps->err;
}

/* ---- .lnmsgs ---- */

/* Reads the whole file once into the spool, checking every record; on a
 * malformed one *bad_offset is its offset. */
static ph_err lnmsgs_check(FILE *fp, FILE *sp, size_t idx, uint8_t *buf, uint64_t *n,
                           uint64_t *bytes, uint64_t *bad_offset)
{
    ph_lnmsgs_reader r = {.f = fp};
    *n = *bytes = 0;
    for (;;) {
        uint64_t offset = r.offset;
        size_t len;
        ph_err e = ph_lnmsgs_read(&r, buf, &len);
        if (e) {
            *bad_offset = offset;
            return e;
        }
        if (len == 0)
            return PH_OK;
        struct ph_lninput_msg m = {.dir = PH_LN_I2R, .offset = offset, .msg = buf, .len = len};
        if (!spool_put(sp, idx, &m))
            return PH_ERR_NOMEM; /* the temporary file is full */
        (*n)++;
        *bytes += len;
    }
}

static ph_err read_lnmsgs(ph_lninput *in, size_t file)
{
    struct ph_lninput_file *f = &in->files[file];
    FILE *fp = open_input(in, file);
    if (!fp)
        return PH_ERR_IO;
    FILE *sp = spool_open(in, file);
    uint8_t *buf = malloc(PH_LNMSGS_MAX);
    if (!sp || !buf) {
        close_input(fp);
        if (sp)
            fclose(sp);
        free(buf);
        if (sp)
            problem_nomem(in, file);
        return sp ? PH_ERR_NOMEM : PH_ERR_IO;
    }
    struct pass ps = {.in = in, .file = file, .base = in->nsess, .first_id = in->next_id};
    uint64_t n = 0, bytes = 0, bad = 0;
    /* The whole file first: a malformed one gives no message at all, and
     * the session's stats are known before its first message. */
    ph_err e = lnmsgs_check(fp, sp, ps.base, buf, &n, &bytes, &bad);
    int saved = errno;
    free(buf);
    close_input(fp);
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
        e = spool_replay(&ps, sp);
        saved = errno;
    }
    fclose(sp);
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
    if (!cap)
        return false;
    out[0] = '\0';
    if (strcmp(capture, "-") == 0)
        return false;
    int n = snprintf(out, cap, "%s.keys", capture);
    if (n < 0 || (size_t)n >= cap)
        return false;
    if (access(out, F_OK) == 0)
        return true;
    const char *slash = strrchr(capture, '/'), *dot = strrchr(capture, '.');
    if (!dot || (slash && dot < slash))
        return false;
    char alt[4096];
    n = snprintf(alt, sizeof alt, "%.*s.keys", (int)(dot - capture), capture);
    if (n <= 0 || (size_t)n >= sizeof alt)
        return false;
    if (access(alt, F_OK) == 0 && (size_t)n < cap) {
        memcpy(out, alt, (size_t)n + 1);
        return true;
    }
    /* Both names tried, for the note that says none was found. */
    size_t used = strlen(out);
    snprintf(out + used, cap - used, " or %s", alt);
    return false;
}

/* The fallback key log, loaded once; NULL when none is usable. */
static const ph_keylog *fallback_keylog(ph_lninput *in, size_t file, ph_err *err)
{
    *err = PH_OK;
    if (!in->fallback_tried) {
        in->fallback_tried = true;
        if (access(in->fallback_path, F_OK) != 0) {
            in->fallback_bad = true;
            return NULL;
        }
        *err = load_keylog(in, file, in->fallback_path, &in->fallback_kl);
        in->fallback_bad = *err != PH_OK;
    }
    return in->fallback_bad ? NULL : in->fallback_kl;
}

/* The key log for capture `file`: the shared one, the default one beside
 * it, the fallback, or none (a note). False when the capture is unusable. */
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
    size_t cap = 2 * strlen(f->path) + 16;
    char *path = malloc(cap);
    if (!path) {
        *err = PH_ERR_NOMEM;
        problem_nomem(in, file);
        return false;
    }
    if (ph_lninput_default_keylog(f->path, path, cap)) {
        f->keylog = path;
        ph_err e = load_keylog(in, file, path, own);
        if (e) {
            *err = e;
            return false;
        }
        *kl = *own;
        return true;
    }
    if (in->fallback_path) {
        ph_err e;
        *kl = fallback_keylog(in, file, &e);
        if (e) {
            free(path);
            *err = e;
            return false;
        }
        if (*kl) {
            free(path);
            f->keylog = in->fallback_path;
            return true;
        }
    }
    struct ph_lninput_problem *p =
        add_problem(in, PH_LNINPUT_PROB_NO_KEYLOG, PH_LNINPUT_NOTE, file, f->path);
    if (p) {
        snprintf(p->detail, sizeof p->detail, "%s", path);
        p->count = in->fallback_path ? 1 : 0;
    }
    free(path);
    return true;
}

static ph_err open_capture(ph_lninput *in, size_t file, FILE *fp, ph_capture **cap)
{
    char why[PH_CAPTURE_ERRLEN] = "";
    ph_err e = ph_capture_open_stream(cap, fp, fp != stdin, in->filter, why);
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

/* With stats_first, messages wait in the spool until their file is read. */
struct spooling {
    struct pass *ps;
    FILE *sp;
    bool failed;
};

static void on_record_spool(void *ctx, const struct ph_ln_record *r)
{
    struct spooling *sg = ctx;
    if (sg->failed)
        return;
    struct ph_lninput_msg m = {
        .dir = r->dir,
        .timed = true,
        .ts_ns = r->ts_ns,
        .msg = r->msg,
        .len = r->len,
    };
    size_t idx = sg->ps->base + (size_t)(r->session - sg->ps->first_id);
    const uint8_t *types = sg->ps->in->types;
    if (types && (r->len < 2 || !types[ph_wire_type_of(r->msg)]))
        return;
    if (idx > UINT32_MAX - 1 || !spool_put(sg->sp, idx, &m))
        sg->failed = true;
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

/* A session problem's severity: notes lose nothing. */
static enum ph_lninput_severity session_severity(const struct ph_ln_problem *lp)
{
    if (lp->kind == PH_LN_PROB_NOTE)
        return PH_LNINPUT_NOTE;
    if (lp->kind == PH_LN_PROB_MIDSTREAM && !lp->bytes)
        return PH_LNINPUT_NOTE;
    return PH_LNINPUT_PARTIAL;
}

static void take_problems(ph_lninput *in, size_t file, const ph_lnsessions *ls)
{
    const char *path = in->files[file].path;
    for (size_t i = 0; i < ph_lnsession_problem_count(ls); i++) {
        const struct ph_ln_problem *lp = ph_lnsession_problem(ls, i);
        struct ph_lninput_problem *p =
            add_problem(in, PH_LNINPUT_PROB_SESSION, session_severity(lp), file, path);
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
        if (p) {
            p->count = ph_lnsession_connections(ls);
            p->offset = in->files[file].tcp_bytes;
        }
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
    struct ph_lninput_file *f = &in->files[file];
    FILE *fp = open_input(in, file);
    if (!fp)
        return PH_ERR_IO;
    /* A file that is no capture at all is said so before anything about
     * its key log. */
    ph_capture *cap;
    ph_err e = open_capture(in, file, fp, &cap);
    if (e)
        return e;
    const ph_keylog *kl;
    ph_keylog *own;
    if (!capture_keylog(in, file, &kl, &own, &e)) {
        ph_capture_close(cap);
        return e;
    }
    struct pass ps = {.in = in, .file = file, .base = in->nsess, .first_id = in->next_id};
    struct spooling sg = {.ps = &ps};
    if (in->stats_first && !(sg.sp = spool_open(in, file))) {
        ph_capture_close(cap);
        ph_keylog_destroy(own);
        return PH_ERR_IO;
    }
    ph_lnsessions *ls = NULL;
    struct ph_lnsession_opts lo = {.first_id = ps.first_id};
    e = sg.sp ? ph_lnsession_create(&ls, kl, &lo, on_record_spool, &sg)
              : ph_lnsession_create(&ls, kl, &lo, on_record, &ps);
    if (e) {
        ph_capture_close(cap);
        ph_keylog_destroy(own);
        if (sg.sp)
            fclose(sg.sp);
        problem_nomem(in, file);
        return e;
    }
    if (!sg.sp) { /* messages flow as the capture is read */
        f->usable = true;
        if (in->on_file)
            in->on_file(in->ctx, in, file);
    }
    e = ph_lnsession_run(ls, cap);
    ph_capture_close(cap);
    e = e == PH_ERR_NOMEM || ps.err ? PH_ERR_NOMEM : PH_OK;
    if (!e)
        e = take_sessions(in, &ps, ls);
    f->connections = ph_lnsession_connections(ls);
    f->tcp_bytes = ph_lnsession_tcp_bytes(ls);
    in->next_id = ph_lnsession_next_id(ls);
    if (!e && sg.sp) {
        /* The file's problems are known before its first message too. */
        take_problems(in, file, ls);
        f->usable = true;
        if (in->on_file)
            in->on_file(in->ctx, in, file);
        e = sg.failed ? PH_ERR_NOMEM : spool_replay(&ps, sg.sp);
        if (e)
            problem_nomem(in, file);
    } else {
        if (e)
            problem_nomem(in, file);
        take_problems(in, file, ls);
    }
    if (sg.sp)
        fclose(sg.sp);
    ph_lnsession_destroy(ls);
    if (e && !f->usable) {
        in->nsess = ps.base;
        f->nsessions = 0;
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
