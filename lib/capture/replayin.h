/* Replay input: the ordered plaintext messages that each captured sender
 * wrote, and which of them each simulated peer receives.
 *
 * Filled from captures and .lnmsgs files by lib/lninput (which keeps, per
 * session, only what the node under study sent), or message by message.
 * Simulated peer i replays session i mod S: one captured session fanned out
 * to many peers is what a gossip relay does.
 *
 * Each session may carry who is who (ph_replay_session): the node under
 * study, whose messages these are, and its peer. Messages keep their
 * captured direction in `dir`; the session says which direction is the
 * node's, so the engine knows which side it plays.
 *
 * Ownership: ph_replay_input owns copies of every message (one arena);
 * ph_replay_input_destroy frees them. Pointers returned stay valid until
 * destroy. Errors: PH_ERR_NOMEM, PH_ERR_IO, PH_ERR_PARSE (malformed .lnmsgs,
 * with the offset in *err_offset). */
#ifndef PH_REPLAYIN_H
#define PH_REPLAYIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "error.h"

typedef struct ph_replay_msg {
    uint64_t ts_ns;     /* capture time (0 for .lnmsgs input) */
    uint32_t session;   /* 0-based session index */
    uint8_t dir;        /* 0 = initiator -> responder, 1 = the reverse */
    uint16_t type;      /* message type (first two bytes) */
    uint32_t len;       /* message length, 2-byte type included */
    const uint8_t *bytes;
} ph_replay_msg;

/* Who is who in one replayed session. Endpoints with family 0 are unknown
 * (.lnmsgs input has none). */
typedef struct ph_replay_session {
    struct ph_endpoint node;  /* the node under study: the side replayed */
    struct ph_endpoint peer;  /* the other end of the captured session */
    uint8_t node_dir;         /* the session direction the node sent (0 or 1) */
    uint64_t input_id;        /* the session's number in the input, as dump
                                 prints it (lib/lninput), 0 when unknown */
} ph_replay_session;

typedef struct ph_replay_input ph_replay_input;

PH_MUST_USE
ph_err ph_replay_input_create(ph_replay_input **out);
void ph_replay_input_destroy(ph_replay_input *in);
/* Appends a copy of one message; sessions are numbered by the caller and
 * must be < 2^32. Messages are kept in the order appended (capture order). */
PH_MUST_USE
ph_err ph_replay_input_add(ph_replay_input *in, uint64_t ts_ns, uint32_t session, uint8_t dir,
                           const uint8_t *msg, size_t len);
/* Loads an .lnmsgs file ([u16 BE length][message]...) as one session,
 * direction 0. On PH_ERR_PARSE *err_offset is the offset of the bad record. */
PH_MUST_USE
ph_err ph_replay_input_load_lnmsgs(ph_replay_input *in, const char *path, uint32_t session,
                                   uint64_t *err_offset);

/* Records who is who in `session` (copied; replaces an earlier call).
 * Does not change ph_replay_input_sessions(). PH_ERR_ARG when session is
 * UINT32_MAX or node_dir > 1, PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_replay_input_set_session(ph_replay_input *in, uint32_t session,
                                   const ph_replay_session *info);
/* What was set for `session`, or NULL when nothing was. Valid until the
 * next set_session or destroy. */
const ph_replay_session *ph_replay_input_session(const ph_replay_input *in, uint32_t session);

size_t ph_replay_input_count(const ph_replay_input *in);
const ph_replay_msg *ph_replay_input_at(const ph_replay_input *in, size_t i);
/* Number of sessions = 1 + the largest session index (0 when empty). */
uint32_t ph_replay_input_sessions(const ph_replay_input *in);
uint64_t ph_replay_input_bytes(const ph_replay_input *in);

/* The indices of the messages that simulated peer `peer` of `npeers`
 * receives: those of session peer % sessions, in order. With `dir_mask`
 * bit d set, direction d is kept (3 = both). *out is a new array owned by
 * the caller (free()), NULL with *n = 0 when empty. */
PH_MUST_USE
ph_err ph_replay_input_peer_plan(const ph_replay_input *in, size_t peer, uint8_t dir_mask,
                                 uint32_t **out, size_t *n);

#endif
