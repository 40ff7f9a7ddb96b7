#include "capgen.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "byteorder.h"

/* ---- byte writing ---- */

static void wr(uint8_t *p, uint64_t v, int n, bool be)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (be ? n - 1 - i : i)));
}


/* ---- pcapng ---- */

#define MAX_IF 64

struct capgen_ng {
    FILE *f;
    bool be;
    int res[MAX_IF];
    uint32_t nif;
};

static void ng_write(capgen_ng *w, uint32_t type, const uint8_t *body, size_t len)
{
    size_t padded = (len + 3) & ~(size_t)3;
    uint32_t total = (uint32_t)(12 + padded);
    uint8_t h[8], t[4];
    wr(h, type, 4, w->be);
    wr(h + 4, total, 4, w->be);
    wr(t, total, 4, w->be);
    static const uint8_t zero[4];
    assert_int_equal(fwrite(h, 1, 8, w->f), 8);
    if (len)
        assert_int_equal(fwrite(body, 1, len, w->f), len);
    if (padded > len)
        assert_int_equal(fwrite(zero, 1, padded - len, w->f), padded - len);
    assert_int_equal(fwrite(t, 1, 4, w->f), 4);
}

void capgen_ng_section(capgen_ng *w, bool big_endian)
{
    w->be = big_endian;
    w->nif = 0;
    uint8_t b[16];
    wr(b, 0x1a2b3c4d, 4, w->be);
    wr(b + 4, 1, 2, w->be);
    wr(b + 6, 0, 2, w->be);
    memset(b + 8, 0xff, 8); /* section length unknown */
    ng_write(w, 0x0a0d0d0a, b, sizeof b);
}

capgen_ng *capgen_ng_open(const char *path, bool big_endian)
{
    capgen_ng *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->f = fopen(path, "wb");
    assert_non_null(w->f);
    capgen_ng_section(w, big_endian);
    return w;
}

uint32_t capgen_ng_iface(capgen_ng *w, int linktype, uint32_t snaplen, int tsresol,
                         int64_t tsoffset)
{
    uint8_t b[64];
    size_t n = 0;
    wr(b, (uint16_t)linktype, 2, w->be);
    wr(b + 2, 0, 2, w->be);
    wr(b + 4, snaplen, 4, w->be);
    n = 8;
    if (tsresol >= 0) {
        wr(b + n, 9, 2, w->be);
        wr(b + n + 2, 1, 2, w->be);
        b[n + 4] = (uint8_t)tsresol;
        b[n + 5] = b[n + 6] = b[n + 7] = 0;
        n += 8;
    }
    if (tsoffset) {
        wr(b + n, 14, 2, w->be);
        wr(b + n + 2, 8, 2, w->be);
        wr(b + n + 4, (uint64_t)tsoffset, 8, w->be);
        n += 12;
    }
    wr(b + n, 0, 4, w->be); /* end of options */
    n += 4;
    ng_write(w, 1, b, n);
    if (w->nif < MAX_IF) /* more interfaces than that: microseconds */
        w->res[w->nif] = tsresol < 0 ? 6 : tsresol;
    return w->nif++;
}

static uint64_t ng_units(const capgen_ng *w, uint32_t iface, uint64_t ts_ns)
{
    int r = iface < w->nif && iface < MAX_IF ? w->res[iface] : 6;
    if (r & 0x80) { /* 2^-k */
        int k = r & 0x7f;
        uint64_t sec = ts_ns / 1000000000u, frac = ts_ns % 1000000000u;
        return (sec << k) + ((frac << k) / 1000000000u);
    }
    uint64_t v = ts_ns;
    for (int i = r; i < 9; i++)
        v /= 10;
    for (int i = 9; i < r; i++)
        v *= 10;
    return v;
}

static void ng_packet(capgen_ng *w, bool obsolete, uint32_t iface, uint64_t ts_ns,
                      const uint8_t *data, uint32_t caplen, uint32_t origlen)
{
    uint8_t *b = malloc(20 + (size_t)caplen);
    assert_non_null(b);
    uint64_t u = ng_units(w, iface, ts_ns);
    if (obsolete) {
        wr(b, iface, 2, w->be);
        wr(b + 2, 0, 2, w->be);
    } else {
        wr(b, iface, 4, w->be);
    }
    wr(b + 4, u >> 32, 4, w->be);
    wr(b + 8, (uint32_t)u, 4, w->be);
    wr(b + 12, caplen, 4, w->be);
    wr(b + 16, origlen, 4, w->be);
    memcpy(b + 20, data, caplen);
    ng_write(w, obsolete ? 2 : 6, b, 20 + (size_t)caplen);
    free(b);
}

