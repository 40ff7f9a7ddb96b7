/* One-line human summaries of decoded messages (see wire_summary.h). */
#include "wire_summary.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "featurebits.h"
#include "wire_impl.h"

/* ------------------------------------------------------------------------
 * summaries
 * ------------------------------------------------------------------------ */

void ph_sb_printf(struct ph_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = b->len < b->cap ? vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap)
                            : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

static void sb_hex(struct ph_sb *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ph_sb_printf(b, "%02x", p[i]);
}

/* Untrusted text, quoted, with anything but printable ASCII escaped.
 *
 * BOLT #1: if `data` is not composed solely of printable ASCII characters (For
 * reference: the printable character set includes byte values 32 through 126,
 * inclusive):
 *   - SHOULD NOT print out `data` verbatim. */
static void sb_text(struct ph_sb *b, const uint8_t *p, size_t n)
{
    ph_sb_printf(b, "\"");
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 32 && p[i] <= 126 && p[i] != '"' && p[i] != '\\')
            ph_sb_printf(b, "%c", p[i]);
        else
            ph_sb_printf(b, "\\x%02x", p[i]);
    }
    ph_sb_printf(b, "\"");
}

static uint64_t fu(const ph_wire_msg *m, const char *name)
{
    uint64_t v = 0;
    /* Names come from the message's own layout; one it lacks shows as 0. */
    if (ph_wire_get_u64(m, name, &v) != PH_OK)
        v = 0;
    return v;
}

static void fbytes(const ph_wire_msg *m, const char *name, const uint8_t **p, size_t *n)
{
    if (ph_wire_get_bytes(m, name, p, n)) {
        *p = NULL;
        *n = 0;
    }
}

static void sb_scid(struct ph_sb *b, const ph_wire_msg *m, const char *name)
{
    char s[PH_WIRE_SCID_STRLEN];
    uint64_t scid = 0;
    /* As fu(): a field the layout lacks shows as 0x0x0. */
    if (ph_wire_get_scid(m, name, &scid) != PH_OK)
        scid = 0;
    ph_sb_printf(b, "%s", ph_wire_scid_format(scid, s));
}

static void sb_channel_id(struct ph_sb *b, const ph_wire_msg *m, const char *name)
{
    const uint8_t *p;
    size_t n;
    static const uint8_t zero[32];
    fbytes(m, name, &p, &n);
    if (n != 32)
        return;
    ph_sb_printf(b, " cid=");
    if (memcmp(p, zero, 32) == 0)
        ph_sb_printf(b, "all");
    else
        sb_hex(b, p, 8);
}

static void sb_short_ids(struct ph_sb *b, const ph_wire_msg *m)
{
    const uint8_t *p;
    size_t n, cnt;
    fbytes(m, "encoded_short_ids", &p, &n);
    if (ph_wire_short_ids_decode(p, n, NULL, 0, &cnt) == PH_OK)
        ph_sb_printf(b, " scids=%zu", cnt);
    else
        ph_sb_printf(b, " scids=? enc=%zub", n);
}

