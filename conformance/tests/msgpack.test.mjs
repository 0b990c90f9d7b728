// MessagePack hub protocol with the unmodified @microsoft/signalr +
// @microsoft/signalr-protocol-msgpack clients: REST broadcasts (JSON body and
// the multi-protocol octet-stream body) over WebSockets and long polling,
// mixed JSON + MessagePack clients, type fidelity, refusal on SSE, invoke
// error completions. signalr-protocol.md §3, §6; azure-signalr-service.md §4.1.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import { encode, decode } from '@msgpack/msgpack';
import {
  useService, connect, uniq, Api, show, clientToken, signalR, TestClient, withTimeout,
} from '../lib/index.mjs';

const ctx = useService();
const mine = [];
after(async () => { await Promise.allSettled(mine.map((c) => c.conn.stop())); });

const T = signalR.HttpTransportType;

/** Start a MessagePack client (unmodified JS client) on `transport`. */
async function connectMp(svc, hub, transport, o = {}) {
  const tok = clientToken(svc, { hub, userId: o.userId });
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(`${svc.url}/client/?hub=${encodeURIComponent(hub)}`, { transport, accessTokenFactory: () => tok })
    .withHubProtocol(new MessagePackHubProtocol())
    .configureLogging(signalR.LogLevel.None)
    .build();
  const c = new TestClient(conn, { log() {}, has() { return false; } }, { hub, name: `${hub}/mp`, targets: ['msg'] });
  mine.push(c);
  await conn.start();
  return c;
}

/** VarInt length prefix + MessagePack Invocation [1, {}, nil, target, args, []]. */
function mpInvocation(target, args) {
  const body = encode([1, {}, null, target, args, []]);
  const pre = [];
  let n = body.length;
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; pre.push(b); } while (n);
  return Buffer.concat([Buffer.from(pre), Buffer.from(body)]);
}

function jsonInvocation(target, args) {
  return Buffer.from(`${JSON.stringify({ type: 1, target, arguments: args })}\x1e`);
}

function octet(api, sub, map, contentType = 'application/octet-stream') {
  return api.call('POST', sub, { body: Buffer.from(encode(map)), contentType });
}

for (const [name, transport] of [['WebSockets', T.WebSockets], ['LongPolling', T.LongPolling]]) {
  describe(`MessagePack over ${name}`, () => {
    it('receives a REST broadcast sent as JSON', async () => {
      const hub = uniq('mpj');
      const c = await connectMp(ctx.svc, hub, transport);
      const r = await new Api(ctx.svc, hub).send({ target: 'msg', arguments: ['hi', 42, { a: [1, null] }] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c.waitFor('msg'), ['hi', 42, { a: [1, null] }]);
    });

    it('receives the multi-protocol octet-stream body (both, only messagepack, only json)', async () => {
      const hub = uniq('mpo');
      const c = await connectMp(ctx.svc, hub, transport);
      const api = new Api(ctx.svc, hub);
      let r = await octet(api, '/:send', { json: jsonInvocation('msg', ['from json']), messagepack: mpInvocation('msg', ['from mp']) });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c.waitFor('msg'), ['from mp']); // its own protocol, verbatim
      r = await octet(api, '/:send', { messagepack: mpInvocation('msg', ['mp only']) }, 'application/x-msgpack');
      assert.equal(r.status, 202, show(r));
      await c.waitFor('msg', (a) => a === 'mp only');
      r = await octet(api, '/:send', { json: jsonInvocation('msg', ['json only', 7]) });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c.waitFor('msg', (a) => a === 'json only'), ['json only', 7]);
      assert.deepEqual(c.messages('msg').map((m) => m.args[0]), ['from mp', 'mp only', 'json only']);
    });

    it('invoke without an upstream rejects with the error completion', async () => {
      const c = await connectMp(ctx.svc, uniq('mpi'), transport);
      await assert.rejects(withTimeout(c.conn.invoke('Echo', 1), 5000, 'invoke'),
        /Failed to invoke 'Echo' due to an error on the server\. HubException: No upstream is configured/);
      assert.equal(c.state, signalR.HubConnectionState.Connected);
    });
  });
}

