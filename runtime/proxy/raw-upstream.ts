// The node side of the raw fast path (see raw-engine.ts): keep-alive sockets per node and a small
// HTTP/1.1 response framing reader that relays a node's response bytes verbatim. It parses only
// what it needs: the status, the framing (no body, Content-Length, chunked, until close) and the
// hop-by-hop headers the client must not see. Chunked bodies pass through as they are, chunk
// framing included, so the client reads exactly what the node wrote.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { dropListed, isHopByHop, MAX_INTERIM_RESPONSES } from './headers.ts';
import { contentLengthValue, headBytesOk, readConnection, RESPONSE_HEAD_LINES, tabAtEnd, TOKEN, trimOws } from './request-policy.ts';
import { BufferPool } from './socket-reads.ts';

/**
 * What a sink did with body bytes it was given. The bytes are a view of the node socket's read
 * buffer, valid only during the call: a sink that lets them outlive it (a socket write not flushed
 * at once) says so, and the connection reads into a new buffer from then on.
 */
export enum Relay {
  /** Written out (or dropped) before the call returned: the read buffer may be reused. */
  Done = 0,
  /** A pending write holds the bytes; go on reading. */
  Kept = 1,
  /** A pending write holds the bytes and the client is behind: pause the node's socket until `resume()`. */
  Pause = 2,
}

/** What a request's owner learns about its response. One sink per request attempt. */
export interface ResponseSink {
  /**
   * The response: status, the head to send the client (hop-by-hop headers removed, ends in CRLF,
   * not CRLFCRLF) and the body bytes that came with it (framing included; a view, see Relay).
   */
  onResponse(status: number, head: string, untilClose: boolean, first: Buffer | null): Relay;
  /**
   * An interim (1xx, not 101) response head for the client, hop-by-hop headers removed, ending in
   * CRLFCRLF. A proxy forwards these (RFC 9110 section 15.2).
   */
  onInterim(head: string): void;
  /** A further body chunk, framing included (a view, see Relay). */
  onBody(chunk: Buffer): Relay;
  /**
   * The whole response arrived (the socket is back in the pool, or closed). `sent`: every byte of
   * the request was written to the node's socket, so no write holds its body any more.
   */
  onEnd(sent: boolean): void;
  /** The exchange failed (before or after the head arrived). */
  onFail(kind: FailKind, err: Error): void;
}

/** connect: no connection to the node. socket: the connection broke. timeout, protocol: the node misbehaved. */
export type FailKind = 'connect' | 'socket' | 'timeout' | 'protocol';

export interface RawPoolOptions {
  connectTimeoutMs: number;
  /** Max wait for response bytes while a request is in flight. */
  responseTimeoutMs: number;
  /** Longest idle time after which a kept-alive socket is not reused (a node's Keep-Alive hint shortens it). */
  keepAliveMs: number;
}

/** Lengths of the response header names readHead looks at (1 = a framing or hop-by-hop name has it). */
const HOP_OR_FRAMING_LENGTHS = new Uint8Array(32);
for (const n of ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'http2-settings']) {
  HOP_OR_FRAMING_LENGTHS[n.length] = 1;
}

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);
const MAX_RESPONSE_HEAD = 64 * 1024;
/** Trailer section bytes a chunked response may carry. */
const MAX_TRAILERS = 16 * 1024;
/** status-line (RFC 9112 section 4): HTTP/1.0 or HTTP/1.1, three digits, then SP and a reason, or nothing. */
const STATUS_LINE = /^HTTP\/1\.[01] [1-9]\d\d(?: [^\r\n]*)?$/;
/** Digits a response's Content-Length may have (exact in a double). */
const CONTENT_LENGTH_DIGITS = 15;
/** The timeout parameter of a Keep-Alive header, seconds. */
const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/i;
const CRLF2 = Buffer.from('\r\n\r\n');
/**
 * Bytes of a plain node socket's read buffer. Reads go into one buffer per connection, reused
 * while its bytes are written out at once (net.Socket's `onread`), instead of a new buffer per
 * read: no allocation, no external memory for the GC to chase, no page faults on fresh memory.
 * 128 KiB: a response up to about 128 KB comes in one read and goes out in one write (100 KB GET
 * at one connection: 68-73 against 76-78 µs per request with 64 KiB); the pages of the buffer
 * are touched only as far as the largest response head and first read have reached.
 */
