// cluster.yaml model → resolved Plan for one target. Pure: no I/O, the same input gives the same
// plan (paths are resolved against the given configDir only).
import { isAbsolute, join, resolve } from 'node:path';
import { instancesOf, MARIADB_NAME, monitorName, nodeHost, PROMETHEUS_NAME, WEB_NAME } from '../model/instances.ts';
import { DEFAULTS, type ClusterModel } from '../model/schema.ts';
import { MONITOR_USER, PROXY_USER, ROOT_USER, WEB_USER } from '../../runtime/cluster/access-policy.ts';
import type { EtcdMemberPlan, EtcdTlsPlan, MonitorPlan, NodePlan, Plan, ProxyPlan, StoragePlan, Target, TlsFiles, WebPlan } from './types.ts';

export interface ResolveOptions {
  readonly target: Target;
  /** Folder of cluster.yaml; relative paths in it (local.run_dir) are resolved against it. */
  readonly configDir: string;
  /** Overrides `local.run_dir` (local target). */
  readonly runDir?: string;
}

export const LOOPBACK = '127.0.0.1';
/** Where every runtime container keeps its data (docker target). */
export const CONTAINER_DATA_DIR = '/data';
/** Name of the single pseudo docker host of the local target. */
export const LOCAL_DOCKER_HOST = 'local';
/** Where the certificates are mounted in every container (docker target, etcd.tls). */
export const CONTAINER_TLS_DIR = '/opt/dtable-cluster/tls';

/** The time series database in the official Prometheus image (its default --storage.tsdb.path). */
export const CONTAINER_PROMETHEUS_DATA_DIR = '/prometheus';

/** The MariaDB datadir in the official image (docker target). */
export const CONTAINER_MARIADB_DATA_DIR = '/var/lib/mysql';

/** Thrown when the local target runs out of ports above `local.base_port`. */
export class PlanError extends Error {
  override name = 'PlanError';
}

