// Fault-injection suite (issue 8): one real cluster (3 etcd members, 3 nodes, 2 monitors, the
// proxy) under a steady client load through the proxy, broken in turn: SIGKILL and SIGSTOP of a
// node, of the monitor leader and of the proxy; 1 and then 2 of 3 etcd members down; a flapping
// node; garbage values in etcd. Each case ends with the two checks of the single-writer rule:
// every acknowledged write is stored exactly once, and no bucket had two owners at any time
// (from a watch on dtable-cluster/owner/). The suite prints one line per case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKETS, bucketOf } from '../../runtime/cluster/buckets.ts';
import {
  ClientLoad,
  LEASE_TTL,
  OwnershipRecorder,
  auditWrites,
  createTable,
  longestStall,
  ks,
  sleep,
  startFaultCluster,
  storedRowIds,
  until,
  type FaultCluster,
} from './fault-cluster.ts';

interface CaseReport {
  name: string;
  acknowledged: number;
  lost: number;
  duplicated: number;
  overlaps: number;
  /** Longest time any base went without an acknowledged write during the case, ms. */
  recoveryMs: number;
}

const reports: CaseReport[] = [];
let cluster: FaultCluster;
let load: ClientLoad;
let owners: OwnershipRecorder;
// Bases in buckets spread over the keyspace, one writer each.
const UUIDS = ['0a', '4b', '8c', 'cd', 'f1'].map((b) => `${b}${crypto.randomUUID().replaceAll('-', '').slice(2)}`);

/** Every base has at least `n` acknowledgements after `t`. */
async function progressed(t: number, n = 3, timeoutMs = 60_000): Promise<void> {
  await until(`writes acknowledged on every base after the fault`, () => UUIDS.every((u) => load.acked.get(u)!.filter((a) => a.at > t).length >= n), timeoutMs, 50);
}

/** The end-of-case checks: acked ⊆ stored, exactly once; no overlapping ownership. */
async function finishCase(name: string, start: number, ackedBefore: number, overlapsBefore: number): Promise<CaseReport> {
  await cluster.settled();
  await progressed(Date.now(), 2);
  const end = Date.now();
  const { lost, duplicated } = await auditWrites(load, cluster.proxy, cluster.token);
  const overlaps = owners.overlaps + owners.countOverlappingIntervals() - overlapsBefore;
  const r: CaseReport = { name, acknowledged: load.total - ackedBefore, lost, duplicated, overlaps, recoveryMs: longestStall(load, start, end) };
  reports.push(r);
  return r;
}

async function runCase(name: string, inject: () => Promise<void>): Promise<CaseReport> {
  const start = Date.now();
  const ackedBefore = load.total;
  const overlapsBefore = owners.overlaps + owners.countOverlappingIntervals();
  let r: CaseReport;
  try {
    await inject();
    r = await finishCase(name, start, ackedBefore, overlapsBefore);
  } catch (err) {
    await diagnose(name);
    throw err;
  }
  expect(r.acknowledged).toBeGreaterThan(0);
  expect(r.lost).toBe(0);
  expect(r.duplicated).toBe(0);
  expect(r.overlaps).toBe(0);
  return r;
}

/** What a failed case leaves behind, for the CI log. */
async function diagnose(name: string): Promise<void> {
  const lines = [`--- diagnostics of failed case "${name}"`];
  for (const u of UUIDS) {
    const b = bucketOf(u);
    const acks = load.acked.get(u)!;
    const assign = await cluster.client.get(ks.assign(b)).string().catch((e: Error) => `? ${e.message}`);
    const owner = await cluster.client.get(ks.owner(b)).string().catch((e: Error) => `? ${e.message}`);
    lines.push(`base ${b}: acked ${acks.length}, last ack ${acks.length ? Date.now() - acks.at(-1)!.at : '-'} ms ago; assign ${assign}; owner ${owner}`);
  }
  const warn = (text: string) => text.split('\n').filter((l) => l.length > 0 && !l.includes('"level":30')).slice(-12).join('\n');
  for (const n of cluster.nodes) lines.push(`${n.nodeId} (exit ${n.proc?.exitCode ?? '-'}):\n${warn(n.logs.join(''))}`);
  lines.push(`proxy:\n${warn(cluster.proxy.logs.join(''))}`);
  for (const m of cluster.monitors) {
    lines.push(`${m.monitorId} (exit ${m.proc.exitCode ?? '-'}) health ${JSON.stringify(await m.health())}:`);
    lines.push(...m.logs.slice(-10).map((l) => JSON.stringify(l).slice(0, 400)), ...m.stderr.slice(-3));
  }
  process.stdout.write(`${lines.join('\n').slice(0, 20_000)}\n`);
}

