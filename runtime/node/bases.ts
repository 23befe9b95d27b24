// The bases this node has loaded: each opened from base storage with the fencing token of its
// bucket's owner key, written through the group-committing log, broadcast after they are durable,
// unloaded when idle or when the bucket leaves. Knows nothing of etcd: a BucketGate says which
// buckets may be served and with which token.
import { EventEmitter } from 'node:events';
import { bucketOf } from '../cluster/buckets.ts';
import { dtableBytes, OperationError, type Dtable, type Operation } from './dtable/model.ts';
import { StorageUnavailableError, StoredDataError, type BaseStorage, type OpenBase } from './storage/storage.ts';

export interface OwnerInfo {
  node_id: string;
  node_url: string;
  local_node_url: string;
}

export interface BucketGate {
  /** The fencing token while this node may serve the bucket, else null. */
  tokenFor(bucket: string): number | null;
  /** An error when writes of this bucket under `token` may no longer be acknowledged. */
  ackGuard(bucket: string, token: number): Error | null;
  /** Where requests for the bucket should go now (for 421 answers). */
  ownerInfo(bucket: string): OwnerInfo | null;
}

/** This node does not (or no longer) serve the bucket: answered 421 with the owner. */
export class NotOwnedError extends Error {
  override name = 'NotOwnedError';
  constructor(
    readonly bucket: string,
    reason: string,
  ) {
    super(`bucket ${bucket} is not served by this node: ${reason}`);
  }
}

/**
 * A write reached the log but could not be acknowledged (the lease lapsed or a newer owner fenced
 * the base meanwhile): it may or may not survive. Answered 503, never 421, so that nothing
 * retries it blindly; a client retries it itself, safely when the write is idempotent (row _id).
 */
export class WriteOutcomeUnknownError extends Error {
  override name = 'WriteOutcomeUnknownError';
  constructor(
    readonly bucket: string,
    reason: string,
  ) {
    super(`bucket ${bucket}: write not acknowledged, outcome unknown: ${reason}`);
  }
}

export interface AppliedEvent {
  uuid: string;
  op: Operation;
  version: number;
  /** Socket id the operation came from, when it came over socket.io. */
  origin?: string | undefined;
}

interface Loaded {
  base: OpenBase;
  bucket: string;
  lastUsed: number;
}

interface BucketStats {
  ops: number;
  rate: number;
}

/** Events: `applied` (AppliedEvent) for every acknowledged operation, in version order per base. */
export class LoadedBases extends EventEmitter {
  private readonly loaded = new Map<string, Loaded>();
  private readonly loading = new Map<string, Promise<Loaded>>();
  private readonly stats = new Map<string, BucketStats>();
  /** Buckets being released: no new loads or writes. */
  private readonly closing = new Set<string>();
  operations = 0;

  constructor(
    readonly store: BaseStorage,
    private readonly gate: BucketGate,
  ) {
    super();
  }

  /** The served base (loading it when needed); throws NotOwnedError. */
  async get(uuid: string): Promise<OpenBase> {
    const bucket = bucketOf(uuid);
    const token = this.gate.tokenFor(bucket);
    if (token === null || this.closing.has(bucket)) throw new NotOwnedError(bucket, 'not the owner');
    let l = this.loaded.get(uuid);
    if (l && (l.base.token !== token || l.base.failure)) {
      this.loaded.delete(uuid);
      void l.base.close();
      l = undefined;
    }
    if (!l) {
      let p = this.loading.get(uuid);
      if (!p) {
        p = this.store
          .open(uuid, token, () => this.gate.ackGuard(bucket, token))
          .then((base) => ({ base, bucket, lastUsed: Date.now() }))
          .finally(() => this.loading.delete(uuid));
        this.loading.set(uuid, p);
      }
      try {
        l = await p;
      } catch (err) {
        // Storage down or a bad stored value: answered 503 / 500 by this node, not sent elsewhere.
        if (err instanceof StorageUnavailableError || err instanceof StoredDataError) throw err;
        throw new NotOwnedError(bucket, (err as Error).message);
      }
      if (this.gate.tokenFor(bucket) !== token || this.closing.has(bucket)) {
        void l.base.close();
        throw new NotOwnedError(bucket, 'ownership changed while loading');
      }
      this.loaded.set(uuid, l);
    }
    l.lastUsed = Date.now();
    return l.base;
  }

