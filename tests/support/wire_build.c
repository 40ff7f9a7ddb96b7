/* Builders for the messages the peer sends (see wire_build.h): thin
 * wrappers over ph_wire_msg_new and the setters, so every message they make
 * is one the engine would decode. */
#include "wire_build.h"

#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------------------
 * builders
 * ------------------------------------------------------------------------ */

static ph_err finish(ph_wire_msg *m, ph_err e, ph_wire_msg **out)
{
    if (e) {
        ph_wire_msg_free(m);
        return e;
    }
    *out = m;
    return PH_OK;
}

ph_err ph_wire_init_new(ph_wire_msg **out, const uint8_t *features, size_t flen,
                        const uint8_t (*chains)[32], size_t nchains)
{
    ph_wire_msg *m;
    if (!out || (nchains && !chains) || nchains > PH_WIRE_MAX_MSG / 32)
        return PH_ERR_ARG;
    ph_err e = ph_wire_msg_new(&m, PH_WIRE_INIT);
    if (e)
        return e;
    e = ph_wire_set_bytes(m, "features", features, flen);
    if (!e && nchains)
        e = ph_wire_tlv_put(m, 1, (const uint8_t *)chains, 32 * nchains);
    return finish(m, e, out);
}

/* For ping and pong:
 *
 * BOLT #1: SHOULD set `ignored` to 0s.
 *   - MUST NOT set `ignored` to sensitive data such as secrets or portions of
 *     initialized memory. */
static ph_err with_zeros(ph_wire_msg *m, const char *field, size_t n)
{
    uint8_t *z = calloc(1, n ? n : 1);
    if (!z)
        return PH_ERR_NOMEM;
    ph_err e = ph_wire_set_bytes(m, field, z, n);
    free(z);
    return e;
}

ph_err ph_wire_ping_new(ph_wire_msg **out, uint16_t num_pong_bytes, uint16_t byteslen)
{
    ph_wire_msg *m;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = ph_wire_msg_new(&m, PH_WIRE_PING);
    if (e)
        return e;
    e = ph_wire_set_u64(m, "num_pong_bytes", num_pong_bytes);
    if (!e)
        e = with_zeros(m, "ignored", byteslen);
    return finish(m, e, out);
}

ph_err ph_wire_pong_new(ph_wire_msg **out, uint16_t byteslen)
{
    ph_wire_msg *m;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = ph_wire_msg_new(&m, PH_WIRE_PONG);
    if (e)
        return e;
    return finish(m, with_zeros(m, "ignored", byteslen), out);
}

static ph_err text_msg(ph_wire_msg **out, uint16_t type, const uint8_t *channel_id,
                       const char *text)
{
    ph_wire_msg *m;
    if (!out || !text)
        return PH_ERR_ARG;
    ph_err e = ph_wire_msg_new(&m, type);
    if (e)
        return e;
    /* BOLT #1: MAY set `channel_id` to all zero if the warning is not related to a
     * specific channel. */
    if (channel_id)
        e = ph_wire_set_bytes(m, "channel_id", channel_id, 32);
    if (!e)
        e = ph_wire_set_bytes(m, "data", (const uint8_t *)text, strlen(text));
    return finish(m, e, out);
}

ph_err ph_wire_error_new(ph_wire_msg **out, const uint8_t *channel_id, const char *text)
{
    return text_msg(out, PH_WIRE_ERROR, channel_id, text);
}

ph_err ph_wire_warning_new(ph_wire_msg **out, const uint8_t *channel_id, const char *text)
{
    return text_msg(out, PH_WIRE_WARNING, channel_id, text);
}

static ph_err chain_msg(ph_wire_msg **m, uint16_t type, const uint8_t *chain_hash)
{
    if (!chain_hash)
        return PH_ERR_ARG;
    ph_err e = ph_wire_msg_new(m, type);
    if (e)
        return e;
    e = ph_wire_set_bytes(*m, "chain_hash", chain_hash, 32);
    if (e) {
        ph_wire_msg_free(*m);
        *m = NULL;
    }
    return e;
}

