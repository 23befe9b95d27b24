// The proxy process in a real cluster (3-member etcd, 3 reference nodes, monitor): routing of
// every bucket, requests refused before any node, the admin API, socket.io through the proxy.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKETS, bucketIndex, bucketOf } from '../../../runtime/cluster/buckets.ts';
import { ADMIN_TOKEN, startProxyCluster, type ProxyCluster } from './fixtures/proxy-cluster.ts';

let cluster: ProxyCluster;
const admin = { authorization: `Token ${ADMIN_TOKEN}` };
const agent = new Agent({ connections: 16 });
beforeAll(async () => {
  cluster = await startProxyCluster({ nodes: 3 });
}, 240_000);
afterAll(async () => {
  await agent.close();
  await cluster?.stop();
});

/** 1,000 random uuids covering all 256 buckets, half dashed, half plain. */
function uuidsOverAllBuckets(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const u = randomUUID().replaceAll('-', '');
    const plain = (i < 256 ? BUCKETS[i]! : u.slice(0, 2)) + u.slice(2);
    out.push(i % 2 === 0 ? plain : `${plain.slice(0, 8)}-${plain.slice(8, 12)}-${plain.slice(12, 16)}-${plain.slice(16, 20)}-${plain.slice(20)}`);
  }
  return out;
}

describe('routing through the proxy process', () => {
  it('sends 1,000 random bases over all 256 buckets, dashed and plain, to the owner of their bucket', async () => {
    const owners = await cluster.owners();
    const uuids = uuidsOverAllBuckets();
    expect(new Set(uuids.map(bucketOf)).size).toBe(256);
    const wrong: string[] = [];
    for (let i = 0; i < uuids.length; i += 50) {
      await Promise.all(
        uuids.slice(i, i + 50).map(async (uuid) => {
          const path = i % 100 === 0 ? `/dtables/${uuid}/` : `/api/v1/dtables/${uuid}/metadata/`;
          const r = await request(`${cluster.proxy.url}${path}`, { dispatcher: agent, headers: { authorization: `Token ${cluster.token(uuid)}` } });
          await r.body.dump();
          const want = owners[bucketIndex(bucketOf(uuid))];
          if (r.statusCode !== 200 || r.headers['x-dtable-server-node'] !== want) wrong.push(`${uuid}: ${r.statusCode} from ${r.headers['x-dtable-server-node']}, owner ${want}`);
        }),
      );
    }
    expect(wrong).toEqual([]);
  });

  it('sends uuid-less paths to a live node', async () => {
    const r = await request(`${cluster.proxy.url}/ping/`, { dispatcher: agent });
    expect(await r.body.text()).toBe('pong');
    expect(cluster.nodes.map((n) => n.nodeId)).toContain(r.headers['x-dtable-server-node']);
  });

  it('answers bad paths, malformed uuids and oversized headers with 4xx from the proxy itself', async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['/dtables/not-a-uuid/', {}],
      ['/api/v1/dtables/5e5c6ad2-1111-4222-8333-44445555666/rows/', {}],
      ['/socket.io/?EIO=4&transport=polling&dtable_uuid=xyz', {}],
      ['/api/v1/internal/x/', { 'x-dtable-uuid': '12345' }],
    ];
    for (const [path, headers] of cases) {
      const r = await request(`${cluster.proxy.url}${path}`, { dispatcher: agent, headers });
      await r.body.dump();
      expect(r.statusCode, path).toBe(400);
      expect(r.headers['x-dtable-server-node'], path).toBeUndefined();
      expect(r.headers['x-dtable-proxy'], path).toBe('local');
    }
    for (const text of ['GET /api/../ping/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', `GET /ping/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`]) {
      const head = await rawHead(cluster.proxy.port, text);
      expect(head).toMatch(/^HTTP\/1\.1 4(00|31) /);
      expect(head.toLowerCase()).not.toContain('x-dtable-server-node');
    }
  });
});

