/* Lightning (BOLT 8) sessions in captures: find them, decrypt them with a
 * key log, and hand out the plaintext messages in capture order.
 *
 * Sessions are recognised by their handshake at the start of a TCP
 * connection, on any port: the first side to send opens with a 50-byte act 1
 * (version 0, then a compressed public key), the other side answers with a
 * 50-byte act 2 of the same shape, the first side follows with a 66-byte
 * act 3 (version 0). Transport frames follow (initiator stream offset 116,
 * responder offset 50).
 *
 * Keys: each direction's first frame is matched to its key by the 16-byte
 * MAC of its encrypted length header (bytes 2..17 of the frame), looked up
 * in the key log; after each rotation (every 500 messages) the next frame's
 * MAC selects the next key the same way.
 *
 * Resynchronisation: a key log line names the first frame under its key by
 * that frame's MAC, so a stream can be picked up at any logged key's first
 * frame. Where the frame boundary is lost (the capture began mid-
 * connection, a gap, a damaged length header, a key missing from the log),
 * the direction is searched byte by byte for the MAC of a logged key and
 * decrypted from there: a capture that starts mid-connection decrypts from
 * the first rotation the key log has a key for (the problem says from which
 * stream offset and how many bytes before could not be). A damaged body,
 * whose length header authenticated, costs only that message. Reassembly
 * runs with skip_gaps, so data after a hole reaches the search.
 *
 * Roles: from the handshake; without one, the side that sent the SYN is the
 * initiator, else the side on the lower port (a listening port) is guessed
 * to be the responder (ph_ln_session_stats.roles_guessed).
 *
 * Nothing is skipped silently: every byte of every TCP connection is
 * accounted for. A session's stats split each direction's stream into
 * handshake, decrypted frames, bytes that could not be decrypted, and bytes
 * the capture lacks; a connection that is not a session is reported with
 * its bytes each way. Every direction without a key, every gap, bad MAC,
 * resynchronisation, incomplete handshake or trailing partial frame becomes
 * a problem (ph_lnsession_problem) with a one-line text naming endpoints,
 * stream offsets and, for a bad MAC, the frame and what had authenticated,
 * e.g. "session 2: no key for 127.0.0.1:40312 -> 127.0.0.1:9735 ...".
 * Capture-level problems (a damaged file, packets cut or malformed,
 * connections evicted, limits reached) come first in the list and are
 * never dropped by the max_problems cap.
 *
 * Memory: besides the reassembly's bounds (tcpreasm.h), bytes held while a
 * handshake is being recognised: at most 64 KiB per direction and 64 MiB
 * in all (past them the connection is searched for keys instead); per
 * direction being searched, 18 bytes; per session direction, one frame.
 *
 * Ownership: ph_lnsessions is opaque (create / destroy). It borrows the key
 * log, which must outlive it. Record pointers are valid only during the
 * callback; stats and problem pointers until the next call that feeds data
 * (packet / run / finish) or destroy. */
#ifndef PH_LNSESSION_H
#define PH_LNSESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "capture.h"
#include "error.h"
#include "keylog.h"
#include "tcpreasm.h"

/* Session directions. */
enum { PH_LN_I2R = 0, /* initiator -> responder */ PH_LN_R2I = 1 };

/* One decrypted message. */
struct ph_ln_record {
    uint64_t ts_ns;                /* capture time of the packet completing it */
    uint64_t session;              /* session id, 1-based (see opts.first_id) */
    int dir;                       /* PH_LN_I2R / PH_LN_R2I */
    const struct ph_endpoint *src, *dst;
    uint64_t index;                /* message number in this direction, from 0 */
    const uint8_t *msg;            /* plaintext: 2-byte type + payload */
    size_t len;
};
typedef void (*ph_ln_record_cb)(void *ctx, const struct ph_ln_record *rec);

struct ph_ln_session_stats {
    uint64_t id;
    uint64_t conn;                 /* TCP connection number in the capture */
    struct ph_endpoint initiator, responder;
    uint64_t start_ns, end_ns;     /* first and last packet of the connection */
    uint64_t messages[2];          /* per session direction */
    uint64_t bytes[2];             /* plaintext message bytes */
    uint64_t stream_bytes[2];      /* TCP payload bytes delivered (handshake included) */
    uint64_t keys[2];              /* keys used: 1 + rotations crossed */
    uint64_t overlap_conflicts[2]; /* retransmissions that disagreed (first copy kept) */
    bool complete[2];              /* every byte of the direction decrypted */
    bool closed;                   /* the TCP connection ended (else still open) */
    unsigned problems;             /* problems naming this session */
    /* Where each direction's stream bytes went: handshake + frame_bytes +
     * undecrypted = stream_bytes; missing were never captured. */
    uint64_t handshake_bytes[2];   /* acts (0 when the handshake was not seen) */
    uint64_t frame_bytes[2];       /* bytes of frames decrypted (headers, MACs) */
    uint64_t undecrypted[2];       /* bytes that could not be decrypted */
    uint64_t missing[2];           /* bytes the capture lacks (holes, a final gap) */
    uint64_t ignored[2];           /* bytes after the direction ended (TCP) */
    uint64_t lost_messages[2];     /* frames whose body failed (length known) */
    uint64_t resyncs[2];           /* decryption picked up at a logged key's frame */
    bool handshake_seen;           /* false: found by a key's MAC mid-stream */
    bool roles_guessed;            /* no handshake and no SYN: see above */
    uint64_t first_frame[2];       /* stream offset of the first frame decrypted
                                      (UINT64_MAX: none) */
};

