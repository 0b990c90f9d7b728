// REST sends delivered to real clients: targeting (broadcast/user/group/
// connection, excluded), body forms, argument fidelity, ordering, sizes,
// unicode.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useService, connect, uniq, Api, barrier, show, clientToken, withTimeout,
} from '../lib/index.mjs';

const ctx = useService();

async function clients(svc, hub, specs) {
  return Promise.all(specs.map((s) => connect(svc, { hub, ...s })));
}

/** Assert none of the clients got a 'msg' (after a per-connection barrier). */
async function assertNoMsg(api, cs) {
  await Promise.all(cs.map((c) => barrier(api, c)));
  for (const c of cs) {
    assert.deepEqual(c.messages('msg').map((m) => m.args), [], `client ${c.name} (${c.id}) must not receive 'msg'`);
  }
}

for (const flavor of ['new', 'v1']) {
  describe(`targeted sends (${flavor} routes)`, () => {
    it('broadcast reaches every connection of the hub and no other hub', async () => {
      const { svc } = ctx;
      const hub = uniq('bc');
      const other = uniq('bcother');
      const [c1, c2] = await clients(svc, hub, [{}, {}]);
      const [c3] = await clients(svc, other, [{}]);
      const api = new Api(svc, hub, flavor);
      const r = await api.send({ target: 'msg', arguments: ['all'] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c1.waitFor('msg'), ['all']);
      assert.deepEqual(await c2.waitFor('msg'), ['all']);
      await assertNoMsg(new Api(svc, other, flavor), [c3]);
    });

    it('broadcast honours excluded (repeated query parameter)', async () => {
      const { svc } = ctx;
      const hub = uniq('bcx');
      const [c1, c2, c3] = await clients(svc, hub, [{}, {}, {}]);
      const api = new Api(svc, hub, flavor);
      const r = await api.send({ target: 'msg', arguments: ['not for 1 and 2'] }, { excluded: [c1.id, c2.id] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c3.waitFor('msg'), ['not for 1 and 2']);
      await assertNoMsg(api, [c1, c2]);
    });

    it('send to user reaches all of that user\'s connections only', async () => {
      const { svc } = ctx;
      const hub = uniq('usr');
      const u1 = uniq('u');
      const u2 = uniq('u');
      const [a, b, other] = await clients(svc, hub, [{ userId: u1 }, { userId: u1 }, { userId: u2 }]);
      const api = new Api(svc, hub, flavor);
      const r = await api.sendToUser(u1, { target: 'msg', arguments: ['to u1'] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await a.waitFor('msg'), ['to u1']);
      assert.deepEqual(await b.waitFor('msg'), ['to u1']);
      await assertNoMsg(api, [other]);
    });

    it('send to group reaches members, honours excluded', async () => {
      const { svc } = ctx;
      const hub = uniq('grp');
      const group = uniq('g');
      const [m1, m2, m3, outsider] = await clients(svc, hub, [{}, {}, {}, {}]);
      const api = new Api(svc, hub, flavor);
      for (const c of [m1, m2, m3]) {
        const r = await api.addConnectionToGroup(group, c.id);
        assert.equal(r.status, 200, show(r));
      }
      const r = await api.sendToGroup(group, { target: 'msg', arguments: ['group'] }, { excluded: [m2.id] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await m1.waitFor('msg'), ['group']);
      assert.deepEqual(await m3.waitFor('msg'), ['group']);
      await assertNoMsg(api, [m2, outsider]);
    });

    it('send to connection reaches that connection only', async () => {
      const { svc } = ctx;
      const hub = uniq('conn');
      const [c1, c2] = await clients(svc, hub, [{ userId: 'same' }, { userId: 'same' }]);
      const api = new Api(svc, hub, flavor);
      const r = await api.sendToConnection(c1.id, { target: 'msg', arguments: ['just you'] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c1.waitFor('msg'), ['just you']);
      await assertNoMsg(api, [c2]);
    });

    it('sends to unknown user / group / connection / hub are accepted (202)', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('nobody'), flavor);
      const p = { target: 'msg', arguments: [] };
      for (const r of [
        await api.send(p),
        await api.sendToUser('ghost', p),
        await api.sendToGroup('ghosts', p),
        await api.sendToConnection('NoSuchConnection000000', p),
      ]) assert.equal(r.status, 202, show(r));
    });

    it('PascalCase Target/Arguments body is accepted (.NET SDK style)', async () => {
      const { svc } = ctx;
      const hub = uniq('pascal');
      const [c] = await clients(svc, hub, [{}]);
      const api = new Api(svc, hub, flavor);
      const r = await api.send({ Target: 'msg', Arguments: ['Pascal', 1] });
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c.waitFor('msg'), ['Pascal', 1]);
    });
  });
}

describe('request body forms', () => {
  it('Content-Type with charset (application/json; charset=utf-8) is accepted', async () => {
    const { svc } = ctx;
    const hub = uniq('cs');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const r = await api.call('POST', '/:send', {
      body: JSON.stringify({ Target: 'msg', Arguments: ['charset é'] }), contentType: 'application/json; charset=utf-8',
    });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['charset é']);
  });

  it('chunked request body (Transfer-Encoding: chunked) is accepted', async () => {
    const { svc } = ctx;
    const hub = uniq('chunk');
    const [c] = await clients(svc, hub, [{}]);
    const body = JSON.stringify({ target: 'msg', arguments: ['chunked', 'x'.repeat(20000)] });
    const parts = [body.slice(0, 7), body.slice(7, 5000), body.slice(5000)];
    const stream = new ReadableStream({
      start(ctrl) { for (const p of parts) ctrl.enqueue(new TextEncoder().encode(p)); ctrl.close(); },
    });
    const api = new Api(svc, hub);
    const r = await api.call('POST', '/:send', { body: stream, contentType: 'application/json' });
    assert.equal(r.status, 202, show(r));
    const got = await c.waitFor('msg');
    assert.equal(got[0], 'chunked');
    assert.equal(got[1].length, 20000);
  });
});

describe('payload fidelity', () => {
  it('more than 10 arguments of mixed JSON types', async () => {
    const { svc } = ctx;
    const hub = uniq('args');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const args = [1, 2.5, -3, 0, true, false, null, 'str', { a: [1, { b: null }], c: 'd' }, [], {}, [1, [2, [3]]],
      1e21, -0.125, 'eleven+', 'fifteen'];
    const r = await api.send({ target: 'msg', arguments: args });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), args);
  });

  it('missing arguments → handler called with no arguments', async () => {
    const { svc } = ctx;
    const hub = uniq('noargs');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const r = await api.send({ target: 'msg' });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), []);
  });

  it('target matching is case-insensitive in the client (target "MSG")', async () => {
    const { svc } = ctx;
    const hub = uniq('tcase');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const r = await api.send({ target: 'MSG', arguments: ['upper'] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['upper']);
  });

  it('unicode: emoji, CJK, RTL, combining marks round-trip exactly', async () => {
    const { svc } = ctx;
    const hub = uniq('uni');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const args = ['😀👍🏽🧑‍💻🏳️‍🌈', '中文字符 日本語 한국어', 'שלום עולם مرحبا بالعالم', 'e\u0301 Å ﬁ', { '键': '值', 'emoji🔑': '🎉' }];
    const r = await api.send({ target: 'msg', arguments: args });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), args);
  });

  it('JSON escapes (quotes, backslash, control chars, U+2028, 0x1E) round-trip', async () => {
    const { svc } = ctx;
    const hub = uniq('esc');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const args = ['quote " backslash \\ slash /', 'tab\tnl\ncr\r\u0001\u001f', 'ls\u2028ps\u2029', '\u001e record separator'];
    const r = await api.send({ target: 'msg', arguments: args });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), args);
  });

  it('an escaped NUL (\\u0000) inside a string argument is not truncated', async () => {
    const { svc } = ctx;
    const hub = uniq('nul');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const args = ['nul\u0000inside', { 'k\u0000ey': 'v' }];
    const r = await api.send({ target: 'msg', arguments: args });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), args);
  });

  it('64 KiB payload round-trips', async () => {
    const { svc } = ctx;
    const hub = uniq('big');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const big = 'x'.repeat(32 * 1024) + '€'.repeat(8 * 1024) + 'y'.repeat(8 * 1024); // 64 KiB of UTF-8
    assert.equal(Buffer.byteLength(big), 64 * 1024);
    const r = await api.sendToConnection(c.id, { target: 'msg', arguments: [big] });
    assert.equal(r.status, 202, show(r));
    const [got] = await c.waitFor('msg');
    assert.equal(got.length, big.length);
    assert.ok(got === big, 'payload differs');
  });

  it('~900 KiB payload (just under the 1 MB REST limit) round-trips', async () => {
    const { svc } = ctx;
    const hub = uniq('huge');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    const big = 'z'.repeat(900 * 1024);
    const r = await api.send({ target: 'msg', arguments: [big] });
    assert.equal(r.status, 202, show(r));
    const [got] = await c.waitFor('msg', () => true, 10_000);
    assert.ok(got === big, `payload differs (length ${got.length})`);
  });
});

