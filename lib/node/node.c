#include "node.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "atomicfile.h"
#include "capture.h"
#include "gossip_sig.h"
#include "hex.h"
#include "conn.h"
#include "keylog.h"
#include "lnmsgs.h"
#include "memtag.h"
#include "noise.h"
#include "pcapwrite.h"

#define ACCEPT_PAUSE_NS 100000000ull    /* after EMFILE */
#define TICK_NS 1000000000ull
#define MAX_LISTENERS 16

struct listener {
    int fd;
    bool paused;
    ph_node *node;
};

struct ph_node {
    ph_ev *ev;
    ph_node_config cfg;
    char *strategy, *gossip_file, *keylog_path, *record_path, *dump_path;
    uint8_t pub[33];

    ph_wbuf *wbuf;
    ph_gossip_store *gossip;
    ph_gossip_cursor *relay;   /* at the end of the log: yields what is new */
    ph_keylog_writer *keylog;
    ph_pcapw *record;
    ph_atomicfile *record_file;     /* renamed into place at destroy */
    FILE *dump;
    ph_peer_env env;

    struct listener listeners[MAX_LISTENERS];
    size_t nlisteners;

    ph_peer **peers;
    size_t npeers, cap;
    uint32_t next_id;

    bool shutting_down;
    uint64_t last_activity;
    uint64_t t_tick, t_accept;
    ph_node_stats st;
    ph_outq_stats closed_out;  /* summed write counters of closed peers */
    char why[320];   /* what failed in ph_node_create */
};

static void add_outq_stats(ph_outq_stats *sum, const ph_outq_stats *s)
{
    for (unsigned i = 0; i < PH_MSGTYPE__COUNT; i++) {
        sum->out[i].msgs += s->out[i].msgs;
        sum->out[i].bytes += s->out[i].bytes;
    }
    sum->msgs_out += s->msgs_out;
    sum->bytes_out += s->bytes_out;
    sum->wire_bytes_out += s->wire_bytes_out;
    sum->writes += s->writes;
    sum->partial_writes += s->partial_writes;
    sum->would_block += s->would_block;
    sum->wbuf_starved += s->wbuf_starved;
    sum->relay_dropped += s->relay_dropped;
    sum->relay_dropped_bytes += s->relay_dropped_bytes;
    sum->encode_errors += s->encode_errors;
    if (s->peak_queued_bytes > sum->peak_queued_bytes)
        sum->peak_queued_bytes = s->peak_queued_bytes;
}

static void maybe_finish(ph_node *n);

/* ---- peer set ---- */

static ph_err reserve_peer(ph_node *n)
{
    if (n->npeers == n->cap) {
        size_t c = n->cap ? n->cap * 2 : 16;
        ph_peer **a = realloc(n->peers, c * sizeof *a);
        if (!a)
            return PH_ERR_NOMEM;
        n->peers = a;
        n->cap = c;
    }
    return PH_OK;
}

static ph_err add_peer(ph_node *n, ph_peer *p)
{
    ph_err err = reserve_peer(n);
    if (err)
        return err;
    ph_peer_set_user(p, (void *)(uintptr_t)n->npeers);
    n->peers[n->npeers++] = p;
    return PH_OK;
}

static void remove_peer(ph_node *n, ph_peer *p)
{
    size_t i = (size_t)(uintptr_t)ph_peer_get_user(p);
    if (i >= n->npeers || n->peers[i] != p)
        return;
    n->peers[i] = n->peers[--n->npeers];
    ph_peer_set_user(n->peers[i], (void *)(uintptr_t)i);
}

/* ---- host callbacks ---- */

static void on_ready(void *ctx, ph_peer *p)
{
    ph_node *n = ctx;
    (void)p;
    n->st.opened++;
    n->last_activity = ph_ev_now(n->ev);
}

static void dump_msg(ph_node *n, const uint8_t *msg, size_t len)
{
    /* Flushed per message: scripts watch the file grow while the node runs. */
    if (ph_lnmsgs_write(n->dump, msg, len) != PH_OK || fflush(n->dump) != 0) {
        ph_logf(&n->cfg.log, PH_LOG_ERROR, "dump: write failed: %s", strerror(errno));
        fclose(n->dump);
        n->dump = NULL;
    }
}

