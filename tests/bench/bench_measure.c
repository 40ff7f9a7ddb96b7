/* make bench: what measuring costs. The same replay - the real node over
 * the model transport, 8 peers, the 28,809 mainnet messages - with the
 * allocation hooks installed (every allocation and free seen and
 * attributed) and without, in interleaved rounds; medians of the replay
 * phase's CPU seconds and the overhead in percent. The model transport's
 * remote peers run in the same process, so their decryption is in both
 * figures alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "replayin.h"

#define ROUNDS 5
#define PEERS 8

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

static double run(const ph_replay_input *in, const char *strategy, bool measured)
{
    ph_replay_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.peers = PEERS;
    cfg.sink = PH_SINK_MODEL;
    cfg.unmeasured = !measured;
    ph_strategy_result r;
    char err[256];
    if (ph_replay_run_isolated(in, &cfg, strategy, &r, err, sizeof err) != PH_OK) {
        fprintf(stderr, "bench_measure: %s: %s\n", strategy, err);
        exit(1);
    }
    double cpu = r.cpu_seconds;
    ph_strategy_result_clear(&r);
    return cpu;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "captures/mainnet-gossip.lnmsgs";
    ph_replay_input *in;
    if (ph_replay_input_create(&in) || ph_replay_input_load_lnmsgs(in, path, 0, NULL)) {
        fprintf(stderr, "bench_measure: cannot load %s\n", path);
        return 1;
    }
    const char *strategies[] = {"fresh", "exact", "reuse", "pool"};
    printf("measurement overhead: replay phase CPU, %d peers, model transport, %zu messages, "
           "median of %d interleaved rounds\n\n", PEERS, ph_replay_input_count(in), ROUNDS);
    printf("%-10s %14s %14s %10s\n", "strategy", "hooks on (s)", "hooks off (s)", "overhead");
    for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++) {
        double on[ROUNDS], off[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            on[r] = run(in, strategies[s], true);
            off[r] = run(in, strategies[s], false);
        }
        double a = median(on, ROUNDS), b = median(off, ROUNDS);
        printf("%-10s %14.3f %14.3f %9.1f%%\n", strategies[s], a, b, b > 0 ? 100 * (a - b) / b : 0);
    }
    ph_replay_input_destroy(in);
    return 0;
}
