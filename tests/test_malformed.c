/* The malformed-input corpus in tests/malformed/: damaged captures, key
 * logs and .lnmsgs files, each listed in tests/malformed/MANIFEST with the
 * exit status peerheap gives it and the one line that says why (checked
 * word for word, under ASan too, by tests/e2e/malformed.sh).
 *
 * Every file is made here, by the project's own generators (tests/support/
 * lngen for real BOLT 8 sessions, capgen for file formats and link
 * layers), deterministically: `test_malformed --write DIR` writes them all,
 * and the test below checks that the committed corpus is exactly what the
 * generator writes, and that the library's verdict on each file (the worst
 * problem) is the exit status the manifest documents. Run from the
 * repository root (tests/run.sh does). `--write-fuzz-seeds DIR` writes the
 * capture seeds of tests/fuzz (tests/fuzz/seeds.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "capgen.h"
#include "lngen.h"
#include "lninput.h"

#define CORPUS "tests/malformed"

static char outdir[256];

static const char *out_path(const char *name)
{
    static char p[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", outdir, name);
    return p[k];
}

static void write_bytes(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(out_path(name), "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    *len = (size_t)st.st_size;
    return b;
}

static void write_text_file(const char *name, const char *text)
{
    write_bytes(name, text, strlen(text));
}

/* Each file starts from the same random stream and clock: the corpus does
 * not depend on the order it is written in. */
static void reset_gen(uint64_t seed)
{
    lngen_rng = 0x2545f4914f6cdd1dull ^ (seed * 0x9e3779b97f4a7c15ull);
    lngen_clock = 1700000000000000000ull;
}

struct sess {
    struct gen g;
    struct expect exp;
};

/* A small session (pings only) written as `name`, with `damage`; its key
 * log text returned (free). */
static char *small_session(const char *name, size_t n0, size_t n1, const struct gen *damage,
                           struct expect *exp_out, uint64_t seed)
{
    reset_gen(seed);
    struct gen g;
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, out_path(name), NULL), PH_OK);
    gen_open_opts(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", exp_out, damage);
    gen_traffic_small(&g, n0, n1);
    gen_close(&g, true);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    return keylog_text(&g.keys, -1, -1, false);
}

/* A small session with its key log beside it (NAME.keys). */
static void session_with_keys(const char *name, size_t n0, size_t n1, const struct gen *damage,
                              uint64_t seed)
{
    char *keys = small_session(name, n0, n1, damage, NULL, seed);
    char kn[256];
    snprintf(kn, sizeof kn, "%s.keys", name);
    write_text_file(kn, keys);
    free(keys);
}

/* Rewrites a pcapwrite capture record by record: `edit` may change record
 * k's frame in place (returns its new length) or drop it (returns 0). */
typedef size_t (*edit_fn)(size_t k, uint8_t *frame, size_t len, size_t cap);

static void rewrite(const char *from, const char *to, int linktype, uint32_t snaplen,
                    edit_fn edit)
{
    struct capgen_rec *r;
    size_t n = capgen_read_pcap(out_path(from), &r);
    capgen_pcap *w = capgen_pcap_open(out_path(to), linktype, snaplen, 0);
    for (size_t k = 0; k < n; k++) {
        size_t cap = r[k].len + 4096;
        uint8_t *f = malloc(cap);
        assert_non_null(f);
        memcpy(f, r[k].data, r[k].len);
        size_t len = edit ? edit(k, f, r[k].len, cap) : r[k].len;
        if (len) {
            uint32_t c = snaplen && len > snaplen ? snaplen : (uint32_t)len;
            capgen_pcap_rec(w, r[k].ts_ns, f, c, (uint32_t)len);
        }
        free(f);
    }
    capgen_pcap_close(w);
    capgen_free_recs(r, n);
}

/* TCP payload bytes of a record as pcapwrite writes it (Ethernet, IPv4). */
static size_t payload_len(const uint8_t *f, size_t len)
{
    if (len < 54)
        return 0;
    size_t doff = (size_t)(f[46] >> 4) * 4;
    return len > 34 + doff ? len - 34 - doff : 0;
}

static size_t target = 7; /* the record the edits below damage */

static size_t edit_doff(size_t k, uint8_t *f, size_t len, size_t cap)
{
    (void)cap;
    if (k == target)
        f[46] = 0x40; /* TCP data offset 16: shorter than a TCP header */
    return len;
}

