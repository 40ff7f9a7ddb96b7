/* File digests with libsodium's SHA-256, read in 16 KiB blocks. */
#include "digest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sodium.h>

#include "hex.h"

ph_err ph_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return PH_ERR_IO;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    uint8_t buf[16384];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_hash_sha256_update(&st, buf, n);
    bool failed = ferror(f);
    int e = errno;
    fclose(f);
    if (failed) {
        errno = e;
        return PH_ERR_IO;
    }
    uint8_t out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, out);
    ph_hex_encode(out, sizeof out, hex);
    return PH_OK;
}
