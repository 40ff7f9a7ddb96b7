#include "pcapwrite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"

#define SNAPLEN 262144u
#define ETH_LEN 14u
#define TCP_LEN 20u
#define MAX_FRAME (ETH_LEN + 40u + TCP_LEN + PH_PCAPW_MAX_MSS)

struct ph_pcapw_conn {
    ph_pcapw *w;
    struct ph_pcapw_conn *prev, *next;
    struct ph_endpoint ep[2];   /* [0] client, [1] server */
    uint32_t next_seq[2];       /* per direction (0 = client -> server) */
};

struct ph_pcapw {
    FILE *f;
    bool owns_f;                /* opened here (ph_pcapw_open), closed here */
    size_t mss;
    bool no_acks;
    ph_err err;                 /* latched write error */
    uint16_t ip_id;
    uint32_t conns_made;        /* for deterministic ISNs */
    struct ph_pcapw_conn *conns;
    uint8_t frame[MAX_FRAME];
};

static void write_bytes(ph_pcapw *w, const void *p, size_t n)
{
    if (w->err)
        return;
    if (fwrite(p, 1, n, w->f) != n)
        w->err = PH_ERR_IO;
}

static ph_err start(ph_pcapw **out, FILE *f, bool owns_f, const struct ph_pcapw_opts *opts)
{
    size_t mss = opts && opts->mss ? opts->mss : PH_PCAPW_DEFAULT_MSS;
    if (mss > PH_PCAPW_MAX_MSS)
        return PH_ERR_ARG;
    ph_pcapw *w = calloc(1, sizeof *w);
    if (!w)
        return PH_ERR_NOMEM;
    w->f = f;
    w->owns_f = owns_f;
    w->mss = mss;
    w->no_acks = opts && opts->no_acks;
    uint8_t hdr[24] = {0};
    ph_put_le32(hdr, 0xa1b23c4du); /* nanosecond timestamps */
    hdr[4] = 2; hdr[6] = 4; /* version 2.4, little-endian fields */
    ph_put_le32(hdr + 16, SNAPLEN);
    ph_put_le32(hdr + 20, 1);      /* LINKTYPE_ETHERNET */
    write_bytes(w, hdr, sizeof hdr);
    *out = w;
    return w->err;
}

ph_err ph_pcapw_open(ph_pcapw **out, const char *path, const struct ph_pcapw_opts *opts)
{
    if (!out || !path)
        return PH_ERR_ARG;
    *out = NULL;
    if (opts && opts->mss > PH_PCAPW_MAX_MSS)
        return PH_ERR_ARG;
    FILE *f = fopen(path, "wb");
    if (!f)
        return PH_ERR_IO;
    ph_err err = start(out, f, true, opts);
    if (!*out)
        fclose(f);
    return err;
}

ph_err ph_pcapw_open_stream(ph_pcapw **out, FILE *f, const struct ph_pcapw_opts *opts)
{
    if (!out || !f)
        return PH_ERR_ARG;
    *out = NULL;
    return start(out, f, false, opts);
}

ph_err ph_pcapw_flush(ph_pcapw *w)
{
    if (!w)
        return PH_ERR_ARG;
    if (!w->err && fflush(w->f) != 0)
        w->err = PH_ERR_IO;
    return w->err;
}

ph_err ph_pcapw_close(ph_pcapw *w)
{
    if (!w)
        return PH_OK;
    while (w->conns) {
        struct ph_pcapw_conn *c = w->conns;
        w->conns = c->next;
        free(c);
    }
    ph_err e = w->err;
    if (w->owns_f ? fclose(w->f) != 0 : fflush(w->f) != 0)
        e = e ? e : PH_ERR_IO;
    free(w);
    return e;
}

/* ---- frame synthesis ---- */

