#!/bin/sh
# peerheap replay's views for chasing heap growth, end to end through the
# binary: --gc-model on the acceptance capture (fresh's heap is mostly write
# buffers, reuse holds 64 KiB per peer, the same collections in two model
# runs, off never collects), --peers LIST sweeps, --top, --timeline-peers in
# the CSV, --prof with jeprof (the allocating function, --base between two
# strategies), and every bad value refused with exit 2.
set -u
if [ -f tests/e2e/lib.sh ]; then
    . tests/e2e/lib.sh
else
    # the helpers tests/e2e/lib.sh provides, for a tree without it
    PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
    PH_BUILD=${PH_BUILD:-build}
    fail() { echo "FAIL: $*"; exit 1; }
    ph_sanitizer() { [ "${PH_SANITIZER:-0}" = 1 ] || case "$PH_BUILD" in *asan*) true ;; *) false ;; esac; }
    ph_skip() { ph_sanitizer || fail "would skip $1 ($2) outside a sanitizer build"; echo "SKIP: $1: $2"; }
    ph_have_jemalloc() { ! ph_sanitizer || { ph_skip "$1" "jemalloc statistics unavailable in a sanitizer build"; return 1; }; }
    ph_require_tool() { for _t in "$@"; do command -v "$_t" >/dev/null 2>&1 || fail "$_t is not installed (make deps installs it)"; done; }
    ph_done() { echo "e2e-done: $(basename "$0" .sh)"; }
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
CHATTY=captures/chatty-8peers.pcap
ph_require_tool python3

run() { # NAME WANT ARGS...
    name=$1 want=$2
    shift 2
    "$PEERHEAP" replay "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/$name.err"; fail "$name: exit $rc, want $want"; }
    ! grep -q -e "Sanitizer" -e "runtime error" "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}

# Bad values: one line naming the option, exit 2, nothing run.
run badgc 2 "$CHATTY" --gc-model java
grep -q -- "--gc-model" "$T/badgc.err" || fail "bad --gc-model not named"
run badgogc 2 "$CHATTY" --gc-model go:-5
run badgogc2 2 "$CHATTY" --gc-model go:
for bad in 0 1,,3 1,x 3, 2000000; do
    run badpeers 2 "$CHATTY" --peers "$bad"
    grep -q -- "--peers" "$T/badpeers.err" || fail "bad --peers '$bad' not named"
done
run badtop 2 "$CHATTY" --top 0
run badtl 2 "$CHATTY" --timeline-peers nope
touch "$T/afile"
run badprof 2 "$CHATTY" --prof "$T/afile"
grep -q "not a writable directory" "$T/badprof.err" || fail "--prof on a file"
run badstalled 2 "$CHATTY" --peers 1,8 --stalled 2
[ "$(wc -l <"$T/badgc.err")" -eq 1 ] || fail "more than one line for a bad option"

if ph_sanitizer; then
    # The sanitizer owns free(): the GC model cannot run, and says so.
    run gcsan 2 "$CHATTY" --gc-model go --transport model
    grep -q "sanitizer" "$T/gcsan.err" || fail "sanitizer build: --gc-model refusal not explained"
fi
ph_have_jemalloc "measured views" || { ph_done; exit 0; }

