// cluster.yaml `storage` through the plan into the rendered node configs (docs/cluster-yaml.md, storage).
import { describe, expect, it } from 'vitest';
import { nodeConfigSchema } from '../../../runtime/config/files.ts';
import { loadClusterText } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import { renderPlan } from '../../../infra/render/index.ts';
import { BASE } from '../model/invalid-cases.ts';

const ONE_HOST = BASE.replace('    docker_host: host-b\nproxy:', '    port: 5001\nproxy:').replace('storage:\n  kind: mariadb\n  host: db.example.com\n', '');
const CONTAINER = BASE.replace('  host: db.example.com\n', '  host: db.example.com\n  docker_host: host-c\n  password_env: DB_PASS\n');

const plan = (text: string, target: 'local' | 'docker') => resolvePlan(loadClusterText(text, 'cluster.yaml').model, { target, configDir: '/home/op/cluster' });
const nodeConfigs = (p: ReturnType<typeof plan>) =>
  renderPlan(p)
    .filter((f) => f.component === 'node')
    .map((f) => nodeConfigSchema.parse(JSON.parse(f.contents)));

describe('storage in the plan and the node configs', () => {
  it('defaults to the filesystem and renders a shared storage_dir', () => {
    const p = plan(ONE_HOST, 'docker');
    expect(p.storage).toEqual({ kind: 'filesystem' });
    for (const c of nodeConfigs(p)) {
      expect(c.dtable_cluster.storage).toEqual({ kind: 'filesystem' });
      expect(c.dtable_cluster.storage_dir).toBe('/data/bases');
    }
  });

  it('renders where to reach MariaDB and the name of the password variable, never a password', () => {
    const p = plan(CONTAINER, 'docker');
    for (const c of nodeConfigs(p)) {
      expect(c.dtable_cluster.storage).toEqual({ kind: 'mariadb', host: 'db.example.com', port: 3306, database: 'dtable_bases', user: 'dtable', password_env: 'DB_PASS', pool_size: 4, snapshot_every: 1000 });
      expect(c.dtable_cluster.storage_dir).toBeUndefined();
    }
    expect(JSON.stringify(renderPlan(p))).not.toMatch(/password"\s*:/);
  });

  it('plans a MariaDB container on the docker host storage names, with a data volume', () => {
    const st = plan(CONTAINER, 'docker').storage;
    expect(st.kind === 'mariadb' && st.server).toEqual({ name: 'mariadb', dockerHost: 'host-c', listenHost: '0.0.0.0', port: 3306, dataDir: '/var/lib/mysql', dataVolume: 'test-mariadb-data', image: 'mariadb:10.11' });
  });

  it('plans no server for an external MariaDB', () => {
    const st = plan(BASE, 'docker').storage;
    expect(st.kind === 'mariadb' && st.server).toBeNull();
  });

  it('runs a local MariaDB for the local target on the port after every other instance, whatever host says', () => {
    const p = plan(BASE, 'local');
    const st = p.storage;
    if (st.kind !== 'mariadb' || !st.server) throw new Error('expected a local MariaDB server');
    const others = [...p.etcd.members.flatMap((m) => [m.clientPort, m.peerPort]), ...p.nodes.map((n) => n.port), p.proxy.port, p.proxy.adminPort, ...p.monitors.map((m) => m.metricsPort), p.web.port];
    expect(st.host).toBe('127.0.0.1');
    expect(st.port).toBe(Math.max(...others) + 1);
    expect(st.server.dataDir).toBe('/home/op/cluster/.run/test/data/mariadb');
    for (const c of nodeConfigs(p)) expect(c.dtable_cluster.storage).toMatchObject({ kind: 'mariadb', host: '127.0.0.1', port: st.port });
  });
});
