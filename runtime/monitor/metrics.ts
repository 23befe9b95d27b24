// The monitor's Prometheus families, read from its state at scrape time by collect callbacks
// (runtime/metrics/registry.ts): leadership, buckets per node, reconciles, etcd storage.
import { Registry } from 'prom-client';
import { oncePerScrape, registerCollected, type CollectedFamilySpec, type Sample } from '../metrics/registry.ts';

export interface MonitorMetricsState {
  monitorId: string;
  isLeader: boolean;
  bucketsPerNode: ReadonlyMap<string, number>;
  movesTotal: number;
  reconcilesTotal: number;
  writesRejectedTotal: number;
  lastReconcileSeconds: number;
  epoch: number;
  liveNodes: number;
  /** assign-<hh> keys that are missing or name a node without a live registration. */
  bucketsUnassigned: number;
  /** Node registrations that appeared / vanished while this replica watched (either role), by node id. */
  nodeRegistrationsTotal: ReadonlyMap<string, number>;
  nodeDeparturesTotal: ReadonlyMap<string, number>;
  /** Node leases the lease check revoked, and suspects it spared because the node reported the lease valid (lease-expiry.ts); absent = 0. */
  leasesRevokedTotal?: number;
  leasesSparedTotal?: number;
  /** etcd storage as Maintenance.Status reports it; absent when etcd did not answer in time. */
  etcd?: MonitorEtcdMetrics;
}

export interface MonitorEtcdMetrics {
  revision: number;
  compactRevision: number;
  /** quota-backend-bytes as rendered; 0 = unknown. */
  quotaBackendBytes: number;
  members: ReadonlyArray<{ name: string; reachable: boolean; isLeader: boolean; dbSizeBytes: number; dbSizeInUseBytes: number }>;
  alarms: ReadonlyArray<{ member: string; alarm: string }>;
  /** Member defragmentations this replica ran (automatic defrag, as leader). */
  defragsTotal: number;
}

const byNode = (m: ReadonlyMap<string, number>): Sample[] => [...m].sort().map(([node_id, value]) => ({ labels: { node_id }, value }));

type Family = [name: string, type: CollectedFamilySpec['type'], help: string, samples: (s: MonitorMetricsState) => Sample[]];

/** Every family: name, type, help, and its samples from one state (the `monitor_id` label is added to each). */
const FAMILIES: Family[] = [
  ['dtable_cluster_monitor_is_leader', 'gauge', '1 when this replica is the monitor leader.', (s) => [{ value: s.isLeader ? 1 : 0 }]],
  [
    'dtable_cluster_buckets',
    'gauge',
    'Buckets assigned to each node (assign-<hh>).',
    (s) => [...s.bucketsPerNode].sort().map(([node_id, value]) => ({ labels: { node_id }, value })),
  ],
  ['dtable_cluster_bucket_moves_total', 'counter', 'Buckets this replica moved as leader.', (s) => [{ value: s.movesTotal }]],
  ['dtable_cluster_reconciles_total', 'counter', 'Reconcile passes this replica ran as leader.', (s) => [{ value: s.reconcilesTotal }]],
  [
    'dtable_cluster_assignment_writes_rejected_total',
    'counter',
    'Writes refused by etcd because leadership was lost.',
    (s) => [{ value: s.writesRejectedTotal }],
  ],
  [
    'dtable_cluster_last_reconcile_timestamp_seconds',
    'gauge',
    'Unix time of the last completed reconcile.',
    (s) => [{ value: s.lastReconcileSeconds }],
  ],
  ['dtable_cluster_assignment_epoch', 'gauge', 'Epoch of the assignment in etcd.', (s) => [{ value: s.epoch }]],
  ['dtable_cluster_live_nodes', 'gauge', 'Registered nodes with a valid registration.', (s) => [{ value: s.liveNodes }]],
  [
    'dtable_cluster_buckets_unassigned',
    'gauge',
    'Buckets whose assign-<hh> key is missing or names a node without a live registration (nobody serves them).',
    (s) => [{ value: s.bucketsUnassigned }],
  ],
  [
    'dtable_cluster_node_registrations_total',
    'counter',
    'Node registrations (dtable-server-NN keys on a lease) that appeared while this replica watched.',
    (s) => byNode(s.nodeRegistrationsTotal),
  ],
  [
    'dtable_cluster_node_departures_total',
    'counter',
    'Node registrations that vanished (lease expired or revoked, or key deleted) while this replica watched.',
    (s) => byNode(s.nodeDeparturesTotal),
  ],
  [
    'dtable_cluster_node_leases_revoked_total',
    'counter',
    'Node leases this replica revoked as leader because etcd kept renewing them through its leader changes with no keepalive seen.',
    (s) => [{ value: s.leasesRevokedTotal ?? 0 }],
  ],
  [
    'dtable_cluster_node_leases_spared_total',
    'counter',
    'Node leases the TTL readings suspected that this replica kept because their node reported them valid (GET /lease).',
    (s) => [{ value: s.leasesSparedTotal ?? 0 }],
  ],
  ...etcdFamilies(),
];