# The GC model on the acceptance capture (8 peers, model transport).
run gc 0 "$CHATTY" --transport model --gc-model go --json "$T/gc.json" --top 2
grep -q "^GC model go:100" "$T/gc.out" || fail "no GC table"
grep -q "write buffers at the peak" "$T/gc.out" || fail "GC table: no write-buffer share"
grep -q "^top 2 message types" "$T/gc.out" || fail "--top: no types"
grep -q "^  reuse    peer [0-9]* 6[0-9.]* KiB (64.0 KiB in 1 buffer)" "$T/gc.out" || fail "--top: reuse's peers"
run gc2 0 "$CHATTY" --transport model --gc-model go --json "$T/gc2.json"
run gcoff 0 "$CHATTY" --transport model --gc-model go:off --strategy exact --json "$T/off.json"
run nogc 0 "$CHATTY" --transport model --strategy exact --json "$T/nogc.json"
python3 - "$T/gc.json" "$T/gc2.json" "$T/off.json" "$T/nogc.json" <<'PY' || fail "GC model figures"
import json, sys
gc, gc2, off, nogc = (json.load(open(p)) for p in sys.argv[1:5])
assert gc["options"]["gc_model"] == "go:100", gc["options"]
assert off["options"]["gc_model"] == "go:off"
# without the model its option and figures are left out, not written as 0
assert "gc_model" not in nogc["options"], nogc["options"]
assert not any(k.startswith("gc_") for k in nogc["strategies"][0]), nogc["strategies"][0]
s = {x["name"]: x for x in gc["strategies"]}
fresh, reuse = s["fresh"], s["reuse"]
# the seed's shape: write buffers (live + garbage) are most of fresh's heap
assert fresh["wbuf_at_peak_bytes"] * 2 >= fresh["peak_live_bytes"], fresh
assert fresh["gc_collections"] > 100 and len(fresh["gc_events"]) == min(fresh["gc_collections"], 1024)
# every byte fresh frees in the phase is garbage given back by a collection
assert fresh["bytes_freed"] == fresh["gc_released_bytes"], fresh
# ... and every buffer it wrote was kept as garbage first (but those in flight)
assert fresh["gc_deferred_bytes"] >= fresh["by_row"]["write_buffers"]["bytes_allocated"] - 64 * 65536
for e in fresh["gc_events"]:
    index, t, goal, before, after, wbuf, forced = e
    assert before >= goal or forced, e          # it ran at the goal
    assert goal >= 4 << 20, e                   # never below the minimum (GOGC=100)
    assert after <= before and wbuf <= before - after, e
# reuse: one 65,535-byte buffer (64 KiB class) per peer, and its state
assert 8 * 65536 <= reuse["wbuf_at_peak_bytes"] <= 8 * 65536 + 8 * 1024, reuse
assert reuse["gc_collections"] == 0
for p in reuse["peers_end"]:
    held, wbuf, queued, buffers = p
    assert wbuf == 65535 and buffers == 1, p
# the model transport is deterministic: the same collections twice
for a, b in zip(gc["strategies"], gc2["strategies"]):
    for k in ("gc_collections", "peak_live_bytes", "wbuf_at_peak_bytes", "gc_released_bytes",
              "gc_events", "end_live_bytes"):
        assert a[k] == b[k], (a["name"], k)
# off: nothing is given back; exact's buffers stay allocated
o = off["strategies"][0]
n = nogc["strategies"][0]
assert o["gc_collections"] == 0 and o["bytes_freed"] == 0, o
assert o["peak_live_bytes"] > 5 * n["peak_live_bytes"], (o["peak_live_bytes"], n["peak_live_bytes"])
assert o["bytes_allocated"] == n["bytes_allocated"]
assert "sweep" not in nogc and "sweep" not in gc
PY

# A sweep: each count its own replay; table, JSON and the plot against peers.
"$PH_BUILD/tests/test_lnsession" --write-fixtures "$T" >/dev/null || fail "fixture generation"
run sweep 0 "$T/good.pcap" --transport model --peers 1,3,12 --strategy fresh,reuse,pool \
    --json "$T/sweep.json" --svg "$T/sweep.svg"
grep -q "^sweep: each peer count is its own replay" "$T/sweep.out" || fail "no sweep table"
grep -q "^held per peer  *1 peer  *3 peers  *12 peers" "$T/sweep.out" || fail "sweep header"
grep -q "^peers: 12 " "$T/sweep.out" || fail "the table is not the last count's"
grep -q "Memory against peers" "$T/sweep.svg" || fail "sweep svg title"
[ "$(grep -c "<polyline" "$T/sweep.svg")" -eq 6 ] || fail "sweep svg: a peak and an end line per strategy"
python3 - "$T/sweep.json" <<'PY' || fail "sweep JSON"
import json, sys
r = json.load(open(sys.argv[1]))
pts = r["sweep"]
assert [(p["peers"], p["name"]) for p in pts] == \
    [(n, s) for n in (1, 3, 12) for s in ("fresh", "reuse", "pool")], pts
