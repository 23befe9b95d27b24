// Network faults on MariaDB base storage (issue 14), with one node on a namespace host of its own
// (test/faults/d14-netns.ts) and the other on loopback, both on one real MariaDB, a real 3-member
// etcd, each node with only its private data dir. Packets are dropped with nftables:
// - MariaDB unreachable from one node only: that node answers 503, the other keeps acknowledging,
//   and moving the bucket to the other node brings its writes back;
// - a node cut from etcd and MariaDB while clients still reach it: it stops acknowledging before
//   its lease can have expired, the other node takes the bucket over;
// each case ending with 0 acknowledged writes lost or duplicated and 0 rows stored from a stale token.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd, type Etcd3 } from '../../runtime/cluster/etcd/client.ts';
import { signToken } from '../../runtime/node/auth/jwt.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../harness/etcd.ts';
import { freePort } from '../harness/free-port.ts';
import { startMariadb, type TestMariadb } from '../harness/mariadb.ts';
import { sleep, until } from '../harness/until.ts';
import { ks, PRIVATE_KEY, STORAGE_PASSWORD_ENV, uuidIn, writeNodeConfig, type NodeProcess } from '../runtime/node/node-cluster.ts';
import { D14Netns, netnsAvailable, NS_IP, ROOT_IP } from './d14-netns.ts';

const LEASE_TTL = 5;
const available = netnsAvailable();

let db: TestMariadb;
let etcd: EtcdTestCluster;
let client: Etcd3;
let rig: D14Netns;
let dir: string;
let n1: { nodeId: string; url: string; proc: ChildProcess | null; logs: string[] };
let n2: NodeProcess;
const report: string[] = [];

const token = (uuid: string) => signToken({ dtable_uuid: uuid, permission: 'rw', username: 'd14@x', exp: Math.floor(Date.now() / 1000) + 3600 }, PRIVATE_KEY);

