#include "wiregen.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "byteorder.h"
#include "hex.h"

/* secp256k1 generator G, compressed: a valid point for constructed messages */
static const char *G_HEX = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

size_t ph_wiregen_fill_field(const ph_wire_field_desc *f, uint8_t *out, unsigned salt)
{
    uint8_t g[33];
    assert_int_equal(ph_hex_decode_fixed(G_HEX, g, 33), PH_OK);
    size_t es = ph_wire_type_size(f->type);
    size_t count = f->count_kind == PH_WIRE_C_ONE ? 1
                   : f->count_kind == PH_WIRE_C_FIXED ? f->count : 3;
    if (f->type == PH_WIRE_T_POINT) {
        for (size_t k = 0; k < count; k++)
            memcpy(out + 33 * k, g, 33);
        return 33 * count;
    }
    if (es) {
        for (size_t k = 0; k < count * es; k++)
            out[k] = (uint8_t)(salt + 7 * k + 1);
        return count * es;
    }
    switch (f->type) {
    case PH_WIRE_T_TU16: return ph_wire_tu_encode(0x1234 + salt, out);
    case PH_WIRE_T_TU32: return ph_wire_tu_encode(0x123456 + salt, out);
    case PH_WIRE_T_TU64: return ph_wire_tu_encode(0x1234567890ull + salt, out);
    case PH_WIRE_T_BIGSIZE: {
        size_t n = 0;
        for (size_t k = 0; k < count; k++)
            n += ph_wire_bigsize_encode(0x10000 + salt + k, out + n);
        return n;
    }
    case PH_WIRE_T_WITNESS: {
        size_t n = 0;
        for (size_t k = 0; k < count; k++) {
            ph_put_be16(out + n, (uint16_t)(k + 1));
            memset(out + n + 2, (int)(salt + k), k + 1);
            n += 2 + k + 1;
        }
        return n;
    }
    default:
        fail_msg("no filler for type %d", f->type);
        return 0;
    }
}

/* Each field its own salt, so that two fields swapped do not look alike. */
void ph_wiregen_message(uint16_t type, int with_tlvs, uint8_t **enc, size_t *elen)
{
    uint8_t val[4096];
    const ph_wire_msg_desc *d = ph_wire_msg_desc_find(type);
    ph_wire_msg *m;
    assert_int_equal(ph_wire_msg_new(&m, type), PH_OK);
    for (size_t k = 0; k < d->nfields; k++)
        if (!d->fields[k].is_count)
            assert_int_equal(ph_wire_set_bytes(m, d->fields[k].name, val,
                                               ph_wiregen_fill_field(&d->fields[k], val,
                                                                     3 + 11 * (unsigned)k)),
                             PH_OK);
    for (size_t r = 0; with_tlvs && d->tlvs && r < d->tlvs->nrecords; r++) {
        size_t n = 0;
        for (size_t k = 0; k < d->tlvs->records[r].nfields; k++)
            n += ph_wiregen_fill_field(&d->tlvs->records[r].fields[k], val + n, 5);
        assert_int_equal(ph_wire_tlv_put(m, d->tlvs->records[r].type, val, n), PH_OK);
    }
    assert_int_equal(ph_wire_encode_alloc(m, enc, elen), PH_OK);
    ph_wire_msg_free(m);
}