static size_t edit_ihl(size_t k, uint8_t *f, size_t len, size_t cap)
{
    (void)cap;
    if (k == target)
        f[14] = 0x43; /* IHL 12: shorter than an IPv4 header */
    return len;
}

static size_t edit_totlen(size_t k, uint8_t *f, size_t len, size_t cap)
{
    (void)cap;
    if (k == target) {
        f[16] = 0x7f; /* total length far beyond the frame */
        f[17] = 0xff;
    }
    return len;
}

static size_t edit_options(size_t k, uint8_t *f, size_t len, size_t cap)
{
    (void)k;
    assert_true(len + 8 <= cap);
    /* IPv4 options: 8 bytes of NOPs and an end of options */
    memmove(f + 34 + 8, f + 34, len - 34);
    memset(f + 34, 1, 7);
    f[41] = 0;
    f[14] = 0x47;
    unsigned tot = (unsigned)(f[16] << 8 | f[17]) + 8;
    f[16] = (uint8_t)(tot >> 8);
    f[17] = (uint8_t)tot;
    return len + 8;
}

static size_t edit_vlan_bomb(size_t k, uint8_t *f, size_t len, size_t cap)
{
    if (k != target)
        return len;
    assert_true(len + 36 <= cap);
    memmove(f + 12 + 36, f + 12, len - 12);
    for (int t = 0; t < 9; t++) {
        f[12 + 4 * t] = 0x81;
        f[13 + 4 * t] = 0x00;
        f[14 + 4 * t] = 0;
        f[15 + 4 * t] = (uint8_t)t;
    }
    return len + 36;
}

static size_t edit_tunnel_bomb(size_t k, uint8_t *f, size_t len, size_t cap)
{
    if (k != target)
        return len;
    /* the frame wrapped in Ethernet-over-GRE ten times */
    uint8_t *a = malloc(cap), *b = malloc(cap);
    assert_non_null(a);
    assert_non_null(b);
    memcpy(a, f, len);
    size_t l = len;
    for (int i = 0; i < 10; i++) {
        assert_true(l + CAPGEN_WRAP_EXTRA <= cap);
        l = capgen_wrap(CW_GRE_ETH, a, l, b);
        memcpy(a, b, l);
    }
    memcpy(f, a, l);
    free(a);
    free(b);
    return l;
}

static size_t edit_fragment(size_t k, uint8_t *f, size_t len, size_t cap)
{
    (void)cap;
    if (k == target)
        f[20] = 0x20; /* more fragments */
    return len;
}

static size_t edit_drop_last_data(size_t k, uint8_t *f, size_t len, size_t cap)
{
    (void)f;
    (void)cap;
    /* record `target` is the last data segment of the responder */
    return k == target ? 0 : len;
}

