// Found by an attack review of the raw engine (llhttp, strict mode, as wrapped in llhttp.ts, is the
// reference); each failed before the fix in raw-engine.ts: partial heads llhttp already refuses
// were held back (mayBecomeFastHead), pipelined requests the proxy answers itself were answered
// without backpressure (unbounded memory) and by recursion (a stack overflow ended the process).
import { connect, type Socket } from 'node:net';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { allTo, startInProcessProxy } from '../runtime/proxy/fixtures/in-process-proxy.ts';
import { checkEngine } from './differential.ts';
import { startRecordingNode, useEngines } from './harness.ts';
import { frameRequests } from './llhttp.ts';
import { mayBecomeFastHead } from '../../runtime/proxy/raw-engine.ts';

describe('raw engine against llhttp: review findings', () => {
  const engines = useEngines();

  // A partial head is held (mayBecomeFastHead) while its whole lines pass parseRequestHead and its
  // last, incomplete line is only byte-checked (FIELD_LINE_PREFIX). llhttp already refuses these
  // at the bytes given (a second Content-Length, Transfer-Encoding after Content-Length, a
  // Content-Length byte that is not a digit or SP): node answers 400 and closes at once; the raw
  // engine waits for more bytes, and a client that stops there gets nothing until the 60 s head
  // timeout (then 408), or a silent close if it half-closes. docs/proxy.md and the function's
  // comment promise the opposite ("whatever llhttp would already refuse is never held back").
  const HELD = [
    'POST /a HTTP/1.1\r\nHost: p\r\nContent-Length: 1\r\nTransfer-Encoding:',
    'POST /a HTTP/1.1\r\nHost: p\r\nContent-Length: 1\r\nContent-Length: 2',
    'POST /a HTTP/1.1\r\nHost: p\r\nContent-Length: 1x',
    'POST /a HTTP/1.1\r\nHost: p\r\nContent-Length:.3',
    'GET /a HTTP/1.1\r\nHost: p\r\n\r\nPOST /b HTTP/1.1\r\nHost: p\r\nContent-Length: 1\r\nTransfer-Encoding: chunked',
  ];
  it.each(HELD)('a partial head llhttp already refuses is not held back: %j', (text) => {
    const at = text.lastIndexOf('\r\n\r\n');
    const partial = at < 0 ? text : text.slice(at + 4);
    expect(frameRequests(Buffer.from(partial, 'latin1')).end).toMatchObject({ kind: 'error' });
    expect(mayBecomeFastHead(partial, 1 << 20)).toBe(false);
  });
  it.each(HELD)('end to end, answered 400 at once as llhttp does: %j', async (text) => {
    const bytes = Buffer.from(text, 'latin1');
    const r = await checkEngine(engines.proxies.get('raw')!.port, engines.node, bytes, [bytes]);
    expect(r.problems).toEqual([]);
  });
});

// Pipelined requests the fast path answers itself (bad_path / bad_dtable_uuid, 400) skip the
// backpressure every other answer has: begin() calls answerLocal() and then responseDone() at
// once, never finish()'s writableNeedDrain check (State.Flushing), so the engine parses and answers
// the whole pipeline while the client reads nothing. A 38-byte request yields a ~300-byte answer
// held in the socket's write queue: in one run, 14.8 MB sent left 120 MB queued in the proxy
// (unbounded, ~8x amplification, no authentication needed). node's server (the node engine, and
// llhttp's consumer generally) stops reading once its answers are not taken: 0.5 MB read, 310 B queued.
describe.each(['raw', 'node'] as const)('pipelined local answers to a client that does not read (%s engine)', (engine) => {
  it('the proxy stops reading instead of queueing answers without bound', async () => {
    const node = await startRecordingNode();
    const proxy = await startInProcessProxy({ engine });
    proxy.setRoutes([{ nodeId: 'n', url: node.url }], allTo('n'));
    const serverSide: Socket[] = [];
    proxy.server.server.on('connection', (s: Socket) => serverSide.push(s));
    const s = connect(proxy.port, '127.0.0.1');
    try {
      s.pause(); // never reads an answer
      s.on('error', () => undefined);
      await new Promise((r) => s.on('connect', r));
      const chunk = Buffer.from('GET /dtables/x/ HTTP/1.1\r\nHost: p\r\n\r\n'.repeat(1000), 'latin1');
      for (let i = 0; i < 100; i++) {
        s.write(chunk);
        if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const p = serverSide[0]!;
      expect({ queuedAnswerBytesBelow1MiB: p.writableLength < 1 << 20, queued: p.writableLength }).toMatchObject({ queuedAnswerBytesBelow1MiB: true });
    } finally {
      s.destroy();
      await proxy.close();
      await node.close();
    }
  }, 60_000);
});

// The same path recurses: begin() -> responseDone() -> next() -> take() -> begin() for every
// locally answered request in the buffer, one stack level group per request. Pipelined behind a
// request the node answers after 300 ms, 4000 requests of 35 bytes (140 KB; the queue is joined
// at the answer, PIPELINE_LIMIT only pauses reads past 64 KB) overflow the stack: RangeError
// "Maximum call stack size exceeded" thrown out of a socket callback, uncaught; the proxy has no
// uncaughtException handler, so the process dies with every client's connection. node's server
// answers each pipelined request in turn.
describe.each(['raw', 'node'] as const)('a deep pipeline of locally answered requests (%s engine)', (engine) => {
  it('is answered without an uncaught exception', async () => {
    const nodeSrv = createServer((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end('slow'), 300));
    });
    await new Promise<void>((r) => nodeSrv.listen(0, '127.0.0.1', r));
    const proxy = await startInProcessProxy({ engine });
    proxy.setRoutes([{ nodeId: 'n', url: `http://127.0.0.1:${(nodeSrv.address() as { port: number }).port}/` }], allTo('n'));
    const errors: string[] = [];
    const onErr = (e: unknown) => errors.push(String(e));
    process.on('uncaughtException', onErr);
    try {
      const text = 'GET /slow HTTP/1.1\r\nHost: p\r\n\r\n' + 'GET /dtables/x/ HTTP/1.1\r\nHost:\r\n\r\n'.repeat(4000) + 'GET /last HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n';
      const got = await new Promise<string>((resolve) => {
        const s = connect(proxy.port, '127.0.0.1', () => s.write(text));
        let g = '';
        s.on('data', (d: Buffer) => (g += d.toString('latin1')));
        s.on('close', () => resolve(g));
        s.on('error', () => resolve(g));
        setTimeout(() => {
          s.destroy();
          resolve(g);
        }, 8000);
      });
      expect(errors).toEqual([]);
      expect((got.match(/HTTP\/1\.1 \d\d\d /g) ?? []).length).toBe(4002);
    } finally {
      process.off('uncaughtException', onErr);
      await proxy.close();
      nodeSrv.close();
    }
  }, 30_000);
});