async function post(url: string, uuid: string, path: string, body: unknown, timeoutMs = 5000): Promise<{ status: number | string; body: Record<string, unknown> }> {
  try {
    const res = await fetch(`${url}api/v1/dtables/${uuid}/${path}`, {
      method: 'POST',
      headers: { authorization: `Token ${token(uuid)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  } catch (err) {
    return { status: (err as Error).name, body: {} };
  }
}

/** Appends rows with ids it chooses, trying the targets in turn until one acknowledges (409 for its own id counts). */
class Writer {
  readonly acked: Array<{ id: string; at: number }> = [];
  private n = 0;
  private running = true;
  private loop: Promise<void> = Promise.resolve();
  constructor(
    readonly uuid: string,
    private readonly targets: string[],
    private readonly prefix: string,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (this.running) {
        const id = `${this.prefix}-${++this.n}`;
        for (let attempt = 0; ; attempt++) {
          const r = await post(this.targets[attempt % this.targets.length]!, this.uuid, 'rows/', { table_name: 'T', row: { _id: id, Name: id } }, 20_000);
          if ((r.status === 200 && r.body._id === id) || (r.status === 409 && String(r.body.error_msg ?? '').includes(id))) {
            this.acked.push({ id, at: Date.now() });
            break;
          }
          // A write never acknowledged is abandoned only once the test stops (it may still be
          // applied: its id is then accounted for by the duplicate check, never as acknowledged).
          if (!this.running && attempt > 50) break;
          await sleep(Math.min(200, 20 * (attempt + 1)));
        }
        await sleep(10);
      }
    })();
    return this;
  }

  ackedSince(t: number): number {
    return this.acked.filter((a) => a.at > t).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

async function ownerOf(bucket: string): Promise<string | null> {
  const v = await client.get(ks.owner(bucket)).string();
  return v ? (JSON.parse(v) as { node_id: string }).node_id : null;
}

async function assign(bucket: string, nodeId: string, timeoutMs = 30_000): Promise<void> {
  await client.put(ks.assign(bucket)).value(nodeId).exec();
  await until(`${nodeId} to own ${bucket}`, async () => (await ownerOf(bucket)) === nodeId, timeoutMs, 100);
}

async function createTable(url: string, uuid: string): Promise<void> {
  await until(`table T in ${uuid}`, async () => [200, 409].includes((await post(url, uuid, 'tables/', { table_name: 'T' })).status as number), 20_000, 100);
}

async function stored(url: string, uuid: string): Promise<string[]> {
  return until(
    `rows of ${uuid}`,
    async () => {
      const res = await fetch(`${url}api/v1/dtables/${uuid}/rows/?table_name=T&limit=1000000`, { headers: { authorization: `Token ${token(uuid)}` }, signal: AbortSignal.timeout(10_000) });
      return res.status === 200 ? ((await res.json()) as { rows: Array<{ _id: string }> }).rows.map((r) => r._id) : null;
    },
    30_000,
    200,
  );
}

async function staleRows(uuid: string): Promise<number> {
  const [r] = await db.sql<Array<{ n: bigint }>>(
    `SELECT COUNT(*) AS n FROM dtable_operations o JOIN dtable_takeovers t
       ON t.base_uuid = o.base_uuid AND o.token < t.token AND o.version > t.version WHERE o.base_uuid = ?`,
    [uuid],
  );
  return Number(r!.n);
}

async function expectClean(name: string, uuid: string, writers: Writer[], extra: string): Promise<void> {
  const rows = await stored(n2.url, uuid);
  const have = new Set(rows);
  const acked = writers.flatMap((w) => w.acked.map((a) => a.id));
  const c = { acknowledged: acked.length, lost: acked.filter((id) => !have.has(id)).length, duplicated: rows.length - have.size, stale: await staleRows(uuid) };
  report.push(`  ${name}: ${c.acknowledged} acked, ${c.lost} lost, ${c.duplicated} duplicated, ${c.stale} stored from a stale token; ${extra}`);
  expect(c).toEqual({ acknowledged: c.acknowledged, lost: 0, duplicated: 0, stale: 0 });
  expect(c.acknowledged).toBeGreaterThan(10);
}

describe.skipIf(!available)('MariaDB storage under network faults (namespace host d14-n1)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'd14-netns-'));
    rig = await D14Netns.create();
    [db, etcd] = await Promise.all([startMariadb(), startEtcdCluster()]);
    client = connectEtcd({ hostList: etcd.hostList });
    const etcdPorts = etcd.hostList.map((h) => Number(h.split(':')[1]));
    for (const p of [...etcdPorts, db.port]) await rig.forward(p);

    const p1 = await freePort();
    const file = join(dir, 'dtable-server-01.json');
    const url1 = `http://${NS_IP}:${p1}/`;
    writeFileSync(
      file,
      JSON.stringify({
        cluster_config: { etcd_host_list: etcdPorts.map((p) => `${ROOT_IP}:${p}`), node_id: 'dtable-server-01', node_url: url1, local_node_url: url1 },
        dtable_cluster: {
          listen: { host: NS_IP, port: p1 },
          lease_ttl: LEASE_TTL,
          data_dir: join(dir, 'dtable-server-01'),
          storage: { kind: 'mariadb', host: ROOT_IP, port: db.port, database: db.database, user: db.user, password_env: STORAGE_PASSWORD_ENV },
        },
      }),
    );
    n1 = { nodeId: 'dtable-server-01', url: url1, proc: null, logs: [] };
    n1.proc = rig.spawnNode(file, { DTABLE_PRIVATE_KEY: PRIVATE_KEY, [STORAGE_PASSWORD_ENV]: db.password }, n1.logs);
    n2 = writeNodeConfig(dir, 'dtable-server-02', await freePort(), { hostList: etcd.hostList, leaseTtl: LEASE_TTL, storageDir: join(dir, 'unused'), mariadb: db.options });
    n2.start();
    await Promise.all([rig.waitHealthy(url1), n2.ready()]);
  });

  afterAll(async () => {
    console.log(`d14 network cases:\n${report.join('\n')}`);
    n1?.proc?.kill('SIGKILL');
    await n2?.stop('SIGKILL').catch(() => undefined);
    client?.close();
    await Promise.all([etcd?.stop(), db?.stop()]);
    await rig?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 on the node MariaDB is unreachable from, keeps the other node acknowledging, and loses nothing when the bucket moves', async () => {
    const [ba, bb] = ['a1', 'b1'];
    await Promise.all([assign(ba, n1.nodeId), assign(bb, n2.nodeId)]);
    const ua = uuidIn(ba);
    const ub = uuidIn(bb);
    await Promise.all([createTable(n1.url, ua), createTable(n2.url, ub)]);
    const onA = [new Writer(ua, [n1.url, n2.url], 'a0').start(), new Writer(ua, [n1.url, n2.url], 'a1').start()];
    const onB = new Writer(ub, [n2.url], 'b0').start();
    await sleep(1000);

    rig.cut([db.port]);
    const cutAt = Date.now();
    const first503 = await until('a 503 from the node cut from MariaDB', async () => {
      // A write in flight when the packets stop waits for the storage's socket timeout (15 s).
      const r = await post(n1.url, ua, 'rows/', { table_name: 'T', row: { _id: `probe-${Date.now()}`, Name: 'p' } }, 30_000);
      return r.status === 503 ? r.body.error_type : null;
    }, 40_000, 200);
    const bBefore = onB.ackedSince(cutAt);
    await sleep(2000);
    const bDuringCut = onB.ackedSince(cutAt) - bBefore;
    expect(bDuringCut).toBeGreaterThan(5);

    const movedAt = Date.now();
    await assign(ba, n2.nodeId, 60_000);
    await until('writes to the moved base acknowledged by the other node', () => onA.every((w) => w.ackedSince(movedAt) > 3), 60_000, 100);
    const recoveredMs = Date.now() - movedAt;
    rig.heal();
    await Promise.all([...onA, onB].map((w) => w.stop()));
    const rowsA = await stored(n2.url, ua);
    expect(rowsA.some((id) => id.startsWith('probe-'))).toBe(false);
    await expectClean('MariaDB unreachable from one node', ua, onA, `first answer there ${first503} (503), other node acknowledged ${bDuringCut} writes in 2 s meanwhile, writes back ${recoveredMs} ms after the move`);
    await expectClean('  (the other node\'s base)', ub, [onB], 'unaffected');
  });

  it('stops acknowledging on a node cut from etcd and MariaDB while clients still reach it, and the other node takes over', async () => {
    const bucket = 'a2';
    await assign(bucket, n1.nodeId);
    const uuid = uuidIn(bucket);
    await createTable(n1.url, uuid);
    const writers = [new Writer(uuid, [n1.url, n2.url], 'c0').start(), new Writer(uuid, [n1.url, n2.url], 'c1').start()];
    await sleep(1000);

    const etcdPorts = etcd.hostList.map((h) => Number(h.split(':')[1]));
    rig.cut([...etcdPorts, db.port]);
    const cutAt = Date.now();
    // Its lease expires in etcd (nobody renews it): the owner key vanishes.
    await until('the cut node\'s owner key to expire', async () => (await ownerOf(bucket)) === null, (LEASE_TTL + 15) * 1000, 100);
    const expiredMs = Date.now() - cutAt;
    // Clients still reach it; it must not acknowledge anything any more.
    const probes = await Promise.all(Array.from({ length: 5 }, (_, i) => post(n1.url, uuid, 'rows/', { table_name: 'T', row: { _id: `late-${i}`, Name: 'x' } }, 20_000)));
    expect(probes.filter((p) => p.status === 200)).toEqual([]);

    const movedAt = Date.now();
    await assign(bucket, n2.nodeId, 30_000);
    await until('writes acknowledged by the other node', () => writers.every((w) => w.ackedSince(movedAt) > 3), 60_000, 100);
    const recoveredMs = Date.now() - cutAt;
    rig.heal();
    await Promise.all(writers.map((w) => w.stop()));
    const rows = await stored(n2.url, uuid);
    expect(rows.some((id) => id.startsWith('late-'))).toBe(false);
    await expectClean('node cut from etcd and MariaDB', uuid, writers, `owner key expired ${expiredMs} ms after the cut, probes to the cut node → ${[...new Set(probes.map((p) => p.status))].join(',')}, writes back ${recoveredMs} ms after the cut`);
    // Healed, the node registers again and serves what it is assigned.
    await assign('a3', n1.nodeId, (LEASE_TTL + 20) * 1000);
  });
});
