#include "lnsession.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

#define INIT_HS (PH_NOISE_ACT1_LEN + PH_NOISE_ACT3_LEN) /* 116 */
#define RESP_HS PH_NOISE_ACT2_LEN                        /* 50 */
/* Bytes held per direction while the handshake is not yet recognised
 * (beyond the acts); more means this is not a BOLT 8 conversation. */
#define MAX_PENDING (256u << 10)
#define DEF_MAX_PROBLEMS 10000u

/* One direction of a session being decrypted. */
struct lndir {
    ph_noise *noise;        /* receive-only transport, NULL before the first key */
    bool need_key;          /* the next frame starts a key period */
    bool dead;              /* stopped at a problem: nothing more is decrypted */
    bool gap;
    bool fresh_key;         /* no message decrypted yet under the current key */
    uint8_t peek[PH_NOISE_HDR_LEN];
    size_t peek_len;
    uint64_t pos;           /* stream offset of the next byte to decrypt */
    uint64_t frame_start;   /* stream offset of the frame being decrypted */
};

struct session {
    struct ph_ln_session_stats st;
    struct lndir d[2];      /* by session direction */
};

enum conn_state { LC_DETECT, LC_SESSION, LC_OTHER };

/* Attached to every TCP connection (ph_tcp_conn_info.user). */
struct lnconn {
    enum conn_state state;
    int init_dir;                      /* TCP direction of the initiator, -1 unknown */
    uint8_t head[2][INIT_HS];          /* by TCP direction */
    size_t head_len[2];
    uint8_t *pend[2];                  /* bytes after the acts, held during detection */
    size_t pend_len[2], pend_cap[2];
    uint64_t bytes[2];                 /* TCP payload per TCP direction */
    bool gap[2];
    uint64_t gap_off[2];
    struct session *sess;
};

struct ph_lnsessions {
    const ph_keylog *kl;
    ph_ln_record_cb cb;
    void *ctx;
    ph_tcpreasm *reasm;
    uint64_t next_id;
    size_t max_problems;
    struct session **sessions;
    size_t nsessions, cap_sessions;
    struct ph_ln_problem *problems;
    size_t nproblems, cap_problems, dropped;
    uint64_t messages;
    uint64_t conns;
    bool nomem;
    bool finishing;   /* connections closed now were cut by the end of input */
};

/* ---- problems ---- */

static struct session *session_of(ph_lnsessions *s, uint64_t id);

static void add_problem(ph_lnsessions *s, enum ph_ln_problem_kind kind, uint64_t session,
                        uint64_t conn, int dir, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void add_problem(ph_lnsessions *s, enum ph_ln_problem_kind kind, uint64_t session,
                        uint64_t conn, int dir, uint64_t offset, const char *fmt, ...)
{
    struct session *se = session ? session_of(s, session) : NULL;
    if (se)
        se->st.problems++;
    if (s->nproblems >= s->max_problems) {
        s->dropped++;
        return;
    }
    if (s->nproblems == s->cap_problems) {
        size_t n = s->cap_problems ? s->cap_problems * 2 : 16;
        struct ph_ln_problem *p = realloc(s->problems, n * sizeof *p);
        if (!p) {
            s->dropped++;
            return;
        }
        s->problems = p;
        s->cap_problems = n;
    }
    struct ph_ln_problem *p = &s->problems[s->nproblems++];
    p->kind = kind;
    p->session = session;
    p->conn = conn;
    p->dir = dir;
    p->offset = offset;
    int n = 0;
    if (session)
        n = snprintf(p->text, sizeof p->text, "session %llu: ", (unsigned long long)session);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text + n, sizeof p->text - (size_t)n, fmt, ap);
    va_end(ap);
}

/* "A -> B" for a session direction. */
static void dir_name(const struct session *se, int dir, char *out, size_t cap)
{
    char a[PH_ENDPOINT_STRLEN], b[PH_ENDPOINT_STRLEN];
    ph_endpoint_format(dir == PH_LN_I2R ? &se->st.initiator : &se->st.responder, a);
    ph_endpoint_format(dir == PH_LN_I2R ? &se->st.responder : &se->st.initiator, b);
    snprintf(out, cap, "%s -> %s", a, b);
}

