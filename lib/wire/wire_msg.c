/* BOLT 1/2/7 wire codec: building messages from the table, setting fields
 * and TLV records, and encoding (see wire.h). Kept apart from decode
 * (wire.c), with which it shares the message layout of wire_impl.h. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "wire_impl.h"

/* ------------------------------------------------------------------------
 * construction
 * ------------------------------------------------------------------------ */

/* Encoded length of a field holding zero / nothing. */
static size_t zero_len(const ph_wire_field_desc *f)
{
    size_t one = ph_wire_type_size(f->type);
    if (!one)
        one = f->type == PH_WIRE_T_BIGSIZE ? 1 : f->type == PH_WIRE_T_WITNESS ? 2 : 0;
    switch (f->count_kind) {
    case PH_WIRE_C_ONE: return one;
    case PH_WIRE_C_FIXED: return one * f->count;
    default: return 0;
    }
}

ph_err ph_wire_msg_new(ph_wire_msg **out, uint16_t type)
{
    if (!out)
        return PH_ERR_ARG;
    *out = NULL;
    const ph_wire_msg_desc *d = ph_wire_msg_desc_find(type);
    if (!d)
        return PH_ERR_WIRE_UNKNOWN_TYPE;
    size_t scratch = 0;
    for (size_t i = 0; i < d->nfields; i++)
        scratch += zero_len(&d->fields[i]);
    size_t hsize = ph_wire_header_size(d->nfields, 0);
    uint8_t *blk = calloc(1, hsize + scratch);
    if (!blk)
        return PH_ERR_NOMEM;
    ph_wire_msg *m = (ph_wire_msg *)blk;
    m->desc = d;
    m->type = type;
    m->heap = hsize + scratch;
    m->fields = (struct span *)(blk + ALIGN8(sizeof(*m)));
    uint8_t *s = blk + hsize;
    for (size_t i = 0; i < d->nfields; i++) {
        const ph_wire_field_desc *f = &d->fields[i];
        m->fields[i].p = s;
        m->fields[i].len = (uint32_t)zero_len(f);
        m->fields[i].count = f->count_kind == PH_WIRE_C_ONE ? 1
                             : f->count_kind == PH_WIRE_C_FIXED ? f->count : 0;
        s += m->fields[i].len;
    }
    m->tail = s;
    *out = m;
    return PH_OK;
}

ph_err ph_wire_msg_new_opaque(ph_wire_msg **out, uint16_t type, const uint8_t *payload,
                              size_t len)
{
    if (!out || (!payload && len))
        return PH_ERR_ARG;
    *out = NULL;
    if (ph_wire_msg_desc_find(type))
        return PH_ERR_WIRE_UNKNOWN_TYPE;
    if (len > PH_WIRE_MAX_MSG - 2)
        return PH_ERR_WIRE_TOO_LONG;
    size_t hsize = ph_wire_header_size(0, 0);
    uint8_t *blk = calloc(1, hsize + len);
    if (!blk)
        return PH_ERR_NOMEM;
    ph_wire_msg *m = (ph_wire_msg *)blk;
    m->type = type;
    m->heap = hsize + len;
    if (len)
        memcpy(blk + hsize, payload, len);
    m->tail = blk + hsize;
    m->tail_len = len;
    *out = m;
    return PH_OK;
}

/* Store new encoded bytes for field i: in place when the size is unchanged
 * and the bytes are ours, else in a block of its own. */
