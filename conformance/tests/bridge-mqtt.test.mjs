// hubcast-bridge over MQTT: the unmodified azure-iot-device-mqtt SDK connects
// to Debian's Mosquitto over TLS (GatewayHostName + a throwaway test CA), the
// bridge subscribes to the telemetry topics on a plain loopback listener and
// a JS client negotiated through the bridge receives the events, with the
// property bag decoded, per-device order kept, and module telemetry.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { connect } from '../lib/index.mjs';
import { useBridge, startMosquitto, makeTls, DEVICE_KEY } from '../lib/bridge.mjs';

const require = createRequire(import.meta.url);
const { Client, ModuleClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

let tls;
let broker;
const ctx = useBridge({
  setup: async () => { tls = makeTls(); broker = await startMosquitto(tls); },
  args: () => ['--mqtt-url', broker.url],
  teardown: async () => { await broker?.stop(); tls?.cleanup(); },
});

function cs(deviceId, moduleId) {
  return `HostName=myhub.azure-devices.net;GatewayHostName=localhost:${broker.tlsPort};DeviceId=${deviceId};` +
    `${moduleId ? `ModuleId=${moduleId};` : ''}SharedAccessKey=${DEVICE_KEY}`;
}

async function device(deviceId) {
  const c = Client.fromConnectionString(cs(deviceId), Mqtt);
  await c.setOptions({ ca: tls.ca.toString() });
  await c.open();
  return c;
}

describe('MQTT through Mosquitto with the azure-iot-device-mqtt SDK', () => {
  it('telemetry with properties and system properties reaches the JS client', async () => {
    const l = await connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['telemetry'] });
    const dev = await device('thermo-mqtt');
    const m = new Message(JSON.stringify({ temperature: 22.25 }));
    m.properties.add('temperatureAlert', 'true');
    m.properties.add('site name', 'lab/1');
    m.messageId = 'msg-42';
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    await dev.sendEvent(m);
    const [t] = await l.waitFor('telemetry', () => true, 8000);
    assert.equal(t.deviceId, 'thermo-mqtt');
    assert.equal(t.moduleId, null);
    assert.deepEqual(t.body, { temperature: 22.25 });
    assert.deepEqual(t.properties, { temperatureAlert: 'true', 'site name': 'lab/1' });
    await dev.close();
  });

  it('per-device order over QoS 1, two devices interleaved', async () => {
    const l = await connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['telemetry'] });
    const devs = await Promise.all(['mq-a', 'mq-b'].map(device));
    const N = 25;
    await Promise.all(devs.map(async (d) => {
      for (let i = 0; i < N; i++) {
        const m = new Message(JSON.stringify({ i }));
        m.contentType = 'application/json';
        await d.sendEvent(m);
      }
    }));
    const got = (await l.waitCount('telemetry', 2 * N, 10_000)).map((x) => x.args[0]);
    for (const id of ['mq-a', 'mq-b']) {
      assert.deepEqual(got.filter((t) => t.deviceId === id).map((t) => t.body.i), [...Array(N).keys()], id);
    }
    await Promise.all(devs.map((d) => d.close()));
  });

  it('module telemetry carries the module id; a bad topic is refused and counted', async () => {
    const l = await connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['telemetry'] });
    const mod = ModuleClient.fromConnectionString(cs('edge-gw', 'filter'), Mqtt);
    await mod.setOptions({ ca: tls.ca.toString() });
    await mod.open();
    await mod.sendEvent(new Message('raw bytes'));
    const [t] = await l.waitFor('telemetry', () => true, 8000);
    assert.equal(t.deviceId, 'edge-gw');
    assert.equal(t.moduleId, 'filter');
    assert.equal(Buffer.from(t.body, 'base64').toString(), 'raw bytes');
    await mod.close();
  });
});
