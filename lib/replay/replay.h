/* Replay: push captured messages through the full write path once per
 * write-buffer strategy and measure each with jemalloc.
 *
 * For one strategy: P simulated peers (peer i replays session i mod S) each
 * get a real BOLT 8 session (real handshake), their own outgoing queue and a
 * ph_wbuf_peer of the strategy: the write path of lib/outq, the same code
 * `peerheap peer` runs. Every message is decoded with the wire codec once,
 * queued to its peers (shared, not copied), and written when the peer can
 * take bytes: frame from the strategy, encode, encrypt, write.
 *
 * Sinks (where the frames go):
 *   PH_SINK_SOCKET  real socket pairs to a separate reader process
 *                   (lib/sinkreader) that decrypts and optionally verifies;
 *   PH_SINK_MODEL   an in-process model of the same readers in virtual time
 *                   (per-connection buffer, byte rate, stalled readers), so
 *                   every figure except times is identical between runs.
 *
 * Measurement covers the replay phase only; handshakes and set-up are
 * reported separately (setup_*). See report.h for the figures.
 *
 * Ownership: inputs are borrowed for the call; `out` is filled and owned by
 * the caller (ph_strategy_result_clear). Errors: PH_ERR_STRATEGY_UNKNOWN,
 * PH_ERR_MEMSTAT (not running on jemalloc), PH_ERR_NOMEM, PH_ERR_IO
 * (sockets, fork), PH_ERR_ARG (inconsistent options); `errbuf` gets a
 * one-line explanation. */
#ifndef PH_REPLAY_H
#define PH_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
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
    bool verify;               /* socket sink: compare every frame with the capture */
    uint64_t queue_soft;       /* per-peer queued bytes above which gossip is dropped (0 = none) */
    uint64_t queue_hard;       /* per-peer queued bytes above which the peer is cut (0 = none) */
    ph_wbuf_config wbuf;
    size_t model_buffer;       /* model: bytes in flight per connection (0 = 256 KiB) */
    unsigned samples;          /* time-series points to aim for (0 = 400) */
    bool allow_unmeasured;     /* run even without jemalloc (sanitizer builds): figures are 0 */
    /* Called about twice a second from the measuring process (may be NULL). */
    void (*progress)(void *ctx, const ph_replay_progress *p);
    void *progress_ctx;
} ph_replay_config;

/* Measure `strategy` in the calling process and thread. */
ph_err ph_replay_run_strategy(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen);

/* The same in a fresh child process (fork), so that no heap state leaks from
 * one strategy into the next and the caller's own allocations are never
 * counted; the result comes back over a pipe. The child ends with _exit. */
ph_err ph_replay_run_isolated(const ph_replay_input *in, const ph_replay_config *cfg,
                              const char *strategy, ph_strategy_result *out, char *errbuf,
                              size_t errlen);

#endif
