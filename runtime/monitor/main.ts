// Monitor entry: `node --import tsx runtime/monitor/main.ts --config monitor.json`.
// Reads the rendered config, connects to etcd, runs the Monitor, serves /health and /metrics,
// and on SIGTERM/SIGINT resigns leadership before exiting.
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { pino } from 'pino';
import { connectEtcd } from '../cluster/etcd/client.ts';
import { keyspace } from '../cluster/keyspace.ts';
import { ConfigFileError, monitorConfigSchema, readConfigFile } from '../config/files.ts';
import { renderMetrics } from './metrics.ts';
import { Monitor } from './monitor.ts';

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
  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return renderMetrics(monitor.metricsState());
  });
  await app.listen({ host: config.metrics_listen.host, port: config.metrics_listen.port });
  log.info({ metrics: `http://${config.metrics_listen.host}:${config.metrics_listen.port}` }, 'monitor started');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: resigning leadership');
    const force = setTimeout(() => process.exit(1), 5000);
    try {
      await monitor.stop();
      await app.close();
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