static void on_message(void *ctx, ph_peer *p, const uint8_t *msg, size_t len)
{
    ph_node *n = ctx;
    (void)p;
    n->st.messages_in++;
    n->last_activity = ph_ev_now(n->ev);
    uint16_t t;
    if (n->dump && ph_wire_peek_type(msg, len, &t) == PH_OK &&
        t >= PH_WIRE_CHANNEL_ANNOUNCEMENT && t <= PH_WIRE_CHANNEL_UPDATE)
        dump_msg(n, msg, len);
    if (n->cfg.max_messages && n->st.messages_in >= n->cfg.max_messages &&
        !n->shutting_down) {
        ph_logf(&n->cfg.log, PH_LOG_INFO, "received %llu messages: shutting down",
                (unsigned long long)n->st.messages_in);
        ph_node_shutdown(n);
    }
}

/* One relayed message is one shared allocation: with the per-write
 * encoding it is decoded once here, for every peer. */
static void relay_new(ph_node *n, ph_peer *from)
{
    ph_gossip_msg *m;
    while ((m = ph_gossip_cursor_next(n->relay)) != NULL) {
        ph_outq_msg *decoded = NULL;
        if (n->cfg.peer.encode == PH_ENCODE_PER_WRITE &&
            ph_peer_decode_for_send(n->cfg.tag, ph_gossip_msg_data(m), ph_gossip_msg_len(m),
                                    &decoded) != PH_OK) {
            ph_gossip_msg_unref(m);
            continue;
        }
        for (size_t i = 0; i < n->npeers; i++)
            if (n->peers[i] != from && ph_peer_relay(n->peers[i], m, decoded))
                n->st.relayed++;
        ph_outq_msg_unref(decoded);
        ph_gossip_msg_unref(m);
    }
}

static ph_err open_backlog(void *ctx, ph_peer *p, uint32_t first, uint32_t range,
                           const ph_backlog_ops **ops, void **cursor)
{
    ph_node *n = ctx;
    *ops = NULL;
    if (!n->cfg.open_backlog)
        return PH_OK;
    return n->cfg.open_backlog(n->cfg.backlog_ctx, p, first, range, ops, cursor);
}

/* Gossip that failed its signature check: a warning, and the connection
 * stays; never stored, never relayed. One log line for the first and every
 * 1,000th, so a flood cannot flood the log.
 *
 * BOLT #7: if `bitcoin_signature_1`, `bitcoin_signature_2`, `node_signature_1`
 * OR `node_signature_2` are invalid OR NOT correct:
 *   - SHOULD send a `warning`.
 *   - MAY close the connection.
 *   - MUST ignore the message.
 *
 * For a bad channel_update BOLT #7 also says the connection SHOULD be closed;
 * this node keeps it (see gossip.c, add_chan_upd). */
static void refuse_gossip(ph_node *n, ph_peer *p, const uint8_t *msg, ph_gossip_outcome o)
{
    const char *what = o == PH_GOSSIP_BAD_SIGNATURE ? "an invalid signature"
                                                    : "a signature or key that does not parse";
    n->st.gossip_refused++;
    if (n->st.gossip_refused == 1 || n->st.gossip_refused % 1000 == 0) {
        const char *name = ph_wire_type_name(ph_wire_type_of(msg));
        ph_logf(&n->cfg.log, PH_LOG_WARN,
                "peer %u %s: %s with %s: not stored, not relayed (%llu refused so far)",
                ph_peer_id(p), ph_peer_addr(p), name ? name : "gossip", what,
                (unsigned long long)n->st.gossip_refused);
    }
    char text[96];
    snprintf(text, sizeof text, "gossip with %s", what);
    /* The warning is a courtesy (BOLT 7 SHOULD): a peer that cannot take
     * it (closing, out of memory) is logged and left as it is. */
    ph_err e = ph_peer_send_warning(p, text);
    if (e)
        ph_logf(&n->cfg.log, PH_LOG_DEBUG, "peer %u: warning not sent: %s", ph_peer_id(p),
                ph_strerror(e));
}

