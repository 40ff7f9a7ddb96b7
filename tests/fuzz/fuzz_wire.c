/* The wire codec: decode -> encode -> decode. Properties: a message that
 * decodes re-encodes byte for byte (the codec's promise), the re-encoding
 * decodes again to the same bytes, borrowing and copying decode alike, the
 * one-line summary fits its buffer. */
#include <string.h>

#include "fuzz.h"
#include "wire.h"
#include "wire_summary.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ph_wire_msg *m = NULL, *b = NULL;
    size_t off = 0, off2 = 0;
    ph_err e = ph_wire_decode(data, size, 0, &m, &off);
    ph_err eb = ph_wire_decode(data, size, PH_WIRE_BORROW, &b, &off2);
    ph_err ev = ph_wire_decode(data, size, 0, NULL, NULL);
    FUZZ_CHECK(e == eb && e == ev);
    if (e) {
        FUZZ_CHECK(off <= size);
        return 0;
    }
    FUZZ_CHECK(ph_wire_msg_type(m) == (uint16_t)(data[0] << 8 | data[1]));
    uint8_t *enc = NULL;
    size_t elen = 0;
    FUZZ_CHECK(ph_wire_encode_alloc(m, &enc, &elen) == PH_OK);
    FUZZ_CHECK(elen == ph_wire_encoded_len(m));
    FUZZ_CHECK(elen == size && memcmp(enc, data, size) == 0);
    ph_wire_msg *m2 = NULL;
    FUZZ_CHECK(ph_wire_decode(enc, elen, 0, &m2, NULL) == PH_OK);
    uint8_t *enc2 = NULL;
    size_t elen2 = 0;
    FUZZ_CHECK(ph_wire_encode_alloc(m2, &enc2, &elen2) == PH_OK);
    FUZZ_CHECK(elen2 == elen && memcmp(enc2, enc, elen) == 0);
    char line[512];
    ph_wire_summary(b, line, sizeof line);
    FUZZ_CHECK(strlen(line) < sizeof line);
    free(enc);
    free(enc2);
    ph_wire_msg_free(m);
    ph_wire_msg_free(m2);
    ph_wire_msg_free(b);
    return 0;
}
