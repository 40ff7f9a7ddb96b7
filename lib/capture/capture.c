#include "capture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capfile.h"
#include "byteorder.h"

/* Link types by number (LINKTYPE_ values as files hold them), so that the
 * code does not depend on which DLT_ macros a given libpcap defines. */
enum {
    LT_NULL = 0, LT_EN10MB = 1, LT_PPP = 9, LT_RAW_LINUX = 12, LT_RAW_BSDOS = 14,
    LT_PPP_HDLC = 50, LT_PPP_ETHER = 51, LT_RAW = 101, LT_C_HDLC = 104, LT_LOOP = 108,
    LT_LINUX_SLL = 113, LT_PPP_WITH_DIR = 204, LT_IPV4 = 228, LT_IPV6 = 229,
    LT_NFLOG = 239, LT_PKTAP = 258, LT_LINUX_SLL2 = 276,
};

enum {
    ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_TEB = 0x6558, ETH_PPPOE = 0x8864,
    ETH_MPLS = 0x8847, ETH_MPLS_MC = 0x8848, ETH_ERSPAN2 = 0x88be, ETH_ERSPAN3 = 0x22eb,
    ETH_PPP = 0x880b,
};

enum { IPP_IPIP = 4, IPP_UDP = 17, IPP_IPV6 = 41, IPP_GRE = 47 };
enum { UDP_VXLAN = 4789, UDP_VXLAN_LINUX = 8472, UDP_GENEVE = 6081 };

/* Tags stacked deeper than this are treated as malformed. */
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT 16
#define MAX_MPLS_LABELS 16
/* Link types met in one file, each with its compiled filter. */
#define MAX_PROGS 16

struct prog {
    int linktype;
    bool ok;                 /* compiled; else records of this type are skipped */
    struct bpf_program bpf;
};

struct ph_capture {
    ph_capfile *file;
    char *filter;
    struct prog progs[MAX_PROGS];
    size_t nprogs;
    struct ph_capture_stats stats;
    ph_err sticky;          /* error repeated by every later call */
    char err[PH_CAPTURE_ERRLEN];
    char filter_err[PH_CAPTURE_ERRLEN];
};

/* ---- endpoints ---- */

void ph_endpoint_format(const struct ph_endpoint *ep, char out[PH_ENDPOINT_STRLEN])
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ep->family == 4) {
        inet_ntop(AF_INET, ep->addr, host, sizeof host);
        snprintf(out, PH_ENDPOINT_STRLEN, "%s:%u", host, ep->port);
    } else {
        inet_ntop(AF_INET6, ep->addr, host, sizeof host);
        snprintf(out, PH_ENDPOINT_STRLEN, "[%s]:%u", host, ep->port);
    }
}

bool ph_endpoint_equal(const struct ph_endpoint *a, const struct ph_endpoint *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

static bool parse_port(const char *s, uint16_t *port)
{
    if (!*s)
        return false;
    unsigned long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return false;
    }
    *port = (uint16_t)v;
    return true;
}

ph_err ph_endpoint_parse(const char *s, struct ph_endpoint *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    struct ph_endpoint ep;
    memset(&ep, 0, sizeof ep);
    if (!s)
        return PH_ERR_ARG;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return PH_ERR_PARSE;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        if (inet_pton(AF_INET6, host, ep.addr) != 1)
            return PH_ERR_PARSE;
        ep.family = 6;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host)
            return PH_ERR_PARSE;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (inet_pton(AF_INET, host, ep.addr) != 1)
            return PH_ERR_PARSE;
        ep.family = 4;
    }
    if (!parse_port(colon + 1, &ep.port))
        return PH_ERR_PARSE;
    *out = ep;
    return PH_OK;
}

