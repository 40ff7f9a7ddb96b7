/* The input pipeline on the bundled captures (recorded with real peers and
 * tcpdump, captures/README.md) and on .lnmsgs files: sessions, stats,
 * messages in order, problems as data, the node under study per session,
 * the type filter, and unusable input that hands out nothing. Run from the
 * repository root (tests/run.sh does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "keylog.h"
#include "lninput.h"

#define FLOOD "captures/gossip-flood.pcap"
#define CHATTY "captures/chatty-8peers.pcap"
#define SAMPLE "captures/mainnet-gossip.lnmsgs"

/* ---- what the callbacks saw ---- */

#define MAX_SESS 16

struct seen {
    const ph_lninput *in;
    uint64_t messages;
    uint64_t by_session_dir[MAX_SESS][2];      /* messages */
    uint64_t bytes_session_dir[MAX_SESS][2];   /* bytes, counted here */
    char src[MAX_SESS][2][PH_ENDPOINT_STRLEN]; /* sender of each direction */
    size_t files_announced;
    size_t last_file;
    bool msg_before_file;                      /* a message of a file not yet announced */
    /* at each on_file: the stats then */
    uint64_t file_sessions[8];
    uint64_t file_msgs_r2i[8];                 /* first session's responder messages */
    uint64_t last_ts, last_offset;
    bool ts_backwards, offset_wrong, untimed_with_src, bad_type;
    uint64_t lnmsgs_seen;
    uint16_t only_type;                        /* nonzero: every message must be this */
};

static void on_msg(void *ctx, const struct ph_lninput_msg *m)
{
    struct seen *s = ctx;
    s->messages++;
    if (m->file >= s->files_announced)
        s->msg_before_file = true;
    if (m->session < MAX_SESS) {
        s->by_session_dir[m->session][m->dir]++;
        s->bytes_session_dir[m->session][m->dir] += m->len;
        if (m->src)
            ph_endpoint_format(m->src, s->src[m->session][m->dir]);
    }
    if (m->timed) {
        /* capture order within a file (each file starts again) */
        if (m->file == s->last_file && m->ts_ns < s->last_ts)
            s->ts_backwards = true;
        s->last_ts = m->ts_ns;
    } else {
        if (m->src || m->dst)
            s->untimed_with_src = true;
        if (s->lnmsgs_seen && m->offset <= s->last_offset)
            s->offset_wrong = true;
        if (!s->lnmsgs_seen && m->offset != 0)
            s->offset_wrong = true;
        s->last_offset = m->offset;
        s->lnmsgs_seen++;
    }
    s->last_file = m->file;
    if (s->only_type && (m->len < 2 || (m->msg[0] << 8 | m->msg[1]) != s->only_type))
        s->bad_type = true;
}

static void on_file(void *ctx, const ph_lninput *in, size_t file)
{
    struct seen *s = ctx;
    const struct ph_lninput_file *f = ph_lninput_file(in, file);
    if (file < 8) {
        s->file_sessions[file] = f->nsessions;
        if (f->nsessions)
            s->file_msgs_r2i[file] = ph_lninput_session(in, f->first_session)->ln.messages[1];
    }
    s->files_announced = file + 1;
}

static ph_lninput *make(struct seen *s, const char *keylog, const uint8_t *types, bool first)
{
    memset(s, 0, sizeof *s);
    struct ph_lninput_opts o = {
        .keylog = keylog,
        .types = types,
        .on_msg = on_msg,
        .on_file = on_file,
        .ctx = s,
        .stats_first = first,
        .keep = true,
    };
    ph_lninput *in;
    assert_int_equal(ph_lninput_create(&in, &o), PH_OK);
    s->in = in;
    return in;
}

static size_t count_kind(const ph_lninput *in, enum ph_lninput_problem_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < ph_lninput_problem_count(in); i++)
        n += ph_lninput_problem(in, i)->kind == k;
    return n;
}

static char tmpdir[64];

static void tmp_path(char *out, size_t cap, const char *name)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test_lninput.XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
    }
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = read_all(from, &n);
    write_file(to, b, n);
    free(b);
}

/* ---- captures ---- */

