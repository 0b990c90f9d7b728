// A scale-out cluster for the scaleout*.test.mjs suites: one redis-server and
// N hubcast-service nodes joined with --redis. Nodes are started with the
// harness (startService), stopped with SIGTERM and checked for a clean exit
// and a silent sanitizer, like the single-service fixture.

import { before, after } from 'node:test';
import { startService } from './service.mjs';
import { stopAllClients } from './client.mjs';
import { startRedis } from './redis.mjs';

export async function stopNode(node) {
  const r = await node.stop();
  const out = node.output.join('');
  const san = out.match(/(ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:)[^\n]*/);
  if (san) throw new Error(`hubcast-service sanitizer report: ${san[0]}\n${out.split('\n').slice(-30).join('\n')}`);
  if (r.killed || r.code !== 0) {
    throw new Error(`hubcast-service did not shut down cleanly (code ${r.code}, signal ${r.signal}, killed ${r.killed})\n${out.split('\n').slice(-20).join('\n')}`);
  }
}

/**
 * const cl = useCluster({ nodes: 3 }); cl.redis, cl.nodes[i] inside tests.
 * o.args(i, redis) may add per-node flags.
 */
export function useCluster(o = {}) {
  const cl = { redis: null, nodes: [] };
  before(async () => {
    cl.redis = await startRedis();
    for (let i = 0; i < (o.nodes || 2); i++) {
      const extra = o.args ? await o.args(i, cl.redis) : [];
      cl.nodes.push(await startService({ args: ['--redis', cl.redis.url, '--redis-prefix', o.prefix || 'hc', ...extra] }));
    }
    // A node is in the cluster once its worker connected and registered.
    await Promise.all(cl.nodes.map((n) => waitJoined(n)));
  });
  after(async () => {
    await stopAllClients();
    const errors = [];
    for (const n of cl.nodes) {
      try { await stopNode(n); } catch (e) { errors.push(e); }
    }
    if (cl.redis) await cl.redis.stop();
    if (errors.length) throw errors[0];
  });
  return cl;
}

/** Wait for the node's "connected to Redis" log line (count-th occurrence). */
export async function waitJoined(node, count = 1, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const n = (node.output.join('').match(/backplane.*connected to Redis/g) || []).length;
    if (n >= count) return;
    if (Date.now() > deadline) throw new Error(`node ${node.url} did not join the backplane:\n${node.output.join('').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
