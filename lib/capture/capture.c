#include "capture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Link types by number, so that the code does not depend on which DLT_
 * macros a given libpcap defines. */
enum {
    LT_NULL = 0, LT_EN10MB = 1, LT_RAW_LINUX = 12, LT_RAW_BSDOS = 14,
    LT_RAW = 101, LT_LOOP = 108, LT_LINUX_SLL = 113, LT_IPV4 = 228,
    LT_IPV6 = 229, LT_LINUX_SLL2 = 276,
};

enum { ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd };

/* Tags stacked deeper than this are treated as malformed. */
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT 16

struct ph_capture {
    pcap_t *pcap;
    struct bpf_program prog;
    bool have_prog;
    int dlt;
    struct ph_capture_stats stats;
    ph_err sticky;          /* error repeated by every later call */
    long long good_offset;  /* file offset past the last good record */
    char err[PH_CAPTURE_ERRLEN];
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

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

static pres parse_tcp(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt)
{
    if (len < 20)
        return P_SHORT;
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20 || doff > len)
        return P_SHORT;
    pkt->src.port = be16(p);
    pkt->dst.port = be16(p + 2);
    pkt->seq = be32(p + 4);
    pkt->ack = be32(p + 8);
    pkt->flags = p[13];
    pkt->payload = p + doff;
    pkt->payload_len = len - doff;
    return P_OK;
}

static pres parse_ipv4(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt)
{
    if (len < 20 || (p[0] >> 4) != 4)
        return P_SHORT;
    size_t ihl = (size_t)(p[0] & 15) * 4;
    size_t tot = be16(p + 2);
    if (ihl < 20 || ihl > len)
        return P_SHORT;
    /* A zero total length is what segmentation offload (and IPv4 BIG TCP)
     * leaves on segments above 64 KiB: the frame is the only length. */
    if (tot == 0)
        tot = len;
    if (tot < ihl || tot > len)
        return P_SHORT;
    if (be16(p + 6) & 0x3fff) /* more-fragments flag or an offset */
        return P_FRAGMENT;
    if (p[9] != IPPROTO_TCP)
        return P_OTHER;
    memset(&pkt->src, 0, sizeof pkt->src);
    memset(&pkt->dst, 0, sizeof pkt->dst);
    pkt->src.family = pkt->dst.family = 4;
    memcpy(pkt->src.addr, p + 12, 4);
    memcpy(pkt->dst.addr, p + 16, 4);
    return parse_tcp(p + ihl, tot - ihl, pkt);
}

static pres parse_ipv6(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt)
{
    if (len < 40 || (p[0] >> 4) != 6)
        return P_SHORT;
    size_t plen = be16(p + 4);
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
            if (be16(p + off + 2) & 0xfff9)
                return P_FRAGMENT;
            hl = 8;
            break;
        default:
            return P_OTHER;
        }
        if (hl > end - off)
            return P_SHORT;
        nh = p[off];
        off += hl;
    }
    return P_SHORT;
}

static pres parse_ethertype(uint16_t type, const uint8_t *p, size_t len,
                            struct ph_tcp_packet *pkt)
{
    for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100 || type == 0x9200;
         tags++) {
        if (tags == MAX_VLAN_TAGS || len < 4)
            return P_SHORT;
        type = be16(p + 2);
        p += 4;
        len -= 4;
    }
    if (type == ETH_IPV4)
        return parse_ipv4(p, len, pkt);
    if (type == ETH_IPV6)
        return parse_ipv6(p, len, pkt);
    return P_OTHER;
}

