/* The node (lib/node/node.c) on its own: target and address parsing, the
 * files it opens (and how it names one it cannot), the idle shutdown and
 * the close callback on a virtual clock, a dump file whose writes fail,
 * max_peers, and the accept back-off when the process is out of file
 * descriptors (EMFILE): the listener pauses, says so, and takes the
 * connection once descriptors are free again. Every wait on the real loop
 * has a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "modelconn.h"
#include "node.h"
#include "noise.h"
#include "ph_test.h"

#define SAMPLE "captures/mainnet-gossip.lnmsgs"
#define SEC 1000000000ull

/* ---- a log that keeps its lines ---- */

struct loglines {
    char text[16384];
    size_t len;
};

static void keep_line(void *ctx, ph_log_level level, const char *line)
{
    (void)level;
    struct loglines *l = ctx;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%s\n", line);
    if (n > 0 && l->len + (size_t)n < sizeof l->text)
        l->len += (size_t)n;
}

static bool has_line(const struct loglines *l, const char *what)
{
    return strstr(l->text, what) != NULL;
}

static void node_cfg(ph_node_config *nc, uint8_t key, struct loglines *log)
{
    memset(nc, 0, sizeof *nc);
    memset(nc->priv, key, 32);
    ph_peer_config_default(&nc->peer);
    if (log)
        nc->log = (ph_logger){.fn = keep_line, .ctx = log, .level = PH_LOG_INFO};
}

static void test_parse_target(void **state)
{
    (void)state;
    uint8_t pub[33];
    char hp[64];
    char good[200];
    snprintf(good, sizeof good, "02%064d@127.0.0.1:9735", 1);
    assert_int_equal(ph_node_parse_target(good, pub, hp, sizeof hp), PH_OK);
    assert_string_equal(hp, "127.0.0.1:9735");
    assert_int_equal(pub[0], 2);
    /* no '@', a short key, not hex, not a compressed key, no address, too long */
    assert_int_equal(ph_node_parse_target("127.0.0.1:9735", pub, hp, sizeof hp), PH_ERR_PARSE);
    assert_int_equal(ph_node_parse_target("02ab@127.0.0.1:1", pub, hp, sizeof hp), PH_ERR_PARSE);
    char bad[200];
    snprintf(bad, sizeof bad, "02%063dz@127.0.0.1:9735", 1);
    assert_int_equal(ph_node_parse_target(bad, pub, hp, sizeof hp), PH_ERR_PARSE);
    snprintf(bad, sizeof bad, "04%064d@127.0.0.1:9735", 1);
    assert_int_equal(ph_node_parse_target(bad, pub, hp, sizeof hp), PH_ERR_PARSE);
    snprintf(bad, sizeof bad, "02%064d@", 1);
    assert_int_equal(ph_node_parse_target(bad, pub, hp, sizeof hp), PH_ERR_PARSE);
    assert_int_equal(ph_node_parse_target(good, pub, hp, 8), PH_ERR_PARSE);
}

