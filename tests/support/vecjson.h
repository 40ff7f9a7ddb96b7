/* The BOLT test vectors' JSON reader (tests only; the library uses jansson,
 * whose integers stop at 2^63 - 1 while the vectors go to 2^64 - 1).
 *
 * Numbers keep their source text, so 64-bit integers and exact decimals
 * survive (ph_vjson_u64 / ph_vjson_i64 / ph_vjson_double).
 *
 * Ownership: ph_vjson_parse returns one tree owned by the caller, released
 * with ph_vjson_free. Lookups return borrowed pointers into the tree, or NULL
 * when absent or of another kind. Errors: PH_ERR_JSON (malformed, with the
 * byte offset), PH_ERR_IO (unreadable file), PH_ERR_NOMEM. */
#ifndef PH_VECJSON_H
#define PH_VECJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef enum ph_vjson_kind {
    PH_VJSON_NULL, PH_VJSON_BOOL, PH_VJSON_NUMBER, PH_VJSON_STRING, PH_VJSON_ARRAY, PH_VJSON_OBJECT
} ph_vjson_kind;

typedef struct ph_vjson ph_vjson;

/* Parse `len` bytes. On PH_ERR_JSON, *err_offset (if not NULL) is the byte
 * offset of the problem. Nesting deeper than 256 is an error. */
ph_err ph_vjson_parse(ph_vjson **out, const char *text, size_t len, size_t *err_offset);
/* Read and parse a whole file. PH_ERR_IO if unreadable. */
ph_err ph_vjson_parse_file(ph_vjson **out, const char *path, size_t *err_offset);
void ph_vjson_free(ph_vjson *root);

ph_vjson_kind ph_vjson_type(const ph_vjson *v);
/* Object member by key (first match), array element by index; NULL if absent. */
const ph_vjson *ph_vjson_get(const ph_vjson *obj, const char *key);
const ph_vjson *ph_vjson_at(const ph_vjson *arr, size_t i);
/* Number of array elements or object members; 0 for scalars. */
size_t ph_vjson_len(const ph_vjson *v);
/* i-th member of an object: its key (and value through *val). */
const char *ph_vjson_key_at(const ph_vjson *obj, size_t i, const ph_vjson **val);

/* Scalars. String: NUL-terminated UTF-8 (escapes decoded); *len may be NULL.
 * Each returns NULL/false when `v` is not of that kind or out of range. */
const char *ph_vjson_str(const ph_vjson *v, size_t *len);
bool ph_vjson_bool(const ph_vjson *v, bool *out);
bool ph_vjson_u64(const ph_vjson *v, uint64_t *out);   /* non-negative integers only */
bool ph_vjson_i64(const ph_vjson *v, int64_t *out);
bool ph_vjson_double(const ph_vjson *v, double *out);
bool ph_vjson_is_null(const ph_vjson *v);
/* Path lookup: "a.b.3.c" (numeric segments index arrays). */
const ph_vjson *ph_vjson_path(const ph_vjson *root, const char *path);

#endif
