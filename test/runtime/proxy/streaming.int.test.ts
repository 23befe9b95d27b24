// Large bodies through the proxy process: 50 MB each way against slow readers with bounded proxy
// memory, and no upstream request left open when the client goes away. The node here is the
// fake node (the reference node caps bodies at 10 MB), registered in a real etcd like a node.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKETS } from '../../../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { patterned, startFakeNode, type FakeNode } from './fixtures/fake-node.ts';
import { ks, until, writeProxyConfig, type ProxyProcess } from './fixtures/proxy-cluster.ts';

const MB = 1024 * 1024;
const UUID = '5e5c6ad2-1111-4222-8333-444455556666';

let etcd: EtcdTestCluster;
let client: Etcd3;
let node: FakeNode;
let proxy: ProxyProcess;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'proxy-streaming-'));
  etcd = await startEtcdCluster({ size: 1 });
  client = connectEtcd({ hostList: etcd.hostList });
  node = await startFakeNode('dtable-server-fake');
  const lease = client.lease(30);
  await lease.put(ks.node(node.nodeId)).value(JSON.stringify({ node_id: node.nodeId, node_url: node.url, local_node_url: node.url }));
  await Promise.all(BUCKETS.map((b) => client.put(ks.assign(b)).value(node.nodeId).exec()));
  proxy = await writeProxyConfig(dir, etcd.hostList);
  proxy.start();
  await proxy.ready();
}, 120_000);

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await node?.close();
  client?.close();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Samples the proxy's RSS every 20 ms while `fn` runs; returns the growth over the start value. */
async function rssGrowth(fn: () => Promise<void>): Promise<number> {
  const start = proxy.rss();
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, proxy.rss())), 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, proxy.rss()) - start;
}

