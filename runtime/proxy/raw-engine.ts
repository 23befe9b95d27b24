// The proxy's fast path: plain HTTP/1.1 requests on raw sockets, both ways. A request head is
// parsed here only when it is of the common, unambiguous kind (GET/HEAD/POST/PUT/DELETE/PATCH/
// OPTIONS, HTTP/1.1, one Host, no body or a Content-Length body the proxy can hold for a re-send,
// no Transfer-Encoding, Expect or Upgrade, CRLF line ends, printable target). Anything else hands
// the connection, at that request boundary and with the bytes already read, to node's HTTP server
// and the Forwarder, which keep every edge case (chunked and large uploads, 100-continue, upgrades,
// malformed and oversized heads). Upstream, responses are relayed byte for byte (raw-upstream.ts).
//
// It keeps the Forwarder's semantics: routing by base, 421 and connect failures retried within the
// deadline with the buffered body, 503 with Retry-After for a down node, a client that goes away
// cuts its node request, backpressure both ways, the same metrics, and `Connection: close` on
// every response once a graceful stop has begun.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { BAD_PATH, NO_BASE, routeKey } from './base-uuid.ts';
import type { Forwarder, LocalAnswer } from './forward.ts';
import { dropListed, isHopByHop, type ForwardedFrom } from './headers.ts';
import { ONE_WRITE_LIMIT, Relay, type FailKind, type ResponseSink, type UpstreamConn } from './raw-upstream.ts';
import { contentLengthValue, isIdempotent, isValidHost, readConnection, REQUEST_HEAD_LINES, trimOws } from './request-policy.ts';
import { BufferPool, readInto, room, type ReadTarget } from './socket-reads.ts';
import type { Upstream } from './route-table.ts';

export interface RawEngineOptions {
  forwarder: Forwarder;
  /** Heads larger than this go to node's parser (which answers 431). */
  maxHeaderSize: number;
  keepAliveTimeoutMs: number;
  /** How long a head may take to arrive whole, from its first byte (node's headersTimeout); then 408. */
  headersTimeoutMs: number;
  /** Client reads into the proxy's buffers where this node allows it (readInto), else 'data' events. */
  readInPlace: boolean;
}

export interface RawEngine {
  /** Connections the fast path serves now. */
  readonly connections: ReadonlyMap<Socket, RawConnection>;
  /** At a graceful stop: end every connection not serving a request (the others end after it). */
  endIdle(): void;
}

/** How long a closed connection waits for the client to close its side before it is cut. */
const CLOSE_LINGER_MS = 5000;
const CRLF2 = Buffer.from('\r\n\r\n');
const CLOSE_LINES = 'connection: close\r\n\r\n';
/** Pipelined bytes held while a request is served before the client socket is paused. */
const PIPELINE_LIMIT = 64 * 1024;
/** A head still arriving in pieces is kept on the fast path up to this size. */
const PARTIAL_HEAD_LIMIT = 4096;
/**
 * Client sockets read into this one buffer (socket-reads.ts) while no body is on its way: reads
 * run one at a time, and whatever a connection keeps past its read's callback it copies.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
/** A body that came whole with its head, up to this size, is copied out of the read buffer; larger ones go in BufferPool. */
const SMALL_BODY = 4096;
/**
 * Bytes a pooled body buffer keeps free before the body: the node's request head is written there,
 * and head and body go out in one write of one buffer (no cork and writev, no second write). A
 * longer head is written on its own, before the body.
 */
const HEAD_ROOM = 2048;
/** Request body buffers kept for reuse, per engine, at most (what the load does not use decays: BufferPool). */
const BODY_POOL_BYTES = 256 * 1024 * 1024;
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
const BAD_TARGET = /[^\x21-\x7e]/;
/** Option names a request's Connection headers may list on the fast path (clients send one or two). */
const MAX_LISTED = 16;
/** Digits a request's Content-Length may have (bodies are far below replayLimit's bound). */
const CONTENT_LENGTH_DIGITS = 8;

