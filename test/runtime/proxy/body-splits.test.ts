// Two clients, each a POST (its secret in Authorization and body) with a GET pipelined behind it,
// their bytes cut in two at every offset around the boundaries the fast path cares about (end of
// head, SMALL_BODY, end of body, start of the next head), the two clients' pieces interleaved so
// that each read of the shared buffer is followed by the other client's. Every body must reach
// the node whole under its own head, every answer must be the client's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { startSecretNode, answerBody, type SecretNode } from './fixtures/secret-node.ts';
import { allTo, startInProcessProxy, type InProcessProxy } from './fixtures/in-process-proxy.ts';

const UUID = '5e5c6ad2-1111-4222-8333-444455556666';
let proxy: InProcessProxy;
let node: SecretNode;
beforeAll(async () => {
  node = await startSecretNode();
});
afterAll(async () => {
  await node?.close();
});

function build(secret: string, size: number, tag: string): { bytes: Buffer; headLen: number; expected: string[] } {
  const body = Buffer.alloc(size, secret.charCodeAt(1));
  for (let k = 0; k + secret.length <= size; k += 500) Buffer.from(secret).copy(body, k);
  // tag L: a head longer than the room a pooled body keeps for it (raw-engine.ts HEAD_ROOM): it goes out on its own, before the body.
  const pad = tag.includes('L') ? `X-Pad: ${'p'.repeat(3000)}\r\n` : '';
  const head = `POST /dtables/${UUID}/p?r421=${tag.includes('r') ? 'late' : ''} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\nX-Req-Id: ${secret}-p\r\n${pad}Content-Length: ${size}\r\n\r\n`;
  const get = `GET /dtables/${UUID}/g HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\nX-Req-Id: ${secret}-g\r\n\r\n`;
  const sha = createHash('sha256').update(body).digest('hex');
  return {
    bytes: Buffer.concat([Buffer.from(head), body, Buffer.from(get)]),
    headLen: head.length,
    expected: [
      answerBody({ secret, id: `${secret}-p`, bytes: size, sha256: sha }, 0, 0).toString('latin1'),
      answerBody({ secret, id: `${secret}-g`, bytes: 0, sha256: createHash('sha256').digest('hex') }, 0, 0).toString('latin1'),
    ],
  };
}

function client(bytes: Buffer, cut: number, gate: Promise<void>): { got: Promise<string>; firstSent: Promise<void> } {
  let sentFirst!: () => void;
  const firstSent = new Promise<void>((r) => (sentFirst = r));
  const got = new Promise<string>((resolve) => {
    const s = connect(proxy.port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => { s.destroy(); resolve(text); }, 5000);
    s.on('connect', () => {
      s.write(bytes.subarray(0, cut), () => {
        sentFirst();
        void gate.then(() => setTimeout(() => s.write(bytes.subarray(cut)), 2));
      });
    });
    s.on('data', (d) => {
      text += d.toString('latin1');
      if ((text.match(/HTTP\/1\.1 200 /g) ?? []).length >= 2 && text.endsWith('\n')) { clearTimeout(t); s.destroy(); resolve(text); }
    });
    s.on('error', () => undefined);
    s.on('close', () => { clearTimeout(t); resolve(text); });
  });
  return { got, firstSent };
}

let rounds = 0;
const round = async (size: number, cutAt: (headLen: number) => number, tag = '') => {
  // unique ids (the node refuses each id once); both secrets of one length, so both heads are too
  const n = String(1000 + (rounds++ % 9000));
  const a = build(`SA${size}x${tag}${n}`, size, tag);
  const b = build(`SB${size}y${tag}${n}`, size, tag);
  const ca = cutAt(a.headLen);
  const cb = cutAt(b.headLen);
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const A = client(a.bytes, Math.min(Math.max(ca, 1), a.bytes.length - 1), gate);
  const B = client(b.bytes, Math.min(Math.max(cb, 1), b.bytes.length - 1), gate);
  await Promise.all([A.firstSent, B.firstSent]);
  await new Promise((r) => setTimeout(r, 3));
  open();
  const [ga, gb] = await Promise.all([A.got, B.got]);
  for (const [g, x] of [[ga, a], [gb, b]] as const) {
    const bodies = g.split(/HTTP\/1\.1 200 OK\r\n[\s\S]*?\r\n\r\n/).slice(1);
    expect(bodies, `cut ${ca}: ${g.slice(0, 300)}`).toEqual(x.expected);
  }
};

// Client bytes read into the proxy's buffers (readInto), and as 'data' events (a node where
// readInto finds no onread fields).
describe.each([true, false])('bodies cut at every offset around the boundaries, reads in place: %s', (readInPlace) => {
  beforeAll(async () => {
    proxy = await startInProcessProxy({ engine: 'raw', retryDeadlineMs: 5000, readInPlace });
    proxy.setRoutes([{ nodeId: 'secret', url: node.url }], allTo('secret'));
  });
  afterAll(async () => {
    await proxy?.close();
  });
  // 63_488: a body that, after the room for the node's head (2 KiB), fills its pooled buffer's size
  // class exactly (the read then goes on into the room past it); 65_536 the next class.
  for (const size of [100, 4096, 4097, 63_488, 65_536, 70_000]) {
    it(`body of ${size} bytes`, async () => {
      const offsets = new Set<(h: number) => number>();
      for (let d = -4; d <= 4; d++) {
        offsets.add((h) => h + d);
        offsets.add((h) => h + size + d);
        offsets.add((h) => h + 4096 + d);
      }
      for (const f of offsets) await round(size, f);
      // a 421 after the body, re-sent from what the proxy kept of it
      for (const f of offsets) await round(size, f, 'r');
      // a head too long to go out with the body in one write, sent once and re-sent after a 421
      for (const d of [-2, 0, 2]) {
        await round(size, (h) => h + d, 'L');
        await round(size, (h) => h + size + d, 'rL');
      }
      expect(node.violations).toEqual([]);
    }, 60_000);
  }
});
