/* Reading TCP segments out of capture files (pcap and pcapng).
 *
 * Files are read in one pass by lib/capture/capfile (pcap, and pcapng with
 * any number of interfaces of different link types and snapshot lengths),
 * from a path, standard input ("-"), a pipe or a FIFO. libpcap is used only
 * to compile the BPF filter (once per link type met in the file).
 *
 * Link types: Ethernet (802.1Q / 802.1ad / QinQ tags, PPPoE sessions and
 * MPLS label stacks skipped), BSD loopback (DLT_NULL, either byte order;
 * DLT_LOOP), Linux cooked v1 (SLL) and v2 (SLL2, what `tcpdump -i any`
 * writes), raw IP (LINKTYPE_RAW, IPV4, IPV6), PPP (PPP, PPP_HDLC,
 * PPP_WITH_DIR, PPP over Ethernet without its Ethernet header, Cisco HDLC),
 * Linux NFLOG and Apple PKTAP (both wrap a packet of another type).
 * Network layer: IPv4 (options skipped; fragments counted and dropped) and
 * IPv6 (extension headers skipped). Tunnels are opened, to a depth of
 * PH_CAPTURE_MAX_DEPTH: IP in IP (4, 41), GRE (IP, Ethernet, MPLS, PPP,
 * ERSPAN types I to III), VXLAN (UDP 4789 and 8472) and Geneve (UDP 6081);
 * the endpoints are the innermost ones. Transport: TCP only; everything
 * else is counted and skipped. Checksums are not verified: loopback
 * captures carry offloaded (wrong) checksums.
 *
 * Every header field is bounds-checked against the captured length. A
 * packet cut short by the interface's snapshot length (ph_capture_stats.
 * snapcut) or malformed is counted in ph_capture_stats.truncated (with the
 * first such packet's number) and not delivered: its payload is never
 * trusted. Packets of an interface whose link type is not supported are
 * counted (unsupported) rather than stopping the file, except in a pcap
 * file, where the one link type decides at open.
 *
 * Ownership: ph_capture is opaque, created by ph_capture_open(_stream) and
 * released by ph_capture_close. A delivered packet's pointers refer to the
 * reader's buffer and stay valid until the next ph_capture_next or close. */
#ifndef PH_CAPTURE_H
#define PH_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "error.h"

/* One end of a TCP connection. family is 4 or 6; an IPv4 address occupies
 * addr[0..3] (the rest is zero). Port in host byte order. */
struct ph_endpoint {
    uint8_t family;
    uint8_t addr[16];
    uint16_t port;
};

/* "127.0.0.1:9735" or "[::1]:9735". */
#define PH_ENDPOINT_STRLEN 56
void ph_endpoint_format(const struct ph_endpoint *ep, char out[PH_ENDPOINT_STRLEN]);
bool ph_endpoint_equal(const struct ph_endpoint *a, const struct ph_endpoint *b);
/* Parse "1.2.3.4:port" or "[v6]:port". PH_ERR_PARSE on anything else. */
PH_MUST_USE
ph_err ph_endpoint_parse(const char *s, struct ph_endpoint *out);
/* From a struct sockaddr_in / sockaddr_in6 (as getpeername fills it);
 * PH_ERR_ARG for other families or a short salen. */
PH_MUST_USE
ph_err ph_endpoint_from_sockaddr(const void *sa, size_t salen, struct ph_endpoint *out);

/* TCP flag bits as on the wire. */
enum {
    PH_TCP_FIN = 0x01, PH_TCP_SYN = 0x02, PH_TCP_RST = 0x04,
    PH_TCP_PSH = 0x08, PH_TCP_ACK = 0x10, PH_TCP_URG = 0x20,
};

struct ph_tcp_packet {
    uint64_t ts_ns;          /* capture time, ns since the Unix epoch */
    uint64_t number;         /* 1-based record number in the file */
    uint32_t iface;          /* file-wide interface number (pcap: 0) */
    struct ph_endpoint src, dst;
    uint32_t seq, ack;
    uint8_t flags;           /* PH_TCP_* */
    const uint8_t *payload;  /* TCP payload (IP padding removed) */
    size_t payload_len;
};

