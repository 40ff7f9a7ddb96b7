/* Test support: whole ph_wire_msg messages (init, ping/pong, error/warning,
 * gossip queries) built with the codec engine's constructor and setters,
 * as fixtures for tests. The library itself writes its messages with the
 * generated encoders (wire_views.h); these stay as an independent way to
 * build the same bytes. Each result is an ordinary ph_wire_msg: encode it
 * with ph_wire_encode, release it with ph_wire_msg_free. On error *out is
 * left as it was and nothing is leaked. No global state.
 */
#ifndef PH_WIRE_BUILD_H
#define PH_WIRE_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "wire.h"

/* All return a new message (ph_wire_msg_free) or PH_ERR_ARG (out NULL, or
 * chains/scids NULL with a nonzero count) / NOMEM / FIELD / TOO_LONG.
 * chain hashes are 32 bytes in wire order. */
/* init: empty globalfeatures, `features` as given, networks TLV with the
 * chains when nchains > 0. */
PH_MUST_USE
ph_err ph_wire_init_new(ph_wire_msg **out, const uint8_t *features, size_t flen,
                        const uint8_t (*chains)[32], size_t nchains);
PH_MUST_USE
ph_err ph_wire_ping_new(ph_wire_msg **out, uint16_t num_pong_bytes, uint16_t byteslen);
PH_MUST_USE
ph_err ph_wire_pong_new(ph_wire_msg **out, uint16_t byteslen); /* zero bytes */
/* error / warning: channel_id NULL = all zero; text as data (no NUL). */
PH_MUST_USE
ph_err ph_wire_error_new(ph_wire_msg **out, const uint8_t *channel_id, const char *text);
PH_MUST_USE
ph_err ph_wire_warning_new(ph_wire_msg **out, const uint8_t *channel_id, const char *text);
PH_MUST_USE
ph_err ph_wire_gossip_timestamp_filter_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                           uint32_t first_timestamp,
                                           uint32_t timestamp_range);
/* query_option TLV added when query_option_flags != 0. */
PH_MUST_USE
ph_err ph_wire_query_channel_range_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                       uint32_t first_blocknum, uint32_t number_of_blocks,
                                       uint64_t query_option_flags);
/* scids encoded with encoding type 0, in the order given (the spec wants
 * them ascending; not checked). */
PH_MUST_USE
ph_err ph_wire_reply_channel_range_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                       uint32_t first_blocknum, uint32_t number_of_blocks,
                                       uint8_t sync_complete, const uint64_t *scids,
                                       size_t nscids);
PH_MUST_USE
ph_err ph_wire_query_short_channel_ids_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                           const uint64_t *scids, size_t nscids);
PH_MUST_USE
ph_err ph_wire_reply_short_channel_ids_end_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                               uint8_t full_information);

#endif
