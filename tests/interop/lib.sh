# Shell helpers for the interoperability tests (tests/e2e/interop_*.sh).
# POSIX sh (the test runner uses sh). Source it from the repo root with
# $PEERHEAP set to the built binary. Everything lives in one temporary
# directory; every process started here is ended on exit (trap), by pid.
#
# Counterparties (tests/interop/nl_peer.js, tests/interop/electrum_peer.py)
# print JSON lines; a run named NAME writes $IH_TMP/NAME.out (JSON) and
# $IH_TMP/NAME.err (its library's log). Our peer's run writes NAME.out
# (stdout) and NAME.err (stderr: its log).

IH_DIR=tests/interop
IH_PY=/usr/bin/python3           # Debian's interpreter: python3-electrum lives there
IH_CP_TIMEOUT=${IH_CP_TIMEOUT:-60} # whole-run limit of one counterparty, seconds
IH_WAIT=${IH_WAIT:-20}             # limit of one waiting step, seconds
IH_DEADLINE=${IH_DEADLINE:-110}    # limit of the whole test script, seconds
IH_PIDS=""
IH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ph-interop.XXXXXX") || exit 1

ih_cleanup() {
    for p in $IH_PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $IH_PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
    done
    if [ -n "${IH_KEEP:-}" ]; then echo "interop: kept $IH_TMP"; else rm -rf "$IH_TMP"; fi
}
trap ih_cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'ih_fail "stopped by SIGTERM (deadline or runner)"' TERM

# Watchdog: SIGTERM to this shell at the deadline. Every wait here is a
# `wait` or a short sleep, so the trap runs at once and the cleanup ends
# everything started. Killing the watchdog ends its sleep too.
(
    trap 'kill "$_sp" 2>/dev/null; exit 0' TERM
    sleep "$IH_DEADLINE" &
    _sp=$!
    wait "$_sp" && echo "FAIL: deadline of $IH_DEADLINE s reached" && kill -TERM $$
) &
IH_PIDS="$!"

ih_log() { echo "interop: $*"; }

