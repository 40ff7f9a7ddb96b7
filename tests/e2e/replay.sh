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
# What the responder (127.0.0.1:9735) sent, less the link messages a node
# makes itself (init, ping, pong, gossip_timestamp_filter): what a replay of
# that side sends each peer, counted from dump's own listing.
"$PEERHEAP" dump "$T/good.pcap" --json >"$T/dump.jsonl" || fail "dump of the fixture"
replayed=$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("src") == "127.0.0.1:9735" and "type" in o and o["type"] not in (16, 18, 19, 265):
        n += 1
print(n)' "$T/dump.jsonl")
[ "$replayed" -gt 100 ] || fail "fixture: only $replayed replayable messages"
SIDE="--from 127.0.0.1:9735"
# ... which is also the side that sent more, replayed by default
msgs=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    if "src" in r and "len" in r:
        b = by.setdefault(r["src"], [0, 0]); b[0] += r["len"]; b[1] += 1
assert max(by, key=lambda k: by[k][0]) == "127.0.0.1:9735", by
print(by["127.0.0.1:9735"][1])' "$T/dump.jsonl") || fail "counting the larger side"

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
run badkeys 1 "$T/good.pcap" --keylog "$T/badline.keys"
grep -q "line 3" "$T/badkeys.err" || fail "bad key log line not named"
run badstrat 2 "$T/good.pcap" --strategy fresh,nonesuch
run badsink 2 "$T/good.pcap" --sink pipe
run badpace 2 "$T/good.pcap" --pace y3
run toomanystalled 2 "$T/good.pcap" --peers 2 --stalled 3
run nocapture 2 --sink model
run unknownopt 2 "$T/good.pcap" --frobnicate
run badjobs 2 "$T/good.pcap" --jobs 0
grep -q -- "--jobs" "$T/badjobs.err" || fail "bad --jobs not named"
run http 2 "$T/http.pcap" --sink model
grep -q "not a Lightning session" "$T/http.err" || fail "non-Lightning stream not reported"

if [ $measured = 0 ]; then
    ph_done
    exit 0
fi

# The table, all strategies, model transport.
# shellcheck disable=SC2086
run table 0 "$T/good.pcap" $SIDE --transport model --peers 3 --linger 0 --json "$T/a.json" \
    --csv "$T/a.csv" --svg "$T/a.svg"
for s in fresh exact reuse pool ring tiered; do grep -q " $s" "$T/table.out" || fail "no column $s"; done
grep -q "peers: 3  transport: model  pace: asap  encode: stored" "$T/table.out" || fail "header line"
grep -q "idle" "$T/table.out" || fail "verdict line"
python3 - "$T/a.json" "$replayed" <<'PY' || fail "json schema"
import json, sys
r = json.load(open(sys.argv[1]))
replayed = int(sys.argv[2])
assert r["peerheap"]["version"]
assert r["input"]["sessions"] == 1
assert r["options"]["peers"] == 3 and r["options"]["sink"] == "model"
assert r["options"]["encode"] == "stored" and r["options"]["linger_seconds"] == 0
names = [s["name"] for s in r["strategies"]]
assert names == ["fresh", "exact", "reuse", "pool", "ring", "tiered"], names
for s in r["strategies"]:
    for k in ("writes", "allocations", "bytes_allocated", "bytes_freed", "peak_live_bytes",
              "end_live_bytes", "held_bytes_per_peer", "peak_active_bytes",
              "peak_resident_bytes", "cpu_seconds", "wall_seconds", "writes_per_second",
              "verified", "mismatches", "by_type", "by_row", "partial_writes",
              "would_block", "virtual_seconds"):
        assert k in s, k
    # each peer: its own init and filter, then the replayed messages
    assert s["writes"] == 3 * (replayed + 2), (s["name"], s["writes"])
    assert sum(t["writes"] for t in s["by_type"].values()) == s["writes"]
    assert set(s["by_row"]) == {"other", "write_buffers", "queue", "decode", "session"}
fresh = r["strategies"][0]
assert fresh["by_row"]["write_buffers"]["bytes_allocated"] == 65536 * 3 * replayed
PY
head -1 "$T/a.csv" | grep -q "^time_s,strategy,live_bytes,active_bytes,resident_bytes,queued_bytes$" || fail "csv header"
[ "$(grep -c ',ring,' "$T/a.csv")" -gt 10 ] || fail "csv has few ring samples"
grep -q "<svg" "$T/a.svg" && grep -q "live heap" "$T/a.svg" && grep -q "</svg>" "$T/a.svg" || fail "svg"
[ "$(grep -c "<polyline" "$T/a.svg")" -eq 6 ] || fail "svg lines"

# Deterministic figures are identical between two model runs, one of them
# measuring the strategies three at a time (--jobs), which it says.
# shellcheck disable=SC2086
run again 0 "$T/good.pcap" $SIDE --sink model --peers 3 --linger 0 --jobs 3 --json "$T/b.json"
grep -q "measured with up to [23] strategies running at once" "$T/again.out" ||
    fail "--jobs 3: no note that times were taken side by side"
python3 - "$T/a.json" "$T/b.json" <<'PY' || fail "model runs differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert b["options"]["jobs"] == 3, b["options"]
assert max(s["concurrent"] for s in b["strategies"]) > 1
keys = ("writes", "allocations", "bytes_allocated", "peak_live_bytes", "end_live_bytes",
        "held_bytes_per_peer", "by_row", "by_type", "partial_writes", "would_block")
for x, y in zip(a["strategies"], b["strategies"]):
    for k in keys:
        assert x[k] == y[k], (x["name"], k, x[k], y[k])
PY

# Verification over both transports: every frame arrives as captured.
# shellcheck disable=SC2086
run verify 0 "$T/good.pcap" $SIDE --peers 4 --strategy exact,ring --verify --json "$T/v.json"
# shellcheck disable=SC2086
run verifymodel 0 "$T/good.pcap" $SIDE --peers 4 --transport model --strategy pool --verify \
    --json "$T/vm.json"
python3 - "$T/v.json" "$T/vm.json" "$replayed" <<'PY' || fail "verify counts"
import json, sys
replayed = int(sys.argv[3])
for path in sys.argv[1:3]:
    r = json.load(open(path))
    for s in r["strategies"]:
        assert s["verified"] == 4 * replayed and s["mismatches"] == 0, (path, s["name"])
PY

# The other side (--from the initiator), and a damaged capture replays what
# it has, exit 1.
run from 0 "$T/good.pcap" --sink model --strategy exact --from 127.0.0.1:40312 --json "$T/f.json"
python3 - "$T/f.json" "$T/good.counts" "$msgs" <<'PY' || fail "--from"
import json, sys
r = json.load(open(sys.argv[1])); a, b = map(int, open(sys.argv[2]).read().split())
larger = int(sys.argv[3])
assert r["input"]["messages"] == a + b - larger, r["input"]
side = r["input"]["sides"][0]
assert side["node"] == "127.0.0.1:40312" and side["chosen_by"] == "from", side
assert side["role"] == "initiator" and side["messages"] == r["input"]["messages"], side
PY
run gap 1 "$T/gap.pcap" --sink model --strategy reuse
grep -q "gap" "$T/gap.err" || fail "gap not reported"
grep -q "reuse" "$T/gap.out" || fail "gap: no table"
run wrongkey 1 "$T/good.pcap" --keylog "$T/wrong.keys" --sink model --strategy exact
grep -q "bad MAC\|no key" "$T/wrongkey.err" || fail "wrong key not reported"
ph_done