static void test_flood_sessions_and_default_side(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_int_equal(ph_lninput_file_count(in), 1);
    const struct ph_lninput_file *f = ph_lninput_file(in, 0);
    assert_true(f->usable);
    assert_int_equal(f->kind, PH_LNINPUT_CAPTURE);
    assert_string_equal(f->keylog, FLOOD ".keys");
    assert_int_equal(ph_lninput_session_count(in), 1);
    assert_int_equal(ph_lninput_problem_count(in), 0);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_NOTE);
    const struct ph_lninput_session *se = ph_lninput_session(in, 0);
    assert_int_equal(se->id, 1);
    assert_true(se->has_endpoints);
    /* captures/README.md: 11 from the initiator, 28,820 from the responder */
    assert_int_equal(se->ln.messages[PH_LN_I2R], 11);
    assert_int_equal(se->ln.messages[PH_LN_R2I], 28820);
    assert_int_equal(se->ln.bytes[PH_LN_I2R], s.bytes_session_dir[1][PH_LN_I2R]);
    assert_int_equal(se->ln.bytes[PH_LN_R2I], s.bytes_session_dir[1][PH_LN_R2I]);
    assert_int_equal(se->kept_messages[PH_LN_R2I], 28820);
    assert_int_equal(ph_lninput_messages(in), 28831);
    assert_int_equal(s.messages, 28831);
    assert_false(s.ts_backwards);

    ph_replay_input *ri;
    assert_int_equal(ph_lninput_replay_input(in, NULL, &ri), PH_OK);
    se = ph_lninput_session(in, 0);
    assert_int_equal(se->node_dir, PH_LN_R2I);
    assert_int_equal(se->side, PH_LNINPUT_SIDE_MORE_BYTES);
    assert_int_equal(se->replay_session, 0);
    assert_int_equal(ph_replay_input_count(ri), 28820);
    assert_int_equal(ph_replay_input_sessions(ri), 1);
    assert_int_equal(ph_replay_input_bytes(ri), se->ln.bytes[PH_LN_R2I]);
    for (size_t i = 0; i < ph_replay_input_count(ri); i++)
        assert_int_equal(ph_replay_input_at(ri, i)->dir, PH_LN_R2I);
    const ph_replay_session *info = ph_replay_input_session(ri, 0);
    assert_non_null(info);
    assert_true(ph_endpoint_equal(&info->node, &se->ln.responder));
    assert_true(ph_endpoint_equal(&info->peer, &se->ln.initiator));
    assert_int_equal(info->node_dir, PH_LN_R2I);
    assert_int_equal(info->input_id, 1);
    ph_replay_input_destroy(ri);
    ph_lninput_destroy(in);
}

/* Eight sessions: the side chosen in each is the one whose bytes, counted
 * here from the messages handed out, are the larger. */
static void test_chatty_larger_sender_each(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, CHATTY), PH_OK);
    assert_int_equal(ph_lninput_session_count(in), 8);
    ph_replay_input *ri;
    assert_int_equal(ph_lninput_replay_input(in, NULL, &ri), PH_OK);
    uint64_t want = 0;
    for (size_t i = 0; i < 8; i++) {
        const struct ph_lninput_session *se = ph_lninput_session(in, i);
        assert_int_equal(se->id, i + 1);
        uint64_t a = s.bytes_session_dir[se->id][0], b = s.bytes_session_dir[se->id][1];
        assert_true(a != b);
        int larger = a > b ? 0 : 1;
        assert_int_equal(se->node_dir, larger);
        assert_int_equal(se->side, PH_LNINPUT_SIDE_MORE_BYTES);
        want += s.by_session_dir[se->id][larger];
        const ph_replay_session *info =
            ph_replay_input_session(ri, (uint32_t)se->replay_session);
        assert_non_null(info);
        char node[PH_ENDPOINT_STRLEN];
        ph_endpoint_format(&info->node, node);
        assert_string_equal(node, s.src[se->id][larger]);
        assert_int_equal(info->input_id, se->id);
    }
    assert_int_equal(ph_replay_input_count(ri), want);
    assert_int_equal(ph_replay_input_sessions(ri), 8);
    ph_replay_input_destroy(ri);
    ph_lninput_destroy(in);
}

