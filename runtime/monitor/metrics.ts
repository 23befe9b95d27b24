// Prometheus text exposition of the monitor's state, written by hand (no client library needed
// for a handful of gauges and counters).
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

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderMetrics(s: MonitorMetricsState): string {
  const m = `monitor_id="${esc(s.monitorId)}"`;
  const lines = [
    '# HELP dtable_cluster_monitor_is_leader 1 when this replica is the monitor leader.',
    '# TYPE dtable_cluster_monitor_is_leader gauge',
    `dtable_cluster_monitor_is_leader{${m}} ${s.isLeader ? 1 : 0}`,
    '# HELP dtable_cluster_buckets Buckets assigned to each node (assign-<hh>).',
    '# TYPE dtable_cluster_buckets gauge',
    ...[...s.bucketsPerNode].sort().map(([id, n]) => `dtable_cluster_buckets{${m},node_id="${esc(id)}"} ${n}`),
    '# HELP dtable_cluster_bucket_moves_total Buckets this replica moved as leader.',
    '# TYPE dtable_cluster_bucket_moves_total counter',
    `dtable_cluster_bucket_moves_total{${m}} ${s.movesTotal}`,
    '# HELP dtable_cluster_reconciles_total Reconcile passes this replica ran as leader.',
    '# TYPE dtable_cluster_reconciles_total counter',
    `dtable_cluster_reconciles_total{${m}} ${s.reconcilesTotal}`,
    '# HELP dtable_cluster_assignment_writes_rejected_total Writes refused by etcd because leadership was lost.',
    '# TYPE dtable_cluster_assignment_writes_rejected_total counter',
    `dtable_cluster_assignment_writes_rejected_total{${m}} ${s.writesRejectedTotal}`,
    '# HELP dtable_cluster_last_reconcile_timestamp_seconds Unix time of the last completed reconcile.',
    '# TYPE dtable_cluster_last_reconcile_timestamp_seconds gauge',
    `dtable_cluster_last_reconcile_timestamp_seconds{${m}} ${s.lastReconcileSeconds}`,
    '# HELP dtable_cluster_assignment_epoch Epoch of the assignment in etcd.',
    '# TYPE dtable_cluster_assignment_epoch gauge',
    `dtable_cluster_assignment_epoch{${m}} ${s.epoch}`,
    '# HELP dtable_cluster_live_nodes Registered nodes with a valid registration.',
    '# TYPE dtable_cluster_live_nodes gauge',
    `dtable_cluster_live_nodes{${m}} ${s.liveNodes}`,
  ];
  if (s.etcd) lines.push(...etcdLines(m, s.etcd));
  return `${lines.join('\n')}\n`;
}

function etcdLines(m: string, e: MonitorEtcdMetrics): string[] {
  const member = (name: string) => `${m},member="${esc(name)}"`;
  const up = e.members.filter((x) => x.reachable);
  return [
    '# HELP dtable_cluster_etcd_revision Current revision of the etcd key-value store.',
    '# TYPE dtable_cluster_etcd_revision gauge',
    `dtable_cluster_etcd_revision{${m}} ${e.revision}`,
    '# HELP dtable_cluster_etcd_compact_revision Revision of the last etcd compaction (0 = never).',
    '# TYPE dtable_cluster_etcd_compact_revision gauge',
    `dtable_cluster_etcd_compact_revision{${m}} ${e.compactRevision}`,
    '# HELP dtable_cluster_etcd_quota_backend_bytes etcd quota-backend-bytes: above it etcd raises NOSPACE.',
    '# TYPE dtable_cluster_etcd_quota_backend_bytes gauge',
    `dtable_cluster_etcd_quota_backend_bytes{${m}} ${e.quotaBackendBytes}`,
    '# HELP dtable_cluster_etcd_db_size_bytes Size of each etcd member database file.',
    '# TYPE dtable_cluster_etcd_db_size_bytes gauge',
    ...up.map((x) => `dtable_cluster_etcd_db_size_bytes{${member(x.name)}} ${x.dbSizeBytes}`),
    '# HELP dtable_cluster_etcd_db_size_in_use_bytes Bytes of each etcd member database in use (the rest a defrag frees).',
    '# TYPE dtable_cluster_etcd_db_size_in_use_bytes gauge',
    ...up.map((x) => `dtable_cluster_etcd_db_size_in_use_bytes{${member(x.name)}} ${x.dbSizeInUseBytes}`),
    '# HELP dtable_cluster_etcd_member_up 1 when the etcd member answers Maintenance.Status.',
    '# TYPE dtable_cluster_etcd_member_up gauge',
    ...e.members.map((x) => `dtable_cluster_etcd_member_up{${member(x.name)}} ${x.reachable ? 1 : 0}`),
    '# HELP dtable_cluster_etcd_is_leader 1 for the etcd member that leads.',
    '# TYPE dtable_cluster_etcd_is_leader gauge',
    ...up.map((x) => `dtable_cluster_etcd_is_leader{${member(x.name)}} ${x.isLeader ? 1 : 0}`),
    '# HELP dtable_cluster_etcd_alarm 1 per raised etcd alarm (NOSPACE: writes are refused; see docs/operations.md).',
    '# TYPE dtable_cluster_etcd_alarm gauge',
    ...['NOSPACE', 'CORRUPT'].map((a) => `dtable_cluster_etcd_alarm{${m},alarm="${a}"} ${e.alarms.some((x) => x.alarm === a) ? 1 : 0}`),
    '# HELP dtable_cluster_etcd_defrags_total etcd member defragmentations this replica ran.',
    '# TYPE dtable_cluster_etcd_defrags_total counter',
    `dtable_cluster_etcd_defrags_total{${m}} ${e.defragsTotal}`,
  ];
}