const READ_BUFFER_BYTES = 128 * 1024;
/**
 * Bytes of the buffer the rest of a response body longer than READ_BUFFER_BYTES is read into,
 * lent from a pool until the response's end: a quarter of the reads, client writes and client
 * wake-ups of 64 KiB reads, half of those of 128 KiB reads (docs/PERFORMANCE.md, "Large bodies"),
 * at no cost per idle connection.
 * It is switched to only through `onread`'s buffer callback, asked after every read: node's
 * `useUserBuffer` adds a native listener per call that lives as long as the socket.
 */
const LARGE_READ_BYTES = 256 * 1024;
/**
 * Large read buffers no socket holds, for every node socket of the process: what the load does not
 * take decays (BufferPool), at most 256 MiB wait. A fixed pool of 64 (16 MiB) was short for 50
 * large downloads at once, each holding a buffer or two.
 */
const lent = new BufferPool(256 * 1024 * 1024);
const CR = 13;
const LF = 10;
/** Body bytes up to this many go out in one string write with their head, either way (cork and writev cost more). */
export const ONE_WRITE_LIMIT = 1024;

const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

const enum Chunk {
  /** chunk-size: 1*HEXDIG */
  Size,
  /** chunk-ext (RFC 9112 section 7.1.1), no whitespace: after ";" a name must start */
  ExtNameStart,
  ExtName,
  /** after "=": a token or a quoted-string */
  ExtValueStart,
  ExtValueToken,
  ExtQuoted,
  ExtQuotedEscape,
  /** after a closing quote: ";" or the CR */
  ExtAfterQuoted,
  /** the LF after the size line's CR */
  SizeLf,
  Data,
  /** the CRLF after chunk-data */
  DataCr,
  DataLf,
  /** at the start of a trailer line (or of the final empty line) */
  TrailerStart,
  /** a trailer field name, up to its colon */
  TrailerName,
  /** a trailer field value, up to the CR */
  TrailerValue,
  TrailerLf,
  /** the LF of the final empty line */
  EndLf,
}

/** One kept-alive socket to a node, with the framing state of the response it is reading. */
export class UpstreamConn {
  sink: ResponseSink | null = null;
  private connected = false;
  private idleSince = 0;
  private reuseMs: number;
  /** The last Keep-Alive value read on this connection (its timeout is in reuseMs). */
  private keepAliveValue = '';
  /** A response head arriving in pieces: its first `headLen` bytes, in a buffer of its own that grows. */
  private headBuf: Buffer | null = null;
  private headLen = 0;
  private headDone = false;
  private framing = Framing.None;
  private left = 0;
  private chunk = Chunk.Size;
  private chunkSize = 0;
  private sizeDigits = 0;
  private trailerBytes = 0;
  /** Bytes of a trailer's name that match `content-length` so far (case-insensitive), -1 once one does not. */
  private trailerMatch = -1;
  private reusable = true;
  private isHead = false;
  /** Interim responses to the request in flight (MAX_INTERIM_RESPONSES). */
  private interims = 0;
  private status = 0;
  private failed: Error | null = null;
  /** The large buffer reads go into while set (lent for one response's body); see LARGE_READ_BYTES. */
  private large: Buffer | null = null;
  /** Large buffers this response's pending client writes hold (see relayed). */
  private held: Buffer[] = [];
  /** Bytes of the last read. */
  private lastRead = 0;
  /** Set while the socket waits in the pool: data or a close then only removes it. */
  idle = false;

  /**
   * @param readBuffer the buffer a plain socket reads into (its `onread` hands the bytes to
   *   `onRead`); null for a TLS socket, which emits 'data'.
   */
  constructor(
    private readonly pool: RawPool,
    readonly socket: Socket,
    private readBuffer: Buffer | null,
  ) {
    this.reuseMs = pool.opts.keepAliveMs;
    socket.setTimeout(pool.opts.connectTimeoutMs);
    socket.once(pool.tls ? 'secureConnect' : 'connect', this.onConnect);
    if (readBuffer === null) socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
  }

