/* Shared test policy: which skips are allowed, and deadlines for waits.
 *
 * Skips: a test that cannot measure fails with the reason. The one declared
 * exception is jemalloc's statistics in sanitizer builds (ASan replaces
 * malloc, so jemalloc counts nothing): there the test prints
 * "SKIP: <test>: <reason>" and calls cmocka's skip(). tests/run.sh counts
 * and names every skip, and fails a skip that printed no SKIP line or that
 * happened in a normal build.
 *
 * Waits: every wait that depends on something outside the test's control
 * (the event loop, a socket, another process) has a deadline of
 * PH_TEST_DEADLINE_MS; past it the test fails naming what it waited for. */
#ifndef PH_TEST_H
#define PH_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "memstat.h"

#define PH_TEST_DEADLINE_MS 60000u

/* Whether this binary was built with a sanitizer (ASan), decided at compile
 * time (__SANITIZE_ADDRESS__ / __has_feature(address_sanitizer)). */
bool ph_test_sanitizer_build(void);

/* A ph_memstat for the calling test (the caller destroys it). When jemalloc's
 * statistics are unavailable: in a sanitizer build the skip is declared and
 * the test skipped; in any other build the test fails with the reason. */
#define ph_test_require_jemalloc() ph_test_require_jemalloc_(__func__)
ph_memstat *ph_test_require_jemalloc_(const char *test);

/* The same check without keeping the ph_memstat. */
#define ph_test_need_jemalloc() ph_memstat_destroy(ph_test_require_jemalloc_(__func__))

/* When `err` (from ph_memstat_create) means no statistics: skip in a
 * sanitizer build (declared), fail elsewhere. Returns only when err is 0. */
#define ph_test_jemalloc_unavailable(err) ph_test_jemalloc_unavailable_(__func__, (err))
void ph_test_jemalloc_unavailable_(const char *test, ph_err err);

/* For tests whose memory figures are an extra check on top of their own
 * (sanitizer builds check the same with LeakSanitizer): a ph_memstat, or
 * NULL in a sanitizer build without statistics (said on stdout, not a
 * skip: the test still runs). A normal build without statistics fails. */
#define ph_test_memstat_or_sanitizer() ph_test_memstat_or_sanitizer_(__func__)
ph_memstat *ph_test_memstat_or_sanitizer_(const char *test);

/* The whole file at `path` in a malloc'ed buffer (free() it), its length
 * in *len; fails the test when it cannot be read. */
uint8_t *ph_test_read_file(const char *path, size_t *len);

/* Monotonic milliseconds. */
uint64_t ph_test_now_ms(void);

/* A deadline PH_TEST_DEADLINE_MS from now. */
uint64_t ph_test_deadline(void);

/* Fails the test ("timed out after 60 s waiting for <what>") once
 * ph_test_now_ms() has reached `deadline`. Call it on every turn of a wait. */
void ph_test_check_deadline(uint64_t deadline, const char *what);

/* For a wait the test cannot interrupt itself (a blocking call): from now
 * on, if PH_TEST_DEADLINE_MS pass before ph_test_watchdog(NULL), the process
 * prints "timed out after 60 s waiting for <what>" and exits with status
 * 124 (tests/run.sh reports the binary as stopped half-way). */
void ph_test_watchdog(const char *what);

#endif
