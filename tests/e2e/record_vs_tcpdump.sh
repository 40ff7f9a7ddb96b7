#!/bin/sh
# `peerheap peer --record` writes what the peer really sent and received; a
# tcpdump capture of the same session taken at the same time must decode to
# the same messages, in the same order, in each direction. Needs the right
# to capture on lo (root in CI, or CAP_NET_RAW): without it the test fails
# with tcpdump's reason. Every step waits on an event: A's "listening" line,
# tcpdump's "listening on", B's dump reaching the gossip's size, A logging
# B's disconnect, tcpdump's file holding both FINs, each process's exit.
set -u
. tests/e2e/lib.sh
ph_require_tool tcpdump python3
T=$(mktemp -d)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.err "$T"/*.tcpdump; do [ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done; exit 1; }

# A small gossip source: the first 2,000 messages of the sample.
python3 - captures/mainnet-gossip.lnmsgs "$T/g.lnmsgs" 2000 <<'PY'
import sys
d, out, n, off = open(sys.argv[1], "rb").read(), open(sys.argv[2], "wb"), int(sys.argv[3]), 0
for _ in range(n):
    ln = int.from_bytes(d[off:off + 2], "big"); out.write(d[off:off + 2 + ln]); off += 2 + ln
PY
"$PEERHEAP" peer --key "$T/a.key" --listen 127.0.0.1:0 --gossip "$T/g.lnmsgs" --ping-interval 0.05 \
    --record "$T/rec.pcap" --keylog "$T/keys" >"$T/a.out" 2>"$T/a.err" &
APID=$!
PIDS="$APID"
ph_wait_grep "$T/a.out" '^listening ' "A's 'listening' line" "$APID"
PORT=$(awk '/^listening /{n = split($2, a, ":"); print a[n]}' "$T/a.out")
ID=$(awk '/^node_id /{print $2}' "$T/a.out")
tcpdump -i lo -n -U --immediate-mode -B 16384 -s 0 -w "$T/lo.pcap" "tcp port $PORT" 2>"$T/lo.tcpdump" &
DPID=$!
PIDS="$PIDS $DPID"
# tcpdump says "listening on" once the capture is open; without the right to
# capture on lo it exits first (its reason is in lo.tcpdump, shown by fail).
ph_wait_grep "$T/lo.tcpdump" 'listening on' \
    "tcpdump to capture on lo (needs root or CAP_NET_RAW)" "$DPID"
"$PEERHEAP" peer --key "$T/b.key" --connect "$ID@127.0.0.1:$PORT" --ping-interval 0.05 \
    --dump-received "$T/got.lnmsgs" --exit-after-idle 5 >"$T/b.out" 2>"$T/b.err" &
BPID=$!
PIDS="$PIDS $BPID"
ph_wait_size "$T/got.lnmsgs" "$(stat -c %s "$T/g.lnmsgs")" "the client to receive the gossip"
kill -TERM "$BPID"
ph_wait_exit "$BPID" "the client after SIGTERM" || fail "the client exited with status $?"
# A has read everything B sent once it logs the session closed.
ph_wait_grep "$T/a.err" 'peer [0-9]* closed' "A to log the client's disconnect" "$APID"
kill -TERM "$APID"
ph_wait_exit "$APID" "the server after SIGTERM" || fail "the server exited with status $?"
# -U writes each packet as it comes: the session is whole once both FINs are in.
fins() { [ "$(tcpdump -r "$T/lo.pcap" -nn 'tcp[tcpflags] & tcp-fin != 0' 2>/dev/null | wc -l)" -ge 2 ]; }
ph_wait_for "tcpdump to write both FINs of the session" fins
kill -INT "$DPID"
ph_wait_exit "$DPID" "tcpdump after SIGINT" || fail "tcpdump exited with status $?"
PIDS=

"$PEERHEAP" dump --json "$T/rec.pcap" --keylog "$T/keys" >"$T/rec.jsonl" 2>"$T/rec.err" || fail "dump of --record"
"$PEERHEAP" dump --json "$T/lo.pcap" --keylog "$T/keys" >"$T/lo.jsonl" 2>"$T/lo.err" || fail "dump of tcpdump's capture"
python3 - "$T/rec.jsonl" "$T/lo.jsonl" <<'PY' || fail "the two captures differ"
import json, sys
def msgs(p):
    rows = [json.loads(l) for l in open(p)]
    return [(r["dir"], r["type"], r["len"]) for r in rows[:-1]], rows[-1]["summary"]
a, sa = msgs(sys.argv[1])
b, sb = msgs(sys.argv[2])
assert sa["problems"] == [] and sb["problems"] == [], (sa["problems"], sb["problems"])
assert len(a) > 2000, len(a)
# Each direction in order: the interleaving of the two directions depends on
# when each side's packets were stamped, which differs between the recorder
# (at the write) and the kernel (at loopback delivery).
for d in ("i2r", "r2i"):
    da = [m for m in a if m[0] == d]
    db = [m for m in b if m[0] == d]
    assert da == db, (d, len(da), len(db))
print("record and tcpdump agree:", len(a), "messages")
PY
ph_done
