/* Reading TCP segments out of capture files (pcap and pcapng).
 *
 * Files are opened through libpcap's offline API with nanosecond timestamps.
 * Link types: Ethernet (802.1Q / 802.1ad / QinQ tags skipped), BSD loopback
 * (DLT_NULL, either byte order; DLT_LOOP), Linux cooked v1 (SLL) and v2
 * (SLL2, what `tcpdump -i any` writes), raw IP (LINKTYPE_RAW, IPV4, IPV6).
 * Network layer: IPv4 (options skipped; fragments counted and dropped) and
 * IPv6 (extension headers skipped). Transport: TCP only; everything else is
 * counted and skipped. Checksums are not verified: loopback captures carry
 * offloaded (wrong) checksums.
 *
 * Every header field is bounds-checked against the captured length. A packet
 * cut short by the snapshot length or malformed is counted in
 * ph_capture_stats.truncated (with the first such packet's number) and not
 * delivered: its payload is never trusted.
 *
 * Ownership: ph_capture is opaque, created by ph_capture_open and released by
 * ph_capture_close. A delivered packet's pointers refer to libpcap's buffer
 * and stay valid until the next ph_capture_next or close. */
#ifndef PH_CAPTURE_H
#define PH_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
ph_err ph_endpoint_parse(const char *s, struct ph_endpoint *out);
/* From a struct sockaddr_in / sockaddr_in6 (as getpeername fills it);
 * PH_ERR_ARG for other families or a short salen. */
ph_err ph_endpoint_from_sockaddr(const void *sa, size_t salen, struct ph_endpoint *out);

/* TCP flag bits as on the wire. */
enum {
    PH_TCP_FIN = 0x01, PH_TCP_SYN = 0x02, PH_TCP_RST = 0x04,
    PH_TCP_PSH = 0x08, PH_TCP_ACK = 0x10, PH_TCP_URG = 0x20,
};

struct ph_tcp_packet {
    uint64_t ts_ns;          /* capture time, ns since the Unix epoch */
    uint64_t number;         /* 1-based record number in the file */
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
    uint64_t fragments;      /* IP fragments: not reassembled, skipped */
    uint64_t truncated;      /* cut short or malformed: skipped */
    uint64_t first_truncated;/* record number of the first of those, 0 if none */
};

typedef struct ph_capture ph_capture;

#define PH_CAPTURE_ERRLEN 320

/* Open `path`; `filter` (a BPF expression) may be NULL. On failure `err`
 * (PH_CAPTURE_ERRLEN bytes, may be NULL) receives libpcap's explanation.
 * Errors: PH_ERR_CAPTURE_OPEN (unreadable, not a capture),
 * PH_ERR_CAPTURE_FILTER, PH_ERR_CAPTURE_LINKTYPE, PH_ERR_NOMEM. */
ph_err ph_capture_open(ph_capture **out, const char *path, const char *filter, char *err);
void ph_capture_close(ph_capture *c);

/* The next TCP segment. PH_OK with *pkt filled; PH_ERR_EOF at the clean end
 * of the file; PH_ERR_CAPTURE_TRUNCATED when the file ends inside a record
 * and PH_ERR_CAPTURE_CORRUPT when a record header is impossible: for both,
 * ph_capture_error() explains and ph_capture_error_offset() gives the file
 * offset where the last good record ended; everything delivered before
 * stays valid. After an error every further call returns the same error. */
ph_err ph_capture_next(ph_capture *c, struct ph_tcp_packet *pkt);

const struct ph_capture_stats *ph_capture_stats(const ph_capture *c);
/* libpcap's DLT_ value of the file. */
int ph_capture_linktype(const ph_capture *c);
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
ph_err ph_capture_parse_frame(int dlt, const uint8_t *frame, size_t len,
                              struct ph_tcp_packet *pkt, bool *fragment);
/* Whether `dlt` is one of the supported link types. */
bool ph_capture_linktype_supported(int dlt);

#endif