/** A request head the fast path serves. */
export interface RawRequestHead {
  method: string;
  url: string;
  /** The header block to send the node: hop-by-hop headers dropped, X-Forwarded-* set, ending in an empty line. */
  upstreamHeaders: string;
  contentLength: number;
  /** The client asked to close the connection after this request. */
  close: boolean;
  uuidHeader: string | undefined;
}

/**
 * Parses the head in `text` (without the final CRLFCRLF) and builds the node's header block in the
 * same pass (the rules of headers.ts `upstreamRequestHeaders`). Returns null when the request is
 * not of the fast path's kind (node's parser then takes it, and answers what is malformed).
 * Only names as long as a header of interest are lowercased and compared. With `prefix`, `text`
 * is the whole lines of a head still arriving, and only the line checks apply.
 */
export function parseRequestHead(text: string, replayLimit: number, from: ForwardedFrom, prefix = false): RawRequestHead | null {
  // Bytes, and every field name a token right before its colon (also refuses obs-fold).
  if (!REQUEST_HEAD_LINES.test(text)) return null;
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = text.length;
  const sp1 = text.indexOf(' ');
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0 || sp2 + 9 !== lineEnd || !text.startsWith('HTTP/1.1', sp2 + 1)) return null;
  const method = text.slice(0, sp1);
  const url = text.slice(sp1 + 1, sp2);
  // origin-form only: an absolute-form target is rewritten by the node:http path.
  if (!METHODS.has(method) || url.charCodeAt(0) !== 47 /* / */ || BAD_TARGET.test(url)) return null;
  let kept = '';
  let contentLength = -1;
  let hosts = 0;
  let host: string | undefined;
  let close = false;
  let uuidHeader: string | undefined;
  let listed: string[] | null = null;
  let xff: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let pos = lineEnd + 2;
  while (pos < text.length) {
    let next = text.indexOf('\r\n', pos);
    if (next < 0) next = text.length;
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > next) return null;
    const name = text.slice(pos, colon);
    const line = pos;
    pos = next + 2;
    const lower = INTERESTING_LENGTHS[name.length] === 1 ? name.toLowerCase() : '';
    switch (lower) {
      case '':
        break;
      case 'host':
        hosts += 1;
        host = trimOws(text.slice(colon + 1, next));
        break;
      case 'content-length': {
        // As llhttp reads it (contentLengthValue); anything else goes to node's parser, which refuses it.
        if (contentLength >= 0) return null;
        contentLength = contentLengthValue(text.slice(colon + 1, next), CONTENT_LENGTH_DIGITS);
        if (contentLength < 0 || contentLength > replayLimit) return null;
        break;
      }
      case 'x-dtable-uuid': {
        const value = trimOws(text.slice(colon + 1, next));
        uuidHeader = uuidHeader === undefined ? value : `${uuidHeader}, ${value}`;
        break;
      }
      case 'expect':
      case 'upgrade':
      case 'transfer-encoding':
        return null;
      case 'connection':
      case 'proxy-connection': {
        // A Connection list naming Content-Length, Transfer-Encoding or Host is refused by the
        // node:http path. llhttp reads `close` in Proxy-Connection as in Connection (a connection
        // carries as many requests on either engine); both are dropped (hop-by-hop). A value that
        // is not a token list, or holds an HTAB (llhttp does not read `close<HTAB>` as close), goes
        // to node's path.
        const value = text.slice(colon + 1, next);
        if (value.indexOf('\t') >= 0) return null;
        const c = readConnection(value);
        if (c === null || c.upgrade) return null;
        if (c.close) close = true;
        if (lower === 'connection' && c.listed.length > 0) {
          listed ??= [];
          for (const name of c.listed) listed.push(name);
          // A long list is not the fast path's kind: node's parser reads it once, where a head
          // still arriving would be read again with every packet (mayBecomeFastHead).
          if (listed.length > MAX_LISTED) return null;
        }
        continue;
      }
      case 'x-forwarded-for': {
        const value = trimOws(text.slice(colon + 1, next));
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      case 'x-forwarded-proto':
        xfProto ??= trimOws(text.slice(colon + 1, next));
        continue;
      case 'x-forwarded-host':
        xfHost ??= trimOws(text.slice(colon + 1, next));
        continue;
      default:
        if (isHopByHop(lower)) continue;
    }
    kept += text.slice(line, next);
    kept += '\r\n';
  }
  // Several Hosts or an invalid one: the node:http path answers 400 (RFC 9112 section 3.2).
  if (!prefix && (hosts !== 1 || !isValidHost(host!))) return null;
  if (listed !== null) kept = dropListed(kept, listed);
  const client = from.remoteAddress ?? 'unknown';
  kept += `x-forwarded-for: ${xff === undefined ? client : `${xff}, ${client}`}\r\nx-forwarded-proto: ${xfProto ?? from.proto}\r\nx-forwarded-host: ${xfHost ?? host}\r\n\r\n`;
  return { method, url, upstreamHeaders: kept, contentLength: Math.max(0, contentLength), close, uuidHeader };
}

