// hubcast-bridge, step 1 and 3-6 of the pattern: an unmodified
// @microsoft/signalr client negotiates through the bridge (/api/negotiate)
// and receives the default transform's 'telemetry' for events posted to
// /api/events (single, batch, Event Grid); limits and malformed input are
// refused with nothing sent; per-device order holds.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, decodeJwt, withTimeout } from '../lib/index.mjs';
import { useBridge } from '../lib/bridge.mjs';

const ctx = useBridge();

function ev(deviceId, body, extra = {}) {
  return { body, properties: extra.properties || {}, systemProperties: { 'iothub-connection-device-id': deviceId, ...(extra.sys || {}) } };
}

async function client(userId) {
  return connect(ctx.svc, {
    url: ctx.bridge.api, token: false, targets: ['telemetry'],
    headers: userId ? { 'x-ms-signalr-userid': userId } : undefined,
  });
}

describe('negotiate', () => {
  it('returns {url, accessToken} for the service like the Functions binding', async () => {
    const r = await fetch(`${ctx.bridge.api}/negotiate?negotiateVersion=1`, {
      method: 'POST', headers: { 'x-ms-signalr-userid': 'alice' },
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /application\/json/);
    const body = await r.json();
    assert.deepEqual(Object.keys(body).sort(), ['accessToken', 'url']);
    assert.equal(body.url, `${ctx.svc.url}/client/?hub=iot`);
    const { header, payload } = decodeJwt(body.accessToken);
    assert.equal(header.alg, 'HS256');
    assert.equal(payload.aud, body.url);
    assert.equal(payload['asrs.s.uid'], 'alice');
    assert.ok(payload.exp - payload.iat === 3600);
    const g = await fetch(`${ctx.bridge.api}/negotiate`);
    assert.equal(g.status, 200);
    assert.equal(decodeJwt((await g.json()).accessToken).payload['asrs.s.uid'], undefined);
  });

  it('answers CORS preflights and echoes the origin with credentials', async () => {
    const pre = await fetch(`${ctx.bridge.api}/negotiate`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-requested-with, x-signalr-user-agent' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
    assert.equal(pre.headers.get('access-control-allow-credentials'), 'true');
    assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
    assert.match(pre.headers.get('access-control-allow-headers'), /x-signalr-user-agent/);
    const r = await fetch(`${ctx.bridge.api}/negotiate`, { method: 'POST', headers: { origin: 'http://app.example' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://app.example');
    assert.equal(r.headers.get('vary'), 'Origin');
    await r.arrayBuffer();
  });

  it('health is 200 and unknown routes 404', async () => {
    assert.equal((await fetch(`${ctx.bridge.api}/health`)).status, 200);
    assert.equal((await fetch(`${ctx.bridge.url}/nope`)).status, 404);
  });
});

describe('/api/events with the default transform', () => {
  it('a JS client connected through the bridge receives a single event', async () => {
    const c = await client('u1');
    const r = await ctx.bridge.postEvents(ev('thermo-01', { temperature: 21.5 }, { properties: { unit: 'C' }, sys: { 'message-id': 'm1' } }));
    assert.equal(r.status, 202, r.text);
    const [t] = await c.waitFor('telemetry');
    assert.equal(t.deviceId, 'thermo-01');
    assert.equal(t.moduleId, null);
    assert.deepEqual(t.body, { temperature: 21.5 });
    assert.deepEqual(t.properties, { unit: 'C' });
    assert.match(t.enqueuedTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Number.isInteger(t.sequenceNumber) && t.sequenceNumber >= 1);
  });

  it('a batch arrives in order as one transform batch', async () => {
    const c = await client();
    const batch = [1, 2, 3].map((i) => ev('batch-dev', { i }));
    assert.equal((await ctx.bridge.postEvents(batch)).status, 202);
    const got = await c.waitCount('telemetry', 3);
    assert.deepEqual(got.map((m) => m.args[0].body.i), [1, 2, 3]);
    const seqs = got.map((m) => m.args[0].sequenceNumber);
    assert.deepEqual(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2]);
  });

  it('Event Grid DeviceTelemetry events are normalised', async () => {
    const c = await client();
    const r = await ctx.bridge.postEvents([{
      id: '5d3f2c1a-0000-4000-8000-000000000001',
      topic: '/SUBSCRIPTIONS/0000/RESOURCEGROUPS/rg/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/myhub',
      subject: 'devices/forklift-7',
      eventType: 'Microsoft.Devices.DeviceTelemetry',
      eventTime: '2026-11-26T04:10:00.250Z',
      data: {
        properties: { zone: 'dock' },
        systemProperties: { 'iothub-content-type': 'application/json', 'iothub-content-encoding': 'utf-8',
          'iothub-connection-device-id': 'forklift-7', 'iothub-enqueuedtime': '2026-11-26T04:10:00.250Z', 'iothub-message-source': 'Telemetry' },
        body: { speed: 3.4, load: 0.8 },
      },
      dataVersion: '', metadataVersion: '1',
    }, {
      subject: 'devices/cam-1/modules/vision', eventType: 'Microsoft.Devices.DeviceTelemetry',
      data: { systemProperties: { 'iothub-content-type': 'application/octet-stream' }, body: 'aGVsbG8=' },
    }]);
    assert.equal(r.status, 202, r.text);
    const got = await c.waitCount('telemetry', 2);
    const [a, b] = got.map((m) => m.args[0]);
    assert.equal(a.deviceId, 'forklift-7');
    assert.deepEqual(a.body, { speed: 3.4, load: 0.8 });
    assert.deepEqual(a.properties, { zone: 'dock' });
    assert.notEqual(a.enqueuedTime, '2026-11-26T04:10:00.250Z', 'enqueued time is stamped by the bridge');
    assert.equal(b.deviceId, 'cam-1');
    assert.equal(b.moduleId, 'vision');
    assert.equal(b.body, 'aGVsbG8=');
  });

  it('malformed input is refused with 400 and a reason, and nothing is sent', async () => {
    const c = await client();
    const bad = ['{"body":', '[]', '42', JSON.stringify({ body: 1 }),
      JSON.stringify(ev('bad/id', 1)), JSON.stringify({ ...ev('d', 1), properties: { a: 1 } }),
      JSON.stringify([ev('ok', 1), { eventType: 'Microsoft.Devices.Other', data: {} }])];
    for (const b of bad) {
      const r = await ctx.bridge.postEvents(b);
      assert.equal(r.status, 400, `${b} -> ${r.status} ${r.text}`);
      assert.ok(JSON.parse(r.text).error.length > 0);
    }
    await ctx.bridge.postEvents(ev('marker', 'end'));
    const [t] = await c.waitFor('telemetry');
    assert.equal(t.deviceId, 'marker', 'the first telemetry after the bad posts is the marker');
  });

  it('over 256 KB is 413 (message and batch), nothing sent', async () => {
    const c = await client();
    const big = 'x'.repeat(256 * 1024);
    const r1 = await ctx.bridge.postEvents(ev('big', big));
    assert.equal(r1.status, 413, r1.text);
    const r2 = await ctx.bridge.postEvents(Array.from({ length: 3 }, () => ev('big', 'y'.repeat(100 * 1024))));
    assert.equal(r2.status, 413, r2.text);
    await ctx.bridge.postEvents(ev('marker2', 'end'));
    const [t] = await c.waitFor('telemetry');
    assert.equal(t.deviceId, 'marker2');
  });

  it('per-device order is preserved under concurrent producers', async () => {
    const c = await client();
    const N = 40;
    const devices = ['ord-a', 'ord-b', 'ord-c'];
    await Promise.all(devices.map(async (d) => {
      for (let i = 0; i < N; i++) {
        const r = await ctx.bridge.postEvents(ev(d, { i }));
        assert.equal(r.status, 202);
      }
    }));
    const got = await c.waitCount('telemetry', N * devices.length, 10_000);
    for (const d of devices) {
      const mine = got.map((m) => m.args[0]).filter((t) => t.deviceId === d);
      assert.deepEqual(mine.map((t) => t.body.i), [...Array(N).keys()], `order of ${d}`);
      const s = mine.map((t) => t.sequenceNumber);
      for (let i = 1; i < s.length; i++) assert.equal(s[i], s[i - 1] + 1, `sequence numbers of ${d}`);
    }
  });

  it('counts received and sent', async () => {
    const s = await withTimeout(ctx.bridge.flushed(), 6000, 'flush');
    assert.ok(s.received > 0 && s.rest.sent > 0 && s.rest.failed === 0, JSON.stringify(s));
  });
});
