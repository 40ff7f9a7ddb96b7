#include "lnmsgs.h"

#include "byteorder.h"

ph_err ph_lnmsgs_write(FILE *f, const uint8_t *msg, size_t len)
{
    if (len > PH_LNMSGS_MAX)
        return PH_ERR_ARG;
    uint8_t hdr[2];
    ph_put_be16(hdr, (uint16_t)len);
    if (fwrite(hdr, 1, 2, f) != 2 || fwrite(msg, 1, len, f) != len)
        return PH_ERR_IO;
    return PH_OK;
}

ph_err ph_lnmsgs_read(ph_lnmsgs_reader *r, uint8_t *buf, size_t *len)
{
    *len = 0;
    uint8_t hdr[2];
    size_t got = fread(hdr, 1, 2, r->f);
    /* Nothing at a record boundary is the end, unless the read failed. */
    if (got == 0 && !ferror(r->f))
        return PH_OK;
    size_t n = got == 2 ? ph_be16(hdr) : 0;
    if (got != 2 || n < PH_LNMSGS_MIN || fread(buf, 1, n, r->f) != n)
        return ferror(r->f) ? PH_ERR_IO : PH_ERR_PARSE;
    *len = n;
    r->offset += 2u + n;
    return PH_OK;
}

ph_err ph_lnmsgs_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **msg,
                      size_t *msg_len)
{
    *msg = NULL;
    *msg_len = 0;
    size_t o = *off;
    if (o >= len)
        return PH_OK;
    if (len - o < 2)
        return PH_ERR_PARSE;
    size_t n = ph_be16(buf + o);
    if (n < PH_LNMSGS_MIN || len - o - 2 < n) {
        *msg_len = n;
        return PH_ERR_PARSE;
    }
    *msg = buf + o + 2;
    *msg_len = n;
    *off = o + 2 + n;
    return PH_OK;
}