static void conn_name(const struct ph_tcp_conn_info *c, int tdir, char *out, size_t cap)
{
    char a[PH_ENDPOINT_STRLEN], b[PH_ENDPOINT_STRLEN];
    ph_endpoint_format(&c->ep[tdir], a);
    ph_endpoint_format(&c->ep[!tdir], b);
    snprintf(out, cap, "%s -> %s", a, b);
}

#define NAME_LEN (2 * PH_ENDPOINT_STRLEN + 8)

/* ---- sessions ---- */

static struct session *session_of(ph_lnsessions *s, uint64_t id)
{
    uint64_t first = s->nsessions ? s->sessions[0]->st.id : 0;
    if (!s->nsessions || id < first || id - first >= s->nsessions)
        return NULL;
    return s->sessions[id - first];
}

static struct session *new_session(ph_lnsessions *s, const struct ph_tcp_conn_info *c,
                                   int init_dir)
{
    if (s->nsessions == s->cap_sessions) {
        size_t n = s->cap_sessions ? s->cap_sessions * 2 : 8;
        struct session **a = realloc(s->sessions, n * sizeof *a);
        if (!a)
            return NULL;
        s->sessions = a;
        s->cap_sessions = n;
    }
    struct session *se = calloc(1, sizeof *se);
    if (!se)
        return NULL;
    se->st.id = s->next_id++;
    se->st.conn = c->id;
    se->st.initiator = c->ep[init_dir];
    se->st.responder = c->ep[!init_dir];
    se->st.start_ns = c->first_ts;
    se->st.end_ns = c->last_ts;
    for (int d = 0; d < 2; d++) {
        se->d[d].need_key = true;
        se->d[d].pos = se->d[d].frame_start = d == PH_LN_I2R ? INIT_HS : RESP_HS;
        se->st.complete[d] = true;
    }
    s->sessions[s->nsessions++] = se;
    return se;
}

static void kill_dir(struct session *se, int dir)
{
    se->d[dir].dead = true;
    se->st.complete[dir] = false;
}

static void emit(ph_lnsessions *s, struct session *se, int dir, const uint8_t *msg, size_t len,
                 uint64_t ts)
{
    struct ph_ln_record r;
    r.ts_ns = ts;
    r.session = se->st.id;
    r.dir = dir;
    r.src = dir == PH_LN_I2R ? &se->st.initiator : &se->st.responder;
    r.dst = dir == PH_LN_I2R ? &se->st.responder : &se->st.initiator;
    r.index = se->st.messages[dir];
    r.msg = msg;
    r.len = len;
    se->st.messages[dir]++;
    se->st.bytes[dir] += len;
    s->messages++;
    if (s->cb)
        s->cb(s->ctx, &r);
}

/* The frame header in d->peek is complete: find its key in the key log. */
static bool install_key(ph_lnsessions *s, struct session *se, int dir)
{
    struct lndir *d = &se->d[dir];
    char name[NAME_LEN];
    const uint8_t *key = s->kl ? ph_keylog_find(s->kl, d->peek + 2) : NULL;
    if (!key) {
        dir_name(se, dir, name, sizeof name);
        if (!d->noise)
            add_problem(s, PH_LN_PROB_NO_KEY, se->st.id, se->st.conn, dir, d->frame_start,
                        "no key for %s (first frame at stream offset %llu)", name,
                        (unsigned long long)d->frame_start);
        else
            add_problem(s, PH_LN_PROB_NO_NEXT_KEY, se->st.id, se->st.conn, dir,
                        d->frame_start,
                        "no key for %s after rotation %llu (message %llu, stream offset %llu)",
                        name, (unsigned long long)se->st.keys[dir],
                        (unsigned long long)se->st.messages[dir],
                        (unsigned long long)d->frame_start);
        kill_dir(se, dir);
        return false;
    }
    ph_err e = d->noise ? ph_noise_set_recv_key(d->noise, key)
                        : ph_noise_create_from_keys(&d->noise, NULL, NULL, key, NULL);
    if (e) {
        dir_name(se, dir, name, sizeof name);
        add_problem(s, PH_LN_PROB_NOMEM, se->st.id, se->st.conn, dir, d->frame_start,
                    "cannot set up decryption of %s: %s", name, ph_strerror(e));
        kill_dir(se, dir);
        return false;
    }
    se->st.keys[dir]++;
    d->need_key = false;
    d->fresh_key = true;
    return true;
}