const METHOD_PREFIXES = new Set([...METHODS].flatMap((m) => [...m].map((_, i) => m.slice(0, i + 1))));
const TARGET_AND_VERSION_PREFIX = /^(?:\/[\x21-\x7e]*(?: (?:H|HT|HTT|HTTP|HTTP\/|HTTP\/1|HTTP\/1\.|HTTP\/1\.1\r?)?)?)?$/;
const FIELD_LINE_PREFIX = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]*|[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r?|\r)$/;
const FRAMING_NAMES = new Set(['content-length', 'transfer-encoding']);
const NO_ONE: ForwardedFrom = { remoteAddress: undefined, proto: 'http' };

/**
 * Whether `text`, a head without its end yet, is a prefix of a head the fast path could take:
 * one of its methods, an origin-form target, HTTP/1.1, whole field lines the fast path takes
 * (parseRequestHead's checks) and a well-formed start of the next that is no Content-Length or
 * Transfer-Encoding field. Stricter than llhttp, so that whatever llhttp would already refuse is
 * never held back waiting for more bytes.
 */
export function mayBecomeFastHead(text: string, replayLimit: number): boolean {
  const lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) {
    const sp = text.indexOf(' ');
    if (sp < 0) return METHOD_PREFIXES.has(text) || text === '';
    return METHODS.has(text.slice(0, sp)) && TARGET_AND_VERSION_PREFIX.test(text.slice(sp + 1));
  }
  const lastLine = text.lastIndexOf('\r\n');
  const last = text.slice(lastLine + 2);
  if (!FIELD_LINE_PREFIX.test(last)) return false;
  // llhttp judges a framing field as its bytes come (a second Content-Length, a byte that is no
  // digit, Transfer-Encoding after Content-Length): one begun is not held, llhttp reads on.
  const colon = last.indexOf(':');
  if ((colon === 14 || colon === 17) && FRAMING_NAMES.has(last.slice(0, colon).toLowerCase())) return false;
  return parseRequestHead(text.slice(0, lastLine), replayLimit, NO_ONE, true) !== null;
}