void capgen_ng_epb(capgen_ng *w, uint32_t iface, uint64_t ts_ns, const uint8_t *data,
                   uint32_t caplen, uint32_t origlen)
{
    ng_packet(w, false, iface, ts_ns, data, caplen, origlen);
}

void capgen_ng_opb(capgen_ng *w, uint16_t iface, uint64_t ts_ns, const uint8_t *data,
                   uint32_t caplen, uint32_t origlen)
{
    ng_packet(w, true, iface, ts_ns, data, caplen, origlen);
}

void capgen_ng_spb(capgen_ng *w, const uint8_t *data, uint32_t caplen, uint32_t origlen)
{
    uint8_t *b = malloc(4 + (size_t)caplen);
    assert_non_null(b);
    wr(b, origlen, 4, w->be);
    memcpy(b + 4, data, caplen);
    ng_write(w, 3, b, 4 + (size_t)caplen);
    free(b);
}

void capgen_ng_block(capgen_ng *w, uint32_t type, const uint8_t *body, size_t len)
{
    ng_write(w, type, body, len);
}

void capgen_ng_close(capgen_ng *w)
{
    assert_int_equal(fclose(w->f), 0);
    free(w);
}

/* ---- classic pcap ---- */

struct capgen_pcap {
    FILE *f;
    unsigned flags;
};

capgen_pcap *capgen_pcap_open(const char *path, int linktype, uint32_t snaplen, unsigned flags)
{
    capgen_pcap *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->f = fopen(path, "wb");
    assert_non_null(w->f);
    w->flags = flags;
    bool be = flags & CAPGEN_SWAPPED;
    uint32_t magic = (flags & CAPGEN_MODIFIED) ? 0xa1b2cd34u
                     : (flags & CAPGEN_MICRO)  ? 0xa1b2c3d4u
                                               : 0xa1b23c4du;
    uint8_t h[24];
    wr(h, magic, 4, be);
    wr(h + 4, 2, 2, be);
    wr(h + 6, 4, 2, be);
    wr(h + 8, 0, 4, be);
    wr(h + 12, 0, 4, be);
    wr(h + 16, snaplen, 4, be);
    wr(h + 20, (uint32_t)linktype, 4, be);
    assert_int_equal(fwrite(h, 1, 24, w->f), 24);
    return w;
}

void capgen_pcap_rec(capgen_pcap *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                     uint32_t origlen)
{
    bool be = w->flags & CAPGEN_SWAPPED;
    bool nanos = !(w->flags & (CAPGEN_MICRO | CAPGEN_MODIFIED));
    uint8_t h[24] = {0};
    wr(h, ts_ns / 1000000000u, 4, be);
    wr(h + 4, nanos ? ts_ns % 1000000000u : ts_ns % 1000000000u / 1000u, 4, be);
    wr(h + 8, caplen, 4, be);
    wr(h + 12, origlen, 4, be);
    size_t hl = (w->flags & CAPGEN_MODIFIED) ? 24 : 16;
    assert_int_equal(fwrite(h, 1, hl, w->f), hl);
    assert_int_equal(fwrite(data, 1, caplen, w->f), caplen);
}

void capgen_pcap_close(capgen_pcap *w)
{
    assert_int_equal(fclose(w->f), 0);
    free(w);
}

size_t capgen_read_pcap(const char *path, struct capgen_rec **out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t h[24];
    assert_int_equal(fread(h, 1, 24, f), 24);
    assert_int_equal(ph_le32(h), 0xa1b23c4du);
    size_t n = 0, cap = 64;
    struct capgen_rec *r = malloc(cap * sizeof *r);
    assert_non_null(r);
    uint8_t rh[16];
    while (fread(rh, 1, 16, f) == 16) {
        if (n == cap) {
            cap *= 2;
            r = realloc(r, cap * sizeof *r);
            assert_non_null(r);
        }
        r[n].ts_ns = (uint64_t)ph_le32(rh) * 1000000000u + ph_le32(rh + 4);
        r[n].len = ph_le32(rh + 8);
        r[n].data = malloc(r[n].len ? r[n].len : 1);
        assert_non_null(r[n].data);
        assert_int_equal(fread(r[n].data, 1, r[n].len, f), r[n].len);
        n++;
    }
    fclose(f);
    *out = r;
    return n;
}

