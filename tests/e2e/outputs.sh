#!/bin/sh
# Every output file is written whole or not at all, and an existing one is
# replaced only with --force: for each command that writes files (dump
# --export, replay --json/--csv/--svg, peer --stats-json/--record, gate
# --junit; baselines are gate.sh's), an existing file means exit 2 naming
# it, before any work, the file unchanged; --force replaces it; a write
# killed midway (the file size limit) or failing leaves the old file intact.
# New key files appear whole, mode 0600.
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
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SAMPLE=captures/mainnet-gossip.lnmsgs

run() { # NAME WANT ARGS...
    name=$1 want=$2
    shift 2
    "$PEERHEAP" "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/$name.out" "$T/$name.err"; fail "$name: exit $rc, want $want"; }
    ! grep -q -e "Sanitizer" -e "runtime error" "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}
# exists NAME FILE: the run refused FILE in one line, and FILE is unchanged
exists() {
    [ "$(wc -l <"$T/$1.err")" -eq 1 ] && grep -qF "$2 exists (--force replaces it)" "$T/$1.err" ||
        { cat "$T/$1.err"; fail "$1: want one line saying $2 exists"; }
    [ "$(cat "$2")" = "old $1" ] || fail "$1: $2 changed"
}
old() { echo "old $1" >"$2"; }
tmp_left() { find "$T" -name ".$1.*.tmp" | grep -q .; }

# --- dump --export ---
old export "$T/e.lnmsgs"
run export 2 dump "$SAMPLE" --export "$T/e.lnmsgs"
exists export "$T/e.lnmsgs"
[ ! -s "$T/export.out" ] || fail "export: dump ran although its output exists"
run export-force 0 dump "$SAMPLE" --export "$T/e.lnmsgs" --force
cmp -s "$T/e.lnmsgs" "$SAMPLE" || fail "export-force: not replaced by the export"
# Killed by the file size limit midway through a 4.8 MB export: the old
# file stays. (A capture listed as JSON is read in one pass, with no spool
# file of its own for the limit to stop first.)
FLOOD=captures/gossip-flood.pcap
old killed "$T/k.lnmsgs"
sh -c 'ulimit -f 1000 && "$0" dump "$1" --json --export "$2" --force' "$PEERHEAP" "$FLOOD" \
    "$T/k.lnmsgs" >/dev/null 2>&1 && fail "killed: a 512 KB limit did not stop a 4.8 MB export"
[ "$(cat "$T/k.lnmsgs")" = "old killed" ] || fail "killed: the old file changed"
[ -n "$(find "$T" -name '.k.lnmsgs.*.tmp' -size +0)" ] ||
    fail "killed: no partial temporary file left (was the write interrupted midway?)"
# the write fails (the limit's signal ignored): exit 2, one line, nothing left
old efbig "$T/f.lnmsgs"
sh -c "trap '' XFSZ; ulimit -f 1000 && \"\$0\" dump \"\$1\" --json --export \"\$2\" --force" \
    "$PEERHEAP" "$FLOOD" "$T/f.lnmsgs" >/dev/null 2>"$T/efbig.err"
[ $? -eq 2 ] || fail "efbig: want exit 2"
grep -qx "peerheap: dump: writing $T/f.lnmsgs failed: File too large; nothing was changed there" \
    "$T/efbig.err" || { cat "$T/efbig.err"; fail "efbig: message"; }
[ "$(cat "$T/f.lnmsgs")" = "old efbig" ] || fail "efbig: the old file changed"
! tmp_left f.lnmsgs || fail "efbig: temporary file left behind"
# unusable input: the export is not written
run export-bad 2 dump "$T/none.lnmsgs" --export "$T/n.lnmsgs"
[ ! -e "$T/n.lnmsgs" ] || fail "export-bad: an export of unusable input appeared"

# --- replay --json / --csv / --svg: refused before the replay runs ---
for kind in json csv svg; do
    old "replay-$kind" "$T/r.$kind"
    run "replay-$kind" 2 replay "$SAMPLE" --transport model --strategy exact --"$kind" "$T/r.$kind"
    exists "replay-$kind" "$T/r.$kind"
    [ ! -s "$T/replay-$kind.out" ] || fail "replay-$kind: the replay ran although its output exists"
done
if ph_have_jemalloc "replay --force"; then
    run replay-force 0 replay "$SAMPLE" --transport model --strategy exact --types 258 --json \
        "$T/r.json" --csv "$T/r.csv" --svg "$T/r.svg" --force
    python3 -c "import json; assert json.load(open('$T/r.json'))['strategies'][0]['name'] == 'exact'" ||
        fail "replay-force: JSON not replaced"
    head -n 1 "$T/r.csv" | grep -q "^time_s,strategy," || fail "replay-force: CSV not replaced"
    grep -q "^<svg" "$T/r.svg" || fail "replay-force: SVG not replaced"
    ! tmp_left r.json || fail "replay-force: temporary file left behind"
fi

# --- peer --stats-json and --record: refused at start ---
old peer-stats "$T/s.json"
run peer-stats 2 peer --key "$T/node.key" --listen 0 --stats-json "$T/s.json"
exists peer-stats "$T/s.json"
old peer-record "$T/rec.pcap"
run peer-record 2 peer --key "$T/node.key" --listen 0 --record "$T/rec.pcap"
exists peer-record "$T/rec.pcap"
[ ! -e "$T/stats.json" ] || fail "peer-record: stats"
run peer-force 0 peer --key "$T/node.key" --listen 0 --exit-after-idle 0.1 --stats-json "$T/s.json" \
    --record "$T/rec.pcap" --force
python3 -c "import json; json.load(open('$T/s.json'))['strategies'][0]" || fail "peer-force: stats"
[ "$(od -An -tx1 -N4 "$T/rec.pcap" | tr -d ' ')" = "4d3cb2a1" ] || fail "peer-force: not a pcap"
! tmp_left rec.pcap && ! tmp_left s.json || fail "peer-force: temporary file left behind"
# the new key file: whole, 0600, no temporary left
[ "$(stat -c %a "$T/node.key")" = 600 ] || fail "key file mode"
[ "$(wc -c <"$T/node.key")" -eq 65 ] || fail "key file size"
! tmp_left node.key || fail "key: temporary file left behind"

# --- gate --junit ---
B=captures/baselines/chatty-8peers.json
old junit "$T/j.xml"
run junit 2 gate --baseline "$B" --report "$B" --junit "$T/j.xml"
exists junit "$T/j.xml"
ph_done
