// Backpressure (issue 8, docs/reliability.md): a WebSocket peer that stops
// reading while broadcasts continue is closed once its queue reaches
// --max-queue-bytes; the service's RSS stays bounded; every other client
// (real @microsoft/signalr clients) receives every message, in order.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useService, connect, uniq, Api, rest, isExternal } from '../lib/index.mjs';
import { rawWs, rssKiB } from '../lib/raw.mjs';

const QUEUE = 256 * 1024;
const ctx = useService({ args: ['--max-queue-bytes', String(QUEUE), '--log-level', 'info'] });

describe('a peer that stops reading', { skip: isExternal() }, () => {
  it('is closed at its queue cap; RSS bounded; the other clients get all 300 broadcasts', { timeout: 60_000 }, async () => {
    const { svc } = ctx;
    const hub = uniq('bp');
    const readers = await Promise.all([0, 1, 2].map((i) => connect(svc, { hub, userId: `r${i}` })));
    const stuck = await rawWs(svc, { hub });
    stuck.handshake();
    await stuck.waitFor((w) => w.text().startsWith('{}\x1e'), 3000, 'handshake ack');
    stuck.socket.pause(); // never reads again: the kernel buffers fill, then our queue
    const rss0 = await rssKiB(svc.proc.pid);

    const api = new Api(svc, hub);
    const N = 300;
    const payload = 'p'.repeat(32 * 1024);
    let peak = rss0;
    for (let i = 0; i < N; i++) {
      const r = await api.send({ target: 'msg', arguments: [i, payload] });
      assert.ok(r.status === 202 || r.status === 200, `broadcast ${i}: ${r.status}`);
      if (i % 20 === 0) peak = Math.max(peak, await rssKiB(svc.proc.pid));
    }
    for (const r of readers) {
      const got = await r.waitCount('msg', N, 20_000);
      assert.deepEqual(got.map((m) => m.args[0]), Array.from({ length: N }, (_, i) => i), `${r.name} got every broadcast in order`);
    }
    // 300 x 32 KB = 9.4 MB went to each reader; the stuck peer was cut off
    // at 256 KB of queue, so the service never held its backlog.
    peak = Math.max(peak, await rssKiB(svc.proc.pid));
    // Under ASan (.ci/run sets ASAN_OPTIONS) freed frames sit in the
    // allocator's quarantine, so RSS is only checked in normal builds.
    if (!process.env.ASAN_OPTIONS) assert.ok(peak - rss0 < 48 * 1024, `RSS grew by ${peak - rss0} KiB (from ${rss0})`);

    // The stuck connection no longer exists for the service.
    const deadline = Date.now() + 10_000;
    let status;
    do {
      status = (await rest(svc, 'HEAD', `/api/v1/hubs/${hub}/connections/${stuck.connectionId}`)).status;
      if (status === 404) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    assert.equal(status, 404, 'stuck connection closed by the service');
    // The hub forgets the connection when the core cuts it off; the log line
    // comes when lws has closed the socket, a moment later (slow under ASan).
    const logDeadline = Date.now() + 10_000;
    while (!/queue|slow/i.test(svc.output.join('')) && Date.now() < logDeadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(svc.output.join(''), /queue|slow/i, 'the close is logged with its reason');
    stuck.destroy();
    process.stderr.write(`backpressure: rss ${rss0} KiB -> peak ${peak} KiB\n`);
  });
});