describe('mixed protocols and fidelity', () => {
  it('JSON and MessagePack clients (WebSockets, long polling) receive the same broadcast', async () => {
    const hub = uniq('mix');
    const [j1, j2] = await Promise.all([connect(ctx.svc, { hub }), connect(ctx.svc, { hub, transport: T.LongPolling })]);
    const [m1, m2] = await Promise.all([connectMp(ctx.svc, hub, T.WebSockets), connectMp(ctx.svc, hub, T.LongPolling)]);
    const api = new Api(ctx.svc, hub);
    const args = ['same', 1.25, -3, true, null, ['x', { y: 'z' }]];
    const r = await api.send({ target: 'msg', arguments: args });
    assert.equal(r.status, 202, show(r));
    for (const c of [j1, j2, m1, m2]) assert.deepEqual(await c.waitFor('msg'), args);
    // Multi-protocol body: JSON clients get the json entry, MessagePack ones theirs.
    const r2 = await octet(api, '/:send', { json: jsonInvocation('msg', ['J']), messagepack: mpInvocation('msg', ['M']) });
    assert.equal(r2.status, 202, show(r2));
    for (const c of [j1, j2]) await c.waitFor('msg', (a) => a === 'J');
    for (const c of [m1, m2]) await c.waitFor('msg', (a) => a === 'M');
  });

  it('keeps types: floats, unicode with NUL, nested values, binary, timestamps', async () => {
    const hub = uniq('fid');
    const j = await connect(ctx.svc, { hub });
    const m = await connectMp(ctx.svc, hub, T.WebSockets);
    const api = new Api(ctx.svc, hub);
    const text = 'é 😀 \u0000 ✓';
    const r = await api.send({ target: 'msg', arguments: [0.1, -2.5e-7, text, { a: { b: [1, [2, [3]]] } }, 2 ** 40] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await m.waitFor('msg'), [0.1, -2.5e-7, text, { a: { b: [1, [2, [3]]] } }, 2 ** 40]);
    assert.deepEqual(await j.waitFor('msg'), [0.1, -2.5e-7, text, { a: { b: [1, [2, [3]]] } }, 2 ** 40]);
    // MessagePack-only body with bin and a timestamp: the JSON client gets
    // base64 and an ISO-8601 string (what JSON.stringify(Date) writes).
    const when = new Date(Date.UTC(2024, 4, 6, 7, 8, 9, 123));
    const r2 = await octet(api, '/:send', { messagepack: mpInvocation('msg', ['bt', new Uint8Array([1, 2, 255]), when]) });
    assert.equal(r2.status, 202, show(r2));
    assert.deepEqual(await j.waitFor('msg', (a) => a === 'bt'), ['bt', 'AQL/', '2024-05-06T07:08:09.123Z']);
    const [, bin, date] = await m.waitFor('msg', (a) => a === 'bt');
    assert.deepEqual([...bin], [1, 2, 255]);
    assert.equal(date.toISOString(), when.toISOString());
  });

  it('integers beyond 2^53 arrive exactly (raw binary frames)', async () => {
    const { svc } = ctx;
    const hub = uniq('big');
    const tok = clientToken(svc, { hub });
    const neg = await fetch(`${svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1`, {
      method: 'POST', headers: { authorization: `Bearer ${tok}` },
    }).then((x) => x.json());
    const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/client/?hub=${hub}&id=${neg.connectionToken}`,
      { headers: { authorization: `Bearer ${tok}` } });
    const frames = [];
    let wake;
    ws.on('message', (data, isBinary) => { frames.push({ data: Buffer.from(data), isBinary }); wake?.(); });
    await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
    ws.send('{"protocol":"messagepack","version":1}\x1e');
    const next = async () => {
      const t0 = Date.now();
      while (!frames.length) {
        if (Date.now() - t0 > 5000) throw new Error('no frame');
        await new Promise((res) => { wake = res; setTimeout(res, 100); });
      }
      return frames.shift();
    };
    const hs = await next();
    assert.equal(hs.isBinary, true, 'the handshake answer travels in a binary frame');
    assert.equal(hs.data.toString(), '{}\x1e');
    // Raw JSON text: 2^53+1 and -(2^63) must not pass through a double.
    const r = await new Api(svc, hub).call('POST', '/:send', {
      body: '{"target":"big","arguments":[9007199254740993,-9223372036854775808,18446744073709551615]}',
      contentType: 'application/json',
    });
    assert.equal(r.status, 202, show(r));
    const f = await next();
    assert.equal(f.isBinary, true);
    // @msgpack/msgpack 2.x decodes 64-bit integers to (lossy) numbers: check
    // the wire bytes: uint64 2^53+1, int64 -(2^63), uint64 2^64-1.
    const [type, , , target] = decode(f.data.subarray(1));
    assert.equal(type, 1);
    assert.equal(target, 'big');
    const hex = f.data.toString('hex');
    assert.ok(hex.includes('93cf0020000000000001d38000000000000000cfffffffffffffffff'), hex);
    ws.close();
  });

  it('MessagePack over Server-Sent Events is refused with the ASP.NET text', async () => {
    const hub = uniq('sse');
    const tok = clientToken(ctx.svc, { hub });
    const conn = new signalR.HubConnectionBuilder()
      .withUrl(`${ctx.svc.url}/client/?hub=${hub}`, { transport: T.ServerSentEvents, accessTokenFactory: () => tok })
      .withHubProtocol(new MessagePackHubProtocol())
      .configureLogging(signalR.LogLevel.None)
      .build();
    // The JS client itself never picks SSE for a binary protocol.
    await assert.rejects(conn.start(), /ServerSentEvents|transport|Binary/i);
    // A raw client that insists gets the handshake error.
    const neg = await fetch(`${ctx.svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1`, {
      method: 'POST', headers: { authorization: `Bearer ${tok}` },
    }).then((x) => x.json());
    const ac = new AbortController();
    const stream = await fetch(`${ctx.svc.url}/client/?hub=${hub}&id=${neg.connectionToken}`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${tok}` }, signal: ac.signal,
    });
    const reader = stream.body.getReader();
    const post = await fetch(`${ctx.svc.url}/client/?hub=${hub}&id=${neg.connectionToken}`, {
      method: 'POST', headers: { authorization: `Bearer ${tok}` }, body: '{"protocol":"messagepack","version":1}\x1e',
    });
    assert.equal(post.status, 200);
    let text = '';
    while (!text.includes('Binary')) {
      const { value, done } = await withTimeout(reader.read(), 5000, 'SSE data');
      if (done) break;
      text += Buffer.from(value).toString();
    }
    assert.match(text, /data: \{"error":"Cannot use the 'messagepack' protocol on the current transport\. The transport does not support 'Binary' transfer format\."\}/);
    ac.abort();
  });
});
