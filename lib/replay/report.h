/* Replay reports: the figures measured for each write-buffer strategy, and
 * their renderings (side-by-side table, JSON, CSV time series, SVG plot).
 *
 * A report is plain data filled by the replay (lib/replay.h) and read back
 * from JSON by later tools (diff, gate), so the JSON form is the contract:
 * its schema is documented in README.md and every field written here is read
 * back by ph_report_read_json.
 *
 * Gate baselines (tool gate) are reports too, written pretty without the
 * time series; `peer --stats-json` writes a one-strategy report.
 *
 * Ownership: ph_report_create returns a report owned by the caller
 * (ph_report_destroy frees it with everything added to it). Strings passed
 * in are copied. Errors: PH_ERR_NOMEM, PH_ERR_IO (write failed), PH_ERR_JSON
 * (input is not JSON or not a peerheap report; the reading functions that
 * take `why` say where in one line). */
#ifndef PH_REPORT_H
#define PH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define PH_REPORT_NAME_MAX 32

/* Figures attributed to one message type. */
typedef struct ph_type_figures {
    char name[PH_REPORT_NAME_MAX];
    uint64_t writes;
    uint64_t allocations;
    uint64_t bytes_allocated;
} ph_type_figures;

/* What the allocations were for (memtag.h rows): write buffers, queue,
 * decode, session, other. Measured as they happened. */
#define PH_REPORT_ROWS 5
typedef struct ph_row_figures {
    uint64_t allocations;
    uint64_t bytes_allocated;
    uint64_t end_live_bytes;   /* what the row still holds at the end */
} ph_row_figures;

/* Row names in report order (JSON keys under "by_row"). */
const char *ph_report_row_name(unsigned row);

/* One point of the time series (CSV, SVG). */
typedef struct ph_sample {
    double t;                /* seconds since the replay phase began (virtual in the model sink) */
    uint64_t live_bytes;     /* thread allocated - deallocated since the start */
    uint64_t active_bytes;   /* stats.active (0 when not sampled) */
    uint64_t resident_bytes; /* stats.resident (0 when not sampled) */
    uint64_t queued_bytes;   /* bytes waiting in peer queues */
} ph_sample;

/* One collection of the GC model (replay --gc-model; gcmodel.h). */
typedef struct ph_gc_event {
    uint64_t index;          /* 1 = the phase's first collection */
    double t;                /* seconds since the replay phase began, loop clock */
    uint64_t goal;           /* the heap goal it was due at */
    uint64_t heap_before;    /* live + garbage when it ran */
    uint64_t heap_after;     /* live after it */
    uint64_t wbuf_bytes;     /* write-buffer garbage it released */
    bool forced;             /* the 2-minute collection */
} ph_gc_event;

/* One chosen peer at one sample point (aligned with `samples`). */
typedef struct ph_peer_point {
    uint64_t held_bytes;     /* heap the peer owns (ph_peer_heap_bytes) */
    uint64_t queued_bytes;   /* bytes waiting in its queue */
    uint64_t buffers;        /* write buffers it owns (ph_wbuf_peer_buffers) */
} ph_peer_point;

typedef struct ph_peer_series {
    uint64_t peer;           /* 0-based peer index (peer i replays session i mod S) */
    ph_peer_point *points;   /* n_samples of the result */
} ph_peer_series;

/* Every peer at the end of the run (after the linger). */
typedef struct ph_peer_end {
    uint64_t held_bytes;     /* heap the peer owns */
    uint64_t wbuf_bytes;     /* ... of it write buffers */
    uint64_t queued_bytes;
    uint64_t buffers;
} ph_peer_end;

