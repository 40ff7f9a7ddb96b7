#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "ev.h"
#include "featurebits.h"
#include "gossip.h"
#include "gossip_preload.h"
#include "gossip_query.h"
#include "gossip_sig.h"
#include "hex.h"
#include "memstat.h"
#include "modelconn.h"
#include "node.h"
#include "noise.h"
#include "ph_test.h"
#include "outq.h"
#include "peer.h"
#include "wbuf.h"
#include "wire.h"
#include "wire_build.h"

#define SAMPLE "captures/mainnet-gossip.lnmsgs"
#define SAMPLE_MESSAGES 28809u

/* ---- time-bounded pumping (deadlines are generous: never a pass/fail
 * criterion, only a guard against hanging) ---- */

#define PUMP_UNTIL(ev, cond) PUMP_UNTIL_S(ev, cond, PH_TEST_DEADLINE_MS / 1000)
/* The same with a longer deadline, for thousands of handshakes on a busy
 * machine. */
#define PUMP_UNTIL_S(ev, cond, seconds)                                           \
    do {                                                                          \
        uint64_t deadline_ = ph_test_now_ms() + 1000u * (uint64_t)(seconds);      \
        while (!(cond)) {                                                         \
            ph_test_check_deadline(deadline_, #cond);                             \
            assert_int_equal(ph_ev_run_once((ev), 5), PH_OK);                     \
        }                                                                         \
    } while (0)

/* ---- a captured log ---- */

struct logbuf {
    char text[65536];
    size_t len;
};

/* Each line as "level: text". */
static void log_cb(void *ctx, ph_log_level level, const char *line)
{
    struct logbuf *lb = ctx;
    char full[1100];
    int w = snprintf(full, sizeof full, "%s: %s", ph_log_level_name(level), line);
    size_t n = w > 0 ? strlen(full) : 0;
    if (lb->len + n + 2 < sizeof lb->text) {
        memcpy(lb->text + lb->len, full, n);
        lb->len += n;
        lb->text[lb->len++] = '\n';
        lb->text[lb->len] = 0;
    }
}

/* Whether one line of the log has `level` and contains `text`. */
static bool log_has(const struct logbuf *lb, const char *level, const char *text)
{
    size_t ll = strlen(level);
    for (const char *line = lb->text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > ll + 1 && !strncmp(line, level, ll) && line[ll] == ':') {
            const char *hit = strstr(line, text);
            if (hit && hit < line + len)
                return true;
        }
        line += len + (end ? 1 : 0);
    }
    return false;
}

/* ---- one side: a ph_peer with a test host ---- */

struct side {
    uint8_t priv[32], pub[33];
    ph_peer_config cfg;
    ph_wbuf *w;
    ph_gossip_store *gossip;
    ph_peer_env env;
    ph_logger log;
    struct logbuf lb;
    ph_peer *p;
    int ready, closed;
    ph_err reason;
    char why[160];
    ph_peer_stats final; /* stats at close */
};

static void h_ready(void *ctx, ph_peer *p)
{
    (void)p;
    ((struct side *)ctx)->ready++;
}

static void h_closed(void *ctx, ph_peer *p, ph_err reason, const char *why)
{
    struct side *s = ctx;
    s->closed++;
    s->reason = reason;
    snprintf(s->why, sizeof s->why, "%s", why);
    ph_peer_get_stats(p, &s->final);
    ph_peer_destroy(p);
    s->p = NULL;
}

static void key_of(uint8_t priv[32], uint8_t pub[33], uint8_t seed)
{
    memset(priv, 0, 32);
    priv[31] = seed;
    priv[0] = 0x42;
    assert_int_equal(ph_noise_pubkey(priv, pub), PH_OK);
}

static void side_init(struct side *s, ph_ev *ev, uint8_t seed, const char *strategy)
{
    memset(s, 0, sizeof *s);
    key_of(s->priv, s->pub, seed);
    ph_peer_config_default(&s->cfg);
    s->cfg.filter = PH_PEER_FILTER_NONE;
    assert_int_equal(ph_wbuf_create(&s->w, strategy ? strategy : "exact", NULL), PH_OK);
    s->log = (ph_logger){ .fn = log_cb, .ctx = &s->lb, .level = PH_LOG_DEBUG };
    s->env = (ph_peer_env){
        .ev = ev, .cfg = &s->cfg, .local_priv = s->priv, .wbuf = s->w, .log = &s->log,
        .host = { .ctx = s, .on_ready = h_ready, .on_closed = h_closed },
    };
}

static void side_gossip(struct side *s, const char *preload)
{
    ph_gossip_config gc;
    ph_gossip_config_default(&gc);
    assert_int_equal(ph_gossip_store_create(&gc, &s->gossip), PH_OK);
    if (preload)
        assert_int_equal(ph_gossip_preload_file(s->gossip, preload, NULL), PH_OK);
    s->env.gossip = s->gossip;
}

static void side_free(struct side *s)
{
    ph_peer_destroy(s->p);
    s->p = NULL;
    ph_gossip_store_destroy(s->gossip);
    ph_wbuf_destroy(s->w);
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* a = responder on sv[0], b = initiator on sv[1] */
static void connect_pair(struct side *a, struct side *b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    assert_int_equal(ph_peer_create_inbound(&a->p, &a->env, sv[0], 1), PH_OK);
    assert_int_equal(ph_peer_create_outbound(&b->p, &b->env, sv[1], 2, a->pub), PH_OK);
}

/* ---- a raw BOLT 8 counterparty driven by the test itself ---- */

struct raw {
    ph_ev *ev;
    int fd;
    ph_noise *n;
    uint8_t *rbuf;
    size_t roff, rlen;
    uint8_t *msg;   /* last received message (owned) */
    size_t msg_len;
};

#define RAW_RBUF (256u * 1024u)

static void raw_write_all(struct raw *r, const uint8_t *b, size_t len)
{
    uint64_t deadline = ph_test_deadline();
    while (len) {
        ssize_t n = send(r->fd, b, len, MSG_NOSIGNAL);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EINTR));
        ph_test_check_deadline(deadline, "the peer to take our bytes (raw_write_all)");
        assert_int_equal(ph_ev_run_once(r->ev, 1), PH_OK);
    }
}

/* Read more bytes into rbuf; false on EOF / reset. Runs the loop while
 * waiting. */
static bool raw_fill(struct raw *r)
{
    uint64_t deadline = ph_test_deadline();
    if (r->roff == r->rlen)
        r->roff = r->rlen = 0;
    for (;;) {
        ssize_t n = recv(r->fd, r->rbuf + r->rlen, RAW_RBUF - r->rlen, 0);
        if (n > 0) {
            r->rlen += (size_t)n;
            return true;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        ph_test_check_deadline(deadline, "bytes from the peer (raw_fill)");
        assert_int_equal(ph_ev_run_once(r->ev, 1), PH_OK);
    }
}

static void raw_read_exact(struct raw *r, uint8_t *out, size_t len)
{
    while (r->rlen - r->roff < len)
        assert_true(raw_fill(r));
    memcpy(out, r->rbuf + r->roff, len);
    r->roff += len;
}

static void raw_open(struct raw *r, ph_ev *ev, int fd)
{
    memset(r, 0, sizeof *r);
    r->ev = ev;
    r->fd = fd;
    nonblock(fd);
    r->rbuf = malloc(RAW_RBUF);
    assert_non_null(r->rbuf);
}

static void raw_close(struct raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    ph_noise_destroy(r->n);
    free(r->rbuf);
    free(r->msg);
}

static void raw_handshake(struct raw *r, uint8_t seed, const uint8_t remote_pub[33])
{
    uint8_t priv[32], pub[33], act[66];
    key_of(priv, pub, seed);
    ph_noise_hs *hs = NULL;
    assert_int_equal(ph_noise_hs_create(&hs, priv, remote_pub, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_OK);
    raw_write_all(r, act, 50);
    raw_read_exact(r, act, 50);
    assert_int_equal(ph_noise_act2_read(hs, act, 50), PH_OK);
    assert_int_equal(ph_noise_act3_write(hs, act), PH_OK);
    raw_write_all(r, act, 66);
    assert_int_equal(ph_noise_hs_finish(hs, &r->n), PH_OK);
    ph_noise_hs_destroy(hs);
}

static void raw_send(struct raw *r, const uint8_t *msg, size_t len)
{
    uint8_t *f = malloc(len + PH_NOISE_OVERHEAD);
    assert_int_equal(ph_noise_encrypt(r->n, msg, len, f), PH_OK);
    raw_write_all(r, f, len + PH_NOISE_OVERHEAD);
    free(f);
}

static void raw_send_wire(struct raw *r, ph_wire_msg *m)
{
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(ph_wire_encode_alloc(m, &b, &len), PH_OK);
    raw_send(r, b, len);
    free(b);
    ph_wire_msg_free(m);
}

/* Next message into r->msg; false on EOF. */
static bool raw_recv(struct raw *r)
{
    for (;;) {
        if (r->roff < r->rlen) {
            size_t used = 0, mlen = 0, need = 0;
            const uint8_t *m = NULL;
            assert_int_equal(ph_noise_decrypt_feed(r->n, r->rbuf + r->roff, r->rlen - r->roff,
                                                   &used, &m, &mlen, &need), PH_OK);
            r->roff += used;
            if (m) {
                free(r->msg);
                r->msg = malloc(mlen ? mlen : 1);
                memcpy(r->msg, m, mlen);
                r->msg_len = mlen;
                return true;
            }
        }
        if (!raw_fill(r))
            return false;
    }
}

static uint16_t raw_type(const struct raw *r)
{
    return ph_be16(r->msg);
}

/* A connected loopback TCP pair: sv[0] accepted, sv[1] connecting. Unlike
 * a socketpair, closing one end with SO_LINGER 0 resets the other. */
static void tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    sv[1] = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sv[1] >= 0);
    assert_int_equal(connect(sv[1], (struct sockaddr *)&sa, sizeof sa), 0);
    sv[0] = accept(l, NULL, NULL);
    assert_true(sv[0] >= 0);
    close(l);
}

