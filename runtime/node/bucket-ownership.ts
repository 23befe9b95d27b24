// Which buckets this node serves (docs/node.md, Ownership). A bucket is served while its
// `owner/<hh>` key is held on the node's current lease and the lease is certainly alive
// (now < validUntil). The node takes the buckets `assign-<hh>` gives it once their owner key is
// absent, and gives up the others in two phases: stop writes, flush and unload, close sockets,
// then delete the owner key. A lost lease drops everything at once, without waiting for etcd.
import type { Etcd3 } from '../cluster/etcd/client.ts';
import type { ClusterView } from '../cluster/etcd/cluster-view.ts';
import { revokeLease } from '../cluster/etcd/lease.ts';
import type { Log } from '../cluster/etcd/log.ts';
import { releaseOwnership, takeOwnership } from '../cluster/etcd/ownership.ts';
import type { NodeRegistration } from '../cluster/etcd/registration.ts';
import { BUCKETS } from '../cluster/buckets.ts';
import type { BucketGate, OwnerInfo } from './bases.ts';

interface Held {
  token: number;
  leaseId: string;
  releasing: boolean;
}

export interface BucketOwnershipHooks {
  /** Flush and unload the bucket's bases and close its sockets (graceful handoff). */
  unload(bucket: string): Promise<void>;
  /** Forget the bucket at once (lease lost): nothing may be acknowledged for it any more. */
  drop(bucket: string): void;
  /**
   * Raise the storage fence of the bucket's bases to the new owner token before serving it, so a
   * stale owner stores nothing more (optional; a failure is logged: each base is fenced at load too).
   */
  claim?: ((bucket: string, token: number) => Promise<void>) | undefined;
}

export class BucketOwnership implements BucketGate {
  private readonly held = new Map<string, Held>();
  private readonly busy = new Set<string>();
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private readonly revokedOldLeases = new Set<string>();

  constructor(
    private readonly client: Etcd3,
    private readonly view: ClusterView,
    private readonly reg: NodeRegistration,
    private readonly hooks: BucketOwnershipHooks,
    private readonly log: Log,
  ) {}

  get nodeId(): string {
    return this.reg.nodeId;
  }

  start(): void {
    this.view.on('change', (kinds: Set<string>) => {
      if (kinds.has('assignment') || kinds.has('owners') || kinds.has('nodes')) this.schedule();
    });
    this.reg.on('lost', (reason: string) => this.dropAll(`lease lost: ${reason}`));
    this.reg.on('registered', () => this.schedule());
    this.timer = setInterval(() => this.schedule(), 1000);
    this.timer.unref?.();
    this.schedule();
  }

  tokenFor(bucket: string): number | null {
    const h = this.held.get(bucket);
    if (!h || h.releasing || this.stopping) return null;
    if (h.leaseId !== this.reg.leaseId || !this.reg.isValid()) return null;
    return h.token;
  }

  ackGuard(bucket: string, token: number): Error | null {
    const h = this.held.get(bucket);
    if (!h || h.token !== token) return new Error(`bucket ${bucket}: ownership (token ${token}) given up`);
    if (h.leaseId !== this.reg.leaseId || !this.reg.isValid()) return new Error(`bucket ${bucket}: lease may have expired`);
    return null;
  }

  ownerInfo(bucket: string): OwnerInfo | null {
    const n = this.view.nodeFor(bucket);
    return n ? { node_id: n.node_id, node_url: n.node_url, local_node_url: n.local_node_url } : null;
  }

  /** Buckets served now. */
  owned(): string[] {
    return [...this.held.keys()].filter((b) => this.tokenFor(b) !== null);
  }

