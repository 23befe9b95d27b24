// `dtable-cluster down`: stops the local cluster of this run dir (started with `up --detach`, or
// in another terminal) and waits until every process it started is gone.
import { reportLocalError } from '../../local/errors.ts';
import { stopCluster } from '../../local/launch.ts';
import { runDirLayout } from '../../local/run-dir.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags } from '../options.ts';

const help = `Usage: dtable-cluster down [--config FILE] [--run-dir DIR]

Stops the local cluster running in the run dir of cluster.yaml: signals its supervisor, which
stops web, proxy, monitors, nodes (they flush and hand off) and etcd in that order, and waits
until all of them have exited. Data in the run dir is kept for the next \`up\`. When the
supervisor itself is gone (killed), stops the processes it left behind the same way.

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
    const { plan } = loadPlan({ config: values.config, target: 'local', ...(runDir !== undefined ? { runDir } : {}) });
    const layout = runDirLayout(plan.runDir);
    const out = { line: (l: string) => process.stdout.write(`${l}\n`) };
    try {
      const t0 = Date.now();
      const r = await stopCluster(layout, out);
      if (r.wasRunning) out.line(`stopped in ${((Date.now() - t0) / 1000).toFixed(1)}s; data kept in ${layout.root}`);
      else if (r.orphansKilled.length) out.line(`no supervisor was running; stopped the processes it left:  ${r.orphansKilled.join(', ')}`);
      else out.line(`no cluster is running in ${layout.root}`);
      return 0;
    } catch (err) {
      return reportLocalError(err);
    }
  },
};

export default command;
