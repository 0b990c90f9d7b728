// Serverless upstream webhooks (azure-signalr-service.md §5): events and
// invocations reach a recording upstream with the right headers, bodies and
// signatures, in order per connection; upstream answers become invocation
// results; failures complete with errors and never cost the connection.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  useService, startService, connect, uniq, withTimeout, isExternal, signalR, clientToken,
} from '../lib/index.mjs';
import {
  startRecorder, settingsDir, framedCompletion, expectedSignature, signatureMatches,
} from '../lib/upstream.mjs';

const KEYS = ['PrimaryKeyForUpstreamTests0123456789ABCDEFG', 'SecondaryKeyForUpstreamTests9876543210xyz'];
const SLOW_MS = 1500;

// The upstream answers by event name (the hub method the client invoked).
const rec = await startRecorder((call) => {
  const id = call.json?.invocationId;
  switch (call.event) {
    case 'framed': return { body: framedCompletion(id, { result: { echo: call.json.arguments[0] } }) };
    case 'fast': return { body: framedCompletion(id, { result: 'fast' }) };
    case 'slow': return { delayMs: SLOW_MS, body: framedCompletion(id, { result: 'slow' }) };
    case 'fnError': return { body: framedCompletion(id, { error: 'the function threw' }) };
    case 'fail500': return { status: 500, body: 'oops' };
    case 'unframed': return { body: '{"x":1}' };
    case 'garbage': return { body: 'this is not json' };
    case 'nocontent': return { status: 204 };
    default: return { status: 200 };
  }
});

const settings = settingsDir();
settings.write([
  // Unreachable: nothing listens on port 1.
  { UrlTemplate: 'http://127.0.0.1:1/unreachable', HubPattern: '*', CategoryPattern: 'messages', EventPattern: 'unreachable' },
  { UrlTemplate: `${rec.url}/api/{hub}/{category}/{event}`, HubPattern: '*', CategoryPattern: 'connections', EventPattern: 'connected, disconnected' },
  {
    UrlTemplate: `${rec.url}/api/{hub}/{category}/{event}`,
    HubPattern: '*',
    CategoryPattern: 'messages',
    EventPattern: 'note,framed,fast,slow,fnError,fail500,empty,unframed,garbage,nocontent,seq',
  },
]);

const ctx = useService({ keys: KEYS, args: ['-c', settings.dir] });

after(async () => {
  await rec.close();
  settings.remove();
});

const skipExternal = isExternal() ? 'needs a locally started service' : false;

