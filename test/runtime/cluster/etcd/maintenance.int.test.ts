// Integration (real 3-member etcd with a 16 MiB quota): sizes, revisions and alarms as etcd
// reports them, and the recovery from NOSPACE that docs/operations.md prescribes: compact,
// defragment one member at a time, disarm.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../../harness/etcd.ts';
import { connectEtcd, type Etcd3 } from '../../../../runtime/cluster/etcd/client.ts';
import { EtcdMaintenance } from '../../../../runtime/cluster/etcd/maintenance.ts';

const QUOTA = 16 * 1024 * 1024;

describe('EtcdMaintenance', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let maint: EtcdMaintenance;
  beforeAll(async () => {
    etcd = await startEtcdCluster({ extraArgs: ['--quota-backend-bytes', String(QUOTA)] });
    client = connectEtcd({ hostList: etcd.hostList });
    maint = new EtcdMaintenance({
      connect: (host) => connectEtcd({ hostList: [host], callTimeoutMs: 60_000 }),
      members: etcd.members.map((m) => ({ name: m.name, host: m.clientUrl })),
    });
  });
  afterAll(async () => {
    maint?.close();
    client?.close();
    await etcd?.stop();
  });

  it('reports every member with its database size, in-use size and the one leader', async () => {
    const r = await maint.report();
    expect(r.members.map((m) => m.name)).toEqual(['m0', 'm1', 'm2']);
    for (const m of r.members) {
      expect(m.reachable).toBe(true);
      expect(m.db_size_bytes).toBeGreaterThan(0);
      expect(m.db_size_in_use_bytes).toBeGreaterThan(0);
      expect(m.db_size_in_use_bytes).toBeLessThanOrEqual(m.db_size_bytes);
    }
    expect(r.members.filter((m) => m.is_leader)).toHaveLength(1);
    expect(r.leader).toBe(r.members.find((m) => m.is_leader)!.name);
    expect(r.alarms).toEqual([]);
  });

  it('reports the revision and the revision of the last compaction', async () => {
    for (let i = 0; i < 20; i++) await client.put('k').value(String(i));
    const before = await maint.report();
    expect(before.compact_revision).toBe(0);
    await client.kv.compact({ revision: before.revision - 5, physical: true });
    const after = await maint.report();
    expect(after.revision).toBe(before.revision);
    expect(after.compact_revision).toBe(before.revision - 5);
  });

  it('moves the etcd leader to the member asked for', async () => {
    const follower = (await maint.memberStatuses()).find((m) => !m.is_leader)!;
    await maint.moveLeader(follower.name);
    expect((await maint.report()).leader).toBe(follower.name);
  });

  it('recovers from NOSPACE by compaction, a defrag of one member at a time (leader last) and disarming', async () => {
    const chunk = 'x'.repeat(1024 * 1024);
    let refused: Error | null = null;
    for (let i = 0; i < 64 && !refused; i++) {
      await client.put('filler').value(chunk).catch((err: Error) => (refused = err));
    }
    expect(String(refused)).toMatch(/database space exceeded/);
    const raised = await maint.report();
    expect(raised.alarms.map((a) => a.alarm)).toContain('NOSPACE');
    await expect(client.put('other').value('v')).rejects.toThrow(/database space exceeded/);

    expect(await maint.compact()).toBe(raised.revision);
    const steps = await maint.defragAll();
    expect(steps.map((s) => s.was_leader)).toEqual([false, false, true]);
    for (const s of steps) expect(s.db_size_after).toBeLessThan(s.db_size_before / 2);
    const disarmed = await maint.disarm();
    expect(disarmed.length).toBeGreaterThan(0);
    expect(new Set(disarmed.map((a) => a.alarm))).toEqual(new Set(['NOSPACE']));

    expect((await maint.report()).alarms).toEqual([]);
    await client.put('other').value('v');
    expect(await client.get('other').string()).toBe('v');
  });
});
