// socket-reads.ts: accepted sockets reading into the proxy's buffers, and the body buffer pool.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BodyBuffers, canReadInto, readInto, room } from '../../../runtime/proxy/socket-reads.ts';
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

describe('BodyBuffers', () => {
  it('gives views of pooled power-of-two buffers with room past them, and reuses what is given back, up to its cap', () => {
    const ROOM = 4096;
    const pool = new BodyBuffers(256 * 1024 + 2 * ROOM);
    const a = pool.take(100);
    expect(a.length).toBe(100);
    expect(a.buffer.byteLength).toBe(64 * 1024 + ROOM);
    const b = pool.take(70_000);
    expect(b.buffer.byteLength).toBe(128 * 1024 + ROOM);
    pool.give(a);
    pool.give(b);
    // a body of exactly a power of two still has room past it
    const c = pool.take(65_536);
    expect(c.buffer).toBe(a.buffer);
    expect(room(c, 65_536).length).toBe(ROOM);
    expect(pool.take(100_000).buffer).toBe(b.buffer);
    // Beyond the cap, given-back buffers are dropped.
    const big = [pool.take(200_000), pool.take(200_000)];
    for (const x of big) pool.give(x);
    expect(pool.take(200_000).buffer).toBe(big[0]!.buffer);
    expect(pool.take(200_000).buffer).not.toBe(big[1]!.buffer);
    // a buffer not from take() is not pooled
    pool.give(Buffer.alloc(64 * 1024));
    expect(pool.take(10).buffer.byteLength).toBe(64 * 1024 + ROOM);
  });

  it('room: a view of the same memory from a body byte to the end of its buffer', () => {
    const pool = new BodyBuffers(0);
    const body = pool.take(70_000);
    const r = room(body, 1000);
    expect(r.buffer).toBe(body.buffer);
    expect(r.byteOffset).toBe(body.byteOffset + 1000);
    expect(r.length).toBe(body.buffer.byteLength - 1000);
    r[0] = 7;
    expect(body[1000]).toBe(7);
  });
});
