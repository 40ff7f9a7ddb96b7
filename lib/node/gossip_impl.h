/* Internal contract between the gossip store (gossip.c), its preload and
 * audit (gossip_preload.c), its query answers (gossip_query.c) and its
 * filter windows and cursors (gossip_cursor.c). Not part
 * of the public API: callers use gossip.h, gossip_preload.h, gossip_query.h.
 *
 * The store owns every structure below; the other modules read them
 * and change them only through the helpers declared here, so that the
 * store's invariants (bytes_held, the log order, the indexes) have one
 * keeper. Single-threaded like the rest of the store. */
#ifndef PH_GOSSIP_IMPL_H
#define PH_GOSSIP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sodium.h>
#include "error.h"
#include "gossip.h"
#include "gossip_sig.h"

enum {
    POINT_LEN = 33,
    HASH_LEN = 32,
    MSG_PRELOADED = 1,
    MSG_LOCAL = 2,
};

struct ph_gossip_msg {
    uint32_t refs;        /* all references, the store's included */
    uint32_t store_refs;  /* references held by the store (for bytes_held) */
    uint16_t type;
    uint16_t flags;       /* MSG_PRELOADED, MSG_LOCAL */
    uint32_t len;
    uint32_t timestamp;
    uint32_t origin;
    uint64_t scid;
    uint64_t seq;         /* position in the log; 0 = not in the log */
    uint8_t data[];
};

struct slot {
    uint64_t h;
    void *item;
};

struct htab {
    struct slot *slots;
    size_t cap, n; /* cap is a power of two */
};

typedef bool (*htab_eq)(const void *item, const void *key);

struct node {
    uint8_t id[POINT_LEN];
    ph_gossip_msg *ann;     /* current node_announcement or NULL */
    uint32_t n_chans;       /* channel_announcements naming this node */
    uint32_t n_logged;      /* of which in the log */
    uint64_t query_mark;    /* last query that sent its announcement */
    int64_t sim_ts;         /* preload simulation: last accepted timestamp, -1 none */
};

struct chan {
    uint64_t scid;
    ph_gossip_msg *ann;
    ph_gossip_msg *upd[2];
    struct node *node[2];
    uint32_t *pre_ts;       /* timestamps of preloaded updates of this scid */
    size_t n_pre_ts, cap_pre_ts;
    bool logged;
    int64_t sim_ts[2];
};

struct pend {
    ph_gossip_msg *m;       /* NULL = hole (released) */
    uint64_t scid;
    uint8_t dir;
    uint8_t id[POINT_LEN];
};

/* FIFO with holes: an entry survives `cap` later insertions. */
struct ring {
    struct pend *e;
    size_t cap, head, count, live;
};

struct log_ent {
    uint64_t seq;
    ph_gossip_msg *m; /* NULL once replaced */
};

struct ph_gossip_store {
    ph_gossip_config cfg;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    struct htab chan_tab, node_tab;
    struct chan **chans;
    size_t n_chans, cap_chans;
    struct node **nodes;
    size_t n_nodes, cap_nodes;
    struct ring pend_upd, pend_node;
    struct log_ent *log;
    size_t log_n, log_cap, log_dead;
    uint64_t log_next_seq, log_gen;
    uint64_t query_serial;
    ph_gossip_stats st;
};
/* A message with one reference and zeroed metadata. With bytes NULL the
 * data is left unwritten: the caller fills it and sets type. NULL: no memory. */
ph_gossip_msg *ph_gossip__msg_new(const uint8_t *bytes, size_t len);
/* Copy of `bytes` with type, timestamp and scid taken from `f`. */
ph_gossip_msg *ph_gossip__msg_from_fields(const uint8_t *bytes, size_t len,
                                          const ph_gossip_fields *f);

/* Keys are hashed with the store's secret key so that a peer cannot aim
 * collisions at the tables. Items are borrowed, never freed by the table;
 * free t->slots when done. */
void *ph_gossip__htab_get(const struct htab *t, uint64_t h, const void *key, htab_eq eq);
PH_MUST_USE
ph_err ph_gossip__htab_put(struct htab *t, uint64_t h, void *item);
uint64_t ph_gossip__hash_bytes(const ph_gossip_store *s, const uint8_t *p, size_t n);
struct chan *ph_gossip__find_chan(const ph_gossip_store *s, uint64_t scid);
struct node *ph_gossip__find_node(const ph_gossip_store *s, const uint8_t *id);

/* Grows *arr (of `elem`-byte items) to hold at least `need`; PH_ERR_NOMEM
 * leaves it as it was. */
PH_MUST_USE
ph_err ph_gossip__grow(void **arr, size_t *cap, size_t need, size_t elem);

/* A new store reference to m (counted in bytes_held); returns m. */
ph_gossip_msg *ph_gossip__hold(ph_gossip_store *s, ph_gossip_msg *m);
/* Drops the store's reference to a replaced current message (NULL is fine);
 * a strictly accepted one also leaves the log. */
void ph_gossip__retire(ph_gossip_store *s, ph_gossip_msg *old);
/* Appends m to the log with a store reference. PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_gossip__log_append(ph_gossip_store *s, ph_gossip_msg *m);
/* Index of the first log entry with seq >= `seq` (gossip_cursor.c walks the
 * log from there). */
size_t ph_gossip__log_lower_bound(const ph_gossip_store *s, uint64_t seq);
/* Registers the channel of announcement m (the store holds m) and its two
 * nodes. PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_gossip__new_chan(ph_gossip_store *s, ph_gossip_msg *m, const ph_gossip_fields *f,
                           struct chan **out);
bool ph_gossip__our_chain(const ph_gossip_store *s, const uint8_t *chain);

#endif
