// Loading cluster.yaml: the repo's file, defaults, warnings, several errors at once.
import { describe, expect, it } from 'vitest';
import { ClusterConfigError, DEFAULTS, formatIssue, loadClusterFile, loadClusterText } from '../../../infra/model/index.ts';
import { didYouMean } from '../../../infra/model/suggest.ts';
import { BASE } from './invalid-cases.ts';

const repoCluster = new URL('../../../cluster.yaml', import.meta.url).pathname;

function errorsOf(text: string): string[] {
  try {
    loadClusterText(text, 'cluster.yaml');
  } catch (err) {
    if (err instanceof ClusterConfigError) return err.issues.map((i) => formatIssue(i));
    throw err;
  }
  return [];
}

describe("the repository's cluster.yaml", () => {
  it('loads without warnings', () => {
    expect(loadClusterFile(repoCluster).warnings).toEqual([]);
  });

  it('describes the seed example: three etcd members, two nodes, one proxy', () => {
    const { model } = loadClusterFile(repoCluster);
    expect(model.etcd.members.map((m) => m.name)).toEqual(['etcd-01', 'etcd-02', 'etcd-03']);
    expect(model.nodes.map((n) => n.node_id)).toEqual(['dtable-server-01', 'dtable-server-02']);
    expect(model.proxy.host).toBe('dtable-server-proxy.example.com');
  });
});

it('fills documented defaults for omitted fields', () => {
  const { model } = loadClusterText(BASE, 'cluster.yaml');
  expect(model.key_prefix).toBe('');
  expect(model.lease_ttl).toBe(90);
  expect(model.secrets).toEqual({ private_key_env: 'DTABLE_PRIVATE_KEY', admin_token_env: 'DTABLE_ADMIN_TOKEN' });
  expect(model.etcd.members[0]).toMatchObject({ client_port: 2379, peer_port: 2380 });
  expect(model.nodes[0]).toMatchObject({ port: 5000, weight: 1 });
  expect(model.proxy).toMatchObject({ name: 'dtable-server-proxy', port: 5550, admin_port: 5555, time_zone: 'Etc/UTC' });
  expect(model.monitor.replicas).toBe(DEFAULTS.monitorReplicas);
  expect(model.web.port).toBe(8000);
  expect(model.local.base_port).toBe(DEFAULTS.localBasePort);
});

it('reports every error of a file at once, in file order', () => {
  const text = BASE.replace('name: test\n', 'name: test\nlease_ttl: 1\n').replace('host: proxy.example.com', 'host: "bad host"');
  expect(errorsOf(text)).toEqual([
    expect.stringMatching(/^cluster\.yaml:2:12: lease_ttl must be at least 5 seconds/),
    expect.stringMatching(/^cluster\.yaml:26:9: proxy\.host must be a host name/),
  ]);
});

describe('warnings', () => {
  it('warn about an even number of etcd members at the members key', () => {
    const text = BASE.replace(/    - name: etcd-03\n.*\n.*\n/, '');
    const { warnings } = loadClusterText(text, 'cluster.yaml');
    expect(warnings.map((w) => formatIssue(w, 'warning'))).toEqual([
      'cluster.yaml:7:3: warning: etcd has an even number of members (2); it tolerates no more failures than 1\n' +
        '  hint: use an odd number of members: 3 tolerates one failure, 5 tolerates two',
    ]);
  });

  it('warn about a cluster with fewer than two nodes', () => {
    const text = BASE.replace(/  - node_id: dtable-server-02\n(    .*\n)+/, '');
    const { warnings } = loadClusterText(text, 'cluster.yaml');
    expect(warnings.map((w) => formatIssue(w, 'warning'))).toEqual([
      'cluster.yaml:16:1: warning: only 1 dtable-server node; a cluster needs at least two to survive a node failure',
    ]);
  });

  it("warn that a client port other than 2379 is rendered as host:port for dtable-web", () => {
    const text = BASE.replace('      host: etcd-01.example.com\n', '      host: etcd-01.example.com\n      client_port: 2479\n');
    const { warnings } = loadClusterText(text, 'cluster.yaml');
    expect(warnings.map((w) => formatIssue(w))[0]).toMatch(
      /^cluster\.yaml:10:20: client port 2479 is not 2379: dtable-web's ETCD_SERVER_HOST_LIST is rendered with "etcd-01\.example\.com:2479"/,
    );
  });
});

it('a missing file is a user error naming the file', () => {
  expect(() => loadClusterFile('/nonexistent/cluster.yaml')).toThrow(/^\/nonexistent\/cluster\.yaml:1:1: file not found\n  hint: /);
});

describe('did you mean', () => {
  it('suggests the closest key within a few edits', () => {
    expect(didYouMean('lease_tll', ['name', 'lease_ttl', 'local'])).toBe('lease_ttl');
  });

  it('suggests nothing for an unrelated word', () => {
    expect(didYouMean('colour', ['name', 'lease_ttl', 'local'])).toBeNull();
  });
});
