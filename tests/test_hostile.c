/* The hostile-peer suite: `peerheap peer` (the built binary, $PEERHEAP)
 * against clients that break the rules, on loopback only.
 *
 * Each case starts a fresh node process (so that its figures are its own),
 * plays one hostile client (or many) against it, and checks three things:
 *   - the node logs one clear line saying what happened (stderr, at the
 *     level the case names);
 *   - it still serves a well-behaved peer (handshake, init, ping -> pong),
 *     while the hostile connections are still open where that matters;
 *   - its memory stays bounded: the node's own figures, written at exit by
 *     `--stats-json` (jemalloc's hooks see every allocation, so the peak is
 *     exact): serving peak = peak live heap while serving minus the live
 *     heap after set-up; end growth = what serving left behind once every
 *     peer closed. Each case asserts a bound derived below.
 * In a sanitizer build jemalloc's hooks are unavailable: the cases run and
 * check everything but the memory bounds (said on stdout; LeakSanitizer
 * checks leaks there).
 *
 * The client is written here with the library's BOLT 8 (noise.h) and wire
 * builders, so it can craft acts and frames no real node would send. Every
 * wait has a deadline (DEADLINE_MS) and waits on an event (bytes, a log
 * line, a process exit); nothing asserts on time. Timeouts that cases rely
 * on are set short on the node's command line (1 s).
 *
 * The last test prints a table of every case's outcome and figures. */
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
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "gossip.h"
#include "gossip_query.h"
#include "gossip_sig.h"
#include "hex.h"
#include "json.h" /* hex */
#include "noise.h"
#include "outq.h"
#include "report.h"
#include "wire.h"
#include "wire_build.h"

#define DEADLINE_MS 60000u
#define SAMPLE "captures/mainnet-gossip.lnmsgs"
#define KIB 1024u
#define MIB (1024u * 1024u)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

/* ---- memory bounds (bytes of live heap above the node's set-up level) ----
 * An open session between messages holds its peer struct, BOLT 8 state
 * and queue: about 3.4 KB (the 500-connection case measures it); a
 * connection stuck in the handshake under 2 KiB (tests/test_peer.c
 * measures 1.4 KB). A frame being received holds its body (up to 65,569
 * bytes); a batch of frames being written holds up to 8 write buffers. Each
 * case's bound is its hostile part plus one control session, from these: */
#define SESSION (8u * KIB)
#define HANDSHAKE (2u * KIB)
#define FRAME 65569u
#define BATCH (8u * 65536u)
/* What a node keeps after serving, whatever it served: the event loop's
 * and the peer table's capacity grown to the most peers seen at once (500
 * connections leave about 50 KB), never per-connection state. */
#define END_GROWTH_BOUND (128u * KIB)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t deadline(void)
{
    return now_ms() + DEADLINE_MS;
}

static void check_deadline(uint64_t dl, const char *what)
{
    if (now_ms() >= dl) {
        print_message("timed out after %u s waiting for %s\n", DEADLINE_MS / 1000u, what);
        fail();
    }
}

static int ms_left(uint64_t dl)
{
    uint64_t now = now_ms();
    return now >= dl ? 0 : (int)(dl - now);
}

static void key_of(uint8_t priv[32], uint8_t pub[33], uint16_t seed)
{
    memset(priv, 0, 32);
    priv[0] = 0x42;
    priv[30] = (uint8_t)(seed >> 8);
    priv[31] = (uint8_t)seed;
    assert_int_equal(ph_noise_pubkey(priv, pub), PH_OK);
}

/* ---- the node under test: a `peerheap peer` process ---- */

struct node {
    pid_t pid;
    char dir[64];
    char err_path[96];
    char json_path[96];
    uint8_t id[33];
    uint16_t port;
    int exit_status;
};

struct figures {
    bool measured;
    uint64_t setup_live, peak_live, end_live;
    uint64_t serving_peak, end_growth;
    int64_t jemalloc_net;
    double cpu_seconds;
};

/* Nodes still running: a failing case leaves through cmocka's longjmp,
 * and the teardown must not leave its node behind. */
static pid_t running[4];

static void track(pid_t pid, bool on)
{
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        if (on && !running[i]) {
            running[i] = pid;
            return;
        }
        if (!on && running[i] == pid) {
            running[i] = 0;
            return;
        }
    }
    assert_false(on);
}

static int kill_running(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++) {
        if (!running[i])
            continue;
        kill(running[i], SIGKILL);
        waitpid(running[i], NULL, 0);
        running[i] = 0;
    }
    return 0;
}

static const char *peerheap_path(void)
{
    const char *p = getenv("PEERHEAP");
    return p && *p ? p : "build/peerheap";
}

/* Read lines from the node's stdout until "node_id" and "listening". */
static void read_banner(struct node *nd, int fd)
{
    char buf[512];
    size_t len = 0;
    uint64_t dl = deadline();
    bool have_id = false, have_port = false;
    while (!have_id || !have_port) {
        check_deadline(dl, "the node's node_id and listening lines");
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, ms_left(dl)) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) {
            print_message("the node exited before listening; its log: %s\n", nd->err_path);
            fail();
        }
        len += (size_t)n;
        buf[len] = 0;
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = 0;
            if (!strncmp(buf, "node_id ", 8)) {
                assert_int_equal(ph_hex_decode_fixed(buf + 8, nd->id, 33), PH_OK);
                have_id = true;
            } else if (!strncmp(buf, "listening ", 10)) {
                const char *colon = strrchr(buf, ':');
                assert_non_null(colon);
                nd->port = (uint16_t)atoi(colon + 1);
                have_port = true;
            }
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
    }
}

/* Start `peerheap peer` on 127.0.0.1:0 with the suite's options, then
 * `extra` (NULL-terminated). */
