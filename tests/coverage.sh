#!/bin/sh
# make coverage: line coverage of the whole test suite with gcov + lcov.
# The instrumented build (COV=1: --coverage -DPH_COVERAGE, forked children
# included, see lib/util/coverage.c) lives in BUILD (build-cov); its counters
# are zeroed, the suite runs (make test-run), then lcov collects the counters
# of every process, genhtml writes BUILD/coverage/index.html (lib/ and
# tool/), and the line coverage of every lib/ file and their total is
# printed. Exits with the test suite's status.
# Usage: sh tests/coverage.sh [BUILD], from the repository root, after
# `make BUILD=build-cov COV=1 CFLAGS='-O0 -g' tests-build` (make coverage
# does both).
set -u
BUILD=${1:-build-cov}
OUT="$BUILD/coverage"
MAKE=${MAKE:-make}
ROOT=$(pwd)
for t in lcov genhtml; do
    command -v $t >/dev/null 2>&1 || { echo "coverage: $t is not installed (make deps installs lcov)"; exit 2; }
done
[ -d "$BUILD/obj/lib" ] || { echo "coverage: no instrumented build in $BUILD"; exit 2; }

find "$BUILD" -name '*.gcda' -delete
rm -rf "$OUT"
mkdir -p "$OUT"
$MAKE --no-print-directory BUILD="$BUILD" COV=1 CFLAGS='-O0 -g' test-run
status=$?

lcov --quiet --capture --directory "$BUILD" --base-directory "$ROOT" \
    --output-file "$OUT/all.info" >"$OUT/lcov.log" 2>&1 ||
    { cat "$OUT/lcov.log"; echo "coverage: lcov --capture failed"; exit 2; }
lcov --quiet --extract "$OUT/all.info" "$ROOT/lib/*" "$ROOT/tool/*" --output-file "$OUT/src.info" \
    >>"$OUT/lcov.log" 2>&1 || { cat "$OUT/lcov.log"; echo "coverage: lcov --extract failed"; exit 2; }
genhtml --quiet --title "peerheap tests" --prefix "$ROOT" --output-directory "$OUT" "$OUT/src.info" \
    >>"$OUT/lcov.log" 2>&1 || { cat "$OUT/lcov.log"; echo "coverage: genhtml failed"; exit 2; }

# Per file: SF: (source), LF: (lines found), LH: (lines hit); a file may
# appear more than once (static and PIC objects): lines hit in either count.
echo "line coverage (gcov, whole test suite):"
awk -v root="$ROOT/" '
    /^SF:/ { f = substr($0, 4); sub("^" root, "", f) }
    /^DA:/ { split(substr($0, 4), a, ","); k = f SUBSEP a[1]; if (!(k in seen)) { seen[k] = 1; lf[f]++ }
             if (a[2] > 0 && !(k in hit)) { hit[k] = 1; lh[f]++ } }
    END {
        for (f in lf) print f, lf[f], lh[f] + 0
    }' "$OUT/src.info" | sort | awk '
    { part = ($1 ~ /^lib\//) ? "lib" : "tool"; F[part] += $2; H[part] += $3 }
    $1 ~ /^lib\// { printf "  %-30s %6.1f%%  %5d of %5d lines\n", $1, 100 * $3 / $2, $3, $2 }
    END {
        for (p in F) t[p] = sprintf("%6.1f%%  %5d of %5d lines", 100 * H[p] / F[p], H[p], F[p])
        printf "  %-30s %s\n", "total lib/", t["lib"]
        if ("tool" in F) printf "  %-30s %s\n", "(tool/, for reference)", t["tool"]
    }'
echo "coverage: HTML report in $OUT/index.html"
[ "$status" -eq 0 ] || echo "coverage: the test suite failed (status $status): figures are of a failing run"
exit "$status"