static void write_session_variants(void)
{
    /* good small sessions and simple damage */
    struct gen d = {.corrupt_dir = -1};
    session_with_keys("ip-options.pcap.src", 8, 8, NULL, 1);
    rewrite("ip-options.pcap.src", "ip-options.pcap", 1, 262144, edit_options);
    rename(out_path("ip-options.pcap.src.keys"), out_path("ip-options.pcap.keys"));
    unlink(out_path("ip-options.pcap.src"));

    struct {
        const char *name;
        edit_fn edit;
        uint32_t snaplen;
    } edits[] = {
        {"tcp-data-offset.pcap", edit_doff, 262144},
        {"ip-ihl.pcap", edit_ihl, 262144},
        {"ip-total-length.pcap", edit_totlen, 262144},
        {"vlan-tag-bomb.pcap", edit_vlan_bomb, 262144},
        {"tunnel-bomb.pcap", edit_tunnel_bomb, 262144},
        {"tcp-fragments.pcap", edit_fragment, 262144},
        {"snaplen-96.pcap", NULL, 96},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        session_with_keys("src.pcap", 8, 8, NULL, 2);
        rewrite("src.pcap", edits[i].name, 1, edits[i].snaplen, edits[i].edit);
        char kn[256];
        snprintf(kn, sizeof kn, "%s.keys", edits[i].name);
        rename(out_path("src.pcap.keys"), out_path(kn));
        unlink(out_path("src.pcap"));
    }

    /* the responder's last data segment lost: only the ACK tells */
    session_with_keys("src.pcap", 4, 4, NULL, 3);
    struct capgen_rec *r;
    size_t n = capgen_read_pcap(out_path("src.pcap"), &r);
    for (size_t k = 0; k < n; k++)
        if (payload_len(r[k].data, r[k].len) && r[k].data[34] == 0x26 &&
            r[k].data[35] == 0x07) /* from port 9735 */
            target = k;
    capgen_free_recs(r, n);
    rewrite("src.pcap", "lost-tail.pcap", 1, 262144, edit_drop_last_data);
    rename(out_path("src.pcap.keys"), out_path("lost-tail.pcap.keys"));
    unlink(out_path("src.pcap"));
    target = 7;

    d = (struct gen){.corrupt_dir = 1, .corrupt_at = 50 + 18 + 2};
    session_with_keys("body-bitflip.pcap", 6, 6, &d, 4);
    d = (struct gen){.corrupt_dir = 0, .corrupt_at = 116 + 1};
    session_with_keys("first-header-bitflip.pcap", 6, 6, &d, 5);
    d = (struct gen){.corrupt_dir = -1, .skip_before = {50, 50}};
    session_with_keys("acts-lost.pcap", 6, 6, &d, 6);
    d = (struct gen){.corrupt_dir = -1, .midstream = true, .skip_before = {300, 3000}};
    session_with_keys("no-handshake.pcap", 20, 1100, &d, 7);

    /* a damaged length header mid-direction: resynchronised at the next key */
    struct expect exp = {0};
    char *keys = small_session("header-bitflip.pcap.tmp", 10, 1100, NULL, &exp, 8);
    d = (struct gen){.corrupt_dir = 1, .corrupt_at = msg_offset(&exp, 1, 5) + 1};
    expect_free(&exp);
    free(keys);
    unlink(out_path("header-bitflip.pcap.tmp"));
    session_with_keys("header-bitflip.pcap", 10, 1100, &d, 8);

    /* lost bytes in the middle */
    reset_gen(9);
    struct gen g;
    make_capture(out_path("lost-segment.pcap"), &g, NULL, 6, 30, false, false, 200, 1, 600,
                 true);
    keys = keylog_text(&g.keys, -1, -1, false);
    write_text_file("lost-segment.pcap.keys", keys);
    free(keys);
}

/* A retransmission whose bytes differ from the first copy: the first is
 * kept. With the first copy damaged, its MAC fails. */
static void write_overlaps(void)
{
    for (int bad_first = 0; bad_first < 2; bad_first++) {
        reset_gen(10);
        const char *name = bad_first ? "overlap-first-bad.pcap" : "overlap-conflict.pcap";
        ph_pcapw *w;
        assert_int_equal(ph_pcapw_open(&w, out_path(name), NULL), PH_OK);
        struct gen g;
        gen_open(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", NULL);
        gen_traffic_small(&g, 3, 0);
        flush_dir(&g, 0, g.plen[0]);
        /* one more frame, sent twice with different bytes */
        uint8_t m[20] = {0, 18, 0, 2, 0, 14}, frame[64];
        assert_int_equal(ph_noise_encrypt(g.n[0], m, sizeof m, frame), PH_OK);
        size_t fl = sizeof m + PH_NOISE_OVERHEAD;
        uint8_t other[64];
        memcpy(other, frame, fl);
        other[30] ^= 0x55; /* inside the body */
        uint32_t seq = ph_pcapw_next_seq(g.c, 0);
        assert_int_equal(ph_pcapw_segment(g.c, 0, seq, PH_TCP_ACK, bad_first ? other : frame,
                                          fl, lngen_clock++), PH_OK);
        assert_int_equal(ph_pcapw_segment(g.c, 0, seq, PH_TCP_ACK, bad_first ? frame : other,
                                          fl, lngen_clock++), PH_OK);
        ph_pcapw_set_next_seq(g.c, 0, seq + (uint32_t)fl);
        gen_close(&g, true);
        assert_int_equal(ph_pcapw_close(w), PH_OK);
        char *keys = keylog_text(&g.keys, -1, -1, false);
        char kn[256];
        snprintf(kn, sizeof kn, "%s.keys", name);
        write_text_file(kn, keys);
        free(keys);
    }
}

static void write_connections(void)
{
    ph_pcapw *w;
    struct ph_endpoint a, b;
    ph_pcapw_conn *c;
    assert_int_equal(ph_endpoint_parse("127.0.0.1:50000", &a), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:8080", &b), PH_OK);
    /* not Lightning */
    assert_int_equal(ph_pcapw_open(&w, out_path("not-lightning.pcap"), NULL), PH_OK);
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 1700000000000000000ull, NULL, &c), PH_OK);
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert_int_equal(ph_pcapw_data(c, 0, (const uint8_t *)req, strlen(req), 1700000000000000001ull),
                     PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, 0, 1700000000000000002ull), PH_OK);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    /* act 1, never answered */
    b.port = 9735;
    assert_int_equal(ph_pcapw_open(&w, out_path("handshake-incomplete.pcap"), NULL), PH_OK);
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 1700000000000000000ull, NULL, &c), PH_OK);
    uint8_t act1[50] = {0, 2, 0x79, 0xbe};
    assert_int_equal(ph_pcapw_data(c, 0, act1, sizeof act1, 1700000000000000001ull), PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, 1, 1700000000000000002ull), PH_OK);
    assert_int_equal(ph_pcapw_close(w), PH_OK);

    /* a session whose responder stops half-way through a frame; and one
     * reset half-way through a frame */
    for (int rst = 0; rst < 2; rst++) {
        reset_gen(11);
        const char *name = rst ? "rst-mid-frame.pcap" : "trailing-frame.pcap";
        assert_int_equal(ph_pcapw_open(&w, out_path(name), NULL), PH_OK);
        struct gen g;
        gen_open(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", NULL);
        gen_traffic_small(&g, 3, 3);
        flush_dir(&g, 0, g.plen[0]);
        flush_dir(&g, 1, g.plen[1]);
        uint8_t m[40] = {0, 18, 0, 1, 0, 34}, frame[80];
        assert_int_equal(ph_noise_encrypt(g.n[1], m, sizeof m, frame), PH_OK);
        put_chunk(&g, 1, frame, 30);
        if (rst)
            assert_int_equal(ph_pcapw_segment(g.c, 0, ph_pcapw_next_seq(g.c, 0),
                                              PH_TCP_RST | PH_TCP_ACK, NULL, 0, lngen_clock++),
                             PH_OK);
        gen_close(&g, false);
        assert_int_equal(ph_pcapw_close(w), PH_OK);
        char *keys = keylog_text(&g.keys, -1, -1, false);
        char kn[256];
        snprintf(kn, sizeof kn, "%s.keys", name);
        write_text_file(kn, keys);
        free(keys);
    }
}

