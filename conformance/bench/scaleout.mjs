// Cross-node fan-out benchmark (issue 9, docs/scale-out.md): N raw SignalR
// WebSocket subscribers on node A, broadcasts published through the REST API
// of node B (over the Redis backplane) or of node A itself (baseline), in a
// closed loop of at most W messages in flight. Prints one RESULT line.
//
//   node bench/scaleout.mjs --subs URL --pub URL [--n 1000] [--window 8]
//        [--seconds 5] [--payload 64] [--key KEY]
// Bounded: ends after --seconds of measurement.

import WebSocket from 'ws';
import http from 'node:http';
import { restToken, clientToken } from '../lib/tokens.mjs';
import { DEFAULT_KEY } from '../lib/service.mjs';

const arg = (k, d) => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? process.argv[i + 1] : d; };
const subsUrl = arg('subs'), pubUrl = arg('pub');
const N = Number(arg('n', 1000)), W = Number(arg('window', 8)), SECS = Number(arg('seconds', 5));
const PAYLOAD = 'x'.repeat(Number(arg('payload', 64)));
const key = arg('key', DEFAULT_KEY);
const hub = `bench${Date.now()}`;
const svcA = { url: subsUrl, key, keys: [key] }, svcB = { url: pubUrl, key, keys: [key] };

let delivered = 0;
const perMsg = new Map(); // seq -> remaining deliveries
let inflight = 0, completed = 0;
async function openSub() {
  const tok = clientToken(svcA, { hub });
  const r = await fetch(`${subsUrl}/client/negotiate?hub=${hub}&negotiateVersion=1`, { method: 'POST', headers: { authorization: `Bearer ${tok}` } });
  const j = await r.json();
  const ws = new WebSocket(`${subsUrl.replace('http', 'ws')}/client/?hub=${hub}&id=${j.connectionToken}&access_token=${tok}`);
  await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
  ws.send('{"protocol":"json","version":1}\x1e');
  await new Promise((res) => ws.once('message', res));
  ws.on('message', (d) => {
    for (const rec of d.toString().split('\x1e')) {
      const m = /"arguments":\[(\d+)/.exec(rec);
      if (!m) continue;
      delivered++;
      const s = Number(m[1]);
      const left = perMsg.get(s) - 1;
      if (left === 0) { perMsg.delete(s); inflight--; completed++; pump(); } else perMsg.set(s, left);
    }
  });
  return ws;
}
const agent = new http.Agent({ keepAlive: true, maxSockets: W });
const pubTok = restToken(svcB, `${pubUrl}/api/hubs/${hub}/:send`);
let seq = 0, running = true;
function publish() {
  const s = seq++;
  perMsg.set(s, N);
  inflight++;
  const body = JSON.stringify({ target: 'm', arguments: [s, PAYLOAD] });
  const req = http.request(`${pubUrl}/api/hubs/${hub}/:send?api-version=2022-06-01`, {
    method: 'POST', agent, headers: { authorization: `Bearer ${pubTok}`, 'content-type': 'application/json' },
  }, (res) => res.resume());
  req.end(body);
}
function pump() { while (running && inflight < W) publish(); }

const subs = [];
for (let i = 0; i < N; i += 50) subs.push(...await Promise.all(Array.from({ length: Math.min(50, N - i) }, openSub)));
await new Promise((r) => setTimeout(r, 500)); // registry settles
pump();
await new Promise((r) => setTimeout(r, 1000)); // warm-up
const d0 = delivered, t0 = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, SECS * 1000));
const d1 = delivered, t1 = process.hrtime.bigint();
running = false;
const secs = Number(t1 - t0) / 1e9;
console.log(`RESULT subs=${N} window=${W} deliveries_per_s=${Math.round((d1 - d0) / secs)} publishes_per_s=${Math.round((d1 - d0) / secs / N)}`);
for (const ws of subs) ws.terminate();
agent.destroy();
process.exit(0);
