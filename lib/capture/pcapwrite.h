/* Writing TCP conversations as a pcap file (for `peerheap peer --record`
 * and for building test captures).
 *
 * The writer synthesises what a capture of the connection would show:
 * Ethernet + IPv4 or IPv6 + TCP frames with the real addresses and ports,
 * a three-way handshake, data split into segments of at most `mss` bytes
 * with consistent sequence and acknowledgement numbers, a pure ACK from the
 * receiver after each data call, and a FIN exchange at close. Checksums are
 * correct. The file is classic pcap, little-endian, nanosecond timestamps
 * (magic 0xa1b23c4d), LINKTYPE_ETHERNET, snaplen 262144. Output is
 * deterministic: the same calls give the same bytes.
 *
 * Ownership: ph_pcapw owns its connections; ph_pcapw_conn_close frees one,
 * ph_pcapw_close frees the writer and every connection still open (without
 * writing their FINs). Not thread-safe: one writer per thread or a lock.
 *
 * Errors: PH_ERR_IO when the file cannot be opened or a write fails (the
 * error latches: later calls return it too), PH_ERR_ARG for bad arguments
 * (mixed address families, direction not 0/1), PH_ERR_NOMEM. */
#ifndef PH_PCAPWRITE_H
#define PH_PCAPWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "capture.h"
#include "error.h"

typedef struct ph_pcapw ph_pcapw;
typedef struct ph_pcapw_conn ph_pcapw_conn;

/* Directions of a connection: the client is the side that sent the SYN. */
enum { PH_PCAPW_C2S = 0, PH_PCAPW_S2C = 1 };

#define PH_PCAPW_DEFAULT_MSS 1460u
#define PH_PCAPW_MAX_MSS 65495u /* IPv4 total length limit minus IP and TCP headers */

struct ph_pcapw_opts {
    size_t mss;     /* payload bytes per segment; 0 = PH_PCAPW_DEFAULT_MSS */
    bool no_acks;   /* do not write the pure ACK after each data call */
};

/* Create (truncate) `path`; opts may be NULL for defaults. */
PH_MUST_USE
ph_err ph_pcapw_open(ph_pcapw **out, const char *path, const struct ph_pcapw_opts *opts);
/* Write to a stream the caller owns (e.g. an atomic file's); close then
 * flushes it but leaves it open. */
PH_MUST_USE
ph_err ph_pcapw_open_stream(ph_pcapw **out, FILE *f, const struct ph_pcapw_opts *opts);
/* Flush and close (the stream too, unless the caller owns it); PH_ERR_IO if
 * any write (or the close) failed. */
PH_MUST_USE
ph_err ph_pcapw_close(ph_pcapw *w);
PH_MUST_USE
ph_err ph_pcapw_flush(ph_pcapw *w);

struct ph_pcapw_conn_opts {
    bool set_isn;            /* use the two ISNs below instead of the writer's */
    uint32_t isn_client, isn_server;
    bool no_handshake;       /* start mid-stream: no SYN / SYN-ACK / ACK */
};

/* A new connection from `client` to `server` (same family); writes the
 * three-way handshake at ts_ns unless opts->no_handshake. opts may be NULL. */
PH_MUST_USE
ph_err ph_pcapw_conn_open(ph_pcapw *w, const struct ph_endpoint *client,
                          const struct ph_endpoint *server, uint64_t ts_ns,
                          const struct ph_pcapw_conn_opts *opts, ph_pcapw_conn **out);

/* `len` bytes sent in direction `dir` (PH_PCAPW_C2S / S2C) at ts_ns: as
 * many segments as the MSS requires, then (unless no_acks) the receiver's
 * ACK. len 0 writes nothing. */
PH_MUST_USE
ph_err ph_pcapw_data(ph_pcapw_conn *c, int dir, const uint8_t *data, size_t len,
                     uint64_t ts_ns);

/* FIN from `closer`, ACK, FIN from the other side, ACK; frees `c` (also on
 * error). */
PH_MUST_USE
ph_err ph_pcapw_conn_close(ph_pcapw_conn *c, int closer, uint64_t ts_ns);

/* Low level, for tests that need reordering, loss or retransmission: write
 * one segment of direction `dir` with the given sequence number and exactly
 * the given flags (PH_TCP_*; with PH_TCP_ACK the ACK field carries the other
 * direction's next sequence number) without changing the connection's
 * state. */
PH_MUST_USE
ph_err ph_pcapw_segment(ph_pcapw_conn *c, int dir, uint32_t seq, uint8_t flags,
                        const uint8_t *data, size_t len, uint64_t ts_ns);
/* Next sequence number of `dir`, and a way to move it (after writing
 * segments by hand). */
uint32_t ph_pcapw_next_seq(const ph_pcapw_conn *c, int dir);
void ph_pcapw_set_next_seq(ph_pcapw_conn *c, int dir, uint32_t seq);

#endif
