/* BOLT 1/2/7 wire codec engine: table lookups, BigSize/TLV primitives,
 * decode and field access (see wire.h). Construction, setters and encoding
 * live in wire_msg.c; both share the message layout of wire_impl.h. */
#include "wire.h"

#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "wire_impl.h"

/* ------------------------------------------------------------------------
 * primitives
 * ------------------------------------------------------------------------ */

uint64_t ph_wire_be_get(const uint8_t *p, size_t width)
{
    return ph_be_uint(p, width);
}

int64_t ph_wire_be_get_signed(const uint8_t *p, size_t width)
{
    uint64_t v = ph_wire_be_get(p, width);
    if (width == 0 || width >= 8)
        return (int64_t)v;
    uint64_t sign = (uint64_t)1 << (width * 8 - 1);
    if (v & sign)
        v |= ~((sign << 1) - 1); /* sign-extend */
    return (int64_t)v;
}

void ph_wire_be_put(uint8_t *p, size_t width, uint64_t v)
{
    ph_put_be_uint(p, width, v);
}

ph_err ph_wire_bigsize_decode(const uint8_t *p, size_t len, uint64_t *v, size_t *used)
{
    if (len == 0)
        return PH_ERR_EOF;
    size_t w;
    uint64_t min;
    switch (p[0]) {
    case 0xfd: w = 2; min = 0xfd; break;
    case 0xfe: w = 4; min = 0x10000; break;
    case 0xff: w = 8; min = 0x100000000ull; break;
    default:
        *v = p[0];
        *used = 1;
        return PH_OK;
    }
    if (len < 1 + w)
        return PH_ERR_WIRE_SHORT;
    uint64_t x = ph_wire_be_get(p + 1, w);
    /* BOLT #1: All values decoded with BigSize should be checked to ensure they are
     * minimally encoded. */
    if (x < min)
        return PH_ERR_WIRE_NONCANONICAL;
    *v = x;
    *used = 1 + w;
    return PH_OK;
}

size_t ph_wire_bigsize_len(uint64_t v)
{
    if (v < 0xfd)
        return 1;
    if (v <= 0xffff)
        return 3;
    if (v <= 0xffffffffu)
        return 5;
    return 9;
}

size_t ph_wire_bigsize_encode(uint64_t v, uint8_t *out)
{
    size_t n = ph_wire_bigsize_len(v);
    if (n == 1) {
        out[0] = (uint8_t)v;
        return 1;
    }
    out[0] = n == 3 ? 0xfd : n == 5 ? 0xfe : 0xff;
    ph_wire_be_put(out + 1, n - 1, v);
    return n;
}

ph_err ph_wire_tu_decode(const uint8_t *p, size_t len, size_t max_bytes, uint64_t *v)
{
    if (len > max_bytes || len > 8)
        return PH_ERR_WIRE_FIELD;
    /* BOLT #1: Leading zeros in truncated integers MUST be omitted: */
    if (len > 0 && p[0] == 0)
        return PH_ERR_WIRE_NONCANONICAL;
    *v = ph_wire_be_get(p, len);
    return PH_OK;
}

size_t ph_wire_tu_encode(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    for (uint64_t x = v; x; x >>= 8)
        n++;
    ph_wire_be_put(out, n, v);
    return n;
}

char *ph_wire_scid_format(uint64_t scid, char *buf)
{
    snprintf(buf, PH_WIRE_SCID_STRLEN, "%ux%ux%u", (unsigned)ph_wire_scid_block(scid),
             (unsigned)ph_wire_scid_txindex(scid), (unsigned)ph_wire_scid_outnum(scid));
    return buf;
}

bool ph_wire_point_valid(const uint8_t *p)
{
    secp256k1_pubkey pk;
    if (p[0] != 2 && p[0] != 3)
        return false;
    return secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, p, 33) == 1;
}

ph_err ph_wire_encoded_split(const uint8_t *p, size_t len, ph_wire_encoded *out)
{
    if (len == 0)
        return PH_ERR_WIRE_SHORT;
    if (!p)
        return PH_ERR_ARG;
    out->encoding = p[0];
    out->data = p + 1;
    out->len = len - 1;
    return PH_OK;
}

