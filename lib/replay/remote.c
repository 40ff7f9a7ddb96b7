#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "modelconn.h"
#include "peer.h"
#include "wbuf.h"
#include "wire.h"

struct remote {
    ph_remote_set *set;
    size_t index;
    ph_peer *peer;
    ph_conn *conn;         /* while peer is alive */
    bool opened, closed;
    const uint8_t *const *expect;
    const uint32_t *expect_len;
    size_t expect_n, next;
    uint64_t mismatches;
    unsigned resyncs_left;  /* searches ahead still allowed (see find_expected) */
};

/* A frame that matches no expected message costs a search of every message
 * still expected; this many per remote bound the work of a stream that is
 * wrong throughout to a linear one. */
#define RESYNC_SEARCHES 64u

struct ph_remote_set {
    ph_remote_config cfg;
    uint8_t node_pub[33];
    uint8_t priv[32];
    ph_peer_config peer_cfg, stalled_cfg;
    ph_peer_env env, stalled_env;
    ph_wbuf *wbuf;
    struct remote *r;
    size_t connected;
    ph_remote_result res;
};

static void on_ready(void *ctx, ph_peer *p)
{
    ph_remote_set *s = ctx;
    struct remote *r = ph_peer_get_user(p);
    r->opened = true;
    s->res.opened++;
}

/* The node's own link messages come in between the replayed ones. */
static bool node_own(const uint8_t *msg, size_t len)
{
    if (len < 2)
        return false;
    uint16_t t = ph_wire_type_of(msg);
    return t == PH_WIRE_INIT || t == PH_WIRE_GOSSIP_TIMESTAMP_FILTER || t == PH_WIRE_PING;
}

static void note(ph_remote_set *s, const char *fmt, size_t idx, size_t k, const char *what)
{
    if (!s->res.first_error[0])
        snprintf(s->res.first_error, sizeof s->res.first_error, fmt, idx, k, what);
}

/* The first expected message after r->next that `msg` equals, or expect_n
 * (also once the searches are spent). */
static size_t find_expected(struct remote *r, const uint8_t *msg, size_t len)
{
    if (!r->resyncs_left || r->next >= r->expect_n)
        return r->expect_n;
    for (size_t k = r->next + 1; k < r->expect_n; k++)
        if (r->expect_len[k] == len && memcmp(r->expect[k], msg, len) == 0)
            return k;
    r->resyncs_left--;
    return r->expect_n;
}

static void on_message(void *ctx, ph_peer *p, const uint8_t *msg, size_t len)
{
    ph_remote_set *s = ctx;
    struct remote *r = ph_peer_get_user(p);
    s->res.messages++;
    if (!s->cfg.verify)
        return;
    if (r->next < r->expect_n && r->expect_len[r->next] == len &&
        memcmp(r->expect[r->next], msg, len) == 0) {
        r->next++;
        s->res.verified++;
        return;
    }
    if (node_own(msg, len))
        return;
    /* A frame equal to a later expected one: those in between never came
     * (a relay dropped at the soft cap), and the stream is in step again. */
    size_t k = find_expected(r, msg, len);
    if (k < r->expect_n) {
        note(s, "reader %zu: frame %zu never arrived%s", r->index, r->next,
             k - r->next > 1 ? " (nor the ones after it up to the next that did)" : "");
        s->res.missing += k - r->next;
        r->next = k + 1;
        s->res.verified++;
        return;
    }
    r->mismatches++;
    s->res.mismatches++;
    if (r->next < r->expect_n) {
        note(s, "reader %zu: frame %zu differs from the captured message (%s)", r->index, r->next,
             r->expect_len[r->next] == len ? "same length" : "different length");
        r->next++; /* one changed message must not shift every later one */
    } else {
        note(s, "reader %zu: frame %zu was never sent in the capture%s", r->index, r->next, "");
    }
}

/* What a remote still expected when it closed (or at the end) never came. */
static void count_missing(const ph_remote_set *s, const struct remote *r, ph_remote_result *res)
{
    if (!s->cfg.verify || r->index < s->cfg.stalled || r->next >= r->expect_n)
        return;
    size_t n = r->expect_n - r->next;
    res->missing += n;
    if (!res->first_error[0] && n == 1)
        snprintf(res->first_error, sizeof res->first_error, "reader %zu: frame %zu never arrived",
                 r->index, r->next);
    else if (!res->first_error[0])
        snprintf(res->first_error, sizeof res->first_error,
                 "reader %zu: frame %zu never arrived (nor the %zu after it)", r->index, r->next,
                 n - 1);
}

static void on_closed(void *ctx, ph_peer *p, ph_err reason, const char *why)
{
    ph_remote_set *s = ctx;
    struct remote *r = ph_peer_get_user(p);
    ph_peer_stats st;
    ph_peer_get_stats(p, &st);
    s->res.bytes += st.wire_bytes_in;
    if (reason != PH_OK && reason != PH_ERR_PEER_CLOSED) {
        s->res.failed++;
        if (!s->res.first_error[0])
            snprintf(s->res.first_error, sizeof s->res.first_error, "reader %zu: %s: %s",
                     r->index, why, ph_strerror(reason));
    }
    r->closed = true;
    r->peer = NULL;
    r->conn = NULL;
    s->connected--;
    ph_peer_destroy(p);
}