static void node_start(struct node *nd, const char *const *extra)
{
    memset(nd, 0, sizeof *nd);
    snprintf(nd->dir, sizeof nd->dir, "/tmp/ph-hostile-XXXXXX");
    assert_non_null(mkdtemp(nd->dir));
    char key_path[96];
    snprintf(key_path, sizeof key_path, "%s/node.key", nd->dir);
    snprintf(nd->err_path, sizeof nd->err_path, "%s/node.err", nd->dir);
    snprintf(nd->json_path, sizeof nd->json_path, "%s/node.json", nd->dir);
    int kfd = open(key_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(kfd >= 0);
    const char hex[] = "4200000000000000000000000000000000000000000000000000000000000007\n";
    assert_int_equal(write(kfd, hex, sizeof hex - 1), (ssize_t)(sizeof hex - 1));
    close(kfd);
    const char *argv[64];
    size_t n = 0;
    const char *fixed[] = { peerheap_path(), "peer", "--key", key_path, "--listen", "127.0.0.1:0",
                            "--stats-json", nd->json_path, "--log-level", "debug",
                            "--handshake-timeout", "1", "--frame-timeout", "1" };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = fixed[i];
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(n < 62);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int err = open(nd->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (err < 0 || dup2(out[1], 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        close(out[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    nd->pid = pid;
    track(pid, true);
    read_banner(nd, out[0]);
    close(out[0]);
}

/* Wait for the node process to exit, with the deadline. */
static int wait_exit(pid_t pid)
{
    uint64_t dl = deadline();
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        assert_true(r == 0);
        check_deadline(dl, "the node to exit");
        poll(NULL, 0, 5);
    }
}

/* SIGTERM (a clean shutdown), the exit status, and the node's figures. */
static void node_stop(struct node *nd, int want_status, struct figures *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(kill(nd->pid, SIGTERM), 0);
    nd->exit_status = wait_exit(nd->pid);
    track(nd->pid, false);
    if (nd->exit_status != want_status) {
        print_message("node exited with %d, expected %d; log: %s\n", nd->exit_status,
                      want_status, nd->err_path);
        fail();
    }
    /* --stats-json is a one-strategy report: read it as gate and diff do */
    ph_report *r = NULL;
    char why[256] = "";
    if (ph_report_load(&r, nd->json_path, why, sizeof why) != PH_OK || r->n_strategies != 1) {
        print_message("%s: %s\n", nd->json_path, why[0] ? why : "not one strategy");
        fail();
    }
    const ph_strategy_result *s = &r->strategies[0];
    f->setup_live = s->setup_live_bytes;
    f->peak_live = s->peak_live_bytes;
    f->end_live = s->end_live_bytes;
    f->cpu_seconds = s->cpu_seconds;
    uint64_t je_a = s->jemalloc_bytes_allocated, je_f = s->jemalloc_bytes_freed;
    uint64_t allocs = s->setup_allocations;
    ph_report_destroy(r);
    f->measured = allocs > 0;
    if (!f->measured && !SANITIZER_BUILD) {
        print_message("the node measured nothing: jemalloc's hooks unavailable outside a "
                      "sanitizer build\n");
        fail();
    }
    f->serving_peak = f->peak_live > f->setup_live ? f->peak_live - f->setup_live : 0;
    f->end_growth = f->end_live > f->setup_live ? f->end_live - f->setup_live : 0;
    f->jemalloc_net = (int64_t)(je_a - je_f);
}

static void node_cleanup(struct node *nd)
{
    char path[128];
    const char *files[] = { "node.key", "node.err", "node.json" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", nd->dir, files[i]);
        unlink(path);
    }
    rmdir(nd->dir);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

/* Lines of the node's log at `level` ("warn", "info" ...) containing `text`. */
static size_t log_count(const struct node *nd, const char *level, const char *text)
{
    char *log = slurp(nd->err_path);
    size_t hits = 0;
    for (char *line = log; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        /* "HH:MM:SS.mmm level message" */
        const char *lv = strlen(line) > 13 ? line + 13 : "";
        if (!strncmp(lv, level, strlen(level)) && strstr(line, text))
            hits++;
        if (!nl)
            break;
        line = nl + 1;
    }
    free(log);
    return hits;
}

static void wait_log(const struct node *nd, const char *level, const char *text, size_t count)
{
    uint64_t dl = deadline();
    char what[256];
    snprintf(what, sizeof what, "%zu '%s' line(s) '%s' in %s", count, level, text, nd->err_path);
    while (log_count(nd, level, text) < count) {
        check_deadline(dl, what);
        poll(NULL, 0, 10);
    }
}

/* Exactly `count` lines once the node is stopped. */
static void assert_lines(const struct node *nd, const char *level, const char *text, size_t count)
{
    size_t got = log_count(nd, level, text);
    if (got != count) {
        print_message("%zu '%s' lines with '%s', expected %zu (log %s)\n", got, level, text,
                      count, nd->err_path);
        fail();
    }
}

/* ---- a client ---- */

struct client {
    int fd;
    ph_noise *n;
    uint8_t *rbuf;
    size_t roff, rlen;
    uint8_t *msg;
    size_t msg_len;
};

#define RBUF (256u * KIB)

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
    return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

static void cl_attach(struct client *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->rbuf = malloc(RBUF);
    assert_non_null(c->rbuf);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void cl_open_fd(struct client *c, uint16_t port, int fd)
{
    struct sockaddr_in sa = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cl_attach(c, fd);
}

static void cl_open(struct client *c, uint16_t port)
{
    cl_open_fd(c, port, tcp_socket());
}

static void cl_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ph_noise_destroy(c->n);
    c->n = NULL;
    free(c->rbuf);
    c->rbuf = NULL;
    free(c->msg);
    c->msg = NULL;
}

/* Close with a TCP reset instead of a FIN. */
static void cl_reset(struct client *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    cl_close(c);
}

static void cl_write(struct client *c, const uint8_t *b, size_t len)
{
    uint64_t dl = deadline();
    while (len) {
        ssize_t n = send(c->fd, b, len, MSG_NOSIGNAL);
        if (n > 0) {
            b += n;
            len -= (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EINTR));
        check_deadline(dl, "room to write to the node");
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        poll(&pfd, 1, ms_left(dl));
    }
}

/* More bytes into rbuf; false on EOF or reset. */
static bool cl_fill(struct client *c)
{
    uint64_t dl = deadline();
    if (c->roff == c->rlen)
        c->roff = c->rlen = 0;
    if (c->rlen == RBUF) {
        memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
        c->rlen -= c->roff;
        c->roff = 0;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return true;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return false;
        check_deadline(dl, "bytes from the node");
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        poll(&pfd, 1, ms_left(dl));
    }
}

static void cl_read_exact(struct client *c, uint8_t *out, size_t len)
{
    while (c->rlen - c->roff < len)
        assert_true(cl_fill(c));
    memcpy(out, c->rbuf + c->roff, len);
    c->roff += len;
}

/* BOLT 8 as initiator towards the node, key `seed`. */
static void cl_handshake(struct client *c, const uint8_t node_id[33], uint16_t seed)
{
    uint8_t priv[32], pub[33], act[66];
    key_of(priv, pub, seed);
    ph_noise_hs *hs = NULL;
    assert_int_equal(ph_noise_hs_create(&hs, priv, node_id, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_OK);
    cl_write(c, act, 50);
    cl_read_exact(c, act, 50);
    assert_int_equal(ph_noise_act2_read(hs, act, 50), PH_OK);
    assert_int_equal(ph_noise_act3_write(hs, act), PH_OK);
    cl_write(c, act, 66);
    assert_int_equal(ph_noise_hs_finish(hs, &c->n), PH_OK);
    ph_noise_hs_destroy(hs);
}

static void cl_send(struct client *c, const uint8_t *msg, size_t len)
{
    uint8_t *f = malloc(len + PH_NOISE_OVERHEAD);
    assert_non_null(f);
    assert_int_equal(ph_noise_encrypt(c->n, msg, len, f), PH_OK);
    cl_write(c, f, len + PH_NOISE_OVERHEAD);
    free(f);
}

static void cl_send_wire(struct client *c, ph_wire_msg *m)
{
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(ph_wire_encode_alloc(m, &b, &len), PH_OK);
    cl_send(c, b, len);
    free(b);
    ph_wire_msg_free(m);
}

/* The next message into c->msg; false on EOF. */
static bool cl_recv(struct client *c)
{
    for (;;) {
        if (c->roff < c->rlen) {
            size_t used = 0, mlen = 0, need = 0;
            const uint8_t *m = NULL;
            assert_int_equal(ph_noise_decrypt_feed(c->n, c->rbuf + c->roff, c->rlen - c->roff,
                                                   &used, &m, &mlen, &need), PH_OK);
            c->roff += used;
            if (m) {
                free(c->msg);
                c->msg = malloc(mlen ? mlen : 1);
                assert_non_null(c->msg);
                memcpy(c->msg, m, mlen);
                c->msg_len = mlen;
                return true;
            }
        }
        if (!cl_fill(c))
            return false;
    }
}

static uint16_t cl_type(const struct client *c)
{
    return ph_be16(c->msg);
}

/* Read until the node closes; true if one of the messages was a warning. */
static bool cl_until_eof(struct client *c)
{
    bool warned = false;
    while (cl_recv(c))
        warned = warned || cl_type(c) == PH_WIRE_WARNING;
    return warned;
}

static void mainnet(uint8_t chain[32])
{
    assert_int_equal(ph_gossip_chain_hash("mainnet", chain), PH_OK);
}

static void cl_send_init(struct client *c, bool gossip_queries)
{
    uint8_t fv[1] = { gossip_queries ? 0x80 : 0 }, chain[32];
    mainnet(chain);
    ph_wire_msg *m = NULL;
    assert_int_equal(ph_wire_init_new(&m, fv, 1, (const uint8_t(*)[32])chain, 1), PH_OK);
    cl_send_wire(c, m);
}

/* Skip what the node sends unasked (its init comes first, then maybe its
 * own gossip_timestamp_filter) until a message of `type`. */
static void cl_expect(struct client *c, uint16_t type)
{
    do
        assert_true(cl_recv(c));
    while (cl_type(c) != type);
}

/* Connected, handshake and init done. */
static void cl_session(struct client *c, const struct node *nd, uint16_t seed, bool gossip_queries)
{
    cl_open(c, nd->port);
    cl_handshake(c, nd->id, seed);
    cl_send_init(c, gossip_queries);
    assert_true(cl_recv(c));
    assert_int_equal(cl_type(c), PH_WIRE_INIT);
}

static void cl_ping(struct client *c, uint16_t ask)
{
    uint8_t ping[6] = { 0, 18, (uint8_t)(ask >> 8), (uint8_t)ask, 0, 0 };
    cl_send(c, ping, sizeof ping);
}

/* The control: a well-behaved peer gets through the handshake, init, and a
 * ping is answered. */
static void good_peer(const struct node *nd)
{
    struct client c;
    cl_session(&c, nd, 999, false);
    cl_ping(&c, 16);
    cl_expect(&c, PH_WIRE_PONG);
    assert_int_equal(c.msg_len, 4 + 16);
    cl_close(&c);
}

/* ---- the outcome table ---- */

struct outcome {
    const char *name;
    char result[160];
    struct figures fig;
    uint64_t bound;
};

static struct outcome outcomes[40];
static size_t n_outcomes;

/* Check the node's figures against `bound` (serving peak) and the end
 * growth bound, and record the case. */
static void record(const char *name, const char *result, const struct figures *f, uint64_t bound)
{
    assert_true(n_outcomes < sizeof outcomes / sizeof outcomes[0]);
    struct outcome *o = &outcomes[n_outcomes++];
    o->name = name;
    snprintf(o->result, sizeof o->result, "%s", result);
    o->fig = *f;
    o->bound = bound;
    if (!f->measured) {
        print_message("%s: memory bound not checked (sanitizer build: no jemalloc hooks)\n",
                      name);
        return;
    }
    if (f->serving_peak > bound || f->end_growth > END_GROWTH_BOUND) {
        print_message("%s: serving peak %llu (bound %llu), end growth %llu (bound %u)\n", name,
                      (unsigned long long)f->serving_peak, (unsigned long long)bound,
                      (unsigned long long)f->end_growth, END_GROWTH_BOUND);
        fail();
    }
}

/* A case on a node with `extra` options: run `body`, check the control
 * peer, stop, check memory. */
#define NODE_OPTS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- handshake cases ---- */

/* Acts 1 and 3 against the node as responder, broken in `how`. */
enum bad_act { ACT1_VERSION, ACT1_KEY, ACT1_MAC, ACT3_MAC };

static void bad_act(enum bad_act how, const char *name, const char *line)
{
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_open(&c, nd.port);
    uint8_t priv[32], pub[33], act[66];
    key_of(priv, pub, 5);
    ph_noise_hs *hs = NULL;
    assert_int_equal(ph_noise_hs_create(&hs, priv, nd.id, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hs, act), PH_OK);
    if (how == ACT1_VERSION)
        act[0] = 1;
    else if (how == ACT1_KEY)
        act[1] ^= 0x07; /* 0x02/0x03 prefix becomes 0x05/0x04: not a point */
    else if (how == ACT1_MAC)
        act[49] ^= 1;
    cl_write(&c, act, 50);
    if (how == ACT3_MAC) {
        cl_read_exact(&c, act, 50);
        assert_int_equal(ph_noise_act2_read(hs, act, 50), PH_OK);
        assert_int_equal(ph_noise_act3_write(hs, act), PH_OK);
        act[65] ^= 1;
        cl_write(&c, act, 66);
    }
    ph_noise_hs_destroy(hs);
    assert_false(cl_fill(&c)); /* closed without a word */
    wait_log(&nd, "warn", line, 1);
    cl_close(&c);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", line, 1);
    record(name, line, &f, 2 * SESSION);
    node_cleanup(&nd);
}

static void test_bad_act1_version(void **state)
{
    (void)state;
    bad_act(ACT1_VERSION, "bad act 1 (version)", "disconnect: handshake failed at act 1");
}

static void test_bad_act1_key(void **state)
{
    (void)state;
    bad_act(ACT1_KEY, "bad act 1 (key)", "disconnect: handshake failed at act 1");
}

static void test_bad_act1_mac(void **state)
{
    (void)state;
    bad_act(ACT1_MAC, "bad act 1 (MAC)", "disconnect: handshake failed at act 1");
}

static void test_bad_act3(void **state)
{
    (void)state;
    bad_act(ACT3_MAC, "bad act 3", "disconnect: handshake failed at act 3");
}

/* Act 2 is read by an initiator: the node connects out to us and gets a
 * broken act 2. */
static void test_bad_act2(void **state)
{
    (void)state;
    int l = tcp_socket();
    struct sockaddr_in sa = loopback(0);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 4), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    uint8_t priv[32], pub[33];
    key_of(priv, pub, 6);
    char target[128], hex[67];
    ph_hex_encode(pub, 33, hex);
    snprintf(target, sizeof target, "%s@127.0.0.1:%u", hex, ntohs(sa.sin_port));
    struct node nd;
    node_start(&nd, NODE_OPTS("--connect", target));
    struct pollfd pfd = { .fd = l, .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, (int)DEADLINE_MS), 1);
    struct client c;
    cl_attach(&c, accept(l, NULL, NULL));
    close(l);
    ph_noise_hs *hs = NULL;
    assert_int_equal(ph_noise_hs_create(&hs, priv, NULL, NULL), PH_OK);
    uint8_t act[66];
    cl_read_exact(&c, act, 50);
    assert_int_equal(ph_noise_act1_read(hs, act, 50), PH_OK);
    assert_int_equal(ph_noise_act2_write(hs, act), PH_OK);
    act[49] ^= 1;
    cl_write(&c, act, 50);
    ph_noise_hs_destroy(hs);
    assert_false(cl_fill(&c));
    wait_log(&nd, "warn", "disconnect: handshake failed at act 2", 1);
    cl_close(&c);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 1, &f); /* 1: a --connect never got to init */
    assert_lines(&nd, "warn", "disconnect: handshake failed at act 2", 1);
    record("bad act 2", "disconnect: handshake failed at act 2", &f, 2 * SESSION);
    node_cleanup(&nd);
}

static void test_half_act_then_silence(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_open(&c, nd.port);
    uint8_t half[25] = { 0 };
    cl_write(&c, half, sizeof half);
    good_peer(&nd); /* served while the half act waits */
    assert_false(cl_fill(&c));
    wait_log(&nd, "warn", "disconnect: handshake timeout", 1);
    cl_close(&c);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "disconnect: handshake timeout", 1);
    record("half an act, then silence", "disconnect: handshake timeout (1 s)", &f,
           SESSION + HANDSHAKE);
    node_cleanup(&nd);
}

/* 50 connections sending act 1 a byte at a time, one byte per connection
 * every round, for longer than the handshake timeout. */
static void test_slowloris_handshakes(void **state)
{
    (void)state;
    enum { N = 50 };
    struct node nd;
    node_start(&nd, NULL);
    struct client c[N];
    uint8_t act[N][50];
    for (int i = 0; i < N; i++) {
        cl_open(&c[i], nd.port);
        uint8_t priv[32], pub[33];
        key_of(priv, pub, (uint16_t)(100 + i));
        ph_noise_hs *hs = NULL;
        assert_int_equal(ph_noise_hs_create(&hs, priv, nd.id, NULL), PH_OK);
        assert_int_equal(ph_noise_act1_write(hs, act[i]), PH_OK);
        ph_noise_hs_destroy(hs);
    }
    /* A byte per connection per round, a round every 30 ms (the
     * attacker's pace, not a wait for the node): act 1 would take 1.5 s,
     * the handshake timeout is 1 s. */
    int open_left = N;
    uint64_t dl = deadline();
    for (int b = 0; b < 50 && open_left; b++) {
        for (int i = 0; i < N; i++) {
            if (c[i].fd >= 0 && send(c[i].fd, &act[i][b], 1, MSG_NOSIGNAL) != 1) {
                cl_close(&c[i]);
                open_left--;
            }
        }
        if (b == 10)
            good_peer(&nd); /* served in the middle of the slowloris */
        poll(NULL, 0, 30);
        check_deadline(dl, "slowloris rounds");
    }
    for (int i = 0; i < N; i++)
        if (c[i].fd >= 0) {
            assert_false(cl_fill(&c[i]));
            cl_close(&c[i]);
        }
    wait_log(&nd, "warn", "disconnect: handshake timeout", N);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "disconnect: handshake timeout", N);
    record("slowloris handshakes x50", "each: disconnect: handshake timeout (1 s)", &f,
           SESSION + N * HANDSHAKE);
    node_cleanup(&nd);
}

static void test_reset_in_handshake(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_open(&c, nd.port);
    uint8_t part[20] = { 0 };
    cl_write(&c, part, sizeof part);
    wait_log(&nd, "info", "connected", 1);
    cl_reset(&c);
    wait_log(&nd, "info", "disconnect: connection reset during the handshake", 1);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "disconnect", 0);
    record("reset during the handshake", "info: disconnect: connection reset during the handshake",
           &f, SESSION + HANDSHAKE);
    node_cleanup(&nd);
}

/* ---- session cases ---- */

static void test_bad_mac_mid_session(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_session(&c, &nd, 7, false);
    cl_ping(&c, 4);
    cl_expect(&c, PH_WIRE_PONG);
    uint8_t ping[6] = { 0, 18, 0, 4, 0, 0 }, frame[6 + PH_NOISE_OVERHEAD];
    assert_int_equal(ph_noise_encrypt(c.n, ping, sizeof ping, frame), PH_OK);
    frame[PH_NOISE_HDR_LEN + 2] ^= 0x40; /* a bit of the body */
    cl_write(&c, frame, sizeof frame);
    cl_until_eof(&c);
    wait_log(&nd, "warn", "disconnect: decryption failed", 1);
    cl_close(&c);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "disconnect: decryption failed", 1);
    record("bad MAC mid-session", "disconnect: decryption failed - bad MAC", &f, 2 * SESSION);
    node_cleanup(&nd);
}

