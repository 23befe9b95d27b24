// What the local launcher runs, derived from the plan and its rendered files: one process per
// component instance, in start-up stages (etcd → monitor → nodes → proxy → web), each with its
// health URL, its ports and its log file. Pure: no I/O.
import { join } from 'node:path';
import type { ComponentKind, Plan, RenderedFile } from '../plan/types.ts';

export interface PortClaim {
  readonly host: string;
  readonly port: number;
  /** The `local.ports` slot that moves this port, e.g. `etcd-01.client`. */
  readonly slot: string;
}

export interface ProcessSpec {
  /** Instance name from the plan; also the log file's base name. */
  readonly name: string;
  readonly kind: ComponentKind;
  /** Start-up stage: lower starts first and stops last. */
  readonly stage: number;
  readonly command: string;
  readonly args: readonly string[];
  /** The rendered config file the process reads. */
  readonly configFile: string;
  /** GET returns 200 once the process is ready. */
  readonly healthUrl: string;
  readonly ports: readonly PortClaim[];
  readonly logFile: string;
  /** How long SIGTERM may take before the process group is killed. */
  readonly stopTimeoutMs: number;
}

export interface LaunchLayout {
  /** Where the rendered files were written (`<runDir>/config`). */
  readonly configDir: string;
  readonly logDir: string;
  /** Absolute path of the repository (cwd of the runtime processes). */
  readonly repoRoot: string;
  readonly nodeBin: string;
  readonly etcdBin: string;
}

/**
 * Start-up stage of each kind; a stage starts once every process of the previous one is healthy.
 * - etcd first: everything else needs it.
 * - nodes, proxy and web together: none depends on another to start (each follows etcd), and
 *   start-up is mostly CPU (loading modules), so overlapping them saves seconds on few cores.
 * - monitors last: a monitor that starts after every node has registered sees all of them at
 *   once, so it keeps the previous assignment (a second `up` moves nothing) or writes a balanced
 *   one in one epoch. A monitor started before the nodes would give every bucket to the first
 *   node that registers, then move most of them again.
 */
export const STAGE_OF: Readonly<Record<ComponentKind, number>> = { etcd: 0, node: 1, proxy: 1, web: 1, monitor: 2 };

/** Files each runtime role reads, by component kind and format (what the renderer emits). */
function configFileOf(files: readonly RenderedFile[], instance: string, kind: ComponentKind, configDir: string): string {
  const format = kind === 'etcd' ? 'yaml' : 'json';
  const file = files.find((f) => f.instance === instance && f.component === kind && f.format === format);
  if (!file) throw new Error(`no rendered ${format} config for ${kind} instance ${instance}`);
  return join(configDir, file.path);
}

const url = (host: string, port: number, path: string) => `http://${host}:${port}${path}`;

export function launchSpecs(plan: Plan, files: readonly RenderedFile[], layout: LaunchLayout): ProcessSpec[] {
  const runtime = (kind: Exclude<ComponentKind, 'etcd'>, name: string) => {
    const configFile = configFileOf(files, name, kind, layout.configDir);
    return {
      command: layout.nodeBin,
      args: ['--import', 'tsx', join(layout.repoRoot, 'runtime', kind, 'main.ts'), '--config', configFile],
      configFile,
      logFile: join(layout.logDir, `${name}.log`),
    };
  };
  const stage = (kind: ComponentKind) => STAGE_OF[kind];
  const specs: ProcessSpec[] = [];
  for (const m of plan.etcd.members) {
    const configFile = configFileOf(files, m.name, 'etcd', layout.configDir);
    specs.push({
      name: m.name,
      kind: 'etcd',
      stage: stage('etcd'),
      command: layout.etcdBin,
      args: ['--config-file', configFile],
      configFile,
      // With TLS, /health on the client URL needs a client certificate; the metrics URL serves it over plain http.
      healthUrl: m.metricsPort === null ? `${m.clientUrl.replace(/\/$/, '')}/health` : url(m.host, m.metricsPort, '/health'),
      ports: [
        { host: m.listenHost, port: m.clientPort, slot: `${m.name}.client` },
        { host: m.listenHost, port: m.peerPort, slot: `${m.name}.peer` },
        ...(m.metricsPort === null ? [] : [{ host: m.listenHost, port: m.metricsPort, slot: `${m.name}.metrics` }]),
      ],
      logFile: join(layout.logDir, `${m.name}.log`),
      stopTimeoutMs: 10_000,
    });
  }
  for (const m of plan.monitors) {
    specs.push({
      name: m.name,
      kind: 'monitor',
      stage: stage('monitor'),
      ...runtime('monitor', m.name),
      healthUrl: url(m.host, m.metricsPort, '/health'),
      ports: [{ host: m.listenHost, port: m.metricsPort, slot: `${m.name}.metrics` }],
      stopTimeoutMs: 5_000,
    });
  }
  for (const n of plan.nodes) {
    specs.push({
      name: n.name,
      kind: 'node',
      stage: stage('node'),
      ...runtime('node', n.name),
      healthUrl: url(n.host, n.port, '/health'),
      ports: [{ host: n.listenHost, port: n.port, slot: `${n.name}.http` }],
      // Nodes flush and hand their buckets off before exiting.
      stopTimeoutMs: 15_000,
    });
  }
  const p = plan.proxy;
  specs.push({
    name: p.name,
    kind: 'proxy',
    stage: stage('proxy'),
    ...runtime('proxy', p.name),
    healthUrl: url(p.host, p.adminPort, '/health'),
    ports: [
      { host: p.listenHost, port: p.port, slot: `${p.name}.http` },
      { host: p.listenHost, port: p.adminPort, slot: `${p.name}.admin` },
    ],
    stopTimeoutMs: 5_000,
  });
  const w = plan.web;
  specs.push({
    name: w.name,
    kind: 'web',
    stage: stage('web'),
    ...runtime('web', w.name),
    healthUrl: url(w.host, w.port, '/health'),
    ports: [{ host: w.listenHost, port: w.port, slot: `${w.name}.http` }],
    stopTimeoutMs: 5_000,
  });
  return specs.sort((a, b) => a.stage - b.stage);
}

/** Specs grouped by stage, in start-up order. */
export function stagesOf(specs: readonly ProcessSpec[]): ProcessSpec[][] {
  const byStage = new Map<number, ProcessSpec[]>();
  for (const s of specs) byStage.set(s.stage, [...(byStage.get(s.stage) ?? []), s]);
  return [...byStage.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
}
