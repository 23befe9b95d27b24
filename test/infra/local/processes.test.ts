// The launcher's process list, from the resolved local plan of the e2e cluster.yaml. Pure.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClusterFile } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import { renderPlan } from '../../../infra/render/render.ts';
import { launchSpecs, stagesOf } from '../../../infra/local/processes.ts';
import { runDirLayout } from '../../../infra/local/run-dir.ts';

const CONFIG = join(import.meta.dirname, '..', '..', 'e2e', 'cluster.yaml');

function specs() {
  const { model } = loadClusterFile(CONFIG);
  const plan = resolvePlan(model, { target: 'local', configDir: '/repo', runDir: '/run/e2e' });
  const layout = runDirLayout(plan.runDir);
  return { plan, specs: launchSpecs(plan, renderPlan(plan), { configDir: layout.configDir, logDir: layout.logDir, repoRoot: '/repo', nodeBin: '/usr/bin/node', etcdBin: '/usr/bin/etcd' }) };
}

describe('launchSpecs', () => {
  it('starts etcd, then the nodes, proxy and web role together, then the monitors', () => {
    const stages = stagesOf(specs().specs).map((s) => s.map((p) => p.name));
    expect(stages).toEqual([
      ['etcd-01', 'etcd-02', 'etcd-03'],
      ['dtable-server-01', 'dtable-server-02', 'dtable-server-03', 'dtable-server-proxy', 'web'],
      ['monitor-1', 'monitor-2'],
    ]);
  });

  it('runs etcd from its rendered config file and each runtime role from its own', () => {
    const { specs: all } = specs();
    const etcd = all.find((s) => s.name === 'etcd-02')!;
    expect([etcd.command, ...etcd.args]).toEqual(['/usr/bin/etcd', '--config-file', '/run/e2e/conf/etcd-02/etcd.conf.yml']);
    const node = all.find((s) => s.name === 'dtable-server-01')!;
    expect([node.command, ...node.args]).toEqual([
      '/usr/bin/node', '--import', 'tsx', '/repo/runtime/node/main.ts', '--config', '/run/e2e/conf/dtable-server-01/dtable_server_config.json',
    ]);
    expect(all.find((s) => s.kind === 'web')!.configFile).toBe('/run/e2e/conf/web/web.json');
    expect(all.find((s) => s.kind === 'proxy')!.configFile).toBe('/run/e2e/conf/dtable-server-proxy/dtable_server_config.json');
    expect(new Set(all.map((s) => s.logFile)).size).toBe(all.length);
  });

  it('checks health where each role serves it and claims every port of the plan under its local.ports slot', () => {
    const { plan, specs: all } = specs();
    expect(all.find((s) => s.kind === 'proxy')!.healthUrl).toBe(`http://127.0.0.1:${plan.proxy.adminPort}/health`);
    expect(all.find((s) => s.name === 'monitor-2')!.healthUrl).toBe(`http://127.0.0.1:${plan.monitors[1]!.metricsPort}/health`);
    expect(all.find((s) => s.name === 'etcd-01')!.healthUrl).toBe(`${plan.etcd.members[0]!.clientUrl}/health`);
    const claims = all.flatMap((s) => s.ports);
    expect(new Set(claims.map((c) => c.port)).size).toBe(claims.length);
    expect(claims.map((c) => c.slot)).toContain('dtable-server-proxy.admin');
    expect(claims.map((c) => c.slot)).toContain('etcd-03.peer');
  });

  it('points every node at the one local MariaDB under the run dir, since bases move with their buckets', () => {
    const { plan } = specs();
    const nodes = renderPlan(plan).filter((f) => f.component === 'node');
    expect(nodes).toHaveLength(3);
    const storages = nodes.map((f) => JSON.stringify((JSON.parse(f.contents) as { dtable_cluster: { storage: unknown } }).dtable_cluster.storage));
    expect(new Set(storages).size).toBe(1);
    expect(plan.storage.kind === 'mariadb' && plan.storage.server?.dataDir).toBe('/run/e2e/data/mariadb');
    expect(JSON.parse(storages[0]!)).toMatchObject({ kind: 'mariadb', host: '127.0.0.1', port: plan.storage.kind === 'mariadb' ? plan.storage.port : 0 });
  });
});
