// Forwarding on node's HTTP server (the "node" engine, and every request the raw
// fast path of raw-engine.ts hands over: chunked and large uploads, 100-continue, HTTP/1.0): one
// Exchange per client request, forwarded to the bucket's node over that node's keep-alive undici
// Pool, bodies streamed both ways with backpressure. Uses undici's low-level dispatch() with a
// handler (raw header Buffers, no intermediate Readable), the cheapest path undici offers. The
// Forwarder also holds what both paths share: the routing table, the local answers, the metrics
// and the in-flight count a graceful stop waits for.
//
// Handoff: a 421 from a node, a connection failure or a bucket with no node yet is retried until
// the request's deadline, waking early when the routing table changes. Only bodies the proxy
// holds in full can be re-sent: bodies up to `replayLimitBytes` are read before dispatch, larger
// ones stream straight through and are not retried. A node the proxy cannot connect to is marked
// down; its buckets answer 503 with Retry-After at once until they move.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Log } from '../cluster/etcd/log.ts';
import { BAD_PATH, BAD_UUID, NO_BASE, routeKey } from './base-uuid.ts';
import { clientResponseHeaders, MAX_INTERIM_RESPONSES, upstreamRequestHeaders } from './headers.ts';
import type { ProxyMetrics } from './metrics.ts';
import { admitHead, isIdempotent, type Admitted } from './request-policy.ts';
import type { RouteTable, Upstream } from './route-table.ts';

/** The most of an unread request body dropped after its answer, and for how long, before the connection is cut. */
const DISCARD_LIMIT_BYTES = 1024 * 1024;
const DISCARD_LIMIT_MS = 5000;

export interface ForwarderOptions {
  routes: RouteTable;
  metrics: ProxyMetrics;
  log: Log;
  /** How long a request for a moving or unowned bucket is retried before a 503. */
  retryDeadlineMs: number;
  /** Request bodies up to this size are buffered so they can be re-sent on a 421. Default 1 MiB. */
  replayLimitBytes?: number;
  /** Seconds in the Retry-After of a 503. Default 1. */
  retryAfterSeconds?: number;
  /** X-Forwarded-Proto when the client sent none. Default "http". */
  proto?: string;
}

/** An answer the proxy gives itself (bad request, no route, node down). */
export interface LocalAnswer {
  status: number;
  headers: string[];
  body: Buffer;
}

function localAnswer(status: number, error: string, message: string, extra: string[] = []): LocalAnswer {
  const body = Buffer.from(JSON.stringify({ error, message }));
  return {
    status,
    headers: ['content-type', 'application/json; charset=utf-8', 'content-length', String(body.length), 'x-dtable-proxy', 'local', ...extra],
    body,
  };
}

/** reason-phrase (RFC 9112 section 4): HTAB, SP, VCHAR, obs-text. */
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Errors that prove the request never reached the node, so any method may be sent again. */
const NOT_SENT_ERRORS = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);
const SOCKET_ERRORS = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

export class Forwarder {
  readonly routes: RouteTable;
  readonly metrics: ProxyMetrics;
  readonly log: Log;
  readonly retryDeadlineMs: number;
  readonly replayLimit: number;
  readonly proto: string;
  readonly badPath: LocalAnswer;
  readonly badUuid: LocalAnswer;
  readonly noNode: LocalAnswer;
  readonly nodeDown: LocalAnswer;
  readonly badGateway: LocalAnswer;
  readonly tooLarge: LocalAnswer;
  readonly badHost: LocalAnswer;
  readonly badConnection: LocalAnswer;
  readonly expectationFailed: LocalAnswer;
  readonly badMethod: LocalAnswer;
  private draining = false;
  /** Client connections whose last served request's response closes them. */
  private readonly closing = new WeakSet<Socket>();
  /** Per client connection: whether an exchange is being served, and the ones pipelined behind it. */
  private readonly lines = new Map<Socket, { busy: boolean; queue: Exchange[] }>();
  private readonly idleWaiters: Array<() => void> = [];

