/* Per-message-type counters: messages and plaintext bytes (2-byte type
 * included), one slot per type of the wire table plus `other`
 * (PH_MSGTYPE_*, wire_types.h, generated with the table).
 *
 * Every connected peer holds two sets (received, written), inside structs
 * whose jemalloc size class is watched (an idle peer's queue fits 512
 * bytes), so a set starts compact: the BOLT 1 / BOLT 7 slots and `other`
 * (PH_MSGTYPE_COMMON of them, what a gossip node's peers exchange) with
 * 32-bit message counts. It widens, once, into 64-bit counts for every slot
 * (one allocation) on the first BOLT 2 message or when a 32-bit count would
 * overflow. If that allocation fails, a BOLT 2 message is counted under
 * `other` and a full 32-bit count stays at its maximum; both are counted in
 * `unwidened`, so a reader can tell.
 *
 * Ownership: a set lives inside its owner's struct (zero it to start);
 * ph_msgcounts_release frees the allocated part. Not thread-safe; no
 * global state. */
#ifndef PH_MSGCOUNT_H
#define PH_MSGCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "wire.h"

typedef struct ph_msgcount {
    uint64_t msgs;
    uint64_t bytes; /* plaintext message bytes, 2-byte type included */
} ph_msgcount;

typedef struct ph_msgcounts {
    uint64_t bytes[PH_MSGTYPE_COMMON];
    uint32_t msgs[PH_MSGTYPE_COMMON];
    uint32_t unwidened;   /* counted coarsely for want of memory */
    ph_msgcount *wide;    /* PH_MSGTYPE__COUNT slots once widened, else NULL */
} ph_msgcounts;

PH_NONNULL(1)
void ph_msgcounts_add(ph_msgcounts *c, uint16_t type, size_t bytes);
/* Every slot into out[PH_MSGTYPE__COUNT] (zero where nothing was counted). */
PH_NONNULL(1, 2)
void ph_msgcounts_get(const ph_msgcounts *c, ph_msgcount *out);
/* Bytes allocated for the set (0 until it widens). */
PH_NONNULL(1)
size_t ph_msgcounts_heap_bytes(const ph_msgcounts *c);
/* Free the allocated slots; the set counts from zero again. */
void ph_msgcounts_release(ph_msgcounts *c);

#endif
