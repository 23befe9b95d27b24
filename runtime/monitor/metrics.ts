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
  return `${lines.join('\n')}\n`;
}
