import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../../harness/etcd.ts';
import { BUCKETS } from '../../../../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../../../../runtime/cluster/etcd/client.ts';
import { ClusterView } from '../../../../runtime/cluster/etcd/cluster-view.ts';
import { writeAssignment } from '../../../../runtime/cluster/etcd/assignment-writer.ts';
import { setNodeWeight } from '../../../../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../../../../runtime/cluster/keyspace.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}
const epoch = (n: number) => ({ epoch: n, monitor_id: 't', written_at: new Date().toISOString(), moved: 0, counts: {} });

describe('ClusterView and writeAssignment', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let view: ClusterView;
  const warnings: string[] = [];
  const ks = keyspace('pfx/');
  beforeAll(async () => {
    etcd = await startEtcdCluster({ maxTxnOps: 128 });
    client = connectEtcd({ hostList: etcd.hostList });
    const log = { debug() {}, info() {}, error() {}, warn: (_o: object, m?: string) => void warnings.push(m ?? '') };
    view = await ClusterView.open(client, ks, { log });
  });
  afterAll(async () => {
    await view?.close();
    client?.close();
    await etcd?.stop();
  });

  it('lists valid registrations and logs and ignores malformed ones', async () => {
    await etcd.etcdctl(['put', 'pfx/dtable-server-01', JSON.stringify({ node_id: 'dtable-server-01', node_url: 'http://a/', local_node_url: 'http://127.0.0.1:1/' })]);
    await etcd.etcdctl(['put', 'pfx/dtable-server-02', '{not json']);
    await etcd.etcdctl(['put', 'pfx/dtable-server-03', JSON.stringify({ node_id: 'dtable-server-09', node_url: 'http://a/', local_node_url: 'http://b/' })]);
    await until(() => view.nodes().size === 1 && warnings.length >= 2);
    expect([...view.nodes().keys()]).toEqual(['dtable-server-01']);
    expect(warnings.join('\n')).toMatch(/malformed node registration/);
  });

  it('writes a full 256-bucket assignment in chunks under a max-txn-ops of 128', async () => {
    const guardKey = `${ks.electionPrefix}g1`;
    const rev = Number((await client.put(guardKey).value('t')).header.revision);
    const target = BUCKETS.map(() => 'dtable-server-01');
    const res = await writeAssignment(client, ks, { key: guardKey, createRevision: rev }, { target, current: view.rawAssignment(), epoch: epoch(1) }, { maxTxnOps: 1024 });
    expect(res).toMatchObject({ ok: true, written: 256 });
    await until(() => view.assignment().every((n) => n === 'dtable-server-01') && view.epoch()?.epoch === 1);
  });

  it('writes only the keys whose value differs', async () => {
    const guardKey = `${ks.electionPrefix}g1`;
    const createRevision = Number((await client.get(guardKey).exec()).kvs[0]!.create_revision);
    const target = BUCKETS.map((_, i) => (i < 10 ? 'dtable-server-02' : 'dtable-server-01'));
    const res = await writeAssignment(client, ks, { key: guardKey, createRevision }, { target, current: view.rawAssignment(), epoch: epoch(2) });
    expect(res.written).toBe(10);
  });

  it('puts the epoch record in a chunk with assign keys, so the assign watch reaches its revision', async () => {
    const guardKey = `${ks.electionPrefix}g1`;
    const createRevision = Number((await client.get(guardKey).exec()).kvs[0]!.create_revision);
    // 128 changed keys + the epoch record under a max-txn-ops of 128: two chunks of 65 and 64.
    const target = BUCKETS.map((_, i) => (i < 128 ? 'dtable-server-04' : 'dtable-server-01'));
    const res = await writeAssignment(client, ks, { key: guardKey, createRevision }, { target, current: view.rawAssignment(), epoch: epoch(3) });
    expect(res).toMatchObject({ ok: true, written: 128 });
    await until(() => view.epoch()?.epoch === 3 && view.assignmentRevision() >= view.epochRevision());
    expect(view.assignmentRevision()).toBe(view.epochRevision());
    expect(view.assignment().filter((n) => n === 'dtable-server-04')).toHaveLength(128);
  });

  it('writes nothing when the leader key was replaced', async () => {
    const guardKey = `${ks.electionPrefix}g1`;
    const createRevision = Number((await client.get(guardKey).exec()).kvs[0]!.create_revision);
    await client.delete().key(guardKey);
    await client.put(guardKey).value('someone else');
    const before = Number((await client.get('x').exec()).header.revision);
    const target = BUCKETS.map(() => 'dtable-server-03');
    const res = await writeAssignment(client, ks, { key: guardKey, createRevision }, { target, current: view.rawAssignment(), epoch: epoch(4) });
    expect(res.ok).toBe(false);
    expect(Number((await client.get('x').exec()).header.revision)).toBe(before);
  });

  it('treats a garbage assign value as unassigned and logs it', async () => {
    await etcd.etcdctl(['put', 'pfx/assign-7f', 'garbage value']);
    await until(() => view.assignedTo('7f') === null);
    expect(view.rawAssignment().get('7f')).toBe('garbage value');
    expect(warnings.join('\n')).toMatch(/treating bucket as unassigned/);
  });

  it('reports owners with their create_revision as fencing token and routes to them', async () => {
    const put = await client.put(ks.owner('00')).value(JSON.stringify({ node_id: 'dtable-server-01' }));
    await until(() => view.ownerOf('00') !== null);
    expect(view.ownerOf('00')).toMatchObject({ nodeId: 'dtable-server-01', token: Number(put.header.revision) });
    expect(view.nodeFor('00')?.node_id).toBe('dtable-server-01');
  });

  it('applies weight overrides set through setNodeWeight', async () => {
    await setNodeWeight(client, ks, 'dtable-server-01', 0);
    await until(() => view.effectiveWeight('dtable-server-01') === 0);
    await setNodeWeight(client, ks, 'dtable-server-01', null);
    await until(() => view.effectiveWeight('dtable-server-01') === 1);
  });
});