/* Close with a TCP reset (RST) instead of a FIN. */
static void reset_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
}

/* Handshake + init exchange against a ph_peer (inbound side `a`), over a
 * socketpair or loopback TCP. */
static void raw_connect_over(struct raw *r, struct side *a, ph_ev *ev, uint8_t seed, bool tcp)
{
    int sv[2];
    if (tcp)
        tcp_pair(sv);
    else
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    assert_int_equal(ph_peer_create_inbound(&a->p, &a->env, sv[0], 1), PH_OK);
    raw_open(r, ev, sv[1]);
    raw_handshake(r, seed, a->pub);
    uint8_t fv[1] = { 0x80 }; /* gossip_queries optional */
    ph_wire_msg *init = NULL;
    assert_int_equal(ph_wire_init_new(&init, fv, 1, (const uint8_t(*)[32])a->cfg.chain_hash, 1),
                     PH_OK);
    raw_send_wire(r, init);
    assert_true(raw_recv(r));
    assert_int_equal(raw_type(r), PH_WIRE_INIT);
    PUMP_UNTIL(ev, a->ready == 1);
}

static void raw_connect(struct raw *r, struct side *a, ph_ev *ev, uint8_t seed)
{
    raw_connect_over(r, a, ev, seed, false);
}

static ph_ev *mkev(void)
{
    ph_ev *ev = NULL;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    return ev;
}

static void need_nofile(size_t want);

/* ---- tests ---- */

static void test_handshake_init_close(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a, b;
    side_init(&a, ev, 1, "exact");
    side_init(&b, ev, 2, "reuse");
    connect_pair(&a, &b);
    /* Before the handshake completes a peer holds no read buffer and no
     * write queue: only its struct and the handshake state. */
    assert_true(ph_peer_heap_bytes(a.p) < 1024);
    assert_int_equal(ph_peer_get_state(a.p), PH_PEER_HANDSHAKE);
    PUMP_UNTIL(ev, a.ready && b.ready);
    assert_int_equal(ph_peer_get_state(a.p), PH_PEER_OPEN);
    uint8_t id[33];
    assert_true(ph_peer_remote_id(a.p, id));
    assert_memory_equal(id, b.pub, 33);
    assert_true(ph_peer_remote_id(b.p, id));
    assert_memory_equal(id, a.pub, 33);
    size_t flen = 0;
    const uint8_t *fv = ph_peer_features(a.p, &flen);
    assert_non_null(fv);
    assert_true(ph_feature_test(fv, flen, 7));   /* gossip_queries, optional */
    assert_false(ph_feature_test(fv, flen, 6));
    assert_true(ph_feature_test(fv, flen, 9));   /* var_onion_optin: ASSUMED */
    unsigned bit;
    assert_false(ph_feature_unknown_even(fv, flen, NULL, 0, &bit));
    assert_non_null(strstr(a.lb.text, "init: features [option_data_loss_protect?"));

    ph_peer_close(b.p, NULL);
    PUMP_UNTIL(ev, a.closed && b.closed);
    assert_int_equal(b.reason, PH_OK);
    assert_int_equal(a.reason, PH_ERR_PEER_CLOSED);
    assert_int_equal(a.final.in[PH_MSGTYPE_INIT].msgs, 1);
    assert_int_equal(a.final.out.out[PH_MSGTYPE_INIT].msgs, 1);
    side_free(&a);
    side_free(&b);
    ph_ev_destroy(ev);
}

static void test_ping_pong(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a, b;
    side_init(&a, ev, 1, "pool");
    side_init(&b, ev, 2, "tiered");
    b.cfg.ping_interval_ns = 5000000; /* 5 ms */
    connect_pair(&a, &b);
    ph_peer_stats sa, sb;
    uint64_t deadline = ph_test_deadline();
    do {
        ph_test_check_deadline(deadline, "3 pings answered by a and 3 pongs received by b");
        assert_int_equal(ph_ev_run_once(ev, 5), PH_OK);
        assert_int_equal(a.closed + b.closed, 0);
        ph_peer_get_stats(a.p, &sa);
        ph_peer_get_stats(b.p, &sb);
    } while (sa.pings_answered < 3 || sb.in[PH_MSGTYPE_PONG].msgs < 3);
    assert_int_equal(sb.pongs_unsolicited, 0);
    side_free(&a);
    side_free(&b);
    ph_ev_destroy(ev);
}

static void test_pong_timeout(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    a.cfg.ping_interval_ns = 1000000;
    a.cfg.pong_timeout_ns = 20000000;
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    /* The raw side never answers. */
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_TIMEOUT);
    assert_non_null(strstr(a.why, "pong"));
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

static void test_unknown_messages(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "fresh");
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    /* Unknown odd: ignored, also at the largest size. */
    uint8_t *big = calloc(1, 65535);
    big[0] = 0x80;
    big[1] = 0x01;
    raw_send(&r, big, 3);
    raw_send(&r, big, 65535);
    /* A known message with an extension is fine too: ping with trailing bytes. */
    uint8_t ping[10] = { 0, 18, 0, 2, 0, 0, 9, 9, 9, 9 };
    raw_send(&r, ping, sizeof ping);
    assert_true(raw_recv(&r));
    assert_int_equal(raw_type(&r), PH_WIRE_PONG);
    assert_int_equal(r.msg_len, 4 + 2);
    ph_peer_stats st;
    ph_peer_get_stats(a.p, &st);
    assert_int_equal(st.unknown_odd, 2);
    assert_int_equal(a.closed, 0);
    /* Our largest message goes out too: a pong of 65,531 bytes. */
    uint8_t bigping[6] = { 0, 18, 0xff, 0xfb, 0, 0 };
    raw_send(&r, bigping, sizeof bigping);
    assert_true(raw_recv(&r));
    assert_int_equal(raw_type(&r), PH_WIRE_PONG);
    assert_int_equal(r.msg_len, 65535);
    /* Unknown even: a warning, then the connection closes. */
    big[1] = 0x00;
    raw_send(&r, big, 40);
    assert_true(raw_recv(&r));
    assert_int_equal(raw_type(&r), PH_WIRE_WARNING);
    assert_false(raw_recv(&r));
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_PEER_PROTOCOL);
    assert_non_null(strstr(a.why, "unknown even message type 32768"));
    free(big);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

