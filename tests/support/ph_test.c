/* Shared test policy: see ph_test.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jemalloc/jemalloc.h>

#include "ph_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define PH_TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PH_TEST_SANITIZER 1
#endif
#endif
#ifndef PH_TEST_SANITIZER
#define PH_TEST_SANITIZER 0
#endif

bool ph_test_sanitizer_build(void)
{
    return PH_TEST_SANITIZER;
}

/* What jemalloc says about itself, for the failure message. */
static const char *jemalloc_version(void)
{
    const char *v = NULL;
    size_t len = sizeof v;
    if (mallctl("version", &v, &len, NULL, 0) || !v)
        return "no answer to mallctl(\"version\")";
    return v;
}

void ph_test_jemalloc_unavailable_(const char *test, ph_err err)
{
    if (!err)
        return;
    if (ph_test_sanitizer_build()) {
        print_message("SKIP: %s: jemalloc statistics unavailable in a sanitizer build\n", test);
        skip();
        return;
    }
    fail_msg("%s: jemalloc statistics unavailable in a normal build (ph_memstat_create: %s, "
             "jemalloc version %s); only sanitizer builds may skip this",
             test, ph_strerror(err), jemalloc_version());
}

ph_memstat *ph_test_require_jemalloc_(const char *test)
{
    ph_memstat *m = NULL;
    ph_err err = ph_memstat_create(&m);
    if (err) {
        ph_memstat_destroy(m);
        ph_test_jemalloc_unavailable_(test, err);
        return NULL;
    }
    return m;
}

ph_memstat *ph_test_memstat_or_sanitizer_(const char *test)
{
    ph_memstat *m = NULL;
    ph_err err = ph_memstat_create(&m);
    if (!err)
        return m;
    ph_memstat_destroy(m);
    if (ph_test_sanitizer_build()) {
        print_message("%s: no jemalloc statistics in a sanitizer build: heap figures "
                      "not checked here (LeakSanitizer checks the frees)\n", test);
        return NULL;
    }
    ph_test_jemalloc_unavailable_(test, err);
    return NULL;
}

uint64_t ph_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t ph_test_deadline(void)
{
    return ph_test_now_ms() + PH_TEST_DEADLINE_MS;
}

void ph_test_check_deadline(uint64_t deadline, const char *what)
{
    if (ph_test_now_ms() >= deadline)
        fail_msg("timed out after %u s waiting for %s", PH_TEST_DEADLINE_MS / 1000u, what);
}

static const char *volatile watchdog_what;

static void watchdog_fired(int sig)
{
    (void)sig;
    static const char head[] = "\nERROR: timed out after 60 s waiting for ";
    const char *what = watchdog_what ? watchdog_what : "?";
    ssize_t rc = write(STDERR_FILENO, head, sizeof head - 1);
    rc = write(STDERR_FILENO, what, strlen(what));
    rc = write(STDERR_FILENO, "\n", 1);
    (void)rc;
    _exit(124);
}

void ph_test_watchdog(const char *what)
{
    if (!what) {
        alarm(0);
        watchdog_what = NULL;
        return;
    }
    watchdog_what = what;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_fired;
    sigaction(SIGALRM, &sa, NULL);
    alarm(PH_TEST_DEADLINE_MS / 1000u);
}

uint8_t *ph_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}
