// Upstream settings.json: hot reload switches rules without dropping
// clients; the emulator-compatible CLI verbs `upstream init` / `upstream list`;
// a broken settings file stops the service at start (azure-signalr-service.md
// §5.1, §7).

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  useService, connect, uniq, eventually, isExternal, binaryPath, signalR,
} from '../lib/index.mjs';
import { startRecorder, settingsDir, framedCompletion } from '../lib/upstream.mjs';

const answer = (name) => (call) => (call.json?.invocationId
  ? { body: framedCompletion(call.json.invocationId, { result: name }) } : {});
const recA = await startRecorder(answer('A'));
const recB = await startRecorder(answer('B'));
const settings = settingsDir();
const rule = (url) => [{ UrlTemplate: `${url}/{event}`, HubPattern: '*', CategoryPattern: '*', EventPattern: '*' }];
settings.write(rule(recA.url));

const ctx = useService({ args: ['--config', settings.file] });
const tmpDirs = [];

after(async () => {
  await recA.close();
  await recB.close();
  settings.remove();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

const skipExternal = isExternal() ? 'needs a locally started service' : false;

function cli(args, opts = {}) {
  return spawnSync(binaryPath(), args, { encoding: 'utf8', timeout: 10_000, ...opts });
}

function tempDir() {
  const d = mkdtempSync(join(tmpdir(), 'hubcast-cli-'));
  tmpDirs.push(d);
  return d;
}

const DEFAULT_SETTINGS = {
  UpstreamSettings: {
    Templates: [{
      UrlTemplate: 'http://localhost:7071/runtime/webhooks/signalr',
      EventPattern: '*',
      CategoryPattern: '*',
      HubPattern: '*',
    }],
  },
};

describe('settings hot reload', { skip: skipExternal }, () => {
  it('switching the URL moves new events to the new upstream; clients stay connected', async () => {
    const { svc } = ctx;
    const c = await connect(svc, { hub: uniq('reload') });
    const id = c.id;
    assert.equal(await c.conn.invoke('who'), 'A');

    settings.write(rule(recB.url));
    // The file is polled about once a second.
    await eventually(async () => (await c.conn.invoke('who')) === 'B', { timeout: 5000, interval: 100, what: 'invocations to reach the new upstream' });
    assert.equal(c.conn.connectionId, id);
    assert.equal(c.state, signalR.HubConnectionState.Connected);
    assert.ok(recB.calls.some((x) => x.connId === id && x.event === 'who'));

    // A broken edit keeps the previous rules.
    settings.writeRaw('{ "UpstreamSettings": { "Templates": [ { "UrlTemplate": ');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await c.conn.invoke('who'), 'B');
    assert.ok(ctx.svc.output.join('').includes('settings reload failed'), 'a reload failure is logged');

    // Back to A; the disconnected event goes where the rules point then.
    settings.write(rule(recA.url));
    await eventually(async () => (await c.conn.invoke('who')) === 'A', { timeout: 5000, interval: 100, what: 'switch back' });
    await c.stop();
    await recA.waitFor((x) => x.connId === id && x.event === 'disconnected');
  });
});

describe('upstream CLI verbs', { skip: skipExternal }, () => {
  it('upstream init writes the default settings.json and refuses to overwrite without --force', () => {
    const dir = tempDir();
    const file = join(dir, 'settings.json');
    let r = cli(['upstream', 'init', '-o', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), DEFAULT_SETTINGS);

    writeFileSync(file, '{"mine":true}');
    r = cli(['upstream', 'init', '-o', dir], { input: '' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /already exists/);
    assert.equal(readFileSync(file, 'utf8'), '{"mine":true}');

    r = cli(['upstream', 'init', '-o', dir, '--force']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), DEFAULT_SETTINGS);
  });

  it('upstream list prints the rules of a file, a directory or ./settings.json', () => {
    const dir = tempDir();
    assert.equal(cli(['upstream', 'init', '-o', dir]).status, 0);
    const line = "[0] http://localhost:7071/runtime/webhooks/signalr (hub: '*', category: '*', event: '*')";
    for (const args of [['-c', dir], ['-c', join(dir, 'settings.json')], ['--config', dir]]) {
      const r = cli(['upstream', 'list', ...args]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.includes(line), r.stdout);
    }
    const r = cli(['upstream', 'list'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(line), r.stdout);

    const bad = cli(['upstream', 'list', '-c', join(dir, 'missing.json')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /missing\.json/);
  });

  it('start refuses a broken or missing settings file named with -c', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'settings.json'), '{"UpstreamSettings":{"Templates":[{"UrlTemplate":"file:///etc/passwd"}]}}');
    for (const target of [dir, join(dir, 'nope.json')]) {
      const p = spawn(binaryPath(), ['start', '--port', '0', '--host', '127.0.0.1', '-c', target], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.stderr.on('data', (d) => { out += d; });
      const code = await new Promise((res) => {
        const t = setTimeout(() => { p.kill('SIGKILL'); res('timeout'); }, 5000);
        p.once('exit', (c) => { clearTimeout(t); res(c); });
      });
      assert.notEqual(code, 0, out);
      assert.notEqual(code, 'timeout', out);
      assert.match(out, /cannot load upstream settings/, out);
    }
  });
});
