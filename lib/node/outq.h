/* The write path of one connection: a queue of outgoing messages and the
 * routine that turns them into BOLT 8 frames on the wire.
 *
 *   push(message)                    queue a reference, account its bytes
 *   flush():
 *     while the sink takes bytes:
 *       if no frame is in flight: take up to `max_batch` messages, for each
 *         acquire a frame from the peer's write-buffer strategy (wbuf.h) and
 *         encode the message into frame.body; then encrypt them all in place
 *         at once (ph_noise_encrypt_many: their keystream is computed
 *         together)
 *       write hdr/body/mac of every in-flight frame in one writev (or one
 *         sink call), resuming where the last partial write stopped
 *       release each frame once all its bytes are written
 *
 * New frames are only encoded once every in-flight frame is written, so a
 * peer holds at most `max_batch` write buffers, whatever the backlog. The
 * entry ring and the in-flight frame slots exist while there is work; an
 * idle queue can give them back (ph_outq_trim).
 *
 * Messages are shared: a ph_outq_msg relayed to N peers is one allocation
 * with N references, and external reference-counted bytes (a gossip store's
 * messages) are queued without any copy or allocation at all. Bytes are only
 * copied once, into the write buffer, where they are encrypted in place.
 *
 * Limits (per queue): queued bytes = plaintext bytes waiting + wire bytes of
 * in-flight frames not yet written.
 *   - above `soft_cap`, pushes flagged PH_OUTQ_RELAY are dropped (counted);
 *   - a push that would take queued bytes above `hard_cap` fails with
 *     PH_ERR_LIMIT and is not queued: the owner disconnects the peer.
 * So the memory a peer that never reads can pin is bounded by hard_cap plus
 * max_batch write buffers.
 *
 * The write target is pluggable (ph_outq_sink): an fd (sendmsg with
 * MSG_NOSIGNAL, writev for non-sockets) or a callback taking iovecs, so the
 * replay's deterministic model drives this exact code.
 *
 * Ownership: the queue borrows the ph_noise transport and the ph_wbuf_peer
 * (both must outlive it); it owns its references to queued messages. Destroy
 * drops queued messages and releases in-flight frames to the strategy.
 *
 * Errors: PH_ERR_NOMEM; PH_ERR_ARG (message longer than 65,535 bytes or
 * shorter than its 2-byte type); PH_ERR_LIMIT (hard cap); flush returns
 * PH_ERR_AGAIN when the sink would block or the strategy has no frame to
 * give right now (ph_outq_wbuf_starved() tells which) or has written its
 * flush budget (ph_outq_yielded()), PH_ERR_PEER_CLOSED
 * (EPIPE / ECONNRESET), PH_ERR_IO (other write errors; errno kept), or an
 * encode/encrypt error (the message is dropped and counted first). */
#ifndef PH_OUTQ_H
#define PH_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "error.h"
#include "msgcount.h"
#include "noise.h"
#include "wbuf.h"
#include "wire.h"
#include "wire_views.h"

/* ---- shared messages ---- */

typedef struct ph_outq_msg ph_outq_msg;

/* A copy of `len` bytes (type included) in one allocation. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_outq_msg_copy(ph_outq_msg **out, const uint8_t *bytes, size_t len);
/* A message written by a generated encoder (wire_views.h) straight into
 * its one allocation: `view` is the encoder's input (e.g. a ph_wire_ping),
 * `ops` the view table entry of its type. Errors: the encoder's, and
 * PH_ERR_ARG when the message is shorter than its type or longer than a
 * BOLT 8 frame holds. */
PH_MUST_USE
PH_NONNULL(1, 2, 3)
ph_err ph_outq_msg_encode(ph_outq_msg **out, const ph_wire_view_ops *ops, const void *view);
/* A decoded message, encoded straight into the write buffer at flush time.
 * Takes ownership of `m` (also on error) and reads its length now: the
 * message must not change afterwards. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_outq_msg_wire(ph_outq_msg **out, ph_wire_msg *m);
PH_NONNULL(1)
ph_outq_msg *ph_outq_msg_ref(ph_outq_msg *m); /* returns m */
void ph_outq_msg_unref(ph_outq_msg *m);        /* NULL is fine */
PH_NONNULL(1)
size_t ph_outq_msg_len(const ph_outq_msg *m);
PH_NONNULL(1)
uint16_t ph_outq_msg_type(const ph_outq_msg *m);
/* The message's bytes (ph_outq_msg_len of them), or NULL for a decoded one
 * (ph_outq_msg_wire). Borrowed: valid while a reference is held. */
