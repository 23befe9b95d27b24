// `dtable-cluster up`: the whole cluster from cluster.yaml on this machine, as child processes.
import { renderPlan } from '../../render/render.ts';
import { writeRendered } from '../../render/write.ts';
import { waitForAssignment } from '../../local/cluster-status.ts';
import { endpointTable } from '../../local/endpoints.ts';
import { reportLocalError } from '../../local/errors.ts';
import { localCluster, runDetached, runForeground, SUPERVISOR_ENV } from '../../local/launch.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadPlan, parseFlags, printWarnings } from '../options.ts';

const help = `Usage: dtable-cluster up [--config FILE] [--run-dir DIR] [--detach]

Starts the cluster of cluster.yaml on this machine: the etcd members, the monitor replicas, the
dtable-server nodes, the proxy and the web lookup role, as child processes on 127.0.0.1 with
ports from \`local.base_port\`. Renders every config file into <run dir>/conf, keeps data in
<run dir>/data and one log per process in <run dir>/logs, and prints the endpoints once ready.
Ctrl-C (or SIGTERM) stops everything gracefully; a second \`up\` finds the data of the first.
Secrets come from the environment variables cluster.yaml names; unset ones are generated once
into <run dir>/secrets.json (mode 0600).

Options:
  -c, --config FILE   cluster file (default ./cluster.yaml)
      --run-dir DIR   overrides local.run_dir
      --detach        run in the background and return once ready; \`npx dtable-cluster down\` stops it
`;

export const command: CliCommand = {
  name: 'up',
  summary: 'start the cluster locally from cluster.yaml',
  help,
  async run(argv) {
    const { values } = parseFlags('up', argv, { ...CONFIG_OPTION, 'run-dir': { type: 'string' }, detach: { type: 'boolean', default: false } });
    const runDir = values['run-dir'];
    const loaded = loadPlan({ config: values.config, target: 'local', ...(runDir !== undefined ? { runDir } : {}) });
    printWarnings(loaded.warnings);
    const out = { line: (l: string) => process.stdout.write(`${l}\n`) };
    try {
      const cluster = localCluster(loaded.plan, renderPlan(loaded.plan), loaded.file);
      if (values.detach && process.env[SUPERVISOR_ENV] !== '1') {
        // The background supervisor is this same command without --detach; absolute paths, as
        // it keeps running whatever the caller's cwd does.
        return await runDetached(cluster, ['up', '--config', cluster.configFile, '--run-dir', loaded.plan.runDir], out);
      }
      const code = await runForeground(cluster, {
        out,
        writeRendered: (files, dir) => void writeRendered(files, dir),
        onReady: async (c, secrets) => {
          const counts = await waitForAssignment(c.plan, 10_000);
          out.line(endpointTable(c.plan, counts, { source: secrets.source, adminTokenFile: c.layout.secretsFile }, c.layout.logDir));
        },
      });
      // Every child is gone and state.json says so; exit now rather than wait for idle etcd and
      // HTTP keep-alive handles to time out (down waits for this process to end).
      process.exit(code);
    } catch (err) {
      return reportLocalError(err);
    }
  },
};

export default command;
