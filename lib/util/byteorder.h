/* Byte order: the one place that turns integers into bytes and back.
 *
 * Lightning's wire (BOLT 1), .lnmsgs records and network headers are big
 * endian; pcap headers and a few private spool formats are little endian.
 * Every module reads and writes them through these helpers rather than its
 * own shifts, so that a width or sign mistake can only be made once.
 *
 * Readers take a pointer to at least N/8 readable bytes, writers to at least
 * N/8 writable bytes; no alignment is required and nothing is checked (the
 * caller has already bounded the buffer). Header-only, no state, no errors. */
#ifndef PH_BYTEORDER_H
#define PH_BYTEORDER_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t ph_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t ph_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ph_be64(const uint8_t *p)
{
    return (uint64_t)ph_be32(p) << 32 | ph_be32(p + 4);
}

static inline void ph_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void ph_put_be32(uint8_t *p, uint32_t v)
{
    ph_put_be16(p, (uint16_t)(v >> 16));
    ph_put_be16(p + 2, (uint16_t)v);
}

static inline void ph_put_be64(uint8_t *p, uint64_t v)
{
    ph_put_be32(p, (uint32_t)(v >> 32));
    ph_put_be32(p + 4, (uint32_t)v);
}

/* Big endian of any width 0..8 bytes (BOLT's truncated tu16/tu32/tu64 and
 * the wire table's fixed-width fields); width 0 reads 0 and writes nothing. */
static inline uint64_t ph_be_uint(const uint8_t *p, size_t width)
{
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void ph_put_be_uint(uint8_t *p, size_t width, uint64_t v)
{
    for (size_t i = width; i > 0; i--) {
        p[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint16_t ph_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t ph_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ph_le64(const uint8_t *p)
{
    return (uint64_t)ph_le32(p) | (uint64_t)ph_le32(p + 4) << 32;
}

static inline void ph_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void ph_put_le32(uint8_t *p, uint32_t v)
{
    ph_put_le16(p, (uint16_t)v);
    ph_put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void ph_put_le64(uint8_t *p, uint64_t v)
{
    ph_put_le32(p, (uint32_t)v);
    ph_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
