/* BOLT 8 key logs: "<mac hex> <key hex>" lines. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keylog.h"

#include "byteorder.h"

#include "hex.h"

#define MAC_LEN 16u
#define KEY_LEN 32u
#define MAC_HEX (2 * MAC_LEN)
#define KEY_HEX (2 * KEY_LEN)

void ph_keylog_format(char line[PH_KEYLOG_LINE_LEN + 1], const uint8_t mac[16],
                      const uint8_t key[32])
{
    /* Each encode ends in a NUL, overwritten by the separator and the
     * newline that follow. */
    ph_hex_encode(mac, MAC_LEN, line);
    line[MAC_HEX] = ' ';
    ph_hex_encode(key, KEY_LEN, line + MAC_HEX + 1);
    line[PH_KEYLOG_LINE_LEN - 1] = '\n';
    line[PH_KEYLOG_LINE_LEN] = '\0';
}

/* ---- writer ------------------------------------------------------------- */

struct ph_keylog_writer {
    int fd;
    unsigned long errors;
};

ph_err ph_keylog_writer_open(ph_keylog_writer **out, const char *path)
{
    if (!out || !path)
        return PH_ERR_ARG;
    *out = NULL;
    ph_keylog_writer *w = calloc(1, sizeof *w);
    if (!w)
        return PH_ERR_NOMEM;
    w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        int e = errno;
        free(w);
        errno = e;
        return PH_ERR_IO;
    }
    *out = w;
    return PH_OK;
}

ph_err ph_keylog_writer_add(ph_keylog_writer *w, const uint8_t mac[16], const uint8_t key[32])
{
    if (!w || !mac || !key)
        return PH_ERR_ARG;
    char line[PH_KEYLOG_LINE_LEN + 1];
    ph_keylog_format(line, mac, key);
    /* One write() per line: with O_APPEND, concurrent writers' lines never
     * interleave. The loop only matters for the rare short write. */
    size_t done = 0;
    ph_err err = PH_OK;
    while (done < PH_KEYLOG_LINE_LEN) {
        ssize_t k = write(w->fd, line + done, PH_KEYLOG_LINE_LEN - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            err = PH_ERR_IO;
            break;
        }
        done += (size_t)k;
    }
    int e = errno;
    sodium_memzero(line, sizeof line);
    errno = e;
    if (err)
        w->errors++;
    return err;
}

void ph_keylog_writer_close(ph_keylog_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    free(w);
}

void ph_keylog_writer_cb(void *ctx, const uint8_t mac[16], const uint8_t key[32])
{
    /* The writer counts its failures (ph_keylog_writer_errors) for the
     * caller to report; a callback has nowhere else to put them. */
    ph_ignore_err(ph_keylog_writer_add(ctx, mac, key));
}

unsigned long ph_keylog_writer_errors(const ph_keylog_writer *w)
{
    return w ? w->errors : 0;
}

/* ---- parsed log --------------------------------------------------------- */

struct entry {
    uint8_t mac[16];
    uint8_t key[32];
    unsigned long line; /* orders repeated MACs so that the first line wins */
};

