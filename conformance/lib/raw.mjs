// Raw peers for the hardening suites (bad-input, backpressure, soak): a
// byte-exact HTTP exchange over a plain socket, and a minimal WebSocket
// client (any frame, any opcode, masked or not) that records what the
// service answers and how the connection ends.

import net from 'node:net';
import { clientToken } from './tokens.mjs';

/**
 * Send `bytes` (string or Buffer) on a new TCP connection and collect the
 * answer until the service closes or `timeout` ms pass. Resolves {status
 * (number or 0 when no HTTP status line came), text, closed (the service
 * closed the socket), ms}.
 */
export function rawHttp(port, bytes, { timeout = 5000, host = '127.0.0.1', keepOpen = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, host);
    const chunks = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      s.destroy();
      resolve({ status: m ? Number(m[1]) : 0, text, closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeout);
    s.on('data', (d) => {
      chunks.push(d);
      // A complete non-keep-alive answer is enough unless asked to wait.
      if (!keepOpen && /\r\n\r\n/.test(Buffer.concat(chunks).toString('latin1')) &&
          /content-length: 0\r\n|^HTTP\/1\.[01] [45]/im.test(Buffer.concat(chunks).toString('latin1'))) {
        setTimeout(() => finish(false), 50);
      }
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.write(bytes);
  });
}

/** One WebSocket frame from the client: masked unless `mask` is false. */
export function wsFrame(opcode, payload, { fin = true, mask = true, rsv = 0 } = {}) {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  let head;
  if (p.length < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, (mask ? 0x80 : 0) | p.length]);
  } else if (p.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | rsv | opcode;
    head[1] = (mask ? 0x80 : 0) | 126;
    head.writeUInt16BE(p.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | rsv | opcode;
    head[1] = (mask ? 0x80 : 0) | 127;
    head.writeBigUInt64BE(BigInt(p.length), 2);
  }
  if (!mask) return Buffer.concat([head, p]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) body[i] = p[i] ^ key[i & 3];
  return Buffer.concat([head, key, body]);
}

/**
 * A raw WebSocket to /client/?hub=H (negotiated first unless o.id is given).
 * Parses the service's frames: .messages (text/binary payloads), .closeCode,
 * .closeReason (from a WebSocket Close frame), .closed (Promise, resolves
 * when the TCP connection ends), .status (HTTP status when not upgraded).
 * Does not read from the socket when o.paused (backpressure tests).
 */
export async function rawWs(svc, o = {}) {
  const hub = o.hub || 'raw';
  const token = o.token ?? clientToken(svc, { hub, userId: o.userId });
  let id = o.id;
  if (id === undefined) {
    const r = await fetch(`${svc.url}/client/negotiate?hub=${encodeURIComponent(hub)}&negotiateVersion=1`, {
      method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '', signal: AbortSignal.timeout(5000),
    });
    const j = await r.json();
    id = j.connectionToken;
    o.connectionId = j.connectionId;
  }
  const path = `/client/?hub=${encodeURIComponent(hub)}${id ? `&id=${encodeURIComponent(id)}` : ''}` +
    `&access_token=${encodeURIComponent(token)}`;
  const s = net.connect(svc.port, '127.0.0.1');
  const ws = {
    socket: s, id, connectionId: o.connectionId, messages: [], closeCode: null, closeReason: null, status: 0, upgraded: false,
    buf: Buffer.alloc(0), bytesIn: 0, waiters: [],
    send(text) { s.write(wsFrame(0x1, text)); },
    sendBinary(b) { s.write(wsFrame(0x2, b)); },
    raw(b) { s.write(b); },
    handshake(protocol = 'json') { this.send(`{"protocol":"${protocol}","version":1}\x1e`); },
    text() { return this.messages.map((m) => m.toString('utf8')).join(''); },
    destroy() { s.destroy(); },
    waitFor(pred, ms = 5000, what = 'message') {
      if (pred(this)) return Promise.resolve();
      return new Promise((res, rej) => {
        const w = { pred, res };
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          rej(new Error(`raw ws: timed out waiting for ${what}; got ${JSON.stringify(this.text().slice(-300))} close=${this.closeCode}`));
        }, ms);
        this.waiters.push(w);
      });
    },
    check() {
      for (const w of [...this.waiters]) {
        if (w.pred(this)) { clearTimeout(w.timer); this.waiters.splice(this.waiters.indexOf(w), 1); w.res(); }
      }
    },
  };
  ws.closed = new Promise((res) => s.once('close', () => { ws.ended = true; ws.check(); res(); }));
  s.on('error', () => {});
  const key = Buffer.from('hubcast-hardened').toString('base64');
  await new Promise((res, rej) => {
    s.once('connect', res);
    s.once('error', rej);
  });
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${svc.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
  let head = Buffer.alloc(0);
  await new Promise((res) => {
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const i = head.indexOf('\r\n\r\n');
      if (i < 0) return;
      s.off('data', onData);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'));
      ws.status = m ? Number(m[1]) : 0;
      ws.upgraded = ws.status === 101;
      ws.buf = head.subarray(i + 4);
      res();
    };
    s.on('data', onData);
    s.once('close', res);
  });
  const parse = () => {
    for (;;) {
      const b = ws.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return;
      const op = b[0] & 0x0f;
      const payload = b.subarray(off, off + len);
      ws.buf = b.subarray(off + len);
      if (op === 0x8) {
        ws.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        ws.closeReason = payload.subarray(2).toString('utf8');
      } else if (op === 0x1 || op === 0x2 || op === 0x0) {
        ws.messages.push(Buffer.from(payload));
      }
    }
  };
  if (ws.upgraded) {
    parse();
    if (o.paused) s.pause();
    s.on('data', (d) => { ws.bytesIn += d.length; ws.buf = Buffer.concat([ws.buf, d]); parse(); ws.check(); });
  }
  return ws;
}

/** Resident set size of a process in KiB (Linux /proc). */
export async function rssKiB(pid) {
  const { readFile } = await import('node:fs/promises');
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

/** Open file descriptors of a process (Linux /proc). */
export async function fdCount(pid) {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(`/proc/${pid}/fd`)).length;
}