static void on_gossip(void *ctx, ph_peer *p, const uint8_t *msg, size_t len)
{
    ph_node *n = ctx;
    n->st.gossip_in++;
    ph_gossip_result res;
    ph_err err = ph_gossip_add(n->gossip, msg, len, ph_peer_id(p), &res);
    if (err) {
        ph_logf(&n->cfg.log, PH_LOG_ERROR, "gossip store: %s", ph_strerror(err));
        return;
    }
    if (res.outcome == PH_GOSSIP_BAD_SIGNATURE || res.outcome == PH_GOSSIP_MALFORMED)
        refuse_gossip(n, p, msg, res.outcome);
    if (ph_log_enabled(&n->cfg.log, PH_LOG_DEBUG)) {
        uint16_t t = ph_wire_type_of(msg);
        ph_logf(&n->cfg.log, PH_LOG_DEBUG, "peer %u: %s %s, %zu new", ph_peer_id(p),
                ph_wire_type_name(t) ? ph_wire_type_name(t) : "?",
                ph_gossip_outcome_name(res.outcome), res.n_new);
    }
    if (res.n_new)
        relay_new(n, p);
}

/* "name=count ..." of the non-zero slots, for the closing log line. */
static void format_counts(char *buf, size_t cap, const ph_msgcount *c)
{
    size_t used = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < PH_MSGTYPE__COUNT && used < cap; i++) {
        if (!c[i].msgs)
            continue;
        int w = snprintf(buf + used, cap - used, "%s%s=%llu", used ? " " : "",
                         ph_msgtype_slot_name(i), (unsigned long long)c[i].msgs);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, cap, "none");
}

/* Per-type totals when a session ends: what recording scripts compare a
 * capture's decode with. */
static void log_type_counts(ph_node *n, ph_peer *p, const ph_peer_stats *st)
{
    char in[512], out[512];
    format_counts(in, sizeof in, st->in);
    format_counts(out, sizeof out, st->out.out);
    ph_logf(&n->cfg.log, PH_LOG_INFO, "peer %u types in: %s; out: %s", ph_peer_id(p), in, out);
}

static void on_closed(void *ctx, ph_peer *p, ph_err reason, const char *why)
{
    ph_node *n = ctx;
    ph_peer_stats st;
    ph_peer_get_stats(p, &st);
    ph_logf(&n->cfg.log, PH_LOG_INFO,
            "peer %u closed: in %llu msgs / %llu bytes, out %llu msgs / %llu bytes, "
            "relay dropped %llu",
            ph_peer_id(p), (unsigned long long)st.msgs_in, (unsigned long long)st.bytes_in,
            (unsigned long long)st.out.msgs_out, (unsigned long long)st.out.bytes_out,
            (unsigned long long)st.out.relay_dropped);
    log_type_counts(n, p, &st);
    add_outq_stats(&n->closed_out, &st.out);
    if (n->cfg.on_peer_closed)
        n->cfg.on_peer_closed(n->cfg.peer_closed_ctx, p, reason, why);
    if (ph_peer_outbound(p) && !ph_peer_features(p, &(size_t){ 0 }))
        n->st.connect_failures++; /* never got as far as their init */
    n->st.closed++;
    n->last_activity = ph_ev_now(n->ev);
    remove_peer(n, p);
    ph_peer_destroy(p);
    maybe_finish(n);
}

/* ---- stopping ---- */

static void maybe_finish(ph_node *n)
{
    if (n->npeers)
        return;
    if (n->shutting_down || n->nlisteners == 0)
        ph_ev_stop(n->ev);
}

void ph_node_shutdown(ph_node *n)
{
    if (n->shutting_down)
        return;
    n->shutting_down = true;
    for (size_t i = 0; i < n->nlisteners; i++) {
        ph_ev_del_fd(n->ev, n->listeners[i].fd);
        close(n->listeners[i].fd);
    }
    n->nlisteners = 0;
    /* Closing may not call back synchronously, but iterate over a copy of
     * the count anyway: on_closed only runs from the loop. */
    for (size_t i = 0; i < n->npeers; i++)
        ph_peer_close(n->peers[i], NULL);
    maybe_finish(n);
}

bool ph_node_shutting_down(const ph_node *n)
{
    return n->shutting_down;
}

static bool output_pending(const ph_node *n)
{
    for (size_t i = 0; i < n->npeers; i++) {
        ph_peer_stats st;
        ph_peer_get_stats(n->peers[i], &st);
        if (st.out.queued_bytes || !ph_peer_gossip_live(n->peers[i]))
            return true;
    }
    return false;
}

