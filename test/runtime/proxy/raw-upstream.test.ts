// The node side of the fast path reads into one buffer per connection and hands sinks views of it
// (raw-upstream.ts, Relay). These tests hold a sink to that contract with a real TCP "node": a
// sink that keeps the views it was given (as a pending socket write would) must find every byte
// intact at the end, whatever the node's write sizes, and across responses on one connection.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawPool, Relay, type FailKind, type ResponseSink } from '../../../runtime/proxy/raw-upstream.ts';
import { patterned } from './fixtures/fake-node.ts';

let server: Server;
let port: number;

beforeAll(async () => {
  // GET /N/S answers N patterned bytes (seed S) with Content-Length, in writes of varying size.
  server = createServer((socket: Socket) => {
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const [, n, seed] = /^GET \/(\d+)\/(\d+) /.exec(buf)!;
        buf = buf.slice(end + 4);
        const body = patterned(Number(n), Number(seed));
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
        for (let at = 0, k = 1; at < body.length; k++) {
          const size = Math.min(1 + ((k * 104_729) % 90_000), body.length - at);
          socket.write(body.subarray(at, at + size));
          at += size;
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A sink that keeps every view it is given, answering `relay(sink)` for each, as a held write would. */
class KeepingSink implements ResponseSink {
  readonly views: Buffer[] = [];
  status = 0;
  done!: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: Error) => void;

  constructor(private readonly relay: (sink: KeepingSink) => Relay) {
    this.done = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
  }

  onResponse(status: number, _head: string, _untilClose: boolean, first: Buffer | null): Relay {
    this.status = status;
    if (first === null) return Relay.Done;
    this.views.push(first);
    return this.relay(this);
  }

  onInterim(_head: string): void {}

  onBody(chunk: Buffer): Relay {
    this.views.push(chunk);
    return this.relay(this);
  }

  onEnd(): void {
    this.resolve();
  }

  onFail(kind: FailKind, err: Error): void {
    this.reject(new Error(`${kind}: ${err.message}`));
  }

  body(): Buffer {
    return Buffer.concat(this.views);
  }
}

function pool(to = port): RawPool {
  return new RawPool('127.0.0.1', to, false, { connectTimeoutMs: 2000, responseTimeoutMs: 10_000, keepAliveMs: 30_000 });
}

describe('raw upstream read buffers (Relay)', () => {
  it('never overwrites bytes a sink kept (Kept) while reading goes on', async () => {
    const p = pool();
    const bytes = 5 * 1024 * 1024 + 333;
    const sink = new KeepingSink(() => Relay.Kept);
    p.send(sink, `GET /${bytes}/9 HTTP/1.1\r\nhost: n\r\n\r\n`, null, false);
    await sink.done;
    expect(sink.status).toBe(200);
    expect(sink.views.length).toBeGreaterThan(10);
    expect(sink.body().equals(patterned(bytes, 9))).toBe(true);
    p.close();
  });

  it('keeps the last bytes of a response a paused sink holds when the socket serves the next response', async () => {
    const p = pool();
    // 131_029 bytes and its head (43 bytes) fill the 128 KiB read buffer exactly.
    const sizes = [300_001, 70_000, 131_028, 131_029, 131_030, 131_072, 1_000_003];
    const sinks: KeepingSink[] = [];
    // One request at a time on the one kept-alive socket; each sink holds its views to the end and
    // answers Pause on its last chunk (a write still pending when the response is complete).
    for (const [i, n] of sizes.entries()) {
      let seen = 0;
      const sink = new KeepingSink((s) => {
        seen += s.views.at(-1)!.length;
        return seen === n ? Relay.Pause : Relay.Done;
      });
      p.send(sink, `GET /${n}/${i} HTTP/1.1\r\nhost: n\r\n\r\n`, null, false);
      await sink.done;
      sinks.push(sink);
    }
    // Done views may be reused; only the last (Pause) view of each response must have survived.
    for (const [i, n] of sizes.entries()) {
      const last = sinks[i]!.views.at(-1)!;
      expect(last.equals(patterned(n, i).subarray(n - last.length))).toBe(true);
    }
    p.close();
  });
});

describe('raw upstream response heads in pieces', () => {
  /** A node that writes `pieces` one per event-loop turn (each its own read on the proxy's side, mostly). */
  async function pieceNode(pieces: string[]): Promise<{ port: number; close(): Promise<void> }> {
    const s = createServer((socket) => {
      socket.setNoDelay(true);
      socket.once('data', async () => {
        for (const p of pieces) {
          socket.write(p, 'latin1');
          await new Promise((r) => setTimeout(r, 1));
        }
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: (s.address() as AddressInfo).port, close: () => new Promise<void>((r) => s.close(() => r())) };
  }

  it('reads a head that comes a few bytes at a time, with body bytes after its end in the same piece', async () => {
    const head = `HTTP/1.1 200 OK\r\nx-long: ${'v'.repeat(300)}\r\ncontent-length: 10\r\n\r\n`;
    const whole = `${head}0123456789`;
    // pieces of 7 bytes: the head's end and the first body bytes arrive together
    const pieces: string[] = [];
    for (let at = 0; at < whole.length; at += 7) pieces.push(whole.slice(at, at + 7));
    const node = await pieceNode(pieces);
    const p = pool(node.port);
    const heads: string[] = [];
    const sink = new KeepingSink(() => Relay.Kept);
    const onResponse = sink.onResponse.bind(sink);
    sink.onResponse = (status, h, untilClose, first) => {
      heads.push(h);
      return onResponse(status, h, untilClose, first);
    };
    p.send(sink, 'GET / HTTP/1.1\r\nhost: n\r\n\r\n', null, false);
    await sink.done;
    expect(sink.status).toBe(200);
    expect(heads).toEqual([head.slice(0, -2)]);
    expect(sink.body().toString('latin1')).toBe('0123456789');
    p.close();
    await node.close();
  });

  it('reads an interim head and the final one when both come in pieces', async () => {
    const whole = 'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc';
    const pieces: string[] = [];
    for (let at = 0; at < whole.length; at += 5) pieces.push(whole.slice(at, at + 5));
    const node = await pieceNode(pieces);
    const p = pool(node.port);
    const interim: string[] = [];
    const sink = new KeepingSink(() => Relay.Done);
    sink.onInterim = (h: string) => void interim.push(h);
    p.send(sink, 'GET / HTTP/1.1\r\nhost: n\r\n\r\n', null, false);
    await sink.done;
    expect(interim).toEqual(['HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n']);
    expect(sink.status).toBe(200);
    expect(sink.body().toString('latin1')).toBe('abc');
    p.close();
    await node.close();
  });
});
