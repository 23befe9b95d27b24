// Integration (real 3-member etcd): the monitor leader's automatic defrag picks the members whose
// database is mostly free space, and only while leading.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import { EtcdMaintenance } from '../../../runtime/cluster/etcd/maintenance.ts';
import { AutoDefrag, needsDefrag } from '../../../runtime/monitor/auto-defrag.ts';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('needsDefrag', () => {
  const member = (db: number, inUse: number) => ({
    name: 'm', endpoint: '', id: '1', reachable: true, is_leader: false, db_size_bytes: db, db_size_in_use_bytes: inUse, revision: 1, raft_term: 1, raft_index: 1, version: '3.4',
  });
  it('picks a large database that is mostly free', () => {
    expect(needsDefrag(member(100e6, 20e6), { inUseBelow: 0.5, minDbSizeBytes: 64e6 })).toBe(true);
  });
  it('leaves a database that is mostly in use', () => {
    expect(needsDefrag(member(100e6, 60e6), { inUseBelow: 0.5, minDbSizeBytes: 64e6 })).toBe(false);
  });
  it('leaves a small database however free', () => {
    expect(needsDefrag(member(10e6, 1e6), { inUseBelow: 0.5, minDbSizeBytes: 64e6 })).toBe(false);
  });
});

describe('AutoDefrag', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let maint: EtcdMaintenance;
  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    maint = new EtcdMaintenance({
      connect: (host) => connectEtcd({ hostList: [host], callTimeoutMs: 60_000 }),
      members: etcd.members.map((m) => ({ name: m.name, host: m.clientUrl })),
    });
    // Fragment every member: 8 MiB of history, compacted away.
    const chunk = 'y'.repeat(512 * 1024);
    for (let i = 0; i < 16; i++) await client.put('churn').value(chunk);
    const { header } = await client.put('churn').value('small').exec();
    await client.kv.compact({ revision: header.revision, physical: true });
    // bbolt frees the compacted pages once later write transactions commit.
    for (let i = 0; i < 100; i++) {
      await client.put('tick').value(String(i));
      const s = await maint.memberStatuses();
      if (s.every((m) => m.db_size_in_use_bytes < m.db_size_bytes / 2)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('compaction did not free the pages');
  });
  afterAll(async () => {
    maint?.close();
    client?.close();
    await etcd?.stop();
  });

  it('does nothing while this monitor is not the leader', async () => {
    const ad = new AutoDefrag(maint, { inUseBelow: 0.5, minDbSizeBytes: 1024 * 1024, intervalMs: 60_000, isLeader: () => false, log: silent });
    expect(await ad.check()).toEqual([]);
  });

  it('as leader defragments every mostly-free member, followers first, and shrinks each', async () => {
    const ad = new AutoDefrag(maint, { inUseBelow: 0.5, minDbSizeBytes: 1024 * 1024, intervalMs: 60_000, isLeader: () => true, log: silent });
    const steps = await ad.check();
    expect(steps.map((s) => s.was_leader)).toEqual([false, false, true]);
    for (const s of steps) expect(s.db_size_after).toBeLessThan(s.db_size_before / 2);
    expect(ad.defrags).toBe(3);
    // Nothing left to do.
    expect(await ad.check()).toEqual([]);
  });
});
