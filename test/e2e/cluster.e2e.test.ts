// End to end: the whole local cluster driven the way an operator does it, through the CLI
// (`up`, `status --json`, `down`) and HTTP (web role, proxy, seatable-api), with real processes,
// real etcd and lease_ttl 5 s. The steps share one cluster and run in order.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, testCluster, type TestCluster } from './cli.ts';
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
  rowsOf,
  running,
  sleep,
  status,
  trimSlash,
  until,
  type AppAccess,
  type StatusJson,
} from './client.ts';

// seatable-api ships no types: the part of its Base the suite uses.
interface SeatableBase {
  dtableServer: string;
  auth(): Promise<void>;
  getMetadata(): Promise<unknown>;
  addTable(name: string, lang: string, columns: unknown[]): Promise<unknown>;
  appendRow(table: string, row: Record<string, unknown>): Promise<unknown>;
  batchAppendRows(table: string, rows: Array<Record<string, unknown>>): Promise<unknown>;
  updateRow(table: string, rowId: string, row: Record<string, unknown>): Promise<unknown>;
  deleteRow(table: string, rowId: string): Promise<unknown>;
  listRows(table: string): Promise<unknown>;
}
const { Base } = createRequire(import.meta.url)('seatable-api') as { Base: new (config: { server: string; APIToken: string }) => SeatableBase };

const LEASE_TTL_MS = 5000;
const TABLE = 'Tasks';

let c: TestCluster;
let st: StatusJson;
let upMs = 0;
let loadBefore = 0;
let upOutput = '';
/** One base per node, by the node owning its bucket at creation. */
const bases = new Map<string, AppAccess>();
/** The API token of each of those bases. */
const apiTokens = new Map<string, string>();
let crashed = '';
/** Every pid the cluster ever had, to check none survives `down`. */
const pids = new Set<number>();

const remember = (s: StatusJson) => s.processes.forEach((p) => p.pid && pids.add(p.pid));
const counts = (s: StatusJson) => s.nodes.map((n) => (n.live ? n.buckets : 0)).sort((a, b) => b - a);
const supervisorSignal = (s: StatusJson, sig: NodeJS.Signals) => process.kill(s.supervisor.pid!, sig);

async function readBack(a: AppAccess, server = st.proxy.url) {
  const r = await listRows(server, a, TABLE);
  if (r.status !== 200) throw new Error(`${r.status} from ${r.node ?? 'the proxy'}: ${JSON.stringify(r.body).slice(0, 200)}`);
  return r;
}

/** Restarts every exited component (SIGUSR2 to the supervisor) and waits until status shows them running. */
async function restartExited(names: string[]) {
  supervisorSignal(st, 'SIGUSR2');
  await until(
    `${names.join(', ')} running again`,
    async () => {
      const s = await status(c);
      remember(s);
      return names.every((n) => s.processes.find((p) => p.name === n)?.status === 'running') ? s : null;
    },
    60_000,
    200,
  );
}

async function balanced(): Promise<number> {
  const r = await until(
    'balance 86/85/85 restored',
    async () => {
      const s = await status(c);
      return JSON.stringify(counts(s)) === '[86,85,85]' && s.nodes.every((n) => n.owned === n.buckets) ? s : null;
    },
    60_000,
    200,
  );
  st = r.value;
  return r.ms;
}

beforeAll(async () => {
  // DTABLE_E2E_ETCD_TLS=1: the whole suite on etcd with TLS, client certificates and RBAC.
  c = await testCluster('', { tls: process.env.DTABLE_E2E_ETCD_TLS === '1' });
  loadBefore = loadavg()[0]!;
  const t0 = performance.now();
  const r = await runCli(['up', '--detach', ...c.flags], { timeoutMs: 120_000 });
  upMs = performance.now() - t0;
  upOutput = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`up failed (exit ${r.code}):\n${upOutput}`);
  st = await status(c);
  remember(st);
}, 180_000);

afterAll(async () => {
  if (!c) return;
  await removeTestCluster(c);
}, 120_000);

