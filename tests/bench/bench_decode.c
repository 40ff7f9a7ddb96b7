/* make bench: the decode side. `peerheap dump --json` of every bundled
 * capture against `tshark -r` of the same files, in interleaved rounds:
 * each round runs every file through both, one process per file, output
 * to /dev/null. tshark does no Lightning decryption (it has no dissector
 * for BOLT 8 frames and no key log): it only dissects the packets, TCP
 * included, while dump reassembles the TCP streams, finds and decrypts
 * every BOLT 8 session and decodes every message. Medians of wall time and
 * of CPU time (user + system of the child, from wait4) per round are
 * printed as a Markdown table with tshark's time over dump's.
 *
 *   bench_decode PEERHEAP CAPTURE... [--rounds N]
 * Exit 0; 1 when a command fails (its status is printed; the damaged
 * captures' own statuses, dump's 1 and tshark's 2, are expected); tshark
 * missing is said in the table, not an error (make deps installs it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 51
#define MAX_FILES 32

struct timing {
    double wall[MAX_ROUNDS], cpu[MAX_ROUNDS];
    int n;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run argv with stdout and stderr to /dev/null; wall and CPU seconds.
 * Returns the exit status (-1: could not run). */
static int run(char *const argv[], double *wall, double *cpu)
{
    double t0 = mono_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return -1;
    *wall = mono_s() - t0;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

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

static int have_tshark(void)
{
    char *argv[] = {"tshark", "--version", NULL};
    double w, c;
    return run(argv, &w, &c) == 0;
}

/* One round of one tool over every file; 0, or the failing status. */
static int round_of(int tool, const char *peerheap, char **files, int nfiles, double *wall,
                    double *cpu)
{
    *wall = *cpu = 0;
    for (int i = 0; i < nfiles; i++) {
        char *dump[] = {(char *)peerheap, "dump", files[i], "--json", NULL};
        char *tshark[] = {"tshark", "-r", files[i], NULL};
        double w = 0, c = 0;
        int st = run(tool ? tshark : dump, &w, &c);
        /* The damaged captures: dump exits 1 (problems reported, the rest
         * read), tshark 2 for the truncated one (read up to the cut). */
        if (st != 0 && !(tool == 0 && st == 1) && !(tool == 1 && st == 2)) {
            fprintf(stderr, "bench_decode: %s on %s: status %d\n", tool ? "tshark -r" : "dump",
                    files[i], st);
            return st ? st : 1;
        }
        *wall += w;
        *cpu += c;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_decode PEERHEAP CAPTURE... [--rounds N]\n");
        return 2;
    }
    const char *peerheap = argv[1];
    char *files[MAX_FILES];
    int nfiles = 0, rounds = 7;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (nfiles < MAX_FILES)
            files[nfiles++] = argv[i];
    }
    if (rounds < 1 || rounds > MAX_ROUNDS || !nfiles) {
        fprintf(stderr, "bench_decode: 1..%d rounds and at least one capture\n", MAX_ROUNDS);
        return 2;
    }
    int tools = have_tshark() ? 2 : 1;
    struct timing t[2];
    memset(t, 0, sizeof t);
    for (int r = 0; r < rounds; r++) {
        for (int tool = 0; tool < tools; tool++) {
            double w, c;
            if (round_of(tool, peerheap, files, nfiles, &w, &c))
                return 1;
            t[tool].wall[t[tool].n] = w;
            t[tool].cpu[t[tool].n++] = c;
        }
    }
    printf("Decode side: %d bundled captures (", nfiles);
    for (int i = 0; i < nfiles; i++)
        printf("%s%s", i ? ", " : "", strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i]);
    printf("), one process per file, median of %d interleaved rounds. tshark does no Lightning "
           "decryption: it dissects packets and TCP only; dump also reassembles the streams, "
           "decrypts every BOLT 8 frame and decodes every message.\n\n", rounds);
    printf("| command | wall s | CPU s | tshark / this (wall) | tshark / this (CPU) |\n"
           "|---|---:|---:|---:|---:|\n");
    double dw = median(t[0].wall, t[0].n), dc = median(t[0].cpu, t[0].n);
    if (tools < 2) {
        printf("| peerheap dump --json | %.3f | %.3f | | |\n", dw, dc);
        printf("| tshark -r | not installed (make deps) | | | |\n\n");
        return 0;
    }
    double tw = median(t[1].wall, t[1].n), tc = median(t[1].cpu, t[1].n);
    printf("| peerheap dump --json | %.3f | %.3f | %.1f | %.1f |\n", dw, dc, tw / dw, tc / dc);
    printf("| tshark -r | %.3f | %.3f | 1.0 | 1.0 |\n\n", tw, tc);
    return 0;
}
