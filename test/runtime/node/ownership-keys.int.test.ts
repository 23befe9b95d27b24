// runtime/cluster/etcd/ownership.ts against a real etcd: owner keys are taken only when absent,
// carry the fencing token, and are released only by the holder of that token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import { releaseOwnership, takeOwnership } from '../../../runtime/cluster/etcd/ownership.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';

const ks = keyspace('t/');
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

const lease = async () => String((await client.leaseClient.leaseGrant({ TTL: 30, ID: 0 })).ID);

describe('bucket ownership keys', () => {
  it('gives the key to the first taker, with its create revision as the token', async () => {
    const l = await lease();
    const r = await takeOwnership(client, ks, 'a0', 'dtable-server-01', l);
    expect(r.ok).toBe(true);
    const kv = (await client.get(ks.owner('a0')).exec()).kvs[0]!;
    expect(r.ok && r.token).toBe(Number(kv.create_revision));
    expect(String(kv.lease)).toBe(l);
  });

  it('refuses a second taker and names the holder', async () => {
    await takeOwnership(client, ks, 'a1', 'dtable-server-01', await lease());
    const r = await takeOwnership(client, ks, 'a1', 'dtable-server-02', await lease());
    expect(r).toMatchObject({ ok: false, holder: 'dtable-server-01' });
  });

  it('answers a repeated take by the holder on the same lease with the same token', async () => {
    const l = await lease();
    const first = await takeOwnership(client, ks, 'a2', 'dtable-server-01', l);
    const again = await takeOwnership(client, ks, 'a2', 'dtable-server-01', l);
    expect(again).toEqual(first);
  });

  it('releases only for the token that took the key', async () => {
    const r = await takeOwnership(client, ks, 'a3', 'dtable-server-01', await lease());
    if (!r.ok) throw new Error('not taken');
    expect(await releaseOwnership(client, ks, 'a3', r.token - 1)).toBe(false);
    expect(await client.get(ks.owner('a3')).string()).not.toBeNull();
    expect(await releaseOwnership(client, ks, 'a3', r.token)).toBe(true);
    expect(await client.get(ks.owner('a3')).string()).toBeNull();
  });

  it('lets the next owner take the key once the holder lease is revoked, with a higher token', async () => {
    const l1 = await lease();
    const first = await takeOwnership(client, ks, 'a4', 'dtable-server-01', l1);
    await client.leaseClient.leaseRevoke({ ID: l1 });
    const second = await takeOwnership(client, ks, 'a4', 'dtable-server-02', await lease());
    expect(second.ok).toBe(true);
    expect(first.ok && second.ok && second.token > first.token).toBe(true);
  });
});
