// Transport fallback and the HTTP transports (signalr-protocol.md §2.6, §4.3-4.6,
// §12; issue 3): the unmodified @microsoft/signalr client falling back from
// WebSockets to Server-Sent Events and long polling, the asrs.s.htt claim,
// raw SSE / long-polling wire checks, token expiry, and CORS on every
// request a browser makes. Each describe block runs its own service with the
// flags it needs; the time-based checks run concurrently with 2 s timers.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  useService, uniq, Api, show, clientToken, now, rawRequest, openUpgrade, tryUpgrade, withTimeout, isExternal,
  signalR, TestClient, DEBUG,
} from '../lib/index.mjs';
import {
  negotiate, openSse, parseSse, records, startProxy, desc, HANDSHAKE, RS,
} from '../lib/transport-helpers.mjs';

const SKIP_EXTERNAL = isExternal() && 'needs its own service flags';
const LP_TIMEOUT_S = 2;
const NEG_TIMEOUT_S = 2;

// ---------------------------------------------------------------------------
// JS clients with the library's DEFAULT transport options (no `transport`).

class Logger {
  constructor(name) { this.name = name; this.entries = []; }
  log(level, message) {
    this.entries.push({ level, message });
    if (DEBUG) process.stderr.write(`[client ${this.name}] ${signalR.LogLevel[level]}: ${message}\n`);
  }
  has(s) { return this.entries.some((e) => e.message.includes(s)); }
  dump() { return this.entries.map((e) => `${signalR.LogLevel[e.level]}: ${e.message}`).join('\n'); }
}

const openClients = new Set();
after(async () => {
  await Promise.allSettled([...openClients].map((c) => c.conn.stop()));
  openClients.clear();
});

/** Start a client with default HttpConnectionOptions (all transports). */
async function defaultClient(url, token, o = {}) {
  const logger = new Logger(o.name || url);
  const opts = { accessTokenFactory: () => token, ...(o.options || {}) };
  const conn = new signalR.HubConnectionBuilder().withUrl(url, opts)
    .configureLogging(logger).build();
  const c = new TestClient(conn, logger, { hub: o.hub, name: o.name || 'default', targets: ['msg'] });
  openClients.add(c);
  try {
    await withTimeout(conn.start(), 15_000, 'client start()');
  } catch (e) {
    throw new Error(`start() failed: ${e.message}\nclient log:\n${logger.dump()}`);
  }
  return c;
}

/** Name of the transport a started HubConnection uses (class name + log line). */
function transportOf(c) {
  const t = c.conn.connection?.transport;
  return t && t.constructor && t.constructor.name;
}

function selected(c) {
  return c.logger.entries.filter((e) => e.message.startsWith('Selecting transport')).map((e) => e.message);
}

const TRANSPORT_CLASS = {
  WebSockets: 'WebSocketTransport', ServerSentEvents: 'ServerSentEventsTransport', LongPolling: 'LongPollingTransport',
};

async function assertBroadcastArrives(svc, hub, c) {
  const payload = `hello-${uniq('b')}`;
  const r = await new Api(svc, hub).send({ target: 'msg', arguments: [payload, { n: 1 }] });
  assert.equal(r.status, 202, show(r));
  assert.deepEqual(await c.waitFor('msg', (p) => p === payload, 5000), [payload, { n: 1 }]);
}

/** True once the service (--log-level info) logged `conn=<id> … disconnected`. */
function disconnectLogged(svc, connectionId) {
  return svc.output.join('').split('\n').some((l) => l.includes(`conn=${connectionId}`) && / disconnected\b/.test(l));
}

function svcTail(svc, n = 12) {
  return svc.output.join('').split('\n').filter((l) => !l.includes('/api/health')).slice(-n).join('\n');
}

function names(n) {
  return (n.json?.availableTransports || []).map((t) => t.transport);
}

// ---------------------------------------------------------------------------