static void tick_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)id;
    ph_node *n = ctx;
    n->t_tick = 0;
    uint64_t now = ph_ev_now(ev);
    ph_wbuf_tick(n->wbuf, now);
    for (size_t i = 0; i < n->npeers; i++)
        ph_peer_trim(n->peers[i]);
    if (n->cfg.exit_after_idle_ns && !n->shutting_down &&
        now - n->last_activity >= n->cfg.exit_after_idle_ns && !output_pending(n)) {
        ph_logf(&n->cfg.log, PH_LOG_INFO, "idle for %llu s: shutting down",
                (unsigned long long)(n->cfg.exit_after_idle_ns / 1000000000u));
        ph_node_shutdown(n);
    }
    uint64_t next = TICK_NS;
    if (n->cfg.exit_after_idle_ns && n->cfg.exit_after_idle_ns / 4 < next)
        next = n->cfg.exit_after_idle_ns / 4 + 1;
    ph_err e = ph_ev_timer_add(ev, next, tick_cb, n, &n->t_tick);
    if (e) {
        /* Without its tick the node would never notice idleness or a
         * deadline: stop it rather than run on unwatched. */
        n->t_tick = 0;
        ph_logf(&n->cfg.log, PH_LOG_ERROR, "tick timer: %s; shutting down", ph_strerror(e));
        if (!n->shutting_down)
            ph_node_shutdown(n);
    }
}

/* ---- sockets ---- */

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

ph_err ph_node_parse_target(const char *target, uint8_t pub33[33], char *hostport,
                            size_t hostport_len)
{
    const char *at = strchr(target, '@');
    if (!at || at - target != 66)
        return PH_ERR_PARSE;
    char hex[67];
    memcpy(hex, target, 66);
    hex[66] = 0;
    if (ph_hex_decode_fixed(hex, pub33, 33) != PH_OK)
        return PH_ERR_PARSE;
    if (pub33[0] != 2 && pub33[0] != 3)
        return PH_ERR_PARSE;
    if (strlen(at + 1) + 1 > hostport_len || !at[1])
        return PH_ERR_PARSE;
    strcpy(hostport, at + 1);
    return PH_OK;
}

/* "HOST:PORT", "[V6]:PORT" or "PORT" -> host and port strings. */
static ph_err split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = NULL, *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close_br = strchr(s, ']');
        if (!close_br || close_br[1] != ':')
            return PH_ERR_PARSE;
        h = s + 1;
        hl = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            h = "127.0.0.1";
            hl = strlen(h);
            colon = s - 1;
        } else {
            hl = (size_t)(colon - s);
        }
    }
    if (hl == 0 || hl + 1 > hlen || strlen(colon + 1) + 1 > plen || !colon[1])
        return PH_ERR_PARSE;
    memcpy(host, h, hl);
    host[hl] = 0;
    strcpy(port, colon + 1);
    for (const char *c = port; *c; c++)
        if (*c < '0' || *c > '9')
            return PH_ERR_PARSE;
    return PH_OK;
}

static ph_err resolve(const char *hostport, struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[256], port[16];
    ph_err err = split_hostport(hostport, host, sizeof host, port, sizeof port);
    if (err)
        return err;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return PH_ERR_PARSE;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    return PH_OK;
}

static void accept_resume_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)id;
    ph_node *n = ctx;
    n->t_accept = 0;
    for (size_t i = 0; i < n->nlisteners; i++) {
        if (n->listeners[i].paused) {
            n->listeners[i].paused = false;
            ph_err e = ph_ev_set_fd(ev, n->listeners[i].fd, PH_EV_READ);
            if (e)
                ph_logf(&n->cfg.log, PH_LOG_ERROR, "listener: cannot resume: %s",
                        ph_strerror(e));
        }
    }
}

static void accept_cb(ph_ev *ev, int fd, unsigned events, void *ctx)
{
    (void)events;
    struct listener *l = ctx;
    ph_node *n = l->node;
    for (int k = 0; k < 64; k++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                ph_logf(&n->cfg.log, PH_LOG_WARN, "accept: %s; pausing for 100 ms",
                        strerror(errno));
                /* Paused only when the resume timer is set: a listener
                 * paused for good would refuse every later peer. */
                ph_err e = n->t_accept ? PH_OK
                                       : ph_ev_timer_add(ev, ACCEPT_PAUSE_NS, accept_resume_cb,
                                                         n, &n->t_accept);
                if (!e)
                    e = ph_ev_set_fd(ev, fd, 0);
                if (e)
                    ph_logf(&n->cfg.log, PH_LOG_ERROR, "accept: cannot pause: %s",
                            ph_strerror(e));
                else
                    l->paused = true;
            }
            return;
        }
        if (n->npeers >= n->cfg.max_peers) {
            n->st.refused++;
            ph_logf(&n->cfg.log, PH_LOG_WARN, "refused a connection: %zu peers, the most allowed",
                    n->npeers);
            close(c);
            continue;
        }
        set_nodelay(c);
        ph_peer *p = NULL;
        ph_err err = ph_peer_create_inbound(&p, &n->env, c, n->next_id++);
        if (!err)
            err = add_peer(n, p);
        if (err) {
            ph_logf(&n->cfg.log, PH_LOG_ERROR, "cannot take a connection: %s",
                    ph_strerror(err));
            if (p)
                ph_peer_destroy(p);
            else
                close(c);
            continue;
        }
        n->st.accepted++;
        n->last_activity = ph_ev_now(n->ev);
    }
}

