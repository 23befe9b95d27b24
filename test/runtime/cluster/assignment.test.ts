import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignBuckets, countBuckets, diffAssignments } from '../../../runtime/cluster/assignment.ts';

const IDS = Array.from({ length: 12 }, (_, i) => `dtable-server-${String(i).padStart(2, '0')}`);
const ids = (n: number) => IDS.slice(0, n);
const uniform = (id: string) => Array<string>(256).fill(id);

type Node = { id: string; weight?: number };

/**
 * Independent reference: every quota vector largest remainder allows (any choice among equal
 * remainders), and the fewest moves any of them permits: 256 − max Σ min(held, quota).
 */
function reference(previous: ReadonlyArray<string | null>, nodes: Node[]) {
  const live = nodes.filter((n) => (n.weight ?? 1) > 0);
  const W = live.reduce((s, n) => s + (n.weight ?? 1), 0);
  const floor = new Map(live.map((n) => [n.id, Math.floor((256 * (n.weight ?? 1)) / W)]));
  const rem = new Map(live.map((n) => [n.id, (256 * (n.weight ?? 1)) % W]));
  let extras = 256 - [...floor.values()].reduce((s, x) => s + x, 0);
  const byRem = [...new Set(rem.values())].sort((a, b) => b - a);
  const sure = new Set<string>();
  let boundary: string[] = [];
  for (const r of byRem) {
    const group = live.filter((n) => rem.get(n.id) === r).map((n) => n.id);
    if (group.length <= extras) {
      group.forEach((id) => sure.add(id));
      extras -= group.length;
    } else {
      boundary = group;
      break;
    }
  }
  const held = new Map<string, number>();
  for (const id of previous) if (id) held.set(id, (held.get(id) ?? 0) + 1);
  const vectors: Map<string, number>[] = [];
  const choose = (start: number, picked: string[]) => {
    if (picked.length === extras) {
      vectors.push(new Map(live.map((n) => [n.id, floor.get(n.id)! + (sure.has(n.id) || picked.includes(n.id) ? 1 : 0)])));
      return;
    }
    for (let i = start; i < boundary.length; i++) choose(i + 1, [...picked, boundary[i]!]);
  };
  choose(0, []);
  const kept = (q: Map<string, number>) => [...q].reduce((s, [id, quota]) => s + Math.min(held.get(id) ?? 0, quota), 0);
  const minMoves = 256 - Math.max(...vectors.map(kept));
  return { vectors, minMoves };
}

const nodeSet = fc
  .uniqueArray(fc.constantFrom(...IDS), { minLength: 1, maxLength: 10 })
  .chain((chosen) =>
    fc.tuple(...chosen.map((id) => fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }).map((weight) => (weight === undefined ? { id } : { id, weight })))),
  )
  .map((ns) => ns as Node[]);
const randomPrevious = fc.array(fc.option(fc.constantFrom(...IDS), { nil: null }), { minLength: 256, maxLength: 256 });
// Realistic previous tables: the output for another node set, optionally with some buckets scrambled.
const derivedPrevious = fc
  .tuple(nodeSet, fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.option(fc.constantFrom(...IDS), { nil: null })), { maxLength: 8 }))
  .map(([ns, edits]) => {
    const p: Array<string | null> = assignBuckets(Array(256).fill(null), ns);
    for (const [i, v] of edits) p[i] = v;
    return p;
  });
const previousTable = fc.oneof(randomPrevious, derivedPrevious, fc.constant(Array<string | null>(256).fill(null)));

describe('assignBuckets properties', () => {
  it('meets the three invariants exactly and deterministically (10,000 cases)', () => {
    fc.assert(
      fc.property(previousTable, nodeSet, fc.integer(), (previous, nodes, seed) => {
        const live = new Set(nodes.filter((n) => (n.weight ?? 1) > 0).map((n) => n.id));
        fc.pre(live.size > 0);
        const out = assignBuckets(previous, nodes);
        // 1. every bucket on a live node with weight > 0
        expect(out.every((id) => live.has(id))).toBe(true);
        // 2. counts are a largest-remainder quota vector
        const { vectors, minMoves } = reference(previous, nodes);
        const counts = countBuckets(out);
        const isQuota = vectors.some((q) => [...q].every(([id, quota]) => (counts.get(id) ?? 0) === quota));
        expect(isQuota).toBe(true);
        // 3. minimum movement
        expect(diffAssignments(previous, out).length + previous.filter((p, i) => p && !out[i]).length).toBe(minMoves);
        // determinism, also under a different node order
        const shuffled = [...nodes].sort(() => ((seed = (seed * 1103515245 + 12345) | 0) & 1 ? 1 : -1));
        expect(assignBuckets(previous, shuffled)).toEqual(out);
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('assignBuckets examples', () => {
  it('gives 3 equal nodes 86/85/85', () => {
    const out = assignBuckets(Array(256).fill(null), ids(3).map((id) => ({ id })));
    expect([...countBuckets(out).values()].sort()).toEqual([85, 85, 86]);
  });

  it('moves exactly 64 buckets, all onto a fourth node', () => {
    const three = assignBuckets(Array(256).fill(null), ids(3).map((id) => ({ id })));
    const four = assignBuckets(three, ids(4).map((id) => ({ id })));
    const moves = diffAssignments(three, four);
    expect(moves).toHaveLength(64);
    expect(moves.every((m) => m.to === IDS[3])).toBe(true);
  });

  it('moves only the buckets of a node that leaves', () => {
    const three = assignBuckets(Array(256).fill(null), ids(3).map((id) => ({ id })));
    const two = assignBuckets(three, ids(2).map((id) => ({ id })));
    const moves = diffAssignments(three, two);
    expect(moves.every((m) => m.from === IDS[2])).toBe(true);
    expect(moves).toHaveLength(countBuckets(three).get(IDS[2]!)!);
  });

  it('moves nothing in a balanced table even when the extra bucket sits on a later node id', () => {
    const prev = [...uniform(IDS[0]!).slice(0, 85), ...uniform(IDS[1]!).slice(0, 85), ...uniform(IDS[2]!).slice(0, 86)];
    expect(diffAssignments(prev, assignBuckets(prev, ids(3).map((id) => ({ id }))))).toEqual([]);
  });

  it('empties a node with weight 0 and moves nothing else', () => {
    const four = assignBuckets(Array(256).fill(null), ids(4).map((id) => ({ id })));
    const drained = assignBuckets(four, [...ids(3).map((id) => ({ id })), { id: IDS[3]!, weight: 0 }]);
    const moves = diffAssignments(four, drained);
    expect(countBuckets(drained).get(IDS[3]!)).toBeUndefined();
    expect(moves.every((m) => m.from === IDS[3])).toBe(true);
    expect(moves).toHaveLength(64);
  });

  it('splits by weight, 2:1:1 → 128/64/64', () => {
    const out = assignBuckets(Array(256).fill(null), [{ id: IDS[0]!, weight: 2 }, { id: IDS[1]! }, { id: IDS[2]! }]);
    expect(Object.fromEntries(countBuckets(out))).toEqual({ [IDS[0]!]: 128, [IDS[1]!]: 64, [IDS[2]!]: 64 });
  });

  it('keeps the previous table when no node has weight > 0', () => {
    const prev = uniform(IDS[0]!);
    expect(assignBuckets(prev, [{ id: IDS[0]!, weight: 0 }])).toEqual(prev);
  });
});
