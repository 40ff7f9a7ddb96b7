#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "noise.h"
#include "outq.h"
#include "wbuf.h"
#include "wire.h"
#include "wire_build.h"

/* Fixed keys: both ends of one direction of a transport. */
static const uint8_t KEY[32] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa };
static const uint8_t CK[32] = { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x01, 0x02 };

/* ---- a callback sink that stores what it takes ---- */

struct capsink {
    uint8_t *buf;
    size_t len, cap;
    size_t max_per_call;   /* 0 = unlimited */
    unsigned block_every;  /* every Nth call would block (0 = never) */
    unsigned calls;
    unsigned taking_calls;
    bool never;            /* never take anything */
};

static ssize_t cap_write(void *ctx, const struct iovec *iov, int iovcnt)
{
    struct capsink *s = ctx;
    s->calls++;
    if (s->never || (s->block_every && s->calls % s->block_every == 0)) {
        errno = EAGAIN;
        return -1;
    }
    size_t budget = s->max_per_call ? s->max_per_call : SIZE_MAX;
    size_t took = 0;
    for (int i = 0; i < iovcnt && budget; i++) {
        size_t n = iov[i].iov_len < budget ? iov[i].iov_len : budget;
        if (s->len + n > s->cap) {
            s->cap = (s->len + n) * 2;
            s->buf = realloc(s->buf, s->cap);
            assert_non_null(s->buf);
        }
        memcpy(s->buf + s->len, iov[i].iov_base, n);
        s->len += n;
        took += n;
        budget -= n;
    }
    s->taking_calls++;
    return (ssize_t)took;
}

static ph_outq_sink cap_sink(struct capsink *s)
{
    return (ph_outq_sink){ .fd = -1, .write = cap_write, .ctx = s };
}

/* ---- test message set: sizes from tiny to the largest ---- */

static uint8_t *make_msg(size_t len, uint16_t type, unsigned seed)
{
    uint8_t *m = malloc(len);
    assert_non_null(m);
    m[0] = (uint8_t)(type >> 8);
    m[1] = (uint8_t)type;
    for (size_t i = 2; i < len; i++)
        m[i] = (uint8_t)(i * 31 + seed);
    return m;
}

static const size_t SIZES[] = { 2, 3, 138, 150, 432, 1000, 4096, 16384, 65535, 18, 65534, 7 };
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

/* Decrypt a whole byte stream and check it yields exactly the messages. */
static void check_stream(const uint8_t *stream, size_t len, uint8_t **msgs, const size_t *sizes,
                         size_t n)
{
    ph_noise *rx = NULL;
    assert_int_equal(ph_noise_create_from_keys(&rx, NULL, NULL, KEY, CK), PH_OK);
    size_t off = 0, got = 0;
    while (off < len) {
        size_t used = 0, mlen = 0, need = 0;
        const uint8_t *m = NULL;
        assert_int_equal(ph_noise_decrypt_feed(rx, stream + off, len - off, &used, &m, &mlen,
                                               &need), PH_OK);
        off += used;
        if (m) {
            assert_true(got < n);
            assert_int_equal(mlen, sizes[got]);
            assert_memory_equal(m, msgs[got], mlen);
            got++;
        }
    }
    assert_int_equal(got, n);
    ph_noise_destroy(rx);
}

struct rig {
    ph_noise *tx;
    ph_wbuf *w;
    ph_wbuf_peer *wp;
    ph_outq *q;
};

static void rig_open(struct rig *r, const char *strategy, const ph_outq_sink *sink,
                     const ph_outq_config *cfg)
{
    assert_int_equal(ph_noise_create_from_keys(&r->tx, KEY, CK, NULL, NULL), PH_OK);
    assert_int_equal(ph_wbuf_create(&r->w, strategy, NULL), PH_OK);
    assert_int_equal(ph_wbuf_peer_attach(r->w, &r->wp), PH_OK);
    assert_int_equal(ph_outq_create(&r->q, r->tx, r->wp, sink, cfg), PH_OK);
}