/* Frames in link layers, wrapped wrong. */
static void write_link_damage(void)
{
    session_with_keys("src.pcap", 4, 4, NULL, 12);
    /* a VLAN-tagged session and a filter that does not look inside tags */
    capgen_pcap_rewrap(out_path("src.pcap"), out_path("vlan-filtered.pcap"), CW_VLAN, 0);
    size_t klen;
    uint8_t *keys = read_bytes(out_path("src.pcap.keys"), &klen);
    assert_non_null(keys);
    write_bytes("vlan-filtered.pcap.keys", keys, klen);
    write_bytes("nflog-bad-tlv.pcap.keys", keys, klen);
    write_bytes("pktap-bad-header.pcap.keys", keys, klen);
    free(keys);
    unlink(out_path("src.pcap.keys"));
    /* NFLOG whose payload TLV runs past the packet, PKTAP whose header
     * does: every record malformed */
    capgen_pcap_rewrap(out_path("src.pcap"), out_path("nflog.tmp"), CW_NFLOG, 0);
    capgen_pcap_rewrap(out_path("src.pcap"), out_path("pktap.tmp"), CW_PKTAP, 0);
    unlink(out_path("src.pcap"));
    size_t len;
    uint8_t *b = read_bytes(out_path("nflog.tmp"), &len);
    assert_non_null(b);
    /* first record's payload TLV length (little-endian at frame offset 16) */
    b[24 + 16 + 16] = 0xff;
    b[24 + 16 + 17] = 0x7f;
    write_bytes("nflog-bad-tlv.pcap", b, len);
    free(b);
    b = read_bytes(out_path("pktap.tmp"), &len);
    assert_non_null(b);
    b[24 + 16 + 2] = 0x7f; /* pth_length far beyond the frame */
    write_bytes("pktap-bad-header.pcap", b, len);
    free(b);
    unlink(out_path("nflog.tmp"));
    unlink(out_path("pktap.tmp"));
    /* only UDP and ARP: no TCP at all */
    capgen_pcap *w = capgen_pcap_open(out_path("no-tcp.pcap"), 1, 65535, 0);
    uint8_t f[60] = {0};
    f[12] = 0x08;
    f[13] = 0x06; /* ARP */
    capgen_pcap_rec(w, 1000, f, 60, 60);
    f[13] = 0x00; /* IPv4 UDP */
    f[14] = 0x45;
    f[17] = 28;
    f[23] = 17;
    capgen_pcap_rec(w, 2000, f, 60, 60);
    capgen_pcap_close(w);
    /* IPv6 with a chain of 17 extension headers (more than anyone sends) */
    w = capgen_pcap_open(out_path("ipv6-ext-bomb.pcap"), 101, 65535, 0);
    uint8_t v6[40 + 17 * 8 + 20] = {0};
    v6[0] = 0x60;
    v6[4] = 0;
    v6[5] = (uint8_t)(17 * 8 + 20);
    v6[6] = 0;
    for (int i = 0; i < 17; i++)
        v6[40 + 8 * i] = i == 16 ? 6 : 0;
    capgen_pcap_rec(w, 3000, v6, sizeof v6, sizeof v6);
    capgen_pcap_close(w);
}

