/* Gossip signatures: the real mainnet sample verifies, our own signed
 * messages verify, tampering is caught. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gossip_sig.h"

#define SAMPLE "captures/mainnet-gossip.lnmsgs"

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const uint8_t mainnet[32] = {
    0x6f, 0xe2, 0x8c, 0x0a, 0xb6, 0xf1, 0xb3, 0x72, 0xc1, 0xa6, 0xa2, 0x46, 0xae, 0x63, 0xf7, 0x4f,
    0x93, 0x1e, 0x83, 0x65, 0xe1, 0x5a, 0x08, 0x9c, 0x68, 0xd6, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void secret(uint8_t out[32], uint8_t seed)
{
    memset(out, seed, 32);
}

/* Every announcement of the sample verifies; every update yields a key by
 * recovery. The updates of announced channels are checked independently of
 * recovery: each verifies against the node id its announcement names for
 * its direction, and recovery finds that same key. */
#define MAX_ANN 64

static void test_sample_verifies(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = read_all(SAMPLE, &len);
    size_t counts[3] = { 0 }, ok[3] = { 0 }, recovered = 0, announced_updates = 0;
    uint64_t ann_scid[MAX_ANN];
    uint8_t ann_node[MAX_ANN][2][33];
    size_t nann = 0;
    for (size_t off = 0; off < len;) {
        assert_true(len - off >= 2);
        size_t l = ((size_t)buf[off] << 8) | buf[off + 1];
        const uint8_t *m = buf + off + 2;
        assert_true(off + 2 + l <= len);
        ph_gossip_fields f;
        assert_int_equal(ph_gossip_parse(m, l, &f), PH_OK);
        int k = f.type - PH_WIRE_CHANNEL_ANNOUNCEMENT;
        assert_true(k >= 0 && k < 3);
        counts[k]++;
        if (f.type != PH_WIRE_CHANNEL_UPDATE) {
            if (ph_gossip_verify(m, l, NULL) == PH_OK)
                ok[k]++;
            if (f.type == PH_WIRE_CHANNEL_ANNOUNCEMENT && nann < MAX_ANN) {
                ann_scid[nann] = f.scid;
                memcpy(ann_node[nann][0], f.node_id[0], 33);
                memcpy(ann_node[nann][1], f.node_id[1], 33);
                nann++;
            }
        } else {
            uint8_t keys[2][33];
            bool kok[2];
            assert_memory_equal(f.chain_hash, mainnet, 32);
            if (ph_gossip_recover_keys(m, l, keys, kok) == PH_OK)
                recovered++;
            for (size_t a = 0; a < nann; a++) {
                if (ann_scid[a] != f.scid)
                    continue;
                const uint8_t *signer = ann_node[a][f.channel_flags & 1];
                assert_int_equal(ph_gossip_verify(m, l, signer), PH_OK);
                assert_int_equal(ph_gossip_verify(m, l, ann_node[a][!(f.channel_flags & 1)]),
                                 PH_ERR_GOSSIP_SIGNATURE);
                assert_true((kok[0] && memcmp(keys[0], signer, 33) == 0) ||
                            (kok[1] && memcmp(keys[1], signer, 33) == 0));
                announced_updates++;
            }
        }
        off += 2 + l;
    }
    assert_int_equal(counts[0], 27);
    assert_int_equal(counts[1], 2251);
    assert_int_equal(counts[2], 26531);
    assert_int_equal(ok[0], 27);
    assert_int_equal(ok[1], 2251);
    assert_int_equal(recovered, 26531);
    printf("updates of announced channels checked against their announcement: %zu\n",
           announced_updates);
    assert_true(announced_updates > 0);
    free(buf);
}

