/* JSON through jansson.
 *
 * The documents peerheap reads come from outside (other people's reports and
 * baselines), so they are parsed by a maintained library, jansson; these
 * helpers add what every reader and writer here needs on top of it: strict
 * unsigned reads, one-line error texts, latched building errors and dumping
 * with a fixed style. Objects keep their keys in insertion order, so what is
 * written comes out in the order it was built (stable diffs).
 *
 * Ownership: json_t values follow jansson's reference counting; ph_json_put
 * and ph_json_append steal the reference to `v` (as json_object_set_new).
 * Hex lives in hex.h. */
#ifndef PH_JSON_H
#define PH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "error.h"

/* Parses `len` bytes of text (duplicate keys refused). On PH_ERR_JSON,
 * `why` gets one line: "line L column C: jansson's text". PH_ERR_NOMEM. */
PH_MUST_USE
PH_NONNULL(3)
ph_err ph_json_parse(const char *text, size_t len, json_t **out, char *why, size_t why_len);
/* The same for a whole file; PH_ERR_IO (errno kept) when it cannot be read. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_json_load_file(const char *path, json_t **out, char *why, size_t why_len);

/* Reading. Each returns false, leaving *out alone, when `v` is absent or of
 * another kind: u64 takes non-negative integers only, double takes integers
 * and reals. */
bool ph_json_u64_value(const json_t *v, uint64_t *out);
bool ph_json_double_value(const json_t *v, double *out);
/* The string member `key` of `obj` copied into buf (ph_json_copy_text), ""
 * when absent or not a string. */
void ph_json_copy_str(const json_t *obj, const char *key, char *buf, size_t len);
/* Copies `src` into buf, truncated to fit at a UTF-8 character boundary,
 * so that valid UTF-8 stays valid (and writable by jansson) when cut. */
void ph_json_copy_text(char *buf, size_t len, const char *src);

/* Building. A failed allocation (a NULL `v` or a refused insertion) sets
 * *failed and is otherwise ignored, so a whole tree is built with one check
 * at the end. */
void ph_json_put(json_t *obj, const char *key, json_t *v, bool *failed);
void ph_json_append(json_t *arr, json_t *v, bool *failed);
/* Unsigned values above INT64_MAX (jansson's integers are signed) become
 * reals; byte and event counts never get there. */
json_t *ph_json_u64(uint64_t v);
/* Non-finite values become null. */
json_t *ph_json_real(double v);
/* A string from text that may not be UTF-8 (file names, problem texts):
 * each byte that does not fit becomes '?'. NULL only when out of memory. */
json_t *ph_json_text(const char *s);

/* Writes `v` followed by a newline: pretty (two-space indent) or compact
 * (one line, no spaces: JSON Lines). PH_ERR_IO when the stream fails. */
PH_MUST_USE
PH_NONNULL(2)
ph_err ph_json_dump(const json_t *v, FILE *f, bool pretty);

#endif
