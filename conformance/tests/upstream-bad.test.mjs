// Bad upstreams (issue 8 bad-input catalogue, cases U1-U5): an upstream that
// answers garbage, binary junk, a Completion for another invocation, or
// never answers. Each invocation completes with an error for its caller
// only; the connection survives; other connections are unaffected.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { useService, connect, uniq, isExternal, signalR } from '../lib/index.mjs';
import { startRecorder, settingsDir, framedCompletion } from '../lib/upstream.mjs';

const rec = await startRecorder((call) => {
  const id = call.json?.invocationId;
  switch (call.event) {
    case 'html': return { status: 200, body: '<html><body>502 Bad Gateway</body></html>', headers: { 'content-type': 'text/html' } };
    case 'binary': return { status: 200, body: Buffer.from([0xff, 0xfe, 0x00, 0x1e, 0x80, 0x1e]) };
    case 'otherid': return { body: framedCompletion(`${id}-not-mine`, { result: 1 }) };
    case 'hang': return { delayMs: 4000, body: framedCompletion(id, { result: 'too late' }) };
    case 'ok': return { body: framedCompletion(id, { result: 'ok' }) };
    default: return { status: 200 };
  }
});
const settings = settingsDir('hubcast-upbad-');
settings.write([
  { UrlTemplate: `${rec.url}/api/{hub}/{category}/{event}`, HubPattern: '*', CategoryPattern: 'messages', EventPattern: 'html,binary,otherid,hang,ok' },
]);
const ctx = useService({ args: ['-c', settings.dir, '--upstream-timeout', '2'] });
after(async () => { await rec.close(); settings.remove(); });

describe('upstream returning garbage or hanging', { skip: isExternal() }, () => {
  const CASES = [
    ['U1 200 with an HTML page', 'html', /Invocation failed, invalid response from upstream\./],
    ['U2 200 with binary junk and record separators', 'binary', /Invocation failed/],
    ['U3 a framed Completion for another invocation id', 'otherid', /Invocation failed/],
  ];
  for (const [name, method, re] of CASES) {
    it(`${name} -> invoke() rejects with an error; the connection survives`, async () => {
      const c = await connect(ctx.svc, { hub: uniq('ub') });
      await assert.rejects(c.conn.invoke(method), re);
      assert.equal(c.state, signalR.HubConnectionState.Connected);
      assert.equal(await c.conn.invoke('ok'), 'ok');
    });
  }
  it('U4 an upstream that never answers -> error after --upstream-timeout (2 s); another connection is served meanwhile', async () => {
    const hub = uniq('uh');
    const slow = await connect(ctx.svc, { hub });
    const other = await connect(ctx.svc, { hub });
    const t0 = Date.now();
    const p = assert.rejects(slow.conn.invoke('hang'), /Invocation failed/);
    assert.equal(await other.conn.invoke('ok'), 'ok');
    await p;
    const ms = Date.now() - t0;
    assert.ok(ms >= 1500 && ms < 10_000, `failed after ${ms} ms`);
    assert.equal(slow.state, signalR.HubConnectionState.Connected);
  });
});
