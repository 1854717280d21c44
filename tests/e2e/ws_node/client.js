#!/usr/bin/env node
// client.js BASE_URL - npm's `ws` as a second, independent WebSocket
// client for test_websocket.py, against tests/e2e/ws_app.srv at BASE_URL
// (ws://127.0.0.1:PORT).  Runs each check in turn and prints one JSON
// object of what it saw, {name: result}; the Python test asserts on it.
// A check that throws records {"error": "..."}; the whole run is bounded
// by the timer at the bottom.
'use strict';

const WebSocket = require('ws');

const base = process.argv[2];

// Opens BASE + PATH and resolves with the open socket (rejects on error).
// Messages are queued from the start: the server's first one may come in
// the same read as the handshake's answer, before `open` has resolved.
function open(path, options, protocols) {
  return new Promise((resolve, reject) => {
    const ws = protocols ? new WebSocket(base + path, protocols, options)
                         : new WebSocket(base + path, options);
    ws.inbox = [];
    ws.waiting = [];
    ws.on('message', (data, binary) => {
      const m = { data, binary };
      if (ws.waiting.length) ws.waiting.shift().resolve(m);
      else ws.inbox.push(m);
    });
    ws.once('close', (code) => {
      for (const w of ws.waiting.splice(0)) w.reject(new Error('closed with ' + code));
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error('HTTP ' + res.statusCode)));
  });
}

// The next message on WS as {data, binary}.
function next(ws) {
  if (ws.inbox.length) return Promise.resolve(ws.inbox.shift());
  return new Promise((resolve, reject) => ws.waiting.push({ resolve, reject }));
}

// Resolves with {code, reason} once WS has closed.
function closed(ws) {
  return new Promise((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

// Echoes text and binary messages, small and large, and reports which
// came back the same.
async function echo(perMessageDeflate) {
  const ws = await open('/echo', { perMessageDeflate });
  const big = 'srv '.repeat(16384); // 64 KiB of compressible text
  const bin = Buffer.alloc(40000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7) & 0xff;
  const out = { extensions: ws.extensions, ok: [] };
  for (const m of ['hello', big, bin, '', 'héllo wörld ✓']) {
    ws.send(m);
    const got = await next(ws);
    const same = Buffer.isBuffer(m)
      ? got.binary && Buffer.compare(got.data, m) === 0
      : !got.binary && got.data.toString() === m;
    out.ok.push(same);
  }
  ws.close(1000, 'done');
  out.close = await closed(ws);
  return out;
}

// A message in three fragments (ws: `fin: false` on all but the last).
async function fragmented() {
  const ws = await open('/echo', { perMessageDeflate: false });
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  const got = await next(ws);
  ws.close();
  await closed(ws);
  return got.data.toString();
}

// The server's close code seen by the client, for a code the server
// chooses (/close/:code) and for one the client sends and the server echoes.
async function closeCodes() {
  const out = {};
  for (const code of [4000, 1001, 1005]) {
    const ws = await open('/close/' + code);
    out['server_' + code] = await closed(ws);
  }
  const ws = await open('/echo');
  ws.close(4321, 'client bye');
  out.client_4321 = await closed(ws);
  return out;
}

// The client offers chat.v1 first; the server prefers chat.v2.
async function subprotocol() {
  const ws = await open('/chat', {}, ['chat.v1', 'chat.v2']);
  const first = await next(ws);
  ws.close();
  await closed(ws);
  return { protocol: ws.protocol, said: first.data.toString() };
}

async function refused() {
  try {
    const ws = await open('/private/ws');
    ws.terminate();
    return 'opened';
  } catch (e) {
    return e.message;
  }
}

async function main() {
  const checks = {
    echo_deflate: () => echo(true),
    echo_plain: () => echo(false),
    fragmented,
    close_codes: closeCodes,
    subprotocol,
    refused,
  };
  const results = {};
  for (const [name, fn] of Object.entries(checks)) {
    try {
      results[name] = await fn();
    } catch (e) {
      results[name] = { error: String(e && e.message ? e.message : e) };
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exit(0);
}

setTimeout(() => {
  process.stderr.write('client.js: timed out\n');
  process.exit(2);
}, 15000).unref();
main();
