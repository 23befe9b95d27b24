// A consistent in-memory copy of every key under a prefix. Read the prefix at revision R, watch
// from R+1; events at or below the applied revision are skipped, so a resumed or duplicated watch
// changes nothing. After a dropped stream it re-watches from the last applied revision + 1; after
// a compaction (or any watch error) and periodically (to catch a silently dead watch) it re-reads
// the prefix and emits the difference as ordinary changes.
//
// The watch stream runs on one member (memberClients). A member can stop answering without
// closing the stream (a partition, or a member cut from its quorum that still serves its stale
// copy), so the watch's own member is asked for the current revision every probe interval with a
// linearizable read, which only a member in the quorum can answer. No answer within the probe
// timeout, or a dropped stream, moves the watch to the next member, resuming after the last
// applied revision. etcd3's watch requests carry progress_notify, so quiet streams also get
// etcd's progress notifications (`--experimental-watch-progress-notify-interval`, default 10 min).
import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { memberClients, memberHealth, nextMember } from './client.ts';
import { silentLog, type Log } from './log.ts';

export interface KvEntry {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** Decimal lease id, "0" for none. */
  readonly lease: string;
}

export interface KvChange {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new entry (put) — undefined for delete. */
  readonly entry?: KvEntry;
  /** The entry before the change, when known. */
  readonly previous?: KvEntry;
}

export interface PrefixWatcherOptions {
  /** Full re-read period; default 30 s. 0 disables. */
  rereadIntervalMs?: number;
  /** How often the watch's member is asked for the current revision; default 1000 ms. 0 disables. */
  probeIntervalMs?: number;
  /** A probe unanswered for this long moves the watch to the next member; default 1500 ms. */
  probeTimeoutMs?: number;
  /** Index (in the host list) of the member to watch on first; default random. */
  member?: number;
  log?: Log;
}

function toEntry(kv: IKeyValue): KvEntry {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: String(kv.lease ?? '0'),
  };
}

/**
 * Events: `change` (KvChange) for every key that changed, in revision order; `batch`
 * (KvChange[]) once per applied watch response or re-read (after the individual `change`s);
 * `resync` (reason) when a full re-read starts; `member` (index, reason) when the watch moves to
 * another member.
 */
/** How long a watch remembers that its own probe of a member failed (it moves elsewhere first). */
const PROBE_FAILURE_MEMORY_MS = 10_000;

export class PrefixWatcher extends EventEmitter {
  private readonly map = new Map<string, KvEntry>();
  private applied = 0;
  private watcher: Watcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private rereading: Promise<void> | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private confirmed = 0;
  private readonly members: Etcd3[];
  private member: number;
  /** When this watch's own probe of each member last failed (Date.now() ms; absent: never). */
  private readonly probeFailedAt: number[] = [];
  private readonly log: Log;

  constructor(
    private readonly client: Etcd3,
    readonly prefix: string,
    private readonly opts: PrefixWatcherOptions = {},
  ) {
    super();
    this.log = opts.log ?? silentLog;
    this.members = memberClients(client);
    this.member = (opts.member ?? Math.floor(Math.random() * this.members.length)) % this.members.length;
  }

  /**
   * Epoch ms of the last proof that the map is current up to then (give or take the stream's
   * delivery delay): a full read, or a linearizable read answered by the watch's member.
   * 0 before start().
   */
  confirmedAt(): number {
    return this.confirmed;
  }

  /** Index (in the host list) of the member the watch stream runs on. */
  get currentMember(): number {
    return this.member;
  }

  /** Keys (full, with prefix) → entries, as of revision(). */
  get entries(): ReadonlyMap<string, KvEntry> {
    return this.map;
  }

  /** The etcd revision the map reflects. */
  revision(): number {
    return this.applied;
  }

