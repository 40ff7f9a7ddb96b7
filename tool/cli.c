#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"

void ph_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("peerheap: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

bool ph_cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool ph_cli_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool ph_cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

void ph_cli_getopt_reset(void)
{
    /* 0, not 1: glibc then also forgets a half-scanned "-abc" group */
    optind = 0;
    opterr = 0;
}

const char *ph_cli_bad_option(char *const argv[], char *buf, size_t len)
{
    /* Long options carry codes from 256 up (cli.h), so a code below names
     * a short option, which may sit inside a group ("-qx"). */
    if (optopt > 0 && optopt < 256) {
        snprintf(buf, len, "-%c", optopt);
        return buf;
    }
    snprintf(buf, len, "%s", optind > 0 ? argv[optind - 1] : "");
    return buf;
}

struct ph_atomicfile *ph_cli_output_open(const char *cmd, const char *path, bool replace,
                                         bool private_mode)
{
    ph_atomicfile *af;
    unsigned flags = (replace ? PH_ATOMICFILE_REPLACE : 0) |
                     (private_mode ? PH_ATOMICFILE_PRIVATE : 0);
    ph_err err = ph_atomicfile_open(&af, path, flags);
    if (err == PH_ERR_EXISTS) {
        ph_cli_error("%s: %s exists (--force replaces it)", cmd, path);
        return NULL;
    }
    if (err) {
        ph_cli_error("%s: cannot write %s: %s", cmd, path,
                     err == PH_ERR_IO ? strerror(errno) : ph_strerror(err));
        return NULL;
    }
    return af;
}

int ph_cli_output_commit(const char *cmd, struct ph_atomicfile *af, const char *path)
{
    ph_err err = ph_atomicfile_commit(af);
    if (err == PH_ERR_EXISTS) {
        ph_cli_error("%s: %s appeared while it was being written; not replaced (--force "
                     "replaces it)", cmd, path);
        return PH_EXIT_USAGE;
    }
    if (err) {
        ph_cli_error("%s: writing %s failed: %s; nothing was changed there", cmd, path,
                     strerror(errno));
        return PH_EXIT_USAGE;
    }
    return PH_EXIT_OK;
}

int ph_cli_output_finish(const char *cmd, struct ph_atomicfile *af, const char *path,
                         ph_err write_err)
{
    if (!write_err)
        return ph_cli_output_commit(cmd, af, path);
    int e = errno;
    ph_atomicfile_abort(af);
    ph_cli_error("%s: writing %s failed: %s; nothing was changed there", cmd, path,
                 write_err == PH_ERR_IO ? strerror(e) : ph_strerror(write_err));
    return PH_EXIT_USAGE;
}
