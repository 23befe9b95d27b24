// Monitor leader election: each replica creates `election/<lease hex>` on its own lease; the key
// with the lowest create_revision leads. The leader proves leadership in every write by comparing
// its key's create_revision (LeaderGuard), so a replica whose lease expired — crashed or
// SIGSTOPped — cannot write, whatever it believes.
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import type { LeaderGuard } from '../cluster/etcd/assignment-writer.ts';
import type { ClusterView } from '../cluster/etcd/cluster-view.ts';
import { LeaseKeeper } from '../cluster/etcd/lease.ts';
import { silentLog, type Log } from '../cluster/etcd/log.ts';

export interface ElectionOptions {
  monitorId: string;
  ttlSeconds: number;
  retryMs?: number;
  log?: Log;
}

/** Events: `elected` (guard), `deposed` (reason). */
export class MonitorElection extends EventEmitter {
  private keeper: LeaseKeeper | null = null;
  private mine: LeaderGuard | null = null;
  private leading = false;
  private stopped = false;
  private readonly log: Log;
  private readonly onView = () => this.evaluate();

  constructor(
    private readonly client: Etcd3,
    private readonly view: ClusterView,
    private readonly opts: ElectionOptions,
  ) {
    super();
    this.log = opts.log ?? silentLog;
  }

  /** The guard for writes while leader; null when not leading. */
  guard(): LeaderGuard | null {
    return this.isLeader() ? this.mine : null;
  }

  isLeader(): boolean {
    return this.leading && this.keeper !== null && this.keeper.isValid();
  }

  async start(): Promise<void> {
    this.view.on('change', this.onView);
    await this.campaign();
  }

  /** Step down: revoke the election lease so another replica takes over at once. */
  async resign(): Promise<void> {
    this.stopped = true;
    this.view.off('change', this.onView);
    this.setLeading(false, 'resigned');
    const k = this.keeper;
    this.keeper = null;
    this.mine = null;
    await k?.revoke().catch((err: Error) => this.log.warn({ err: err.message }, 'revoking election lease failed'));
  }

  private async campaign(): Promise<void> {
    while (!this.stopped) {
      try {
        const keeper = new LeaseKeeper(this.client, { ttlSeconds: this.opts.ttlSeconds, log: this.log });
        const leaseId = await keeper.grant();
        const key = `${this.view.ks.electionPrefix}${BigInt(leaseId).toString(16)}`;
        const res = await this.client
          .if(key, 'Create', '==', 0)
          .then(this.client.put(key).value(this.opts.monitorId).lease(leaseId))
          .commit();
        if (!res.succeeded) throw new Error(`election key ${key} already exists`);
        if (this.stopped) {
          await keeper.revoke();
          return;
        }
        this.keeper = keeper;
        this.mine = { key, createRevision: Number(res.header.revision) };
        keeper.once('lost', (reason: string) => {
          if (this.keeper !== keeper) return;
          this.keeper = null;
          this.mine = null;
          this.setLeading(false, `election lease lost: ${reason}`);
          void this.campaign();
        });
        keeper.on('renewed', () => this.evaluate());
        if (!keeper.isValid()) {
          // The lease ran out while the txn was in flight (etcd lost quorum): its 'lost' fired
          // before anyone listened. Campaign again on a new lease instead of idling forever.
          this.keeper = null;
          this.mine = null;
          await keeper.revoke().catch(() => undefined);
          throw new Error(`election lease ${leaseId} lost while campaigning`);
        }
        this.log.info({ key, create_revision: this.mine.createRevision }, 'campaigning');
        this.evaluate();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'campaign failed, retrying');
        await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 500));
      }
    }
  }

  /** Leader iff the view has caught up to our key and it is the oldest candidate. */
  private evaluate(): void {
    const mine = this.mine;
    if (!mine || !this.keeper?.isValid()) return this.setLeading(false, 'no valid election lease');
    const candidates = this.view.electionCandidates();
    if (!candidates.some((c) => c.key === mine.key)) return this.setLeading(false, 'own election key not seen yet');
    this.setLeading(candidates[0]!.key === mine.key, `leader is ${candidates[0]!.monitorId}`);
  }

  private setLeading(leading: boolean, reason: string): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.log.info({ key: this.mine?.key }, 'elected monitor leader');
      this.emit('elected', this.mine);
    } else {
      this.log.warn({ reason }, 'no longer monitor leader');
      this.emit('deposed', reason);
    }
  }
}
