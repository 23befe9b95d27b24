import { describe, expect, it } from 'vitest';
import { RebalanceError, type RebalanceOptions } from '../../../runtime/cluster/etcd/requests.ts';
import { createAdminApp, type AdminSource } from '../../../runtime/proxy/admin.ts';
import type { AssignmentReport } from '../../../runtime/proxy/cluster-routes.ts';
import { ProxyMetrics } from '../../../runtime/proxy/metrics.ts';

const report: AssignmentReport = { epoch: 3, revision: 42, table_age_ms: 5, buckets: { '00': 'dtable-server-01' }, routes: { '00': 'dtable-server-01' }, moving: [], nodes: [], applied: [] };

function source(over: Partial<AdminSource> = {}, calls: RebalanceOptions[] = []): AdminSource {
  return {
    assignment: () => report,
    health: () => ({ live: 2, down: 0, draining: false, table_age_ms: 5, revision: 42 }),
    drain: async (o) => ({ node_id: o.nodeId, action: o.undo ? 'undrain' : 'drain', dry_run: o.dryRun, applied: !o.dryRun, weight: o.undo ? 1 : 0, moves: [] }),
    rebalance: async (o) => {
      calls.push(o);
      return { plan: { moves: [{ bucket: '00', from: 'dtable-server-01', to: 'dtable-server-02' }], before: { max: 2, mean: 1 }, after: { max: 1, mean: 1 } }, applied: !o.dryRun, epoch: 4, monitorId: 'monitor-1' };
    },
    ...over,
  };
}

describe('admin API', () => {
  it('answers GET /health with 200 while a node is reachable', async () => {
    const app = await createAdminApp({ source: source(), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'ok', nodes_live: 2 });
  });

  it('answers GET /health with 503 when every node is down', async () => {
    const app = await createAdminApp({ source: source({ health: () => ({ live: 1, down: 1, draining: false, table_age_ms: 0, revision: 1 }) }), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: 'no_nodes' });
  });

  it('answers GET /health with 200, status "degraded" and routing_stale true while the routing table may be stale', async () => {
    const app = await createAdminApp({ source: source({ health: () => ({ live: 2, down: 0, draining: false, table_age_ms: 0, revision: 1, routing_stale: true, unconfirmed_ms: 4200 }) }), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'degraded', routing_stale: true, unconfirmed_ms: 4200 });
  });

  it('answers GET /health with routing_stale false and status "ok" while the table is confirmed', async () => {
    const app = await createAdminApp({ source: source({ health: () => ({ live: 2, down: 0, draining: false, table_age_ms: 0, revision: 1, routing_stale: false }) }), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'GET', url: '/health' });
    expect(r.json()).toMatchObject({ status: 'ok', routing_stale: false });
  });

  it('answers GET /assignment with the epoch, buckets and nodes', async () => {
    const app = await createAdminApp({ source: source(), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'GET', url: '/assignment' });
    expect(r.json()).toEqual(report);
  });

  it('answers GET /metrics in the Prometheus text format with requests by node and status', async () => {
    const metrics = new ProxyMetrics();
    metrics.node('dtable-server-01').countStatus(200);
    metrics.node('dtable-server-01').observeLatency(0.002);
    metrics.retry('misdirected');
    const app = await createAdminApp({ source: source(), metrics });
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('dtable_proxy_requests_total{node="dtable-server-01",status="200"} 1');
    expect(r.body).toContain('dtable_proxy_retries_total{reason="misdirected"} 1');
    expect(r.body).toContain('dtable_proxy_upstream_latency_seconds_bucket{node="dtable-server-01",le="0.0025"} 1');
  });

  it('exposes assignment propagation: a histogram from written_at to applied_at, the latest 32 epochs', async () => {
    const metrics = new ProxyMetrics();
    for (let e = 1; e <= 40; e++) metrics.epochApplied({ epoch: e, written_at: '2026-11-24T10:00:00.000Z', applied_at: '2026-11-24T10:00:00.030Z' });
    // An unparsable written_at is listed but not observed.
    metrics.epochApplied({ epoch: 41, written_at: 'yesterday', applied_at: '2026-11-24T10:00:00.030Z' });
    expect(metrics.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: 32 }, (_, i) => i + 10));
    const app = await createAdminApp({ source: source(), metrics });
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toContain('dtable_proxy_assignment_propagation_seconds_bucket{le="0.025"} 0');
    expect(body).toContain('dtable_proxy_assignment_propagation_seconds_bucket{le="0.05"} 40');
    expect(body).toContain('dtable_proxy_assignment_propagation_seconds_bucket{le="+Inf"} 40');
    expect(body).toContain('dtable_proxy_assignment_propagation_seconds_count 40');
    expect(body).toContain('dtable_proxy_assignment_epoch 41');
  });

  it('passes POST /rebalance/?dry_run=1 to the monitor as a dry run and returns its moves', async () => {
    const calls: RebalanceOptions[] = [];
    const app = await createAdminApp({ source: source({}, calls), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'POST', url: '/rebalance/?dry_run=1' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ dry_run: true, applied: false, monitor_id: 'monitor-1', moves: [{ bucket: '00', to: 'dtable-server-02' }] });
    expect(calls).toEqual([{ dryRun: true, requestedBy: 'dtable-proxy' }]);
  });

  it('answers POST /rebalance/ with 503 when the monitor refuses or does not answer', async () => {
    const app = await createAdminApp({ source: source({ rebalance: () => Promise.reject(new RebalanceError('no answer from the monitor leader within 15000 ms')) }), metrics: new ProxyMetrics() });
    const r = await app.inject({ method: 'POST', url: '/rebalance/' });
    expect(r.statusCode).toBe(503);
    expect(r.json().message).toMatch(/no answer/);
  });

  it('refuses POST /rebalance/ without the admin token when one is configured', async () => {
    const calls: RebalanceOptions[] = [];
    const app = await createAdminApp({ source: source({}, calls), metrics: new ProxyMetrics(), adminToken: 'sekrit' });
    expect((await app.inject({ method: 'POST', url: '/rebalance/' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/rebalance/', headers: { authorization: 'Token wrong!' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/rebalance/', headers: { authorization: 'Token sekrit' } })).statusCode).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it('answers 400 for a malformed dry_run or budget', async () => {
    const app = await createAdminApp({ source: source(), metrics: new ProxyMetrics() });
    expect((await app.inject({ method: 'POST', url: '/rebalance/?dry_run=maybe' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/rebalance/?budget=-1' })).statusCode).toBe(400);
  });
});
