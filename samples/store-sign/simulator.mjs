// Door-counter simulator for the store-sign sample: each door is an IoT
// device that sends {"store","entries","exits"} every second through the IoT
// Hub device HTTPS API of hubcast-bridge, with a SAS token signed by its key
// from devices.json (the same bytes the azure-iot-device SDK sends). No npm
// packages needed.
//
//   node simulator.mjs [http://127.0.0.1:7071] [interval-ms]

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

const base = (process.argv[2] || 'http://127.0.0.1:7071').replace(/\/+$/, '');
const intervalMs = Number(process.argv[3] || 1000);
const { devices } = JSON.parse(readFileSync(new URL('./devices.json', import.meta.url)));
const inside = new Map(); // store -> simulated people inside

function sas(deviceId, key) {
  const sr = encodeURIComponent(`localhost/devices/${deviceId}`);
  const se = Math.floor(Date.now() / 1000) + 3600;
  const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

async function tick(d) {
  const store = d.deviceId.split('-')[1];
  const now = inside.get(store) || 0;
  const hour = (Date.now() / 20_000) % (2 * Math.PI);       // a "day" every two minutes
  const busy = 1 + Math.sin(hour);
  const entries = Math.floor(Math.random() * 3 * busy);
  const exits = Math.min(now + entries, Math.floor(Math.random() * 3 * (2 - busy)));
  inside.set(store, now + entries - exits);
  const r = await fetch(`${base}/devices/${d.deviceId}/messages/events?api-version=2021-04-12`, {
    method: 'POST',
    headers: { authorization: sas(d.deviceId, d.primaryKey), 'iothub-contenttype': 'application/json',
      'iothub-contentencoding': 'utf-8', 'iothub-app-kind': 'door-counter' },
    body: JSON.stringify({ store, entries, exits }),
  });
  if (r.status !== 204) console.error(`simulator: ${d.deviceId}: HTTP ${r.status} ${await r.text()}`);
}

console.log(`simulator: ${devices.length} door counters -> ${base} every ${intervalMs} ms`);
setInterval(() => {
  for (const d of devices) tick(d).catch((e) => console.error(`simulator: ${d.deviceId}: ${e.message}`));
}, intervalMs);
