#include "ev.h"
#include "memtag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define EV_BATCH 256
#define SLOT_BITS 24u
#define SLOT_MASK ((1u << SLOT_BITS) - 1u)

struct fd_slot {
    ph_ev_fd_cb cb;
    void *ctx;
    unsigned mask;
    uint32_t gen;       /* bumped on every add, so stale events are dropped */
    bool registered;
    bool uncounted;     /* the memory tag's flag when registered */
};

struct timer_slot {
    uint64_t id;        /* 0 = free */
    uint64_t due;
    uint64_t seq;
    ph_ev_timer_cb cb;
    void *ctx;
    size_t heap_pos;
    size_t next_free;   /* free list link (index + 1, 0 = end) */
    bool uncounted;     /* the memory tag's flag when added */
};

struct ph_ev {
    int epfd;
    bool stop;
    bool virtual_clock;
    ph_memtag *tag;
    uint64_t now;

    struct fd_slot *fds;
    size_t nfds;

    struct timer_slot *timers;
    size_t ntimers_cap;
    size_t free_head;   /* index + 1 */
    size_t *heap;       /* slot indices, min-heap on (due, seq) */
    size_t heap_len;
    uint64_t next_seq;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

ph_err ph_ev_create(ph_ev **out)
{
    ph_ev *ev = calloc(1, sizeof *ev);
    if (!ev)
        return PH_ERR_NOMEM;
    ev->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ev->epfd < 0) {
        free(ev);
        return PH_ERR_IO;
    }
    ev->next_seq = 1;
    ev->now = mono_ns();
    *out = ev;
    return PH_OK;
}

ph_err ph_ev_create_virtual(ph_ev **out, uint64_t start_ns)
{
    ph_err err = ph_ev_create(out);
    if (err)
        return err;
    (*out)->virtual_clock = true;
    (*out)->now = start_ns;
    return PH_OK;
}

bool ph_ev_is_virtual(const ph_ev *ev)
{
    return ev->virtual_clock;
}

void ph_ev_set_memtag(ph_ev *ev, ph_memtag *tag)
{
    ev->tag = tag;
}

ph_memtag *ph_ev_memtag(const ph_ev *ev)
{
    return ev->tag;
}

static bool tag_uncounted(const ph_ev *ev)
{
    return ev->tag && ev->tag->uncounted;
}

/* Callbacks start from a clean tag, with the counted flag of whoever
 * registered them: a remote peer's timers stay the remote's work. */
static ph_memtag tag_enter(ph_ev *ev, bool uncounted)
{
    ph_memtag saved = {0};
    if (!ev->tag)
        return saved;
    saved = *ev->tag;
    ev->tag->row = PH_MEMROW_OTHER;
    ev->tag->type = PH_MEMTAG_NO_TYPE;
    ev->tag->uncounted = uncounted;
    return saved;
}

static void tag_leave(ph_ev *ev, ph_memtag saved)
{
    if (ev->tag)
        *ev->tag = saved;
}

void ph_ev_destroy(ph_ev *ev)
{
    if (!ev)
        return;
    close(ev->epfd);
    free(ev->fds);
    free(ev->timers);
    free(ev->heap);
    free(ev);
}

/* ---- fds ---- */

static uint32_t to_epoll(unsigned mask)
{
    uint32_t e = 0;
    if (mask & PH_EV_READ)
        e |= EPOLLIN;
    if (mask & PH_EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

static ph_err grow_fds(ph_ev *ev, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= ev->nfds)
        return PH_OK;
    size_t n = ev->nfds ? ev->nfds : 64;
    while (n < need)
        n *= 2;
    struct fd_slot *p = realloc(ev->fds, n * sizeof *p);
    if (!p)
        return PH_ERR_NOMEM;
    memset(p + ev->nfds, 0, (n - ev->nfds) * sizeof *p);
    ev->fds = p;
    ev->nfds = n;
    return PH_OK;
}

static struct fd_slot *slot_of(const ph_ev *ev, int fd)
{
    if (fd < 0 || (size_t)fd >= ev->nfds || !ev->fds[fd].registered)
        return NULL;
    return &ev->fds[fd];
}

ph_err ph_ev_add_fd(ph_ev *ev, int fd, unsigned mask, ph_ev_fd_cb cb, void *ctx)
{
    if (fd < 0 || !cb || ev->virtual_clock)
        return PH_ERR_ARG;
    if (slot_of(ev, fd))
        return PH_ERR_ARG;
    ph_err err = grow_fds(ev, fd);
    if (err)
        return err;
    struct fd_slot *s = &ev->fds[fd];
    uint32_t gen = s->gen + 1;
    struct epoll_event e = { .events = to_epoll(mask),
                             .data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd };
    if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
        return PH_ERR_IO;
    *s = (struct fd_slot){ .cb = cb, .ctx = ctx, .mask = mask, .gen = gen, .registered = true,
                           .uncounted = tag_uncounted(ev) };
    return PH_OK;
}

ph_err ph_ev_set_fd(ph_ev *ev, int fd, unsigned mask)
{
    struct fd_slot *s = slot_of(ev, fd);
    if (!s)
        return PH_ERR_ARG;
    if (s->mask == mask)
        return PH_OK;
    struct epoll_event e = { .events = to_epoll(mask),
                             .data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)fd };
    if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, fd, &e) < 0)
        return PH_ERR_IO;
    s->mask = mask;
    return PH_OK;
}

