// socket-reads.ts: accepted sockets reading into the proxy's buffers, and the body buffer pool.
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { BufferPool, canReadInto, readInto, room } from '../../../runtime/proxy/socket-reads.ts';
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

describe('BufferPool', () => {
  it('gives views of pooled power-of-two buffers with room past them, and reuses what is given back, up to its cap', () => {
    const ROOM = 4096;
    const pool = new BufferPool(256 * 1024 + 2 * ROOM);
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
    // a buffer given back twice is pooled once (else it would be handed out twice)
    const twice = pool.take(100);
    pool.give(twice);
    pool.give(twice);
    expect(pool.take(100).buffer).toBe(twice.buffer);
    expect(pool.take(100).buffer).not.toBe(twice.buffer);
    // a buffer not from take() is not pooled
    pool.give(Buffer.alloc(64 * 1024));
    expect(pool.take(10).buffer.byteLength).toBe(64 * 1024 + ROOM);
  });

  it('lets the buffers its load did not reach in a period decay, per size class; an idle pool empties', () => {
    const ROOM = 4096;
    const small = 64 * 1024 + ROOM;
    const large = 1024 * 1024 + ROOM;
    const pool = new BufferPool(64 * 1024 * 1024, 0);
    const smalls = Array.from({ length: 4 }, () => pool.take(1000));
    const larges = Array.from({ length: 3 }, () => pool.take(1_000_000));
    for (const b of [...smalls, ...larges]) pool.give(b);
    expect(pool.pooledBytes).toBe(4 * small + 3 * large);
    // Given back this period: nothing waited a whole period yet.
    pool.trim();
    expect(pool.pooledBytes).toBe(4 * small + 3 * large);
    // A period in which the load takes 2 small buffers at once (and gives them back) and holds the
    // 3 large ones: 2 small ones were never reached and decay; the large ones are in use.
    const s2 = [pool.take(10), pool.take(10)];
    const l3 = [pool.take(600_000), pool.take(600_000), pool.take(600_000)];
    for (const b of s2) pool.give(b);
    pool.trim();
    expect(pool.pooledBytes).toBe(2 * small);
    // The large ones come back; the next period is idle: only what waited all of it decays.
    for (const b of l3) pool.give(b);
    pool.trim();
    expect(pool.pooledBytes).toBe(3 * large);
    pool.trim();
    expect(pool.pooledBytes).toBe(0);
    // Buffers still work after a trim.
    expect(pool.take(70_000).length).toBe(70_000);
  });

  it('decays on its own timer while it holds buffers (and stops when empty)', async () => {
    const pool = new BufferPool(64 * 1024 * 1024, 20);
    pool.give(pool.take(1000));
    expect(pool.pooledBytes).toBeGreaterThan(0);
    await until('the idle pool is empty', () => pool.pooledBytes === 0, 2000, 10);
  });

  it('room: a view of the same memory from a body byte to 4 KiB past the body', () => {
    const pool = new BufferPool(0);
    const body = pool.take(70_000);
    const r = room(body, 1000);
    expect(r.buffer).toBe(body.buffer);
    expect(r.byteOffset).toBe(body.byteOffset + 1000);
    expect(r.length).toBe(70_000 - 1000 + 4096);
    r[0] = 7;
    expect(body[1000]).toBe(7);
  });
});
