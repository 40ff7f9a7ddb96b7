# Shared helpers of the end-to-end scripts (POSIX sh; not a test itself).
# Source it from the repository root, first thing:  . tests/e2e/lib.sh
#
# The rules it implements (tests/run.sh enforces them from outside):
#  - a missing tool is a failure, never a skip (make deps installs them all);
#  - the only skip allowed is jemalloc statistics in sanitizer builds
#    (PH_SANITIZER=1, set by make for SAN=1 builds): ph_skip prints
#    "SKIP: WHAT: WHY" there and fails the script anywhere else;
#  - every wait waits on an event (a line, a file, a process exit) with a
#    deadline (PH_WAIT seconds, 60 by default) and fails naming what it
#    waited for;
#  - the script's last act is ph_done, which prints "e2e-done: NAME": a
#    script that exits 0 without it counts as failed.
# `fail MESSAGE` prints "FAIL: MESSAGE" and exits 1; a script may redefine
# fail (e.g. to show its logs) after sourcing: the helpers call it too.

PH_NAME=$(basename "$0" .sh)
PEERHEAP=${PEERHEAP:-$(pwd)/build/peerheap}
PH_BUILD=${PH_BUILD:-build}
PH_WAIT=${PH_WAIT:-60}

fail() {
    echo "FAIL: $*"
    exit 1
}

# Whether this is a sanitizer build.
ph_sanitizer() { [ "${PH_SANITIZER:-0}" = 1 ]; }

# ph_require_tool TOOL...: each TOOL runs from PATH, or the script fails.
ph_require_tool() {
    for _t in "$@"; do
        command -v "$_t" >/dev/null 2>&1 ||
            fail "$_t is not installed: it is a test dependency (make deps installs it)"
    done
}

# ph_skip WHAT WHY: declare that WHAT (one word) does not run in this build.
# Allowed only in sanitizer builds; anywhere else the script fails.
ph_skip() {
    ph_sanitizer || fail "would skip $1 ($2): skips are allowed only in sanitizer builds"
    echo "SKIP: $1: $2"
}

# ph_have_jemalloc WHAT: true when the build has jemalloc's statistics (every
# normal build must: if they are broken, the measured commands fail). In a
# sanitizer build, declares WHAT skipped and returns false.
ph_have_jemalloc() {
    if ph_sanitizer; then
        ph_skip "$1" "jemalloc statistics unavailable in a sanitizer build"
        return 1
    fi
    return 0
}

# ph_wait_for WHAT COMMAND...: run COMMAND until it succeeds; fail after
# PH_WAIT seconds naming WHAT.
ph_wait_for() {
    _ph_what=$1
    shift
    _ph_end=$(($(date +%s%3N) + PH_WAIT * 1000))
    while ! "$@"; do
        [ "$(date +%s%3N)" -lt "$_ph_end" ] || fail "timed out after $PH_WAIT s waiting for $_ph_what"
        sleep 0.05
    done
}

_ph_has_line() { # FILE REGEX WHAT PID
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    if [ -n "$4" ] && ! kill -0 "$4" 2>/dev/null; then
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        fail "process $4 exited while waiting for $3"
    fi
    return 1
}

# ph_wait_grep FILE REGEX WHAT [PID]: wait until FILE has a line matching
# REGEX (grep's basic syntax); fail at once if PID exits first.
ph_wait_grep() {
    ph_wait_for "$3" _ph_has_line "$1" "$2" "$3" "${4:-}"
}

_ph_size_at_least() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

# ph_wait_size FILE BYTES WHAT: wait until FILE holds at least BYTES bytes.
ph_wait_size() {
    ph_wait_for "$3" _ph_size_at_least "$1" "$2"
}

_ph_gone() { ! kill -0 "$1" 2>/dev/null; }

# ph_wait_exit PID WHAT: wait for a child of this shell to exit; returns
# its exit status.
ph_wait_exit() {
    ph_wait_for "$2 (pid $1) to exit" _ph_gone "$1"
    wait "$1"
}

# The end marker: the script's last act.
ph_done() {
    echo "e2e-done: $PH_NAME"
}
