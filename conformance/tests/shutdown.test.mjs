// Graceful shutdown: SIGTERM makes the service send every client a hub Close
// with allowReconnect, then exit cleanly. Needs its own service instance.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { startService, connect, uniq, stopAllClients, isExternal, Api, barrier, withTimeout } from '../lib/index.mjs';

let svc;
after(async () => {
  await stopAllClients();
  if (svc) await svc.stop(1000);
});

describe('graceful shutdown', { skip: isExternal() && 'cannot signal an external service' }, () => {
  it('SIGTERM: clients receive a Close (allowReconnect) and the process exits 0', async () => {
    svc = await startService();
    const hub = uniq('bye');
    const plain = await connect(svc, { hub });
    const reconnecting = await connect(svc, { hub, autoReconnect: [60_000] });
    const api = new Api(svc, hub);
    await barrier(api, plain);
    await barrier(api, reconnecting);

    const t0 = Date.now();
    const exit = svc.stop(10_000);
    const err = await plain.waitClosed(10_000);
    assert.ok(plain.logger.has('Close message received from server.'),
      `no hub Close record before the transport closed (onclose error: ${err?.message})`);
    // allowReconnect:true makes the real client enter its automatic-reconnect
    // path; without it the client would close for good.
    await withTimeout(reconnecting.reconnecting, 10_000,
      'client with automatic reconnect did not start reconnecting (Close lacked allowReconnect:true?)');
    assert.ok(reconnecting.logger.has('Close message received from server.'), 'reconnecting client saw no Close record');
    const r = await exit;
    assert.equal(r.killed, false, 'service did not exit within 10 s of SIGTERM (had to SIGKILL)');
    assert.equal(r.code, 0, `exit code ${r.code} signal ${r.signal}`);
    assert.ok(Date.now() - t0 < 10_000);
    await reconnecting.stop();
  });
});