struct ph_keylog {
    struct entry *v; /* sorted by mac, unique macs */
    size_t n;
    size_t cap;
    uint8_t prefix[8192]; /* bit per 16-bit MAC prefix present */
    struct ph_keylog_warning warn[PH_KEYLOG_MAX_WARNINGS];
    size_t nwarn;
    unsigned long lines;
    enum ph_keylog_encoding enc;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_word(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int mac_cmp(const void *a, const void *b)
{
    return memcmp(((const struct entry *)a)->mac, ((const struct entry *)b)->mac, MAC_LEN);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = mac_cmp(x, y);
    if (c)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

/* Sort by MAC and drop repeated MACs (the same key logged twice, e.g. by
 * both ends of a session or by appending runs); the first line wins. */
static void sort_unique(ph_keylog *kl)
{
    if (kl->n < 2)
        return;
    qsort(kl->v, kl->n, sizeof *kl->v, entry_cmp);
    size_t w = 1;
    for (size_t r = 1; r < kl->n; r++) {
        if (memcmp(kl->v[r].mac, kl->v[w - 1].mac, MAC_LEN) == 0)
            continue;
        kl->v[w++] = kl->v[r];
    }
    sodium_memzero(kl->v + w, (kl->n - w) * sizeof *kl->v);
    kl->n = w;
}

static ph_err add_entry(ph_keylog *kl, const char *mac_hex, const char *key_hex,
                        unsigned long line)
{
    if (kl->n == kl->cap) {
        size_t cap = kl->cap ? kl->cap * 2 : 64;
        struct entry *v = calloc(cap, sizeof *v);
        if (!v)
            return PH_ERR_NOMEM;
        if (kl->n)
            memcpy(v, kl->v, kl->n * sizeof *v);
        if (kl->v) {
            sodium_memzero(kl->v, kl->cap * sizeof *kl->v);
            free(kl->v);
        }
        kl->v = v;
        kl->cap = cap;
    }
    struct entry *e = &kl->v[kl->n];
    if (ph_hex_decode_into(mac_hex, MAC_LEN, e->mac) ||
        ph_hex_decode_into(key_hex, KEY_LEN, e->key))
        return PH_OK; /* callers only pass hex runs; kept for safety */
    e->line = line;
    kl->n++;
    return PH_OK;
}

static void warn(ph_keylog *kl, unsigned long line, enum ph_keylog_warning_kind kind)
{
    if (kl->nwarn < PH_KEYLOG_MAX_WARNINGS) {
        kl->warn[kl->nwarn].line = line;
        kl->warn[kl->nwarn].kind = kind;
    }
    kl->nwarn++;
}

/* Whether [p, p+n) is all hex. */
static bool all_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ph_hex_digit((unsigned char)p[i]) < 0)
            return false;
    return true;
}

/* Every "<32 hex> <64 hex>" pair of one line; how many were found, and
 * whether the line had a hex run long enough to be meant as a key. */
static ph_err scan_line(ph_keylog *kl, const char *s, size_t len, unsigned long line,
                        size_t *found, bool *keyish)
{
    *found = 0;
    *keyish = false;
    size_t i = 0;
    while (i < len) {
        while (i < len && !is_word(s[i]))
            i++;
        size_t a = i;
        while (i < len && is_word(s[i]))
            i++;
        size_t alen = i - a;
        if (alen >= MAC_HEX && all_hex(s + a, alen))
            *keyish = true;
        if (alen != MAC_HEX || !all_hex(s + a, alen))
            continue;
        size_t j = i;
        while (j < len && is_blank(s[j]))
            j++;
        if (j == i)
            continue;
        size_t b = j;
        while (j < len && is_word(s[j]))
            j++;
        if (j - b != KEY_HEX || !all_hex(s + b, KEY_HEX))
            continue;
        ph_err e = add_entry(kl, s + a, s + b, line);
        if (e)
            return e;
        (*found)++;
        i = j;
    }
    return PH_OK;
}

static ph_err parse_text(ph_keylog *kl, const char *text, size_t len)
{
    unsigned long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t raw = nl ? (size_t)(nl - s) : len - pos;
        pos += raw + (nl != NULL);
        lineno++;
        size_t lead = 0;
        while (lead < raw && is_blank(s[lead]))
            lead++;
        if (lead == raw || s[lead] == '#')
            continue;
        size_t found;
        bool keyish;
        ph_err e = scan_line(kl, s, raw, lineno, &found, &keyish);
        if (e)
            return e;
        if (found)
            continue;
        warn(kl, lineno, !nl ? PH_KEYLOG_WARN_PARTIAL
                         : keyish ? PH_KEYLOG_WARN_MALFORMED : PH_KEYLOG_WARN_NO_KEY);
    }
    kl->lines = lineno;
    return PH_OK;
}

/* UTF-16 without a BOM: NUL bytes on one side of nearly every code unit. */
static enum ph_keylog_encoding sniff_utf16(const uint8_t *p, size_t len)
{
    size_t n = len < 512 ? len : 512, units = n / 2, zero_even = 0, zero_odd = 0;
    if (units < 8)
        return PH_KEYLOG_TEXT;
    for (size_t i = 0; i + 1 < n; i += 2) {
        zero_even += p[i] == 0;
        zero_odd += p[i + 1] == 0;
    }
    if (zero_odd * 10 >= units * 9 && zero_even * 10 < units)
        return PH_KEYLOG_UTF16LE;
    if (zero_even * 10 >= units * 9 && zero_odd * 10 < units)
        return PH_KEYLOG_UTF16BE;
    return PH_KEYLOG_TEXT;
}

/* The text as 8-bit characters: BOMs dropped, UTF-16 narrowed (anything
 * outside ASCII becomes '?', which no key contains). *conv is a copy to
 * wipe and free when one was made. */
static ph_err decode(ph_keylog *kl, const char *text, size_t len, const char **out,
                     size_t *out_len, char **conv)
{
    const uint8_t *u = (const uint8_t *)text;
    *conv = NULL;
    *out = text;
    *out_len = len;
    kl->enc = PH_KEYLOG_TEXT;
    size_t skip = 0;
    if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
        kl->enc = PH_KEYLOG_UTF8_BOM;
        *out = text + 3;
        *out_len = len - 3;
    } else if (len >= 2 && u[0] == 0xff && u[1] == 0xfe) {
        kl->enc = PH_KEYLOG_UTF16LE;
        skip = 2;
    } else if (len >= 2 && u[0] == 0xfe && u[1] == 0xff) {
        kl->enc = PH_KEYLOG_UTF16BE;
        skip = 2;
    } else {
        kl->enc = sniff_utf16(u, len);
    }
    if (kl->enc == PH_KEYLOG_UTF16LE || kl->enc == PH_KEYLOG_UTF16BE) {
        size_t units = (len - skip) / 2;
        char *c = malloc(units ? units : 1);
        if (!c)
            return PH_ERR_NOMEM;
        bool le = kl->enc == PH_KEYLOG_UTF16LE;
        for (size_t i = 0; i < units; i++) {
            const uint8_t *q = u + skip + 2 * i;
            unsigned v = le ? ph_le16(q) : ph_be16(q);
            c[i] = v < 0x80 ? (char)v : '?';
        }
        *conv = c;
        *out = c;
        *out_len = units;
        return PH_OK;
    }
    if (memchr(*out, '\0', *out_len))
        kl->enc = PH_KEYLOG_BINARY;
    return PH_OK;
}

