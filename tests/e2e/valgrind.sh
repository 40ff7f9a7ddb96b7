#!/bin/sh
# valgrind --leak-check=full on `dump`, the replay over the model transport,
# and a live `peer` session: no leak, no invalid access, no uninitialised
# read (--error-exitcode=99 tells valgrind's verdict from the program's own
# exit status).
#
# jemalloc and valgrind: memcheck replaces jemalloc's malloc with its own
# (--soname-synonyms makes that explicit), which is the only way it sees
# the heap at all. jemalloc's statistics and allocation hooks then see
# nothing, so:
#   - `dump` and `peer` run as they are (they measure nothing, or only with
#     --stats-json, not used here);
#   - `peerheap replay` refuses to run unmeasured (a measurement without
#     jemalloc means nothing): valgrind checks its command line, input
#     reading and measuring child up to that refusal, and then runs the same
#     engine (ph_replay_run_strategy, model transport, every strategy, a
#     stalled reader, queue caps) unmeasured through
#     build/tests/test_replay's test_model_paths_run_unmeasured.
# A sanitizer build cannot run under valgrind: skipped there (declared).
[ -f tests/e2e/lib.sh ] && . tests/e2e/lib.sh
P=${PEERHEAP:-$(pwd)/build/peerheap}
B=${PH_BUILD:-build}
WAIT=${PH_WAIT:-120}
T=$(mktemp -d)
A=
C=
cleanup() {
    [ -n "$A" ] && kill "$A" 2>/dev/null
    [ -n "$C" ] && kill "$C" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$T"/*.err; do [ -f "$f" ] && { echo "== $f"; tail -40 "$f"; }; done
    exit 1
}
done_marker() { echo "e2e-done: valgrind"; }

command -v valgrind >/dev/null 2>&1 ||
    fail "valgrind is not installed: it is a test dependency (make deps installs it)"
if nm -D "$P" 2>/dev/null | grep -q __asan_init || nm "$P" 2>/dev/null | grep -q __asan_init; then
    if command -v ph_skip >/dev/null 2>&1; then
        ph_skip valgrind "valgrind cannot run a sanitizer build"
    else
        echo "SKIP: valgrind: valgrind cannot run a sanitizer build"
    fi
    done_marker
    exit 0
fi

VG="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
    --error-exitcode=99 --soname-synonyms=somalloc=libjemalloc.so*"

# vg NAME WANT_STATUS COMMAND...: run under valgrind, logs in $T/NAME.*
vg() {
    name=$1 want=$2
    shift 2
    $VG --log-file="$T/$name.vg" "$@" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ $rc -ne 99 ] || { cat "$T/$name.vg"; fail "$name: valgrind found errors"; }
    [ $rc -eq "$want" ] || fail "$name: exit status $rc, expected $want"
    [ ! -s "$T/$name.vg" ] || { cat "$T/$name.vg"; fail "$name: valgrind reported something"; }
}

# wait_line FILE REGEX WHAT [PID]: wait for a line, with a deadline.
wait_line() {
    end=$(($(date +%s) + WAIT))
    while ! grep -q -- "$2" "$1" 2>/dev/null; do
        [ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || fail "process $4 exited waiting for $3"
        [ "$(date +%s)" -lt "$end" ] || fail "timed out after $WAIT s waiting for $3"
        sleep 0.1
    done
}

# wait_exit PID WHAT: the child's exit status, with a deadline.
wait_exit() {
    end=$(($(date +%s) + WAIT))
    while kill -0 "$1" 2>/dev/null; do
        [ "$(date +%s)" -lt "$end" ] || fail "timed out after $WAIT s waiting for $2 to exit"
        sleep 0.1
    done
    wait "$1"
}

# 1. dump: a real capture (every session decrypted) and a damaged one.
vg dump 0 "$P" dump captures/interop-electrum.pcap
grep -q '^session 1:' "$T/dump.out" || fail "dump printed no session"
vg dump_damaged 1 "$P" dump captures/damaged-gap.pcap

# 2. replay: the command line up to its refusal to run unmeasured ...
$VG --log-file="$T/replay_cli.vg" "$P" replay captures/damaged-gap.pcap --transport model \
    --strategy exact >"$T/replay_cli.out" 2>"$T/replay_cli.err"
rc=$?
[ $rc -ne 99 ] || { cat "$T/replay_cli.vg"; fail "replay: valgrind found errors"; }
[ ! -s "$T/replay_cli.vg" ] || { cat "$T/replay_cli.vg"; fail "replay: valgrind reported something"; }
grep -q 'jemalloc statistics' "$T/replay_cli.err" || fail "replay did not say why it cannot measure"
# ... and the engine itself over the model transport, unmeasured.
PH_TEST_FILTER=test_model_paths_run_unmeasured vg replay_engine 0 "$B/tests/test_replay"
grep -q 'PASSED  \] 1 test' "$T/replay_engine.err" "$T/replay_engine.out" ||
    fail "the replay engine test did not run"

# 3. a peer session: A (under valgrind) preloads the sample, pings every
# second, records and logs keys; C (not under valgrind) announces itself, so
# A validates and stores signed gossip, and takes all of A's gossip. Once A
# has streamed it, C and then A stop on SIGTERM; A's leak check must be
# clean. valgrind also reads A's recording back with dump.
printf '%064d\n' 11 >"$T/a.key"
printf '%064d\n' 12 >"$T/c.key"
chmod 600 "$T/a.key" "$T/c.key"
$VG --log-file="$T/peer.vg" "$P" peer --key "$T/a.key" --listen 127.0.0.1:0 \
    --gossip captures/mainnet-gossip.lnmsgs --ping-interval 1 --record "$T/a.pcap" \
    --keylog "$T/a.keys" --log-level debug >"$T/peer.out" 2>"$T/peer.err" &
A=$!
wait_line "$T/peer.out" '^listening ' "node A listening" "$A"
ID=$(awk '/^node_id /{print $2}' "$T/peer.out")
ADDR=$(awk '/^listening /{print $2}' "$T/peer.out")
"$P" peer --key "$T/c.key" --connect "$ID@$ADDR" --announce valgrind-c >"$T/c.out" 2>"$T/c.err" &
C=$!
wait_line "$T/peer.err" 'gossip backlog sent (28809 messages)' "A to stream the sample" "$A"
wait_line "$T/peer.err" 'peer 1: node_announcement accepted' "A to accept C's own gossip" "$A"
kill -TERM "$C"
wait_exit "$C" "peer C" || fail "peer C exited with status $?"
C=
wait_line "$T/peer.err" 'disconnect' "A to see C leave" "$A"
kill -TERM "$A"
wait_exit "$A" "node A"
rc=$?
A=
[ $rc -ne 99 ] || { cat "$T/peer.vg"; fail "peer: valgrind found errors"; }
[ $rc -eq 0 ] || fail "peer: exit status $rc"
[ ! -s "$T/peer.vg" ] || { cat "$T/peer.vg"; fail "peer: valgrind reported something"; }
vg dump_recording 0 "$P" dump "$T/a.pcap" --keylog "$T/a.keys"
grep -q 'session 1:' "$T/dump_recording.out" || fail "A's recording did not decode"

echo "valgrind: dump, replay (command line and model engine) and a peer session clean"
done_marker