  /**
   * Sends one request for `sink`: `head` (latin1, ending in CRLFCRLF) and the whole `body`, or
   * `whole`, the same bytes laid out in one buffer, in one write.
   */
  send(sink: ResponseSink, head: string, body: Buffer | null, isHead: boolean, whole: Buffer | null = null): void {
    this.sink = sink;
    this.isHead = isHead;
    this.interims = 0;
    this.headDone = false;
    this.reusable = true;
    const s = this.socket;
    if (whole !== null) {
      s.write(whole);
      return;
    }
    if (body === null || body.length === 0) {
      s.write(head, 'latin1');
      return;
    }
    if (body.length <= ONE_WRITE_LIMIT) {
      s.write(head + body.toString('latin1'), 'latin1');
      return;
    }
    s.cork();
    s.write(head, 'latin1');
    s.write(body);
    s.uncork();
  }

  /** Usable for another request: open, not closed by the node, not idle beyond the node's keep-alive. */
  fresh(now: number): boolean {
    return !this.socket.destroyed && this.socket.writable && now - this.idleSince < this.reuseMs;
  }

  /** The client took every byte written to it (its drain): reads go on. */
  resume(): void {
    if (this.held.length > 0) this.giveHeld();
    this.socket.resume();
  }

  /** Cut the request (its client went away): the node sees its connection close. */
  abort(): void {
    this.sink = null;
    this.socket.destroy();
  }

  markIdle(now: number): void {
    this.idle = true;
    this.idleSince = now;
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    this.socket.setTimeout(this.pool.opts.responseTimeoutMs);
  };

  /**
   * The buffer the socket's next read goes into (net.Socket `onread.buffer`, asked after every
   * read): a large one while a response body has more than READ_BUFFER_BYTES to come (known from
   * Content-Length, else guessed from a read that filled the buffer), else the connection's own.
   */
  readonly nextReadBuffer = (): Buffer => {
    if (this.large === null && this.headDone && this.sink !== null) {
      const more = this.framing === Framing.Length ? this.left > READ_BUFFER_BYTES : this.lastRead === READ_BUFFER_BYTES;
      if (more) this.large = lent.take(LARGE_READ_BYTES);
    }
    return this.large ?? this.readBuffer!;
  };

  /** `n` bytes were read into `buf` (net.Socket `onread.callback`). */
  readonly onRead = (n: number, buf: Buffer): boolean => {
    this.lastRead = n;
    this.onData(buf.subarray(0, n));
    return true;
  };

  /**
   * After a sink was handed a view of the read buffer: true unless the client is behind (the socket
   * is then paused until its drain). A write that holds the view while reads go on (Kept), or that
   * the next response on this socket would outrun (`last`), keeps the buffer: reads go into a new one.
   * A paused socket reads again only once the client's writes are done, so Pause alone keeps the
   * connection's own buffer. A large buffer any write holds is not read into again; it goes back
   * to the pool once the client has taken every byte written to it (a later Done, or the drain
   * that resumes a paused socket), or else is left to the GC.
   */
  private relayed(r: Relay, last: boolean): boolean {
    if (r === Relay.Done) {
      if (this.held.length > 0) this.giveHeld();
      return true;
    }
    // The bytes are in `large` while it is set (it changes only after a read).
    if (this.large !== null) {
      this.held.push(this.large);
      this.large = null;
    } else if ((r === Relay.Kept || last) && this.readBuffer !== null) this.readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    return r !== Relay.Pause;
  }

  /** The client's socket has no write pending: the large buffers its writes held are free. */
  private giveHeld(): void {
    for (const b of this.held) lent.give(b);
    this.held = [];
  }

