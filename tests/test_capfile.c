/* Capture files read record by record: pcapng with several interfaces of
 * different link types and snapshot lengths (what libpcap refuses), every
 * block type, both byte orders, sections, timestamp resolutions; pcap in
 * every variant; damaged files cut at every byte; streams (pipes) read in
 * one pass. The files are written by tests/support/capgen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "capfile.h"
#include "capgen.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ph_capfile_XXXXXX");
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
    static char path[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static ph_capfile *open_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    ph_capfile *f = NULL;
    char err[PH_CAPFILE_ERRLEN];
    ph_err e = ph_capfile_open(&f, fp, true, err);
    if (e)
        fail_msg("open %s: %s", path, err);
    return f;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    fclose(f);
    *len = (size_t)st.st_size;
    return b;
}

static void spill(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static const uint8_t PKT[7][40] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, {3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4}, {5, 5, 5}, {6, 6, 6}, {7},
};

/* Three interfaces of different link types and snapshot lengths (what
 * `dumpcap -i any -i eth0` or mergecap write), a fourth in a second
 * section, and every block a writer may add: libpcap reads none of it. */
static void write_multi(const char *path, bool be)
{
    capgen_ng *w = capgen_ng_open(path, be);
    uint8_t nrb[16] = {0};
    capgen_ng_block(w, 4, nrb, sizeof nrb);                  /* name resolution */
    assert_int_equal(capgen_ng_iface(w, 276, 262144, 9, 0), 0); /* SLL2, ns */
    assert_int_equal(capgen_ng_iface(w, 1, 96, -1, 0), 1);      /* Ethernet, us, snaplen 96 */
    capgen_ng_epb(w, 0, 1700000000123456789ull, PKT[0], 10, 10);
    capgen_ng_epb(w, 1, 1700000000223456000ull, PKT[1], 10, 10);
    assert_int_equal(capgen_ng_iface(w, 101, 65535, 0x80 | 20, 100), 2); /* raw, 2^-20 s */
    capgen_ng_epb(w, 2, 1700000000000000000ull, PKT[2], 5, 5);
    uint8_t isb[24] = {0};
    capgen_ng_block(w, 5, isb, sizeof isb);                  /* interface statistics */
    capgen_ng_block(w, 0x40000bad, (const uint8_t *)"custom", 6);
    capgen_ng_opb(w, 1, 1700000001000000000ull, PKT[3], 5, 9000); /* cut by its snaplen */
    capgen_ng_section(w, !be);                               /* the other byte order */
    assert_int_equal(capgen_ng_iface(w, 113, 0, 3, 0), 0);   /* SLL, ms */
    capgen_ng_spb(w, PKT[4], 3, 3);
    capgen_ng_epb(w, 0, 1700000002000000000ull, PKT[5], 3, 3);
    capgen_ng_epb(w, 7, 1700000003000000000ull, PKT[6], 1, 1); /* undescribed interface */
    capgen_ng_close(w);
}

static void check_multi(ph_capfile *f)
{
    struct {
        int linktype;
        uint32_t iface, caplen, origlen, snaplen;
        uint64_t ts;
    } want[] = {
        {276, 0, 10, 10, 262144, 1700000000123456789ull},
        {1, 1, 10, 10, 96, 1700000000223456000ull},
        {101, 2, 5, 5, 65535, 1700000000000000000ull + 100000000000ull},
        {1, 1, 5, 9000, 96, 1700000001000000000ull},
        {113, 3, 3, 3, 0, 1700000001000000000ull}, /* SPB: the previous time */
        {113, 3, 3, 3, 0, 1700000002000000000ull},
        {-1, UINT32_MAX, 1, 1, 0, 1700000002000000000ull},
    };
    struct ph_capfile_record r;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(ph_capfile_next(f, &r), PH_OK);
        assert_int_equal(r.number, i + 1);
        assert_int_equal(r.linktype, want[i].linktype);
        assert_int_equal(r.iface, want[i].iface);
        assert_int_equal(r.caplen, want[i].caplen);
        assert_int_equal(r.origlen, want[i].origlen);
        assert_int_equal(r.snaplen, want[i].snaplen);
        /* 2^-20 s units lose a little: within a microsecond */
        uint64_t d = r.ts_ns > want[i].ts ? r.ts_ns - want[i].ts : want[i].ts - r.ts_ns;
        if (d > 1000)
            fail_msg("record %zu: ts %llu, want %llu", i + 1, (unsigned long long)r.ts_ns,
                     (unsigned long long)want[i].ts);
        assert_memory_equal(r.data, PKT[i], r.caplen);
    }
    assert_int_equal(ph_capfile_next(f, &r), PH_ERR_EOF);
    assert_int_equal(ph_capfile_next(f, &r), PH_ERR_EOF);
    assert_int_equal(ph_capfile_iface_count(f), 4);
    assert_int_equal(ph_capfile_iface(f, 3)->section, 1);
    assert_int_equal(ph_capfile_format(f), PH_CAPFILE_PCAPNG);
}