describe('automatic fallback: --transports ServerSentEvents,LongPolling', { skip: SKIP_EXTERNAL }, () => {
  const ctx = useService({ args: ['--transports', 'ServerSentEvents,LongPolling'] });

  it('negotiate lists SSE then LP (no WebSockets); a WebSocket upgrade is refused', async () => {
    const { svc } = ctx;
    const hub = uniq('fb');
    const tok = clientToken(svc, { hub });
    const n = await negotiate(svc, hub, tok);
    assert.equal(n.status, 200, n.text);
    assert.deepEqual(names(n), ['ServerSentEvents', 'LongPolling'], n.text);
    const sse = n.json.availableTransports[0];
    assert.deepEqual(sse.transferFormats, ['Text'], 'SSE lists only Text');
    const r = await tryUpgrade(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`, { authorization: `Bearer ${tok}` });
    assert.equal(r.upgraded, false, 'WebSockets disabled: the upgrade must not succeed');
    assert.equal(r.status, 404, `disabled transport -> 404 (§4.5), got ${r.status}`);
  });

  it('a default-options client ends up on ServerSentEvents and receives REST broadcasts', async () => {
    const { svc } = ctx;
    const hub = uniq('fbsse');
    const c = await defaultClient(`${svc.url}/client/?hub=${hub}`, clientToken(svc, { hub }), { hub });
    assert.equal(transportOf(c), 'ServerSentEventsTransport', c.logger.dump());
    assert.deepEqual(selected(c), ["Selecting transport 'ServerSentEvents'."], c.logger.dump());
    await assertBroadcastArrives(svc, hub, c);
    await c.stop();
  });
});

describe('automatic fallback: --transports LongPolling', { skip: SKIP_EXTERNAL }, () => {
  const ctx = useService({ args: ['--transports', 'LongPolling', '--log-level', 'info'] });

  it('a default-options client ends up on LongPolling and receives REST broadcasts', async () => {
    const { svc } = ctx;
    const hub = uniq('fblp');
    const tok = clientToken(svc, { hub });
    const n = await negotiate(svc, hub, tok);
    assert.deepEqual(names(n), ['LongPolling'], n.text);
    const c = await defaultClient(`${svc.url}/client/?hub=${hub}`, tok, { hub });
    assert.equal(transportOf(c), 'LongPollingTransport', c.logger.dump());
    assert.deepEqual(selected(c), ["Selecting transport 'LongPolling'."], c.logger.dump());
    await assertBroadcastArrives(svc, hub, c);
    // a second broadcast after a held poll was answered
    await assertBroadcastArrives(svc, hub, c);
    await c.stop();
  });

  it('JS client stop() during a held poll resolves within ~1 s: DELETE 202 (404 if the close POST won), close POST answered quietly', async () => {
    const { svc } = ctx; // default --long-poll-timeout (90 s): the poll stays held
    const proxy = await startProxy(svc.url);
    try {
      const hub = uniq('lpstop');
      const c = await defaultClient(`${proxy.url}/client/?hub=${hub}`, clientToken(svc, { hub }), { hub });
      assert.equal(transportOf(c), 'LongPollingTransport');
      await assertBroadcastArrives(svc, hub, c);
      await delay(500); // a poll is now held by the service
      const held = proxy.log.filter((e) => e.method === 'GET' && e.status === null);
      assert.equal(held.length, 1, `expected exactly one poll in flight: ${JSON.stringify(proxy.log)}`);
      const connectionId = c.id; // the client forgets it on stop()
      const t0 = Date.now();
      await withTimeout(c.stop(), 3000, 'stop() during a held poll');
      const took = Date.now() - t0;
      assert.ok(took < 1000, `stop() took ${took} ms (must end promptly)`);
      assert.equal(c.closeError, undefined, `clean close expected: ${c.closeError}`);
      await delay(300); // let the fire-and-forget close POST land
      // The close POST ({"type":7}, fire-and-forget) and the DELETE race: either the
      // DELETE comes first (202; the late POST gets 404 or 200), or the POST ends the
      // connection first (200) and the DELETE gets the harmless 404 (§4.4).
      const del = proxy.log.filter((e) => e.method === 'DELETE');
      const log = JSON.stringify(proxy.log.map((e) => [e.method, e.url, e.status, e.at - t0, e.endAt && e.endAt - t0]));
      assert.equal(del.length, 1, `one DELETE expected: ${log}`);
      const closePosts = proxy.log.filter((e) => e.method === 'POST' && e.at >= t0 && !e.url.includes('negotiate'));
      assert.ok(closePosts.length <= 1, `at most one close POST: ${log}`);
      if (del[0].status !== 202) {
        assert.equal(del[0].status, 404, `DELETE -> 202 (or 404 when the close POST ended the connection first): ${log}`);
        assert.ok(closePosts.length === 1 && closePosts[0].status === 200 && closePosts[0].endAt <= del[0].endAt,
          `DELETE got 404 although no close POST ended the connection before it: ${log}`);
      }
      for (const p of closePosts) assert.ok([200, 404].includes(p.status), `close POST around DELETE: ${log}`);
      assert.ok(!c.logger.entries.some((e) => e.level >= signalR.LogLevel.Error), `client logged errors:\n${c.logger.dump()}`);
      assert.ok(disconnectLogged(svc, connectionId), `service did not log the disconnect of ${connectionId}:\n${svcTail(svc)}`);
    } finally {
      await proxy.close();
    }
  });
});

// ---------------------------------------------------------------------------

describe('transports, raw wire checks, token expiry and CORS (all transports, 2 s timers)', { skip: SKIP_EXTERNAL }, () => {
  const ctx = useService({
    args: ['--long-poll-timeout', String(LP_TIMEOUT_S), '--negotiate-timeout', String(NEG_TIMEOUT_S), '--token-skew', '0',
      '--log-level', 'info'],
  });

  describe('fallback when WebSockets fails on the way (proxy refuses upgrades)', () => {
    it('client falls back to SSE after re-negotiating (two negotiates through the proxy)', async () => {
      const { svc } = ctx;
      const proxy = await startProxy(svc.url, { refuseUpgrades: true });
      try {
        const hub = uniq('prx');
        const c = await defaultClient(`${proxy.url}/client/?hub=${hub}`, clientToken(svc, { hub }), { hub });
        assert.equal(transportOf(c), 'ServerSentEventsTransport', c.logger.dump());
        assert.deepEqual(selected(c), ["Selecting transport 'WebSockets'.", "Selecting transport 'ServerSentEvents'."], c.logger.dump());
        assert.ok(c.logger.has("Failed to start the transport 'WebSockets'"), c.logger.dump());
        const log = JSON.stringify(proxy.log);
        assert.equal(proxy.negotiates().length, 2, `negotiate must run twice (once per transport attempt): ${log}`);
        assert.ok(proxy.negotiates().every((e) => e.status === 200), log);
        assert.equal(proxy.log.filter((e) => e.upgrade).length, 1, `one refused upgrade: ${log}`);
        const sseGets = proxy.log.filter((e) => e.method === 'GET' && e.accept.includes('text/event-stream'));
        assert.equal(sseGets.length, 1, `one SSE GET: ${log}`);
        assert.equal(sseGets[0].status, 200, log);
        // the SSE GET uses the token of the SECOND negotiate, not the abandoned one
        await assertBroadcastArrives(svc, hub, c);
        await c.stop();
      } finally {
        await proxy.close();
      }
    });
  });

  describe('asrs.s.htt restricts availableTransports', () => {
    for (const [htt, want, cls] of [
      ['4', ['LongPolling'], 'LongPollingTransport'],
      ['2', ['ServerSentEvents'], 'ServerSentEventsTransport'],
      ['5', ['WebSockets', 'LongPolling'], 'WebSocketTransport'],
    ]) {
      it(`htt=${htt} -> ${want.join(',')} listed; a default client connects over ${cls}`, async () => {
        const { svc } = ctx;
        const hub = uniq('htt');
        const tok = clientToken(svc, { hub, claims: { 'asrs.s.htt': htt } });
        const n = await negotiate(svc, hub, tok);
        assert.equal(n.status, 200, n.text);
        assert.deepEqual(names(n), want, `asrs.s.htt=${htt}: ${n.text}`);
        const c = await defaultClient(`${svc.url}/client/?hub=${hub}`, tok, { hub });
        assert.equal(transportOf(c), cls, c.logger.dump());
        await assertBroadcastArrives(svc, hub, c);
        await c.stop();
      });
    }
  });

  // -------------------------------------------------------------------------
  describe('Server-Sent Events (raw)', () => {
    it('GET text/event-stream: 200, headers, ":\\r\\n" at once, handshake and messages as data: events', async () => {
      const { svc } = ctx;
      const hub = uniq('sse');
      const tok = clientToken(svc, { hub });
      const n = await negotiate(svc, hub, tok);
      assert.equal(n.status, 200, n.text);
      const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const sse = await openSse(url, { authorization: `Bearer ${tok}` });
      try {
        assert.equal(sse.status, 200, `SSE GET status ${sse.status} ${JSON.stringify(sse.headers)}`);
        assert.match(sse.headers['content-type'] || '', /^text\/event-stream/, JSON.stringify(sse.headers));
        assert.match(sse.headers['cache-control'] || '', /no-cache/, JSON.stringify(sse.headers));
        assert.equal(sse.headers['content-length'], undefined, 'SSE stream must not have a Content-Length');
        await sse.waitFor((s) => s.length >= 3, 1000, 'first body bytes (before any message was sent)');
        assert.ok(sse.text().startsWith(':\r\n'), `first body bytes must be ":\\r\\n": ${JSON.stringify(sse.text())}`);
        assert.ok(sse.firstChunkAt - sse.startedAt < 1000, 'first bytes must be flushed at once');

        // handshake by POST (text/plain;charset=UTF-8 like the JS client)
        const p = await rawRequest(url, {
          method: 'POST', body: HANDSHAKE,
          headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/plain;charset=UTF-8', 'x-requested-with': 'XMLHttpRequest' },
        });
        assert.equal(p.status, 200, desc('POST', url, p));
        assert.equal(p.body, '', 'POST answer is empty');
        await sse.waitFor('data: {}\x1e\r\n\r\n', 2000, 'handshake reply event');

        // one POST carrying several records (two pings) is fine
        const p2 = await rawRequest(url, {
          method: 'POST', body: '{"type":6}\x1e{"type":6}\x1e',
          headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/plain;charset=UTF-8' },
        });
        assert.equal(p2.status, 200, desc('POST', url, p2));

        const api = new Api(svc, hub);
        const r1 = await api.sendToConnection(n.json.connectionId, { target: 'msg', arguments: ['one', 1] });
        assert.equal(r1.status, 202, show(r1));
        await sse.waitFor((s) => s.includes('"one"'), 2000, 'first message');
        const r2 = await api.send({ target: 'msg', arguments: ['two', { x: 'a\nb' }] });
        assert.equal(r2.status, 202, show(r2));
        await sse.waitFor((s) => s.includes('"two"') && s.endsWith('\r\n\r\n'), 2000, 'second message');

        const body = sse.text().slice(3);
        const { events, problems } = parseSse(body);
        assert.deepEqual(problems, [], `SSE framing: ${JSON.stringify(body)}`);
        const recs = [];
        for (const ev of events) {
          assert.ok(ev.endsWith(RS), `event must hold whole records: ${JSON.stringify(ev)}`);
          recs.push(...records(ev));
        }
        assert.deepEqual(recs[0], {}, 'handshake reply first');
        const inv = recs.filter((m) => m.type === 1);
        assert.deepEqual(inv.map((m) => [m.target, m.arguments]), [['msg', ['one', 1]], ['msg', ['two', { x: 'a\nb' }]]]);
        assert.ok(recs.every((m) => m.type === undefined || m.type === 1 || m.type === 6), JSON.stringify(recs));
      } finally {
        sse.close();
      }
    });

    it('second concurrent SSE GET for the same token -> 409; first stream unaffected', async () => {
      const { svc } = ctx;
      const hub = uniq('sse409');
      const tok = clientToken(svc, { hub });
      const n = await negotiate(svc, hub, tok);
      const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const a = await openSse(url, { authorization: `Bearer ${tok}` });
      try {
        assert.equal(a.status, 200);
        await a.waitFor(':\r\n', 1000);
        const b = await openSse(url, { authorization: `Bearer ${tok}` });
        b.close();
        assert.equal(b.status, 409, `second SSE GET: ${b.status} ${JSON.stringify(b.headers)}`);
        assert.equal(a.isEnded, false, 'first stream must stay open');
        const p = await rawRequest(url, { method: 'POST', body: HANDSHAKE, headers: { authorization: `Bearer ${tok}` } });
        assert.equal(p.status, 200, desc('POST', url, p));
        await a.waitFor('data: {}\x1e\r\n\r\n', 2000);
      } finally {
        a.close();
      }
    });

    it('POST to a WebSocket connection -> 405', async () => {
      const { svc } = ctx;
      const hub = uniq('ws405');
      const tok = clientToken(svc, { hub });
      const n = await negotiate(svc, hub, tok);
      const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const ws = await openUpgrade(url, { authorization: `Bearer ${tok}` });
      try {
        assert.equal(ws.status, 101);
        const p = await rawRequest(url, { method: 'POST', body: '{"type":6}\x1e', headers: { authorization: `Bearer ${tok}` } });
        assert.equal(p.status, 405, desc('POST', url, p));
      } finally {
        ws.socket?.destroy();
      }
    });

    it('token in the access_token query works for SSE (no Authorization header)', async () => {
      const { svc } = ctx;
      const hub = uniq('sseq');
      const tok = clientToken(svc, { hub });
      const n = await negotiate(svc, hub, tok);
      const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const sse = await openSse(`${url}&access_token=${encodeURIComponent(tok)}`);
      try {
        assert.equal(sse.status, 200, JSON.stringify(sse.headers));
        await sse.waitFor(':\r\n', 1000);
        const p = await rawRequest(url, { method: 'POST', body: HANDSHAKE, headers: { authorization: `Bearer ${tok}` } });
        assert.equal(p.status, 200, desc('POST', url, p));
        await sse.waitFor('data: {}\x1e\r\n\r\n', 2000);
      } finally {
        sse.close();
      }
    });
  });

  // -------------------------------------------------------------------------
  describe('long polling (raw)', () => {
    function lp(svc, hub, tok) {
      return {
        poll: (id, o = {}) => rawRequest(`${svc.url}/client/?hub=${hub}${id === null ? '' : `&id=${id}`}&_=${Date.now()}`,
          { headers: { authorization: `Bearer ${tok}`, 'x-requested-with': 'XMLHttpRequest', ...(o.headers || {}) }, timeout: o.timeout ?? 8000 }),
        post: (id, body) => rawRequest(`${svc.url}/client/?hub=${hub}${id === null ? '' : `&id=${id}`}`,
          { method: 'POST', body, headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/plain;charset=UTF-8' } }),
        del: (id) => rawRequest(`${svc.url}/client/?hub=${hub}${id === null ? '' : `&id=${id}`}`,
          { method: 'DELETE', headers: { authorization: `Bearer ${tok}`, 'x-requested-with': 'XMLHttpRequest' } }),
      };
    }

    function assertNoCache(r, what) {
      assert.match(r.headers['cache-control'] || '', /no-cache/, `${what}: Cache-Control ${JSON.stringify(r.headers)}`);
      assert.match(r.headers['cache-control'] || '', /no-store/, `${what}: Cache-Control ${JSON.stringify(r.headers)}`);
      assert.equal(r.headers.pragma, 'no-cache', `${what}: Pragma ${JSON.stringify(r.headers)}`);
    }

    /** negotiate + first poll + handshake + handshake-reply poll. */
    async function lpConnect(svc, hub) {
      const tok = clientToken(svc, { hub });
      const n = await negotiate(svc, hub, tok);
      assert.equal(n.status, 200, n.text);
      const id = n.json.connectionToken;
      const c = lp(svc, hub, tok);
      const t0 = Date.now();
      const first = await c.poll(id);
      const took = Date.now() - t0;
      assert.equal(first.status, 200, `first poll: ${JSON.stringify(first)}`);
      assert.equal(first.body, '', 'first poll is empty');
      assert.ok(took < 1000, `first poll must be answered at once (took ${took} ms)`);
      assertNoCache(first, 'first poll');
      const p = await c.post(id, HANDSHAKE);
      assert.equal(p.status, 200, `handshake POST: ${JSON.stringify(p)}`);
      const second = await c.poll(id);
      assert.equal(second.status, 200, JSON.stringify(second));
      assert.equal(second.body, '{}\x1e', `poll after the handshake: ${JSON.stringify(second.body)}`);
      assertNoCache(second, 'data poll');
      return { ...c, id, tok, connectionId: n.json.connectionId };
    }

    it('first poll 200 empty at once; handshake POST; next poll returns {}\\x1e; no-cache headers', async () => {
      const { svc } = ctx;
      await lpConnect(svc, uniq('lp'));
    });

    it('several queued messages come back in one poll body (batching, order kept)', async () => {
      const { svc } = ctx;
      const hub = uniq('lpbatch');
      const c = await lpConnect(svc, hub);
      const api = new Api(svc, hub);
      for (let i = 0; i < 5; i++) {
        const r = await api.sendToConnection(c.connectionId, { target: 'msg', arguments: [i] });
        assert.equal(r.status, 202, show(r));
      }
      await delay(300); // all five queued while no poll is held
      const r = await c.poll(c.id);
      assert.equal(r.status, 200);
      const recs = records(r.body);
      assert.deepEqual(recs.map((m) => m.arguments?.[0]), [0, 1, 2, 3, 4], `one poll should carry all queued records: ${JSON.stringify(r.body)}`);
      await c.del(c.id);
    });

    it('unknown id -> 404, missing id -> 400 (GET, POST, DELETE)', async () => {
      const { svc } = ctx;
      const hub = uniq('lpid');
      const c = lp(svc, hub, clientToken(svc, { hub }));
      for (const [what, r] of [['GET', await c.poll('NoSuchToken00000000000')], ['POST', await c.post('NoSuchToken00000000000', '{"type":6}\x1e')],
        ['DELETE', await c.del('NoSuchToken00000000000')]]) {
        assert.equal(r.status, 404, `${what} unknown id: ${JSON.stringify(r)}`);
      }
      for (const [what, r] of [['GET', await c.poll(null)], ['POST', await c.post(null, '{"type":6}\x1e')], ['DELETE', await c.del(null)]]) {
        assert.equal(r.status, 400, `${what} without id: ${JSON.stringify(r)}`);
        assert.match(r.body, /Connection ID required/, `${what} without id: ${JSON.stringify(r)}`);
      }
    });

    it('GET poll with a token bound to another transport -> 400 "Cannot change transports mid-connection"', async () => {
      const { svc } = ctx;
      const hub = uniq('lpchg');
      const tok = clientToken(svc, { hub });
      // SSE connection, then a long poll on its token
      const n = await negotiate(svc, hub, tok);
      const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const sse = await openSse(url, { authorization: `Bearer ${tok}` });
      try {
        assert.equal(sse.status, 200);
        const r = await lp(svc, hub, tok).poll(n.json.connectionToken);
        assert.equal(r.status, 400, `LP GET on an SSE token: ${JSON.stringify(r)}`);
        assert.match(r.body, /Cannot change transports mid-connection/);
      } finally {
        sse.close();
      }
      // long-polling connection, then an SSE GET on its token
      const n2 = await negotiate(svc, hub, tok);
      const c = lp(svc, hub, tok);
      assert.equal((await c.poll(n2.json.connectionToken)).status, 200);
      const s2 = await openSse(`${svc.url}/client/?hub=${hub}&id=${n2.json.connectionToken}`, { authorization: `Bearer ${tok}` });
      s2.close();
      assert.equal(s2.status, 400, `SSE GET on a long-polling token: ${s2.status}`);
      await c.del(n2.json.connectionToken);
    });

    it('client Close record POSTed while a poll is held: poll answered 204 at once, the connection ends (and is logged)', async () => {
      const { svc } = ctx;
      const hub = uniq('lpclose');
      const c = await lpConnect(svc, hub);
      const t0 = Date.now();
      const held = c.poll(c.id).then((r) => ({ ...r, at: Date.now() }));
      await delay(200);
      const p = await c.post(c.id, '{"type":7}\x1e');
      assert.equal(p.status, 200, `close POST: ${JSON.stringify(p)}`);
      const h = await withTimeout(held, 3000, 'held poll after the client Close record');
      assert.equal(h.status, 204, `held poll after the client's Close: ${JSON.stringify(h)}`);
      assert.ok(h.at - t0 < 1500, `held poll must end promptly (${h.at - t0} ms)`);
      const d = await c.del(c.id);
      assert.ok([202, 404].includes(d.status), `DELETE after the close: ${JSON.stringify(d)}`);
      const e = await new Api(svc, hub).connectionExists(c.connectionId);
      assert.equal(e.status, 404, `connection must be gone: ${show(e)}`);
      await delay(200);
      assert.ok(disconnectLogged(svc, c.connectionId),
        `service ended the connection ${c.connectionId} but logged no disconnect (WebSocket, SSE and DELETE paths do):\n${svcTail(svc)}`);
    });
  });

  // -------------------------------------------------------------------------
  describe('time-based checks (2 s timers, run concurrently)', { concurrency: true }, () => {
    function lpReq(svc, hub, tok, id, method = 'GET', body) {
      const url = `${svc.url}/client/?hub=${hub}&id=${id}${method === 'GET' ? `&_=${Date.now()}` : ''}`;
      return rawRequest(url, { method, body, headers: { authorization: `Bearer ${tok}`, 'content-type': 'text/plain;charset=UTF-8' }, timeout: 8000 });
    }
    async function lpStart(svc, hub) {
      const tok = clientToken(svc, { hub });
      const n = await negotiate(svc, hub, tok);
      const id = n.json.connectionToken;
      assert.equal((await lpReq(svc, hub, tok, id)).status, 200);
      assert.equal((await lpReq(svc, hub, tok, id, 'POST', HANDSHAKE)).status, 200);
      const r = await lpReq(svc, hub, tok, id);
      assert.equal(r.body, '{}\x1e');
      return { tok, id, connectionId: n.json.connectionId };
    }

    it(`poll with nothing to send is held, then 200 empty after --long-poll-timeout ${LP_TIMEOUT_S}`, async () => {
      const { svc } = ctx;
      const hub = uniq('lphold');
      const c = await lpStart(svc, hub);
      const t0 = Date.now();
      const r = await lpReq(svc, hub, c.tok, c.id);
      const took = Date.now() - t0;
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.equal(r.body, '');
      assert.ok(took >= LP_TIMEOUT_S * 1000 - 300 && took < LP_TIMEOUT_S * 1000 + 2000, `held ${took} ms, expected ~${LP_TIMEOUT_S} s`);
      assert.match(r.headers['cache-control'] || '', /no-cache/, JSON.stringify(r.headers));
      await lpReq(svc, hub, c.tok, c.id, 'DELETE');
    });

    it('concurrent poll while one is held -> 409', async () => {
      const { svc } = ctx;
      const hub = uniq('lp409');
      const c = await lpStart(svc, hub);
      const held = lpReq(svc, hub, c.tok, c.id);
      await delay(300);
      const r = await lpReq(svc, hub, c.tok, c.id);
      assert.equal(r.status, 409, `second poll while one is held: ${JSON.stringify(r)}`);
      const h = await held;
      assert.ok([200, 204].includes(h.status), `held poll: ${JSON.stringify(h)}`);
      await lpReq(svc, hub, c.tok, c.id, 'DELETE');
    });

    it('DELETE -> 202, the held poll completes with 204 at once; later POST / GET / DELETE -> 404', async () => {
      const { svc } = ctx;
      const hub = uniq('lpdel');
      const c = await lpStart(svc, hub);
      const t0 = Date.now();
      const held = lpReq(svc, hub, c.tok, c.id).then((r) => ({ ...r, at: Date.now() }));
      await delay(300);
      const d = await lpReq(svc, hub, c.tok, c.id, 'DELETE');
      assert.equal(d.status, 202, `DELETE: ${JSON.stringify(d)}`);
      const h = await withTimeout(held, 3000, 'held poll after DELETE');
      assert.equal(h.status, 204, `held poll after DELETE: ${JSON.stringify(h)}`);
      assert.ok(h.at - t0 < 1500, `held poll must end right after DELETE (${h.at - t0} ms)`);
      const p = await lpReq(svc, hub, c.tok, c.id, 'POST', '{"type":7}\x1e');
      assert.equal(p.status, 404, `close POST after DELETE: ${JSON.stringify(p)}`);
      const g = await lpReq(svc, hub, c.tok, c.id);
      assert.equal(g.status, 404, `poll after DELETE: ${JSON.stringify(g)}`);
    });

    it(`polls stop -> connection reclaimed after --negotiate-timeout ${NEG_TIMEOUT_S}; id answers 404`, async () => {
      const { svc } = ctx;
      const hub = uniq('lpgone');
      const c = await lpStart(svc, hub);
      const api = new Api(svc, hub);
      const e1 = await api.connectionExists(c.connectionId);
      assert.equal(e1.status, 200, `connection exists while polling: ${show(e1)}`);
      await delay(NEG_TIMEOUT_S * 1000 + 1500);
      const e2 = await api.connectionExists(c.connectionId);
      assert.equal(e2.status, 404, `connection must be gone after polls stopped: ${show(e2)}`);
      const g = await lpReq(svc, hub, c.tok, c.id);
      assert.equal(g.status, 404, `poll on a reclaimed connection: ${JSON.stringify(g)}`);
    });

    it('negotiated but unused tokens expire: WebSocket / SSE / LP request -> 404', async () => {
      const { svc } = ctx;
      const hub = uniq('unused');
      const tok = clientToken(svc, { hub });
      const ns = await Promise.all([1, 2, 3].map(() => negotiate(svc, hub, tok)));
      await delay(NEG_TIMEOUT_S * 1000 + 1000);
      const base = `${svc.url}/client/?hub=${hub}&id=`;
      const ws = await tryUpgrade(`${base}${ns[0].json.connectionToken}`, { authorization: `Bearer ${tok}` });
      assert.equal(ws.upgraded, false, 'expired token must not upgrade');
      assert.equal(ws.status, 404, `WebSocket on an expired token: ${ws.status}`);
      const sse = await openSse(`${base}${ns[1].json.connectionToken}`, { authorization: `Bearer ${tok}` });
      sse.close();
      assert.equal(sse.status, 404, `SSE on an expired token: ${sse.status}`);
      const g = await lpReq(svc, hub, tok, ns[2].json.connectionToken);
      assert.equal(g.status, 404, `LP on an expired token: ${JSON.stringify(g)}`);
    });

    it('SSE: each POST re-validates the token -> 401 once it has expired', async () => {
      const { svc } = ctx; // --token-skew 0
      const hub = uniq('sseexp');
      const tok = clientToken(svc, { hub, exp: now() + 2 });
      const n = await negotiate(svc, hub, tok);
      assert.equal(n.status, 200, n.text);
      const url = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const sse = await openSse(`${url}&access_token=${encodeURIComponent(tok)}`);
      try {
        assert.equal(sse.status, 200);
        const p = await rawRequest(url, { method: 'POST', body: HANDSHAKE, headers: { authorization: `Bearer ${tok}` } });
        assert.equal(p.status, 200, desc('POST', url, p));
        await sse.waitFor('data: {}\x1e\r\n\r\n', 2000);
        await delay(3200);
        const p2 = await rawRequest(url, { method: 'POST', body: '{"type":6}\x1e', headers: { authorization: `Bearer ${tok}` } });
        assert.equal(p2.status, 401, `POST with an expired token: ${desc('POST', url, p2)}`);
      } finally {
        sse.close();
      }
    });
  });

  // -------------------------------------------------------------------------
  describe('CORS on every browser request (default --cors-origins *)', () => {
    const ORIGIN = 'http://page.example.test:5173';
    const REQ_HEADERS = 'authorization, x-requested-with, x-signalr-user-agent, content-type';

    function assertCors(r, what) {
      assert.equal(r.headers['access-control-allow-origin'], ORIGIN, `${what}: ACAO must echo the Origin: ${r.status} ${JSON.stringify(r.headers)}`);
      assert.equal(r.headers['access-control-allow-credentials'], 'true', `${what}: ACAC: ${JSON.stringify(r.headers)}`);
    }

    it('preflights (negotiate POST, poll GET, send POST, DELETE) allow the method and the SignalR headers', async () => {
      const { svc } = ctx;
      const hub = uniq('corspf');
      for (const [path, method] of [
        [`/client/negotiate?hub=${hub}&negotiateVersion=1`, 'POST'],
        [`/client/?hub=${hub}&id=abc&_=1`, 'GET'],
        [`/client/?hub=${hub}&id=abc`, 'POST'],
        [`/client/?hub=${hub}&id=abc`, 'DELETE'],
      ]) {
        const r = await rawRequest(`${svc.url}${path}`, {
          method: 'OPTIONS',
          headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': REQ_HEADERS },
        });
        const what = `preflight ${method} ${path}`;
        assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status}`);
        assertCors(r, what);
        const methods = (r.headers['access-control-allow-methods'] || '').toUpperCase().split(',').map((s) => s.trim());
        assert.ok(methods.includes(method), `${what}: Allow-Methods ${JSON.stringify(r.headers)}`);
        assert.ok(methods.includes('DELETE'), `${what}: DELETE must be allowed ${JSON.stringify(r.headers)}`);
        const allowed = (r.headers['access-control-allow-headers'] || '').toLowerCase().split(',').map((s) => s.trim());
        for (const h of REQ_HEADERS.split(', ')) assert.ok(allowed.includes(h) || allowed.includes('*'), `${what}: Allow-Headers lacks ${h}: ${JSON.stringify(r.headers)}`);
      }
    });

    it('negotiate, SSE GET, SSE POST, LP GET / POST / DELETE with Origin carry ACAO = origin, ACAC = true', async () => {
      const { svc } = ctx;
      const hub = uniq('cors');
      const tok = clientToken(svc, { hub });
      const h = { origin: ORIGIN, authorization: `Bearer ${tok}`, 'x-requested-with': 'XMLHttpRequest' };
      const n = await negotiate(svc, hub, tok, { headers: { origin: ORIGIN } });
      assert.equal(n.status, 200);
      assertCors({ headers: Object.fromEntries(n.headers) }, 'negotiate');

      const sseUrl = `${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}`;
      const sse = await openSse(`${sseUrl}&access_token=${encodeURIComponent(tok)}`, { origin: ORIGIN });
      try {
        assert.equal(sse.status, 200);
        assertCors(sse, 'SSE GET');
        const p = await rawRequest(sseUrl, { method: 'POST', body: HANDSHAKE, headers: { ...h, 'content-type': 'text/plain;charset=UTF-8' } });
        assert.equal(p.status, 200);
        assertCors(p, 'SSE POST');
      } finally {
        sse.close();
      }

      const n2 = await negotiate(svc, hub, tok, { headers: { origin: ORIGIN } });
      const lpUrl = `${svc.url}/client/?hub=${hub}&id=${n2.json.connectionToken}`;
      const g = await rawRequest(`${lpUrl}&_=${Date.now()}`, { headers: h });
      assert.equal(g.status, 200);
      assertCors(g, 'LP GET');
      const p = await rawRequest(lpUrl, { method: 'POST', body: HANDSHAKE, headers: { ...h, 'content-type': 'text/plain;charset=UTF-8' } });
      assert.equal(p.status, 200);
      assertCors(p, 'LP POST');
      const g2 = await rawRequest(`${lpUrl}&_=${Date.now()}`, { headers: h });
      assert.equal(g2.body, '{}\x1e');
      assertCors(g2, 'LP GET with data');
      const d = await rawRequest(lpUrl, { method: 'DELETE', headers: h });
      assert.equal(d.status, 202);
      assertCors(d, 'LP DELETE');
      // error answers carry CORS too, or a browser cannot read them
      const e = await rawRequest(lpUrl, { method: 'POST', body: '{"type":7}\x1e', headers: h });
      assert.equal(e.status, 404);
      assertCors(e, 'POST after DELETE (404)');
    });
  });
});

describe('CORS with --cors-origins http://allowed.test', { skip: SKIP_EXTERNAL }, () => {
  const ctx = useService({ args: ['--cors-origins', 'http://allowed.test'] });

  it('the listed origin is echoed; another origin gets no ACAO (preflight, negotiate, poll)', async () => {
    const { svc } = ctx;
    const hub = uniq('corsr');
    const tok = clientToken(svc, { hub });
    for (const [origin, ok] of [['http://allowed.test', true], ['http://evil.test', false]]) {
      const pf = await rawRequest(`${svc.url}/client/?hub=${hub}&id=abc`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization, x-requested-with' },
      });
      const n = await negotiate(svc, hub, tok, { headers: { origin } });
      assert.equal(n.status, 200, n.text);
      const g = await rawRequest(`${svc.url}/client/?hub=${hub}&id=${n.json.connectionToken}&_=1`, { headers: { origin, authorization: `Bearer ${tok}` } });
      for (const [what, hdrs] of [['preflight', pf.headers], ['negotiate', Object.fromEntries(n.headers)], ['poll', g.headers]]) {
        if (ok) {
          assert.equal(hdrs['access-control-allow-origin'], origin, `${what} from ${origin}: ${JSON.stringify(hdrs)}`);
          assert.equal(hdrs['access-control-allow-credentials'], 'true', `${what} from ${origin}: ${JSON.stringify(hdrs)}`);
        } else {
          assert.equal(hdrs['access-control-allow-origin'], undefined, `${what} from ${origin} must get no ACAO: ${JSON.stringify(hdrs)}`);
        }
      }
    }
  });
});