describe('ordering', () => {
  it('200 sequential REST sends to one connection arrive complete and in order', async () => {
    const { svc } = ctx;
    const hub = uniq('order');
    const [c] = await clients(svc, hub, [{}]);
    const api = new Api(svc, hub);
    for (let i = 0; i < 200; i++) {
      const r = await api.sendToConnection(c.id, { target: 'msg', arguments: [i] });
      assert.equal(r.status, 202, show(r));
    }
    const got = await c.waitCount('msg', 200, 10_000);
    assert.deepEqual(got.map((m) => m.args[0]), Array.from({ length: 200 }, (_, i) => i));
  });

  it('order is kept across routes (connection/user/group/broadcast interleaved)', async () => {
    const { svc } = ctx;
    const hub = uniq('mix');
    const user = uniq('u');
    const group = uniq('g');
    const [c] = await clients(svc, hub, [{ userId: user }]);
    const api = new Api(svc, hub);
    assert.equal((await api.addConnectionToGroup(group, c.id)).status, 200);
    for (let i = 0; i < 60; i++) {
      const p = { target: 'msg', arguments: [i] };
      const r = await [() => api.sendToConnection(c.id, p), () => api.sendToUser(user, p),
        () => api.sendToGroup(group, p), () => api.send(p)][i % 4]();
      assert.equal(r.status, 202, show(r));
    }
    const got = await c.waitCount('msg', 60, 10_000);
    assert.deepEqual(got.map((m) => m.args[0]), Array.from({ length: 60 }, (_, i) => i));
  });

  it('concurrent senders: every message arrives exactly once', async () => {
    const { svc } = ctx;
    const hub = uniq('conc');
    const [c1, c2] = await clients(svc, hub, [{}, {}]);
    const api = new Api(svc, hub);
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => api.send({ target: 'msg', arguments: [i] })));
    for (const r of rs) assert.equal(r.status, 202, show(r));
    for (const c of [c1, c2]) {
      const got = await c.waitCount('msg', 50, 10_000);
      await barrier(api, c);
      assert.deepEqual(c.messages('msg').map((m) => m.args[0]).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
      assert.equal(got.length, 50);
    }
  });
});

