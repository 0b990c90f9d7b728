// Test upstream (webhook) servers for the serverless upstream suites: a
// node:http server on 127.0.0.1 that records every request hubcast-service
// sends (azure-signalr-service.md §5) and answers through a handler, plus
// helpers to write settings.json files and check X-ASRS-Signature.

import http from 'node:http';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RS = '\x1e';

/**
 * Start a recorder. `handler(call)` may return {status, body, headers, delayMs}
 * (default 200 with an empty body); it may be replaced later via rec.handler.
 * Each call: {method, path, headers, body, json, event, connId, at, doneAt}.
 */
export async function startRecorder(handler = () => ({})) {
  const rec = {
    calls: [],
    waiters: [],
    handler,
    url: '',
    server: null,
    check() {
      for (const w of [...this.waiters]) {
        if (w.test()) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          clearTimeout(w.timer);
          w.resolve(w.value());
        }
      }
    },
    /** Calls of one connection, in arrival order. */
    of(connId) {
      return this.calls.filter((c) => c.connId === connId);
    },
    /** Resolve with the first call matching pred (waits, bounded). */
    waitFor(pred, timeout = 5000, what = 'upstream call') {
      const find = () => this.calls.find(pred);
      if (find()) return Promise.resolve(find());
      return new Promise((resolve, reject) => {
        const w = { test: () => !!find(), value: find, resolve };
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          const seen = this.calls.map((c) => `${c.connId}:${c.event}`).slice(-10);
          reject(new Error(`timed out after ${timeout} ms waiting for ${what}; last calls: [${seen.join(', ')}]`));
        }, timeout);
        this.waiters.push(w);
      });
    },
    async close() {
      for (const w of this.waiters) clearTimeout(w.timer);
      this.server.closeAllConnections?.();
      await new Promise((res) => this.server.close(() => res()));
    },
  };
  rec.server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json;
      try { json = JSON.parse(body); } catch { json = undefined; }
      const call = {
        method: req.method,
        path: req.url,
        headers: req.headers,
        body,
        json,
        event: req.headers['x-asrs-event'],
        category: req.headers['x-asrs-category'],
        connId: req.headers['x-asrs-connection-id'],
        at: Date.now(),
        doneAt: undefined,
      };
      rec.calls.push(call);
      rec.check();
      let r;
      try {
        r = (await rec.handler(call)) || {};
      } catch (e) {
        r = { status: 599, body: String(e) };
      }
      if (r.delayMs) await new Promise((res2) => setTimeout(res2, r.delayMs));
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...(r.headers || {}) });
      res.end(r.body ?? '');
      call.doneAt = Date.now();
    });
  });
  await new Promise((res) => rec.server.listen(0, '127.0.0.1', res));
  rec.url = `http://127.0.0.1:${rec.server.address().port}`;
  return rec;
}

/** A framed JSON Completion, as the Azure Functions SignalR extension answers. */
export function framedCompletion(invocationId, fields) {
  return JSON.stringify({ type: 3, invocationId, ...fields }) + RS;
}

/** Make a temp directory for a settings.json; returns {dir, file, write(rules), remove()}. */
export function settingsDir(prefix = 'hubcast-upstream-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, 'settings.json');
  return {
    dir,
    file,
    /** Write the official emulator's shape (atomically, via rename). */
    write(templates) {
      const tmp = join(dir, `.settings.${process.pid}.${Date.now()}.tmp`);
      writeFileSync(tmp, JSON.stringify({ UpstreamSettings: { Templates: templates } }, null, 2));
      renameSync(tmp, file);
    },
    writeRaw(text) {
      writeFileSync(file, text);
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The X-ASRS-Signature value hubcast must send for `connId` with `keys` (primary first). */
export function expectedSignature(connId, keys) {
  return keys.map((k) => `sha256=${createHmac('sha256', Buffer.from(k, 'utf8')).update(connId, 'utf8').digest('hex')}`).join(',');
}

/** Verify a signature header the way the Functions extension does: any entry matching any key. */
export function signatureMatches(header, connId, key) {
  const want = createHmac('sha256', Buffer.from(key, 'utf8')).update(connId, 'utf8').digest('hex');
  return String(header || '').split(',').some((s) => s.trim().toLowerCase() === `sha256=${want}`);
}
