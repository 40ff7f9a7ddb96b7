/* Test-only Lightning session generator: real BOLT 8 sessions made in-
 * process with ph_noise (fixed keys, deterministic), written with pcapwrite
 * with the damage a capture can have (segments split, coalesced, reordered,
 * duplicated, lost; bytes never captured; a flipped bit), and the key log
 * that decrypts them. Shared by tests/test_lnsession.c (its fixtures for
 * tests/e2e) and tests/test_malformed.c (the malformed corpus).
 *
 * Everything asserts (cmocka) on failure. The random stream (lngen_rng) and
 * the clock (lngen_clock) are global so that a caller can make the same
 * session twice, clean and damaged. */
#ifndef PH_TEST_LNGEN_H
#define PH_TEST_LNGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keylog.h"
#include "noise.h"
#include "pcapwrite.h"

extern uint64_t lngen_rng;
/* One clock for every generated packet, so that captures holding several
 * sessions stay in time order. */
extern uint64_t lngen_clock;

uint32_t rnd(void);

/* ---- key log collection ---- */

struct keyent {
    uint8_t mac[16], key[32];
    int side; /* 0 initiator's send keys, 1 responder's */
};

struct keys {
    struct keyent e[64];
    int n;
};

struct keyctx {
    struct keys *k;
    int side;
};

/* Key log text of the entries, without side skip_side's skip_nth key (-1:
 * none), with that side's first key corrupted when `corrupt`; free(). */
char *keylog_text(const struct keys *k, int skip_side, int skip_nth, bool corrupt);
ph_keylog *keylog_of(const char *text);

/* ---- sessions ---- */

struct msg {
    uint8_t *p;
    size_t len;
};

struct expect {
    struct msg *m[2];
    size_t n[2], cap[2];
};

struct gen {
    ph_pcapw *w;
    ph_pcapw_conn *c;
    ph_noise *n[2];          /* [0] initiator's transport, [1] responder's */
    struct keys keys;
    struct keyctx kc[2];
    uint8_t *pend[2];        /* encrypted bytes not yet written, per direction */
    size_t plen[2], pcap[2];
    uint64_t off[2];         /* stream bytes written per direction */
    struct expect *exp;
    /* behaviour */
    bool reorder;            /* split chunks into out-of-order segments, dups */
    bool coalesce;           /* hold frames and flush at random boundaries */
    int drop_dir;            /* lose bytes of this direction (-1: none) */
    uint64_t drop_at;        /* at this stream offset */
    size_t drop_len;
    bool dropped;
    uint64_t skip_before[2]; /* bytes before these stream offsets never captured
                                (the receiver's ACK still shows them) */
    bool midstream;          /* no TCP handshake either: capture began later */
    int corrupt_dir;         /* flip one bit of this direction (-1: none) */
    uint64_t corrupt_at;     /* at this stream offset */
};

void expect_add(struct expect *e, int dir, const uint8_t *p, size_t len);
void expect_free(struct expect *e);
/* Write `len` stream bytes of direction `dir` as TCP segments. */
void put_chunk(struct gen *g, int dir, const uint8_t *p, size_t len);
void flush_dir(struct gen *g, int dir, size_t upto);
void append(struct gen *g, int dir, const uint8_t *p, size_t len);
/* Encrypt and queue one message (the other direction is flushed first). */
void send_msg(struct gen *g, int dir, const uint8_t *m, size_t len);
void gen_open(struct gen *g, ph_pcapw *w, const char *client, const char *server,
              struct expect *exp);
/* The same with the capture's damage (skip_before, midstream, corrupt_*)
 * taken from `damage` (may be NULL). */
void gen_open_opts(struct gen *g, ph_pcapw *w, const char *client, const char *server,
                   struct expect *exp, const struct gen *damage);
void gen_close(struct gen *g, bool fin);
/* Message i of direction dir: init first, then pings, pongs (a few of the
 * largest size), gossip-like and unknown odd types. */
size_t make_msg(int dir, size_t i, uint8_t *m);
/* n0 messages initiator -> responder, n1 back, interleaved at random. */
void gen_traffic(struct gen *g, size_t n0, size_t n1);
/* Small messages only (pings of up to 40 bytes after init): many key
 * rotations in few bytes. */
void gen_traffic_small(struct gen *g, size_t n0, size_t n1);
/* One session with the given behaviour written to `path`. */
void make_capture(const char *path, struct gen *g, struct expect *exp, size_t n0, size_t n1,
                  bool reorder, bool coalesce, size_t mss, int drop_dir, uint64_t drop_at,
                  bool fin);
/* One session of n0 / n1 messages with `damage` applied (NULL: none). */
void make_damaged(const char *path, struct gen *g, struct expect *exp, size_t n0, size_t n1,
                  const struct gen *damage);
/* Stream offset of message i of direction dir (frames follow the acts). */
uint64_t msg_offset(const struct expect *e, int dir, size_t i);

#endif
