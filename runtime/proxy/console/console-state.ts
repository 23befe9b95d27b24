// What the operator console shows, as one JSON document (GET /console/api/state and every
// server-sent event of /console/api/events): the assignment grid with moving buckets, node cards,
// the epoch and the latest moves, the proxy's routing staleness and etcd member health. Built
// from the proxy's own ClusterView and routing table, so the console needs no etcd access of
// its own.
import { BUCKETS } from '../../cluster/buckets.ts';
import { diffAssignments, type BucketMove } from '../../cluster/assignment.ts';
import type { ClusterView, ViewChangeKind } from '../../cluster/etcd/cluster-view.ts';
import type { KvChange } from '../../cluster/etcd/watch.ts';
import type { AssignmentReport } from '../cluster-routes.ts';

/** `live`: registered and reachable; `draining`: weight 0; `down`: not registered, or unreachable. */
export type NodeState = 'live' | 'draining' | 'down';

export interface ConsoleNode {
  node_id: string;
  node_url: string | null;
  state: NodeState;
  /** Registered in etcd (on a live lease). */
  registered: boolean;
  /** The proxy can reach it (false after connection failures). */
  reachable: boolean;
  /** Effective weight the monitor uses (override, else registered, else 1). */
  weight: number;
  /** An operator override under dtable-cluster/weight/ (a drain is 0); null when none. */
  weight_override: number | null;
  /** Buckets assigned to it (assign-<hh>). */
  buckets: number;
  /** Buckets whose owner key it holds. */
  owned: number;
  /** Sum of its published per-bucket load; null when it publishes none. */
  load: { bases: number; ops_per_sec: number; bytes: number } | null;
}

export interface RecentMove extends BucketMove {
  /** Epoch of the assignment that made the move (null when the epoch record was unreadable). */
  epoch: number | null;
  /** When this proxy saw the move (ISO 8601). */
  seen_at: string;
}

export interface ConsoleState {
  /** When this state was taken (ISO 8601). */
  at: string;
  epoch: number | null;
  /** written_at of the epoch record (ISO 8601), null when none. */
  epoch_written_at: string | null;
  monitor_leader: string | null;
  /** etcd revision of the proxy's routing table. */
  revision: number;
  routing: { stale: boolean; unconfirmed_ms: number; table_age_ms: number };
  /** Per member, in etcd_host_list order: passed the proxy client's last health probe (1 s period). */
  etcd: { quorum: boolean; members: Array<{ endpoint: string; healthy: boolean }> };
  /** bucket → assigned node id (exactly GET /assignment's `buckets`). */
  buckets: Record<string, string | null>;
  /** Buckets whose owner key is held by another node than the assignee: a handoff in progress. */
  moving: string[];
  nodes: ConsoleNode[];
  /** The latest bucket moves this proxy saw, newest first (up to 64). */
  moves: RecentMove[];
}

/**
 * Remembers the moves between successive assignments the proxy sees. A move is labelled with its
 * epoch once the epoch record written in the same transaction has arrived too (assign keys and the
 * epoch record reach the view through different watches, in either order).
 */
export class MoveLog {
  private last: ReadonlyArray<string | null> | null = null;
  private readonly recent: Array<RecentMove & { revision: number }> = [];

  constructor(private readonly limit = 64) {}

  /** Record the moves from the previously observed assignment to `assignment`, written at etcd `revision`. */
  observe(assignment: ReadonlyArray<string | null>, revision: number, now = new Date()): void {
    if (this.last) {
      const seen_at = now.toISOString();
      for (const m of diffAssignments(this.last, assignment)) this.recent.unshift({ ...m, epoch: null, seen_at, revision });
      this.recent.splice(this.limit);
    }
    this.last = [...assignment];
  }

  /** The epoch record at `revision` is known: it labels every unlabelled move written at or before it. */
  label(epoch: number, revision: number): void {
    for (const m of this.recent) if (m.epoch === null && m.revision <= revision) m.epoch = epoch;
  }

