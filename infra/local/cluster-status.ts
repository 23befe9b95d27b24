// What `status` reports and `up` waits for: the cluster as etcd sees it (through the ClusterView
// adapter), the health of every process, and the supervisor's state. Reads only.
import { createConnection } from 'node:net';
import { BUCKETS } from '../../runtime/cluster/buckets.ts';
import { ROOT_USER } from '../../runtime/cluster/access-policy.ts';
import { connectEtcd, type Etcd3 } from '../../runtime/cluster/etcd/client.ts';
import { ClusterView } from '../../runtime/cluster/etcd/cluster-view.ts';
import { EtcdMaintenance } from '../../runtime/cluster/etcd/maintenance.ts';
import { keyspace } from '../../runtime/cluster/keyspace.ts';
import type { Plan } from '../plan/types.ts';
import { consoleUrl } from './endpoints.ts';
import { runningLocalMariadb } from './mariadb.ts';
import { readState, runningSupervisor, type ProcessState, type RunDirLayout } from './run-dir.ts';
import { probe } from './supervisor.ts';

export interface NodeStatus {
  node_id: string;
  node_url: string;
  local_node_url: string;
  /** Registered in etcd on a live lease. */
  live: boolean;
  /** Health endpoint answers 200. */
  healthy: boolean;
  /** Buckets assigned to it (`assign-<hh>`). */
  buckets: number;
  /** Buckets whose owner key it holds. */
  owned: number;
  weight: number;
  load: { bases: number; ops_per_sec: number; bytes: number } | null;
}

export interface EtcdMemberRow {
  name: string;
  client_url: string;
  /** etcd's /health answers true (false while any alarm is raised, in etcd 3.4). */
  healthy: boolean;
  /** Answers Maintenance.Status. */
  reachable: boolean;
  is_leader: boolean;
  /** Backend database file size, bytes. */
  db_size_bytes: number | null;
  /** Bytes of it in use; the rest is free space only a defrag returns to the file system. */
  db_size_in_use_bytes: number | null;
  revision: number | null;
}

export interface EtcdStatus {
  endpoints: string[];
  /** A majority of the members answers and agrees on a leader. */
  healthy: boolean;
  members: EtcdMemberRow[];
  leader: string | null;
  /** Current revision of the key-value store. */
  revision: number | null;
  /** Revision of the last compaction (0 = never). */
  compact_revision: number | null;
  /** Raised alarms: NOSPACE (a member's database exceeds the quota: writes fail) or CORRUPT. */
  alarms: Array<{ member: string; member_id: string; alarm: string }>;
  /** cluster.yaml etcd.quota_backend_bytes, as rendered. */
  quota_backend_bytes: number;
  /** What the operator should do, one sentence each (empty when nothing). */
  advice: string[];
}

/** The advice `status` gives for etcd's alarms and sizes (docs/operations.md). Pure. */
export function etcdAdvice(e: Pick<EtcdStatus, 'alarms' | 'members' | 'quota_backend_bytes'>): string[] {
  const out: string[] = [];
  const kinds = new Set(e.alarms.map((a) => a.alarm));
  if (kinds.has('NOSPACE')) {
    out.push(
      'etcd raised NOSPACE: a member database exceeds quota_backend_bytes and etcd refuses every write (nodes cannot take buckets, the monitor cannot assign). ' +
        'Recover with `npx dtable-cluster etcd compact`, then `npx dtable-cluster etcd defrag`, then `npx dtable-cluster etcd disarm` (docs/operations.md#nospace).',
    );
  }
  if (kinds.has('CORRUPT')) {
    out.push('etcd raised CORRUPT: members disagree on their data. Replace the corrupt member from a snapshot (docs/operations.md#replacing-a-failed-member).');
  }
  const full = e.members.filter((m) => (m.db_size_bytes ?? 0) > 0.8 * e.quota_backend_bytes);
  if (full.length > 0 && !kinds.has('NOSPACE')) {
    out.push(
      `etcd database of ${full.map((m) => m.name).join(', ')} is above 80% of quota_backend_bytes: run \`npx dtable-cluster etcd compact\` and \`npx dtable-cluster etcd defrag\` before NOSPACE stops all writes (docs/operations.md#nospace).`,
    );
  }
  return out;
}