/* File formats: headers that are not captures, cut, or impossible. */
static void write_file_damage(void)
{
    write_bytes("empty.pcap", "", 0);
    write_text_file("text.pcap", "this is not a capture, it is a text file\n");
    uint8_t zeros[1024] = {0};
    write_bytes("zeros.pcap", zeros, sizeof zeros);
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3};
    write_bytes("gzip.pcap", gz, sizeof gz);

    session_with_keys("src.pcap", 4, 4, NULL, 13);
    size_t len;
    uint8_t *b = read_bytes(out_path("src.pcap"), &len);
    assert_non_null(b);
    write_bytes("pcap-header-cut.pcap", b, 10);
    uint8_t *m = malloc(len + 16);
    assert_non_null(m);
    memcpy(m, b, len);
    m[4] = 9; /* version 9.4 */
    write_bytes("pcap-version.pcap", m, 24);
    memcpy(m, b, 24);
    m[20] = 105; /* IEEE 802.11 */
    write_bytes("pcap-linktype-wifi.pcap", m, len);
    /* cut inside a record header, and inside a record's data */
    size_t first = 24 + 16 + (size_t)(b[24 + 8] | b[24 + 9] << 8);
    size_t second = first + 16 + (size_t)(b[first + 8] | b[first + 9] << 8);
    write_bytes("record-header-cut.pcap", b, second + 5);
    write_bytes("record-data-cut.pcap", b, second + 16 + 10);
    char *keys = (char *)read_bytes(out_path("src.pcap.keys"), &len);
    assert_non_null(keys);
    write_bytes("record-header-cut.pcap.keys", keys, len);
    write_bytes("record-data-cut.pcap.keys", keys, len);
    /* a record header claiming 4 GiB */
    size_t blen;
    free(b);
    b = read_bytes(out_path("src.pcap"), &blen);
    memcpy(m, b, second);
    memset(m + second, 0xff, 16);
    write_bytes("record-huge-caplen.pcap", m, second + 16);
    write_bytes("record-huge-caplen.pcap.keys", keys, len);
    free(m);
    free(b);

    /* pcapng: the session over three interfaces, then damaged */
    enum capgen_wrap kinds[3] = {CW_SLL2, CW_ETH, CW_RAW};
    uint32_t snaps[3] = {262144, 65535, 262144};
    capgen_pcap_to_ng(out_path("src.pcap"), out_path("ng.tmp"), kinds, snaps, 3, false);
    b = read_bytes(out_path("ng.tmp"), &blen);
    assert_non_null(b);
    write_bytes("pcapng-block-cut.pcapng", b, blen - 9);
    write_bytes("pcapng-block-cut.pcapng.keys", keys, len);
    /* SHB (28) then IDB: damage the IDB's length, then its trailer */
    m = malloc(blen);
    assert_non_null(m);
    memcpy(m, b, blen);
    m[28 + 4] = 13;
    write_bytes("pcapng-block-length.pcapng", m, blen);
    memcpy(m, b, blen);
    uint32_t idb_len = (uint32_t)(b[28 + 4] | b[28 + 5] << 8);
    m[28 + idb_len - 4] ^= 4;
    write_bytes("pcapng-trailer.pcapng", m, blen);
    memcpy(m, b, 12);
    m[8] = 0x11; /* no byte-order magic */
    write_bytes("pcapng-no-bom.pcapng", m, blen);
    memcpy(m, b, blen);
    write_bytes("pcapng-shb-cut.pcapng", m, 10);
    m[12] = 2; /* major version 2 */
    write_bytes("pcapng-version.pcapng", m, blen);
    memcpy(m, b, blen);
    m[4] = 13;
    write_bytes("pcapng-shb-length.pcapng", m, blen);
    free(m);
    free(b);
    unlink(out_path("ng.tmp"));

    /* pcapng records the reader must skip or refuse */
    capgen_pcap_to_ng(out_path("src.pcap"), out_path("pcapng-undescribed-iface.pcapng"), kinds,
                      snaps, 1, false);
    capgen_ng *w = capgen_ng_open(out_path("pcapng-epb-caplen.pcapng"), false);
    capgen_ng_iface(w, 1, 0, 9, 0);
    uint8_t body[24] = {0};
    body[12] = 200;
    capgen_ng_block(w, 6, body, sizeof body);
    capgen_ng_close(w);
    w = capgen_ng_open(out_path("pcapng-interface-bomb.pcapng"), true);
    for (int i = 0; i < 5000; i++)
        capgen_ng_iface(w, 1, 0, -1, 0);
    capgen_ng_close(w);
    /* the session on SLL2, a USB interface's packets among it */
    struct capgen_rec *r;
    size_t nr = capgen_read_pcap(out_path("src.pcap"), &r);
    w = capgen_ng_open(out_path("pcapng-unsupported-iface.pcapng"), false);
    capgen_ng_iface(w, 276, 0, 9, 0);
    capgen_ng_iface(w, 189, 0, 9, 0); /* LINUX_USB */
    for (size_t i = 0; i < nr; i++) {
        uint8_t *f = malloc(r[i].len + CAPGEN_WRAP_EXTRA);
        assert_non_null(f);
        size_t fl = capgen_wrap(CW_SLL2, r[i].data, r[i].len, f);
        capgen_ng_epb(w, 0, r[i].ts_ns, f, (uint32_t)fl, (uint32_t)fl);
        if (i % 4 == 0)
            capgen_ng_epb(w, 1, r[i].ts_ns, zeros, 64, 64);
        free(f);
    }
    capgen_ng_close(w);
    /* the single-interface file gets a packet naming interface 9 */
    FILE *fa = fopen(out_path("pcapng-undescribed-iface.pcapng"), "ab");
    assert_non_null(fa);
    uint8_t epb[32 + 8] = {6, 0, 0, 0, 40, 0, 0, 0, 9};
    epb[20] = 8;
    epb[24] = 8;
    epb[36] = 40;
    assert_int_equal(fwrite(epb, 1, sizeof epb, fa), sizeof epb);
    assert_int_equal(fclose(fa), 0);
    capgen_free_recs(r, nr);
    write_bytes("pcapng-unsupported-iface.pcapng.keys", keys, len);
    write_bytes("pcapng-undescribed-iface.pcapng.keys", keys, len);
    free(keys);
    unlink(out_path("src.pcap"));
    unlink(out_path("src.pcap.keys"));
}

