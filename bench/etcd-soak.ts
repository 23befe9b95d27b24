// `npm run bench:etcd-soak [-- --days 30 --nodes 10 --mode both]`: months of the cluster's etcd
// writes in compressed time against a real 3-member etcd started from the rendered
// etcd.conf.yml files, printing database size, revision and compaction as the simulated days
// pass. `--mode without` starts the same members with the maintenance settings stripped (no
// auto-compaction, etcd's default quota, no automatic defrag): the etcd.conf.yml before
// issue 15. `both` (the default) runs one after the other and prints them side by side.
//
// The workload is what a cluster writes (runtime/cluster/load-report.ts and the monitor):
// each node's load report (one value per bucket it holds, ~60 bytes each) `--reports` times per
// simulated hour (default 30: between the idle 6 and the busy maximum of 120), a drain and its
// undo every simulated day (owner keys released and taken, assign keys and the epoch rewritten),
// a load-aware rebalance (32 moves) every simulated week.
//
// etcd's periodic compactor runs on the wall clock: in compressed time its shortest retention
// (1m, set here) keeps weeks of simulated history. So, with the settings, the soak also
// compacts on the simulated clock as the rendered 5-minute retention would, rounded up to an
// hour: at every simulated hour, up to the revision of the hour before (`--sim-compaction off`
// leaves only etcd's compactor). The monitor's automatic defrag runs every `--defrag-every`
// seconds with a 1 MiB floor. Not a test: nothing here asserts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadClusterText } from '../infra/model/index.ts';
import { resolvePlan } from '../infra/plan/resolve.ts';
import { renderPlan } from '../infra/render/render.ts';
import { writeRendered } from '../infra/render/write.ts';
import { BUCKETS } from '../runtime/cluster/buckets.ts';
import { connectEtcd, type Etcd3 } from '../runtime/cluster/etcd/client.ts';
import { EtcdMaintenance } from '../runtime/cluster/etcd/maintenance.ts';
import { keyspace } from '../runtime/cluster/keyspace.ts';
import { AutoDefrag } from '../runtime/monitor/auto-defrag.ts';
import { freePort } from '../test/harness/free-port.ts';

const { values: args } = parseArgs({
  options: {
    days: { type: 'string', default: '30' },
    nodes: { type: 'string', default: '10' },
    reports: { type: 'string', default: '30' },
    retention: { type: 'string', default: '1m' },
    'defrag-every': { type: 'string', default: '20' },
    mode: { type: 'string', default: 'both' },
    'print-every': { type: 'string', default: '3' },
    'sim-compaction': { type: 'string', default: 'on' },
  },
});
const DAYS = Number(args.days);
const NODES = Number(args.nodes);
const REPORTS_PER_HOUR = Number(args.reports);
const PRINT_EVERY = Number(args['print-every']);
const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const ks = keyspace('');
const silent = { debug() {}, info() {}, warn() {}, error() {} };

interface Sample {
  day: number;
  wallS: number;
  revision: number;
  compactRevision: number;
  dbBytes: number;
  inUseBytes: number;
  alarms: string;
}

