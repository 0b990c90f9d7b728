// REST data-plane helpers built on plain fetch, plus a raw node:http helper
// for requests fetch cannot express (Origin/preflight headers, upgrades).

import http from 'node:http';
import { restToken } from './tokens.mjs';

export const API_VERSION = '2022-06-01';
export const enc = encodeURIComponent;

/**
 * Build a URL: query is an object (array values repeat the key) or a list of
 * [key, value] pairs.
 */
export function buildUrl(base, path, query) {
  const u = new URL(path, base);
  if (query) {
    const entries = Array.isArray(query) ? query : Object.entries(query);
    for (const [k, v] of entries) {
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, String(x));
      else u.searchParams.append(k, String(v));
    }
  }
  return u.toString();
}

/**
 * One REST call with fetch.
 * opts: query, json (object → JSON body), body (raw) + contentType, token
 * (string, or false for no Authorization), style (audience style), headers.
 * Returns {status, headers, text, json, url, method}.
 */
export async function rest(svc, method, path, opts = {}) {
  const url = buildUrl(svc.url, path, opts.query);
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== false) {
    const tok = opts.token ?? restToken(svc, url, { style: opts.style, key: opts.key });
    headers.authorization = `Bearer ${tok}`;
  }
  let body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = opts.contentType || 'application/json';
  } else if (opts.body !== undefined) {
    body = opts.body;
    if (opts.contentType) headers['content-type'] = opts.contentType;
  }
  const res = await fetch(url, {
    method,
    headers,
    body,
    duplex: body instanceof ReadableStream ? 'half' : undefined,
    redirect: 'manual',
    signal: AbortSignal.timeout(opts.timeout ?? 10_000),
  });
  const text = method === 'HEAD' ? '' : await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json, url, method };
}

/** Human-readable request/response summary for assertion messages. */
export function show(r) {
  const code = r.headers.get('x-ms-error-code');
  return `${r.method} ${r.url} -> ${r.status}${code ? ` [x-ms-error-code: ${code}]` : ''}${r.text ? ` body: ${r.text.slice(0, 300)}` : ''}`;
}

/**
 * Typed access to the §4.3 endpoints in one of two flavours:
 *   'new' → /api/hubs/{hub}/…?api-version=2022-06-01
 *   'v1'  → /api/v1/hubs/{hub}/…
 * Each method returns the rest() result. `expected` holds the documented
 * success status of each operation in this flavour.
 */
export class Api {
  constructor(svc, hub, flavor = 'new', o = {}) {
    this.svc = svc;
    this.hub = hub;
    this.flavor = flavor;
    this.style = o.style;
    this.apiVersion = o.apiVersion || API_VERSION;
    this.prefix = flavor === 'v1' ? `/api/v1/hubs/${enc(hub)}` : `/api/hubs/${enc(hub)}`;
    const v1 = flavor === 'v1';
    this.expected = {
      send: 202,
      addConnectionToGroup: 200,
      removeConnectionFromGroup: 200,
      leaveAllGroups: 200,
      addUserToGroup: v1 ? 202 : 200,
      removeUserFromGroup: v1 ? 202 : 204,
      removeUserFromAllGroups: v1 ? 200 : 204,
      exists: 200,
      closeConnection: v1 ? 202 : 200,
      closeConnections: 204,
      generateToken: 200,
    };
  }

