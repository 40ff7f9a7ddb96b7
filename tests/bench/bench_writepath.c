/* make bench: the write path per message against the naive libsodium
 * framing, for every write-buffer strategy.
 *
 * Input: the 28,809 real mainnet gossip messages. Rows, each a pass over
 * all of them:
 *   - naive libsodium framing: copy the message into a reused buffer and
 *     make the two crypto_aead_chacha20poly1305_ietf_encrypt_detached calls
 *     of a BOLT 8 frame (length at nonce n, body at n + 1): the baseline;
 *   - BOLT 8 encrypt: the same copy and ph_noise_encrypt_detached, with
 *     each of our cipher implementations this CPU runs (chachapoly.h);
 *   - each strategy's full write path (lib/outq, exactly what a peer runs):
 *     the stored messages are pushed 64 KiB at a time without a copy
 *     (ph_outq_push_external), as the gossip cursor refills the queue, and
 *     flushed in the strategy's batches (8 frames per sink
 *     call, 64 for ring): frame from the strategy, copy in, encrypt in
 *     place, one write per batch into a sink that takes every byte and
 *     discards it (no kernel: the path's own cost);
 *   - node-lightning's framing of the same messages (@node-lightning/noise
 *     encryptMessage, Node.js), when node and the package are installed:
 *     nl_frame.js, timed inside the script, once per round.
 *
 * Times are the thread's CPU time. Rounds are interleaved (every row once,
 * then again ...) so that machine noise spreads over all of them; medians are printed as a Markdown table
 * with each row's speed relative to the naive framing measured in the same
 * run ("x naive" = naive ns / row ns: above 1 is faster).
 *
 *   bench_writepath [FILE.lnmsgs] [--rounds N] [--only NAME] [--nl SCRIPT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chachapoly.h"
#include "noise.h"
#include "outq.h"
#include "replayin.h"
#include "wbuf.h"

#define DEFAULT_ROUNDS 15
#define MAX_ROUNDS 101
#define MAX_ROWS 16
#define REFILL_BYTES (64u * 1024u)

enum row_kind { ROW_NAIVE, ROW_OURS, ROW_STRATEGY, ROW_NODE_LIGHTNING };

struct row {
    enum row_kind kind;
    char label[64];
    const char *strategy;
    ph_chachapoly_impl impl;
    double ns[MAX_ROUNDS];
    int n;
};

struct bench {
    const ph_replay_input *in;
    uint8_t *buf;
    const char *path;
    const char *nl_script;
};

/* CPU time of this thread: on a shared machine, time spent waiting for
 * a core is not the path's. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static ssize_t discard(void *ctx, const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    *(uint64_t *)ctx += n;
    return (ssize_t)n;
}

static const uint8_t bench_key[32] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                      0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                      0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                      0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};

static ph_noise *transport(ph_chachapoly_impl impl)
{
    uint8_t ck[32];
    memset(ck, 0x24, sizeof ck);
    ph_noise *n = NULL;
    if (ph_noise_create_from_keys(&n, bench_key, ck, NULL, NULL))
        return NULL;
    if (ph_noise_set_impl(n, impl)) {
        ph_noise_destroy(n);
        return NULL;
    }
    return n;
}

/* Two AEAD calls per message, nonces counting up; rotation is left out
 * (one HKDF per 500 messages is noise next to 1,000 AEAD calls). */
static double naive_round(const struct bench *b)
{
    size_t count = ph_replay_input_count(b->in);
    uint8_t hdr[PH_NOISE_HDR_LEN], mac[PH_NOISE_MAC_LEN], npub[12] = {0};
    uint64_t nonce = 0;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++) {
        const ph_replay_msg *m = ph_replay_input_at(b->in, i);
        memcpy(b->buf, m->bytes, m->len);
        uint8_t l[2] = {(uint8_t)(m->len >> 8), (uint8_t)m->len};
        memcpy(npub + 4, &nonce, 8); /* x86-64 and arm64 are little-endian */
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(hdr, hdr + 2, NULL, l, 2, NULL, 0, NULL,
                                                           npub, bench_key);
        nonce++;
        memcpy(npub + 4, &nonce, 8);
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(b->buf, mac, NULL, b->buf, m->len, NULL,
                                                           0, NULL, npub, bench_key);
        nonce = (nonce + 1) % 1000;
    }
    return (double)(now_ns() - t0) / (double)count;
}

static double ours_round(const struct bench *b, ph_chachapoly_impl impl)
{
    ph_noise *n = transport(impl);
    if (!n)
        return -1;
    size_t count = ph_replay_input_count(b->in);
    uint8_t hdr[PH_NOISE_HDR_LEN], mac[PH_NOISE_MAC_LEN];
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++) {
        const ph_replay_msg *m = ph_replay_input_at(b->in, i);
        memcpy(b->buf, m->bytes, m->len);
        if (ph_noise_encrypt_detached(n, hdr, b->buf, m->len, mac)) {
            ph_noise_destroy(n);
            return -1;
        }
    }
    uint64_t t = now_ns() - t0;
    ph_noise_destroy(n);
    return (double)t / (double)count;
}