static void test_from_overrides(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, CHATTY), PH_OK);
    /* the initiator of session 3: only that session, only its 2 messages */
    const struct ph_lninput_session *s3 = ph_lninput_session(in, 2);
    struct ph_endpoint from = s3->ln.initiator;
    ph_replay_input *ri;
    assert_int_equal(ph_lninput_replay_input(in, &from, &ri), PH_OK);
    assert_int_equal(ph_replay_input_sessions(ri), 1);
    assert_int_equal(ph_replay_input_count(ri), s.by_session_dir[3][PH_LN_I2R]);
    assert_int_equal(ph_replay_input_at(ri, 0)->dir, PH_LN_I2R);
    for (size_t i = 0; i < 8; i++) {
        const struct ph_lninput_session *se = ph_lninput_session(in, i);
        if (i == 2) {
            assert_int_equal(se->side, PH_LNINPUT_SIDE_FROM);
            assert_int_equal(se->node_dir, PH_LN_I2R);
            assert_int_equal(se->replay_session, 0);
        } else {
            assert_int_equal(se->side, PH_LNINPUT_SIDE_NOT_FROM);
            assert_int_equal(se->node_dir, -1);
            assert_int_equal(se->replay_session, -1);
        }
    }
    assert_int_equal(ph_replay_input_session(ri, 0)->input_id, 3);
    ph_replay_input_destroy(ri);
    /* the node every peer connected to: all eight, its side */
    from = s3->ln.responder;
    assert_int_equal(ph_lninput_replay_input(in, &from, &ri), PH_OK);
    assert_int_equal(ph_replay_input_sessions(ri), 8);
    for (size_t i = 0; i < ph_replay_input_count(ri); i++)
        assert_int_equal(ph_replay_input_at(ri, i)->dir, PH_LN_R2I);
    ph_replay_input_destroy(ri);
    ph_lninput_destroy(in);
}

static void test_types_filter(void **state)
{
    (void)state;
    uint8_t *types = calloc(65536, 1);
    assert_non_null(types);
    types[258] = 1;
    struct seen s;
    ph_lninput *in = make(&s, NULL, types, false);
    free(types); /* copied */
    s.only_type = 258;
    assert_int_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_false(s.bad_type);
    /* 26,531 channel_updates (captures/README.md), all from the responder */
    assert_int_equal(s.messages, 26531);
    assert_int_equal(ph_lninput_messages(in), 26531);
    const struct ph_lninput_session *se = ph_lninput_session(in, 0);
    assert_int_equal(se->kept_messages[PH_LN_R2I], 26531);
    assert_int_equal(se->kept_messages[PH_LN_I2R], 0);
    assert_int_equal(se->ln.messages[PH_LN_R2I], 28820); /* stats: every message */
    ph_replay_input *ri;
    assert_int_equal(ph_lninput_replay_input(in, NULL, &ri), PH_OK);
    /* the side is chosen on every byte, not only the filtered ones */
    assert_int_equal(ph_lninput_session(in, 0)->side, PH_LNINPUT_SIDE_MORE_BYTES);
    assert_int_equal(ph_replay_input_count(ri), 26531);
    for (size_t i = 0; i < ph_replay_input_count(ri); i++)
        assert_int_equal(ph_replay_input_at(ri, i)->type, 258);
    ph_replay_input_destroy(ri);
    ph_lninput_destroy(in);
}

/* stats_first: each file's sessions are complete when it is announced,
 * before its first message; numbering runs on across files. */
static void test_stats_first_and_numbering(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, true);
    assert_int_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_int_equal(ph_lninput_read(in, SAMPLE), PH_OK);
    assert_int_equal(ph_lninput_read(in, CHATTY), PH_OK);
    assert_false(s.msg_before_file);
    assert_int_equal(s.files_announced, 3);
    assert_int_equal(s.file_sessions[0], 1);
    assert_int_equal(s.file_msgs_r2i[0], 28820);
    assert_int_equal(s.file_sessions[1], 1);
    assert_int_equal(s.file_sessions[2], 8);
    assert_int_equal(s.file_msgs_r2i[2], 5002);
    assert_int_equal(ph_lninput_session_count(in), 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(ph_lninput_session(in, i)->id, i + 1);
    assert_int_equal(ph_lninput_file(in, 2)->first_session, 2);
    assert_int_equal(s.by_session_dir[2][0], 28809); /* the .lnmsgs is session 2 */
    assert_int_equal(s.by_session_dir[3][1], 5002);  /* chatty's first is session 3 */
    /* counted once: the survey pass hands nothing out */
    assert_int_equal(s.messages, 28831 + 28809 + 40032);
    assert_int_equal(ph_lninput_session(in, 0)->kept_messages[1], 28820);
    ph_lninput_destroy(in);
}

