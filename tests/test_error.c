/* Error texts (lib/util/error.c): every code has its own one-line text, and a
 * value outside the table (a corrupt or future code) still gets one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"

static void test_every_code_has_a_text(void **state)
{
    (void)state;
    assert_string_equal(ph_strerror(PH_OK), "success");
    for (int a = 1; a < PH_ERR__COUNT; a++) {
        const char *t = ph_strerror((ph_err)a);
        assert_non_null(t);
        assert_true(strlen(t) > 0);
        assert_null(strchr(t, '\n'));
        assert_string_not_equal(t, "unknown error");
        for (int b = 1; b < a; b++)
            assert_string_not_equal(t, ph_strerror((ph_err)b));
    }
}

static void test_out_of_range(void **state)
{
    (void)state;
    assert_string_equal(ph_strerror(PH_ERR__COUNT), "unknown error");
    assert_string_equal(ph_strerror((ph_err)-1), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_text),
        cmocka_unit_test(test_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
