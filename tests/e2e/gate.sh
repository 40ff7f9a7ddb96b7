#!/bin/sh
# peerheap gate and peerheap diff end to end: the committed baselines
# (captures/baselines/) pass with the real replay, so a library change that
# costs memory fails `make test` naming the figure; a baseline tightened by
# one allocation fails (exit 1) naming strategy and figure, in text, JUnit
# (checked with an XML parser) and GitHub annotations; a tolerance and an
# improvement; exit 2 with one line for a corrupt baseline, a baseline of
# another capture or options, a truncated report, a missing baseline and
# bad options; an interrupted --write-baseline leaves the old baseline
# intact; diff of a report with itself shows no change.
set -u
if [ -f tests/e2e/lib.sh ]; then
    . tests/e2e/lib.sh
else # the shared helpers' contract (tests/e2e/lib.sh), until that file exists
    PH_NAME=$(basename "$0" .sh)
    PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
    PH_BUILD=${PH_BUILD:-build}
    fail() { echo "FAIL: $*"; exit 1; }
    ph_have_jemalloc() {
        case "${PH_SANITIZER:-0}:$PH_BUILD" in
        1:* | *asan*) echo "SKIP: $1: jemalloc statistics unavailable in a sanitizer build"; return 1 ;;
        esac
        return 0
    }
    ph_done() { echo "e2e-done: $PH_NAME"; }
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
unset GITHUB_ACTIONS
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
B=captures/baselines
FLOOD=$B/gossip-flood-4peers.json
CHATTY=$B/chatty-8peers.json

run() { # NAME WANT ARGS...: peerheap ARGS, stdout and stderr in $T/NAME.out/.err
    name=$1 want=$2
    shift 2
    "$PEERHEAP" "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/$name.out" "$T/$name.err"; fail "$name: exit $rc, want $want"; }
    ! grep -q -e "Sanitizer" -e "runtime error" "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}
one_line() { # NAME TEXT: stderr is one line, and it says TEXT
    [ "$(wc -l <"$T/$1.err")" -eq 1 ] || { cat "$T/$1.err"; fail "$1: want one line on stderr"; }
    grep -qF -- "$2" "$T/$1.err" || { cat "$T/$1.err"; fail "$1: stderr does not say '$2'"; }
}
has() { grep -qF -- "$2" "$T/$1" || { cat "$T/$1"; fail "$1 does not say '$2'"; }; }
# edit FILE OUT PYTHON: OUT = FILE's JSON changed by PYTHON (acting on r)
edit() {
    python3 - "$1" "$2" "$3" <<'PY' || fail "editing $1"
import json, sys
r = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(r, open(sys.argv[2], "w"), indent=2)
PY
}
strategy() { echo "[s for s in r['strategies'] if s['name'] == '$1'][0]"; }

for b in "$FLOOD" "$CHATTY"; do
    [ -f "$b" ] || fail "$b is missing"
done
sum_flood=$(sha256sum "$FLOOD")
sum_chatty=$(sha256sum "$CHATTY")

# --- a report judged against itself passes (no replay: --report) ---
run self 0 gate --baseline "$CHATTY" --report "$CHATTY"
has self.out "gate: PASS: "
[ "$(tail -n 1 "$T/self.out" | cut -c1-11)" = "gate: PASS:" ] || fail "the verdict is not the last line"
! grep -q "^::" "$T/self.out" || fail "annotations without GITHUB_ACTIONS"

# --- one allocation tighter: exit 1, strategy and figure named ---
edit "$FLOOD" "$T/tight.json" "$(strategy exact)['by_row']['write_buffers']['allocations'] -= 1"
allocs=$(python3 -c "import json; r = json.load(open('$FLOOD')); print($(strategy exact)['by_row']['write_buffers']['allocations'])")
run tight 1 gate --baseline "$T/tight.json" --report "$FLOOD" --junit "$T/tight.xml"
grep -q "^exact  *by_row.write_buffers.allocations  *$((allocs - 1))  *$allocs  *+1 (.*FAIL$" "$T/tight.out" ||
    { cat "$T/tight.out"; fail "tight: no FAIL line for exact by_row.write_buffers.allocations"; }
