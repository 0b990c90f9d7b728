// REST data plane (azure-signalr-service.md §4.3 rows 1-20): membership,
// existence checks, close, health, generateToken, error handling — observed
// through real clients where there is a client-visible effect.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  useService, connect, uniq, Api, barrier, eventually, show, rest, decodeJwt, signalR, enc,
} from '../lib/index.mjs';

const ctx = useService();

const msg = (x) => ({ target: 'msg', arguments: [x] });

async function assertNoMsg(api, cs) {
  await Promise.all(cs.map((c) => barrier(api, c)));
  for (const c of cs) {
    assert.deepEqual(c.messages('msg').map((m) => m.args), [], `client ${c.name} (${c.id}) must not receive 'msg'`);
  }
}

function assertNotFound(r, code) {
  assert.equal(r.status, 404, show(r));
  assert.equal(r.headers.get('x-ms-error-code'), code, `x-ms-error-code of ${show(r)}`);
}

for (const flavor of ['new', 'v1']) {
  describe(`connection <-> group (${flavor} routes)`, () => {
    for (const order of ['group-first', 'connection-first']) {
      it(`add and remove, path order ${order}`, async () => {
        const { svc } = ctx;
        const hub = uniq('cg');
        const group = uniq('g');
        const c = await connect(svc, { hub });
        const api = new Api(svc, hub, flavor);
        let r = await api.addConnectionToGroup(group, c.id, order);
        assert.equal(r.status, 200, show(r));
        r = await api.sendToGroup(group, msg('in'));
        assert.equal(r.status, 202, show(r));
        assert.deepEqual(await c.waitFor('msg'), ['in']);
        r = await api.removeConnectionFromGroup(group, c.id, order);
        assert.equal(r.status, 200, show(r));
        r = await api.sendToGroup(group, msg('out'));
        assert.equal(r.status, 202, show(r));
        await barrier(api, c);
        assert.deepEqual(c.messages('msg').map((m) => m.args[0]), ['in']);
      });
    }

    it('add unknown connection -> 404 Error.Connection.NotExisted', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('cg'), flavor);
      assertNotFound(await api.addConnectionToGroup('g', 'NoSuchConnection000000'), 'Error.Connection.NotExisted');
    });

    it('remove a non-member connection -> 200 (idempotent)', async () => {
      const { svc } = ctx;
      const hub = uniq('cg');
      const c = await connect(svc, { hub });
      const api = new Api(svc, hub, flavor);
      const r = await api.removeConnectionFromGroup(uniq('never'), c.id);
      assert.equal(r.status, 200, show(r));
    });

    it('group names are case-sensitive and may contain spaces/unicode (URL-encoded)', async () => {
      const { svc } = ctx;
      const hub = uniq('cg');
      const group = `Room ü ${uniq('')}`;
      const c = await connect(svc, { hub });
      const api = new Api(svc, hub, flavor);
      assert.equal((await api.addConnectionToGroup(group, c.id)).status, 200);
      assert.equal((await api.sendToGroup(group.toLowerCase(), msg('lower'))).status, 202);
      assert.equal((await api.sendToGroup(group, msg('exact'))).status, 202);
      assert.deepEqual(await c.waitFor('msg'), ['exact']);
      await barrier(api, c);
      assert.deepEqual(c.messages('msg').map((m) => m.args[0]), ['exact']);
    });
  });

  describe(`user <-> group (${flavor} routes)`, () => {
    it('add user: current connections join; user-in-group HEAD/GET 200; remove: they leave, 404 Info.User.NotInGroup', async () => {
      const { svc } = ctx;
      const hub = uniq('ug');
      const user = uniq('u');
      const group = uniq('g');
      const [a, b] = await Promise.all([connect(svc, { hub, userId: user }), connect(svc, { hub, userId: user })]);
      const api = new Api(svc, hub, flavor);
      let r = await api.addUserToGroup(user, group);
      assert.equal(r.status, api.expected.addUserToGroup, show(r));
      for (const m of ['HEAD', 'GET']) {
        r = await api.userInGroup(user, group, m);
        assert.equal(r.status, 200, show(r));
      }
      assert.equal((await api.groupExists(group)).status, 200);
      r = await api.sendToGroup(group, msg('ug'));
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await a.waitFor('msg'), ['ug']);
      assert.deepEqual(await b.waitFor('msg'), ['ug']);

      r = await api.removeUserFromGroup(user, group);
      assert.equal(r.status, api.expected.removeUserFromGroup, show(r));
      for (const m of ['HEAD', 'GET']) assertNotFound(await api.userInGroup(user, group, m), 'Info.User.NotInGroup');
      assert.equal((await api.sendToGroup(group, msg('after remove'))).status, 202);
      await Promise.all([barrier(api, a), barrier(api, b)]);
      assert.equal(a.messages('msg').length, 1);
      assert.equal(b.messages('msg').length, 1);
    });

    it('remove user from all groups', async () => {
      const { svc } = ctx;
      const hub = uniq('ug');
      const user = uniq('u');
      const [g1, g2] = [uniq('g'), uniq('g')];
      const c = await connect(svc, { hub, userId: user });
      const api = new Api(svc, hub, flavor);
      for (const g of [g1, g2]) assert.equal((await api.addUserToGroup(user, g)).status, api.expected.addUserToGroup);
      const r = await api.removeUserFromAllGroups(user);
      assert.equal(r.status, api.expected.removeUserFromAllGroups, show(r));
      for (const g of [g1, g2]) {
        assertNotFound(await api.userInGroup(user, g, 'GET'), 'Info.User.NotInGroup');
        assert.equal((await api.sendToGroup(g, msg(g))).status, 202);
      }
      await assertNoMsg(api, [c]);
    });

    it('membership added before the user ever connected (hub unused) applies when it connects', async () => {
      const { svc } = ctx;
      const hub = uniq('pre');
      const user = uniq('u');
      const group = uniq('g');
      const api = new Api(svc, hub, flavor);
      let r = await api.addUserToGroup(user, group);
      assert.equal(r.status, api.expected.addUserToGroup, show(r));
      r = await api.userInGroup(user, group, 'GET');
      assert.equal(r.status, 200, `user-in-group before connect: ${show(r)}`);
      const c = await connect(svc, { hub, userId: user });
      r = await api.sendToGroup(group, msg('welcome'));
      assert.equal(r.status, 202, show(r));
      assert.deepEqual(await c.waitFor('msg'), ['welcome']);
    });
  });

  describe(`existence checks (${flavor} routes)`, () => {
    it('connection / user / group / user-in-group: 200 when present, 404 + exact x-ms-error-code when not (HEAD and GET)', async () => {
      const { svc } = ctx;
      const hub = uniq('ex');
      const user = uniq('u');
      const group = uniq('g');
      const c = await connect(svc, { hub, userId: user });
      const api = new Api(svc, hub, flavor);
      assert.equal((await api.addConnectionToGroup(group, c.id)).status, 200);
      for (const m of ['HEAD', 'GET']) {
        for (const r of [await api.connectionExists(c.id, m), await api.userExists(user, m), await api.groupExists(group, m)]) {
          assert.equal(r.status, 200, show(r));
        }
        assertNotFound(await api.connectionExists('NoSuchConnection000000', m), 'Warning.Connection.NotExisted');
        assertNotFound(await api.userExists(uniq('nouser'), m), 'Warning.User.NotExisted');
        assertNotFound(await api.groupExists(uniq('nogroup'), m), 'Warning.Group.NotExisted');
        assertNotFound(await api.userInGroup(user, uniq('nogroup'), m), 'Info.User.NotInGroup');
      }
    });

    it('after the client stops: connection, user and group report not-existing', async () => {
      const { svc } = ctx;
      const hub = uniq('ex');
      const user = uniq('u');
      const group = uniq('g');
      const c = await connect(svc, { hub, userId: user });
      const api = new Api(svc, hub, flavor);
      assert.equal((await api.addConnectionToGroup(group, c.id)).status, 200);
      const id = c.id;
      await c.stop();
      // The service learns about the close asynchronously; poll (bounded).
      await eventually(async () => (await api.connectionExists(id)).status === 404, { what: 'connection gone' });
      assertNotFound(await api.connectionExists(id, 'GET'), 'Warning.Connection.NotExisted');
      assertNotFound(await api.userExists(user, 'GET'), 'Warning.User.NotExisted');
      assertNotFound(await api.groupExists(group, 'GET'), 'Warning.Group.NotExisted');
    });
  });

  describe(`close connection (${flavor} routes)`, () => {
    it('DELETE connection with reason: client onclose gets an Error containing the reason', async () => {
      const { svc } = ctx;
      const hub = uniq('close');
      const c = await connect(svc, { hub });
      const other = await connect(svc, { hub });
      const api = new Api(svc, hub, flavor);
      const reason = `bye-${uniq('r')} now`;
      const r = await api.closeConnection(c.id, { reason });
      assert.equal(r.status, api.expected.closeConnection, show(r));
      const err = await c.waitClosed();
      assert.ok(err instanceof Error, `onclose error: ${err}`);
      assert.ok(err.message.includes(reason), `onclose message "${err.message}" lacks reason "${reason}"`);
      assert.ok(c.logger.has('Close message received from server.'), 'client never saw a hub Close record');
      await eventually(async () => (await api.connectionExists(c.id)).status === 404, { what: 'closed connection gone' });
      // others unaffected
      assert.equal(other.state, signalR.HubConnectionState.Connected);
      await barrier(api, other);
    });

    it('close an unknown connection -> 200/202, or 404 Warning.Connection.NotExisted', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('close'), flavor);
      const r = await api.closeConnection('NoSuchConnection000000', { reason: 'x' });
      if (r.status === 404) assert.equal(r.headers.get('x-ms-error-code'), 'Warning.Connection.NotExisted', show(r));
      else assert.ok([200, api.expected.closeConnection].includes(r.status), show(r));
    });
  });

  describe(`request errors (${flavor} routes)`, () => {
    it('invalid JSON body -> 400', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('err'), flavor);
      const path = flavor === 'v1' ? '' : '/:send';
      const r = await api.call('POST', path, { body: '{"target": "msg", "arguments": [1,', contentType: 'application/json' });
      assert.equal(r.status, 400, show(r));
    });

    it('missing target / empty target / empty body / non-object body -> 400', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('err'), flavor);
      const path = flavor === 'v1' ? '' : '/:send';
      for (const body of ['{"arguments":[1]}', '{"target":"","arguments":[]}', '', '[]', '"msg"', '{"target":5}']) {
        const r = await api.call('POST', path, { body, contentType: 'application/json' });
        assert.equal(r.status, 400, `body ${JSON.stringify(body)}: ${show(r)}`);
      }
    });

    it('error responses carry x-ms-error-code and an ErrorDetail JSON body {code, message}', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('err'), flavor);
      const bad = await api.call('POST', flavor === 'v1' ? '' : '/:send', { body: '{', contentType: 'application/json' });
      const missing = await api.connectionExists('NoSuchConnection000000', 'GET');
      for (const r of [bad, missing]) {
        assert.ok(r.headers.get('x-ms-error-code'), `no x-ms-error-code: ${show(r)}`);
        assert.ok(r.json && typeof r.json.code === 'string' && typeof r.json.message === 'string', `body is not {code, message}: ${show(r)}`);
        assert.equal(r.json.code, r.headers.get('x-ms-error-code'), `body code differs from header: ${show(r)}`);
      }
    });

    it('body over 1 MB -> 413', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('err'), flavor);
      const body = JSON.stringify({ target: 'msg', arguments: ['q'.repeat(1_100_000)] });
      let r;
      try {
        r = await api.call('POST', flavor === 'v1' ? '' : '/:send', { body, contentType: 'application/json' });
      } catch (e) {
        assert.fail(`POST ${body.length}-byte body: no HTTP response (${e.cause?.code || e.message}); expected 413`);
      }
      assert.equal(r.status, 413, show(r));
    });

    // libwebsockets 4.1 (Debian 12) drops a request whose headers overflow its
    // header buffer without answering, so 431 cannot always be sent: accept 431
    // or a closed connection, but the service must stay up and a request just
    // under the limit must still work.
    it('request headers over 16 KB are refused (431 or closed); the service keeps serving', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('err'), flavor);
      let r = null;
      try {
        r = await api.call('POST', flavor === 'v1' ? '' : '/:send', { json: msg(1), headers: { 'x-padding': 'p'.repeat(20 * 1024) } });
      } catch (e) {
        r = null; // connection closed without an answer
      }
      if (r) assert.equal(r.status, 431, show(r));
      const ok = await api.call('POST', flavor === 'v1' ? '' : '/:send', { json: msg(1), headers: { 'x-padding': 'p'.repeat(12 * 1024) } });
      assert.equal(ok.status, 202, show(ok));
      const h = await fetch(`${svc.url}/api/health`);
      assert.equal(h.status, 200);
    });

    it('unknown routes -> 404', async () => {
      const { svc } = ctx;
      const api = new Api(svc, uniq('err'), flavor);
      for (const [m, p] of [['POST', '/nonsense/route/here'], ['GET', '/groups/a/b/c/d'], ['POST', '/connections/x/:bogus']]) {
        const r = await api.call(m, p, m === 'GET' ? {} : { json: msg(1) });
        assert.equal(r.status, 404, show(r));
      }
      const r = await rest(svc, 'GET', '/api/not-a-thing');
      assert.equal(r.status, 404, show(r));
    });
  });
}

