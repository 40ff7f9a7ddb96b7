#include "lnsession.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

#define INIT_HS (PH_NOISE_ACT1_LEN + PH_NOISE_ACT3_LEN) /* 116 */
#define RESP_HS PH_NOISE_ACT2_LEN                        /* 50 */
#define HDR PH_NOISE_HDR_LEN
/* Bytes held per direction while the handshake is not yet recognised
 * (beyond the acts), and in all: past either, the connection is searched
 * for keys instead. A real handshake holds nothing: each side waits for
 * the other's act before sending more. */
#define MAX_PENDING (64u << 10)
#define MAX_PENDING_TOTAL (64u << 20)
#define DEF_MAX_PROBLEMS 10000u
/* Capture-level problems are few kinds, each said once. */
#define MAX_CAPTURE_PROBLEMS 32u

/* One direction being decrypted (or searched for a key's frame). */
struct lndir {
    ph_noise *noise;        /* receive-only transport, NULL before a key */
    bool need_key;          /* the next frame starts a key period */
    bool hunting;           /* the position may not be a frame start: search */
    bool fresh_key;         /* no message decrypted yet under the current key */
    bool midstream;         /* searching since the start: no handshake */
    bool lost;              /* decryption was lost; a resume is reported */
    uint8_t peek[HDR];      /* bytes of a frame header not yet given to noise */
    size_t peek_len;
    uint64_t pos;           /* stream offset of the next byte to take */
    uint64_t frame_start;   /* stream offset of the frame being decrypted */
    uint64_t frames;        /* frames met under keys (decrypted or lost) */
    uint64_t lost_at;       /* where decryption was lost (for the resume) */
    uint64_t skipped;       /* bytes not decrypted since lost_at */
};

struct session {
    struct ph_ln_session_stats st;
    struct lndir d[2];      /* by session direction */
    uint64_t acts_end[2];   /* found by search with the acts seen (a gap
                               inside them): where the first frame must be */
};

enum conn_state { LC_DETECT, LC_SESSION, LC_HUNT, LC_OTHER };

/* Attached to every TCP connection (ph_tcp_conn_info.user). */
struct lnconn {
    enum conn_state state;
    int init_dir;                      /* TCP direction of the initiator, -1 unknown */
    uint8_t head[2][INIT_HS];          /* by TCP direction */
    size_t head_len[2];
    uint8_t *pend[2];                  /* bytes after the acts, held during detection */
    size_t pend_len[2], pend_cap[2];
    bool acts_seen;                    /* the acts began right before the search */
    uint64_t bytes[2];                 /* TCP payload delivered per TCP direction */
    uint64_t missing[2];               /* bytes in holes per TCP direction */
    bool gap[2];
    uint64_t gap_off[2];
    struct lndir hunt[2];              /* LC_HUNT: each TCP direction searched */
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
    struct ph_ln_problem *problems;    /* capture-level ones, then the others */
    size_t nproblems, cap_problems, ncapture, dropped;
    size_t pending_total;
    uint64_t messages;
    uint64_t conns;
    uint64_t tcp_bytes;
    bool nomem;
    bool finishing;   /* connections closed now were cut by the end of input */
};

/* ---- problems ---- */

static struct session *session_of(ph_lnsessions *s, uint64_t id);

static struct ph_ln_problem *new_problem(ph_lnsessions *s, bool capture_level)
{
    if (!capture_level && s->nproblems - s->ncapture >= s->max_problems)
        return NULL;
    if (capture_level && s->ncapture >= MAX_CAPTURE_PROBLEMS)
        return NULL;
    if (s->nproblems == s->cap_problems) {
        size_t n = s->cap_problems ? s->cap_problems * 2 : 16;
        struct ph_ln_problem *p = realloc(s->problems, n * sizeof *p);
        if (!p)
            return NULL;
        s->problems = p;
        s->cap_problems = n;
    }
    struct ph_ln_problem *p;
    if (capture_level) {
        /* Capture-level problems stay in front. */
        memmove(&s->problems[s->ncapture + 1], &s->problems[s->ncapture],
                (s->nproblems - s->ncapture) * sizeof *p);
        p = &s->problems[s->ncapture++];
    } else {
        p = &s->problems[s->nproblems];
    }
    s->nproblems++;
    return p;
}

