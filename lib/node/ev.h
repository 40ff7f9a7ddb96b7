/* A small epoll event loop: file-descriptor readiness and monotonic timers.
 *
 * One ph_ev per thread; nothing global. Callbacks run on the loop's thread
 * from ph_ev_run / ph_ev_run_once and may freely add, change or delete fds
 * and timers, including their own, and call ph_ev_stop.
 *
 * Fds: level-triggered. Interest is PH_EV_READ | PH_EV_WRITE; a registered
 * fd may have mask 0 (kept registered, no callbacks). Once an fd is deleted
 * no further callback for it is delivered, even for events already fetched
 * in the same iteration, and even when the same fd number is registered
 * again meanwhile (each registration carries a generation).
 *
 * Timers: one-shot, relative to the loop's cached monotonic time
 * (CLOCK_MONOTONIC, refreshed once per iteration and by ph_ev_update_time).
 * A timer id is never 0 and stays unique for the life of the loop, so
 * cancelling an id that already fired is harmless. Timers due at the same
 * time fire in the order they were added.
 *
 * Clocks: ph_ev_create reads CLOCK_MONOTONIC. ph_ev_create_virtual makes a
 * loop whose clock is virtual: it never waits and takes no fds; an
 * iteration fires the timers that are due and, when none is, first moves
 * the clock to the earliest timer. Everything driven by such a loop (a
 * node over in-memory connections, its timers, its strategy's expiry) runs
 * deterministically and as fast as the CPU allows. ph_ev_run_once returns
 * PH_ERR_STATE when a virtual loop has nothing left to do (no timer): time
 * cannot move, so nothing ever will happen.
 *
 * Memory tags (memtag.h): with ph_ev_set_memtag, every callback runs with
 * a clean tag whose `uncounted` flag is the one in force when its fd or
 * timer was registered, so work started on behalf of uncounted code (the
 * replay's model of remote peers) stays uncounted across callbacks.
 *
 * Ownership: the loop never owns or closes fds; ctx pointers are borrowed.
 * ph_ev_destroy frees the loop's own memory only (pending timers are
 * dropped without being called).
 *
 * Errors: PH_ERR_NOMEM, PH_ERR_IO (epoll_ctl/epoll_wait failed; errno
 * kept), PH_ERR_ARG (negative fd, unknown fd for set/del). */
#ifndef PH_EV_H
#define PH_EV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

enum { PH_EV_READ = 1u, PH_EV_WRITE = 2u };

typedef struct ph_ev ph_ev;

/* `events` is the subset of the interest mask that is ready. Errors and
 * hang-ups are reported as PH_EV_READ (and PH_EV_WRITE when write interest
 * is set) - as PH_EV_READ even when the mask is 0 - so the owner finds out
 * by reading or writing. */
typedef void (*ph_ev_fd_cb)(ph_ev *ev, int fd, unsigned events, void *ctx);
typedef void (*ph_ev_timer_cb)(ph_ev *ev, uint64_t timer_id, void *ctx);

struct ph_memtag;

PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_create(ph_ev **out);
/* A loop on a virtual clock starting at start_ns (see above). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_create_virtual(ph_ev **out, uint64_t start_ns);
void ph_ev_destroy(ph_ev *ev);
PH_NONNULL(1)
bool ph_ev_is_virtual(const ph_ev *ev);
/* The tag callbacks run under (NULL: none). Borrowed. */
PH_NONNULL(1)
void ph_ev_set_memtag(ph_ev *ev, struct ph_memtag *tag);
PH_NONNULL(1)
struct ph_memtag *ph_ev_memtag(const ph_ev *ev);

/* Register `fd` with an interest mask; PH_ERR_ARG if already registered
 * or if the loop is virtual. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_add_fd(ph_ev *ev, int fd, unsigned mask, ph_ev_fd_cb cb, void *ctx);
/* Change the interest mask (no syscall when unchanged). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_set_fd(ph_ev *ev, int fd, unsigned mask);
PH_NONNULL(1)
unsigned ph_ev_get_fd(const ph_ev *ev, int fd);
/* Unregister (before closing the fd). Unknown fds are ignored. */
PH_NONNULL(1)
void ph_ev_del_fd(ph_ev *ev, int fd);

/* Loop time in monotonic nanoseconds (cached; see above). */
PH_NONNULL(1)
uint64_t ph_ev_now(const ph_ev *ev);
PH_NONNULL(1)
void ph_ev_update_time(ph_ev *ev);

/* Fire `cb` once, `delay_ns` after ph_ev_now(). *id (may be NULL) receives
 * the timer's id. */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_timer_add(ph_ev *ev, uint64_t delay_ns, ph_ev_timer_cb cb, void *ctx,
                       uint64_t *id);
/* True if the timer was pending and is now cancelled. */
PH_NONNULL(1)
bool ph_ev_timer_cancel(ph_ev *ev, uint64_t id);
PH_NONNULL(1)
size_t ph_ev_timer_count(const ph_ev *ev);

/* One iteration: wait at most `max_wait_ms` (-1 = until the next timer or
 * fd event; 0 = poll), dispatch ready fds, then due timers. A ph_ev_stop
 * from a callback ends the iteration early; each iteration starts afresh
 * (a stop before the call is forgotten). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_run_once(ph_ev *ev, int max_wait_ms);
/* Iterate until a callback calls ph_ev_stop (at least one iteration).
 * Returns PH_OK after a stop, or the error of a failed epoll_wait (EINTR is
 * retried). */
PH_MUST_USE
PH_NONNULL(1)
ph_err ph_ev_run(ph_ev *ev);
PH_NONNULL(1)
void ph_ev_stop(ph_ev *ev);
PH_NONNULL(1)
bool ph_ev_stopped(const ph_ev *ev);

#endif
