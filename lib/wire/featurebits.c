/* BOLT 9 feature bits (see featurebits.h). The table itself is generated
 * into wire_table.c with the message layouts. */
#include "featurebits.h"

#include <string.h>

#include "wire_impl.h"

/* ------------------------------------------------------------------------
 * BOLT 9 features
 * ------------------------------------------------------------------------ */

const ph_feature_desc *ph_feature_find_bit(unsigned bit)
{
    for (size_t i = 0; i < ph_feature_count(); i++)
        if (ph_feature_at(i)->even_bit == (bit & ~1u))
            return ph_feature_at(i);
    return NULL;
}

/* The feature called name[0..n) when fv does not offer it, else NULL.
 * Names in the dependency lists are the table's own; one the table lacks
 * cannot be checked and counts as met. */
static const ph_feature_desc *dependency_missing(const uint8_t *fv, size_t len,
                                                const char *name, size_t n)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return NULL;
    memcpy(buf, name, n);
    buf[n] = 0;
    const ph_feature_desc *d = ph_feature_find_name(buf);
    return d && !ph_feature_offered(fv, len, d->even_bit) ? d : NULL;
}

/* BOLT #1: if the feature vector does not set all known, transitive dependencies:
 *     - MUST close the connection. */
bool ph_feature_missing_dependency(const uint8_t *fv, size_t len, unsigned *bit,
                                   const char **missing)
{
    for (unsigned b = 0; fv && b < 8 * len; b++) {
        const ph_feature_desc *d;
        if (!ph_feature_test(fv, len, b) || !(d = ph_feature_find_bit(b)))
            continue;
        for (const char *p = d->dependencies; p && *p;) {
            size_t n = strcspn(p, ",");
            while (n && p[n - 1] == ' ')
                n--;
            const ph_feature_desc *dep = dependency_missing(fv, len, p, n);
            if (dep) {
                if (bit)
                    *bit = b;
                if (missing)
                    *missing = dep->name;
                return true;
            }
            p += strcspn(p, ",");
            p += strspn(p, ", ");
        }
    }
    return false;
}

const ph_feature_desc *ph_feature_find_name(const char *name)
{
    for (size_t i = 0; name && i < ph_feature_count(); i++)
        if (strcmp(ph_feature_at(i)->name, name) == 0)
            return ph_feature_at(i);
    return NULL;
}

/* BOLT #9: Flags are numbered from the least-significant bit, at bit 0 (i.e. 0x1, an
 * _even_ bit). */
bool ph_feature_test(const uint8_t *fv, size_t len, unsigned bit)
{
    if (!fv || bit / 8 >= len)
        return false;
    return (fv[len - 1 - bit / 8] >> (bit % 8)) & 1;
}

ph_err ph_feature_set(uint8_t *fv, size_t len, unsigned bit)
{
    if (!fv || bit / 8 >= len)
        return PH_ERR_ARG;
    fv[len - 1 - bit / 8] |= (uint8_t)(1u << (bit % 8));
    return PH_OK;
}

ph_err ph_feature_clear(uint8_t *fv, size_t len, unsigned bit)
{
    if (!fv || bit / 8 >= len)
        return PH_ERR_ARG;
    fv[len - 1 - bit / 8] &= (uint8_t)~(1u << (bit % 8));
    return PH_OK;
}

/* BOLT #1: The `features` field MUST be padded to bytes with 0s. */
size_t ph_feature_len_for(unsigned bit)
{
    return bit / 8 + 1;
}

/* BOLT #1: A feature is *offered* if a peer set it in the `init` message for the
 * current connection (as either even or odd). */
bool ph_feature_offered(const uint8_t *fv, size_t len, unsigned bit)
{
    unsigned even = bit & ~1u;
    return ph_feature_test(fv, len, even) || ph_feature_test(fv, len, even + 1);
}

/* Only even bits matter: BOLT #1's receiver ignores unknown odd bits and closes the
 * connection on unknown even ones (peer_msg.c). */
bool ph_feature_unknown_even(const uint8_t *fv, size_t len, const uint8_t *known,
                             size_t known_len, unsigned *bit)
{
    for (unsigned b = 0; fv && b < 8 * len; b += 2) {
        if (!ph_feature_test(fv, len, b))
            continue;
        bool ok = known ? ph_feature_offered(known, known_len, b) : ph_feature_find_bit(b) != NULL;
        if (!ok) {
            if (bit)
                *bit = b;
            return true;
        }
    }
    return false;
}

/* BOLT #1: MUST combine (bitwise OR) the two feature bitmaps into one logical
 * `features` map. */
ph_err ph_feature_or(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = alen > blen ? alen : blen;
    if ((!a && alen) || (!b && blen) || (!out && n) || cap < n || !out_len)
        return PH_ERR_ARG;
    for (size_t i = 0; i < n; i++) { /* i counts from the last byte */
        uint8_t x = i < alen ? a[alen - 1 - i] : 0;
        uint8_t y = i < blen ? b[blen - 1 - i] : 0;
        out[n - 1 - i] = x | y;
    }
    *out_len = n;
    return PH_OK;
}

size_t ph_feature_describe(const uint8_t *fv, size_t len, char *buf, size_t cap)
{
    struct ph_sb b = {buf, buf ? cap : 0, 0};
    if (b.cap)
        buf[0] = '\0';
    bool first = true;
    for (unsigned bit = 0; fv && bit < 8 * len; bit++) {
        if (!ph_feature_test(fv, len, bit))
            continue;
        const ph_feature_desc *d = ph_feature_find_bit(bit);
        ph_sb_printf(&b, "%s", first ? "" : ",");
        if (d)
            ph_sb_printf(&b, "%s%c", d->name, (bit & 1) ? '?' : '!');
        else
            ph_sb_printf(&b, "bit%u", bit);
        first = false;
    }
    if (first)
        ph_sb_printf(&b, "none");
    return b.len;
}