export function resolvePlan(model: ClusterModel, options: ResolveOptions): Plan {
  const local = options.target === 'local';
  const runDir = local ? resolveRunDir(model, options) : '';
  const ports = local ? allocateLocalPorts(model) : dockerPorts(model);
  const port = (slot: string): number => {
    const p = ports.get(slot);
    if (p === undefined) throw new Error(`no port for slot ${slot}`);
    return p;
  };

  const common = (name: string, dockerHostRef: string | undefined, dataVolume: string | undefined | null) => ({
    name,
    dockerHost: local ? LOCAL_DOCKER_HOST : (dockerHostRef ?? DEFAULTS.dockerHostName),
    listenHost: local ? LOOPBACK : '0.0.0.0',
    dataDir: local ? join(runDir, 'data', name) : CONTAINER_DATA_DIR,
    dataVolume: local || dataVolume === null ? '' : (dataVolume ?? `${model.name}-${name}-data`),
  });

  const tlsOn = model.etcd.tls.enabled;
  const scheme = tlsOn ? 'https' : 'http';
  const members: EtcdMemberPlan[] = model.etcd.members.map((m) => {
    const host = local ? LOOPBACK : m.host;
    const clientPort = port(`${m.name}.client`);
    const peerPort = port(`${m.name}.peer`);
    return {
      kind: 'etcd',
      ...common(m.name, m.docker_host, m.data_volume),
      host,
      clientPort,
      peerPort,
      clientUrl: `${scheme}://${host}:${clientPort}`,
      peerUrl: `${scheme}://${host}:${peerPort}`,
      metricsPort: tlsOn ? port(`${m.name}.metrics`) : null,
    };
  });

  const nodes: NodePlan[] = model.nodes.map((n) => {
    const p = port(`${n.node_id}.http`);
    const localUrl = `http://${LOOPBACK}:${p}/`;
    return {
      kind: 'node',
      ...common(n.node_id, n.docker_host, n.data_volume),
      nodeId: n.node_id,
      nodeUrl: local ? localUrl : n.node_url,
      localNodeUrl: local ? localUrl : n.local_node_url,
      host: local ? LOOPBACK : nodeHost(n),
      port: p,
      weight: n.weight,
      image: n.image ?? null,
      storageDir: model.storage.kind !== 'filesystem' ? '' : local ? join(runDir, 'data', 'shared-bases') : `${CONTAINER_DATA_DIR}/bases`,
    };
  });

  const pm = model.proxy;
  const proxyHost = local ? LOOPBACK : pm.host;
  const proxyPort = port(`${pm.name}.http`);
  const adminPort = port(`${pm.name}.admin`);
  const proxy: ProxyPlan = {
    kind: 'proxy',
    ...common(pm.name, pm.docker_host, null),
    host: proxyHost,
    port: proxyPort,
    adminPort,
    timeZone: pm.time_zone,
    image: pm.image ?? null,
    url: `http://${proxyHost}:${proxyPort}/`,
    adminUrl: `http://${proxyHost}:${adminPort}/`,
    retryDeadlineMs: pm.retry_deadline_ms,
  };

  const mm = model.monitor;
  const monitors: MonitorPlan[] = Array.from({ length: mm.replicas }, (_, i) => {
    const name = monitorName(i);
    return {
      kind: 'monitor',
      ...common(name, mm.docker_host ?? pm.docker_host, null),
      monitorId: name,
      host: local ? LOOPBACK : (mm.host ?? pm.host),
      debounceMs: mm.debounce_ms,
      reconcileIntervalMs: mm.reconcile_interval_ms,
      electionTtl: mm.election_ttl,
      rebalanceMoveBudget: mm.rebalance_move_budget,
      metricsPort: port(`${name}.metrics`),
    };
  });

  const wm = model.web;
  const webHost = local ? LOOPBACK : (wm.host ?? pm.host);
  const webPort = port(`${WEB_NAME}.http`);
  const web: WebPlan = {
    kind: 'web',
    ...common(WEB_NAME, wm.docker_host ?? pm.docker_host, wm.data_volume),
    host: webHost,
    port: webPort,
    url: local || !wm.url ? `http://${webHost}:${webPort}/` : wm.url,
  };

  const st = model.storage;
  let storage: StoragePlan = { kind: 'filesystem' };
  if (st.kind === 'mariadb') {
    const p = port(`${MARIADB_NAME}.client`);
    const runsHere = local || st.docker_host !== undefined;
    storage = {
      kind: 'mariadb',
      host: local ? LOOPBACK : st.host,
      port: p,
      database: st.database,
      user: st.user,
      passwordEnv: st.password_env,
      poolSize: st.pool_size,
      snapshotEvery: st.snapshot_every,
      server: runsHere
        ? {
            name: MARIADB_NAME,
            dockerHost: local ? LOCAL_DOCKER_HOST : st.docker_host!,
            listenHost: local ? LOOPBACK : '0.0.0.0',
            port: p,
            dataDir: local ? join(runDir, 'data', MARIADB_NAME) : CONTAINER_MARIADB_DATA_DIR,
            dataVolume: local ? '' : (st.data_volume ?? `${model.name}-${MARIADB_NAME}-data`),
            image: st.image,
          }
        : null,
    };
  }

  return {
    target: options.target,
    name: model.name,
    keyPrefix: model.key_prefix,
    leaseTtl: model.lease_ttl,
    secrets: { privateKeyEnv: model.secrets.private_key_env, adminTokenEnv: model.secrets.admin_token_env },
    dockerHosts: local
      ? [{ name: LOCAL_DOCKER_HOST, url: '' }]
      : Object.entries(model.docker_hosts).map(([name, url]) => ({ name, url })),
    runtimeImage: model.runtime_image,
    runDir,
    etcd: {
      image: model.etcd.image,
      clusterToken: model.etcd.cluster_token ?? `${model.name}-etcd`,
      maxTxnOps: model.etcd.max_txn_ops,
      compaction: {
        mode: model.etcd.compaction.mode,
        retention: model.etcd.compaction.retention ?? DEFAULTS.compactionRetention[model.etcd.compaction.mode],
      },
      quotaBackendBytes: model.etcd.quota_backend_bytes,
      autoDefrag: {
        enabled: model.etcd.auto_defrag.enabled,
        inUseBelow: model.etcd.auto_defrag.in_use_below,
        minDbSizeBytes: model.etcd.auto_defrag.min_db_size_bytes,
        checkIntervalSeconds: model.etcd.auto_defrag.check_interval_seconds,
      },
      members,
      hostList: members.map((m) => `${m.host}:${m.clientPort}`),
      tls: tlsOn ? tlsPlan(local ? join(runDir, 'tls') : CONTAINER_TLS_DIR, members, nodes) : null,
    },
    storage,
    nodes,
    proxy,
    monitors,
    web,
    prometheus: {
      scrapeInterval: model.prometheus.scrape_interval,
      evaluationInterval: model.prometheus.evaluation_interval,
      etcdDbQuotaRatio: model.prometheus.etcd_db_quota_ratio,
      leaseChurn: { ...model.prometheus.lease_churn },
      alertFor: { ...model.prometheus.alert_for },
      server:
        !local && model.prometheus.deploy
          ? {
              name: PROMETHEUS_NAME,
              dockerHost: model.prometheus.deploy.docker_host,
              host: model.prometheus.deploy.host ?? pm.host,
              port: model.prometheus.deploy.port,
              image: model.prometheus.deploy.image,
              dataVolume: model.prometheus.deploy.data_volume ?? `${model.name}-${PROMETHEUS_NAME}-data`,
              dataDir: CONTAINER_PROMETHEUS_DATA_DIR,
            }
          : null,
    },
  };
}

