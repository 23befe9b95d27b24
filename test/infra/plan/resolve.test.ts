// Plan resolution for the two targets.
import { describe, expect, it } from 'vitest';
import { loadClusterText } from '../../../infra/model/index.ts';
import { resolvePlan } from '../../../infra/plan/resolve.ts';
import { BASE } from '../model/invalid-cases.ts';

const model = (text = BASE) => loadClusterText(text, 'cluster.yaml').model;
const local = (text = BASE, runDir?: string) =>
  resolvePlan(model(text), { target: 'local', configDir: '/home/op/cluster', ...(runDir ? { runDir } : {}) });
const docker = (text = BASE) => resolvePlan(model(text), { target: 'docker', configDir: '/home/op/cluster' });

function allPorts(plan: ReturnType<typeof local>): number[] {
  return [
    ...plan.etcd.members.flatMap((m) => [m.clientPort, m.peerPort]),
    ...plan.nodes.map((n) => n.port),
    plan.proxy.port,
    plan.proxy.adminPort,
    ...plan.monitors.map((m) => m.metricsPort),
    plan.web.port,
  ];
}

describe('the local target', () => {
  it('puts every instance on 127.0.0.1', () => {
    const plan = local();
    const hosts = [...plan.etcd.members, ...plan.nodes, plan.proxy, ...plan.monitors, plan.web].map((i) => [i.host, i.listenHost]);
    expect(new Set(hosts.flat())).toEqual(new Set(['127.0.0.1']));
  });

  it('gives every instance a distinct port counted up from local.base_port', () => {
    const ports = allPorts(local());
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports).toEqual(Array.from({ length: ports.length }, (_, i) => 17000 + i));
  });

  it('keeps explicit local.ports and allocates around them', () => {
    const plan = local(`${BASE}local:\n  base_port: 20000\n  ports:\n    etcd-01.client: 20001\n`);
    expect(plan.etcd.members[0]).toMatchObject({ clientPort: 20001, peerPort: 20000 });
    expect(plan.etcd.members[1]?.clientPort).toBe(20002);
  });

  it('rewrites node_url and local_node_url to the local port', () => {
    const node = local().nodes[0]!;
    expect(node.nodeUrl).toBe(`http://127.0.0.1:${node.port}/`);
    expect(node.localNodeUrl).toBe(node.nodeUrl);
  });

  it('resolves the default run dir .run/<name> against the folder of cluster.yaml', () => {
    const plan = local();
    expect(plan.runDir).toBe('/home/op/cluster/.run/test');
    expect(plan.etcd.members[0]?.dataDir).toBe('/home/op/cluster/.run/test/data/etcd-01');
  });

  it('lets the caller override the run dir', () => {
    expect(local(BASE, '/srv/run').nodes[0]?.dataDir).toBe('/srv/run/data/dtable-server-01');
  });

  it('lists etcd members as 127.0.0.1:port in the host list', () => {
    const plan = local();
    expect(plan.etcd.hostList).toEqual(plan.etcd.members.map((m) => `127.0.0.1:${m.clientPort}`));
  });
});

describe('the docker target', () => {
  it('keeps hosts and URLs as written and listens on 0.0.0.0', () => {
    const plan = docker();
    expect(plan.etcd.hostList).toEqual(['etcd-01.example.com:2379', 'etcd-02.example.com:2379', 'etcd-03.example.com:2379']);
    expect(plan.nodes[1]).toMatchObject({
      nodeUrl: 'https://dtable-server-02.example.com/',
      localNodeUrl: 'http://10.0.0.2:5000/',
      host: '10.0.0.2',
      listenHost: '0.0.0.0',
      dockerHost: 'host-b',
    });
    expect(plan.proxy.url).toBe('http://proxy.example.com:5550/');
    expect(plan.proxy.adminUrl).toBe('http://proxy.example.com:5555/');
  });

  it('names data volumes after the cluster and the instance', () => {
    const plan = docker();
    expect(plan.etcd.members.map((m) => m.dataVolume)).toEqual(['test-etcd-01-data', 'test-etcd-02-data', 'test-etcd-03-data']);
    expect(plan.nodes[0]?.dataVolume).toBe('test-dtable-server-01-data');
    expect(plan.web.dataVolume).toBe('test-web-data');
    expect(plan.etcd.members[0]?.dataDir).toBe('/data');
  });

  it('places monitors and web beside the proxy unless told otherwise', () => {
    const plan = docker();
    expect(plan.monitors.map((m) => [m.name, m.dockerHost, m.host])).toEqual([['monitor-1', 'default', 'proxy.example.com']]);
    expect(plan.web).toMatchObject({ dockerHost: 'default', host: 'proxy.example.com', url: 'http://proxy.example.com:8000/' });
  });

  it('has no run dir', () => {
    expect(docker().runDir).toBe('');
  });
});

