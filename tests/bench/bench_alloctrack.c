/* make bench: what the allocation tracker costs per allocation.
 *
 * A malloc+free pair of 64 B (tcache-served) and of 64 KiB (large), timed
 * without tracking, with the tracker started, and with it started while a
 * million other tracked blocks are live (a map far bigger than the caches).
 * With hooks installed jemalloc takes its slow paths on every thread, so
 * the difference is that plus the hooks' own work (a map insert and a
 * delete, the counters).
 *
 * Rounds are interleaved so that machine noise spreads over every
 * configuration; medians are printed. Figures are printed, never checked. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "alloctrack.h"

#define ROUNDS 7
#define BACKGROUND 1000000

enum mode { PLAIN, TRACKED, TRACKED_FULL, MODES };

static const char *const mode_names[MODES] = {
    "no tracking", "tracked", "tracked, 1M live blocks",
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static double pairs_ns(size_t size, size_t pairs)
{
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < pairs; i++) {
        void *p = malloc(size);
        escape(p);
        free(p);
    }
    return (double)(now_ns() - t0) / (double)pairs;
}

/* One timed round in `mode`; negative when the tracker is unavailable. */
static double round_ns(enum mode mode, size_t size, size_t pairs, void **background)
{
    if (mode == PLAIN)
        return pairs_ns(size, pairs);
    ph_alloctrack *t = NULL;
    if (ph_alloctrack_create(&t, NULL) || ph_alloctrack_start(t)) {
        ph_alloctrack_destroy(t);
        return -1;
    }
    if (mode == TRACKED_FULL)
        for (size_t i = 0; i < BACKGROUND; i++) {
            background[i] = malloc(16);
            escape(background[i]);
        }
    double ns = pairs_ns(size, pairs);
    if (mode == TRACKED_FULL)
        for (size_t i = 0; i < BACKGROUND; i++)
            free(background[i]);
    ph_alloctrack_destroy(t);
    return ns;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(void)
{
    static const struct {
        size_t size;
        size_t pairs;
    } cases[] = {{64, 2000000}, {64 * 1024, 500000}};
    void **background = malloc(BACKGROUND * sizeof *background);
    if (!background)
        return 1;

    printf("Hook cost: one malloc+free pair, ns, median of %d interleaved rounds (the "
           "allocation tracker's hooks: jemalloc's slow path and a map insert and delete).\n\n",
           ROUNDS);
    printf("| block | %s | %s | %s |\n|---|---:|---:|---:|\n", mode_names[PLAIN],
           mode_names[TRACKED], mode_names[TRACKED_FULL]);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double ns[MODES][ROUNDS];
        for (int r = 0; r < ROUNDS; r++)
            for (int m = 0; m < MODES; m++)
                ns[m][r] = round_ns((enum mode)m, cases[c].size, cases[c].pairs, background);
        if (ns[TRACKED][0] < 0) {
            fprintf(stderr, "bench_alloctrack: tracker unavailable (malloc is not jemalloc's)\n");
            free(background);
            return 1;
        }
        double plain = median(ns[PLAIN], ROUNDS);
        printf("| %zu B | %.1f |", cases[c].size, plain);
        for (int m = TRACKED; m < MODES; m++) {
            double v = median(ns[m], ROUNDS);
            printf(" %.1f (+%.1f) |", v, v - plain);
        }
        printf("\n");
    }
    printf("\n");
    free(background);
    return 0;
}
