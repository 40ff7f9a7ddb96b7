/* lib/bolt8/chachapoly: every implementation gives libsodium's bytes, on
 * the BOLT 8 vectors and on random frames (the differential check that
 * the fuzz target runs, here on a fixed seed), and rejects tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "chachapoly.h"
#include "hex.h"
#include "json.h"
#include "vecjson.h"
#include "fuzz/chachapoly_diff.h"

#define VECTORS "tests/vectors/bolt8.json"

static int group_setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    ph_vjson *j = NULL;
    if (ph_vjson_parse_file(&j, VECTORS, NULL) != PH_OK)
        return -1;
    *state = j;
    return 0;
}

static int group_teardown(void **state)
{
    ph_vjson_free(*state);
    return 0;
}

static void hexget(const ph_vjson *obj, const char *key, uint8_t *out, size_t n)
{
    const char *s = ph_vjson_str(ph_vjson_get(obj, key), NULL);
    assert_non_null(s);
    assert_int_equal(ph_hex_decode_fixed(s, out, n), PH_OK);
}

static uint8_t *hexdup(const ph_vjson *obj, const char *key, size_t *len)
{
    const char *s = ph_vjson_str(ph_vjson_get(obj, key), NULL);
    assert_non_null(s);
    uint8_t *b = NULL;
    assert_int_equal(ph_hex_decode(s, strlen(s), &b, len), PH_OK);
    return b;
}

/* The implementations this CPU runs. */
static size_t impls(ph_chachapoly_impl out[PH_CHACHAPOLY__COUNT])
{
    size_t n = 0;
    for (int i = 0; i < PH_CHACHAPOLY__COUNT; i++)
        if (ph_chachapoly_supported((ph_chachapoly_impl)i))
            out[n++] = (ph_chachapoly_impl)i;
    return n;
}

static void test_dispatch(void **state)
{
    (void)state;
    assert_true(ph_chachapoly_supported(PH_CHACHAPOLY_LIBSODIUM));
    assert_true(ph_chachapoly_supported(ph_chachapoly_best()));
    assert_false(ph_chachapoly_supported(PH_CHACHAPOLY__COUNT));
    assert_string_equal(ph_chachapoly_impl_name(PH_CHACHAPOLY_LIBSODIUM), "libsodium");
    assert_string_equal(ph_chachapoly_impl_name(PH_CHACHAPOLY_AVX2), "avx2");
#if defined(__x86_64__)
    bool avx2 = __builtin_cpu_supports("avx2");
    assert_int_equal(ph_chachapoly_supported(PH_CHACHAPOLY_AVX2), avx2);
    assert_int_equal(ph_chachapoly_best(), avx2 ? PH_CHACHAPOLY_AVX2 : PH_CHACHAPOLY_LIBSODIUM);
#else
    assert_false(ph_chachapoly_supported(PH_CHACHAPOLY_AVX2));
    assert_int_equal(ph_chachapoly_best(), PH_CHACHAPOLY_LIBSODIUM);
#endif
    /* An implementation the CPU lacks is refused, never run. */
    uint8_t key[32] = {0}, hdr[18], mac[16], body[4] = {0};
    size_t len;
    for (int i = 0; i <= PH_CHACHAPOLY__COUNT; i++) {
        if (ph_chachapoly_supported((ph_chachapoly_impl)i))
            continue;
        assert_int_equal(ph_chachapoly_seal((ph_chachapoly_impl)i, key, 0, hdr, body, 4, mac),
                         PH_ERR_ARG);
        assert_int_equal(ph_chachapoly_open_header((ph_chachapoly_impl)i, key, 0, hdr, &len,
                                                   NULL),
                         PH_ERR_ARG);
    }
}

/* The key of message i of the vectors: the initial one, then one per 500
 * messages (the rotations). */
static void vector_key(const ph_vjson *mt, uint64_t i, uint8_t key[32])
{
    if (i < 500)
        hexget(ph_vjson_get(mt, "initial"), "sk", key, 32);
    else
        hexget(ph_vjson_at(ph_vjson_get(mt, "key_rotations"), i / 500 - 1), "new_k", key, 32);
}

static void check_vector_frame(ph_chachapoly_impl impl, const uint8_t key[32], uint64_t nonce,
                               const uint8_t *want, size_t want_len)
{
    const uint8_t pt[5] = {'h', 'e', 'l', 'l', 'o'};
    assert_int_equal(want_len, 18 + 5 + 16);
    uint8_t frame[18 + 5 + 16];
    memcpy(frame + 18, pt, 5);
    assert_int_equal(ph_chachapoly_seal(impl, key, nonce, frame, frame + 18, 5, frame + 23),
                     PH_OK);
    assert_memory_equal(frame, want, sizeof frame);
    size_t len = 0;
    uint8_t out[5];
    ph_chachapoly_ks ks;
    assert_int_equal(ph_chachapoly_open_header(impl, key, nonce, want, &len, &ks), PH_OK);
    assert_int_equal(len, 5);
    assert_int_equal(ph_chachapoly_open_body(impl, key, nonce + 1, want + 18, 5, want + 23, out,
                                             &ks),
                     PH_OK);
    ph_chachapoly_ks_wipe(&ks);
    assert_memory_equal(out, pt, 5);
}

/* BOLT 8's message vectors: outputs 0, 1, 500, 501, 1000 and 1001 (each
 * under its rotated key) and the printed length/body encryptions. */
