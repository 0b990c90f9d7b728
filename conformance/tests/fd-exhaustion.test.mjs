// File-descriptor exhaustion (issue 8): the service runs under
// `prlimit --nofile=64`; a flood of idle TCP connections uses up its
// descriptors. New connections are refused (or wait) while existing clients
// keep sending and receiving; once the flood goes away, new clients connect
// again. The service must exit cleanly on SIGTERM afterwards.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useService, connect, uniq, Api, isExternal } from '../lib/index.mjs';
import { fdCount } from '../lib/raw.mjs';

const ctx = useService({ prefix: ['prlimit', '--nofile=64'] });

describe('RLIMIT_NOFILE 64', { skip: isExternal() }, () => {
  it('a connection flood is refused without harming existing clients; recovery afterwards', { timeout: 60_000 }, async () => {
    const { svc } = ctx;
    const hub = uniq('fd');
    const clients = await Promise.all([0, 1, 2].map((i) => connect(svc, { hub, userId: `u${i}` })));
    const api = new Api(svc, hub);

    const flood = [];
    for (let i = 0; i < 150; i++) {
      const s = net.connect(svc.port, '127.0.0.1');
      s.on('error', () => {});
      flood.push(s);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const fds = await fdCount(svc.proc.pid);
    assert.ok(fds <= 66, `service holds ${fds} descriptors`);

    // Existing clients still work while the descriptors are used up.
    for (let i = 0; i < 20; i++) await api.send({ target: 'msg', arguments: [i] });
    for (const c of clients) await c.waitCount('msg', 20, 10_000);
    const inv = await clients[0].conn.invoke('echo', 'x').catch((e) => e.message);
    assert.ok(inv !== undefined, 'invoke answered (result or error)');

    for (const s of flood) s.destroy();
    // New connections work again.
    const deadline = Date.now() + 30_000;
    let late;
    while (!late && Date.now() < deadline) {
      late = await connect(svc, { hub, userId: 'late' }).catch(() => null);
      if (!late) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(late, 'a new client connects once the flood is gone');
    await api.send({ target: 'msg', arguments: ['after'] });
    await late.waitFor('msg', (x) => x === 'after', 5000);
    process.stderr.write(`fd-exhaustion: peak descriptors ${fds}\n`);
  });
});
