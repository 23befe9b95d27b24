// `cdktf synth` / `cdktf deploy` entry (cdktf.json `app`): the cluster file is ./cluster.yaml or
// the one named by DTABLE_CLUSTER_CONFIG, since cdktf passes the app no arguments.
import { printWarnings, reportCliError } from './cli/options.ts';
import { clusterApp, CONFIG_ENV } from './stacks/app.ts';

try {
  const { app, warnings } = clusterApp({ configFile: process.env[CONFIG_ENV] ?? 'cluster.yaml' });
  printWarnings(warnings);
  app.synth();
} catch (err) {
  process.exitCode = reportCliError(err);
}