ph_err ph_wire_short_ids_encode(const uint64_t *scids, size_t n, uint8_t *out, size_t cap,
                                size_t *written)
{
    if ((n && !scids) || !out || n > (SIZE_MAX - 1) / 8 || cap < ph_wire_short_ids_len(n))
        return PH_ERR_ARG;
    out[0] = PH_WIRE_ENCODING_UNCOMPRESSED;
    for (size_t i = 0; i < n; i++)
        ph_wire_be_put(out + 1 + 8 * i, 8, scids[i]);
    if (written)
        *written = ph_wire_short_ids_len(n);
    return PH_OK;
}

ph_err ph_wire_short_ids_decode(const uint8_t *enc, size_t len, uint64_t *out, size_t cap,
                                size_t *n)
{
    if (len == 0)
        return PH_ERR_WIRE_SHORT;
    if (enc[0] != 0 || (len - 1) % 8 != 0)
        return PH_ERR_WIRE_FIELD;
    size_t cnt = (len - 1) / 8;
    for (size_t i = 0; out && i < cnt && i < cap; i++)
        out[i] = ph_wire_be_get(enc + 1 + 8 * i, 8);
    *n = cnt;
    return PH_OK;
}

/* ------------------------------------------------------------------------
 * table lookups
 * ------------------------------------------------------------------------ */

size_t ph_wire_type_size(ph_wire_type t)
{
    static const uint8_t sizes[PH_WIRE_T__COUNT] = {
        [PH_WIRE_T_BYTE] = 1, [PH_WIRE_T_U16] = 2, [PH_WIRE_T_U32] = 4,
        [PH_WIRE_T_U64] = 8, [PH_WIRE_T_S8] = 1, [PH_WIRE_T_S16] = 2,
        [PH_WIRE_T_S32] = 4, [PH_WIRE_T_S64] = 8, [PH_WIRE_T_POINT] = 33,
        [PH_WIRE_T_SIGNATURE] = 64, [PH_WIRE_T_SHA256] = 32,
        [PH_WIRE_T_CHAIN_HASH] = 32, [PH_WIRE_T_CHANNEL_ID] = 32,
        [PH_WIRE_T_SCID] = 8, [PH_WIRE_T_SHA256_TRUNC4] = 4,
        [PH_WIRE_T_UPDATE_CHECKSUMS] = 8,
    };
    return (unsigned)t < PH_WIRE_T__COUNT ? sizes[t] : 0;
}