ph_err ph_node_listen(ph_node *n, const char *hostport, char *bound, size_t bound_len)
{
    if (n->nlisteners == MAX_LISTENERS || n->shutting_down)
        return PH_ERR_LIMIT;
    struct sockaddr_storage sa;
    socklen_t salen;
    ph_err err = resolve(hostport, &sa, &salen);
    if (err)
        return err;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PH_ERR_IO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return PH_ERR_IO;
    }
    struct listener *l = &n->listeners[n->nlisteners];
    *l = (struct listener){ .fd = fd, .node = n };
    err = ph_ev_add_fd(n->ev, fd, PH_EV_READ, accept_cb, l);
    if (err) {
        close(fd);
        return err;
    }
    n->nlisteners++;
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    struct ph_endpoint ep;
    char text[PH_ENDPOINT_STRLEN] = "?";
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0 &&
        ph_endpoint_from_sockaddr(&got, gl, &ep) == PH_OK)
        ph_endpoint_format(&ep, text);
    if (bound && bound_len)
        snprintf(bound, bound_len, "%s", text);
    ph_logf(&n->cfg.log, PH_LOG_INFO, "listening on %s", text);
    return PH_OK;
}

ph_err ph_node_connect(ph_node *n, const char *target)
{
    uint8_t pub[33];
    char hostport[300];
    ph_err err = ph_node_parse_target(target, pub, hostport, sizeof hostport);
    if (err)
        return err;
    if (n->npeers >= n->cfg.max_peers || n->shutting_down)
        return PH_ERR_LIMIT;
    struct sockaddr_storage sa;
    socklen_t salen;
    if ((err = resolve(hostport, &sa, &salen)) != PH_OK)
        return err;
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PH_ERR_IO;
    set_nodelay(fd);
    if (connect(fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        n->st.connect_failures++;
        return PH_ERR_IO;
    }
    ph_peer *p = NULL;
    err = ph_peer_create_outbound(&p, &n->env, fd, n->next_id++, pub);
    if (err) {
        close(fd);
        return err;
    }
    if ((err = add_peer(n, p)) != PH_OK) {
        ph_peer_destroy(p);
        return err;
    }
    n->st.connects++;
    ph_logf(&n->cfg.log, PH_LOG_INFO, "connecting to %s", target);
    return PH_OK;
}

/* ---- create / destroy ---- */

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static ph_err file_failed(ph_node *n, const char *path, ph_err err)
{
    if (err == PH_ERR_IO)
        snprintf(n->why, sizeof n->why, "%s: %s", path, strerror(errno));
    else
        snprintf(n->why, sizeof n->why, "%s: %s", path, ph_strerror(err));
    return err;
}

static ph_err open_outputs(ph_node *n)
{
    ph_err err;
    if (n->keylog_path && (err = ph_keylog_writer_open(&n->keylog, n->keylog_path)) != PH_OK)
        return file_failed(n, n->keylog_path, err);
    if (n->record_path) {
        unsigned flags = n->cfg.replace_record ? PH_ATOMICFILE_REPLACE : 0;
        if ((err = ph_atomicfile_open(&n->record_file, n->record_path, flags)) != PH_OK ||
            (err = ph_pcapw_open_stream(&n->record, ph_atomicfile_stream(n->record_file),
                                        NULL)) != PH_OK)
            return file_failed(n, n->record_path, err);
    }
    if (n->dump_path) {
        n->dump = fopen(n->dump_path, "ab");
        if (!n->dump)
            return file_failed(n, n->dump_path, PH_ERR_IO);
    }
    return PH_OK;
}

/* The recording appears under its name only when complete. */
static void close_record(ph_node *n)
{
    ph_err err = n->record ? ph_pcapw_close(n->record) : PH_OK;
    n->record = NULL;
    if (!n->record_file)
        return;
    if (err) {
        ph_atomicfile_abort(n->record_file);
    } else {
        err = ph_atomicfile_commit(n->record_file);
    }
    n->record_file = NULL;
    if (err)
        ph_logf(&n->cfg.log, PH_LOG_ERROR, "record: %s not written: %s", n->record_path,
                err == PH_ERR_IO ? strerror(errno) : ph_strerror(err));
}

/* ---- our own gossip ---- */

/* A key derived from the node key: SHA-256(node key || label). */
static void derive_key(const uint8_t priv[32], const char *label, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, priv, 32);
    crypto_hash_sha256_update(&st, (const uint8_t *)label, strlen(label));
    crypto_hash_sha256_final(&st, out);
}

