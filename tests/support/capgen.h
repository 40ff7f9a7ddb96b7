/* Test-only capture generator (the project's own, for regression captures
 * and the malformed corpus): pcapng files with any number of interfaces in
 * either byte order and any block, classic pcap in every variant, and an
 * Ethernet frame (what lib/capture/pcapwrite writes) re-wrapped in each
 * link layer and tunnel lib/capture reads.
 *
 * Every function asserts (cmocka) on failure: callers are tests. */
#ifndef PH_TEST_CAPGEN_H
#define PH_TEST_CAPGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- pcapng ---- */

typedef struct capgen_ng capgen_ng;

/* A new file with its first section header. */
capgen_ng *capgen_ng_open(const char *path, bool big_endian);
/* A new section header (interfaces are numbered from 0 again). */
void capgen_ng_section(capgen_ng *w, bool big_endian);
/* An interface; tsresol is the if_tsresol byte (-1: none, i.e. 6), tsoffset
 * seconds (0: no option). Returns its number in the section. */
uint32_t capgen_ng_iface(capgen_ng *w, int linktype, uint32_t snaplen, int tsresol,
                         int64_t tsoffset);
void capgen_ng_epb(capgen_ng *w, uint32_t iface, uint64_t ts_ns, const uint8_t *data,
                   uint32_t caplen, uint32_t origlen);
void capgen_ng_opb(capgen_ng *w, uint16_t iface, uint64_t ts_ns, const uint8_t *data,
                   uint32_t caplen, uint32_t origlen);
void capgen_ng_spb(capgen_ng *w, const uint8_t *data, uint32_t caplen, uint32_t origlen);
/* Any other block, body as given (padded). */
void capgen_ng_block(capgen_ng *w, uint32_t type, const uint8_t *body, size_t len);
void capgen_ng_close(capgen_ng *w);

/* ---- classic pcap ---- */

enum { CAPGEN_SWAPPED = 1, CAPGEN_MICRO = 2, CAPGEN_MODIFIED = 4 };

typedef struct capgen_pcap capgen_pcap;
capgen_pcap *capgen_pcap_open(const char *path, int linktype, uint32_t snaplen, unsigned flags);
void capgen_pcap_rec(capgen_pcap *w, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                     uint32_t origlen);
void capgen_pcap_close(capgen_pcap *w);

/* The records of a pcap that pcapwrite wrote (little-endian, ns). */
struct capgen_rec {
    uint64_t ts_ns;
    uint8_t *data;
    uint32_t len;
};
size_t capgen_read_pcap(const char *path, struct capgen_rec **out);
void capgen_free_recs(struct capgen_rec *r, size_t n);

/* ---- link layers and tunnels ---- */

enum capgen_wrap {
    CW_ETH, CW_VLAN, CW_QINQ, CW_SLL, CW_SLL2, CW_NULL_LE, CW_NULL_BE, CW_LOOP, CW_RAW,
    CW_IPV4, CW_PPP, CW_PPP_HDLC, CW_PPP_DIR, CW_PPPOE, CW_PPP_ETHER, CW_C_HDLC, CW_NFLOG,
    CW_PKTAP, CW_MPLS, CW_GRE_IP, CW_GRE_ETH, CW_ERSPAN1, CW_ERSPAN2, CW_ERSPAN3, CW_VXLAN,
    CW_GENEVE, CW_IPIP, CW_COUNT
};

int capgen_wrap_linktype(enum capgen_wrap w);
const char *capgen_wrap_name(enum capgen_wrap w);
/* Extra bytes a wrap adds at most. */
#define CAPGEN_WRAP_EXTRA 160u
/* `eth` (len bytes, Ethernet + IPv4 or IPv6) as a frame of the wrap's link
 * type; `out` holds len + CAPGEN_WRAP_EXTRA bytes. Returns the length. */
size_t capgen_wrap(enum capgen_wrap w, const uint8_t *eth, size_t len, uint8_t *out);

/* A pcapwrite capture as pcapng with n interfaces: record i goes to
 * interface i % n, wrapped as kinds[i % n], with snaplens[i % n] (records
 * longer are cut, as a capture would). Interface descriptions are written
 * before each interface's first packet. */
void capgen_pcap_to_ng(const char *in, const char *out, const enum capgen_wrap *kinds,
                       const uint32_t *snaplens, size_t n, bool big_endian);
/* A pcapwrite capture re-wrapped as one link type, classic pcap. */
void capgen_pcap_rewrap(const char *in, const char *out, enum capgen_wrap w, unsigned flags);

#endif
