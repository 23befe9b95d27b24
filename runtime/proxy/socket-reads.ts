// Reads of the proxy's sockets into buffers the proxy chooses, instead of a new buffer per read.
//
// node allocates a fresh 64 KiB buffer for every read of a socket and shrinks it to the bytes
// read; under large bodies that is a steady stream of external memory that V8 collects with full
// mark-compact GCs (docs/PERFORMANCE.md, "Large bodies"). net.Socket's `onread` option reads into
// a caller's buffer instead, but net.Server offers it for no socket it accepts. `readInto` gives
// an accepted socket the same reads, through the fields `onread` sets (found once, from a probe
// socket, by value: no internal name is spelled here). Where they are not found, it says so and
// the caller reads 'data' events as before.
import { Socket, type SocketConstructorOpts } from 'node:net';

/** Where a socket's reads go: `next()` is the buffer for the next read; `read(view)` gets its bytes. */
export interface ReadTarget {
  /** The buffer the next read fills (up to its length). Called after every read. */
  next(): Buffer;
  /** The bytes of one read: a view of the buffer `next()` gave, valid during the call only. False pauses the socket. */
  read(view: Buffer): boolean;
}

interface OnreadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let fields: OnreadFields | null | undefined;

/** The fields net.Socket's `onread` option sets, found by value on two probe sockets; null where not found. */
function onreadFields(): OnreadFields | null {
  if (fields !== undefined) return fields;
  fields = null;
  try {
    const probeBuffer = Buffer.alloc(1);
    const probeCallback = (): boolean => true;
    const probeGenerator = (): Buffer => probeBuffer;
    const a = new Socket({ onread: { buffer: probeBuffer, callback: probeCallback } } as SocketConstructorOpts);
    const b = new Socket({ onread: { buffer: probeGenerator, callback: probeCallback } } as SocketConstructorOpts);
    const find = (s: Socket, value: unknown) => Object.getOwnPropertySymbols(s).find((k) => (s as unknown as Record<symbol, unknown>)[k] === value);
    const buffer = find(a, probeBuffer);
    const callback = find(a, probeCallback);
    const generator = find(b, probeGenerator);
    a.destroy();
    b.destroy();
    if (buffer && callback && generator && buffer !== callback) fields = { buffer, callback, generator };
  } catch {
    fields = null;
  }
  return fields;
}

/**
 * Makes an accepted, not yet read socket read into `target`'s buffers (as net.connect's `onread`
 * does). The socket then emits no 'data'; pause(), resume(), 'end' and 'close' work as before.
 * False when this node cannot do it: the socket is left as it was.
 */
export function readInto(socket: Socket, target: ReadTarget): boolean {
  const f = onreadFields();
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle;
  if (f === null || typeof handle?.useUserBuffer !== 'function') return false;
  const s = socket as unknown as Record<symbol, unknown>;
  const first = target.next();
  s[f.buffer] = first;
  s[f.callback] = (n: number, buf: Buffer) => target.read(buf.subarray(0, n));
  s[f.generator] = () => target.next();
  handle.useUserBuffer(first);
  return true;
}

/** Whether readInto works on this node (a check for tests and the startup log). */
export function canReadInto(): boolean {
  return onreadFields() !== null;
}

/** Bytes a body buffer has past the largest body of its size class: room for a read to fall short. */
const BODY_ROOM = 4096;

/**
 * Buffers reused by the fast path: request bodies (a body is read straight into one, no copy, and
 * kept there for a re-send) and the large read buffers lent to node sockets for a response body
 * (raw-upstream.ts); each is given back once no write holds it. Sizes are powers of two from
 * 64 KiB plus BODY_ROOM (see `room`).
 *
 * The pool keeps what its load needs and lets the rest decay: every `decayMs`, the buffers of a
 * size class that waited in the pool the whole period (its low-water mark: no take() reached them)
 * are left to the GC; an idle pool is empty after two periods. At most `maxBytes` wait at
 * any time. A fixed small cap made a busy proxy drop buffers it needed again a moment later: 50
 * uploads of 1 MB at once with 32 MiB kept allocated about 300 MiB/s anew, and V8 answered the
 * external memory with a mark-compact GC every 100-400 ms (399 against 326 µs per request).
 */
export class BufferPool {
  /** Per size class: the buffers waiting, and the fewest that waited since the last trim(). */
  private readonly free = new Map<number, { list: Buffer[]; low: number }>();
  /** The memory of the buffers waiting: a buffer given back twice would be handed out twice. */
  private readonly waiting = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxBytes: number,
    private readonly decayMs = 30_000,
  ) {}

  /** Bytes waiting in the pool now. */
  get pooledBytes(): number {
    return this.freeBytes;
  }

  /** A buffer of exactly `n` bytes (a view of a pooled one of the next power of two, plus BODY_ROOM). */
  take(n: number): Buffer {
    const size = sizeClass(n);
    const c = this.free.get(size);
    const b = c?.list.pop();
    if (b !== undefined) {
      this.waiting.delete(b.buffer as ArrayBuffer);
      this.freeBytes -= size;
      if (c!.list.length < c!.low) c!.low = c!.list.length;
      return b.subarray(0, n);
    }
    return Buffer.allocUnsafeSlow(size).subarray(0, n);
  }

  /** Gives back a buffer from take() that nothing reads or writes any more (again: ignored). */
  give(b: Buffer): void {
    const size = b.buffer.byteLength;
    if (size !== sizeClass(size - BODY_ROOM) || this.freeBytes + size > this.maxBytes) return;
    const memory = b.buffer as ArrayBuffer;
    if (this.waiting.has(memory)) return;
    this.waiting.add(memory);
    const whole = Buffer.from(memory, 0, size);
    const c = this.free.get(size);
    if (c === undefined) this.free.set(size, { list: [whole], low: 0 });
    else c.list.push(whole);
    this.freeBytes += size;
    if (this.timer === null && this.decayMs > 0) {
      this.timer = setTimeout(this.onDecay, this.decayMs);
      this.timer.unref();
    }
  }

  /** Leaves to the GC, in each size class, the buffers no take() reached since the last trim. */
  trim(): void {
    for (const [size, c] of this.free) {
      for (const b of c.list.splice(0, c.low)) this.waiting.delete(b.buffer as ArrayBuffer);
      this.freeBytes -= c.low * size;
      c.low = c.list.length;
      if (c.list.length === 0) this.free.delete(size);
    }
  }

  private readonly onDecay = (): void => {
    this.timer = null;
    this.trim();
    if (this.freeBytes > 0) {
      this.timer = setTimeout(this.onDecay, this.decayMs);
      this.timer.unref();
    }
  };
}

/**
 * The view of `body` (from take()) from byte `at` to BODY_ROOM bytes past its end, in the same
 * pooled buffer. A read into it that takes the body's last bytes then fills less than it was
 * given, which is how libuv knows the socket is empty; a read sized to the body exactly is
 * followed by one more read() that finds nothing (EAGAIN). Bytes past the body are the next
 * request's: at most BODY_ROOM of them, so that a read cannot take more of a pipelined request
 * than the engine would hold anyway.
 */
export function room(body: Buffer, at: number): Buffer {
  const start = body.byteOffset + at;
  return Buffer.from(body.buffer, start, body.length - at + BODY_ROOM);
}

function sizeClass(n: number): number {
  let size = 64 * 1024;
  while (size < n) size *= 2;
  return size + BODY_ROOM;
}
