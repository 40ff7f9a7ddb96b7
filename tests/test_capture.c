/* Capture reading: every link type, IPv4/IPv6, truncation, pcapng, filters,
 * robustness on random bytes; and the pcap writer read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "capgen.h"
#include "capture.h"
#include "pcapwrite.h"

/* ---- packet construction ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static const char PAYLOAD[] = "hello lightning";
#define PLEN (sizeof PAYLOAD - 1)

/* TCP header (20 bytes, or 32 with options) + payload. */
static size_t tcp_seg(uint8_t *p, bool options)
{
    size_t hl = options ? 32 : 20;
    memset(p, 0, hl);
    put16(p, 40312);
    put16(p + 2, 9735);
    put32(p + 4, 0xfffffff0u);
    put32(p + 8, 0x01020304u);
    p[12] = (uint8_t)((hl / 4) << 4);
    p[13] = 0x18; /* PSH ACK */
    put16(p + 14, 512);
    if (options)
        memset(p + 20, 1, 12); /* NOPs */
    memcpy(p + hl, PAYLOAD, PLEN);
    return hl + PLEN;
}

static size_t ipv4(uint8_t *p, uint8_t proto, bool options)
{
    size_t ihl = options ? 24 : 20;
    uint8_t *t = p + ihl;
    size_t tl = proto == 6 ? tcp_seg(t, options) : 8;
    if (proto != 6)
        memset(t, 0, 8);
    memset(p, 0, ihl);
    p[0] = (uint8_t)(0x40 | ihl / 4);
    put16(p + 2, (uint16_t)(ihl + tl));
    put16(p + 6, 0x4000);
    p[8] = 64;
    p[9] = proto;
    put32(p + 12, 0x7f000001u);
    put32(p + 16, 0x7f000002u);
    return ihl + tl;
}

/* IPv6 with an optional chain of hop-by-hop + destination options +
 * (atomic or not) fragment headers. */
static size_t ipv6(uint8_t *p, bool ext, bool fragment)
{
    memset(p, 0, 40);
    p[0] = 0x60;
    p[7] = 64;
    p[23] = 1;  /* ::1 */
    p[39] = 1;
    size_t off = 40;
    uint8_t *nh = p + 6;
    if (ext) {
        *nh = 0; /* hop-by-hop, 8 bytes */
        memset(p + off, 0, 8);
        p[off + 2] = 1; /* PadN */
        p[off + 3] = 4;
        nh = p + off;
        off += 8;
        *nh = 60; /* destination options, 16 bytes */
        memset(p + off, 0, 16);
        p[off + 1] = 1;
        p[off + 2] = 1;
        p[off + 3] = 12;
        nh = p + off;
        off += 16;
        *nh = 44; /* fragment header */
        memset(p + off, 0, 8);
        if (fragment)
            p[off + 3] = 1; /* more fragments */
        nh = p + off;
        off += 8;
    }
    *nh = 6;
    size_t tl = tcp_seg(p + off, false);
    put16(p + 4, (uint16_t)(off - 40 + tl));
    return off + tl;
}

enum { V4, V6, V6EXT };

static size_t ip(uint8_t *p, int kind)
{
    return kind == V4 ? ipv4(p, 6, false) : ipv6(p, kind == V6EXT, false);
}

static size_t frame(int dlt, uint8_t *f, int kind)
{
    uint16_t et = kind == V4 ? 0x0800 : 0x86dd;
    size_t n;
    switch (dlt) {
    case DLT_EN10MB:
        memset(f, 0xaa, 12);
        put16(f + 12, et);
        return 14 + ip(f + 14, kind);
    case DLT_NULL: /* little-endian writer; AF_INET6 as on FreeBSD */
        f[0] = kind == V4 ? 2 : 28; f[1] = f[2] = f[3] = 0;
        return 4 + ip(f + 4, kind);
    case DLT_LOOP:
        put32(f, kind == V4 ? 2 : 24);
        return 4 + ip(f + 4, kind);
    case DLT_LINUX_SLL:
        memset(f, 0, 16);
        put16(f + 2, 772); /* ARPHRD_LOOPBACK */
        put16(f + 4, 6);
        put16(f + 14, et);
        return 16 + ip(f + 16, kind);
    case DLT_LINUX_SLL2:
        memset(f, 0, 20);
        put16(f, et);
        put32(f + 4, 1);
        put16(f + 8, 772);
        f[11] = 6;
        return 20 + ip(f + 20, kind);
    case DLT_RAW:
        return ip(f, kind);
    case DLT_IPV4:
        return ipv4(f, 6, false);
    case DLT_IPV6:
        return ip(f, kind == V4 ? V6 : kind);
    }
    n = 0;
    return n;
}

/* ---- temp files ---- */

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ph_capture_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char path[160];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

struct rec {
    const uint8_t *data;
    size_t caplen, len;
    uint64_t ts_ns;
};

