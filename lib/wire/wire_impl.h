/* Internals shared by the wire codec's own files (wire.c decodes and reads,
 * wire_msg.c builds, sets and encodes, wire_summary.c prints, featurebits.c
 * describes). Not installed (*_impl.h) and not for callers outside
 * lib/wire/: the message layout below is private to the codec so that the
 * one-malloc decode layout can change without touching any caller. */
#ifndef PH_WIRE_IMPL_H
#define PH_WIRE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

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

static inline size_t ph_wire_tu_width(ph_wire_type t)
{
    return t == PH_WIRE_T_TU16 ? 2 : t == PH_WIRE_T_TU32 ? 4 : t == PH_WIRE_T_TU64 ? 8 : 0;
}

static inline bool ph_wire_is_signed(ph_wire_type t)
{
    return t == PH_WIRE_T_S8 || t == PH_WIRE_T_S16 || t == PH_WIRE_T_S32 || t == PH_WIRE_T_S64;
}

static inline bool ph_wire_is_integer(ph_wire_type t)
{
    return t <= PH_WIRE_T_BIGSIZE;
}

/* Bytes of the message header block (struct, spans, nrecs TLV slots); the
 * decoder and the constructors must agree on it. */
size_t ph_wire_header_size(size_t nfields, size_t nrecs);

/* Walk `nf` fields over p[*pos..end), filling spans. Inside a TLV record
 * (in_record) a '...*' field or a truncated integer takes what is left of
 * the value, and a value of the wrong size is a TLV length error. *eo is the
 * offset of a problem relative to p. Errors: the PH_ERR_WIRE_* of wire.h. */
PH_MUST_USE
ph_err ph_wire_walk_fields(const ph_wire_field_desc *fd, size_t nf, const uint8_t *p,
                           size_t end, size_t *pos, struct span *spans, bool in_record,
                           size_t *eo);
/* A known record's value against its layout (PH_ERR_WIRE_TLV_LENGTH,
 * PH_ERR_WIRE_TRAILING, ...); *eo relative to v. */
PH_MUST_USE
ph_err ph_wire_record_validate(const ph_wire_record_desc *rd, const uint8_t *v, size_t len,
                               size_t *eo);
/* The field called name[0..nlen) (name need not be NUL-terminated there),
 * its index in *idx; NULL when absent. */
const ph_wire_field_desc *ph_wire_field_named(const ph_wire_field_desc *fd, size_t nf,
                                              const char *name, size_t nlen, size_t *idx);

/* snprintf-style line builder of the summary and feature printers: len
 * keeps counting past cap so callers can return the length needed. */
struct ph_sb {
    char *buf;
    size_t cap, len;
};
void ph_sb_printf(struct ph_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
