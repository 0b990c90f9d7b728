// Token validation for client negotiate/connect and the REST API
// (azure-signalr-service.md §1.1, §2). The service runs with a primary and a
// secondary access key.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useService, connect, build, uniq, Api, barrier, show, rest, clientToken, restToken, signJwt, now,
  tryUpgrade, isExternal, buildUrl,
} from '../lib/index.mjs';

const SECONDARY = 'SecondaryKey-0123456789abcdefghijklmnopqrstuvwx';
const PRIMARY = 'PrimaryKey-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ctx = useService({ keys: [PRIMARY, SECONDARY] });
const WRONG_KEY = 'WrongKey-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789AB';

async function rawNegotiate(svc, hub, token) {
  const headers = { 'x-requested-with': 'XMLHttpRequest' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const url = `${svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1`;
  const res = await fetch(url, { method: 'POST', headers, body: '', signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, url, method: 'POST', json: (() => { try { return JSON.parse(text); } catch { return undefined; } })() };
}

function tamper(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[0] ^= 0x01;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

/** Bad client tokens: [name, (svc, hub) => token] */
const BAD_CLIENT_TOKENS = [
  ['bad signature', (svc, hub) => tamper(clientToken(svc, { hub, userId: 'u' }))],
  ['expired (1 h ago)', (svc, hub) => clientToken(svc, { hub, userId: 'u', exp: now() - 3600, nbf: now() - 7200 })],
  ['alg none', (svc, hub) => signJwt({ aud: `http://127.0.0.1/client/?hub=${hub}`, exp: now() + 3600, 'asrs.s.uid': 'u' }, '', { alg: 'none' })],
  ['wrong key', (svc, hub) => clientToken(svc, { hub, userId: 'u', key: WRONG_KEY })],
  ['payload altered after signing', (svc, hub) => {
    const [h, , s] = clientToken(svc, { hub, userId: 'u' }).split('.');
    const p = Buffer.from(JSON.stringify({ aud: `http://127.0.0.1/client/?hub=${hub}`, exp: now() + 3600, 'asrs.s.uid': 'admin' })).toString('base64url');
    return `${h}.${p}.${s}`;
  }],
  ['not a JWT', () => 'garbage-token'],
];

describe('client negotiate / connect', () => {
  it('no token: negotiate -> 401 and the real client\'s start() rejects', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    const r = await rawNegotiate(svc, hub);
    assert.equal(r.status, 401, show(r));
    assert.match(r.headers.get('www-authenticate') || '', /^Bearer/i, `WWW-Authenticate of ${show(r)}`);
    const c = build(svc, { hub, token: false });
    await assert.rejects(c.conn.start(), (e) => {
      assert.match(e.message, /401/, `start() error: ${e.message}`);
      return true;
    });
  });

  for (const [name, make] of BAD_CLIENT_TOKENS) {
    it(`${name}: negotiate -> 401 and start() rejects`, async () => {
      const { svc } = ctx;
      const hub = uniq('auth');
      const token = make(svc, hub);
      const r = await rawNegotiate(svc, hub, token);
      assert.equal(r.status, 401, show(r));
      const c = build(svc, { hub, token });
      await assert.rejects(c.conn.start(), /401/);
    });
  }

  it('WebSocket upgrade with a bad token -> 401 (even with a valid connection token)', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    const r = await rawNegotiate(svc, hub, clientToken(svc, { hub }));
    assert.equal(r.status, 200, show(r));
    const up = await tryUpgrade(`${svc.url}/client/?hub=${hub}&id=${r.json.connectionToken}`,
      { authorization: `Bearer ${tamper(clientToken(svc, { hub }))}` });
    assert.equal(up.upgraded, false, 'upgrade with a bad token must be refused');
    assert.equal(up.status, 401);
  });

  it('token in the access_token query (browser style) is accepted on the WebSocket upgrade', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    const token = clientToken(svc, { hub });
    const r = await rawNegotiate(svc, hub, token);
    assert.equal(r.status, 200, show(r));
    const up = await tryUpgrade(`${svc.url}/client/?hub=${hub}&id=${r.json.connectionToken}&access_token=${encodeURIComponent(token)}`);
    assert.equal(up.status, 101);
    assert.equal(up.upgraded, true);
  });

  it('token signed with the secondary key connects', async (t) => {
    const { svc } = ctx;
    if (svc.keys.length < 2) return t.skip('external service without HUBCAST_KEY2');
    const hub = uniq('auth');
    const user = uniq('u');
    const c = await connect(svc, { hub, token: clientToken(svc, { hub, userId: user, key: svc.keys[1] }) });
    const api = new Api(svc, hub);
    assert.equal((await api.sendToUser(user, { target: 'msg', arguments: ['k2'] })).status, 202);
    assert.deepEqual(await c.waitFor('msg'), ['k2']);
  });

  it('kid header is ignored; token without kid also works', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    const payload = { aud: `http://127.0.0.1/client/?hub=${hub}`, exp: now() + 600 };
    for (const kid of ['some-random-kid', null]) {
      const r = await rawNegotiate(svc, hub, signJwt(payload, svc.key, { kid }));
      assert.equal(r.status, 200, `kid=${kid}: ${show(r)}`);
    }
  });

  it('HS512 token is accepted (SHOULD, SDK option AccessTokenAlgorithm.HS512)', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    const c = await connect(svc, { hub, token: clientToken(svc, { hub, userId: 'u', alg: 'HS512' }) });
    await barrier(new Api(svc, hub), c);
  });

  it('token expired by less than the clock skew (30 s ago) is still accepted', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    const r = await rawNegotiate(svc, hub, clientToken(svc, { hub, exp: now() - 30, nbf: now() - 600 }));
    assert.equal(r.status, 200, show(r));
  });

  it('any audience is accepted for client tokens (aud with port, no aud)', async () => {
    const { svc } = ctx;
    const hub = uniq('auth');
    for (const aud of [`${svc.url}/client/?hub=${hub}`, `http://localhost/client/?hub=${hub}`]) {
      const r = await rawNegotiate(svc, hub, clientToken(svc, { hub, aud }));
      assert.equal(r.status, 200, `aud=${aud}: ${show(r)}`);
    }
    const r = await rawNegotiate(svc, hub, signJwt({ exp: now() + 600 }, svc.key));
    assert.equal(r.status, 200, `no aud: ${show(r)}`);
  });
});