static void write_pcap(const char *path, int dlt, const struct rec *r, size_t n)
{
    pcap_t *dead = pcap_open_dead_with_tstamp_precision(dlt, 262144, PCAP_TSTAMP_PRECISION_NANO);
    assert_non_null(dead);
    pcap_dumper_t *d = pcap_dump_open(dead, path);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h;
        h.ts.tv_sec = (time_t)(r[i].ts_ns / 1000000000u);
        h.ts.tv_usec = (suseconds_t)(r[i].ts_ns % 1000000000u);
        h.caplen = (bpf_u_int32)r[i].caplen;
        h.len = (bpf_u_int32)r[i].len;
        pcap_dump((u_char *)d, &h, r[i].data);
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

static ph_capture *open_ok(const char *path, const char *filter)
{
    ph_capture *c = NULL;
    char err[PH_CAPTURE_ERRLEN];
    ph_err e = ph_capture_open(&c, path, filter, err);
    if (e)
        fprintf(stderr, "open %s: %s\n", path, err);
    assert_int_equal(e, PH_OK);
    return c;
}

static void check_packet(const struct ph_tcp_packet *p, int kind)
{
    char s[PH_ENDPOINT_STRLEN], d[PH_ENDPOINT_STRLEN];
    ph_endpoint_format(&p->src, s);
    ph_endpoint_format(&p->dst, d);
    if (kind == V4) {
        assert_string_equal(s, "127.0.0.1:40312");
        assert_string_equal(d, "127.0.0.2:9735");
    } else {
        assert_string_equal(s, "[::1]:40312");
        assert_string_equal(d, "[::1]:9735");
    }
    assert_int_equal(p->seq, 0xfffffff0u);
    assert_int_equal(p->ack, 0x01020304u);
    assert_int_equal(p->flags, PH_TCP_PSH | PH_TCP_ACK);
    assert_int_equal(p->payload_len, PLEN);
    assert_memory_equal(p->payload, PAYLOAD, PLEN);
}

/* ---- tests ---- */

static void roundtrip_linktype(int dlt, int kinds)
{
    uint8_t f[3][256];
    struct rec r[3];
    int kind_of[3] = {V4, V6, V6EXT};
    size_t n = 0;
    for (int k = 0; k < 3; k++) {
        if (!(kinds & (1 << k)))
            continue;
        size_t len = frame(dlt, f[n], kind_of[k]);
        r[n] = (struct rec){f[n], len, len, 1700000000123456789ull + (uint64_t)k};
        kind_of[n] = kind_of[k];
        n++;
    }
    const char *path = tmp_path("link.pcap");
    write_pcap(path, dlt, r, n);
    ph_capture *c = open_ok(path, NULL);
    struct ph_tcp_packet p;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ph_capture_next(c, &p), PH_OK);
        check_packet(&p, kind_of[i]);
        assert_int_equal(p.number, i + 1);
        assert_true(p.ts_ns == r[i].ts_ns);
    }
    assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
    assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
    assert_int_equal(ph_capture_stats(c)->tcp, n);
    assert_int_equal(ph_capture_stats(c)->truncated, 0);
    ph_capture_close(c);
}

static void test_link_types(void **state)
{
    (void)state;
    roundtrip_linktype(DLT_EN10MB, 7);
    roundtrip_linktype(DLT_NULL, 7);
    roundtrip_linktype(DLT_LOOP, 7);
    roundtrip_linktype(DLT_LINUX_SLL, 7);
    roundtrip_linktype(DLT_LINUX_SLL2, 7);
    roundtrip_linktype(DLT_RAW, 7);
    roundtrip_linktype(DLT_IPV4, 1);
    roundtrip_linktype(DLT_IPV6, 6);
}

/* DLT_NULL written on a big-endian host. */
static void test_null_big_endian(void **state)
{
    (void)state;
    uint8_t f[256];
    size_t len = frame(DLT_NULL, f, V6);
    put32(f, 30); /* AF_INET6 on macOS, big-endian */
    struct ph_tcp_packet p;
    assert_int_equal(ph_capture_parse_frame(DLT_NULL, f, len, &p, NULL), PH_OK);
    check_packet(&p, V6);
    put32(f, 2);
    len = 4 + ipv4(f + 4, 6, false);
    assert_int_equal(ph_capture_parse_frame(DLT_NULL, f, len, &p, NULL), PH_OK);
    check_packet(&p, V4);
    put32(f, 7); /* neither family */
    assert_int_equal(ph_capture_parse_frame(DLT_NULL, f, len, &p, NULL), PH_ERR_PARSE);
}

static void test_vlan_and_padding(void **state)
{
    (void)state;
    uint8_t f[256];
    memset(f, 0, sizeof f);
    put16(f + 12, 0x88a8); /* QinQ: 802.1ad outer, 802.1Q inner */
    put16(f + 14, 0x0064);
    put16(f + 16, 0x8100);
    put16(f + 18, 0x0065);
    put16(f + 20, 0x0800);
    size_t len = 22 + ipv4(f + 22, 6, true);
    /* Ethernet padding after the IP packet must not reach the payload. */
    memset(f + len, 0xee, 20);
    struct ph_tcp_packet p;
    assert_int_equal(ph_capture_parse_frame(DLT_EN10MB, f, len + 20, &p, NULL), PH_OK);
    check_packet(&p, V4);
    /* Same through cooked v2 with a tag. */
    uint8_t g[256];
    memset(g, 0, 20);
    put16(g, 0x8100);
    put16(g + 20, 0x0001);
    put16(g + 22, 0x86dd);
    size_t glen = 24 + ipv6(g + 24, true, false);
    assert_int_equal(ph_capture_parse_frame(DLT_LINUX_SLL2, g, glen, &p, NULL), PH_OK);
    check_packet(&p, V6);
}

