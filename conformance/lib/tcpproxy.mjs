// A TCP proxy between a client and the service that a test can cut: every
// open connection is destroyed at once (no WebSocket Close frame, no FIN
// handshake on the client side), the way a network drop looks. New
// connections are accepted again afterwards unless refuse(true) was set.

import net from 'node:net';

export class TcpProxy {
  constructor(targetUrl) {
    const t = new URL(targetUrl);
    this.targetHost = t.hostname;
    this.targetPort = Number(t.port);
    this.sockets = new Set();
    this.refusing = false;
    this.accepted = 0;
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      this.accepted += 1;
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async start() {
    await new Promise((res) => this.server.listen(0, '127.0.0.1', res));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  /** Drop every open connection abruptly (RST), both directions. */
  cut() {
    for (const s of [...this.sockets]) s.resetAndDestroy ? s.resetAndDestroy() : s.destroy();
    this.sockets.clear();
  }

  refuse(on) {
    this.refusing = on;
  }

  async stop() {
    this.cut();
    await new Promise((res) => this.server.close(res));
  }
}
