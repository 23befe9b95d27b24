// The console's state from a real ClusterView on a real 3-member etcd: node states (live,
// draining, down), owned buckets and summed load, and the last moves labelled with the epoch of
// the chunked transaction that made them (assign keys and the epoch record arrive through
// different watches).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { BUCKETS } from '../../../runtime/cluster/buckets.ts';
import { writeAssignment } from '../../../runtime/cluster/etcd/assignment-writer.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import { ClusterView } from '../../../runtime/cluster/etcd/cluster-view.ts';
import { setNodeWeight } from '../../../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import type { AssignmentReport } from '../../../runtime/proxy/cluster-routes.ts';
import { consoleState, followMoves, MoveLog, type ConsoleState } from '../../../runtime/proxy/console/console-state.ts';

const ks = keyspace('console/');
const epoch = (n: number) => ({ epoch: n, monitor_id: 'monitor-t', written_at: new Date().toISOString(), moved: 0, counts: {} });
const registration = (id: string) => JSON.stringify({ node_id: id, node_url: `https://${id}.example.com/`, local_node_url: 'http://127.0.0.1:1/' });

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('console state from a real cluster view', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let view: ClusterView;
  const log = new MoveLog(512);
  let guard: { key: string; createRevision: number };

  /** The report the proxy's assignmentReport gives, for a table that routes by the view (every node reachable). */
  const report = (): AssignmentReport => {
    const buckets: Record<string, string | null> = {};
    const moving: string[] = [];
    BUCKETS.forEach((b, i) => {
      const a = view.assignment()[i] ?? null;
      buckets[b] = a;
      const owner = view.ownerOf(b);
      if (a && owner && owner.nodeId !== a) moving.push(b);
    });
    const nodes = [...view.nodes().values()].map((n) => ({ node_id: n.node_id, node_url: n.node_url, local_node_url: n.local_node_url, reachable: true, assigned: 0, routed: 0 }));
    return { epoch: view.epoch()?.epoch ?? null, revision: view.revision(), table_age_ms: 0, buckets, routes: buckets, moving, nodes, applied: [] };
  };
  const state = (): ConsoleState =>
    consoleState(view, { report: report(), routing: { stale: false, unconfirmed_ms: 0 }, etcd: { endpoints: etcd.hostList, healthy: [true, true, false] }, moves: log.moves() });

  beforeAll(async () => {
    // max-txn-ops 128: a 256-key write goes in chunks, the epoch record with the last one.
    etcd = await startEtcdCluster({ maxTxnOps: 128 });
    client = connectEtcd({ hostList: etcd.hostList });
    view = await ClusterView.open(client, ks);
    followMoves(view, log);
    const rev = Number((await client.put(`${ks.electionPrefix}guard`).value('t')).header.revision);
    guard = { key: `${ks.electionPrefix}guard`, createRevision: rev };
  }, 120_000);

  afterAll(async () => {
    await view?.close();
    client?.close();
    await etcd?.stop();
  });

  it('labels every move of a chunked assignment write with its epoch', async () => {
    const first = BUCKETS.map((_, i) => (i < 128 ? 'dtable-server-01' : 'dtable-server-02'));
    await writeAssignment(client, ks, guard, { target: first, current: view.rawAssignment(), epoch: epoch(1) }, { maxTxnOps: 128 });
    await until(() => view.epoch()?.epoch === 1 && view.assignment().every(Boolean));
    // The second write moves 228 buckets in two chunks; only the second carries the epoch record.
    const second = BUCKETS.map((_, i) => (i < 28 ? 'dtable-server-01' : 'dtable-server-03'));
    const res = await writeAssignment(client, ks, guard, { target: second, current: view.rawAssignment(), epoch: epoch(2) }, { maxTxnOps: 128 });
    expect(res.ok).toBe(true);
    await until(() => view.epoch()?.epoch === 2 && view.assignment()[255] === 'dtable-server-03');
    await until(() => log.moves().every((m) => m.epoch !== null));
    const moves = log.moves();
    expect(moves).toHaveLength(256 + 228);
    expect(moves.slice(0, 228).every((m) => m.epoch === 2 && m.to === 'dtable-server-03')).toBe(true);
    expect(moves.slice(228).every((m) => m.epoch === 1 && m.from === null)).toBe(true);
  });

  it('shows a registered node as live, one with weight 0 as draining and an assigned but unregistered one as down', async () => {
    await client.put(ks.node('dtable-server-01')).value(registration('dtable-server-01'));
    await client.put(ks.node('dtable-server-02')).value(registration('dtable-server-02'));
    await setNodeWeight(client, ks, 'dtable-server-02', 0);
    await until(() => view.nodes().size === 2 && view.weightOverrides().get('dtable-server-02') === 0);
    const s = state();
    expect(s.nodes.map((n) => [n.node_id, n.state, n.buckets, n.weight, n.weight_override])).toEqual([
      ['dtable-server-01', 'live', 28, 1, null],
      ['dtable-server-02', 'draining', 0, 0, 0],
      ['dtable-server-03', 'down', 228, 1, null],
    ]);
    expect(s.epoch).toBe(2);
    expect(s.etcd).toEqual({ quorum: true, members: etcd.hostList.map((endpoint, i) => ({ endpoint, healthy: i < 2 })) });
  });

  it('counts owned buckets, marks a bucket owned by another node than its assignee as moving, and sums the published load', async () => {
    await client.put(ks.owner('ff')).value(JSON.stringify({ node_id: 'dtable-server-01' }));
    await client.put(ks.owner('00')).value(JSON.stringify({ node_id: 'dtable-server-01' }));
    const load = { node_id: 'dtable-server-01', updated_at: new Date().toISOString(), buckets: { '00': { bases: 2, ops_per_sec: 1.5, bytes: 100 }, '01': { bases: 1, ops_per_sec: 0.5, bytes: 50 } } };
    await client.put(ks.load('dtable-server-01')).value(JSON.stringify(load));
    await until(() => view.ownerOf('ff') !== null && view.ownerOf('00') !== null && view.loads().size === 1);
    const s = state();
    expect(s.moving).toEqual(['ff']);
    expect(s.nodes[0]).toMatchObject({ node_id: 'dtable-server-01', owned: 2, load: { bases: 3, ops_per_sec: 2, bytes: 150 } });
    expect(s.nodes[1]!.load).toBeNull();
    expect(s.buckets).toEqual(report().buckets);
  });
});
