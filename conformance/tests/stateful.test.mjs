// Stateful reconnect (signalr-protocol.md §9) with the unmodified JS client
// and withStatefulReconnect(): a TCP proxy between client and service is cut
// twice while 1 000 REST sends stream in; every message must arrive exactly
// once, in order, on the same connection id, with group membership intact
// (JSON and MessagePack).

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { MessagePackHubProtocol } from '@microsoft/signalr-protocol-msgpack';
import {
  useService, uniq, Api, show, clientToken, signalR, TestClient, withTimeout,
} from '../lib/index.mjs';
import { TcpProxy } from '../lib/tcpproxy.mjs';

const ctx = useService();
const clients = [];
const proxies = [];
after(async () => {
  await Promise.allSettled(clients.map((c) => withTimeout(c.stop(), 5000, 'client stop')));
  await Promise.allSettled(proxies.map((p) => p.stop()));
});

const N = 1000;

async function statefulClient(url, svc, hub, protocol) {
  const tok = clientToken(svc, { hub });
  let b = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/client/?hub=${hub}`, { transport: signalR.HttpTransportType.WebSockets, accessTokenFactory: () => tok })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.None);
  if (protocol === 'messagepack') b = b.withHubProtocol(new MessagePackHubProtocol());
  const conn = b.build();
  const c = new TestClient(conn, { log() {}, has() { return false; } }, { hub, name: `${hub}/${protocol}`, targets: ['seq'] });
  clients.push(conn);
  await conn.start();
  return c;
}

describe('stateful reconnect', () => {
  it('negotiate answers useStatefulReconnect only when asked', async () => {
    const hub = uniq('neg');
    const tok = clientToken(ctx.svc, { hub });
    const ask = async (q) => (await fetch(`${ctx.svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1${q}`, {
      method: 'POST', headers: { authorization: `Bearer ${tok}` },
    })).json();
    assert.equal((await ask('&useStatefulReconnect=true')).useStatefulReconnect, true);
    assert.equal((await ask('')).useStatefulReconnect, undefined);
  });

  for (const protocol of ['json', 'messagepack']) {
    it(`${N} sends across two cuts arrive exactly once and in order (${protocol})`, async () => {
      const { svc } = ctx;
      const proxy = await new TcpProxy(svc.url).start();
      proxies.push(proxy);
      const hub = uniq('sr');
      const group = uniq('g');
      const c = await statefulClient(proxy.url, svc, hub, protocol);
      const id = c.id;
      const api = new Api(svc, hub);
      let r = await api.addConnectionToGroup(group, id);
      assert.equal(r.status, 200, show(r));
      let reconnecting = 0;
      c.conn.onreconnecting(() => { reconnecting += 1; });
      for (let i = 0; i < N; i++) {
        if (i === 300 || i === 700) proxy.cut();
        r = await api.sendToGroup(group, { target: 'seq', arguments: [i, `payload ${i}`] });
        assert.equal(r.status, 202, show(r));
      }
      const got = await c.waitCount('seq', N, 20_000);
      assert.deepEqual(got.map((m) => m.args[0]), Array.from({ length: N }, (_, i) => i));
      assert.equal(c.id, id, 'same connection id');
      assert.equal(c.state, signalR.HubConnectionState.Connected);
      assert.equal(reconnecting, 0, 'no full (non-stateful) reconnect happened');
      assert.ok(proxy.accepted >= 3, `the client reconnected through the proxy (${proxy.accepted} TCP connections)`);
      // Nothing arrives twice, even later.
      r = await api.sendToGroup(group, { target: 'seq', arguments: [N, 'last'] });
      assert.equal(r.status, 202, show(r));
      const all = await c.waitCount('seq', N + 1);
      assert.equal(all.length, N + 1);
      // Group membership intact, connection known to REST.
      r = await api.connectionExists(id);
      assert.equal(r.status, 200, show(r));
    });
  }

  it('client → service messages are not lost or duplicated across a cut', async () => {
    const { svc } = ctx;
    const proxy = await new TcpProxy(svc.url).start();
    proxies.push(proxy);
    const c = await statefulClient(proxy.url, svc, uniq('up'), 'json');
    // Invocations fail (no upstream) but each gets exactly one completion.
    const calls = [];
    for (let i = 0; i < 20; i++) {
      if (i === 10) proxy.cut();
      calls.push(c.conn.invoke('Echo', i).then(() => 'ok', (e) => e.message));
    }
    const res = await Promise.all(calls);
    for (const m of res) assert.match(m, /No upstream is configured/);
    assert.equal(c.state, signalR.HubConnectionState.Connected);
  });
});