static void test_warning_and_error_received(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    ph_wire_msg *m = NULL;
    assert_int_equal(ph_wire_warning_new(&m, NULL, "careful now"), PH_OK);
    raw_send_wire(&r, m);
    assert_int_equal(ph_wire_error_new(&m, NULL, "goodbye\x01"), PH_OK);
    raw_send_wire(&r, m);
    assert_false(raw_recv(&r));
    PUMP_UNTIL(ev, a.closed);
    assert_non_null(strstr(a.lb.text, "careful now"));
    assert_non_null(strstr(a.lb.text, "goodbye"));
    assert_null(strchr(a.lb.text, '\x01')); /* untrusted text is escaped */
    assert_int_equal(a.reason, PH_ERR_PEER_PROTOCOL);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

static void send_init_with(struct raw *r, const uint8_t *fv, size_t flen,
                           const uint8_t *chain)
{
    ph_wire_msg *init = NULL;
    assert_int_equal(ph_wire_init_new(&init, fv, flen, (const uint8_t(*)[32])chain,
                                      chain ? 1 : 0), PH_OK);
    raw_send_wire(r, init);
}

static void test_init_incompatible(void **state)
{
    (void)state;
    for (int k = 0; k < 3; k++) {
        ph_ev *ev = mkev();
        struct side a;
        side_init(&a, ev, 1, "exact");
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        nonblock(sv[0]);
        assert_int_equal(ph_peer_create_inbound(&a.p, &a.env, sv[0], 1), PH_OK);
        struct raw r;
        raw_open(&r, ev, sv[1]);
        raw_handshake(&r, 7, a.pub);
        uint8_t testnet[32];
        assert_int_equal(ph_gossip_chain_hash("testnet", testnet), PH_OK);
        uint8_t fv[13] = { 0 };
        if (k == 0) {
            send_init_with(&r, fv, 1, testnet);   /* no common chain */
        } else if (k == 1) {
            fv[0] = 0x10;                        /* bit 100: unknown, required */
            send_init_with(&r, fv, 13, NULL);
        } else {
            uint8_t ping[6] = { 0, 18, 0, 1, 0, 0 };
            raw_send(&r, ping, 6);               /* not init first */
        }
        assert_true(raw_recv(&r));
        assert_int_equal(raw_type(&r), PH_WIRE_INIT); /* ours, sent at once */
        assert_true(raw_recv(&r));
        assert_int_equal(raw_type(&r), PH_WIRE_WARNING);
        assert_false(raw_recv(&r));
        PUMP_UNTIL(ev, a.closed);
        assert_int_equal(a.ready, 0);
        assert_int_equal(a.reason, k == 2 ? PH_ERR_PEER_PROTOCOL : PH_ERR_PEER_INCOMPATIBLE);
        if (k == 1)
            assert_non_null(strstr(a.why, "bit 100"));
        raw_close(&r);
        side_free(&a);
        ph_ev_destroy(ev);
    }
}

static void ping_burst(int pings, double burst, double rate, int expect_pongs)
{
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    if (burst >= 0) {
        a.cfg.ping_burst = burst;
        a.cfg.ping_rate = rate;
    }
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    size_t one = 6 + PH_NOISE_OVERHEAD;
    uint8_t *frames = malloc((size_t)(pings + 1) * one);
    uint8_t ping[6] = { 0, 18, 0, 4, 0, 0 };
    for (int i = 0; i < pings; i++)
        assert_int_equal(ph_noise_encrypt(r.n, ping, 6, frames + (size_t)i * one), PH_OK);
    /* and one asking for too many pong bytes: never answered */
    uint8_t huge[6] = { 0, 18, 0xff, 0xfc, 0, 0 };
    assert_int_equal(ph_noise_encrypt(r.n, huge, 6, frames + (size_t)pings * one), PH_OK);
    raw_write_all(&r, frames, (size_t)(pings + 1) * one);
    free(frames);
    ph_peer_stats st;
    uint64_t deadline = ph_test_deadline();
    do {
        ph_test_check_deadline(deadline, "a to read every ping of the flood");
        assert_int_equal(ph_ev_run_once(ev, 5), PH_OK);
        ph_peer_get_stats(a.p, &st);
    } while (st.msgs_in < (uint64_t)pings + 2);
    assert_int_equal(st.pings_answered, expect_pongs);
    assert_int_equal(st.pings_ignored_flood, pings - expect_pongs);
    assert_int_equal(st.pings_ignored_large, 1);
    for (int i = 0; i < expect_pongs; i++) {
        assert_true(raw_recv(&r));
        assert_int_equal(raw_type(&r), PH_WIRE_PONG);
        assert_int_equal(r.msg_len, 8);
    }
    assert_int_equal(a.closed, 0);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

static void test_ping_flood(void **state)
{
    (void)state;
    ping_burst(1200, -1, 0, 1200); /* defaults answer the interop tests' burst */
    ping_burst(1200, 100, 0, 100); /* an empty bucket answers nothing more */
}

/* A peer that sends requests but never reads our answers: once the queue
 * passes its soft cap we stop reading (the rest of the last read waits in a
 * stash), the queue stays bounded, nothing is dropped or disconnected, and
 * every request is answered once the peer reads again. */
static void test_backpressure_never_reading(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "fresh");
    a.cfg.outq.soft_cap = 256 * 1024;
    a.cfg.outq.hard_cap = 1024 * 1024;
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    enum { PINGS = 100 };
    size_t one = 6 + PH_NOISE_OVERHEAD;
    uint8_t *frames = malloc(PINGS * one);
    uint8_t ping[6] = { 0, 18, 0xff, 0xfb, 0, 0 }; /* 65,531-byte pongs: 6.5 MB in all */
    for (int i = 0; i < PINGS; i++)
        assert_int_equal(ph_noise_encrypt(r.n, ping, 6, frames + (size_t)i * one), PH_OK);
    raw_write_all(&r, frames, PINGS * one);
    free(frames);
    ph_peer_stats st;
    for (int i = 0; i < 200; i++)
        assert_int_equal(ph_ev_run_once(ev, 1), PH_OK);
    ph_peer_get_stats(a.p, &st);
    assert_true(st.read_pauses >= 1);
    assert_true(st.out.peak_queued_bytes <= 256 * 1024 + 2 * 65535 + 8 * 65569);
    assert_true(st.pings_answered < PINGS);
    assert_int_equal(a.closed, 0);
    for (int i = 0; i < PINGS; i++) {
        assert_true(raw_recv(&r));
        assert_int_equal(raw_type(&r), PH_WIRE_PONG);
        assert_int_equal(r.msg_len, 65535);
    }
    ph_peer_get_stats(a.p, &st);
    assert_int_equal(st.pings_answered, PINGS);
    assert_int_equal(st.pings_ignored_flood, 0);
    assert_true(st.out.peak_queued_bytes <= 256 * 1024 + 2 * 65535 + 8 * 65569);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* --in-rate: reading waits for the token bucket; everything still arrives. */
static void test_inbound_rate(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    a.cfg.in_rate = 400 * 1024;
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    uint8_t *big = calloc(1, 65535);
    big[0] = 0x80;
    big[1] = 0x03; /* unknown odd: ignored */
    for (int i = 0; i < 10; i++)
        raw_send(&r, big, 65535);
    free(big);
    ph_peer_stats st;
    uint64_t deadline = ph_test_deadline();
    do {
        ph_test_check_deadline(deadline, "a to read 10 rate-limited unknown odd messages");
        assert_int_equal(ph_ev_run_once(ev, 5), PH_OK);
        ph_peer_get_stats(a.p, &st);
    } while (st.unknown_odd < 10);
    assert_true(st.rate_pauses >= 1);
    assert_int_equal(a.closed, 0);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

static void test_handshake_timeout(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "reuse");
    a.cfg.handshake_timeout_ns = 20000000;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    assert_int_equal(ph_peer_create_inbound(&a.p, &a.env, sv[0], 1), PH_OK);
    uint8_t junk[20] = { 0 };
    assert_int_equal(write(sv[1], junk, sizeof junk), (ssize_t)sizeof junk);
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_TIMEOUT);
    char b;
    assert_int_equal(read(sv[1], &b, 1), 0); /* our side closed the socket */
    close(sv[1]);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* Bytes waiting to be read on the n sockets. */
static size_t unread_bytes(const int *fds, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int k = 0;
        assert_int_equal(ioctl(fds[i], FIONREAD, &k), 0);
        total += (size_t)k;
    }
    return total;
}

/* Connections that never finish act 1 cost a small fixed amount each:
 * the peer struct, the handshake state and its 66-byte act buffer. */
static void test_handshake_memory(void **state)
{
    (void)state;
    ph_memstat *ms = ph_test_require_jemalloc();
    enum { N = 200 };
    need_nofile(2 * N + 64);
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "reuse");
    static ph_peer *peers[N];
    static int other[N], mine[N];
    /* Warm up the loop's own tables first. */
    for (int i = 0; i < N; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        nonblock(sv[0]);
        assert_int_equal(ph_peer_create_inbound(&peers[i], &a.env, sv[0], (uint32_t)i), PH_OK);
        other[i] = sv[1];
    }
    for (int i = 0; i < N; i++) {
        ph_peer_destroy(peers[i]);
        close(other[i]);
    }
    int64_t before = ph_memstat_live(ph_memstat_probe_of(ms));
    for (int i = 0; i < N; i++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        nonblock(sv[0]);
        assert_int_equal(ph_peer_create_inbound(&peers[i], &a.env, sv[0], (uint32_t)i), PH_OK);
        other[i] = sv[1];
        mine[i] = sv[0];
        uint8_t part[20] = { 0 };
        assert_int_equal(write(sv[1], part, sizeof part), (ssize_t)sizeof part);
    }
    PUMP_UNTIL(ev, unread_bytes(mine, N) == 0); /* every peer has read its partial act 1 */
    int64_t per = (ph_memstat_live(ph_memstat_probe_of(ms)) - before) / N;
    print_message("heap per connection stuck in act 1: %lld bytes\n", (long long)per);
    assert_true(per < 2048);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ph_peer_get_state(peers[i]), PH_PEER_HANDSHAKE);
        ph_peer_destroy(peers[i]);
        close(other[i]);
    }
    side_free(&a);
    ph_ev_destroy(ev);
    ph_memstat_destroy(ms);
}

