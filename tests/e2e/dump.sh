#!/bin/sh
# peerheap dump on generated captures: exit codes 0 (all decrypted), 1
# (partial: truncated file, gap, wrong key, no key, non-Lightning stream,
# a key log line without a key), 2 (unusable: garbage, missing, missing
# key log, bad options); JSON output,
# export byte-exact, pcapng, filter; .lnmsgs files listed as one session
# (text and JSON, malformed records by offset); nothing crashes on damaged
# input.
# The captures are real BOLT 8 sessions made by the test binary
# test_lnsession (--write-fixtures), deterministic.
set -u
. tests/e2e/lib.sh
ph_require_tool python3 editcap
BUILD=$PH_BUILD
GEN="$BUILD/tests/test_lnsession"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Under sanitizers a finding must not pass for exit status 1 ("partial").
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
sanitizer() { grep -q -e "Sanitizer" -e "runtime error" "$1"; }

[ -x "$GEN" ] || fail "missing $GEN (make tests-build)"
"$GEN" --write-fixtures "$T" >/dev/null || fail "fixture generation"

# run NAME EXPECTED_RC ARGS...: stdout in $T/NAME.out, stderr in $T/NAME.err
run() {
    name=$1 want=$2
    shift 2
    "$PEERHEAP" dump "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/$name.err"; fail "$name: exit $rc, want $want"; }
    ! sanitizer "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}
has() { grep -q -- "$2" "$T/$1" || { cat "$T/$1"; fail "$1 lacks: $2"; }; }

cd "$T" || exit 1

# --- good capture: everything decrypted ---
run good-json 0 good.pcap --json --export good-out.lnmsgs
cmp good-out.lnmsgs good.lnmsgs || fail "export differs from the messages sent"
read n0 n1 <good.counts
total=$((n0 + n1))
lines=$(wc -l <good-json.out)
[ "$lines" -eq $((total + 1)) ] || fail "json lines $lines, want $((total + 1))"
python3 - "$total" good-json.out <<'EOF' || fail "json content"
import json, sys
total = int(sys.argv[1])
rows = [json.loads(l) for l in open(sys.argv[2])]
s = rows[-1]["summary"]
assert s["sessions"] == 1 and s["messages"] == total and s["problems"] == [], s
assert sum(s["by_type"].values()) == total
msgs = rows[:-1]
for k in ("ts", "session", "src", "dst", "type", "name", "len"):
    assert all(k in m for m in msgs), k
assert msgs[0]["name"] == "init" and msgs[0]["src"] == "127.0.0.1:40312"
assert all(msgs[i]["ts"] <= msgs[i + 1]["ts"] for i in range(len(msgs) - 1))
assert max(m["len"] for m in msgs) == 65535
EOF
run good-text 0 good.pcap
has good-text.out "session 1: 127.0.0.1:40312 -> 127.0.0.1:9735"
has good-text.out "-> initiator: $n0 messages"
has good-text.out "<- responder: $n1 messages"
has good-text.out "totals by type:"
has good-text.out "1 session, $total messages, 0 problems"

# default key log name with the extension replaced; --keylog overrides
cp good.pcap alt.pcap && cp good.pcap.keys alt.keys
run alt 0 alt.pcap --json
cmp good-json.out alt.out || fail "alt.keys not picked up"
run override 1 good.pcap --keylog wrong.keys --json
has override.err "bad MAC on the length header of the first frame under key 1 in 127.0.0.1:40312 -> 127.0.0.1:9735 at stream offset 116"

# pcapng gives the same result
editcap -F pcapng good.pcap good.pcapng && cp good.pcap.keys good.pcapng.keys || fail "editcap -F pcapng"
run pcapng 0 good.pcapng --json
cmp good-json.out pcapng.out || fail "pcapng output differs"

# two captures, one numbering
run two 0 good.pcap alt.pcap --json
python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert r[-1]["summary"]["sessions"]==2; assert r[-2]["session"]==2' <two.out || fail "two captures"

# a BPF filter that keeps nothing
run filtered 1 good.pcap --filter "tcp port 1" --json
has filtered.out '"sessions":0'
run badfilter 2 good.pcap --filter "tcp port ((("

# --- .lnmsgs: listed like a one-session capture ---
run lnm-json 0 good.lnmsgs --json --export lnm-again.lnmsgs
cmp lnm-again.lnmsgs good.lnmsgs || fail ".lnmsgs export differs from the file"
python3 - "$total" lnm-json.out good-json.out <<'EOF' || fail ".lnmsgs json"
import json, sys
total = int(sys.argv[1])
rows = [json.loads(l) for l in open(sys.argv[2])]
s = rows[-1]["summary"]
assert s["sessions"] == 1 and s["messages"] == total and s["problems"] == [], s
msgs = rows[:-1]
off = 0
for m in msgs:
    assert m["session"] == 1 and m["offset"] == off, m
    for k in ("ts", "ts_ns", "dir", "src", "dst"):
        assert m[k] is None, (k, m)
    off += 2 + m["len"]