static void test_not_tcp_and_fragments(void **state)
{
    (void)state;
    uint8_t f[256];
    struct ph_tcp_packet p;
    bool frag = true;
    size_t len = ipv4(f, 17, false); /* UDP */
    assert_int_equal(ph_capture_parse_frame(DLT_RAW, f, len, &p, &frag), PH_ERR_PARSE);
    assert_false(frag);
    len = ipv4(f, 6, false);
    put16(f + 6, 0x2000); /* more fragments */
    assert_int_equal(ph_capture_parse_frame(DLT_RAW, f, len, &p, &frag), PH_ERR_PARSE);
    assert_true(frag);
    len = ipv6(f, true, true);
    assert_int_equal(ph_capture_parse_frame(DLT_IPV6, f, len, &p, &frag), PH_ERR_PARSE);
    assert_true(frag);
    /* ARP over Ethernet */
    memset(f, 0, 60);
    put16(f + 12, 0x0806);
    assert_int_equal(ph_capture_parse_frame(DLT_EN10MB, f, 60, &p, &frag), PH_ERR_PARSE);
    assert_false(frag);
    assert_int_equal(ph_capture_parse_frame(105, f, 60, &p, &frag), PH_ERR_CAPTURE_LINKTYPE);
}

static void test_truncated_and_malformed_frames(void **state)
{
    (void)state;
    uint8_t f[256];
    struct ph_tcp_packet p;
    size_t len = frame(DLT_EN10MB, f, V4);
    /* Every strict prefix is truncated (the payload length is in the IP header). */
    for (size_t cut = 0; cut < len; cut++) {
        ph_err e = ph_capture_parse_frame(DLT_EN10MB, f, cut, &p, NULL);
        assert_int_equal(e, PH_ERR_EOF);
    }
    len = frame(DLT_LINUX_SLL2, f, V6EXT);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(ph_capture_parse_frame(DLT_LINUX_SLL2, f, cut, &p, NULL), PH_ERR_EOF);
    len = ipv4(f, 6, false);
    f[0] = 0x44; /* IHL 16 bytes */
    assert_int_equal(ph_capture_parse_frame(DLT_RAW, f, len, &p, NULL), PH_ERR_EOF);
    len = ipv4(f, 6, false);
    f[20 + 12] = 0x40; /* TCP data offset 16 */
    assert_int_equal(ph_capture_parse_frame(DLT_RAW, f, len, &p, NULL), PH_ERR_EOF);
    len = ipv4(f, 6, false);
    f[20 + 12] = 0xf0; /* TCP data offset 60 > segment */
    assert_int_equal(ph_capture_parse_frame(DLT_RAW, f, len, &p, NULL), PH_ERR_EOF);
}

/* Offloaded segments above 64 KiB carry an IPv4 total length of zero. */
static void test_huge_segment(void **state)
{
    (void)state;
    size_t plen = 70000;
    uint8_t *f = calloc(1, 40 + plen);
    assert_non_null(f);
    f[0] = 0x45;
    f[9] = 6;
    f[20 + 12] = 0x50;
    for (size_t i = 0; i < plen; i++)
        f[40 + i] = (uint8_t)i;
    struct ph_tcp_packet p;
    assert_int_equal(ph_capture_parse_frame(DLT_RAW, f, 40 + plen, &p, NULL), PH_OK);
    assert_int_equal(p.payload_len, plen);
    assert_int_equal(p.payload[69999], (uint8_t)69999);
    free(f);
}

static void test_file_truncated_records(void **state)
{
    (void)state;
    uint8_t f[4][256];
    struct rec r[4];
    for (int i = 0; i < 4; i++) {
        size_t len = frame(DLT_EN10MB, f[i], V4);
        r[i] = (struct rec){f[i], len, len, 1000u + (uint64_t)i};
    }
    r[1].caplen = 40; /* cut by a snapshot length */
    r[2].caplen = r[2].len - 1;
    const char *path = tmp_path("snap.pcap");
    write_pcap(path, DLT_EN10MB, r, 4);
    ph_capture *c = open_ok(path, NULL);
    struct ph_tcp_packet p;
    assert_int_equal(ph_capture_next(c, &p), PH_OK);
    assert_int_equal(p.number, 1);
    assert_int_equal(ph_capture_next(c, &p), PH_OK);
    assert_int_equal(p.number, 4);
    assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
    const struct ph_capture_stats *st = ph_capture_stats(c);
    assert_int_equal(st->records, 4);
    assert_int_equal(st->truncated, 2);
    assert_int_equal(st->first_truncated, 2);
    ph_capture_close(c);
}

static void truncate_file(const char *path, long drop)
{
    FILE *f = fopen(path, "rb+");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size - drop), 0);
}