static void rig_close(struct rig *r)
{
    ph_outq_destroy(r->q);
    ph_wbuf_peer_detach(r->wp);
    ph_wbuf_destroy(r->w);
    ph_noise_destroy(r->tx);
}

/* Flush until done, pretending to wait for writability on PH_ERR_AGAIN. */
static void drain(struct rig *r)
{
    for (int guard = 0; guard < 1000000; guard++) {
        ph_err err = ph_outq_flush(r->q, 0);
        if (err == PH_OK)
            return;
        assert_int_equal(err, PH_ERR_AGAIN);
    }
    fail_msg("flush never finished");
}

/* Every strategy, with a sink that takes 7 bytes at a time and blocks every
 * third call, produces the same bytes, which decrypt to the messages; and
 * those bytes equal a contiguous ph_noise_encrypt of the same messages. */
static void test_partial_writes_all_strategies_identical(void **state)
{
    (void)state;
    uint8_t *msgs[NSIZES];
    for (size_t i = 0; i < NSIZES; i++)
        msgs[i] = make_msg(SIZES[i], (uint16_t)(i == 9 ? 18 : 258), (unsigned)i);

    /* Reference: contiguous frames. */
    ph_noise *ref = NULL;
    assert_int_equal(ph_noise_create_from_keys(&ref, KEY, CK, NULL, NULL), PH_OK);
    size_t ref_len = 0;
    for (size_t i = 0; i < NSIZES; i++)
        ref_len += SIZES[i] + PH_NOISE_OVERHEAD;
    uint8_t *expect = malloc(ref_len), *p = expect;
    for (size_t i = 0; i < NSIZES; i++) {
        assert_int_equal(ph_noise_encrypt(ref, msgs[i], SIZES[i], p), PH_OK);
        p += SIZES[i] + PH_NOISE_OVERHEAD;
    }
    ph_noise_destroy(ref);

    const char *const *names = ph_wbuf_names();
    size_t nstrat = 0;
    for (; names[nstrat]; nstrat++) {
        struct capsink s = { .max_per_call = 7, .block_every = 3 };
        ph_outq_sink sink = cap_sink(&s);
        struct rig r;
        rig_open(&r, names[nstrat], &sink, NULL);
        for (size_t i = 0; i < NSIZES; i++)
            assert_int_equal(ph_outq_push_copy(r.q, msgs[i], SIZES[i], 0), PH_OK);
        drain(&r);
        assert_false(ph_outq_pending(r.q));
        ph_outq_stats st;
        ph_outq_get_stats(r.q, &st);
        assert_int_equal(st.msgs_out, NSIZES);
        assert_int_equal(st.wire_bytes_out, ref_len);
        assert_true(st.partial_writes > 0);
        assert_int_equal(st.out[PH_MSGTYPE_PING].msgs, 1);
        assert_int_equal(st.out[PH_MSGTYPE_CHANNEL_UPDATE].msgs, NSIZES - 1);
        assert_int_equal(st.queued_bytes, 0);
        assert_int_equal(s.len, ref_len);
        assert_memory_equal(s.buf, expect, ref_len);
        check_stream(s.buf, s.len, msgs, SIZES, NSIZES);
        rig_close(&r);
        free(s.buf);
    }
    assert_true(nstrat >= 4);
    free(expect);
    for (size_t i = 0; i < NSIZES; i++)
        free(msgs[i]);
}

/* Several frames go out in one sink call when the strategy hands them out;
 * `reuse` (one buffer per peer) writes one frame per call. */