struct ph_capture_stats {
    uint64_t records;        /* records read from the file */
    uint64_t tcp;            /* TCP segments delivered */
    uint64_t other;          /* well-formed but not TCP over IP: skipped */
    uint64_t fragments;      /* IP fragments of TCP: not reassembled, skipped */
    uint64_t truncated;      /* cut short or malformed: skipped (snapcut included) */
    uint64_t first_truncated;/* record number of the first of those, 0 if none */
    uint64_t first_malformed;/* ... of the first not cut by the snapshot length */
    uint64_t snapcut;        /* of those, cut by the interface's snapshot length */
    uint64_t first_snapcut;  /* record number of the first, 0 if none */
    uint32_t snaplen;        /* the snapshot length that cut the first one */
    uint64_t unsupported;    /* records of interfaces with an unsupported link type */
    uint64_t first_unsupported;
    int unsupported_linktype;/* the first such link type */
    uint64_t filtered;       /* records the filter rejected */
    uint64_t vlan_filtered;  /* ... of which TCP inside VLAN tags */
    uint64_t vlan;           /* TCP segments delivered from inside VLAN tags */
    uint64_t tunnelled;      /* TCP segments delivered from inside a tunnel */
    uint64_t unfilterable;   /* records skipped: the filter cannot be compiled
                                for their interface's link type */
    int unfilterable_linktype;
};

/* Encapsulations opened inside one packet at most (tags excepted). */
#define PH_CAPTURE_MAX_DEPTH 8

typedef struct ph_capture ph_capture;

#define PH_CAPTURE_ERRLEN 320

/* Open `path` ("-" is standard input); `filter` (a BPF expression) may be
 * NULL. On failure `err` (PH_CAPTURE_ERRLEN bytes, may be NULL) receives
 * the explanation. Errors: PH_ERR_CAPTURE_OPEN (unreadable, not a capture),
 * PH_ERR_CAPTURE_FILTER, PH_ERR_CAPTURE_LINKTYPE (pcap file of an
 * unsupported link type), PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_capture_open(ph_capture **out, const char *path, const char *filter, char *err);
/* The same from an open stream, read once from where it stands (never
 * seeked); with `own` it is closed by ph_capture_close (and on failure). */
PH_MUST_USE
ph_err ph_capture_open_stream(ph_capture **out, FILE *fp, bool own, const char *filter,
                              char *err);
void ph_capture_close(ph_capture *c);

/* The next TCP segment. PH_OK with *pkt filled; PH_ERR_EOF at the clean end
 * of the file; PH_ERR_CAPTURE_TRUNCATED when the file ends inside a record
 * and PH_ERR_CAPTURE_CORRUPT when a record header is impossible: for both,
 * ph_capture_error() explains and ph_capture_error_offset() gives the file
 * offset where the last good record ended; everything delivered before
 * stays valid. After an error every further call returns the same error. */
PH_MUST_USE
ph_err ph_capture_next(ph_capture *c, struct ph_tcp_packet *pkt);

const struct ph_capture_stats *ph_capture_stats(const ph_capture *c);
/* The link type of the file (pcap) or of its first interface (pcapng; -1
 * before one is described). */
int ph_capture_linktype(const ph_capture *c);
/* Interfaces described so far. */
size_t ph_capture_interfaces(const ph_capture *c);
/* Whether the file is pcapng. */
bool ph_capture_is_pcapng(const ph_capture *c);
/* Why the filter cannot apply to unfilterable_linktype ("" if it can). */
const char *ph_capture_filter_error(const ph_capture *c);
/* The message of the last error ("" if none); static until the next call. */
const char *ph_capture_error(const ph_capture *c);
/* File offset just past the last good record (-1 if unknown). */
long long ph_capture_error_offset(const ph_capture *c);

/* Parse one link-layer frame (what a capture record holds) of link type
 * `dlt`. Exposed for tests and for callers with frames from elsewhere.
 * Returns PH_OK with *pkt filled (ts_ns and number are left untouched),
 * PH_ERR_CAPTURE_LINKTYPE for an unsupported dlt, PH_ERR_EOF when the frame
 * is shorter than its headers say (truncated), PH_ERR_PARSE when it is not
 * TCP over IP (with *fragment set for IP fragments, may be NULL). */
PH_MUST_USE
ph_err ph_capture_parse_frame(int dlt, const uint8_t *frame, size_t len,
                              struct ph_tcp_packet *pkt, bool *fragment);
/* Whether `dlt` is one of the supported link types. */
bool ph_capture_linktype_supported(int dlt);
/* A short name for a link type ("EN10MB", "LINUX_SLL2", ...) or NULL. */
const char *ph_capture_linktype_name(int dlt);

#endif
