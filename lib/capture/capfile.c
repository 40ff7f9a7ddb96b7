#include "capfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    PCAP_US = 0xa1b2c3d4u, PCAP_NS = 0xa1b23c4du, PCAP_MOD = 0xa1b2cd34u,
    NG_SHB = 0x0a0d0d0au, NG_BOM = 0x1a2b3c4du,
    NG_IDB = 1, NG_OPB = 2, NG_SPB = 3, NG_EPB = 6,
    OPT_END = 0, OPT_TSRESOL = 9, OPT_TSOFFSET = 14,
};

#define PCAP_HDR 24u
#define NG_MIN_BLOCK 12u
#define NG_MIN_SHB 28u

struct iface {
    struct ph_capfile_iface pub;
    bool res_pow2;           /* if_tsresol: 2^-res rather than 10^-res */
    uint8_t res;
    int64_t tsoffset;        /* seconds */
};

struct ph_capfile {
    FILE *fp;
    bool own;
    enum ph_capfile_format format;
    bool swap;               /* the current section's byte order is not ours */
    bool nanos;              /* pcap: nanosecond timestamps */
    bool modified;           /* pcap: 24-byte record headers */
    uint32_t section;
    size_t section_base;     /* first interface of the current section */
    struct iface *ifaces;
    size_t nifaces, cap_ifaces;
    uint8_t *buf;
    size_t cap_buf;
    uint64_t pos;            /* bytes consumed from the stream */
    uint64_t good;           /* past the last complete block */
    uint64_t records;
    uint64_t last_ts;
    ph_err sticky;
    char err[PH_CAPFILE_ERRLEN];
};

/* ---- byte order ---- */

static uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static uint32_t raw32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint32_t rd32(const ph_capfile *f, const uint8_t *p)
{
    uint32_t v = raw32(p);
    return f->swap ? swap32(v) : v;
}

static uint16_t rd16(const ph_capfile *f, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return f->swap ? (uint16_t)(v >> 8 | v << 8) : v;
}

/* pcapng writes a 64-bit value as one word in the section's byte order. */
static uint64_t rd64(const ph_capfile *f, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    if (!f->swap)
        return v;
    return (uint64_t)swap32((uint32_t)v) << 32 | swap32((uint32_t)(v >> 32));
}

/* ---- errors and input ---- */

static ph_err stop(ph_capfile *f, ph_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ph_err stop(ph_capfile *f, ph_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof f->err, fmt, ap);
    va_end(ap);
    f->sticky = e;
    return e;
}

/* Exactly `n` bytes into p. *got tells how many came (a short count means
 * the stream ended, or PH_ERR_IO on a read error). */
static ph_err read_exact(ph_capfile *f, uint8_t *p, size_t n, size_t *got)
{
    *got = fread(p, 1, n, f->fp);
    f->pos += *got;
    if (*got < n && ferror(f->fp))
        return PH_ERR_IO;
    return PH_OK;
}

static ph_err ensure_buf(ph_capfile *f, size_t n)
{
    if (n <= f->cap_buf)
        return PH_OK;
    size_t cap = f->cap_buf ? f->cap_buf : 4096;
    while (cap < n)
        cap *= 2;
    uint8_t *b = realloc(f->buf, cap);
    if (!b)
        return PH_ERR_NOMEM;
    f->buf = b;
    f->cap_buf = cap;
    return PH_OK;
}

static ph_err read_error(ph_capfile *f)
{
    int e = errno;
    stop(f, PH_ERR_IO, "read error at offset %llu: %s", (unsigned long long)f->pos,
         strerror(e));
    errno = e;
    return PH_ERR_IO;
}

/* ---- interfaces ---- */

static ph_err add_iface(ph_capfile *f, int linktype, uint32_t snaplen)
{
    if (f->nifaces >= PH_CAPFILE_MAX_IFACES)
        return stop(f, PH_ERR_CAPTURE_CORRUPT,
                    "more than %u interfaces described (block at offset %llu)",
                    PH_CAPFILE_MAX_IFACES, (unsigned long long)f->good);
    if (f->nifaces == f->cap_ifaces) {
        size_t n = f->cap_ifaces ? f->cap_ifaces * 2 : 4;
        struct iface *a = realloc(f->ifaces, n * sizeof *a);
        if (!a)
            return stop(f, PH_ERR_NOMEM, "out of memory");
        f->ifaces = a;
        f->cap_ifaces = n;
    }
    struct iface *i = &f->ifaces[f->nifaces++];
    memset(i, 0, sizeof *i);
    i->pub.linktype = linktype;
    i->pub.snaplen = snaplen;
    i->pub.section = f->section;
    i->res = 6;
    return PH_OK;
}