export interface ClusterStatus {
  cluster: string;
  run_dir: string;
  supervisor: { pid: number | null; running: boolean; phase: string | null; ready_ms: number | null };
  web: { url: string; healthy: boolean };
  proxy: { url: string; admin_url: string; healthy: boolean };
  /** The operator console on the proxy admin port (docs/console.md). */
  console: { url: string };
  etcd: EtcdStatus;
  /** Base storage: the shared folder, or the MariaDB server (healthy: it accepts TCP connections). */
  storage: { kind: 'filesystem'; dir: string } | { kind: 'mariadb'; address: string; database: string; healthy: boolean };
  nodes: NodeStatus[];
  monitor: { leader: string | null; replicas: Array<{ monitor_id: string; healthy: boolean }> };
  assignment: AssignmentJson | null;
  processes: Array<{ name: string; kind: string; pid: number | null; status: string }>;
  /** Why the etcd part is missing, when it is. */
  error?: string;
}

/**
 * `status --json`'s assignment. `buckets` is a lookup map (bucket → node id); its keys do not come
 * out in bucket order (JSON.parse and JSON.stringify put integer-like keys such as "10" before
 * "0a"), so `by_bucket` lists all 256 buckets in order, node_id null when unassigned.
 */
export interface AssignmentJson {
  epoch: number | null;
  assigned: number;
  buckets: Record<string, string>;
  by_bucket: Array<{ bucket: string; node_id: string | null }>;
}

export function assignmentJson(assignment: ReadonlyArray<string | null>, epoch: number | null): AssignmentJson {
  const buckets: Record<string, string> = {};
  const byBucket = BUCKETS.map((bucket, i) => {
    const id = assignment[i] ?? null;
    if (id) buckets[bucket] = id;
    return { bucket, node_id: id };
  });
  return { epoch, assigned: Object.keys(buckets).length, buckets, by_bucket: byBucket };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e as Error);
      },
    );
  });

/** Whether host:port accepts a TCP connection within `timeoutMs`. */
function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Opens a ClusterView on the plan's etcd; the caller closes view and client. */
export async function openView(plan: Plan, timeoutMs = 5000): Promise<{ client: Etcd3; view: ClusterView }> {
  // With etcd TLS, the CLI (status, rebalance, drain, up's readiness wait) is root.
  const tls = plan.etcd.tls?.clients[ROOT_USER];
  const client = connectEtcd({ hostList: [...plan.etcd.hostList], callTimeoutMs: Math.min(timeoutMs, 3000), ...(tls ? { tls } : {}) });
  const view = new ClusterView(client, keyspace(plan.keyPrefix), { rereadIntervalMs: 60_000 });
  try {
    await withTimeout(view.start(), timeoutMs, 'etcd');
    return { client, view };
  } catch (err) {
    // The view's first read retries until stopped: a view given up on must be closed too, or its
    // retry timer keeps the process alive (closing the client alone does not end it).
    await closeView({ client, view });
    throw err;
  }
}

/**
 * Maintenance access to every member of the plan's etcd, one client per member (root with etcd
 * TLS). Calls may take minutes (a defrag of a large database); the caller closes it.
 */
export function etcdMaintenanceOf(plan: Plan, callTimeoutMs = 300_000): EtcdMaintenance {
  const tls = plan.etcd.tls?.clients[ROOT_USER];
  return new EtcdMaintenance({
    connect: (host) => connectEtcd({ hostList: [host], callTimeoutMs, ...(tls ? { tls } : {}) }),
    members: plan.etcd.members.map((m) => ({ name: m.name, host: `${m.host}:${m.clientPort}` })),
  });
}

export async function closeView(v: { client: Etcd3; view: ClusterView }): Promise<void> {
  await v.view.close().catch(() => undefined);
  v.client.close();
}

