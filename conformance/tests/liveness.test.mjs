// Timers (signalr-protocol.md §10, azure-signalr-service.md §2.1/§3):
// keep-alive pings, client timeout, handshake timeout, unused negotiate
// tokens, and the asrs.s.aeo close-on-expiry claim. The service runs with
// short timers so each check takes a few seconds; the checks run
// concurrently. These are inherently time-based: waits are bounded sleeps.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  useService, connect, uniq, Api, barrier, clientToken, tryUpgrade, openUpgrade, wsTextFrame, show, now,
  withTimeout, isExternal,
} from '../lib/index.mjs';

const ctx = useService({
  args: ['--keepalive-interval', '1', '--client-timeout', '2', '--negotiate-timeout', '1', '--handshake-timeout', '1'],
});

async function negotiate(svc, hub, token) {
  const res = await fetch(`${svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1`, {
    method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '',
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: JSON.parse(text || 'null'), url: res.url, method: 'POST' };
}

describe('timers (service started with 1-2 s timers)', { concurrency: true, skip: isExternal() && 'needs its own service flags' }, () => {
  it('idle connection: service pings keep a client with a 2.5 s server timeout alive for 4 s', async () => {
    const { svc } = ctx;
    const hub = uniq('ping');
    const c = await connect(svc, { hub, keepAliveMs: 500, serverTimeoutMs: 2500 });
    await delay(4000);
    assert.equal(c.closeCalled, false, `client closed: ${c.closeError?.message}`);
    assert.equal(c.state, 'Connected');
    await barrier(new Api(svc, hub), c);
  });

  it('client that stops sending after its first Ping is closed after the client timeout', async () => {
    const { svc } = ctx;
    const hub = uniq('cto');
    const token = clientToken(svc, { hub });
    const n = await negotiate(svc, hub, token);
    assert.equal(n.status, 200, show(n));
    const ws = await openUpgrade(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`, { authorization: `Bearer ${token}` });
    assert.equal(ws.status, 101);
    try {
      ws.socket.write(wsTextFrame('{"protocol":"json","version":1}\x1e'));
      ws.socket.write(wsTextFrame('{"type":6}\x1e'));
      const t0 = Date.now();
      await withTimeout(ws.closed, 8000, 'service did not close a silent client (client timeout 2 s)');
      const took = Date.now() - t0;
      assert.ok(took >= 1500, `closed too early (${took} ms) — before the client timeout`);
      const got = Buffer.concat(ws.data).toString('latin1');
      assert.ok(got.includes('{}\x1e'), `no handshake reply: ${JSON.stringify(got)}`);
      assert.ok(got.includes('"type":7'), `no Close record before closing: ${JSON.stringify(got)}`);
    } finally {
      ws.socket.destroy();
    }
  });

  it('no handshake within the handshake timeout: error reply and close', async () => {
    const { svc } = ctx;
    const hub = uniq('hto');
    const token = clientToken(svc, { hub });
    const n = await negotiate(svc, hub, token);
    const ws = await openUpgrade(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`, { authorization: `Bearer ${token}` });
    assert.equal(ws.status, 101);
    try {
      await withTimeout(ws.closed, 6000, 'service did not close a connection that never sent a handshake (timeout 1 s)');
      const got = Buffer.concat(ws.data).toString('latin1');
      assert.ok(got.includes('Handshake was canceled.'), `expected {"error":"Handshake was canceled."}: ${JSON.stringify(got)}`);
    } finally {
      ws.socket.destroy();
    }
  });

  it('an unused negotiated token expires (negotiate timeout 1 s) -> 404 on connect', async () => {
    const { svc } = ctx;
    const hub = uniq('nto');
    const token = clientToken(svc, { hub });
    const n = await negotiate(svc, hub, token);
    assert.equal(n.status, 200, show(n));
    await delay(3000);
    const r = await tryUpgrade(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`, { authorization: `Bearer ${token}` });
    assert.equal(r.upgraded, false, 'expired token must not upgrade');
    assert.equal(r.status, 404);
  });

  it('asrs.s.aeo + asrs.s.coae=true: connection is closed once the time passes', async () => {
    const { svc } = ctx;
    const hub = uniq('aeo');
    // .NET SDK writes both as strings (claims are strings)
    const token = clientToken(svc, { hub, claims: { 'asrs.s.aeo': String(now() + 2), 'asrs.s.coae': 'true' } });
    const c = await connect(svc, { hub, token, keepAliveMs: 500 });
    const t0 = Date.now();
    await c.waitClosed(6000);
    assert.ok(Date.now() - t0 >= 500, 'closed immediately, not at the aeo time');
    assert.ok(c.logger.has('Close message received from server.'), 'no hub Close record');
  });
});
