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
});
