/* .lnmsgs files: Lightning messages with no capture around them, each as
 * [u16 big-endian length][message], repeated to the end of the file. The
 * one writer and reader of the format: gossip preloads (lib/node/gossip),
 * node gossip dumps (lib/node/node), `dump --export` (tool/cmd_dump) and
 * the replay inputs (lib/capture/lninput, lib/capture/replayin).
 *
 * A record is valid when its length is at least PH_LNMSGS_MIN (a message
 * is at least its 2-byte type) and the file holds that many bytes after the
 * length; an empty file is a valid file of no messages.
 *
 * Ownership: nothing here allocates or closes anything; the FILE and the
 * buffers are the caller's. Errors are named with each function. */
#ifndef PH_LNMSGS_H
#define PH_LNMSGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define PH_LNMSGS_MIN 2u      /* shortest valid message: its type */
#define PH_LNMSGS_MAX 65535u  /* longest message a u16 length can frame */

/* Appends one record to `f` (not flushed). PH_ERR_ARG when len > 65,535
 * (nothing written); PH_ERR_IO when the stream fails (errno from stdio).
 * A message shorter than PH_LNMSGS_MIN is written as given, for writers
 * that copy what they were handed; readers will refuse it. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_lnmsgs_write(FILE *f, const uint8_t *msg, size_t len);

/* Reads a stream record by record; `offset` is where the next record
 * starts (0 at the start of the stream: set it when `f` is not at 0). */
typedef struct ph_lnmsgs_reader {
    FILE *f;
    uint64_t offset;
} ph_lnmsgs_reader;

/* The next record's message into `buf` (PH_LNMSGS_MAX bytes): PH_OK with
 * *len >= PH_LNMSGS_MIN for a record, PH_OK with *len = 0 at the end of
 * the file. PH_ERR_PARSE when the file ends inside a record or a record is
 * shorter than PH_LNMSGS_MIN; PH_ERR_IO when reading fails (errno). On an
 * error r->offset stays the offset of the bad record (for messages naming
 * it); on success it moves past the record. */
PH_MUST_USE
PH_NONNULL(1, 2, 3)
ph_err ph_lnmsgs_read(ph_lnmsgs_reader *r, uint8_t *buf, size_t *len);

/* The same over a whole file held in memory: the record at *off of
 * buf[0..len). PH_OK with *msg and *msg_len set and *off moved past it, or
 * *msg_len = 0 when *off == len; PH_ERR_PARSE (with *off left at the bad
 * record) when the record does not fit or is too short: then *msg_len is
 * the length the record claims, 0 when even its 2-byte prefix is cut (for
 * messages saying which). *msg borrows from `buf`. */
PH_MUST_USE
PH_NONNULL(3, 4, 5)
ph_err ph_lnmsgs_next(const uint8_t *buf, size_t len, size_t *off, const uint8_t **msg,
                      size_t *msg_len);

#endif
