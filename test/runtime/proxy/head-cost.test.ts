// The raw engine's head reading costs time linear in the head, whatever a Connection header lists.
// A list searched per kept line (dropListed with Array.includes) made a 14 KB head with 3,000
// listed names cost 10 ms against 0.15 ms for the same bytes in another field, and a 4 KiB head
// sent a byte at a time, re-read with every packet while it might still become a fast-path head,
// cost over a second of event-loop time. The bounds are ratios against the same bytes in a field
// nobody reads, measured back to back, and generous: reading 3,000 listed names costs 2 to 5 times
// the plain field (each name is split, trimmed and checked), the faults these catch were 15 to 60
// times, and a loaded CI machine stretches both sides alike.
import { describe, expect, it } from 'vitest';
import { mayBecomeFastHead, parseRequestHead } from '../../../runtime/proxy/raw-engine.ts';

const FROM = { remoteAddress: '127.0.0.1', proto: 'http' };

/** Median milliseconds of `f` over `runs` runs (after one to warm up). */
function ms(f: () => void, runs: number): number {
  f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    f();
    times.push(performance.now() - a);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
}

/** Feeds `head` a byte at a time as the engine does: prefix checks until one says the head is not the fast path's. */
function byteAtATime(head: string): () => void {
  return () => {
    for (let i = 1; i <= head.length; i++) if (!mayBecomeFastHead(head.slice(0, i), 1 << 20)) return;
  };
}

describe('raw engine head reading is linear in the head, whatever Connection lists', () => {
  it('a whole 14 KB head listing 3,000 names costs about what the same bytes in another field cost', () => {
    const list = `${'a,'.repeat(3000)}a`;
    const lines = 'b:\r\n'.repeat(2000).slice(0, -2);
    const listed = `GET / HTTP/1.1\r\nHost: p\r\nConnection: ${list}\r\n${lines}`;
    const plain = `GET / HTTP/1.1\r\nHost: p\r\nX-Connection: ${list}\r\n${lines}`;
    const slow = ms(() => parseRequestHead(listed, 1 << 20, FROM), 9);
    const fast = ms(() => parseRequestHead(plain, 1 << 20, FROM), 9);
    expect(slow).toBeLessThan(Math.max(fast * 12, 5));
  });

  it('a 4 KiB head listing 1,000 names, a byte at a time, costs about what the same bytes in another field cost', () => {
    const pad = (h: string) => {
      while (h.length < 4090) h += 'b:\r\n';
      return h;
    };
    const listed = pad(`GET / HTTP/1.1\r\nHost: p\r\nConnection: ${'a,'.repeat(1000)}a\r\n`);
    const plain = pad(`GET / HTTP/1.1\r\nHost: p\r\nX-Connection: ${'a,'.repeat(1000)}a\r\n`);
    const slow = ms(byteAtATime(listed), 3);
    const fast = ms(byteAtATime(plain), 3);
    expect(slow).toBeLessThan(Math.max(fast * 5, 100));
  });

  it('a head listing more names than the fast path takes goes to node’s parser (which reads it once)', () => {
    const head = (n: number) => `GET / HTTP/1.1\r\nHost: p\r\nConnection: ${Array.from({ length: n }, (_, i) => `x-${i}`).join(', ')}`;
    expect(parseRequestHead(head(16), 1 << 20, FROM)).not.toBeNull();
    expect(parseRequestHead(head(17), 1 << 20, FROM)).toBeNull();
  });
});