static void test_file_truncated(void **state)
{
    (void)state;
    uint8_t f[256];
    size_t len = frame(DLT_EN10MB, f, V4);
    struct rec r[3] = {{f, len, len, 1}, {f, len, len, 2}, {f, len, len, 3}};
    const char *path = tmp_path("trunc.pcap");
    /* Cut inside the last record's data, then inside its header. */
    long drops[2] = {5, (long)len + 10};
    for (int k = 0; k < 2; k++) {
        write_pcap(path, DLT_EN10MB, r, 3);
        truncate_file(path, drops[k]);
        ph_capture *c = open_ok(path, NULL);
        struct ph_tcp_packet p;
        assert_int_equal(ph_capture_next(c, &p), PH_OK);
        assert_int_equal(ph_capture_next(c, &p), PH_OK);
        assert_int_equal(p.number, 2);
        check_packet(&p, V4);
        assert_int_equal(ph_capture_next(c, &p), PH_ERR_CAPTURE_TRUNCATED);
        assert_int_equal(ph_capture_next(c, &p), PH_ERR_CAPTURE_TRUNCATED);
        assert_true(strstr(ph_capture_error(c), "file ends inside") != NULL);
        assert_int_equal(ph_capture_error_offset(c), 24 + 2 * (16 + (long long)len));
        ph_capture_close(c);
    }
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_not_a_capture(void **state)
{
    (void)state;
    ph_capture *c = (ph_capture *)1;
    char err[PH_CAPTURE_ERRLEN];
    write_file(tmp_path("text.pcap"), "hello, not a capture file\n", 26);
    assert_int_equal(ph_capture_open(&c, tmp_path("text.pcap"), NULL, err), PH_ERR_CAPTURE_OPEN);
    assert_null(c);
    assert_true(strlen(err) > 0);
    write_file(tmp_path("empty.pcap"), "", 0);
    assert_int_equal(ph_capture_open(&c, tmp_path("empty.pcap"), NULL, err), PH_ERR_CAPTURE_OPEN);
    assert_int_equal(ph_capture_open(&c, tmp_path("missing.pcap"), NULL, err), PH_ERR_CAPTURE_OPEN);
    /* An unsupported link type (802.11) */
    uint8_t f[64] = {0};
    struct rec r = {f, 64, 64, 0};
    write_pcap(tmp_path("wifi.pcap"), 105, &r, 1);
    assert_int_equal(ph_capture_open(&c, tmp_path("wifi.pcap"), NULL, err),
                     PH_ERR_CAPTURE_LINKTYPE);
    assert_true(strstr(err, "105") != NULL);
    /* A record header announcing an impossible length. */
    uint8_t bad[24 + 16] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0};
    bad[16] = 0xff; bad[17] = 0xff; /* snaplen 65535 */
    bad[20] = 1;
    bad[24 + 8] = 0xff; bad[24 + 9] = 0xff; bad[24 + 10] = 0xff; bad[24 + 11] = 0x7f;
    write_file(tmp_path("bad.pcap"), bad, sizeof bad);
    ph_capture *cc = open_ok(tmp_path("bad.pcap"), NULL);
    struct ph_tcp_packet p;
    ph_err e = ph_capture_next(cc, &p);
    assert_true(e == PH_ERR_CAPTURE_CORRUPT || e == PH_ERR_CAPTURE_TRUNCATED);
    assert_int_equal(ph_capture_error_offset(cc), 24);
    ph_capture_close(cc);
}

static void test_filter(void **state)
{
    (void)state;
    uint8_t f[2][256];
    size_t l0 = frame(DLT_EN10MB, f[0], V4);
    size_t l1 = frame(DLT_EN10MB, f[1], V4);
    put16(f[1] + 14 + 20 + 2, 80); /* other destination port */
    struct rec r[3] = {{f[1], l1, l1, 1}, {f[0], l0, l0, 2}, {f[1], l1, l1, 3}};
    const char *path = tmp_path("filter.pcap");
    write_pcap(path, DLT_EN10MB, r, 3);
    ph_capture *c = open_ok(path, "tcp port 9735");
    struct ph_tcp_packet p;
    assert_int_equal(ph_capture_next(c, &p), PH_OK);
    assert_int_equal(p.number, 2); /* numbers stay those of the file */
    assert_int_equal(p.dst.port, 9735);
    assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
    assert_int_equal(ph_capture_stats(c)->records, 3);
    ph_capture_close(c);
    char err[PH_CAPTURE_ERRLEN];
    ph_capture *bad = NULL;
    assert_int_equal(ph_capture_open(&bad, path, "tcp port banana ((", err),
                     PH_ERR_CAPTURE_FILTER);
    assert_null(bad);
    assert_true(strlen(err) > 0);
}

/* ---- pcapng, built by hand ---- */

static size_t le_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
    return 4;
}
static size_t le_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
    return 2;
}

static size_t block(uint8_t *out, uint32_t type, const uint8_t *body, size_t blen)
{
    size_t padded = (blen + 3) & ~(size_t)3, total = 12 + padded;
    le_u32(out, type);
    le_u32(out + 4, (uint32_t)total);
    memset(out + 8, 0, padded);
    memcpy(out + 8, body, blen);
    le_u32(out + 8 + padded, (uint32_t)total);
    return total;
}

