/* The generated views and encoders (wire_views.h), the type enum and the
 * counter slots (wire_types.h), checked against the codec engine
 * (ph_wire_decode / ph_wire_get), which shares the layouts but none of the
 * generated code: the engine is the oracle, the mainnet sample and the
 * BOLT vectors the inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "byteorder.h"
#include "hex.h"
#include "lnmsgs.h"
#include "ph_test.h"
#include "vecjson.h"
#include "wire.h"
#include "wire_views.h"
#include "wiregen.h"

#define CAPTURE "captures/mainnet-gossip.lnmsgs"
#define VEC "tests/vectors/"

static uint64_t member_uint(const void *view, const ph_wire_view_member *mb)
{
    const uint8_t *p = (const uint8_t *)view + mb->offset;
    switch (mb->size) {
    case 1: return *(const uint8_t *)p;
    case 2: return *(const uint16_t *)(const void *)p;
    case 4: return *(const uint32_t *)(const void *)p;
    default: return *(const uint64_t *)(const void *)p;
    }
}

static int64_t member_int(const void *view, const ph_wire_view_member *mb)
{
    const uint8_t *p = (const uint8_t *)view + mb->offset;
    switch (mb->size) {
    case 1: return *(const int8_t *)p;
    case 2: return *(const int16_t *)(const void *)p;
    case 4: return *(const int32_t *)(const void *)p;
    default: return *(const int64_t *)(const void *)p;
    }
}

static const uint8_t *member_ptr(const void *view, size_t offset)
{
    const uint8_t *p;
    memcpy(&p, (const uint8_t *)view + offset, sizeof p);
    return p;
}

static size_t member_size(const void *view, size_t offset)
{
    size_t n;
    memcpy(&n, (const uint8_t *)view + offset, sizeof n);
    return n;
}

/* Every member of the view holds what the engine reads for that field,
 * and points into the message at the same place. */
static void check_members(const ph_wire_view_ops *ops, const void *view, const uint8_t *msg,
                          size_t len)
{
    ph_wire_msg *m = NULL;
    assert_int_equal(ph_wire_decode(msg, len, PH_WIRE_BORROW, &m, NULL), PH_OK);
    const ph_wire_msg_desc *d = ph_wire_msg_layout(m);
    size_t nonmember = 0;
    for (size_t k = 0; k < d->nfields; k++)
        nonmember += d->fields[k].is_count;
    assert_int_equal(ops->nmembers, d->nfields - nonmember);
    for (size_t i = 0; i < ops->nmembers; i++) {
        const ph_wire_view_member *mb = &ops->members[i];
        ph_wire_value ev;
        if (ph_wire_get(m, mb->name, &ev) != PH_OK)
            fail_msg("%s.%s: engine has no such field", ops->name, mb->name);
        switch (mb->kind) {
        case PH_WIRE_M_UINT: {
            uint64_t want;
            if (ev.desc->type == PH_WIRE_T_SCID)
                want = ph_be64(ev.p);
            else
                assert_int_equal(ph_wire_value_u64(&ev, &want), PH_OK);
            if (member_uint(view, mb) != want)
                fail_msg("%s.%s: view %llu, engine %llu", ops->name, mb->name,
                         (unsigned long long)member_uint(view, mb), (unsigned long long)want);
            break;
        }
        case PH_WIRE_M_INT: {
            int64_t want;
            assert_int_equal(ph_wire_value_i64(&ev, &want), PH_OK);
            assert_true(member_int(view, mb) == want);
            break;
        }
        case PH_WIRE_M_BYTES:
            assert_int_equal(ev.len, mb->size);
            if (member_ptr(view, mb->offset) != ev.p)
                fail_msg("%s.%s: view points at %td, engine at %td", ops->name, mb->name,
                         member_ptr(view, mb->offset) - msg, ev.p - msg);
            break;
        case PH_WIRE_M_ARRAY:
            assert_int_equal(member_size(view, mb->count_offset), ev.count);
            if (ev.len)
                assert_ptr_equal(member_ptr(view, mb->offset), ev.p);
            if (mb->size)
                assert_int_equal(ev.len, ev.count * mb->size);
            else
                assert_int_equal(member_size(view, mb->bytes_offset), ev.len);
            break;
        }
    }
    ph_wire_msg_free(m);
}

