// The node-bound head written into the room before a pooled request body (raw-engine.ts HEAD_ROOM),
// head and body then sent in one write: heads around the room's size (with obs-text bytes), re-sends
// after a 421 to a node with another path prefix (the head's length changes between attempts), a
// 421 before the node read the body, a node closing under a PUT, and pipelined POSTs of many clients
// moving between two nodes. A raw node records the exact bytes; every body must arrive whole under
// its own head (its first bytes are the secret of the head's Authorization).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { allTo, startInProcessProxy, type InProcessProxy } from './fixtures/in-process-proxy.ts';
import { listenLoopback } from './fixtures/listen.ts';

const UUID = '5e5c6ad2-1111-4222-8333-444455556666';

interface Seen { head: string; body: Buffer; node: string }
interface RawNode { url: string; seen: Seen[]; violations: string[]; mode: (head: string, n: number) => 'ok' | '421' | '421early' | 'close'; onReq?: (head: string) => void; close(): Promise<void> }

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A raw node: records the exact head and body bytes; checks the body begins with the head's secret. */
async function rawNode(name: string, prefix = ''): Promise<RawNode> {
  const node: RawNode = { url: '', seen: [], violations: [], mode: () => 'ok', close: async () => undefined };
  let count = 0;
  const server: Server = createServer((s: Socket) => {
    let buf = Buffer.alloc(0);
    let pending: { head: string; len: number; early: boolean } | null = null;
    s.on('error', () => undefined);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (pending === null) {
          const e = buf.indexOf('\r\n\r\n');
          if (e < 0) return;
          const head = buf.toString('latin1', 0, e + 4);
          const m = /\r\ncontent-length: *(\d+)/i.exec(head);
          const len = m ? Number(m[1]) : 0;
          buf = buf.subarray(e + 4);
          const n = count++;
          node.onReq?.(head);
          const mode = node.mode(head, n);
          if (mode === 'close') { s.destroy(); return; }
          pending = { head, len, early: mode === '421early' };
          if (mode === '421early') s.write('HTTP/1.1 421 Misdirected\r\ncontent-length: 0\r\n\r\n');
          (pending as unknown as { mode: string }).mode = mode;
        }
        if (buf.length < pending.len) return;
        const body = Buffer.from(buf.subarray(0, pending.len));
        buf = buf.subarray(pending.len);
        const { head } = pending;
        const mode = (pending as unknown as { mode: string }).mode;
        pending = null;
        if (mode === '421early') continue;
        node.seen.push({ head, body, node: name });
        const secret = /\r\nauthorization: Bearer (\S+)\r\n/i.exec(head)?.[1] ?? '';
        if (body.length > 0 && !body.subarray(0, secret.length).equals(Buffer.from(secret))) node.violations.push(`${secret}: body starts ${JSON.stringify(body.subarray(0, 40).toString('latin1'))}`);
        if (prefix && !head.startsWith(`POST ${prefix}/`) && !head.startsWith(`GET ${prefix}/`)) node.violations.push(`prefix missing: ${head.slice(0, 60)}`);
        if (mode === '421') { s.write('HTTP/1.1 421 Misdirected\r\ncontent-length: 0\r\n\r\n'); continue; }
        const out = JSON.stringify({ node: name, secret, bytes: body.length, sha: sha(body), headLen: head.length, headSha: sha(Buffer.from(head, 'latin1')) });
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${out.length}\r\n\r\n${out}`);
      }
    });
  });
  const l = await listenLoopback(server);
  node.url = l.url.replace(/\/$/, '') + prefix;
  node.close = l.close;
  return node;
}

function buildPost(secret: string, size: number, extra: string): { bytes: Buffer; body: Buffer } {
  const body = Buffer.alloc(size, secret.charCodeAt(secret.length - 1));
  for (let k = 0; k + secret.length <= size; k += 700) Buffer.from(secret, 'latin1').copy(body, k);
  const head = `POST /dtables/${UUID}/p HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\n${extra}Content-Length: ${size}\r\n\r\n`;
  return { bytes: Buffer.concat([Buffer.from(head, 'latin1'), body]), body };
}

/** Sends bytes (in pieces at `cuts`), reads until `n` responses; returns the JSON bodies (or status lines). */
function exchange(port: number, bytes: Buffer, n = 1, cuts: number[] = []): Promise<string[]> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    const done = () => {
      clearTimeout(t);
      s.destroy();
      const out: string[] = [];
      const re = /HTTP\/1\.1 (\d+)[^\r]*\r\n([\s\S]*?)\r\n\r\n/g;
      let m;
      while ((m = re.exec(text))) {
        const cl = Number(/content-length: *(\d+)/i.exec(m[2]!)?.[1] ?? 0);
        const body = text.slice(re.lastIndex, re.lastIndex + cl);
        re.lastIndex += cl;
        out.push(m[1] === '200' ? body : `status ${m[1]}`);
      }
      resolve(out);
    };
    const t = setTimeout(done, 8000);
    s.on('connect', async () => {
      let at = 0;
      for (const c of [...cuts, bytes.length]) {
        s.write(bytes.subarray(at, c));
        at = c;
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    s.on('data', (d) => {
      text += d.toString('latin1');
      if ((text.match(/HTTP\/1\.1 \d\d\d /g) ?? []).length >= n) setTimeout(done, 20);
    });
    s.on('error', () => undefined);
    s.on('close', done);
  });
}

let proxy: InProcessProxy;
let a: RawNode;
let b: RawNode;
let seq = 0;

describe.each([true, false])('the head in the room before a pooled body, reads in place: %s', (readInPlace) => {
  beforeAll(async () => {
    a = await rawNode('a');
    b = await rawNode('b', '/pre' + 'x'.repeat(30));
    proxy = await startInProcessProxy({ engine: 'raw', retryDeadlineMs: 3000, readInPlace });
    proxy.setRoutes([{ nodeId: 'a', url: a.url }], allTo('a'));
  });
  afterAll(async () => {
    await proxy?.close();
    await a?.close();
    await b?.close();
  });
  afterEach(() => {
    a.mode = () => 'ok';
    b.mode = () => 'ok';
    a.onReq = undefined;
    proxy.setRoutes([{ nodeId: 'a', url: a.url }], allTo('a'));
  });

  it('heads of HEAD_ROOM - 8 .. + 8 bytes (obs-text in a value) with bodies around the class limits reach the node whole', async () => {
    // measure the node head length for a given pad
    const probe = buildPost('PROBE0', 5000, 'X-Pad: \r\n');
    const r = JSON.parse((await exchange(proxy.port, probe.bytes))[0]!);
    const base = r.headLen as number; // node head with empty pad
    for (const size of [1000, 4097, 63_488, 65_536]) {
      for (let target = 2040; target <= 2056; target++) {
        const secret = `S${String(seq++).padStart(5, '0')}`;
        const padLen = target - base - (String(size).length - 4);
        const pad = Array.from({ length: padLen }, (_, i) => String.fromCharCode(0x80 + (i % 128))).join('');
        const p = buildPost(secret, size, `X-Pad: ${pad}\r\n`);
        const got = await exchange(proxy.port, p.bytes, 1, [p.bytes.length - size]);
        const j = JSON.parse(got[0]!);
        if (j.headLen !== target) console.log(JSON.stringify(a.seen[0]!.head), JSON.stringify(a.seen.at(-1)!.head.slice(0, 300)));
        expect(j.headLen).toBe(target);
        expect(j.secret).toBe(secret);
        expect(j.sha).toBe(sha(p.body));
        const seen = a.seen.at(-1)!;
        expect(seen.head).toContain(`X-Pad: ${pad}\r\n`);
      }
    }
    expect(a.violations).toEqual([]);
  }, 60_000);

  it('a 421 re-sent to a node with a path prefix (head grows across HEAD_ROOM) carries the right head and body', async () => {
    const probe = buildPost('PROBE1', 5000, 'X-Pad: \r\n');
    const base = JSON.parse((await exchange(proxy.port, probe.bytes))[0]!).headLen as number;
    for (const size of [4097, 63_488, 70_000]) {
      for (const target of [2000, 2010, 2016, 2017, 2018, 2030, 2048]) {
        const secret = `R${String(seq++).padStart(5, '0')}`;
        const p = buildPost(secret, size, `X-Pad: ${'q'.repeat(target - base - (String(size).length - 4))}\r\n`);
        a.mode = () => '421';
        a.onReq = () => proxy.setRoutes([{ nodeId: 'b', url: b.url }], allTo('b'));
        const got = await exchange(proxy.port, p.bytes);
        const j = JSON.parse(got[0]!);
        expect(j.node).toBe('b');
        expect(j.secret).toBe(secret);
        expect(j.sha).toBe(sha(p.body));
        expect(j.headLen).toBe(target + b.url.length - b.url.indexOf('/pre'));
        proxy.setRoutes([{ nodeId: 'a', url: a.url }], allTo('a'));
        a.onReq = undefined;
        // and back: b 421s, a takes it (head shrinks)
        const secret2 = `T${String(seq++).padStart(5, '0')}`;
        const p2 = buildPost(secret2, size, `X-Pad: ${'q'.repeat(target - base - (String(size).length - 4))}\r\n`);
        proxy.setRoutes([{ nodeId: 'b', url: b.url }], allTo('b'));
        b.mode = () => '421';
        b.onReq = () => proxy.setRoutes([{ nodeId: 'a', url: a.url }], allTo('a'));
        a.mode = () => 'ok';
        const got2 = await exchange(proxy.port, p2.bytes);
        const j2 = JSON.parse(got2[0]!);
        expect(j2.node).toBe('a');
        expect(j2.sha).toBe(sha(p2.body));
        expect(j2.headLen).toBe(target);
        b.mode = () => 'ok';
        b.onReq = undefined;
      }
    }
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
  }, 60_000);

  it('early 421 on a 1 MiB body, with other clients\' large bodies in flight: no body under another head', async () => {
    const runs: Promise<void>[] = [];
    const once = new Set<string>();
    a.mode = (head) => {
      const id = /Bearer (\S+)/.exec(head)![1]!;
      if (!head.includes('early=1') || once.has(id)) return 'ok';
      once.add(id);
      return '421early';
    };
    for (let i = 0; i < 12; i++) {
      const secret = `E${String(seq++).padStart(5, '0')}`;
      const size = i % 3 === 0 ? 1 << 20 : i % 3 === 1 ? 65_536 : 4097;
      const p = buildPost(secret, size, i % 2 === 0 ? 'X-Early: early=1\r\n' : '');
      runs.push(
        exchange(proxy.port, p.bytes).then((got) => {
          const j = JSON.parse(got[0] ?? '{}');
          expect(j.secret, got[0]).toBe(secret);
          expect(j.sha).toBe(sha(p.body));
        }),
      );
    }
    await Promise.all(runs);
    expect(a.violations).toEqual([]);
  }, 30_000);

  it('a PUT whose node socket closes under it is re-sent whole; 20 concurrent clients bouncing between two prefixes', async () => {
    const closed = new Set<string>();
    a.mode = (head) => {
      const id = /Bearer (\S+)/.exec(head)![1]!;
      if (closed.has(id)) return 'ok';
      closed.add(id);
      return 'close';
    };
    for (const size of [4097, 63_488, 65_536, 1 << 20]) {
      const secret = `C${String(seq++).padStart(5, '0')}`;
      const p = buildPost(secret, size, '');
      const bytes = Buffer.from(p.bytes.toString('latin1').replace('POST ', 'PUT '), 'latin1');
      const got = await exchange(proxy.port, bytes);
      const j = JSON.parse(got[0]!);
      expect(j.secret).toBe(secret);
      expect(j.sha).toBe(sha(p.body));
    }
    // both nodes answer every second request 421 and flip the routes to the other node
    proxy.setRoutes([{ nodeId: 'a', url: a.url }, { nodeId: 'b', url: b.url }], allTo('a'));
    let flips = 0;
    const flip = (head: string): 'ok' | '421' => {
      if (flips++ % 2 === 0) {
        const to = Math.random() < 0.5 ? 'a' : 'b';
        proxy.setRoutes([{ nodeId: 'a', url: a.url }, { nodeId: 'b', url: b.url }], allTo(to));
        return '421';
      }
      return 'ok';
    };
    a.mode = flip;
    b.mode = flip;
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      const secret = `F${String(seq++).padStart(5, '0')}`;
      const size = [4097, 63_488, 65_536, 200_000][i % 4]!;
      const p = buildPost(secret, size, `X-Pad: ${'z'.repeat(1950 + (i % 40))}\r\n`);
      runs.push(exchange(proxy.port, Buffer.concat([p.bytes, p.bytes]), 2, [p.bytes.length + 10]).then((got) => {
        for (const g of got) {
          if (g === 'status 421') continue;
          const j = JSON.parse(g);
          expect(j.secret, g).toBe(secret);
          expect(j.sha).toBe(sha(p.body));
        }
      }));
    }
    await Promise.all(runs);
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
  }, 30_000);

  it('no route: 503 only once retryDeadlineMs has passed', async () => {
    proxy.setRoutes([], allTo(null));
    const t0 = performance.now();
    const got = await exchange(proxy.port, buildPost('N00001', 5000, '').bytes);
    const dt = performance.now() - t0;
    expect(got[0]).toBe('status 503');
    expect(dt).toBeGreaterThan(2900);
    expect(dt).toBeLessThan(4500);
  }, 10_000);
});
