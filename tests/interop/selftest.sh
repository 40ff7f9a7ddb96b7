#!/bin/sh
# shellcheck disable=SC2086 # step lists are split into words on purpose
# Self-test of the two counterparties against each other, without peerheap:
# Electrum <-> node-lightning, both directions (each one listening once).
# Shows that the scripts themselves interoperate (handshake, init, pings,
# the largest message, an unknown odd message, signed gossip verified both
# ways, a bad signature detected, warning text carried). Run from the repo
# root: sh tests/interop/selftest.sh
PEERHEAP=${PEERHEAP:-none}
. tests/interop/lib.sh
ih_need_node
ih_need_electrum

# node-lightning's ping-flood guard disconnects after 10 pings a minute: stay under.
# The bad gossip goes out only once both sides saw each other's odd burst,
# i.e. after the good gossip was checked.
STEPS="ping:3 big big-odd gossip expect-gossip:5 odd-burst:50 expect-recv:40001:50"

for pair in "electrum nl" "nl electrum"; do
    set -- $pair
    L=$1 C=$2
    ih_log "$L listens, $C connects"
    ih_cp_listen "l_$L" "$L" $STEPS gossip-bad warning:selftest-warning-from-$L expect-close
    ih_cp_run "c_$C" "$C" "$(ih_cp_target "l_$L")" $STEPS expect-warning ||
        ih_fail "c_$C exited with status $?"
    ih_cp_wait "l_$L" || ih_fail "l_$L exited with status $?"
    for n in "l_$L" "c_$C"; do
        for s in init ping:3 big big-odd gossip; do ih_ok "$n" "$s"; done
    done
    ih_ok "c_$C" expect-warning
    ih_has "c_$C" "\"ev\":\"warning\",\"text\":\"selftest-warning-from-$L\"" "warning text"
    bad=$(sed -n 's/.*"ev":"gossip_bad_sent","scid":"\([^"]*\)".*/\1/p' "$IH_TMP/l_$L.out")
    ih_has "c_$C" "\"sig\":\"bad\",\"scid\":\"$bad\"" "bad signature detected"
done
echo "selftest: ok"
