#!/bin/sh
# make fuzz: run every libFuzzer target in BUILD/fuzz for SECONDS seconds
# each, from its seed corpus tests/fuzz/corpus/<target> (plus, for capture,
# keylog and lnmsgs, the malformed corpus in tests/malformed). New inputs
# go to BUILD/fuzz-work/<target> (thrown away next run); a crash, leak,
# sanitizer report or timeout fails the run and leaves its input in
# BUILD/crashes/<target>/: copy it into tests/fuzz/corpus/<target>/ as
# regress-<what> with the fix, so that every later run replays it.
# Prints one line per target: executions, new corpus size, verdict.
set -u
BUILD=${1:-build-fuzz}
SECS=${2:-30}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
failed=""
# the capture target decrypts with the generator's keys
cat tests/malformed/*.keys 2>/dev/null | grep -aE '^[0-9a-f]{32} [0-9a-f]{64}$' | sort -u >"$T/keys"
export PH_FUZZ_KEYLOG="$T/keys"
export TMPDIR="$T"
for bin in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    seeds="tests/fuzz/corpus/$name"
    work="$BUILD/fuzz-work/$name"
    crashes="$BUILD/crashes/$name"
    rm -rf "$work"
    mkdir -p "$work" "$crashes" "$seeds"
    extra=""
    case "$name" in
    capture | keylog | lnmsgs) extra=tests/malformed ;;
    esac
    case "$name" in
    capture | lnmsgs | report) maxlen=65536 ;;
    wire) maxlen=65537 ;;
    chachapoly) maxlen=64 ;; # key, nonce, length and flips: the frame is generated from them
    noise) maxlen=131072 ;;
    *) maxlen=16384 ;;
    esac
    # shellcheck disable=SC2086
    timeout $((SECS + 120)) "$bin" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2560 \
        -max_len="$maxlen" -print_final_stats=1 -artifact_prefix="$crashes/" \
        "$work" "$seeds" $extra >"$T/$name.log" 2>&1
    rc=$?
    execs=$(grep -a "stat::number_of_executed_units" "$T/$name.log" | awk '{print $2}' | tail -1)
    units=$(ls "$work" | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $name: ${execs:-0} executions in $SECS s, $units new inputs, no finding"
    else
        echo "fuzz $name: FAILED (status $rc) after ${execs:-?} executions; input kept in $crashes/"
        grep -a -m 5 -e "ERROR" -e "property failed" -e "runtime error" -e "SUMMARY" "$T/$name.log"
        failed="$failed $name"
    fi
done
[ -z "$failed" ] || { echo "fuzz: findings in:$failed"; exit 1; }
echo "fuzz: every target ran clean"