static struct ph_ln_problem *add_problem(ph_lnsessions *s, enum ph_ln_problem_kind kind,
                                         uint64_t session, uint64_t conn, int dir,
                                         uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* The problem made, or NULL when it was only counted (cap, memory). */
static struct ph_ln_problem *add_problem(ph_lnsessions *s, enum ph_ln_problem_kind kind,
                                         uint64_t session, uint64_t conn, int dir,
                                         uint64_t offset, const char *fmt, ...)
{
    struct session *se = session ? session_of(s, session) : NULL;
    if (se)
        se->st.problems++;
    bool cap = kind == PH_LN_PROB_CAPTURE || kind == PH_LN_PROB_NOTE ||
               (kind == PH_LN_PROB_NOMEM && !session && !conn);
    struct ph_ln_problem *p = new_problem(s, cap);
    if (!p) {
        s->dropped++;
        return NULL;
    }
    p->kind = kind;
    p->bytes = 0;
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
    return p;
}

static void set_bytes(struct ph_ln_problem *p, uint64_t bytes)
{
    if (p)
        p->bytes = bytes;
}

#define NAME_LEN (2 * PH_ENDPOINT_STRLEN + 8)

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

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

/* ---- sessions ---- */

static struct session *session_of(ph_lnsessions *s, uint64_t id)
{
    uint64_t first = s->nsessions ? s->sessions[0]->st.id : 0;
    if (!s->nsessions || id < first || id - first >= s->nsessions)
        return NULL;
    return s->sessions[id - first];
}

static struct session *new_session(ph_lnsessions *s, const struct ph_tcp_conn_info *c,
                                   int init_dir, bool handshake)
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
    se->st.handshake_seen = handshake;
    for (int d = 0; d < 2; d++) {
        se->d[d].need_key = true;
        if (handshake) {
            se->st.handshake_bytes[d] = d == PH_LN_I2R ? INIT_HS : RESP_HS;
            se->d[d].pos = se->d[d].frame_start = se->st.handshake_bytes[d];
        }
        se->st.complete[d] = true;
        se->st.first_frame[d] = UINT64_MAX;
    }
    s->sessions[s->nsessions++] = se;
    return se;
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
    se->st.frame_bytes[dir] += len + PH_NOISE_OVERHEAD;
    s->messages++;
    if (s->cb)
        s->cb(s->ctx, &r);
}

/* ---- searching a stream for a logged key's first frame ---- */

/* Decryption of this direction is lost from stream offset `at` on: the
 * frame boundary is unknown, so search for a logged key's MAC. */
static void start_hunt(struct session *se, int dir, uint64_t at)
{
    struct lndir *d = &se->d[dir];
    ph_noise_destroy(d->noise);
    d->noise = NULL;
    d->need_key = true;
    d->hunting = true;
    if (!d->lost) {
        d->lost = true;
        d->lost_at = at;
        d->skipped = 0;
    }
    se->st.complete[dir] = false;
}

/* Consumes bytes until d->peek holds 18 bytes whose MAC (bytes 2..17) is a
 * logged key's, or everything is consumed. Bytes slid past are counted in
 * d->skipped. Returns the bytes consumed from p. */
static size_t hunt(const ph_keylog *kl, struct lndir *d, const uint8_t *p, size_t len,
                   bool *found)
{
    *found = false;
    if (!ph_keylog_count(kl)) {
        d->skipped += len;
        d->pos += len;
        return len;
    }
    size_t used = 0;
    for (;;) {
        if (d->peek_len == HDR) {
            if (ph_keylog_find(kl, d->peek + 2)) {
                *found = true;
                return used;
            }
            memmove(d->peek, d->peek + 1, HDR - 1);
            d->peek_len--;
            d->skipped++;
        }
        if (used == len)
            return used;
        if (d->peek_len == 0 && len - used >= HDR) {
            /* Straight in the caller's bytes: no copying while nothing
             * matches. */
            size_t q = used, last = len - HDR;
            while (q <= last && !ph_keylog_find(kl, p + q + 2))
                q++;
            size_t skip = q <= last ? q - used : len - (HDR - 1) - used;
            d->skipped += skip;
            d->pos += skip;
            used += skip;
            size_t take = len - used < HDR ? len - used : HDR;
            memcpy(d->peek, p + used, take);
            d->peek_len = take;
            d->pos += take;
            used += take;
            continue;
        }
        d->peek[d->peek_len++] = p[used++];
        d->pos++;
    }
}

/* Decryption picked up again at a logged key's frame: say where, and what
 * could not be decrypted before it. */
