/* Replay: run the real node (node.h) on captured traffic once per
 * write-buffer strategy and measure each, allocation by allocation.
 *
 * For one strategy, in one process: one ph_node - the object `peerheap
 * peer` runs, with its defaults, caps, batch policy, timers, encoding and
 * strategy tick - accepts P connections from remote peers (remote.h: real
 * ph_peers too) over a transport:
 *   PH_SINK_SOCKET  loopback TCP connections (the live node's transport, kernel
 *                   buffers and all); the remotes run in a separate reader
 *                   process on a real-time loop;
 *   PH_SINK_MODEL   the in-memory model transport (modelconn.h) on a
 *                   virtual clock; the remotes run in this process, their
 *                   work marked uncounted. Every figure but times is
 *                   identical between runs.
 * Peer i replays session i mod S: the captured messages that session's
 * node under study sent, minus the link messages every node makes itself
 * (init, ping, pong, gossip_timestamp_filter). At PH_PACE_ASAP they are
 * the backlog each peer's gossip_timestamp_filter streams (the gossip
 * cursor's path: refilled 64 KiB at a time as the queue drains); at the
 * other paces they are relayed to the session's peers at their captured
 * times (the relay path). Nothing here depends on the strategy's name.
 *
 * Measurement (alloctrack.h): every allocation and free of the process is
 * seen as it happens and attributed to a row and a message type. Set-up
 * (node, handshakes, init) is measured apart; the replay phase runs from
 * the first captured message to the last write, then `linger` of idle
 * time (timers run: the pool expires buffers), and ends there. Write-path
 * counters (writes, write buffers) cover the whole session, the node's own
 * init and filter included, as `peerheap peer --stats-json` counts them.
 *
 * Ownership: inputs are borrowed for the call; `out` is filled and owned by
 * the caller (ph_strategy_result_clear). Errors: PH_ERR_STRATEGY_UNKNOWN,
 * PH_ERR_MEMSTAT (not running on jemalloc, or its hooks missing),
 * PH_ERR_NOMEM, PH_ERR_IO (sockets, fork, profile files), PH_ERR_ARG
 * (inconsistent options), PH_ERR_TIMEOUT (no progress), PH_ERR_PEER_PROTOCOL
 * (a remote failed or verification failed to run), PH_ERR_GC_UNAVAILABLE,
 * PH_ERR_PROF_UNAVAILABLE, PH_ERR_LIMIT (the GC model's heap limit);
 * `errbuf` gets one line. */
#ifndef PH_REPLAY_H
#define PH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gcmodel.h"
#include "replayin.h"
#include "report.h"
#include "wbuf.h"

typedef enum ph_sink_kind { PH_SINK_SOCKET, PH_SINK_MODEL } ph_sink_kind;
typedef enum ph_pace_kind {
    PH_PACE_ASAP,    /* write as fast as possible */
    PH_PACE_CAPTURE, /* keep the captured inter-message times */
    PH_PACE_SCALED,  /* captured times divided by pace_factor */
} ph_pace_kind;

typedef struct ph_replay_progress {
    const char *strategy;
    uint64_t messages_done, messages_total;
    uint64_t writes;
} ph_replay_progress;

typedef struct ph_replay_config {
    size_t peers;              /* 0 = one per session */
    ph_sink_kind sink;
    ph_pace_kind pace;
    double pace_factor;        /* PH_PACE_SCALED: 10 = ten times faster */
    uint64_t reader_rate;      /* bytes/s per reader, 0 = unlimited */
    size_t stalled;            /* the first `stalled` peers never read */
    bool verify;               /* compare every frame the remotes get with the capture */
    uint64_t queue_soft;       /* the node's soft cap per peer (0 = the peer's default) */
    uint64_t queue_hard;       /* the node's hard cap per peer (0 = the peer's default) */
    int encode;                /* ph_encode_policy (peer.h) */
    uint64_t linger_ns;        /* idle time after the last write (UINT64_MAX = default:
                                  60 s under the model transport, 0 with sockets) */
    ph_wbuf_config wbuf;
    size_t model_buffer;       /* model: bytes in flight per connection (0 = 256 KiB) */
    unsigned samples;          /* time-series points to aim for (0 = 400) */
    bool allow_unmeasured;     /* run even without jemalloc (sanitizer builds): figures are 0 */
    bool unmeasured;           /* do not install the allocation hooks (to time their cost) */
    /* Go's collector over the node's frees (gcmodel.h): GOGC gc_gogc
     * (PH_GC_OFF: never collects); needs the program's free() interposer
     * (PH_ERR_GC_UNAVAILABLE without) and the allocation hooks. A heap
     * above half the machine's memory fails the run with PH_ERR_LIMIT. */
    bool gc_model;
    int gc_gogc;
    const ph_free_interposer *free_interposer;
    /* jemalloc heap profiles of the measured run (heapprof.h), from the
     * node's creation (set-up and replay phase) to the end, into this
     * directory as STRATEGY.heap (the end) and STRATEGY.peak.heap; the
     * process must have been started with profiling
     * (PH_ERR_PROF_UNAVAILABLE). The model transport's remotes run in the
     * same process and are in the profile; the socket transport's are not.
     * NULL: none */
    const char *prof_dir;
    /* per-peer series for this many peers, the costliest (highest held +
     * queued bytes at a sample) first; 0: none */
    size_t timeline_peers;
    /* Called about twice a second from the measuring process (may be NULL). */
    void (*progress)(void *ctx, const ph_replay_progress *p);
    void *progress_ctx;
} ph_replay_config;

/* Measure `strategy` in the calling process and thread. */
PH_MUST_USE
ph_err ph_replay_run_strategy(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen);

/* The same in a fresh child process (fork), so that no heap state leaks from
 * one strategy into the next and the caller's own allocations are never
 * counted; the result comes back over a pipe. The child ends with _exit.
 * The result's `concurrent` is 1. */
PH_MUST_USE
ph_err ph_replay_run_isolated(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen);

/* Several strategies, each in its own child process as above, up to `jobs`
 * children at a time (1: one after another), started in the order given.
 * out[i], errs[i] and errtext[i] are names[i]'s result, error (PH_OK) and
 * error line. Each result's `concurrent` says how many strategies were
 * being measured at once, at most, while it ran (1: alone): its CPU and
 * wall times were taken sharing the machine with them; every other figure
 * is the same whatever `jobs` is. `done` (may be NULL) is called in the
 * calling process as each child ends, with how many have. Returns PH_OK,
 * or PH_ERR_IO / PH_ERR_NOMEM when children could not be run or watched
 * (the strategies not measured have that error in errs). */
#define PH_REPLAY_ERR_MAX 320
PH_MUST_USE
ph_err ph_replay_run_jobs(const ph_replay_input *in, const ph_replay_config *cfg,
                          const char *const *names, size_t n, unsigned jobs,
                          ph_strategy_result *out, ph_err *errs, char (*errtext)[PH_REPLAY_ERR_MAX],
                          void (*done)(void *ctx, size_t index, size_t finished), void *ctx);

#endif