/* Units of the interface's resolution -> ns, saturating rather than
 * wrapping on absurd values. */
static uint64_t to_ns(const struct iface *i, uint64_t units)
{
    uint64_t ns;
    if (i->res_pow2) {
        unsigned r = i->res > 63 ? 63 : i->res;
        uint64_t secs = units >> r, frac = units & ((1ull << r) - 1);
        if (r > 30) {
            frac >>= r - 30;
            r = 30;
        }
        ns = secs * 1000000000u + ((frac * 1000000000u) >> r);
    } else if (i->res <= 9) {
        uint64_t mul = 1;
        for (unsigned k = i->res; k < 9; k++)
            mul *= 10;
        ns = units > UINT64_MAX / mul ? UINT64_MAX : units * mul;
    } else {
        uint64_t div = 1;
        for (unsigned k = 9; k < i->res && k < 28; k++)
            div *= 10;
        ns = units / div;
    }
    int64_t off = i->tsoffset;
    if (off > 0 && (uint64_t)off <= (UINT64_MAX - ns) / 1000000000u)
        ns += (uint64_t)off * 1000000000u;
    else if (off < 0 && (uint64_t)-(off + 1) < ns / 1000000000u)
        ns -= (uint64_t)-off * 1000000000u;
    return ns;
}

/* ---- pcap ---- */

static ph_err open_pcap(ph_capfile *f, const uint8_t *hdr, uint32_t magic, char *err)
{
    f->format = PH_CAPFILE_PCAP;
    f->swap = magic != PCAP_US && magic != PCAP_NS && magic != PCAP_MOD;
    uint32_t m = f->swap ? swap32(magic) : magic;
    f->nanos = m == PCAP_NS;
    f->modified = m == PCAP_MOD;
    uint16_t major = rd16(f, hdr + 4);
    if (major != 2) {
        snprintf(err, PH_CAPFILE_ERRLEN, "pcap version %u.%u is not supported (only 2.x)", major,
                 rd16(f, hdr + 6));
        return PH_ERR_CAPTURE_OPEN;
    }
    /* The upper bits of the link type field say whether frames end with
     * an FCS; the IP lengths make that harmless, so only the type counts. */
    uint32_t lt = rd32(f, hdr + 20) & 0x03ffffffu;
    ph_err e = add_iface(f, (int)lt, rd32(f, hdr + 16));
    if (e)
        snprintf(err, PH_CAPFILE_ERRLEN, "%s", e == PH_ERR_NOMEM ? "out of memory" : f->err);
    return e;
}

static ph_err next_pcap(ph_capfile *f, struct ph_capfile_record *rec)
{
    uint8_t h[24];
    size_t hl = f->modified ? 24 : 16, got;
    if (read_exact(f, h, hl, &got))
        return read_error(f);
    if (got == 0)
        return stop(f, PH_ERR_EOF, "%s", "");
    if (got < hl)
        return stop(f, PH_ERR_CAPTURE_TRUNCATED,
                    "file ends inside the header of record %llu (offset %llu, %zu of %zu bytes)",
                    (unsigned long long)f->records + 1, (unsigned long long)f->good, got, hl);
    uint32_t caplen = rd32(f, h + 8), len = rd32(f, h + 12);
    if (caplen > PH_CAPFILE_MAX_RECORD)
        return stop(f, PH_ERR_CAPTURE_CORRUPT,
                    "record %llu at offset %llu claims %u captured bytes (more than %u): not "
                    "a record header",
                    (unsigned long long)f->records + 1, (unsigned long long)f->good, caplen,
                    PH_CAPFILE_MAX_RECORD);
    if (ensure_buf(f, caplen ? caplen : 1))
        return stop(f, PH_ERR_NOMEM, "out of memory");
    if (read_exact(f, f->buf, caplen, &got))
        return read_error(f);
    if (got < caplen)
        return stop(f, PH_ERR_CAPTURE_TRUNCATED,
                    "file ends inside record %llu (offset %llu: %zu of %u bytes)",
                    (unsigned long long)f->records + 1, (unsigned long long)f->good, got, caplen);
    uint64_t sec = rd32(f, h), frac = rd32(f, h + 4);
    rec->data = f->buf;
    rec->caplen = caplen;
    rec->origlen = len;
    rec->ts_ns = sec * 1000000000u + (f->nanos ? frac : frac * 1000u);
    rec->iface = 0;
    rec->linktype = f->ifaces[0].pub.linktype;
    rec->snaplen = f->ifaces[0].pub.snaplen;
    rec->offset = f->good;
    rec->number = ++f->records;
    f->good = f->pos;
    return PH_OK;
}