# Print the tail of every log, then fail.
ih_fail() {
    echo "FAIL: $*"
    for f in "$IH_TMP"/*.out "$IH_TMP"/*.err; do
        [ -s "$f" ] || continue
        echo "----- $(basename "$f") (last 40 lines)"
        tail -n 40 "$f"
    done
    exit 1
}

# ih_wait_grep FILE EXTENDED_REGEX SECONDS [PID]: poll until FILE has a line
# matching; fail early (status 1) when PID has exited.
ih_wait_grep() {
    _f=$1 _re=$2 _n=$(($3 * 10)) _pid=${4:-}
    while [ "$_n" -gt 0 ]; do
        grep -Eq -- "$_re" "$_f" 2>/dev/null && return 0
        if [ -n "$_pid" ] && ! kill -0 "$_pid" 2>/dev/null; then
            grep -Eq -- "$_re" "$_f" 2>/dev/null
            return $?
        fi
        sleep 0.1
        _n=$((_n - 1))
    done
    return 1
}

# ---- dependencies ----

# Installs the pinned node-lightning packages (package-lock.json) with npm ci
# when they are missing or not the pinned version.
ih_need_node() {
    command -v node >/dev/null 2>&1 || ih_fail "node is not installed (make deps)"
    if [ "$(cd "$IH_DIR" && node -p "try { require('@node-lightning/wire/package.json').version + '/' + require('@node-lightning/noise/package.json').version } catch (e) { '' }" 2>/dev/null)" != "0.26.1/0.26.1" ]; then
        command -v npm >/dev/null 2>&1 || ih_fail "npm is not installed (make deps)"
        ih_log "npm ci in $IH_DIR"
        (cd "$IH_DIR" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund) >"$IH_TMP/npm.log" 2>&1 ||
            ih_fail "npm ci failed: $(tail -n 5 "$IH_TMP/npm.log")"
    fi
}

ih_need_electrum() {
    "$IH_PY" -c 'import electrum.lntransport, electrum.lnpeer' 2>"$IH_TMP/electrum-import.err" ||
        ih_fail "python3-electrum is not importable by $IH_PY (make deps): $(tail -n 1 "$IH_TMP/electrum-import.err")"
}

ih_need_peer() {
    if [ -z "${PEERHEAP:-}" ] || [ ! -x "$PEERHEAP" ]; then ih_fail "PEERHEAP is not set to the built binary"; fi
    "$PEERHEAP" peer --help >/dev/null 2>&1 || ih_fail "$PEERHEAP has no 'peer' command"
}

# ---- our peer ----

# ih_peer_start NAME ARGS...: run `$PEERHEAP peer --key $IH_TMP/NAME.key ARGS`
# in the background and wait for its node id (and, with --listen, for its
# listening line). Sets nothing: read with ih_peer_id / ih_peer_port.
ih_peer_start() {
    _name=$1
    shift
    "$PEERHEAP" peer --key "$IH_TMP/$_name.key" "$@" >"$IH_TMP/$_name.out" 2>"$IH_TMP/$_name.err" &
    _pid=$!
    echo "$_pid" >"$IH_TMP/$_name.pid"
    IH_PIDS="$IH_PIDS $_pid"
    ih_wait_grep "$IH_TMP/$_name.out" '0[23][0-9a-f]{64}' 10 "$_pid" ||
        ih_wait_grep "$IH_TMP/$_name.err" '0[23][0-9a-f]{64}' 1 "$_pid" ||
        ih_fail "$_name: no node id printed"
    case " $* " in
    *" --listen "*)
        ih_wait_grep "$IH_TMP/$_name.out" 'listening.*127\.0\.0\.1:[0-9]+' 10 "$_pid" ||
            ih_fail "$_name: no 'listening 127.0.0.1:PORT' line"
        ;;
    esac
}

# The first node id printed on stdout (else stderr): printed at start.
ih_peer_id() {
    for _f in "$IH_TMP/$1.out" "$IH_TMP/$1.err"; do
        _id=$(grep -Eo '0[23][0-9a-f]{64}' "$_f" 2>/dev/null | head -n 1)
        [ -n "$_id" ] && { echo "$_id"; return 0; }
    done
    return 1
}

ih_peer_port() {
    sed -n -E 's/.*listening[^0-9]*127\.0\.0\.1:([0-9]+).*/\1/p' "$IH_TMP/$1.out" | head -n 1
}

# ih_peer_stop NAME: SIGTERM, then expect a clean exit 0 within 10 s.
ih_peer_stop() {
    _pid=$(cat "$IH_TMP/$1.pid")
    kill -TERM "$_pid" 2>/dev/null
    _i=0
    while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    kill -0 "$_pid" 2>/dev/null && ih_fail "$1: still running 10 s after SIGTERM"
    wait "$_pid"
    _rc=$?
    [ "$_rc" -eq 0 ] || ih_fail "$1: exit status $_rc after SIGTERM (want 0)"
}

# ih_peer_log_has NAME EXTENDED_REGEX WHAT: the peer's log (stderr) has it.
ih_peer_log_has() {
    grep -Eq -- "$2" "$IH_TMP/$1.err" || ih_fail "$1: log lacks $3 (/$2/)"
}

# ---- counterparties ----

# ih_cp_cmd IMPL: the command line of a counterparty (nl or electrum).
ih_cp_cmd() {
    case $1 in
    nl) echo "node $IH_DIR/nl_peer.js" ;;
    electrum) echo "$IH_PY $IH_DIR/electrum_peer.py" ;;
    *) ih_fail "unknown implementation $1" ;;
    esac
}

# ih_cp_listen NAME IMPL STEP...: start a counterparty listening on an
# ephemeral port in the background; wait for its "listening" event.
ih_cp_listen() {
    _name=$1 _impl=$2
    shift 2
    # shellcheck disable=SC2046
    timeout "$IH_CP_TIMEOUT" $(ih_cp_cmd "$_impl") --listen 0 --timeout "$IH_CP_TIMEOUT" --wait "$IH_WAIT" \
        "$@" >"$IH_TMP/$_name.out" 2>"$IH_TMP/$_name.err" &
    _pid=$!
    echo "$_pid" >"$IH_TMP/$_name.pid"
    IH_PIDS="$IH_PIDS $_pid"
    ih_wait_grep "$IH_TMP/$_name.out" '"ev":"listening"' 15 "$_pid" || ih_fail "$_name: not listening"
}

