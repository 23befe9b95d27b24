// End to end: the local cluster's etcd over time, through the CLI as an operator drives it. An
// idle cluster hardly writes; `status` reports etcd's revision, compaction, sizes and alarms;
// a full quota (16 MiB here) raises NOSPACE, `status` says what to do, and `etcd compact`,
// `etcd defrag` and `etcd disarm` bring the cluster back to assigning and serving.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectEtcd } from '../../runtime/cluster/etcd/client.ts';
import { runCli, testCluster, type TestCluster } from './cli.ts';
import { addTable, adminToken, appAccess, appendRow, createBase, listRows, removeTestCluster, rowsOf, sleep, status, until, type StatusJson } from './client.ts';

const QUOTA = 16 * 1024 * 1024;
let c: TestCluster;
let st: StatusJson;

beforeAll(async () => {
  c = await testCluster();
  const text = readFileSync(c.config, 'utf8');
  if (!text.includes('etcd:\n  members:\n')) throw new Error('test/e2e/cluster.yaml has no `etcd:\\n  members:`');
  writeFileSync(c.config, text.replace('etcd:\n  members:\n', `etcd:\n  quota_backend_bytes: ${QUOTA}\n  members:\n`));
  const r = await runCli(['up', '--detach', ...c.flags], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`up failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  st = (await until('every node live with buckets', async () => {
    const s = await status(c);
    return s.nodes.every((n) => n.live && n.owned > 0) ? s : null;
  }, 60_000)).value;
}, 180_000);

afterAll(async () => {
  if (c) {
    await runCli(['down', ...c.flags], { timeoutMs: 60_000 });
    await removeTestCluster(c);
  }
}, 90_000);

it('an idle cluster adds at most 2 etcd revisions a minute', async () => {
  // Let start-up settle: the first load reports go out 5 s after each node starts.
  await sleep(10_000);
  const before = (await status(c)).etcd.revision!;
  await sleep(60_000);
  const after = (await status(c)).etcd.revision!;
  console.log(`idle cluster (3 nodes, 2 monitors): ${after - before} etcd revisions in 60 s (revision ${before} -> ${after})`);
  expect(after - before).toBeLessThanOrEqual(2);
}, 120_000);

it('status --json reports the revision, the compaction, every member size and no alarm', async () => {
  const s = await status(c);
  expect(s.etcd.revision).toBeGreaterThan(256);
  expect(s.etcd.compact_revision).toBeGreaterThanOrEqual(0);
  expect(s.etcd.compact_revision).toBeLessThanOrEqual(s.etcd.revision!);
  expect(s.etcd.alarms).toEqual([]);
  expect(s.etcd.advice).toEqual([]);
  expect(s.etcd.quota_backend_bytes).toBe(QUOTA);
  expect(s.etcd.members.map((m) => m.name)).toEqual(['etcd-01', 'etcd-02', 'etcd-03']);
  for (const m of s.etcd.members) {
    expect(m.db_size_bytes).toBeGreaterThan(0);
    expect(m.db_size_in_use_bytes).toBeGreaterThan(0);
    expect(m.db_size_in_use_bytes!).toBeLessThanOrEqual(m.db_size_bytes!);
  }
  expect(s.etcd.members.filter((m) => m.is_leader)).toHaveLength(1);
});

it('reports NOSPACE with what to do, and recovers by compact, defrag and disarm to assign and serve again', async () => {
  const admin = adminToken(c);
  const base = await createBase(st.web.url, admin, 'before-nospace');
  const access = await appAccess(st.web.url, base.api_token);
  expect((await addTable(st.proxy.url, access, 'T')).status).toBe(200);
  expect((await appendRow(st.proxy.url, access, 'T', { Name: 'before' })).status).toBe(200);

  // Fill the quota with history of one key, as years of uncompacted writes would.
  const client = connectEtcd({ hostList: st.etcd.endpoints });
  try {
    const chunk = 'x'.repeat(1024 * 1024);
    let refused = '';
    for (let i = 0; i < 64 && !refused; i++) await client.put('e2e-filler').value(chunk).catch((err: Error) => (refused = err.message));
    expect(refused).toMatch(/database space exceeded/);
  } finally {
    client.close();
  }

  const full = await runCli(['status', '--json', ...c.flags]);
  expect(full.code).toBe(1);
  const s = JSON.parse(full.stdout) as StatusJson;
  expect(new Set(s.etcd.alarms.map((a) => a.alarm))).toEqual(new Set(['NOSPACE']));
  expect(s.etcd.advice.join('\n')).toMatch(/NOSPACE.*dtable-cluster etcd compact.*dtable-cluster etcd defrag.*dtable-cluster etcd disarm/s);
  const text = await runCli(['status', ...c.flags]);
  expect(text.stdout).toMatch(/^! etcd raised NOSPACE/m);
  // Writes fail meanwhile: a drain cannot even be requested.
  expect((await runCli(['drain', 'dtable-server-03', '--no-wait', ...c.flags])).code).not.toBe(0);

  const compact = await runCli(['etcd', 'compact', ...c.flags]);
  expect(compact.code, compact.stderr).toBe(0);
  const defrag = await runCli(['etcd', 'defrag', ...c.flags], { timeoutMs: 180_000 });
  expect(defrag.code, defrag.stderr).toBe(0);
  const steps = defrag.stdout.trim().split('\n');
  expect(steps).toHaveLength(3);
  expect(steps[2]).toMatch(/\(leader\)/);
  const disarm = await runCli(['etcd', 'disarm', ...c.flags]);
  expect(disarm.code, disarm.stderr).toBe(0);
  expect(disarm.stdout).toMatch(/disarmed NOSPACE/);

  const after = await status(c);
  expect(after.etcd.alarms).toEqual([]);
  for (const m of after.etcd.members) expect(m.db_size_bytes!).toBeLessThan(QUOTA / 2);

  // Assigns again: a drain moves every bucket off a node, and the base is served.
  const drain = await runCli(['drain', 'dtable-server-03', '--timeout', '60', ...c.flags], { timeoutMs: 90_000 });
  expect(drain.code, drain.stderr).toBe(0);
  expect((await appendRow(st.proxy.url, access, 'T', { Name: 'after' })).status).toBe(200);
  const rows = rowsOf(await listRows(st.proxy.url, access, 'T'));
  expect(rows.map((r) => r.Name)).toEqual(['before', 'after']);
  expect((await runCli(['drain', 'dtable-server-03', '--undo', ...c.flags])).code).toBe(0);
}, 300_000);
