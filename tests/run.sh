#!/bin/sh
# Runs the test suite and trusts nothing it says:
#  - cmocka binaries: for every tests/test_*.c there must be an executable
#    BUILD/tests/test_*; a missing or non-executable one is a failure. Each
#    is run and cmocka's own summary parsed: the declared count ("Running N
#    test(s)."), passed, failed (and errored), skipped with their names. A
#    binary that printed no summary, ran fewer tests than it declared, or
#    exited non-zero with no failed test is a failure of its own.
#  - e2e scripts (tests/e2e/*.sh): pass only when they exit 0 AND their last
#    line is the end marker "e2e-done: NAME" (tests/e2e/lib.sh ph_done); a
#    script that exits 0 without it stopped early. "SKIP: WHAT: WHY" lines
#    are counted and named.
#  - skips: allowed only in sanitizer builds (PH_SANITIZER=1, set by `make
#    asan`), and only when declared (a cmocka skip needs the "SKIP: <test>:"
#    line that tests/support/ph_test.c prints). Elsewhere a skip is a failure.
# Ends with:
#    failed: NAME...                        (only when some failed)
#    tests: N passed, N failed, N skipped
#    skipped: NAME... | none
# Usage: sh tests/run.sh [BUILD [NAME...]], from the repository root; NAME
# is test_x (a cmocka binary) or e2e:x (a script); default: everything.
BUILD=${1:-build}
[ $# -gt 0 ] && shift
SELECT="$*"
export PEERHEAP="$(pwd)/$BUILD/peerheap"
export PH_BUILD="$BUILD"
SANITIZER=${PH_SANITIZER:-0}
export PH_SANITIZER="$SANITIZER"
BIN_TIMEOUT=${PH_BIN_TIMEOUT:-900}
E2E_TIMEOUT=${PH_E2E_TIMEOUT:-1200}

passed=0
failed=0
skipped=0
failed_names=""
skipped_names=""
problems=""
log=$(mktemp)
trap 'rm -f "$log"' EXIT

[ -d tests/e2e ] && [ -f tests/run.sh ] || { echo "tests/run.sh: run it from the repository root"; exit 2; }

# selected NAME: whether NAME is to run
selected() {
    [ -z "$SELECT" ] && return 0
    case " $SELECT " in *" $1 "*) return 0 ;; esac
    return 1
}

# fail_one NAME REASON: one failure, named, with its reason
fail_one() {
    failed=$((failed + 1))
    failed_names="$failed_names $1"
    problems="$problems
!! $1: $2"
    echo "!! $1: $2"
}

skip_one() {
    skipped=$((skipped + 1))
    skipped_names="$skipped_names $1"
}

# A skip reported by NAME; WHY says where it came from.
check_skip() { # NAME DECLARED(0/1)
    if [ "$SANITIZER" != 1 ]; then
        fail_one "$1" "skipped in a normal build (skips are allowed only for jemalloc statistics in sanitizer builds)"
    elif [ "$2" != 1 ]; then
        fail_one "$1" "skipped without a declared reason (no 'SKIP:' line)"
    else
        skip_one "$1"
    fi
}

# cmocka's summary of the log in $log, as shell assignments.
parse_cmocka() {
    awk '
    function name_of(line) { return substr(line, 14) }
    index($0, "[==========] Running ") == 1 { declared += $3 }
    index($0, "[==========] ") == 1 && $3 == "test(s)" && $4 == "run." { ran += $2; summaries++ }
    index($0, "[  PASSED  ] ") == 1 && $5 == "test(s)." { npassed += $4 }
    index($0, "[  FAILED  ] ") == 1 && $5 == "test(s)," { nfailed += $4; next }
    index($0, "[  SKIPPED ] ") == 1 && $5 == "test(s)," { nskipped += $4; next }
    /^ [0-9]+ FAILED TEST\(S\)$/ { nfailtotal += $1 }
    # names, in the order first seen
    index($0, "[  FAILED  ] ") == 1 && NF == 4 && !f[$4]++ { fl = fl " " $4; nf++ }
    index($0, "[  ERROR   ] ") == 1 && NF == 4 && $4 != "---" && !f[$4]++ { fl = fl " " $4; nf++ }
    index($0, "[  SKIPPED ] ") == 1 && NF == 4 && !s[$4]++ { sl = sl " " $4 }
    index($0, "SKIP: ") == 1 { n = $2; sub(/:$/, "", n); if (!d[n]++) dl = dl " " n }
    END {
        if (nfailtotal > nf) nf = nfailtotal
        if (nfailed > nf) nf = nfailed
        printf "declared=%d ran=%d summaries=%d npassed=%d nfailed=%d nskipped=%d\n",
            declared, ran, summaries, npassed, nf, nskipped
        printf "fnames=\"%s\" snames=\"%s\" dnames=\"%s\"\n", fl, sl, dl
    }' "$log"
}