/* ---- pcapng ---- */

/* Options of an interface description (body after the fixed 8 bytes). */
static void idb_options(ph_capfile *f, struct iface *i, const uint8_t *p, size_t len)
{
    while (len >= 4) {
        uint16_t code = rd16(f, p), olen = rd16(f, p + 2);
        size_t padded = ((size_t)olen + 3) & ~(size_t)3;
        if (code == OPT_END || padded > len - 4)
            return;
        if (code == OPT_TSRESOL && olen >= 1) {
            i->res_pow2 = p[4] & 0x80;
            i->res = p[4] & 0x7f;
        } else if (code == OPT_TSOFFSET && olen >= 8) {
            i->tsoffset = (int64_t)rd64(f, p + 4);
        }
        p += 4 + padded;
        len -= 4 + padded;
    }
}

static ph_err read_shb(ph_capfile *f, const uint8_t *first12, uint64_t start)
{
    uint32_t bom = raw32(first12 + 8);
    if (bom == NG_BOM)
        f->swap = false;
    else if (bom == swap32(NG_BOM))
        f->swap = true;
    else
        return stop(f, PH_ERR_CAPTURE_CORRUPT,
                    "section header at offset %llu has no byte-order magic",
                    (unsigned long long)start);
    uint32_t total = rd32(f, first12 + 4);
    if (total < NG_MIN_SHB || total % 4 || total > PH_CAPFILE_MAX_RECORD)
        return stop(f, PH_ERR_CAPTURE_CORRUPT,
                    "section header at offset %llu has an impossible length %u",
                    (unsigned long long)start, total);
    if (ensure_buf(f, total))
        return stop(f, PH_ERR_NOMEM, "out of memory");
    memcpy(f->buf, first12, 12);
    size_t got;
    if (read_exact(f, f->buf + 12, total - 12, &got))
        return read_error(f);
    if (got < total - 12)
        return stop(f, PH_ERR_CAPTURE_TRUNCATED,
                    "file ends inside the section header at offset %llu",
                    (unsigned long long)start);
    if (rd32(f, f->buf + total - 4) != total)
        return stop(f, PH_ERR_CAPTURE_CORRUPT,
                    "section header at offset %llu: trailing length differs",
                    (unsigned long long)start);
    uint16_t major = rd16(f, f->buf + 12);
    if (major != 1)
        return stop(f, PH_ERR_CAPTURE_CORRUPT,
                    "section at offset %llu has pcapng version %u (only 1.x is defined)",
                    (unsigned long long)start, major);
    if (f->nifaces || f->good)
        f->section++;
    f->section_base = f->nifaces;
    f->good = f->pos;
    return PH_OK;
}

/* A packet block's fields -> rec. `body`/`blen` is the block after its
 * 8-byte header, without the trailing length. */
static ph_err packet_block(ph_capfile *f, uint32_t type, uint8_t *body, size_t blen,
                           uint64_t start, struct ph_capfile_record *rec)
{
    uint32_t ifid, caplen, len;
    uint64_t units = 0;
    size_t fixed;
    if (type == NG_SPB) {
        fixed = 4;
        if (blen < fixed)
            goto short_block;
        ifid = 0;
        len = rd32(f, body);
        caplen = len;
        if (f->section_base < f->nifaces) {
            uint32_t snap = f->ifaces[f->section_base].pub.snaplen;
            if (snap && caplen > snap)
                caplen = snap;
        }
        if (caplen > blen - fixed)
            caplen = (uint32_t)(blen - fixed);
    } else {
        fixed = 20;
        if (blen < fixed)
            goto short_block;
        ifid = type == NG_OPB ? rd16(f, body) : rd32(f, body);
        units = (uint64_t)rd32(f, body + 4) << 32 | rd32(f, body + 8);
        caplen = rd32(f, body + 12);
        len = rd32(f, body + 16);
        if (caplen > blen - fixed)
            return stop(f, PH_ERR_CAPTURE_CORRUPT,
                        "packet block at offset %llu claims %u captured bytes in a %zu-byte "
                        "block",
                        (unsigned long long)start, caplen, blen + 12);
    }
    size_t gi = f->section_base + ifid;
    bool known = ifid < f->nifaces - f->section_base;
    rec->data = body + fixed;
    rec->caplen = caplen;
    rec->origlen = len;
    rec->iface = known ? (uint32_t)gi : UINT32_MAX;
    rec->linktype = known ? f->ifaces[gi].pub.linktype : -1;
    rec->snaplen = known ? f->ifaces[gi].pub.snaplen : 0;
    rec->ts_ns = type == NG_SPB || !known ? f->last_ts : to_ns(&f->ifaces[gi], units);
    f->last_ts = rec->ts_ns;
    rec->offset = start;
    rec->number = ++f->records;
    return PH_OK;
short_block:
    return stop(f, PH_ERR_CAPTURE_CORRUPT, "packet block at offset %llu is too short (%zu bytes)",
                (unsigned long long)start, blen + 12);
}