typedef struct ph_strategy_result {
    char name[PH_REPORT_NAME_MAX];
    /* replay phase */
    uint64_t writes;
    uint64_t write_bytes;      /* ciphertext bytes handed to the sink */
    uint64_t allocations;
    uint64_t bytes_allocated;
    uint64_t bytes_freed;
    uint64_t peak_live_bytes;
    uint64_t end_live_bytes;
    uint64_t held_bytes_per_peer;
    uint64_t peak_active_bytes;
    uint64_t peak_resident_bytes;
    uint64_t peak_queued_bytes;
    uint64_t dropped;          /* relayed messages dropped at a peer's soft cap */
    uint64_t disconnected;     /* peers cut at the hard cap */
    uint64_t decode_errors;    /* captured messages the codec refused (sent as opaque bytes) */
    uint64_t partial_writes;   /* writes the transport took only part of */
    uint64_t would_block;      /* writes refused outright (EAGAIN) */
    uint64_t remote_allocations;      /* the model transport's remote peers (not counted above) */
    uint64_t remote_bytes_allocated;
    uint64_t remote_bytes_freed;
    /* jemalloc's own thread counters over the same phase: every byte the
     * tracker saw, counted and remote, by another mechanism (a check) */
    uint64_t jemalloc_bytes_allocated;
    uint64_t jemalloc_bytes_freed;
    double virtual_seconds;    /* the loop's clock over the replay phase (model transport) */
    uint64_t concurrent;       /* strategies measured at once, at most, while this one ran
                                  (1: alone): the CPU and wall times shared the machine */
    double cpu_seconds;
    double wall_seconds;
    double writes_per_second;
    double mib_per_second;
    /* handshakes and set-up, measured separately */
    uint64_t setup_allocations;
    uint64_t setup_bytes_allocated;
    uint64_t setup_live_bytes;
    /* the strategy's own counters (lib/wbuf.h), to cross-check jemalloc */
    uint64_t wbuf_buffers_allocated;
    uint64_t wbuf_bytes_requested;
    uint64_t wbuf_peak_held_bytes;
    /* write buffers (live + GC-model garbage) when the live heap peaked */
    uint64_t wbuf_at_peak_bytes;
    /* the GC model (all 0 without it; gc_collections etc. over the phase) */
    uint64_t gc_collections;
    uint64_t gc_forced;
    uint64_t gc_deferred_bytes;       /* freed by the node, kept as garbage */
    uint64_t gc_released_bytes;       /* given back by collections */
    uint64_t gc_end_garbage_bytes;    /* still garbage at the end */
    uint64_t gc_peak_garbage_bytes;
    uint64_t gc_live_after_last_bytes;
    uint64_t gc_goal_bytes;           /* the next goal at the end */
    /* --verify */
    bool verify;
    uint64_t verified;
    uint64_t mismatches;       /* frames different from the capture, or missing */
    uint64_t missing;          /* ... of which never arrived */
    char verify_problem[200];  /* the first bad frame, "" when none */

    ph_row_figures rows[PH_REPORT_ROWS];
    size_t n_types;
    ph_type_figures *types;
    size_t n_samples;
    ph_sample *samples;
    size_t n_gc_events;
    ph_gc_event *gc_events;           /* thinned evenly beyond 1,024 */
    size_t n_peer_series;
    ph_peer_series *peer_series;      /* --timeline-peers: the costliest first */
    size_t n_peers_end;
    ph_peer_end *peers_end;           /* every peer, by index */
} ph_strategy_result;

/* One strategy at one peer count of a sweep (replay --peers 1,10,100). */
typedef struct ph_sweep_point {
    uint64_t peers;
    char name[PH_REPORT_NAME_MAX];
    uint64_t peak_live_bytes;
    uint64_t end_live_bytes;
    uint64_t held_bytes_per_peer;
    uint64_t wbuf_at_peak_bytes;
    uint64_t writes;
    double writes_per_second;
    uint64_t gc_collections;
} ph_sweep_point;

/* The node under study in one replayed session: whose messages were
 * replayed, and why that side (lib/lninput chooses). */
typedef struct ph_report_side {
    uint64_t session;          /* the session's number in the input (as dump prints it) */
    char node[64];             /* the endpoint replayed, "" for .lnmsgs input */
    char peer[64];             /* the other end, "" for .lnmsgs input */
    char role[16];             /* "initiator", "responder", or "sender" (.lnmsgs) */
    char chosen_by[16];        /* "bytes" (sent more), "tie" (as many: the responder),
                                  "from" (options.from), "only" (.lnmsgs: one sender) */
    uint64_t node_bytes;       /* message bytes the node sent in the session */
    uint64_t session_bytes;    /* message bytes of both sides */
    uint64_t messages;         /* messages replayed (after options.types) */
} ph_report_side;

