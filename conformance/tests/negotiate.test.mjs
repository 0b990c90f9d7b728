// Negotiate endpoint: raw response shape, HTTP errors, and connecting with the
// real client (SDK-style tokens, hand-written tokens, Functions redirect).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  useService, connect, build, uniq, Api, clientToken, tryUpgrade, openUpgrade, wsTextFrame, withTimeout, show,
  signalR, barrier,
} from '../lib/index.mjs';

const ctx = useService();
const URL_SAFE = /^[A-Za-z0-9_~.-]+$/;

async function negotiate(svc, query, { method = 'POST', token, headers = {} } = {}) {
  const url = `${svc.url}/client/negotiate${query}`;
  const h = { 'x-requested-with': 'XMLHttpRequest', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method, headers: h, body: method === 'POST' ? '' : undefined, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json, url, method };
}

describe('negotiate response shape', () => {
  it('v1: 200 JSON with connectionId != connectionToken, URL-safe, WebSockets first', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const r = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { token: clientToken(svc, { hub, userId: 'u1' }) });
    assert.equal(r.status, 200, show(r));
    assert.match(r.headers.get('content-type') || '', /application\/json/);
    const b = r.json;
    assert.ok(b, `body is not JSON: ${r.text}`);
    assert.equal(b.negotiateVersion, 1);
    assert.equal(typeof b.connectionId, 'string');
    assert.equal(typeof b.connectionToken, 'string');
    assert.notEqual(b.connectionId, b.connectionToken, 'connectionToken must be a separate secret');
    assert.match(b.connectionId, URL_SAFE);
    assert.match(b.connectionToken, URL_SAFE);
    assert.ok(b.connectionId.length >= 16, `connectionId too short: ${b.connectionId}`);
    assert.ok(Array.isArray(b.availableTransports) && b.availableTransports.length > 0);
    assert.equal(b.availableTransports[0].transport, 'WebSockets');
    for (const t of b.availableTransports) {
      assert.ok(['WebSockets', 'ServerSentEvents', 'LongPolling'].includes(t.transport), `unknown transport ${t.transport}`);
      assert.ok(Array.isArray(t.transferFormats), `${t.transport} lacks transferFormats`);
    }
    const byName = Object.fromEntries(b.availableTransports.map((t) => [t.transport, t.transferFormats]));
    assert.deepEqual(byName.WebSockets, ['Text', 'Binary']);
    if (byName.ServerSentEvents) assert.deepEqual(byName.ServerSentEvents, ['Text']);
    if (byName.LongPolling) assert.deepEqual(byName.LongPolling, ['Text', 'Binary']);
    assert.ok(!('ProtocolVersion' in b), 'must never send ProtocolVersion');
    assert.ok(!b.useStatefulReconnect, 'useStatefulReconnect sent without being asked');
  });

  it('two negotiates give distinct ids and tokens', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const token = clientToken(svc, { hub });
    const a = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { token });
    const b = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { token });
    assert.equal(a.status, 200, show(a));
    assert.equal(b.status, 200, show(b));
    assert.notEqual(a.json.connectionId, b.json.connectionId);
    assert.notEqual(a.json.connectionToken, b.json.connectionToken);
  });

  it('v0 (no negotiateVersion): negotiateVersion 0 and no connectionToken', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const r = await negotiate(svc, `?hub=${hub}`, { token: clientToken(svc, { hub }) });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.negotiateVersion ?? 0, 0);
    assert.ok(!('connectionToken' in r.json), `v0 must omit connectionToken: ${r.text}`);
    assert.match(r.json.connectionId, URL_SAFE);
    assert.equal(r.json.availableTransports[0].transport, 'WebSockets');
  });

  it('GET negotiate -> 405', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const r = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { method: 'GET', token: clientToken(svc, { hub }) });
    assert.equal(r.status, 405, show(r));
  });

  it('missing hub -> 400', async () => {
    const { svc } = ctx;
    const r = await negotiate(svc, '?negotiateVersion=1', { token: clientToken(svc, { hub: 'any' }) });
    assert.equal(r.status, 400, show(r));
  });

  it('hub given twice -> 400', async () => {
    const { svc } = ctx;
    const r = await negotiate(svc, '?hub=a&hub=b&negotiateVersion=1', { token: clientToken(svc, { hub: 'a' }) });
    assert.equal(r.status, 400, show(r));
  });
});

