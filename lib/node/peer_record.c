/* --record: the peer's session as TCP in a pcap, so a recording can be
 * decrypted later with the key log. Failing to record never closes a peer. */

#include "peer_impl.h"

#include "capture.h"

void ph_peer__rec_data(ph_peer *p, bool outgoing, const uint8_t *data, size_t len)
{
    if (!p->rec || !len)
        return;
    /* The client is whoever connected: us for outbound peers. */
    int dir = outgoing == p->outbound ? PH_PCAPW_C2S : PH_PCAPW_S2C;
    if (ph_pcapw_data(p->rec, dir, data, len, ph_peer__wall_ns()) != PH_OK) {
        /* The recording already failed; closing only frees the connection,
         * and a second failure says nothing new (the writer latches it). */
        ph_ignore_err(ph_pcapw_conn_close(p->rec, dir, ph_peer__wall_ns()));
        p->rec = NULL;
    }
}

void ph_peer__rec_tap(void *ctx, const struct iovec *iov, int iovcnt, size_t taken)
{
    ph_peer *p = ctx;
    for (int i = 0; i < iovcnt && taken; i++) {
        size_t n = iov[i].iov_len < taken ? iov[i].iov_len : taken;
        ph_peer__rec_data(p, true, iov[i].iov_base, n);
        taken -= n;
    }
}

void ph_peer__rec_open(ph_peer *p)
{
    if (!p->env->record || p->rec)
        return;
    struct ph_endpoint local, remote;
    if (!ph_conn_endpoints(p->conn, &local, &remote))
        return;
    const struct ph_endpoint *client = p->outbound ? &local : &remote;
    const struct ph_endpoint *server = p->outbound ? &remote : &local;
    if (ph_pcapw_conn_open(p->env->record, client, server, ph_peer__wall_ns(), NULL, &p->rec) != PH_OK)
        p->rec = NULL;
}

void ph_peer__rec_close(ph_peer *p, bool remote_closed)
{
    if (!p->rec)
        return;
    bool client_closed = remote_closed != p->outbound;
    ph_err e = ph_pcapw_conn_close(p->rec, client_closed ? PH_PCAPW_C2S : PH_PCAPW_S2C, ph_peer__wall_ns());
    if (e)
        PLOG(p, PH_LOG_WARN, "recording: closing the connection failed: %s", ph_strerror(e));
    p->rec = NULL;
}
