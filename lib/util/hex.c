#include "hex.h"

#include <stdlib.h>
#include <string.h>

int ph_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ph_err ph_hex_decode_into(const char *hex, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = ph_hex_digit((unsigned char)hex[2 * i]);
        int lo = ph_hex_digit((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PH_ERR_PARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return PH_OK;
}

ph_err ph_hex_decode(const char *hex, size_t hex_len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (hex_len % 2)
        return PH_ERR_PARSE;
    /* +1: an empty string still yields a pointer callers can free. */
    uint8_t *buf = malloc(hex_len / 2 + 1);
    if (!buf)
        return PH_ERR_NOMEM;
    ph_err e = ph_hex_decode_into(hex, hex_len / 2, buf);
    if (e) {
        free(buf);
        return e;
    }
    *out = buf;
    *out_len = hex_len / 2;
    return PH_OK;
}

ph_err ph_hex_decode_fixed(const char *hex, uint8_t *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return PH_ERR_PARSE;
    return ph_hex_decode_into(hex, n, out);
}

void ph_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}