ph_err ph_endpoint_from_sockaddr(const void *sa, size_t salen, struct ph_endpoint *out)
{
    struct ph_endpoint ep;
    memset(&ep, 0, sizeof ep);
    if (!sa || salen < sizeof(sa_family_t))
        return PH_ERR_ARG;
    sa_family_t fam;
    memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof fam);
    if (fam == AF_INET && salen >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof sin);
        ep.family = 4;
        memcpy(ep.addr, &sin.sin_addr, 4);
        ep.port = ntohs(sin.sin_port);
    } else if (fam == AF_INET6 && salen >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof sin6);
        ep.family = 6;
        memcpy(ep.addr, &sin6.sin6_addr, 16);
        ep.port = ntohs(sin6.sin6_port);
    } else {
        return PH_ERR_ARG;
    }
    *out = ep;
    return PH_OK;
}

/* ---- frame parsing ---- */

/* Internal verdicts of the layer parsers. */
typedef enum { P_OK, P_SHORT, P_OTHER, P_FRAGMENT } pres;

/* What the parsers learn on the way down. */
struct pctx {
    int depth;               /* encapsulations opened so far */
    bool vlan;               /* a VLAN tag was crossed */
    bool tunnel;             /* a tunnel was opened */
};

static pres parse_link(int dlt, const uint8_t *f, size_t len, struct ph_tcp_packet *pkt,
                       struct pctx *cx);
static pres parse_ethertype(uint16_t type, const uint8_t *p, size_t len,
                            struct ph_tcp_packet *pkt, struct pctx *cx);

/* One more level of encapsulation, or P_SHORT (treated as malformed) when
 * a packet nests deeper than anything real does. */
static bool deeper(struct pctx *cx)
{
    return ++cx->depth <= PH_CAPTURE_MAX_DEPTH;
}

static pres parse_tcp(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt)
{
    if (len < 20)
        return P_SHORT;
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20 || doff > len)
        return P_SHORT;
    pkt->src.port = ph_be16(p);
    pkt->dst.port = ph_be16(p + 2);
    pkt->seq = ph_be32(p + 4);
    pkt->ack = ph_be32(p + 8);
    pkt->flags = p[13];
    pkt->payload = p + doff;
    pkt->payload_len = len - doff;
    return P_OK;
}

static pres parse_ip(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx);
static pres parse_ipv4(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx);
static pres parse_ipv6(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx);

static pres open_tunnel(struct pctx *cx)
{
    cx->tunnel = true;
    return deeper(cx) ? P_OK : P_SHORT;
}

/* GRE (RFC 2784/2890, and version 1 as PPTP uses it). */
static pres parse_gre(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len < 4)
        return P_SHORT;
    uint16_t flags = ph_be16(p), proto = ph_be16(p + 2);
    unsigned version = flags & 7;
    if (version > 1 || (flags & 0x4000)) /* source routing: long obsolete */
        return P_OTHER;
    size_t hl = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
                ((flags & 0x1000) ? 4 : 0) + (version == 1 && (flags & 0x0080) ? 4 : 0);
    if (hl > len)
        return P_SHORT;
    p += hl;
    len -= hl;
    if (open_tunnel(cx) != P_OK)
        return P_SHORT;
    if (proto == ETH_ERSPAN2) {
        /* Type II has a sequence number and an 8-byte header; type I has
         * neither. */
        if (flags & 0x1000) {
            if (len < 8)
                return P_SHORT;
            p += 8;
            len -= 8;
        }
        return parse_link(LT_EN10MB, p, len, pkt, cx);
    }
    if (proto == ETH_ERSPAN3) {
        if (len < 12)
            return P_SHORT;
        size_t eh = 12 + ((p[11] & 1) ? 8 : 0); /* O flag: platform subheader */
        if (eh > len)
            return P_SHORT;
        return parse_link(LT_EN10MB, p + eh, len - eh, pkt, cx);
    }
    if (proto == ETH_PPP)
        return parse_link(LT_PPP, p, len, pkt, cx);
    return parse_ethertype(proto, p, len, pkt, cx);
}