static ph_err next_pcapng(ph_capfile *f, struct ph_capfile_record *rec)
{
    for (;;) {
        uint8_t h[12];
        size_t got;
        uint64_t start = f->pos;
        if (read_exact(f, h, 8, &got))
            return read_error(f);
        if (got == 0)
            return stop(f, PH_ERR_EOF, "%s", "");
        if (got < 8)
            return stop(f, PH_ERR_CAPTURE_TRUNCATED,
                        "file ends inside a block header at offset %llu",
                        (unsigned long long)start);
        uint32_t type = raw32(h);
        if (type == NG_SHB) {
            if (read_exact(f, h + 8, 4, &got))
                return read_error(f);
            if (got < 4)
                return stop(f, PH_ERR_CAPTURE_TRUNCATED,
                            "file ends inside the section header at offset %llu",
                            (unsigned long long)start);
            ph_err e = read_shb(f, h, start);
            if (e)
                return e;
            continue;
        }
        type = rd32(f, h);
        uint32_t total = rd32(f, h + 4);
        if (total < NG_MIN_BLOCK || total % 4 || total > PH_CAPFILE_MAX_RECORD)
            return stop(f, PH_ERR_CAPTURE_CORRUPT,
                        "block at offset %llu (type 0x%x) has an impossible length %u",
                        (unsigned long long)start, type, total);
        if (ensure_buf(f, total))
            return stop(f, PH_ERR_NOMEM, "out of memory");
        size_t rest = total - 8;
        if (read_exact(f, f->buf, rest, &got))
            return read_error(f);
        if (got < rest)
            return stop(f, PH_ERR_CAPTURE_TRUNCATED,
                        "file ends inside the block at offset %llu (%zu of %u bytes)",
                        (unsigned long long)start, got + 8, total);
        if (rd32(f, f->buf + rest - 4) != total)
            return stop(f, PH_ERR_CAPTURE_CORRUPT,
                        "block at offset %llu: trailing length differs from %u",
                        (unsigned long long)start, total);
        size_t blen = rest - 4;
        if (type == NG_IDB) {
            if (blen < 8)
                return stop(f, PH_ERR_CAPTURE_CORRUPT,
                            "interface description at offset %llu is too short",
                            (unsigned long long)start);
            ph_err e = add_iface(f, rd16(f, f->buf), rd32(f, f->buf + 4));
            if (e)
                return e;
            idb_options(f, &f->ifaces[f->nifaces - 1], f->buf + 8, blen - 8);
            f->good = f->pos;
            continue;
        }
        if (type == NG_EPB || type == NG_SPB || type == NG_OPB) {
            ph_err e = packet_block(f, type, f->buf, blen, start, rec);
            if (!e)
                f->good = f->pos;
            return e;
        }
        f->good = f->pos; /* any other block: skipped by its length */
    }
}

/* ---- open / close ---- */

/* What the first bytes of a file that is not a capture look like. */
static void describe_magic(const uint8_t *p, size_t n, char *err)
{
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        snprintf(err, PH_CAPFILE_ERRLEN, "gzip-compressed: decompress it first");
        return;
    }
    if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
        snprintf(err, PH_CAPFILE_ERRLEN, "zstd-compressed: decompress it first");
        return;
    }
    if (n >= 4 && p[0] == 0xfd && p[1] == '7' && p[2] == 'z' && p[3] == 'X') {
        snprintf(err, PH_CAPFILE_ERRLEN, "xz-compressed: decompress it first");
        return;
    }
    bool text = n > 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x09 || (p[i] > 0x0d && p[i] < 0x20) || p[i] == 0x7f)
            text = false;
    char hex[16] = "";
    for (size_t i = 0; i < n && i < 4; i++)
        snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", p[i]);
    snprintf(err, PH_CAPFILE_ERRLEN, "unknown magic number %s(%s)", hex,
             text ? "looks like text" : "not a pcap or pcapng header");
}

