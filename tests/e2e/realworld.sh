#!/bin/sh
# Captures as users have them (issue 12): one BOLT 8 session (made by
# test_lnsession --write-fixtures, deterministic) read by peerheap dump
#  1. from pcapng with three interfaces of different link types and
#     snapshot lengths, in both byte orders;
#  2. behind 200,000 half-open connections, and behind 70,000 connections
#     that carry data: found, and the evictions said first;
#  3. from standard input, a pipe and a FIFO, in text, JSON and --export,
#     and by replay: read once;
#  4. with its acts lost: every message decrypted, every byte accounted;
#  5. with a flipped bit in a body: blamed on the capture, one message lost;
#  6. with its key log as users find it (BOM, CRLF, timestamps, a node's
#     log, extra fields, a partial last line, UTF-16; LIGHTNINGKEYLOGFILE);
#  7. captured from the middle: decrypted from a logged key's frame on;
#  and the minor items: a filter blind to VLAN tags says so; NFLOG, PKTAP,
#  PPP, PPPoE, GRE, ERSPAN, VXLAN, Geneve and IP-in-IP read like Ethernet.
# Every run has a deadline (a hang fails); no timing is asserted.
set -u
if [ -f tests/e2e/lib.sh ]; then
    . tests/e2e/lib.sh
else
    PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
    PH_BUILD=${PH_BUILD:-build}
    fail() { echo "FAIL: $*"; exit 1; }
    ph_done() { echo "e2e-done: realworld"; }
fi
GEN="$PH_BUILD/tests/test_lnsession"
[ -x "$GEN" ] || fail "missing $GEN (make tests-build)"
command -v python3 >/dev/null 2>&1 || fail "python3 is a test dependency (make deps)"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
unset LIGHTNINGKEYLOGFILE
"$GEN" --write-fixtures "$T" >/dev/null || fail "fixture generation"
cd "$T" || exit 1
read -r n0 n1 <rw.counts
total=$((n0 + n1))

# run NAME WANT ARGS...: peerheap with a deadline; NAME.out, NAME.err
run() {
    name=$1 want=$2
    shift 2
    timeout 120 "$PEERHEAP" "$@" >"$name.out" 2>"$name.err"
    rc=$?
    [ "$rc" -ne 124 ] || fail "$name: no answer within 120 s"
    ! grep -q -e "Sanitizer" -e "runtime error" "$name.err" || { cat "$name.err"; fail "$name: sanitizer"; }
    [ "$rc" -eq "$want" ] || { tail -5 "$name.err"; fail "$name: exit $rc, want $want"; }
}
has() { grep -qF -- "$2" "$1" || { tail -20 "$1"; fail "$1 lacks: $2"; }; }
messages() { # NAME: messages in its JSON output
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["summary"]["messages"])' "$1.out"
}

# --- 1. several interfaces ---
for f in multi.pcapng multi-be.pcapng; do
    run "$f" 0 dump "$f" --keylog rw.pcap.keys --json
    [ "$(messages "$f")" -eq "$total" ] || fail "$f: $(messages "$f") messages, want $total"
done

# --- 2. more connections than the table holds ---
run flood 0 dump flood.pcap --keylog rw.pcap.keys
has flood.out "# flood.pcap: 134465 TCP connections that carried no data (half-open: a scan or a flood) evicted from the connection table (more than 65536 open at once)"
has flood.out "1 session, $total messages, 0 problems"
run flooddata 1 dump flooddata.pcap --keylog rw.pcap.keys
has flooddata.out "1 session, $total messages, "
# the drops come first, before the 10,000 capped lines of the flood
first=$(sed -n '/^problems:/{n;p;q}' flooddata.out)
case "$first" in
*"4465 TCP connections evicted from the connection table (more than 65536 open at once; 4465 had carried data, 0 were Lightning sessions)"*) ;;
*) fail "flooddata: first problem is: $first" ;;
esac
has flooddata.out "more problems not shown"

# --- 3. standard input, pipes, FIFOs: read once, every output ---
run file 0 dump rw.pcap --keylog rw.pcap.keys --json --export file.lnmsgs
cat rw.pcap | timeout 120 "$PEERHEAP" dump - --keylog rw.pcap.keys --json --export stdin.lnmsgs \
    >stdin.out 2>stdin.err || fail "stdin json: $(cat stdin.err)"
cmp -s file.out stdin.out || fail "stdin: JSON differs from the file's"
[ -s stdin.lnmsgs ] && cmp -s file.lnmsgs stdin.lnmsgs || fail "stdin: --export differs from the file's"
cat rw.pcap | timeout 120 "$PEERHEAP" dump - --keylog rw.pcap.keys >stdin-text.out 2>stdin-text.err ||
    fail "stdin text: $(cat stdin-text.err)"
