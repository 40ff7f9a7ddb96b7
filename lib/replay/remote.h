/* The replay's remote peers: what the node under study talks to.
 *
 * Each remote is a real ph_peer (peer.h) - the same handshake driver, init
 * exchange, gossip_timestamp_filter, pong answers and inbound rate limit as
 * every live peer - connected to the node over a ph_conn: the model
 * transport in the measuring process (its work marked uncounted), or a
 * socket in a separate reader process. Remotes initiate (the node under
 * study accepts) with fixed keys, so every run's handshakes are identical.
 *
 * A remote reads at `reader_rate` bytes per second (its inbound rate
 * limit; 0 = as fast as it can) or, for the first `stalled` peers, not at
 * all once init is exchanged. With `verify`, every message it receives is
 * compared with what the replay meant to send it (expected messages in
 * order; the node's own init, gossip_timestamp_filter and pings may come in
 * between and are not counted): equal -> verified, different -> mismatch,
 * and what never came -> missing: the expected messages skipped when a
 * frame equals a later one (a relay dropped on the way), and those still
 * due at the end. The first problem is described in first_error.
 *
 * Ownership: the set copies the keys (wiped on destroy) and borrows ev and
 * the expected arrays; remotes
 * own their conns once added. Errors: PH_ERR_NOMEM, PH_ERR_ARG, peer
 * creation errors. */
#ifndef PH_REMOTE_H
#define PH_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "conn.h"
#include "error.h"
#include "ev.h"

typedef struct ph_remote_set ph_remote_set;

typedef struct ph_remote_config {
    ph_ev *ev;
    const uint8_t *remote_priv;     /* 32 bytes, the remotes' static key */
    const uint8_t *node_pub33;      /* the node under study */
    uint64_t reader_rate;
    size_t stalled;
    bool verify;
    size_t npeers;
} ph_remote_config;

typedef struct ph_remote_result {
    uint64_t opened;        /* init exchanged */
    uint64_t messages;      /* every message received */
    uint64_t bytes;         /* ciphertext bytes read */
    uint64_t verified, mismatches, missing;
    uint64_t failed;        /* connections closed with an error */
    char first_error[200];
} ph_remote_result;

PH_MUST_USE
ph_err ph_remote_set_create(ph_remote_set **out, const ph_remote_config *cfg);
/* Destroys every remote still connected (their conns close). */
void ph_remote_set_destroy(ph_remote_set *r);
/* Expected messages of remote `i` (verify): borrowed arrays. */
void ph_remote_expect(ph_remote_set *r, size_t i, const uint8_t *const *msgs,
                      const uint32_t *lens, size_t n);
/* Connect remote `i` over `conn` (which it owns from now on, also on error). */
PH_MUST_USE
ph_err ph_remote_add(ph_remote_set *r, size_t i, ph_conn *conn);
/* Remotes still connected. */
size_t ph_remote_connected(const ph_remote_set *r);
/* Bytes the non-stalled remotes have not read yet (model transport only;
 * 0 for sockets). */
size_t ph_remote_unread(const ph_remote_set *r);
/* Results so far; missing is counted for the remotes that are closed (or,
 * with `final`, for every non-stalled remote). */
void ph_remote_get_result(const ph_remote_set *r, bool final, ph_remote_result *out);

#endif