PH_NONNULL(1)
const uint8_t *ph_outq_msg_bytes(const ph_outq_msg *m);

/* ---- the queue ---- */

/* Callback sink: take bytes from the iovecs in order and return how many
 * were taken (0 or -1 with errno EAGAIN: would block; -1 with another errno:
 * failed). */
typedef ssize_t (*ph_outq_write_fn)(void *ctx, const struct iovec *iov, int iovcnt);
/* Observer of bytes actually written (e.g. a pcap recorder): the iovecs
 * offered and how many of their bytes the sink took. */
typedef void (*ph_outq_tap_fn)(void *ctx, const struct iovec *iov, int iovcnt, size_t taken);

typedef struct ph_outq_sink {
    int fd;                  /* >= 0: write to this fd; -1: use `write` */
    ph_outq_write_fn write;
    void *ctx;
    ph_outq_tap_fn tap;      /* optional */
    void *tap_ctx;
} ph_outq_sink;

#define PH_OUTQ_DEFAULT_SOFT_CAP (1024u * 1024u)        /* 1 MiB */
/* 16 MiB: above the largest answer to one query_short_channel_ids (8,190
 * scids x (announcement + 2 updates + 2 node_announcements) ~ 13 MB). */
#define PH_OUTQ_DEFAULT_HARD_CAP (16u * 1024u * 1024u)
#define PH_OUTQ_DEFAULT_BATCH 8u
#define PH_OUTQ_MAX_BATCH 64u
/* Bytes one flush writes before it yields (between two batches), so that
 * one peer's backlog cannot hold the event loop. */
#define PH_OUTQ_DEFAULT_FLUSH_BUDGET (256u * 1024u)

struct ph_memtag;

typedef struct ph_outq_config {
    size_t soft_cap;   /* 0 = default */
    size_t hard_cap;   /* 0 = default; raised to soft_cap if below it */
    /* Frames per write, 1..PH_OUTQ_MAX_BATCH; 0 = what the strategy prefers
     * (ph_wbuf_preferred_batch), else PH_OUTQ_DEFAULT_BATCH. */
    size_t max_batch;
    size_t flush_budget; /* bytes per flush call before it yields; 0 = default */
    /* Allocation attribution (memtag.h), or NULL: the queue's own memory is
     * tagged QUEUE, frames WBUF with the message's type. Borrowed. */
    struct ph_memtag *tag;
} ph_outq_config;

/* Push flags. */
enum {
    PH_OUTQ_RELAY = 1u, /* relayed gossip: dropped above the soft cap */
};

typedef struct ph_outq_stats {
    ph_msgcount out[PH_MSGTYPE__COUNT]; /* fully written, by type */
    uint64_t msgs_out, bytes_out;       /* plaintext, fully written */
    uint64_t wire_bytes_out;            /* bytes the sink took (frames incl. overhead) */
    uint64_t writes;                    /* sink calls / write syscalls that took bytes */
    uint64_t partial_writes;            /* ... that took less than offered */
    uint64_t would_block;               /* flushes that stopped on a full sink */
    uint64_t wbuf_starved;              /* flushes that stopped on PH_ERR_AGAIN from acquire */
    uint64_t relay_dropped, relay_dropped_bytes;
    uint64_t encode_errors;             /* messages dropped because encode failed */
    uint64_t queued_msgs;               /* waiting (not yet encoded) */
    uint64_t queued_bytes;              /* see the top of this file */
    uint64_t peak_queued_bytes;
    uint64_t inflight_frames;
    size_t wbuf_held;                   /* ph_wbuf_peer_held() of the queue's peer */
    size_t wbuf_buffers;                /* ph_wbuf_peer_buffers() of the queue's peer */
} ph_outq_stats;

