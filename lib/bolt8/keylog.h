/* BOLT 8 key logs: one line per key, "<32 hex> <64 hex>\n", lowercase: the
 * 16-byte MAC of the first encrypted length header under the key, then the
 * 32-byte key. Written by Wireshark's lightning-dissector users, ptarmigan
 * (LIGHTNINGKEYLOGFILE) and Eclair; read to decrypt captures.
 *
 * A key log holds secrets: whoever has it can read the session.
 *
 * Ownership: ph_keylog_writer and ph_keylog are opaque, created and destroyed
 * by the caller; destroy wipes the stored keys. */
#ifndef PH_KEYLOG_H
#define PH_KEYLOG_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define PH_KEYLOG_LINE_LEN 98 /* 32 + 1 + 64 + newline */

/* Format one line (no terminating NUL written beyond the buffer's 99th byte:
 * `line` must hold PH_KEYLOG_LINE_LEN + 1 bytes; it is NUL-terminated). */
void ph_keylog_format(char line[PH_KEYLOG_LINE_LEN + 1], const uint8_t mac[16],
                      const uint8_t key[32]);

/* Appending writer. Opens `path` with O_APPEND|O_CREAT, mode 0600; each line
 * is written with one write() so concurrent writers never interleave.
 * Errors: PH_ERR_IO (errno kept). */
typedef struct ph_keylog_writer ph_keylog_writer;
ph_err ph_keylog_writer_open(ph_keylog_writer **out, const char *path);
ph_err ph_keylog_writer_add(ph_keylog_writer *w, const uint8_t mac[16], const uint8_t key[32]);
void ph_keylog_writer_close(ph_keylog_writer *w);
/* Adapter with the shape of ph_noise_key_cb (ctx is the writer); write
 * errors are counted, see ph_keylog_writer_errors(). */
void ph_keylog_writer_cb(void *ctx, const uint8_t mac[16], const uint8_t key[32]);
unsigned long ph_keylog_writer_errors(const ph_keylog_writer *w);

/* Parsed key log: a set of (mac -> key). Blank lines and lines starting with
 * '#' are skipped; any other line not in the format fails the whole load with
 * PH_ERR_KEYLOG_FORMAT and *bad_line set to its 1-based number. PH_ERR_IO when
 * the file cannot be read. Readers are lenient where it costs nothing:
 * upper-case hex, trailing blanks and CRLF line ends are accepted. A MAC
 * seen twice counts once; the first line's key wins. */
typedef struct ph_keylog ph_keylog;
ph_err ph_keylog_load(ph_keylog **out, const char *path, unsigned long *bad_line);
ph_err ph_keylog_parse(ph_keylog **out, const char *text, size_t len, unsigned long *bad_line);
void ph_keylog_destroy(ph_keylog *kl);
size_t ph_keylog_count(const ph_keylog *kl);
/* The key whose first length-header MAC is `mac`, or NULL. The pointer stays
 * valid until destroy. */
const uint8_t *ph_keylog_find(const ph_keylog *kl, const uint8_t mac[16]);

#endif
