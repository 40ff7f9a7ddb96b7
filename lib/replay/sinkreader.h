/* The reading end of the replay's socket sink.
 *
 * It runs in its own process (forked by the replay) so that nothing it
 * allocates is counted against the strategy under test. For each connected
 * socket it completes the BOLT 8 handshake as responder, then reads and
 * decrypts every frame; with `verify` it compares each plaintext byte for
 * byte with the message the replay meant to send. Readers can be slowed to a
 * byte rate (token bucket) or stalled (handshake, then never read).
 *
 * The loop ends when every socket that is read has reached end of file (the
 * writer closed it) or failed; stalled sockets end it too when the writer
 * closes its end (they are never read, so they cannot be drained).
 *
 * Ownership: the caller owns fds (closed by the caller after return) and
 * the expected-message arrays. Errors: PH_ERR_NOMEM, PH_ERR_IO (epoll).
 * Per-connection failures (bad handshake, bad MAC) do not stop the others:
 * they are counted and the first is described in result.first_error. */
#ifndef PH_SINKREADER_H
#define PH_SINKREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct ph_sinkreader_peer {
    int fd;
    bool stalled;
    /* expected plaintexts in order (only read with verify) */
    const uint8_t *const *expect;
    const uint32_t *expect_len;
    size_t expect_n;
} ph_sinkreader_peer;

typedef struct ph_sinkreader_config {
    const uint8_t *local_priv;   /* responder static key, 32 bytes */
    ph_sinkreader_peer *peers;
    size_t npeers;
    uint64_t rate;               /* bytes per second per reader; 0 = unlimited */
    bool verify;
    unsigned idle_timeout_ms;    /* give up when nothing happens this long (0 = 60 s) */
} ph_sinkreader_config;

typedef struct ph_sinkreader_result {
    uint64_t handshakes;
    uint64_t frames;
    uint64_t bytes;              /* ciphertext bytes read */
    uint64_t verified;           /* frames equal to the expected message */
    uint64_t mismatches;         /* frames that differ, or more frames than expected */
    uint64_t missing;            /* expected messages never received (non-stalled peers) */
    uint64_t failed;             /* connections that failed (handshake, MAC, I/O) */
    bool timed_out;
    char first_error[200];
} ph_sinkreader_result;

ph_err ph_sinkreader_run(const ph_sinkreader_config *cfg, ph_sinkreader_result *res);

#endif
