// Before revoking a lease its TTL readings suspect, the monitor asks the node (GET /lease): a live
// node spares its lease, whatever the phases of keepalives and etcd leader changes; a dead or
// lying answer spares nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { askNodeForLease, askNodesOnLease, LeaseExpiryGuard, nodeLeases, type RegisteredNode } from '../../../runtime/monitor/lease-expiry.ts';
import { silentLog } from '../../../runtime/cluster/etcd/log.ts';

describe('askNodeForLease', () => {
  let server: Server;
  let url: string;
  /** What the node answers next: status, raw body, or no answer at all. */
  let answer: { status?: number; body?: string; silent?: boolean } = {};
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (answer.silent) return; // accepted, never answered
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
      res.end(answer.body ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const ask = (body: unknown, status = 200) => {
    answer = { status, body: typeof body === 'string' ? body : JSON.stringify(body) };
    return askNodeForLease(url, 'dtable-server-01', '7587869', 6000, 1000);
  };

  it('returns the validity a node reports for this lease, at most the TTL', async () => {
    expect(await ask({ node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: 4100 })).toEqual({ validForMs: 4100 });
    expect(await ask({ node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: 9e12 })).toEqual({ validForMs: 6000 });
  });

  it.each([
    ['another lease', { node_id: 'dtable-server-01', lease_id: '1', valid_for_ms: 4100 }, 200, /lease 1/],
    ['another node', { node_id: 'dtable-server-02', lease_id: '7587869', valid_for_ms: 4100 }, 200, /dtable-server-02/],
    ['no valid lease (503)', { node_id: 'dtable-server-01', lease_id: null }, 503, /status 503/],
    ['a validity of 0', { node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: 0 }, 200, /unexpected answer/],
    ['a negative validity', { node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: -5 }, 200, /unexpected answer/],
    ['a validity as a string', { node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: '4100' }, 200, /unexpected answer/],
    ['a fractional validity', { node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: 0.5 }, 200, /unexpected answer/],
    ['a JSON array', [1, 2], 200, /unexpected answer/],
    ['no JSON', 'pong', 200, /not JSON/],
    ['a 404 (a node without GET /lease)', '{"error":"not found"}', 404, /status 404/],
    ['a body larger than 4 KiB', 'x'.repeat(1 << 20), 200, /larger than 4096/],
  ])('does not vouch on %s', async (_what, body, status, reason) => {
    const r = await ask(body, status);
    expect(r).not.toHaveProperty('validForMs');
    expect((r as { reason: string }).reason).toMatch(reason);
  });

  it('does not vouch for a node that accepts the connection and stays silent, within its timeout', async () => {
    answer = { silent: true };
    const started = Date.now();
    const r = await askNodeForLease(url, 'dtable-server-01', '7587869', 6000, 300);
    expect(r).not.toHaveProperty('validForMs');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('watches the registration keys\' own leases, and asks every node registered on a lease', async () => {
    answer = { body: JSON.stringify({ node_id: 'dtable-server-01', lease_id: '7587869', valid_for_ms: 4100 }) };
    const nodes = new Map<string, RegisteredNode & { lease_id?: string }>([
      // A registration value may name any lease_id; the key's lease is what counts.
      ['dtable-server-01', { leaseId: '7587869', local_node_url: url, lease_id: '1-2' }],
      ['dtable-server-02', { leaseId: '0', local_node_url: url }],
      // Another key on the same lease, its node gone: the live node's answer still counts.
      ['dtable-server-99', { leaseId: '7587869', local_node_url: 'http://127.0.0.1:1/' }],
    ]);
    expect([...nodeLeases(new Map([...nodes].slice(0, 2))).entries()]).toEqual([['7587869', 'dtable-server-01']]);
    expect(await askNodesOnLease(nodes, '7587869', 6000, 1000)).toEqual({ validForMs: 4100 });
    const r = await askNodesOnLease(nodes, '42', 6000, 1000);
    expect(r).toEqual({ reason: 'no registration on the lease' });
    answer = { status: 503, body: '{}' };
    expect((await askNodesOnLease(nodes, '7587869', 6000, 1000)) as { reason: string }).toEqual({ reason: expect.stringMatching(/dtable-server-01: status 503; dtable-server-99: /) });
  });

  it('does not vouch for a node that refuses the connection, nor for a URL that is not one', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await askNodeForLease(`http://127.0.0.1:${port}`, 'dtable-server-01', '7587869', 6000, 1000)).toHaveProperty('reason');
    expect(await askNodeForLease('not a url', 'dtable-server-01', '7587869', 6000, 1000)).toHaveProperty('reason');
  });
});

describe('LeaseExpiryGuard asking the node', () => {
  afterEach(() => vi.useRealTimers());
  const TTL = 6;
  /**
   * A fake etcd lease of TTL 6 s kept alive every 2 s from `renewPhase` until `killAt`, the etcd
   * leader changing every 3 s from `termPhase` (Promote adds 1 s, our rendered election timeout),
   * read by the guard every 500 ms; the node answers GET /lease while alive.
   */
  async function run(p: { renewPhase: number; termPhase: number; ask: boolean; killAt?: number; until: number }) {
    vi.useFakeTimers({ now: 0 });
    let expiry = TTL * 1000;
    let term = 1;
    let lastKeepalive = 0;
    let alive = true;
    const revoked: { id: string; at: number }[] = [];
    let asked = 0;
    const client = {
      leaseClient: {
        async leaseTimeToLive() {
          const ttl = revoked.length > 0 ? -1 : Math.floor((expiry - Date.now()) / 1000);
          return { header: { raft_term: String(term) }, TTL: String(ttl), grantedTTL: String(revoked.length > 0 ? 0 : TTL) };
        },
        async leaseRevoke({ ID }: { ID: string }) {
          revoked.push({ id: ID, at: Date.now() });
          return {};
        },
      },
    };
    const timers: NodeJS.Timeout[] = [];
    timers.push(
      setTimeout(() => {
        const ka = () => {
          if (!alive) return;
          lastKeepalive = Date.now();
          expiry = lastKeepalive + TTL * 1000;
        };
        ka();
        timers.push(setInterval(ka, 2000));
      }, p.renewPhase),
      setTimeout(() => {
        const promote = () => {
          term++;
          expiry = Date.now() + TTL * 1000 + 1000;
        };
        promote();
        timers.push(setInterval(promote, 3000));
      }, p.termPhase),
    );
    if (p.killAt !== undefined) timers.push(setTimeout(() => (alive = false), p.killAt));
    const guard = new LeaseExpiryGuard(client as never, {
      leases: () => new Map([['L', 'dtable-server-01']]),
      ...(p.ask
        ? {
            askNode: async () => {
              asked++;
              const validForMs = lastKeepalive + TTL * 1000 - 1200 - Date.now();
              return alive && validForMs > 0 ? { validForMs } : { reason: 'connect ECONNREFUSED' };
            },
          }
        : {}),
      leaseTtlSeconds: TTL,
      isLeader: () => true,
      log: silentLog,
      pollMs: 500,
    });
    guard.start();
    await vi.advanceTimersByTimeAsync(p.until);
    guard.stop();
    for (const t of timers) clearTimeout(t);
    return { revoked, asked, spared: guard.spared, lastKeepalive };
  }

  // Terms start at 2.5 s + 3k s, keepalives at 0.01 s + 2k s. A keepalive 1.51 s into a term moves
  // the expiry 0.51 s later, one 0.51 s in moves it 0.49 s earlier, and the one 2.51 s in is
  // never read before the next term: no reading proves a keepalive (more phases:
  // lease-expiry.test.ts).
  const hidden = { renewPhase: 10, termPhase: 2500 };

  it('on the readings alone revokes a live lease whose keepalives the phases hide (why it asks)', async () => {
    const r = await run({ ...hidden, ask: false, until: 30_000 });
    expect(r.revoked.length).toBeGreaterThan(0);
  });

  it('spares that live lease because its node reports it valid, for as long as it lives', async () => {
    const r = await run({ ...hidden, ask: true, until: 60_000 });
    expect(r.revoked).toEqual([]);
    expect(r.spared).toBeGreaterThan(0);
  });

  it('judges the other leases when the reading of one fails every round', async () => {
    vi.useFakeTimers({ now: 0 });
    let expiry = TTL * 1000;
    let term = 1;
    const revoked: string[] = [];
    const client = {
      leaseClient: {
        async leaseTimeToLive({ ID }: { ID: string }) {
          if (ID === '13') throw new Error('13 INTERNAL: Request message serialization failure');
          const gone = revoked.includes(ID);
          return { header: { raft_term: String(term) }, TTL: String(gone ? -1 : Math.floor((expiry - Date.now()) / 1000)), grantedTTL: String(gone ? 0 : TTL) };
        },
        async leaseRevoke({ ID }: { ID: string }) {
          revoked.push(ID);
          return {};
        },
      },
    };
    // Lease 7587869's node is dead and etcd renews it at every leader change (every 3 s).
    const churn = setInterval(() => {
      term++;
      expiry = Date.now() + TTL * 1000 + 1000;
    }, 3000);
    const guard = new LeaseExpiryGuard(client as never, {
      leases: () => new Map([['7587869', 'dtable-server-01'], ['13', 'dtable-server-02']]),
      askNode: async () => ({ reason: 'connect ECONNREFUSED' }),
      leaseTtlSeconds: TTL,
      isLeader: () => true,
      log: silentLog,
      pollMs: 500,
    });
    guard.start();
    await vi.advanceTimersByTimeAsync(30_000);
    guard.stop();
    clearInterval(churn);
    expect(revoked).toEqual(['7587869']);
  });

  it('revokes it within TTL + grace + 2 s of the last keepalive once the node is dead', async () => {
    const r = await run({ ...hidden, ask: true, killAt: 20_005, until: 40_000 });
    expect(r.revoked.map((x) => x.id)).toEqual(['L']);
    expect(r.revoked[0]!.at - r.lastKeepalive).toBeLessThanOrEqual(TTL * 1000 + 1000 + 2000);
  });
});
