// Handoff and failure through the proxy process in a real cluster (etcd, reference nodes,
// monitor): a rebalance under constant load costs clients nothing; a killed node's buckets
// answer 503 with Retry-After fast while the others keep working, and come back once reassigned.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKETS, bucketIndex, bucketOf } from '../../../runtime/cluster/buckets.ts';
import { ADMIN_TOKEN, startProxyCluster, until, type ProxyCluster } from './fixtures/proxy-cluster.ts';

let cluster: ProxyCluster;
const agent = new Agent({ connections: 32 });
beforeAll(async () => {
  cluster = await startProxyCluster({ nodes: 1, leaseTtl: 3, retryDeadlineMs: 10_000 });
}, 240_000);
afterAll(async () => {
  await agent.close();
  await cluster?.stop();
});

/** One base per 8th bucket, so both halves of any split carry load. */
const bases = BUCKETS.filter((_, i) => i % 8 === 0).map((b) => `${b}${randomUUID().replaceAll('-', '').slice(2)}`);

async function call(uuid: string, write: boolean): Promise<{ status: number; node: string | undefined }> {
  const headers = { authorization: `Token ${cluster.token(uuid)}`, 'content-type': 'application/json' };
  const r = write
    ? await request(`${cluster.proxy.url}/api/v1/dtables/${uuid}/rows/`, { dispatcher: agent, method: 'POST', headers, body: JSON.stringify({ table_name: 'Load', row: { Name: 'x' } }) })
    : await request(`${cluster.proxy.url}/api/v1/dtables/${uuid}/metadata/`, { dispatcher: agent, headers });
  await r.body.dump();
  return { status: r.statusCode, node: r.headers['x-dtable-server-node'] as string | undefined };
}

describe('handoff through the proxy', () => {
  it('answers every request of a constant load with 2xx while a rebalance moves half the buckets', async () => {
    for (const uuid of bases) {
      const r = await request(`${cluster.proxy.url}/api/v1/dtables/${uuid}/tables/`, {
        dispatcher: agent,
        method: 'POST',
        headers: { authorization: `Token ${cluster.token(uuid)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ table_name: 'Load', columns: [{ column_name: 'Name', column_type: 'text' }] }),
      });
      await r.body.dump();
      expect(r.statusCode).toBe(200);
    }
    const statuses = new Map<number, number>();
    const servedBy = new Set<string>();
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const uuid = bases[(w * 7 + i) % bases.length]!;
        const r = await call(uuid, i % 4 === 0);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.node) servedBy.add(r.node);
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 1000));
    const before = await cluster.assignment();
    const joined = await cluster.addNode();
    await until('the monitor to give the new node half the buckets', async () => (await cluster.assignment()).filter((n) => n === joined.nodeId).length === 128, 60_000, 100);
    await cluster.settled(60_000);
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await Promise.all(workers);

    const after = await cluster.assignment();
    expect(after.filter((n, i) => n !== before[i]).length).toBe(128);
    const total = [...statuses.values()].reduce((s, n) => s + n, 0);
    const non2xx = [...statuses].filter(([s]) => s < 200 || s > 299);
    expect(non2xx).toEqual([]);
    expect(total).toBeGreaterThan(100);
    expect(servedBy).toEqual(new Set(['dtable-server-01', joined.nodeId]));

    // The proxy reports when its table began routing by the epoch that moved the buckets.
    const headers = { authorization: `Token ${ADMIN_TOKEN}` };
    const report = (await (await fetch(`${cluster.proxy.adminUrl}/assignment`, { headers })).json()) as { epoch: number; applied: Array<{ epoch: number; written_at: string; applied_at: string }> };
    const latest = report.applied.at(-1)!;
    expect(latest.epoch).toBe(report.epoch);
    const lagMs = Date.parse(latest.applied_at) - Date.parse(latest.written_at);
    expect(lagMs).toBeGreaterThanOrEqual(0);
    expect(lagMs).toBeLessThan(10_000);
    const metrics = await (await fetch(`${cluster.proxy.adminUrl}/metrics`, { headers })).text();
    expect(metrics).toMatch(/^dtable_proxy_assignment_propagation_seconds_count [1-9]/m);
    expect(metrics).toContain(`dtable_proxy_assignment_epoch ${report.epoch}`);
  });

  it('answers 503 with Retry-After within 1 s for a killed node\'s buckets, 200 for the others, and 200 again after reassignment', async () => {
    const owners = await cluster.owners();
    const victim = cluster.nodes[1]!;
    const survivor = cluster.nodes[0]!;
    const victimBase = bases.find((u) => owners[bucketIndex(bucketOf(u))] === victim.nodeId)!;
    const survivorBase = bases.find((u) => owners[bucketIndex(bucketOf(u))] === survivor.nodeId)!;
    expect((await call(victimBase, false)).node).toBe(victim.nodeId);

    await victim.stop('SIGKILL');
    const t0 = Date.now();
    const headers = { authorization: `Token ${cluster.token(victimBase)}` };
    const dead = await request(`${cluster.proxy.url}/api/v1/dtables/${victimBase}/metadata/`, { dispatcher: agent, headers });
    await dead.body.dump();
    expect(dead.statusCode).toBe(503);
    expect(Number(dead.headers['retry-after'])).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await call(survivorBase, false)).toEqual({ status: 200, node: survivor.nodeId });

    // Lease expiry (3 s) and the monitor's reassignment bring the bucket back on the survivor.
    const back = await until('the killed node\'s bucket to answer 200 again', async () => {
      const r = await call(victimBase, false);
      if (r.status !== 200 && r.status !== 503) throw new Error(`unexpected status ${r.status}`);
      return r.status === 200 ? r : null;
    }, 60_000, 100);
    expect(back.node).toBe(survivor.nodeId);
  });
});
