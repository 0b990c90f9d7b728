// Opens connections with the real, unmodified @microsoft/signalr client and
// collects what they receive, with awaitable (bounded) waits.
//
//   HUBCAST_TRANSPORT = WebSockets (default) | ServerSentEvents | LongPolling
//                       (also ws | sse | lp)

import * as signalR from '@microsoft/signalr';
import { clientToken } from './tokens.mjs';
import { DEBUG } from './service.mjs';

export { signalR };

export const DEFAULT_WAIT_MS = 3_000;

const TRANSPORTS = {
  websockets: signalR.HttpTransportType.WebSockets,
  ws: signalR.HttpTransportType.WebSockets,
  serversentevents: signalR.HttpTransportType.ServerSentEvents,
  sse: signalR.HttpTransportType.ServerSentEvents,
  longpolling: signalR.HttpTransportType.LongPolling,
  lp: signalR.HttpTransportType.LongPolling,
};

export function transportFromName(name) {
  const t = TRANSPORTS[String(name).toLowerCase()];
  if (t === undefined) throw new Error(`unknown transport ${name}`);
  return t;
}

/** Transport used by the suites unless a test asks for another one. */
export const DEFAULT_TRANSPORT = transportFromName(process.env.HUBCAST_TRANSPORT || 'WebSockets');

let seq = 0;
/** Unique, URL-safe name for hubs, users, groups. Hubs must start with a letter. */
export function uniq(prefix = 'x') {
  seq += 1;
  return `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${seq}`;
}

const live = new Set();

/** Stop every client opened through connect()/build() that is still open. */
export async function stopAllClients() {
  const all = [...live];
  live.clear();
  await Promise.allSettled(all.map((c) => c.conn.stop()));
}

class CollectingLogger {
  constructor(name) {
    this.name = name;
    this.entries = [];
  }
  log(level, message) {
    this.entries.push({ level, message, at: Date.now() });
    if (DEBUG && level >= signalR.LogLevel.Debug) {
      process.stderr.write(`[client ${this.name}] ${signalR.LogLevel[level]}: ${message}\n`);
    }
  }
  has(re) {
    return this.entries.some((e) => (typeof re === 'string' ? e.message.includes(re) : re.test(e.message)));
  }
}

export class TestClient {
  constructor(conn, logger, meta) {
    this.conn = conn;
    this.logger = logger;
    this.hub = meta.hub;
    this.userId = meta.userId;
    this.name = meta.name;
    this.received = []; // {target, args, at}
    this.waiters = [];
    this.handlers = new Set();
    this.closeCalled = false;
    this.closeError = undefined;
    this.closed = new Promise((res) => {
      conn.onclose((err) => {
        this.closeCalled = true;
        this.closeError = err;
        live.delete(this);
        res(err);
        this.#check();
      });
    });
    this.reconnecting = new Promise((res) => conn.onreconnecting((err) => res(err ?? null)));
    for (const t of meta.targets) this.listen(t);
  }

  get id() {
    return this.conn.connectionId;
  }

  get state() {
    return this.conn.state;
  }

  /** Register a collecting handler for a target (case-insensitive in the client). */
  listen(target) {
    const key = target.toLowerCase();
    if (this.handlers.has(key)) return this;
    this.handlers.add(key);
    this.conn.on(target, (...args) => {
      this.received.push({ target: key, args, at: Date.now() });
      this.#check();
    });
    return this;
  }

  messages(target) {
    const key = target.toLowerCase();
    return this.received.filter((m) => m.target === key);
  }

  #check() {
    for (const w of [...this.waiters]) {
      if (w.test()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(w.value());
      }
    }
  }

  #wait(test, value, what, timeout) {
    if (test()) return Promise.resolve(value());
    return new Promise((resolve, reject) => {
      const w = { test, value, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const got = this.received.map((m) => `${m.target}(${JSON.stringify(m.args).slice(0, 80)})`).slice(-10);
        reject(new Error(`client ${this.name} (${this.id}): timed out after ${timeout} ms waiting for ${what}; ` +
          `state=${this.conn.state}, closeError=${this.closeError?.message}; last received: [${got.join(', ')}]`));
      }, timeout);
      this.waiters.push(w);
    });
  }

  /** Resolve with the args of the first `target` message matching pred. */
  waitFor(target, pred = () => true, timeout = DEFAULT_WAIT_MS) {
    const key = target.toLowerCase();
    this.listen(target);
    const find = () => this.received.find((m) => m.target === key && pred(...m.args));
    return this.#wait(() => !!find(), () => find().args, `'${target}' message`, timeout);
  }

  /** Resolve with the list of `target` messages once there are at least n. */
  waitCount(target, n, timeout = DEFAULT_WAIT_MS) {
    this.listen(target);
    return this.#wait(() => this.messages(target).length >= n, () => this.messages(target),
      `${n} '${target}' messages (have ${this.messages(target).length})`, timeout);
  }

  /** Resolve with the onclose error (may be undefined) once the client closed. */
  waitClosed(timeout = DEFAULT_WAIT_MS) {
    return this.#wait(() => this.closeCalled, () => this.closeError, 'onclose', timeout);
  }

  stop() {
    live.delete(this);
    return this.conn.stop();
  }
}

