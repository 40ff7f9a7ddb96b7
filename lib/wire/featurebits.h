/* BOLT 9 feature bits: the table of known feature pairs (generated into
 * wire_table.c from the spec) and operations on feature vectors as they
 * appear in init and announcements. No allocation, no global state.
 */
#ifndef PH_FEATUREBITS_H
#define PH_FEATUREBITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The feature vector is big-endian: bit 0 is the least significant bit of
 * the LAST byte. */

typedef struct ph_feature_desc {
    uint16_t even_bit;        /* the pair is even_bit (required) / +1 (optional) */
    const char *name;         /* e.g. "gossip_queries" */
    const char *context;      /* "IN9", "" ... as in BOLT 9 */
    const char *dependencies; /* feature names, comma-separated, or "" */
} ph_feature_desc;

size_t ph_feature_count(void);
const ph_feature_desc *ph_feature_at(size_t i);
/* The pair containing `bit` (either parity), or NULL if unknown. */
const ph_feature_desc *ph_feature_find_bit(unsigned bit);
const ph_feature_desc *ph_feature_find_name(const char *name);

bool ph_feature_test(const uint8_t *fv, size_t len, unsigned bit);
/* PH_ERR_ARG if the bit does not fit in len bytes (len must be > bit / 8). */
PH_MUST_USE
ph_err ph_feature_set(uint8_t *fv, size_t len, unsigned bit);
PH_MUST_USE
ph_err ph_feature_clear(uint8_t *fv, size_t len, unsigned bit);
/* Bytes needed to hold `bit` (bit / 8 + 1). */
size_t ph_feature_len_for(unsigned bit);
/* True if either bit of the pair of `bit` is set (BOLT 9: both = required). */
bool ph_feature_offered(const uint8_t *fv, size_t len, unsigned bit);
/* Lowest even bit that is set and whose pair is not in the table (BOLT 1:
 * the peer must close); false if none. `known` optionally overrides the
 * table: a bit counts as known if set in known (NULL = use the table). */
bool ph_feature_unknown_even(const uint8_t *fv, size_t len, const uint8_t *known,
                             size_t known_len, unsigned *bit);
/* The lowest set bit of a known feature whose dependency (BOLT 9's table)
 * is not offered: *bit = that bit, *missing = the dependency's name. Every
 * set feature's own dependencies are checked, which covers the transitive
 * ones. False when every dependency is met. */
bool ph_feature_missing_dependency(const uint8_t *fv, size_t len, unsigned *bit,
                                   const char **missing);
/* out = a | b, right-aligned (BOLT 1 init: globalfeatures | features).
 * *out_len = max(alen, blen); PH_ERR_ARG if cap is smaller. */
PH_MUST_USE
ph_err ph_feature_or(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t *out, size_t cap, size_t *out_len);
/* Comma-separated names of the set bits ("gossip_queries?,var_onion_optin!"
 * with ! = even/required, ? = odd/optional, unknown bits as "bitN");
 * snprintf-style like ph_wire_summary. */
size_t ph_feature_describe(const uint8_t *fv, size_t len, char *buf, size_t cap);

#endif
