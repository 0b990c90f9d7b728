// Scale-out (issue 9, docs/scale-out.md): three hubcast-service nodes on one
// Redis backplane act as one service. Clients on one node, REST on another:
// sends of every kind, connection/user group membership, existence checks,
// close by id, per-connection order, SSE and long polling, and negotiate's
// redirect to a node-specific URL (--node-url). Unmodified @microsoft/signalr.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, uniq, Api, barrier, eventually, show, signalR, rest, clientToken,
} from '../lib/index.mjs';
import { useCluster } from '../lib/cluster.mjs';
import { freePort } from '../lib/redis.mjs';

const redirectPort = await freePort();
const cl = useCluster({
  nodes: 3,
  // Node C names its own URL: negotiate redirects there (sticky sessions).
  args: (i) => (i === 2 ? ['--port', String(redirectPort), '--node-url', `http://127.0.0.1:${redirectPort}`] : []),
});
const msg = (x) => ({ target: 'msg', arguments: [x] });
const nodes = () => { const [a, b, c] = cl.nodes; return { a, b, c }; };

async function assertNoMsg(api, clients) {
  await Promise.all(clients.map((x) => barrier(api, x)));
  for (const x of clients) assert.deepEqual(x.messages('msg').map((m) => m.args), [], `${x.name} must not receive 'msg'`);
}