run_binary() { # NAME
    name=$1
    t="$BUILD/tests/$name"
    echo "== $name"
    if [ ! -e "$t" ]; then
        fail_one "$name" "missing: $t (tests/$name.c must build to it: make tests-build)"
        return
    fi
    if [ ! -f "$t" ] || [ ! -x "$t" ]; then
        fail_one "$name" "not executable: $t"
        return
    fi
    timeout "$BIN_TIMEOUT" "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    eval "$(parse_cmocka)"
    if [ "$summaries" -eq 0 ]; then
        if [ "$rc" -eq 124 ]; then
            fail_one "$name" "killed after $BIN_TIMEOUT s (runner timeout) before cmocka's summary"
        else
            fail_one "$name" "printed no cmocka summary (exit status $rc)"
        fi
        return
    fi
    passed=$((passed + npassed))
    for f in $fnames; do
        failed=$((failed + 1))
        failed_names="$failed_names $name:$f"
    done
    # failures cmocka counted but did not name
    extra=$((nfailed - $(echo $fnames | wc -w)))
    [ "$extra" -le 0 ] || fail_one "$name" "$extra failed test(s) cmocka did not name"
    for s in $snames; do
        case " $dnames " in *" $s "*) d=1 ;; *) d=0 ;; esac
        check_skip "$name:$s" "$d"
    done
    accounted=$((npassed + nfailed + nskipped))
    if [ "$accounted" -lt "$declared" ]; then
        fail_one "$name" "ran $accounted of the $declared tests it declared (exit status $rc)"
    elif [ "$rc" -ne 0 ] && [ "$nfailed" -eq 0 ]; then
        fail_one "$name" "exit status $rc although no test failed"
    elif [ "$rc" -eq 0 ] && [ "$nfailed" -ne 0 ]; then
        fail_one "$name" "exit status 0 although $nfailed test(s) failed"
    fi
}

run_e2e() { # NAME (script tests/e2e/NAME.sh)
    name=$1
    s="tests/e2e/$name.sh"
    echo "== e2e $name"
    timeout "$E2E_TIMEOUT" sh "$s" >"$log" 2>&1
    rc=$?
    last=$(tail -n 1 "$log")
    grep '^SKIP: ' "$log"
    ok=0
    if [ "$rc" -ne 0 ]; then
        cat "$log"
        if [ "$rc" -eq 124 ]; then
            fail_one "e2e:$name" "killed after $E2E_TIMEOUT s (runner timeout)"
        else
            fail_one "e2e:$name" "exit status $rc"
        fi
    elif [ "$last" != "e2e-done: $name" ]; then
        cat "$log"
        fail_one "e2e:$name" "exited 0 without its end marker 'e2e-done: $name' (last line: '$last')"
    else
        ok=1
    fi
    # skips: "SKIP: WHAT: WHY" (ph_skip), counted even when the script failed
    for what in $(sed -n 's/^SKIP: \([^:]*\):.*/\1/p' "$log" | tr ' ' '-'); do
        check_skip "e2e:$name:$what" 1
    done
    if [ $ok = 1 ]; then
        passed=$((passed + 1))
        echo "ok   e2e $name"
    else
        echo "FAIL e2e $name"
    fi
}

echo "run.sh: build $BUILD$([ "$SANITIZER" = 1 ] && echo ", sanitizer build: declared jemalloc skips allowed")"
ran_any=0
for src in tests/test_*.c; do
    name=$(basename "$src" .c)
    selected "$name" || continue
    ran_any=1
    run_binary "$name"
done
for t in "$BUILD"/tests/test_*; do
    [ -e "$t" ] || continue
    [ -f "tests/$(basename "$t").c" ] || echo "note: $t has no tests/$(basename "$t").c: not run"
done
for s in tests/e2e/*.sh; do
    name=$(basename "$s" .sh)
    [ "$name" = lib ] && continue
    selected "e2e:$name" || continue
    ran_any=1
    run_e2e "$name"
done
for n in $SELECT; do
    case $n in
    e2e:*) [ -f "tests/e2e/${n#e2e:}.sh" ] || fail_one "$n" "no such script tests/e2e/${n#e2e:}.sh" ;;
    *) [ -f "tests/$n.c" ] || fail_one "$n" "no such test tests/$n.c" ;;
    esac
done
[ $ran_any = 1 ] || fail_one "tests" "no test selected"

[ -z "$problems" ] || echo "$problems" | sed '/^$/d'
[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "tests: $passed passed, $failed failed, $skipped skipped"
echo "skipped:${skipped_names:- none}"
[ "$failed" -eq 0 ]