/* Listening and connecting: every address form, and what is refused. */
static void test_listen_and_connect_addresses(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    ph_node_config nc;
    node_cfg(&nc, 0x31, NULL);
    nc.max_peers = 1;
    ph_node *n;
    assert_int_equal(ph_node_create(&n, ev, &nc, NULL, 0), PH_OK);
    char bound[64];
    /* a bare port means 127.0.0.1 */
    assert_int_equal(ph_node_listen(n, "0", bound, sizeof bound), PH_OK);
    assert_memory_equal(bound, "127.0.0.1:", 10);
    assert_int_equal(ph_node_listen(n, "127.0.0.1:x1", NULL, 0), PH_ERR_PARSE);
    assert_int_equal(ph_node_listen(n, "[::1", NULL, 0), PH_ERR_PARSE);
    assert_int_equal(ph_node_listen(n, "[::1]9", NULL, 0), PH_ERR_PARSE);
    assert_int_equal(ph_node_listen(n, ":9", NULL, 0), PH_ERR_PARSE);
    assert_int_equal(ph_node_listen(n, "127.0.0.1:", NULL, 0), PH_ERR_PARSE);
    assert_int_equal(ph_node_listen(n, "no.such.host.invalid:9", NULL, 0), PH_ERR_PARSE);
    /* a port in use */
    assert_int_equal(ph_node_listen(n, bound, NULL, 0), PH_ERR_IO);
    char target[200];
    snprintf(target, sizeof target, "02%064d", 1);
    assert_int_equal(ph_node_connect(n, target), PH_ERR_PARSE);
    uint8_t id[33];
    ph_node_id(n, id);
    char hex[67];
    for (size_t i = 0; i < 33; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    snprintf(target, sizeof target, "%s@[::1", hex);
    assert_int_equal(ph_node_connect(n, target), PH_ERR_PARSE);
    snprintf(target, sizeof target, "%s@%s", hex, bound);
    assert_int_equal(ph_node_connect(n, target), PH_OK);
    /* max_peers = 1: a second connection is refused at once */
    assert_int_equal(ph_node_connect(n, target), PH_ERR_LIMIT);
    ph_node_stats st;
    ph_node_get_stats(n, &st);
    assert_int_equal(st.connects, 1);
    ph_node_destroy(n);
    ph_ev_destroy(ev);
}

/* Output files the node cannot open are named in `why`. */
static void test_unopenable_files_named(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create_virtual(&ev, 0), PH_OK);
    const char *bad = "/nonexistent-dir/x";
    for (int k = 0; k < 3; k++) {
        ph_node_config nc;
        node_cfg(&nc, 0x32, NULL);
        if (k == 0)
            nc.keylog_path = bad;
        else if (k == 1)
            nc.record_path = bad;
        else
            nc.dump_path = bad;
        ph_node *n = NULL;
        char why[256] = "";
        assert_int_not_equal(ph_node_create(&n, ev, &nc, why, sizeof why), PH_OK);
        assert_null(n);
        assert_non_null(strstr(why, bad));
    }
    /* an alias over 32 bytes cannot be announced */
    ph_node_config nc;
    node_cfg(&nc, 0x33, NULL);
    nc.announce_alias = "an alias that is far longer than thirty-two bytes";
    ph_node *n = NULL;
    char why[256] = "";
    assert_int_not_equal(ph_node_create(&n, ev, &nc, why, sizeof why), PH_OK);
    assert_non_null(strstr(why, "announcing ourselves"));
    ph_ev_destroy(ev);
}

/* ---- two nodes over the model transport ---- */

struct closes {
    unsigned n;
    ph_err last;
};

static void count_close(void *ctx, ph_peer *p, ph_err reason, const char *why)
{
    (void)p;
    (void)why;
    struct closes *c = ctx;
    c->n++;
    c->last = reason;
}

static void run_virtual(ph_ev *ev, uint64_t seconds, bool (*done)(void *), void *ctx)
{
    uint64_t until = ph_ev_now(ev) + seconds * SEC;
    uint64_t deadline = ph_test_deadline();
    while (ph_ev_now(ev) < until && !(done && done(ctx))) {
        ph_err err = ph_ev_run_once(ev, -1);
        if (err == PH_ERR_STATE)
            break;
        assert_int_equal(err, PH_OK);
        ph_test_check_deadline(deadline, "the virtual loop");
    }
}

static bool node_stopped(void *ctx)
{
    return ph_node_shutting_down(ctx) && ph_node_peer_count(ctx) == 0;
}

static bool no_peers(void *ctx)
{
    return ph_node_peer_count(ctx) == 0;
}

/* B serves the sample to A, whose dump file cannot be written (/dev/full):
 * the failure is logged once and the session goes on. A shuts itself down
 * after 2 s without traffic, closing B cleanly; both close callbacks run. */
static void test_idle_shutdown_and_failing_dump(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create_virtual(&ev, 0), PH_OK);
    struct loglines la = {0}, lb = {0};
    struct closes ca = {0}, cb = {0};
    ph_node_config nca, ncb;
    node_cfg(&nca, 0x41, &la);
    nca.dump_path = "/dev/full";
    nca.exit_after_idle_ns = 2 * SEC;
    nca.on_peer_closed = count_close;
    nca.peer_closed_ctx = &ca;
    node_cfg(&ncb, 0x42, &lb);
    ncb.gossip_file = SAMPLE;
    ncb.on_peer_closed = count_close;
    ncb.peer_closed_ctx = &cb;
    ph_node *a, *b;
    char why[256] = "";
    assert_int_equal(ph_node_create(&a, ev, &nca, why, sizeof why), PH_OK);
    assert_int_equal(ph_node_create(&b, ev, &ncb, why, sizeof why), PH_OK);
    uint8_t aid[33];
    ph_node_id(a, aid);
    ph_conn *ea, *eb;
    ph_modelconn_config mc;
    memset(&mc, 0, sizeof mc);
    assert_int_equal(ph_modelconn_pair(ev, &mc, &ea, &eb), PH_OK);
    assert_int_equal(ph_node_add_conn(a, ea, NULL, NULL, NULL), PH_OK);
    static const uint8_t eph[32] = {9};
    assert_int_equal(ph_node_add_conn(b, eb, aid, eph, NULL), PH_OK);
    run_virtual(ev, 600, node_stopped, a);
    printf("%s", la.text);
    assert_true(node_stopped(a));
    assert_non_null(strstr(la.text, "idle for 2 s: shutting down"));
    assert_non_null(strstr(la.text, "dump: write failed"));
    ph_node_stats st;
    ph_node_get_stats(a, &st);
    assert_int_equal(st.gossip_in, 28809);
    /* B sees the close on a later turn of the loop */
    run_virtual(ev, 10, no_peers, b);
    assert_int_equal(ph_node_peer_count(b), 0);
    assert_int_equal(ca.n, 1);
    assert_int_equal(cb.n, 1);
    ph_node_destroy(a);
    ph_node_destroy(b);
    ph_ev_destroy(ev);
}

