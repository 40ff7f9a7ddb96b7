#include "sinkreader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "noise.h"

enum phase { PH_READ_ACT1, PH_READ_ACT3, PH_TRANSPORT, PH_DONE };

struct conn {
    ph_sinkreader_peer *peer;
    enum phase phase;
    ph_noise_hs *hs;
    ph_noise *tr;
    uint8_t act[PH_NOISE_ACT3_LEN];
    size_t act_have;
    size_t next_expected;
    double tokens;
    bool in_epoll;
};

struct reader {
    const ph_sinkreader_config *cfg;
    ph_sinkreader_result *res;
    struct conn *conns;
    int ep;
    size_t remaining; /* connections not yet PH_DONE (stalled: done after handshake) */
    uint8_t *buf;
    size_t buf_cap;
};

#define READ_CHUNK 65536
#define TICK_MS 2

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_error(struct reader *r, size_t idx, const char *what, ph_err err)
{
    if (!r->res->first_error[0])
        snprintf(r->res->first_error, sizeof r->res->first_error, "reader %zu: %s: %s", idx, what,
                 err ? ph_strerror(err) : strerror(errno));
}

static void epoll_set(struct reader *r, size_t idx, bool want)
{
    struct conn *c = &r->conns[idx];
    if (want == c->in_epoll)
        return;
    if (want) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = idx};
        epoll_ctl(r->ep, EPOLL_CTL_ADD, c->peer->fd, &ev);
    } else {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->peer->fd, NULL);
    }
    c->in_epoll = want;
}

static void finish(struct reader *r, size_t idx, bool failed)
{
    struct conn *c = &r->conns[idx];
    if (c->phase == PH_DONE)
        return;
    if (failed)
        r->res->failed++;
    if (!c->peer->stalled && c->next_expected < c->peer->expect_n && r->cfg->verify)
        r->res->missing += c->peer->expect_n - c->next_expected;
    c->phase = PH_DONE;
    epoll_set(r, idx, false);
    r->remaining--;
}

static void check_message(struct reader *r, struct conn *c, const uint8_t *msg, size_t len)
{
    r->res->frames++;
    if (!r->cfg->verify)
        return;
    size_t k = c->next_expected++;
    if (k < c->peer->expect_n && c->peer->expect_len[k] == len &&
        memcmp(c->peer->expect[k], msg, len) == 0)
        r->res->verified++;
    else
        r->res->mismatches++;
}

/* Handshake acts arrive in pieces like everything else on a stream. */
static ph_err handshake_step(struct reader *r, size_t idx, const uint8_t *in, size_t len,
                             size_t *used)
{
    struct conn *c = &r->conns[idx];
    size_t want = c->phase == PH_READ_ACT1 ? PH_NOISE_ACT1_LEN : PH_NOISE_ACT3_LEN;
    size_t take = want - c->act_have < len ? want - c->act_have : len;
    memcpy(c->act + c->act_have, in, take);
    c->act_have += take;
    *used = take;
    if (c->act_have < want)
        return PH_OK;
    c->act_have = 0;
    ph_err err;
    if (c->phase == PH_READ_ACT1) {
        uint8_t act2[PH_NOISE_ACT2_LEN];
        if ((err = ph_noise_act1_read(c->hs, c->act, want)) ||
            (err = ph_noise_act2_write(c->hs, act2)))
            return err;
        /* 50 bytes always fit an empty socket buffer: one write suffices. */
        if (write(c->peer->fd, act2, sizeof act2) != (ssize_t)sizeof act2)
            return PH_ERR_IO;
        c->phase = PH_READ_ACT3;
        return PH_OK;
    }
    if ((err = ph_noise_act3_read(c->hs, c->act, want)) || (err = ph_noise_hs_finish(c->hs, &c->tr)))
        return err;
    ph_noise_hs_destroy(c->hs);
    c->hs = NULL;
    c->phase = PH_TRANSPORT;
    r->res->handshakes++;
    if (c->peer->stalled) {
        /* Counted as done for the loop: it will never be read. */
        epoll_set(r, idx, false);
        r->remaining--;
    }
    return PH_OK;
}

static ph_err consume(struct reader *r, size_t idx, const uint8_t *in, size_t len)
{
    struct conn *c = &r->conns[idx];
    while (len > 0 && c->phase != PH_DONE) {
        size_t used = 0;
        ph_err err;
        if (c->phase != PH_TRANSPORT) {
            if ((err = handshake_step(r, idx, in, len, &used)))
                return err;
            if (c->phase == PH_TRANSPORT && c->peer->stalled)
                return PH_OK; /* anything already read is dropped, as a stalled reader would */
        } else {
            const uint8_t *msg;
            size_t msg_len, need;
            if ((err = ph_noise_decrypt_feed(c->tr, in, len, &used, &msg, &msg_len, &need)))
                return err;
            if (msg)
                check_message(r, c, msg, msg_len);
        }
        in += used;
        len -= used;
    }
    return PH_OK;
}