describe('leave all groups (DELETE connections/{id}/groups)', () => {
  it('removes the connection from every group', async () => {
    const { svc } = ctx;
    const hub = uniq('leave');
    const [g1, g2] = [uniq('g'), uniq('g')];
    const c = await connect(svc, { hub });
    const api = new Api(svc, hub);
    for (const g of [g1, g2]) assert.equal((await api.addConnectionToGroup(g, c.id)).status, 200);
    const r = await api.leaveAllGroups(c.id);
    assert.equal(r.status, 200, show(r));
    for (const g of [g1, g2]) {
      assert.equal((await api.sendToGroup(g, msg(g))).status, 202);
      assertNotFound(await api.groupExists(g, 'GET'), 'Warning.Group.NotExisted');
    }
    await assertNoMsg(api, [c]);
  });
});

describe('user <-> group: other path order and TTL', () => {
  it('groups/{g}/users/{u} order is accepted on /api/hubs routes too', async () => {
    const { svc } = ctx;
    const hub = uniq('ugo');
    const user = uniq('u');
    const group = uniq('g');
    const c = await connect(svc, { hub, userId: user });
    const api = new Api(svc, hub);
    let r = await api.addUserToGroup(user, group, { order: 'group-first' });
    assert.ok([200, 202].includes(r.status), show(r));
    r = await api.userInGroup(user, group, 'GET', { order: 'group-first' });
    assert.equal(r.status, 200, show(r));
    assert.equal((await api.sendToGroup(group, msg('x'))).status, 202);
    assert.deepEqual(await c.waitFor('msg'), ['x']);
    r = await api.removeUserFromGroup(user, group, { order: 'group-first' });
    assert.ok([200, 202, 204].includes(r.status), show(r));
    assertNotFound(await api.userInGroup(user, group, 'GET'), 'Info.User.NotInGroup');
  });

  it('ttl=0: only the current connections join; a later connection does not', async () => {
    const { svc } = ctx;
    const hub = uniq('ttl0');
    const user = uniq('u');
    const group = uniq('g');
    const first = await connect(svc, { hub, userId: user });
    const api = new Api(svc, hub);
    const r = await api.addUserToGroup(user, group, { ttl: 0 });
    assert.equal(r.status, 200, show(r));
    const later = await connect(svc, { hub, userId: user });
    assert.equal((await api.sendToGroup(group, msg('ttl0'))).status, 202);
    assert.deepEqual(await first.waitFor('msg'), ['ttl0']);
    await assertNoMsg(api, [later]);
  });

  it('ttl=2: a connection made within 2 s joins; one made after expiry does not', async () => {
    const { svc } = ctx;
    const hub = uniq('ttl2');
    const user = uniq('u');
    const group = uniq('g');
    const api = new Api(svc, hub);
    const t0 = Date.now();
    const r = await api.addUserToGroup(user, group, { ttl: 2 });
    assert.equal(r.status, 200, show(r));
    const within = await connect(svc, { hub, userId: user });
    assert.ok(Date.now() - t0 < 2000, 'connect took too long for the TTL window; test inconclusive');
    // TTL expiry has no observable event: wait it out (bounded, 2.5 s past the PUT).
    await delay(Math.max(0, 2500 - (Date.now() - t0)));
    const after = await connect(svc, { hub, userId: user });
    assert.equal((await api.sendToGroup(group, msg('ttl2'))).status, 202);
    assert.deepEqual(await within.waitFor('msg'), ['ttl2'], 'connection made within the TTL must keep the membership');
    await assertNoMsg(api, [after]);
  });

  it('ttl < 0 -> 400', async () => {
    const { svc } = ctx;
    const api = new Api(svc, uniq('ttln'));
    const r = await api.addUserToGroup('u', 'g', { ttl: -1 });
    assert.equal(r.status, 400, show(r));
  });
});

