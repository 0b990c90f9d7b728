// Helpers for the SSE / long-polling / browser suites: raw negotiate, a raw
// SSE reader, a recording HTTP proxy (optionally refusing WebSocket upgrades)
// and a tiny static/route server. Everything listens on 127.0.0.1, port 0.

import http from 'node:http';
import net from 'node:net';

export const RS = '\x1e';
export const HANDSHAKE = '{"protocol":"json","version":1}\x1e';

/** POST …/client/negotiate?hub=H&negotiateVersion=1 with a bearer token. */
export async function negotiate(svc, hub, token, o = {}) {
  const base = o.base || svc.url;
  const res = await fetch(`${base}/client/negotiate?hub=${encodeURIComponent(hub)}&negotiateVersion=1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'x-requested-with': 'XMLHttpRequest', ...(o.headers || {}) },
    body: '',
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** Short request/response description for assertion messages. */
export function desc(method, url, r) {
  const body = r.body ?? r.text ?? '';
  return `${method} ${url} -> ${r.status} headers=${JSON.stringify(r.headers instanceof Headers ? Object.fromEntries(r.headers) : r.headers)} body=${JSON.stringify(String(body).slice(0, 300))}`;
}

/**
 * Open a raw SSE GET and keep reading. Resolves once the response head
 * arrived: {status, headers, text() (all body bytes so far, latin1 → utf8),
 * firstChunkAt, startedAt, waitFor(pred|string, ms), ended (Promise), close()}.
 */
export function openSse(url, headers = {}, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const req = http.request(url, {
      method: 'GET',
      agent: false,
      headers: { accept: 'text/event-stream', 'cache-control': 'no-cache', ...headers },
    });
    const t = setTimeout(() => req.destroy(new Error(`timeout waiting for SSE response head: ${url}`)), timeout);
    req.on('error', (e) => { clearTimeout(t); reject(e); });
    req.on('response', (res) => {
      clearTimeout(t);
      req.removeAllListeners('error');
      req.on('error', () => {});
      const chunks = [];
      const waiters = [];
      let firstChunkAt = null;
      let endedFlag = false;
      const text = () => Buffer.concat(chunks).toString('utf8');
      const check = () => {
        for (const w of [...waiters]) {
          if (w.test(text())) {
            waiters.splice(waiters.indexOf(w), 1);
            clearTimeout(w.timer);
            w.resolve(text());
          } else if (endedFlag) {
            waiters.splice(waiters.indexOf(w), 1);
            clearTimeout(w.timer);
            w.reject(new Error(`SSE stream ended while waiting for ${w.what}; got ${JSON.stringify(text())}`));
          }
        }
      };
      const ended = new Promise((r) => {
        const fin = () => { if (!endedFlag) { endedFlag = true; check(); r(); } };
        res.on('end', fin);
        res.on('close', fin);
        res.on('error', fin);
      });
      res.on('data', (d) => {
        if (firstChunkAt === null) firstChunkAt = Date.now();
        chunks.push(d);
        check();
      });
      const sse = {
        status: res.statusCode,
        headers: res.headers,
        startedAt,
        get firstChunkAt() { return firstChunkAt; },
        get ended() { return ended; },
        get isEnded() { return endedFlag; },
        text,
        waitFor(pred, ms = 3000, what) {
          const test = typeof pred === 'string' ? (s) => s.includes(pred) : pred;
          const label = what || (typeof pred === 'string' ? JSON.stringify(pred) : 'condition');
          if (test(text())) return Promise.resolve(text());
          if (endedFlag) return Promise.reject(new Error(`SSE stream already ended; waiting for ${label}; got ${JSON.stringify(text())}`));
          return new Promise((res2, rej2) => {
            const w = { test, resolve: res2, reject: rej2, what: label };
            w.timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(w), 1);
              rej2(new Error(`timed out after ${ms} ms waiting for ${label} on SSE stream; got ${JSON.stringify(text())}`));
            }, ms);
            waiters.push(w);
          });
        },
        close() {
          req.destroy();
          res.destroy();
        },
      };
      resolve(sse);
    });
    req.end();
  });
}

/**
 * Split an SSE body (after the stream opened) into events, checking the
 * framing rules of signalr-protocol.md §4.3. Returns {events: [payload],
 * comments: n, problems: [string]}.
 */
export function parseSse(body) {
  const problems = [];
  const events = [];
  let comments = 0;
  if (/(^|[^\r])\n/.test(body)) problems.push('bare LF (every line must end in CR LF)');
  const lines = body.split('\r\n');
  // the text after the last CR LF is an incomplete line
  const rest = lines.pop();
  if (rest !== '') problems.push(`incomplete trailing line ${JSON.stringify(rest)}`);
  let cur = null;
  for (const line of lines) {
    if (line === '') {
      if (cur !== null) { events.push(cur.join('\n')); cur = null; }
      continue;
    }
    if (line.startsWith(':')) { comments += 1; continue; }
    if (line.startsWith('data: ')) {
      (cur ||= []).push(line.slice(6));
      continue;
    }
    problems.push(`unexpected SSE line ${JSON.stringify(line)} (only "data: " and ":" lines are allowed)`);
  }
  if (cur !== null) problems.push(`unterminated event ${JSON.stringify(cur)}`);
  return { events, comments, problems };
}

/** Split a body of JSON records on 0x1E; throws if it does not end on a record boundary. */
export function records(body) {
  if (body === '') return [];
  if (!body.endsWith(RS)) throw new Error(`body does not end on a record boundary: ${JSON.stringify(body)}`);
  return body.slice(0, -1).split(RS).map((s) => JSON.parse(s));
}

export function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve(server.address().port);
    });
  });
}

/** Close a server and every socket it still has. */
export function closeServer(server, sockets) {
  return new Promise((resolve) => {
    if (!server) { resolve(); return; }
    for (const s of sockets || []) s.destroy();
    server.closeAllConnections?.();
    server.close(() => resolve());
    setTimeout(resolve, 2000).unref();
  });
}

/**
 * Recording reverse proxy in front of `target` (http://127.0.0.1:port).
 * Forwards plain HTTP requests, streaming both ways (SSE and held polls pass
 * through unbuffered). WebSocket upgrades are refused with `refuseStatus`
 * when refuseUpgrades is set, otherwise tunnelled.
 * log entries: {method, url, accept, upgrade, status, at, endAt}.
 */
export async function startProxy(target, { refuseUpgrades = false, refuseStatus = 403 } = {}) {
  const t = new URL(target);
  const log = [];
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const entry = { method: req.method, url: req.url, accept: req.headers.accept || '', upgrade: false, status: null, at: Date.now(), endAt: null };
    log.push(entry);
    const up = http.request({
      host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent: false,
    }, (ures) => {
      entry.status = ures.statusCode;
      res.writeHead(ures.statusCode, ures.headers);
      res.flushHeaders();
      ures.on('data', (d) => res.write(d));
      ures.on('end', () => { entry.endAt = Date.now(); res.end(); });
      ures.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      entry.error = e.message;
      if (!res.headersSent) { res.writeHead(502); res.end(); } else res.destroy();
    });
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    req.pipe(up);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('upgrade', (req, socket, head) => {
    const entry = { method: req.method, url: req.url, accept: req.headers.accept || '', upgrade: true, status: null, at: Date.now(), endAt: null };
    log.push(entry);
    if (refuseUpgrades) {
      entry.status = refuseStatus;
      socket.end(`HTTP/1.1 ${refuseStatus} Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nConnection: close\r\n\r\nWebSockets are not allowed`);
      return;
    }
    const us = net.connect(Number(t.port), t.hostname, () => {
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      us.write(`${head0}\r\n`);
      if (head && head.length) us.write(head);
      us.pipe(socket);
      socket.pipe(us);
    });
    sockets.add(us);
    us.on('close', () => { sockets.delete(us); socket.destroy(); });
    us.on('error', () => socket.destroy());
    socket.on('error', () => us.destroy());
    socket.on('close', () => us.destroy());
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    negotiates() { return log.filter((e) => e.method === 'POST' && /\/negotiate(\?|$)/.test(e.url)); },
    close: () => closeServer(server, sockets),
  };
}

/**
 * Minimal route server: routes is an object "METHOD /path" → handler(req, res, body)
 * or "/path" → {type, body}. Unknown paths → 404.
 */
export async function startRoutes(routes) {
  const sockets = new Set();
  const log = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url, 'http://x').pathname;
      log.push({ method: req.method, url: req.url, headers: req.headers, at: Date.now() });
      const h = routes[`${req.method} ${path}`] || routes[`* ${path}`];
      if (typeof h === 'function') {
        Promise.resolve(h(req, res, Buffer.concat(chunks))).catch((e) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        });
        return;
      }
      const st = routes[path];
      if (st && (req.method === 'GET' || req.method === 'HEAD')) {
        res.writeHead(200, { 'content-type': st.type, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : st.body);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, port, log, close: () => closeServer(server, sockets) };
}
