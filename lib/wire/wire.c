/* BOLT 1/2/7 wire codec: one table-driven engine (see wire.h). */
#include "wire.h"

#include <secp256k1.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"

/* Largest field list in the table is 19 (open_channel2); a test checks it. */
#define MAX_FIELDS 32

struct span {
    const uint8_t *p;
    uint32_t len;
    uint32_t count;
};

struct own {
    uint8_t *p;
    size_t n;
};

struct ph_wire_msg {
    const ph_wire_msg_desc *desc; /* NULL: opaque */
    struct span *fields;          /* desc->nfields */
    struct own *fown;             /* per-field values stored by setters (lazy) */
    ph_wire_tlv *recs;
    struct own *rown;             /* parallel to recs once recs_owned */
    size_t nrecs, recs_cap;
    const uint8_t *tail;          /* opaque payload, or raw extension */
    size_t tail_len;
    size_t heap;
    uint16_t type;
    bool borrowed;                /* spans point into the caller's buffer */
    bool recs_owned;              /* recs/rown are separate allocations */
};

#define ALIGN8(n) (((n) + 7u) & ~(size_t)7u)

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

static size_t tu_width(ph_wire_type t)
{
    return t == PH_WIRE_T_TU16 ? 2 : t == PH_WIRE_T_TU32 ? 4 : t == PH_WIRE_T_TU64 ? 8 : 0;
}

static bool is_signed(ph_wire_type t)
{
    return t == PH_WIRE_T_S8 || t == PH_WIRE_T_S16 || t == PH_WIRE_T_S32 || t == PH_WIRE_T_S64;
}