  constructor(opts: ForwarderOptions) {
    this.routes = opts.routes;
    this.metrics = opts.metrics;
    this.log = opts.log;
    this.retryDeadlineMs = opts.retryDeadlineMs;
    this.replayLimit = opts.replayLimitBytes ?? 1024 * 1024;
    this.proto = opts.proto ?? 'http';
    const retryAfter = ['retry-after', String(opts.retryAfterSeconds ?? 1)];
    this.badPath = localAnswer(400, 'bad_path', 'request path must be an origin-form path without dot segments');
    this.badUuid = localAnswer(400, 'bad_dtable_uuid', 'dtable uuid must be 32 hex digits, optionally dashed as 8-4-4-4-12');
    this.noNode = localAnswer(503, 'no_node', 'no dtable-server serves this base right now', retryAfter);
    this.nodeDown = localAnswer(503, 'node_down', 'the dtable-server of this base is unreachable', retryAfter);
    this.badGateway = localAnswer(502, 'bad_gateway', 'the dtable-server failed to answer');
    this.tooLarge = localAnswer(413, 'too_large', 'request body too large');
    this.badHost = localAnswer(400, 'bad_host', 'an HTTP/1.1 request needs exactly one Host header with a valid host[:port] (RFC 9112 section 3.2)');
    this.badMethod = localAnswer(400, 'bad_method', 'not an HTTP method');
    this.expectationFailed = localAnswer(417, 'expectation_failed', 'the only expectation served is 100-continue (RFC 9110 section 10.1.1)');
    this.badConnection = localAnswer(400, 'bad_connection', 'Connection must be a list of tokens and may not name Content-Length, Transfer-Encoding or Host');
  }

  /**
   * The request handler: (req, res) from node:http (`expect` from its checkContinue and
   * checkExpectation events). Requests pipelined on one connection reach
   * the node one after the other, each once the previous response is complete (RFC 9112 section
   * 9.3.2), as on the raw path.
   */
  readonly handle = (req: IncomingMessage, res: ServerResponse, expect: 'none' | 'continue' | 'other' = 'none'): void => {
    // node's parser goes on reading requests pipelined after one whose response closes the
    // connection; they are never served (RFC 9112 section 9.6).
    const socket = req.socket;
    if (this.closing.has(socket)) return;
    if (!res.shouldKeepAlive) this.closing.add(socket);
    if (expect === 'other') {
      this.answer(res, this.expectationFailed);
      return;
    }
    const head = admitHead(req.method!, req.url!, req.httpVersion, req.rawHeaders);
    if (typeof head === 'string') {
      this.closing.add(socket);
      res.shouldKeepAlive = false;
      this.answer(res, head === 'bad_host' ? this.badHost : head === 'bad_method' ? this.badMethod : this.badConnection);
      return;
    }
    const key = routeKey(head.url, req.headers['x-dtable-uuid']);
    if (key < NO_BASE) {
      // Refused without a 100 Continue: node closes the connection after the answer, since the
      // client may or may not send the body (RFC 9110 section 10.1.1).
      if (expect === 'continue') this.closing.add(socket);
      this.answer(res, key === BAD_PATH ? this.badPath : this.badUuid);
      return;
    }
    // Expect: 100-continue is answered only for a request that will be forwarded (RFC 9110 section 10.1.1).
    if (expect === 'continue') res.writeContinue();
    this.metrics.inFlight += 1;
    const exchange = new Exchange(this, req, res, key, head);
    let line = this.lines.get(socket);
    if (line === undefined) {
      line = { busy: false, queue: [] };
      this.lines.set(socket, line);
      socket.once('close', () => this.dropLine(socket));
    }
    if (line.busy) {
      line.queue.push(exchange);
      return;
    }
    line.busy = true;
    exchange.begin();
  };

  /** Whether a request served on `socket` has an answer that closes the connection. */
  closesAfterAnswers(socket: Socket): boolean {
    return this.closing.has(socket);
  }

  /** The exchange served on `socket` is over: the next one pipelined behind it starts. */
  nextOn(socket: Socket): void {
    const line = this.lines.get(socket);
    if (line === undefined) return;
    const next = line.queue.shift();
    if (next === undefined) line.busy = false;
    else next.begin();
  }

  /** The connection closed: exchanges still waiting behind another one end unserved. */
  private dropLine(socket: Socket): void {
    const line = this.lines.get(socket);
    this.lines.delete(socket);
    for (const e of line?.queue ?? []) e.abandonQueued();
  }

  answer(res: ServerResponse, a: LocalAnswer): void {
    this.metrics.local.countStatus(a.status);
    if (res.headersSent || res.destroyed) return;
    if (this.draining) res.shouldKeepAlive = false;
    res.writeHead(a.status, a.headers);
    res.end(a.body);
  }

