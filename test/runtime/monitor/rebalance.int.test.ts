// Load-aware rebalance through etcd request/response keys, answered by a real monitor process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { startMonitor, type MonitorProcess } from '../../harness/monitor.ts';
import { changed, counts, nodeId, readAssignment, registerNode, sleep, until } from '../../harness/cluster-state.ts';
import { BUCKETS } from '../../../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import type { NodeRegistration } from '../../../runtime/cluster/etcd/registration.ts';
import { requestRebalance } from '../../../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import type { LoadValue } from '../../../runtime/cluster/values.ts';

const ks = keyspace('');

describe('rebalance requests', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let monitor: MonitorProcess;
  const nodes: NodeRegistration[] = [];
  /** Publish per-bucket load for every node: `opsOf(bucketIndex)` ops/s. */
  const publishLoad = async (opsOf: (i: number) => number) => {
    const a = await readAssignment(client, ks);
    for (const r of nodes) {
      const buckets: LoadValue['buckets'] = {};
      BUCKETS.forEach((b, i) => {
        if (a[i] === r.nodeId) buckets[b] = { bases: 1, ops_per_sec: opsOf(i), bytes: 1000 };
      });
      const v: LoadValue = { node_id: r.nodeId, updated_at: new Date().toISOString(), buckets };
      await client.put(ks.load(r.nodeId)).value(JSON.stringify(v)).lease(r.leaseId!);
    }
    await sleep(300);
  };

  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    monitor = await startMonitor(etcd.hostList, { monitor_id: 'monitor-r', rebalance_move_budget: 10 });
    for (const n of [1, 2, 3, 4]) nodes.push(await registerNode(client, ks, n, 10));
    await until(() => readAssignment(client, ks), (a) => Object.values(counts(a)).every((c) => c === 64) && Object.keys(counts(a)).length === 4, 20_000, 'assignment');
  });
  afterAll(async () => {
    for (const r of nodes) await r.stop().catch(() => undefined);
    await monitor?.stop();
    client?.close();
    await etcd?.stop();
  });

  it('moves nothing on a balanced, evenly loaded cluster', async () => {
    await publishLoad(() => 10);
    const before = await readAssignment(client, ks);
    const r = await requestRebalance(client, ks, { dryRun: false }, 10_000);
    expect(r.plan.moves).toEqual([]);
    expect(r.applied).toBe(false);
    expect(r.plan.before).toEqual({ max: 640, mean: 640 });
    expect(changed(before, await readAssignment(client, ks))).toEqual([]);
  });

  it('answers a dry run with a plan that lowers the peak and writes nothing', async () => {
    const a = await readAssignment(client, ks);
    await publishLoad((i) => (a[i] === nodeId(1) ? 50 : 1));
    const r = await requestRebalance(client, ks, { dryRun: true, budget: 6 }, 10_000);
    expect(r.applied).toBe(false);
    expect(r.plan.moves.length).toBeGreaterThan(0);
    expect(r.plan.moves.length).toBeLessThanOrEqual(6);
    expect(r.plan.after.max).toBeLessThan(r.plan.before.max);
    expect(r.plan.moves.filter((m) => m.from === nodeId(1)).length).toBe(r.plan.moves.length / 2);
    expect(changed(a, await readAssignment(client, ks))).toEqual([]);
  });

  it('applies the plan within the configured budget and keeps every node at its quota', async () => {
    const a = await readAssignment(client, ks);
    const r = await requestRebalance(client, ks, { dryRun: false }, 10_000);
    expect(r.applied).toBe(true);
    expect(r.plan.moves.length).toBeGreaterThan(0);
    expect(r.plan.moves.length).toBeLessThanOrEqual(10);
    const after = await readAssignment(client, ks);
    expect(changed(a, after).map((m) => m.bucket).sort()).toEqual(r.plan.moves.map((m) => m.bucket).sort());
    expect(Object.values(counts(after))).toEqual([64, 64, 64, 64]);
    await sleep(2500); // periodic reconciles do not undo it
    expect(changed(after, await readAssignment(client, ks))).toEqual([]);
  });
});