/* parse, check members, encode: the same bytes. */
static void view_round_trip(const uint8_t *msg, size_t len)
{
    ph_wire_view v;
    size_t eo = 0;
    ph_err e = ph_wire_view_parse(msg, len, &v, &eo);
    if (e)
        fail_msg("type %u, %zu bytes: %s at %zu", ph_be16(msg), len, ph_strerror(e), eo);
    assert_true(v.known);
    const ph_wire_view_ops *ops = ph_wire_view_ops_find(v.type);
    assert_non_null(ops);
    check_members(ops, &v.u, msg, len);
    assert_int_equal(ops->len(&v.u), len);
    uint8_t *out = malloc(len);
    size_t w = 0;
    assert_int_equal(ops->encode(&v.u, out, len, &w), PH_OK);
    assert_int_equal(w, len);
    assert_memory_equal(out, msg, len);
    if (len > 2)
        assert_int_equal(ops->encode(&v.u, out, len - 1, &w), PH_ERR_ARG);
    free(out);
}

static void test_mainnet_round_trip(void **state)
{
    (void)state;
    size_t flen, off = 0, n = 0, per_type[3] = {0};
    uint8_t *f = ph_test_read_file(CAPTURE, &flen);
    for (;;) {
        const uint8_t *msg;
        size_t len;
        assert_int_equal(ph_lnmsgs_next(f, flen, &off, &msg, &len), PH_OK);
        if (!len)
            break;
        view_round_trip(msg, len);
        uint16_t t = ph_be16(msg);
        assert_true(t >= 256 && t <= 258);
        per_type[t - 256]++;
        n++;
    }
    assert_int_equal(n, 28809);
    assert_int_equal(per_type[0], 27);
    assert_int_equal(per_type[1], 2251);
    assert_int_equal(per_type[2], 26531);
    free(f);
}

/* The typed members of the messages the node reads, on one real message of
 * each: the fields the store uses, by name. */
static void test_mainnet_typed(void **state)
{
    (void)state;
    size_t flen, off = 0;
    uint8_t *f = ph_test_read_file(CAPTURE, &flen);
    unsigned seen = 0;
    while (seen != 7) {
        const uint8_t *msg;
        size_t len;
        assert_int_equal(ph_lnmsgs_next(f, flen, &off, &msg, &len), PH_OK);
        assert_true(len > 0);
        ph_wire_msg *m;
        assert_int_equal(ph_wire_decode(msg, len, PH_WIRE_BORROW, &m, NULL), PH_OK);
        uint64_t scid, ts;
        const uint8_t *p;
        size_t pl;
        switch (ph_be16(msg)) {
        case PH_WIRE_CHANNEL_ANNOUNCEMENT: {
            ph_wire_channel_announcement v;
            assert_int_equal(ph_wire_channel_announcement_parse(msg, len, &v, NULL), PH_OK);
            assert_int_equal(ph_wire_get_scid(m, "short_channel_id", &scid), PH_OK);
            assert_true(v.short_channel_id == scid);
            assert_int_equal(ph_wire_get_bytes(m, "bitcoin_key_2", &p, &pl), PH_OK);
            assert_memory_equal(v.bitcoin_key_2, p, 33);
            assert_true(ph_wire_point_valid(v.node_id_1));
            assert_int_equal(ph_wire_get_bytes(m, "features", &p, &pl), PH_OK);
            assert_int_equal(v.features_len, pl);
            seen |= 1;
            break;
        }
        case PH_WIRE_NODE_ANNOUNCEMENT: {
            ph_wire_node_announcement v;
            assert_int_equal(ph_wire_node_announcement_parse(msg, len, &v, NULL), PH_OK);
            assert_int_equal(ph_wire_get_u64(m, "timestamp", &ts), PH_OK);
            assert_true(v.timestamp == ts);
            assert_int_equal(ph_wire_get_bytes(m, "addresses", &p, &pl), PH_OK);
            assert_int_equal(v.addresses_len, pl);
            assert_memory_equal(v.alias, msg + len - v.extension_len - pl - 2 - 32, 32);
            seen |= 2;
            break;
        }
        case PH_WIRE_CHANNEL_UPDATE: {
            ph_wire_channel_update v;
            uint64_t fee, max;
            assert_int_equal(ph_wire_channel_update_parse(msg, len, &v, NULL), PH_OK);
            assert_int_equal(ph_wire_get_u64(m, "timestamp", &ts), PH_OK);
            assert_int_equal(ph_wire_get_u64(m, "fee_proportional_millionths", &fee), PH_OK);
            assert_int_equal(ph_wire_get_u64(m, "htlc_maximum_msat", &max), PH_OK);
            assert_true(v.timestamp == ts && v.fee_proportional_millionths == fee &&
                        v.htlc_maximum_msat == max);
            assert_true(v.message_flags & 1);
            seen |= 4;
            break;
        }
        }
        ph_wire_msg_free(m);
    }
    free(f);
}