describe('transport connect errors', () => {
  it('WebSocket connect with an unknown connection token -> 404, no upgrade', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const token = clientToken(svc, { hub });
    const r = await tryUpgrade(`${svc.url}/client/?hub=${hub}&id=DoesNotExist0000000000`, { authorization: `Bearer ${token}` });
    assert.equal(r.upgraded, false, 'upgrade must be refused');
    assert.equal(r.status, 404);
  });

  it('a second WebSocket for a token that already has one -> 409', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const token = clientToken(svc, { hub });
    const n = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { token });
    assert.equal(n.status, 200, show(n));
    const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
    const first = await openUpgrade(url, { authorization: `Bearer ${token}` });
    try {
      assert.equal(first.status, 101);
      const second = await tryUpgrade(url, { authorization: `Bearer ${token}` });
      assert.equal(second.upgraded, false, 'second upgrade must be refused');
      assert.equal(second.status, 409);
    } finally {
      first.socket?.destroy();
    }
  });

  it('WebSocket connect with the public connectionId instead of the connectionToken fails', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const token = clientToken(svc, { hub });
    const n = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { token });
    assert.equal(n.status, 200, show(n));
    const r = await tryUpgrade(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionId}`, { authorization: `Bearer ${token}` });
    assert.equal(r.upgraded, false, 'the connectionId is public; only the token may open the transport');
    assert.equal(r.status, 404);
  });

  it('the real client fails to start when its connection token is unknown to the service', async () => {
    // The client's own public httpClient option answers the negotiate with a
    // token the service never issued; the WebSocket then goes to the service
    // and must be refused, so start() rejects (instead of hanging).
    const { svc } = ctx;
    const hub = uniq('neg');
    class FakeNegotiate extends signalR.HttpClient {
      constructor() { super(); this.inner = new signalR.DefaultHttpClient(signalR.NullLogger.instance); }
      async send(request) {
        if (request.method === 'POST' && request.url.includes('/negotiate')) {
          return new signalR.HttpResponse(200, 'OK', JSON.stringify({
            negotiateVersion: 1, connectionId: 'bogusId0000000000000000', connectionToken: 'bogusTok000000000000000',
            availableTransports: [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }],
          }));
        }
        return this.inner.send(request);
      }
    }
    const c = build(svc, { hub, transport: signalR.HttpTransportType.WebSockets, httpClient: new FakeNegotiate() });
    await assert.rejects(c.conn.start(), (e) => {
      assert.ok(e instanceof Error);
      return true;
    });
    assert.equal(c.conn.state, signalR.HubConnectionState.Disconnected);
  });
});

describe('connecting with the real client', () => {
  it('Management-SDK-style token (aud without port, asrs.s.uid) connects; REST sees the user', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const user = uniq('user');
    const c = await connect(svc, { hub, userId: user });
    assert.match(c.id, URL_SAFE);
    const api = new Api(svc, hub);
    let r = await api.connectionExists(c.id, 'GET');
    assert.equal(r.status, 200, show(r));
    r = await api.userExists(user, 'GET');
    assert.equal(r.status, 200, show(r));
    r = await api.sendToUser(user, { target: 'msg', arguments: ['hello'] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['hello']);
    await c.stop();
  });

  it('hand-written token (nameid claim, aud with port) connects; user id taken from nameid', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const user = uniq('nameid');
    const token = clientToken(svc, { hub, userId: user, uidClaim: 'nameid', aud: `${svc.url}/client/?hub=${hub}` });
    const c = await connect(svc, { hub, token });
    const api = new Api(svc, hub);
    const r = await api.sendToUser(user, { target: 'msg', arguments: [1, 2] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), [1, 2]);
    await c.stop();
  });

  it('URL without trailing slash (/client?hub=) works', async () => {
    const { svc } = ctx;
    const hub = uniq('neg');
    const c = await connect(svc, { hub, url: `${svc.url}/client?hub=${hub}` });
    const api = new Api(svc, hub);
    await barrier(api, c);
    await c.stop();
  });

  it('hub names are case-insensitive (client hub=MixedCase, REST hub=mixedcase)', async () => {
    const { svc } = ctx;
    const hub = `Mixed${uniq('Case')}`;
    const c = await connect(svc, { hub });
    const api = new Api(svc, hub.toLowerCase());
    const r = await api.send({ target: 'msg', arguments: ['ci'] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['ci']);
    await c.stop();
  });

  it('skipNegotiation (WebSockets straight to /client/?hub=, no id) connects', async () => {
    const { svc } = ctx;
    const hub = uniq('skip');
    const user = uniq('u');
    const c = await connect(svc, { hub, userId: user, skipNegotiation: true, transport: signalR.HttpTransportType.WebSockets });
    const api = new Api(svc, hub);
    const r = await api.sendToUser(user, { target: 'msg', arguments: ['skipped'] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['skipped']);
    await c.stop();
  });

  it('Functions-style negotiate redirect ({url, accessToken}) is followed and connects', async () => {
    const { svc } = ctx;
    const hub = uniq('func');
    const user = uniq('fuser');
    const seen = [];
    const app = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} auth=${req.headers.authorization ? 'yes' : 'no'}`);
      if (req.method === 'POST' && req.url.startsWith('/api/negotiate')) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({
          url: `${svc.url}/client/?hub=${hub}`,
          accessToken: clientToken(svc, { hub, userId: user }),
        }));
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise((r) => app.listen(0, '127.0.0.1', r));
    try {
      const appUrl = `http://127.0.0.1:${app.address().port}/api`;
      // No token factory: the app's negotiate is anonymous; the redirect's
      // accessToken is what reaches the service.
      const c = await connect(svc, { hub, url: appUrl, token: false });
      assert.ok(seen.some((s) => s.startsWith('POST /api/negotiate')), `app negotiate not called: ${seen}`);
      const api = new Api(svc, hub);
      const r = await api.sendToUser(user, { target: 'msg', arguments: ['via redirect'] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c.waitFor('msg'), ['via redirect']);
      await c.stop();
    } finally {
      app.close();
    }
  });
});

