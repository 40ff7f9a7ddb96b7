#!/usr/bin/python3
"""Electrum counterparty for peerheap's interoperability tests.

Runs Electrum's BOLT 8 transport (electrum.lntransport.LNTransport to connect,
LNResponderTransport to accept) and Electrum's own Peer (electrum.lnpeer) for
the init exchange (its feature and chain checks), answering pings, and logging
error/warning, driven by a scenario given as steps on the command line.
Gossip it receives is checked with Electrum's own verifiers
(ChannelDB.verify_*); gossip it sends is encoded with electrum.lnmsg and
signed with electrum.ecc. Results: one JSON object per line on stdout;
Electrum's logs go to stderr. See README.md for the steps and events.

Run it with Debian's interpreter, /usr/bin/python3 (python3-electrum):
  /usr/bin/python3 electrum_peer.py [--key HEX] (--listen PORT | --connect PUBKEY@HOST:PORT)
                   [--timeout SEC] [--wait SEC] [--features gossip|wallet] [--quiet] STEP...

Exit: 0 every step passed, 1 a step failed, 2 usage, 3 overall timeout.
"""
import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
import sys
import time

from electrum import constants, ecc
from electrum.channel_db import ChannelDB
from electrum.crypto import sha256d
from electrum.interface import GracefulDisconnect
from electrum.lnmsg import encode_msg, decode_msg, FailedToParseMsg
from electrum.lnpeer import Peer
from electrum.lntransport import LNTransport, LNResponderTransport
from electrum.lnutil import LNPeerAddr, LightningPeerConnectionClosed
from electrum.lnverifier import verify_sig_for_channel_update
from electrum.lnworker import LNGOSSIP_FEATURES, LNWALLET_FEATURES

T_WARNING, T_INIT, T_ERROR, T_PING, T_PONG = 1, 16, 17, 18, 19
T_CHAN_ANN, T_NODE_ANN, T_CHAN_UPD = 256, 257, 258
GOSSIP_TYPES = (T_CHAN_ANN, T_NODE_ANN, T_CHAN_UPD)
# 32768+ is BOLT 1's experimental range: nobody implements these.
UNKNOWN_EVEN = 40000
UNKNOWN_ODD = 40001
MAX_MSG = 65535
# Electrum's Peer.on_ping builds a pong of num_pong_bytes without checking the
# 65,532 limit and crashes; such pings are not handed to it.
PONG_LIMIT = 65532