static pres parse_raw_ip(const uint8_t *p, size_t len, struct ph_tcp_packet *pkt)
{
    if (len < 1)
        return P_SHORT;
    switch (p[0] >> 4) {
    case 4: return parse_ipv4(p, len, pkt);
    case 6: return parse_ipv6(p, len, pkt);
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
                       struct ph_tcp_packet *pkt)
{
    if (len < 4)
        return P_SHORT;
    int fam = bsd_af(be32(p));
    if (!fam && !big_endian_only)
        fam = bsd_af(le32(p));
    if (fam == 4)
        return parse_ipv4(p + 4, len - 4, pkt);
    if (fam == 6)
        return parse_ipv6(p + 4, len - 4, pkt);
    return P_OTHER;
}

bool ph_capture_linktype_supported(int dlt)
{
    switch (dlt) {
    case LT_NULL: case LT_EN10MB: case LT_RAW_LINUX: case LT_RAW_BSDOS: case LT_RAW:
    case LT_LOOP: case LT_LINUX_SLL: case LT_IPV4: case LT_IPV6: case LT_LINUX_SLL2:
        return true;
    default:
        return false;
    }
}

static pres parse_link(int dlt, const uint8_t *f, size_t len, struct ph_tcp_packet *pkt)
{
    switch (dlt) {
    case LT_EN10MB:
        if (len < 14)
            return P_SHORT;
        return parse_ethertype(be16(f + 12), f + 14, len - 14, pkt);
    case LT_NULL:
        return parse_null(f, len, false, pkt);
    case LT_LOOP:
        return parse_null(f, len, true, pkt);
    case LT_LINUX_SLL:
        if (len < 16)
            return P_SHORT;
        return parse_ethertype(be16(f + 14), f + 16, len - 16, pkt);
    case LT_LINUX_SLL2:
        if (len < 20)
            return P_SHORT;
        return parse_ethertype(be16(f), f + 20, len - 20, pkt);
    case LT_IPV4:
        return parse_ipv4(f, len, pkt);
    case LT_IPV6:
        return parse_ipv6(f, len, pkt);
    default: /* the raw IP types */
        return parse_raw_ip(f, len, pkt);
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
    switch (parse_link(dlt, frame, len, pkt)) {
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

ph_err ph_capture_open(ph_capture **out, const char *path, const char *filter, char *err)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    if (!out || !path)
        return PH_ERR_ARG;
    *out = NULL;
    set_err(err, "");
    ph_capture *c = calloc(1, sizeof *c);
    if (!c)
        return PH_ERR_NOMEM;
    c->pcap = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!c->pcap) {
        set_err(err, ebuf);
        free(c);
        return PH_ERR_CAPTURE_OPEN;
    }
    c->dlt = pcap_datalink(c->pcap);
    if (!ph_capture_linktype_supported(c->dlt)) {
        const char *name = pcap_datalink_val_to_name(c->dlt);
        char msg[128];
        snprintf(msg, sizeof msg, "link type %d (%s) is not supported", c->dlt,
                 name ? name : "unknown");
        set_err(err, msg);
        ph_capture_close(c);
        return PH_ERR_CAPTURE_LINKTYPE;
    }
    if (filter && *filter) {
        /* Filtering ourselves with pcap_offline_filter (rather than
         * pcap_setfilter) keeps record numbers equal to the file's. */
        if (pcap_compile(c->pcap, &c->prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            set_err(err, pcap_geterr(c->pcap));
            ph_capture_close(c);
            return PH_ERR_CAPTURE_FILTER;
        }
        c->have_prog = true;
    }
    FILE *f = pcap_file(c->pcap);
    c->good_offset = f ? ftell(f) : -1;
    *out = c;
    return PH_OK;
}

void ph_capture_close(ph_capture *c)
{
    if (!c)
        return;
    if (c->have_prog)
        pcap_freecode(&c->prog);
    if (c->pcap)
        pcap_close(c->pcap);
    free(c);
}

static ph_err fail(ph_capture *c, ph_err e, const char *msg)
{
    c->sticky = e;
    snprintf(c->err, sizeof c->err, "%s", msg);
    return e;
}

ph_err ph_capture_next(ph_capture *c, struct ph_tcp_packet *pkt)
{
    if (!c || !pkt)
        return PH_ERR_ARG;
    if (c->sticky)
        return c->sticky;
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int r = pcap_next_ex(c->pcap, &h, &data);
        if (r == PCAP_ERROR_BREAK)
            return fail(c, PH_ERR_EOF, "");
        if (r != 1) {
            const char *msg = pcap_geterr(c->pcap);
            ph_err e = strstr(msg, "truncated") ? PH_ERR_CAPTURE_TRUNCATED
                                                : PH_ERR_CAPTURE_CORRUPT;
            return fail(c, e, msg);
        }
        c->stats.records++;
        FILE *f = pcap_file(c->pcap);
        c->good_offset = f ? ftell(f) : -1;
        if (c->have_prog && !pcap_offline_filter(&c->prog, h, data))
            continue;
        /* A record cut by the snapshot length may still parse (offload
         * leaves IP lengths at zero), so check the capture's own word. */
        pres v = h->caplen < h->len ? P_SHORT : parse_link(c->dlt, data, h->caplen, pkt);
        switch (v) {
        case P_OK:
            pkt->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
            pkt->number = c->stats.records;
            c->stats.tcp++;
            return PH_OK;
        case P_SHORT:
            if (!c->stats.truncated)
                c->stats.first_truncated = c->stats.records;
            c->stats.truncated++;
            break;
        case P_FRAGMENT:
            c->stats.fragments++;
            break;
        case P_OTHER:
            c->stats.other++;
            break;
        }
    }
}

const struct ph_capture_stats *ph_capture_stats(const ph_capture *c) { return &c->stats; }
int ph_capture_linktype(const ph_capture *c) { return c->dlt; }
const char *ph_capture_error(const ph_capture *c) { return c->err; }
long long ph_capture_error_offset(const ph_capture *c) { return c->good_offset; }
