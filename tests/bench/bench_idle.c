/* make bench: memory per connected idle peer. Two nodes (lib/node, what
 * `peerheap peer` runs) on one event loop, connected over real loopback
 * TCP: one connection first, then N more (handshake and init done, no
 * gossip asked for, no traffic), until every peer has been trimmed on its
 * node's one-second tick. Heap growth per peer (two per connection) from
 * jemalloc's stats.allocated, read after flushing the thread's cache (so
 * that cached blocks do not count), and from the thread's own counters
 * (thread.allocated - thread.deallocated), which agree:
 *   marginal  the N connections added (shared strategy state already there)
 *   whole     everything since the nodes were created, over N + 1
 * Memory is not timing: one round is the figure.
 *
 *   bench_idle [N...]   (default 100 1000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hex.h"
#include "memstat.h"
#include "node.h"
#include "noise.h"

#define MAX_COUNTS 4
#define DEADLINE_S 120

struct figures {
    double marginal, whole, tmarginal, twhole;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t count_open(ph_node *n)
{
    size_t k = 0;
    for (size_t i = 0; i < ph_node_peer_count(n); i++)
        k += ph_peer_get_state(ph_node_peer_at(n, i)) == PH_PEER_OPEN;
    return k;
}

/* Trimmed: the queue's ring and in-flight slots released (see peer.h). */
static bool trimmed(ph_node *n)
{
    for (size_t i = 0; i < ph_node_peer_count(n); i++) {
        ph_peer *p = ph_node_peer_at(n, i);
        ph_peer_stats st;
        ph_peer_get_stats(p, &st);
        if (ph_peer_heap_bytes(p) - st.out.wbuf_held >= 1500)
            return false;
    }
    return true;
}

static int pump_until(ph_ev *ev, ph_node *a, ph_node *b, size_t open, bool trim)
{
    double deadline = mono_s() + DEADLINE_S;
    while (count_open(a) != open || count_open(b) != open || (trim && !(trimmed(a) && trimmed(b)))) {
        if (mono_s() > deadline || ph_ev_run_once(ev, 5) != PH_OK)
            return -1;
    }
    return 0;
}

static int node_open(ph_node **n, ph_ev *ev, uint8_t seed, const char *strategy, char *bound)
{
    ph_node_config c;
    memset(&c, 0, sizeof c);
    memset(c.priv, seed, 32);
    c.strategy = strategy;
    ph_peer_config_default(&c.peer);
    c.peer.filter = PH_PEER_FILTER_NONE;
    c.max_peers = 4096;
    if (ph_node_create(n, ev, &c, NULL, 0))
        return -1;
    return bound ? (ph_node_listen(*n, "127.0.0.1:0", bound, 64) ? -1 : 0) : 0;
}

static ph_err read_flushed(ph_memstat *ms, ph_memstat_global *g)
{
    uint64_t calls;
    ph_err err = ph_memstat_alloc_calls(ms, &calls);
    return err ? err : ph_memstat_global_read(ms, g);
}

static int measure(ph_memstat *ms, const char *strategy, size_t n, struct figures *f)
{
    ph_memstat_probe *pr = ph_memstat_probe_of(ms);
    ph_ev *ev = NULL;
    ph_node *a = NULL, *b = NULL;
    char bound[64], target[200], hex[67];
    uint8_t pub[33];
    int rc = -1;
    if (ph_ev_create(&ev) || node_open(&a, ev, 1, strategy, bound) ||
        node_open(&b, ev, 2, strategy, NULL))
        goto out;
    ph_node_id(a, pub);
    ph_hex_encode(pub, 33, hex);
    snprintf(target, sizeof target, "%s@%s", hex, bound);
    ph_memstat_global g0, g1, g2;
    if (read_flushed(ms, &g0))
        goto out;
    int64_t t0 = ph_memstat_live(pr);
    if (ph_node_connect(b, target) || pump_until(ev, a, b, 1, true))
        goto out;
    if (read_flushed(ms, &g1))
        goto out;
    int64_t t1 = ph_memstat_live(pr);
    for (size_t i = 0; i < n; i++)
        if (ph_node_connect(b, target))
            goto out;
    if (pump_until(ev, a, b, n + 1, true))
        goto out;
    if (read_flushed(ms, &g2))
        goto out;
    int64_t t2 = ph_memstat_live(pr);
    f->marginal = ((double)g2.allocated - (double)g1.allocated) / (double)(2 * n);
    f->whole = ((double)g2.allocated - (double)g0.allocated) / (double)(2 * (n + 1));
    f->tmarginal = (double)(t2 - t1) / (double)(2 * n);
    f->twhole = (double)(t2 - t0) / (double)(2 * (n + 1));
    rc = 0;
out:
    if (a)
        ph_node_shutdown(a);
    if (b)
        ph_node_shutdown(b);
    for (double end = mono_s() + 10; ev && mono_s() < end &&
                                     ((a && ph_node_peer_count(a)) || (b && ph_node_peer_count(b)));)
        if (ph_ev_run_once(ev, 5))
            break; /* a loop that cannot run cannot drain either: destroy now */
    ph_node_destroy(a);
    ph_node_destroy(b);
    ph_ev_destroy(ev);
    return rc;
}

int main(int argc, char **argv)
{
    size_t counts[MAX_COUNTS] = {100, 1000};
    int nc = 2;
    if (argc > 1) {
        nc = 0;
        for (int i = 1; i < argc && nc < MAX_COUNTS; i++)
            counts[nc++] = (size_t)strtoul(argv[i], NULL, 10);
    }
    size_t most = 0;
    for (int i = 0; i < nc; i++)
        most = counts[i] > most ? counts[i] : most;
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 2 * most + 64) {
        rl.rlim_cur = rl.rlim_max < 2 * most + 64 ? rl.rlim_max : 2 * most + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ph_memstat *ms = NULL;
    if (ph_noise_global_init() || ph_memstat_create(&ms)) {
        fprintf(stderr, "bench_idle: jemalloc statistics unavailable\n");
        return 1;
    }
    printf("Idle connected peers: bytes of heap per peer (two per connection, real loopback TCP, "
           "handshake and init done, no traffic, after the node's one-second trim), jemalloc "
           "stats.allocated with the thread cache flushed / thread.allocated - "
           "thread.deallocated. Goal: under 2,048 for exact and pool.\n\n");
    printf("| strategy |");
    for (int i = 0; i < nc; i++)
        printf(" marginal, %zu connections |", counts[i]);
    for (int i = 0; i < nc; i++)
        printf(" whole, %zu + 1 |", counts[i]);
    printf("\n|---|");
    for (int i = 0; i < 2 * nc; i++)
        printf("---:|");
    printf("\n");
    int status = 0;
    for (const char *const *s = ph_wbuf_names(); *s; s++) {
        struct figures f[MAX_COUNTS];
        for (int i = 0; i < nc; i++) {
            if (measure(ms, *s, counts[i], &f[i])) {
                fprintf(stderr, "bench_idle: %s with %zu connections failed\n", *s, counts[i]);
                status = 1;
                memset(&f[i], 0, sizeof f[i]);
            }
        }
        printf("| %s |", *s);
        for (int i = 0; i < nc; i++)
            printf(" %.0f / %.0f |", f[i].marginal, f[i].tmarginal);
        for (int i = 0; i < nc; i++)
            printf(" %.0f / %.0f |", f[i].whole, f[i].twhole);
        printf("\n");
    }
    printf("\n");
    ph_memstat_destroy(ms);
    return status;
}