  private readonly onData = (d: Buffer): void => {
    if (this.sink === null) {
      // Bytes nobody asked for: the socket's framing is lost.
      this.socket.destroy();
      return;
    }
    if (this.headDone) {
      this.body(d);
      return;
    }
    let buf = d;
    let from = 0;
    if (this.headBuf !== null) {
      // The next piece of a head: appended, and searched only from where the last piece ended, so
      // a head sent a byte at a time costs time linear in its length (not a copy and a search of
      // everything so far per byte).
      from = Math.max(0, this.headLen - 3);
      buf = this.appendHead(d);
    }
    for (;;) {
      const end = buf.indexOf(CRLF2, from);
      from = 0;
      if (end < 0) {
        if (buf.length > MAX_RESPONSE_HEAD) return this.fail('protocol', new Error('response head too large'));
        // Kept past this read in a buffer of its own, never as a view of the read buffer (the
        // next read overwrites it; after an interim head, `buf` is a view of part of `d`).
        if (this.headBuf === null) {
          this.headLen = 0;
          this.headBuf = Buffer.allocUnsafe(Math.max(4096, 2 * buf.length));
          this.appendHead(buf);
        }
        return;
      }
      // A head that came in pieces is in headBuf, which the rest of this read may be relayed from:
      // the next pieced head gets a new one.
      this.headBuf = null;
      const head = this.readHead(buf.toString('latin1', 0, end + 2));
      if (head === null) return;
      if (this.status < 200) {
        // Interim response (100, 102, 103): passed on, and the final response follows.
        if (++this.interims > MAX_INTERIM_RESPONSES) return this.fail('protocol', new Error(`more than ${MAX_INTERIM_RESPONSES} interim responses`));
        this.sink.onInterim(`${head}\r\n`);
        buf = buf.subarray(end + 4);
        if (buf.length === 0) return;
        if (this.sink === null) return;
        continue;
      }
      const rest = buf.subarray(end + 4);
      let first: Buffer | null = null;
      let done = this.framing === Framing.None;
      if (done) {
        if (rest.length > 0) this.reusable = false;
      } else if (rest.length > 0) {
        const e = this.measure(rest);
        if (e === -2) return this.fail('protocol', new Error('malformed chunked body from the node'));
        done = e >= 0;
        first = done && e < rest.length ? rest.subarray(0, e) : rest;
        if (done && e < rest.length) this.reusable = false;
      }
      const more = this.relayed(this.sink.onResponse(this.status, head, this.framing === Framing.UntilClose, first), done);
      if (done) this.complete();
      else if (!more) this.socket.pause();
      return;
    }
  };