[ "$(grep -c ' FAIL$' "$T/tight.out")" -eq 1 ] || fail "tight: other figures failed too"
tail -n 1 "$T/tight.out" | grep -q "^gate: FAIL: 1 of [0-9]* gated figures regressed beyond 0% of $T/tight.json; worst: exact by_row.write_buffers.allocations: baseline $((allocs - 1)), now $allocs, delta +1 " ||
    { tail -n 1 "$T/tight.out"; fail "tight: verdict"; }
# the JUnit file: valid XML, one test case per strategy and gated figure,
# the one failure carrying baseline, now and delta
python3 - "$T/tight.xml" "$T/tight.out" "$allocs" <<'PY' || fail "tight: JUnit"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites", root.tag
suite, = root.findall("testsuite")
cases = suite.findall("testcase")
gated = sum(1 for l in open(sys.argv[2]) if l.rstrip().endswith(("PASS", "FAIL", "(improved)")))
assert len(cases) == gated == int(suite.get("tests")) == int(root.get("tests")), (len(cases), gated)
assert len({(c.get("classname"), c.get("name")) for c in cases}) == len(cases), "duplicate test cases"
failed = [c for c in cases if c.find("failure") is not None]
assert len(failed) == 1 == int(suite.get("failures")) == int(root.get("failures")), len(failed)
c = failed[0]
assert (c.get("classname"), c.get("name")) == ("peerheap.gate.exact", "by_row.write_buffers.allocations")
msg = c.find("failure").get("message")
n = int(sys.argv[3])
assert f"baseline {n - 1}, now {n}, delta +1 (" in msg, msg
assert {cl.get("classname") for cl in cases} == {f"peerheap.gate.{s}" for s in
        ("fresh", "exact", "reuse", "pool", "ring", "tiered")}
PY
# in GitHub Actions: an ::error annotation for the regression
GITHUB_ACTIONS=true run tight-gh 1 gate --baseline "$T/tight.json" --report "$FLOOD"
[ "$(grep -c '^::error ' "$T/tight-gh.out")" -eq 1 ] || { cat "$T/tight-gh.out"; fail "tight-gh: want one ::error"; }
grep -q "^::error file=$T/tight.json,title=peerheap gate%3A exact by_row.write_buffers.allocations::exact by_row.write_buffers.allocations: baseline $((allocs - 1)), now $allocs, delta +1 (" \
    "$T/tight-gh.out" || { grep "^::" "$T/tight-gh.out"; fail "tight-gh: ::error line"; }
# a tolerance lets it pass
run tolerant 0 gate --baseline "$T/tight.json" --report "$FLOOD" --tolerance 0.01
has tolerant.out "gate: PASS: "

# --- one allocation looser: passes, and says the baseline can be tightened ---
edit "$FLOOD" "$T/loose.json" "$(strategy pool)['by_row']['queue']['allocations'] += 1"
GITHUB_ACTIONS=true run loose 0 gate --baseline "$T/loose.json" --report "$FLOOD"
tail -n 1 "$T/loose.out" | grep -q "; 1 improved (best: pool by_row.queue.allocations: .*): baseline can be tightened: --write-baseline$" ||
    { tail -n 1 "$T/loose.out"; fail "loose: verdict"; }
grep -q "^::notice file=.*title=peerheap gate%3A pool by_row.queue.allocations::" "$T/loose.out" ||
    fail "loose: no ::notice"

