// The monitor's lease check never revokes a live node's lease because one of its rounds was slow
// (a reading answered late, a paused monitor) across an etcd leader change: such a round judges nothing.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseExpiryGuard } from '../../../runtime/monitor/lease-expiry.ts';
import { silentLog } from '../../../runtime/cluster/etcd/log.ts';

let TTL = 9;
function world(opts: { termChangeAt: number; slowReadAt: number; slowMs: number }) {
  let expiry = TTL * 1000;
  let term = 1;
  const revoked: string[] = [];
  let slowDone = false;
  const client = {
    leaseClient: {
      async leaseTimeToLive(_: { ID: string }) {
        if (!slowDone && Date.now() >= opts.slowReadAt) {
          slowDone = true;
          // The request waits (etcd forwarding to a leader being elected / monitor paused before sending).
          await new Promise((r) => setTimeout(r, opts.slowMs));
        }
        const now = Date.now();
        return { header: { raft_term: String(term) }, TTL: String(Math.floor((expiry - now) / 1000)), grantedTTL: String(TTL) };
      },
      async leaseRevoke({ ID }: { ID: string }) {
        revoked.push(ID);
        return {};
      },
    },
  };
  // Node keepalive every TTL/3; etcd leader change resets expiry to now + TTL.
  const ka = setInterval(() => (expiry = Date.now() + TTL * 1000), (TTL * 1000) / 3);
  const tc = setTimeout(() => {
    term++;
    expiry = Date.now() + TTL * 1000 + 500;
  }, opts.termChangeAt);
  const guard = new LeaseExpiryGuard(client as never, {
    leases: () => new Map([['L', 'node-1']]),
    leaseTtlSeconds: TTL,
    isLeader: () => true,
    log: silentLog,
  });
  guard.start();
  return { revoked, stop: () => (guard.stop(), clearInterval(ka), clearTimeout(tc)) };
}

describe('LeaseExpiryGuard under a slow reading', () => {
  afterEach(() => vi.useRealTimers());
  it('with no slow reading and one term change it never revokes the live node', async () => {
    vi.useFakeTimers({ now: 0 });
    const w = world({ termChangeAt: 20_500, slowReadAt: 1e12, slowMs: 0 });
    await vi.advanceTimersByTimeAsync(60_000);
    w.stop();
    expect(w.revoked).toEqual([]);
  });
  it('one reading answered 8 s late across a term change: the live node keeps its lease', async () => {
    vi.useFakeTimers({ now: 0 });
    const w = world({ termChangeAt: 20_500, slowReadAt: 20_000, slowMs: 8_000 });
    await vi.advanceTimersByTimeAsync(60_000);
    w.stop();
    expect(w.revoked).toEqual([]);
  });
  it('default lease_ttl 90: an 85 s monitor pause inside one round across a term change revokes nothing', async () => {
    TTL = 90;
    vi.useFakeTimers({ now: 0 });
    const w = world({ termChangeAt: 200_500, slowReadAt: 200_000, slowMs: 85_000 });
    await vi.advanceTimersByTimeAsync(400_000);
    w.stop();
    TTL = 9;
    expect(w.revoked).toEqual([]);
  });
});
