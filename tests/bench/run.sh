#!/bin/sh
# make bench: every speed and memory goal of the project, one Markdown table
# each, measured in this one run on this machine (README "make bench" says
# how to read them). Timing lives here, never in the tests.
#   sh tests/bench/run.sh BUILD
# Environment: PH_BENCH_QUICK=1 runs fewer rounds (a smoke run, not figures).
set -u
BUILD=${1:-build}
PEERHEAP="$(pwd)/$BUILD/peerheap"
B="$BUILD/bench"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
CORES=$(nproc 2>/dev/null || echo 1)
quick=${PH_BENCH_QUICK:-0}
r() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }
status=0
step() { "$@" || { echo "(failed: $*)"; status=1; }; }
now() { date +%s.%N; }

# ---- what ran, where ----
ver() { "$@" 2>/dev/null | head -n 1; }
echo "# make bench"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- CPU: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $CORES cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- peerheap $("$PEERHEAP" --version 2>/dev/null | awk '{print $NF}') ($(git rev-parse --short HEAD 2>/dev/null || echo 'no git')), BOLT 8 cipher: $(grep -qw avx2 /proc/cpuinfo && echo 'our AVX2 ChaCha20' || echo 'libsodium (no AVX2 here)')"
echo "- $(ver cc --version); libsodium $(pkg-config --modversion libsodium 2>/dev/null); jemalloc $(pkg-config --modversion jemalloc 2>/dev/null); $(uname -sr)"
echo "- node $(ver node --version), @node-lightning/noise $(cd tests/interop 2>/dev/null && node -p "require('@node-lightning/noise/package.json').version" 2>/dev/null); $(ver tshark --version)"
echo

# ---- 1. the write path ----
echo "## 1. Write path: at least 2.0x the naive libsodium framing"
echo
NL=""
if command -v node >/dev/null 2>&1; then
    if ! (cd tests/interop && node -e "require('@node-lightning/noise')") >/dev/null 2>&1 &&
       command -v npm >/dev/null 2>&1; then
        (cd tests/interop && timeout 300 npm ci --ignore-scripts --no-audit --no-fund) >"$T/npm.log" 2>&1
    fi
    (cd tests/interop && node -e "require('@node-lightning/noise')") >/dev/null 2>&1 && NL="--nl tests/bench/nl_frame.js"
fi
[ -n "$NL" ] || echo "(node-lightning not installed: its row is left out; make deps and npm ci in tests/interop install it)"
# shellcheck disable=SC2086
step "$B/bench_writepath" captures/mainnet-gossip.lnmsgs --rounds "$(r 15 3)" $NL
echo "lnd's brontide (Go, assembly ChaCha20-Poly1305), measured on this machine class when the"
echo "project was planned: 1.66-2.2 M messages/s for the same messages (encrypt only)."
echo

# ---- 2. --jobs ----
echo "## 2. Strategies in parallel: --jobs"
echo
JARGS="captures/gossip-flood.pcap --peers $(r 16 4) --transport model --strategy all --quiet"
rounds=$(r 3 1)
: >"$T/jobs1.times"
: >"$T/jobsN.times"
i=0
while [ $i -lt "$rounds" ]; do
    for j in 1 "$CORES"; do
        t0=$(now)
        # shellcheck disable=SC2086
        "$PEERHEAP" replay $JARGS --jobs "$j" --json "$T/jobs$j.$i.json" >/dev/null 2>"$T/jobs.err" ||
            { echo "(replay --jobs $j failed: $(tail -n 1 "$T/jobs.err"))"; status=1; }
        echo "$(now) $t0" | awk '{print $1 - $2}' >>"$T/jobs$( [ "$j" = 1 ] && echo 1 || echo N).times"
    done
    i=$((i + 1))
done
python3 - "$T" "$rounds" "$CORES" "$JARGS" <<'EOF' || status=1
import json, statistics, sys
d, rounds, cores, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
machine = {"cpu_seconds", "wall_seconds", "writes_per_second", "mib_per_second",
           "peak_active_bytes", "peak_resident_bytes", "concurrent"}
def det(s):
    return {k: v for k, v in s.items() if k not in machine}
def load(j, i):
    return json.load(open(f"{d}/jobs{j}.{i}.json"))
same = True
for i in range(rounds):
    a, b = load(1, i), load(cores, i)
    for x, y in zip(a["strategies"], b["strategies"]):
        if det(x) != det(y):
            same = False
walls = {k: [float(l) for l in open(f"{d}/jobs{k}.times")] for k in ("1", "N")}
cpu = {k: [sum(s["cpu_seconds"] for s in load(j, i)["strategies"]) for i in range(rounds)]
       for k, j in (("1", 1), ("N", cores))}
print(f"`peerheap replay {args}`, the whole command's wall time, median of {rounds} interleaved rounds.\n")
print("| --jobs | wall s | strategies' CPU s | speed-up | every figure but times identical to --jobs 1 |")
print("|---:|---:|---:|---:|---|")
w1 = statistics.median(walls["1"])
for k, j in (("1", 1), ("N", cores)):
    w = statistics.median(walls[k])
    print(f"| {j} | {w:.1f} | {statistics.median(cpu[k]):.1f} | {w1 / w:.2f} | {'yes' if same else 'NO'} |")
print()
sys.exit(0 if same else 1)
EOF

# ---- 3. 1,000 peers ----
echo "## 3. 1,000 peers: under 60 s wall"
echo
t0=$(now)
"$PEERHEAP" replay captures/gossip-flood.pcap --peers "$(r 1000 100)" --transport model --strategy all \
    --quiet --json "$T/k.json" >"$T/k.out" 2>"$T/k.err" || { echo "(failed: $(tail -n 1 "$T/k.err"))"; status=1; }
t1=$(now)
python3 - "$T/k.json" "$t0" "$t1" "$CORES" <<'EOF' || status=1
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
o = r["options"]
print(f"`peerheap replay captures/gossip-flood.pcap --peers {o['peers']} --transport model --strategy all` "
      f"(--jobs {o.get('jobs', 1)} on {sys.argv[4]} cores), one run: **{wall:.1f} s wall** for the whole command.\n")
print("| strategy | writes | CPU s | wall s | strategies running at once |")
print("|---|---:|---:|---:|---:|")
for s in r["strategies"]:
    print(f"| {s['name']} | {s['writes']:,} | {s['cpu_seconds']:.1f} | {s['wall_seconds']:.1f} | {s.get('concurrent', 1)} |")
tot = sum(s["cpu_seconds"] for s in r["strategies"])
print(f"| all | {sum(s['writes'] for s in r['strategies']):,} | {tot:.1f} | | |\n")
EOF

# ---- 4. idle peers ----
echo "## 4. Idle connected peers: under 2 KiB for exact and pool"
echo
step "$B/bench_idle" $(r "100 1000" "10 100")

# ---- 5. decode side ----
echo "## 5. Decode side: dump --json at least 5x faster than tshark -r"
echo
step "$B/bench_decode" "$PEERHEAP" captures/*.pcap --rounds "$(r 7 1)"

# ---- 6. harness overhead ----
echo "## 6. Harness overhead: under 5%"
echo
step "$B/bench_measure" captures/mainnet-gossip.lnmsgs --rounds "$(r 7 1)"
step "$B/bench_alloctrack"

# ---- 7. generated views ----
echo "## 7. Reading gossip fields: generated views against the engine"
echo
step "$B/bench_views" captures/mainnet-gossip.lnmsgs --rounds "$(r 15 1)"
exit $status
