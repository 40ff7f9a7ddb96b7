#!/bin/sh
# Regenerates the seed corpora of tests/fuzz/corpus/ (regression inputs,
# regress-*, are kept): made by the project's generators and from its own
# bundled recordings. Run from the repository root after `make tests-build`
# and `make fuzz` (it needs build/ and build-fuzz/):
#   sh tests/fuzz/seeds.sh
set -eu
C=tests/fuzz/corpus
for d in capture keylog lnmsgs noise reasm report wire; do
    mkdir -p "$C/$d"
    find "$C/$d" -type f ! -name 'regress-*' -delete
done
# capture: one small session in every link layer, pcap variant, and over
# several interfaces (the malformed corpus is read as seeds too)
build/tests/test_malformed --write-fuzz-seeds "$C/capture"
# noise: a whole session for each role, across a key rotation
PH_FUZZ_WRITE_SEEDS="$C/noise" build-fuzz/fuzz/fuzz_noise
# wire: the first messages of each type of the mainnet sample; lnmsgs: its
# first records (both from captures/mainnet-gossip.lnmsgs)
python3 - "$C" <<'PY'
import sys
c = sys.argv[1]
data = open("captures/mainnet-gossip.lnmsgs", "rb").read()
off, seen, n = 0, {}, 0
while off + 2 <= len(data):
    l = int.from_bytes(data[off:off + 2], "big")
    msg = data[off + 2:off + 2 + l]
    t = int.from_bytes(msg[:2], "big")
    if seen.get(t, 0) < 12:
        seen[t] = seen.get(t, 0) + 1
        open("%s/wire/seed-%d-%d" % (c, t, seen[t]), "wb").write(msg)
    off += 2 + l
    n += 1
    if n == 60:
        open("%s/lnmsgs/seed-first60" % c, "wb").write(data[:off])
# link messages the sample lacks: init, ping, pong, gossip_timestamp_filter
for name, hexs in [("init", "00100000000206000000000000"), ("ping", "0012000400020000"),
                   ("pong", "001300020000"), ("filter", "0109" + "00" * 32 + "0000000000000001")]:
    open("%s/wire/seed-%s" % (c, name), "wb").write(bytes.fromhex(hexs))
# reasm: a SYN, SYN-ACK, data each way, FIN (records of 12 bytes)
rec = lambda ep, fl, seq, ack, ln: bytes([ep, fl]) + seq.to_bytes(4, "little") + ack.to_bytes(4, "little") + ln.to_bytes(2, "little")
s = bytes([1]) + rec(0x04, 2, 100, 0, 0) + rec(0x01, 0x12, 500, 101, 0) + rec(0x04, 0x18, 101, 501, 50) + \
    rec(0x01, 0x18, 501, 151, 30) + rec(0x04, 0x11, 151, 531, 0)
open("%s/reasm/seed-session" % c, "wb").write(s)
PY
cp tests/malformed/ip-options.pcap.keys "$C/keylog/seed-plain.keys"
# report: what replay --json writes for a small session
build/peerheap replay tests/malformed/ip-options.pcap --transport model --strategy all --quiet \
    --json "$C/report/seed-replay.json" >/dev/null
echo "seeds written to $C"
