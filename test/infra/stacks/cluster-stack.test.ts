import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Testing } from 'cdktf';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { command as renderCommand } from '../../../infra/cli/commands/render.ts';
import { CONFIG_FILE_NAME, ETCDCTL_BIN, instancesOfPlan } from '../../../infra/stacks/containers.ts';
import { container, containers, fixturePath, fixtureText, snapshotJson, synthFixture, synthText, type Synthesized } from './synth.ts';

const RUNTIME_ROLES = ['monitor', 'proxy', 'node', 'web'] as const;

/** The string Terraform uploads for a literal from the JSON (`$${` and `%%{` are escapes). */
function asTerraformEvaluates(literal: string): string {
  return literal.replaceAll('$${', '${').replaceAll('%%{', '%{');
}

describe('single-host cluster', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthFixture('single-host.yaml');
  });

  it('matches the snapshot', () => {
    expect(snapshotJson(s)).toMatchSnapshot();
  });

  it('declares one docker provider, aliased by the host name', () => {
    expect(s.json.provider.docker).toEqual([{ alias: 'default', host: 'unix:///var/run/docker.sock' }]);
    expect(Testing.toHaveProviderWithProperties(s.text, DockerProvider.tfResourceType, { alias: 'default' })).toBe(true);
  });

  it('creates one network on the host, named after the cluster', () => {
    expect(s.json.resource['docker_network']).toEqual({
      network_default: expect.objectContaining({ name: 'solo', driver: 'bridge', provider: 'docker.default' }),
    });
  });

  it('creates one container per instance of the plan, named <cluster>-<instance>', () => {
    const expected = instancesOfPlan(s.plan).map((i) => i.name).sort();
    expect(Object.keys(containers(s)).sort()).toEqual(expected);
    expect(expected).toEqual([
      'dtable-server-01', 'dtable-server-02', 'dtable-server-03', 'dtable-server-proxy',
      'etcd-01', 'etcd-02', 'etcd-03', 'monitor-1', 'monitor-2', 'web',
    ]);
    for (const [name, c] of Object.entries(containers(s))) expect(c.name).toBe(`solo-${name}`);
  });

  it('joins every container to the network under its instance name and its unique host name', () => {
    for (const [name, c] of Object.entries(containers(s))) {
      expect(c.networks_advanced).toHaveLength(1);
      expect(c.networks_advanced[0]!.name).toBe('${docker_network.network_default.name}');
      expect(c.networks_advanced[0]!.aliases[0]).toBe(name);
    }
    expect(container(s, 'dtable-server-proxy').networks_advanced[0]!.aliases).toEqual(['dtable-server-proxy']);
    expect(container(s, 'web').networks_advanced[0]!.aliases).toEqual(['web']);
  });

  it('does not alias a host name that several instances share', () => {
    // Both monitors sit at host "monitor"; an alias would resolve to either of them.
    expect(container(s, 'monitor-1').networks_advanced[0]!.aliases).toEqual(['monitor-1']);
    expect(container(s, 'monitor-2').networks_advanced[0]!.aliases).toEqual(['monitor-2']);
  });

  it('starts each etcd member from the configured image with its rendered config file, publishing only its client port', () => {
    for (const m of s.plan.etcd.members) {
      const c = container(s, m.name);
      expect(c.image).toBe('${docker_image.etcd_image_default.image_id}');
      expect(c.command).toEqual(['/usr/local/bin/etcd', '--config-file', '/opt/dtable-cluster/conf/etcd.conf.yml']);
      expect(c.ports).toEqual([{ internal: m.clientPort, external: m.clientPort }]);
      expect(c.volumes).toEqual([{ volume_name: `\${docker_volume.${m.name}_data.name}`, container_path: '/data' }]);
      expect(c.restart).toBe('unless-stopped');
    }
    expect(s.json.resource['docker_image']!['etcd_image_default']).toMatchObject({
      name: 'quay.io/coreos/etcd:v3.5.17',
      keep_locally: true,
    });
  });

  it('renders each etcd member config with its name, initial cluster, token and max-txn-ops', () => {
    const content = container(s, 'etcd-02').upload[0]!.content;
    expect(content).toContain('name: "etcd-02"');
    expect(content).toContain('initial-cluster: "etcd-01=http://etcd-01:2380,etcd-02=http://etcd-02:2480,etcd-03=http://etcd-03:2580"');
    expect(content).toContain('initial-cluster-token: "solo-etcd"');
    expect(content).toContain('max-txn-ops: 1024');
    expect(content).toContain('data-dir: "/data"');
  });

  it('checks etcd health with etcdctl in exec form, which the shell-less etcd image can run', () => {
    expect(container(s, 'etcd-03').healthcheck).toEqual({
      test: ['CMD', ETCDCTL_BIN, '--endpoints=http://127.0.0.1:2579', 'endpoint', 'health'],
      interval: '10s',
      timeout: '5s',
      start_period: '30s',
      retries: 5,
    });
  });

  it('creates a named volume for each etcd member, node and the web role, and one for base storage', () => {
    const volumes = s.json.resource['docker_volume']!;
    expect(Object.fromEntries(Object.entries(volumes).map(([k, v]) => [k, v['name']]))).toEqual({
      'etcd-01_data': 'solo-etcd-01-data',
      'etcd-02_data': 'solo-etcd-02-data',
      'etcd-03_data': 'solo-etcd-03-data',
      'dtable-server-01_data': 'solo-dtable-server-01-data',
      'dtable-server-02_data': 'solo-dtable-server-02-data',
      'dtable-server-03_data': 'solo-dtable-server-03-data',
      web_data: 'solo-web-data',
      bases_default: 'solo-bases',
    });
  });

  it('mounts the host base storage volume in every runtime node at <data dir>/bases, inside its data volume', () => {
    for (const name of ['dtable-server-01', 'dtable-server-02']) {
      expect(container(s, name).volumes).toEqual([
        { volume_name: `\${docker_volume.${name}_data.name}`, container_path: '/data' },
        { volume_name: '${docker_volume.bases_default.name}', container_path: '/data/bases' },
      ]);
    }
    // A SeaTable image keeps bases its own way.
    expect(container(s, 'dtable-server-03').volumes).toEqual([
      { volume_name: '${docker_volume.dtable-server-03_data.name}', container_path: '/data' },
    ]);
  });

  it('builds the runtime image from the repository Dockerfile and runs every role from its image id', () => {
    expect(s.json.resource['docker_image']!['runtime_image_default']).toMatchObject({
      name: 'dtable-cluster:test',
      build: { context: '../../..', dockerfile: 'Dockerfile' },
      triggers: { source_hash: 'test-source-hash' },
      provider: 'docker.default',
    });
    for (const name of ['dtable-server-01', 'dtable-server-02', 'dtable-server-proxy', 'monitor-1', 'monitor-2', 'web']) {
      expect(container(s, name).image).toBe('${docker_image.runtime_image_default.image_id}');
    }
  });

  it.each(RUNTIME_ROLES)('starts the %s role with node --import tsx and the path of its uploaded config', (role) => {
    const instance = instancesOfPlan(s.plan).find((i) => i.kind === role && !(i.kind === 'node' && i.image))!;
    const c = container(s, instance.name);
    expect(c.command).toEqual(['node', '--import', 'tsx', `runtime/${role}/main.ts`, '--config', c.upload[0]!.file]);
  });

  it('publishes each role on its ports: nodes 5000+, proxy 5550 and 5555, monitors metrics, web 8000', () => {
    const ports = (name: string) => container(s, name).ports.map((p) => [p.internal, p.external]);
    expect(ports('dtable-server-01')).toEqual([[5000, 5000]]);
    expect(ports('dtable-server-02')).toEqual([[5001, 5001]]);
    expect(ports('dtable-server-proxy')).toEqual([[5550, 5550], [5555, 5555]]);
    expect(ports('monitor-1')).toEqual([[9105, 9105]]);
    expect(ports('monitor-2')).toEqual([[9106, 9106]]);
    expect(ports('web')).toEqual([[8000, 8000]]);
  });

  it('checks each runtime role with GET /health through node (the slim image has no curl), the proxy on its admin port', () => {
    const probe = (name: string) => container(s, name).healthcheck.test;
    expect(probe('dtable-server-01')).toEqual(['CMD', 'node', '-e', expect.stringContaining("fetch('http://127.0.0.1:5000/health')")]);
    expect(probe('dtable-server-proxy')[3]).toContain("fetch('http://127.0.0.1:5555/health')");
    expect(probe('monitor-2')[3]).toContain("fetch('http://127.0.0.1:9106/health')");
    expect(probe('web')[3]).toContain("fetch('http://127.0.0.1:8000/health')");
  });

  it('runs a node with an image override from that image, with its own command and a /ping/ healthcheck', () => {
    const c = container(s, 'dtable-server-03');
    expect(c.image).toBe('${docker_image.dtable-server-03_image.image_id}');
    expect(c.command).toBeUndefined();
    expect(c.healthcheck.test).toEqual(['CMD-SHELL', 'curl -fsS http://127.0.0.1:5002/ping/ || exit 1']);
    expect(c.upload.map((u) => u.file)).toEqual(['/shared/seatable/conf/dtable_server_config.json']);
    expect(s.json.resource['docker_image']!['dtable-server-03_image']).toMatchObject({
      name: 'seatable/seatable-enterprise:5.2.7',
      keep_locally: true,
    });
  });

  it('starts every non-etcd container only after all etcd members are created healthy', () => {
    const etcd = ['docker_container.etcd-01', 'docker_container.etcd-02', 'docker_container.etcd-03'];
    for (const [name, c] of Object.entries(containers(s))) {
      expect(c.wait).toBe(true);
      expect(c.restart).toBe('unless-stopped');
      expect(c.depends_on).toEqual(name.startsWith('etcd-') ? [] : etcd);
    }
  });

  it('gives each role exactly its environment: plain settings and the secrets it reads', () => {
    const env = (name: string) => [...container(s, name).env].sort();
    expect(env('etcd-01')).toEqual([]);
    expect(env('dtable-server-01')).toEqual(['DTABLE_PRIVATE_KEY=${var.dtable_private_key}', 'NODE_ENV=production']);
    expect(env('dtable-server-03')).toEqual(['DTABLE_PRIVATE_KEY=${var.dtable_private_key}']);
    expect(env('dtable-server-proxy')).toEqual([
      'DTABLE_ADMIN_TOKEN=${var.dtable_admin_token}',
      'NODE_ENV=production',
      'TIME_ZONE=Europe/Berlin',
      'TZ=Europe/Berlin',
    ]);
    expect(env('monitor-1')).toEqual(['NODE_ENV=production']);
    expect(env('web')).toEqual([
      'DTABLE_ADMIN_TOKEN=${var.dtable_admin_token}',
      'DTABLE_PRIVATE_KEY=${var.dtable_private_key}',
      'NODE_ENV=production',
    ]);
  });

  it('matches the toHaveResourceWithProperties matcher for a node container', () => {
    expect(
      Testing.toHaveResourceWithProperties(s.text, Container.tfResourceType, {
        name: 'solo-dtable-server-01',
        restart: 'unless-stopped',
        ports: [{ internal: 5000, external: 5000 }],
      }),
    ).toBe(true);
  });
});