static void note_resume(ph_lnsessions *s, struct session *se, int dir)
{
    struct lndir *d = &se->d[dir];
    char name[NAME_LEN];
    dir_name(se, dir, name, sizeof name);
    se->st.resyncs[dir]++;
    struct ph_ln_problem *p = NULL;
    if (d->midstream && se->acts_end[dir] && d->frame_start == se->acts_end[dir]) {
        /* the first frame right after the acts: what came before was the
         * handshake (partly missing), nothing of the transport was lost */
        se->st.handshake_bytes[dir] = d->skipped;
        d->skipped = 0;
    } else if (d->midstream && d->skipped) {
        p = add_problem(s, PH_LN_PROB_MIDSTREAM, se->st.id, se->st.conn, dir, d->frame_start,
                        "%s: the handshake was not captured: decrypted from stream offset %llu "
                        "on (the first frame under a logged key); the %llu bytes before could "
                        "not be decrypted",
                        name, ull(d->frame_start), ull(d->skipped));
    } else if (d->midstream) {
        p = add_problem(s, PH_LN_PROB_MIDSTREAM, se->st.id, se->st.conn, dir, d->frame_start,
                        "%s: the handshake was not captured: decrypted from stream offset %llu "
                        "on (the first frame under a logged key; nothing before it was "
                        "captured)",
                        name, ull(d->frame_start));
    } else {
        p = add_problem(s, PH_LN_PROB_RESYNC, se->st.id, se->st.conn, dir, d->frame_start,
                        "%s: decryption resumed at stream offset %llu (the first frame under "
                        "a logged key): the %llu bytes from offset %llu before it could not be "
                        "decrypted (%llu messages decrypted before them)",
                        name, ull(d->frame_start), ull(d->skipped), ull(d->lost_at),
                        ull(se->st.messages[dir]));
    }
    set_bytes(p, d->skipped);
    d->midstream = false;
    d->lost = false;
    d->hunting = false;
    d->skipped = 0;
}

/* ---- decryption ---- */

/* d->peek holds a complete header: find its key in the key log. */
static bool install_key(ph_lnsessions *s, struct session *se, int dir)
{
    struct lndir *d = &se->d[dir];
    char name[NAME_LEN];
    d->frame_start = d->pos - HDR;
    const uint8_t *key = ph_keylog_find(s->kl, d->peek + 2);
    if (!key) {
        dir_name(se, dir, name, sizeof name);
        if (!se->st.keys[dir])
            add_problem(s, PH_LN_PROB_NO_KEY, se->st.id, se->st.conn, dir, d->frame_start,
                        "no key for %s (first frame at stream offset %llu); searching its "
                        "stream for a later logged key",
                        name, ull(d->frame_start));
        else
            add_problem(s, PH_LN_PROB_NO_NEXT_KEY, se->st.id, se->st.conn, dir,
                        d->frame_start,
                        "no key for %s after rotation %llu (message %llu, stream offset %llu); "
                        "searching its stream for a later logged key",
                        name, ull(se->st.keys[dir]), ull(se->st.messages[dir]),
                        ull(d->frame_start));
        start_hunt(se, dir, d->frame_start);
        return false;
    }
    ph_err e = d->noise ? ph_noise_set_recv_key(d->noise, key)
                        : ph_noise_create_from_keys(&d->noise, NULL, NULL, key, NULL);
    if (e) {
        dir_name(se, dir, name, sizeof name);
        add_problem(s, PH_LN_PROB_NOMEM, se->st.id, se->st.conn, dir, d->frame_start,
                    "cannot set up decryption of %s: %s", name, ph_strerror(e));
        start_hunt(se, dir, d->frame_start);
        return false;
    }
    if (d->hunting || d->lost)
        note_resume(s, se, dir);
    if (se->st.first_frame[dir] == UINT64_MAX)
        se->st.first_frame[dir] = d->frame_start;
    se->st.keys[dir]++;
    d->need_key = false;
    d->fresh_key = true;
    return true;
}

/* A frame did not authenticate: name it and what had authenticated. A
 * body that failed under an authenticated header costs that message only;
 * otherwise the frame boundary is lost and the stream is searched. */
