/* Lightning input: capture files (pcap/pcapng, decrypted with key logs) and
 * .lnmsgs files -> sessions -> messages in order. The one pipeline behind
 * `peerheap dump` and `peerheap replay`.
 *
 * Files are read one at a time (ph_lninput_read), each exactly once, from
 * the start: a regular file, standard input ("-"), a pipe or a FIFO read
 * the same. A name ending in ".lnmsgs" is a message file ([u16 BE
 * length][message]..., what dump --export and peer --dump-received write):
 * one session, one sender, no endpoints or times. Anything else is a
 * capture, read by lib/capture and decoded by lib/lnsession with a key log:
 * the one given to create, else the default beside the capture
 * (ph_lninput_default_keylog), else opts.keylog_fallback.
 *
 * Where the whole file must be seen before its first message (an .lnmsgs
 * file is checked whole first; opts.stats_first), its messages wait in an
 * unlinked temporary file (tmpfile(3)), not in memory and not by reading
 * the input twice.
 *
 * Sessions are numbered from 1 across every file read, in the order
 * lnsession finds them (an .lnmsgs file takes the next number): the numbers
 * dump prints. Per session the module keeps both endpoints, lnsession's
 * stats (messages and bytes per direction, completeness), and the messages
 * and bytes per direction that pass the type filter.
 *
 * Messages are handed out in file order, each file in capture order,
 * through a callback, and/or kept (opts.keep) for ph_lninput_replay_input,
 * which picks per session the side that is the node under study and builds
 * the replay input from that side's messages only.
 *
 * Nothing is printed. Everything that goes wrong, and notes worth telling,
 * become problems (ph_lninput_problem): a kind, a severity and the numbers
 * a caller needs to word it (file, offset, line, errno, lnsession's own
 * one-line text for session problems). The caller words them; the library
 * never names command-line options.
 *
 * Ownership: ph_lninput is opaque (create / destroy). Strings in opts are
 * copied. Message pointers are valid during the callback only; session,
 * file and problem pointers until the next ph_lninput_read or destroy.
 * Errors: PH_ERR_NOMEM; ph_lninput_read returns why a file was unusable. */
#ifndef PH_LNINPUT_H
#define PH_LNINPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "error.h"
#include "lnsession.h"
#include "replayin.h"

typedef struct ph_lninput ph_lninput;

/* One message, in order. */
struct ph_lninput_msg {
    size_t file;                       /* index of the file (order of reads) */
    uint64_t session;                  /* session number, from 1 */
    int dir;                           /* PH_LN_I2R / PH_LN_R2I; .lnmsgs: PH_LN_I2R */
    const struct ph_endpoint *src, *dst; /* NULL for .lnmsgs */
    bool timed;                        /* false for .lnmsgs: no capture time */
    uint64_t ts_ns;                    /* capture time, 0 when !timed */
    uint64_t offset;                   /* .lnmsgs: file offset of the record; else 0 */
    const uint8_t *msg;                /* 2-byte type + payload (may be shorter
                                          than 2 bytes when no type filter is set) */
    size_t len;
};

typedef void (*ph_lninput_msg_cb)(void *ctx, const struct ph_lninput_msg *m);
/* Called once per usable file before its first message. With
 * opts.stats_first the file's sessions and their stats are complete then;
 * without, only an .lnmsgs file's are. */
typedef void (*ph_lninput_file_cb)(void *ctx, const ph_lninput *in, size_t file);

struct ph_lninput_opts {
    const char *keylog;        /* key log for every capture; NULL: each capture's
                                  default (ph_lninput_default_keylog) */
    const char *keylog_fallback; /* when a capture has no key log beside it (the
                                  tool passes $LIGHTNINGKEYLOGFILE); may be NULL */
    const char *filter;        /* BPF expression for captures, or NULL */
    const uint8_t *types;      /* 65,536 flags: only these message types are
                                  delivered and kept (messages shorter than a
                                  type never are); NULL: every message. Copied. */
    ph_lninput_msg_cb on_msg;  /* may be NULL */
    ph_lninput_file_cb on_file;/* may be NULL */
    void *ctx;
    bool stats_first;          /* sessions known before their messages (on_file) */
    bool keep;                 /* keep copies for ph_lninput_replay_input */
};

