// The cluster of the multi-host suite: cluster.yaml rendered with `--target docker` (the files a
// deployment gets), data paths rewritten to a temp dir, every process started from its rendered
// file on its own namespace host (netns.ts): etcd e1..e3, nodes n1..n3, monitors m1..m2, proxy px.
// The test process reaches etcd over the control network and the proxy over the data network.
import { type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadPlan } from '../../infra/cli/options.ts';
import { renderPlan } from '../../infra/render/render.ts';
import { connectEtcd, type Etcd3 } from '../../runtime/cluster/etcd/client.ts';
import { signToken } from '../../runtime/node/auth/jwt.ts';
import { waitSettled } from '../faults/fault-cluster.ts';
import { killOnExit, RuntimeProcess } from '../harness/runtime-process.ts';
import { until } from '../harness/until.ts';
import { TestBed, type Net } from './netns.ts';

export const CLUSTER_YAML = resolve(import.meta.dirname, 'cluster.yaml');
export const PRIVATE_KEY = 'host-bed-private-key';
export const ADMIN_TOKEN = 'host-bed-admin-token';
const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';

/** Host name in the bed, last address octet and networks, per rendered instance. */
export const PLACEMENT: Record<string, { host: string; octet: number; nets: Net[] }> = {
  'etcd-01': { host: 'e1', octet: 11, nets: ['control'] },
  'etcd-02': { host: 'e2', octet: 12, nets: ['control'] },
  'etcd-03': { host: 'e3', octet: 13, nets: ['control'] },
  'dtable-server-01': { host: 'n1', octet: 21, nets: ['control', 'data'] },
  'dtable-server-02': { host: 'n2', octet: 22, nets: ['control', 'data'] },
  'dtable-server-03': { host: 'n3', octet: 23, nets: ['control', 'data'] },
  'monitor-1': { host: 'm1', octet: 31, nets: ['control'] },
  'monitor-2': { host: 'm2', octet: 32, nets: ['control'] },
  'dtable-server-proxy': { host: 'px', octet: 40, nets: ['control', 'data'] },
};

/** An etcd member on its host, from its rendered etcd.conf.yml. */
export class EtcdHostProcess {
  proc: ChildProcess | null = null;
  readonly logs: string[] = [];
  constructor(
    readonly bed: TestBed,
    readonly host: string,
    readonly configFile: string,
  ) {}

  start(): void {
    const p = this.bed.spawn(this.host, ETCD_BIN, ['--config-file', this.configFile]);
    killOnExit(p);
    const keep = (b: Buffer) => {
      this.logs.push(b.toString());
      if (this.logs.length > 400) this.logs.splice(0, 200);
    };
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    this.proc = p;
  }
}