describe('handshake (raw WebSocket)', () => {
  async function handshake(svc, request) {
    const hub = uniq('hs');
    const token = clientToken(svc, { hub });
    const n = await negotiate(svc, `?hub=${hub}&negotiateVersion=1`, { token });
    assert.equal(n.status, 200, show(n));
    const ws = await openUpgrade(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`, { authorization: `Bearer ${token}` });
    assert.equal(ws.status, 101);
    ws.socket.write(wsTextFrame(request));
    return ws;
  }

  it('json v1: reply is exactly {}\\x1e as the first data', async () => {
    const { svc } = ctx;
    const ws = await handshake(svc, '{"protocol":"json","version":1}\x1e');
    try {
      const deadline = Date.now() + 3000;
      while (Buffer.concat(ws.data).length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const buf = Buffer.concat(ws.data);
      // unmasked server text frame: 0x81, len 3, then 7B 7D 1E
      assert.ok(buf.length >= 5, `no handshake reply (${buf.toString('hex')})`);
      assert.equal(buf[0], 0x81, `first frame is not a final text frame: ${buf.toString('hex')}`);
      assert.equal(buf.subarray(2, 2 + buf[1]).toString('latin1'), '{}\x1e', `first frame payload: ${buf.toString('hex')}`);
    } finally {
      ws.socket.destroy();
    }
  });

  for (const [name, request, text] of [
    ['unknown protocol', '{"protocol":"xml","version":1}\x1e', "The protocol 'xml' is not supported."],
    ['unsupported version', '{"protocol":"json","version":3}\x1e', "The server does not support version 3 of the 'json' protocol."],
  ]) {
    it(`${name}: error reply with the ASP.NET text, then close`, async () => {
      const { svc } = ctx;
      const ws = await handshake(svc, request);
      try {
        await withTimeout(ws.closed, 5000, 'service did not close after a failed handshake');
        const got = Buffer.concat(ws.data).toString('utf8');
        assert.ok(got.includes(JSON.stringify({ error: text }).slice(1, -1)), `expected {"error":"${text}"}: ${JSON.stringify(got)}`);
      } finally {
        ws.socket.destroy();
      }
    });
  }
});
