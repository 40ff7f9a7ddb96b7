/* Hex: the one encoder and decoder of byte strings as hexadecimal text
 * (key logs, JSON vectors and reports, command-line keys).
 *
 * Decoding accepts upper and lower case; encoding writes lower case.
 * Ownership: ph_hex_decode's buffer belongs to the caller (free()); every
 * other function writes into the caller's memory and allocates nothing.
 * Errors: PH_ERR_PARSE for a character that is not a hex digit or a length
 * that does not fit, PH_ERR_NOMEM. No state; thread-safe. */
#ifndef PH_HEX_H
#define PH_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The value 0..15 of the hex digit `c` (a char's value or an unsigned char),
 * or -1 when it is not one. */
int ph_hex_digit(int c);

/* Decodes exactly 2n characters at `hex` (no terminator needed) into n
 * bytes at `out`. PH_ERR_PARSE on a non-hex character (`out` partly
 * written). */
PH_MUST_USE
ph_err ph_hex_decode_into(const char *hex, size_t n, uint8_t *out);

/* Decode a hex string (even length) into a new buffer owned by the caller
 * (free()); an empty string gives a valid 1-byte allocation and
 * *out_len = 0. PH_ERR_PARSE on bad hex, PH_ERR_NOMEM. On error *out is
 * NULL and *out_len 0. */
PH_MUST_USE
PH_NONNULL(3, 4)
ph_err ph_hex_decode(const char *hex, size_t hex_len, uint8_t **out, size_t *out_len);

/* Decode a NUL-terminated string into a fixed buffer: exactly `n` bytes
 * (2n digits) required, else PH_ERR_PARSE; NULL `hex` is PH_ERR_PARSE. */
PH_MUST_USE
ph_err ph_hex_decode_fixed(const char *hex, uint8_t *out, size_t n);

/* Lowercase hex of `n` bytes into `out` (2n + 1 bytes, NUL-terminated). */
PH_NONNULL(3)
void ph_hex_encode(const uint8_t *in, size_t n, char *out);

#endif
