#!/usr/bin/env node
/* node-lightning counterparty for peerheap's interoperability tests.
 *
 * It runs @node-lightning/noise (BOLT 8) and @node-lightning/wire's Peer
 * (init exchange, answering pings) and drives a scenario given as steps on the
 * command line. Every result is one JSON object per line on stdout; the
 * libraries' own logs go to stderr. See README.md for the steps and events.
 *
 *   node nl_peer.js [--key HEX] (--listen PORT | --connect PUBKEY@HOST:PORT)
 *                   [--timeout SEC] [--wait SEC] [--quiet] STEP...
 *
 * Exit: 0 every step passed, 1 a step failed, 2 usage, 3 overall timeout. */
'use strict';

const nodeCrypto = require('crypto');
const { EventEmitter } = require('events');
const noise = require('@node-lightning/noise');
const wire = require('@node-lightning/wire');
const lncrypto = require('@node-lightning/crypto');
const { BitField } = require('@node-lightning/core');
const { Logger, ConsoleTransport, LogLevel } = require('@node-lightning/logger');

const MAINNET = Buffer.from('6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000', 'hex');
const T = {
    WARNING: 1, INIT: 16, ERROR: 17, PING: 18, PONG: 19,
    CHAN_ANN: 256, NODE_ANN: 257, CHAN_UPD: 258, GOSSIP_FILTER: 265,
};
/* Types nobody implements: 32768+ is the experimental range (BOLT 1). */
const UNKNOWN_EVEN = 40000;
const UNKNOWN_ODD = 40001;
const MAX_MSG = 65535;

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function usage(msg) {
    process.stderr.write(`nl_peer: ${msg}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const o = { key: null, listen: null, connect: null, timeout: 60, wait: 15, quiet: false, steps: [] };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const next = () => {
            if (i + 1 >= argv.length) usage(`${a} needs a value`);
            return argv[++i];
        };
        if (a === '--key') o.key = next();
        else if (a === '--listen') o.listen = Number(next());
        else if (a === '--connect') o.connect = next();
        else if (a === '--timeout') o.timeout = Number(next());
        else if (a === '--wait') o.wait = Number(next());
        else if (a === '--quiet') o.quiet = true;
        else if (a.startsWith('--')) usage(`unknown option ${a}`);
        else o.steps.push(a);
    }
    if ((o.listen === null) === (o.connect === null)) usage('give exactly one of --listen PORT, --connect PUBKEY@HOST:PORT');
    if (o.listen !== null && !(Number.isInteger(o.listen) && o.listen >= 0 && o.listen < 65536)) usage('bad --listen port');
    if (!(o.timeout > 0) || !(o.wait > 0)) usage('bad --timeout/--wait');
    return o;
}

/* ---- message encoding (BOLT 1 / BOLT 7 layouts, big-endian) ---- */

function u16(v) { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; }
function u32(v) { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; }
function u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(v)); return b; }

function pingMsg(numPongBytes, ignoredLen) {
    return Buffer.concat([u16(T.PING), u16(numPongBytes), u16(ignoredLen), Buffer.alloc(ignoredLen)]);
}

function textMsg(type, text) {
    const data = Buffer.from(text, 'utf8');
    return Buffer.concat([u16(type), Buffer.alloc(32), u16(data.length), data]);
}

function filterMsg(first, range) {
    return Buffer.concat([u16(T.GOSSIP_FILTER), MAINNET, u32(first), u32(range)]);
}

function opaqueMsg(type, totalLen) {
    const body = Buffer.alloc(totalLen - 2);
    for (let i = 0; i < body.length; i++) body[i] = (i * 131 + 7) & 0xff;
    return Buffer.concat([u16(type), body]);
}

function scidString(buf) {
    return `${buf.readUIntBE(0, 3)}x${buf.readUIntBE(3, 3)}x${buf.readUInt16BE(6)}`;
}

/* Keys derived from the node key so a run is reproducible from --key. */
function deriveKey(ls, label) {
    for (let n = 0; ; n++) {
        const k = nodeCrypto.createHash('sha256').update(ls).update(`${label}/${n}`).digest();
        if (lncrypto.validPrivateKey(k)) return k;
    }
}

/* A signed channel between our node and a second node of ours, both its
 * channel_updates and both node_announcements (BOLT 7). */
function buildGossip(ls, now) {
    const other = deriveKey(ls, 'peerheap-interop-node2');
    const sides = [
        { node: ls, btc: deriveKey(ls, 'peerheap-interop-btc1'), alias: 'nl-interop-a' },
        { node: other, btc: deriveKey(ls, 'peerheap-interop-btc2'), alias: 'nl-interop-b' },
    ].map(s => ({ ...s, id: lncrypto.getPublicKey(s.node), bid: lncrypto.getPublicKey(s.btc) }));
    sides.sort((a, b) => Buffer.compare(a.id, b.id));
    const h = lncrypto.sha256(ls);
    const scid = Buffer.concat([
        Buffer.from([0x0a, h[0], h[1]]), Buffer.from([0, h[2], h[3]]), Buffer.from([0, h[4] & 1]),
    ]);
    const annBody = Buffer.concat([u16(0), MAINNET, scid, sides[0].id, sides[1].id, sides[0].bid, sides[1].bid]);
    const annHash = lncrypto.hash256(annBody);
    const sigs = [sides[0].node, sides[1].node, sides[0].btc, sides[1].btc].map(k => lncrypto.sign(annHash, k));
    const ann = Buffer.concat([u16(T.CHAN_ANN), ...sigs, annBody]);

    const updates = sides.map((s, dir) => {
        const body = Buffer.concat([
            MAINNET, scid, u32(now), Buffer.from([1, dir]), u16(144),
            u64(1000), u32(1000), u32(1 + dir), u64(1000000000),
        ]);
        const sig = lncrypto.sign(lncrypto.hash256(body), s.node);
        return Buffer.concat([u16(T.CHAN_UPD), sig, body]);
    });
    const nodes = sides.map(s => {
        const alias = Buffer.alloc(32);
        alias.write(s.alias, 'ascii');
        const body = Buffer.concat([u16(0), u32(now), s.id, Buffer.from([0x12, 0x34, 0x56]), alias, u16(0)]);
        const sig = lncrypto.sign(lncrypto.hash256(body), s.node);
        return Buffer.concat([u16(T.NODE_ANN), sig, body]);
    });
    return { scid: scidString(scid), msgs: [ann, ...updates, ...nodes] };
}

/* ---- gossip verification of what the other side sends ---- */

class GossipChecker {
    constructor() {
        this.channels = new Map(); /* scid hex -> [node_id_1, node_id_2] */
        this.waiting = [];         /* channel_updates seen before their channel */
        this.counts = { sig_ok: 0, bad: 0, unverified: 0, malformed: 0 };
    }

    learnChannel(msg) {
        const o = 2 + 256 + 2 + msg.readUInt16BE(2 + 256);
        const scid = msg.subarray(o + 32, o + 40).toString('hex');
        this.channels.set(scid, [msg.subarray(o + 40, o + 73), msg.subarray(o + 73, o + 106)]);
    }

    /* Returns the verdict and reports it as a "gossip" event. */
    check(msg) {
        const type = msg.readUInt16BE(0);
        let verdict;
        let detail = {};
        try {
            if (type === T.CHAN_ANN) [verdict, detail] = this._ann(msg);
            else if (type === T.NODE_ANN) [verdict, detail] = this._node(msg);
            else [verdict, detail] = this._upd(msg);
        } catch (e) {
            verdict = 'malformed';
            detail = { error: String(e.message || e) };
        }
        this._report(type, msg.length, verdict, detail);
        if (type === T.CHAN_ANN && verdict === 'ok') this._retryWaiting();
        return verdict;
    }

    _report(type, len, verdict, detail) {
        this.counts[verdict === 'ok' ? 'sig_ok' : verdict] += 1;
        emit({ ev: 'gossip', type, len, sig: verdict, ...detail });
    }

    _ann(msg) {
        const flen = msg.readUInt16BE(2 + 256);
        const signed = msg.subarray(2 + 256);
        const o = 2 + 256 + 2 + flen;
        const keys = [0, 1, 2, 3].map(i => msg.subarray(o + 40 + 33 * i, o + 73 + 33 * i));
        if (msg.length < o + 40 + 4 * 33) throw new Error('short channel_announcement');
        const hash = lncrypto.hash256(signed);
        const good = keys.every((k, i) => lncrypto.verifySig(hash, msg.subarray(2 + 64 * i, 66 + 64 * i), k));
        if (good) this.learnChannel(msg);
        return [good ? 'ok' : 'bad', { scid: scidString(msg.subarray(o + 32, o + 40)) }];
    }

    _node(msg) {
        const flen = msg.readUInt16BE(66);
        const id = msg.subarray(72 + flen, 105 + flen);
        if (id.length !== 33) throw new Error('short node_announcement');
        const good = lncrypto.verifySig(lncrypto.hash256(msg.subarray(66)), msg.subarray(2, 66), id);
        return [good ? 'ok' : 'bad', { node_id: id.toString('hex') }];
    }

    _upd(msg, retrying) {
        if (msg.length < 130) throw new Error('short channel_update');
        const scid = msg.subarray(98, 106);
        const dir = msg[2 + 64 + 32 + 8 + 4 + 1] & 1;
        const nodes = this.channels.get(scid.toString('hex'));
        const detail = { scid: scidString(scid), direction: dir };
        if (!nodes) {
            if (!retrying) this.waiting.push(msg);
            return ['unverified', detail];
        }
        const good = lncrypto.verifySig(lncrypto.hash256(msg.subarray(66)), msg.subarray(2, 66), nodes[dir]);
        return [good ? 'ok' : 'bad', detail];
    }

    /* An update that arrived before its announcement is re-checked once the
     * announcement shows up: the verdict moves from "unverified". */
    _retryWaiting() {
        const still = [];
        for (const m of this.waiting) {
            const [verdict, detail] = this._upd(m, true);
            if (verdict === 'unverified') { still.push(m); continue; }
            this.counts.unverified -= 1;
            this._report(T.CHAN_UPD, m.length, verdict, { ...detail, late: true });
        }
        this.waiting = still;
    }
}

/* ---- the session ---- */

class Session extends EventEmitter {
    constructor(opts) {
        super();
        this.opts = opts;
        this.ls = opts.key ? Buffer.from(opts.key, 'hex') : lncrypto.createPrivateKey();
        if (this.ls.length !== 32 || !lncrypto.validPrivateKey(this.ls)) usage('--key must be 32 bytes of hex, a valid secp256k1 secret');
        this.id = lncrypto.getPublicKey(this.ls);
        this.sent = {};
        this.recv = {};
        this.pongs = [];
        this.texts = [];   /* warnings and errors received */
        this.closed = false;
        this.ready = false;
        this.gossip = new GossipChecker();
        this.gossipTotal = 0;
        this.logger = new Logger('nl_peer');
        this.logger.level = opts.quiet ? LogLevel.Warn : LogLevel.Info;
        this.logger.transports.push(new ConsoleTransport({ log: l => process.stderr.write(l + '\n') }));
    }

    makePeer() {
        const features = new BitField();
        features.set(7); /* gossip_queries, optional */
        const peer = new wire.Peer(this.ls, features, [MAINNET], this.logger);
        peer.reconnectTimeoutMs = 1e9; /* never reconnect on its own */
        peer.on('open', () => emit({ ev: 'handshake', remote: peer.socket.rpk.toString('hex') }));
        peer.on('ready', () => this._onReady(peer));
        peer.on('rawmessage', raw => this._onMessage(raw));
        peer.on('data', () => {}); /* keep its object stream flowing */
        peer.on('error', err => emit({ ev: 'peer_error', error: String(err.message || err) }));
        peer.on('close', () => this._onClose());
        this.peer = peer;
        return peer;
    }

    /* Peer emits "close" only when it closed the connection itself: watch
     * the socket for the other side closing. */
    watchSocket() {
        this.peer.socket.on('close', () => this._onClose());
    }

    _onReady(peer) {
        this.ready = true;
        emit({
            ev: 'init', remote_features: peer.remoteFeatures.toBuffer().toString('hex'),
            remote_chains: peer.remoteChains.map(c => c.toString('hex')),
        });
        this.emit('tick');
    }

    _onClose() {
        if (this.closed) return;
        this.closed = true;
        emit({ ev: 'closed' });
        this.emit('tick');
    }

    _onMessage(raw) {
        const type = raw.readUInt16BE(0);
        this.recv[type] = (this.recv[type] || 0) + 1;
        if (type === T.PONG) {
            this.pongs.push(raw.length >= 4 ? raw.readUInt16BE(2) : -1);
        } else if (type === T.WARNING || type === T.ERROR) {
            const len = raw.length >= 36 ? raw.readUInt16BE(34) : 0;
            const text = raw.subarray(36, 36 + len).toString('utf8');
            this.texts.push({ type, text });
            emit({ ev: type === T.WARNING ? 'warning' : 'error', text });
        } else if (type === T.CHAN_ANN || type === T.NODE_ANN || type === T.CHAN_UPD) {
            this.gossipTotal += 1;
            this.gossip.check(raw);
        } else if (type === T.PING && raw.length >= 4 && raw.readUInt16BE(2) >= 65532) {
            emit({ ev: 'ping_no_reply', num_pong_bytes: raw.readUInt16BE(2) });
        }
        this.emit('tick');
    }

    send(buf) {
        if (!this.ready || this.closed) throw new Error('not connected');
        const type = buf.readUInt16BE(0);
        this.sent[type] = (this.sent[type] || 0) + 1;
        this.peer.send(buf);
    }

    /* Resolves true once cond() holds, false after `sec` seconds or when the
     * connection closes first (unless cond accepts a closed session). */
    until(cond, sec) {
        return new Promise(resolve => {
            if (cond()) return resolve(true);
            const done = ok => {
                clearTimeout(timer);
                this.removeListener('tick', check);
                resolve(ok);
            };
            const check = () => {
                if (cond()) done(true);
                else if (this.closed) done(false);
            };
            const timer = setTimeout(() => done(cond()), sec * 1000);
            this.on('tick', check);
        });
    }
}

/* ---- steps ---- */

function pingSizes(i) {
    return { pong: (i * 37) % 1500, ignored: (i * 53) % 1500 };
}

async function stepPings(s, n, pipelined) {
    const base = s.pongs.length;
    let bad = 0;
    const want = [];
    for (let i = 0; i < n; i++) {
        const z = pingSizes(i + 1);
        want.push(z.pong);
        s.send(pingMsg(z.pong, z.ignored));
        if (!pipelined && !(await s.until(() => s.pongs.length >= base + i + 1, s.opts.wait))) break;
    }
    const got = await s.until(() => s.pongs.length >= base + n, s.opts.wait);
    const pongs = s.pongs.slice(base, base + n);
    pongs.forEach((len, i) => { if (len !== want[i]) bad += 1; });
    return { ok: got && bad === 0 && pongs.length === n, sent: n, pongs: pongs.length, wrong_length: bad };
}

async function stepBig(s) {
    /* A 65,535-byte ping asking for a 65,535-byte pong: the largest message
     * each way. */
    const ping = pingMsg(MAX_MSG - 4, MAX_MSG - 6);
    const base = s.pongs.length;
    s.send(ping);
    const got = await s.until(() => s.pongs.length > base, s.opts.wait);
    const len = got ? s.pongs[base] + 4 : null;
    return { ok: got && len === MAX_MSG, sent_len: ping.length, pong_len: len };
}

async function stepBigOdd(s) {
    s.send(opaqueMsg(UNKNOWN_ODD, MAX_MSG));
    const r = await stepPings(s, 1, false); /* still talking to us? */
    return { ok: r.ok, sent_len: MAX_MSG, type: UNKNOWN_ODD, alive: r.ok };
}

function stepGossip(s) {
    const g = buildGossip(s.ls, Math.floor(Date.now() / 1000));
    for (const m of g.msgs) s.send(m);
    s.send(filterMsg(0, 0xffffffff));
    emit({ ev: 'gossip_sent', scid: g.scid, count: g.msgs.length, node_id: s.id.toString('hex') });
    return { ok: true, count: g.msgs.length, scid: g.scid };
}

/* expect-gossip:N[:lax]: at least N gossip messages, no bad signature, none
 * malformed; without :lax every channel_update must also have been checked
 * against its channel_announcement. */
async function stepExpectGossip(s, n, lax) {
    const done = () => s.gossipTotal >= n && (lax || s.gossip.counts.unverified === 0);
    const got = await s.until(done, s.opts.wait);
    const c = s.gossip.counts;
    return { ok: got && c.bad === 0 && c.malformed === 0, received: s.gossipTotal, ...c };
}

/* A channel_announcement whose first node signature is broken, and an update
 * for it: a validating peer must neither store nor relay them. */
function stepGossipBad(s) {
    const g = buildGossip(deriveKey(s.ls, 'peerheap-interop-bad'), Math.floor(Date.now() / 1000));
    const ann = Buffer.from(g.msgs[0]);
    ann[10] ^= 0x01;
    s.send(ann);
    s.send(g.msgs[1]);
    emit({ ev: 'gossip_bad_sent', scid: g.scid });
    return { ok: true, scid: g.scid };
}

/* Bounded wait for a file the test driver creates: a barrier between runs. */
async function stepWaitFile(s, path) {
    const fs = require('fs');
    const end = Date.now() + s.opts.wait * 1000;
    while (!fs.existsSync(path)) {
        if (Date.now() > end || s.closed) return { ok: false, path };
        await new Promise(r => setTimeout(r, 50));
    }
    return { ok: !s.closed, path };
}

/* Every record of a .lnmsgs file (2-byte length + message), in order. */
function stepSendFile(s, path) {
    const data = require('fs').readFileSync(path);
    let off = 0;
    let n = 0;
    while (off + 2 <= data.length) {
        const len = data.readUInt16BE(off);
        if (len < 2 || off + 2 + len > data.length) throw new Error(`bad record at offset ${off}`);
        s.send(data.subarray(off + 2, off + 2 + len));
        off += 2 + len;
        n += 1;
    }
    return { ok: off === data.length, sent: n };
}

function stepOddBurst(s, n) {
    for (let i = 0; i < n; i++) s.send(opaqueMsg(UNKNOWN_ODD, 2 + ((i * 61) % 2000)));
    return { ok: true, sent: n, type: UNKNOWN_ODD };
}

/* expect-recv:TYPE:N: at least N messages of TYPE received in all. */
async function stepExpectRecv(s, arg) {
    const [type, n] = arg.split(':').map(Number);
    const got = await s.until(() => (s.recv[type] || 0) >= n, s.opts.wait);
    return { ok: got, type, received: s.recv[type] || 0 };
}

async function stepExpectClose(s) {
    const closed = await s.until(() => s.closed, s.opts.wait);
    return { ok: closed, texts: s.texts.map(t => t.text) };
}

async function stepExpectText(s, type) {
    const got = await s.until(() => s.texts.some(t => t.type === type), s.opts.wait);
    return { ok: got, texts: s.texts.map(t => t.text) };
}

async function runStep(s, step) {
    const [name, arg = ''] = step.split(/:(.*)/s);
    const num = Number(arg);
    switch (name) {
    case 'ping': return stepPings(s, num || 3, false);
    case 'burst': return stepPings(s, num || 100, true);
    case 'big': return stepBig(s);
    case 'big-odd': return stepBigOdd(s);
    case 'gossip': return stepGossip(s);
    case 'expect-gossip': return stepExpectGossip(s, parseInt(arg, 10) || 1, arg.endsWith(':lax'));
    case 'gossip-bad': return stepGossipBad(s);
    case 'wait-file': return stepWaitFile(s, arg);
    case 'warning': s.send(textMsg(T.WARNING, arg || 'nl_peer warning')); return { ok: true, text: arg };
    case 'error': s.send(textMsg(T.ERROR, arg || 'nl_peer error')); return { ok: true, text: arg };
    case 'send-file': return stepSendFile(s, arg);
    case 'odd-burst': return stepOddBurst(s, num || 100);
    case 'expect-recv': return stepExpectRecv(s, arg);
    case 'unknown-even': s.send(opaqueMsg(UNKNOWN_EVEN, 64)); return { ok: true, type: UNKNOWN_EVEN };
    case 'expect-warning': return stepExpectText(s, T.WARNING);
    case 'expect-error': return stepExpectText(s, T.ERROR);
    case 'expect-close': return stepExpectClose(s);
    case 'sleep': await new Promise(r => setTimeout(r, num || 0)); return { ok: !s.closed };
    case 'close': s.peer.disconnect(); await s.until(() => s.closed, 5); return { ok: true };
    default: throw new Error(`unknown step ${step}`);
    }
}

async function runScenario(s) {
    if (!(await s.until(() => s.ready, s.opts.wait))) {
        emit({ ev: 'step', step: 'init', ok: false });
        return false;
    }
    emit({ ev: 'step', step: 'init', ok: true });
    let ok = true;
    for (const step of s.opts.steps) {
        let r;
        try {
            r = await runStep(s, step);
        } catch (e) {
            r = { ok: false, error: String(e.message || e) };
        }
        emit({ ev: 'step', step, ...r });
        if (!r.ok) { ok = false; break; }
    }
    return ok;
}

function finish(s, ok, code) {
    emit({ ev: 'done', ok, sent: s.sent, recv: s.recv, gossip: s.gossip.counts });
    /* Let stdout drain before leaving. */
    process.stdout.write('', () => process.exit(code));
}

function main() {
    const opts = parseArgs(process.argv.slice(2));
    const s = new Session(opts);
    emit({ ev: 'node_id', id: s.id.toString('hex'), impl: 'node-lightning 0.26.1' });
    setTimeout(() => { emit({ ev: 'timeout', seconds: opts.timeout }); finish(s, false, 3); }, opts.timeout * 1000).unref();

    const run = () => runScenario(s).then(ok => {
        if (!s.closed && s.peer) s.peer.disconnect();
        finish(s, ok, ok ? 0 : 1);
    });

    if (opts.listen !== null) {
        const server = new noise.NoiseServer({ ls: s.ls }, socket => {
            if (s.peer) { socket.destroy(); return; } /* one session per run */
            s.makePeer().attach(socket);
            s.watchSocket();
            server.close();
            run();
        });
        server.on('error', e => { emit({ ev: 'listen_error', error: String(e.message || e) }); finish(s, false, 1); });
        server.listen({ host: '127.0.0.1', port: opts.listen }, () => {
            const a = server.address();
            emit({ ev: 'listening', host: a.address, port: a.port });
        });
    } else {
        const m = /^([0-9a-fA-F]{66})@([^:]+|\[[^\]]+\]):(\d+)$/.exec(opts.connect);
        if (!m) usage('--connect wants PUBKEY@HOST:PORT');
        const host = m[2].replace(/^\[|\]$/g, '');
        if (!['127.0.0.1', '::1', 'localhost'].includes(host)) usage('only 127.0.0.1 / ::1 are allowed');
        s.makePeer().connect(Buffer.from(m[1], 'hex'), host, Number(m[3]));
        s.watchSocket();
        run();
    }
}

main();