it('resolves the same model to the same plan every time', () => {
  expect(JSON.stringify(local())).toBe(JSON.stringify(local()));
});

describe('etcd.tls', () => {
  const TLS = BASE.replace('etcd:\n  members:\n', 'etcd:\n  tls: { enabled: true }\n  members:\n');

  it('is off by default: http URLs, no certificates, no metrics port', () => {
    const plan = local();
    expect(plan.etcd.tls).toBeNull();
    expect(plan.etcd.members.map((m) => [m.clientUrl.split(':')[0], m.metricsPort])).toEqual([['http', null], ['http', null], ['http', null]]);
  });

  it('gives https URLs and a distinct plain-http metrics port to every member', () => {
    const plan = local(TLS, '/run');
    expect(plan.etcd.members.every((m) => m.clientUrl.startsWith('https://') && m.peerUrl.startsWith('https://'))).toBe(true);
    const ports = [...allPorts(plan), ...plan.etcd.members.map((m) => m.metricsPort!)];
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('puts the local certificates under <runDir>/tls, one client certificate per etcd user', () => {
    const tls = local(TLS, '/run').etcd.tls!;
    expect(tls.dir).toBe('/run/tls');
    expect(tls.members['etcd-01']).toEqual({ ca_file: '/run/tls/ca.pem', cert_file: '/run/tls/etcd-etcd-01.pem', key_file: '/run/tls/etcd-etcd-01-key.pem' });
    expect(Object.keys(tls.clients)).toEqual(['root', 'dtable-server-01', 'dtable-server-02', 'dtable-cluster-monitor', 'dtable-cluster-proxy', 'dtable-cluster-web']);
    expect(tls.clients['dtable-server-01']!.cert_file).toBe('/run/tls/client-dtable-server-01.pem');
  });

  it('reads the certificates from the container certificate folder on docker', () => {
    const plan = docker(TLS);
    expect(plan.etcd.tls!.dir).toBe('/opt/dtable-cluster/tls');
    expect(plan.etcd.members[0]!.metricsPort).toBe(2381);
  });
});

describe('etcd maintenance settings', () => {
  it('default to periodic compaction keeping 5 minutes, a 2 GiB quota and auto defrag below half in use', () => {
    const { etcd } = docker();
    expect(etcd.compaction).toEqual({ mode: 'periodic', retention: '5m' });
    expect(etcd.quotaBackendBytes).toBe(2 * 1024 ** 3);
    expect(etcd.autoDefrag).toEqual({ enabled: true, inUseBelow: 0.5, minDbSizeBytes: 64 * 1024 ** 2, checkIntervalSeconds: 600 });
  });

  it('keep 10000 revisions by default in revision mode', () => {
    expect(docker(BASE.replace('etcd:\n', 'etcd:\n  compaction: { mode: revision }\n')).etcd.compaction).toEqual({ mode: 'revision', retention: '10000' });
  });

  it('take the retention as written', () => {
    expect(local(BASE.replace('etcd:\n', 'etcd:\n  compaction: { retention: 1h30m }\n')).etcd.compaction.retention).toBe('1h30m');
  });
});
