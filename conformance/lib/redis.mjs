// Starts/stops a throw-away redis-server for the scale-out suites (issue 9):
// loopback only, a free port (redis-server has no --port 0), no persistence,
// so a restart on the same port comes back empty, like a crashed Redis.
//
//   REDIS_SERVER_BIN  path of redis-server (default /usr/bin/redis-server)

import { spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { DEBUG } from './service.mjs';

const running = new Set();
process.on('exit', () => { for (const p of running) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

export function redisBinary() {
  return process.env.REDIS_SERVER_BIN || '/usr/bin/redis-server';
}

/** A free TCP port on 127.0.0.1 (bind 0, read it, release it). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

/** One RESP command over a fresh socket; resolves with the raw reply text. */
export function redisCommand(port, ...args) {
  return new Promise((res, rej) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => { sock.destroy(); rej(new Error('redis command timeout')); }, 2000);
    sock.once('error', (e) => { clearTimeout(t); rej(e); });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.endsWith('\r\n')) { clearTimeout(t); sock.end(); res(buf); }
    });
    sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
  });
}

export class Redis {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.proc = null;
    this.output = [];
  }

  async start() {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'];
    const proc = spawn(redisBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    this.proc = proc;
    this.exited = new Promise((res) => proc.once('exit', (code, signal) => { running.delete(proc); res({ code, signal }); }));
    for (const s of [proc.stdout, proc.stderr]) {
      s.on('data', (d) => { this.output.push(d.toString()); if (DEBUG) process.stderr.write(`[redis] ${d}`); });
    }
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited early: ${this.output.join('')}`);
      try {
        if ((await redisCommand(this.port, 'PING')).startsWith('+PONG')) return this;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) throw new Error(`redis-server not ready on port ${this.port}`);
      await delay(25);
    }
  }

  /** SIGKILL: the nodes see their sockets drop, as in a crash. */
  async kill() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    let t;
    const r = await Promise.race([this.exited, new Promise((res) => { t = setTimeout(() => res(null), 5000); })]);
    clearTimeout(t);
    if (!r) await this.kill();
  }
}

/** Start redis-server on a free loopback port. */
export async function startRedis() {
  for (let attempt = 0; ; attempt++) {
    const r = new Redis(await freePort());
    try {
      return await r.start();
    } catch (e) {
      await r.kill();
      if (attempt >= 3) throw e;
    }
  }
}