  /** Read the base after every earlier write to it is acknowledged. */
  async read<T>(uuid: string, fn: (d: Dtable) => T): Promise<T> {
    const base = await this.get(uuid);
    await base.flush();
    if (base.failure) throw new NotOwnedError(bucketOf(uuid), base.failure.message);
    return fn(base.dtable);
  }

  /**
   * Build an operation from the current base and apply it; resolves once it is durable.
   * `build` returning null means "nothing to do" (an idempotent retry): resolves after earlier
   * writes are durable, with the current version.
   */
  async write(uuid: string, build: (d: Dtable) => Operation | null, origin?: string): Promise<{ version: number; op: Operation | null }> {
    const base = await this.get(uuid);
    const bucket = bucketOf(uuid);
    const op = build(base.dtable);
    if (op === null) {
      await base.flush();
      if (base.failure) throw new NotOwnedError(bucket, base.failure.message);
      return { version: base.version, op: null };
    }
    let pending: ReturnType<OpenBase['append']>;
    try {
      pending = base.append(op);
    } catch (err) {
      if (err instanceof OperationError) throw err;
      throw new NotOwnedError(bucket, (err as Error).message);
    }
    try {
      await pending.durable;
    } catch (err) {
      throw new WriteOutcomeUnknownError(bucket, (err as Error).message);
    }
    this.operations++;
    const s = this.stats.get(bucket) ?? { ops: 0, rate: 0 };
    s.ops++;
    this.stats.set(bucket, s);
    this.emit('applied', { uuid, op, version: pending.version, origin } satisfies AppliedEvent);
    return { version: pending.version, op };
  }

  /** Stop serving a bucket gracefully: refuse new work, wait for queued writes, close its bases. */
  async unloadBucket(bucket: string): Promise<void> {
    this.closing.add(bucket);
    try {
      await Promise.all([...this.loading.entries()].filter(([u]) => bucketOf(u) === bucket).map(([, p]) => p.catch(() => undefined)));
      const mine = [...this.loaded.entries()].filter(([, l]) => l.bucket === bucket);
      for (const [u] of mine) this.loaded.delete(u);
      await Promise.all(mine.map(([, l]) => l.base.close()));
    } finally {
      this.closing.delete(bucket);
    }
  }

  /** Forget a bucket's bases at once (lease lost): queued writes fail their ack guard. */
  dropBucket(bucket: string): void {
    for (const [u, l] of [...this.loaded.entries()]) {
      if (l.bucket !== bucket) continue;
      this.loaded.delete(u);
      void l.base.close();
    }
  }

  /** Unload bases not used for `idleMs`. */
  async unloadIdle(idleMs: number, now = Date.now()): Promise<number> {
    const idle = [...this.loaded.entries()].filter(([, l]) => now - l.lastUsed >= idleMs);
    for (const [u] of idle) this.loaded.delete(u);
    await Promise.all(idle.map(([, l]) => l.base.close()));
    return idle.length;
  }

  loadedCount(): number {
    return this.loaded.size;
  }

  loadedUuids(): string[] {
    return [...this.loaded.keys()];
  }

  /** Per-bucket load since the last call (`elapsedMs` ago), for dtable-cluster/load/<node_id>. */
  load(elapsedMs: number): Record<string, { bases: number; ops_per_sec: number; bytes: number }> {
    const out: Record<string, { bases: number; ops_per_sec: number; bytes: number }> = {};
    for (const l of this.loaded.values()) {
      const b = (out[l.bucket] ??= { bases: 0, ops_per_sec: 0, bytes: 0 });
      b.bases++;
      b.bytes += dtableBytes(l.base.dtable);
    }
    for (const [bucket, s] of this.stats) {
      // A moving average over roughly a minute, so one burst does not dominate a rebalance.
      const now = elapsedMs > 0 ? (s.ops * 1000) / elapsedMs : 0;
      s.rate = s.rate === 0 ? now : s.rate + (now - s.rate) * Math.min(1, elapsedMs / 60_000);
      s.ops = 0;
      if (s.rate < 0.001 && !out[bucket]) {
        this.stats.delete(bucket);
        continue;
      }
      const b = (out[bucket] ??= { bases: 0, ops_per_sec: 0, bytes: 0 });
      b.ops_per_sec = Math.round(s.rate * 1000) / 1000;
    }
    return out;
  }

  async closeAll(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.all(all.map((l) => l.base.close()));
  }
}
