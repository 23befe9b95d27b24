// A lease kept alive by our own loop, because the etcd3 client reports a lost lease only after
// 2×TTL. validUntil() is the send time of the last acknowledged keepalive plus the TTL minus a
// margin: etcd measures the TTL from when it receives the keepalive, which is after we sent it,
// so until validUntil() the lease cannot have expired (self-fencing, DESIGN.md section 6).
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError } from 'etcd3';
import { silentLog, type Log } from './log.ts';

export interface LeaseKeeperOptions {
  ttlSeconds: number;
  /** Subtracted from send time + TTL; default min(2 s, TTL/5). */
  marginMs?: number;
  /** Keepalive period; default TTL/3 (as etcd's Go client). */
  keepaliveIntervalMs?: number;
  log?: Log;
}

/**
 * Events: `renewed` (validUntil: number) after every acknowledged keepalive, `lost` (reason: string)
 * once, when the lease is gone or validUntil passed without a renewal. After `lost` the keeper is
 * dead; grant a new one.
 */
export class LeaseKeeper extends EventEmitter {
  readonly ttlMs: number;
  readonly marginMs: number;
  readonly intervalMs: number;
  private id: string | null = null;
  private valid = 0;
  private timer: NodeJS.Timeout | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly log: Log;

  constructor(
    private readonly client: Etcd3,
    opts: LeaseKeeperOptions,
  ) {
    super();
    if (!(opts.ttlSeconds >= 1)) throw new RangeError(`lease TTL must be at least 1 s, got ${opts.ttlSeconds}`);
    this.ttlMs = opts.ttlSeconds * 1000;
    this.marginMs = opts.marginMs ?? Math.min(2000, this.ttlMs / 5);
    this.intervalMs = opts.keepaliveIntervalMs ?? this.ttlMs / 3;
    this.log = opts.log ?? silentLog;
  }

  /** Decimal lease id, null before grant(). */
  get leaseId(): string | null {
    return this.id;
  }

  /** Epoch ms until which the lease is certainly alive; 0 when not granted or lost. */
  validUntil(): number {
    return this.closed ? 0 : this.valid;
  }

  isValid(now = Date.now()): boolean {
    return now < this.validUntil();
  }

  /** Grant the lease and start the keepalive loop. Resolves with the lease id. */
  async grant(): Promise<string> {
    const sentAt = Date.now();
    const res = await this.client.leaseClient.leaseGrant({ TTL: this.ttlMs / 1000, ID: 0 });
    this.id = String(res.ID);
    if (this.closed) {
      await this.revoke();
      throw new Error('lease keeper closed while granting');
    }
    this.renewedAt(sentAt);
    this.timer = setInterval(() => void this.keepaliveOnce(), this.intervalMs);
    this.timer.unref?.();
    return this.id;
  }

  /** One keepalive round trip; resolves true when acknowledged. Exposed for tests and fast renewal. */
  async keepaliveOnce(): Promise<boolean> {
    if (this.closed || this.id === null) return false;
    const id = this.id;
    const sentAt = Date.now();
    let stream: Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>> | null = null;
    try {
      stream = await this.client.leaseClient.leaseKeepAlive();
      const s = stream;
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('keepalive timed out')), Math.max(500, this.intervalMs));
        s.on('data', (r: { TTL: string }) => {
          clearTimeout(t);
          resolve(r);
        });
        s.on('error', (err: Error) => {
          clearTimeout(t);
          reject(err);
        });
        s.write({ ID: id });
      });
      if (this.closed || this.id !== id) return false;
      if (Number(res.TTL) <= 0) {
        this.lose(`lease ${id} expired or was revoked`);
        return false;
      }
      this.renewedAt(sentAt);
      return true;
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) this.lose(`lease ${id} not found`);
      else this.log.warn({ err: (err as Error).message, lease: id }, 'lease keepalive failed');
      return false;
    } finally {
      try {
        stream?.end();
      } catch {
        /* stream already gone */
      }
    }
  }

  /** Stop keeping the lease alive and revoke it (its keys vanish at once). */
  async revoke(): Promise<void> {
    this.stop();
    if (this.id === null) return;
    try {
      await this.client.leaseClient.leaseRevoke({ ID: this.id });
    } catch (err) {
      if (!(err instanceof EtcdLeaseInvalidError)) throw err;
    }
  }

  /** Stop the keepalive loop and let the lease expire on its own. */
  stop(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.expiry) clearTimeout(this.expiry);
    this.timer = this.expiry = null;
  }

  private renewedAt(sentAt: number): void {
    const until = sentAt + this.ttlMs - this.marginMs;
    if (until <= this.valid) return;
    this.valid = until;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.lose(`no keepalive acknowledged in time (valid until ${new Date(until).toISOString()})`), Math.max(0, until - Date.now()));
    this.expiry.unref?.();
    this.emit('renewed', until);
  }

  private lose(reason: string): void {
    if (this.closed) return;
    this.stop();
    this.log.warn({ lease: this.id, reason }, 'lease lost');
    this.emit('lost', reason);
  }
}

/** Revoke a lease by id, ignoring "not found" (used to drop a previous incarnation's lease). */
export async function revokeLease(client: Etcd3, leaseId: string): Promise<boolean> {
  try {
    await client.leaseClient.leaseRevoke({ ID: leaseId });
    return true;
  } catch (err) {
    if (err instanceof EtcdLeaseInvalidError) return false;
    throw err;
  }
}