static size_t pcapng_file(uint8_t *out, int linktype, const uint8_t *fr, size_t flen,
                          uint64_t ts_ns, bool nanos)
{
    uint8_t body[512];
    size_t n = 0, b;
    /* Section header: byte-order magic, version 1.0, unknown section length. */
    b = le_u32(body, 0x1a2b3c4d);
    b += le_u16(body + b, 1);
    b += le_u16(body + b, 0);
    memset(body + b, 0xff, 8);
    b += 8;
    n += block(out + n, 0x0a0d0d0a, body, b);
    /* Interface description with if_tsresol = 9 (nanoseconds) */
    b = le_u16(body, (uint16_t)linktype);
    b += le_u16(body + b, 0);
    b += le_u32(body + b, 262144);
    if (nanos) {
        b += le_u16(body + b, 9);
        b += le_u16(body + b, 1);
        body[b++] = 9;
        body[b++] = 0; body[b++] = 0; body[b++] = 0;
    }
    b += le_u32(body + b, 0); /* opt_endofopt */
    n += block(out + n, 1, body, b);
    /* Enhanced packet block */
    uint64_t units = nanos ? ts_ns : ts_ns / 1000;
    b = le_u32(body, 0);
    b += le_u32(body + b, (uint32_t)(units >> 32));
    b += le_u32(body + b, (uint32_t)units);
    b += le_u32(body + b, (uint32_t)flen);
    b += le_u32(body + b, (uint32_t)flen);
    memcpy(body + b, fr, flen);
    b += flen;
    n += block(out + n, 6, body, b);
    return n;
}

static void test_pcapng(void **state)
{
    (void)state;
    uint8_t fr[256], file[1024];
    struct {
        int linktype, kind;
        bool nanos;
    } cases[] = {{1, V4, true}, {276, V6EXT, true}, {113, V6, false}, {101, V4, true}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int dlt = cases[k].linktype == 101 ? DLT_RAW : cases[k].linktype;
        size_t flen = frame(dlt, fr, cases[k].kind);
        uint64_t ts = 1700000000987654321ull;
        size_t n = pcapng_file(file, cases[k].linktype, fr, flen, ts, cases[k].nanos);
        write_file(tmp_path("x.pcapng"), file, n);
        ph_capture *c = open_ok(tmp_path("x.pcapng"), NULL);
        struct ph_tcp_packet p;
        assert_int_equal(ph_capture_next(c, &p), PH_OK);
        check_packet(&p, cases[k].kind);
        assert_true(p.ts_ns == (cases[k].nanos ? ts : ts / 1000 * 1000));
        assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
        ph_capture_close(c);
        /* Truncated inside the packet block: reported, not trusted. */
        write_file(tmp_path("x.pcapng"), file, n - 7);
        c = open_ok(tmp_path("x.pcapng"), NULL);
        assert_int_equal(ph_capture_next(c, &p), PH_ERR_CAPTURE_TRUNCATED);
        ph_capture_close(c);
    }
}

/* ---- robustness ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void test_random_frames(void **state)
{
    (void)state;
    const int dlts[] = {DLT_EN10MB, DLT_NULL, DLT_LOOP, DLT_LINUX_SLL, DLT_LINUX_SLL2,
                        DLT_RAW, DLT_IPV4, DLT_IPV6};
    uint8_t buf[512], good[256];
    for (int iter = 0; iter < 20000; iter++) {
        int dlt = dlts[rnd() % 8];
        size_t len;
        if (iter & 1) { /* mutate a valid frame: deeper paths */
            len = frame(dlt, good, (int)(rnd() % 3));
            if (dlt == DLT_IPV4)
                len = frame(dlt, good, V4);
            memcpy(buf, good, len);
            for (int m = 0; m < 3; m++)
                buf[rnd() % len] = (uint8_t)rnd();
            len = rnd() % (len + 1);
        } else {
            len = rnd() % sizeof buf;
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rnd();
        }
        /* Exactly `len` bytes on the heap so that ASan sees any overread. */
        uint8_t *h = malloc(len ? len : 1);
        assert_non_null(h);
        memcpy(h, buf, len);
        struct ph_tcp_packet p;
        if (ph_capture_parse_frame(dlt, h, len, &p, NULL) == PH_OK) {
            assert_true(p.payload >= h && p.payload + p.payload_len <= h + len);
        }
        free(h);
    }
}

static void test_random_files(void **state)
{
    (void)state;
    uint8_t f[256];
    size_t flen = frame(DLT_EN10MB, f, V4);
    struct rec r[4] = {{f, flen, flen, 1}, {f, flen, flen, 2}, {f, flen, flen, 3}, {f, flen, flen, 4}};
    const char *path = tmp_path("fuzz.pcap");
    write_pcap(path, DLT_EN10MB, r, 4);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    uint8_t orig[2048];
    size_t size = fread(orig, 1, sizeof orig, in);
    fclose(in);
    for (int iter = 0; iter < 300; iter++) {
        uint8_t m[2048];
        memcpy(m, orig, size);
        int flips = 1 + (int)(rnd() % 8);
        for (int i = 0; i < flips; i++)
            m[24 + rnd() % (size - 24)] = (uint8_t)rnd();
        write_file(path, m, rnd() % 4 ? size : rnd() % size);
        ph_capture *c = NULL;
        if (ph_capture_open(&c, path, NULL, NULL) != PH_OK)
            continue;
        struct ph_tcp_packet p;
        int n = 0;
        while (ph_capture_next(c, &p) == PH_OK && n < 100)
            n++;
        assert_true(n <= 4);
        ph_capture_close(c);
    }
}