describe(':closeConnections (all / group / user) with excluded and reason', () => {
  async function setup(svc) {
    const hub = uniq('cc');
    const user = uniq('u');
    const group = uniq('g');
    const api = new Api(svc, hub);
    const [a, b, c, d] = await Promise.all([
      connect(svc, { hub, userId: user }), connect(svc, { hub, userId: user }),
      connect(svc, { hub }), connect(svc, { hub }),
    ]);
    for (const x of [a, c]) assert.equal((await api.addConnectionToGroup(group, x.id)).status, 200);
    // note: b is a user connection not in the group, d neither user nor group
    return { hub, user, group, api, a, b, c, d };
  }

  async function expectClosed(client, reason) {
    const err = await client.waitClosed();
    assert.ok(err instanceof Error && err.message.includes(reason), `client ${client.id}: onclose error ${err?.message} lacks "${reason}"`);
  }

  it('POST :closeConnections closes every connection except excluded', async () => {
    const { svc } = ctx;
    const { api, a, b, c, d } = await setup(svc);
    const reason = uniq('all');
    const r = await api.closeAll({ excluded: [b.id, d.id], reason });
    assert.equal(r.status, 204, show(r));
    await expectClosed(a, reason);
    await expectClosed(c, reason);
    await barrier(api, b);
    await barrier(api, d);
    assert.equal(b.state, signalR.HubConnectionState.Connected);
    assert.equal(d.state, signalR.HubConnectionState.Connected);
  });

  it('POST groups/{g}/:closeConnections closes the group members except excluded', async () => {
    const { svc } = ctx;
    const { api, group, a, b, c, d } = await setup(svc);
    const reason = uniq('grp');
    const r = await api.closeGroup(group, { excluded: [c.id], reason });
    assert.equal(r.status, 204, show(r));
    await expectClosed(a, reason);
    for (const x of [b, c, d]) {
      await barrier(api, x);
      assert.equal(x.state, signalR.HubConnectionState.Connected);
    }
  });

  it('POST users/{u}/:closeConnections closes the user\'s connections except excluded', async () => {
    const { svc } = ctx;
    const { api, user, a, b, c, d } = await setup(svc);
    const reason = uniq('usr');
    const r = await api.closeUser(user, { excluded: [a.id], reason });
    assert.equal(r.status, 204, show(r));
    await expectClosed(b, reason);
    for (const x of [a, c, d]) {
      await barrier(api, x);
      assert.equal(x.state, signalR.HubConnectionState.Connected);
    }
  });
});