static void test_multi_interface_pcapng(void **state)
{
    (void)state;
    for (int be = 0; be < 2; be++) {
        const char *path = tmp_path("multi.pcapng");
        write_multi(path, be);
        ph_capfile *f = open_file(path);
        check_multi(f);
        ph_capfile_close(f);
    }
}

/* Read through a pipe: one pass, no seek, same records. */
static void test_stream_from_pipe(void **state)
{
    (void)state;
    const char *path = tmp_path("pipe.pcapng");
    write_multi(path, false);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    ph_capfile *f = NULL;
    assert_int_equal(ph_capfile_open(&f, p, false, NULL), PH_OK);
    check_multi(f);
    ph_capfile_close(f);
    assert_int_equal(pclose(p), 0);
}

static void test_pcap_variants(void **state)
{
    (void)state;
    unsigned variants[] = {0, CAPGEN_SWAPPED, CAPGEN_MICRO, CAPGEN_MICRO | CAPGEN_SWAPPED,
                           CAPGEN_MODIFIED, CAPGEN_MODIFIED | CAPGEN_SWAPPED};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const char *path = tmp_path("v.pcap");
        capgen_pcap *w = capgen_pcap_open(path, 113, 4096, variants[v]);
        capgen_pcap_rec(w, 1700000000123456789ull, PKT[0], 10, 10);
        capgen_pcap_rec(w, 1700000001000000000ull, PKT[1], 4, 10);
        capgen_pcap_close(w);
        ph_capfile *f = open_file(path);
        struct ph_capfile_record r;
        assert_int_equal(ph_capfile_next(f, &r), PH_OK);
        assert_int_equal(r.linktype, 113);
        assert_int_equal(r.snaplen, 4096);
        bool micro = variants[v] & (CAPGEN_MICRO | CAPGEN_MODIFIED);
        assert_true(r.ts_ns == (micro ? 1700000000123456000ull : 1700000000123456789ull));
        assert_memory_equal(r.data, PKT[0], 10);
        assert_int_equal(ph_capfile_next(f, &r), PH_OK);
        assert_int_equal(r.caplen, 4);
        assert_int_equal(r.origlen, 10);
        assert_int_equal(r.offset, 24 + ((variants[v] & CAPGEN_MODIFIED) ? 24 : 16) + 10);
        assert_int_equal(ph_capfile_next(f, &r), PH_ERR_EOF);
        ph_capfile_close(f);
    }
}

/* Cut at every byte: never more than the whole records before the cut,
 * always a clean EOF, a truncation or (inside a header) an open error. */
static void test_cut_everywhere(void **state)
{
    (void)state;
    const char *files[2] = {tmp_path("cut.pcapng"), tmp_path("cut.pcap")};
    write_multi(files[0], false);
    capgen_pcap *w = capgen_pcap_open(files[1], 1, 65535, 0);
    for (int i = 0; i < 3; i++)
        capgen_pcap_rec(w, 1000u + (uint64_t)i, PKT[i], 10, 10);
    capgen_pcap_close(w);
    for (int k = 0; k < 2; k++) {
        size_t len;
        uint8_t *all = slurp(files[k], &len);
        const char *cut = tmp_path("cut.bin");
        for (size_t n = 0; n <= len; n++) {
            spill(cut, all, n);
            FILE *fp = fopen(cut, "rb");
            assert_non_null(fp);
            ph_capfile *f = NULL;
            char err[PH_CAPFILE_ERRLEN];
            ph_err e = ph_capfile_open(&f, fp, true, err);
            if (e) {
                assert_int_equal(e, PH_ERR_CAPTURE_OPEN);
                assert_true(strlen(err) > 0);
                continue;
            }
            struct ph_capfile_record r;
            uint64_t got = 0;
            while ((e = ph_capfile_next(f, &r)) == PH_OK)
                got++;
            if (n == len)
                assert_int_equal(e, PH_ERR_EOF);
            else
                assert_true(e == PH_ERR_EOF || e == PH_ERR_CAPTURE_TRUNCATED);
            assert_true(ph_capfile_good_offset(f) <= n);
            if (e == PH_ERR_CAPTURE_TRUNCATED)
                assert_non_null(strstr(ph_capfile_error(f), "ends inside"));
            ph_capfile_close(f);
        }
        free(all);
    }
}