/* UDP: only the tunnels that carry Ethernet frames. */
static pres parse_udp(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len < 8)
        return P_SHORT;
    uint16_t dport = ph_be16(p + 2), ulen = ph_be16(p + 4);
    if (ulen >= 8 && ulen < len)
        len = ulen;
    p += 8;
    len -= 8;
    if (dport == UDP_VXLAN || dport == UDP_VXLAN_LINUX) {
        if (len < 8)
            return P_SHORT;
        if (!(p[0] & 0x08)) /* no VNI: not VXLAN */
            return P_OTHER;
        if (open_tunnel(cx) != P_OK)
            return P_SHORT;
        return parse_link(LT_EN10MB, p + 8, len - 8, pkt, cx);
    }
    if (dport == UDP_GENEVE) {
        if (len < 8)
            return P_SHORT;
        size_t hl = 8 + (size_t)(p[0] & 0x3f) * 4;
        if ((p[0] >> 6) != 0)
            return P_OTHER;
        if (hl > len)
            return P_SHORT;
        if (open_tunnel(cx) != P_OK)
            return P_SHORT;
        return parse_ethertype(ph_be16(p + 2), p + hl, len - hl, pkt, cx);
    }
    return P_OTHER;
}

/* The transport of an IP packet whose header is parsed: TCP, or a tunnel. */
static pres parse_transport(uint8_t proto, const uint8_t *p, size_t len,
                            struct ph_tcp_packet *pkt, struct pctx *cx)
{
    switch (proto) {
    case IPPROTO_TCP:
        return parse_tcp(p, len, pkt);
    case IPP_IPIP:
        return open_tunnel(cx) == P_OK ? parse_ipv4(p, len, pkt, cx) : P_SHORT;
    case IPP_IPV6:
        return open_tunnel(cx) == P_OK ? parse_ipv6(p, len, pkt, cx) : P_SHORT;
    case IPP_GRE:
        return parse_gre(p, len, pkt, cx);
    case IPP_UDP:
        return parse_udp(p, len, pkt, cx);
    default:
        return P_OTHER;
    }
}

static pres parse_ipv4(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len < 20 || (p[0] >> 4) != 4)
        return P_SHORT;
    size_t ihl = (size_t)(p[0] & 15) * 4;
    size_t tot = ph_be16(p + 2);
    if (ihl < 20 || ihl > len)
        return P_SHORT;
    /* A zero total length is what segmentation offload (and IPv4 BIG TCP)
     * leaves on segments above 64 KiB: the frame is the only length. */
    if (tot == 0)
        tot = len;
    if (tot < ihl || tot > len)
        return P_SHORT;
    if (ph_be16(p + 6) & 0x3fff) /* more-fragments flag or an offset */
        return p[9] == IPPROTO_TCP ? P_FRAGMENT : P_OTHER;
    if (p[9] == IPPROTO_TCP) {
        memset(&pkt->src, 0, sizeof pkt->src);
        memset(&pkt->dst, 0, sizeof pkt->dst);
        pkt->src.family = pkt->dst.family = 4;
        memcpy(pkt->src.addr, p + 12, 4);
        memcpy(pkt->dst.addr, p + 16, 4);
    }
    return parse_transport(p[9], p + ihl, tot - ihl, pkt, cx);
}