static void test_truncated_capture(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, "captures/damaged-truncated.pcap"), PH_OK);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_PARTIAL);
    assert_int_equal(s.messages, 79); /* captures/README.md */
    bool found = false;
    for (size_t i = 0; i < ph_lninput_problem_count(in); i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(in, i);
        if (p->kind == PH_LNINPUT_PROB_SESSION && p->ln.kind == PH_LN_PROB_CAPTURE) {
            found = true;
            assert_int_equal(p->severity, PH_LNINPUT_PARTIAL);
            assert_string_equal(p->path, "captures/damaged-truncated.pcap");
            assert_non_null(strstr(p->ln.text, "capture truncated after record"));
        }
    }
    assert_true(found);
    ph_lninput_destroy(in);
}

static void test_wrong_keylog(void **state)
{
    (void)state;
    struct seen s;
    /* right MACs, wrong keys: a bad MAC in each direction, nothing decrypted */
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, "captures/damaged-wrongkey.pcap"), PH_OK);
    assert_int_equal(count_kind(in, PH_LNINPUT_PROB_SESSION), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(in, i);
        assert_int_equal(p->ln.kind, PH_LN_PROB_BAD_MAC);
        assert_int_equal(p->session, 1);
    }
    assert_int_equal(s.messages, 0);
    ph_replay_input *ri;
    assert_int_equal(ph_lninput_replay_input(in, NULL, &ri), PH_OK);
    assert_int_equal(ph_replay_input_count(ri), 0);
    assert_int_equal(ph_lninput_session(in, 0)->side, PH_LNINPUT_SIDE_EMPTY);
    assert_int_equal(ph_lninput_session(in, 0)->node_dir, -1);
    ph_replay_input_destroy(ri);
    ph_lninput_destroy(in);

    /* another capture's key log for every capture: no key in either direction */
    in = make(&s, "captures/damaged-wrongkey.pcap.keys", NULL, false);
    assert_int_equal(ph_lninput_problem_count(in), 0);
    assert_int_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_string_equal(ph_lninput_file(in, 0)->keylog, "captures/damaged-wrongkey.pcap.keys");
    assert_int_equal(ph_lninput_problem_count(in), 2);
    assert_int_equal(ph_lninput_problem(in, 0)->ln.kind, PH_LN_PROB_NO_KEY);
    assert_int_equal(ph_lninput_problem(in, 1)->ln.kind, PH_LN_PROB_NO_KEY);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_PARTIAL);
    assert_int_equal(s.messages, 0);
    ph_lninput_destroy(in);
}

/* Unusable files: one problem each, nothing handed out, no session number
 * used; the next good file reads as if they were not there. */
static void test_unusable_files(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, true);
    assert_int_equal(ph_lninput_read(in, "captures/nope.pcap"), PH_ERR_IO);
    const struct ph_lninput_problem *p = ph_lninput_problem(in, 0);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_OPEN);
    assert_int_equal(p->severity, PH_LNINPUT_UNUSABLE);
    assert_int_equal(p->sys_errno, ENOENT);
    assert_int_equal(p->file, 0);
    assert_string_equal(p->path, "captures/nope.pcap");

    assert_int_equal(ph_lninput_read(in, "captures"), PH_ERR_IO);
    assert_int_equal(ph_lninput_problem(in, 1)->sys_errno, EISDIR);

    /* not a capture: said as such, and nothing about its key log first */
    assert_int_equal(ph_lninput_read(in, "captures/README.md"), PH_ERR_CAPTURE_OPEN);
    p = ph_lninput_problem(in, 2);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_CAPTURE_OPEN);
    assert_int_equal(p->err, PH_ERR_CAPTURE_OPEN);
    assert_true(p->detail[0] != '\0');
    assert_int_equal(ph_lninput_problem_count(in), 3);

    assert_int_equal(ph_lninput_read(in, "captures/nope.lnmsgs"), PH_ERR_IO);
    assert_int_equal(ph_lninput_problem(in, 3)->sys_errno, ENOENT);

    for (size_t i = 0; i < 4; i++)
        assert_false(ph_lninput_file(in, i)->usable);
    assert_int_equal(ph_lninput_session_count(in), 0);
    assert_int_equal(s.files_announced, 0);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_UNUSABLE);

    assert_int_equal(ph_lninput_read(in, "captures/damaged-gap.pcap"), PH_OK);
    assert_int_equal(ph_lninput_session_count(in), 1);
    assert_int_equal(ph_lninput_session(in, 0)->id, 1);
    assert_int_equal(ph_lninput_session(in, 0)->file, 4);
    ph_lninput_destroy(in);
}