/* Key logs as they are found, and ones that do not fit. */
static void write_keylogs(void)
{
    struct {
        const char *name;
        int how;
    } logs[] = {
        {"keylog-garbage.pcap", 0},  {"keylog-wrong-capture.pcap", 1},
        {"keylog-wrong-key.pcap", 2}, {"keylog-bom-crlf.pcap", 3},
        {"keylog-utf16.pcap", 4},     {"keylog-partial-line.pcap", 5},
        {"keylog-empty.pcap", 6},     {"keylog-in-log-file.pcap", 7},
    };
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
        reset_gen(20);
        struct gen g;
        ph_pcapw *w;
        assert_int_equal(ph_pcapw_open(&w, out_path(logs[i].name), NULL), PH_OK);
        gen_open(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", NULL);
        gen_traffic_small(&g, 6, 6);
        gen_close(&g, true);
        assert_int_equal(ph_pcapw_close(w), PH_OK);
        char *good = keylog_text(&g.keys, -1, -1, false);
        char kn[256];
        snprintf(kn, sizeof kn, "%s.keys", logs[i].name);
        size_t n = strlen(good);
        char *t = malloc(4 * n + 400);
        assert_non_null(t);
        size_t tl = 0;
        switch (logs[i].how) {
        case 0: /* binary bytes */
            for (size_t k = 0; k < 777; k++)
                t[tl++] = (char)(rnd() & 0xff);
            break;
        case 1: { /* another session's keys: other MACs */
            for (int k = 0; k < g.keys.n; k++)
                g.keys.e[k].mac[0] ^= 0xa5;
            char *o = keylog_text(&g.keys, -1, -1, false);
            tl = (size_t)sprintf(t, "%s", o);
            free(o);
            break;
        }
        case 2: { /* the right MACs, a wrong key for the initiator */
            char *o = keylog_text(&g.keys, 0, -1, true);
            tl = (size_t)sprintf(t, "%s", o);
            free(o);
            break;
        }
        case 3: /* UTF-8 BOM, CRLF line ends */
            tl = (size_t)sprintf(t, "\xef\xbb\xbf");
            for (size_t k = 0; k < n; k++) {
                if (good[k] == '\n')
                    t[tl++] = '\r';
                t[tl++] = good[k];
            }
            break;
        case 4: /* UTF-16LE with a BOM, CRLF: PowerShell's > */
            t[tl++] = (char)0xff;
            t[tl++] = (char)0xfe;
            for (size_t k = 0; k < n; k++) {
                if (good[k] == '\n') {
                    t[tl++] = '\r';
                    t[tl++] = 0;
                }
                t[tl++] = good[k];
                t[tl++] = 0;
            }
            break;
        case 5: /* a last line cut while being written */
            tl = (size_t)sprintf(t, "%s%.40s", good, good);
            break;
        case 6: /* empty */
            break;
        case 7: { /* key lines inside a node's log */
            const char *p = good;
            int line = 0;
            while (*p) {
                const char *e = strchr(p, '\n');
                size_t ll = e ? (size_t)(e - p) : strlen(p);
                tl += (size_t)sprintf(t + tl, "2026-11-30 08:00:%02d.%03d [INF] PEER: connected\n"
                                      "2026-11-30 08:00:%02d.%03d [DBG] BRONTIDE: keylog %.*s\n",
                                      line % 60, line, line % 60, line + 1, (int)ll, p);
                line++;
                p += ll + (e != NULL);
            }
            break;
        }
        }
        write_bytes(kn, t, tl);
        free(t);
        free(good);
    }
    /* a key missing after a rotation */
    reset_gen(21);
    struct gen g;
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, out_path("keylog-missing-rotation.pcap"), NULL), PH_OK);
    gen_open(&g, w, "127.0.0.1:40312", "127.0.0.1:9735", NULL);
    gen_traffic_small(&g, 10, 1100);
    gen_close(&g, true);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    char *k = keylog_text(&g.keys, 1, 1, false);
    write_text_file("keylog-missing-rotation.pcap.keys", k);
    free(k);
}