ih_cp_port() { sed -n 's/.*"ev":"listening".*"port":\([0-9]*\).*/\1/p' "$IH_TMP/$1.out" | head -n 1; }
ih_cp_id() { sed -n 's/.*"ev":"node_id","id":"\([0-9a-f]*\)".*/\1/p' "$IH_TMP/$1.out" | head -n 1; }
ih_cp_target() { echo "$(ih_cp_id "$1")@127.0.0.1:$(ih_cp_port "$1")"; }

# ih_cp_run NAME IMPL TARGET STEP...: connect to TARGET (PUBKEY@HOST:PORT)
# and run the steps; returns its exit status. (Started in the background and
# waited for, so that the deadline can interrupt it.)
ih_cp_run() {
    _name=$1 _impl=$2 _target=$3
    shift 3
    # shellcheck disable=SC2046
    timeout "$IH_CP_TIMEOUT" $(ih_cp_cmd "$_impl") --connect "$_target" --timeout "$IH_CP_TIMEOUT" \
        --wait "$IH_WAIT" "$@" >"$IH_TMP/$_name.out" 2>"$IH_TMP/$_name.err" &
    _pid=$!
    echo "$_pid" >"$IH_TMP/$_name.pid"
    IH_PIDS="$IH_PIDS $_pid"
    wait "$_pid"
}

# ih_cp_wait NAME: wait for a background counterparty; returns its status.
ih_cp_wait() {
    wait "$(cat "$IH_TMP/$1.pid")"
}

# ih_ok NAME STEP: the counterparty reported STEP as passed.
ih_ok() {
    grep -Fq "\"ev\":\"step\",\"step\":\"$2\",\"ok\":true" "$IH_TMP/$1.out" ||
        ih_fail "$1: step $2 did not pass: $(grep -F "\"step\":\"$2\"" "$IH_TMP/$1.out" | head -n 1)"
}

# ih_has NAME FIXED_STRING WHAT: the counterparty's JSON output has it.
ih_has() {
    grep -Fq -- "$2" "$IH_TMP/$1.out" || ih_fail "$1: no $3 ($2)"
}

# ih_check_our_gossip PEER NAME...: each counterparty NAME verified, with its
# own code, the gossip PEER signed with --announce: our node_announcement,
# the synthetic channel 1x0x0's announcement and both of its updates.
ih_check_our_gossip() {
    our_id=$(ih_peer_id "$1")
    shift
    for n in "$@"; do
        ih_has "$n" "\"sig\":\"ok\",\"node_id\":\"$our_id\"" "our node_announcement verified"
        ih_has "$n" '"type":256,"len":432,"sig":"ok","scid":"1x0x0"' "our channel_announcement verified"
        ih_has "$n" '"sig":"ok","scid":"1x0x0","direction":0' "our channel_update (direction 0) verified"
        ih_has "$n" '"sig":"ok","scid":"1x0x0","direction":1' "our channel_update (direction 1) verified"
    done
}

ih_hasnt() {
    ! grep -Fq -- "$2" "$IH_TMP/$1.out" || ih_fail "$1: unexpected $3 ($2)"
}

# JSON value of a numeric field on the first line with ev=EV.
ih_field() {
    grep -F "\"ev\":\"$2\"" "$IH_TMP/$1.out" | head -n 1 | sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p"
}

# ih_peer_wait NAME SECONDS: wait for a peer that stops by itself; fails if
# it is still running after SECONDS or exits with a non-zero status.
ih_peer_wait() {
    _pid=$(cat "$IH_TMP/$1.pid")
    _n=$(($2 * 10))
    while kill -0 "$_pid" 2>/dev/null && [ "$_n" -gt 0 ]; do sleep 0.1; _n=$((_n - 1)); done
    kill -0 "$_pid" 2>/dev/null && ih_fail "$1: still running after $2 s"
    wait "$_pid"
    _rc=$?
    [ "$_rc" -eq 0 ] || ih_fail "$1: exit status $_rc"
}
