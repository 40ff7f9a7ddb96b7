#!/bin/sh
# Every option of `peerheap replay` has an effect a test can see: each one is
# run here (model transport: deterministic figures, virtual time) and its
# effect asserted from the --json report, against the capture's own content
# (dump's listing, its timestamps) or the same run without the option.
# Among them: --pace capture|xK against the capture's timestamps, and
# --verify failing - relays dropped at the soft cap never reach the remotes:
# each is a missing frame, exit 1, the first one named.
set -u
. tests/e2e/lib.sh
ph_require_tool python3 script
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:exitcode=86"
FLOOD=captures/gossip-flood.pcap     # the responder, 127.0.0.1:40897, streamed the gossip
LN=captures/mainnet-gossip.lnmsgs

# Replays measure with jemalloc's statistics; sanitizer builds have none and
# the replay refuses to run there (replay.sh checks that refusal).
ph_have_jemalloc replay-options || { ph_done; exit 0; }

run() { # NAME WANT ARGS...: peerheap replay ARGS --json T/NAME.json, exit WANT
    name=$1 want=$2
    shift 2
    "$PEERHEAP" replay "$@" --quiet --json "$T/$name.json" >"$T/$name.out" 2>"$T/$name.err"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/$name.err"; fail "$name: exit $rc, want $want"; }
    ! grep -q -e "Sanitizer" -e "runtime error" "$T/$name.err" || { cat "$T/$name.err"; fail "$name: sanitizer"; }
}

# check NAME... -- PYTHON: the python code sees r[NAME] (the reports) and s[NAME]
# (their first strategy); T is the scratch directory.
check() {
    what=$1
    shift
    python3 - "$T" "$@" <<PY || fail "$what"
import json, sys
T = sys.argv[1]
names = sys.argv[2:sys.argv.index("--")] if "--" in sys.argv else sys.argv[2:]
r = {n: json.load(open(f"{T}/{n}.json")) for n in names}
s = {n: r[n]["strategies"][0] for n in names}
$(cat)
PY
}

# What the flood's responder sent, from dump's own listing: every message
# (the paced input) and the replayed ones (less init, ping, pong, filter).
"$PEERHEAP" dump "$FLOOD" --json >"$T/flood.jsonl" || fail "dump of $FLOOD"
"$PEERHEAP" dump "$LN" --json >"$T/ln.jsonl" || fail "dump of $LN"

# --transport model, --strategy, --peers, --linger 0: the base run.
run base 0 "$FLOOD" --transport model --strategy exact --peers 2 --linger 0
check "base: every replayed message to both peers, no virtual time" base <<'PY'
own = (16, 18, 19, 265)
rows = [json.loads(l) for l in open(f"{T}/flood.jsonl")]
sent = [o for o in rows if o.get("src") == "127.0.0.1:40897" and "type" in o]
n = sum(1 for o in sent if o["type"] not in own)
b = s["base"]
assert r["base"]["options"]["sink"] == "model" and r["base"]["options"]["peers"] == 2
assert b["writes"] == 2 * (n + 2), (b["writes"], n)
assert b["virtual_seconds"] == 0, b["virtual_seconds"]
PY

