#!/bin/sh
# Records the bundled captures: real peers over loopback, captured with
# tcpdump, each with its key log and the per-type message counts the peers
# themselves logged (captures/NAME.counts.json), which the tests compare with
# what `peerheap dump` decodes.
#
#   gossip-flood.pcap      one session: peerheap serves the whole mainnet sample
#                          (28,809 gossip messages) to another peerheap after its
#                          gossip_timestamp_filter, pinging both ways meanwhile
#   chatty-8peers.pcap     one node relaying the first 5,000 messages of the
#                          sample to 8 peers at once
#   interop-electrum.pcap  peerheap and Electrum (python3-electrum): 1,300 pings
#                          and pongs each way
#   damaged-*.pcap         derived from a small session: a truncated file, a lost
#                          segment, a wrong key, a non-Lightning stream
#
# Usage: sh captures/make-captures.sh [PEERHEAP]   (run from the repo root, as
# root or with permission to capture on lo). Only 127.0.0.1 is used.
set -eu
P=${1:-build/peerheap}
OUT=captures
SAMPLE=$OUT/mainnet-gossip.lnmsgs
NSAMPLE=28809
T=$(mktemp -d)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
die() { echo "make-captures: $*" >&2; exit 1; }
[ -x "$P" ] || die "no $P (run make first)"
command -v tcpdump >/dev/null || die "tcpdump is missing (make deps)"

# Fixed node keys, so the node ids in the captures do not change between runs.
key() { # FILE BYTE
    printf '%s\n' "$(printf "%064d" 0 | tr 0 "$2")" >"$1"
    chmod 600 "$1"
}

wait_for() { # FILE PATTERN TRIES
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt "${3:-200}" ] || die "timed out waiting for '$2' in $1"
        sleep 0.05
    done
}

# start_server NAME ARGS...: a listening peer on a free port; sets PORT, ID, SPID
start_server() {
    name=$1
    shift
    "$P" peer --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.err" &
    SPID=$!
    PIDS="$PIDS $SPID"
    wait_for "$T/$name.out" '^listening '
    PORT=$(awk '/^listening /{n = split($2, a, ":"); print a[n]}' "$T/$name.out")
    ID=$(awk '/^node_id /{print $2}' "$T/$name.out")
}

# start_capture NAME PORT: tcpdump on lo for that port; sets DPID
start_capture() {
    rm -f "$T/$1.pcap"
    tcpdump -i lo -n -U --immediate-mode -B 65536 -s 0 -w "$T/$1.pcap" "tcp port $2" 2>"$T/$1.tcpdump" &
    DPID=$!
    PIDS="$PIDS $DPID"
    wait_for "$T/$1.tcpdump" 'listening on'
    sleep 0.2
}

# stop_capture NAME: stops tcpdump by its pid once it has written every
# packet the filter took, and fails on any packet lost.
stop_capture() {
    sleep 1
    kill -INT "$DPID"
    wait "$DPID" || true
    captured=$(awk '/packets captured/{print $1}' "$T/$1.tcpdump")
    received=$(awk '/received by filter/{print $1}' "$T/$1.tcpdump")
    dropped=$(awk '/dropped by kernel/{print $1}' "$T/$1.tcpdump")
    [ "${dropped:-0}" = 0 ] || die "$1: tcpdump lost $dropped packets; run again"
    # On lo the filter sees each packet twice (sent and received) and keeps one.
    [ $((captured * 2)) -ge "$received" ] || die "$1: tcpdump wrote $captured of $((received / 2)) packets; run again"
    mv "$T/$1.pcap" "$OUT/$1.pcap"
}

