/* The wire codec: decode -> encode -> decode. Properties: a message that
 * decodes re-encodes byte for byte (the codec's promise), the re-encoding
 * decodes again to the same bytes, borrowing and copying decode alike, the
 * one-line summary fits its buffer. The generated views agree with the
 * engine: they accept what it accepts (and re-encode it byte for byte),
 * and refuse what it refuses with the same error, except a point off the
 * curve, which only the engine checks. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"
#include "wire_summary.h"
#include "wire_views.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_view(const uint8_t *data, size_t size, ph_err engine)
{
    ph_wire_view v;
    size_t off = 0;
    ph_err e = ph_wire_view_parse(data, size, &v, &off);
    if (engine == PH_ERR_WIRE_FIELD)
        return; /* a bad point: the view may accept, or stop at a later error */
    FUZZ_CHECK(e == engine);
    if (e || !v.known)
        return;
    const ph_wire_view_ops *ops = ph_wire_view_ops_find(v.type);
    FUZZ_CHECK(ops && ops->len(&v.u) == size);
    uint8_t *out = malloc(size);
    size_t w = 0;
    FUZZ_CHECK(out && ops->encode(&v.u, out, size, &w) == PH_OK);
    FUZZ_CHECK(w == size && memcmp(out, data, size) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ph_wire_msg *m = NULL, *b = NULL;
    size_t off = 0, off2 = 0;
    ph_err e = ph_wire_decode(data, size, 0, &m, &off);
    ph_err eb = ph_wire_decode(data, size, PH_WIRE_BORROW, &b, &off2);
    ph_err ev = ph_wire_decode(data, size, 0, NULL, NULL);
    FUZZ_CHECK(e == eb && e == ev);
    check_view(data, size, e);
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
