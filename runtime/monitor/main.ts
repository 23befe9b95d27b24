// Monitor entry: `node --import tsx runtime/monitor/main.ts --config monitor.json`.
// Reads the rendered config, connects to etcd, runs the Monitor, serves /health and /metrics,
// and on SIGTERM/SIGINT resigns leadership before exiting.
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { pino } from 'pino';
import { connectEtcd } from '../cluster/etcd/client.ts';
import { EtcdMaintenance } from '../cluster/etcd/maintenance.ts';
import { AutoDefrag } from './auto-defrag.ts';
import { askNodesOnLease, LeaseExpiryGuard, nodeLeases } from './lease-expiry.ts';
import { keyspace } from '../cluster/keyspace.ts';
import { ConfigFileError, monitorConfigSchema, readConfigFile } from '../config/files.ts';
import { registerMonitorMetrics, type MonitorEtcdMetrics } from './metrics.ts';
import { METRICS_CONTENT_TYPE, processRegistry } from '../metrics/registry.ts';
import { Monitor } from './monitor.ts';

/** How long the lease check waits for a suspect node's GET /lease (runtime/monitor/lease-expiry.ts). */
const NODE_LEASE_ASK_TIMEOUT_MS = 1000;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  if (!values.config) {
    process.stderr.write('usage: monitor --config <monitor.json>\n');
    process.exit(2);
  }
  let config;
  try {
    config = readConfigFile(monitorConfigSchema, values.config);
  } catch (err) {
    if (err instanceof ConfigFileError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ base: { component: 'monitor', monitor_id: config.monitor_id }, level: process.env.LOG_LEVEL ?? 'info' });
  const client = connectEtcd({ hostList: config.etcd_host_list, tls: config.tls });
  const monitor = await Monitor.start(client, keyspace(config.key_prefix), {
    monitorId: config.monitor_id,
    electionTtlSeconds: config.election_ttl,
    debounceMs: config.debounce_ms,
    reconcileIntervalMs: config.reconcile_interval_ms,
    rebalanceMoveBudget: config.rebalance_move_budget,
    maxTxnOps: config.etcd_max_txn_ops,
    log,
  });

  // One client per etcd member: sizes and alarms per member, and defragmentation.
  const maintenance = new EtcdMaintenance({
    connect: (host) => connectEtcd({ hostList: [host], tls: config.tls, callTimeoutMs: 300_000 }),
    members: config.etcd_host_list.map((host, i) => ({ name: config.etcd_member_names?.[i] ?? `etcd-${host}`, host })),
  });
  const ad = config.auto_defrag;
  const autoDefrag = ad?.enabled
    ? new AutoDefrag(maintenance, {
        inUseBelow: ad.in_use_below,
        minDbSizeBytes: ad.min_db_size_bytes,
        intervalMs: ad.check_interval_seconds * 1000,
        isLeader: () => monitor.isLeader(),
        log,
      })
    : null;
  autoDefrag?.start();
  const leaseGuard = new LeaseExpiryGuard(client, {
    leases: () => nodeLeases(monitor.clusterView().nodes()),
    askNode: (leaseId) => askNodesOnLease(monitor.clusterView().nodes(), leaseId, config.lease_ttl * 1000, NODE_LEASE_ASK_TIMEOUT_MS),
    leaseTtlSeconds: config.lease_ttl,
    isLeader: () => monitor.isLeader(),
    log,
  });
  leaseGuard.start();
  /** etcd's storage for /metrics, read at scrape time (nothing polls etcd in between). */
  const etcdMetrics = async (): Promise<MonitorEtcdMetrics | undefined> => {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000).unref());
    const report = maintenance.report().catch(() => undefined);
    const r = await Promise.race([report, timeout]);
    if (!r) return undefined;
    return {
      revision: r.revision,
      compactRevision: r.compact_revision,
      quotaBackendBytes: config.etcd_quota_backend_bytes ?? 0,
      members: r.members.map((x) => ({ name: x.name, reachable: x.reachable, isLeader: x.is_leader, dbSizeBytes: x.db_size_bytes, dbSizeInUseBytes: x.db_size_in_use_bytes })),
      alarms: r.alarms,
      defragsTotal: autoDefrag?.defrags ?? 0,
    };
  };

  const app = Fastify({ logger: false });
  app.get('/health', async () => {
    const view = monitor.clusterView();
    return {
      status: 'ok',
      monitor_id: config.monitor_id,
      is_leader: monitor.isLeader(),
      leader: view.leader(),
      epoch: view.epoch()?.epoch ?? 0,
      nodes: view.nodes().size,
    };
  });
  const registry = processRegistry();
  registerMonitorMetrics(registry, async () => {
    const etcd = await etcdMetrics();
    return { ...monitor.metricsState(), leasesRevokedTotal: leaseGuard.revoked, leasesSparedTotal: leaseGuard.spared, ...(etcd ? { etcd } : {}) };
  });
  app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(await registry.metrics()));
  await app.listen({ host: config.metrics_listen.host, port: config.metrics_listen.port });
  log.info({ metrics: `http://${config.metrics_listen.host}:${config.metrics_listen.port}` }, 'monitor started');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: resigning leadership');
    const force = setTimeout(() => process.exit(1), 5000);
    try {
      autoDefrag?.stop();
      leaseGuard.stop();
      await monitor.stop();
      await app.close();
      maintenance.close();
      client.close();
    } finally {
      clearTimeout(force);
      log.info({}, 'stopped');
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: Error) => {
  process.stderr.write(`${JSON.stringify({ level: 60, msg: 'monitor failed', err: err.message, stack: err.stack })}\n`);
  process.exit(1);
});
