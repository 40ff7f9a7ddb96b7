#include "replayin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnmsgs.h"
#include "wire.h"

/* Message bytes live in large chunks so that a 28,809-message capture costs
 * a handful of allocations, not one per message: the replay's parent
 * process holds this for the whole run and forks from it. */
#define CHUNK_SIZE (1u << 20)

struct chunk {
    struct chunk *next;
    size_t used, cap;
    uint8_t data[];
};

struct ph_replay_input {
    ph_replay_msg *msgs;
    size_t n, cap;
    struct chunk *chunks;
    uint32_t sessions;
    uint64_t bytes;
    ph_replay_session *info;  /* by session, `known` says which are set */
    bool *known;
    size_t ninfo;
};

ph_err ph_replay_input_create(ph_replay_input **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? PH_OK : PH_ERR_NOMEM;
}

void ph_replay_input_destroy(ph_replay_input *in)
{
    if (!in)
        return;
    for (struct chunk *c = in->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(in->msgs);
    free(in->info);
    free(in->known);
    free(in);
}

static uint8_t *store_bytes(ph_replay_input *in, const uint8_t *p, size_t len)
{
    struct chunk *c = in->chunks;
    if (!c || c->cap - c->used < len) {
        size_t cap = len > CHUNK_SIZE ? len : CHUNK_SIZE;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = in->chunks;
        in->chunks = c;
    }
    uint8_t *dst = c->data + c->used;
    memcpy(dst, p, len);
    c->used += len;
    return dst;
}

ph_err ph_replay_input_add(ph_replay_input *in, uint64_t ts_ns, uint32_t session, uint8_t dir,
                           const uint8_t *msg, size_t len)
{
    if (len < 2 || len > 65535 || dir > 1 || session == UINT32_MAX)
        return PH_ERR_ARG;
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 1024;
        ph_replay_msg *m = realloc(in->msgs, cap * sizeof *m);
        if (!m)
            return PH_ERR_NOMEM;
        in->msgs = m;
        in->cap = cap;
    }
    const uint8_t *copy = store_bytes(in, msg, len);
    if (!copy)
        return PH_ERR_NOMEM;
    in->msgs[in->n++] = (ph_replay_msg){
        .ts_ns = ts_ns,
        .session = session,
        .dir = dir,
        .type = ph_wire_type_of(msg),
        .len = (uint32_t)len,
        .bytes = copy,
    };
    if (session + 1 > in->sessions)
        in->sessions = session + 1;
    in->bytes += len;
    return PH_OK;
}

ph_err ph_replay_input_load_lnmsgs(ph_replay_input *in, const char *path, uint32_t session,
                                   uint64_t *err_offset)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return PH_ERR_IO;
    uint8_t *buf = malloc(PH_LNMSGS_MAX);
    if (!buf) {
        fclose(f);
        return PH_ERR_NOMEM;
    }
    ph_lnmsgs_reader r = {.f = f};
    ph_err err;
    uint64_t at; /* the record being read or added, for *err_offset */
    for (;;) {
        size_t len;
        at = r.offset;
        if ((err = ph_lnmsgs_read(&r, buf, &len)) || len == 0)
            break;
        if ((err = ph_replay_input_add(in, 0, session, 0, buf, len)))
            break;
    }
    if (err && err_offset)
        *err_offset = at;
    free(buf);
    fclose(f);
    return err;
}

ph_err ph_replay_input_set_session(ph_replay_input *in, uint32_t session,
                                   const ph_replay_session *info)
{
    if (session == UINT32_MAX || !info || info->node_dir > 1)
        return PH_ERR_ARG;
    if (session >= in->ninfo) {
        size_t n = in->ninfo ? in->ninfo : 16;
        while (n <= session)
            n *= 2;
        ph_replay_session *p = realloc(in->info, n * sizeof *p);
        if (!p)
            return PH_ERR_NOMEM;
        in->info = p;
        bool *k = realloc(in->known, n * sizeof *k);
        if (!k)
            return PH_ERR_NOMEM;
        memset(k + in->ninfo, 0, (n - in->ninfo) * sizeof *k);
        in->known = k;
        in->ninfo = n;
    }
    in->info[session] = *info;
    in->known[session] = true;
    return PH_OK;
}

const ph_replay_session *ph_replay_input_session(const ph_replay_input *in, uint32_t session)
{
    return session < in->ninfo && in->known[session] ? &in->info[session] : NULL;
}

size_t ph_replay_input_count(const ph_replay_input *in)
{
    return in->n;
}

const ph_replay_msg *ph_replay_input_at(const ph_replay_input *in, size_t i)
{
    return i < in->n ? &in->msgs[i] : NULL;
}

uint32_t ph_replay_input_sessions(const ph_replay_input *in)
{
    return in->sessions;
}

uint64_t ph_replay_input_bytes(const ph_replay_input *in)
{
    return in->bytes;
}

ph_err ph_replay_input_peer_plan(const ph_replay_input *in, size_t peer, uint8_t dir_mask,
                                 uint32_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!in->sessions)
        return PH_OK;
    uint32_t session = (uint32_t)(peer % in->sessions);
    size_t count = 0;
    for (size_t i = 0; i < in->n; i++)
        count += in->msgs[i].session == session && (dir_mask >> in->msgs[i].dir & 1);
    if (!count)
        return PH_OK;
    uint32_t *idx = malloc(count * sizeof *idx);
    if (!idx)
        return PH_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < in->n; i++)
        if (in->msgs[i].session == session && (dir_mask >> in->msgs[i].dir & 1))
            idx[k++] = (uint32_t)i;
    *out = idx;
    *n = count;
    return PH_OK;
}
