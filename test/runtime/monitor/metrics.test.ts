import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../../runtime/monitor/metrics.ts';

describe('renderMetrics', () => {
  it('renders one gauge line per node with escaped labels', () => {
    const text = renderMetrics({
      monitorId: 'm"1',
      isLeader: true,
      bucketsPerNode: new Map([['dtable-server-02', 128], ['dtable-server-01', 128]]),
      movesTotal: 3,
      reconcilesTotal: 4,
      writesRejectedTotal: 0,
      lastReconcileSeconds: 1700000000.5,
      epoch: 9,
      liveNodes: 2,
    });
    expect(text).toContain('dtable_cluster_buckets{monitor_id="m\\"1",node_id="dtable-server-01"} 128\n');
    expect(text).toContain('dtable_cluster_monitor_is_leader{monitor_id="m\\"1"} 1\n');
    expect(text.indexOf('dtable-server-01')).toBeLessThan(text.indexOf('dtable-server-02'));
  });

  it('renders etcd sizes per member, revisions and alarms when etcd answered', () => {
    const text = renderMetrics({
      monitorId: 'monitor-1',
      isLeader: true,
      bucketsPerNode: new Map(),
      movesTotal: 0,
      reconcilesTotal: 0,
      writesRejectedTotal: 0,
      lastReconcileSeconds: 0,
      epoch: 1,
      liveNodes: 0,
      etcd: {
        revision: 900,
        compactRevision: 850,
        quotaBackendBytes: 2147483648,
        members: [
          { name: 'etcd-01', reachable: true, isLeader: true, dbSizeBytes: 4096000, dbSizeInUseBytes: 1024000 },
          { name: 'etcd-02', reachable: false, isLeader: false, dbSizeBytes: 0, dbSizeInUseBytes: 0 },
        ],
        alarms: [{ member: 'etcd-01', alarm: 'NOSPACE' }],
        defragsTotal: 2,
      },
    });
    expect(text).toContain('dtable_cluster_etcd_revision{monitor_id="monitor-1"} 900\n');
    expect(text).toContain('dtable_cluster_etcd_compact_revision{monitor_id="monitor-1"} 850\n');
    expect(text).toContain('dtable_cluster_etcd_db_size_bytes{monitor_id="monitor-1",member="etcd-01"} 4096000\n');
    expect(text).toContain('dtable_cluster_etcd_db_size_in_use_bytes{monitor_id="monitor-1",member="etcd-01"} 1024000\n');
    expect(text).not.toContain('dtable_cluster_etcd_db_size_bytes{monitor_id="monitor-1",member="etcd-02"}');
    expect(text).toContain('dtable_cluster_etcd_member_up{monitor_id="monitor-1",member="etcd-02"} 0\n');
    expect(text).toContain('dtable_cluster_etcd_alarm{monitor_id="monitor-1",alarm="NOSPACE"} 1\n');
    expect(text).toContain('dtable_cluster_etcd_alarm{monitor_id="monitor-1",alarm="CORRUPT"} 0\n');
  });
});