export interface HostCluster {
  bed: TestBed;
  /** Observer client of the test process (control network). */
  client: Etcd3;
  etcd: EtcdHostProcess[];
  nodes: RuntimeProcess[];
  nodeIds: string[];
  monitors: RuntimeProcess[];
  proxy: RuntimeProcess;
  /** The proxy as clients see it (data network). */
  proxyUrl: string;
  proxyAdminUrl: string;
  /** Bed host of a rendered instance (`dtable-server-01` → `n1`). */
  hostOf(instance: string): string;
  monitorHealth(i: number): Promise<{ is_leader: boolean; leader: string | null; epoch: number } | null>;
  token(uuid: string): string;
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Render, rewrite data paths, build the bed and start every process; resolves once every bucket is owned. */
export async function startHostCluster(): Promise<HostCluster> {
  const bed = TestBed.create();
  const dir = mkdtempSync(join(tmpdir(), 'd13-hosts-'));
  let client: Etcd3 | null = null;
  const all: Array<{ proc: ChildProcess | null }> = [];
  const stop = async () => {
    client?.close();
    for (const p of all) p.proc?.kill('SIGKILL');
    bed.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const { plan } = loadPlan({ config: CLUSTER_YAML, target: 'docker' });
    const files = new Map<string, string>();
    for (const f of renderPlan(plan)) {
      const place = PLACEMENT[f.instance];
      if (!place) continue; // dtable-web, dtable-db fragments and web: not part of the bed
      let text = f.contents;
      const data = join(dir, f.instance, 'data');
      mkdirSync(data, { recursive: true });
      if (f.component === 'etcd') text = text.replace(/^data-dir: .*$/m, `data-dir: ${JSON.stringify(data)}`);
      if (f.component === 'node') {
        const c = JSON.parse(text) as { dtable_cluster: { data_dir: string; storage_dir: string } };
        // One disk for all nodes: the namespaces share the file system, as the fault suite does.
        c.dtable_cluster.data_dir = data;
        c.dtable_cluster.storage_dir = join(dir, 'shared-bases');
        text = JSON.stringify(c, null, 2);
      }
      const out = join(dir, f.path);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, text);
      files.set(f.path, out);
    }
    for (const [, p] of Object.entries(PLACEMENT)) bed.addHost(p.host, p.octet, p.nets);
    const ctl = (octet: number) => `10.13.1.${octet}`;
    const dat = (octet: number) => `10.13.2.${octet}`;

    const etcd = ['etcd-01', 'etcd-02', 'etcd-03'].map((m) => new EtcdHostProcess(bed, PLACEMENT[m]!.host, files.get(`${m}/etcd.conf.yml`)!));
    all.push(...etcd);
    for (const e of etcd) e.start();
    client = connectEtcd({ hostList: plan.etcd.hostList.map(String) });
    const c = client;
    await until('etcd serving on the control network', async () => (await c.put('hostbed/ready').value('1')) && true, 60_000, 200);

    const nodeIds = plan.nodes.map((n) => n.nodeId);
    const nodes = nodeIds.map((id) => {
      const p = PLACEMENT[id]!;
      const configFile = files.get(`${id}/dtable_server_config.json`)!;
      const port = (JSON.parse(readFileSync(configFile, 'utf8')) as { dtable_cluster: { listen: { port: number } } }).dtable_cluster.listen.port;
      return new RuntimeProcess({
        role: 'node',
        configFile,
        name: id,
        healthUrl: `http://${dat(p.octet)}:${port}/health`,
        env: { DTABLE_PRIVATE_KEY: PRIVATE_KEY },
        netns: bed.hosts.get(p.host)!.ns,
        probeTimeoutMs: 1000,
        logChunks: 600,
      });
    });
    all.push(...nodes);
    for (const n of nodes) n.start();
    await Promise.all(nodes.map((n) => n.ready()));

    const monitorPort = (m: string) => (JSON.parse(readFileSync(files.get(`${m}/monitor.json`)!, 'utf8')) as { metrics_listen: { port: number } }).metrics_listen.port;
    const monitorUrls = ['monitor-1', 'monitor-2'].map((m) => `http://${ctl(PLACEMENT[m]!.octet)}:${monitorPort(m)}`);
    const monitors = ['monitor-1', 'monitor-2'].map((m, i) => {
      const p = PLACEMENT[m]!;
      return new RuntimeProcess({
        role: 'monitor',
        configFile: files.get(`${m}/monitor.json`)!,
        name: m,
        healthUrl: `${monitorUrls[i]}/health`,
        netns: bed.hosts.get(p.host)!.ns,
        probeTimeoutMs: 1000,
        logChunks: 600,
      });
    });
    all.push(...monitors);
    for (const m of monitors) m.start();
    await Promise.all(monitors.map((m) => m.ready()));

    const px = PLACEMENT['dtable-server-proxy']!;
    const proxy = new RuntimeProcess({
      role: 'proxy',
      configFile: files.get('dtable-server-proxy/dtable_server_config.json')!,
      name: 'proxy',
      healthUrl: `http://${dat(px.octet)}:5555/health`,
      env: { DTABLE_ADMIN_TOKEN: ADMIN_TOKEN },
      netns: bed.hosts.get(px.host)!.ns,
      probeTimeoutMs: 1000,
      logChunks: 600,
    });
    all.push(proxy);
    const settled = (timeoutMs = 60_000) => waitSettled(c, timeoutMs, () => nodes.map((n) => `${n.configFile}: ${n.logs.join('').split('\n').slice(-5).join('\n')}`).join('\n'));
    await settled();
    proxy.start();
    await proxy.ready();
    return {
      bed,
      client: c,
      etcd,
      nodes,
      nodeIds,
      monitors,
      proxy,
      proxyUrl: `http://${dat(px.octet)}:5550`,
      proxyAdminUrl: `http://${dat(px.octet)}:5555`,
      hostOf: (instance) => PLACEMENT[instance]!.host,
      monitorHealth: async (i) => {
        try {
          const res = await fetch(`${monitorUrls[i]}/health`, { signal: AbortSignal.timeout(1000) });
          return (await res.json()) as { is_leader: boolean; leader: string | null; epoch: number };
        } catch {
          return null;
        }
      },
      token: (uuid) => signToken({ dtable_uuid: uuid, permission: 'rw', username: 'hosts@x', exp: Math.floor(Date.now() / 1000) + 3600 }, PRIVATE_KEY),
      settled,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