  done(): void {
    this.metrics.inFlight -= 1;
    if (this.metrics.inFlight === 0 && this.idleWaiters.length > 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves when no request is in flight (for graceful shutdown). */
  idle(): Promise<void> {
    this.draining = true;
    if (this.metrics.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  get isDraining(): boolean {
    return this.draining;
  }
}

const enum Phase {
  Routing,
  Waiting,
  Dispatched,
  Streaming,
  Finished,
}

/** One client request, through however many attempts it takes. Implements undici's handler interface. */
class Exchange implements Dispatcher.DispatchHandler {
  /** Set when the exchange is served (begin), not when it waits behind another. */
  private deadline = 0;
  private readonly headers: string[];
  private body: Buffer | Readable | null = null;
  private replayable = true;
  private upstream: Upstream | null = null;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private discarding = false;
  /** Interim responses to this attempt (MAX_INTERIM_RESPONSES). */
  private interims = 0;
  private clientGone = false;
  private phase = Phase.Routing;
  private sentAt = 0;
  private backoffMs = 10;
  private socketRetries = 0;
  private ended = false;
  private dispatched = false;
  /** False while waiting behind an earlier request on the same connection. */
  private started = false;

  private readonly socket: Socket;
  private readonly url: string;

  constructor(
    private readonly f: Forwarder,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly key: number,
    head: Admitted,
  ) {
    this.socket = req.socket;
    this.url = head.url;
    this.headers = upstreamRequestHeaders(req.rawHeaders, { remoteAddress: req.socket.remoteAddress, proto: f.proto }, false, head.host);
    res.on('close', this.onClientClose);
  }

  begin(): void {
    this.started = true;
    if (this.clientGone) {
      this.finish();
      return;
    }
    // The retry deadline counts from the moment the request is served, not from its arrival in a pipeline.
    this.deadline = Date.now() + this.f.retryDeadlineMs;
    const h = this.req.headers;
    const length = h['content-length'];
    if (h['transfer-encoding'] === undefined && (length === undefined || length === '0')) {
      this.route();
      return;
    }
    if (length !== undefined && Number(length) <= this.f.replayLimit) {
      this.readWholeBody(Number(length));
      return;
    }
    this.replayable = false;
    this.body = this.streamedBody();
    this.route();
  }

  /**
   * The client's body for undici to stream, through a stream of its own: undici destroys the
   * stream it was given when the node answers before taking the whole body (and on any failure),
   * and destroying the request itself would cut the client's connection, losing the requests
   * pipelined behind it. The rest of such a body is read and dropped instead (as nginx discards
   * an unread body), so the connection goes on to the next request; but at most
   * DISCARD_LIMIT_BYTES of it, for at most DISCARD_LIMIT_MS: then the connection is cut, so a
   * client cannot keep the proxy reading a body no node will take.
   */
  private streamedBody(): Readable {
    const req = this.req;
    const body = new PassThrough();
    req.pipe(body);
    req.once('error', (err) => body.destroy(err));
    body.once('close', () => {
      if (req.complete) return;
      req.unpipe(body);
      let dropped = 0;
      const cut = () => req.socket.destroy();
      const timer = setTimeout(cut, DISCARD_LIMIT_MS);
      req.on('data', (c: Buffer) => {
        dropped += c.length;
        if (dropped > DISCARD_LIMIT_BYTES) cut();
      });
      req.once('close', () => clearTimeout(timer));
      req.resume();
    });
    return body;
  }

  private readWholeBody(length: number): void {
    const chunks: Buffer[] = [];
    let got = 0;
    this.req.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
    });
    this.req.once('end', () => {
      if (this.clientGone) return;
      this.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, got);
      if (got !== length) this.replayable = false;
      this.route();
    });
    this.req.once('error', () => this.onClientClose());
  }

  private route(): void {
    if (this.clientGone) return;
    const f = this.f;
    const u = this.key === NO_BASE ? f.routes.any() : f.routes.target(this.key);
    if (u === null) {
      this.retryLater('no_route', f.noNode);
      return;
    }
    if (u.down) {
      this.finishLocal(f.nodeDown);
      return;
    }
    this.dispatch(u);
  }

  private dispatch(u: Upstream): void {
    this.upstream = u;
    this.dispatched = true;
    this.phase = Phase.Dispatched;
    this.sentAt = performance.now();
    u.pool.dispatch(
      {
        origin: u.origin,
        path: u.pathPrefix + this.url,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.body,
      },
      this,
    );
  }

  /** Wait for the routing table to change (or a short backoff) and route again, within the deadline. */
  private retryLater(reason: 'no_route' | 'misdirected' | 'connect', otherwise: { status: number; headers: string[]; body: Buffer }): void {
    const left = this.deadline - Date.now();
    // A streamed body can wait for a route only while nothing of it has been sent.
    if (left <= 0 || (!this.replayable && this.dispatched) || this.clientGone) {
      this.finishLocal(otherwise);
      return;
    }
    this.f.metrics.retry(reason);
    this.phase = Phase.Waiting;
    const wait = Math.min(this.backoffMs, left);
    this.backoffMs = Math.min(this.backoffMs * 2, 250);
    void this.f.routes.waitForChange(wait).then(() => this.route());
  }

  private finishLocal(a: { status: number; headers: string[]; body: Buffer }): void {
    this.phase = Phase.Finished;
    this.f.answer(this.res, a);
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.phase = Phase.Finished;
    this.res.off('close', this.onClientClose);
    this.f.done();
    this.f.nextOn(this.socket);
  }

  /** Never served: its connection closed while it waited in the pipeline. */
  abandonQueued(): void {
    if (this.ended) return;
    this.clientGone = true;
    this.ended = true;
    this.res.off('close', this.onClientClose);
    this.f.done();
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished || this.clientGone) return;
    this.clientGone = true;
    if (!this.started) return;
    if (this.abortUpstream && this.phase !== Phase.Finished) this.abortUpstream(new Error('client went away'));
    if (this.phase === Phase.Routing || this.phase === Phase.Waiting) this.finish();
  };

