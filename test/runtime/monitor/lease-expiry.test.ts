// Which node leases the monitor revokes because etcd renewed them on leader changes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseExpiryTracker } from '../../../runtime/monitor/lease-expiry.ts';

const TTL = 6;
const GRACE = 1000;
/** Readings every 500 ms of a lease that etcd resets to `TTL` at each term change and `renewEvery` ms (0 = dead). */
function simulate(opts: { renewEvery: number; termEvery: number; until: number; diedAt?: number }): { tracker: LeaseExpiryTracker; overdueAt: number | null } {
  const tracker = new LeaseExpiryTracker(GRACE);
  let expiry = TTL * 1000;
  let term = 1;
  let overdueAt: number | null = null;
  for (let t = 0; t <= opts.until; t += 100) {
    const alive = opts.diedAt === undefined || t < opts.diedAt;
    if (alive && opts.renewEvery > 0 && t > 0 && t % opts.renewEvery === 0) expiry = t + TTL * 1000;
    if (opts.termEvery > 0 && t > 0 && t % opts.termEvery === 0) {
      term++;
      expiry = t + TTL * 1000 + 500; // Promote: full TTL plus the election timeout
    }
    if (t % 500 === 0) {
      tracker.observe('L', { at: t, term, ttl: Math.floor((expiry - t) / 1000), grantedTtl: TTL });
      if (overdueAt === null && tracker.overdue(t).includes('L')) overdueAt = t;
    }
  }
  return { tracker, overdueAt };
}

describe('LeaseExpiryTracker', () => {
  it('never calls a lease renewed every TTL/3 overdue, with the etcd leader changing every TTL/2', () => {
    expect(simulate({ renewEvery: 2000, termEvery: 3000, until: 120_000 }).overdueAt).toBeNull();
  });

  it('calls a dead lease overdue within TTL + grace + one reading of its last keepalive, though etcd keeps renewing it', () => {
    const { overdueAt } = simulate({ renewEvery: 2000, termEvery: 3000, until: 60_000, diedAt: 20_100 });
    expect(overdueAt).not.toBeNull();
    expect(overdueAt! - 20_000).toBeLessThanOrEqual(TTL * 1000 + GRACE + 500);
  });

  it('leaves a dead lease to etcd while the term does not change', () => {
    expect(simulate({ renewEvery: 2000, termEvery: 0, until: 60_000, diedAt: 20_100 }).overdueAt).toBeNull();
  });

  it('forgets a lease that vanished', () => {
    const t = new LeaseExpiryTracker(GRACE);
    t.observe('L', { at: 0, term: 1, ttl: 5, grantedTtl: TTL });
    t.observe('L', { at: 100, term: 1, ttl: -1, grantedTtl: 0 });
    t.observe('L', { at: 60_000, term: 9, ttl: 5, grantedTtl: TTL });
    expect(t.overdue(60_000)).toEqual([]);
  });

  it('takes no rise across a term change as a keepalive', () => {
    const t = new LeaseExpiryTracker(GRACE);
    t.observe('L', { at: 0, term: 1, ttl: 5, grantedTtl: TTL });
    for (let at = 500, term = 2; at <= 10_000; at += 500, term++) t.observe('L', { at, term, ttl: 6, grantedTtl: TTL });
    expect(t.overdue(10_000)).toEqual(['L']);
  });

  it('never calls a live lease overdue, whatever the phases of keepalives, readings and leader changes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 199 }).map((x) => x * 10), fc.integer({ min: 0, max: 299 }).map((x) => x * 10), fc.integer({ min: 0, max: 49 }).map((x) => x * 10), fc.integer({ min: 1, max: 9 }), (renewPhase, termPhase, readPhase, seed) => {
        const tracker = new LeaseExpiryTracker(GRACE);
        let expiry = TTL * 1000;
        let term = 1;
        let jitter = seed;
        for (let t = 0; t <= 60_000; t += 10) {
          if ((t + renewPhase) % 2000 === 0) expiry = t + TTL * 1000;
          if ((t + termPhase) % 3000 === 0) {
            term++;
            expiry = t + TTL * 1000 + 500;
          }
          if ((t + readPhase) % 500 === 0) {
            jitter = (jitter * 7 + 3) % 11; // a reading 0..100 ms late
            const at = t + jitter * 10;
            tracker.observe('L', { at, term, ttl: Math.floor((expiry - t) / 1000), grantedTtl: TTL });
            if (tracker.overdue(at).length > 0) return false;
          }
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});