export function bucketCounts(assignment: ReadonlyArray<string | null>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of assignment) if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** The supervisor's children, after the local MariaDB `up` started for the bases (it is not the supervisor's child). */
function processRows(layout: RunDirLayout, children: readonly ProcessState[]): ClusterStatus['processes'] {
  const db = runningLocalMariadb(layout.root);
  return [
    ...(db === null ? [] : [{ name: 'mariadb', kind: 'mariadb', pid: db, status: 'running' }]),
    ...children.map((p) => ({ name: p.name, kind: p.kind, pid: p.pid, status: p.status })),
  ];
}

export async function collectStatus(plan: Plan, layout: RunDirLayout): Promise<ClusterStatus> {
  const state = readState(layout);
  const supPid = runningSupervisor(layout);
  const health = async (url: string) => probe(url, 1500);
  const st = plan.storage;
  const [webOk, proxyOk, etcdHealth, nodeHealth, monHealth, storageOk] = await Promise.all([
    health(plan.web.url.replace(/\/$/, '') + '/health'),
    health(`${plan.proxy.adminUrl.replace(/\/$/, '')}/health`),
    // With TLS, the plain-http metrics URL serves /health without a client certificate.
    Promise.all(plan.etcd.members.map((m) => health(m.metricsPort === null ? `${m.clientUrl}/health` : `http://${m.host}:${m.metricsPort}/health`))),
    Promise.all(plan.nodes.map((n) => health(`http://${n.host}:${n.port}/health`))),
    Promise.all(plan.monitors.map((m) => health(`http://${m.host}:${m.metricsPort}/health`))),
    st.kind === 'mariadb' ? tcpOpen(st.host, st.port, 1500) : Promise.resolve(true),
  ]);
  const status: ClusterStatus = {
    cluster: plan.name,
    run_dir: plan.runDir,
    supervisor: { pid: supPid, running: supPid !== null, phase: supPid !== null ? (state?.phase ?? null) : 'stopped', ready_ms: state?.readyMs ?? null },
    web: { url: plan.web.url, healthy: webOk },
    proxy: { url: plan.proxy.url, admin_url: plan.proxy.adminUrl, healthy: proxyOk },
    console: { url: consoleUrl(plan) },
    etcd: {
      endpoints: plan.etcd.members.map((m) => m.clientUrl),
      healthy: etcdHealth.filter(Boolean).length > plan.etcd.members.length / 2,
      members: plan.etcd.members.map((m, i) => ({
        name: m.name,
        client_url: m.clientUrl,
        healthy: etcdHealth[i]!,
        reachable: false,
        is_leader: false,
        db_size_bytes: null,
        db_size_in_use_bytes: null,
        revision: null,
      })),
      leader: null,
      revision: null,
      compact_revision: null,
      alarms: [],
      quota_backend_bytes: plan.etcd.quotaBackendBytes,
      advice: [],
    },
    storage:
      st.kind === 'mariadb'
        ? { kind: 'mariadb', address: `${st.host}:${st.port}`, database: st.database, healthy: storageOk }
        : { kind: 'filesystem', dir: plan.nodes[0]?.storageDir ?? '' },
    nodes: plan.nodes.map((n, i) => ({
      node_id: n.nodeId,
      node_url: n.nodeUrl,
      local_node_url: n.localNodeUrl,
      live: false,
      healthy: nodeHealth[i]!,
      buckets: 0,
      owned: 0,
      weight: n.weight,
      load: null,
    })),
    monitor: { leader: null, replicas: plan.monitors.map((m, i) => ({ monitor_id: m.monitorId, healthy: monHealth[i]! })) },
    assignment: null,
    processes: processRows(layout, supPid !== null ? (state?.processes ?? []) : []),
  };
  // etcd 3.4's /health is false while an alarm is raised, so quorum and alarms come from
  // Maintenance.Status of each member.
  await addEtcdMaintenance(status.etcd, plan);
  if (!status.etcd.healthy) {
    status.error =
      supPid === null
        ? `no cluster is running from ${layout.root} (no supervisor, and etcd does not answer): start one with bin/up or \`npx dtable-cluster up\``
        : 'etcd has no quorum (or is not running): cluster state unavailable';
    return status;
  }
  let v: Awaited<ReturnType<typeof openView>>;
  try {
    v = await openView(plan);
  } catch (err) {
    status.error = `cannot read the cluster from etcd: ${(err as Error).message}`;
    return status;
  }
  try {
    const { view } = v;
    const assignment = view.assignment();
    const counts = bucketCounts(assignment);
    const owned = new Map<string, number>();
    BUCKETS.forEach((b) => {
      const o = view.ownerOf(b);
      if (o) owned.set(o.nodeId, (owned.get(o.nodeId) ?? 0) + 1);
    });
    const live = view.nodes();
    const loads = view.loads();
    const rows = new Map(status.nodes.map((n) => [n.node_id, n]));
    // Registered nodes that are not in this plan are shown too: they take buckets all the same.
    for (const [id, reg] of live) {
      if (!rows.has(id)) {
        rows.set(id, { node_id: id, node_url: reg.node_url, local_node_url: reg.local_node_url, live: true, healthy: false, buckets: 0, owned: 0, weight: 1, load: null });
      }
    }
    for (const row of rows.values()) {
      const reg = live.get(row.node_id);
      row.live = reg !== undefined;
      if (reg) {
        row.node_url = reg.node_url;
        row.local_node_url = reg.local_node_url;
      }
      row.buckets = counts.get(row.node_id) ?? 0;
      row.owned = owned.get(row.node_id) ?? 0;
      row.weight = view.effectiveWeight(row.node_id);
      const load = loads.get(row.node_id);
      if (load) {
        const sum = { bases: 0, ops_per_sec: 0, bytes: 0 };
        for (const b of Object.values(load.buckets)) {
          sum.bases += b.bases;
          sum.ops_per_sec += b.ops_per_sec;
          sum.bytes += b.bytes;
        }
        row.load = sum;
      }
    }
    status.nodes = [...rows.values()];
    status.monitor.leader = view.leader();
    status.assignment = assignmentJson(assignment, view.epoch()?.epoch ?? null);
  } finally {
    await closeView(v);
  }
  return status;
}

