// `dtable-cluster validate`: every error of cluster.yaml at once (exit 2), warnings (exit 0).
import { resolvePlan } from '../../plan/resolve.ts';
import type { CliCommand } from '../command.ts';
import { CONFIG_OPTION, loadConfig, parseFlags, printWarnings } from '../options.ts';

const help = `Usage: dtable-cluster validate [--config FILE]

Checks cluster.yaml: its shape (unknown keys, types, ranges), and what a schema cannot see
(duplicate names, node_id prefix, URLs, port clashes on one host, docker host references,
local port slots). Prints every problem as FILE:LINE:COL: message, with a hint below it.

Options:
  -c, --config FILE   cluster file (default ./cluster.yaml)

Exit codes: 0 valid (warnings go to stderr), 2 invalid.
`;

export const command: CliCommand = {
  name: 'validate',
  summary: 'check cluster.yaml and print warnings',
  help,
  async run(argv) {
    const { values } = parseFlags('validate', argv, CONFIG_OPTION);
    const loaded = loadConfig(values.config);
    // Both targets must resolve (e.g. local ports must fit below 65536).
    const docker = resolvePlan(loaded.model, { target: 'docker', configDir: loaded.configDir });
    resolvePlan(loaded.model, { target: 'local', configDir: loaded.configDir });
    printWarnings(loaded.warnings);
    const m = docker.monitors.length;
    process.stdout.write(
      `${loaded.file}: ok — cluster "${docker.name}": ${docker.etcd.members.length} etcd members, ` +
        `${docker.nodes.length} nodes, 1 proxy, ${m} monitor${m === 1 ? '' : 's'}, web` +
        `${loaded.warnings.length ? ` (${loaded.warnings.length} warning${loaded.warnings.length === 1 ? '' : 's'})` : ''}\n`,
    );
    return 0;
  },
};

export default command;