static void test_length_never_sent(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_session(&c, &nd, 8, false);
    uint8_t msg[60000] = { 0x80, 0x03 };
    uint8_t *frame = malloc(sizeof msg + PH_NOISE_OVERHEAD);
    assert_int_equal(ph_noise_encrypt(c.n, msg, sizeof msg, frame), PH_OK);
    cl_write(&c, frame, PH_NOISE_HDR_LEN + 100); /* the header promises 60,016 bytes */
    free(frame);
    good_peer(&nd);
    cl_until_eof(&c);
    wait_log(&nd, "warn", "disconnect: a frame still incomplete", 1);
    cl_close(&c);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "disconnect: a frame still incomplete", 1);
    record("length header, bytes never sent", "disconnect: a frame still incomplete 1.0 s after "
           "its first byte", &f, 2 * SESSION + FRAME);
    node_cleanup(&nd);
}

/* One session whose first message after the handshake is `first` (init
 * with `fv` and `chain` when first is NULL): a warning, then the node
 * closes and logs `line`. */
static void init_case(const char *name, const uint8_t *first, size_t first_len,
                      const uint8_t *fv, size_t flen, const char *net, const char *line)
{
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_open(&c, nd.port);
    cl_handshake(&c, nd.id, 9);
    if (first) {
        cl_send(&c, first, first_len);
    } else {
        uint8_t chain[32];
        assert_int_equal(ph_gossip_chain_hash(net, chain), PH_OK);
        ph_wire_msg *m = NULL;
        assert_int_equal(ph_wire_init_new(&m, fv, flen, (const uint8_t(*)[32])chain, 1), PH_OK);
        cl_send_wire(&c, m);
    }
    assert_true(cl_until_eof(&c));
    wait_log(&nd, "warn", line, 1);
    cl_close(&c);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", line, 1);
    char result[160];
    snprintf(result, sizeof result, "warning sent; %s", line);
    record(name, result, &f, 2 * SESSION);
    node_cleanup(&nd);
}

