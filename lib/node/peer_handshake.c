/* The BOLT 8 handshake, apart from the transport it starts: its acts are
 * read and written unframed, a few bytes at a time, and end by handing the
 * keys to the outgoing queue. */

#include "peer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "keylog.h"

static void start_transport(ph_peer *p);

/* Write the rest of p->act; true when all of it is out. */
static bool act_write(ph_peer *p)
{
    while (p->act_off < p->act_len) {
        struct iovec iov = { p->act + p->act_off, (size_t)(p->act_len - p->act_off) };
        ssize_t n = ph_conn_sendv(p->conn, &iov, 1);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n <= 0) {
            if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
                ph_peer__fail(p, PH_ERR_PEER_CLOSED, "connection reset during the handshake");
            else
                ph_peer__io_fail(p, "handshake write failed");
            return false;
        }
        ph_peer__rec_data(p, true, p->act + p->act_off, (size_t)n);
        p->act_off = (uint8_t)(p->act_off + n);
    }
    return true;
}

static void begin_act_write(ph_peer *p, size_t len, uint8_t next_step)
{
    p->act_len = (uint8_t)len;
    p->act_off = 0;
    p->hs_step = next_step;
}

/* Read exactly the rest of an act: never past it, since the transport's
 * first bytes may follow in the same segment. */
