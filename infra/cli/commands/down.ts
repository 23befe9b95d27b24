// `dtable-cluster down`: stops the local cluster of this run dir (started with `up --detach`, or
// in another terminal) and waits until every process it started is gone.
import { dirname, resolve } from 'node:path';
import { reportLocalError } from '../../local/errors.ts';
import { stopCluster } from '../../local/launch.ts';
import { runDirLayout, runDirsStartedFrom } from '../../local/run-dir.ts';
import { ClusterConfigError } from '../../model/errors.ts';
import { PlanError } from '../../plan/resolve.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags } from '../options.ts';

const help = `Usage: dtable-cluster down [--config FILE] [--run-dir DIR]

Stops the local cluster running in the run dir of cluster.yaml: signals its supervisor, which
stops web, proxy, monitors, nodes (they flush and hand off) and etcd in that order, and waits
until all of them have exited. Data in the run dir is kept for the next \`up\`. When the
supervisor itself is gone (killed), stops the processes it left behind the same way. With a
cluster.yaml that no longer validates, stops the cluster of --run-dir, or of the run dirs below
.run/ that were started from this cluster file (their state.json says so).

Options:
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   overrides local.run_dir
`;

export const command: CliCommand = {
  name: 'down',
  summary: 'stop the local cluster',
  help,
  async run(argv) {
    const { values } = parseFlags('down', argv, { ...CONFIG_OPTION, 'run-dir': { type: 'string' } });
    const runDir = values['run-dir'];
    let roots: string[];
    try {
      roots = [loadPlan({ config: values.config, target: 'local', ...(runDir !== undefined ? { runDir } : {}) }).plan.runDir];
    } catch (err) {
      // A cluster started before cluster.yaml was broken must still stop: the run dir's own
      // state names its processes.
      if (!(err instanceof ClusterConfigError || err instanceof PlanError)) throw err;
      roots = runDir !== undefined ? [resolve(dirname(resolve(values.config)), runDir)] : runDirsStartedFrom(values.config);
      if (roots.length === 0) throw err;
      process.stderr.write(
        `dtable-cluster: ${values.config} is invalid (\`npx dtable-cluster validate\` shows why); stopping from the state in ${roots.join(', ')}\n`,
      );
    }
    const out = { line: (l: string) => process.stdout.write(`${l}\n`) };
    try {
      for (const root of roots) {
        const layout = runDirLayout(root);
        const t0 = Date.now();
        const r = await stopCluster(layout, out);
        if (r.wasRunning) out.line(`stopped in ${((Date.now() - t0) / 1000).toFixed(1)}s; data kept in ${layout.root}`);
        else if (r.orphansKilled.length) out.line(`no supervisor was running; stopped the processes it left: ${r.orphansKilled.join(', ')}`);
        else out.line(`no cluster is running in ${layout.root}`);
      }
      return 0;
    } catch (err) {
      return reportLocalError(err);
    }
  },
};

export default command;
