// The live, read-only view of the cluster that every process keeps in memory: registered nodes,
// the 256-entry assignment, bucket owners, weight overrides, per-node load, the epoch record and
// the monitor leader. Malformed values are logged once per revision and ignored (an unparsable
// assign-<hh> counts as unassigned).
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { BUCKETS, BUCKET_COUNT, bucketIndex } from '../buckets.ts';
import type { Keyspace } from '../keyspace.ts';
import {
  epochRecordSchema,
  isBucketName,
  loadValueSchema,
  ownerValueSchema,
  parseAssignValue,
  parseJson,
  parseRegistration,
  parseWeight,
  type EpochRecord,
  type LoadValue,
  type Registration,
} from '../values.ts';
import { silentLog, type Log } from './log.ts';
import { PrefixWatcher, type KvChange, type KvEntry } from './watch.ts';

export interface LiveNode extends Registration {
  /** Lease the registration is on (decimal). */
  readonly leaseId: string;
}

export interface BucketOwner {
  readonly nodeId: string;
  /** Fencing token: the owner key's create_revision. */
  readonly token: number;
  readonly leaseId: string;
}

export interface ElectionCandidate {
  readonly key: string;
  readonly monitorId: string;
  readonly createRevision: number;
  readonly leaseId: string;
}

export type ViewChangeKind = 'nodes' | 'assignment' | 'owners' | 'weights' | 'loads' | 'epoch' | 'leader' | 'requests';

export interface ClusterViewOptions {
  rereadIntervalMs?: number;
  log?: Log;
}

/** Events: `change` (kinds: Set<ViewChangeKind>, changes: KvChange[]) once per applied etcd batch. */
export class ClusterView extends EventEmitter {
  private readonly nodeW: PrefixWatcher;
  private readonly assignW: PrefixWatcher;
  private readonly ownW: PrefixWatcher;
  private readonly log: Log;
  private nodesCache: Map<string, LiveNode> | null = null;
  private assignCache: Array<string | null> | null = null;
  /** Parsed owners (bucket name → owner), each dropped when its key changes. */
  private readonly ownersCache: Map<string, BucketOwner | null> = new Map();
  /** Parsed weights and loads, dropped on any change of their kind. */
  private weightsCache: Map<string, number> | null = null;
  private loadsCache: Map<string, LoadValue> | null = null;
  private readonly warned = new Map<string, number>();

  constructor(
    client: Etcd3,
    readonly ks: Keyspace,
    opts: ClusterViewOptions = {},
  ) {
    super();
    this.log = opts.log ?? silentLog;
    const wo = { rereadIntervalMs: opts.rereadIntervalMs ?? 30_000, log: this.log };
    this.nodeW = new PrefixWatcher(client, ks.nodesPrefix, wo);
    this.assignW = new PrefixWatcher(client, ks.assignPrefix, wo);
    this.ownW = new PrefixWatcher(client, `${ks.prefix}dtable-cluster/`, wo);
    const onBatch = (changes: KvChange[]) => {
      const kinds = new Set<ViewChangeKind>();
      for (const c of changes) {
        const k = this.kindOf(c.key);
        if (k) kinds.add(k);
        // Owners change one bucket at a time, hundreds per handoff: forget only the changed ones.
        if (k === 'owners') this.ownersCache.delete(c.key.slice(ks.ownerPrefix.length));
      }
      if (kinds.has('nodes')) this.nodesCache = null;
      if (kinds.has('assignment')) this.assignCache = null;
      if (kinds.has('weights')) this.weightsCache = null;
      if (kinds.has('loads')) this.loadsCache = null;
      if (kinds.size > 0) this.emit('change', kinds, changes);
    };
    for (const w of [this.nodeW, this.assignW, this.ownW]) w.on('batch', onBatch);
  }

  /** Create and fill a view. */
  static async open(client: Etcd3, ks: Keyspace, opts: ClusterViewOptions = {}): Promise<ClusterView> {
    const v = new ClusterView(client, ks, opts);
    await v.start();
    return v;
  }

  async start(): Promise<void> {
    await Promise.all([this.nodeW.start(), this.assignW.start(), this.ownW.start()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.nodeW.stop(), this.assignW.stop(), this.ownW.stop()]);
  }

