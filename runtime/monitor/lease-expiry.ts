// Expiring node leases that etcd keeps renewing on its own. etcd's lessor gives every lease its
// full TTL again when a new etcd leader takes over (lease/lessor.go Promote), so while the etcd
// leader changes more often than lease_ttl, a crashed node's lease never runs out and its buckets
// stay unserved. etcd's lease checkpoints (rendered, etcd 3.4+) carry the remaining TTL over, but
// only for leases of more than their fixed 5-minute interval; node leases are shorter.
//
// The monitor leader therefore watches each node lease's remaining TTL (LeaseTimeToLive, a
// read) together with etcd's raft term. Within one term, an expiry that moved later than every
// earlier reading allows is a keepalive the node sent; a term change says nothing. A lease with
// no keepalive seen for its TTL plus a grace, across at least one term change (without one etcd
// expires it by itself), is suspect.
//
// The readings cannot prove every keepalive: etcd reports whole seconds, and a keepalive soon
// after a term change moves the expiry by less than that (Promote adds the election timeout).
// With the leader changing every lease_ttl/2, some phases of keepalives and elections hide a live
// node's keepalives for longer than its TTL (test/runtime/monitor/lease-expiry.test.ts). So a
// suspect is not revoked on the readings alone: the monitor first asks the node (GET /lease on
// its local_node_url), and a node that reports this lease valid had a keepalive acknowledged by
// etcd within its TTL, so etcd would not have expired it either. A suspect whose node does not
// answer so (dead, unreachable, another lease) is revoked, which deletes the node's registration
// and owner keys exactly as an expiry would. A live node revoked by mistake (cut from the
// monitor only) self-fences on its next keepalive and registers again (docs/node.md,
// Ownership), so a mistake costs a handoff, never a second writer.
import type { Etcd3 } from 'etcd3';
import { revokeLease } from '../cluster/etcd/lease.ts';
import type { Log } from '../cluster/etcd/log.ts';
import { request } from 'undici';
import { z } from 'zod';

/** One reading of a lease: when (monitor clock, ms), in which raft term (-1 = unknown), remaining and granted TTL (s). */
export interface LeaseReading {
  at: number;
  term: number;
  /** Remaining TTL in whole seconds as etcd reports it; -1 = the lease no longer exists. */
  ttl: number;
  grantedTtl: number;
}

interface Tracked {
  /** Raft term of the readings that bound `low`..`high`. */
  term: number;
  /**
   * Where the lease's expiry must lie if nothing renewed it in this term (monitor clock ms): each
   * reading says at + ttl <= expiry < at + ttl + 1 s (etcd reports whole seconds).
   */
  low: number;
  high: number;
  /** When a keepalive was last seen (or the lease first seen), monitor clock ms. */
  aliveAt: number;
  /** The raft term at that moment. */
  aliveTerm: number;
  grantedTtl: number;
}

/**
 * Slack for the reading time: the monitor stamps a reading when the answer arrives, a little
 * after etcd measured it, so a reading's lower bound may be late by a round trip.
 */
export const READING_SLACK_MS = 300;

/** Decides which leases etcd would have expired by now had its leader not changed. Pure. */
export class LeaseExpiryTracker {
  private readonly leases = new Map<string, Tracked>();

  constructor(private readonly graceMs: number) {}

  /**
   * Records a reading; a vanished lease (ttl -1) is forgotten. Within one term the readings of a
   * lease nobody renews agree on one expiry; a reading whose lower bound lies beyond every
   * earlier upper bound (plus slack) shows the expiry moved later: a keepalive.
   */
  observe(id: string, r: LeaseReading): void {
    if (r.ttl < 0) {
      this.leases.delete(id);
      return;
    }
    const low = r.at + r.ttl * 1000;
    const high = low + 1000;
    const t = this.leases.get(id);
    if (!t) {
      // First sight: assume it was just renewed.
      this.leases.set(id, { term: r.term, low, high, aliveAt: r.at, aliveTerm: r.term, grantedTtl: r.grantedTtl });
      return;
    }
    t.grantedTtl = r.grantedTtl;
    if (r.term < 0 || r.term !== t.term) {
      // A new etcd leader renewed every lease in full: new bounds, no evidence.
      Object.assign(t, { term: r.term, low, high });
      return;
    }
    if (low > t.high + READING_SLACK_MS) {
      t.aliveAt = r.at;
      t.aliveTerm = r.term;
      Object.assign(t, { low, high });
      return;
    }
    // A reading just past the upper bound (within the slack) keeps it: a later one beyond it
    // plus the slack still counts.
    t.low = Math.max(t.low, low);
    t.high = Math.min(t.high, high);
  }