# Waits until FILE holds N .lnmsgs records of the sample (its exact size).
wait_size() { # FILE BYTES
    i=0
    while [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
        i=$((i + 1))
        [ $i -lt 1200 ] || die "timed out: $1 has $(stat -c %s "$1" 2>/dev/null) of $2 bytes"
        sleep 0.05
    done
}

# counts NAME LOG...: sums the per-type "in" counts of every closing line
# ("peer N types in: a=1 b=2; out: ...") of the given logs: every message
# received by one of the peers, so every message in the capture.
counts() {
    name=$1
    shift
    cat "$@" | python3 -c '
import json, re, sys
by_type, sessions = {}, 0
for line in sys.stdin:
    m = re.search(r"peer \d+ types in: (.*); out: ", line)
    if not m:
        continue
    sessions += 1
    if m.group(1) != "none":
        for kv in m.group(1).split():
            k, v = kv.split("=")
            by_type[k] = by_type.get(k, 0) + int(v)
print(json.dumps({"peer_sessions_logged": sessions, "messages": sum(by_type.values()),
                  "by_type": dict(sorted(by_type.items()))}, indent=1))
' >"$OUT/$name.counts.json"
}

sample_bytes=$(stat -c %s "$SAMPLE")

# ---- 1. gossip-flood ----
key "$T/a.key" a
key "$T/b.key" b
rm -f "$OUT/gossip-flood.pcap.keys"
start_server flood-a --key "$T/a.key" --gossip "$SAMPLE" --ping-interval 0.05 \
    --keylog "$OUT/gossip-flood.pcap.keys"
start_capture gossip-flood "$PORT"
"$P" peer --key "$T/b.key" --connect "$ID@127.0.0.1:$PORT" --ping-interval 0.05 \
    --dump-received "$T/flood.lnmsgs" --keylog "$OUT/gossip-flood.pcap.keys" \
    >"$T/flood-b.out" 2>"$T/flood-b.err" &
BPID=$!
PIDS="$PIDS $BPID"
wait_size "$T/flood.lnmsgs" "$sample_bytes"
sleep 0.1
kill -TERM "$BPID"
wait "$BPID" || die "gossip-flood: client failed"
kill -TERM "$SPID"
wait "$SPID" || true
stop_capture gossip-flood
cmp -s "$T/flood.lnmsgs" "$SAMPLE" || die "gossip-flood: the client did not get the sample byte-exact"
counts gossip-flood "$T/flood-a.err" "$T/flood-b.err"

# ---- 2. chatty-8peers ----
# The first CHATTY messages of the sample (8 copies of all 28,809 would make
# a 46 MB capture; this keeps it near 8 MB).
CHATTY=5000
python3 - "$SAMPLE" "$T/chatty.lnmsgs" "$CHATTY" <<'PY'
import sys
data, out, n = open(sys.argv[1], "rb").read(), open(sys.argv[2], "wb"), int(sys.argv[3])
off = 0
for _ in range(n):
    ln = int.from_bytes(data[off:off + 2], "big")
    out.write(data[off:off + 2 + ln])
    off += 2 + ln
PY
chatty_bytes=$(stat -c %s "$T/chatty.lnmsgs")
rm -f "$OUT/chatty-8peers.pcap.keys"
start_server chatty --key "$T/a.key" --gossip "$T/chatty.lnmsgs" --keylog "$OUT/chatty-8peers.pcap.keys"
start_capture chatty-8peers "$PORT"
CLIENTS=""
for i in 1 2 3 4 5 6 7 8; do
    key "$T/c$i.key" "$i"
    "$P" peer --key "$T/c$i.key" --connect "$ID@127.0.0.1:$PORT" \
        --dump-received "$T/c$i.lnmsgs" >"$T/c$i.out" 2>"$T/c$i.err" &
    CLIENTS="$CLIENTS $!"
    PIDS="$PIDS $!"
done
for i in 1 2 3 4 5 6 7 8; do wait_size "$T/c$i.lnmsgs" "$chatty_bytes"; done
sleep 0.1
for c in $CLIENTS; do kill -TERM "$c"; done
for c in $CLIENTS; do wait "$c" || die "chatty-8peers: a client failed"; done
kill -TERM "$SPID"
wait "$SPID" || true
stop_capture chatty-8peers
for i in 1 2 3 4 5 6 7 8; do
    cmp -s "$T/c$i.lnmsgs" "$T/chatty.lnmsgs" || die "chatty-8peers: client $i did not get the messages"
done
counts chatty-8peers "$T/chatty.err" "$T"/c[1-8].err

# ---- 3. interop-electrum ----
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import electrum.lntransport' 2>/dev/null; then
    rm -f "$OUT/interop-electrum.pcap.keys"
    EKEY=$(printf "%064d" 0 | tr 0 e)
    /usr/bin/python3 tests/interop/electrum_peer.py --key "$EKEY" --listen 0 --timeout 90 --quiet \
        ping:1300 burst:100 sleep:300 close >"$T/el.out" 2>"$T/el.err" &
    EPID=$!
    PIDS="$PIDS $EPID"
    wait_for "$T/el.out" '"listening"'
    EPORT=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("ev") == "listening": print(o["port"])' "$T/el.out")
    EID=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("ev") == "node_id": print(o["id"])' "$T/el.out")
    start_capture interop-electrum "$EPORT"
    "$P" peer --key "$T/a.key" --connect "$EID@127.0.0.1:$EPORT" --exit-after-idle 2 \
        --keylog "$OUT/interop-electrum.pcap.keys" >"$T/el-p.out" 2>"$T/el-p.err" || true
    wait "$EPID" || die "interop-electrum: electrum_peer failed: $(tail -3 "$T/el.out")"
    stop_capture interop-electrum
    # Our peer logged both directions of its one session: in + out.
    python3 - "$T/el-p.err" >"$OUT/interop-electrum.counts.json" <<'PY'
import json, re, sys
by_type = {}
for line in open(sys.argv[1]):
    m = re.search(r"peer \d+ types in: (.*); out: (.*)$", line)
    if not m:
        continue
    for part in m.groups():
        if part.strip() != "none":
            for kv in part.split():
                k, v = kv.split("=")
                by_type[k] = by_type.get(k, 0) + int(v)
print(json.dumps({"peer_sessions_logged": 1, "messages": sum(by_type.values()),
                  "by_type": dict(sorted(by_type.items()))}, indent=1))
PY
else
    echo "make-captures: python3-electrum missing: interop-electrum.pcap not remade" >&2
fi

# ---- 4. damaged captures, from a small real session ----
rm -f "$T/small.keys"
start_server small --key "$T/a.key" --keylog "$T/small.keys" --ping-interval 0.05
start_capture small "$PORT"
"$P" peer --key "$T/b.key" --connect "$ID@127.0.0.1:$PORT" --ping-interval 0.05 \
    --max-messages 40 >/dev/null 2>"$T/small-b.err" || true
kill -TERM "$SPID"
wait "$SPID" || true
stop_capture small
mv "$OUT/small.pcap" "$T/small.pcap"
size=$(stat -c %s "$T/small.pcap")
# a truncated file: cut in the middle of a record
head -c $((size - 37)) "$T/small.pcap" >"$OUT/damaged-truncated.pcap"
cp "$T/small.keys" "$OUT/damaged-truncated.pcap.keys"
# a lost segment: drop the 12th packet (a data segment after the handshake)
editcap "$T/small.pcap" "$OUT/damaged-gap.pcap" 12 >/dev/null
cp "$T/small.keys" "$OUT/damaged-gap.pcap.keys"
# a wrong key: the right MACs with every key's last byte flipped
cp "$T/small.pcap" "$OUT/damaged-wrongkey.pcap"
awk '{k = $2; last = substr(k, 63, 2); flip = (last == "00") ? "ff" : "00";
      print $1, substr(k, 1, 62) flip}' "$T/small.keys" >"$OUT/damaged-wrongkey.pcap.keys"
# a non-Lightning TCP stream: a plain HTTP exchange over loopback
python3 - "$T" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1] + "/http.port", "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); c.recv(4096)
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"); c.close()
PY
HPID=$!
wait_for "$T/http.port" .
HPORT=$(cat "$T/http.port")
start_capture damaged-http "$HPORT"
python3 -c 'import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"GET / HTTP/1.0\r\n\r\n"); c.recv(4096); c.close()' "$HPORT"
wait "$HPID"
stop_capture damaged-http

# Every message of the three sessions must decode: no gap, no trailing bytes.
for c in gossip-flood chatty-8peers interop-electrum; do
    [ -f "$OUT/$c.pcap" ] || continue
    "$P" dump "$OUT/$c.pcap" >/dev/null || die "$c: the capture does not decode completely; run again"
done
ls -l "$OUT"
