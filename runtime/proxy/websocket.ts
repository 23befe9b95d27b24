// WebSocket (and any other HTTP Upgrade) pass-through. The handshake is re-sent to the node with
// hop-by-hop headers except Connection/Upgrade stripped and X-Forwarded-* added; routed like HTTP
// (path uuid, then the `dtable_uuid` query parameter, then X-Dtable-Uuid). The protocol switches
// only once the node answers 101 (RFC 9110 section 7.8): until then every byte the client sent
// after the request is held, never passed on; then both sockets are piped without reading a frame.
// Any other answer is relayed with `Connection: close` and the held bytes are dropped (the client
// sends its pipelined requests again on a new connection, RFC 9112 section 9.3.2). An upgrade
// request with a body is refused: its body and the new protocol's first bytes would be one stream.
import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { NO_BASE, routeKey } from './base-uuid.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import type { ProxyMetrics } from './metrics.ts';
import { admitHead } from './request-policy.ts';
import type { RouteTable } from './route-table.ts';

function rawAnswer(status: number, reason: string, extra = ''): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\nx-dtable-proxy: local\r\n${extra}\r\n`, 'latin1');
}

export interface UpgradeOptions {
  routes: RouteTable;
  metrics: ProxyMetrics;
  proto?: string;
  retryAfterSeconds?: number;
  /** How long the node may take to answer the handshake. Default 30 s. */
  handshakeTimeoutMs?: number;
}

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

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
    // Bytes after the head are held until the node has switched protocols.
    client.pause();
    client.on('error', () => client.destroy());
    const refuse = (status: number, answer: Buffer): void => {
      metrics.local.countStatus(status);
      client.end(answer);
    };
    const admitted = admitHead(req.method!, req.url!, req.httpVersion, req.rawHeaders);
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if (typeof admitted === 'string' || hasBody) return refuse(400, this.badRequest);
    const key = routeKey(admitted.url, req.headers['x-dtable-uuid']);
    if (key < NO_BASE) return refuse(400, this.badRequest);
    const u = key === NO_BASE ? routes.any() : routes.target(key);
    if (u === null || u.down) return refuse(503, this.unavailable);

    const headers = upstreamRequestHeaders(req.rawHeaders, { remoteAddress: req.socket.remoteAddress, proto: this.opts.proto ?? 'http' }, true, admitted.host);
    const up = request({ host: u.host, port: u.port, method: req.method, path: u.pathPrefix + admitted.url, headers, agent: false, setHost: false });
    up.setTimeout(this.opts.handshakeTimeoutMs ?? 30_000, () => up.destroy(Object.assign(new Error('handshake timeout'), { code: 'ETIMEDOUT' })));
    let answered = false;
    const cut = () => up.destroy();
    client.once('close', cut);

    up.on('upgrade', (res: IncomingMessage, upstream: Socket, upHead: Buffer) => {
      answered = true;
      client.off('close', cut);
      if (client.destroyed) return upstream.destroy();
      upstream.setTimeout(0);
      upstream.setNoDelay(true);
      if ('setNoDelay' in client) (client as Socket).setNoDelay(true);
      metrics.websocketsOpen += 1;
      metrics.websocketsTotal += 1;
      u.stats.countStatus(101);
      this.open.add(client);
      let text = `HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}\r\n`;
      for (let i = 0; i < res.rawHeaders.length; i += 2) text += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
      client.write(`${text}\r\n`, 'latin1');
      if (upHead.length > 0) client.write(upHead);
      if (head.length > 0) upstream.write(head);
      upstream.on('error', () => client.destroy());
      const closeBoth = () => {
        if (this.open.delete(client)) metrics.websocketsOpen -= 1;
        upstream.destroy();
        client.destroy();
      };
      upstream.once('close', closeBoth);
      client.once('close', closeBoth);
      upstream.pipe(client);
      client.pipe(upstream);
    });

    up.on('response', (res: IncomingMessage) => {
      // Not switched: the answer goes to the client and the connection closes after it.
      answered = true;
      u.stats.countStatus(res.statusCode ?? 502);
      const h = clientResponseHeaders(res.rawHeaders);
      let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
      for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
      client.write(`${text}connection: close\r\n\r\n`, 'latin1');
      res.pipe(client);
      res.on('error', () => client.destroy());
    });

    up.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return client.destroy();
      const code = err.code ?? '';
      if (CONNECT_ERRORS.has(code)) routes.markDown(u, code);
      const down = u.down;
      metrics.local.countStatus(down ? 503 : 502);
      if (!client.destroyed) client.end(down ? this.unavailable : this.badGateway);
    });
    up.end();
  };

  /** Cut every open tunnel (at shutdown; clients reconnect elsewhere). */
  closeAll(): void {
    for (const c of this.open) c.destroy();
  }

  get size(): number {
    return this.open.size;
  }
}