static void test_batching(void **state)
{
    (void)state;
    uint8_t *m = make_msg(138, 258, 1);
    struct capsink s = { 0 };
    ph_outq_sink sink = cap_sink(&s);
    ph_outq_config cfg = { .max_batch = 8 };
    struct rig r;
    rig_open(&r, "exact", &sink, &cfg);
    for (int i = 0; i < 16; i++)
        assert_int_equal(ph_outq_push_copy(r.q, m, 138, 0), PH_OK);
    assert_int_equal(ph_outq_flush(r.q, 0), PH_OK);
    assert_int_equal(s.taking_calls, 2);
    rig_close(&r);
    free(s.buf);

    struct capsink s2 = { 0 };
    sink = cap_sink(&s2);
    rig_open(&r, "reuse", &sink, &cfg);
    for (int i = 0; i < 16; i++)
        assert_int_equal(ph_outq_push_copy(r.q, m, 138, 0), PH_OK);
    assert_int_equal(ph_outq_flush(r.q, 0), PH_OK);
    assert_int_equal(s2.taking_calls, 16);
    assert_int_equal(s2.len, 16 * (138 + PH_NOISE_OVERHEAD));
    rig_close(&r);
    free(s2.buf);
    free(m);
}

/* A flush yields once it has written its budget, between two batches,
 * with the sink still writable; the next flushes go on where it stopped. */
static void test_flush_budget_yields(void **state)
{
    (void)state;
    uint8_t *m = make_msg(1000, 258, 2);
    struct capsink s = { 0 };
    ph_outq_sink sink = cap_sink(&s);
    ph_outq_config cfg = { .max_batch = 2, .flush_budget = 3000 };
    struct rig r;
    rig_open(&r, "exact", &sink, &cfg);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ph_outq_push_copy(r.q, m, 1000, 0), PH_OK);
    /* two batches of two frames (4 x 1,034 bytes) pass the 3,000-byte budget */
    assert_int_equal(ph_outq_flush(r.q, 0), PH_ERR_AGAIN);
    assert_true(ph_outq_yielded(r.q));
    assert_false(ph_outq_wbuf_starved(r.q));
    assert_int_equal(s.len, 4 * (1000 + PH_NOISE_OVERHEAD));
    assert_int_equal(ph_outq_flush(r.q, 0), PH_ERR_AGAIN);
    assert_int_equal(s.len, 8 * (1000 + PH_NOISE_OVERHEAD));
    assert_int_equal(ph_outq_flush(r.q, 0), PH_OK);
    assert_false(ph_outq_yielded(r.q));
    assert_int_equal(s.len, 10 * (1000 + PH_NOISE_OVERHEAD));
    uint8_t *msgs[10];
    size_t sizes[10];
    for (int i = 0; i < 10; i++) {
        msgs[i] = m;
        sizes[i] = 1000;
    }
    check_stream(s.buf, s.len, msgs, sizes, 10);
    rig_close(&r);
    free(s.buf);
    free(m);
}

/* An fd sink (socketpair) and a callback sink give the same bytes. */
static void test_fd_sink(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    uint8_t *msgs[3];
    const size_t sizes[3] = { 138, 2000, 65535 };
    for (int i = 0; i < 3; i++)
        msgs[i] = make_msg(sizes[i], 257, (unsigned)i);
    ph_outq_sink fdsink = { .fd = sv[0] };
    struct rig r;
    rig_open(&r, "pool", &fdsink, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ph_outq_push_copy(r.q, msgs[i], sizes[i], 0), PH_OK);
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += sizes[i] + PH_NOISE_OVERHEAD;
    uint8_t *got = malloc(total);
    size_t have = 0;
    while (have < total) {
        ph_err err = ph_outq_flush(r.q, 0);
        assert_true(err == PH_OK || err == PH_ERR_AGAIN);
        ssize_t n = read(sv[1], got + have, total - have);
        assert_true(n > 0);
        have += (size_t)n;
    }
    assert_false(ph_outq_pending(r.q));
    check_stream(got, total, msgs, sizes, 3);

    /* Same messages through a callback sink: same bytes. */
    struct capsink s = { 0 };
    ph_outq_sink cs = cap_sink(&s);
    struct rig r2;
    rig_open(&r2, "pool", &cs, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ph_outq_push_copy(r2.q, msgs[i], sizes[i], 0), PH_OK);
    drain(&r2);
    assert_int_equal(s.len, total);
    assert_memory_equal(s.buf, got, total);

    /* The reader hangs up: the writer learns PH_ERR_PEER_CLOSED. */
    close(sv[1]);
    assert_int_equal(ph_outq_push_copy(r.q, msgs[0], sizes[0], 0), PH_OK);
    assert_int_equal(ph_outq_flush(r.q, 0), PH_ERR_PEER_CLOSED);

    rig_close(&r);
    rig_close(&r2);
    close(sv[0]);
    free(s.buf);
    free(got);
    for (int i = 0; i < 3; i++)
        free(msgs[i]);
}