assert r["options"]["peers"] == 12 and len(r["strategies"]) == 3
reuse = {p["peers"]: p for p in pts if p["name"] == "reuse"}
# per-peer buffers grow with the peers: 64 KiB more per peer, at least
assert reuse[12]["end_live_bytes"] - reuse[1]["end_live_bytes"] >= 11 * 65536, reuse
assert all(p["writes"] > 0 and p["writes_per_second"] > 0 for p in pts)
PY

# Per-peer series: the CSV gains a row per chosen peer and sample.
run tl 0 "$T/good.pcap" --transport model --peers 4 --strategy fresh,reuse --timeline-peers 2 \
    --csv "$T/tl.csv"
head -1 "$T/tl.csv" | grep -q "^time_s,strategy,live_bytes,active_bytes,resident_bytes,queued_bytes,peer,buffers$" ||
    fail "per-peer csv header"
python3 - "$T/tl.csv" <<'PY' || fail "per-peer csv rows"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for s in ("fresh", "reuse"):
    agg = [r for r in rows if r["strategy"] == s and r["peer"] == ""]
    peers = sorted({r["peer"] for r in rows if r["strategy"] == s and r["peer"] != ""})
    assert len(peers) == 2, (s, peers)
    for p in peers:
        pr = [r for r in rows if r["strategy"] == s and r["peer"] == p]
        assert len(pr) == len(agg) > 10, (s, p, len(pr), len(agg))
        assert [r["time_s"] for r in pr] == [r["time_s"] for r in agg]
    if s == "reuse":  # its one buffer, at every sample
        assert all(r["buffers"] == "1" for r in rows if r["strategy"] == s and r["peer"] != "")
PY

# Heap profiles: peerheap restarts itself with jemalloc's profiler on; the
# profiles name the allocating function, and --base compares strategies.
ph_require_tool jeprof
run prof 0 "$CHATTY" --strategy fresh,reuse --gc-model go --prof "$T/prof"
for f in fresh.heap fresh.peak.heap reuse.heap reuse.peak.heap; do
    [ -s "$T/prof/$f" ] || fail "--prof: no $f"
done
! ls -a "$T/prof" | grep -q "tmp" || fail "--prof left a temporary file"
# profiles already there are kept without --force: exit 2 before the run
sum=$(cat "$T/prof/reuse.heap" | cksum)
run profexists 2 "$CHATTY" --strategy reuse --prof "$T/prof"
grep -qF "$T/prof/reuse.heap exists (--force replaces it)" "$T/profexists.err" ||
    { cat "$T/profexists.err"; fail "--prof: an existing profile not refused"; }
[ ! -s "$T/profexists.out" ] || fail "--prof: the replay ran although its profile exists"
[ "$(cat "$T/prof/reuse.heap" | cksum)" = "$sum" ] || fail "--prof: the existing profile changed"
jeprof --text "$PEERHEAP" "$T/prof/fresh.peak.heap" >"$T/jeprof.txt" 2>"$T/jeprof.err" || fail "jeprof"
awk 'NR <= 6' "$T/jeprof.txt" | grep -q "ph_wbuf__alloc" || { cat "$T/jeprof.txt"; fail "jeprof: write buffers not at the top"; }
jeprof --text --base "$T/prof/reuse.peak.heap" "$PEERHEAP" "$T/prof/fresh.peak.heap" \
    >"$T/base.txt" 2>/dev/null || fail "jeprof --base"
grep -q "ph_wbuf__alloc" "$T/base.txt" || fail "jeprof --base: no write buffers"
jeprof --text --alloc_space "$PEERHEAP" "$T/prof/fresh.heap" 2>/dev/null | awk 'NR <= 4' |
    grep -q "ph_wbuf__alloc" || fail "jeprof --alloc_space"
# A MALLOC_CONF that turns the profiler off wins over ours: refused, no loop.
(MALLOC_CONF=prof:false && export MALLOC_CONF && run proffalse 2 "$CHATTY" --strategy exact \
    --prof "$T/prof2") || exit 1
grep -q "profiler is still off" "$T/proffalse.err" || fail "profiler off: not explained"
ph_done
