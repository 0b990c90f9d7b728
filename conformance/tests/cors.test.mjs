// CORS on the client endpoints (signalr-protocol.md §12, azure-signalr-service.md §3):
// browsers preflight negotiate/POST/DELETE without a token and need the
// request's Origin echoed with credentials allowed.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useService, uniq, clientToken, rawRequest } from '../lib/index.mjs';

const ctx = useService();
const ORIGIN = 'http://app.example.test:3000';
const REQ_HEADERS = 'authorization,x-requested-with,x-signalr-user-agent';

function fmt(r) {
  return `${r.status} ${JSON.stringify(r.headers)}`;
}

function assertCors(r) {
  assert.equal(r.headers['access-control-allow-origin'], ORIGIN, `ACAO must echo the Origin: ${fmt(r)}`);
  assert.equal(r.headers['access-control-allow-credentials'], 'true', `ACAC: ${fmt(r)}`);
}

function assertAllowsHeaders(r, wanted) {
  const allowed = (r.headers['access-control-allow-headers'] || '').toLowerCase().split(',').map((s) => s.trim());
  for (const h of wanted.split(',')) {
    assert.ok(allowed.includes(h) || allowed.includes('*'), `Access-Control-Allow-Headers lacks ${h}: ${fmt(r)}`);
  }
}

function assertAllowsMethod(r, m) {
  const allowed = (r.headers['access-control-allow-methods'] || '').toUpperCase().split(',').map((s) => s.trim());
  assert.ok(allowed.includes(m) || allowed.includes('*'), `Access-Control-Allow-Methods lacks ${m}: ${fmt(r)}`);
}

describe('CORS', () => {
  it('preflight OPTIONS /client/negotiate without a token -> 2xx, echoes origin, allows credentials and headers', async () => {
    const { svc } = ctx;
    const hub = uniq('cors');
    const r = await rawRequest(`${svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': REQ_HEADERS },
    });
    assert.ok(r.status >= 200 && r.status < 300, `preflight status: ${fmt(r)}`);
    assertCors(r);
    assertAllowsHeaders(r, REQ_HEADERS);
    assertAllowsMethod(r, 'POST');
  });

  it('preflight for a long-polling DELETE / POST on /client/?hub=&id= -> 2xx with CORS headers', async () => {
    const { svc } = ctx;
    const hub = uniq('cors');
    for (const m of ['DELETE', 'POST', 'GET']) {
      const r = await rawRequest(`${svc.url}/client/?hub=${hub}&id=whatever0000000000000`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': m, 'access-control-request-headers': `${REQ_HEADERS},content-type` },
      });
      assert.ok(r.status >= 200 && r.status < 300, `preflight ${m} status: ${fmt(r)}`);
      assertCors(r);
      assertAllowsMethod(r, m);
      assertAllowsHeaders(r, `${REQ_HEADERS},content-type`);
    }
  });

  it('actual negotiate with Origin carries ACAO = origin and ACAC = true', async () => {
    const { svc } = ctx;
    const hub = uniq('cors');
    const r = await rawRequest(`${svc.url}/client/negotiate?hub=${hub}&negotiateVersion=1`, {
      method: 'POST',
      headers: {
        origin: ORIGIN, authorization: `Bearer ${clientToken(svc, { hub })}`, 'x-requested-with': 'XMLHttpRequest', 'content-length': '0',
      },
      body: '',
    });
    assert.equal(r.status, 200, fmt(r));
    assertCors(r);
    assert.ok(JSON.parse(r.body).connectionId);
    const vary = (r.headers.vary || '').toLowerCase();
    assert.ok(vary.includes('origin') || vary === '*', `Vary should include Origin: ${fmt(r)}`);
  });

  it('ACAO is never the wildcard "*" on /client/ (browsers send credentials)', async () => {
    const { svc } = ctx;
    const r = await rawRequest(`${svc.url}/client/negotiate?hub=${uniq('cors')}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://other.example', 'access-control-request-method': 'POST' },
    });
    assert.notEqual(r.headers['access-control-allow-origin'], '*');
  });
});