describe('upstream webhooks', { skip: skipExternal }, () => {
  it('connected → send → invoke → disconnected arrive in order with the X-ASRS headers', async () => {
    const { svc } = ctx;
    const hub = uniq('Up');
    const c = await connect(svc, {
      hub,
      userId: 'alice',
      url: `${svc.url}/client/?hub=${hub}&foo=bar`,
      token: clientToken(svc, { hub, userId: 'alice', claims: { marker: 'abc', 'asrs.u.iss': 'my-issuer' } }),
    });
    const id = c.id;
    await rec.waitFor((x) => x.connId === id && x.event === 'connected');
    await c.conn.send('note', 'hi', 2);
    assert.deepEqual(await c.conn.invoke('framed', 'x'), { echo: 'x' });
    await c.stop();
    await rec.waitFor((x) => x.connId === id && x.event === 'disconnected');

    const calls = rec.of(id);
    assert.deepEqual(calls.map((x) => `${x.category}/${x.event}`),
      ['connections/connected', 'messages/note', 'messages/framed', 'connections/disconnected']);
    const lhub = hub.toLowerCase();
    assert.deepEqual(calls.map((x) => x.path), [
      `/api/${lhub}/connections/connected`, `/api/${lhub}/messages/note`,
      `/api/${lhub}/messages/framed`, `/api/${lhub}/connections/disconnected`]);

    // Bodies.
    assert.deepEqual(calls[0].json, { type: 10 });
    assert.deepEqual(calls[1].json, { type: 1, target: 'note', arguments: ['hi', 2] });
    assert.equal(calls[2].json.type, 1);
    assert.equal(calls[2].json.target, 'framed');
    assert.equal(typeof calls[2].json.invocationId, 'string');
    assert.deepEqual(calls[2].json.arguments, ['x']);
    assert.ok(!calls[2].body.includes('\x1e'), 'messages bodies are unframed');
    assert.equal(calls[3].json.type, 11);

    for (const x of calls) {
      const h = x.headers;
      assert.equal(x.method, 'POST');
      assert.equal(h['content-type'], 'application/json');
      assert.equal(h['x-asrs-connection-id'], id);
      assert.equal(h['x-asrs-hub'], lhub);
      assert.equal(h['x-asrs-user-id'], 'alice');
      // Raw JWT claim names; system and registered claims left out.
      const claims = h['x-asrs-user-claims'];
      assert.ok(claims.split(', ').includes('marker: abc'), claims);
      assert.ok(claims.split(', ').includes('iss: my-issuer'), claims);
      assert.ok(!/asrs\.s\.|\baud: |\bexp: |\biat: |\bnbf: /.test(claims), claims);
      // Client query: leading '?', no access_token or id.
      const q = h['x-asrs-client-query'];
      assert.ok(q.startsWith('?'), q);
      const params = new URLSearchParams(q.slice(1));
      assert.equal(params.get('foo'), 'bar', q);
      assert.ok(!params.has('access_token') && !params.has('id'), q);
      // One signature per access key, primary first, no spaces.
      assert.equal(h['x-asrs-signature'].toLowerCase(), expectedSignature(id, KEYS).toLowerCase());
      assert.ok(!h['x-asrs-signature'].includes(' '));
      assert.ok(signatureMatches(h['x-asrs-signature'], id, KEYS[0]), 'verifies with the primary key');
      assert.ok(signatureMatches(h['x-asrs-signature'], id, KEYS[1]), 'verifies with the secondary key');
    }
  });

  it('a connection without user id or custom claims omits those headers', async () => {
    const { svc } = ctx;
    const hub = uniq('anon');
    const c = await connect(svc, { hub });
    const call = await rec.waitFor((x) => x.connId === c.id && x.event === 'connected');
    assert.equal(call.headers['x-asrs-user-id'], undefined);
    assert.equal(call.headers['x-asrs-user-claims'], undefined);
    await c.stop();
  });

  it('invocation results: framed Completion relayed, function error, empty, 204, unframed JSON', async () => {
    const { svc } = ctx;
    const c = await connect(svc, { hub: uniq('res') });
    assert.deepEqual(await c.conn.invoke('framed', { a: [1, 'two'] }), { echo: { a: [1, 'two'] } });
    await assert.rejects(c.conn.invoke('fnError'), (e) => e.message === 'the function threw');
    assert.equal(await c.conn.invoke('empty'), undefined);
    assert.equal(await c.conn.invoke('nocontent'), undefined);
    assert.deepEqual(await c.conn.invoke('unframed'), { x: 1 });
    await assert.rejects(c.conn.invoke('garbage'), /Invocation failed, invalid response from upstream\./);
    assert.equal(c.state, signalR.HubConnectionState.Connected);
  });

  it('a 500 from the upstream rejects invoke() with the status; the connection survives', async () => {
    const { svc } = ctx;
    const c = await connect(svc, { hub: uniq('err') });
    await assert.rejects(c.conn.invoke('fail500'), (e) => e.message === 'Invocation failed, status code 500');
    assert.equal(c.state, signalR.HubConnectionState.Connected);
    assert.equal(await c.conn.invoke('fast'), 'fast');
  });

  it('an invocation no rule routes fails at once instead of hanging', async () => {
    const { svc } = ctx;
    const hub = uniq('norule');
    const c = await connect(svc, { hub });
    await assert.rejects(withTimeout(c.conn.invoke('unrouted', 1), 5000, 'invoke() never completed'),
      (e) => e.message === `No upstream rule matches hub '${hub.toLowerCase()}', category 'messages', event 'unrouted'.`);
    assert.ok(!rec.calls.some((x) => x.connId === c.id && x.event === 'unrouted'));
    assert.equal(await c.conn.invoke('fast'), 'fast');
  });

  it('an unreachable upstream completes with an error; the connection survives', async () => {
    const { svc } = ctx;
    const c = await connect(svc, { hub: uniq('down') });
    await assert.rejects(withTimeout(c.conn.invoke('unreachable'), 10_000, 'invoke() never completed'),
      /Invocation failed, upstream request error: /);
    assert.equal(c.state, signalR.HubConnectionState.Connected);
    assert.equal(await c.conn.invoke('fast'), 'fast');
  });

  it('a slow upstream for one connection does not delay another; per-connection order holds', async () => {
    const { svc } = ctx;
    const hub = uniq('slow');
    const [a, b] = await Promise.all([connect(svc, { hub }), connect(svc, { hub })]);
    const t0 = Date.now();
    const slow = a.conn.invoke('slow');
    await a.conn.send('seq', 1);
    await a.conn.send('seq', 2);
    assert.equal(await b.conn.invoke('fast'), 'fast');
    const fastMs = Date.now() - t0;
    assert.ok(fastMs < SLOW_MS - 300, `the other connection waited ${fastMs} ms`);
    assert.equal(await slow, 'slow');
    await rec.waitFor((x) => x.connId === a.id && x.event === 'seq' && x.json.arguments[0] === 2);
    const aCalls = rec.of(a.id).filter((x) => x.category === 'messages');
    assert.deepEqual(aCalls.map((x) => `${x.event}${x.json.arguments[0] ?? ''}`), ['slow', 'seq1', 'seq2']);
    // seq 1 was only sent once the slow call had been answered.
    assert.ok(aCalls[1].at >= aCalls[0].doneAt, 'one request at a time per connection');
    assert.ok(aCalls[1].at - aCalls[0].at >= SLOW_MS - 100);
  });
});


