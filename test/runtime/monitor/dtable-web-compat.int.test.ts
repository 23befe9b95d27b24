// Acceptance 6 of issue 3: Debian's python3-etcd3, used the way dtable-web uses it, finds the
// node_url of the assigned node for random base UUIDs in what our monitor and nodes wrote.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdTestCluster } from '../../harness/etcd.ts';
import { startMonitor, type MonitorProcess } from '../../harness/monitor.ts';
import { counts, readAssignment, registerNode, until } from '../../harness/cluster-state.ts';
import { bucketIndex, bucketOf } from '../../../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../../../runtime/cluster/etcd/client.ts';
import type { NodeRegistration } from '../../../runtime/cluster/etcd/registration.ts';
import { keyspace } from '../../../runtime/cluster/keyspace.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dirname, 'fixtures/dtable_web_lookup.py');
const ks = keyspace('');

function lookup(host: string, uuids: string[]): Promise<Record<string, string | null>> {
  return new Promise((res, rej) =>
    execFile(PYTHON, [SCRIPT, host, ...uuids], { timeout: 30_000 }, (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(JSON.parse(stdout)))),
  );
}

describe('dtable-web compatibility', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let monitor: MonitorProcess;
  const nodes: NodeRegistration[] = [];
  beforeAll(async () => {
    if (!existsSync(PYTHON)) throw new Error(`${PYTHON} missing: install Debian's python3 and python3-etcd3`);
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    monitor = await startMonitor(etcd.hostList, { monitor_id: 'monitor-web' });
    for (const n of [1, 2, 3]) nodes.push(await registerNode(client, ks, n));
    await until(() => readAssignment(client, ks), (a) => Object.keys(counts(a)).length === 3 && !a.includes(null), 20_000, 'assignment');
  });
  afterAll(async () => {
    for (const r of nodes) await r.stop().catch(() => undefined);
    await monitor?.stop();
    client?.close();
    await etcd?.stop();
  });

  it('python3-etcd3 finds the node_url of the assigned node for 200 random base UUIDs', async () => {
    const uuids = Array.from({ length: 200 }, (_, i) => (i % 2 ? randomUUID() : randomUUID().replaceAll('-', '').toUpperCase()));
    const assignment = await readAssignment(client, ks);
    const expected = Object.fromEntries(uuids.map((u) => [u, `http://node${Number(assignment[bucketIndex(bucketOf(u))]!.slice(-2))}.example.test/`]));
    expect(await lookup(etcd.hostList[0]!, uuids)).toEqual(expected);
  });
});
