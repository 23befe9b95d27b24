import { describe, expect, it } from 'vitest';
import { assignBuckets } from '../../../runtime/cluster/assignment.ts';
import { planWeightChange } from '../../../runtime/cluster/drain-plan.ts';

const empty = new Array<string | null>(256).fill(null);
const nodes = [{ id: 'dtable-server-01' }, { id: 'dtable-server-02' }, { id: 'dtable-server-03' }];
const balanced = assignBuckets(empty, nodes);

describe('planWeightChange', () => {
  it('previews a drain as exactly the drained node\'s buckets moving to the others', () => {
    const moves = planWeightChange(balanced, nodes, 'dtable-server-02', 0);
    const held = balanced.filter((id) => id === 'dtable-server-02').length;
    expect(moves).toHaveLength(held);
    expect(moves.every((m) => m.from === 'dtable-server-02' && m.to !== 'dtable-server-02')).toBe(true);
  });

  it('previews the same moves the monitor\'s reconcile then makes', () => {
    const drained = nodes.map((n) => (n.id === 'dtable-server-01' ? { ...n, weight: 0 } : n));
    const after = assignBuckets(balanced, drained);
    const moves = planWeightChange(balanced, nodes, 'dtable-server-01', 0);
    const applied = [...balanced];
    for (const m of moves) applied[parseInt(m.bucket, 16)] = m.to;
    expect(applied).toEqual(after);
  });

  it('previews an undrain as buckets moving back onto the node only', () => {
    const drainedNodes = nodes.map((n) => (n.id === 'dtable-server-03' ? { ...n, weight: 0 } : n));
    const drained = assignBuckets(balanced, drainedNodes);
    const moves = planWeightChange(drained, drainedNodes, 'dtable-server-03', 1);
    expect(moves.length).toBe(85);
    expect(moves.every((m) => m.to === 'dtable-server-03')).toBe(true);
  });

  it('previews nothing when draining the last node with weight, as the monitor then keeps the table', () => {
    expect(planWeightChange(balanced, [{ id: 'dtable-server-01' }], 'dtable-server-01', 0)).toEqual([]);
  });
});
