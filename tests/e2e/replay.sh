#!/bin/sh
# peerheap replay end to end on generated captures (real BOLT 8 sessions made
# by test_lnsession --write-fixtures): the table, --json schema, --csv,
# --svg, model determinism through the CLI, --verify over the socket sink,
# and exit codes 0 / 1 (damaged capture) / 2 (bad options, unusable input).
set -u
. tests/e2e/lib.sh
ph_require_tool python3
BUILD=$PH_BUILD
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"

"$BUILD/tests/test_lnsession" --write-fixtures "$T" >/dev/null || fail "fixture generation"
msgs=$(awk '{print $1 + $2}' "$T/good.counts")

# Sanitizer builds have no jemalloc statistics: only the exit codes are
# checked there (the replay refuses to measure without them, naming
# jemalloc) and the measured part is a declared skip. Every other build
# measures, or fails.
measured=1
ph_have_jemalloc measured-replays || measured=0
"$PEERHEAP" replay "$T/good.pcap" --strategy fresh --sink model --quiet >"$T/probe.out" 2>"$T/probe.err"
rc=$?
if [ $measured = 1 ]; then
    [ $rc -eq 0 ] || { cat "$T/probe.err"; fail "a measured replay exited $rc"; }
else
    [ $rc -ne 0 ] && grep -q "jemalloc" "$T/probe.err" ||
        { cat "$T/probe.err"; fail "sanitizer build: the unmeasured replay did not refuse naming jemalloc (exit $rc)"; }
fi

run() { # NAME WANT ARGS...
    name=$1 want=$2
    shift 2
    "$PEERHEAP" replay "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/$name.err"; fail "$name: exit $rc, want $want"; }
    ! grep -q -e "Sanitizer" -e "runtime error" "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}

# Unusable input and bad options: exit 2 with one line naming the problem.
run nofile 2 "$T/nope.pcap"
grep -q "nope.pcap" "$T/nofile.err" || fail "missing file not named"
run garbage 2 "$T/good.pcap.keys" --sink model
run badkeys 2 "$T/good.pcap" --keylog "$T/badline.keys"
grep -q "line 3" "$T/badkeys.err" || fail "bad key log line not named"
run badstrat 2 "$T/good.pcap" --strategy fresh,nonesuch
run badsink 2 "$T/good.pcap" --sink pipe
run badpace 2 "$T/good.pcap" --pace y3
run verifymodel 2 "$T/good.pcap" --sink model --verify
run toomanystalled 2 "$T/good.pcap" --peers 2 --stalled 3
run nocapture 2 --sink model
run unknownopt 2 "$T/good.pcap" --frobnicate
run http 2 "$T/http.pcap" --sink model
grep -q "not a Lightning session" "$T/http.err" || fail "non-Lightning stream not reported"

if [ $measured = 0 ]; then
    ph_done
    exit 0
fi

# The table, all strategies, model sink.
run table 0 "$T/good.pcap" --sink model --peers 3 --json "$T/a.json" --csv "$T/a.csv" --svg "$T/a.svg"
for s in fresh exact reuse pool ring tiered; do grep -q " $s" "$T/table.out" || fail "no column $s"; done
grep -q "peers: 3  sink: model  pace: asap" "$T/table.out" || fail "header line"
grep -q "idle" "$T/table.out" || fail "verdict line"
python3 - "$T/a.json" "$msgs" <<'PY' || fail "json schema"
import json, sys
r = json.load(open(sys.argv[1]))
msgs = int(sys.argv[2])
assert r["peerheap"]["version"]
assert r["input"]["messages"] == msgs and r["input"]["sessions"] == 1
assert r["options"]["peers"] == 3 and r["options"]["sink"] == "model"
names = [s["name"] for s in r["strategies"]]
assert names == ["fresh", "exact", "reuse", "pool", "ring", "tiered"], names
for s in r["strategies"]:
    for k in ("writes", "allocations", "bytes_allocated", "bytes_freed", "peak_live_bytes",
              "end_live_bytes", "held_bytes_per_peer", "peak_active_bytes",
              "peak_resident_bytes", "cpu_seconds", "wall_seconds", "writes_per_second",
              "verified", "mismatches", "by_type"):
        assert k in s, k
    assert s["writes"] == 3 * msgs
    assert sum(t["writes"] for t in s["by_type"].values()) == s["writes"]
fresh = r["strategies"][0]
assert fresh["bytes_allocated"] >= 65536 * fresh["writes"]
PY
head -1 "$T/a.csv" | grep -q "^time_s,strategy,live_bytes,active_bytes,resident_bytes,queued_bytes$" || fail "csv header"
[ "$(grep -c ',ring,' "$T/a.csv")" -gt 10 ] || fail "csv has few ring samples"
grep -q "<svg" "$T/a.svg" && grep -q "live heap" "$T/a.svg" && grep -q "</svg>" "$T/a.svg" || fail "svg"
[ "$(grep -c "<polyline" "$T/a.svg")" -eq 6 ] || fail "svg lines"

# Deterministic figures are identical between two model runs.
run again 0 "$T/good.pcap" --sink model --peers 3 --json "$T/b.json"
python3 - "$T/a.json" "$T/b.json" <<'PY' || fail "model runs differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = ("writes", "allocations", "bytes_allocated", "peak_live_bytes", "held_bytes_per_peer")
for x, y in zip(a["strategies"], b["strategies"]):
    for k in keys:
        assert x[k] == y[k], (x["name"], k, x[k], y[k])
PY

# Socket sink with verification: every frame arrives as captured.
run verify 0 "$T/good.pcap" --peers 4 --strategy exact,ring --verify --json "$T/v.json"
python3 - "$T/v.json" "$msgs" <<'PY' || fail "verify counts"
import json, sys
r = json.load(open(sys.argv[1])); msgs = int(sys.argv[2])
for s in r["strategies"]:
    assert s["verified"] == 4 * msgs and s["mismatches"] == 0, s["name"]
PY

# Only one side (--from), and a damaged capture replays what it has, exit 1.
run from 0 "$T/good.pcap" --sink model --strategy exact --from 127.0.0.1:9735 --json "$T/f.json"
python3 - "$T/f.json" "$T/good.counts" <<'PY' || fail "--from"
import json, sys
r = json.load(open(sys.argv[1])); a, b = map(int, open(sys.argv[2]).read().split())
assert r["input"]["messages"] in (a, b) and r["input"]["messages"] != a + b, r["input"]
PY
run gap 1 "$T/gap.pcap" --sink model --strategy reuse
grep -q "gap" "$T/gap.err" || fail "gap not reported"
grep -q "reuse" "$T/gap.out" || fail "gap: no table"
run wrongkey 1 "$T/good.pcap" --keylog "$T/wrong.keys" --sink model --strategy exact
grep -q "bad MAC\|no key" "$T/wrongkey.err" || fail "wrong key not reported"
ph_done