static ph_err store_field(ph_wire_msg *m, size_t i, const uint8_t *p, size_t len, size_t count)
{
    struct span *s = &m->fields[i];
    bool own_block = m->fown && m->fown[i].p;
    if (len == s->len && (own_block || !m->borrowed)) {
        if (len)
            memmove((uint8_t *)s->p, p, len);
        s->count = (uint32_t)count;
        return PH_OK;
    }
    if (len > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    if (!m->fown) {
        m->fown = calloc(m->desc->nfields, sizeof(*m->fown));
        if (!m->fown)
            return PH_ERR_NOMEM;
        m->heap += m->desc->nfields * sizeof(*m->fown);
    }
    uint8_t *blk = malloc(len ? len : 1);
    if (!blk)
        return PH_ERR_NOMEM;
    if (len)
        memcpy(blk, p, len);
    m->heap -= m->fown[i].n;
    free(m->fown[i].p);
    m->fown[i].p = blk;
    m->fown[i].n = len ? len : 1;
    m->heap += m->fown[i].n;
    s->p = blk;
    s->len = (uint32_t)len;
    s->count = (uint32_t)count;
    return PH_OK;
}

static ph_err settable_field(ph_wire_msg *m, const char *name, size_t *idx,
                             const ph_wire_field_desc **f)
{
    if (!m || !name || !m->desc)
        return PH_ERR_ARG;
    *f = ph_wire_field_named(m->desc->fields, m->desc->nfields, name, strlen(name), idx);
    if (!*f || (*f)->is_count)
        return PH_ERR_ARG;
    return PH_OK;
}

/* Encode an integer of field type t; PH_ERR_WIRE_FIELD if it does not fit. */
static ph_err encode_int(ph_wire_type t, uint64_t v, bool neg, uint8_t *out, size_t *n)
{
    if (t == PH_WIRE_T_BIGSIZE || ph_wire_tu_width(t)) {
        if (neg)
            return PH_ERR_WIRE_FIELD;
        if (ph_wire_tu_width(t) && ph_wire_tu_width(t) < 8 && v >> (8 * ph_wire_tu_width(t)))
            return PH_ERR_WIRE_FIELD;
        *n = t == PH_WIRE_T_BIGSIZE ? ph_wire_bigsize_encode(v, out) : ph_wire_tu_encode(v, out);
        return PH_OK;
    }
    size_t w = ph_wire_type_size(t);
    if (ph_wire_is_signed(t)) {
        int64_t s = (int64_t)v;
        int64_t lim = (int64_t)(((uint64_t)1 << (8 * w - 1)) - 1);
        if ((!neg && v > (uint64_t)lim) || (neg && s < -lim - 1))
            return PH_ERR_WIRE_FIELD;
    } else if (neg || (w < 8 && v >> (8 * w))) {
        return PH_ERR_WIRE_FIELD;
    }
    ph_put_be_uint(out, w, v);
    *n = w;
    return PH_OK;
}

static ph_err set_int(ph_wire_msg *m, const char *name, uint64_t v, bool neg)
{
    size_t idx, n;
    uint8_t tmp[9];
    const ph_wire_field_desc *f;
    ph_err e = settable_field(m, name, &idx, &f);
    if (e)
        return e;
    if (f->count_kind != PH_WIRE_C_ONE || !ph_wire_is_integer(f->type))
        return PH_ERR_ARG;
    e = encode_int(f->type, v, neg, tmp, &n);
    return e ? e : store_field(m, idx, tmp, n, 1);
}

ph_err ph_wire_set_u64(ph_wire_msg *m, const char *name, uint64_t v)
{
    return set_int(m, name, v, false);
}

ph_err ph_wire_set_i64(ph_wire_msg *m, const char *name, int64_t v)
{
    return set_int(m, name, (uint64_t)v, v < 0);
}

ph_err ph_wire_set_scid(ph_wire_msg *m, const char *name, uint64_t scid)
{
    size_t idx;
    uint8_t tmp[8];
    const ph_wire_field_desc *f;
    ph_err e = settable_field(m, name, &idx, &f);
    if (e)
        return e;
    if (f->type != PH_WIRE_T_SCID || f->count_kind != PH_WIRE_C_ONE)
        return PH_ERR_ARG;
    ph_put_be_uint(tmp, 8, scid);
    return store_field(m, idx, tmp, 8, 1);
}

ph_err ph_wire_set_bytes(ph_wire_msg *m, const char *name, const uint8_t *p, size_t len)
{
    size_t idx, pos = 0, eo = 0;
    struct span sp;
    const ph_wire_field_desc *f;
    ph_err e = settable_field(m, name, &idx, &f);
    if (e)
        return e;
    if (!p && len)
        return PH_ERR_ARG;
    if (len > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    static const uint8_t none[1];
    const uint8_t *src = len ? p : none;
    /* an array's elements are counted as if it ran to the end of the input */
    ph_wire_field_desc one = *f;
    if (one.count_kind == PH_WIRE_C_BY_FIELD)
        one.count_kind = PH_WIRE_C_REST;
    e = ph_wire_walk_fields(&one, 1, src, len, &pos, &sp, true, &eo);
    if (e || pos != len)
        return PH_ERR_WIRE_FIELD;
    if (f->count_kind != PH_WIRE_C_BY_FIELD)
        return store_field(m, idx, src, len, sp.count);

    const ph_wire_field_desc *cf = &m->desc->fields[f->count];
    uint8_t tmp[9];
    size_t n;
    e = encode_int(cf->type, sp.count, false, tmp, &n);
    if (e)
        return e == PH_ERR_WIRE_FIELD ? PH_ERR_WIRE_TOO_LONG : e;
    e = store_field(m, idx, src, len, sp.count);
    return e ? e : store_field(m, f->count, tmp, n, 1);
}

static ph_err own_recs(ph_wire_msg *m, size_t need)
{
    if (m->recs_owned && need <= m->recs_cap)
        return PH_OK;
    size_t cap = need < 4 ? 4 : need * 2;
    ph_wire_tlv *r = calloc(cap, sizeof(*r));
    struct own *o = calloc(cap, sizeof(*o));
    if (!r || !o) {
        free(r);
        free(o);
        return PH_ERR_NOMEM;
    }
    if (m->nrecs)
        memcpy(r, m->recs, m->nrecs * sizeof(*r));
    if (m->recs_owned) {
        if (m->nrecs)
            memcpy(o, m->rown, m->nrecs * sizeof(*o));
        free(m->recs);
        free(m->rown);
        m->heap -= m->recs_cap * (sizeof(*r) + sizeof(*o));
    }
    m->recs = r;
    m->rown = o;
    m->recs_cap = cap;
    m->recs_owned = true;
    m->heap += cap * (sizeof(*r) + sizeof(*o));
    return PH_OK;
}

ph_err ph_wire_tlv_put(ph_wire_msg *m, uint64_t type, const uint8_t *value, size_t len)
{
    size_t eo;
    if (!m || (!value && len))
        return PH_ERR_ARG;
    if (!m->desc || !m->desc->tlvs)
        return PH_ERR_STATE;
    if (len > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    const ph_wire_record_desc *rd = ph_wire_record_find(m->desc->tlvs, type);
    if (!rd && !(type & 1))
        return PH_ERR_WIRE_TLV_UNKNOWN_EVEN;
    static const uint8_t none[1];
    const uint8_t *src = len ? value : none;
    if (rd) {
        ph_err e = ph_wire_record_validate(rd, src, len, &eo);
        if (e)
            return e;
    }
    ph_err e = own_recs(m, m->nrecs + 1);
    if (e)
        return e;
    uint8_t *blk = malloc(len ? len : 1);
    if (!blk)
        return PH_ERR_NOMEM;
    if (len)
        memcpy(blk, value, len);
    size_t i = 0;
    while (i < m->nrecs && m->recs[i].type < type)
        i++;
    if (i < m->nrecs && m->recs[i].type == type) {
        m->heap -= m->rown[i].n;
        free(m->rown[i].p);
    } else {
        memmove(&m->recs[i + 1], &m->recs[i], (m->nrecs - i) * sizeof(*m->recs));
        memmove(&m->rown[i + 1], &m->rown[i], (m->nrecs - i) * sizeof(*m->rown));
        m->nrecs++;
    }
    m->recs[i].type = type;
    m->recs[i].value = blk;
    m->recs[i].len = len;
    m->recs[i].desc = rd;
    m->rown[i].p = blk;
    m->rown[i].n = len ? len : 1;
    m->heap += m->rown[i].n;
    return PH_OK;
}

ph_err ph_wire_tlv_remove(ph_wire_msg *m, uint64_t type)
{
    if (!m)
        return PH_ERR_ARG;
    if (!m->desc || !m->desc->tlvs)
        return PH_ERR_STATE;
    if (!ph_wire_tlv_find(m, type))
        return PH_ERR_WIRE_ABSENT;
    ph_err e = own_recs(m, m->nrecs);
    if (e)
        return e;
    size_t i = 0;
    while (m->recs[i].type != type)
        i++;
    m->heap -= m->rown[i].n;
    free(m->rown[i].p);
    memmove(&m->recs[i], &m->recs[i + 1], (m->nrecs - i - 1) * sizeof(*m->recs));
    memmove(&m->rown[i], &m->rown[i + 1], (m->nrecs - i - 1) * sizeof(*m->rown));
    m->nrecs--;
    return PH_OK;
}

/* ------------------------------------------------------------------------
 * encoding
 * ------------------------------------------------------------------------ */

size_t ph_wire_encoded_len(const ph_wire_msg *m)
{
    size_t n = 2 + m->tail_len + ph_wire_tlv_encoded_len(m->recs, m->nrecs);
    for (size_t i = 0; m->desc && i < m->desc->nfields; i++)
        n += m->fields[i].len;
    return n;
}

ph_err ph_wire_encode(const ph_wire_msg *m, uint8_t *buf, size_t cap, size_t *written)
{
    if (!m)
        return PH_ERR_ARG;
    size_t n = ph_wire_encoded_len(m);
    if (n > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    if (!buf || cap < n)
        return PH_ERR_ARG;
    ph_put_be_uint(buf, 2, m->type);
    size_t pos = 2;
    for (size_t i = 0; m->desc && i < m->desc->nfields; i++) {
        if (m->fields[i].len)
            memcpy(buf + pos, m->fields[i].p, m->fields[i].len);
        pos += m->fields[i].len;
    }
    size_t w = 0;
    ph_err e = ph_wire_tlv_encode(m->recs, m->nrecs, buf + pos, cap - pos, &w);
    if (e)
        return e;
    pos += w;
    if (m->tail_len)
        memcpy(buf + pos, m->tail, m->tail_len);
    pos += m->tail_len;
    if (written)
        *written = pos;
    return PH_OK;
}

ph_err ph_wire_encode_alloc(const ph_wire_msg *m, uint8_t **out, size_t *len)
{
    if (!m || !out || !len)
        return PH_ERR_ARG;
    size_t n = ph_wire_encoded_len(m);
    if (n > PH_WIRE_MAX_MSG)
        return PH_ERR_WIRE_TOO_LONG;
    uint8_t *b = malloc(n);
    if (!b)
        return PH_ERR_NOMEM;
    ph_err e = ph_wire_encode(m, b, n, len);
    if (e) {
        free(b);
        return e;
    }
    *out = b;
    return PH_OK;
}