describe('uploaded config files', () => {
  let out: string;
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'stacks-render-'));
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const f of ['single-host.yaml', 'three-host.yaml']) {
        expect(await renderCommand.run(['--config', fixturePath(f), '--out', join(out, f), '--target', 'docker'])).toBe(0);
      }
    } finally {
      write.mockRestore();
      warn.mockRestore();
    }
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it.each(['single-host.yaml', 'three-host.yaml'])(
    'equal the files `render --target docker` writes for %s, at the path each process reads',
    (fixture) => {
      const s = synthFixture(fixture);
      for (const instance of instancesOfPlan(s.plan)) {
        const rendered = s.files.find((f) => f.path === `${instance.name}/${CONFIG_FILE_NAME[instance.kind]}`)!;
        const c = container(s, instance.name);
        expect(c.upload.map((u) => ({ file: u.file, content: asTerraformEvaluates(u.content) }))).toEqual([
          { file: rendered.containerPath, content: readFileSync(join(out, fixture, rendered.path), 'utf8') },
        ]);
      }
    },
  );
});

describe('three-host cluster', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthFixture('three-host.yaml');
  });

  it('matches the snapshot', () => {
    expect(snapshotJson(s)).toMatchSnapshot();
  });

  it('declares one docker provider per host, aliased by name, at its ssh URL', () => {
    expect(s.json.provider.docker).toEqual([
      { alias: 'host-a', host: 'ssh://deploy@10.0.0.1' },
      { alias: 'host-b', host: 'ssh://deploy@10.0.0.2' },
      { alias: 'host-c', host: 'ssh://deploy@10.0.0.3' },
    ]);
  });

  it('creates the cluster network on every host', () => {
    const networks = s.json.resource['docker_network']!;
    expect(Object.keys(networks).sort()).toEqual(['network_host-a', 'network_host-b', 'network_host-c']);
    for (const h of ['a', 'b', 'c']) expect(networks[`network_host-${h}`]).toMatchObject({ name: 'trio', provider: `docker.host-${h}` });
  });

  it('places every container on its docker host, through that host provider and network', () => {
    const placement = Object.fromEntries(Object.entries(containers(s)).map(([n, c]) => [n, c.provider]));
    expect(placement).toEqual({
      'etcd-a': 'docker.host-a',
      'etcd-b': 'docker.host-b',
      'etcd-c': 'docker.host-c',
      'dtable-server-01': 'docker.host-a',
      'dtable-server-02': 'docker.host-b',
      'dtable-server-03': 'docker.host-c',
      'dtable-server-proxy': 'docker.host-a',
      'monitor-1': 'docker.host-a',
      web: 'docker.host-a',
      mariadb: 'docker.host-a',
    });
    for (const c of Object.values(containers(s))) {
      expect(c.networks_advanced[0]!.name).toBe(`\${docker_network.network_${c.provider.slice('docker.'.length)}.name}`);
    }
  });

  it('builds the runtime image and pulls the etcd image on each host that runs them', () => {
    expect(Object.keys(s.json.resource['docker_image']!).sort()).toEqual([
      'etcd_image_host-a', 'etcd_image_host-b', 'etcd_image_host-c', 'mariadb_image',
      'runtime_image_host-a', 'runtime_image_host-b', 'runtime_image_host-c',
    ]);
    expect(container(s, 'dtable-server-02').image).toBe('${docker_image.runtime_image_host-b.image_id}');
    expect(container(s, 'etcd-c').image).toBe('${docker_image.etcd_image_host-c.image_id}');
  });

  it('shares no base storage volume between hosts: the nodes keep bases in MariaDB', () => {
    const volumes = s.json.resource['docker_volume']!;
    expect(Object.keys(volumes).filter((k) => k.startsWith('bases_'))).toEqual([]);
    for (const n of ['dtable-server-01', 'dtable-server-02', 'dtable-server-03']) {
      expect(container(s, n).volumes).toEqual([{ volume_name: `\${docker_volume.${n}_data.name}`, container_path: '/data' }]);
    }
  });

  it('runs MariaDB on the docker host storage names, on a data volume, port published, with a healthcheck', () => {
    const db = container(s, 'mariadb');
    expect(db.name).toBe('trio-mariadb');
    expect(db.image).toBe('${docker_image.mariadb_image.image_id}');
    expect(s.json.resource['docker_image']!['mariadb_image']).toMatchObject({ name: 'mariadb:10.11', provider: 'docker.host-a' });
    expect(db.volumes).toEqual([{ volume_name: '${docker_volume.mariadb_data.name}', container_path: '/var/lib/mysql' }]);
    expect(s.json.resource['docker_volume']!['mariadb_data']).toMatchObject({ name: 'trio-mariadb-data', provider: 'docker.host-a' });
    expect(db.ports).toEqual([{ internal: 3306, external: 3306 }]);
    expect(db.command).toEqual(['--port=3306', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_bin', '--max-allowed-packet=256M']);
    expect(db.healthcheck).toMatchObject({ test: ['CMD', 'healthcheck.sh', '--connect', '--innodb_initialized'] });
    expect(db.wait).toBe(true);
  });

  it('passes the MariaDB password only as the sensitive variable, to MariaDB and to every node', () => {
    expect(s.json.variable['trio_storage_password']).toMatchObject({ sensitive: true, type: 'string' });
    expect(container(s, 'mariadb').env).toEqual(expect.arrayContaining(['MARIADB_DATABASE=dtable_bases', 'MARIADB_USER=dtable', 'MARIADB_PASSWORD=${var.trio_storage_password}']));
    for (const n of ['dtable-server-01', 'dtable-server-02', 'dtable-server-03']) {
      expect(container(s, n).env).toContain('TRIO_STORAGE_PASSWORD=${var.trio_storage_password}');
      const config = JSON.parse(container(s, n).upload[0]!.content) as { dtable_cluster: { storage: Record<string, unknown> } };
      expect(config.dtable_cluster.storage).toMatchObject({ kind: 'mariadb', host: '10.0.0.1', port: 3306, password_env: 'TRIO_STORAGE_PASSWORD' });
    }
    expect(container(s, 'web').env.join(' ')).not.toContain('storage_password');
  });

  it('starts the nodes only after MariaDB and etcd are healthy', () => {
    for (const n of ['dtable-server-01', 'dtable-server-02', 'dtable-server-03']) {
      expect(container(s, n).depends_on).toEqual(
        expect.arrayContaining(['docker_container.mariadb', 'docker_container.etcd-a', 'docker_container.etcd-b', 'docker_container.etcd-c']),
      );
    }
    expect(container(s, 'web').depends_on).not.toContain('docker_container.mariadb');
  });

  it('publishes etcd client and peer ports so members on other hosts reach each other', () => {
    expect(container(s, 'etcd-b').ports).toEqual([
      { internal: 2379, external: 2379 },
      { internal: 2380, external: 2380 },
    ]);
    expect(container(s, 'etcd-b').upload[0]!.content).toContain('advertise-client-urls: "http://10.0.0.2:2379"');
  });

  it('names the secret variables after the env vars cluster.yaml names', () => {
    expect(Object.keys(s.json.variable).sort()).toEqual(['trio_admin_token', 'trio_private_key', 'trio_storage_password']);
    expect(container(s, 'web').env).toEqual(
      expect.arrayContaining(['TRIO_PRIVATE_KEY=${var.trio_private_key}', 'TRIO_ADMIN_TOKEN=${var.trio_admin_token}']),
    );
  });
});

