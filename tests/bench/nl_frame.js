#!/usr/bin/env node
/* make bench: node-lightning's BOLT 8 framing of the same messages, for
 * bench_writepath's table. One pass of @node-lightning/noise's
 * NoiseState.encryptMessage over every message of an .lnmsgs file (keys
 * rotating every 500 messages as BOLT 8 says), after one warm-up pass;
 * prints the CPU nanoseconds per message (process.cpuUsage, the same
 * measure as the C rows: the thread's CPU time).
 *
 *   node nl_frame.js FILE.lnmsgs
 * The package is the interop tests' (tests/interop, npm ci). Exit 2 on
 * usage or an unreadable file. */
'use strict';

const fs = require('fs');
const path = require('path');

const interop = path.join(__dirname, '..', 'interop', 'node_modules');
const { NoiseState } = require(path.join(interop, '@node-lightning', 'noise', 'dist', 'noise-state'));

function load(file) {
    const buf = fs.readFileSync(file);
    const msgs = [];
    for (let off = 0; off + 2 <= buf.length;) {
        const len = buf.readUInt16BE(off);
        if (off + 2 + len > buf.length) throw new Error(`${file}: record at ${off} truncated`);
        msgs.push(buf.subarray(off + 2, off + 2 + len));
        off += 2 + len;
    }
    return msgs;
}

/* A transport as after a handshake: sending key, chaining key, nonce 0. */
function transport() {
    const s = new NoiseState({ ls: Buffer.alloc(32, 0x11), es: Buffer.alloc(32, 0x12) });
    s.sk = Buffer.alloc(32, 0x42);
    s.ck = Buffer.alloc(32, 0x24);
    s.sn = Buffer.alloc(12);
    return s;
}

function pass(msgs) {
    const s = transport();
    let bytes = 0;
    for (const m of msgs) bytes += s.encryptMessage(m).length;
    return bytes;
}

function main() {
    if (process.argv.length !== 3) {
        process.stderr.write('usage: node nl_frame.js FILE.lnmsgs\n');
        process.exit(2);
    }
    let msgs;
    try {
        msgs = load(process.argv[2]);
    } catch (e) {
        process.stderr.write(`nl_frame: ${e.message}\n`);
        process.exit(2);
    }
    pass(msgs);
    const t0 = process.cpuUsage();
    pass(msgs);
    const d = process.cpuUsage(t0);
    process.stdout.write(`${((d.user + d.system) * 1000 / msgs.length).toFixed(1)}\n`);
}

main();
