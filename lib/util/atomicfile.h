/* Output files that appear whole or not at all.
 *
 * Everything peerheap writes for later (reports, baselines, JUnit files,
 * recordings, exports, key files) goes through here: the content is written
 * to a temporary file in the same directory and renamed over the real name
 * once complete and synced, so a reader, or a run killed midway, never sees
 * half a file, and the file that was there before stays intact until the
 * new one is whole. An existing file is replaced only when the caller says
 * so (PH_ATOMICFILE_REPLACE); otherwise it is refused up front and, should
 * one appear meanwhile, at the rename too.
 *
 * A run killed before its commit leaves its temporary file behind, named
 * ".NAME.PID.N.tmp" beside NAME; nothing else removes it.
 *
 * Ownership: ph_atomicfile_open returns an object owned by the caller that
 * ph_atomicfile_commit or ph_atomicfile_abort frees (exactly one of them).
 * The stream belongs to the object: do not fclose it. Not thread-safe. */
#ifndef PH_ATOMICFILE_H
#define PH_ATOMICFILE_H

#include <stdio.h>

#include "error.h"

typedef struct ph_atomicfile ph_atomicfile;

enum {
    PH_ATOMICFILE_REPLACE = 1u << 0, /* an existing file may be replaced */
    PH_ATOMICFILE_PRIVATE = 1u << 1, /* mode 0600 (secrets); else 0666 less the umask */
};

/* Creates the temporary file beside `path`. PH_ERR_EXISTS when `path`
 * exists and PH_ATOMICFILE_REPLACE is not set (or is a directory);
 * PH_ERR_IO with errno when the directory cannot take a file; PH_ERR_NOMEM. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_atomicfile_open(ph_atomicfile **out, const char *path, unsigned flags);

/* Where to write. */
PH_NONNULL(1)
FILE *ph_atomicfile_stream(ph_atomicfile *af);

/* Flushes and syncs the temporary file and renames it to the path given at
 * open; frees `af`. PH_ERR_IO (errno kept) when a write, the sync or the
 * rename failed, PH_ERR_EXISTS when the path appeared meanwhile and may not
 * be replaced: in both cases the temporary file is removed and whatever was
 * at the path is untouched. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_atomicfile_commit(ph_atomicfile *af);

/* Removes the temporary file and frees `af` (NULL is a no-op). */
void ph_atomicfile_abort(ph_atomicfile *af);

#endif
