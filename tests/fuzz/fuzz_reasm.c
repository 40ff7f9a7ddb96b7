/* TCP reassembly fed arbitrary segments on a few 4-tuples, in both gap
 * modes, with tiny limits (eviction, buffers, the memory budget).
 *
 * Input: one byte of mode, then records of 12 bytes (endpoints, flags,
 * sequence and acknowledgement numbers, payload length) whose payload is
 * taken from a fixed pattern. Properties: each direction's data comes at
 * contiguous offsets (gaps included), each direction ends once, and every
 * payload byte fed is accounted for once the capture is finished. */
#include <string.h>

#include "byteorder.h"
#include "capture.h"
#include "fuzz.h"
#include "tcpreasm.h"

#define MAX_ID 4096

struct seen {
    uint64_t next[MAX_ID][2];
    uint8_t ended[MAX_ID][2];
    uint64_t accounted;
};

static struct seen seen;
static uint8_t pattern[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 31 + 7);
    return 0;
}

static void on_data(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off,
                    const uint8_t *p, size_t len, uint64_t ts)
{
    (void)ctx;
    (void)p;
    (void)ts;
    FUZZ_CHECK(len > 0);
    if (c->id >= MAX_ID)
        return;
    FUZZ_CHECK(!seen.ended[c->id][dir]);
    FUZZ_CHECK(off == seen.next[c->id][dir]);
    seen.next[c->id][dir] += len;
}

static void on_gap(void *ctx, struct ph_tcp_conn_info *c, int dir, uint64_t off, uint64_t len,
                   uint64_t ts)
{
    (void)ctx;
    (void)ts;
    FUZZ_CHECK(len > 0);
    if (c->id >= MAX_ID)
        return;
    FUZZ_CHECK(off == seen.next[c->id][dir]);
    seen.next[c->id][dir] += len;
}

static void on_end(void *ctx, struct ph_tcp_conn_info *c, int dir, enum ph_tcp_end why,
                   uint64_t off, uint64_t ts)
{
    (void)ctx;
    (void)why;
    (void)ts;
    if (c->id >= MAX_ID)
        return;
    FUZZ_CHECK(!seen.ended[c->id][dir]);
    FUZZ_CHECK(off == seen.next[c->id][dir]);
    seen.ended[c->id][dir] = 1;
}

static void on_close(void *ctx, struct ph_tcp_conn_info *c)
{
    (void)ctx;
    for (int d = 0; d < 2; d++) {
        const struct ph_tcp_dir_stats *st = &c->st[d];
        seen.accounted += st->bytes + st->retransmitted + st->ignored + st->discarded;
        FUZZ_CHECK(st->bytes + st->missing == st->end_offset);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    memset(&seen, 0, sizeof seen);
    uint8_t mode = data[0];
    struct ph_tcpreasm_cb cb = {NULL, on_data, on_end, on_close, on_gap};
    struct ph_tcpreasm_limits lim = {
        .skip_gaps = mode & 1,
        .max_conns = 1 + (mode >> 1 & 7),
        .max_buffer = 1u << (8 + (mode >> 4 & 3)),
        .max_segments = 4 + (mode >> 6),
        .retain = 300,
        .max_memory = 5000,
    };
    ph_tcpreasm *t = NULL;
    if (ph_tcpreasm_create(&t, &cb, NULL, &lim) != PH_OK)
        return 0;
    struct ph_endpoint ep[4];
    memset(ep, 0, sizeof ep);
    for (int i = 0; i < 4; i++) {
        ep[i].family = i < 2 ? 4 : 6;
        ep[i].addr[0] = (uint8_t)(10 + i);
        ep[i].port = (uint16_t)(9735 + i % 2);
    }
    uint64_t fed = 0;
    for (size_t off = 1; off + 12 <= size && ph_tcpreasm_stats(t)->conns < MAX_ID - 1;
         off += 12) {
        const uint8_t *r = data + off;
        struct ph_tcp_packet p;
        memset(&p, 0, sizeof p);
        p.ts_ns = off;
        p.src = ep[r[0] & 3];
        p.dst = ep[r[0] >> 2 & 3];
        if ((r[0] >> 4) & 1)
            p.src.port ^= (uint16_t)(r[0] >> 5); /* more 4-tuples */
        p.flags = r[1];
        p.seq = ph_le32(r + 2);
        p.ack = ph_le32(r + 6);
        p.payload_len = (size_t)(r[10] | (r[11] & 0x0f) << 8);
        p.payload = pattern + (r[11] >> 4) * 64;
        if (p.payload_len > sizeof pattern - 1024)
            p.payload_len = sizeof pattern - 1024;
        fed += p.payload_len;
        FUZZ_CHECK(ph_tcpreasm_packet(t, &p) == PH_OK);
    }
    ph_tcpreasm_finish(t, 0);
    const struct ph_tcpreasm_stats *st = ph_tcpreasm_stats(t);
    FUZZ_CHECK(fed == seen.accounted + st->late_bytes);
    FUZZ_CHECK(st->max_tracked <= lim.max_conns);
    FUZZ_CHECK(st->max_memory_used <= lim.max_memory);
    FUZZ_CHECK(st->max_window_used <= lim.max_memory / 4);
    ph_tcpreasm_destroy(t);
    return 0;
}
