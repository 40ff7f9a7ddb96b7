/* TCP stream reassembly for captures.
 *
 * Fed TCP segments in capture order (ph_tcp_packet from capture.h), it
 * tracks each connection (by its address/port 4-tuple) and delivers each
 * direction's byte stream in order, exactly once, through callbacks:
 * - out-of-order segments are buffered until the hole before them fills;
 * - retransmissions and overlaps keep the first copy; overlaps whose bytes
 *   disagree are counted (ph_tcp_dir_stats.overlap_conflicts);
 * - segments of any size (loopback GSO frames of 64 KiB and more) are fine;
 * - a connection seen from the middle (no SYN) starts at the first byte
 *   seen in each direction (syn[dir] false tells the stream start is unknown);
 * - sequence numbers wrap; stream offsets are 64-bit;
 * - a hole (bytes the capture lost) is declared when the receiver
 *   acknowledged bytes beyond it and the next segment of that direction did
 *   not fill it, when a buffering limit is reached, or at the end of the
 *   capture. By default the direction then ends there (PH_TCP_END_GAP or
 *   PH_TCP_END_LIMIT with the stream offset): data behind a hole is never
 *   delivered. With limits.skip_gaps the hole is reported (on_gap) and
 *   delivery goes on after it: stream offsets jump by the missing bytes, so
 *   a consumer able to resynchronise loses only what is missing;
 * - FIN ends a direction once everything before it was delivered; RST ends
 *   both; a new SYN on a finished 4-tuple starts a new connection.
 *
 * Accounting: every payload byte fed is, per direction of its connection,
 * delivered (bytes), a copy of bytes seen before (retransmitted), buffered
 * then thrown away when its direction ended first (discarded), or seen
 * after its direction ended (ignored); or, in ph_tcpreasm_stats, late_bytes
 * (after the connection was closed). Bytes the capture lacks are counted
 * apart: missing (skipped holes) and gap_len (the hole a direction ended
 * at, as far as the next buffered data or the receiver's ACK tell).
 *
 * Bounds (limits, 0 = default):
 * - connections: at most max_conns (65,536) tracked at once. When a new one
 *   does not fit, one is evicted in O(1): a finished one kept for late
 *   packets first, then the least recently active that never carried
 *   payload (half-open: a SYN scan), then the least recently active with
 *   payload, and connections the consumer marked (ph_tcp_conn_info.keep)
 *   last. An evicted connection ends as PH_TCP_END_EVICTED and is counted
 *   (ph_tcpreasm_stats); nothing is refused.
 * - memory: out-of-order data is held to max_memory bytes (256 MiB) over
 *   all connections, on top of max_buffer / max_segments per direction
 *   (8 MiB, 16,384 segments); past it a hole is given up (as at a limit).
 *   The windows that check retransmissions (at most `retain` bytes per
 *   direction, 64 KiB, grown from 256 bytes as data comes) share a budget
 *   of max_memory / 4 of their own: past it they stop growing, which only
 *   costs retransmission checks. Fixed cost: about 400 bytes per tracked
 *   connection and 16 bytes per hash slot (at most 2 x max_conns). With the
 *   defaults the whole table stays under 256 + 64 + 28 MiB whatever the
 *   capture.
 * - time: O(1) per segment (a keyed hash: a crafted capture cannot make
 *   chains long) plus the walk of the out-of-order list of its direction
 *   when it lands between buffered pieces (bounded by max_segments).
 *
 * Callbacks run inside ph_tcpreasm_packet / _finish and must not call back
 * into the same ph_tcpreasm. Data pointers are valid only during the call.
 * The ph_tcp_conn_info pointer is stable from on_open to on_close (its
 * `user` and `keep` fields are the caller's); after on_close it is gone.
 *
 * Ownership: ph_tcpreasm is opaque: create / destroy (destroy does not call
 * the callbacks: call ph_tcpreasm_finish first to flush). */
#ifndef PH_TCPREASM_H
#define PH_TCPREASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "capture.h"
#include "error.h"

/* Why a direction's stream ended. */
enum ph_tcp_end {
    PH_TCP_END_FIN,      /* FIN after all data */
    PH_TCP_END_RST,      /* reset (either side) */
    PH_TCP_END_GAP,      /* bytes missing from the capture at `offset` */
    PH_TCP_END_LIMIT,    /* out-of-order buffering limit exceeded at `offset` */
    PH_TCP_END_CAPTURE,  /* the capture ended first */
    PH_TCP_END_NEW_SYN,  /* a new connection reused the 4-tuple */
    PH_TCP_END_EVICTED,  /* the connection table was full: evicted */
};
const char *ph_tcp_end_name(enum ph_tcp_end why);