  /** Re-read everything now (e.g. before a decision that must not use a stale view). */
  async resync(reason = 'requested'): Promise<void> {
    await Promise.all([this.nodeW.reread(reason), this.assignW.reread(reason), this.ownW.reread(reason)]);
  }

  /**
   * Epoch ms up to which every part of the view is known to be current (the oldest of its
   * watches' confirmations, see PrefixWatcher.confirmedAt); 0 before start().
   */
  confirmedAt(): number {
    return Math.min(this.nodeW.confirmedAt(), this.assignW.confirmedAt(), this.ownW.confirmedAt());
  }

  /** Highest etcd revision reflected by any part of the view. */
  revision(): number {
    return Math.max(this.nodeW.revision(), this.assignW.revision(), this.ownW.revision());
  }

  /** Registered nodes with a valid registration value, by node id. */
  nodes(): ReadonlyMap<string, LiveNode> {
    if (this.nodesCache) return this.nodesCache;
    const out = new Map<string, LiveNode>();
    for (const e of this.nodeW.entries.values()) {
      const id = this.ks.strip(e.key)!;
      const r = parseRegistration(id, e.value);
      if (!r.ok) {
        this.warnOnce(e, `ignoring malformed node registration: ${r.reason}`);
        continue;
      }
      out.set(id, { ...r.value, leaseId: e.lease });
    }
    this.nodesCache = out;
    return out;
  }

  node(nodeId: string): LiveNode | null {
    return this.nodes().get(nodeId) ?? null;
  }

  /** 256 entries, bucket index → node id, null when unassigned or malformed. */
  assignment(): ReadonlyArray<string | null> {
    if (this.assignCache) return this.assignCache;
    const out: Array<string | null> = new Array(BUCKET_COUNT).fill(null);
    for (const e of this.assignW.entries.values()) {
      const bucket = e.key.slice(this.ks.assignPrefix.length);
      if (!isBucketName(bucket)) {
        this.warnOnce(e, 'ignoring assign key that is not a bucket');
        continue;
      }
      const r = parseAssignValue(e.value);
      if (!r.ok) {
        this.warnOnce(e, `treating bucket as unassigned: ${r.reason}`);
        continue;
      }
      out[bucketIndex(bucket)] = r.value;
    }
    this.assignCache = out;
    return out;
  }

  /** Node id assigned to a bucket (name "5e" or index 94), null when none. */
  assignedTo(bucket: string | number): string | null {
    return this.assignment()[typeof bucket === 'number' ? bucket : bucketIndex(bucket)] ?? null;
  }

  /** Raw assign values (for repairs): bucket → value as stored, including malformed ones. */
  rawAssignment(): ReadonlyMap<string, string> {
    const out = new Map<string, string>();
    for (const e of this.assignW.entries.values()) out.set(e.key.slice(this.ks.assignPrefix.length), e.value);
    return out;
  }

  /** The current owner of a bucket (holder of dtable-cluster/owner/<hh>), null when none. */
  ownerOf(bucket: string | number): BucketOwner | null {
    const name = typeof bucket === 'number' ? BUCKETS[bucket]! : bucket;
    const cached = this.ownersCache.get(name);
    if (cached !== undefined) return cached;
    const e = this.ownW.entries.get(this.ks.owner(name));
    let owner: BucketOwner | null = null;
    if (e) {
      const r = parseJson(ownerValueSchema, e.value);
      if (r.ok) owner = { nodeId: r.value.node_id, token: e.createRevision, leaseId: e.lease };
      else this.warnOnce(e, `ignoring malformed owner value: ${r.reason}`);
    }
    this.ownersCache.set(name, owner);
    return owner;
  }

  /**
   * The live node to send a bucket's requests to: its owner when the owner is registered, else the
   * assigned node when registered, else null.
   */
  nodeFor(bucket: string | number): LiveNode | null {
    const owner = this.ownerOf(bucket);
    if (owner) {
      const n = this.node(owner.nodeId);
      if (n) return n;
    }
    const assigned = this.assignedTo(bucket);
    return assigned ? this.node(assigned) : null;
  }