unsigned ph_ev_get_fd(const ph_ev *ev, int fd)
{
    const struct fd_slot *s = slot_of(ev, fd);
    return s ? s->mask : 0;
}

void ph_ev_del_fd(ph_ev *ev, int fd)
{
    struct fd_slot *s = slot_of(ev, fd);
    if (!s)
        return;
    epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->registered = false;
    s->cb = NULL;
    s->ctx = NULL;
    s->mask = 0;
}

/* ---- time ---- */

uint64_t ph_ev_now(const ph_ev *ev)
{
    return ev->now;
}

void ph_ev_update_time(ph_ev *ev)
{
    if (!ev->virtual_clock)
        ev->now = mono_ns();
}

/* ---- timers: a binary min-heap over slot indices ---- */

static bool earlier(const ph_ev *ev, size_t a, size_t b)
{
    const struct timer_slot *x = &ev->timers[a], *y = &ev->timers[b];
    return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void heap_place(ph_ev *ev, size_t pos, size_t slot)
{
    ev->heap[pos] = slot;
    ev->timers[slot].heap_pos = pos;
}

static void sift_up(ph_ev *ev, size_t pos)
{
    size_t slot = ev->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!earlier(ev, slot, ev->heap[parent]))
            break;
        heap_place(ev, pos, ev->heap[parent]);
        pos = parent;
    }
    heap_place(ev, pos, slot);
}

static void sift_down(ph_ev *ev, size_t pos)
{
    size_t slot = ev->heap[pos];
    for (;;) {
        size_t l = 2 * pos + 1, r = l + 1, best = pos;
        size_t best_slot = slot;
        if (l < ev->heap_len && earlier(ev, ev->heap[l], best_slot)) {
            best = l;
            best_slot = ev->heap[l];
        }
        if (r < ev->heap_len && earlier(ev, ev->heap[r], best_slot)) {
            best = r;
            best_slot = ev->heap[r];
        }
        if (best == pos)
            break;
        heap_place(ev, pos, best_slot);
        pos = best;
    }
    heap_place(ev, pos, slot);
}

static void heap_remove(ph_ev *ev, size_t pos)
{
    size_t last = ev->heap[--ev->heap_len];
    if (pos == ev->heap_len)
        return;
    heap_place(ev, pos, last);
    sift_down(ev, pos);
    sift_up(ev, ev->timers[last].heap_pos);
}

static void free_slot(ph_ev *ev, size_t slot)
{
    ev->timers[slot].id = 0;
    ev->timers[slot].cb = NULL;
    ev->timers[slot].ctx = NULL;
    ev->timers[slot].next_free = ev->free_head;
    ev->free_head = slot + 1;
}

static ph_err grow_timers(ph_ev *ev)
{
    size_t n = ev->ntimers_cap ? ev->ntimers_cap * 2 : 64;
    if (n > (size_t)SLOT_MASK + 1)
        return PH_ERR_LIMIT;
    struct timer_slot *t = realloc(ev->timers, n * sizeof *t);
    if (!t)
        return PH_ERR_NOMEM;
    ev->timers = t;
    size_t *h = realloc(ev->heap, n * sizeof *h);
    if (!h)
        return PH_ERR_NOMEM;
    ev->heap = h;
    for (size_t i = n; i-- > ev->ntimers_cap;) {
        t[i] = (struct timer_slot){ .next_free = ev->free_head };
        ev->free_head = i + 1;
    }
    ev->ntimers_cap = n;
    return PH_OK;
}

ph_err ph_ev_timer_add(ph_ev *ev, uint64_t delay_ns, ph_ev_timer_cb cb, void *ctx,
                       uint64_t *id)
{
    if (!cb)
        return PH_ERR_ARG;
    if (!ev->free_head) {
        ph_err err = grow_timers(ev);
        if (err)
            return err;
    }
    size_t slot = ev->free_head - 1;
    struct timer_slot *t = &ev->timers[slot];
    ev->free_head = t->next_free;
    uint64_t seq = ev->next_seq++;
    t->id = (seq << SLOT_BITS) | slot;
    t->seq = seq;
    t->due = delay_ns > UINT64_MAX - ev->now ? UINT64_MAX : ev->now + delay_ns;
    t->cb = cb;
    t->ctx = ctx;
    t->uncounted = tag_uncounted(ev);
    heap_place(ev, ev->heap_len++, slot);
    sift_up(ev, t->heap_pos);
    if (id)
        *id = t->id;
    return PH_OK;
}

