/* lib/util/atomicfile: a file appears whole at commit or not at all; an
 * existing file is refused unless replacing, and survives an abort, a
 * failing writer and a writer killed midway. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "atomicfile.h"

struct dir {
    char path[64];
    char file[96];
};

static int setup(void **state)
{
    struct dir *d = calloc(1, sizeof *d);
    snprintf(d->path, sizeof d->path, "/tmp/ph-atomicfile-XXXXXX");
    if (!d || !mkdtemp(d->path))
        return -1;
    snprintf(d->file, sizeof d->file, "%s/out.json", d->path);
    *state = d;
    return 0;
}

static size_t entries(const char *path)
{
    DIR *dp = opendir(path);
    assert_non_null(dp);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(dp);
    return n;
}

static void clear(const char *path)
{
    DIR *dp = opendir(path);
    struct dirent *e;
    char p[512];
    while (dp && (e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            unlink(p);
        }
    if (dp)
        closedir(dp);
}

static int teardown(void **state)
{
    struct dir *d = *state;
    clear(d->path);
    rmdir(d->path);
    free(d);
    return 0;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_commit_and_refusal(void **state)
{
    struct dir *d = *state;
    ph_atomicfile *af;
    assert_int_equal(ph_atomicfile_open(&af, d->file, 0), PH_OK);
    fputs("new", ph_atomicfile_stream(af));
    /* nothing under the name until the commit */
    assert_null(slurp(d->file));
    assert_int_equal(entries(d->path), 1);
    assert_int_equal(ph_atomicfile_commit(af), PH_OK);
    assert_string_equal(slurp(d->file), "new");
    assert_int_equal(entries(d->path), 1);

    /* an existing file: refused without REPLACE, the file untouched */
    assert_int_equal(ph_atomicfile_open(&af, d->file, 0), PH_ERR_EXISTS);
    assert_string_equal(slurp(d->file), "new");
    assert_int_equal(entries(d->path), 1);
    /* with REPLACE, replaced */
    assert_int_equal(ph_atomicfile_open(&af, d->file, PH_ATOMICFILE_REPLACE), PH_OK);
    fputs("newer", ph_atomicfile_stream(af));
    assert_int_equal(ph_atomicfile_commit(af), PH_OK);
    assert_string_equal(slurp(d->file), "newer");

    /* a file that appears while the new one is written is not replaced */
    unlink(d->file);
    assert_int_equal(ph_atomicfile_open(&af, d->file, 0), PH_OK);
    fputs("late", ph_atomicfile_stream(af));
    put(d->file, "someone else's");
    assert_int_equal(ph_atomicfile_commit(af), PH_ERR_EXISTS);
    assert_string_equal(slurp(d->file), "someone else's");
    assert_int_equal(entries(d->path), 1);

    /* a directory is never a target; a missing directory is an I/O error */
    assert_int_equal(ph_atomicfile_open(&af, d->path, PH_ATOMICFILE_REPLACE), PH_ERR_EXISTS);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir", d->path);
    assert_int_equal(ph_atomicfile_open(&af, missing, 0), PH_ERR_IO);
    assert_int_equal(errno, ENOENT);
}

static void test_abort_and_failing_writer(void **state)
{
    struct dir *d = *state;
    put(d->file, "old");
    ph_atomicfile *af;
    assert_int_equal(ph_atomicfile_open(&af, d->file, PH_ATOMICFILE_REPLACE), PH_OK);
    fputs("half", ph_atomicfile_stream(af));
    ph_atomicfile_abort(af);
    assert_string_equal(slurp(d->file), "old");
    assert_int_equal(entries(d->path), 1);

    /* a write that fails (the file size limit, EFBIG) fails the commit */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        if (ph_atomicfile_open(&af, d->file, PH_ATOMICFILE_REPLACE))
            _exit(10);
        FILE *f = ph_atomicfile_stream(af);
        for (int i = 0; i < 10000; i++)
            fputs("0123456789", f);
        _exit(ph_atomicfile_commit(af) == PH_ERR_IO ? 0 : 11);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(slurp(d->file), "old");
    assert_int_equal(entries(d->path), 1); /* the temporary file is gone */
}

/* A writer killed midway (SIGKILL: no chance to clean up) leaves the old
 * file as it was; only its temporary file remains beside it. */
static void test_killed_writer(void **state)
{
    struct dir *d = *state;
    put(d->file, "old");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ph_atomicfile *af;
        if (ph_atomicfile_open(&af, d->file, PH_ATOMICFILE_REPLACE))
            _exit(10);
        FILE *f = ph_atomicfile_stream(af);
        for (int i = 0; i < 100000; i++)
            fputs("0123456789", f);
        fflush(f);
        if (write(ready[1], "x", 1) != 1)
            _exit(11);
        pause(); /* killed here, mid-write, before any commit */
        _exit(12);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_string_equal(slurp(d->file), "old");
    assert_int_equal(entries(d->path), 2); /* the file and the dead writer's temporary */
    clear(d->path);
}

static void test_private_mode(void **state)
{
    struct dir *d = *state;
    ph_atomicfile *af;
    assert_int_equal(ph_atomicfile_open(&af, d->file, PH_ATOMICFILE_PRIVATE), PH_OK);
    fputs("secret", ph_atomicfile_stream(af));
    assert_int_equal(ph_atomicfile_commit(af), PH_OK);
    struct stat st;
    assert_int_equal(stat(d->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(d->file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_and_refusal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_failing_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_mode, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