/* A bad act 1 fails the handshake at once. */
static void test_handshake_bad_act(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    assert_int_equal(ph_peer_create_inbound(&a.p, &a.env, sv[0], 1), PH_OK);
    uint8_t act[50] = { 1 }; /* version 1 */
    assert_int_equal(write(sv[1], act, sizeof act), (ssize_t)sizeof act);
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_NOISE_BAD_VERSION);
    close(sv[1]);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* ---- gossip: timestamp filter backlog, queries ---- */

static void test_gossip_filter_backlog_and_queries(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "pool");
    /* A soft cap far below the backlog: the backlog is streamed, not queued,
     * so nothing of it is dropped. */
    a.cfg.outq.soft_cap = 32 * 1024;
    side_gossip(&a, SAMPLE);
    struct raw r;
    raw_connect(&r, &a, ev, 9);

    uint8_t buf[128];
    size_t n = 0;
    assert_int_equal(ph_gossip_build_timestamp_filter(a.cfg.chain_hash, 0, UINT32_MAX, buf,
                                                      sizeof buf, &n), PH_OK);
    raw_send(&r, buf, n);
    size_t flen = 0;
    uint8_t *file = ph_test_read_file(SAMPLE, &flen);
    size_t off = 0;
    unsigned count = 0;
    while (off < flen) {
        size_t len = (size_t)(file[off] << 8 | file[off + 1]);
        assert_true(raw_recv(&r));
        assert_int_equal(r.msg_len, len);
        assert_memory_equal(r.msg, file + off + 2, len);
        off += 2 + len;
        count++;
    }
    assert_int_equal(count, SAMPLE_MESSAGES);
    ph_peer_stats st;
    ph_peer_get_stats(a.p, &st);
    assert_int_equal(st.gossip_streamed, SAMPLE_MESSAGES);
    assert_int_equal(st.out.relay_dropped, 0);
    /* The 4.8 MB backlog never sits in the queue: at most the 64 KiB
     * low-water mark, one message and one batch of in-flight frames. */
    assert_true(st.out.peak_queued_bytes < 128 * 1024);
    PUMP_UNTIL(ev, ph_peer_gossip_live(a.p));

    /* query_channel_range over every block: replies end with sync_complete. */
    assert_int_equal(ph_gossip_build_query_channel_range(a.cfg.chain_hash, 0, UINT32_MAX, buf,
                                                         sizeof buf, &n), PH_OK);
    raw_send(&r, buf, n);
    size_t scids = 0;
    for (;;) {
        assert_true(raw_recv(&r));
        assert_int_equal(raw_type(&r), PH_WIRE_REPLY_CHANNEL_RANGE);
        ph_wire_msg *m = NULL;
        assert_int_equal(ph_wire_decode(r.msg, r.msg_len, 0, &m, NULL), PH_OK);
        const uint8_t *ids = NULL;
        size_t idlen = 0, k = 0;
        uint64_t complete = 0;
        assert_int_equal(ph_wire_get_bytes(m, "encoded_short_ids", &ids, &idlen), PH_OK);
        assert_int_equal(ph_wire_short_ids_decode(ids, idlen, NULL, 0, &k), PH_OK);
        scids += k;
        assert_int_equal(ph_wire_get_u64(m, "sync_complete", &complete), PH_OK);
        ph_wire_msg_free(m);
        if (complete)
            break;
    }
    assert_int_equal(scids, 27); /* the sample's channel_announcements */

    /* query_short_channel_ids for one of them: announcement first, end marker last. */
    uint64_t scid = 0;
    {
        size_t o = 0;
        while (o < flen) {
            size_t len = (size_t)(file[o] << 8 | file[o + 1]);
            if (file[o + 2] == 1 && file[o + 3] == 0) {
                ph_gossip_fields gf;
                assert_int_equal(ph_gossip_parse(file + o + 2, len, &gf), PH_OK);
                scid = gf.scid;
                break;
            }
            o += 2 + len;
        }
    }
    assert_true(scid != 0);
    assert_int_equal(ph_gossip_build_query_short_channel_ids(a.cfg.chain_hash, &scid, 1, buf,
                                                             sizeof buf, &n), PH_OK);
    raw_send(&r, buf, n);
    assert_true(raw_recv(&r));
    assert_int_equal(raw_type(&r), PH_WIRE_CHANNEL_ANNOUNCEMENT);
    do {
        assert_true(raw_recv(&r));
    } while (raw_type(&r) != PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END);
    free(file);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* ---- regressions: what a hostile peer found (issue 12) ---- */

/* Pump until `cond` holds, at most `rounds` loop iterations. A peer that
 * ignores a readiness event makes each iteration return at once, so a
 * spinning loop uses the rounds up long before anything else happens. */
#define PUMP_ROUNDS(ev, rounds, cond)                                             \
    do {                                                                          \
        for (int round_ = 0; round_ < (rounds) && !(cond); round_++)              \
            assert_int_equal(ph_ev_run_once((ev), 100), PH_OK);                   \
    } while (0)

static void send_big_pings(struct raw *r, int pings)
{
    size_t one = 6 + PH_NOISE_OVERHEAD;
    uint8_t *frames = malloc((size_t)pings * one);
    uint8_t ping[6] = { 0, 18, 0xff, 0xfb, 0, 0 }; /* 65,531-byte pongs */
    for (int i = 0; i < pings; i++)
        assert_int_equal(ph_noise_encrypt(r->n, ping, 6, frames + (size_t)i * one), PH_OK);
    raw_write_all(r, frames, (size_t)pings * one);
    free(frames);
}

/* Replies queued while the stash is drained (reading resumed below half
 * the soft cap) are written without the client sending anything else:
 * 20 pings asking 65,531 bytes each get 20 pongs at the default caps. */
static void test_stash_replies_written(void **state)
{
    (void)state;
    const size_t soft[3] = { 0, 256 * 1024, 128 * 1024 };
    for (int k = 0; k < 6; k++) {
        bool tcp = k & 1;
        ph_ev *ev = mkev();
        struct side a;
        side_init(&a, ev, 1, "exact");
        a.cfg.outq.soft_cap = soft[k / 2];
        a.cfg.ping_interval_ns = 0; /* our own ping would flush the queue */
        struct raw r;
        raw_connect_over(&r, &a, ev, 9, tcp);
        enum { PINGS = 20 };
        send_big_pings(&r, PINGS);
        for (int i = 0; i < PINGS; i++) {
            assert_true(raw_recv(&r));
            assert_int_equal(raw_type(&r), PH_WIRE_PONG);
            assert_int_equal(r.msg_len, 65535);
        }
        ph_peer_stats st;
        ph_peer_get_stats(a.p, &st);
        assert_int_equal(st.pings_answered, PINGS);
        assert_true(st.read_pauses >= 1);
        assert_int_equal(a.closed, 0);
        raw_close(&r);
        side_free(&a);
        ph_ev_destroy(ev);
    }
}

/* A reset while the peer is not reading (rate-paused, stalled by
 * configuration) arrives as an error event without read interest: the
 * peer closes at once instead of ignoring it (a busy loop) until its timer
 * resumes reading. */