/* A file the input was read from (a capture, an .lnmsgs file, a key log)
 * and the SHA-256 of its content: what a baseline is a baseline of. */
typedef struct ph_report_file {
    char path[256];            /* as given (truncated beyond 255 bytes) */
    char sha256[65];           /* lowercase hex */
} ph_report_file;

typedef struct ph_report_input {
    size_t n_captures;
    char **captures;
    size_t n_files;            /* in the order they were read; 0 when unknown */
    ph_report_file *files;
    uint64_t sessions;
    uint64_t messages;
    uint64_t message_bytes;
    size_t n_sides;            /* one per replayed session, in replay order */
    ph_report_side *sides;
} ph_report_input;

typedef struct ph_report_options {
    uint64_t peers;
    char sink[16];           /* the transport: "socket" or "model" */
    char encode[16];         /* "stored" or "per-write" */
    double linger_seconds;   /* idle time after the last write, before "end" figures */
    char pace[32];           /* "asap", "capture", "x10" ... */
    uint64_t reader_rate;    /* bytes/s per reader, 0 = unlimited */
    uint64_t stalled;
    char from[64];           /* "" = every sender */
    uint64_t queue_soft;     /* 0 = no cap */
    uint64_t queue_hard;
    char *types;             /* message types replayed, as listed ("256,ping");
                                NULL = every type. Owned: ph_report_set_types */
    char gc_model[32];       /* "" = none, "go:100", "go:off" */
    uint64_t jobs;           /* strategies measured at once at most (0: not recorded) */
    char *filter;            /* the BPF filter applied to captures, NULL = none.
                                Owned: ph_report_set_filter */
    uint64_t pool_workers;   /* pool: most buffers out at once, 0 = its default */
    double pool_expiry_seconds; /* pool/tiered idle expiry, 0 = their default */
    uint64_t model_buffer;   /* model transport buffer per direction, 0 = default */
} ph_report_options;

typedef struct ph_report {
    char version[32];
    ph_report_input input;
    ph_report_options options;
    size_t n_strategies;
    ph_strategy_result *strategies;  /* a sweep: those of its last peer count */
    size_t n_sweep;
    ph_sweep_point *sweep;           /* by peer count, then strategy */
} ph_report;

PH_MUST_USE
PH_NONNULL(1)
ph_err ph_report_create(ph_report **out);
void ph_report_destroy(ph_report *r);
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_add_capture(ph_report *r, const char *path);
/* Appends a copy of one session's side. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_add_side(ph_report *r, const ph_report_side *side);
/* Sets options.types to a copy of `types` (NULL: every type). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_report_set_types(ph_report *r, const char *types);
/* Sets options.filter to a copy of `filter` (NULL: none). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_report_set_filter(ph_report *r, const char *filter);
/* Appends an input file and its digest (64 lowercase hex digits). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_add_file(ph_report *r, const char *path, const char *sha256_hex);
/* Appends a copy of `s` (its arrays are copied too). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_add_strategy(ph_report *r, const ph_strategy_result *s);
/* Copies `from` into an empty `to`, arrays included (deep copy). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_strategy_result_copy(ph_strategy_result *to, const ph_strategy_result *from);
/* Frees what a result owns (its arrays) and zeroes it. */
PH_NONNULL(1)
void ph_strategy_result_clear(ph_strategy_result *s);
/* A figure of `s` by where it is: the member at byte `offset` of
 * ph_strategy_result (offsetof(ph_strategy_result, member), nested members
 * such as rows[1].allocations included), a double when `is_double`, else a
 * uint64_t, returned as a double. The one reader of figures by offset: the
 * table here and the comparison (compare.h) list their figures as offsets.
 * `offset` must be that of a uint64_t or double member, as is_double says
 * (not checked). */
