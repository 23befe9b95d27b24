// The monitor: keeps assign-<hh> equal to assignBuckets(current, live nodes) while it is the
// elected leader. Registration and weight changes are debounced (a node that leaves and returns
// within the debounce moves nothing); a periodic reconcile catches anything else. Also answers
// load-aware rebalance requests.
import type { Etcd3 } from 'etcd3';
import { assignBuckets, countBuckets, diffAssignments } from '../cluster/assignment.ts';
import { changedBuckets, writeAssignment } from '../cluster/etcd/assignment-writer.ts';
import { ClusterView, type ViewChangeKind } from '../cluster/etcd/cluster-view.ts';
import type { Log } from '../cluster/etcd/log.ts';
import type { KvEntry } from '../cluster/etcd/watch.ts';
import type { Keyspace } from '../cluster/keyspace.ts';
import { bucketLoads, planLoadRebalance } from '../cluster/rebalance.ts';
import { parseJson, rebalanceRequestSchema, type EpochRecord, type RebalanceResponse } from '../cluster/values.ts';
import { MonitorElection } from './election.ts';
import type { MonitorMetricsState } from './metrics.ts';

export interface MonitorOptions {
  monitorId: string;
  electionTtlSeconds: number;
  debounceMs: number;
  reconcileIntervalMs: number;
  rebalanceMoveBudget: number;
  /** etcd --max-txn-ops; writes are chunked under it (falls back to 128 if etcd refuses). */
  maxTxnOps?: number;
  log: Log;
}

export class Monitor {
  readonly election: MonitorElection;
  private view!: ClusterView;
  private debounceTimer: NodeJS.Timeout | null = null;
  private periodic: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly handled = new Set<string>();
  private readonly stats = { moves: 0, reconciles: 0, rejected: 0, lastReconcile: 0 };
  /** Registrations that appeared / vanished, by node id. */
  private readonly registrations = new Map<string, number>();
  private readonly departures = new Map<string, number>();
  /** Node ids registered at the last change event (for counting registrations and departures). */
  private knownNodes = new Set<string>();

  private constructor(
    private readonly client: Etcd3,
    private readonly ks: Keyspace,
    private readonly opts: MonitorOptions,
    view: ClusterView,
  ) {
    this.view = view;
    this.election = new MonitorElection(client, view, {
      monitorId: opts.monitorId,
      ttlSeconds: opts.electionTtlSeconds,
      log: opts.log,
    });
  }

  static async start(client: Etcd3, ks: Keyspace, opts: MonitorOptions): Promise<Monitor> {
    const view = await ClusterView.open(client, ks, { log: opts.log, rereadIntervalMs: Math.max(5000, opts.reconcileIntervalMs * 3) });
    const m = new Monitor(client, ks, opts, view);
    m.knownNodes = new Set(view.nodes().keys());
    view.on('change', (kinds: Set<ViewChangeKind>) => m.onChange(kinds));
    m.election.on('elected', () => {
      m.schedule('elected');
      m.serialize(() => m.answerRequests());
    });
    await m.election.start();
    m.periodic = setInterval(() => {
      // A pending debounce means registrations are in flux: let it decide.
      if (!m.debounceTimer) m.serialize(() => m.reconcile('periodic'));
    }, opts.reconcileIntervalMs);
    return m;
  }

  /** Resign leadership and stop watching. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.periodic) clearInterval(this.periodic);
    await this.running.catch(() => undefined);
    await this.election.resign();
    await this.view.close();
  }

  isLeader(): boolean {
    return this.election.isLeader();
  }

  clusterView(): ClusterView {
    return this.view;
  }

  metricsState(): MonitorMetricsState {
    return {
      monitorId: this.opts.monitorId,
      isLeader: this.isLeader(),
      bucketsPerNode: countBuckets(this.view.assignment()),
      movesTotal: this.stats.moves,
      reconcilesTotal: this.stats.reconciles,
      writesRejectedTotal: this.stats.rejected,
      lastReconcileSeconds: this.stats.lastReconcile / 1000,
      epoch: this.view.epoch()?.epoch ?? 0,
      liveNodes: this.view.nodes().size,
      bucketsUnassigned: this.view.assignment().filter((id) => id === null || !this.view.nodes().has(id)).length,
      nodeRegistrationsTotal: this.registrations,
      nodeDeparturesTotal: this.departures,
    };
  }

  /** Counts node ids that appeared and vanished since the last change (lease churn shows as both). */
  private countRegistrations(): void {
    const now = new Set(this.view.nodes().keys());
    for (const id of now) if (!this.knownNodes.has(id)) this.registrations.set(id, (this.registrations.get(id) ?? 0) + 1);
    for (const id of this.knownNodes) if (!now.has(id)) this.departures.set(id, (this.departures.get(id) ?? 0) + 1);
    this.knownNodes = now;
  }

  private onChange(kinds: Set<ViewChangeKind>): void {
    if (kinds.has('nodes')) this.countRegistrations();
    if (kinds.has('nodes') || kinds.has('weights') || kinds.has('assignment')) this.schedule('registrations changed');
    if (kinds.has('requests')) this.serialize(() => this.answerRequests());
  }

