/* make bench: what measuring costs. The same replay - the real node over
 * the model transport, 8 peers, the 28,809 mainnet messages - with the
 * allocation tracker's hooks installed (every allocation and free seen and
 * attributed: the measured run) and without (ph_replay_config.unmeasured,
 * used only here), in interleaved rounds (every strategy on, then off,
 * then the next strategy ...); medians of the replay phase's CPU seconds
 * and the overhead in percent, per strategy and over all of them. The
 * model transport's remote peers run in the same process, so their work
 * is in both figures alike.
 *
 * With any hook installed jemalloc takes its slow path on every call; the
 * tracker adds a map insert or delete. So the overhead is per allocation:
 * strategies that allocate per message (fresh, exact, tiered) pay it per
 * write, the others hardly at all.
 *
 *   bench_measure [FILE.lnmsgs] [--rounds N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"
#include "replayin.h"
#include "wbuf.h"

#define MAX_ROUNDS 31
#define MAX_STRATEGIES 8
#define PEERS 8

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
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
    const char *path = "captures/mainnet-gossip.lnmsgs";
    int rounds = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_measure: --rounds is 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    ph_replay_input *in;
    if (ph_replay_input_create(&in) || ph_replay_input_load_lnmsgs(in, path, 0, NULL)) {
        fprintf(stderr, "bench_measure: cannot load %s\n", path);
        return 1;
    }
    const char *const *names = ph_wbuf_names();
    int ns = 0;
    while (names[ns] && ns < MAX_STRATEGIES)
        ns++;
    static double on[MAX_STRATEGIES][MAX_ROUNDS], off[MAX_STRATEGIES][MAX_ROUNDS];
    static double ton[MAX_ROUNDS], toff[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        ton[r] = toff[r] = 0;
        for (int s = 0; s < ns; s++) {
            on[s][r] = run(in, names[s], true);
            off[s][r] = run(in, names[s], false);
            ton[r] += on[s][r];
            toff[r] += off[s][r];
        }
    }
    printf("Harness overhead: replay phase CPU with the allocation hooks on (measured) and off, "
           "%d peers, model transport, %zu messages, median of %d interleaved rounds. Goal: "
           "under 5%%.\n\n", PEERS, ph_replay_input_count(in), rounds);
    printf("| strategy | hooks on, s | hooks off, s | overhead |\n|---|---:|---:|---:|\n");
    for (int s = 0; s < ns; s++) {
        double a = median(on[s], rounds), b = median(off[s], rounds);
        printf("| %s | %.3f | %.3f | %.1f%% |\n", names[s], a, b, b > 0 ? 100 * (a - b) / b : 0);
    }
    double a = median(ton, rounds), b = median(toff, rounds);
    printf("| all six | %.3f | %.3f | %.1f%% |\n\n", a, b, b > 0 ? 100 * (a - b) / b : 0);
    ph_replay_input_destroy(in);
    return 0;
}
