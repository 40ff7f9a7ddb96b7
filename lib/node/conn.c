#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"

struct sockconn {
    ph_conn base;
    ph_ev *ev;
    int fd;
    bool registered;
    ph_conn_ready_fn fn;
    void *ctx;
};

static struct sockconn *sc_of(ph_conn *c)
{
    return (struct sockconn *)c;
}

static ssize_t sc_recv(ph_conn *c, void *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(sc_of(c)->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t sc_sendv(ph_conn *c, const struct iovec *iov, int iovcnt)
{
    struct msghdr mh = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
    ssize_t n;
    do {
        n = sendmsg(sc_of(c)->fd, &mh, MSG_NOSIGNAL);
        /* A pipe or file in tests: same bytes, no SIGPIPE guard needed. */
        if (n < 0 && errno == ENOTSOCK)
            n = writev(sc_of(c)->fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    return n;
}

static void sc_ready(ph_ev *ev, int fd, unsigned events, void *ctx)
{
    (void)ev;
    (void)fd;
    struct sockconn *s = ctx;
    s->fn(&s->base, events, s->ctx);
}

static ph_err sc_watch(ph_conn *c, unsigned mask, ph_conn_ready_fn fn, void *ctx)
{
    struct sockconn *s = sc_of(c);
    s->fn = fn;
    s->ctx = ctx;
    if (s->registered)
        return ph_ev_set_fd(s->ev, s->fd, mask);
    ph_err err = ph_ev_add_fd(s->ev, s->fd, mask, sc_ready, s);
    if (!err)
        s->registered = true;
    return err;
}

static int sc_connect_error(ph_conn *c)
{
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(sc_of(c)->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        return errno;
    return soerr;
}

static void sc_shutdown_write(ph_conn *c)
{
    shutdown(sc_of(c)->fd, SHUT_WR);
}

static bool sc_endpoints(const ph_conn *c, struct ph_endpoint *local, struct ph_endpoint *remote)
{
    const struct sockconn *s = (const struct sockconn *)c;
    struct sockaddr_storage a, b;
    socklen_t al = sizeof a, bl = sizeof b;
    if (local && (getsockname(s->fd, (struct sockaddr *)&a, &al) < 0 ||
                  ph_endpoint_from_sockaddr(&a, al, local) != PH_OK))
        return false;
    if (remote && (getpeername(s->fd, (struct sockaddr *)&b, &bl) < 0 ||
                   ph_endpoint_from_sockaddr(&b, bl, remote) != PH_OK))
        return false;
    return true;
}

/* Bytes the other side sent that nobody will read (a ping that crossed our
 * close) make close() reset the connection instead of ending it with the
 * FIN already sent: the other side may then lose what we wrote last and
 * never send its own FIN. Read them away first, without blocking, within
 * a bound (a peer that keeps sending gets its reset). */
static void discard_unread(int fd)
{
    char buf[4096];
    for (int i = 0; i < 64; i++)
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
            return;
}

static void sc_destroy(ph_conn *c)
{
    struct sockconn *s = sc_of(c);
    if (s->registered)
        ph_ev_del_fd(s->ev, s->fd);
    discard_unread(s->fd);
    close(s->fd);
    free(s);
}

static const ph_conn_ops socket_ops = {
    .kind = "socket",
    .recv = sc_recv,
    .sendv = sc_sendv,
    .watch = sc_watch,
    .connect_error = sc_connect_error,
    .shutdown_write = sc_shutdown_write,
    .endpoints = sc_endpoints,
    .destroy = sc_destroy,
};

ph_err ph_conn_socket_create(ph_conn **out, ph_ev *ev, int fd)
{
    if (!ev || fd < 0)
        return PH_ERR_ARG;
    struct sockconn *s = calloc(1, sizeof *s);
    if (!s)
        return PH_ERR_NOMEM;
    s->base.ops = &socket_ops;
    s->ev = ev;
    s->fd = fd;
    *out = &s->base;
    return PH_OK;
}

void ph_conn_socket_disown(ph_conn *c)
{
    struct sockconn *s = sc_of(c);
    if (s->registered)
        ph_ev_del_fd(s->ev, s->fd);
    free(s);
}