static void reset_while_not_reading(bool rate)
{
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    if (rate)
        a.cfg.in_rate = 64; /* 4,096 bytes at once, then 16 s until the next read */
    else
        a.cfg.stall_reads = true;
    a.cfg.ping_interval_ns = 0;
    struct raw r;
    raw_connect_over(&r, &a, ev, 9, true);
    ph_peer_stats st;
    if (rate) {
        uint8_t odd[1000] = { 0x80, 0x03 };
        for (int i = 0; i < 8; i++)
            raw_send(&r, odd, sizeof odd);
        PUMP_UNTIL(ev, (ph_peer_get_stats(a.p, &st), st.rate_pauses >= 1));
    }
    reset_close(r.fd);
    r.fd = -1;
    PUMP_ROUNDS(ev, 200, a.closed);
    assert_int_equal(a.closed, 1);
    assert_int_equal(a.reason, PH_ERR_PEER_CLOSED);
    assert_non_null(strstr(a.why, "reset"));
    assert_true(log_has(&a.lb, "info", "disconnect: connection reset"));
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

static void test_reset_while_rate_paused(void **state)
{
    (void)state;
    reset_while_not_reading(true);
}

static void test_reset_while_stalled(void **state)
{
    (void)state;
    reset_while_not_reading(false);
}

/* A reset in the middle of act 1 is an ordinary disconnect, logged at info
 * level with what happened, not a warn-level I/O error. */
static void test_reset_during_handshake(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    int sv[2];
    tcp_pair(sv);
    nonblock(sv[0]);
    assert_int_equal(ph_peer_create_inbound(&a.p, &a.env, sv[0], 1), PH_OK);
    uint8_t part[20] = { 0 };
    assert_int_equal(write(sv[1], part, sizeof part), (ssize_t)sizeof part);
    ph_peer_stats st;
    PUMP_UNTIL(ev, (ph_peer_get_stats(a.p, &st), st.wire_bytes_in == sizeof part));
    reset_close(sv[1]);
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_PEER_CLOSED);
    assert_string_equal(a.why, "connection reset during the handshake");
    assert_true(log_has(&a.lb, "info", "disconnect: connection reset during the handshake"));
    assert_null(strstr(a.lb.text, "warn:"));
    side_free(&a);
    ph_ev_destroy(ev);
}

/* After init, a frame must finish within the frame timeout: a length
 * header promising bytes that never come is cut. */
static void test_frame_timeout(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    a.cfg.frame_timeout_ns = 50000000; /* 50 ms */
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    /* A whole ping first: complete frames never trip the timer. */
    uint8_t ping[6] = { 0, 18, 0, 2, 0, 0 };
    raw_send(&r, ping, sizeof ping);
    assert_true(raw_recv(&r));
    assert_int_equal(raw_type(&r), PH_WIRE_PONG);
    uint8_t msg[1000] = { 0x80, 0x03 };
    uint8_t frame[sizeof msg + PH_NOISE_OVERHEAD];
    assert_int_equal(ph_noise_encrypt(r.n, msg, sizeof msg, frame), PH_OK);
    raw_write_all(&r, frame, PH_NOISE_HDR_LEN + 10);
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_TIMEOUT);
    assert_non_null(strstr(a.why, "frame"));
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* BOLT 1: a known message that does not parse closes the connection, with
 * a warning first. Gossip too: a truncated channel_update or
 * channel_announcement, a node_announcement whose addresses run past its
 * end. */