describe('prometheus.deploy', () => {
  it('deploys no Prometheus container without it: the rendered files go to an existing Prometheus', () => {
    for (const fixture of ['single-host.yaml', 'three-host.yaml']) {
      const s = synthFixture(fixture);
      expect(Object.keys(containers(s))).not.toContain('prometheus');
      expect(Object.keys(s.json.resource['docker_volume']!)).not.toContain('prometheus_data');
    }
  });

  describe('set on a host of a three-host cluster', () => {
    let s: Synthesized;
    beforeAll(() => {
      s = synthText(`${fixtureText('three-host.yaml')}prometheus:\n  deploy: { docker_host: host-c, host: 10.0.0.3 }\n`, 'three-host.yaml');
    });

    it('runs the Prometheus image on that host with its database on a volume and its port published', () => {
      const p = container(s, 'prometheus');
      expect(p).toMatchObject({ name: 'trio-prometheus', provider: 'docker.host-c', restart: 'unless-stopped', wait: true });
      expect(p.image).toBe('${docker_image.prometheus_image.image_id}');
      expect(s.json.resource['docker_image']!['prometheus_image']).toMatchObject({ name: 'prom/prometheus:v2.53.5', provider: 'docker.host-c' });
      expect(p.command).toEqual(['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--web.listen-address=:9090']);
      expect(p.ports).toEqual([{ internal: 9090, external: 9090 }]);
      expect(p.volumes).toEqual([{ volume_name: '${docker_volume.prometheus_data.name}', container_path: '/prometheus' }]);
      expect(s.json.resource['docker_volume']!['prometheus_data']).toMatchObject({ name: 'trio-prometheus-data', provider: 'docker.host-c' });
      expect(p.healthcheck.test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:9090/-/ready']);
    });

    it('uploads the rendered scrape config and alert rules, and the admin token only from its sensitive variable', () => {
      const p = container(s, 'prometheus');
      const rendered = Object.fromEntries(s.files.filter((f) => f.component === 'prometheus').map((f) => [f.containerPath, f.contents]));
      const uploads = Object.fromEntries(p.upload.map((u) => [u.file, u.content]));
      expect(Object.keys(uploads).sort()).toEqual(['/etc/prometheus/admin_token', '/etc/prometheus/alerts.yml', '/etc/prometheus/prometheus.yml']);
      expect(asTerraformEvaluates(uploads['/etc/prometheus/prometheus.yml']!)).toBe(rendered['/etc/prometheus/prometheus.yml']);
      // The rules' Prometheus templates ({{ $labels.x }}) pass through Terraform unchanged.
      expect(asTerraformEvaluates(uploads['/etc/prometheus/alerts.yml']!)).toBe(rendered['/etc/prometheus/alerts.yml']);
      expect(uploads['/etc/prometheus/admin_token']).toBe('${var.trio_admin_token}');
      expect(rendered['/etc/prometheus/prometheus.yml']).toContain('credentials_file: admin_token');
    });

    it('refuses a Prometheus port that another container publishes on the same host', () => {
      expect(() => synthText(`${fixtureText('three-host.yaml')}prometheus:\n  deploy: { docker_host: host-a, port: 5550 }\n`, 'three-host.yaml')).toThrow(/5550/);
    });
  });
});