describe('REST', () => {
  const bcast = (svc, hub) => buildUrl(svc.url, `/api/hubs/${hub}/:send`, { 'api-version': '2022-06-01' });

  it('no token -> 401 with WWW-Authenticate: Bearer', async () => {
    const { svc } = ctx;
    const hub = uniq('rauth');
    for (const [m, p, q] of [
      ['POST', `/api/hubs/${hub}/:send`, { 'api-version': '2022-06-01' }],
      ['POST', `/api/v1/hubs/${hub}`, undefined],
      ['HEAD', `/api/hubs/${hub}/connections/x`, { 'api-version': '2022-06-01' }],
      ['PUT', `/api/v1/hubs/${hub}/groups/g/connections/x`, undefined],
    ]) {
      const r = await rest(svc, m, p, { token: false, query: q, json: m === 'POST' ? { target: 'msg', arguments: [] } : undefined });
      assert.equal(r.status, 401, show(r));
      assert.match(r.headers.get('www-authenticate') || '', /^Bearer/i, `WWW-Authenticate of ${show(r)}`);
    }
  });

  const badRest = [
    ['bad signature', (svc, url) => tamper(restToken(svc, url))],
    ['expired', (svc, url) => restToken(svc, url, { exp: now() - 3600, nbf: now() - 7200 })],
    ['alg none', (svc, url) => signJwt({ aud: url, exp: now() + 3600 }, '', { alg: 'none' })],
    ['wrong key', (svc, url) => restToken(svc, url, { key: WRONG_KEY })],
    ['not a JWT', () => 'garbage'],
  ];
  for (const [name, make] of badRest) {
    it(`${name} -> 401`, async () => {
      const { svc } = ctx;
      const hub = uniq('rauth');
      const url = bcast(svc, hub);
      const r = await rest(svc, 'POST', new URL(url).pathname, {
        query: { 'api-version': '2022-06-01' }, token: make(svc, url), json: { target: 'msg', arguments: [] },
      });
      assert.equal(r.status, 401, show(r));
    });
  }

  it('Authorization scheme other than Bearer -> 401', async () => {
    const { svc } = ctx;
    const hub = uniq('rauth');
    const url = bcast(svc, hub);
    const res = await fetch(url, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, 'content-type': 'application/json' },
      body: '{"target":"msg"}',
    });
    assert.equal(res.status, 401);
  });

  for (const style of ['sdk2022', 'sdk2024', 'v1']) {
    it(`audience style ${style} is accepted (send + existence + membership)`, async () => {
      const { svc } = ctx;
      const hub = uniq('aud');
      const c = await connect(svc, { hub });
      for (const flavor of ['new', 'v1']) {
        const api = new Api(svc, hub, flavor, { style });
        let r = await api.send({ target: 'msg', arguments: [flavor] }, { excluded: ['nobody'] });
        assert.equal(r.status, 202, show(r));
        r = await api.connectionExists(c.id, 'HEAD');
        assert.equal(r.status, 200, show(r));
        r = await api.addUserToGroup('u', 'g', { ttl: 60 });
        assert.equal(r.status, api.expected.addUserToGroup, show(r));
        r = await api.closeConnection('NoSuchConnection000000', { reason: 'why' });
        assert.ok([200, 202, 404].includes(r.status), show(r));
      }
      const got = await c.waitCount('msg', 2);
      assert.deepEqual(got.map((m) => m.args[0]), ['new', 'v1']);
    });
  }

  it('REST token signed with the secondary key is accepted', async (t) => {
    const { svc } = ctx;
    if (svc.keys.length < 2) return t.skip('external service without HUBCAST_KEY2');
    const hub = uniq('rauth');
    const url = bcast(svc, hub);
    const r = await rest(svc, 'POST', new URL(url).pathname, {
      query: { 'api-version': '2022-06-01' }, key: svc.keys[1], json: { target: 'msg', arguments: [] },
    });
    assert.equal(r.status, 202, show(r));
  });

  it('health with a garbage token: 200 or 401, never 5xx', async () => {
    const { svc } = ctx;
    const r = await rest(svc, 'GET', '/api/health', { token: 'garbage' });
    // Health must work without a token; with a garbage token it may be 200 or 401,
    // but never a 5xx.
    assert.ok(r.status === 200 || r.status === 401, show(r));
  });
});

