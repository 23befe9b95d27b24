// The bridge between the etcd ClusterView and the proxy: turns the view into RoutingSnapshots
// (owner when registered, else assignee) and answers the admin API's questions about it.
import { BUCKETS } from '../cluster/buckets.ts';
import type { ClusterView } from '../cluster/etcd/cluster-view.ts';
import type { RouteTable, RoutingSnapshot } from './route-table.ts';

export function snapshotOf(view: ClusterView): RoutingSnapshot {
  const nodes = [...view.nodes().values()].map((n) => ({ nodeId: n.node_id, localNodeUrl: n.local_node_url, generation: n.leaseId }));
  const targets = BUCKETS.map((_, i) => view.nodeFor(i)?.node_id ?? null);
  return { nodes, targets, revision: view.revision() };
}

/** An assignment epoch and when the routing table first routed by it. */
export interface AppliedEpoch {
  epoch: number;
  /** The monitor's written_at (ISO 8601). */
  written_at: string;
  /** When this proxy's routing table reflected that write (ISO 8601). */
  applied_at: string;
}

/**
 * Keep `table` in step with `view`; `onEpoch` hears of every new assignment epoch once the table
 * routes by it (the epoch record and the last chunk of assign keys share a transaction, but reach
 * the view through different watches, in either order). Returns the unsubscribe function.
 */
export function followClusterView(view: ClusterView, table: RouteTable, onEpoch?: (e: AppliedEpoch) => void): () => void {
  table.update(snapshotOf(view));
  let last = view.epoch()?.epoch ?? -1;
  const onChange = (kinds: Set<string>) => {
    if (kinds.has('nodes') || kinds.has('assignment') || kinds.has('owners')) table.update(snapshotOf(view));
    if (!onEpoch || !(kinds.has('epoch') || kinds.has('assignment'))) return;
    const e = view.epoch();
    if (!e || e.epoch <= last) return;
    // A write that moved no bucket has no assign keys in its transaction.
    if (e.moved > 0 && view.assignmentRevision() < view.epochRevision()) return;
    last = e.epoch;
    onEpoch({ epoch: e.epoch, written_at: e.written_at, applied_at: new Date().toISOString() });
  };
  view.on('change', onChange);
  return () => view.off('change', onChange);
}

export interface AssignmentReport {
  epoch: number | null;
  /** etcd revision of the proxy's routing table. */
  revision: number;
  table_age_ms: number;
  /** bucket → node id from assign-<hh> (null: unassigned). */
  buckets: Record<string, string | null>;
  /** bucket → node id the proxy sends requests to now (owner, else assignee). */
  routes: Record<string, string | null>;
  /** Buckets whose owner differs from the assignee (a handoff in progress). */
  moving: string[];
  nodes: Array<{ node_id: string; node_url: string; local_node_url: string; reachable: boolean; assigned: number; routed: number }>;
  /** The latest assignment epochs (up to 32, oldest first) and when the table began routing by each. */
  applied: AppliedEpoch[];
}

export function assignmentReport(view: ClusterView, table: RouteTable, applied: readonly AppliedEpoch[] = []): AssignmentReport {
  const assign = view.assignment();
  const buckets: Record<string, string | null> = {};
  const routes: Record<string, string | null> = {};
  const moving: string[] = [];
  const assigned = new Map<string, number>();
  const routed = new Map<string, number>();
  BUCKETS.forEach((b, i) => {
    const a = assign[i] ?? null;
    buckets[b] = a;
    const t = table.target(i)?.nodeId ?? null;
    routes[b] = t;
    if (a) assigned.set(a, (assigned.get(a) ?? 0) + 1);
    if (t) routed.set(t, (routed.get(t) ?? 0) + 1);
    const owner = view.ownerOf(i);
    if (a && owner && owner.nodeId !== a) moving.push(b);
  });
  const up = table.nodes();
  const nodes = [...view.nodes().values()]
    .sort((x, y) => (x.node_id < y.node_id ? -1 : 1))
    .map((n) => ({
      node_id: n.node_id,
      node_url: n.node_url,
      local_node_url: n.local_node_url,
      reachable: !(up.get(n.node_id)?.down ?? false),
      assigned: assigned.get(n.node_id) ?? 0,
      routed: routed.get(n.node_id) ?? 0,
    }));
  return { epoch: view.epoch()?.epoch ?? null, revision: table.revision(), table_age_ms: table.ageMs(), buckets, routes, moving, nodes, applied: [...applied] };
}
