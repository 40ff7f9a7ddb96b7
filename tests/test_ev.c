#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "ev.h"
#include "ph_test.h"

struct log {
    int order[64];
    uint64_t ids[64];
    size_t n;
};

struct tctx {
    struct log *log;
    int tag;
};

static void record_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    struct tctx *t = ctx;
    t->log->order[t->log->n] = t->tag;
    t->log->ids[t->log->n] = id;
    t->log->n++;
}

static ph_ev *mk(void)
{
    ph_ev *ev = NULL;
    assert_int_equal(ph_ev_create(&ev), PH_OK);
    return ev;
}

static void test_timer_order_and_cancel(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    struct log log = { .n = 0 };
    struct tctx t[5];
    uint64_t id[5];
    /* Delays: equal ones keep insertion order. */
    const uint64_t delay[5] = { 3000000, 0, 3000000, 1000000, 0 };
    for (int i = 0; i < 5; i++) {
        t[i] = (struct tctx){ &log, i };
        assert_int_equal(ph_ev_timer_add(ev, delay[i], record_cb, &t[i], &id[i]), PH_OK);
        assert_true(id[i] != 0);
        for (int j = 0; j < i; j++)
            assert_true(id[i] != id[j]);
    }
    assert_true(ph_ev_timer_cancel(ev, id[3]));
    assert_false(ph_ev_timer_cancel(ev, id[3]));
    assert_int_equal(ph_ev_timer_count(ev), 4);
    ph_test_watchdog("every timer to fire (ph_ev_run_once with no time limit)");
    while (ph_ev_timer_count(ev))
        assert_int_equal(ph_ev_run_once(ev, -1), PH_OK);
    ph_test_watchdog(NULL);
    assert_int_equal(log.n, 4);
    assert_int_equal(log.order[0], 1);
    assert_int_equal(log.order[1], 4);
    assert_int_equal(log.order[2], 0);
    assert_int_equal(log.order[3], 2);
    assert_true(log.ids[0] == id[1]);
    /* Cancelling an id that already fired is harmless. */
    assert_false(ph_ev_timer_cancel(ev, id[0]));
    assert_false(ph_ev_timer_cancel(ev, 0));
    ph_ev_destroy(ev);
}

/* Many timers with scrambled delays fire in non-decreasing due order, and
 * slot reuse after cancellations keeps the heap consistent. */
struct due_ctx {
    uint64_t *fired_due;
    size_t *n;
    uint64_t due;
};

static void due_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)ev;
    (void)id;
    struct due_ctx *d = ctx;
    d->fired_due[(*d->n)++] = d->due;
}

static void test_timer_heap_many(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    enum { N = 1000 };
    struct due_ctx *c = calloc(N, sizeof *c);
    uint64_t *ids = calloc(N, sizeof *ids);
    uint64_t *fired = calloc(N, sizeof *fired);
    size_t n = 0;
    uint64_t now = ph_ev_now(ev);
    uint32_t x = 12345;
    for (size_t i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        uint64_t d = (x >> 8) % 5000000u; /* up to 5 ms */
        c[i] = (struct due_ctx){ fired, &n, now + d };
        assert_int_equal(ph_ev_timer_add(ev, d, due_cb, &c[i], &ids[i]), PH_OK);
    }
    size_t cancelled = 0;
    for (size_t i = 0; i < N; i += 3) {
        assert_true(ph_ev_timer_cancel(ev, ids[i]));
        cancelled++;
    }
    ph_test_watchdog("every timer to fire (ph_ev_run_once with no time limit)");
    while (ph_ev_timer_count(ev))
        assert_int_equal(ph_ev_run_once(ev, -1), PH_OK);
    ph_test_watchdog(NULL);
    assert_int_equal(n, N - cancelled);
    for (size_t i = 1; i < n; i++)
        assert_true(fired[i - 1] <= fired[i]);
    free(c);
    free(ids);
    free(fired);
    ph_ev_destroy(ev);
}

/* A zero-delay timer added from a timer callback waits for the next
 * iteration, so a self-re-arming timer cannot starve the loop. */
struct rearm {
    int fired;
};

static void rearm_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)id;
    struct rearm *r = ctx;
    r->fired++;
    assert_int_equal(ph_ev_timer_add(ev, 0, rearm_cb, r, NULL), PH_OK);
}

static void test_timer_rearm_next_iteration(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    struct rearm r = { 0 };
    assert_int_equal(ph_ev_timer_add(ev, 0, rearm_cb, &r, NULL), PH_OK);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(r.fired, 1);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(r.fired, 2);
    ph_ev_destroy(ev);
}

struct fdctx {
    int calls;
    unsigned last;
    int del_fd;          /* fd to delete when called (-1: none) */
    int replace_fd;      /* after deleting, reuse the number for a new pipe */
    ph_ev *ev;
    int newpipe[2];
    bool stop;
};