const ph_wire_msg_desc *ph_wire_msg_desc_find(uint16_t type)
{
    size_t lo = 0, hi = ph_wire_msg_desc_count();
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ph_wire_msg_desc *d = ph_wire_msg_desc_at(mid);
        if (d->type == type)
            return d;
        if (d->type < type)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const ph_wire_msg_desc *ph_wire_msg_desc_by_name(const char *name)
{
    for (size_t i = 0; name && i < ph_wire_msg_desc_count(); i++)
        if (strcmp(ph_wire_msg_desc_at(i)->name, name) == 0)
            return ph_wire_msg_desc_at(i);
    return NULL;
}

const ph_wire_tlv_stream_desc *ph_wire_tlv_stream_find(const char *name)
{
    for (size_t i = 0; name && i < ph_wire_tlv_stream_count(); i++)
        if (strcmp(ph_wire_tlv_stream_at(i)->name, name) == 0)
            return ph_wire_tlv_stream_at(i);
    return NULL;
}

const ph_wire_record_desc *ph_wire_record_find(const ph_wire_tlv_stream_desc *sd, uint64_t type)
{
    for (size_t i = 0; sd && i < sd->nrecords; i++)
        if (sd->records[i].type == type)
            return &sd->records[i];
    return NULL;
}

const char *ph_wire_type_name(uint16_t type)
{
    const ph_wire_msg_desc *d = ph_wire_msg_desc_find(type);
    return d ? d->name : NULL;
}

/* ------------------------------------------------------------------------
 * the engine: walk a field list over bytes
 * ------------------------------------------------------------------------ */

ph_err ph_wire_walk_fields(const ph_wire_field_desc *fd, size_t nf, const uint8_t *p,
                           size_t end, size_t *pos, struct span *spans, bool in_record, size_t *eo)
{
    const ph_err short_err = in_record ? PH_ERR_WIRE_TLV_LENGTH : PH_ERR_WIRE_SHORT;
    size_t at = *pos;
    for (size_t i = 0; i < nf; i++) {
        const ph_wire_field_desc *f = &fd[i];
        size_t start = at, count = 0;
        bool rest = f->count_kind == PH_WIRE_C_REST;
        switch (f->count_kind) {
        case PH_WIRE_C_ONE: count = 1; break;
        case PH_WIRE_C_FIXED: count = f->count; break;
        case PH_WIRE_C_BY_FIELD: {
            const struct span *c = &spans[f->count];
            count = (size_t)ph_wire_be_get(c->p, c->len);
            break;
        }
        case PH_WIRE_C_REST: break;
        }
        size_t esize = ph_wire_type_size(f->type);
        size_t tw = ph_wire_tu_width(f->type);
        if (esize) {
            size_t avail = end - at;
            if (rest) {
                if (avail % esize) {
                    *eo = end;
                    return PH_ERR_WIRE_TLV_LENGTH;
                }
                count = avail / esize;
            }
            if (count > avail / esize) {
                *eo = end;
                return short_err;
            }
            if (f->type == PH_WIRE_T_POINT) {
                for (size_t k = 0; k < count; k++) {
                    if (!ph_wire_point_valid(p + at + 33 * k)) {
                        *eo = at + 33 * k;
                        return PH_ERR_WIRE_FIELD;
                    }
                }
            }
            at += count * esize;
        } else if (tw) {
            /* BOLT #1: For the final value in TLV records, truncated integers may
             * be used. */
            uint64_t v;
            size_t n = end - at;
            ph_err e = ph_wire_tu_decode(p + at, n, tw, &v);
            if (e) {
                *eo = at;
                return e == PH_ERR_WIRE_FIELD ? PH_ERR_WIRE_TLV_LENGTH : e;
            }
            count = 1;
            at = end;
        } else {
            size_t k = 0;
            for (; rest ? at < end : k < count; k++) {
                if (f->type == PH_WIRE_T_BIGSIZE) {
                    uint64_t v;
                    size_t used;
                    ph_err e = ph_wire_bigsize_decode(p + at, end - at, &v, &used);
                    if (e) {
                        *eo = at;
                        return e == PH_ERR_WIRE_NONCANONICAL ? e : short_err;
                    }
                    at += used;
                } else { /* witness: u16 len || bytes */
                    if (end - at < 2) {
                        *eo = end;
                        return short_err;
                    }
                    size_t wl = (size_t)ph_wire_be_get(p + at, 2);
                    if (end - at - 2 < wl) {
                        *eo = end;
                        return short_err;
                    }
                    at += 2 + wl;
                }
            }
            count = k;
        }
        spans[i].p = p + start;
        spans[i].len = (uint32_t)(at - start);
        spans[i].count = (uint32_t)count;
    }
    *pos = at;
    return PH_OK;
}

ph_err ph_wire_record_validate(const ph_wire_record_desc *rd, const uint8_t *v, size_t len,
                               size_t *eo)
{
    struct span spans[MAX_FIELDS];
    size_t pos = 0;
    if (rd->nfields > MAX_FIELDS)
        return PH_ERR_ARG;
    ph_err e = ph_wire_walk_fields(rd->fields, rd->nfields, v, len, &pos, spans, true, eo);
    if (e)
        return e;
    if (pos != len) {
        *eo = pos;
        return PH_ERR_WIRE_TRAILING;
    }
    return PH_OK;
}

static ph_err tlv_walk(const ph_wire_tlv_stream_desc *sd, const uint8_t *p, size_t len,
                       ph_wire_tlv *recs, size_t cap, size_t *n, size_t *eo)
{
    size_t pos = 0, cnt = 0;
    uint64_t prev = 0;
    /* BOLT #1: if zero bytes remain before parsing a `type`:
     *   - MUST stop parsing the `tlv_stream`. */
    while (pos < len) {
        size_t rstart = pos, used;
        uint64_t type, l;
        /* BOLT #1: if a `type` or `length` is not minimally encoded:
         *   - MUST fail to parse the `tlv_stream`. */
        ph_err e = ph_wire_bigsize_decode(p + pos, len - pos, &type, &used);
        if (e) {
            *eo = pos;
            return e;
        }
        pos += used;
        e = ph_wire_bigsize_decode(p + pos, len - pos, &l, &used);
        if (e) {
            *eo = pos;
            return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
        }
        pos += used;
        /* BOLT #1: if decoded `type`s are not strictly-increasing (including situations
         * when two or more occurrences of the same `type` are met):
         *   - MUST fail to parse the `tlv_stream`. */
        if (cnt > 0 && type <= prev) {
            *eo = rstart;
            return PH_ERR_WIRE_TLV_ORDER;
        }
        /* BOLT #1: if `length` exceeds the number of bytes remaining in the message:
         *   - MUST fail to parse the `tlv_stream`. */
        if (l > len - pos) {
            *eo = len;
            return PH_ERR_WIRE_SHORT;
        }
        const ph_wire_record_desc *rd = ph_wire_record_find(sd, type);
        /* BOLT #1: otherwise, if `type` is unknown:
         *   - if `type` is even:
         *     - MUST fail to parse the `tlv_stream`.
         *   - otherwise, if `type` is odd:
         *     - MUST discard the next `length` bytes. */
        if (!rd && !(type & 1)) {
            *eo = rstart;
            return PH_ERR_WIRE_TLV_UNKNOWN_EVEN;
        }
        if (rd) {
            size_t sub = 0;
            /* BOLT #1: if `length` is not exactly equal to that required for the known
             * encoding for `type`:
             *   - MUST fail to parse the `tlv_stream`. */
            e = ph_wire_record_validate(rd, p + pos, (size_t)l, &sub);
            if (e) {
                *eo = pos + sub;
                return e;
            }
        }
        if (recs && cnt < cap) {
            recs[cnt].type = type;
            recs[cnt].value = p + pos;
            recs[cnt].len = (size_t)l;
            recs[cnt].desc = rd;
        }
        cnt++;
        pos += (size_t)l;
        prev = type;
    }
    *n = cnt;
    return PH_OK;
}

ph_err ph_wire_tlv_decode(const ph_wire_tlv_stream_desc *sd, const uint8_t *p, size_t len,
                          ph_wire_tlv *recs, size_t cap, size_t *n, size_t *err_offset)
{
    size_t eo = 0, cnt = 0;
    if ((!p && len) || !n)
        return PH_ERR_ARG;
    ph_err e = tlv_walk(sd, p, len, recs, cap, &cnt, &eo);
    if (e) {
        if (err_offset)
            *err_offset = eo;
        return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
    }
    *n = cnt;
    return PH_OK;
}

ph_err ph_wire_tlv_lookup(const uint8_t *stream, size_t len, uint64_t type,
                          const uint8_t **value, size_t *vlen)
{
    if ((!stream && len) || !value || !vlen)
        return PH_ERR_ARG;
    for (size_t pos = 0; pos < len;) {
        uint64_t t, l;
        size_t used;
        ph_err e = ph_wire_bigsize_decode(stream + pos, len - pos, &t, &used);
        if (e)
            return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
        pos += used;
        e = ph_wire_bigsize_decode(stream + pos, len - pos, &l, &used);
        if (e)
            return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
        pos += used;
        if (l > len - pos)
            return PH_ERR_WIRE_SHORT;
        if (t == type) {
            *value = stream + pos;
            *vlen = (size_t)l;
            return PH_OK;
        }
        if (t > type) /* types increase: it is not further on */
            break;
        pos += (size_t)l;
    }
    return PH_ERR_WIRE_ABSENT;
}

size_t ph_wire_tlv_encoded_len(const ph_wire_tlv *recs, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ph_wire_bigsize_len(recs[i].type) + ph_wire_bigsize_len(recs[i].len) + recs[i].len;
    return total;
}

ph_err ph_wire_tlv_encode(const ph_wire_tlv *recs, size_t n, uint8_t *out, size_t cap,
                          size_t *written)
{
    if (n && !recs)
        return PH_ERR_ARG;
    if (cap < ph_wire_tlv_encoded_len(recs, n) || (!out && cap))
        return PH_ERR_ARG;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        /* BOLT #1: MUST order `tlv_record`s in a `tlv_stream` by strictly-increasing
         * `type`, hence MUST not produce more than a single TLV record with the same
         * `type` */
        if (i > 0 && recs[i].type <= recs[i - 1].type)
            return PH_ERR_WIRE_TLV_ORDER;
        /* BOLT #1: MUST minimally encode `type` and `length`. */
        pos += ph_wire_bigsize_encode(recs[i].type, out + pos);
        pos += ph_wire_bigsize_encode(recs[i].len, out + pos);
        if (recs[i].len)
            memcpy(out + pos, recs[i].value, recs[i].len);
        pos += recs[i].len;
    }
    if (written)
        *written = pos;
    return PH_OK;
}