static void bad_frame(ph_lnsessions *s, struct session *se, int dir, ph_err e)
{
    char name[NAME_LEN];
    dir_name(se, dir, name, sizeof name);
    struct lndir *d = &se->d[dir];
    if (e == PH_ERR_NOISE_BAD_MAC)
        add_problem(s, PH_LN_PROB_BAD_MAC, se->st.id, se->st.conn, dir, d->frame_start,
                    "bad MAC in %s at stream offset %llu (message %llu, key %llu)%s", name,
                    (unsigned long long)d->frame_start, (unsigned long long)se->st.messages[dir],
                    (unsigned long long)se->st.keys[dir],
                    d->fresh_key ? ": the key log's key for this frame is wrong" : "");
    else
        add_problem(s, e == PH_ERR_NOMEM ? PH_LN_PROB_NOMEM : PH_LN_PROB_BAD_MAC, se->st.id,
                    se->st.conn, dir, d->frame_start, "cannot decrypt %s at stream offset %llu: %s",
                    name, (unsigned long long)d->frame_start, ph_strerror(e));
    kill_dir(se, dir);
}

/* Push `len` bytes through the transport; frames may span calls. */
static void decrypt(ph_lnsessions *s, struct session *se, int dir, const uint8_t *p, size_t len,
                    uint64_t ts)
{
    struct lndir *d = &se->d[dir];
    while (len && !d->dead) {
        if (d->need_key) {
            size_t take = PH_NOISE_HDR_LEN - d->peek_len;
            if (take > len)
                take = len;
            memcpy(d->peek + d->peek_len, p, take);
            d->peek_len += take;
            p += take;
            len -= take;
            if (d->peek_len < PH_NOISE_HDR_LEN || !install_key(s, se, dir))
                return;
            /* Hand the held header to the transport. */
            size_t off = 0;
            while (off < d->peek_len && !d->dead) {
                size_t used = 0, mlen = 0, need = 0;
                const uint8_t *msg = NULL;
                ph_err e = ph_noise_decrypt_feed(d->noise, d->peek + off, d->peek_len - off,
                                                 &used, &msg, &mlen, &need);
                if (e) {
                    bad_frame(s, se, dir, e);
                    return;
                }
                if (!used && !msg)
                    break;
                off += used;
                d->pos += used;
            }
            d->peek_len = 0;
            continue;
        }
        size_t used = 0, mlen = 0, need = 0;
        const uint8_t *msg = NULL;
        ph_err e = ph_noise_decrypt_feed(d->noise, p, len, &used, &msg, &mlen, &need);
        if (e == PH_ERR_NOISE_NEED_KEY) {
            d->need_key = true;
            d->peek_len = 0;
            continue;
        }
        if (e) {
            bad_frame(s, se, dir, e);
            return;
        }
        p += used;
        len -= used;
        d->pos += used;
        if (msg) {
            d->fresh_key = false;
            emit(s, se, dir, msg, mlen, ts);
            d->frame_start = d->pos;
        } else if (!used) {
            break; /* defensive: the transport wants nothing more from us */
        }
    }
}

/* Bytes received but not turned into messages: a frame begun. */
static uint64_t leftover(const struct lndir *d)
{
    return d->pos - d->frame_start + d->peek_len;
}

/* ---- handshake detection ---- */

static bool looks_like_key_act(const uint8_t *h, size_t len)
{
    return (len < 1 || h[0] == 0) && (len < 2 || h[1] == 2 || h[1] == 3);
}

static bool plausible(const struct lnconn *lc)
{
    int i = lc->init_dir, r = !i;
    if (!looks_like_key_act(lc->head[i], lc->head_len[i]))
        return false;
    if (lc->head_len[i] > PH_NOISE_ACT1_LEN && lc->head[i][PH_NOISE_ACT1_LEN] != 0)
        return false; /* act 3 version */
    return looks_like_key_act(lc->head[r], lc->head_len[r]);
}

static void drop_pending(struct lnconn *lc)
{
    for (int t = 0; t < 2; t++) {
        free(lc->pend[t]);
        lc->pend[t] = NULL;
        lc->pend_len[t] = lc->pend_cap[t] = 0;
    }
}

