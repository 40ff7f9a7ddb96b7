/* Capture files, record by record, in one pass: classic pcap and pcapng.
 *
 * Read from a stream (a regular file, standard input, a pipe or a FIFO):
 * the reader never seeks and never reads a byte twice, so `peerheap dump -`
 * and `<(zcat x.pcap.gz)` read like files.
 *
 * pcap: both byte orders, microsecond (0xa1b2c3d4) and nanosecond
 * (0xa1b23c4d) timestamps, and the modified format (0xa1b2cd34, 24-byte
 * record headers). One link type for the whole file.
 *
 * pcapng (read here rather than by libpcap, which refuses a file whose
 * interfaces differ in link type or snapshot length): section header
 * blocks in either byte order (a new section starts a new set of
 * interfaces), one interface description block per interface with its own
 * link type, snapshot length, if_tsresol and if_tsoffset; enhanced, simple
 * and obsolete packet blocks; every other block (name resolution, interface
 * statistics, decryption secrets, custom) is skipped by its length.
 * Interfaces are numbered across the file in the order they are described,
 * so that two sections never share a number.
 *
 * A block or record longer than PH_CAPFILE_MAX_RECORD, a block length that
 * is not a multiple of 4 or whose trailing copy differs, is corrupt; the
 * stream ending inside a record is truncated. Both stop the file (what came
 * before stays valid) with a message and the offset of the last good byte.
 * A packet of an interface that was never described is delivered with
 * linktype -1 (the caller counts it as malformed) rather than stopping.
 *
 * Ownership: ph_capfile is opaque (open / close). With `own` the stream is
 * closed by ph_capfile_close. A record's data pointer is valid until the
 * next ph_capfile_next or close. Memory: one buffer as large as the largest
 * record read, at most PH_CAPFILE_MAX_RECORD, plus the interface table. */
#ifndef PH_CAPFILE_H
#define PH_CAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "error.h"

#define PH_CAPFILE_MAX_RECORD (16u << 20)
/* Interfaces kept per file; more is corrupt (a file describing thousands of
 * interfaces is not a capture anyone wrote). */
#define PH_CAPFILE_MAX_IFACES 4096u
#define PH_CAPFILE_ERRLEN 256

enum ph_capfile_format { PH_CAPFILE_PCAP, PH_CAPFILE_PCAPNG };

struct ph_capfile_iface {
    int linktype;           /* LINKTYPE_ value */
    uint32_t snaplen;       /* 0: not limited */
    uint32_t section;       /* pcapng section, from 0 */
};

struct ph_capfile_record {
    const uint8_t *data;    /* caplen bytes */
    uint32_t caplen;        /* bytes captured */
    uint32_t origlen;       /* bytes on the wire (>= caplen when the writer
                               was sane; may be smaller in damaged files) */
    uint64_t ts_ns;         /* ns since the Unix epoch; a simple packet block
                               has none and repeats the previous record's */
    uint32_t iface;         /* file-wide interface number */
    int linktype;           /* the interface's, -1 for an undescribed one */
    uint32_t snaplen;       /* the interface's, 0 when not limited */
    uint64_t number;        /* 1-based packet number in the file */
    uint64_t offset;        /* file offset of the record's header */
};

typedef struct ph_capfile ph_capfile;

/* Reads the file header. Errors: PH_ERR_CAPTURE_OPEN (not a capture, or it
 * ends inside its header: `err` says which, with what the first bytes look
 * like), PH_ERR_IO (read error, errno kept), PH_ERR_NOMEM, PH_ERR_ARG. On
 * error nothing is kept and, with `own`, the stream is closed. `err`
 * (PH_CAPFILE_ERRLEN bytes) may be NULL. */
PH_MUST_USE
ph_err ph_capfile_open(ph_capfile **out, FILE *fp, bool own, char *err);
void ph_capfile_close(ph_capfile *f);

/* The next packet record. PH_OK; PH_ERR_EOF at the clean end;
 * PH_ERR_CAPTURE_TRUNCATED when the stream ends inside a block or record;
 * PH_ERR_CAPTURE_CORRUPT for an impossible block or record header;
 * PH_ERR_IO for a read error; PH_ERR_NOMEM. After an error every further
 * call returns it again; ph_capfile_error explains it. */
PH_MUST_USE
ph_err ph_capfile_next(ph_capfile *f, struct ph_capfile_record *rec);

PH_NONNULL(1)
enum ph_capfile_format ph_capfile_format(const ph_capfile *f);
/* The message of the last error, "" when none. */
PH_NONNULL(1)
const char *ph_capfile_error(const ph_capfile *f);
/* Offset just past the last complete record or block. */
PH_NONNULL(1)
uint64_t ph_capfile_good_offset(const ph_capfile *f);
/* Interfaces described so far (pcap: always one). */
PH_NONNULL(1)
size_t ph_capfile_iface_count(const ph_capfile *f);
PH_NONNULL(1)
const struct ph_capfile_iface *ph_capfile_iface(const ph_capfile *f, size_t i);
/* Packet records delivered so far. */
PH_NONNULL(1)
uint64_t ph_capfile_records(const ph_capfile *f);

#endif