static void test_not_a_capture(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } cases[] = {
        {"", 0, "empty"},
        {"hello, not a capture\n", 21, "looks like text"},
        {"\x1f\x8b\x08\x00\x00\x00", 6, "gzip"},
        {"\x28\xb5\x2f\xfd\x00", 5, "zstd"},
        {"\xd4\xc3\xb2\xa1\x02\x00", 6, "ends inside the pcap header"},
        {"\xd4\xc3\xb2\xa1\x09\x00\x04\x00\0\0\0\0\0\0\0\0\xff\xff\0\0\1\0\0\0", 24, "version"},
        {"\x0a\x0d\x0d\x0a\x1c\0\0\0\x4d\x3c\x2b\x1a", 12, "section header"},
        {"\x0a\x0d\x0d\x0a\x1c\0\0\0\x11\x22\x33\x44", 12, "byte-order magic"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = tmp_path("bad.bin");
        spill(path, (const uint8_t *)cases[i].bytes, cases[i].len);
        FILE *fp = fopen(path, "rb");
        ph_capfile *f = (ph_capfile *)1;
        char err[PH_CAPFILE_ERRLEN];
        assert_int_equal(ph_capfile_open(&f, fp, true, err), PH_ERR_CAPTURE_OPEN);
        assert_null(f);
        if (!strstr(err, cases[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].why);
    }
}

/* Impossible headers stop the file with a message naming the offset. */
static void test_corrupt_blocks(void **state)
{
    (void)state;
    const char *path = tmp_path("corrupt.pcapng");
    write_multi(path, false);
    size_t len;
    uint8_t *all = slurp(path, &len);
    /* the first block after the SHB (28 bytes) is the NRB: its length */
    static const uint32_t bad_len[] = {7, 13, 0x7ffffff0u, 0};
    for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++) {
        uint8_t *m = malloc(len);
        assert_non_null(m);
        memcpy(m, all, len);
        if (bad_len[i]) {
            memcpy(m + 28 + 4, &bad_len[i], 4);
        } else {
            m[28 + 28 - 4] ^= 1; /* trailing length of the NRB */
        }
        const char *cp = tmp_path("c.pcapng");
        spill(cp, m, len);
        ph_capfile *f = open_file(cp);
        struct ph_capfile_record r;
        assert_int_equal(ph_capfile_next(f, &r), PH_ERR_CAPTURE_CORRUPT);
        assert_non_null(strstr(ph_capfile_error(f), "offset 28"));
        assert_int_equal(ph_capfile_good_offset(f), 28);
        ph_capfile_close(f);
        free(m);
    }
    /* an EPB claiming more bytes than its block holds */
    capgen_ng *w = capgen_ng_open(path, false);
    capgen_ng_iface(w, 1, 0, -1, 0);
    uint8_t body[24] = {0};
    body[12] = 200; /* caplen 200 in a block with 4 bytes of data */
    capgen_ng_block(w, 6, body, sizeof body);
    capgen_ng_close(w);
    ph_capfile *f = open_file(path);
    struct ph_capfile_record r;
    assert_int_equal(ph_capfile_next(f, &r), PH_ERR_CAPTURE_CORRUPT);
    assert_non_null(strstr(ph_capfile_error(f), "claims 200 captured bytes"));
    ph_capfile_close(f);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_interface_pcapng),
        cmocka_unit_test(test_stream_from_pipe),
        cmocka_unit_test(test_pcap_variants),
        cmocka_unit_test(test_cut_everywhere),
        cmocka_unit_test(test_not_a_capture),
        cmocka_unit_test(test_corrupt_blocks),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
