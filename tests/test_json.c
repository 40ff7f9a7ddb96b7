#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>

#include "json.h"

static ph_json *parse_ok(const char *s)
{
    ph_json *j = NULL;
    size_t off = 0;
    assert_int_equal(ph_json_parse(&j, s, strlen(s), &off), PH_OK);
    assert_non_null(j);
    return j;
}

static void test_scalars_and_paths(void **state)
{
    (void)state;
    ph_json *j = parse_ok(" {\"a\": [1, -2, 18446744073709551615, 1.5e3, true, null],"
                          " \"s\": \"x\\u00e9\\n\\\"\\ud83d\\ude00\", \"o\": {\"k\": false}} ");
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    assert_true(ph_json_u64(ph_json_path(j, "a.0"), &u));
    assert_int_equal(u, 1);
    assert_false(ph_json_u64(ph_json_path(j, "a.1"), &u));
    assert_true(ph_json_i64(ph_json_path(j, "a.1"), &i));
    assert_int_equal(i, -2);
    assert_true(ph_json_u64(ph_json_path(j, "a.2"), &u));
    assert_true(u == UINT64_MAX);
    assert_false(ph_json_u64(ph_json_path(j, "a.3"), &u));
    assert_true(ph_json_double(ph_json_path(j, "a.3"), &d));
    assert_true(d == 1500.0);
    assert_true(ph_json_bool(ph_json_path(j, "a.4"), &b) && b);
    assert_true(ph_json_is_null(ph_json_path(j, "a.5")));
    assert_null(ph_json_path(j, "a.6"));
    assert_int_equal(ph_json_len(ph_json_get(j, "a")), 6);
    size_t len;
    const char *s = ph_json_str(ph_json_get(j, "s"), &len);
    assert_string_equal(s, "x\xc3\xa9\n\"\xf0\x9f\x98\x80");
    assert_int_equal(len, 9);
    assert_true(ph_json_bool(ph_json_path(j, "o.k"), &b) && !b);
    const ph_json *val;
    assert_string_equal(ph_json_key_at(j, 1, &val), "s");
    assert_int_equal(ph_json_type(val), PH_JSON_STRING);
    ph_json_free(j);
}

static void test_rejects_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "{", "[1,]", "{\"a\" 1}", "\"abc", "01x", "tru", "[1] 2", "{\"a\":1,}", "-", "1.",
        "\"\\x\"", "\"a\nb\"", "[\"\\ud800\\u0041\"]",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ph_json *j = (ph_json *)1;
        assert_int_equal(ph_json_parse(&j, bad[k], strlen(bad[k]), NULL), PH_ERR_JSON);
        assert_null(j);
    }
    /* nesting beyond the limit fails cleanly instead of exhausting the stack */
    size_t n = 100000;
    char *deep = malloc(n);
    assert_non_null(deep);
    memset(deep, '[', n);
    ph_json *j;
    assert_int_equal(ph_json_parse(&j, deep, n, NULL), PH_ERR_JSON);
    free(deep);
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t *b;
    size_t n;
    assert_int_equal(ph_hex_decode("00ffA0", 6, &b, &n), PH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(b[2], 0xa0);
    char out[7];
    ph_hex_encode(b, n, out);
    assert_string_equal(out, "00ffa0");
    free(b);
    assert_int_equal(ph_hex_decode("", 0, &b, &n), PH_OK);
    assert_int_equal(n, 0);
    free(b);
    assert_int_equal(ph_hex_decode("0", 1, &b, &n), PH_ERR_PARSE);
    assert_int_equal(ph_hex_decode("0g", 2, &b, &n), PH_ERR_PARSE);
    uint8_t fixed[2];
    assert_int_equal(ph_hex_decode_fixed("abcd", fixed, 2), PH_OK);
    assert_int_equal(fixed[0], 0xab);
    assert_int_equal(ph_hex_decode_fixed("abc", fixed, 2), PH_ERR_PARSE);
}

