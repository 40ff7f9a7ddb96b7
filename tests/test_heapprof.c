/* jemalloc heap profiles of a measured run: unavailable (and said so) in a
 * process started without the profiler; in one started with it (this test
 * restarts itself with MALLOC_CONF=prof:true, as `replay --prof` does) the
 * peak file is written as the live heap passes the last dump by 5%, the
 * end file at the end, whole (renamed into place), holding jemalloc's
 * heap_v2 profile with the sampled bytes; a directory that cannot be
 * written fails with PH_ERR_IO. Sanitizer builds (malloc is not jemalloc's)
 * skip the profiled part; the runner counts the skip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "heapprof.h"

#define ENV "PH_TEST_HEAPPROF_EXEC"

static char dir[] = "/tmp/ph_heapprof_XXXXXX";

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

static ino_t inode(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : st.st_ino;
}

/* Sanitizer builds: malloc is ASan's, jemalloc samples nothing (a declared
 * skip: tests/run.sh counts it by its SKIP line). */
#define SKIP_SANITIZED(test)                                                              \
    do {                                                                                  \
        print_message("SKIP: %s: jemalloc's heap profiler unavailable in a sanitizer "   \
                      "build\n", test);                                                   \
        skip();                                                                           \
    } while (0)

static void require_profiler(const char *test)
{
#if defined(__SANITIZE_ADDRESS__)
    SKIP_SANITIZED(test);
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    SKIP_SANITIZED(test);
#endif
#endif
    (void)test;
    if (!ph_heapprof_available())
        fail_msg("the profiler is off although this test restarted with MALLOC_CONF=prof:true");
}

static void test_without_profiler(void **state)
{
    (void)state;
    /* a child started without the profiler: create says so */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsetenv("MALLOC_CONF");
        unsetenv(ENV);
        char *args[] = {(char *)"/proc/self/exe", (char *)"--unprofiled", NULL};
        execv(args[0], args);
        _exit(99);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_peak_and_end(void **state)
{
    (void)state;
    require_profiler(__func__);
    ph_heapprof *p = NULL;
    assert_int_equal(ph_heapprof_create(&p, dir, "fresh"), PH_OK);
    assert_int_equal(ph_heapprof_begin(p), PH_OK);
    char peak[512], end[512];
    snprintf(peak, sizeof peak, "%s/fresh.peak.heap", dir);
    snprintf(end, sizeof end, "%s/fresh.heap", dir);
    assert_string_equal(ph_heapprof_path(p, true), peak);

    void *keep[16];
    for (int i = 0; i < 16; i++) {
        keep[i] = malloc(1 << 20);
        memset(keep[i], i, 1 << 20);
    }
    assert_int_equal(ph_heapprof_observe(p, 16 << 20), PH_OK);
    ino_t first = inode(peak);
    assert_true(first != 0);
    /* less than 5% more: no new dump; 5% more: a new file renamed over */
    assert_int_equal(ph_heapprof_observe(p, (16 << 20) + (16 << 20) / 25), PH_OK);
    assert_true(inode(peak) == first);
    assert_int_equal(ph_heapprof_observe(p, 17 << 20), PH_OK);
    assert_true(inode(peak) != first);
    assert_int_equal(ph_heapprof_end(p), PH_OK);
    for (int i = 0; i < 16; i++)
        free(keep[i]);

    size_t len;
    char *text = slurp(peak, &len);
    assert_non_null(text);
    assert_true(strncmp(text, "heap_v2/", 8) == 0);
    /* "t*: curobjs: curbytes [accumobjs: accumbytes]": the 16 MiB are in */
    unsigned long objs, bytes;
    char *t = strstr(text, "t*: ");
    assert_non_null(t);
    assert_int_equal(sscanf(t, "t*: %lu: %lu", &objs, &bytes), 2);
    assert_true(bytes >= 12ul << 20);
    free(text);
    text = slurp(end, &len);
    assert_non_null(text);
    assert_true(strncmp(text, "heap_v2/", 8) == 0);
    free(text);
    /* nothing half-written left behind */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/.fresh.heap.tmp", dir);
    assert_int_equal(access(tmp, F_OK), -1);
    ph_heapprof_destroy(p);

    /* observe and end outside a run */
    assert_int_equal(ph_heapprof_observe(NULL, 5), PH_OK);
    assert_int_equal(ph_heapprof_end(NULL), PH_ERR_ARG);
}

static void test_unwritable(void **state)
{
    (void)state;
    require_profiler(__func__);
    ph_heapprof *p = NULL;
    assert_int_equal(ph_heapprof_create(&p, "/nonexistent/dir", "exact"), PH_OK);
    assert_int_equal(ph_heapprof_begin(p), PH_OK);
    assert_int_equal(ph_heapprof_end(p), PH_ERR_IO);
    ph_heapprof_destroy(p);
    assert_int_equal(ph_heapprof_create(NULL, dir, "x"), PH_ERR_ARG);
}

static int cleanup(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--unprofiled") == 0) {
        ph_heapprof *p = NULL;
        return !ph_heapprof_available() &&
                       ph_heapprof_create(&p, "/tmp", "x") == PH_ERR_PROF_UNAVAILABLE && !p
                   ? 0
                   : 1;
    }
    /* jemalloc reads MALLOC_CONF once: restart with the profiler on */
    if (!getenv(ENV)) {
        setenv(ENV, "1", 1);
        setenv("MALLOC_CONF", "prof:true,prof_active:false,lg_prof_sample:16", 1);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "cannot restart with the profiler: %s\n", strerror(errno));
        return 1;
    }
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_without_profiler),
        cmocka_unit_test(test_peak_and_end),
        cmocka_unit_test(test_unwritable),
    };
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
