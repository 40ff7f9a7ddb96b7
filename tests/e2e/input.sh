#!/bin/sh
# One input pipeline for dump and replay (lib/lninput): the same failure is
# worded the same by both commands; replay takes, per session, the side that
# sent more message bytes (checked against dump --json's listing, counted
# here), --from overrides it, --types keeps the same messages dump --types
# lists, and many sessions get the grouped summary.
set -u
. tests/e2e/lib.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
sanitizer() { grep -q -e "Sanitizer" -e "runtime error" "$1"; }
CHATTY=captures/chatty-8peers.pcap

# Sanitizer builds have no jemalloc statistics: replay then stops after
# loading its input (the side lines are printed by then), with no report.
measured=1
ph_have_jemalloc measured-replays || measured=0

# replay NAME ARGS...: stdout $T/NAME.out, stderr $T/NAME.err, status $T/NAME.rc
# (sh has no local variables: callers must not use $name)
replay() {
    name=$1
    shift
    "$PEERHEAP" replay --sink model --strategy exact --linger 0 --quiet "$@" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
    ! sanitizer "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}
dump() {
    name=$1
    shift
    "$PEERHEAP" dump "$@" >"$T/$name.out" 2>"$T/$name.err"
    echo $? >"$T/$name.rc"
    ! sanitizer "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}
rc() { cat "$T/$1.rc"; }

# --- the same failure, the same words ---
# Each case: the problem lines dump --json prints on stderr are exactly the
# first lines replay prints, and both exit with the status given.
same() { # NAME DUMP_RC REPLAY_RC ARGS...
    c=$1 drc=$2 rrc=$3
    shift 3
    dump "d-$c" --json "$@"
    replay "r-$c" "$@"
    [ "$(rc "d-$c")" -eq "$drc" ] || { cat "$T/d-$c.err"; fail "$c: dump exit $(rc "d-$c"), want $drc"; }
    [ "$(rc "r-$c")" -eq "$rrc" ] || { cat "$T/r-$c.err"; fail "$c: replay exit $(rc "r-$c"), want $rrc"; }
    [ -s "$T/d-$c.err" ] || fail "$c: dump said nothing"
    n=$(wc -l <"$T/d-$c.err")
    head -n "$n" "$T/r-$c.err" >"$T/r-$c.head"
    cmp -s "$T/d-$c.err" "$T/r-$c.head" ||
        { echo "dump:"; cat "$T/d-$c.err"; echo "replay:"; cat "$T/r-$c.err"; fail "$c: worded differently"; }
}
same missing 2 2 "$T/nope.pcap"
grep -qx "peerheap: $T/nope.pcap: cannot read: No such file or directory" "$T/d-missing.err" ||
    fail "missing file: $(cat "$T/d-missing.err")"
same wrongkey 1 2 captures/damaged-wrongkey.pcap
grep -q "damaged-wrongkey.pcap: session 1: bad MAC on the length header of the first frame under key 1 in .* at stream offset 116" "$T/d-wrongkey.err" ||
    fail "wrong key: $(cat "$T/d-wrongkey.err")"
grep -q "no messages to replay" "$T/r-wrongkey.err" || fail "wrong key: replay did not say why it stopped"
same otherkeys 1 2 captures/gossip-flood.pcap --keylog "$CHATTY.keys"
grep -q "session 1: no key for" "$T/d-otherkeys.err" || fail "another capture's key log"
same nokeyfile 2 2 "$CHATTY" --keylog "$T/nope.keys"
grep -q "nope.keys: cannot read key log" "$T/d-nokeyfile.err" || fail "missing key log"
head -n 2 "$CHATTY.keys" >"$T/bad.keys" && echo "not a key" >>"$T/bad.keys"
same badline 1 1 "$CHATTY" --keylog "$T/bad.keys"
grep -q "bad.keys: line 3: warning: no '<32 hex mac> <64 hex key>' on it; line skipped" \
    "$T/d-badline.err" || fail "bad key log line"
head -c 1000 captures/mainnet-gossip.lnmsgs >"$T/cut.lnmsgs"
same cutlnmsgs 2 2 "$T/cut.lnmsgs"
grep -qx "peerheap: $T/cut.lnmsgs: offset 980: record truncated or shorter than a message type" \
    "$T/d-cutlnmsgs.err" || fail "malformed .lnmsgs: $(cat "$T/d-cutlnmsgs.err")"
same notcapture 2 2 captures/README.md
grep -q "README.md: not a pcap or pcapng capture" "$T/d-notcapture.err" || fail "not a capture"
cp captures/damaged-gap.pcap "$T/nokeys.pcap"
same nokeylog 1 2 "$T/nokeys.pcap"
grep -q "nokeys.pcap: note: no key log" "$T/d-nokeylog.err" || fail "no key log note"
same http 1 2 captures/damaged-http.pcap
grep -q "no Lightning session found (1 TCP connection, " "$T/d-http.err" || fail "not Lightning"

# --- the node under study: the side that sent more bytes ---
dump chatty --json "$CHATTY"
[ "$(rc chatty)" -eq 0 ] || fail "dump chatty"
# session -> the sender of more bytes, counted from dump's messages
python3 - "$T/chatty.out" >"$T/larger.txt" <<'PY' || fail "counting chatty"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][:-1]
by = {}
for r in rows:
    s = by.setdefault(r["session"], {})
    b = s.setdefault(r["src"], [0, 0, r["dst"]])
    b[0] += r["len"]; b[1] += 1
for sid in sorted(by):
    (src, (nbytes, n, dst)), = [max(by[sid].items(), key=lambda kv: kv[1][0])]
    total = sum(v[0] for v in by[sid].values())
    print(sid, src, dst, nbytes, total, n)
PY
[ "$(wc -l <"$T/larger.txt")" -eq 8 ] || fail "chatty: not 8 sessions"
replay side "$CHATTY" --json "$T/side.json"
grep -q "^session " "$T/side.out" || { cat "$T/side.out" "$T/side.err"; fail "no side lines"; }
# "session 1: replaying A -> B, 5,002 messages (sent 884,683 of 884,771 bytes)"
while read -r sid src dst nbytes total n; do
    line=$(grep "^session $sid: " "$T/side.out") || fail "no line for session $sid"
    want=$(python3 -c "import sys; a=[int(x) for x in sys.argv[1:]]; print('{:,} messages (sent {:,} of {:,} bytes)'.format(*a))" "$n" "$nbytes" "$total")
    [ "$line" = "session $sid: replaying $src -> $dst, $want" ] ||
        fail "session $sid: '$line', want the larger sender $src ($want)"
done <"$T/larger.txt"
if [ $measured = 1 ]; then
    [ "$(rc side)" -eq 0 ] || { cat "$T/side.err"; fail "replay chatty: exit $(rc side)"; }
    python3 - "$T/side.json" "$T/larger.txt" <<'PY' || fail "chatty: JSON sides"
import json, sys
r = json.load(open(sys.argv[1]))
want = [l.split() for l in open(sys.argv[2])]
sides = r["input"]["sides"]
assert [(s["session"], s["node"], s["peer"], s["node_bytes"], s["session_bytes"], s["messages"])
        for s in sides] == [(int(a), b, c, int(d), int(e), int(f)) for a, b, c, d, e, f in want], sides
assert all(s["chosen_by"] == "bytes" and s["role"] == "responder" for s in sides), sides
assert r["input"]["messages"] == sum(int(w[5]) for w in want)
# each session sent one init and one filter, as the node sends its own instead
assert r["strategies"][0]["writes"] == r["input"]["messages"]
assert r["options"]["from"] == "" and r["options"]["types"] == ""
PY
fi

# --- --from overrides: the initiator of session 5, the other side ---
read -r sid src dst nbytes total n <<EOF
$(sed -n 5p "$T/larger.txt")
EOF
replay from "$CHATTY" --from "$dst" --json "$T/from.json"
grep -q "^session 5: replaying $dst -> $src, 2 messages (--from; sent 88 of $(python3 -c "print('{:,}'.format($total))") bytes)$" "$T/from.out" ||
    { cat "$T/from.out"; fail "--from: session 5"; }
[ "$(grep -c "not replayed: --from is not one of its endpoints" "$T/from.out")" -eq 7 ] ||
    { cat "$T/from.out"; fail "--from: the other seven sessions"; }
if [ $measured = 1 ]; then
    python3 - "$T/from.json" "$dst" <<'PY' || fail "--from: JSON"
import json, sys
r = json.load(open(sys.argv[1]))
s, = r["input"]["sides"]
assert (s["session"], s["node"], s["role"], s["chosen_by"], s["messages"]) == \
    (5, sys.argv[2], "initiator", "from", 2), s
assert r["input"]["messages"] == 2 and r["options"]["from"] == sys.argv[2]
PY
fi
replay fromnone "$CHATTY" --from 10.9.9.9:1
[ "$(rc fromnone)" -eq 2 ] || fail "--from matching nothing: exit $(rc fromnone)"
grep -q "no messages to replay" "$T/fromnone.err" || fail "--from matching nothing: no reason"
replay frombad "$CHATTY" --from nonsense
[ "$(rc frombad)" -eq 2 ] || fail "--from nonsense: exit $(rc frombad)"

# --- --types: what replay keeps is what dump --types lists on that side ---
for types in channel_update "init,258" 257; do
    dump types --json --types "$types" "$CHATTY"
    want=$(python3 - "$T/types.out" "$T/larger.txt" <<'PY'
import json, sys
node = {int(l.split()[0]): l.split()[1] for l in open(sys.argv[2])}
rows = [json.loads(l) for l in open(sys.argv[1])][:-1]
print(sum(1 for r in rows if r["src"] == node[r["session"]]))
PY
)
    replay types "$CHATTY" --types "$types" --json "$T/types.json" --force
    got=$(sed -n 's/^session [0-9]*: replaying .*, \([0-9,]*\) messages (.*/\1/p' "$T/types.out" | tr -d , |
        awk '{s += $1} END {print s + 0}')
    [ "$got" -eq "$want" ] || { cat "$T/types.out"; fail "--types $types: replayed $got, dump lists $want"; }
    if [ $measured = 1 ]; then
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['input']['messages']==int(sys.argv[2]), r['input']['messages']; assert r['options']['types']==sys.argv[3]" \
            "$T/types.json" "$want" "$types" || fail "--types $types: JSON"
        grep -q "types: $types" "$T/types.out" || fail "--types $types: not on the table's options line"
    fi
done
replay badtypes "$CHATTY" --types channel_update,nonesuch
[ "$(rc badtypes)" -eq 2 ] || fail "--types with an unknown name: exit $(rc badtypes)"
grep -q "replay: --types 'channel_update,nonesuch': not a list of message types" "$T/badtypes.err" ||
    fail "--types unknown name: $(cat "$T/badtypes.err")"
dump badtypes --types channel_update,nonesuch "$CHATTY"
[ "$(rc badtypes)" -eq 2 ] || fail "dump --types unknown name"
replay notypes "$CHATTY" --types 65000
[ "$(rc notypes)" -eq 2 ] || fail "--types matching nothing: exit $(rc notypes)"
grep -q "session 1: not replayed: its node sent no message of the --types" "$T/notypes.out" ||
    { cat "$T/notypes.out"; fail "--types matching nothing: no reason per session"; }

# --- many sessions: grouped, one line per node ---
replay many "$CHATTY" captures/gossip-flood.pcap captures/mainnet-gossip.lnmsgs
grep -q "^10 sessions, 10 replayed: in each, the side that sent more bytes$" "$T/many.out" ||
    { cat "$T/many.out"; fail "grouped summary header"; }
node=$(awk 'NR == 1 {print $2}' "$T/larger.txt")
grep -q "^  $node in 8 sessions, 40,016 messages (sent 7,077,464 of 7,078,168 bytes)$" "$T/many.out" ||
    { cat "$T/many.out"; fail "grouped summary: chatty's node"; }
grep -q "^  .lnmsgs in 1 session, 28,809 messages" "$T/many.out" || fail "grouped summary: .lnmsgs"
[ "$(grep -c "^session " "$T/many.out")" -eq 0 ] || fail "grouped summary also listed sessions"
echo "input e2e ok"
ph_done