/** Three members from the rendered files (optionally with the maintenance keys stripped). */
async function startEtcd(withSettings: boolean, dir: string): Promise<{ hosts: string[]; names: string[]; stop(): Promise<void> }> {
  const ports: string[] = [];
  for (const name of ['etcd-01', 'etcd-02', 'etcd-03']) ports.push(`    ${name}.client: ${await freePort()}`, `    ${name}.peer: ${await freePort()}`);
  const base = readFileSync(new URL('../test/fixtures/cluster/base.yaml', import.meta.url), 'utf8');
  const text = `${base.replace(/^etcd:\n/m, `etcd:\n  compaction: { retention: ${JSON.stringify(args.retention)} }\n`)}local:\n  ports:\n${ports.join('\n')}\n`;
  const plan = resolvePlan(loadClusterText(text, 'cluster.yaml').model, { target: 'local', configDir: dir, runDir: join(dir, 'run') });
  const confDir = join(dir, 'conf');
  writeRendered(renderPlan(plan), confDir);
  const procs: ChildProcess[] = [];
  for (const m of plan.etcd.members) {
    const file = join(confDir, m.name, 'etcd.conf.yml');
    if (!withSettings) {
      const stripped = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => !/^(auto-compaction-|quota-backend-bytes|experimental-enable-lease-checkpoint)/.test(l))
        .join('\n');
      writeFileSync(file, stripped);
    }
    procs.push(spawn(ETCD_BIN, ['--config-file', file], { stdio: 'ignore' }));
  }
  const hosts = plan.etcd.hostList.map((h) => `http://${h}`);
  for (const h of hosts) {
    for (let i = 0; ; i++) {
      try {
        if (((await (await fetch(`${h}/health`)).json()) as { health: string }).health === 'true') break;
      } catch {
        /* starting */
      }
      if (i > 300) throw new Error(`etcd at ${h} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    hosts,
    names: plan.etcd.members.map((m) => m.name),
    stop: async () => {
      await Promise.all(procs.map((p) => new Promise<void>((r) => (p.exitCode !== null ? r() : (p.once('exit', () => r()), p.kill('SIGTERM'))))));
    },
  };
}

/** A node's load report holding `buckets`, with loads that vary a little per report. */
function loadReport(nodeId: string, buckets: string[], seq: number): string {
  const out: Record<string, { bases: number; ops_per_sec: number; bytes: number }> = {};
  for (const b of buckets) out[b] = { bases: 1 + ((seq + b.charCodeAt(0)) % 5), ops_per_sec: Math.round(((seq * 7 + b.charCodeAt(1)) % 500) * 10) / 100, bytes: 100_000 + ((seq * 13) % 9) * 100_000 };
  return JSON.stringify({ node_id: nodeId, updated_at: new Date().toISOString(), buckets: out });
}

async function soak(withSettings: boolean): Promise<Sample[]> {
  const dir = mkdtempSync(join(tmpdir(), 'd15-etcd-soak-'));
  const etcd = await startEtcd(withSettings, dir);
  const client: Etcd3 = connectEtcd({ hostList: etcd.hosts, callTimeoutMs: 30_000 });
  const maint = new EtcdMaintenance({ connect: (h) => connectEtcd({ hostList: [h], callTimeoutMs: 300_000 }), members: etcd.hosts.map((host, i) => ({ name: etcd.names[i]!, host })) });
  const defrag = withSettings
    ? new AutoDefrag(maint, { inUseBelow: 0.5, minDbSizeBytes: 1024 * 1024, intervalMs: Number(args['defrag-every']) * 1000, isLeader: () => true, log: silent })
    : null;
  defrag?.start();
  const nodes = Array.from({ length: NODES }, (_, i) => `dtable-server-${String(i + 1).padStart(2, '0')}`);
  let assignment = BUCKETS.map((_, i) => nodes[i % NODES]!);
  const held = (n: string) => BUCKETS.filter((_, i) => assignment[i] === n);
  const samples: Sample[] = [];
  const t0 = performance.now();
  let epoch = 0;
  let seq = 0;
  let lastHourRevision = 0;
  const moveBuckets = async (moves: Array<[number, string]>) => {
    for (const [i, to] of moves) {
      await client.delete().key(ks.owner(BUCKETS[i]!));
      assignment[i] = to;
      await client.put(ks.owner(BUCKETS[i]!)).value(JSON.stringify({ node_id: to, acquired_at: new Date().toISOString() }));
    }
    const txn = client.if(ks.epoch, 'Version', '>', -1).then(
      ...moves.map(([i, to]) => client.put(ks.assign(BUCKETS[i]!)).value(to)),
      client.put(ks.epoch).value(JSON.stringify({ epoch: ++epoch, monitor_id: 'monitor-1', written_at: new Date().toISOString(), moved: moves.length, counts: {} })),
    );
    await txn.commit();
  };
  const sample = async (day: number, keep = true) => {
    const r = await maint.report();
    const top = r.members.reduce((a, b) => (b.db_size_bytes > a.db_size_bytes ? b : a));
    const s = { day, wallS: (performance.now() - t0) / 1000, revision: r.revision, compactRevision: r.compact_revision, dbBytes: top.db_size_bytes, inUseBytes: top.db_size_in_use_bytes, alarms: [...new Set(r.alarms.map((a) => a.alarm))].join(',') || 'none' };
    if (keep) samples.push(s);
    return s;
  };
  try {
    await moveBuckets(assignment.map((n, i) => [i, n]));
    for (let day = 1; day <= DAYS; day++) {
      for (let hour = 0; hour < 24; hour++) {
        if (withSettings && args['sim-compaction'] === 'on') {
          const { header } = await client.get(ks.epoch).exec();
          if (lastHourRevision > 0) await client.kv.compact({ revision: lastHourRevision }).catch(() => undefined);
          lastHourRevision = Number(header.revision);
        }
        // Every node's reports of this hour, 16 writes in flight.
        const puts: Array<() => Promise<unknown>> = [];
        for (let k = 0; k < REPORTS_PER_HOUR; k++) for (const n of nodes) puts.push(() => client.put(ks.load(n)).value(loadReport(n, held(n), ++seq)).exec());
        for (let i = 0; i < puts.length; i += 16) await Promise.all(puts.slice(i, i + 16).map((p) => p()));
      }
      // A drain of one node and its undo.
      const drained = nodes[day % NODES]!;
      const others = nodes.filter((n) => n !== drained);
      const away: Array<[number, string]> = [];
      assignment.forEach((n, i) => n === drained && away.push([i, others[i % others.length]!]));
      await moveBuckets(away);
      await moveBuckets(away.map(([i]) => [i, drained]));
      if (day % 7 === 0) {
        const swaps: Array<[number, string]> = [];
        for (let k = 0; k < 16; k++) {
          const a = (day * 31 + k * 17) % 256;
          const b = (a + 128) % 256;
          swaps.push([a, assignment[b]!], [b, assignment[a]!]);
        }
        await moveBuckets(swaps);
      }
      if (day % PRINT_EVERY === 0 || day === DAYS) {
        const s = await sample(day);
        process.stderr.write(`  ${withSettings ? 'with   ' : 'without'} day ${String(day).padStart(3)}: revision ${s.revision}, compacted ${s.compactRevision}, db ${mib(s.dbBytes)} (${mib(s.inUseBytes)} in use), alarms ${s.alarms}, ${s.wallS.toFixed(0)} s\n`);
      }
    }
    // Let etcd's compactor and the defrag catch up once the writes stop, as they would between bursts.
    if (withSettings) {
      await new Promise((r) => setTimeout(r, 1000));
      await defrag!.check();
      const s = await sample(DAYS, false);
      process.stderr.write(`  with    after the last defrag: db ${mib(s.dbBytes)} (${mib(s.inUseBytes)} in use)\n`);
    }
    return samples;
  } finally {
    defrag?.stop();
    maint.close();
    client.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const modes = args.mode === 'both' ? [true, false] : args.mode === 'without' ? [false] : [true];
  process.stderr.write(
    `etcd soak: ${DAYS} simulated days, ${NODES} nodes, ${REPORTS_PER_HOUR} load reports per node per hour, a drain a day, a rebalance a week; etcd retention ${args.retention}, simulated-clock compaction ${args['sim-compaction']}\n`,
  );
  const runs = new Map<boolean, Sample[]>();
  for (const m of modes) runs.set(m, await soak(m));
  const w = runs.get(true);
  const wo = runs.get(false);
  const rows = (w ?? wo)!.map((s, i) => [s, w?.[i], wo?.[i]] as const);
  console.log('| simulated day | with settings: revision / compacted / db (in use) | without: revision / compacted / db (in use) | db ratio without/with |');
  console.log('|---|---|---|---|');
  const cell = (s?: Sample) => (s ? `${s.revision} / ${s.compactRevision} / ${mib(s.dbBytes)} (${mib(s.inUseBytes)})${s.alarms !== 'none' ? ` ${s.alarms}` : ''}` : '-');
  for (const [s, a, b] of rows) console.log(`| ${s.day} | ${cell(a)} | ${cell(b)} | ${a && b ? (b.dbBytes / a.dbBytes).toFixed(1) : '-'} |`);
  const last = w?.at(-1);
  if (last) console.log(`\nwith the rendered settings: final db ${mib(last.dbBytes)} (${mib(last.inUseBytes)} in use) = ${((100 * last.dbBytes) / (2 * 1024 ** 3)).toFixed(2)} % of the 2 GiB quota, alarms ${last.alarms}`);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
