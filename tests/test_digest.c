/* lib/util/digest: SHA-256 of files, against known digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest.h"

static void test_known_digests(void **state)
{
    (void)state;
    char path[] = "/tmp/ph-digest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char hex[65];
    /* the empty file */
    assert_int_equal(ph_sha256_file(path, hex), PH_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* "abc" (FIPS 180-2) */
    assert_int_equal(write(fd, "abc", 3), 3);
    assert_int_equal(ph_sha256_file(path, hex), PH_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* a million 'a's: more than one read block */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    char block[1000];
    memset(block, 'a', sizeof block);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(write(fd, block, sizeof block), (ssize_t)sizeof block);
    assert_int_equal(ph_sha256_file(path, hex), PH_OK);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    close(fd);
    unlink(path);
    assert_int_equal(ph_sha256_file(path, hex), PH_ERR_IO);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_digests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
