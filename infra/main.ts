// `cdktf synth` / `cdktf deploy` entry (cdktf.json `app`): the cluster file is ./cluster.yaml or
// the one named by DTABLE_CLUSTER_CONFIG, since cdktf passes the app no arguments; the state
// backend type comes from DTABLE_TF_BACKEND (default: local).
import { printWarnings, reportCliError, UsageError } from './cli/options.ts';
import { clusterApp, CONFIG_ENV } from './stacks/app.ts';
import { BACKEND_ENV, BackendError } from './stacks/backend.ts';

try {
  const backend = process.env[BACKEND_ENV];
  const { app, warnings } = clusterApp({
    configFile: process.env[CONFIG_ENV] ?? 'cluster.yaml',
    ...(backend ? { backend } : {}),
  });
  printWarnings(warnings);
  app.synth();
} catch (err) {
  process.exitCode = reportCliError(err instanceof BackendError ? new UsageError(err.message, err.hint) : err);
}