/* ------------------------------------------------------------------------
 * values
 * ------------------------------------------------------------------------ */

static ph_err int_value(const ph_wire_field_desc *f, const uint8_t *p, size_t len,
                        uint64_t *u, bool *neg)
{
    *neg = false;
    if (!f || f->count_kind != PH_WIRE_C_ONE || !ph_wire_is_integer(f->type))
        return PH_ERR_ARG;
    if (f->type == PH_WIRE_T_BIGSIZE) {
        size_t used;
        ph_err e = ph_wire_bigsize_decode(p, len, u, &used);
        return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
    }
    size_t tw = ph_wire_tu_width(f->type);
    if (tw)
        return ph_wire_tu_decode(p, len, tw, u);
    if (len != ph_wire_type_size(f->type))
        return PH_ERR_WIRE_SHORT;
    if (ph_wire_is_signed(f->type)) {
        int64_t s = ph_wire_be_get_signed(p, len);
        *neg = s < 0;
        *u = (uint64_t)s;
        return PH_OK;
    }
    *u = ph_wire_be_get(p, len);
    return PH_OK;
}

ph_err ph_wire_value_u64(const ph_wire_value *v, uint64_t *out)
{
    uint64_t u;
    bool neg;
    if (!v || !out)
        return PH_ERR_ARG;
    ph_err e = int_value(v->desc, v->p, v->len, &u, &neg);
    if (e)
        return e;
    if (neg)
        return PH_ERR_WIRE_FIELD;
    *out = u;
    return PH_OK;
}