PH_NONNULL(1)
double ph_strategy_result_figure(const ph_strategy_result *s, size_t offset, bool is_double);
/* Appends a sweep point made from `s` at `peers`. */
PH_MUST_USE
PH_NONNULL(1, 3)
ph_err ph_report_add_sweep(ph_report *r, uint64_t peers, const ph_strategy_result *s);
/* Drops the strategies (a sweep keeps only its last peer count's). */
PH_NONNULL(1)
void ph_report_clear_strategies(ph_report *r);
/* Adds `n` to the figures of message type `name`, creating the entry. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_strategy_result_add_type(ph_strategy_result *s, const char *name, uint64_t writes,
                                   uint64_t allocations, uint64_t bytes_allocated);
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_strategy_result_add_sample(ph_strategy_result *s, const ph_sample *sample);
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_strategy_result_add_gc_event(ph_strategy_result *s, const ph_gc_event *e);
/* Adds a series for `peer` with n_samples zeroed points to fill in. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_strategy_result_add_peer_series(ph_strategy_result *s, uint64_t peer,
                                          ph_peer_series **out);
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_strategy_result_set_peers_end(ph_strategy_result *s, const ph_peer_end *p, size_t n);

/* The side-by-side table: one column per strategy, ratio to the first
 * strategy named "fresh" (or the first column), then a verdict line. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_print_table(const ph_report *r, FILE *f);
/* The table's rows for other renderings (HTML): the label of row k (NULL
 * past the last), and strategy i's cell with its ratio to the reference
 * column ("" when the row has none). */
const char *ph_report_table_row(size_t k);
PH_NONNULL(1, 4, 6)
void ph_report_table_cell(const ph_report *r, size_t k, size_t i, char *cell, size_t len,
                          char *ratio, size_t rlen);
/* One-line verdict, e.g. "reuse holds 64 KiB x 500 peers = 32 MiB idle; ...". */
PH_NONNULL(1, 2)
void ph_report_verdict(const ph_report *r, char *buf, size_t len);

/* The report as pretty JSON, keys in schema order (stable diffs), without
 * the time series (that is the CSV's). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_write_json(const ph_report *r, FILE *f);
/* Serialises one strategy result alone, samples included (child -> parent
 * transport). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_strategy_result_write_json(const ph_strategy_result *s, FILE *f);
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_strategy_result_read_json(ph_strategy_result *out, const char *text, size_t len);
/* Reads a report (replay --json, a gate baseline, peer --stats-json). Every
 * figure a gate compares must be present; the others default to 0. On
 * PH_ERR_JSON `why` (may be NULL) gets one line, e.g. "line 1 column 0:
 * '[' or '{' expected near end of file" or "strategies[2] (reuse):
 * peak_live_bytes: missing". */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_report_parse(ph_report **out, const char *text, size_t len, char *why, size_t why_len);
/* The same for a file; PH_ERR_IO (errno kept, `why` says why) when it cannot
 * be read. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_load(ph_report **out, const char *path, char *why, size_t why_len);
/* ph_report_parse without the reason. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_report_read_json(ph_report **out, const char *text, size_t len);

/* time,strategy,live_bytes,active_bytes,resident_bytes,queued_bytes; with
 * per-peer series, two more columns (peer, buffers) and one row per
 * chosen peer and sample (live_bytes = the peer's held bytes). */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_write_csv(const ph_report *r, FILE *f);
/* Live heap over time, one line per strategy, axes with units, legend;
 * a sweep: memory against peers instead. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_write_svg(const ph_report *r, FILE *f);

/* The two plots on their own; `responsive`: viewBox only, for inline use. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_write_timeline_svg(const ph_report *r, FILE *f, bool responsive);
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_write_sweep_svg(const ph_report *r, FILE *f, bool responsive);

/* The GC model's table (collections, peak heap, write buffers' share of
 * it, shares of bytes allocated by row and type); nothing without it. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_print_gc(const ph_report *r, FILE *f);
/* A sweep's table: per strategy, held per peer, peak live and writes/s
 * against the peer count; nothing without a sweep. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_report_print_sweep(const ph_report *r, FILE *f);
/* The n costliest message types per strategy and, for strategies that hold
 * memory per peer at the end, the n costliest peers. */
PH_MUST_USE
PH_NONNULL(1, 3)
ph_err ph_report_print_top(const ph_report *r, size_t n, FILE *f);

/* "64.0 KiB", "31.3 MiB": binary units with one decimal. */
PH_NONNULL(2)
void ph_format_bytes(uint64_t bytes, char *buf, size_t len);

#endif
