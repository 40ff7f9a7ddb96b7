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

#define MAC_LEN 16u
#define KEY_LEN 32u
#define MAC_HEX (2 * MAC_LEN)
#define KEY_HEX (2 * KEY_LEN)

static const char hexdigits[] = "0123456789abcdef";

static void hex_lower(char *out, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[in[i] >> 4];
        out[2 * i + 1] = hexdigits[in[i] & 15];
    }
}

void ph_keylog_format(char line[PH_KEYLOG_LINE_LEN + 1], const uint8_t mac[16],
                      const uint8_t key[32])
{
    hex_lower(line, mac, MAC_LEN);
    line[MAC_HEX] = ' ';
    hex_lower(line + MAC_HEX + 1, key, KEY_LEN);
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
    (void)ph_keylog_writer_add(ctx, mac, key);
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
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool unhex(uint8_t *out, const char *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trailing blanks (and a CR from CRLF files) are tolerated; nothing else. */
static size_t trim_right(const char *s, size_t len)
{
    while (len && is_space(s[len - 1]))
        len--;
    return len;
}

static bool parse_line(struct entry *e, const char *s, size_t len)
{
    if (len != MAC_HEX + 1 + KEY_HEX || s[MAC_HEX] != ' ')
        return false;
    return unhex(e->mac, s, MAC_LEN) && unhex(e->key, s + MAC_HEX + 1, KEY_LEN);
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
    kl->n = w;
}

static size_t count_lines(const char *text, size_t len)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    return lines;
}

ph_err ph_keylog_parse(ph_keylog **out, const char *text, size_t len, unsigned long *bad_line)
{
    if (!out || (len && !text))
        return PH_ERR_ARG;
    *out = NULL;
    if (bad_line)
        *bad_line = 0;
    ph_keylog *kl = calloc(1, sizeof *kl);
    if (!kl)
        return PH_ERR_NOMEM;
    kl->cap = count_lines(text, len);
    kl->v = calloc(kl->cap, sizeof *kl->v);
    if (!kl->v) {
        free(kl);
        return PH_ERR_NOMEM;
    }
    unsigned long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t raw = nl ? (size_t)(nl - s) : len - pos;
        pos += raw + (nl != NULL);
        lineno++;
        size_t l = trim_right(s, raw);
        if (l == 0 || s[0] == '#')
            continue;
        kl->v[kl->n].line = lineno;
        if (!parse_line(&kl->v[kl->n], s, l)) {
            if (bad_line)
                *bad_line = lineno;
            ph_keylog_destroy(kl);
            return PH_ERR_KEYLOG_FORMAT;
        }
        kl->n++;
    }
    sort_unique(kl);
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

ph_err ph_keylog_load(ph_keylog **out, const char *path, unsigned long *bad_line)
{
    if (!out || !path)
        return PH_ERR_ARG;
    *out = NULL;
    if (bad_line)
        *bad_line = 0;
    char *text;
    size_t len;
    ph_err err = read_all(path, &text, &len);
    if (err)
        return err;
    err = ph_keylog_parse(out, text, len, bad_line);
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
    struct entry probe;
    memcpy(probe.mac, mac, MAC_LEN);
    const struct entry *e = bsearch(&probe, kl->v, kl->n, sizeof *kl->v, mac_cmp);
    return e ? e->key : NULL;
}