static void test_build_and_verify_channel(void **state)
{
    (void)state;
    uint8_t ns[2][32], bs[2][32];
    secret(ns[0], 0x41);
    secret(ns[1], 0x12);
    secret(bs[0], 0x23);
    secret(bs[1], 0x34);
    uint8_t ann[PH_WIRE_CHANNEL_ANNOUNCEMENT_MIN_LEN];
    size_t alen;
    uint64_t scid = ph_wire_scid_make(800000, 12, 1);
    assert_int_equal(ph_gossip_build_channel_announcement(mainnet, scid, (const uint8_t(*)[32])ns,
                                                          (const uint8_t(*)[32])bs, ann,
                                                          sizeof(ann), &alen),
                     PH_OK);
    assert_int_equal(alen, 432);
    assert_int_equal(ph_gossip_verify(ann, alen, NULL), PH_OK);

    ph_gossip_fields f;
    assert_int_equal(ph_gossip_parse(ann, alen, &f), PH_OK);
    assert_int_equal(f.type, PH_WIRE_CHANNEL_ANNOUNCEMENT);
    assert_true(f.scid == scid);
    assert_int_equal(ph_wire_scid_block(f.scid), 800000);
    assert_true(memcmp(f.node_id[0], f.node_id[1], 33) < 0); /* BOLT 7 ordering */
    uint8_t pk[33];
    assert_int_equal(ph_gossip_pubkey(ns[0], pk), PH_OK);
    int i0 = memcmp(pk, f.node_id[0], 33) == 0 ? 0 : 1;
    assert_memory_equal(pk, f.node_id[i0], 33);
    /* each node stays with its bitcoin key */
    assert_int_equal(ph_gossip_pubkey(bs[0], pk), PH_OK);
    assert_memory_equal(pk, f.bitcoin_key[i0], 33);

    /* any flipped byte in any of the 4 signatures or in the signed part fails */
    size_t spots[] = { 2 + 10, 2 + 64 + 10, 2 + 128 + 10, 2 + 192 + 10, 300 };
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        uint8_t bad[sizeof(ann)];
        memcpy(bad, ann, alen);
        bad[spots[i]] ^= 0x01;
        ph_err e = ph_gossip_verify(bad, alen, NULL);
        assert_true(e == PH_ERR_GOSSIP_SIGNATURE || e == PH_ERR_WIRE_FIELD);
    }
    /* a node key that is not a point */
    uint8_t bad[sizeof(ann)];
    memcpy(bad, ann, alen);
    bad[2 + 256 + 2 + 32 + 8] = 0x05;
    assert_int_equal(ph_gossip_verify(bad, alen, NULL), PH_ERR_WIRE_FIELD);

    /* signing with keys that are not the message's is refused */
    uint8_t swapped[2][32];
    memcpy(swapped[0], ns[1], 32);
    memcpy(swapped[1], ns[0], 32);
    const uint8_t(*order_ok)[32] = i0 == 0 ? (const uint8_t(*)[32])ns : (const uint8_t(*)[32])swapped;
    const uint8_t(*order_bad)[32] = i0 == 0 ? (const uint8_t(*)[32])swapped : (const uint8_t(*)[32])ns;
    uint8_t bss[2][32];
    memcpy(bss[0], i0 == 0 ? bs[0] : bs[1], 32);
    memcpy(bss[1], i0 == 0 ? bs[1] : bs[0], 32);
    assert_int_equal(ph_gossip_sign_channel_announcement(bad, alen, order_bad, (const uint8_t(*)[32])bss),
                     PH_ERR_ARG);
    memcpy(bad, ann, alen);
    memset(bad + 2, 0, 256);
    assert_int_equal(ph_gossip_sign_channel_announcement(bad, alen, order_ok, (const uint8_t(*)[32])bss),
                     PH_OK);
    assert_int_equal(ph_gossip_verify(bad, alen, NULL), PH_OK);
}