ph_err ph_wire_value_i64(const ph_wire_value *v, int64_t *out)
{
    uint64_t u;
    bool neg;
    if (!v || !out)
        return PH_ERR_ARG;
    ph_err e = int_value(v->desc, v->p, v->len, &u, &neg);
    if (e)
        return e;
    if (!neg && u > (uint64_t)INT64_MAX)
        return PH_ERR_WIRE_FIELD;
    *out = (int64_t)u;
    return PH_OK;
}

/* ------------------------------------------------------------------------
 * messages: decode
 * ------------------------------------------------------------------------ */

size_t ph_wire_header_size(size_t nfields, size_t nrecs)
{
    return ALIGN8(sizeof(struct ph_wire_msg)) + ALIGN8(nfields * sizeof(struct span)) +
           nrecs * sizeof(ph_wire_tlv);
}

static ph_err decode_impl(const uint8_t *buf, size_t len, unsigned flags, ph_wire_msg **out,
                          size_t *eo)
{
    struct span sp[MAX_FIELDS];
    size_t pos = 2, nrec = 0;
    if (len < 2) {
        *eo = len;
        return PH_ERR_WIRE_SHORT;
    }
    /* BOLT #1: The size of the message is required by the transport layer to fit into a
     * 2-byte unsigned int; therefore, the maximum possible size is 65535 bytes. */
    if (len > PH_WIRE_MAX_MSG) {
        *eo = PH_WIRE_MAX_MSG;
        return PH_ERR_WIRE_TOO_LONG;
    }
    uint16_t type = (uint16_t)ph_wire_be_get(buf, 2);
    const ph_wire_msg_desc *d = ph_wire_msg_desc_find(type);
    if (d) {
        if (d->nfields > MAX_FIELDS)
            return PH_ERR_ARG;
        ph_err e = ph_wire_walk_fields(d->fields, d->nfields, buf, len, &pos, sp, false, eo);
        if (e)
            return e;
        if (d->tlvs) {
            size_t sub = 0;
            e = tlv_walk(d->tlvs, buf + pos, len - pos, NULL, 0, &nrec, &sub);
            if (e) {
                *eo = pos + sub;
                return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
            }
        }
    }
    if (!out)
        return PH_OK;

    bool borrow = flags & PH_WIRE_BORROW;
    size_t nf = d ? d->nfields : 0;
    size_t hsize = ph_wire_header_size(nf, nrec);
    size_t total = hsize + (borrow ? 0 : len);
    uint8_t *blk = malloc(total);
    if (!blk)
        return PH_ERR_NOMEM;
    ph_wire_msg *m = (ph_wire_msg *)blk;
    memset(m, 0, sizeof(*m));
    m->desc = d;
    m->type = type;
    m->heap = total;
    m->borrowed = borrow;
    m->fields = (struct span *)(blk + ALIGN8(sizeof(*m)));
    m->recs = nrec ? (ph_wire_tlv *)(blk + ALIGN8(sizeof(*m)) + ALIGN8(nf * sizeof(struct span)))
                   : NULL;
    m->nrecs = m->recs_cap = nrec;
    const uint8_t *base = buf;
    if (!borrow) {
        memcpy(blk + hsize, buf, len);
        base = blk + hsize;
    }
    for (size_t i = 0; i < nf; i++) {
        m->fields[i] = sp[i];
        m->fields[i].p = base + (sp[i].p - buf);
    }
    if (!d) {
        m->tail = base + 2;
        m->tail_len = len - 2;
    } else if (!d->tlvs) {
        m->tail = base + pos;
        m->tail_len = len - pos;
    } else if (nrec) {
        size_t n = 0, sub = 0;
        tlv_walk(d->tlvs, base + pos, len - pos, m->recs, nrec, &n, &sub);
    }
    *out = m;
    return PH_OK;
}