static pres parse_ipv6(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len < 40 || (p[0] >> 4) != 6)
        return P_SHORT;
    size_t plen = ph_be16(p + 4);
    if (plen == 0) /* jumbogram / BIG TCP: the frame is the only length */
        plen = len - 40;
    if (plen > len - 40)
        return P_SHORT;
    size_t end = 40 + plen, off = 40;
    uint8_t nh = p[6];
    for (int i = 0; i < MAX_IPV6_EXT; i++) {
        size_t hl;
        switch (nh) {
        case IPPROTO_TCP:
            memset(&pkt->src, 0, sizeof pkt->src);
            memset(&pkt->dst, 0, sizeof pkt->dst);
            pkt->src.family = pkt->dst.family = 6;
            memcpy(pkt->src.addr, p + 8, 16);
            memcpy(pkt->dst.addr, p + 24, 16);
            return parse_tcp(p + off, end - off, pkt);
        case 0: case 43: case 60: case 135: case 139: case 140:
            if (end - off < 8)
                return P_SHORT;
            hl = ((size_t)p[off + 1] + 1) * 8;
            break;
        case 51: /* AH counts 4-byte units, minus 2 */
            if (end - off < 8)
                return P_SHORT;
            hl = ((size_t)p[off + 1] + 2) * 4;
            break;
        case 44: /* fragment header: only an atomic fragment carries TCP whole */
            if (end - off < 8)
                return P_SHORT;
            if (ph_be16(p + off + 2) & 0xfff9)
                return p[off] == IPPROTO_TCP ? P_FRAGMENT : P_OTHER;
            hl = 8;
            break;
        default:
            return parse_transport(nh, p + off, end - off, pkt, cx);
        }
        if (hl > end - off)
            return P_SHORT;
        nh = p[off];
        off += hl;
    }
    return P_SHORT;
}

static pres parse_ip(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len < 1)
        return P_SHORT;
    switch (p[0] >> 4) {
    case 4: return parse_ipv4(p, len, pkt, cx);
    case 6: return parse_ipv6(p, len, pkt, cx);
    default: return P_OTHER;
    }
}

/* PPP protocol field (possibly compressed to one byte) and what follows. */
static pres parse_ppp_proto(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt,
                            struct pctx *cx)
{
    if (len < 1)
        return P_SHORT;
    uint16_t proto;
    if (p[0] & 1) { /* protocol-field compression */
        proto = p[0];
        p += 1;
        len -= 1;
    } else {
        if (len < 2)
            return P_SHORT;
        proto = ph_be16(p);
        p += 2;
        len -= 2;
    }
    if (proto == 0x21)
        return parse_ipv4(p, len, pkt, cx);
    if (proto == 0x57)
        return parse_ipv6(p, len, pkt, cx);
    return P_OTHER;
}

/* PPP in HDLC-like framing: address 0xff and control 0x03 may be there. */
static pres parse_ppp(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len >= 2 && p[0] == 0xff && p[1] == 0x03) {
        p += 2;
        len -= 2;
    }
    return parse_ppp_proto(p, len, pkt, cx);
}

/* PPPoE session header (RFC 2516): version/type, code, session, length. */
static pres parse_pppoe(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt,
                        struct pctx *cx)
{
    if (len < 6)
        return P_SHORT;
    if (p[0] != 0x11 || p[1] != 0)
        return P_OTHER;
    size_t plen = ph_be16(p + 4);
    if (plen > len - 6)
        return P_SHORT;
    return parse_ppp_proto(p + 6, plen, pkt, cx);
}

static pres parse_mpls(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt, struct pctx *cx)
{
    for (int i = 0; i < MAX_MPLS_LABELS; i++) {
        if (len < 4)
            return P_SHORT;
        bool bottom = p[2] & 1;
        p += 4;
        len -= 4;
        if (bottom)
            return parse_ip(p, len, pkt, cx);
    }
    return P_SHORT;
}

static pres parse_ethertype(uint16_t type, const uint8_t *p, size_t len,
                            struct ph_tcp_packet *pkt, struct pctx *cx)
{
    for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100 || type == 0x9200;
         tags++) {
        if (tags == MAX_VLAN_TAGS || len < 4)
            return P_SHORT;
        cx->vlan = true;
        type = ph_be16(p + 2);
        p += 4;
        len -= 4;
    }
    switch (type) {
    case ETH_IPV4: return parse_ipv4(p, len, pkt, cx);
    case ETH_IPV6: return parse_ipv6(p, len, pkt, cx);
    case ETH_PPPOE: return parse_pppoe(p, len, pkt, cx);
    case ETH_MPLS: case ETH_MPLS_MC: return parse_mpls(p, len, pkt, cx);
    case ETH_TEB: return deeper(cx) ? parse_link(LT_EN10MB, p, len, pkt, cx) : P_SHORT;
    default: return P_OTHER;
    }
}

