#!/bin/sh
# peerheap peer: option and key-file errors (exit 2, one line), SIGUSR1
# counters, clean shutdown on SIGTERM (exit 0), --max-peers.
set -u
. tests/e2e/lib.sh
P=$PEERHEAP
T=$(mktemp -d)
A=
cleanup() { [ -n "$A" ] && kill "$A" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/a.err" 2>/dev/null; exit 1; }

expect2() { # expect exit 2 and a one-line error mentioning $1
    want=$1; shift
    "$@" >"$T/o" 2>"$T/e"
    rc=$?
    [ $rc -eq 2 ] || fail "'$*' exited $rc, expected 2"
    [ "$(wc -l <"$T/e")" -eq 1 ] || fail "'$*': expected one line on stderr, got: $(cat "$T/e")"
    grep -q -- "$want" "$T/e" || fail "'$*': stderr lacks '$want': $(cat "$T/e")"
}

expect2 "needs a value" $P peer --key
expect2 "--key FILE is required" $P peer --listen 0
expect2 "unknown option" $P peer --key "$T/k" --listen 0 --bogus 1
expect2 "PUBKEY@HOST:PORT" $P peer --key "$T/k" --connect 02abcd@127.0.0.1:1
expect2 "strategy" $P peer --key "$T/k" --listen 0 --strategy nope
expect2 "network" $P peer --key "$T/k" --listen 0 --network moon
expect2 "log-level" $P peer --key "$T/k" --listen 0 --log-level loud
printf '%064d\n' 7 >"$T/open.key"
chmod 644 "$T/open.key"
expect2 "readable by group or others" $P peer --key "$T/open.key" --listen 0
printf 'zz\n' >"$T/bad.key"
chmod 600 "$T/bad.key"
expect2 "64 hex digits" $P peer --key "$T/bad.key" --listen 0
printf '%064d\n' 5 >"$T/k"
chmod 600 "$T/k"
printf '\000\005\001\000' >"$T/bad.lnmsgs"
expect2 "bad.lnmsgs: .*offset 0" $P peer --key "$T/k" --listen 0 --gossip "$T/bad.lnmsgs"
expect2 "nonexistent.lnmsgs: No such file" $P peer --key "$T/k" --listen 0 --gossip "$T/nonexistent.lnmsgs"
expect2 "listen nowhere:1" $P peer --key "$T/k" --listen nowhere:1
$P peer --help | grep -q 'TRUSTED' || fail "help does not say preloaded gossip is trusted"

# A running node: counters on SIGUSR1, clean exit on SIGTERM.
$P peer --key "$T/a.key" --listen 127.0.0.1:0 --max-peers 1 >"$T/a.out" 2>"$T/a.err" &
A=$!
ph_wait_grep "$T/a.out" '^listening ' "node A's 'listening' line" "$A"
grep -qE '^node_id 0[23][0-9a-f]{64}$' "$T/a.out" || fail "no node_id line"
ID=$(awk '/^node_id /{print $2}' "$T/a.out")
ADDR=$(awk '/^listening /{print $2}' "$T/a.out")
# A peer that stays connected (no --max-messages), killed after init.
$P peer --key "$T/b.key" --connect "$ID@$ADDR" --log-level info >"$T/b.out" 2>"$T/b.err" &
B=$!
ph_wait_grep "$T/b.err" 'init: features' "B to log A's init" "$B"
# A second peer is refused (--max-peers 1): it fails and exits 1.
timeout 20 $P peer --key "$T/c.key" --connect "$ID@$ADDR" --handshake-timeout 2 \
    >/dev/null 2>"$T/c.err"
[ $? -eq 1 ] || fail "refused peer should exit 1"
kill -USR1 "$A"
ph_wait_grep "$T/a.err" 'write buffers held' "A's counters after SIGUSR1" "$A"
grep -q 'out init' "$T/a.err" || fail "SIGUSR1 counters lack per-type lines"
grep -q 'refused a connection' "$T/a.err" || fail "refusal not logged"
kill -TERM "$A"
ph_wait_exit "$A" "A after SIGTERM" || fail "SIGTERM: exit status $?"
A=
grep -q 'closing every session' "$T/a.err" || fail "no shutdown line"
ph_wait_exit "$B" "B after A closed" || fail "B exited with status $? after A closed"
grep -q 'disconnect' "$T/b.err" || fail "B did not log the disconnect"
ph_done
