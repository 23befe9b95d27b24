// A recording node behind the proxy, and one client exchange: the bytes of a case go to the proxy
// on a fresh connection, the statuses come back, and the node records the requests that reached it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { PROXY_ENGINES } from '../../runtime/proxy/server.ts';
import { allTo, startInProcessProxy, type InProcessProxy } from '../runtime/proxy/fixtures/in-process-proxy.ts';

/** A request as the recording node (node's own parser) received it. */
export interface Recorded {
  seq: number;
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

export interface RecordingNode {
  readonly url: string;
  /** Requests received in full, in arrival order. */
  readonly records: Recorded[];
  close(): Promise<void>;
}

/** Answers every whole request 200 with the body `r<seq>` (none for HEAD), so a client can tell whose response it got. */
export async function startRecordingNode(): Promise<RecordingNode> {
  const records: Recorded[] = [];
  let seq = 0;
  const server: Server = createServer({ maxHeaderSize: 256 * 1024, keepAliveTimeout: 60_000, requireHostHeader: false }, (req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const n = seq++;
      records.push({ seq: n, method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(parts) });
      const body = `r${n}`;
      res.writeHead(200, { 'content-length': body.length, 'content-type': 'text/plain' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    records,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A response as the client read it. */
export interface Answer {
  status: number;
  body: string;
}

export interface Exchanged {
  answers: Answer[];
  /** The proxy closed the connection (after the answers). */
  closed: boolean;
  /** What went wrong in the exchange itself (a timeout), if anything. */
  problem: string | null;
}

/**
 * Sends `pieces` on a new connection to `port` and reads responses. `heads[i]` says whether the
 * i-th final response answers a HEAD. With `open` (the proxy should keep the connection after
 * `expected` final responses) it then sends a sentinel request and reads its answer too; with
 * `halfClose` it ends its side after `expected` answers; otherwise it waits for the close.
 */
export function exchange(port: number, pieces: Buffer[], opts: { expected: number; heads: boolean[]; mode: 'open' | 'close' | 'halfClose'; timeoutMs?: number }): Promise<Exchanged> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const answers: Answer[] = [];
    let buf = Buffer.alloc(0);
    let finals = 0;
    let sentinelSent = false;
    let allSent = false;
    let done = false;
    let problem: string | null = null;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ answers, closed, problem });
    };
    const timer = setTimeout(() => {
      problem = `no progress after ${opts.timeoutMs ?? 5000} ms (answers: ${answers.map((a) => a.status).join(',')})`;
      finish(false);
    }, opts.timeoutMs ?? 5000);
    const afterAnswer = () => {
      if (finals < opts.expected || !allSent) return;
      if (opts.mode === 'open' && !sentinelSent) {
        sentinelSent = true;
        s.write('GET /__sentinel HTTP/1.1\r\nHost: sentinel\r\nConnection: close\r\n\r\n');
      } else if (opts.mode === 'halfClose') s.end();
    };
    const parse = () => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const status = Number(head.slice(9, 12));
        const isHead = status >= 200 && opts.heads[finals] === true;
        let length = 0;
        let body: string | null = null;
        if (status >= 200 && !isHead && status !== 204 && status !== 304) {
          const cl = /\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n/i.exec(`${head}\r\n`);
          if (cl !== null) length = Number(cl[1]);
          else if (chunkedLast(head)) {
            const c = readChunked(buf, end + 4);
            if (c === null) return;
            body = c.body;
            length = c.end - end - 4;
          } else return; // until close: read at close
        }
        if (buf.length < end + 4 + length) return;
        answers.push({ status, body: body ?? buf.toString('latin1', end + 4, end + 4 + length) });
        buf = buf.subarray(end + 4 + length);
        if (status >= 200) {
          finals += 1;
          afterAnswer();
        }
      }
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    s.on('close', () => {
      if (buf.length > 0) {
        // Only a response without Content-Length or chunked framing ends at the close; any other is cut.
        const end = buf.indexOf('\r\n\r\n');
        const head = end >= 0 ? buf.toString('latin1', 0, end) : '';
        const untilClose = end >= 0 && !/\r\ncontent-length:/i.test(head) && !chunkedLast(head);
        if (untilClose) answers.push({ status: Number(head.slice(9, 12)), body: buf.toString('latin1', end + 4) });
        else answers.push({ status: -1, body: buf.toString('latin1') });
      }
      finish(true);
    });
    s.on('error', () => undefined);
    s.on('connect', () => {
      const rest = [...pieces];
      const send = () => {
        const p = rest.shift();
        if (p === undefined || s.destroyed) {
          allSent = true;
          afterAnswer();
          return;
        }
        s.write(p, () => setImmediate(send));
      };
      send();
    });
  });
}

/**
 * Whether a response head's Transfer-Encoding ends in chunked (RFC 9112 section 6.3): the last
 * coding of all its field lines. Any other coding is read until the close.
 */
function chunkedLast(head: string): boolean {
  const values = [...head.matchAll(/\r\ntransfer-encoding:([^\r]*)/gi)].map((m) => m[1]!);
  if (values.length === 0) return false;
  return values.join(',').split(',').at(-1)!.trim().toLowerCase() === 'chunked';
}

/** A well-formed chunked body starting at `from`: its data and the index past its end, or null while incomplete. */
function readChunked(buf: Buffer, from: number): { body: string; end: number } | null {
  let i = from;
  let body = '';
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', i);
    if (lineEnd < 0) return null;
    const size = parseInt(buf.toString('latin1', i, lineEnd), 16);
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', lineEnd);
      return end < 0 ? null : { body, end: end + 4 };
    }
    if (buf.length < lineEnd + 2 + size + 2) return null;
    body += buf.toString('latin1', lineEnd + 2, lineEnd + 2 + size);
    i = lineEnd + 2 + size + 2;
  }
}

/** A recording node behind one in-process proxy per engine, every bucket routed to it. */
export async function startEngines(): Promise<{ node: RecordingNode; proxies: Map<string, InProcessProxy>; close(): Promise<void> }> {
  const node = await startRecordingNode();
  const proxies = new Map<string, InProcessProxy>();
  for (const engine of PROXY_ENGINES) {
    const p = await startInProcessProxy({ engine });
    p.setRoutes([{ nodeId: 'dtable-server-rec', url: node.url }], allTo('dtable-server-rec'));
    proxies.set(engine, p);
  }
  return {
    node,
    proxies,
    async close() {
      for (const p of proxies.values()) await p.close();
      await node.close();
    },
  };
}

/**
 * startEngines before a describe block's tests and their close after them: `node` and `proxies`
 * are read inside the tests (they exist once beforeAll has run).
 */
export function useEngines(): { readonly node: RecordingNode; readonly proxies: Map<string, InProcessProxy> } {
  let engines: Awaited<ReturnType<typeof startEngines>> | undefined;
  beforeAll(async () => {
    engines = await startEngines();
  });
  afterAll(() => engines?.close());
  return {
    get node() {
      return engines!.node;
    },
    get proxies() {
      return engines!.proxies;
    },
  };
}

/** Writes `text` on a new connection to `port` and resolves with everything read until the close. */
export function readUntilClose(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text, 'latin1'));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}
