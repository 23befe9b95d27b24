// Responses relayed from a node's read buffer (raw-upstream.ts, Relay) to the client exactly, whatever
// the node's head looks like: shorter than the proxy's (no Connection fields), as long, much
// longer, in pieces with its last bytes and the body in one write, after an interim head in the
// same write; bodies around the one-write limit (ONE_WRITE_LIMIT) and the read buffer's size; to a
// client that reads at once and to one that reads nothing until every pipelined response is sent
// (writes pending while the node socket reads on). Every response must reach the client exactly:
// the node's status and fields, the proxy's Connection fields, the body byte for byte.
//
// And a large response to a client that keeps up pauses the node's socket on few of its reads,
// not per chunk (issue 16: "no per-chunk pause/resume churn").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, Socket, type Server } from 'node:net';
import { allTo, startInProcessProxy, type InProcessProxy } from './fixtures/in-process-proxy.ts';
import { listenLoopback } from './fixtures/listen.ts';
import { patterned } from './fixtures/fake-node.ts';

const UUID = '5e5c6ad2-1111-4222-8333-444455556666';

/** How the node frames its answer; `head(n)` ends in CRLFCRLF. */
interface Shape {
  name: string;
  head(n: number): string;
  /** Sent before the head, in the same write. */
  interim?: string;
  /** The head written a few bytes per event-loop turn, its last bytes with the body. */
  pieces?: boolean;
}

const SHAPES: Shape[] = [
  { name: 'bare (shorter than the proxy head)', head: (n) => `HTTP/1.1 200 OK\r\ncontent-length: ${n}\r\n\r\n` },
  {
    name: 'node-like',
    head: (n) => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${n}\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n`,
  },
  { name: 'long', head: (n) => `HTTP/1.1 201 Created\r\nx-pad: ${'p'.repeat(3000)}\r\ncontent-length: ${n}\r\nx-obs: caf\xe9\r\n\r\n` },
  { name: 'after an interim', interim: 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n', head: (n) => `HTTP/1.1 200 OK\r\ncontent-length: ${n}\r\n\r\n` },
  { name: 'in pieces', pieces: true, head: (n) => `HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: ${n}\r\n\r\n` },
];
const SIZES = [0, 1024, 1025, 4096, 131_000, 131_072, 131_300, 700_001];

/** What the client must see for `shape` and `n` bytes of body seed `seed` (the proxy's Connection fields aside). */
function expected(shape: Shape, n: number, seed: number): { interim: string; head: string; body: Buffer } {
  const lines = shape
    .head(n)
    .split('\r\n')
    .filter((l) => l !== '' && !/^(connection|keep-alive):/i.test(l));
  return { interim: shape.interim ?? '', head: lines.join('\r\n'), body: patterned(n, seed) };
}

/** GET /dtables/UUID/r/SHAPE/N/SEED answers N bytes framed as SHAPES[SHAPE]. */
async function rawNode(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((s: Socket) => {
    s.setNoDelay(true);
    let buf = '';
    let queue = Promise.resolve();
    s.on('error', () => undefined);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const [, k, n, seed] = /^GET \/dtables\/[0-9a-f-]+\/r\/(\d+)\/(\d+)\/(\d+) /.exec(buf)!;
        buf = buf.slice(end + 4);
        const shape = SHAPES[Number(k)]!;
        const head = Buffer.from((shape.interim ?? '') + shape.head(Number(n)), 'latin1');
        const body = patterned(Number(n), Number(seed));
        queue = queue.then(async () => {
          if (!shape.pieces) {
            s.write(Buffer.concat([head, body]));
            return;
          }
          // The head's last bytes come with the body, so the body's first bytes follow a pieced head.
          const last = head.length - 5;
          for (let at = 0; at < last; at += 7) {
            s.write(head.subarray(at, Math.min(at + 7, last)));
            await new Promise((r) => setTimeout(r, 1));
          }
          s.write(Buffer.concat([head.subarray(last), body]));
        });
      }
    });
  });
  return listenLoopback(server);
}

interface Seen {
  interim: string;
  head: string;
  body: Buffer;
}

/**
 * Sends every request at once (pipelined) on one connection and reads the responses (Content-Length
 * framing; an interim head is taken with the final one). `holdMs`: the client reads nothing this
 * long after sending, so the proxy's writes stay pending while it reads the node on.
 */
function exchange(port: number, paths: string[], holdMs: number): Promise<Seen[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let size = 0;
    const seen: Seen[] = [];
    let at = 0;
    let interim = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timed out after ${seen.length} of ${paths.length} responses`));
    }, 20_000);
    const parse = (): void => {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(all);
      for (;;) {
        const end = all.indexOf('\r\n\r\n', at);
        if (end < 0) return;
        const head = all.toString('latin1', at, end);
        if (/^HTTP\/1\.1 1\d\d /.test(head)) {
          interim += `${head}\r\n\r\n`;
          at = end + 4;
          continue;
        }
        const n = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 'NaN');
        if (size < end + 4 + n) return;
        seen.push({ interim, head, body: Buffer.from(all.subarray(end + 4, end + 4 + n)) });
        interim = '';
        at = end + 4 + n;
        if (seen.length === paths.length) {
          clearTimeout(timer);
          s.destroy();
          resolve(seen);
          return;
        }
      }
    };
    s.on('error', reject);
    s.on('connect', () => {
      if (holdMs > 0) {
        s.pause();
        setTimeout(() => s.resume(), holdMs);
      }
      s.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    });
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      parse();
    });
  });
}

