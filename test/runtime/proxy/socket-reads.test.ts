// socket-reads.ts: accepted sockets reading into the proxy's buffers, and the body buffer pool.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BodyBuffers, canReadInto, readInto, readNextInto } from '../../../runtime/proxy/socket-reads.ts';
import { until } from '../../harness/until.ts';

describe('readInto', () => {
  // A node where the probe finds nothing still works (the engine reads 'data'), but slower: this
  // test says so on the node the project runs on, instead of the bench.
  it('works on this node', () => {
    expect(canReadInto()).toBe(true);
  });

  it('reads an accepted socket into the buffers the target gives, pauses, resumes and ends', async () => {
    const got: Buffer[] = [];
    const buffers = [Buffer.alloc(7), Buffer.alloc(5)];
    let reads = 0;
    let ended = false;
    let paused: Socket | null = null;
    const server = createServer((s) => {
      expect(readInto(s, { next: () => buffers[reads % 2]!, read: (view) => {
        expect(view.buffer).toBe(buffers[reads % 2]!.buffer);
        got.push(Buffer.from(view));
        reads += 1;
        if (reads === 2) {
          paused = s;
          s.pause();
        }
        return true;
      } })).toBe(true);
      s.on('end', () => (ended = true));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = connect((server.address() as AddressInfo).port, '127.0.0.1');
    c.write('0123456789abcdefghijklmnopqrstuvwxyz');
    await until('the second read', () => paused !== null, 2000, 10);
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toBe(2); // paused: no read until resume()
    paused!.resume();
    c.end();
    await until('the end', () => ended, 2000, 10);
    expect(Buffer.concat(got).toString()).toBe('0123456789abcdefghijklmnopqrstuvwxyz');
    expect(Math.max(...got.map((g) => g.length))).toBeLessThanOrEqual(7);
    server.close();
  });
});

describe('readNextInto', () => {
  // The fast path lends a node socket a large buffer when it sends a request: the response's first
  // read must go there, though the socket was given its own buffer after its last read.
  it('makes the next read of an onread socket fill the given buffer, then the generator\'s again', async () => {
    const own = Buffer.alloc(4);
    const lent = Buffer.alloc(64);
    const into: Buffer[] = [];
    const got: string[] = [];
    let accepted: Socket | null = null;
    const server = createServer((s) => (accepted = s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = connect({
      port: (server.address() as AddressInfo).port,
      host: '127.0.0.1',
      onread: { buffer: () => own, callback: (n: number, buf: Uint8Array) => {
        into.push(buf as Buffer);
        got.push(Buffer.from(buf.subarray(0, n)).toString());
        return true;
      } },
    });
    await until('the connection', () => accepted !== null, 2000, 10);
    expect(readNextInto(c, lent)).toBe(true);
    accepted!.write('0123456789');
    await until('the first read', () => got.length === 1, 2000, 10);
    expect(into[0]).toBe(lent);
    expect(got[0]).toBe('0123456789'); // one read: the lent buffer's size, not the own buffer's 4
    accepted!.write('abcdefgh');
    await until('two more reads', () => got.length === 3, 2000, 10);
    expect(into.slice(1)).toEqual([own, own]);
    expect(got.slice(1)).toEqual(['abcd', 'efgh']);
    c.destroy();
    accepted!.destroy();
    server.close();
  });
});

describe('BodyBuffers', () => {
  it('gives views of pooled power-of-two buffers and reuses what is given back, up to its cap', () => {
    const pool = new BodyBuffers(256 * 1024);
    const a = pool.take(100);
    expect(a.length).toBe(100);
    expect(a.buffer.byteLength).toBe(64 * 1024);
    const b = pool.take(70_000);
    expect(b.buffer.byteLength).toBe(128 * 1024);
    pool.give(a);
    pool.give(b);
    expect(pool.take(65_536).buffer).toBe(a.buffer);
    expect(pool.take(100_000).buffer).toBe(b.buffer);
    // Beyond the cap, given-back buffers are dropped.
    const big = [pool.take(200_000), pool.take(200_000)];
    for (const x of big) pool.give(x);
    expect(pool.take(200_000).buffer).toBe(big[0]!.buffer);
    expect(pool.take(200_000).buffer).not.toBe(big[1]!.buffer);
  });
});