struct ph_tcp_dir_stats {
    uint64_t bytes;             /* delivered */
    uint64_t segments;          /* segments with payload */
    uint64_t out_of_order;      /* segments that had to wait for a hole */
    uint64_t retransmitted;     /* payload bytes seen more than once */
    uint64_t overlap_conflicts; /* overlaps whose bytes differed from the first copy */
    uint64_t ignored;           /* payload bytes after the direction ended */
    uint64_t missing;           /* bytes in skipped holes (skip_gaps); with
                                   bytes, they add up to end_offset */
    uint64_t discarded;         /* buffered bytes dropped when the direction
                                   ended behind a hole */
    uint64_t holes;             /* holes skipped (skip_gaps) */
    size_t max_buffered;        /* high-water mark of out-of-order bytes */
    bool ended;
    enum ph_tcp_end end;        /* valid when ended */
    uint64_t end_offset;        /* stream offset where it ended */
    uint64_t gap_len;           /* for GAP/LIMIT: bytes missing before the next
                                   known data (0 if unknown) */
};

struct ph_tcp_conn_info {
    uint64_t id;                 /* 1-based, in order of first packet */
    struct ph_endpoint ep[2];    /* ep[0] sent the SYN (or the first packet
                                    seen); direction d goes ep[d] -> ep[!d] */
    bool syn[2];                 /* direction's stream start was seen */
    uint64_t first_ts, last_ts;  /* ns, first and last packet */
    struct ph_tcp_dir_stats st[2];
    void *user;                  /* free for the callbacks' owner */
    bool keep;                   /* set by the callbacks' owner: evict last */
};

struct ph_tcpreasm_cb {
    void (*on_open)(void *ctx, struct ph_tcp_conn_info *c);
    /* `len` > 0 bytes at stream offset `offset` of direction `dir`; offsets
     * are contiguous per direction. ts_ns: the packet that completed them. */
    void (*on_data)(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t offset,
                    const uint8_t *data, size_t len, uint64_t ts_ns);
    /* Once per direction. */
    void (*on_end)(void *ctx, struct ph_tcp_conn_info *c, int dir, enum ph_tcp_end why,
                   uint64_t offset, uint64_t ts_ns);
    /* After both directions ended; last call for `c`. */
    void (*on_close)(void *ctx, struct ph_tcp_conn_info *c);
    /* skip_gaps only: `len` bytes of direction `dir` are missing at stream
     * offset `offset`; the next on_data of `dir` starts at offset + len. */
    void (*on_gap)(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t offset,
                   uint64_t len, uint64_t ts_ns);
};

struct ph_tcpreasm_limits {      /* 0 = default */
    size_t max_buffer;           /* out-of-order bytes per direction (8 MiB) */
    size_t max_segments;         /* out-of-order segments per direction (16384) */
    size_t retain;               /* delivered bytes kept for checking
                                    retransmissions per direction (64 KiB) */
    size_t max_conns;            /* tracked connections (65536) */
    size_t max_memory;           /* out-of-order data, all connections (256
                                    MiB); windows get a quarter of it more */
    bool skip_gaps;              /* deliver on after a hole (on_gap) */
};

struct ph_tcpreasm_stats {
    uint64_t conns;              /* connections opened */
    uint64_t refused;            /* packets of new connections dropped: out of memory */
    uint64_t stray;              /* packets of no connection without SYN or data */
    uint64_t late_bytes;         /* payload of packets of a finished connection
                                    (late retransmissions) or of a stray RST */
    uint64_t evicted;            /* live connections evicted (table full) */
    uint64_t evicted_payload;    /* ... of which had carried payload */
    uint64_t evicted_keep;       /* ... of which the consumer had marked */
    uint64_t budget_hits;        /* holes given up / windows not grown: memory budget */
    size_t max_tracked;          /* high-water mark of tracked connections */
    size_t max_memory_used;      /* high-water mark of out-of-order data */
    size_t max_window_used;      /* high-water mark of the windows */
};

typedef struct ph_tcpreasm ph_tcpreasm;

/* cb may have NULL members. lim may be NULL. */
PH_MUST_USE
ph_err ph_tcpreasm_create(ph_tcpreasm **out, const struct ph_tcpreasm_cb *cb, void *ctx,
                          const struct ph_tcpreasm_limits *lim);
void ph_tcpreasm_destroy(ph_tcpreasm *r);

/* One segment. PH_ERR_NOMEM is the only error (the segment is then lost
 * and the direction ends as a gap when the hole is noticed). */
PH_MUST_USE
ph_err ph_tcpreasm_packet(ph_tcpreasm *r, const struct ph_tcp_packet *p);

/* End of capture: every open direction ends (GAP if data waits behind a
 * hole or was acknowledged but never seen, else CAPTURE; with skip_gaps the
 * data behind holes is delivered first) and every connection is closed, in
 * connection id order. `ts_ns` is passed to on_end. */
void ph_tcpreasm_finish(ph_tcpreasm *r, uint64_t ts_ns);

PH_NONNULL(1)
const struct ph_tcpreasm_stats *ph_tcpreasm_stats(const ph_tcpreasm *r);

#endif
