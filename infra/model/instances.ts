// The component instances a model describes, in a fixed order, with the paths of their fields
// in cluster.yaml. Shared by the semantic checks and plan resolution. Pure.
import type { ClusterModel } from './schema.ts';

export type InstanceKind = 'etcd' | 'node' | 'proxy' | 'monitor' | 'web' | 'mariadb' | 'prometheus';

export interface PortSlot {
  /** `<instance>.<role>`: the key of `local.ports`. */
  readonly slot: string;
  readonly role: string;
  /** Port as written or defaulted (docker target). */
  readonly port: number;
  /** Where the port is set in cluster.yaml. */
  readonly path: readonly PropertyKey[];
}

export interface ModelInstance {
  readonly kind: InstanceKind;
  readonly name: string;
  /** Path of the instance's mapping in cluster.yaml. */
  readonly path: readonly PropertyKey[];
  /** Path of the field that names it. */
  readonly namePath: readonly PropertyKey[];
  /** Address as written (or defaulted) for the docker target. */
  readonly host: string;
  /** `docker_hosts` reference as written, or null for the default. */
  readonly dockerHostRef: string | null;
  readonly ports: readonly PortSlot[];
}

/** The Prometheus folder of the rendered files, and its container with `prometheus.deploy`. */
export const PROMETHEUS_NAME = 'prometheus';

/** Folder names of rendered files that are not instances (or not always). */
export const RESERVED_NAMES = ['dtable-web', 'dtable-db', PROMETHEUS_NAME] as const;

export const WEB_NAME = 'web';
/** The MariaDB server of `storage: {kind: mariadb}`: a container (docker_host) or `up`'s local server. */
export const MARIADB_NAME = 'mariadb';

export function monitorName(index: number): string {
  return `monitor-${index + 1}`;
}

export function nodeHost(node: ClusterModel['nodes'][number]): string {
  return node.host ?? new URL(node.local_node_url).hostname;
}

export function instancesOf(model: ClusterModel): ModelInstance[] {
  const out: ModelInstance[] = [];
  model.etcd.members.forEach((m, i) => {
    const path = ['etcd', 'members', i];
    out.push({
      kind: 'etcd',
      name: m.name,
      path,
      namePath: [...path, 'name'],
      host: m.host,
      dockerHostRef: m.docker_host ?? null,
      ports: [
        { slot: `${m.name}.client`, role: 'client', port: m.client_port, path: [...path, 'client_port'] },
        { slot: `${m.name}.peer`, role: 'peer', port: m.peer_port, path: [...path, 'peer_port'] },
        // With TLS, etcd's /health needs a client certificate; plain-http metrics serve it for health checks.
        ...(model.etcd.tls.enabled
          ? [{ slot: `${m.name}.metrics`, role: 'metrics', port: m.client_port + 2, path: [...path, 'client_port'] }]
          : []),
      ],
    });
  });
  model.nodes.forEach((n, i) => {
    const path = ['nodes', i];
    out.push({
      kind: 'node',
      name: n.node_id,
      path,
      namePath: [...path, 'node_id'],
      host: nodeHost(n),
      dockerHostRef: n.docker_host ?? null,
      ports: [{ slot: `${n.node_id}.http`, role: 'http', port: n.port, path: [...path, 'port'] }],
    });
  });
  const p = model.proxy;
  out.push({
    kind: 'proxy',
    name: p.name,
    path: ['proxy'],
    namePath: ['proxy', 'name'],
    host: p.host,
    dockerHostRef: p.docker_host ?? null,
    ports: [
      { slot: `${p.name}.http`, role: 'http', port: p.port, path: ['proxy', 'port'] },
      { slot: `${p.name}.admin`, role: 'admin', port: p.admin_port, path: ['proxy', 'admin_port'] },
    ],
  });
  for (let i = 0; i < model.monitor.replicas; i++) {
    const name = monitorName(i);
    out.push({
      kind: 'monitor',
      name,
      path: ['monitor'],
      namePath: ['monitor', 'replicas'],
      host: model.monitor.host ?? p.host,
      dockerHostRef: model.monitor.docker_host ?? p.docker_host ?? null,
      ports: [
        { slot: `${name}.metrics`, role: 'metrics', port: model.monitor.metrics_port + i, path: ['monitor', 'metrics_port'] },
      ],
    });
  }
  out.push({
    kind: 'web',
    name: WEB_NAME,
    path: ['web'],
    namePath: ['web'],
    host: model.web.host ?? p.host,
    dockerHostRef: model.web.docker_host ?? p.docker_host ?? null,
    ports: [{ slot: `${WEB_NAME}.http`, role: 'http', port: model.web.port, path: ['web', 'port'] }],
  });
  // Last, so adding MariaDB storage moves no local port of the other instances.
  const st = model.storage;
  if (st.kind === 'mariadb') {
    out.push({
      kind: 'mariadb',
      name: MARIADB_NAME,
      path: ['storage'],
      namePath: ['storage', 'kind'],
      host: st.host,
      dockerHostRef: st.docker_host ?? null,
      ports: [{ slot: `${MARIADB_NAME}.client`, role: 'client', port: st.port, path: ['storage', 'port'] }],
    });
  }
  // After MariaDB for the same reason.
  const pd = model.prometheus.deploy;
  if (pd) {
    const path = ['prometheus', 'deploy'];
    out.push({
      kind: 'prometheus',
      name: PROMETHEUS_NAME,
      path,
      namePath: path,
      host: pd.host ?? p.host,
      dockerHostRef: pd.docker_host,
      ports: [{ slot: `${PROMETHEUS_NAME}.http`, role: 'http', port: pd.port, path: [...path, 'port'] }],
    });
  }
  return out;
}