/* A connection refused by the other end: logged with the reason, the peer
 * gone, and the node without peers stops its loop. */
static void test_connect_refused(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    struct loglines log = {0};
    ph_node_config nc;
    node_cfg(&nc, 0x61, &log);
    ph_node *n;
    assert_int_equal(ph_node_create(&n, ev, &nc, NULL, 0), PH_OK);
    /* a port that was free a moment ago, with nobody listening */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    close(l);
    uint8_t id[33];
    ph_node_id(n, id);
    char target[200];
    int k = 0;
    for (size_t i = 0; i < 33; i++)
        k += snprintf(target + k, sizeof target - (size_t)k, "%02x", id[i]);
    snprintf(target + k, sizeof target - (size_t)k, "@127.0.0.1:%u", ntohs(sa.sin_port));
    assert_int_equal(ph_node_connect(n, target), PH_OK);
    uint64_t deadline = ph_test_deadline();
    while (ph_node_peer_count(n) > 0) {
        assert_int_equal(ph_ev_run_once(ev, 50), PH_OK);
        ph_test_check_deadline(deadline, "the refused connection to close");
    }
    printf("%s", log.text);
    assert_true(has_line(&log, "connect failed: Connection refused"));
    ph_node_destroy(n);
    ph_ev_destroy(ev);
}

/* ---- the accept back-off ---- */

static unsigned count_lines(const struct loglines *l, const char *what)
{
    unsigned n = 0;
    for (const char *p = strstr(l->text, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* Out of descriptors, accept fails with EMFILE: the listener pauses for
 * 100 ms (it would spin otherwise) and says so; once descriptors are free
 * the connection is taken. */
static void test_accept_backs_off_on_emfile(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    struct loglines log = {0};
    ph_node_config nc;
    node_cfg(&nc, 0x51, &log);
    ph_node *n;
    assert_int_equal(ph_node_create(&n, ev, &nc, NULL, 0), PH_OK);
    char bound[64];
    assert_int_equal(ph_node_listen(n, "127.0.0.1:0", bound, sizeof bound), PH_OK);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_port = htons((uint16_t)atoi(strchr(bound, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    /* no descriptor above the ones open now */
    int probe = open("/dev/null", O_RDONLY);
    assert_true(probe >= 0);
    close(probe);
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)probe;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    uint64_t deadline = ph_test_deadline();
    while (!has_line(&log, "pausing for 100 ms")) {
        assert_int_equal(ph_ev_run_once(ev, 50), PH_OK);
        ph_test_check_deadline(deadline, "the node to pause accepting (EMFILE)");
    }
    /* paused: turns of the loop do not retry (and log) each time; a new
     * try comes only with the 100 ms timer */
    for (int i = 0; i < 50; i++)
        assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_true(count_lines(&log, "pausing for 100 ms") < 10);
    ph_node_stats st;
    ph_node_get_stats(n, &st);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    while (ph_node_get_stats(n, &st), st.accepted == 0) {
        assert_int_equal(ph_ev_run_once(ev, 50), PH_OK);
        ph_test_check_deadline(deadline, "the node to accept once descriptors are free");
    }
    assert_true(has_line(&log, "Too many open files"));
    close(c);
    ph_node_destroy(n);
    ph_ev_destroy(ev);
}

static int setup(void **state)
{
    (void)state;
    return ph_noise_global_init() == PH_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_target),
        cmocka_unit_test(test_listen_and_connect_addresses),
        cmocka_unit_test(test_unopenable_files_named),
        cmocka_unit_test(test_idle_shutdown_and_failing_dump),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_accept_backs_off_on_emfile),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
