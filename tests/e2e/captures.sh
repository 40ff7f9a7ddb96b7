#!/bin/sh
# The bundled captures (made by captures/make-captures.sh with real peers and
# tcpdump): `peerheap dump --json` finds exactly the per-type message counts
# the peers logged while each was recorded (captures/NAME.counts.json); the
# gossip exported from gossip-flood.pcap is the mainnet sample byte for byte;
# the damaged captures exit 1 with the right reason; replay --verify over the
# socket sink delivers gossip-flood (its node's side) byte-exact at 8 and 64
# peers.
set -u
. tests/e2e/lib.sh
ph_require_tool python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"

for c in gossip-flood chatty-8peers interop-electrum; do
    "$PEERHEAP" dump --json "captures/$c.pcap" >"$T/$c.jsonl" 2>"$T/$c.err" ||
        { cat "$T/$c.err"; fail "$c: dump exit $?"; }
    python3 - "$T/$c.jsonl" "captures/$c.counts.json" "$c" <<'PY' || fail "$c: counts differ"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
summary = lines[-1]["summary"]
want = json.load(open(sys.argv[2]))
assert summary["problems"] == [], summary["problems"]
assert summary["by_type"] == want["by_type"], (summary["by_type"], want["by_type"])
assert summary["messages"] == want["messages"] == len(lines) - 1
print(sys.argv[3], "ok:", summary["sessions"], "sessions,", summary["messages"], "messages")
PY
done

"$PEERHEAP" dump captures/gossip-flood.pcap --types 256,257,258 --export "$T/g.lnmsgs" >/dev/null ||
    fail "export"
cmp "$T/g.lnmsgs" captures/mainnet-gossip.lnmsgs || fail "gossip-flood export differs from the sample"

check_damaged() { # NAME PATTERN
    "$PEERHEAP" dump "captures/$1.pcap" >"$T/$1.out" 2>"$T/$1.err"
    rc=$?
    [ $rc -eq 1 ] || { cat "$T/$1.err"; fail "$1: exit $rc, want 1"; }
    grep -q "$2" "$T/$1.out" "$T/$1.err" || fail "$1: no '$2' in the report"
}
check_damaged damaged-truncated "capture truncated after record"
check_damaged damaged-gap "gap in .* at stream offset"
check_damaged damaged-wrongkey "bad MAC"
check_damaged damaged-http "not a Lightning session"

# Measured replays need jemalloc's statistics: every normal build has them
# (a replay that cannot measure fails here); sanitizer builds declare the skip.
if ph_have_jemalloc measured-replays; then
    for peers in 8 64; do
        "$PEERHEAP" replay captures/gossip-flood.pcap --peers $peers --strategy reuse,ring \
            --verify --quiet --json "$T/v$peers.json" >"$T/v$peers.out" 2>"$T/v$peers.err" ||
            { cat "$T/v$peers.err"; fail "replay --verify at $peers peers"; }
        python3 - "$T/v$peers.json" $peers captures/gossip-flood.counts.json <<'PY' || fail "verify at $peers peers"
import json, sys
r = json.load(open(sys.argv[1])); peers = int(sys.argv[2])
counts = json.load(open(sys.argv[3]))["by_type"]
msgs = r["input"]["messages"]
# Only the node under study is replayed: the responder, which sent 28,820 of
# the 28,831 messages (the initiator's 11 are not).
assert msgs == 28820, msgs
assert [(s["role"], s["chosen_by"], s["messages"]) for s in r["input"]["sides"]] == \
    [("responder", "bytes", 28820)], r["input"]["sides"]
# the node makes its own init, filter, pings and pongs: the captured ones
# are not replayed; all the gossip (every other message: the responder sent
# it all) reaches every peer byte-exact
own = ("init", "gossip_timestamp_filter", "ping", "pong")
replayed = sum(v for k, v in counts.items() if k not in own)
for s in r["strategies"]:
    assert s["verified"] == peers * replayed and s["mismatches"] == 0, (s["name"], s["verified"])
PY
    done
    # The analytic relations of every strategy on the bundled capture.
    "$PEERHEAP" replay captures/gossip-flood.pcap --sink model --peers 4 --pool-workers 2 --quiet \
        --linger 0 --json "$T/m.json" >/dev/null 2>"$T/m.err" || { cat "$T/m.err"; fail "model replay"; }
    python3 - "$T/m.json" captures/gossip-flood.counts.json <<'PY' || fail "analytic relations on gossip-flood"
import json, sys
r = json.load(open(sys.argv[1]))
counts = json.load(open(sys.argv[2]))["by_type"]
own = ("init", "gossip_timestamp_filter", "ping", "pong")
replayed = sum(v for k, v in counts.items() if k not in own)
peers = 4
for s in r["strategies"]:
    n = s["name"]
    # each peer: its init and filter (set-up), then the replayed messages
    assert s["writes"] == peers * (replayed + 2), (n, s["writes"])
    for key in ("allocations", "bytes_allocated"):
        assert s[key] == sum(t[key] for t in s["by_type"].values()), (n, key)
        assert s[key] == sum(t[key] for t in s["by_row"].values()), (n, key)
    wb = s["by_row"]["write_buffers"]
    if n in ("fresh", "exact"):
        assert wb["allocations"] == peers * replayed, (n, wb)
    if n == "fresh":
        assert wb["bytes_allocated"] == 65536 * peers * replayed, (n, wb)
    elif n == "reuse":
        assert wb["allocations"] == 0 and s["wbuf_buffers_allocated"] == peers, n
        assert s["held_bytes_per_peer"] >= 65536, n
    elif n == "pool":
        assert 1 <= s["wbuf_buffers_allocated"] <= 2, (n, s["wbuf_buffers_allocated"])
print("analytic relations hold for", [s["name"] for s in r["strategies"]])
PY
fi
ph_done