const ownerNode = (uuid: string) =>
  until(`owner of ${uuid}`, async () => {
    const id = await cluster.ownerOf(bucketOf(uuid));
    return cluster.nodes.find((x) => x.nodeId === id) ?? null;
  }, 30_000, 100);

async function leader(): Promise<number> {
  return until('a monitor leader', async () => {
    for (let i = 0; i < cluster.monitors.length; i++) if ((await cluster.monitors[i]!.health())?.is_leader) return i + 1;
    return null;
  }, 30_000, 100).then((i) => i - 1);
}

describe.sequential('fault injection under client load', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    cluster = await startFaultCluster(3);
    owners = await OwnershipRecorder.start(cluster.client);
    for (const u of UUIDS) await createTable(cluster.proxy, u, cluster.token(u));
    load = new ClientLoad(cluster.proxy, UUIDS, cluster.token);
    load.start();
    await progressed(Date.now(), 5);
  }, 180_000);

  afterAll(async () => {
    if (reports.length > 0) {
      const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(44) : x.padStart(10))).join(' ');
      const out = [
        '',
        'fault-injection suite (lease_ttl 3 s, 5 bases written through the proxy)',
        line(['case', 'acked', 'lost', 'dup', 'overlaps', 'recovery']),
        ...reports.map((r) => line([r.name, String(r.acknowledged), String(r.lost), String(r.duplicated), String(r.overlaps), `${(r.recoveryMs / 1000).toFixed(2)} s`])),
        `ownership intervals recorded: ${owners?.intervals.length ?? 0}`,
        '',
      ];
      process.stdout.write(out.join('\n'));
    }
    await load?.stop(5000);
    await owners?.stop();
    await cluster?.stop();
  }, 60_000);

  it('loses and duplicates no acknowledged write when a node is SIGKILLed', async () => {
    await runCase('node SIGKILL', async () => {
      const victim = await ownerNode(UUIDS[0]!);
      await victim.stop('SIGKILL');
      await progressed(Date.now());
      victim.start();
      await victim.ready();
    });
  });

  it('loses no write and keeps one owner per bucket when a node is SIGSTOPped past its lease', async () => {
    await runCase('node SIGSTOP past lease', async () => {
      const victim = await ownerNode(UUIDS[1]!);
      victim.signal('SIGSTOP');
      await sleep(LEASE_TTL * 1000 + 3000);
      victim.signal('SIGCONT');
      await progressed(Date.now());
    });
  });

  it('keeps serving writes when the monitor leader is SIGKILLed, and a standby takes over', async () => {
    await runCase('monitor leader SIGKILL', async () => {
      const i = await leader();
      cluster.monitors[i]!.signal('SIGKILL');
      await cluster.monitors[i]!.exited;
      await until('standby monitor leads', async () => (await cluster.monitors[1 - i]!.health())?.is_leader === true, 30_000, 100);
      await progressed(Date.now());
      await cluster.restartMonitor(i);
    });
  });

  it('keeps one assignment writer when the monitor leader is SIGSTOPped past its election lease', async () => {
    await runCase('monitor leader SIGSTOP past lease', async () => {
      const i = await leader();
      cluster.monitors[i]!.signal('SIGSTOP');
      await until('standby monitor leads', async () => (await cluster.monitors[1 - i]!.health())?.is_leader === true, 30_000, 100);
      await sleep(1000);
      cluster.monitors[i]!.signal('SIGCONT');
      await progressed(Date.now());
      const leaders = await Promise.all(cluster.monitors.map((m) => m.health()));
      await until('exactly one monitor leader', async () => (await Promise.all(cluster.monitors.map((m) => m.health()))).filter((h) => h?.is_leader).length === 1, 15_000, 100);
      expect(leaders.length).toBe(2);
    });
  });

  it('recovers client writes when the proxy is SIGKILLed and restarted', async () => {
    await runCase('proxy SIGKILL + restart', async () => {
      await cluster.proxy.stop('SIGKILL');
      await sleep(500);
      cluster.proxy.start();
      await cluster.proxy.ready();
      await progressed(Date.now());
    });
  });

  it('recovers client writes when the proxy is SIGSTOPped and continued', async () => {
    await runCase('proxy SIGSTOP 4 s', async () => {
      cluster.proxy.signal('SIGSTOP');
      await sleep(4000);
      cluster.proxy.signal('SIGCONT');
      await progressed(Date.now());
    });
  });

  it('keeps serving writes with 1 of 3 etcd members down', async () => {
    const r = await runCase('etcd 1 of 3 down', async () => {
      await cluster.etcd.stopMember(0);
      const t = Date.now();
      await progressed(t, 5);
      await sleep(LEASE_TTL * 1000);
      await progressed(Date.now(), 5);
      await cluster.etcd.startMember(0);
    });
    // Writes never stall for as long as a lease: no bucket moved.
    expect(r.recoveryMs).toBeLessThan(LEASE_TTL * 1000 * 3);
  });

  it('stops acknowledging writes before the leases could expire when etcd quorum is lost, and recovers with quorum', async () => {
    let lostAt = 0;
    let ackedLateDuringOutage = 0;
    await runCase('etcd 2 of 3 down (quorum lost)', async () => {
      await cluster.etcd.stopMember(1);
      await cluster.etcd.stopMember(2);
      lostAt = Date.now();
      await sleep(LEASE_TTL * 1000 + 3000);
      const restoreAt = Date.now();
      // Leases were granted no later than lostAt: anything acknowledged after lostAt + TTL (plus
      // the time an answer takes to arrive) was acknowledged by a node that could no longer know it owned the bucket.
      for (const u of UUIDS) ackedLateDuringOutage += load.acked.get(u)!.filter((a) => a.at > lostAt + LEASE_TTL * 1000 + 500 && a.at <= restoreAt).length;
      await Promise.all([cluster.etcd.startMember(1), cluster.etcd.startMember(2)]);
      await progressed(Date.now());
    });
    expect(ackedLateDuringOutage).toBe(0);
  });

  it('loses no write while a node flaps (killed and restarted three times)', async () => {
    await runCase('flapping node (3× SIGKILL/restart)', async () => {
      const victim = await ownerNode(UUIDS[2]!);
      for (let k = 0; k < 3; k++) {
        await victim.stop('SIGKILL');
        await sleep(800);
        victim.start();
        await victim.ready();
        await sleep(1500);
      }
      await progressed(Date.now());
    });
  });

  it('crashes nothing and loses no write when etcd keys hold garbage values', async () => {
    const bucket = bucketOf(UUIDS[3]!);
    const garbage: Array<[string, string]> = [
      [ks.node('dtable-server-99'), '{not json'],
      [ks.node('dtable-server-98'), JSON.stringify({ node_id: 'dtable-server-98', node_url: 'javascript:alert(1)', local_node_url: 42 })],
      [ks.load('dtable-server-01'), '[[['],
      [`${ks.ownerPrefix}zz`, 'owner of no bucket'],
      [ks.assign(bucket), 'dtable-server-does-not-exist'],
      [ks.assign(BUCKETS[200]!), '\u0000\u00ff'],
    ];
    await runCase('garbage values in etcd keys', async () => {
      for (const [k, v] of garbage) await cluster.client.put(k).value(v);
      await sleep(2500);
      await progressed(Date.now());
      // The monitor puts a live node back on the garbled assign keys.
      await until('assign keys repaired', async () => {
        const live = new Set(cluster.nodes.map((n) => n.nodeId));
        const a = await cluster.client.get(ks.assign(bucket)).string();
        const b = await cluster.client.get(ks.assign(BUCKETS[200]!)).string();
        return live.has(a ?? '') && live.has(b ?? '');
      }, 30_000, 200);
      for (const [k] of garbage.slice(0, 4)) await cluster.client.delete().key(k);
    });
    for (const n of cluster.nodes) expect(n.proc!.exitCode).toBeNull();
    for (const m of cluster.monitors) expect(m.proc.exitCode).toBeNull();
    expect(cluster.proxy.proc!.exitCode).toBeNull();
  });

  it('reports every acknowledged write of the whole run stored exactly once after the load stops', async () => {
    await load.stop();
    for (const u of UUIDS) {
      const stored = await storedRowIds(cluster.proxy, u, cluster.token(u));
      const acked = load.acked.get(u)!.map((a) => a.id);
      expect(new Set(stored).size).toBe(stored.length);
      expect(acked.filter((id) => !stored.includes(id))).toEqual([]);
    }
    expect(owners.overlaps).toBe(0);
  });
});