# --pace capture / xK: relayed at the captured times, on the virtual clock:
# the phase lasts exactly from the side's first message to its last (K
# times faster: the nanoseconds divided by K, rounded down).
run pace 0 "$FLOOD" --transport model --strategy exact --pace capture --linger 0
run pace10 0 "$FLOOD" --transport model --strategy exact --pace x10 --linger 0
check "--pace against the capture's timestamps" pace pace10 base <<'PY'
rows = [json.loads(l) for l in open(f"{T}/flood.jsonl")]
ts = [o["ts_ns"] for o in rows if o.get("src") == "127.0.0.1:40897" and "ts_ns" in o]
span = ts[-1] - ts[0]
assert span > 100_000_000, span
assert r["pace"]["options"]["pace"] == "capture" and r["pace10"]["options"]["pace"] == "x10"
assert abs(s["pace"]["virtual_seconds"] - span / 1e9) < 1e-9, (s["pace"]["virtual_seconds"], span)
assert abs(s["pace10"]["virtual_seconds"] - (span // 10) / 1e9) < 1e-9, s["pace10"]["virtual_seconds"]
assert s["pace"]["writes"] == s["pace10"]["writes"] == s["base"]["writes"] // 2
PY

# --linger S: the node idles S more seconds of virtual time after the last write.
run linger 0 "$FLOOD" --transport model --strategy exact --pace capture --linger 7
check "--linger adds its seconds" pace linger <<'PY'
assert abs(s["linger"]["virtual_seconds"] - s["pace"]["virtual_seconds"] - 7) < 1e-9
assert r["linger"]["options"]["linger_seconds"] == 7
PY

# --keylog: the keys under another name; without them nothing decrypts.
cp "$FLOOD" "$T/nokeys.pcap"
run nokeys 2 "$T/nokeys.pcap" --transport model --strategy exact --linger 0
run keylog 0 "$T/nokeys.pcap" --keylog "$FLOOD.keys" --transport model --strategy exact --linger 0
check "--keylog decrypts the same session" keylog base <<'PY'
assert s["keylog"]["writes"] == s["base"]["writes"] // 2
PY

# --filter: a BPF expression that keeps the session, and one that keeps nothing.
run filter 0 "$FLOOD" --filter "tcp port 40897" --transport model --strategy exact --linger 0
run filternone 2 "$FLOOD" --filter "tcp port 1" --transport model --strategy exact --linger 0
grep -q "no Lightning session" "$T/filternone.err" || fail "--filter: an empty result is not named"
check "--filter keeps the session" filter keylog <<'PY'
assert s["filter"]["writes"] == s["keylog"]["writes"]
PY

# --types: only channel_update, as many as dump lists from that side.
run types 0 "$FLOOD" --types channel_update --transport model --strategy exact --linger 0
check "--types" types <<'PY'
rows = [json.loads(l) for l in open(f"{T}/flood.jsonl")]
n = sum(1 for o in rows if o.get("src") == "127.0.0.1:40897" and o.get("type") == 258)
assert r["types"]["input"]["messages"] == n, (r["types"]["input"]["messages"], n)
assert s["types"]["writes"] == n + 2
assert set(s["types"]["by_type"]) <= {"channel_update", "init", "gossip_timestamp_filter",
                                       "(no message)"}, s["types"]["by_type"].keys()
PY

# --encode per-write: each message decoded once per peer (the message and
# its shareable handle); stored copies bytes and decodes nothing.
run encode 0 "$LN" --transport model --strategy exact --peers 2 --linger 0 --encode per-write
run stored 0 "$LN" --transport model --strategy exact --peers 2 --linger 0
check "--encode" encode stored <<'PY'
n = r["stored"]["input"]["messages"]
assert r["encode"]["options"]["encode"] == "per-write"
assert s["encode"]["by_row"]["decode"]["allocations"] == 2 * 2 * n
assert s["stored"]["by_row"]["decode"]["allocations"] == 0
assert s["encode"]["write_bytes"] == s["stored"]["write_bytes"]
PY

# --model-buffer: a 4 KiB socket buffer makes partial writes and EAGAIN,
# the default one far fewer; the same frames either way.
run smallbuf 0 "$LN" --transport model --strategy exact --peers 2 --linger 0 --model-buffer 4096
check "--model-buffer" smallbuf stored <<'PY'
a, b = s["smallbuf"], s["stored"]
assert a["partial_writes"] > 10 * b["partial_writes"] and a["would_block"] > 10 * b["would_block"], (a["partial_writes"], b["partial_writes"])
assert a["writes"] == b["writes"] and a["write_bytes"] == b["write_bytes"]
PY

# --reader-rate: the remotes read at most R bytes/s after a second's burst,
# so the phase lasts about each peer's bytes / R of virtual time.
run rate 0 "$LN" --transport model --strategy exact --peers 2 --linger 0 --reader-rate 1000000
check "--reader-rate" rate <<'PY'
a = s["rate"]
per_peer = a["write_bytes"] / 2
assert per_peer / 1e6 - 2 < a["virtual_seconds"] < per_peer / 1e6, (a["virtual_seconds"], per_peer)
assert r["rate"]["options"]["reader_rate"] == 1000000
PY

# --stalled with --verify: the reader that never reads is left out, the
# other gets every message byte-exact.
run stalled 0 "$LN" --transport model --strategy exact --peers 2 --stalled 1 --linger 0 --verify
check "--stalled" stalled <<'PY'
n = r["stalled"]["input"]["messages"]
a = s["stalled"]
assert a["verified"] == n and a["mismatches"] == 0, (a["verified"], n)
assert a["writes"] < 2 * (n + 2)
PY

# --queue-soft and --verify that fails: the .lnmsgs has no timestamps, so a
# paced replay relays everything at once; above a 64 KiB soft cap the node
# drops relays, and each dropped relay is a frame the remote never gets:
# missing, exit 1, the first one named. With room for the whole capture
# (8 MiB) nothing is dropped.
run soft 1 "$LN" --transport model --strategy exact --peers 2 --pace x1000 --queue-soft 65536 \
    --linger 0 --verify
grep -q "exact: [0-9]* frames did not arrive as captured (0 different, [0-9]* missing); first: reader 0: frame [0-9]* never arrived" "$T/soft.err" ||
    { cat "$T/soft.err"; fail "--verify: the missing frames are not reported"; }
run nosoft 0 "$LN" --transport model --strategy exact --peers 2 --pace x1000 --queue-soft 8388608 \
    --linger 0 --verify
check "--queue-soft drops, --verify counts each drop as missing" soft nosoft <<'PY'
a, b = s["soft"], s["nosoft"]
n = r["soft"]["input"]["messages"]
assert a["dropped"] > 0 and b["dropped"] == 0
assert a["missing"] == a["dropped"] == a["mismatches"], (a["missing"], a["dropped"], a["mismatches"])
assert a["verified"] + a["missing"] == 2 * n
assert a["verify_problem"].startswith("reader 0: frame "), a["verify_problem"]
assert b["verified"] == 2 * n and b["mismatches"] == 0 and b["verify_problem"] == ""
assert r["soft"]["options"]["queue_soft"] == 65536
PY

# --queue-hard: the backlog is pulled 64 KiB at a time, so a 4 KiB hard cap
# (with the soft cap, which it may not be under) disconnects both peers;
# the soft cap alone does not.
run hard 0 "$LN" --transport model --strategy exact --peers 2 --queue-soft 4096 --queue-hard 4096 \
    --linger 0
run softonly 0 "$LN" --transport model --strategy exact --peers 2 --queue-soft 4096 --linger 0
check "--queue-hard disconnects" hard softonly <<'PY'
assert s["hard"]["disconnected"] == 2, s["hard"]["disconnected"]
assert s["softonly"]["disconnected"] == 0
assert r["hard"]["options"]["queue_hard"] == 4096
PY

# --pool-workers: the pool never has more buffers than workers.
run workers 0 "$LN" --transport model --strategy pool --peers 3 --pool-workers 2 --linger 0
check "--pool-workers" workers <<'PY'
assert s["workers"]["wbuf_buffers_allocated"] == 2, s["workers"]["wbuf_buffers_allocated"]
PY

# --pool-expiry: after 10 s of linger, a 5 s expiry has freed every pooled
# buffer; the default 30 s has freed none.
run expiry5 0 "$LN" --transport model --strategy pool --peers 3 --pool-expiry 5 --linger 10
run expiry30 0 "$LN" --transport model --strategy pool --peers 3 --linger 10
check "--pool-expiry" expiry5 expiry30 <<'PY'
a, b = s["expiry5"], s["expiry30"]
assert a["wbuf_buffers_allocated"] == b["wbuf_buffers_allocated"] > 0
freed = b["by_row"]["write_buffers"]["end_live_bytes"] - a["by_row"]["write_buffers"]["end_live_bytes"]
assert freed == 65536 * a["wbuf_buffers_allocated"], (freed, a["wbuf_buffers_allocated"])
PY

# --quiet: the progress line shows on a terminal, and not with --quiet.
script -qec "'$PEERHEAP' replay '$LN' --transport model --strategy exact --linger 0 >/dev/null" \
    /dev/null >"$T/tty.txt" 2>&1 || fail "replay on a terminal"
grep -q "messages" "$T/tty.txt" || fail "no progress line on a terminal"
script -qec "'$PEERHEAP' replay '$LN' --transport model --strategy exact --linger 0 --quiet >/dev/null" \
    /dev/null >"$T/ttyq.txt" 2>&1 || fail "replay --quiet on a terminal"
[ ! -s "$T/ttyq.txt" ] || { od -c "$T/ttyq.txt" | head; fail "--quiet still printed progress"; }
ph_done