function body(total: number): Readable {
  const chunk = Buffer.alloc(256 * 1024, 97);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('streaming through the proxy process', () => {
  it('streams a 50 MB upload to a slow node with proxy RSS growing by less than 64 MB', async () => {
    let got = 0;
    const growth = await rssGrowth(async () => {
      const r = await request(`${proxy.url}/dtables/${UUID}/upload?slow_ms=2`, { method: 'POST', body: body(50 * MB), headers: { 'content-length': String(50 * MB) } });
      got = ((await r.body.json()) as { bytes: number }).bytes;
    });
    expect(got).toBe(50 * MB);
    console.info(`50 MB upload: proxy RSS grew by ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(64 * MB);
  });

  it('streams a 50 MB download to a slow reader with proxy RSS growing by less than 64 MB', async () => {
    let got = 0;
    const growth = await rssGrowth(async () => {
      const r = await request(`${proxy.url}/download?bytes=${50 * MB}`, { headers: { 'x-dtable-uuid': UUID } });
      for await (const chunk of r.body) {
        got += (chunk as Buffer).length;
        await sleep(1); // a slow reader: ~64 KB per ms at most
      }
    });
    expect(got).toBe(50 * MB);
    console.info(`50 MB download: proxy RSS grew by ${(growth / MB).toFixed(1)} MB`);
    expect(growth).toBeLessThan(64 * MB);
  });

  // The fast path reads node bytes into a buffer per connection and writes views of it to the
  // client; a write the kernel does not take at once must keep its bytes while reads go on.
  it('relays every byte of concurrent downloads to readers that stall at random', async () => {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const download = async (seed: number, bytes: number) => {
      const r = await request(`${proxy.url}/download?bytes=${bytes}&seed=${seed}`, { headers: { 'x-dtable-uuid': UUID } });
      const hash = createHash('sha256');
      let got = 0;
      let n = 0;
      for await (const chunk of r.body) {
        hash.update(chunk as Buffer);
        got += (chunk as Buffer).length;
        // Stalls of 0 to 7 ms on some chunks and a long one now and then, long enough for the socket
        // buffers to fill: the proxy's writes to this client back up, partly or wholly, and drain.
        if (++n % 3 === seed % 3) await sleep((n * seed) % 8);
        if (n % 40 === 0) await sleep(60);
      }
      expect(got).toBe(bytes);
      expect(hash.digest('hex')).toBe(sha(patterned(bytes, seed)));
    };
    await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => download(seed, 6 * MB + seed * 4099)));
  });

  it('relays every byte of uploads read in many pieces, and the request pipelined behind one', async () => {
    const bytes = 1024 * 1024 - 17; // within the replay limit: the fast path holds it whole
    const bodyBytes = patterned(bytes, 77);
    const expected = createHash('sha256').update(bodyBytes).digest('hex');
    const socket = connect(new URL(proxy.url).port ? Number(new URL(proxy.url).port) : 80, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (received += d));
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /dtables/${UUID}/upload HTTP/1.1\r\nHost: proxy\r\nContent-Length: ${bytes}\r\n\r\n`);
    // Pieces of odd sizes, each its own packet; the last one carries the next request's head too.
    for (let at = 0, k = 0; at < bytes; k++) {
      const n = Math.min(1 + ((k * 7919) % 40_000), bytes - at);
      const piece = bodyBytes.subarray(at, at + n);
      at += n;
      socket.write(at < bytes ? piece : Buffer.concat([piece, Buffer.from(`GET /dtables/${UUID}/after HTTP/1.1\r\nHost: proxy\r\n\r\n`)]));
      if (k % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    await until('both answers', () => (received.match(/HTTP\/1\.1 200/g) ?? []).length === 2, 20_000, 20);
    socket.destroy();
    const first = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4, received.indexOf('HTTP/1.1 200', 10))) as { bytes: number; sha256: string };
    expect(first.bytes).toBe(bytes);
    expect(first.sha256).toBe(expected);
    expect(received.slice(received.indexOf('HTTP/1.1 200', 10))).toContain('"url":"/dtables/5e5c6ad2-1111-4222-8333-444455556666/after"');
  });

  it('leaves no upstream request open when the client abandons a download', async () => {
    const aborted = node.aborted();
    const ac = new AbortController();
    const r = await request(`${proxy.url}/download?bytes=${50 * MB}`, { headers: { 'x-dtable-uuid': UUID }, signal: ac.signal });
    for await (const _ of r.body) break;
    ac.abort();
    await until('the node to see the abort', () => node.aborted() === aborted + 1, 10_000, 20);
    expect(node.inFlight()).toBe(0);
  });

  it('leaves no upstream request open when the client abandons an upload', async () => {
    const aborted = node.aborted();
    const ac = new AbortController();
    const pending = request(`${proxy.url}/dtables/${UUID}/upload?slow_ms=5`, { method: 'POST', body: body(50 * MB), headers: { 'content-length': String(50 * MB) }, signal: ac.signal }).catch(() => undefined);
    await until('the upload to reach the node', () => node.inFlight() === 1, 10_000, 10);
    await sleep(100);
    ac.abort();
    await pending;
    await until('the node to see the abort', () => node.aborted() === aborted + 1, 10_000, 20);
    expect(node.inFlight()).toBe(0);
  });

  it('leaves no upstream request open when the client gives up waiting for an answer', async () => {
    const aborted = node.aborted();
    const ac = new AbortController();
    const pending = request(`${proxy.url}/hang`, { headers: { 'x-dtable-uuid': UUID }, signal: ac.signal }).catch(() => undefined);
    await until('the request to reach the node', () => node.inFlight() === 1, 10_000, 10);
    ac.abort();
    await pending;
    await until('the node to see the abort', () => node.aborted() === aborted + 1, 10_000, 20);
    expect(node.inFlight()).toBe(0);
  });

  // Last: it stops the proxy.
  it('drains an in-flight download on SIGTERM, refuses new connections and exits 0', async () => {
    const r = await request(`${proxy.url}/download?bytes=${8 * MB}`, { headers: { 'x-dtable-uuid': UUID } });
    const exited = proxy.stop('SIGTERM');
    let got = 0;
    for await (const chunk of r.body) {
      got += (chunk as Buffer).length;
      await sleep(1);
    }
    expect(got).toBe(8 * MB);
    expect(await exited).toBe(0);
    await expect(request(`${proxy.url}/ping/`)).rejects.toThrow();
  });
});
