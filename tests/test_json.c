/* lib/util/json: jansson parsing with one-line reasons, strict reads,
 * latched building, the dump styles, and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hex.h"
#include "json.h"

static void test_parse_and_reasons(void **state)
{
    (void)state;
    json_t *j;
    char why[200];
    const char *text = "{\"n\": 7, \"neg\": -1, \"r\": 2.5, \"s\": \"x\"}";
    assert_int_equal(ph_json_parse(text, strlen(text), &j, why, sizeof why), PH_OK);
    uint64_t u = 99;
    double d = 0;
    assert_true(ph_json_u64_value(json_object_get(j, "n"), &u));
    assert_int_equal(u, 7);
    u = 99;
    assert_false(ph_json_u64_value(json_object_get(j, "neg"), &u));
    assert_false(ph_json_u64_value(json_object_get(j, "r"), &u));
    assert_false(ph_json_u64_value(json_object_get(j, "s"), &u));
    assert_false(ph_json_u64_value(NULL, &u));
    assert_int_equal(u, 99); /* untouched on refusal */
    assert_true(ph_json_double_value(json_object_get(j, "r"), &d) && d == 2.5);
    assert_true(ph_json_double_value(json_object_get(j, "n"), &d) && d == 7);
    assert_false(ph_json_double_value(json_object_get(j, "s"), &d));
    char buf[4];
    ph_json_copy_str(j, "s", buf, sizeof buf);
    assert_string_equal(buf, "x");
    ph_json_copy_str(j, "n", buf, sizeof buf);
    assert_string_equal(buf, "");
    json_decref(j);
    /* cut at a character boundary: "é" (2 bytes) is left out whole */
    char cut3[4];
    ph_json_copy_text(cut3, sizeof cut3, "ab\xc3\xa9");
    assert_string_equal(cut3, "ab");
    ph_json_copy_text(cut3, sizeof cut3, "a\xc3\xa9z");
    assert_string_equal(cut3, "a\xc3\xa9");
    ph_json_copy_text(cut3, sizeof cut3, "abcdef");
    assert_string_equal(cut3, "abc");

    /* a truncated document: one line, with where */
    const char *cut = "{\"a\": [1, 2";
    assert_int_equal(ph_json_parse(cut, strlen(cut), &j, why, sizeof why), PH_ERR_JSON);
    assert_null(j);
    assert_non_null(strstr(why, "line 1 column"));
    assert_null(strchr(why, '\n'));
    /* duplicate keys are refused: which one would a gate compare? */
    const char *dup = "{\"a\": 1, \"a\": 2}";
    assert_int_equal(ph_json_parse(dup, strlen(dup), &j, why, sizeof why), PH_ERR_JSON);
    assert_non_null(strstr(why, "duplicate"));
    /* integers beyond jansson's int64 are refused, not rounded */
    const char *big = "[18446744073709551615]";
    assert_int_equal(ph_json_parse(big, strlen(big), &j, why, sizeof why), PH_ERR_JSON);

    assert_int_equal(ph_json_load_file("tests/vectors/does-not-exist.json", &j, why, sizeof why),
                     PH_ERR_IO);
    assert_string_equal(why, "No such file or directory");
    assert_int_equal(ph_json_load_file("tests/vectors/bolt8.json", &j, why, sizeof why), PH_OK);
    assert_true(json_is_object(j));
    json_decref(j);
}

static char *dump_to_string(const json_t *v, bool pretty)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(ph_json_dump(v, f, pretty), PH_OK);
    fclose(f);
    return buf;
}

static void test_build_and_dump(void **state)
{
    (void)state;
    bool failed = false;
    json_t *o = json_object();
    /* insertion order is output order, whatever the keys */
    ph_json_put(o, "zeta", ph_json_u64(1), &failed);
    ph_json_put(o, "alpha", ph_json_u64((uint64_t)INT64_MAX), &failed);
    ph_json_put(o, "big", ph_json_u64(UINT64_MAX), &failed);
    ph_json_put(o, "inf", ph_json_real(INFINITY), &failed);
    ph_json_put(o, "text", ph_json_text("ok \xff end"), &failed);
    json_t *a = json_array();
    ph_json_append(a, json_true(), &failed);
    ph_json_put(o, "list", a, &failed);
    assert_false(failed);
    char *compact = dump_to_string(o, false);
    assert_string_equal(compact, "{\"zeta\":1,\"alpha\":9223372036854775807,"
                                 "\"big\":1.8446744073709552e19,\"inf\":null,"
                                 "\"text\":\"ok ? end\",\"list\":[true]}\n");
    free(compact);
    char *pretty = dump_to_string(o, true);
    assert_non_null(strstr(pretty, "{\n  \"zeta\": 1,\n  \"alpha\""));
    free(pretty);
    /* a NULL value (a failed allocation) latches, and is not inserted */
    ph_json_put(o, "oom", NULL, &failed);
    assert_true(failed);
    assert_null(json_object_get(o, "oom"));
    failed = false;
    ph_json_append(NULL, json_true(), &failed);
    assert_true(failed);
    json_decref(o);
}

static void test_dump_error(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    assert_non_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    json_t *o = json_pack("{s:i}", "a", 1);
    assert_int_equal(ph_json_dump(o, f, true), PH_ERR_IO);
    json_decref(o);
    fclose(f);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_reasons),
        cmocka_unit_test(test_build_and_dump),
        cmocka_unit_test(test_dump_error),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