static double strategy_round(const struct bench *b, const char *name)
{
    ph_noise *n = transport(ph_chachapoly_best());
    ph_wbuf *w = NULL;
    ph_wbuf_peer *wp = NULL;
    ph_outq *q = NULL;
    uint64_t taken = 0;
    ph_outq_sink sink = {.fd = -1, .write = discard, .ctx = &taken};
    ph_outq_config oc = {.max_batch = 0}; /* the strategy's preferred batch */
    double result = -1;
    if (!n || ph_wbuf_create(&w, name, NULL) || ph_wbuf_peer_attach(w, &wp) ||
        ph_outq_create(&q, n, wp, &sink, &oc))
        goto out;
    size_t count = ph_replay_input_count(b->in);
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < count;) {
        while (i < count && ph_outq_waiting_bytes(q) < REFILL_BYTES) {
            const ph_replay_msg *m = ph_replay_input_at(b->in, i++);
            if (ph_outq_push_external(q, m->bytes, m->len, NULL, NULL, 0))
                goto out;
        }
        if (ph_outq_flush(q, 0))
            goto out;
    }
    result = (double)(now_ns() - t0) / (double)count;
out:
    ph_outq_destroy(q);
    ph_wbuf_peer_detach(wp);
    ph_wbuf_destroy(w);
    ph_noise_destroy(n);
    return result;
}

/* One timed pass of node-lightning's framing in a Node.js process; the
 * script prints ns per message. Negative when it cannot run. */
static double node_lightning_round(const struct bench *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "node '%s' '%s' 2>/dev/null", b->nl_script, b->path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    double ns = -1;
    if (fscanf(p, "%lf", &ns) != 1)
        ns = -1;
    if (pclose(p) != 0)
        ns = -1;
    return ns;
}

static double run_row(const struct bench *b, const struct row *r)
{
    switch (r->kind) {
    case ROW_NAIVE: return naive_round(b);
    case ROW_OURS: return ours_round(b, r->impl);
    case ROW_STRATEGY: return strategy_round(b, r->strategy);
    case ROW_NODE_LIGHTNING: return node_lightning_round(b);
    }
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return -1;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static size_t add_rows(struct row *rows, const char *only, bool with_nl)
{
    size_t n = 0;
    rows[n++] = (struct row){.kind = ROW_NAIVE,
                             .label = "naive libsodium framing (2 AEAD calls)"};
    for (int i = 0; i < PH_CHACHAPOLY__COUNT; i++) {
        if (!ph_chachapoly_supported((ph_chachapoly_impl)i))
            continue;
        struct row *r = &rows[n++];
        *r = (struct row){.kind = ROW_OURS, .impl = (ph_chachapoly_impl)i};
        snprintf(r->label, sizeof r->label, "BOLT 8 encrypt, ours (%s)",
                 ph_chachapoly_impl_name((ph_chachapoly_impl)i));
    }
    for (const char *const *s = ph_wbuf_names(); *s && n < MAX_ROWS - 1; s++) {
        if (only && strcmp(only, *s) != 0)
            continue;
        struct row *r = &rows[n++];
        *r = (struct row){.kind = ROW_STRATEGY, .strategy = *s};
        snprintf(r->label, sizeof r->label, "%s: full write path", *s);
    }
    if (with_nl)
        rows[n++] = (struct row){.kind = ROW_NODE_LIGHTNING,
                                 .label = "node-lightning framing (Node.js)"};
    return n;
}

static void print_table(struct row *rows, size_t nrows, const struct bench *b, int rounds)
{
    size_t count = ph_replay_input_count(b->in);
    printf("Write path: %zu mainnet gossip messages (%.0f bytes on average), median of %d "
           "interleaved rounds; x naive = naive ns / row ns (above 1: faster). Cipher: %s.\n\n",
           count, (double)ph_replay_input_bytes(b->in) / (double)count, rounds,
           ph_chachapoly_impl_name(ph_chachapoly_best()));
    printf("| path | ns/msg | msgs/s | x naive |\n|---|---:|---:|---:|\n");
    double naive = median(rows[0].ns, rows[0].n);
    for (size_t i = 0; i < nrows; i++) {
        double m = median(rows[i].ns, rows[i].n);
        if (m <= 0) {
            printf("| %s | failed | | |\n", rows[i].label);
            continue;
        }
        printf("| %s | %.0f | %.2f M | %.2f |\n", rows[i].label, m, 1e3 / m,
               naive > 0 ? naive / m : 0);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    struct bench b = {.path = "captures/mainnet-gossip.lnmsgs"};
    const char *only = NULL;
    int rounds = DEFAULT_ROUNDS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--nl") == 0 && i + 1 < argc)
            b.nl_script = argv[++i];
        else
            b.path = argv[i];
    }
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_writepath: --rounds is 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    ph_replay_input *in;
    if (ph_noise_global_init() || ph_replay_input_create(&in) ||
        ph_replay_input_load_lnmsgs(in, b.path, 0, NULL)) {
        fprintf(stderr, "bench_writepath: cannot load %s\n", b.path);
        return 2;
    }
    b.in = in;
    b.buf = malloc(PH_NOISE_MAX_MSG);
    if (!b.buf)
        return 2;
    struct row rows[MAX_ROWS];
    size_t nrows = add_rows(rows, only, b.nl_script != NULL);
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < nrows; i++) {
            double ns = run_row(&b, &rows[i]);
            if (ns > 0)
                rows[i].ns[rows[i].n++] = ns;
        }
    print_table(rows, nrows, &b, rounds);
    int status = 0;
    for (size_t i = 0; i < nrows; i++)
        if (!rows[i].n && rows[i].kind != ROW_NODE_LIGHTNING)
            status = 1;
    free(b.buf);
    ph_replay_input_destroy(in);
    return status;
}
