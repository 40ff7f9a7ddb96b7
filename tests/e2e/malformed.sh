#!/bin/sh
# The malformed-input corpus (tests/malformed/MANIFEST): peerheap dump on
# each damaged input, in text and JSON, exits with the documented status
# and prints the documented line (naming the file and where); nothing
# crashes, hangs or trips a sanitizer (make asan runs this under ASan and
# UBSan). A hang is a failure: every run has a deadline.
set -u
if [ -f tests/e2e/lib.sh ]; then
    . tests/e2e/lib.sh
else
    PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
    fail() { echo "FAIL: $*"; exit 1; }
    ph_done() { echo "e2e-done: malformed"; }
fi
ROOT=$(pwd)
CORPUS="$ROOT/tests/malformed"
[ -f "$CORPUS/MANIFEST" ] || fail "no $CORPUS/MANIFEST"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
unset LIGHTNINGKEYLOGFILE

# run MODE FILE ARGS: peerheap dump in the corpus directory; output in
# $T/out, $T/err, status in $rc. A minute is far more than any file takes.
run() {
    mode=$1 file=$2 args=$3
    set -- "$file"
    if [ "$args" != "-" ]; then
        old_ifs=$IFS
        IFS='|'
        # shellcheck disable=SC2086
        set -- "$file" $args
        IFS=$old_ifs
    fi
    [ "$mode" = json ] && set -- "$@" --json
    (cd "$CORPUS" && timeout 60 "$PEERHEAP" dump "$@") >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -ne 124 ] || fail "$file ($mode): no answer within 60 s"
    ! grep -q -e "Sanitizer" -e "runtime error" "$T/err" || { cat "$T/err"; fail "$file ($mode): sanitizer"; }
}

n=0
tab=$(printf '\t')
while IFS="$tab" read -r file args want reason; do
    case "$file" in '#'* | '') continue ;; esac
    n=$((n + 1))
    run text "$file" "$args"
    [ "$rc" -eq "$want" ] || { cat "$T/err"; fail "$file: exit $rc, the manifest says $want"; }
    cat "$T/out" "$T/err" | grep -qF -- "$reason" ||
        { cat "$T/out" "$T/err" | tail -20; fail "$file: no line with: $reason"; }
    run json "$file" "$args"
    [ "$rc" -eq "$want" ] || { cat "$T/err"; fail "$file (json): exit $rc, want $want"; }
    case "$reason" in
    [0-9]* | retransmissions*) ;; # summaries of the text output only
    *) grep -qF -- "$reason" "$T/err" || { cat "$T/err"; fail "$file (json): no line with: $reason"; } ;;
    esac
done <"$CORPUS/MANIFEST"
[ "$n" -ge 50 ] || fail "only $n corpus entries"
echo "malformed corpus: $n inputs, each with its exit status and reason"
ph_done