describe('user ids', () => {
  it('user id with @, dot, space and unicode (URL-encoded path segment) is addressable', async () => {
    const { svc } = ctx;
    const hub = uniq('uid');
    const user = `Zoë O'Brien+test@example.com ${uniq('')}`;
    const c = await connect(svc, { hub, token: clientToken(svc, { hub, userId: user }) });
    const api = new Api(svc, hub);
    const r = await api.sendToUser(user, { target: 'msg', arguments: ['hi'] });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['hi']);
  });

  it('user ids are case-sensitive', async () => {
    const { svc } = ctx;
    const hub = uniq('ucase');
    const [lower] = await clients(svc, hub, [{ userId: 'alice' }]);
    const api = new Api(svc, hub);
    const r = await api.sendToUser('ALICE', { target: 'msg', arguments: ['wrong case'] });
    assert.equal(r.status, 202, show(r));
    await assertNoMsg(api, [lower]);
  });
});

describe('client-to-service messages (no upstream listening)', () => {
  it('send() (no invocation id) is accepted and the connection stays usable', async () => {
    const { svc } = ctx;
    const hub = uniq('c2s');
    const [c] = await clients(svc, hub, [{}]);
    await c.conn.send('somethingUpstream', 1, 'two');
    await barrier(new Api(svc, hub), c);
    assert.equal(c.state, 'Connected');
  });

  it('invoke() (with invocation id) completes with an error instead of hanging', async () => {
    const { svc } = ctx;
    const hub = uniq('c2s');
    const [c] = await clients(svc, hub, [{}]);
    await assert.rejects(withTimeout(c.conn.invoke('nobodyListens', 1), 15_000, 'invoke() never completed'),
      (e) => !/never completed/.test(e.message));
    await barrier(new Api(svc, hub), c);
    assert.equal(c.state, 'Connected');
  });
});