enum ph_lninput_kind { PH_LNINPUT_CAPTURE, PH_LNINPUT_LNMSGS };

struct ph_lninput_file {
    const char *path;
    enum ph_lninput_kind kind;
    bool usable;               /* false: nothing was read from it (see problems) */
    const char *keylog;        /* the key log used, NULL when none */
    size_t first_session;      /* index of its first session (ph_lninput_session) */
    size_t nsessions;
    uint64_t connections;      /* TCP connections seen (captures) */
    uint64_t tcp_bytes;        /* TCP payload delivered, all connections (captures) */
};

/* Why a side was taken as the node under study (ph_lninput_replay_input). */
enum ph_lninput_side {
    PH_LNINPUT_SIDE_UNSET = 0,   /* not decided yet */
    PH_LNINPUT_SIDE_MORE_BYTES,  /* it sent more message bytes than the other side */
    PH_LNINPUT_SIDE_TIE,         /* both sent as many bytes: the responder (the side
                                    that accepted the connection) is taken */
    PH_LNINPUT_SIDE_FROM,        /* it is the endpoint asked for */
    PH_LNINPUT_SIDE_ONLY,        /* .lnmsgs: the file's one sender */
    PH_LNINPUT_SIDE_NOT_FROM,    /* none: the endpoint asked for is not in the session */
    PH_LNINPUT_SIDE_EMPTY,       /* none: no message in either direction */
};

struct ph_lninput_session {
    uint64_t id;               /* session number, from 1 */
    size_t file;
    bool has_endpoints;        /* false for .lnmsgs */
    /* lnsession's stats for captures (id, endpoints, times, messages and
     * bytes per direction, ...); for .lnmsgs only id, messages[0], bytes[0]
     * and complete[] are set. */
    struct ph_ln_session_stats ln;
    uint64_t kept_messages[2]; /* per direction, after the type filter */
    uint64_t kept_bytes[2];
    uint64_t short_messages;   /* kept: shorter than a type, cannot be replayed */
    /* Set by ph_lninput_replay_input: */
    int node_dir;              /* direction of the node under study, -1 none */
    enum ph_lninput_side side;
    int64_t replay_session;    /* its session in the replay input, -1 none */
};

enum ph_lninput_severity {
    PH_LNINPUT_NOTE,           /* worth telling; nothing was lost */
    PH_LNINPUT_PARTIAL,        /* some of the input could not be used */
    PH_LNINPUT_UNUSABLE,       /* a whole file (or the shared key log) could not be used */
};

enum ph_lninput_problem_kind {
    PH_LNINPUT_PROB_OPEN,          /* the file cannot be read: sys_errno */
    PH_LNINPUT_PROB_CAPTURE_OPEN,  /* not a capture: err (PH_ERR_CAPTURE_OPEN,
                                      _FILTER, _LINKTYPE), detail = why */
    PH_LNINPUT_PROB_KEYLOG,        /* the key log `path` cannot be read: err, sys_errno */
    PH_LNINPUT_PROB_KEYLOG_LINE,   /* note: key log `path`, `line` holds no key
                                      (warning: its ph_keylog_warning_kind) */
    PH_LNINPUT_PROB_KEYLOG_MORE,   /* note: `count` more such lines not listed */
    PH_LNINPUT_PROB_KEYLOG_EMPTY,  /* note: no key at all in `count` lines;
                                      detail = its encoding name, "" for text */
    PH_LNINPUT_PROB_KEYLOG_ENCODING, /* note: read as detail (UTF-16LE, ...) */
    PH_LNINPUT_PROB_NO_KEYLOG,     /* note: none given, none beside the capture:
                                      detail = the names tried ("a.keys or b.keys"),
                                      count = 1 when a fallback was given but
                                      does not exist */
    PH_LNINPUT_PROB_LNMSGS_RECORD, /* .lnmsgs record truncated or shorter than a
                                      type, at offset: the file is unusable */
    PH_LNINPUT_PROB_SESSION,       /* from lnsession: see ln (ln.text is one line) */
    PH_LNINPUT_PROB_MORE,          /* count more lnsession problems not stored */
    PH_LNINPUT_PROB_NO_SESSION,    /* a capture without a Lightning session:
                                      count = TCP connections seen, offset = their
                                      payload bytes */
    PH_LNINPUT_PROB_SHORT,         /* note: count kept messages of `session` shorter
                                      than a message type (not replayable) */
    PH_LNINPUT_PROB_NOMEM,         /* memory ran out reading the file */
    PH_LNINPUT_PROB_TEMP,          /* no temporary file for the messages: sys_errno */
};