  /** Appends `d` to the head arriving in pieces (headBuf grows by doubling); the bytes so far. */
  private appendHead(d: Buffer): Buffer {
    let b = this.headBuf!;
    const need = this.headLen + d.length;
    if (need > b.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * b.length));
      b.copy(grown, 0, 0, this.headLen);
      this.headBuf = b = grown;
    }
    d.copy(b, this.headLen);
    this.headLen = need;
    return b.subarray(0, need);
  }

  /**
   * Parses a response head (ending in CRLF) and sets the framing (RFC 9112 section 6.3); the head
   * for the client, or null after a failure. A head a proxy may not pass on fails as 'protocol'
   * (502): a malformed status line, bare CR or LF, control bytes, obs-fold or whitespace before a
   * colon (RFC 9112 section 5.1, 5.2), a Content-Length that is not one 1*DIGIT field, both
   * Content-Length and Transfer-Encoding, chunked not last or in an HTTP/1.0 response (section
   * 6.1), a Connection list that is not tokens or names a framing header, a 101 nobody asked for,
   * a 1xx in HTTP/1.0 or with Connection: close (llhttp reads nothing after it).
   * Only names as long as a header of interest are lowercased.
   */
  private readHead(text: string): string | null {
    const lineEnd = text.indexOf('\r\n');
    if (!RESPONSE_HEAD_LINES.test(text)) {
      // Which part is wrong, for the log: the status line or bytes, else a field line.
      const statusLine = text.slice(0, lineEnd);
      if (!STATUS_LINE.test(statusLine) || !headBytesOk(text)) return this.refuse(`malformed response head ${JSON.stringify(statusLine.slice(0, 40))}`);
      return this.refuse('malformed response header');
    }
    const status = Number(text.slice(9, 12));
    if (status === 101) return this.refuse('unexpected protocol switch');
    this.status = status;
    const noContent = status < 200 || status === 204;
    const http11 = text.charCodeAt(7) === 49;
    let length = -1;
    let transferEncoding: string | null = null;
    let close = !http11;
    let listed: string[] | null = null;
    // The head is copied in runs of kept lines; the status line is kept when it already says HTTP/1.1.
    let out = http11 ? '' : 'HTTP/1.1';
    let run = http11 ? 0 : 8;
    let pos = lineEnd + 2;
    while (pos < text.length) {
      const next = text.indexOf('\r\n', pos);
      // RESPONSE_HEAD_LINES: a token, then this colon.
      const colon = text.indexOf(':', pos);
      const line = pos;
      pos = next + 2;
      const lower = HOP_OR_FRAMING_LENGTHS[colon - line] === 1 ? text.slice(line, colon).toLowerCase() : '';
      switch (lower) {
        case '':
          continue;
        case 'content-length': {
          if (length >= 0) return this.refuse('bad content-length from the node');
          length = contentLengthValue(text.slice(colon + 1, next), CONTENT_LENGTH_DIGITS);
          if (length < 0) return this.refuse('bad content-length from the node');
          // 1xx and 204 carry no framing fields (RFC 9110 section 8.6, RFC 9112 section 6.1): dropped.
          if (noContent) break;
          continue;
        }
        case 'transfer-encoding': {
          // Relayed with the body's framing, although hop-by-hop. A trailing HTAB: llhttp would
          // not read the last coding as the proxy does (tabAtEnd).
          const value = text.slice(colon + 1, next);
          if (tabAtEnd(value)) return this.refuse('bad transfer-encoding from the node');
          transferEncoding = transferEncoding === null ? value : `${transferEncoding},${value}`;
          if (noContent) break;
          continue;
        }
        case 'connection': {
          const c = readConnection(text.slice(colon + 1, next));
          if (c === null) return this.refuse('bad connection header from the node');
          if (c.close) close = true;
          if (c.listed.length > 0) for (const name of c.listed) (listed ??= []).push(name);
          break;
        }
        case 'proxy-connection': {
          // llhttp reads `close` here as in Connection: the socket is not reused. Dropped (hop-by-hop).
          const c = readConnection(text.slice(colon + 1, next));
          if (c === null || c.close) close = true;
          break;
        }
        case 'keep-alive': {
          // A node sends the same value every time: read once per connection.
          const value = text.slice(colon + 1, next);
          if (value !== this.keepAliveValue) {
            this.keepAliveValue = value;
            const m = KEEP_ALIVE_TIMEOUT.exec(value);
            if (m) this.reuseMs = Math.min(this.pool.opts.keepAliveMs, Number(m[1]) * 1000 - 1000);
          }
          break;
        }
        default:
          if (!isHopByHop(lower)) continue;
      }
      // a hop-by-hop line: copy the run before it
      out += text.slice(run, line);
      run = pos;
    }
    out += text.slice(run);
    if (listed !== null) out = out.slice(0, out.indexOf('\r\n') + 2) + dropListed(out.slice(out.indexOf('\r\n') + 2), listed);
    // An interim response in HTTP/1.0 or saying close ends the connection for llhttp: whatever
    // follows, the final response included, is data after the close (HPE_CLOSED_CONNECTION).
    if (status < 200) return close ? this.refuse('interim response that closes the connection') : out;
    let chunked = false;
    if (transferEncoding !== null && length >= 0) return this.refuse('transfer-encoding with content-length');
    if (status === 204) transferEncoding = null;
    else if (transferEncoding !== null) {
      if (!http11) return this.refuse('transfer-encoding in an HTTP/1.0 response');
      const codings = transferEncoding.split(',').map((c) => trimOws(c).toLowerCase());
      const last = codings.length - 1;
      if (codings.some((c, i) => !TOKEN.test(c) || (c === 'chunked' && i !== last))) return this.refuse('bad transfer-encoding from the node');
      chunked = codings[last] === 'chunked';
    }
    if (close) this.reusable = false;
    if (this.isHead || status === 204 || status === 304 || (transferEncoding === null && length === 0)) this.framing = Framing.None;
    else if (transferEncoding !== null) this.framing = chunked ? Framing.Chunked : Framing.UntilClose;
    else if (length > 0) this.framing = Framing.Length;
    else this.framing = Framing.UntilClose;
    if (this.framing === Framing.Length) this.left = length;
    if (this.framing === Framing.Chunked) {
      this.chunk = Chunk.Size;
      this.chunkSize = 0;
      this.sizeDigits = 0;
    }
    if (this.framing === Framing.UntilClose) this.reusable = false;
    this.headDone = true;
    return out;
  }

  private refuse(why: string): null {
    this.fail('protocol', new Error(why));
    return null;
  }

  private body(d: Buffer): void {
    const sink = this.sink!;
    const end = this.measure(d);
    if (end === -2) return this.fail('protocol', new Error('malformed chunked body from the node'));
    if (end < 0) {
      if (!this.relayed(sink.onBody(d), false)) this.socket.pause();
      return;
    }
    if (end < d.length) this.reusable = false;
    // The last bytes: the client's backpressure no longer concerns this socket.
    if (end > 0) this.relayed(sink.onBody(end === d.length ? d : d.subarray(0, end)), true);
    this.complete();
  }

  /** How much of `d` belongs to the response: the index just past its end, -1 when all of it and more is to come, -2 when malformed. */
  private measure(d: Buffer): number {
    if (this.framing === Framing.Length) {
      if (d.length >= this.left) return this.left;
      this.left -= d.length;
      return -1;
    }
    if (this.framing === Framing.Chunked) return this.scanChunked(d);
    return -1;
  }

  /**
   * Walks chunk framing (RFC 9112 section 7.1): the index just past the message's end, -1 when it
   * goes on, -2 when malformed. Strict: every line ends in CRLF, no whitespace around the size.
   */
  private scanChunked(d: Buffer): number {
    let i = 0;
    const n = d.length;
    while (i < n) {
      if (this.chunk === Chunk.Data) {
        const take = Math.min(this.left, n - i);
        i += take;
        this.left -= take;
        if (this.left === 0) this.chunk = Chunk.DataCr;
        continue;
      }
      const c = d[i++]!;
      switch (this.chunk) {
        case Chunk.Size:
          if (c === CR) {
            if (this.sizeDigits === 0) return -2;
            this.chunk = Chunk.SizeLf;
          } else if (c === 59 /* ; */) {
            if (this.sizeDigits === 0) return -2;
            this.chunk = Chunk.ExtNameStart;
          } else {
            const v = hexValue(c);
            if (v < 0 || this.sizeDigits >= 12) return -2;
            this.chunkSize = this.chunkSize * 16 + v;
            this.sizeDigits += 1;
          }
          break;
        case Chunk.ExtNameStart:
          if (TCHAR[c] !== 1) return -2;
          this.chunk = Chunk.ExtName;
          break;
        case Chunk.ExtName:
        case Chunk.ExtValueToken:
          if (c === CR) this.chunk = Chunk.SizeLf;
          else if (c === 59 /* ; */) this.chunk = Chunk.ExtNameStart;
          else if (c === 61 /* = */ && this.chunk === Chunk.ExtName) this.chunk = Chunk.ExtValueStart;
          else if (TCHAR[c] !== 1) return -2;
          break;
        case Chunk.ExtValueStart:
          if (c === 34 /* " */) this.chunk = Chunk.ExtQuoted;
          else if (TCHAR[c] === 1) this.chunk = Chunk.ExtValueToken;
          else return -2;
          break;
        case Chunk.ExtQuoted:
          if (c === 34 /* " */) this.chunk = Chunk.ExtAfterQuoted;
          else if (c === 92 /* \ */) this.chunk = Chunk.ExtQuotedEscape;
          else if ((c < 32 && c !== 9) || c === 127) return -2;
          break;
        case Chunk.ExtQuotedEscape:
          if ((c < 32 && c !== 9) || c === 127) return -2;
          this.chunk = Chunk.ExtQuoted;
          break;
        case Chunk.ExtAfterQuoted:
          if (c === CR) this.chunk = Chunk.SizeLf;
          else if (c === 59 /* ; */) this.chunk = Chunk.ExtNameStart;
          else return -2;
          break;
        case Chunk.SizeLf:
          if (c !== LF) return -2;
          if (this.chunkSize === 0) {
            this.chunk = Chunk.TrailerStart;
            this.trailerBytes = 0;
          } else {
            this.left = this.chunkSize;
            this.chunk = Chunk.Data;
          }
          this.chunkSize = 0;
          this.sizeDigits = 0;
          break;
        case Chunk.DataCr:
          if (c !== CR) return -2;
          this.chunk = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (c !== LF) return -2;
          this.chunk = Chunk.Size;
          break;
        case Chunk.TrailerStart:
          if (c === CR) this.chunk = Chunk.EndLf;
          else if (TCHAR[c] === 1) {
            this.chunk = Chunk.TrailerName;
            this.trailerMatch = (c | 0x20) === CONTENT_LENGTH_NAME[0] ? 1 : -1;
          } else return -2;
          break;
        case Chunk.TrailerName:
          // field-name ":" (RFC 9112 section 7.1.2, section 5): no whitespace before the colon.
          if (++this.trailerBytes > MAX_TRAILERS) return -2;
          if (c === 58 /* : */) {
            // A Content-Length trailer: llhttp refuses the message (HPE_INVALID_CONTENT_LENGTH), so
            // relaying it would make the client fail on bytes the proxy passed as good.
            if (this.trailerMatch === CONTENT_LENGTH_NAME.length) return -2;
            this.chunk = Chunk.TrailerValue;
          } else if (TCHAR[c] !== 1) return -2;
          else if (this.trailerMatch >= 0) this.trailerMatch = (c | 0x20) === CONTENT_LENGTH_NAME[this.trailerMatch] ? this.trailerMatch + 1 : -1;
          break;
        case Chunk.TrailerValue:
          if (++this.trailerBytes > MAX_TRAILERS) return -2;
          if (c === CR) this.chunk = Chunk.TrailerLf;
          else if ((c < 32 && c !== 9) || c === 127) return -2;
          break;
        case Chunk.TrailerLf:
          if (c !== LF) return -2;
          this.chunk = Chunk.TrailerStart;
          break;
        case Chunk.EndLf:
          if (c !== LF) return -2;
          return i;
      }
    }
    return -1;
  }

  private complete(): void {
    const sink = this.sink!;
    this.sink = null;
    this.headDone = false;
    if (this.large !== null) lent.give(this.large);
    this.large = null;
    // Still held by the client's pending writes, which the next response's relays cannot see.
    if (this.held.length > 0) this.held = [];
    const sent = this.socket.writableLength === 0;
    if (this.reusable) this.pool.release(this);
    else this.socket.destroy();
    sink.onEnd(sent);
  }

  private fail(kind: FailKind, err: Error): void {
    const sink = this.sink;
    this.sink = null;
    this.socket.destroy();
    if (sink) sink.onFail(kind, err);
  }

  private readonly onError = (err: Error): void => {
    this.failed = err;
  };

  private readonly onClose = (): void => {
    this.pool.forget(this);
    const sink = this.sink;
    if (sink === null) return;
    if (this.headDone && this.framing === Framing.UntilClose) {
      this.reusable = false;
      this.complete();
      return;
    }
    const err = this.failed ?? Object.assign(new Error('the node closed the connection'), { code: 'ECONNRESET' });
    const code = (err as NodeJS.ErrnoException).code ?? '';
    this.fail(!this.connected && CONNECT_ERRORS.has(code) ? 'connect' : 'socket', err);
  };

  private readonly onTimeout = (): void => {
    if (!this.connected) {
      this.fail('connect', Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
      return;
    }
    if (this.sink === null) {
      this.socket.destroy();
      return;
    }
    this.fail('timeout', new Error('the node did not answer in time'));
  };
}

