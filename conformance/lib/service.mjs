// Starts/stops hubcast-service for a test file, or points at an external
// instance (HUBCAST_URL + HUBCAST_KEY).
//
//   HUBCAST_BIN   path of the service binary (default ../build/hubcast-service
//                 relative to conformance/)
//   HUBCAST_URL   e.g. http://127.0.0.1:8888 — use a running service instead
//   HUBCAST_KEY   its access key (default: the emulator default key)
//   HUBCAST_KEY2  optional secondary key of the external service
//   HUBCAST_DEBUG=1  echo service output and client logs to stderr

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export const DEFAULT_KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH';
export const CONFORMANCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEBUG = !!process.env.HUBCAST_DEBUG;

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

const running = new Set();
// Last line of defence: never leave a service behind, even if after() hooks
// did not run (crash, Ctrl-C of the runner).
function killAll() {
  for (const p of running) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { killAll(); process.exit(130); });
}

export function isExternal() {
  return !!process.env.HUBCAST_URL;
}

export function binaryPath() {
  return process.env.HUBCAST_BIN
    ? resolve(process.env.HUBCAST_BIN)
    : resolve(CONFORMANCE_DIR, '..', 'build', 'hubcast-service');
}

// Parses `Endpoint=...;Port=...;AccessKey=...;Version=1.0;` (.NET rules, enough
// for what the service prints).
export function parseConnectionString(cs) {
  const out = {};
  for (const piece of cs.split(';')) {
    const i = piece.indexOf('=');
    if (i < 0) continue;
    out[piece.slice(0, i).trim().toLowerCase()] = piece.slice(i + 1).trim();
  }
  return out;
}

export async function waitForHealth(url, timeoutMs = START_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await delay(50);
  }
  throw new Error(`service at ${url} not healthy after ${timeoutMs} ms (${last})`);
}

/**
 * Start a service instance (or describe the external one).
 * @param {{keys?: string[], args?: string[], prefix?: string[]}} opts
 * @returns {Promise<Service>}
 */
export async function startService(opts = {}) {
  if (isExternal()) {
    const url = process.env.HUBCAST_URL.replace(/\/+$/, '');
    const keys = [process.env.HUBCAST_KEY || DEFAULT_KEY];
    if (process.env.HUBCAST_KEY2) keys.push(process.env.HUBCAST_KEY2);
    await waitForHealth(url);
    return new Service({ url, keys, proc: null, external: true });
  }
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`hubcast-service binary not found at ${bin} (build it, or set HUBCAST_BIN / HUBCAST_URL)`);
  }
  const keys = opts.keys && opts.keys.length ? opts.keys : [DEFAULT_KEY];
  const args = ['start', '--port', '0', '--host', '127.0.0.1'];
  if (opts.keys) for (const k of opts.keys) args.push('--access-key', k);
  if (opts.args) args.push(...opts.args);

  // opts.prefix: a command wrapping the service, e.g. ['prlimit', '--nofile=64'].
  const argv = opts.prefix ? [...opts.prefix.slice(1), bin, ...args] : args;
  const proc = spawn(opts.prefix ? opts.prefix[0] : bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  const output = [];
  const exited = new Promise((res) => proc.once('exit', (code, signal) => {
    running.delete(proc);
    res({ code, signal });
  }));

  const found = new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(
      `no connection string on stdout within ${START_TIMEOUT_MS} ms; output:\n${output.join('')}`)), START_TIMEOUT_MS);
    proc.stdout.on('data', (d) => {
      const s = d.toString();
      output.push(s);
      if (DEBUG) process.stderr.write(`[svc] ${s}`);
      buf += s;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /Endpoint=[^\s]*?;Port=\d+;[^\s]*/.exec(line);
        if (m) {
          clearTimeout(timer);
          res(m[0]);
        }
      }
    });
    proc.stderr.on('data', (d) => {
      output.push(d.toString());
      if (DEBUG) process.stderr.write(`[svc!] ${d}`);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      rej(new Error(`service exited early (code ${code}, signal ${signal}); output:\n${output.join('')}`));
    });
  });

  let cs;
  try {
    cs = await found;
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const parsed = parseConnectionString(cs);
  const port = Number(parsed.port);
  // --tls-cert: the connection string says https (the caller's process must
  // trust the CA, e.g. NODE_EXTRA_CA_CERTS).
  const scheme = /^https:/i.test(parsed.endpoint || '') ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const svc = new Service({ url, keys, proc, exited, output, connectionString: cs, parsed });
  try {
    await waitForHealth(url);
  } catch (e) {
    await svc.stop();
    throw e;
  }
  return svc;
}

export class Service {
  constructor({ url, keys, proc, exited, output, connectionString, parsed, external }) {
    this.url = url;
    this.port = Number(new URL(url).port);
    this.keys = keys;
    this.key = keys[0];
    this.proc = proc;
    this.exited = exited;
    this.output = output || [];
    this.connectionString = connectionString;
    this.parsed = parsed;
    this.external = !!external;
  }

  /** SIGTERM, then SIGKILL after a timeout. Resolves to {code, signal, killed}. */
  async stop(timeoutMs = STOP_TIMEOUT_MS) {
    if (!this.proc) return { code: null, signal: null, killed: false };
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
      return { code: this.proc.exitCode, signal: this.proc.signalCode, killed: false };
    }
    this.proc.kill('SIGTERM');
    let t;
    const r = await Promise.race([
      this.exited,
      new Promise((res) => { t = setTimeout(() => res(null), timeoutMs); }),
    ]);
    clearTimeout(t);
    if (r) return { ...r, killed: false };
    this.proc.kill('SIGKILL');
    const r2 = await this.exited;
    return { ...r2, killed: true };
  }
}