static void test_bolt8_vectors(void **state)
{
    const ph_vjson *mt = ph_vjson_get(*state, "message_encryption_test");
    const ph_vjson *outs = ph_vjson_get(mt, "outputs");
    ph_chachapoly_impl list[PH_CHACHAPOLY__COUNT];
    size_t ni = impls(list);
    size_t checked = 0;
    for (size_t k = 0; k < ni; k++) {
        for (uint64_t i = 0; i <= 1001; i++) {
            char idx[24];
            snprintf(idx, sizeof idx, "%llu", (unsigned long long)i);
            if (!ph_vjson_get(outs, idx))
                continue;
            uint8_t key[32];
            vector_key(mt, i, key);
            size_t len;
            uint8_t *want = hexdup(outs, idx, &len);
            check_vector_frame(list[k], key, 2 * (i % 500), want, len);
            free(want);
            checked++;
        }
        const ph_vjson *parts = ph_vjson_get(mt, "length_and_message_encryptions");
        for (size_t p = 0; p + 1 < ph_vjson_len(parts); p += 2) {
            uint8_t key[32], npub[12], frame[18 + 5 + 16];
            hexget(ph_vjson_at(parts, p), "sk", key, 32);
            hexget(ph_vjson_at(parts, p), "nonce", npub, 12);
            uint64_t nonce = 0;
            for (int b = 0; b < 8; b++)
                nonce |= (uint64_t)npub[4 + b] << (8 * b);
            hexget(ph_vjson_at(parts, p), "ciphertext", frame, 18);
            hexget(ph_vjson_at(parts, p + 1), "ciphertext", frame + 18, 21);
            check_vector_frame(list[k], key, nonce, frame, sizeof frame);
            checked++;
        }
    }
    assert_int_equal(checked, ni * 8);
}

/* The differential check on a fixed seed: every length 0..1,100 (every
 * way a body ends inside or across the first pass's five blocks and the
 * passes after it), then random lengths up to 65,535 and the extremes. */
static void test_differential(void **state)
{
    (void)state;
    uint8_t input[64];
    uint64_t s = 0x5eed;
    int runs = 0;
    for (size_t i = 0; i < 1700; i++) {
        for (size_t k = 0; k < sizeof input; k++)
            input[k] = (uint8_t)diff_mix(s++);
        size_t len = i <= 1100 ? i : i < 1690 ? (size_t)(diff_mix(s++) % 65536) : 65535 - (i - 1690);
        input[40] = (uint8_t)(len >> 8); /* bytes 40..41: the length (diff_parse) */
        input[41] = (uint8_t)len;
        int line = ph_chachapoly_diff_one(input, sizeof input);
        if (line)
            fail_msg("input %zu (length %zu): check at chachapoly_diff.h:%d failed", i, len, line);
        runs++;
    }
    assert_int_equal(runs, 1700);
}

/* The AVX2 path is what the differential check exercises against
 * libsodium: on a CPU without it, say so rather than pass quietly. */
static void test_avx2_present(void **state)
{
    (void)state;
    if (!ph_chachapoly_supported(PH_CHACHAPOLY_AVX2)) {
        print_message("this CPU has no AVX2: only the libsodium path was exercised\n");
        skip();
    }
    assert_int_equal(ph_chachapoly_best(), PH_CHACHAPOLY_AVX2);
}

/* Bad arguments are refused before anything is written. */
static void test_errors(void **state)
{
    (void)state;
    uint8_t key[32] = {7}, hdr[2][18], mac[2][16], a[8] = {1, 2, 3}, b[8] = {4, 5, 6};
    ph_chachapoly_impl list[PH_CHACHAPOLY__COUNT];
    size_t ni = impls(list);
    for (size_t k = 0; k < ni; k++) {
        ph_chachapoly_job jobs[2] = {
            {.nonce = 0, .hdr = hdr[0], .body = a, .len = 8, .mac = mac[0]},
            {.nonce = 2, .hdr = hdr[1], .body = b, .len = 65536, .mac = mac[1]},
        };
        uint8_t before[8];
        memcpy(before, a, 8);
        assert_int_equal(ph_chachapoly_seal_many(list[k], key, jobs, 2), PH_ERR_NOISE_TOO_LONG);
        assert_memory_equal(a, before, 8);
        jobs[1].len = 3;
        jobs[1].mac = NULL;
        assert_int_equal(ph_chachapoly_seal_many(list[k], key, jobs, 2), PH_ERR_ARG);
        assert_memory_equal(a, before, 8);
        assert_int_equal(ph_chachapoly_seal(list[k], key, 0, hdr[0], NULL, 1, mac[0]), PH_ERR_ARG);
        assert_int_equal(ph_chachapoly_seal_many(list[k], key, jobs, 0), PH_OK);
        /* A kept keystream for another nonce is not used. */
        size_t len = 0;
        uint8_t out[8];
        ph_chachapoly_ks ks;
        assert_int_equal(ph_chachapoly_seal(list[k], key, 10, hdr[0], a, 8, mac[0]), PH_OK);
        assert_int_equal(ph_chachapoly_open_header(list[k], key, 20, hdr[0], &len, &ks),
                         PH_ERR_NOISE_BAD_MAC);
        assert_int_equal(ph_chachapoly_open_header(list[k], key, 10, hdr[0], &len, NULL), PH_OK);
        assert_int_equal(len, 8);
        assert_int_equal(ph_chachapoly_seal(list[k], key, 30, hdr[1], b, 8, mac[1]), PH_OK);
        assert_int_equal(ph_chachapoly_open_header(list[k], key, 30, hdr[1], &len, &ks), PH_OK);
        assert_int_equal(ph_chachapoly_open_body(list[k], key, 11, a, 8, mac[0], out, &ks), PH_OK);
        ph_chachapoly_ks_wipe(&ks);
        assert_memory_equal(out, before, 8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_bolt8_vectors),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_avx2_present),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
