// A lease kept alive by our own loop, because the etcd3 client reports a lost lease only after
// 2×TTL. validUntil() is the send time of the last acknowledged keepalive plus the TTL minus a
// margin: etcd measures the TTL from when it receives the keepalive, which is after we sent it,
// so until validUntil() the lease cannot have expired (self-fencing, docs/node.md, Ownership).
//
// Keepalives go to one member (the last one that answered). One unanswered within the attempt
// timeout is sent to the next member as well (hedged: the first may still answer), for as long
// as the lease is valid: a member that went silent costs one attempt timeout, not the lease, and
// a slow leader is not abandoned.
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError } from 'etcd3';
import { memberClients, memberHealth } from './client.ts';
import { silentLog, type Log } from './log.ts';

/** A lease grant answered too late to leave `headroomMs` of validity: the lease was revoked, not used. */
export class LeaseGrantTooLateError extends Error {
  override name = 'LeaseGrantTooLateError';
}

export interface LeaseKeeperOptions {
  ttlSeconds: number;
  /** Subtracted from send time + TTL; default min(2 s, TTL/5). */
  marginMs?: number;
  /** Keepalive period; default TTL/3 (as etcd's Go client). */
  keepaliveIntervalMs?: number;
  /** Wait for one member's keepalive answer before trying the next; default TTL/5 within 500..2000 ms. */
  attemptTimeoutMs?: number;
  /**
   * A grant must leave at least this much validity when its answer arrives, else the lease is
   * revoked and grant() rejects with LeaseGrantTooLateError; default one keepalive period.
   */
  grantHeadroomMs?: number;
  /** Index (in the host list) of the member to send keepalives to first; default random. */
  member?: number;
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
  readonly attemptTimeoutMs: number;
  readonly grantHeadroomMs: number;
  private readonly members: Etcd3[];
  /** Index of the member keepalives go to: the last one that answered. */
  private member: number;
  private inFlight: Promise<boolean> | null = null;
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
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? Math.min(2000, Math.max(500, this.ttlMs / 5));
    this.grantHeadroomMs = opts.grantHeadroomMs ?? this.intervalMs;
    this.log = opts.log ?? silentLog;
    this.members = memberClients(client);
    this.member = (opts.member ?? Math.floor(Math.random() * this.members.length)) % this.members.length;
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

  /**
   * Grant the lease and start the keepalive loop. Resolves with the lease id. Rejects with
   * LeaseGrantTooLateError when the answer (possibly to a retry on another member) arrives with
   * less than grantHeadroomMs of validity left, counted from the first send: such a lease is
   * revoked, because registering on it would publish a key nobody can keep alive in time.
   */
  async grant(): Promise<string> {
    const sentAt = Date.now();
    const res = await this.client.leaseClient.leaseGrant({ TTL: this.ttlMs / 1000, ID: 0 });
    const id = String(res.ID);
    if (this.closed) {
      await revokeLease(this.client, id).catch(() => undefined);
      throw new Error('lease keeper closed while granting');
    }
    const left = sentAt + this.ttlMs - this.marginMs - Date.now();
    if (left < this.grantHeadroomMs) {
      this.stop();
      void revokeLease(this.client, id).catch((err: Error) => this.log.warn({ lease: id, err: err.message }, 'revoking a late lease failed; it expires by its TTL'));
      this.log.warn({ lease: id, answered_after_ms: Date.now() - sentAt, validity_left_ms: left }, 'lease grant answered too late: revoked');
      throw new LeaseGrantTooLateError(`lease ${id} granted with ${Math.max(0, left)} ms of validity left (< ${this.grantHeadroomMs} ms headroom)`);
    }
    this.id = id;
    this.renewedAt(sentAt);
    this.timer = setInterval(() => void this.keepaliveOnce(), this.intervalMs);
    this.timer.unref?.();
    return this.id;
  }

  /**
   * One keepalive round: sent to the current member, and on no answer within attemptTimeoutMs
   * (or an error) to the next members too while the lease is still valid. Resolves true when
   * acknowledged. A round already running is joined, not doubled. Exposed for tests.
   */
  keepaliveOnce(): Promise<boolean> {
    if (!this.inFlight) {
      this.inFlight = this.keepaliveRound().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  /** Index of the member the next keepalive goes to (for tests and logs). */
  get currentMember(): number {
    return this.member;
  }

  /**
   * Hedged: the current member first (unless it failed its last health probe and another passed);
   * each attemptTimeoutMs without an answer the next member is asked as well, without giving up
   * on the earlier ones (a slow leader still counts), until one acknowledges, every member
   * failed, or the lease's validity ran out.
   */
  private keepaliveRound(): Promise<boolean> {
    const n = this.members.length;
    // Members that passed their last health probe first (the current one first among them).
    const ok = memberHealth(this.client);
    const order = [...Array(n).keys()].map((k) => (this.member + k) % n).sort((a, b) => Number(ok[b] ?? true) - Number(ok[a] ?? true));
    const abort = new AbortController();
    return new Promise<boolean>((resolve) => {
      let started = 0;
      let failed = 0;
      let done = false;
      let hedge: NodeJS.Timeout | undefined;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(hedge);
        abort.abort();
        resolve(ok);
      };
      const launch = () => {
        clearTimeout(hedge);
        if (done) return;
        if (this.closed || this.id === null || (started > 0 && !this.isValid())) return finish(false);
        if (started >= n) return;
        const member = order[started]!;
        started++;
        void this.keepaliveAt(member, abort.signal).then((r) => {
          if (r === 'ok') {
            this.member = member;
            return finish(true);
          }
          if (r === 'gone') return finish(false);
          if (++failed === n) return finish(false);
          if (failed === started) launch();
        });
        if (started < n) {
          hedge = setTimeout(launch, this.attemptTimeoutMs);
          hedge.unref?.();
        }
      };
      launch();
    });
  }

  private async keepaliveAt(member: number, abort: AbortSignal): Promise<'ok' | 'gone' | 'retry'> {
    const id = this.id!;
    const sentAt = Date.now();
    let stream: Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>> | null = null;
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // An attempt waits at most until the lease could have expired (and at least one attempt timeout).
    const waitMs = Math.max(this.attemptTimeoutMs, this.validUntil() - sentAt);
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`keepalive unanswered for ${waitMs} ms`)), waitMs);
        onAbort = () => reject(new Error('another member answered'));
        abort.addEventListener('abort', onAbort, { once: true });
      });
      const exchange = (async () => {
        stream = await this.members[member]!.leaseClient.leaseKeepAlive();
        const s = stream;
        return new Promise<{ TTL: string }>((resolve, reject) => {
          s.on('data', resolve);
          s.on('error', reject);
          s.write({ ID: id });
        });
      })();
      exchange.catch(() => undefined);
      const res = await Promise.race([exchange, timeout]);
      answered = true;
      if (this.closed || this.id !== id) return 'gone';
      if (Number(res.TTL) <= 0) {
        this.lose(`lease ${id} expired or was revoked`);
        return 'gone';
      }
      this.renewedAt(sentAt);
      return 'ok';
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) {
        this.lose(`lease ${id} not found`);
        return 'gone';
      }
      if (!abort.aborted) this.log.warn({ err: (err as Error).message, lease: id, member }, 'lease keepalive failed on this member');
      return 'retry';
    } finally {
      clearTimeout(timer);
      if (onAbort) abort.removeEventListener('abort', onAbort);
      const s = stream as { end(): void; cancel?(): void } | null;
      try {
        // An unanswered stream is cancelled, so it does not linger on a silent member.
        if (answered) s?.end();
        else s?.cancel?.();
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
