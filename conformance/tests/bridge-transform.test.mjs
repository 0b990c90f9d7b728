// hubcast-bridge user transforms: a declarative rules.json (match on device
// id and properties, target, group by template, projection) and the C plugin
// API (the store-sign sample: state kept between calls, group actions, sends
// to group store:<id> and to one connection).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, barrier, Api } from '../lib/index.mjs';
import { useBridge, startBridge, storeSignPlugin } from '../lib/bridge.mjs';

const dir = mkdtempSync(join(tmpdir(), 'hcb-rules-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const rulesFile = join(dir, 'rules.json');
writeFileSync(rulesFile, JSON.stringify({
  rules: [
    { match: { deviceId: 'thermo-*', properties: { alert: 'true' } }, target: 'alert',
      to: { group: 'device:{deviceId}' }, project: { id: 'deviceId', t: 'body.temperature' } },
    { match: { deviceId: 'thermo-*' }, target: 'reading', project: { id: 'deviceId', t: 'body.temperature', seq: 'sequenceNumber' } },
  ],
  unmatched: 'drop',
}));

const ctx = useBridge({ args: ['--transform', rulesFile, '--hub', 'rules'] });

const ev = (id, body, properties = {}) => ({ body, properties, systemProperties: { 'iothub-connection-device-id': id } });

describe('rules.json transform', () => {
  it('matches, routes to a templated group, projects fields and drops the rest', async () => {
    const inGroup = await connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['alert', 'reading'] });
    const other = await connect(ctx.svc, { url: ctx.bridge.api, token: false, targets: ['alert', 'reading'] });
    const api = new Api(ctx.svc, 'rules');
    const r = await api.addConnectionToGroup('device:thermo-9', inGroup.id);
    assert.equal(r.status, 200, r.text);
    await ctx.bridge.postEvents([ev('other-1', { temperature: 1 }), ev('thermo-9', { temperature: 30 }, { alert: 'true' })]);
    const [a] = await inGroup.waitFor('alert');
    assert.deepEqual(a, { id: 'thermo-9', t: 30 });
    const [rd] = await other.waitFor('reading');
    assert.equal(rd.id, 'thermo-9');
    assert.equal(rd.t, 30);
    await ctx.bridge.flushed();
    await barrier(api, other);
    assert.equal(other.messages('alert').length, 0, 'alert went to the group only');
    assert.equal(other.messages('reading').length, 1, 'other-1 matched no rule and was dropped');
  });
});

describe('C plugin transform (samples/store-sign)', () => {
  it('keeps occupancy per store and pushes it to group store:<id>', async (t) => {
    if (!existsSync(storeSignPlugin())) { t.skip(`plugin not built: ${storeSignPlugin()}`); return; }
    const b = await startBridge(ctx.svc, { hub: 'signs', args: ['--transform', storeSignPlugin()] });
    try {
      const s1 = await connect(ctx.svc, { url: b.api, token: false, targets: ['occupancy'] });
      const s2 = await connect(ctx.svc, { url: b.api, token: false, targets: ['occupancy'] });
      const sub = (c, store) => ({ body: { store, connectionId: c.id }, properties: { type: 'subscribe' },
        systemProperties: { 'iothub-connection-device-id': `sign-${store}`, 'content-type': 'application/json' } });
      assert.equal((await b.postEvents([sub(s1, 's1'), sub(s2, 's2')])).status, 202);
      const [first] = await s1.waitFor('occupancy');
      assert.equal(first.occupancy, 0, 'current state sent to the new sign');
      await b.postEvents([ev('door-s1-a', { store: 's1', entries: 3, exits: 0 }), ev('door-s1-b', { store: 's1', entries: 1, exits: 1 }),
        ev('door-s2-a', { store: 's2', entries: 5 })]);
      await b.postEvents(ev('door-s1-a', { store: 's1', entries: 0, exits: 2 }));
      const got = await s1.waitCount('occupancy', 4);
      assert.deepEqual(got.map((m) => m.args[0].occupancy), [0, 3, 3, 1]);
      assert.deepEqual(got.slice(1).map((m) => m.args[0].store), ['s1', 's1', 's1']);
      const g2 = await s2.waitCount('occupancy', 2);
      assert.deepEqual(g2.map((m) => m.args[0].occupancy), [0, 5]);
      const s = await b.flushed();
      assert.equal(s.rest.failed, 0, JSON.stringify(s));
      assert.equal(s.transformFailed, 0);
    } finally {
      await b.stop();
    }
  });
});
