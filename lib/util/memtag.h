/* Memory tags: what the code is doing right now, for an allocation tracker
 * (lib/replay/alloctrack.h) that attributes every allocation to a row and a
 * message type as it happens.
 *
 * A tag is plain state owned by whoever measures (the replay engine, or
 * `peerheap peer --stats-json`) and handed to the code it measures through
 * its configuration (ph_wbuf_config, ph_outq_config, ph_peer_env). Code
 * that holds no tag (NULL) pays one branch per change and nothing else.
 *
 * Rows (what an allocation is for):
 *   WBUF     write buffers handed out by a strategy (lib/wbuf)
 *   QUEUE    the outgoing queue: its entry ring, shared message copies
 *   DECODE   decoded messages (the wire codec's output)
 *   SESSION  connection state: handshake, BOLT 8 keys, receive buffers
 *   OTHER    everything else (peer structs, timers, the gossip store ...)
 *
 * The type is the BOLT message type being handled (0..65535), or
 * PH_MEMTAG_NO_TYPE when no message is.
 *
 * `uncounted` marks work that is not the measured node's: the replay's
 * model of the remote peers runs in the same process, and what it allocates
 * must not show in the node's figures.
 *
 * Changes nest: each setter returns the previous value, to be restored by
 * the caller on the way out. Single-threaded, like the code it tags.
 *
 * The setters are compiler barriers. The tracker reads the tag from inside
 * malloc and free, but gcc and clang take those for functions that read
 * none of the caller's memory: "set row; malloc; restore row" would lose
 * its first store as dead (gcc -O2 does it, tests/test_alloctrack.c shows
 * it). The barriers on both sides of each store keep it, in order, between
 * the calls around it. */
#ifndef PH_MEMTAG_H
#define PH_MEMTAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ph_memrow {
    PH_MEMROW_OTHER,
    PH_MEMROW_WBUF,
    PH_MEMROW_QUEUE,
    PH_MEMROW_DECODE,
    PH_MEMROW_SESSION,
    PH_MEMROW__COUNT
} ph_memrow;

#define PH_MEMTAG_NO_TYPE 0xFFFFFFFFu

typedef struct ph_memtag {
    uint8_t row;      /* ph_memrow */
    bool uncounted;
    uint32_t type;    /* message type, or PH_MEMTAG_NO_TYPE */
} ph_memtag;

/* Compiler barrier only: no instruction is emitted. */
static inline void ph_memtag_barrier(void)
{
    __asm__ __volatile__("" : : : "memory");
}

static inline void ph_memtag_init(ph_memtag *t)
{
    t->row = PH_MEMROW_OTHER;
    t->uncounted = false;
    t->type = PH_MEMTAG_NO_TYPE;
    ph_memtag_barrier();
}

static inline uint8_t ph_memtag_row(ph_memtag *t, uint8_t row)
{
    if (!t)
        return PH_MEMROW_OTHER;
    ph_memtag_barrier();
    uint8_t old = t->row;
    t->row = row;
    ph_memtag_barrier();
    return old;
}

static inline uint32_t ph_memtag_type(ph_memtag *t, uint32_t type)
{
    if (!t)
        return PH_MEMTAG_NO_TYPE;
    ph_memtag_barrier();
    uint32_t old = t->type;
    t->type = type;
    ph_memtag_barrier();
    return old;
}

static inline bool ph_memtag_uncounted(ph_memtag *t, bool uncounted)
{
    if (!t)
        return false;
    ph_memtag_barrier();
    bool old = t->uncounted;
    t->uncounted = uncounted;
    ph_memtag_barrier();
    return old;
}

/* Row names as reports print them: "other", "write_buffers", "queue",
 * "decode", "session". */
static inline const char *ph_memrow_name(unsigned row)
{
    static const char *const names[PH_MEMROW__COUNT] = {
        "other", "write_buffers", "queue", "decode", "session",
    };
    return row < PH_MEMROW__COUNT ? names[row] : "?";
}

#endif