static void test_keylog_problems(void **state)
{
    (void)state;
    struct seen s;
    char path[256], cap[256];

    /* the shared key log is missing: one problem, every capture unusable */
    ph_lninput *in = make(&s, "captures/nope.keys", NULL, false);
    assert_int_equal(ph_lninput_problem_count(in), 1);
    const struct ph_lninput_problem *p = ph_lninput_problem(in, 0);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_KEYLOG);
    assert_int_equal(p->file, PH_LNINPUT_NO_FILE);
    assert_int_equal(p->err, PH_ERR_IO);
    assert_int_equal(p->sys_errno, ENOENT);
    assert_string_equal(p->path, "captures/nope.keys");
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_UNUSABLE);
    assert_int_not_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_int_equal(ph_lninput_problem_count(in), 1);
    assert_int_equal(s.messages, 0);
    ph_lninput_destroy(in);

    /* A key log as found: a BOM, a log line, a key line with a timestamp
     * and an extra field, a partial last line. Every key is used, every
     * other line is a numbered note, and since every session decrypts the
     * worst is a note (exit 0). Before, the first such line made the key
     * log unusable (exit 2). */
    size_t n;
    uint8_t *keys = read_all(FLOOD ".keys", &n);
    size_t cap_len = n * 2 + 400;
    char *messy = malloc(cap_len);
    assert_non_null(messy);
    size_t m = 0;
    memcpy(messy, "\xef\xbb\xbf", 3);
    m = 3;
    m += (size_t)snprintf(messy + m, cap_len - m, "lnd starting up, key log follows\n");
    for (size_t off = 0; off + PH_KEYLOG_LINE_LEN <= n; off += PH_KEYLOG_LINE_LEN) {
        m += (size_t)snprintf(messy + m, cap_len - m, "2026-11-25T07:24:17Z ");
        memcpy(messy + m, keys + off, PH_KEYLOG_LINE_LEN - 1);
        m += PH_KEYLOG_LINE_LEN - 1;
        m += (size_t)snprintf(messy + m, cap_len - m, " extra\n");
    }
    m += (size_t)snprintf(messy + m, cap_len - m, "0011223344556677");
    tmp_path(path, sizeof path, "messy.keys");
    write_file(path, messy, m);
    in = make(&s, path, NULL, false);
    assert_int_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_int_equal(s.messages, 28831);
    assert_int_equal(count_kind(in, PH_LNINPUT_PROB_KEYLOG_LINE), 2);
    p = ph_lninput_problem(in, 0);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_KEYLOG_LINE);
    assert_int_equal(p->severity, PH_LNINPUT_NOTE);
    assert_int_equal(p->line, 1);
    assert_int_equal(p->warning, PH_KEYLOG_WARN_NO_KEY);
    assert_int_equal(p->file, PH_LNINPUT_NO_FILE);
    p = ph_lninput_problem(in, 1);
    assert_int_equal(p->line, 1 + n / PH_KEYLOG_LINE_LEN + 1);
    assert_int_equal(p->warning, PH_KEYLOG_WARN_PARTIAL);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_NOTE);
    ph_lninput_destroy(in);
    free(messy);

    /* a damaged third line (and its twin: both ends logged each key): a
     * note, and the session says what that key would have decrypted
     * (decryption resumes at the next key) */
    char mac3[33];
    memcpy(mac3, keys + 2 * PH_KEYLOG_LINE_LEN, 32);
    mac3[32] = 0;
    for (size_t off = 0; off + PH_KEYLOG_LINE_LEN <= n; off += PH_KEYLOG_LINE_LEN)
        if (memcmp(keys + off, mac3, 32) == 0)
            keys[off + 7] = 'x';
    tmp_path(path, sizeof path, "bad.keys");
    write_file(path, keys, n);
    in = make(&s, path, NULL, false);
    assert_int_equal(count_kind(in, PH_LNINPUT_PROB_KEYLOG_LINE), 2);
    bool line3 = false;
    for (size_t i = 0; i < ph_lninput_problem_count(in); i++) {
        p = ph_lninput_problem(in, i);
        assert_int_equal(p->kind, PH_LNINPUT_PROB_KEYLOG_LINE);
        assert_int_equal(p->warning, PH_KEYLOG_WARN_MALFORMED);
        line3 |= p->line == 3;
    }
    assert_true(line3);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_NOTE);
    assert_int_equal(ph_lninput_read(in, FLOOD), PH_OK);
    assert_true(s.messages > 28000 && s.messages < 28831);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_PARTIAL);
    ph_lninput_destroy(in);

    /* the same beside a capture (the default key log): notes name it */
    tmp_path(cap, sizeof cap, "flood.pcap");
    copy_file(FLOOD, cap);
    tmp_path(path, sizeof path, "flood.pcap.keys");
    write_file(path, keys, n);
    in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, cap), PH_OK);
    p = ph_lninput_problem(in, 0);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_KEYLOG_LINE);
    assert_int_equal(p->severity, PH_LNINPUT_NOTE);
    assert_int_equal(p->file, 0);
    assert_string_equal(p->path, path);
    assert_true(ph_lninput_file(in, 0)->usable);
    ph_lninput_destroy(in);
    unlink(path);

    /* no key log beside it: the fallback (LIGHTNINGKEYLOGFILE) is used */
    struct ph_lninput_opts fo = {.keylog_fallback = FLOOD ".keys"};
    assert_int_equal(ph_lninput_create(&in, &fo), PH_OK);
    assert_int_equal(ph_lninput_read(in, cap), PH_OK);
    assert_string_equal(ph_lninput_file(in, 0)->keylog, FLOOD ".keys");
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_NOTE);
    assert_int_equal(ph_lninput_problem_count(in), 0);
    ph_lninput_destroy(in);
    free(keys);

    /* none at all: a note naming both names tried, then no key for either
     * direction */
    in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, cap), PH_OK);
    p = ph_lninput_problem(in, 0);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_NO_KEYLOG);
    assert_int_equal(p->severity, PH_LNINPUT_NOTE);
    char both[600];
    snprintf(both, sizeof both, "%s.keys or %.*s.keys", cap, (int)(strlen(cap) - 5), cap);
    assert_string_equal(p->detail, both);
    assert_int_equal(p->count, 0);
    assert_null(ph_lninput_file(in, 0)->keylog);
    assert_int_equal(count_kind(in, PH_LNINPUT_PROB_SESSION), 2);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_PARTIAL);
    ph_lninput_destroy(in);
    unlink(cap);
}

