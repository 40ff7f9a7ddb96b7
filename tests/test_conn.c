/* The socket transport (lib/node/conn.c) on its own: bytes both ways, a
 * pipe instead of a socket (writev), the connect error of a refused
 * connection, endpoints, half-close, and disown (the fd outlives the conn).
 * Every wait is on the loop with a deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"
#include "conn.h"
#include "ph_test.h"

static void note_ready(ph_conn *c, unsigned events, void *ctx)
{
    (void)c;
    *(unsigned *)ctx |= events;
}

static void test_socketpair_round_trip(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ph_conn *a, *b;
    assert_int_equal(ph_conn_socket_create(&a, ev, sv[0]), PH_OK);
    assert_int_equal(ph_conn_socket_create(&b, ev, sv[1]), PH_OK);
    assert_int_equal(ph_conn_socket_create(&b, NULL, sv[1]), PH_ERR_ARG);
    assert_int_equal(ph_conn_socket_create(&b, ev, -1), PH_ERR_ARG);
    assert_string_equal(a->ops->kind, "socket");
    unsigned seen = 0;
    assert_int_equal(ph_conn_watch(b, PH_EV_READ, note_ready, &seen), PH_OK);
    /* a second watch changes the mask of the registered fd */
    assert_int_equal(ph_conn_watch(b, PH_EV_READ, note_ready, &seen), PH_OK);
    struct iovec iov[2] = {{"hel", 3}, {"lo", 2}};
    assert_int_equal(ph_conn_sendv(a, iov, 2), 5);
    uint64_t deadline = ph_test_deadline();
    while (!(seen & PH_EV_READ)) {
        assert_int_equal(ph_ev_run_once(ev, 50), PH_OK);
        ph_test_check_deadline(deadline, "the socket pair to be readable");
    }
    char buf[16];
    assert_int_equal(ph_conn_recv(b, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(ph_conn_connect_error(a), 0);
    /* a Unix socket pair has no IP endpoints */
    struct ph_endpoint l, r;
    assert_false(ph_conn_endpoints(a, &l, &r));
    ph_conn_shutdown_write(a);
    assert_int_equal(ph_conn_recv(b, buf, sizeof buf), 0);
    ph_conn_destroy(a);
    /* disowned: the conn is gone, its fd is still open and ours */
    ph_conn_socket_disown(b);
    assert_true(fcntl(sv[1], F_GETFD) >= 0);
    close(sv[1]);
    ph_ev_destroy(ev);
}

/* A pipe is not a socket: sends fall back to writev. */
static void test_pipe_sendv(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    int p[2];
    assert_int_equal(pipe(p), 0);
    ph_conn *w;
    assert_int_equal(ph_conn_socket_create(&w, ev, p[1]), PH_OK);
    struct iovec iov = {"pipe", 4};
    assert_int_equal(ph_conn_sendv(w, &iov, 1), 4);
    char buf[8];
    assert_int_equal(read(p[0], buf, sizeof buf), 4);
    assert_memory_equal(buf, "pipe", 4);
    /* the socket calls fail on a pipe */
    assert_int_not_equal(ph_conn_connect_error(w), 0);
    ph_conn_destroy(w);
    close(p[0]);
    ph_ev_destroy(ev);
}

/* A non-blocking connect to a closed port: writable with ECONNREFUSED. */
/* A TCP socket bound to a free loopback port, its address in *sa. */
static int bind_loopback(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof *sa;
    assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof *sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &sl), 0);
    return fd;
}

static void test_refused_connect(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    struct sockaddr_in sa;
    close(bind_loopback(&sa)); /* the port is free and nobody listens */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int cerr = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : errno;
    assert_true(cerr == EINPROGRESS || cerr == ECONNREFUSED);
    ph_conn *c;
    assert_int_equal(ph_conn_socket_create(&c, ev, fd), PH_OK);
    unsigned seen = 0;
    assert_int_equal(ph_conn_watch(c, PH_EV_WRITE, note_ready, &seen), PH_OK);
    uint64_t deadline = ph_test_deadline();
    while (cerr == EINPROGRESS && !seen) {
        assert_int_equal(ph_ev_run_once(ev, 50), PH_OK);
        ph_test_check_deadline(deadline, "the refused connect to be reported");
    }
    if (cerr == EINPROGRESS)
        assert_int_equal(ph_conn_connect_error(c), ECONNREFUSED);
    struct ph_endpoint local;
    assert_true(ph_conn_endpoints(c, &local, NULL));
    ph_conn_destroy(c);
    ph_ev_destroy(ev);
}

/* Closing a TCP connection with unread bytes must still end it with a FIN,
 * not a reset: the other side reads end of stream, not ECONNRESET. */
static void test_close_with_unread_bytes(void **state)
{
    (void)state;
    ph_ev *ev;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    struct sockaddr_in sa;
    int l = bind_loopback(&sa);
    assert_int_equal(listen(l, 1), 0);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof sa), 0);
    int server = accept(l, NULL, NULL);
    assert_true(server >= 0);
    close(l);
    /* a ping the server never reads */
    const uint8_t ping[24] = {0};
    assert_int_equal(write(client, ping, sizeof ping), (ssize_t)sizeof ping);
    ph_conn *c;
    assert_int_equal(ph_conn_socket_create(&c, ev, server), PH_OK);
    unsigned seen = 0;
    assert_int_equal(ph_conn_watch(c, PH_EV_READ, note_ready, &seen), PH_OK);
    uint64_t deadline = ph_test_deadline();
    while (!(seen & PH_EV_READ)) {
        assert_int_equal(ph_ev_run_once(ev, 50), PH_OK);
        ph_test_check_deadline(deadline, "the ping to arrive");
    }
    ph_conn_shutdown_write(c);
    ph_conn_destroy(c);
    /* the FIN, then no reset: the client's socket has no error and can
     * still send (its own FIN, in a real session) */
    char buf[8];
    ssize_t n = recv(client, buf, sizeof buf, 0);
    if (n != 0)
        fail_msg("the client read %zd (%s), not the end of the stream", n,
                 n < 0 ? strerror(errno) : "bytes");
    int soerr = 0;
    socklen_t el = sizeof soerr;
    assert_int_equal(getsockopt(client, SOL_SOCKET, SO_ERROR, &soerr, &el), 0);
    if (soerr)
        fail_msg("the client's socket was reset: %s", strerror(soerr));
    if (send(client, "x", 1, MSG_NOSIGNAL) != 1)
        fail_msg("the client cannot send after the close: %s", strerror(errno));
    close(client);
    ph_ev_destroy(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socketpair_round_trip),
        cmocka_unit_test(test_pipe_sendv),
        cmocka_unit_test(test_refused_connect),
        cmocka_unit_test(test_close_with_unread_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