  private schedule(reason: string): void {
    if (this.stopped) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      this.serialize(() => this.reconcile(reason));
    }, this.opts.debounceMs);
  }

  /** Run one task at a time; errors are logged, never thrown. */
  private serialize(task: () => Promise<void>): void {
    this.running = this.running
      .then(task)
      .catch((err: Error) => this.opts.log.error({ err: err.message, stack: err.stack }, 'monitor task failed'));
  }

  private liveNodes(): Array<{ id: string; weight: number }> {
    return [...this.view.nodes().keys()].sort().map((id) => ({ id, weight: this.view.effectiveWeight(id) }));
  }

  private nextEpoch(moved: number, target: ReadonlyArray<string>): EpochRecord {
    return {
      epoch: (this.view.epoch()?.epoch ?? 0) + 1,
      monitor_id: this.opts.monitorId,
      written_at: new Date().toISOString(),
      moved,
      counts: Object.fromEntries([...countBuckets(target)].sort()),
    };
  }

  /** Write `target` if leader; returns false when not leader or etcd refused (leadership lost). */
  private async write(target: string[], why: string): Promise<boolean> {
    const guard = this.election.guard();
    if (!guard || this.stopped) return false;
    const current = this.view.assignment();
    const raw = this.view.rawAssignment();
    const changed = changedBuckets(target, raw);
    if (changed.length === 0) return true;
    const moves = diffAssignments(current, target);
    const epoch = this.nextEpoch(changed.length, target);
    const res = await writeAssignment(this.client, this.ks, guard, { target, current: raw, epoch }, { maxTxnOps: this.opts.maxTxnOps ?? 128 });
    if (!res.ok) {
      this.stats.rejected++;
      this.opts.log.warn({ written: res.written }, 'assignment write refused by etcd: leadership lost');
      return false;
    }
    this.stats.moves += moves.length;
    this.opts.log.info(
      { epoch: epoch.epoch, reason: why, moved: moves.length, repaired: changed.length - moves.length, moves, counts: epoch.counts },
      'assignment changed',
    );
    // Wait for our own write to reach the view, so the next decision starts from it.
    await this.view.resync('after write');
    return true;
  }

  private async reconcile(reason: string): Promise<void> {
    if (!this.isLeader() || this.stopped) return;
    const nodes = this.liveNodes();
    if (!nodes.some((n) => n.weight > 0)) {
      this.opts.log.warn({ nodes: nodes.length }, 'no live node with weight > 0; keeping the assignment');
    } else {
      const target = assignBuckets(this.view.assignment(), nodes);
      await this.write(target, reason);
    }
    this.stats.reconciles++;
    this.stats.lastReconcile = Date.now();
  }

  private async answerRequests(): Promise<void> {
    if (!this.isLeader() || this.stopped) return;
    const answered = new Set(this.view.ownEntries(this.ks.rebalanceResponsePrefix).map((e) => e.key.slice(this.ks.rebalanceResponsePrefix.length)));
    const requests = this.view.ownEntries(this.ks.rebalanceRequestPrefix);
    // Forget requests that are gone (their requester deleted them, or their lease expired): the set
    // only bridges the time until a response shows in the view, and grew by one per request forever.
    const pending = new Set(requests.map((e) => e.key + e.modRevision));
    for (const h of this.handled) if (!pending.has(h)) this.handled.delete(h);
    for (const e of requests) {
      const id = e.key.slice(this.ks.rebalanceRequestPrefix.length);
      if (this.handled.has(e.key + e.modRevision) || answered.has(id)) continue;
      this.handled.add(e.key + e.modRevision);
      await this.answer(id, e);
    }
  }

  private async answer(id: string, e: KvEntry): Promise<void> {
    const log = this.opts.log;
    const r = parseJson(rebalanceRequestSchema, e.value);
    let response: RebalanceResponse;
    if (!r.ok || r.value.id !== id) {
      log.warn({ key: e.key, reason: r.ok ? 'id does not match key' : r.reason }, 'ignoring malformed rebalance request');
      response = { id, ok: false, error: `malformed request: ${r.ok ? 'id does not match key' : r.reason}`, monitor_id: this.opts.monitorId };
    } else {
      const req = r.value;
      const nodes = this.liveNodes().filter((n) => n.weight > 0);
      const current = this.view.assignment();
      if (nodes.length === 0) {
        response = { id, ok: false, error: 'no live node with weight > 0', monitor_id: this.opts.monitorId };
      } else {
        const base = assignBuckets(current, nodes);
        const budget = req.budget ?? this.opts.rebalanceMoveBudget;
        const plan = planLoadRebalance(base, nodes, bucketLoads(base, this.view.loads()), budget);
        const moves = diffAssignments(current, plan.assignment);
        let applied = false;
        let ok = true;
        if (!req.dry_run && moves.length > 0) ok = applied = await this.write(plan.assignment, `rebalance ${id}`);
        log.info({ request: id, dry_run: req.dry_run, budget, moves, before: plan.before, after: plan.after, applied }, 'rebalance request answered');
        response = ok
          ? { id, ok: true, plan: { moves, before: plan.before, after: plan.after }, applied, epoch: this.view.epoch()?.epoch ?? 0, monitor_id: this.opts.monitorId }
          : { id, ok: false, error: 'leadership lost while applying', monitor_id: this.opts.monitorId };
      }
    }
    const put = this.client.put(this.ks.rebalanceResponse(id)).value(JSON.stringify(response));
    await (e.lease !== '0' ? put.lease(e.lease) : put).catch((err: Error) => log.warn({ request: id, err: err.message }, 'could not answer rebalance request'));
  }
}
