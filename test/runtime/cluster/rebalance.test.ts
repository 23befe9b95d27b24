import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignBuckets, countBuckets } from '../../../runtime/cluster/assignment.ts';
import { bucketLoads, planLoadRebalance } from '../../../runtime/cluster/rebalance.ts';

const IDS = ['dtable-server-01', 'dtable-server-02', 'dtable-server-03', 'dtable-server-04'];
const nodes = IDS.map((id) => ({ id }));
const table = assignBuckets(Array(256).fill(null), nodes);

describe('planLoadRebalance', () => {
  it('moves nothing on a balanced, evenly loaded cluster', () => {
    const plan = planLoadRebalance(table, nodes, Array(256).fill(5), 32);
    expect(plan.moves).toEqual([]);
    expect(plan.after).toEqual(plan.before);
  });

  it('moves hot buckets off the most loaded node and lowers the peak', () => {
    const load = table.map((id, i) => (id === IDS[0] && i % 4 === 0 ? 100 : 1));
    const plan = planLoadRebalance(table, nodes, load, 8);
    expect(plan.moves.length).toBeGreaterThan(0);
    expect(plan.moves.length).toBeLessThanOrEqual(8);
    expect(plan.after.max).toBeLessThan(plan.before.max);
    expect(plan.moves.filter((m) => m.from === IDS[0]).every((m) => load[parseInt(m.bucket, 16)] === 100)).toBe(true);
  });

  it('keeps bucket counts, the budget and never raises the peak (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000), { minLength: 256, maxLength: 256 }), fc.nat(40), (load, budget) => {
        const plan = planLoadRebalance(table, nodes, load, budget);
        expect(countBuckets(plan.assignment)).toEqual(countBuckets(table));
        expect(plan.moves.length).toBeLessThanOrEqual(budget);
        expect(plan.after.max).toBeLessThanOrEqual(plan.before.max);
        expect(plan.after.mean).toBeCloseTo(plan.before.mean, 6);
      }),
      { numRuns: 300 },
    );
  });
});

describe('bucketLoads', () => {
  it('takes ops_per_sec from the assigned node and falls back to bytes on an idle cluster', () => {
    const loads = new Map([[IDS[0]!, { node_id: IDS[0]!, updated_at: '', buckets: { [table.indexOf(IDS[0]!).toString(16).padStart(2, '0')]: { bases: 1, ops_per_sec: 0, bytes: 7 } } }]]);
    const l = bucketLoads(table, loads);
    expect(l[table.indexOf(IDS[0]!)]).toBe(7);
  });
});