static void write_lnmsgs(void)
{
    uint8_t b[1300];
    size_t n = 0;
    for (int i = 0; i < 12; i++) { /* pings of 100 bytes */
        b[n] = 0;
        b[n + 1] = 100;
        memset(b + n + 2, 0, 100);
        b[n + 3] = 18;
        n += 102;
    }
    write_bytes("cut.lnmsgs", b, n - 30);
    uint8_t short_rec[3] = {0, 1, 0x12};
    write_bytes("short-record.lnmsgs", short_rec, sizeof short_rec);
    uint8_t beyond[10] = {0xff, 0xff, 0, 18, 1, 2, 3, 4, 5, 6};
    write_bytes("length-beyond.lnmsgs", beyond, sizeof beyond);
}

static int write_corpus(const char *dir)
{
    snprintf(outdir, sizeof outdir, "%s", dir);
    if (ph_noise_global_init() != PH_OK)
        return 1;
    write_file_damage();
    write_session_variants();
    write_overlaps();
    write_connections();
    write_link_damage();
    write_keylogs();
    write_lnmsgs();
    return 0;
}

/* ---- the checks ---- */

struct entry {
    char file[1024];
    char args[1024];
    int exit_status;
    char reason[1024];
};

/* MANIFEST: "file<TAB>args<TAB>exit<TAB>reason"; args "-" for none, else
 * arguments separated by '|'; '#' lines are comments. */
static size_t read_manifest(struct entry **out)
{
    FILE *f = fopen(CORPUS "/MANIFEST", "r");
    assert_non_null(f);
    size_t n = 0, cap = 256;
    struct entry *e = calloc(cap, sizeof *e);
    assert_non_null(e);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        char *t3 = t2 ? strchr(t2 + 1, '\t') : NULL;
        if (!t3)
            fail_msg("MANIFEST line not 4 tab-separated fields: %s", line);
        *t1 = *t2 = *t3 = 0;
        assert_true(n < cap);
        snprintf(e[n].file, sizeof e[n].file, "%s", line);
        snprintf(e[n].args, sizeof e[n].args, "%s", t1 + 1);
        e[n].exit_status = atoi(t2 + 1);
        snprintf(e[n].reason, sizeof e[n].reason, "%s", t3 + 1);
        n++;
    }
    fclose(f);
    *out = e;
    return n;
}