static bool is_integer(ph_wire_type t)
{
    return t <= PH_WIRE_T_BIGSIZE;
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

size_t ph_wire_signed_offset(uint16_t type)
{
    switch (type) {
    case PH_WIRE_CHANNEL_ANNOUNCEMENT: return 2 + 4 * 64;
    case PH_WIRE_NODE_ANNOUNCEMENT:
    case PH_WIRE_CHANNEL_UPDATE: return 2 + 64;
    default: return 0;
    }
}

/* ------------------------------------------------------------------------
 * the engine: walk a field list over bytes
 * ------------------------------------------------------------------------ */

/* Walk `nf` fields over p[*pos..end), filling spans. Inside a TLV record
 * (in_record) a '...*' field or a truncated integer takes what is left of
 * the value, and a value of the wrong size is a TLV length error. *eo is the
 * offset of a problem relative to p. */
static ph_err walk_fields(const ph_wire_field_desc *fd, size_t nf, const uint8_t *p, size_t end,
                          size_t *pos, struct span *spans, bool in_record, size_t *eo)
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
        size_t tw = tu_width(f->type);
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
            /* BOLT 1: a truncated integer is the final value of a record */
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

static ph_err record_validate(const ph_wire_record_desc *rd, const uint8_t *v, size_t len,
                              size_t *eo)
{
    struct span spans[MAX_FIELDS];
    size_t pos = 0;
    if (rd->nfields > MAX_FIELDS)
        return PH_ERR_ARG;
    ph_err e = walk_fields(rd->fields, rd->nfields, v, len, &pos, spans, true, eo);
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
    while (pos < len) {
        size_t rstart = pos, used;
        uint64_t type, l;
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
        if (cnt > 0 && type <= prev) {
            *eo = rstart;
            return PH_ERR_WIRE_TLV_ORDER;
        }
        if (l > len - pos) {
            *eo = len;
            return PH_ERR_WIRE_SHORT;
        }
        const ph_wire_record_desc *rd = ph_wire_record_find(sd, type);
        if (!rd && !(type & 1)) {
            *eo = rstart;
            return PH_ERR_WIRE_TLV_UNKNOWN_EVEN;
        }
        if (rd) {
            size_t sub = 0;
            e = record_validate(rd, p + pos, (size_t)l, &sub);
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
        if (i > 0 && recs[i].type <= recs[i - 1].type)
            return PH_ERR_WIRE_TLV_ORDER;
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
    if (!f || f->count_kind != PH_WIRE_C_ONE || !is_integer(f->type))
        return PH_ERR_ARG;
    if (f->type == PH_WIRE_T_BIGSIZE) {
        size_t used;
        ph_err e = ph_wire_bigsize_decode(p, len, u, &used);
        return e == PH_ERR_EOF ? PH_ERR_WIRE_SHORT : e;
    }
    size_t tw = tu_width(f->type);
    if (tw)
        return ph_wire_tu_decode(p, len, tw, u);
    if (len != ph_wire_type_size(f->type))
        return PH_ERR_WIRE_SHORT;
    if (is_signed(f->type)) {
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

static size_t header_size(size_t nfields, size_t nrecs)
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
    if (len > PH_WIRE_MAX_MSG) {
        *eo = PH_WIRE_MAX_MSG;
        return PH_ERR_WIRE_TOO_LONG;
    }
    uint16_t type = (uint16_t)ph_wire_be_get(buf, 2);
    const ph_wire_msg_desc *d = ph_wire_msg_desc_find(type);
    if (d) {
        if (d->nfields > MAX_FIELDS)
            return PH_ERR_ARG;
        ph_err e = walk_fields(d->fields, d->nfields, buf, len, &pos, sp, false, eo);
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
    size_t hsize = header_size(nf, nrec);
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

static const ph_wire_field_desc *field_named(const ph_wire_field_desc *fd, size_t nf,
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
    const ph_wire_field_desc *f = field_named(rd->fields, rd->nfields, field, strlen(field), &idx);
    if (!f || rd->nfields > MAX_FIELDS)
        return PH_ERR_ARG;
    ph_err e = walk_fields(rd->fields, rd->nfields, rec->value, rec->len, &pos, spans, true, &eo);
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
    const ph_wire_field_desc *f = field_named(d->fields, d->nfields, name, strlen(name), &idx);
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
    if (dot && !field_named(rd->fields, rd->nfields, dot + 1, strlen(dot + 1), &idx))
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
    size_t hsize = header_size(d->nfields, 0);
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
    size_t hsize = header_size(0, 0);
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
    *f = field_named(m->desc->fields, m->desc->nfields, name, strlen(name), idx);
    if (!*f || (*f)->is_count)
        return PH_ERR_ARG;
    return PH_OK;
}

/* Encode an integer of field type t; PH_ERR_WIRE_FIELD if it does not fit. */
static ph_err encode_int(ph_wire_type t, uint64_t v, bool neg, uint8_t *out, size_t *n)
{
    if (t == PH_WIRE_T_BIGSIZE || tu_width(t)) {
        if (neg)
            return PH_ERR_WIRE_FIELD;
        if (tu_width(t) && tu_width(t) < 8 && v >> (8 * tu_width(t)))
            return PH_ERR_WIRE_FIELD;
        *n = t == PH_WIRE_T_BIGSIZE ? ph_wire_bigsize_encode(v, out) : ph_wire_tu_encode(v, out);
        return PH_OK;
    }
    size_t w = ph_wire_type_size(t);
    if (is_signed(t)) {
        int64_t s = (int64_t)v;
        int64_t lim = (int64_t)(((uint64_t)1 << (8 * w - 1)) - 1);
        if ((!neg && v > (uint64_t)lim) || (neg && s < -lim - 1))
            return PH_ERR_WIRE_FIELD;
    } else if (neg || (w < 8 && v >> (8 * w))) {
        return PH_ERR_WIRE_FIELD;
    }
    ph_wire_be_put(out, w, v);
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
    if (f->count_kind != PH_WIRE_C_ONE || !is_integer(f->type))
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
    ph_wire_be_put(tmp, 8, scid);
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
    e = walk_fields(&one, 1, src, len, &pos, &sp, true, &eo);
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
        ph_err e = record_validate(rd, src, len, &eo);
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
    ph_wire_be_put(buf, 2, m->type);
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
    uint8_t *b = malloc(1 + 8 * n);
    if (!b)
        return PH_ERR_NOMEM;
    b[0] = 0;
    for (size_t i = 0; i < n; i++)
        ph_wire_be_put(b + 1 + 8 * i, 8, scids[i]);
    *out = b;
    *len = 1 + 8 * n;
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

/* ------------------------------------------------------------------------
 * summaries
 * ------------------------------------------------------------------------ */

struct sb {
    char *buf;
    size_t cap, len;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = b->len < b->cap ? vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap)
                            : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void sb_hex(struct sb *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "%02x", p[i]);
}

/* Untrusted text, quoted, with anything but printable ASCII escaped. */
static void sb_text(struct sb *b, const uint8_t *p, size_t n)
{
    sb_printf(b, "\"");
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 32 && p[i] <= 126 && p[i] != '"' && p[i] != '\\')
            sb_printf(b, "%c", p[i]);
        else
            sb_printf(b, "\\x%02x", p[i]);
    }
    sb_printf(b, "\"");
}

static uint64_t fu(const ph_wire_msg *m, const char *name)
{
    uint64_t v = 0;
    /* Names come from the message's own layout; one it lacks shows as 0. */
    if (ph_wire_get_u64(m, name, &v) != PH_OK)
        v = 0;
    return v;
}

static void fbytes(const ph_wire_msg *m, const char *name, const uint8_t **p, size_t *n)
{
    if (ph_wire_get_bytes(m, name, p, n)) {
        *p = NULL;
        *n = 0;
    }
}

static void sb_scid(struct sb *b, const ph_wire_msg *m, const char *name)
{
    char s[PH_WIRE_SCID_STRLEN];
    uint64_t scid = 0;
    /* As fu(): a field the layout lacks shows as 0x0x0. */
    if (ph_wire_get_scid(m, name, &scid) != PH_OK)
        scid = 0;
    sb_printf(b, "%s", ph_wire_scid_format(scid, s));
}

static void sb_channel_id(struct sb *b, const ph_wire_msg *m, const char *name)
{
    const uint8_t *p;
    size_t n;
    static const uint8_t zero[32];
    fbytes(m, name, &p, &n);
    if (n != 32)
        return;
    sb_printf(b, " cid=");
    if (memcmp(p, zero, 32) == 0)
        sb_printf(b, "all");
    else
        sb_hex(b, p, 8);
}

static void sb_short_ids(struct sb *b, const ph_wire_msg *m)
{
    const uint8_t *p;
    size_t n, cnt;
    fbytes(m, "encoded_short_ids", &p, &n);
    if (ph_wire_short_ids_decode(p, n, NULL, 0, &cnt) == PH_OK)
        sb_printf(b, " scids=%zu", cnt);
    else
        sb_printf(b, " scids=? enc=%zub", n);
}

static void sum_gossip(struct sb *b, const ph_wire_msg *m)
{
    const uint8_t *p;
    size_t n;
    switch (m->type) {
    case PH_WIRE_CHANNEL_UPDATE: {
        uint64_t cf = fu(m, "channel_flags");
        sb_printf(b, " ");
        sb_scid(b, m, "short_channel_id");
        sb_printf(b, "/%u ts=%llu fee=%llu+%lluppm cltv=%llu%s", (unsigned)(cf & 1),
                  (unsigned long long)fu(m, "timestamp"),
                  (unsigned long long)fu(m, "fee_base_msat"),
                  (unsigned long long)fu(m, "fee_proportional_millionths"),
                  (unsigned long long)fu(m, "cltv_expiry_delta"), (cf & 2) ? " disabled" : "");
        break;
    }
    case PH_WIRE_CHANNEL_ANNOUNCEMENT:
        sb_printf(b, " ");
        sb_scid(b, m, "short_channel_id");
        fbytes(m, "node_id_1", &p, &n);
        sb_printf(b, " node1=");
        sb_hex(b, p, n < 6 ? n : 6);
        fbytes(m, "node_id_2", &p, &n);
        sb_printf(b, " node2=");
        sb_hex(b, p, n < 6 ? n : 6);
        break;
    case PH_WIRE_NODE_ANNOUNCEMENT:
        fbytes(m, "node_id", &p, &n);
        sb_printf(b, " ");
        sb_hex(b, p, n < 6 ? n : 6);
        fbytes(m, "alias", &p, &n);
        while (n > 0 && p[n - 1] == 0)
            n--;
        sb_printf(b, " alias=");
        sb_text(b, p, n);
        fbytes(m, "addresses", &p, &n);
        sb_printf(b, " ts=%llu addrlen=%zu", (unsigned long long)fu(m, "timestamp"), n);
        break;
    case PH_WIRE_ANNOUNCEMENT_SIGNATURES:
        sb_printf(b, " ");
        sb_scid(b, m, "short_channel_id");
        break;
    case PH_WIRE_QUERY_SHORT_CHANNEL_IDS:
        sb_short_ids(b, m);
        break;
    case PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END:
        sb_printf(b, " full_information=%llu", (unsigned long long)fu(m, "full_information"));
        break;
    case PH_WIRE_QUERY_CHANNEL_RANGE:
        sb_printf(b, " first=%llu num=%llu", (unsigned long long)fu(m, "first_blocknum"),
                  (unsigned long long)fu(m, "number_of_blocks"));
        if (ph_wire_tlv_find(m, 1))
            sb_printf(b, " query_option=%llu",
                      (unsigned long long)fu(m, "query_option.query_option_flags"));
        break;
    case PH_WIRE_REPLY_CHANNEL_RANGE:
        sb_printf(b, " first=%llu num=%llu complete=%llu",
                  (unsigned long long)fu(m, "first_blocknum"),
                  (unsigned long long)fu(m, "number_of_blocks"),
                  (unsigned long long)fu(m, "sync_complete"));
        sb_short_ids(b, m);
        break;
    case PH_WIRE_GOSSIP_TIMESTAMP_FILTER:
        sb_printf(b, " first=%llu range=%llu", (unsigned long long)fu(m, "first_timestamp"),
                  (unsigned long long)fu(m, "timestamp_range"));
        break;
    }
}

static void sum_setup(struct sb *b, const ph_wire_msg *m)
{
    const uint8_t *p;
    size_t n;
    switch (m->type) {
    case PH_WIRE_INIT: {
        fbytes(m, "features", &p, &n);
        sb_printf(b, " features=");
        size_t need = ph_feature_describe(p, n, NULL, 0);
        if (b->len < b->cap)
            ph_feature_describe(p, n, b->buf + b->len, b->cap - b->len);
        b->len += need;
        fbytes(m, "globalfeatures", &p, &n);
        if (n) {
            sb_printf(b, " global=");
            sb_hex(b, p, n);
        }
        ph_wire_value v;
        if (ph_wire_get(m, "networks", &v) == PH_OK)
            sb_printf(b, " networks=%zu", v.len / 32);
        break;
    }
    case PH_WIRE_ERROR:
    case PH_WIRE_WARNING:
    case PH_WIRE_TX_ABORT:
        sb_channel_id(b, m, "channel_id");
        fbytes(m, "data", &p, &n);
        sb_printf(b, " text=");
        sb_text(b, p, n);
        break;
    case PH_WIRE_PING:
        sb_printf(b, " num_pong_bytes=%llu len=%llu", (unsigned long long)fu(m, "num_pong_bytes"),
                  (unsigned long long)fu(m, "byteslen"));
        break;
    case PH_WIRE_PONG:
        sb_printf(b, " len=%llu", (unsigned long long)fu(m, "byteslen"));
        break;
    default: {
        /* channel messages: which channel, and how big */
        size_t idx;
        const ph_wire_field_desc *f = field_named(m->desc->fields, m->desc->nfields,
                                                  "channel_id", 10, &idx);
        if (!f)
            f = field_named(m->desc->fields, m->desc->nfields, "temporary_channel_id", 20, &idx);
        if (f)
            sb_channel_id(b, m, f->name);
        sb_printf(b, " len=%zu", ph_wire_encoded_len(m));
        break;
    }
    }
}

size_t ph_wire_summary(const ph_wire_msg *m, char *buf, size_t cap)
{
    struct sb b = {buf, buf ? cap : 0, 0};
    if (b.cap)
        buf[0] = '\0';
    if (!m)
        return 0;
    if (!m->desc) {
        sb_printf(&b, "unknown_type_%u len=%zu", (unsigned)m->type, m->tail_len);
        return b.len;
    }
    sb_printf(&b, "%s", m->desc->name);
    if (m->type >= 256)
        sum_gossip(&b, m);
    else
        sum_setup(&b, m);
    if (m->tail_len)
        sb_printf(&b, " ext=%zu", m->tail_len);
    return b.len;
}

/* ------------------------------------------------------------------------
 * BOLT 9 features
 * ------------------------------------------------------------------------ */

const ph_feature_desc *ph_feature_find_bit(unsigned bit)
{
    for (size_t i = 0; i < ph_feature_count(); i++)
        if (ph_feature_at(i)->even_bit == (bit & ~1u))
            return ph_feature_at(i);
    return NULL;
}

const ph_feature_desc *ph_feature_find_name(const char *name)
{
    for (size_t i = 0; name && i < ph_feature_count(); i++)
        if (strcmp(ph_feature_at(i)->name, name) == 0)
            return ph_feature_at(i);
    return NULL;
}

bool ph_feature_test(const uint8_t *fv, size_t len, unsigned bit)
{
    if (!fv || bit / 8 >= len)
        return false;
    return (fv[len - 1 - bit / 8] >> (bit % 8)) & 1;
}

ph_err ph_feature_set(uint8_t *fv, size_t len, unsigned bit)
{
    if (!fv || bit / 8 >= len)
        return PH_ERR_ARG;
    fv[len - 1 - bit / 8] |= (uint8_t)(1u << (bit % 8));
    return PH_OK;
}

ph_err ph_feature_clear(uint8_t *fv, size_t len, unsigned bit)
{
    if (!fv || bit / 8 >= len)
        return PH_ERR_ARG;
    fv[len - 1 - bit / 8] &= (uint8_t)~(1u << (bit % 8));
    return PH_OK;
}

size_t ph_feature_len_for(unsigned bit)
{
    return bit / 8 + 1;
}

bool ph_feature_offered(const uint8_t *fv, size_t len, unsigned bit)
{
    unsigned even = bit & ~1u;
    return ph_feature_test(fv, len, even) || ph_feature_test(fv, len, even + 1);
}

bool ph_feature_unknown_even(const uint8_t *fv, size_t len, const uint8_t *known,
                             size_t known_len, unsigned *bit)
{
    for (unsigned b = 0; fv && b < 8 * len; b += 2) {
        if (!ph_feature_test(fv, len, b))
            continue;
        bool ok = known ? ph_feature_offered(known, known_len, b) : ph_feature_find_bit(b) != NULL;
        if (!ok) {
            if (bit)
                *bit = b;
            return true;
        }
    }
    return false;
}

ph_err ph_feature_or(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = alen > blen ? alen : blen;
    if ((!a && alen) || (!b && blen) || (!out && n) || cap < n || !out_len)
        return PH_ERR_ARG;
    for (size_t i = 0; i < n; i++) { /* i counts from the last byte */
        uint8_t x = i < alen ? a[alen - 1 - i] : 0;
        uint8_t y = i < blen ? b[blen - 1 - i] : 0;
        out[n - 1 - i] = x | y;
    }
    *out_len = n;
    return PH_OK;
}

size_t ph_feature_describe(const uint8_t *fv, size_t len, char *buf, size_t cap)
{
    struct sb b = {buf, buf ? cap : 0, 0};
    if (b.cap)
        buf[0] = '\0';
    bool first = true;
    for (unsigned bit = 0; fv && bit < 8 * len; bit++) {
        if (!ph_feature_test(fv, len, bit))
            continue;
        const ph_feature_desc *d = ph_feature_find_bit(bit);
        sb_printf(&b, "%s", first ? "" : ",");
        if (d)
            sb_printf(&b, "%s%c", d->name, (bit & 1) ? '?' : '!');
        else
            sb_printf(&b, "bit%u", bit);
        first = false;
    }
    if (first)
        sb_printf(&b, "none");
    return b.len;
}