static void bad_frame(ph_lnsessions *s, struct session *se, int dir, ph_err e)
{
    char name[NAME_LEN];
    dir_name(se, dir, name, sizeof name);
    struct lndir *d = &se->d[dir];
    uint64_t msg = se->st.messages[dir] + se->st.lost_messages[dir];
    size_t blen = 0;
    if (e == PH_ERR_NOISE_BAD_MAC && ph_noise_recv_body_failed(d->noise, &blen)) {
        struct ph_ln_problem *p = add_problem(s, PH_LN_PROB_BAD_MAC, se->st.id, se->st.conn, dir, d->frame_start,
                    "bad MAC on the body of message %llu in %s (frame at stream offset %llu, "
                    "%zu-byte body): its length header authenticated under key %llu, so the "
                    "key is right and the frame's bytes are damaged in the capture; that "
                    "message is lost",
                    ull(msg), name, ull(d->frame_start), blen, ull(se->st.keys[dir]));
        set_bytes(p, d->pos - d->frame_start);
        if (ph_noise_recv_skip_frame(d->noise) == PH_OK) {
            se->st.lost_messages[dir]++;
            se->st.undecrypted[dir] += d->pos - d->frame_start;
            se->st.complete[dir] = false;
            d->frames++;
            d->frame_start = d->pos;
            if (ph_noise_recv_nonce(d->noise) >= PH_NOISE_ROTATE_AT)
                d->need_key = true;
            return;
        }
    } else if (e == PH_ERR_NOISE_BAD_MAC && d->fresh_key) {
        const uint8_t *key = ph_keylog_find(s->kl, d->peek + 2);
        size_t fixed = 0;
        if (key && ph_noise_header_repairable(key, 0, d->peek, &fixed))
            add_problem(s, PH_LN_PROB_BAD_MAC, se->st.id, se->st.conn, dir, d->frame_start,
                        "bad MAC on the length header of the first frame under key %llu in %s "
                        "at stream offset %llu: its two length bytes are damaged in the capture "
                        "(with other values they authenticate under the key log's key, as "
                        "length %zu), so the key is right; the frame boundary is lost",
                        ull(se->st.keys[dir]), name, ull(d->frame_start), fixed);
        else
            add_problem(s, PH_LN_PROB_BAD_MAC, se->st.id, se->st.conn, dir, d->frame_start,
                        "bad MAC on the length header of the first frame under key %llu in %s "
                        "at stream offset %llu: that frame's MAC is in the key log but its key "
                        "does not authenticate it, whatever its two length bytes: the key "
                        "log's key for it is wrong",
                        ull(se->st.keys[dir]), name, ull(d->frame_start));
    } else if (e == PH_ERR_NOISE_BAD_MAC) {
        add_problem(s, PH_LN_PROB_BAD_MAC, se->st.id, se->st.conn, dir, d->frame_start,
                    "bad MAC on the length header of message %llu in %s at stream offset %llu "
                    "(key %llu had authenticated %llu frames): the bytes there are damaged in "
                    "the capture, so the frame's length is unknown",
                    ull(msg), name, ull(d->frame_start), ull(se->st.keys[dir]),
                    ull(d->frames));
    } else {
        add_problem(s, e == PH_ERR_NOMEM ? PH_LN_PROB_NOMEM : PH_LN_PROB_BAD_MAC, se->st.id,
                    se->st.conn, dir, d->frame_start,
                    "cannot decrypt %s at stream offset %llu: %s", name, ull(d->frame_start),
                    ph_strerror(e));
    }
    start_hunt(se, dir, d->frame_start);
    d->skipped += d->pos - d->frame_start;
}

/* Bytes of a direction that is searching, and what follows a find. */
static void decrypt(ph_lnsessions *s, struct session *se, int dir, const uint8_t *p, size_t len,
                    uint64_t ts);

/* The held header is complete: install its key, hand it to the transport. */
static void take_header(ph_lnsessions *s, struct session *se, int dir)
{
    struct lndir *d = &se->d[dir];
    if (!install_key(s, se, dir)) {
        /* search on from the byte after this frame's start */
        memmove(d->peek, d->peek + 1, HDR - 1);
        d->peek_len = HDR - 1;
        d->skipped++;
        return;
    }
    size_t off = 0;
    while (off < d->peek_len) {
        size_t used = 0, mlen = 0, need = 0;
        const uint8_t *msg = NULL;
        ph_err e = ph_noise_decrypt_feed(d->noise, d->peek + off, d->peek_len - off, &used,
                                         &msg, &mlen, &need);
        if (e) {
            d->peek_len = 0;
            bad_frame(s, se, dir, e);
            return;
        }
        if (!used && !msg)
            break;
        off += used;
        if (msg) { /* an empty message is a bare header and MAC */
            d->fresh_key = false;
            d->frames++;
            emit(s, se, dir, msg, mlen, 0);
            d->frame_start = d->pos - (d->peek_len - off);
        }
    }
    d->peek_len = 0;
}