void capgen_free_recs(struct capgen_rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].data);
    free(r);
}

/* ---- link layers and tunnels ---- */

static const struct {
    const char *name;
    int linktype;
} WRAPS[CW_COUNT] = {
    [CW_ETH] = {"ethernet", 1}, [CW_VLAN] = {"vlan", 1}, [CW_QINQ] = {"qinq", 1},
    [CW_SLL] = {"sll", 113}, [CW_SLL2] = {"sll2", 276}, [CW_NULL_LE] = {"null-le", 0},
    [CW_NULL_BE] = {"null-be", 0}, [CW_LOOP] = {"loop", 108}, [CW_RAW] = {"raw", 101},
    [CW_IPV4] = {"ipv4", 228}, [CW_PPP] = {"ppp", 9}, [CW_PPP_HDLC] = {"ppp-hdlc", 50},
    [CW_PPP_DIR] = {"ppp-dir", 204}, [CW_PPPOE] = {"pppoe", 1},
    [CW_PPP_ETHER] = {"ppp-ether", 51}, [CW_C_HDLC] = {"c-hdlc", 104},
    [CW_NFLOG] = {"nflog", 239}, [CW_PKTAP] = {"pktap", 258}, [CW_MPLS] = {"mpls", 1},
    [CW_GRE_IP] = {"gre-ip", 1}, [CW_GRE_ETH] = {"gre-eth", 1},
    [CW_ERSPAN1] = {"erspan1", 1}, [CW_ERSPAN2] = {"erspan2", 1},
    [CW_ERSPAN3] = {"erspan3", 1}, [CW_VXLAN] = {"vxlan", 1}, [CW_GENEVE] = {"geneve", 1},
    [CW_IPIP] = {"ipip", 1},
};

int capgen_wrap_linktype(enum capgen_wrap w) { return WRAPS[w].linktype; }
const char *capgen_wrap_name(enum capgen_wrap w) { return WRAPS[w].name; }