static void test_endpoints(void **state)
{
    (void)state;
    struct ph_endpoint e;
    char s[PH_ENDPOINT_STRLEN];
    assert_int_equal(ph_endpoint_parse("127.0.0.1:9735", &e), PH_OK);
    ph_endpoint_format(&e, s);
    assert_string_equal(s, "127.0.0.1:9735");
    assert_int_equal(ph_endpoint_parse("[::1]:40312", &e), PH_OK);
    assert_int_equal(e.family, 6);
    ph_endpoint_format(&e, s);
    assert_string_equal(s, "[::1]:40312");
    assert_int_equal(ph_endpoint_parse("127.0.0.1:65536", &e), PH_ERR_PARSE);
    assert_int_equal(ph_endpoint_parse("127.0.0.1", &e), PH_ERR_PARSE);
    assert_int_equal(ph_endpoint_parse("::1:80", &e), PH_ERR_PARSE);
    assert_int_equal(ph_endpoint_parse("[::1]80", &e), PH_ERR_PARSE);
}

/* ---- the writer, read back ---- */

static void test_pcapwrite_roundtrip(void **state)
{
    (void)state;
    struct ph_endpoint cl, sv;
    assert_int_equal(ph_endpoint_parse("127.0.0.1:40312", &cl), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.1:9735", &sv), PH_OK);
    const char *path = tmp_path("w.pcap");
    ph_pcapw *w;
    struct ph_pcapw_opts o = {.mss = 1000};
    assert_int_equal(ph_pcapw_open(&w, path, &o), PH_OK);
    ph_pcapw_conn *c;
    struct ph_pcapw_conn_opts co = {.set_isn = true, .isn_client = 0xfffffff0u, .isn_server = 7};
    assert_int_equal(ph_pcapw_conn_open(w, &cl, &sv, 5000000001ull, &co, &c), PH_OK);
    uint8_t data[2500];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    assert_int_equal(ph_pcapw_data(c, PH_PCAPW_C2S, data, sizeof data, 5000000002ull), PH_OK);
    assert_int_equal(ph_pcapw_data(c, PH_PCAPW_S2C, data, 10, 5000000003ull), PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, PH_PCAPW_S2C, 5000000004ull), PH_OK);
    /* IPv6, connection left open at close */
    assert_int_equal(ph_endpoint_parse("[::1]:1", &cl), PH_OK);
    assert_int_equal(ph_endpoint_parse("[::1]:2", &sv), PH_OK);
    assert_int_equal(ph_pcapw_conn_open(w, &cl, &sv, 6000000000ull, NULL, &c), PH_OK);
    assert_int_equal(ph_pcapw_data(c, PH_PCAPW_C2S, data, 3, 6000000001ull), PH_OK);
    assert_int_equal(ph_pcapw_close(w), PH_OK);

    ph_capture *cap = open_ok(path, "");
    assert_int_equal(ph_capture_linktype(cap), DLT_EN10MB);
    struct ph_tcp_packet p;
    struct { uint8_t flags; uint32_t seq; size_t len; int from_server; } want[] = {
        {PH_TCP_SYN, 0xfffffff0u, 0, 0},
        {PH_TCP_SYN | PH_TCP_ACK, 7, 0, 1},
        {PH_TCP_ACK, 0xfffffff1u, 0, 0},
        {PH_TCP_ACK, 0xfffffff1u, 1000, 0},
        {PH_TCP_ACK, 0xfffffff1u + 1000, 1000, 0},       /* wraps past zero */
        {PH_TCP_ACK | PH_TCP_PSH, 0xfffffff1u + 2000, 500, 0},
        {PH_TCP_ACK, 8, 0, 1},
        {PH_TCP_ACK | PH_TCP_PSH, 8, 10, 1},
        {PH_TCP_ACK, 0xfffffff1u + 2500, 0, 0},
        {PH_TCP_ACK | PH_TCP_FIN, 18, 0, 1},
        {PH_TCP_ACK, 0xfffffff1u + 2500, 0, 0},
        {PH_TCP_ACK | PH_TCP_FIN, 0xfffffff1u + 2500, 0, 0},
        {PH_TCP_ACK, 19, 0, 1},
    };
    size_t off = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(ph_capture_next(cap, &p), PH_OK);
        assert_int_equal(p.flags, want[i].flags);
        assert_int_equal(p.seq, want[i].seq);
        assert_int_equal(p.payload_len, want[i].len);
        assert_int_equal(p.src.port, want[i].from_server ? 9735 : 40312);
        if (!want[i].from_server && p.payload_len) {
            assert_memory_equal(p.payload, data + off, p.payload_len);
            off += p.payload_len;
        }
        if (i == 1)
            assert_int_equal(p.ack, 0xfffffff1u);
        if (i == 0)
            assert_true(p.ts_ns == 5000000001ull);
    }
    assert_int_equal(off, sizeof data);
    for (int i = 0; i < 5; i++) { /* v6: handshake, data, ack */
        assert_int_equal(ph_capture_next(cap, &p), PH_OK);
        assert_int_equal(p.src.family, 6);
    }
    assert_int_equal(ph_capture_next(cap, &p), PH_ERR_EOF);
    ph_capture_close(cap);
}