static bool hold(struct lnconn *lc, int tdir, const uint8_t *p, size_t len)
{
    if (!len)
        return true;
    if (lc->pend_len[tdir] + len > MAX_PENDING)
        return false;
    if (lc->pend_len[tdir] + len > lc->pend_cap[tdir]) {
        size_t n = lc->pend_cap[tdir] ? lc->pend_cap[tdir] : 4096;
        while (n < lc->pend_len[tdir] + len)
            n *= 2;
        uint8_t *b = realloc(lc->pend[tdir], n);
        if (!b)
            return false;
        lc->pend[tdir] = b;
        lc->pend_cap[tdir] = n;
    }
    memcpy(lc->pend[tdir] + lc->pend_len[tdir], p, len);
    lc->pend_len[tdir] += len;
    return true;
}

static void become_session(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c,
                           uint64_t ts)
{
    struct session *se = new_session(s, c, lc->init_dir);
    if (!se) {
        s->nomem = true;
        lc->state = LC_OTHER;
        drop_pending(lc);
        return;
    }
    lc->sess = se;
    lc->state = LC_SESSION;
    /* Initiator first: its act 3 came before anything the responder sent
     * under the transport. */
    for (int k = 0; k < 2; k++) {
        int tdir = k == 0 ? lc->init_dir : !lc->init_dir;
        int sd = k == 0 ? PH_LN_I2R : PH_LN_R2I;
        se->st.stream_bytes[sd] = lc->bytes[tdir];
        decrypt(s, se, sd, lc->pend[tdir], lc->pend_len[tdir], ts);
    }
    drop_pending(lc);
}

static void detect(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c, int tdir,
                   const uint8_t *p, size_t len, uint64_t ts)
{
    if (lc->init_dir < 0)
        lc->init_dir = tdir;
    size_t need = tdir == lc->init_dir ? INIT_HS : RESP_HS;
    size_t take = need - lc->head_len[tdir];
    if (take > len)
        take = len;
    memcpy(lc->head[tdir] + lc->head_len[tdir], p, take);
    lc->head_len[tdir] += take;
    if (!plausible(lc) || !hold(lc, tdir, p + take, len - take)) {
        lc->state = LC_OTHER;
        drop_pending(lc);
        return;
    }
    if (lc->head_len[lc->init_dir] == INIT_HS && lc->head_len[!lc->init_dir] == RESP_HS)
        become_session(s, lc, c, ts);
}

/* ---- reassembly callbacks ---- */

static void on_open(void *ctx, struct ph_tcp_conn_info *c)
{
    ph_lnsessions *s = ctx;
    s->conns++;
    struct lnconn *lc = calloc(1, sizeof *lc);
    if (!lc) {
        s->nomem = true;
        return;
    }
    lc->init_dir = -1;
    c->user = lc;
}

static void on_data(void *ctx, struct ph_tcp_conn_info *c, int tdir, uint64_t off,
                    const uint8_t *p, size_t len, uint64_t ts)
{
    (void)off;
    ph_lnsessions *s = ctx;
    struct lnconn *lc = c->user;
    if (!lc)
        return;
    lc->bytes[tdir] += len;
    switch (lc->state) {
    case LC_DETECT:
        detect(s, lc, c, tdir, p, len, ts);
        break;
    case LC_SESSION: {
        int sd = tdir == lc->init_dir ? PH_LN_I2R : PH_LN_R2I;
        lc->sess->st.stream_bytes[sd] += len;
        decrypt(s, lc->sess, sd, p, len, ts);
        break;
    }
    case LC_OTHER:
        break;
    }
}