enum ph_ln_problem_kind {
    PH_LN_PROB_NO_KEY,             /* no key for a direction's first frame */
    PH_LN_PROB_NO_NEXT_KEY,        /* no key after a rotation */
    PH_LN_PROB_BAD_MAC,            /* a frame did not authenticate */
    PH_LN_PROB_GAP,                /* bytes missing from the capture */
    PH_LN_PROB_TRAILING,           /* incomplete frame at the end of a stream */
    PH_LN_PROB_HANDSHAKE,          /* handshake began but did not complete */
    PH_LN_PROB_NOT_LIGHTNING,      /* data-carrying connection with no handshake */
    PH_LN_PROB_CAPTURE,            /* capture-level: truncated packets or file,
                                      connections evicted, limits */
    PH_LN_PROB_NOMEM,              /* memory ran out: data lost */
    PH_LN_PROB_RESYNC,             /* decryption resumed at a logged key's frame
                                      after bytes that could not be decrypted */
    PH_LN_PROB_MIDSTREAM,          /* no handshake: decrypted from a logged key's
                                      frame on (offset and bytes before in text) */
    PH_LN_PROB_UNDECRYPTED,        /* a direction of a session found mid-stream
                                      in which no logged key's frame was found */
    PH_LN_PROB_NOTE,               /* capture-level note, nothing lost: the filter
                                      matched nothing inside VLAN tags, connections
                                      without data evicted */
};

#define PH_LN_PROBLEM_TEXT 320
struct ph_ln_problem {
    enum ph_ln_problem_kind kind;
    uint64_t session;              /* 0 when not about a session */
    uint64_t conn;                 /* 0 when not about a connection */
    int dir;                       /* session direction, -1 when not about one */
    uint64_t offset;               /* stream offset where relevant */
    uint64_t bytes;                /* stream bytes it cost (not decrypted or
                                      missing), where relevant; else 0 */
    char text[PH_LN_PROBLEM_TEXT]; /* one line, no newline */
};

struct ph_lnsession_opts {
    uint64_t first_id;             /* id of the first session (0 = 1): lets
                                      several captures share one numbering */
    struct ph_tcpreasm_limits limits; /* skip_gaps is always set */
    size_t max_problems;           /* stored problems about sessions and
                                      connections (0 = 10000); beyond, only
                                      counted (ph_lnsession_problems_dropped) */
};

typedef struct ph_lnsessions ph_lnsessions;

/* `kl` may be NULL (every direction then lacks a key). `cb` may be NULL.
 * opts may be NULL. PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_lnsession_create(ph_lnsessions **out, const ph_keylog *kl,
                           const struct ph_lnsession_opts *opts, ph_ln_record_cb cb,
                           void *ctx);
void ph_lnsession_destroy(ph_lnsessions *s);

/* Feed one TCP segment (capture order). PH_ERR_NOMEM only. */
PH_MUST_USE
ph_err ph_lnsession_packet(ph_lnsessions *s, const struct ph_tcp_packet *p);
/* End of input: flush every connection (reports gaps, trailing bytes). */
void ph_lnsession_finish(ph_lnsessions *s);

/* Read `c` to its end, feeding every segment, then finish. Capture-level
 * trouble becomes problems too: truncated packets, a truncated or corrupt
 * file (with packet number and offset; what was read before is kept).
 * Returns PH_OK, or the capture's error (PH_ERR_CAPTURE_TRUNCATED /
 * PH_ERR_CAPTURE_CORRUPT) after recording it, or PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_lnsession_run(ph_lnsessions *s, ph_capture *c);

size_t ph_lnsession_count(const ph_lnsessions *s);
const struct ph_ln_session_stats *ph_lnsession_stats(const ph_lnsessions *s, size_t i);
/* Problems: the capture-level ones first, then the others in order. */
size_t ph_lnsession_problem_count(const ph_lnsessions *s);
const struct ph_ln_problem *ph_lnsession_problem(const ph_lnsessions *s, size_t i);
size_t ph_lnsession_problems_dropped(const ph_lnsessions *s);
/* Messages delivered through the callback so far. */
uint64_t ph_lnsession_messages(const ph_lnsessions *s);
/* Next unused session id (for numbering the next capture). */
uint64_t ph_lnsession_next_id(const ph_lnsessions *s);
/* TCP connections seen (sessions or not). */
uint64_t ph_lnsession_connections(const ph_lnsessions *s);
/* TCP payload bytes delivered by the reassembly, every connection. */
uint64_t ph_lnsession_tcp_bytes(const ph_lnsessions *s);
/* The reassembly's counters (evictions, memory). */
const struct ph_tcpreasm_stats *ph_lnsession_reasm_stats(const ph_lnsessions *s);

#endif