/* Shared messages: one ph_outq_msg queued on several queues is written by
 * each and freed after the last. External bytes: unref called exactly once
 * whether written, dropped or refused. */
struct ext {
    int unrefs;
};

static void ext_unref(void *obj)
{
    ((struct ext *)obj)->unrefs++;
}

static void test_shared_and_external(void **state)
{
    (void)state;
    uint8_t *m = make_msg(500, 256, 9);
    ph_outq_msg *shared = NULL;
    assert_int_equal(ph_outq_msg_copy(&shared, m, 500), PH_OK);
    assert_int_equal(ph_outq_msg_len(shared), 500);
    assert_int_equal(ph_outq_msg_type(shared), 256);
    struct capsink s[3] = { { 0 } };
    struct rig r[3];
    for (int i = 0; i < 3; i++) {
        ph_outq_sink sink = cap_sink(&s[i]);
        rig_open(&r[i], "exact", &sink, NULL);
        assert_int_equal(ph_outq_push(r[i].q, shared, PH_OUTQ_RELAY), PH_OK);
    }
    ph_outq_msg_unref(shared); /* the queues keep it alive */
    for (int i = 0; i < 3; i++) {
        drain(&r[i]);
        assert_int_equal(s[i].len, 500 + PH_NOISE_OVERHEAD);
        assert_memory_equal(s[i].buf, s[0].buf, s[0].len);
    }

    struct ext e = { 0 };
    ph_outq_config cfg = { .soft_cap = 1000, .hard_cap = 2000 };
    struct capsink blocked = { .never = true };
    ph_outq_sink bs = cap_sink(&blocked);
    struct rig rb;
    rig_open(&rb, "fresh", &bs, &cfg);
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e, PH_OUTQ_RELAY), PH_OK);
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e, PH_OUTQ_RELAY), PH_OK);
    assert_int_equal(e.unrefs, 0);
    /* 1,000 queued: the next relayed one is dropped (unref at once). */
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e, PH_OUTQ_RELAY), PH_OK);
    assert_int_equal(e.unrefs, 1);
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e, 0), PH_OK);
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e, 0), PH_OK);
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e, 0), PH_ERR_LIMIT);
    assert_int_equal(e.unrefs, 2);
    assert_int_equal(ph_outq_push_external(rb.q, m, 1, ext_unref, &e, 0), PH_ERR_ARG);
    assert_int_equal(e.unrefs, 3);
    /* Flushing into the blocked sink encodes a batch (unrefs the copies). */
    assert_int_equal(ph_outq_flush(rb.q, 0), PH_ERR_AGAIN);
    assert_int_equal(e.unrefs, 7);
    rig_close(&rb);
    assert_int_equal(e.unrefs, 7);

    /* Unwritten external messages are unref'd by destroy. */
    struct ext e2 = { 0 };
    rig_open(&rb, "fresh", &bs, &cfg);
    assert_int_equal(ph_outq_push_external(rb.q, m, 500, ext_unref, &e2, 0), PH_OK);
    rig_close(&rb);
    assert_int_equal(e2.unrefs, 1);

    for (int i = 0; i < 3; i++) {
        rig_close(&r[i]);
        free(s[i].buf);
    }
    free(blocked.buf);
    free(m);
}