  /**
   * The lease's node reported it valid for `validForMs` more (GET /lease) asked at `at`: etcd
   * acknowledged a keepalive sent no earlier than at + validForMs - TTL (the node's own deadline
   * is the send time plus the TTL minus a margin). Counts as a keepalive seen then.
   */
  vouched(id: string, at: number, validForMs: number): void {
    const t = this.leases.get(id);
    if (!t) return;
    // Never more than the granted TTL: a node's clock stepping back cannot push aliveAt past `at`.
    t.aliveAt = Math.max(t.aliveAt, at + Math.min(validForMs, t.grantedTtl * 1000) - t.grantedTtl * 1000);
    t.aliveTerm = t.term;
  }

  /** Forgets every lease not in `ids` (nodes that left). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of [...this.leases.keys()]) if (!ids.has(id)) this.leases.delete(id);
  }

  /** Forgets everything (e.g. after a gap in the readings, when no evidence could be seen). */
  reset(): void {
    this.leases.clear();
  }

  /** Suspects: leases without a keepalive seen for their TTL + grace, across a raft term change. */
  overdue(now: number): string[] {
    const out: string[] = [];
    for (const [id, t] of this.leases) {
      const termChanged = t.term < 0 || t.term !== t.aliveTerm;
      if (termChanged && now > t.aliveAt + t.grantedTtl * 1000 + this.graceMs) out.push(id);
    }
    return out;
  }
}

/** GET /lease of a node (docs/node.md, HTTP API): the lease its keepalives are acknowledged on. */
const nodeLeaseSchema = z.object({
  node_id: z.string(),
  lease_id: z.string(),
  /** ms until the node stops trusting the lease: last acknowledged keepalive's send time + TTL - margin - now. */
  valid_for_ms: z.number().int().positive(),
});

/** Largest /lease answer read; a node's is about 100 bytes. */
const NODE_LEASE_MAX_BYTES = 4096;

/**
 * Asks the node at `nodeUrl` (its local_node_url) whether lease `leaseId` is valid on it.
 * Returns the validity left in ms (at most `ttlMs`), or the reason it does not vouch: no answer
 * within `timeoutMs`, a status other than 200, a body that is not the expected JSON, or another
 * node or lease. Never throws.
 */