static void test_not_lightning(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, "captures/damaged-http.pcap"), PH_OK);
    assert_int_equal(ph_lninput_session_count(in), 0);
    assert_int_equal(count_kind(in, PH_LNINPUT_PROB_NO_SESSION), 1);
    for (size_t i = 0; i < ph_lninput_problem_count(in); i++) {
        const struct ph_lninput_problem *p = ph_lninput_problem(in, i);
        if (p->kind == PH_LNINPUT_PROB_NO_SESSION)
            assert_int_equal(p->count, 1); /* one TCP connection */
    }
    assert_int_equal(ph_lninput_file(in, 0)->connections, 1);
    assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_PARTIAL);
    ph_lninput_destroy(in);
}

/* ---- .lnmsgs ---- */

static void test_lnmsgs_good(void **state)
{
    (void)state;
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, true);
    assert_int_equal(ph_lninput_read(in, SAMPLE), PH_OK);
    assert_int_equal(ph_lninput_problem_count(in), 0);
    const struct ph_lninput_file *f = ph_lninput_file(in, 0);
    assert_int_equal(f->kind, PH_LNINPUT_LNMSGS);
    assert_int_equal(f->nsessions, 1);
    const struct ph_lninput_session *se = ph_lninput_session(in, 0);
    assert_false(se->has_endpoints);
    assert_int_equal(se->ln.messages[0], 28809);
    assert_int_equal(se->ln.bytes[0], 4822263 - 2 * 28809); /* file size - headers */
    assert_int_equal(s.lnmsgs_seen, 28809);
    assert_false(s.offset_wrong);
    assert_false(s.untimed_with_src);
    assert_int_equal(s.last_offset, 4822263 - 140); /* the last record: 138 bytes */

    ph_replay_input *ri, *ref;
    assert_int_equal(ph_lninput_replay_input(in, NULL, &ri), PH_OK);
    assert_int_equal(ph_lninput_session(in, 0)->side, PH_LNINPUT_SIDE_ONLY);
    assert_int_equal(ph_replay_input_create(&ref), PH_OK);
    assert_int_equal(ph_replay_input_load_lnmsgs(ref, SAMPLE, 0, NULL), PH_OK);
    assert_int_equal(ph_replay_input_count(ri), ph_replay_input_count(ref));
    for (size_t i = 0; i < ph_replay_input_count(ri); i++) {
        const ph_replay_msg *a = ph_replay_input_at(ri, i), *b = ph_replay_input_at(ref, i);
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->bytes, b->bytes, a->len);
    }
    const ph_replay_session *info = ph_replay_input_session(ri, 0);
    assert_non_null(info);
    assert_int_equal(info->node.family, 0);
    assert_int_equal(info->peer.family, 0);
    ph_replay_input_destroy(ref);
    ph_replay_input_destroy(ri);
    ph_lninput_destroy(in);
}