static void test_first_not_init(void **state)
{
    (void)state;
    uint8_t ping[6] = { 0, 18, 0, 4, 0, 0 };
    init_case("first message not init", ping, sizeof ping, NULL, 0, NULL,
              "disconnect: first message is not init");
}

static void test_unknown_even_feature(void **state)
{
    (void)state;
    uint8_t fv[13] = { 0x10 }; /* bit 100 */
    init_case("unknown even feature", NULL, 0, fv, sizeof fv, "mainnet",
              "disconnect: unknown required feature bit 100");
}

/* basic_mpp (bit 17) without payment_secret (14/15). */
static void test_feature_without_dependency(void **state)
{
    (void)state;
    uint8_t fv[3] = { 0x02, 0x00, 0x00 }; /* bit 17 */
    init_case("feature without its dependency", NULL, 0, fv, sizeof fv, "mainnet",
              "disconnect: feature bit 17 set without its dependency payment_secret");
}

static void test_foreign_chain(void **state)
{
    (void)state;
    uint8_t fv[1] = { 0 };
    init_case("foreign chain", NULL, 0, fv, 1, "testnet", "disconnect: no common chain");
}

static void test_ping_flood(void **state)
{
    (void)state;
    enum { PINGS = 5000 };
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_session(&c, &nd, 10, false);
    size_t one = 6 + PH_NOISE_OVERHEAD;
    uint8_t *frames = malloc(PINGS * one);
    uint8_t ping[6] = { 0, 18, 0, 16, 0, 0 };
    for (int i = 0; i < PINGS; i++)
        assert_int_equal(ph_noise_encrypt(c.n, ping, 6, frames + (size_t)i * one), PH_OK);
    cl_write(&c, frames, PINGS * one);
    free(frames);
    /* The bucket answers its burst (1,500), then 10 per second. */
    int pongs = 0;
    for (; pongs < 1500; pongs++)
        cl_expect(&c, PH_WIRE_PONG);
    wait_log(&nd, "warn", "ping flood: 1 pings not answered", 1);
    good_peer(&nd);
    cl_close(&c);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "ping flood: 1 pings not answered", 1);
    /* The burst's pongs can all be queued at once (a read takes up to
     * 64 KB: 1,600 pings); each queued pong costs about 265 bytes of heap
     * for its 20 bytes. */
    record("ping flood (5,000 pings)", "1,500 answered (the burst), the rest ignored; one "
           "'ping flood' warning; session kept", &f, 1500u * 512u + 2 * SESSION);
    node_cleanup(&nd);
}

