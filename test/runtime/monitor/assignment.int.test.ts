// Acceptance 2 and 5 of issue 3: a real monitor process on a real 3-member etcd, nodes registered
// through the adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { startMonitor, type MonitorProcess } from '../../harness/monitor.ts';
import { changed, counts, nodeId, readAssignment, registerNode, sleep, until } from '../../harness/cluster-state.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import type { NodeRegistration } from '../../../runtime/cluster/etcd/registration.ts';
import { setNodeWeight } from '../../../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';

const ks = keyspace('');

describe('monitor assignment on real etcd', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let monitor: MonitorProcess;
  const nodes = new Map<number, NodeRegistration>();
  const epoch = async () => JSON.parse((await client.get(ks.epoch).string()) ?? '{"epoch":0}').epoch as number;
  /** Wait for the assignment to settle on the given node count distribution. */
  const settled = (want: Record<string, number>) =>
    until(() => readAssignment(client, ks), (a) => JSON.stringify(Object.entries(counts(a)).sort()) === JSON.stringify(Object.entries(want).sort()), 20_000, `counts ${JSON.stringify(want)}`);

  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    monitor = await startMonitor(etcd.hostList, { monitor_id: 'monitor-a', debounce_ms: 300, reconcile_interval_ms: 1000 });
  });
  afterAll(async () => {
    for (const r of nodes.values()) await r.stop().catch(() => undefined);
    await monitor?.stop();
    client?.close();
    await etcd?.stop();
  });

  it('gives 3 nodes 86/85/85', async () => {
    for (const n of [1, 2, 3]) nodes.set(n, await registerNode(client, ks, n));
    const a = await settled({ [nodeId(1)]: 86, [nodeId(2)]: 85, [nodeId(3)]: 85 });
    expect(Object.values(counts(a)).sort()).toEqual([85, 85, 86]);
  });

  it('moves exactly 64 buckets, all onto a fourth node', async () => {
    const before = await readAssignment(client, ks);
    nodes.set(4, await registerNode(client, ks, 4));
    const after = await settled({ [nodeId(1)]: 64, [nodeId(2)]: 64, [nodeId(3)]: 64, [nodeId(4)]: 64 });
    const moves = changed(before, after);
    expect(moves).toHaveLength(64);
    expect(moves.every((m) => m.to === nodeId(4))).toBe(true);
  });

  it('moves exactly the buckets of a node that leaves', async () => {
    const before = await readAssignment(client, ks);
    await nodes.get(2)!.stop();
    nodes.delete(2);
    const after = await until(() => readAssignment(client, ks), (a) => !a.includes(nodeId(2)), 20_000, 'node 2 emptied');
    const moves = changed(before, after);
    expect(moves).toHaveLength(64);
    expect(moves.every((m) => m.from === nodeId(2))).toBe(true);
    expect(Object.values(counts(after)).sort()).toEqual([85, 85, 86]);
  });

  it('moves nothing when a node leaves and returns within the debounce', async () => {
    await sleep(1500);
    const before = await readAssignment(client, ks);
    const e0 = await epoch();
    await nodes.get(3)!.stop();
    nodes.set(3, await registerNode(client, ks, 3)); // well within 300 ms
    await sleep(2500); // past the debounce and two periodic reconciles
    expect(changed(before, await readAssignment(client, ks))).toEqual([]);
    expect(await epoch()).toBe(e0);
  });

  it('empties a drained node and moves no other bucket', async () => {
    const before = await readAssignment(client, ks);
    await setNodeWeight(client, ks, nodeId(4), 0);
    const after = await until(() => readAssignment(client, ks), (a) => !a.includes(nodeId(4)), 20_000, 'node 4 drained');
    const moves = changed(before, after);
    expect(moves.length).toBe(counts(before)[nodeId(4)]);
    expect(moves.every((m) => m.from === nodeId(4))).toBe(true);
    await setNodeWeight(client, ks, nodeId(4), null);
  });

  it('repairs garbage written into an assign key and keeps running', async () => {
    await until(() => readAssignment(client, ks), (a) => a.includes(nodeId(4)), 20_000, 'node 4 back after undrain');
    await sleep(500);
    const before = await readAssignment(client, ks);
    await etcd.etcdctl(['put', 'assign-3c', '{"garbage": true']);
    const after = await until(() => readAssignment(client, ks), (a) => a[0x3c] === before[0x3c], 10_000, 'assign-3c repaired');
    expect(changed(before, after)).toEqual([]);
    await monitor.waitForLog((l) => String(l.msg).includes('treating bucket as unassigned'));
    expect((await monitor.health())?.is_leader).toBe(true);
  });

  it('ignores a garbage registration and keeps running', async () => {
    const before = await readAssignment(client, ks);
    await etcd.etcdctl(['put', 'dtable-server-99', 'not json at all']);
    await etcd.etcdctl(['put', 'dtable-server-98', JSON.stringify({ node_id: 'dtable-server-98', node_url: 'nope' })]);
    await monitor.waitForLog((l) => String(l.msg).includes('malformed node registration') && l.key === 'dtable-server-98');
    await sleep(1500);
    expect(changed(before, await readAssignment(client, ks))).toEqual([]);
    expect(monitor.proc.exitCode).toBeNull();
    expect((await monitor.health())?.is_leader).toBe(true);
  });

  it('moves nothing when garbage is written over a live node registration (the node restores it)', async () => {
    const before = await readAssignment(client, ks);
    const e0 = await epoch();
    await etcd.etcdctl(['put', nodeId(1), '{"node_id": 42']);
    await sleep(2500);
    expect(changed(before, await readAssignment(client, ks))).toEqual([]);
    expect(await epoch()).toBe(e0);
  });

  it('exposes buckets per node, moves, leadership and last reconcile as Prometheus metrics', async () => {
    const text = await monitor.metrics();
    expect(text).toMatch(/dtable_cluster_monitor_is_leader\{monitor_id="monitor-a"\} 1/);
    expect(text).toMatch(new RegExp(`dtable_cluster_buckets\\{monitor_id="monitor-a",node_id="${nodeId(1)}"\\} \\d+`));
    expect(text).toMatch(/dtable_cluster_bucket_moves_total\{monitor_id="monitor-a"\} [1-9]\d*/);
    const last = Number(/dtable_cluster_last_reconcile_timestamp_seconds\{[^}]*\} (\S+)/.exec(text)![1]);
    expect(Date.now() / 1000 - last).toBeLessThan(5);
  });

  it('logs each assignment change as a list of moves', async () => {
    const line = await monitor.waitForLog((l) => l.msg === 'assignment changed' && Array.isArray(l.moves) && (l.moves as unknown[]).length === 64);
    expect((line.moves as Array<{ bucket: string; from: string; to: string }>)[0]).toMatchObject({ bucket: expect.stringMatching(/^[0-9a-f]{2}$/), to: expect.any(String) });
  });
});
