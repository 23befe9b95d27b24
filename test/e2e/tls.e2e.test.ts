// End to end with cluster.yaml `etcd.tls` on: `up` generates the certificates, etcd requires a
// client certificate and each component runs with its own narrow etcd role. The key flows of
// cluster.e2e.test.ts (up, bases through the web role, seatable-api, kill -9 failover, down) plus
// what TLS and RBAC must refuse. The whole of cluster.e2e.test.ts runs with TLS too when
// DTABLE_E2E_ETCD_TLS=1.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd } from '../../runtime/cluster/etcd/client.ts';
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
  status,
  trimSlash,
  until,
  type AppAccess,
  type StatusJson,
} from './client.ts';

interface SeatableBase {
  dtableServer: string;
  auth(): Promise<void>;
  addTable(name: string, lang: string, columns: unknown[]): Promise<unknown>;
  appendRow(table: string, row: Record<string, unknown>): Promise<unknown>;
  listRows(table: string): Promise<unknown>;
}
const { Base } = createRequire(import.meta.url)('seatable-api') as { Base: new (config: { server: string; APIToken: string }) => SeatableBase };

const TABLE = 'Tasks';
let c: TestCluster;
let st: StatusJson;
let upOutput = '';
const pids = new Set<number>();
const remember = (s: StatusJson) => s.processes.forEach((p) => p.pid && pids.add(p.pid));
const tlsDir = () => join(c.runDir, 'tls');
const hostList = () => st.etcd.endpoints.map((u) => u.replace(/^https:\/\//, ''));
const nodeCert = (nodeId: string) => ({
  ca_file: join(tlsDir(), 'ca.pem'),
  cert_file: join(tlsDir(), `client-${nodeId}.pem`),
  key_file: join(tlsDir(), `client-${nodeId}-key.pem`),
});

beforeAll(async () => {
  c = await testCluster('', { tls: true });
  const t0 = performance.now();
  const r = await runCli(['up', '--detach', ...c.flags], { timeoutMs: 120_000 });
  upOutput = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`up failed (exit ${r.code}):\n${upOutput}`);
  console.log(`up with etcd.tls → ready: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  st = await status(c);
  remember(st);
}, 180_000);

afterAll(async () => {
  if (!c) return;
  await removeTestCluster(c);
}, 120_000);

describe.sequential('local cluster with etcd.tls', { timeout: 120_000 }, () => {
  it('comes up on https etcd URLs, and status (as root) shows all 256 buckets assigned 86/85/85', () => {
    expect(st.etcd.endpoints.every((u) => u.startsWith('https://'))).toBe(true);
    expect(st.etcd.healthy).toBe(true);
    expect(st.nodes.every((n) => n.live)).toBe(true);
    expect(st.nodes.map((n) => n.buckets).sort((a, b) => b - a)).toEqual([86, 85, 85]);
    expect(st.monitor.leader).toMatch(/^monitor-\d$/);
  });

  it('refuses an etcd client without a certificate', async () => {
    const certless = new Etcd3({
      hosts: st.etcd.endpoints,
      credentials: { rootCertificate: readFileSync(join(tlsDir(), 'ca.pem')) },
      dialTimeout: 2000,
      defaultCallOptions: () => ({ deadline: Date.now() + 3000 }),
    });
    try {
      await expect(certless.get('assign-00').string()).rejects.toThrow();
    } finally {
      certless.close();
    }
  });

  it("a node's certificate reads the assignment but cannot write an assign-<hh> key", async () => {
    const node = connectEtcd({ hostList: hostList(), tls: nodeCert('dtable-server-01') });
    try {
      const before = await node.get('assign-00').string();
      expect(before).toMatch(/^dtable-server-0\d$/);
      await expect(node.put('assign-00').value('dtable-server-01')).rejects.toThrow(/permission denied/);
      await expect(node.put('assign-ff').value('dtable-server-01')).rejects.toThrow(/permission denied/);
      expect(await node.get('assign-00').string()).toBe(before);
    } finally {
      node.close();
    }
  });

  it('answers rebalance --dry-run: the monitor may answer on the lease of the CLI (root) request', async () => {
    const r = await runCli(['rebalance', '--dry-run', '--json', ...c.flags]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { applied: boolean }).applied).toBe(false);
  });

  it("drains and undrains a node through the proxy admin API (POST /drain/, the proxy's own etcd role)", async () => {
    const drain = (body: object) =>
      fetch(`${st.proxy.admin_url}drain/`, { method: 'POST', headers: { authorization: `Token ${adminToken(c)}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const buckets = async (id: string) => (await status(c)).nodes.find((n) => n.node_id === id)?.buckets;
    const r = await drain({ node_id: 'dtable-server-02' });
    expect(r.status, await r.text()).toBe(200);
    await until('dtable-server-02 drained', async () => (await buckets('dtable-server-02')) === 0, 30_000, 200);
    expect((await drain({ node_id: 'dtable-server-02', undo: true })).status).toBe(200);
    // The node gets other buckets back than it had: later steps read the assignment afresh.
    const settled = await until(
      'balance 86/85/85 restored, every bucket owned by its assignee',
      async () => {
        const s = await status(c);
        return JSON.stringify(s.nodes.map((n) => n.buckets).sort((a, b) => b - a)) === '[86,85,85]' && s.nodes.every((n) => n.owned === n.buckets) ? s : null;
      },
      30_000,
      200,
    );
    st = settled.value;
    remember(st);
  });

  it('creates a base per node through the web role and runs the seatable-api flow', async () => {
    const bases = new Map<string, AppAccess>();
    for (let i = 0; bases.size < 3 && i < 60; i++) {
      const created = await createBase(st.web.url, adminToken(c), `tls base ${i}`);
      const owner = st.assignment!.buckets[bucketOf(created.dtable_uuid)]!;
      if (bases.has(owner)) continue;
      const access = await appAccess(st.web.url, created.api_token);
      expect((await addTable(st.proxy.url, access, TABLE)).status).toBe(200);
      const w = await appendRow(st.proxy.url, access, TABLE, { Name: `row on ${owner}` });
      expect(w.node).toBe(owner);
      bases.set(owner, access);
    }
    expect(bases.size).toBe(3);
    const created = await createBase(st.web.url, adminToken(c), 'seatable-api base');
    const base = new Base({ server: trimSlash(st.web.url), APIToken: created.api_token });
    await base.auth();
    await base.addTable('Contacts', 'en', [{ column_name: 'Name', column_type: 'text' }]);
    await base.appendRow('Contacts', { Name: 'Ada' });
    expect(((await base.listRows('Contacts')) as Array<{ Name: string }>).map((r) => r.Name)).toEqual(['Ada']);

    // kill -9 of the node owning the first base: it answers again from a survivor.
    const [, a] = [...bases.entries()][0]!;
    const victim = st.assignment!.buckets[bucketOf(a.dtable_uuid)]!;
    process.kill(pidOf(st, victim), 'SIGKILL');
    const back = await until(
      'base of the killed node served again',
      async () => {
        const r = await listRows(st.proxy.url, a, TABLE);
        return r.status === 200 ? r : null;
      },
      60_000,
      100,
    );
    console.log(`crash failover with etcd.tls: ${(back.ms / 1000).toFixed(2)} s`);
    expect(back.value.node).not.toBe(victim);
    expect(rowsOf(back.value).map((r) => r.Name)).toContain(`row on ${victim}`);
  });

  it('down stops everything: no process started by up remains', async () => {
    remember(await status(c));
    const r = await runCli(['down', ...c.flags]);
    expect(r.code).toBe(0);
    expect([...pids].filter(running)).toEqual([]);
    expect(processesMentioning(c.runDir)).toEqual([]);
  });
});
