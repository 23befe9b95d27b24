// Golden files: every rendered file of the repository's cluster.yaml, both targets.
// Regenerate after an intended change with UPDATE_GOLDEN=1 npx vitest run test/infra/render.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderPlan } from '../../../infra/render/render.ts';
import { repoPlan } from './fixtures.ts';

const GOLDEN = new URL('../__golden__/', import.meta.url).pathname;
const update = process.env.UPDATE_GOLDEN === '1';

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

function golden(path: string, contents: string): string {
  if (update) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, contents);
  }
  return readFileSync(path, 'utf8');
}

describe.each(['docker', 'local'] as const)('the %s target', (target) => {
  const files = renderPlan(repoPlan(target));
  const dir = join(GOLDEN, target);

  it('renders one file per component instance (docs/cluster-yaml.md, Rendered files)', () => {
    expect(files.map((f) => f.path)).toEqual([
      'etcd-01/etcd.conf.yml',
      'etcd-02/etcd.conf.yml',
      'etcd-03/etcd.conf.yml',
      'dtable-server-01/dtable_server_config.json',
      'dtable-server-02/dtable_server_config.json',
      'dtable-server-proxy/dtable_server_config.json',
      'dtable-server-proxy/docker-compose.yml',
      'monitor-1/monitor.json',
      'monitor-2/monitor.json',
      'web/web.json',
      'dtable-web/dtable_web_settings.py',
      'dtable-db/dtable-db.conf',
      'prometheus/prometheus.yml',
      'prometheus/alerts.yml',
    ]);
  });

  it.each(files.map((f) => [f.path, f] as const))('%s matches its golden file', (path, f) => {
    expect(f.contents).toBe(golden(join(dir, 'files', path), f.contents));
  });

  it('matches the golden manifest of components, formats and container paths', () => {
    const manifest = `${JSON.stringify(files.map(({ contents: _, ...meta }) => meta), null, 2)}\n`;
    expect(manifest).toBe(golden(join(dir, 'manifest.json'), manifest));
  });

  it('has no stale golden files', () => {
    expect(listFiles(join(dir, 'files'))).toEqual(files.map((f) => f.path).sort());
  });

  it('renders byte-identical output on a second run', () => {
    expect(renderPlan(repoPlan(target))).toEqual(files);
  });
});

// etcd.tls: the local target's files with certificates (etcd.conf.yml and each runtime config's `tls`).
describe('the local target with etcd.tls', () => {
  const files = renderPlan(repoPlan('local', { tls: true }));
  const dir = join(GOLDEN, 'local-tls');

  it.each(files.map((f) => [f.path, f] as const))('%s matches its golden file', (path, f) => {
    expect(f.contents).toBe(golden(join(dir, 'files', path), f.contents));
  });

  it('has no stale golden files', () => {
    expect(listFiles(join(dir, 'files'))).toEqual(files.map((f) => f.path).sort());
  });

  it('gives every runtime config the client certificate of its own etcd user', () => {
    const tlsOf = (path: string) => {
      const json = JSON.parse(files.find((f) => f.path === path)!.contents) as Record<string, { cert_file?: string; tls?: { cert_file: string } }>;
      return (json.tls ?? json.dtable_cluster!.tls)!.cert_file;
    };
    expect(tlsOf('dtable-server-01/dtable_server_config.json')).toMatch(/\/client-dtable-server-01\.pem$/);
    expect(tlsOf('dtable-server-proxy/dtable_server_config.json')).toMatch(/\/client-dtable-cluster-proxy\.pem$/);
    expect(tlsOf('monitor-1/monitor.json')).toMatch(/\/client-dtable-cluster-monitor\.pem$/);
    expect(tlsOf('web/web.json')).toMatch(/\/client-dtable-cluster-web\.pem$/);
  });
});