  moves(): RecentMove[] {
    return this.recent.map(({ revision: _, ...m }) => m);
  }
}

/** Keeps `log` in step with the view's assignment and epoch record; returns the unsubscribe function. */
export function followMoves(view: ClusterView, log: MoveLog): () => void {
  const onChange = (kinds: Set<ViewChangeKind>, changes: readonly KvChange[] = []) => {
    if (kinds.has('assignment')) {
      // The revision of the write itself (a watcher's revision may be later, from a progress report).
      const revs = changes.filter((c) => c.key.startsWith(view.ks.assignPrefix) && c.entry).map((c) => c.entry!.modRevision);
      log.observe(view.assignment(), revs.length > 0 ? Math.max(...revs) : view.assignmentRevision());
    }
    const e = view.epoch();
    if (e && (kinds.has('assignment') || kinds.has('epoch'))) log.label(e.epoch, view.epochRevision());
  };
  log.observe(view.assignment(), view.assignmentRevision());
  view.on('change', onChange);
  return () => view.off('change', onChange);
}

export interface ConsoleFacts {
  report: AssignmentReport;
  routing: { stale: boolean; unconfirmed_ms: number };
  etcd: { endpoints: readonly string[]; healthy: readonly boolean[] };
  moves: RecentMove[];
}

/** The console document from the proxy's view, its assignment report and its etcd client's health. */
export function consoleState(view: ClusterView, facts: ConsoleFacts, now = new Date()): ConsoleState {
  const { report } = facts;
  const registered = view.nodes();
  const overrides = view.weightOverrides();
  const loads = view.loads();
  const reachable = new Map(report.nodes.map((n) => [n.node_id, n.reachable]));
  const owned = new Map<string, number>();
  for (const b of BUCKETS) {
    const o = view.ownerOf(b);
    if (o) owned.set(o.nodeId, (owned.get(o.nodeId) ?? 0) + 1);
  }
  const assigned = new Map<string, number>();
  for (const id of Object.values(report.buckets)) if (id) assigned.set(id, (assigned.get(id) ?? 0) + 1);
  const ids = new Set<string>([...registered.keys(), ...assigned.keys(), ...overrides.keys()]);
  const nodes = [...ids].sort().map((id): ConsoleNode => {
    const reg = registered.get(id);
    const weight = view.effectiveWeight(id);
    const up = reg !== undefined && (reachable.get(id) ?? true);
    const l = loads.get(id);
    let load: ConsoleNode['load'] = null;
    if (l) {
      load = { bases: 0, ops_per_sec: 0, bytes: 0 };
      for (const b of Object.values(l.buckets)) {
        load.bases += b.bases;
        load.ops_per_sec += b.ops_per_sec;
        load.bytes += b.bytes;
      }
    }
    return {
      node_id: id,
      node_url: reg?.node_url ?? null,
      state: !up ? 'down' : weight === 0 ? 'draining' : 'live',
      registered: reg !== undefined,
      reachable: reachable.get(id) ?? false,
      weight,
      weight_override: overrides.get(id) ?? null,
      buckets: assigned.get(id) ?? 0,
      owned: owned.get(id) ?? 0,
      load,
    };
  });
  const healthy = facts.etcd.healthy;
  const epoch = view.epoch();
  return {
    at: now.toISOString(),
    epoch: report.epoch,
    epoch_written_at: epoch?.written_at ?? null,
    monitor_leader: view.leader(),
    revision: report.revision,
    routing: { ...facts.routing, table_age_ms: report.table_age_ms },
    etcd: {
      quorum: healthy.filter(Boolean).length > healthy.length / 2,
      members: facts.etcd.endpoints.map((endpoint, i) => ({ endpoint, healthy: healthy[i] ?? false })),
    },
    buckets: report.buckets,
    moving: report.moving,
    nodes,
    moves: facts.moves,
  };
}
