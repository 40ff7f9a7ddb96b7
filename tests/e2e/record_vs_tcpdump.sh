#!/bin/sh
# `peerheap peer --record` writes what the peer really sent and received; a
# tcpdump capture of the same session taken at the same time must decode to
# the same messages, in the same order, in each direction. Needs the right
# to capture on lo (root in CI); without it the test says so and passes.
set -u
PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
T=$(mktemp -d)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.err "$T"/*.tcpdump; do [ -f "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done; exit 1; }
wait_for() { i=0; while ! grep -q "$2" "$1" 2>/dev/null; do i=$((i + 1)); [ $i -lt 200 ] || fail "waiting for $2"; sleep 0.05; done; }

command -v tcpdump >/dev/null || fail "tcpdump missing"
if ! timeout 2 tcpdump -i lo -c 1 -w /dev/null 'tcp port 1' >/dev/null 2>"$T/probe.err" &&
    grep -qi "permission\|not permitted" "$T/probe.err"; then
    echo "skipped: no permission to capture on lo"
    exit 0
fi

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
wait_for "$T/a.out" '^listening '
PORT=$(awk '/^listening /{n = split($2, a, ":"); print a[n]}' "$T/a.out")
ID=$(awk '/^node_id /{print $2}' "$T/a.out")
tcpdump -i lo -n -U --immediate-mode -B 16384 -s 0 -w "$T/lo.pcap" "tcp port $PORT" 2>"$T/lo.tcpdump" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for "$T/lo.tcpdump" 'listening on'
sleep 0.2
"$PEERHEAP" peer --key "$T/b.key" --connect "$ID@127.0.0.1:$PORT" --ping-interval 0.05 \
    --dump-received "$T/got.lnmsgs" --exit-after-idle 5 >"$T/b.out" 2>"$T/b.err" &
BPID=$!
PIDS="$PIDS $BPID"
want=$(stat -c %s "$T/g.lnmsgs")
i=0
while [ "$(stat -c %s "$T/got.lnmsgs" 2>/dev/null || echo 0)" -lt "$want" ]; do
    i=$((i + 1)); [ $i -lt 600 ] || fail "the client did not get the gossip"; sleep 0.05
done
sleep 0.2
kill -TERM "$BPID"; wait "$BPID"
kill -TERM "$APID"; wait "$APID"
sleep 1
kill -INT "$DPID"; wait "$DPID"

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