  private readonly onDrain = (): void => {
    const r = this.resumeUpstream;
    if (r) r();
  };

  // undici handler interface

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    this.interims = 0;
    if (this.clientGone) abort(new Error('client went away'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      if (++this.interims > MAX_INTERIM_RESPONSES) {
        this.abortUpstream?.(new Error(`more than ${MAX_INTERIM_RESPONSES} interim responses from the node`));
        return false;
      }
      this.relayInterim(statusCode, statusText, rawHeaders);
      return true;
    }
    const u = this.upstream!;
    u.stats.observeLatency((performance.now() - this.sentAt) / 1000);
    if (statusCode === 421 && this.replayable && !this.clientGone && Date.now() < this.deadline) {
      this.discarding = true;
      return true;
    }
    u.stats.countStatus(statusCode);
    this.phase = Phase.Streaming;
    this.resumeUpstream = resume;
    const res = this.res;
    res.sendDate = false;
    // Stopping: tell the client not to reuse the connection, so closing it after this response is expected.
    if (this.f.isDraining) res.shouldKeepAlive = false;
    const headers = clientResponseHeaders(rawHeaders, statusCode === 204);
    // A reason phrase node's server would refuse to write is dropped (RFC 9112 section 4: it carries no meaning).
    if (statusText && REASON.test(statusText)) res.writeHead(statusCode, statusText, headers);
    else res.writeHead(statusCode, headers);
    return true;
  }

  /**
   * A proxy forwards 1xx responses it did not ask for (RFC 9110 section 15.2), to HTTP/1.1 clients
   * only. undici hands over 102 and 103 (it treats an unrequested 100 as a broken response).
   */
  private relayInterim(statusCode: number, statusText: string, rawHeaders: Buffer[]): void {
    const res = this.res;
    if (statusCode < 100 || this.req.httpVersion !== '1.1' || res.headersSent || res.socket === null || this.clientGone) return;
    const h = clientResponseHeaders(rawHeaders, true);
    let text = `HTTP/1.1 ${statusCode} ${REASON.test(statusText) ? statusText : ''}\r\n`;
    for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
    res.socket.write(`${text}\r\n`, 'latin1');
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(): void {
    if (this.discarding) {
      this.discarding = false;
      this.abortUpstream = null;
      this.retryLater('misdirected', this.f.noNode);
      return;
    }
    // In flight until the response is flushed (or the client is gone): a graceful stop waits
    // for idle and then cuts connections, which must not truncate a slow reader's download.
    this.phase = Phase.Finished;
    this.res.off('close', this.onClientClose);
    this.res.once('close', () => this.finish());
    this.res.end();
  }

  onError(err: Error): void {
    this.abortUpstream = null;
    if (this.clientGone) {
      this.finish();
      return;
    }
    const u = this.upstream!;
    if (this.phase === Phase.Streaming) {
      // Headers are out: the client can only learn of the failure by a cut connection.
      this.res.destroy(err);
      this.finish();
      return;
    }
    this.discarding = false;
    const code = (err as { code?: string }).code ?? '';
    if (CONNECT_ERRORS.has(code)) {
      this.f.routes.markDown(u, code);
      // route() answers 503 for a node that is still the target; a moved bucket goes to its new node.
      // EHOSTUNREACH and the like can also cut an open connection: then only an idempotent request goes again.
      if (this.replayable && (NOT_SENT_ERRORS.has(code) || isIdempotent(this.req.method!))) this.retryLater('connect', this.f.nodeDown);
      else this.finishLocal(this.f.nodeDown);
      return;
    }
    if (SOCKET_ERRORS.has(code) && this.replayable && isIdempotent(this.req.method!) && this.socketRetries < 2 && Date.now() < this.deadline) {
      // A kept-alive socket closed by the node under us, or a node that died mid-request. Only an
      // idempotent request may be sent again: the node may have processed it (RFC 9110 section 9.2.2).
      this.socketRetries += 1;
      this.f.metrics.retry('socket');
      this.route();
      return;
    }
    this.f.log.debug({ node_id: u.nodeId, code, err: err.message }, 'upstream request failed');
    this.finishLocal(u.down ? this.f.nodeDown : this.f.badGateway);
  }
}
