#!/bin/sh
# The options of `peerheap peer` that no other script asserts an effect of,
# each with one: --network (a peer on another chain is refused, the same
# chain is not), --ping-interval / --pong-timeout (a peer that answers no
# ping is cut), --ping-burst / --ping-rate (0: pings go unanswered),
# --encode per-write with --stats-json (the backlog decoded per message),
# --in-rate (a reader limited to R bytes/s cannot have taken its bytes in
# less than bytes / R), --queue-hard (a 4 KiB hard cap cuts a peer
# streaming the backlog), --queue-soft (relays dropped above 4 KiB),
# --log-level debug (each stored gossip message logged), --handshake-timeout
# (a silent client is closed), --gossip-filter none|new|all (what B gets).
# Every wait is on a log line, a file or a process exit.
set -u
. tests/e2e/lib.sh
ph_require_tool python3
P=$PEERHEAP
LN=captures/mainnet-gossip.lnmsgs
T=$(mktemp -d)
PIDS=
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -n 5 "$T"/*.err 2>/dev/null; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"

for k in a b c d e; do printf '%064x\n' "$(printf %d "'$k")" >"$T/$k.key"; chmod 600 "$T/$k.key"; done

start() { # NAME ARGS...: a node in the background, its pid in NAME_PID, id and address read
    _n=$1
    shift
    # a previous node's lines must not be read as this one's
    rm -f "$T/$_n.out" "$T/$_n.err"
    $P peer --key "$T/$_n.key" "$@" >"$T/$_n.out" 2>"$T/$_n.err" &
    eval "${_n}_PID=$!"
    PIDS="$PIDS $!"
}
listening() { # NAME: wait for its listening line; sets ID and ADDR
    eval "_p=\$${1}_PID"
    ph_wait_grep "$T/$1.out" '^listening ' "node $1's 'listening' line" "$_p"
    ID=$(awk '/^node_id /{print $2}' "$T/$1.out")
    ADDR=$(awk '/^listening /{print $2}' "$T/$1.out")
}
stop() { # NAME: SIGTERM, must exit 0
    eval "_p=\$${1}_PID"
    kill -TERM "$_p" 2>/dev/null
    ph_wait_exit "$_p" "node $1 after SIGTERM" || fail "node $1 exited with status $?"
}

# --network: a regtest node refuses a mainnet peer (no common chain in
# init's networks), and talks to a regtest one.
start a --listen 127.0.0.1:0 --network regtest
listening a
start b --connect "$ID@$ADDR"
ph_wait_exit "$b_PID" "the mainnet peer B once refused" >/dev/null
grep -q 'disconnect: no common chain' "$T/b.err" || fail "--network: B was not refused"
ph_wait_grep "$T/a.err" 'disconnect: no common chain' "node A to refuse the mainnet peer" "$a_PID"
$P peer --key "$T/c.key" --connect "$ID@$ADDR" --network regtest --max-messages 2 \
    >"$T/c.out" 2>"$T/c.err" || fail "--network regtest: the regtest peer failed"
grep -q 'init: features' "$T/c.err" || fail "--network regtest: no init"
stop a

# --handshake-timeout: a client that connects and says nothing is closed
# after 1 s (it waits for the close, at most 30 s).
start a --listen 127.0.0.1:0 --handshake-timeout 1
listening a
python3 - "${ADDR#*:}" <<'PY' || fail "--handshake-timeout: the silent client was not closed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(30)
assert s.recv(1) == b""
PY
ph_wait_grep "$T/a.err" 'disconnect: handshake timeout' "node A to log the handshake timeout" "$a_PID"
stop a

# --gossip-filter: what B asks A for. A pings after 1 s, so a B that stops
# after init, A's filter and the ping has had every gossip message A would
# have streamed for its filter: none for 'none' and 'new' (the sample is
# older than now), some for 'all'.
start a --listen 127.0.0.1:0 --gossip "$LN" --ping-interval 1
listening a
for mode in none new all; do
    $P peer --key "$T/b.key" --connect "$ID@$ADDR" --gossip-filter $mode --max-messages 3 \
        --dump-received "$T/f_$mode.got" >"$T/f_$mode.out" 2>"$T/f_$mode.err" ||
        fail "--gossip-filter $mode: node B exited $?"
done
[ ! -s "$T/f_none.got" ] || fail "--gossip-filter none: B received gossip"
[ ! -s "$T/f_new.got" ] || fail "--gossip-filter new: B received old gossip"
[ -s "$T/f_all.got" ] || fail "--gossip-filter all: B received no gossip"
stop a

# --ping-interval 1 --pong-timeout 1: node A pings every second; B answers
# no ping (--ping-burst 0 --ping-rate 0), so A cuts it.
start a --listen 127.0.0.1:0 --ping-interval 1 --pong-timeout 1
listening a
start b --connect "$ID@$ADDR" --ping-burst 0 --ping-rate 0
ph_wait_grep "$T/a.err" 'no pong to our ping' "node A to cut the peer that never answers" "$a_PID"
ph_wait_grep "$T/b.err" 'ping flood: 1 pings not answered' "node B to leave a ping unanswered" "$b_PID"
ph_wait_exit "$b_PID" "node B once A cut it" >/dev/null
# With the defaults B answers: A gets its pongs and keeps it.
start c --connect "$ID@$ADDR" --max-messages 8
ph_wait_exit "$c_PID" "node C after 8 messages (init and pings)" || fail "node C exited $?"
grep -q 'no pong' "$T/c.err" && fail "a peer that answers pings was cut"
stop a

# --encode per-write and --stats-json: A streams the sample to B, decoding
# each message for the write (two allocations: the message and its handle).
N=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read(); o = n = 0
while o < len(d):
    o += 2 + int.from_bytes(d[o:o + 2], "big"); n += 1
print(n)' "$LN")
# --in-rate: B reads at most 1 MB/s after a one-second burst, so it cannot
# have the sample in less than (its size - 1 MB) / 1 MB/s: a floor the
# token bucket sets, not a timing measurement (slower is fine).
start a --listen 127.0.0.1:0 --gossip "$LN" --encode per-write --stats-json "$T/a.json"
listening a
t0=$(date +%s%3N)
start b --connect "$ID@$ADDR" --dump-received "$T/b.got" --in-rate 1000000
ph_wait_size "$T/b.got" "$(stat -c %s "$LN")" "node B to receive the whole sample"
t1=$(date +%s%3N)
stop b
stop a
# The allocation rows need jemalloc's hooks: sanitizer builds declare them
# skipped (and check the rest).
measured=1
ph_have_jemalloc peer-encode-rows || measured=0
python3 - "$T/a.json" "$N" "$(stat -c %s "$LN")" "$((t1 - t0))" "$measured" <<'PY' || fail "--encode per-write / --in-rate"
import json, sys
r = json.load(open(sys.argv[1])); n, size, ms, measured = map(int, sys.argv[2:6])
s = r["strategies"][0]
assert r["options"]["encode"] == "per-write", r["options"]
if measured:
    assert s["by_row"]["decode"]["allocations"] >= 2 * n, (s["by_row"]["decode"], n)
assert ms >= (size - 1000000) / 1000, (ms, size)
PY

# --queue-hard: the backlog is pulled 64 KiB at a time, above a 4 KiB hard
# cap (the soft cap with it: a hard cap is never under it).
start a --listen 127.0.0.1:0 --gossip "$LN" --queue-soft 4096 --queue-hard 4096
listening a
start b --connect "$ID@$ADDR"
ph_wait_grep "$T/a.err" 'outgoing queue above its hard cap' "node A to cut B at its hard cap" "$a_PID"
stop a
ph_wait_exit "$b_PID" "node B once A cut it" >/dev/null

# --queue-soft: B is connected to A (its backlog, empty, is done); C then
# sends A the sample, which A relays to B: above a 4 KiB soft cap A drops
# relays (the default 1 MiB would take far more of them).
start a --listen 127.0.0.1:0 --queue-soft 4096 --stats-json "$T/soft.json" --dump-received "$T/a.got" \
    --log-level debug
listening a
start b --connect "$ID@$ADDR"
ph_wait_grep "$T/a.err" 'relaying new gossip' "node A to finish B's (empty) backlog" "$a_PID"
start c --connect "$ID@$ADDR" --gossip "$LN"
ph_wait_size "$T/a.got" "$(stat -c %s "$LN")" "node A to receive C's sample"
stop c
stop b
stop a
python3 - "$T/soft.json" <<'PY' || fail "--queue-soft"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["strategies"][0]
assert r["options"]["queue_soft"] == 4096, r["options"]
assert s["dropped"] > 0, s["dropped"]
assert s["peak_queued_bytes"] <= 4096 + 65535 + 34, s["peak_queued_bytes"]
PY
# --log-level debug: A logs each gossip message it stores; C (the default,
# info) does not
grep -q ' debug .*new' "$T/a.err" || fail "--log-level debug: no debug line"
grep -q ' debug ' "$T/c.err" && fail "the default log level shows debug lines"
ph_done
