// Entry file of the dtable-web lookup role:
//   node --import tsx runtime/web/main.ts --config web.json
// Secrets come from the env vars the config names (private key for access tokens, admin token).
import { pino } from 'pino';
import { ConfigFileError, readConfigFile, webConfigSchema } from '../config/files.ts';
import { configArg, UsageError } from '../node/process-args.ts';
import { WebRole } from './web-role.ts';
import { processRegistry } from '../metrics/registry.ts';

function secret(name: string, what: string): string {
  const v = process.env[name];
  if (!v) throw new UsageError(`environment variable ${name} is not set: it holds ${what}`);
  return v;
}

async function main(): Promise<void> {
  const config = readConfigFile(webConfigSchema, configArg(process.argv.slice(2)));
  const privateKey = secret(config.private_key_env, 'the key that signs base access tokens');
  const adminToken = secret(config.admin_token_env, 'the admin token for base creation');
  const log = pino({ base: { proc: 'web' } });
  const web = new WebRole({ config, privateKey, adminToken, log, registry: processRegistry() });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    web.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await web.start();
}

main().catch((err) => {
  if (err instanceof ConfigFileError || err instanceof UsageError) {
    process.stderr.write(`dtable-web role: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`dtable-web role: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
