// JWT helpers (node:crypto only). Keys are used as UTF-8 strings, like the
// Azure SignalR SDKs do.

import { createHmac, randomBytes } from 'node:crypto';

export function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

export function b64urlJson(obj) {
  return b64url(Buffer.from(JSON.stringify(obj), 'utf8'));
}

const HMAC = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

/**
 * Sign a JWT. alg 'none' produces an unsigned token (empty signature).
 * @param {object} payload
 * @param {string} key
 * @param {{alg?: string, kid?: string|null, header?: object}} opts
 */
export function signJwt(payload, key, opts = {}) {
  const alg = opts.alg || 'HS256';
  const header = { alg, typ: 'JWT', ...(opts.kid === null ? {} : { kid: opts.kid || b64url(randomBytes(8)) }), ...(opts.header || {}) };
  const signingInput = `${b64urlJson(header)}.${b64urlJson(payload)}`;
  if (alg === 'none') return `${signingInput}.`;
  const h = HMAC[alg];
  if (!h) throw new Error(`unsupported alg ${alg}`);
  const sig = createHmac(h, Buffer.from(key, 'utf8')).update(signingInput).digest();
  return `${signingInput}.${b64url(sig)}`;
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

export function now() {
  return Math.floor(Date.now() / 1000);
}

/** URL with the port removed (what the Management SDK puts in `aud`). */
export function withoutPort(url) {
  const u = new URL(url);
  u.port = '';
  return u.toString();
}

/**
 * Client token as produced by the Management SDK / Functions binding:
 * aud = `http://127.0.0.1/client/?hub=h` (no port), user id in `asrs.s.uid`.
 *
 * @param {import('./service.mjs').Service|{url:string,key:string}} svc
 * @param {{hub: string, userId?: string, uidClaim?: string, aud?: string,
 *          lifetime?: number, exp?: number, nbf?: number, claims?: object,
 *          key?: string, alg?: string}} o
 */
export function clientToken(svc, o) {
  const base = new URL(svc.url);
  const aud = o.aud ?? `${base.protocol}//${base.hostname}/client/?hub=${o.hub.toLowerCase()}`;
  const iat = now();
  const payload = { aud, iat, nbf: o.nbf ?? iat, exp: o.exp ?? iat + (o.lifetime ?? 3600) };
  if (o.userId !== undefined && o.userId !== null) payload[o.uidClaim || 'asrs.s.uid'] = o.userId;
  Object.assign(payload, o.claims || {});
  return signJwt(payload, o.key ?? svc.key, { alg: o.alg });
}

/**
 * REST token. Audience styles (azure-signalr-service.md §1.1):
 *  - 'sdk2022' (default): request URL without port, query kept minus
 *    excluded/ttl/reason (Management SDK ≤2024, api-version=2022-06-01)
 *  - 'sdk2024': request URL without query, with port
 *  - 'v1': request URL without query and without port (hand-written / legacy)
 *  - 'none': no aud claim at all is NOT used by SDKs; available for probing
 */
export function restAudience(requestUrl, style = 'sdk2022') {
  const u = new URL(requestUrl);
  switch (style) {
    case 'sdk2022': {
      u.port = '';
      for (const k of ['excluded', 'ttl', 'reason']) u.searchParams.delete(k);
      return u.toString();
    }
    case 'sdk2024':
      u.search = '';
      return u.toString();
    case 'v1':
      u.search = '';
      u.port = '';
      return u.toString();
    default:
      throw new Error(`unknown audience style ${style}`);
  }
}

export function restToken(svc, requestUrl, o = {}) {
  const iat = now();
  const payload = {
    aud: o.aud ?? restAudience(requestUrl, o.style),
    iat,
    nbf: o.nbf ?? iat,
    exp: o.exp ?? iat + (o.lifetime ?? 3600),
    ...(o.claims || {}),
  };
  return signJwt(payload, o.key ?? svc.key, { alg: o.alg });
}