static void fd_cb(ph_ev *ev, int fd, unsigned events, void *ctx)
{
    struct fdctx *c = ctx;
    c->calls++;
    c->last = events;
    if (events & PH_EV_READ) {
        char byte;
        (void)!read(fd, &byte, 1); /* consume, so level-triggering stops */
    }
    if (c->del_fd >= 0) {
        ph_ev_del_fd(ev, c->del_fd);
        if (c->replace_fd) {
            close(c->del_fd);
            /* pipe() hands out the lowest free numbers: the one just closed. */
            assert_int_equal(pipe(c->newpipe), 0);
            assert_true(c->newpipe[0] == c->del_fd || c->newpipe[1] == c->del_fd);
            int rfd = c->newpipe[0] == c->del_fd ? c->newpipe[0] : c->newpipe[1];
            assert_int_equal(ph_ev_add_fd(ev, rfd, PH_EV_READ, fd_cb, ctx), PH_OK);
        }
        c->del_fd = -1;
    }
    if (c->stop)
        ph_ev_stop(ev);
}

static void test_fd_read_write_interest(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fdctx r = { .del_fd = -1 }, w = { .del_fd = -1 };
    assert_int_equal(ph_ev_add_fd(ev, p[0], PH_EV_READ, fd_cb, &r), PH_OK);
    assert_int_equal(ph_ev_add_fd(ev, p[1], 0, fd_cb, &w), PH_OK);
    assert_int_equal(ph_ev_add_fd(ev, p[1], 0, fd_cb, &w), PH_ERR_ARG);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(r.calls, 0);
    assert_int_equal(w.calls, 0);
    assert_int_equal(ph_ev_set_fd(ev, p[1], PH_EV_WRITE), PH_OK);
    assert_int_equal(ph_ev_get_fd(ev, p[1]), PH_EV_WRITE);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(w.calls, 1);
    assert_int_equal(w.last, PH_EV_WRITE);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ph_ev_set_fd(ev, p[1], 0), PH_OK);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.last, PH_EV_READ);
    assert_int_equal(w.calls, 1);
    assert_int_equal(ph_ev_set_fd(ev, 999, PH_EV_READ), PH_ERR_ARG);
    ph_ev_del_fd(ev, p[0]);
    ph_ev_del_fd(ev, p[1]);
    ph_ev_del_fd(ev, p[1]); /* unknown: ignored */
    close(p[0]);
    close(p[1]);
    ph_ev_destroy(ev);
}

/* Both read ends are ready in the same epoll batch; whichever callback runs
 * first deletes the other fd, closes it and registers a new (idle) pipe
 * under the same number: the stale event must not be delivered to either. */
static void test_fd_delete_during_dispatch(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct fdctx ca = { .del_fd = b[0], .replace_fd = 1 };
    struct fdctx cb = { .del_fd = a[0], .replace_fd = 1 };
    assert_int_equal(ph_ev_add_fd(ev, a[0], PH_EV_READ, fd_cb, &ca), PH_OK);
    assert_int_equal(ph_ev_add_fd(ev, b[0], PH_EV_READ, fd_cb, &cb), PH_OK);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(ca.calls + cb.calls, 1);
    struct fdctx *won = ca.calls ? &ca : &cb;
    int survivor = ca.calls ? a[0] : b[0];
    /* The replacement pipe is idle: nothing more fires. */
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(ca.calls + cb.calls, 1);
    int rfd = won->newpipe[0];
    ph_ev_del_fd(ev, survivor);
    ph_ev_del_fd(ev, rfd);
    close(won->newpipe[0]);
    close(won->newpipe[1]);
    close(a[1]);
    close(b[1]);
    close(survivor);
    ph_ev_destroy(ev);
}

/* A hang-up on an fd with no interest is still delivered (as readable)
 * instead of making epoll_wait return forever. */
static void test_hup_without_interest(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fdctx r = { .del_fd = -1 };
    assert_int_equal(ph_ev_add_fd(ev, p[0], 0, fd_cb, &r), PH_OK);
    close(p[1]);
    assert_int_equal(ph_ev_run_once(ev, 0), PH_OK);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.last, PH_EV_READ);
    ph_ev_del_fd(ev, p[0]);
    close(p[0]);
    ph_ev_destroy(ev);
}

static void stop_cb(ph_ev *ev, uint64_t id, void *ctx)
{
    (void)id;
    (*(int *)ctx)++;
    ph_ev_stop(ev);
}

static void test_run_until_stop(void **state)
{
    (void)state;
    ph_ev *ev = mk();
    int n = 0;
    assert_int_equal(ph_ev_timer_add(ev, 2000000, stop_cb, &n, NULL), PH_OK);
    uint64_t t0 = ph_ev_now(ev);
    assert_int_equal(ph_ev_run(ev), PH_OK);
    assert_int_equal(n, 1);
    assert_true(ph_ev_stopped(ev));
    /* Timers never fire early. */
    assert_true(ph_ev_now(ev) - t0 >= 2000000);
    ph_ev_destroy(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order_and_cancel),
        cmocka_unit_test(test_timer_heap_many),
        cmocka_unit_test(test_timer_rearm_next_iteration),
        cmocka_unit_test(test_fd_read_write_interest),
        cmocka_unit_test(test_fd_delete_during_dispatch),
        cmocka_unit_test(test_hup_without_interest),
        cmocka_unit_test(test_run_until_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