describe.sequential('local cluster end to end', { timeout: 150_000 }, () => {
  it('comes up within 15 s, shows progress per component and prints the endpoint table', () => {
    // 15 s on a machine of its own; start-up is CPU-bound, so a machine already busier than its
    // cores (parallel test files) gets proportionally longer.
    const busy = Math.max(1, loadBefore / cpus().length);
    console.log(`up → ready: ${(upMs / 1000).toFixed(1)} s (load ${loadBefore.toFixed(1)} on ${cpus().length} cores before up)`);
    expect(upMs).toBeLessThan(15_000 * busy);
    for (const name of ['etcd-01', 'etcd-02', 'etcd-03', 'monitor-1', 'dtable-server-01', 'dtable-server-proxy', 'web']) {
      expect(upOutput).toMatch(new RegExp(`✓ ${name}\\s+ready in`));
    }
    expect(upOutput).toContain('endpoints');
    expect(upOutput).toMatch(/dtable-server-01\s+http:\/\/127\.0\.0\.1:\d+\/\s+8[56] buckets/);
    expect(upOutput).toContain('admin token');
  });

  it('status --json names the private MariaDB that up started for the bases, answering on loopback', () => {
    expect(st.storage).toMatchObject({ kind: 'mariadb', database: 'dtable_bases', healthy: true });
    expect(st.storage.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('status --json reports every node live, all 256 buckets assigned 86/85/85, a monitor leader and healthy etcd', () => {
    expect(st.web.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(st.proxy.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(st.proxy.admin_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(st.etcd.endpoints).toHaveLength(3);
    expect(st.etcd.healthy).toBe(true);
    expect(st.nodes.map((n) => [n.node_id, n.live])).toEqual([
      ['dtable-server-01', true],
      ['dtable-server-02', true],
      ['dtable-server-03', true],
    ]);
    expect(counts(st)).toEqual([86, 85, 85]);
    expect(Object.keys(st.assignment!.buckets)).toHaveLength(256);
    expect(st.assignment!.epoch).toBeGreaterThan(0);
    expect(st.monitor.leader).toMatch(/^monitor-\d$/);
  });

  it('creates bases through the web role, each looked up to the node that owns its bucket', async () => {
    const admin = adminToken(c);
    for (let i = 0; bases.size < 3 && i < 60; i++) {
      const created = await createBase(st.web.url, admin, `e2e base ${i}`);
      const owner = st.assignment!.buckets[bucketOf(created.dtable_uuid)]!;
      if (bases.has(owner)) continue;
      const access = await appAccess(st.web.url, created.api_token);
      expect(access.dtable_uuid.replace(/-/g, '')).toBe(created.dtable_uuid.replace(/-/g, ''));
      expect(access.dtable_server).toBe(st.nodes.find((n) => n.node_id === owner)!.node_url);
      expect(access.dtable_socket).toBe(access.dtable_server);
      expect((await addTable(st.proxy.url, access, TABLE)).status).toBe(200);
      const w = await appendRow(st.proxy.url, access, TABLE, { Name: `row on ${owner}` });
      expect(w.status).toBe(200);
      expect(w.node).toBe(owner);
      bases.set(owner, access);
      apiTokens.set(owner, created.api_token);
    }
    expect([...bases.keys()].sort()).toEqual(['dtable-server-01', 'dtable-server-02', 'dtable-server-03']);
  });

  it('runs the seatable-api flow through the web role against the owning node', async () => {
    const created = await createBase(st.web.url, adminToken(c), 'seatable-api base');
    const base = new Base({ server: trimSlash(st.web.url), APIToken: created.api_token });
    await base.auth();
    expect(base.dtableServer).toBe(st.nodes.find((n) => n.node_id === st.assignment!.buckets[bucketOf(created.dtable_uuid)])!.node_url);
    await base.addTable('Contacts', 'en', [{ column_name: 'Name', column_type: 'text' }]);
    const meta = (await base.getMetadata()) as { tables: Array<{ name: string }> };
    expect(meta.tables.map((t) => t.name)).toContain('Contacts');
    const row = (await base.appendRow('Contacts', { Name: 'Ada' })) as { _id: string };
    await base.batchAppendRows('Contacts', [{ Name: 'Grace' }, { Name: 'Linus' }]);
    await base.updateRow('Contacts', row._id, { Name: 'Ada Lovelace' });
    const other = ((await base.listRows('Contacts')) as Array<{ _id: string; Name: string }>).find((r) => r.Name === 'Linus')!;
    await base.deleteRow('Contacts', other._id);
    const names = ((await base.listRows('Contacts')) as Array<{ Name: string }>).map((r) => r.Name).sort();
    expect(names).toEqual(['Ada Lovelace', 'Grace']);
  });

  it('rebalance --dry-run previews a plan without moving anything', async () => {
    const before = (await status(c)).assignment!.buckets;
    const r = await runCli(['rebalance', '--dry-run', '--json', ...c.flags]);
    expect(r.code, r.stderr).toBe(0);
    const planned = JSON.parse(r.stdout) as { applied: boolean; moves: unknown[]; before: { max: number }; after: { max: number } };
    expect(planned.applied).toBe(false);
    expect(Array.isArray(planned.moves)).toBe(true);
    expect(planned.after.max).toBeLessThanOrEqual(planned.before.max);
    expect((await status(c)).assignment!.buckets).toEqual(before);
  });

  it('drain moves every bucket off a node, its bases keep answering from the others, and --undo restores the balance', async () => {
    const drained = 'dtable-server-01';
    const r = await runCli(['drain', drained, ...c.flags]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/drained in \d+\.\d+s/);
    const s = await status(c);
    expect(s.nodes.find((n) => n.node_id === drained)!.buckets).toBe(0);
    expect(s.nodes.filter((n) => n.node_id !== drained).map((n) => n.buckets)).toEqual([128, 128]);
    for (const a of bases.values()) expect((await listRows(s.proxy.url, a, TABLE)).status).toBe(200);
    const undo = await runCli(['drain', drained, '--undo', ...c.flags]);
    expect(undo.code, undo.stderr).toBe(0);
    await balanced();
  });

  it('kill -9 of a node: its bases answer again from a survivor within lease_ttl plus a few seconds', async () => {
    // The base first created on dtable-server-02; kill whichever node owns it now.
    const a = bases.get('dtable-server-02')!;
    const victim = st.assignment!.buckets[bucketOf(a.dtable_uuid)]!;
    const t0 = performance.now();
    process.kill(pidOf(st, victim), 'SIGKILL');
    const back = await until('bases of the killed node served again', () => readBack(a), 60_000);
    const failoverMs = performance.now() - t0;
    console.log(`crash failover: ${(failoverMs / 1000).toFixed(2)} s (${(failoverMs / LEASE_TTL_MS).toFixed(2)} × lease_ttl)`);
    expect(back.value.node).not.toBe(victim);
    expect(rowsOf(back.value).map((r) => r.Name)).toContain('row on dtable-server-02');
    expect(failoverMs).toBeLessThan(LEASE_TTL_MS + 15_000);
    // The web role now sends browsers to the survivor too.
    const access = await appAccess(st.web.url, apiTokens.get('dtable-server-02')!);
    expect(access.dtable_server).toBe(st.nodes.find((n) => n.node_id === back.value.node)!.node_url);
    crashed = victim;
  });

  it('the crashed node, started again, gets its share back: balance 86/85/85 restored', async () => {
    await restartExited([crashed]);
    await balanced();
    expect(st.nodes.find((n) => n.node_id === crashed)!.buckets).toBeGreaterThanOrEqual(85);
  });

  it('SIGTERM of a node: its buckets move within seconds, with no failed request through the proxy', async () => {
    // The base first created on dtable-server-03; after the previous step's rebalancing, stop
    // whichever node owns it now.
    const a = bases.get('dtable-server-03')!;
    const victim = st.assignment!.buckets[bucketOf(a.dtable_uuid)]!;
    let failures = 0;
    let served = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const r = await listRows(st.proxy.url, a, TABLE).catch(() => null);
        if (r?.status === 200) served++;
        else failures++;
      }
    })();
    await sleep(300);
    const t0 = performance.now();
    process.kill(pidOf(st, victim), 'SIGTERM');
    const moved = await until(
      'buckets of the stopped node owned elsewhere',
      async () => {
        const r = await listRows(st.proxy.url, a, TABLE);
        return r.status === 200 && r.node && r.node !== victim ? r : null;
      },
      30_000,
      20,
    );
    const handoffMs = performance.now() - t0;
    await sleep(500);
    stop = true;
    await load;
    console.log(`graceful handoff: ${(handoffMs / 1000).toFixed(2)} s; ${served} requests served, ${failures} failed`);
    expect(failures).toBe(0);
    expect(handoffMs).toBeLessThan(10_000);
    expect(rowsOf(moved.value).map((r) => r.Name)).toContain('row on dtable-server-03');
    await restartExited([victim]);
    await balanced();
  });

  it('keeps serving reads and writes with 1 of 3 etcd members stopped, and the member rejoins', async () => {
    const a = bases.get('dtable-server-01')!;
    process.kill(pidOf(st, 'etcd-02'), 'SIGTERM');
    await until('etcd-02 down', async () => !(await status(c)).etcd.members[1]!.healthy, 20_000, 200);
    for (let i = 0; i < 10; i++) {
      expect((await appendRow(st.proxy.url, a, TABLE, { Name: `during etcd outage ${i}` })).status).toBe(200);
      expect((await listRows(st.proxy.url, a, TABLE)).status).toBe(200);
      await sleep(200);
    }
    const s = await status(c);
    expect(s.etcd.healthy).toBe(true);
    expect(s.nodes.every((n) => n.live)).toBe(true);
    await restartExited(['etcd-02']);
    await until('etcd-02 healthy', async () => (await status(c)).etcd.members[1]!.healthy, 30_000, 200);
  });

  it('restarting the proxy: it serves every base again once healthy', async () => {
    process.kill(pidOf(st, 'dtable-server-proxy'), 'SIGTERM');
    await until('proxy down', async () => !(await status(c)).proxy.healthy, 20_000, 200);
    await restartExited(['dtable-server-proxy']);
    for (const [owner, a] of bases) {
      const r = await listRows(st.proxy.url, a, TABLE);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.node).toBe(st.assignment!.buckets[bucketOf(a.dtable_uuid)] ?? owner);
    }
  });

  it('down stops everything: no process started by up remains', async () => {
    const r = await runCli(['down', ...c.flags]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stopped in');
    expect([...pids].filter(running)).toEqual([]);
    expect(processesMentioning(c.runDir)).toEqual([]);
  });

  it('a second up finds the data of the first, and Ctrl-C stops it leaving no process behind', async () => {
    const child = spawn(process.execPath, [(await import('./cli.ts')).CLI, 'up', ...c.flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until('second up ready', async () => out.includes('ready.'), 60_000, 100);
    st = await status(c);
    for (const [owner, a] of bases) {
      const r = await until(`base of ${owner} readable`, () => readBack(a), 20_000);
      expect(rowsOf(r.value).map((x) => x.Name)).toContain(`row on ${owner}`);
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('stopped; no process left running');
    expect(processesMentioning(c.runDir)).toEqual([]);
  });
});
