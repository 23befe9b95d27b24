import { afterEach, describe, expect, it } from 'vitest';
import { silentLog } from '../../../runtime/cluster/etcd/log.ts';
import { ProxyMetrics } from '../../../runtime/proxy/metrics.ts';
import { RouteTable } from '../../../runtime/proxy/route-table.ts';
import { allTo } from './fixtures/in-process-proxy.ts';

const nodes = [
  { nodeId: 'dtable-server-01', localNodeUrl: 'http://127.0.0.1:5001/' },
  { nodeId: 'dtable-server-02', localNodeUrl: 'http://127.0.0.1:5002/dtable-server/' },
];

describe('RouteTable', () => {
  let table: RouteTable;
  afterEach(async () => table?.close());

  it('routes each bucket to the upstream of its node, with the local_node_url path as prefix', () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog });
    const targets = allTo('dtable-server-01');
    targets[0xff] = 'dtable-server-02';
    table.update({ nodes, targets });
    expect(table.target(0)!.origin).toBe('http://127.0.0.1:5001');
    expect(table.target(0)!.pathPrefix).toBe('');
    expect(table.target(0xff)!).toMatchObject({ origin: 'http://127.0.0.1:5002', pathPrefix: '/dtable-server' });
  });

  it('has no target for a bucket whose node is not registered', () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog });
    table.update({ nodes: nodes.slice(0, 1), targets: allTo('dtable-server-02') });
    expect(table.target(7)).toBeNull();
  });

  it('keeps a node\'s pool across updates that do not change it', () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog });
    table.update({ nodes, targets: allTo('dtable-server-01') });
    const before = table.target(1)!.pool;
    table.update({ nodes, targets: allTo('dtable-server-01') });
    expect(table.target(1)!.pool).toBe(before);
  });

  it('skips down nodes when picking any node', () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog, probeIntervalMs: 60_000 });
    table.update({ nodes, targets: allTo('dtable-server-01') });
    table.markDown(table.nodes().get('dtable-server-01')!, 'ECONNREFUSED');
    for (let i = 0; i < 4; i++) expect(table.any()!.nodeId).toBe('dtable-server-02');
  });

  it('clears a down mark when the node registers again with a new lease', () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog, probeIntervalMs: 60_000 });
    table.update({ nodes: nodes.map((n) => ({ ...n, generation: '1' })), targets: allTo('dtable-server-01') });
    table.markDown(table.target(0)!, 'ECONNREFUSED');
    expect(table.target(0)!.down).toBe(true);
    table.update({ nodes: nodes.map((n) => ({ ...n, generation: '2' })), targets: allTo('dtable-server-01') });
    expect(table.target(0)!.down).toBe(false);
  });

  it('wakes waiters at the next update, and on their timeout otherwise', async () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog });
    let woke = false;
    const waiting = table.waitForChange(60_000).then(() => (woke = true));
    table.update({ nodes, targets: allTo(null) });
    await waiting;
    expect(woke).toBe(true);
    const t0 = Date.now();
    await table.waitForChange(20);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15);
  });

  it('is stale once its source has confirmed nothing for staleAfterMs, and current again after a confirmation', () => {
    let confirmed = 10_000;
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog, confirmedAt: () => confirmed, staleAfterMs: 3000 });
    expect(table.isStale(12_999)).toBe(false);
    expect(table.isStale(13_001)).toBe(true);
    expect(table.unconfirmedMs(13_001)).toBe(3001);
    confirmed = 13_000;
    expect(table.isStale(13_001)).toBe(false);
  });

  it('is never stale without a source to confirm it', () => {
    table = new RouteTable({ metrics: new ProxyMetrics(), log: silentLog });
    expect(table.isStale(Date.now() + 3_600_000)).toBe(false);
  });

  it('exports dtable_proxy_routing_stale as 1 while stale and 0 otherwise', async () => {
    const metrics = new ProxyMetrics();
    let confirmed = Date.now();
    table = new RouteTable({ metrics, log: silentLog, confirmedAt: () => confirmed, staleAfterMs: 3000 });
    expect(await metrics.render()).toContain('\ndtable_proxy_routing_stale 0\n');
    confirmed = Date.now() - 10_000;
    expect(await metrics.render()).toContain('\ndtable_proxy_routing_stale 1\n');
  });
});
