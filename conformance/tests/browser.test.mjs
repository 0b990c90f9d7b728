// A real browser (issue 3): headless Chromium driven by playwright-core loads a
// page from a DIFFERENT origin than the service and connects with the browser
// build of @microsoft/signalr over each transport (forced with the client's
// `transport` option), receiving REST broadcasts; once more through a
// Functions-style negotiate redirect endpoint on a third origin. Page console
// errors are printed and fail the test. Skipped (with a message) only when
// /usr/bin/chromium is missing.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { useService, uniq, Api, show, clientToken, CONFORMANCE_DIR } from '../lib/index.mjs';
import { startRoutes } from '../lib/transport-helpers.mjs';

const CHROMIUM = process.env.HUBCAST_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = '/tmp/hubcast-browser.png';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) process.stderr.write(`\n### browser.test.mjs SKIPPED: ${CHROMIUM} not found (install the Debian 'chromium' package)\n`);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>hubcast browser test</title>
<link rel="icon" href="data:,">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:16px;background:#fafafa}
 h1{font-size:18px;margin:0 0 8px}
 table{border-collapse:collapse;background:#fff}
 td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;font-family:monospace}
 .ok{color:#070}.err{color:#b00}
</style>
<script src="/signalr.min.js"></script></head>
<body>
<h1>hubcast &mdash; browser transports</h1>
<div id="origin"></div>
<table><thead><tr><th>run</th><th>transport</th><th>connectionId</th><th>received</th><th>state</th></tr></thead>
<tbody id="rows"></tbody></table>
<pre id="log"></pre>
<script>
  document.getElementById('origin').textContent = 'page origin: ' + location.origin;
  window.runs = {};
  const logger = {
    log(level, message) {
      const name = signalR.LogLevel[level];
      if (level >= signalR.LogLevel.Error) console.error('[signalr ' + name + '] ' + message);
      else if (level >= signalR.LogLevel.Warning) console.warn('[signalr ' + name + '] ' + message);
      window.__log = window.__log || [];
      window.__log.push(name + ': ' + message);
    },
  };
  function row(run) {
    let tr = document.getElementById('row-' + run.name);
    if (!tr) {
      tr = document.createElement('tr');
      tr.id = 'row-' + run.name;
      document.getElementById('rows').appendChild(tr);
    }
    tr.innerHTML = '';
    for (const v of [run.name, run.transport || '', run.connectionId || '', run.received.map((m) => m.join(' ')).join(' | '), run.state]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.className = run.error ? 'err' : 'ok';
  }
  // opts: {name, url, token?, transport? (name)}
  window.startRun = async (opts) => {
    const run = { name: opts.name, received: [], state: 'starting', error: null, transport: null, selected: [] };
    window.runs[opts.name] = run;
    row(run);
    const httpOptions = { logger };
    if (opts.token) httpOptions.accessTokenFactory = () => opts.token;
    if (opts.transport) httpOptions.transport = signalR.HttpTransportType[opts.transport];
    const conn = new signalR.HubConnectionBuilder().withUrl(opts.url, httpOptions).configureLogging(logger).build();
    run.conn = conn;
    conn.on('msg', (...args) => { run.received.push(args); row(run); });
    conn.onclose((e) => { run.state = 'closed' + (e ? ': ' + e : ''); row(run); });
    const before = (window.__log || []).length;
    try {
      await conn.start();
    } catch (e) {
      run.error = String(e);
      run.state = 'failed: ' + e;
      row(run);
      return { error: run.error, log: (window.__log || []).slice(before) };
    }
    run.selected = (window.__log || []).slice(before).filter((l) => l.includes('Selecting transport'));
    const m = /Selecting transport '(\\w+)'/.exec(run.selected[run.selected.length - 1] || '');
    run.transport = m ? m[1] : '?';
    run.connectionId = conn.connectionId;
    run.state = conn.state;
    row(run);
    return { connectionId: conn.connectionId, transport: run.transport, selected: run.selected };
  };
  window.stopRun = async (name) => {
    const run = window.runs[name];
    await run.conn.stop();
    run.state = run.conn.state;
    row(run);
  };
</script>
</body></html>`;

describe('headless Chromium: browser @microsoft/signalr from another origin', {
  skip: !HAVE_CHROMIUM && `${CHROMIUM} not found: install the Debian chromium package`,
}, () => {
  const ctx = useService();
  let pageServer;
  let fnServer;
  let browser;
  let page;
  const problems = []; // console errors / page errors / failed requests
  const requests = []; // {url, method, resourceType, headers}
  const websockets = [];
  const badResponses = []; // responses >= 400 seen by the page
  let fnHub;
  let fnToken;

  before(async () => {
    const { chromium } = await import('playwright-core');
    const signalrJs = readFileSync(resolve(CONFORMANCE_DIR, 'node_modules/@microsoft/signalr/dist/browser/signalr.min.js'));
    pageServer = await startRoutes({
      '/': { type: 'text/html; charset=utf-8', body: PAGE },
      '/signalr.min.js': { type: 'text/javascript', body: signalrJs },
    });
    // Functions-style app negotiate on a third origin: answers CORS itself
    // (credentialed: echo the Origin, no '*') and redirects to the service.
    const cors = (req) => ({
      'access-control-allow-origin': req.headers.origin || '',
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
    });
    fnServer = await startRoutes({
      'OPTIONS /api/negotiate': (req, res) => {
        res.writeHead(204, {
          ...cors(req),
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-allow-headers': req.headers['access-control-request-headers'] || '',
          'access-control-max-age': '600',
        });
        res.end();
      },
      'POST /api/negotiate': (req, res) => {
        res.writeHead(200, { ...cors(req), 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: `${ctx.svc.url}/client/?hub=${fnHub}`, accessToken: fnToken }));
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 20_000,
    });
    const context = await browser.newContext({ viewport: { width: 1100, height: 360 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        const line = `[page console.${msg.type()}] ${msg.text()}`;
        process.stderr.write(`${line}\n`);
        if (msg.type() === 'error') problems.push(line);
      }
    });
    page.on('pageerror', (e) => {
      const line = `[page error] ${e.message}`;
      process.stderr.write(`${line}\n`);
      problems.push(line);
    });
    page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), resourceType: r.resourceType(), headers: r.headers() }));
    page.on('requestfailed', (r) => {
      const f = r.failure()?.errorText || '';
      // the client aborts its own long poll / EventSource on stop()
      if (f.includes('ERR_ABORTED')) return;
      const line = `[request failed] ${r.method()} ${r.url()} ${f}`;
      process.stderr.write(`${line}\n`);
      problems.push(line);
    });
    page.on('websocket', (ws) => websockets.push(ws.url()));
    page.on('response', (r) => {
      if (r.status() >= 400) {
        const line = `[response ${r.status()}] ${r.request().method()} ${r.url()}`;
        process.stderr.write(`${line}\n`);
        badResponses.push({ status: r.status(), method: r.request().method(), url: r.url(), at: Date.now() });
      }
    });
    await page.goto(`${pageServer.url}/`, { waitUntil: 'load' });
    assert.equal(await page.evaluate(() => typeof signalR), 'object', 'signalr.min.js did not load');
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await pageServer?.close();
    await fnServer?.close();
  });

  /**
   * On stop() the client's fire-and-forget close POST ({"type":7}) races its
   * long-polling DELETE; whichever the service handles second gets the 404
   * that signalr-protocol.md §4.4 calls harmless, and Chromium logs every 4xx
   * as "Failed to load resource". Tolerate (but print) exactly those.
   */
  function forgiveStopRace(svcUrl, since) {
    const late = badResponses.filter((r) => r.at >= since && r.status === 404
      && ['DELETE', 'POST'].includes(r.method) && r.url.startsWith(`${svcUrl}/client/?`));
    assert.ok(late.length <= 1, `more than one 404 during stop(): ${JSON.stringify(late)}`);
    for (const r of late) {
      const i = problems.findIndex((p) => p.includes('Failed to load resource: the server responded with a status of 404'));
      if (i >= 0) {
        problems.splice(i, 1);
        process.stderr.write(`[note] tolerated: ${r.method} ${r.url} -> 404 during stop() (close POST / DELETE race, §4.4)\n`);
      }
    }
  }

  function assertNoProblems(what) {
    const p = problems.splice(0);
    assert.deepEqual(p, [], `${what}: page console errors / failed requests`);
  }

  async function receive(name, hub) {
    const payload = `${name}-${uniq('p')}`;
    const r = await new Api(ctx.svc, hub).send({ target: 'msg', arguments: [payload, 42] });
    assert.equal(r.status, 202, show(r));
    await page.waitForFunction(([n, p]) => window.runs[n].received.some((m) => m[0] === p), [name, payload], { timeout: 5000 });
    return payload;
  }

  for (const transport of ['WebSockets', 'ServerSentEvents', 'LongPolling']) {
    it(`${transport}: connects cross-origin and receives REST broadcasts`, async () => {
      const { svc } = ctx;
      assert.notEqual(new URL(pageServer.url).origin, new URL(svc.url).origin);
      const hub = uniq(`br${transport.slice(0, 3).toLowerCase()}`);
      const token = clientToken(svc, { hub, userId: 'browser-user' });
      const reqStart = requests.length;
      const wsStart = websockets.length;
      await page.evaluate((u) => { document.getElementById('origin').textContent = `page origin: ${location.origin} · service: ${u}`; }, svc.url);
      const res = await page.evaluate((o) => window.startRun(o), {
        name: transport, url: `${svc.url}/client/?hub=${hub}`, token, transport,
      });
      assert.equal(res.error, undefined, `start() failed in the browser: ${res.error}\n${(res.log || []).join('\n')}`);
      assert.equal(res.transport, transport, JSON.stringify(res));
      assert.ok(res.connectionId, 'connectionId');
      await receive(transport, hub);
      await receive(transport, hub);

      // what the browser actually put on the wire
      const mine = requests.slice(reqStart).filter((r) => r.url.startsWith(svc.url));
      const neg = mine.filter((r) => r.method === 'POST' && r.url.includes('/client/negotiate?'));
      assert.equal(neg.length, 1, `one negotiate: ${JSON.stringify(mine.map((r) => `${r.method} ${r.url}`))}`);
      if (transport === 'WebSockets') {
        const ws = websockets.slice(wsStart);
        assert.equal(ws.length, 1, `one WebSocket: ${JSON.stringify(ws)}`);
        assert.match(ws[0], /^ws:\/\/127\.0\.0\.1:\d+\/client\/\?hub=.*&id=.*&access_token=/, ws[0]);
      } else if (transport === 'ServerSentEvents') {
        const es = mine.filter((r) => r.resourceType === 'eventsource');
        assert.equal(es.length, 1, `one EventSource request: ${JSON.stringify(mine.map((r) => `${r.method} ${r.resourceType} ${r.url}`))}`);
        assert.match(es[0].url, /access_token=/);
      } else {
        const polls = mine.filter((r) => r.method === 'GET' && /[?&]_=\d+/.test(r.url));
        assert.ok(polls.length >= 2, `long polls: ${JSON.stringify(mine.map((r) => `${r.method} ${r.url}`))}`);
        assert.ok(mine.some((r) => r.method === 'OPTIONS' || r.method === 'POST'), 'cross-origin POSTs');
      }
      const stopAt = Date.now();
      await page.evaluate((n) => window.stopRun(n), transport);
      await new Promise((r) => setTimeout(r, 300)); // late close POST / DELETE answers
      if (transport === 'LongPolling') forgiveStopRace(svc.url, stopAt);
      assert.equal(await page.evaluate((n) => window.runs[n].state, transport), 'Disconnected');
      assertNoProblems(transport);
    });
  }

  it('Functions-style negotiate redirect on a third origin (credentialed CORS), then the service', async () => {
    const { svc } = ctx;
    fnHub = uniq('brfn');
    fnToken = clientToken(svc, { hub: fnHub, userId: 'fn-user' });
    const before = fnServer.log.length;
    const res = await page.evaluate((o) => window.startRun(o), { name: 'Functions-redirect', url: `${fnServer.url}/api` });
    assert.equal(res.error, undefined, `start() via redirect failed: ${res.error}\n${(res.log || []).join('\n')}`);
    assert.equal(res.transport, 'WebSockets', JSON.stringify(res));
    const fnReqs = fnServer.log.slice(before);
    assert.ok(fnReqs.some((r) => r.method === 'POST' && r.url.startsWith('/api/negotiate?negotiateVersion=1')),
      `app negotiate not called: ${JSON.stringify(fnReqs.map((r) => `${r.method} ${r.url}`))}`);
    const post = fnReqs.find((r) => r.method === 'POST');
    assert.equal(post.headers.origin, pageServer.url, 'app negotiate is a cross-origin request');
    await receive('Functions-redirect', fnHub);
    // sending to the user of the redirect token reaches the browser too
    const r = await new Api(svc, fnHub).sendToUser('fn-user', { target: 'msg', arguments: ['to fn-user', 7] });
    assert.equal(r.status, 202, show(r));
    await page.waitForFunction(() => window.runs['Functions-redirect'].received.some((m) => m[0] === 'to fn-user'), null, { timeout: 5000 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.evaluate(() => window.stopRun('Functions-redirect'));
    assertNoProblems('Functions redirect');
  });
});
