#!/bin/sh
# Record, then replay, same figures. Node A (`peerheap peer`, strategy S)
# serves the mainnet sample to 8 peerheap clients, recording its sessions
# (--record, --keylog) and its own write-path figures (--stats-json). Then
# `peerheap replay` of that recording, replaying what A sent (--from A),
# over sockets with strategy S, must report the frames A wrote, the write
# buffers it acquired and their bytes: exactly for fresh, exact, reuse and
# ring; for pool and tiered, whose buffer counts depend on how many peers
# are mid-write at once (socket timing), within a stated tolerance.
# Six recordings and six replays of 8 x 28,809 messages: more than the
# interop helpers' default whole-script deadline on a loaded 2-core machine.
IH_DEADLINE=${IH_DEADLINE:-900}
. tests/e2e/lib.sh
. tests/interop/lib.sh
ih_need_peer
# The replay measures with jemalloc: a sanitizer build has no statistics
# (a declared skip, counted by the runner).
if ! ph_have_jemalloc record_replay; then
    ph_done
    exit 0
fi
T=$IH_TMP
SAMPLE=captures/mainnet-gossip.lnmsgs
NSAMPLE=28809
NPEERS=8
# pool / tiered: buffers acquired may differ by up to this many per peer
TOLERANCE_PER_PEER=8

for strat in fresh exact reuse pool ring tiered; do
    ih_log "node A with --strategy $strat"
    rm -f "$T/a.pcap" "$T/a.keys" "$T/a.json" "$T/r.json"
    ih_peer_start "a_$strat" --listen 127.0.0.1:0 --gossip "$SAMPLE" --strategy "$strat" \
        --record "$T/a.pcap" --keylog "$T/a.keys" --stats-json "$T/a.json"
    PORT=$(ih_peer_port "a_$strat")
    US="$(ih_peer_id "a_$strat")@127.0.0.1:$PORT"
    i=1
    while [ $i -le $NPEERS ]; do
        # init + A's gossip_timestamp_filter + the whole sample; no pings of
        # their own (each would add a pong to A's writes)
        ih_peer_start "c${i}_$strat" --connect "$US" --ping-interval 0 \
            --max-messages $((NSAMPLE + 2)) --exit-after-idle 30
        i=$((i + 1))
    done
    i=1
    while [ $i -le $NPEERS ]; do
        ih_peer_wait "c${i}_$strat" 120
        i=$((i + 1))
    done
    ih_peer_stop "a_$strat"
    [ -s "$T/a.json" ] || ih_fail "$strat: node A wrote no --stats-json"
    "$PEERHEAP" replay "$T/a.pcap" --keylog "$T/a.keys" --from "127.0.0.1:$PORT" \
        --transport socket --strategy "$strat" --quiet --json "$T/r.json" >"$T/r.out" 2>&1 ||
        { cat "$T/r.out"; ih_fail "$strat: replay of A's recording failed"; }
    python3 - "$T/a.json" "$T/r.json" "$strat" "$NPEERS" "$NSAMPLE" "$TOLERANCE_PER_PEER" <<'PY' ||
import json, sys
live_path, replay_path, strat, peers, nsample, tol = sys.argv[1:]
peers, nsample, tol = int(peers), int(nsample), int(tol)
live = json.load(open(live_path))["strategies"][0]
rep = json.load(open(replay_path))["strategies"][0]
assert live["name"] == strat and rep["name"] == strat, (live["name"], rep["name"])
# what A wrote: each client's init, filter and the whole sample
want = peers * (nsample + 2)
assert live["writes"] == want, f"live node wrote {live['writes']} frames, want {want}"
for key in ("writes", "write_bytes"):
    assert live[key] == rep[key], f"{key}: live {live[key]} replay {rep[key]}"
for key in ("wbuf_buffers_allocated", "wbuf_bytes_requested"):
    a, b = live[key], rep[key]
    if strat in ("pool", "tiered"):
        limit = tol * peers * (1 if key.endswith("allocated") else 65535)
        assert abs(a - b) <= limit, f"{key}: live {a} replay {b} (tolerance {limit})"
    else:
        assert a == b, f"{key}: live {a} replay {b}"
print(f"{strat}: writes {rep['writes']}, buffers live {live['wbuf_buffers_allocated']} "
      f"replay {rep['wbuf_buffers_allocated']}, bytes live {live['wbuf_bytes_requested']} "
      f"replay {rep['wbuf_bytes_requested']}")
PY
        ih_fail "$strat: the replay's figures differ from the live node's"
done
echo "record_replay: ok (6 strategies, $NPEERS peers x $NSAMPLE messages)"
ph_done