/* Soft cap drops relayed gossip only, counted; hard cap refuses. */
static void test_caps(void **state)
{
    (void)state;
    uint8_t *m = make_msg(1000, 258, 3);
    struct capsink blocked = { .never = true };
    ph_outq_sink bs = cap_sink(&blocked);
    ph_outq_config cfg = { .soft_cap = 10000, .hard_cap = 20000, .max_batch = 1 };
    struct rig r;
    rig_open(&r, "exact", &bs, &cfg);
    for (int i = 0; i < 30; i++)
        assert_int_equal(ph_outq_push_copy(r.q, m, 1000, PH_OUTQ_RELAY), PH_OK);
    ph_outq_stats st;
    ph_outq_get_stats(r.q, &st);
    assert_int_equal(st.queued_msgs, 10);
    assert_int_equal(st.relay_dropped, 20);
    assert_int_equal(st.relay_dropped_bytes, 20000);
    /* Replies still go in, up to the hard cap. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(ph_outq_push_copy(r.q, m, 1000, 0), PH_OK);
    assert_int_equal(ph_outq_push_copy(r.q, m, 1000, 0), PH_ERR_LIMIT);
    assert_int_equal(ph_outq_queued_bytes(r.q), 20000);
    /* In-flight frame bytes count too (1,034 wire bytes for 1,000 plaintext). */
    assert_int_equal(ph_outq_flush(r.q, 0), PH_ERR_AGAIN);
    assert_int_equal(ph_outq_queued_bytes(r.q), 20000 + PH_NOISE_OVERHEAD);
    ph_outq_get_stats(r.q, &st);
    assert_int_equal(st.inflight_frames, 1);
    assert_int_equal(st.peak_queued_bytes, 20000);
    rig_close(&r);
    free(m);
}

/* A peer that never reads, under every strategy: a flood of relayed
 * gossip keeps the queue under the soft cap and the held write buffers to
 * one batch. */
static void test_memory_bounded_never_reading(void **state)
{
    (void)state;
    uint8_t *m = make_msg(400, 257, 4);
    ph_outq_msg *shared = NULL;
    assert_int_equal(ph_outq_msg_copy(&shared, m, 400), PH_OK);
    const char *const *names = ph_wbuf_names();
    for (size_t k = 0; names[k]; k++) {
        struct capsink blocked = { .never = true };
        ph_outq_sink bs = cap_sink(&blocked);
        ph_outq_config cfg = { .soft_cap = 64 * 1024, .max_batch = 4 };
        struct rig r;
        rig_open(&r, names[k], &bs, &cfg);
        for (int i = 0; i < 20000; i++) {
            assert_int_equal(ph_outq_push(r.q, shared, PH_OUTQ_RELAY), PH_OK);
            if (i % 100 == 0) {
                ph_err err = ph_outq_flush(r.q, (uint64_t)i);
                assert_int_equal(err, PH_ERR_AGAIN);
            }
        }
        ph_outq_stats st;
        ph_outq_get_stats(r.q, &st);
        assert_true(st.queued_bytes <= 64 * 1024 + 4 * PH_NOISE_OVERHEAD);
        assert_true(st.inflight_frames <= 4);
        assert_true(st.wbuf_held <= 4 * 65536 + 16 * 1024 * 1024 / 256);
        assert_true(st.relay_dropped > 19000);
        assert_true(ph_outq_self_bytes(r.q) < 64 * 1024);
        rig_close(&r);
    }
    ph_outq_msg_unref(shared);
    free(m);
}

/* A lazy source refills the queue as it drains: the queue never holds more
 * than the low-water mark plus one message, and everything arrives. */
struct source {
    uint8_t *msg;
    size_t len;
    int left;
    size_t max_waiting;
};