/* BSD loopback: the address family in the capturing host's byte order,
 * and AF_INET6 differs between the BSDs. */
static int bsd_af(uint32_t v)
{
    if (v == 2)
        return 4;
    if (v == 10 || v == 24 || v == 28 || v == 30)
        return 6;
    return 0;
}

static pres parse_null(const uint8_t *p, size_t len, bool big_endian_only,
                       struct ph_tcp_packet *pkt, struct pctx *cx)
{
    if (len < 4)
        return P_SHORT;
    int fam = bsd_af(ph_be32(p));
    if (!fam && !big_endian_only)
        fam = bsd_af(ph_le32(p));
    if (fam == 4)
        return parse_ipv4(p + 4, len - 4, pkt, cx);
    if (fam == 6)
        return parse_ipv6(p + 4, len - 4, pkt, cx);
    return P_OTHER;
}

/* Linux NFLOG: a 4-byte header, then TLVs in the capturing host's byte
 * order (little-endian unless the lengths only make sense big-endian); the
 * packet is the NFULA_PAYLOAD TLV. */
static pres nflog_tlvs(const uint8_t *p, size_t len, bool big, struct ph_tcp_packet *pkt,
                       struct pctx *cx, bool *consistent)
{
    size_t off = 4;
    *consistent = true;
    while (off + 4 <= len) {
        size_t tl = big ? ph_be16(p + off) : (size_t)(p[off] | p[off + 1] << 8);
        unsigned type = big ? ph_be16(p + off + 2) : (unsigned)(p[off + 2] | p[off + 3] << 8);
        if (tl < 4 || tl > len - off) {
            *consistent = false;
            return P_SHORT;
        }
        if ((type & 0x7fff) == 9) /* NFULA_PAYLOAD */
            return parse_ip(p + off + 4, tl - 4, pkt, cx);
        off += (tl + 3) & ~(size_t)3;
    }
    return P_OTHER;
}

static pres parse_nflog(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt,
                        struct pctx *cx)
{
    if (len < 4)
        return P_SHORT;
    if (p[0] != 2 && p[0] != 10)
        return P_OTHER; /* neither AF_INET nor AF_INET6 */
    bool ok;
    pres r = nflog_tlvs(p, len, false, pkt, cx, &ok);
    if (ok)
        return r;
    pres rb = nflog_tlvs(p, len, true, pkt, cx, &ok);
    return ok ? rb : r;
}

/* Apple PKTAP: a header of pth_length bytes (little-endian: written by
 * macOS hosts) naming the link type of the frame that follows. */
static pres parse_pktap(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt,
                        struct pctx *cx)
{
    if (len < 12)
        return P_SHORT;
    uint32_t hl = ph_le32(p), dlt = ph_le32(p + 8);
    if (hl < 12 || hl > len)
        return P_SHORT;
    if (dlt == LT_PKTAP || !deeper(cx))
        return P_SHORT;
    return parse_link((int)dlt, p + hl, len - hl, pkt, cx);
}

bool ph_capture_linktype_supported(int dlt)
{
    return ph_capture_linktype_name(dlt) != NULL;
}

const char *ph_capture_linktype_name(int dlt)
{
    switch (dlt) {
    case LT_NULL: return "NULL";
    case LT_EN10MB: return "EN10MB";
    case LT_PPP: return "PPP";
    case LT_RAW_LINUX: case LT_RAW_BSDOS: case LT_RAW: return "RAW";
    case LT_PPP_HDLC: return "PPP_HDLC";
    case LT_PPP_ETHER: return "PPP_ETHER";
    case LT_C_HDLC: return "C_HDLC";
    case LT_LOOP: return "LOOP";
    case LT_LINUX_SLL: return "LINUX_SLL";
    case LT_PPP_WITH_DIR: return "PPP_WITH_DIR";
    case LT_IPV4: return "IPV4";
    case LT_IPV6: return "IPV6";
    case LT_NFLOG: return "NFLOG";
    case LT_PKTAP: return "PKTAP";
    case LT_LINUX_SLL2: return "LINUX_SLL2";
    default: return NULL;
    }
}