describe('sends made on one node reach clients on the others', () => {
  it('broadcast, user, group and connection sends', async () => {
    const { a, b, c } = nodes();
    const hub = uniq('so');
    const ca = await connect(a, { hub, userId: 'alice' });
    const cb = await connect(b, { hub, userId: 'bob' });
    const apiB = new Api(b, hub);
    const apiC = new Api(c, hub);

    let r = await apiB.send(msg('all'));
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await ca.waitFor('msg', (x) => x === 'all'), ['all']);
    assert.deepEqual(await cb.waitFor('msg', (x) => x === 'all'), ['all']);

    r = await apiC.sendToUser('alice', msg('to-alice'));
    assert.equal(r.status, 202, show(r));
    await ca.waitFor('msg', (x) => x === 'to-alice');

    r = await apiB.sendToConnection(ca.id, msg('to-conn'));
    assert.equal(r.status, 202, show(r));
    await ca.waitFor('msg', (x) => x === 'to-conn');

    // Excluded ids work across nodes; each client gets each message once.
    r = await apiC.send(msg('not-a'), { excluded: [ca.id] });
    assert.equal(r.status, 202, show(r));
    await cb.waitFor('msg', (x) => x === 'not-a');
    await barrier(new Api(a, hub), ca);
    assert.deepEqual(ca.messages('msg').map((m) => m.args[0]), ['all', 'to-alice', 'to-conn']);
    assert.deepEqual(cb.messages('msg').map((m) => m.args[0]), ['all', 'not-a']);
  });

  it('group membership made on one node applies on another', async () => {
    const { a, b, c } = nodes();
    const hub = uniq('so');
    const group = uniq('g');
    const ca = await connect(a, { hub });
    const other = await connect(c, { hub });
    const apiB = new Api(b, hub);
    const apiC = new Api(c, hub);
    let r = await apiB.addConnectionToGroup(group, ca.id);
    assert.equal(r.status, 200, show(r));
    // The group exists cluster-wide once node A applied the membership.
    await eventually(async () => (await apiC.groupExists(group)).status === 200, { what: 'group exists on C' });
    r = await apiC.sendToGroup(group, msg('g1'));
    assert.equal(r.status, 202, show(r));
    await ca.waitFor('msg', (x) => x === 'g1');
    // Excluded from a group send made on another node.
    r = await apiB.sendToGroup(group, msg('g-ex'), { excluded: [ca.id] });
    assert.equal(r.status, 202, show(r));
    r = await apiC.removeConnectionFromGroup(group, ca.id);
    assert.equal(r.status, 200, show(r));
    // The removal (published by C) and a later send (published by B) travel
    // through Redis from different nodes: only per-publisher order holds, so
    // wait until the removal has been applied before sending.
    await eventually(async () => (await apiB.groupExists(group)).status === 404, { what: 'group gone' });
    r = await apiB.sendToGroup(group, msg('g2'));
    assert.equal(r.status, 202, show(r));
    await assertNoMsg(new Api(a, hub), [other]);
    await barrier(new Api(a, hub), ca);
    assert.deepEqual(ca.messages('msg').map((m) => m.args[0]), ['g1']);
    // Unknown connection: 404 everywhere.
    r = await apiB.addConnectionToGroup(group, 'nope-nope-nope-nope-00');
    assert.equal(r.status, 404, show(r));
  });

  it('user groups (with ttl) apply to the user on every node, now and later', async () => {
    const { a, b, c } = nodes();
    const hub = uniq('so');
    const group = uniq('vip');
    const user = uniq('u');
    const first = await connect(a, { hub, userId: user });
    const apiB = new Api(b, hub);
    let r = await apiB.addUserToGroup(user, group, { ttl: 600 });
    assert.equal(r.status, 200, show(r));
    // Other nodes learn of the membership through Redis: eventually
    // consistent within milliseconds (docs/scale-out.md).
    await eventually(async () => (await new Api(a, hub).userInGroup(user, group)).status === 200,
      { what: 'user in group seen on A' });
    await eventually(async () => (await new Api(c, hub).userInGroup(user, group)).status === 200,
      { what: 'user in group seen on C' });
    // A later connection of the user on a third node joins too.
    const later = await connect(c, { hub, userId: user });
    r = await apiB.sendToGroup(group, msg('vip'));
    assert.equal(r.status, 202, show(r));
    await first.waitFor('msg', (x) => x === 'vip');
    await later.waitFor('msg', (x) => x === 'vip');
    r = await new Api(c, hub).removeUserFromGroup(user, group);
    assert.equal(r.status, 204, show(r));
    await eventually(async () => (await apiB.userInGroup(user, group)).status === 404, { what: 'user left group' });
    r = await apiB.sendToGroup(group, msg('after'));
    assert.equal(r.status, 202, show(r));
    await barrier(new Api(a, hub), first);
    await barrier(new Api(c, hub), later);
    for (const x of [first, later]) assert.deepEqual(x.messages('msg').map((m) => m.args[0]), ['vip'], x.name);
  });

  it('existence checks are cluster-wide', async () => {
    const { a, b } = nodes();
    const hub = uniq('so');
    const user = uniq('u');
    const ca = await connect(a, { hub, userId: user });
    const apiB = new Api(b, hub);
    await eventually(async () => (await apiB.connectionExists(ca.id)).status === 200, { what: 'connection exists on B' });
    let r = await apiB.userExists(user);
    assert.equal(r.status, 200, show(r));
    r = await apiB.connectionExists('nope-nope-nope-nope-00');
    assert.equal(r.status, 404, show(r));
    r = await apiB.userExists(uniq('nobody'));
    assert.equal(r.status, 404, show(r));
    await ca.stop();
    await eventually(async () => (await apiB.connectionExists(ca.id)).status === 404, { what: 'connection gone on B' });
    r = await apiB.userExists(user);
    assert.equal(r.status, 404, show(r));
  });

  it('close by id, by user and all, from another node', async () => {
    const { a, b, c } = nodes();
    const hub = uniq('so');
    const c1 = await connect(a, { hub });
    const c2 = await connect(a, { hub, userId: 'carol' });
    const c3 = await connect(c, { hub });
    let r = await new Api(b, hub).closeConnection(c1.id, { reason: 'bye from B' });
    assert.equal(r.status, 200, show(r));
    const err = await c1.waitClosed();
    assert.match(String(err?.message), /bye from B/);
    r = await new Api(c, hub).closeUser('carol');
    assert.equal(r.status, 204, show(r));
    await c2.waitClosed();
    r = await new Api(b, hub).closeAll();
    assert.equal(r.status, 204, show(r));
    await c3.waitClosed();
  });

  it('keeps per-connection order for messages published through one node', async () => {
    const { a, b } = nodes();
    const hub = uniq('so');
    const apiB = new Api(b, hub);
    const N = 200;
    const ca2 = await connect(a, { hub });
    for (let i = 0; i < N; i++) {
      const r = i % 2 ? await apiB.sendToConnection(ca2.id, msg(i)) : await apiB.send(msg(i));
      assert.equal(r.status, 202);
    }
    const got = await ca2.waitCount('msg', N, 10_000);
    assert.deepEqual(got.map((m) => m.args[0]).filter((x) => typeof x === 'number').slice(-N),
      Array.from({ length: N }, (_, i) => i));
  });

  for (const t of ['ServerSentEvents', 'LongPolling']) {
    it(`${t} clients on one node receive sends made on another`, async () => {
      const { a, b } = nodes();
      const hub = uniq('so');
      const ca = await connect(a, { hub, userId: 'dave', transport: signalR.HttpTransportType[t] });
      const apiB = new Api(b, hub);
      let r = await apiB.sendToUser('dave', msg('u'));
      assert.equal(r.status, 202, show(r));
      r = await apiB.sendToConnection(ca.id, msg('c'));
      assert.equal(r.status, 202, show(r));
      await ca.waitCount('msg', 2);
      assert.deepEqual(ca.messages('msg').map((m) => m.args[0]), ['u', 'c']);
    });
  }
});

describe('negotiate with --node-url', () => {
  it('answers with a redirect to the node, which the client follows', async () => {
    const { b, c } = nodes();
    const hub = uniq('so');
    const tok = clientToken(c, { hub, userId: 'erin' });
    const r = await rest(c, 'POST', `/client/negotiate?hub=${hub}&negotiateVersion=1&x=1`, { token: tok });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.accessToken, tok);
    assert.match(r.json.url, new RegExp(`^http://127\\.0\\.0\\.1:${redirectPort}/client/\\?hub=${hub}&x=1&hubcast_node=1$`));
    for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
      const x = await connect(c, { hub, userId: 'erin', transport: signalR.HttpTransportType[transport] });
      const s = await new Api(b, hub).sendToConnection(x.id, msg(transport));
      assert.equal(s.status, 202, show(s));
      await x.waitFor('msg', (v) => v === transport);
      await x.stop();
    }
    // A node without --node-url answers a normal negotiate.
    const plain = await rest(b, 'POST', `/client/negotiate?hub=${hub}&negotiateVersion=1`, { token: clientToken(b, { hub }) });
    assert.equal(plain.status, 200, show(plain));
    assert.ok(plain.json.connectionToken, show(plain));
  });
});
