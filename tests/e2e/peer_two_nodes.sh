#!/bin/sh
# Two `peerheap peer` processes on 127.0.0.1 exchange gossip both ways: the
# mainnet sample is split in two halves (by short_channel_id / node id, so
# that every channel's messages stay together), node A preloads one, node
# B the other; after the session each has received exactly the other's
# half, byte-exact, in file order. Also checks the session is recorded
# (--record) and its keys logged (LIGHTNINGKEYLOGFILE).
# No idle clocks: each node runs until both have received the other's half
# (their --dump-received files, written per message, reach the halves'
# sizes), then both are stopped with SIGTERM and must exit 0.
set -u
. tests/e2e/lib.sh
ph_require_tool python3 tcpdump
P=$PEERHEAP
S=captures/mainnet-gossip.lnmsgs
T=$(mktemp -d)
A=
B=
cleanup() { for p in $A $B; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/a.err" "$T/b.err" 2>/dev/null; exit 1; }

python3 - "$S" "$T/half0.lnmsgs" "$T/half1.lnmsgs" <<'PY' || fail "cannot split the sample"
import sys
data = open(sys.argv[1], 'rb').read()
out = [open(sys.argv[2], 'wb'), open(sys.argv[3], 'wb')]
off = 0
while off < len(data):
    n = int.from_bytes(data[off:off + 2], 'big')
    msg = data[off + 2:off + 2 + n]
    t = int.from_bytes(msg[:2], 'big')
    if t == 256:
        key = msg[2 + 256 + 2 + int.from_bytes(msg[258:260], 'big') + 32:][:8]
    elif t == 258:
        key = msg[2 + 64 + 32:][:8]
    else:  # node_announcement: by node id
        flen = int.from_bytes(msg[66:68], 'big')
        key = msg[68 + flen + 4:][:33]
    out[sum(key) & 1].write(data[off:off + 2 + n])
    off += 2 + n
PY
[ -s "$T/half0.lnmsgs" ] && [ -s "$T/half1.lnmsgs" ] || fail "empty half"

$P peer --key "$T/a.key" --listen 0 --gossip "$T/half0.lnmsgs" --strategy reuse \
    --dump-received "$T/a.got" --record "$T/a.pcap" \
    >"$T/a.out" 2>"$T/a.err" &
A=$!
ph_wait_grep "$T/a.out" '^listening ' "node A's 'listening' line" "$A"
ID=$(awk '/^node_id /{print $2}' "$T/a.out")
ADDR=$(awk '/^listening /{print $2}' "$T/a.out")
case "$ADDR" in 127.0.0.1:*) ;; *) fail "a bare port should listen on 127.0.0.1, got $ADDR" ;; esac

LIGHTNINGKEYLOGFILE="$T/b.keys" $P peer --key "$T/b.key" --connect "$ID@$ADDR" \
    --gossip "$T/half1.lnmsgs" --strategy exact --dump-received "$T/b.got" \
    >"$T/b.out" 2>"$T/b.err" &
B=$!
ph_wait_size "$T/a.got" "$(stat -c %s "$T/half1.lnmsgs")" "A to receive B's half"
ph_wait_size "$T/b.got" "$(stat -c %s "$T/half0.lnmsgs")" "B to receive A's half"
kill -TERM "$B"
ph_wait_exit "$B" "node B after SIGTERM" || fail "node B exited with status $?"
B=
kill -TERM "$A"
ph_wait_exit "$A" "node A after SIGTERM" || fail "node A exited with status $?"
A=

cmp "$T/half1.lnmsgs" "$T/a.got" || fail "A did not receive B's half byte-exact"
cmp "$T/half0.lnmsgs" "$T/b.got" || fail "B did not receive A's half byte-exact"
grep -q 'holds session secrets' "$T/b.err" || fail "no key-log warning on stderr"
# One line per key and direction: the first two, plus rotations every 500 messages.
[ "$(wc -l <"$T/b.keys")" -ge 2 ] || fail "key log has fewer than 2 lines"
grep -vqE '^[0-9a-f]{32} [0-9a-f]{64}$' "$T/b.keys" && fail "malformed key-log line"
[ "$(stat -c %a "$T/b.keys")" = 600 ] || fail "key log is not mode 0600"
[ "$(stat -c %a "$T/a.key")" = 600 ] || fail "created key file is not mode 0600"
# The recording holds the whole session: more payload than the half A sent.
bytes=$(tcpdump -r "$T/a.pcap" -nn -q 2>/dev/null | awk '{s += $NF} END {print s + 0}')
[ "$bytes" -gt "$(stat -c %s "$T/half0.lnmsgs")" ] || fail "pcap holds only $bytes payload bytes"
grep -q 'init: features \[' "$T/a.err" || fail "init features not logged"
ph_done