  /** Operator weight overrides (dtable-cluster/weight/<node_id>). */
  weightOverrides(): ReadonlyMap<string, number> {
    if (this.weightsCache) return this.weightsCache;
    const out = new Map<string, number>();
    for (const e of this.ownW.entries.values()) {
      if (!e.key.startsWith(this.ks.weightPrefix)) continue;
      const id = e.key.slice(this.ks.weightPrefix.length);
      const r = parseWeight(e.value);
      if (!r.ok) {
        this.warnOnce(e, `ignoring malformed weight: ${r.reason}`);
        continue;
      }
      out.set(id, r.value);
    }
    this.weightsCache = out;
    return out;
  }

  /** Weight the monitor uses: override, else the registration's weight, else 1. */
  effectiveWeight(nodeId: string): number {
    return this.weightOverrides().get(nodeId) ?? this.node(nodeId)?.weight ?? 1;
  }

  /** Per-node load published by nodes. */
  loads(): ReadonlyMap<string, LoadValue> {
    if (this.loadsCache) return this.loadsCache;
    const out = new Map<string, LoadValue>();
    for (const e of this.ownW.entries.values()) {
      if (!e.key.startsWith(this.ks.loadPrefix)) continue;
      const r = parseJson(loadValueSchema, e.value);
      if (!r.ok) {
        this.warnOnce(e, `ignoring malformed load: ${r.reason}`);
        continue;
      }
      out.set(r.value.node_id, r.value);
    }
    this.loadsCache = out;
    return out;
  }

  /** etcd revision the assignment part of the view reflects. */
  assignmentRevision(): number {
    return this.assignW.revision();
  }

  /** mod_revision of the epoch record, 0 when there is none. */
  epochRevision(): number {
    return this.ownW.entries.get(this.ks.epoch)?.modRevision ?? 0;
  }

  epoch(): EpochRecord | null {
    const e = this.ownW.entries.get(this.ks.epoch);
    if (!e) return null;
    const r = parseJson(epochRecordSchema, e.value);
    if (!r.ok) {
      this.warnOnce(e, `ignoring malformed epoch record: ${r.reason}`);
      return null;
    }
    return r.value;
  }

  /** Monitor election candidates, oldest (the leader) first. */
  electionCandidates(): ElectionCandidate[] {
    const out: ElectionCandidate[] = [];
    for (const e of this.ownW.entries.values()) {
      if (!e.key.startsWith(this.ks.electionPrefix)) continue;
      out.push({ key: e.key, monitorId: e.value, createRevision: e.createRevision, leaseId: e.lease });
    }
    return out.sort((a, b) => a.createRevision - b.createRevision);
  }

  /** monitor_id of the current monitor leader, null when none. */
  leader(): string | null {
    return this.electionCandidates()[0]?.monitorId ?? null;
  }

  /** Raw entries under dtable-cluster/ with a given sub-prefix (e.g. rebalance requests). */
  ownEntries(prefix: string): KvEntry[] {
    return [...this.ownW.entries.values()].filter((e) => e.key.startsWith(prefix));
  }

  private kindOf(key: string): ViewChangeKind | null {
    const ks = this.ks;
    if (key.startsWith(ks.nodesPrefix)) return 'nodes';
    if (key.startsWith(ks.assignPrefix)) return 'assignment';
    if (key.startsWith(ks.ownerPrefix)) return 'owners';
    if (key.startsWith(ks.weightPrefix)) return 'weights';
    if (key.startsWith(ks.loadPrefix)) return 'loads';
    if (key === ks.epoch) return 'epoch';
    if (key.startsWith(ks.electionPrefix)) return 'leader';
    if (key.startsWith(ks.rebalanceRequestPrefix) || key.startsWith(ks.rebalanceResponsePrefix)) return 'requests';
    return null;
  }

  private warnOnce(e: KvEntry, msg: string): void {
    if (this.warned.get(e.key) === e.modRevision) return;
    this.warned.set(e.key, e.modRevision);
    this.log.warn({ key: e.key, value: e.value.slice(0, 200), mod_revision: e.modRevision }, msg);
  }
}