static void refill(void *ctx, ph_outq *q)
{
    struct source *src = ctx;
    while (src->left > 0 && ph_outq_waiting_bytes(q) < 4096) {
        assert_int_equal(ph_outq_push_copy(q, src->msg, src->len, 0), PH_OK);
        src->left--;
    }
    if (ph_outq_waiting_bytes(q) > src->max_waiting)
        src->max_waiting = ph_outq_waiting_bytes(q);
}

static void test_refill_lazy_source(void **state)
{
    (void)state;
    struct source src = { .msg = make_msg(300, 258, 5), .len = 300, .left = 5000 };
    struct capsink s = { .max_per_call = 1000, .block_every = 2 };
    ph_outq_sink sink = cap_sink(&s);
    struct rig r;
    rig_open(&r, "tiered", &sink, NULL);
    ph_outq_set_refill(r.q, 4096, refill, &src);
    drain(&r);
    assert_int_equal(src.left, 0);
    assert_true(src.max_waiting < 4096 + 300);
    ph_outq_stats st;
    ph_outq_get_stats(r.q, &st);
    assert_int_equal(st.msgs_out, 5000);
    assert_int_equal(s.len, 5000 * (300 + PH_NOISE_OVERHEAD));
    rig_close(&r);
    free(s.buf);
    free(src.msg);
}

/* Decoded messages are encoded straight into the write buffer. */
static void test_wire_message(void **state)
{
    (void)state;
    ph_wire_msg *ping = NULL;
    assert_int_equal(ph_wire_ping_new(&ping, 12, 5), PH_OK);
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    assert_int_equal(ph_wire_encode_alloc(ping, &enc, &enc_len), PH_OK);
    struct capsink s = { 0 };
    ph_outq_sink sink = cap_sink(&s);
    struct rig r;
    rig_open(&r, "reuse", &sink, NULL);
    assert_int_equal(ph_outq_push_wire(r.q, ping, 0), PH_OK);
    drain(&r);
    uint8_t *msgs[1] = { enc };
    size_t sizes[1] = { enc_len };
    check_stream(s.buf, s.len, msgs, sizes, 1);
    ph_outq_stats st;
    ph_outq_get_stats(r.q, &st);
    assert_int_equal(st.out[PH_MSGTYPE_PING].msgs, 1);
    assert_int_equal(st.out[PH_MSGTYPE_PING].bytes, enc_len);
    rig_close(&r);
    free(enc);
    free(s.buf);
}

static void test_type_slots(void **state)
{
    (void)state;
    assert_int_equal(ph_msgtype_slot(18), PH_MSGTYPE_PING);
    assert_int_equal(ph_msgtype_slot(265), PH_MSGTYPE_GOSSIP_TIMESTAMP_FILTER);
    assert_int_equal(ph_msgtype_slot(32769), PH_MSGTYPE_OTHER);
    assert_string_equal(ph_msgtype_slot_name(PH_MSGTYPE_CHANNEL_UPDATE), "channel_update");
    assert_string_equal(ph_msgtype_slot_name(PH_MSGTYPE_OTHER), "other");
    /* Every slot is the type of its name, each slot taken once. */
    bool seen[PH_MSGTYPE__COUNT] = {false};
    for (unsigned t = 0; t < 65536; t++) {
        unsigned slot = ph_msgtype_slot((uint16_t)t);
        if (slot == PH_MSGTYPE_OTHER)
            continue;
        assert_false(seen[slot]);
        seen[slot] = true;
        assert_string_equal(ph_msgtype_slot_name(slot), ph_wire_type_name((uint16_t)t));
    }
    for (unsigned slot = 0; slot < PH_MSGTYPE_OTHER; slot++)
        assert_true(seen[slot]);
}

int main(void)
{
    if (ph_noise_global_init() != PH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_writes_all_strategies_identical),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_flush_budget_yields),
        cmocka_unit_test(test_fd_sink),
        cmocka_unit_test(test_shared_and_external),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_memory_bounded_never_reading),
        cmocka_unit_test(test_refill_lazy_source),
        cmocka_unit_test(test_wire_message),
        cmocka_unit_test(test_type_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