  /** Initial read and watch. Resolves once the map is filled. */
  async start(): Promise<void> {
    await this.reread('start');
    const every = this.opts.rereadIntervalMs ?? 30_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.reread('periodic').catch(() => undefined), every);
      this.timer.unref?.();
    }
    const probeEvery = this.opts.probeIntervalMs ?? 1000;
    if (probeEvery > 0) {
      this.probeTimer = setInterval(() => void this.probe(), probeEvery);
      this.probeTimer.unref?.();
    }
  }

  /** Ask the watch's member for the current revision; move the watch when it does not answer in time. */
  private async probe(): Promise<void> {
    if (this.probing || this.closed || !this.watcher) return;
    this.probing = true;
    const member = this.member;
    const w = this.watcher;
    const askedAt = Date.now();
    const timeoutMs = this.opts.probeTimeoutMs ?? 1500;
    let timer: NodeJS.Timeout | undefined;
    try {
      const read = this.members[member]!.get(this.prefix).options({ deadline: askedAt + timeoutMs }).exec();
      read.catch(() => undefined);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      await Promise.race([read, timeout]);
      // The member answered a linearizable read, so it is in the quorum and its stream carries
      // what the quorum committed (lagging by its apply delay only).
      this.confirmed = Math.max(this.confirmed, askedAt);
    } catch (err) {
      if (!this.closed && this.watcher === w && this.member === member) {
        this.probeFailedAt[member] = Date.now();
        this.moveWatch(`probe failed: ${(err as Error).message}`);
      }
    } finally {
      clearTimeout(timer);
      this.probing = false;
    }
  }

  /** Re-open the watch on the next member that passed its health probe, resuming after the last applied revision. */
  private moveWatch(reason: string): void {
    if (this.members.length > 1) this.member = this.nextMember();
    this.log.warn({ prefix: this.prefix, member: this.member, reason, from: this.applied + 1 }, 'watch moved to another member');
    this.emit('member', this.member, reason);
    this.rewatch();
  }

  /**
   * The member to move the watch to: the next one that passed the pool's last health probe and
   * that this watch's own probe has not seen fail in the last PROBE_FAILURE_MEMORY_MS, else the
   * next one this watch has not seen fail, else nextMember's choice. A loaded process can see a
   * healthy member's probe time out too; without this memory, two such moves in a row could bring
   * the watch back to the silent member it had just left.
   */
  private nextMember(): number {
    const n = this.members.length;
    const ok = memberHealth(this.client);
    const now = Date.now();
    const fresh = (i: number) => now - (this.probeFailedAt[i] ?? 0) >= PROBE_FAILURE_MEMORY_MS;
    for (const wanted of [(i: number) => ok[i] === true && fresh(i), fresh]) {
      for (let k = 1; k < n; k++) {
        const i = (this.member + k) % n;
        if (wanted(i)) return i;
      }
    }
    return nextMember(this.client, this.member);
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.timer = this.probeTimer = null;
    const w = this.watcher;
    this.watcher = null;
    if (w) await w.cancel().catch(() => undefined);
  }

  /** Re-read the prefix now and emit what differs (also restarts the watch). */
  reread(reason: string): Promise<void> {
    if (!this.rereading) {
      this.rereading = this.doReread(reason).finally(() => {
        this.rereading = null;
      });
    }
    return this.rereading;
  }

  private async doReread(reason: string): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        if (reason !== 'start' && reason !== 'periodic') this.log.info({ prefix: this.prefix, reason }, 'watch resync');
        this.emit('resync', reason);
        const askedAt = Date.now();
        const res = await this.client.getAll().prefix(this.prefix).exec();
        const rev = Number(res.header.revision);
        if (rev < this.applied) return; // a lagging answer; what we hold is newer
        const fresh = new Map(res.kvs.map((kv) => [kv.key.toString(), toEntry(kv)]));
        const changes: KvChange[] = [];
        for (const [key, prev] of this.map) {
          if (!fresh.has(key)) changes.push({ type: 'delete', key, previous: prev });
        }
        for (const [key, entry] of fresh) {
          const prev = this.map.get(key);
          if (!prev || prev.modRevision !== entry.modRevision || prev.value !== entry.value) {
            changes.push(prev ? { type: 'put', key, entry, previous: prev } : { type: 'put', key, entry });
          }
        }
        for (const c of changes) {
          if (c.type === 'delete') this.map.delete(c.key);
          else this.map.set(c.key, c.entry!);
        }
        const missed = reason === 'periodic' && changes.length > 0;
        this.applied = rev;
        this.confirmed = Math.max(this.confirmed, askedAt);
        if (missed) this.log.warn({ prefix: this.prefix, changes: changes.length }, 'periodic re-read found changes the watch missed');
        this.emitChanges(changes);
        // A watch that missed changes, or any non-periodic reason, gets a fresh stream.
        if (!this.watcher || missed || reason !== 'periodic') this.rewatch();
        return;
      } catch (err) {
        if (this.closed) return;
        this.log.warn({ prefix: this.prefix, err: (err as Error).message, attempt }, 'prefix read failed, retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  private rewatch(): void {
    const old = this.watcher;
    this.watcher = null;
    if (old) void old.cancel().catch(() => undefined);
    if (this.closed) return;
    // No prev_kv: the map above holds previous values, and etcd reads a prev_kv from its backend
    // for every event in the stream's send loop; under a handoff's burst of owner writes that
    // delayed delivery on the whole stream by 50-150 ms (bench:cluster).
    const w = this.members[this.member]!
      .watch()
      .prefix(this.prefix)
      .startRevision(String(this.applied + 1))
      .watcher();
    this.watcher = w;
    w.on('data', (res: IWatchResponse) => {
      if (this.watcher === w) this.apply(res);
    });
    w.on('disconnected', (err: Error) => {
      if (this.watcher !== w) return;
      this.log.info({ prefix: this.prefix, err: err.message, from: this.applied + 1 }, 'watch disconnected, resuming on the next member');
      // etcd3 resumes from the revision in the last response header, which can skip events
      // still in flight; drop its watcher and resume from what we applied ourselves, on the next
      // member (the member client retries only its own member, which may be the one that failed).
      this.watcher = null;
      void w.cancel().catch(() => undefined);
      setTimeout(() => {
        if (!this.closed && this.watcher === null) this.moveWatch(`disconnected: ${err.message}`);
      }, 50);
    });
    w.on('error', (err: Error) => {
      if (this.watcher !== w) return;
      this.watcher = null;
      // Typically "mvcc: required revision has been compacted": re-read everything.
      void this.reread(`watch error: ${err.message}`);
    });
  }

  private apply(res: IWatchResponse): void {
    const base = this.applied;
    const changes: KvChange[] = [];
    let top = base;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= base) continue;
      top = Math.max(top, rev);
      const key = ev.kv.key.toString();
      const previous = this.map.get(key);
      if (ev.type === 'Delete') {
        this.map.delete(key);
        changes.push(previous ? { type: 'delete', key, previous } : { type: 'delete', key });
      } else {
        const entry = toEntry(ev.kv);
        this.map.set(key, entry);
        changes.push(previous ? { type: 'put', key, entry, previous } : { type: 'put', key, entry });
      }
    }
    this.applied = top;
    this.emitChanges(changes);
  }

  private emitChanges(changes: KvChange[]): void {
    if (changes.length === 0) return;
    for (const c of changes) this.emit('change', c);
    this.emit('batch', changes);
  }
}
