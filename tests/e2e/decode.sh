#!/bin/sh
# peerheap decode: summaries of hex arguments and of a .lnmsgs file, and
# one-line errors with exit status 2 on bad input.
set -u
. tests/e2e/lib.sh
P=$PEERHEAP
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# hex arguments: a mainnet channel_update, BOLT 1 init with unknown odd TLVs,
# ping, an unknown odd type, a warning with text
$P decode \
    0102bff88e1cc892d1e981668d9cd154f339f763fd065a2f18f0d45b196628c2888366ac8d77603c9df09273e730e3740c060a73c53afde5eedc11d33be4bbe0f8036fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d61900000000000b33950000d7000168a455e90100002800000000000003e8000003e8000003e8000000024e160300 \
    001000000000c9012acb0104 \
    0x0012000a00020000 \
    8001aabb \
    0001000000000000000000000000000000000000000000000000000000000000000000026869 \
    >"$T/out" 2>"$T/err" || fail "decode of valid hex exited $?: $(cat "$T/err")"
cat >"$T/want" <<'EOW'
channel_update 734101x215x1/0 ts=1755600361 fee=1000+1000ppm cltv=40
init features=none
ping num_pong_bytes=10 len=2
unknown_type_32769 len=2
warning cid=all text="hi"
EOW
diff -u "$T/want" "$T/out" || fail "hex summaries differ"
[ ! -s "$T/err" ] || fail "unexpected stderr: $(cat "$T/err")"

# the mainnet capture: counts per type, and one line per message
$P decode --file captures/mainnet-gossip.lnmsgs --count >"$T/out" || fail "--count exited $?"
printf 'channel_announcement 27\nnode_announcement 2251\nchannel_update 26531\ntotal 28809\n' >"$T/want"
diff -u "$T/want" "$T/out" || fail "counts differ"
$P decode --file captures/mainnet-gossip.lnmsgs >"$T/out" || fail "--file exited $?"
[ "$(wc -l <"$T/out")" -eq 28809 ] || fail "expected 28809 lines"
grep -q '^node_announcement 02ff837e6737 alias="TheBestNodeI" ts=1755600362 addrlen=38$' "$T/out" \
    || fail "node_announcement line missing"
grep -q '^channel_announcement 910765x3064x0 node1=027cd974e470 node2=031fab3f6a8a$' "$T/out" \
    || fail "channel_announcement line missing"

# bad input: truncated message in hex, bad hex, truncated file, broken message
$P decode 0010000000000001 >"$T/out" 2>"$T/err"
[ $? -eq 2 ] || fail "truncated init: want exit 2"
grep -q 'argument 1: init: .*truncated' "$T/err" || fail "truncated init: bad error: $(cat "$T/err")"
$P decode 0x123 >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "odd hex: want exit 2"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "odd hex: want a one-line error"
head -c 1000 captures/mainnet-gossip.lnmsgs >"$T/cut.lnmsgs"
$P decode --file "$T/cut.lnmsgs" >"$T/out" 2>"$T/err"
[ $? -eq 2 ] || fail "cut file: want exit 2"
[ "$(wc -l <"$T/out")" -eq 7 ] || fail "cut file: want the 7 whole messages first"
grep -q 'cut.lnmsgs: offset 980: truncated message' "$T/err" || fail "cut file: bad error: $(cat "$T/err")"
# a channel_update whose length prefix says 10: decodes as truncated at offset 0
printf '\000\012\001\002\000\000\000\000\000\000\000\000' >"$T/bad.lnmsgs"
$P decode --file "$T/bad.lnmsgs" >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "bad message: want exit 2"
grep -q 'bad.lnmsgs: offset 0: channel_update: ' "$T/err" || fail "bad message: bad error: $(cat "$T/err")"
$P decode >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments: want exit 2"
$P decode --bogus 00 >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option: want exit 2"
$P decode --file /nonexistent/x.lnmsgs >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing file: want exit 2"
$P decode --help | grep -q 'lnmsgs' || fail "--help"
ph_done
