/* libFuzzer target: our BOLT 8 frame cipher against libsodium on random
 * keys, nonces, lengths 0..65,535 and flipped bits (chachapoly_diff.h).
 * `make fuzz` builds it with clang (-fsanitize=fuzzer,address,undefined)
 * and runs it; any difference aborts with the failing check's line. */
#include <stdio.h>
#include <stdlib.h>

#include "chachapoly_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0)
            abort();
        ready = 1;
    }
    int line = ph_chachapoly_diff_one(data, size);
    if (line) {
        fprintf(stderr, "chachapoly differs from libsodium: check at chachapoly_diff.h:%d\n", line);
        abort();
    }
    return 0;
}