static uint8_t *vhex(const ph_vjson *v, size_t *n)
{
    size_t hl;
    const char *s = ph_vjson_str(v, &hl);
    assert_non_null(s);
    uint8_t *out = NULL;
    assert_int_equal(ph_hex_decode(s, hl, &out, n), PH_OK);
    return out;
}

/* BOLT 7's extended-query vectors: the view accepts exactly what the engine
 * accepts, and gives back the same bytes. */
static void test_extended_query_vectors(void **state)
{
    (void)state;
    ph_vjson *j = NULL;
    assert_int_equal(ph_vjson_parse_file(&j, VEC "bolt7_extended_queries.json", NULL), PH_OK);
    const ph_vjson *vecs = ph_vjson_get(j, "vectors");
    size_t ok = 0;
    assert_true(ph_vjson_len(vecs) >= 7);
    for (size_t i = 0; i < ph_vjson_len(vecs); i++) {
        size_t n;
        uint8_t *b = vhex(ph_vjson_get(ph_vjson_at(vecs, i), "hex"), &n);
        ph_wire_view v;
        ph_err ev = ph_wire_view_parse(b, n, &v, NULL);
        ph_err ee = ph_wire_decode(b, n, 0, NULL, NULL);
        assert_int_equal(ev, ee);
        if (!ev) {
            view_round_trip(b, n);
            ok++;
        }
        free(b);
    }
    assert_true(ok >= 6);
    /* the query_option flags of vector 1, through the view's TLV stream */
    size_t n;
    uint8_t *b = vhex(ph_vjson_path(vecs, "1.hex"), &n);
    ph_wire_query_channel_range q;
    assert_int_equal(ph_wire_query_channel_range_parse(b, n, &q, NULL), PH_OK);
    const uint8_t *val;
    size_t vl;
    assert_int_equal(ph_wire_tlv_lookup(q.tlvs, q.tlvs_len, 1, &val, &vl), PH_OK);
    uint64_t flags, want;
    size_t used;
    assert_int_equal(ph_wire_bigsize_decode(val, vl, &flags, &used), PH_OK);
    assert_true(ph_vjson_u64(ph_vjson_path(vecs, "1.decoded_by_extractor.tlvs.0.query_option_flags"),
                             &want));
    assert_true(flags == want);
    assert_int_equal(ph_wire_tlv_lookup(q.tlvs, q.tlvs_len, 3, &val, &vl), PH_ERR_WIRE_ABSENT);
    free(b);
    ph_vjson_free(j);
}

/* Every type of the table, built by the engine with every field and every
 * TLV record: members, round trip. */
static void test_every_type(void **state)
{
    (void)state;
    assert_int_equal(ph_wire_view_ops_count(), ph_wire_msg_desc_count());
    for (size_t i = 0; i < ph_wire_view_ops_count(); i++) {
        const ph_wire_view_ops *ops = ph_wire_view_ops_at(i);
        for (int tl = 0; tl < 2; tl++) {
            uint8_t *enc;
            size_t elen;
            ph_wiregen_message(ops->type, tl, &enc, &elen);
            view_round_trip(enc, elen);
            if (!tl)
                assert_true(elen >= ops->min_len);
            free(enc);
        }
    }
}

static size_t tlv_bytes(const uint8_t *enc, size_t elen)
{
    ph_wire_msg *m;
    assert_int_equal(ph_wire_decode(enc, elen, 0, &m, NULL), PH_OK);
    size_t t = 0;
    for (size_t r = 0; r < ph_wire_tlv_count(m); r++)
        t += ph_wire_tlv_encoded_len(ph_wire_tlv_at(m, r), 1);
    ph_wire_msg_free(m);
    return t;
}

