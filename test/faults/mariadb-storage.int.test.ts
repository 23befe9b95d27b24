// Reference nodes on MariaDB base storage (issue 14): each node has only its private data dir, and
// every base lives in one real MariaDB (Debian's mariadbd, own datadir and port, per file). Under
// client writes: handoffs, SIGKILL failover, SIGSTOP past the lease, MariaDB restarted, the
// seatable-api flow, and bad values planted in the database. Every case counts acknowledged,
// lost and duplicated writes as test/faults does, and stale-token rows straight from the tables.
import seatable from 'seatable-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMariadb, type TestMariadb } from '../harness/mariadb.ts';
import {
  ADMIN_TOKEN,
  bucketOf,
  countDuplicates,
  createTable,
  rowIds,
  RowWriter,
  sleep,
  startNodeCluster,
  until,
  uuidIn,
  type NodeCluster,
  type NodeProcess,
} from '../runtime/node/node-cluster.ts';

const LEASE_TTL = 5;
let db: TestMariadb;
let cluster: NodeCluster;
const report: string[] = [];

beforeAll(async () => {
  db = await startMariadb();
  cluster = await startNodeCluster({ nodes: 2, leaseTtl: LEASE_TTL, web: true, mariadb: db.options });
});
afterAll(async () => {
  console.log(`mariadb storage cases:\n${report.join('\n')}`);
  await cluster?.stop();
  await db?.stop();
});

/** Rows stored by an owner token after a newer token had taken the base over (must be none). */
async function staleRows(uuid: string): Promise<number> {
  const [r] = await db.sql<Array<{ n: bigint }>>(
    `SELECT COUNT(*) AS n FROM dtable_operations o JOIN dtable_takeovers t
       ON t.base_uuid = o.base_uuid AND o.token < t.token AND o.version > t.version
     WHERE o.base_uuid = ?`,
    [uuid],
  );
  return Number(r!.n);
}

interface Counts {
  acknowledged: number;
  lost: number;
  duplicated: number;
  stale: number;
}

async function count(node: NodeProcess, uuid: string, acked: string[]): Promise<Counts> {
  const stored = await until(`rows of ${uuid}`, () => rowIds(cluster, node, uuid).catch(() => null), 30_000, 200);
  const have = new Set(stored);
  return { acknowledged: acked.length, lost: acked.filter((id) => !have.has(id)).length, duplicated: countDuplicates(stored), stale: await staleRows(uuid) };
}

function expectClean(name: string, c: Counts, extra = ''): void {
  report.push(`  ${name}: ${c.acknowledged} acked, ${c.lost} lost, ${c.duplicated} duplicated, ${c.stale} stored from a stale token${extra ? `; ${extra}` : ''}`);
  expect(c).toEqual({ acknowledged: c.acknowledged, lost: 0, duplicated: 0, stale: 0 });
  expect(c.acknowledged).toBeGreaterThan(10);
}