has stdin-text.out "== -"
has stdin-text.out "-> initiator: $n0 messages"
has stdin-text.out "1 session, $total messages, 0 problems"
mkfifo cap.fifo
cat rw.pcap >cap.fifo &
writer=$!
run fifo 0 dump cap.fifo --keylog rw.pcap.keys
wait "$writer" || fail "fifo writer"
has fifo.out "1 session, $total messages, 0 problems"
# replay measures with jemalloc: a declared skip in sanitizer builds
if ph_have_jemalloc replay-from-stdin; then
    cat rw.pcap | timeout 300 "$PEERHEAP" replay - --keylog rw.pcap.keys --transport model \
        --strategy exact --quiet >replay.out 2>replay.err || fail "replay from stdin: $(cat replay.err)"
    has replay.out "session 1: replaying"
fi

# --- 4. acts lost, SYN seen: every message, every byte accounted ---
run actslost 1 dump actslost.pcap
has actslost.out "handshake not captured: found by a logged key's frame"
has actslost.out "1 session, 1120 messages"
has actslost.out "66 not decrypted; 50 missing from the capture"
run actslost-nokeys 1 dump actslost.pcap --keylog /dev/null
has actslost-nokeys.out "bytes (and 50 missing from the capture) sent"

# --- 5. blame ---
run body 1 dump body.pcap
has body.out "bad MAC on the body of message 0 in 127.0.0.1:9735 -> 127.0.0.1:40312 (frame at stream offset 50"
has body.out "so the key is right and the frame's bytes are damaged in the capture; that message is lost"
has body.out "1 session, 1119 messages"

# --- 6. key logs as they are found ---
python3 - rw.pcap.keys <<'EOF' || fail "writing key logs"
import sys
lines = open(sys.argv[1]).read().splitlines()
messy = ["\ufeffnode starting", "2026-11-30 08:00:00 [INF] PEER: connecting"]
messy += ["2026-11-30 08:00:01.%03d [DBG] BRONTIDE: keylog %s extra=field" % (i, l)
          for i, l in enumerate(lines)]
messy.append(lines[0][:50])  # a last line still being written
open("messy.keys", "w", encoding="utf-8", newline="").write("\r\n".join(messy))
open("utf16.keys", "w", encoding="utf-16", newline="").write("\r\n".join(lines) + "\r\n")
EOF
run messy 0 dump rw.pcap --keylog messy.keys
has messy.err "messy.keys: line 1: warning: no '<32 hex mac> <64 hex key>' on it; line skipped"
has messy.err "messy.keys: line $(($(wc -l <rw.pcap.keys) + 3)): warning: incomplete last line"
has messy.out "1 session, $total messages, 0 problems"
run utf16 0 dump rw.pcap --keylog utf16.keys --json
has utf16.err "utf16.keys: note: key log read as UTF-16LE"
cp rw.pcap other.pcap
run nokeylog 1 dump other.pcap
has nokeylog.out "other.pcap: note: no key log (no --keylog, no other.pcap.keys or other.keys, LIGHTNINGKEYLOGFILE not set)"
export LIGHTNINGKEYLOGFILE="$T/rw.pcap.keys"
run envkeys 0 dump other.pcap
unset LIGHTNINGKEYLOGFILE
has envkeys.out "1 session, $total messages, 0 problems"
run missingkeys 2 dump rw.pcap --keylog nope.keys
has missingkeys.err "nope.keys: cannot read key log: No such file or directory"

# --- 7. captured from the middle ---
run midstream 1 dump midstream.pcap
has midstream.out "127.0.0.1:9735 -> 127.0.0.1:40312: the handshake was not captured: decrypted from stream offset"
has midstream.out "handshake not captured: found by a logged key's frame; roles guessed"
has midstream.out "1 session, 600 messages"

# --- minor: VLAN tags and the filter, link types and tunnels ---
run vlanfilter 1 dump vlan.pcap --keylog rw.pcap.keys --filter "tcp port 9735"
has vlanfilter.out "a BPF filter looks inside 802.1Q tags only after 'vlan' (e.g. 'vlan and tcp port 9735'"
run vlanfilter2 0 dump vlan.pcap --keylog rw.pcap.keys --filter "vlan and tcp port 9735" --json
[ "$(messages vlanfilter2)" -eq "$total" ] || fail "vlan and: $(messages vlanfilter2) messages"
for f in nflog pktap ppp pppoe gre erspan vxlan geneve ipip vlan; do
    run "$f" 0 dump "$f.pcap" --keylog rw.pcap.keys --json
    [ "$(messages "$f")" -eq "$total" ] || fail "$f: $(messages "$f") messages, want $total"
done
echo "realworld ok"
ph_done
