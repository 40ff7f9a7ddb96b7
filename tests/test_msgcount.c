/* Per-type counters: every type counted in its own slot, BOLT 2's slots
 * allocated only when one of them is counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "msgcount.h"

static void test_counts_every_type(void **state)
{
    (void)state;
    ph_msgcounts c;
    memset(&c, 0, sizeof c);
    ph_msgcount all[PH_MSGTYPE__COUNT];
    uint64_t want_msgs = 0, want_bytes = 0;
    for (size_t i = 0; i < ph_wire_msg_desc_count(); i++) {
        const ph_wire_msg_desc *d = ph_wire_msg_desc_at(i);
        if (!strcmp(d->spec_file, "02-peer-protocol.md"))
            continue;
        ph_msgcounts_add(&c, d->type, 100 + i);
        want_msgs++;
        want_bytes += 100 + i;
    }
    ph_msgcounts_add(&c, 32769, 7); /* unknown odd: other */
    /* only BOLT 1 and 7 so far: nothing allocated */
    assert_int_equal(ph_msgcounts_heap_bytes(&c), 0);
    assert_null(c.wide);
    ph_msgcounts_add(&c, PH_WIRE_UPDATE_ADD_HTLC, 1450);
    ph_msgcounts_add(&c, PH_WIRE_UPDATE_ADD_HTLC, 50);
    ph_msgcounts_add(&c, PH_WIRE_STFU, 35);
    assert_true(ph_msgcounts_heap_bytes(&c) > 0);
    ph_msgcounts_get(&c, all);
    uint64_t msgs = 0, bytes = 0;
    for (unsigned s = 0; s < PH_MSGTYPE__COUNT; s++) {
        msgs += all[s].msgs;
        bytes += all[s].bytes;
    }
    assert_int_equal(msgs, want_msgs + 4);
    assert_int_equal(bytes, want_bytes + 7 + 1450 + 50 + 35);
    assert_int_equal(all[PH_MSGTYPE_UPDATE_ADD_HTLC].msgs, 2);
    assert_int_equal(all[PH_MSGTYPE_UPDATE_ADD_HTLC].bytes, 1500);
    assert_int_equal(all[PH_MSGTYPE_STFU].msgs, 1);
    assert_int_equal(all[PH_MSGTYPE_OTHER].msgs, 1);
    assert_int_equal(all[PH_MSGTYPE_OTHER].bytes, 7);
    assert_int_equal(all[PH_MSGTYPE_CHANNEL_UPDATE].msgs, 1);
    assert_int_equal(all[PH_MSGTYPE_COMMITMENT_SIGNED].msgs, 0);
    assert_int_equal(c.unwidened, 0);
    ph_msgcounts_release(&c);
    assert_null(c.wide);
    ph_msgcounts_get(&c, all);
    for (unsigned s = 0; s < PH_MSGTYPE__COUNT; s++)
        assert_int_equal(all[s].msgs, 0);
    ph_msgcounts_release(NULL);
}

/* A 32-bit count about to overflow widens the set instead. */
static void test_widens_before_overflow(void **state)
{
    (void)state;
    ph_msgcounts c;
    memset(&c, 0, sizeof c);
    ph_msgcounts_add(&c, PH_WIRE_PING, 8);
    c.msgs[PH_MSGTYPE_PING] = UINT32_MAX - 1; /* as after 4 billion pings */
    ph_msgcounts_add(&c, PH_WIRE_PING, 8);
    assert_null(c.wide);
    ph_msgcounts_add(&c, PH_WIRE_PING, 8);
    assert_non_null(c.wide);
    ph_msgcount all[PH_MSGTYPE__COUNT];
    ph_msgcounts_get(&c, all);
    assert_true(all[PH_MSGTYPE_PING].msgs == (uint64_t)UINT32_MAX + 1);
    assert_int_equal(all[PH_MSGTYPE_PING].bytes, 24);
    ph_msgcounts_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_every_type),
        cmocka_unit_test(test_widens_before_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