ph_err ph_wire_decode(const uint8_t *buf, size_t len, unsigned flags, ph_wire_msg **out,
                      size_t *err_offset)
{
    size_t eo = 0;
    if (out)
        *out = NULL;
    if (!buf && len)
        return PH_ERR_ARG;
    ph_err e = decode_impl(buf, len, flags, out, &eo);
    if (e && err_offset)
        *err_offset = eo;
    return e;
}

ph_err ph_wire_peek_type(const uint8_t *buf, size_t len, uint16_t *type)
{
    if (!buf || len < 2)
        return PH_ERR_WIRE_SHORT;
    *type = (uint16_t)ph_wire_be_get(buf, 2);
    return PH_OK;
}

void ph_wire_msg_free(ph_wire_msg *m)
{
    if (!m)
        return;
    if (m->fown) {
        for (size_t i = 0; i < m->desc->nfields; i++)
            free(m->fown[i].p);
        free(m->fown);
    }
    if (m->recs_owned) {
        for (size_t i = 0; i < m->nrecs; i++)
            free(m->rown[i].p);
        free(m->rown);
        free(m->recs);
    }
    free(m);
}

uint16_t ph_wire_msg_type(const ph_wire_msg *m)
{
    return m->type;
}

const char *ph_wire_msg_name(const ph_wire_msg *m)
{
    return m->desc ? m->desc->name : NULL;
}

const ph_wire_msg_desc *ph_wire_msg_layout(const ph_wire_msg *m)
{
    return m->desc;
}

bool ph_wire_msg_known(const ph_wire_msg *m)
{
    return m->desc != NULL;
}

size_t ph_wire_msg_heap_size(const ph_wire_msg *m)
{
    return m->heap;
}

ph_err ph_wire_msg_payload(const ph_wire_msg *m, const uint8_t **p, size_t *len)
{
    if (m->desc)
        return PH_ERR_STATE;
    *p = m->tail;
    *len = m->tail_len;
    return PH_OK;
}

ph_err ph_wire_msg_extension(const ph_wire_msg *m, const uint8_t **p, size_t *len)
{
    if (!m->desc || m->desc->tlvs)
        return PH_ERR_STATE;
    *p = m->tail;
    *len = m->tail_len;
    return PH_OK;
}

/* ------------------------------------------------------------------------
 * field access
 * ------------------------------------------------------------------------ */

const ph_wire_field_desc *ph_wire_field_named(const ph_wire_field_desc *fd, size_t nf,
                                              const char *name, size_t nlen, size_t *idx)
{
    for (size_t i = 0; i < nf; i++) {
        if (strncmp(fd[i].name, name, nlen) == 0 && fd[i].name[nlen] == '\0') {
            *idx = i;
            return &fd[i];
        }
    }
    return NULL;
}

