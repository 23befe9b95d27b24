// The request-smuggling faults found against the proxy, each as a fixed case on every engine:
// the Connection-listed framing header, a no-break space in Content-Length, two Hosts, an
// absolute-form target, a POST the node may have processed, pipelining on the node:http path.
import { connect } from 'node:net';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET_COUNT } from '../../runtime/cluster/buckets.ts';
import { PROXY_ENGINES } from '../../runtime/proxy/server.ts';
import { startInProcessProxy, type InProcessProxy } from '../runtime/proxy/fixtures/in-process-proxy.ts';

const A = '5e5c6ad2-1111-4222-8333-444455556666'; // bucket 5e
const B = 'a1b2c3d4-0000-4000-8000-000000000001'; // bucket a1

interface Seen {
  node: string;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** Two recording nodes; `/slow` answers after 150 ms, `/hang-up` closes without answering. */
async function startNodes(): Promise<{ seen: Seen[]; urls: string[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const servers: Server[] = [];
  const urls: string[] = [];
  for (const name of ['dtable-server-a', 'dtable-server-b']) {
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      let body = '';
      req.setEncoding('latin1');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ node: name, method: req.method!, url: req.url!, headers: req.headers, body, at: Date.now() });
        if (req.url!.includes('/hang-up')) return req.socket.destroy();
        const answer = `${name} ${req.method} ${req.url} auth=${req.headers.authorization ?? '-'}`;
        setTimeout(() => res.writeHead(200, { 'content-length': Buffer.byteLength(answer) }).end(answer), req.url!.includes('/slow') ? 150 : 0);
      });
    });
    // Upgrades: 101, then every byte echoed.
    server.on('upgrade', (req: IncomingMessage, socket: import('node:net').Socket) => {
      seen.push({ node: name, method: 'UPGRADE', url: req.url!, headers: req.headers, body: '', at: Date.now() });
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
  }
  return {
    seen,
    urls,
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

/** Writes `text` on a new connection; resolves with everything read until the close (or `ms`). */
function send(port: number, text: string, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text, 'latin1'));
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(got);
    }, ms);
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('error', reject);
  });
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe.each(PROXY_ENGINES)('request smuggling and conformance cases on the %s engine', (engine) => {
  let proxy: InProcessProxy;
  let nodes: Awaited<ReturnType<typeof startNodes>>;
  beforeAll(async () => {
    nodes = await startNodes();
    proxy = await startInProcessProxy({ engine });
    const targets = new Array<string | null>(BUCKET_COUNT).fill('dtable-server-a');
    targets[0xa1] = 'dtable-server-b';
    proxy.setRoutes(
      [
        { nodeId: 'dtable-server-a', url: nodes.urls[0]! },
        { nodeId: 'dtable-server-b', url: nodes.urls[1]! },
      ],
      targets,
    );
  });
  afterAll(async () => {
    await proxy?.close();
    await nodes?.close();
  });

  it.each(['content-length', 'Content-Length', 'host', 'transfer-encoding', 'keep-alive, Content-Length'])(
    'refuses Connection: %s with 400 and never lets a smuggled request or another client\'s request be read as a body',
    async (listed) => {
      const before = nodes.seen.length;
      const smuggled = `POST /dtables/${B}/swallow HTTP/1.1\r\nHost: p\r\nContent-Length: 400\r\n\r\n`;
      const attack = `POST /dtables/${A}/a HTTP/1.1\r\nHost: p\r\nConnection: ${listed}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`;
      const victimRequest = `GET /dtables/${B}/b HTTP/1.1\r\nHost: p\r\nAuthorization: Token victim-secret\r\nConnection: close\r\n\r\n`;
      const [attacker, victim] = await Promise.all([send(proxy.port, attack), new Promise<string>((r) => setTimeout(() => r(send(proxy.port, victimRequest)), 20))]);
      expect(statuses(attacker)).toEqual([400]);
      expect(attacker).not.toContain('victim-secret');
      expect(victim).toMatch(/^HTTP\/1\.1 200 /);
      expect(victim).toContain(`dtable-server-b GET /dtables/${B}/b auth=Token victim-secret`);
      const reached = nodes.seen.slice(before);
      expect(reached.map((s) => `${s.node} ${s.method} ${s.url}`)).toEqual([`dtable-server-b GET /dtables/${B}/b`]);
      expect(reached[0]!.body).toBe('');
    },
  );

  it('refuses a Content-Length with a no-break space (RFC 9110 sections 5.6.3 and 8.6) and forwards nothing', async () => {
    const before = nodes.seen.length;
    const r = await send(proxy.port, `POST /dtables/${A}/x HTTP/1.1\r\nHost: p\r\nContent-Length: 5\xa0\r\n\r\nhelloGET /dtables/${B}/y HTTP/1.1\r\nHost: p\r\n\r\n`);
    expect(statuses(r)).toEqual([400]);
    expect(nodes.seen.length).toBe(before);
  });

  it('answers 400 to two Host fields and to an invalid Host (RFC 9112 section 3.2)', async () => {
    const before = nodes.seen.length;
    expect(statuses(await send(proxy.port, `GET /dtables/${A}/ HTTP/1.1\r\nHost: p\r\nHost: q\r\n\r\n`))).toEqual([400]);
    expect(statuses(await send(proxy.port, `GET /dtables/${A}/ HTTP/1.1\r\nHost: p q\r\n\r\n`))).toEqual([400]);
    expect(statuses(await send(proxy.port, `GET /dtables/${A}/ HTTP/1.1\r\n\r\n`))).toEqual([400]);
    expect(nodes.seen.length).toBe(before);
  });

  it('accepts an absolute-form target as origin-form with its authority as Host (RFC 9112 section 3.2.2)', async () => {
    const before = nodes.seen.length;
    const r = await send(proxy.port, `GET http://public.example:8080/dtables/${B}/rows/?a=1 HTTP/1.1\r\nHost: ignored\r\nConnection: close\r\n\r\n`);
    expect(statuses(r)).toEqual([200]);
    const [s] = nodes.seen.slice(before);
    expect(s).toMatchObject({ node: 'dtable-server-b', url: `/dtables/${B}/rows/?a=1` });
    expect(s!.headers.host).toBe('public.example:8080');
  });

  it('never sends a POST again after the node took it and closed without answering (RFC 9110 section 9.2.2)', async () => {
    const before = nodes.seen.length;
    const r = await send(proxy.port, `POST /dtables/${A}/hang-up HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
    expect(statuses(r)).toEqual([502]);
    expect(nodes.seen.slice(before).filter((s) => s.url.endsWith('/hang-up'))).toHaveLength(1);
  });

  it('answers a malformed request pipelined behind a slow one after the slow one\'s answer (RFC 9112 section 9.3.2)', async () => {
    const r = await send(proxy.port, `GET /dtables/${A}/slow HTTP/1.1\r\nHost: p\r\n\r\nGET /x HTTP/1.1\r\nHost: p\r\nBad Header: 1\r\n\r\n`);
    expect(statuses(r)).toEqual([200, 400]);
    expect(r).toContain(`dtable-server-a GET /dtables/${A}/slow`);
  });

  it('switches protocols for an upgrade pipelined behind a slow request only after its answer', async () => {
    // A chunked upload takes the node:http path on every engine.
    const slow = `POST /dtables/${A}/slow HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`;
    const upgrade = `GET /dtables/${A}/ws HTTP/1.1\r\nHost: p\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;
    const r = await send(proxy.port, `${slow}${upgrade}PING`, 1000);
    expect(r.indexOf('HTTP/1.1 200 ')).toBe(0);
    expect(r.indexOf('HTTP/1.1 101 ')).toBeGreaterThan(0);
    expect(r.endsWith('\r\n\r\nPING')).toBe(true);
  });

  it('routes by the path as the node reads it: percent-encoded unreserved characters decoded (RFC 3986 section 6.2.2.2)', async () => {
    const before = nodes.seen.length;
    const r = await send(proxy.port, `GET /api/v1/%64tables/${A.replace('5e', '%35e')}/metadata/ HTTP/1.1\r\nHost: p\r\nX-Dtable-Uuid: ${B}\r\nConnection: close\r\n\r\n`);
    expect(statuses(r)).toEqual([200]);
    expect(nodes.seen.slice(before).map((s) => s.node)).toEqual(['dtable-server-a']);
  });

  it('sends pipelined requests with bodies to the node one after the other, in order', async () => {
    const before = nodes.seen.length;
    const post = (path: string, body: string) => `POST /dtables/${A}/${path} HTTP/1.1\r\nHost: p\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const r = await send(proxy.port, post('slow', 'one') + post('two', 'two') + post('three', 'three').replace('Host: p', 'Host: p\r\nConnection: close'));
    expect(statuses(r)).toEqual([200, 200, 200]);
    const reached = nodes.seen.slice(before);
    expect(reached.map((s) => s.body)).toEqual(['one', 'two', 'three']);
    // the second reached the node only after the first was answered (150 ms later)
    expect(reached[1]!.at - reached[0]!.at).toBeGreaterThanOrEqual(100);
  });
});