/** Every etcd user of a plan: root, one per node, monitor, proxy, web (CN of its client certificate). */
export function etcdUsers(nodes: ReadonlyArray<Pick<NodePlan, 'nodeId'>>): string[] {
  return [ROOT_USER, ...nodes.map((n) => n.nodeId), MONITOR_USER, PROXY_USER, WEB_USER];
}

const certName = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/** Certificate file names, as infra/local/tls.ts writes them: `etcd-<member>.pem`, `client-<user>.pem`, `*-key.pem`. */
function tlsPlan(dir: string, members: readonly EtcdMemberPlan[], nodes: readonly NodePlan[]): EtcdTlsPlan {
  const files = (name: string): TlsFiles => ({
    ca_file: join(dir, 'ca.pem'),
    cert_file: join(dir, `${name}.pem`),
    key_file: join(dir, `${name}-key.pem`),
  });
  return {
    dir,
    members: Object.fromEntries(members.map((m) => [m.name, files(`etcd-${certName(m.name)}`)])),
    clients: Object.fromEntries(etcdUsers(nodes).map((u) => [u, files(`client-${certName(u)}`)])),
  };
}

function resolveRunDir(model: ClusterModel, options: ResolveOptions): string {
  const dir = options.runDir ?? model.local.run_dir ?? join('.run', model.name);
  return isAbsolute(dir) ? resolve(dir) : resolve(options.configDir, dir);
}

function dockerPorts(model: ClusterModel): Map<string, number> {
  const out = new Map<string, number>();
  for (const inst of instancesOf(model)) for (const s of inst.ports) out.set(s.slot, s.port);
  return out;
}

/**
 * Local ports: explicit `local.ports` first, then every other slot in instance order from
 * `local.base_port` upwards, skipping ports already taken. Deterministic; whether a port is free
 * on the machine is checked by the launcher, not here.
 */
export function allocateLocalPorts(model: ClusterModel): Map<string, number> {
  const explicit = model.local.ports;
  const taken = new Set(Object.values(explicit));
  const out = new Map<string, number>();
  let next = model.local.base_port;
  for (const inst of instancesOf(model)) {
    for (const s of inst.ports) {
      const fixed = explicit[s.slot];
      if (fixed !== undefined) {
        out.set(s.slot, fixed);
        continue;
      }
      while (taken.has(next)) next++;
      if (next > 65535) throw new PlanError(`local.base_port ${model.local.base_port} leaves too few ports for ${s.slot}`);
      out.set(s.slot, next);
      taken.add(next);
      next++;
    }
  }
  return out;
}
