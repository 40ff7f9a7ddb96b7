/* Test support: whole messages of any type in the wire table, built with the
 * codec engine (ph_wire_msg_new + setters), never with the code under test
 * in the views, so that they can serve as an independent oracle. */
#ifndef PH_TEST_WIREGEN_H
#define PH_TEST_WIREGEN_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Encoded bytes of one element run of field `f` into out (4 KiB is ample):
 * points are the generator G, arrays have 3 elements, bytes follow `salt`.
 * Returns the length. */
size_t ph_wiregen_fill_field(const ph_wire_field_desc *f, uint8_t *out, unsigned salt);
/* A message of `type` with every field filled and, when with_tlvs, one of
 * each known TLV record. *enc is malloc'ed (free()). Fails the test on any
 * error. */
void ph_wiregen_message(uint16_t type, int with_tlvs, uint8_t **enc, size_t *elen);

#endif