ph_err ph_capfile_open(ph_capfile **out, FILE *fp, bool own, char *err)
{
    char scratch[PH_CAPFILE_ERRLEN];
    if (!err)
        err = scratch;
    err[0] = '\0';
    if (!out || !fp)
        return PH_ERR_ARG;
    *out = NULL;
    ph_capfile *f = calloc(1, sizeof *f);
    if (!f) {
        if (own)
            fclose(fp);
        return PH_ERR_NOMEM;
    }
    f->fp = fp;
    f->own = own;
    uint8_t hdr[PCAP_HDR];
    size_t got;
    ph_err e = read_exact(f, hdr, 12, &got);
    if (e) {
        snprintf(err, PH_CAPFILE_ERRLEN, "read error: %s", strerror(errno));
    } else if (got == 0) {
        snprintf(err, PH_CAPFILE_ERRLEN, "empty file");
        e = PH_ERR_CAPTURE_OPEN;
    } else if (got >= 4 && raw32(hdr) == NG_SHB) {
        f->format = PH_CAPFILE_PCAPNG;
        if (got < 12) {
            snprintf(err, PH_CAPFILE_ERRLEN, "file ends inside the pcapng section header "
                     "(%zu bytes)", got);
            e = PH_ERR_CAPTURE_OPEN;
        } else if ((e = read_shb(f, hdr, 0)) != PH_OK) {
            snprintf(err, PH_CAPFILE_ERRLEN, "%s", e == PH_ERR_NOMEM ? "out of memory" : f->err);
            if (e != PH_ERR_NOMEM && e != PH_ERR_IO)
                e = PH_ERR_CAPTURE_OPEN;
        }
    } else {
        size_t first = got;
        uint32_t m = got >= 4 ? raw32(hdr) : 0;
        bool pcap = m == PCAP_US || m == PCAP_NS || m == PCAP_MOD || swap32(m) == PCAP_US ||
                    swap32(m) == PCAP_NS || swap32(m) == PCAP_MOD;
        if (!pcap) {
            describe_magic(hdr, got, err);
            e = PH_ERR_CAPTURE_OPEN;
        } else if (first < 12) {
            snprintf(err, PH_CAPFILE_ERRLEN, "file ends inside the pcap header (%zu of %u bytes)",
                     first, PCAP_HDR);
            e = PH_ERR_CAPTURE_OPEN;
        } else if ((e = read_exact(f, hdr + 12, PCAP_HDR - 12, &got)) != PH_OK) {
            snprintf(err, PH_CAPFILE_ERRLEN, "read error: %s", strerror(errno));
        } else if (got < PCAP_HDR - 12) {
            snprintf(err, PH_CAPFILE_ERRLEN, "file ends inside the pcap header (%zu of %u bytes)",
                     got + 12, PCAP_HDR);
            e = PH_ERR_CAPTURE_OPEN;
        } else {
            e = open_pcap(f, hdr, m, err);
            f->good = PCAP_HDR;
        }
    }
    if (e) {
        int saved = errno;
        f->sticky = PH_OK;
        ph_capfile_close(f);
        errno = saved;
        return e;
    }
    *out = f;
    return PH_OK;
}

void ph_capfile_close(ph_capfile *f)
{
    if (!f)
        return;
    if (f->own && f->fp)
        fclose(f->fp);
    free(f->ifaces);
    free(f->buf);
    free(f);
}

ph_err ph_capfile_next(ph_capfile *f, struct ph_capfile_record *rec)
{
    if (!f || !rec)
        return PH_ERR_ARG;
    if (f->sticky)
        return f->sticky;
    return f->format == PH_CAPFILE_PCAP ? next_pcap(f, rec) : next_pcapng(f, rec);
}

enum ph_capfile_format ph_capfile_format(const ph_capfile *f) { return f->format; }
const char *ph_capfile_error(const ph_capfile *f) { return f->err; }
uint64_t ph_capfile_good_offset(const ph_capfile *f) { return f->good; }
size_t ph_capfile_iface_count(const ph_capfile *f) { return f->nifaces; }
uint64_t ph_capfile_records(const ph_capfile *f) { return f->records; }

const struct ph_capfile_iface *ph_capfile_iface(const ph_capfile *f, size_t i)
{
    return i < f->nifaces ? &f->ifaces[i].pub : NULL;
}
