#!/bin/sh
# One `peerheap peer` preloaded with the mainnet sample serves it through
# gossip_timestamp_filter to 8 peers at once (8 more `peerheap peer`
# processes); each dumps what it receives (--dump-received) and must get
# all 28,809 messages, byte-exact and in file order.
set -u
P=${PEERHEAP:-build/peerheap}
S=captures/mainnet-gossip.lnmsgs
T=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.err; do echo "--- $f"; tail -5 "$f"; done; exit 1; }

$P peer --key "$T/server.key" --listen 127.0.0.1:0 --gossip "$S" --strategy pool \
    --log-level warn >"$T/server.out" 2>"$T/server.err" &
SERVER=$!
i=0
while ! grep -q '^listening ' "$T/server.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 200 ] || fail "server did not start"; sleep 0.05
done
ID=$(awk '/^node_id /{print $2}' "$T/server.out")
ADDR=$(awk '/^listening /{print $2}' "$T/server.out")

# Each client receives init, the server's own gossip_timestamp_filter and
# the 28,809 gossip messages: --max-messages 28811 ends it right after.
pids=
for n in 1 2 3 4 5 6 7 8; do
    timeout 120 $P peer --key "$T/c$n.key" --connect "$ID@$ADDR" --dump-received "$T/c$n.lnmsgs" \
        --max-messages 28811 --log-level warn >"$T/c$n.out" 2>"$T/c$n.err" &
    pids="$pids $!"
done
for pid in $pids; do
    wait "$pid" || fail "a client exited with status $?"
done
for n in 1 2 3 4 5 6 7 8; do
    cmp "$S" "$T/c$n.lnmsgs" || fail "client $n did not receive the sample byte-exact"
done
kill -TERM "$SERVER"
wait "$SERVER" || fail "server exited with status $? on SIGTERM"
SERVER=
exit 0
