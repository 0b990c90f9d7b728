// Helpers for the hubcast-bridge suites: start/stop the bridge next to a
// service instance, a throwaway TLS CA, a Mosquitto broker on a free port,
// and an IoT Hub style device SAS token.
//
//   HUBCAST_BRIDGE_BIN   path of the bridge (default ../build/hubcast-bridge)
//   HUBCAST_DEBUG=1      echo bridge / broker output to stderr

import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync, chmodSync, rmSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { before, after } from 'node:test';
import { CONFORMANCE_DIR, DEBUG, startService } from './service.mjs';
import { stopAllClients } from './client.mjs';

const running = new Set();
process.on('exit', () => { for (const p of running) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

export function bridgeBinary() {
  return process.env.HUBCAST_BRIDGE_BIN
    ? resolve(process.env.HUBCAST_BRIDGE_BIN)
    : resolve(CONFORMANCE_DIR, '..', 'build', 'hubcast-bridge');
}

/** The store-sign sample plugin, built next to the bridge binary. */
export function storeSignPlugin() {
  return join(dirname(bridgeBinary()), 'samples', 'store-sign', 'store_sign.so');
}

/** A free TCP port on 127.0.0.1 (bind 0, read it, release it). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

function spawnLogged(name, bin, args, opts = {}) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  running.add(proc);
  const output = [];
  const exited = new Promise((res) => proc.once('exit', (code, signal) => { running.delete(proc); res({ code, signal }); }));
  for (const [s, tag] of [[proc.stdout, ''], [proc.stderr, '!']]) {
    s.on('data', (d) => { output.push(d.toString()); if (DEBUG) process.stderr.write(`[${name}${tag}] ${d}`); });
  }
  return { proc, output, exited };
}

async function stopProc(p, timeoutMs = 5000) {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return { code: p.proc.exitCode, signal: p.proc.signalCode, killed: false };
  p.proc.kill('SIGTERM');
  let t;
  const r = await Promise.race([p.exited, new Promise((res) => { t = setTimeout(() => res(null), timeoutMs); })]);
  clearTimeout(t);
  if (r) return { ...r, killed: false };
  p.proc.kill('SIGKILL');
  return { ...(await p.exited), killed: true };
}

export class Bridge {
  constructor(p, port) {
    Object.assign(this, p);
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.api = `${this.url}/api`;
  }

  /** POST JSON (object or raw string) to /api/events. */
  async postEvents(body, headers = {}) {
    const r = await fetch(`${this.api}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  }

  async stats() {
    return (await fetch(`${this.api}/stats`)).json();
  }

  /** Wait until every queued REST call has been answered. */
  async flushed(timeout = 5000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const s = await this.stats();
      if (s.rest.pending === 0) return s;
      if (Date.now() > deadline) throw new Error(`bridge REST queue not drained: ${JSON.stringify(s)}`);
      await delay(20);
    }
  }

  /** SIGTERM; throws on an unclean exit or a sanitizer report. */
  async stop() {
    const r = await stopProc(this);
    const out = this.output.join('');
    const san = out.match(/(ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:)[^\n]*/);
    if (san) throw new Error(`hubcast-bridge sanitizer report: ${san[0]}\n${out.split('\n').slice(-30).join('\n')}`);
    if (r.killed || r.code !== 0) throw new Error(`hubcast-bridge did not stop cleanly (code ${r.code}, signal ${r.signal}); output:\n${out.slice(-3000)}`);
  }
}

/**
 * Start hubcast-bridge for `svc` on a free port.
 * @param {import('./service.mjs').Service} svc
 * @param {{args?: string[], hub?: string, waitHealthy?: boolean}} o
 */
export async function startBridge(svc, o = {}) {
  const bin = bridgeBinary();
  if (!existsSync(bin)) throw new Error(`hubcast-bridge not found at ${bin} (build it or set HUBCAST_BRIDGE_BIN)`);
  const args = ['--port', '0', '--host', '127.0.0.1', '--connection-string', svc.connectionString,
    '--hub', o.hub || 'iot', ...(o.args || [])];
  const p = spawnLogged('bridge', bin, args);
  const port = await new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`bridge did not start; output:\n${p.output.join('')}`)), 10_000);
    p.proc.stdout.on('data', (d) => {
      buf += d.toString();
      const m = /listening on http:\/\/[^:]+:(\d+)\/api/.exec(buf);
      if (m) { clearTimeout(timer); res(Number(m[1])); }
    });
    p.exited.then(({ code, signal }) => { clearTimeout(timer); rej(new Error(`bridge exited early (code ${code}, signal ${signal}):\n${p.output.join('')}`)); });
  });
  const b = new Bridge(p, port);
  if (o.waitHealthy !== false) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await fetch(`${b.api}/health`).catch(() => null);
      if (r) await r.arrayBuffer();
      if (r && r.status === 200) break;
      if (Date.now() > deadline) { await b.stop().catch(() => {}); throw new Error(`bridge not healthy:\n${p.output.join('')}`); }
      await delay(50);
    }
  }
  return b;
}

/** A throwaway CA and a server certificate for localhost / 127.0.0.1. */
export function makeTls() {
  const dir = mkdtempSync(join(tmpdir(), 'hcb-tls-'));
  chmodSync(dir, 0o755); // mosquitto drops root privileges and must still read the files
  const ssl = (...a) => execFileSync('openssl', a, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=hubcast test CA',
    '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'ext.cnf', '-out', 'server.pem');
  for (const f of ['ca.pem', 'server.pem', 'server.key']) chmodSync(join(dir, f), 0o644);
  return { dir, ca: readFileSync(join(dir, 'ca.pem')), caFile: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function waitPort(port, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const ok = await new Promise((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); res(true); });
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port}`);
    await delay(30);
  }
}

/**
 * Debian's mosquitto on 127.0.0.1: a plain listener for the bridge and, with
 * tls, a TLS listener for devices. Returns {port, tlsPort, stop()}.
 */
export async function startMosquitto(tls) {
  const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
  const dir = mkdtempSync(join(tmpdir(), 'hcb-mqtt-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  let conf = `per_listener_settings false\nallow_anonymous true\npersistence false\n` +
    `log_dest stderr\nlog_type error\nlog_type warning\nlistener ${port} 127.0.0.1\n`;
  if (tls) conf += `listener ${tlsPort} 127.0.0.1\ncafile ${tls.caFile}\ncertfile ${tls.cert}\nkeyfile ${tls.key}\n`;
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf);
  chmodSync(confFile, 0o644);
  const p = spawnLogged('mosquitto', bin, ['-c', confFile]);
  try {
    await waitPort(port);
    if (tls) await waitPort(tlsPort);
  } catch (e) {
    await stopProc(p);
    throw new Error(`${e.message}; mosquitto output:\n${p.output.join('')}`);
  }
  return {
    port, tlsPort, url: `mqtt://127.0.0.1:${port}`,
    async stop() { await stopProc(p); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** A device SAS token as the SDKs mint it (sr upper-case-hex encoded). */
export function deviceSas(resource, keyB64, expiry = Math.floor(Date.now() / 1000) + 3600) {
  const sr = encodeURIComponent(resource);
  const sig = createHmac('sha256', Buffer.from(keyB64, 'base64')).update(`${sr}\n${expiry}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}`;
}

export const DEVICE_KEY = Buffer.from('hubcast-test-device-key-32-bytes').toString('base64');

/**
 * Per-file fixture: one hubcast-service and one bridge in front of it.
 * const ctx = useBridge({args}); then ctx.svc / ctx.bridge inside tests.
 * `args` may be a function (called in before(), e.g. after a broker started);
 * `setup(ctx)` runs first and `teardown(ctx)` last (node:test may run
 * separate root-level hooks concurrently, so chain them here).
 */
export function useBridge(opts = {}) {
  const ctx = { svc: null, bridge: null };
  before(async () => {
    if (opts.setup) await opts.setup(ctx);
    ctx.svc = await startService(opts.service || {});
    const args = typeof opts.args === 'function' ? await opts.args(ctx) : opts.args;
    ctx.bridge = await startBridge(ctx.svc, { ...opts, args });
  });
  after(async () => {
    await stopAllClients();
    const errors = [];
    if (ctx.bridge) await ctx.bridge.stop().catch((e) => errors.push(e));
    if (ctx.svc) {
      const r = await ctx.svc.stop();
      if (r.killed || r.code !== 0) errors.push(new Error(`hubcast-service did not stop cleanly (code ${r.code})`));
    }
    if (opts.teardown) await opts.teardown(ctx).catch((e) => errors.push(e));
    if (errors.length) throw errors[0];
  });
  return ctx;
}
