import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { startEtcdCluster, type EtcdTestCluster } from './etcd.ts';

describe('startEtcdCluster', () => {
  let etcd: EtcdTestCluster;
  beforeAll(async () => {
    etcd = await startEtcdCluster();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('starts three members that agree on a written key', async () => {
    expect(etcd.endpoints).toHaveLength(3);
    await etcd.etcdctl(['put', 'k', 'v']);
    expect(await etcd.etcdctl(['get', 'k', '--print-value-only'])).toBe('v\n');
  });

  it('keeps serving with a member stopped and lets it rejoin', async () => {
    await etcd.stopMember(1);
    await etcd.etcdctl(['put', 'k2', 'v2']);
    await etcd.startMember(1);
    const out = await etcd.etcdctl(['--endpoints', etcd.endpoints[1]!, 'get', 'k2', '--print-value-only']);
    expect(out).toBe('v2\n');
  });

  it('removes the data dirs on stop', async () => {
    const dirs = etcd.members.map((m) => m.dataDir);
    await etcd.stop();
    expect(dirs.some((d) => existsSync(d))).toBe(false);
  });
});