/** The etcd families: no samples while etcd did not answer (absent, not zero). */
function etcdFamilies(): Family[] {
  const f = (name: string, type: Family[1], help: string, samples: (e: MonitorEtcdMetrics) => Sample[]): Family => [
    name,
    type,
    help,
    (s) => (s.etcd ? samples(s.etcd) : []),
  ];
  const up = (e: MonitorEtcdMetrics) => e.members.filter((x) => x.reachable);
  return [
    f('dtable_cluster_etcd_revision', 'gauge', 'Current revision of the etcd key-value store.', (e) => [{ value: e.revision }]),
    f('dtable_cluster_etcd_compact_revision', 'gauge', 'Revision of the last etcd compaction (0 = never).', (e) => [{ value: e.compactRevision }]),
    f('dtable_cluster_etcd_quota_backend_bytes', 'gauge', 'etcd quota-backend-bytes: above it etcd raises NOSPACE.', (e) => [{ value: e.quotaBackendBytes }]),
    f('dtable_cluster_etcd_db_size_bytes', 'gauge', 'Size of each etcd member database file.', (e) =>
      up(e).map((x) => ({ labels: { member: x.name }, value: x.dbSizeBytes })),
    ),
    f('dtable_cluster_etcd_db_size_in_use_bytes', 'gauge', 'Bytes of each etcd member database in use (the rest a defrag frees).', (e) =>
      up(e).map((x) => ({ labels: { member: x.name }, value: x.dbSizeInUseBytes })),
    ),
    f('dtable_cluster_etcd_member_up', 'gauge', '1 when the etcd member answers Maintenance.Status.', (e) =>
      e.members.map((x) => ({ labels: { member: x.name }, value: x.reachable ? 1 : 0 })),
    ),
    f('dtable_cluster_etcd_is_leader', 'gauge', '1 for the etcd member that leads.', (e) =>
      up(e).map((x) => ({ labels: { member: x.name }, value: x.isLeader ? 1 : 0 })),
    ),
    f('dtable_cluster_etcd_alarm', 'gauge', '1 per raised etcd alarm (NOSPACE: writes are refused; see docs/operations.md).', (e) =>
      ['NOSPACE', 'CORRUPT'].map((alarm) => ({ labels: { alarm }, value: e.alarms.some((x) => x.alarm === alarm) ? 1 : 0 })),
    ),
    f('dtable_cluster_etcd_defrags_total', 'counter', 'etcd member defragmentations this replica ran.', (e) => [{ value: e.defragsTotal }]),
  ];
}

/**
 * Registers the monitor's families in `registry`. `read` gives the state at scrape time; it is
 * called once per scrape however many families there are (it may query etcd).
 */
export function registerMonitorMetrics(registry: Registry, read: () => Promise<MonitorMetricsState>): void {
  const state = oncePerScrape(read);
  for (const [name, type, help, samples] of FAMILIES) {
    registerCollected(registry, {
      name,
      type,
      help,
      collect: async () => {
        const s = await state();
        return samples(s).map((x) => ({ ...x, labels: { monitor_id: s.monitorId, ...x.labels } }));
      },
    });
  }
}

/** Text exposition (format 0.0.4) of the monitor's families for one state, without process metrics. */
export function renderMetrics(s: MonitorMetricsState): Promise<string> {
  const registry = new Registry();
  registerMonitorMetrics(registry, async () => s);
  return registry.metrics();
}
