// Resource exhaustion through the proxy, found by an attack review (each test failed before its
// fix): a node's endless interim responses to a client that does not read (both engines; now at
// most MAX_INTERIM_RESPONSES, then 502), a response complete on the node side waiting for such a
// client (Flushing: now cut after keepAliveTimeoutMs without progress), and a node streaming
// 1-byte writes to a slow client (each pending write held a new 128 KiB read buffer: gigabytes).
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { silentLog } from '../../../runtime/cluster/etcd/log.ts';
import { Forwarder } from '../../../runtime/proxy/forward.ts';
import { ProxyMetrics } from '../../../runtime/proxy/metrics.ts';
import { RouteTable } from '../../../runtime/proxy/route-table.ts';
import { createProxyServer, type ProxyEngine } from '../../../runtime/proxy/server.ts';
import { UpgradeTunnels } from '../../../runtime/proxy/websocket.ts';
import { BUCKET_COUNT } from '../../../runtime/cluster/buckets.ts';
import { listenLoopback } from './fixtures/listen.ts';

const UUID = '5e5c6ad2-1111-4222-8333-444455556666';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function proxy(opts: { engine?: ProxyEngine; keepAliveTimeoutMs?: number; bodyTimeoutMs?: number; headersTimeoutMs?: number } = {}) {
  const metrics = new ProxyMetrics();
  const routes = new RouteTable({ metrics, log: silentLog, probeIntervalMs: 50, pool: { headersTimeoutMs: opts.headersTimeoutMs ?? 60_000, bodyTimeoutMs: opts.bodyTimeoutMs ?? 60_000 } } as never);
  const forwarder = new Forwarder({ routes, metrics, log: silentLog, retryDeadlineMs: 500 });
  const tunnels = new UpgradeTunnels({ routes, metrics });
  const server = await createProxyServer({ forwarder, tunnels, engine: opts.engine, keepAliveTimeoutMs: opts.keepAliveTimeoutMs });
  const port = await server.listen('127.0.0.1', 0);
  cleanups.push(async () => {
    await server.close(100);
    await routes.close();
  });
  return {
    port,
    server,
    to(url: string) {
      routes.update({ nodes: [{ nodeId: 'n1', localNodeUrl: url }], targets: new Array(BUCKET_COUNT).fill('n1') });
    },
  };
}

/** A raw node: `serve(socket, head)` per request head. */
async function rawNode(serve: (s: Socket, head: string) => void) {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const e = buf.indexOf('\r\n\r\n');
      if (e < 0) return;
      const head = buf.slice(0, e + 4);
      buf = buf.slice(e + 4);
      serve(s, head);
    });
  });
  const l = await listenLoopback(server);
  cleanups.push(() => l.close());
  return { url: l.url, sockets };
}

/** A client that sends `bytes` and never reads. */
function silentClient(port: number, bytes: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.pause();
      s.write(bytes, 'latin1');
      resolve(s);
    });
    s.on('error', () => undefined);
    cleanups.push(() => void s.destroy());
  });
}

const GET = `GET /dtables/${UUID}/x HTTP/1.1\r\nHost: x\r\n\r\n`;

describe.each(['raw', 'node'] as const)('%s engine: node sends endless 1xx to a client that does not read', (engine) => {
  it('stops reading the node once the client is behind', async () => {
    let sent = 0;
    let stop = false;
    const node = await rawNode((s) => {
      const early = `HTTP/1.1 103 Early Hints\r\nlink: </${'a'.repeat(4000)}>; rel=preload\r\n\r\n`;
      const pump = () => {
        while (!stop && s.writable) {
          sent += early.length;
          if (!s.write(early)) return void s.once('drain', pump);
        }
      };
      pump();
    });
    const p = await proxy({ engine });
    p.to(node.url);
    const before = process.memoryUsage();
    await silentClient(p.port, GET);
    await sleep(3000);
    stop = true;
    const after = process.memoryUsage();
    if (process.env.SHOW_FIGURES) console.log(engine, 'node wrote MB', (sent / 1e6).toFixed(1), 'rss +MB', ((after.rss - before.rss) / 1e6).toFixed(0), 'external +MB', ((after.external - before.external) / 1e6).toFixed(0));
    // The kernel buffers on both sides hold a few MB; everything past that is the proxy's memory.
    expect(sent).toBeLessThan(32e6);
  }, 20_000);
});

describe('raw engine: a client that never reads its response', () => {
  it('is cut once keepAliveTimeoutMs passes without progress, also while the last response waits in its buffer (Flushing)', async () => {
    // Responses of 100 KB come in one read each: the last one the client's kernel buffers cannot
    // take is complete on the node side while most of it waits in the proxy (Flushing).
    const body = Buffer.alloc(100 * 1024, 97);
    const node = await rawNode((s) => {
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
      s.write(body);
    });
    // Node-side timeouts short too: a response still being relayed (the node socket paused for the
    // client) is cut by them; the one complete on the node side waits in Flushing.
    const p = await proxy({ keepAliveTimeoutMs: 500, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 });
    p.to(node.url);
    for (let i = 0; i < 10; i++) await silentClient(p.port, GET.repeat(100));
    const open = () => new Promise<number>((resolve, reject) => p.server.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    await sleep(300);
    expect(await open()).toBe(10);
    const end = Date.now() + 5000;
    while ((await open()) > 0 && Date.now() < end) await sleep(100);
    // A paused client cannot see the close; the proxy's side of each connection is what counts.
    expect(await open()).toBe(0);
  }, 20_000);
});

describe('raw engine: a node streaming tiny writes to a client that reads slowly', () => {
  it('holds memory in proportion to the bytes pending, not one 128 KiB read buffer per write', async () => {
    let stop = false;
    let sent = 0;
    const node = await rawNode((s) => {
      s.setNoDelay(true);
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000000000\r\n\r\n');
      const one = Buffer.from('a');
      const tick = () => {
        if (stop || !s.writable) return;
        sent += 1;
        s.write(one);
        setImmediate(tick);
      };
      tick();
    });
    const p = await proxy();
    p.to(node.url);
    const before = process.memoryUsage();
    await silentClient(p.port, GET);
    let peak = 0;
    let peakRss = 0;
    for (let i = 0; i < 24; i++) {
      await sleep(250);
      const m = process.memoryUsage();
      peak = Math.max(peak, m.arrayBuffers - before.arrayBuffers);
      peakRss = Math.max(peakRss, m.rss - before.rss);
    }
    stop = true;
    if (process.env.SHOW_FIGURES) console.log(`node sent ${(sent / 1e6).toFixed(2)} MB in 1-byte writes: arrayBuffers +${(peak / 2 ** 20).toFixed(0)} MiB, rss +${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    expect(peak).toBeLessThan(64 * 2 ** 20);
  }, 20_000);
});
