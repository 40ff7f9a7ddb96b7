#!/bin/sh
# shellcheck disable=SC2086 # step lists are split into words on purpose
# Interoperability with node-lightning 0.26.1 (@node-lightning/noise and
# @node-lightning/wire, pinned in tests/interop/package-lock.json and
# installed with npm ci; tests/interop/nl_peer.js), both directions with one
# peerheap process:
#   in_*  node-lightning connects to our peer (we are the BOLT 8 responder);
#   out_* node-lightning listens and our peer connects to it (we initiate).
# Checked: handshake and init, 3 + 3 pings, the largest message each way (a
# 65,535-byte ping and its 65,535-byte pong), a 65,535-byte unknown odd
# message ignored, 300 more unknown odd messages, the whole preloaded mainnet
# sample (28,809 messages) streamed to node-lightning with every
# announcement signature verified by it, signed gossip both ways
# (node-lightning's gossip verified by our store, shown by its relay to the
# other node-lightning which verifies it again; a bad signature not
# relayed), unknown even message -> warning + disconnect, error/warning texts
# logged, clean exit on SIGTERM.
# node-lightning 0.26.1 breaks once both directions have rotated keys (one
# chaining key for both, see tests/interop/README.md): each node-lightning
# sends fewer than 500 messages per connection here; it receives ~29,000.
. tests/e2e/lib.sh
. tests/interop/lib.sh
ih_need_peer
ih_need_node
T=$IH_TMP
SAMPLE=captures/mainnet-gossip.lnmsgs
NSAMPLE=28809
# Each main session gets the sample plus the other main session's 5 messages.
NG=$((NSAMPLE + 5 + 4))
# + our own 4 (--announce): channel_announcement 1x0x0, its two updates, our node_announcement.
# Our peer pings every 2 s (node-lightning disconnects a peer sending more
# than 10 pings a minute): each node-lightning waits for one of them.
MAIN="ping:3 big big-odd gossip odd-burst:300 expect-gossip:$NG:lax ping:3 expect-recv:18:1"

ih_log "node-lightning listeners for our outbound connections"
# It stays connected after its warning until our peer has logged it (the
# driver opens the barrier "warned-out" then), so that closing cannot race
# the warning.
ih_cp_listen out nl $MAIN wait-file:"$T/bad-done" ping:1 warning:ph-interop-warning-out wait-file:"$T/warned-out"
ih_cp_listen out_even nl unknown-even expect-warning expect-close
ih_cp_listen out_err nl error:ph-interop-error-out expect-close

ih_log "our peer: listening, connecting to 3 node-lightning nodes, the mainnet sample preloaded"
ih_peer_start peer --announce peerheap-interop --listen 127.0.0.1:0 --gossip "$SAMPLE" --log-level debug --ping-interval 2 \
    --connect "$(ih_cp_target out)" --connect "$(ih_cp_target out_even)" --connect "$(ih_cp_target out_err)"
US="$(ih_peer_id peer)@127.0.0.1:$(ih_peer_port peer)"

ih_log "node-lightning connects to us: main session"
ih_cp_run in nl "$US" $MAIN warning:ph-interop-warning-in ping:1 || ih_fail "in: exit status $?"
ih_log "node-lightning connects to us: a channel_announcement with a bad signature"
ih_cp_run in_bad nl "$US" gossip-bad ping:1
touch "$T/bad-done"
ih_wait_grep "$T/peer.err" 'ph-interop-warning-out' "$IH_WAIT" || ih_fail "our peer did not log out's warning"
touch "$T/warned-out"
ih_log "node-lightning connects to us: unknown even message, then error"
ih_cp_run in_even nl "$US" unknown-even expect-warning expect-close || ih_fail "in_even: exit status $?"
ih_cp_run in_err nl "$US" error:ph-interop-error-in expect-close || ih_fail "in_err: exit status $?"

for n in out out_even out_err; do ih_cp_wait $n || ih_fail "$n: exit status $?"; done
ih_peer_stop peer

ih_log "checking"
for n in in out; do
    for s in init ping:3 big big-odd gossip expect-gossip:$NG:lax expect-recv:18:1; do ih_ok $n "$s"; done
    ih_has $n '"pong_len":65535' "65,535-byte pong"
    # Verified by node-lightning: the sample's 27 channel_announcements, 2,251
    # node_announcements, 73 channel_updates of announced channels, and the
    # other side's 5 messages; none bad (expect-gossip), the rest of the
    # updates have no announcement to be checked against.
    v=$(sed -n 's/.*"ev":"done".*"sig_ok":\([0-9]*\).*/\1/p' "$T/$n.out")
    [ "${v:-0}" -ge 2356 ] || ih_fail "$n: $v gossip signatures verified, want >= 2,356"
done
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
for n in in_even out_even; do
    ih_ok $n expect-warning
    ih_ok $n expect-close
done
ih_ok in_err expect-close
ih_ok out_err expect-close
for t in ph-interop-warning-in ph-interop-warning-out ph-interop-error-in ph-interop-error-out; do
    ih_peer_log_has peer "$t" "their text '$t'"
done
# Our own signatures (--announce), verified by the counterparty's own code.
ih_check_our_gossip peer in out
echo "interop_nodelightning: ok"
ph_done
