// User errors of `up` and `down`, through the CLI: each is one clear message with a hint, and
// nothing is left running.
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureSecrets } from '../../../infra/local/secrets.ts';
import type { Plan } from '../../../infra/plan/types.ts';
import { runCli, testCluster, type TestCluster } from '../../e2e/cli.ts';

let cluster: TestCluster | null = null;
let server: Server | null = null;

afterEach(async () => {
  if (server) await new Promise((r) => server!.close(r));
  server = null;
  if (cluster) rmSync(cluster.dir, { recursive: true, force: true });
  cluster = null;
});

describe('dtable-cluster up: user errors', () => {
  it('names the Debian package when the etcd binary is missing', async () => {
    cluster = await testCluster();
    const r = await runCli(['up', ...cluster.flags], { env: { ETCD_BIN: '/nonexistent/etcd' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('etcd binary not found (looked for /nonexistent/etcd)');
    expect(r.stderr).toContain('etcd-server');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('names the port in use and the local: setting that moves it', async () => {
    cluster = await testCluster();
    const port = cluster.basePort; // the first slot: etcd-01's client port
    server = createServer();
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));
    const r = await runCli(['up', ...cluster.flags]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${port} on 127.0.0.1 (etcd-01, slot etcd-01.client) is already in use`);
    expect(r.stderr).toContain('local: { base_port: N }');
    expect(r.stderr).toContain('"etcd-01.client"');
  });

  it('refuses to start a second cluster in a run dir whose supervisor is alive', async () => {
    cluster = await testCluster();
    mkdirSync(cluster.runDir, { recursive: true });
    // This test process stands in for the running supervisor.
    writeFileSync(join(cluster.runDir, 'supervisor.pid'), `${process.pid}\n`);
    for (const extra of [[], ['--detach']]) {
      const r = await runCli(['up', ...cluster.flags, ...extra]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`a cluster is already running in ${cluster.runDir} (supervisor pid ${process.pid})`);
      expect(r.stderr).toContain('dtable-cluster down');
    }
  });

  it('down reports that nothing runs when no cluster was started', async () => {
    cluster = await testCluster();
    const r = await runCli(['down', ...cluster.flags]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`no cluster is running in ${cluster.runDir}`);
  });
});

describe('ensureSecrets', () => {
  const plan = { secrets: { privateKeyEnv: 'PK_TEST', adminTokenEnv: 'AT_TEST' }, storage: { kind: 'filesystem' } } as unknown as Plan;

  it('generates unset secrets once into a 0600 file and reuses them', async () => {
    cluster = await testCluster();
    const file = join(cluster.runDir, 'secrets.json');
    const a = ensureSecrets(plan, file, {});
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = ensureSecrets(plan, file, {});
    expect(b.privateKey).toBe(a.privateKey);
    expect(b.adminToken).toBe(a.adminToken);
    expect(a.env).toEqual({ PK_TEST: a.privateKey, AT_TEST: a.adminToken });
    expect(a.source).toEqual({ privateKey: 'run-dir', adminToken: 'run-dir' });
  });

  it('takes values from the environment variables the plan names', async () => {
    cluster = await testCluster();
    const s = ensureSecrets(plan, join(cluster.runDir, 'secrets.json'), { PK_TEST: 'k', AT_TEST: 't' });
    expect([s.privateKey, s.adminToken, s.source.privateKey]).toEqual(['k', 't', 'env']);
  });

  it('generates the MariaDB password of mariadb storage once, under the variable storage names', async () => {
    cluster = await testCluster();
    const file = join(cluster.runDir, 'secrets.json');
    const withDb = { ...plan, storage: { kind: 'mariadb', passwordEnv: 'DB_PASS_TEST' } } as unknown as Plan;
    const a = ensureSecrets(withDb, file, {});
    const b = ensureSecrets(withDb, file, {});
    expect(a.storagePassword).toMatch(/^[0-9a-f]{48}$/);
    expect(b.storagePassword).toBe(a.storagePassword);
    expect(a.env.DB_PASS_TEST).toBe(a.storagePassword);
    expect(ensureSecrets(withDb, file, { DB_PASS_TEST: 'from-env' }).storagePassword).toBe('from-env');
  });
});