static void check_malformed(const char *name, const void *data, size_t len, uint64_t offset)
{
    char path[256];
    tmp_path(path, sizeof path, name);
    write_file(path, data, len);
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, path), PH_ERR_PARSE);
    assert_int_equal(ph_lninput_problem_count(in), 1);
    const struct ph_lninput_problem *p = ph_lninput_problem(in, 0);
    assert_int_equal(p->kind, PH_LNINPUT_PROB_LNMSGS_RECORD);
    assert_int_equal(p->severity, PH_LNINPUT_UNUSABLE);
    assert_int_equal(p->offset, offset);
    assert_string_equal(p->path, path);
    /* nothing of it handed out, no session, its number not used */
    assert_int_equal(s.messages, 0);
    assert_int_equal(s.files_announced, 0);
    assert_int_equal(ph_lninput_session_count(in), 0);
    assert_int_equal(ph_lninput_read(in, SAMPLE), PH_OK);
    assert_int_equal(ph_lninput_session(in, 0)->id, 1);
    ph_lninput_destroy(in);
    unlink(path);
}

static void test_lnmsgs_malformed(void **state)
{
    (void)state;
    size_t n;
    uint8_t *sample = read_all(SAMPLE, &n);
    /* cut inside the 8th record (7 x 140 = 980) */
    check_malformed("cut.lnmsgs", sample, 1000, 980);
    /* a record shorter than a message type after one good record */
    uint8_t buf[140 + 3];
    memcpy(buf, sample, 140);
    buf[140] = 0;
    buf[141] = 1;
    buf[142] = 0x42;
    check_malformed("short.lnmsgs", buf, sizeof buf, 140);
    /* a lone byte: not even a length */
    check_malformed("odd.lnmsgs", sample, 1, 0);
    free(sample);

    /* an empty file is one session with no message */
    char path[256];
    tmp_path(path, sizeof path, "empty.lnmsgs");
    write_file(path, "", 0);
    struct seen s;
    ph_lninput *in = make(&s, NULL, NULL, false);
    assert_int_equal(ph_lninput_read(in, path), PH_OK);
    assert_int_equal(ph_lninput_session_count(in), 1);
    assert_int_equal(ph_lninput_session(in, 0)->ln.messages[0], 0);
    ph_lninput_destroy(in);
    unlink(path);
}