static bool act_read(ph_peer *p, size_t need)
{
    while (p->act_len < need) {
        ssize_t n = ph_conn_recv(p->conn, p->act + p->act_len, need - p->act_len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return false;
        if (n == 0) {
            ph_peer__fail(p, PH_ERR_PEER_CLOSED, "connection closed during the handshake");
            return false;
        }
        if (n < 0) {
            if (errno == ECONNRESET)
                ph_peer__fail(p, PH_ERR_PEER_CLOSED, "connection reset during the handshake");
            else
                ph_peer__io_fail(p, "handshake read failed");
            return false;
        }
        ph_peer__rec_data(p, false, p->act + p->act_len, (size_t)n);
        p->st.wire_bytes_in += (uint64_t)n;
        p->act_len = (uint8_t)(p->act_len + n);
    }
    return true;
}

static void hs_failed(ph_peer *p, ph_err err, const char *what)
{
    char why[96];
    snprintf(why, sizeof why, "handshake failed at %s", what);
    ph_peer__fail(p, err, why);
}

/* Run the handshake as far as the socket allows. */
void ph_peer__handshake_step(ph_peer *p)
{
    ph_err err;
    for (;;) {
        switch (p->hs_step) {
        case HS_R_READ_ACT1:
            if (!act_read(p, PH_NOISE_ACT1_LEN))
                return;
            if ((err = ph_noise_act1_read(p->hs, p->act, p->act_len)) != PH_OK)
                { hs_failed(p, err, "act 1"); return; }
            if ((err = ph_noise_act2_write(p->hs, p->act)) != PH_OK)
                { hs_failed(p, err, "act 2"); return; }
            begin_act_write(p, PH_NOISE_ACT2_LEN, HS_R_WRITE_ACT2);
            break;
        case HS_R_WRITE_ACT2:
            if (!act_write(p))
                return;
            p->act_len = 0;
            p->hs_step = HS_R_READ_ACT3;
            break;
        case HS_R_READ_ACT3:
            if (!act_read(p, PH_NOISE_ACT3_LEN))
                return;
            if ((err = ph_noise_act3_read(p->hs, p->act, p->act_len)) != PH_OK)
                { hs_failed(p, err, "act 3"); return; }
            if (ph_noise_hs_remote_pubkey(p->hs, p->remote) == PH_OK)
                p->have_remote = true;
            start_transport(p);
            return;
        case HS_I_WRITE_ACT1:
            if (!act_write(p))
                return;
            p->act_len = 0;
            p->hs_step = HS_I_READ_ACT2;
            break;
        case HS_I_READ_ACT2:
            if (!act_read(p, PH_NOISE_ACT2_LEN))
                return;
            if ((err = ph_noise_act2_read(p->hs, p->act, p->act_len)) != PH_OK)
                { hs_failed(p, err, "act 2"); return; }
            if ((err = ph_noise_act3_write(p->hs, p->act)) != PH_OK)
                { hs_failed(p, err, "act 3"); return; }
            begin_act_write(p, PH_NOISE_ACT3_LEN, HS_I_WRITE_ACT3);
            break;
        case HS_I_WRITE_ACT3:
            if (!act_write(p))
                return;
            start_transport(p);
            return;
        default:
            return;
        }
    }
}

void ph_peer__connect_done(ph_peer *p)
{
    int soerr = ph_conn_connect_error(p->conn);
    if (soerr) {
        char why[128];
        snprintf(why, sizeof why, "connect failed: %s", strerror(soerr));
        ph_peer__fail(p, PH_ERR_IO, why);
        return;
    }
    ph_peer__set_addr(p);
    ph_peer__rec_open(p);
    PLOG(p, PH_LOG_INFO, "%s", "connected");
    ph_err err = ph_noise_act1_write(p->hs, p->act);
    if (err)
        { hs_failed(p, err, "act 1"); return; }
    p->state = PH_PEER_HANDSHAKE;
    begin_act_write(p, PH_NOISE_ACT1_LEN, HS_I_WRITE_ACT1);
    ph_peer__handshake_step(p);
}

static ssize_t conn_write(void *ctx, const struct iovec *iov, int iovcnt)
{
    ph_peer *p = ctx;
    if (!p->conn) {
        errno = EPIPE;
        return -1;
    }
    return ph_conn_sendv(p->conn, iov, iovcnt);
}

static void frame_observed(void *ctx, uint16_t type, size_t len)
{
    ph_peer *p = ctx;
    p->env->on_frame(p->env->on_frame_ctx, p, type, len);
}

static void start_transport(ph_peer *p)
{
    ph_err err;
    WITH_ROW(p, PH_MEMROW_SESSION, err = ph_noise_hs_finish(p->hs, &p->noise));
    ph_noise_hs_destroy(p->hs);
    p->hs = NULL;
    free(p->act);
    p->act = NULL;
    if (err)
        { hs_failed(p, err, "finish"); return; }
    if (p->env->keylog)
        ph_noise_set_key_cb(p->noise, ph_keylog_writer_cb, p->env->keylog);
    WITH_ROW(p, PH_MEMROW_WBUF, err = ph_wbuf_peer_attach(p->env->wbuf, &p->wbp));
    ph_outq_sink sink = { .fd = -1, .write = conn_write, .ctx = p };
    if (p->rec) {
        sink.tap = ph_peer__rec_tap;
        sink.tap_ctx = p;
    }
    ph_outq_config oc = ph_peer__cfg(p)->outq;
    oc.tag = p->env->tag;
    if (!err)
        err = ph_outq_create(&p->q, p->noise, p->wbp, &sink, &oc);
    if (!err && p->env->on_frame)
        ph_outq_set_frame_observer(p->q, frame_observed, p);
    if (!err) {
        size_t low = ph_peer__cfg(p)->stream_low_water ? ph_peer__cfg(p)->stream_low_water
                                                 : PH_PEER_DEFAULT_STREAM_LOW_WATER;
        ph_outq_set_refill(p->q, low, ph_peer__stream_refill, p);
    }
    if (!err)
        err = ph_peer__send_init(p);
    if (err) {
        ph_peer__fail(p, err, "cannot start the transport");
        return;
    }
    p->state = PH_PEER_INIT;
    char hex[67];
    ph_hex_encode(p->remote, 33, hex);
    PLOG(p, PH_LOG_INFO, "handshake done, node %s", hex);
    ph_peer__flush(p);
}