static void sum_gossip(struct ph_sb *b, const ph_wire_msg *m)
{
    const uint8_t *p;
    size_t n;
    switch (m->type) {
    case PH_WIRE_CHANNEL_UPDATE: {
        uint64_t cf = fu(m, "channel_flags");
        ph_sb_printf(b, " ");
        sb_scid(b, m, "short_channel_id");
        ph_sb_printf(b, "/%u ts=%llu fee=%llu+%lluppm cltv=%llu%s", (unsigned)(cf & 1),
                  (unsigned long long)fu(m, "timestamp"),
                  (unsigned long long)fu(m, "fee_base_msat"),
                  (unsigned long long)fu(m, "fee_proportional_millionths"),
                  (unsigned long long)fu(m, "cltv_expiry_delta"), (cf & 2) ? " disabled" : "");
        break;
    }
    case PH_WIRE_CHANNEL_ANNOUNCEMENT:
        ph_sb_printf(b, " ");
        sb_scid(b, m, "short_channel_id");
        fbytes(m, "node_id_1", &p, &n);
        ph_sb_printf(b, " node1=");
        sb_hex(b, p, n < 6 ? n : 6);
        fbytes(m, "node_id_2", &p, &n);
        ph_sb_printf(b, " node2=");
        sb_hex(b, p, n < 6 ? n : 6);
        break;
    case PH_WIRE_NODE_ANNOUNCEMENT:
        fbytes(m, "node_id", &p, &n);
        ph_sb_printf(b, " ");
        sb_hex(b, p, n < 6 ? n : 6);
        fbytes(m, "alias", &p, &n);
        while (n > 0 && p[n - 1] == 0)
            n--;
        ph_sb_printf(b, " alias=");
        sb_text(b, p, n);
        fbytes(m, "addresses", &p, &n);
        ph_sb_printf(b, " ts=%llu addrlen=%zu", (unsigned long long)fu(m, "timestamp"), n);
        break;
    case PH_WIRE_ANNOUNCEMENT_SIGNATURES:
        ph_sb_printf(b, " ");
        sb_scid(b, m, "short_channel_id");
        break;
    case PH_WIRE_QUERY_SHORT_CHANNEL_IDS:
        sb_short_ids(b, m);
        break;
    case PH_WIRE_REPLY_SHORT_CHANNEL_IDS_END:
        ph_sb_printf(b, " full_information=%llu", (unsigned long long)fu(m, "full_information"));
        break;
    case PH_WIRE_QUERY_CHANNEL_RANGE:
        ph_sb_printf(b, " first=%llu num=%llu", (unsigned long long)fu(m, "first_blocknum"),
                  (unsigned long long)fu(m, "number_of_blocks"));
        if (ph_wire_tlv_find(m, 1))
            ph_sb_printf(b, " query_option=%llu",
                      (unsigned long long)fu(m, "query_option.query_option_flags"));
        break;
    case PH_WIRE_REPLY_CHANNEL_RANGE:
        ph_sb_printf(b, " first=%llu num=%llu complete=%llu",
                  (unsigned long long)fu(m, "first_blocknum"),
                  (unsigned long long)fu(m, "number_of_blocks"),
                  (unsigned long long)fu(m, "sync_complete"));
        sb_short_ids(b, m);
        break;
    case PH_WIRE_GOSSIP_TIMESTAMP_FILTER:
        ph_sb_printf(b, " first=%llu range=%llu", (unsigned long long)fu(m, "first_timestamp"),
                  (unsigned long long)fu(m, "timestamp_range"));
        break;
    }
}

static void sum_setup(struct ph_sb *b, const ph_wire_msg *m)
{
    const uint8_t *p;
    size_t n;
    switch (m->type) {
    case PH_WIRE_INIT: {
        fbytes(m, "features", &p, &n);
        ph_sb_printf(b, " features=");
        size_t need = ph_feature_describe(p, n, NULL, 0);
        if (b->len < b->cap)
            ph_feature_describe(p, n, b->buf + b->len, b->cap - b->len);
        b->len += need;
        fbytes(m, "globalfeatures", &p, &n);
        if (n) {
            ph_sb_printf(b, " global=");
            sb_hex(b, p, n);
        }
        ph_wire_value v;
        if (ph_wire_get(m, "networks", &v) == PH_OK)
            ph_sb_printf(b, " networks=%zu", v.len / 32);
        break;
    }
    case PH_WIRE_ERROR:
    case PH_WIRE_WARNING:
    case PH_WIRE_TX_ABORT:
        sb_channel_id(b, m, "channel_id");
        fbytes(m, "data", &p, &n);
        ph_sb_printf(b, " text=");
        sb_text(b, p, n);
        break;
    case PH_WIRE_PING:
        ph_sb_printf(b, " num_pong_bytes=%llu len=%llu", (unsigned long long)fu(m, "num_pong_bytes"),
                  (unsigned long long)fu(m, "byteslen"));
        break;
    case PH_WIRE_PONG:
        ph_sb_printf(b, " len=%llu", (unsigned long long)fu(m, "byteslen"));
        break;
    default: {
        /* channel messages: which channel, and how big */
        size_t idx;
        const ph_wire_field_desc *f = ph_wire_field_named(m->desc->fields, m->desc->nfields,
                                                  "channel_id", 10, &idx);
        if (!f)
            f = ph_wire_field_named(m->desc->fields, m->desc->nfields, "temporary_channel_id", 20, &idx);
        if (f)
            sb_channel_id(b, m, f->name);
        ph_sb_printf(b, " len=%zu", ph_wire_encoded_len(m));
        break;
    }
    }
}

size_t ph_wire_summary(const ph_wire_msg *m, char *buf, size_t cap)
{
    struct ph_sb b = {buf, buf ? cap : 0, 0};
    if (b.cap)
        buf[0] = '\0';
    if (!m)
        return 0;
    if (!m->desc) {
        char name[PH_WIRE_TYPE_STRLEN];
        ph_sb_printf(&b, "%s len=%zu", ph_wire_type_str(m->type, name), m->tail_len);
        return b.len;
    }
    ph_sb_printf(&b, "%s", m->desc->name);
    if (m->type >= 256)
        sum_gossip(&b, m);
    else
        sum_setup(&b, m);
    if (m->tail_len)
        ph_sb_printf(&b, " ext=%zu", m->tail_len);
    return b.len;
}

