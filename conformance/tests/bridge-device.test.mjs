// hubcast-bridge: the IoT Hub device HTTPS API driven by the unmodified npm
// azure-iot-device + azure-iot-device-http SDK (single and batch sends,
// application and system properties), SAS tokens checked against a device
// registry (bad SAS -> 401, nothing sent), raw chunked requests and the
// module route.
//
// The Http transport always dials HostName:443 over TLS (spec section 8); the
// SDK's documented `http.agent` option gets an agent whose sockets go to the
// bridge's plain port instead.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { connect } from '../lib/index.mjs';
import { useBridge, deviceSas, DEVICE_KEY } from '../lib/bridge.mjs';

const require = createRequire(import.meta.url);
const { Client, Message } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');

const OTHER_KEY = Buffer.from('some-other-key-nobody-registered').toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'hcb-reg-'));
const registry = join(dir, 'devices.json');
writeFileSync(registry, JSON.stringify({ devices: [
  { deviceId: 'thermo-01', primaryKey: DEVICE_KEY },
  { deviceId: 'thermo-02', primaryKey: OTHER_KEY, secondaryKey: DEVICE_KEY },
  { deviceId: 'gw', moduleId: 'filter', primaryKey: DEVICE_KEY },
] }));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const ctx = useBridge({ args: ['--device-registry', registry] });

/** An https.Agent whose sockets are plain TCP to the bridge. */
function agentTo(port) {
  const a = new https.Agent({ keepAlive: false });
  a.createConnection = () => net.connect(port, '127.0.0.1');
  return a;
}

function deviceClient(deviceId, key = DEVICE_KEY) {
  const c = Client.fromConnectionString(
    `HostName=myhub.azure-devices.net;DeviceId=${deviceId};SharedAccessKey=${key}`, Http);
  c.setOptions({ http: { agent: agentTo(ctx.bridge.port) } });
  return c;
}

async function listener() {
  return connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['telemetry'] });
}

describe('device HTTPS API with the azure-iot-device SDK', () => {
  it('sendEvent arrives with properties, JSON body and system properties', async () => {
    const l = await listener();
    const dev = deviceClient('thermo-01');
    const m = new Message(JSON.stringify({ temperature: 21.5, humidity: 40 }));
    m.properties.add('unit', 'C');
    m.properties.add('temperatureAlert', 'false');
    m.messageId = 'msg-1';
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    const res = await dev.sendEvent(m);
    assert.ok(res, 'sendEvent resolved');
    const [t] = await l.waitFor('telemetry');
    assert.equal(t.deviceId, 'thermo-01');
    assert.deepEqual(t.body, { temperature: 21.5, humidity: 40 });
    assert.deepEqual(t.properties, { unit: 'C', temperatureAlert: 'false' });
    await dev.close();
  });

  it('sendEventBatch becomes one batch of events in order (bodies without a JSON content type stay base64)', async () => {
    const l = await listener();
    const dev = deviceClient('thermo-01');
    const msgs = [1, 2, 3].map((i) => { const m = new Message(`reading ${i}`); m.properties.add('n', String(i)); return m; });
    await dev.sendEventBatch(msgs);
    const got = (await l.waitCount('telemetry', 3)).map((x) => x.args[0]);
    assert.deepEqual(got.map((t) => Buffer.from(t.body, 'base64').toString()), ['reading 1', 'reading 2', 'reading 3']);
    assert.deepEqual(got.map((t) => t.properties.n), ['1', '2', '3']);
    await dev.close();
  });

  it('the secondary key works too', async () => {
    const l = await listener();
    const dev = deviceClient('thermo-02');
    await dev.sendEvent(new Message('{}'));
    const [t] = await l.waitFor('telemetry');
    assert.equal(t.deviceId, 'thermo-02');
    await dev.close();
  });

  it('a wrong key, an unknown device, an expired or missing SAS get 401 and nothing is sent', async () => {
    const l = await listener();
    const bad = deviceClient('thermo-01', OTHER_KEY);
    await assert.rejects(bad.sendEvent(new Message('x')), (e) => /Unauthorized/i.test(e.name + e.message) || e.response?.statusCode === 401);
    await bad.close();
    const unknown = deviceClient('nobody', DEVICE_KEY);
    await assert.rejects(unknown.sendEvent(new Message('x')));
    await unknown.close();
    const url = `${ctx.bridge.url}/devices/thermo-01/messages/events?api-version=2021-04-12`;
    const cases = [
      {},
      { authorization: deviceSas('myhub/devices/thermo-01', DEVICE_KEY, Math.floor(Date.now() / 1000) - 10) },
      { authorization: deviceSas('myhub/devices/thermo-02', DEVICE_KEY) },
      { authorization: 'SharedAccessSignature garbage' },
    ];
    for (const h of cases) {
      const r = await fetch(url, { method: 'POST', headers: h, body: 'x' });
      assert.equal(r.status, 401, JSON.stringify(h));
      assert.match(await r.text(), /IotHubUnauthorizedAccess/);
    }
    const ok = await fetch(url, { method: 'POST', headers: { authorization: deviceSas('myhub/devices/thermo-01', DEVICE_KEY) }, body: 'marker' });
    assert.equal(ok.status, 204);
    const [t] = await l.waitFor('telemetry');
    assert.equal(Buffer.from(t.body, 'base64').toString(), 'marker', 'only the authorised message arrived');
  });

  it('raw chunked requests, the module route, bad properties (400) and size limit (413)', async () => {
    const l = await listener();
    const url = `${ctx.bridge.url}/devices/gw/modules/filter/messages/events?api-version=2021-04-12`;
    const auth = deviceSas('myhub/devices/gw/modules/filter', DEVICE_KEY);
    async function* chunks() { yield Buffer.from('{"a":'); yield Buffer.from('1}'); }
    const r = await fetch(url, {
      method: 'POST', duplex: 'half', body: chunks(),
      headers: { authorization: auth, 'iothub-contenttype': 'application/json', 'iothub-app-k': 'v', 'iothub-messageid': 'x1' },
    });
    assert.equal(r.status, 204);
    const [t] = await l.waitFor('telemetry');
    assert.equal(t.deviceId, 'gw');
    assert.equal(t.moduleId, 'filter');
    assert.deepEqual(t.body, { a: 1 });
    assert.deepEqual(t.properties, { k: 'v' });
    const r400 = await fetch(url, { method: 'POST', body: 'x', headers: { authorization: auth, 'iothub-app-site': 'lab/1' } });
    assert.equal(r400.status, 400);
    const r413 = await fetch(url, { method: 'POST', body: 'x'.repeat(256 * 1024 + 1), headers: { authorization: auth } });
    assert.equal(r413.status, 413);
    await r413.arrayBuffer();
    assert.equal((await fetch(`${ctx.bridge.url}/devices/gw/messages/deviceBound`)).status, 204);
    const s = await ctx.bridge.flushed();
    assert.equal(s.rest.failed, 0);
  });
});