# --- unusable input: exit 2, one line ---
echo "not json {" >"$T/corrupt.json"
run corrupt 2 gate --baseline "$T/corrupt.json" --report "$FLOOD" --junit "$T/corrupt.xml"
one_line corrupt "gate: baseline $T/corrupt.json: not a valid report: line 1"
python3 -c "
import sys, xml.etree.ElementTree as ET
r = ET.parse('$T/corrupt.xml').getroot()
e = r.find('testsuite/testcase/error')
assert e is not None and 'corrupt.json' in e.get('message') and r.get('errors') == '1'
" || fail "corrupt: the JUnit file does not carry the error"
edit "$FLOOD" "$T/nofigure.json" "del $(strategy ring)['peak_live_bytes']"
run nofigure 2 gate --baseline "$T/nofigure.json" --report "$FLOOD"
one_line nofigure "not a valid report: strategies[4] (ring): peak_live_bytes: missing"
run other 2 gate --baseline "$CHATTY" --report "$FLOOD"
one_line other "not comparable with baseline $CHATTY: input 1: sha256 "
has other.err "options.peers: 8 in the baseline, 4 now"
GITHUB_ACTIONS=true run other-gh 2 gate --baseline "$CHATTY" --report "$FLOOD"
grep -q "^::error .*::not comparable with baseline" "$T/other-gh.out" || fail "other-gh: no ::error"
run other-allowed 1 gate --baseline "$CHATTY" --report "$FLOOD" --allow-input-change
has other-allowed.out "gate: warning: judging despite differences from the baseline"
head -c 3000 "$FLOOD" >"$T/truncated.json"
run truncated 2 gate --baseline "$FLOOD" --report "$T/truncated.json"
one_line truncated "gate: report $T/truncated.json: not a valid report: line "
run nobaseline 2 gate --baseline "$T/none.json" --report "$FLOOD"
one_line nobaseline "baseline $T/none.json: No such file or directory (write one with --write-baseline)"
run nocapture 2 gate --baseline "$FLOOD" "$T/none.pcap"
has nocapture.err "none.pcap"
run usage-nobaseline 2 gate captures/gossip-flood.pcap
one_line usage-nobaseline "--baseline FILE is required"
run usage-socket 2 gate --baseline "$FLOOD" captures/gossip-flood.pcap --transport socket
one_line usage-socket "model transport"
run usage-tolerance 2 gate --baseline "$FLOOD" --report "$FLOOD" --tolerance -1
one_line usage-tolerance "invalid value '-1' for --tolerance"
run usage-both 2 gate --baseline "$FLOOD" --report "$FLOOD" captures/gossip-flood.pcap
one_line usage-both "no captures or replay options"
run usage-unknown 2 gate --baseline "$FLOOD" --report "$FLOOD" --frobnicate
one_line usage-unknown "unknown option '--frobnicate'"
run usage-novalue 2 gate --report "$FLOOD" --baseline
one_line usage-novalue "option '--baseline' needs a value"

# --- --write-baseline: atomic, and the only way a baseline is replaced ---
cp "$FLOOD" "$T/w.json"
before=$(sha256sum <"$T/w.json")
# killed by the file size limit (SIGXFSZ) in the middle of the write
# (an inner shell waits for it, so its "File size limit exceeded" goes to the log)
sh -c 'ulimit -f 8 && "$0" gate --baseline "$1" --write-baseline --report "$2"' \
    "$PEERHEAP" "$T/w.json" "$CHATTY" >"$T/killed.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "killed: a 4 KiB limit did not stop a $(wc -c <"$CHATTY")-byte write"
[ "$(sha256sum <"$T/w.json")" = "$before" ] || fail "killed: the old baseline changed"
[ -n "$(find "$T" -name '.w.json.*.tmp' -size +0)" ] || fail "killed: no partial temporary file (not interrupted midway?)"
# the same limit, the signal ignored: the write fails, the run says so
(trap '' XFSZ && ulimit -f 8 && exec "$PEERHEAP" gate --baseline "$T/w2.json" --write-baseline \
    --report "$CHATTY") >"$T/efbig.out" 2>"$T/efbig.err"
