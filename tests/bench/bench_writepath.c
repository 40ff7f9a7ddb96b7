/* make bench: the cost of the write path per message, for every
 * write-buffer strategy, against the BOLT 8 crypto floor.
 *
 * Input: the 28,809 real mainnet gossip messages. The floor is copying a
 * message into a reused buffer and encrypting it (ph_noise_encrypt_detached):
 * no implementation can write a message for less. Each strategy runs the
 * real write path of lib/outq (queue, frame from the strategy, copy in,
 * encrypt in place, write) into a sink that takes every byte and discards
 * it, so the figure is the path's own cost without a kernel.
 *
 * Rounds are interleaved (floor, fresh, exact, ... , floor, fresh, ...) so
 * that machine noise spreads over all of them; medians are printed, with
 * the ratio to the floor measured in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noise.h"
#include "outq.h"
#include "replayin.h"
#include "wbuf.h"

#define ROUNDS 9
#define MAX_STRATEGIES 8

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static ph_noise *transport(void)
{
    uint8_t key[32], ck[32];
    memset(key, 0x42, sizeof key);
    memset(ck, 0x24, sizeof ck);
    ph_noise *n = NULL;
    if (ph_noise_create_from_keys(&n, key, ck, NULL, NULL))
        return NULL;
    return n;
}

static double floor_round(const ph_replay_input *in, uint8_t *buf)
{
    ph_noise *n = transport();
    if (!n)
        return -1;
    size_t count = ph_replay_input_count(in);
    uint8_t hdr[PH_NOISE_HDR_LEN], mac[PH_NOISE_MAC_LEN];
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++) {
        const ph_replay_msg *m = ph_replay_input_at(in, i);
        memcpy(buf, m->bytes, m->len);
        if (ph_noise_encrypt_detached(n, hdr, buf, m->len, mac))
            return -1;
    }
    uint64_t t = now_ns() - t0;
    ph_noise_destroy(n);
    return (double)t / (double)count;
}

static double strategy_round(const ph_replay_input *in, ph_outq_msg **msgs, const char *name)
{
    ph_noise *n = transport();
    ph_wbuf *w = NULL;
    ph_wbuf_peer *wp = NULL;
    ph_outq *q = NULL;
    uint64_t taken = 0;
    ph_outq_sink sink = {.fd = -1, .write = discard, .ctx = &taken};
    ph_outq_config oc = {.max_batch = strcmp(name, "ring") == 0 ? PH_OUTQ_MAX_BATCH : 1};
    double result = -1;
    if (!n || ph_wbuf_create(&w, name, NULL) || ph_wbuf_peer_attach(w, &wp) ||
        ph_outq_create(&q, n, wp, &sink, &oc))
        goto out;
    size_t count = ph_replay_input_count(in);
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++)
        if (ph_outq_push(q, msgs[i], 0) || ph_outq_flush(q, 0))
            goto out;
    result = (double)(now_ns() - t0) / (double)count;
out:
    ph_outq_destroy(q);
    ph_wbuf_peer_detach(wp);
    ph_wbuf_destroy(w);
    ph_noise_destroy(n);
    return result;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "captures/mainnet-gossip.lnmsgs";
    ph_replay_input *in;
    if (ph_noise_global_init() || ph_replay_input_create(&in) ||
        ph_replay_input_load_lnmsgs(in, path, 0, NULL)) {
        fprintf(stderr, "bench: cannot load %s\n", path);
        return 2;
    }
    size_t count = ph_replay_input_count(in);
    ph_outq_msg **msgs = calloc(count, sizeof *msgs);
    uint8_t *buf = malloc(PH_NOISE_MAX_MSG);
    if (!msgs || !buf)
        return 2;
    for (size_t i = 0; i < count; i++) {
        const ph_replay_msg *m = ph_replay_input_at(in, i);
        if (ph_outq_msg_copy(&msgs[i], m->bytes, m->len))
            return 2;
    }
    const char *const *names = ph_wbuf_names();
    size_t ns = 0;
    while (names[ns] && ns < MAX_STRATEGIES)
        ns++;
    double floor_ns[ROUNDS], strat_ns[MAX_STRATEGIES][ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        floor_ns[r] = floor_round(in, buf);
        for (size_t s = 0; s < ns; s++)
            strat_ns[s][r] = strategy_round(in, msgs, names[s]);
    }
    double f = median(floor_ns, ROUNDS);
    printf("write path per message, %zu mainnet gossip messages (%.0f bytes average), "
           "median of %d interleaved rounds\n\n",
           count, (double)ph_replay_input_bytes(in) / (double)count, ROUNDS);
    printf("%-28s %10s %14s\n", "", "ns/msg", "x crypto floor");
    printf("%-28s %10.0f %14s\n", "BOLT 8 encrypt (floor)", f, "1.00");
    int status = 0;
    for (size_t s = 0; s < ns; s++) {
        double m = median(strat_ns[s], ROUNDS);
        if (m < 0 || f <= 0) {
            fprintf(stderr, "bench: %s failed\n", names[s]);
            status = 1;
            continue;
        }
        char label[40];
        snprintf(label, sizeof label, "%s (full write path)", names[s]);
        printf("%-28s %10.0f %14.2f\n", label, m, m / f);
    }
    for (size_t i = 0; i < count; i++)
        ph_outq_msg_unref(msgs[i]);
    free(msgs);
    free(buf);
    ph_replay_input_destroy(in);
    return status;
}
