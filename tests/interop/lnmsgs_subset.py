#!/usr/bin/python3
"""Write the verifiable part of a .lnmsgs gossip file: every
channel_announcement, the channel_updates of those channels and the
node_announcements of their nodes, in file order. Records are a 2-byte
big-endian length followed by the message (type included).

  lnmsgs_subset.py IN.lnmsgs OUT.lnmsgs

Prints one JSON line with the counts. The mainnet sample holds far more
channel_updates than announcements; a counterparty can only check an
update's signature against its channel's announcement, so the interop tests
serve this subset when every signature must be checked."""
import json
import sys


def records(data):
    off = 0
    while off < len(data):
        if off + 2 > len(data):
            raise ValueError(f'truncated length at offset {off}')
        n = int.from_bytes(data[off:off + 2], 'big')
        if n < 2 or off + 2 + n > len(data):
            raise ValueError(f'bad record at offset {off}')
        yield data[off + 2:off + 2 + n]
        off += 2 + n


def ann_fields(m):
    flen = int.from_bytes(m[258:260], 'big')
    o = 260 + flen
    return m[o + 32:o + 40], (m[o + 40:o + 73], m[o + 73:o + 106])


def main():
    if len(sys.argv) != 3:
        sys.stderr.write('usage: lnmsgs_subset.py IN.lnmsgs OUT.lnmsgs\n')
        sys.exit(2)
    with open(sys.argv[1], 'rb') as f:
        msgs = list(records(f.read()))
    scids, nodes = set(), set()
    for m in msgs:
        if int.from_bytes(m[:2], 'big') == 256:
            scid, ids = ann_fields(m)
            scids.add(scid)
            nodes.update(ids)
    keep = []
    counts = {'256': 0, '257': 0, '258': 0}
    for m in msgs:
        t = int.from_bytes(m[:2], 'big')
        if t == 256 or (t == 258 and m[98:106] in scids):
            pass
        elif t == 257:
            flen = int.from_bytes(m[66:68], 'big')
            if m[72 + flen:105 + flen] not in nodes:
                continue
        else:
            continue
        keep.append(m)
        counts[str(t)] += 1
    with open(sys.argv[2], 'wb') as f:
        for m in keep:
            f.write(len(m).to_bytes(2, 'big') + m)
    print(json.dumps({'in': len(msgs), 'out': len(keep), 'types': counts}))


if __name__ == '__main__':
    main()
