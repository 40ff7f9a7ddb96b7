/* The model transport: two connected in-memory ends that behave like a
 * pair of non-blocking TCP sockets on a virtual clock (ev.h), so that the
 * replay runs the real node (peer.h) over them deterministically.
 *
 * Each direction has a receive buffer of `capacity` bytes, standing for
 * the kernel's socket buffers: a send takes what fits and returns EAGAIN
 * when nothing does (partial writes happen exactly as on a socket); an end
 * becomes writable again once a third of the other end's buffer is free
 * (TCP's writability threshold is of that order). Reading frees room.
 * Readiness is level-triggered and delivered by zero-delay timers on the
 * loop, one per end at a time. Destroying an end is a close: the other end
 * reads what is left, then end of stream; its sends fail with EPIPE.
 *
 * How fast the remote side reads is the remote peer's business (its
 * inbound rate, or not reading at all): the transport only moves bytes.
 *
 * Memory: both buffers are allocated at creation; they stand for kernel
 * memory. Each end can be marked `uncounted` (memtag.h): its callbacks then
 * run as uncounted work, as the replay's remote peers do.
 *
 * Ownership: each end is a ph_conn owned by its holder; the shared state
 * is freed with the second end. Errors: PH_ERR_NOMEM, PH_ERR_ARG. */
#ifndef PH_MODELCONN_H
#define PH_MODELCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "capture.h"
#include "conn.h"

#define PH_MODELCONN_DEFAULT_CAPACITY (256u * 1024u)

typedef struct ph_modelconn_config {
    size_t capacity[2];          /* receive buffer of end 0 / end 1 (0 = default) */
    bool uncounted[2];
    struct ph_endpoint addr[2];  /* end i's own address (for logs and recordings) */
} ph_modelconn_config;

typedef struct ph_modelconn_stats {
    uint64_t sends;          /* sendv calls that took bytes */
    uint64_t partial_sends;  /* ... fewer than offered */
    uint64_t would_block;    /* sendv calls answered EAGAIN */
    uint64_t bytes_sent;
    size_t peak_unread;      /* most bytes waiting in the other end's buffer */
} ph_modelconn_stats;

PH_MUST_USE
ph_err ph_modelconn_pair(ph_ev *ev, const ph_modelconn_config *cfg, ph_conn **end0,
                         ph_conn **end1);
/* Counters of what this end sent. */
void ph_modelconn_get_stats(const ph_conn *end, ph_modelconn_stats *out);
/* Bytes waiting in this end's receive buffer. */
size_t ph_modelconn_unread(const ph_conn *end);
bool ph_conn_is_model(const ph_conn *c);

#endif
