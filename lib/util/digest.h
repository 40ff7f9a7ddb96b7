/* SHA-256 of a file's content: how a report names the exact inputs it was
 * measured on, so a gate can tell a baseline of another capture.
 *
 * Errors: PH_ERR_IO (errno kept) when the file cannot be opened or read. */
#ifndef PH_DIGEST_H
#define PH_DIGEST_H

#include "error.h"

/* Writes 64 lowercase hex digits and a NUL into `hex`. */
PH_MUST_USE
PH_NONNULL(1, 2)
ph_err ph_sha256_file(const char *path, char hex[65]);

#endif
