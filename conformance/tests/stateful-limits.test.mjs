// Stateful reconnect limits (signalr-protocol.md §9): a connection whose
// WebSocket dropped and does not come back is gone after --reconnect-window;
// unacknowledged messages beyond --stateful-buffer-bytes close the connection
// with a clear reason instead of being dropped silently.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  useService, uniq, Api, show, clientToken, signalR, TestClient, eventually, withTimeout,
} from '../lib/index.mjs';
import { TcpProxy } from '../lib/tcpproxy.mjs';

const ctx = useService({ args: ['--reconnect-window', '2', '--stateful-buffer-bytes', '4096'] });
const clients = [];
const proxies = [];
after(async () => {
  await Promise.allSettled(clients.map((c) => withTimeout(c.stop(), 5000, 'client stop')));
  await Promise.allSettled(proxies.map((p) => p.stop()));
});

async function statefulClient(url, svc, hub) {
  const tok = clientToken(svc, { hub });
  const conn = new signalR.HubConnectionBuilder()
    .withUrl(`${url}/client/?hub=${hub}`, { transport: signalR.HttpTransportType.WebSockets, accessTokenFactory: () => tok })
    .withStatefulReconnect()
    .configureLogging(signalR.LogLevel.None)
    .build();
  const c = new TestClient(conn, { log() {}, has() { return false; } }, { hub, name: hub, targets: ['seq'] });
  clients.push(conn);
  await conn.start();
  return c;
}

describe('stateful reconnect limits', () => {
  it('a dropped connection is kept for the window, then closed and cleaned up', async () => {
    const { svc } = ctx;
    const proxy = await new TcpProxy(svc.url).start();
    proxies.push(proxy);
    const hub = uniq('win');
    const group = uniq('g');
    const c = await statefulClient(proxy.url, svc, hub);
    const id = c.id; // the client forgets it once closed
    const api = new Api(svc, hub);
    let r = await api.addConnectionToGroup(group, id);
    assert.equal(r.status, 200, show(r));
    proxy.refuse(true); // the client cannot come back
    proxy.cut();
    // Right after the drop the connection still exists (and its group).
    r = await api.connectionExists(id);
    assert.equal(r.status, 200, show(r));
    r = await api.groupExists(group);
    assert.equal(r.status, 200, show(r));
    await c.waitClosed(10_000);
    // Its one resume attempt failed; the service still waits (window 2 s).
    r = await api.connectionExists(id);
    assert.equal(r.status, 200, show(r));
    const t0 = Date.now();
    await eventually(async () => (await api.connectionExists(id)).status === 404,
      { timeout: 6000, what: 'connection gone after the window' });
    assert.ok(Date.now() - t0 < 5000);
    r = await api.groupExists(group);
    assert.equal(r.status, 404, show(r));
  });

  it('unacknowledged messages over the buffer close the connection with the reason', async () => {
    const { svc } = ctx;
    const hub = uniq('ovf');
    const c = await statefulClient(svc.url, svc, hub);
    const api = new Api(svc, hub);
    // ~100 bytes each, sent faster than the client's 1 s acknowledgements.
    const sends = [];
    for (let i = 0; i < 80; i++) sends.push(api.sendToConnection(c.id, { target: 'seq', arguments: [i, 'x'.repeat(80)] }));
    await Promise.all(sends);
    const err = await c.waitClosed(10_000);
    assert.match(String(err?.message), /stateful reconnect buffer limit of 4096 bytes exceeded/);
  });
});