static void session_end(ph_lnsessions *s, struct lnconn *lc, int tdir, enum ph_tcp_end why,
                        uint64_t off, const struct ph_tcp_conn_info *c)
{
    struct session *se = lc->sess;
    int sd = tdir == lc->init_dir ? PH_LN_I2R : PH_LN_R2I;
    struct lndir *d = &se->d[sd];
    char name[NAME_LEN];
    dir_name(se, sd, name, sizeof name);
    if (why == PH_TCP_END_GAP || why == PH_TCP_END_LIMIT) {
        uint64_t missing = c->st[tdir].gap_len;
        char miss[48] = "";
        if (missing)
            snprintf(miss, sizeof miss, ", %llu bytes missing", (unsigned long long)missing);
        if (!d->dead)
            add_problem(s, PH_LN_PROB_GAP, se->st.id, se->st.conn, sd, off,
                        "%s in %s at stream offset %llu%s: %llu messages decrypted, the rest "
                        "of this direction cannot be",
                        why == PH_TCP_END_GAP ? "gap" : "reassembly buffer limit reached",
                        name, (unsigned long long)off, miss,
                        (unsigned long long)se->st.messages[sd]);
        d->gap = true;
        kill_dir(se, sd);
        return;
    }
    uint64_t rest = d->dead ? 0 : leftover(d);
    if (rest) {
        add_problem(s, PH_LN_PROB_TRAILING, se->st.id, se->st.conn, sd, d->frame_start,
                    "%llu trailing bytes in %s at stream offset %llu (incomplete frame at %s)",
                    (unsigned long long)rest, name, (unsigned long long)d->frame_start,
                    ph_tcp_end_name(why));
        kill_dir(se, sd);
    }
}

static void on_end(void *ctx, struct ph_tcp_conn_info *c, int tdir, enum ph_tcp_end why,
                   uint64_t off, uint64_t ts)
{
    (void)ts;
    ph_lnsessions *s = ctx;
    struct lnconn *lc = c->user;
    if (!lc)
        return;
    if (why == PH_TCP_END_GAP || why == PH_TCP_END_LIMIT) {
        lc->gap[tdir] = true;
        lc->gap_off[tdir] = off;
    }
    if (lc->state == LC_SESSION)
        session_end(s, lc, tdir, why, off, c);
}

static void report_unfinished(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c)
{
    char name[NAME_LEN];
    int i = lc->init_dir < 0 ? 0 : lc->init_dir;
    conn_name(c, i, name, sizeof name);
    char why[96] = "";
    for (int t = 0; t < 2; t++)
        if (lc->gap[t]) {
            snprintf(why, sizeof why, "; gap in %s stream at offset %llu",
                     t == i ? "the first sender's" : "the other side's",
                     (unsigned long long)lc->gap_off[t]);
            break;
        }
    if (lc->state == LC_DETECT) {
        add_problem(s, PH_LN_PROB_HANDSHAKE, 0, c->id, -1, 0,
                    "%s: BOLT 8 handshake incomplete (initiator sent %zu of %u bytes, "
                    "responder %zu of %u)%s",
                    name, lc->head_len[i], (unsigned)INIT_HS, lc->head_len[!i],
                    (unsigned)RESP_HS, why);
        return;
    }
    add_problem(s, PH_LN_PROB_NOT_LIGHTNING, 0, c->id, -1, 0,
                "%s: not a Lightning session (no BOLT 8 handshake at the start of the "
                "stream%s): %llu + %llu bytes ignored%s",
                name, c->syn[i] ? "" : "; the capture began mid-connection",
                (unsigned long long)lc->bytes[i], (unsigned long long)lc->bytes[!i], why);
}

static void on_close(void *ctx, struct ph_tcp_conn_info *c)
{
    ph_lnsessions *s = ctx;
    struct lnconn *lc = c->user;
    if (!lc)
        return;
    c->user = NULL;
    if (lc->state == LC_SESSION) {
        struct session *se = lc->sess;
        se->st.end_ns = c->last_ts;
        se->st.closed = !s->finishing;
        for (int t = 0; t < 2; t++) {
            int sd = t == lc->init_dir ? PH_LN_I2R : PH_LN_R2I;
            se->st.overlap_conflicts[sd] = c->st[t].overlap_conflicts;
        }
        for (int d = 0; d < 2; d++) {
            ph_noise_destroy(se->d[d].noise);
            se->d[d].noise = NULL;
        }
    } else if (lc->bytes[0] || lc->bytes[1]) {
        report_unfinished(s, lc, c);
    }
    drop_pending(lc);
    free(lc);
}

/* ---- public API ---- */

