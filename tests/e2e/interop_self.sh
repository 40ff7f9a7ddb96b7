#!/bin/sh
# shellcheck disable=SC2086 # the strategy list is split into words on purpose
# Our peer against itself: one node preloaded with the whole mainnet sample
# (28,809 messages) serves it, through gossip_timestamp_filter, to 8 other
# peerheap nodes at once; each one dumps the gossip it received
# (--dump-received) and stops after init + 28,809 messages (--max-messages).
# Every dump must equal the sample byte for byte, in order. Once per
# write-buffer strategy of the serving node (the clients cycle through them
# too).
# Six strategies x 8 clients x 28,809 messages: more than the interop
# helpers' default whole-script deadline on a loaded 2-core machine.
IH_DEADLINE=${IH_DEADLINE:-600}
. tests/e2e/lib.sh
. tests/interop/lib.sh
ih_need_peer
T=$IH_TMP
SAMPLE=captures/mainnet-gossip.lnmsgs
NSAMPLE=28809
NPEERS=8

STRATEGIES="fresh exact reuse pool ring tiered"

for strat in $STRATEGIES; do
    ih_log "serving node with --strategy $strat"
    # The server asks its clients for nothing: they have no gossip to send.
    ih_peer_start "s_$strat" --listen 127.0.0.1:0 --gossip "$SAMPLE" --gossip-filter none --strategy "$strat"
    US="$(ih_peer_id "s_$strat")@127.0.0.1:$(ih_peer_port "s_$strat")"
    i=1
    set -- $STRATEGIES
    while [ $i -le $NPEERS ]; do
        [ $# -gt 0 ] || set -- $STRATEGIES
        ih_peer_start "c${i}_$strat" --connect "$US" --gossip-filter all --strategy "$1" \
            --dump-received "$T/c${i}_$strat.lnmsgs" --max-messages $((NSAMPLE + 1)) --exit-after-idle 20
        shift
        i=$((i + 1))
    done
    i=1
    while [ $i -le $NPEERS ]; do
        c="c${i}_$strat"
        ih_peer_wait "$c" 60
        cmp -s "$T/$c.lnmsgs" "$SAMPLE" ||
            ih_fail "$c: the gossip received differs from $SAMPLE ($(wc -c <"$T/$c.lnmsgs") bytes vs $(wc -c <"$SAMPLE")): $(cmp "$T/$c.lnmsgs" "$SAMPLE" 2>&1 | head -n 1)"
        rm -f "$T/$c.lnmsgs"
        i=$((i + 1))
    done
    ih_peer_stop "s_$strat"
done
echo "interop_self: ok ($NPEERS peers x $NSAMPLE messages, byte-exact, strategies: $STRATEGIES)"
ph_done
