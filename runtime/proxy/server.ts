// The proxy listener (port 5550): every request goes to the Forwarder, every Upgrade to the
// tunnels. Two engines behind one interface so the benchmark can compare them: "raw" (the
// default: the raw-socket fast path of raw-engine.ts in front of a node:http server that takes
// every request the fast path does not) and "node" (a bare node:http server calling the
// forwarder). See docs/proxy.md for the measurements behind the default.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import type { Forwarder } from './forward.ts';
import { attachRawEngine, type RawEngine } from './raw-engine.ts';
import type { UpgradeTunnels } from './websocket.ts';

export type ProxyEngine = 'raw' | 'node';
export const PROXY_ENGINES: readonly ProxyEngine[] = ['raw', 'node'];

export interface ProxyServerOptions {
  forwarder: Forwarder;
  tunnels: UpgradeTunnels;
  engine?: ProxyEngine;
  /** Larger request heads get 431 from node's parser, before any routing. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Idle keep-alive time of client connections. Default 65 s (longer than typical client pools). */
  keepAliveTimeoutMs?: number;
  /** How long a request head may take to arrive whole; then 408. Default 60 s. */
  headersTimeoutMs?: number;
  /**
   * Raw engine: client reads go into the proxy's buffers (socket-reads.ts). Default true; false
   * reads 'data' events, as on a node where readInto finds no `onread` fields (tests run both).
   */
  readInPlace?: boolean;
}

export interface ProxyServer {
  readonly server: Server;
  listen(host: string, port: number): Promise<number>;
  /** Stop accepting, let in-flight requests finish (up to drainMs), then cut the rest. */
  close(drainMs?: number): Promise<void>;
}

/** How long a graceful stop keeps a connection open after the last response it carried promised keep-alive. */
const KEPT_ALIVE_LINGER_MS = 1000;

/** How long a closing connection keeps reading (and dropping) what the client still sends. */
const CLOSE_LINGER_MS = 5000;

/**
 * Lingering close (RFC 9112 section 9.6): where node's server would destroy a connection after a
 * response that closes it, only its write side is closed, and bytes the client still sends (a
 * pipelined request) are read and dropped until the client closes or CLOSE_LINGER_MS pass, so
 * that the client's kernel does not answer them with a reset that discards the last response.
 */
function lingerOnClose(socket: Socket): void {
  let lingering = false;
  socket.destroySoon = function linger(this: Socket): void {
    if (lingering) return;
    lingering = true;
    if (this.writable) this.end();
    const cut = setTimeout(() => this.destroy(), CLOSE_LINGER_MS);
    this.once('close', () => clearTimeout(cut));
    this.once('end', () => this.destroy());
    this.resume();
  };
}

/** Resolves when `p` settles or at `deadline` (epoch ms), whichever comes first. */
async function settleBy(p: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
  clearTimeout(timer);
}

export async function createProxyServer(opts: ProxyServerOptions): Promise<ProxyServer> {
  const engine = opts.engine ?? 'raw';
  const maxHeaderSize = opts.maxHeaderSize ?? 16 * 1024;
  const keepAliveTimeout = opts.keepAliveTimeoutMs ?? 65_000;
  // node's server and the fast path alike
  const headersTimeout = opts.headersTimeoutMs ?? 60_000;
  // Host is checked by the forwarder (request-policy.ts), which also stops serving the connection after the 400.
  const server = createServer({ maxHeaderSize, keepAliveTimeout, requestTimeout: 0, requireHostHeader: false }, opts.forwarder.handle);
  const raw: RawEngine | null = engine === 'raw' ? attachRawEngine(server, { forwarder: opts.forwarder, maxHeaderSize, keepAliveTimeoutMs: keepAliveTimeout, headersTimeoutMs: headersTimeout, readInPlace: opts.readInPlace ?? true }) : null;
  server.keepAliveTimeout = keepAliveTimeout;
  server.headersTimeout = headersTimeout;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    lingerOnClose(socket);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Responses not yet complete per connection: the answer to a malformed request pipelined behind
  // them waits until they are, or it would cut them short (RFC 9112 section 9.3.2). A request whose
  // body turns out malformed (or cut by the client) cannot be answered: once the responses before
  // it are out, the connection is cut, which also ends its node request.
  const lines = new WeakMap<Socket, { open: number; last: IncomingMessage | null; wait: number; then: (() => void) | null }>();
  const track = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    let line = lines.get(socket);
    if (line === undefined) lines.set(socket, (line = { open: 0, last: null, wait: 0, then: null }));
    const l = line;
    l.open += 1;
    l.last = req;
    res.once('close', () => {
      l.open -= 1;
      const then = l.then;
      if (then === null || l.open > l.wait) return;
      l.then = null;
      then();
    });
  };
  server.on('request', track);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    track(req, res);
    opts.forwarder.handle(req, res, 'continue');
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    track(req, res);
    opts.forwarder.handle(req, res, 'other');
  });
  // An upgrade pipelined behind requests still being answered switches only after their answers
  // (RFC 9112 section 9.3.2); its bytes wait in the paused socket meanwhile.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const line = lines.get(socket);
    if (line === undefined || line.open === 0) return opts.tunnels.handle(req, socket, head);
    socket.pause();
    line.wait = 0;
    line.then = () => opts.tunnels.handle(req, socket, head);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const line = lines.get(socket);
    const broken = line?.last != null && !line.last.complete;
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    // Bytes after a request that closes the connection are not a request: nothing to answer, the
    // connection ends after the answers before them.
    const closing = err.code === 'HPE_CLOSED_CONNECTION' || opts.forwarder.closesAfterAnswers(socket);
    // Every way out is a lingering close, so that the answers before it reach the client.
    const answer = broken || closing
      ? () => socket.destroySoon()
      : () => {
          if (!socket.writable) return socket.destroySoon();
          opts.forwarder.metrics.local.countStatus(status);
          socket.write(`HTTP/1.1 ${status === 431 ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\nx-dtable-proxy: local\r\n\r\n`);
          socket.destroySoon();
        };
    const wait = broken ? 1 : 0;
    if (line !== undefined && line.open > wait) {
      line.wait = wait;
      line.then = answer;
    } else answer();
  });

  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    async close(drainMs = 10_000) {
      // http.Server#close also destroys every connection it deems idle, including one whose
      // response has ended but is still being flushed to a slow reader. Stop listening only; from
      // now on every response says `Connection: close` (the forwarder is draining).
      const deadline = Date.now() + drainMs;
      const closed = new Promise<void>((r) => NetServer.prototype.close.call(server, () => r()));
      const busy = opts.forwarder.metrics.inFlight > 0;
      await settleBy(opts.forwarder.idle(), deadline);
      opts.tunnels.closeAll();
      // A response that went out before the stop promised keep-alive; its client may still be
      // parsing the end of it, and some clients report a close at that moment as an error. Give
      // them a moment to read it (or to close themselves), then end every connection after its
      // queued bytes, and only then cut what is left.
      if (busy) await settleBy(closed, Math.min(deadline, Date.now() + KEPT_ALIVE_LINGER_MS));
      raw?.endIdle();
      for (const socket of sockets) if (!raw?.connections.has(socket)) socket.end();
      await settleBy(closed, Date.now() + 1000);
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
