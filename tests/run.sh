#!/bin/sh
# Run every cmocka test binary in BUILD/tests and every end-to-end script in
# tests/e2e, then print one summary line: "tests: N passed, N failed".
# cmocka prints its own summary on stderr; we count its "[  PASSED  ]" and
# "[  FAILED  ]" lines. An e2e script counts as one test (exit 0 = pass).
BUILD=${1:-build}
export PEERHEAP="$(pwd)/$BUILD/peerheap"
export PH_BUILD="$BUILD"
passed=0
failed=0
failed_names=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "== $name"
    timeout 900 "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -o "\[  PASSED  \] [0-9]*" "$log" | sed "s/.* //" | awk '{s+=$1} END {print s+0}')
    f=$(grep -o "\[  FAILED  \] [0-9]*" "$log" | sed "s/.* //" | awk '{s+=$1} END {print s+0}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or timed out before cmocka could summarise
        echo "!! $name exited with status $rc"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failed_names="$failed_names $name"
done

for s in tests/e2e/*.sh; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    echo "== e2e $name"
    if timeout 1200 sh "$s" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   e2e $name"
    else
        failed=$((failed + 1))
        failed_names="$failed_names e2e:$name"
        cat "$log"
        echo "FAIL e2e $name"
    fi
done

[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
