// Backpressure (issue 8, docs/reliability.md): a WebSocket peer that stops
// reading while broadcasts continue is closed once its queue reaches
// --max-queue-bytes; the service's RSS stays bounded; every other client
// (real @microsoft/signalr clients) receives every message, in order.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useService, startService, connect, uniq, Api, rest, isExternal } from '../lib/index.mjs';
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

  // Regression: when the peer's socket buffers were already full before its
  // queue reached the cap, the close (a Close message waiting for POLLOUT)
  // never went out and the socket stayed open for good. A queue cap above
  // what the kernel buffers for a socket (tcp_rmem + tcp_wmem maxima, ~10 MiB
  // here) and paced sends make sure the socket is full for good first.
  it('is closed even when its socket stopped being writable before the queue filled', { timeout: 120_000 }, async () => {
    const svc = await startService({ args: ['--max-queue-bytes', String(16 * 1024 * 1024), '--log-level', 'info'] });
    try {
      const hub = uniq('bq');
      const stuck = await rawWs(svc, { hub });
      stuck.handshake();
      await stuck.waitFor((w) => w.text().startsWith('{}\x1e'), 3000, 'handshake ack');
      stuck.socket.pause();
      const api = new Api(svc, hub);
      const payload = 'q'.repeat(64 * 1024);
      const exists = async () => (await rest(svc, 'HEAD', `/api/v1/hubs/${hub}/connections/${stuck.connectionId}`)).status === 200;
      let sent = 0;
      // One 64 KiB message every few ms (up to 128 MiB), so each is written
      // out before the next arrives and the queue only grows once the socket
      // is full, until the service drops the connection.
      while (sent < 2048 && await exists()) {
        await api.send({ target: 'msg', arguments: [sent, payload] });
        sent++;
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.equal(await exists(), false, `dropped after ${sent} broadcasts`);
      const t0 = Date.now();
      const marker = `conn=${stuck.connectionId} disconnected`;
      while (!svc.output.join('').includes(marker) && Date.now() < t0 + 20_000) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const line = svc.output.join('').split('\n').find((l) => l.includes(marker));
      assert.ok(line, `the socket is closed and the close logged (dropped after ${sent} broadcasts)`);
      assert.match(line, /queue/i);
      process.stderr.write(`backpressure (full socket): dropped after ${sent} broadcasts, closed ${Date.now() - t0} ms later\n`);
      stuck.destroy();
    } finally {
      await svc.stop();
    }
  });
});
