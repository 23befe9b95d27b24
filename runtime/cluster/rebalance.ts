// Load-aware rebalance (the manual `rebalance`): swaps a hot bucket of the most loaded node with a
// cold bucket of the least loaded one, greedily, while that lowers the pair's peak and the move
// budget allows. Swaps keep every node's bucket count, so the result still meets the quotas of
// assignment.ts and the next reconcile moves nothing back. Pure: no I/O.
import { BUCKETS, BUCKET_COUNT } from './buckets.ts';
import type { BucketMove } from './assignment.ts';
import type { LoadValue } from './values.ts';

export interface LoadStats {
  max: number;
  mean: number;
}

export interface LoadPlan {
  moves: BucketMove[];
  before: LoadStats;
  after: LoadStats;
  /** The assignment after the moves. */
  assignment: string[];
}

/** What a bucket's load is measured in: operations per second, or bytes in memory on an idle cluster. */
export type LoadMetric = 'ops_per_sec' | 'bytes';

/**
 * Per-bucket load from the nodes' reports: `ops_per_sec` as reported by the node the bucket is
 * assigned to (else by any node). When no bucket has any operations, `bytes` is used instead, so an
 * idle cluster can still be evened out by memory.
 */
export function bucketLoadsOf(assignment: ReadonlyArray<string | null>, loads: ReadonlyMap<string, LoadValue>): { metric: LoadMetric; load: number[] } {
  const pick = (metric: LoadMetric) =>
    BUCKETS.map((b, i) => {
      const own = assignment[i] ? loads.get(assignment[i]!)?.buckets[b] : undefined;
      if (own) return own[metric];
      let v = 0;
      for (const l of loads.values()) v = Math.max(v, l.buckets[b]?.[metric] ?? 0);
      return v;
    });
  const ops = pick('ops_per_sec');
  return ops.some((x) => x > 0) ? { metric: 'ops_per_sec', load: ops } : { metric: 'bytes', load: pick('bytes') };
}

export function bucketLoads(assignment: ReadonlyArray<string | null>, loads: ReadonlyMap<string, LoadValue>): number[] {
  return bucketLoadsOf(assignment, loads).load;
}

function stats(nodeLoad: ReadonlyMap<string, number>): LoadStats {
  const v = [...nodeLoad.values()];
  if (v.length === 0) return { max: 0, mean: 0 };
  return { max: Math.max(...v), mean: v.reduce((s, x) => s + x, 0) / v.length };
}

/**
 * Plan load-aware swaps among `nodes` (ids of live nodes with weight > 0; load is compared per
 * unit of weight). At most `budget` moves (each swap is two). Deterministic.
 */
export function planLoadRebalance(
  assignment: ReadonlyArray<string>,
  nodes: ReadonlyArray<{ id: string; weight?: number }>,
  load: ReadonlyArray<number>,
  budget: number,
): LoadPlan {
  if (assignment.length !== BUCKET_COUNT || load.length !== BUCKET_COUNT) throw new RangeError('assignment and load need 256 entries');
  const weight = new Map(nodes.filter((n) => (n.weight ?? 1) > 0).map((n) => [n.id, n.weight ?? 1]));
  const result = [...assignment];
  const nodeLoad = new Map<string, number>([...weight.keys()].sort().map((id) => [id, 0]));
  for (let i = 0; i < BUCKET_COUNT; i++) {
    const id = result[i]!;
    if (nodeLoad.has(id)) nodeLoad.set(id, nodeLoad.get(id)! + load[i]!);
  }
  const before = stats(nodeLoad);
  const moved = new Set<number>();
  const moves: BucketMove[] = [];
  const norm = (id: string) => nodeLoad.get(id)! / weight.get(id)!;
  let left = budget;
  while (left >= 2 && nodeLoad.size >= 2) {
    const ids = [...nodeLoad.keys()];
    const hot = ids.reduce((a, b) => (norm(b) > norm(a) ? b : a));
    const cold = ids.reduce((a, b) => (norm(b) < norm(a) ? b : a));
    const wh = weight.get(hot)!;
    const wc = weight.get(cold)!;
    const lh = nodeLoad.get(hot)!;
    const lc = nodeLoad.get(cold)!;
    const peak = Math.max(lh / wh, lc / wc);
    let best: { b: number; c: number; peak: number } | null = null;
    for (let b = 0; b < BUCKET_COUNT; b++) {
      if (result[b] !== hot || moved.has(b)) continue;
      for (let c = 0; c < BUCKET_COUNT; c++) {
        if (result[c] !== cold || moved.has(c)) continue;
        const delta = load[b]! - load[c]!;
        if (delta <= 0) continue;
        const p = Math.max((lh - delta) / wh, (lc + delta) / wc);
        if (p < peak - 1e-9 && (!best || p < best.peak - 1e-12)) best = { b, c, peak: p };
      }
    }
    if (!best) break;
    const delta = load[best.b]! - load[best.c]!;
    result[best.b] = cold;
    result[best.c] = hot;
    moved.add(best.b).add(best.c);
    nodeLoad.set(hot, lh - delta);
    nodeLoad.set(cold, lc + delta);
    moves.push({ bucket: BUCKETS[best.b]!, from: hot, to: cold }, { bucket: BUCKETS[best.c]!, from: cold, to: hot });
    left -= 2;
  }
  moves.sort((a, b) => (a.bucket < b.bucket ? -1 : 1));
  return { moves, before, after: stats(nodeLoad), assignment: result };
}
