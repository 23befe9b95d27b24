// A member that stops answering without closing its connections (SIGSTOP: the kernel keeps the
// TCP connections, etcd answers nothing) while the other two keep the quorum. Leases, reads and
// watches must ride it out on the other members.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd, memberClients, type Etcd3 } from '../../../../runtime/cluster/etcd/client.ts';
import { LeaseGrantTooLateError, LeaseKeeper } from '../../../../runtime/cluster/etcd/lease.ts';
import { PrefixWatcher } from '../../../../runtime/cluster/etcd/watch.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../../../harness/etcd.ts';
import { sleep, until } from '../../../harness/until.ts';

describe('etcd client with one silent member', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let paused: number[] = [];
  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
  });
  afterEach(async () => {
    for (const i of paused) etcd.resumeMember(i);
    paused = [];
    await sleep(500);
  });
  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });

  /** A member that is not the raft leader. */
  async function follower(): Promise<number> {
    const leader = await etcd.leaderIndex();
    return (leader + 1) % etcd.members.length;
  }

  function silence(i: number): void {
    paused.push(i);
    etcd.pauseMember(i);
  }

  it('gives one single-member client per member', () => {
    expect(memberClients(client)).toHaveLength(3);
    expect(memberClients(connectEtcd({ hostList: [etcd.hostList[0]!] }))).toHaveLength(1);
  });

  it('keeps a 5 s lease renewed through the other members while the member its keepalives go to is silent for 12 s', async () => {
    const f = await follower();
    const keeper = new LeaseKeeper(client, { ttlSeconds: 5, member: f });
    const renewals: number[] = [];
    let lost: string | null = null;
    keeper.on('renewed', () => renewals.push(Date.now()));
    keeper.on('lost', (r: string) => (lost = r));
    await keeper.grant();
    await sleep(2000);
    const from = Date.now();
    silence(f);
    await sleep(12_000);
    const to = Date.now();
    await keeper.revoke();
    expect(lost).toBeNull();
    expect(keeper.currentMember).not.toBe(f);
    const during = renewals.filter((t) => t >= from && t <= to);
    const gaps = [from, ...during, to].slice(1).map((t, i) => t - [from, ...during][i]!);
    // A keepalive every TTL/3 = 1.67 s; the silent member costs one attempt (1 s) once.
    expect(Math.max(...gaps)).toBeLessThan(3500);
  });

  it('answers reads through another member within one read deadline while a member is silent', async () => {
    const f = await follower();
    await client.put('silent/read').value('x');
    silence(f);
    const took: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t = Date.now();
      expect(await client.get('silent/read').string()).toBe('x');
      took.push(Date.now() - t);
    }
    expect(Math.max(...took)).toBeLessThan(3000);
  });

  it('sends no call to a member that failed its last health probe once another member passed', async () => {
    const f = await follower();
    await client.put('silent/gate').value('x');
    silence(f);
    await sleep(2500);
    const took: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = Date.now();
      await client.put('silent/gate').value(String(i));
      expect(await client.get('silent/gate').string()).toBe(String(i));
      took.push(Date.now() - t);
    }
    expect(Math.max(...took)).toBeLessThan(1000);
  });

  it('moves a watch off a silent member within 3 s and delivers every change after it', async () => {
    const f = await follower();
    const w = new PrefixWatcher(client, 'silent/w/', { member: f, rereadIntervalMs: 0 });
    await w.start();
    try {
      await client.put('silent/w/a').value('1');
      await until('first change', () => w.entries.get('silent/w/a')?.value === '1', 5000, 20);
      let movedAt = 0;
      w.once('member', () => (movedAt = Date.now()));
      silence(f);
      const cutAt = Date.now();
      // The put itself may first go to the silent member (one write deadline) before the pooled
      // client's health probe marks it: the watch is timed from the put's acknowledgement.
      await client.put('silent/w/b').value('2');
      const putAt = Date.now();
      await until('change after the member went silent', () => w.entries.get('silent/w/b')?.value === '2', 10_000, 20);
      expect(Math.max(0, Date.now() - Math.max(putAt, cutAt))).toBeLessThan(3000);
      expect(movedAt - cutAt).toBeLessThan(3000);
      expect(w.currentMember).not.toBe(f);
      // The new member confirms the view within a probe interval.
      await until('a confirmation from the new member', () => w.confirmedAt() > cutAt, 2000, 20);
    } finally {
      await w.stop();
    }
  });

  it('revokes a granted lease whose answer leaves less validity than the headroom, and rejects', async () => {
    const before = (await client.leaseClient.leaseLeases({})).leases.map((l) => String(l.ID));
    // TTL 2 s, margin 400 ms: validity 1.6 s; a headroom of 1.7 s can never be met.
    const keeper = new LeaseKeeper(client, { ttlSeconds: 2, marginMs: 400, grantHeadroomMs: 1700 });
    await expect(keeper.grant()).rejects.toBeInstanceOf(LeaseGrantTooLateError);
    expect(keeper.validUntil()).toBe(0);
    await until(
      'the late lease revoked',
      async () => (await client.leaseClient.leaseLeases({})).leases.filter((l) => !before.includes(String(l.ID))).length === 0,
      1500,
      50,
    );
  });

  it('stops confirming a watched view while the quorum is lost and confirms it again within 3 s of its return', async () => {
    const w = new PrefixWatcher(client, 'silent/q/', { rereadIntervalMs: 0 });
    await w.start();
    try {
      await until('a first confirmation', () => Date.now() - w.confirmedAt() < 1500, 5000, 20);
      silence(0);
      silence(1);
      await sleep(4000);
      expect(Date.now() - w.confirmedAt()).toBeGreaterThan(2500);
      etcd.resumeMember(0);
      etcd.resumeMember(1);
      paused = [];
      const back = Date.now();
      await until('a confirmation after the quorum returned', () => w.confirmedAt() > back, 3000, 20);
      await client.put('silent/q/x').value('1');
      await until('a change after the quorum returned', () => w.entries.get('silent/q/x')?.value === '1', 3000, 20);
    } finally {
      await w.stop();
    }
  });
});
