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
PH_NONNULL(1, 2, 3)
void ph_keylog_format(char line[PH_KEYLOG_LINE_LEN + 1], const uint8_t mac[16],
                      const uint8_t key[32]);

/* Appending writer. Opens `path` with O_APPEND|O_CREAT, mode 0600; each line
 * is written with one write() so concurrent writers never interleave.
 * Errors: PH_ERR_IO (errno kept). */
typedef struct ph_keylog_writer ph_keylog_writer;
PH_MUST_USE
ph_err ph_keylog_writer_open(ph_keylog_writer **out, const char *path);
PH_MUST_USE
ph_err ph_keylog_writer_add(ph_keylog_writer *w, const uint8_t mac[16], const uint8_t key[32]);
void ph_keylog_writer_close(ph_keylog_writer *w);
/* Adapter with the shape of ph_noise_key_cb (ctx is the writer); write
 * errors are counted, see ph_keylog_writer_errors(). */
void ph_keylog_writer_cb(void *ctx, const uint8_t mac[16], const uint8_t key[32]);
unsigned long ph_keylog_writer_errors(const ph_keylog_writer *w);

/* Parsed key log: a set of (mac -> key), read the way key logs are found
 * (the way Wireshark's lightning dissector reads them): every "<32 hex>
 * <64 hex>" pair anywhere on a line is used (separated by blanks; a
 * timestamp or log prefix before it, or fields after it, do not matter; a
 * line may hold several), case-insensitive. Blank lines and lines starting
 * with '#' are skipped silently; every other line without a key is a
 * warning with its line number, never a failure: a partial last line (a log
 * still being appended), a line that looks like a key line but is not one,
 * text of a normal log file. The text may be UTF-8 with or without a BOM,
 * or UTF-16 (little- or big-endian, with a BOM or recognised by its NUL
 * bytes: what PowerShell's `>` writes). A MAC seen twice counts once; the
 * first line's key wins.
 *
 * *first_warning (may be NULL) receives the first warned line's number, 0
 * if none. Errors: PH_ERR_IO when the file cannot be read (errno kept),
 * PH_ERR_NOMEM, PH_ERR_ARG. A file with no key at all loads (count 0). */
typedef struct ph_keylog ph_keylog;
PH_MUST_USE
ph_err ph_keylog_load(ph_keylog **out, const char *path, unsigned long *first_warning);
PH_MUST_USE
ph_err ph_keylog_parse(ph_keylog **out, const char *text, size_t len,
                       unsigned long *first_warning);
void ph_keylog_destroy(ph_keylog *kl);
size_t ph_keylog_count(const ph_keylog *kl);
/* The key whose first length-header MAC is `mac`, or NULL. The pointer stays
 * valid until destroy. Cheap on a miss (a bit table of MAC prefixes is
 * looked at first): callers may probe every offset of a stream. */
const uint8_t *ph_keylog_find(const ph_keylog *kl, const uint8_t mac[16]);

enum ph_keylog_warning_kind {
    PH_KEYLOG_WARN_NO_KEY,     /* text without anything like a key */
    PH_KEYLOG_WARN_MALFORMED,  /* a long hex run, but not "<32 hex> <64 hex>" */
    PH_KEYLOG_WARN_PARTIAL,    /* the last line, without a newline and without
                                  a key: cut while being written */
};

enum ph_keylog_encoding {
    PH_KEYLOG_TEXT,            /* plain ASCII / UTF-8 */
    PH_KEYLOG_UTF8_BOM,
    PH_KEYLOG_UTF16LE,
    PH_KEYLOG_UTF16BE,
    PH_KEYLOG_BINARY,          /* NUL bytes in 8-bit text: not a text file */
};

struct ph_keylog_warning {
    unsigned long line;        /* 1-based */
    enum ph_keylog_warning_kind kind;
};

/* Warnings kept in order (the first PH_KEYLOG_MAX_WARNINGS; the count is of
 * all of them). */
#define PH_KEYLOG_MAX_WARNINGS 20
size_t ph_keylog_warning_count(const ph_keylog *kl);
const struct ph_keylog_warning *ph_keylog_warning(const ph_keylog *kl, size_t i);
/* Lines read (the last one counts even without its newline). */
unsigned long ph_keylog_lines(const ph_keylog *kl);
enum ph_keylog_encoding ph_keylog_encoding(const ph_keylog *kl);
/* "UTF-16LE" and the like, "" for plain text. */
const char *ph_keylog_encoding_name(enum ph_keylog_encoding e);

#endif