let proxy: InProcessProxy;
let node: { url: string; close(): Promise<void> };

beforeAll(async () => {
  node = await rawNode();
  proxy = await startInProcessProxy({ engine: 'raw' });
  proxy.setRoutes([{ nodeId: 'a', url: node.url }], allTo('a'));
});

afterAll(async () => {
  await proxy?.close();
  await node?.close();
});

function check(got: Seen[], want: Array<ReturnType<typeof expected>>): void {
  expect(got).toHaveLength(want.length);
  for (const [i, w] of want.entries()) {
    const g = got[i]!;
    expect(g.interim.replace(/\r\n(connection|keep-alive):[^\r]*/gi, ''), `response ${i} interim`).toBe(w.interim);
    const lines = g.head.split('\r\n');
    expect(lines.filter((l) => !/^(connection|keep-alive):/i.test(l)).join('\r\n'), `response ${i} head`).toBe(w.head);
    expect(lines).toContain('connection: keep-alive');
    expect(g.body.length, `response ${i} body length`).toBe(w.body.length);
    expect(g.body.equals(w.body), `response ${i} body bytes`).toBe(true);
  }
}

describe('responses relayed exactly', () => {
  for (const [k, shape] of SHAPES.entries()) {
    it.each([0, 300])(`${shape.name}: bodies of ${SIZES.join(', ')} bytes, client holding its reads %i ms`, async (holdMs) => {
      const paths: string[] = [];
      const want: Array<ReturnType<typeof expected>> = [];
      // Each size twice in a row: the second finds the read buffer the first left (reused or new).
      for (const [i, n] of [...SIZES, ...SIZES.slice().reverse()].entries()) {
        for (const rep of [0, 1]) {
          const seed = i * 2 + rep;
          paths.push(`/dtables/${UUID}/r/${k}/${n}/${seed}`);
          want.push(expected(shape, n, seed));
        }
      }
      check(await exchange(proxy.port, paths, holdMs), want);
    });
  }

  it('every shape mixed on one connection, bodies a client holds while the next heads arrive', async () => {
    const paths: string[] = [];
    const want: Array<ReturnType<typeof expected>> = [];
    for (let i = 0; i < 60; i++) {
      const k = (i * 7) % SHAPES.length;
      const n = SIZES[(i * 5) % SIZES.length]! + (i % 3);
      paths.push(`/dtables/${UUID}/r/${k}/${n}/${i}`);
      want.push(expected(SHAPES[k]!, n, i));
    }
    check(await exchange(proxy.port, paths, 200), want);
  });
});

describe('backpressure only when the client is behind', () => {
  it('a 16 MB response to a client that keeps up pauses the node socket on few of its reads', async () => {
    const nodePort = Number(new URL(node.url).port);
    let pauses = 0;
    let reads = 0;
    const pause = Socket.prototype.pause;
    // The proxy's socket to the node is the one whose remote port is the node's.
    Socket.prototype.pause = function (this: Socket) {
      if (this.remotePort === nodePort) pauses++;
      return pause.call(this);
    };
    const n = 16 * 1024 * 1024;
    try {
      const got = await exchange(proxy.port, [`/dtables/${UUID}/r/0/${n}/5`], 0);
      reads = Math.ceil(n / (256 * 1024));
      check(got, [expected(SHAPES[0]!, n, 5)]);
    } finally {
      Socket.prototype.pause = pause;
    }
    // 7 to 8 of 64 measured; a pause per read of 256 KiB would be 64.
    expect(pauses).toBeLessThan(reads / 4);
  });
});
