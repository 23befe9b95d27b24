// The sticky bucket table (docs/monitor.md, What it does). Quotas by largest remainder; each node keeps
// min(current, quota) of the buckets it holds; only the excess and orphaned buckets move, onto
// nodes under quota. That is the minimum: any valid assignment must move every bucket beyond what
// the kept ones cover. Ties between equal remainders go to nodes that already hold an extra bucket
// (so a balanced table never moves), then by node id. Pure and deterministic: no I/O.
import { BUCKETS, BUCKET_COUNT } from './buckets.ts';

export interface WeightedNode {
  readonly id: string;
  /** Default 1; 0 = draining (gets no buckets). */
  readonly weight?: number;
}

/** The weight of a node after defaults; throws on a negative or non-finite weight. */
function weightOf(n: WeightedNode): number {
  const w = n.weight ?? 1;
  if (!Number.isFinite(w) || w < 0) throw new RangeError(`node ${n.id}: weight must be a finite number >= 0, got ${w}`);
  return w;
}

/**
 * Quotas by largest remainder over the nodes with weight > 0, summing to 256. `held` (buckets each
 * node holds now) breaks ties between equal remainders in favour of a node whose extra bucket would
 * be kept, then by id. Returns node id → quota, in id order.
 */
export function bucketQuotas(
  nodes: ReadonlyArray<WeightedNode>,
  held: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const live = nodes
    .map((n) => ({ id: n.id, w: weightOf(n) }))
    .filter((n) => n.w > 0)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = new Map<string, number>();
  if (live.length === 0) return out;
  // Integer weights get exact arithmetic (remainder = 256·w mod Σw); others use floats with a
  // tolerance, so equal weights always tie exactly.
  const integral = live.every((n) => Number.isSafeInteger(n.w));
  const total = live.reduce((s, n) => s + n.w, 0);
  const rows = live.map((n) => {
    const exact = (BUCKET_COUNT * n.w) / total;
    const floor = integral ? Math.floor((BUCKET_COUNT * n.w) / total) : Math.floor(exact + 1e-9);
    const rem = integral ? (BUCKET_COUNT * n.w) % total : exact - floor;
    const gains = (held.get(n.id) ?? 0) > floor ? 1 : 0;
    return { id: n.id, floor, rem, gains };
  });
  let left = BUCKET_COUNT - rows.reduce((s, r) => s + r.floor, 0);
  const eps = integral ? 0 : 1e-9;
  const order = [...rows].sort((a, b) => {
    if (Math.abs(a.rem - b.rem) > eps) return b.rem - a.rem;
    if (a.gains !== b.gains) return b.gains - a.gains;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  const extra = new Set<string>();
  for (const r of order) {
    if (left <= 0) break;
    extra.add(r.id);
    left--;
  }
  for (const r of rows) out.set(r.id, r.floor + (extra.has(r.id) ? 1 : 0));
  return out;
}

/**
 * Assign the 256 buckets. `previous[i]` is bucket i's node id (null/'' = unassigned). Returns 256
 * node ids. With no node of weight > 0 the previous table is returned unchanged ('' for unassigned),
 * so a cluster with every node down keeps its table until nodes return.
 */
export function assignBuckets(
  previous: ReadonlyArray<string | null>,
  nodes: ReadonlyArray<WeightedNode>,
): string[] {
  if (previous.length !== BUCKET_COUNT) throw new RangeError(`previous must have ${BUCKET_COUNT} entries, got ${previous.length}`);
  const ids = new Set<string>();
  for (const n of nodes) {
    if (ids.has(n.id)) throw new Error(`duplicate node id ${n.id}`);
    ids.add(n.id);
  }
  const held = new Map<string, number[]>();
  previous.forEach((id, i) => {
    if (!id) return;
    const list = held.get(id);
    if (list) list.push(i);
    else held.set(id, [i]);
  });
  const counts = new Map([...held].map(([id, list]) => [id, list.length]));
  const quotas = bucketQuotas(nodes, counts);
  if (quotas.size === 0) return previous.map((id) => id ?? '');

  const result: Array<string | null> = new Array(BUCKET_COUNT).fill(null);
  const deficit: Array<{ id: string; need: number }> = [];
  for (const [id, quota] of quotas) {
    const mine = held.get(id) ?? [];
    const keep = Math.min(mine.length, quota);
    for (let k = 0; k < keep; k++) result[mine[k]!] = id;
    if (quota > keep) deficit.push({ id, need: quota - keep });
  }
  // Buckets left over (orphaned or excess) go, in bucket order, to nodes under quota in id order.
  let d = 0;
  for (let i = 0; i < BUCKET_COUNT; i++) {
    if (result[i] !== null) continue;
    while (deficit[d]!.need === 0) d++;
    result[i] = deficit[d]!.id;
    deficit[d]!.need--;
  }
  return result as string[];
}

export interface BucketMove {
  bucket: string;
  from: string | null;
  to: string;
}

/** The moves that turn `before` into `after` (buckets whose node changed), in bucket order. */
export function diffAssignments(before: ReadonlyArray<string | null>, after: ReadonlyArray<string | null>): BucketMove[] {
  const out: BucketMove[] = [];
  for (let i = 0; i < BUCKET_COUNT; i++) {
    const from = before[i] || null;
    const to = after[i] || null;
    if (to && from !== to) out.push({ bucket: BUCKETS[i]!, from, to });
  }
  return out;
}

/** Buckets per node id. */
export function countBuckets(assignment: ReadonlyArray<string | null>): Map<string, number> {
  const out = new Map<string, number>();
  for (const id of assignment) if (id) out.set(id, (out.get(id) ?? 0) + 1);
  return out;
}