/**
 * Build (but do not start) a HubConnection.
 * o: hub, userId, uidClaim, token | accessTokenFactory (default: SDK-style
 * client token), url (default svc.url + /client/?hub=hub), transport,
 * autoReconnect (array of delays or true), targets (handlers to register
 * before start), skipNegotiation, headers, httpClient, keepAliveMs,
 * serverTimeoutMs, name.
 */
export function build(svc, o = {}) {
  const hub = o.hub || uniq('hub');
  const url = o.url || `${svc.url}/client/?hub=${encodeURIComponent(hub)}`;
  let factory = o.accessTokenFactory;
  if (!factory && o.token !== false) {
    const tok = o.token || clientToken(svc, { hub, userId: o.userId, uidClaim: o.uidClaim });
    factory = () => tok;
  }
  const name = o.name || `${hub}${o.userId ? `/${o.userId}` : ''}`;
  const logger = new CollectingLogger(name);
  const httpOptions = {
    transport: o.transport ?? DEFAULT_TRANSPORT,
    logger,
    logMessageContent: DEBUG,
    timeout: 10_000,
  };
  if (factory) httpOptions.accessTokenFactory = factory;
  if (o.skipNegotiation) httpOptions.skipNegotiation = true;
  if (o.headers) httpOptions.headers = o.headers;
  if (o.httpClient) httpOptions.httpClient = o.httpClient;
  let b = new signalR.HubConnectionBuilder().withUrl(url, httpOptions).configureLogging(logger);
  if (o.autoReconnect) b = b.withAutomaticReconnect(Array.isArray(o.autoReconnect) ? o.autoReconnect : undefined);
  const conn = b.build();
  if (o.keepAliveMs) conn.keepAliveIntervalInMilliseconds = o.keepAliveMs;
  if (o.serverTimeoutMs) conn.serverTimeoutInMilliseconds = o.serverTimeoutMs;
  const client = new TestClient(conn, logger, {
    hub, userId: o.userId, name, targets: ['msg', '__barrier', ...(o.targets || [])],
  });
  live.add(client);
  return client;
}

/** Build and start; rejects if start() fails. */
export async function connect(svc, o = {}) {
  const c = build(svc, o);
  try {
    await c.conn.start();
  } catch (e) {
    live.delete(c);
    throw e;
  }
  if (c.conn.state !== signalR.HubConnectionState.Connected) {
    throw new Error(`client ${c.name} not connected after start(): ${c.conn.state}`);
  }
  return c;
}

let barrierSeq = 0;
/**
 * Per-connection ordering barrier: send a unique '__barrier' message to the
 * connection through REST and wait for it. Because the service delivers in
 * request order per connection, everything sent to this connection before the
 * barrier has arrived once it resolves — this replaces fixed sleeps for
 * "must NOT receive" assertions.
 */
export async function barrier(api, client, timeout = DEFAULT_WAIT_MS) {
  barrierSeq += 1;
  const nonce = `b${barrierSeq}-${Date.now()}`;
  const r = await api.sendToConnection(client.id, { target: '__barrier', arguments: [nonce] });
  if (r.status !== 202) throw new Error(`barrier send failed: ${r.status} ${r.text}`);
  await client.waitFor('__barrier', (n) => n === nonce, timeout);
}

/** Poll an async predicate until true (bounded); for server-side state with no client-visible event. */
export async function eventually(fn, { timeout = DEFAULT_WAIT_MS, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last === true || (last && last.ok)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Race a promise against a bounded timeout (timer always cleared). */
export async function withTimeout(promise, ms, what) {
  let t;
  try {
    return await Promise.race([
      promise,
      new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
    ]);
  } finally {
    clearTimeout(t);
  }
}