async function addEtcdMaintenance(e: EtcdStatus, plan: Plan): Promise<void> {
  const m = etcdMaintenanceOf(plan, 3000);
  try {
    const r = await withTimeout(m.report(), 8000, 'etcd maintenance status');
    r.members.forEach((s, i) => {
      const row = e.members[i]!;
      row.reachable = s.reachable;
      row.is_leader = s.is_leader;
      if (s.reachable) {
        row.db_size_bytes = s.db_size_bytes;
        row.db_size_in_use_bytes = s.db_size_in_use_bytes;
        row.revision = s.revision;
      }
    });
    e.leader = r.leader;
    // With no member answering, the report's revision 0 is not a revision.
    if (r.members.some((s) => s.reachable)) {
      e.revision = r.revision;
      e.compact_revision = r.compact_revision;
    }
    e.alarms = r.alarms.map((a) => ({ member: a.member, member_id: a.member_id, alarm: a.alarm }));
    e.healthy = r.leader !== null && r.members.filter((s) => s.reachable).length > r.members.length / 2;
  } catch {
    // Unreachable: keep what /health said.
  } finally {
    m.close();
  }
  e.advice = etcdAdvice(e);
}

/**
 * Waits until all 256 buckets are assigned to registered nodes and every node of the plan has
 * some (the monitor assigns after its debounce). Returns buckets per node, or the last counts
 * seen when the timeout passes.
 */
export async function waitForAssignment(plan: Plan, timeoutMs: number): Promise<Map<string, number> | null> {
  let v: Awaited<ReturnType<typeof openView>>;
  try {
    v = await openView(plan);
  } catch {
    return null;
  }
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const assignment = v.view.assignment();
      const live = v.view.nodes();
      const counts = bucketCounts(assignment);
      const complete = assignment.every((id) => id !== null && live.has(id));
      const everyNode = plan.nodes.every((n) => (counts.get(n.nodeId) ?? 0) > 0 || v.view.effectiveWeight(n.nodeId) === 0);
      if ((complete && everyNode) || Date.now() > deadline) return counts;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await closeView(v);
  }
}