static void decrypt(ph_lnsessions *s, struct session *se, int dir, const uint8_t *p, size_t len,
                    uint64_t ts)
{
    struct lndir *d = &se->d[dir];
    while (len) {
        if (d->need_key) {
            size_t used;
            if (d->hunting) {
                bool found;
                used = hunt(s->kl, d, p, len, &found);
                p += used;
                len -= used;
                if (!found)
                    return;
            } else {
                used = HDR - d->peek_len < len ? HDR - d->peek_len : len;
                memcpy(d->peek + d->peek_len, p, used);
                d->peek_len += used;
                d->pos += used;
                p += used;
                len -= used;
                if (d->peek_len < HDR)
                    return;
            }
            take_header(s, se, dir);
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
        p += used;
        len -= used;
        d->pos += used;
        if (e) {
            bad_frame(s, se, dir, e);
            continue;
        }
        if (msg) {
            d->fresh_key = false;
            d->frames++;
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
    if (d->hunting)
        return 0;
    return d->pos - d->frame_start;
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

static void drop_pending(ph_lnsessions *s, struct lnconn *lc)
{
    for (int t = 0; t < 2; t++) {
        s->pending_total -= lc->pend_cap[t];
        free(lc->pend[t]);
        lc->pend[t] = NULL;
        lc->pend_len[t] = lc->pend_cap[t] = 0;
    }
}

static bool hold(ph_lnsessions *s, struct lnconn *lc, int tdir, const uint8_t *p, size_t len)
{
    if (!len)
        return true;
    if (lc->pend_len[tdir] + len > MAX_PENDING)
        return false;
    if (lc->pend_len[tdir] + len > lc->pend_cap[tdir]) {
        size_t n = lc->pend_cap[tdir] ? lc->pend_cap[tdir] : 4096;
        while (n < lc->pend_len[tdir] + len)
            n *= 2;
        if (s->pending_total - lc->pend_cap[tdir] + n > MAX_PENDING_TOTAL)
            return false;
        uint8_t *b = realloc(lc->pend[tdir], n);
        if (!b)
            return false;
        s->pending_total += n - lc->pend_cap[tdir];
        lc->pend[tdir] = b;
        lc->pend_cap[tdir] = n;
    }
    memcpy(lc->pend[tdir] + lc->pend_len[tdir], p, len);
    lc->pend_len[tdir] += len;
    return true;
}

/* Session direction of TCP direction `tdir`. */
static int sdir(const struct lnconn *lc, int tdir)
{
    return tdir == lc->init_dir ? PH_LN_I2R : PH_LN_R2I;
}

static void become_session(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c,
                           uint64_t ts)
{
    struct session *se = new_session(s, c, lc->init_dir, true);
    if (!se) {
        s->nomem = true;
        lc->state = LC_OTHER;
        drop_pending(s, lc);
        return;
    }
    lc->sess = se;
    lc->state = LC_SESSION;
    c->keep = true;
    /* Initiator first: its act 3 came before anything the responder sent
     * under the transport. */
    for (int k = 0; k < 2; k++) {
        int tdir = k == 0 ? lc->init_dir : !lc->init_dir;
        int sd = k == 0 ? PH_LN_I2R : PH_LN_R2I;
        se->st.stream_bytes[sd] = lc->bytes[tdir];
        decrypt(s, se, sd, lc->pend[tdir], lc->pend_len[tdir], ts);
    }
    drop_pending(s, lc);
}

/* The roles of a connection without a handshake: the SYN's sender, else
 * the side on the higher port (an ephemeral one) initiated. */
static int guess_initiator(const struct ph_tcp_conn_info *c, bool *guessed)
{
    *guessed = false;
    if (c->syn[0] || c->syn[1])
        return 0; /* ep[0] sent the SYN, or the SYN-ACK's receiver */
    *guessed = true;
    return c->ep[0].port >= c->ep[1].port ? 0 : 1;
}

static void hunt_data(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c,
                      int tdir, const uint8_t *p, size_t len, uint64_t ts);

/* No handshake (or not one we can follow): search both directions for a
 * logged key's frame; what was held so far goes first. */
static void become_hunt(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c,
                        uint64_t ts)
{
    /* A gap inside acts that began right: still a handshake, only its
     * bytes cannot be checked. */
    lc->acts_seen = lc->init_dir >= 0 && lc->head_len[lc->init_dir] >= PH_NOISE_ACT1_LEN &&
                    plausible(lc);
    lc->state = LC_HUNT;
    for (int t = 0; t < 2; t++) {
        struct lndir *h = &lc->hunt[t];
        memset(h, 0, sizeof *h);
        h->need_key = h->hunting = h->midstream = h->lost = true;
    }
    /* Replay what detection saw, in stream order per direction. */
    uint8_t *pend[2] = {lc->pend[0], lc->pend[1]};
    size_t plen[2] = {lc->pend_len[0], lc->pend_len[1]};
    uint8_t head[2][INIT_HS];
    size_t hlen[2] = {lc->head_len[0], lc->head_len[1]};
    memcpy(head, lc->head, sizeof head);
    lc->pend[0] = lc->pend[1] = NULL;
    for (int t = 0; t < 2; t++) {
        s->pending_total -= lc->pend_cap[t];
        lc->pend_len[t] = lc->pend_cap[t] = 0;
    }
    for (int t = 0; t < 2; t++) {
        if (lc->state == LC_HUNT)
            hunt_data(s, lc, c, t, head[t], hlen[t], ts);
        else if (lc->state == LC_SESSION)
            decrypt(s, lc->sess, sdir(lc, t), head[t], hlen[t], ts);
        if (lc->state == LC_HUNT)
            hunt_data(s, lc, c, t, pend[t], plen[t], ts);
        else if (lc->state == LC_SESSION)
            decrypt(s, lc->sess, sdir(lc, t), pend[t], plen[t], ts);
        free(pend[t]);
    }
}

/* A logged key's frame was found in a connection without a handshake: it
 * is a session from here on. */
static void hunt_found(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c)
{
    bool guessed = false;
    int init = lc->acts_seen ? lc->init_dir : guess_initiator(c, &guessed);
    struct session *se = new_session(s, c, init, false);
    if (!se) {
        s->nomem = true;
        lc->state = LC_OTHER;
        return;
    }
    se->st.roles_guessed = guessed;
    lc->init_dir = init;
    lc->sess = se;
    lc->state = LC_SESSION;
    c->keep = true;
    for (int t = 0; t < 2; t++) {
        int sd = sdir(lc, t);
        se->d[sd] = lc->hunt[t];
        se->st.stream_bytes[sd] = lc->bytes[t];
        se->st.missing[sd] = lc->missing[t];
        se->st.complete[sd] = false;
        if (lc->acts_seen)
            se->acts_end[sd] = sd == PH_LN_I2R ? INIT_HS : RESP_HS;
    }
}

static void hunt_data(ph_lnsessions *s, struct lnconn *lc, struct ph_tcp_conn_info *c,
                      int tdir, const uint8_t *p, size_t len, uint64_t ts)
{
    bool found;
    size_t used = hunt(s->kl, &lc->hunt[tdir], p, len, &found);
    if (!found)
        return;
    hunt_found(s, lc, c);
    if (lc->state != LC_SESSION)
        return;
    int sd = sdir(lc, tdir);
    take_header(s, lc->sess, sd);
    decrypt(s, lc->sess, sd, p + used, len - used, ts);
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
    if (!plausible(lc) || !hold(s, lc, tdir, p + take, len - take)) {
        /* Not a handshake, or too much held: search for keys instead, what
         * was seen so far first. */
        become_hunt(s, lc, c, ts);
        if (lc->state == LC_HUNT)
            hunt_data(s, lc, c, tdir, p + take, len - take, ts);
        else if (lc->state == LC_SESSION)
            decrypt(s, lc->sess, sdir(lc, tdir), p + take, len - take, ts);
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
    s->tcp_bytes += len;
    if (!lc)
        return;
    lc->bytes[tdir] += len;
    switch (lc->state) {
    case LC_DETECT:
        detect(s, lc, c, tdir, p, len, ts);
        break;
    case LC_SESSION: {
        int sd = sdir(lc, tdir);
        lc->sess->st.stream_bytes[sd] += len;
        decrypt(s, lc->sess, sd, p, len, ts);
        break;
    }
    case LC_HUNT:
        hunt_data(s, lc, c, tdir, p, len, ts);
        break;
    case LC_OTHER:
        break;
    }
}

/* A hole the capture lacks; the stream goes on after it. */
static void on_gap(void *ctx, struct ph_tcp_conn_info *c, int tdir, uint64_t off, uint64_t len,
                   uint64_t ts)
{
    ph_lnsessions *s = ctx;
    struct lnconn *lc = c->user;
    if (!lc)
        return;
    if (lc->state == LC_DETECT)
        become_hunt(s, lc, c, ts);
    /* after: a session the search just found counts this gap itself */
    lc->missing[tdir] += len;
    if (lc->state == LC_HUNT) {
        struct lndir *h = &lc->hunt[tdir];
        h->skipped += h->peek_len;
        h->peek_len = 0;
        h->pos = off + len;
        return;
    }
    if (lc->state != LC_SESSION)
        return;
    struct session *se = lc->sess;
    int sd = sdir(lc, tdir);
    struct lndir *d = &se->d[sd];
    se->st.missing[sd] += len;
    se->st.complete[sd] = false;
    char name[NAME_LEN];
    dir_name(se, sd, name, sizeof name);
    set_bytes(add_problem(s, PH_LN_PROB_GAP, se->st.id, se->st.conn, sd, off,
                          "gap in %s at stream offset %llu, %llu bytes missing from the "
                          "capture: %llu messages decrypted before it; decryption resumes at "
                          "the next logged key's first frame",
                          name, ull(off), ull(len), ull(se->st.messages[sd])),
              len);
    if (!d->hunting) {
        start_hunt(se, sd, d->frame_start);
        d->skipped += off - d->frame_start;
    } else {
        d->skipped += d->peek_len;
    }
    d->peek_len = 0;
    d->pos = off + len;
}

static void session_end(ph_lnsessions *s, struct lnconn *lc, int tdir, enum ph_tcp_end why,
                        uint64_t off, const struct ph_tcp_conn_info *c)
{
    struct session *se = lc->sess;
    int sd = sdir(lc, tdir);
    struct lndir *d = &se->d[sd];
    char name[NAME_LEN];
    dir_name(se, sd, name, sizeof name);
    se->st.ignored[sd] = c->st[tdir].ignored;
    if (why == PH_TCP_END_GAP || why == PH_TCP_END_LIMIT) {
        uint64_t missing = c->st[tdir].gap_len;
        se->st.missing[sd] += missing;
        char miss[64] = "";
        if (missing)
            snprintf(miss, sizeof miss, ", %llu bytes missing", ull(missing));
        set_bytes(add_problem(s, PH_LN_PROB_GAP, se->st.id, se->st.conn, sd, off,
                              "%s in %s at stream offset %llu%s: %llu messages decrypted, the "
                              "rest of this direction was not captured",
                              why == PH_TCP_END_GAP ? "gap" : "reassembly buffer limit reached",
                              name, ull(off), miss, ull(se->st.messages[sd])),
                  missing);
        se->st.complete[sd] = false;
    }
    if (d->hunting || d->lost) {
        /* Where decryption was lost (no key, bad MAC, gap) a problem said so
         * already and the session's stats count the bytes; a direction
         * never found has had nothing said about it. */
        uint64_t rest = d->skipped + d->peek_len;
        if (rest && d->midstream)
            set_bytes(add_problem(s, PH_LN_PROB_UNDECRYPTED, se->st.id, se->st.conn, sd, 0,
                                  "%s: the handshake was not captured and no frame of a logged "
                                  "key is in its %llu bytes: none of it could be decrypted",
                                  name, ull(rest)),
                      rest);
        se->st.complete[sd] = false;
        return;
    }
    uint64_t rest = leftover(d);
    if (rest) {
        set_bytes(add_problem(s, PH_LN_PROB_TRAILING, se->st.id, se->st.conn, sd,
                              d->frame_start,
                              "%llu trailing bytes in %s at stream offset %llu (incomplete "
                              "frame at %s)",
                              ull(rest), name, ull(d->frame_start), ph_tcp_end_name(why)),
                  rest);
        se->st.complete[sd] = false;
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
        lc->missing[tdir] += c->st[tdir].gap_len;
    }
    if (lc->state == LC_SESSION)
        session_end(s, lc, tdir, why, off, c);
}

/* "1234 bytes" or "1234 bytes (100 missing from the capture)". */
static void bytes_text(const struct lnconn *lc, int t, char *out, size_t cap)
{
    if (lc->missing[t])
        snprintf(out, cap, "%llu bytes (and %llu missing from the capture)", ull(lc->bytes[t]),
                 ull(lc->missing[t]));
    else
        snprintf(out, cap, "%llu bytes", ull(lc->bytes[t]));
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
                     t == i ? "the first sender's" : "the other side's", ull(lc->gap_off[t]));
            break;
        }
    char b0[96], b1[96];
    bytes_text(lc, i, b0, sizeof b0);
    bytes_text(lc, !i, b1, sizeof b1);
    if (lc->state == LC_DETECT) {
        add_problem(s, PH_LN_PROB_HANDSHAKE, 0, c->id, -1, 0,
                    "%s: BOLT 8 handshake incomplete (initiator sent %zu of %u bytes, "
                    "responder %zu of %u)%s: %s sent, %s received",
                    name, lc->head_len[i], (unsigned)INIT_HS, lc->head_len[!i],
                    (unsigned)RESP_HS, why, b0, b1);
        return;
    }
    bool keys = ph_keylog_count(s->kl) > 0;
    add_problem(s, PH_LN_PROB_NOT_LIGHTNING, 0, c->id, -1, 0,
                "%s: not a Lightning session (no BOLT 8 handshake at the start of the "
                "stream%s%s)%s: %s sent, %s received, none of it decrypted",
                name, c->syn[i] ? "" : "; the capture began mid-connection",
                keys ? "; no frame of a logged key in it" : "; no key log", why, b0, b1);
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
            int sd = sdir(lc, t);
            se->st.overlap_conflicts[sd] = c->st[t].overlap_conflicts;
        }
        for (int d = 0; d < 2; d++) {
            uint64_t used = se->st.handshake_bytes[d] + se->st.frame_bytes[d];
            se->st.undecrypted[d] =
                se->st.stream_bytes[d] > used ? se->st.stream_bytes[d] - used : 0;
            if (se->st.undecrypted[d] || se->st.missing[d])
                se->st.complete[d] = false;
            ph_noise_destroy(se->d[d].noise);
            se->d[d].noise = NULL;
        }
    } else if (lc->bytes[0] || lc->bytes[1] || lc->missing[0] || lc->missing[1]) {
        report_unfinished(s, lc, c);
    }
    drop_pending(s, lc);
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
    struct ph_tcpreasm_cb rcb = {on_open, on_data, on_end, on_close, on_gap};
    struct ph_tcpreasm_limits lim = {0};
    if (opts)
        lim = opts->limits;
    lim.skip_gaps = true;
    ph_err e = ph_tcpreasm_create(&s->reasm, &rcb, s, &lim);
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

/* "packet" or "packets" after a count. */
static const char *plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* What the capture reader skipped, said once per kind. */
static void capture_problems(ph_lnsessions *s, const ph_capture *c)
{
    const struct ph_capture_stats *cs = ph_capture_stats(c);
    if (cs->snapcut)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu %s cut short by the capture's snapshot length (%u bytes; first: "
                    "packet %llu): the payload cut off is missing, reported as gaps",
                    ull(cs->snapcut), plural(cs->snapcut, "packet", "packets"), cs->snaplen,
                    ull(cs->first_snapcut));
    if (cs->truncated > cs->snapcut)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu %s malformed (headers longer than the packet or impossible), not "
                    "used (first: packet %llu)",
                    ull(cs->truncated - cs->snapcut),
                    plural(cs->truncated - cs->snapcut, "packet", "packets"),
                    ull(cs->first_malformed));
    if (cs->unsupported) {
        const char *name = ph_capture_linktype_name(cs->unsupported_linktype);
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu %s of an interface with link type %d%s%s%s skipped: not "
                    "supported (first: packet %llu)",
                    ull(cs->unsupported), plural(cs->unsupported, "packet", "packets"),
                    cs->unsupported_linktype, name ? " (" : "",
                    name ? name : "", name ? ")" : "", ull(cs->first_unsupported));
    }
    if (cs->unfilterable)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu %s of link type %d skipped: the filter cannot apply to it (%s)",
                    ull(cs->unfilterable), plural(cs->unfilterable, "packet", "packets"),
                    cs->unfilterable_linktype, ph_capture_filter_error(c));
    if (cs->fragments)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu %s skipped: IP fragments are not reassembled",
                    ull(cs->fragments),
                    plural(cs->fragments, "IP fragment of a TCP segment",
                           "IP fragments of TCP segments"));
    if (cs->vlan_filtered && !cs->vlan)
        add_problem(s, PH_LN_PROB_NOTE, 0, 0, -1, 0,
                    "the filter matched none of the %llu TCP packets inside VLAN tags: a BPF "
                    "filter looks inside 802.1Q tags only after 'vlan' (e.g. 'vlan and tcp "
                    "port 9735', or 'tcp port 9735 or (vlan and tcp port 9735)')",
                    ull(cs->vlan_filtered));
}

