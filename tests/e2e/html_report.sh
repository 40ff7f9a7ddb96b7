#!/bin/sh
# replay --html in a real browser: headless Chromium loads the page (a
# sweep with the GC model and per-peer series, so every section is there)
# with no console message at all; screenshots at desktop and phone width
# have the table, the timeline and the bars where they belong
# (tests/e2e/html_check.py reads the pixels); it prints to PDF; the page
# loads nothing and runs no script; an existing file is kept without --force
# and replaced by a rename with it; a failed write leaves nothing. The
# checks are shown to fail on a page with a script error and on a page
# without its table.
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
ph_require_tool chromium python3
# The GC model needs peerheap's own free() and jemalloc: not in sanitizer builds.
ph_have_jemalloc "html report" || { ph_done; exit 0; }

"$PH_BUILD/tests/test_lnsession" --write-fixtures "$T" >/dev/null || fail "fixture generation"
"$PEERHEAP" replay "$T/good.pcap" --transport model --peers 2,6 --gc-model go --timeline-peers 2 \
    --html "$T/r.html" >"$T/replay.out" 2>"$T/replay.err" || { cat "$T/replay.err"; fail "replay --html"; }
[ -s "$T/r.html" ] || fail "no report"
! ls -a "$T" | grep -q "r.html.*tmp" || fail "a temporary file was left"

# Self-contained: no script, nothing from elsewhere, every section present.
! grep -qi "<script" "$T/r.html" || fail "the page has a script"
! grep -o 'https\{0,1\}://[^"]*' "$T/r.html" | grep -v '^http://www.w3.org/2000/svg$' | grep -q . ||
    fail "the page names a URL"
grep -q "Content-Security-Policy" "$T/r.html" || fail "no Content-Security-Policy"
for id in summary table timeline sweep peers breakdown gc; do
    grep -q "id=\"$id\"" "$T/r.html" || fail "no section $id"
done
# timeline, sweep, six per-peer bar charts, one chart per strategy that collected
[ "$(grep -c "<svg" "$T/r.html")" -ge 9 ] || fail "too few plots"

browser() { # NAME WIDTH FILE [EXTRA...]: screenshot (or what EXTRA asks) into $T/NAME.*
    _name=$1 _width=$2 _file=$3
    shift 3
    [ $# -gt 0 ] || set -- "--screenshot=$T/$_name.png"
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --user-data-dir="$T/profile-$_name" --enable-logging=stderr --v=0 --hide-scrollbars \
        --window-size="$_width,4000" "$@" "file://$_file" \
        >"$T/$_name.log" 2>&1 || { tail -5 "$T/$_name.log"; fail "chromium ($_name) failed"; }
}

browser desktop 1280 "$T/r.html"
[ -s "$T/desktop.png" ] || fail "no desktop screenshot"
! grep "CONSOLE" "$T/desktop.log" || fail "the page logged to the console"
python3 tests/e2e/html_check.py desktop "$T/desktop.png" || fail "desktop screenshot"
browser phone 390 "$T/r.html"
! grep "CONSOLE" "$T/phone.log" || fail "the page logged to the console (phone width)"
python3 tests/e2e/html_check.py phone "$T/phone.png" || fail "phone screenshot"
browser print 1280 "$T/r.html" --print-to-pdf="$T/r.pdf" --no-pdf-header-footer
python3 - "$T/r.pdf" <<'PY' || fail "printed PDF"
import re, sys
pdf = open(sys.argv[1], "rb").read()
assert pdf.startswith(b"%PDF"), "not a PDF"
pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
assert pages >= 2 and len(pdf) > 20000, (pages, len(pdf))
PY

# The checks can fail: a script error reaches the console ...
sed 's|<body>|<body><p>x</p><script>nosuchfunction()</script>|' "$T/r.html" >"$T/broken.html"
browser broken 1280 "$T/broken.html"
grep -q "CONSOLE" "$T/broken.log" || fail "a page with a script error logged nothing"
# ... and a page without its table fails the pixel check.
python3 - "$T/r.html" "$T/notable.html" <<'PY'
import sys
s = open(sys.argv[1]).read()
a = s.index('<section id="table">')
b = s.index("</section>", a) + len("</section>")
open(sys.argv[2], "w").write(s[:a] + s[b:])
PY
browser notable 1280 "$T/notable.html"
! python3 tests/e2e/html_check.py desktop "$T/notable.png" >/dev/null || fail "a page without its table passed"

# Written atomically: an existing report is kept without --force (exit 2
# before the replay), replaced by a new file renamed over it with --force;
# a failed write leaves nothing and exits 2.
before=$(stat -c %i "$T/r.html")
"$PEERHEAP" replay "$T/good.pcap" --transport model --peers 2 --strategy exact --html "$T/r.html" \
    >"$T/kept.out" 2>"$T/kept.err"
[ $? -eq 2 ] || fail "an existing report: want exit 2 without --force"
grep -qF "$T/r.html exists (--force replaces it)" "$T/kept.err" || { cat "$T/kept.err"; fail "kept: message"; }
[ ! -s "$T/kept.out" ] || fail "kept: the replay ran although its output exists"
[ "$(stat -c %i "$T/r.html")" = "$before" ] || fail "kept: the report was replaced"
"$PEERHEAP" replay "$T/good.pcap" --transport model --peers 2 --strategy exact --html "$T/r.html" \
    --force >/dev/null 2>"$T/again.err" || fail "replay --html --force again"
[ "$(stat -c %i "$T/r.html")" != "$before" ] || fail "the report was rewritten in place"
grep -q 'id="table"' "$T/r.html" || fail "the new report"
"$PEERHEAP" replay "$T/good.pcap" --transport model --peers 2 --strategy exact \
    --html "$T/nodir/r.html" >/dev/null 2>"$T/nodir.err"
[ $? -eq 2 ] || fail "writing into a missing directory: want exit 2"
grep -q "nodir/r.html" "$T/nodir.err" || fail "the failed write does not name the file"
[ ! -e "$T/nodir" ] || fail "a failed write left something"
ph_done
