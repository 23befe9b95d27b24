// A node's registration `<p>dtable-server-NN` on its own lease (docs/keyspace.md; docs/node.md, Ownership):
// granted, kept alive, re-registered with a new lease after a loss, revoked on graceful stop.
import { EventEmitter } from 'node:events';
import type { Etcd3, Watcher } from 'etcd3';
import type { Keyspace } from '../keyspace.ts';
import { registrationSchema, type Registration } from '../values.ts';
import { LeaseKeeper, revokeLease } from './lease.ts';
import { silentLog, type Log } from './log.ts';

export interface NodeRegistrationOptions {
  ks: Keyspace;
  /** What to publish; `lease_id` and `started_at` are filled in when absent. */
  registration: Registration;
  ttlSeconds: number;
  /** A previous incarnation's lease (kept in the data dir): revoked before registering. */
  previousLeaseId?: string | null | undefined;
  marginMs?: number;
  keepaliveIntervalMs?: number;
  /** Least time between the starts of re-registration attempts after a loss, in ms. Default 500. */
  retryMs?: number;
  /** Validity a new lease must have left when granted, else it is revoked (LeaseKeeper); default one keepalive period. */
  grantHeadroomMs?: number;
  log?: Log;
}

/**
 * Events:
 * - `registered` (leaseId: string): the registration is on a (new) live lease — persist the id.
 * - `renewed` (validUntil: number): a keepalive was acknowledged.
 * - `lost` (reason: string): the lease is gone or may have expired; stop serving now. A new
 *   registration follows automatically (`registered` again) unless stop() was called.
 */
export class NodeRegistration extends EventEmitter {
  private keeper: LeaseKeeper | null = null;
  private guard: Watcher | null = null;
  private stopped = false;
  private registration: Registration;
  private readonly log: Log;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly client: Etcd3,
    private readonly opts: NodeRegistrationOptions,
  ) {
    super();
    this.registration = registrationSchema.parse(opts.registration);
    this.log = opts.log ?? silentLog;
  }

  get nodeId(): string {
    return this.registration.node_id;
  }

  /** The current lease id (decimal string), null while not registered. */
  get leaseId(): string | null {
    return this.keeper?.leaseId ?? null;
  }

  /** Epoch ms until which this node may act as registered (0 when not). */
  validUntil(): number {
    return this.keeper?.validUntil() ?? 0;
  }

  isValid(now = Date.now()): boolean {
    return now < this.validUntil();
  }

  /** Revoke the previous lease (if given), then register. Resolves with the lease id. */
  async start(): Promise<string> {
    if (this.opts.previousLeaseId) {
      const revoked = await revokeLease(this.client, this.opts.previousLeaseId);
      this.log.info({ lease: this.opts.previousLeaseId, revoked }, 'revoked previous lease');
    }
    return this.register();
  }

  /** Publish a changed registration (e.g. new weight) on the current lease. */
  async update(registration: Registration): Promise<void> {
    this.registration = registrationSchema.parse(registration);
    if (this.leaseId) await this.put(this.leaseId);
  }

  /** Graceful stop: revoke the lease, so the registration (and owner keys on it) vanish at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    const k = this.keeper;
    this.keeper = null;
    await this.guard?.cancel().catch(() => undefined);
    this.guard = null;
    await k?.revoke();
  }

  private value(leaseId: string): string {
    return JSON.stringify({ started_at: this.startedAt, ...this.registration, lease_id: leaseId });
  }

  private async put(leaseId: string): Promise<void> {
    await this.client.put(this.opts.ks.node(this.registration.node_id)).value(this.value(leaseId)).lease(leaseId);
  }

  private async register(): Promise<string> {
    const keeper = new LeaseKeeper(this.client, {
      ttlSeconds: this.opts.ttlSeconds,
      marginMs: this.opts.marginMs,
      keepaliveIntervalMs: this.opts.keepaliveIntervalMs,
      grantHeadroomMs: this.opts.grantHeadroomMs,
      log: this.log,
    });
    // Rejects (the lease revoked) when the grant came back with too little validity left:
    // registering on it would publish a key that may expire before the first keepalive.
    const id = await keeper.grant();
    try {
      await this.put(id);
    } catch (err) {
      await keeper.revoke().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      await keeper.revoke().catch(() => undefined);
      throw new Error('registration stopped while registering');
    }
    this.keeper = keeper;
    // Not awaited: a watch created on a member that stopped answering waits for gRPC keepalive to
    // drop the connection (seconds), and the registration must not wait for its guard.
    this.guardKey(keeper, id).catch((err: Error) => this.log.warn({ err: err.message }, 'registration guard watch failed'));
    keeper.on('renewed', (until: number) => this.emit('renewed', until));
    keeper.once('lost', (reason: string) => {
      if (this.keeper !== keeper) return;
      this.keeper = null;
      void this.guard?.cancel().catch(() => undefined);
      this.guard = null;
      this.emit('lost', reason);
      void this.reregister();
    });
    if (!keeper.isValid()) {
      // The lease ran out while we were still registering (etcd lost quorum during the put or
      // the watch): its 'lost' fired before anyone listened, and its keepalives have stopped.
      // Without this the node would stay "registered" on a dead lease forever.
      this.keeper = null;
      await this.guard?.cancel().catch(() => undefined);
      this.guard = null;
      await keeper.revoke().catch(() => undefined);
      throw new Error(`lease ${id} lost while registering`);
    }
    this.log.info({ node_id: this.nodeId, lease: id }, 'registered');
    this.emit('registered', id);
    return id;
  }

  /**
   * Put the registration back when someone else overwrites or deletes it (e.g. garbage written
   * with etcdctl): within milliseconds, so the monitor's debounce sees no change.
   */
  private async guardKey(keeper: LeaseKeeper, id: string): Promise<void> {
    await this.guard?.cancel().catch(() => undefined);
    const key = this.opts.ks.node(this.registration.node_id);
    const w = await this.client.watch().key(key).create();
    if (this.keeper !== keeper || this.stopped) {
      await w.cancel().catch(() => undefined);
      return;
    }
    this.guard = w;
    const restore = (found: string | null) => {
      if (this.keeper !== keeper || this.stopped || !keeper.isValid()) return;
      if (found === this.value(id)) return;
      this.log.warn({ key, found: found?.slice(0, 200) ?? null }, 'registration overwritten or deleted; restoring');
      this.put(id).catch((err: Error) => this.log.warn({ err: err.message }, 'restoring registration failed'));
    };
    w.on('put', (kv) => restore(kv.value.toString()));
    w.on('delete', () => restore(null));
    // A change between our put and the watch start would be missed: check once.
    restore(await this.client.get(key).string());
  }

  private async reregister(): Promise<void> {
    while (!this.stopped) {
      const startedAt = Date.now();
      try {
        await this.register();
        return;
      } catch (err) {
        if (this.stopped) return;
        const attemptMs = Date.now() - startedAt;
        this.log.warn({ err: (err as Error).message, attempt_ms: attemptMs }, 're-registration failed, retrying');
        // Attempts start at most every retryMs: one that failed at once waits, one that took that
        // long already (a grant's deadline, a grant answered too late at a heal) is retried at once.
        const waitMs = (this.opts.retryMs ?? 500) - attemptMs;
        if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }
}
