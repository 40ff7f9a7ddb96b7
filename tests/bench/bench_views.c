/* make bench: reading the fields the gossip store needs (type, timestamp,
 * short_channel_id, the signature's place) from the 28,809 mainnet
 * messages, three ways, in interleaved rounds:
 *   view    the generated typed view (ph_wire_view_parse): no allocation
 *   engine  ph_wire_decode (PH_WIRE_BORROW: one malloc) + the fields by name
 *   view + points, check: the same validation both ways (decode checks
 *           every point is on the curve; the views leave that to the
 *           signature checks)
 * Medians of ns per message over the rounds, and the engine's time over the
 * view's. A checksum of what was read is printed so that nothing is
 * optimised away.
 *
 *   bench_views FILE.lnmsgs [--rounds N]     exit 1 when a message fails */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lnmsgs.h"
#include "wire.h"
#include "wire_views.h"

#define MAX_ROUNDS 51

struct msg {
    const uint8_t *p;
    size_t len;
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int by_view(const struct msg *m, size_t n, uint64_t *sum)
{
    for (size_t i = 0; i < n; i++) {
        ph_wire_view v;
        if (ph_wire_view_parse(m[i].p, m[i].len, &v, NULL) != PH_OK)
            return 1;
        switch (v.type) {
        case PH_WIRE_CHANNEL_UPDATE:
            *sum += v.u.channel_update.timestamp ^ v.u.channel_update.short_channel_id;
            *sum += (uint64_t)(v.u.channel_update.signature - m[i].p);
            break;
        case PH_WIRE_NODE_ANNOUNCEMENT:
            *sum += v.u.node_announcement.timestamp + v.u.node_announcement.node_id[1];
            break;
        case PH_WIRE_CHANNEL_ANNOUNCEMENT:
            *sum += v.u.channel_announcement.short_channel_id;
            break;
        }
    }
    return 0;
}

/* The view plus the point checks decode makes (a like-for-like validation). */
static int by_view_points(const struct msg *m, size_t n, uint64_t *sum)
{
    for (size_t i = 0; i < n; i++) {
        ph_wire_view v;
        if (ph_wire_view_parse(m[i].p, m[i].len, &v, NULL) != PH_OK)
            return 1;
        bool ok = true;
        if (v.type == PH_WIRE_NODE_ANNOUNCEMENT) {
            ok = ph_wire_point_valid(v.u.node_announcement.node_id);
        } else if (v.type == PH_WIRE_CHANNEL_ANNOUNCEMENT) {
            const ph_wire_channel_announcement *a = &v.u.channel_announcement;
            ok = ph_wire_point_valid(a->node_id_1) && ph_wire_point_valid(a->node_id_2) &&
                 ph_wire_point_valid(a->bitcoin_key_1) && ph_wire_point_valid(a->bitcoin_key_2);
        }
        if (!ok)
            return 1;
        *sum += m[i].len;
    }
    return 0;
}

static int by_engine(const struct msg *m, size_t n, uint64_t *sum)
{
    for (size_t i = 0; i < n; i++) {
        ph_wire_msg *w = NULL;
        if (ph_wire_decode(m[i].p, m[i].len, PH_WIRE_BORROW, &w, NULL) != PH_OK)
            return 1;
        uint64_t ts = 0, scid = 0;
        const uint8_t *p = NULL;
        size_t pl = 0;
        ph_err e = PH_OK;
        switch (ph_wire_msg_type(w)) {
        case PH_WIRE_CHANNEL_UPDATE:
            e = ph_wire_get_u64(w, "timestamp", &ts);
            if (!e)
                e = ph_wire_get_scid(w, "short_channel_id", &scid);
            if (!e)
                e = ph_wire_get_bytes(w, "signature", &p, &pl);
            *sum += (ts ^ scid) + (uint64_t)(p - m[i].p);
            break;
        case PH_WIRE_NODE_ANNOUNCEMENT:
            e = ph_wire_get_u64(w, "timestamp", &ts);
            if (!e)
                e = ph_wire_get_bytes(w, "node_id", &p, &pl);
            *sum += ts + (e ? 0 : p[1]);
            break;
        case PH_WIRE_CHANNEL_ANNOUNCEMENT:
            e = ph_wire_get_scid(w, "short_channel_id", &scid);
            *sum += scid;
            break;
        }
        ph_wire_msg_free(w);
        if (e)
            return 1;
    }
    return 0;
}

static int by_check(const struct msg *m, size_t n, uint64_t *sum)
{
    for (size_t i = 0; i < n; i++) {
        if (ph_wire_decode(m[i].p, m[i].len, 0, NULL, NULL) != PH_OK)
            return 1;
        *sum += m[i].len;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_views FILE.lnmsgs [--rounds N]\n");
        return 1;
    }
    int rounds = 7;
    if (argc >= 4 && !strcmp(argv[2], "--rounds"))
        rounds = atoi(argv[3]);
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 7;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static uint8_t buf[16 << 20];
    size_t flen = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct msg *m = malloc(40000 * sizeof *m);
    size_t n = 0, off = 0;
    const uint8_t *p;
    size_t len;
    while (m && n < 40000 && ph_lnmsgs_next(buf, flen, &off, &p, &len) == PH_OK && len)
        m[n++] = (struct msg){p, len};
    if (!m || !n) {
        fprintf(stderr, "%s: no messages\n", argv[1]);
        return 1;
    }
    enum { K = 4 };
    static const char *const names[K] = {"view (generated, no allocation)",
                                         "engine (decode + fields by name)",
                                         "view + the point checks decode makes",
                                         "engine, validation only (points included)"};
    int (*const fn[K])(const struct msg *, size_t, uint64_t *) = {by_view, by_engine,
                                                                  by_view_points, by_check};
    double t[K][MAX_ROUNDS];
    uint64_t sum[K] = {0};
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < K; k++) {
            double t0 = now_ns();
            if (fn[k](m, n, &sum[k])) {
                fprintf(stderr, "%s: a message failed\n", names[k]);
                return 1;
            }
            t[k][r] = (now_ns() - t0) / (double)n;
        }
    }
    if (sum[0] != sum[1]) {
        fprintf(stderr, "view and engine read different fields (%llu vs %llu)\n",
                (unsigned long long)sum[0], (unsigned long long)sum[1]);
        return 1;
    }
    double med[K];
    for (int k = 0; k < K; k++)
        med[k] = median(t[k], rounds);
    printf("%zu messages, %d interleaved rounds, median ns per message "
           "(checksum %llx):\n\n", n, rounds, (unsigned long long)sum[0]);
    printf("| reader | ns/msg | x the view |\n|---|---:|---:|\n");
    for (int k = 0; k < K; k++)
        printf("| %s | %.1f | %.1f |\n", names[k], med[k], med[k] / med[0]);
    printf("\n");
    free(m);
    return 0;
}
