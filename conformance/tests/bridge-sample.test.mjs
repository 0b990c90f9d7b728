// The store-sign sample in headless Chromium: the bridge serves the page
// (--static) with the browser build of @microsoft/signalr, runs the sample's
// C plugin, and the sign shows the occupancy change as door counters send
// telemetry through the device HTTPS API. Screenshot: /tmp/store-sign.png.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { CONFORMANCE_DIR } from '../lib/index.mjs';
import { useBridge, storeSignPlugin, deviceSas } from '../lib/bridge.mjs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const sample = resolve(CONFORMANCE_DIR, '..', 'samples', 'store-sign');
const www = mkdtempSync(join(tmpdir(), 'hcb-www-'));
cpSync(join(sample, 'web'), www, { recursive: true });
cpSync(join(CONFORMANCE_DIR, 'node_modules/@microsoft/signalr/dist/browser/signalr.min.js'), join(www, 'signalr.min.js'));
process.on('exit', () => rmSync(www, { recursive: true, force: true }));
const { devices } = JSON.parse(readFileSync(join(sample, 'devices.json')));

const ctx = useBridge({
  hub: 'store',
  args: ['--transform', storeSignPlugin(), '--static', www, '--device-registry', join(sample, 'devices.json')],
});

async function door(deviceId, body) {
  const key = devices.find((d) => d.deviceId === deviceId).primaryKey;
  const r = await fetch(`${ctx.bridge.url}/devices/${deviceId}/messages/events?api-version=2021-04-12`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { authorization: deviceSas(`localhost/devices/${deviceId}`, key), 'iothub-contenttype': 'application/json' },
  });
  assert.equal(r.status, 204);
}

describe('store-sign sample in Chromium', () => {
  it('the sign shows the live count change; the chart page draws', async (t) => {
    if (!existsSync('/usr/bin/chromium')) { t.skip('no /usr/bin/chromium'); return; }
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'] });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${ctx.bridge.url}/?store=s1&capacity=6`);
      await page.waitForFunction(() => document.getElementById('count').textContent === '0', null, { timeout: 8000 });
      await door('door-s1-a', { store: 's1', entries: 4, exits: 0 });
      await page.waitForFunction(() => document.getElementById('count').textContent === '4', null, { timeout: 5000 });
      await door('door-s1-b', { store: 's1', entries: 3, exits: 1 });
      await door('door-s2-a', { store: 's2', entries: 9, exits: 0 }); // another store: not shown here
      await page.waitForFunction(() => document.getElementById('count').textContent === '6', null, { timeout: 5000 });
      assert.equal(await page.$eval('#count', (e) => e.className), 'full');
      assert.match(await page.textContent('#detail'), /7 in · 1 out/);
      await page.screenshot({ path: '/tmp/store-sign.png' });

      const chart = await browser.newPage({ viewport: { width: 900, height: 500 } });
      await chart.goto(`${ctx.bridge.url}/chart.html`);
      await chart.waitForFunction(() => /s1: 6/.test(document.getElementById('legend').textContent) &&
        /s2: 9/.test(document.getElementById('legend').textContent), null, { timeout: 8000 });
      await door('door-s2-a', { store: 's2', entries: 0, exits: 4 });
      await chart.waitForFunction(() => /s2: 5/.test(document.getElementById('legend').textContent), null, { timeout: 5000 });
      await chart.screenshot({ path: '/tmp/store-sign-chart.png' });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
