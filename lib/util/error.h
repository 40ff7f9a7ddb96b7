/* peerheap error codes.
 *
 * Every fallible library function returns a ph_err. PH_OK is zero so that
 * `if (err) return err;` reads naturally. Codes are grouped by module; each
 * module owns its block and adds new codes at the end of that block only, so
 * that concurrent work on different modules never renumbers another's codes
 * in a way that matters (the numbers are never persisted or printed). */
#ifndef PH_ERROR_H
#define PH_ERROR_H

typedef enum ph_err {
    PH_OK = 0,

    /* generic */
    PH_ERR_NOMEM,          /* an allocation failed */
    PH_ERR_ARG,            /* invalid argument (programming error or bad option) */
    PH_ERR_IO,             /* read/write/open failed; errno is preserved */
    PH_ERR_EOF,            /* the peer or file ended where more was required */
    PH_ERR_AGAIN,          /* would block; try again when the fd is ready */
    PH_ERR_LIMIT,          /* a configured limit was exceeded */
    PH_ERR_TIMEOUT,        /* a deadline passed */
    PH_ERR_STATE,          /* call not valid in the object's current state */
    PH_ERR_PARSE,          /* a text input (hex, number, option) did not parse */
    PH_ERR_JSON,           /* malformed JSON */
    PH_ERR_EXISTS,         /* an output file exists and may not be replaced */

    /* noise (BOLT 8) */
    PH_ERR_NOISE_BAD_VERSION,  /* handshake act carried a version other than 0 */
    PH_ERR_NOISE_BAD_PUBKEY,   /* act carried a point that is not on the curve */
    PH_ERR_NOISE_BAD_TAG,      /* act MAC did not verify */
    PH_ERR_NOISE_SHORT_READ,   /* act shorter than its fixed length */
    PH_ERR_NOISE_BAD_KEY,      /* a private key is zero or not below the group order */
    PH_ERR_NOISE_BAD_MAC,      /* transport frame (length or body) MAC did not verify */
    PH_ERR_NOISE_TOO_LONG,     /* message longer than 65,535 bytes */
    PH_ERR_NOISE_NEED_KEY,     /* receive key rotated but no chaining key is known
                                  (decrypt-only sessions from a key log): supply the
                                  next key with ph_noise_set_recv_key() */

    /* wire (BOLT 1/2/7 codec) */
    PH_ERR_WIRE_SHORT,         /* input ended inside a field */
    PH_ERR_WIRE_TRAILING,      /* bytes left over where the layout has none */
    PH_ERR_WIRE_NONCANONICAL,  /* BigSize or truncated integer not minimally encoded */
    PH_ERR_WIRE_TLV_ORDER,     /* TLV types not strictly increasing */
    PH_ERR_WIRE_TLV_UNKNOWN_EVEN, /* unknown even TLV type */
    PH_ERR_WIRE_TLV_LENGTH,    /* TLV value length wrong for its type */
    PH_ERR_WIRE_TOO_LONG,      /* encoded message would exceed 65,535 bytes */
    PH_ERR_WIRE_UNKNOWN_TYPE,  /* message type not in the table (where that matters) */
    PH_ERR_WIRE_FIELD,         /* a field's value is invalid for its type */
    PH_ERR_WIRE_ABSENT,        /* optional TLV record not present */

    /* key log */
    PH_ERR_KEYLOG_FORMAT,      /* a line is not "<32 hex> <64 hex>" */

    /* capture (pcap + TCP + sessions) */
    PH_ERR_CAPTURE_OPEN,       /* libpcap could not open the file */
    PH_ERR_CAPTURE_FILTER,     /* the BPF filter did not compile */
    PH_ERR_CAPTURE_LINKTYPE,   /* unsupported link-layer type */
    PH_ERR_CAPTURE_TRUNCATED,  /* the capture file ends inside a record */
    PH_ERR_CAPTURE_CORRUPT,    /* a record header is impossible (bad length) */

    /* peer / event loop */
    PH_ERR_PEER_PROTOCOL,      /* the remote broke BOLT 1/7/9 rules */
    PH_ERR_PEER_CLOSED,        /* the connection was closed */
    PH_ERR_PEER_INCOMPATIBLE,  /* chains or required features do not match */

    /* write-buffer strategies and measurement */
    PH_ERR_STRATEGY_UNKNOWN,   /* no strategy of that name */
    PH_ERR_MEMSTAT,            /* a jemalloc mallctl failed */
    PH_ERR_GC_UNAVAILABLE,     /* the program cannot defer free() (GC model) */
    PH_ERR_PROF_UNAVAILABLE,   /* jemalloc heap profiling is not on in this process */

    /* gossip store (BOLT 7) */
    PH_ERR_GOSSIP_FORMAT,      /* a gossip file record is truncated or not gossip */
    PH_ERR_GOSSIP_ENCODING,    /* a query uses an encoding we do not accept (zlib) */
    PH_ERR_GOSSIP_CHAIN,       /* the message is for another chain */
    PH_ERR_GOSSIP_SIGNATURE,   /* a gossip signature does not verify */

    PH_ERR__COUNT
} ph_err;

/* A short human-readable text for `err`; never NULL, static storage. */
const char *ph_strerror(ph_err err);

/* Marks every function that returns a ph_err: a dropped error is a bug the
 * compiler can see, so it is made to say so (with -Werror, a build error). */
#if defined(__GNUC__) || defined(__clang__)
#define PH_MUST_USE __attribute__((warn_unused_result))
#else
#define PH_MUST_USE
#endif

/* Marks the pointer parameters (1-based positions) that must never be NULL,
 * so that a caller's compiler rejects a NULL it can see (-Wnonnull; with
 * -Werror, a build error) and UBSan's nonnull-attribute check catches one at
 * run time. Only where the function would crash on NULL: a parameter it
 * dereferences, with no NULL check, on every call that does its work (a
 * handle, an out-parameter written on success, a buffer of a fixed size).
 * Never on a parameter the function checks for NULL or documents as "may
 * be NULL" (destroy/free functions, optional out-parameters): the compiler
 * takes the attribute as a promise and deletes such checks. Nor on a
 * buffer that is only read when its length is not zero ((NULL, 0) is an
 * empty buffer). */
#if defined(__GNUC__) || defined(__clang__)
#define PH_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define PH_NONNULL(...)
#endif

/* For the rare call whose error genuinely does not matter (best-effort
 * clean-up, a second error while reporting a first): gcc does not let a
 * (void) cast silence warn_unused_result, passing the value here does.
 * Each use says at the call why ignoring is right. */
static inline void ph_ignore_err(ph_err e)
{
    (void)e;
}

#endif