/* Every view refuses every truncation of its message: SHORT at the length
 * while the fields are cut, and whatever the engine says inside the TLV
 * stream (a prefix ending between two records is a whole stream). */
static void test_every_truncation(void **state)
{
    (void)state;
    size_t cases = 0;
    for (size_t i = 0; i < ph_wire_view_ops_count(); i++) {
        const ph_wire_view_ops *ops = ph_wire_view_ops_at(i);
        uint8_t *enc;
        size_t elen;
        ph_wiregen_message(ops->type, 1, &enc, &elen);
        size_t fields_end = elen - tlv_bytes(enc, elen);
        uint8_t *view = malloc(ops->view_size);
        for (size_t n = 0; n < elen; n++) {
            uint8_t *cut = malloc(n ? n : 1);
            memcpy(cut, enc, n);
            size_t eo = 0;
            ph_err e = ops->parse(cut, n, view, &eo);
            if (n < fields_end) {
                if (e != PH_ERR_WIRE_SHORT)
                    fail_msg("%s cut to %zu of %zu: %s", ops->name, n, elen, ph_strerror(e));
                assert_int_equal(eo, n);
            } else {
                ph_err want = ph_wire_decode(cut, n, 0, NULL, NULL);
                if (e != want)
                    fail_msg("%s cut to %zu in its TLVs: view %s, engine %s", ops->name, n,
                             ph_strerror(e), ph_strerror(want));
            }
            free(cut);
            cases++;
        }
        free(view);
        free(enc);
    }
    print_message("%zu truncations of %zu types\n", cases, ph_wire_view_ops_count());
}

/* Every over-length: the message past 65,535 bytes; each count field
 * claiming more than the message holds; bytes after a declared TLV stream
 * that are not a record. Bytes after the fields of a type WITHOUT a TLV
 * stream are its extension, which BOLT 1 lets a receiver ignore: kept and
 * re-encoded, not refused. */
static void test_every_over_length(void **state)
{
    (void)state;
    size_t counts = 0;
    for (size_t i = 0; i < ph_wire_view_ops_count(); i++) {
        const ph_wire_view_ops *ops = ph_wire_view_ops_at(i);
        const ph_wire_msg_desc *d = ph_wire_msg_desc_find(ops->type);
        uint8_t *enc;
        size_t elen;
        ph_wiregen_message(ops->type, 0, &enc, &elen);
        uint8_t *big = calloc(1, PH_WIRE_MAX_MSG + 1);
        memcpy(big, enc, elen);
        uint8_t *view = malloc(ops->view_size);
        size_t eo = 0;
        assert_int_equal(ops->parse(big, PH_WIRE_MAX_MSG + 1, view, &eo), PH_ERR_WIRE_TOO_LONG);
        assert_int_equal(eo, PH_WIRE_MAX_MSG);

        /* each count field at its maximum */
        ph_wire_msg *m;
        assert_int_equal(ph_wire_decode(enc, elen, PH_WIRE_BORROW, &m, NULL), PH_OK);
        for (size_t k = 0; k < d->nfields; k++) {
            if (!d->fields[k].is_count)
                continue;
            ph_wire_value cv;
            assert_int_equal(ph_wire_get(m, d->fields[k].name, &cv), PH_OK);
            memcpy(big, enc, elen);
            memset(big + (cv.p - enc), 0xff, cv.len);
            size_t max = cv.len == 1 ? 0xff : 0xffff;
            size_t after = elen - (size_t)(cv.p - enc) - cv.len;
            if (max <= after)
                fail_msg("%s.%s: a maximal count would fit", ops->name, d->fields[k].name);
            ph_err e = ops->parse(big, elen, view, &eo);
            if (e != PH_ERR_WIRE_SHORT)
                fail_msg("%s.%s over-long: %s", ops->name, d->fields[k].name, ph_strerror(e));
            assert_int_equal(ph_wire_decode(big, elen, 0, NULL, NULL), PH_ERR_WIRE_SHORT);
            counts++;
        }
        ph_wire_msg_free(m);

        memcpy(big, enc, elen);
        big[elen] = 0x01; /* a record type with no length: a cut record */
        big[elen + 1] = 0x00;
        ph_err e = ops->parse(big, elen + 1, view, &eo);
        if (d->tlvs) {
            assert_int_equal(e, PH_ERR_WIRE_SHORT);
            assert_int_equal(ph_wire_decode(big, elen + 1, 0, NULL, NULL), e);
            /* an unknown even record after the stream */
            big[elen] = 0xfe; /* BigSize 0xfe: type 2^20 in 4 bytes */
            ph_put_be32(big + elen + 1, 1u << 20);
            big[elen + 5] = 0;
            assert_int_equal(ops->parse(big, elen + 6, view, &eo), PH_ERR_WIRE_TLV_UNKNOWN_EVEN);
            assert_int_equal(eo, elen);
        } else {
            assert_int_equal(e, PH_OK);
            view_round_trip(big, elen + 2);
        }
        free(view);
        free(big);
        free(enc);
    }
    assert_true(counts >= 20);
}