static ph_err add_own(ph_node *n, const uint8_t *msg, size_t len)
{
    ph_gossip_result res;
    ph_err err = ph_gossip_add(n->gossip, msg, len, PH_GOSSIP_ORIGIN_LOCAL, &res);
    if (err)
        return err;
    if (res.outcome != PH_GOSSIP_ACCEPTED) {
        ph_logf(&n->cfg.log, PH_LOG_ERROR, "own gossip refused by the store: %s",
                ph_gossip_outcome_name(res.outcome));
        return PH_ERR_STATE;
    }
    return PH_OK;
}

ph_err ph_node_announce(ph_node *n, const char *alias, uint32_t now_s)
{
    size_t alias_len = strlen(alias);
    if (alias_len > 32)
        return PH_ERR_ARG;
    uint8_t node_secret[2][32], btc_secret[2][32], pub[2][33];
    memcpy(node_secret[0], n->cfg.priv, 32);
    derive_key(n->cfg.priv, "peerheap announce: second node", node_secret[1]);
    derive_key(n->cfg.priv, "peerheap announce: bitcoin key 1", btc_secret[0]);
    derive_key(n->cfg.priv, "peerheap announce: bitcoin key 2", btc_secret[1]);
    uint8_t msg[512];
    size_t len;
    uint64_t scid = ph_wire_scid_make(1, 0, 0);
    ph_err err = ph_gossip_pubkey(node_secret[0], pub[0]);
    if (!err)
        err = ph_gossip_pubkey(node_secret[1], pub[1]);
    if (!err)
        err = ph_gossip_build_channel_announcement(n->cfg.peer.chain_hash, scid, node_secret,
                                                   btc_secret, msg, sizeof msg, &len);
    if (!err)
        err = add_own(n, msg, len);
    /* Direction 0 belongs to the lesser node id:
     *
     * BOLT #7: MUST set `node_id_1` and `node_id_2` to the public keys of the
     * two nodes operating the channel, such that `node_id_1` is the
     * lexicographically-lesser of the two compressed keys sorted in ascending
     * lexicographic order.
     *
     * BOLT #7: if the origin node is `node_id_1` in the message:
     *   - MUST set the `direction` bit of `channel_flags` to 0. */
    int first = memcmp(pub[0], pub[1], 33) < 0 ? 0 : 1;
    for (int dir = 0; dir < 2 && !err; dir++) {
        ph_gossip_update_fields f = {
            .scid = scid,
            .timestamp = now_s,
            .channel_flags = (uint8_t)dir,
            .cltv_expiry_delta = 144,
            .htlc_minimum_msat = 1000,
            .fee_base_msat = 1000,
            .fee_proportional_millionths = 1,
            .htlc_maximum_msat = 100000000,
        };
        memcpy(f.chain_hash, n->cfg.peer.chain_hash, 32);
        err = ph_gossip_build_channel_update(&f, node_secret[dir == 0 ? first : 1 - first], msg,
                                             sizeof msg, &len);
        if (!err)
            err = add_own(n, msg, len);
    }
    ph_gossip_node_fields nf = {.timestamp = now_s, .rgb_color = {0x30, 0x80, 0xf0}};
    memcpy(nf.alias, alias, alias_len);
    if (!err)
        err = ph_gossip_build_node_announcement(&nf, node_secret[0], msg, sizeof msg, &len);
    if (!err)
        err = add_own(n, msg, len);
    sodium_memzero(node_secret, sizeof node_secret);
    sodium_memzero(btc_secret, sizeof btc_secret);
    if (!err) {
        char id[67];
        ph_hex_encode(pub[0], 33, id);
        ph_logf(&n->cfg.log, PH_LOG_INFO,
                "announcing %s as '%s' with channel 1x0x0 (synthetic: no funding output exists)",
                id, alias);
    }
    return err;
}