typedef struct ph_outq ph_outq;

/* `sink` is copied; cfg may be NULL. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_outq_create(ph_outq **out, ph_noise *noise, ph_wbuf_peer *wb,
                      const ph_outq_sink *sink, const ph_outq_config *cfg);
void ph_outq_destroy(ph_outq *q);
PH_NONNULL(1, 2)
void ph_outq_set_sink(ph_outq *q, const ph_outq_sink *sink);

/* Queue a message (takes a new reference; the caller keeps its own).
 * PH_OK also when a relayed message was dropped (see the stats). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_outq_push(ph_outq *q, ph_outq_msg *m, unsigned flags);
/* Queue bytes owned by someone else's reference count: `unref(obj)` is
 * called once the bytes have been copied into a write buffer, or dropped.
 * On every outcome (dropped, PH_ERR_LIMIT, PH_ERR_ARG) the reference has been
 * consumed. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_outq_push_external(ph_outq *q, const uint8_t *bytes, size_t len,
                             void (*unref)(void *obj), void *obj, unsigned flags);
/* Convenience: copy `bytes` into a new message and queue it. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_outq_push_copy(ph_outq *q, const uint8_t *bytes, size_t len, unsigned flags);
/* Convenience: queue a decoded message (ownership of `m` taken, also on error). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_outq_push_wire(ph_outq *q, ph_wire_msg *m, unsigned flags);

/* Called from flush whenever the waiting bytes drop below `low_water`, so a
 * lazy source (a gossip cursor) can push more; it may push nothing. */
typedef void (*ph_outq_refill_fn)(void *ctx, ph_outq *q);
PH_NONNULL(1)
void ph_outq_set_refill(ph_outq *q, size_t low_water, ph_outq_refill_fn fn, void *ctx);

/* Called from flush once each frame is fully written (and its buffer
 * released), with the message's type and plaintext length: writes counted
 * by exact type. NULL removes it. */
typedef void (*ph_outq_frame_fn)(void *ctx, uint16_t type, size_t len);
PH_NONNULL(1)
void ph_outq_set_frame_observer(ph_outq *q, ph_outq_frame_fn fn, void *ctx);

/* Write as much as the sink takes. PH_OK: nothing left to write.
 * `now_ns` goes to the strategy (expiry policies). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_outq_flush(ph_outq *q, uint64_t now_ns);

/* True while messages wait or frames are in flight. */
PH_NONNULL(1)
bool ph_outq_pending(const ph_outq *q);
/* True if the last flush stopped because the strategy had no frame (not a
 * full sink): retry later rather than waiting for writability. */
PH_NONNULL(1)
bool ph_outq_wbuf_starved(const ph_outq *q);
/* True if the last flush stopped at its budget (PH_ERR_AGAIN with the sink
 * still writable): flush again on the next loop iteration. */
PH_NONNULL(1)
bool ph_outq_yielded(const ph_outq *q);
PH_NONNULL(1)
size_t ph_outq_queued_bytes(const ph_outq *q);
PH_NONNULL(1)
size_t ph_outq_waiting_bytes(const ph_outq *q); /* waiting, not yet encoded */
PH_NONNULL(1)
size_t ph_outq_soft_cap(const ph_outq *q);
PH_NONNULL(1)
uint64_t ph_outq_relay_dropped(const ph_outq *q);
PH_NONNULL(1, 2)
void ph_outq_get_stats(const ph_outq *q, ph_outq_stats *out);
/* Heap bytes the queue itself owns (struct, entry ring, in-flight slots),
 * for accounting. */
PH_NONNULL(1)
size_t ph_outq_self_bytes(const ph_outq *q);
/* Release the entry ring and the in-flight frame slots of an idle queue
 * (nothing waiting, nothing in flight; otherwise nothing happens): an idle
 * connection then holds only the queue's struct. The next push or flush
 * allocates them again, so the owner calls this when the queue has stayed
 * idle for a while (the node: on its one-second tick), not after every
 * burst. */
PH_NONNULL(1)
void ph_outq_trim(ph_outq *q);

#endif
