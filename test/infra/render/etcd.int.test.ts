// Integration (real etcd): a three-member etcd cluster started from nothing but the rendered
// etcd.conf.yml files of a local plan forms a healthy cluster and accepts a 256-put
// transaction (the monitor's assignment write, above etcd's default --max-txn-ops of 128).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadClusterText } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import type { Plan } from '../../../infra/plan/types.ts';
import { renderPlan } from '../../../infra/render/render.ts';
import { freePort } from '../../harness/free-port.ts';
import { writeRendered } from '../../../infra/render/write.ts';
import { BASE } from '../model/invalid-cases.ts';

const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
const tmp = mkdtempSync(join(tmpdir(), 'dtc-etcd-render-'));
const procs: ChildProcess[] = [];
/** Each member's stderr (etcd logs JSON lines there: `logger: zap`, `log-outputs: [stderr]`). */
const logs: string[] = [];
let plan: Plan;

async function healthy(url: string, deadline: number): Promise<unknown> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`);
      last = await res.json();
      if ((last as { health?: string }).health === 'true') return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`etcd at ${url} not healthy: ${String(last)}`);
}

beforeAll(async () => {
  const ports: string[] = [];
  for (const name of ['etcd-01', 'etcd-02', 'etcd-03']) {
    ports.push(`    ${name}.client: ${await freePort()}`, `    ${name}.peer: ${await freePort()}`);
  }
  // Non-default values, so etcd's own start-up report proves it read each key of the file.
  const etcdSettings = '  compaction: { mode: revision, retention: "2500" }\n  quota_backend_bytes: 33554432\n';
  const text = `${BASE.replace(/^etcd:\n/m, `etcd:\n${etcdSettings}`)}local:\n  ports:\n${ports.join('\n')}\n`;
  plan = resolvePlan(loadClusterText(text, 'cluster.yaml').model, { target: 'local', configDir: tmp, runDir: join(tmp, 'run') });
  const confDir = join(tmp, 'conf');
  writeRendered(renderPlan(plan), confDir);
  for (const m of plan.etcd.members) {
    const p = spawn(ETCD_BIN, ['--config-file', join(confDir, m.name, 'etcd.conf.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const i = logs.push('') - 1;
    p.stderr!.on('data', (d: Buffer) => {
      if (logs[i]!.length < 1_000_000) logs[i] += d.toString();
    });
    procs.push(p);
  }
});

afterAll(async () => {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
  rmSync(tmp, { recursive: true, force: true });
});

it('etcd started with each rendered --config-file forms a healthy three-member cluster', async () => {
  const deadline = Date.now() + 30_000;
  for (const m of plan.etcd.members) await healthy(m.clientUrl, deadline);
  const client = new Etcd3({ hosts: plan.etcd.members.map((m) => m.clientUrl) });
  try {
    const { members } = await client.cluster.memberList({});
    expect(members.map((m) => [m.name, m.peerURLs]).sort()).toEqual(plan.etcd.members.map((m) => [m.name, [m.peerUrl]]));
  } finally {
    client.close();
  }
});

it('the rendered max-txn-ops lets one transaction write all 256 assign keys', async () => {
  const client = new Etcd3({ hosts: plan.etcd.members.map((m) => m.clientUrl) });
  try {
    const puts = Array.from({ length: 256 }, (_, i) => client.put(`assign-${i.toString(16).padStart(2, '0')}`).value('dtable-server-01'));
    const result = await client.if('dtable-cluster/epoch', 'Create', '==', 0).then(...puts).commit();
    expect(result.succeeded).toBe(true);
    expect(Object.keys(await client.getAll().prefix('assign-').strings())).toHaveLength(256);
  } finally {
    client.close();
  }
});

/** The start-up record etcd logs with the configuration it runs with. */
function startRecord(log: string): Record<string, unknown> {
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const rec = JSON.parse(line) as Record<string, unknown>;
    if (rec.msg === 'starting an etcd server') return rec;
  }
  throw new Error(`etcd logged no start-up record:\n${log.slice(0, 2000)}`);
}

it('every member runs with the rendered compaction, quota, pre-vote and corruption check', async () => {
  const deadline = Date.now() + 30_000;
  for (const m of plan.etcd.members) await healthy(m.clientUrl, deadline);
  for (const log of logs) {
    expect(startRecord(log)).toMatchObject({
      'auto-compaction-mode': 'revision',
      // etcd keeps a revision retention in a time.Duration field and logs 2500 as 2500 ns.
      'auto-compaction-retention': '2.5µs',
      'quota-backend-bytes': 33554432,
      'pre-vote': true,
      'initial-corrupt-check': true,
    });
  }
});

it('every member reports the rendered quota in its metrics', async () => {
  for (const m of plan.etcd.members) {
    const text = await (await fetch(`${m.clientUrl}/metrics`)).text();
    expect(text).toMatch(/^etcd_server_quota_backend_bytes 3\.3554432e\+07$/m);
  }
});