describe('health (no token)', () => {
  for (const path of ['/api/health', '/api/v1/health']) {
    for (const method of ['GET', 'HEAD']) {
      it(`${method} ${path} -> 200 without Authorization`, async () => {
        const { svc } = ctx;
        const r = await rest(svc, method, path, { token: false });
        assert.equal(r.status, 200, show(r));
      });
    }
  }
});

describe(':generateToken', () => {
  it('returns a client token for the hub and user; the real client connects with it', async () => {
    const { svc } = ctx;
    const hub = uniq('gen');
    const user = uniq('u');
    const api = new Api(svc, hub);
    const r = await api.generateToken({ userId: user, minutesToExpire: 5 });
    assert.equal(r.status, 200, show(r));
    assert.equal(typeof r.json?.token, 'string', show(r));
    const { payload } = decodeJwt(r.json.token);
    assert.equal(payload['asrs.s.uid'], user);
    assert.match(String(payload.aud), new RegExp(`/client/\\?hub=${hub}$`, 'i'));
    const lifetime = payload.exp - Math.floor(Date.now() / 1000);
    assert.ok(lifetime > 240 && lifetime <= 300 + 5, `exp ${lifetime}s from now, expected ~300`);
    const c = await connect(svc, { hub, token: r.json.token });
    assert.equal((await api.sendToUser(user, msg('generated'))).status, 202);
    assert.deepEqual(await c.waitFor('msg'), ['generated']);
  });

  it('default lifetime is 60 minutes; works without userId', async () => {
    const { svc } = ctx;
    const hub = uniq('gen');
    const api = new Api(svc, hub);
    const r = await api.generateToken({});
    assert.equal(r.status, 200, show(r));
    const { payload } = decodeJwt(r.json.token);
    const lifetime = payload.exp - Math.floor(Date.now() / 1000);
    assert.ok(lifetime > 3500 && lifetime <= 3605, `exp ${lifetime}s from now, expected ~3600`);
    const c = await connect(svc, { hub, token: r.json.token });
    await barrier(api, c);
  });

  it('minutesToExpire=0 -> 400', async () => {
    const { svc } = ctx;
    const r = await new Api(svc, uniq('gen')).generateToken({ minutesToExpire: 0 });
    assert.equal(r.status, 400, show(r));
  });
});