ph_err ph_wire_gossip_timestamp_filter_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                           uint32_t first_timestamp, uint32_t timestamp_range)
{
    ph_wire_msg *m;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = chain_msg(&m, PH_WIRE_GOSSIP_TIMESTAMP_FILTER, chain_hash);
    if (e)
        return e;
    e = ph_wire_set_u64(m, "first_timestamp", first_timestamp);
    if (!e)
        e = ph_wire_set_u64(m, "timestamp_range", timestamp_range);
    return finish(m, e, out);
}

ph_err ph_wire_query_channel_range_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                       uint32_t first_blocknum, uint32_t number_of_blocks,
                                       uint64_t query_option_flags)
{
    ph_wire_msg *m;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = chain_msg(&m, PH_WIRE_QUERY_CHANNEL_RANGE, chain_hash);
    if (e)
        return e;
    e = ph_wire_set_u64(m, "first_blocknum", first_blocknum);
    if (!e)
        e = ph_wire_set_u64(m, "number_of_blocks", number_of_blocks);
    if (!e && query_option_flags) {
        uint8_t tmp[9];
        e = ph_wire_tlv_put(m, 1, tmp, ph_wire_bigsize_encode(query_option_flags, tmp));
    }
    return finish(m, e, out);
}

/* encoding type 0 || scids, in a new buffer */
static ph_err encode_short_ids(const uint64_t *scids, size_t n, uint8_t **out, size_t *len)
{
    if (n && !scids)
        return PH_ERR_ARG;
    if (n > (PH_WIRE_MAX_MSG - 1) / 8)
        return PH_ERR_WIRE_TOO_LONG;
    size_t need = ph_wire_short_ids_len(n);
    uint8_t *b = malloc(need);
    if (!b)
        return PH_ERR_NOMEM;
    ph_err e = ph_wire_short_ids_encode(scids, n, b, need, len);
    if (e) {
        free(b);
        return e;
    }
    *out = b;
    return PH_OK;
}

ph_err ph_wire_reply_channel_range_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                       uint32_t first_blocknum, uint32_t number_of_blocks,
                                       uint8_t sync_complete, const uint64_t *scids,
                                       size_t nscids)
{
    ph_wire_msg *m;
    uint8_t *enc;
    size_t elen;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = encode_short_ids(scids, nscids, &enc, &elen);
    if (e)
        return e;
    e = chain_msg(&m, PH_WIRE_REPLY_CHANNEL_RANGE, chain_hash);
    if (e) {
        free(enc);
        return e;
    }
    e = ph_wire_set_u64(m, "first_blocknum", first_blocknum);
    if (!e)
        e = ph_wire_set_u64(m, "number_of_blocks", number_of_blocks);
    if (!e)
        e = ph_wire_set_u64(m, "sync_complete", sync_complete);
    if (!e)
        e = ph_wire_set_bytes(m, "encoded_short_ids", enc, elen);
    free(enc);
    return finish(m, e, out);
}

ph_err ph_wire_query_short_channel_ids_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                           const uint64_t *scids, size_t nscids)
{
    ph_wire_msg *m;
    uint8_t *enc;
    size_t elen;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = encode_short_ids(scids, nscids, &enc, &elen);
    if (e)
        return e;
    e = chain_msg(&m, PH_WIRE_QUERY_SHORT_CHANNEL_IDS, chain_hash);
    if (e) {
        free(enc);
        return e;
    }
    e = ph_wire_set_bytes(m, "encoded_short_ids", enc, elen);
    free(enc);
    return finish(m, e, out);
}

ph_err ph_wire_reply_short_channel_ids_end_new(ph_wire_msg **out, const uint8_t *chain_hash,
                                               uint8_t full_information)
{
    ph_wire_msg *m;
    if (!out)
        return PH_ERR_ARG;
    ph_err e = chain_msg(&m, PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END, chain_hash);
    if (e)
        return e;
    return finish(m, ph_wire_set_u64(m, "full_information", full_information), out);
}

