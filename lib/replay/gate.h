/* A regression gate: a report judged against a baseline report.
 *
 * Two steps. ph_gate_differences says whether the two can be compared at
 * all: the same input files (by SHA-256, in order) and the same replay
 * options and strategies, or the comparison would measure the change of
 * input instead of the change of code. ph_gate_judge then compares every
 * gated figure (compare.h): a figure above baseline x (1 + tolerance) is a
 * regression, below baseline x (1 - tolerance) an improvement (the baseline
 * could be tightened); everything else passes. Info and drift figures are
 * never judged.
 *
 * Ownership: ph_gate_judge returns a judgement owned by the caller
 * (ph_gate_destroy) that owns its comparison. Errors: PH_ERR_NOMEM,
 * PH_ERR_ARG (negative or non-finite tolerance). */
#ifndef PH_GATE_H
#define PH_GATE_H

#include <stddef.h>

#include "compare.h"
#include "error.h"
#include "report.h"

/* The differences that make `now` not comparable with `baseline`, joined
 * with "; " into `why` (e.g. "input 1: sha256 9879ae8b0539 in the baseline,
 * 1b2c3d4e5f60 now (captures/x.pcap)", "options.peers: 4 in the baseline, 8
 * now", "strategies: fresh,exact in the baseline, fresh now"). Returns how
 * many there are; 0 = comparable. */
size_t ph_gate_differences(const ph_report *baseline, const ph_report *now, char *why,
                           size_t why_len);

typedef enum ph_gate_result {
    PH_GATE_PASS,      /* within tolerance */
    PH_GATE_FAIL,      /* above baseline x (1 + tolerance) */
    PH_GATE_IMPROVED,  /* below baseline x (1 - tolerance): passes */
    PH_GATE_UNGATED,   /* an info or drift figure: shown, not judged */
} ph_gate_result;

typedef struct ph_gate {
    ph_comparison *cmp;       /* a = baseline, b = now */
    ph_gate_result *result;   /* one per cmp->lines entry */
    double tolerance_pct;
    size_t gated, failed, improved;
    size_t worst;             /* the line of the largest relative regression;
                                 SIZE_MAX when nothing failed */
    size_t best;              /* the largest relative improvement, or SIZE_MAX */
} ph_gate;

PH_MUST_USE
ph_err ph_gate_judge(const ph_report *baseline, const ph_report *now, double tolerance_pct,
                     ph_gate **out);
void ph_gate_destroy(ph_gate *g);

#endif