describe('route variants', () => {
  for (const apiVersion of ['2022-11-01', '2024-12-01', '2099-01-01']) {
    it(`api-version=${apiVersion} is accepted`, async () => {
      const { svc } = ctx;
      const hub = uniq('ver');
      const c = await connect(svc, { hub });
      const api = new Api(svc, hub, 'new', { apiVersion });
      assert.equal((await api.send(msg(apiVersion))).status, 202);
      assert.deepEqual(await c.waitFor('msg'), [apiVersion]);
      assert.equal((await api.connectionExists(c.id, 'GET')).status, 200);
    });
  }

  it('hub name in REST path is case-insensitive', async () => {
    const { svc } = ctx;
    const hub = uniq('case');
    const c = await connect(svc, { hub });
    const api = new Api(svc, hub.toUpperCase());
    assert.equal((await api.send(msg('upper hub'))).status, 202);
    assert.deepEqual(await c.waitFor('msg'), ['upper hub']);
    assert.equal((await api.connectionExists(c.id, 'GET')).status, 200);
  });

  it('application query: effective hub is {app}_{hub}', async () => {
    const { svc } = ctx;
    const app = uniq('app');
    const hub = uniq('hub');
    const c = await connect(svc, { hub: `${app}_${hub}` });
    const r = await rest(svc, 'POST', `/api/hubs/${enc(hub)}/:send`, {
      query: { application: app, 'api-version': '2022-06-01' }, json: msg('app'),
    });
    assert.equal(r.status, 202, show(r));
    assert.deepEqual(await c.waitFor('msg'), ['app']);
  });
});