static pres parse_link(int dlt, const uint8_t *f, size_t len, struct ph_tcp_packet *pkt,
                       struct pctx *cx)
{
    switch (dlt) {
    case LT_EN10MB:
        if (len < 14)
            return P_SHORT;
        return parse_ethertype(ph_be16(f + 12), f + 14, len - 14, pkt, cx);
    case LT_NULL:
        return parse_null(f, len, false, pkt, cx);
    case LT_LOOP:
        return parse_null(f, len, true, pkt, cx);
    case LT_LINUX_SLL:
        if (len < 16)
            return P_SHORT;
        return parse_ethertype(ph_be16(f + 14), f + 16, len - 16, pkt, cx);
    case LT_LINUX_SLL2:
        if (len < 20)
            return P_SHORT;
        return parse_ethertype(ph_be16(f), f + 20, len - 20, pkt, cx);
    case LT_IPV4:
        return parse_ipv4(f, len, pkt, cx);
    case LT_IPV6:
        return parse_ipv6(f, len, pkt, cx);
    case LT_RAW_LINUX: case LT_RAW_BSDOS: case LT_RAW:
        return parse_ip(f, len, pkt, cx);
    case LT_PPP: case LT_PPP_HDLC:
        return parse_ppp(f, len, pkt, cx);
    case LT_PPP_WITH_DIR:
        if (len < 1)
            return P_SHORT;
        return parse_ppp(f + 1, len - 1, pkt, cx);
    case LT_PPP_ETHER:
        return parse_pppoe(f, len, pkt, cx);
    case LT_C_HDLC:
        if (len < 4)
            return P_SHORT;
        return parse_ethertype(ph_be16(f + 2), f + 4, len - 4, pkt, cx);
    case LT_NFLOG:
        return parse_nflog(f, len, pkt, cx);
    case LT_PKTAP:
        return parse_pktap(f, len, pkt, cx);
    default:
        return P_OTHER;
    }
}

ph_err ph_capture_parse_frame(int dlt, const uint8_t *frame, size_t len,
                              struct ph_tcp_packet *pkt, bool *fragment)
{
    if (fragment)
        *fragment = false;
    if (!ph_capture_linktype_supported(dlt))
        return PH_ERR_CAPTURE_LINKTYPE;
    if (!frame || !pkt)
        return PH_ERR_ARG;
    struct pctx cx = {0};
    switch (parse_link(dlt, frame, len, pkt, &cx)) {
    case P_OK:
        return PH_OK;
    case P_SHORT:
        return PH_ERR_EOF;
    case P_FRAGMENT:
        if (fragment)
            *fragment = true;
        return PH_ERR_PARSE;
    default:
        return PH_ERR_PARSE;
    }
}

/* ---- files ---- */

static void set_err(char *err, const char *msg)
{
    if (err)
        snprintf(err, PH_CAPTURE_ERRLEN, "%s", msg);
}

/* The compiled filter for `linktype`, compiled the first time it is met;
 * NULL when it cannot apply (then filter_err says why). */
static const struct prog *prog_for(ph_capture *c, int linktype, char *err)
{
    for (size_t i = 0; i < c->nprogs; i++)
        if (c->progs[i].linktype == linktype)
            return c->progs[i].ok ? &c->progs[i] : NULL;
    if (c->nprogs == MAX_PROGS) {
        set_err(err, "too many different link types to filter");
        return NULL;
    }
    struct prog *p = &c->progs[c->nprogs++];
    p->linktype = linktype;
    pcap_t *dead = pcap_open_dead(linktype, 262144);
    if (!dead) {
        set_err(err, "libpcap cannot compile filters for this link type");
        return NULL;
    }
    p->ok = pcap_compile(dead, &p->bpf, c->filter, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!p->ok)
        set_err(err, pcap_geterr(dead));
    pcap_close(dead);
    return p->ok ? p : NULL;
}