static void test_truncated_gossip_closes(void **state)
{
    (void)state;
    uint8_t chain[32], sec[2][32], bsec[2][32], pub[33];
    assert_int_equal(ph_gossip_chain_hash("mainnet", chain), PH_OK);
    for (int i = 0; i < 2; i++) {
        key_of(sec[i], pub, (uint8_t)(100 + i));
        key_of(bsec[i], pub, (uint8_t)(110 + i));
    }
    uint8_t ann[512], upd[256], na[256];
    size_t ann_len = 0, upd_len = 0, na_len = 0;
    assert_int_equal(ph_gossip_build_channel_announcement(chain, ph_wire_scid_make(800000, 1, 0),
                                                          sec, bsec, ann, sizeof ann, &ann_len),
                     PH_OK);
    ph_gossip_update_fields uf = { .scid = ph_wire_scid_make(800000, 1, 0), .timestamp = 1700000000 };
    memcpy(uf.chain_hash, chain, 32);
    assert_int_equal(ph_gossip_build_channel_update(&uf, sec[0], upd, sizeof upd, &upd_len), PH_OK);
    const uint8_t addr[] = { 1, 127, 0, 0, 1, 0x26, 0x07 };
    ph_gossip_node_fields nf = { .timestamp = 1700000001, .addresses = addr,
                                 .addresses_len = sizeof addr };
    assert_int_equal(ph_gossip_build_node_announcement(&nf, sec[0], na, sizeof na, &na_len), PH_OK);
    na[na_len - sizeof addr - 1] = 40; /* addrlen: 40 bytes, 7 present */
    struct { const uint8_t *msg; size_t len; const char *name; } cases[] = {
        { upd, upd_len - 9, "malformed channel_update" },
        { ann, 300, "malformed channel_announcement" },
        { na, na_len, "malformed node_announcement" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ph_ev *ev = mkev();
        struct side a;
        side_init(&a, ev, 1, "exact");
        struct raw r;
        raw_connect(&r, &a, ev, 9);
        raw_send(&r, cases[k].msg, cases[k].len);
        assert_true(raw_recv(&r));
        assert_int_equal(raw_type(&r), PH_WIRE_WARNING);
        assert_false(raw_recv(&r));
        PUMP_UNTIL(ev, a.closed);
        assert_int_equal(a.reason, PH_ERR_PEER_PROTOCOL);
        assert_non_null(strstr(a.why, cases[k].name));
        raw_close(&r);
        side_free(&a);
        ph_ev_destroy(ev);
    }
}

static size_t sample_scids(uint64_t *out, size_t cap)
{
    size_t flen = 0, n = 0;
    uint8_t *file = ph_test_read_file(SAMPLE, &flen);
    for (size_t o = 0; o < flen && n < cap;) {
        size_t len = (size_t)(file[o] << 8 | file[o + 1]);
        ph_gossip_fields gf;
        if (file[o + 2] == 1 && file[o + 3] == 0 &&
            ph_gossip_parse(file + o + 2, len, &gf) == PH_OK)
            out[n++] = gf.scid;
        o += 2 + len;
    }
    free(file);
    return n;
}

/* Receive one query's answer up to reply_short_channel_ids_end; returns
 * the number of gossip messages. */
static size_t recv_scid_answer(struct raw *r)
{
    size_t msgs = 0;
    for (;;) {
        assert_true(raw_recv(r));
        if (raw_type(r) == PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END)
            return msgs;
        assert_true(raw_type(r) >= 256 && raw_type(r) <= 258);
        msgs++;
    }
}

/* A 64 KB query_short_channel_ids naming the same channels over and over
 * is answered once per channel, and the answer is streamed as the queue
 * drains instead of being queued at once. A second query before the end
 * of the first gets a warning and a disconnect (BOLT 7: MAY). */
static void test_scid_query_dedup_streamed(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct side a;
    side_init(&a, ev, 1, "exact");
    side_gossip(&a, SAMPLE);
    a.cfg.stream_low_water = 4096;
    struct raw r;
    raw_connect(&r, &a, ev, 9);
    uint64_t ids[64];
    size_t nids = sample_scids(ids, 64);
    assert_int_equal(nids, 27);
    uint8_t *buf = malloc(65535);
    size_t n = 0;
    assert_int_equal(ph_gossip_build_query_short_channel_ids(a.cfg.chain_hash, ids, nids, buf,
                                                             65535, &n), PH_OK);
    raw_send(&r, buf, n);
    size_t once = recv_scid_answer(&r);
    assert_true(once >= 27);
    /* 8,000 scids: the 27 over and over */
    uint64_t *many = malloc(8000 * sizeof *many);
    for (size_t i = 0; i < 8000; i++)
        many[i] = ids[i % nids];
    assert_int_equal(ph_gossip_build_query_short_channel_ids(a.cfg.chain_hash, many, 8000, buf,
                                                             65535, &n), PH_OK);
    raw_send(&r, buf, n);
    assert_int_equal(recv_scid_answer(&r), once);
    ph_peer_stats st;
    ph_peer_get_stats(a.p, &st);
    assert_true(st.out.peak_queued_bytes < 32 * 1024);
    /* Two queries in one read: the second comes before the first's end. */
    assert_int_equal(ph_gossip_build_query_short_channel_ids(a.cfg.chain_hash, ids, nids, buf,
                                                             65535, &n), PH_OK);
    uint8_t *two = malloc(2 * (n + PH_NOISE_OVERHEAD));
    assert_int_equal(ph_noise_encrypt(r.n, buf, n, two), PH_OK);
    assert_int_equal(ph_noise_encrypt(r.n, buf, n, two + n + PH_NOISE_OVERHEAD), PH_OK);
    raw_write_all(&r, two, 2 * (n + PH_NOISE_OVERHEAD));
    bool warned = false;
    while (raw_recv(&r))
        warned = warned || raw_type(&r) == PH_WIRE_WARNING;
    assert_true(warned);
    PUMP_UNTIL(ev, a.closed);
    assert_int_equal(a.reason, PH_ERR_PEER_PROTOCOL);
    assert_non_null(strstr(a.why, "query_short_channel_ids"));
    free(two);
    free(many);
    free(buf);
    raw_close(&r);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* ---- fairness: a fast reader does not keep the loop ---- */

struct mclient {
    ph_ev *ev;
    ph_conn *c;
    ph_noise *n;
};

static void m_send(struct mclient *m, const uint8_t *b, size_t len)
{
    struct iovec iov = { (void *)b, len };
    assert_int_equal(ph_conn_sendv(m->c, &iov, 1), (ssize_t)len); /* room for all of it */
}

static void m_recv_exact(struct mclient *m, uint8_t *out, size_t len)
{
    size_t got = 0;
    for (int round = 0; got < len; round++) {
        assert_true(round < 100000);
        ssize_t n = ph_conn_recv(m->c, out + got, len - got);
        if (n > 0)
            got += (size_t)n;
        else
            assert_int_equal(ph_ev_run_once(m->ev, 0), PH_OK);
    }
}

/* A peer reading as fast as we write (a transport that takes everything:
 * 16 MB of buffer) asks for the 4.8 MB backlog. A flush yields at the
 * queue's flush budget (outq.h) and the peer resumes on the next write
 * readiness, so every other peer is served in between; the backlog used to
 * be written whole in one flush, and on a loaded machine the handshakes of
 * peers arriving meanwhile timed out. */
static void test_backlog_shares_the_loop(void **state)
{
    (void)state;
    ph_ev *ev = NULL;
    assert_int_equal(ph_ev_create_virtual(&ev, 1000000000ull), PH_OK);
    struct side a;
    side_init(&a, ev, 1, "exact");
    side_gossip(&a, SAMPLE);
    ph_modelconn_config mc;
    memset(&mc, 0, sizeof mc);
    mc.capacity[0] = mc.capacity[1] = 16u * 1024u * 1024u;
    ph_conn *mine = NULL, *theirs = NULL;
    assert_int_equal(ph_modelconn_pair(ev, &mc, &mine, &theirs), PH_OK);
    assert_int_equal(ph_peer_create_inbound_conn(&a.p, &a.env, mine, 1), PH_OK);
    struct mclient m = { .ev = ev, .c = theirs };
    uint8_t priv[32], pub[33], act[66];
    key_of(priv, pub, 9);
    ph_noise_hs *hs = NULL;
    assert_int_equal(ph_noise_hs_create(&hs, priv, a.pub, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_OK);
    m_send(&m, act, 50);
    m_recv_exact(&m, act, 50);
    assert_int_equal(ph_noise_act2_read(hs, act, 50), PH_OK);
    assert_int_equal(ph_noise_act3_write(hs, act), PH_OK);
    m_send(&m, act, 66);
    assert_int_equal(ph_noise_hs_finish(hs, &m.n), PH_OK);
    ph_noise_hs_destroy(hs);
    uint8_t msg[128], frame[128 + PH_NOISE_OVERHEAD];
    uint8_t fv[1] = { 0x80 };
    ph_wire_msg *init = NULL;
    assert_int_equal(ph_wire_init_new(&init, fv, 1, (const uint8_t(*)[32])a.cfg.chain_hash, 1),
                     PH_OK);
    size_t n = 0;
    assert_int_equal(ph_wire_encode(init, msg, sizeof msg, &n), PH_OK);
    ph_wire_msg_free(init);
    assert_int_equal(ph_noise_encrypt(m.n, msg, n, frame), PH_OK);
    m_send(&m, frame, n + PH_NOISE_OVERHEAD);
    assert_int_equal(ph_gossip_build_timestamp_filter(a.cfg.chain_hash, 0, UINT32_MAX, msg,
                                                      sizeof msg, &n), PH_OK);
    assert_int_equal(ph_noise_encrypt(m.n, msg, n, frame), PH_OK);
    m_send(&m, frame, n + PH_NOISE_OVERHEAD);
    size_t most = 0, before = ph_modelconn_unread(theirs);
    int rounds = 0;
    while (!ph_peer_gossip_live(a.p) || !a.ready) {
        assert_true(++rounds < 100000);
        assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
        size_t now = ph_modelconn_unread(theirs);
        if (now - before > most)
            most = now - before;
        before = now;
    }
    print_message("backlog of 4.8 MB written over %d loop iterations, at most %zu bytes in "
                  "one\n", rounds, most);
    /* the flush budget, the low-water mark the queue refills to, a batch */
    assert_true(most <= 256u * 1024u + 64u * 1024u + 8u * 65569u);
    assert_true(rounds > 10);
    /* and all of it arrived */
    ph_peer_stats st;
    ph_peer_get_stats(a.p, &st);
    assert_int_equal(st.gossip_streamed, SAMPLE_MESSAGES);
    ph_noise_destroy(m.n);
    ph_conn_destroy(theirs);
    side_free(&a);
    ph_ev_destroy(ev);
}

/* ---- nodes: relay fan-out of new signed gossip, 500 connections ---- */

struct nodeside {
    ph_node *n;
    struct logbuf lb;
    char bound[80];
};

static void node_open(struct nodeside *ns, ph_ev *ev, uint8_t seed, const char *strategy,
                      bool listen, size_t max_peers)
{
    memset(ns, 0, sizeof *ns);
    ph_node_config cfg;
    memset(&cfg, 0, sizeof cfg);
    uint8_t pub[33];
    key_of(cfg.priv, pub, seed);
    cfg.strategy = strategy;
    ph_peer_config_default(&cfg.peer);
    cfg.peer.filter = PH_PEER_FILTER_NONE;
    cfg.max_peers = max_peers;
    cfg.log = (ph_logger){ .fn = log_cb, .ctx = &ns->lb, .level = PH_LOG_WARN };
    assert_int_equal(ph_node_create(&ns->n, ev, &cfg, NULL, 0), PH_OK);
    if (listen)
        assert_int_equal(ph_node_listen(ns->n, "127.0.0.1:0", ns->bound, sizeof ns->bound),
                         PH_OK);
}

static void node_target(struct nodeside *ns, char *out, size_t cap)
{
    uint8_t pub[33];
    char hex[67];
    ph_node_id(ns->n, pub);
    ph_hex_encode(pub, 33, hex);
    snprintf(out, cap, "%s@%s", hex, ns->bound);
}

static int tcp_connect(const char *bound)
{
    const char *colon = strrchr(bound, ':');
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)atoi(colon + 1)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_connect_node(struct raw *r, struct nodeside *ns, ph_ev *ev, uint8_t seed)
{
    raw_open(r, ev, tcp_connect(ns->bound));
    uint8_t pub[33];
    ph_node_id(ns->n, pub);
    raw_handshake(r, seed, pub);
    uint8_t fv[1] = { 0x80 };
    uint8_t chain[32];
    assert_int_equal(ph_gossip_chain_hash("mainnet", chain), PH_OK);
    send_init_with(r, fv, 1, chain);
    assert_true(raw_recv(r));
    assert_int_equal(raw_type(r), PH_WIRE_INIT);
}

/* s -> n - s of a compact signature: the same signature in high-S form. */
static void flip_s(uint8_t sig64[64])
{
    static const uint8_t order[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
        0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    };
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = order[i] - sig64[32 + i] - borrow;
        borrow = d < 0;
        sig64[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

static void test_node_relays_new_gossip(void **state)
{
    (void)state;
    ph_ev *ev = mkev();
    struct nodeside hub;
    node_open(&hub, ev, 1, "exact", true, 0);
    struct raw listener, source;
    ph_node_stats st;
    raw_connect_node(&listener, &hub, ev, 21);
    raw_connect_node(&source, &hub, ev, 22);
    uint8_t chain[32], buf[512];
    size_t n = 0;
    assert_int_equal(ph_gossip_chain_hash("mainnet", chain), PH_OK);
    assert_int_equal(ph_gossip_build_timestamp_filter(chain, 0, UINT32_MAX, buf, sizeof buf, &n),
                     PH_OK);
    raw_send(&listener, buf, n);
    PUMP_UNTIL(ev, ph_node_peer_count(hub.n) == 2 &&
                       (ph_node_get_stats(hub.n, &st), st.messages_in == 3) &&
                       ph_peer_gossip_live(ph_node_peer_at(hub.n, 0)) &&
                       ph_peer_gossip_live(ph_node_peer_at(hub.n, 1)));
    /* A freshly signed channel: announcement + one update, from `source`. */
    uint8_t ns_[2][32], bs[2][32], pub[2][33];
    for (int i = 0; i < 2; i++) {
        key_of(ns_[i], pub[i], (uint8_t)(100 + i));
        key_of(bs[i], pub[i], (uint8_t)(110 + i));
    }
    uint64_t scid = ph_wire_scid_make(800000, 5, 1);
    uint8_t ann[512], upd[256];
    size_t ann_len = 0, upd_len = 0;
    assert_int_equal(ph_gossip_build_channel_announcement(chain, scid, ns_, bs, ann, sizeof ann,
                                                          &ann_len), PH_OK);
    ph_gossip_fields gf;
    assert_int_equal(ph_gossip_parse(ann, ann_len, &gf), PH_OK);
    uint8_t p0[33];
    key_of(ns_[0], p0, 100);
    int first = memcmp(gf.node_id[0], p0, 33) == 0 ? 0 : 1;
    ph_gossip_update_fields uf = { .scid = scid, .timestamp = 1700000000,
                                   .cltv_expiry_delta = 40, .htlc_minimum_msat = 1000,
                                   .fee_base_msat = 1000, .fee_proportional_millionths = 1,
                                   .htlc_maximum_msat = 100000000 };
    memcpy(uf.chain_hash, chain, 32);
    assert_int_equal(ph_gossip_build_channel_update(&uf, ns_[first], upd, sizeof upd, &upd_len),
                     PH_OK);
    raw_send(&source, ann, ann_len);
    raw_send(&source, upd, upd_len);
    /* The listener gets both, announcement first, byte-exact; the source
     * gets nothing back. */
    assert_true(raw_recv(&listener));
    assert_int_equal(listener.msg_len, ann_len);
    assert_memory_equal(listener.msg, ann, ann_len);
    assert_true(raw_recv(&listener));
    assert_int_equal(listener.msg_len, upd_len);
    assert_memory_equal(listener.msg, upd, upd_len);
    ph_node_get_stats(hub.n, &st);
    assert_int_equal(st.relayed, 2);
    assert_int_equal(st.gossip_in, 2);
    /* A newer update with a bad signature: not relayed, and the source
     * gets a warning. */
    uf.timestamp++;
    assert_int_equal(ph_gossip_build_channel_update(&uf, ns_[first], upd, sizeof upd, &upd_len),
                     PH_OK);
    upd[upd_len - 1] ^= 1;
    raw_send(&source, upd, upd_len);
    assert_true(raw_recv(&source));
    assert_int_equal(raw_type(&source), PH_WIRE_WARNING);
    ph_node_get_stats(hub.n, &st);
    assert_int_equal(st.relayed, 2);
    /* The same with a high-S signature (s -> n - s of a genuine one): other
     * nodes' libsecp256k1 would refuse it, so it is not relayed either. */
    uf.timestamp++;
    assert_int_equal(ph_gossip_build_channel_update(&uf, ns_[first], upd, sizeof upd, &upd_len),
                     PH_OK);
    flip_s(upd + 2);
    raw_send(&source, upd, upd_len);
    assert_true(raw_recv(&source));
    assert_int_equal(raw_type(&source), PH_WIRE_WARNING);
    ph_node_get_stats(hub.n, &st);
    assert_int_equal(st.relayed, 2);

    ph_node_shutdown(hub.n);
    assert_false(raw_recv(&listener));
    assert_false(raw_recv(&source));
    PUMP_UNTIL(ev, ph_node_peer_count(hub.n) == 0);
    raw_close(&listener);
    raw_close(&source);
    ph_node_destroy(hub.n);
    ph_ev_destroy(ev);
}

/* Raises RLIMIT_NOFILE to `want` (the hard limit too when permitted), or
 * fails saying why the test cannot run. */
static void need_nofile(size_t want)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur >= want)
        return;
    if (rl.rlim_max < want)
        rl.rlim_max = want; /* root (CAP_SYS_RESOURCE) may raise it */
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < want)
        fail_msg("RLIMIT_NOFILE is %llu (hard %llu), this test needs %zu open files: "
                 "raise it (ulimit -n %zu) or run as root", (unsigned long long)rl.rlim_cur,
                 (unsigned long long)rl.rlim_max, want, want);
}

static size_t count_open(ph_node *n)
{
    size_t k = 0;
    for (size_t i = 0; i < ph_node_peer_count(n); i++)
        k += ph_peer_get_state(ph_node_peer_at(n, i)) == PH_PEER_OPEN;
    return k;
}

/* Messages x's peers wrote (*out) and read (*in); false while any of them
 * still has gossip to stream or messages queued or in flight. */
static bool node_msgs(ph_node *x, uint64_t *out, uint64_t *in)
{
    *out = *in = 0;
    for (size_t i = 0; i < ph_node_peer_count(x); i++) {
        ph_peer *p = ph_node_peer_at(x, i);
        ph_peer_stats st;
        ph_peer_get_stats(p, &st);
        if (!ph_peer_gossip_live(p) || st.out.queued_msgs || st.out.inflight_frames)
            return false;
        *out += st.out.msgs_out;
        *in += st.msgs_in;
    }
    return true;
}

/* Two nodes connected only to each other are quiet: nothing pending, and
 * every message one wrote the other has read. */
static bool nodes_quiet(ph_node *x, ph_node *y)
{
    uint64_t xo, xi, yo, yi;
    return node_msgs(x, &xo, &xi) && node_msgs(y, &yo, &yi) && xo == yi && yo == xi;
}

/* N connections between two nodes on one loop; both ends OPEN. */
static void connect_many(struct nodeside *a, struct nodeside *b, ph_ev *ev, size_t n)
{
    char target[200];
    node_target(a, target, sizeof target);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ph_node_connect(b->n, target), PH_OK);
    PUMP_UNTIL(ev, count_open(a->n) == n && count_open(b->n) == n);
}

static void close_both(struct nodeside *a, struct nodeside *b, ph_ev *ev)
{
    ph_node_shutdown(a->n);
    ph_node_shutdown(b->n);
    PUMP_UNTIL(ev, ph_node_peer_count(a->n) == 0 && ph_node_peer_count(b->n) == 0);
    ph_node_destroy(a->n);
    ph_node_destroy(b->n);
}

static void test_500_inbound(void **state)
{
    (void)state;
    const size_t N = 500;
    need_nofile(2 * N + 64);
    ph_ev *ev = mkev();
    struct nodeside a, b;
    node_open(&a, ev, 1, "pool", true, N);
    node_open(&b, ev, 2, "exact", false, N);
    connect_many(&a, &b, ev, N);
    ph_node_stats st;
    ph_node_get_stats(a.n, &st);
    assert_int_equal(st.accepted, N);
    assert_int_equal(st.opened, N);
    assert_int_equal(st.refused, 0);
    /* One more is refused: --max-peers. */
    int extra = tcp_connect(a.bound);
    PUMP_UNTIL(ev, (ph_node_get_stats(a.n, &st), st.refused == 1));
    close(extra);
    close_both(&a, &b, ev);
    ph_ev_destroy(ev);
}

/* Heap held per idle connected peer, per strategy, at 1, 100 and 500
 * connections (each connection = two idle peers here, one per node). The
 * figures are printed; only the analytic relation is asserted: `reuse`
 * keeps one 65,535-byte buffer (size class 65,536) per peer for life. */
/* Idle peers are trimmed on the node's one-second tick (ph_peer_trim):
 * their queue's ring and in-flight slots and the last message's buffer
 * are gone (a peer's own estimate, ph_peer_heap_bytes, drops from about
 * 2.4 KB to 1.2 KB). Waited for on the loop, with the usual deadline. */
static bool all_trimmed(ph_node *n)
{
    for (size_t i = 0; i < ph_node_peer_count(n); i++)
    {
        /* What the strategy keeps per peer (reuse's buffer, ring's ring)
         * is not the queue's: it stays. */
        ph_peer *p = ph_node_peer_at(n, i);
        ph_peer_stats st;
        ph_peer_get_stats(p, &st);
        if (ph_peer_heap_bytes(p) - st.out.wbuf_held >= 1500)
            return false;
    }
    return true;
}

/* stats.allocated counts what sits in the thread's cache as allocated:
 * flush it first (ph_memstat_alloc_calls does), so that the figure is the
 * heap in use. */
static void read_flushed(ph_memstat *ms, ph_memstat_global *g)
{
    uint64_t calls;
    assert_int_equal(ph_memstat_alloc_calls(ms, &calls), PH_OK);
    assert_int_equal(ph_memstat_global_read(ms, g), PH_OK);
}

#define IDLE_COUNTS 3
#define IDLE_GOAL 2048.0 /* bytes per idle connected peer, exact and pool */

static void test_idle_memory_per_peer(void **state)
{
    (void)state;
    ph_memstat *ms = ph_test_require_jemalloc();
    const size_t counts[IDLE_COUNTS] = { 1, 100, 1000 };
    need_nofile(2 * 1000 + 64);
    ph_memstat_probe *pr = ph_memstat_probe_of(ms);
    /* marginal: heap added per idle peer once one connection exists (the
     * strategy's shared state, e.g. pool buffers, already there);
     * whole: everything the two nodes allocated since they were created,
     * shared state included, divided by the peers. */
    double marginal[8][IDLE_COUNTS], whole[8][IDLE_COUNTS];
    double gmarginal[8][IDLE_COUNTS], gwhole[8][IDLE_COUNTS];
    size_t nstrat = 0;
    for (const char *const *name = ph_wbuf_names(); *name && nstrat < 8; name++, nstrat++) {
        for (int k = 0; k < IDLE_COUNTS; k++) {
            ph_ev *ev = mkev();
            struct nodeside a, b;
            node_open(&a, ev, 1, *name, true, 2048);
            node_open(&b, ev, 2, *name, false, 2048);
            ph_memstat_global g0, g1, g2;
            read_flushed(ms, &g0);
            int64_t base0 = ph_memstat_live(pr);
            connect_many(&a, &b, ev, 1);
            PUMP_UNTIL(ev, nodes_quiet(a.n, b.n) && all_trimmed(a.n) && all_trimmed(b.n));
            read_flushed(ms, &g1);
            int64_t base1 = ph_memstat_live(pr);
            char target[200];
            node_target(&a, target, sizeof target);
            for (size_t i = 0; i < counts[k]; i++)
                assert_int_equal(ph_node_connect(b.n, target), PH_OK);
            PUMP_UNTIL_S(ev, count_open(a.n) == counts[k] + 1 &&
                                 count_open(b.n) == counts[k] + 1, 600);
            PUMP_UNTIL_S(ev, nodes_quiet(a.n, b.n) && all_trimmed(a.n) && all_trimmed(b.n), 600);
            read_flushed(ms, &g2);
            int64_t after = ph_memstat_live(pr);
            gmarginal[nstrat][k] = ((double)g2.allocated - (double)g1.allocated) /
                                   (double)(2 * counts[k]);
            gwhole[nstrat][k] = ((double)g2.allocated - (double)g0.allocated) /
                                (double)(2 * (counts[k] + 1));
            marginal[nstrat][k] = (double)(after - base1) / (double)(2 * counts[k]);
            whole[nstrat][k] = (double)(after - base0) / (double)(2 * (counts[k] + 1));
            if (!strcmp(*name, "reuse"))
                assert_true(marginal[nstrat][k] >= 65536.0);
            /* The goal, at 100 and 1,000 connections: an idle connected
             * peer costs under 2 KiB with exact and pool. */
            if ((!strcmp(*name, "exact") || !strcmp(*name, "pool")) && counts[k] >= 100) {
                if (marginal[nstrat][k] >= IDLE_GOAL || gmarginal[nstrat][k] >= IDLE_GOAL)
                    fail_msg("%s: %.0f / %.0f bytes per idle peer at %zu connections", *name,
                             marginal[nstrat][k], gmarginal[nstrat][k], counts[k]);
            }
            close_both(&a, &b, ev);
            ph_ev_destroy(ev);
        }
    }
    for (int t = 0; t < 2; t++) {
        double (*mm)[IDLE_COUNTS] = t ? marginal : gmarginal;
        double (*ww)[IDLE_COUNTS] = t ? whole : gwhole;
        printf("heap per idle connected peer, bytes (jemalloc %s):\n",
               t ? "thread.allocated - thread.deallocated" : "stats.allocated, cache flushed");
        printf("%-8s %32s   %32s\n", "", "marginal: N connections added",
               "whole: N + 1 connections");
        printf("%-8s %10s %10s %10s   %10s %10s %10s\n", "strategy", "N=1", "N=100", "N=1000",
               "N=1", "N=100", "N=1000");
        for (size_t i = 0; i < nstrat; i++)
            printf("%-8s %10.0f %10.0f %10.0f   %10.0f %10.0f %10.0f\n", ph_wbuf_names()[i],
                   mm[i][0], mm[i][1], mm[i][2], ww[i][0], ww[i][1], ww[i][2]);
    }
    ph_memstat_destroy(ms);
}

/* --announce: our own gossip, every signature real and ours (the synthetic
 * channel's updates are checked against its announcement's node ids). */
static void test_node_announces_itself(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    struct nodeside a;
    node_open(&a, ev, 7, "exact", false, 4);
    uint8_t me[33];
    ph_node_id(a.n, me);
    assert_int_equal(ph_node_announce(a.n, "peerheap-test", 1790000000), PH_OK);
    assert_int_equal(ph_node_announce(a.n, "an alias that is much longer than 32 bytes", 1), PH_ERR_ARG);
    ph_gossip_cursor *c;
    assert_int_equal(ph_gossip_cursor_create(ph_node_gossip(a.n), 0, 0xffffffffu,
                                             PH_GOSSIP_ORIGIN_LOCAL, &c), PH_OK);
    uint8_t nodes[2][33];
    int seen[3] = {0};
    ph_gossip_msg *m;
    while ((m = ph_gossip_cursor_next(c))) {
        const uint8_t *d = ph_gossip_msg_data(m);
        size_t len = ph_gossip_msg_len(m);
        ph_gossip_fields f;
        assert_int_equal(ph_gossip_parse(d, len, &f), PH_OK);
        if (f.type == 256) {
            assert_int_equal(f.scid, ph_wire_scid_make(1, 0, 0));
            assert_true(memcmp(f.node_id[0], me, 33) == 0 || memcmp(f.node_id[1], me, 33) == 0);
            memcpy(nodes[0], f.node_id[0], 33);
            memcpy(nodes[1], f.node_id[1], 33);
            assert_int_equal(ph_gossip_verify(d, len, NULL), PH_OK);
        } else if (f.type == 258) {
            assert_int_equal(seen[0], 1); /* the announcement comes first */
            assert_int_equal(ph_gossip_verify(d, len, nodes[f.channel_flags & 1]), PH_OK);
            assert_int_not_equal(ph_gossip_verify(d, len, nodes[!(f.channel_flags & 1)]), PH_OK);
        } else {
            assert_int_equal(f.type, 257);
            assert_memory_equal(f.node_id[0], me, 33);
            assert_int_equal(f.timestamp, 1790000000);
            assert_int_equal(ph_gossip_verify(d, len, NULL), PH_OK);
        }
        seen[f.type - 256]++;
        ph_gossip_msg_unref(m);
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 2);
    ph_gossip_cursor_destroy(c);
    ph_node_destroy(a.n);
    ph_ev_destroy(ev);
}

int main(void)
{
    if (ph_noise_global_init() != PH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_init_close),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_pong_timeout),
        cmocka_unit_test(test_unknown_messages),
        cmocka_unit_test(test_warning_and_error_received),
        cmocka_unit_test(test_init_incompatible),
        cmocka_unit_test(test_ping_flood),
        cmocka_unit_test(test_backpressure_never_reading),
        cmocka_unit_test(test_inbound_rate),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_handshake_memory),
        cmocka_unit_test(test_handshake_bad_act),
        cmocka_unit_test(test_gossip_filter_backlog_and_queries),
        cmocka_unit_test(test_node_relays_new_gossip),
        cmocka_unit_test(test_500_inbound),
        cmocka_unit_test(test_idle_memory_per_peer),
        cmocka_unit_test(test_node_announces_itself),
        cmocka_unit_test(test_stash_replies_written),
        cmocka_unit_test(test_reset_while_rate_paused),
        cmocka_unit_test(test_reset_while_stalled),
        cmocka_unit_test(test_reset_during_handshake),
        cmocka_unit_test(test_frame_timeout),
        cmocka_unit_test(test_truncated_gossip_closes),
        cmocka_unit_test(test_scid_query_dedup_streamed),
        cmocka_unit_test(test_backlog_shares_the_loop),
    };
    /* PH_TEST_FILTER=pattern runs only the matching tests (while working). */
    if (getenv("PH_TEST_FILTER"))
        cmocka_set_test_filter(getenv("PH_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