static void test_update_and_node(void **state)
{
    (void)state;
    uint8_t s1[32], s2[32], id1[33], id2[33];
    secret(s1, 0x51);
    secret(s2, 0x52);
    assert_int_equal(ph_gossip_pubkey(s1, id1), PH_OK);
    assert_int_equal(ph_gossip_pubkey(s2, id2), PH_OK);
    ph_gossip_update_fields uf = {
        .scid = ph_wire_scid_make(700000, 1, 0), .timestamp = 1700000000, .channel_flags = 1,
        .cltv_expiry_delta = 40, .htlc_minimum_msat = 1000, .fee_base_msat = 1,
        .fee_proportional_millionths = 100, .htlc_maximum_msat = 990000000,
    };
    memcpy(uf.chain_hash, mainnet, 32);
    uint8_t upd[PH_WIRE_CHANNEL_UPDATE_MIN_LEN];
    size_t ulen;
    assert_int_equal(ph_gossip_build_channel_update(&uf, s1, upd, sizeof(upd), &ulen), PH_OK);
    assert_int_equal(ulen, 138);
    assert_int_equal(ph_gossip_verify(upd, ulen, id1), PH_OK);
    assert_int_equal(ph_gossip_verify(upd, ulen, id2), PH_ERR_GOSSIP_SIGNATURE);
    assert_int_equal(ph_gossip_verify(upd, ulen, NULL), PH_ERR_ARG);
    ph_gossip_fields f;
    assert_int_equal(ph_gossip_parse(upd, ulen, &f), PH_OK);
    assert_int_equal(f.timestamp, 1700000000);
    assert_int_equal(f.channel_flags, 1);
    assert_int_equal(f.message_flags, PH_GOSSIP_MESSAGE_FLAG_MUST_BE_ONE);

    /* recovery finds the signer */
    uint8_t keys[2][33];
    bool ok[2];
    assert_int_equal(ph_gossip_recover_keys(upd, ulen, keys, ok), PH_OK);
    assert_true((ok[0] && memcmp(keys[0], id1, 33) == 0) || (ok[1] && memcmp(keys[1], id1, 33) == 0));

    /* the high-S form of the same signature (s -> n - s) is refused, as
     * libsecp256k1's verify refuses it */
    static const uint8_t order[32] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
        0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    };
    uint8_t hs[PH_WIRE_CHANNEL_UPDATE_MIN_LEN];
    memcpy(hs, upd, ulen);
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = order[i] - hs[2 + 32 + i] - borrow;
        borrow = d < 0;
        hs[2 + 32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    assert_memory_not_equal(hs, upd, ulen);
    assert_int_equal(ph_gossip_verify(hs, ulen, id1), PH_ERR_GOSSIP_SIGNATURE);

    /* tampering with a field after the signature */
    upd[2 + 64 + 32 + 8 + 4 + 2 + 2 + 8] ^= 0x80;
    assert_int_equal(ph_gossip_verify(upd, ulen, id1), PH_ERR_GOSSIP_SIGNATURE);

    /* node_announcement with features and an ipv4 address */
    const uint8_t feat[] = { 0x08, 0x80 };
    const uint8_t addr[] = { 1, 127, 0, 0, 1, 0x26, 0x07 };
    ph_gossip_node_fields nf = { .timestamp = 1700000001, .rgb_color = { 1, 2, 3 },
                                 .features = feat, .features_len = sizeof(feat),
                                 .addresses = addr, .addresses_len = sizeof(addr) };
    memcpy(nf.alias, "peerheap-test", 13);
    uint8_t na[256];
    size_t nlen;
    assert_int_equal(ph_gossip_build_node_announcement(&nf, s2, na, sizeof(na), &nlen), PH_OK);
    assert_int_equal(nlen, 142 + 2 + 7);
    assert_int_equal(ph_gossip_verify(na, nlen, NULL), PH_OK);
    assert_int_equal(ph_gossip_parse(na, nlen, &f), PH_OK);
    assert_memory_equal(f.node_id[0], id2, 33);
    assert_int_equal(f.timestamp, 1700000001);
    assert_int_equal(ph_gossip_build_node_announcement(&nf, s2, na, 100, &nlen), PH_ERR_LIMIT);
    /* signing with another node's key is refused */
    assert_int_equal(ph_gossip_sign_node_announcement(na, 142 + 2 + 7, s1), PH_ERR_ARG);
    na[70] ^= 1;
    assert_int_equal(ph_gossip_verify(na, 142 + 2 + 7, NULL), PH_ERR_GOSSIP_SIGNATURE);
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

/* The builders write the views' encoders' bytes: checked here against the
 * BOLT 7 layouts laid out by hand (an oracle independent of the table),
 * everything but the signatures, which must verify; and a buffer one byte
 * short is PH_ERR_LIMIT. */
static void test_builders_match_hand_layout(void **state)
{
    (void)state;
    uint8_t ns[2][32], bs[2][32], pk[4][33];
    secret(ns[0], 0x21);
    secret(ns[1], 0x22);
    secret(bs[0], 0x23);
    secret(bs[1], 0x24);
    assert_int_equal(ph_gossip_pubkey(ns[0], pk[0]), PH_OK);
    assert_int_equal(ph_gossip_pubkey(ns[1], pk[1]), PH_OK);
    assert_int_equal(ph_gossip_pubkey(bs[0], pk[2]), PH_OK);
    assert_int_equal(ph_gossip_pubkey(bs[1], pk[3]), PH_OK);
    int lo = memcmp(pk[0], pk[1], 33) <= 0 ? 0 : 1;

    /* channel_announcement: 4 signatures, len = 0, chain, scid, node ids, bitcoin keys */
    uint8_t ann[432], want[432] = { 0 };
    size_t alen;
    uint64_t scid = ph_wire_scid_make(812345, 678, 9);
    assert_int_equal(ph_gossip_build_channel_announcement(mainnet, scid, (const uint8_t(*)[32])ns,
                                                          (const uint8_t(*)[32])bs, ann, 431, &alen),
                     PH_ERR_LIMIT);
    assert_int_equal(ph_gossip_build_channel_announcement(mainnet, scid, (const uint8_t(*)[32])ns,
                                                          (const uint8_t(*)[32])bs, ann, sizeof ann,
                                                          &alen),
                     PH_OK);
    assert_int_equal(alen, 432);
    put16(want, 256);
    memcpy(want + 2, ann + 2, 256); /* the signatures, checked below */
    put16(want + 258, 0);
    memcpy(want + 260, mainnet, 32);
    put64(want + 292, scid);
    memcpy(want + 300, pk[lo], 33);
    memcpy(want + 333, pk[1 - lo], 33);
    memcpy(want + 366, pk[2 + lo], 33);
    memcpy(want + 399, pk[2 + (1 - lo)], 33);
    assert_memory_equal(ann, want, 432);
    assert_int_equal(ph_gossip_verify(ann, alen, NULL), PH_OK);

    /* channel_update: signature, chain, scid, timestamp, flags, cltv, htlc min, fees, htlc max */
    ph_gossip_update_fields uf = {
        .scid = scid, .timestamp = 0x65432100, .message_flags = 2, .channel_flags = 3,
        .cltv_expiry_delta = 0x1234, .htlc_minimum_msat = 0x0102030405060708ull,
        .fee_base_msat = 0xa1b2c3d4, .fee_proportional_millionths = 0x11223344,
        .htlc_maximum_msat = 0x8877665544332211ull,
    };
    memcpy(uf.chain_hash, mainnet, 32);
    uint8_t upd[138], uwant[138];
    size_t ulen;
    assert_int_equal(ph_gossip_build_channel_update(&uf, ns[1], upd, 137, &ulen), PH_ERR_LIMIT);
    assert_int_equal(ph_gossip_build_channel_update(&uf, ns[1], upd, sizeof upd, &ulen), PH_OK);
    assert_int_equal(ulen, 138);
    put16(uwant, 258);
    memcpy(uwant + 2, upd + 2, 64);
    memcpy(uwant + 66, mainnet, 32);
    put64(uwant + 98, scid);
    put32(uwant + 106, 0x65432100);
    uwant[110] = 2 | 1; /* must_be_one set by the builder */
    uwant[111] = 3;
    put16(uwant + 112, 0x1234);
    put64(uwant + 114, 0x0102030405060708ull);
    put32(uwant + 122, 0xa1b2c3d4);
    put32(uwant + 126, 0x11223344);
    put64(uwant + 130, 0x8877665544332211ull);
    assert_memory_equal(upd, uwant, 138);
    assert_int_equal(ph_gossip_verify(upd, ulen, pk[1]), PH_OK);

    /* node_announcement: signature, flen, features, timestamp, node_id, rgb,
     * alias, addrlen, addresses */
    const uint8_t feat[] = { 0x02, 0x22, 0x08 };
    const uint8_t addr[] = { 1, 10, 0, 0, 7, 0x26, 0x07 };
    ph_gossip_node_fields nf = { .timestamp = 0x61626364, .rgb_color = { 9, 8, 7 },
                                 .features = feat, .features_len = sizeof feat,
                                 .addresses = addr, .addresses_len = sizeof addr };
    memcpy(nf.alias, "hand-laid", 9);
    uint8_t na[152], nwant[152] = { 0 };
    size_t nlen;
    assert_int_equal(ph_gossip_build_node_announcement(&nf, bs[0], na, 151, &nlen), PH_ERR_LIMIT);
    assert_int_equal(ph_gossip_build_node_announcement(&nf, bs[0], na, sizeof na, &nlen), PH_OK);
    assert_int_equal(nlen, 152);
    put16(nwant, 257);
    memcpy(nwant + 2, na + 2, 64);
    put16(nwant + 66, 3);
    memcpy(nwant + 68, feat, 3);
    put32(nwant + 71, 0x61626364);
    memcpy(nwant + 75, pk[2], 33);
    memcpy(nwant + 108, nf.rgb_color, 3);
    memcpy(nwant + 111, nf.alias, 32);
    put16(nwant + 143, 7);
    memcpy(nwant + 145, addr, 7);
    assert_memory_equal(na, nwant, 152);
    assert_int_equal(ph_gossip_verify(na, nlen, NULL), PH_OK);
    /* more than 65,535 bytes in all */
    static uint8_t huge[65535];
    nf.features = huge;
    nf.features_len = 65535 - 142;
    assert_int_equal(ph_gossip_build_node_announcement(&nf, bs[0], na, sizeof na, &nlen),
                     PH_ERR_WIRE_TOO_LONG);
}

static void test_parse_errors(void **state)
{
    (void)state;
    uint8_t m[600] = { 0 };
    ph_gossip_fields f;
    m[0] = 0x01;
    m[1] = 0x02;
    assert_int_equal(ph_gossip_parse(m, 137, &f), PH_ERR_WIRE_SHORT);
    assert_int_equal(ph_gossip_parse(m, 138, &f), PH_OK);
    m[1] = 0x00; /* channel_announcement with features longer than the message */
    m[258] = 0x01;
    assert_int_equal(ph_gossip_parse(m, 432, &f), PH_ERR_WIRE_SHORT);
    m[258] = 0;
    m[259] = 4;
    assert_int_equal(ph_gossip_parse(m, 435, &f), PH_ERR_WIRE_SHORT);
    assert_int_equal(ph_gossip_parse(m, 436, &f), PH_OK);
    m[1] = 0x01; /* node_announcement: addrlen beyond the end */
    m[66] = m[67] = 0;
    m[68 + 72] = 0;
    m[68 + 73] = 9;
    assert_int_equal(ph_gossip_parse(m, 142, &f), PH_ERR_WIRE_SHORT);
    assert_int_equal(ph_gossip_parse(m, 151, &f), PH_OK);
    m[1] = 0x03;
    assert_int_equal(ph_gossip_parse(m, 200, &f), PH_ERR_WIRE_UNKNOWN_TYPE);
    assert_int_equal(ph_gossip_parse(m, 1, &f), PH_ERR_WIRE_SHORT);
    uint8_t pk[33], zero[32] = { 0 };
    assert_int_equal(ph_gossip_pubkey(zero, pk), PH_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_verifies),
        cmocka_unit_test(test_build_and_verify_channel),
        cmocka_unit_test(test_update_and_node),
        cmocka_unit_test(test_builders_match_hand_layout),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