#define PH_LNINPUT_NO_FILE ((size_t)-1)

struct ph_lninput_problem {
    enum ph_lninput_problem_kind kind;
    enum ph_lninput_severity severity;
    size_t file;               /* input file index, PH_LNINPUT_NO_FILE for the
                                  key log given to create */
    const char *path;          /* the file at fault: the input file or its key log */
    uint64_t session;          /* 0 when not about one session */
    ph_err err;
    int sys_errno;             /* errno for PROB_OPEN / PROB_KEYLOG (PH_ERR_IO), else 0 */
    uint64_t line, offset, count;
    int warning;               /* PROB_KEYLOG_LINE: enum ph_keylog_warning_kind */
    struct ph_ln_problem ln;   /* PROB_SESSION */
    char detail[PH_CAPTURE_ERRLEN]; /* PROB_CAPTURE_OPEN: why; NO_KEYLOG: names tried */
};

/* Loads opts->keylog when given: a key log that cannot be read is recorded
 * as a PH_LNINPUT_UNUSABLE problem (file PH_LNINPUT_NO_FILE) and every
 * capture read afterwards is unusable without a further problem; lines of
 * it without a key are notes. Returns PH_ERR_NOMEM (then *out is NULL) or
 * PH_OK. */
PH_MUST_USE
ph_err ph_lninput_create(ph_lninput **out, const struct ph_lninput_opts *opts);
void ph_lninput_destroy(ph_lninput *in);

/* Reads one file to its end, delivering (and keeping) its messages and
 * recording its sessions and problems. Returns PH_OK when the file was
 * used, even partly (problems say what was lost); otherwise why it was
 * unusable (PH_ERR_IO, PH_ERR_CAPTURE_*, PH_ERR_KEYLOG_FORMAT when the key
 * log given to create could not be read, PH_ERR_PARSE for a malformed
 * .lnmsgs, PH_ERR_NOMEM), with the problem recorded and no message of it
 * delivered or kept. `path` "-" is standard input (a capture). */
PH_MUST_USE
ph_err ph_lninput_read(ph_lninput *in, const char *path);

size_t ph_lninput_file_count(const ph_lninput *in);
const struct ph_lninput_file *ph_lninput_file(const ph_lninput *in, size_t i);
size_t ph_lninput_session_count(const ph_lninput *in);
const struct ph_lninput_session *ph_lninput_session(const ph_lninput *in, size_t i);
size_t ph_lninput_problem_count(const ph_lninput *in);
const struct ph_lninput_problem *ph_lninput_problem(const ph_lninput *in, size_t i);
/* The most severe problem so far; PH_LNINPUT_NOTE also when there is none. */
enum ph_lninput_severity ph_lninput_worst(const ph_lninput *in);
/* Messages delivered (those passing the type filter). */
uint64_t ph_lninput_messages(const ph_lninput *in);

/* Chooses per session the node under study and builds the replay input
 * from the kept messages it sent (opts.keep; else the input is empty).
 * With `from` NULL the node is the side that sent more message bytes (all
 * messages count, before the type filter); on a tie the responder. With
 * `from`, the session's endpoint equal to it; sessions without it give
 * nothing. An .lnmsgs file's one sender is always its node. Replay
 * sessions are numbered from 0 in the order of their first message, so
 * sessions that give nothing leave no idle peer; each gets its
 * ph_replay_session. Session fields node_dir, side and replay_session say
 * what was chosen. *out is owned by the caller. PH_ERR_NOMEM. */
PH_MUST_USE
ph_err ph_lninput_replay_input(ph_lninput *in, const struct ph_endpoint *from,
                               ph_replay_input **out);

/* The key log that goes with a capture when none is named: CAPTURE.keys,
 * else CAPTURE with its extension replaced by .keys. False (and `out`
 * holding the names tried, "CAPTURE.keys or CAPTURE-ext.keys") when
 * neither exists or `cap` is too small. Standard input ("-") has none. */
bool ph_lninput_default_keylog(const char *capture, char *out, size_t cap);

#endif