ph_err ph_keylog_parse(ph_keylog **out, const char *text, size_t len,
                       unsigned long *first_warning)
{
    if (!out || (len && !text))
        return PH_ERR_ARG;
    *out = NULL;
    if (first_warning)
        *first_warning = 0;
    ph_keylog *kl = calloc(1, sizeof *kl);
    if (!kl)
        return PH_ERR_NOMEM;
    const char *t;
    size_t tlen;
    char *conv;
    ph_err e = decode(kl, text, len, &t, &tlen, &conv);
    if (!e)
        e = parse_text(kl, t, tlen);
    if (conv) {
        sodium_memzero(conv, tlen);
        free(conv);
    }
    if (e) {
        ph_keylog_destroy(kl);
        return e;
    }
    sort_unique(kl);
    for (size_t i = 0; i < kl->n; i++)
        kl->prefix[kl->v[i].mac[0] << 5 | kl->v[i].mac[1] >> 3] |=
            (uint8_t)(1u << (kl->v[i].mac[1] & 7));
    if (first_warning && kl->nwarn)
        *first_warning = kl->warn[0].line;
    *out = kl;
    return PH_OK;
}

static ph_err read_all(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PH_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return PH_ERR_IO;
    }
    /* Sized from fstat, grown if the file is still being appended to. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return PH_ERR_NOMEM;
    }
    for (;;) {
        if (n == cap) {
            char *nb = malloc(cap * 2);
            if (!nb) {
                sodium_memzero(b, n);
                free(b);
                close(fd);
                return PH_ERR_NOMEM;
            }
            memcpy(nb, b, n);
            sodium_memzero(b, n);
            free(b);
            b = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, b + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            sodium_memzero(b, n);
            free(b);
            close(fd);
            errno = e;
            return PH_ERR_IO;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    *buf = b;
    *len = n;
    return PH_OK;
}

ph_err ph_keylog_load(ph_keylog **out, const char *path, unsigned long *first_warning)
{
    if (!out || !path)
        return PH_ERR_ARG;
    *out = NULL;
    if (first_warning)
        *first_warning = 0;
    char *text;
    size_t len;
    ph_err err = read_all(path, &text, &len);
    if (err)
        return err;
    err = ph_keylog_parse(out, text, len, first_warning);
    sodium_memzero(text, len);
    free(text);
    return err;
}

void ph_keylog_destroy(ph_keylog *kl)
{
    if (!kl)
        return;
    if (kl->v) {
        sodium_memzero(kl->v, kl->cap * sizeof *kl->v);
        free(kl->v);
    }
    free(kl);
}

size_t ph_keylog_count(const ph_keylog *kl)
{
    return kl ? kl->n : 0;
}

const uint8_t *ph_keylog_find(const ph_keylog *kl, const uint8_t mac[16])
{
    if (!kl || !mac || !kl->n)
        return NULL;
    if (!(kl->prefix[mac[0] << 5 | mac[1] >> 3] & (1u << (mac[1] & 7))))
        return NULL;
    struct entry probe;
    memcpy(probe.mac, mac, MAC_LEN);
    const struct entry *e = bsearch(&probe, kl->v, kl->n, sizeof *kl->v, mac_cmp);
    return e ? e->key : NULL;
}

size_t ph_keylog_warning_count(const ph_keylog *kl) { return kl ? kl->nwarn : 0; }

const struct ph_keylog_warning *ph_keylog_warning(const ph_keylog *kl, size_t i)
{
    return kl && i < kl->nwarn && i < PH_KEYLOG_MAX_WARNINGS ? &kl->warn[i] : NULL;
}

unsigned long ph_keylog_lines(const ph_keylog *kl) { return kl ? kl->lines : 0; }
enum ph_keylog_encoding ph_keylog_encoding(const ph_keylog *kl)
{
    return kl ? kl->enc : PH_KEYLOG_TEXT;
}

const char *ph_keylog_encoding_name(enum ph_keylog_encoding e)
{
    switch (e) {
    case PH_KEYLOG_UTF8_BOM: return "UTF-8 with a BOM";
    case PH_KEYLOG_UTF16LE: return "UTF-16LE";
    case PH_KEYLOG_UTF16BE: return "UTF-16BE";
    case PH_KEYLOG_BINARY: return "binary";
    case PH_KEYLOG_TEXT: break;
    }
    return "";
}