ph_err ph_capture_open_stream(ph_capture **out, FILE *fp, bool own, const char *filter,
                              char *err)
{
    if (!out || !fp) {
        if (own && fp)
            fclose(fp);
        return PH_ERR_ARG;
    }
    *out = NULL;
    set_err(err, "");
    ph_capture *c = calloc(1, sizeof *c);
    if (!c) {
        if (own)
            fclose(fp);
        return PH_ERR_NOMEM;
    }
    char ferr[PH_CAPFILE_ERRLEN];
    ph_err e = ph_capfile_open(&c->file, fp, own, ferr);
    if (e) {
        set_err(err, ferr);
        free(c);
        return e == PH_ERR_NOMEM ? e : PH_ERR_CAPTURE_OPEN;
    }
    if (filter && *filter && !(c->filter = strdup(filter))) {
        ph_capture_close(c);
        return PH_ERR_NOMEM;
    }
    if (ph_capfile_format(c->file) == PH_CAPFILE_PCAP) {
        int dlt = ph_capfile_iface(c->file, 0)->linktype;
        if (!ph_capture_linktype_supported(dlt)) {
            const char *name = pcap_datalink_val_to_name(dlt);
            char msg[128];
            snprintf(msg, sizeof msg, "link type %d (%s) is not supported", dlt,
                     name ? name : "unknown");
            set_err(err, msg);
            ph_capture_close(c);
            return PH_ERR_CAPTURE_LINKTYPE;
        }
    }
    /* A filter that does not even compile for Ethernet is a bad
     * expression: said at once, before any packet. */
    if (c->filter) {
        int first = ph_capfile_format(c->file) == PH_CAPFILE_PCAP
                        ? ph_capfile_iface(c->file, 0)->linktype
                        : LT_EN10MB;
        char perr[PH_CAPTURE_ERRLEN] = "";
        if (!prog_for(c, first, perr)) {
            set_err(err, perr);
            ph_capture_close(c);
            return PH_ERR_CAPTURE_FILTER;
        }
    }
    *out = c;
    return PH_OK;
}

ph_err ph_capture_open(ph_capture **out, const char *path, const char *filter, char *err)
{
    if (!out || !path)
        return PH_ERR_ARG;
    *out = NULL;
    if (strcmp(path, "-") == 0)
        return ph_capture_open_stream(out, stdin, false, filter, err);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        set_err(err, strerror(errno));
        return PH_ERR_CAPTURE_OPEN;
    }
    return ph_capture_open_stream(out, fp, true, filter, err);
}

void ph_capture_close(ph_capture *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nprogs; i++)
        if (c->progs[i].ok)
            pcap_freecode(&c->progs[i].bpf);
    ph_capfile_close(c->file);
    free(c->filter);
    free(c);
}

static ph_err fail(ph_capture *c, ph_err e, const char *msg)
{
    c->sticky = e;
    snprintf(c->err, sizeof c->err, "%s", msg);
    return e;
}

/* Whether the filter keeps record `r` (true without a filter). Records of
 * a link type the filter cannot apply to are counted and dropped. */
static bool filter_keeps(ph_capture *c, const struct ph_capfile_record *r, bool *unfilterable)
{
    *unfilterable = false;
    if (!c->filter)
        return true;
    char perr[PH_CAPTURE_ERRLEN] = "";
    const struct prog *p = prog_for(c, r->linktype, perr);
    if (!p) {
        if (!c->stats.unfilterable) {
            c->stats.unfilterable_linktype = r->linktype;
            snprintf(c->filter_err, sizeof c->filter_err, "%s", perr);
        }
        *unfilterable = true;
        return false;
    }
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof h);
    h.caplen = r->caplen;
    h.len = r->origlen < r->caplen ? r->caplen : r->origlen;
    return pcap_offline_filter(&p->bpf, &h, r->data) != 0;
}

