/* The test-vector JSON reader (tests/support/vecjson): exact 64-bit
 * integers, escapes, malformed input refused, every vector file parses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vecjson.h"

static ph_vjson *parse_ok(const char *s)
{
    ph_vjson *j = NULL;
    size_t off = 0;
    assert_int_equal(ph_vjson_parse(&j, s, strlen(s), &off), PH_OK);
    assert_non_null(j);
    return j;
}

static void test_scalars_and_paths(void **state)
{
    (void)state;
    ph_vjson *j = parse_ok(" {\"a\": [1, -2, 18446744073709551615, 1.5e3, true, null],"
                          " \"s\": \"x\\u00e9\\n\\\"\\ud83d\\ude00\", \"o\": {\"k\": false}} ");
    uint64_t u;
    int64_t i;
    double d;
    bool b;
    assert_true(ph_vjson_u64(ph_vjson_path(j, "a.0"), &u));
    assert_int_equal(u, 1);
    assert_false(ph_vjson_u64(ph_vjson_path(j, "a.1"), &u));
    assert_true(ph_vjson_i64(ph_vjson_path(j, "a.1"), &i));
    assert_int_equal(i, -2);
    assert_true(ph_vjson_u64(ph_vjson_path(j, "a.2"), &u));
    assert_true(u == UINT64_MAX);
    assert_false(ph_vjson_u64(ph_vjson_path(j, "a.3"), &u));
    assert_true(ph_vjson_double(ph_vjson_path(j, "a.3"), &d));
    assert_true(d == 1500.0);
    assert_true(ph_vjson_bool(ph_vjson_path(j, "a.4"), &b) && b);
    assert_true(ph_vjson_is_null(ph_vjson_path(j, "a.5")));
    assert_null(ph_vjson_path(j, "a.6"));
    assert_int_equal(ph_vjson_len(ph_vjson_get(j, "a")), 6);
    size_t len;
    const char *s = ph_vjson_str(ph_vjson_get(j, "s"), &len);
    assert_string_equal(s, "x\xc3\xa9\n\"\xf0\x9f\x98\x80");
    assert_int_equal(len, 9);
    assert_true(ph_vjson_bool(ph_vjson_path(j, "o.k"), &b) && !b);
    const ph_vjson *val;
    assert_string_equal(ph_vjson_key_at(j, 1, &val), "s");
    assert_int_equal(ph_vjson_type(val), PH_VJSON_STRING);
    ph_vjson_free(j);
}

static void test_rejects_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "{", "[1,]", "{\"a\" 1}", "\"abc", "01x", "tru", "[1] 2", "{\"a\":1,}", "-", "1.",
        "\"\\x\"", "\"a\nb\"", "[\"\\ud800\\u0041\"]",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ph_vjson *j = (ph_vjson *)1;
        assert_int_equal(ph_vjson_parse(&j, bad[k], strlen(bad[k]), NULL), PH_ERR_JSON);
        assert_null(j);
    }
    /* nesting beyond the limit fails cleanly instead of exhausting the stack */
    size_t n = 100000;
    char *deep = malloc(n);
    assert_non_null(deep);
    memset(deep, '[', n);
    ph_vjson *j;
    assert_int_equal(ph_vjson_parse(&j, deep, n, NULL), PH_ERR_JSON);
    free(deep);
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
        ph_vjson *j;
        size_t off = 0;
        assert_int_equal(ph_vjson_parse_file(&j, files[k], &off), PH_OK);
        assert_non_null(ph_vjson_get(j, "source"));
        ph_vjson_free(j);
    }
    ph_vjson *j;
    assert_int_equal(ph_vjson_parse_file(&j, "tests/vectors/does-not-exist.json", NULL), PH_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_paths),
        cmocka_unit_test(test_rejects_malformed),
        cmocka_unit_test(test_vector_files_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
