#!/bin/sh
# shellcheck disable=SC2086 # step lists are split into words on purpose
# Interoperability with Electrum (Debian python3-electrum: its BOLT 8
# transport and lnpeer.Peer; tests/interop/electrum_peer.py), both
# directions with one peerheap process:
#   in_*  Electrum connects to our peer (we are the BOLT 8 responder);
#   out_* Electrum listens and our peer connects to it (we initiate).
# Checked: handshake and init (Electrum's feature and chain checks, with its
# gossip node's features and, for the *_even sessions, its wallet's), 3 pings,
# the largest message each way (a 65,535-byte ping and its 65,535-byte pong),
# a 65,535-byte unknown odd message ignored, 1,200 pings and 1,200 pongs in a
# burst (both directions' keys rotate twice), signed gossip both ways (the
# preloaded sample's verifiable part and the other Electrum's gossip relayed
# by us, all verified by Electrum; Electrum's gossip verified by our store,
# shown by its relay, a bad signature neither relayed), unknown even message
# -> warning + disconnect, error/warning texts logged, clean exit on SIGTERM.
. tests/e2e/lib.sh
. tests/interop/lib.sh
ih_need_peer
ih_need_electrum
T=$IH_TMP

"$IH_PY" "$IH_DIR/lnmsgs_subset.py" captures/mainnet-gossip.lnmsgs "$T/subset.lnmsgs" >"$T/subset.json" ||
    ih_fail "cannot write the gossip subset"
NSUB=$(sed -n 's/.*"out": \([0-9]*\).*/\1/p' "$T/subset.json")
# Each main session gets the preloaded subset plus the other main session's 5.
NG=$((NSUB + 5 + 4))
# + our own 4 (--announce): channel_announcement 1x0x0, its two updates, our node_announcement.
# Our peer pings every 0.5 s: each Electrum waits for 3 of our pings (its
# Peer answers them; a missing pong would make us disconnect).
MAIN="ping:3 big big-odd gossip burst:1200 expect-gossip:$NG expect-recv:18:3"

ih_log "Electrum listeners for our outbound connections"
# It stays connected after its warning until our peer has logged it (the
# driver opens the barrier "warned-out" then), so that closing cannot race
# the warning.
ih_cp_listen out electrum $MAIN wait-file:"$T/bad-done" ping:1 warning:ph-interop-warning-out wait-file:"$T/warned-out"
ih_cp_listen out_even electrum --features wallet unknown-even expect-warning expect-close
ih_cp_listen out_err electrum error:ph-interop-error-out expect-close

ih_log "our peer: listening, connecting to 3 Electrum nodes, $NSUB messages preloaded"
ih_peer_start peer --announce peerheap-interop --listen 127.0.0.1:0 --gossip "$T/subset.lnmsgs" --log-level debug --ping-interval 0.5 \
    --connect "$(ih_cp_target out)" --connect "$(ih_cp_target out_even)" --connect "$(ih_cp_target out_err)"
US="$(ih_peer_id peer)@127.0.0.1:$(ih_peer_port peer)"

ih_log "Electrum connects to us: main session"
ih_cp_run in electrum "$US" $MAIN warning:ph-interop-warning-in ping:1 || ih_fail "in: exit status $?"
ih_log "Electrum connects to us: a channel_announcement with a bad signature"
ih_cp_run in_bad electrum "$US" gossip-bad ping:1
touch "$T/bad-done"
ih_wait_grep "$T/peer.err" 'ph-interop-warning-out' "$IH_WAIT" || ih_fail "our peer did not log out's warning"
touch "$T/warned-out"
ih_log "Electrum connects to us: unknown even message, then error"
ih_cp_run in_even electrum "$US" --features wallet unknown-even expect-warning expect-close || ih_fail "in_even: exit status $?"
ih_cp_run in_err electrum "$US" error:ph-interop-error-in expect-close || ih_fail "in_err: exit status $?"

for n in out out_even out_err; do ih_cp_wait $n || ih_fail "$n: exit status $?"; done
ih_peer_stop peer

ih_log "checking"
for n in in out; do
    for s in init ping:3 big big-odd gossip burst:1200 expect-gossip:$NG expect-recv:18:3; do ih_ok $n "$s"; done
    ih_has $n '"pong_len":65535' "65,535-byte pong"
    ih_has $n '"sent":1200,"pongs":1200,"wrong_length":0' "1,200 pongs"
done
# Electrum's gossip reached the other Electrum through our store: verified by us, then by it.
IN_SCID=$(sed -n 's/.*"ev":"gossip_sent","scid":"\([^"]*\)".*/\1/p' "$T/in.out")
OUT_SCID=$(sed -n 's/.*"ev":"gossip_sent","scid":"\([^"]*\)".*/\1/p' "$T/out.out")
ih_has out "\"type\":256,\"len\":432,\"sig\":\"ok\",\"scid\":\"$IN_SCID\"" "relayed channel_announcement of in"
ih_has in "\"type\":256,\"len\":432,\"sig\":\"ok\",\"scid\":\"$OUT_SCID\"" "relayed channel_announcement of out"
BAD_SCID=$(sed -n 's/.*"ev":"gossip_bad_sent","scid":"\([^"]*\)".*/\1/p' "$T/in_bad.out")
[ -n "$BAD_SCID" ] || ih_fail "in_bad sent no bad gossip"
ih_hasnt out "\"scid\":\"$BAD_SCID\"" "relay of a badly signed channel_announcement"
ih_has in_bad '"ev":"warning"' "warning about the bad signature"
# What our store made of their gossip (debug log lines).
[ "$(grep -Ec 'channel_announcement.*accepted' "$T/peer.err")" -ge 2 ] || ih_fail "peer: 2 channel_announcements not accepted"
[ "$(grep -Ec 'channel_update.*accepted' "$T/peer.err")" -ge 4 ] || ih_fail "peer: 4 channel_updates not accepted"
[ "$(grep -Ec 'node_announcement.*accepted' "$T/peer.err")" -ge 4 ] || ih_fail "peer: 4 node_announcements not accepted"
ih_peer_log_has peer 'channel_announcement.*bad.signature' "the bad signature"
ih_ok out wait-file:"$T/bad-done"
ih_ok out wait-file:"$T/warned-out"
# Unknown even message: a warning, then we close.
for n in in_even out_even; do
    ih_ok $n expect-warning
    ih_ok $n expect-close
done
ih_ok in_err expect-close
ih_ok out_err expect-close
# Their error/warning texts are in our log.
for t in ph-interop-warning-in ph-interop-warning-out ph-interop-error-in ph-interop-error-out; do
    ih_peer_log_has peer "$t" "their text '$t'"
done
# Our own signatures (--announce), verified by the counterparty's own code.
ih_check_our_gossip peer in out
echo "interop_electrum: ok"
ph_done