bool ph_ev_timer_cancel(ph_ev *ev, uint64_t id)
{
    if (!id)
        return false;
    size_t slot = (size_t)(id & SLOT_MASK);
    if (slot >= ev->ntimers_cap || ev->timers[slot].id != id)
        return false;
    heap_remove(ev, ev->timers[slot].heap_pos);
    free_slot(ev, slot);
    return true;
}

size_t ph_ev_timer_count(const ph_ev *ev)
{
    return ev->heap_len;
}

/* Timers added by callbacks during this pass wait for the next iteration,
 * so that a zero-delay timer re-arming itself cannot starve the fds. */
static void fire_timers(ph_ev *ev)
{
    uint64_t limit = ev->next_seq;
    while (ev->heap_len && !ev->stop) {
        size_t slot = ev->heap[0];
        struct timer_slot *t = &ev->timers[slot];
        if (t->due > ev->now || t->seq >= limit)
            break;
        ph_ev_timer_cb cb = t->cb;
        void *ctx = t->ctx;
        uint64_t id = t->id;
        bool uncounted = t->uncounted;
        heap_remove(ev, 0);
        free_slot(ev, slot);
        ph_memtag saved = tag_enter(ev, uncounted);
        cb(ev, id, ctx);
        tag_leave(ev, saved);
    }
}

static int wait_ms(const ph_ev *ev, int max_wait_ms)
{
    if (!ev->heap_len)
        return max_wait_ms;
    uint64_t due = ev->timers[ev->heap[0]].due;
    if (due <= ev->now)
        return 0;
    uint64_t ms = (due - ev->now + 999999u) / 1000000u; /* round up: never wake early */
    if (ms > INT32_MAX)
        ms = INT32_MAX;
    if (max_wait_ms >= 0 && (uint64_t)max_wait_ms < ms)
        return max_wait_ms;
    return (int)ms;
}

static void dispatch(ph_ev *ev, const struct epoll_event *e)
{
    int fd = (int)(uint32_t)e->data.u64;
    uint32_t gen = (uint32_t)(e->data.u64 >> 32);
    struct fd_slot *s = slot_of(ev, fd);
    if (!s || s->gen != gen)
        return;
    unsigned ready = 0;
    if (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        ready |= PH_EV_READ;
    if (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        ready |= PH_EV_WRITE;
    ready &= s->mask;
    /* epoll reports ERR/HUP even without interest and keeps reporting them
     * (level-triggered): hand them over as readable so the owner reads the
     * error or EOF instead of the loop spinning. */
    if (!ready && (e->events & (EPOLLERR | EPOLLHUP)))
        ready = PH_EV_READ;
    if (ready) {
        ph_memtag saved = tag_enter(ev, s->uncounted);
        s->cb(ev, fd, ready, s->ctx);
        tag_leave(ev, saved);
    }
}

/* Virtual time: nothing waits. Due timers fire; when none is due, the
 * clock jumps to the earliest one. */
static ph_err run_once_virtual(ph_ev *ev)
{
    if (!ev->heap_len)
        return PH_ERR_STATE;
    uint64_t due = ev->timers[ev->heap[0]].due;
    if (due > ev->now)
        ev->now = due;
    fire_timers(ev);
    return PH_OK;
}

ph_err ph_ev_run_once(ph_ev *ev, int max_wait_ms)
{
    struct epoll_event events[EV_BATCH];
    ev->stop = false;
    if (ev->virtual_clock)
        return run_once_virtual(ev);
    ev->now = mono_ns();
    int n = epoll_wait(ev->epfd, events, EV_BATCH, wait_ms(ev, max_wait_ms));
    if (n < 0 && errno != EINTR)
        return PH_ERR_IO;
    ev->now = mono_ns();
    for (int i = 0; i < n && !ev->stop; i++)
        dispatch(ev, &events[i]);
    fire_timers(ev);
    return PH_OK;
}

ph_err ph_ev_run(ph_ev *ev)
{
    do {
        ph_err err = ph_ev_run_once(ev, -1);
        if (err)
            return err;
    } while (!ev->stop);
    return PH_OK;
}

void ph_ev_stop(ph_ev *ev)
{
    ev->stop = true;
}

bool ph_ev_stopped(const ph_ev *ev)
{
    return ev->stop;
}
