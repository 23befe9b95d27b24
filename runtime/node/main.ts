// Entry file of a reference dtable-server node:
//   node --import tsx runtime/node/main.ts --config dtable_server_config.json
// Reads the config and the private key (from the env var the config names), starts the node,
// stops gracefully on SIGTERM/SIGINT (flush, release buckets, revoke the lease).
import { pino } from 'pino';
import { ConfigFileError, nodeConfigSchema, readConfigFile } from '../config/files.ts';
import { DtableNode } from './dtable-node.ts';
import { processRegistry } from '../metrics/registry.ts';
import { StoragePasswordMissingError } from './storage/from-config.ts';
import { configArg, UsageError } from './process-args.ts';

async function main(): Promise<void> {
  const file = configArg(process.argv.slice(2));
  const config = readConfigFile(nodeConfigSchema, file);
  const envName = config.dtable_cluster.private_key_env;
  const privateKey = process.env[envName];
  if (!privateKey) throw new UsageError(`environment variable ${envName} (private_key_env) is not set: it holds the key that signs base access tokens`);
  const log = pino({ base: { proc: 'node', node_id: config.cluster_config.node_id } });
  const node = new DtableNode({ config, privateKey, log, registry: processRegistry() });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    node.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await node.start();
}

main().catch((err) => {
  if (err instanceof ConfigFileError || err instanceof UsageError || err instanceof StoragePasswordMissingError) {
    process.stderr.write(`dtable-server node: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`dtable-server node: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