/** Lengths of the request header names parseRequestHead looks at (1 = some name of interest has it). */
const INTERESTING_LENGTHS = new Uint8Array(32);
for (const n of ['host', 'content-length', 'x-dtable-uuid', 'expect', 'upgrade', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'http2-settings', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']) {
  INTERESTING_LENGTHS[n.length] = 1;
}

/** Puts the fast path in front of `server`'s own connection handling. */
export function attachRawEngine(server: Server, opts: RawEngineOptions): RawEngine {
  const [httpListener] = server.listeners('connection') as Array<(socket: Socket) => void>;
  if (!httpListener) throw new Error('the HTTP server has no connection listener');
  server.removeListener('connection', httpListener);
  const connections = new Map<Socket, RawConnection>();
  const bodies = new BufferPool(BODY_POOL_BYTES);
  const handOff = (socket: Socket, bytes: Buffer | null): void => {
    connections.delete(socket);
    if (bytes !== null && bytes.length > 0) {
      socket.unshift(bytes);
      // node's server would read the socket's handle directly, past the bytes put back.
      const handle = (socket as unknown as { _handle?: { _consumed?: boolean } })._handle;
      if (handle) handle._consumed = true;
    }
    httpListener.call(server, socket);
    socket.resume();
  };
  server.prependListener('connection', (socket: Socket) => {
    connections.set(socket, new RawConnection(socket, opts, bodies, handOff, () => connections.delete(socket)));
  });
  return {
    connections,
    endIdle() {
      for (const c of connections.values()) c.endIfIdle();
    },
  };
}

const enum State {
  /** Waiting for (the rest of) a request. */
  Reading,
  /** A request is being served. */
  Serving,
  /** The response is written; waiting for the client to take it before the next request. */
  Flushing,
  Closed,
}

/** One client connection on the fast path, serving its requests one at a time. */
export class RawConnection implements ResponseSink {
  private state = State.Reading;
  private buf: Buffer | null = null;
  private head: RawRequestHead | null = null;
  /** `buf` is a view of the shared read buffer (valid until the read's callback returns). */
  private bufShared = false;
  /** The body of `head` as it arrives: read into this buffer in place, or copied into it. */
  private bodyBuf: Buffer | null = null;
  /** Bytes of `bodyBuf` filled so far. */
  private bodyAt = 0;
  /** `body` came from the engine's BufferPool and goes back there once no write holds it. */
  private bodyPooled = false;
  /** An earlier attempt of this request may have left a write of `body` pending (it is then not reused). */
  private bodyHeld = false;
  /** Bytes received while a request is served (pipelined requests), joined when read. */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private headTimer: NodeJS.Timeout | null = null;
  private ended = false;
  private closeAfter = false;
  // the request being served
  private key = NO_BASE;
  private method = 'GET';
  private url = '/';
  /** The body, kept whole for a re-send. */
  private body: Buffer | null = null;
  private counted = false;
  private requestHead = '';
  private headPrefix = '';
  private headerText = '';
  /** When re-sends stop (performance.now() ms), set at the first attempt; 0 before it. */
  private deadline = 0;
  private backoffMs = 10;
  private socketRetries = 0;
  private upstream: Upstream | null = null;
  private conn: UpstreamConn | null = null;
  private sentAt = 0;
  private discarding = false;
  private responded = false;
  private paused = false;
  /** next() is running (see there); nextAgain: it was called again meanwhile. */
  private inNext = false;
  private nextAgain = false;
  private readonly f: Forwarder;
  private readonly keepAliveLines: string;
  private readonly from: ForwardedFrom;

  /** Reads go into READ_BUFFER, or straight into the body being read (else 'data' events, copied). */
  private readonly readsInPlace: boolean;
  /** Handed to node's HTTP server: reads are copied to it as 'data'. */
  private handedOff = false;

  constructor(
    private readonly socket: Socket,
    private readonly opts: RawEngineOptions,
    private readonly bodies: BufferPool,
    private readonly handOff: (socket: Socket, bytes: Buffer | null) => void,
    private readonly forget: () => void,
  ) {
    this.f = opts.forwarder;
    this.keepAliveLines = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(opts.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
    this.from = { remoteAddress: socket.remoteAddress, proto: this.f.proto };
    socket.setNoDelay(true);
    socket.setTimeout(opts.keepAliveTimeoutMs);
    this.readsInPlace = opts.readInPlace && readInto(socket, this.reads);
    if (!this.readsInPlace) socket.on('data', this.onData);
    socket.on('end', this.onClientEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('drain', this.onDrain);
    socket.on('timeout', this.onTimeout);
  }

  endIfIdle(): void {
    if (this.state === State.Reading) this.close();
    else this.closeAfter = true;
  }

  /** Ends the connection after what is written (and cuts it if the client does not close its side). */
  private close(): void {
    this.state = State.Closed;
    this.detach();
    const s = this.socket;
    s.on('error', this.onError);
    s.end();
    s.setTimeout(CLOSE_LINGER_MS, () => s.destroy());
    this.forget();
  }

  /** The in-flight count of the request served now, released once. */
  private release(): void {
    if (!this.counted) return;
    this.counted = false;
    this.f.done();
  }

  /** The socket's reads (readInto): the body being read, in place, or else the shared buffer. */
  private readonly reads: ReadTarget = {
    next: () => (this.bodyBuf !== null ? room(this.bodyBuf, this.bodyAt) : READ_BUFFER),
    read: (view: Buffer) => {
      if (this.state === State.Closed) {
        // node's HTTP server reads 'data' events, with its backpressure: a full stream stops the
        // reads until it is read (as node's own reads do). A closed connection's bytes are dropped.
        return this.handedOff ? this.socket.push(Buffer.from(view)) : true;
      }
      this.onBytes(view, true);
      // What outlives the callback is copied out of the shared buffer.
      if (this.bufShared) {
        this.bufShared = false;
        if (this.buf !== null) this.buf = Buffer.from(this.buf);
      }
      return true;
    },
  };

  private readonly onData = (d: Buffer): void => this.onBytes(d, false);

  /** Bytes from the client; `shared`: a view valid only during the read's callback. */
  private onBytes(d: Buffer, shared: boolean): void {
    if (this.state !== State.Reading) {
      // Pipelined bytes while a request is served: kept as parts and joined once, when read.
      this.queued.push(shared ? Buffer.from(d) : d);
      this.queuedBytes += d.length;
      if (this.queuedBytes > PIPELINE_LIMIT) this.socket.pause();
      return;
    }
    const body = this.bodyBuf;
    if (body !== null) {
      // A body on its way, read into its buffer in place (or copied there); what follows it is the next request.
      const n = Math.min(d.length, body.length - this.bodyAt);
      if (d.buffer !== body.buffer || d.byteOffset !== body.byteOffset + this.bodyAt) d.copy(body, this.bodyAt, 0, n);
      this.bodyAt += n;
      if (this.bodyAt < body.length) return;
      if (n < d.length) {
        this.buf = d.subarray(n);
        this.bufShared = shared;
      }
      this.take();
      return;
    }
    if (this.buf === null) {
      this.buf = d;
      this.bufShared = shared;
    } else {
      this.buf = Buffer.concat([this.buf, d]);
      this.bufShared = false;
    }
    this.next();
  }

  /**
   * Takes the next whole request from the buffer, or hands the connection off, or waits for more
   * bytes. A request answered at once (a local answer: bad path, node down) calls next() again
   * from inside this one: that call only marks another turn of the loop here, so a pipeline of
   * thousands of such requests costs no stack (it once recursed a frame chain per request until
   * node's stack overflowed, an uncaught RangeError that ended the process).
   */
  private next(): void {
    if (this.inNext) {
      this.nextAgain = true;
      return;
    }
    this.inNext = true;
    try {
      do {
        this.nextAgain = false;
        this.nextRequest();
      } while (this.nextAgain);
    } finally {
      this.inNext = false;
    }
  }

  private nextRequest(): void {
    if (this.queued.length > 0) {
      this.buf = Buffer.concat(this.buf === null ? this.queued : [this.buf, ...this.queued]);
      this.queued = [];
      this.queuedBytes = 0;
    }
    const buf = this.buf;
    if (buf === null) {
      if (this.ended) this.close();
      return;
    }
    const end = buf.indexOf(CRLF2);
    if (end < 0) {
      // A partial head waits here only while it can still become one the fast path takes; any
      // other goes to llhttp now, which may already refuse it, rather than after more bytes.
      // Past a few KiB, llhttp's incremental parser takes over: re-checking the prefix on every
      // packet would cost quadratic time for a head sent a byte at a time.
      if (buf.length > PARTIAL_HEAD_LIMIT || !mayBecomeFastHead(buf.toString('latin1'), this.f.replayLimit)) this.leave();
      else if (this.ended) this.close();
      else this.headTimer ??= setTimeout(this.onHeadTimeout, this.opts.headersTimeoutMs);
      return;
    }
    if (this.headTimer !== null) {
      clearTimeout(this.headTimer);
      this.headTimer = null;
    }
    const head = end + 4 <= this.opts.maxHeaderSize ? parseRequestHead(buf.toString('latin1', 0, end), this.f.replayLimit, this.from) : null;
    if (head === null) {
      this.leave();
      return;
    }
    this.head = head;
    const headBytes = end + 4;
    const total = headBytes + head.contentLength;
    if (head.contentLength === 0) {
      this.body = null;
    } else if (buf.length >= total && head.contentLength <= SMALL_BODY) {
      const b = buf.subarray(headBytes, total);
      this.body = this.bufShared ? Buffer.from(b) : b;
      this.bodyPooled = false;
    } else {
      // Into a reused buffer, after room for the node's head: the part that came with the head is
      // copied, the rest is read in place.
      this.bodyBuf = this.bodies.take(HEAD_ROOM + head.contentLength).subarray(HEAD_ROOM);
      this.bodyAt = buf.copy(this.bodyBuf, 0, headBytes, Math.min(buf.length, total));
    }
    if (buf.length < total) {
      // The rest of the body comes in later reads.
      this.buf = null;
      this.bufShared = false;
      if (this.ended) this.close();
      return;
    }
    this.buf = buf.length === total ? null : buf.subarray(total);
    this.take();
  }

  /** The head and its whole body are in: serve the request. */
  private take(): void {
    const head = this.head!;
    this.head = null;
    if (this.bodyBuf !== null) {
      this.body = this.bodyBuf;
      this.bodyPooled = true;
      this.bodyBuf = null;
      this.bodyAt = 0;
    }
    this.begin(head);
  }

  private leave(): void {
    const socket = this.socket;
    socket.pause();
    this.detach();
    this.state = State.Closed;
    const bytes = this.buf !== null && this.bufShared ? Buffer.from(this.buf) : this.buf;
    this.buf = null;
    this.bufShared = false;
    this.handedOff = this.readsInPlace;
    if (this.ended) {
      // The client already half-closed: node's parser could not be given the bytes after its end.
      socket.destroy();
      return;
    }
    this.handOff(socket, bytes);
  }

  /** A head still incomplete after headersTimeoutMs from its first byte: 408, as node's server answers. */
  private readonly onHeadTimeout = (): void => {
    this.headTimer = null;
    if (this.state !== State.Reading || this.head !== null) return;
    this.f.metrics.local.countStatus(408);
    this.socket.write('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\nx-dtable-proxy: local\r\n\r\n', 'latin1');
    this.close();
  };

  private detach(): void {
    const s = this.socket;
    if (this.headTimer !== null) {
      clearTimeout(this.headTimer);
      this.headTimer = null;
    }
    s.setTimeout(0);
    s.off('data', this.onData);
    s.off('end', this.onClientEnd);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    s.off('drain', this.onDrain);
    s.off('timeout', this.onTimeout);
  }

  private begin(h: RawRequestHead): void {
    const f = this.f;
    this.state = State.Serving;
    if (h.close || f.isDraining) this.closeAfter = true;
    this.key = routeKey(h.url, h.uuidHeader);
    this.method = h.method;
    this.url = h.url;
    if (this.key < NO_BASE) {
      // Through finish(): a client that does not read its answers stops the reading of further
      // requests once they fill the socket's buffer (before, every pipelined request was answered
      // into memory without bound).
      this.answerLocal(this.key === BAD_PATH ? f.badPath : f.badUuid);
      this.finish();
      return;
    }
    f.metrics.inFlight += 1;
    this.counted = true;
    this.requestHead = '';
    this.headerText = h.upstreamHeaders;
    this.deadline = 0;
    this.backoffMs = 10;
    this.socketRetries = 0;
    this.responded = false;
    this.bodyHeld = false;
    this.route();
  }

  private route(): void {
    if (this.state !== State.Serving) return;
    const f = this.f;
    // One clock read per attempt: the deadline (first attempt) and the latency's start.
    const now = performance.now();
    if (this.deadline === 0) this.deadline = now + f.retryDeadlineMs;
    const u = this.key === NO_BASE ? f.routes.any() : f.routes.target(this.key);
    if (u === null) {
      this.retryLater('no_route', f.noNode);
      return;
    }
    if (u.down) {
      this.finishLocal(f.nodeDown);
      return;
    }
    this.upstream = u;
    if (this.requestHead === '' || this.headPrefix !== u.pathPrefix) {
      this.requestHead = `${this.method} ${u.pathPrefix}${this.url} HTTP/1.1\r\n${this.headerText}`;
      this.headPrefix = u.pathPrefix;
    }
    // A pooled body no earlier attempt's write may still hold has HEAD_ROOM free before it: the
    // head goes there, and the request out in one write.
    const body = this.body;
    let whole: Buffer | null = null;
    if (body !== null && this.bodyPooled && !this.bodyHeld && body.byteOffset >= this.requestHead.length) {
      const headBytes = this.requestHead.length;
      whole = Buffer.from(body.buffer, body.byteOffset - headBytes, headBytes + body.length);
      whole.write(this.requestHead, 0, 'latin1');
    }
    this.sentAt = now;
    this.conn = u.raw.send(this, this.requestHead, body, this.method === 'HEAD', whole, now);
  }

  private retryLater(reason: 'no_route' | 'misdirected' | 'connect', otherwise: LocalAnswer): void {
    const left = this.deadline - performance.now();
    if (left <= 0) {
      this.finishLocal(otherwise);
      return;
    }
    this.f.metrics.retry(reason);
    const wait = Math.min(this.backoffMs, left);
    this.backoffMs = Math.min(this.backoffMs * 2, 250);
    void this.f.routes.waitForChange(wait).then(() => this.route());
  }

  // ResponseSink

  onResponse(status: number, head: string, untilClose: boolean, first: Buffer | null): Relay {
    const u = this.upstream!;
    const now = performance.now();
    u.stats.observeLatency((now - this.sentAt) / 1000);
    if (status === 421 && now < this.deadline) {
      this.discarding = true;
      return Relay.Done;
    }
    u.stats.countStatus(status);
    this.responded = true;
    if (untilClose || this.f.isDraining) this.closeAfter = true;
    return this.write(`${head}${this.closeAfter ? CLOSE_LINES : this.keepAliveLines}`, first);
  }

  /** Writes a response head and the first body bytes in one write; whether a pending write holds `first` (Relay). */
  private write(head: string, first: Buffer | null): Relay {
    const s = this.socket;
    let ok: boolean;
    if (first === null || first.length === 0) ok = s.write(head, 'latin1');
    else if (first.length <= ONE_WRITE_LIMIT) ok = s.write(head + first.toString('latin1'), 'latin1');
    else {
      s.cork();
      s.write(head, 'latin1');
      s.write(first);
      s.uncork();
      // Corked, write() says false for anything over the high-water mark, though uncork() may have
      // flushed it all: judge by what is still pending (else every large response paused the node's
      // socket, and resumed it a loop turn later on the 'drain' that follows).
      ok = s.writableLength < s.writableHighWaterMark;
    }
    return this.wrote(ok);
  }

  /** After a write: Done when the kernel took it all at once, else Kept or (the client is behind) Pause. */
  private wrote(ok: boolean): Relay {
    if (!ok) {
      this.paused = true;
      return Relay.Pause;
    }
    return this.socket.writableLength === 0 ? Relay.Done : Relay.Kept;
  }

  onInterim(head: string): void {
    if (this.state === State.Serving && !this.responded) this.socket.write(head, 'latin1');
  }

  onBody(chunk: Buffer): Relay {
    if (this.discarding) return Relay.Done;
    // A chunk under the high-water mark is written as a copy, so no pending write holds the node
    // socket's read buffer: else every small chunk a slow client left pending (a stream of small
    // events) cost the node socket a new 128 KiB buffer, gigabytes for a byte-at-a-time stream.
    const s = this.socket;
    if (chunk.length < s.writableHighWaterMark) {
      if (s.write(Buffer.from(chunk))) return Relay.Done;
      this.paused = true;
      return Relay.Pause;
    }
    return this.wrote(s.write(chunk));
  }

  onEnd(sent: boolean): void {
    this.conn = null;
    if (!sent) this.bodyHeld = true;
    if (this.discarding) {
      this.discarding = false;
      this.retryLater('misdirected', this.f.noNode);
      return;
    }
    // A body no write holds any more goes back for reuse (else the GC takes it).
    if (!this.bodyHeld && this.bodyPooled && this.body !== null) this.bodies.give(this.body);
    this.body = null;
    this.finish();
  }

  onFail(kind: FailKind, err: Error): void {
    this.conn = null;
    this.bodyHeld = true;
    this.discarding = false;
    const f = this.f;
    const u = this.upstream!;
    if (this.responded) {
      // The head is out: the client can only learn of the failure by a cut connection.
      this.abandon();
      this.socket.destroy(err);
      return;
    }
    if (kind === 'connect') {
      f.routes.markDown(u, (err as NodeJS.ErrnoException).code ?? 'connect');
      this.retryLater('connect', f.nodeDown);
      return;
    }
    if (kind === 'socket' && isIdempotent(this.method) && this.socketRetries < 2 && performance.now() < this.deadline) {
      // A kept-alive socket closed by the node under us, or a node that died mid-request. Only an
      // idempotent request may be sent again: the node may have processed it (RFC 9110 section 9.2.2).
      this.socketRetries += 1;
      f.metrics.retry('socket');
      this.route();
      return;
    }
    f.log.debug({ node_id: u.nodeId, kind, err: err.message }, 'upstream request failed');
    this.finishLocal(u.down ? f.nodeDown : f.badGateway);
  }


  private finishLocal(a: LocalAnswer): void {
    this.answerLocal(a);
    this.finish();
  }

  /** Writes a proxy's own answer. */
  private answerLocal(a: LocalAnswer): void {
    this.f.metrics.local.countStatus(a.status);
    if (this.state !== State.Serving) return;
    if (this.f.isDraining) this.closeAfter = true;
    let text = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? ''}\r\n`;
    for (let i = 0; i < a.headers.length; i += 2) text += `${a.headers[i]}: ${a.headers[i + 1]}\r\n`;
    text += `date: ${new Date().toUTCString()}\r\n`;
    this.write(text + (this.closeAfter ? CLOSE_LINES : this.keepAliveLines), this.method === 'HEAD' ? null : a.body);
  }

  /** The request is over (answered, or its client is gone). */
  private finish(): void {
    this.upstream = null;
    // Not given back to the pool here: after a local answer, responseDone() may parse the next
    // request at once from `buf`, which can still be a view of this body's room (bytes copied out
    // only at the read's end), and a take() for that request must not get this buffer.
    this.body = null;
    if (this.state === State.Closed) {
      this.release();
      return;
    }
    // In flight until a slow reader has taken the response: a graceful stop waits for idle and
    // then ends connections, which must not cut a download short.
    if (this.socket.writableNeedDrain) {
      this.state = State.Flushing;
      return;
    }
    this.release();
    this.responseDone();
  }

  /** Ready for the next request on this connection, or closes it. */
  private responseDone(): void {
    // Only a response that said `Connection: close` is followed by a close here. One that promised
    // keep-alive leaves the connection to the graceful stop, which gives its client time to read it.
    if (this.closeAfter) {
      this.close();
      return;
    }
    this.state = State.Reading;
    this.paused = false;
    if (this.socket.isPaused()) this.socket.resume();
    this.next();
  }

  private readonly onDrain = (): void => {
    if (this.paused) {
      this.paused = false;
      this.conn?.resume();
    }
    if (this.state === State.Flushing) {
      this.release();
      this.responseDone();
    }
  };

  /** The client half-closed: like node's server, that ends the request being served. */
  private readonly onClientEnd = (): void => {
    this.ended = true;
    if (this.state === State.Reading) this.next();
    else if (this.state !== State.Closed) {
      this.abandon();
      this.close();
    }
  };

  private readonly onClose = (): void => {
    if (this.headTimer !== null) clearTimeout(this.headTimer);
    this.abandon();
    this.state = State.Closed;
    this.forget();
  };

  /** The client is gone: cut its node request. One waiting for a route or a retry stops when it wakes (route() sees Closed). */
  private abandon(): void {
    const c = this.conn;
    this.conn = null;
    this.state = State.Closed;
    if (c !== null) c.abort();
    this.release();
  }

  private readonly onError = (): void => undefined;

  /**
   * The socket idle for keepAliveTimeoutMs: between requests, or while a response waits in its
   * buffer for a client that takes none of it (Flushing; nginx's send_timeout). While a request is
   * served the node-side timeouts apply.
   */
  private readonly onTimeout = (): void => {
    if (this.state === State.Reading || this.state === State.Flushing) this.socket.destroy();
  };
}

