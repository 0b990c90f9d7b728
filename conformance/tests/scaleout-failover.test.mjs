// Scale-out failure behaviour (issue 9, docs/scale-out.md): Redis is killed
// and restarted (empty) mid-run. Nodes keep serving their local clients,
// log the loss once, reconnect with backoff, re-register their connections
// and memberships (and re-publish user groups), and cross-node delivery
// resumes. No node crashes; all exit cleanly at the end.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, uniq, Api, eventually, show } from '../lib/index.mjs';
import { useCluster, waitJoined } from '../lib/cluster.mjs';

const cl = useCluster({ nodes: 2 });
const msg = (x) => ({ target: 'msg', arguments: [x] });

describe('Redis killed and restarted mid-run', () => {
  it('nodes keep serving local clients, then resynchronise', async () => {
    const [a, b] = cl.nodes;
    const hub = uniq('fo');
    const group = uniq('g');
    const vip = uniq('vip');
    const ca = await connect(a, { hub, userId: 'frank' });
    const cb = await connect(b, { hub });
    const apiA = new Api(a, hub);
    const apiB = new Api(b, hub);
    let r = await apiB.addConnectionToGroup(group, ca.id);
    assert.equal(r.status, 200, show(r));
    r = await apiA.addUserToGroup('frank', vip);
    assert.equal(r.status, 200, show(r));
    r = await apiB.sendToGroup(group, msg('before'));
    await ca.waitFor('msg', (x) => x === 'before');

    await cl.redis.kill();
    // Local service goes on: REST on A reaches A's client, B's on B.
    await eventually(() => a.output.join('').includes('lost Redis'), { what: 'A logs the loss', timeout: 5000 });
    r = await apiA.sendToConnection(ca.id, msg('local-a'));
    assert.equal(r.status, 202, show(r));
    await ca.waitFor('msg', (x) => x === 'local-a');
    r = await apiB.send(msg('local-b'));
    assert.equal(r.status, 202, show(r));
    await cb.waitFor('msg', (x) => x === 'local-b');
    // The loss is logged once per state change, not once per retry.
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((a.output.join('').match(/lost Redis/g) || []).length, 1, a.output.join('').slice(-1500));

    await cl.redis.start(); // same port, empty
    await Promise.all([waitJoined(a, 2), waitJoined(b, 2)]);
    // Registry re-published: B sees A's connection, group and user group.
    await eventually(async () => (await apiB.connectionExists(ca.id)).status === 200,
      { what: 'connection re-registered', timeout: 10_000 });
    await eventually(async () => (await apiB.groupExists(group)).status === 200,
      { what: 'group re-registered', timeout: 10_000 });
    // Cross-node delivery resumes.
    await eventually(async () => {
      await apiB.sendToGroup(group, msg('after'));
      return ca.messages('msg').some((m) => m.args[0] === 'after');
    }, { what: 'cross-node delivery after restart', timeout: 10_000, interval: 200 });
    r = await apiA.sendToConnection(cb.id, msg('a-to-b'));
    assert.equal(r.status, 202, show(r));
    await cb.waitFor('msg', (x) => x === 'a-to-b');
    // User groups survived on the nodes and apply to new connections on B.
    const later = await connect(b, { hub, userId: 'frank' });
    r = await apiA.sendToGroup(vip, msg('vip'));
    assert.equal(r.status, 202, show(r));
    await later.waitFor('msg', (x) => x === 'vip');
    await ca.waitFor('msg', (x) => x === 'vip');
  });
});
