/* Temporary file beside the target, synced, then renamed (see the header). */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ph_atomicfile {
    FILE *f;
    bool replace;
    char *path;
    char *tmp;
};

/* "dir/.name.PID.N.tmp": hidden, in the same directory (a rename never
 * crosses file systems), and unique per attempt (O_EXCL decides). */
static int create_tmp(ph_atomicfile *af, unsigned flags)
{
    const char *slash = strrchr(af->path, '/');
    size_t dirlen = slash ? (size_t)(slash - af->path) + 1 : 0;
    const char *base = af->path + dirlen;
    size_t cap = strlen(af->path) + 64;
    if (!(af->tmp = malloc(cap)))
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long seed = (unsigned long)ts.tv_nsec ^ (unsigned long)ts.tv_sec;
    mode_t mode = flags & PH_ATOMICFILE_PRIVATE ? 0600 : 0666;
    for (unsigned i = 0; i < 100; i++) {
        snprintf(af->tmp, cap, "%.*s.%s.%ld.%lx.tmp", (int)dirlen, af->path, base, (long)getpid(),
                 seed + i);
        int fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

static void free_af(ph_atomicfile *af)
{
    free(af->path);
    free(af->tmp);
    free(af);
}

ph_err ph_atomicfile_open(ph_atomicfile **out, const char *path, unsigned flags)
{
    *out = NULL;
    if (!path || !*path)
        return PH_ERR_ARG;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && (S_ISDIR(st.st_mode) || !(flags & PH_ATOMICFILE_REPLACE)))
        return PH_ERR_EXISTS;
    ph_atomicfile *af = calloc(1, sizeof *af);
    if (!af || !(af->path = strdup(path))) {
        free(af);
        return PH_ERR_NOMEM;
    }
    af->replace = flags & PH_ATOMICFILE_REPLACE;
    int fd = create_tmp(af, flags);
    if (fd < 0) {
        int e = errno;
        free_af(af);
        errno = e;
        return e == ENOMEM ? PH_ERR_NOMEM : PH_ERR_IO;
    }
    if (!(af->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        free_af(af);
        errno = e;
        return PH_ERR_IO;
    }
    *out = af;
    return PH_OK;
}

FILE *ph_atomicfile_stream(ph_atomicfile *af)
{
    return af->f;
}

/* Moves tmp to path without ever replacing a file that is there: the
 * kernel's no-replace rename where the file system has it, else a hard
 * link (which fails on an existing name), else a last check. */
static int rename_noreplace(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(tmp, path) == 0) {
        unlink(tmp);
        return 0;
    }
    if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP)
        return -1;
    struct stat st;
    if (stat(path, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(tmp, path);
}

/* Makes the rename itself durable; a failure here loses nothing written. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + 1), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

ph_err ph_atomicfile_commit(ph_atomicfile *af)
{
    bool ok = fflush(af->f) == 0 && !ferror(af->f) && fsync(fileno(af->f)) == 0;
    int e = errno;
    if (fclose(af->f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    af->f = NULL;
    if (ok) {
        int rc = af->replace ? rename(af->tmp, af->path) : rename_noreplace(af->tmp, af->path);
        ok = rc == 0;
        e = errno;
    }
    if (!ok) {
        unlink(af->tmp);
        free_af(af);
        errno = e;
        return e == EEXIST ? PH_ERR_EXISTS : PH_ERR_IO;
    }
    sync_dir(af->path);
    free_af(af);
    return PH_OK;
}

void ph_atomicfile_abort(ph_atomicfile *af)
{
    if (!af)
        return;
    if (af->f)
        fclose(af->f);
    unlink(af->tmp);
    free_af(af);
}