/** `content-length`, lowercase, as bytes (a trailer of that name is refused). */
const CONTENT_LENGTH_NAME = Buffer.from('content-length', 'latin1');

/** 1 for the bytes of a token (tchar, RFC 9110 section 5.6.2). */
const TCHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[ch.charCodeAt(0)] = 1;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** Kept-alive sockets to one node, newest idle first. */
export class RawPool {
  private readonly idle: UpstreamConn[] = [];
  private closed = false;
  private readonly servername: string | undefined;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly tls: boolean,
    readonly opts: RawPoolOptions,
  ) {
    this.servername = tls && isIP(host) === 0 ? host : undefined;
  }

  /**
   * Sends a request on an idle socket or a new one (UpstreamConn.send); the returned connection
   * reports to `sink`. `now`: performance.now(), when the caller has just read it.
   */
  send(sink: ResponseSink, head: string, body: Buffer | null, isHead: boolean, whole: Buffer | null = null, now = performance.now()): UpstreamConn {
    const c = this.take(now) ?? this.open();
    c.send(sink, head, body, isHead, whole);
    return c;
  }

  release(c: UpstreamConn): void {
    if (this.closed) {
      c.socket.destroy();
      return;
    }
    c.markIdle(performance.now());
    this.idle.push(c);
  }

  /** The socket closed: it is no longer offered. */
  forget(c: UpstreamConn): void {
    if (c.idle) {
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  private take(now: number): UpstreamConn | null {
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      c.idle = false;
      if (c.fresh(now)) return c;
      c.socket.destroy();
    }
    return null;
  }

  private open(): UpstreamConn {
    if (this.tls) {
      const socket = tlsConnect({ host: this.host, port: this.port, servername: this.servername, ALPNProtocols: ['http/1.1'] });
      socket.setNoDelay(true);
      return new UpstreamConn(this, socket, null);
    }
    const first = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    let conn: UpstreamConn | undefined;
    // net.connect asks for the first buffer before the connection object exists.
    const socket = netConnect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: { buffer: () => (conn === undefined ? first : conn.nextReadBuffer()), callback: (n: number, buf: Uint8Array) => conn!.onRead(n, buf as Buffer) },
    });
    conn = new UpstreamConn(this, socket, first);
    return conn;
  }
}