static void test_pcapwrite_errors(void **state)
{
    (void)state;
    ph_pcapw *w;
    assert_int_equal(ph_pcapw_open(&w, "/nonexistent-dir/x.pcap", NULL), PH_ERR_IO);
    struct ph_pcapw_opts o = {.mss = PH_PCAPW_MAX_MSS + 1};
    assert_int_equal(ph_pcapw_open(&w, tmp_path("e.pcap"), &o), PH_ERR_ARG);
    assert_int_equal(ph_pcapw_open(&w, tmp_path("e.pcap"), NULL), PH_OK);
    struct ph_endpoint a, b;
    assert_int_equal(ph_endpoint_parse("127.0.0.1:1", &a), PH_OK);
    assert_int_equal(ph_endpoint_parse("[::1]:2", &b), PH_OK);
    ph_pcapw_conn *c = NULL;
    assert_int_equal(ph_pcapw_conn_open(w, &a, &b, 0, NULL, &c), PH_ERR_ARG);
    assert_int_equal(ph_pcapw_close(w), PH_OK);
    /* A full device makes writes fail, latched. */
    if (access("/dev/full", W_OK) == 0) {
        assert_int_equal(ph_pcapw_open(&w, "/dev/full", NULL), PH_OK);
        assert_int_equal(ph_pcapw_conn_open(w, &a, &a, 0, NULL, &c), PH_OK);
        uint8_t big[200000] = {0};
        ph_err e = ph_pcapw_data(c, 0, big, sizeof big, 1);
        assert_int_equal(e, PH_ERR_IO);
        assert_int_equal(ph_pcapw_close(w), PH_ERR_IO);
    }
}

/* Every link layer and tunnel the reader opens, for IPv4 and IPv6: the
 * innermost TCP segment comes out whole. Before, NFLOG, PKTAP and PPP were
 * unsupported and tunnelled traffic showed no TCP at all. */
static void test_wrapped_link_layers(void **state)
{
    (void)state;
    for (int kind = V4; kind <= V6EXT; kind++) {
        uint8_t eth[256], f[256 + CAPGEN_WRAP_EXTRA];
        size_t elen = frame(DLT_EN10MB, eth, kind);
        for (int w = 0; w < CW_COUNT; w++) {
            if (w == CW_IPV4 && kind != V4)
                continue; /* LINKTYPE_IPV4 carries IPv4 only */
            size_t len = capgen_wrap((enum capgen_wrap)w, eth, elen, f);
            uint8_t *h = malloc(len); /* exact size: ASan sees any overread */
            assert_non_null(h);
            memcpy(h, f, len);
            struct ph_tcp_packet p;
            ph_err e = ph_capture_parse_frame(capgen_wrap_linktype((enum capgen_wrap)w), h, len,
                                              &p, NULL);
            if (e)
                fail_msg("%s (%s): %s", capgen_wrap_name((enum capgen_wrap)w),
                         kind == V4 ? "IPv4" : "IPv6", ph_strerror(e));
            check_packet(&p, kind);
            /* every strict prefix is short, never a crash */
            for (size_t cut = 0; cut < len; cut++) {
                uint8_t *c = malloc(cut ? cut : 1);
                assert_non_null(c);
                memcpy(c, h, cut);
                /* Any answer is right for a cut frame; only a crash is not. */
                ph_ignore_err(ph_capture_parse_frame(capgen_wrap_linktype((enum capgen_wrap)w),
                                                     c, cut, &p, NULL));
                free(c);
            }
            free(h);
        }
    }
}

/* The same frames through a file of each link type, with the counters. */
static void test_wrapped_files(void **state)
{
    (void)state;
    char src[200], path[200];
    snprintf(src, sizeof src, "%s", tmp_path("src.pcap"));
    snprintf(path, sizeof path, "%s", tmp_path("wrapped.pcap"));
    ph_pcapw *pw;
    assert_int_equal(ph_pcapw_open(&pw, src, NULL), PH_OK);
    struct ph_endpoint a, b;
    assert_int_equal(ph_endpoint_parse("127.0.0.1:40312", &a), PH_OK);
    assert_int_equal(ph_endpoint_parse("127.0.0.2:9735", &b), PH_OK);
    ph_pcapw_conn *c;
    assert_int_equal(ph_pcapw_conn_open(pw, &a, &b, 1000, NULL, &c), PH_OK);
    assert_int_equal(ph_pcapw_data(c, 0, (const uint8_t *)PAYLOAD, PLEN, 2000), PH_OK);
    assert_int_equal(ph_pcapw_conn_close(c, 0, 3000), PH_OK);
    assert_int_equal(ph_pcapw_close(pw), PH_OK);
    for (int w = 0; w < CW_COUNT; w++) {
        capgen_pcap_rewrap(src, path, (enum capgen_wrap)w, 0);
        ph_capture *cap = open_ok(path, NULL);
        struct ph_tcp_packet p;
        int n = 0, data = 0;
        while (ph_capture_next(cap, &p) == PH_OK) {
            n++;
            if (p.payload_len) {
                data++;
                assert_memory_equal(p.payload, PAYLOAD, PLEN);
            }
        }
        const struct ph_capture_stats *st = ph_capture_stats(cap);
        if (n != 9 || data != 1)
            fail_msg("%s: %d segments, %d with data", capgen_wrap_name((enum capgen_wrap)w), n,
                     data);
        bool tunnel = w >= CW_GRE_IP;
        assert_int_equal(st->tunnelled, tunnel ? 9 : 0);
        assert_int_equal(st->vlan, w == CW_VLAN || w == CW_QINQ ? 9 : 0);
        ph_capture_close(cap);
    }
}