ph_err ph_wire_tlv_field(const ph_wire_tlv *rec, const char *field, ph_wire_value *out)
{
    struct span spans[MAX_FIELDS];
    size_t idx, pos = 0, eo = 0;
    if (!rec || !field || !out || !rec->desc)
        return PH_ERR_ARG;
    const ph_wire_record_desc *rd = rec->desc;
    const ph_wire_field_desc *f = ph_wire_field_named(rd->fields, rd->nfields, field, strlen(field), &idx);
    if (!f || rd->nfields > MAX_FIELDS)
        return PH_ERR_ARG;
    ph_err e = ph_wire_walk_fields(rd->fields, rd->nfields, rec->value, rec->len, &pos, spans, true, &eo);
    if (e)
        return e;
    out->desc = f;
    out->p = spans[idx].p;
    out->len = spans[idx].len;
    out->count = spans[idx].count;
    return PH_OK;
}

const ph_wire_tlv *ph_wire_tlv_find(const ph_wire_msg *m, uint64_t type)
{
    for (size_t i = 0; i < m->nrecs; i++)
        if (m->recs[i].type == type)
            return &m->recs[i];
    return NULL;
}

size_t ph_wire_tlv_count(const ph_wire_msg *m)
{
    return m->nrecs;
}

const ph_wire_tlv *ph_wire_tlv_at(const ph_wire_msg *m, size_t i)
{
    return i < m->nrecs ? &m->recs[i] : NULL;
}

ph_err ph_wire_get(const ph_wire_msg *m, const char *name, ph_wire_value *out)
{
    size_t idx;
    if (!m || !name || !out || !m->desc)
        return PH_ERR_ARG;
    const ph_wire_msg_desc *d = m->desc;
    const ph_wire_field_desc *f = ph_wire_field_named(d->fields, d->nfields, name, strlen(name), &idx);
    if (f) {
        out->desc = f;
        out->p = m->fields[idx].p;
        out->len = m->fields[idx].len;
        out->count = m->fields[idx].count;
        return PH_OK;
    }
    if (!d->tlvs)
        return PH_ERR_ARG;
    const char *dot = strchr(name, '.');
    size_t rlen = dot ? (size_t)(dot - name) : strlen(name);
    const ph_wire_record_desc *rd = NULL;
    for (size_t i = 0; i < d->tlvs->nrecords && !rd; i++) {
        const ph_wire_record_desc *r = &d->tlvs->records[i];
        if (strncmp(r->name, name, rlen) == 0 && r->name[rlen] == '\0')
            rd = r;
    }
    if (!rd)
        return PH_ERR_ARG;
    if (dot && !ph_wire_field_named(rd->fields, rd->nfields, dot + 1, strlen(dot + 1), &idx))
        return PH_ERR_ARG;
    const ph_wire_tlv *rec = ph_wire_tlv_find(m, rd->type);
    if (!rec)
        return PH_ERR_WIRE_ABSENT;
    if (dot)
        return ph_wire_tlv_field(rec, dot + 1, out);
    out->desc = NULL;
    out->p = rec->value;
    out->len = rec->len;
    out->count = rec->len;
    return PH_OK;
}

ph_err ph_wire_get_u64(const ph_wire_msg *m, const char *name, uint64_t *v)
{
    ph_wire_value val;
    ph_err e = ph_wire_get(m, name, &val);
    return e ? e : ph_wire_value_u64(&val, v);
}

ph_err ph_wire_get_i64(const ph_wire_msg *m, const char *name, int64_t *v)
{
    ph_wire_value val;
    ph_err e = ph_wire_get(m, name, &val);
    return e ? e : ph_wire_value_i64(&val, v);
}

ph_err ph_wire_get_bytes(const ph_wire_msg *m, const char *name, const uint8_t **p, size_t *len)
{
    ph_wire_value val;
    if (!p || !len)
        return PH_ERR_ARG;
    ph_err e = ph_wire_get(m, name, &val);
    if (e)
        return e;
    *p = val.p;
    *len = val.len;
    return PH_OK;
}

ph_err ph_wire_get_scid(const ph_wire_msg *m, const char *name, uint64_t *scid)
{
    ph_wire_value val;
    if (!scid)
        return PH_ERR_ARG;
    ph_err e = ph_wire_get(m, name, &val);
    if (e)
        return e;
    if (!val.desc || val.desc->type != PH_WIRE_T_SCID || val.desc->count_kind != PH_WIRE_C_ONE)
        return PH_ERR_ARG;
    *scid = ph_wire_be_get(val.p, 8);
    return PH_OK;
}