describe('primary key is the first --access-key', () => {
  it('printed connection string carries the first key', { skip: isExternal() }, () => {
    const { svc } = ctx;
    assert.equal(svc.parsed.accesskey, PRIMARY);
    assert.match(svc.connectionString, /Version=1\.0;/);
    assert.equal(svc.parsed.endpoint, 'http://127.0.0.1');
  });
});


// REST tokens that verified are remembered (--token-cache); a remembered
// token must still stop working the moment it expires.
describe('REST token cache', { skip: isExternal() }, () => {
  const zctx = useService({ args: ['--token-skew', '0'] });

  {
    it('a reused REST token is accepted until its exp, then refused (skew 0, default cache)', async () => {
      const { svc } = zctx;
      const hub = uniq('rcache');
      const path = `/api/hubs/${hub}/:send`;
      const url = buildUrl(svc.url, path, { 'api-version': '2022-06-01' });
      const exp = now() + 2;
      const token = restToken(svc, url, { exp });
      const send = () => rest(svc, 'POST', path, {
        query: { 'api-version': '2022-06-01' }, token, json: { target: 'msg', arguments: [1] },
      });
      for (let i = 0; i < 3; i++) {
        const r = await send();
        assert.equal(r.status, 202, show(r));
      }
      // Past exp (whole seconds; the service compares now > exp).
      while (Date.now() / 1000 < exp + 1.05) await new Promise((res) => setTimeout(res, 100));
      const late = await send();
      assert.equal(late.status, 401, show(late));
      // A tampered copy of a remembered token is refused too.
      const fresh = restToken(svc, url, { lifetime: 60 });
      const ok = await rest(svc, 'POST', path, { query: { 'api-version': '2022-06-01' }, token: fresh, json: { target: 'msg', arguments: [] } });
      assert.equal(ok.status, 202, show(ok));
      const bad = await rest(svc, 'POST', path, { query: { 'api-version': '2022-06-01' }, token: tamper(fresh), json: { target: 'msg', arguments: [] } });
      assert.equal(bad.status, 401, show(bad));
    });
  }
});
