// Malformed control-plane requests (found by an attack review; each failed before its fix): admin
// API inputs coerced or stripped into real rebalances and drains, and the monitor remembering every
// rebalance request forever.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEtcd, type Etcd3 } from '../../runtime/cluster/etcd/client.ts';
import { requestRebalance, type RebalanceOptions } from '../../runtime/cluster/etcd/requests.ts';
import { keyspace } from '../../runtime/cluster/keyspace.ts';
import type { DrainOptions } from '../../runtime/cluster/etcd/drain.ts';
import { Monitor } from '../../runtime/monitor/monitor.ts';
import { createAdminApp, type AdminSource } from '../../runtime/proxy/admin.ts';
import { ProxyMetrics } from '../../runtime/proxy/metrics.ts';
import { startEtcdCluster, type EtcdTestCluster } from '../harness/etcd.ts';

const TOKEN = 'admin-secret';
const auth = { authorization: `Token ${TOKEN}` };

function recordingSource(rebalances: RebalanceOptions[], drains: DrainOptions[]): AdminSource {
  return {
    assignment: () => ({}) as never,
    health: () => ({ live: 2, down: 0, draining: false, table_age_ms: 0, revision: 1 }),
    drain: async (o) => {
      drains.push(o);
      return { node_id: o.nodeId, action: o.undo ? 'undrain' : 'drain', dry_run: o.dryRun, applied: !o.dryRun, weight: o.undo ? 1 : 0, moves: [] };
    },
    rebalance: async (o) => {
      rebalances.push(o);
      return { plan: { moves: [], before: { max: 1, mean: 1 }, after: { max: 1, mean: 1 } }, applied: !o.dryRun, epoch: 1, monitorId: 'm' };
    },
  };
}

describe('proxy admin API: malformed requests must not write', () => {
  // rebalanceQuery says additionalProperties:false, but fastify's ajv runs with removeAdditional,
  // so an unknown (misspelt) parameter is silently dropped and the request becomes a real rebalance.
  for (const url of ['/rebalance/?dry-run=1', '/rebalance/?dryRun=true', '/rebalance/?dryrun=1']) {
    it(`refuses POST ${url} with 400 instead of applying a real rebalance`, async () => {
      const rebalances: RebalanceOptions[] = [];
      const app = await createAdminApp({ source: recordingSource(rebalances, []), metrics: new ProxyMetrics(), adminToken: TOKEN });
      const r = await app.inject({ method: 'POST', url, headers: auth });
      expect(rebalances.filter((o) => !o.dryRun)).toEqual([]);
      expect(r.statusCode).toBe(400);
      await app.close();
    });
  }

  // coerceTypes: null → false, [x] → x, 123 → "123": type-confused bodies are written, not 400.
  const bodies: [string, unknown][] = [
    ['dry_run null becomes a real drain', { node_id: 'dtable-server-01', dry_run: null }],
    ['undo null becomes a drain', { node_id: 'dtable-server-01', undo: null }],
    ['dry_run 0 becomes a real drain', { node_id: 'dtable-server-01', dry_run: 0 }],
    ['node_id array is unwrapped', { node_id: ['dtable-server-01'] }],
    ['node_id number is stringified', { node_id: 1 }],
    ['a misspelt undo is no undrain', { node_id: 'dtable-server-01', Undo: true }],
  ];
  for (const [what, body] of bodies) {
    it(`refuses POST /drain/ ${JSON.stringify(body)} with 400 (${what})`, async () => {
      const drains: DrainOptions[] = [];
      const app = await createAdminApp({ source: recordingSource([], drains), metrics: new ProxyMetrics(), adminToken: TOKEN });
      const r = await app.inject({ method: 'POST', url: '/drain/', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      expect(drains).toEqual([]);
      expect(r.statusCode).toBe(400);
      await app.close();
    });
  }
});

describe('monitor: memory per rebalance request', () => {
  let etcd: EtcdTestCluster;
  let client: Etcd3;
  let monitor: Monitor;
  const ks = keyspace('');
  beforeAll(async () => {
    etcd = await startEtcdCluster();
    client = connectEtcd({ hostList: etcd.hostList });
    monitor = await Monitor.start(client, ks, { monitorId: 'monitor-attack', electionTtlSeconds: 5, debounceMs: 50, reconcileIntervalMs: 60_000, rebalanceMoveBudget: 8, log: pino({ level: 'silent' }) });
    const deadline = Date.now() + 15_000;
    while (!monitor.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }, 60_000);
  afterAll(async () => {
    await monitor?.stop();
    client?.close();
    await etcd?.stop();
  });

  // Monitor.handled gets one entry per request key+revision and is never pruned, even after the
  // request and response keys are gone: every POST /rebalance/ grows the leader's heap for good.
  it('forgets answered requests once their keys are gone', async () => {
    expect(monitor.isLeader()).toBe(true);
    for (let i = 0; i < 20; i++) await requestRebalance(client, ks, { dryRun: true }, 10_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const left = await client.getAll().prefix(ks.rebalanceRequestPrefix).keys();
    expect(left).toEqual([]);
    const handled = (monitor as unknown as { handled: Set<string> }).handled;
    expect(handled.size).toBe(0);
  }, 60_000);
});