describe('admin API of the proxy process', () => {
  it('GET /health is 200 with every node reachable', async () => {
    const r = await fetch(`${cluster.proxy.adminUrl}/health`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ok', nodes_live: 3, nodes_down: 0 });
  });

  it('GET /assignment shows the epoch, each bucket\'s node and per-node counts that match etcd', async () => {
    const a = (await (await fetch(`${cluster.proxy.adminUrl}/assignment`, { headers: admin })).json()) as {
      epoch: number;
      buckets: Record<string, string>;
      nodes: Array<{ node_id: string; assigned: number; routed: number; reachable: boolean }>;
    };
    const fromEtcd = await cluster.assignment();
    expect(a.epoch).toBeGreaterThan(0);
    expect(BUCKETS.map((b) => a.buckets[b])).toEqual(fromEtcd);
    expect(a.nodes.map((n) => n.node_id)).toEqual(['dtable-server-01', 'dtable-server-02', 'dtable-server-03']);
    expect(a.nodes.reduce((s, n) => s + n.assigned, 0)).toBe(256);
    for (const n of a.nodes) expect(n).toMatchObject({ reachable: true, assigned: n.routed });
  });

  it('GET /metrics counts the requests by node and status and exposes the table age', async () => {
    const text = await (await fetch(`${cluster.proxy.adminUrl}/metrics`, { headers: admin })).text();
    expect(text).toMatch(/dtable_proxy_requests_total\{node="dtable-server-0[123]",status="200"\} \d+/);
    expect(text).toMatch(/dtable_proxy_requests_total\{node="none",status="400"\} [1-9]/);
    expect(text).toMatch(/dtable_proxy_upstream_latency_seconds_count\{node="dtable-server-01"\} [1-9]/);
    expect(text).toMatch(/dtable_proxy_routing_table_age_seconds [\d.]+/);
  });

  it('POST /rebalance/?dry_run=1 returns the monitor leader\'s plan and changes nothing', async () => {
    const before = await cluster.assignment();
    const r = await fetch(`${cluster.proxy.adminUrl}/rebalance/?dry_run=1`, { method: 'POST', headers: { authorization: `Token ${ADMIN_TOKEN}` } });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { dry_run: boolean; applied: boolean; monitor_id: string; moves: unknown[] };
    expect(body).toMatchObject({ dry_run: true, applied: false, monitor_id: 'monitor-1' });
    expect(Array.isArray(body.moves)).toBe(true);
    expect(await cluster.assignment()).toEqual(before);
  });

  it('refuses POST /rebalance/ and GET /assignment without the admin token', async () => {
    expect((await fetch(`${cluster.proxy.adminUrl}/rebalance/`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${cluster.proxy.adminUrl}/assignment`)).status).toBe(401);
  });
});

describe('socket.io through the proxy', () => {
  for (const transport of ['websocket', 'polling'] as const) {
    it(`connects by ${transport}, joins a base and receives the broadcast of a row added over HTTP`, async () => {
      const uuid = randomUUID();
      const token = cluster.token(uuid);
      const owner = (await cluster.owners())[bucketIndex(bucketOf(uuid))];
      const base = `${cluster.proxy.url}/api/v1/dtables/${uuid}`;
      const headers = { authorization: `Token ${token}`, 'content-type': 'application/json' };
      const t = await fetch(`${base}/tables/`, { method: 'POST', headers, body: JSON.stringify({ table_name: 'ProxyT', columns: [{ column_name: 'Name', column_type: 'text' }] }) });
      expect(t.status, await t.clone().text()).toBe(200);
      expect(t.headers.get('x-dtable-server-node')).toBe(owner);

      const socket: Socket = io(cluster.proxy.url, { transports: [transport], query: { dtable_uuid: uuid }, reconnection: false, forceNew: true });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        const joined = await new Promise<{ success: boolean }>((resolve) => socket.emit('join-room', uuid, token, resolve));
        expect(joined.success).toBe(true);
        const update = new Promise<[{ op_type: string }, number]>((resolve) => socket.once('update-dtable', (op, version) => resolve([op, version])));
        const add = await fetch(`${base}/rows/`, { method: 'POST', headers, body: JSON.stringify({ table_name: 'ProxyT', row: { Name: 'Ada' } }) });
        expect(add.status).toBe(200);
        const [op, version] = await update;
        expect(op.op_type).toMatch(/^insert_rows?$/);
        expect(version).toBeGreaterThan(0);
      } finally {
        socket.close();
      }
    });
  }
});

function rawHead(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (out.includes('\r\n\r\n')) s.destroy();
    });
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}
