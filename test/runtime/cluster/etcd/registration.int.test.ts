import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../../harness/etcd.ts';
import { connectEtcd, type Etcd3 } from '../../../../runtime/cluster/etcd/client.ts';
import { NodeRegistration } from '../../../../runtime/cluster/etcd/registration.ts';
import { keyspace } from '../../../../runtime/cluster/keyspace.ts';
import { silentLog } from '../../../../runtime/cluster/etcd/log.ts';

const ks = keyspace('');
const reg = (n: string) => ({ node_id: `dtable-server-${n}`, node_url: `http://n${n}.example/`, local_node_url: `http://127.0.0.1:50${n}/` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NodeRegistration', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
  });
  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('publishes the registration JSON on a lease', async () => {
    const r = new NodeRegistration(client, { ks, registration: reg('01'), ttlSeconds: 3 });
    const lease = await r.start();
    const value = JSON.parse((await client.get('dtable-server-01').string())!);
    expect(value).toMatchObject({ ...reg('01'), lease_id: lease });
    await r.stop();
  });

  it('computes validUntil from the send time of the last keepalive, TTL minus the margin', async () => {
    const r = new NodeRegistration(client, { ks, registration: reg('02'), ttlSeconds: 3, marginMs: 500 });
    await r.start();
    const before = Date.now();
    await sleep(1200); // at least one keepalive at TTL/3
    const until = r.validUntil();
    expect(until).toBeGreaterThan(before + 3000 - 500);
    expect(until).toBeLessThanOrEqual(Date.now() + 3000 - 500);
    await r.stop();
  });

  it('removes the registration at once on graceful stop', async () => {
    const r = new NodeRegistration(client, { ks, registration: reg('03'), ttlSeconds: 30 });
    await r.start();
    await r.stop();
    expect(await client.get('dtable-server-03').string()).toBeNull();
  });

  it('re-registers on a new lease after its lease is revoked behind its back', async () => {
    const r = new NodeRegistration(client, { ks, registration: reg('04'), ttlSeconds: 3 });
    const first = await r.start();
    const lost = new Promise<string>((resolve) => r.once('lost', resolve));
    const again = new Promise<string>((resolve) => r.once('registered', resolve));
    await client.leaseClient.leaseRevoke({ ID: first });
    await lost;
    const second = await again;
    expect(second).not.toBe(first);
    expect(JSON.parse((await client.get('dtable-server-04').string())!).lease_id).toBe(second);
    await r.stop();
  });

  it('revokes the previous lease it is given before registering', async () => {
    const old = new NodeRegistration(client, { ks, registration: reg('05'), ttlSeconds: 60 });
    const oldLease = await old.start();
    // Simulate a crash: the old process stops renewing but its lease would live 60 s.
    (old as unknown as { keeper: { stop(): void } }).keeper.stop();
    const ownerKey = ks.owner('aa');
    await client.put(ownerKey).value('{"node_id":"dtable-server-05"}').lease(oldLease);
    const r = new NodeRegistration(client, { ks, registration: reg('05'), ttlSeconds: 3, previousLeaseId: oldLease });
    await r.start();
    expect(await client.get(ownerKey).string()).toBeNull();
    await r.stop();
  });

  it('restores its registration when garbage is written over it or it is deleted', async () => {
    const r = new NodeRegistration(client, { ks, registration: reg('07'), ttlSeconds: 3 });
    await r.start();
    const good = await client.get('dtable-server-07').string();
    await etcd.etcdctl(['put', 'dtable-server-07', 'garbage']);
    await expect.poll(() => client.get('dtable-server-07').string(), { timeout: 3000 }).toBe(good);
    await etcd.etcdctl(['del', 'dtable-server-07']);
    await expect.poll(() => client.get('dtable-server-07').string(), { timeout: 3000 }).toBe(good);
    await r.stop();
    expect(await client.get('dtable-server-07').string()).toBeNull();
  });

  it('reports loss when keepalives stop being acknowledged, before the lease can expire', async () => {
    const r = new NodeRegistration(client, { ks, registration: reg('06'), ttlSeconds: 2, marginMs: 400 });
    await r.start();
    const lostAt = new Promise<number>((resolve) => r.once('lost', () => resolve(Date.now())));
    const until = r.validUntil();
    await Promise.all([0, 1, 2].map((i) => etcd.stopMember(i)));
    try {
      const at = await lostAt;
      expect(at).toBeGreaterThanOrEqual(until - 50);
      expect(at).toBeLessThan(until + 2000 + 400);
      expect(r.isValid()).toBe(false);
    } finally {
      await Promise.all([0, 1, 2].map((i) => etcd.startMember(i)));
      await r.stop().catch(() => undefined);
    }
  });

  it('re-registers at once after an attempt that took retryMs or longer, and never starts attempts closer than retryMs', async () => {
    // Every member stopped (SIGSTOP: connections stay open, nothing answers): each grant waits out
    // its deadlines, so every attempt takes longer than retryMs and the next one starts at once.
    const slow = connectEtcd({ hostList: etcd.hostList, callTimeoutMs: 700 });
    const failures: Array<{ at: number; attemptMs: number }> = [];
    const log = { ...silentLog, warn: (o: object, msg?: string) => {
      if (msg === 're-registration failed, retrying') failures.push({ at: Date.now(), attemptMs: (o as { attempt_ms: number }).attempt_ms });
    } };
    const r = new NodeRegistration(slow, { ks, registration: reg('10'), ttlSeconds: 2, marginMs: 400, retryMs: 500, log });
    await r.start();
    const lost = new Promise<void>((resolve) => r.once('lost', () => resolve()));
    for (const i of [0, 1, 2]) etcd.pauseMember(i);
    try {
      await lost;
      const end = Date.now() + 20_000;
      while (failures.length < 3 && Date.now() < end) await sleep(100);
    } finally {
      for (const i of [0, 1, 2]) etcd.resumeMember(i);
    }
    const registered = new Promise<void>((resolve) => r.once('registered', () => resolve()));
    await registered;
    await r.stop();
    slow.close();
    expect(failures.length).toBeGreaterThanOrEqual(3);
    for (let k = 1; k < failures.length; k++) {
      const { at, attemptMs } = failures[k]!;
      // Attempt k began when attempt k - 1 failed (no wait after a slow attempt): the gap between
      // the two failures is attempt k's own time, not that plus retryMs.
      expect(failures[k - 1]!.attemptMs).toBeGreaterThanOrEqual(500);
      expect(at - failures[k - 1]!.at - attemptMs).toBeLessThan(250);
      expect(at - failures[k - 1]!.at).toBeGreaterThanOrEqual(500);
    }
  });

  it('does not register on a lease granted with less validity than the headroom, and leaves no lease behind', async () => {
    // Leases of earlier tests may expire meanwhile: what counts is that no lease appears that was not there.
    const leaseIds = async () => new Set((await client.leaseClient.leaseLeases({})).leases.map((l) => String(l.ID)));
    const before = await leaseIds();
    const added = async () => [...(await leaseIds())].filter((id) => !before.has(id));
    // TTL 3 s, margin 600 ms: 2.4 s of validity at best, never the 3 s asked for.
    const r = new NodeRegistration(client, { ks, registration: reg('09'), ttlSeconds: 3, grantHeadroomMs: 3000 });
    await expect(r.start()).rejects.toThrow(/granted with \d+ ms of validity left/);
    expect(await client.get('dtable-server-09').string()).toBeNull();
    const end = Date.now() + 2000;
    while ((await added()).length > 0 && Date.now() < end) await sleep(50);
    expect(await added()).toEqual([]);
  });
});
