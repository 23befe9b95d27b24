// Checks across fields that a schema cannot express: uniqueness, references, port clashes, and
// warnings about legal but risky clusters. Pure; positions are attached by the loader.
import { ASSIGN_PREFIX, NODE_ID_PREFIX, OWN_PREFIX } from '../../runtime/cluster/keyspace.ts';
import { instancesOf, RESERVED_NAMES, type ModelInstance } from './instances.ts';
import type { ClusterModel } from './schema.ts';
import { DEFAULTS } from './schema.ts';
import { didYouMean } from './suggest.ts';

export interface PathIssue {
  readonly path: readonly PropertyKey[];
  /** Point at the key naming `path` rather than its value. */
  readonly at?: 'key' | 'value';
  readonly message: string;
  readonly hint?: string;
}

export function checkCluster(model: ClusterModel): { errors: PathIssue[]; warnings: PathIssue[] } {
  const errors: PathIssue[] = [];
  const warnings: PathIssue[] = [];
  const instances = instancesOf(model);

  checkNames(instances, errors);
  checkDockerHosts(model, instances, errors);
  checkPortClashes(model, instances, errors);
  checkUrls(model, errors);
  checkKeyPrefix(model, errors);
  checkLocalPorts(model, instances, errors);
  checkStorage(model, errors);

  const members = model.etcd.members.length;
  if (members % 2 === 0) {
    warnings.push({
      path: ['etcd', 'members'],
      at: 'key',
      message: `etcd has an even number of members (${members}); it tolerates no more failures than ${members - 1}`,
      hint: 'use an odd number of members: 3 tolerates one failure, 5 tolerates two',
    });
  }
  if (model.nodes.length < 2) {
    warnings.push({
      path: ['nodes'],
      at: 'key',
      message: `only ${model.nodes.length} dtable-server node; a cluster needs at least two to survive a node failure`,
    });
  }
  model.etcd.members.forEach((m, i) => {
    if (m.client_port !== DEFAULTS.etcdClientPort) {
      warnings.push({
        path: ['etcd', 'members', i, 'client_port'],
        message: `client port ${m.client_port} is not 2379: dtable-web's ETCD_SERVER_HOST_LIST is rendered with "${m.host}:${m.client_port}" for this member`,
        hint: "SeaTable's dtable-web passes each entry as a host to etcd3 (default port 2379); keep 2379 for a stock dtable-web",
      });
    }
  });
  return { errors, warnings };
}

function checkNames(instances: ModelInstance[], errors: PathIssue[]): void {
  const seen = new Map<string, ModelInstance>();
  for (const inst of instances) {
    // The Prometheus container's folder is the one it reads its rendered files from.
    if (inst.kind !== 'prometheus' && (RESERVED_NAMES as readonly string[]).includes(inst.name)) {
      errors.push({
        path: inst.namePath,
        message: `name "${inst.name}" is reserved for a rendered fragment folder`,
        hint: `choose another name than ${RESERVED_NAMES.join(' or ')}`,
      });
      continue;
    }
    const first = seen.get(inst.name);
    if (first && (inst.kind === 'monitor' || inst.kind === 'web')) {
      // Monitors and web have implied names; the clash is the explicitly named instance's.
      errors.push({
        path: first.namePath,
        message: `name "${inst.name}" is taken by the ${inst.kind === 'web' ? 'web lookup role' : 'monitor replica'} of the same name`,
        hint: 'monitor replicas are named monitor-1, monitor-2, ... and the web role is named web; choose another name',
      });
    } else if (first) {
      errors.push({
        path: inst.namePath,
        message: `duplicate name "${inst.name}" (already used by the ${first.kind} at ${pathText(first.namePath)})`,
        hint: 'every etcd member, node, proxy, monitor and web instance needs a unique name',
      });
    } else {
      seen.set(inst.name, inst);
    }
  }
}

function checkDockerHosts(model: ClusterModel, instances: ModelInstance[], errors: PathIssue[]): void {
  const known = Object.keys(model.docker_hosts);
  const reported = new Set<string>();
  for (const inst of instances) {
    if (isExternal(inst)) continue;
    const ref = inst.dockerHostRef;
    const refPath = inst.kind === 'monitor' && model.monitor.docker_host === undefined
      ? ['proxy', 'docker_host']
      : inst.kind === 'web' && model.web.docker_host === undefined
        ? ['proxy', 'docker_host']
        : [...inst.path, 'docker_host'];
    const key = pathText(refPath);
    if (reported.has(key)) continue;
    if (ref === null) {
      if (!known.includes(DEFAULTS.dockerHostName)) {
        reported.add(key);
        errors.push({
          path: inst.path,
          message: `${inst.name} has no docker_host and docker_hosts has no "${DEFAULTS.dockerHostName}" entry`,
          hint: `add docker_host: one of ${known.join(', ')}`,
        });
      }
    } else if (!known.includes(ref)) {
      reported.add(key);
      const suggestion = didYouMean(ref, known);
      errors.push({
        path: refPath,
        message: `unknown docker host "${ref}"`,
        hint: suggestion ? `did you mean "${suggestion}"? (docker_hosts: ${known.join(', ')})` : `docker_hosts defines: ${known.join(', ')}`,
      });
    }
  }
}

/** An external MariaDB server (no docker_host) runs on no docker host of ours: no host or port checks. */
function isExternal(inst: ModelInstance): boolean {
  return inst.kind === 'mariadb' && inst.dockerHostRef === null;
}

