/* One-line human summaries of wire messages, as `peerheap dump` and
 * `peerheap decode` print them. Reads the message only (never allocates,
 * never fails: a field it cannot read is shown as zero/empty); the text is
 * for people, not a format to parse.
 */
#ifndef PH_WIRE_SUMMARY_H
#define PH_WIRE_SUMMARY_H

#include <stddef.h>

#include "wire.h"

/* ph_wire_summary: m NULL gives "" (returns 0).
 * "<name> <key fields>", e.g. "channel_update 869123x1042x0/1 ts=1763397000
 * fee=1000+1ppm", "unknown_type_32769 len=12". Untrusted text (error data,
 * aliases) is shown with non-printable bytes escaped. snprintf-style: writes
 * at most cap bytes (NUL included, when cap > 0) and returns the length the
 * full line needs (excluding the NUL). */
size_t ph_wire_summary(const ph_wire_msg *m, char *buf, size_t cap);

#endif