function writeLoops(writers: RowWriter[], deadlineMs = 60_000): { stop(): Promise<void> } {
  let stop = false;
  const loops = writers.map(async (w) => {
    while (!stop) await w.append(Date.now() + deadlineMs);
  });
  return {
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

async function post(url: string, uuid: string, id: string, timeoutMs = 5000): Promise<number | string> {
  try {
    const res = await fetch(`${url}api/v1/dtables/${uuid}/rows/`, {
      method: 'POST',
      headers: { authorization: `Token ${cluster.token(uuid)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ table_name: 'T', row: { _id: id, Name: id } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return (err as Error).name;
  }
}

describe('nodes on MariaDB base storage', () => {
  it('keeps every acknowledged write exactly once while a bucket moves between nodes 10 times', async () => {
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const bucket = '31';
    await cluster.assign([bucket], a.nodeId);
    await cluster.waitOwner(bucket, a.nodeId);
    const uuid = uuidIn(bucket);
    await createTable(cluster, a, uuid);
    const writers = [new RowWriter(cluster, uuid, { prefix: 'h1', target: a.url }), new RowWriter(cluster, uuid, { prefix: 'h2', target: a.url })];
    const load = writeLoops(writers);
    for (let move = 0; move < 10; move++) {
      const to = move % 2 === 0 ? b : a;
      await sleep(200);
      await cluster.assign([bucket], to.nodeId);
      await cluster.waitOwner(bucket, to.nodeId);
    }
    await sleep(300);
    await load.stop();
    expectClean('handoff ×10', await count(a, uuid, writers.flatMap((w) => w.acked)));
  });

  it('loses no acknowledged write when the owner is killed with SIGKILL and the other node takes over', async () => {
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const bucket = '41';
    await cluster.assign([bucket], a.nodeId);
    await cluster.waitOwner(bucket, a.nodeId);
    const uuid = uuidIn(bucket);
    await createTable(cluster, a, uuid);
    const writers = Array.from({ length: 3 }, (_, i) => new RowWriter(cluster, uuid, { prefix: `k${i}`, target: a.url, timeoutMs: 1000 }));
    const load = writeLoops(writers);
    await sleep(1000);
    await a.stop('SIGKILL');
    const killedAt = Date.now();
    await cluster.assign([bucket], b.nodeId);
    await cluster.waitOwner(bucket, b.nodeId, (LEASE_TTL + 10) * 1000);
    const ackedBefore = writers.reduce((s, w) => s + w.acked.length, 0);
    await until('writes acknowledged by the new owner', () => writers.reduce((s, w) => s + w.acked.length, 0) > ackedBefore + 5, 30_000);
    const recoveredMs = Date.now() - killedAt;
    await load.stop();
    expectClean('SIGKILL failover', await count(b, uuid, writers.flatMap((w) => w.acked)), `writes again ${recoveredMs} ms after the kill (lease TTL ${LEASE_TTL} s)`);
    a.start();
    await a.ready();
  });

  it('stores nothing from an owner that wakes from SIGSTOP after its lease expired and its bucket moved', async () => {
    const [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    const bucket = '51';
    await cluster.assign([bucket], a.nodeId);
    await cluster.waitOwner(bucket, a.nodeId);
    const uuid = uuidIn(bucket);
    await createTable(cluster, a, uuid);
    const writers = Array.from({ length: 3 }, (_, i) => new RowWriter(cluster, uuid, { prefix: `s${i}`, target: a.url, timeoutMs: 800 }));
    const load = writeLoops(writers);
    await sleep(1000);
    a.signal('SIGSTOP');
    const probes = Array.from({ length: 5 }, (_, i) => post(a.url, uuid, `probe-${i}`, 60_000));
    await sleep((LEASE_TTL + 1) * 1000);
    await cluster.assign([bucket], b.nodeId);
    await cluster.waitOwner(bucket, b.nodeId);
    const before = writers.reduce((s, w) => s + w.acked.length, 0);
    await until('writes acknowledged by the new owner', () => writers.reduce((s, w) => s + w.acked.length, 0) > before + 3, 30_000);
    a.signal('SIGCONT');
    const probeResults = await Promise.all(probes);
    const late = await Promise.all(Array.from({ length: 10 }, (_, i) => post(a.url, uuid, `late-${i}`)));
    await load.stop();
    expect(probeResults.filter((s) => s === 200)).toEqual([]);
    expect(late.filter((s) => s === 200)).toEqual([]);
    const c = await count(b, uuid, writers.flatMap((w) => w.acked));
    const stored = await rowIds(cluster, b, uuid);
    expect(stored.some((id) => id.startsWith('probe-') || id.startsWith('late-'))).toBe(false);
    expectClean('SIGSTOP past the lease', c, `probes while paused → ${[...new Set(probeResults)].join(',')}, after waking → ${[...new Set(late)].join(',')}`);
  });

  it('answers writes with 503 while MariaDB is down and loses no acknowledged write across its restart', async () => {
    const [a] = cluster.nodes as [NodeProcess, NodeProcess];
    const bucket = '61';
    await cluster.assign([bucket], a.nodeId);
    await cluster.waitOwner(bucket, a.nodeId);
    const uuid = uuidIn(bucket);
    await createTable(cluster, a, uuid);
    const writers = Array.from({ length: 3 }, (_, i) => new RowWriter(cluster, uuid, { prefix: `m${i}`, target: a.url, timeoutMs: 5000 }));
    const load = writeLoops(writers, 120_000);
    await sleep(1000);
    await db.server.stop();
    const downAt = Date.now();
    const whileDown = await Promise.all(Array.from({ length: 5 }, (_, i) => post(a.url, uuid, `down-${i}`, 10_000)));
    const ackedWhileDown = writers.reduce((s, w) => s + w.acked.length, 0);
    await sleep(2000);
    expect(writers.reduce((s, w) => s + w.acked.length, 0)).toBe(ackedWhileDown);
    await db.server.restart();
    const upAt = Date.now();
    await until('writes acknowledged after MariaDB is back', () => writers.reduce((s, w) => s + w.acked.length, 0) > ackedWhileDown + 5, 60_000);
    const recoveredMs = Date.now() - upAt;
    await load.stop();
    expect(whileDown).toEqual([503, 503, 503, 503, 503]);
    const stored = await rowIds(cluster, a, uuid);
    expect(stored.some((id) => id.startsWith('down-'))).toBe(false);
    expectClean('MariaDB restarted under load', await count(a, uuid, writers.flatMap((w) => w.acked)), `down ${upAt - downAt} ms, writes 503 while down, acknowledged again ${recoveredMs} ms after it was back`);
  });

  it('runs the seatable-api flow on bases owned by both nodes', async () => {
    const byNode = new Map<string, { dtable_uuid: string; api_token: string }>();
    for (let i = 0; byNode.size < 2 && i < 60; i++) {
      const res = await fetch(`${cluster.web!.url}/api/v2.1/dtables/`, {
        method: 'POST',
        headers: { authorization: `Token ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `base-${i}` }),
      });
      expect(res.status).toBe(201);
      const created = (await res.json()) as { dtable_uuid: string; api_token: string };
      const bucket = bucketOf(created.dtable_uuid);
      const assignee = (await cluster.client.get(`assign-${bucket}`).string())!;
      await cluster.waitOwner(bucket, assignee);
      if (!byNode.has(assignee)) byNode.set(assignee, created);
    }
    expect([...byNode.keys()].sort()).toEqual(['dtable-server-01', 'dtable-server-02']);
    for (const [owner, created] of byNode) {
      const base = new seatable.Base({ server: cluster.web!.url, APIToken: created.api_token });
      await base.auth();
      await base.addTable('Contacts', 'en', [{ column_name: 'Name', column_type: 'text' }, { column_name: 'Age', column_type: 'number' }]);
      const row = await base.appendRow('Contacts', { Name: 'Zoë 🚀', Age: 36 });
      const batch = await base.batchAppendRows('Contacts', [{ Name: 'Bob', Age: 1 }, { Name: 'Cy', Age: 2 }]);
      expect(batch.inserted_row_count).toBe(2);
      await base.updateRow('Contacts', row._id, { Age: 37 });
      await base.deleteRow('Contacts', batch.row_ids[0]._id);
      const rows = await base.listRows('Contacts');
      expect(rows.map((r: { Name: string; Age: number }) => [r.Name, r.Age])).toEqual([['Zoë 🚀', 37], ['Cy', 2]]);
      const [ops] = await db.sql<Array<{ n: bigint }>>('SELECT COUNT(*) AS n FROM dtable_operations WHERE base_uuid = ?', [created.dtable_uuid.replaceAll('-', '')]);
      expect(Number(ops!.n)).toBeGreaterThanOrEqual(5);
      report.push(`  seatable-api flow on ${owner}: ok`);
    }
  });

  it('reports a bad value in the database with a 500 naming the row, and keeps serving other bases', async () => {
    const [a] = cluster.nodes as [NodeProcess, NodeProcess];
    const bucket = '71';
    await cluster.assign([bucket], a.nodeId);
    await cluster.waitOwner(bucket, a.nodeId);
    const bad = uuidIn(bucket);
    await db.sql('INSERT INTO dtable_operations (base_uuid, version, token, operation) VALUES (?, 1, 1, ?)', [bad, 'not json at all']);
    const res = await fetch(`${a.url}api/v1/dtables/${bad}/rows/?table_name=T`, { headers: { authorization: `Token ${cluster.token(bad)}` } });
    const body = (await res.json()) as { error_type: string; error_msg: string };
    expect(res.status).toBe(500);
    expect(body.error_type).toBe('storage_data_error');
    expect(body.error_msg).toContain(`base ${bad}: bad stored value in dtable_operations version 1`);
    expect((await fetch(`${a.url}health`)).status).toBe(200);
    const good = uuidIn(bucket);
    await createTable(cluster, a, good);
    expect(await post(a.url, good, 'g1')).toBe(200);
    expect(a.logs.join('')).toContain('bad value in base storage');
    report.push(`  bad stored value: 500 storage_data_error, node healthy, other base in the bucket served`);
  });
});