/* The generator writes exactly the committed corpus. */
static void test_corpus_is_generated(void **state)
{
    (void)state;
    char dir[] = "/tmp/ph_malformed_XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(write_corpus(dir), 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cd '%s' && ls | sort >../ph_malformed_list_%d", dir,
             (int)getpid());
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && for f in *; do cmp -s \"$f\" \"$OLDPWD/" CORPUS "/$f\" || "
             "{ echo \"differs: $f\"; exit 1; }; done",
             dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' /tmp/ph_malformed_list_%d", dir, (int)getpid());
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rc, 0);
}

/* At least 50 inputs, each in the manifest with its exit status, and the
 * library's verdict agrees with it. */
static void test_manifest_verdicts(void **state)
{
    (void)state;
    struct entry *e;
    size_t n = read_manifest(&e);
    assert_true(n >= 50);
    for (size_t i = 0; i < n; i++) {
        char path[1100];
        snprintf(path, sizeof path, CORPUS "/%s", e[i].file);
        struct ph_lninput_opts o = {0};
        char args[1024], *save = NULL;
        snprintf(args, sizeof args, "%s", e[i].args);
        for (char *a = strcmp(args, "-") ? strtok_r(args, "|", &save) : NULL; a;
             a = strtok_r(NULL, "|", &save)) {
            char *v = strtok_r(NULL, "|", &save);
            assert_non_null(v);
            if (!strcmp(a, "--keylog"))
                o.keylog = v;
            else if (!strcmp(a, "--filter"))
                o.filter = v;
            else
                fail_msg("%s: unknown argument %s", e[i].file, a);
        }
        /* keylog paths in the manifest are relative to the corpus */
        char kpath[1100];
        if (o.keylog) {
            snprintf(kpath, sizeof kpath, CORPUS "/%s", o.keylog);
            o.keylog = kpath;
        }
        ph_lninput *in;
        assert_int_equal(ph_lninput_create(&in, &o), PH_OK);
        /* The error is recorded as a problem too: the status below reads
         * it from there, as the tool does. */
        if (ph_lninput_worst(in) != PH_LNINPUT_UNUSABLE)
            ph_ignore_err(ph_lninput_read(in, path));
        int status = ph_lninput_worst(in) == PH_LNINPUT_UNUSABLE ? 2
                     : ph_lninput_worst(in) == PH_LNINPUT_PARTIAL ? 1 : 0;
        if (status != e[i].exit_status)
            fail_msg("%s: status %d, the manifest says %d", e[i].file, status, e[i].exit_status);
        if (status)
            assert_true(ph_lninput_problem_count(in) > 0);
        ph_lninput_destroy(in);
    }
    free(e);
}

/* Seeds for tests/fuzz (fuzz_capture): one small session in every link
 * layer and tunnel, over several interfaces in both byte orders, and in
 * every pcap variant. */
static int write_fuzz_seeds(const char *dir)
{
    snprintf(outdir, sizeof outdir, "%s", dir);
    if (ph_noise_global_init() != PH_OK)
        return 1;
    session_with_keys("src.pcap", 3, 3, NULL, 30);
    unlink(out_path("src.pcap.keys"));
    for (int w = 0; w < CW_COUNT; w++) {
        char name[64];
        snprintf(name, sizeof name, "seed-%s.pcap", capgen_wrap_name((enum capgen_wrap)w));
        capgen_pcap_rewrap(out_path("src.pcap"), out_path(name), (enum capgen_wrap)w,
                           w % 3 == 1 ? CAPGEN_SWAPPED | CAPGEN_MICRO
                           : w % 3 == 2 ? CAPGEN_MODIFIED : 0);
    }
    enum capgen_wrap kinds[4] = {CW_SLL2, CW_ETH, CW_NULL_LE, CW_NFLOG};
    uint32_t snaps[4] = {262144, 65535, 128, 262144};
    capgen_pcap_to_ng(out_path("src.pcap"), out_path("seed-multi-le.pcapng"), kinds, snaps, 4,
                      false);
    capgen_pcap_to_ng(out_path("src.pcap"), out_path("seed-multi-be.pcapng"), kinds, snaps, 4,
                      true);
    unlink(out_path("src.pcap"));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_corpus(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--write-fuzz-seeds") == 0)
        return write_fuzz_seeds(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_is_generated),
        cmocka_unit_test(test_manifest_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