static ph_err setup_gossip(ph_node *n)
{
    ph_gossip_config gc;
    ph_gossip_config_default(&gc);
    memcpy(gc.chain_hash, n->cfg.peer.chain_hash, 32);
    ph_err err = ph_gossip_store_create(&gc, &n->gossip);
    if (err)
        return err;
    if (n->gossip_file) {
        err = ph_gossip_preload_file(n->gossip, n->gossip_file, &n->st.preload);
        if (err == PH_ERR_GOSSIP_FORMAT) {
            snprintf(n->why, sizeof n->why, "%s: %s (record at offset %zu)", n->gossip_file,
                     ph_strerror(err), n->st.preload.bad_offset);
            return err;
        }
        if (err)
            return file_failed(n, n->gossip_file, err);
        const ph_gossip_preload_stats *ps = &n->st.preload;
        ph_logf(&n->cfg.log, PH_LOG_INFO,
                "preloaded %llu gossip messages from %s (trusted; a strict store would "
                "refuse %llu: %llu unknown channel, %llu unknown node, %llu bad signature, "
                "%llu stale)",
                (unsigned long long)ps->messages, n->gossip_file,
                (unsigned long long)(ps->messages - ps->strict_ok),
                (unsigned long long)ps->unknown_channel, (unsigned long long)ps->unknown_node,
                (unsigned long long)ps->bad_signature, (unsigned long long)ps->stale);
    }
    err = ph_gossip_cursor_create(n->gossip, 0, UINT32_MAX, PH_GOSSIP_ORIGIN_LOCAL, &n->relay);
    if (err)
        return err;
    ph_gossip_msg *m;
    while ((m = ph_gossip_cursor_next(n->relay)) != NULL)
        ph_gossip_msg_unref(m);
    return PH_OK;
}

ph_err ph_node_create(ph_node **out, ph_ev *ev, const ph_node_config *cfg, char *why,
                      size_t why_len)
{
    if (!ev || !cfg)
        return PH_ERR_ARG;
    ph_node *n = calloc(1, sizeof *n);
    if (!n)
        return PH_ERR_NOMEM;
    n->ev = ev;
    n->cfg = *cfg;
    bool oom = false;
    n->strategy = dup_or_null(cfg->strategy ? cfg->strategy : PH_NODE_DEFAULT_STRATEGY, &oom);
    n->gossip_file = dup_or_null(cfg->gossip_file, &oom);
    n->keylog_path = dup_or_null(cfg->keylog_path, &oom);
    n->record_path = dup_or_null(cfg->record_path, &oom);
    n->dump_path = dup_or_null(cfg->dump_path, &oom);
    n->cfg.announce_alias = NULL; /* used during create only */
    n->cfg.strategy = n->strategy;
    n->cfg.gossip_file = n->gossip_file;
    n->cfg.keylog_path = n->keylog_path;
    n->cfg.record_path = n->record_path;
    n->cfg.dump_path = n->dump_path;
    if (!n->cfg.max_peers)
        n->cfg.max_peers = PH_NODE_DEFAULT_MAX_PEERS;
    n->next_id = 1;
    ph_err err = oom ? PH_ERR_NOMEM : PH_OK;
    if (!err)
        err = ph_noise_pubkey(n->cfg.priv, n->pub);
    if (!err)
        err = ph_wbuf_create(&n->wbuf, n->strategy, &n->cfg.wbuf);
    if (!err)
        err = setup_gossip(n);
    if (!err)
        err = open_outputs(n);
    if (!err && cfg->announce_alias) {
        err = ph_node_announce(n, cfg->announce_alias, (uint32_t)time(NULL));
        if (err)
            snprintf(n->why, sizeof n->why, "announcing ourselves: %s", ph_strerror(err));
    }
    if (!err)
        err = ph_ev_timer_add(ev, TICK_NS, tick_cb, n, &n->t_tick);
    if (err) {
        if (why && why_len)
            snprintf(why, why_len, "%s", n->why[0] ? n->why : ph_strerror(err));
        /* A node that never ran records nothing: the file is aborted
         * below, so a failing close adds nothing to the error reported. */
        ph_ignore_err(ph_pcapw_close(n->record));
        n->record = NULL;
        ph_atomicfile_abort(n->record_file);
        n->record_file = NULL;
        ph_node_destroy(n);
        return err;
    }
    n->env = (ph_peer_env){
        .ev = ev,
        .cfg = &n->cfg.peer,
        .local_priv = n->cfg.priv,
        .wbuf = n->wbuf,
        .gossip = n->gossip,
        .keylog = n->keylog,
        .record = n->record,
        .log = &n->cfg.log,
        .tag = n->cfg.tag,
        .on_frame = n->cfg.on_frame,
        .on_frame_ctx = n->cfg.on_frame_ctx,
        .host = { .ctx = n, .on_ready = on_ready, .on_message = on_message,
                  .on_gossip = on_gossip, .on_closed = on_closed,
                  .open_backlog = open_backlog },
    };
    n->last_activity = ph_ev_now(ev);
    *out = n;
    return PH_OK;
}