ph_err ph_lnsession_create(ph_lnsessions **out, const ph_keylog *kl,
                           const struct ph_lnsession_opts *opts, ph_ln_record_cb cb, void *ctx)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    ph_lnsessions *s = calloc(1, sizeof *s);
    if (!s)
        return PH_ERR_NOMEM;
    s->kl = kl;
    s->cb = cb;
    s->ctx = ctx;
    s->next_id = opts && opts->first_id ? opts->first_id : 1;
    s->max_problems = opts && opts->max_problems ? opts->max_problems : DEF_MAX_PROBLEMS;
    struct ph_tcpreasm_cb rcb = {on_open, on_data, on_end, on_close, NULL};
    ph_err e = ph_tcpreasm_create(&s->reasm, &rcb, s, opts ? &opts->limits : NULL);
    if (e) {
        free(s);
        return e;
    }
    *out = s;
    return PH_OK;
}

void ph_lnsession_destroy(ph_lnsessions *s)
{
    if (!s)
        return;
    /* Connections still open own lnconn objects: finish them quietly. */
    ph_lnsession_finish(s);
    ph_tcpreasm_destroy(s->reasm);
    for (size_t i = 0; i < s->nsessions; i++) {
        for (int d = 0; d < 2; d++)
            ph_noise_destroy(s->sessions[i]->d[d].noise);
        free(s->sessions[i]);
    }
    free(s->sessions);
    free(s->problems);
    free(s);
}

static void note_nomem(ph_lnsessions *s)
{
    if (s->nomem) {
        s->nomem = false;
        add_problem(s, PH_LN_PROB_NOMEM, 0, 0, -1, 0, "out of memory: some data was not decoded");
    }
}

ph_err ph_lnsession_packet(ph_lnsessions *s, const struct ph_tcp_packet *p)
{
    if (!s || !p)
        return PH_ERR_ARG;
    ph_err e = ph_tcpreasm_packet(s->reasm, p);
    if (e == PH_ERR_NOMEM)
        s->nomem = true;
    note_nomem(s);
    return e;
}

void ph_lnsession_finish(ph_lnsessions *s)
{
    if (!s)
        return;
    s->finishing = true;
    ph_tcpreasm_finish(s->reasm, 0);
    s->finishing = false;
    note_nomem(s);
}

ph_err ph_lnsession_run(ph_lnsessions *s, ph_capture *c)
{
    if (!s || !c)
        return PH_ERR_ARG;
    struct ph_tcp_packet p;
    ph_err e, ret = PH_OK;
    while ((e = ph_capture_next(c, &p)) == PH_OK) {
        ph_err pe = ph_lnsession_packet(s, &p);
        if (pe && !ret)
            ret = pe;
    }
    const struct ph_capture_stats *cs = ph_capture_stats(c);
    if (e != PH_ERR_EOF) {
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, (uint64_t)ph_capture_error_offset(c),
                    "capture %s after record %llu (file offset %lld): %s; the records before "
                    "were used",
                    e == PH_ERR_CAPTURE_TRUNCATED ? "truncated" : "corrupt",
                    (unsigned long long)cs->records, ph_capture_error_offset(c),
                    ph_capture_error(c));
        if (!ret)
            ret = e;
    }
    ph_lnsession_finish(s);
    if (cs->truncated)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu packets truncated or malformed, not used (first: packet %llu)",
                    (unsigned long long)cs->truncated, (unsigned long long)cs->first_truncated);
    const struct ph_tcpreasm_stats *rs = ph_tcpreasm_stats(s->reasm);
    if (rs->refused)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu packets of new connections dropped: too many connections at once",
                    (unsigned long long)rs->refused);
    return ret;
}

size_t ph_lnsession_count(const ph_lnsessions *s) { return s->nsessions; }

const struct ph_ln_session_stats *ph_lnsession_stats(const ph_lnsessions *s, size_t i)
{
    return i < s->nsessions ? &s->sessions[i]->st : NULL;
}

size_t ph_lnsession_problem_count(const ph_lnsessions *s) { return s->nproblems; }

const struct ph_ln_problem *ph_lnsession_problem(const ph_lnsessions *s, size_t i)
{
    return i < s->nproblems ? &s->problems[i] : NULL;
}

size_t ph_lnsession_problems_dropped(const ph_lnsessions *s) { return s->dropped; }
uint64_t ph_lnsession_messages(const ph_lnsessions *s) { return s->messages; }
uint64_t ph_lnsession_next_id(const ph_lnsessions *s) { return s->next_id; }
uint64_t ph_lnsession_connections(const ph_lnsessions *s) { return s->conns; }
