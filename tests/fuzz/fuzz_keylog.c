/* Key logs as anything: text, UTF-16, binary. Properties: parsing never
 * fails on content (only on memory), is deterministic, finds no more keys
 * than 97-byte pairs fit, and every warning names a line that exists. */
#include <string.h>

#include "fuzz.h"
#include "keylog.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ph_keylog *a = NULL, *b = NULL;
    unsigned long first = 0;
    FUZZ_CHECK(ph_keylog_parse(&a, (const char *)data, size, &first) == PH_OK);
    FUZZ_CHECK(ph_keylog_parse(&b, (const char *)data, size, NULL) == PH_OK);
    FUZZ_CHECK(ph_keylog_count(a) == ph_keylog_count(b));
    FUZZ_CHECK(ph_keylog_warning_count(a) == ph_keylog_warning_count(b));
    FUZZ_CHECK(ph_keylog_count(a) <= size / 97 + 1);
    for (size_t i = 0; i < ph_keylog_warning_count(a); i++) {
        const struct ph_keylog_warning *w = ph_keylog_warning(a, i);
        if (!w)
            break;
        FUZZ_CHECK(w->line >= 1 && w->line <= ph_keylog_lines(a));
        if (i == 0)
            FUZZ_CHECK(w->line == first);
    }
    /* probing with bytes from the input: never a crash */
    for (size_t off = 0; off + 16 <= size && off < 256; off += 7)
        (void)ph_keylog_find(a, data + off);
    ph_keylog_destroy(a);
    ph_keylog_destroy(b);
    return 0;
}