/* 20 pings asking 65,531 bytes, then pings asking 65,532 and 65,535: never
 * answered. With a 128 KiB soft cap reading pauses after two pongs and the
 * rest wait in the stash: the pongs queued while the stash drains used to
 * stay queued (no write interest) until the client sent something else. */
static void test_big_pings(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NODE_OPTS("--queue-soft", "131072", "--ping-interval", "0"));
    struct client c;
    cl_session(&c, &nd, 11, false);
    for (int i = 0; i < 20; i++)
        cl_ping(&c, 65531);
    for (int i = 0; i < 20; i++) {
        cl_expect(&c, PH_WIRE_PONG);
        assert_int_equal(c.msg_len, 65535);
    }
    cl_ping(&c, 65532);
    cl_ping(&c, 65535);
    cl_ping(&c, 16); /* answered: the two before it were not */
    cl_expect(&c, PH_WIRE_PONG);
    assert_int_equal(c.msg_len, 4 + 16);
    wait_log(&nd, "info", "ping asking for 65532 pong bytes not answered", 1);
    good_peer(&nd);
    cl_close(&c);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "info", "pong bytes not answered", 1);
    record("pings asking >= 65,532 bytes", "20 x 65,531 all answered; 65,532 and 65,535 ignored "
           "(one info line)", &f, 131072u + 65535u + BATCH + 2 * SESSION);
    node_cleanup(&nd);
}

static void test_unknown_messages(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NULL);
    struct client c;
    cl_session(&c, &nd, 12, false);
    uint8_t odd[1000] = { 0x80, 0x01 };
    for (int i = 0; i < 100; i++)
        cl_send(&c, odd, sizeof odd);
    cl_ping(&c, 2);
    cl_expect(&c, PH_WIRE_PONG);
    uint8_t even[10] = { 0x80, 0x00 };
    cl_send(&c, even, sizeof even);
    assert_true(cl_until_eof(&c));
    wait_log(&nd, "warn", "disconnect: unknown even message type 32768", 1);
    cl_close(&c);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "debug", "ignored unknown odd message type 32769", 100);
    assert_lines(&nd, "warn", "disconnect: unknown even message type 32768", 1);
    record("unknown odd, then even messages", "100 odd ignored (debug line each); even: warning "
           "sent, disconnect", &f, 2 * SESSION + FRAME);
    node_cleanup(&nd);
}

