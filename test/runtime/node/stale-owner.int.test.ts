// Acceptance 4: a SIGSTOPped owner that wakes up after its lease expired and its bucket moved
// acknowledges nothing for that bucket, and the persisted base holds every acknowledged write once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeUuid } from '../../../runtime/cluster/buckets.ts';
import { BaseStore } from '../../../runtime/node/storage/base-store.ts';
import { countDuplicates, createTable, rowIds, RowWriter, sleep, startNodeCluster, uuidIn, type NodeCluster } from './node-cluster.ts';

// A few seconds, with slack for a loaded 2-core machine (self-fencing starts at TTL − 1 s after a keepalive).
const LEASE_TTL = 5;
let cluster: NodeCluster;
beforeAll(async () => {
  cluster = await startNodeCluster({ nodes: 2, leaseTtl: LEASE_TTL });
});
afterAll(async () => {
  await cluster?.stop();
});

async function directWrite(url: string, uuid: string, id: string, timeoutMs: number): Promise<number | string> {
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

describe('stale owner', () => {
  it('acknowledges nothing after waking from SIGSTOP past its lease, and no acknowledged write is lost or doubled', async () => {
    const [a, b] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    const bucket = '50';
    await cluster.assign([bucket], a.nodeId);
    await cluster.waitOwner(bucket, a.nodeId);
    const uuid = uuidIn(bucket);
    await createTable(cluster, a, uuid);
    const lostBefore = a.logs.join('').split('\n').filter((l) => l.includes('lease lost')).length;

    const writers = Array.from({ length: 3 }, (_, i) => new RowWriter(cluster, uuid, { prefix: `s${i}`, target: a.url, timeoutMs: 800 }));
    let stop = false;
    const loops = writers.map(async (w) => {
      while (!stop) await w.append(Date.now() + 60_000);
    });
    await sleep(1000);

    a.signal('SIGSTOP');
    const stoppedAt = Date.now();
    // Requests that reach the paused owner: they are answered only after it wakes.
    const probes = Array.from({ length: 5 }, (_, i) => directWrite(a.url, uuid, `probe-${i}`, 60_000));
    await sleep((LEASE_TTL + 1) * 1000);
    expect(await cluster.ownerOf(bucket)).toBeNull();
    await cluster.assign([bucket], b.nodeId);
    await cluster.waitOwner(bucket, b.nodeId).catch((err) => {
      console.log(b.logs.join('').split('\n').filter((l) => /warn|error|lost|"level":[456]/.test(l)).slice(-30).join('\n'));
      console.log('owner now:', err.message);
      throw err;
    });
    const ackedByB = async () => writers.reduce((s, w) => s + w.acked.length, 0);
    const before = await ackedByB();
    await sleep(1000);
    expect(await ackedByB()).toBeGreaterThan(before);

    a.signal('SIGCONT');
    const pausedMs = Date.now() - stoppedAt;
    const probeResults = await Promise.all(probes);
    const after = await Promise.all(Array.from({ length: 10 }, (_, i) => directWrite(a.url, uuid, `late-${i}`, 5000)));
    stop = true;
    await Promise.all(loops);

    expect(probeResults.filter((s) => s === 200)).toEqual([]);
    expect(after.filter((s) => s === 200)).toEqual([]);
    const acked = writers.flatMap((w) => w.acked);
    const served = await rowIds(cluster, b, uuid);
    expect(countDuplicates(served)).toBe(0);
    expect(new Set(served)).toEqual(new Set(acked));
    expect(served.some((id) => id.startsWith('probe-') || id.startsWith('late-'))).toBe(false);

    // What is on shared storage once the owner stops gracefully: every acknowledged write, once.
    await b.stop('SIGTERM');
    const store = new BaseStore(cluster.storageDir);
    const persisted = await store.open(normalizeUuid(uuid), Number.MAX_SAFE_INTEGER);
    const ids = persisted.dtable.tables[0]!.rows.map((r) => r._id);
    await persisted.close();
    expect(countDuplicates(ids)).toBe(0);
    expect(new Set(ids)).toEqual(new Set(acked));
    if (lostBefore > 0) console.log(`note: ${a.nodeId} had renewed its lease ${lostBefore} time(s) under load before the pause`);
    console.log(`stale owner: paused ${pausedMs} ms, ${acked.length} acked writes all persisted once; probes during pause → ${probeResults.join(',')}; after wake → ${[...new Set(after)].join(',')}`);
  });
});