void ph_node_destroy(ph_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->npeers; i++)
        ph_peer_destroy(n->peers[i]);
    free(n->peers);
    for (size_t i = 0; i < n->nlisteners; i++) {
        ph_ev_del_fd(n->ev, n->listeners[i].fd);
        close(n->listeners[i].fd);
    }
    if (n->t_tick)
        ph_ev_timer_cancel(n->ev, n->t_tick);
    if (n->t_accept)
        ph_ev_timer_cancel(n->ev, n->t_accept);
    if (n->relay)
        ph_gossip_cursor_destroy(n->relay);
    ph_gossip_store_destroy(n->gossip);
    if (n->wbuf)
        ph_wbuf_destroy(n->wbuf);
    if (n->keylog)
        ph_keylog_writer_close(n->keylog);
    close_record(n);
    if (n->dump)
        fclose(n->dump);
    free(n->strategy);
    free(n->gossip_file);
    free(n->keylog_path);
    free(n->record_path);
    free(n->dump_path);
    sodium_memzero(n->cfg.priv, sizeof n->cfg.priv);
    free(n);
}

ph_err ph_node_add_conn(ph_node *n, ph_conn *conn, const uint8_t *remote_pub33,
                        const uint8_t *ephemeral32, ph_peer **out)
{
    if (n->npeers >= n->cfg.max_peers || n->shutting_down)
        return PH_ERR_LIMIT;
    ph_err err = reserve_peer(n); /* so that add_peer cannot fail below */
    if (err)
        return err;
    ph_peer *p = NULL;
    err = remote_pub33
                     ? ph_peer_create_outbound_conn(&p, &n->env, conn, n->next_id++,
                                                    remote_pub33, ephemeral32)
                     : ph_peer_create_inbound_conn(&p, &n->env, conn, n->next_id++);
    if (err)
        return err;
    add_peer(n, p);
    if (remote_pub33)
        n->st.connects++;
    else
        n->st.accepted++;
    n->last_activity = ph_ev_now(n->ev);
    if (out)
        *out = p;
    return PH_OK;
}

void ph_node_write_totals(const ph_node *n, ph_outq_stats *out)
{
    *out = n->closed_out;
    for (size_t i = 0; i < n->npeers; i++) {
        ph_peer_stats st;
        ph_peer_get_stats(n->peers[i], &st);
        add_outq_stats(out, &st.out);
        out->queued_msgs += st.out.queued_msgs;
        out->queued_bytes += st.out.queued_bytes;
        out->inflight_frames += st.out.inflight_frames;
        out->wbuf_held += st.out.wbuf_held;
        out->wbuf_buffers += st.out.wbuf_buffers;
    }
}

/* ---- accessors ---- */

void ph_node_id(const ph_node *n, uint8_t pub33[33])
{
    memcpy(pub33, n->pub, 33);
}

size_t ph_node_peer_count(const ph_node *n)
{
    return n->npeers;
}

ph_peer *ph_node_peer_at(const ph_node *n, size_t i)
{
    return i < n->npeers ? n->peers[i] : NULL;
}

void ph_node_get_stats(const ph_node *n, ph_node_stats *out)
{
    *out = n->st;
    out->peers = n->npeers;
}

ph_gossip_store *ph_node_gossip(ph_node *n)
{
    return n->gossip;
}

ph_wbuf *ph_node_wbuf(ph_node *n)
{
    return n->wbuf;
}
