/* Two reports side by side: for each strategy both have, each figure in A
 * and in B (diff shows them, gate judges them).
 *
 * Figures come in three kinds:
 *  - gated: deterministic under the model transport (the same input and
 *    options give the same value on every run and machine with the same
 *    libraries), so a gate compares them exactly or within a tolerance:
 *    allocations and bytes allocated per write, peak and end live bytes,
 *    held per peer, the write-buffer strategy's own counters, the set-up
 *    phase's allocations and bytes (connections coming up), every row's
 *    allocations / bytes / end live, and each message type's allocations;
 *  - info: deterministic but not gated (writes, per-type writes and bytes);
 *  - drift: times, rates and jemalloc's active/resident pages, which move
 *    between runs and machines: shown, never judged.
 *
 * Ownership: ph_compare_reports returns a comparison owned by the caller
 * (ph_comparison_destroy); it copies what it needs, the reports may go.
 * Errors: PH_ERR_NOMEM. */
#ifndef PH_COMPARE_H
#define PH_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "report.h"

typedef enum ph_cmp_kind { PH_CMP_GATED, PH_CMP_INFO, PH_CMP_DRIFT } ph_cmp_kind;

/* How a value reads: counts and bytes are whole numbers, per-write figures
 * need decimals to show one allocation among a hundred thousand writes. */
typedef enum ph_cmp_unit {
    PH_CMP_COUNT, PH_CMP_BYTES, PH_CMP_PER_WRITE, PH_CMP_SECONDS, PH_CMP_RATE
} ph_cmp_unit;

/* Where a figure belongs (diff groups them). */
typedef enum ph_cmp_group { PH_CMP_SUMMARY, PH_CMP_ROW, PH_CMP_TYPE } ph_cmp_group;

typedef struct ph_cmp_line {
    char strategy[PH_REPORT_NAME_MAX];
    char metric[96];     /* "allocations_per_write", "by_row.queue.allocations",
                            "by_type.channel_update.allocations" */
    ph_cmp_kind kind;
    ph_cmp_unit unit;
    ph_cmp_group group;
    bool in_a, in_b;     /* a message type may be in one report only (its
                            value in the other is then 0) */
    double a, b;
} ph_cmp_line;

typedef struct ph_comparison {
    size_t n_lines;
    ph_cmp_line *lines;  /* by strategy (A's order), then summary, rows, types */
    size_t n_only_a, n_only_b;
    char (*only_a)[PH_REPORT_NAME_MAX];  /* strategies in one report only */
    char (*only_b)[PH_REPORT_NAME_MAX];
} ph_comparison;

PH_MUST_USE
ph_err ph_compare_reports(const ph_report *a, const ph_report *b, ph_comparison **out);
void ph_comparison_destroy(ph_comparison *c);

/* b - a, and (b - a) / a; the relative change of a figure that was 0 is
 * +infinity when it grew and 0 when it stayed. */
double ph_cmp_delta(const ph_cmp_line *l);
double ph_cmp_relative(const ph_cmp_line *l);

/* A value as the text output shows it: whole numbers exact (no units, so a
 * one-byte change shows), per-write figures to six decimals, seconds to
 * three, rates whole. */
void ph_cmp_format(const ph_cmp_line *l, double v, char *buf, size_t len);
/* "+64 (+0.0277%)", "-0.000009 (-0.0009%)", "0", "+3 (new)" */
void ph_cmp_format_delta(const ph_cmp_line *l, char *buf, size_t len);

#endif