/* A filter that does not look inside VLAN tags matches nothing there: the
 * counters say so (lnsession words the hint). Before, nothing told. */
static void test_vlan_filter_hint(void **state)
{
    (void)state;
    uint8_t eth[256], f[256 + CAPGEN_WRAP_EXTRA];
    size_t elen = frame(DLT_EN10MB, eth, V4);
    size_t len = capgen_wrap(CW_VLAN, eth, elen, f);
    struct rec r[2] = {{f, len, len, 1}, {f, len, len, 2}};
    const char *path = tmp_path("vlan.pcap");
    write_pcap(path, DLT_EN10MB, r, 2);
    ph_capture *c = open_ok(path, "tcp port 9735");
    struct ph_tcp_packet p;
    assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
    assert_int_equal(ph_capture_stats(c)->filtered, 2);
    assert_int_equal(ph_capture_stats(c)->vlan_filtered, 2);
    assert_int_equal(ph_capture_stats(c)->vlan, 0);
    ph_capture_close(c);
    c = open_ok(path, "vlan and tcp port 9735");
    assert_int_equal(ph_capture_next(c, &p), PH_OK);
    check_packet(&p, V4);
    assert_int_equal(ph_capture_stats(c)->vlan, 1);
    ph_capture_close(c);
}

/* pcapng: an interface of an unsupported link type is counted, the others
 * read; a packet cut by its interface's snapshot length is counted apart
 * from malformed ones; the filter applies per link type. */
static void test_pcapng_interfaces(void **state)
{
    (void)state;
    uint8_t eth[256], f[3][256 + CAPGEN_WRAP_EXTRA];
    size_t elen = frame(DLT_EN10MB, eth, V4);
    size_t l0 = capgen_wrap(CW_SLL2, eth, elen, f[0]);
    size_t l1 = capgen_wrap(CW_ETH, eth, elen, f[1]);
    const char *path = tmp_path("ifaces.pcapng");
    capgen_ng *w = capgen_ng_open(path, false);
    capgen_ng_iface(w, 276, 0, 9, 0);
    capgen_ng_iface(w, 1, 60, 9, 0);
    capgen_ng_iface(w, 147, 0, 9, 0); /* USER0 */
    capgen_ng_epb(w, 0, 10, f[0], (uint32_t)l0, (uint32_t)l0);
    capgen_ng_epb(w, 1, 11, f[1], 60, (uint32_t)l1);      /* cut at 60 */
    capgen_ng_epb(w, 2, 12, eth, (uint32_t)elen, (uint32_t)elen);
    capgen_ng_epb(w, 1, 13, f[1], (uint32_t)l1, (uint32_t)l1);
    uint8_t bad[60];
    memcpy(bad, f[1], 60);
    bad[14] = 0x4f; /* IHL 60 bytes in a short frame: malformed */
    capgen_ng_epb(w, 1, 14, bad, 60, 60);
    capgen_ng_close(w);
    for (int filtered = 0; filtered < 2; filtered++) {
        ph_capture *c = open_ok(path, filtered ? "tcp dst port 9735" : NULL);
        struct ph_tcp_packet p;
        assert_int_equal(ph_capture_next(c, &p), PH_OK);
        check_packet(&p, V4);
        assert_int_equal(p.iface, 0);
        assert_int_equal(ph_capture_next(c, &p), PH_OK);
        assert_int_equal(p.iface, 1);
        assert_int_equal(p.number, 4);
        assert_int_equal(ph_capture_next(c, &p), PH_ERR_EOF);
        const struct ph_capture_stats *st = ph_capture_stats(c);
        assert_int_equal(st->records, 5);
        assert_int_equal(st->unsupported, 1);
        assert_int_equal(st->unsupported_linktype, 147);
        assert_int_equal(st->first_unsupported, 3);
        assert_int_equal(st->snapcut, 1);
        assert_int_equal(st->first_snapcut, 2);
        assert_int_equal(st->snaplen, 60);
        /* the malformed one is malformed for the filter too: it rejects it */
        assert_int_equal(st->truncated, filtered ? 1 : 2);
        assert_int_equal(st->first_malformed, filtered ? 0 : 5);
        assert_int_equal(st->filtered, filtered ? 1 : 0);
        assert_int_equal(ph_capture_interfaces(c), 3);
        assert_true(ph_capture_is_pcapng(c));
        ph_capture_close(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_types),
        cmocka_unit_test(test_null_big_endian),
        cmocka_unit_test(test_vlan_and_padding),
        cmocka_unit_test(test_not_tcp_and_fragments),
        cmocka_unit_test(test_truncated_and_malformed_frames),
        cmocka_unit_test(test_huge_segment),
        cmocka_unit_test(test_file_truncated_records),
        cmocka_unit_test(test_file_truncated),
        cmocka_unit_test(test_not_a_capture),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_pcapng),
        cmocka_unit_test(test_random_frames),
        cmocka_unit_test(test_random_files),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_pcapwrite_roundtrip),
        cmocka_unit_test(test_pcapwrite_errors),
        cmocka_unit_test(test_wrapped_link_layers),
        cmocka_unit_test(test_wrapped_files),
        cmocka_unit_test(test_vlan_filter_hint),
        cmocka_unit_test(test_pcapng_interfaces),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