/* Known messages that do not parse, one session each, on one node. */
static void test_malformed_known(void **state)
{
    (void)state;
    uint8_t chain[32], sec[2][32], bsec[2][32], pub[33];
    mainnet(chain);
    for (int i = 0; i < 2; i++) {
        key_of(sec[i], pub, (uint16_t)(200 + i));
        key_of(bsec[i], pub, (uint16_t)(210 + i));
    }
    uint8_t ann[512], upd[256], na[256];
    size_t ann_len = 0, upd_len = 0, na_len = 0;
    uint64_t scid = ph_wire_scid_make(800000, 1, 0);
    assert_int_equal(ph_gossip_build_channel_announcement(chain, scid, sec, bsec, ann, sizeof ann,
                                                          &ann_len), PH_OK);
    ph_gossip_update_fields uf = { .scid = scid, .timestamp = 1700000000 };
    memcpy(uf.chain_hash, chain, 32);
    assert_int_equal(ph_gossip_build_channel_update(&uf, sec[0], upd, sizeof upd, &upd_len), PH_OK);
    const uint8_t addr[] = { 1, 127, 0, 0, 1, 0x26, 0x07 };
    ph_gossip_node_fields nf = { .timestamp = 1700000001, .addresses = addr,
                                 .addresses_len = sizeof addr };
    assert_int_equal(ph_gossip_build_node_announcement(&nf, sec[0], na, sizeof na, &na_len), PH_OK);
    na[na_len - sizeof addr - 1] = 40; /* addrlen 40, 7 bytes follow */
    uint8_t ping[5] = { 0, 18, 0, 4, 0 };
    uint8_t filter[20] = { 0x01, 0x09 };
    uint8_t range[30] = { 0x01, 0x07 };
    struct { const uint8_t *m; size_t len; const char *line; } k[] = {
        { ping, sizeof ping, "disconnect: malformed ping" },
        { upd, upd_len - 9, "disconnect: malformed channel_update" },
        { ann, 300, "disconnect: malformed channel_announcement" },
        { na, na_len, "disconnect: malformed node_announcement" },
        { filter, sizeof filter, "disconnect: malformed gossip_timestamp_filter" },
        { range, sizeof range, "disconnect: malformed query_channel_range" },
    };
    struct node nd;
    node_start(&nd, NULL);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        struct client c;
        cl_session(&c, &nd, (uint16_t)(20 + i), true);
        cl_send(&c, k[i].m, k[i].len);
        assert_true(cl_until_eof(&c));
        cl_close(&c);
        wait_log(&nd, "warn", k[i].line, 1);
    }
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        assert_lines(&nd, "warn", k[i].line, 1);
    record("malformed known messages x6", "each: warning sent, disconnect: malformed <type> "
           "(ping, channel_update, channel_announcement, node_announcement, filter, range)",
           &f, 2 * SESSION);
    node_cleanup(&nd);
}

/* s -> n - s: the same signature in high-S form. */
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

/* A source sends a valid channel, then updates with a bad signature and a
 * high-S signature, then a valid newer update. A listening peer gets the
 * valid ones only; the source gets a warning for each bad one. */
static void test_bad_gossip_signatures(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NODE_OPTS("--gossip-filter", "none"));
    struct client lis, src;
    cl_session(&lis, &nd, 30, true);
    uint8_t chain[32], buf[512];
    size_t n = 0;
    mainnet(chain);
    assert_int_equal(ph_gossip_build_timestamp_filter(chain, 0, UINT32_MAX, buf, sizeof buf, &n),
                     PH_OK);
    cl_send(&lis, buf, n);
    wait_log(&nd, "info", "gossip backlog sent (0 messages)", 1);
    cl_session(&src, &nd, 31, true);
    uint8_t sec[2][32], bsec[2][32], pub[2][33], bpub[33];
    for (int i = 0; i < 2; i++) {
        key_of(sec[i], pub[i], (uint16_t)(300 + i));
        key_of(bsec[i], bpub, (uint16_t)(310 + i));
    }
    uint64_t scid = ph_wire_scid_make(800000, 7, 1);
    uint8_t ann[512], upd[4][256];
    size_t ann_len = 0, upd_len = 0;
    assert_int_equal(ph_gossip_build_channel_announcement(chain, scid, sec, bsec, ann, sizeof ann,
                                                          &ann_len), PH_OK);
    ph_gossip_fields gf;
    assert_int_equal(ph_gossip_parse(ann, ann_len, &gf), PH_OK);
    int first = memcmp(gf.node_id[0], pub[0], 33) == 0 ? 0 : 1;
    ph_gossip_update_fields uf = { .scid = scid, .cltv_expiry_delta = 40,
                                   .htlc_maximum_msat = 100000000 };
    memcpy(uf.chain_hash, chain, 32);
    for (int i = 0; i < 4; i++) {
        uf.timestamp = 1700000000u + (uint32_t)i;
        assert_int_equal(ph_gossip_build_channel_update(&uf, sec[first], upd[i], sizeof upd[i],
                                                        &upd_len), PH_OK);
    }
    upd[1][upd_len - 1] ^= 1;  /* the signed bytes changed */
    flip_s(upd[2] + 2);        /* high-S */
    cl_send(&src, ann, ann_len);
    for (int i = 0; i < 4; i++)
        cl_send(&src, upd[i], upd_len);
    /* The listener: announcement, update 0, update 3, and nothing else. */
    const uint8_t *want[3] = { ann, upd[0], upd[3] };
    size_t want_len[3] = { ann_len, upd_len, upd_len };
    for (int i = 0; i < 3; i++) {
        do
            assert_true(cl_recv(&lis));
        while (cl_type(&lis) == PH_WIRE_GOSSIP_TIMESTAMP_FILTER);
        assert_int_equal(lis.msg_len, want_len[i]);
        assert_memory_equal(lis.msg, want[i], want_len[i]);
    }
    int warnings = 0;
    while (warnings < 2) {
        assert_true(cl_recv(&src));
        warnings += cl_type(&src) == PH_WIRE_WARNING;
    }
    wait_log(&nd, "warn", "channel_update with an invalid signature: not stored, not relayed", 1);
    good_peer(&nd);
    cl_close(&lis);
    cl_close(&src);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "with an invalid signature: not stored, not relayed", 1);
    record("bad gossip signatures (flipped, high-S)", "never relayed; a warning to the source "
           "each; one warn line", &f, 3 * SESSION);
    node_cleanup(&nd);
}

