// What a weight change (drain = 0, undrain = the registered weight) would move, computed with the
// monitor's own algorithm (assignBuckets) on the same inputs it reconciles from, so a preview
// matches what the monitor then writes. Pure: no I/O.
import { assignBuckets, diffAssignments, type BucketMove, type WeightedNode } from './assignment.ts';

/**
 * The moves the monitor's next reconcile would make once `nodeId` has `weight`. `nodes` are the
 * live nodes with their effective weights now (a node missing from it is not live and gets no
 * buckets, as in the monitor). Returns the moves in bucket order; an empty list when nothing moves
 * or when no live node would have weight > 0 (the monitor then keeps the table).
 */
export function planWeightChange(
  assignment: ReadonlyArray<string | null>,
  nodes: ReadonlyArray<WeightedNode>,
  nodeId: string,
  weight: number,
): BucketMove[] {
  const next = nodes.map((n) => (n.id === nodeId ? { id: n.id, weight } : n));
  if (!next.some((n) => (n.weight ?? 1) > 0)) return [];
  return diffAssignments(assignment, assignBuckets(assignment, next));
}
