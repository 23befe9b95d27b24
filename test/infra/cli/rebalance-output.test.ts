// What `rebalance` prints: a balanced cluster does not read like a failure, and the load figures
// say what they measure.
import { describe, expect, it } from 'vitest';
import { formatRebalance } from '../../../infra/cli/commands/rebalance.ts';
import type { RebalanceResult } from '../../../runtime/cluster/etcd/requests.ts';

const result = (moves: RebalanceResult['plan']['moves']): RebalanceResult => ({
  plan: { moves, before: { max: 12.5, mean: 10 }, after: { max: 10.25, mean: 10 } } as RebalanceResult['plan'],
  applied: moves.length > 0,
  epoch: 3,
  monitorId: 'monitor-1',
});

describe('formatRebalance', () => {
  it('says a cluster with nothing to move is already balanced', () => {
    expect(formatRebalance(result([]), false, 'ops_per_sec')).toBe('already balanced: nothing to move\nload per node, ops/s: max 12.50, mean 10.00');
  });

  it('names the unit of the load figures: ops/s, or bytes on an idle cluster', () => {
    const moves = [{ bucket: '0a', from: 'dtable-server-01', to: 'dtable-server-02' }];
    expect(formatRebalance(result(moves), false, 'ops_per_sec')).toBe(
      'applied by monitor-1, epoch 3: 1 move(s)\n  0a  dtable-server-01 -> dtable-server-02\nload per node, ops/s: max 12.50 -> 10.25, mean 10.00',
    );
    expect(formatRebalance(result(moves), true, 'bytes').split('\n')[2]).toBe('load per node, bytes in memory (no bucket has operations): max 13 -> 10, mean 10');
  });
});