static void test_writer_round_trip(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ph_json_writer *w;
    assert_int_equal(ph_json_writer_create(&w, f, true), PH_OK);
    ph_jw_object_begin(w);
    ph_jw_key(w, "name");
    ph_jw_string(w, "a\"b\\c\n\x01");
    ph_jw_key(w, "list");
    ph_jw_array_begin(w);
    ph_jw_u64(w, UINT64_MAX);
    ph_jw_i64(w, -5);
    ph_jw_double(w, 0.1);
    ph_jw_bool(w, true);
    ph_jw_null(w);
    ph_jw_array_end(w);
    ph_jw_key(w, "empty");
    ph_jw_object_begin(w);
    ph_jw_object_end(w);
    ph_jw_object_end(w);
    ph_jw_newline(w);
    assert_int_equal(ph_json_writer_error(w), PH_OK);
    ph_json_writer_destroy(w);
    fclose(f);

    ph_json *j = parse_ok(buf);
    assert_string_equal(ph_json_str(ph_json_get(j, "name"), NULL), "a\"b\\c\n\x01");
    uint64_t u;
    assert_true(ph_json_u64(ph_json_path(j, "list.0"), &u) && u == UINT64_MAX);
    double d;
    assert_true(ph_json_double(ph_json_path(j, "list.2"), &d) && d == 0.1);
    assert_int_equal(ph_json_len(ph_json_get(j, "empty")), 0);
    ph_json_free(j);
    free(buf);
}

/* Numbers: the shortest %.Ng (N from 6) that reads back exactly, as a
 * linear search finds it; repeated values (the writer remembers the last
 * one) and -0 come out the same as fresh ones. */
static void test_writer_doubles(void **state)
{
    (void)state;
    double v[2000];
    uint64_t x = 12345;
    for (size_t i = 0; i < 2000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        switch (i % 4) {
        case 0: v[i] = (double)(x >> 11) / 1e9; break;           /* timestamps */
        case 1: v[i] = (double)(x >> 40) / 1000.0; break;        /* short */
        case 2: { double d; memcpy(&d, &x, sizeof d); v[i] = isfinite(d) ? d : 1.5; break; }
        default: v[i] = v[i - 1]; break;                          /* repeats */
        }
    }
    v[7] = -0.0;
    v[8] = 0.0;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    ph_json_writer *w;
    assert_int_equal(ph_json_writer_create(&w, f, false), PH_OK);
    ph_jw_array_begin(w);
    for (size_t i = 0; i < 2000; i++)
        ph_jw_double(w, v[i]);
    ph_jw_array_end(w);
    assert_int_equal(ph_json_writer_error(w), PH_OK);
    ph_json_writer_destroy(w);
    fclose(f);
    const char *p = buf + 1;
    for (size_t i = 0; i < 2000; i++) {
        char want[64];
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(want, sizeof want, "%.*g", prec, v[i]);
            if (strtod(want, NULL) == v[i])
                break;
        }
        size_t n = strcspn(p, ",]");
        if (n != strlen(want) || memcmp(p, want, n) != 0)
            fail_msg("value %zu: wrote %.*s, want %s", i, (int)n, p, want);
        p += n + 1;
    }
    free(buf);
}

static void test_vector_files_parse(void **state)
{
    (void)state;
    static const char *files[] = {
        "tests/vectors/bolt8.json", "tests/vectors/bolt1_bigsize.json",
        "tests/vectors/bolt1_tlv.json", "tests/vectors/bolt1_signed_integers.json",
        "tests/vectors/bolt7_extended_queries.json", "tests/vectors/bolt_message_layouts.json",
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        ph_json *j;
        size_t off = 0;
        assert_int_equal(ph_json_parse_file(&j, files[k], &off), PH_OK);
        assert_non_null(ph_json_get(j, "source"));
        ph_json_free(j);
    }
    ph_json *j;
    assert_int_equal(ph_json_parse_file(&j, "tests/vectors/does-not-exist.json", NULL), PH_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_paths),
        cmocka_unit_test(test_rejects_malformed),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_writer_doubles),
        cmocka_unit_test(test_vector_files_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
