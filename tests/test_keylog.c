/* Key logs: format, parser, appending writer, and the end-to-end use: a key
 * log written during a session decrypts that session's captured bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keylog.h"
#include "noise.h"
#include "ph_test.h"

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s)
{
    *s += 1;
    return mix64(*s);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(mix64(seed * 0x10001 + i / 8) >> (8 * (i % 8)));
}

/* A scratch directory under /tmp, removed by the teardown. */
struct tmp {
    char dir[64];
    char path[3][96];
};

static int tmp_setup(void **state)
{
    if (ph_noise_global_init() != PH_OK)
        return -1;
    struct tmp *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    strcpy(t->dir, "/tmp/ph_keylog_test_XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        snprintf(t->path[i], sizeof t->path[i], "%s/k%d.log", t->dir, i);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    for (int i = 0; i < 3; i++)
        unlink(t->path[i]);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void test_format(void **state)
{
    (void)state;
    uint8_t mac[16], key[32];
    for (int i = 0; i < 16; i++)
        mac[i] = (uint8_t)(i * 17);
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(0xa0 + i);
    char line[PH_KEYLOG_LINE_LEN + 1];
    memset(line, 'X', sizeof line);
    ph_keylog_format(line, mac, key);
    assert_string_equal(line, "00112233445566778899aabbccddeeff "
                              "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n");
    assert_int_equal(strlen(line), PH_KEYLOG_LINE_LEN);
}

static void test_parse_round_trip(void **state)
{
    (void)state;
    enum { N = 50 };
    static uint8_t macs[N][16], keys[N][32];
    size_t cap = N * (PH_KEYLOG_LINE_LEN + 4) + 200, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "# peerheap key log\n\n");
    for (int i = 0; i < N; i++) {
        fill(macs[i], 16, (uint64_t)i);
        fill(keys[i], 32, (uint64_t)i + 1000);
        char line[PH_KEYLOG_LINE_LEN + 1];
        ph_keylog_format(line, macs[i], keys[i]);
        if (i % 7 == 3) { /* CRLF files and trailing blanks are tolerated */
            line[PH_KEYLOG_LINE_LEN - 1] = '\0';
            len += (size_t)snprintf(text + len, cap - len, "%s \r\n", line);
        } else {
            memcpy(text + len, line, PH_KEYLOG_LINE_LEN);
            len += PH_KEYLOG_LINE_LEN;
        }
        if (i % 10 == 0)
            len += (size_t)snprintf(text + len, cap - len, "   \n#comment %d\n", i);
    }
    len--; /* the last line without its newline */
    ph_keylog *kl;
    unsigned long bad = 99;
    assert_int_equal(ph_keylog_parse(&kl, text, len, &bad), PH_OK);
    assert_int_equal(bad, 0);
    assert_int_equal(ph_keylog_count(kl), N);
    for (int i = 0; i < N; i++) {
        const uint8_t *k = ph_keylog_find(kl, macs[i]);
        assert_non_null(k);
        assert_memory_equal(k, keys[i], 32);
    }
    uint8_t other[16] = {0};
    assert_null(ph_keylog_find(kl, other));
    ph_keylog_destroy(kl);
    free(text);

    /* An empty log is valid and finds nothing. */
    assert_int_equal(ph_keylog_parse(&kl, "", 0, &bad), PH_OK);
    assert_int_equal(ph_keylog_count(kl), 0);
    assert_null(ph_keylog_find(kl, other));
    ph_keylog_destroy(kl);
}

static void test_duplicates_and_case(void **state)
{
    (void)state;
    /* the same MAC twice: counted once, the first line's key wins; upper
     * case hex is read too */
    const char *text =
        "0123456789abcdef0123456789abcdef 1111111111111111111111111111111111111111111111111111111111111111\n"
        "0123456789ABCDEF0123456789ABCDEF 2222222222222222222222222222222222222222222222222222222222222222\n"
        "ffffffffffffffffffffffffffffffff 3333333333333333333333333333333333333333333333333333333333333333\n"
        "0123456789abcdef0123456789abcdef 1111111111111111111111111111111111111111111111111111111111111111\n";
    ph_keylog *kl;
    unsigned long bad;
    assert_int_equal(ph_keylog_parse(&kl, text, strlen(text), &bad), PH_OK);
    assert_int_equal(ph_keylog_count(kl), 2);
    static const uint8_t mac[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    const uint8_t *k = ph_keylog_find(kl, mac);
    assert_non_null(k);
    assert_int_equal(k[0], 0x11);
    assert_int_equal(k[31], 0x11);
    ph_keylog_destroy(kl);
}

#define MAC1 "00112233445566778899aabbccddeeff"
#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MAC2 "ffeeddccbbaa99887766554433221100"
#define KEY2 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define GOOD MAC1 " " KEY1

static const uint8_t MAC1_BIN[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t MAC2_BIN[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                                     0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};

/* Key logs as they are found: every key is used, every other line is a
 * warning with its number, nothing fails. Before, any one of these lines
 * rejected the whole key log. */
static void test_tolerant_lines(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t keys;
        size_t warnings;
        unsigned long first;                  /* first warned line */
        enum ph_keylog_warning_kind kind;     /* its kind */
    } cases[] = {
        {"xyz\n", 0, 1, 1, PH_KEYLOG_WARN_NO_KEY},
        {GOOD "\n# c\n\n00112233445566778899aabbccddeef " GOOD "\n", 1, 0, 0, 0}, /* junk, then a key */
        {GOOD "\n" GOOD "0\n", 1, 1, 2, PH_KEYLOG_WARN_MALFORMED},               /* long key */
        {GOOD "\n" MAC2 "  " KEY2 "\n", 2, 0, 0, 0},                             /* two blanks */
        {GOOD "\n" MAC2 " " KEY2 " zz extra\n", 2, 0, 0, 0},                      /* extra field */
        {"\n\n" MAC1 " 0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 0, 1,
         3, PH_KEYLOG_WARN_MALFORMED},                                            /* not hex */
        {"   " GOOD "\n", 1, 0, 0, 0},                                            /* leading blanks */
        {MAC1 "\n", 0, 1, 1, PH_KEYLOG_WARN_MALFORMED},                            /* no key */
        {GOOD "\n" MAC2 "\t" KEY2 "\n", 2, 0, 0, 0},                              /* tab */
        {GOOD "\n" MAC2 " a0a1a2a3a4a5a6a7a8a9", 1, 1, 2, PH_KEYLOG_WARN_PARTIAL}, /* cut last line */
        {GOOD "\n" MAC2 " " KEY2, 2, 0, 0, 0},                                    /* no newline, whole */
        {"2026-11-30T08:00:01.123Z " GOOD "\n", 1, 0, 0, 0},                      /* timestamp */
        {"Nov 30 08:00:01 host lnd[1234]: [DBG] BRONTIDE: keylog " GOOD "\n"
         "Nov 30 08:00:02 host lnd[1234]: [INF] PEER: connected\n"
         "Nov 30 08:00:03 host lnd[1234]: [DBG] BRONTIDE: keylog " MAC2 " " KEY2 "\n",
         2, 1, 2, PH_KEYLOG_WARN_NO_KEY},                                         /* a log file */
        {GOOD " " MAC2 " " KEY2 "\n", 2, 0, 0, 0},                                /* two on a line */
        {GOOD "\r\n" MAC2 " " KEY2 "\r\n", 2, 0, 0, 0},                           /* CRLF */
        {"\xef\xbb\xbf" GOOD "\n", 1, 0, 0, 0},                                   /* UTF-8 BOM */
        {GOOD "\n" GOOD "\n", 1, 0, 0, 0},                                        /* repeated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ph_keylog *kl = NULL;
        unsigned long first = 99;
        assert_int_equal(ph_keylog_parse(&kl, cases[i].text, strlen(cases[i].text), &first),
                         PH_OK);
        if (ph_keylog_count(kl) != cases[i].keys || ph_keylog_warning_count(kl) != cases[i].warnings)
            fail_msg("case %zu: %zu keys, %zu warnings; want %zu, %zu", i, ph_keylog_count(kl),
                     ph_keylog_warning_count(kl), cases[i].keys, cases[i].warnings);
        assert_int_equal(first, cases[i].first);
        if (cases[i].warnings)
            assert_int_equal(ph_keylog_warning(kl, 0)->kind, cases[i].kind);
        if (cases[i].keys)
            assert_non_null(ph_keylog_find(kl, MAC1_BIN) ? ph_keylog_find(kl, MAC1_BIN)
                                                         : ph_keylog_find(kl, MAC2_BIN));
        ph_keylog_destroy(kl);
    }
}

/* UTF-16 as PowerShell's `>` writes it (little-endian with a BOM), and
 * both byte orders without a BOM; binary data finds nothing and says so. */
static void test_encodings(void **state)
{
    (void)state;
    const char *text = GOOD "\r\n" MAC2 " " KEY2 "\r\n";
    size_t n = strlen(text);
    for (int variant = 0; variant < 4; variant++) {
        bool be = variant & 1, bom = variant < 2;
        uint8_t *u = malloc(2 * n + 2);
        assert_non_null(u);
        size_t k = 0;
        if (bom) {
            u[k++] = be ? 0xfe : 0xff;
            u[k++] = be ? 0xff : 0xfe;
        }
        for (size_t i = 0; i < n; i++) {
            u[k++] = be ? 0 : (uint8_t)text[i];
            u[k++] = be ? (uint8_t)text[i] : 0;
        }
        ph_keylog *kl = NULL;
        assert_int_equal(ph_keylog_parse(&kl, (const char *)u, k, NULL), PH_OK);
        assert_int_equal(ph_keylog_count(kl), 2);
        assert_int_equal(ph_keylog_warning_count(kl), 0);
        assert_int_equal(ph_keylog_encoding(kl), be ? PH_KEYLOG_UTF16BE : PH_KEYLOG_UTF16LE);
        const uint8_t *key = ph_keylog_find(kl, MAC2_BIN);
        assert_non_null(key);
        assert_int_equal(key[0], 0xa0);
        assert_int_equal(key[31], 0xbf);
        ph_keylog_destroy(kl);
        free(u);
    }
    static const uint8_t bin[] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, '\n', 7, 0};
    ph_keylog *kl = NULL;
    assert_int_equal(ph_keylog_parse(&kl, (const char *)bin, sizeof bin, NULL), PH_OK);
    assert_int_equal(ph_keylog_count(kl), 0);
    assert_int_equal(ph_keylog_encoding(kl), PH_KEYLOG_BINARY);
    ph_keylog_destroy(kl);
}

/* Many warnings: the first PH_KEYLOG_MAX_WARNINGS kept, all counted, and
 * keys among them still found. */
static void test_many_warnings(void **state)
{
    (void)state;
    size_t lines = 5000;
    char *t = malloc(lines * 40 + 200);
    assert_non_null(t);
    size_t len = 0;
    for (size_t i = 0; i < lines; i++)
        len += (size_t)sprintf(t + len, "log line %zu of a busy node\n", i);
    len += (size_t)sprintf(t + len, "%s\n", GOOD);
    ph_keylog *kl = NULL;
    unsigned long first = 0;
    assert_int_equal(ph_keylog_parse(&kl, t, len, &first), PH_OK);
    assert_int_equal(ph_keylog_count(kl), 1);
    assert_int_equal(ph_keylog_warning_count(kl), lines);
    assert_int_equal(first, 1);
    assert_int_equal(ph_keylog_warning(kl, PH_KEYLOG_MAX_WARNINGS - 1)->line,
                     PH_KEYLOG_MAX_WARNINGS);
    assert_null(ph_keylog_warning(kl, PH_KEYLOG_MAX_WARNINGS));
    assert_int_equal(ph_keylog_lines(kl), lines + 1);
    ph_keylog_destroy(kl);
    free(t);
}

static void test_writer_file(void **state)
{
    struct tmp *t = *state;
    mode_t old = umask(022);
    ph_keylog_writer *w;
    uint8_t mac[3][16], key[3][32];
    for (int i = 0; i < 3; i++) {
        fill(mac[i], 16, (uint64_t)i + 7);
        fill(key[i], 32, (uint64_t)i + 70);
    }
    assert_int_equal(ph_keylog_writer_open(&w, t->path[0]), PH_OK);
    assert_int_equal(ph_keylog_writer_add(w, mac[0], key[0]), PH_OK);
    ph_keylog_writer_cb(w, mac[1], key[1]);
    assert_int_equal(ph_keylog_writer_errors(w), 0);
    ph_keylog_writer_close(w);
    umask(old);

    struct stat st;
    assert_int_equal(stat(t->path[0], &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 2 * PH_KEYLOG_LINE_LEN);

    /* reopening appends */
    assert_int_equal(ph_keylog_writer_open(&w, t->path[0]), PH_OK);
    assert_int_equal(ph_keylog_writer_add(w, mac[2], key[2]), PH_OK);
    ph_keylog_writer_close(w);
    assert_int_equal(stat(t->path[0], &st), 0);
    assert_int_equal(st.st_size, 3 * PH_KEYLOG_LINE_LEN);

    ph_keylog *kl;
    unsigned long bad;
    assert_int_equal(ph_keylog_load(&kl, t->path[0], &bad), PH_OK);
    assert_int_equal(ph_keylog_count(kl), 3);
    for (int i = 0; i < 3; i++)
        assert_memory_equal(ph_keylog_find(kl, mac[i]), key[i], 32);
    ph_keylog_destroy(kl);

    /* the lines on disk are exactly the formatted ones */
    FILE *f = fopen(t->path[0], "r");
    assert_non_null(f);
    char got[PH_KEYLOG_LINE_LEN + 2], want[PH_KEYLOG_LINE_LEN + 1];
    for (int i = 0; i < 3; i++) {
        assert_non_null(fgets(got, sizeof got, f));
        ph_keylog_format(want, mac[i], key[i]);
        assert_string_equal(got, want);
    }
    fclose(f);

    /* I/O errors */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such/dir/k.log", t->dir);
    assert_int_equal(ph_keylog_writer_open(&w, missing), PH_ERR_IO);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(ph_keylog_load(&kl, missing, &bad), PH_ERR_IO);
    assert_null(kl);

    /* a line without a key in a file is a warning, by number */
    f = fopen(t->path[1], "w");
    assert_non_null(f);
    fputs("# x\n\nnot a key line\n", f);
    fclose(f);
    assert_int_equal(ph_keylog_load(&kl, t->path[1], &bad), PH_OK);
    assert_int_equal(bad, 3);
    assert_int_equal(ph_keylog_count(kl), 0);
    ph_keylog_destroy(kl);
}

/* ---- a session decrypted from its key log --------------------------------- */

#define SESSION_MSGS 1200u /* per direction: two rotations each way */

struct stream {
    uint8_t *b;
    size_t len, cap;
};

static void stream_add(struct stream *s, const uint8_t *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->b = realloc(s->b, s->cap);
        assert_non_null(s->b);
    }
    memcpy(s->b + s->len, p, n);
    s->len += n;
}

static size_t msg_len(int d, uint64_t i)
{
    if (i % 211 == 17)
        return PH_NOISE_MAX_MSG;
    if (i % 50 == 9)
        return 0;
    return (size_t)(mix64((uint64_t)d << 32 | i) % 2000);
}

static void msg_fill(uint8_t *p, int d, uint64_t i, size_t len)
{
    fill(p, len, (uint64_t)d << 40 | i);
}

/* Both peers log their keys (as two nodes on one machine might, into one
 * file): the file holds every key twice, the parsed log once. */
static void run_session(const char *log, struct stream *i2r, struct stream *r2i)
{
    uint8_t ipriv[32], rpriv[32], rpub[33], act[PH_NOISE_ACT3_LEN];
    memset(ipriv, 0x5a, 32);
    memset(rpriv, 0xa5, 32);
    assert_int_equal(ph_noise_pubkey(rpriv, rpub), PH_OK);
    ph_noise_hs *hi, *hr;
    assert_int_equal(ph_noise_hs_create(&hi, ipriv, rpub, NULL), PH_OK);
    assert_int_equal(ph_noise_hs_create(&hr, rpriv, NULL, NULL), PH_OK);
    assert_int_equal(ph_noise_act1_write(hi, act), PH_OK);
    stream_add(i2r, act, PH_NOISE_ACT1_LEN);
    assert_int_equal(ph_noise_act1_read(hr, act, PH_NOISE_ACT1_LEN), PH_OK);
    assert_int_equal(ph_noise_act2_write(hr, act), PH_OK);
    stream_add(r2i, act, PH_NOISE_ACT2_LEN);
    assert_int_equal(ph_noise_act2_read(hi, act, PH_NOISE_ACT2_LEN), PH_OK);
    assert_int_equal(ph_noise_act3_write(hi, act), PH_OK);
    stream_add(i2r, act, PH_NOISE_ACT3_LEN);
    assert_int_equal(ph_noise_act3_read(hr, act, PH_NOISE_ACT3_LEN), PH_OK);
    ph_noise *n[2];
    assert_int_equal(ph_noise_hs_finish(hi, &n[0]), PH_OK);
    assert_int_equal(ph_noise_hs_finish(hr, &n[1]), PH_OK);
    ph_noise_hs_destroy(hi);
    ph_noise_hs_destroy(hr);

    ph_keylog_writer *w[2];
    for (int s = 0; s < 2; s++) {
        assert_int_equal(ph_keylog_writer_open(&w[s], log), PH_OK);
        ph_noise_set_key_cb(n[s], ph_keylog_writer_cb, w[s]);
    }
    uint8_t *msg = malloc(PH_NOISE_MAX_MSG), *frame = malloc(PH_NOISE_MAX_MSG + PH_NOISE_OVERHEAD);
    assert_non_null(msg);
    assert_non_null(frame);
    for (uint64_t i = 0; i < SESSION_MSGS; i++) {
        for (int d = 0; d < 2; d++) {
            size_t len = msg_len(d, i);
            msg_fill(msg, d, i, len);
            assert_int_equal(ph_noise_encrypt(n[d], msg, len, frame), PH_OK);
            stream_add(d ? r2i : i2r, frame, len + PH_NOISE_OVERHEAD);
            /* the receiving peer decrypts too, so that it logs its receive keys */
            size_t used, mlen, need;
            const uint8_t *out;
            assert_int_equal(ph_noise_decrypt_feed(n[1 - d], frame, len + PH_NOISE_OVERHEAD, &used,
                                                   &out, &mlen, &need),
                             PH_OK);
            assert_int_equal(mlen, len);
        }
    }
    for (int s = 0; s < 2; s++) {
        assert_int_equal(ph_keylog_writer_errors(w[s]), 0);
        ph_keylog_writer_close(w[s]);
        ph_noise_destroy(n[s]);
    }
    free(msg);
    free(frame);
}

/* Decrypt one direction's captured bytes with nothing but the key log:
 * every key is found by the MAC in bytes 2..17 of the next frame. Returns
 * the number of keys used. */
static int decode_stream(const ph_keylog *kl, const struct stream *s, size_t skip, int d,
                         uint64_t *rng)
{
    ph_noise *n;
    assert_int_equal(ph_noise_create_from_keys(&n, NULL, NULL, NULL, NULL), PH_OK);
    uint8_t *expect = malloc(PH_NOISE_MAX_MSG);
    assert_non_null(expect);
    size_t pos = skip;
    uint64_t msgs = 0;
    int keys = 0;
    while (pos < s->len) {
        size_t piece = 1 + (size_t)(rnd(rng) % 9000);
        if (piece > s->len - pos)
            piece = s->len - pos;
        size_t used, mlen, need;
        const uint8_t *msg;
        ph_err err = ph_noise_decrypt_feed(n, s->b + pos, piece, &used, &msg, &mlen, &need);
        if (err == PH_ERR_NOISE_NEED_KEY) {
            assert_int_equal(used, 0);
            assert_true(s->len - pos >= PH_NOISE_HDR_LEN);
            const uint8_t *key = ph_keylog_find(kl, s->b + pos + 2);
            assert_non_null(key);
            assert_int_equal(ph_noise_set_recv_key(n, key), PH_OK);
            keys++;
            continue;
        }
        assert_int_equal(err, PH_OK);
        pos += used;
        if (!msg)
            continue;
        size_t want = msg_len(d, msgs);
        assert_int_equal(mlen, want);
        msg_fill(expect, d, msgs, want);
        assert_memory_equal(msg, expect, want);
        msgs++;
    }
    assert_int_equal(msgs, SESSION_MSGS);
    free(expect);
    ph_noise_destroy(n);
    return keys;
}

/* The writer's and loader's failure paths: arguments, a device that takes
 * nothing (/dev/full: the error is returned and counted, also through the
 * callback), a path that cannot be read (a directory), and a key log that
 * is longer than its size said when it was opened (a FIFO: size 0). */
static void test_writer_and_loader_failures(void **state)
{
    (void)state;
    uint8_t mac[16] = {1}, key[32] = {2};
    ph_keylog_writer *w = NULL;
    assert_int_equal(ph_keylog_writer_open(NULL, "/dev/null"), PH_ERR_ARG);
    assert_int_equal(ph_keylog_writer_open(&w, NULL), PH_ERR_ARG);
    assert_int_equal(ph_keylog_writer_add(NULL, mac, key), PH_ERR_ARG);
    assert_int_equal(ph_keylog_writer_open(&w, "/dev/full"), PH_OK);
    assert_int_equal(ph_keylog_writer_add(w, mac, key), PH_ERR_IO);
    ph_keylog_writer_cb(w, mac, key);
    assert_int_equal(ph_keylog_writer_errors(w), 2);
    ph_keylog_writer_close(w);
    ph_keylog_writer_close(NULL);

    ph_keylog *kl = NULL;
    unsigned long bad = 0;
    assert_int_equal(ph_keylog_parse(NULL, "", 0, &bad), PH_ERR_ARG);
    assert_int_equal(ph_keylog_load(NULL, "x", &bad), PH_ERR_ARG);
    assert_int_equal(ph_keylog_load(&kl, "/", &bad), PH_ERR_IO);
    assert_null(kl);

    char dir[] = "/tmp/ph-keylog-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[64];
    snprintf(fifo, sizeof fifo, "%s/keys", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char line[PH_KEYLOG_LINE_LEN + 1];
    ph_keylog_format(line, mac, key);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = fopen(fifo, "w");
        for (int i = 0; f && i < 3; i++)
            fprintf(f, "# a comment line\n%s", line);
        _exit(f && fclose(f) == 0 ? 0 : 1);
    }
    ph_test_watchdog("the key log from a FIFO");
    assert_int_equal(ph_keylog_load(&kl, fifo, &bad), PH_OK);
    ph_test_watchdog(NULL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(ph_keylog_count(kl), 1);
    assert_non_null(ph_keylog_find(kl, mac));
    ph_keylog_destroy(kl);
    unlink(fifo);
    rmdir(dir);
}

static void test_session_from_key_log(void **state)
{
    struct tmp *t = *state;
    struct stream i2r = {0}, r2i = {0};
    run_session(t->path[2], &i2r, &r2i);

    struct stat st;
    assert_int_equal(stat(t->path[2], &st), 0);
    assert_int_equal(st.st_mode & 0077, 0); /* a key log is private whatever the umask */
    /* 3 keys per direction (initial + rotations after 500 and 1000), logged
     * by both peers */
    assert_int_equal(st.st_size, 12 * PH_KEYLOG_LINE_LEN);

    ph_keylog *kl;
    unsigned long bad;
    assert_int_equal(ph_keylog_load(&kl, t->path[2], &bad), PH_OK);
    assert_int_equal(ph_keylog_count(kl), 6);

    uint64_t rng = 99;
    assert_int_equal(decode_stream(kl, &i2r, PH_NOISE_ACT1_LEN + PH_NOISE_ACT3_LEN, 0, &rng), 3);
    assert_int_equal(decode_stream(kl, &r2i, PH_NOISE_ACT2_LEN, 1, &rng), 3);

    /* without the log's rotated keys the capture stops at the rotation */
    ph_noise *n;
    assert_int_equal(ph_noise_create_from_keys(&n, NULL, NULL, NULL, NULL), PH_OK);
    const uint8_t *first = ph_keylog_find(kl, r2i.b + PH_NOISE_ACT2_LEN + 2);
    assert_non_null(first);
    assert_int_equal(ph_noise_set_recv_key(n, first), PH_OK);
    size_t pos = PH_NOISE_ACT2_LEN, used, mlen, need;
    const uint8_t *msg;
    ph_err err;
    uint64_t msgs = 0;
    while ((err = ph_noise_decrypt_feed(n, r2i.b + pos, r2i.len - pos, &used, &msg, &mlen,
                                        &need)) == PH_OK) {
        pos += used;
        msgs += msg != NULL;
    }
    assert_int_equal(err, PH_ERR_NOISE_NEED_KEY);
    assert_int_equal(msgs, PH_NOISE_ROTATE_AT / 2);
    ph_noise_destroy(n);

    ph_keylog_destroy(kl);
    free(i2r.b);
    free(r2i.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_duplicates_and_case),
        cmocka_unit_test(test_tolerant_lines),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_many_warnings),
        cmocka_unit_test(test_writer_file),
        cmocka_unit_test(test_writer_and_loader_failures),
        cmocka_unit_test(test_session_from_key_log),
    };
    return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
