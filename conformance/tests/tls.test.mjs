// TLS (issue 8): --tls-cert/--tls-key serve https and wss. A throwaway CA and
// a server certificate for 127.0.0.1 are made with openssl; a child Node
// process trusting that CA (NODE_EXTRA_CA_CERTS, read at start-up) runs the
// unmodified @microsoft/signalr client over WebSockets, Server-Sent Events and
// long polling, plus REST over https (tests/tls/child.mjs).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isExternal } from '../lib/index.mjs';

const here = dirname(fileURLToPath(import.meta.url));
let dir;

function openssl(...args) {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

describe('https / wss with a test CA', { skip: isExternal() }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hubcast-tls-'));
    const p = (f) => join(dir, f);
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'),
      '-days', '1', '-subj', '/CN=hubcast test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('srv.key'), '-out', p('srv.csr'),
      '-subj', '/CN=127.0.0.1');
    writeFileSync(p('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    openssl('x509', '-req', '-in', p('srv.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'),
      '-CAcreateserial', '-out', p('srv.pem'), '-days', '1', '-extfile', p('ext'));
  });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('the JS client connects over wss, SSE and long polling on https; REST works; plain http is refused', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, [join(here, 'tls', 'child.mjs'), join(dir, 'srv.pem'), join(dir, 'srv.key')], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((r) => child.once('exit', r));
    const results = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(code, 0, `child failed (${code}):\n${out}\n${err.slice(-3000)}`);
    const names = results.map((r) => r.check);
    for (const want of ['connection string', 'health', 'WebSockets', 'ServerSentEvents', 'LongPolling', 'REST', 'plain http refused', 'clean exit']) {
      assert.ok(names.includes(want), `check "${want}" ran: ${JSON.stringify(results)}`);
    }
    for (const r of results) assert.equal(r.ok, true, JSON.stringify(r));
  });
});