static const uint8_t MACS[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

/* Outer Ethernet + IPv4 (10.0.0.1 -> 10.0.0.2) of protocol `proto` around
 * `inner_len` bytes; returns the header length. */
static size_t outer_ipv4(uint8_t *out, uint8_t proto, size_t inner_len)
{
    memcpy(out, MACS, 12);
    ph_put_be16(out + 12, 0x0800);
    uint8_t *ip = out + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ph_put_be16(ip + 2, (uint16_t)(20 + inner_len));
    ip[8] = 64;
    ip[9] = proto;
    ph_put_be32(ip + 12, 0x0a000001);
    ph_put_be32(ip + 16, 0x0a000002);
    return 34;
}

size_t capgen_wrap(enum capgen_wrap w, const uint8_t *eth, size_t len, uint8_t *out)
{
    assert_true(len >= 14);
    uint16_t et = (uint16_t)(eth[12] << 8 | eth[13]);
    const uint8_t *ip = eth + 14;
    size_t iplen = len - 14;
    bool v6 = et == 0x86dd;
    size_t h;
    switch (w) {
    case CW_ETH:
        memcpy(out, eth, len);
        return len;
    case CW_VLAN:
    case CW_QINQ:
        memcpy(out, eth, 12);
        h = 12;
        if (w == CW_QINQ) {
            ph_put_be16(out + h, 0x88a8);
            ph_put_be16(out + h + 2, 100);
            h += 4;
        }
        ph_put_be16(out + h, 0x8100);
        ph_put_be16(out + h + 2, 42);
        h += 4;
        memcpy(out + h, eth + 12, len - 12);
        return h + len - 12;
    case CW_SLL:
        memset(out, 0, 16);
        ph_put_be16(out + 2, 772);
        ph_put_be16(out + 4, 6);
        ph_put_be16(out + 14, et);
        memcpy(out + 16, ip, iplen);
        return 16 + iplen;
    case CW_SLL2:
        memset(out, 0, 20);
        ph_put_be16(out, et);
        ph_put_be32(out + 4, 1);
        ph_put_be16(out + 8, 772);
        out[11] = 6;
        memcpy(out + 20, ip, iplen);
        return 20 + iplen;
    case CW_NULL_LE:
    case CW_NULL_BE:
    case CW_LOOP:
        wr(out, v6 ? (w == CW_NULL_LE ? 30u : 24u) : 2u, 4, w != CW_NULL_LE);
        memcpy(out + 4, ip, iplen);
        return 4 + iplen;
    case CW_RAW:
    case CW_IPV4:
        memcpy(out, ip, iplen);
        return iplen;
    case CW_PPP:
    case CW_PPP_HDLC:
    case CW_PPP_DIR:
        h = 0;
        if (w == CW_PPP_DIR)
            out[h++] = 1;
        out[h++] = 0xff;
        out[h++] = 0x03;
        ph_put_be16(out + h, v6 ? 0x57 : 0x21);
        h += 2;
        memcpy(out + h, ip, iplen);
        return h + iplen;
    case CW_PPPOE:
    case CW_PPP_ETHER:
        h = 0;
        if (w == CW_PPPOE) {
            memcpy(out, MACS, 12);
            ph_put_be16(out + 12, 0x8864);
            h = 14;
        }
        out[h] = 0x11;
        out[h + 1] = 0;
        ph_put_be16(out + h + 2, 7);
        ph_put_be16(out + h + 4, (uint16_t)(iplen + 2));
        ph_put_be16(out + h + 6, v6 ? 0x57 : 0x21);
        memcpy(out + h + 8, ip, iplen);
        return h + 8 + iplen;
    case CW_C_HDLC:
        out[0] = 0x0f;
        out[1] = 0;
        ph_put_be16(out + 2, et);
        memcpy(out + 4, ip, iplen);
        return 4 + iplen;
    case CW_NFLOG:
        out[0] = v6 ? 10 : 2;
        out[1] = 0;
        ph_put_be16(out + 2, 5);
        /* a prefix TLV first (type 10), then the payload (type 9), little-endian */
        wr(out + 4, 4 + 8, 2, false);
        wr(out + 6, 10, 2, false);
        memcpy(out + 8, "lnd\0\0\0\0\0", 8);
        wr(out + 16, 4 + iplen, 2, false);
        wr(out + 18, 9, 2, false);
        memcpy(out + 20, ip, iplen);
        return 20 + iplen;
    case CW_PKTAP:
        memset(out, 0, 108);
        wr(out, 108, 4, false);
        wr(out + 4, 1, 4, false);
        wr(out + 8, 1, 4, false); /* the inner frame is Ethernet */
        memcpy(out + 12, "en0", 3);
        memcpy(out + 108, eth, len);
        return 108 + len;
    case CW_MPLS:
        memcpy(out, MACS, 12);
        ph_put_be16(out + 12, 0x8847);
        ph_put_be32(out + 14, 100u << 12 | 64);           /* label 100 */
        ph_put_be32(out + 18, 200u << 12 | 1u << 8 | 64);  /* label 200, bottom */
        memcpy(out + 22, ip, iplen);
        return 22 + iplen;
    case CW_GRE_IP:
        h = outer_ipv4(out, 47, 8 + iplen);
        ph_put_be16(out + h, 0x2000);  /* key present */
        ph_put_be16(out + h + 2, et);
        ph_put_be32(out + h + 4, 77);
        memcpy(out + h + 8, ip, iplen);
        return h + 8 + iplen;
    case CW_GRE_ETH:
        h = outer_ipv4(out, 47, 4 + len);
        ph_put_be16(out + h, 0);
        ph_put_be16(out + h + 2, 0x6558);
        memcpy(out + h + 4, eth, len);
        return h + 4 + len;
    case CW_ERSPAN1:
        h = outer_ipv4(out, 47, 4 + len);
        ph_put_be16(out + h, 0);
        ph_put_be16(out + h + 2, 0x88be);
        memcpy(out + h + 4, eth, len);
        return h + 4 + len;
    case CW_ERSPAN2:
        h = outer_ipv4(out, 47, 16 + len);
        ph_put_be16(out + h, 0x1000); /* sequence number present */
        ph_put_be16(out + h + 2, 0x88be);
        ph_put_be32(out + h + 4, 9);
        memset(out + h + 8, 0, 8);
        out[h + 8] = 0x10; /* version 1 */
        memcpy(out + h + 16, eth, len);
        return h + 16 + len;
    case CW_ERSPAN3:
        h = outer_ipv4(out, 47, 8 + 20 + len);
        ph_put_be16(out + h, 0x1000);
        ph_put_be16(out + h + 2, 0x22eb);
        ph_put_be32(out + h + 4, 9);
        memset(out + h + 8, 0, 20);
        out[h + 8] = 0x20;  /* version 2 */
        out[h + 8 + 11] = 1; /* O: platform subheader follows */
        memcpy(out + h + 28, eth, len);
        return h + 28 + len;
    case CW_VXLAN:
    case CW_GENEVE: {
        size_t th = w == CW_VXLAN ? 8 : 16;
        h = outer_ipv4(out, 17, 8 + th + len);
        ph_put_be16(out + h, 54321);
        ph_put_be16(out + h + 2, w == CW_VXLAN ? 4789 : 6081);
        ph_put_be16(out + h + 4, (uint16_t)(8 + th + len));
        ph_put_be16(out + h + 6, 0);
        uint8_t *t = out + h + 8;
        memset(t, 0, th);
        if (w == CW_VXLAN) {
            t[0] = 0x08;
            t[6] = 1; /* VNI */
        } else {
            t[0] = 2;  /* 2 words of options */
            ph_put_be16(t + 2, 0x6558);
        }
        memcpy(t + th, eth, len);
        return h + 8 + th + len;
    }
    case CW_IPIP:
        h = outer_ipv4(out, v6 ? 41 : 4, iplen);
        memcpy(out + h, ip, iplen);
        return h + iplen;
    case CW_COUNT:
        break;
    }
    fail_msg("bad wrap %d", (int)w);
    return 0;
}

void capgen_pcap_to_ng(const char *in, const char *out, const enum capgen_wrap *kinds,
                       const uint32_t *snaplens, size_t n, bool big_endian)
{
    struct capgen_rec *r;
    size_t nr = capgen_read_pcap(in, &r);
    capgen_ng *w = capgen_ng_open(out, big_endian);
    bool described[MAX_IF] = {false};
    uint32_t ifno[MAX_IF];
    assert_true(n <= MAX_IF);
    for (size_t i = 0; i < nr; i++) {
        size_t k = i % n;
        if (!described[k]) {
            ifno[k] = capgen_ng_iface(w, capgen_wrap_linktype(kinds[k]), snaplens[k], 9, 0);
            described[k] = true;
        }
        uint8_t *f = malloc(r[i].len + CAPGEN_WRAP_EXTRA);
        assert_non_null(f);
        size_t fl = capgen_wrap(kinds[k], r[i].data, r[i].len, f);
        uint32_t cap = snaplens[k] && fl > snaplens[k] ? snaplens[k] : (uint32_t)fl;
        capgen_ng_epb(w, ifno[k], r[i].ts_ns, f, cap, (uint32_t)fl);
        free(f);
    }
    capgen_ng_close(w);
    capgen_free_recs(r, nr);
}

void capgen_pcap_rewrap(const char *in, const char *out, enum capgen_wrap kind, unsigned flags)
{
    struct capgen_rec *r;
    size_t nr = capgen_read_pcap(in, &r);
    capgen_pcap *w = capgen_pcap_open(out, capgen_wrap_linktype(kind), 262144, flags);
    for (size_t i = 0; i < nr; i++) {
        uint8_t *f = malloc(r[i].len + CAPGEN_WRAP_EXTRA);
        assert_non_null(f);
        size_t fl = capgen_wrap(kind, r[i].data, r[i].len, f);
        capgen_pcap_rec(w, r[i].ts_ns, f, (uint32_t)fl, (uint32_t)fl);
        free(f);
    }
    capgen_pcap_close(w);
    capgen_free_recs(r, nr);
}
