// MQTT garbage for hubcast-bridge (issue 8 bad-input catalogue, cases
// Q1-Q6): publishes that are not IoT Hub telemetry are refused and counted,
// one at a time, without disturbing the next valid message.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { connect } from '../lib/index.mjs';
import { useBridge, startMosquitto } from '../lib/bridge.mjs';

const require = createRequire(import.meta.url);
const mqtt = require('mqtt');

let broker;
const ctx = useBridge({
  setup: async () => { broker = await startMosquitto(null); },
  args: () => ['--mqtt-url', broker.url],
  teardown: async () => { await broker?.stop(); },
});

function publisher() {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(broker.url, { clientId: `garbage-${process.pid}`, reconnectPeriod: 0 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}
const pub = (c, topic, payload) => new Promise((res, rej) => c.publish(topic, payload, { qos: 1 }, (e) => (e ? rej(e) : res())));

describe('MQTT garbage', () => {
  const CASES = [
    ['Q1 property bag with broken percent-encoding', 'devices/dev1/messages/events/a=%zz&b=%', '{"t":1}'],
    ['Q2 device id with characters IoT Hub refuses', 'devices/bad<id>/messages/events/', '{"t":1}'],
    ['Q3 a topic that is not telemetry', 'devices/dev1/twin/res/', '{}'],
    ['Q4 payload over the 256 KiB message limit', 'devices/dev1/messages/events/', Buffer.alloc(300 * 1024, 0x61)],
    ['Q5 binary payload with a JSON content type', 'devices/dev1/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8', Buffer.from([0xff, 0xfe, 0x00, 0x7b])],
    ['Q6 property bag of 10000 empty keys', `devices/dev1/messages/events/${'&'.repeat(10000)}`, 'x'],
  ];
  for (const [name, topic, payload] of CASES) {
    it(`${name} -> refused or delivered as opaque bytes; the next valid message arrives`, async () => {
      const l = await connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['telemetry'] });
      const c = await publisher();
      try {
        await pub(c, topic, payload);
        const marker = `ok-${Math.random()}`;
        await pub(c, 'devices/dev-ok/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8', JSON.stringify({ marker }));
        const [t] = await l.waitFor('telemetry', (e) => e.deviceId === 'dev-ok' && e.body?.marker === marker, 8000);
        assert.equal(t.deviceId, 'dev-ok');
        // Nothing from the garbage device id or the oversized message got through.
        const bad = l.messages('telemetry').filter((m) => m.args[0].deviceId === 'bad<id>' ||
          (typeof m.args[0].body === 'string' && m.args[0].body.length > 256 * 1024));
        assert.equal(bad.length, 0);
      } finally {
        c.end(true);
      }
    });
  }
});