  /** Graceful stop: release every bucket (two-phase), then the caller revokes the lease. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.held.keys()].map((b) => this.release(b)));
  }

  private schedule(): void {
    if (this.scheduled || this.stopping) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  private reconcile(): void {
    if (this.stopping) return;
    const me = this.reg.nodeId;
    const lease = this.reg.leaseId;
    const valid = lease !== null && this.reg.isValid();
    for (const b of BUCKETS) {
      if (this.busy.has(b)) continue;
      const want = valid && this.view.assignedTo(b) === me;
      const h = this.held.get(b);
      if (h && (!want || h.leaseId !== lease)) void this.run(b, () => this.release(b));
      else if (!h && want) {
        const owner = this.view.ownerOf(b);
        if (owner === null || (owner.nodeId === me && owner.leaseId !== lease)) void this.run(b, () => this.acquire(b, lease));
      }
    }
  }

  private async run(bucket: string, fn: () => Promise<void>): Promise<void> {
    this.busy.add(bucket);
    try {
      await fn();
    } catch (err) {
      this.log.warn({ bucket, err: (err as Error).message }, 'bucket ownership step failed');
    } finally {
      this.busy.delete(bucket);
    }
  }

  private async acquire(bucket: string, leaseId: string): Promise<void> {
    const owner = this.view.ownerOf(bucket);
    // Our own key on a lease we no longer keep (a previous incarnation, or a lease we gave up
    // after a missed keepalive): everything of it is dropped already, so revoke it now.
    if (owner && owner.nodeId === this.reg.nodeId && owner.leaseId !== leaseId && !this.revokedOldLeases.has(owner.leaseId)) {
      this.revokedOldLeases.add(owner.leaseId);
      await revokeLease(this.client, owner.leaseId);
    }
    const r = await takeOwnership(this.client, this.view.ks, bucket, this.reg.nodeId, leaseId);
    if (!r.ok) return;
    if (this.stopping || this.reg.leaseId !== leaseId) {
      await releaseOwnership(this.client, this.view.ks, bucket, r.token).catch(() => undefined);
      return;
    }
    if (this.hooks.claim) {
      try {
        await this.hooks.claim(bucket, r.token);
      } catch (err) {
        if ((err as Error).name === 'FencedError') {
          // A newer owner token holds the storage fence: this key is not the newest owner. With
          // a healthy cluster this cannot happen; it means the storage's fences come from another
          // etcd (etcd recreated while the database was kept: docs/deploy.md#base-storage).
          this.log.error(
            { bucket, token: r.token, err: (err as Error).message },
            'bucket fenced at storage by a newer token than its owner key; giving it up (was etcd recreated while the base storage was kept?)',
          );
          await releaseOwnership(this.client, this.view.ks, bucket, r.token).catch(() => undefined);
          return;
        }
        this.log.warn({ bucket, token: r.token, err: (err as Error).message }, 'storage fence not raised at takeover; each base is fenced when it loads');
      }
    }
    if (this.stopping || this.reg.leaseId !== leaseId) {
      await releaseOwnership(this.client, this.view.ks, bucket, r.token).catch(() => undefined);
      return;
    }
    this.held.set(bucket, { token: r.token, leaseId, releasing: false });
    this.log.debug({ bucket, token: r.token }, 'bucket taken');
    // The assignment may have moved on while we were taking it.
    this.schedule();
  }

  private async release(bucket: string): Promise<void> {
    const h = this.held.get(bucket);
    if (!h) return;
    h.releasing = true;
    try {
      await this.hooks.unload(bucket);
    } finally {
      this.held.delete(bucket);
      if (h.leaseId === this.reg.leaseId) {
        await releaseOwnership(this.client, this.view.ks, bucket, h.token).catch((err) =>
          this.log.warn({ bucket, err: (err as Error).message }, 'owner key release failed; it vanishes with the lease'),
        );
      }
      this.log.debug({ bucket, token: h.token }, 'bucket released');
    }
  }

  private dropAll(reason: string): void {
    if (this.held.size === 0) return;
    this.log.warn({ buckets: this.held.size, reason }, 'dropping every bucket');
    const leases = new Set<string>();
    for (const [b, h] of [...this.held.entries()]) {
      leases.add(h.leaseId);
      this.held.delete(b);
      this.hooks.drop(b);
    }
    // Nothing is served on that lease any more: if it is in fact still alive (a slow keepalive,
    // not an expiry), revoking it frees our owner keys for the next owners now instead of at TTL.
    for (const id of leases) {
      this.revokedOldLeases.add(id);
      void revokeLease(this.client, id).catch(() => undefined);
    }
  }
}