export async function askNodeForLease(nodeUrl: string, nodeId: string, leaseId: string, ttlMs: number, timeoutMs: number): Promise<{ validForMs: number } | { reason: string }> {
  try {
    const url = new URL('lease', nodeUrl.endsWith('/') ? nodeUrl : `${nodeUrl}/`);
    const res = await request(url, { method: 'GET', signal: AbortSignal.timeout(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > NODE_LEASE_MAX_BYTES) {
        res.body.destroy();
        return { reason: `answer larger than ${NODE_LEASE_MAX_BYTES} bytes` };
      }
      chunks.push(chunk);
    }
    if (res.statusCode !== 200) return { reason: `status ${res.statusCode}` };
    let json: unknown;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return { reason: 'answer is not JSON' };
    }
    const parsed = nodeLeaseSchema.safeParse(json);
    if (!parsed.success) return { reason: `unexpected answer: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
    const v = parsed.data;
    if (v.node_id !== nodeId) return { reason: `answered by ${v.node_id}` };
    if (v.lease_id !== leaseId) return { reason: `the node is on lease ${v.lease_id}` };
    return { validForMs: Math.min(v.valid_for_ms, ttlMs) };
  } catch (err) {
    return { reason: (err as Error).message || (err as Error).name };
  }
}

/** A live registration as the monitor's cluster view holds it (LiveNode). */
export interface RegisteredNode {
  /** The registration key's own lease, decimal; '0' when the key has none. */
  readonly leaseId: string;
  readonly local_node_url: string;
}

/**
 * The node leases to watch: lease id → node id, from the registration keys' own leases (never
 * the informational `lease_id` a node wrote in its value, which may be any string).
 */
export function nodeLeases(nodes: ReadonlyMap<string, RegisteredNode>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [nodeId, node] of nodes) if (node.leaseId !== '0') out.set(node.leaseId, nodeId);
  return out;
}

/**
 * Asks every node registered on `leaseId` (several keys may share one lease) whether the lease is
 * valid on it: the first positive answer, else every reason, joined.
 */
export async function askNodesOnLease(nodes: ReadonlyMap<string, RegisteredNode>, leaseId: string, ttlMs: number, timeoutMs: number): Promise<{ validForMs: number } | { reason: string }> {
  const on = [...nodes].filter(([, n]) => n.leaseId === leaseId);
  if (on.length === 0) return { reason: 'no registration on the lease' };
  const answers = await Promise.all(on.map(([id, n]) => askNodeForLease(n.local_node_url, id, leaseId, ttlMs, timeoutMs)));
  const yes = answers.find((a): a is { validForMs: number } => 'validForMs' in a);
  return yes ?? { reason: answers.map((a, i) => `${on[i]![0]}: ${(a as { reason: string }).reason}`).join('; ') };
}

export interface LeaseExpiryGuardOptions {
  /** The node leases to watch: lease id → node id (from the registrations). */
  leases: () => ReadonlyMap<string, string>;
  /**
   * Asks a suspect's node whether the lease is valid on it (askNodeForLease); a positive answer
   * spares the lease. Absent: suspects are revoked on the readings alone.
   */
  askNode?: (leaseId: string, nodeId: string) => Promise<{ validForMs: number } | { reason: string }>;
  leaseTtlSeconds: number;
  isLeader: () => boolean;
  log: Log;
  /** Reading period; default lease_ttl/12 between 0.5 and 10 s. */
  pollMs?: number;
  /** Added to the TTL before revoking; default 1 s. */
  graceMs?: number;
}

/** Polls the node leases while the monitor leads and revokes those etcd keeps alive wrongly. */
export class LeaseExpiryGuard {
  private readonly tracker: LeaseExpiryTracker;
  private readonly pollMs: number;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private lastRound = 0;
  /** Leases revoked (for metrics and logs). */
  revoked = 0;
  /** Suspects spared because their node reported the lease valid. */
  spared = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly opts: LeaseExpiryGuardOptions,
  ) {
    this.pollMs = opts.pollMs ?? Math.min(10_000, Math.max(500, (opts.leaseTtlSeconds * 1000) / 12));
    this.tracker = new LeaseExpiryTracker(opts.graceMs ?? 1000);
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), this.pollMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async round(): Promise<void> {
    if (this.busy) return;
    if (!this.opts.isLeader()) {
      this.tracker.reset();
      return;
    }
    this.busy = true;
    try {
      const now = Date.now();
      // After a gap (not leading, etcd unreachable, a paused process) no keepalive could be seen.
      if (now - this.lastRound > this.pollMs * 4) this.tracker.reset();
      const leases = this.opts.leases();
      this.tracker.retain(new Set(leases.keys()));
      // Each answer carries the raft term of the member that answered (etcd fills the header). A
      // lease whose reading failed is judged in a later round; the others are judged now.
      const settled = await Promise.allSettled(
        [...leases.keys()].map(async (id) => {
          const r = await this.client.leaseClient.leaseTimeToLive({ ID: id, keys: false });
          return [id, { at: Date.now(), term: Number(r.header.raft_term), ttl: Number(r.TTL), grantedTtl: Number(r.grantedTTL) }] as const;
        }),
      );
      const readings = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) this.opts.log.warn({ err: (failed.reason as Error).message, failed: settled.length - readings.length }, 'lease expiry check: some lease readings failed');
      // A round that took too long (a paused process, a stalled etcd, a clock step) or that lost
      // the leadership meanwhile saw nothing in between: it judges no lease, and starts over.
      const answered = Date.now();
      if (answered - now > this.pollMs * 4 || !this.opts.isLeader()) {
        this.tracker.reset();
        this.lastRound = answered;
        return;
      }
      for (const [id, r] of readings) this.tracker.observe(id, r);
      this.lastRound = answered;
      const suspects = this.tracker.overdue(Date.now());
      // Each suspect's node is asked first, all at once; a node that reports the lease valid had a
      // keepalive acknowledged within its TTL (the readings missed it).
      const answers = await Promise.all(
        suspects.map(async (id) => {
          const nodeId = leases.get(id) ?? '';
          // Credited from when it was asked: the node measured its validity after that.
          const at = Date.now();
          const answer = this.opts.askNode ? await this.opts.askNode(id, nodeId) : { reason: 'not asked' };
          return { id, nodeId, answer, at };
        }),
      );
      for (const { id, nodeId, answer, at } of answers) {
        if (!this.opts.isLeader()) break;
        if ('validForMs' in answer) {
          this.tracker.vouched(id, at, answer.validForMs);
          this.spared++;
          this.opts.log.info({ lease: id, node_id: nodeId, valid_for_ms: answer.validForMs }, 'kept a node lease the TTL readings suspected: its node reports it valid');
          continue;
        }
        const gone = await revokeLease(this.client, id);
        this.tracker.observe(id, { at: Date.now(), term: -1, ttl: -1, grantedTtl: 0 });
        if (gone) {
          this.revoked++;
          this.opts.log.warn(
            { lease: id, node_id: nodeId, lease_ttl: this.opts.leaseTtlSeconds, node_answer: answer.reason },
            'revoked a node lease etcd kept renewing through leader changes: no keepalive seen for its TTL',
          );
        }
      }
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'lease expiry check failed');
    } finally {
      this.busy = false;
    }
  }
}