/**
 * Bases move between nodes with their buckets, so every node must reach the same storage. A
 * folder is shared only by containers of one Docker engine (docs/cluster-yaml.md, storage).
 */
function checkStorage(model: ClusterModel, errors: PathIssue[]): void {
  if (model.storage.kind === 'mariadb') {
    const st = model.storage;
    // Each secret is its own variable (a Terraform variable per name, docs/deploy.md).
    const others = [model.secrets.private_key_env, model.secrets.admin_token_env];
    if (others.includes(st.password_env)) {
      errors.push({
        path: ['storage', 'password_env'],
        at: 'value',
        message: `"${st.password_env}" already holds another secret of the cluster`,
        hint: 'name a variable of its own, e.g. DTABLE_STORAGE_PASSWORD',
      });
    }
    if (['mysql', 'information_schema', 'performance_schema', 'sys'].includes(st.database.toLowerCase())) {
      errors.push({ path: ['storage', 'database'], at: 'value', message: `"${st.database}" is a system database of MariaDB`, hint: 'name a database of its own, e.g. dtable_bases' });
    }
    return;
  }
  const hosts = [...new Set(model.nodes.map((n) => n.docker_host ?? DEFAULTS.dockerHostName))];
  if (hosts.length < 2) return;
  errors.push({
    path: ['nodes'],
    at: 'key',
    message: `nodes run on ${hosts.length} docker hosts (${hosts.join(', ')}) but storage is the filesystem, which only nodes of one host share: a bucket that moves to another host would find none of its bases`,
    hint: 'add `storage: {kind: mariadb, host: <server>, docker_host: <one of docker_hosts>}` (docs/cluster-yaml.md#storage), or put every node on one docker host',
  });
}

function dockerHostOf(inst: ModelInstance): string {
  return inst.dockerHostRef ?? DEFAULTS.dockerHostName;
}

function checkPortClashes(model: ClusterModel, instances: ModelInstance[], errors: PathIssue[]): void {
  // Ports are published on the Docker host and bound on the host address, so a clash on either
  // is a deployment that cannot start.
  const byDockerHost = new Map<string, { inst: ModelInstance; path: readonly PropertyKey[] }>();
  const byAddress = new Map<string, { inst: ModelInstance; path: readonly PropertyKey[] }>();
  const reported = new Set<string>();
  for (const inst of instances) {
    if (isExternal(inst)) continue;
    for (const slot of inst.ports) {
      const dockerKey = `${dockerHostOf(inst)}:${slot.port}`;
      const addrKey = `${inst.host.toLowerCase()}:${slot.port}`;
      const clash = byDockerHost.get(dockerKey) ?? byAddress.get(addrKey);
      const where = byDockerHost.has(dockerKey) ? `docker host "${dockerHostOf(inst)}"` : `host ${inst.host}`;
      if (clash && !reported.has(pathText(slot.path))) {
        reported.add(pathText(slot.path));
        errors.push({
          path: slot.path,
          message: `port ${slot.port} on ${where} is already used by ${clash.inst.name} (${pathText(clash.path)})`,
          hint: 'give one of them another port or put it on another docker host',
        });
      }
      if (!byDockerHost.has(dockerKey)) byDockerHost.set(dockerKey, { inst, path: slot.path });
      if (!byAddress.has(addrKey)) byAddress.set(addrKey, { inst, path: slot.path });
    }
  }
  void model;
}

function checkUrls(model: ClusterModel, errors: PathIssue[]): void {
  for (const field of ['node_url', 'local_node_url'] as const) {
    const seen = new Map<string, number>();
    model.nodes.forEach((n, i) => {
      const normal = new URL(n[field]).href.replace(/\/?$/, '/');
      const first = seen.get(normal);
      if (first !== undefined) {
        errors.push({
          path: ['nodes', i, field],
          message: `duplicate ${field} "${n[field]}" (also nodes[${first}].${field})`,
          hint: 'each node needs its own address; buckets are routed by it',
        });
      } else {
        seen.set(normal, i);
      }
    });
  }
}

function checkKeyPrefix(model: ClusterModel, errors: PathIssue[]): void {
  const p = model.key_prefix;
  for (const reserved of [NODE_ID_PREFIX, ASSIGN_PREFIX, OWN_PREFIX]) {
    if (p.startsWith(reserved)) {
      errors.push({
        path: ['key_prefix'],
        message: `key_prefix must not start with "${reserved}" (it would overlap the cluster's own keys)`,
        hint: 'use a prefix like "prod/" or leave it empty for SeaTable compatibility',
      });
    }
  }
}

function checkLocalPorts(model: ClusterModel, instances: ModelInstance[], errors: PathIssue[]): void {
  const slots = instances.flatMap((i) => i.ports.map((s) => s.slot));
  const used = new Map<number, string>();
  for (const [slot, port] of Object.entries(model.local.ports)) {
    if (!slots.includes(slot)) {
      const suggestion = didYouMean(slot, slots);
      errors.push({
        path: ['local', 'ports', slot],
        at: 'key',
        message: `local.ports: unknown port slot "${slot}"`,
        hint: suggestion ? `did you mean "${suggestion}"?` : `slots are <instance>.<role>: ${slots.join(', ')}`,
      });
      continue;
    }
    const first = used.get(port);
    if (first !== undefined) {
      errors.push({
        path: ['local', 'ports', slot],
        message: `local port ${port} is already used by ${first}`,
        hint: 'every local port must be distinct (all processes share 127.0.0.1)',
      });
    } else {
      used.set(port, slot);
    }
  }
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}
