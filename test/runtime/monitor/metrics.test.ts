import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { registerMonitorMetrics, renderMetrics } from '../../../runtime/monitor/metrics.ts';

describe('renderMetrics', async () => {
  it('renders one gauge line per node with escaped labels', async () => {
    const text = await renderMetrics({
      monitorId: 'm"1',
      isLeader: true,
      bucketsPerNode: new Map([['dtable-server-02', 128], ['dtable-server-01', 128]]),
      movesTotal: 3,
      reconcilesTotal: 4,
      writesRejectedTotal: 0,
      lastReconcileSeconds: 1700000000.5,
      epoch: 9,
      liveNodes: 2,
      bucketsUnassigned: 0,
      nodeRegistrationsTotal: new Map([['dtable-server-01', 1], ['dtable-server-02', 1]]),
      nodeDeparturesTotal: new Map(),
      leasesRevokedTotal: 2,
    });
    expect(text).toContain('dtable_cluster_buckets{monitor_id="m\\"1",node_id="dtable-server-01"} 128\n');
    expect(text).toContain('dtable_cluster_node_leases_revoked_total{monitor_id="m\\"1"} 2\n');
    expect(text).toContain('dtable_cluster_node_leases_spared_total{monitor_id="m\\"1"} 0\n');
    expect(text).toContain('dtable_cluster_monitor_is_leader{monitor_id="m\\"1"} 1\n');
    expect(text.indexOf('dtable-server-01')).toBeLessThan(text.indexOf('dtable-server-02'));
    expect(text).toContain('dtable_cluster_buckets_unassigned{monitor_id="m\\"1"} 0\n');
    expect(text).toContain('dtable_cluster_node_registrations_total{monitor_id="m\\"1",node_id="dtable-server-02"} 1\n');
    expect(text).toContain('# TYPE dtable_cluster_node_departures_total counter\n');
  });

  it('renders etcd sizes per member, revisions and alarms when etcd answered', async () => {
    const text = await renderMetrics({
      monitorId: 'monitor-1',
      isLeader: true,
      bucketsPerNode: new Map(),
      movesTotal: 0,
      reconcilesTotal: 0,
      writesRejectedTotal: 0,
      lastReconcileSeconds: 0,
      epoch: 1,
      liveNodes: 0,
      bucketsUnassigned: 256,
      nodeRegistrationsTotal: new Map(),
      nodeDeparturesTotal: new Map(),
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

  it('reads the state (and so etcd) once per scrape, however many families there are', async () => {
    let reads = 0;
    const registry = new Registry();
    registerMonitorMetrics(registry, async () => {
      reads += 1;
      return { monitorId: 'monitor-1', isLeader: false, bucketsPerNode: new Map(), movesTotal: 0, reconcilesTotal: 0, writesRejectedTotal: 0, lastReconcileSeconds: 0, epoch: 0, liveNodes: 0, bucketsUnassigned: 256, nodeRegistrationsTotal: new Map(), nodeDeparturesTotal: new Map() };
    });
    await registry.metrics();
    expect(reads).toBe(1);
    const text = await registry.metrics();
    expect(reads).toBe(2);
    expect(text).toContain('dtable_cluster_buckets_unassigned{monitor_id="monitor-1"} 256\n');
    // No etcd answer: its families have no samples (absent, not zero).
    expect(text).toMatch(/# TYPE dtable_cluster_etcd_revision gauge\n(?!dtable_cluster_etcd_revision)/);
  });
});
