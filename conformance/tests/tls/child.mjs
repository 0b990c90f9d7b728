// Run by tls.test.mjs with NODE_EXTRA_CA_CERTS pointing at the test CA.
// argv: cert key. Prints one JSON line per check: {check, ok, detail}.

import { startService } from '../../lib/service.mjs';
import { connect, stopAllClients, uniq, signalR } from '../../lib/client.mjs';
import { Api } from '../../lib/rest.mjs';
import net from 'node:net';

const [cert, key] = process.argv.slice(2);
const report = (check, ok, detail = '') => process.stdout.write(`${JSON.stringify({ check, ok, detail })}\n`);
const T = signalR.HttpTransportType;

const svc = await startService({ args: ['--tls-cert', cert, '--tls-key', key] });
let failed = false;
const check = async (name, fn) => {
  try {
    const d = await fn();
    report(name, true, d ?? '');
  } catch (e) {
    failed = true;
    report(name, false, String(e?.stack || e));
  }
};
await check('connection string', () => {
  if (!/^Endpoint=https:\/\/127\.0\.0\.1;Port=\d+;/.test(svc.connectionString)) throw new Error(svc.connectionString);
  return svc.connectionString.replace(/AccessKey=[^;]*/, 'AccessKey=…');
});
await check('health', async () => {
  const r = await fetch(`${svc.url}/api/health`);
  if (r.status !== 200) throw new Error(`status ${r.status}`);
});
for (const [name, transport] of [['WebSockets', T.WebSockets], ['ServerSentEvents', T.ServerSentEvents], ['LongPolling', T.LongPolling]]) {
  await check(name, async () => {
    const hub = uniq('tls');
    const c = await connect(svc, { hub, userId: 'u', transport });
    const api = new Api(svc, hub);
    const r = await api.send({ target: 'msg', arguments: [name] });
    if (r.status !== 202) throw new Error(`REST send ${r.status}`);
    await c.waitFor('msg', (x) => x === name, 8000);
    await c.stop();
  });
}
await check('REST', async () => {
  const api = new Api(svc, 'tlsrest');
  const r = await api.call('HEAD', '/users/nobody');
  if (r.status !== 404) throw new Error(`status ${r.status}`);
});
await check('plain http refused', async () => {
  // A cleartext request on the TLS port gets no HTTP answer.
  const text = await new Promise((res) => {
    const s = net.connect(svc.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => res(got));
    s.setTimeout(2000, () => { s.destroy(); });
    s.write('GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  if (/^HTTP\/1\.1 200/.test(text)) throw new Error('answered in cleartext');
});
await stopAllClients();
const r = await svc.stop();
const out = svc.output.join('');
await check('clean exit', () => {
  if (r.code !== 0) throw new Error(`exit ${r.code} ${r.signal}`);
  const san = out.match(/(ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:)[^\n]*/);
  if (san) throw new Error(san[0]);
  if (/AccessKey=|eyJ[A-Za-z0-9_-]{10,}\./.test(out.replace(/^Endpoint=.*$/m, ''))) throw new Error('a secret appears in the log');
});
process.exit(failed ? 1 : 0);
