/* The replay report as one self-contained HTML page: the side-by-side
 * table, live heap over time per strategy (and the chosen peers), memory
 * against peers for a sweep, held memory per peer as sorted bars, the
 * breakdown of bytes allocated by row and message type, and the GC
 * model's collections when it ran.
 *
 * Self-contained: inline CSS and SVG, no script, no font, no image, no
 * link to anything; a Content-Security-Policy forbids loading anything at
 * all. Laid out for a phone-width window (tables scroll sideways inside
 * their box, plots scale) and for print (no section split across pages
 * where it fits).
 *
 * Ownership: the report is borrowed. Errors: PH_ERR_IO (write failed),
 * PH_ERR_NOMEM. Writing the file atomically is the caller's: this writes
 * to the stream it is given. */
#ifndef PH_REPORTHTML_H
#define PH_REPORTHTML_H

#include <stdio.h>

#include "error.h"
#include "report.h"

PH_MUST_USE
ph_err ph_report_write_html(const ph_report *r, FILE *f);

#endif
