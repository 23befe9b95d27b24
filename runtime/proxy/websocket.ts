// WebSocket (and any other HTTP Upgrade) pass-through: the handshake is re-sent to the node with
// hop-by-hop headers except Connection/Upgrade stripped and X-Forwarded-* added, then the two
// sockets are piped both ways without looking at a single frame. Routed like HTTP: path uuid,
// then `dtable_uuid` query parameter (socket.io), then X-Dtable-Uuid.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BAD_PATH, NO_BASE, routeKey } from './base-uuid.ts';
import { upstreamRequestHeaders } from './headers.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { RouteTable } from './route-table.ts';

function rawAnswer(status: number, reason: string, extra = ''): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\nx-dtable-proxy: local\r\n${extra}\r\n`, 'latin1');
}

export interface UpgradeOptions {
  routes: RouteTable;
  metrics: ProxyMetrics;
  proto?: string;
  retryAfterSeconds?: number;
}

export class UpgradeTunnels {
  private readonly open = new Set<Duplex>();
  private readonly badRequest = rawAnswer(400, 'Bad Request');
  private readonly unavailable: Buffer;
  private readonly badGateway = rawAnswer(502, 'Bad Gateway');

  constructor(private readonly opts: UpgradeOptions) {
    this.unavailable = rawAnswer(503, 'Service Unavailable', `retry-after: ${opts.retryAfterSeconds ?? 1}\r\n`);
  }

  /** The `upgrade` event handler of the proxy's http.Server. */
  readonly handle = (req: IncomingMessage, client: Duplex, head: Buffer): void => {
    const { routes, metrics } = this.opts;
    client.on('error', () => client.destroy());
    const key = routeKey(req.url!, req.headers['x-dtable-uuid']);
    if (key < NO_BASE) {
      metrics.local.countStatus(400);
      client.end(key === BAD_PATH ? this.badRequest : this.badRequest);
      return;
    }
    const u = key === NO_BASE ? routes.any() : routes.target(key);
    if (u === null || u.down) {
      metrics.local.countStatus(503);
      client.end(this.unavailable);
      return;
    }
    const headers = upstreamRequestHeaders(req.rawHeaders, { remoteAddress: req.socket.remoteAddress, proto: this.opts.proto ?? 'http' }, true);
    let text = `${req.method} ${u.pathPrefix}${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    text += '\r\n';

    const upstream: Socket = connect({ host: u.host, port: u.port, noDelay: true });
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      metrics.websocketsOpen += 1;
      metrics.websocketsTotal += 1;
      u.stats.countStatus(101);
      this.open.add(client);
      upstream.write(text, 'latin1');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        if (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH') routes.markDown(u, err.code);
        metrics.local.countStatus(u.down ? 503 : 502);
        client.end(u.down ? this.unavailable : this.badGateway);
        return;
      }
      client.destroy();
    });
    const closeBoth = () => {
      if (connected && this.open.delete(client)) metrics.websocketsOpen -= 1;
      upstream.destroy();
      client.destroy();
    };
    upstream.once('close', closeBoth);
    client.once('close', closeBoth);
    if ('setNoDelay' in client) (client as Socket).setNoDelay(true);
  };

  /** Cut every open tunnel (at shutdown; clients reconnect elsewhere). */
  closeAll(): void {
    for (const c of this.open) c.destroy();
  }

  get size(): number {
    return this.open.size;
  }
}
