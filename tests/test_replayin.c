/* Replay input: messages in order, sessions counted from them, and the
 * per-session record of who is who. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "replayin.h"

static void test_messages_and_sessions(void **state)
{
    (void)state;
    ph_replay_input *in;
    assert_int_equal(ph_replay_input_create(&in), PH_OK);
    const uint8_t ping[] = {0x00, 0x12, 0x00, 0x01, 0x00, 0x00};
    assert_int_equal(ph_replay_input_add(in, 5, 2, 1, ping, sizeof ping), PH_OK);
    assert_int_equal(ph_replay_input_add(in, 6, 0, 0, ping, sizeof ping), PH_OK);
    assert_int_equal(ph_replay_input_add(in, 7, 0, 0, ping, 1), PH_ERR_ARG);
    assert_int_equal(ph_replay_input_add(in, 7, 0, 2, ping, sizeof ping), PH_ERR_ARG);
    assert_int_equal(ph_replay_input_count(in), 2);
    assert_int_equal(ph_replay_input_sessions(in), 3);
    assert_int_equal(ph_replay_input_bytes(in), 2 * sizeof ping);
    const ph_replay_msg *m = ph_replay_input_at(in, 0);
    assert_int_equal(m->type, 18);
    assert_int_equal(m->dir, 1);
    assert_int_equal(m->session, 2);
    assert_null(ph_replay_input_at(in, 2));
    uint32_t *idx;
    size_t n;
    assert_int_equal(ph_replay_input_peer_plan(in, 5, 3, &idx, &n), PH_OK); /* 5 mod 3 */
    assert_int_equal(n, 1);
    assert_int_equal(idx[0], 0);
    free(idx);
    ph_replay_input_destroy(in);
}

static void test_session_info(void **state)
{
    (void)state;
    ph_replay_input *in;
    assert_int_equal(ph_replay_input_create(&in), PH_OK);
    assert_null(ph_replay_input_session(in, 0));
    ph_replay_session a = {.node_dir = 1, .input_id = 7};
    assert_int_equal(ph_endpoint_parse("127.0.0.1:9735", &a.node), PH_OK);
    assert_int_equal(ph_endpoint_parse("[::1]:50412", &a.peer), PH_OK);
    assert_int_equal(ph_replay_input_set_session(in, 40, &a), PH_OK);
    /* info does not make sessions: those come from messages */
    assert_int_equal(ph_replay_input_sessions(in), 0);
    assert_null(ph_replay_input_session(in, 39));
    assert_null(ph_replay_input_session(in, 41));
    assert_null(ph_replay_input_session(in, 100000));
    const ph_replay_session *got = ph_replay_input_session(in, 40);
    assert_non_null(got);
    assert_true(ph_endpoint_equal(&got->node, &a.node));
    assert_true(ph_endpoint_equal(&got->peer, &a.peer));
    assert_int_equal(got->node_dir, 1);
    assert_int_equal(got->input_id, 7);
    /* replaced, not added */
    a.node_dir = 0;
    assert_int_equal(ph_replay_input_set_session(in, 40, &a), PH_OK);
    assert_int_equal(ph_replay_input_session(in, 40)->node_dir, 0);
    /* the earlier ones stay unset after growing */
    assert_int_equal(ph_replay_input_set_session(in, 2, &a), PH_OK);
    assert_non_null(ph_replay_input_session(in, 2));
    assert_null(ph_replay_input_session(in, 1));
    assert_non_null(ph_replay_input_session(in, 40));
    a.node_dir = 2;
    assert_int_equal(ph_replay_input_set_session(in, 3, &a), PH_ERR_ARG);
    assert_int_equal(ph_replay_input_set_session(in, UINT32_MAX, &a), PH_ERR_ARG);
    assert_null(ph_replay_input_session(in, 3));
    ph_replay_input_destroy(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_and_sessions),
        cmocka_unit_test(test_session_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