/* Ones'-complement sum over bytes, folded later. */
static uint32_t sum_bytes(uint32_t s, const uint8_t *p, size_t n)
{
    for (; n > 1; n -= 2, p += 2)
        s += (uint32_t)p[0] << 8 | p[1];
    if (n)
        s += (uint32_t)p[0] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void eth_header(uint8_t *f, int dir, uint16_t type)
{
    /* Locally administered addresses, one per side. */
    static const uint8_t mac[2][6] = {
        {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}, {0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
    memcpy(f, mac[!dir], 6);
    memcpy(f + 6, mac[dir], 6);
    ph_put_be16(f + 12, type);
}

/* Writes the IP header at `ip`; returns its length. `tcp_len` is the TCP
 * header plus payload. Also returns the pseudo-header sum through *pseudo. */
static size_t ip_header(ph_pcapw *w, uint8_t *ip, const struct ph_endpoint *src,
                        const struct ph_endpoint *dst, size_t tcp_len, uint32_t *pseudo)
{
    if (src->family == 4) {
        memset(ip, 0, 20);
        ip[0] = 0x45;
        ph_put_be16(ip + 2, (uint16_t)(20 + tcp_len));
        ph_put_be16(ip + 4, w->ip_id++);
        ph_put_be16(ip + 6, 0x4000); /* don't fragment */
        ip[8] = 64;
        ip[9] = 6;
        memcpy(ip + 12, src->addr, 4);
        memcpy(ip + 16, dst->addr, 4);
        ph_put_be16(ip + 10, fold(sum_bytes(0, ip, 20)));
        *pseudo = sum_bytes(sum_bytes(0, ip + 12, 8), (const uint8_t[]){0, 6}, 2) +
                  (uint32_t)tcp_len;
        return 20;
    }
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ph_put_be16(ip + 4, (uint16_t)tcp_len);
    ip[6] = 6;
    ip[7] = 64;
    memcpy(ip + 8, src->addr, 16);
    memcpy(ip + 24, dst->addr, 16);
    *pseudo = sum_bytes(0, ip + 8, 32) + (uint32_t)tcp_len + 6;
    return 40;
}

static void write_record(ph_pcapw *w, const uint8_t *frame, size_t len, uint64_t ts_ns)
{
    uint8_t rh[16];
    ph_put_le32(rh, (uint32_t)(ts_ns / 1000000000u));
    ph_put_le32(rh + 4, (uint32_t)(ts_ns % 1000000000u));
    ph_put_le32(rh + 8, (uint32_t)len);
    ph_put_le32(rh + 12, (uint32_t)len);
    write_bytes(w, rh, sizeof rh);
    write_bytes(w, frame, len);
}

static ph_err emit(ph_pcapw_conn *c, int dir, uint32_t seq, uint8_t flags,
                   const uint8_t *data, size_t len, uint64_t ts_ns)
{
    ph_pcapw *w = c->w;
    if (w->err)
        return w->err;
    const struct ph_endpoint *src = &c->ep[dir], *dst = &c->ep[!dir];
    uint8_t *f = w->frame;
    uint32_t pseudo;
    eth_header(f, dir, src->family == 4 ? 0x0800 : 0x86dd);
    size_t iplen = ip_header(w, f + ETH_LEN, src, dst, TCP_LEN + len, &pseudo);
    uint8_t *t = f + ETH_LEN + iplen;
    memset(t, 0, TCP_LEN);
    ph_put_be16(t, src->port);
    ph_put_be16(t + 2, dst->port);
    ph_put_be32(t + 4, seq);
    if (flags & PH_TCP_ACK)
        ph_put_be32(t + 8, c->next_seq[!dir]);
    t[12] = (TCP_LEN / 4) << 4;
    t[13] = flags;
    ph_put_be16(t + 14, 65535);
    if (len)
        memcpy(t + TCP_LEN, data, len);
    ph_put_be16(t + 16, fold(sum_bytes(pseudo, t, TCP_LEN + len)));
    write_record(w, f, ETH_LEN + iplen + TCP_LEN + len, ts_ns);
    return w->err;
}

/* ---- connections ---- */

static bool valid_ep(const struct ph_endpoint *e)
{
    return e && (e->family == 4 || e->family == 6);
}

ph_err ph_pcapw_conn_open(ph_pcapw *w, const struct ph_endpoint *client,
                          const struct ph_endpoint *server, uint64_t ts_ns,
                          const struct ph_pcapw_conn_opts *opts, ph_pcapw_conn **out)
{
    if (!w || !out || !valid_ep(client) || !valid_ep(server) ||
        client->family != server->family)
        return PH_ERR_ARG;
    *out = NULL;
    if (w->err)
        return w->err;
    ph_pcapw_conn *c = calloc(1, sizeof *c);
    if (!c)
        return PH_ERR_NOMEM;
    c->w = w;
    c->ep[0] = *client;
    c->ep[1] = *server;
    uint32_t isn_c, isn_s;
    if (opts && opts->set_isn) {
        isn_c = opts->isn_client;
        isn_s = opts->isn_server;
    } else {
        w->conns_made++;
        isn_c = 0x10000000u * (w->conns_made & 7) + 0x1000u * w->conns_made + 1;
        isn_s = isn_c ^ 0x80000000u;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    *out = c;
    if (opts && opts->no_handshake) {
        c->next_seq[0] = isn_c + 1;
        c->next_seq[1] = isn_s + 1;
        return PH_OK;
    }
    ph_err e = emit(c, PH_PCAPW_C2S, isn_c, PH_TCP_SYN, NULL, 0, ts_ns);
    c->next_seq[0] = isn_c + 1;
    c->next_seq[1] = isn_s;
    if (!e)
        e = emit(c, PH_PCAPW_S2C, isn_s, PH_TCP_SYN | PH_TCP_ACK, NULL, 0, ts_ns);
    c->next_seq[1] = isn_s + 1;
    if (!e)
        e = emit(c, PH_PCAPW_C2S, c->next_seq[0], PH_TCP_ACK, NULL, 0, ts_ns);
    return e;
}

ph_err ph_pcapw_data(ph_pcapw_conn *c, int dir, const uint8_t *data, size_t len,
                     uint64_t ts_ns)
{
    if (!c || (dir != 0 && dir != 1) || (len && !data))
        return PH_ERR_ARG;
    ph_pcapw *w = c->w;
    while (len) {
        size_t n = len < w->mss ? len : w->mss;
        ph_err e = emit(c, dir, c->next_seq[dir], PH_TCP_ACK | (n == len ? PH_TCP_PSH : 0),
                        data, n, ts_ns);
        if (e)
            return e;
        c->next_seq[dir] += (uint32_t)n;
        data += n;
        len -= n;
        if (!len && !w->no_acks)
            return emit(c, !dir, c->next_seq[!dir], PH_TCP_ACK, NULL, 0, ts_ns);
    }
    return w->err;
}

static void unlink_conn(ph_pcapw_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

ph_err ph_pcapw_conn_close(ph_pcapw_conn *c, int closer, uint64_t ts_ns)
{
    if (!c)
        return PH_ERR_ARG;
    ph_err e = PH_ERR_ARG;
    if (closer == 0 || closer == 1) {
        int other = !closer;
        e = emit(c, closer, c->next_seq[closer], PH_TCP_FIN | PH_TCP_ACK, NULL, 0, ts_ns);
        c->next_seq[closer]++;
        if (!e)
            e = emit(c, other, c->next_seq[other], PH_TCP_ACK, NULL, 0, ts_ns);
        if (!e)
            e = emit(c, other, c->next_seq[other], PH_TCP_FIN | PH_TCP_ACK, NULL, 0, ts_ns);
        c->next_seq[other]++;
        if (!e)
            e = emit(c, closer, c->next_seq[closer], PH_TCP_ACK, NULL, 0, ts_ns);
    }
    unlink_conn(c);
    free(c);
    return e;
}

ph_err ph_pcapw_segment(ph_pcapw_conn *c, int dir, uint32_t seq, uint8_t flags,
                        const uint8_t *data, size_t len, uint64_t ts_ns)
{
    if (!c || (dir != 0 && dir != 1) || (len && !data) || len > PH_PCAPW_MAX_MSS)
        return PH_ERR_ARG;
    return emit(c, dir, seq, flags, data, len, ts_ns);
}

uint32_t ph_pcapw_next_seq(const ph_pcapw_conn *c, int dir) { return c->next_seq[dir & 1]; }
void ph_pcapw_set_next_seq(ph_pcapw_conn *c, int dir, uint32_t seq) { c->next_seq[dir & 1] = seq; }