ph_err ph_remote_set_create(ph_remote_set **out, const ph_remote_config *cfg)
{
    if (!cfg || !cfg->ev || !cfg->remote_priv || !cfg->node_pub33 || !cfg->npeers)
        return PH_ERR_ARG;
    ph_remote_set *s = calloc(1, sizeof *s);
    if (!s)
        return PH_ERR_NOMEM;
    s->cfg = *cfg;
    memcpy(s->node_pub, cfg->node_pub33, 33);
    memcpy(s->priv, cfg->remote_priv, 32);
    s->cfg.node_pub33 = s->node_pub;
    s->cfg.remote_priv = s->priv;
    s->r = calloc(cfg->npeers, sizeof *s->r);
    ph_err err = s->r ? ph_wbuf_create(&s->wbuf, "exact", NULL) : PH_ERR_NOMEM;
    if (err) {
        ph_remote_set_destroy(s);
        return err;
    }
    ph_peer_config_default(&s->peer_cfg);
    s->peer_cfg.ping_interval_ns = 0;   /* the node's pings are what matter */
    s->peer_cfg.in_rate = cfg->reader_rate;
    /* A remote never has to drop anything: it only sends init, the filter
     * and pongs. */
    s->stalled_cfg = s->peer_cfg;
    s->stalled_cfg.stall_reads = true;
    s->env = (ph_peer_env){
        .ev = cfg->ev,
        .cfg = &s->peer_cfg,
        .local_priv = s->priv,
        .wbuf = s->wbuf,
        .host = { .ctx = s, .on_ready = on_ready, .on_message = on_message,
                  .on_closed = on_closed },
    };
    s->stalled_env = s->env;
    s->stalled_env.cfg = &s->stalled_cfg;
    *out = s;
    return PH_OK;
}

void ph_remote_set_destroy(ph_remote_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->r && i < s->cfg.npeers; i++)
        ph_peer_destroy(s->r[i].peer);
    free(s->r);
    ph_wbuf_destroy(s->wbuf);
    sodium_memzero(s->priv, sizeof s->priv);
    free(s);
}

void ph_remote_expect(ph_remote_set *s, size_t i, const uint8_t *const *msgs,
                      const uint32_t *lens, size_t n)
{
    if (i >= s->cfg.npeers)
        return;
    s->r[i].expect = msgs;
    s->r[i].expect_len = lens;
    s->r[i].expect_n = n;
}

/* Handshake ephemeral keys derived from the remote's index: fixed, so
 * that set-up costs the same in every run. */
static void ephemeral_for(size_t i, uint8_t out[32])
{
    memset(out, 0x33, 32);
    out[28] = (uint8_t)(i >> 24);
    out[29] = (uint8_t)(i >> 16);
    out[30] = (uint8_t)(i >> 8);
    out[31] = (uint8_t)i;
}

ph_err ph_remote_add(ph_remote_set *s, size_t i, ph_conn *conn)
{
    if (i >= s->cfg.npeers || s->r[i].peer) {
        ph_conn_destroy(conn);
        return PH_ERR_ARG;
    }
    struct remote *r = &s->r[i];
    r->set = s;
    r->index = i;
    r->resyncs_left = RESYNC_SEARCHES;
    uint8_t eph[32];
    ephemeral_for(i, eph);
    const ph_peer_env *env = i < s->cfg.stalled ? &s->stalled_env : &s->env;
    ph_err err = ph_peer_create_outbound_conn(&r->peer, env, conn, (uint32_t)i, s->cfg.node_pub33,
                                              eph);
    if (err) {
        ph_conn_destroy(conn);
        r->peer = NULL;
        return err;
    }
    ph_peer_set_user(r->peer, r);
    r->conn = conn;
    s->connected++;
    return PH_OK;
}

size_t ph_remote_connected(const ph_remote_set *s)
{
    return s->connected;
}

void ph_remote_get_result(const ph_remote_set *s, bool final, ph_remote_result *out)
{
    *out = s->res;
    for (size_t i = 0; i < s->cfg.npeers; i++) {
        struct remote *r = &s->r[i];
        if (r->peer) {
            ph_peer_stats st;
            ph_peer_get_stats(r->peer, &st);
            out->bytes += st.wire_bytes_in;
        }
        if (r->closed || final)
            count_missing(s, r, out);
    }
}

size_t ph_remote_unread(const ph_remote_set *s)
{
    size_t n = 0;
    for (size_t i = s->cfg.stalled; i < s->cfg.npeers; i++)
        if (s->r[i].conn)
            n += ph_modelconn_unread(s->r[i].conn);
    return n;
}