static void test_default_keylog(void **state)
{
    (void)state;
    char out[512], cap[256], keys[256];
    assert_true(ph_lninput_default_keylog(FLOOD, out, sizeof out));
    assert_string_equal(out, FLOOD ".keys");
    /* the extension replaced */
    tmp_path(cap, sizeof cap, "x.pcap");
    tmp_path(keys, sizeof keys, "x.keys");
    write_file(keys, "", 0);
    assert_true(ph_lninput_default_keylog(cap, out, sizeof out));
    assert_string_equal(out, keys);
    unlink(keys);
    assert_false(ph_lninput_default_keylog(cap, out, sizeof out));
    /* too small a buffer is not found, never cut */
    assert_false(ph_lninput_default_keylog(FLOOD, out, 8));
}

static int cleanup(void **state)
{
    (void)state;
    if (tmpdir[0])
        rmdir(tmpdir);
    return 0;
}

/* Writes `from` into the FIFO `fifo` from a child process; returns its pid. */
static pid_t feed_fifo(const char *fifo, const char *from)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *in = fopen(from, "rb"), *out = fopen(fifo, "wb");
        if (!in || !out)
            _exit(1);
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                _exit(1);
        _exit(fclose(out) == 0 ? 0 : 1);
    }
    return pid;
}

/* A FIFO (and so a pipe, or standard input) is read once, in every mode:
 * with the headers first (stats_first, what text dump does) the messages
 * wait in a temporary file. Before, the capture was opened twice: the
 * second open of a FIFO waited forever, a pipe gave "0 sessions". The
 * alarm turns a hang into a failure. */
static void test_fifo_single_pass(void **state)
{
    (void)state;
    char fifo[256], lfifo[256];
    tmp_path(fifo, sizeof fifo, "cap.fifo");
    tmp_path(lfifo, sizeof lfifo, "msgs.lnmsgs");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkfifo(lfifo, 0600), 0);
    for (int first = 0; first < 2; first++) {
        struct seen s;
        ph_lninput *in = make(&s, FLOOD ".keys", NULL, first);
        alarm(60);
        pid_t w1 = feed_fifo(fifo, FLOOD);
        assert_int_equal(ph_lninput_read(in, fifo), PH_OK);
        pid_t w2 = feed_fifo(lfifo, SAMPLE);
        assert_int_equal(ph_lninput_read(in, lfifo), PH_OK);
        int st1, st2;
        assert_int_equal(waitpid(w1, &st1, 0), w1);
        assert_int_equal(waitpid(w2, &st2, 0), w2);
        alarm(0);
        assert_true(WIFEXITED(st1) && WEXITSTATUS(st1) == 0);
        assert_true(WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
        assert_int_equal(s.messages, 28831 + 28809);
        assert_false(s.msg_before_file);
        if (first) {
            assert_int_equal(s.file_sessions[0], 1);
            assert_int_equal(s.file_msgs_r2i[0], 28820);
        }
        assert_int_equal(ph_lninput_worst(in), PH_LNINPUT_NOTE);
        ph_replay_input *ri;
        assert_int_equal(ph_lninput_replay_input(in, NULL, &ri), PH_OK);
        assert_int_equal(ph_replay_input_count(ri), 28820 + 28809);
        ph_replay_input_destroy(ri);
        ph_lninput_destroy(in);
    }
    unlink(fifo);
    unlink(lfifo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_sessions_and_default_side),
        cmocka_unit_test(test_chatty_larger_sender_each),
        cmocka_unit_test(test_from_overrides),
        cmocka_unit_test(test_types_filter),
        cmocka_unit_test(test_stats_first_and_numbering),
        cmocka_unit_test(test_truncated_capture),
        cmocka_unit_test(test_wrong_keylog),
        cmocka_unit_test(test_unusable_files),
        cmocka_unit_test(test_keylog_problems),
        cmocka_unit_test(test_fifo_single_pass),
        cmocka_unit_test(test_not_lightning),
        cmocka_unit_test(test_lnmsgs_good),
        cmocka_unit_test(test_lnmsgs_malformed),
        cmocka_unit_test(test_default_keylog),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
