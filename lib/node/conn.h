/* The byte stream under a peer: a connected socket, or the replay's model
 * of one (modelconn.h). ph_peer (peer.h) does all its I/O through this
 * interface, so the live node and the replayed node run the same code and
 * differ only in the transport.
 *
 * Semantics are those of a non-blocking TCP socket:
 *   recv      > 0 bytes read; 0 end of stream; -1 with errno (EAGAIN: none now)
 *   sendv     bytes taken (possibly fewer than offered); -1 with errno
 *             (EAGAIN: no room; EPIPE/ECONNRESET: the other end is gone)
 *   watch     interest in PH_EV_READ / PH_EV_WRITE (level-triggered) and the
 *             callback that reports readiness from the event loop
 *   connect_error  for an outbound connection: 0 once connected, else errno
 *   shutdown_write  no more bytes from us (FIN)
 *   endpoints the two addresses, for logs and recordings (false if unknown)
 *
 * Ownership: a ph_conn belongs to whoever holds it; ph_conn_destroy closes
 * it (for a socket: unregisters and closes the fd). No callback is
 * delivered after destroy. */
#ifndef PH_CONN_H
#define PH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "error.h"
#include "ev.h"

struct ph_endpoint;
typedef struct ph_conn ph_conn;
typedef void (*ph_conn_ready_fn)(ph_conn *c, unsigned events, void *ctx);

typedef struct ph_conn_ops {
    const char *kind; /* "socket", "model" */
    ssize_t (*recv)(ph_conn *c, void *buf, size_t len);
    ssize_t (*sendv)(ph_conn *c, const struct iovec *iov, int iovcnt);
    ph_err (*watch)(ph_conn *c, unsigned mask, ph_conn_ready_fn fn, void *ctx);
    int (*connect_error)(ph_conn *c);
    void (*shutdown_write)(ph_conn *c);
    bool (*endpoints)(const ph_conn *c, struct ph_endpoint *local, struct ph_endpoint *remote);
    void (*destroy)(ph_conn *c);
} ph_conn_ops;

struct ph_conn {
    const ph_conn_ops *ops;
};

PH_NONNULL(1)
static inline ssize_t ph_conn_recv(ph_conn *c, void *buf, size_t len)
{
    return c->ops->recv(c, buf, len);
}
PH_NONNULL(1)
static inline ssize_t ph_conn_sendv(ph_conn *c, const struct iovec *iov, int iovcnt)
{
    return c->ops->sendv(c, iov, iovcnt);
}
PH_MUST_USE
PH_NONNULL(1)
static inline ph_err ph_conn_watch(ph_conn *c, unsigned mask, ph_conn_ready_fn fn, void *ctx)
{
    return c->ops->watch(c, mask, fn, ctx);
}
PH_NONNULL(1)
static inline int ph_conn_connect_error(ph_conn *c)
{
    return c->ops->connect_error(c);
}
PH_NONNULL(1)
static inline void ph_conn_shutdown_write(ph_conn *c)
{
    c->ops->shutdown_write(c);
}
PH_NONNULL(1)
static inline bool ph_conn_endpoints(const ph_conn *c, struct ph_endpoint *local,
                                     struct ph_endpoint *remote)
{
    return c->ops->endpoints(c, local, remote);
}
static inline void ph_conn_destroy(ph_conn *c)
{
    if (c)
        c->ops->destroy(c);
}

/* A connected (or connecting) non-blocking socket on `ev`. The conn owns
 * the fd from now on; on error the caller still does. */
PH_MUST_USE
ph_err ph_conn_socket_create(ph_conn **out, ph_ev *ev, int fd);
/* Frees the conn but leaves its fd open and registered nowhere: for a
 * caller that must keep owning the fd after a failure. */
PH_NONNULL(1)
void ph_conn_socket_disown(ph_conn *c);

#endif
