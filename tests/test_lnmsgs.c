/* .lnmsgs, the one reader and writer: records written are read back by
 * both readers; every cut file is refused at the offset of its bad record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lnmsgs.h"

static const uint8_t A[] = {0x01, 0x02, 0xaa};       /* type 258 + 1 byte */
static const uint8_t B[] = {0x00, 0x12};             /* a bare type */

static uint8_t *written(size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    assert_int_equal(ph_lnmsgs_write(f, A, sizeof A), PH_OK);
    assert_int_equal(ph_lnmsgs_write(f, B, sizeof B), PH_OK);
    static uint8_t big[PH_LNMSGS_MAX + 1];
    assert_int_equal(ph_lnmsgs_write(f, big, sizeof big), PH_ERR_ARG);
    fclose(f);
    *len = n;
    return (uint8_t *)buf;
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = written(&len);
    const uint8_t want[] = {0, 3, 0x01, 0x02, 0xaa, 0, 2, 0x00, 0x12};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    size_t off = 0, n;
    const uint8_t *msg;
    assert_int_equal(ph_lnmsgs_next(buf, len, &off, &msg, &n), PH_OK);
    assert_int_equal(n, sizeof A);
    assert_memory_equal(msg, A, sizeof A);
    assert_int_equal(ph_lnmsgs_next(buf, len, &off, &msg, &n), PH_OK);
    assert_int_equal(n, sizeof B);
    assert_int_equal(ph_lnmsgs_next(buf, len, &off, &msg, &n), PH_OK);
    assert_int_equal(n, 0); /* the end */

    FILE *f = fmemopen(buf, len, "rb");
    ph_lnmsgs_reader r = {.f = f, .offset = 0};
    uint8_t rb[PH_LNMSGS_MAX];
    assert_int_equal(ph_lnmsgs_read(&r, rb, &n), PH_OK);
    assert_int_equal(n, sizeof A);
    assert_memory_equal(rb, A, sizeof A);
    assert_int_equal(r.offset, 5);
    assert_int_equal(ph_lnmsgs_read(&r, rb, &n), PH_OK);
    assert_int_equal(n, sizeof B);
    assert_int_equal(ph_lnmsgs_read(&r, rb, &n), PH_OK);
    assert_int_equal(n, 0);
    fclose(f);
    free(buf);
}

/* Every cut of the file: whole records read, then the cut one refused at
 * its offset, with the length it claims. */
static void test_every_cut(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = written(&len);
    for (size_t cut = 0; cut < len; cut++) {
        size_t off = 0, n = 0, records = 0;
        const uint8_t *msg;
        ph_err e;
        while ((e = ph_lnmsgs_next(buf, cut, &off, &msg, &n)) == PH_OK && n)
            records++;
        bool boundary = cut == 0 || cut == 5;
        if (boundary) {
            assert_int_equal(e, PH_OK);
            continue;
        }
        assert_int_equal(e, PH_ERR_PARSE);
        assert_int_equal(off, cut < 5 ? 0 : 5);
        assert_int_equal(records, cut < 5 ? 0 : 1);
        bool prefix_cut = cut == 1 || cut == 6;
        assert_int_equal(n, prefix_cut ? 0 : cut < 5 ? 3 : 2);

        FILE *f = fmemopen(buf, cut, "rb");
        ph_lnmsgs_reader r = {.f = f, .offset = 0};
        uint8_t rb[PH_LNMSGS_MAX];
        while ((e = ph_lnmsgs_read(&r, rb, &n)) == PH_OK && n)
            ;
        assert_int_equal(e, PH_ERR_PARSE);
        assert_int_equal(r.offset, cut < 5 ? 0 : 5);
        fclose(f);
    }
    /* a record shorter than a message type */
    const uint8_t tiny[] = {0, 1, 0x00};
    size_t off = 0, n = 0;
    const uint8_t *msg;
    assert_int_equal(ph_lnmsgs_next(tiny, sizeof tiny, &off, &msg, &n), PH_ERR_PARSE);
    assert_int_equal(n, 1);
    assert_int_equal(off, 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
