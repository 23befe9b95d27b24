// `npm run bench:cluster`: one run of the whole local cluster (test/e2e/cluster.yaml, lease_ttl
// 5 s), measuring what an operator feels: time from `up` to ready, crash failover (kill -9 to the
// first successful request for the dead node's base) as a multiple of lease_ttl, graceful handoff
// (SIGTERM to the base answering from another node), and assignment propagation: from the
// monitor's etcd write (the epoch record's written_at) to the proxy serving that epoch (its
// admin /assignment) and to the nodes having moved ownership of every reassigned bucket.
// Not a test: prints figures and their ratio to the goals of issue 6.
import { loadClusterFile } from '../infra/model/index.ts';
import { resolvePlan } from '../infra/plan/resolve.ts';
import { closeView, openView } from '../infra/local/cluster-status.ts';
import { setNodeWeight } from '../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../runtime/cluster/keyspace.ts';
import { BUCKETS } from '../runtime/cluster/buckets.ts';
import { runCli, testCluster } from '../test/e2e/cli.ts';
import {
  addTable,
  adminToken,
  appAccess,
  appendRow,
  bucketOf,
  createBase,
  listRows,
  pidOf,
  processesMentioning,
  removeTestCluster,
  sleep,
  status,
  until,
  type AppAccess,
  type StatusJson,
} from '../test/e2e/client.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 25);
const TABLE = 'Bench';

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(ms < 100 ? 1 : 0)} ms` : 'n/a');

async function main(): Promise<void> {
  const c = await testCluster();
  const { model } = loadClusterFile(c.config);
  const plan = resolvePlan(model, { target: 'local', configDir: c.dir, runDir: c.runDir });
  const leaseMs = plan.leaseTtl * 1000;
  const results: Array<[string, string, string]> = [];
  try {
    // 1. up → ready
    let t0 = performance.now();
    const up = await runCli(['up', '--detach', ...c.flags]);
    const upMs = performance.now() - t0;
    if (up.code !== 0) throw new Error(`up failed:\n${up.stdout}\n${up.stderr}`);
    results.push(['up → ready (detached, endpoint table printed)', fmt(upMs), `${(upMs / 15000).toFixed(2)} × the 15 s goal`]);
    let st: StatusJson = await status(c);

    // Bases, one per node.
    const bases = new Map<string, AppAccess>();
    for (let i = 0; bases.size < plan.nodes.length && i < 80; i++) {
      const b = await createBase(st.web.url, adminToken(c), `bench ${i}`);
      const owner = st.assignment!.buckets[bucketOf(b.dtable_uuid)]!;
      if (bases.has(owner)) continue;
      const a = await appAccess(st.web.url, b.api_token);
      await addTable(st.proxy.url, a, TABLE);
      await appendRow(st.proxy.url, a, TABLE, { Name: 'x' });
      bases.set(owner, a);
    }

    // 2. assignment propagation: drain / undrain a node, ROUNDS times each.
    const v = await openView(plan);
    const ks = keyspace(plan.keyPrefix);
    const proxyLag: number[] = [];
    const ownerLag: number[] = [];
    const writeLag: number[] = [];
    const victim = plan.nodes[plan.nodes.length - 1]!.nodeId;
    const ownerSeen = new Map<string, number>();
    v.view.on('change', (kinds: Set<string>) => {
      if (!kinds.has('owners')) return;
      const now = Date.now();
      for (const b of BUCKETS) {
        const o = v.view.ownerOf(b)?.nodeId ?? '';
        const key = `${b}=${o}`;
        if (!ownerSeen.has(key)) ownerSeen.set(key, now);
      }
    });
    // The proxy's GET /assignment lists the latest epochs with the time its routing table began
    // routing by each (`applied_at`, its own clock; same machine as the monitor here).
    const admin = adminToken(c);
    const proxyApplied = async (epoch: number): Promise<number | null> => {
      const r = await fetch(`${plan.proxy.adminUrl}assignment`, { headers: { Authorization: `Token ${admin}` }, signal: AbortSignal.timeout(2000) }).catch(() => null);
      if (!r || r.status !== 200) return null;
      const body = (await r.json().catch(() => null)) as { applied?: Array<{ epoch: number; written_at: string; applied_at: string }> } | null;
      const e = body?.applied?.find((x) => x.epoch === epoch);
      return e ? Date.parse(e.applied_at) - Date.parse(e.written_at) : null;
    };
    const epochSeen = new Map<number, number>();
    v.view.on('change', (kinds: Set<string>) => {
      if (!kinds.has('epoch')) return;
      const e = v.view.epoch();
      if (e && !epochSeen.has(e.epoch)) epochSeen.set(e.epoch, Date.now());
    });
    for (let round = 0; round < ROUNDS * 2; round++) {
      const before = v.view.epoch()?.epoch ?? 0;
      const prevAssign = [...v.view.assignment()];
      ownerSeen.clear();
      await setNodeWeight(v.client, ks, victim, round % 2 === 0 ? 0 : null);
      const { value: epoch } = await until('new epoch', async () => {
        const e = v.view.epoch()?.epoch ?? 0;
        return e > before ? e : null;
      }, 30_000, 1);
      const writtenAt = Date.parse(v.view.epoch()!.written_at);
      const commitAt = epochSeen.get(epoch)!;
      writeLag.push(commitAt - writtenAt);
      const { value: applied } = await until('proxy routes by the epoch', async () => {
        const lag = await proxyApplied(epoch);
        return lag === null ? null : { lag };
      }, 10_000, 20);
      proxyLag.push(applied.lag);
      // Nodes: every reassigned bucket owned by its new node.
      const target = [...v.view.assignment()];
      const movedBuckets = BUCKETS.filter((_, i) => target[i] !== prevAssign[i]);
      await until('ownership moved', async () => movedBuckets.every((b) => v.view.ownerOf(b)?.nodeId === target[BUCKETS.indexOf(b)]), 30_000, 10);
      for (const b of movedBuckets) {
        const at = ownerSeen.get(`${b}=${target[BUCKETS.indexOf(b)]}`);
        if (at !== undefined) ownerLag.push(Math.max(0, at - commitAt));
      }
    }
    await closeView(v);
    if (process.env.BENCH_SAMPLES) console.error(JSON.stringify({ writeLag, proxyLag }));
    results.push([
      `monitor write (written_at → commit seen by the bench's watcher)`,
      `p50 ${fmt(pct(writeLag, 50))}, p99 ${fmt(pct(writeLag, 99))}`,
      `${writeLag.length} writes (assign keys + epoch record, txns of ≤ max-txn-ops)`,
    ]);
    results.push([
      `propagation (written_at → proxy routes by it, ${proxyLag.length} epochs)`,
      `p50 ${fmt(pct(proxyLag, 50))}, p99 ${fmt(pct(proxyLag, 99))}`,
      `p99 ${(pct(proxyLag, 99) / 100).toFixed(2)} × the 100 ms goal; includes the etcd commit`,
    ]);
    results.push([
      `ownership moved on the nodes (commit → new owner, ${ownerLag.length} moves)`,
      `p50 ${fmt(pct(ownerLag, 50))}, p99 ${fmt(pct(ownerLag, 99))}`,
      'includes the old owner flushing and releasing (two-phase handoff)',
    ]);
    await until('balanced', async () => {
      const s = await status(c);
      return s.nodes.every((n) => n.live && n.buckets >= 85) ? s : null;
    }, 60_000, 200);
    st = await status(c);

    // 3. crash failover
    const crashed = plan.nodes[1]!.nodeId;
    const ca = bases.get(crashed)!;
    t0 = performance.now();
    process.kill(pidOf(st, crashed), 'SIGKILL');
    await until('crashed node base served', async () => ((await listRows(st.proxy.url, ca, TABLE)).status === 200 ? true : null), 120_000, 20);
    const failMs = performance.now() - t0;
    results.push([
      'crash failover (kill -9 → first 200 for its base)',
      fmt(failMs),
      `${(failMs / leaseMs).toFixed(2)} × lease_ttl (${plan.leaseTtl} s); goal ≤ ${((leaseMs + 2000) / leaseMs).toFixed(2)}`,
    ]);
    process.kill(st.supervisor.pid!, 'SIGUSR2');
    await until('balanced again', async () => {
      const s = await status(c);
      return s.nodes.every((n) => n.live && n.buckets >= 85 && n.owned === n.buckets) ? s : null;
    }, 60_000, 200);
    st = await status(c);

    // 4. graceful handoff
    const stopped = plan.nodes[2]!.nodeId;
    const sa = bases.get(stopped)!;
    t0 = performance.now();
    process.kill(pidOf(st, stopped), 'SIGTERM');
    await until('stopped node base served elsewhere', async () => {
      const r = await listRows(st.proxy.url, sa, TABLE);
      return r.status === 200 && r.node !== stopped ? true : null;
    }, 60_000, 10);
    const handMs = performance.now() - t0;
    results.push(['graceful handoff (SIGTERM → base answered by another node)', fmt(handMs), `${(handMs / 2000).toFixed(2)} × the 2 s goal`]);

    // 5. down
    t0 = performance.now();
    await runCli(['down', ...c.flags]);
    results.push(['down (graceful stop of everything)', fmt(performance.now() - t0), `${processesMentioning(c.runDir).length} processes left`]);
  } finally {
    await removeTestCluster(c);
  }
  const w0 = Math.max(...results.map((r) => r[0].length));
  const w1 = Math.max(...results.map((r) => r[1].length));
  process.stdout.write(`\nbench:cluster (lease_ttl ${plan.leaseTtl} s, 3 etcd, 3 nodes, 2 monitors)\n`);
  for (const [a, b, r] of results) process.stdout.write(`  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${r}\n`);
  await sleep(10);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