/* Asks for all gossip (the 4.8 MB sample) and never reads, with a 4 KiB
 * receive buffer: the backlog streams only as the queue drains, so the
 * node holds at most its caps; our own pings go unanswered, so the pong
 * timeout disconnects it. */
static void test_never_reads(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NODE_OPTS("--gossip", SAMPLE, "--queue-soft", "262144", "--queue-hard",
                              "1048576", "--ping-interval", "1", "--pong-timeout", "1"));
    struct client c;
    int fd = tcp_socket();
    int small = 4096;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    cl_open_fd(&c, nd.port, fd);
    cl_handshake(&c, nd.id, 40);
    cl_send_init(&c, true);
    uint8_t chain[32], buf[64];
    size_t n = 0;
    mainnet(chain);
    assert_int_equal(ph_gossip_build_timestamp_filter(chain, 0, UINT32_MAX, buf, sizeof buf, &n),
                     PH_OK);
    cl_send(&c, buf, n);
    good_peer(&nd);
    wait_log(&nd, "warn", "disconnect: no pong to our ping", 1);
    cl_close(&c);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "disconnect: no pong to our ping", 1);
    /* The guarantee is the hard cap (1 MiB here); the backlog streams at
     * 64 KiB of low water, so it holds far less: that is the bound. */
    record("asks for all gossip, never reads", "backlog held at the queue's low water; "
           "disconnect: no pong to our ping", &f, 64u * KIB + BATCH + 2 * SESSION);
    node_cleanup(&nd);
}

/* One channel named 8,000 times in a 64 KB query: answered once. */
static void test_scid_query_repeats(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NODE_OPTS("--gossip", SAMPLE, "--gossip-filter", "none"));
    struct client c;
    cl_session(&c, &nd, 41, true);
    /* a channel of the sample: ask the range first */
    uint8_t chain[32], q[128];
    size_t qn = 0;
    mainnet(chain);
    assert_int_equal(ph_gossip_build_query_channel_range(chain, 0, UINT32_MAX, q, sizeof q, &qn),
                     PH_OK);
    cl_send(&c, q, qn);
    cl_expect(&c, PH_WIRE_REPLY_CHANNEL_RANGE);
    ph_wire_msg *m = NULL;
    assert_int_equal(ph_wire_decode(c.msg, c.msg_len, 0, &m, NULL), PH_OK);
    const uint8_t *ids = NULL;
    size_t idlen = 0, k = 0;
    uint64_t scid = 0;
    assert_int_equal(ph_wire_get_bytes(m, "encoded_short_ids", &ids, &idlen), PH_OK);
    assert_int_equal(ph_wire_short_ids_decode(ids, idlen, &scid, 1, &k), PH_OK);
    ph_wire_msg_free(m);
    size_t counts[2] = { 0, 0 };
    uint64_t *many = malloc(8000 * sizeof *many);
    uint8_t *big = malloc(65535);
    for (int round = 0; round < 2; round++) {
        size_t nids = round ? 8000 : 1;
        for (size_t i = 0; i < nids; i++)
            many[i] = scid;
        size_t blen = 0;
        assert_int_equal(ph_gossip_build_query_short_channel_ids(chain, many, nids, big, 65535,
                                                                 &blen), PH_OK);
        cl_send(&c, big, blen);
        for (;;) {
            assert_true(cl_recv(&c));
            if (cl_type(&c) == PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END)
                break;
            if (cl_type(&c) >= 256 && cl_type(&c) <= 258)
                counts[round]++;
        }
    }
    free(big);
    free(many);
    assert_true(counts[0] >= 1);
    assert_int_equal(counts[1], counts[0]);
    good_peer(&nd);
    cl_close(&c);
    struct figures f;
    node_stop(&nd, 0, &f);
    char result[160];
    snprintf(result, sizeof result, "answered once: %zu messages, as for the channel named once",
             counts[1]);
    /* The query's frame, its plan (16 bytes per scid while sorting, 4 per
     * scid for the order) and the answer of one channel. */
    record("64 KB query naming one channel 8,000 times", result, &f,
           2 * SESSION + FRAME + 8190u * 20u + 8 * KIB);
    node_cleanup(&nd);
}

static size_t raise_nofile(size_t want)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (size_t)rl.rlim_cur;
}

/* 500 connections opened at once, every handshake interleaved, all open
 * together; then the control peer. */
static void test_500_connections(void **state)
{
    (void)state;
    enum { N = 500 };
    if (raise_nofile(N + 64) < N + 64) {
        print_message("RLIMIT_NOFILE cannot be raised to %d: this case needs it\n", N + 64);
        fail();
    }
    struct node nd;
    node_start(&nd, NODE_OPTS("--handshake-timeout", "30"));
    static struct client c[N];
    static ph_noise_hs *hs[N];
    uint8_t act[66];
    for (int i = 0; i < N; i++)
        cl_open(&c[i], nd.port);
    for (int i = 0; i < N; i++) {
        uint8_t priv[32], pub[33];
        key_of(priv, pub, (uint16_t)(1000 + i));
        assert_int_equal(ph_noise_hs_create(&hs[i], priv, nd.id, NULL), PH_OK);
        assert_int_equal(ph_noise_act1_write(hs[i], act), PH_OK);
        cl_write(&c[i], act, 50);
    }
    for (int i = 0; i < N; i++) {
        cl_read_exact(&c[i], act, 50);
        assert_int_equal(ph_noise_act2_read(hs[i], act, 50), PH_OK);
        assert_int_equal(ph_noise_act3_write(hs[i], act), PH_OK);
        cl_write(&c[i], act, 66);
        assert_int_equal(ph_noise_hs_finish(hs[i], &c[i].n), PH_OK);
        ph_noise_hs_destroy(hs[i]);
        cl_send_init(&c[i], false);
    }
    for (int i = 0; i < N; i++) {
        assert_true(cl_recv(&c[i]));
        assert_int_equal(cl_type(&c[i]), PH_WIRE_INIT);
    }
    wait_log(&nd, "info", "init: features", N);
    good_peer(&nd);
    for (int i = 0; i < N; i++)
        cl_close(&c[i]);
    wait_log(&nd, "info", "disconnect: connection closed by the peer", N + 1);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "", 0);
    char result[160];
    snprintf(result, sizeof result, "all %d open at once, served; %llu bytes per session at the "
             "peak", N, (unsigned long long)(f.serving_peak / (N + 1)));
    record("500 simultaneous connections", result, &f, (N + 1) * (uint64_t)SESSION);
    node_cleanup(&nd);
}

