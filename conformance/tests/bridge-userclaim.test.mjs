// hubcast-bridge negotiate with --user-claim: the user id comes from a claim
// of the negotiate request's bearer ID token (the Functions binding's
// {claims.x} pattern); explicit identity headers still win, and a malformed
// bearer token is refused rather than ignored.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from '../lib/index.mjs';
import { useBridge } from '../lib/bridge.mjs';

const ctx = useBridge({ args: ['--user-claim', 'preferred_username'] });

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const idToken = (claims) => `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.c2lnbmF0dXJl`;

async function negotiate(headers) {
  const r = await fetch(`${ctx.bridge.api}/negotiate`, { method: 'POST', headers });
  return { status: r.status, body: r.status === 200 ? await r.json() : null };
}

describe('negotiate user id from an ID token claim', () => {
  it('takes the configured claim as asrs.s.uid', async () => {
    const r = await negotiate({ authorization: `Bearer ${idToken({ sub: 'x1', preferred_username: 'ann@example.com' })}` });
    assert.equal(r.status, 200);
    assert.equal(decodeJwt(r.body.accessToken).payload['asrs.s.uid'], 'ann@example.com');
  });

  it('the user-id header wins over the claim; no claim means no user', async () => {
    let r = await negotiate({
      authorization: `Bearer ${idToken({ preferred_username: 'ann@example.com' })}`,
      'x-ms-signalr-userid': 'bob',
    });
    assert.equal(decodeJwt(r.body.accessToken).payload['asrs.s.uid'], 'bob');
    r = await negotiate({ authorization: `Bearer ${idToken({ sub: 'only-sub' })}` });
    assert.equal(r.status, 200);
    assert.equal(decodeJwt(r.body.accessToken).payload['asrs.s.uid'], undefined);
  });

  it('a malformed bearer token is refused', async () => {
    const r = await negotiate({ authorization: 'Bearer not-a-jwt' });
    assert.equal(r.status, 401);
  });
});