def emit(**obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def usage(msg):
    sys.stderr.write(f"electrum_peer: {msg}\n")
    sys.exit(2)


def u16(v):
    return v.to_bytes(2, 'big')


def ping_msg(num_pong_bytes, ignored_len):
    return u16(T_PING) + u16(num_pong_bytes) + u16(ignored_len) + bytes(ignored_len)


def text_msg(msg_type, text):
    name = 'warning' if msg_type == T_WARNING else 'error'
    data = text.encode('utf-8')
    return encode_msg(name, channel_id=bytes(32), len=len(data), data=data)


def opaque_msg(msg_type, total_len):
    return u16(msg_type) + bytes((i * 131 + 7) & 0xff for i in range(total_len - 2))


def scid_str(b):
    return f"{int.from_bytes(b[0:3], 'big')}x{int.from_bytes(b[3:6], 'big')}x{int.from_bytes(b[6:8], 'big')}"


def derive_key(ls, label):
    n = 0
    while True:
        k = hashlib.sha256(ls + f"{label}/{n}".encode()).digest()
        if 0 < int.from_bytes(k, 'big') < ecc.CURVE_ORDER:
            return k
        n += 1


def sign(secret, h):
    return ecc.ECPrivkey(secret).sign(h, sigencode=ecc.sig_string_from_r_and_s)


def build_gossip(ls, now):
    """A signed channel between our node and a second node of ours, both its
    channel_updates and both node_announcements (BOLT 7)."""
    chain = constants.net.rev_genesis_bytes()
    sides = []
    for node, btc, alias in ((ls, derive_key(ls, 'peerheap-interop-btc1'), 'electrum-interop-a'),
                             (derive_key(ls, 'peerheap-interop-node2'),
                              derive_key(ls, 'peerheap-interop-btc2'), 'electrum-interop-b')):
        sides.append({'node': node, 'btc': btc, 'alias': alias,
                      'id': ecc.ECPrivkey(node).get_public_key_bytes(),
                      'bid': ecc.ECPrivkey(btc).get_public_key_bytes()})
    sides.sort(key=lambda s: s['id'])
    h = hashlib.sha256(ls).digest()
    scid = bytes([0x0b, h[0], h[1], 0, h[2], h[3], 0, h[4] & 1])
    fields = dict(len=0, features=b'', chain_hash=chain, short_channel_id=scid,
                  node_id_1=sides[0]['id'], node_id_2=sides[1]['id'],
                  bitcoin_key_1=sides[0]['bid'], bitcoin_key_2=sides[1]['bid'])
    unsigned = encode_msg('channel_announcement', **fields)
    ah = sha256d(unsigned[2 + 256:])
    ann = encode_msg('channel_announcement',
                     node_signature_1=sign(sides[0]['node'], ah), node_signature_2=sign(sides[1]['node'], ah),
                     bitcoin_signature_1=sign(sides[0]['btc'], ah), bitcoin_signature_2=sign(sides[1]['btc'], ah),
                     **fields)
    msgs = [ann]
    for direction, s in enumerate(sides):
        f = dict(chain_hash=chain, short_channel_id=scid, timestamp=now,
                 message_flags=b'\x01', channel_flags=bytes([direction]), cltv_expiry_delta=144,
                 htlc_minimum_msat=1000, fee_base_msat=1000, fee_proportional_millionths=1 + direction,
                 htlc_maximum_msat=1000000000)
        raw = encode_msg('channel_update', **f)
        msgs.append(encode_msg('channel_update', signature=sign(s['node'], sha256d(raw[2 + 64:])), **f))
    for s in sides:
        f = dict(flen=0, features=b'', timestamp=now, node_id=s['id'], rgb_color=b'\x12\x34\x56',
                 alias=s['alias'].encode().ljust(32, b'\0'), addrlen=0, addresses=b'')
        raw = encode_msg('node_announcement', **f)
        msgs.append(encode_msg('node_announcement', signature=sign(s['node'], sha256d(raw[66:])), **f))
    return scid_str(scid), msgs


class GossipChecker:
    """Checks the gossip the other side sends with Electrum's verifiers."""

    def __init__(self):
        self.channels = {}   # scid bytes -> (node_id_1, node_id_2)
        self.waiting = []    # channel_updates seen before their channel
        self.counts = {'sig_ok': 0, 'bad': 0, 'unverified': 0, 'malformed': 0}

    def _report(self, msg_type, length, verdict, **detail):
        self.counts['sig_ok' if verdict == 'ok' else verdict] += 1
        emit(ev='gossip', type=msg_type, len=length, sig=verdict, **detail)

    def check(self, raw):
        msg_type = int.from_bytes(raw[:2], 'big')
        try:
            name, payload = decode_msg(raw)
            payload['raw'] = raw
            if msg_type == T_CHAN_ANN:
                verdict, detail = self._ann(payload)
            elif msg_type == T_NODE_ANN:
                verdict, detail = self._node(payload)
            else:
                verdict, detail = self._upd(raw, payload, retrying=False)
        except (FailedToParseMsg, ValueError, AssertionError) as e:
            verdict, detail = 'malformed', {'error': repr(e)}
        self._report(msg_type, len(raw), verdict, **detail)
        if msg_type == T_CHAN_ANN and verdict == 'ok':
            self._retry_waiting()

    def _ann(self, p):
        detail = {'scid': scid_str(p['short_channel_id'])}
        try:
            ChannelDB.verify_channel_announcement(p)
        except Exception:
            return 'bad', detail
        self.channels[p['short_channel_id']] = (p['node_id_1'], p['node_id_2'])
        return 'ok', detail

    def _node(self, p):
        detail = {'node_id': p['node_id'].hex()}
        try:
            ChannelDB.verify_node_announcement(p)
        except Exception:
            return 'bad', detail
        return 'ok', detail

    def _upd(self, raw, p, retrying):
        direction = p['channel_flags'][0] & 1
        detail = {'scid': scid_str(p['short_channel_id']), 'direction': direction}
        nodes = self.channels.get(p['short_channel_id'])
        if nodes is None:
            if not retrying:
                self.waiting.append((raw, p))
            return 'unverified', detail
        if p['chain_hash'] != constants.net.rev_genesis_bytes():
            return 'bad', detail
        return ('ok' if verify_sig_for_channel_update(p, nodes[direction]) else 'bad'), detail

    def _retry_waiting(self):
        still = []
        for raw, p in self.waiting:
            verdict, detail = self._upd(raw, p, retrying=True)
            if verdict == 'unverified':
                still.append((raw, p))
                continue
            self.counts['unverified'] -= 1
            self._report(T_CHAN_UPD, len(raw), verdict, late=True, **detail)
        self.waiting = still


class _Network:
    def __init__(self, loop):
        self.asyncio_loop = loop
        self.lngossip = None


class _Worker:
    """The few lnworker hooks Peer's init and control messages use. A node
    with no channels that uses trampoline keeps no gossip of its own."""

    def __init__(self, loop, features):
        self.network = _Network(loop)
        self.features = features

    def channels_for_peer(self, _pubkey):
        return {}

    def get_channel_by_id(self, _channel_id):
        return None

    def uses_trampoline(self):
        return True

    def on_peer_successfully_established(self, _peer):
        pass

    def peer_closed(self, _peer):
        pass


class Session:
    def __init__(self, opts):
        self.opts = opts
        self.ls = bytes.fromhex(opts.key) if opts.key else os.urandom(32)
        if len(self.ls) != 32 or not 0 < int.from_bytes(self.ls, 'big') < ecc.CURVE_ORDER:
            usage('--key must be 32 bytes of hex, a valid secp256k1 secret')
        self.node_id = ecc.ECPrivkey(self.ls).get_public_key_bytes()
        self.features = LNWALLET_FEATURES if opts.features == 'wallet' else LNGOSSIP_FEATURES
        self.sent = {}
        self.recv = {}
        self.pongs = []
        self.texts = []
        self.closed = False
        self.closing = False  # we closed it ourselves
        self.ready = False
        self.gossip = GossipChecker()
        self.gossip_total = 0
        self.peer = None
        self.transport = None
        self.changed = None   # asyncio.Condition, made inside the loop

    async def tick(self):
        async with self.changed:
            self.changed.notify_all()

    async def until(self, cond, sec):
        """True once cond() holds; False after `sec` seconds or when the
        connection closed first."""
        deadline = time.monotonic() + sec
        async with self.changed:
            while not cond():
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return cond()
                try:
                    await asyncio.wait_for(self.changed.wait(), left)
                except asyncio.TimeoutError:
                    return cond()
            return True

    async def send(self, raw):
        if not self.ready or self.closed:
            raise RuntimeError('not connected')
        t = int.from_bytes(raw[:2], 'big')
        self.sent[t] = self.sent.get(t, 0) + 1
        self.transport.send_bytes(raw)
        await self.transport.writer.drain()

    async def start(self, transport, incoming):
        self.transport = transport
        loop = asyncio.get_running_loop()
        if incoming:
            self.peer = Peer(_Worker(loop, self.features), transport.remote_pubkey(), transport)
            await self.peer.initialize()  # handshake already done: sends init
        else:
            self.peer = Peer(_Worker(loop, self.features), transport.remote_pubkey(), transport)
            await self.peer.initialize()  # handshake + init
        emit(ev='handshake', remote=transport.remote_pubkey().hex())
        asyncio.ensure_future(self.read_loop())

    async def read_loop(self):
        reason = 'closed by peer'
        try:
            async for raw in self.transport.read_messages():
                await self.on_message(raw)
        except LightningPeerConnectionClosed:
            if self.closing:
                reason = 'closed by us'
        except GracefulDisconnect as e:
            reason = f'electrum disconnects: {e!r}'
        except Exception as e:  # a transport error ends the session: report it
            reason = f'error: {e!r}'
        emit(ev='closed', reason=reason)
        self.closed = True
        try:
            self.transport.close()
        except Exception:
            pass
        await self.tick()

    async def on_message(self, raw):
        t = int.from_bytes(raw[:2], 'big')
        self.recv[t] = self.recv.get(t, 0) + 1
        if t == T_PONG:
            self.pongs.append(int.from_bytes(raw[2:4], 'big') if len(raw) >= 4 else -1)
        elif t in (T_WARNING, T_ERROR):
            n = int.from_bytes(raw[34:36], 'big') if len(raw) >= 36 else 0
            text = raw[36:36 + n].decode('utf-8', 'replace')
            self.texts.append((t, text))
            emit(ev='warning' if t == T_WARNING else 'error', text=text)
        elif t in GOSSIP_TYPES:
            self.gossip_total += 1
            self.gossip.check(raw)
        elif t == T_PING and len(raw) >= 4 and int.from_bytes(raw[2:4], 'big') >= PONG_LIMIT:
            emit(ev='ping_no_reply', num_pong_bytes=int.from_bytes(raw[2:4], 'big'))
            await self.tick()
            return
        # Electrum's own handling: init checks, pong replies, error/warning.
        # Messages it cannot parse make it disconnect (GracefulDisconnect).
        was_init = self.peer.is_initialized()
        self.peer.process_message(raw)
        if t == T_PING:
            self.sent[T_PONG] = self.sent.get(T_PONG, 0) + 1
            await self.transport.writer.drain()
        if not was_init and self.peer.is_initialized():
            self.ready = True
            emit(ev='init', remote_features=self.peer.their_features.to_bytes(
                (int(self.peer.their_features).bit_length() + 7) // 8, 'big').hex(),
                negotiated=int(self.peer.features))
        await self.tick()

    def close(self):
        if not self.closed and self.transport:
            self.closing = True
            self.transport.close()


def ping_sizes(i):
    return (i * 37) % 1500, (i * 53) % 1500


async def step_pings(s, n, pipelined):
    base = len(s.pongs)
    want = []
    for i in range(n):
        pong, ignored = ping_sizes(i + 1)
        want.append(pong)
        await s.send(ping_msg(pong, ignored))
        if not pipelined and not await s.until(lambda: len(s.pongs) >= base + i + 1, s.opts.wait):
            break
    got = await s.until(lambda: len(s.pongs) >= base + n, s.opts.wait)
    pongs = s.pongs[base:base + n]
    bad = sum(1 for a, b in zip(pongs, want) if a != b)
    return {'ok': got and bad == 0 and len(pongs) == n, 'sent': n, 'pongs': len(pongs), 'wrong_length': bad}


async def step_big(s):
    # A 65,535-byte ping asking for a 65,535-byte pong: the largest message each way.
    ping = ping_msg(MAX_MSG - 4, MAX_MSG - 6)
    base = len(s.pongs)
    await s.send(ping)
    got = await s.until(lambda: len(s.pongs) > base, s.opts.wait)
    plen = s.pongs[base] + 4 if got else None
    return {'ok': got and plen == MAX_MSG, 'sent_len': len(ping), 'pong_len': plen}


async def step_big_odd(s):
    await s.send(opaque_msg(UNKNOWN_ODD, MAX_MSG))
    r = await step_pings(s, 1, False)
    return {'ok': r['ok'], 'sent_len': MAX_MSG, 'type': UNKNOWN_ODD, 'alive': r['ok']}


async def step_gossip(s):
    scid, msgs = build_gossip(s.ls, int(time.time()))
    for m in msgs:
        await s.send(m)
    await s.send(encode_msg('gossip_timestamp_filter', chain_hash=constants.net.rev_genesis_bytes(),
                            first_timestamp=0, timestamp_range=0xffffffff))
    emit(ev='gossip_sent', scid=scid, count=len(msgs), node_id=s.node_id.hex())
    return {'ok': True, 'count': len(msgs), 'scid': scid}


async def step_expect_gossip(s, n, lax):
    """At least n gossip messages, no bad signature, none malformed; unless
    lax, every channel_update checked against its channel_announcement."""
    got = await s.until(lambda: s.gossip_total >= n and (lax or s.gossip.counts['unverified'] == 0),
                        s.opts.wait)
    c = s.gossip.counts
    return {'ok': got and c['bad'] == 0 and c['malformed'] == 0, 'received': s.gossip_total, **c}


async def step_gossip_bad(s):
    """A channel_announcement whose first node signature is broken, and an
    update for it: a validating peer must neither store nor relay them."""
    scid, msgs = build_gossip(derive_key(s.ls, 'peerheap-interop-bad'), int(time.time()))
    ann = bytearray(msgs[0])
    ann[10] ^= 0x01
    await s.send(bytes(ann))
    await s.send(msgs[1])
    emit(ev='gossip_bad_sent', scid=scid)
    return {'ok': True, 'scid': scid}


async def step_expect_text(s, t):
    got = await s.until(lambda: any(x[0] == t for x in s.texts), s.opts.wait)
    return {'ok': got, 'texts': [x[1] for x in s.texts]}


async def run_step(s, step):
    name, _, arg = step.partition(':')
    num = int(arg) if arg.isdigit() else 0
    if name == 'ping':
        return await step_pings(s, num or 3, False)
    if name == 'burst':
        return await step_pings(s, num or 100, True)
    if name == 'big':
        return await step_big(s)
    if name == 'big-odd':
        return await step_big_odd(s)
    if name == 'gossip':
        return await step_gossip(s)
    if name == 'expect-gossip':  # expect-gossip:N[:lax]
        n, _, mode = arg.partition(':')
        return await step_expect_gossip(s, int(n or 1), mode == 'lax')
    if name == 'gossip-bad':
        return await step_gossip_bad(s)
    if name == 'wait-file':  # a barrier the test driver opens by creating the file
        deadline = time.monotonic() + s.opts.wait
        while not os.path.exists(arg):
            if time.monotonic() > deadline or s.closed:
                return {'ok': False, 'path': arg}
            await asyncio.sleep(0.05)
        return {'ok': not s.closed, 'path': arg}
    if name in ('warning', 'error'):
        text = arg or f'electrum_peer {name}'
        await s.send(text_msg(T_WARNING if name == 'warning' else T_ERROR, text))
        return {'ok': True, 'text': text}
    if name == 'send-file':  # every record of a .lnmsgs file, in order
        with open(arg, 'rb') as f:
            data = f.read()
        off = n = 0
        while off + 2 <= len(data):
            ln = int.from_bytes(data[off:off + 2], 'big')
            if ln < 2 or off + 2 + ln > len(data):
                raise ValueError(f'bad record at offset {off}')
            await s.send(data[off + 2:off + 2 + ln])
            off += 2 + ln
            n += 1
        return {'ok': off == len(data), 'sent': n}
    if name == 'odd-burst':
        for i in range(num or 100):
            await s.send(opaque_msg(UNKNOWN_ODD, 2 + (i * 61) % 2000))
        return {'ok': True, 'sent': num or 100, 'type': UNKNOWN_ODD}
    if name == 'expect-recv':  # expect-recv:TYPE:N, at least N of TYPE received in all
        t, _, n = arg.partition(':')
        t, n = int(t), int(n)
        got = await s.until(lambda: s.recv.get(t, 0) >= n, s.opts.wait)
        return {'ok': got, 'type': t, 'received': s.recv.get(t, 0)}
    if name == 'unknown-even':
        await s.send(opaque_msg(UNKNOWN_EVEN, 64))
        return {'ok': True, 'type': UNKNOWN_EVEN}
    if name == 'expect-warning':
        return await step_expect_text(s, T_WARNING)
    if name == 'expect-error':
        return await step_expect_text(s, T_ERROR)
    if name == 'expect-close':
        closed = await s.until(lambda: s.closed, s.opts.wait)
        return {'ok': closed, 'texts': [x[1] for x in s.texts]}
    if name == 'sleep':
        await asyncio.sleep(num / 1000)
        return {'ok': not s.closed}
    if name == 'close':
        s.close()
        await s.until(lambda: s.closed, 5)
        return {'ok': True}
    raise ValueError(f'unknown step {step}')


async def run_scenario(s):
    if not await s.until(lambda: s.ready, s.opts.wait):
        emit(ev='step', step='init', ok=False)
        return False
    emit(ev='step', step='init', ok=True)
    for step in s.opts.steps:
        try:
            r = await run_step(s, step)
        except Exception as e:
            r = {'ok': False, 'error': repr(e)}
        emit(ev='step', step=step, **r)
        if not r['ok']:
            return False
    return True


async def accept_one(s, port):
    """Listen on 127.0.0.1:port; the first connection is the session."""
    got = asyncio.get_running_loop().create_future()

    async def on_conn(reader, writer):
        if got.done():
            writer.close()
            return
        t = LNResponderTransport(s.ls, reader, writer)
        try:
            await asyncio.wait_for(t.handshake(), s.opts.wait)
        except Exception as e:
            emit(ev='handshake_failed', error=repr(e))
            writer.close()
            if not got.done():
                got.set_exception(e)
            return
        if not got.done():
            got.set_result(t)

    server = await asyncio.start_server(on_conn, host='127.0.0.1', port=port)
    host, bound = server.sockets[0].getsockname()[:2]
    emit(ev='listening', host=host, port=bound)
    try:
        t = await got
    finally:
        server.close()
    await s.start(t, incoming=True)


async def connect(s, target):
    m = re.fullmatch(r'([0-9a-fA-F]{66})@([^:]+|\[[^\]]+\]):(\d+)', target)
    if not m:
        usage('--connect wants PUBKEY@HOST:PORT')
    host = m.group(2).strip('[]')
    if host not in ('127.0.0.1', '::1', 'localhost'):
        usage('only 127.0.0.1 / ::1 are allowed')
    addr = LNPeerAddr(host, int(m.group(3)), bytes.fromhex(m.group(1)))
    await s.start(LNTransport(s.ls, addr, proxy=None), incoming=False)


async def amain(opts):
    s = Session(opts)
    s.changed = asyncio.Condition()
    emit(ev='node_id', id=s.node_id.hex(), impl='electrum ' + __import__('electrum').version.ELECTRUM_VERSION)

    async def body():
        try:
            if opts.listen is not None:
                await accept_one(s, opts.listen)
            else:
                await asyncio.wait_for(connect(s, opts.connect), opts.wait)
        except Exception as e:
            emit(ev='connect_failed', error=repr(e))
            return False
        ok = await run_scenario(s)
        s.close()
        await s.until(lambda: s.closed, 2)
        return ok

    try:
        ok = await asyncio.wait_for(body(), opts.timeout)
        code = 0 if ok else 1
    except asyncio.TimeoutError:
        emit(ev='timeout', seconds=opts.timeout)
        ok, code = False, 3
    emit(ev='done', ok=ok, sent={str(k): v for k, v in s.sent.items()},
         recv={str(k): v for k, v in s.recv.items()}, gossip=s.gossip.counts)
    return code


def main():
    ap = argparse.ArgumentParser(description='Electrum counterparty for peerheap interop tests')
    ap.add_argument('--key')
    ap.add_argument('--listen', type=int)
    ap.add_argument('--connect')
    ap.add_argument('--timeout', type=float, default=60)
    ap.add_argument('--wait', type=float, default=15)
    ap.add_argument('--features', choices=('gossip', 'wallet'), default='gossip')
    ap.add_argument('--quiet', action='store_true')
    ap.add_argument('steps', nargs='*')
    opts = ap.parse_args()
    if (opts.listen is None) == (opts.connect is None):
        usage('give exactly one of --listen PORT, --connect PUBKEY@HOST:PORT')
    if opts.listen is not None and not 0 <= opts.listen < 65536:
        usage('bad --listen port')
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING if opts.quiet else logging.INFO,
                        format='electrum %(levelname)s %(name)s: %(message)s')
    sys.exit(asyncio.run(amain(opts)))


if __name__ == '__main__':
    main()