/* 1,000 connect / handshake / init / disconnect cycles: what the node
 * keeps afterwards stays within a small constant. */
static void test_1000_cycles(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct node nd;
    node_start(&nd, NULL);
    for (int i = 0; i < N; i++) {
        struct client c;
        cl_session(&c, &nd, (uint16_t)(2000 + (i % 16)), false);
        cl_close(&c);
    }
    good_peer(&nd);
    wait_log(&nd, "info", "disconnect: connection closed by the peer", N + 1);
    struct figures f;
    node_stop(&nd, 0, &f);
    assert_lines(&nd, "warn", "", 0);
    char result[160];
    snprintf(result, sizeof result, "all served; end growth %llu bytes, jemalloc net %lld bytes",
             (unsigned long long)f.end_growth, (long long)f.jemalloc_net);
    record("1,000 connect/disconnect cycles", result, &f, 2 * SESSION);
    if (f.measured) {
        /* jemalloc's own count (thread counters of the single-threaded
         * node, over serving) agrees with the tracker's */
        assert_true(f.jemalloc_net < (int64_t)END_GROWTH_BOUND);
    }
    node_cleanup(&nd);
}

/* A reset while the node is not reading: the inbound rate paused it. It
 * closes at once (it used to spin at 100% CPU until the rate let it read). */
static void test_reset_while_rate_paused(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NODE_OPTS("--in-rate", "64"));
    struct client c;
    cl_session(&c, &nd, 50, false);
    uint8_t odd[1000] = { 0x80, 0x03 };
    for (int i = 0; i < 8; i++)
        cl_send(&c, odd, sizeof odd);
    wait_log(&nd, "debug", "ignored unknown odd message type 32771", 4);
    cl_reset(&c);
    wait_log(&nd, "info", "disconnect: connection reset while we were not reading (inbound rate "
             "limit", 1);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    char result[160];
    snprintf(result, sizeof result, "info: connection reset while we were not reading (inbound "
             "rate limit); node CPU %.2f s in all", f.cpu_seconds);
    record("reset while rate-paused", result, &f, 2 * SESSION);
    node_cleanup(&nd);
}

/* A peer that stops reading our pongs, then resets: the stash path. */
static void test_reset_while_backpressured(void **state)
{
    (void)state;
    struct node nd;
    node_start(&nd, NODE_OPTS("--queue-soft", "262144", "--ping-interval", "0"));
    struct client c;
    int fd = tcp_socket();
    int small = 4096;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    cl_open_fd(&c, nd.port, fd);
    cl_handshake(&c, nd.id, 51);
    cl_send_init(&c, false);
    for (int i = 0; i < 40; i++)
        cl_ping(&c, 65531);
    cl_expect(&c, PH_WIRE_PONG);
    cl_reset(&c);
    wait_log(&nd, "info", "disconnect: connection reset", 1);
    good_peer(&nd);
    struct figures f;
    node_stop(&nd, 0, &f);
    record("40 big pings unread, then a reset", "info: disconnect: connection reset (at once)",
           &f, 262144u + 65535u + BATCH + 2 * SESSION);
    node_cleanup(&nd);
}

static void test_summary(void **state)
{
    (void)state;
    printf("\nhostile-peer suite: %zu cases against %s\n", n_outcomes, peerheap_path());
    printf("%-44s %12s %12s %12s  %s\n", "case", "peak", "bound", "end", "outcome");
    for (size_t i = 0; i < n_outcomes; i++) {
        const struct outcome *o = &outcomes[i];
        if (o->fig.measured)
            printf("%-44s %12llu %12llu %12llu  %s\n", o->name,
                   (unsigned long long)o->fig.serving_peak, (unsigned long long)o->bound,
                   (unsigned long long)o->fig.end_growth, o->result);
        else
            printf("%-44s %12s %12llu %12s  %s\n", o->name, "-", (unsigned long long)o->bound,
                   "-", o->result);
    }
    printf("peak: the node's live heap while serving, above its set-up level (bytes); end: what\n"
           "serving left once every peer closed (bound %u). From the node's --stats-json.\n",
           END_GROWTH_BOUND);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (ph_noise_global_init() != PH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_act1_version, kill_running),
        cmocka_unit_test_teardown(test_bad_act1_key, kill_running),
        cmocka_unit_test_teardown(test_bad_act1_mac, kill_running),
        cmocka_unit_test_teardown(test_bad_act2, kill_running),
        cmocka_unit_test_teardown(test_bad_act3, kill_running),
        cmocka_unit_test_teardown(test_half_act_then_silence, kill_running),
        cmocka_unit_test_teardown(test_slowloris_handshakes, kill_running),
        cmocka_unit_test_teardown(test_reset_in_handshake, kill_running),
        cmocka_unit_test_teardown(test_bad_mac_mid_session, kill_running),
        cmocka_unit_test_teardown(test_length_never_sent, kill_running),
        cmocka_unit_test_teardown(test_first_not_init, kill_running),
        cmocka_unit_test_teardown(test_unknown_even_feature, kill_running),
        cmocka_unit_test_teardown(test_feature_without_dependency, kill_running),
        cmocka_unit_test_teardown(test_foreign_chain, kill_running),
        cmocka_unit_test_teardown(test_ping_flood, kill_running),
        cmocka_unit_test_teardown(test_big_pings, kill_running),
        cmocka_unit_test_teardown(test_unknown_messages, kill_running),
        cmocka_unit_test_teardown(test_malformed_known, kill_running),
        cmocka_unit_test_teardown(test_bad_gossip_signatures, kill_running),
        cmocka_unit_test_teardown(test_never_reads, kill_running),
        cmocka_unit_test_teardown(test_scid_query_repeats, kill_running),
        cmocka_unit_test_teardown(test_500_connections, kill_running),
        cmocka_unit_test_teardown(test_1000_cycles, kill_running),
        cmocka_unit_test_teardown(test_reset_while_rate_paused, kill_running),
        cmocka_unit_test_teardown(test_reset_while_backpressured, kill_running),
        cmocka_unit_test_teardown(test_summary, kill_running),
    };
    if (getenv("PH_TEST_FILTER"))
        cmocka_set_test_filter(getenv("PH_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
