/* A small JSON reader (DOM) and writer.
 *
 * Used to read test vectors and, later, baselines and reports (gate, diff).
 * Numbers keep their source text so that 64-bit integers and exact decimals
 * survive (read them with ph_json_u64 / ph_json_i64 / ph_json_double).
 *
 * Ownership: ph_json_parse returns one tree owned by the caller, released
 * with ph_json_free (all nodes and strings come from it). Lookups return
 * borrowed pointers into the tree, or NULL when absent / of another kind. */
#ifndef PH_JSON_H
#define PH_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "error.h"

typedef enum ph_json_kind {
    PH_JSON_NULL, PH_JSON_BOOL, PH_JSON_NUMBER, PH_JSON_STRING, PH_JSON_ARRAY, PH_JSON_OBJECT
} ph_json_kind;

typedef struct ph_json ph_json;

/* Parse `len` bytes. On PH_ERR_JSON, *err_offset (if not NULL) is the byte
 * offset of the problem. Nesting deeper than 256 is an error. */
ph_err ph_json_parse(ph_json **out, const char *text, size_t len, size_t *err_offset);
/* Read and parse a whole file. PH_ERR_IO if unreadable. */
ph_err ph_json_parse_file(ph_json **out, const char *path, size_t *err_offset);
void ph_json_free(ph_json *root);

ph_json_kind ph_json_type(const ph_json *v);
/* Object member by key (first match), array element by index; NULL if absent. */
const ph_json *ph_json_get(const ph_json *obj, const char *key);
const ph_json *ph_json_at(const ph_json *arr, size_t i);
/* Number of array elements or object members; 0 for scalars. */
size_t ph_json_len(const ph_json *v);
/* i-th member of an object: its key (and value through *val). */
const char *ph_json_key_at(const ph_json *obj, size_t i, const ph_json **val);

/* Scalars. String: NUL-terminated UTF-8 (escapes decoded); *len may be NULL.
 * Each returns NULL/false when `v` is not of that kind or out of range. */
const char *ph_json_str(const ph_json *v, size_t *len);
bool ph_json_bool(const ph_json *v, bool *out);
bool ph_json_u64(const ph_json *v, uint64_t *out);   /* non-negative integers only */
bool ph_json_i64(const ph_json *v, int64_t *out);
bool ph_json_double(const ph_json *v, double *out);
bool ph_json_is_null(const ph_json *v);
/* Path lookup: "a.b.3.c" (numeric segments index arrays). */
const ph_json *ph_json_path(const ph_json *root, const char *path);

/* Decode a hex string (upper or lower case, even length) into a new buffer
 * owned by the caller (free()); an empty string gives a valid 1-byte
 * allocation and *out_len = 0. PH_ERR_PARSE on bad hex, PH_ERR_NOMEM. */
ph_err ph_hex_decode(const char *hex, size_t hex_len, uint8_t **out, size_t *out_len);
/* Decode into a fixed buffer: exactly `n` bytes required. */
ph_err ph_hex_decode_fixed(const char *hex, uint8_t *out, size_t n);
/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes, NUL-terminated). */
void ph_hex_encode(const uint8_t *in, size_t n, char *out);

/* Writer: streaming, with commas and escaping handled. Errors latch: check
 * ph_json_writer_error() once at the end. */
typedef struct ph_json_writer ph_json_writer;
ph_err ph_json_writer_create(ph_json_writer **out, FILE *f, bool pretty);
void ph_json_writer_destroy(ph_json_writer *w);
void ph_jw_object_begin(ph_json_writer *w);
void ph_jw_object_end(ph_json_writer *w);
void ph_jw_array_begin(ph_json_writer *w);
void ph_jw_array_end(ph_json_writer *w);
void ph_jw_key(ph_json_writer *w, const char *key);
void ph_jw_string(ph_json_writer *w, const char *s);
void ph_jw_u64(ph_json_writer *w, uint64_t v);
void ph_jw_i64(ph_json_writer *w, int64_t v);
void ph_jw_double(ph_json_writer *w, double v); /* non-finite values written as null */
void ph_jw_bool(ph_json_writer *w, bool v);
void ph_jw_null(ph_json_writer *w);
/* Ends a top-level value with a newline (for JSON Lines). */
void ph_jw_newline(ph_json_writer *w);
ph_err ph_json_writer_error(const ph_json_writer *w);

#endif