/* The encoders refuse what they cannot write. */
static void test_encoder_errors(void **state)
{
    (void)state;
    uint8_t out[70000];
    size_t w = 0;
    static uint8_t zeros[70000];
    ph_wire_ping ping = {.num_pong_bytes = 4, .ignored = zeros, .ignored_len = 3};
    assert_int_equal(ph_wire_ping_encode(&ping, out, sizeof out, &w), PH_OK);
    assert_int_equal(w, 2 + 2 + 2 + 3);
    assert_int_equal(ph_be16(out), PH_WIRE_PING);
    assert_int_equal(ph_be16(out + 2), 4);
    assert_int_equal(ph_be16(out + 4), 3);
    assert_int_equal(ph_wire_ping_encode(&ping, out, 8, &w), PH_ERR_ARG);
    assert_int_equal(ph_wire_ping_encode(NULL, out, sizeof out, &w), PH_ERR_ARG);
    ping.ignored_len = 65536; /* longer than its u16 count */
    assert_int_equal(ph_wire_ping_encode(&ping, out, sizeof out, &w), PH_ERR_WIRE_FIELD);
    ping.ignored_len = 65535 - 5; /* the count fits, the message does not */
    assert_int_equal(ph_wire_ping_encode(&ping, out, sizeof out, &w), PH_ERR_WIRE_TOO_LONG);
    ping.ignored = NULL;
    ping.ignored_len = 1;
    assert_int_equal(ph_wire_ping_encode(&ping, out, sizeof out, &w), PH_ERR_ARG);

    ph_wire_gossip_timestamp_filter gf = {.chain_hash = NULL};
    assert_int_equal(ph_wire_gossip_timestamp_filter_encode(&gf, out, sizeof out, &w), PH_ERR_ARG);

    /* witnesses must be the count they claim */
    const uint8_t wit[] = {0, 1, 0xaa, 0, 2, 0xbb, 0xcc};
    uint8_t txid[32] = {0}, chan[32] = {0};
    ph_wire_tx_signatures ts = {.channel_id = chan, .txid = txid, .witnesses = wit,
                                .witnesses_count = 2, .witnesses_bytes = sizeof wit};
    assert_int_equal(ph_wire_tx_signatures_encode(&ts, out, sizeof out, &w), PH_OK);
    view_round_trip(out, w);
    ts.witnesses_count = 3;
    assert_int_equal(ph_wire_tx_signatures_encode(&ts, out, sizeof out, &w), PH_ERR_WIRE_FIELD);
    ts.witnesses_count = 1;
    assert_int_equal(ph_wire_tx_signatures_encode(&ts, out, sizeof out, &w), PH_ERR_WIRE_FIELD);

    /* a declared stream must be valid */
    uint8_t chain[32] = {0};
    const uint8_t bad_tlvs[] = {0x02, 0x00}; /* unknown even */
    ph_wire_query_channel_range q = {.chain_hash = chain, .tlvs = bad_tlvs, .tlvs_len = 2};
    assert_int_equal(ph_wire_query_channel_range_encode(&q, out, sizeof out, &w),
                     PH_ERR_WIRE_TLV_UNKNOWN_EVEN);

    /* the wrong type for a view is the caller's mistake */
    ph_wire_pong pong;
    assert_int_equal(ph_wire_pong_parse(out, w, &pong, NULL), PH_ERR_ARG);
}