static void count_short(ph_capture *c, const struct ph_capfile_record *r, bool cut)
{
    if (!c->stats.truncated)
        c->stats.first_truncated = r->number;
    c->stats.truncated++;
    if (!cut) {
        if (!c->stats.first_malformed)
            c->stats.first_malformed = r->number;
        return;
    }
    if (!c->stats.snapcut) {
        c->stats.first_snapcut = r->number;
        c->stats.snaplen = r->snaplen ? r->snaplen : r->caplen;
    }
    c->stats.snapcut++;
}

/* One record: PH_OK when it was a TCP segment (pkt filled). */
static bool take_record(ph_capture *c, const struct ph_capfile_record *r,
                        struct ph_tcp_packet *pkt)
{
    struct ph_capture_stats *st = &c->stats;
    if (r->linktype < 0) { /* names an interface never described */
        count_short(c, r, false);
        return false;
    }
    if (!ph_capture_linktype_supported(r->linktype)) {
        if (!st->unsupported) {
            st->unsupported_linktype = r->linktype;
            st->first_unsupported = r->number;
        }
        st->unsupported++;
        return false;
    }
    bool unfilterable;
    bool keep = filter_keeps(c, r, &unfilterable);
    if (unfilterable) {
        st->unfilterable++;
        return false;
    }
    struct pctx cx = {0};
    /* A record cut by the snapshot length may still parse (offload leaves
     * IP lengths at zero), so check the capture's own word first. */
    bool cut = r->caplen < r->origlen;
    pres v = cut ? P_SHORT : parse_link(r->linktype, r->data, r->caplen, pkt, &cx);
    if (!keep) {
        st->filtered++;
        if (cut) /* still worth knowing whether it was tagged */
            v = parse_link(r->linktype, r->data, r->caplen, pkt, &cx);
        if (cx.vlan && (v == P_OK || cut))
            st->vlan_filtered++;
        return false;
    }
    switch (v) {
    case P_OK:
        pkt->ts_ns = r->ts_ns;
        pkt->number = r->number;
        pkt->iface = r->iface;
        st->tcp++;
        st->vlan += cx.vlan;
        st->tunnelled += cx.tunnel;
        return true;
    case P_SHORT:
        count_short(c, r, cut);
        break;
    case P_FRAGMENT:
        st->fragments++;
        break;
    case P_OTHER:
        st->other++;
        break;
    }
    return false;
}

ph_err ph_capture_next(ph_capture *c, struct ph_tcp_packet *pkt)
{
    if (!c || !pkt)
        return PH_ERR_ARG;
    if (c->sticky)
        return c->sticky;
    for (;;) {
        struct ph_capfile_record r;
        ph_err e = ph_capfile_next(c->file, &r);
        if (e)
            return fail(c, e, ph_capfile_error(c->file));
        c->stats.records++;
        if (take_record(c, &r, pkt))
            return PH_OK;
    }
}

const struct ph_capture_stats *ph_capture_stats(const ph_capture *c) { return &c->stats; }
const char *ph_capture_error(const ph_capture *c) { return c->err; }
const char *ph_capture_filter_error(const ph_capture *c) { return c->filter_err; }
size_t ph_capture_interfaces(const ph_capture *c) { return ph_capfile_iface_count(c->file); }

bool ph_capture_is_pcapng(const ph_capture *c)
{
    return ph_capfile_format(c->file) == PH_CAPFILE_PCAPNG;
}

int ph_capture_linktype(const ph_capture *c)
{
    const struct ph_capfile_iface *i = ph_capfile_iface(c->file, 0);
    return i ? i->linktype : -1;
}

long long ph_capture_error_offset(const ph_capture *c)
{
    return (long long)ph_capfile_good_offset(c->file);
}
