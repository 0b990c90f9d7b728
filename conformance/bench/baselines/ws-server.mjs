// Baseline for conformance/bench (issue 10): a straightforward Node.js
// SignalR-compatible server on the `ws` package, implementing just what the
// benchmark clients use, so every hubcast figure is also a ratio:
//
//   POST /client/negotiate?hub=H&negotiateVersion=1   (Bearer JWT, HS256 checked)
//   GET  /client/?hub=H[&id=T]                        WebSocket, JSON handshake
//   POST /api/v1/hubs/H                               broadcast  -> 202
//   POST /api/v1/hubs/H/groups/G                      group send -> 202
//   PUT  /api/v1/hubs/H/groups/G/connections/ID       add to group -> 200
//
// Like hubcast it serializes a message once and hands the same Buffer to
// every socket (ws.send per connection). It prints the same connection
// string line as hubcast-service on stdout, so run.sh drives both the same way.
//
// usage: node ws-server.mjs [--port 0] [--key K]
import http from 'node:http';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'package.json'));
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const key = opt('--key', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH');
const RS = '\x1e';

function verify(req, url) {
  let tok = null;
  const h = req.headers.authorization;
  if (h && h.startsWith('Bearer ')) tok = h.slice(7);
  else tok = url.searchParams.get('access_token');
  if (!tok) return false;
  const parts = tok.split('.');
  if (parts.length !== 3) return false;
  const sig = crypto.createHmac('sha256', key).update(parts[0] + '.' + parts[1]).digest('base64url');
  if (sig !== parts[2]) return false;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    if (claims.exp && claims.exp < Date.now() / 1000 - 300) return false;
  } catch {
    return false;
  }
  return true;
}

const hubs = new Map(); // hub -> { conns: Set<ws>, groups: Map<name, Set<ws>> }
const pending = new Map(); // connection token -> { id, hub }
const byId = new Map(); // connection id -> ws
const hubOf = (name) => {
  let h = hubs.get(name);
  if (!h) hubs.set(name, (h = { conns: new Set(), groups: new Map() }));
  return h;
};
const newId = () => crypto.randomBytes(16).toString('base64url');

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (!verify(req, url)) return send(res, 401, '');
    const p = url.pathname;
    if (req.method === 'POST' && (p === '/client/negotiate' || p === '/client/negotiate/')) {
      const hub = url.searchParams.get('hub');
      if (!hub) return send(res, 400, '');
      const id = newId();
      const token = newId();
      pending.set(token, { id, hub });
      return send(res, 200, JSON.stringify({
        negotiateVersion: 1, connectionId: id, connectionToken: token,
        availableTransports: [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }],
      }));
    }
    const m = /^\/api\/v1\/hubs\/([^/]+)(?:\/groups\/([^/]+)(?:\/connections\/([^/]+))?)?$/.exec(p);
    if (!m) return send(res, 404, '');
    const hub = hubOf(m[1]);
    if (req.method === 'PUT' && m[2] && m[3]) {
      const ws = byId.get(m[3]);
      if (!ws) return send(res, 404, '');
      let g = hub.groups.get(m[2]);
      if (!g) hub.groups.set(m[2], (g = new Set()));
      g.add(ws);
      ws.groups.push(g);
      return send(res, 200, '');
    }
    if (req.method === 'POST' && !m[3]) {
      let msg;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return send(res, 400, '');
      }
      const frame = Buffer.from(JSON.stringify({ type: 1, target: msg.target, arguments: msg.arguments }) + RS);
      const targets = m[2] ? hub.groups.get(m[2]) : hub.conns;
      if (targets) for (const ws of targets) ws.send(frame, { binary: false });
      return send(res, 202, '');
    }
    return send(res, 405, '');
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  const hubName = url.searchParams.get('hub');
  if (url.pathname !== '/client/' && url.pathname !== '/client') return socket.destroy();
  if (!hubName || !verify(req, url)) {
    socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  let id;
  const t = url.searchParams.get('id');
  if (t) {
    const p = pending.get(t);
    if (!p || p.hub !== hubName) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    pending.delete(t);
    id = p.id;
  } else {
    id = newId(); // skip-negotiate
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const hub = hubOf(hubName);
    ws.groups = [];
    let buf = '';
    let live = false;
    ws.on('message', (data) => {
      buf += data.toString();
      let i;
      while ((i = buf.indexOf(RS)) >= 0) {
        const rec = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!live) {
          live = true;
          ws.send('{}' + RS);
          hub.conns.add(ws);
          byId.set(id, ws);
        } else if (rec.includes('"type":7')) {
          ws.close(1000);
        }
      }
    });
    ws.on('close', () => {
      hub.conns.delete(ws);
      byId.delete(id);
      for (const g of ws.groups) g.delete(ws);
    });
    ws.on('error', () => {});
  });
});

server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  const p = server.address().port;
  process.stdout.write(`Endpoint=http://127.0.0.1;Port=${p};AccessKey=${key};Version=1.0;\n`);
});
const stop = () => {
  for (const h of hubs.values()) for (const ws of h.conns) ws.terminate();
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