/* The slots, names and views cover every type of the table and nothing
 * else; the one unknown-type spelling. */
static void test_slots_cover_every_type(void **state)
{
    (void)state;
    bool hit[PH_MSGTYPE__COUNT] = {false};
    size_t known = 0;
    char buf[PH_WIRE_TYPE_STRLEN];
    for (uint32_t t = 0; t <= 0xffff; t++) {
        const ph_wire_msg_desc *d = ph_wire_msg_desc_find((uint16_t)t);
        unsigned slot = ph_msgtype_slot((uint16_t)t);
        const ph_wire_view_ops *ops = ph_wire_view_ops_find((uint16_t)t);
        const char *s = ph_wire_type_str((uint16_t)t, buf);
        if (!d) {
            assert_int_equal(slot, PH_MSGTYPE_OTHER);
            assert_null(ops);
            char want[32];
            snprintf(want, sizeof want, "unknown_type_%u", t);
            assert_string_equal(s, want);
            continue;
        }
        known++;
        assert_true(slot < PH_MSGTYPE__COUNT && slot != PH_MSGTYPE_OTHER);
        /* BOLT 1 and 7 types in the common slots, BOLT 2's after them */
        assert_int_equal(slot < PH_MSGTYPE_COMMON, strcmp(d->spec_file, "02-peer-protocol.md") != 0);
        assert_false(hit[slot]);
        hit[slot] = true;
        assert_string_equal(ph_msgtype_slot_name(slot), d->name);
        assert_int_equal(ph_msgtype_slot_type(slot), t);
        assert_string_equal(s, d->name);
        assert_non_null(ops);
        assert_int_equal(ops->type, t);
        assert_string_equal(ops->name, d->name);
    }
    assert_int_equal(known, ph_wire_msg_desc_count());
    assert_int_equal(known, PH_WIRE_TYPE_COUNT);
    assert_int_equal(PH_MSGTYPE__COUNT, PH_WIRE_TYPE_COUNT + 1);
    assert_int_equal(PH_MSGTYPE_OTHER, PH_MSGTYPE_COMMON - 1);
    for (unsigned s = 0; s < PH_MSGTYPE__COUNT; s++)
        assert_true(hit[s] == (s != PH_MSGTYPE_OTHER));
    assert_string_equal(ph_msgtype_slot_name(PH_MSGTYPE_OTHER), "other");
    assert_string_equal(ph_msgtype_slot_name(PH_MSGTYPE__COUNT + 5), "other");
    assert_string_equal(ph_msgtype_slot_name(PH_MSGTYPE_COMMON), "stfu");
    assert_int_equal(ph_msgtype_slot_type(PH_MSGTYPE_OTHER), 0);
    assert_string_equal(ph_wire_type_str(65535, buf), "unknown_type_65535");
    /* the enum names are the spec names, upper-cased */
    assert_int_equal(PH_WIRE_CHANNEL_UPDATE, ph_wire_msg_desc_by_name("channel_update")->type);
    assert_int_equal(PH_WIRE_GOSSIP_TIMESTAMP_FILTER,
                     ph_wire_msg_desc_by_name("gossip_timestamp_filter")->type);
}

/* A type not in the table: known == false, no view, not an error. */
static void test_unknown_types(void **state)
{
    (void)state;
    const uint8_t odd[] = {0x80, 0x01, 1, 2, 3};
    ph_wire_view v;
    assert_int_equal(ph_wire_view_parse(odd, sizeof odd, &v, NULL), PH_OK);
    assert_false(v.known);
    assert_int_equal(v.type, 32769);
    size_t eo = 0;
    assert_int_equal(ph_wire_view_parse(odd, 1, &v, &eo), PH_ERR_WIRE_SHORT);
    assert_int_equal(eo, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mainnet_round_trip),
        cmocka_unit_test(test_mainnet_typed),
        cmocka_unit_test(test_extended_query_vectors),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_over_length),
        cmocka_unit_test(test_encoder_errors),
        cmocka_unit_test(test_slots_cover_every_type),
        cmocka_unit_test(test_unknown_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