[ $? -eq 2 ] || fail "efbig: want exit 2"
one_line efbig "gate: writing $T/w2.json failed: File too large; nothing was changed there"
[ ! -e "$T/w2.json" ] || fail "efbig: a partial baseline appeared"
# completed: replaced, and it passes
run rewrite 0 gate --baseline "$T/w.json" --write-baseline --report "$CHATTY"
has rewrite.out "gate: wrote baseline $T/w.json (6 strategies, 2 input files)"
cmp -s "$T/w.json" "$CHATTY" || fail "rewrite: a baseline written from a baseline differs from it"
run rewritten 0 gate --baseline "$T/w.json" --report "$CHATTY"
# pretty JSON, keys in schema order: the committed files are what the writer writes
python3 - "$T/w.json" <<'PY' || fail "baseline layout"
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text)
assert text.startswith('{\n  "peerheap": {\n    "version": ')
assert list(r) == ["peerheap", "input", "options", "strategies"], list(r)
assert list(r["strategies"][0])[:3] == ["name", "writes", "write_bytes"]
assert all(len(f["sha256"]) == 64 for f in r["input"]["files"])
PY
# a JUnit file that exists is kept unless --force
echo keep >"$T/kept.xml"
run junit-exists 2 gate --baseline "$FLOOD" --report "$FLOOD" --junit "$T/kept.xml"
one_line junit-exists "$T/kept.xml exists (--force replaces it)"
[ "$(cat "$T/kept.xml")" = keep ] || fail "junit-exists: the file changed"
run junit-force 0 gate --baseline "$FLOOD" --report "$FLOOD" --junit "$T/kept.xml" --force
python3 -c "import xml.etree.ElementTree as ET; ET.parse('$T/kept.xml')" || fail "junit-force: not XML"

# --- diff ---
run diff-self 0 diff "$FLOOD" "$FLOOD"
has diff-self.out "0 of "
! grep -q "^[a-z]* .* [+-][0-9]" "$T/diff-self.out" || fail "diff-self: a change shown"
run diff-self-json 0 diff "$FLOOD" "$FLOOD" --json
python3 -c "
import json
d = json.load(open('$T/diff-self-json.out'))
assert d['figures'] and all(f['delta'] == 0 and f['a'] == f['b'] for f in d['figures'])
assert d['only_in_a'] == d['only_in_b'] == []
assert {f['kind'] for f in d['figures']} == {'gated', 'info', 'drift'}
" || fail "diff-self --json"
run diff-tight 0 diff "$T/tight.json" "$FLOOD"
grep -q "^exact  *by_row.write_buffers.allocations  *$((allocs - 1))  *$allocs  *+1 (" "$T/diff-tight.out" ||
    fail "diff-tight: the changed figure"
has diff-tight.out "1 of "
run diff-corrupt 2 diff "$FLOOD" "$T/corrupt.json"
one_line diff-corrupt "diff: $T/corrupt.json: not a valid report: line 1"
run diff-one 2 diff "$FLOOD"

# gate runs never touched the committed baselines
[ "$(sha256sum "$FLOOD")" = "$sum_flood" ] && [ "$(sha256sum "$CHATTY")" = "$sum_chatty" ] ||
    fail "a gate run changed a committed baseline"

# --- the real replays against the committed baselines ---
if ph_have_jemalloc "gate of the committed baselines"; then
    run flood 0 gate --baseline "$FLOOD" captures/gossip-flood.pcap --peers 4 --junit "$T/flood.xml"
    has flood.out "gate: PASS: "
    run chatty 0 gate --baseline "$CHATTY" captures/chatty-8peers.pcap --json "$T/chatty.json"
    has chatty.out "gate: PASS: "
    # what the gate replayed is a report diff and gate read back
    run chatty-again 0 gate --baseline "$CHATTY" --report "$T/chatty.json"
    run diff-replay 0 diff "$CHATTY" "$T/chatty.json"
    # and the one-allocation regression, caught by a real run
    run real-tight 1 gate --baseline "$T/tight.json" captures/gossip-flood.pcap --peers 4
    tail -n 1 "$T/real-tight.out" | grep -q "^gate: FAIL: 1 of .* worst: exact by_row.write_buffers.allocations: " ||
        { tail -n 3 "$T/real-tight.out"; fail "real-tight: verdict"; }
    # another option than the baseline's: exit 2 naming it
    run real-peers 2 gate --baseline "$FLOOD" captures/gossip-flood.pcap --peers 2
    one_line real-peers "options.peers: 4 in the baseline, 2 now"
    # peer --stats-json writes the same schema
    "$PEERHEAP" peer --key "$T/k" --listen 0 --exit-after-idle 0.2 --stats-json "$T/stats.json" \
        >/dev/null 2>&1 || fail "peer --stats-json"
    run diff-stats 0 diff "$T/stats.json" "$T/stats.json"
fi
ph_done