static void on_readable(struct reader *r, size_t idx)
{
    struct conn *c = &r->conns[idx];
    size_t cap = r->buf_cap;
    bool limited = r->cfg->rate && c->phase == PH_TRANSPORT;
    if (limited) {
        if (c->tokens < 1) {
            epoll_set(r, idx, false);
            return;
        }
        if ((double)cap > c->tokens)
            cap = (size_t)c->tokens;
    }
    ssize_t n = read(c->peer->fd, r->buf, cap);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        note_error(r, idx, "read", PH_OK);
        finish(r, idx, true);
        return;
    }
    if (n == 0) {
        bool clean = c->phase == PH_TRANSPORT;
        if (!clean)
            note_error(r, idx, "connection closed during the handshake", PH_ERR_EOF);
        finish(r, idx, !clean);
        return;
    }
    if (limited)
        c->tokens -= (double)n;
    r->res->bytes += (uint64_t)n;
    ph_err err = consume(r, idx, r->buf, (size_t)n);
    if (err) {
        note_error(r, idx, c->phase == PH_TRANSPORT ? "decrypt" : "handshake", err);
        finish(r, idx, true);
    }
}

/* Token buckets refill on a short tick; a bucket holds at most 1/20 s of
 * rate (but at least one read) so that a slow reader stays slow. */
static void refill(struct reader *r, double dt)
{
    double burst = (double)r->cfg->rate / 20;
    if (burst < 4096)
        burst = 4096;
    for (size_t i = 0; i < r->cfg->npeers; i++) {
        struct conn *c = &r->conns[i];
        if (c->phase != PH_TRANSPORT || c->peer->stalled)
            continue;
        c->tokens += dt * (double)r->cfg->rate;
        if (c->tokens > burst)
            c->tokens = burst;
        if (c->tokens >= 1)
            epoll_set(r, i, true);
    }
}

static ph_err setup(struct reader *r)
{
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep < 0)
        return PH_ERR_IO;
    r->buf_cap = READ_CHUNK;
    r->buf = malloc(r->buf_cap);
    r->conns = calloc(r->cfg->npeers ? r->cfg->npeers : 1, sizeof *r->conns);
    if (!r->buf || !r->conns)
        return PH_ERR_NOMEM;
    for (size_t i = 0; i < r->cfg->npeers; i++) {
        struct conn *c = &r->conns[i];
        c->peer = &r->cfg->peers[i];
        fcntl(c->peer->fd, F_SETFL, fcntl(c->peer->fd, F_GETFL) | O_NONBLOCK);
        ph_err err = ph_noise_hs_create(&c->hs, r->cfg->local_priv, NULL, NULL);
        if (err)
            return err;
        epoll_set(r, i, true);
    }
    r->remaining = r->cfg->npeers;
    return PH_OK;
}

static void teardown(struct reader *r)
{
    for (size_t i = 0; r->conns && i < r->cfg->npeers; i++) {
        struct conn *c = &r->conns[i];
        if (!c->peer)
            continue;
        if (c->phase != PH_DONE && !c->peer->stalled && r->cfg->verify &&
            c->next_expected < c->peer->expect_n)
            r->res->missing += c->peer->expect_n - c->next_expected;
        ph_noise_hs_destroy(c->hs);
        ph_noise_destroy(c->tr);
    }
    free(r->conns);
    free(r->buf);
    if (r->ep >= 0)
        close(r->ep);
}

ph_err ph_sinkreader_run(const ph_sinkreader_config *cfg, ph_sinkreader_result *res)
{
    memset(res, 0, sizeof *res);
    struct reader r = {.cfg = cfg, .res = res, .ep = -1};
    ph_err err = setup(&r);
    unsigned idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : 60000;
    uint64_t last_progress = now_ns(), last_tick = last_progress;
    struct epoll_event evs[64];
    while (!err && r.remaining > 0) {
        int timeout = cfg->rate ? TICK_MS : 200;
        int n = epoll_wait(r.ep, evs, 64, timeout);
        if (n < 0 && errno != EINTR) {
            err = PH_ERR_IO;
            break;
        }
        uint64_t before = res->bytes + res->handshakes;
        for (int i = 0; i < n; i++)
            on_readable(&r, (size_t)evs[i].data.u64);
        uint64_t t = now_ns();
        if (cfg->rate) {
            refill(&r, (double)(t - last_tick) / 1e9);
            last_tick = t;
        }
        if (res->bytes + res->handshakes != before || n > 0)
            last_progress = t;
        else if (t - last_progress > (uint64_t)idle_ms * 1000000u) {
            res->timed_out = true;
            if (!res->first_error[0])
                snprintf(res->first_error, sizeof res->first_error,
                         "reader: nothing happened for %u ms", idle_ms);
            break;
        }
    }
    teardown(&r);
    return err;
}