/* What the reassembly had to give up, said once per kind. */
static void reasm_problems(ph_lnsessions *s)
{
    const struct ph_tcpreasm_stats *rs = ph_tcpreasm_stats(s->reasm);
    if (rs->evicted_payload)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu TCP connections evicted from the connection table (more than %llu "
                    "open at once; %llu had carried data, %llu were Lightning sessions): each "
                    "ends where it was evicted, and its later packets count as a new "
                    "connection",
                    ull(rs->evicted), ull(rs->max_tracked), ull(rs->evicted_payload),
                    ull(rs->evicted_keep));
    else if (rs->evicted)
        add_problem(s, PH_LN_PROB_NOTE, 0, 0, -1, 0,
                    "%llu TCP connections that carried no data (half-open: a scan or a flood) "
                    "evicted from the connection table (more than %llu open at once)",
                    ull(rs->evicted), ull(rs->max_tracked));
    if (rs->refused)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "%llu packets of new TCP connections dropped: out of memory",
                    ull(rs->refused));
    if (rs->budget_hits)
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, 0,
                    "the reassembly memory budget was reached %llu times: out-of-order data "
                    "behind holes was given up early (reported as gaps)",
                    ull(rs->budget_hits));
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
        const char *what = e == PH_ERR_CAPTURE_TRUNCATED ? "truncated"
                           : e == PH_ERR_CAPTURE_CORRUPT ? "corrupt"
                                                         : "unreadable";
        add_problem(s, PH_LN_PROB_CAPTURE, 0, 0, -1, (uint64_t)ph_capture_error_offset(c),
                    "capture %s after record %llu (file offset %lld): %s; the records before "
                    "were used",
                    what, ull(cs->records), ph_capture_error_offset(c), ph_capture_error(c));
        if (!ret)
            ret = e == PH_ERR_CAPTURE_TRUNCATED || e == PH_ERR_CAPTURE_CORRUPT ? e
                                                                               : PH_ERR_IO;
    }
    ph_lnsession_finish(s);
    capture_problems(s, c);
    reasm_problems(s);
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
uint64_t ph_lnsession_tcp_bytes(const ph_lnsessions *s) { return s->tcp_bytes; }

const struct ph_tcpreasm_stats *ph_lnsession_reasm_stats(const ph_lnsessions *s)
{
    return ph_tcpreasm_stats(s->reasm);
}