  call(method, sub, opts = {}) {
    const query = [];
    if (this.flavor !== 'v1') query.push(['api-version', opts.apiVersion || this.apiVersion]);
    if (opts.query) {
      const entries = Array.isArray(opts.query) ? opts.query : Object.entries(opts.query);
      for (const [k, v] of entries) {
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) for (const x of v) query.push([k, x]);
        else query.push([k, v]);
      }
    }
    return rest(this.svc, method, this.prefix + sub, { style: this.style, ...opts, query });
  }

  #sendPath(kind) {
    // kind: '' (broadcast), '/users/u', '/groups/g', '/connections/c'
    return this.flavor === 'v1' ? kind : `${kind}/:send`;
  }

  send(payload, o = {}) {
    return this.call('POST', this.#sendPath(''), { json: payload, query: { excluded: o.excluded }, ...o.req });
  }
  sendToUser(user, payload, o = {}) {
    return this.call('POST', this.#sendPath(`/users/${enc(user)}`), { json: payload, ...o.req });
  }
  sendToGroup(group, payload, o = {}) {
    return this.call('POST', this.#sendPath(`/groups/${enc(group)}`), { json: payload, query: { excluded: o.excluded }, ...o.req });
  }
  sendToConnection(id, payload, o = {}) {
    return this.call('POST', this.#sendPath(`/connections/${enc(id)}`), { json: payload, ...o.req });
  }

  // order: 'group-first' → groups/{g}/connections/{id}; 'connection-first' → connections/{id}/groups/{g}
  addConnectionToGroup(group, id, order = 'group-first') {
    return this.call('PUT', membershipPath('groups', group, 'connections', id, order));
  }
  removeConnectionFromGroup(group, id, order = 'group-first') {
    return this.call('DELETE', membershipPath('groups', group, 'connections', id, order));
  }
  leaveAllGroups(id) {
    return this.call('DELETE', `/connections/${enc(id)}/groups`);
  }

  // New style: users/{u}/groups/{g}; v1: groups/{g}/users/{u}. order overrides.
  #userGroupPath(user, group, order) {
    const o = order || (this.flavor === 'v1' ? 'group-first' : 'user-first');
    return o === 'group-first'
      ? `/groups/${enc(group)}/users/${enc(user)}`
      : `/users/${enc(user)}/groups/${enc(group)}`;
  }
  addUserToGroup(user, group, o = {}) {
    return this.call('PUT', this.#userGroupPath(user, group, o.order), { query: { ttl: o.ttl } });
  }
  removeUserFromGroup(user, group, o = {}) {
    return this.call('DELETE', this.#userGroupPath(user, group, o.order));
  }
  removeUserFromAllGroups(user) {
    return this.call('DELETE', `/users/${enc(user)}/groups`);
  }
  userInGroup(user, group, method = 'HEAD', o = {}) {
    return this.call(method, this.#userGroupPath(user, group, o.order));
  }

  connectionExists(id, method = 'HEAD') {
    return this.call(method, `/connections/${enc(id)}`);
  }
  userExists(user, method = 'HEAD') {
    return this.call(method, `/users/${enc(user)}`);
  }
  groupExists(group, method = 'HEAD') {
    return this.call(method, `/groups/${enc(group)}`);
  }

  closeConnection(id, o = {}) {
    return this.call('DELETE', `/connections/${enc(id)}`, { query: { reason: o.reason } });
  }
  closeAll(o = {}) {
    return this.call('POST', '/:closeConnections', { query: { excluded: o.excluded, reason: o.reason } });
  }
  closeGroup(group, o = {}) {
    return this.call('POST', `/groups/${enc(group)}/:closeConnections`, { query: { excluded: o.excluded, reason: o.reason } });
  }
  closeUser(user, o = {}) {
    return this.call('POST', `/users/${enc(user)}/:closeConnections`, { query: { excluded: o.excluded, reason: o.reason } });
  }

  generateToken(o = {}) {
    return this.call('POST', '/:generateToken', {
      apiVersion: o.apiVersion || '2022-11-01',
      query: { userId: o.userId, minutesToExpire: o.minutesToExpire },
    });
  }
}

function membershipPath(aName, a, bName, b, order) {
  return order === 'connection-first'
    ? `/${bName}/${enc(b)}/${aName}/${enc(a)}`
    : `/${aName}/${enc(a)}/${bName}/${enc(b)}`;
}

/**
 * Raw HTTP request with node:http (full control over headers).
 * Resolves {status, headers (lower-cased object), body (string)}.
 */
export function rawRequest(url, { method = 'GET', headers = {}, body, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode,
        headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * Open a WebSocket upgrade and keep the socket: resolves {status, upgraded,
 * socket (if upgraded), headers, data: Buffer[] (bytes received after the
 * upgrade), closed: Promise}. Caller must destroy the socket.
 */
export function openUpgrade(url, headers = {}, timeout = 10_000) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('hubcast-conform!').toString('base64'),
        ...headers,
      },
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`timeout: upgrade ${url}`)));
    req.on('upgrade', (res, socket, head) => {
      socket.setTimeout(0);
      const data = head && head.length ? [head] : [];
      socket.on('data', (d) => data.push(d));
      socket.on('error', () => {});
      const closed = new Promise((r) => socket.once('close', r));
      resolve({ status: res.statusCode, upgraded: true, socket, headers: res.headers, data, closed });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode, upgraded: false, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Masked client WebSocket text frame (small payloads, < 126 bytes). */
export function wsTextFrame(text) {
  const payload = Buffer.from(text, 'utf8');
  if (payload.length >= 126) throw new Error('wsTextFrame: payload too long');
  const mask = Buffer.from([1, 2, 3, 4]);
  const out = Buffer.alloc(2 + 4 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ mask[i % 4];
  return out;
}

/**
 * Attempt a WebSocket upgrade; resolves {status, upgraded}. Closes the socket
 * immediately if the upgrade succeeded.
 */
export function tryUpgrade(url, headers = {}, timeout = 10_000) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      agent: false,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': Buffer.from('hubcast-conform!').toString('base64'),
        ...headers,
      },
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`timeout: upgrade ${url}`)));
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, upgraded: true, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode, upgraded: false, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}
