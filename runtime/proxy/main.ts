// Entry file of dtable-server-proxy: `node --import tsx runtime/proxy/main.ts --config <dtable_server_config.json>`.
// Reads the rendered config, follows the cluster in etcd, serves the proxy port and the admin
// port, and stops gracefully on SIGTERM/SIGINT (stop accepting, drain in-flight, close pools).
import { parseArgs } from 'node:util';
import pino from 'pino';
import { connectEtcd, memberHealth } from '../cluster/etcd/client.ts';
import { ClusterView } from '../cluster/etcd/cluster-view.ts';
import { drainNode } from '../cluster/etcd/drain.ts';
import { requestRebalance } from '../cluster/etcd/requests.ts';
import { keyspace } from '../cluster/keyspace.ts';
import { ConfigFileError, proxyConfigSchema, readConfigFile } from '../config/files.ts';
import { createAdminApp } from './admin.ts';
import { assignmentReport, followClusterView } from './cluster-routes.ts';
import { consoleState, followMoves, MoveLog } from './console/console-state.ts';
import { Forwarder } from './forward.ts';
import { ProxyMetrics } from './metrics.ts';
import { processRegistry } from '../metrics/registry.ts';
import { RouteTable } from './route-table.ts';
import { createProxyServer, PROXY_ENGINES, type ProxyEngine } from './server.ts';
import { UpgradeTunnels } from './websocket.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } }, strict: true });
  if (!values.config) {
    process.stderr.write('usage: proxy --config <dtable_server_config.json>\n');
    process.exit(2);
  }
  let cfg;
  try {
    cfg = readConfigFile(proxyConfigSchema, values.config);
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const dc = cfg.dtable_cluster;
  const log = pino({ base: { component: 'dtable-proxy', pid: process.pid }, level: process.env.LOG_LEVEL ?? 'info' });
  const engine = (process.env.DTABLE_PROXY_ENGINE ?? 'raw') as ProxyEngine;
  if (!PROXY_ENGINES.includes(engine)) {
    process.stderr.write(`DTABLE_PROXY_ENGINE must be one of ${PROXY_ENGINES.join(', ')}, not "${engine}"\n`);
    process.exit(2);
  }

  const client = connectEtcd({ hostList: cfg.cluster_config.etcd_host_list, tls: dc.tls });
  const ks = keyspace(dc.key_prefix);
  const view = await ClusterView.open(client, ks, { log: log.child({ part: 'cluster-view' }) });
  const metrics = new ProxyMetrics(processRegistry());
  const routes = new RouteTable({ metrics, log: log.child({ part: 'routes' }), confirmedAt: () => view.confirmedAt() });
  const unfollow = followClusterView(view, routes, (e) => metrics.epochApplied(e));
  const forwarder = new Forwarder({ routes, metrics, log: log.child({ part: 'forward' }), retryDeadlineMs: dc.retry_deadline_ms });
  const tunnels = new UpgradeTunnels({ routes, metrics });
  const proxy = await createProxyServer({ forwarder, tunnels, engine });
  const adminToken = process.env[dc.admin_token_env] ?? '';
  if (!adminToken) log.warn({ env: dc.admin_token_env }, 'admin token not set: every admin endpoint but /health answers 401');
  const moveLog = new MoveLog();
  followMoves(view, moveLog);
  const admin = await createAdminApp({
    metrics,
    adminToken,
    console: {
      state: () =>
        consoleState(view, {
          report: assignmentReport(view, routes, metrics.epochs),
          routing: { stale: routes.isStale(), unconfirmed_ms: routes.unconfirmedMs() },
          etcd: { endpoints: cfg.cluster_config.etcd_host_list, healthy: memberHealth(client) },
          moves: moveLog.moves(),
        }),
      subscribe: (onChange) => {
        const listener = (kinds: Set<string>) => (kinds.size > 1 || !kinds.has('requests')) && onChange();
        view.on('change', listener);
        return () => view.off('change', listener);
      },
    },
    source: {
      assignment: () => assignmentReport(view, routes, metrics.epochs),
      rebalance: (o) => requestRebalance(client, ks, o),
      drain: (o) => drainNode(client, view, o),
      health: () => {
        const nodes = [...routes.nodes().values()];
        return {
          live: nodes.length,
          down: nodes.filter((n) => n.down).length,
          draining: forwarder.isDraining,
          table_age_ms: routes.ageMs(),
          revision: routes.revision(),
          routing_stale: routes.isStale(),
          unconfirmed_ms: routes.unconfirmedMs(),
        };
      },
    },
  });

  const port = await proxy.listen(dc.listen.host, dc.listen.port);
  await admin.listen({ host: dc.admin_listen.host, port: dc.admin_listen.port });
  const adminPort = (admin.server.address() as { port: number }).port;
  log.info({ port, admin_port: adminPort, engine, nodes: routes.nodes().size, revision: routes.revision() }, 'dtable-proxy listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, in_flight: metrics.inFlight }, 'stopping: draining in-flight requests');
    const hardExit = setTimeout(() => process.exit(1), 20_000);
    hardExit.unref();
    await proxy.close(10_000);
    await admin.close();
    unfollow();
    await routes.close();
    await view.close();
    client.close();
    log.info({}, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
