#!/bin/sh
# The command line as a whole: `peerheap help COMMAND` is `peerheap COMMAND
# --help` for every command; the man page (made from those texts) covers
# every command, renders without a warning and holds each help text; and
# `make` on a machine without the Debian packages stops with one line
# naming them and `make deps`.
set -u
if [ -f tests/e2e/lib.sh ]; then
    . tests/e2e/lib.sh
else # the shared helpers' contract (tests/e2e/lib.sh), until that file exists
    PH_NAME=$(basename "$0" .sh)
    PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
    PH_BUILD=${PH_BUILD:-build}
    fail() { echo "FAIL: $*"; exit 1; }
    ph_done() { echo "e2e-done: $PH_NAME"; }
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v groff >/dev/null || fail "groff is not installed: a test dependency (make deps installs it)"

commands=$("$PEERHEAP" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
for c in peer dump replay decode gate diff; do
    echo "$commands" | grep -qx "$c" || fail "'peerheap --help' does not list $c"
done

MAN="$PH_BUILD/peerheap.1"
[ -f "$MAN" ] || fail "$MAN was not built"
groff -man -Tascii -ww -z "$MAN" 2>"$T/warnings" || fail "groff failed on $MAN"
[ ! -s "$T/warnings" ] || { cat "$T/warnings"; fail "the man page has troff warnings"; }
groff -man -Tascii "$MAN" 2>/dev/null | sed 's/.\x08//g' >"$T/man.txt"
# each help text, line by line (spacing aside), in the page
squeeze() { sed -e 's/[[:space:]]\{1,\}/ /g' -e 's/^ //' -e 's/ $//' | grep -v '^$'; }
squeeze <"$T/man.txt" >"$T/man.squeezed"
for c in $commands; do
    "$PEERHEAP" help "$c" >"$T/help.$c" 2>&1 || fail "help $c: exit $?"
    "$PEERHEAP" "$c" --help >"$T/dash.$c" 2>&1 || fail "$c --help: exit $?"
    cmp -s "$T/help.$c" "$T/dash.$c" || fail "'peerheap help $c' differs from 'peerheap $c --help'"
    grep -q "^   peerheap $c\$" "$T/man.txt" || fail "the man page has no section for $c"
    squeeze <"$T/help.$c" | while IFS= read -r line; do
        grep -qxF -- "$line" "$T/man.squeezed" || { echo "$line"; exit 1; }
    done >"$T/missing.$c" || { cat "$T/missing.$c"; fail "the man page lacks $c's help line above"; }
done
"$PEERHEAP" help >/dev/null || fail "help without a command"
"$PEERHEAP" help nonesuch >/dev/null 2>"$T/nonesuch.err" && fail "help of an unknown command succeeded"
grep -q "help: no command 'nonesuch'" "$T/nonesuch.err" || fail "help nonesuch: message"

# make without the packages: pkg-config finds none of them
env -u MAKEFLAGS -u MAKELEVEL PKG_CONFIG_LIBDIR="$T/none" PKG_CONFIG_PATH= \
    make --no-print-directory -n all BUILD="$T/build" >"$T/make.out" 2>"$T/make.err" &&
    fail "make went on without its packages"
[ "$(wc -l <"$T/make.err")" -eq 1 ] || { cat "$T/make.err"; fail "make: want one line"; }
grep -q "missing Debian packages: libsecp256k1-dev libsodium-dev libjemalloc-dev libpcap-dev libjansson-dev; run 'make deps'" \
    "$T/make.err" || { cat "$T/make.err"; fail "make: the line does not name the packages and make deps"; }
# and with them, no such line
env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory -n all BUILD="$T/build" >/dev/null \
    2>"$T/make-ok.err" || { cat "$T/make-ok.err"; fail "make -n with the packages failed"; }
! grep -q "missing Debian packages" "$T/make-ok.err" || fail "make: packages reported missing"
ph_done