// A graceful shutdown closes the clients and then waits (bounded) until the
// upstream has their `disconnected` events; it used to exit with them queued.
describe('upstream webhooks at shutdown', { skip: skipExternal }, () => {
  it('SIGTERM: every client\'s disconnected event still reaches the upstream, after its in-flight call', async () => {
    const svc = await startService({ keys: KEYS, args: ['-c', settings.dir] });
    try {
      const hub = uniq('Down');
      const clients = [];
      for (let i = 0; i < 4; i++) clients.push(await connect(svc, { hub, userId: `u${i}` }));
      const ids = clients.map((c) => c.id);
      for (const id of ids) await rec.waitFor((x) => x.connId === id && x.event === 'connected');
      // Client 0 has a call in flight when the signal comes: the upstream
      // answers it only after SLOW_MS, and its disconnected must follow it.
      const slow = clients[0].conn.invoke('slow').catch(() => 'closed');
      await rec.waitFor((x) => x.connId === ids[0] && x.event === 'slow');
      const r = await svc.stop(15_000);
      assert.equal(r.killed, false, 'the service exits by itself');
      assert.equal(r.code, 0);
      await slow;
      const c0 = rec.of(ids[0]);
      assert.deepEqual(c0.map((x) => x.event), ['connected', 'slow', 'disconnected']);
      assert.ok(c0[2].at >= c0[1].doneAt, 'disconnected is sent after the in-flight call finished');
      for (const id of ids.slice(1)) {
        assert.deepEqual(rec.of(id).map((x) => x.event), ['connected', 'disconnected'], `events of ${id}`);
      }
    } finally {
      await svc.stop();
    }
  });
});
