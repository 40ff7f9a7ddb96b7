#include "error.h"

static const char *const texts[PH_ERR__COUNT] = {
    [PH_OK] = "success",
    [PH_ERR_NOMEM] = "out of memory",
    [PH_ERR_ARG] = "invalid argument",
    [PH_ERR_IO] = "input/output error",
    [PH_ERR_EOF] = "unexpected end of input",
    [PH_ERR_AGAIN] = "operation would block",
    [PH_ERR_LIMIT] = "limit exceeded",
    [PH_ERR_TIMEOUT] = "timed out",
    [PH_ERR_STATE] = "operation not valid in this state",
    [PH_ERR_PARSE] = "could not parse input",
    [PH_ERR_JSON] = "malformed JSON",
    [PH_ERR_EXISTS] = "file exists (not replaced)",

    [PH_ERR_NOISE_BAD_VERSION] = "handshake: unknown version",
    [PH_ERR_NOISE_BAD_PUBKEY] = "handshake: invalid public key",
    [PH_ERR_NOISE_BAD_TAG] = "handshake: authentication tag mismatch",
    [PH_ERR_NOISE_SHORT_READ] = "handshake: act too short",
    [PH_ERR_NOISE_BAD_KEY] = "invalid private key",
    [PH_ERR_NOISE_BAD_MAC] = "transport: message authentication failed",
    [PH_ERR_NOISE_TOO_LONG] = "transport: message longer than 65535 bytes",
    [PH_ERR_NOISE_NEED_KEY] = "transport: receive key rotated and no next key is known",

    [PH_ERR_WIRE_SHORT] = "wire: message truncated inside a field",
    [PH_ERR_WIRE_TRAILING] = "wire: trailing bytes after the last field",
    [PH_ERR_WIRE_NONCANONICAL] = "wire: integer not minimally encoded",
    [PH_ERR_WIRE_TLV_ORDER] = "wire: TLV types not strictly increasing",
    [PH_ERR_WIRE_TLV_UNKNOWN_EVEN] = "wire: unknown even TLV type",
    [PH_ERR_WIRE_TLV_LENGTH] = "wire: TLV length invalid for its type",
    [PH_ERR_WIRE_TOO_LONG] = "wire: message longer than 65535 bytes",
    [PH_ERR_WIRE_UNKNOWN_TYPE] = "wire: unknown message type",
    [PH_ERR_WIRE_FIELD] = "wire: invalid field value",
    [PH_ERR_WIRE_ABSENT] = "wire: TLV record not present",

    [PH_ERR_KEYLOG_FORMAT] = "key log: line is not '<32 hex mac> <64 hex key>'",

    [PH_ERR_CAPTURE_OPEN] = "capture: cannot open file",
    [PH_ERR_CAPTURE_FILTER] = "capture: invalid filter expression",
    [PH_ERR_CAPTURE_LINKTYPE] = "capture: unsupported link type",
    [PH_ERR_CAPTURE_TRUNCATED] = "capture: file truncated",
    [PH_ERR_CAPTURE_CORRUPT] = "capture: corrupt record",

    [PH_ERR_PEER_PROTOCOL] = "peer: protocol violation",
    [PH_ERR_PEER_CLOSED] = "peer: connection closed",
    [PH_ERR_PEER_INCOMPATIBLE] = "peer: incompatible chain or features",

    [PH_ERR_STRATEGY_UNKNOWN] = "unknown write-buffer strategy",
    [PH_ERR_MEMSTAT] = "jemalloc statistics unavailable",

    [PH_ERR_GOSSIP_FORMAT] = "gossip: malformed gossip file record",
    [PH_ERR_GOSSIP_ENCODING] = "gossip: unsupported short_channel_id encoding",
    [PH_ERR_GOSSIP_CHAIN] = "gossip: unknown chain_hash",
    [PH_ERR_GOSSIP_SIGNATURE] = "gossip: invalid signature",
};

const char *ph_strerror(ph_err err)
{
    if ((unsigned)err >= PH_ERR__COUNT || !texts[err])
        return "unknown error";
    return texts[err];
}