# the same messages as the capture they were exported from, in order
cap = [json.loads(l) for l in open(sys.argv[3])][:-1]
assert [(m["type"], m["name"], m["len"]) for m in msgs] == \
    [(m["type"], m["name"], m["len"]) for m in cap]
EOF
run lnm-text 0 good.lnmsgs
has lnm-text.out "^== good.lnmsgs$"
has lnm-text.out "^session 1: .lnmsgs file: one sender, no endpoints or times"
has lnm-text.out "^  -> sender   : $total messages"
has lnm-text.out "^@0  *#1   -> init "
has lnm-text.out "^1 session, $total messages, 0 problems$"
# after a capture, its session number follows the capture's
run lnm-two 0 good.pcap good.lnmsgs --json
python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; assert r[-1]["summary"]["sessions"]==2; assert r[-2]["session"]==2 and r[-2]["src"] is None' <lnm-two.out ||
    fail "capture + .lnmsgs numbering"
# malformed: the record's offset, exit 2, none of its messages listed
cut=$(python3 -c '
d = open("good.lnmsgs", "rb").read(); off = 0
while off + 2 + int.from_bytes(d[off:off+2], "big") <= 1000: off += 2 + int.from_bytes(d[off:off+2], "big")
print(off)')
head -c 1000 good.lnmsgs >cut.lnmsgs
run lnm-cut 2 cut.lnmsgs --json
has lnm-cut.err "^peerheap: cut.lnmsgs: offset $cut: record truncated or shorter than a message type$"
[ "$(wc -l <lnm-cut.out)" -eq 1 ] || fail "malformed .lnmsgs: messages listed"
has lnm-cut.out '"sessions":0,"messages":0'
run lnm-cut-text 2 cut.lnmsgs
has lnm-cut-text.out "^  cut.lnmsgs: offset $cut: record truncated"
! grep -q "^@" lnm-cut-text.out || fail "malformed .lnmsgs: messages listed (text)"
printf '\000\001\000' >short.lnmsgs
run lnm-short 2 short.lnmsgs
has lnm-short.err "short.lnmsgs: offset 0: record truncated or shorter than a message type"
run lnm-missing 2 missing.lnmsgs
has lnm-missing.err "^peerheap: missing.lnmsgs: cannot read: No such file or directory$"

# --- damaged captures: partial ---
size=$(wc -c <good.pcap)
head -c $((size - 1000)) good.pcap >trunc.pcap && cp good.pcap.keys trunc.pcap.keys
run trunc 1 trunc.pcap --json
has trunc.err "capture truncated after record"
run gap 1 gap.pcap
has gap.out "gap in 127.0.0.1:9735 -> 127.0.0.1:40312 at stream offset 15000"
has gap.out "INCOMPLETE"
cp good.pcap nokeys.pcap
run nokeys 1 nokeys.pcap
has nokeys.out "no key for 127.0.0.1:40312 -> 127.0.0.1:9735"
has nokeys.out "no key for 127.0.0.1:9735 -> 127.0.0.1:40312"
run http 1 http.pcap --json
has http.out "not a Lightning session"

# a key log line without a key is a warning with its number, not a failure
run badline 1 good.pcap --keylog badline.keys
has badline.err "badline.keys: line 3: warning: looks like a key line but is not"

# --- unusable input ---
head -c 4096 /dev/urandom >garbage.pcap
run garbage 2 garbage.pcap
: >empty.pcap
run empty 2 empty.pcap
run missing 2 missing.pcap
run dir 2 .
run nokeyfile 2 good.pcap --keylog missing.keys
run mixed 2 good.pcap garbage.pcap --json
has mixed.out '"messages":'"$total"
run noargs 2
run badopt 2 good.pcap --bogus
run noval 2 good.pcap --keylog
run badexport 2 good.pcap --export /nonexistent/dir/x.lnmsgs

# --- damaged bytes anywhere: never a crash ---
i=0
while [ $i -lt 25 ]; do
    python3 - "$i" >fuzz.pcap <<'EOF'
import random, sys
data = bytearray(open("good.pcap", "rb").read())
rnd = random.Random(int(sys.argv[1]))
for _ in range(rnd.randint(1, 200)):
    p = rnd.randrange(24, len(data))
    data[p] = rnd.randrange(256)
if rnd.random() < 0.3:
    data = data[:rnd.randrange(24, len(data))]
sys.stdout.buffer.write(data)
EOF
    cp good.pcap.keys fuzz.pcap.keys
    "$PEERHEAP" dump fuzz.pcap --json >/dev/null 2>fuzz.err
    rc=$?
    [ $rc -le 2 ] || fail "fuzz $i: exit $rc"
    ! sanitizer fuzz.err || { cat fuzz.err; fail "fuzz $i: sanitizer"; }
    i=$((i + 1))
done
ph_done
